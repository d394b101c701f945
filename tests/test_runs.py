import pytest
import torch
from torch import nn

from hidcap.checkpoints import TrainingState, load_training_state, save_training_state
from hidcap.diffusion import model_device
from hidcap.models import presets
from hidcap.runs import CheckpointSeries, SeriesLike, is_series
from hidcap.training import CheckpointConfig, TrainConfig, train_tensors


def test_model_device_of_parameters_buffers_and_empty_modules():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    only_buffer = nn.Module()
    only_buffer.register_buffer("b", torch.zeros(1))
    assert model_device(only_buffer) == torch.device("cpu")
    assert model_device(nn.Identity()) == torch.device("cpu")


def test_series_like_protocol(tmp_path):
    model = presets.tiny(image_size=8, channels=(8, 8))
    cfg = TrainConfig(model=model, batch_size=4, steps=2, checkpoints=CheckpointConfig(count=1), log_every=1)
    series = train_tensors(torch.rand(8, 3, 8, 8), torch.zeros(8, model.cond_dim), cfg, tmp_path, progress=False)
    assert isinstance(series, CheckpointSeries) and is_series(series) and isinstance(series, SeriesLike)
    assert not is_series({0: nn.Linear(1, 1)})
    assert not is_series([(0, nn.Linear(1, 1))])


def test_training_state_roundtrip(tmp_path):
    net = nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = TrainingState(step=5, model=net.state_dict(), diffusion={"g": torch.ones(2)}, optimizer=opt.state_dict(),
                          rng={"torch": torch.get_rng_state()}, loss=0.25)
    path = save_training_state(tmp_path / "resume.safetensors", state)
    back = load_training_state(path)
    assert back.step == 5 and back.loss == 0.25
    assert torch.equal(back.diffusion["g"], torch.ones(2))
    opt2 = torch.optim.AdamW(nn.Linear(3, 2).parameters(), lr=1e-2)
    opt2.load_state_dict(back.optimizer)
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(torch.as_tensor(opt2.state_dict()["state"][0][k]), torch.as_tensor(v))


def test_load_training_state_refuses_a_plain_checkpoint(tmp_path):
    from hidcap.checkpoints import save_checkpoint

    path = save_checkpoint(tmp_path / "c.safetensors", {"w": torch.ones(1)}, step=1)
    with pytest.raises(ValueError, match="no training state"):
        load_training_state(path)


def _tiny_run(tmp_path):
    model = presets.tiny(image_size=8, channels=(8, 8))
    cfg = TrainConfig(model=model, batch_size=4, steps=6, checkpoints=CheckpointConfig(steps=(2, 4)), log_every=1)
    return train_tensors(torch.rand(8, 3, 8, 8), torch.zeros(8, model.cond_dim), cfg, tmp_path, progress=False)


def test_series_names_a_lost_checkpoint(tmp_path):
    series = _tiny_run(tmp_path / "run")
    assert series.scheduled_steps == [2, 4, 6] and series.steps == [2, 4, 6] and series.missing_steps == []
    series.path(4).unlink()
    with pytest.raises(FileNotFoundError, match=r"scheduled steps \[4\].*present: \[2, 6\].*allow_missing=True"):
        CheckpointSeries(tmp_path / "run")
    kept = CheckpointSeries(tmp_path / "run", allow_missing=True)
    assert kept.steps == [2, 6] and kept.missing_steps == [4]
    assert kept.load(6) is not None
    # the final checkpoint of a finished run: metrics.jsonl shows the run passed step 6
    kept.path(6).unlink()
    with pytest.raises(FileNotFoundError, match=r"\[4, 6\]"):
        CheckpointSeries(tmp_path / "run")
    with pytest.raises(ValueError, match="allow_missing must be a bool"):
        CheckpointSeries(tmp_path / "run", allow_missing="yes")


def test_series_of_an_unfinished_run_is_not_missing_anything(tmp_path):
    series = _tiny_run(tmp_path / "run")
    series.path(6).unlink()  # as if stopped after step 5: no row for step 6 yet
    metrics = tmp_path / "run" / "metrics.jsonl"
    rows = [r for r in metrics.read_text().splitlines() if r.strip()]
    metrics.write_text("\n".join(rows[:5]) + "\n")
    unfinished = CheckpointSeries(tmp_path / "run")
    assert unfinished.steps == [2, 4] and unfinished.missing_steps == []
