"""hidcap.experiments.claims: the claim protocol's driver on a toy probe (measure -> measurements.json -> decide ->
verdict.json), ``--decide OUT``, smoke verdicts at --tiny and the criterion's commit."""
import json

import numpy as np
import pytest

from hidcap.experiments.claims import (
    MEASUREMENTS,
    ClaimProbe,
    Measurements,
    Verdict,
    criterion_commit,
    load_measurements,
)

SCALES = {"tiny": "seconds", "quick": "minutes", "full": "hours"}
SEEDS = {"tiny": (0,), "quick": (0, 1), "full": (0, 1, 2)}
CALLS = {"measure": 0}


def _measure(args, ns):
    CALLS["measure"] += 1
    (args.out / "fig.png").write_bytes(b"png")
    return Measurements(params={"limit": ns.limit}, data={"x": {str(s): np.float32(0.5 + s) for s in args.seeds}},
                        reported={"σ": 1.0}, figures=["fig.png"], notes="toy")


def _decide(m):
    xs = list(m["data"]["x"].values())
    passed = None if not xs else all(x < m["params"]["limit"] for x in xs)
    return Verdict(passed, {"max_x": max(xs)}, f"max x = {max(xs)}")


def _options(parser):
    parser.add_argument("--limit", type=float, default=1.0)


TOY = ClaimProbe(name="toy", claim="x stays below the limit", paper="nobody 2024, Fig. 0",
                 criterion=("(a) x < {limit:g} in every seed.", "Pass iff (a)."), scales=SCALES, seeds=SEEDS,
                 measure=_measure, decide=_decide, options=_options, description="toy probe")


def test_run_claim_writes_measurements_and_a_verdict(tmp_path, capsys):
    record = TOY.main(["--quick", "--out", str(tmp_path), "--limit", "2"])
    saved = json.loads((tmp_path / MEASUREMENTS).read_text())
    assert saved["data"] == {"x": {"0": 0.5, "1": 1.5}} and saved["params"] == {"limit": 2.0}
    assert saved["seeds"] == [0, 1] and saved["scale"] == "quick" and saved["probe"] == "toy"
    assert record["verdict"] == "pass" and record["passed"] is True and record["outcome"] == "pass"
    assert record["criterion"] == ["(a) x < 2 in every seed.", "Pass iff (a)."]
    assert record["measured"] == {"σ": 1.0, "max_x": 1.5} and record["figures"] == ["fig.png"]
    assert record["decide_command"] is None and record["command"].endswith("--limit 2")
    text = (tmp_path / "verdict.json").read_text(encoding="utf-8")
    assert json.loads(text) == record and '"σ"' in text  # ensure_ascii=False
    out = capsys.readouterr().out
    assert "[PASS] toy (quick, seeds [0, 1]" in out and "(a) x < 2 in every seed." in out


def test_decide_recomputes_without_measuring(tmp_path):
    first = TOY.main(["--quick", "--out", str(tmp_path), "--limit", "1"])
    assert first["verdict"] == "fail"
    before = CALLS["measure"]
    again = TOY.main(["--decide", str(tmp_path)])
    assert CALLS["measure"] == before  # no measuring
    assert again["decide_command"] == f"python -m probes.toy --decide {tmp_path}"
    assert {k: v for k, v in again.items() if k != "decide_command"} == {
        k: v for k, v in first.items() if k != "decide_command"}


def test_tiny_is_smoke(tmp_path, capsys):
    record = TOY.main(["--tiny", "--out", str(tmp_path), "--limit", "0.1"])
    assert record["verdict"] == "smoke" and record["passed"] is None and record["outcome"] == "fail"
    assert "neither passes nor fails" in capsys.readouterr().out
    assert TOY.main(["--decide", str(tmp_path)])["verdict"] == "smoke"


def test_decide_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="measurements.json does not exist"):
        TOY.main(["--decide", str(tmp_path)])
    with pytest.raises(SystemExit):
        TOY.main(["--decide", str(tmp_path), "--quick"])
    assert "--decide reads the scale" in capsys.readouterr().err
    (tmp_path / MEASUREMENTS).write_text(json.dumps({"probe": "other", "scale": "tiny", "seeds": [0], "params": {},
                                                     "data": {}}))
    with pytest.raises(ValueError, match="not 'toy'"):
        TOY.main(["--decide", str(tmp_path)])
    (tmp_path / MEASUREMENTS).write_text(json.dumps({"probe": "toy"}))
    with pytest.raises(ValueError, match="lacks"):
        load_measurements(tmp_path)


def test_measure_and_decide_must_keep_the_protocol(tmp_path):
    bad_measure = ClaimProbe(**{**TOY.__dict__, "measure": lambda args, ns: {"x": 1}})
    with pytest.raises(ValueError, match="must return Measurements"):
        bad_measure.main(["--tiny", "--out", str(tmp_path)])
    missing_fig = ClaimProbe(**{**TOY.__dict__, "measure": lambda args, ns: Measurements({"limit": 1}, {}, figures=["no.png"])})
    with pytest.raises(FileNotFoundError, match="no.png"):
        missing_fig.main(["--tiny", "--out", str(tmp_path)])
    bad_decide = ClaimProbe(**{**TOY.__dict__, "decide": lambda m: (True, {})})
    with pytest.raises(ValueError, match="must return a Verdict"):
        bad_decide.main(["--tiny", "--out", str(tmp_path)])


def test_probe_and_verdict_validation():
    with pytest.raises(ValueError, match="every scale"):
        ClaimProbe(**{**TOY.__dict__, "scales": {"tiny": "s"}})
    with pytest.raises(ValueError, match="non-empty list"):
        ClaimProbe(**{**TOY.__dict__, "criterion": ()})
    with pytest.raises(KeyError, match="lacks it"):
        TOY.criterion_text({})
    with pytest.raises(ValueError, match="passed must be"):
        Verdict(1, {})
    with pytest.raises(ValueError, match="parts must be a dict"):
        Verdict(True, [])


def test_criterion_commit(tmp_path):
    import hidcap.experiments.claims as claims

    here = criterion_commit(claims.__file__)
    assert set(here) == {"commit", "files", "uncommitted"}
    if here["commit"] is not None:  # inside a git checkout
        assert len(here["commit"]) == 40 and here["files"] == ["src/hidcap/experiments/claims.py"]
    outside = tmp_path / "x.py"
    outside.write_text("")
    assert criterion_commit(outside) == {"commit": None, "files": [], "uncommitted": None}
    assert criterion_commit(tmp_path / "missing.py")["commit"] is None


def test_decide_refuses_measuring_options(tmp_path, capsys):
    TOY.main(["--quick", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        TOY.main(["--decide", str(tmp_path), "--limit", "5"])  # a probe's own option: the criterion as measured
    assert "drop ['--limit']" in capsys.readouterr().err
    assert TOY.main(["--decide", str(tmp_path), "--no-progress"])["verdict"] == "fail"  # 1.5 >= 1
