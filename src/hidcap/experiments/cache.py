"""One cache for "compute once, reuse while the inputs are the same": :func:`cached`."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hidcap.experiments.verdicts import plain

__all__ = ["cached"]

T = TypeVar("T")


def cached(folder: str | Path, key: Any, compute: Callable[[], T], save: Callable[[T, Path], Any],
           load: Callable[[Path], T], *, name: str = "cache_key.json") -> T:
    """``load(folder)`` when ``folder/name`` holds ``key``; otherwise ``value = compute()``, ``save(value, folder)``,
    write the key, and return ``value``.

    key: everything the value depends on, JSON-able after :func:`~hidcap.experiments.verdicts.plain` (numpy
    numbers, tuples and paths are converted; compare like with like: ``(1, 2)`` and ``[1, 2]`` are equal).
    The key file is removed before ``save`` and written after it, so a save cut short is never trusted.
    ``name``: the key file's name, so one folder can hold several caches. A key file whose value cannot be
    loaded (``FileNotFoundError`` from ``load``) counts as a miss.
    """
    folder = Path(folder)
    key_file = folder / name
    want = json.loads(json.dumps(plain(key), sort_keys=True))
    if key_file.is_file():
        try:
            have = json.loads(key_file.read_text())
        except json.JSONDecodeError:
            have = None
        if have == want:
            try:
                return load(folder)
            except FileNotFoundError:
                pass
    value = compute()
    folder.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)
    save(value, folder)
    key_file.write_text(json.dumps(want, sort_keys=True) + "\n")
    return value
