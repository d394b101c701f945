"""Tests for hidcap.tracing: module resolution, recording, call selection, edits, replacement, hook hygiene."""
from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch import nn

from hidcap.tracing import TraceError, Tracer, resolve_modules


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.norm = nn.GroupNorm(2, c)
        self.cond_embed = nn.Linear(3, c)

    def forward(self, x, cond):
        return torch.relu(self.norm(self.conv(x)) + self.cond_embed(cond)[:, :, None, None])


class TinyNet(nn.Module):
    """A miniature U-Net-like model with nested blocks and a `cond_embed` in each block."""

    def __init__(self, c: int = 4):
        super().__init__()
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.downs = nn.ModuleList([nn.ModuleDict({"res": nn.ModuleList([Block(c), Block(c)])}) for _ in range(2)])
        self.mid = Block(c)
        self.out = nn.Conv2d(c, 1, 1)

    def forward(self, x, cond):
        h = self.inp(x)
        for d in self.downs:
            for b in d["res"]:
                h = b(h, cond)
        h = self.mid(h, cond)
        return self.out(h)


Pair = namedtuple("Pair", "a b")


class TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        y = self.lin(x)
        return Pair(y, {"scale": 2.0, "neg": -y, "mask": y > 0})


class Twice(nn.Module):
    """Calls the same submodule twice per forward."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.lin(self.lin(x)))


def _inputs(b: int = 2):
    return torch.randn(b, 1, 6, 6), torch.randn(b, 3)


def _hook_counts(model: nn.Module) -> list[tuple[int, int, int]]:
    return [
        (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._forward_hooks_with_kwargs))
        for m in model.modules()
    ]


# -- resolve_modules ---------------------------------------------------------------------------
def test_resolve_exact_and_glob_in_model_order():
    model = TinyNet()
    assert resolve_modules(model, "mid") == ["mid"]
    # `*` crosses dots; result in model order, duplicates merged
    got = resolve_modules(model, ["mid.cond_embed", "*.cond_embed"])
    assert got == [
        "downs.0.res.0.cond_embed", "downs.0.res.1.cond_embed",
        "downs.1.res.0.cond_embed", "downs.1.res.1.cond_embed", "mid.cond_embed",
    ]
    assert resolve_modules(model, "downs.0.res.?.conv") == ["downs.0.res.0.conv", "downs.0.res.1.conv"]
    assert resolve_modules(model, "") == [""]
    assert "" not in resolve_modules(model, "*")


def test_resolve_unknown_pattern_names_closest():
    model = TinyNet()
    with pytest.raises(KeyError) as err:
        resolve_modules(model, ["mid", "mid.cond_embedd"])
    msg = str(err.value)
    assert "mid.cond_embedd" in msg and "'mid.cond_embed'" in msg
    with pytest.raises(KeyError, match="downs.9"):
        resolve_modules(model, "downs.9.*")
    with pytest.raises(ValueError, match="strings"):
        resolve_modules(model, [3])


# -- recording ---------------------------------------------------------------------------------
def test_recorded_outputs_match_hand_registered_hooks():
    model = TinyNet()
    names = resolve_modules(model, ["downs.*.conv", "mid", "*.cond_embed"])
    expected: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    mods = dict(model.named_modules())
    handles = [
        mods[n].register_forward_hook(lambda m, a, o, n=n: expected[n].append(o.detach().clone())) for n in names
    ]
    x, c = _inputs()
    with Tracer(model, ["downs.*.conv", "mid", "*.cond_embed"]) as tr:
        y = model(x, c)
    for h in handles:
        h.remove()
    assert tr.names == names
    for n in names:
        assert torch.equal(tr[n], expected[n][-1])
        assert torch.equal(tr.stack(n), torch.stack(expected[n]))
        assert not tr[n].requires_grad
    assert torch.equal(y, model(x, c))  # recording does not change the output


def test_module_called_several_times_records_every_call():
    model = Twice()
    x = torch.randn(4, 3)
    with Tracer(model, ["lin"]) as tr:
        model(x)
        model(x)
    assert tr.calls("lin") == 4
    st = tr.stack("lin")
    assert st.shape == (4, 4, 3)
    first = model.lin(x)
    assert torch.allclose(st[0], first) and torch.allclose(st[1], model.lin(first))
    assert torch.equal(tr["lin"], st[-1])
    assert tr.call_indices("lin") == [0, 1, 2, 3]


def test_tuple_and_dict_outputs_record_tensor_leaves():
    model = TupleOut()
    x = torch.randn(2, 3)
    with Tracer(model, [""], dtype=torch.float64) as tr:
        model(x)
    rec = tr[""]
    y = model.lin(x)
    assert isinstance(rec, tuple) and len(rec) == 3  # y, neg, mask; the float 2.0 is dropped
    assert torch.allclose(rec[0], y.double()) and torch.allclose(rec[1], -y.double())
    assert rec[2].dtype == torch.bool  # only floating leaves are cast
    stacked = tr.stack("")
    assert isinstance(stacked, tuple) and stacked[0].shape == (1, 2, 3)


def test_record_inputs_positional_and_keyword():
    model = TinyNet()
    x, c = _inputs()
    with Tracer(model, ["mid", "mid.cond_embed"], record_inputs=True) as tr:
        model(x, cond=c)
    h_in, c_in = tr.inputs("mid")
    assert torch.equal(c_in, c) and h_in.shape == (2, 4, 6, 6)
    assert torch.equal(tr.inputs("mid.cond_embed")[0], c)
    assert tr.stack_inputs("mid")[1].shape == (1, 2, 3)


def test_record_inputs_keyword_call():
    model = TinyNet()
    x, c = _inputs()
    with Tracer(model, [""], record_inputs=True) as tr:
        model(x, cond=c)
    got_x, got_c = tr.inputs("")
    assert torch.equal(got_x, x) and torch.equal(got_c, c)
    with Tracer(model, [""]) as tr2:
        model(x, c)
    with pytest.raises(KeyError, match="record_inputs=True"):
        tr2.inputs("")


def test_detach_false_keeps_graph():
    model = Twice()
    x = torch.randn(2, 3)
    with Tracer(model, ["lin"], detach=False) as tr:
        model(x)
    rec = tr["lin"]
    assert rec.requires_grad
    rec.sum().backward()
    assert model.lin.weight.grad is not None


def test_device_dtype_and_reduce():
    model = Twice()
    x = torch.randn(5, 3)
    with Tracer(model, ["head"], device="cpu", dtype=torch.float16, reduce=lambda t: t.mean(0)) as tr:
        y = model(x)
    assert tr["head"].dtype == torch.float16 and tr["head"].shape == (2,)
    assert torch.allclose(tr["head"].float(), y.mean(0), atol=1e-3)
    with Tracer(model, ["head"], reduce=lambda t: 3) as bad:
        with pytest.raises(ValueError, match="reduce must return a tensor"):
            model(x)
    assert bad.calls("head") == 1


@pytest.mark.parametrize(
    ("calls", "kept"),
    [
        (None, [0, 1, 2, 3, 4]),
        (2, [2]),
        (-1, [4]),
        (-2, [3]),
        ({0, 3}, [0, 3]),
        (range(1, 5, 2), [1, 3]),
        (slice(1, None, 2), [1, 3]),
        (slice(None, 2), [0, 1]),
        (slice(-3, None), [2, 3, 4]),
    ],
)
def test_calls_selection(calls, kept):
    model = Twice()
    xs = [torch.full((1, 3), float(i)) for i in range(5)]
    with Tracer(model, ["head"], calls=calls) as tr:
        outs = [model(x) for x in xs]
    assert tr.calls("head") == 5
    assert tr.call_indices("head") == kept
    assert torch.equal(tr.stack("head"), torch.stack([outs[i] for i in kept]).detach())


def test_calls_selection_keeps_none_and_invalid():
    model = Twice()
    with Tracer(model, ["head"], calls=-3) as tr:
        model(torch.randn(1, 3))
    with pytest.raises(KeyError, match="kept none"):
        tr["head"]
    for bad in (True, {-1}, slice(-2, 5), slice(0, -1), slice(0, None, 0), "x", 1.5):
        with pytest.raises(ValueError, match="calls"):
            Tracer(model, ["head"], calls=bad)


def test_read_errors():
    model = TinyNet()
    with Tracer(model, ["mid"], edits={"out": lambda o, i: o}) as tr:
        pass
    with pytest.raises(KeyError, match="never called"):
        tr["mid"]
    with pytest.raises(KeyError, match="not traced"):
        tr["inp"]
    with pytest.raises(KeyError, match="not recorded"):
        tr["out"]
    assert "mid" in tr and "out" not in tr
    assert tr.hooked_names == ["mid", "out"]


def test_stack_shape_mismatch_is_clear():
    model = nn.Linear(3, 2)
    with Tracer(model, [""]) as tr:
        model(torch.randn(1, 3))
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="shapes differ"):
        tr.stack("")
    assert [r.shape[0] for r in tr.records("")] == [1, 2]


def test_reentry_resets_and_clear():
    model = Twice()
    x = torch.randn(1, 3)
    tr = Tracer(model, ["head"])
    with tr:
        model(x)
        model(x)
    with tr:
        model(x)
        assert tr.calls("head") == 1
        tr.clear()
        assert tr.calls("head") == 0
        model(x)
    assert tr.calls("head") == 1
    with tr:
        with pytest.raises(RuntimeError, match="already active"):
            tr.__enter__()


# -- edits and replacement -----------------------------------------------------------------------
def test_edits_change_output_exactly_and_receive_call_index():
    model = Twice()
    x = torch.randn(2, 3)
    seen: list[int] = []

    def edit(out, i):
        seen.append(i)
        return out * 2 + i

    with Tracer(model, ["lin"], edits={"lin": edit}) as tr:
        y = model(x)
    assert seen == [0, 1]
    h0 = model.lin(x) * 2 + 0
    h1 = model.lin(h0) * 2 + 1
    assert torch.allclose(y, model.head(h1))
    assert torch.allclose(tr["lin"], h1)  # recorded after the edit
    with torch.no_grad():
        assert torch.allclose(model(x), model.head(model.lin(model.lin(x))))  # no edit after exit


def test_edit_by_glob_applies_to_every_match_in_order():
    model = TinyNet()
    x, c = _inputs()
    with Tracer(model, edits={"*.cond_embed": lambda o, i: torch.zeros_like(o)}) as tr:
        y = model(x, c)
    assert tr.names == [] and len(tr.hooked_names) == 5
    with Tracer(model, ["mid.cond_embed"], edits={"mid.cond_embed": lambda o, i: o + 1, "mid.*": lambda o, i: o * 3}) as tr2:
        model(x, c)
    assert torch.allclose(tr2["mid.cond_embed"], (model.mid.cond_embed(c) + 1) * 3)

    # the zeroed-embedding output equals a model whose cond_embed biases and weights are zero
    zeroed = TinyNet()
    zeroed.load_state_dict(model.state_dict())
    with torch.no_grad():
        for n, m in zeroed.named_modules():
            if n.endswith("cond_embed"):
                m.weight.zero_()
                m.bias.zero_()
        assert torch.allclose(y, zeroed(x, c), atol=1e-6)


def test_edit_returning_none_or_not_callable():
    model = Twice()
    with Tracer(model, edits={"lin": lambda o, i: None}):
        with pytest.raises(ValueError, match="returned None"):
            model(torch.randn(1, 3))
    with pytest.raises(ValueError, match="callable"):
        Tracer(model, edits={"lin": 3})


def test_replace_activation_patching_from_recorded():
    model = TinyNet()
    x_a, c_a = _inputs()
    x_b, c_b = _inputs()
    with Tracer(model, ["mid"]) as src:
        y_a = model(x_a, c_a)
    with Tracer(model, ["mid"], replace={"mid": src["mid"]}) as tr:
        y = model(x_b, c_b)
    assert torch.allclose(y, y_a)  # everything downstream of mid only sees mid's output
    assert torch.equal(tr["mid"], src["mid"])


def test_replace_per_call_index():
    model = Twice()
    x = torch.randn(2, 3)
    r = torch.ones(2, 3)
    with Tracer(model, ["lin"], replace={"lin": {1: r}}) as tr:
        y = model(x)
    assert torch.allclose(y, model.head(r))
    assert torch.allclose(tr.stack("lin")[0], model.lin(x))
    with Tracer(model, replace={"lin": [r, 2 * r]}):
        y2 = model(x)
    assert torch.allclose(y2, model.head(2 * r))


def test_replace_tuple_output_with_recorded_leaves():
    model = TupleOut()
    x1, x2 = torch.randn(2, 3), torch.randn(2, 3)
    with Tracer(model, [""]) as src:
        model(x1)
    with Tracer(model, replace={"": src[""]}):
        out = model(x2)
    assert isinstance(out, Pair) and out.b["scale"] == 2.0
    assert torch.allclose(out.a, model.lin(x1)) and torch.equal(out.b["mask"], model.lin(x1) > 0)


def test_replace_mismatch_errors():
    model = Twice()
    x = torch.randn(2, 3)
    with Tracer(model, replace={"head": torch.zeros(5, 2)}):
        with pytest.raises(ValueError, match=r"'head'.*expected \(2, 2\), got \(5, 2\)"):
            model(x)
    with Tracer(model, replace={"head": torch.zeros(2, 2, dtype=torch.float64)}):
        with pytest.raises(ValueError, match=r"'head'.*dtype mismatch, expected torch.float32, got torch.float64"):
            model(x)
    with Tracer(TupleOut(), replace={"": (torch.zeros(2, 3),)}) as tr:
        with pytest.raises(ValueError, match="3 tensor leaves, got 1"):
            tr.model(x)
    with pytest.raises(ValueError, match="tensor"):
        Tracer(model, replace={"head": "zeros"})
    with pytest.raises(ValueError, match="call indices"):
        Tracer(model, replace={"head": {-1: torch.zeros(2, 2)}})
    with pytest.raises(ValueError, match="more than one replace key"):
        Tracer(model, replace={"head": torch.zeros(2, 2), "he*": torch.zeros(2, 2)})


# -- hook hygiene ------------------------------------------------------------------------------
def test_hooks_removed_after_exception():
    model = TinyNet()
    before = _hook_counts(model)
    with pytest.raises(RuntimeError, match="boom"):
        with Tracer(model, ["*"], edits={"mid": lambda o, i: o}, record_inputs=True):
            assert _hook_counts(model) != before
            model(*_inputs())
            raise RuntimeError("boom")
    assert _hook_counts(model) == before


def test_hooks_removed_when_forward_raises_in_edit():
    model = Twice()
    before = _hook_counts(model)

    def bad(o, i):
        raise ArithmeticError("bad edit")

    with pytest.raises(ArithmeticError):
        with Tracer(model, ["head"], edits={"lin": bad}):
            model(torch.randn(1, 3))
    assert _hook_counts(model) == before


def test_nested_tracers():
    model = TinyNet()
    user_hook = model.mid.register_forward_hook(lambda m, a, o: None)
    before = _hook_counts(model)
    x, c = _inputs()
    with Tracer(model, ["mid"]) as outer:
        with Tracer(model, ["mid", "inp"], edits={"out": lambda o, i: o + 1}) as inner:
            y = model(x, c)
        assert _hook_counts(model) != before
        model(x, c)
    assert _hook_counts(model) == before
    user_hook.remove()
    assert outer.calls("mid") == 2 and inner.calls("mid") == 1
    assert torch.equal(outer.stack("mid")[0], inner["mid"])
    assert torch.allclose(y, model(x, c) + 1)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="nn.Module"):
        Tracer("model", ["x"])
    model = Twice()
    with pytest.raises(ValueError, match="reduce"):
        Tracer(model, ["lin"], reduce=3)
    with pytest.raises(ValueError, match="dtype"):
        Tracer(model, ["lin"], dtype="float16")
    with pytest.raises(KeyError, match="closest"):
        Tracer(model, ["lni"])
    with pytest.raises(KeyError):
        Tracer(model, edits={"nope": lambda o, i: o})


def test_nested_outer_records_before_inner_edit():
    model = Twice()
    x = torch.randn(1, 3)
    with Tracer(model, ["head"]) as outer:
        with Tracer(model, ["head"], edits={"head": lambda o, i: o * 0}) as inner:
            y = model(x)
    assert torch.equal(inner["head"], torch.zeros(1, 2)) and torch.equal(y, torch.zeros(1, 2))
    assert torch.allclose(outer["head"], model(x))


# -- errors: public class, containers, edit shapes ------------------------------------------------
def _tiny_unet():
    from hidcap.models import UNet
    from hidcap.models.presets import tiny

    torch.manual_seed(0)
    return UNet(tiny()).eval()


def _unet_inputs(b: int = 2):
    g = torch.Generator().manual_seed(1)
    return torch.randn(b, 3, 16, 16, generator=g), torch.full((b,), 0.5), torch.rand(b, 12, generator=g)


def test_trace_error_is_public_keyerror():
    import hidcap

    assert hidcap.TraceError is TraceError and issubclass(TraceError, KeyError)
    with pytest.raises(TraceError, match="closest names"):
        Tracer(TinyNet(), ["mid.cnov"])
    with Tracer(TinyNet(), ["mid"]) as tr:
        pass
    with pytest.raises(TraceError, match="never called"):
        tr["mid"]


def test_container_never_called_is_refused_at_construction_naming_children():
    model = _tiny_unet()
    for kwargs in ({"patterns": ["mid"]}, {"replace": {"mid": torch.zeros(2, 16, 8, 8)}},
                   {"edits": {"mid": lambda o, i: o}}, {"patterns": ["downs.0.res"]}):
        with pytest.raises(TraceError) as err:
            Tracer(model, **kwargs)
        msg = str(err.value)
        assert "container" in msg and "never calls" in msg
    # the message names what can be traced instead: callable modules, not the container mid.res
    with pytest.raises(TraceError, match=r"\['mid\.res\.0', 'mid\.res\.1', 'mid\.attn'\]"):
        Tracer(model, ["mid"])


def test_glob_over_containers_hooks_only_callable_modules():
    model = _tiny_unet()
    x, t, c = _unet_inputs()
    with Tracer(model, ["mid.*"], edits={"mid*": lambda o, i: o}) as tr:
        model(x, t, c)
    # mid.res (a ModuleList) is matched by the glob but skipped: names hold only what is recorded
    assert tr.names == ["mid.res.0", *[n for n in resolve_modules(model, "mid.res.0.*")], "mid.res.1",
                        *resolve_modules(model, "mid.res.1.*"), "mid.attn", *resolve_modules(model, "mid.attn.*")]
    assert tr.hooked_names == tr.names
    for name in tr.names:
        assert tr.calls(name) >= 1
        tr[name]  # every listed name is readable
    assert tr["mid.attn"].shape == (2, 16, 8, 8)
    with pytest.raises(TraceError, match="not traced"):
        tr["mid.res"]


def test_glob_matching_only_containers_is_refused_naming_modules_below():
    model = _tiny_unet()
    for kwargs in ({"patterns": ["downs.?", "mid.attn"]}, {"edits": {"downs.?": lambda o, i: o}},
                   {"replace": {"*.res": torch.zeros(1)}}):
        with pytest.raises(TraceError) as err:
            Tracer(model, **kwargs)
        msg = str(err.value)
        assert "matches only containers" in msg and "never calls" in msg
    with pytest.raises(TraceError, match=r"\['downs\.0', 'downs\.1'\].*\['downs\.0\.res\.0', 'downs\.0\.attn\.0', 'downs\.0\.resample', "):
        Tracer(model, ["downs.?"])
    # the glob one level down records what it lists
    x, t, c = _unet_inputs()
    with Tracer(model, ["downs.?.res.?", "mid.attn"]) as tr:
        model(x, t, c)
    assert tr.names == ["downs.0.res.0", "downs.1.res.0", "mid.attn"]
    assert all(tr.calls(n) == 1 and tr[n].shape[0] == 2 for n in tr.names)


def test_edit_changing_shape_names_module_and_call():
    model = TinyNet()
    x, c = _inputs()
    with pytest.raises(ValueError, match=r"edit for module 'mid' at call 0 changed the output shape"):
        with Tracer(model, edits={"mid": lambda o, i: o[:, :2]}):
            model(x, c)
    assert all(n == (0, 0, 0) for n in _hook_counts(model))


def test_edit_with_name_parameter_gets_module_name():
    model = TinyNet()
    x, c = _inputs()
    seen = []

    def edit(out, call_index, name):
        seen.append((name, call_index))
        return out

    with Tracer(model, edits={"downs.0.res.?.conv": edit, "mid": lambda o, i: o}):
        model(x, c)
    assert seen == [("downs.0.res.0.conv", 0), ("downs.0.res.1.conv", 0)]


# -- name resolution ---------------------------------------------------------------------------
def test_name_resolution_follows_module_tree_changes_without_global_hooks():
    from torch.nn.modules import module as torch_module

    registration_hooks = dict(torch_module._global_module_registration_hooks)
    model = TinyNet()
    with pytest.raises(KeyError):
        resolve_modules(model, "extra")
    with pytest.raises(TraceError, match="closest"):
        Tracer(model, ["extra"])
    model.extra = nn.Linear(2, 2)  # registration
    assert resolve_modules(model, "extra") == ["extra"]
    assert Tracer(model, ["extra"]).names == ["extra"]
    model.downs.append(nn.ModuleDict({"res": nn.ModuleList([Block(4)])}))  # deep registration
    assert "downs.2.res.0.conv" in resolve_modules(model, "*.conv")
    assert "downs.2.res.0.conv" in Tracer(model, ["*.conv"]).names
    assert Tracer(model, ["downs.2.res.0.conv"]).names == ["downs.2.res.0.conv"]
    del model.extra  # deletion
    with pytest.raises(KeyError):
        resolve_modules(model, "extra")
    with pytest.raises(TraceError):
        Tracer(model, ["extra"])
    model.mid.conv = nn.Conv2d(4, 4, 1)  # replacement keeps the name; the Tracer hooks the new module
    x, c = _inputs()
    with Tracer(model, ["mid.conv"]) as tr:
        model.downs = model.downs[:2]
        model(x, c)
    assert tr["mid.conv"].shape == (2, 4, 6, 6)
    # resolution is owned by each Tracer: nothing was added to torch's process-wide registration hooks
    assert dict(torch_module._global_module_registration_hooks) == registration_hooks


def test_tracer_names_are_in_model_order_whatever_the_pattern_order():
    model = TinyNet()
    tr = Tracer(model, ["mid", "downs.1.res.0.conv", "inp"], edits={"downs.0.res.1": lambda o, i: o})
    assert tr.names == ["inp", "downs.1.res.0.conv", "mid"]
    assert tr.hooked_names == ["inp", "downs.0.res.1", "downs.1.res.0.conv", "mid"]
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    with Tracer(seq, ["2"]) as tr:  # a second name of a shared module: its hook sees every call
        seq(torch.randn(1, 2))
    assert tr.calls("2") == 2


# -- gradients ---------------------------------------------------------------------------------
def _grads_by_tensor_hooks(model, names, x, c):
    mods = dict(model.named_modules())
    grads: dict[str, dict[int, torch.Tensor]] = {n: {} for n in names}
    counts = {n: 0 for n in names}

    def fwd(n):
        def hook(m, a, o):
            i = counts[n]
            counts[n] += 1
            o.register_hook(lambda g: grads[n].__setitem__(i, g.clone()))
        return hook

    hs = [mods[n].register_forward_hook(fwd(n)) for n in names]
    model(x, c).square().sum().backward()
    for h in hs:
        h.remove()
    return grads


def test_grad_equals_tensor_hook_gradient():
    torch.manual_seed(0)
    model, net2 = TinyNet(), Twice()
    x, c = _inputs()
    names = ["downs.0.res.1", "mid.conv", "mid"]
    expected = _grads_by_tensor_hooks(model, names, x, c)
    model.zero_grad()
    with Tracer(model, names, grad=True) as tr:
        model(x, c).square().sum().backward()
    for n in names:
        assert torch.equal(tr.grad(n), expected[n][0])
        assert torch.equal(tr.stack_grad(n), expected[n][0][None])
    # a module called twice: one gradient per call, in call order
    xin = torch.randn(4, 3)
    with Tracer(net2, ["lin"], grad=True) as tr2:
        net2(xin).sum().backward()
    g = torch.ones(4, 2) @ net2.head.weight  # d/d(second lin output)
    assert tr2.stack_grad("lin").shape == (2, 4, 3)
    assert torch.allclose(tr2.stack_grad("lin")[1], g)
    assert torch.allclose(tr2.stack_grad("lin")[0], g @ net2.lin.weight)


def test_grad_with_calls_and_reduce():
    net = Twice()
    xin = torch.randn(4, 3)
    with Tracer(net, ["lin"], grad=True) as full:
        net(xin).sum().backward()
    for calls, kept in ((1, [1]), (-1, [1]), (slice(-2, None), [0, 1]), ({0}, [0])):
        with Tracer(net, ["lin"], grad=True, calls=calls, reduce=lambda t: t.sum(0)) as tr:
            net(xin).sum().backward()
        assert tr.call_indices("lin") == kept
        assert torch.allclose(tr.stack_grad("lin"), full.stack_grad("lin")[kept].sum(1))
        assert torch.allclose(tr.grad("lin"), full.stack_grad("lin")[kept[-1]].sum(0))


def test_grad_errors_are_clear():
    net = Twice()
    with Tracer(net, ["lin"]) as tr:
        net(torch.randn(2, 3))
    with pytest.raises(KeyError, match="grad=True"):
        tr.grad("lin")
    with torch.no_grad(), Tracer(net, ["lin"], grad=True) as tr:
        net(torch.randn(2, 3))
    with pytest.raises(KeyError, match="backward"):
        tr.grad("lin")
    with pytest.raises(ValueError, match="tensor outputs"):
        tup_model = TupleOut()
        with Tracer(tup_model, [""], grad=True):
            tup_model(torch.randn(2, 3))


# -- early stop --------------------------------------------------------------------------------
def test_stop_ends_forward_after_last_recorded_module():
    model = TinyNet()
    x, c = _inputs()
    with Tracer(model, ["downs.0.res.1"]) as full:
        model(x, c)
    after = []
    with Tracer(model, ["downs.0.res.1"], stop=True) as tr:
        with Tracer(model, ["mid", "out"]) as later:  # an inner tracer does not swallow the outer stop
            model(x, c)
            after.append("ran")  # skipped: the forward raised out of the block
        after.append("ran too")
    assert after == []
    assert torch.equal(tr["downs.0.res.1"], full["downs.0.res.1"])
    assert later.calls("mid") == 0 and later.calls("out") == 0
    assert all(n == (0, 0, 0) for n in _hook_counts(model))
    with pytest.raises(ValueError, match="stop=True"):
        Tracer(model, ["mid"], stop=True, calls=-1)
    # waits for a kept call
    net = Twice()
    with Tracer(net, ["lin"], stop=True, calls=1) as tr, Tracer(net, ["head"]) as head:
        net(torch.randn(2, 3))
    assert tr.call_indices("lin") == [1] and head.calls("head") == 0


# -- compiled models ---------------------------------------------------------------------------
def _compile_or_skip(model, **kwargs):
    compiled = torch.compile(model, **kwargs)
    x, c = _inputs()
    try:
        compiled(x, c)
    except Exception as err:  # only a failing compiler skips
        pytest.skip(f"torch.compile({kwargs}) fails on this machine: {type(err).__name__}: {err}")
    return compiled


@pytest.mark.parametrize("backend", ["eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compiled_model_is_traced_not_silently_empty(backend):
    torch.manual_seed(0)
    model = TinyNet()
    compiled = _compile_or_skip(model, backend=backend)
    x, c = _inputs()
    with Tracer(model, ["mid.conv", "mid"]) as eager:
        y_eager = model(x, c)
    delta = torch.full((2, 4, 6, 6), 0.25)
    for target in (compiled, model):  # the wrapper (names without _orig_mod) and the wrapped model
        with Tracer(target, ["mid.conv", "mid"]) as tr:
            y = compiled(x, c)
        assert tr.calls("mid") == 1
        assert torch.equal(tr["mid.conv"], eager["mid.conv"]) and torch.equal(tr["mid"], eager["mid"])
        assert torch.allclose(y, y_eager, atol=1e-5)
        with Tracer(target, edits={"mid": lambda o, i: o + delta}):
            y_edit = compiled(x, c)
        assert not torch.allclose(y_edit, y_eager, atol=1e-3)
        assert torch.allclose(y_edit, model.out(eager["mid"] + delta), atol=1e-5)
    assert torch.allclose(compiled(x, c), y_eager, atol=1e-5)  # compiled again after the block


# -- recordings on disk ------------------------------------------------------------------------
def test_to_disk_equals_memory_and_reads_lazily(tmp_path):
    from hidcap.tracing import Recording, load

    model = TinyNet()
    x, c = _inputs()
    with Tracer(model, ["mid", "*.cond_embed"], calls=slice(0, None, 2)) as mem:
        for _ in range(5):
            model(x, c)
    with Tracer(model, ["mid", "*.cond_embed"], calls=slice(0, None, 2), to=tmp_path / "rec", shard_mb=0.001) as tr:
        for _ in range(5):
            model(x, c)
        with pytest.raises(RuntimeError, match="after the with block"):
            tr["mid"]
    assert isinstance(tr.recording, Recording)
    assert len(list((tmp_path / "rec").glob("shard_*.safetensors"))) > 1
    rec = load(tmp_path / "rec")
    for n in mem.names:
        assert rec.call_indices(n) == mem.call_indices(n) == tr.call_indices(n) == [0, 2, 4]
        assert torch.equal(rec.stack(n), mem.stack(n)) and torch.equal(tr[n], mem[n])
    assert torch.equal(rec.get("mid", 2), mem.records("mid")[1])
    saved = mem.save(tmp_path / "saved")
    assert torch.equal(saved.stack("mid"), mem.stack("mid"))
    tup_model = TupleOut()
    with Tracer(tup_model, [""]) as tup:
        tup_model(torch.randn(2, 3))
    assert all(torch.equal(a, b) for a, b in zip(tup.save(tmp_path / "tup")[""], tup[""]))
    with pytest.raises(FileExistsError):
        mem.save(tmp_path / "saved")
    with pytest.raises(KeyError, match="closest"):
        rec["midd"]
    with pytest.raises(ValueError, match="last calls"):
        Tracer(model, ["mid"], calls=-1, to=tmp_path / "x")
    with Tracer(model, ["mid"], to=tmp_path / "g", grad=True) as tr:  # gradients stay in memory
        model(x, c).sum().backward()
    with Tracer(model, ["mid"], grad=True) as ref:
        model(x, c).sum().backward()
    assert torch.equal(tr.grad("mid"), ref.grad("mid")) and torch.equal(tr["mid"], ref["mid"])


_STREAM_SCRIPT = r"""
import re, sys, torch
from torch import nn
from hidcap.tracing import Tracer, load
def rss_mib():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024
def hwm_mib():
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024
model = nn.Sequential(nn.Linear(256, 4096), nn.Linear(4096, 256))
x = torch.randn(64, 256)  # the first layer's output: 64 x 4096 floats = 1 MiB per call
with torch.no_grad():
    model(x)
