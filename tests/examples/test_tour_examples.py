"""The API-tour examples (tracer_basics, patch_checkpoints, linear_intervention) run in tiny mode and
return what they promise."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module



# ---- tracer_basics ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tracer_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tracer_basics")
    return out, _load("tracer_basics").main(["--tiny", "--out", str(out), "--no-progress"])


def _png_shape(path):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    return mpimg.imread(path).shape


def test_tracer_basics_draws_the_stacked_activations(tracer_run):
    out, _ = tracer_run
    h, w, _ = _png_shape(out / "mid_attn_steps.png")
    assert h >= 200 and w >= 400


def test_tracer_basics_records_glob_and_exact_names(tracer_run):
    out, summary = tracer_run
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    names = summary["recorded"]
    assert "mid.attn" in names
    cond_sites = [n for n in names if n.endswith(".cond_embed")]
    assert len(cond_sites) == 8 and len(names) == 9  # tiny preset: one conditioning MLP per res block
    n = summary["batch"]
    assert summary["shapes"]["mid.attn"][0] == n and all(summary["shapes"][s][0] == n for s in cond_sites)


def test_tracer_basics_stacks_one_record_per_sampling_step(tracer_run):
    _, summary = tracer_run
    steps = summary["sample_steps"]
    assert summary["calls"] == steps
    assert summary["stack_shape"] == [steps, *summary["shapes"]["mid.attn"]]
    assert len(summary["step_norms"]) == steps


def test_tracer_basics_edit_and_patch_take_effect(tracer_run):
    _, summary = tracer_run
    assert summary["edit_max_change"] > 0
    assert summary["patched_vs_recorded"] == 0.0  # the patched module outputs exactly the recorded tensor
    assert summary["own_vs_recorded"] > 0  # ... which differs from what it would output on its own input
    assert summary["output_change_by_patch"] > 0


# ---- patch_checkpoints ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def patch_module():
    return _load("patch_checkpoints")


@pytest.fixture(scope="module")
def patch_run(patch_module, tmp_path_factory):
    out = tmp_path_factory.mktemp("patch_checkpoints")
    return out, patch_module.main(["--tiny", "--out", str(out), "--no-progress"])


def test_patch_table_has_one_row_per_checkpoint(patch_run):
    from hidcap.runs import CheckpointSeries

    out, summary = patch_run
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    steps = CheckpointSeries(out / "run").steps
    assert [r["step"] for r in summary["rows"]] == steps and len(steps) >= 3
    assert summary["final_step"] == steps[-1]
    for r in summary["rows"]:
        for m in (r["own"], r["patched"]):
            assert 0.0 <= m["joint"] <= min(m["color"], m["size"]) <= 1.0
    assert summary["reference"]["joint"] >= 0.9  # the measure scores real images of the class as correct


def test_patch_checkpoints_draws_own_and_patched_sample_grids(patch_run):
    out, summary = patch_run
    h, w, _ = _png_shape(out / "samples.png")
    assert h >= 100 * len(summary["rows"]) and w >= 300  # two labelled rows per checkpoint, upscaled


def test_patching_the_final_step_into_itself_changes_nothing(patch_run):
    _, summary = patch_run
    last = summary["rows"][-1]
    assert last["identical"] and last["own"] == last["patched"]


# ---- linear_intervention ----------------------------------------------------------------------------
def test_linear_intervention_sweeps_16_cells(tmp_path):
    summary = _load("linear_intervention").main(["--tiny", "--out", str(tmp_path), "--no-progress"])
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary))
    grid = summary["grid"]
    assert len(grid) == 16
    assert {(c["alpha"], c["beta"]) for c in grid} == {(a, b) for a in (0.1, 1, 2, 4) for b in (0.1, 0.25, 0.5, 1)}
    assert len(summary["sites"]) == 8 and all(s.endswith(".cond_embed") for s in summary["sites"])
    for c in grid:
        assert 0.0 <= c["joint"] <= min(c["color"], c["size"]) <= 1.0
    h, w, _ = _png_shape(tmp_path / "intervention.png")
    assert w > 2 * h  # three alpha x beta heatmaps side by side
    base = summary["baseline"]
    assert any((c["b_minus_r"], c["radius"]) != (base["b_minus_r"], base["radius"]) for c in grid)


def test_linear_intervention_reuses_a_run(patch_run, tmp_path):
    run = patch_run[0] / "run"
    module = _load("linear_intervention")
    mid = patch_run[1]["rows"][1]["step"]
    summary = module.main(["--tiny", "--run", str(run), "--step", str(mid), "--out", str(tmp_path), "--no-progress"])
    assert summary["step"] == mid and summary["run"] == str(run)
    assert not (tmp_path / "run").exists()  # nothing was trained
    with pytest.raises(FileNotFoundError, match="available steps"):
        module.main(["--tiny", "--run", str(run), "--step", "99999", "--out", str(tmp_path), "--no-progress"])



def test_linear_intervention_needs_a_concepts_run(tmp_path, capsys):
    from hidcap.cli import main as cli

    run = tmp_path / "bumps"
    assert cli(["train", "--preset", "tiny-bumps", "--out", str(run), "--steps", "1", "--batch-size", "4",
                "--checkpoints", "1", "--no-progress"]) == 0
    with pytest.raises(SystemExit) as info:
        _load("linear_intervention").main(["--tiny", "--run", str(run), "--out", str(tmp_path / "o"), "--no-progress"])
    assert info.value.code == 2
    assert "not a concept-space run" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.py")))
def test_every_example_has_no_progress(name, capsys):
    """docs/examples.md promises `--no-progress` for every example."""
    with pytest.raises(SystemExit):
        _load(name).main(["--help"])
    assert "--no-progress" in capsys.readouterr().out
