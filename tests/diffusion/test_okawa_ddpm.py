"""Okawa et al.'s DDPM: T + 1 betas, t ∈ 1..T seen as t/T, data in [0, 1], β_t sampler variance, no clipping."""
import pytest
import torch
from torch import nn

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.diffusion import OkawaDDPM, OkawaDDPMConfig, build_diffusion
from hidcap.models import ContextUNet, presets

from .helpers import CallCounter, GaussianOracle


class Recorder(nn.Module):
    """ε̂ = 0; records the time inputs it sees."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x, t, cond):
        self.seen.append(t.detach().clone())
        return torch.zeros_like(x) + 0 * self.dummy


def test_schedule_has_t_plus_one_betas():
    d = OkawaDDPM()
    assert d.betas.shape == (501,) and d.alphas_cumprod.shape == (501,)
    assert d.betas[0].item() == pytest.approx(1e-4) and d.betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(torch.diff(d.betas), torch.full((500,), (0.02 - 1e-4) / 500), atol=1e-8)
    assert d.alphas_cumprod[0].item() == pytest.approx(1 - 1e-4)  # β_0 is part of ᾱ
    assert torch.allclose(d.alphas_cumprod, torch.cumprod(1 - d.betas.double(), 0).float(), rtol=1e-5)


def test_training_draws_t_from_1_to_T_and_passes_t_over_T():
    d, model = OkawaDDPM(OkawaDDPMConfig(timesteps=5)), Recorder()
    d.loss(model, torch.rand(2000, 1, 2, 2), torch.rand(2000, 12), torch.Generator().manual_seed(0))
    steps = (model.seen[0] * 5).round()
    assert torch.allclose(model.seen[0] * 5, steps, atol=1e-5)
    assert set(steps.long().tolist()) == {1, 2, 3, 4, 5}


def test_loss_keeps_data_in_0_1():
    """With ᾱ_t ≈ 1 (tiny β), x_t ≈ x0: a model returning x_t shows which x0 the loss used."""
    d = OkawaDDPM(OkawaDDPMConfig(timesteps=2, beta_start=1e-8, beta_end=2e-8))
    x0 = torch.full((4096, 1, 4, 4), 0.7)

    class Echo(nn.Module):
        def forward(self, x, t, cond):
            return x

    # ε̂ = x_t ≈ 0.7: loss ≈ E(ε − 0.7)² = 1 + 0.49 (1 + 0.16 had x0 been mapped to 2·0.7 − 1 = 0.4)
    loss = d.loss(Echo(), x0, None, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.49, abs=0.03)


def test_sampler_uses_every_step_and_does_not_clip():
    d = OkawaDDPM(OkawaDDPMConfig(timesteps=200))
    mean, std = 1.2, 0.05  # data outside [0, 1]: the states show it, the returned images are clamped

    def alpha_sigma(t_in):
        ab = d.alphas_cumprod[(t_in * d.timesteps).round().long()]
        return ab.sqrt(), (1 - ab).sqrt()

    oracle = CallCounter(GaussianOracle(alpha_sigma, mean=mean, std=std, shape=(1, 4, 4)))
    images, states = d.sample(oracle, None, torch.Generator().manual_seed(0), n=512, shape=(1, 4, 4),
                              return_states=True)
    assert len(oracle.batches) == 200 and states.shape == (201, 512, 1, 4, 4)
    assert states[-1].mean().item() == pytest.approx(mean, abs=0.01)
    assert torch.equal(images, states[-1].clamp(0, 1)) and images.max().item() == 1.0
    with pytest.raises(ValueError, match="steps"):
        d.sample(oracle, None, torch.Generator(), steps=50, n=2, shape=(1, 4, 4))


def test_guided_sampling_with_the_context_unet():
    d = OkawaDDPM(OkawaDDPMConfig(timesteps=3))
    model = CallCounter(ContextUNet(presets.tiny_context_unet()).eval())
    out = d.sample(model, torch.rand(2, 12), torch.Generator().manual_seed(0), guidance=2.0)
    assert out.shape == (2, 3, 8, 8) and model.batches == [4, 4, 4]


def test_config_validation_roundtrip_and_registry():
    cfg = OkawaDDPMConfig()
    assert config_from_dict(OkawaDDPMConfig, config_to_dict(cfg)) == cfg
    assert config_to_dict(cfg)["kind"] == "okawa-ddpm" and isinstance(build_diffusion(cfg), OkawaDDPM)
    for kwargs, match in [({"kind": "ddpm"}, "kind"), ({"timesteps": 0}, "timesteps"), ({"beta_end": 1e-5}, "beta")]:
        with pytest.raises(ValueError, match=match):
            OkawaDDPMConfig(**kwargs)
