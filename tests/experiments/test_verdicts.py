"""hidcap.experiments.verdicts: three-valued combining (explicit on empty input and None) and verdict.json."""
import json

import numpy as np
import pytest
import torch

from hidcap.experiments.verdicts import combine_verdicts, plain, print_verdict, verdict_label, write_json


@pytest.mark.parametrize(
    "parts, expected",
    [((True, True), True), ((True, False), False), ((None, False), False), ((True, None), None), ((None, None), None),
     ((True,), True), ((False,), False), ((None,), None)],
)
def test_combine_verdicts(parts, expected):
    assert combine_verdicts(parts) is expected
    assert combine_verdicts(iter(parts)) is expected  # any iterable, e.g. a generator over seeds


@pytest.mark.parametrize(
    "parts, expected",
    [((True, None), True), ((False, None), False), ((None, None), None), ((True, False, None), False)],
)
def test_combine_verdicts_skipping_undetermined(parts, expected):
    assert combine_verdicts(parts, skip_undetermined=True) is expected


def test_combine_verdicts_refuses_empty_input_and_non_booleans():
    with pytest.raises(ValueError, match="no verdicts"):
        combine_verdicts([])
    with pytest.raises(ValueError, match="no verdicts"):
        combine_verdicts([], skip_undetermined=True)
    for bad in (1, 0, "yes", np.bool_(True)):
        with pytest.raises(ValueError, match="True, False or None"):
            combine_verdicts([True, bad])


def test_plain_makes_json_values():
    assert plain({"x": np.float32(1.5), "arr": np.arange(3), "t": torch.tensor([1.0]), "nan": float("nan"),
                  "flag": np.bool_(True), "pair": (1, 2), 3: np.int64(4)}) == {
        "x": 1.5, "arr": [0, 1, 2], "t": [1.0], "nan": None, "flag": True, "pair": [1, 2], "3": 4}


def test_verdict_label_smoke_and_errors():
    assert [verdict_label(p) for p in (True, False, None)] == ["pass", "fail", "undetermined"]
    assert all(verdict_label(p, smoke=True) == "smoke" for p in (True, False, None))
    with pytest.raises(ValueError, match="passed must be"):
        verdict_label(1)
    with pytest.raises(ValueError, match="passed must be"):
        verdict_label(np.bool_(True))


def test_write_json_keeps_greek_letters_readable(tmp_path):
    path = write_json(tmp_path / "v.json", {"λ_c": np.float32(0.5), "σ": (1, 2)})
    text = path.read_text(encoding="utf-8")
    assert "λ_c" in text and "\\u03bb" not in text
    assert json.loads(text) == {"λ_c": 0.5, "σ": [1, 2]}


def test_print_verdict_says_smoke(capsys):
    record = {"probe": "demo", "verdict": "smoke", "outcome": "fail", "scale": "tiny", "seeds": [0], "wall_s": 1.0,
              "claim": "c", "criterion": ["(a) x < 1.", "(b) y."], "summary": "x = 2"}
    print_verdict(record)
    out = capsys.readouterr().out
    assert "[SMOKE]" in out and "neither passes nor fails" in out and "'fail'" in out
    assert "    (a) x < 1.\n    (b) y." in out and "measured: x = 2" in out
    print_verdict(dict(record, verdict="fail"))
    out = capsys.readouterr().out
    assert "[FAIL]" in out and "SMOKE" not in out
