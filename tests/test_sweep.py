"""hidcap.sweep: grid parsing, the local executor (failure isolation, skip finished runs, resume an interrupted
run) and a real 4-run sweep through a local Ray instance."""
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import hidcap
from hidcap.cli import main
from hidcap.config_io import set_field
from hidcap.sweep import expand_grid, format_table, group_runs, parse_grid, run_name, run_sweep, train_runs
from hidcap.training import run_preset


def _base(steps: int = 2):
    cfg = run_preset("tiny", steps=steps, batch_size=8)
    return replace(cfg, data=replace(cfg.data, images_per_class=8), checkpoints=replace(cfg.checkpoints, count=2))


def _files(run_dir: Path) -> dict[str, int]:
    """Every file of a run directory -> its mtime in ns (unchanged files: nothing was trained)."""
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_grid_values_are_parsed_to_the_field_types():
    grid = parse_grid(["optimizer.lr=0.001,3e-3", "optimizer.betas=[[0.9,0.99]]", "data_seed=none,7",
                       "checkpoints.include_start=false", "optimizer.grad_clip=None"])
    runs = expand_grid(_base(), grid, seeds=[0, 1])
    assert len(runs) == 2 * 2 * 2 and len({r.name for r in runs}) == 8
    first, last = runs[0], runs[-1]
    assert first.params == {"optimizer.lr": 0.001, "optimizer.betas": [0.9, 0.99], "data_seed": None,
                            "checkpoints.include_start": False, "optimizer.grad_clip": None, "seed": 0}
    assert last.config.optimizer.lr == 0.003 and last.config.data_seed == 7 and last.config.seed == 1
    assert last.config.optimizer.betas == (0.9, 0.99) and last.config.optimizer.grad_clip is None
    assert first.name == run_name(first.config) == run_name(replace(first.config))  # a pure function of the config
    assert set_field(_base(), "data.images_per_class", "16").data.images_per_class == 16
    assert group_runs(runs) == [[r] for r in runs]
    assert [r.params for r in expand_grid(_base(), None)] == [{}]  # no grid: the base run alone


@pytest.mark.parametrize("grid, error, match", [
    ({"optimizer.lrr": ["1"]}, KeyError, r"unknown config field 'optimizer.lrr'.*\['betas', 'grad_clip', 'lr'"),
    ({"stepz": ["1"]}, KeyError, "unknown config field 'stepz'"),
    ({"optimizer.lr.x": ["1"]}, KeyError, "optimizer.lr is a float"),
    ({"steps": ["abc"]}, ValueError, "grid steps='abc': steps takes an integer"),
    ({"steps": ["1.5"]}, ValueError, "steps takes an integer"),
    ({"steps": ["0"]}, ValueError, "steps must be >= 1"),  # the config's own validation
    ({"optimizer.lr": ["fast"]}, ValueError, "optimizer.lr takes a number, got 'fast'"),
    ({"channels_last": ["maybe"]}, ValueError, "channels_last takes true/false"),
    ({"diffusion": ["vdm"]}, ValueError, "diffusion is a config section"),
    ({"optimizer.betas": ["0.9"]}, ValueError, "optimizer.betas is a tuple"),
    ({"seed": ["1", "1"]}, ValueError, "give the same config"),
    ({"seed": []}, ValueError, "has no values"),
])
def test_bad_grid_input_is_named(grid, error, match):
    with pytest.raises(error, match=match):
        expand_grid(_base(), grid)


