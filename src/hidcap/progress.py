"""One progress-bar policy for all long work: a tqdm bar on a TTY, silent otherwise."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, *, progress: bool | None = None, **kwargs: Any) -> tqdm:
    """Wrap ``iterable`` in a tqdm bar.

    ``progress=None`` (default) shows the bar only when stderr is a TTY; ``True``/``False`` force it.
    Extra keyword arguments go to ``tqdm`` (``total``, ``desc``, ``leave`` ...).
    """
    if progress is None:
        progress = sys.stderr.isatty()
    return tqdm(iterable, disable=not progress, dynamic_ncols=True, **kwargs)
