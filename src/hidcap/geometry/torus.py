"""Ideal point clouds (tori, Klein bottle, ring, sphere) and the orthogonality / parallelism tests of tori (paper 003, App. B).

Labels are ``(n, 2)`` grid coordinates ``(x, y)``, one row per point, on a complete, evenly spaced grid (e.g. the
32×32 bump centres). A grid of ``m`` values with spacing ``s`` is read as periodic with period ``m·s``, so value
``v`` maps to the angle ``2π (v − v_min) / (m·s)``.

Rings: ``S(fix x = a)`` is the set of points whose x equals ``a`` (sweeping y). Each ring's plane is spanned by
its top-2 principal components. For two rings A and B:

* orthogonality: the cosines of the two principal angles between the planes (singular values of ``U_Aᵀ U_B``);
  0 = orthogonal planes, 1 = parallel.
* parallelism: the normalised residual ``Σ‖h − PPᵀh‖² / Σ‖h‖²`` of ring B (centred) projected on ring A's
  plane ``P = U_A``; 0 = B lies in A's plane, 1 = orthogonal to it.

Tests: ``x_on_y`` (every fix-x ring against every fix-y ring), ``x_on_x`` and ``y_on_y`` (every pair of distinct
rings fixed in the same variable). For an ideal Clifford torus x_on_y is orthogonal and x_on_x, y_on_y are
parallel; for the standard torus (x on the major circle) x_on_y shares the radial direction and x_on_x planes
rotate with x, while y_on_y rings are coplanar exactly as for the Clifford torus (that test cannot tell them apart).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hidcap.geometry.pca import as_points
from hidcap.rng import numpy_rng

TESTS = ("x_on_y", "x_on_x", "y_on_y")
STATISTICS = ("orthogonality", "parallelism")


# ----------------------------------------------------------------------------------------------- grid labels
def grid_labels(n_x: int, n_y: int | None = None) -> np.ndarray:
    """Integer grid labels ``(n_x·n_y, 2)`` of (x, y), x varying slowest: ``[(0,0), (0,1), ...]``."""
    n_y = n_x if n_y is None else n_y
    for name, v in (("n_x", n_x), ("n_y", n_y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    xs, ys = np.meshgrid(np.arange(n_x), np.arange(n_y), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)


def _as_labels(labels: np.ndarray | torch.Tensor, n: int | None = None) -> np.ndarray:
    arr = labels.detach().cpu().double().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels, float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"labels must have shape (n, 2) of (x, y), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"labels have {arr.shape[0]} rows but the points have {n}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("labels contain NaN or infinite values")
    return arr


def _axis_index(values: np.ndarray, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """Group nearly equal values: returns (index of each value into the sorted levels, levels)."""
    order = np.argsort(values, kind="stable")
    sv = values[order]
    span = float(sv[-1] - sv[0])
    tol = 1e-6 * max(span, 1.0)
    new_level = np.concatenate([[True], np.diff(sv) > tol])
    level_of_sorted = np.cumsum(new_level) - 1
    idx = np.empty_like(level_of_sorted)
    idx[order] = level_of_sorted
    levels = sv[new_level]
    if len(levels) >= 3:
        steps = np.diff(levels)
        if np.ptp(steps) > 1e-3 * steps.mean():
            raise ValueError(f"{axis} labels must be evenly spaced, got levels {levels[:8]}...")
    return idx, levels


def _angles(values: np.ndarray, period: float | None, axis: str) -> np.ndarray:
    """Angles ``2π (v − v_min) / period``; without ``period`` the values must form an evenly spaced grid whose
    period is ``count × spacing``. With ``period`` any values are allowed (e.g. random samples in [0, period))."""
    if period is None:
        _, levels = _axis_index(values, axis)
        step = float(levels[1] - levels[0]) if len(levels) > 1 else 1.0
        period = step * len(levels)
    if not np.isfinite(period) or period <= 0:
        raise ValueError(f"period for {axis} must be positive, got {period!r}")
    return 2 * np.pi * (values - values.min()) / period


def _label_angles(labels: np.ndarray, period: float | tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    px, py = period if isinstance(period, (tuple, list)) else (period, period)
    return _angles(labels[:, 0], px, "x"), _angles(labels[:, 1], py, "y")


def random_labels(n: int, *, period: float = 1.0, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` labels ``(n, 2)`` drawn uniformly from ``[0, period)²`` — a random (not grid) sample of a torus's
    angles. Pass the same ``period`` to :func:`clifford_torus`, :func:`standard_torus` or :func:`klein_bottle`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not np.isfinite(period) or period <= 0:
        raise ValueError(f"period must be positive, got {period!r}")
    return numpy_rng(seed).uniform(0.0, period, size=(int(n), 2))


# ------------------------------------------------------------------------------------------ ideal clouds
def _finish(points: np.ndarray, dim: int | None, noise: float, seed: int | np.random.Generator) -> np.ndarray:
    """Optionally rotate into ``dim`` dimensions (random orthogonal map) and add isotropic Gaussian noise."""
    rng = numpy_rng(seed)
    if noise < 0 or not np.isfinite(noise):
        raise ValueError(f"noise must be a finite non-negative number, got {noise!r}")
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < points.shape[1]:
            raise ValueError(f"dim must be an int ≥ {points.shape[1]} (the intrinsic embedding), got {dim!r}")
        padded = np.zeros((points.shape[0], int(dim)))
        padded[:, : points.shape[1]] = points
        points = padded @ random_rotation(int(dim), seed=rng).T
    if noise > 0:
        points = points + noise * rng.standard_normal(points.shape)
    return points


def random_rotation(dim: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A Haar-random orthogonal matrix ``(dim, dim)`` (QR of a Gaussian matrix with sign correction)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    rng = numpy_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def clifford_torus(
    labels: np.ndarray | torch.Tensor,
    *,
    radii: tuple[float, float] = (1.0, 1.0),
    period: float | tuple[float, float] | None = None,
    noise: float = 0.0,
    dim: int | None = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Clifford torus ``(n, 4)`` (or ``(n, dim)``): ``(a cos θ, a sin θ, b cos φ, b sin φ)`` at the labels' angles.

    ``labels`` ``(n, 2)`` grid of (x, y); ``radii = (a, b)``; ``dim`` rotates randomly into ``dim`` dimensions;
    ``noise`` is the std of isotropic Gaussian noise added last.
    """
    lab = _as_labels(labels)
    theta, phi = _label_angles(lab, period)
    a, b = radii
    pts = np.stack([a * np.cos(theta), a * np.sin(theta), b * np.cos(phi), b * np.sin(phi)], axis=1)
    return _finish(pts, dim, noise, seed)


