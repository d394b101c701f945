import fnmatch

import pytest
import torch
from torch import nn

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.models import SinusoidalEncoding, UNet, UNetConfig, presets, sinusoidal_embedding


def _randomise_head(model: UNet, seed: int = 0) -> None:
    """The ε head is zero-initialised; give it weights so outputs depend on the input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.out_conv.weight.copy_(torch.randn(model.out_conv.weight.shape, generator=g) * 0.1)


def _inputs(cfg: UNetConfig, b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    return x, torch.tensor([3.0, 17.0][:b]), torch.rand(b, cfg.cond_dim, generator=g)


@pytest.mark.parametrize("mode", ["block_mlp", "shared", "concat_pe", "none"])
def test_forward_shape_every_conditioning_mode(mode):
    cfg = presets.tiny(conditioning=mode)
    model = UNet(cfg)
    x, t, c = _inputs(cfg)
    out = model(x, t, c if mode != "none" else None)
    assert out.shape == x.shape
    assert torch.all(out == 0)  # zero-initialised head: the initial model predicts ε̂ = 0


def test_full_presets_build_and_run():
    for cfg in (presets.hidden_capabilities(), presets.gaussian_bumps()):
        model = UNet(cfg).eval()
        x, t, c = _inputs(cfg, b=1)
        assert model(x, t, c).shape == x.shape
    assert presets.hidden_capabilities().cond_dim == 12 and presets.gaussian_bumps().in_channels == 1


@pytest.mark.parametrize("mode", ["block_mlp", "shared", "concat_pe"])
def test_output_depends_on_cond_and_time(mode):
    cfg = presets.tiny(conditioning=mode)
    model = UNet(cfg).eval()
    _randomise_head(model)
    x, t, c = _inputs(cfg)
    base = model(x, t, c)
    assert not torch.allclose(base, model(x, t, c + 0.5))
    assert not torch.allclose(base, model(x, t + 5, c))
    assert torch.equal(base, model(x, t, c))  # deterministic in eval mode


def test_same_seed_same_init_bytes():
    torch.manual_seed(5)
    a = UNet(presets.tiny()).state_dict()
    torch.manual_seed(5)
    b = UNet(presets.tiny()).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_module_names_follow_the_contract():
    cfg = presets.tiny()
    names = dict(UNet(cfg).named_modules())
    for n in ("time_embed", "stem", "downs.0.res.0", "downs.1.res.0", "mid.res.0", "mid.attn", "mid.res.1",
              "ups.0.res.0", "ups.1.res.0", "ups.1.res.1", "downs.0.resample", "out_conv"):
        assert n in names, n
    res_blocks = [n for n, m in names.items() if type(m).__name__ == "ResBlock"]
    cond = fnmatch.filter(names, "*.cond_embed")
    assert sorted(cond) == sorted(f"{n}.cond_embed" for n in res_blocks)
    assert len(res_blocks) == 2 * 1 + 2 + 2 * 2  # downs + mid + ups (res_blocks + 1 per level)
    assert "cond_embed" not in names
    shared = dict(UNet(presets.tiny(conditioning="shared")).named_modules())
    assert "cond_embed" in shared and not fnmatch.filter(shared, "*.cond_embed")
    pe = UNet(presets.tiny_bumps())
    assert isinstance(pe.cond_embed, SinusoidalEncoding)
    assert not list(pe.cond_embed.parameters())


def test_tracer_records_every_block_conditioning_mlp():
    from hidcap.tracing import Tracer

    cfg = presets.tiny()
    model = UNet(cfg)
    x, t, c = _inputs(cfg)
    with Tracer(model, ["*.cond_embed", "mid.attn"]) as tr:
        model(x, t, c)
    assert tr["downs.0.res.0.cond_embed"].shape == (2, cfg.channels[0])
    assert tr["mid.attn"].shape == (2, cfg.channels[-1], 8, 8)


def test_block_cond_bias_is_the_conditioning_mlp_output():
    cfg = presets.tiny()
    model = UNet(cfg)
    _, _, c = _inputs(cfg)
    mlp = model.downs[0].res[0].cond_embed
    e = mlp(c)
    assert e.shape == (2, cfg.channels[0]) and torch.all(e >= -0.2)  # ends in GELU


def test_bad_inputs_raise_clear_errors():
    cfg = presets.tiny()
    model = UNet(cfg)
    x, t, c = _inputs(cfg)
    with pytest.raises(ValueError, match="x must be"):
        model(x[:, :1], t, c)
    with pytest.raises(ValueError, match="cond must be"):
        model(x, t, c[:, :3])
    with pytest.raises(ValueError, match="cond must be"):
        model(x, t, None)
    with pytest.raises(ValueError, match="t must be"):
        model(x, torch.zeros(3), c)
    assert model(x, 4.0, c).shape == x.shape  # a scalar t broadcasts


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"conditioning": "film"}, "conditioning"),
        ({"channels": (8, 10)}, "groups"),
        ({"image_size": 15}, "image_size"),
        ({"res_blocks": 0}, "res_blocks"),
        ({"dropout": 1.0}, "dropout"),
        ({"time_dim": 15}, "time_dim"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        presets.tiny(**kwargs)


def test_config_json_roundtrip_and_preset_lookup():
    cfg = presets.gaussian_bumps()
    assert config_from_dict(UNetConfig, config_to_dict(cfg)) == cfg
    assert presets.get("tiny_bumps") == presets.tiny_bumps()
    with pytest.raises(KeyError, match="unknown model preset"):
        presets.get("resnet")
    with pytest.raises(ValueError, match="UNetConfig"):
        UNet({"channels": (8,)})


def test_sinusoidal_embedding_values():
    e = sinusoidal_embedding(torch.tensor([0.0, 1.0]), 4, max_period=100.0)
    expected = torch.tensor([[1.0, 1.0, 0.0, 0.0], [torch.cos(torch.tensor(1.0)), torch.cos(torch.tensor(0.1)),
                                                     torch.sin(torch.tensor(1.0)), torch.sin(torch.tensor(0.1))]])
    assert torch.allclose(e, expected, atol=1e-6)
    enc = SinusoidalEncoding(4, scale=2.0)
    out = enc(torch.tensor([[0.5, 1.0]]))
    assert out.shape == (1, 8)
    assert torch.allclose(out[0, :4], sinusoidal_embedding(torch.tensor([1.0]), 4)[0])
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.zeros(2), 5)


def test_channels_last_matches_contiguous():
    cfg = presets.tiny()
    model = UNet(cfg).eval()
    _randomise_head(model)
    x, t, c = _inputs(cfg)
    ref = model(x, t, c)
    model_cl = model.to(memory_format=torch.channels_last)
    out = model_cl(x.contiguous(memory_format=torch.channels_last), t, c)
    assert torch.allclose(ref, out, atol=1e-5)


def test_gradients_reach_every_parameter():
    cfg = presets.tiny()
    model = UNet(cfg)
    _randomise_head(model)
    x, t, c = _inputs(cfg)
    model(x, t, c).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing
    assert isinstance(model.mid.attn, nn.Module)
