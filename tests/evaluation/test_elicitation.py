from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from hidcap.data import COND_DIM, ConceptDataSpec
from hidcap.evaluation.elicitation import CapabilityTable, capability
from hidcap.evaluation.protocols import (
    EmbeddingPatch,
    Guidance,
    LatentIntervention,
    NaivePrompt,
    OtherConceptIntervention,
    Overprompt,
    RandomDirectionIntervention,
    Variant,
    control_protocols,
)
from hidcap.evaluation.embedding_factors import disentanglement, embedding_disentanglement
from hidcap.evaluation.protocols import ProtocolContext
from hidcap.evaluation.classifiers import ConceptProbe, ProbeConfig

from .fakes import SPEC, Renderer, coin_sampler, render_sampler


class CountingSampler:
    def __init__(self):
        self.calls = []

    def sample(self, model, cond, generator, **kw):
        self.calls.append((cond.shape[0], kw))
        return render_sampler(model, cond, generator, **kw)


class FakeSeries:
    def __init__(self, models):
        self.models = models

    @property
    def steps(self):
        return sorted(self.models)

    def load(self, step):
        return self.models[step]

    def state_dict(self, step):
        return self.models[step].state_dict()

    def diffusion(self, step=-1):
        """SeriesLike: the sampler of every checkpoint renders the model's output."""
        return SimpleNamespace(sample=render_sampler)


class SetBlue:
    """A custom protocol: overwrite the colour slots of the embedding with blue, only on its own rows."""

    name = "set-blue"

    def variants(self, ctx, class_bits):
        def edit(e):
            e = e.clone()
            e[:, 5:8] = torch.tensor([0.2, 0.2, 0.8])
            return e

        return [Variant("set-blue", ctx.spec.prompt(class_bits), row_edits={"block.cond_embed": edit})]


@pytest.fixture(scope="module")
def probe(small_probe):
    return small_probe


def test_capability_at_least_behaviour_and_batched(probe):
    sampler = CountingSampler()
    models = {0: Renderer(1.0), 10: Renderer(0.6), 20: Renderer(0.0)}
    protocols = (Overprompt(), LatentIntervention(alphas=(1.0, 4.0), betas=(0.5,)), SetBlue())
    table = capability(models, SPEC, probe, ("01", "11"), 8, seed=0, sampler=sampler, protocols=protocols)
    # naive prepended; one sampler call per checkpoint for all classes x variants (no context, same kwargs)
    assert len(sampler.calls) == 3
    n_variants = 1 + 5 + 2 + 1
    assert sampler.calls[0][0] == 2 * n_variants * 8
    assert len(table.variants) == 3 * 2 * n_variants
    for row in table.summary:
        assert row["capability"] >= row["behaviour"]
    first = next(r for r in table.summary if r["step"] == 0 and r["class"] == "11")
    assert first["behaviour"] == 0.0  # always red
    assert first["capability"] == 1.0
    set_blue = next(r for r in table.variants if r["step"] == 0 and r["class"] == "11" and r["variant"] == "set-blue")
    assert set_blue["joint"] == 1.0  # its rows were edited, the naive rows in the same batch were not
    last = next(r for r in table.summary if r["step"] == 20 and r["class"] == "11")
    assert last["behaviour"] == 1.0 and last["best_protocol"] == "naive"  # ties go to the naive prompt
    steps, cap = table.curve("11")
    _, beh = table.curve("11", "behaviour")
    assert steps.tolist() == [0, 10, 20] and (cap >= beh).all()


def test_overprompt_and_intervention_elicit_a_half_learned_colour(probe):
    sampler = CountingSampler()
    table = capability(Renderer(0.5), SPEC, probe, ("11",), 16, seed=1, sampler=sampler,
                       protocols=(Overprompt(), LatentIntervention()))
    best = {}
    for r in table.variants:
        best[r["protocol"]] = max(best.get(r["protocol"], 0.0), r["joint"])
    assert best["naive"] < 0.5
    assert best["overprompt"] > best["naive"] and best["intervention"] > best["naive"]
    names = {r["variant"] for r in table.variants}
    assert "overprompt[0.05,0.05,0.95]" in names and "intervention[a=4,b=1]" in names
    # red classes get mirrored overprompt colours
    red = capability(Renderer(0.0), SPEC, probe, ("01",), 2, sampler=sampler, protocols=(Overprompt(),))
    assert "overprompt[0.95,0.05,0.05]" in {r["variant"] for r in red.variants}


