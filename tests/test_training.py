import json
import warnings
from dataclasses import replace

import pytest
import torch

from hidcap.checkpoints import checkpoint_path
from hidcap.runs import CheckpointSeries
from hidcap.config_io import config_from_dict, config_to_dict, load_config
from hidcap.data import BumpDataSpec, ConceptDataSpec
from hidcap.diffusion import DDPMConfig, OkawaDDPMConfig, ParkVDMConfig, VDMConfig
from hidcap.models import ContextUNetConfig, CUNetConfig, UNetConfig, presets
from hidcap.training import (
    CheckpointConfig,
    NonFiniteLossError,
    RUN_PRESETS,
    OptimConfig,
    TrainConfig,
    _BatchOrder,
    checkpoint_steps,
    run_preset,
    train,
    train_tensors,
)



def _micro(**kw) -> TrainConfig:
    """8×8 RGB images, channels (8, 16): a few ms per step."""
    base = TrainConfig(
        model=presets.tiny(image_size=8, cond_dim=2),
        diffusion=DDPMConfig.scaled(50),
        optimizer=OptimConfig(lr=3e-3, weight_decay=0.0),
        checkpoints=CheckpointConfig(steps=(4, 8, 12)),
        batch_size=8,
        steps=12,
        log_every=2,
    )
    return replace(base, **kw)


