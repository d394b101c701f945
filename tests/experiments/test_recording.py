"""hidcap.experiments.recording: label grids, measured steps and sampling with a recorded layer."""
import numpy as np
import pytest
import torch

from hidcap.data import frame_grid
from hidcap.experiments.recording import measured_steps, record_samples
from hidcap.scales import torus_scale
from hidcap.training import train


def test_measured_steps():
    assert measured_steps([0, 1, 2, 3, 4], 2) == [0, 2, 4]
    assert measured_steps([0, 1, 2, 3], 2) == [0, 2, 3]  # the last always
    assert measured_steps([5], 3) == [5]
    with pytest.raises(ValueError):
        measured_steps([], 1)
    with pytest.raises(ValueError):
        measured_steps([1], 0)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    s = torus_scale("tiny")
    return train(s.train_config(0, "cpu"), tmp_path_factory.mktemp("run"), progress=False)


def test_record_samples_is_reproducible_and_batch_independent(series):
    labels = frame_grid(8, 2.0)  # 16 labels
    imgs, acts = record_samples(series, -1, labels, sample_steps=2, seed=3, layer="ups.0.resample")
    assert imgs.shape == (16, 1, 8, 8) and acts.shape[0] == 16 and acts.ndim == 2
    assert 0 <= float(imgs.min()) and float(imgs.max()) <= 1
    again, acts2 = record_samples(series, -1, labels, sample_steps=2, seed=3, layer="ups.0.resample")
    assert torch.equal(imgs, again) and torch.equal(acts, acts2)
    only, none = record_samples(series, -1, labels, sample_steps=2, seed=3)
    assert none is None and torch.equal(only, imgs)  # recording does not change the samples
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        record_samples(series, -1, np.zeros((3, 3)), sample_steps=2, seed=0)
    with pytest.raises(ValueError, match="batch"):
        record_samples(series, -1, labels, sample_steps=2, seed=0, batch=0)