def test_a_field_given_without_its_section_is_named_plainly_with_a_hint(tmp_path, capsys):
    assert main(["sweep", "--preset", "tiny", "--out", str(tmp_path / "s"), "--grid", "lr=0.1,0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hidcap sweep: error: unknown config field 'lr'") and '"' not in err, err
    assert "did you mean optimizer.lr?" in err


def test_index_columns_follow_the_grid_order(tmp_path):
    from hidcap.sweep import _write_index

    runs = expand_grid(_base(), {"optimizer.lr": ["0.01"], "data.images_per_class": ["8"], "batch_size": ["8"]},
                       seeds=[0])
    _write_index(tmp_path, runs)
    header = (tmp_path / "index.csv").read_text().splitlines()[0]
    assert header == "run,optimizer.lr,data.images_per_class,batch_size,seed"
    assert list(json.loads((tmp_path / "index.json").read_text())[runs[0].name]) == list(runs[0].params)


def test_bad_grid_specs_and_arguments():
    for specs, match in [(["lr"], "must look like field=value1,value2"), (["a=1", "a=2"], "given twice"),
                         (["a="], "non-empty values"), (["a=1,,2"], "non-empty values"), (["a=[1,"], "not a JSON list")]:
        with pytest.raises(ValueError, match=match):
            parse_grid(specs)
    with pytest.raises(ValueError, match="seeds=... or as a 'seed' grid axis"):
        expand_grid(_base(), {"seed": [0]}, seeds=[1])
    with pytest.raises(ValueError, match="executor must be one of"):
        run_sweep(_base(), None, "unused", executor="slurm")


def test_cli_sweep_reports_bad_input_in_one_line(tmp_path, capsys):
    for argv, match in [(["--grid", "optimizer.lrr=1"], "unknown config field 'optimizer.lrr'"),
                        (["--set", "steps=abc"], "steps takes an integer"),
                        (["--set", "steps"], "must look like field=value")]:
        assert main(["sweep", "--preset", "tiny", "--out", str(tmp_path / "s"), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("hidcap sweep: error:") and match in err[0], err
    assert not (tmp_path / "s").exists()  # nothing ran


def test_local_sweep_isolates_a_failure_and_a_rerun_skips_finished_runs(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--preset", "tiny", "--out", str(out), "--set", "steps=2", "data.images_per_class=8",
            "checkpoints.count=2", "--grid", "batch_size=8,1000", "--seeds", "0", "--workers", "2", "--no-progress"]
    assert main(argv) == 1  # a run failed; the other finished
    printed = capsys.readouterr()
    assert "1000 exceeds the number of training images" in printed.err and "1 done, 0 skipped, 1 failed" in printed.out
    good, bad = expand_grid(_base(), {"batch_size": [8, 1000]}, seeds=[0])
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["run"], r["status"]) for r in summary] == [(good.name, "done"), (bad.name, "failed")]
    assert summary[0]["params"] == {"batch_size": 8, "seed": 0} and summary[0]["final_loss"] > 0
    assert "batch_size=1000 exceeds" in summary[1]["error"] and "Traceback" in summary[1]["traceback"]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["run"], r["batch_size"], r["seed"], r["status"]) for r in rows] == [
        (good.name, "8", "0", "done"), (bad.name, "1000", "0", "failed")]
    assert float(rows[0]["wall_s"]) > 0 and float(rows[0]["final_loss"]) == summary[0]["final_loss"]
    assert json.loads((out / "index.json").read_text()) == {good.name: good.params, bad.name: bad.params}
    assert {r["run"]: r["batch_size"] for r in csv.DictReader((out / "index.csv").open())} == {good.name: "8",
                                                                                              bad.name: "1000"}
    assert json.loads((out / good.name / "config.json").read_text())["batch_size"] == 8
    before = _files(out / good.name)

    results = run_sweep(_base(), {"batch_size": [8, 1000]}, out, seeds=[0], progress=False)
    assert [r.status for r in results] == ["skipped", "failed"]  # the finished run is not trained again
    assert results[0].final_loss == summary[0]["final_loss"] and results[0].from_step == 2
    assert _files(out / good.name) == before


