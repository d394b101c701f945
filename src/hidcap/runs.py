"""A training run on disk: :class:`CheckpointSeries` reads ``config.json``, ``metrics.jsonl`` and the checkpoints
of one run directory and rebuilds its model (``hidcap.models.build_model(config.model)``) and diffusion, the way
nanoGPT rebuilds a model from its saved ``model_args``. :class:`SeriesLike` is what measurement code accepts.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.checkpoints import CHECKPOINT_DIR, as_step, checkpoint_path, checkpoint_steps_in, load_section, load_state_dict
from hidcap.config_io import load_config, load_config_extras
from hidcap.diffusion import build_diffusion
from hidcap.diffusion.base import model_device
from hidcap.models import build_model
from hidcap.run_config import EXTENSIONS_KEY, TrainConfig, extended_schedule

__all__ = ["CheckpointSeries", "SeriesLike", "is_series", "model_device"]


@runtime_checkable
class SeriesLike(Protocol):
    """What measurement code needs of a checkpoint series: ``steps`` (sorted ints), ``load(step)`` (a model in
    eval mode) and ``diffusion(step)`` (its diffusion object). :class:`CheckpointSeries` is one."""

    @property
    def steps(self) -> list[int]: ...

    def load(self, step: int = -1) -> nn.Module: ...

    def diffusion(self, step: int = -1) -> nn.Module: ...


def is_series(obj: Any) -> bool:
    """True when ``obj`` satisfies :class:`SeriesLike` (has ``steps``, ``load`` and ``diffusion``)."""
    return isinstance(obj, SeriesLike)


class CheckpointSeries:
    """The checkpoints of one training run, in step order.

    ``series.steps`` sorted ints; ``series.load(step)`` a fresh :class:`~hidcap.models.UNet` in eval mode
    (``step=-1``: the last); ``for step, model in series``; ``series.path(step)``; ``series.state_dict(step)``;
    ``series.diffusion(step)`` the diffusion object with its (learned) schedule; ``series.config`` the
    :class:`~hidcap.run_config.TrainConfig`; ``series.metrics()`` the rows of ``metrics.jsonl``.

    The files present are compared with the run's checkpoint schedule: a scheduled step the run has passed (by its
    checkpoints and ``metrics.jsonl``) without a checkpoint file raises ``FileNotFoundError`` naming the missing
    steps, unless ``allow_missing=True`` (then ``steps`` lists what is there; ``missing_steps`` says what is not).
    Scheduled steps the run has not reached yet (an unfinished run) are not missing.
    """

    def __init__(self, run_dir: str | os.PathLike, device: str | torch.device = "cpu", *, allow_missing: bool = False):
        self.run_dir = Path(run_dir)
        self.device = torch.device(device)
        if not isinstance(allow_missing, bool):
            raise ValueError(f"allow_missing must be a bool, got {allow_missing!r}")
        if not self.run_dir.is_dir():
            raise FileNotFoundError(f"{self.run_dir} does not exist (or is not a folder), so it holds no training run")
        if not (self.run_dir / "config.json").is_file():
            raise FileNotFoundError(f"{self.run_dir} is not a training run: {self.run_dir / 'config.json'} is missing")
        self._config = None
        self.allow_missing = allow_missing
        missing = self.missing_steps
        if missing and not allow_missing:
            raise FileNotFoundError(
                f"{self.run_dir / CHECKPOINT_DIR} lacks the checkpoints of scheduled steps {missing} that the run has "
                f"passed (present: {checkpoint_steps_in(self.run_dir)}); pass allow_missing=True to use the "
                f"checkpoints present"
            )

    @property
    def config(self) -> Any:
        """The run's :class:`~hidcap.run_config.TrainConfig` (read from ``config.json``)."""
        if self._config is None:
            self._config = load_config(TrainConfig, self.run_dir / "config.json")
        return self._config

    @property
    def steps(self) -> list[int]:
        return checkpoint_steps_in(self.run_dir)

    @property
    def scheduled_steps(self) -> list[int]:
        """The steps the run's config schedules a checkpoint for (sorted); for an extended run, each earlier
        length's schedule up to where it was extended (:func:`hidcap.run_config.extended_schedule`)."""
        extensions = load_config_extras(self.run_dir / "config.json").get(EXTENSIONS_KEY, [])
        return list(extended_schedule(self.config, extensions))

    @property
    def missing_steps(self) -> list[int]:
        """Scheduled steps up to the furthest step the run reached (its last checkpoint or last ``metrics.jsonl``
        row) that have no checkpoint file."""
        present = checkpoint_steps_in(self.run_dir)
        reached = max([*present[-1:], *self._last_logged_step()], default=-1)
        have = set(present)
        return [s for s in self.scheduled_steps if s <= reached and s not in have]

    def _last_logged_step(self) -> list[int]:
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file():
            return []
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        try:
            return [int(json.loads(lines[-1])["step"])] if lines else []
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: the last row has no integer 'step' ({exc})") from exc

    def __len__(self) -> int:
        return len(self.steps)

    def _resolve(self, step: int) -> int:
        # an int or numpy integer >= 0, or -1 for the last (ValueError otherwise)
        step = -1 if not isinstance(step, bool) and isinstance(step, (int, np.integer)) and step == -1 else as_step(step)
        steps = self.steps
        if step == -1:
            if not steps:
                raise FileNotFoundError(f"no checkpoints in {self.run_dir / CHECKPOINT_DIR}")
            return steps[-1]
        if step not in steps:
            raise FileNotFoundError(
                f"no checkpoint for step {step}: {checkpoint_path(self.run_dir, step)} does not exist; "
                f"available steps: {steps}"
            )
        return step

    def path(self, step: int = -1) -> Path:
        """File of checkpoint ``step`` (−1: the last)."""
        return checkpoint_path(self.run_dir, self._resolve(step))

    def state_dict(self, step: int = -1) -> dict[str, Tensor]:
        """Model tensors of checkpoint ``step`` (keys as ``model.state_dict()``), on ``self.device``."""
        return load_state_dict(self.path(step), self.device)

    def build_model(self) -> nn.Module:
        """A freshly initialised model of the run's architecture (no weights loaded)."""
        return build_model(self.config.model)

    def load(self, step: int = -1) -> nn.Module:
        """Model with the weights of checkpoint ``step`` (−1: the last), on ``self.device``, in eval mode."""
        model = self.build_model()
        path = self.path(step)
        state = load_state_dict(path, self.device)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"checkpoint {path} does not fit the run's model config: {exc}") from exc
        return model.to(self.device).eval()

    def diffusion(self, step: int = -1) -> nn.Module:
        """The run's diffusion object with the schedule state of checkpoint ``step`` (VDM's learned γ)."""
        diff = build_diffusion(self.config.diffusion)
        state = load_section(self.path(step), "diffusion", self.device)
        if state:
            diff.load_state_dict(state)
        return diff.to(self.device)

    def __iter__(self) -> Iterator[tuple[int, nn.Module]]:
        for step in self.steps:
            yield step, self.load(step)

    def metrics(self) -> list[dict[str, Any]]:
        """Rows of ``metrics.jsonl`` (one dict per logged step)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def __repr__(self) -> str:
        steps = self.steps
        return f"CheckpointSeries({str(self.run_dir)!r}, {len(steps)} checkpoints, last step {steps[-1] if steps else None})"
