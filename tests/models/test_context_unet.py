"""Okawa et al.'s ContextUNet: parameter counts, structure, multiplicative concept sites, cond_embed naming."""
import math

import pytest
import torch
from torch import nn

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.models import ContextUNet, ContextUNetConfig, build_model, presets
from hidcap.models.context_unet import trainable_parameters

#: phys-ai/concept_graphs ContextUnet(in_channels=4, n_feat=256, n_classes=[2, 3, 1]) with its concept
#: embeddings counted (issue 14)
ORIGINAL_PARAMS = 26_980_356


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _inputs(cfg: ContextUNetConfig, b: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    return x, torch.rand(b, generator=g), torch.rand(b, cfg.cond_dim, generator=g)


def test_parameter_count_matches_the_original():
    assert presets.context_unet().n_classes == (2, 3, 1)
    assert _count(ContextUNet(presets.context_unet(in_channels=4))) == ORIGINAL_PARAMS
    # the concept embeddings: Linear(d, w)→GELU→Linear(w, w) per concept group, w = 512 and 256
    embeds = sum(d * w + w + w * w + w for d in (2, 3, 1) for w in (512, 256))
    frozen = ContextUNet(presets.context_unet(in_channels=4, train_cond_embed=False))
    assert _count(frozen) == ORIGINAL_PARAMS and trainable_parameters(frozen) == ORIGINAL_PARAMS - embeds
    # hidcap's RGB images: one input channel fewer in the stem's first conv and the head's last conv
    assert _count(ContextUNet(presets.context_unet())) == ORIGINAL_PARAMS - 256 * 9 - (256 * 9 + 1) == 26_975_747


def test_structure():
    model = ContextUNet(presets.context_unet())
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.BatchNorm2d) == 2 * 7  # stem, down1, down2, and two blocks in each of up1, up2
    assert kinds.count(nn.MaxPool2d) == 2 and kinds.count(nn.AvgPool2d) == 1
    assert model.to_vec[0].kernel_size == 7 and model.up0[0].kernel_size == (7, 7)
    assert not any("attn" in n.lower() or "attention" in type(m).__name__.lower() for n, m in model.named_modules())
    assert model.time_embed1[0].in_features == 1 and model.time_embed2[0].in_features == 1


def test_forward_and_time_and_cond_dependence():
    cfg = presets.tiny_context_unet()
    torch.manual_seed(0)
    model = ContextUNet(cfg).eval()
    x, t, c = _inputs(cfg)
    base = model(x, t, c)
    assert base.shape == x.shape
    assert not torch.allclose(base, model(x, t + 0.2, c))
    changed = c.clone()
    changed[:, 5] += 0.5  # colour: a concept slot
    assert not torch.allclose(base, model(x, t, changed))
    other = c.clone()
    other[:, [2, 3, 4, 9, 10, 11]] = 0.3  # slots outside the concept groups (3rd shape, x, y, background)
    assert torch.equal(base, model(x, t, other))


def test_concept_embeddings_multiply_decoder_features():
    from hidcap.tracing import Tracer

    cfg = presets.tiny_context_unet()
    torch.manual_seed(0)
    model = ContextUNet(cfg).eval()
    x, t, c = _inputs(cfg)
    with Tracer(model, ["up0", "up1", "time_embed1", "site1.cond_embed"], record_inputs=True) as tr:
        model(x, t, c)
    expected = tr["site1.cond_embed"] * tr["up0"] + tr["time_embed1"][:, :, None, None]
    assert torch.allclose(tr.inputs("up1")[0], expected, atol=1e-6)


def test_cond_embed_names_and_frozen_option():
    from hidcap.tracing import resolve_modules

    model = ContextUNet(presets.tiny_context_unet())
    assert resolve_modules(model, "*.cond_embed") == ["site1.cond_embed", "site2.cond_embed"]
    assert all(p.requires_grad for p in model.parameters())
    frozen = ContextUNet(presets.tiny_context_unet(train_cond_embed=False))
    assert not any(p.requires_grad for p in frozen.site1.parameters())
    assert all(p.requires_grad for n, p in frozen.named_parameters() if not n.startswith("site"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "cunet"}, "kind"),
        ({"image_size": 10}, "image_size"),
        ({"n_feat": 12}, "n_feat"),
        ({"cond_groups": ((0, 13),)}, "cond_groups"),
        ({"cond_groups": ()}, "cond_groups"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        presets.tiny_context_unet(**kwargs)


def test_bad_inputs_raise():
    cfg = presets.tiny_context_unet()
    model = ContextUNet(cfg)
    x, t, c = _inputs(cfg)
    with pytest.raises(ValueError, match="x must be"):
        model(x[..., :4], t, c)
    with pytest.raises(ValueError, match="t must be"):
        model(x, t[:1], c)
    with pytest.raises(ValueError, match="cond must be"):
        model(x, t, None)
    with pytest.raises(ValueError, match="ContextUNetConfig"):
        ContextUNet(presets.tiny_cunet())


def test_config_json_roundtrip_and_registry():
    cfg = presets.context_unet()
    d = config_to_dict(cfg)
    assert d["kind"] == "context-unet"
    assert config_from_dict(ContextUNetConfig, d) == cfg
    assert isinstance(build_model(cfg), ContextUNet) and presets.get("tiny-context-unet") == presets.tiny_context_unet()


def test_two_step_train_and_reload(tmp_path):
    from hidcap.config_io import load_config
    from hidcap.training import TrainConfig, run_preset, train

    config = run_preset("tiny-concept-graphs", steps=2, log_every=1)
    series = train(config, tmp_path / "run", progress=False)
    assert series.steps == [0, 1, 2]
    assert load_config(TrainConfig, tmp_path / "run" / "config.json") == config
    assert all(math.isfinite(r["loss"]) for r in series.metrics())
    model = series.load(2)
    assert isinstance(model, ContextUNet)
    # BatchNorm running statistics travel with the checkpoint
    assert int(model.stem.conv1[1].num_batches_tracked) == 2
