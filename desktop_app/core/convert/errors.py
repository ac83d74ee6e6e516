"""The typed error of Hugging Face to GGUF conversion.

The core never phrases messages: ``desktop_app.messages`` turns ``code`` plus the facts below
into a sentence. ``detail`` is technical context for logs.
"""

from __future__ import annotations

import errno
from pathlib import Path

from desktop_app.core.atomic import is_disk_full
from desktop_app.core.errors import QuantDeskError

# Every code ConvertError uses, grouped by where it comes from (messages.py phrases each one).
FOLDER_CODES = (
    "not_a_folder",  # the source is missing or not a directory
    "missing_config",  # no config.json
    "bad_config",  # config.json unreadable, not JSON, or a field is missing/invalid (``field``)
    "unsupported_architecture",  # ``architecture`` not in ``supported``
    "unsupported_feature",  # a config option this converter cannot reproduce (``field``)
    "pickle_refused",  # only pickle checkpoints (.bin/.pt/.pth/.ckpt/.pkl): ``files``
    "no_weights",  # no *.safetensors and no pickle either
    "missing_index",  # several *.safetensors but no model.safetensors.index.json
    "bad_index",  # the shard index is not valid JSON or names an unsafe file
    "missing_shard",  # a shard named by the index is not in the folder (``files``)
    "index_mismatch",  # index and shard headers disagree about a tensor (``tensor``)
)
SAFETENSORS_CODES = (
    "truncated",  # header or tensor data runs past the end of the file
    "header_too_large",  # declared header length over the cap (``actual`` bytes)
    "bad_header",  # header is not UTF-8 JSON of the documented form
    "unsupported_dtype",  # a tensor's ``dtype`` is not F32/F16/BF16 (integers, F64, F8...)
    "bad_tensor_size",  # data_offsets span does not equal shape x dtype size
    "overlapping_offsets",  # two tensors share bytes (``tensor``)
    "unused_data",  # bytes of the data area belong to no tensor (holes or trailing data)
    "duplicate_tensor",  # a tensor name appears in two shards
)
MODEL_CODES = (
    "missing_tensor",  # a tensor the architecture needs is absent (``tensor``)
    "unexpected_tensor",  # a tensor with no place in the architecture (``tensor``)
    "shape_mismatch",  # ``tensor`` has shape ``actual``, config implies ``expected``
    "missing_tokenizer",  # neither tokenizer.model nor tokenizer.json
    "bad_tokenizer",  # tokenizer file unreadable or inconsistent (``detail``)
    "unsupported_tokenizer",  # a tokenizer kind llama.cpp cannot run (``field``)
)
OUTPUT_CODES = (
    "bad_outtype",  # outtype not one of ``supported``
    "exists",  # the output exists and overwrite was not asked for
    "permission_denied",  # the output folder cannot be written
    "disk_full",  # not enough space (``needed``/``available`` when known)
    "io_error",  # another operating-system error
    "cancelled",  # the caller cancelled
    "source_changed",  # a source file changed while converting (``files``)
)


class ConvertError(QuantDeskError):
    """Conversion was refused or failed; ``code`` is one of the tuples above."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        path: Path | str | None = None,
        tensor: str = "",
        field: str = "",
        dtype: str = "",
        architecture: str = "",
        supported: tuple[str, ...] = (),
        files: tuple[str, ...] = (),
        expected: tuple[int, ...] | None = None,
        actual: tuple[int, ...] | None = None,
        needed: int | None = None,
        available: int | None = None,
    ) -> None:
        self.code = code  # before the base class uses it as the message
        super().__init__(detail, path=path)
        self.tensor = tensor
        self.field = field
        self.dtype = dtype
        self.architecture = architecture
        self.supported = supported
        self.files = files
        self.expected = expected
        self.actual = actual
        self.needed = needed
        self.available = available


def os_error(exc: OSError, path: Path | str | None) -> ConvertError:
    """An operating-system failure as a typed error: disk_full, permission_denied or io_error."""
    if is_disk_full(exc):
        code = "disk_full"
    elif isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        code = "permission_denied"
    else:
        code = "io_error"
    return ConvertError(code, f"{type(exc).__name__}: {exc}", path=path)
