"""benchmarks/interval_calibration.py runs end to end with tiny reps and prints both tables, including
every row of the seed-level calibration (the numbers themselves are in docs/probes.md)."""
import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "interval_calibration.py"


def _module():
    spec = importlib.util.spec_from_file_location("interval_calibration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_with_tiny_reps(capsys):
    module = _module()
    module.main(["--reps", "2", "--seed-reps", "3"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (A learns earlier|learning time falls|capability > behaviour).*\| (\d) \| (24|96) \| "
                      r"([0-9.]+) \| ([0-9.]+) \|", out, flags=re.MULTILINE)
    assert len(rows) == 4 * (len(module.ONSET_CASES) + len(module.GAP_CASES)) + 2 * len(module.TREND_CASES)
    assert all(0.0 <= float(r[3]) <= 1.0 and 0.0 <= float(r[4]) <= 1.0 for r in rows)
    assert "Wilson coverage (exact)" in out


def test_a_huge_effect_passes_and_no_effect_rarely_does():
    """The simulation itself: a 6,000-step shift is found in every data set, and no shift is (nearly) never."""
    import numpy as np
    module = _module()
    rng = np.random.default_rng(0)
    big = module.onset_rates(20, rng, 5, 96, 6000.0, 500.0, 0.0, 0.0)
    assert big["sign-flip"][0] == 1.0
    assert module.trend_rates(10, rng, 5, 96, 3000.0, 0.0)["sign-flip"][0] == 1.0
    null = module.gap_rates(20, rng, 5, 24, None, 0.0)
    assert null["t"][0] <= 0.1


def test_bad_reps_is_a_usage_error():
    with pytest.raises(SystemExit):
        _module().main(["--seed-reps", "0"])