def test_patch_and_guidance_get_their_own_sampler_calls(probe, tmp_path):
    series = FakeSeries({0: Renderer(1.0), 5: Renderer(0.0)})
    sampler = CountingSampler()
    table = capability(series, SPEC, probe, ("11",), 8, sampler=sampler, checkpoints=[0],
                       protocols=(NaivePrompt(), EmbeddingPatch(), Guidance(scales=(2.0,))))
    assert [kw for _, kw in sampler.calls] == [{}, {}, {"guidance": 2.0}]
    row = table.summary[0]
    assert row["behaviour"] == 0.0 and row["capability"] == 1.0 and row["best_variant"] == "patch[5]"
    # the patch was undone
    assert torch.equal(series.models[0].block.cond_embed.weight, Renderer(1.0).block.cond_embed.weight)
    back = CapabilityTable.from_json(table.to_json(tmp_path / "cap.json"))
    assert back.summary == table.summary and back.variants == table.variants
    header = table.to_csv(tmp_path / "cap.csv").read_text().splitlines()[0]
    assert header == "step,class,behaviour,capability,best_protocol,best_variant"


# ---- selection control: choose on one sample set, score on a fresh one -----------------------------------
def test_fresh_samples_correct_the_biased_max(probe):
    """Nine variants of equal true accuracy 0.5: the max over them on the selection samples reads high, the
    chosen variant's score on fresh samples does not, and behaviour gets the same fresh budget."""
    models = {s: Renderer(0.5) for s in range(20)}
    protocols = (Overprompt(), Overprompt(colors=((0.3, 0.3, 0.7), (0.2, 0.2, 0.8), (0.1, 0.1, 0.9)), name="more"))
    table = capability(models, SPEC, probe, ("11",), 16, seed=0, fresh_seed=1, sampler=coin_sampler,
                       protocols=protocols)
    _, selected = table.curve("11", "capability")
    _, fresh = table.curve("11", "capability_fresh")
    _, behaviour = table.curve("11", "behaviour_fresh")
    assert selected.mean() > 0.62  # max of 9 estimates of 0.5 on 16 samples: about 0.5 + 1.5 SE (0.125)
    assert abs(fresh.mean() - 0.5) < 0.06 and abs(behaviour.mean() - 0.5) < 0.06  # unbiased, SE 0.028
    assert selected.mean() - fresh.mean() > 0.1
    # one fresh row per protocol and checkpoint, for the variant chosen on the selection samples, same budget
    assert len(table.fresh) == 20 * 3
    for row in table.summary:
        mine = [r for r in table.variants if r["step"] == row["step"]]
        best = max(mine, key=lambda r: r["joint"])
        assert row["capability"] == best["joint"]
        chosen = next(r for r in table.fresh if r["step"] == row["step"] and r["protocol"] == row["best_protocol"])
        assert chosen["variant"] == row["best_variant"] and chosen["joint"] == row["capability_fresh"]
        naive = next(r for r in table.fresh if r["step"] == row["step"] and r["protocol"] == "naive")
        assert len(naive["correct"]) == len(chosen["correct"]) == 16 and naive["joint"] == row["behaviour_fresh"]
    steps, correct = table.correct("11")
    assert correct.shape == (20, 16) and np.allclose(correct.mean(1), fresh)
    _, naive_sel = table.correct("11", "naive", fresh=False)
    assert np.allclose(naive_sel.mean(1), table.curve("11", "behaviour")[1])


