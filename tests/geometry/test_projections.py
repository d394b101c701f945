import numpy as np
import pytest
import torch

from hidcap.geometry import clifford_torus, grid_labels, pca_projection, ring, umap_projection
from hidcap.geometry_plots import plot_projection


def test_pca_projection_recovers_plane():
    pts = ring(60, radius=3.0, dim=9, seed=2) + 1.0
    proj = pca_projection(torch.tensor(pts), 2)
    assert proj.shape == (60, 2)
    assert np.allclose(np.linalg.norm(proj, axis=1), 3.0)
    proj3 = pca_projection(clifford_torus(grid_labels(10), dim=7, seed=0), 3)
    assert proj3.shape == (100, 3)


def test_projection_bad_input():
    with pytest.raises(ValueError, match="n_components"):
        pca_projection(ring(10), 4)
    with pytest.raises(ValueError, match="fewer"):
        pca_projection(ring(10), 3)  # a planar ring has only 2 components
    with pytest.raises(ValueError, match="n_neighbors"):
        umap_projection(ring(10), 2, n_neighbors=15)
    with pytest.raises(ValueError, match="points"):
        umap_projection(np.zeros(10))
    with pytest.raises(ValueError, match="color"):
        plot_projection(np.zeros((5, 2)), color=np.zeros(4))


@pytest.mark.parametrize("k", [2, 3])
def test_plot_projection(tmp_path, k):
    lab = grid_labels(10)
    proj = pca_projection(clifford_torus(lab), k)
    ax = plot_projection(proj, color=lab[:, 0], title="pca", path=tmp_path / f"p{k}.png")
    assert (tmp_path / f"p{k}.png").stat().st_size > 1000
    assert ax.name == ("3d" if k == 3 else "rectilinear")


@pytest.mark.slow
def test_umap_projection_is_seeded_and_keeps_neighbours():
    pts = ring(150, dim=8, noise=0.01, seed=0)
    a = umap_projection(pts, 2, seed=1)
    b = umap_projection(pts, 2, seed=1)
    assert a.shape == (150, 2) and np.array_equal(a, b)
    # consecutive points of the ring stay closer than random pairs
    step = np.linalg.norm(a - np.roll(a, 1, axis=0), axis=1).mean()
    rand = np.linalg.norm(a - a[np.random.default_rng(0).permutation(150)], axis=1).mean()
    assert step < 0.3 * rand
