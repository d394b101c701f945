"""Persistent homology of point clouds (ripser), diagram distances (persim) and Betti numbers from diagrams.

A diagram is a numpy array ``(m, 2)`` of (birth, death) pairs; ``death = inf`` for bars that never die.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hidcap.geometry.pca import as_points, pca_spectrum
from hidcap.rng import numpy_rng


def greedy_landmarks(points: np.ndarray | torch.Tensor, n_landmarks: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Indices ``(n_landmarks,)`` of a greedy max-min (farthest point) subsample of ``points`` ``(n, d)``.

    The first landmark is drawn with ``seed``; each next one is the point farthest from those chosen.
    """
    arr = as_points(points)
    n = arr.shape[0]
    if isinstance(n_landmarks, bool) or not isinstance(n_landmarks, (int, np.integer)) or not 1 <= n_landmarks <= n:
        raise ValueError(f"n_landmarks must be an int in [1, {n}], got {n_landmarks!r}")
    rng = numpy_rng(seed)
    chosen = np.empty(n_landmarks, dtype=np.int64)
    chosen[0] = rng.integers(n)
    dist = np.linalg.norm(arr - arr[chosen[0]], axis=1)
    for i in range(1, n_landmarks):
        chosen[i] = int(np.argmax(dist))
        np.minimum(dist, np.linalg.norm(arr - arr[chosen[i]], axis=1), out=dist)
    return chosen


@dataclass(frozen=True)
class PersistenceResult:
    """Persistence diagrams ``diagrams[k]`` ``(m_k, 2)`` for k = 0..maxdim, and the points used.

    ``indices``: ``(n_used,)`` rows of the input that entered ripser (all rows without landmarks).
    ``pca_dim``: dimension after PCA pre-reduction (``None`` when not reduced).
    """

    diagrams: tuple[np.ndarray, ...]
    indices: np.ndarray
    pca_dim: int | None

    @property
    def maxdim(self) -> int:
        return len(self.diagrams) - 1


def persistence_diagrams(
    points: np.ndarray | torch.Tensor,
    *,
    maxdim: int = 1,
    n_landmarks: int | None = None,
    pca_dim: int | None = None,
    coeff: int = 2,
    thresh: float = np.inf,
    seed: int | np.random.Generator = 0,
) -> PersistenceResult:
    """Vietoris–Rips persistence diagrams of ``points`` ``(n, d)`` up to homology dimension ``maxdim`` (≤ 2).

    ``pca_dim`` first projects on the top principal components; ``n_landmarks`` then keeps a greedy max-min
    subsample (see :func:`greedy_landmarks`) — both make ``maxdim=2`` affordable (cost grows steeply with n).
    """
    from ripser import ripser

    arr = as_points(points)
    if isinstance(maxdim, bool) or maxdim not in (0, 1, 2):
        raise ValueError(f"maxdim must be 0, 1 or 2, got {maxdim!r}")
    if pca_dim is not None:
        if isinstance(pca_dim, bool) or not isinstance(pca_dim, (int, np.integer)) or pca_dim < 1:
            raise ValueError(f"pca_dim must be a positive int or None, got {pca_dim!r}")
        spec = pca_spectrum(arr)
        arr = spec.project(arr, min(int(pca_dim), len(spec.eigenvalues)))
    if n_landmarks is not None and n_landmarks < arr.shape[0]:
        idx = greedy_landmarks(arr, n_landmarks, seed=seed)
    else:
        idx = np.arange(arr.shape[0])
    dgms = ripser(arr[idx], maxdim=maxdim, coeff=coeff, thresh=thresh)["dgms"]
    return PersistenceResult(
        diagrams=tuple(np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in dgms),
        indices=idx,
        pca_dim=None if pca_dim is None else arr.shape[1],
    )


def _diagram_list(diagrams: PersistenceResult | Sequence[np.ndarray]) -> list[np.ndarray]:
    dgms = diagrams.diagrams if isinstance(diagrams, PersistenceResult) else diagrams
    out = []
    for k, d in enumerate(dgms):
        arr = np.asarray(d, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"diagram {k} must have shape (m, 2), got {arr.shape}")
        out.append(arr)
    if not out:
        raise ValueError("diagrams must hold at least one diagram")
    return out


def _finite(diagram: np.ndarray) -> np.ndarray:
    return diagram[np.isfinite(diagram[:, 1])]


def diagram_distance(dgm_a: np.ndarray, dgm_b: np.ndarray, *, metric: str = "wasserstein") -> float:
    """Wasserstein (p=2 matching as in persim) or bottleneck distance between two diagrams ``(m, 2)``.

    Bars that never die are dropped first (compare their counts separately, e.g. with :func:`betti_numbers`).
    """
    import persim

    a, b = (_finite(d) for d in _diagram_list([dgm_a, dgm_b]))
    if metric == "wasserstein":
        return float(persim.wasserstein(a, b))
    if metric == "bottleneck":
        return float(persim.bottleneck(a, b))
    raise ValueError(f"metric must be 'wasserstein' or 'bottleneck', got {metric!r}")


