"""hidcap.experiments.probe_args: the probes' shared command line."""
import pytest
import torch

from hidcap.experiments.probe_args import parse_probe_args


def test_parse_args_defaults_and_scales(tmp_path):
    args, _ = parse_probe_args("demo", "d", ["--tiny", "--out", str(tmp_path / "o")], default_seeds=(0, 1))
    assert args.scale == "tiny" and args.tiny and args.seeds == (0, 1) and args.device == "cpu"
    assert (tmp_path / "o").is_dir()
    assert args.run_dir("run", 3) == tmp_path / "o" / "runs" / "run_seed3"
    quick, _ = parse_probe_args("demo", "d", ["--quick", "--seeds", "4", "--out", str(tmp_path)])
    assert quick.scale == "quick" and quick.seeds == (4,)
    full, _ = parse_probe_args("demo", "d", ["--out", str(tmp_path)])
    assert full.scale == "full"
    assert (args.executor, args.workers, args.address) == ("local", None, None)


def test_parse_args_executor_options(tmp_path):
    args, _ = parse_probe_args("demo", "d", ["--tiny", "--out", str(tmp_path), "--workers", "3"])
    assert (args.executor, args.workers, args.address) == ("local", 3, None)
    args, _ = parse_probe_args("demo", "d", ["--out", str(tmp_path), "--executor", "ray", "--address", "10.0.0.1:6379"])
    assert (args.executor, args.workers, args.address) == ("ray", None, "10.0.0.1:6379")


def test_parse_args_seeds_per_scale(tmp_path):
    seeds = {"tiny": (0,), "quick": (0, 1), "full": (0, 1, 2)}
    for flag, scale in (("--tiny", "tiny"), ("--quick", "quick"), (None, "full")):
        argv = ["--out", str(tmp_path)] + ([flag] if flag else [])
        args, _ = parse_probe_args("demo", "d", argv, default_seeds=seeds)
        assert args.seeds == seeds[scale]
    args, _ = parse_probe_args("demo", "d", ["--quick", "--seeds", "7", "--out", str(tmp_path)], default_seeds=seeds)
    assert args.seeds == (7,)
    with pytest.raises(ValueError, match="every scale"):
        parse_probe_args("demo", "d", [], default_seeds={"quick": (0,)})


def test_parse_args_extra_options(tmp_path):
    def extra(p):
        p.add_argument("--levels", type=float, nargs="+", default=[0.1])

    _, ns = parse_probe_args("demo", "d", ["--out", str(tmp_path), "--levels", "0.2", "0.4"], extra=extra)
    assert ns.levels == [0.2, 0.4]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "1", "1"], "must not repeat"),
        (["--seeds", "-2"], "non-negative"),
        (["--seeds", "x"], "non-negative"),
        (["--tiny", "--quick"], "not allowed with"),
        (["--seeds", "0"], "at least 2 seeds"),
        (["--workers", "0"], "workers must be an integer >= 1, got 0"),
        (["--workers", "two"], "workers must be an integer >= 1, got 'two'"),
        (["--executor", "slurm"], "invalid choice: 'slurm'"),
        (["--address", "10.0.0.1:6379"], "--address joins a Ray cluster: it needs --executor ray"),
    ],
)
def test_parse_args_rejects_bad_input(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        parse_probe_args("demo", "d", [*argv, "--out", str(tmp_path)], min_seeds=2, default_seeds=(0, 1))
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_parse_args_refuses_cuda_without_a_gpu(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_probe_args("demo", "d", ["--device", "cuda", "--out", str(tmp_path)])
    assert "CUDA is not available" in capsys.readouterr().err


def test_probe_commands_in_docs_sweeps_parse(tmp_path):
    """The shared-option probe commands of docs/sweeps.md, "Probes on a cluster", parse (nothing runs)."""
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "sweeps.md").read_text()
    section = text.split("## Probes on a cluster", 1)[1].split("\n## ", 1)[0]
    commands = [shlex.split(line.split("#")[0]) for line in section.splitlines() if line.startswith("python -m probes.")]
    assert len(commands) >= 3, commands
    for words in commands:
        argv = [w for w in words[3:]]
        if "run_all" in words[2]:
            continue  # its own parser (tests/probes/test_run_all.py)
        if "--device" in argv and not torch.cuda.is_available():
            i = argv.index("--device")
            argv[i + 1] = "cpu"
        out = argv.index("--out") + 1 if "--out" in argv else None
        if out is not None:
            argv[out] = str(tmp_path / "o")
        args, _ = parse_probe_args("demo", "d", argv)
        assert args.executor in ("local", "ray") and (args.address is None or args.executor == "ray")
