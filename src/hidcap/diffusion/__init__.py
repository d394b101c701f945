"""Diffusion processes owning their noise schedules: DDPM (discrete) and VDM (continuous, learned γ), and the
papers' own variants (:class:`ParkVDM`, Park et al. 2024; :class:`OkawaDDPM`, Okawa et al. 2023)."""
from __future__ import annotations

from hidcap.diffusion.base import Diffusion, model_device, to_images, to_model_space
from hidcap.diffusion.ddpm import DDPM, DDPMConfig
from hidcap.diffusion.okawa_ddpm import OkawaDDPM, OkawaDDPMConfig
from hidcap.diffusion.park_vdm import ParkVDM, ParkVDMConfig
from hidcap.diffusion.vdm import VDM, VDMConfig

__all__ = [
    "DDPM", "DDPMConfig", "DIFFUSIONS", "Diffusion", "OkawaDDPM", "OkawaDDPMConfig", "ParkVDM", "ParkVDMConfig",
    "VDM", "VDMConfig", "build_diffusion", "model_device", "to_images", "to_model_space",
]

#: config class -> diffusion class; ``build_diffusion`` looks the config's exact type up here.
DIFFUSIONS: dict[type, type[Diffusion]] = {
    DDPMConfig: DDPM, VDMConfig: VDM, ParkVDMConfig: ParkVDM, OkawaDDPMConfig: OkawaDDPM,
}

#: what ``TrainConfig.diffusion`` may hold
DiffusionConfig = DDPMConfig | VDMConfig | ParkVDMConfig | OkawaDDPMConfig


def build_diffusion(config: DiffusionConfig) -> Diffusion:
    """The diffusion object for a config (an instance of a class registered in ``DIFFUSIONS``)."""
    cls = DIFFUSIONS.get(type(config))
    if cls is None:
        known = ", ".join(c.__name__ for c in DIFFUSIONS)
        raise ValueError(f"no diffusion is registered for config type {type(config).__name__}; known: {known}")
    return cls(config)
