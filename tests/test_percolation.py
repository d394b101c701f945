import numpy as np
import pytest
import torch

from hidcap.percolation import (
    PercolationConfig,
    bump_overlap,
    image_overlap,
    largest_cluster,
    lattice_edges,
    lattice_offsets,
    neighbour_overlap_curve,
    overlap_graph,
    overlap_radius,
    percolation_curve,
)
from hidcap.geometry_plots import plot_percolation

P_C_SITE_SQUARE = 0.592746


def _render_inverted(centre, sigma, grid):
    """Inverted bump 1 − v/255 with v = 255·(1 − exp(−(x−μx)²/4σx² − (y−μy)²/4σy²)) (Liang et al. 2024)."""
    sx, sy = sigma
    xx, yy = grid
    v = 255.0 * (1 - np.exp(-((xx - centre[0]) ** 2) / (4 * sx**2) - (yy - centre[1]) ** 2 / (4 * sy**2)))
    return 1 - v / 255.0


@pytest.mark.parametrize("sigma,delta", [((1.0, 1.0), (1.3, -0.7)), ((0.8, 1.5), (-2.0, 2.5)), ((0.5, 0.5), (0, 0))])
def test_analytic_overlap_matches_rendered_images(sigma, delta):
    h = 0.02
    ax = np.arange(-14, 14, h)
    grid = np.meshgrid(ax, ax, indexing="ij")
    a = _render_inverted((0.0, 0.0), sigma, grid)
    b = _render_inverted(delta, sigma, grid)
    numeric = image_overlap(a, b)
    assert numeric == pytest.approx(bump_overlap(np.array(delta), sigma), rel=1e-6)
    assert image_overlap(torch.tensor(a), torch.tensor(b)) == pytest.approx(numeric)


def test_overlap_properties():
    assert bump_overlap([0.0, 0.0]) == pytest.approx(1 / np.sqrt(2))
    assert bump_overlap([0.0, 0.0], relative=True) == pytest.approx(1.0)
    curve = neighbour_overlap_curve(np.linspace(0, 5, 11), [0.3, 0.5, 1.0])
    assert curve.shape == (3, 11)
    assert np.all(np.diff(curve, axis=1) < 0)  # falls with the increment
    assert np.all(np.diff(curve[:, 1:], axis=0) > 0)  # rises with σ
    for thr in (0.005, 0.1):
        r = overlap_radius(thr)
        assert bump_overlap([0.999 * r, 0]) > thr > bump_overlap([1.001 * r, 0])
    assert overlap_radius(0.9) == 0.0  # above the self-overlap nothing connects


