"""One place that turns a model config into a model: ``build_model(config)``.

Every model family registers its frozen config dataclass here, so training and
:class:`~hidcap.runs.CheckpointSeries` rebuild any run's model from its ``config.json`` the same way.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from hidcap.models.context_unet import ContextUNet, ContextUNetConfig
from hidcap.models.cunet import CUNet, CUNetConfig
from hidcap.models.unet import UNet, UNetConfig

#: config class -> model class; ``build_model`` looks the config's exact type up here.
MODELS: dict[type, type[nn.Module]] = {UNetConfig: UNet, CUNetConfig: CUNet, ContextUNetConfig: ContextUNet}

#: what ``TrainConfig.model`` may hold (hidcap's U-Net first: config JSON loading tries union members in order)
ModelConfig = UNetConfig | CUNetConfig | ContextUNetConfig


def build_model(config: Any) -> nn.Module:
    """A freshly initialised model for ``config`` (an instance of a registered config class, see ``MODELS``)."""
    cls = MODELS.get(type(config))
    if cls is None:
        known = ", ".join(c.__name__ for c in MODELS)
        raise ValueError(f"no model is registered for config type {type(config).__name__}; known: {known}")
    return cls(config)