def _tensors(n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cond = torch.rand(n, 2, generator=g)
    images = cond[:, :1, None, None].expand(n, 3, 8, 8).clone()
    images[:, 1] = cond[:, 1:2, None]
    return images, cond


def test_checkpoint_steps():
    assert checkpoint_steps(100, 4) == (6, 25, 56, 100)
    assert checkpoint_steps(100, 4, "linear", include_start=True) == (0, 25, 50, 75, 100)
    s = checkpoint_steps(20000, 60)
    assert len(s) == 60 and s[-1] == 20000 and all(a < b for a, b in zip(s, s[1:]))
    assert s[1] - s[0] < s[-1] - s[-2]  # dense early
    assert checkpoint_steps(5, 10) == (1, 2, 3, 4, 5)
    dense = checkpoint_steps(30, 20)
    assert len(dense) == 20 and dense[-1] == 30 and all(a < b for a, b in zip(dense, dense[1:]))
    with pytest.raises(ValueError, match="spacing"):
        checkpoint_steps(10, 2, "log")
    with pytest.raises(ValueError, match="total"):
        checkpoint_steps(0, 2)


@pytest.mark.parametrize("name", sorted(RUN_PRESETS))
def test_run_presets_roundtrip_through_json(name, tmp_path):
    cfg = run_preset(name)
    assert config_from_dict(TrainConfig, config_to_dict(cfg)) == cfg
    assert isinstance(cfg.data, (ConceptDataSpec, BumpDataSpec))
    assert cfg.model.in_channels == cfg.data.channels and cfg.model.image_size == cfg.data.image_size
    assert cfg.model.cond_dim == cfg.data.cond_dim
    if isinstance(cfg.model, UNetConfig):
        assert (cfg.model.time_scale == 1000.0) == isinstance(cfg.diffusion, VDMConfig)
    else:  # the papers' networks go with the papers' diffusions (their time inputs are normalised γ, t/T)
        pairs = {CUNetConfig: ParkVDMConfig, ContextUNetConfig: OkawaDDPMConfig}
        assert isinstance(cfg.diffusion, pairs[type(cfg.model)])


def test_bad_config_values():
    with pytest.raises(ValueError, match="dtype"):
        _micro(dtype="int8")
    with pytest.raises(ValueError, match="batch_size"):
        _micro(batch_size=0)
    with pytest.raises(ValueError, match="checkpoints.steps"):
        _micro(checkpoints=CheckpointConfig(steps=(50,)))
    with pytest.raises(KeyError, match="unknown run preset"):
        run_preset("huge")


def test_batch_order_is_a_function_of_step():
    a, b = _BatchOrder(10, 3, seed=4), _BatchOrder(10, 3, seed=4)
    first = [a.indices(s) for s in range(7)]
    assert torch.equal(b.indices(5), first[5])  # random access gives the same batch
    epoch0 = torch.cat(first[:3])
    assert len(set(epoch0.tolist())) == 9  # no repeats inside an epoch


def test_train_on_tensors_writes_the_run(tmp_path):
    images, cond = _tensors()
    series = train_tensors(images, cond, _micro(), tmp_path / "run", progress=False)
    assert series.steps == [4, 8, 12]
    assert (tmp_path / "run" / "config.json").is_file()
    assert load_config(TrainConfig, tmp_path / "run" / "config.json") == _micro()
    rows = series.metrics()
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    assert all({"loss", "lr", "grad_norm", "seconds"} <= set(r) for r in rows)
    assert not list((tmp_path / "run" / "checkpoints").glob(".*tmp*"))
    model = series.load(-1)
    assert model.config == _micro().model
    # the series loads onto the device the run trained on (a CUDA run is measured on CUDA)
    assert series.device == torch.device(_micro().device) == next(model.parameters()).device


def test_loss_decreases_in_a_few_dozen_steps(tmp_path):
    images, cond = _tensors(64)
    cfg = _micro(steps=60, log_every=10, checkpoints=CheckpointConfig(count=1))
    rows = train_tensors(images, cond, cfg, tmp_path, progress=False).metrics()
    assert rows[-1]["loss"] < 0.6 * rows[0]["loss"]


def _weights(series: CheckpointSeries, step: int = -1) -> dict:
    return series.state_dict(step)


def test_resume_gives_bit_identical_weights(tmp_path, monkeypatch):
    images, cond = _tensors()
    cfg = _micro(
        model=presets.tiny(image_size=8, cond_dim=2, dropout=0.2),  # dropout: the global RNG must resume too
        diffusion=VDMConfig(cond_drop=0.25),  # learned γ: schedule params and their optimizer state resume
        steps=12,
        log_every=1,
    )
    full = train_tensors(images, cond, cfg, tmp_path / "full", progress=False)

    calls = {"n": 0}
    original = _BatchOrder.indices

    def interrupted(self, step):
        if step == 10:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(self, step)

    monkeypatch.setattr(_BatchOrder, "indices", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_tensors(images, cond, cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(_BatchOrder, "indices", original)
    assert CheckpointSeries(tmp_path / "cut").steps == [4, 8]
    resumed = train_tensors(images, cond, cfg, tmp_path / "cut", progress=False)
    assert resumed.steps == [4, 8, 12]
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(full.diffusion(-1).gamma_min, resumed.diffusion(-1).gamma_min)
    assert [r["step"] for r in resumed.metrics()] == list(range(1, 13))  # rows after step 8 were redone once
    assert [r["loss"] for r in resumed.metrics()] == [r["loss"] for r in full.metrics()]
    # a finished run returns at once
    assert train_tensors(images, cond, cfg, tmp_path / "cut", progress=False).steps == [4, 8, 12]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from hidcap.diffusion import DDPM

    images, cond = _tensors()
    original = DDPM.loss
    count = {"n": 0}

    def flaky(self, model, x0, c, generator):
        count["n"] += 1
        loss = original(self, model, x0, c, generator)
        return loss * float("nan") if count["n"] >= 6 else loss

    monkeypatch.setattr(DDPM, "loss", flaky)
    with pytest.raises(NonFiniteLossError, match=r"step 6.*last good checkpoint is step 4"):
        train_tensors(images, cond, _micro(log_every=1), tmp_path, progress=False)
    series = CheckpointSeries(tmp_path)
    assert series.steps == [4]
    assert all(torch.isfinite(t).all() for t in series.state_dict(4).values())


def test_run_dir_guards(tmp_path):
    images, cond = _tensors()
    train_tensors(images, cond, _micro(steps=4, checkpoints=CheckpointConfig(steps=(4,))), tmp_path, progress=False)
    with pytest.raises(ValueError, match="different config"):
        train_tensors(images, cond, _micro(), tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="already holds checkpoints"):
        train_tensors(images, cond, _micro(steps=4, checkpoints=CheckpointConfig(steps=(4,))), tmp_path,
                      progress=False, resume=False)


def test_bad_data_raises(tmp_path):
    images, cond = _tensors()
    with pytest.raises(ValueError, match="images must be"):
        train_tensors(images[:, :1], cond, _micro(), tmp_path)
    with pytest.raises(ValueError, match="cond_dim"):
        train_tensors(images, torch.rand(32, 5), _micro(), tmp_path)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_tensors(images * 3, cond, _micro(), tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        train_tensors(images[:4], cond[:4], _micro(), tmp_path)
    with pytest.raises(ValueError, match="config.data is None"):
        train(_micro(), tmp_path)


@pytest.mark.parametrize("spec, model", [
    (ConceptDataSpec(image_size=8, images_per_class=8), presets.tiny(image_size=8)),
    (BumpDataSpec(image_size=8, increment=1.0, periodic=True), presets.tiny_bumps(image_size=8, channels=(8, 16))),
])
def test_train_from_a_data_spec(spec, model, tmp_path):
    cfg = _micro(model=model, data=spec, steps=4, checkpoints=CheckpointConfig(steps=(4,)))
    series = train(cfg, tmp_path, progress=False)
    assert series.steps == [4]
    saved = json.loads((tmp_path / "config.json").read_text())
    assert load_config(TrainConfig, tmp_path / "config.json").data == spec and "data" in saved


def test_bf16_autocast_and_channels_last_train(tmp_path):
    images, cond = _tensors()
    cfg = _micro(dtype="bfloat16", channels_last=True, steps=4, checkpoints=CheckpointConfig(steps=(4,)))
    series = train_tensors(images, cond, cfg, tmp_path, progress=False)
    assert all(t.dtype == torch.float32 for t in series.state_dict(-1).values())
    assert torch.isfinite(torch.tensor(series.metrics()[-1]["loss"]))


@pytest.mark.slow
def test_tiny_model_learns_its_classes(tmp_path):
    """Overfit concept data (color x background, centred objects): the mean of the samples of each training
    class is closer to that class's mean image than to the other classes' means. ~2 min on a loaded 2-core
    CPU. (At 8x8 px the size concept is too faint for a few hundred steps.)"""
    spec = ConceptDataSpec(concepts=("color", "background"), image_size=8, images_per_class=32,
                           color_separation=0.8, blur_px=0.0, position_range=0.0)
    cfg = _micro(model=presets.tiny(image_size=8, time_scale=1.0), data=spec, diffusion=DDPMConfig.scaled(50),
                 steps=500, batch_size=16, log_every=50, checkpoints=CheckpointConfig(count=1),
                 optimizer=OptimConfig(lr=1e-2, weight_decay=0.0))
    series = train(cfg, tmp_path, progress=False)
    data = spec.build(0)
    k = len(spec.train_classes)
    means = torch.stack([data.images[data.classes == c].mean(0) for c in range(k)]).flatten(1)
    model, diffusion = series.load(-1), series.diffusion(-1)
    prompts = spec.prompts(spec.train_classes).repeat_interleave(8, 0)
    samples = diffusion.sample(model, prompts, torch.Generator().manual_seed(0), sampler="ddim")
    sample_means = samples.flatten(1).view(k, 8, -1).mean(1)
    nearest = torch.cdist(sample_means, means).argmin(1)
    assert torch.equal(nearest, torch.arange(k))


@pytest.mark.parametrize("kwargs, message", [
    ({"grad_clip": 0.0}, "grad_clip must be a finite number > 0, or None"),
    ({"grad_clip": float("nan")}, "grad_clip must be a finite number > 0"),
    ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
    ({"lr": float("nan")}, "lr must be a finite number > 0"),
    ({"lr": 0.0}, "lr must be a finite number > 0"),
    ({"betas": (0.9, 1.0)}, "betas must be two numbers in"),
])
def test_bad_optimizer_values_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OptimConfig(**kwargs)
    assert OptimConfig(grad_clip=None).grad_clip is None  # None is the documented "no clipping"


@pytest.mark.parametrize("field", ["seed", "data_seed"])
def test_negative_seed_names_the_field(field):
    with pytest.raises(ValueError, match=f"^{field} must be >= 0, got -1"):
        _micro(**{field: -1})


def test_numpy_integers_are_accepted_as_ints_and_stored_as_ints():
    import numpy as np

    cfg = _micro(steps=np.int64(12), seed=np.int64(3), checkpoints=CheckpointConfig(steps=(np.int64(4), 12)))
    assert type(cfg.steps) is int and type(cfg.seed) is int and all(type(s) is int for s in cfg.checkpoints.steps)
    assert config_from_dict(TrainConfig, config_to_dict(cfg)) == cfg  # JSON-able
    with pytest.raises(ValueError, match="steps must be an int"):
        _micro(steps=12.0)


def _rows(series: CheckpointSeries) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in series.metrics()]


def test_extending_a_finished_run_is_bit_identical_to_training_to_the_end_directly(tmp_path):
    """Train 20 steps, extend to 40, compare with a 40-step run: the same checkpoint steps (explicit
    checkpoints.steps: the schedules agree), the same weights and γ bit for bit, the same metrics rows."""
    data = _tensors()
    short = _micro(diffusion=VDMConfig(cond_drop=0.25), steps=20, checkpoints=CheckpointConfig(steps=(10, 20)),
                   log_every=5)
    long = replace(short, steps=40)
    train(short, tmp_path / "ext", data=data, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the schedules agree: no warning
        extended = train(long, tmp_path / "ext", data=data, progress=False)
    direct = train(long, tmp_path / "direct", data=data, progress=False)
    assert extended.steps == direct.steps == [10, 20, 40]
    for step in direct.steps:
        a, b = extended.state_dict(step), direct.state_dict(step)
        assert all(torch.equal(a[k], b[k]) for k in b), step
        assert torch.equal(extended.diffusion(step).gamma_max, direct.diffusion(step).gamma_max)
    assert _rows(extended) == _rows(direct) and [r["step"] for r in _rows(direct)] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert extended.config == long
    notes = json.loads((tmp_path / "ext" / "config.json").read_text())["@extensions"]
    assert notes == [{"from_steps": 20, "to_steps": 40, "at_step": 20}]
    again = train(long, tmp_path / "ext", data=data, progress=False)  # finished: returns at once, no new note
    assert again.steps == [10, 20, 40]
    assert json.loads((tmp_path / "ext" / "config.json").read_text())["@extensions"] == notes


def test_extending_with_a_spacing_over_the_total_warns_and_keeps_the_old_checkpoints(tmp_path):
    data = _tensors()
    short = _micro(steps=8, checkpoints=CheckpointConfig(count=2, spacing="linear", include_start=False))
    train(short, tmp_path, data=data, progress=False)
    assert CheckpointSeries(tmp_path).steps == [4, 8]
    with pytest.warns(UserWarning, match=r"keeps \[4, 8\] and adds \[12, 24\]; a direct run checkpoints at "
                                         r"\[12, 24\]"):
        series = train(replace(short, steps=24), tmp_path, data=data, progress=False)
    assert series.steps == [4, 8, 12, 24]


def test_an_extended_run_is_not_missing_the_new_schedule_steps_before_its_old_end(tmp_path):
    """The new schedule of an extended run may name steps below the old end that were never due: the series
    checks each length's schedule up to where it was extended, and still notices a lost checkpoint."""
    data = _tensors()
    short = _micro(steps=8, checkpoints=CheckpointConfig(count=2, spacing="linear", include_start=False))
    train(short, tmp_path, data=data, progress=False)
    with pytest.warns(UserWarning):
        train(replace(short, steps=40), tmp_path, data=data, progress=False)  # a direct run: [20, 40]
    series = CheckpointSeries(tmp_path)
    assert series.steps == [4, 8, 20, 40] and series.scheduled_steps == [4, 8, 20, 40]
    checkpoint_path(tmp_path, 4).unlink()
    with pytest.raises(FileNotFoundError, match=r"\[4\]"):
        CheckpointSeries(tmp_path)
    assert CheckpointSeries(tmp_path, allow_missing=True).steps == [8, 20, 40]


def test_extending_refuses_any_other_difference_naming_the_field_and_both_values(tmp_path):
    data = _tensors()
    short = _micro(steps=4, checkpoints=CheckpointConfig(count=1))
    train(short, tmp_path, data=data, progress=False)
    other = replace(short, steps=8, optimizer=replace(short.optimizer, lr=1e-2), batch_size=4)
    with pytest.raises(ValueError, match=r"optimizer\.lr is 0\.003 there, 0\.01 here; batch_size is 8 there, 4 here"):
        train(other, tmp_path, data=data, progress=False)
    with pytest.raises(ValueError, match="can be extended, not cut to 2 steps"):
        train(replace(short, steps=2), tmp_path, data=data, progress=False)
    assert CheckpointSeries(tmp_path).config == short  # nothing changed
