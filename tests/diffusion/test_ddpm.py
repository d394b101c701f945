import pytest
import torch

from hidcap.diffusion import DDPM, DDPMConfig, build_diffusion, to_images, to_model_space
from hidcap.models import UNet, presets

from .helpers import CallCounter, CondPointOracle, GaussianOracle


def _ddpm_alpha_sigma(ddpm: DDPM):
    def f(t):
        ab = ddpm.alphas_cumprod[t.long()]
        return ab.sqrt(), (1 - ab).sqrt()

    return f


def test_linear_beta_schedule():
    d = DDPM(DDPMConfig(timesteps=10, beta_start=0.1, beta_end=0.5))
    assert torch.allclose(d.betas, torch.linspace(0.1, 0.5, 10))
    assert torch.allclose(d.alphas_cumprod, torch.cumprod(1 - torch.linspace(0.1, 0.5, 10, dtype=torch.float64), 0).float())
    assert d.timestep_schedule(10) == list(range(9, -1, -1))
    assert d.timestep_schedule(3) == [9, 4, 0] or d.timestep_schedule(3) == [9, 5, 0]
    with pytest.raises(ValueError, match="steps"):
        d.timestep_schedule(11)


@pytest.mark.parametrize("kwargs", [{"timesteps": 0}, {"beta_start": 0.0}, {"beta_start": 0.3, "beta_end": 0.2}, {"cond_drop": 1.5}])
def test_bad_config(kwargs):
    with pytest.raises(ValueError):
        DDPMConfig(**kwargs)


def test_images_map_to_model_space_and_back():
    img = torch.rand(2, 1, 4, 4)
    assert to_model_space(img).min() >= -1 and torch.allclose(to_images(to_model_space(img)), img)


def test_loss_is_deterministic_scalar_with_gradients():
    model = UNet(presets.tiny_bumps())
    d = DDPM(DDPMConfig(timesteps=50))
    x0, c = torch.rand(4, 1, 16, 16), torch.rand(4, 2) * 16
    a = d.loss(model, x0, c, torch.Generator().manual_seed(1))
    b = d.loss(model, x0, c, torch.Generator().manual_seed(1))
    assert a.ndim == 0 and torch.equal(a, b)
    assert abs(a.item() - 1.0) < 0.5  # ε̂ = 0 at init: loss = E[ε²] ≈ 1
    a.backward()
    assert model.out_conv.weight.grad is not None
    with pytest.raises(ValueError, match="x0"):
        d.loss(model, x0[0], c, torch.Generator())


def test_condition_dropout_uses_null_value():
    d = DDPM(DDPMConfig(cond_drop=1.0, null_value=-1.0))
    out = d.drop_cond(torch.rand(5, 3), torch.Generator().manual_seed(0))
    assert torch.all(out == -1)
    d0 = DDPM(DDPMConfig(cond_drop=0.5))
    c = torch.rand(400, 3)
    dropped = (d0.drop_cond(c, torch.Generator().manual_seed(0)) == -1).all(1).float().mean()
    assert 0.4 < dropped < 0.6


@pytest.mark.parametrize("sampler, steps", [("ancestral", 50), ("ancestral", 7), ("ddim", 50), ("ddim", 5)])
def test_sampler_recovers_a_point_mass(sampler, steps):
    d = DDPM(DDPMConfig(timesteps=50))
    oracle = CondPointOracle(_ddpm_alpha_sigma(d))
    target = torch.tensor([[-0.6], [0.2], [0.9]])
    out = d.sample(oracle, target, torch.Generator().manual_seed(0), steps=steps, sampler=sampler, shape=(1, 4, 4), clip=False)
    expected = ((target + 1) / 2).view(3, 1, 1, 1).expand_as(out)
    assert torch.allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_sampler_reproduces_a_gaussian(sampler):
    """With the exact ε̂ of N(0, 0.25²) data the samples have std ≈ 0.25 (checks the step's variance).
    β up to 0.05 over 400 steps so that ᾱ_T ≈ e^-10 and x_T is pure noise."""
    d = DDPM(DDPMConfig(timesteps=400, beta_start=1e-4, beta_end=0.05))
    assert d.alphas_cumprod[-1] < 1e-4
    oracle = GaussianOracle(_ddpm_alpha_sigma(d), mean=0.0, std=0.25)
    out = d.sample(oracle, None, torch.Generator().manual_seed(0), n=64, shape=(1, 16, 16), sampler=sampler, clip=False)
    x = to_model_space(out)
    assert abs(x.mean().item()) < 0.02
    assert abs(x.std().item() - 0.25) < 0.02


