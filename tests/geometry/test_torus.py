import numpy as np
import pytest
import torch

from hidcap.geometry import (
    STATISTICS,
    TESTS,
    clifford_torus,
    denoise_dimension,
    grid_labels,
    random_rotation,
    ring,
    ring_statistics,
    sphere,
    standard_torus,
    torus_tests,
)
from hidcap.geometry_plots import plot_torus_tests


def test_ideal_clouds_shapes_and_radii():
    lab = grid_labels(32)
    assert lab.shape == (1024, 2)
    c = clifford_torus(lab, radii=(1.0, 2.0))
    assert c.shape == (1024, 4)
    assert np.allclose(np.linalg.norm(c[:, :2], axis=1), 1) and np.allclose(np.linalg.norm(c[:, 2:], axis=1), 2)
    s = standard_torus(lab, R=3.0, r=1.0)
    assert s.shape == (1024, 3)
    assert np.allclose((np.linalg.norm(s[:, :2], axis=1) - 3) ** 2 + s[:, 2] ** 2, 1.0)
    assert np.allclose(np.linalg.norm(ring(50, radius=2), axis=1), 2)
    assert np.allclose(np.linalg.norm(sphere(100), axis=1), 1)
    hi = clifford_torus(lab, dim=10, seed=3)
    assert hi.shape == (1024, 10)
    flat = clifford_torus(lab)
    # a random rotation into 10 dimensions keeps every distance
    assert np.allclose(np.linalg.norm(hi[:, None] - hi[None, :50], axis=2), np.linalg.norm(flat[:, None] - flat[None, :50], axis=2))
    noisy = clifford_torus(lab, noise=0.1, seed=1)
    assert np.array_equal(noisy, clifford_torus(lab, noise=0.1, seed=1))
    assert not np.array_equal(noisy, clifford_torus(lab, noise=0.1, seed=2))
    q = random_rotation(6, seed=0)
    assert np.allclose(q @ q.T, np.eye(6))


def test_ideal_tori_are_told_apart():
    lab = grid_labels(32)
    cv = torus_tests(clifford_torus(lab), lab)
    sv = torus_tests(standard_torus(lab), lab)
    assert cv.closer["x_on_y"] == "clifford" and sv.closer["x_on_y"] == "standard"
    assert sv.closer["x_on_x"] == "standard" and sv.standard_orientation["x_on_x"] == "x"
    for t in ("x_on_y", "x_on_x"):
        for s in STATISTICS:
            assert cv.distances[t][s]["clifford"] == pytest.approx(0.0, abs=1e-9)
            assert sv.distances[t][s]["standard_x"] == pytest.approx(0.0, abs=1e-9)
    # the fix-y rings of Clifford and x-major standard tori are coplanar, as are the fix-x rings of Clifford and
    # y-major standard tori: those tests cannot separate them and say "tie"
    assert cv.closer["y_on_y"] == "tie" and sv.closer["y_on_y"] == "tie" and cv.closer["x_on_x"] == "tie"
    assert cv.overall == "clifford" and sv.overall == "standard"
    ortho = cv.model.values["x_on_y"]["orthogonality"]
    assert ortho.shape == (2 * 32 * 32,) and np.allclose(ortho, 0, atol=1e-9)
    assert np.allclose(cv.model.values["x_on_x"]["parallelism"], 0, atol=1e-9)
    assert cv.model.values["x_on_x"]["parallelism"].shape == (32 * 31,)
    assert "x_on_y" in cv.summary() and "planarity" in cv.summary()


def test_standard_torus_with_y_on_the_large_circle_is_standard():
    # measured failure: compared only with the x-major standard torus, this read "clifford" on x_on_x
    lab = grid_labels(32)
    v = torus_tests(standard_torus(lab[:, ::-1].copy()), lab)
    assert v.closer["x_on_x"] != "clifford"
    assert v.closer["y_on_y"] == "standard" and v.standard_orientation["y_on_y"] == "y"
    assert v.closer["x_on_y"] == "standard" and v.overall == "standard"
    for s in STATISTICS:
        assert v.distances["y_on_y"][s]["standard_y"] == pytest.approx(0.0, abs=1e-9)


def test_noisy_high_dimensional_clifford_torus_is_not_read_as_standard():
    # measured failure: noise 0.2 in 64-d made the old default (raw rings) read x_on_x as "standard"
    lab = grid_labels(32)
    pts = clifford_torus(lab, noise=0.2, dim=64, seed=1)
    v = torus_tests(pts, lab)
    assert v.model.denoise_dim == 4
    assert v.closer["x_on_y"] == "clifford"
    assert "standard" not in (v.closer["x_on_x"], v.closer["y_on_y"])
    assert v.overall == "clifford" and v.meaningful
    raw = torus_tests(pts, lab, denoise=False)
    assert raw.closer["x_on_x"] == "standard"  # what denoise prevents


def test_planarity_flags_rings_that_are_not_planar():
    lab = grid_labels(16)
    flat = torus_tests(clifford_torus(lab), lab)
    assert flat.planarity == {"x": pytest.approx(1.0), "y": pytest.approx(1.0)} and flat.meaningful
    noise = np.random.default_rng(0).standard_normal((len(lab), 32))
    v = torus_tests(noise, lab, denoise=False)
    assert max(v.planarity.values()) < 0.5 and not v.meaningful
    assert "not meaningful" in v.summary()
    stats = v.model.planarity
    assert stats["x"].shape == (16,) and np.all((stats["x"] > 0) & (stats["x"] <= 1))


