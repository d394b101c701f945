"""Lazy re-exports for package ``__init__`` modules (PEP 562), so importing a package stays cheap."""
from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` (a module
    path) on first access of ``name`` and cache the value in the package's namespace.

    Use as ``__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)``.

    Some exports share their name with the submodule defining them (``hidcap.evaluation.concept_space`` is
    both). Importing such a submodule makes Python bind the *module* to that name on the package, which would
    shadow the export; the package's module class is swapped for one that binds the export instead.
    """
    _protect_exports(package, exports)

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


def _protect_exports(package: str, exports: Mapping[str, str]) -> None:
    """Make ``package`` keep ``exports[name]``'s value when the import system binds submodule ``name`` to it."""
    names = {name for name, module in exports.items() if module == f"{package}.{name}"}
    if not names:
        return

    class _Package(types.ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            if name in names and isinstance(value, types.ModuleType) and hasattr(value, name):
                value = getattr(value, name)  # the function, not the submodule of the same name
            super().__setattr__(name, value)

    sys.modules[package].__class__ = _Package
