"""Tests for hidcap.interventions: LinearIntervention, concept_direction, overprompt."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hidcap.interventions import LinearIntervention, concept_direction, overprompt
from hidcap.tracing import Tracer


def test_project_step_matches_formula():
    e = torch.randn(5, 4)
    b = torch.tensor([1.0, 2.0, 0.0, -1.0])
    bh = b / b.norm()
    got = LinearIntervention([(b, 2.0, "project")])(e)
    assert torch.allclose(got, e + 2.0 * (e @ bh)[:, None] * bh)
    # 2-tuple defaults to project; scale -1 removes the component exactly
    removed = LinearIntervention([(b, -1.0)])(e)
    assert torch.allclose(removed @ bh, torch.zeros(5), atol=1e-6)


def test_add_step_and_order():
    e = torch.randn(3, 4)
    d = torch.tensor([0.0, 3.0, 0.0, 4.0])
    got = LinearIntervention([(d, 0.5, "add")])(e)
    assert torch.allclose(got, e + 0.5 * d / 5.0)
    # order matters: add then remove leaves nothing along d; remove then add leaves exactly 1
    li1 = LinearIntervention([(d, 1.0, "add"), (d, -1.0, "project")])
    li2 = LinearIntervention([(d, -1.0, "project"), (d, 1.0, "add")])
    dh = d / 5.0
    assert torch.allclose(li1(e) @ dh, torch.zeros(3), atol=1e-6)
    assert torch.allclose(li2(e) @ dh, torch.ones(3), atol=1e-6)


def test_amplify_suppress_is_the_paper_form():
    e = torch.randn(6, 8)
    b, l = torch.randn(8), torch.randn(8)  # noqa: E741
    alpha, beta = 2.0, 0.5
    bh, lh = b / b.norm(), l / l.norm()
    e1 = e + alpha * (e @ bh)[:, None] * bh
    e2 = e1 - beta * (e1 @ lh)[:, None] * lh
    got = LinearIntervention.amplify_suppress(b, alpha, l, beta)(e)
    assert torch.allclose(got, e2, atol=1e-6)


def test_channel_axis_for_feature_maps():
    e = torch.randn(2, 4, 3, 3)
    d = torch.randn(4)
    dh = d / d.norm()
    got = LinearIntervention([(d, 1.5)], dim=1)(e)
    coef = torch.einsum("bchw,c->bhw", e, dh)
    expected = e + 1.5 * coef[:, None] * dh[None, :, None, None]
    assert torch.allclose(got, expected, atol=1e-6)
    # the input is not modified in place
    assert not torch.equal(got, e)


def test_as_tracer_edit_on_every_cond_embed():
    torch.manual_seed(0)
    model = nn.ModuleDict({"a": nn.ModuleDict({"cond_embed": nn.Linear(3, 4)}),
                           "b": nn.ModuleDict({"cond_embed": nn.Linear(3, 4)})})
    c = torch.randn(2, 3)
    b, l = torch.randn(4), torch.randn(4)  # noqa: E741
    li = LinearIntervention.amplify_suppress(b, 1.0, l, 0.25)
    with Tracer(model, ["*.cond_embed"], edits={"*.cond_embed": li}) as tr:
        outs = [model["a"]["cond_embed"](c), model["b"]["cond_embed"](c)]
    for name, out, mod in zip(["a.cond_embed", "b.cond_embed"], outs, [model["a"]["cond_embed"], model["b"]["cond_embed"]]):
        assert torch.allclose(out, li(mod(c)))
        assert torch.allclose(tr[name], out.detach())


def test_intervention_errors():
    with pytest.raises(ValueError, match="wrong|does not match"):
        LinearIntervention([(torch.ones(3), 1.0)])(torch.randn(2, 4))
    with pytest.raises(ValueError, match="does not match"):
        LinearIntervention([(torch.ones(4), 1.0)], dim=1)(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="non-zero norm"):
        LinearIntervention([(torch.zeros(3), 1.0)])
    with pytest.raises(ValueError, match="1-D"):
        LinearIntervention([(torch.ones(2, 3), 1.0)])
    with pytest.raises(ValueError, match="mode"):
        LinearIntervention([(torch.ones(3), 1.0, "scale")])
    with pytest.raises(ValueError, match="same length"):
        LinearIntervention([(torch.ones(3), 1.0), (torch.ones(4), 1.0)])
    with pytest.raises(ValueError, match="at least one"):
        LinearIntervention([])
    with pytest.raises(ValueError, match="scale must be a number"):
        LinearIntervention([(torch.ones(3), "big")])
    with pytest.raises(ValueError, match="out of range"):
        LinearIntervention([(torch.ones(3), 1.0)], dim=2)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="tensor output"):
        LinearIntervention([(torch.ones(3), 1.0)])((torch.randn(2, 3),), 0)


class Cond(nn.Module):
    def __init__(self):
        super().__init__()
        self.cond_embed = nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 5))


def test_concept_direction_mean_and_baseline():
    model = Cond()
    blue = torch.tensor([[0.05, 0.05, 0.95], [0.1, 0.1, 0.9]])
    red = torch.tensor([[0.95, 0.05, 0.05]])
    with torch.no_grad():
        mean_b = model.cond_embed(blue).mean(0)
        mean_r = model.cond_embed(red).mean(0)
    d = concept_direction(model, "cond_embed", blue)
    assert d.shape == (5,) and torch.allclose(d, mean_b / mean_b.norm())
    d2 = concept_direction(model, "cond_embed", blue, baseline=red)
    diff = mean_b - mean_r
    assert torch.allclose(d2, diff / diff.norm())
    d3 = concept_direction(model, "cond_embed", blue[0])  # a single vector works too
    one = model.cond_embed(blue[:1]).detach()[0]
    assert torch.allclose(d3, one / one.norm())
    assert not d.requires_grad


def test_concept_direction_errors():
    model = Cond()
    x = torch.randn(2, 3)
    with pytest.raises(KeyError, match="closest"):
        concept_direction(model, "cond_embd", x)
    with pytest.raises(ValueError, match="exactly one"):
        concept_direction(model, "cond_embed.*", x)
    with pytest.raises(ValueError, match=r"\(B, D_in\)"):
        concept_direction(model, "cond_embed", torch.randn(2, 3, 1))
    with pytest.raises(ValueError, match="zero"):
        concept_direction(model, "cond_embed", x, baseline=x)
    shaped = nn.Module()
    shaped.site = nn.Unflatten(1, (2, 2))  # (B, 4) -> (B, 2, 2): not a (B, C) output
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        concept_direction(shaped, "site", torch.randn(2, 4))


def test_overprompt():
    src = torch.tensor([0.5, 0.5, 0.5])
    tgt = torch.tensor([0.4, 0.4, 0.6])
    out = overprompt(src, tgt, [0.0, 1.0, 2.0, 5.5])
    assert out.shape == (4, 3)
    assert torch.allclose(out[0], src) and torch.allclose(out[1], tgt)
    assert torch.allclose(out[3], torch.tensor([-0.05, -0.05, 1.05]))  # the paper's [.05,.05,.95] reached at 4.5
    assert torch.allclose(overprompt(src, tgt, [4.5])[0], torch.tensor([0.05, 0.05, 0.95]))
    assert overprompt([0, 1], [1, 1], 3.0).tolist() == [[3.0, 1.0]]
    with pytest.raises(ValueError, match="same shape"):
        overprompt(src, torch.ones(4), [1.0])
    with pytest.raises(ValueError, match="factors"):
        overprompt(src, tgt, [])
    with pytest.raises(ValueError, match="1-D"):
        overprompt(torch.ones(2, 3), torch.ones(2, 3), [1.0])
