"""Diffusion processes owning their noise schedules: DDPM (discrete) and VDM (continuous, learned γ)."""
from __future__ import annotations

from hidcap.diffusion.base import Diffusion, model_device, to_images, to_model_space
from hidcap.diffusion.ddpm import DDPM, DDPMConfig
from hidcap.diffusion.vdm import VDM, VDMConfig

__all__ = [
    "DDPM", "DDPMConfig", "Diffusion", "VDM", "VDMConfig", "build_diffusion", "model_device", "to_images", "to_model_space",
]


def build_diffusion(config: DDPMConfig | VDMConfig) -> Diffusion:
    """The diffusion object for a config: ``DDPMConfig`` -> :class:`DDPM`, ``VDMConfig`` -> :class:`VDM`."""
    if isinstance(config, DDPMConfig):
        return DDPM(config)
    if isinstance(config, VDMConfig):
        return VDM(config)
    raise ValueError(f"diffusion config must be a DDPMConfig or VDMConfig, got {type(config).__name__}")
