"""hidcap.evaluation.protocols: every built-in protocol (and a custom one) passes the one conformance check,
and the check catches broken protocols."""
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch

from hidcap.data import COND_LAYOUT
from hidcap.evaluation.protocols import (
    BLUE_INPUT,
    LARGE_INPUT,
    RED_INPUT,
    SMALL_INPUT,
    ElicitationProtocol,
    EmbeddingPatch,
    Guidance,
    LatentIntervention,
    NaivePrompt,
    NegativeControl,
    OffConceptOverprompt,
    OtherConceptIntervention,
    OtherSeedPatch,
    Overprompt,
    ProtocolContext,
    RandomDirectionIntervention,
    Variant,
    check_protocol,
    control_protocols,
    default_protocols,
    embedding_shift,
    other_concept_input,
)
from hidcap.interventions import LinearIntervention, concept_direction

from .fakes import SPEC, Renderer, render_sampler


class Series:
    """A SeriesLike of Renderer checkpoints (EmbeddingPatch reads ``state_dict`` of its source step)."""

    def __init__(self, models=None):
        self.models = {0: Renderer(1.0), 5: Renderer(0.0)} if models is None else models

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


#: Another seed's run: its conditioning MLPs differ from every checkpoint of ``Series()``.
DONOR = Series({0: Renderer(0.7), 5: Renderer(0.3)})
SMALL_GRID = LatentIntervention(alphas=(1.0, 4.0), betas=(0.5,))
CONTROLS = [OffConceptOverprompt(), RandomDirectionIntervention(SMALL_GRID, seed=3), OtherConceptIntervention(),
            OtherSeedPatch(DONOR), *control_protocols(default_protocols(), donor=DONOR).values()]
BUILT_INS = [NaivePrompt(), Overprompt(), SMALL_GRID, EmbeddingPatch(), Guidance(), *default_protocols(guidance=True),
             *CONTROLS]


@pytest.mark.parametrize("protocol", BUILT_INS, ids=lambda p: type(p).__name__)
def test_every_built_in_protocol_conforms(protocol, ctx):
    assert isinstance(protocol, ElicitationProtocol)
    variants = check_protocol(protocol, ctx)
    assert variants and all(isinstance(v, Variant) for v in variants)


@pytest.mark.parametrize("control", CONTROLS, ids=lambda p: type(p).__name__)
def test_every_built_in_control_states_what_it_matches(control, ctx):
    assert isinstance(control, NegativeControl)
    assert control.control_of in {"overprompt", "intervention", "patch"}
    assert isinstance(control.matches, str) and len(control.matches) > 20
    check_protocol(control, ctx, control=True)
    assert not isinstance(EmbeddingPatch(), NegativeControl) and not isinstance(SMALL_GRID, NegativeControl)


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


@dataclass(frozen=True)
class Unstated(NaivePrompt):
    """A control that names what it controls but not what it matches."""

    name: str = "unstated-control"
    control_of: str = "naive"


@dataclass(frozen=True)
class Orphan(NaivePrompt):
    """A control that states what it matches but not what it controls."""

    name: str = "orphan-control"
    matches: str = "the prompt"


@pytest.mark.parametrize(
    "protocol, message",
    [(Duplicate(), "unique"), (WrongShape(), "shape"), (BadSite(), "not a module"), (Empty(), "non-empty list"),
     (SimpleNamespace(name="", variants=None), "non-empty str"), (SimpleNamespace(name="x"), "variants"),
     (Unstated(), "must state what it matches"), (Orphan(), "must name the protocol it controls")],
)
def test_check_protocol_names_the_broken_rule(protocol, message, ctx):
    with pytest.raises(AssertionError, match=message):
        check_protocol(protocol, ctx)


def test_check_protocol_as_a_control_needs_matches(ctx):
    check_protocol(NaivePrompt(), ctx)  # a real protocol states nothing
    with pytest.raises(AssertionError, match="must state what it matches"):
        check_protocol(NaivePrompt(), ctx, control=True)


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


SITE = "block.cond_embed"


def _rows(ctx, n=16):
    """(n + 4, C) float64 rows: the site's outputs for the four class prompts and random rows."""
    e = ctx.model.get_submodule(SITE)(SPEC.prompts(list(SPEC.all_classes))).double().detach()
    return torch.cat([e, torch.randn(n, e.shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)])


