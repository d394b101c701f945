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

# Defaults of the null rule (betti_numbers), chosen on the development seeds 0 and 1 only (docs/geometry.md):
NULL_MARGIN = (1.0, 1.3, 1.3)  # per dimension H0, H1, H2: a bar must outlive this × the longest null bar
NULL_GAP = 1.5  # ... and the counted bars must outlive the next bar by this factor


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
    ``coeff``: the prime field Z/coeff of the homology. ``cloud``: ``(n, d')`` the input after PCA pre-reduction
    (what :func:`betti_numbers` needs to build its null cloud); ``None`` for results built by hand.
    """

    diagrams: tuple[np.ndarray, ...]
    indices: np.ndarray
    pca_dim: int | None
    coeff: int = 2
    cloud: np.ndarray | None = None

    @property
    def maxdim(self) -> int:
        return len(self.diagrams) - 1


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int ≥ {low}, got {value!r}")
    return int(value)


def persistence_diagrams(
    points: np.ndarray | torch.Tensor,
    *,
    maxdim: int = 1,
    n_landmarks: int | None = None,
    pca_dim: int | None = None,
    coeff: int = 3,
    thresh: float = np.inf,
    seed: int | np.random.Generator = 0,
) -> PersistenceResult:
    """Vietoris–Rips persistence diagrams of ``points`` ``(n, d)`` up to homology dimension ``maxdim`` (≤ 2).

    ``pca_dim`` first projects on the top principal components; ``n_landmarks`` then keeps a greedy max-min
    subsample (see :func:`greedy_landmarks`) — both make ``maxdim=2`` affordable (cost grows steeply with n).
    ``coeff`` (prime, default 3): homology over Z/coeff; Z/3 tells a Klein bottle (1, 1, 0) from a torus
    (1, 2, 1), Z/2 does not.
    """
    from ripser import ripser

    arr = as_points(points)
    if isinstance(maxdim, bool) or maxdim not in (0, 1, 2):
        raise ValueError(f"maxdim must be 0, 1 or 2, got {maxdim!r}")
    coeff = _check_int("coeff", coeff, 2)
    if any(coeff % p == 0 for p in range(2, int(coeff**0.5) + 1)):
        raise ValueError(f"coeff must be a prime, got {coeff}")
    if pca_dim is not None:
        pca_dim = _check_int("pca_dim", pca_dim, 1)
        spec = pca_spectrum(arr)
        arr = spec.project(arr, min(pca_dim, len(spec.eigenvalues)))
    if n_landmarks is not None and n_landmarks < arr.shape[0]:
        idx = greedy_landmarks(arr, n_landmarks, seed=seed)
    else:
        idx = np.arange(arr.shape[0])
    dgms = ripser(arr[idx], maxdim=maxdim, coeff=coeff, thresh=thresh)["dgms"]
    return PersistenceResult(
        diagrams=tuple(np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in dgms),
        indices=idx,
        pca_dim=None if pca_dim is None else arr.shape[1],
        coeff=coeff,
        cloud=arr,
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
    """Betti numbers read off persistence diagrams, with what the rule saw.

    ``betti``: counts per dimension. ``lifetimes[k]``: finite lifetimes of H_k sorted descending.
    ``cutoffs[k]``: the shortest lifetime counted as long in H_k (``inf`` when none was).
    ``infinite[k]``: bars of H_k that never die (always counted). ``rule``: the rule that decided.
    Null rule only (else empty): ``null_lifetimes[k]`` ``(n_null,)`` the longest finite H_k bar of each null
    cloud; ``thresholds[k]`` the lifetime a bar had to exceed (``null_margin`` × the longest null bar).
    ``gaps[k]``: ratio of the shortest counted bar to the next bar (``inf`` when no bar follows, ``nan`` when none
    was counted) — how clearly the counted bars stand out. ``persistence``: the diagrams used when
    :func:`betti_numbers` computed them itself.
    """

    betti: tuple[int, ...]
    lifetimes: tuple[np.ndarray, ...]
    cutoffs: tuple[float, ...]
    infinite: tuple[int, ...]
    rule: str
    null_lifetimes: tuple[np.ndarray, ...] = ()
    thresholds: tuple[float, ...] = ()
    gaps: tuple[float, ...] = ()
    persistence: PersistenceResult | None = None

    def summary(self) -> str:
        """One line per dimension: count, the longest bars, the threshold and the gap."""
        lines = [f"Betti {self.betti} (rule {self.rule!r})"]
        for k, life in enumerate(self.lifetimes):
            thr = f", threshold {self.thresholds[k]:.3g}" if self.thresholds else ""
            gap = f", gap {self.gaps[k]:.2f}" if self.gaps and np.isfinite(self.gaps[k]) else ""
            lines.append(f"  H{k}: {self.betti[k]}  longest {np.round(life[:4], 3).tolist()}{thr}{gap}")
        return "\n".join(lines)


def null_cloud(cloud: np.ndarray | torch.Tensor, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A Gaussian cloud ``(n, d)`` with the mean and covariance of ``cloud`` ``(n, d)``: same size and spread,
    no shape. Its bars show how long the noise bars of ``n`` points of that spread get."""
    arr = as_points(cloud, "cloud")
    rng = numpy_rng(seed)
    centred = arr - arr.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    scale = s / np.sqrt(max(arr.shape[0] - 1, 1))
    return arr.mean(axis=0) + (rng.standard_normal((arr.shape[0], s.size)) * scale) @ vt


def _gap_count(life: np.ndarray, ref: float, min_relative: float, noise_factor: float, min_gap: float) -> int:
    noise = float(np.median(life[1:])) if life.size > 1 else 0.0
    floor = max(min_relative * ref, noise_factor * noise)
    n_cand = int(np.sum(life > floor))
    if n_cand == 0:
        return 0
    nxt = life[n_cand] if life.size > n_cand else 0.0
    ext = np.append(life[:n_cand], max(nxt, 1e-12 * max(ref, 1e-300)))
    ratios = ext[:-1] / ext[1:]
    return int(np.argmax(ratios)) + 1 if ratios.max() >= min_gap else 0


def _null_count(life: np.ndarray, threshold: float, min_gap: float) -> int:
    """Bars above ``threshold``, cut at the largest ratio between consecutive lifetimes (the last candidate is
    compared with the next bar); none when that ratio is below ``min_gap``."""
    n_cand = int(np.sum(life > threshold))
    if n_cand == 0:
        return 0
    ext = np.append(life[:n_cand], life[n_cand] if life.size > n_cand else 0.0)
    with np.errstate(divide="ignore"):
        ratios = ext[:-1] / ext[1:]
    best = int(np.argmax(ratios))
    return best + 1 if ratios[best] >= min_gap else 0


def _is_points(data: Any) -> bool:
    return isinstance(data, torch.Tensor) or (isinstance(data, np.ndarray) and data.ndim == 2)


def betti_numbers(
    data: PersistenceResult | Sequence[np.ndarray] | np.ndarray | torch.Tensor,
    *,
    rule: str = "auto",
    maxdim: int = 2,
    n_landmarks: int | None = 200,
    pca_dim: int | None = 10,
    coeff: int = 3,
    n_null: int = 2,
    null_margin: float | Sequence[float] = NULL_MARGIN,
    null_gap: float = NULL_GAP,
    min_relative: float = 0.1,
    noise_factor: float = 5.0,
    min_gap: float = 2.0,
    relative: float = 0.5,
    seed: int | np.random.Generator = 0,
) -> BettiResult:
    """Count the long bars of each homology dimension. Bars that never die always count.

    ``data``: points ``(n, d)`` (array or tensor; diagrams are then computed with :func:`persistence_diagrams`
    using ``maxdim``, ``n_landmarks``, ``pca_dim``, ``coeff`` and ``seed``), a :class:`PersistenceResult`, or a
    sequence of diagrams ``(m_k, 2)``.

    * ``rule="null"``: draw ``n_null`` Gaussian clouds with the size, mean and covariance of the (PCA-reduced)
      points (:func:`null_cloud`) and compute their diagrams exactly as for the data (same landmark count, field
      and maxdim). In H_k the candidates are the finite bars longer than ``null_margin[k]`` × the longest null
      H_k bar (a shape's features outlive what a shapeless cloud of the same spread and size produces) and, for
      k ≥ 1, longer than ``min_relative`` × the longest finite bar of any dimension ≥ 1; the count
      is the position of the largest ratio between consecutive candidate lifetimes (the last candidate compared
      with the next bar), provided it is at least ``null_gap`` (real features also stand apart from the shape's own
      sampling noise). ``null_margin`` is one number or one per dimension.
    * ``rule="gap"``: in H_k, candidates are the bars longer than ``max(min_relative·L, noise_factor·median)``
      (``L`` the largest finite lifetime over all dimensions, ``median`` that of H_k without its longest bar); the
      count is the position of the largest ratio between consecutive sorted lifetimes among them, if that ratio is
      at least ``min_gap``.
    * ``rule="relative"``: in H_k (k ≥ 1) a bar is long when its lifetime ≥ ``relative·L'`` (``L'`` the largest
      finite lifetime over dimensions ≥ 1); H0 uses the gap rule.
    * ``rule="auto"`` (default): ``"null"`` when the points are known (points or a :class:`PersistenceResult`
      from :func:`persistence_diagrams`), else ``"gap"``; ``BettiResult.rule`` says which ran.
    """
    if rule not in ("auto", "null", "gap", "relative"):
        raise ValueError(f"rule must be 'auto', 'null', 'gap' or 'relative', got {rule!r}")
    margins = tuple(float(m) for m in np.atleast_1d(np.asarray(null_margin, dtype=np.float64)))
    for name, val in (
        ("min_relative", min_relative), ("noise_factor", noise_factor), ("min_gap", min_gap), ("relative", relative),
        ("null_gap", null_gap), *(("null_margin", m) for m in margins),
    ):
        if not np.isfinite(val) or val < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {val!r}")
    n_null = _check_int("n_null", n_null, 1)
    computed = None
    if _is_points(data):
        computed = persistence_diagrams(
            data, maxdim=maxdim, n_landmarks=n_landmarks, pca_dim=pca_dim, coeff=coeff, seed=seed
        )
        data = computed
    has_cloud = isinstance(data, PersistenceResult) and data.cloud is not None
    if rule == "auto":
        rule = "null" if has_cloud else "gap"
    if rule == "null" and not has_cloud:
        raise ValueError("rule='null' needs the points: pass points or a PersistenceResult from persistence_diagrams")
    dgms = _diagram_list(data)
    lifetimes = [np.sort(np.diff(_finite(d), axis=1).ravel())[::-1] for d in dgms]
    ref = max((float(l[0]) for l in lifetimes if l.size), default=0.0)
    ref_higher = max((float(l[0]) for l in lifetimes[1:] if l.size), default=0.0)
    null_max: list[np.ndarray] = []
    thresholds: list[float] = []
    if rule == "null":
        assert isinstance(data, PersistenceResult) and data.cloud is not None
        rng = numpy_rng(seed)
        per_null = []
        for _ in range(n_null):
            null = null_cloud(data.cloud, seed=rng)
            res = persistence_diagrams(
                null, maxdim=data.maxdim, n_landmarks=len(data.indices), coeff=data.coeff, seed=rng
            )
            per_null.append([float(np.max(np.diff(_finite(d), axis=1), initial=0.0)) for d in res.diagrams])
        null_max = [np.array(col) for col in zip(*per_null)]
        # H_k, k ≥ 1, also needs min_relative × the longest bar of dimension ≥ 1: a null too flat to hold H_k
        # (e.g. H2 of a planar circle) would otherwise let any tiny bar through
        thresholds = [
            max(margins[min(k, len(margins) - 1)] * float(m.max()), min_relative * ref_higher if k else 0.0)
            for k, m in enumerate(null_max)
        ]
    betti, cutoffs, infinite, gaps = [], [], [], []
    for k, (d, life) in enumerate(zip(dgms, lifetimes)):
        n_inf = int(np.sum(~np.isfinite(d[:, 1])))
        if rule == "null":
            n_long = _null_count(life, thresholds[k], null_gap)
        elif rule == "relative" and k > 0:
            n_long = int(np.sum(life >= relative * ref_higher)) if ref_higher > 0 else 0
        else:
            n_long = _gap_count(life, ref, min_relative, noise_factor, min_gap)
        betti.append(n_inf + n_long)
        cutoffs.append(float(life[n_long - 1]) if n_long else float("inf"))
        infinite.append(n_inf)
        if n_long == 0:
            gaps.append(float("nan"))
        else:
            gaps.append(float(life[n_long - 1] / life[n_long]) if life.size > n_long and life[n_long] > 0 else np.inf)
    return BettiResult(
        betti=tuple(betti), lifetimes=tuple(lifetimes), cutoffs=tuple(cutoffs), infinite=tuple(infinite), rule=rule,
        null_lifetimes=tuple(null_max), thresholds=tuple(thresholds), gaps=tuple(gaps), persistence=computed,
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
