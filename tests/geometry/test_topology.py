import numpy as np
import pytest

from hidcap.geometry import (
    auto_landmarks,
    betti_numbers,
    clifford_torus,
    diagram_distance,
    distance_to_measure,
    dtm_bootstrap,
    dtm_h0_diagram,
    greedy_landmarks,
    grid_labels,
    null_cloud,
    persistence_diagrams,
    ring,
    sphere,
    standard_torus,
    universal_pvalues,
)
from hidcap.geometry_plots import plot_diagrams


@pytest.mark.slow
def test_standard_torus_betti_121():
    pts = standard_torus(grid_labels(40), noise=0.02, seed=1)
    res = persistence_diagrams(pts, maxdim=2, n_landmarks=150, seed=0)
    betti = betti_numbers(res)
    assert betti.betti == (1, 2, 1)
    assert len(res.indices) == 150 and len(betti.lifetimes) == 3
    assert betti.cutoffs[1] <= betti.lifetimes[1][1] and betti.infinite == (1, 0, 0)


@pytest.mark.slow
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
    assert betti_numbers(persistence_diagrams(blob, maxdim=1), rule="null").betti == (1, 0)
    two = np.concatenate([blob, blob + 5.0])
    assert betti_numbers(persistence_diagrams(two, maxdim=1), rule="null").betti == (2, 0)
    assert betti_numbers(two, maxdim=1).betti[0] == 2  # (its H1: see "Failure modes" in docs/geometry.md)


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