def test_fresh_score_keeps_a_truly_better_variant_and_controls_never_win(probe, tmp_path):
    class SetBlueControl(SetBlue):
        name = "set-blue-control"
        control_of = "overprompt"
        matches = "a stand-in: the edit of set-blue"

    models = {s: Renderer(0.5) for s in range(3)}
    table = capability(models, SPEC, probe, ("11",), 16, seed=0, fresh_seed=1, sampler=coin_sampler,
                       protocols=(Overprompt(), SetBlue()), controls=(SetBlueControl(),))
    assert table.controls == ["set-blue-control"]
    for row in table.summary:
        assert row["best_protocol"] == "set-blue" and row["capability_fresh"] == 1.0
    table = capability(models, SPEC, probe, ("11",), 16, seed=0, fresh_seed=1, sampler=coin_sampler,
                       protocols=(Overprompt(),), controls=(SetBlueControl(),))
    for row in table.summary:
        assert row["best_protocol"] != "set-blue-control"
    _, ctl = table.correct("11", "set-blue-control")
    assert ctl.shape == (3, 16) and ctl.all()
    assert table.control_of == {"set-blue-control": "overprompt"}
    assert table.matches == {"set-blue-control": "a stand-in: the edit of set-blue"}
    back = CapabilityTable.from_json(table.to_json(tmp_path / "t.json"))
    assert back.fresh == table.fresh and back.controls == table.controls and back.summary == table.summary
    assert back.control_of == table.control_of and back.matches == table.matches
    header = table.to_csv(tmp_path / "s.csv").read_text().splitlines()[0]
    assert header.endswith("behaviour_fresh,capability_fresh")
    with pytest.raises(ValueError, match="unique"):
        capability(models, SPEC, probe, ("11",), 2, sampler=coin_sampler, protocols=(SetBlue(),), controls=(SetBlue(),))
    with pytest.raises(ValueError, match="fresh_seed"):
        capability(models, SPEC, probe, ("11",), 2, seed=3, fresh_seed=3, sampler=coin_sampler)
    # a control must state what it matches and control a protocol that is measured
    with pytest.raises(ValueError, match="must state what it matches"):
        capability(models, SPEC, probe, ("11",), 2, sampler=coin_sampler, controls=(SetBlue(),))
    with pytest.raises(ValueError, match="not one of the protocols"):
        capability(models, SPEC, probe, ("11",), 2, sampler=coin_sampler, protocols=(SetBlue(),),
                   controls=(SetBlueControl(),))
    with pytest.raises(KeyError, match="fresh"):
        capability(models, SPEC, probe, ("11",), 2, sampler=coin_sampler).curve("11", "capability_fresh")


def test_table_records_delta_e_of_each_variant_and_the_matched_control_equals_the_real(probe, tmp_path):
    real = LatentIntervention(alphas=(1.0, 4.0), betas=(0.25, 1.0))
    controls = (RandomDirectionIntervention(real, seed=3), OtherConceptIntervention(real))
    models = {0: Renderer(0.5), 1: Renderer(0.2)}
    table = capability(models, SPEC, probe, ("11", "01"), 4, seed=0, fresh_seed=1, sampler=render_sampler,
                       protocols=(Overprompt(), real), controls=controls)
    rows = {(r["step"], r["class"], r["variant"]): r for r in table.variants}
    for (step, cls, variant), r in rows.items():
        assert r["e_norm"] > 0 and r["delta_e"] >= 0
        if variant == "naive":
            assert r["delta_e"] == 0.0
        if variant.startswith("intervention["):
            ctl = rows[(step, cls, variant.replace("intervention[", "intervention-control["))]
            assert ctl["delta_e"] == pytest.approx(r["delta_e"], rel=1e-5) and r["delta_e"] > 0
            assert ctl["e_norm"] == r["e_norm"]
    # the shift of the chosen variants, per checkpoint, as a verdict would record it
    shift = table.shift("11", "intervention-control")
    assert shift["steps"] == [0, 1] and all(v.startswith("intervention-control[") for v in shift["variant"])
    assert shift["delta_e"] == [rows[(s, "11", v)]["delta_e"] for s, v in zip(shift["steps"], shift["variant"])]
    assert table.shift("11", "naive")["delta_e"] == [0.0, 0.0] and len(table.shift("11")["e_norm"]) == 2
    assert table.control_of == {"intervention-control": "intervention",
                                "intervention-other-concept-control": "intervention"}
    header = table.to_csv(tmp_path / "v.csv", "variants").read_text().splitlines()[0]
    assert header.endswith("delta_e,e_norm")
    back = CapabilityTable.from_json(table.to_json(tmp_path / "t.json"))
    assert back.shift("11", "intervention") == table.shift("11", "intervention")
    old = CapabilityTable(table.metric, [{k: v for k, v in r.items() if k != "delta_e"} for r in table.variants],
                          table.summary)
    with pytest.raises(KeyError, match="delta_e"):
        old.shift("11", "naive", fresh=False)


