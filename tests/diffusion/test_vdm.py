import math

import pytest
import torch

from hidcap.diffusion import VDM, VDMConfig, build_diffusion, to_model_space
from hidcap.models import UNet, presets

from .helpers import CallCounter, CondPointOracle, GaussianOracle


def _vdm_alpha_sigma(vdm: VDM):
    def f(t):
        with torch.no_grad():
            return vdm.alpha_sigma(vdm.gamma(t.float()))

    return f


def test_schedule_init_and_parameters():
    v = VDM()
    assert v.gamma_min.item() == -5.0 and v.gamma_max.item() == 10.0
    assert v.gamma_min.requires_grad and v.gamma_max.requires_grad
    g = v.gamma(torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(g, torch.tensor([-5.0, 2.5, 10.0]))
    a, s = v.alpha_sigma(g)
    assert torch.allclose(a**2 + s**2, torch.ones(3))
    fixed = VDM(VDMConfig(learn_schedule=False))
    assert not any(p.requires_grad for p in fixed.parameters())
    assert set(v.state_dict()) == {"gamma_min", "gamma_max"}
    assert isinstance(build_diffusion(VDMConfig()), VDM)
    with pytest.raises(ValueError, match="gamma_min < gamma_max"):
        VDMConfig(gamma_min=3, gamma_max=1)


def test_loss_terms_values_and_gradients():
    v = VDM()
    model = UNet(presets.tiny())
    x0, c = torch.rand(4, 3, 16, 16), torch.rand(4, 12)
    terms = v.loss_terms(model, x0, c, torch.Generator().manual_seed(0))
    # ε̂ = 0 at init: diffusion term = ½ (γ_max − γ_min) E[ε²]
    assert abs(terms["diffusion"].item() - 7.5) < 0.5
    expected_recon = 0.5 * math.log(2 * math.pi * 1e-6) + math.exp(-5) / 2e-6
    assert terms["recon"].item() == pytest.approx(expected_recon, rel=1e-5)
    assert 0 <= terms["prior"].item() < 1e-3
    loss = v.loss(model, x0, c, torch.Generator().manual_seed(0))
    assert torch.equal(loss, sum(terms.values()))
    loss.backward()
    assert v.gamma_min.grad is not None and v.gamma_max.grad is not None


def test_sampler_recovers_a_point_mass():
    # z_0 keeps noise of std σ_0/α_0 = exp(γ_min/2): γ_min = −14 makes it 1e-3 (training learns γ_min down)
    v = VDM(VDMConfig(gamma_min=-14.0))
    oracle = CondPointOracle(_vdm_alpha_sigma(v))
    target = torch.tensor([[-0.5], [0.0], [0.7]])
    out = v.sample(oracle, target, torch.Generator().manual_seed(0), steps=20, shape=(1, 4, 4))
    expected = ((target + 1) / 2).view(3, 1, 1, 1).expand_as(out)
    assert torch.allclose(out, expected, atol=1e-3)


def test_sampler_reproduces_a_gaussian():
    v = VDM()
    oracle = GaussianOracle(_vdm_alpha_sigma(v), mean=0.1, std=0.3)
    out = v.sample(oracle, None, torch.Generator().manual_seed(0), steps=50, n=64, shape=(1, 16, 16))
    x = to_model_space(out)
    assert abs(x.mean().item() - 0.1) < 0.02
    assert abs(x.std().item() - 0.3) < 0.02


def test_sampling_seeded_one_call_per_step_and_guidance_batch():
    v = VDM()
    model = UNet(presets.tiny()).eval()
    counter = CallCounter(model)
    c = torch.rand(2, 12)
    a, states = v.sample(counter, c, torch.Generator().manual_seed(1), steps=6, return_states=True)
    assert counter.batches == [2] * 6 and states.shape == (7, 2, 3, 16, 16)
    assert torch.equal(a, v.sample(model, c, torch.Generator().manual_seed(1), steps=6))
    assert not torch.equal(a, v.sample(model, c, torch.Generator().manual_seed(2), steps=6))
    counter.batches.clear()
    v.sample(counter, c, torch.Generator().manual_seed(1), steps=6, guidance=3.0)
    assert counter.batches == [4] * 6
    with pytest.raises(ValueError, match="steps"):
        v.sample(model, c, torch.Generator(), steps=0)
    with pytest.raises(ValueError, match="guidance"):
        v.sample(model, None, torch.Generator(), n=2, guidance=2.0)


def test_guidance_with_point_oracle():
    v = VDM(VDMConfig(gamma_min=-14.0))
    oracle = CondPointOracle(_vdm_alpha_sigma(v))
    c = torch.tensor([[0.2]])
    out = v.sample(oracle, c, torch.Generator().manual_seed(0), steps=10, shape=(1, 2, 2), guidance=1.5)
    target = -1 + 1.5 * (c + 1)  # null = −1
    assert torch.allclose(out, ((target + 1) / 2).view(1, 1, 1, 1).expand_as(out), atol=1e-3)
