"""Per-seed values, their dispersion across seeds, and the rule for margins smaller than it.

A verdict over training seeds reports every seed's value and their spread. **A margin** (a value minus
its threshold, or a difference such as capability − behaviour, averaged over seeds) **is decided only
when it is larger than the across-seed standard deviation** of the per-seed values (sample standard
deviation, ddof = 1); a smaller margin is reported as *not decided* by that margin. One seed has no
spread, so its margins are never decided by this rule.

This rule has no stated error rate. A claim over seeds is decided by :mod:`hidcap.evaluation.paired`
(``seed_test``, ``paired_test``, ``onset_test``: one-sided tests over ≥ 5 seeds with a calibrated
false-positive rate); :func:`seed_spread` and :func:`seed_margin` describe the seeds beside it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["SeedMargin", "SeedSpread", "margin_decided", "seed_margin", "seed_spread"]


@dataclass(frozen=True)
class SeedSpread:
    """Per-seed values and their dispersion: mean, std (sample, ddof = 1; ``None`` for one seed), min,
    max, n (seeds). ``seeds`` labels the values (training seeds), ``None`` if not given."""

    values: tuple[float, ...]
    seeds: tuple[int | str, ...] | None
    mean: float
    std: float | None
    min: float
    max: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (``std`` is ``null`` for one seed)."""
        return {"values": [float(v) for v in self.values],
                "seeds": None if self.seeds is None else [s if isinstance(s, str) else int(s) for s in self.seeds],
                "mean": float(self.mean), "std": None if self.std is None else float(self.std),
                "min": float(self.min), "max": float(self.max), "n": int(self.n)}


def seed_spread(values: ArrayLike, seeds: Sequence[int | str] | None = None) -> SeedSpread:
    """:class:`SeedSpread` of per-seed values (n_seeds,), finite; ``seeds`` labels them (same length)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array of per-seed values, got shape {v.shape}")
    if np.any(~np.isfinite(v)):
        raise ValueError("values must be finite (got NaN or inf)")
    if seeds is not None:
        seeds = tuple(seeds)
        if len(seeds) != v.size:
            raise ValueError(f"got {len(seeds)} seeds for {v.size} values")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    std = float(v.std(ddof=1)) if v.size > 1 else None
    return SeedSpread(tuple(float(x) for x in v), seeds, float(v.mean()), std, float(v.min()), float(v.max()), int(v.size))


def margin_decided(margin: float, spread: SeedSpread) -> bool:
    """``True`` when ``|margin| > spread.std``; ``False`` (not decided) when it is not, or for one seed."""
    if not np.isfinite(margin):
        raise ValueError(f"margin must be finite, got {margin}")
    if not isinstance(spread, SeedSpread):
        raise ValueError(f"spread must be a SeedSpread, got {type(spread).__name__}")
    return spread.std is not None and abs(float(margin)) > spread.std


@dataclass(frozen=True)
class SeedMargin:
    """A margin over seeds: ``margin`` = mean of per-seed values − ``threshold``; ``spread`` of the
    per-seed values; ``decided`` by :func:`margin_decided`; ``side``: ``"above"`` / ``"below"`` the
    threshold when decided, else ``"not decided"``."""

    margin: float
    threshold: float
    spread: SeedSpread
    decided: bool

    @property
    def side(self) -> str:
        if not self.decided:
            return "not decided"
        return "above" if self.margin > 0 else "below"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {"margin": float(self.margin), "threshold": float(self.threshold), "spread": self.spread.to_dict(),
                "decided": bool(self.decided), "side": self.side}


def seed_margin(values: ArrayLike, threshold: float = 0.0, seeds: Sequence[int | str] | None = None) -> SeedMargin:
    """Margin of per-seed ``values`` (n_seeds,) over ``threshold`` and whether the across-seed spread
    decides it. For a paired difference (capability − behaviour) pass the per-seed differences and
    ``threshold=0``; for "correlation above 0.5" pass the per-seed correlations and ``threshold=0.5``."""
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    spread = seed_spread(values, seeds)
    margin = spread.mean - float(threshold)
    return SeedMargin(margin, float(threshold), spread, margin_decided(margin, spread))
