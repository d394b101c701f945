"""Percolation of Gaussian-bump datasets (Liang et al. 2024, Sec. 3.3).

Overlap of two inverted bump images ``a``, ``b`` (``a = 1 − v/255``): ``‖a∘b‖₂ / ‖a‖₂``. For the bump
``a(p) = exp(−|p − μ|²/4σ²)`` on the continuous plane:

    ‖a‖₂² = 2πσ²,   ‖a∘b‖₂² = πσ² · exp(−|Δ|²/4σ²)   ⇒   overlap(Δ) = exp(−|Δ|²/8σ²) / √2,

with ``Δ = μ_b − μ_a`` (per axis ``exp(−Δx²/8σx² − Δy²/8σy²)/√2`` for anisotropic bumps). A bump overlaps
itself by ``1/√2``; ``relative=True`` divides by that (overlap(0) = 1). Two sites are connected when the overlap
exceeds ``threshold``, i.e. when ``|Δ|/σ < sqrt(8 ln(c / threshold))`` with ``c = 1/√2`` (or 1 if relative).

Sweeps follow Newman & Ziff: one random order of the sites (or bonds) per repeat, so the samples of increasing λ
are nested supersets (as in the paper); the clusters for every λ come from one minimum spanning forest whose
edge weights are the times at which edges appear.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from hidcap.progress import progress_bar
from hidcap.rng import numpy_rng

_SELF = 1 / np.sqrt(2.0)


def _sigma_pair(sigma: float | Sequence[float]) -> tuple[float, float]:
    sx, sy = (sigma, sigma) if np.isscalar(sigma) else tuple(sigma)
    if not (np.isfinite(sx) and np.isfinite(sy) and sx > 0 and sy > 0):
        raise ValueError(f"sigma must be positive (a number or (σx, σy)), got {sigma!r}")
    return float(sx), float(sy)


def bump_overlap(
    displacement: np.ndarray | torch.Tensor | Sequence[float], sigma: float | Sequence[float] = 1.0, *, relative: bool = False
) -> np.ndarray:
    """Analytic overlap ``‖a∘b‖₂/‖a‖₂`` of two inverted bumps whose centres differ by ``displacement`` ``(..., 2)``.

    Returns ``(...)``. ``sigma``: σ or (σx, σy) in the units of the displacement. ``relative`` divides by the
    self-overlap ``1/√2``.
    """
    d = displacement.detach().cpu().double().numpy() if isinstance(displacement, torch.Tensor) else np.asarray(
        displacement, dtype=np.float64
    )
    if d.ndim == 0 or d.shape[-1] != 2:
        raise ValueError(f"displacement must have shape (..., 2) of (dx, dy), got {d.shape}")
    sx, sy = _sigma_pair(sigma)
    out = np.exp(-(d[..., 0] ** 2) / (8 * sx**2) - d[..., 1] ** 2 / (8 * sy**2))
    return out if relative else _SELF * out


def overlap_radius(threshold: float = 0.005, *, relative: bool = False) -> float:
    """Connection radius in units of σ: overlap > ``threshold`` ⇔ ``|Δ|/σ`` below this (0 if never)."""
    c = 1.0 if relative else _SELF
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number ≥ 0, got {threshold!r}")
    if threshold == 0:
        return float("inf")
    return float(np.sqrt(8 * np.log(c / threshold))) if threshold < c else 0.0


def image_overlap(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Overlap ``‖a∘b‖₂/‖a‖₂`` of inverted images ``(..., H, W)`` (dark bump → large value); returns ``(...)``.

    For images with dark bumps on a light background in [0, 1], pass ``1 − image``.
    """
    aa = a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)
    bb = b.detach().cpu().double().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, dtype=np.float64)
    if aa.ndim < 2 or aa.shape != bb.shape:
        raise ValueError(f"a and b must be images of equal shape (..., H, W), got {aa.shape} and {bb.shape}")
    norm_a = np.sqrt((aa**2).sum(axis=(-2, -1)))
    if np.any(norm_a == 0):
        raise ValueError("a has an all-zero image: its overlap is undefined")
    return np.sqrt(((aa * bb) ** 2).sum(axis=(-2, -1))) / norm_a


