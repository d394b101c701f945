"""examples/diffusers_series.py runs end to end in its tiny mode: a diffusers output folder, the torus measurement
read through DiffusersSeries, the figures, and the same summary for the same seed."""
import json

import pytest

from .conftest import load_example

pytest.importorskip("diffusers")

FIGURES = ("training.png", "spectrum.png", "persistence.png", "torus_tests.png", "pca.png", "samples.png")


@pytest.fixture(scope="module")
def example():
    return load_example("diffusers_series.py")


@pytest.fixture(scope="module")
def first_run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusers_a")
    return out, example.main(["--tiny", "--out", str(out), "--no-progress"])


def test_writes_a_diffusers_output_summary_and_figures(first_run):
    out, summary = first_run
    steps = summary["checkpoint_steps"]
    for n in steps:  # the layout of diffusers' training scripts
        assert (out / "run" / f"checkpoint-{n}" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
        assert json.loads((out / "run" / f"checkpoint-{n}" / "unet" / "config.json").read_text())["_class_name"] == \
            "UNet2DModel"
    assert (out / "run" / "scheduler" / "scheduler_config.json").is_file()
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    for name in FIGURES:
        assert (out / name).stat().st_size > 1000, name
    rows = summary["checkpoints"]
    assert rows[0]["step"] == 0 and rows[-1]["step"] == steps[-1] == summary["model"]["steps"]
    for r in rows:
        assert 0.0 <= r["accuracy"] <= min(r["accuracy_x"], r["accuracy_y"]) <= 1.0
        assert r["participation_ratio"] >= 1.0
    final = summary["final"]
    assert len(final["betti"]) == 2  # tiny: H0 and H1 only, so no torus claim
    assert final["torus_topology"] is False and final["clifford_torus"] is False
    assert set(final["torus_tests"]["closer"]) == {"x_on_y", "x_on_x", "y_on_y"}


def test_same_seed_same_summary(example, first_run, tmp_path):
    _, summary_a = first_run
    summary_b = example.main(["--tiny", "--out", str(tmp_path), "--no-progress"])
    summary_a, summary_b = dict(summary_a), dict(summary_b)
    summary_a.pop("timing"), summary_b.pop("timing")
    assert summary_a == summary_b


def test_rerun_reuses_finished_checkpoints(example, first_run):
    out, summary = first_run
    before = sorted(p.stat().st_mtime_ns for p in (out / "run").rglob("*.safetensors"))
    steps = example.train(example.RUNS["tiny"], out / "run", 0, "cpu", progress=False)
    assert steps == summary["checkpoint_steps"]
    assert sorted(p.stat().st_mtime_ns for p in (out / "run").rglob("*.safetensors")) == before
