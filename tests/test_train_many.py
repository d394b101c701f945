"""train_many: K runs as one batched model must write the run directories solo train() writes."""
import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from hidcap.diffusion import DDPM, DDPMConfig, VDMConfig
from hidcap.models import presets
from hidcap.runlock import RunLockedError, run_lock
from hidcap.runs import CheckpointSeries
from hidcap.training import (
    CheckpointConfig,
    NonFiniteLossError,
    OptimConfig,
    TrainConfig,
    _BatchOrder,
    _seeds,
    check_many,
    run_preset,
    train,
    train_many,
)


def _close(a: CheckpointSeries, b: CheckpointSeries, step: int = -1, atol: float | None = None,
           skip: tuple[str, ...] = ()) -> None:
    """Weights equal to rtol 1e-4 and ``atol`` (default 0.02 lr: Adam's step is lr·m/(√v + 1e-8), so a gradient
    near 1e-8 turns the rounding differences of vmap's grouped convolutions into update differences)."""
    atol = 0.02 * a.config.optimizer.lr if atol is None else atol
    sa, sb = a.state_dict(step), b.state_dict(step)
    assert sa.keys() == sb.keys()
    for k in sa:
        if k not in skip:
            torch.testing.assert_close(sa[k].float(), sb[k].float(), rtol=1e-4, atol=atol, msg=lambda m: f"{k}: {m}")


def _bias_before_norm(series: CheckpointSeries) -> tuple[str, ...]:
    """Biases of convs whose every output channel is normalised on its own next (BatchNorm, or GroupNorm with
    one channel per group), and that BatchNorm's running mean: the norm removes the bias, so its true gradient
    is 0 and what it gets is rounding noise, which Adam scales to ±lr steps; the running mean tracks the bias
    (the two cancel in the normalised output)."""
    found = []
    for name, module in series.load(-1).named_modules():
        if isinstance(module, nn.Sequential) and len(module) > 1 and isinstance(module[0], nn.Conv2d):
            norm = module[1]
            if isinstance(norm, nn.BatchNorm2d):
                found += [f"{name}.0.bias", f"{name}.1.running_mean"]
            elif isinstance(norm, nn.GroupNorm) and norm.num_groups == norm.num_channels:
                found.append(f"{name}.0.bias")
    return tuple(found)


def _with_lr(config: TrainConfig, lr: float) -> TrainConfig:
    return replace(config, optimizer=replace(config.optimizer, lr=lr))


@pytest.mark.parametrize("preset", ["smoke", "tiny-concept-graphs"])  # GroupNorm U-Net; BatchNorm ContextUNet
def test_one_step_matches_solo_to_float_tolerance(preset, tmp_path):
    """After one step (gradients through the batched forward, BatchNorm running stats) the runs equal solo runs."""
    base = run_preset(preset, steps=1, checkpoints=CheckpointConfig(steps=(1,)), log_every=1)
    configs = [base, _with_lr(replace(base, seed=1), base.optimizer.lr * 3)]
    many = train_many(configs, [tmp_path / "m0", tmp_path / "m1"], progress=False)
    for i, config in enumerate(configs):
        solo = train(config, tmp_path / f"s{i}", progress=False)
        _close(many[i], solo, skip=_bias_before_norm(solo))
        assert many[i].metrics()[0]["loss"] == pytest.approx(solo.metrics()[0]["loss"], rel=1e-5)
        if "grad_norm" in solo.metrics()[0]:
            assert many[i].metrics()[0]["grad_norm"] == pytest.approx(solo.metrics()[0]["grad_norm"], rel=1e-4)


