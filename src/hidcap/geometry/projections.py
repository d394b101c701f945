"""Low-dimensional views of point clouds ``(n, d)``: PCA and UMAP projections to 2-D / 3-D, and a scatter plot."""
from __future__ import annotations


import numpy as np
import torch

from hidcap.geometry.pca import as_points, pca_spectrum


def _check_components(n_components: int) -> int:
    if n_components not in (2, 3) or isinstance(n_components, bool):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}")
    return int(n_components)


def pca_projection(points: np.ndarray | torch.Tensor, n_components: int = 2) -> np.ndarray:
    """Project ``points`` ``(n, d)`` on their top principal components: ``(n, n_components)``."""
    _check_components(n_components)
    arr = as_points(points)
    spec = pca_spectrum(arr)
    if len(spec.eigenvalues) < n_components:
        raise ValueError(f"points {arr.shape} have fewer than {n_components} principal components")
    return spec.project(arr, n_components)


def umap_projection(
    points: np.ndarray | torch.Tensor,
    n_components: int = 2,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    seed: int = 0,
) -> np.ndarray:
    """UMAP embedding ``(n, n_components)`` of ``points`` ``(n, d)`` (umap-learn, seeded, so single-threaded)."""
    _check_components(n_components)
    arr = as_points(points)
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise ValueError(f"n_neighbors must be an int ≥ 2, got {n_neighbors!r}")
    if arr.shape[0] <= n_neighbors:
        raise ValueError(f"UMAP needs more points than n_neighbors={n_neighbors}, got {arr.shape[0]}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    import umap

    reducer = umap.UMAP(
        n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric, random_state=int(seed)
    )
    return np.asarray(reducer.fit_transform(arr), dtype=np.float64)
