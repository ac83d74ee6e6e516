"""How a model file was made: a JSON sidecar ``<file>.quantdesk.json`` next to each output.

The library shows it as provenance. Written after the model file itself is in place (a crash
in between leaves a model without a record, never a record without a model) and atomically
(temp file + rename). Reading is defensive: the sidecar sits in a user folder and may be
edited, damaged or huge, so anything unexpected reads as "no record".

Format (``"format": "quantdesk.provenance"``, ``"version": 1``)::

    created          UTC timestamp, ISO 8601
    tool             "QuantDesk <version>"
    source           {path, size, mtime_ns, header_sha256, file_type}
    output           {file, file_type, size}
    llama_cpp        {llama_cpp_python, llama_cpp}  (versions, when known)
    options          {threads, allow_requantize, imatrix}
    seconds          wall time of the quantization
    warnings         codes (e.g. requantize_quality_loss)
    ladder           {id, labels} when made as part of a ladder
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.atomic import atomic_write_json

SIDECAR_SUFFIX = ".quantdesk.json"
FORMAT = "quantdesk.provenance"
VERSION = 1
_MAX_SIDECAR_BYTES = 1024 * 1024


def sidecar_path(model: str | os.PathLike[str]) -> Path:
    p = Path(model)
    return p.with_name(p.name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class SourceFingerprint:
    """Identifies the source file cheaply: size, mtime and a hash of its header bytes."""

    path: str
    size: int
    mtime_ns: int
    header_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "header_sha256": self.header_sha256,
        }


def fingerprint(path: str | os.PathLike[str], header_bytes: int) -> SourceFingerprint:
    """Hash the first ``header_bytes`` bytes (the GGUF header: metadata and tensor table)."""
    p = Path(path).resolve()
    digest = hashlib.sha256()
    with open(p, "rb") as f:
        st = os.fstat(f.fileno())
        remaining = header_bytes
        while remaining > 0:
            chunk = f.read(min(remaining, 1024 * 1024))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return SourceFingerprint(str(p), st.st_size, st.st_mtime_ns, digest.hexdigest())


def backend_versions() -> dict[str, str]:
    """llama-cpp-python's version and the llama.cpp library's own, without importing llama_cpp
    if it is not loaded yet (the versions then come from package metadata only)."""
    from importlib import metadata

    versions: dict[str, str] = {}
    try:
        versions["llama_cpp_python"] = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        pass
    return versions


def write_sidecar(model: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Write ``record`` (plus format, version and timestamp) next to ``model``; returns its path."""
    from desktop_app import __version__

    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": f"QuantDesk {__version__}",
    }
    data.update(record)
    target = sidecar_path(model)
    atomic_write_json(target, data, indent=2)
    return target


def read_sidecar(model: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance record of ``model``, or None when there is none or it is unusable."""
    target = sidecar_path(model)
    try:
        with open(target, "rb") as f:
            raw = f.read(_MAX_SIDECAR_BYTES + 1)
    except OSError:
        return None
    if len(raw) > _MAX_SIDECAR_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


@dataclass(frozen=True)
class Provenance:
    """What the library shows of a sidecar: how QuantDesk made this file.

    Every field is optional in practice (a sidecar may be old, edited or partly damaged):
    strings are "" and tuples empty when the record does not say.
    """

    source: str  # the source file's (or Hugging Face folder's) name
    source_type: str  # its file type, e.g. "F16"
    output_type: str  # what this file was made as, e.g. "Q4_K_M"
    created: dt.datetime | None  # when, in UTC
    imatrix: str  # the importance matrix file's name; "" when none was used
    ladder: tuple[str, ...]  # every type of the ladder this file was made in
    tool: str  # e.g. "QuantDesk 0.4.0"
    converted_from_folder: bool  # the source was converted from a Hugging Face folder first


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _created(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def summarize(record: Mapping[str, Any]) -> Provenance:
    """The fields the library shows, each checked (a wrong type reads as not recorded)."""
    source = _section(record, "source")
    output = _section(record, "output")
    options = _section(record, "options")
    ladder = _section(record, "ladder")
    labels = ladder.get("labels")
    return Provenance(
        source=Path(_text(source.get("path"))).name,
        source_type=_text(source.get("file_type")),
        output_type=_text(output.get("file_type")),
        created=_created(record.get("created")),
        imatrix=Path(_text(options.get("imatrix"))).name,
        ladder=tuple(x for x in labels if isinstance(x, str)) if isinstance(labels, list) else (),
        tool=_text(record.get("tool")),
        converted_from_folder=_section(record, "converted").get("from") == "hf_folder",
    )


def read_provenance(model: str | os.PathLike[str]) -> Provenance | None:
    """The summary of ``model``'s sidecar, or None without a usable one. Reads a file: keep it
    off the GUI thread."""
    record = read_sidecar(model)
    return summarize(record) if record is not None else None
