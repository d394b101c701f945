"""Capability versus behaviour (Park et al. 2024, Sec. 4.4, Fig. 6): the driver.

*Behaviour* of a class is its joint accuracy under its own prompt (:class:`NaivePrompt`). *Capability*
is the best accuracy over a set of elicitation **protocols**; each protocol expands, for a class at a
checkpoint, into one or more :class:`Variant` s (a conditioning vector plus, optionally, edits of the
conditioning-MLP outputs for its rows, a context manager around the whole model, and sampler keyword
arguments). The naive prompt is always one of the protocols, so capability >= behaviour by construction.

The protocols live in :mod:`hidcap.evaluation.protocols` (re-exported here); embedding disentanglement in
:mod:`hidcap.evaluation.disentanglement`.

Batching: the variants of all classes and protocols of one checkpoint that share a context and sampler
arguments go through the sampler together (chunks of ``max_batch`` rows); row edits are applied to
each variant's own rows by one Tracer edit per conditioning site.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Hashable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.diffusion import model_device
from hidcap.evaluation.classifiers import MIN_PROBE_ACCURACY, ConceptProbe
from hidcap.evaluation.concept_space import (
    check_probe,
    class_targets,
    generate,
    iter_checkpoints,
    sampler_for,
    score_samples,
)
from hidcap.evaluation.protocols import (
    CONDITION_SITES,
    OVERPROMPT_COLORS,
    EmbeddingPatch,
    Guidance,
    LatentIntervention,
    NaivePrompt,
    Overprompt,
    ElicitationProtocol,
    ProtocolContext,
    Variant,
    default_protocols,
)
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.runs import is_series
from hidcap.tracing import Tracer

__all__ = [
    "CONDITION_SITES",
    "OVERPROMPT_COLORS",
    "CapabilityTable",
    "EmbeddingPatch",
    "Guidance",
    "LatentIntervention",
    "NaivePrompt",
    "Overprompt",
    "ProtocolContext",
    "Variant",
    "capability",
    "default_protocols",
]


def _row_edit_context(model: nn.Module, segments: list[tuple[int, int, dict]], start: int, stop: int) -> Any:
    """Context for rows start:stop: a Tracer whose per-site edit applies each variant's row edits to
    its rows (outputs with m·n rows, e.g. CFG's doubled batch, are treated as m stacked copies)."""
    local = [(max(a, start) - start, min(b, stop) - start, e) for a, b, e in segments if a < stop and b > start]
    sites = sorted({s for _, _, e in local for s in e})
    if not sites:
        return nullcontext()
    n = stop - start

    def make(site: str) -> Callable[[Tensor, int], Tensor]:
        def edit(out: Tensor, _call: int) -> Tensor:
            if out.shape[0] % n:
                raise ValueError(f"output of {site!r} has {out.shape[0]} rows, not a multiple of the batch {n}")
            rest = out.shape[1:]
            parts = out.reshape(out.shape[0] // n, n, *rest)
            pieces = []
            for a, b, e in local:
                seg = parts[:, a:b]
                fn = e.get(site)
                pieces.append(seg if fn is None else fn(seg.reshape(-1, *rest)).reshape(seg.shape))
            return torch.cat(pieces, dim=1).reshape(out.shape)

        return edit

    return Tracer(model, (), edits={s: make(s) for s in sites})


@dataclass
class CapabilityTable:
    """Results of :func:`capability`.

    variants: rows ``{step, class, protocol, variant, joint, additive}``, one per variant.
    summary: rows ``{step, class, behaviour, capability, best_protocol, best_variant}`` (``metric``
    accuracy; behaviour = the naive prompt's, capability = the best variant's).
    """

    metric: str
    variants: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)

    def curve(self, cls: str, what: str = "capability") -> tuple[np.ndarray, np.ndarray]:
        """``(steps (T,), values (T,))`` of ``"capability"`` or ``"behaviour"`` for class ``cls``."""
        if what not in ("capability", "behaviour"):
            raise ValueError(f"what must be 'capability' or 'behaviour', got {what!r}")
        rows = sorted((r["step"], r[what]) for r in self.summary if r["class"] == cls)
        if not rows:
            raise KeyError(f"class {cls!r} was not measured; classes: {sorted({r['class'] for r in self.summary})}")
        return np.array([s for s, _ in rows]), np.array([v for _, v in rows], dtype=float)

    def to_csv(self, path: str | Path, table: str = "summary") -> Path:
        """Write ``"summary"`` or ``"variants"`` as CSV."""
        if table not in ("summary", "variants"):
            raise ValueError(f"table must be 'summary' or 'variants', got {table!r}")
        rows = getattr(self, table)
        header = (
            ["step", "class", "behaviour", "capability", "best_protocol", "best_variant"]
            if table == "summary"
            else ["step", "class", "protocol", "variant", "joint", "additive"]
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows(rows)
        return path

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"metric": self.metric, "summary": self.summary, "variants": self.variants}, indent=1) + "\n")
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> CapabilityTable:
        d = json.loads(Path(path).read_text())
        return cls(d["metric"], d["variants"], d["summary"])


