"""Typed errors of quantize jobs and ladders (``desktop_app.messages`` phrases them).

Everything here subclasses ``QuantizeError``, so code that only knows the in-process primitive
still catches them. A source that is not valid GGUF is reported with the reader's own
``GGUFError`` / ``FileAccessError`` (``path`` says which file), before llama.cpp sees it.
"""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.errors import QuantizeError

# Carried by RequantizeRefusedError and listed in a result's ``warnings`` when re-quantizing was
# allowed: quantizing an already quantized file compounds both rounding errors.
REQUANTIZE_WARNING = "requantize_quality_loss"
# A K/IQ type asked for a tensor whose rows are not a multiple of 256: llama.cpp stored that
# tensor in a fallback type (the file is bigger and differs from the type's usual mix).
FALLBACK_WARNING = "tensor_type_fallback"


class QuantizeJobError(QuantizeError):
    """Base of the errors a quantize job raises before or instead of llama.cpp's own."""

    code = "quantize_failed"


class UnknownFileTypeError(QuantizeJobError):
    code = "unknown_file_type"

    def __init__(self, label: str) -> None:
        super().__init__(f"unknown file type {label!r}")
        self.label = label


class UnsupportedTargetError(QuantizeJobError):
    """llama_model_quantize cannot write this file type (NVFP4 comes from converters only)."""

    code = "unsupported_target"

    def __init__(self, label: str) -> None:
        super().__init__(f"llama_model_quantize cannot write {label}")
        self.label = label


class NeedsImatrixError(QuantizeJobError):
    """The file type needs an importance matrix and none was given (refused before starting)."""

    code = "needs_imatrix"

    def __init__(self, label: str) -> None:
        super().__init__(f"{label} needs an importance matrix")
        self.label = label


class ImatrixError(QuantizeJobError):
    """The importance matrix file is unusable; ``imatrix_problem`` says why."""

    code = "imatrix_invalid"

    def __init__(self, problem: str, detail: str = "", *, path: Path | str | None = None) -> None:
        super().__init__(detail or problem, path=path)
        self.imatrix_problem = problem


class RequantizeRefusedError(QuantizeJobError):
    """The source is already quantized; allowed only on request, with ``warning`` shown."""

    code = "requantize_refused"
    warning = REQUANTIZE_WARNING

    def __init__(self, source_type: str, *, path: Path | str | None = None) -> None:
        super().__init__(f"source is already quantized ({source_type})", path=path)
        self.source_type = source_type


class UnsupportedSourceError(QuantizeJobError):
    """The source is not something this job can start from (a folder without a converter...)."""

    code = "unsupported_source"


class DestinationError(QuantizeJobError):
    """``code``: destination_exists, destination_is_source, destination_folder_missing,
    destination_not_writable. Nothing is ever overwritten unasked."""

    def __init__(self, code: str, detail: str = "", *, path: Path | str | None = None) -> None:
        super().__init__(detail or code, path=path)
        self.code = code


class NotEnoughDiskError(QuantizeJobError):
    """Free space at the destination is below the estimated output size plus a margin."""

    code = "not_enough_disk"

    def __init__(self, needed: int, free: int, *, path: Path | str | None = None) -> None:
        super().__init__(f"needs {needed} bytes, {free} free", path=path)
        self.needed = needed
        self.free = free


class SourceChangedError(QuantizeJobError):
    """The source file changed (size or mtime) while it was being quantized."""

    code = "source_changed"


class WorkerCrashedError(QuantizeJobError):
    """The quantize worker died (native abort, segfault, OOM killer); the temp file is gone."""

    code = "worker_crashed"

    def __init__(
        self, exit_code: int | None, signal_name: str = "", *, path: Path | str | None = None
    ) -> None:
        super().__init__(f"exit code {exit_code} {signal_name}".strip(), path=path)
        self.exit_code = exit_code
        self.signal_name = signal_name


class QuantizeCancelledError(QuantizeJobError):
    """The job was cancelled; its worker was killed and its temp file deleted."""

    code = "cancelled"
