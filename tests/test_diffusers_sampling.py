"""hidcap.diffusers_sampling.DiffusersSampler: seeding, conditioning modes, guidance, schedulers, loss, measurements."""
from __future__ import annotations

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from hidcap.diffusers_sampling import DiffusersSampler
from hidcap.evaluation.concept_scores import generate
from hidcap.models.embeddings import SinusoidalEncoding


def unet(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = {"sample_size": 8, "in_channels": 1, "out_channels": 1, "block_out_channels": (8, 16), "layers_per_block": 1,
           "down_block_types": ("DownBlock2D", "DownBlock2D"), "up_block_types": ("UpBlock2D", "UpBlock2D"),
           "norm_num_groups": 4, "num_class_embeds": 3, **kw}
    return diffusers.UNet2DModel(**cfg).eval()


def cond_unet(seed=0):
    torch.manual_seed(seed)
    return diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        norm_num_groups=4, cross_attention_dim=6, attention_head_dim=2).eval()


def dit(seed=0):
    torch.manual_seed(seed)
    return diffusers.DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=4, in_channels=1, out_channels=2,
                                           num_layers=1, sample_size=8, patch_size=2, num_embeds_ada_norm=5).eval()


def ddpm(**kw):
    return diffusers.DDPMScheduler(num_train_timesteps=20, **kw)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


LABELS = torch.tensor([[0.0], [2.0], [1.0]])


@pytest.mark.parametrize("scheduler", [ddpm(), diffusers.DDIMScheduler(num_train_timesteps=20)])
def test_same_generator_same_images_other_seed_other_images(scheduler):
    sampler, model = DiffusersSampler(scheduler), unet()
    a = sampler.sample(model, LABELS, gen(0), steps=4, progress=False)
    b = sampler.sample(model, LABELS, gen(0), steps=4, progress=False)
    c = sampler.sample(model, LABELS, gen(1), steps=4, progress=False)
    assert a.shape == (3, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_initial_noise_is_the_generators_first_draw():
    seen = []

    class Recorder(torch.nn.Module):
        config = type("C", (), {"sample_size": 4, "in_channels": 1})()

        def forward(self, x, t, class_labels=None, return_dict=True):
            seen.append(x.clone())
            return (torch.zeros_like(x),)

    DiffusersSampler(ddpm()).sample(Recorder(), LABELS, gen(3), steps=2, progress=False)
    assert torch.equal(seen[0], torch.randn((3, 1, 4, 4), generator=gen(3)))


def test_scheduler_state_does_not_leak_between_calls():
    sched = ddpm()
    before = sched.timesteps.clone()
    sampler = DiffusersSampler(sched)
    sampler.sample(unet(), LABELS, gen(), steps=3, progress=False)
    assert torch.equal(sched.timesteps, before) and sched.num_inference_steps is None


def test_class_labels_must_be_integers():
    with pytest.raises(ValueError, match="integer-valued"):
        DiffusersSampler(ddpm()).sample(unet(), torch.tensor([[0.5]]), gen(), steps=2, progress=False)


def test_embed_maps_concept_bits_to_class_indices():
    bits = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    sampler = DiffusersSampler(ddpm(), embed=lambda c: c.argmax(1))
    a = sampler.sample(unet(), bits, gen(), steps=2, progress=False)
    b = DiffusersSampler(ddpm()).sample(unet(), torch.tensor([[1.0], [0.0]]), gen(), steps=2, progress=False)
    assert torch.equal(a, b)


def test_conditioning_embedding_and_encoder_hidden_states():
    model = unet(class_embed_type="identity", num_class_embeds=None)  # time_embed_dim = 4 * 8 = 32
    enc = SinusoidalEncoding(16)
    xy = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = DiffusersSampler(ddpm(), "embedding", embed=enc).sample(model, xy, gen(), steps=2, progress=False)
    other = DiffusersSampler(ddpm(), "embedding", embed=enc).sample(model, xy.flip(0), gen(), steps=2, progress=False)
    assert out.shape == (2, 1, 8, 8) and not torch.equal(out, other)
    with pytest.raises(ValueError, match="finite floats"):
        DiffusersSampler(ddpm(), "embedding").sample(model, torch.tensor([[1, 2]]), gen(), steps=2, progress=False)
    ehs = torch.randn(2, 6)
    s = DiffusersSampler(ddpm(), "encoder_hidden_states")
    a = s.sample(cond_unet(), ehs, gen(), steps=2, progress=False)
    tokens = DiffusersSampler(ddpm(), "encoder_hidden_states", embed=lambda c: c[:, None, :])
    b = tokens.sample(cond_unet(), ehs, gen(), steps=2, progress=False)  # (B, E) is one token (B, 1, E)
    assert a.shape == (2, 1, 8, 8) and torch.equal(a, b)


def test_unconditional_and_bad_arguments():
    model = unet(num_class_embeds=None)
    s = DiffusersSampler(ddpm(), conditioning=None)
    assert s.sample(model, None, gen(), n=2, steps=2, progress=False).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="unconditional"):
        s.sample(model, LABELS, gen(), steps=2, progress=False)
    with pytest.raises(ValueError, match="steps must be"):
        DiffusersSampler(ddpm()).sample(unet(), LABELS, gen(), steps=21)
    with pytest.raises(ValueError, match="conditioning must be one of"):
        DiffusersSampler(ddpm(), "text")
    with pytest.raises(ValueError, match="diffusers scheduler"):
        DiffusersSampler(object())
    with pytest.raises(ValueError, match="takes no eta"):
        DiffusersSampler(ddpm()).sample(unet(), LABELS, gen(), steps=2, eta=1.0, progress=False)


