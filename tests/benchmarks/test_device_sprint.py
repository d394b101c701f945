"""benchmarks/device_sprint.py --smoke: the device sprint's whole code path (timing, train_many or separate
runs, capability measurement, the probe's criterion, figures, verdict.json) on the CPU with a tiny CUNet."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "device_sprint.py"


@pytest.fixture(scope="module")
def sprint():
    spec = importlib.util.spec_from_file_location("device_sprint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_sprint"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["device_sprint"]


def test_smoke_run_writes_verdict_and_figures(sprint, tmp_path):
    record = sprint.main(["--smoke", "--seeds", "0", "1", "--out", str(tmp_path)])
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["passed"] == record["passed"] and verdict["passed"] in (True, False, None)
    measured = verdict["measured"]
    assert measured["model"] == "CUNetConfig" and measured["diffusion"] == "ParkVDMConfig"
    s = measured["sprint"]
    assert s["smoke"] is True and s["training"] in ("many", "separate") and s["steps"] == 12
    assert set(s["timing_ms_per_step"]) == {"separate", "many"} and all(v > 0 for v in s["timing_ms_per_step"].values())
    assert set(s["phases_s"]) == {"timing", "concept_probe", "train", "measure", "figures", "total"}
    assert set(measured["seeds"]) == {"0", "1"} and {"criterion_a", "criterion_b", "criterion_c"} <= set(measured)
    for name in ("fig6_protocols.png", "per_seed.png", "capability_vs_behaviour.png", "concept_space_11.png",
                 "concept_space_seed0.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    for seed in (0, 1):  # each seed's run has the planned steps
        runs = list((tmp_path / "runs").glob(f"*_seed{seed}"))
        assert len(runs) == 1 and (runs[0] / "checkpoints" / "step_0000012.safetensors").exists()


def test_plan_steps_picks_the_faster_training_and_fits_the_budget(sprint):
    # lockstep 3 seeds at 50 ms/step beats 3 x 20 ms: 240 s / 50 ms = 4800 steps, rounded to 600
    assert sprint.plan_steps({"separate": 20.0, "many": 50.0}, 3, 240.0, 3000, 20000, 600) == ("many", 4800)
    assert sprint.plan_steps({"separate": 10.0, "many": 50.0}, 3, 240.0, 3000, 20000, 600) == ("separate", 7800)
    assert sprint.plan_steps({"separate": 1.0, "many": 50.0}, 3, 240.0, 3000, 20000, 600) == ("separate", 20000)
    assert sprint.plan_steps({"separate": 900.0, "many": 5000.0}, 3, 240.0, 3000, 20000, 600) == ("separate", 3000)


def test_rejects_bad_arguments(sprint, tmp_path):
    with pytest.raises(SystemExit):
        sprint.main(["--seeds", "0", "1", "--device", "cpu", "--out", str(tmp_path)])  # fewer than 3 seeds
    with pytest.raises(SystemExit):
        sprint.main(["--smoke", "--train-budget", "0", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="mode"):
        sprint.train_sprint({}, {}, "parallel")
