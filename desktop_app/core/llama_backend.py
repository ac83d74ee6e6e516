"""The one place that imports llama_cpp.

Importing llama_cpp loads the native library, so it is done lazily (start-up time, and core
modules stay importable without it). OpenMP keeps its default wait policy (a short spin, then
sleep), as llama-bench runs: PASSIVE made two generation threads 30-50% slower than one on an
idle machine. The collapse that spinning threads suffer beside another busy process is avoided
by the engine's thread tuner moving to one core fewer (engine/thread_tuner.py).

llama.cpp's own log is routed into Python logging (logger ``llama_cpp.native``) instead of
stderr, so the GUI can show it and the CLI stays clean.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from desktop_app.core.errors import BackendUnavailableError, QuantDeskError

log = logging.getLogger("llama_cpp.native")

# ggml.h log levels. llama_cpp/_logger.py maps them differently (and wrongly for 0.3.x).
_GGML_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_CONT = 5

_lock = threading.Lock()
_module: ModuleType | None = None
_bindings: ModuleType | None = None
_log_callback: Any = None  # kept referenced: llama.cpp holds a raw pointer to it
_logger_seen = False  # llama_cpp's own _logger ran and we have re-installed ours since
_last_level = logging.INFO
_listeners: list[Callable[[int, str], None]] = []


def llama() -> ModuleType:
    """Import llama_cpp once (thread-safe) with the environment and logging set up."""
    global _module
    with _lock:
        if _module is None:
            try:
                import llama_cpp
            except (ImportError, OSError) as exc:
                raise BackendUnavailableError(f"cannot import llama_cpp: {exc}") from exc
            _module = llama_cpp
            if _log_callback is None:
                _install_log_callback(llama_cpp)
        _reclaim_log_callback(_module)
        return _module


def bindings() -> ModuleType:
    """Only llama-cpp-python's ctypes bindings (``llama_cpp.llama_cpp``), without the package's
    high-level half (``Llama``, numpy, jinja2): 25 ms to import instead of about 200 ms. For
    worker processes that call the C API directly (the quantize worker, where start-up time is
    a visible part of a short job). Returns the full package if that is already imported."""
    global _bindings
    with _lock:
        if _module is not None:
            return _module
        if _bindings is None:
            try:
                _bindings = _import_bindings()
            except (ImportError, OSError) as exc:
                raise BackendUnavailableError(f"cannot import llama_cpp: {exc}") from exc
            _install_log_callback(_bindings)
        _reclaim_log_callback(_bindings)
        return _bindings


def _import_bindings() -> ModuleType:
    if "llama_cpp" in sys.modules:
        return importlib.import_module("llama_cpp.llama_cpp")
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llama_cpp is not installed")
    # A bare package object stands in for llama_cpp while its submodule loads, so the
    # package's __init__ (which imports everything) does not run. It is removed afterwards: a
    # later ``import llama_cpp`` then runs the real __init__, which reuses the loaded bindings.
    stub = ModuleType("llama_cpp")
    stub.__path__ = list(spec.submodule_search_locations)
    sys.modules["llama_cpp"] = stub
    try:
        return importlib.import_module("llama_cpp.llama_cpp")
    finally:
        if sys.modules.get("llama_cpp") is stub:
            del sys.modules["llama_cpp"]


def add_log_listener(listener: Callable[[int, str], None]) -> None:
    """Call ``listener(python_level, line)`` for each native log line (any thread)."""
    _listeners.append(listener)


def remove_log_listener(listener: Callable[[int, str], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _reclaim_log_callback(module: ModuleType) -> None:
    """Importing the llama_cpp package (by anyone, at any time) runs its _logger module, which
    replaces our callback with a stderr printer. Put ours back once that has happened."""
    global _logger_seen
    if _log_callback is not None and not _logger_seen and "llama_cpp._logger" in sys.modules:
        module.llama_log_set(_log_callback, None)
        _logger_seen = True


def _install_log_callback(llama_cpp: ModuleType) -> None:
    global _log_callback

    def on_log(level: int, text: bytes, _user_data: object) -> None:
        global _last_level
        # CONT continues the previous message (progress dots): keep its level.
        py_level = _last_level if level == _CONT else _GGML_LEVELS.get(level, logging.DEBUG)
        _last_level = py_level
        line = text.decode("utf-8", errors="replace").rstrip("\n")
        if not line.strip():
            return
        # llama.cpp logs at INFO a lot while loading; keep Python's INFO for our own events.
        log.log(logging.DEBUG if py_level == logging.INFO else py_level, "%s", line)
        for listener in list(_listeners):
            listener(py_level, line)

    _log_callback = llama_cpp.llama_log_callback(on_log)
    llama_cpp.llama_log_set(_log_callback, None)


def system_info() -> str:
    """llama.cpp's own summary of the CPU features and backends it was built with."""
    raw = llama().llama_print_system_info()
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


def cpu_features_from_system_info(info: str) -> list[str]:
    """Parse ``"CPU : SSE3 = 1 | AVX = 1 | AVX512 = 0 | ..."`` into the enabled feature names."""
    features: list[str] = []
    for part in info.replace(";", "|").split("|"):
        if "=" not in part:
            continue
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if value.strip() == "1" and name:
            features.append(name)
    return features


@functools.cache
def cpu_features() -> tuple[str, ...]:
    """The CPU features this llama.cpp build dispatches on (they decide which tensors it
    repacks, and so the memory estimate); AVX2 when llama_cpp cannot say."""
    try:
        return tuple(cpu_features_from_system_info(system_info()))
    except QuantDeskError:
        return ("AVX2",)