# ------------------------------------------------------------------------------ the null rule and its benchmark
def _benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "betti_rule.py"
    spec = importlib.util.spec_from_file_location("betti_rule_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_null_rule_reports_why():
    pts = ring(120, noise=0.05, random=True, seed=0)
    res = betti_numbers(pts, rule="null", maxdim=1, n_landmarks=80, seed=0)
    assert res.rule == "null" and res.betti == (1, 1)
    assert len(res.thresholds) == 2 and res.null_lifetimes[1].shape == (2,)
    assert res.lifetimes[1][0] > res.thresholds[1] > res.lifetimes[1][1]
    assert res.gaps[1] > 1.5 and np.isnan(res.gaps[0])
    assert res.persistence is not None and res.persistence.coeff == 3 and len(res.persistence.indices) == 80
    assert "H1: 1" in res.summary()
    # a PersistenceResult from persistence_diagrams carries its points, so the null rule runs on it too
    ph = persistence_diagrams(pts, maxdim=1, n_landmarks=80, seed=0)
    assert betti_numbers(ph, rule="null").rule == "null"
    assert betti_numbers(ph).rule == "null"  # the default when the points are known (confidence: by name)
    assert betti_numbers(ph.diagrams).rule == "gap"  # bare diagrams: no points, no null
    with pytest.raises(ValueError, match="needs the points"):
        betti_numbers(ph.diagrams, rule="null")
    with pytest.raises(ValueError, match="needs the points"):
        betti_numbers(ph.diagrams, rule="confidence")
    with pytest.raises(ValueError, match="null_margin"):
        betti_numbers(pts, null_margin=-1.0)
    with pytest.raises(ValueError, match="prime"):
        persistence_diagrams(pts, coeff=4)


def test_null_cloud_matches_spread():
    pts = clifford_torus(grid_labels(16), dim=8, seed=0)
    null = null_cloud(pts, seed=1)
    assert null.shape == pts.shape
    assert np.allclose(np.cov(null.T), np.cov(pts.T), atol=0.1)
    assert np.array_equal(null, null_cloud(pts, seed=1))


def test_klein_bottle_depends_on_the_field_fast():
    pts = _benchmark().make_cloud("klein", 256, "grid", 0.0, None, 0)
    assert betti_numbers(pts, rule="null", n_landmarks=100, coeff=3).betti[:2] == (1, 1)
    assert betti_numbers(pts, rule="null", n_landmarks=100, coeff=2).betti[:2] == (1, 2)


# a fixed sample of the benchmark table (held-out seed 100, the rule's defaults), chosen before the table was run
TABLE_SAMPLE = [
    ("standard", "random", 1024, 0.0, None),
    ("standard", "grid", 256, 0.0, None),
    ("clifford", "random", 256, 0.1, 64),
    ("sphere", "random", 256, 0.0, 64),
    ("klein", "grid", 1024, 0.0, None),
    ("klein_z2", "random", 1024, 0.0, None),
    ("blob", "random", 256, 0.0, None),
    ("circle", "random", 1024, 0.1, 64),
]


@pytest.mark.slow
@pytest.mark.parametrize("shape, sampling, n, noise, dim", TABLE_SAMPLE)
def test_betti_rule_on_a_sample_of_the_benchmark(shape, sampling, n, noise, dim):
    bench = _benchmark()
    row = bench.run_case(dict(shape=shape, sampling=sampling, n=n, noise=noise, dim=dim, seed=100))
    assert row["betti"] == bench.EXPECTED[shape]


def test_benchmark_smoke_writes_tables(tmp_path):
    rows = _benchmark().main(["--smoke", "--out", str(tmp_path)])
    assert len(rows) == 4 and all(r["right"] == (r["betti"] == r["expected"]) for r in rows)
    md = (tmp_path / "betti_rule.md").read_text()
    assert f"| **all** | {sum(r['right'] for r in rows)} / 4 |" in md
    assert (tmp_path / "betti_rule.csv").read_text().count("\n") == 5


def test_random_suite_clouds_and_table():
    bench = _benchmark()
    for shape in bench.RANDOM_SHAPES:
        pts = bench.make_random_cloud(shape, 64, 0)
        assert pts.shape[0] == 64 and np.all(np.isfinite(pts))
        assert np.array_equal(pts, bench.make_random_cloud(shape, 64, 0))
    assert bench.make_random_cloud("clifford", 64, 0).shape == (64, 64)
    with pytest.raises(ValueError, match="shape"):
        bench.make_random_cloud("torus", 64, 0)
    rows = [dict(shape="blob", n=n, seed=100, expected=(1, 0, 0), betti=b, right=b == (1, 0, 0), betti_old=(2, 0, 0),
                 right_old=False) for n, b in ((256, (1, 0, 0)), (512, (1, 1, 0)))]
    cases_md, summary_md = bench.random_table(rows, old=True)
    assert "| blob | 512 | 100 | (1, 0, 0) | (1, 1, 0) | **no** | (2, 0, 0) | **no** |" in cases_md
    assert "| **N ≥ 512** | 0 / 1 (0%) | 0 / 1 (0%) |" in summary_md
    assert "| blob | 1 / 2 (50%) | 0 / 2 (0%) |" in summary_md


# ------------------------------------------------------------------------------ the confidence rule
def test_confidence_rule_reports_each_bar_and_its_level():
    pts = ring(150, noise=0.05, random=True, seed=0)
    res = betti_numbers(pts, rule="confidence", maxdim=1, seed=0)
    assert res.rule == "confidence" and res.betti == (1, 1) and res.confidence == 0.95
    assert res.n_landmarks is None and res.persistence.filtration == "rips"  # 150 points: all of them
    for k in range(2):
        assert res.p_values[k].shape == res.lifetimes[k].shape
        assert np.all((res.p_values[k] >= 0) & (res.p_values[k] <= 1))
    assert res.levels[0] == pytest.approx(0.05) and res.levels[1] == pytest.approx(0.05 / res.lifetimes[1].size)
    assert res.significant(1).sum() == 1 and res.significant(1)[0]  # the loop is the longest bar
    assert res.p_values[1][0] < 1e-4 < res.p_values[1][1:].min()
    assert np.isfinite(res.h0_band) and res.h0_band > 0
    assert "confidence 95%" in res.summary() and "smallest p" in res.summary()
    # a stricter level can only count fewer bars
    strict = betti_numbers(pts, rule="confidence", maxdim=1, confidence=0.999999999, seed=0)
    assert strict.betti[1] <= res.betti[1] and strict.levels[1] < res.levels[1]
    with pytest.raises(ValueError, match="confidence"):
        betti_numbers(pts, rule="confidence", confidence=1.0)
    with pytest.raises(ValueError, match="calibration"):
        betti_numbers(pts, rule="confidence", calibration="mean")
    with pytest.raises(ValueError, match="p-values"):
        betti_numbers(pts, rule="null", maxdim=1, n_landmarks=60).significant(1)


def test_b0_ignores_outliers_and_counts_separated_blobs():
    # measured failure of the null rule: one blob with outliers read as two components for some seeds
    rng = np.random.default_rng(3)
    blob = rng.standard_normal((300, 3))
    outliers = rng.uniform(-8, 8, (15, 3))
    one = betti_numbers(np.concatenate([blob, outliers]), rule="confidence", maxdim=1, seed=0)
    assert one.betti[0] == 1
    two = betti_numbers(np.concatenate([blob - [4, 0, 0], blob[:150] + [4, 0, 0], outliers]), rule="confidence", maxdim=1, seed=0)
    assert two.betti[0] == 2 and two.p_values[0].min() < 0.05
    heavy = betti_numbers(rng.standard_t(3, size=(300, 3)), rule="confidence", maxdim=1, seed=0)  # heavy tails, no added outliers
    assert heavy.betti == (1, 0)


def test_two_noisy_circles_with_outliers():
    # measured failure of the null rule: two circles 4 radii apart read as one component
    rng = np.random.default_rng(0)
    pts = np.concatenate([ring(150, noise=0.05, random=True, seed=1), ring(150, noise=0.05, random=True, seed=2) + 4])
    pts[rng.choice(len(pts), 6, replace=False)] = rng.uniform(-1.5, 7.5, (6, 2))
    assert betti_numbers(pts, rule="confidence", maxdim=1, seed=0).betti == (2, 2)


def test_automatic_landmarks_are_reported():
    pts = sphere(260, noise=0.01, random=True, seed=0)
    assert auto_landmarks(260, 2) == 200 and auto_landmarks(260, 1) is None and auto_landmarks(5000, 1) == 1000
    res = persistence_diagrams(pts, maxdim=2)
    assert res.landmarks and res.n_landmarks == 200 == len(res.indices)
    full = persistence_diagrams(pts, maxdim=1)
    assert not full.landmarks and full.n_landmarks is None and len(full.indices) == 260
    assert persistence_diagrams(pts, maxdim=1, n_landmarks=None).n_landmarks is None
    with pytest.raises(ValueError, match="n_landmarks"):
        persistence_diagrams(pts, n_landmarks="many")
    with pytest.raises(ValueError, match="filtration"):
        persistence_diagrams(pts, filtration="cech")
    betti = betti_numbers(pts, rule="confidence", seed=0)
    assert betti.n_landmarks == 200 and betti.betti == (1, 0, 1)
    assert "200 landmarks" in betti.summary()


def test_trimmed_landmarks_skip_outliers():
    rng = np.random.default_rng(1)
    pts = np.concatenate([ring(200, random=True, seed=0), rng.uniform(10, 20, (5, 2))])
    res = persistence_diagrams(pts, maxdim=1, n_landmarks=50, trim=2.0)
    assert res.indices.max() < 200  # no outlier among the landmarks
    assert persistence_diagrams(pts, maxdim=1, n_landmarks=50).indices.max() >= 200  # max-min loves outliers
    with pytest.raises(ValueError, match="eligible"):
        greedy_landmarks(pts, 5, eligible=np.ones(3, dtype=bool))


def test_dtm_h0_diagram_matches_ripser_on_the_same_filtration():
    from ripser import ripser
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.standard_normal((60, 2)), rng.standard_normal((40, 2)) + 6, [[20.0, 20.0]]])
    f = distance_to_measure(pts, mass=0.05)
    ours = dtm_h0_diagram(pts, f)
    edge = np.maximum(np.maximum.outer(f, f), (cdist(pts, pts) + f[:, None] + f[None]) / 2)
    np.fill_diagonal(edge, f)
    ref = ripser(edge, distance_matrix=True, maxdim=0)["dgms"][0]
    ref = ref[ref[:, 1] > ref[:, 0] + 1e-6]
    assert np.allclose(np.sort(ours[:, 1] - ours[:, 0]), np.sort(ref[:, 1] - ref[:, 0]), atol=1e-4)
    life = np.sort(ours[:, 1] - ours[:, 0])[::-1]
    assert np.isinf(life[0]) and life[1] > 2.0  # two clusters (the far outlier is trimmed by betti_numbers)
    with pytest.raises(ValueError, match="dtm must hold"):
        dtm_h0_diagram(pts, f[:-1])


