"""Typed errors raised by the core.

Core code never builds user-facing sentences: each error carries a machine-readable ``code``
plus the facts the UI and CLI need to phrase a message (``desktop_app.messages`` does that).
``detail`` is technical context for logs, not for display.
"""

from __future__ import annotations

from pathlib import Path


class QuantDeskError(Exception):
    """Base class of every error the core raises on purpose."""

    code: str = "error"

    def __init__(self, detail: str = "", *, path: Path | str | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.path = Path(path) if path is not None else None


class FileAccessError(QuantDeskError):
    """A path could not be read: missing, a directory, or permission denied.

    ``code`` is one of ``not_found``, ``is_directory``, ``permission_denied``, ``io_error``.
    """

    def __init__(self, code: str, detail: str = "", *, path: Path | str | None = None) -> None:
        super().__init__(detail, path=path)
        self.code = code


class BackendUnavailableError(QuantDeskError):
    """llama-cpp-python could not be imported or lacks a needed symbol."""

    code = "backend_unavailable"


class QuantizeError(QuantDeskError):
    """llama.cpp's quantizer refused or failed; ``reason`` is its last error log line."""

    code = "quantize_failed"

    def __init__(
        self, detail: str = "", *, path: Path | str | None = None, reason: str = ""
    ) -> None:
        super().__init__(detail, path=path)
        self.reason = reason
