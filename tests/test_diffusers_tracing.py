"""The Tracer and patch on diffusers models built from tiny local configs: UNet2DModel, UNet2DConditionModel
(cross-attention ``attn2``) and a DiT transformer. Globs, edits, and patching between two checkpoints of a
diffusers training output (``checkpoint-N/unet``) read by DiffusersSeries."""
from __future__ import annotations

from fnmatch import fnmatch

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from hidcap.diffusers_sampling import DiffusersSampler
from hidcap.diffusers_series import DiffusersSeries
from hidcap.patching import patch
from hidcap.tracing import Tracer, resolve_modules


def unet2d(seed):
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4, attention_head_dim=4, num_class_embeds=3).eval()


def unet_cond(seed):
    torch.manual_seed(seed)
    return diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        norm_num_groups=4, cross_attention_dim=6, attention_head_dim=2).eval()


def dit(seed):
    torch.manual_seed(seed)
    return diffusers.DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=4, in_channels=1, out_channels=2,
                                           num_layers=2, sample_size=8, patch_size=2, num_embeds_ada_norm=5).eval()


torch.manual_seed(0)
X, T = torch.randn(2, 1, 8, 8), torch.tensor([3, 11])
LABELS, EHS = torch.tensor([0, 2]), torch.randn(2, 3, 6)

#: kind -> (builder, forward keyword arguments, a glob, the number of modules it matches, a block to patch)
KINDS = {
    "unet2d": (unet2d, {"class_labels": LABELS}, "*.resnets.0", 5, "down_blocks.1"),
    "unet_cond": (unet_cond, {"encoder_hidden_states": EHS}, "*.attn2", 4, "up_blocks.1"),
    "dit": (dit, {"class_labels": LABELS}, "transformer_blocks.*.attn1", 2, "transformer_blocks.1"),
}


def leaf(record):
    return record if torch.is_tensor(record) else record[0]


def run(model, kwargs):
    return model(X, T, **kwargs).sample


@pytest.mark.parametrize("kind", KINDS)
def test_glob_records_every_matched_module(kind):
    build, kwargs, glob, count, _ = KINDS[kind]
    model = build(0)
    with Tracer(model, [glob]) as tr:
        out = run(model, kwargs)
    recorded = {n: leaf(tr[n]) for n in tr.names}
    assert len(recorded) == count and all(fnmatch(n, glob) for n in recorded)
    assert all(r.shape[0] == 2 and torch.isfinite(r).all() for r in recorded.values())
    assert torch.equal(out, run(model, kwargs))  # recording changes nothing


def test_attn2_outputs_carry_the_text_condition():
    model = unet_cond(0)
    attn2 = resolve_modules(model, "*.attn2")
    assert attn2 and all(n.endswith("transformer_blocks.0.attn2") for n in attn2)
    with Tracer(model, attn2) as tr:
        run(model, {"encoder_hidden_states": EHS})
    for n in attn2:  # (B, H·W tokens, channels) of the block it sits in
        rec = leaf(tr[n])
        assert rec.ndim == 3 and rec.shape[0] == 2
    # zeroing every cross-attention output removes the text condition from the output
    zero = {n: (lambda out, i: torch.zeros_like(out)) for n in attn2}
    with Tracer(model, edits=zero):
        a = run(model, {"encoder_hidden_states": EHS})
        b = run(model, {"encoder_hidden_states": torch.randn(2, 3, 6)})
    torch.testing.assert_close(a, b)
    assert not torch.allclose(run(model, {"encoder_hidden_states": EHS}),
                              run(model, {"encoder_hidden_states": torch.randn(2, 3, 6)}))


@pytest.mark.parametrize("kind", KINDS)
def test_edit_changes_output_and_is_undone(kind):
    build, kwargs, glob, _, _ = KINDS[kind]
    model = build(0)
    before = run(model, kwargs)
    with Tracer(model, edits={glob: lambda out, i: out * 0.0 if torch.is_tensor(out) else out}):
        edited = run(model, kwargs)
    assert not torch.allclose(edited, before)
    assert torch.equal(run(model, kwargs), before)


@pytest.mark.parametrize("kind", KINDS)
def test_patch_between_two_checkpoints(kind, tmp_path):
    build, kwargs, _, _, block = KINDS[kind]
    sub = "transformer" if kind == "dit" else "unet"
    build(0).save_pretrained(tmp_path / "checkpoint-100" / sub)
    build(1).save_pretrained(tmp_path / "checkpoint-200" / sub)
    series = DiffusersSeries(tmp_path, subfolder=sub)
    early, late = series.load(100), series.load(200)
    base = run(late, kwargs)
    with patch(late, "*", 100, series=series) as names:
        torch.testing.assert_close(run(late, kwargs), run(early, kwargs))
    assert names and torch.equal(run(late, kwargs), base)
    # one block from step 100 inside step 200's model: a mixture, neither checkpoint's output
    with patch(late, block, 100, series=series):
        patched = run(late, kwargs)
    assert not torch.allclose(patched, base) and not torch.allclose(patched, run(early, kwargs))


def test_record_the_last_sampling_step_of_a_diffusers_sampler():
    model = unet2d(0)
    sampler = DiffusersSampler(diffusers.DDIMScheduler(num_train_timesteps=20))
    with Tracer(model, ["mid_block"], calls=-1) as tr:
        sampler.sample(model, torch.tensor([[0.0], [1.0]]), torch.Generator().manual_seed(0), steps=3, progress=False)
    with Tracer(model, ["mid_block"]) as every:
        sampler.sample(model, torch.tensor([[0.0], [1.0]]), torch.Generator().manual_seed(0), steps=3, progress=False)
    assert len(every.records("mid_block")) == 3 and len(tr.records("mid_block")) == 1
    assert torch.equal(tr["mid_block"], every.records("mid_block")[-1])