@pytest.mark.parametrize("preset", ["smoke", "tiny-concept-graphs"])
def test_matches_solo_runs_after_50_steps(preset, tmp_path):
    """After 50 steps: the same files and metrics rows, losses to rtol 1e-4, weights to rtol 1e-4 / atol 0.5 lr.
    Why atol scales with lr: Adam divides each gradient by its own running size, so where a gradient is about as
    small as Adam's eps (1e-8), e.g. the layers behind a zero-initialised output conv at step 2, the rounding
    differences of vmap's grouped convolutions turn into update differences of a few % of lr (measured: up to
    0.14 lr after 50 steps at lr 3e-3)."""
    base = run_preset(preset, steps=50, checkpoints=CheckpointConfig(steps=(0, 20, 50)), log_every=10)
    configs = [base, _with_lr(replace(base, seed=1), base.optimizer.lr * 3)]
    many = train_many(configs, [tmp_path / "m0", tmp_path / "m1"], progress=False)
    for i, (config, series) in enumerate(zip(configs, many)):
        solo = train(config, tmp_path / f"s{i}", progress=False)
        assert series.steps == solo.steps == [0, 20, 50]
        _close(series, solo, 0, atol=0.0)
        _close(series, solo, 50, atol=0.5 * config.optimizer.lr, skip=_bias_before_norm(solo))
        # the same files, the same metrics rows
        names = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())  # noqa: E731
        assert names(tmp_path / f"m{i}") == names(tmp_path / f"s{i}")
        rows, solo_rows = series.metrics(), solo.metrics()
        assert [r["step"] for r in rows] == [r["step"] for r in solo_rows] == [10, 20, 30, 40, 50]
        torch.testing.assert_close(torch.tensor([r["loss"] for r in rows]),
                                   torch.tensor([r["loss"] for r in solo_rows]), rtol=1e-4, atol=1e-5)
    first = next(iter(many[0].state_dict(-1)))
    assert not torch.equal(many[0].state_dict(-1)[first], many[1].state_dict(-1)[first])  # the runs did differ


def _micro(**kw) -> TrainConfig:
    base = TrainConfig(
        model=presets.tiny(image_size=8, cond_dim=2),
        diffusion=VDMConfig(cond_drop=0.25),  # learned γ: schedule params train through the replayed outputs
        optimizer=OptimConfig(lr=3e-3, weight_decay=0.0),
        checkpoints=CheckpointConfig(steps=(4, 8, 12)),
        batch_size=8,
        steps=12,
        log_every=1,
    )
    return replace(base, **kw)


