"""The disk side of a download: a writer thread, and placing the finished file.

Writing received bytes happens on its own thread, so receiving never waits on the disk.

A download spends its time in three places: receiving (socket reads and HTTP parsing, mostly
under the GIL), hashing and writing to the page cache (both release the GIL for large
buffers). Each has a thread (hashing: ``blockhash``), so the three overlap. Blocks keep their
order (one thread, one FIFO queue) and the received chunks are written as they are, without
first copying them into one buffer.

Every 64 MiB the writer also syncs the file, so the disk works while bytes still arrive.

After a write error the file is cut back to the last block that was written whole (``pos``),
and nothing more is written: the download stops there, and a later run re-hashes the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import threading
from pathlib import Path
from typing import BinaryIO

from desktop_app.core import atomic
from desktop_app.core.hub.errors import HubError

__all__ = ["BlockWriter", "disk_error", "place_no_overwrite", "write_chunks"]

# At most this much per write call. Measured on the benchmark machine (a VM, 512 MiB written
# from memory into a new file, 15 interleaved runs per size, twice): 256 KiB writes cost
# under 0.2 s of CPU in all 30 runs (median 0.12 s); 1 MiB writes more in 3 runs, 4 MiB
# writes in 12 (up to 0.9 s), the time going to the copy into freshly allocated large
# page-cache folios.
# Small chunks (a TLS read returns at most 16 KiB) are gathered into one ``os.writev`` call.
WRITE_PIECE = 256 * 1024
_IOV_MAX = 1024


def write_chunks(fh: BinaryIO, chunks: list[bytes]) -> None:
    """Write ``chunks`` in order at the file's position (all of them, or raise OSError)."""
    fd = fh.fileno()
    views: list[memoryview] = []
    gathered = 0
    for chunk in chunks:
        view = memoryview(chunk)  # slicing a view copies nothing
        while view:
            piece = view[: WRITE_PIECE - gathered]
            views.append(piece)
            gathered += len(piece)
            view = view[len(piece) :]
            if gathered == WRITE_PIECE or len(views) == _IOV_MAX:
                _write_all(fd, views)
                views, gathered = [], 0
    if views:
        _write_all(fd, views)


def _write_all(fd: int, views: list[memoryview]) -> None:
    if not hasattr(os, "writev"):  # Windows
        views = [memoryview(b"".join(views))]
    while views:
        written = os.writev(fd, views) if len(views) > 1 else os.write(fd, views[0])
        if written <= 0:
            raise OSError(errno.EIO, "write returned 0")
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


SYNC_EVERY = 64 * 1024 * 1024
_datasync = getattr(os, "fdatasync", os.fsync)


class BlockWriter:
    """``submit`` lists of chunks; ``finish`` waits until all are written."""

    def __init__(
        self, fh: BinaryIO, pos: int, depth: int = 4, sync_every: int = SYNC_EVERY
    ) -> None:
        self.fh = fh
        self.pos = pos  # bytes written so far (read it from any thread)
        self.sync_every = sync_every
        self._unsynced = 0
        self.error: OSError | None = None
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="download-writer", daemon=True)
        self._thread.start()

    def submit(self, chunks: list[bytes]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(chunks)

    def finish(self, last: list[bytes] | None = None) -> OSError | None:
        """Write ``last`` too (unless a write already failed), stop the thread, return the
        write error if there was one."""
        if last and self.error is None:
            self._queue.put(last)
        self._queue.put(None)
        self._thread.join()
        return self.error

    def _run(self) -> None:
        while True:
            chunks = self._queue.get()
            if chunks is None:
                return
            if self.error is not None:
                continue  # drain: nothing more is written after a failure
            try:
                write_chunks(self.fh, chunks)
                self._unsynced += sum(len(c) for c in chunks)
                if self._unsynced >= self.sync_every:
                    # Flushing as we go, on this thread, overlaps the disk's work with the
                    # download: the final fsync then has little left to do.
                    _datasync(self.fh.fileno())
                    self._unsynced = 0
            except OSError as exc:
                self.error = exc
                with contextlib.suppress(OSError):
                    self.fh.truncate(self.pos)
                    self.fh.seek(self.pos)
                continue
            self.pos += sum(len(c) for c in chunks)


def disk_error(exc: OSError, path: Path) -> HubError:
    detail = f"{type(exc).__name__}: {exc.strerror or exc}"
    if atomic.is_disk_full(exc):
        return HubError("disk_full", detail, path=path)
    if isinstance(exc, PermissionError):
        return HubError("permission_denied", detail, path=path)
    return HubError("io_error", detail, path=path)


def place_no_overwrite(part: Path, dest: Path) -> None:
    """Give the verified file its final name, never replacing an existing one."""
    try:
        atomic.place_no_overwrite(part, dest)
    except FileExistsError as exc:
        raise HubError("exists", path=dest) from exc
    except OSError as exc:
        raise disk_error(exc, dest) from exc
