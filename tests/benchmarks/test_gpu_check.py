"""benchmarks/gpu_check.py --smoke: the accelerator check runs end to end on the CPU (tiny presets), so it is
known to work before an accelerator is lent."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_check"]


def test_smoke_run_writes_json_and_markdown(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--smoke", "--device", "cpu", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["smoke"] is True and report["device"] == "cpu"
    eager = [r for r in report["train"] if "compile" not in r["variant"]]
    assert len(eager) == 2 * 4  # two presets x four eager variants at batch 8
    assert all(r["status"] == "ok" and r["ms_per_step"] > 0 and r["steps_timed"] >= 1 for r in eager), eager
    assert {r["status"] for r in report["train"] if "compile" in r["variant"]} == {"skipped"}
    assert [(r["preset"], r["status"]) for r in report["sampling"]] == [
        ("hidden-capabilities", "ok"), ("hidden-capabilities", "ok"), ("concept-graphs", "ok"), ("concept-graphs", "ok")]
    assert all(r["images_per_s"] > 0 for r in report["sampling"])
    assert [(r["preset"], r["k"], r["status"]) for r in report["train_many"]] == [
        ("hidden-capabilities", 1, "ok"), ("hidden-capabilities", 2, "ok"), ("concept-graphs", 1, "ok"),
        ("concept-graphs", 2, "ok")]
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert "## train ms/step" in markdown and "| concept-graphs | 8 | bf16 autocast |" in markdown
    assert report["goals"][0].startswith("smoke run")
    assert markdown in capsys.readouterr().out


def test_a_failing_measurement_is_reported_and_the_rest_go_on(gpu_check, tmp_path, monkeypatch):
    original = gpu_check.train_step

    def broken(preset, batch, variant, *args):
        if variant.name == "bf16 autocast":
            raise RuntimeError("CUDA out of memory (simulated)")
        return original(preset, batch, variant, *args)

    monkeypatch.setattr(gpu_check, "train_step", broken)
    assert gpu_check.main(["--smoke", "--device", "cpu", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "gpu_check.json").read_text())["train"]
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["variant"] for r in failed] == ["bf16 autocast", "bf16 autocast"]
    assert "out of memory (simulated)" in failed[0]["error"]
    assert sum(r["status"] == "ok" for r in rows) == 6
    assert "failed: RuntimeError: CUDA out of memory" in (tmp_path / "gpu_check.md").read_text()