def neighbour_overlap_curve(
    increments: np.ndarray | Sequence[float], sigmas: np.ndarray | Sequence[float], *, relative: bool = False
) -> np.ndarray:
    """Analytic overlap of neighbours ``d`` apart along one axis: ``(len(sigmas), len(increments))``."""
    inc = np.asarray(increments, dtype=np.float64).ravel()
    sig = np.asarray(sigmas, dtype=np.float64).ravel()
    if np.any(sig <= 0):
        raise ValueError("sigmas must be positive")
    disp = np.stack([inc, np.zeros_like(inc)], axis=-1)
    return np.stack([bump_overlap(disp, s, relative=relative) for s in sig])


# -------------------------------------------------------------------------------------------- graphs
def overlap_graph(
    points: np.ndarray | torch.Tensor,
    sigma: float | Sequence[float] = 1.0,
    threshold: float = 0.005,
    *,
    period: float | Sequence[float] | None = None,
    relative: bool = False,
) -> sparse.csr_matrix:
    """Symmetric boolean adjacency ``(n, n)`` of bump centres ``points`` ``(n, 2)``: connected when overlap > threshold.

    Only pairs within the overlap radius are examined (KD-tree); ``period`` makes the plane a torus
    (minimal-image displacements).
    """
    from scipy.spatial import cKDTree

    pts = points.detach().cpu().double().numpy() if isinstance(points, torch.Tensor) else np.asarray(points, float)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    sx, sy = _sigma_pair(sigma)
    n = pts.shape[0]
    radius = overlap_radius(threshold, relative=relative)
    scaled = pts / np.array([sx, sy])
    box = None
    if period is not None:
        px, py = (period, period) if np.isscalar(period) else tuple(period)
        box = np.array([px / sx, py / sy], dtype=np.float64)
        scaled = np.mod(scaled, box)
    if n < 2 or radius == 0:
        return sparse.csr_matrix((n, n), dtype=bool)
    tree = cKDTree(scaled, boxsize=box)
    pairs = tree.query_pairs(min(radius, 1e300), output_type="ndarray")
    if len(pairs):
        disp = scaled[pairs[:, 1]] - scaled[pairs[:, 0]]
        if box is not None:
            disp -= box * np.round(disp / box)
        keep = bump_overlap(disp, 1.0, relative=relative) > threshold
        pairs = pairs[keep]
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n, n))


def largest_cluster(
    points: np.ndarray | torch.Tensor,
    sigma: float | Sequence[float] = 1.0,
    threshold: float = 0.005,
    *,
    period: float | Sequence[float] | None = None,
    relative: bool = False,
) -> int:
    """Size of the largest connected cluster of bump centres ``points`` ``(n, 2)`` (0 for no points)."""
    graph = overlap_graph(points, sigma, threshold, period=period, relative=relative)
    if graph.shape[0] == 0:
        return 0
    _, labels = connected_components(graph, directed=False)
    return int(np.bincount(labels).max())


# ------------------------------------------------------------------------------------------ lattices
@dataclass(frozen=True)
class PercolationConfig:
    """A lattice of bump centres: ``shape = (Lx, Ly)`` sites ``spacing`` apart, bumps of width ``sigma``.

    ``mode="site"``: λ is the fraction of sites kept (edges between kept sites whose overlap > threshold).
    ``mode="bond"``: every site is kept and λ is the fraction of overlap edges kept.
    ``periodic`` wraps the lattice into a torus (then spanning is undefined).
    """

    shape: tuple[int, int] = (32, 32)
    sigma: float | tuple[float, float] = 1.0
    spacing: float = 1.0
    threshold: float = 0.005
    periodic: bool = False
    relative: bool = False
    mode: str = "site"

    def __post_init__(self) -> None:
        shape = tuple(self.shape) if not np.isscalar(self.shape) else (self.shape, self.shape)
        if len(shape) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
            raise ValueError(f"shape must be (Lx, Ly) of positive ints, got {self.shape!r}")
        object.__setattr__(self, "shape", (int(shape[0]), int(shape[1])))
        _sigma_pair(self.sigma)
        if not np.isfinite(self.spacing) or self.spacing <= 0:
            raise ValueError(f"spacing must be positive, got {self.spacing!r}")
        if not np.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"threshold must be a finite number ≥ 0, got {self.threshold!r}")
        if self.mode not in ("site", "bond"):
            raise ValueError(f"mode must be 'site' or 'bond', got {self.mode!r}")

    @property
    def n_sites(self) -> int:
        return self.shape[0] * self.shape[1]


