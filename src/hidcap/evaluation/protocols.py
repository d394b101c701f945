"""Elicitation protocols of capability (Park et al. 2024, Sec. 4.4): ways to prompt a class at a checkpoint.

A protocol is any object with a ``name`` (str) and ``variants(ctx, class_bits) -> list[Variant]`` (see
:class:`ElicitationProtocol`); each :class:`Variant` is a conditioning vector plus, optionally, edits of the
conditioning-MLP outputs for its rows, a context manager around the whole model, and sampler keyword arguments.
Built-ins (frozen dataclasses): :class:`NaivePrompt`, :class:`Overprompt`, :class:`LatentIntervention`,
:class:`EmbeddingPatch`, :class:`Guidance`, and negative controls (protocols that should *not* elicit the
class; each a :class:`NegativeControl`: it names the protocol it controls, ``control_of``, and states what it
holds equal to it, ``matches``): :class:`OffConceptOverprompt` (the overprompt push on a channel off the
concept), :class:`RandomDirectionIntervention` (the intervention's ‖Δe‖ along random directions),
:class:`OtherConceptIntervention` (the intervention formula with the other concept values' inputs) and
:class:`OtherSeedPatch` (the patch from another seed's run); :func:`control_protocols` pairs them with real
protocols. :func:`embedding_shift` measures how far a variant moves the conditioning embeddings from the
naive prompt's. :func:`check_protocol` is the one conformance check every protocol must pass (the test suite
runs it on each built-in, as scikit-learn's ``check_estimator`` does).
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from hidcap.data.concepts import COND_DIM, COND_LAYOUT, SIZE_MEAN
from hidcap.diffusion import model_device
from hidcap.runs import is_series
from hidcap.tracing import resolve_modules

__all__ = [
    "BLUE_INPUT",
    "CONDITION_SITES",
    "LARGE_INPUT",
    "OVERPROMPT_COLORS",
    "RED_INPUT",
    "SMALL_INPUT",
    "ElicitationProtocol",
    "EmbeddingPatch",
    "Guidance",
    "LatentIntervention",
    "NaivePrompt",
    "NegativeControl",
    "OffConceptOverprompt",
    "OtherConceptIntervention",
    "OtherSeedPatch",
    "Overprompt",
    "ProtocolContext",
    "RandomDirectionIntervention",
    "Variant",
    "check_protocol",
    "control_protocols",
    "default_protocols",
    "embedding_shift",
    "other_concept_input",
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


def other_concept_input(cond: tuple[float, ...]) -> tuple[float, ...]:
    """The input of the *other* value of each concept that ``cond`` (a conditioning vector, (D,)) sets: the
    colour slots with red and blue swapped (R <-> B) and the size slot mirrored about the size mean
    (``2·SIZE_MEAN − size``); slots left at 0 stay 0, so an input that sets one concept alone (as the paper's
    do) keeps setting that concept alone; values rounded to 6 decimals. ``other_concept_input(BLUE_INPUT)``
    is red [.95,.05,.05] (``RED_INPUT``), ``other_concept_input(LARGE_INPUT)`` small, size 0.3 (``SMALL_INPUT``).
    """
    v = torch.tensor(cond, dtype=torch.float64)
    if v.shape != (COND_DIM,):
        raise ValueError(f"a conditioning input must have {COND_DIM} entries, got {tuple(v.shape)}")
    color, size = v[COND_LAYOUT["color"]], v[COND_LAYOUT["size"]]
    if not bool(color.any()) and float(size) == 0.0:
        raise ValueError(f"the input {tuple(cond)} sets neither colour nor size: it has no other concept value")
    out = v.clone()
    out[COND_LAYOUT["color"]] = color[[2, 1, 0]]
    if float(size) != 0.0:
        out[COND_LAYOUT["size"]] = 2 * SIZE_MEAN - size
    return tuple(round(float(x), 6) for x in out)


#: The other concept values' inputs (the control of the intervention): "red" [.95,.05,.05] and "small" 0.3.
RED_INPUT = other_concept_input(BLUE_INPUT)
SMALL_INPUT = other_concept_input(LARGE_INPUT)


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


def _resolve_source(source: int, steps: list[int], who: str) -> int:
    """The checkpoint step that ``source`` names among ``steps`` (negative counts from the end)."""
    try:
        step = steps[source] if source < 0 else source
    except IndexError:
        raise ValueError(f"{who}.source={source}: the series has {len(steps)} steps") from None
    if step not in steps:
        raise ValueError(f"{who}.source={step} is not a step of the series: {steps}")
    return step


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
        source = _resolve_source(self.source, list(ctx.series.steps), "EmbeddingPatch")
        model, series, sites = ctx.model, ctx.series, self.sites
        return [
            Variant(
                f"{self.name}[{source}]",
                ctx.spec.prompt(class_bits),
                context=lambda: patch(model, sites, source, series=series),
                context_key=(self.name, source, sites),
            )
        ]


# ------------------------------------------------------------------------------------------ negative controls
@runtime_checkable
class NegativeControl(Protocol):
    """A protocol that should *not* elicit the class: ``control_of`` is the name of the real protocol it
    controls and ``matches`` states, in words, what it holds equal to that protocol (so what a real protocol
    that beats it cannot owe its success to)."""

    name: str
    control_of: str
    matches: str

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]: ...


@dataclass(frozen=True)
class OffConceptOverprompt:
    """Negative control of :class:`Overprompt`: push a colour channel that does not define the colour concept.

    For each colour of ``colors`` (oriented as in :class:`Overprompt`), the push ``‖colour − prompt colour‖`` is
    applied to channel ``channel`` alone (default 1, green: red and blue prompts share it, ``0.5 − s/2``), in
    direction ``sign``, and the other channels keep the class prompt's values; the result is clamped to [0, 1]
    (the variant name gives the colour used and the real colour it stands for). Same number of variants and,
    unclamped, the same distance from the prompt as the real overprompting. ``control_of``: the name of the
    :class:`Overprompt` it controls."""

    colors: tuple[tuple[float, float, float], ...] = OVERPROMPT_COLORS
    channel: int = 1
    sign: float = 1.0
    name: str = "overprompt-control"
    control_of: str = "overprompt"
    matches: ClassVar[str] = ("the distance ‖colour − prompt colour‖ of each Overprompt colour (unclamped), moved "
                              "along a colour channel that does not define the colour concept")

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


def _projection_shift(e: Tensor, steps: tuple[tuple[Tensor, float], ...]) -> Tensor:
    """``Δe`` (n, C) of the projection steps ``e ← e + s(e·d̂)d̂`` applied in order to rows ``e`` (n, C), summed as
    ``Σ c_k d̂_k``: exactly in the span of the ``d̂`` (no cancellation against ``e``)."""
    delta = torch.zeros_like(e)
    for d, scale in steps:
        d = d.to(device=e.device, dtype=e.dtype)
        delta = delta + scale * ((e * d).sum(-1, keepdim=True) + (delta * d).sum(-1, keepdim=True)) * d
    return delta


def _steps(b: Tensor, alpha: float, l: Tensor, beta: float) -> tuple[tuple[Tensor, float], ...]:
    """The (unit direction, scale) steps of the paper's edit, normalised as :class:`LinearIntervention` does."""
    from hidcap.interventions import LinearIntervention

    return tuple((d, scale) for d, scale, _ in LinearIntervention.amplify_suppress(b, alpha, l, beta).steps)


