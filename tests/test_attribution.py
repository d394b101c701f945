"""Attribution patching against real activation patching (hidcap.attribution)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hidcap.attribution import activation_patching, attribution_patching


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def test_exact_when_metric_is_linear_in_the_site():
    model = _mlp()
    clean, corrupt = torch.randn(5, 6), torch.randn(5, 6)
    metric = lambda y: y[:, 0].sum()  # noqa: E731 - linear in the last layer's output and input
    est = attribution_patching(model, ["3", "4"], clean, corrupt, metric)
    real = activation_patching(model, ["3", "4"], clean, corrupt, metric)
    assert set(est) == set(real) == {"3", "4"}
    for n in ("3", "4"):
        assert est[n].shape == (1, 5, 16 if n == "3" else 3)
        assert float(est[n].sum()) == pytest.approx(real[n], rel=1e-5, abs=1e-6)


def test_close_to_activation_patching_for_small_differences_and_ranks_sites():
    model = _mlp(1)
    corrupt = torch.randn(8, 6)
    clean = corrupt + 0.05 * torch.randn(8, 6)
    metric = lambda y: (y[:, 1] - y[:, 0]).mean()  # noqa: E731
    sites = ["0", "1", "2", "3"]
    est = {n: float(v.sum()) for n, v in attribution_patching(model, sites, clean, corrupt, metric).items()}
    real = activation_patching(model, sites, clean, corrupt, metric)
    for n in sites:
        assert est[n] == pytest.approx(real[n], rel=0.05, abs=1e-4), (n, est[n], real[n])
    # large differences: the linear estimate is off, not silently equal
    far = torch.randn(8, 6) * 4
    est_far = float(attribution_patching(model, "1", far, corrupt, metric)["1"].sum())
    assert est_far != pytest.approx(activation_patching(model, "1", far, corrupt, metric)["1"], rel=0.01)


def test_unet_sites_and_errors():
    from hidcap.models import UNet
    from hidcap.models.presets import tiny

    torch.manual_seed(0)
    model = UNet(tiny()).eval()
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 3, 16, 16, generator=g), torch.full((2,), 0.3)
    c_clean, c_corrupt = torch.rand(2, 12, generator=g), torch.rand(2, 12, generator=g)
    c_clean = c_corrupt + 0.01 * (c_clean - c_corrupt)
    metric = lambda eps: eps.square().mean()  # noqa: E731
    sites = ["mid.res.0.cond_embed", "mid.res.1.cond_embed"]
    est = attribution_patching(model, sites, (x, t, c_clean), (x, t, c_corrupt), metric)
    real = activation_patching(model, sites, (x, t, c_clean), (x, t, c_corrupt), metric)
    for n in sites:
        assert float(est[n].sum()) == pytest.approx(real[n], rel=0.1, abs=1e-7)
    with pytest.raises(ValueError, match="scalar"):
        attribution_patching(model, sites, (x, t, c_clean), (x, t, c_corrupt), lambda eps: eps)
    with pytest.raises(ValueError, match="same shapes"):
        attribution_patching(model, sites, (x[:1], t[:1], c_clean[:1]), (x, t, c_corrupt), metric)
    with pytest.raises(KeyError, match="closest"):
        attribution_patching(model, "mid.cond", (x, t, c_clean), (x, t, c_corrupt), metric)