open("/proc/self/clear_refs", "w").write("5")  # reset the peak
base = rss_mib()
with torch.no_grad(), Tracer(model, ["0"], to=sys.argv[1], shard_mb=8) as tr:
    for _ in range(int(sys.argv[2])):
        model(x)
grow = hwm_mib() - base
rec = load(sys.argv[1])
total = 0
for i, r in rec.iter("0"):
    total += r.numel() * r.element_size()
print(grow, total / 2**20, len(rec.call_indices("0")))
"""


def test_streaming_recording_larger_than_memory_cap(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "stream.py"
    script.write_text(_STREAM_SCRIPT)
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "rec"), "160"], capture_output=True, text=True,
        env={"PYTHONPATH": src, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, check=True,
    ).stdout.split()
    growth_mib, recorded_mib, n = float(out[0]), float(out[1]), int(out[2])
    cap_mib = 48  # a few 8 MiB shards in flight, far below the 160 MiB written
    assert n == 160 and recorded_mib == pytest.approx(160.0)
    assert growth_mib < cap_mib, f"peak memory grew by {growth_mib:.0f} MiB while streaming {recorded_mib:.0f} MiB"


# -- memory with reduce --------------------------------------------------------------------------
def test_reduced_records_do_not_each_own_an_allocation():
    net = Twice()
    with Tracer(net, ["lin", "head"], reduce=lambda t: t.sum(0)) as tr:
        for _ in range(100):
            net(torch.randn(8, 3))
    storages = {r.untyped_storage().data_ptr() for n in tr.names for r in tr.records(n)}
    assert len(storages) <= 12  # a few blocks (slot counts double), not one allocation per record
    assert torch.equal(tr.stack("lin")[5], tr.records("lin")[5])


def test_reduce_returning_a_view_does_not_keep_the_activation():
    net = nn.Sequential(nn.Linear(3, 4096))
    with Tracer(net, ["0"], reduce=lambda t: t[:, 0]) as tr:
        net(torch.randn(64, 3))
    r = tr["0"]
    assert r.untyped_storage().nbytes() < 64 * 4096 * 4 // 8


# -- one hook path, options ----------------------------------------------------------------------
def _plain_records(model, names, run, process=lambda t: t.detach(), edit=None):
    """Per name, every call's output as a hand-registered forward hook sees it (after ``edit``)."""
    mods = dict(model.named_modules())
    seen: dict[str, list] = {n: [] for n in names}

    def make(n):
        def hook(m, a, o):
            if edit is not None:
                o = edit(o, len(seen[n]))
            seen[n].append(process(o))
            return o if edit is not None else None
        return hook

    handles = [mods[n].register_forward_hook(make(n)) for n in names]
    try:
        out = run()
    finally:
        for h in handles:
            h.remove()
    return seen, out


