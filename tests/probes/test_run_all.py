"""probes/run_all.py: runs the named probes, keeps going past a failing one, and writes one summary table."""
import json

import pytest

from .conftest import load

run_all = load("run_all")


def test_runs_a_probe_and_reports_a_broken_one(tmp_path, monkeypatch):
    real_load = run_all.load

    def load_or_break(name):
        if name == "torus_geometry":
            raise RuntimeError("broken on purpose")
        return real_load(name)

    monkeypatch.setattr(run_all, "load", load_or_break)
    rows = run_all.main(["--tiny", "--no-progress", "--out", str(tmp_path), "percolation", "torus_geometry"])
    assert [r["probe"] for r in rows] == ["percolation", "torus_geometry"]
    assert rows[0]["verdict"] == "smoke" and rows[0]["scale"] == "tiny"  # --tiny neither passes nor fails
    assert (tmp_path / "percolation" / "tiny" / "verdict.json").is_file()
    assert rows[1]["verdict"] == "error" and "broken on purpose" in rows[1]["error"]
    assert json.loads((tmp_path / "summary.json").read_text())[1]["verdict"] == "error"
    table = (tmp_path / "summary.md").read_text()
    assert "| percolation |" in table and "| torus_geometry | error |" in table


def test_every_listed_probe_exists_and_unknown_names_are_refused(tmp_path, capsys):
    for name in run_all.PROBES:
        assert (run_all.HERE / f"{name}.py").is_file()
    with pytest.raises(SystemExit):
        run_all.main(["--tiny", "--out", str(tmp_path), "nope"])
    assert "unknown probe(s) ['nope']" in capsys.readouterr().err
    with pytest.raises(KeyError, match="unknown probe"):
        run_all.load("nope")


def test_executor_options_reach_every_probe(tmp_path, monkeypatch, capsys):
    seen = []

    class Fake:
        @staticmethod
        def main(argv):
            seen.append(argv)
            return {"probe": "percolation", "verdict": "pass", "claim": "c", "wall_s": 0.0}

    monkeypatch.setattr(run_all, "load", lambda name: Fake)
    run_all.main(["--tiny", "--out", str(tmp_path), "--executor", "ray", "--address", "h:1", "--workers", "2",
                  "percolation"])
    assert seen == [["--tiny", "--device", "cpu", "--executor", "ray", "--workers", "2", "--address", "h:1",
                     "--out", str(tmp_path / "percolation" / "tiny")]]
    for argv, message in [(["--address", "h:1"], "needs --executor ray"), (["--workers", "0"], "--workers must be")]:
        with pytest.raises(SystemExit):
            run_all.main(["--tiny", "--out", str(tmp_path), *argv, "percolation"])
        assert message in capsys.readouterr().err
