"""benchmarks/train_many_phases.py: the phase timers still find every phase of train_many (a renamed phase
would fail here rather than time nothing), and the script puts back what it wrapped."""
import importlib.util
import re
from pathlib import Path

import torch

import hidcap.training as training

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_many_phases.py"


def test_every_phase_is_timed_and_restored(capsys):
    spec = importlib.util.spec_from_file_location("train_many_phases", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    backward, loop = torch.Tensor.backward, training._many_loop
    module.main(["--k", "2", "--steps", "3"])
    rows = dict(re.findall(r"^\| ([^|]+?) \| ([0-9.]+) \|$", capsys.readouterr().out, flags=re.M))
    extra = {label for _, _, label in module._diffusion_phases(object)}
    assert set(rows) == {label for _, _, label in module._PHASES} | extra
    for label in ("batched forward (vmap)", "backward", "optimizer step (each run)", "whole step", *extra):
        assert float(rows[label]) > 0, label
    assert float(rows["whole step"]) >= float(rows["backward"])
    assert torch.Tensor.backward is backward and training._many_loop is loop
