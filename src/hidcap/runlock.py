"""One trainer per run directory: an exclusive OS file lock on ``run_dir/train.lock``.

The lock is ``flock(2)`` on an open file, so the operating system drops it when the holding process exits
for any reason (also ``kill -9``): a dead trainer's lock never blocks a resume. The lock file holds the
holder's pid and host name, for the error message only; it is never deleted (deleting a lock file lets
two processes lock two different files of the same name). Locks work across processes on one machine and,
on Linux, on NFS v4 shares; a file system without lock support makes :func:`run_lock` raise ``OSError``.

Two trainers writing one run directory lose data without any error (one deletes the other's
``metrics.jsonl``, or appends duplicated rows, or leaves a ``config.json`` that does not describe the
checkpoints); :func:`hidcap.training.train` therefore holds this lock for its whole run.
"""
from __future__ import annotations

import fcntl
import functools
import inspect
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["LOCK_FILE", "RunLockedError", "locks_run_dir", "run_lock"]

LOCK_FILE = "train.lock"
F = TypeVar("F", bound=Callable[..., Any])


class RunLockedError(RuntimeError):
    """Another live process holds the run directory's lock (``run_dir`` and ``pid`` name them)."""

    def __init__(self, run_dir: Path, pid: int | None, host: str | None):
        self.run_dir, self.pid, self.host = run_dir, pid, host
        holder = f"process {pid}" if pid is not None else "another process"
        if host and host != socket.gethostname():
            holder += f" on host {host}"
        super().__init__(
            f"run directory {run_dir} is in use: {holder} is training into it ({run_dir / LOCK_FILE}); "
            "wait for it to finish or use another run directory"
        )


def _read_holder(fd: int) -> tuple[int | None, str | None]:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 256).decode(errors="replace").split()
    pid = int(text[0]) if text and text[0].isdigit() else None
    return pid, (text[1] if len(text) > 1 else None)


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of ``run_dir`` (created if missing) for the ``with`` body; yields the lock
    file. Raises :class:`RunLockedError` at once (no waiting) when another process holds it. Not
    re-entrant: a second ``run_lock`` on the same directory in the same process is refused too."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's pid stays readable
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(run_dir, *_read_holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # still locked: nobody reads a stale pid
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def locks_run_dir(fn: F) -> F:
    """Decorator: run ``fn`` (which takes a ``run_dir`` argument) while holding :func:`run_lock` on it."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run_dir = signature.bind(*args, **kwargs).arguments["run_dir"]
        with run_lock(run_dir):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
