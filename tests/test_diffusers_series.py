"""hidcap.diffusers_series: diffusers checkpoint-N folders and state-dict folders as checkpoint series."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

diffusers = pytest.importorskip("diffusers")

from hidcap.diffusers_sampling import DiffusersSampler
from hidcap.diffusers_series import (
    DiffusersSeries,
    StateDictSeries,
    import_diffusers,
    load_scheduler,
)
from hidcap.experiments.recording import record_samples
from hidcap.patching import patch
from hidcap.runs import is_series


def unet(seed):
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
        class_embed_type="identity")


def embed(c):  # (B, 2) centres -> (B, 32) = time_embed_dim of unet()
    return torch.cat([torch.sin(c * k) for k in range(1, 17)], dim=1)


@pytest.fixture
def output(tmp_path):
    """A diffusers training output: checkpoint-{2,10}/unet and unet_ema (weights halved), scheduler/."""
    for step, seed in ((10, 1), (2, 0)):
        unet(seed).save_pretrained(tmp_path / f"checkpoint-{step}" / "unet")
    for step, seed in ((10, 1), (2, 0)):  # EMAModel.save_pretrained, as the training scripts' save hook
        ema = diffusers.training_utils.EMAModel(unet(seed).parameters(), model_cls=diffusers.UNet2DModel,
                                                model_config=unet(seed).config)
        with torch.no_grad():
            for p in ema.shadow_params:
                p.mul_(0.5)
        ema.save_pretrained(str(tmp_path / f"checkpoint-{step}" / "unet_ema"))
    diffusers.DDPMScheduler(num_train_timesteps=20).save_pretrained(tmp_path / "scheduler")
    (tmp_path / "checkpoint-10" / "optimizer.bin").write_bytes(b"accelerate state, ignored")
    return tmp_path


def same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_steps_from_folder_names_and_lazy_loading(output):
    series = DiffusersSeries(output)
    assert series.steps == [2, 10] and len(series) == 2 and is_series(series)
    assert series.path(-1) == output / "checkpoint-10" / "unet"
    assert same_params(series.load(2), unet(0)) and same_params(series.load(-1), unet(1))
    assert not series.load(2).training
    assert [s for s, _ in series] == [2, 10]
    assert set(series.state_dict(np.int64(10))) == set(unet(0).state_dict())
    assert "2 checkpoints, last step 10" in repr(series)


def test_unet_ema_subfolder(output):
    ema = DiffusersSeries(output, subfolder="unet_ema")
    half = {k: v * 0.5 for k, v in unet(1).state_dict().items()}
    loaded = ema.load(10).state_dict()
    assert ema.steps == [2, 10] and all(torch.allclose(loaded[k], half[k]) for k in half)


def test_patch_from_a_step(output):
    series = DiffusersSeries(output)
    model, x, t = series.load(10), torch.randn(2, 1, 8, 8), torch.tensor([3, 7])
    c = embed(torch.rand(2, 2))
    before = model(x, t, c).sample
    with patch(model, "*", 2, series=series):
        torch.testing.assert_close(model(x, t, c).sample, series.load(2)(x, t, c).sample)
    assert torch.equal(model(x, t, c).sample, before)


def test_missing_and_corrupt_folders_are_named(output, tmp_path_factory):
    nowhere = output / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        DiffusersSeries(nowhere)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match="no checkpoint-N/unet folders in .*empty"):
        DiffusersSeries(empty)
    (output / "checkpoint-20").mkdir()
    with pytest.raises(FileNotFoundError, match="checkpoint-20/unet"):
        DiffusersSeries(output)
    (output / "checkpoint-20").rmdir()
    series = DiffusersSeries(output)
    with pytest.raises(FileNotFoundError, match="step 3 .* available steps: \\[2, 10\\]"):
        series.load(3)
    weights = output / "checkpoint-2" / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="checkpoint-2/unet/diffusion_pytorch_model.safetensors .*corrupt"):
        series.load(2)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="no weights in .*checkpoint-2/unet"):
        series.state_dict(2)
    (output / "checkpoint-10" / "unet" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="checkpoint-10/unet/config.json is not a readable JSON"):
        series.load(10)


def test_pickle_weights_refused_unless_allowed(output):
    folder = output / "checkpoint-2" / "unet"
    torch.save(unet(0).state_dict(), folder / "diffusion_pytorch_model.bin")
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ValueError, match="pickle file, refused"):
        DiffusersSeries(output).load(2)
    assert same_params(DiffusersSeries(output, allow_pickle=True).load(2), unet(0))


def test_sampler_and_measurements(output):
    with pytest.raises(ValueError, match="no sampler"):
        DiffusersSeries(output).diffusion(2)
    sampler = DiffusersSampler(load_scheduler(output / "scheduler"), "embedding", embed=embed)
    series = DiffusersSeries(output, sampler=sampler)
    assert series.diffusion(10) is sampler
    labels = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    images, acts = record_samples(series, 10, labels, sample_steps=3, seed=0, layer="up_blocks.0", batch=2)
    again, _ = record_samples(series, 10, labels, sample_steps=3, seed=0, batch=2)
    assert images.shape == (3, 1, 8, 8) and acts.shape[0] == 3 and torch.equal(images, again)
    with pytest.raises(FileNotFoundError, match="no scheduler in"):
        load_scheduler(output / "checkpoint-2")


def test_state_dict_folder(tmp_path):
    for step, seed in ((500, 0), (1500, 1)):
        save_file(unet(seed).state_dict(), str(tmp_path / f"model-{step:06d}.safetensors"))
    series = StateDictSeries(tmp_path, lambda: unet(9))
    assert series.steps == [500, 1500] and is_series(series)
    assert same_params(series.load(500), unet(0)) and same_params(series.load(-1), unet(1))
    torch.save(unet(2).state_dict(), tmp_path / "step_2000.pt")
    with pytest.raises(ValueError, match=r"pickle files \['step_2000.pt'\], refused"):
        StateDictSeries(tmp_path, lambda: unet(9))
    trusted = StateDictSeries(tmp_path, lambda: unet(9), allow_pickle=True)
    assert trusted.steps == [500, 1500, 2000] and same_params(trusted.load(2000), unet(2))
    save_file({"w": torch.zeros(1)}, str(tmp_path / "final.safetensors"))
    with pytest.raises(ValueError, match="final.safetensors has no step number"):
        StateDictSeries(tmp_path, lambda: unet(9), allow_pickle=True)
    (tmp_path / "final.safetensors").rename(tmp_path / "other_500.safetensors")
    with pytest.raises(ValueError, match="two checkpoint files for step 500"):
        StateDictSeries(tmp_path, lambda: unet(9), allow_pickle=True)
    (tmp_path / "none").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*.safetensors checkpoint files in .*none"):
        StateDictSeries(tmp_path / "none", lambda: unet(9))
    (tmp_path / "sub").mkdir()
    save_file({"w": torch.zeros(1)}, str(tmp_path / "sub" / "step_1.safetensors"))
    with pytest.raises(ValueError, match="step_1.safetensors does not fit the model"):
        StateDictSeries(tmp_path / "sub", lambda: torch.nn.Linear(2, 2)).load(1)


def test_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(ImportError, match=r"hidcap\[diffusers\]"):
        import_diffusers()


def test_concept_space_runs_on_a_diffusers_series(tmp_path):
    from hidcap.data import COND_DIM, ConceptDataSpec
    from hidcap.evaluation.classifiers import ConceptProbe, ProbeConfig
    from hidcap.evaluation.concept_scores import concept_space

    for step in (0, 7):  # a text-conditioned UNet2DConditionModel whose "text" is hidcap's concept prompt
        torch.manual_seed(step)
        diffusers.UNet2DConditionModel(
            sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            norm_num_groups=4, cross_attention_dim=COND_DIM, attention_head_dim=2,
        ).save_pretrained(tmp_path / f"checkpoint-{step}" / "unet")
    sampler = DiffusersSampler(diffusers.DDIMScheduler(num_train_timesteps=20), "encoder_hidden_states")
    series = DiffusersSeries(tmp_path, sampler=sampler)
    spec = ConceptDataSpec(concepts=("color", "size"), image_size=8)
    torch.manual_seed(0)
    probe = ConceptProbe(ProbeConfig(concepts=("color", "size"), image_size=8, width=4)).eval()
    cs = concept_space(series, spec, probe, classes=["00", "11"], samples_per_class=2, seed=0,
                       allow_inaccurate_probe=True, progress=False, steps=2)
    again = concept_space(series, spec, probe, classes=["00", "11"], samples_per_class=2, seed=0,
                          allow_inaccurate_probe=True, progress=False, steps=2)
    assert cs.steps == [0, 7] and cs.classes == ["00", "11"]
    assert np.array_equal(cs.point(7, "11"), again.point(7, "11"))
    assert not np.array_equal(cs.point(0, "11"), cs.point(7, "11"))


def test_sharded_weights(tmp_path):
    unet(3).save_pretrained(tmp_path / "checkpoint-5" / "unet", max_shard_size="20KB")
    folder = tmp_path / "checkpoint-5" / "unet"
    assert (folder / "diffusion_pytorch_model.safetensors.index.json").is_file()
    assert len(list(folder.glob("*.safetensors"))) > 1
    assert same_params(DiffusersSeries(tmp_path).load(5), unet(3))
