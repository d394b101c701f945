"""Record, edit and replace module outputs with forward hooks (:class:`Tracer`), resolve module names
(:func:`resolve_modules`), and keep recordings on disk (:func:`load`, :class:`Recording`).

- ``names.py``: name resolution (per call, no cache), :class:`TraceError`;
- ``options.py``: :class:`TracerOptions`, the Tracer's keyword flags validated in one place;
- ``sites.py``: the modules a Tracer hooks and what its hook does to an output;
- ``tracer.py``: the :class:`Tracer` context manager;
- ``disk.py``: the recording format (safetensors shards + ``index.json``), streaming writer, lazy reader.

See ``docs/tracing.md``.
"""
from hidcap.tracing.disk import Recording, load
from hidcap.tracing.names import TraceError, resolve_modules
from hidcap.tracing.options import TracerOptions
from hidcap.tracing.tracer import Tracer

__all__ = ["Tracer", "TracerOptions", "TraceError", "Recording", "load", "resolve_modules"]
