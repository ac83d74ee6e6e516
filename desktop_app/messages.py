"""Turns the core's typed errors into sentences for people (shared by the GUI and the CLI).

The core never phrases messages; this module is the one place that does, so the CLI and the
dialogs say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping

from desktop_app.core.errors import FileAccessError, QuantDeskError, QuantizeError

_GGUF_PROBLEMS = {
    "empty": "the file is empty (0 bytes)",
    "bad_magic": "this is not a GGUF file",
    "old_format": "this is an old GGML/GGJT model file; convert it to GGUF first",
    "unsupported_version": "unsupported GGUF version",
    "wrong_endianness": "the file is big-endian; only little-endian GGUF files are supported",
    "truncated": "the file is incomplete (truncated); download it again",
    "too_many_tensors": "the header claims more tensors than the file can hold",
    "too_many_kv": "the header claims more metadata entries than the file can hold",
    "bad_key": "a metadata key is empty or too long",
    "duplicate_key": "a metadata key appears twice",
    "bad_value_type": "a metadata value has an unknown type",
    "string_too_long": "a metadata string is longer than the file or the safety limit",
    "array_too_long": "a metadata array is longer than the file can hold",
    "nested_array": "a metadata array contains arrays, which GGUF does not allow",
    "bad_utf8": "a name in the header is not valid UTF-8",
    "bad_alignment": "the data alignment is invalid",
    "bad_tensor_name": "a tensor name is empty or too long",
    "duplicate_tensor": "two tensors have the same name",
    "bad_dims": "a tensor has an invalid number of dimensions or an empty dimension",
    "unknown_tensor_type": "a tensor uses a type this version of llama.cpp does not know",
    "bad_shape": "a tensor's row size does not fit its quantization block",
    "size_overflow": "a tensor's declared size is impossibly large",
    "misaligned_offset": "a tensor's data is not aligned",
    "overlapping_tensors": "two tensors overlap in the file",
    "data_past_eof": "tensor data runs past the end of the file (truncated download?)",
}

_FILE_PROBLEMS = {
    "not_found": "no such file",
    "is_directory": "this is a folder, not a model file",
    "permission_denied": "permission denied: the file cannot be read",
    "io_error": "the file could not be read",
}


def describe_error(exc: BaseException) -> str:
    """One sentence, no traceback, naming the file when known."""
    where = ""
    if isinstance(exc, QuantDeskError) and exc.path is not None:
        where = f"{exc.path}: "
    problem = getattr(exc, "problem", None)
    if problem is not None:
        text = _GGUF_PROBLEMS.get(str(problem), f"invalid GGUF file ({problem})")
        return f"{where}{text}"
    if isinstance(exc, FileAccessError):
        return f"{where}{_FILE_PROBLEMS.get(exc.code, exc.code)}"
    if isinstance(exc, QuantizeError):
        reason = f": {exc.reason}" if exc.reason else ""
        return f"{where}quantization failed{reason}"
    if isinstance(exc, QuantDeskError):
        return f"{where}{exc.detail or exc.code}"
    if isinstance(exc, MemoryError):
        return f"{where}out of memory"
    if isinstance(exc, OSError):
        return f"{where}{exc.strerror or exc}"
    return f"{where}{exc}"


_ENGINE_FAILURES = {
    "file_invalid": "the file is not a valid model",
    "does_not_fit": "the model does not fit in the memory available",
    "load_failed": "llama.cpp could not load this model",
    "not_loaded": "no model is loaded",
    "busy": "the model is still answering; wait or stop it first",
    "prompt_too_long": "the message is longer than the model's context",
    "template_failed": "the model's chat template failed",
    "generation_failed": "generation failed",
    "worker_crashed": "the model process stopped unexpectedly",
    "cancelled": "cancelled",
    "bad_request": "the request was not understood",
}


def describe_engine_failure(
    code: str,
    detail: str = "",
    facts: Mapping[str, object] | None = None,
) -> str:
    """A sentence for a Failed event from a model worker."""
    facts = facts or {}
    text = _ENGINE_FAILURES.get(str(code), str(code))
    text = text[0].upper() + text[1:]
    if str(code) == "worker_crashed":
        how = facts.get("signal") or (
            f"exit code {facts.get('exit_code')}" if facts.get("exit_code") is not None else ""
        )
        return (
            f"{text}{f' ({how})' if how else ''}. Your conversation is saved; "
            "load the model again to continue."
        )
    if str(code) == "prompt_too_long" and "prompt_tokens" in facts:
        return (
            f"{text}: {facts['prompt_tokens']} tokens for a context of {facts.get('n_ctx')}. "
            "Shorten it or load the model with a longer context."
        )
    return f"{text}: {detail}" if detail else f"{text}."