def standard_torus(
    labels: np.ndarray | torch.Tensor,
    *,
    R: float = 2.0,
    r: float = 1.0,
    period: float | tuple[float, float] | None = None,
    noise: float = 0.0,
    dim: int | None = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Standard torus in R³ ``(n, 3)`` (or ``(n, dim)``): x → major angle θ, y → minor angle φ.

    ``((R + r cos φ) cos θ, (R + r cos φ) sin θ, r sin φ)``; requires ``R > r > 0``.
    """
    if not (R > r > 0):
        raise ValueError(f"standard torus needs R > r > 0, got R={R}, r={r}")
    lab = _as_labels(labels)
    theta, phi = _label_angles(lab, period)
    rad = R + r * np.cos(phi)
    pts = np.stack([rad * np.cos(theta), rad * np.sin(theta), r * np.sin(phi)], axis=1)
    return _finish(pts, dim, noise, seed)


def klein_bottle(
    labels: np.ndarray | torch.Tensor,
    *,
    R: float = 2.0,
    r: float = 1.0,
    period: float | tuple[float, float] | None = None,
    noise: float = 0.0,
    dim: int | None = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Klein bottle embedded in R⁴ ``(n, 4)`` (or ``(n, dim)``): x → angle u, y → angle v,
    ``((R + r cos v) cos u, (R + r cos v) sin u, r sin v cos(u/2), r sin v sin(u/2))``; requires ``R > r > 0``.

    Its homology tells the coefficient field apart: Betti (1, 2, 1) over Z/2 but (1, 1, 0) over Z/3.
    """
    if not (R > r > 0):
        raise ValueError(f"Klein bottle needs R > r > 0, got R={R}, r={r}")
    lab = _as_labels(labels)
    u, v = _label_angles(lab, period)
    rad = R + r * np.cos(v)
    pts = np.stack([rad * np.cos(u), rad * np.sin(u), r * np.sin(v) * np.cos(u / 2), r * np.sin(v) * np.sin(u / 2)], 1)
    return _finish(pts, dim, noise, seed)


def _check_random(random: bool, seed: int | np.random.Generator) -> np.random.Generator | None:
    if not isinstance(random, bool):
        raise ValueError(f"random must be a bool, got {random!r}")
    return numpy_rng(seed) if random else None


def ring(
    n: int,
    *,
    radius: float = 1.0,
    noise: float = 0.0,
    dim: int | None = None,
    random: bool = False,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """``n`` points on a circle ``(n, 2)`` (or ``(n, dim)`` after a random rotation): evenly spaced, or at
    uniformly random angles when ``random``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an int ≥ 3, got {n!r}")
    rng = _check_random(random, seed)
    t = 2 * np.pi * (rng.uniform(size=n) if rng is not None else np.arange(n) / n)
    return _finish(radius * np.stack([np.cos(t), np.sin(t)], axis=1), dim, noise, seed if rng is None else rng)


def sphere(
    n: int,
    *,
    radius: float = 1.0,
    noise: float = 0.0,
    dim: int | None = None,
    random: bool = False,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """``n`` points on the 2-sphere ``(n, 3)``: nearly uniform (Fibonacci lattice), or uniformly random when
    ``random``; optionally rotated into ``dim``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 4:
        raise ValueError(f"n must be an int ≥ 4, got {n!r}")
    rng = _check_random(random, seed)
    if rng is not None:
        g = rng.standard_normal((n, 3))
        return _finish(radius * g / np.linalg.norm(g, axis=1, keepdims=True), dim, noise, rng)
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    rho = np.sqrt(1 - z**2)
    ang = np.pi * (1 + 5**0.5) * i
    return _finish(radius * np.stack([rho * np.cos(ang), rho * np.sin(ang), z], axis=1), dim, noise, seed)


# ------------------------------------------------------------------------------------------- ring tests
@dataclass(frozen=True)
class RingStatistics:
    """Distributions of the torus tests. ``values[test][statistic]`` is a 1-D array.

    Orthogonality holds two principal-angle cosines per ring pair; parallelism one residual per ordered pair.
    ``planarity[axis]`` (axis ``"x"``: the fix-x rings, ``"y"``: the fix-y rings) is each ring's share of variance
    in its top two principal components (1 = a flat ring; near ``2/d`` = no plane at all, the tests then read noise),
    measured on the points the tests used. ``denoise_dim``: the number of global principal components kept by
    ``denoise`` (``None`` when not denoised).
    """

    values: dict[str, dict[str, np.ndarray]]
    n_x: int
    n_y: int
    planarity: dict[str, np.ndarray] = field(default_factory=dict)
    denoise_dim: int | None = None


def _ring_groups(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (n_x, n_y) and (n_y, n_x) into the rows: row of (x_i, y_j); raise on missing / duplicate labels."""
    ix, lx = _axis_index(labels[:, 0], "x")
    iy, ly = _axis_index(labels[:, 1], "y")
    table = -np.ones((len(lx), len(ly)), dtype=np.int64)
    flat = ix * len(ly) + iy
    counts = np.bincount(flat, minlength=table.size)
    if np.any(counts > 1):
        k = int(np.argmax(counts > 1))
        raise ValueError(f"labels hold duplicate grid points, e.g. (x={lx[k // len(ly)]}, y={ly[k % len(ly)]})")
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0)
        ex = [(float(lx[k // len(ly)]), float(ly[k % len(ly)])) for k in missing[:5]]
        raise ValueError(f"labels do not cover the full {len(lx)}x{len(ly)} grid: {len(missing)} missing, e.g. {ex}")
    if len(lx) < 3 or len(ly) < 3:
        raise ValueError(f"torus tests need at least 3 values of x and of y, got {len(lx)}x{len(ly)}")
    table[ix, iy] = np.arange(len(labels))
    return table, table.T


def _ring_planes(points: np.ndarray, rows: np.ndarray, denoise: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each ring (rows of ``rows``): orthonormal top-2 PC basis (r, d, 2), centred ring points (r, m, d),
    replaced by their rank-2 PCA reconstruction when ``denoise``, and the planarity (r,) of the ring."""
    rings = points[rows]  # (r, m, d)
    centred = rings - rings.mean(axis=1, keepdims=True)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    power = s**2
    total = power.sum(axis=1)
    planarity = np.where(total > 0, power[:, :2].sum(axis=1) / np.where(total > 0, total, 1.0), 1.0)
    if denoise:
        centred = np.einsum("rmk,rk,rkd->rmd", u[:, :, :2], s[:, :2], vt[:, :2])
    return np.swapaxes(vt[:, :2], 1, 2), centred, planarity


def _pair_stats(basis_a, centred_a, basis_b, centred_b, same: bool) -> tuple[np.ndarray, np.ndarray]:
    cos = np.linalg.svd(np.einsum("idk,jdl->ijkl", basis_a, basis_b), compute_uv=False)  # (A, B, 2)
    # residual of ring B projected on plane A: ‖h‖² − ‖U_Aᵀh‖² summed over B's points
    proj = np.einsum("idk,jmd->ijmk", basis_a, centred_b)
    total_b = np.einsum("jmd,jmd->j", centred_b, centred_b)
    kept = np.einsum("ijmk,ijmk->ij", proj, proj)
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = np.where(total_b[None] > 0, 1 - kept / total_b[None], 0.0)
    resid = np.clip(resid, 0.0, 1.0)
    if same:
        iu = np.triu_indices(basis_a.shape[0], k=1)
        off = ~np.eye(basis_a.shape[0], dtype=bool)
        return np.clip(cos[iu].ravel(), 0, 1), resid[off]
    return np.clip(cos.reshape(-1), 0, 1), resid.reshape(-1)


def denoise_dimension(points: np.ndarray | torch.Tensor, *, min_dim: int = 4, margin: float = 1.5) -> int:
    """Number of principal components of ``points`` ``(n, d)`` that stand above isotropic noise.

    The noise variance is estimated from the median eigenvalue; a component is kept when its eigenvalue exceeds
    ``margin`` times the Marchenko–Pastur upper edge ``σ² (1 + √(d/n))²`` of pure noise with that variance.
    At least ``min(min_dim, d)`` components are kept (a torus needs four).
    """
    pts = as_points(points)
    n, d = pts.shape
    lam = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False) ** 2 / max(n - 1, 1)
    lam = np.concatenate([lam, np.zeros(max(0, d - lam.size))])
    sigma2 = float(np.median(lam))
    edge = margin * sigma2 * (1 + np.sqrt(d / n)) ** 2
    keep = int(np.sum(lam > edge)) if sigma2 > 0 else int(np.sum(lam > 1e-12 * max(lam.max(), 1e-300)))
    return int(min(d, max(keep, min_dim)))


def ring_statistics(
    activations: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, *, denoise: bool = True
) -> RingStatistics:
    """Orthogonality and parallelism distributions of ``activations`` ``(n, d)`` recorded at ``labels`` ``(n, 2)``.

    The labels must cover a complete grid (every x with every y, once); see the module docstring for the tests.
    ``denoise=True`` (default) first projects the points on the principal components that stand above isotropic
    noise (:func:`denoise_dimension`) and computes the parallelism residual on each ring's rank-2 PCA
    reconstruction; noise spread over many dimensions otherwise tilts every ring plane and inflates every residual.
    ``False`` follows the paper literally (raw rings).
    """
    pts = as_points(activations, "activations")
    lab = _as_labels(labels, pts.shape[0])
    if not isinstance(denoise, bool):
        raise ValueError(f"denoise must be a bool, got {denoise!r}")
    fix_x, fix_y = _ring_groups(lab)
    k = None
    if denoise:
        k = denoise_dimension(pts)
        centred = pts - pts.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        pts = centred @ vt[:k].T
    bx, cx, px = _ring_planes(pts, fix_x, denoise)
    by, cy, py = _ring_planes(pts, fix_y, denoise)
    values = {
        "x_on_y": dict(zip(STATISTICS, _pair_stats(bx, cx, by, cy, same=False))),
        "x_on_x": dict(zip(STATISTICS, _pair_stats(bx, cx, bx, cx, same=True))),
        "y_on_y": dict(zip(STATISTICS, _pair_stats(by, cy, by, cy, same=True))),
    }
    return RingStatistics(
        values=values, n_x=fix_x.shape[0], n_y=fix_x.shape[1], planarity={"x": px, "y": py}, denoise_dim=k
    )


IDEALS = ("clifford", "standard_x", "standard_y")


@dataclass(frozen=True)
class TorusVerdict:
    """Torus tests of a representation against ideal tori on the same grid: a Clifford torus and the standard torus
    in both orientations (``standard_x``: x on the large circle, ``standard_y``: y on the large circle).

    ``model``, ``clifford``, ``standard_x`` and ``standard_y`` hold the ring statistics of the representation and of
    each ideal. ``distances[test][statistic]`` holds the 1-D Wasserstein distance to each ideal (keys of
    :data:`IDEALS`) and, under ``"standard"``, the distance to the standard orientation closer for that test
    (``standard_orientation[test]``: ``"x"`` or ``"y"``, chosen by the sum over both statistics;
    :meth:`standard_for` returns its statistics). ``closer[test]`` is ``"clifford"``, ``"standard"`` or ``"tie"`` by
    the sum of both statistics' distances (Clifford vs the closer standard orientation); ``closer_by_statistic`` is
    the same per statistic. ``planarity``: the median share of variance of the fix-x / fix-y rings in their top two
    components; below ``min_planarity`` the rings are not planar and the verdicts are flagged as not meaningful
    (``meaningful=False``).
    """

    model: RingStatistics
    clifford: RingStatistics
    standard_x: RingStatistics
    standard_y: RingStatistics
    distances: dict[str, dict[str, dict[str, float]]]
    closer: dict[str, str]
    closer_by_statistic: dict[str, dict[str, str]] = field(default_factory=dict)
    standard_orientation: dict[str, str] = field(default_factory=dict)
    planarity: dict[str, float] = field(default_factory=dict)
    meaningful: bool = True

    def standard_for(self, test: str) -> RingStatistics:
        """Ring statistics of the standard torus whose orientation was closer in ``test`` (the one that
        ``distances[test][s]["standard"]`` measures)."""
        if test not in TESTS:
            raise KeyError(f"test must be one of {TESTS}, got {test!r}")
        return self.standard_x if self.standard_orientation[test] == "x" else self.standard_y

    @property
    def overall(self) -> str:
        """``"clifford"`` when x_on_y is closer to the Clifford torus and neither within-variable test is closer to
        a standard torus; ``"standard"`` when x_on_y is closer to a standard torus; else ``"mixed"``."""
        if self.closer["x_on_y"] == "clifford" and "standard" not in (self.closer["x_on_x"], self.closer["y_on_y"]):
            return "clifford"
        return "standard" if self.closer["x_on_y"] == "standard" else "mixed"

    def summary(self) -> str:
        """A small text table: one line per test and statistic, then the rings' planarity."""
        lines = [
            f"{'test':8s} {'statistic':14s} {'W(clifford)':>12s} {'W(std x)':>10s} {'W(std y)':>10s}  closer"
        ]
        for t in TESTS:
            for s in STATISTICS:
                d = self.distances[t][s]
                lines.append(
                    f"{t:8s} {s:14s} {d['clifford']:12.4f} {d['standard_x']:10.4f} {d['standard_y']:10.4f}  "
                    f"{self.closer_by_statistic[t][s]}"
                )
        lines.append(
            "closer: " + ", ".join(
                f"{t} {self.closer[t]}" + (f" ({self.standard_orientation[t]} on the large circle)"
                                             if self.closer[t] == "standard" else "")
                for t in TESTS
            )
            + f"; overall {self.overall}"
        )
        plan = ", ".join(f"fix-{a} rings {v:.2f}" for a, v in self.planarity.items())
        flag = "" if self.meaningful else "  -> rings are not planar: the tests are not meaningful"
        lines.append(f"planarity (median top-2 variance share): {plan}{flag}")
        return "\n".join(lines)


def _closer(dc: float, ds: float, tol: float) -> str:
    if abs(dc - ds) <= tol:
        return "tie"
    return "clifford" if dc < ds else "standard"


def torus_tests(
    activations: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    *,
    clifford_radii: tuple[float, float] = (1.0, 1.0),
    standard_radii: tuple[float, float] = (2.0, 1.0),
    period: float | tuple[float, float] | None = None,
    denoise: bool = True,
    min_planarity: float = 0.5,
    tol: float = 1e-6,
) -> TorusVerdict:
    """Run the orthogonality / parallelism tests on ``activations`` ``(n, d)`` at grid ``labels`` ``(n, 2)``
    and compare each distribution by 1-D Wasserstein distance with an ideal Clifford torus (``clifford_radii``)
    and a standard torus (``standard_radii = (R, r)``) in both orientations (x or y on the large circle), all
    sampled at the same labels. Differences within ``tol`` are reported as ``"tie"`` (e.g. y_on_y of a Clifford
    torus, whose fix-y rings are coplanar like those of the x-major standard torus). ``denoise`` (default on):
    see :func:`ring_statistics`. ``min_planarity``: median ring planarity below which ``meaningful`` is False.
    ``period``: grid period of the labels (inferred as ``count × spacing`` when None).
    """
    from scipy.stats import wasserstein_distance

    if not 0 <= min_planarity <= 1:
        raise ValueError(f"min_planarity must lie in [0, 1], got {min_planarity!r}")
    model = ring_statistics(activations, labels, denoise=denoise)
    lab = _as_labels(labels)
    R, r = standard_radii
    if isinstance(period, (tuple, list)):
        swapped_period: float | tuple[float, float] | None = (period[1], period[0])
    else:
        swapped_period = period
    ideals = {
        "clifford": ring_statistics(clifford_torus(lab, radii=clifford_radii, period=period), lab, denoise=denoise),
        "standard_x": ring_statistics(standard_torus(lab, R=R, r=r, period=period), lab, denoise=denoise),
        "standard_y": ring_statistics(
            standard_torus(lab[:, ::-1].copy(), R=R, r=r, period=swapped_period), lab, denoise=denoise
        ),
    }
    distances: dict[str, dict[str, dict[str, float]]] = {}
    closer: dict[str, str] = {}
    by_stat: dict[str, dict[str, str]] = {}
    orientation: dict[str, str] = {}
    for t in TESTS:
        distances[t], by_stat[t] = {}, {}
        for s in STATISTICS:
            distances[t][s] = {
                name: float(wasserstein_distance(model.values[t][s], st.values[t][s])) for name, st in ideals.items()
            }
        sums = {name: sum(distances[t][s][name] for s in STATISTICS) for name in IDEALS}
        best = "standard_x" if sums["standard_x"] <= sums["standard_y"] + tol else "standard_y"
        orientation[t] = best[-1]
        for s in STATISTICS:
            distances[t][s]["standard"] = distances[t][s][best]
            by_stat[t][s] = _closer(distances[t][s]["clifford"], distances[t][s]["standard"], tol)
        closer[t] = _closer(sums["clifford"], sums[best], tol)
    planarity = {a: float(np.median(v)) for a, v in model.planarity.items()}
    return TorusVerdict(
        model=model,
        clifford=ideals["clifford"],
        standard_x=ideals["standard_x"],
        standard_y=ideals["standard_y"],
        distances=distances,
        closer=closer,
        closer_by_statistic=by_stat,
        standard_orientation=orientation,
        planarity=planarity,
        meaningful=bool(min(planarity.values()) >= min_planarity),
    )
