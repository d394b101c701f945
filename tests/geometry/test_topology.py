import numpy as np
import pytest

from hidcap.geometry import (
    betti_numbers,
    clifford_torus,
    diagram_distance,
    greedy_landmarks,
    grid_labels,
    null_cloud,
    persistence_diagrams,
    plot_diagrams,
    ring,
    sphere,
    standard_torus,
)


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
    res = betti_numbers(pts, maxdim=1, n_landmarks=80, seed=0)
    assert res.rule == "null" and res.betti == (1, 1)
    assert len(res.thresholds) == 2 and res.null_lifetimes[1].shape == (2,)
    assert res.lifetimes[1][0] > res.thresholds[1] > res.lifetimes[1][1]
    assert res.gaps[1] > 1.5 and np.isnan(res.gaps[0])
    assert res.persistence is not None and res.persistence.coeff == 3 and len(res.persistence.indices) == 80
    assert "H1: 1" in res.summary()
    # a PersistenceResult from persistence_diagrams carries its points, so the null rule runs on it too
    ph = persistence_diagrams(pts, maxdim=1, n_landmarks=80, seed=0)
    assert betti_numbers(ph).rule == "null"
    assert betti_numbers(ph.diagrams).rule == "gap"  # bare diagrams: no points, no null
    with pytest.raises(ValueError, match="needs the points"):
        betti_numbers(ph.diagrams, rule="null")
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
    assert betti_numbers(pts, n_landmarks=100, coeff=3).betti[:2] == (1, 1)
    assert betti_numbers(pts, n_landmarks=100, coeff=2).betti[:2] == (1, 2)


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