def _matched_edit(real: tuple[tuple[Tensor, float], ...], control: tuple[tuple[Tensor, float], ...]
                  ) -> Callable[[Tensor], Tensor]:
    """Row edit ``e -> e + ‖Δe_real‖ · Δe_ctl / ‖Δe_ctl‖`` on (n, C) rows, ``Δe`` of the projection steps ``real``
    and ``control`` (``(unit direction (C,), scale)`` pairs): the control's direction with the real edit's norm,
    row by row (along the control's first direction where the control moves a row by exactly 0)."""
    fallback = control[0][0]

    def edit(e: Tensor) -> Tensor:
        target = torch.linalg.vector_norm(_projection_shift(e, real), dim=-1, keepdim=True)
        step = _projection_shift(e, control)
        norm = torch.linalg.vector_norm(step, dim=-1, keepdim=True)
        unit = torch.where(norm > 0, step / norm.clamp_min(torch.finfo(step.dtype).tiny),
                           fallback.to(device=e.device, dtype=e.dtype))
        return e + target * unit

    return edit


def _check_real(control: Any, kind: type) -> None:
    if not isinstance(control.real, kind):
        raise ValueError(f"{type(control).__name__}.real must be a {kind.__name__}, got {control.real!r}")


@dataclass(frozen=True)
class RandomDirectionIntervention:
    """Negative control of :class:`LatentIntervention` ``real``, matched in ‖Δe‖: every row ``e`` of every
    site's output moves exactly as far as the real edit moves it, along a random direction.

    For each (α, β) of ``real``'s grid and each site of ``real``: ``Δe_real = e'' − e`` with the paper's edit
    ``e' = e + α(e·b̂)b̂``, ``e'' = e' − β(e'·l̂)l̂`` (Park et al. 2024, Sec. 4.4); ``Δe_rand`` the same formula
    with ``b̂``, ``l̂`` replaced by random unit vectors ``r̂``, ``q̂``; the control sets ``e ← e + ‖Δe_real‖ ·
    Δe_rand / ‖Δe_rand‖`` (``r̂`` where ``Δe_rand = 0``). Unmatched, random directions would move ``e`` by
    about ``|e|/√C``, while ``b̂`` and ``l̂`` share the large common component of the GELU outputs and the real
    edit moves it by about ``|e|·cos θ``. ``r̂``, ``q̂`` are drawn per site from a CPU generator seeded by
    ``seed`` (sites in sorted order). Variants ``name[a=α,b=β]``, one per (α, β), the class's own prompt."""

    real: LatentIntervention = LatentIntervention()
    seed: int = 0
    name: str = "intervention-control"
    matches: ClassVar[str] = ("‖Δe‖ of LatentIntervention at every site and row, for each (α, β) of its grid, "
                              "along random directions instead of the concept directions")

    @property
    def control_of(self) -> str:
        return self.real.name

    def directions(self, model: nn.Module) -> dict[str, tuple[Tensor, Tensor]]:
        """site -> (r̂ (C,), q̂ (C,)) random unit vectors, the same for the same ``seed`` and model layout."""
        _check_real(self, LatentIntervention)
        gen = torch.Generator().manual_seed(int(self.seed))
        dev = model_device(model)
        out = {}
        for s, (b, _) in sorted(self.real.directions(model).items()):
            r, q = torch.randn(2, b.numel(), generator=gen)
            out[s] = ((r / r.norm()).to(dev), (q / q.norm()).to(dev))
        return out

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        _check_real(self, LatentIntervention)
        if not self.real.alphas or not self.real.betas:
            raise ValueError("RandomDirectionIntervention needs a real intervention with at least one alpha and one beta")
        concept, rand = self.real.directions(ctx.model), self.directions(ctx.model)
        cond = ctx.spec.prompt(class_bits)
        return [
            Variant(
                f"{self.name}[a={a:g},b={b:g}]",
                cond,
                row_edits={s: _matched_edit(_steps(bh, a, lh, b), _steps(rand[s][0], a, rand[s][1], b))
                           for s, (bh, lh) in concept.items()},
            )
            for a in self.real.alphas
            for b in self.real.betas
        ]