@dataclass(frozen=True)
class BettiResult:
    """Betti numbers read off persistence diagrams.

    ``betti``: counts per dimension. ``lifetimes[k]``: finite lifetimes of H_k sorted descending (what the rule
    looked at). ``cutoffs[k]``: the shortest lifetime counted as long in H_k (``inf`` when none was).
    ``infinite[k]``: bars of H_k that never die (always counted).
    """

    betti: tuple[int, ...]
    lifetimes: tuple[np.ndarray, ...]
    cutoffs: tuple[float, ...]
    infinite: tuple[int, ...]
    rule: str


def betti_numbers(
    diagrams: PersistenceResult | Sequence[np.ndarray],
    *,
    rule: str = "gap",
    min_relative: float = 0.1,
    noise_factor: float = 5.0,
    min_gap: float = 2.0,
    relative: float = 0.5,
) -> BettiResult:
    """Count the long bars of each diagram. Bars that never die always count.

    Let ``L`` be the largest finite lifetime over all dimensions.

    * ``rule="gap"`` (default): in H_k, sort finite lifetimes descending. Candidates are the bars longer than
      ``max(min_relative·L, noise_factor·median)``, where ``median`` is the median lifetime of H_k without its
      longest bar (the noise scale). Among the candidates, the count is the position of the largest ratio
      between consecutive lifetimes (the last candidate is compared with the next, non-candidate bar), provided
      that ratio is at least ``min_gap``; otherwise no finite bar of H_k counts.
    * ``rule="relative"``: in H_k (k ≥ 1) a finite bar is long when its lifetime ≥ ``relative·L'`` with ``L'``
      the largest finite lifetime over dimensions ≥ 1; H0 uses the gap rule (merge scales of a sample are not
      comparable with loop sizes). Simple, but misses short-lived real features (e.g. the H2 void of a thin
      standard torus) and counts noise loops when there is no real loop.
    """
    dgms = _diagram_list(diagrams)
    if rule not in ("gap", "relative"):
        raise ValueError(f"rule must be 'gap' or 'relative', got {rule!r}")
    for name, val in (
        ("min_relative", min_relative), ("noise_factor", noise_factor), ("min_gap", min_gap), ("relative", relative)
    ):
        if not np.isfinite(val) or val < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {val!r}")
    lifetimes = [np.sort(np.diff(_finite(d), axis=1).ravel())[::-1] for d in dgms]
    ref = max((float(l[0]) for l in lifetimes if l.size), default=0.0)
    higher = [float(l[0]) for l in lifetimes[1:] if l.size]
    ref_higher = max(higher, default=0.0)
    betti, cutoffs, infinite = [], [], []
    for k, (d, life) in enumerate(zip(dgms, lifetimes)):
        n_inf = int(np.sum(~np.isfinite(d[:, 1])))
        if rule == "relative" and k > 0:
            n_long = int(np.sum(life >= relative * ref_higher)) if ref_higher > 0 else 0
        else:
            noise = float(np.median(life[1:])) if life.size > 1 else 0.0
            floor = max(min_relative * ref, noise_factor * noise)
            n_cand = int(np.sum(life > floor))
            if n_cand == 0:
                n_long = 0
            else:
                nxt = life[n_cand] if life.size > n_cand else 0.0
                ext = np.append(life[:n_cand], max(nxt, 1e-12 * max(ref, 1e-300)))
                ratios = ext[:-1] / ext[1:]
                n_long = int(np.argmax(ratios)) + 1 if ratios.max() >= min_gap else 0
        betti.append(n_inf + n_long)
        cutoffs.append(float(life[n_long - 1]) if n_long else float("inf"))
        infinite.append(n_inf)
    return BettiResult(
        betti=tuple(betti), lifetimes=tuple(lifetimes), cutoffs=tuple(cutoffs), infinite=tuple(infinite), rule=rule
    )


def plot_diagrams(
    diagrams: PersistenceResult | Sequence[np.ndarray],
    *,
    title: str | None = None,
    lifetime: bool = False,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Plot persistence diagrams with persim; returns the ``Axes`` and saves a PNG when ``path`` is given."""
    import persim

    from hidcap.plotting import figure

    dgms = _diagram_list(diagrams)
    if ax is None:
        ax = figure((4.5, 4.5)).subplots()
    persim.plot_diagrams(dgms, title=title, lifetime=lifetime, ax=ax, show=False)
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax
