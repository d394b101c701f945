import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest single-threaded on the shared 2-core machine (no OpenMP contention)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