@dataclass(frozen=True)
class OtherConceptIntervention:
    """Negative control of :class:`LatentIntervention` ``real``: the same formula, grid and sites with the
    *other* concept values' inputs.

    The real edit is ``e' = e + α(e·b̂)b̂``, ``e'' = e' − β(e'·l̂)l̂`` with ``b̂``, ``l̂`` the normalised site
    outputs for the amplified and suppressed inputs (Park et al. 2024, Sec. 4.4: blue [.05,.05,.95] and large
    0.6, which push towards class 11, small blue). This control applies the same edit with ``b̂``, ``l̂`` the
    normalised outputs for ``amplify`` and ``suppress``, by default :func:`other_concept_input` of the real
    ones (red [.95,.05,.05] amplified, small 0.3 suppressed: towards 00, large red). The conditioning MLPs end
    in a GELU, so the outputs for both input pairs share a large common component; a real intervention that
    does no better than this one owes its success to that shared component, not to the concept directions.
    Variants ``name[a=α,b=β]``, one per (α, β) of ``real``'s grid, the class's own prompt."""

    real: LatentIntervention = LatentIntervention()
    amplify: tuple[float, ...] | None = None
    suppress: tuple[float, ...] | None = None
    name: str = "intervention-other-concept-control"
    matches: ClassVar[str] = ("the formula, (α, β) grid and sites of LatentIntervention and its common GELU "
                              "component, with the other concept values' inputs (amplify red, suppress small "
                              "for the paper's blue and large)")

    @property
    def control_of(self) -> str:
        return self.real.name

    def intervention(self) -> LatentIntervention:
        """The real protocol's edit with this control's inputs (a :class:`LatentIntervention` named ``name``)."""
        _check_real(self, LatentIntervention)
        amplify = other_concept_input(self.real.amplify) if self.amplify is None else tuple(self.amplify)
        suppress = other_concept_input(self.real.suppress) if self.suppress is None else tuple(self.suppress)
        for what, mine, real in (("amplify", amplify, self.real.amplify), ("suppress", suppress, self.real.suppress)):
            if len(mine) != COND_DIM:
                raise ValueError(f"OtherConceptIntervention.{what} must have {COND_DIM} entries, got {len(mine)}")
            if torch.allclose(torch.tensor(mine, dtype=torch.float64), torch.tensor(real, dtype=torch.float64)):
                raise ValueError(f"OtherConceptIntervention.{what} equals the real intervention's input {real}: "
                                 "that is the real protocol, not a control")
        return LatentIntervention(alphas=self.real.alphas, betas=self.real.betas, sites=self.real.sites,
                                  amplify=amplify, suppress=suppress, name=self.name)

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        return self.intervention().variants(ctx, class_bits)


