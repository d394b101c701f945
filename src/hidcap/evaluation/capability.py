"""Capability versus behaviour, and embedding disentanglement (Park et al. 2024).

*Behaviour* of a class is its joint accuracy under its own prompt (:class:`NaivePrompt`). *Capability*
is the best accuracy over a set of elicitation **protocols**; each protocol expands, for a class at a
checkpoint, into one or more :class:`Variant` s (a conditioning vector plus, optionally, edits of the
conditioning-MLP outputs for its rows, a context manager around the whole model, and sampler keyword
arguments). The naive prompt is always one of the protocols, so capability >= behaviour by construction.

A protocol is any object with a ``name`` and ``variants(ctx, class_bits) -> list[Variant]``; the
built-ins are frozen dataclasses: :class:`NaivePrompt`, :class:`Overprompt`, :class:`LatentIntervention`,
:class:`EmbeddingPatch`, :class:`Guidance`.

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

from hidcap.data.concepts import COND_DIM, COND_LAYOUT
from hidcap.evaluation.classifiers import MIN_PROBE_ACCURACY, ConceptProbe
from hidcap.evaluation.concept_space import (
    _check_probe,
    _device_of,
    class_targets,
    generate,
    iter_checkpoints,
    sampler_for,
    score_samples,
)
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.tracing import Tracer, resolve_modules

__all__ = [
    "CONDITION_SITES",
    "OVERPROMPT_COLORS",
    "CapabilityTable",
    "EmbeddingDisentanglement",
    "EmbeddingPatch",
    "Guidance",
    "LatentIntervention",
    "NaivePrompt",
    "Overprompt",
    "ProtocolContext",
    "Variant",
    "capability",
    "default_protocols",
    "disentanglement",
    "embedding_disentanglement",
]

#: Every per-block conditioning MLP of a hidcap U-Net.
CONDITION_SITES = "*.cond_embed"
#: The paper's overprompting colours for "blue" (Park et al. 2024), weakest first.
OVERPROMPT_COLORS: tuple[tuple[float, float, float], ...] = (
    (0.4, 0.4, 0.6),
    (0.35, 0.35, 0.65),
    (0.25, 0.25, 0.75),
    (0.15, 0.15, 0.85),
    (0.05, 0.05, 0.95),
)


def _cond_vector(**slots: Any) -> tuple[float, ...]:
    v = torch.zeros(COND_DIM)
    for name, value in slots.items():
        v[COND_LAYOUT[name]] = torch.as_tensor(value, dtype=torch.float32)
    return tuple(float(x) for x in v)


#: The paper's intervention inputs: the "blue" colour [.05,.05,.95] and the "large" size 0.6, alone.
BLUE_INPUT = _cond_vector(color=(0.05, 0.05, 0.95))
LARGE_INPUT = _cond_vector(size=0.6)


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProtocolContext:
    """What a protocol may look at: the model of checkpoint ``step``, the data spec and (if given) the
    checkpoint ``series`` it came from."""

    model: nn.Module
    spec: Any
    step: int
    series: Any = None


@dataclass(eq=False)
class Variant:
    """One way to prompt one class: ``cond`` (D,), optional per-site ``row_edits`` (site name -> function
    mapping this variant's rows of the site output (n, C) to new rows), an optional ``context()``
    factory returning a context manager around sampling (``context_key`` groups variants that may share
    it), and ``sampler_kwargs`` (a tuple of (key, value) pairs)."""

    name: str
    cond: Tensor
    row_edits: dict[str, Callable[[Tensor], Tensor]] = field(default_factory=dict)
    context: Callable[[], Any] | None = None
    context_key: Hashable = None
    sampler_kwargs: tuple[tuple[str, Any], ...] = ()

    def group_key(self) -> Hashable:
        return (self.context_key, self.sampler_kwargs)


@dataclass(frozen=True)
class NaivePrompt:
    """The class's own prompt (``spec.prompt``): its accuracy is the behaviour."""

    name: str = "naive"

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        return [Variant(self.name, ctx.spec.prompt(class_bits))]


@dataclass(frozen=True)
class Overprompt:
    """Replace the colour slots of the class prompt by each of ``colors`` (RGB). The colours are for a
    class with colour bit 1 (blue); for colour bit 0 (red) the R and B channels are swapped. Specs
    without the ``color`` concept get no variants."""

    colors: tuple[tuple[float, float, float], ...] = OVERPROMPT_COLORS
    name: str = "overprompt"

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        if "color" not in ctx.spec.concepts:
            return []
        bit = class_bits[ctx.spec.concepts.index("color")]
        out = []
        for rgb in self.colors:
            if len(rgb) != 3:
                raise ValueError(f"Overprompt.colors must hold RGB triples, got {rgb!r}")
            color = tuple(rgb) if bit == "1" else (rgb[2], rgb[1], rgb[0])
            cond = ctx.spec.prompt(class_bits).clone()
            cond[COND_LAYOUT["color"]] = torch.tensor(color, dtype=cond.dtype)
            out.append(Variant(f"{self.name}[{','.join(f'{x:g}' for x in color)}]", cond))
        return out


@dataclass(frozen=True)
class LatentIntervention:
    """Linear intervention in every conditioning-MLP output ``e`` (sites ``sites``):
    ``e' = e + α(e·b̂)b̂``, ``e'' = e' − β(e'·l̂)l̂``, with ``b̂``/``l̂`` the normalised outputs of that site
    for the ``amplify``/``suppress`` conditioning vectors (default: the paper's blue and large inputs).
    One variant per (α, β); the prompt is the class's own."""

    alphas: tuple[float, ...] = (0.1, 1.0, 2.0, 4.0)
    betas: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    sites: str = CONDITION_SITES
    amplify: tuple[float, ...] = BLUE_INPUT
    suppress: tuple[float, ...] = LARGE_INPUT
    name: str = "intervention"

    def directions(self, model: nn.Module) -> dict[str, tuple[Tensor, Tensor]]:
        """site -> (b̂ (C,), l̂ (C,)) unit vectors."""
        from hidcap.interventions import concept_direction

        dev = _device_of(model)
        b = torch.tensor(self.amplify, device=dev)
        l_in = torch.tensor(self.suppress, device=dev)
        return {
            s: (concept_direction(model, s, b), concept_direction(model, s, l_in))
            for s in resolve_modules(model, self.sites)
        }

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        from hidcap.interventions import LinearIntervention

        if not self.alphas or not self.betas:
            raise ValueError("LatentIntervention needs at least one alpha and one beta")
        dirs = self.directions(ctx.model)
        cond = ctx.spec.prompt(class_bits)
        return [
            Variant(
                f"{self.name}[a={a:g},b={b:g}]",
                cond,
                row_edits={s: LinearIntervention.amplify_suppress(bh, a, lh, b) for s, (bh, lh) in dirs.items()},
            )
            for a in self.alphas
            for b in self.betas
        ]


@dataclass(frozen=True)
class EmbeddingPatch:
    """Sample with the conditioning-MLP weights (``sites``) of checkpoint ``source`` (a step of the
    series; negative counts from the end, default −1 = the last) patched into the model."""

    source: int = -1
    sites: str = CONDITION_SITES
    name: str = "patch"

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        from hidcap.patching import patch

        if ctx.series is None or not hasattr(ctx.series, "steps"):
            raise ValueError("EmbeddingPatch needs a checkpoint series (pass a CheckpointSeries to capability)")
        steps = list(ctx.series.steps)
        try:
            source = steps[self.source] if self.source < 0 else self.source
        except IndexError:
            raise ValueError(f"EmbeddingPatch.source={self.source}: the series has {len(steps)} steps") from None
        if source not in steps:
            raise ValueError(f"EmbeddingPatch.source={source} is not a step of the series: {steps}")
        model, series, sites = ctx.model, ctx.series, self.sites
        return [
            Variant(
                f"{self.name}[{source}]",
                ctx.spec.prompt(class_bits),
                context=lambda: patch(model, sites, source, series=series),
                context_key=(self.name, source, sites),
            )
        ]


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance at each of ``scales``, passed to the sampler as ``keyword=scale`` (the
    hidcap diffusion samplers' ``guidance``; 1 is plain conditional sampling)."""

    scales: tuple[float, ...] = (1.5, 3.0)
    keyword: str = "guidance"
    name: str = "guidance"

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        cond = ctx.spec.prompt(class_bits)
        return [Variant(f"{self.name}[{w:g}]", cond, sampler_kwargs=((self.keyword, w),)) for w in self.scales]


def default_protocols(*, guidance: bool = False, patching: bool = True) -> tuple[Any, ...]:
    """Naive prompt, overprompting, latent intervention, embedding patching (``patching``; needs a series)
    and guidance (``guidance``; only for models trained with condition dropout)."""
    out: list[Any] = [NaivePrompt(), Overprompt(), LatentIntervention()]
    if patching:
        out.append(EmbeddingPatch())
    if guidance:
        out.append(Guidance())
    return tuple(out)


# ---------------------------------------------------------------------------------------------
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
    _check_probe(probe, concepts, allow_inaccurate_probe, min_probe_accuracy)
    is_series = hasattr(series_or_models, "steps") and hasattr(series_or_models, "load")
    protocols = list(default_protocols(patching=is_series) if protocols is None else protocols)
    for p in protocols:
        if not hasattr(p, "variants") or not hasattr(p, "name"):
            raise ValueError(f"protocol {p!r} needs a name and a variants(ctx, class_bits) method")
    if not any(isinstance(p, NaivePrompt) for p in protocols):
        protocols.insert(0, NaivePrompt())
    naive = next(p for p in protocols if isinstance(p, NaivePrompt)).name
    out = CapabilityTable(metric)
    k = samples_per_class
    for step, model in progress_bar(iter_checkpoints(series_or_models, checkpoints), progress=progress, desc="capability"):
        ctx = ProtocolContext(model, spec, step, series_or_models if is_series else None)
        # (class index, protocol name, variant), grouped by what must be shared in one sampler call
        groups: dict[Hashable, list[tuple[int, str, Variant]]] = {}
        for i, c in enumerate(classes):
            for p in protocols:
                for v in p.variants(ctx, c):
                    groups.setdefault(v.group_key(), []).append((i, p.name, v))
        gen = torch_generator(seed, _device_of(model))
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


# ---------------------------------------------------------------------------------------------
def disentanglement(e00: Tensor, e01: Tensor, e10: Tensor) -> Tensor:
    """``1 − |cos(e01 − e00, e10 − e00)|`` along the last axis: 1 when the two concept steps are
    orthogonal, 0 when parallel. Inputs (..., C); returns (...). A zero step -> ``ValueError``."""
    e00, e01, e10 = (torch.as_tensor(e).float() for e in (e00, e01, e10))
    if not (e00.shape == e01.shape == e10.shape) or e00.ndim == 0:
        raise ValueError(f"embeddings must share one shape (..., C), got {e00.shape}, {e01.shape}, {e10.shape}")
    a, b = e01 - e00, e10 - e00
    na, nb = torch.linalg.vector_norm(a, dim=-1), torch.linalg.vector_norm(b, dim=-1)
    if bool((na == 0).any() or (nb == 0).any()):
        raise ValueError("an embedding difference is zero: the two classes embed identically")
    return 1 - ((a * b).sum(-1) / (na * nb)).abs()


@dataclass(frozen=True)
class EmbeddingDisentanglement:
    """Per-site disentanglement (site -> value) and the mean over sites."""

    per_site: dict[str, float]
    mean: float


@torch.no_grad()
def embedding_disentanglement(
    model: nn.Module,
    spec: Any,
    classes: tuple[str, str, str] | None = None,
    sites: str | Iterable[str] = CONDITION_SITES,
) -> EmbeddingDisentanglement:
    """Disentanglement of the conditioning embeddings, from the embeddings alone (no generation).

    Each site's module (e.g. every ``cond_embed`` MLP) is called on the prompts of ``classes`` =
    ``(c00, c01, c10)``: the base class and the classes flipping one concept each (default: all-zero
    base, flipping the first and the second concept; needs >= 2 concepts).
    """
    n = len(spec.concepts)
    if classes is None:
        if n < 2:
            raise ValueError("embedding_disentanglement needs a spec with at least two concepts")
        base = "0" * n
        classes = (base, "01" + base[2:], "10" + base[2:])
    if len(classes) != 3:
        raise ValueError(f"classes must be (c00, c01, c10), got {classes!r}")
    classes, _ = class_targets(spec, classes)
    prompts = spec.prompts(classes).to(_device_of(model))
    per_site = {}
    for s in resolve_modules(model, sites):
        e = model.get_submodule(s)(prompts)
        if not isinstance(e, Tensor) or e.shape[0] != 3:
            raise ValueError(f"module {s!r} must map (3, D) prompts to a (3, C) tensor, got {type(e).__name__}")
        e = e.reshape(3, -1)
        per_site[s] = float(disentanglement(e[0], e[1], e[2]))
    return EmbeddingDisentanglement(per_site, float(np.mean(list(per_site.values()))))
