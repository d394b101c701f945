"""Capability versus behaviour (Park et al. 2024, Sec. 4.4, Fig. 6): the driver.

*Behaviour* of a class is its joint accuracy under its own prompt (:class:`NaivePrompt`). *Capability*
is the best accuracy over a set of elicitation **protocols**; each protocol expands, for a class at a
checkpoint, into one or more :class:`Variant` s (a conditioning vector plus, optionally, edits of the
conditioning-MLP outputs for its rows, a context manager around the whole model, and sampler keyword
arguments). The naive prompt is always one of the protocols, so capability >= behaviour by construction on the
samples that chose the best variant.

**Selection control** (``fresh_seed``): the best of many noisy accuracies is biased upwards, so the best
variant of each protocol (and of all protocols together) is chosen on the *selection* samples (generator seed
``seed``) and then scored on as many *fresh* samples (generator seed ``fresh_seed``), which the choice never saw;
``capability_fresh`` and ``behaviour_fresh`` (the naive prompt on the same fresh budget) are the scores a
verdict should use. **Negative controls** (``controls``, e.g.
:func:`~hidcap.evaluation.protocols.control_protocols`) are measured the same way but never enter the best;
each names the protocol it controls (``control_of``) and states what it matches (``matches``). Every row
records **how far its variant moves the conditioning embeddings** from the naive prompt's (``delta_e`` = ‖Δe‖
over all conditioning sites, ``e_norm`` = ‖e‖; :func:`~hidcap.evaluation.protocols.embedding_shift`), so a
control's push can be compared with its real protocol's (:meth:`CapabilityTable.shift`).

The protocols live in :mod:`hidcap.evaluation.protocols` (re-exported here); embedding disentanglement in
:mod:`hidcap.evaluation.embedding_factors`.

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
from hidcap.evaluation.concept_scores import (
    check_probe,
    class_targets,
    generate,
    iter_checkpoints,
    sampler_for,
    score_samples,
)
from hidcap.evaluation.protocols import (
    CONDITION_SITES,
    NaivePrompt,
    ElicitationProtocol,
    ProtocolContext,
    Variant,
    default_protocols,
    embedding_shift,
)
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.runs import is_series
from hidcap.tracing import Tracer

__all__ = ["CapabilityTable", "capability"]

SUMMARY_FIELDS = ["step", "class", "behaviour", "capability", "best_protocol", "best_variant"]
FRESH_FIELDS = ["behaviour_fresh", "capability_fresh"]
VARIANT_FIELDS = ["step", "class", "protocol", "variant", "joint", "additive", "delta_e", "e_norm"]


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

    variants: rows ``{step, class, protocol, variant, joint, additive, delta_e, e_norm, correct}``, one per
    variant, on the selection samples; ``correct`` is the per-sample joint correctness (list of 0/1, length k);
    ``delta_e``, ``e_norm``: ‖Δe‖ of the variant's conditioning embeddings from the naive prompt's and ‖e‖ of
    the naive prompt's, over all conditioning sites (:func:`~hidcap.evaluation.protocols.embedding_shift`;
    None for a model without conditioning sites).
    fresh: the same rows for the variant of each protocol chosen on the selection samples, scored on fresh
    samples (empty without ``fresh_seed``).
    summary: rows ``{step, class, behaviour, capability, best_protocol, best_variant}`` (``metric``
    accuracy on the selection samples; behaviour = the naive prompt's, capability = the best variant's over
    the non-control protocols), plus ``behaviour_fresh``, ``capability_fresh`` with fresh samples.
    controls: names of the negative-control protocols (measured, never the best); naive: the naive prompt's name;
    control_of: ``{control name: the real protocol it controls}``; matches: ``{control name: what it matches}``.
    """

    metric: str
    variants: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    fresh: list[dict[str, Any]] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    naive: str = "naive"
    control_of: dict[str, str] = field(default_factory=dict)
    matches: dict[str, str] = field(default_factory=dict)

    def curve(self, cls: str, what: str = "capability") -> tuple[np.ndarray, np.ndarray]:
        """``(steps (T,), values (T,))`` of ``"capability"``, ``"behaviour"`` (selection samples) or
        ``"capability_fresh"``, ``"behaviour_fresh"`` (fresh samples) for class ``cls``."""
        if what not in ("capability", "behaviour", *FRESH_FIELDS):
            raise ValueError(f"what must be 'capability', 'behaviour' or one of {FRESH_FIELDS}, got {what!r}")
        rows = sorted((r["step"], r.get(what)) for r in self.summary if r["class"] == cls)
        if not rows:
            raise KeyError(f"class {cls!r} was not measured; classes: {sorted({r['class'] for r in self.summary})}")
        if any(v is None for _, v in rows):
            raise KeyError(f"{what!r} was not measured (capability(..., fresh_seed=...) measures fresh scores)")
        return np.array([s for s, _ in rows]), np.array([v for _, v in rows], dtype=float)

    def _chosen(self, cls: str, protocol: str | None, fresh: bool) -> tuple[list[int], dict[int, dict[str, Any]]]:
        """Sorted steps and, per step, the row of the variant of ``protocol`` chosen there (see :meth:`correct`)."""
        best = {r["step"]: r for r in self.summary if r["class"] == cls}
        if not best:
            raise KeyError(f"class {cls!r} was not measured")
        rows = self.fresh if fresh else self.variants
        if fresh and not rows:
            raise KeyError("no fresh samples were measured (capability(..., fresh_seed=...))")
        chosen: dict[int, dict[str, Any]] = {}
        for r in rows:
            if r["class"] != cls:
                continue
            if protocol is None:
                if r["protocol"] == best[r["step"]]["best_protocol"] and (fresh or r["variant"] == best[r["step"]]["best_variant"]):
                    chosen[r["step"]] = r
            elif r["protocol"] == protocol:
                if fresh or r["step"] not in chosen or r[self.metric] > chosen[r["step"]][self.metric]:
                    chosen[r["step"]] = r
        steps = sorted(best)
        missing = [s for s in steps if s not in chosen]
        if missing:
            raise KeyError(f"protocol {protocol!r} has no rows for class {cls!r} at steps {missing}")
        return steps, chosen

    def correct(self, cls: str, protocol: str | None = None, fresh: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(steps (T,), correct (T, k))``: per-sample joint correctness of class ``cls`` for the variant of
        ``protocol`` chosen at each checkpoint on the selection samples (``protocol=None``: the variant chosen
        over all non-control protocols, i.e. capability), on the fresh samples (``fresh``) or the selection
        samples."""
        steps, chosen = self._chosen(cls, protocol, fresh)
        return np.array(steps), np.array([chosen[s]["correct"] for s in steps], dtype=int)

    def shift(self, cls: str, protocol: str | None = None, fresh: bool = True) -> dict[str, list]:
        """``{"steps", "variant", "delta_e", "e_norm"}`` (lists of length T): ‖Δe‖ of the conditioning embeddings
        (from the naive prompt's) and ‖e‖ for the variant of ``protocol`` chosen at each checkpoint, as in
        :meth:`correct` (``protocol=None``: capability's). Plain lists, ready for a verdict file; None entries
        where the model has no conditioning sites; ``KeyError`` for a table written before ‖Δe‖ was recorded."""
        steps, chosen = self._chosen(cls, protocol, fresh)
        rows = [chosen[s] for s in steps]
        if any("delta_e" not in r for r in rows):
            raise KeyError("this table has no delta_e (measured before embedding shifts were recorded)")
        return {"steps": [int(s) for s in steps], "variant": [r["variant"] for r in rows],
                "delta_e": [r["delta_e"] for r in rows], "e_norm": [r["e_norm"] for r in rows]}

    def to_csv(self, path: str | Path, table: str = "summary") -> Path:
        """Write ``"summary"``, ``"variants"`` or ``"fresh"`` as CSV (per-sample correctness left out)."""
        if table not in ("summary", "variants", "fresh"):
            raise ValueError(f"table must be 'summary', 'variants' or 'fresh', got {table!r}")
        rows = getattr(self, table)
        header = VARIANT_FIELDS if table != "summary" else (
            SUMMARY_FIELDS + FRESH_FIELDS if self.fresh else SUMMARY_FIELDS)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        return path

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        d = {"metric": self.metric, "naive": self.naive, "controls": self.controls, "control_of": self.control_of,
             "matches": self.matches, "summary": self.summary, "variants": self.variants, "fresh": self.fresh}
        path.write_text(json.dumps(d, indent=1) + "\n")
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> CapabilityTable:
        d = json.loads(Path(path).read_text())
        return cls(d["metric"], d["variants"], d["summary"], d.get("fresh", []), d.get("controls", []),
                   d.get("naive", "naive"), d.get("control_of", {}), d.get("matches", {}))


def _score(model: nn.Module, step_sampler: Any, members: list[tuple[int, str, Variant]], gen: torch.Generator,
           k: int, bits: Tensor, probe: ConceptProbe, concepts: tuple[str, ...], max_batch: int,
           sampler_kwargs: dict[str, Any]) -> dict[tuple[int, str, str], Tensor]:
    """Sample ``k`` images of each member (class index, protocol name, variant) of one group (one context
    and sampler arguments) in one sampler call; ``{(i, protocol, variant): correct (k, n_concepts) bool}``."""
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
    return {(i, pname, v.name): correct[j] for j, (i, pname, v) in enumerate(members)}


def _row(step: int, cls: str, key: tuple[int, str, str], correct: Tensor,
         shift: dict[str, float] | None) -> dict[str, Any]:
    joint = correct.all(dim=1)
    return {"step": step, "class": cls, "protocol": key[1], "variant": key[2], "joint": float(joint.float().mean()),
            "additive": float(correct.float().mean()), "delta_e": None if shift is None else shift["delta_e"],
            "e_norm": None if shift is None else shift["e_norm"], "correct": [int(x) for x in joint.tolist()]}


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
    controls: Iterable[Any] = (),
    fresh_seed: int | None = None,
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
    :func:`~hidcap.evaluation.concept_scores.concept_space`; a fresh generator seeded by ``seed`` per
    checkpoint; extra keyword arguments go to the sampler (a variant's own ``sampler_kwargs`` win).
    controls: negative-control protocols (:class:`~hidcap.evaluation.protocols.NegativeControl`: each names the
    protocol it controls, ``control_of``, one of ``protocols``, and states what it ``matches``), measured like the
    others but never the best (their names must differ from the protocols'). fresh_seed: when given (it must differ from ``seed``), the variant of each
    protocol chosen on the selection samples (first maximum of ``metric``; the naive prompt wins ties) is
    scored again on ``samples_per_class`` fresh samples from a generator seeded by ``fresh_seed`` at each
    checkpoint (``table.fresh``, ``capability_fresh``, ``behaviour_fresh``): the selection control.
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
    controls = list(controls)
    for p in controls:
        if not isinstance(p, ElicitationProtocol):
            raise ValueError(f"control {p!r} needs a name and a variants(ctx, class_bits) method")
    names = [p.name for p in protocols + controls]
    if len(set(names)) != len(names):
        raise ValueError(f"protocol and control names must be unique, got {names}")
    real_names = {p.name for p in protocols}
    for p in controls:
        matches, of = getattr(p, "matches", None), getattr(p, "control_of", None)
        if not isinstance(matches, str) or not matches.strip():
            raise ValueError(f"control {p.name!r} must state what it matches (a non-empty str `matches`), got {matches!r}")
        if of not in real_names:
            raise ValueError(f"control {p.name!r} controls {of!r} (`control_of`), which is not one of the protocols "
                             f"measured: {sorted(real_names)}")
    if fresh_seed is not None and fresh_seed == seed:
        raise ValueError(f"fresh_seed must differ from seed ({seed}): fresh samples need different generator seeds")
    control_names = {p.name for p in controls}
    out = CapabilityTable(metric, controls=sorted(control_names), naive=naive,
                          control_of={p.name: p.control_of for p in controls},
                          matches={p.name: p.matches for p in controls})
    k = samples_per_class
    for step, model in progress_bar(iter_checkpoints(series_or_models, checkpoints), progress=progress, desc="capability"):
        ctx = ProtocolContext(model, spec, step, series_or_models if series else None)
        # (class index, protocol name, variant), grouped by what must be shared in one sampler call
        groups: dict[Hashable, list[tuple[int, str, Variant]]] = {}
        variant_of: dict[tuple[int, str, str], Variant] = {}  # in class, protocol, variant order
        shift_of: dict[tuple[int, str, str], dict[str, float] | None] = {}  # ‖Δe‖ from the naive prompt's
        for i, c in enumerate(classes):
            for p in protocols + controls:
                for v in p.variants(ctx, c):
                    groups.setdefault(v.group_key(), []).append((i, p.name, v))
                    variant_of[(i, p.name, v.name)] = v
                    shift_of[(i, p.name, v.name)] = embedding_shift(model, v, spec.prompt(c))
        step_sampler = sampler_for(sampler, series_or_models, step)
        score_args = (k, bits, probe, concepts, max_batch, sampler_kwargs)
        # ---- selection samples: every variant
        gen = torch_generator(seed, model_device(model))
        results: dict[tuple[int, str, str], Tensor] = {}
        for members in groups.values():
            results.update(_score(model, step_sampler, members, gen, *score_args))
        rows = {key: _row(step, classes[key[0]], key, results[key], shift_of[key]) for key in variant_of}
        # ---- choose each protocol's best variant (first maximum: its first variant on ties)
        chosen_by: dict[tuple[int, str], Variant] = {}
        for (i, pname, vname), r in rows.items():
            best = chosen_by.get((i, pname))
            if best is None or r[metric] > rows[(i, pname, best.name)][metric]:
                chosen_by[(i, pname)] = variant_of[(i, pname, vname)]
        # ---- fresh samples: the chosen variant of each protocol, scored on samples the choice never saw
        fresh_rows: dict[tuple[int, str, str], dict[str, Any]] = {}
        if fresh_seed is not None:
            fresh_groups: dict[Hashable, list[tuple[int, str, Variant]]] = {}
            for (i, pname), v in chosen_by.items():
                fresh_groups.setdefault(v.group_key(), []).append((i, pname, v))
            gen = torch_generator(fresh_seed, model_device(model))
            for members in fresh_groups.values():
                for key, corr in _score(model, step_sampler, members, gen, *score_args).items():
                    fresh_rows[key] = _row(step, classes[key[0]], key, corr, shift_of[key])
        for i, c in enumerate(classes):
            mine = [r for key, r in rows.items() if key[0] == i]
            out.variants.extend(mine)
            out.fresh.extend(r for key, r in fresh_rows.items() if key[0] == i)
            real = [r for r in mine if r["protocol"] not in control_names]
            best = max(real, key=lambda r: r[metric])  # first maximum wins: the naive prompt on ties
            behaviour = next(r[metric] for r in real if r["protocol"] == naive)
            row = {"step": step, "class": c, "behaviour": behaviour, "capability": best[metric],
                   "best_protocol": best["protocol"], "best_variant": best["variant"]}
            if fresh_seed is not None:
                row["behaviour_fresh"] = fresh_rows[(i, naive, chosen_by[(i, naive)].name)][metric]
                row["capability_fresh"] = fresh_rows[(i, best["protocol"], best["variant"])][metric]
            out.summary.append(row)
    return out
