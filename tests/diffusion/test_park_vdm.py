"""Park et al.'s VDM: γ(t) = b + |w|·t, normalised-γ time input, loss terms in bits/dim, unscaled z_0 samples."""
import math

import pytest
import torch
from torch import nn

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.diffusion import ParkVDM, ParkVDMConfig, build_diffusion
from hidcap.models import CUNet, presets
from .helpers import CallCounter, GaussianOracle

LN2 = math.log(2.0)


class Zero(nn.Module):
    """ε̂ = 0; records the time inputs it sees."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x, t, cond):
        self.seen.append(t.detach().clone())
        return torch.zeros_like(x) + 0 * self.dummy


def test_schedule_starts_at_minus5_10_and_is_linear_in_abs_w():
    d = ParkVDM()
    assert float(d.gamma_min.detach()) == -5.0 and float(d.gamma_max.detach()) == 10.0
    assert torch.allclose(d.gamma(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([-5.0, 2.5, 10.0]))
    with torch.no_grad():
        d.w.neg_()  # γ uses |w|: the sign of w does not matter
    assert torch.allclose(d.gamma(torch.tensor([1.0])), torch.tensor([10.0]))
    assert {n for n, p in d.named_parameters() if p.requires_grad} == {"b", "w"}
    assert not any(p.requires_grad for p in ParkVDM(ParkVDMConfig(learn_schedule=False)).parameters())


def test_model_sees_normalised_gamma_at_stratified_times():
    d, model = ParkVDM(), Zero()
    x = torch.rand(8, 3, 8, 8)
    d.loss(model, x, torch.rand(8, 12), torch.Generator().manual_seed(0))
    t_in = model.seen[0]
    # at init the normalised γ equals t; antithetic times are spaced 1/B apart within [0, 1)
    gaps = torch.diff(torch.sort(t_in).values)
    assert torch.allclose(gaps, torch.full_like(gaps, 1 / 8), atol=1e-6) and 0 <= float(t_in.min()) < 1 / 8
    with torch.no_grad():
        d.b.fill_(-6.0)  # after learning, the input is still normalised by the INITIAL endpoints (-5, 10)
    model.seen.clear()
    d.loss(model, x, torch.rand(8, 12), torch.Generator().manual_seed(0))
    assert torch.allclose(model.seen[0], t_in - 1 / 15, atol=1e-6)


def test_loss_terms_are_in_bits_per_dimension():
    d, model = ParkVDM(), Zero()
    x = torch.full((16, 3, 16, 16), 0.25)
    terms = d.loss_terms(model, x, torch.rand(16, 12), torch.Generator().manual_seed(0))
    # diffusion: E ½·|w|·‖ε − 0‖² / (D ln 2) = ½·15/ln 2 per dimension
    assert terms["diffusion"].item() == pytest.approx(0.5 * 15 / LN2, rel=0.02)
    # prior: KL(N(α_1 x, σ_1²) ‖ N(0, 1)) per dimension, in bits
    s2 = 1 / (1 + math.exp(-10.0))
    kl = 0.5 * (s2 + (1 - s2) * 0.25**2 - math.log(s2) - 1)
    assert terms["prior"].item() == pytest.approx(kl / LN2, abs=1e-7)  # float32 cancellation near σ_1² ≈ 1
    # reconstruction (sampled): E −log N(x; z_0/α_0, 1e-3²) = ½·e^{γ_0}/1e-6 + log(1e-3) + ½·log 2π nats
    recon = 0.5 * math.exp(-5.0) / 1e-6 + math.log(1e-3) + 0.5 * math.log(2 * math.pi)
    assert terms["recon"].item() == pytest.approx(recon / LN2, rel=0.02)
    total = d.loss(model, x, torch.rand(16, 12), torch.Generator().manual_seed(0))
    assert total.item() == pytest.approx(sum(v.item() for v in terms.values()), rel=1e-6)


def test_loss_gradients_reach_b_and_w():
    d = ParkVDM()
    model = CUNet(presets.tiny_cunet())
    loss = d.loss(model, torch.rand(4, 3, 16, 16), torch.rand(4, 12), torch.Generator().manual_seed(0))
    loss.backward()
    assert d.b.grad is not None and d.w.grad is not None and float(d.b.grad) != 0 and float(d.w.grad) != 0


def test_cunet_predicts_z_t_at_init_so_the_first_loss_is_known():
    """ε̂ = z_t at init: the diffusion term is ½|w|·E‖z_t − ε‖²/(D ln 2), finite and of the expected size."""
    d = ParkVDM()
    model = CUNet(presets.tiny_cunet())
    terms = d.loss_terms(model, torch.rand(32, 3, 16, 16), torch.rand(32, 12), torch.Generator().manual_seed(1))
    assert math.isfinite(terms["diffusion"].item()) and 0 < terms["diffusion"].item() < 0.5 * 15 / LN2 * 3


def test_sampler_returns_z0_unscaled_with_noise_at_the_last_step():
    d = ParkVDM()
    mean, std = 0.5, 0.1  # data ~ N(0.5, 0.1²) per pixel, in the data space [0, 1] itself

    def alpha_sigma(t_in):
        return d.alpha_sigma(-5.0 + 15.0 * t_in)

    oracle = GaussianOracle(alpha_sigma, mean=mean, std=std, shape=(1, 8, 8))
    images, states = d.sample(oracle, None, torch.Generator().manual_seed(0), steps=100, n=256, shape=(1, 8, 8),
                              return_states=True)
    assert states.shape == (101, 256, 1, 8, 8)
    assert torch.equal(images, states[-1].clamp(0, 1))  # z_0 itself: no division by α_0
    a0, s0 = (v.item() for v in d.alpha_sigma(torch.tensor(-5.0)))
    z0 = states[-1]
    assert z0.mean().item() == pytest.approx(a0 * mean, abs=0.01)
    # the final step adds σ_0-sized noise: std² = α_0²·std² + σ_0²
    assert z0.std().item() == pytest.approx(math.sqrt(a0**2 * std**2 + s0**2), rel=0.05)


def test_guided_sampling_makes_one_call_per_step():
    d = ParkVDM()
    model = CallCounter(CUNet(presets.tiny_cunet()))
    out = d.sample(model, torch.rand(2, 12), torch.Generator().manual_seed(0), steps=3, guidance=2.0)
    assert out.shape == (2, 3, 16, 16) and model.batches == [4, 4, 4]
    with pytest.raises(ValueError, match="steps"):
        d.sample(model, torch.rand(2, 12), torch.Generator(), steps=0)


def test_config_validation_roundtrip_and_registry():
    cfg = ParkVDMConfig(cond_drop=0.2)
    assert config_from_dict(ParkVDMConfig, config_to_dict(cfg)) == cfg and config_to_dict(cfg)["kind"] == "park-vdm"
    assert isinstance(build_diffusion(cfg), ParkVDM)
    for kwargs, match in [({"kind": "vdm"}, "kind"), ({"gamma_min": 10.0}, "gamma_min"), ({"data_noise": 0.0},
                                                                                          "data_noise")]:
        with pytest.raises(ValueError, match=match):
            ParkVDMConfig(**kwargs)
