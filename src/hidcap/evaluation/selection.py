"""Selection control: choose the best variant on one set of samples, score it on a fresh set.

The best of several noisy accuracies is biased upward: with 8 variants of equal true accuracy 0.5, each
scored on 24 samples (standard error 0.10), the largest score averages about 0.64. A verdict that
compares "the best elicitation protocol" with one naive prompt inherits that bias. The control: choose
the variant on a *selection* set of samples and report its accuracy on a *fresh* set (different
generator seeds), which the choice never saw; the verdict uses the fresh score.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hidcap.evaluation.intervals import N_BOOT, Interval, accuracy_interval, check_samples

__all__ = ["Selection", "select_then_fresh"]


@dataclass(frozen=True)
class Selection:
    """The variant chosen on the selection set and its scores.

    variant: its name; selection: its interval on the selection set (biased upward by the choice, kept
    for the record); fresh: its interval on the fresh set, the score a verdict uses; scores: every
    variant's selection-set accuracy, in the order given.
    """

    variant: str
    selection: Interval
    fresh: Interval
    scores: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {"variant": str(self.variant), "selection": self.selection.to_dict(), "fresh": self.fresh.to_dict(),
                "scores": {str(k): float(v) for k, v in self.scores.items()}}


def select_then_fresh(selection: Mapping[str, ArrayLike], fresh: Mapping[str, ArrayLike], *, level: float = 0.95,
                      n_boot: int = N_BOOT, rng: int | np.random.Generator = 0) -> Selection:
    """Choose the variant with the highest selection-set accuracy; return its fresh-set accuracy.

    selection: ``{variant: correct}`` with per-sample correctness (n,) or (n_seeds, n) on the selection
    samples; fresh: the same on fresh samples (different generator seeds); it needs at least the chosen
    variant (scoring only the winner on fresh samples is enough). Ties go to the first variant in
    ``selection``'s order (put the naive prompt first to let it win ties). Intervals: see
    :func:`hidcap.evaluation.accuracy_interval` (``n_boot``, ``rng`` for the several-seed bootstrap).
    """
    if not isinstance(selection, Mapping) or not isinstance(fresh, Mapping):
        raise ValueError("selection and fresh must be mappings {variant: per-sample correctness}")
    if not selection:
        raise ValueError("selection has no variants")
    scores: dict[str, float] = {}
    for name, correct in selection.items():
        shapes = {1: "(n,)", 2: "(n_seeds, n)"}
        scores[name] = float(check_samples(correct, f"selection[{name!r}]", shapes).mean(axis=-1).mean())
    best = max(scores, key=lambda k: scores[k])  # max keeps the first of equal scores
    if best not in fresh:
        raise KeyError(f"fresh has no samples for the chosen variant {best!r} (has {sorted(fresh)})")
    gen = np.random.default_rng(rng)
    return Selection(best, accuracy_interval(selection[best], level=level, n_boot=n_boot, rng=gen),
                     accuracy_interval(fresh[best], level=level, n_boot=n_boot, rng=gen), scores)