def test_bad_input(probe):
    sampler = CountingSampler()
    with pytest.raises(ValueError, match="unknown class"):
        capability(Renderer(), SPEC, probe, ("1",), 2, sampler=sampler)
    no_size = ConceptProbe(ProbeConfig(("color",), image_size=16))
    no_size.heldout_accuracy = {"color": 1.0}
    with pytest.raises(KeyError, match="size"):
        capability(Renderer(), SPEC, no_size, ("11",), 2, sampler=sampler)
    with pytest.raises(ValueError, match="series"):
        capability(Renderer(), SPEC, probe, ("11",), 2, sampler=sampler, protocols=(EmbeddingPatch(),))
    with pytest.raises(ValueError, match="metric"):
        capability(Renderer(), SPEC, probe, ("11",), 2, sampler=sampler, metric="best")
    with pytest.raises(ValueError, match="variants"):
        capability(Renderer(), SPEC, probe, ("11",), 2, sampler=sampler, protocols=(object(),))
    with pytest.raises(KeyError, match="cond_embedd"):
        capability(Renderer(), SPEC, probe, ("11",), 2, sampler=sampler,
                   protocols=(LatentIntervention(sites="*.cond_embedd"),))


def test_disentanglement_of_hand_made_embeddings():
    e00 = torch.zeros(4)
    assert float(disentanglement(e00, torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, 2.0, 0, 0]))) == pytest.approx(1.0)
    assert float(disentanglement(e00, torch.tensor([1.0, 1, 0, 0]), torch.tensor([3.0, 3, 0, 0]))) == pytest.approx(0.0, abs=1e-6)
    assert float(disentanglement(e00, torch.tensor([1.0, 1, 0, 0]), torch.tensor([-2.0, -2, 0, 0]))) == pytest.approx(0.0, abs=1e-6)
    base = torch.ones(4)
    at45 = disentanglement(base, base + torch.tensor([1.0, 0, 0, 0]), base + torch.tensor([1.0, 1, 0, 0]))
    assert float(at45) == pytest.approx(1 - 2**-0.5)
    batched = disentanglement(torch.zeros(5, 3), torch.eye(3)[0].expand(5, 3), torch.eye(3)[1].expand(5, 3))
    assert batched.shape == (5,) and torch.allclose(batched, torch.ones(5))
    with pytest.raises(ValueError, match="zero"):
        disentanglement(e00, e00, torch.ones(4))
    with pytest.raises(ValueError, match="shape"):
        disentanglement(torch.zeros(3), torch.zeros(4), torch.zeros(4))


def test_embedding_disentanglement_per_site():
    model = nn.Module()
    model.a = nn.Module()
    model.a.cond_embed = nn.Linear(COND_DIM, 6)  # identity-like: colour and size land on different axes
    model.b = nn.Module()
    model.b.cond_embed = nn.Linear(COND_DIM, 6)  # rank one: every input lands on one axis
    with torch.no_grad():
        model.a.cond_embed.weight.copy_(torch.eye(COND_DIM)[3:9])  # input slot j+3 -> output j
        model.a.cond_embed.bias.zero_()
        w = torch.zeros(6, COND_DIM)
        w[0] = torch.arange(1.0, COND_DIM + 1)
        model.b.cond_embed.weight.copy_(w)
        model.b.cond_embed.bias.fill_(0.3)
    out = embedding_disentanglement(model, SPEC)
    assert set(out.per_site) == {"a.cond_embed", "b.cond_embed"}
    assert out.per_site["a.cond_embed"] == pytest.approx(1.0)
    assert out.per_site["b.cond_embed"] == pytest.approx(0.0, abs=1e-6)
    assert out.mean == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown class"):
        embedding_disentanglement(model, SPEC, classes=("00", "01", "2"))


# ---- a real (tiny) training run: the series, its diffusion sampler, its cond_embed sites ------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from hidcap.training import CheckpointConfig, run_preset, train

    spec = ConceptDataSpec(image_size=16, images_per_class=16)
    cfg = run_preset("tiny", data=spec, steps=4, batch_size=8,
                     checkpoints=CheckpointConfig(steps=(0, 4)), log_every=2)
    return train(cfg, tmp_path_factory.mktemp("tiny_run"), progress=False)


