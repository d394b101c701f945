"""examples/clifford_torus.py runs end to end in its tiny mode, writes what it promises, and is reproducible."""
import json

import pytest

from .conftest import load_example

FIGURES = ("training.png", "spectrum.png", "persistence.png", "torus_tests.png", "pca.png", "samples.png")


@pytest.fixture(scope="module")
def example():
    return load_example("clifford_torus.py")


@pytest.fixture(scope="module")
def first_run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("clifford_a")
    return out, example.main(["--tiny", "--out", str(out), "--no-progress"])


def test_writes_summary_and_figures(first_run):
    out, summary = first_run
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    for name in FIGURES:
        assert (out / name).stat().st_size > 1000, name
    rows = summary["checkpoints"]
    assert [r["step"] for r in rows] == sorted(r["step"] for r in rows) and rows[0]["step"] == 0
    assert rows[-1]["step"] == summary["train_config"]["steps"]
    for r in rows:
        assert 0.0 <= r["accuracy"] <= min(r["accuracy_x"], r["accuracy_y"]) <= 1.0
        assert r["participation_ratio"] >= 1.0
        assert r["eigenvalues"] == sorted(r["eigenvalues"], reverse=True)
    final = summary["final"]
    assert set(final["torus_tests"]["closer"]) == {"x_on_y", "x_on_x", "y_on_y"}
    assert len(final["betti"]) == 2  # tiny mode computes H0 and H1
    # only the last checkpoint measures the whole 8 x 8 lattice; step 0 the 2 px one
    assert [r["points"] for r in rows] == [16, 64]


def test_prints_phase_table(first_run, example):
    _, summary = first_run
    timing = summary["timing"]
    phases = timing["phases_s"]
    assert list(phases) == ["train", "sample", "sample_last", "accuracy_pca", "ripser", "torus_tests", "figures",
                            "other"]
    assert all(v >= 0 for v in phases.values())
    assert sum(phases.values()) == pytest.approx(timing["total_s"], abs=0.1 * len(phases))
    table = example.phase_table({"train": 3.0, "ripser": 1.0})
    assert "| train | 3.0 | 75 % |" in table and "| total | 4.0 | 100 % |" in table


def test_same_seed_same_summary(example, first_run, tmp_path):
    _, summary_a = first_run
    summary_b = example.main(["--tiny", "--out", str(tmp_path), "--no-progress"])
    summary_a, summary_b = dict(summary_a), dict(summary_b)
    summary_a.pop("timing"), summary_b.pop("timing")
    assert summary_a == summary_b


def test_rerun_reuses_finished_training(example, first_run):
    out, summary = first_run
    before = sorted(p.stat().st_mtime_ns for p in (out / "run" / "checkpoints").iterdir())
    again = example.main(["--tiny", "--out", str(out), "--no-progress"])
    after = sorted(p.stat().st_mtime_ns for p in (out / "run" / "checkpoints").iterdir())
    assert before == after
    assert again["checkpoints"] == summary["checkpoints"]


def test_rejects_unavailable_cuda(example, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        example.main(["--tiny", "--device", "cuda", "--out", str(tmp_path)])


def test_full_and_tiny_are_exclusive(example, tmp_path):
    with pytest.raises(SystemExit):
        example.main(["--tiny", "--full", "--out", str(tmp_path)])
