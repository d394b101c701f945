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
