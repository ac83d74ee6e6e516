"""Hashing received blocks on a thread of their own, in order.

A download's receiving thread spends its time in socket reads and HTTP parsing (mostly under
the GIL); SHA-256 costs about as much again (about 0.6 s of CPU per GiB with SHA-NI, more
without), and hashlib releases the GIL for buffers of 2 KiB and more. Done on the receiving
thread, hashing adds to every chunk's time; here it runs beside receiving and writing, so on
two cores the three overlap when a core is free (loopback benchmark at load 1-2, 512 MiB:
throughput ratio to curl 0.74 with the hash on the receiving thread, 0.95 with this thread,
median of 4 pairs). On a saturated machine there is no core to overlap on, and the hash's
CPU time counts in full.

The blocks are the same ``bytes`` objects the writer thread writes (nothing is copied), fed
to the hash in the order they arrived: one thread, one FIFO queue. ``hashed`` counts the bytes
fed so far, so the caller can prove that the digest covers exactly the bytes on disk.
"""

from __future__ import annotations

import queue
import threading
from typing import Protocol

__all__ = ["BlockHasher", "Hash"]


class Hash(Protocol):
    """What ``hashlib.sha256()`` offers that this module uses."""

    def update(self, data: bytes, /) -> None: ...


class BlockHasher:
    """``submit`` lists of chunks; ``finish`` waits until all are hashed.

    An exception raised by the hash (none is expected from hashlib) is kept and raised again
    by the next ``submit`` or by ``finish``; blocks after it are not hashed.
    """

    def __init__(self, hasher: Hash, depth: int = 4) -> None:
        self.hasher = hasher
        self.hashed = 0  # bytes fed to the hash so far (read it from any thread)
        self.error: BaseException | None = None
        self._discard = False
        # Bounded: a receiver faster than the hash waits instead of piling up memory
        # (depth blocks of a few MiB each).
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="download-hasher", daemon=True)
        self._thread.start()

    def submit(self, chunks: list[bytes]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(chunks)

    def finish(self, last: list[bytes] | None = None, *, discard: bool = False) -> None:
        """Hash ``last`` too, stop the thread and raise the hash's error if there was one.

        ``discard``: the digest is not wanted any more (the transfer was paused or cancelled,
        and a later run re-hashes the file from disk), so blocks still queued are dropped
        rather than hashed: stopping takes no longer than the block being hashed now.
        """
        if discard:
            self._discard = True
        elif last:
            self._queue.put(last)
        self._queue.put(None)
        self._thread.join()
        if self.error is not None and not discard:
            raise self.error

    def _run(self) -> None:
        while True:
            chunks = self._queue.get()
            if chunks is None:
                return
            if self._discard or self.error is not None:
                continue  # drain the queue so the producer never blocks on a dead thread
            try:
                for chunk in chunks:
                    self.hasher.update(chunk)
                    self.hashed += len(chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
                self.error = exc
