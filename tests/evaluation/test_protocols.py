"""hidcap.evaluation.protocols: every built-in protocol (and a custom one) passes the one conformance check,
and the check catches broken protocols."""
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch

from hidcap.evaluation.protocols import (
    ElicitationProtocol,
    EmbeddingPatch,
    Guidance,
    LatentIntervention,
    NaivePrompt,
    OffConceptOverprompt,
    Overprompt,
    ProtocolContext,
    RandomDirectionIntervention,
    SelfPatch,
    Variant,
    check_protocol,
    control_protocols,
    default_protocols,
)
from hidcap.data import COND_LAYOUT

from .fakes import SPEC, Renderer, render_sampler


class Series:
    """A SeriesLike of Renderer checkpoints (EmbeddingPatch reads ``state_dict`` of its source step)."""

    def __init__(self):
        self.models = {0: Renderer(1.0), 5: Renderer(0.0)}

    @property
    def steps(self):
        return sorted(self.models)

    def load(self, step=-1):
        return self.models[self.steps[step] if step < 0 else step]

    def state_dict(self, step):
        return self.models[step].state_dict()

    def diffusion(self, step=-1):
        return SimpleNamespace(sample=render_sampler)


@pytest.fixture
def ctx():
    series = Series()
    return ProtocolContext(series.load(0), SPEC, 0, series)


BUILT_INS = [NaivePrompt(), Overprompt(), LatentIntervention(alphas=(1.0, 4.0), betas=(0.5,)), EmbeddingPatch(),
             Guidance(), *default_protocols(guidance=True), OffConceptOverprompt(),
             RandomDirectionIntervention(alphas=(1.0, 4.0), betas=(0.5,), seed=3), SelfPatch(),
             *control_protocols(default_protocols()).values()]


@pytest.mark.parametrize("protocol", BUILT_INS, ids=lambda p: type(p).__name__)
def test_every_built_in_protocol_conforms(protocol, ctx):
    assert isinstance(protocol, ElicitationProtocol)
    variants = check_protocol(protocol, ctx)
    assert variants and all(isinstance(v, Variant) for v in variants)


@dataclass(frozen=True)
class Duplicate:
    name: str = "dup"

    def variants(self, ctx, class_bits):
        cond = ctx.spec.prompt(class_bits)
        return [Variant("same", cond), Variant("same", cond)]


@dataclass(frozen=True)
class WrongShape:
    name: str = "short"

    def variants(self, ctx, class_bits):
        return [Variant("v", torch.zeros(3))]


@dataclass(frozen=True)
class BadSite:
    name: str = "site"

    def variants(self, ctx, class_bits):
        return [Variant("v", ctx.spec.prompt(class_bits), row_edits={"nope": lambda e: e})]


@dataclass(frozen=True)
class Empty:
    name: str = "empty"

    def variants(self, ctx, class_bits):
        return []


@pytest.mark.parametrize(
    "protocol, message",
    [(Duplicate(), "unique"), (WrongShape(), "shape"), (BadSite(), "not a module"), (Empty(), "non-empty list"),
     (SimpleNamespace(name="", variants=None), "non-empty str"), (SimpleNamespace(name="x"), "variants")],
)
def test_check_protocol_names_the_broken_rule(protocol, message, ctx):
    with pytest.raises(AssertionError, match=message):
        check_protocol(protocol, ctx)


def test_embedding_patch_needs_a_series():
    with pytest.raises(ValueError, match="series"):
        EmbeddingPatch().variants(ProtocolContext(Renderer(), SPEC, 0, None), "11")


# ---------------------------------------------------------------------------------------- negative controls
def test_off_concept_overprompt_pushes_green_as_far_as_the_real_colours(ctx):
    for bits in ("11", "01"):
        real = Overprompt().variants(ctx, bits)
        ctl = OffConceptOverprompt().variants(ctx, bits)
        assert len(ctl) == len(real)
        own = SPEC.prompt(bits)[COND_LAYOUT["color"]]
        for r, c in zip(real, ctl):
            cc = c.cond[COND_LAYOUT["color"]]
            assert torch.equal(cc[[0, 2]], own[[0, 2]])  # the channels that define red/blue keep the prompt's
            push = torch.linalg.vector_norm(r.cond[COND_LAYOUT["color"]] - own)
            assert float(cc[1]) == pytest.approx(min(1.0, float(own[1] + push)), abs=1e-6)
            assert torch.equal(c.cond[COND_LAYOUT["size"]], SPEC.prompt(bits)[COND_LAYOUT["size"]])
    with pytest.raises(ValueError, match="channel"):
        OffConceptOverprompt(channel=3).variants(ctx, "11")


def test_random_direction_intervention_same_grid_unit_norm_seeded(ctx):
    real = LatentIntervention(alphas=(1.0, 4.0), betas=(0.25, 1.0))
    ctl = RandomDirectionIntervention(alphas=(1.0, 4.0), betas=(0.25, 1.0), seed=7)
    assert [v.name.split("[")[1] for v in ctl.variants(ctx, "11")] == [v.name.split("[")[1] for v in real.variants(ctx, "11")]
    d1, d2 = ctl.directions(ctx.model), RandomDirectionIntervention(seed=7).directions(ctx.model)
    d3 = RandomDirectionIntervention(seed=8).directions(ctx.model)
    concept = real.directions(ctx.model)
    assert d1.keys() == concept.keys() == {"block.cond_embed"}
    for site, (r, q) in d1.items():
        b, _ = concept[site]
        assert float(r.norm()) == pytest.approx(float(b.norm())) == pytest.approx(1.0)
        assert float(q.norm()) == pytest.approx(1.0)
        assert torch.equal(r, d2[site][0]) and not torch.equal(r, d3[site][0])  # seeded
        assert abs(float(r @ b)) < 0.99  # not the concept direction


def test_self_patch_is_the_model_itself(ctx):
    (v,) = SelfPatch().variants(ctx, "11")
    x = SPEC.prompts(["11", "00"])
    before = ctx.model(x)
    with v.context():
        assert torch.equal(ctx.model(x), before)
    # the real patch from the last checkpoint changes this early model; the control does not
    (real,) = EmbeddingPatch().variants(ctx, "11")
    with real.context():
        assert not torch.equal(ctx.model(x), before)
    with pytest.raises(ValueError, match="series"):
        SelfPatch().variants(ProtocolContext(Renderer(), SPEC, 0, None), "11")
    with pytest.raises(ValueError, match="not a step"):
        SelfPatch().variants(ProtocolContext(ctx.model, SPEC, 3, ctx.series), "11")


def test_control_protocols_pairs_each_real_protocol():
    real = (NaivePrompt(), Overprompt(colors=((0.1, 0.1, 0.9),)), LatentIntervention(alphas=(2.0,), betas=(0.5,)),
            EmbeddingPatch(), Guidance())
    ctl = control_protocols(real, seed=5)
    assert set(ctl) == {"overprompt", "intervention", "patch"}
    assert ctl["overprompt"] == OffConceptOverprompt(colors=((0.1, 0.1, 0.9),), name="overprompt-control")
    assert ctl["intervention"].alphas == (2.0,) and ctl["intervention"].seed == 5
    assert isinstance(ctl["patch"], SelfPatch)