def test_sampling_is_seeded_and_calls_model_once_per_step():
    d = DDPM(DDPMConfig(timesteps=20))
    model = UNet(presets.tiny_bumps()).eval()
    counter = CallCounter(model)
    c = torch.rand(3, 2) * 16
    a = d.sample(counter, c, torch.Generator().manual_seed(3), steps=8)
    assert counter.batches == [3] * 8
    b = d.sample(model, c, torch.Generator().manual_seed(3), steps=8)
    assert torch.equal(a, b) and a.shape == (3, 1, 16, 16) and a.min() >= 0 and a.max() <= 1
    counter.batches.clear()
    d.sample(counter, c, torch.Generator().manual_seed(3), steps=8, guidance=3.0)
    assert counter.batches == [6] * 8  # [cond; null] in one call


def test_guidance_formula():
    """ε̂ = ε(null) + w (ε(cond) − ε(null)) with null = −1: compare DDIM with guidance against the
    equivalent unguided point-mass target."""
    d = DDPM(DDPMConfig(timesteps=30))
    oracle = CondPointOracle(_ddpm_alpha_sigma(d))
    c = torch.tensor([[0.1], [0.3]])
    w = 2.0
    guided = d.sample(oracle, c, torch.Generator().manual_seed(0), sampler="ddim", shape=(1, 2, 2), guidance=w, clip=False)
    # ε is affine in the target, so guidance targets null + w (c − null)
    plain = d.sample(oracle, -1 + w * (c + 1), torch.Generator().manual_seed(0), sampler="ddim", shape=(1, 2, 2), clip=False)
    assert torch.allclose(guided, plain, atol=1e-5)
    custom = d.sample(oracle, c, torch.Generator().manual_seed(0), sampler="ddim", shape=(1, 2, 2), guidance=w,
                      null_cond=torch.zeros(1), clip=False)
    assert torch.allclose(custom, ((w * c + 1) / 2).view(2, 1, 1, 1).expand_as(custom).clamp(0, 1), atol=1e-5)


def test_states_and_errors():
    d = DDPM(DDPMConfig(timesteps=10))
    model = UNet(presets.tiny_bumps()).eval()
    c = torch.rand(2, 2)
    images, states = d.sample(model, c, torch.Generator().manual_seed(0), steps=4, return_states=True)
    assert states.shape == (5, 2, 1, 16, 16)
    assert torch.allclose(to_images(states[-1]), images)
    with pytest.raises(ValueError, match="sampler"):
        d.sample(model, c, torch.Generator(), sampler="euler")
    with pytest.raises(ValueError, match="null_cond"):
        d.sample(model, c, torch.Generator(), guidance=2.0, null_cond=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="cond must be"):
        d.sample(model, c[0], torch.Generator())
    assert isinstance(build_diffusion(DDPMConfig()), DDPM)
    with pytest.raises(ValueError, match="no diffusion is registered for config type dict"):
        build_diffusion({"timesteps": 5})


def test_scaled_schedule_reaches_noise_for_short_chains():
    assert DDPM(DDPMConfig(timesteps=50)).alphas_cumprod[-1] > 0.5  # the unscaled betas stay far from noise
    cfg = DDPMConfig.scaled(50, cond_drop=0.1)
    assert cfg.beta_start == pytest.approx(2e-3) and cfg.beta_end == pytest.approx(0.4) and cfg.cond_drop == 0.1
    assert DDPM(cfg).alphas_cumprod[-1] < 1e-4
    assert DDPMConfig.scaled(1000) == DDPMConfig()
