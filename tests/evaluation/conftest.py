"""One small concept probe shared by the measurement tests (training it is the slow part)."""
import pytest

from hidcap.evaluation.classifiers import train_probe

from .fakes import SPEC


@pytest.fixture(scope="session")
def small_probe():
    """A conv probe on 16x16 color x size data (all four classes), trained to >= 99% held-out accuracy."""
    return train_probe(SPEC, steps=50, batch_size=48, images_per_class=128, heldout_per_class=64, width=8, seed=0)
