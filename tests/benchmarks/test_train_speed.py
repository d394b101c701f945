"""benchmarks/train_speed.py on the tiny model: the step breakdown adds up and names its categories, and the
variant table times what it says (compile skipped unless asked)."""
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_speed.py"


@pytest.fixture(scope="module")
def train_speed():
    spec = importlib.util.spec_from_file_location("train_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_speed"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["train_speed"]


def test_categorise_ops(train_speed):
    cat = train_speed.categorise
    assert cat("aten::mkldnn_convolution") == cat("aten::convolution_backward") == "convolution"
    assert cat("aten::native_group_norm_backward") == "normalisation"
    assert cat("aten::gelu_backward") == cat("aten::silu") == "activation"
    assert cat("aten::_foreach_norm") == cat("Optimizer.step#AdamW.step") == "optimizer (AdamW + clip)"
    assert cat("aten::bmm") == cat("aten::_softmax") == "attention + linear"
    assert cat("aten::add") == cat("aten::mm_weird_name_without_boundary") == "other"


def test_tiny_run_reports_breakdown_and_variants(train_speed, capsys):
    report = train_speed.main(["--model", "tiny", "--batch", "4", "--steps", "1", "--warmup", "0",
                               "--profile-steps", "1", "--variants", "eager fp32", "torch.compile"])
    cats = report["breakdown_ms"]
    assert set(cats) == {name for name, _ in train_speed.CATEGORIES} | {"other"}
    assert cats["convolution"] > 0 and cats["optimizer (AdamW + clip)"] > 0 and cats["activation"] > 0
    assert sum(cats.values()) == pytest.approx(sum(report["ops_ms"].values()))
    assert [v["variant"] for v in report["variants"]] == ["eager fp32"]  # compile skipped without --compile
    assert report["variants"][0]["ms_per_step"] > 0
    out = capsys.readouterr().out
    assert "| convolution |" in out and "| cpu | torch.compile | skipped" in out


def test_rejects_bad_arguments(train_speed):
    with pytest.raises(ValueError, match="unknown model"):
        train_speed.build_step("huge", 4, __import__("torch").device("cpu"))
    with pytest.raises(ValueError, match="exceeds"):
        train_speed.build_step("tiny", 10_000, __import__("torch").device("cpu"))
    with pytest.raises(SystemExit):
        train_speed.main(["--model", "tiny", "--steps", "0"])