def test_random_direction_intervention_moves_e_as_far_as_the_real_edit(ctx):
    real = LatentIntervention(alphas=(0.1, 1.0, 4.0), betas=(0.25, 1.0))
    ctl = RandomDirectionIntervention(real, seed=7)
    assert ctl.control_of == "intervention"
    rv, cv = real.variants(ctx, "11"), ctl.variants(ctx, "11")
    assert [v.name.split("[")[1] for v in cv] == [v.name.split("[")[1] for v in rv]
    e = _rows(ctx)
    for r, c in zip(rv, cv):
        d_real, d_ctl = r.row_edits[SITE](e) - e, c.row_edits[SITE](e) - e
        # the same ||delta e|| row by row (float64: to rounding), in another direction
        torch.testing.assert_close(d_ctl.norm(dim=1), d_real.norm(dim=1), rtol=1e-12, atol=1e-12)
        assert (d_real.norm(dim=1) > 0).all()
        cos = (d_real * d_ctl).sum(1) / (d_real.norm(dim=1) * d_ctl.norm(dim=1))
        assert (cos.abs() < 0.99).all()
        # float32 rows, as the sampler sees them
        e32 = e.float()
        torch.testing.assert_close((c.row_edits[SITE](e32) - e32).norm(dim=1), (r.row_edits[SITE](e32) - e32).norm(dim=1),
                                   rtol=1e-5, atol=1e-6)
    # seeded random unit directions
    d1, d2 = ctl.directions(ctx.model), RandomDirectionIntervention(seed=7).directions(ctx.model)
    d3 = RandomDirectionIntervention(seed=8).directions(ctx.model)
    concept = real.directions(ctx.model)
    assert d1.keys() == concept.keys() == {SITE}
    r_hat, q_hat = d1[SITE]
    assert float(r_hat.norm()) == pytest.approx(1.0) and float(q_hat.norm()) == pytest.approx(1.0)
    assert torch.equal(r_hat, d2[SITE][0]) and not torch.equal(r_hat, d3[SITE][0])
    assert abs(float(r_hat @ concept[SITE][0])) < 0.99
    # a row the random formula hardly moves (orthogonal to r, q up to float32 rounding) still moves as far as the
    # real edit, within span(r, q)
    basis = torch.linalg.qr(torch.stack([r_hat, q_hat], 1).double())[0]
    b = concept[SITE][0].double()
    row = (b - basis @ (basis.T @ b))[None]
    (c0,), (r0,) = ctl.variants(ctx, "11")[:1], real.variants(ctx, "11")[:1]
    moved = c0.row_edits[SITE](row) - row
    assert float(moved.norm()) == pytest.approx(float((r0.row_edits[SITE](row) - row).norm())) and float(moved.norm()) > 0
    assert float((moved[0] - basis @ (basis.T @ moved[0])).norm()) < 1e-6 * float(moved.norm())
    # a zero row: the real edit does not move it, nor does the control
    zero = torch.zeros(1, e.shape[1], dtype=torch.float64)
    assert torch.equal(c0.row_edits[SITE](zero), zero)
    with pytest.raises(ValueError, match="LatentIntervention"):
        RandomDirectionIntervention(EmbeddingPatch()).variants(ctx, "11")
    with pytest.raises(ValueError, match="alpha"):
        RandomDirectionIntervention(LatentIntervention(alphas=())).variants(ctx, "11")


def test_other_concept_input_swaps_each_set_concept():
    assert RED_INPUT[5:8] == (0.95, 0.05, 0.05) and sum(RED_INPUT) == pytest.approx(1.05)
    assert SMALL_INPUT[8] == pytest.approx(0.3) and sum(SMALL_INPUT) == pytest.approx(0.3)
    assert other_concept_input(RED_INPUT) == pytest.approx(BLUE_INPUT, abs=1e-6)
    assert other_concept_input(SMALL_INPUT) == pytest.approx(LARGE_INPUT, abs=1e-6)
    with pytest.raises(ValueError, match="neither colour nor size"):
        other_concept_input((0.0,) * 12)
    with pytest.raises(ValueError, match="12 entries"):
        other_concept_input((1.0, 0.0))


def test_other_concept_intervention_is_the_formula_with_red_and_small(ctx):
    real = LatentIntervention(alphas=(1.0, 4.0), betas=(0.5,))
    ctl = OtherConceptIntervention(real)
    assert ctl.control_of == "intervention" and ctl.intervention().amplify == RED_INPUT
    dirs = ctl.intervention().directions(ctx.model)
    red = concept_direction(ctx.model, SITE, torch.tensor(RED_INPUT))
    small = concept_direction(ctx.model, SITE, torch.tensor(SMALL_INPUT))
    assert torch.equal(dirs[SITE][0], red) and torch.equal(dirs[SITE][1], small)
    variants = ctl.variants(ctx, "11")
    assert [v.name for v in variants] == ["intervention-other-concept-control[a=1,b=0.5]",
                                          "intervention-other-concept-control[a=4,b=0.5]"]
    e = _rows(ctx).float()
    for v, a in zip(variants, real.alphas):
        torch.testing.assert_close(v.row_edits[SITE](e), LinearIntervention.amplify_suppress(red, a, small, 0.5)(e))
        assert torch.equal(v.cond, SPEC.prompt("11"))
    with pytest.raises(ValueError, match="equals the real intervention's input"):
        OtherConceptIntervention(real, amplify=BLUE_INPUT).variants(ctx, "11")
    with pytest.raises(ValueError, match="12 entries"):
        OtherConceptIntervention(real, suppress=(0.3,)).variants(ctx, "11")