def lattice_offsets(config: PercolationConfig) -> np.ndarray:
    """Integer offsets ``(k, 2)`` to connected neighbours, one per undirected pair (dx > 0, or dx = 0 and dy > 0)."""
    sx, sy = _sigma_pair(config.sigma)
    radius = overlap_radius(config.threshold, relative=config.relative)
    lx, ly = config.shape
    mx = min(int(np.ceil(radius * sx / config.spacing)), lx - 1) if np.isfinite(radius) else lx - 1
    my = min(int(np.ceil(radius * sy / config.spacing)), ly - 1) if np.isfinite(radius) else ly - 1
    dx, dy = np.meshgrid(np.arange(0, mx + 1), np.arange(-my, my + 1), indexing="ij")
    off = np.stack([dx.ravel(), dy.ravel()], axis=1)
    off = off[(off[:, 0] > 0) | ((off[:, 0] == 0) & (off[:, 1] > 0))]
    disp = off * config.spacing
    if config.periodic:  # minimal-image displacement on the torus
        per = np.array([lx, ly]) * config.spacing
        disp = disp - per * np.round(disp / per)
    keep = bump_overlap(disp, (sx, sy), relative=config.relative) > config.threshold
    return off[keep]


def lattice_edges(config: PercolationConfig) -> np.ndarray:
    """All overlap edges ``(E, 2)`` (int64 site indices ``x·Ly + y``, each pair once) of the full lattice."""
    lx, ly = config.shape
    chunks = []
    for dx, dy in lattice_offsets(config):
        if config.periodic:
            x, y = np.meshgrid(np.arange(lx), np.arange(ly), indexing="ij")
            x2, y2 = (x + dx) % lx, (y + dy) % ly
        else:
            x, y = np.meshgrid(np.arange(0, lx - dx), np.arange(max(0, -dy), ly - max(0, dy)), indexing="ij")
            x2, y2 = x + dx, y + dy
        chunks.append(np.stack([(x * ly + y).ravel(), (x2 * ly + y2).ravel()], axis=1))
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.concatenate(chunks).astype(np.int64)
    if config.periodic:  # small tori: several offsets can wrap onto the same pair or a site itself
        edges = np.sort(edges, axis=1)
        edges = edges[edges[:, 0] != edges[:, 1]]
        edges = np.unique(edges, axis=0)
    return edges


@dataclass(frozen=True)
class PercolationCurve:
    """Largest-cluster curves of a λ sweep.

    ``lambdas`` ``(m,)``; ``occupied`` ``(m,)`` kept sites (site mode) or bonds (bond mode);
    ``largest`` ``(repeats, m)`` largest cluster size in sites; ``mass_ratio`` ``(repeats, m)`` largest cluster
    over kept sites (site mode) or over all sites (bond mode), 0 when nothing is kept;
    ``spanning`` ``(repeats, m)`` whether one cluster touches both the x = 0 and x = Lx − 1 columns
    (``None`` on periodic lattices).
    """

    lambdas: np.ndarray
    occupied: np.ndarray
    largest: np.ndarray
    mass_ratio: np.ndarray
    spanning: np.ndarray | None
    config: PercolationConfig
    seed: int | None

    @property
    def mean(self) -> np.ndarray:
        """``(m,)`` mean mass ratio over repeats."""
        return self.mass_ratio.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        """``(m,)`` standard deviation of the mass ratio over repeats."""
        return self.mass_ratio.std(axis=0)


