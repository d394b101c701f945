"""Tests for hidcap.patching.patch: sources, in-place copy, restoration, errors."""
from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from hidcap.patching import patch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        self.cond_embed = nn.Linear(2, 4)
        self.head = nn.Linear(4, 1)
        self.register_buffer("table", torch.arange(4.0), persistent=False)

    def forward(self, x, c):
        return self.head(self.enc(x) + self.cond_embed(c))


def _pair():
    torch.manual_seed(1)
    a = Net()
    torch.manual_seed(2)
    b = Net()
    with torch.no_grad():
        b.enc[1].running_mean.fill_(0.5)
        b.enc[1].num_batches_tracked.fill_(7)
    return a, b


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_patch_from_module_copies_params_and_buffers_then_restores():
    a, b = _pair()
    before = _snapshot(a)
    ids = {k: id(v) for k, v in a.state_dict(keep_vars=True).items()}
    with patch(a, "enc", b) as names:
        assert names == [
            "enc.0.weight", "enc.0.bias", "enc.1.weight", "enc.1.bias",
            "enc.1.running_mean", "enc.1.running_var", "enc.1.num_batches_tracked",
        ]
        sd = a.state_dict()
        for n in names:
            assert torch.equal(sd[n], b.state_dict()[n])
        assert torch.equal(sd["head.weight"], before["head.weight"])
        assert a.enc[1].num_batches_tracked.dtype == torch.long and int(a.enc[1].num_batches_tracked) == 7
        assert {k: id(v) for k, v in a.state_dict(keep_vars=True).items()} == ids
    after = _snapshot(a)
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert {k: id(v) for k, v in a.state_dict(keep_vars=True).items()} == ids


def test_patch_changes_forward_like_the_source_part():
    a, b = _pair()
    a.eval(), b.eval()
    x, c = torch.randn(5, 3), torch.randn(5, 2)
    with patch(a, ["*cond_embed", "head"], b):
        y = a(x, c)
    expected = b.head(a.enc(x) + b.cond_embed(c))
    assert torch.allclose(y, expected)
    assert not torch.allclose(a(x, c), y)


def test_patch_restores_on_exception():
    a, b = _pair()
    before = _snapshot(a)
    with pytest.raises(RuntimeError, match="inside"):
        with patch(a, "*", b):
            assert not torch.equal(a.head.weight, before["head.weight"])
            raise RuntimeError("inside")
    assert all(torch.equal(a.state_dict()[k], before[k]) for k in before)


def test_patch_from_state_dict_casts_to_model_dtype_and_device():
    a, b = _pair()
    sd = {k: v.double() if v.is_floating_point() else v for k, v in b.state_dict().items()}
    with patch(a, "head", sd) as names:
        assert names == ["head.weight", "head.bias"]
        assert a.head.weight.dtype == torch.float32
        assert torch.allclose(a.head.weight, b.head.weight)


def test_patch_root_and_grad_untouched():
    a, b = _pair()
    with patch(a, "", b) as names:
        assert len(names) == len(a.state_dict())
        assert a.head.weight.requires_grad and a.head.weight.grad is None


def test_patch_missing_keys_lists_all():
    a, b = _pair()
    sd = b.state_dict()
    del sd["enc.0.bias"], sd["enc.1.running_var"]
    before = _snapshot(a)
    with pytest.raises(KeyError) as err:
        with patch(a, "enc", sd):
            pass
    assert "enc.0.bias" in str(err.value) and "enc.1.running_var" in str(err.value)
    with patch(a, "enc", sd, strict=False) as names:
        assert "enc.0.bias" not in names and "enc.0.weight" in names
        assert torch.equal(a.enc[0].bias, before["enc.0.bias"])
    assert all(torch.equal(a.state_dict()[k], before[k]) for k in before)


def test_patch_shape_mismatch_lists_all():
    a, _ = _pair()
    sd = a.state_dict()
    sd["head.weight"] = torch.zeros(2, 4)
    sd["head.bias"] = torch.zeros(3)
    with pytest.raises(ValueError) as err:
        with patch(a, "head", sd):
            pass
    msg = str(err.value)
    assert "head.weight: model (1, 4) vs source (2, 4)" in msg and "head.bias" in msg
    sd = {"head.weight": "w", "head.bias": torch.zeros(1)}
    with pytest.raises(ValueError, match="not tensors"):
        with patch(a, "head", sd):
            pass


def test_patch_step_needs_series_and_uses_it():
    a, b = _pair()

    class Series:
        def __init__(self):
            self.asked: list[int] = []

        def state_dict(self, step):
            self.asked.append(step)
            return b.state_dict()

    with pytest.raises(ValueError, match="series="):
        with patch(a, "head", 100):
            pass
    series = Series()
    with patch(a, "head", 100, series=series):
        assert torch.equal(a.head.weight, b.head.weight)
    assert series.asked == [100]
    assert not torch.equal(a.head.weight, b.head.weight)


def test_patch_from_checkpoint_path_uses_checkpoints_loader(monkeypatch, tmp_path):
    a, b = _pair()
    seen = []

    def load_state_dict(path):
        seen.append(path)
        return b.state_dict()

    fake = types.ModuleType("hidcap.checkpoints")
    fake.load_state_dict = load_state_dict
    monkeypatch.setitem(sys.modules, "hidcap.checkpoints", fake)
    path = tmp_path / "step_100.safetensors"
    with patch(a, "cond_embed", path) as names:
        assert names == ["cond_embed.weight", "cond_embed.bias"]
        assert torch.equal(a.cond_embed.weight, b.cond_embed.weight)
    with patch(a, "cond_embed", str(path)):
        pass
    assert seen == [path, str(path)]


def test_patch_bad_arguments():
    a, b = _pair()
    with pytest.raises(ValueError, match="source must be"):
        with patch(a, "head", 1.5):
            pass
    with pytest.raises(ValueError, match="source must be"):
        with patch(a, "head", True):
            pass
    with pytest.raises(KeyError, match="closest"):
        with patch(a, "haed", b):
            pass
    with pytest.raises(ValueError, match="nn.Module"):
        with patch("a", "head", b):
            pass
    a.empty = nn.Identity()
    with pytest.raises(ValueError, match="no parameters or buffers"):
        with patch(a, "empty", b):
            pass


def test_patch_shared_module_restores_original():
    shared = nn.Linear(2, 2)
    a = nn.Sequential(shared, nn.ReLU(), shared)  # the same tensors appear under two state_dict names
    before = shared.weight.detach().clone()
    b = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    with patch(a, "*", b) as names:
        # named_modules() lists a shared module once, under its first name
        assert names == ["0.weight", "0.bias"]
        assert torch.equal(shared.weight, b[0].weight)
    assert torch.equal(shared.weight, before)
    with pytest.raises(KeyError, match="shared with '0'"):
        with patch(a, "2", b):
            pass
