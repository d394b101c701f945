"""The papers' toy models of learning dynamics (Park et al. 2024; Okawa et al. 2023), as plain numpy functions.

- Eq. 1 of paper 001 (concept memorisation): the target of the slower concept moves from a biased value
  ``z̃`` to the true one ``ẑ`` along ``d(t) = z̃ + (ẑ − z̃)·sigmoid(t − t̂)``; the concept point follows
  ``dz/dt = −∇L`` with the stronger concept weighted ``a`` and the weaker ``1/(2a)``.
- Eq. 2 of paper 001 (underspecification): ``L = ((1 − sα) − z1)² + (1 − z2)²`` for masking fraction α.
- Paper 002's multiplicative emergence: each of ``n`` concepts is learned with probability ``p`` per step,
  ``P(t) = (1 − (1 − p)^t)^n``, and the first step with ``P ≥ P*`` is
  ``t* = ceil(log(1 − P*^{1/n}) / log(1 − p))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MultiplicativeFit",
    "biased_target",
    "critical_time",
    "fit_multiplicative",
    "memorization_dynamics",
    "multiplicative_accuracy",
    "underspecified_dynamics",
]


def _check_probability(p: float, name: str = "p") -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {p}")


def biased_target(t: np.ndarray | float, z_tilde: float, z_hat: float, t_hat: float) -> np.ndarray:
    """Eq. 1's moving target ``d(t) = z̃ + (ẑ − z̃) / (1 + exp(−(t − t̂)))`` for times ``t`` (T,) -> (T,)."""
    t = np.asarray(t, dtype=float)
    return z_tilde + (z_hat - z_tilde) / (1.0 + np.exp(-(t - t_hat)))


def memorization_dynamics(
    t: np.ndarray,
    z_tilde: tuple[float, float] = (1.0, 0.0),
    z_hat: tuple[float, float] = (1.0, 1.0),
    t_hat: float = 6.0,
    a: float = 2.0,
    z0: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Euler integration of Eq. 1: ``dz/dt = −∇L`` on the time grid ``t`` (T,) -> trajectory (T, 2).

    Concept 1 is the stronger one (weight ``a``): its target is ``ẑ1`` from the start; concept 2 (weight
    ``1/(2a)``) follows :func:`biased_target` from ``z̃2`` to ``ẑ2`` around ``t̂``. With the defaults the
    held-out class first heads to corner (1, 0) (concept memorisation), then turns towards (1, 1).
    """
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be a strictly increasing 1-D time grid with at least two points")
    if a <= 0:
        raise ValueError(f"a must be positive, got {a}")
    z = np.empty((t.size, 2))
    z[0] = z0
    w1, w2 = 2 * a, 1.0 / a  # gradients of a·(ẑ1 − z1)² and (1/2a)·(d − z2)²
    stiff = max(w1, w2)
    for i in range(1, t.size):
        dt = t[i] - t[i - 1]
        k = int(np.ceil(dt * stiff / 0.1))  # sub-steps keep explicit Euler stable (h·w ≤ 0.1)
        h, cur, now = dt / k, z[i - 1].copy(), t[i - 1]
        for _ in range(k):
            d2 = biased_target(now, z_tilde[1], z_hat[1], t_hat)
            cur -= h * np.array([w1 * (cur[0] - z_hat[0]), w2 * (cur[1] - d2)])
            now += h
        z[i] = cur
    return z


def underspecified_dynamics(
    alpha: float, t: np.ndarray, s: float = 1.0, z0: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Eq. 2: gradient flow on ``L = ((1 − sα) − z1)² + (1 − z2)²`` over the time grid ``t`` (T,) -> (T, 2).

    alpha: masked fraction in [0, 1]; the masked concept's target slides from 1 (no masking) to ``1 − s``.
    The flow is linear, so it is solved exactly: ``z(t) = target + (z0 − target)·exp(−2t)``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    t = np.asarray(t, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"t must be 1-D, got shape {t.shape}")
    target = np.array([1.0 - s * alpha, 1.0])
    decay = np.exp(-2.0 * (t - t[0]))[:, None] if t.size else np.zeros((0, 1))
    return target + (np.asarray(z0, dtype=float) - target) * decay


def multiplicative_accuracy(t: np.ndarray | float, p: float, n: int) -> np.ndarray:
    """``P(t) = (1 − (1 − p)^t)^n``: probability that all ``n`` concepts are learned by step ``t``."""
    _check_probability(p)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    t = np.asarray(t, dtype=float)
    return (1.0 - (1.0 - p) ** t) ** n


def critical_time(p: float, n: int | np.ndarray, target: float = 0.8) -> np.ndarray:
    """``t* = ceil(log(1 − P*^{1/n}) / log(1 − p))``: first step with ``P(t) ≥ target`` for ``n`` concepts."""
    _check_probability(p)
    _check_probability(target, "target")
    n = np.asarray(n, dtype=float)
    if np.any(n < 1):
        raise ValueError(f"n must be >= 1, got {n}")
    return np.ceil(np.log(1.0 - target ** (1.0 / n)) / np.log(1.0 - p))


@dataclass(frozen=True)
class MultiplicativeFit:
    """Fit of :func:`critical_time` to measured ``(n, t*)`` pairs, one toy step per training step.

    p: per-step probability of learning one concept; target: the accuracy ``P*`` that defines t*;
    n, measured: the data; predicted: the model's t* at those n; rmse: root-mean-square error in steps.
    """

    p: float
    target: float
    n: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    rmse: float


def fit_multiplicative(n: np.ndarray, t_star: np.ndarray, target: float = 0.8) -> MultiplicativeFit:
    """Fit the toy model's ``t*(n)`` to measured learning times (training steps) of classes that need ``n``
    concepts composed.

    ``t*(n) ≈ g(n) / −log(1 − p)`` with ``g(n) = −log(1 − P*^{1/n})``: ``p`` only sets the time scale, so
    the shape of the curve in ``n`` is the model's prediction and ``p`` is fitted in closed form by least
    squares on ``1/−log(1 − p)``. n (K,) ints >= 1 and t_star (K,) positive; at least two distinct n.
    """
    _check_probability(target, "target")
    n = np.asarray(n, dtype=float).ravel()
    y = np.asarray(t_star, dtype=float).ravel()
    if n.shape != y.shape or n.size < 2:
        raise ValueError(f"n and t_star must be 1-D of equal length >= 2, got {n.shape} and {y.shape}")
    if np.any(n < 1) or np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("n must be >= 1 and t_star finite and positive")
    if np.unique(n).size < 2:
        raise ValueError(f"need at least two distinct n to fit, got n={n.tolist()}")
    g = -np.log(1.0 - target ** (1.0 / n))
    steps_per_unit = float(g @ y / (g @ g))  # 1 / −log(1 − p)
    p = float(-np.expm1(-1.0 / steps_per_unit))
    predicted = critical_time(p, n, target)
    return MultiplicativeFit(p, target, n, y, predicted, float(np.sqrt(np.mean((predicted - y) ** 2))))
