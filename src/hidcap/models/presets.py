"""Named U-Net configurations: the papers' models and tiny CPU versions for tests and quick modes."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from hidcap.models.unet import UNetConfig

__all__ = ["hidden_capabilities", "gaussian_bumps", "tiny", "tiny_bumps", "PRESETS", "get"]


def hidden_capabilities(**overrides: Any) -> UNetConfig:
    """Park et al. 2024, App. B: 3×32×32 images, channels (64, 128, 256), 2 res blocks per level,
    GroupNorm(8), dropout 0.1, GELU, 4-head self-attention in the 8×8 bottleneck, 64-d sinusoidal time
    encoding -> MLP 256, a conditioning MLP (hidden 256) in every res block (mode ``'block_mlp'``), 12-d
    conditioning (``hidcap.data.COND_DIM``); continuous VDM time (``time_scale=1000``)."""
    cfg = UNetConfig(
        image_size=32, in_channels=3, channels=(64, 128, 256), res_blocks=2, attention_resolutions=(),
        mid_attention=True, heads=4, groups=8, dropout=0.1, cond_dim=12, conditioning="block_mlp",
        time_dim=64, emb_dim=256, cond_hidden=256, time_scale=1000.0,
    )
    return replace(cfg, **overrides)


def gaussian_bumps(**overrides: Any) -> UNetConfig:
    """Liang et al. 2024, App. A: 1×32×32 bumps, a DDPM U-Net with 3 down/up blocks (channels
    (64, 128, 256, 256) at 32, 16, 8, 4 px), self-attention after the blocks at 16, 8 and 4 px and in the
    bottleneck, GroupNorm, GELU, no dropout; conditioning = fixed sinusoidal encodings of t, x, y (64 each)
    concatenated (mode ``'concat_pe'``, no trainable embedder); integer DDPM time (``time_scale=1``)."""
    cfg = UNetConfig(
        image_size=32, in_channels=1, channels=(64, 128, 256, 256), res_blocks=2, attention_resolutions=(16, 8, 4),
        mid_attention=True, heads=4, groups=8, dropout=0.0, cond_dim=2, conditioning="concat_pe",
        time_dim=64, cond_pe_dim=64, cond_scale=1.0, time_scale=1.0,
    )
    return replace(cfg, **overrides)


def tiny(**overrides: Any) -> UNetConfig:
    """CPU-sized version of :func:`hidden_capabilities`: 16×16, channels (8, 16), 1 res block, attention in
    the bottleneck, no dropout, small embeddings. Same module names as the full preset."""
    cfg = hidden_capabilities(
        image_size=16, channels=(8, 16), res_blocks=1, dropout=0.0, heads=2, groups=4,
        time_dim=16, emb_dim=32, cond_hidden=32,
    )
    return replace(cfg, **overrides)


def tiny_bumps(**overrides: Any) -> UNetConfig:
    """CPU-sized version of :func:`gaussian_bumps`: 16×16, channels (8, 16, 16), 1 res block, attention at 4 px
    and in the bottleneck, 16-d encodings of t, x, y."""
    cfg = gaussian_bumps(
        image_size=16, channels=(8, 16, 16), res_blocks=1, attention_resolutions=(4,), heads=2, groups=4,
        time_dim=16, cond_pe_dim=16,
    )
    return replace(cfg, **overrides)


PRESETS = {
    "hidden-capabilities": hidden_capabilities,
    "gaussian-bumps": gaussian_bumps,
    "tiny": tiny,
    "tiny-bumps": tiny_bumps,
}


def get(name: str, **overrides: Any) -> UNetConfig:
    """Preset by name (``'hidden-capabilities'``, ``'gaussian-bumps'``, ``'tiny'``, ``'tiny-bumps'``)."""
    try:
        fn = PRESETS[name.replace("_", "-")]
    except KeyError:
        raise KeyError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}") from None
    return fn(**overrides)
