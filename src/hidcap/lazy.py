"""Lazy re-exports for package ``__init__`` modules (PEP 562), so importing a package stays cheap."""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` (a module
    path) on first access of ``name`` and cache the value in the package's namespace.

    Use as ``__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)``.

    No export may share its name with a submodule of ``package`` (importing that submodule would bind the
    module over the export); ``tests/test_public_api.py`` checks this.
    """
    def __getattr__(name: str) -> Any:
        try:
            module = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__

