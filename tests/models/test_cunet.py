"""Park et al.'s CUNet: parameter counts, block structure, ε̂ = z_t at init, cond_embed naming, a tiny train."""
import math

import pytest
import torch
from torch import nn

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.models import CUNet, CUNetConfig, build_model, presets
from hidcap.models.cunet import CUNetAttention, CUNetBlock, timestep_embedding

#: cfpark00/concept-learning CUNet(chs [64,128,256], num_res_blocks 2, v_conditioning_dims [11], sep_mlp,
#: t_conditioning) — its parameter count as the original code builds it (issue 14)
ORIGINAL_PARAMS = 10_913_859


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tiny(**kw) -> CUNetConfig:
    return presets.tiny_cunet(**kw)


def _inputs(cfg: CUNetConfig, b: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    return x, torch.rand(b, generator=g), torch.rand(b, cfg.cond_dim, generator=g)


def test_parameter_count_matches_the_original():
    assert _count(CUNet(presets.cunet(cond_dim=11))) == ORIGINAL_PARAMS
    # hidcap's 12-d layout: the first Linear of each of the 14 conditioning MLPs gets one more input
    widths = [64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 128, 128, 64, 64]
    assert _count(CUNet(presets.cunet())) == ORIGINAL_PARAMS + sum(widths) == 10_916_163
    # the down conv of the last level and the up conv of the first up level exist in the original but are unused
    unused = (256 * 256 * 4 + 256) + (64 * 64 * 4 + 64)
    assert _count(CUNet(presets.cunet(cond_dim=11, unused_resamplers=False))) == ORIGINAL_PARAMS - unused


def test_block_structure_of_the_full_model():
    model = CUNet(presets.cunet())
    blocks = [n for n, m in model.named_modules() if isinstance(m, CUNetBlock)]
    assert len(blocks) == 14
    for name in blocks:
        blk = model.get_submodule(name)
        # separate time and concept MLPs, each with hidden width = block width
        assert blk.emb_proj[0].out_features == blk.cond_embed[0].out_features == blk.c_out
        assert blk.emb_proj[0].in_features == 256 and blk.cond_embed[0].in_features == 12
        assert not blk.conv2.weight.any() and not blk.conv2.bias.any()  # zero-initialised second conv
    for i in range(3):
        down, up = model.downs[i].resample, model.ups[i].resample
        assert isinstance(down, nn.Conv2d) and down.kernel_size == (2, 2) and down.stride == (2, 2)
        assert isinstance(up, nn.ConvTranspose2d) and up.kernel_size == (2, 2) and up.stride == (2, 2)
    # one skip per level: only the first block of the 2nd and 3rd up levels sees concatenated channels
    assert [model.ups[k].res[0].conv1.in_channels for k in range(3)] == [256, 128 + 128, 64 + 64]
    assert [model.ups[k].res[1].conv1.in_channels for k in range(3)] == [256, 128, 64]
    assert isinstance(model.mid.attn, CUNetAttention)


def test_output_is_the_input_at_init():
    cfg = _tiny()
    model = CUNet(cfg).eval()
    x, t, c = _inputs(cfg)
    assert torch.equal(model(x, t, c), x)
    with torch.no_grad():
        model.out_conv.weight.normal_()
    assert not torch.allclose(model(x, t, c), x)
    assert torch.equal(CUNet(_tiny(residual_output=False))(x, t, c), torch.zeros_like(x))


def test_output_depends_on_time_and_cond_once_trained_weights_are_nonzero():
    cfg = _tiny()
    torch.manual_seed(0)
    model = CUNet(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("conv2.weight") or name.startswith("out_conv"):
                p.normal_(std=0.1)
    x, t, c = _inputs(cfg)
    base = model(x, t, c)
    assert not torch.allclose(base, model(x, t + 0.3, c))
    assert not torch.allclose(base, model(x, t, c + 0.3))


def test_unused_resamplers_are_never_called():
    cfg = _tiny()
    model = CUNet(cfg)
    calls = []
    last = len(cfg.channels) - 1
    for name in (f"downs.{last}.resample", f"ups.{last}.resample"):
        model.get_submodule(name).register_forward_hook(lambda m, i, o, n=name: calls.append(n))
    used = model.get_submodule("downs.0.resample").register_forward_hook(lambda m, i, o: calls.append("used"))
    model(*_inputs(cfg))
    assert calls == ["used"]
    used.remove()


def test_cond_embed_names_select_every_conditioning_mlp():
    from hidcap.tracing import Tracer, resolve_modules

    cfg = _tiny()
    model = CUNet(cfg)
    names = resolve_modules(model, "*.cond_embed")
    assert len(names) == 2 * (2 * cfg.res_blocks + 1)  # res_blocks per level down and up, 2 in the middle
    assert all(isinstance(model.get_submodule(n), nn.Sequential) for n in names)
    x, t, c = _inputs(cfg)
    with Tracer(model, "*.cond_embed") as tr:
        model(x, t, c)
    assert tr["mid.res.0.cond_embed"].shape == (3, cfg.channels[-1])
    assert len(resolve_modules(CUNet(presets.cunet()), "*.cond_embed")) == 14


def test_attention_uses_the_interleaved_head_split():
    torch.manual_seed(0)
    attn = CUNetAttention(8, heads=2, groups=4, eps=1e-6)
    x = torch.randn(2, 8, 3, 3)
    h = attn.norm(x)
    q, k, v = (m(h).reshape(2, 4, 2, 9) for m in (attn.q, attn.k, attn.v))  # (b, c/heads, heads, hw)
    w = torch.softmax(torch.einsum("bcnq,bcnk->bqkn", q, k) * 4**-0.5, dim=2)
    ref = x + attn.proj_out(torch.einsum("bcnd,bqdn->bcnq", v, w).reshape(2, 8, 3, 3))
    assert torch.allclose(attn(x), ref, atol=1e-5)


def test_timestep_embedding_values():
    e = timestep_embedding(torch.tensor([0.001]), 4, scale=1000.0)  # t·scale = 1; frequencies 1 and 1e-4
    expected = torch.tensor([[math.sin(1.0), math.sin(1e-4), math.cos(1.0), math.cos(1e-4)]])
    assert torch.allclose(e, expected, atol=1e-6)


def test_init_scale_multiplies_every_parameter():
    torch.manual_seed(0)
    a = CUNet(_tiny())
    torch.manual_seed(0)
    b = CUNet(_tiny(init_scale=0.5))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa * 0.5, pb), name


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "unet"}, "kind"),
        ({"channels": (8, 10)}, "groups"),
        ({"image_size": 15}, "image_size"),
        ({"res_blocks": 0}, "res_blocks"),
        ({"time_dim": 7}, "time_dim"),
        ({"heads": 3}, "heads"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kwargs)