def _series_of(donor: Any) -> Any:
    if isinstance(donor, (str, os.PathLike)):
        from hidcap.runs import CheckpointSeries

        return CheckpointSeries(donor)
    if not is_series(donor) or not callable(getattr(donor, "state_dict", None)):
        raise ValueError("OtherSeedPatch.donor must be another run: a run directory or a checkpoint series with "
                         f"state_dict(step) (e.g. a CheckpointSeries), got {type(donor).__name__}")
    return donor


def _same_run(a: Any, b: Any) -> bool:
    if a is b:
        return True
    ra, rb = getattr(a, "run_dir", None), getattr(b, "run_dir", None)
    return ra is not None and rb is not None and Path(ra).resolve() == Path(rb).resolve()


@dataclass(frozen=True)
class OtherSeedPatch:
    """Negative control of :class:`EmbeddingPatch` ``real``: the same patch of the conditioning-MLP weights
    (``real.sites``), taken from the run ``donor`` (another seed's run of the same configuration; a run
    directory or a checkpoint series) at the same step as the real patch's source.

    The real patch (Park et al. 2024, App. C.6, Fig. 17) brings in the conditioning MLPs of this run's later
    checkpoint. The donor's MLPs at that step are trained as long, on the same data, with the same
    architecture (the same machinery, weight scale and output statistics), but the rest of this model never
    learned to read them: whatever the real patch owes to patching itself, this one has too; what it owes to
    the concept this run learned, this one has not. The source step is ``real.source`` resolved in the
    measured series (−1: its last step) and must be a step of the donor."""

    donor: Any
    real: EmbeddingPatch = EmbeddingPatch()
    name: str = "patch-control"
    matches: ClassVar[str] = ("the machinery of EmbeddingPatch (the conditioning-MLP weights of a checkpoint at the "
                              "same step, trained as long on the same data, patched in) without the concept this "
                              "run learned (another seed's run)")

    @property
    def control_of(self) -> str:
        return self.real.name

    def variants(self, ctx: ProtocolContext, class_bits: str) -> list[Variant]:
        from hidcap.patching import patch

        _check_real(self, EmbeddingPatch)
        if ctx.series is None or not is_series(ctx.series):
            raise ValueError("OtherSeedPatch needs a checkpoint series (pass a CheckpointSeries to capability)")
        donor = _series_of(self.donor)
        if _same_run(donor, ctx.series):
            raise ValueError("OtherSeedPatch.donor is the measured run itself: that is the real EmbeddingPatch; "
                             "pass another seed's run")
        source = _resolve_source(self.real.source, list(ctx.series.steps), "OtherSeedPatch")
        if source not in list(donor.steps):
            raise ValueError(f"OtherSeedPatch: the donor run has no checkpoint at step {source} (the real patch's "
                             f"source); its steps: {list(donor.steps)}")
        model, sites = ctx.model, self.real.sites
        donor_key = str(Path(self.donor)) if isinstance(self.donor, (str, os.PathLike)) else id(self.donor)
        return [
            Variant(
                f"{self.name}[{source}]",
                ctx.spec.prompt(class_bits),
                context=lambda: patch(model, sites, source, series=donor),
                context_key=(self.name, donor_key, source, sites),
            )
        ]


