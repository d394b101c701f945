import numpy as np
import pytest

from hidcap.geometry import (
    betti_numbers,
    clifford_torus,
    diagram_distance,
    greedy_landmarks,
    grid_labels,
    persistence_diagrams,
    plot_diagrams,
    ring,
    sphere,
    standard_torus,
)


def test_standard_torus_betti_121():
    pts = standard_torus(grid_labels(40), noise=0.02, seed=1)
    res = persistence_diagrams(pts, maxdim=2, n_landmarks=150, seed=0)
    betti = betti_numbers(res)
    assert betti.betti == (1, 2, 1)
    assert len(res.indices) == 150 and len(betti.lifetimes) == 3
    assert betti.cutoffs[1] <= betti.lifetimes[1][1] and betti.infinite == (1, 0, 0)


def test_clifford_torus_betti_with_pca_prereduction():
    pts = clifford_torus(grid_labels(40), noise=0.02, dim=16, seed=2)
    res = persistence_diagrams(pts, maxdim=2, n_landmarks=150, pca_dim=4, seed=0)
    assert res.pca_dim == 4
    assert betti_numbers(res).betti == (1, 2, 1)


def test_circle_and_sphere():
    assert betti_numbers(persistence_diagrams(ring(80, noise=0.03, dim=6, seed=0), maxdim=1)).betti == (1, 1)
    assert betti_numbers(persistence_diagrams(sphere(150, noise=0.01, seed=0), maxdim=2)).betti == (1, 0, 1)


def test_two_blobs_and_a_blob_have_no_loops():
    rng = np.random.default_rng(0)
    blob = rng.normal(size=(80, 3)) * 0.1
    assert betti_numbers(persistence_diagrams(blob, maxdim=1)).betti == (1, 0)
    two = np.concatenate([blob, blob + 5.0])
    assert betti_numbers(persistence_diagrams(two, maxdim=1)).betti == (2, 0)


def test_betti_rules_on_handmade_diagrams():
    h0 = np.array([[0, 0.1], [0, 0.12], [0, 0.09], [0, np.inf]])
    h1 = np.array([[0.2, 2.2], [0.3, 2.2], [0.2, 0.3], [0.4, 0.45], [0.5, 0.52]])
    h2 = np.array([[1.0, 1.9], [1.0, 1.05]])
    gap = betti_numbers([h0, h1, h2])
    assert gap.betti == (1, 2, 1)
    assert np.allclose(gap.lifetimes[1], [2.0, 1.9, 0.1, 0.05, 0.02])
    rel = betti_numbers([h0, h1, h2], rule="relative", relative=0.5)
    assert rel.betti == (1, 2, 0)  # the H2 bar (0.9) is below 0.5 × the longest loop (2.0)
    assert betti_numbers([h0, h1, h2], rule="relative", relative=0.4).betti == (1, 2, 1)
    assert betti_numbers([h0]).betti == (1,)


def test_betti_bad_input():
    with pytest.raises(ValueError, match="rule"):
        betti_numbers([np.zeros((1, 2))], rule="longest")
    with pytest.raises(ValueError, match="shape"):
        betti_numbers([np.zeros((3, 3))])
    with pytest.raises(ValueError, match="maxdim"):
        persistence_diagrams(ring(20), maxdim=3)
    with pytest.raises(ValueError, match="points"):
        persistence_diagrams(np.zeros(5))
    with pytest.raises(ValueError, match="n_landmarks"):
        greedy_landmarks(ring(20), 30)


def test_greedy_landmarks_spread_and_seed():
    pts = ring(100)
    idx = greedy_landmarks(pts, 10, seed=3)
    assert len(set(idx.tolist())) == 10
    assert np.array_equal(idx, greedy_landmarks(pts, 10, seed=3))
    # max-min property: every point lies closer to a landmark than the closest two landmarks are to each other
    d = np.linalg.norm(pts[:, None] - pts[idx][None], axis=2)
    covering = d.min(axis=1).max()
    separation = np.min(d[idx][:, np.arange(10)] + np.eye(10) * 1e9)
    assert covering <= separation + 1e-12
    assert not np.array_equal(idx, greedy_landmarks(pts, 10, seed=4))


def test_diagram_distances():
    a = persistence_diagrams(ring(60, dim=4, seed=0), maxdim=1).diagrams
    b = persistence_diagrams(ring(60, dim=4, seed=5), maxdim=1).diagrams  # rotated copy: same distances
    c = persistence_diagrams(ring(60, radius=2.0), maxdim=1).diagrams
    assert diagram_distance(a[1], b[1]) == pytest.approx(0.0, abs=1e-9)
    assert diagram_distance(a[1], c[1], metric="bottleneck") > 0.5
    assert diagram_distance(a[1], c[1]) > 0.5
    with pytest.raises(ValueError, match="metric"):
        diagram_distance(a[1], c[1], metric="l2")


def test_plot_diagrams(tmp_path):
    res = persistence_diagrams(ring(40), maxdim=1)
    plot_diagrams(res, title="ring", path=tmp_path / "dgm.png")
    assert (tmp_path / "dgm.png").stat().st_size > 1000
