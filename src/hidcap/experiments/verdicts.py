"""Verdicts: combining part verdicts (three-valued: True, False, None = undetermined), the verdict's label
(``"smoke"`` at ``--tiny``), writing readable JSON and printing a verdict for people."""
from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["VERDICTS", "combine_verdicts", "device_name", "plain", "print_verdict", "verdict_label", "write_json"]

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


def verdict_label(passed: bool | None, *, smoke: bool = False) -> str:
    """``"pass"`` / ``"fail"`` / ``"undetermined"``, or ``"smoke"`` for a ``--tiny`` run whatever the criterion
    gave (its numbers only exercise the code paths). ``passed`` must be True, False or None."""
    if passed is not True and passed is not False and passed is not None:
        raise ValueError(f"passed must be True, False or None, got {passed!r}")
    return "smoke" if smoke else VERDICTS[passed]


def write_json(path: Path, record: Any, *, indent: int | None = 2) -> Path:
    """Write ``record`` (made JSON-able by :func:`plain`) as UTF-8 JSON with readable non-ASCII (Greek letters
    stay letters, ``ensure_ascii=False``); NaN is refused (``ValueError``)."""
    path = Path(path)
    text = json.dumps(plain(record), indent=indent, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def print_verdict(record: dict[str, Any], path: Path | None = None) -> None:
    """Print a verdict record for people: the verdict in capitals, the claim, the numbered criterion, the
    one-line summary; a smoke run says that it neither passes nor fails."""
    head = (f"\n[{record['verdict'].upper()}] {record['probe']} ({record['scale']}, seeds {list(record['seeds'])}, "
            f"{record.get('wall_s') or 0:.0f} s): {record['claim']}")
    print(head)
    if record["verdict"] == "smoke":
        print(f"  SMOKE RUN (--tiny): it only exercises the code paths; its numbers mean nothing, so it neither "
              f"passes nor fails (the criterion on these numbers gives '{record['outcome']}').")
    print("  criterion:")
    for part in record["criterion"]:
        print(f"    {part}")
    if record.get("summary"):
        print(f"  measured: {record['summary']}")
    if path is not None:
        print(f"  -> {path}")