def control_protocols(protocols: Any, *, seed: int = 0, donor: Any = None) -> dict[str, Any]:
    """``{control name: control}``: the negative controls of the :class:`Overprompt`, :class:`LatentIntervention`
    and :class:`EmbeddingPatch` of ``protocols`` (other protocols have none and controls are skipped).

    Overprompt -> :class:`OffConceptOverprompt` (same colours); LatentIntervention -> the matched
    :class:`RandomDirectionIntervention` (``seed`` for its random directions) and
    :class:`OtherConceptIntervention`; EmbeddingPatch -> :class:`OtherSeedPatch` from ``donor`` (another seed's
    run: a run directory or series; ``ValueError`` when an EmbeddingPatch is given without one). Names:
    ``<real>-control`` (and ``<real>-other-concept-control``); each control's ``control_of`` is the real name."""
    out: dict[str, Any] = {}
    for p in protocols:
        if isinstance(p, NegativeControl):
            continue
        if isinstance(p, Overprompt):
            made = [OffConceptOverprompt(colors=p.colors, name=f"{p.name}-control", control_of=p.name)]
        elif isinstance(p, LatentIntervention):
            made = [RandomDirectionIntervention(p, seed=seed, name=f"{p.name}-control"),
                    OtherConceptIntervention(p, name=f"{p.name}-other-concept-control")]
        elif isinstance(p, EmbeddingPatch):
            if donor is None:
                raise ValueError(f"the control of {p.name!r} (OtherSeedPatch) patches from another seed's run: "
                                 "pass donor= (a run directory or checkpoint series)")
            made = [OtherSeedPatch(donor, p, name=f"{p.name}-control")]
        else:
            continue
        for c in made:
            if c.name in out:
                raise ValueError(f"two controls would be named {c.name!r}: give the real protocols distinct names")
            out[c.name] = c
    return out


