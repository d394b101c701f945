"""Verdicts: combining part verdicts (three-valued: True, False, None = undetermined) and writing ``verdict.json``."""
from __future__ import annotations

import json
import os
import platform
import shlex
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from hidcap.experiments.probe_args import ProbeArgs

__all__ = ["VERDICTS", "combine_verdicts", "device_name", "plain", "write_verdict"]

VERDICTS = {True: "pass", False: "fail", None: "undetermined"}


def combine_verdicts(verdicts: Iterable[bool | None], *, skip_undetermined: bool = False) -> bool | None:
    """Three-valued AND of part (or seed) verdicts.

    Default: any ``False`` -> ``False``; else any ``None`` -> ``None``; else ``True``.
    ``skip_undetermined=True``: ``None`` entries are left out (a part that cannot decide does not block the
    others) and the result is ``None`` only when every entry is ``None``.
    Empty input -> ``ValueError`` (there is nothing to judge; never a silent pass). An entry that is not
    True, False or None (e.g. ``0``, ``"yes"``, ``np.bool_``) -> ``ValueError``.
    """
    values = list(verdicts)
    if not values:
        raise ValueError("no verdicts to combine")
    bad = [v for v in values if v is not True and v is not False and v is not None]
    if bad:
        raise ValueError(f"verdicts must be True, False or None, got {bad!r}")
    if skip_undetermined:
        values = [v for v in values if v is not None]
        if not values:
            return None
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def plain(value: Any) -> Any:
    """JSON-able copy: numpy scalars/arrays and tensors become numbers/lists, tuples lists, NaN/inf None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def device_name(device: str) -> str:
    """Human-readable name of ``device`` (GPU model, or the CPU with its core count)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def write_verdict(
    args: "ProbeArgs",
    *,
    claim: str,
    paper: str,
    criterion: str,
    passed: bool | None,
    measured: dict[str, Any],
    figures: Sequence[str | Path] = (),
    notes: str = "",
) -> dict[str, Any]:
    """Write ``verdict.json`` into ``args.out``, print a one-line summary and return the record.

    passed: ``True``/``False`` against ``criterion``, or ``None`` when the measurements cannot decide it
    (e.g. behaviour never reached the threshold in any seed). Figures must exist (``FileNotFoundError``).
    """
    if passed not in (True, False, None):
        raise ValueError(f"passed must be True, False or None, got {passed!r}")
    names = []
    for f in figures:
        path = Path(f)
        if not path.is_absolute() and not path.is_relative_to(args.out):
            path = args.out / path  # a name relative to the output folder
        if not path.is_file():
            raise FileNotFoundError(f"figure {path} was not written")
        names.append(str(path.relative_to(args.out)) if path.is_relative_to(args.out) else str(path))
    record = {
        "probe": args.name,
        "claim": claim,
        "paper": paper,
        "criterion": criterion,
        "passed": passed,
        "verdict": VERDICTS[passed],
        "measured": plain(measured),
        "figures": names,
        "notes": notes,
        "scale": args.scale,
        "seeds": list(args.seeds),
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "command": shlex.join(["python", "-m", f"probes.{args.name}", *args.argv]),
        "wall_s": round(time.perf_counter() - args.started, 1),
    }
    (args.out / "verdict.json").write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    print(f"\n[{record['verdict'].upper()}] {args.name} ({args.scale}, seeds {list(args.seeds)}, "
          f"{record['wall_s']:.0f} s): {claim}\n  criterion: {criterion}\n  -> {args.out / 'verdict.json'}")
    return record