def test_other_seed_patch_loads_the_donor_run(ctx, tmp_path):
    (v,) = OtherSeedPatch(DONOR).variants(ctx, "11")
    assert v.name == "patch-control[5]"  # the real patch's source step (the last), from the donor
    weight = ctx.model.block.cond_embed.weight
    before = weight.detach().clone()
    with v.context():
        assert torch.equal(weight, DONOR.models[5].block.cond_embed.weight)
        assert not torch.equal(weight, ctx.series.models[5].block.cond_embed.weight)
    assert torch.equal(weight, before)  # restored
    with pytest.raises(ValueError, match="measured run itself"):
        OtherSeedPatch(ctx.series).variants(ctx, "11")
    with pytest.raises(ValueError, match="no checkpoint at step 5"):
        OtherSeedPatch(Series({0: Renderer(0.7)})).variants(ctx, "11")
    with pytest.raises(ValueError, match="donor must be another run"):
        OtherSeedPatch(object()).variants(ctx, "11")
    with pytest.raises(ValueError, match="series"):
        OtherSeedPatch(DONOR).variants(ProtocolContext(Renderer(), SPEC, 0, None), "11")
    with pytest.raises(ValueError, match="not a step"):
        OtherSeedPatch(DONOR, EmbeddingPatch(source=3)).variants(ctx, "11")
    with pytest.raises(FileNotFoundError, match="not a training run"):
        OtherSeedPatch(tmp_path).variants(ctx, "11")


def test_control_protocols_pairs_each_real_protocol():
    real = (NaivePrompt(), Overprompt(colors=((0.1, 0.1, 0.9),)), LatentIntervention(alphas=(2.0,), betas=(0.5,)),
            EmbeddingPatch(), Guidance())
    ctl = control_protocols(real, seed=5, donor=DONOR)
    assert set(ctl) == {"overprompt-control", "intervention-control", "intervention-other-concept-control",
                        "patch-control"}
    assert all(name == c.name for name, c in ctl.items())
    assert ctl["overprompt-control"] == OffConceptOverprompt(colors=((0.1, 0.1, 0.9),), name="overprompt-control")
    assert ctl["intervention-control"] == RandomDirectionIntervention(real[2], seed=5)
    assert ctl["intervention-other-concept-control"] == OtherConceptIntervention(real[2])
    assert ctl["patch-control"] == OtherSeedPatch(DONOR, real[3])
    assert {c.control_of for c in ctl.values()} == {"overprompt", "intervention", "patch"}
    assert control_protocols([*real, *ctl.values()], seed=5, donor=DONOR) == ctl  # controls get no control
    with pytest.raises(ValueError, match="donor="):
        control_protocols(real)
    assert set(control_protocols(real[:3])) == {"overprompt-control", "intervention-control",
                                                "intervention-other-concept-control"}


@torch.no_grad()
def test_embedding_shift_of_each_kind_of_variant(ctx):
    site = ctx.model.get_submodule(SITE)
    prompt = SPEC.prompt("11")
    e = site(prompt[None])
    (naive,) = NaivePrompt().variants(ctx, "11")
    assert embedding_shift(ctx.model, naive, prompt) == {"delta_e": 0.0, "e_norm": pytest.approx(float(e.norm()))}
    over = Overprompt().variants(ctx, "11")[-1]
    assert embedding_shift(ctx.model, over, prompt)["delta_e"] == pytest.approx(float((site(over.cond[None]) - e).norm()))
    inter = LatentIntervention().variants(ctx, "11")[-1]
    assert embedding_shift(ctx.model, inter, prompt)["delta_e"] == pytest.approx(float((inter.row_edits[SITE](e) - e).norm()))
    (patch,) = EmbeddingPatch().variants(ctx, "11")
    before = site.weight.detach().clone()
    with patch.context():
        patched = site(prompt[None])
    assert embedding_shift(ctx.model, patch, prompt)["delta_e"] == pytest.approx(float((patched - e).norm()))
    assert float((patched - e).norm()) > 0.1 and torch.equal(site.weight, before)
    (guided,) = Guidance(scales=(3.0,)).variants(ctx, "11")
    assert embedding_shift(ctx.model, guided, prompt)["delta_e"] == 0.0
    assert embedding_shift(torch.nn.Sequential(torch.nn.Linear(12, 12)), naive, prompt) is None
    with pytest.raises(ValueError, match="prompt"):
        embedding_shift(ctx.model, naive, SPEC.prompts(["11"]))