@torch.no_grad()
def embedding_shift(model: nn.Module, variant: Variant, prompt: Tensor,
                    sites: str = CONDITION_SITES) -> dict[str, float] | None:
    """How far ``variant`` moves the conditioning embeddings from those of ``prompt`` (the naive prompt, (D,)).

    At every site of ``sites`` and of the variant's ``row_edits``: ``e = site(prompt)`` on the unpatched model,
    ``e_v = site(variant.cond)`` inside the variant's context (if any), then its row edit (if any). Returns
    ``{"delta_e": ‖Δe‖, "e_norm": ‖e‖}`` over all sites together (the root of the sum of squares of each
    site's norm), or None when the model has no such site. Guidance and other sampler arguments move nothing.
    """
    if not isinstance(prompt, Tensor) or prompt.ndim != 1:
        raise ValueError(f"prompt must be a (D,) tensor, got {prompt!r}")
    try:
        names = set(resolve_modules(model, sites))
    except KeyError:
        names = set()
    names |= set(variant.row_edits)
    if not names:
        return None
    dev = model_device(model)
    order = sorted(names)
    x0, xv = prompt.float().to(dev)[None], variant.cond.float().to(dev)[None]
    base = {s: model.get_submodule(s)(x0) for s in order}
    with variant.context() if variant.context is not None else nullcontext():
        moved = {s: model.get_submodule(s)(xv) for s in order}
    delta2 = e2 = 0.0
    for s in order:
        e = base[s]
        ev = variant.row_edits[s](moved[s]) if s in variant.row_edits else moved[s]
        delta2 += float(torch.linalg.vector_norm((ev - e).double())) ** 2
        e2 += float(torch.linalg.vector_norm(e.double())) ** 2
    return {"delta_e": math.sqrt(delta2), "e_norm": math.sqrt(e2)}


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


def check_protocol(protocol: Any, ctx: ProtocolContext, classes: tuple[str, ...] | None = None, *,
                   control: bool | None = None) -> list[Variant]:
    """The conformance check of an elicitation protocol; raises ``AssertionError`` naming the broken rule.

    For each class of ``classes`` (default: every class of ``ctx.spec``): ``protocol.name`` is a non-empty
    str; ``variants(ctx, c)`` returns a non-empty list of :class:`Variant` s with unique names; each ``cond`` is
    a float tensor of the spec's prompt shape (D,); ``row_edits`` map site names of ``ctx.model`` to callables
    that keep an (n, C) tensor's shape; a variant with a ``context`` has a hashable ``context_key`` and its
    context enters and exits; ``sampler_kwargs`` is a tuple of (str, value) pairs; and asking twice gives the
    same variant names (protocols are deterministic). A negative control (``control=True``, or by default any
    protocol with a ``control_of`` or ``matches`` attribute) must also state what it matches: ``matches`` and
    ``control_of`` (the real protocol's name) non-empty str (:class:`NegativeControl`). Returns the variants of
    the last class.
    """
    name = getattr(protocol, "name", None)
    assert isinstance(name, str) and name, f"{protocol!r}: name must be a non-empty str, got {name!r}"
    assert callable(getattr(protocol, "variants", None)), f"{name}: needs a variants(ctx, class_bits) method"
    if control is None:
        control = hasattr(protocol, "control_of") or hasattr(protocol, "matches")
    if control:
        matches = getattr(protocol, "matches", None)
        assert isinstance(matches, str) and matches.strip(), (
            f"{name}: a negative control must state what it matches (a non-empty str `matches`), got {matches!r}")
        control_of = getattr(protocol, "control_of", None)
        assert isinstance(control_of, str) and control_of.strip(), (
            f"{name}: a negative control must name the protocol it controls (a non-empty str `control_of`), "
            f"got {control_of!r}")
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
