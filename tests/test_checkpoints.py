from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from hidcap.checkpoints import (
    checkpoint_path,
    load_section,
    load_state_dict,
    read_checkpoint,
    save_checkpoint,
)
from hidcap.diffusion import VDM, VDMConfig
from hidcap.models import UNet, presets
from hidcap.patching import patch
from hidcap.runs import CheckpointSeries
from hidcap.training import CheckpointConfig, OptimConfig, TrainConfig, train_tensors



@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny real VDM run with checkpoints at steps 0, 3, 6."""
    g = torch.Generator().manual_seed(0)
    cond = torch.rand(16, 2, generator=g)
    images = cond[:, :1, None, None].expand(16, 3, 8, 8).clone()
    cfg = TrainConfig(model=presets.tiny(image_size=8, cond_dim=2), diffusion=VDMConfig(),
                      optimizer=OptimConfig(lr=1e-2), checkpoints=CheckpointConfig(steps=(0, 3, 6)),
                      batch_size=8, steps=6, log_every=3)
    return train_tensors(images, cond, cfg, tmp_path_factory.mktemp("run"), progress=False)


def test_save_and_read_roundtrip(tmp_path):
    model = UNet(presets.tiny())
    diff = VDM()
    path = save_checkpoint(tmp_path / "c.safetensors", model.state_dict(), step=7,
                           sections={"diffusion": diff.state_dict()}, metadata={"note": "x"})
    tensors, meta = read_checkpoint(path)
    assert meta == {"step": 7, "note": "x"}
    state = load_state_dict(path)
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert set(load_section(path, "diffusion")) == {"gamma_min", "gamma_max"}
    assert not [p for p in tmp_path.iterdir() if p.name != "c.safetensors"]  # no temp file left behind
    with pytest.raises(ValueError, match="must not contain"):
        save_checkpoint(tmp_path / "d.safetensors", {"a::b": torch.zeros(1)}, step=0)
    with pytest.raises(ValueError, match="must be tensors"):
        save_checkpoint(tmp_path / "d.safetensors", {"a": 1.0}, step=0)


def test_overwrite_is_atomic_replace(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.zeros(3)}, step=1)
    save_checkpoint(path, {"w": torch.ones(3)}, step=2)
    assert torch.equal(load_state_dict(path)["w"], torch.ones(3)) and read_checkpoint(path)[1]["step"] == 2


def test_missing_and_corrupted_files_name_the_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_state_dict(missing)
    good = save_checkpoint(tmp_path / "good.safetensors", {"w": torch.arange(1000.0)}, step=0)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.safetensors.*corrupted"):
        load_state_dict(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="garbage.safetensors"):
        load_state_dict(garbage)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a hidcap checkpoint"):
        load_state_dict(foreign)


def test_series_lists_loads_and_iterates(run):
    assert run.steps == [0, 3, 6] and len(run) == 3
    assert run.path(-1) == checkpoint_path(run.run_dir, 6) and run.path(3).name == "step_0000003.safetensors"
    model = run.load(-1)
    assert not model.training
    state = run.state_dict(6)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    steps = [step for step, m in run]
    assert steps == [0, 3, 6]
    first, last = run.load(0), run.load(6)
    assert not torch.equal(first.out_conv.weight, last.out_conv.weight)
    assert isinstance(run.config, TrainConfig) and run.config.steps == 6
    assert run.diffusion(6).gamma_min.item() != -5.0  # the learned schedule is stored per checkpoint
    assert run.diffusion(0).gamma_min.item() == -5.0
    assert "3 checkpoints" in repr(run)


def test_series_errors(run, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"step_0000004.safetensors.*available steps: \[0, 3, 6\]"):
        run.load(4)
    with pytest.raises(ValueError, match="step must be an int"):
        run.path("3")
    with pytest.raises(FileNotFoundError, match="config.json"):
        CheckpointSeries(tmp_path)


def test_corrupted_checkpoint_in_a_series(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.run_dir, copy)
    series = CheckpointSeries(copy)
    series.path(3).write_bytes(b"broken")
    with pytest.raises(ValueError, match="step_0000003.safetensors"):
        series.load(3)
    assert series.load(6) is not None


def test_patch_from_a_checkpoint_path_and_from_a_series_step(run):
    model = run.load(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    final = run.state_dict(6)
    block = "downs.0.res.0.cond_embed.net.0.weight"
    with patch(model, "*.cond_embed", run.path(6)) as names:
        assert block in names
        assert torch.equal(model.state_dict()[block], final[block])
        assert torch.equal(model.state_dict()["stem.weight"], before["stem.weight"])  # not patched
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    with patch(model, "*.cond_embed", 6, series=run):
        assert torch.equal(model.state_dict()[block], final[block])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_load_rejects_a_checkpoint_of_another_architecture(run, tmp_path):
    import shutil

    copy = tmp_path / "other"
    shutil.copytree(run.run_dir, copy)
    other = UNet(replace(presets.tiny(image_size=8, cond_dim=2), channels=(8, 8)))
    save_checkpoint(checkpoint_path(copy, 3), other.state_dict(), step=3)
    with pytest.raises(ValueError, match="does not fit"):
        CheckpointSeries(copy).load(3)


def _data_offset(path):
    import struct

    return 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]


def test_flipped_bytes_in_tensor_data_name_the_file_and_tensor(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", {"a": torch.zeros(64), "b": torch.arange(64.0)}, step=1)
    raw = bytearray(path.read_bytes())
    # tensors are stored in name order after the header: flip one byte inside "b" (the second 256 bytes)
    raw[_data_offset(path) + 256 + 17] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"c\.safetensors.*tensor 'b'.*checksum"):
        read_checkpoint(path)
    with pytest.raises(ValueError, match="tensor 'b'"):
        load_state_dict(path)
    tensors, _ = read_checkpoint(path, verify=False)  # the escape hatch still reads the damaged data
    assert not torch.equal(tensors["b"], torch.arange(64.0))


def test_checksums_cover_every_dtype_and_old_files_without_them_still_load(tmp_path):
    state = {"f16": torch.ones(3, dtype=torch.float16), "bf16": torch.ones(2, 2, dtype=torch.bfloat16),
             "i64": torch.tensor(5), "flag": torch.tensor([True, False]), "empty": torch.zeros(0)}
    path = save_checkpoint(tmp_path / "c.safetensors", state, step=2)
    tensors, meta = read_checkpoint(path)
    assert meta["step"] == 2 and all(torch.equal(tensors[k], v) for k, v in state.items())
    old = tmp_path / "old.safetensors"  # written as hidcap did before checksums existed
    save_file({"w": torch.ones(2)}, str(old), metadata={"format": "hidcap-checkpoint-1", "step": "4", "meta": "{}"})
    assert read_checkpoint(old)[1]["step"] == 4


_SAVE_SCRIPT = """
import sys, torch
from hidcap.checkpoints import save_checkpoint
g = torch.Generator().manual_seed(0)
save_checkpoint(sys.argv[1], {"w": torch.randn(4, 4, generator=g), "b": torch.zeros(4)}, step=3,
                sections={"diffusion": {"gamma_min": torch.tensor(-5.0)}},
                metadata={"loss": 0.5, "zeta": [1, 2], "alpha": "x"})