def test_sweep_resumes_an_interrupted_run(tmp_path):
    out, steps = tmp_path / "sweep", 40
    (run,) = expand_grid(_base(steps), None, seeds=[3])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "hidcap.cli", "sweep", "--preset", "tiny", "--out", str(out),
                             "--set", f"steps={steps}", "batch_size=8", "data.images_per_class=8", "checkpoints.count=2",
                             "--seeds", "3", "--no-progress"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpts = out / run.name / "checkpoints"
    try:
        deadline = time.monotonic() + 300
        while len(list(ckpts.glob("step_*.safetensors"))) < 2:  # the start and step 10
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "timed out waiting for a checkpoint"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker
        proc.communicate()
    (result,) = run_sweep(_base(steps), None, out, seeds=[3], workers=1, progress=False)
    assert result.status == "done" and 0 < result.from_step < steps, result
    logged = [json.loads(line)["step"] for line in (out / run.name / "metrics.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged)) and logged[-1] == steps


def test_ray_sweep_of_four_runs_and_a_rerun_that_trains_nothing(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    src = str(Path(hidcap.__file__).resolve().parents[1])  # Ray's workers import this hidcap
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # start a local instance, never join a cluster by accident
    out = tmp_path / "sweep"
    grid = {"optimizer.lr": [0.001, 0.003]}
    try:
        results = run_sweep(_base(), grid, out, seeds=[0, 1], executor="ray", num_cpus=1, progress=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert not ray.is_initialized()  # the sweep shut down the instance it started
    assert [r.status for r in results] == ["done"] * 4, [r.error for r in results]
    assert [r.params for r in results] == [{"optimizer.lr": lr, "seed": s} for lr in (0.001, 0.003) for s in (0, 1)]
    for r in results:
        assert json.loads((out / r.run / "config.json").read_text())["optimizer"]["lr"] == r.params["optimizer.lr"]
        assert (out / r.run / "checkpoints" / "step_0000002.safetensors").is_file() and r.final_loss > 0
    before = {r.run: _files(out / r.run) for r in results}

    again = run_sweep(_base(), grid, out, seeds=[0, 1], executor="ray", num_cpus=1, progress=False)
    assert [r.status for r in again] == ["skipped"] * 4
    assert not ray.is_initialized()  # nothing to run: Ray was not even started
    assert {r.run: _files(out / r.run) for r in again} == before
    assert [r.final_loss for r in again] == [r.final_loss for r in results]


def test_sweep_commands_in_the_docs_parse_and_expand():
    """Every `hidcap sweep` command in docs/sweeps.md parses and gives a valid grid (nothing is trained)."""
    from hidcap.cli import build_parser
    from hidcap.training import TrainConfig

    text = (Path(__file__).resolve().parents[1] / "docs" / "sweeps.md").read_text()
    commands = []
    for line in text.splitlines():
        if "hidcap sweep --preset" not in line:
            continue
        words = shlex.split(line.removeprefix("$ "))
        while words and "=" in words[0]:  # VAR=value before the command
            words.pop(0)
        if words[:3] == ["hidcap", "sweep", "--preset"]:
            commands.append(words[1:])
    assert len(commands) >= 5, commands
    for argv in commands:
        args = build_parser().parse_args(argv)
        base = run_preset(args.preset)
        for spec in args.set:
            base = set_field(base, *spec.split("=", 1))
        if {"optimizer.lrr=0.001", "lr=0.001", "steps=1.5"} & set(argv):  # the documented bad-input examples
            with pytest.raises((KeyError, ValueError)):
                expand_grid(base, parse_grid(args.grid), args.seeds)
            continue
        runs = expand_grid(base, parse_grid(args.grid), args.seeds)
        assert runs and all(isinstance(r.config, TrainConfig) for r in runs)


def test_group_runs_groups_same_shape_runs():
    runs = expand_grid(_base(), {"batch_size": [8, 4]}, seeds=[0, 1, 2, 3])
    assert group_runs(runs) == [[r] for r in runs]  # default: one run per group
    by_batch = lambda g: {r.config.batch_size for r in g}  # noqa: E731
    groups = group_runs(runs, max_group=8, min_groups=2)  # two workers: two groups per shape
    assert [len(g) for g in groups] == [2, 2, 2, 2] and all(len(by_batch(g)) == 1 for g in groups)
    assert [len(g) for g in group_runs(runs, max_group=3)] == [2, 2, 2, 2]  # ceil(4/3) = 2 near-equal groups
    assert [len(g) for g in group_runs(runs, max_group=8)] == [4, 4]
    assert sum(group_runs(runs, max_group=8), []) == runs  # grid order kept
    compiled = expand_grid(replace(_base(), compile=True), None, seeds=[0, 1])
    assert group_runs(compiled, max_group=8) == [[r] for r in compiled]  # train_many does not compile
    with pytest.raises(ValueError, match="max_group"):
        group_runs(runs, max_group=0)


def test_sweeps_train_runs_separately_unless_group_asks(tmp_path):
    results = run_sweep(_base(), None, tmp_path / "solo", seeds=[0, 1], workers=1, progress=False)
    assert [(r.status, r.group, r.group_id) for r in results] == [("done", 1, None)] * 2
    assert "group" not in format_table(results).splitlines()[0]


def test_a_grouped_sweep_trains_with_train_many_and_retries_a_failed_group_run_by_run(tmp_path):
    out = tmp_path / "sweep"
    results = run_sweep(_base(), None, out, seeds=[0, 1, 2], workers=1, group=3, progress=False)
    assert [(r.status, r.group, r.group_id) for r in results] == [("done", 3, 0)] * 3
    table = format_table(results).splitlines()
    assert table[0].split() == ["run", "seed", "status", "wall_s", "group", "final_loss"]
    assert all("g0 x3" in row for row in table[1:])  # one train_many call: one wall time, named
    assert [r["group_id"] for r in csv.DictReader((out / "summary.csv").open())] == ["0"] * 3
    for r in results:
        assert sorted(p.name for p in (out / r.run / "checkpoints").glob("step_*")) == [
            "step_0000000.safetensors", "step_0000001.safetensors", "step_0000002.safetensors"]
        assert r.final_loss > 0 and json.loads((out / r.run / "config.json").read_text())["seed"] == r.params["seed"]
    assert json.loads((out / "summary.json").read_text())[0]["group"] == 3
    # one run of a group cannot start (4 images for batch 8): the group fails, each run is retried alone
    results = run_sweep(_base(), {"data.images_per_class": [8, 1]}, tmp_path / "bad", seeds=[5], workers=1,
                        group=2, progress=False)
    assert [(r.status, r.group, r.group_id) for r in results] == [("done", 1, None), ("failed", 1, None)]
    assert "exceeds the number of training images" in results[1].error
    with pytest.raises(ValueError, match="group must be >= 1"):
        run_sweep(_base(), None, out, group=0)


def test_train_runs_trains_named_runs_isolates_a_failure_and_skips_finished_runs_on_rerun(tmp_path):
    out = tmp_path / "runs"
    good, bad = _base(), replace(_base(), batch_size=1000)  # 1000 > the 32 training images: fails alone
    runs = {"good_seed0": good, "level/bad": bad, "good_seed1": replace(good, seed=1)}
    results = train_runs(runs, out, workers=1, progress=False)
    assert [(r.run, r.status) for r in results] == [("good_seed0", "done"), ("level/bad", "failed"),
                                                    ("good_seed1", "done")]
    assert "batch_size=1000 exceeds" in results[1].error and all(r.params == {} for r in results)
    assert json.loads((out / "good_seed1" / "config.json").read_text())["seed"] == 1
    assert (out / "good_seed0" / "checkpoints" / "step_0000002.safetensors").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["run"], r["status"]) for r in summary] == [(r.run, r.status) for r in results]
    assert not (out / "index.json").exists()  # names say what a run is; no grid index
    before = {n: _files(out / n) for n in ("good_seed0", "good_seed1")}
    again = train_runs(runs, out, workers=1, progress=False)
    assert [r.status for r in again] == ["skipped", "failed", "skipped"]
    assert {n: _files(out / n) for n in before} == before  # nothing trained again


@pytest.mark.parametrize("names, match", [
    ([""], "non-empty"), (["/abs/run"], "relative directory name"), (["a/../b"], "must not contain '..'"),
    (["a", "a/"], "name the same directory"), (["a", "a/b"], "lies inside run 'a'"), (["."], "not a usable"),
    (["summary.json"], "reserved"),
])
def test_train_runs_names_a_bad_run_name(tmp_path, names, match):
    with pytest.raises(ValueError, match=match):
        train_runs({n: _base() for n in names}, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_train_runs_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="runs is empty"):
        train_runs({}, tmp_path)
    with pytest.raises(ValueError, match="run 'a': expected a TrainConfig"):
        train_runs({"a": "tiny"}, tmp_path)
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        train_runs({"a": _base()}, tmp_path, workers=0)
    with pytest.raises(ValueError, match="executor must be one of"):
        train_runs({"a": _base()}, tmp_path, executor="slurm")
