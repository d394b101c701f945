"""Checkpoint series over training outputs that are not hidcap run directories.

- :class:`DiffusersSeries`: the output folder of a diffusers training script, ``OUTPUT/checkpoint-N/unet/`` (or
  ``unet_ema/``) as written by ``save_pretrained``; steps come from the ``checkpoint-N`` names.
- :class:`StateDictSeries`: a folder of plain state-dict files (``*.safetensors``; pickle files only when the user
  opts in) plus a function that builds the model.

Both satisfy :class:`hidcap.runs.SeriesLike` (``steps``, ``load(step)``, ``diffusion(step)``) and offer
``state_dict(step)`` for :func:`hidcap.patching.patch` (``series=``), ``path(step)``, iteration and ``metrics()``, as
:class:`hidcap.runs.CheckpointSeries` does. Loading is lazy: nothing is read before ``load`` / ``state_dict``.
diffusers is imported only when a diffusers model or scheduler is built (the ``hidcap[diffusers]`` extra).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.diffusers_sampling import DiffusersSampler

__all__ = ["DiffusersSeries", "StateDictSeries", "import_diffusers", "load_scheduler"]

_CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)")
_LAST_INT_RE = re.compile(r"(\d+)(?!.*\d)")
WEIGHTS = "diffusion_pytorch_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def import_diffusers() -> Any:
    """The ``diffusers`` module, or an ImportError that names the extra to install."""
    try:
        import diffusers
    except ImportError as exc:
        raise ImportError("this needs the diffusers package: pip install 'hidcap[diffusers]'") from exc
    return diffusers


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable JSON file: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def load_scheduler(folder: str | os.PathLike) -> Any:
    """The diffusers scheduler saved in ``folder`` (its ``scheduler_config.json``, ``_class_name`` picks the class),
    e.g. ``OUTPUT/scheduler`` of a diffusers pipeline."""
    path = Path(folder) / "scheduler_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no scheduler in {folder}: {path} is missing")
    config = _read_json(path)
    diffusers = import_diffusers()
    cls = getattr(diffusers, str(config.get("_class_name")), None)
    if not isinstance(cls, type):
        raise ValueError(f"{path}: _class_name {config.get('_class_name')!r} is not a diffusers scheduler")
    return cls.from_config(config)


def _load_safetensors(path: Path, device: torch.device) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable safetensors file (corrupt or truncated?): {exc}") from exc


def _load_pickle(path: Path, device: torch.device) -> dict[str, Tensor]:
    try:  # weights_only: tensors and plain containers only, even after the user opted in to pickle files
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for a bad pickle
        raise ValueError(f"{path} is not a readable state-dict file: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a plain state dict (name -> tensor)")
    return state


class _FolderSeries:
    """What both series share: step resolution, lazy loading, the sampler, iteration and metrics."""

    folder: Path

    def __init__(self, sampler: DiffusersSampler | Any | None, device: str | torch.device):
        if sampler is not None and not (callable(getattr(sampler, "sample", None)) or callable(sampler)):
            raise ValueError(f"sampler must have a .sample method (e.g. a DiffusersSampler), got {type(sampler).__name__}")
        self.sampler = sampler
        self.device = torch.device(device)

    # subclasses: _files() -> {step: path}, _state(path) -> state dict, build_model(step) -> nn.Module
    def _files(self) -> dict[int, Path]:
        raise NotImplementedError

    def _state(self, path: Path) -> dict[str, Tensor]:
        raise NotImplementedError

    def build_model(self, step: int = -1) -> nn.Module:
        raise NotImplementedError

    @property
    def steps(self) -> list[int]:
        """Sorted training steps of the checkpoints."""
        return sorted(self._files())

    def __len__(self) -> int:
        return len(self._files())

    def _resolve(self, step: int) -> int:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int (-1: the last), got {step!r}")
        steps = self.steps
        if int(step) == -1:
            if not steps:
                raise FileNotFoundError(f"no checkpoints in {self.folder}")
            return steps[-1]
        if int(step) not in steps:
            raise FileNotFoundError(f"no checkpoint for step {int(step)} in {self.folder}; available steps: {steps}")
        return int(step)

    def path(self, step: int = -1) -> Path:
        """The file or folder of checkpoint ``step`` (−1: the last)."""
        return self._files()[self._resolve(step)]

    def state_dict(self, step: int = -1) -> dict[str, Tensor]:
        """Model tensors of checkpoint ``step`` (keys as ``model.state_dict()``), on ``self.device``."""
        return self._state(self.path(step))

    def load(self, step: int = -1) -> nn.Module:
        """The model with the weights of checkpoint ``step`` (−1: the last), on ``self.device``, in eval mode."""
        path = self.path(step)
        state = self._state(path)
        model = self.build_model(self._resolve(step))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"checkpoint {path} does not fit the model: {exc}") from exc
        return model.to(self.device).eval()

    def diffusion(self, step: int = -1) -> Any:
        """The sampler given at construction (the same for every step: a diffusers scheduler has no learned state)."""
        self._resolve(step)
        if self.sampler is None:
            raise ValueError(f"{type(self).__name__} of {self.folder} has no sampler: pass sampler=DiffusersSampler("
                             "scheduler, conditioning=...) to sample or measure")
        return self.sampler.to(self.device) if hasattr(self.sampler, "to") else self.sampler

    def __iter__(self) -> Iterator[tuple[int, nn.Module]]:
        for step in self.steps:
            yield step, self.load(step)

    def metrics(self) -> list[dict[str, Any]]:
        """Rows of ``metrics.jsonl`` in the folder when the training script wrote one (one dict per logged step,
        with ``step`` and ``loss``), else ``[]``."""
        path = self.folder / "metrics.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def __repr__(self) -> str:
        steps = self.steps
        return f"{type(self).__name__}({str(self.folder)!r}, {len(steps)} checkpoints, last step {steps[-1] if steps else None})"


class DiffusersSeries(_FolderSeries):
    """The checkpoints of a diffusers training output: ``output_dir/checkpoint-N/<subfolder>/`` as written by
    ``save_pretrained`` (``config.json`` + ``diffusion_pytorch_model.safetensors``, or its sharded index).

    subfolder: ``"unet"`` or ``"unet_ema"`` (or any model folder name, e.g. ``"transformer"``). sampler: a
    :class:`~hidcap.diffusers_sampling.DiffusersSampler` returned by ``diffusion(step)`` (needed to sample and
    measure; ``load`` and ``state_dict`` work without it). allow_pickle: read ``diffusion_pytorch_model.bin`` when no
    safetensors file is there (off: refused, since unpickling can run code).

    A missing ``output_dir``, an output with no ``checkpoint-N`` folder, or a ``checkpoint-N`` without
    ``<subfolder>/config.json`` raises ``FileNotFoundError`` naming the folder; an unreadable config or weights file
    raises ``ValueError`` naming the file (on ``load`` / ``state_dict``).
    """

    def __init__(self, output_dir: str | os.PathLike, *, subfolder: str = "unet", sampler: Any = None,
                 device: str | torch.device = "cpu", allow_pickle: bool = False):
        super().__init__(sampler, device)
        self.folder = Path(output_dir)
        if not subfolder or Path(subfolder).name != subfolder:
            raise ValueError(f"subfolder must be a folder name such as 'unet' or 'unet_ema', got {subfolder!r}")
        self.subfolder = subfolder
        self.allow_pickle = bool(allow_pickle)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder} is not a folder (a diffusers training output with checkpoint-N/)")
        files = self._files()
        if not files:
            raise FileNotFoundError(f"no checkpoint-N/{subfolder} folders in {self.folder}")
        lacking = [str(p) for p in files.values() if not (p / "config.json").is_file()]
        if lacking:
            raise FileNotFoundError(f"{len(lacking)} checkpoint folder(s) lack a model config.json: {lacking}")

    def _files(self) -> dict[int, Path]:
        return {int(m.group(1)): p / self.subfolder for p in self.folder.iterdir()
                if p.is_dir() and (m := _CHECKPOINT_RE.fullmatch(p.name))}

    def config(self, step: int = -1) -> dict[str, Any]:
        """The model config (``config.json``) of checkpoint ``step``."""
        path = self.path(step) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
        return _read_json(path)

    def build_model(self, step: int = -1) -> nn.Module:
        """A freshly initialised model of checkpoint ``step``'s class and config (no weights loaded)."""
        config = self.config(step)
        name = config.get("_class_name")
        cls = getattr(import_diffusers(), str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise ValueError(f"{self.path(step) / 'config.json'}: _class_name {name!r} is not a diffusers model class")
        return cls.from_config(config)

    def _state(self, folder: Path) -> dict[str, Tensor]:
        single, index, pickled = folder / WEIGHTS, folder / (WEIGHTS + ".index.json"), folder / "diffusion_pytorch_model.bin"
        if single.is_file():
            return _load_safetensors(single, self.device)
        if index.is_file():
            shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
            if not shards:
                raise ValueError(f"{index} has no weight_map")
            state: dict[str, Tensor] = {}
            for shard in shards:
                state.update(_load_safetensors(folder / shard, self.device))
            return state
        if pickled.is_file():
            if not self.allow_pickle:
                raise ValueError(f"{pickled} is a pickle file, refused (unpickling can run code); pass "
                                 "allow_pickle=True if you trust it")
            return _load_pickle(pickled, self.device)
        raise FileNotFoundError(f"no weights in {folder}: expected {WEIGHTS}")


class StateDictSeries(_FolderSeries):
    """A folder of plain state-dict files, one per checkpoint: the step is the last integer of each file name
    (``step_500.safetensors``, ``model-001000.safetensors``).

    build_model: ``build_model() -> nn.Module`` makes a fresh model the state dicts fit. Files: ``*.safetensors``;
    pickle files (``.bin``, ``.pt``, ``.pth``, ``.ckpt``, ``.pkl``) raise ``ValueError`` unless ``allow_pickle=True``
    (then read with ``torch.load(weights_only=True)``). A missing folder or one with no checkpoint file raises
    ``FileNotFoundError``; a checkpoint file without a step number, or two files of one step, ``ValueError``.
    sampler and device: as :class:`DiffusersSeries`.
    """

    def __init__(self, folder: str | os.PathLike, build_model: Callable[[], nn.Module], *, sampler: Any = None,
                 device: str | torch.device = "cpu", allow_pickle: bool = False):
        super().__init__(sampler, device)
        if not callable(build_model):
            raise ValueError(f"build_model must be callable, got {type(build_model).__name__}")
        self.folder = Path(folder)
        self._build = build_model
        self.allow_pickle = bool(allow_pickle)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder} is not a folder of state-dict files")
        pickles = sorted(p.name for p in self.folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles and not self.allow_pickle:
            raise ValueError(f"{self.folder} holds pickle files {pickles}, refused (unpickling can run code); pass "
                             "allow_pickle=True if you trust them")
        if not self._files():
            raise FileNotFoundError(f"no *.safetensors checkpoint files in {self.folder}")

    def _files(self) -> dict[int, Path]:
        suffixes = (".safetensors", *(PICKLE_SUFFIXES if self.allow_pickle else ()))
        files: dict[int, Path] = {}
        for p in sorted(self.folder.iterdir()):
            if not (p.is_file() and p.suffix in suffixes):
                continue
            m = _LAST_INT_RE.search(p.stem)
            if m is None:
                raise ValueError(f"{p} has no step number in its name (e.g. step_500{p.suffix})")
            step = int(m.group(1))
            if step in files:
                raise ValueError(f"two checkpoint files for step {step} in {self.folder}: {files[step].name}, {p.name}")
            files[step] = p
        return files

    def build_model(self, step: int = -1) -> nn.Module:
        """A fresh model from ``build_model()`` (the same architecture for every step)."""
        model = self._build()
        if not isinstance(model, nn.Module):
            raise ValueError(f"build_model() must return an nn.Module, got {type(model).__name__}")
        return model

    def _state(self, path: Path) -> dict[str, Tensor]:
        if path.suffix == ".safetensors":
            return _load_safetensors(path, self.device)
        return _load_pickle(path, self.device)
