"""Elicitation protocols of capability (Park et al. 2024, Sec. 4.4): ways to prompt a class at a checkpoint.

A protocol is any object with a ``name`` (str) and ``variants(ctx, class_bits) -> list[Variant]`` (see
:class:`ElicitationProtocol`); each :class:`Variant` is a conditioning vector plus, optionally, edits of the
conditioning-MLP outputs for its rows, a context manager around the whole model, and sampler keyword arguments.
Built-ins (frozen dataclasses): :class:`NaivePrompt`, :class:`Overprompt`, :class:`LatentIntervention`,
:class:`EmbeddingPatch`, :class:`Guidance`, and one negative control per elicitation protocol (a protocol that
should *not* elicit the class, with the same number of variants and a push of the same size):
:class:`OffConceptOverprompt`, :class:`RandomDirectionIntervention`, :class:`SelfPatch`
(:func:`control_protocols`). :func:`check_protocol` is the one conformance check every protocol
must pass (the test suite runs it on each built-in, as scikit-learn's ``check_estimator`` does).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from hidcap.data.concepts import COND_DIM, COND_LAYOUT
from hidcap.diffusion import model_device
from hidcap.runs import is_series
from hidcap.tracing import resolve_modules

__all__ = [
    "BLUE_INPUT",
    "CONDITION_SITES",
    "LARGE_INPUT",
    "OVERPROMPT_COLORS",
    "EmbeddingPatch",
    "Guidance",
    "LatentIntervention",
    "NaivePrompt",
    "Overprompt",
    "ElicitationProtocol",
    "OffConceptOverprompt",
    "ProtocolContext",
    "RandomDirectionIntervention",
    "SelfPatch",
    "Variant",
    "check_protocol",
    "control_protocols",
    "default_protocols",
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

        dev = model_device(model)
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

        if ctx.series is None or not is_series(ctx.series):
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
class OffConceptOverprompt:
    """Negative control of :class:`Overprompt`: push a colour channel that does not define the colour concept.

    For each colour of ``colors`` (oriented as in :class:`Overprompt`), the push ``‖colour − prompt colour‖`` is
    applied to channel ``channel`` alone (default 1, green: red and blue prompts share it, ``0.5 − s/2``), in
    direction ``sign``, and the other channels keep the class prompt's values; the result is clamped to [0, 1]
    (the variant name gives the colour used and the real colour it stands for). Same number of variants and, unclamped, the same distance from the
    prompt as the real overprompting."""

    colors: tuple[tuple[float, float, float], ...] = OVERPROMPT_COLORS
    channel: int = 1
    sign: float = 1.0
    name: str = "overprompt-control"

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        if self.channel not in (0, 1, 2):
            raise ValueError(f"OffConceptOverprompt.channel must be 0, 1 or 2, got {self.channel}")
        if self.sign not in (1.0, -1.0):
            raise ValueError(f"OffConceptOverprompt.sign must be +1 or -1, got {self.sign}")
        real = Overprompt(self.colors).variants(ctx, class_bits)
        out = []
        for v in real:
            cond = ctx.spec.prompt(class_bits).clone()
            own = cond[COND_LAYOUT["color"]]
            push = float(torch.linalg.vector_norm(v.cond[COND_LAYOUT["color"]] - own))
            color = own.clone()
            color[self.channel] = (color[self.channel] + self.sign * push).clamp(0.0, 1.0)
            cond[COND_LAYOUT["color"]] = color
            mirrored = v.name[v.name.index("[") + 1:-1]
            used = ",".join(f"{x:.3g}" for x in color.tolist())
            out.append(Variant(f"{self.name}[{used} for {mirrored}]", cond))
        return out


@dataclass(frozen=True)
class RandomDirectionIntervention(LatentIntervention):
    """Negative control of :class:`LatentIntervention`: the same ``e' = e + α(e·r̂)r̂``, ``e'' = e' − β(e'·q̂)q̂``
    with the same (α, β) grid, but ``r̂``, ``q̂`` random unit vectors (the norm of the real ``b̂``, ``l̂``) drawn
    per site from a CPU generator seeded by ``seed`` (sites in sorted order), instead of the concept
    directions."""

    seed: int = 0
    name: str = "intervention-control"

    def directions(self, model: nn.Module) -> dict[str, tuple[Tensor, Tensor]]:
        """site -> (r̂ (C,), q̂ (C,)) random unit vectors, the same for the same ``seed`` and model layout."""
        from hidcap.interventions import concept_direction

        gen = torch.Generator().manual_seed(int(self.seed))
        dev = model_device(model)
        probe_input = torch.tensor(self.amplify, device=dev)
        out = {}
        for s in sorted(resolve_modules(model, self.sites)):
            c = concept_direction(model, s, probe_input).numel()  # width of the site's output
            r, q = torch.randn(2, c, generator=gen)
            out[s] = ((r / r.norm()).to(dev), (q / q.norm()).to(dev))
        return out


@dataclass(frozen=True)
class SelfPatch:
    """Negative control of :class:`EmbeddingPatch`: patch the conditioning-MLP weights (``sites``) of the
    checkpoint being measured into itself (the model patched with its own weights): the same context
    machinery as the real patch, nothing learned later."""

    sites: str = CONDITION_SITES
    name: str = "patch-control"

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        from hidcap.patching import patch

        if ctx.series is None or not is_series(ctx.series):
            raise ValueError("SelfPatch needs a checkpoint series (pass a CheckpointSeries to capability)")
        if ctx.step not in list(ctx.series.steps):
            raise ValueError(f"SelfPatch: step {ctx.step} is not a step of the series: {list(ctx.series.steps)}")
        model, series, sites, step = ctx.model, ctx.series, self.sites, ctx.step
        return [
            Variant(
                f"{self.name}[{step}]",
                ctx.spec.prompt(class_bits),
                context=lambda: patch(model, sites, step, series=series),
                context_key=(self.name, step, sites),
            )
        ]


def control_protocols(protocols: Any, *, seed: int = 0) -> dict[str, Any]:
    """``{real protocol name: its negative control}`` for the :class:`Overprompt`, :class:`LatentIntervention`
    and :class:`EmbeddingPatch` of ``protocols`` (same colours, (α, β) grid, sites; ``seed`` for the random
    directions); other protocols have no control and are left out."""
    out: dict[str, Any] = {}
    for p in protocols:
        if isinstance(p, (RandomDirectionIntervention, OffConceptOverprompt, SelfPatch)):
            continue
        if isinstance(p, Overprompt):
            out[p.name] = OffConceptOverprompt(colors=p.colors, name=f"{p.name}-control")
        elif isinstance(p, LatentIntervention):
            out[p.name] = RandomDirectionIntervention(alphas=p.alphas, betas=p.betas, sites=p.sites, seed=seed,
                                                      name=f"{p.name}-control")
        elif isinstance(p, EmbeddingPatch):
            out[p.name] = SelfPatch(sites=p.sites, name=f"{p.name}-control")
    return out


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


@runtime_checkable
class ElicitationProtocol(Protocol):
    """What :func:`~hidcap.evaluation.elicitation.capability` needs of a protocol."""

    name: str

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]: ...


def check_protocol(protocol: Any, ctx: ProtocolContext, classes: tuple[str, ...] | None = None) -> list[Variant]:
    """The conformance check of an elicitation protocol; raises ``AssertionError`` naming the broken rule.

    For each class of ``classes`` (default: every class of ``ctx.spec``): ``protocol.name`` is a non-empty
    str; ``variants(ctx, c)`` returns a non-empty list of :class:`Variant` s with unique names; each ``cond`` is
    a float tensor of the spec's prompt shape (D,); ``row_edits`` map site names of ``ctx.model`` to callables
    that keep an (n, C) tensor's shape; a variant with a ``context`` has a hashable ``context_key`` and its
    context enters and exits; ``sampler_kwargs`` is a tuple of (str, value) pairs; and asking twice gives the
    same variant names (protocols are deterministic). Returns the variants of the last class.
    """
    name = getattr(protocol, "name", None)
    assert isinstance(name, str) and name, f"{protocol!r}: name must be a non-empty str, got {name!r}"
    assert callable(getattr(protocol, "variants", None)), f"{name}: needs a variants(ctx, class_bits) method"
    classes = tuple(ctx.spec.all_classes) if classes is None else tuple(classes)
    assert classes, "check_protocol needs at least one class"
    dim = ctx.spec.prompt(classes[0]).shape
    sites = set(dict(ctx.model.named_modules()))
    variants: list[Variant] = []
    for c in classes:
        variants = protocol.variants(ctx, c)
        assert isinstance(variants, list) and variants, f"{name}: variants(ctx, {c!r}) must be a non-empty list"
        names = [v.name for v in variants]
        assert all(isinstance(v, Variant) for v in variants), f"{name}: every variant must be a Variant"
        assert len(set(names)) == len(names), f"{name}: variant names must be unique, got {names}"
        assert names == [v.name for v in protocol.variants(ctx, c)], f"{name}: variants must be deterministic"
        for v in variants:
            assert isinstance(v.cond, Tensor) and v.cond.is_floating_point() and v.cond.shape == dim, (
                f"{name}/{v.name}: cond must be a float tensor of shape {tuple(dim)}, got {v.cond!r}")
            for site, edit in v.row_edits.items():
                assert site in sites, f"{name}/{v.name}: row edit site {site!r} is not a module of the model"
                out = ctx.model.get_submodule(site)(ctx.spec.prompts([c]).to(model_device(ctx.model)))
                assert callable(edit) and edit(out).shape == out.shape, (
                    f"{name}/{v.name}: the row edit of {site!r} must keep the (n, C) shape")
            if v.context is not None:
                hash(v.context_key)
                with v.context():
                    pass
            assert isinstance(v.sampler_kwargs, tuple) and all(
                isinstance(kv, tuple) and len(kv) == 2 and isinstance(kv[0], str) for kv in v.sampler_kwargs
            ), f"{name}/{v.name}: sampler_kwargs must be a tuple of (str, value) pairs"
            hash(v.group_key())
    return variants
