"""probes/common.py: the command line, the verdict file, the concept scales and the probe cache."""
import json

import numpy as np
import pytest
import torch

from .conftest import load

common = load("common")


def test_parse_args_defaults_and_scales(tmp_path):
    args, _ = common.parse_args("demo", "d", ["--tiny", "--out", str(tmp_path / "o")], default_seeds=(0, 1))
    assert args.scale == "tiny" and args.tiny and args.seeds == (0, 1) and args.device == "cpu"
    assert (tmp_path / "o").is_dir()
    assert args.run_dir("run", 3) == tmp_path / "o" / "runs" / "run_seed3"
    quick, _ = common.parse_args("demo", "d", ["--quick", "--seeds", "4", "--out", str(tmp_path)])
    assert quick.scale == "quick" and quick.seeds == (4,)
    full, _ = common.parse_args("demo", "d", ["--out", str(tmp_path)])
    assert full.scale == "full"


def test_parse_args_seeds_per_scale(tmp_path):
    seeds = {"tiny": (0,), "quick": (0, 1), "full": (0, 1, 2)}
    for flag, scale in (("--tiny", "tiny"), ("--quick", "quick"), (None, "full")):
        argv = ["--out", str(tmp_path)] + ([flag] if flag else [])
        args, _ = common.parse_args("demo", "d", argv, default_seeds=seeds)
        assert args.seeds == seeds[scale]
    args, _ = common.parse_args("demo", "d", ["--quick", "--seeds", "7", "--out", str(tmp_path)], default_seeds=seeds)
    assert args.seeds == (7,)
    with pytest.raises(ValueError, match="every scale"):
        common.parse_args("demo", "d", [], default_seeds={"quick": (0,)})


def test_parse_args_extra_options(tmp_path):
    def extra(p):
        p.add_argument("--levels", type=float, nargs="+", default=[0.1])

    _, ns = common.parse_args("demo", "d", ["--out", str(tmp_path), "--levels", "0.2", "0.4"], extra=extra)
    assert ns.levels == [0.2, 0.4]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "1", "1"], "must not repeat"),
        (["--seeds", "-2"], "non-negative"),
        (["--seeds", "x"], "non-negative"),
        (["--tiny", "--quick"], "not allowed with"),
        (["--seeds", "0"], "at least 2 seeds"),
    ],
)
def test_parse_args_rejects_bad_input(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        common.parse_args("demo", "d", [*argv, "--out", str(tmp_path)], min_seeds=2, default_seeds=(0, 1))
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_parse_args_refuses_cuda_without_a_gpu(tmp_path, capsys):
    with pytest.raises(SystemExit):
        common.parse_args("demo", "d", ["--device", "cuda", "--out", str(tmp_path)])
    assert "CUDA is not available" in capsys.readouterr().err


def _args(tmp_path):
    args, _ = common.parse_args("demo", "d", ["--tiny", "--out", str(tmp_path), "--seeds", "2"])
    return args


def test_write_verdict_record(tmp_path):
    args = _args(tmp_path)
    (tmp_path / "fig.png").write_bytes(b"png")
    record = common.write_verdict(
        args, claim="c", paper="Fig. 1", criterion="x < 1", passed=False,
        measured={"x": np.float32(1.5), "arr": np.arange(3), "t": torch.tensor([1.0]), "nan": float("nan"),
                  "flag": np.bool_(True), "pair": (1, 2)},
        figures=["fig.png"],
    )
    on_disk = json.loads((tmp_path / "verdict.json").read_text())
    assert on_disk == record
    assert record["verdict"] == "fail" and record["passed"] is False
    assert record["measured"] == {"x": 1.5, "arr": [0, 1, 2], "t": [1.0], "nan": None, "flag": True, "pair": [1, 2]}
    assert record["figures"] == ["fig.png"] and record["seeds"] == [2] and record["scale"] == "tiny"
    assert record["command"] == f"python probes/demo.py --tiny --out {tmp_path} --seeds 2"
    assert record["wall_s"] >= 0 and "CPU" in record["device_name"]


def test_write_verdict_accepts_figure_paths_under_a_relative_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, _ = common.parse_args("demo", "d", ["--tiny", "--out", "rel/out"])
    (args.out / "a.png").write_bytes(b"png")
    rec = common.write_verdict(args, claim="c", paper="p", criterion="k", passed=True, measured={},
                               figures=[args.out / "a.png", "a.png"])
    assert rec["figures"] == ["a.png", "a.png"]


def test_write_verdict_undetermined_and_errors(tmp_path):
    args = _args(tmp_path)
    rec = common.write_verdict(args, claim="c", paper="p", criterion="k", passed=None, measured={})
    assert rec["verdict"] == "undetermined"
    with pytest.raises(FileNotFoundError, match="missing.png"):
        common.write_verdict(args, claim="c", paper="p", criterion="k", passed=True, measured={}, figures=["missing.png"])
    with pytest.raises(ValueError, match="passed must be"):
        common.write_verdict(args, claim="c", paper="p", criterion="k", passed="yes", measured={})


def test_concept_scales_build_valid_configs():
    for name in common.SCALES:
        s = common.concept_scale(name)
        spec = s.spec(color_separation=0.3)
        cfg = s.train_config(spec, seed=1, device="cpu", steps=s.steps)
        assert cfg.model.image_size == spec.image_size == s.image_size and cfg.seed == 1
    full = common.concept_scale("full")
    assert full.steps == 20000 and full.checkpoints.count == 60 and full.image_size == 32
    with pytest.raises(ValueError, match="unknown scale"):
        common.concept_scale("huge")
    with pytest.raises(ValueError, match="does not fit"):
        common.concept_scale("quick").train_config(full.spec(), 0, "cpu")


def test_concept_probe_is_cached_per_spec(tmp_path):
    scale = common.concept_scale("tiny")
    spec = scale.spec()
    first = common.concept_probe(spec, scale, tmp_path / "probe", "cpu", progress=False)
    again = common.concept_probe(spec, scale, tmp_path / "probe", "cpu", progress=False)
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    other = common.concept_probe(scale.spec(color_separation=0.2), scale, tmp_path / "probe", "cpu", seed=5,
                                 progress=False)
    assert json.loads((tmp_path / "probe" / "spec.json").read_text())["data"]["color"] == 0.2
    wider = common.concept_probe(scale.spec(color_separation=0.2, position_range=0.2), scale, tmp_path / "probe",
                                 "cpu", seed=5, progress=False)  # another position range: not the cached probe
    assert json.loads((tmp_path / "probe" / "spec.json").read_text())["data"]["position_range"] == 0.2
    assert not all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), wider.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), other.state_dict().values()))


def test_first_crossing():
    assert common.first_crossing([0, 10, 20], [0.1, 0.8, 0.9], 0.8) == 10
    assert common.first_crossing([0, 10], [0.1, 0.2], 0.8) is None
