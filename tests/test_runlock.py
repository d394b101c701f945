"""One trainer per run directory (hidcap.runlock): the three races measured on the unlocked trainer, run as
real processes, plus kill -9 of a lock holder followed by a resume."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from hidcap.runs import CheckpointSeries
from hidcap.cli import main
from hidcap.runlock import LOCK_FILE, RunLockedError, run_lock
from hidcap.training import CheckpointConfig, run_preset, train

# a trainer process that imports everything, says it is ready, waits for a "go" file, then runs `hidcap train`
WORKER = """
import sys, time
from pathlib import Path
from hidcap.cli import main
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.005)
sys.exit(main(sys.argv[3:]))
"""
TIMEOUT = 300


def _tiny_args(run: Path, steps: int, seed: int = 0) -> list[str]:
    return ["train", "--preset", "tiny", "--out", str(run), "--steps", str(steps), "--batch-size", "8",
            "--images-per-class", "8", "--checkpoints", "3", "--seed", str(seed), "--no-progress"]


def _cfg(steps: int, seed: int = 0):
    """The config that `_tiny_args` trains."""
    cfg = run_preset("tiny", steps=steps, batch_size=8, seed=seed)
    return replace(cfg, data=replace(cfg.data, images_per_class=8), checkpoints=replace(cfg.checkpoints, count=3))


def _start(tmp: Path, name: str, argv: list[str]) -> tuple[subprocess.Popen, Path, Path]:
    script = tmp / "worker.py"
    script.write_text(WORKER)
    ready, go = tmp / f"{name}.ready", tmp / f"{name}.go"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script), str(ready), str(go), *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, ready, go


def _wait_for(cond, what: str, procs=()) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not cond():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a trainer exited early waiting for {what}: {p.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _steps_logged(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.endswith("}")]


def _refused(proc: subprocess.Popen, run: Path) -> None:
    """`proc` exited != 0 with one line on stderr that names the run directory and the lock; no traceback."""
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "hidcap train: error:" in lines[0] and str(run) in lines[0] and "in use" in lines[0]


def _race_two(tmp_path: Path, seeds: tuple[int, int], steps: int) -> tuple[Path, int, list]:
    """Start two trainers on one run directory at the same instant; returns (run, winner index, processes)."""
    run = tmp_path / "run"
    procs = [_start(tmp_path, f"p{i}", _tiny_args(run, steps, seed)) for i, seed in enumerate(seeds)]
    _wait_for(lambda: all(ready.exists() for _, ready, _ in procs), "both trainers to import", [p for p, _, _ in procs])
    for _, _, go in procs:
        go.touch()
    codes = [p.wait(timeout=TIMEOUT) for p, _, _ in procs]
    assert sorted(codes) == [0, 2], (codes, [p.communicate() for p, _, _ in procs])
    winner = codes.index(0)
    _refused(procs[1 - winner][0], run)
    return run, winner, procs


def test_two_trainers_started_together_one_is_refused(tmp_path):
    """Seeds 0 and 1 started at one instant into one directory. Unlocked, one trainer deleted the other's
    metrics.jsonl while it was writing it, and config.json said seed 0 while every checkpoint was a seed-1
    model; nothing raised. Locked, one is refused and the run is one whole, consistent run."""
    steps = 12
    run, winner, _ = _race_two(tmp_path, (0, 1), steps)
    logged = _steps_logged(run)
    assert logged == sorted(set(logged)) and logged[-1] == steps and logged[0] <= 10
    assert CheckpointSeries(run).steps[-1] == steps
    seed = json.loads((run / "config.json").read_text())["seed"]
    assert seed == winner
    reference = train(replace(_cfg(1, seed), checkpoints=CheckpointConfig(steps=(0,))), tmp_path / "ref", progress=False)
    got = CheckpointSeries(run).load(0).state_dict()
    want = reference.load(0).state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # the step-0 checkpoint is the init of config's seed


def test_second_trainer_mid_run_is_refused_and_rows_stay_in_order(tmp_path):
    # unlocked, a second trainer resumed from the first's checkpoint and appended duplicated, out-of-order rows
    run = tmp_path / "run"
    first, ready1, go1 = _start(tmp_path, "first", _tiny_args(run, 100000))  # runs until killed
    second, ready2, go2 = _start(tmp_path, "second", _tiny_args(run, 100000))
    try:
        go1.touch()
        _wait_for(lambda: len(_steps_logged(run)) >= 2 and ready2.exists(), "the first trainer's rows", [first, second])
        go2.touch()
        _refused(second, run)
        n = len(_steps_logged(run))
        _wait_for(lambda: len(_steps_logged(run)) > n, "the first trainer to go on", [first])
        assert first.poll() is None
        logged = _steps_logged(run)
        assert logged == sorted(set(logged))
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
            p.communicate()


def test_kill_9_of_a_holder_never_blocks_a_resume(tmp_path):
    run, steps = tmp_path / "run", 30
    proc, _, go = _start(tmp_path, "victim", _tiny_args(run, steps))
    try:
        go.touch()
        _wait_for(lambda: len(list(run.glob("checkpoints/step_*.safetensors"))) >= 2, "a checkpoint after the start",
                  [proc])
        assert (run / LOCK_FILE).read_text().split()[0] == str(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    done = CheckpointSeries(run).steps[-1]
    assert done < steps, "the trainer finished before it was killed; nothing was tested"
    series = train(_cfg(steps), run, progress=False)  # resumes: the dead process's lock is gone with it
    assert series.steps[-1] == steps
    logged = _steps_logged(run)
    assert logged == sorted(set(logged)) and logged[-1] == steps


def test_lock_in_process_names_dir_and_pid(tmp_path, capsys):
    run = tmp_path / "run"
    with run_lock(run) as path:
        assert path == run / LOCK_FILE and path.read_text().split()[0] == str(os.getpid())
        with pytest.raises(RunLockedError, match=rf"{run}.*process {os.getpid()}") as info:
            train(_cfg(2), run, progress=False)
        assert info.value.pid == os.getpid() and info.value.run_dir == run
        assert main(_tiny_args(run, 2)) == 2  # the CLI: one line, exit code 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use" in err[0]
        assert not (run / "config.json").exists()  # refused before anything was written
    assert (run / LOCK_FILE).read_text() == ""  # released
    assert train(_cfg(2), run, progress=False).steps[-1] == 2  # and free again