_DETACH = torch.Tensor.detach
_REPLACEMENT = torch.full((2, 3), 0.5)


@pytest.mark.parametrize("options, process, edit, indices", [
    ({}, _DETACH, None, range(6)),
    ({"detach": False}, lambda t: t, None, range(6)),
    ({"calls": slice(0, None, 2)}, _DETACH, None, [0, 2, 4]),
    ({"calls": {1, 3}}, _DETACH, None, [1, 3]),
    ({"calls": -2}, _DETACH, None, [4]),
    ({"calls": slice(-3, None)}, _DETACH, None, [3, 4, 5]),
    ({"reduce": lambda t: t.mean(0)}, lambda t: t.detach().mean(0), None, range(6)),
    ({"dtype": torch.float64}, lambda t: t.detach().double(), None, range(6)),
    ({"record_inputs": True}, _DETACH, None, range(6)),
    ({"grad": True}, _DETACH, None, range(6)),
    ({"stop": False, "to": "disk"}, _DETACH, None, range(6)),
    ({"edits": {"lin": lambda o, i: o * 2 + i}}, _DETACH, lambda o, i: o * 2 + i, range(6)),
    ({"replace": {"lin": _REPLACEMENT}}, _DETACH, lambda o, i: _REPLACEMENT, range(6)),
])
def test_every_option_records_bitwise_what_plain_hooks_see(options, process, edit, indices, tmp_path):
    """One hook path: whatever the options, the records and the model output equal plain hooks' bitwise."""
    torch.manual_seed(0)
    model = Twice()
    xs = [torch.randn(2, 3) for _ in range(3)]  # 3 forwards x 2 calls of `lin`: call indices 0..5

    def run():
        return torch.stack([model(x) for x in xs])

    if "to" in options:
        options = {**options, "to": tmp_path / "rec"}
    expected, out_plain = _plain_records(model, ["lin"], run, process, edit)
    with Tracer(model, ["lin"], **options) as tr:
        out = run()
    assert torch.equal(out, out_plain)
    assert tr.calls("lin") == 6
    assert tr.call_indices("lin") == list(indices)
    got = tr.records("lin")
    assert len(got) == len(indices)
    for r, i in zip(got, indices):
        assert r.dtype == expected["lin"][i].dtype and torch.equal(r, expected["lin"][i])
        assert r.requires_grad == (options.get("detach") is False)