def test_overlap_bad_input():
    with pytest.raises(ValueError, match="displacement"):
        bump_overlap([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sigma"):
        bump_overlap([1.0, 2.0], sigma=-1)
    with pytest.raises(ValueError, match="equal shape"):
        image_overlap(np.ones((4, 4)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="all-zero"):
        image_overlap(np.zeros((4, 4)), np.ones((4, 4)))


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("sigma", [0.2, 0.7, (0.4, 1.0)])
def test_lattice_edges_match_brute_force(periodic, sigma):
    cfg = PercolationConfig(shape=(9, 7), sigma=sigma, spacing=0.8, periodic=periodic)
    xs, ys = np.meshgrid(np.arange(9), np.arange(7), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel()], 1) * 0.8
    period = (9 * 0.8, 7 * 0.8) if periodic else None
    brute = overlap_graph(pts, sigma, cfg.threshold, period=period)
    edges = lattice_edges(cfg)
    mine = set(map(tuple, np.sort(edges, axis=1)))
    assert len(mine) == len(edges)  # no duplicates
    ref = {tuple(sorted(p)) for p in zip(*sparse_upper(brute))}
    assert mine == ref


def sparse_upper(graph):
    coo = graph.tocoo()
    keep = coo.row < coo.col
    return coo.row[keep], coo.col[keep]


def test_nearest_neighbour_regime():
    # σ = 0.2 at spacing 1: connection radius 6.29σ = 1.26 < √2 -> the plain square lattice
    assert sorted(map(tuple, lattice_offsets(PercolationConfig(shape=(5, 5), sigma=0.2)))) == [(0, 1), (1, 0)]
    assert len(lattice_offsets(PercolationConfig(shape=(5, 5), sigma=0.1))) == 0


def test_site_percolation_threshold_square_lattice():
    cfg = PercolationConfig(shape=(128, 128), sigma=0.2)
    lam = np.linspace(0.45, 0.75, 121)
    curve = percolation_curve(lam, cfg, repeats=8, seed=3)
    onset = lam[np.argmax(curve.spanning, axis=1)]
    assert curve.spanning[:, -1].all() and not curve.spanning[:, 0].any()
    assert abs(onset.mean() - P_C_SITE_SQUARE) < 0.02
    # mass ratio: tiny clusters well below p_c, nearly everything well above
    assert curve.mean[lam < 0.5].max() < 0.05
    assert curve.mean[lam > 0.7].min() > 0.9


def test_bond_percolation_threshold_square_lattice():
    cfg = PercolationConfig(shape=(64, 64), sigma=0.2, mode="bond")
    lam = np.linspace(0.3, 0.7, 81)
    curve = percolation_curve(lam, cfg, repeats=8, seed=1)
    onset = lam[np.argmax(curve.spanning, axis=1)]
    assert abs(onset.mean() - 0.5) < 0.03
    assert curve.occupied[-1] == round(0.7 * 2 * 64 * 63)


def test_one_dimension_never_spans_below_one():
    cfg = PercolationConfig(shape=(300, 1), sigma=0.2)
    lam = np.linspace(0.0, 1.0, 41)
    curve = percolation_curve(lam, cfg, repeats=5, seed=0)
    assert not curve.spanning[:, :-1].any()
    assert curve.spanning[:, -1].all()
    assert np.all(curve.mass_ratio[:, -1] == 1.0)
    # mass ratio rises towards 1 as λ → 1 and is small for λ well below 1
    assert curve.mean[(lam >= 0.25) & (lam <= 0.5)].max() < 0.1
    assert np.all(np.diff(curve.mean[lam >= 0.8]) > 0)


@pytest.mark.parametrize("periodic", [False, True])
def test_curve_matches_direct_clusters(periodic):
    cfg = PercolationConfig(shape=(20, 16), sigma=0.45, periodic=periodic)
    lam = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 1.0])
    curve = percolation_curve(lam, cfg, repeats=2, seed=7)
    rng = np.random.default_rng(7)
    xs, ys = np.meshgrid(np.arange(20), np.arange(16), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    for r in range(2):
        order = rng.permutation(cfg.n_sites)
        for j, k in enumerate(curve.occupied):
            expect = largest_cluster(pts[order[:k]], 0.45, period=(20, 16) if periodic else None)
            assert curve.largest[r, j] == expect
    assert (curve.spanning is None) == periodic


def test_no_overlap_means_singletons():
    curve = percolation_curve([0.1, 0.5, 1.0], PercolationConfig(shape=(16, 16), sigma=0.1), repeats=2)
    assert np.all(curve.largest == 1)


def test_determinism_and_seeds():
    cfg = PercolationConfig(shape=(24, 24), sigma=0.3)
    a = percolation_curve(np.linspace(0, 1, 11), cfg, repeats=3, seed=5)
    b = percolation_curve(np.linspace(0, 1, 11), cfg, repeats=3, seed=5)
    c = percolation_curve(np.linspace(0, 1, 11), cfg, repeats=3, seed=6)
    assert np.array_equal(a.largest, b.largest) and np.array_equal(a.spanning, b.spanning)
    assert not np.array_equal(a.largest, c.largest)
    assert a.mass_ratio.shape == (3, 11) and a.mean.shape == (11,)


def test_bad_config_and_lambdas():
    with pytest.raises(ValueError, match="mode"):
        PercolationConfig(mode="edge")
    with pytest.raises(ValueError, match="shape"):
        PercolationConfig(shape=(0, 4))
    with pytest.raises(ValueError, match="lambdas"):
        percolation_curve([0.5, 1.2], PercolationConfig(shape=(4, 4)))
    with pytest.raises(ValueError, match="repeats"):
        percolation_curve([0.5], PercolationConfig(shape=(4, 4)), repeats=0)
    with pytest.raises(ValueError, match="points"):
        overlap_graph(np.zeros((5, 3)))


def test_plot_percolation(tmp_path):
    curve = percolation_curve(np.linspace(0, 1, 6), PercolationConfig(shape=(8, 8), sigma=0.5), repeats=2)
    plot_percolation([curve], path=tmp_path / "perc.png")
    assert (tmp_path / "perc.png").stat().st_size > 1000
