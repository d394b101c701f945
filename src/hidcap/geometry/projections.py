"""Low-dimensional views of point clouds ``(n, d)``: PCA and UMAP projections to 2-D / 3-D, and a scatter plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any

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


def plot_projection(
    projection: np.ndarray,
    *,
    color: np.ndarray | None = None,
    cmap: str = "twilight",
    title: str | None = None,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Scatter a 2-D or 3-D projection ``(n, 2|3)`` coloured by ``color`` ``(n,)`` (e.g. the x label).

    Returns the ``Axes`` (3-D axes for 3 columns); saves a PNG when ``path`` is given.
    """
    from hidcap.plotting import figure

    proj = as_points(projection, "projection", min_points=1)
    k = _check_components(proj.shape[1])
    if color is not None and len(np.asarray(color)) != len(proj):
        raise ValueError(f"color has {len(np.asarray(color))} entries but the projection has {len(proj)} points")
    if ax is None:
        ax = figure((4.5, 4.5)).add_subplot(projection="3d" if k == 3 else None)
    ax.scatter(*proj.T, c=color, cmap=cmap if color is not None else None, s=6)
    if title:
        ax.set_title(title)
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax
