"""hidcap.experiments.probe_runs: a probe's runs through the sweep machinery (train_all) and runs on several bump
data sets (ConcatSpec in config.json; old datasets.json run folders are refused)."""
import json
from dataclasses import replace

import pytest

from hidcap.data import BumpDataSpec, ConcatSpec
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.scales import BUMP_SCALES
from hidcap.experiments.probe_runs import build_data, train_all, train_run
from hidcap.training import run_preset


def _args(tmp_path, **kw):
    return ProbeArgs(name="demo", scale="tiny", seeds=(0, 1), device="cpu", out=tmp_path / "out", progress=False,
                     argv=(), **kw)


def _config(seed=0, **kw):
    cfg = run_preset("tiny", steps=2, batch_size=8)
    return replace(cfg, data=replace(cfg.data, images_per_class=8), checkpoints=replace(cfg.checkpoints, count=2),
                   seed=seed, **kw)


def _files(run_dir):
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in sorted(run_dir.rglob("*")) if p.is_file()}


def _specs():
    common = dict(image_size=8, increment=2.0, latent_size=20)
    return (BumpDataSpec(kind="bump", **common), BumpDataSpec(kind="stripe_x", **common))


def test_train_all_trains_each_run_at_its_run_dir_and_a_rerun_trains_nothing(tmp_path):
    args = _args(tmp_path, workers=1)
    runs = {("lvl", 1): _config(1), ("lvl", 0): _config(0), ("other", 0): _config(0, steps=3)}
    series = train_all(args, runs)
    assert list(series) == list(runs)  # the order given
    for (tag, seed), s in series.items():
        assert s.run_dir == args.run_dir(tag, seed) == args.out / "runs" / f"{tag}_seed{seed}"
        assert s.config == runs[(tag, seed)] and s.steps[-1] == runs[(tag, seed)].steps
    summary = json.loads((args.out / "runs" / "summary.json").read_text())
    assert [(r["run"], r["status"]) for r in summary] == [("lvl_seed1", "done"), ("lvl_seed0", "done"),
                                                          ("other_seed0", "done")]
    assert [r["group"] for r in summary] == [1, 1, 1]  # sweeps train each run on its own by default
    before = {k: _files(s.run_dir) for k, s in series.items()}
    again = train_all(args, runs)
    assert {k: _files(s.run_dir) for k, s in again.items()} == before  # reused: nothing trained
    assert [r["status"] for r in json.loads((args.out / "runs" / "summary.json").read_text())] == ["skipped"] * 3


def test_train_all_raises_naming_every_failed_run_after_the_others_finished(tmp_path):
    args = _args(tmp_path, workers=1)
    runs = {("good", 0): _config(0), ("big", 0): _config(0, batch_size=1000), ("big", 1): _config(1, batch_size=999)}
    with pytest.raises(RuntimeError, match="2 of 3 training runs failed") as err:
        train_all(args, runs)
    text = str(err.value)
    assert "big_seed0: ValueError: batch_size=1000 exceeds" in text and "big_seed1: ValueError: batch_size=999" in text
    assert "good_seed0" not in text and (args.run_dir("good", 0) / "checkpoints" / "step_0000002.safetensors").is_file()


def test_train_all_rejects_bad_input(tmp_path):
    args = _args(tmp_path)
    with pytest.raises(ValueError, match="runs is empty"):
        train_all(args, {})
    with pytest.raises(ValueError, match=r"run keys must be \(tag, seed\)"):
        train_all(args, {"run": _config()})
    with pytest.raises(ValueError, match="config.data is None"):
        train_all(args, {("a", 0): replace(_config(), data=None)})


def test_concat_spec_builds_the_concatenation_and_round_trips_through_config_json(tmp_path):
    from hidcap.config_io import config_from_dict, config_to_dict
    from hidcap.data import concat

    bump, stripe = _specs()
    spec = ConcatSpec([bump, stripe])  # a list is stored as a tuple
    assert spec.specs == (bump, stripe) and spec.image_size == 8 and spec.offset == bump.offset == 6
    built, parts = spec.build(3), concat([bump.build(3), stripe.build(3)])
    assert built.images.shape[0] == len(bump.centres(3)) + len(stripe.centres(3))
    assert (built.images == parts.images).all() and (built.cond == parts.cond).all()
    assert (build_data([bump, stripe], 3).images == built.images).all()
    cfg = BUMP_SCALES["tiny"].train_config(spec, 0, "cpu")
    assert config_from_dict(type(cfg), json.loads(json.dumps(config_to_dict(cfg)))) == cfg
    with pytest.raises(ValueError, match=r"share image_size and latent offset.*\(8, 6\), \(12, 4\)"):
        ConcatSpec((bump, BumpDataSpec(image_size=12, increment=2.0, latent_size=20)))
    with pytest.raises(ValueError, match="at least one BumpDataSpec"):
        ConcatSpec(())


def test_multi_data_runs_train_through_train_all_grouped_and_train_run_reuses_them(tmp_path):
    args = _args(tmp_path, workers=1)
    scale = BUMP_SCALES["tiny"]
    bump, stripe = _specs()
    runs = {("mix", s): scale.train_config(ConcatSpec((bump, stripe)), s, "cpu", steps=2) for s in (0, 1)}
    series = train_all(args, runs)
    summary = json.loads((args.out / "runs" / "summary.json").read_text())
    assert [r["status"] for r in summary] == ["done"] * 2
    assert series[("mix", 0)].config.data == ConcatSpec((bump, stripe))
    before = _files(args.run_dir("mix", 0) / "checkpoints")
    again = train_run(replace(runs[("mix", 0)], data=None), args.run_dir("mix", 0), [bump, stripe])
    assert again.steps == series[("mix", 0)].steps  # the same run: reused, no checkpoint rewritten
    assert _files(args.run_dir("mix", 0) / "checkpoints") == before


def test_an_old_multi_data_run_folder_is_refused_not_misread(tmp_path):
    args = _args(tmp_path)
    run_dir = args.run_dir("mix", 0)
    run_dir.mkdir(parents=True)
    (run_dir / "datasets.json").write_text("[]\n")
    config = BUMP_SCALES["tiny"].train_config(ConcatSpec(_specs()), 0, "cpu", steps=2)
    with pytest.raises(ValueError, match="older hidcap"):
        train_all(args, {("mix", 0): config})
    with pytest.raises(ValueError, match="older hidcap"):
        train_run(replace(config, data=None), run_dir, _specs())


def test_train_all_on_ray_from_the_probe_command_line(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    import os
    from pathlib import Path

    import hidcap
    from hidcap.experiments.probe_args import parse_probe_args

    src = str(Path(hidcap.__file__).resolve().parents[1])  # Ray's workers import this hidcap
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance, never a cluster by accident
    args, _ = parse_probe_args("demo", "d", ["--tiny", "--out", str(tmp_path / "out"), "--executor", "ray", "--no-progress"])
    runs = {("lvl", s): _config(s) for s in (0, 1)}
    try:
        series = train_all(args, runs)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert not ray.is_initialized()  # train_runs shut down the instance it started
    summary = json.loads((args.out / "runs" / "summary.json").read_text())
    assert [(r["run"], r["status"], r["group"]) for r in summary] == [("lvl_seed0", "done", 1), ("lvl_seed1", "done", 1)]
    assert [s.config.seed for s in series.values()] == [0, 1] and all(s.steps[-1] == 2 for s in series.values())
