"""The checkpoint file format: safetensors + JSON only (nothing is ever unpickled). Imports nothing of hidcap.

A training run directory holds ``config.json``, ``metrics.jsonl`` and ``checkpoints/step_XXXXXXX.safetensors``
(:class:`hidcap.runs.CheckpointSeries` reads a whole run). A checkpoint file stores the model's
``state_dict()`` under its own names plus extra sections whose keys contain ``"::"``
(``diffusion::gamma_min`` …); :func:`load_state_dict` returns the model part only. ``checkpoints/resume.safetensors``
(:func:`save_training_state` / :func:`load_training_state`) additionally holds the optimizer and RNG state of the
newest checkpoint so a run can resume bit-identically.
"""
from __future__ import annotations

import json
import os
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CHECKPOINT_DIR",
    "RESUME_FILE",
    "TrainingState",
    "checkpoint_path",
    "checkpoint_steps_in",
    "load_section",
    "load_state_dict",
    "load_training_state",
    "read_checkpoint",
    "save_checkpoint",
    "save_training_state",
]

CHECKPOINT_DIR = "checkpoints"
RESUME_FILE = "resume.safetensors"
FORMAT = "hidcap-checkpoint-1"
SEP = "::"
CHECKSUM_KEY = "crc32"
_STEP_RE = re.compile(r"^step_(\d{7,})\.safetensors$")


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """``run_dir/checkpoints/step_XXXXXXX.safetensors`` (step zero-padded to 7 digits)."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{as_step(step):07d}.safetensors"


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
    step = as_step(step)
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


def as_step(step: Any) -> int:
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


def checkpoint_steps_in(run_dir: str | os.PathLike) -> list[int]:
    """Sorted steps of the ``step_XXXXXXX.safetensors`` files in ``run_dir/checkpoints`` (``[]`` if none)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _STEP_RE.match(p.name)))


# ------------------------------------------------------------------------------------------ training state
@dataclass
class TrainingState:
    """Everything a run needs to resume: the model, diffusion and optimizer ``state_dict()``s, the RNG states
    (``{"torch": ..., "generator": ..., "cuda": ...}``, uint8 tensors), the step and the last logged loss."""

    step: int
    model: dict[str, Tensor]
    diffusion: dict[str, Tensor]
    optimizer: dict[str, Any]
    rng: dict[str, Tensor]
    loss: float | None = None


def save_training_state(path: str | os.PathLike, state: TrainingState) -> Path:
    """Write ``state`` as one checkpoint file (model tensors, sections ``diffusion``, ``optim``, ``rng``).

    The optimizer's per-parameter tensors go to section ``optim`` as ``"{param index}::{name}"``; its
    non-tensor per-parameter values (e.g. a float ``step``) and ``param_groups`` go to the JSON metadata.
    """
    optim_tensors, optim_plain = {}, {}
    for idx, st in state.optimizer["state"].items():
        for key, value in st.items():
            (optim_tensors if isinstance(value, Tensor) else optim_plain)[f"{idx}{SEP}{key}"] = value
    meta = {"param_groups": state.optimizer["param_groups"], "optim_plain": optim_plain, "loss": state.loss}
    return save_checkpoint(path, state.model, step=state.step,
                           sections={"diffusion": state.diffusion, "optim": optim_tensors, "rng": state.rng},
                           metadata=meta)


def load_training_state(path: str | os.PathLike, device: str | torch.device = "cpu") -> TrainingState:
    """Read a file written by :func:`save_training_state` (``optimizer`` fits ``Optimizer.load_state_dict``)."""
    tensors, meta = read_checkpoint(path, device)
    sections: dict[str, dict[str, Tensor]] = {"": {}, "diffusion": {}, "optim": {}, "rng": {}}
    for key, value in tensors.items():
        section, name = key.split(SEP, 1) if SEP in key else ("", key)
        sections.setdefault(section, {})[name] = value
    if "param_groups" not in meta:
        raise ValueError(f"{path} is a checkpoint but holds no training state (no optimizer param_groups)")
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in [*sections["optim"].items(), *meta.get("optim_plain", {}).items()]:
        idx, name = key.split(SEP)
        per_param.setdefault(int(idx), {})[name] = value
    return TrainingState(step=int(meta["step"]), model=sections[""], diffusion=sections["diffusion"],
                         optimizer={"state": per_param, "param_groups": meta["param_groups"]},
                         rng=sections["rng"], loss=meta.get("loss"))