def test_guidance_zero_samples_the_null_condition_and_one_is_plain():
    s, model = DiffusersSampler(ddpm()), unet()
    null = torch.tensor([2.0])
    plain = s.sample(model, LABELS, gen(), steps=3, progress=False)
    assert torch.equal(plain, s.sample(model, LABELS, gen(), steps=3, guidance=1.0, progress=False))
    uncond = s.sample(model, torch.full((3, 1), 2.0), gen(), steps=3, progress=False)
    torch.testing.assert_close(s.sample(model, LABELS, gen(), steps=3, guidance=0.0, null_cond=null, progress=False),
                               uncond, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="null_cond"):
        s.sample(model, LABELS, gen(), steps=3, guidance=2.0)


def test_learned_variance_dit_output_is_split_or_passed_to_the_scheduler():
    labels = torch.tensor([[1.0], [4.0]])
    for sched in (ddpm(), ddpm(variance_type="learned_range")):
        a = DiffusersSampler(sched).sample(dit(), labels, gen(), steps=3, progress=False)
        assert a.shape == (2, 1, 8, 8) and torch.isfinite(a).all()


def test_generate_chunks_and_ddim_eta():
    s = DiffusersSampler(diffusers.DDIMScheduler(num_train_timesteps=20))
    cond = torch.tensor([[0.0], [1.0], [2.0], [0.0], [1.0]])
    images = generate(unet(), s, cond, gen(), max_batch=2, steps=2, eta=1.0, progress=False)
    assert images.shape == (5, 1, 8, 8)


def test_bfloat16_autocast_and_numpy_steps():
    s, model = DiffusersSampler(ddpm()), unet()
    full = s.sample(model, LABELS, gen(), steps=np.int64(3), progress=False)
    half = s.sample(model, LABELS, gen(), steps=3, dtype=torch.bfloat16, progress=False)
    assert half.dtype == torch.float32 and (half - full).abs().max() < 0.2


def test_progress_bar_on_stderr(capsys):
    DiffusersSampler(ddpm()).sample(unet(), LABELS, gen(), steps=2, progress=True)
    assert "sample" in capsys.readouterr().err


def test_loss_is_seeded_and_trains():
    model, s = unet().train(), DiffusersSampler(ddpm())
    x0 = torch.rand(4, 1, 8, 8)
    cond = torch.tensor([[0.0], [1.0], [2.0], [1.0]])
    a, b = s.loss(model, x0, cond, gen(5)), s.loss(model, x0, cond, gen(5))
    assert a.ndim == 0 and torch.equal(a, b)
    a.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    v = DiffusersSampler(ddpm(prediction_type="v_prediction")).loss(model, x0, cond, gen(5))
    assert np.isfinite(v.item()) and v.item() != a.item()