def test_patched_output_is_bitwise_equal_to_a_plain_replacing_hook():
    model = _tiny_unet()
    x, t, c = _unet_inputs()
    with Tracer(model, ["mid.attn"]) as clean:
        model(x, t, c)
    x2, c2 = torch.randn_like(x), torch.rand_like(c)
    handle = model.mid.attn.register_forward_hook(lambda m, a, o: clean["mid.attn"])
    try:
        plain = model(x2, t, c2)
    finally:
        handle.remove()
    with Tracer(model, ["out_conv"], replace={"mid.attn": clean["mid.attn"]}) as patched:
        out = model(x2, t, c2)
    assert torch.equal(out, plain) and torch.equal(patched["out_conv"], out)


def test_options_are_validated_in_one_place_and_frozen():
    import dataclasses

    from hidcap.tracing import TracerOptions

    model = Twice()
    tr = Tracer(model, ["lin"], calls=slice(0, None, 2), device="cpu", to=None)
    assert tr.options == TracerOptions(calls=slice(0, None, 2), device=torch.device("cpu"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        tr.options.detach = False
    for bad, match in [({"detach": 1}, "detach must be True or False"), ({"grad": "yes"}, "grad"),
                       ({"device": "nonsense"}, "device"), ({"shard_mb": 0}, "shard_mb"), ({"to": 3}, "to must be"),
                       ({"calls": -1, "to": "x"}, "to="), ({"calls": -1, "stop": True}, "stop=True"),
                       ({"calls": 1.5}, "calls must be"), ({"reduce": 3}, "reduce")]:
        with pytest.raises(ValueError, match=match):
            TracerOptions(**bad)
        with pytest.raises(ValueError, match=match):
            Tracer(model, ["lin"], **bad)

