"""Named model configurations: hidcap's U-Net for each paper, the papers' own networks (Park et al. 2024's
CUNet, Okawa et al. 2023's ContextUNet), and tiny CPU versions for tests and quick modes."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from hidcap.models.context_unet import ContextUNetConfig
from hidcap.models.cunet import CUNetConfig
from hidcap.models.unet import UNetConfig

__all__ = [
    "hidden_capabilities", "gaussian_bumps", "tiny", "tiny_bumps", "cunet", "tiny_cunet", "context_unet",
    "tiny_context_unet", "PRESETS", "get",
]


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


def cunet(**overrides: Any) -> CUNetConfig:
    """Park et al. 2024's CUNet (cfpark00/concept-learning): 3×32×32, channels (64, 128, 256), 2 res blocks per
    level, mid attention, per-block time and conditioning MLPs, ε̂ = f(z_t) + z_t; 12-d conditioning
    (10,916,163 parameters; 10,913,859 with the original's 11-d conditioning). Use with ``ParkVDMConfig``."""
    return replace(CUNetConfig(), **overrides)


def tiny_cunet(**overrides: Any) -> CUNetConfig:
    """CPU-sized :func:`cunet`: 16×16, channels (8, 16), 1 res block per level, 2 heads, groups 4, no dropout."""
    return cunet(**{"image_size": 16, "channels": (8, 16), "res_blocks": 1, "heads": 2, "groups": 4, "dropout": 0.0,
                    "time_dim": 8, **overrides})


def context_unet(**overrides: Any) -> ContextUNetConfig:
    """Okawa et al. 2023's ContextUnet (phys-ai/concept_graphs): n_feat 256, concept groups [2, 3, 1], on
    hidcap's 3×28×28 images (26,975,747 parameters; 26,980,356 with the original's 4 input channels). Use
    with ``OkawaDDPMConfig``."""
    return replace(ContextUNetConfig(), **overrides)


def tiny_context_unet(**overrides: Any) -> ContextUNetConfig:
    """CPU-sized :func:`context_unet`: 8×8 images, n_feat 8."""
    return context_unet(**{"image_size": 8, "n_feat": 8, **overrides})


ModelPreset = UNetConfig | CUNetConfig | ContextUNetConfig

PRESETS = {
    "hidden-capabilities": hidden_capabilities,
    "gaussian-bumps": gaussian_bumps,
    "tiny": tiny,
    "tiny-bumps": tiny_bumps,
    "cunet": cunet,
    "tiny-cunet": tiny_cunet,
    "context-unet": context_unet,
    "tiny-context-unet": tiny_context_unet,
}


def get(name: str, **overrides: Any) -> ModelPreset:
    """Preset by name (a key of ``PRESETS``, e.g. ``'hidden-capabilities'``, ``'cunet'``, ``'tiny'``)."""
    try:
        fn = PRESETS[name.replace("_", "-")]
    except KeyError:
        raise KeyError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}") from None
    return fn(**overrides)
