"""Turns the core's typed errors into sentences for people (shared by the GUI and the CLI).

The core never phrases messages; this module is the one place that does, so the CLI and the
dialogs say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping

from desktop_app.core.chat_store import ChatImportError, ChatStoreError
from desktop_app.core.convert.errors import ConvertError
from desktop_app.core.errors import FileAccessError, QuantDeskError, QuantizeError
from desktop_app.core.hub.errors import HubError
from desktop_app.core.library.errors import LibraryError
from desktop_app.core.quantize_errors import QuantizeJobError

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

_STORE_PROBLEMS = {
    "read_only": "the chat history file or its folder is read-only",
    "newer_schema": "the chat history was written by a newer QuantDesk; it was left untouched",
    "foreign_database": "the chat history file belongs to another program; it was left untouched",
    "busy": "the chat history is in use by another QuantDesk window",
    "disk_full": "the disk is full; the last change was not saved",
    "corrupt": "the chat history database is damaged",
    "too_big": "the text is too large to store",
    "not_found": "that conversation or message no longer exists",
}

_IMPORT_PROBLEMS = {
    "not_json": "the file is not JSON",
    "too_large": "the file is too large to import",
    "wrong_format": "the file is not a QuantDesk chat export",
    "unsupported_version": "the export comes from a newer QuantDesk",
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
    if isinstance(exc, ChatImportError):
        text = _IMPORT_PROBLEMS.get(exc.code, f"the chat file is invalid ({exc.code})")
        return f"{where}{text}{f' at {exc.field}' if exc.field else ''}"
    if isinstance(exc, ChatStoreError) and exc.code in _STORE_PROBLEMS:
        return f"{where}{_STORE_PROBLEMS[exc.code]}"
    if isinstance(exc, FileAccessError):
        return f"{where}{_FILE_PROBLEMS.get(exc.code, exc.code)}"
    if isinstance(exc, QuantizeJobError):
        return f"{where}{describe_quantize_error(exc)}"
    if isinstance(exc, QuantizeError):
        reason = f": {exc.reason}" if exc.reason else ""
        return f"{where}quantization failed{reason}"
    if isinstance(exc, LibraryError):
        return f"{where}{_LIBRARY_PROBLEMS.get(exc.code, exc.code)}"
    if isinstance(exc, HubError):
        return f"{where}{describe_hub_error(exc)}"
    if isinstance(exc, ConvertError):
        from desktop_app.messages_convert import describe_convert_error

        return describe_convert_error(exc)
    if isinstance(exc, QuantDeskError):
        return f"{where}{exc.detail or exc.code}"
    if isinstance(exc, MemoryError):
        return f"{where}out of memory"
    if isinstance(exc, OSError):
        return f"{where}{exc.strerror or exc}"
    return f"{where}{exc}"


_LIBRARY_PROBLEMS = {
    "not_own": "not in QuantDesk's models folder; QuantDesk deletes only its own files",
    "exists": "a file with this name is already there; nothing was overwritten",
    "not_found": "no such file",
    "not_a_file": "this is not a model file",
    "bad_name": "this name cannot be used as a file name",
    "is_symlink": "this is a link to another app's file; copy or link it instead of moving",
    "cross_device": "hard links only work within one disk; copy the file instead",
    "unsupported": "this disk or system does not allow that; copy the file instead",
    "permission_denied": "permission denied (is the model still loaded?)",
    "io_error": "the disk reported an error",
}

# Why a library entry cannot be used (ModelEntry.broken_reason / Variant.broken_reason).
_BROKEN_EXTRA = {
    "missing_shards": "some parts of this split model are missing",
    "internal_error": "the file could not be read (unexpected error, see the log)",
}

_SCAN_PROBLEMS = {
    "permission_denied": "permission denied",
    "symlink_loop": "symbolic link loop",
    "broken_link": "symbolic link to a missing file",
    "vanished": "deleted while scanning",
    "io_error": "could not be read",
    "not_a_folder": "not a folder",
    "not_a_file": "not a regular file",
    "bad_manifest": "damaged Ollama manifest",
    "bad_digest": "Ollama manifest with an invalid digest (ignored for safety)",
    "unsafe_blob_path": "Ollama blob outside the blob folder (ignored for safety)",
    "missing_blob": "Ollama model file missing",
    "hf_cache_corrupt": "damaged Hugging Face cache entry",
}


def describe_broken_reason(reason: str) -> str:
    """Why a library entry is unusable: a GGUF problem, file access code or library reason."""
    return (
        _GGUF_PROBLEMS.get(reason)
        or _FILE_PROBLEMS.get(reason)
        or _BROKEN_EXTRA.get(reason)
        or f"unusable ({reason})"
    )


def describe_scan_problem(code: str) -> str:
    return _SCAN_PROBLEMS.get(code, code)


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
    "vocab_mismatch": (
        "this file's vocabulary differs from the reference's, so their token probabilities "
        "cannot be compared (KL divergence needs the same tokenizer)"
    ),
    "disk_full": "not enough free disk space for the reference's token probabilities",
    "reference_failed": "the reference model failed, so there is nothing to compare against",
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
    if str(code) == "file_invalid" and "problem" in facts:
        problem = str(facts["problem"])
        reason = _GGUF_PROBLEMS.get(problem) or _FILE_PROBLEMS.get(problem) or problem
        return f"Could not load the model: {reason}."
    if str(code) == "prompt_too_long" and "prompt_tokens" in facts:
        return (
            f"{text}: {facts['prompt_tokens']} tokens for a context of {facts.get('n_ctx')}. "
            "Shorten it or load the model with a longer context."
        )
    return f"{text}: {detail}" if detail else f"{text}."


_HUB_PROBLEMS = {
    "bad_repo_id": "this is not a valid Hugging Face repo id",
    "bad_file_name": "the hub lists a file name that is unsafe on this computer; not downloaded",
    "outside_models": "the file would land outside QuantDesk's models folder; nothing was written",
    "offline": "offline mode is on and this is not in the cache",
    "network": "could not reach the Hugging Face hub; check the connection or proxy settings",
    "timeout": "the Hugging Face hub did not answer in time",
    "not_found": "not found on the Hugging Face hub",
    "unauthorized": (
        "the hub refused access; use a token that can read this repo (HF_TOKEN or hf auth login)"
    ),
    "gated": (
        "this repo is gated: accept its terms on huggingface.co, then use your token "
        "(HF_TOKEN or hf auth login)"
    ),
    "rate_limited": "the hub is limiting requests; try again in a few minutes",
    "server_error": "the Hugging Face hub had a server error; try again later",
    "bad_response": "the hub sent an answer QuantDesk does not understand",
    "header_too_large": "the model's header is too large to read before downloading",
    "not_in_repo": "this file is not in the repo",
    "disk_full": "the disk is full; the partial download was kept: free some space and resume",
    "size_mismatch": (
        "the file on the hub does not have the announced size; the download was discarded"
    ),
    "checksum_mismatch": (
        "the downloaded file is damaged (its sha256 does not match the hub's); it was deleted, "
        "try again"
    ),
    "no_checksum": "the hub gives no checksum for this file, so it cannot be verified",
    "exists": "a different file with this name is already there; nothing was overwritten",
    "busy": "another QuantDesk is already downloading this file",
    "permission_denied": "permission denied writing to the models folder",
    "io_error": "the disk reported an error while saving the download",
}


def describe_hub_error(exc: HubError) -> str:
    """The sentence for a hub, listing or download error (without the path prefix)."""
    from desktop_app.formatting import human_bytes

    if exc.code == "no_space" and exc.needed is not None and exc.available is not None:
        return (
            f"not enough free disk space: {human_bytes(exc.needed)} needed, "
            f"{human_bytes(exc.available)} free"
        )
    text = _HUB_PROBLEMS.get(exc.code, exc.detail or exc.code)
    if exc.code == "server_error" and exc.status:
        text += f" (HTTP {exc.status})"
    if exc.name and exc.code in ("bad_repo_id", "bad_file_name"):
        text += f": {exc.name}"
    return text


_QUANTIZE_PROBLEMS = {
    "unknown_file_type": "unknown quantization type",
    "unsupported_target": "llama.cpp cannot produce this type by quantizing",
    "needs_imatrix": (
        "this type needs an importance matrix (imatrix file); choose another type or give one"
    ),
    "imatrix_invalid": "the importance matrix file cannot be used",
    "requantize_refused": (
        "this file is already quantized; quantizing it again loses more quality than starting "
        "from the F16/F32 original, so it must be allowed explicitly"
    ),
    "destination_exists": "a file with this name is already there; nothing was overwritten",
    "destination_is_source": "the output would replace the input file",
    "destination_folder_missing": "the output folder does not exist",
    "destination_not_writable": "the output folder is read-only",
    "source_changed": "the input file changed while it was being quantized; nothing was written",
    "worker_crashed": "the quantizer process stopped unexpectedly; nothing was written",
    "cancelled": "cancelled; nothing was written",
}


def describe_quantize_error(exc: QuantizeJobError) -> str:
    """The sentence for a quantize job's error (without the path prefix)."""
    from desktop_app.formatting import human_bytes

    code = exc.code
    needed, free = getattr(exc, "needed", None), getattr(exc, "free", None)
    if code == "not_enough_disk" and needed is not None and free is not None:
        return (
            f"not enough free disk space: about {human_bytes(needed)} needed, "
            f"{human_bytes(free)} free"
        )
    text = _QUANTIZE_PROBLEMS.get(code, exc.detail or code)
    label = getattr(exc, "label", None)
    if code in ("unknown_file_type", "unsupported_target", "needs_imatrix") and label:
        text = f"{label}: {text}"
    source_type = getattr(exc, "source_type", None)
    if code == "requantize_refused" and source_type:
        text = f"{text} (it is {source_type})"
    problem = getattr(exc, "imatrix_problem", None)
    if code == "imatrix_invalid" and problem:
        text = f"{text} ({problem})"
    if code == "worker_crashed":
        how = getattr(exc, "signal_name", "") or f"exit code {getattr(exc, 'exit_code', '?')}"
        text = f"{text} ({how})"
    if code == "unsupported_source":
        text = exc.detail or "this input cannot be quantized"
    return text