def test_tiny_run_capability_with_series_protocols(tiny_run, probe):
    table = capability(tiny_run, SPEC, probe, ("11",), 2, seed=0, steps=3,
                       protocols=(Overprompt(colors=((0.05, 0.05, 0.95),)),
                                  LatentIntervention(alphas=(4.0,), betas=(1.0,)), EmbeddingPatch()))
    assert sorted({r["step"] for r in table.summary}) == [0, 4]
    for row in table.summary:
        assert row["capability"] >= row["behaviour"]
    assert {r["variant"] for r in table.variants} == {
        "naive", "overprompt[0.05,0.05,0.95]", "intervention[a=4,b=1]", "patch[4]"
    }


@pytest.fixture(scope="module")
def other_seed_run(tmp_path_factory):
    from hidcap.training import CheckpointConfig, run_preset, train

    spec = ConceptDataSpec(image_size=16, images_per_class=16)
    cfg = run_preset("tiny", data=spec, steps=4, batch_size=8, seed=1,
                     checkpoints=CheckpointConfig(steps=(0, 4)), log_every=2)
    return train(cfg, tmp_path_factory.mktemp("other_seed_run"), progress=False)


def test_tiny_run_matched_controls_and_other_seed_patch(tiny_run, other_seed_run, probe):
    """On the real U-Net (conditioning MLPs ending in a GELU): the matched control moves e exactly as far as the
    intervention, and the other-seed patch loads the other run's conditioning MLPs (and only those)."""
    real = LatentIntervention(alphas=(4.0,), betas=(1.0,))
    protocols = (real, EmbeddingPatch())
    controls = control_protocols(protocols, seed=0, donor=other_seed_run.run_dir)
    table = capability(tiny_run, SPEC, probe, ("11",), 2, seed=0, steps=3, protocols=protocols,
                       controls=tuple(controls.values()))
    rows = {(r["step"], r["protocol"]): r for r in table.variants}
    for step in (0, 4):
        assert rows[(step, "intervention-control")]["delta_e"] == pytest.approx(rows[(step, "intervention")]["delta_e"],
                                                                              rel=1e-5)
        assert rows[(step, "patch-control")]["variant"] == "patch-control[4]"
    assert rows[(4, "patch")]["delta_e"] == 0.0  # the last checkpoint patched with itself
    assert rows[(4, "patch-control")]["delta_e"] > 0
    model = tiny_run.load(0)
    (v,) = controls["patch-control"].variants(ProtocolContext(model, SPEC, 0, tiny_run), "11")
    theirs, ours = other_seed_run.state_dict(4), {n: t.clone() for n, t in model.state_dict().items()}
    with v.context() as names:
        now = model.state_dict()
        assert names and all(".cond_embed." in n for n in names)
        for n in names:
            assert torch.equal(now[n], theirs[n].to(now[n].dtype)) and not torch.equal(theirs[n], ours[n])
        assert all(torch.equal(now[n], ours[n]) for n in now if n not in names)
    assert all(torch.equal(t, ours[n]) for n, t in model.state_dict().items())


def test_tiny_run_embedding_disentanglement(tiny_run):
    model = tiny_run.load(-1)
    out = embedding_disentanglement(model, SPEC)
    sites = [n for n, _ in model.named_modules() if n.endswith(".cond_embed")]
    assert list(out.per_site) == sites and len(sites) > 1
    assert all(0.0 <= v <= 1.0 for v in out.per_site.values())
    assert out.mean == pytest.approx(sum(out.per_site.values()) / len(sites))


def test_tiny_run_concept_space_with_the_series_sampler(tiny_run, probe):
    from hidcap.evaluation.concept_scores import concept_space

    table = concept_space(tiny_run, SPEC, probe, ("00", "11"), 2, seed=0, steps=3, max_batch=3)
    assert table.steps == [0, 4]
    pts = np.stack([table.point(s, c) for s in table.steps for c in ("00", "11")])
    assert pts.shape == (4, 2) and np.all((pts >= 0) & (pts <= 1))
    again = concept_space(tiny_run, SPEC, probe, ("00", "11"), 2, seed=0, steps=3, max_batch=3, checkpoints=[4])
    assert again.point(4, "11").tolist() == table.point(4, "11").tolist()
