"""The state a download leaves on disk: ``<dest>.part``, ``<dest>.part.json`` and a lock.

The partial file holds the bytes received so far; the record says what they belong to (repo,
file, revision, size, sha256, ETag) so a later run (after a cut connection, a crash or
``kill -9``) can resume it, or throw it away when the file on the hub is a different one.
The record is small JSON, replaced atomically; a damaged record reads as "no record" and the
partial is then discarded rather than trusted.

The lock (``<dest>.part.lock``, an OS lock released when the process dies, so never stale)
keeps two QuantDesk processes from writing the same partial file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from desktop_app.core.atomic import atomic_write_json
from desktop_app.core.hub.errors import HubError

__all__ = [
    "DestinationLock",
    "PartialRecord",
    "discard_partial",
    "find_partials",
    "lock_path",
    "part_path",
    "read_record",
    "record_path",
    "write_record",
]

RECORD_VERSION = 1
_RECORD_MAX_BYTES = 64 * 1024


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def lock_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.lock")


@dataclass(frozen=True)
class PartialRecord:
    repo_id: str
    filename: str
    revision: str
    size: int
    sha256: str
    url: str
    etag: str | None
    bytes_done: int
    updated: float
    version: int = RECORD_VERSION

    def same_file(self, repo_id: str, filename: str, size: int, sha256: str) -> bool:
        """Whether the partial bytes belong to this file (the sha256 names its content)."""
        return (
            self.repo_id == repo_id
            and self.filename == filename
            and self.size == size
            and self.sha256.lower() == sha256.lower()
        )


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "repo_id": (str,),
    "filename": (str,),
    "revision": (str,),
    "size": (int,),
    "sha256": (str,),
    "url": (str,),
    "etag": (str, type(None)),
    "bytes_done": (int,),
    "updated": (float, int),
    "version": (int,),
}


def read_record(dest: Path) -> PartialRecord | None:
    """The record next to ``dest``, or None when absent, unreadable or malformed."""
    path = record_path(dest)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_RECORD_MAX_BYTES + 1)
    except OSError:
        return None
    if len(raw) > _RECORD_MAX_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        return None
    values: dict[str, Any] = {}
    for name, types in _FIELD_TYPES.items():
        value = data.get(name)
        if type(value) not in types:
            return None
        values[name] = value
    if values["size"] < 0 or values["bytes_done"] < 0:
        return None
    values["updated"] = float(values["updated"])
    return PartialRecord(**values)


def write_record(dest: Path, record: PartialRecord, *, sync: bool = False) -> None:
    """Replace the record atomically (temp file in the same folder, then rename)."""
    atomic_write_json(record_path(dest), asdict(record), durable=sync, mode=0o600)


def discard_partial(dest: Path) -> None:
    """Delete the partial file and its record (missing ones are fine)."""
    for path in (part_path(dest), record_path(dest)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def find_partials(models_root: Path, max_depth: int = 10) -> list[tuple[Path, PartialRecord]]:
    """(destination, record) of every resumable download under ``models_root``."""
    found: list[tuple[Path, PartialRecord]] = []
    root = str(models_root)
    if not os.path.isdir(root):
        return found
    for folder, dirs, files in os.walk(root):
        depth = os.path.relpath(folder, root).count(os.sep)
        if depth >= max_depth:
            dirs.clear()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.endswith(".part.json"):
                continue
            dest = Path(folder, name[: -len(".part.json")])
            record = read_record(dest)
            if record is not None and part_path(dest).is_file():
                found.append((dest, record))
    found.sort(key=lambda item: item[1].updated)
    return found


class DestinationLock:
    """An exclusive, non-blocking OS lock for one destination; ``busy`` if another holds it.

    ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows: the OS drops it when the holding
    process dies, so a killed download never leaves a lock that blocks the next run.
    """

    def __init__(self, dest: Path) -> None:
        self.path = lock_path(dest)
        self._fh: IO[bytes] | None = None

    def acquire(self) -> DestinationLock:
        fh = open(self.path, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            _lock_file(fh)
        except OSError as exc:
            fh.close()
            raise HubError(
                "busy", "another process is downloading this file", path=self.path
            ) from exc
        self._fh = fh
        return self

    def release(self, *, remove: bool = False) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        if remove:
            # Removed while still held: a process that opens it afterwards creates a new file,
            # finds the destination complete and stops there.
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            _unlock_file(fh)
        fh.close()

    def __enter__(self) -> DestinationLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_file(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock_file(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_file(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