def capability(
    series_or_models: Any,
    spec: Any,
    probe: ConceptProbe,
    classes: Iterable[str] | None = None,
    samples_per_class: int = 32,
    seed: int = 0,
    *,
    sampler: Any = None,
    protocols: Iterable[Any] | None = None,
    checkpoints: Iterable[int] | None = None,
    metric: str = "joint",
    max_batch: int = 1024,
    allow_inaccurate_probe: bool = False,
    min_probe_accuracy: float = MIN_PROBE_ACCURACY,
    progress: bool | None = None,
    **sampler_kwargs: Any,
) -> CapabilityTable:
    """Behaviour and capability of each class at each checkpoint.

    checkpoints: which checkpoint steps to measure (default all; ``steps=`` is the sampler's).
    protocols: default :func:`default_protocols` (patching only when ``series_or_models`` is a series);
    a :class:`NaivePrompt` is prepended when absent. Each variant draws ``samples_per_class`` samples of
    the class; ``metric`` (``"joint"`` or ``"additive"``) ranks them. Sampler and probe conventions as in
    :func:`~hidcap.evaluation.concept_space.concept_space`; a fresh generator seeded by ``seed`` per
    checkpoint; extra keyword arguments go to the sampler (a variant's own ``sampler_kwargs`` win).
    Unknown class -> ``ValueError``; probe lacking a concept -> ``KeyError``.
    """
    if metric not in ("joint", "additive"):
        raise ValueError(f"metric must be 'joint' or 'additive', got {metric!r}")
    if samples_per_class < 1:
        raise ValueError(f"samples_per_class must be >= 1, got {samples_per_class}")
    concepts = tuple(spec.concepts)
    classes, bits = class_targets(spec, spec.all_classes if classes is None else classes)
    check_probe(probe, concepts, allow_inaccurate_probe, min_probe_accuracy)
    series = is_series(series_or_models)
    protocols = list(default_protocols(patching=series) if protocols is None else protocols)
    for p in protocols:
        if not isinstance(p, ElicitationProtocol):
            raise ValueError(f"protocol {p!r} needs a name and a variants(ctx, class_bits) method")
    if not any(isinstance(p, NaivePrompt) for p in protocols):
        protocols.insert(0, NaivePrompt())
    naive = next(p for p in protocols if isinstance(p, NaivePrompt)).name
    out = CapabilityTable(metric)
    k = samples_per_class
    for step, model in progress_bar(iter_checkpoints(series_or_models, checkpoints), progress=progress, desc="capability"):
        ctx = ProtocolContext(model, spec, step, series_or_models if series else None)
        # (class index, protocol name, variant), grouped by what must be shared in one sampler call
        groups: dict[Hashable, list[tuple[int, str, Variant]]] = {}
        for i, c in enumerate(classes):
            for p in protocols:
                for v in p.variants(ctx, c):
                    groups.setdefault(v.group_key(), []).append((i, p.name, v))
        gen = torch_generator(seed, model_device(model))
        step_sampler = sampler_for(sampler, series_or_models, step)
        results: dict[tuple[int, str, str], tuple[float, float]] = {}
        for members in groups.values():
            first = members[0][2]
            cond = torch.stack([v.cond.float().cpu() for _, _, v in members]).repeat_interleave(k, dim=0)
            targets = bits[[i for i, _, _ in members]].repeat_interleave(k, dim=0)
            segments = [(j * k, (j + 1) * k, v.row_edits) for j, (_, _, v) in enumerate(members)]
            with first.context() if first.context is not None else nullcontext():
                images = generate(
                    model, step_sampler, cond, gen, max_batch=max_batch,
                    context=lambda a, b: _row_edit_context(model, segments, a, b),
                    **{**sampler_kwargs, **dict(first.sampler_kwargs)},
                )
            _, correct = score_samples(probe, images, concepts, targets)
            correct = correct.reshape(len(members), k, len(concepts))
            for j, (i, pname, v) in enumerate(members):
                results[(i, pname, v.name)] = (
                    float(correct[j].all(dim=1).float().mean()),
                    float(correct[j].float().mean()),
                )
        for i, c in enumerate(classes):
            rows = [
                {"step": step, "class": c, "protocol": pname, "variant": vname, "joint": j, "additive": a}
                for (ci, pname, vname), (j, a) in results.items()
                if ci == i
            ]
            out.variants.extend(rows)
            best = max(rows, key=lambda r: r[metric])  # first maximum wins: the naive prompt on ties
            behaviour = next(r[metric] for r in rows if r["protocol"] == naive)
            out.summary.append(
                {
                    "step": step,
                    "class": c,
                    "behaviour": behaviour,
                    "capability": best[metric],
                    "best_protocol": best["protocol"],
                    "best_variant": best["variant"],
                }
            )
    return out