def test_bad_inputs_raise():
    cfg = _tiny()
    model = CUNet(cfg)
    x, t, c = _inputs(cfg)
    with pytest.raises(ValueError, match="x must be"):
        model(x[:, :2], t, c)
    with pytest.raises(ValueError, match="t must be"):
        model(x, t[:2], c)
    with pytest.raises(ValueError, match="cond must be"):
        model(x, t, c[:, :11])
    with pytest.raises(ValueError, match="CUNetConfig"):
        CUNet(presets.tiny())


def test_config_json_roundtrip_and_registry():
    cfg = presets.cunet()
    d = config_to_dict(cfg)
    assert d["kind"] == "cunet"
    assert config_from_dict(CUNetConfig, d) == cfg
    assert isinstance(build_model(cfg), CUNet) and presets.get("tiny-cunet") == _tiny()


def test_two_step_train_and_reload(tmp_path):
    from hidcap.tracing import Tracer
    from hidcap.config_io import load_config
    from hidcap.training import TrainConfig, run_preset, train

    config = run_preset("tiny-cunet", steps=2, log_every=1)
    series = train(config, tmp_path / "run", progress=False)
    assert series.steps == [0, 1, 2]
    assert load_config(TrainConfig, tmp_path / "run" / "config.json") == config
    rows = series.metrics()
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) for r in rows) and "gamma_min" in rows[0]
    model = series.load(2)
    assert isinstance(model, CUNet)
    x, t, c = _inputs(config.model)
    with Tracer(model, "*.cond_embed") as tr:
        model(x, t, c)
    assert tr.names == [n for n, _ in model.named_modules() if n.endswith("cond_embed")]