def test_denoise_dimension():
    lab = grid_labels(32)
    assert denoise_dimension(clifford_torus(lab, noise=0.1, dim=64, seed=0)) == 4
    assert denoise_dimension(standard_torus(lab)) == 3  # only three dimensions exist
    assert denoise_dimension(np.random.default_rng(0).standard_normal((500, 20))) == 4  # the floor


def test_statistics_invariant_to_rotation_scale_translation():
    lab = grid_labels(16, 12)
    pts = standard_torus(lab, noise=0.05, seed=0)
    moved = 2.5 * np.pad(pts, ((0, 0), (0, 7))) @ random_rotation(10, seed=9).T - 4.0
    a, b = ring_statistics(pts, lab), ring_statistics(torch.tensor(moved), lab)
    for t in TESTS:
        for s in STATISTICS:
            assert np.allclose(a.values[t][s], b.values[t][s], atol=1e-9)


def test_order_and_label_units_do_not_matter():
    lab = grid_labels(12)
    pts = clifford_torus(lab, radii=(1.0, 1.5), noise=0.05, seed=0)
    perm = np.random.default_rng(0).permutation(len(lab))
    centred = lab / 12 - 0.5  # the same grid in [-0.5, 0.5) units
    a = ring_statistics(pts, lab)
    b = ring_statistics(pts[perm], centred[perm])
    for t in TESTS:
        assert np.allclose(np.sort(a.values[t]["orthogonality"]), np.sort(b.values[t]["orthogonality"]))
    assert np.allclose(clifford_torus(centred), clifford_torus(lab))


def test_noisy_rotated_tori_keep_their_verdict():
    lab = grid_labels(32)
    c = clifford_torus(lab, noise=0.05, dim=32, seed=1)
    s = standard_torus(lab, noise=0.05, dim=32, seed=1)
    vc, vs = torus_tests(c, lab), torus_tests(s, lab)
    assert vc.closer["x_on_y"] == "clifford" and vc.closer["x_on_x"] != "standard" and vc.overall == "clifford"
    assert vs.closer["x_on_y"] == "standard" and vs.closer["x_on_x"] == "standard" and vs.overall == "standard"
    raw = torus_tests(c, lab, denoise=False)
    assert raw.closer_by_statistic["x_on_y"]["orthogonality"] == "clifford"


def test_missing_duplicate_and_bad_labels():
    lab = grid_labels(8)
    pts = clifford_torus(lab)
    with pytest.raises(ValueError, match="missing"):
        ring_statistics(pts[1:], lab[1:])
    dup = lab.copy()
    dup[1] = dup[0]
    with pytest.raises(ValueError, match="duplicate"):
        ring_statistics(pts, dup)
    with pytest.raises(ValueError, match="rows"):
        ring_statistics(pts, lab[:-1])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        torus_tests(pts, lab[:, :1])
    with pytest.raises(ValueError, match="activations"):
        ring_statistics(pts[:, 0], lab)
    uneven = lab.copy()
    uneven[:, 0] = uneven[:, 0] ** 2
    with pytest.raises(ValueError, match="evenly spaced"):
        clifford_torus(uneven)
    with pytest.raises(ValueError, match="at least 3"):
        ring_statistics(clifford_torus(grid_labels(2, 5)), grid_labels(2, 5))
    with pytest.raises(ValueError, match="R > r"):
        standard_torus(lab, R=1.0, r=2.0)
    with pytest.raises(ValueError, match="dim"):
        clifford_torus(lab, dim=3)


def test_plot_torus_tests(tmp_path):
    lab = grid_labels(12)
    fig = plot_torus_tests(torus_tests(clifford_torus(lab, noise=0.05), lab), path=tmp_path / "torus.png")
    assert len(fig.axes) == 6
    assert (tmp_path / "torus.png").stat().st_size > 1000


def test_plot_torus_tests_draws_the_orientation_its_titles_quote(tmp_path):
    # measured bug: the histograms were always the x-major standard torus while the titles quoted the closer one
    lab = grid_labels(12)
    v = torus_tests(standard_torus(lab[:, ::-1].copy()), lab)  # y on the large circle
    assert v.standard_orientation["y_on_y"] == "y" and v.standard_for("y_on_y") is v.standard_y
    fig = plot_torus_tests(v, path=tmp_path / "torus.png")
    edges = np.linspace(0, 1, 31)
    axes = np.array(fig.axes).reshape(len(TESTS), len(STATISTICS))
    for i, t in enumerate(TESTS):
        orient = v.standard_orientation[t]
        shown = v.standard_x if orient == "x" else v.standard_y
        for j, s in enumerate(STATISTICS):
            ax = axes[i, j]
            heights = np.array([patch.get_height() for patch in ax.containers[0]])
            assert np.allclose(heights, np.histogram(shown.values[t][s], bins=edges, density=True)[0])
            assert f"standard ({orient}-major) {v.distances[t][s]['standard']:.3f}" in ax.get_title()
            assert ax.get_legend_handles_labels()[1][0] == f"standard ({orient} on the large circle)"
    # the y-major histogram differs from the x-major one here, so drawing the wrong torus would fail above
    assert not np.allclose(v.standard_x.values["y_on_y"]["parallelism"], v.standard_y.values["y_on_y"]["parallelism"])
    with pytest.raises(KeyError, match="test must be"):
        v.standard_for("x_on_z")
