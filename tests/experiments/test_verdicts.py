"""hidcap.experiments.verdicts: three-valued combining (explicit on empty input and None) and verdict.json."""
import json

import numpy as np
import pytest
import torch

from hidcap.experiments.probe_args import parse_probe_args
from hidcap.experiments.verdicts import combine_verdicts, plain, write_verdict


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


def _args(tmp_path):
    args, _ = parse_probe_args("demo", "d", ["--tiny", "--out", str(tmp_path), "--seeds", "2"])
    return args


def test_write_verdict_record(tmp_path):
    args = _args(tmp_path)
    (tmp_path / "fig.png").write_bytes(b"png")
    record = write_verdict(
        args, claim="c", paper="Fig. 1", criterion="x < 1", passed=False,
        measured={"x": np.float32(1.5), "arr": np.arange(3), "t": torch.tensor([1.0]), "nan": float("nan"),
                  "flag": np.bool_(True), "pair": (1, 2)},
        figures=["fig.png"],
    )
    assert json.loads((tmp_path / "verdict.json").read_text()) == record
    assert record["verdict"] == "fail" and record["passed"] is False
    assert record["measured"] == {"x": 1.5, "arr": [0, 1, 2], "t": [1.0], "nan": None, "flag": True, "pair": [1, 2]}
    assert record["figures"] == ["fig.png"] and record["seeds"] == [2] and record["scale"] == "tiny"
    assert record["command"] == f"python -m probes.demo --tiny --out {tmp_path} --seeds 2"
    assert record["wall_s"] >= 0 and "CPU" in record["device_name"]


def test_write_verdict_accepts_figure_paths_under_a_relative_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, _ = parse_probe_args("demo", "d", ["--tiny", "--out", "rel/out"])
    (args.out / "a.png").write_bytes(b"png")
    rec = write_verdict(args, claim="c", paper="p", criterion="k", passed=True, measured={},
                        figures=[args.out / "a.png", "a.png"])
    assert rec["figures"] == ["a.png", "a.png"]


def test_write_verdict_undetermined_and_errors(tmp_path):
    args = _args(tmp_path)
    rec = write_verdict(args, claim="c", paper="p", criterion="k", passed=None, measured={})
    assert rec["verdict"] == "undetermined"
    with pytest.raises(FileNotFoundError, match="missing.png"):
        write_verdict(args, claim="c", paper="p", criterion="k", passed=True, measured={}, figures=["missing.png"])
    with pytest.raises(ValueError, match="passed must be"):
        write_verdict(args, claim="c", paper="p", criterion="k", passed="yes", measured={})