def test_distance_to_measure_and_its_bootstrap():
    pts = np.concatenate([ring(100), [[5.0, 5.0]]])
    f = distance_to_measure(pts, mass=0.05)
    assert f.shape == (101,) and f[-1] > 10 * np.median(f)
    assert np.allclose(distance_to_measure(pts, mass=0.05, weights=np.ones(101, dtype=int)), f)
    # a point drawn twice counts twice among the nearest
    w = np.ones(101, dtype=int)
    w[0] = 6
    assert distance_to_measure(pts, mass=0.05, weights=w)[0] == pytest.approx(0.0)
    f2, dev = dtm_bootstrap(pts, mass=0.05, n_boot=20, seed=0)
    assert np.allclose(f2, f) and dev.shape == (20,) and np.all(dev >= 0)
    assert dev.max() < f[-1]  # the outlier is outside the trimmed region the band is taken over
    with pytest.raises(ValueError, match="mass"):
        distance_to_measure(pts, mass=0.0)


def test_universal_pvalues():
    rng = np.random.default_rng(0)
    birth = rng.uniform(0.1, 0.2, 200)
    noise = np.stack([birth, birth * (1 + rng.exponential(0.1, 200))], axis=1)
    loop = np.array([[0.1, 3.0]])
    p = universal_pvalues([np.concatenate([noise, loop]), noise[:3]])
    assert p[0].shape == (201,) and p[0][-1] < 0.05 / 201 < p[0][:-1].min()
    assert p[1].shape == (3,) and np.all(p[1] > 0.01)  # three bars: calibrated on all diagrams together
    paper = universal_pvalues([np.concatenate([noise, loop])], calibration="paper")[0]
    assert paper[-1] == pytest.approx(np.exp(-np.exp(np.log(np.log(30.0)) - 0.5772156649015329 - np.mean(
        np.log(np.log(np.concatenate([noise, loop])[:, 1] / np.concatenate([noise, loop])[:, 0]))))))
    assert universal_pvalues([]) == []
    with pytest.raises(ValueError, match="calibration"):
        universal_pvalues([loop], calibration="mad")


@pytest.mark.slow
def test_clifford_torus_activations_read_121_with_confidence():
    # the measurement of examples/clifford_torus.py and probes/torus_geometry.py: 32 x 32 lattice, PCA to 10
    # dimensions, 300 landmarks, Rips diagrams, then the default Betti call on them
    pts = clifford_torus(grid_labels(32), noise=0.05, dim=64, seed=0)
    ph = persistence_diagrams(pts, maxdim=2, n_landmarks=300, pca_dim=10, seed=0)
    res = betti_numbers(ph)
    assert res.rule == "confidence" and res.betti == (1, 2, 1) and res.n_landmarks == 300
    assert res.p_values[1][:2].max() < res.levels[1] and res.p_values[2][0] < res.levels[2]
