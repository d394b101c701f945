"""Explicit, reproducible randomness: every generator and training function takes a seed or Generator."""
from __future__ import annotations

import numpy as np
import torch


def torch_generator(seed: int | torch.Generator, device: str | torch.device = "cpu") -> torch.Generator:
    """Return a ``torch.Generator`` on ``device``: ``seed`` itself if it is one, else a new one seeded with it."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or torch.Generator, got {type(seed).__name__}")
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed))
    return gen


def numpy_rng(seed: int | np.random.Generator) -> np.random.Generator:
    """Return a ``numpy.random.Generator``: ``seed`` itself if it is one, else ``default_rng(seed)``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or numpy Generator, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))