"""


def test_same_content_gives_the_same_file_bytes_across_processes(tmp_path):
    import hashlib
    import os
    import subprocess
    import sys

    digests = set()
    for seed in range(6):  # the hash seed changes dict/set order between processes
        path = tmp_path / f"c{seed}.safetensors"
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        subprocess.run([sys.executable, "-c", _SAVE_SCRIPT, str(path)], check=True, env=env)
        digests.add(hashlib.md5(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_numpy_integer_steps_are_accepted(tmp_path):
    import numpy as np

    path = save_checkpoint(tmp_path / "c.safetensors", {"w": torch.zeros(1)}, step=np.int64(5))
    assert read_checkpoint(path)[1]["step"] == 5
    assert checkpoint_path(tmp_path, np.int64(5)) == checkpoint_path(tmp_path, 5)
    with pytest.raises(ValueError, match="step must be an int"):
        checkpoint_path(tmp_path, 5.0)


def test_patch_accepts_a_numpy_integer_step(run):
    import numpy as np

    model = run.load(0)
    block = "downs.0.res.0.cond_embed.net.0.weight"
    with patch(model, "*.cond_embed", np.int64(6), series=run):
        assert torch.equal(model.state_dict()[block], run.state_dict(6)[block])


def test_series_accepts_numpy_integer_steps(run):
    import numpy as np

    assert run.path(np.int64(3)) == run.path(3)
    assert run.load(np.int64(6)) is not None
