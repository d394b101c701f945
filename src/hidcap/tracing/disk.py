"""Recordings on disk: a streaming writer (``Tracer(..., to=PATH)``, ``Tracer.save``) and a lazy reader
(:func:`load` -> :class:`Recording`).

Format: a directory holding ``shard_NNNNN.safetensors`` files and ``index.json``. A record of module
``name`` at call ``i`` is the tensor ``"{name}@{i}"`` (a tuple record: ``"{name}@{i}#{leaf}"``). Records
are buffered in memory and a shard is written whenever the buffer reaches ``shard_mb``, so memory is
bounded by one shard whatever the length of the recording. ``index.json`` lists, per module, the kept
call indices, the shard of each and its number of tensor leaves (0 for a plain tensor); it is written
last, so a directory without it is an unfinished recording.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from hidcap.tracing.names import TraceError, _closest, _stack

__all__ = ["Recording", "RecordWriter", "load"]

FORMAT = "hidcap-recording/1"


def _own(t: Tensor) -> Tensor:
    """A contiguous CPU tensor owning its storage (safetensors refuses views sharing storage)."""
    t = t.detach().to("cpu").contiguous()
    if t.untyped_storage().nbytes() != t.numel() * t.element_size() or t.storage_offset():
        t = t.clone()
    return t


class RecordWriter:
    """Streams ``(name, call_index, record)`` triples to a recording directory in safetensors shards."""

    def __init__(self, path: str | os.PathLike, shard_mb: float = 64.0):
        if not shard_mb > 0:
            raise ValueError(f"shard_mb must be > 0, got {shard_mb!r}")
        self.path = Path(path)
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise FileExistsError(f"recording path {str(self.path)!r} exists and is not an empty directory")
        self.path.mkdir(parents=True, exist_ok=True)
        self.limit = int(shard_mb * 2**20)
        self.buffer: dict[str, Tensor] = {}
        self.nbytes = 0
        self.shard = 0
        self.entries: dict[str, list[list[int]]] = {}
        self.closed = False

    def add(self, name: str, index: int, record: Any) -> None:
        if self.closed:
            raise RuntimeError(f"the recording at {str(self.path)!r} is closed")
        if isinstance(record, Tensor):
            items = {f"{name}@{index}": _own(record)}
            leaves = 0
        else:
            items = {f"{name}@{index}#{j}": _own(t) for j, t in enumerate(record)}
            leaves = len(items)
        self.buffer.update(items)
        self.nbytes += sum(t.numel() * t.element_size() for t in items.values())
        self.entries.setdefault(name, []).append([index, self.shard, leaves])
        if self.nbytes >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            save_file(self.buffer, str(self.path / f"shard_{self.shard:05d}.safetensors"))
            self.buffer, self.nbytes = {}, 0
            self.shard += 1

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        index = {"format": FORMAT, "modules": self.entries}
        tmp = self.path / "index.json.tmp"
        tmp.write_text(json.dumps(index))
        tmp.replace(self.path / "index.json")
        self.closed = True


class Recording:
    """A recording on disk, read lazily: only the tensors asked for are read.

    Same reading API as a :class:`Tracer`: ``rec[name]`` (last kept call), ``rec.records(name)``,
    ``rec.stack(name)`` ``(n_calls, *shape)``, ``rec.call_indices(name)``, ``rec.names``, plus
    ``rec.get(name, call_index)`` and ``rec.iter(name)`` (yields ``(call_index, record)`` one at a time,
    for recordings larger than memory).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        index_file = self.path / "index.json"
        if not index_file.is_file():
            raise FileNotFoundError(
                f"{str(self.path)!r} is not a finished recording (no index.json); was the Tracer's with block exited?"
            )
        index = json.loads(index_file.read_text())
        if index.get("format") != FORMAT:
            raise ValueError(f"{str(index_file)!r}: unknown recording format {index.get('format')!r}")
        self._entries = {n: {int(i): (int(s), int(k)) for i, s, k in e} for n, e in index["modules"].items()}
        self._files: dict[int, Any] = {}

    @property
    def names(self) -> list[str]:
        """Names of the recorded modules."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def _entry(self, name: str) -> dict[int, tuple[int, int]]:
        e = self._entries.get(name)
        if e is None:
            raise TraceError(
                f"module {name!r} is not in the recording {str(self.path)!r}; recorded: {self.names}; "
                f"closest: {_closest(str(name), self.names)}"
            )
        if not e:
            raise TraceError(f"module {name!r} has no kept calls in the recording {str(self.path)!r}")
        return e

    def call_indices(self, name: str) -> list[int]:
        """The kept call indices of ``name``, ascending."""
        return sorted(self._entry(name))

    def _file(self, shard: int) -> Any:
        f = self._files.get(shard)
        if f is None:
            f = self._files[shard] = safe_open(str(self.path / f"shard_{shard:05d}.safetensors"), "pt")
        return f

    def get(self, name: str, call_index: int) -> Any:
        """The record of ``name`` at ``call_index`` (a tensor, or a tuple of tensor leaves)."""
        e = self._entry(name)
        if call_index not in e:
            raise TraceError(f"call {call_index} of module {name!r} was not kept; kept: {sorted(e)[:20]}")
        shard, leaves = e[call_index]
        f = self._file(shard)
        if leaves == 0:
            return f.get_tensor(f"{name}@{call_index}")
        return tuple(f.get_tensor(f"{name}@{call_index}#{j}") for j in range(leaves))

    def iter(self, name: str) -> Iterator[tuple[int, Any]]:
        """Yield ``(call_index, record)`` in call order, reading one record at a time."""
        for i in self.call_indices(name):
            yield i, self.get(name, i)

    def records(self, name: str) -> list[Any]:
        """Every kept record of ``name``, in call order (reads them all)."""
        return [r for _, r in self.iter(name)]

    def __getitem__(self, name: str) -> Any:
        """The record of the last kept call of ``name``."""
        return self.get(name, self.call_indices(name)[-1])

    def stack(self, name: str) -> Any:
        """Every kept record of ``name`` stacked on a new leading dim: ``(n_calls, *shape)``."""
        return _stack(name, self.records(name))

    def __repr__(self) -> str:
        return f"Recording({str(self.path)!r}, names={self.names})"


def load(path: str | os.PathLike) -> Recording:
    """Open a recording written by ``Tracer(..., to=path)`` or ``Tracer.save(path)`` (lazy)."""
    return Recording(path)

