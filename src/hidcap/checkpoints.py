"""Checkpoint files and series: safetensors + JSON only (nothing is ever unpickled).

A training run directory holds ``config.json`` (the :class:`~hidcap.training.TrainConfig`),
``metrics.jsonl`` and ``checkpoints/step_XXXXXXX.safetensors``. A checkpoint file stores the model's
``state_dict()`` under its own names plus extra sections whose keys contain ``"::"``
(``diffusion::gamma_min`` …); :func:`load_state_dict` returns the model part only. ``checkpoints/resume.safetensors``
additionally holds the optimizer and RNG state of the newest checkpoint so a run can resume bit-identically.
"""
from __future__ import annotations

import json
import os
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "CHECKPOINT_DIR",
    "CheckpointSeries",
    "checkpoint_path",
    "load_section",
    "load_state_dict",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_DIR = "checkpoints"
RESUME_FILE = "resume.safetensors"
FORMAT = "hidcap-checkpoint-1"
SEP = "::"
CHECKSUM_KEY = "crc32"
_STEP_RE = re.compile(r"^step_(\d{7,})\.safetensors$")


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """``run_dir/checkpoints/step_XXXXXXX.safetensors`` (step zero-padded to 7 digits)."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{_as_step(step):07d}.safetensors"


def _digest(t: Tensor) -> str:
    """CRC-32 (8 hex digits) of a CPU tensor's raw bytes (dtype-agnostic, no copy for contiguous tensors).

    CRC-32 catches accidental corruption (flipped bits, torn or overwritten blocks), not deliberate
    tampering; it is used for its speed (see docs/performance.md)."""
    flat = t.detach().reshape(-1)
    if not flat.is_contiguous() or flat.device.type != "cpu":
        flat = flat.to("cpu").contiguous()
    return f"{zlib.crc32(flat.view(torch.uint8).numpy()):08x}"


def _canonicalise_header(path: Path) -> None:
    """Re-write a safetensors file's header JSON in place with sorted keys.

    safetensors keeps ``__metadata__`` in a hash map, so its key order (and hence the file bytes) changes
    between processes. Its writer emits compact JSON padded with spaces to a multiple of 8 bytes; the same
    JSON with sorted keys has the same length, so only the header bytes change and the tensor offsets
    (relative to the end of the header) stay valid.
    """
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw = f.read(n)
        text = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > n:  # cannot happen for safetensors' compact writer; refuse rather than corrupt
            raise ValueError(f"cannot canonicalise the header of {path}: {len(text)} > {n} bytes")
        f.seek(8)
        f.write(text + b" " * (n - len(text)))


def save_checkpoint(
    path: str | os.PathLike,
    model_state: Mapping[str, Tensor],
    *,
    step: int,
    sections: Mapping[str, Mapping[str, Tensor]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, then ``os.replace``).

    model_state: a model's ``state_dict()`` (names must not contain ``"::"``). sections: extra named tensor
    groups stored as ``"{section}::{name}"`` (e.g. ``{"diffusion": diffusion.state_dict()}``). metadata:
    JSON-able values stored in the safetensors header. Tensors are saved from CPU copies, each with its
    CRC-32 in the header (``"crc32"``), which :func:`read_checkpoint` verifies. The same tensors, step and
    metadata always give the same file bytes. Returns ``path``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    step = _as_step(step)
    tensors: dict[str, Tensor] = {}
    for name, t in model_state.items():
        if SEP in name:
            raise ValueError(f"model_state key {name!r} must not contain {SEP!r}")
        tensors[name] = t
    for section, state in (sections or {}).items():
        if SEP in section or not section:
            raise ValueError(f"section name {section!r} must be non-empty and not contain {SEP!r}")
        for name, t in state.items():
            tensors[f"{section}{SEP}{name}"] = t
    bad = [k for k, t in tensors.items() if not isinstance(t, Tensor)]
    if bad:
        raise ValueError(f"checkpoint values must be tensors; not tensors: {bad}")
    tensors = {k: t.detach().to("cpu").contiguous().clone() for k, t in tensors.items()}
    digests = {k: _digest(t) for k, t in tensors.items()}
    header = {"format": FORMAT, "step": str(step), "meta": json.dumps(dict(metadata or {}), sort_keys=True),
              CHECKSUM_KEY: json.dumps(digests, sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=header)
        _canonicalise_header(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", *, verify: bool = True
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Every tensor of a checkpoint file and its metadata ``{"step": int, **meta}``.

    Missing file -> ``FileNotFoundError``; unreadable/corrupted file -> ``ValueError``; both name the file.
    verify: check every tensor against the CRC-32 stored by :func:`save_checkpoint` (a mismatch raises
    ``ValueError`` naming the file and the tensor). Files written before checksums existed have none and
    load unverified.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    try:
        tensors: dict[str, Tensor] = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except Exception as exc:  # safetensors raises its own error types for truncated/garbled files
        raise ValueError(f"checkpoint file {path} is corrupted or not a safetensors file: {exc}") from exc
    if header.get("format") != FORMAT:
        raise ValueError(f"checkpoint file {path} is not a hidcap checkpoint (format {header.get('format')!r})")
    try:
        meta = json.loads(header.get("meta", "{}"))
        digests = json.loads(header[CHECKSUM_KEY]) if CHECKSUM_KEY in header else None
        meta["step"] = int(header["step"])
    except (ValueError, KeyError) as exc:
        raise ValueError(f"checkpoint file {path} has a corrupted header: {exc}") from exc
    if verify and digests is not None:
        if set(digests) != set(tensors):
            raise ValueError(
                f"checkpoint file {path} is corrupted: its tensors {sorted(set(tensors) ^ set(digests))} "
                "do not match the stored checksums"
            )
        for key, t in tensors.items():
            if _digest(t) != digests[key]:
                raise ValueError(f"checkpoint file {path} is corrupted: tensor {key!r} fails its CRC-32 checksum")
    if torch.device(device).type != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors, meta


def _as_step(step: Any) -> int:
    """``step`` as a Python int (numpy integers accepted); bools, floats and negatives -> ValueError."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise ValueError(f"step must be an int, got {step!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return int(step)


def load_state_dict(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The model ``state_dict`` stored in a checkpoint file (safetensors; extra sections left out)."""
    tensors, _ = read_checkpoint(path, device)
    return {k: v for k, v in tensors.items() if SEP not in k}


def load_section(path: str | os.PathLike, section: str, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The tensors of one extra section (e.g. ``"diffusion"``) of a checkpoint file, keys without the prefix."""
    tensors, _ = read_checkpoint(path, device)
    prefix = section + SEP
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


class CheckpointSeries:
    """The checkpoints of one training run, in step order.

    ``series.steps`` sorted ints; ``series.load(step)`` a fresh :class:`~hidcap.models.UNet` in eval mode
    (``step=-1``: the last); ``for step, model in series``; ``series.path(step)``; ``series.state_dict(step)``;
    ``series.diffusion(step)`` the diffusion object with its (learned) schedule; ``series.config`` the
    :class:`~hidcap.training.TrainConfig`; ``series.metrics()`` the rows of ``metrics.jsonl``.
    """

    def __init__(self, run_dir: str | os.PathLike, device: str | torch.device = "cpu"):
        self.run_dir = Path(run_dir)
        self.device = torch.device(device)
        if not (self.run_dir / "config.json").is_file():
            raise FileNotFoundError(f"{self.run_dir} is not a training run: {self.run_dir / 'config.json'} is missing")
        self._config = None

    @property
    def config(self) -> Any:
        """The run's :class:`~hidcap.training.TrainConfig` (read from ``config.json``)."""
        if self._config is None:
            from hidcap.config_io import load_config
            from hidcap.training import TrainConfig

            self._config = load_config(TrainConfig, self.run_dir / "config.json")
        return self._config

    @property
    def steps(self) -> list[int]:
        folder = self.run_dir / CHECKPOINT_DIR
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _STEP_RE.match(p.name)))

    def __len__(self) -> int:
        return len(self.steps)

    def _resolve(self, step: int) -> int:
        if isinstance(step, bool) or not isinstance(step, int):
            raise ValueError(f"step must be an int, got {step!r}")
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
        from hidcap.models import build_model

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
        from hidcap.diffusion import build_diffusion

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
