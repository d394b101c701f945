"""Concept space: where a model's generations of each class sit, checkpoint by checkpoint (Park et al. 2024; Okawa et al. 2023).

For each checkpoint and class, ``samples_per_class`` images are generated from the class prompt and
scored by a concept probe. The class's **concept-space point** is the mean probability of value 1 of
each concept (a point in the unit cube whose corners are the classes). A sample is **correct** on a
concept when the thresholded probe output equals the class's bit; **joint** (multiplicative) accuracy
is the fraction of samples correct on every concept, **additive** accuracy the mean per-concept
correctness.

Sampling is batched: all classes × samples of one checkpoint go through the sampler in chunks of at
most ``max_batch`` rows. A *sampler* is any callable ``sampler(model, cond (B, D), generator, **kw) ->
images (B, C, H, W) in [0, 1]`` or an object with such a ``.sample`` method (e.g. a diffusion object).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.diffusion import model_device
from hidcap.evaluation.classifiers import MIN_PROBE_ACCURACY, ConceptProbe, require_accurate
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.runs import is_series

__all__ = [
    "ConceptSpace",
    "class_targets",
    "concept_space",
    "generate",
    "iter_checkpoints",
    "sampler_for",
    "score_samples",
]


# ---------------------------------------------------------------------------------------------
# shared plumbing (also used by capability.py)
def iter_checkpoints(series_or_models: Any, steps: Iterable[int] | None = None) -> Iterator[tuple[int, nn.Module]]:
    """Yield ``(step, model)`` from a checkpoint series (``.steps`` + ``.load(step)``), a mapping
    step -> model, a sequence of ``(step, model)`` pairs, or one model (reported as step 0).
    ``steps`` restricts a series/mapping to those steps (each must exist)."""
    if isinstance(series_or_models, nn.Module):
        pairs: Any = [(0, series_or_models)]
        available = [0]
    elif is_series(series_or_models):
        series = series_or_models
        available = list(series.steps)
        wanted = available if steps is None else list(steps)
        missing = [s for s in wanted if s not in available]
        if missing:
            raise KeyError(f"steps {missing} are not in the series; available: {available}")
        for s in wanted:
            yield s, series.load(s)
        return
    elif isinstance(series_or_models, Mapping):
        pairs = sorted(series_or_models.items())
        available = [s for s, _ in pairs]
    else:
        try:
            pairs = [(int(s), m) for s, m in series_or_models]
        except (TypeError, ValueError):
            raise ValueError(
                "series_or_models must be a CheckpointSeries, a mapping step -> model, (step, model) pairs "
                f"or a model, got {type(series_or_models).__name__}"
            ) from None
        available = [s for s, _ in pairs]
    wanted_set = None if steps is None else set(steps)
    if wanted_set is not None and wanted_set - set(available):
        raise KeyError(f"steps {sorted(wanted_set - set(available))} are not given; available: {available}")
    for s, m in pairs:
        if not isinstance(m, nn.Module):
            raise ValueError(f"the model for step {s} is a {type(m).__name__}, not an nn.Module")
        if wanted_set is None or s in wanted_set:
            yield s, m


def sampler_for(sampler: Any, series_or_models: Any, step: int) -> Any:
    """``sampler`` itself, or — when it is ``None`` — the series' diffusion object of ``step``
    (``series.diffusion(step)``, which carries VDM's learned schedule at that checkpoint)."""
    if sampler is not None:
        return sampler
    if is_series(series_or_models):
        return series_or_models.diffusion(step)
    raise ValueError("sampler is required unless series_or_models is a CheckpointSeries (which knows its diffusion)")


def _call_sampler(sampler: Any, model: nn.Module, cond: Tensor, generator: torch.Generator, **kwargs: Any) -> Tensor:
    fn = sampler.sample if hasattr(sampler, "sample") else sampler
    if not callable(fn):
        raise ValueError(f"sampler must be callable or have a .sample method, got {type(sampler).__name__}")
    return fn(model, cond, generator, **kwargs)


@torch.no_grad()
def generate(
    model: nn.Module,
    sampler: Any,
    cond: Tensor,
    generator: torch.Generator,
    *,
    max_batch: int = 1024,
    context: Callable[[int, int], Any] | None = None,
    **sampler_kwargs: Any,
) -> Tensor:
    """Sample images for every row of ``cond`` (B, D) in chunks of at most ``max_batch`` rows.

    ``context(start, stop)`` (optional) returns a context manager entered around the chunk of rows
    ``start:stop`` (e.g. a Tracer with edits for those rows). Returns (B, C, H, W) images, clamped to
    [0, 1], on the model's device.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    if cond.ndim != 2:
        raise ValueError(f"cond must be (B, D), got shape {tuple(cond.shape)}")
    device = model_device(model)
    cond = cond.to(device)
    out = []
    for start in range(0, cond.shape[0], max_batch):
        stop = min(start + max_batch, cond.shape[0])
        with ExitStack() as stack:
            if context is not None:
                stack.enter_context(context(start, stop))
            images = _call_sampler(sampler, model, cond[start:stop], generator, **sampler_kwargs)
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] != stop - start:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"sampler returned {shape}, expected ({stop - start}, C, H, W) images")
        out.append(images.float().clamp(0, 1))
    return torch.cat(out)


def class_targets(spec: Any, classes: Iterable[str]) -> tuple[tuple[str, ...], Tensor]:
    """Validate class bit strings against ``spec`` and return ``(classes, bits (K, n_concepts) long)``."""
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes must name at least one class")
    n = len(spec.concepts)
    bad = [c for c in classes if not isinstance(c, str) or len(c) != n or set(c) - {"0", "1"}]
    if bad:
        raise ValueError(
            f"classes: unknown class(es) {bad}; a class is a bit string of length {n} over {tuple(spec.concepts)}"
        )
    return classes, torch.tensor([[int(b) for b in c] for c in classes], dtype=torch.long)


def check_probe(probe: ConceptProbe, concepts: tuple[str, ...], allow_inaccurate: bool, min_accuracy: float) -> None:
    """``KeyError`` when ``probe`` lacks a head for one of ``concepts``; unless ``allow_inaccurate``, refuse a probe
    under ``min_accuracy`` held-out accuracy (:func:`~hidcap.evaluation.classifiers.require_accurate`)."""
    missing = [c for c in concepts if c not in probe.concepts]
    if missing:
        raise KeyError(f"probe has no head for concept(s) {missing} of the spec; it predicts {probe.concepts}")
    if not allow_inaccurate:
        require_accurate(probe, concepts, min_accuracy)


def score_samples(probe: ConceptProbe, images: Tensor, concepts: tuple[str, ...], targets: Tensor) -> tuple[Tensor, Tensor]:
    """Probe ``images`` (N, C, H, W); return ``(probs (N, n), correct (N, n) bool)`` in ``concepts`` order,
    where ``targets`` (N, n) holds the intended bits."""
    cols = [probe.concepts.index(c) for c in concepts]
    probs = probe.probabilities(images)[:, cols].cpu()
    return probs, (probs > 0.5).long() == targets.cpu()


# ---------------------------------------------------------------------------------------------
@dataclass
class ConceptSpace:
    """Concept-space measurements over checkpoints (the tidy tables of :func:`concept_space`).

    concepts: concept order of every vector below.
    points: rows ``{step, class, concept, value}``: mean probe probability of the concept's value 1.
    accuracy: rows ``{step, class, joint, additive, n_samples}``.
    correct: ``(step, class) -> bool array (k, n_concepts)``: per-sample, per-concept correctness.
    """

    concepts: tuple[str, ...]
    points: list[dict[str, Any]] = field(default_factory=list)
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    correct: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)

    @property
    def steps(self) -> list[int]:
        return sorted({r["step"] for r in self.accuracy})

    @property
    def classes(self) -> list[str]:
        return list(dict.fromkeys(r["class"] for r in self.accuracy))

    def _check_class(self, cls: str) -> None:
        if cls not in self.classes:
            raise KeyError(f"class {cls!r} was not measured; classes: {self.classes}")

    def point(self, step: int, cls: str) -> np.ndarray:
        """(n_concepts,) concept-space point of ``cls`` at ``step``."""
        self._check_class(cls)
        vals = {r["concept"]: r["value"] for r in self.points if r["step"] == step and r["class"] == cls}
        if not vals:
            raise KeyError(f"step {step} was not measured; steps: {self.steps}")
        return np.array([vals[c] for c in self.concepts])

    def trajectory(self, cls: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps (T,), points (T, n_concepts))`` of class ``cls`` over checkpoints."""
        self._check_class(cls)
        steps = np.array(self.steps)
        return steps, np.stack([self.point(int(s), cls) for s in steps])

    def accuracy_curve(self, cls: str, kind: str = "joint") -> tuple[np.ndarray, np.ndarray]:
        """``(steps (T,), accuracy (T,))`` of class ``cls``; ``kind`` is ``"joint"`` or ``"additive"``."""
        if kind not in ("joint", "additive"):
            raise ValueError(f"kind must be 'joint' or 'additive', got {kind!r}")
        self._check_class(cls)
        rows = sorted((r["step"], r[kind]) for r in self.accuracy if r["class"] == cls)
        return np.array([s for s, _ in rows]), np.array([v for _, v in rows], dtype=float)

    def to_csv(self, path: str | Path, table: str = "points") -> Path:
        """Write one table as CSV: ``"points"`` (step, class, concept, value), ``"accuracy"`` or
        ``"samples"`` (step, class, sample, one 0/1 column per concept, joint)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if table == "points":
            header, rows = ["step", "class", "concept", "value"], self.points
        elif table == "accuracy":
            header, rows = ["step", "class", "joint", "additive", "n_samples"], self.accuracy
        elif table == "samples":
            header = ["step", "class", "sample", *self.concepts, "joint"]
            rows = [
                {"step": s, "class": c, "sample": i, **dict(zip(self.concepts, map(int, row))), "joint": int(row.all())}
                for (s, c), arr in self.correct.items()
                for i, row in enumerate(arr)
            ]
        else:
            raise ValueError(f"table must be 'points', 'accuracy' or 'samples', got {table!r}")
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows(rows)
        return path

    def to_dict(self) -> dict[str, Any]:
        return {
            "concepts": list(self.concepts),
            "points": self.points,
            "accuracy": self.accuracy,
            "correct": [
                {"step": s, "class": c, "correct": arr.astype(int).tolist()} for (s, c), arr in self.correct.items()
            ],
        }

    def to_json(self, path: str | Path) -> Path:
        """Write every table (and per-sample correctness) as one JSON file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConceptSpace:
        """The table back from :meth:`to_dict` (``KeyError`` naming a missing field)."""
        missing = [k for k in ("concepts", "points", "accuracy", "correct") if k not in d]
        if missing:
            raise KeyError(f"a concept-space dict needs {missing}")
        correct = {(r["step"], r["class"]): np.array(r["correct"], dtype=bool).reshape(-1, len(d["concepts"]))
                   for r in d["correct"]}
        return cls(tuple(d["concepts"]), d["points"], d["accuracy"], correct)

    @classmethod
    def from_json(cls, path: str | Path) -> ConceptSpace:
        return cls.from_dict(json.loads(Path(path).read_text()))


def concept_space(
    series_or_models: Any,
    spec: Any,
    probe: ConceptProbe,
    classes: Iterable[str] | None = None,
    samples_per_class: int = 64,
    seed: int = 0,
    *,
    sampler: Any = None,
    checkpoints: Iterable[int] | None = None,
    max_batch: int = 1024,
    allow_inaccurate_probe: bool = False,
    min_probe_accuracy: float = MIN_PROBE_ACCURACY,
    progress: bool | None = None,
    **sampler_kwargs: Any,
) -> ConceptSpace:
    """Generate, probe and place every class in concept space at every checkpoint.

    series_or_models: see :func:`iter_checkpoints`. spec: the ConceptDataSpec (its ``prompts`` give the
    exact class-mean conditioning). classes: bit strings (default ``spec.all_classes``).
    sampler: see the module docstring (``None``: the series' own diffusion of each step, see
    :func:`sampler_for`); extra keyword arguments go to it (e.g. ``steps=50`` sampling steps).
    checkpoints: which checkpoint steps to measure (default all; ``steps=`` is the sampler's).
    Each checkpoint samples with a fresh generator seeded by ``seed`` (the same noise at every
    checkpoint, given ``max_batch``).
    The probe must predict every concept of the spec (``KeyError``) and have held-out accuracy
    >= ``min_probe_accuracy`` (``ValueError``) unless ``allow_inaccurate_probe``.
    """
    concepts = tuple(spec.concepts)
    classes, bits = class_targets(spec, spec.all_classes if classes is None else classes)
    if samples_per_class < 1:
        raise ValueError(f"samples_per_class must be >= 1, got {samples_per_class}")
    check_probe(probe, concepts, allow_inaccurate_probe, min_probe_accuracy)
    prompts = spec.prompts(classes)  # (K, D)
    cond = prompts.repeat_interleave(samples_per_class, dim=0)  # (K*k, D), class-major
    targets = bits.repeat_interleave(samples_per_class, dim=0)
    out = ConceptSpace(concepts)
    for step, model in progress_bar(iter_checkpoints(series_or_models, checkpoints), progress=progress, desc="concept space"):
        gen = torch_generator(seed, model_device(model))
        images = generate(model, sampler_for(sampler, series_or_models, step), cond, gen, max_batch=max_batch, **sampler_kwargs)
        probs, correct = score_samples(probe, images, concepts, targets)
        probs = probs.reshape(len(classes), samples_per_class, len(concepts))
        correct = correct.reshape(len(classes), samples_per_class, len(concepts))
        for i, c in enumerate(classes):
            for j, name in enumerate(concepts):
                out.points.append({"step": step, "class": c, "concept": name, "value": float(probs[i, :, j].mean())})
            out.accuracy.append(
                {
                    "step": step,
                    "class": c,
                    "joint": float(correct[i].all(dim=1).float().mean()),
                    "additive": float(correct[i].float().mean()),
                    "n_samples": samples_per_class,
                }
            )
            out.correct[(step, c)] = correct[i].numpy()
    return out