def _tensors(n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cond = torch.rand(n, 2, generator=g)
    images = cond[:, :1, None, None].expand(n, 3, 8, 8).clone()
    images[:, 1] = cond[:, 1:2, None]
    return images, cond


def test_learned_schedule_and_per_run_data_match_solo(tmp_path):
    configs = [_micro(seed=3), _micro(seed=4, steps=8, checkpoints=CheckpointConfig(steps=(2, 8)))]
    data = [_tensors(seed=0), _tensors(seed=1)]
    many = train_many(configs, [tmp_path / "m0", tmp_path / "m1"], data=data, progress=False)
    for i, series in enumerate(many):
        solo = train(configs[i], tmp_path / f"s{i}", data=data[i], progress=False)
        assert series.steps == solo.steps
        _close(series, solo)
        torch.testing.assert_close(series.diffusion(-1).gamma_min, solo.diffusion(-1).gamma_min)


def test_per_run_grad_clip_matches_solo_when_clipping_binds(tmp_path):
    """One run clipped hard (the clip binds every step), one not clipped: each matches its solo run, and the
    logged grad_norm is the norm before clipping, as train logs it (absent without clipping). Clipping the
    whole gradient to norm 1e-3 brings many of its elements near Adam's eps (1e-8), where rounding differences
    of the grouped convolutions become update differences (see the 50-step test), hence atol 0.1 lr."""
    configs = [_micro(seed=5, optimizer=OptimConfig(lr=3e-3, weight_decay=0.0, grad_clip=1e-3)),
               _micro(seed=6, optimizer=OptimConfig(lr=3e-3, weight_decay=0.0, grad_clip=None))]
    many = train_many(configs, [tmp_path / "m0", tmp_path / "m1"], data=_tensors(), progress=False)
    for i, series in enumerate(many):
        solo = train(configs[i], tmp_path / f"s{i}", data=_tensors(), progress=False)
        _close(series, solo, atol=0.1 * configs[i].optimizer.lr)
        rows = [json.loads(x) for x in (tmp_path / f"m{i}" / "metrics.jsonl").read_text().splitlines()]
        solo_rows = [json.loads(x) for x in (tmp_path / f"s{i}" / "metrics.jsonl").read_text().splitlines()]
        if configs[i].optimizer.grad_clip is None:
            assert all("grad_norm" not in r for r in rows + solo_rows)
        else:
            norms = torch.tensor([r["grad_norm"] for r in rows])
            assert (norms > 1e-3).all()  # the clip bound
            torch.testing.assert_close(norms, torch.tensor([r["grad_norm"] for r in solo_rows]), rtol=1e-3, atol=0)


def test_interrupted_train_many_resumes_with_train_or_train_many(tmp_path, monkeypatch):
    configs = [_micro(seed=0), _micro(seed=1)]
    data = _tensors()
    full = train_many(configs, [tmp_path / "f0", tmp_path / "f1"], data=data, progress=False)
    original = _BatchOrder.indices

    def interrupted(self, step):
        if step == 10:
            raise KeyboardInterrupt
        return original(self, step)

    monkeypatch.setattr(_BatchOrder, "indices", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_many(configs, [tmp_path / "c0", tmp_path / "c1"], data=data, progress=False)
    monkeypatch.setattr(_BatchOrder, "indices", original)
    assert CheckpointSeries(tmp_path / "c0").steps == [4, 8]
    solo = train(configs[0], tmp_path / "c0", data=data, progress=False)  # resumed by train
    many = train_many(configs, [tmp_path / "c0", tmp_path / "c1"], data=data, progress=False)  # c0 done, c1 resumes
    _close(full[0], solo)
    _close(full[1], many[1])
    assert [r["step"] for r in many[1].metrics()] == list(range(1, 13))


def test_shape_changing_differences_are_refused():
    with pytest.raises(ValueError, match=r"configs\[1\] differs from configs\[0\] in 'model.channels'"):
        check_many([_micro(), _micro(model=presets.tiny(image_size=8, cond_dim=2, channels=(8, 32)))])
    with pytest.raises(ValueError, match="'batch_size'"):
        check_many([_micro(), _micro(batch_size=4)])
    with pytest.raises(ValueError, match="'diffusion"):
        check_many([_micro(), _micro(diffusion=DDPMConfig.scaled(50))])
    with pytest.raises(ValueError, match="compile"):
        check_many([_micro(compile=True)])
    check_many([_micro(), _micro(seed=5, data_seed=2, steps=20, optimizer=OptimConfig(lr=1e-2, weight_decay=0.1))])


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="one run_dir per config"):
        train_many([_micro()], [tmp_path / "a", tmp_path / "b"], data=_tensors())
    with pytest.raises(ValueError, match="same directory"):
        train_many([_micro(), _micro(seed=1)], [tmp_path / "a", tmp_path / "a"], data=_tensors())
    with pytest.raises(ValueError, match="data is a list of 1"):
        train_many([_micro(), _micro(seed=1)], [tmp_path / "a", tmp_path / "b"], data=[_tensors()])


def test_every_run_dir_is_locked(tmp_path):
    with run_lock(tmp_path / "b"):
        with pytest.raises(RunLockedError):
            train_many([_micro(), _micro(seed=1)], [tmp_path / "a", tmp_path / "b"], data=_tensors(), progress=False)
    assert not (tmp_path / "a" / "config.json").exists()


def test_a_nan_run_stops_and_the_others_finish(tmp_path, monkeypatch):
    original = DDPM.loss_from_output
    calls = {"n": 0}

    def flaky(self, output, saved, generator):  # run b's loss turns NaN at its 6th step
        loss = original(self, output, saved, generator)
        if generator.initial_seed() == nan_seed:
            calls["n"] += 1
        return loss * float("nan") if generator.initial_seed() == nan_seed and calls["n"] >= 6 else loss

    configs = [_micro(diffusion=DDPMConfig.scaled(50), seed=s) for s in (0, 1)]
    nan_seed = _seeds(1)[1]  # run b's noise generator
    monkeypatch.setattr(DDPM, "loss_from_output", flaky)
    with pytest.raises(NonFiniteLossError) as info:
        train_many(configs, [tmp_path / "a", tmp_path / "b"], data=_tensors(), progress=False)
    assert list(info.value.failures) == [tmp_path / "b"]
    assert CheckpointSeries(tmp_path / "a").steps == [4, 8, 12]
    assert CheckpointSeries(tmp_path / "b").steps == [4]
    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 5 and "step 6" in str(info.value)


def test_train_many_extends_runs_given_more_steps(tmp_path):
    """More steps extend each run from its last checkpoint, as train does, and config.json records it."""
    short = [_micro(seed=0, steps=8, checkpoints=CheckpointConfig(steps=(4, 8))),
             _micro(seed=1, steps=8, checkpoints=CheckpointConfig(steps=(4, 8)))]
    long = [replace(c, steps=12) for c in short]
    data = _tensors()
    dirs = [tmp_path / "e0", tmp_path / "e1"]
    train_many(short, dirs, data=data, progress=False)
    extended = train_many(long, dirs, data=data, progress=False)
    direct = train_many(long, [tmp_path / "d0", tmp_path / "d1"], data=data, progress=False)
    for e, d, config in zip(extended, direct, long):
        assert e.steps == d.steps == [4, 8, 12] and e.config == config
        _close(e, d)
        assert json.loads((e.run_dir / "config.json").read_text())["@extensions"] == [
            {"from_steps": 8, "to_steps": 12, "at_step": 8}]