def percolation_curve(
    lambdas: np.ndarray | Sequence[float],
    config: PercolationConfig = PercolationConfig(),
    *,
    repeats: int = 5,
    seed: int | np.random.Generator = 0,
    edges: np.ndarray | None = None,
    progress: bool | None = None,
) -> PercolationCurve:
    """Largest-cluster mass ratio versus the kept fraction λ on ``config``'s lattice, ``repeats`` times.

    Each repeat draws one random order of the sites (site mode) or bonds (bond mode) from ``seed``; the first
    ``round(λ·N)`` are kept, so samples are nested across λ. ``edges`` may pass a precomputed
    :func:`lattice_edges` of the same config.
    """
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    if lam.size == 0 or np.any(~np.isfinite(lam)) or np.any(lam < 0) or np.any(lam > 1):
        raise ValueError("lambdas must be a non-empty sequence of fractions in [0, 1]")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    rng = numpy_rng(seed)
    n = config.n_sites
    if edges is None:
        edges = lattice_edges(config)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    site_mode = config.mode == "site"
    total = n if site_mode else len(edges)
    counts = np.rint(lam * total).astype(np.int64)
    lx, ly = config.shape
    left, right = np.arange(ly), np.arange((lx - 1) * ly, lx * ly)
    largest = np.zeros((repeats, lam.size), dtype=np.int64)
    spanning = None if config.periodic else np.zeros((repeats, lam.size), dtype=bool)
    for r in progress_bar(range(repeats), progress=progress, desc="percolation repeats"):
        if site_mode:
            order = rng.permutation(n)
            rank = np.empty(n, dtype=np.int64)
            rank[order] = np.arange(n)
            times = np.maximum(rank[edges[:, 0]], rank[edges[:, 1]]) + 1  # edge exists once both sites are kept
        else:
            times = np.empty(len(edges), dtype=np.int64)
            times[rng.permutation(len(edges))] = np.arange(1, len(edges) + 1)
        if len(edges):
            # clusters of the graph {edges with time ≤ k} equal those of its minimum spanning forest's edges ≤ k
            forest = minimum_spanning_tree(
                sparse.csr_matrix((times.astype(np.float64), (edges[:, 0], edges[:, 1])), shape=(n, n))
            ).tocoo()
            f_rows, f_cols, f_times = forest.row, forest.col, forest.data.astype(np.int64)
            sort = np.argsort(f_times, kind="stable")
            f_rows, f_cols, f_times = f_rows[sort], f_cols[sort], f_times[sort]
        else:
            f_rows = f_cols = f_times = np.zeros(0, dtype=np.int64)
        for j, k in enumerate(counts):
            if site_mode and k == 0:
                continue
            m = np.searchsorted(f_times, k, side="right")
            graph = sparse.csr_matrix((np.ones(m, dtype=bool), (f_rows[:m], f_cols[:m])), shape=(n, n))
            _, labels = connected_components(graph, directed=False)
            if site_mode:
                kept = np.zeros(n, dtype=bool)
                kept[order[:k]] = True
                present = labels[kept]
            else:
                kept = np.ones(n, dtype=bool)
                present = labels
            largest[r, j] = np.bincount(present).max()
            if spanning is not None:
                spanning[r, j] = np.intersect1d(labels[left][kept[left]], labels[right][kept[right]]).size > 0
    denom = counts[None, :] if site_mode else np.full((1, lam.size), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mass = np.where(denom > 0, largest / np.maximum(denom, 1), 0.0)
    return PercolationCurve(
        lambdas=lam,
        occupied=counts,
        largest=largest,
        mass_ratio=mass,
        spanning=spanning,
        config=config,
        seed=int(seed) if not isinstance(seed, np.random.Generator) else None,
    )
