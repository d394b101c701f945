"""Run presets as plain data (nanoGPT-style): preset name -> the fields of a
:class:`~hidcap.training.TrainConfig`, nested the way ``run_dir/config.json`` holds them.

``hidcap.training.run_preset(name, **overrides)`` turns one into a config; ``hidcap train --preset NAME`` uses
them. The model entries are the architecture presets of :mod:`hidcap.models.presets` written out as dicts.
"""
from __future__ import annotations

from typing import Any

from hidcap.config_io import config_to_dict
from hidcap.data import BumpDataSpec, ConceptDataSpec
from hidcap.diffusion import DDPMConfig, OkawaDDPMConfig, ParkVDMConfig, VDMConfig
from hidcap.models import presets as models
from hidcap.scales import SCHEDULES

__all__ = ["RUN_PRESETS"]

_HIDDEN_CAPABILITIES: dict[str, Any] = {
    # Park et al. 2024 ("Emergence of Hidden Capabilities") as their code runs it (docs/models.md): CUNet + their
    # VDM (bits/dim, learned linear γ, data in [0, 1]); the schedule is hidcap.scales.SCHEDULES["park-2024"]
    "model": config_to_dict(models.cunet()),
    "diffusion": config_to_dict(ParkVDMConfig()),
    "data": config_to_dict(ConceptDataSpec()),
    **SCHEDULES["park-2024"].fields(),
}

# the same experiment on hidcap's own U-Net and VDM (15.2 M parameters; see docs/models.md), grad clip 1.0
_HIDDEN_CAPABILITIES_HIDCAP: dict[str, Any] = {
    **_HIDDEN_CAPABILITIES,
    "model": config_to_dict(models.hidden_capabilities()),
    "diffusion": config_to_dict(VDMConfig()),
    **SCHEDULES["park-2024-hidcap"].fields(),
}


def _concept_cube(image_size: int, images_per_class: int) -> dict[str, Any]:
    """Okawa et al. 2023's concept graph: (shape, color, size), trained on {000, 100, 010, 001}."""
    return config_to_dict(ConceptDataSpec(concepts=("shape", "color", "size"), train_classes=("000", "100", "010", "001"),
                                          test_classes=("110", "101", "011", "111"), image_size=image_size,
                                          images_per_class=images_per_class))


# smoke: a 200-step VDM that exercises every code path in seconds and learns nothing (its samples are noise)
_SMOKE: dict[str, Any] = {
    "model": config_to_dict(models.tiny()),
    "diffusion": config_to_dict(VDMConfig()),
    "data": config_to_dict(ConceptDataSpec(image_size=16, images_per_class=64)),
    **SCHEDULES["smoke"].fields(),
    "log_every": 10,
}

#: preset name -> TrainConfig fields (missing fields take the dataclass defaults)
RUN_PRESETS: dict[str, dict[str, Any]] = {
    "hidden-capabilities": _HIDDEN_CAPABILITIES,
    # the same with condition dropout 0.2, for classifier-free guidance
    "hidden-capabilities-cfg": {**_HIDDEN_CAPABILITIES, "diffusion": config_to_dict(ParkVDMConfig(cond_drop=0.2))},
    "hidden-capabilities-hidcap": _HIDDEN_CAPABILITIES_HIDCAP,
    "hidden-capabilities-hidcap-cfg": {**_HIDDEN_CAPABILITIES_HIDCAP, "diffusion": config_to_dict(VDMConfig(cond_drop=0.2))},
    # Okawa et al. 2023 as their code runs it (docs/models.md): ContextUNet + their DDPM (T=500), 5000 images of
    # 28 px, schedule SCHEDULES["okawa-2023"]
    "concept-graphs": {
        "model": config_to_dict(models.context_unet()),
        "diffusion": config_to_dict(OkawaDDPMConfig()),
        "data": _concept_cube(28, 1250),
        **SCHEDULES["okawa-2023"].fields(),
    },
    # Liang et al. 2024 ("How Diffusion Models Learn to Factorize and Compose"), App. A: DDPM T = 1000 on
    # periodic 32x32 Gaussian bumps
    "gaussian-bumps": {
        "model": config_to_dict(models.gaussian_bumps()),
        "diffusion": config_to_dict(DDPMConfig(timesteps=1000)),
        "data": config_to_dict(BumpDataSpec(periodic=True)),
        **SCHEDULES["liang-2024"].fields(),
    },
    "smoke": _SMOKE,
    # the first model to train: the smoke model as a DDPM (T=100, scaled β) with lr 3e-3 for 400 steps; it learns
    # the training classes in about a minute of CPU
    "tiny": {
        **_SMOKE,
        "model": config_to_dict(models.tiny(time_scale=1.0)),
        "diffusion": config_to_dict(DDPMConfig.scaled(100)),
        **SCHEDULES["tiny"].fields(),
    },
    # CPU-sized hidden-capabilities: tiny CUNet, Park et al.'s VDM, 16 px
    "tiny-cunet": {
        **_SMOKE,
        "model": config_to_dict(models.tiny_cunet()),
        "diffusion": config_to_dict(ParkVDMConfig()),
        "optimizer": config_to_dict(SCHEDULES["park-2024"].optimizer),
    },
    # CPU-sized concept-graphs: tiny ContextUNet, Okawa et al.'s DDPM with T=50, 8 px
    "tiny-concept-graphs": {
        **_SMOKE,
        "model": config_to_dict(models.tiny_context_unet()),
        "diffusion": config_to_dict(OkawaDDPMConfig(timesteps=50)),
        "data": _concept_cube(8, 32),
        "optimizer": {"lr": 1e-3, "weight_decay": 0.0, "grad_clip": None},
    },
    "tiny-bumps": {
        "model": config_to_dict(models.tiny_bumps()),
        "diffusion": config_to_dict(DDPMConfig.scaled(50)),
        "data": config_to_dict(BumpDataSpec(image_size=16, increment=1.0, periodic=True)),
        **SCHEDULES["smoke"].fields(),
        "log_every": 10,
    },
}
