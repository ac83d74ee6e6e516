"""One file from the hub into the models folder: resumable, verified, never a corrupt file.

The bytes go to ``<dest>.part`` with HTTP Range requests through huggingface_hub's own client;
``<dest>.part.json`` records what they belong to. A cut connection, a stall (no byte for
``stall_timeout`` seconds), a 5xx or 429 reconnects from the current offset with exponential
backoff (the retry budget is reset whenever bytes arrive). A later run, even after ``kill -9``,
re-hashes the partial file and goes on from its end.

The sha256 is computed while the bytes arrive, on a thread of its own (``blockhash``) beside
the one that writes them (``diskio``). Only when all ``size`` bytes are there, every one of
them hashed, and the digest equals the hub's LFS sha256 is the file synced and renamed into
place (a hard link, so an existing file is never replaced). A wrong digest or a server that
disagrees about the size deletes the partial file; a full disk keeps it for resuming.

Server misbehaviour handled: Range ignored (200 instead of 206: start over from zero), 416 on a
stale partial (start over), a Content-Range starting elsewhere, more bytes than announced.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx2
from huggingface_hub import errors as hf_errors
from huggingface_hub import hf_hub_url

from desktop_app.core import hardware
from desktop_app.core.atomic import fsync_folder
from desktop_app.core.hub.blockhash import BlockHasher
from desktop_app.core.hub.body import BodyReader
from desktop_app.core.hub.control import Control, Stopped, hang_up
from desktop_app.core.hub.diskio import BlockWriter, disk_error, place_no_overwrite
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.names import destination_path, prepare_destination
from desktop_app.core.hub.partial import (
    DestinationLock,
    PartialRecord,
    discard_partial,
    part_path,
    read_record,
    record_path,
    write_record,
)
from desktop_app.core.hub.session import (
    HubConfig,
    big_reads,
    error_for_response,
    http_client,
    hub_error_from,
)

__all__ = [
    "Control",
    "ProgressFn",
    "Stopped",
    "TransferResult",
    "TransferSettings",
    "TransferSpec",
    "transfer",
]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
_REHASH_CHUNK = 8 * MIB
_WRITE_BLOCK = 4 * MIB
_MAX_RESTARTS = 3  # downloads started over from zero (Range ignored, 416) before giving up
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
# Errors after which the partial bytes are worthless.
_DISCARD_CODES = frozenset({"checksum_mismatch", "size_mismatch"})

# (phase, bytes done): phase is "checking" (re-hashing a partial file), "downloading" or
# "verifying".
ProgressFn = Callable[[str, int], None]


@dataclass(frozen=True)
class TransferSettings:
    stall_timeout: float = 30.0  # seconds without a byte before reconnecting
    connect_timeout: float = 20.0
    max_retries: int = 5  # consecutive failed attempts without progress
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    disk_margin: int = 256 * MIB  # free space kept on top of the bytes still to come
    record_interval: float = 1.0  # seconds between updates of the .part.json record


@dataclass(frozen=True)
class TransferSpec:
    models_root: Path
    repo_id: str
    filename: str
    revision: str  # a commit sha pins the content; "main" works too
    size: int
    sha256: str | None  # the LFS sha256; None: learned from the hub's headers first


@dataclass(frozen=True)
class TransferResult:
    path: Path
    resumed_from: int  # bytes already on disk when this run started
    restarts: int  # times the download had to start over from zero
    reconnects: int
    already_present: bool = False


class _Retry(Exception):  # noqa: N818 - internal control flow
    def __init__(
        self, code: str, detail: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class _Restart(Exception):  # noqa: N818 - internal control flow
    """The partial bytes cannot be continued; start from zero."""


def _clean_etag(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().removeprefix("W/").strip('"').lower() or None


def _int_header(response: httpx2.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def learn_checksum(config: HubConfig, url: str, size: int, timeout: float) -> str:
    """The sha256 the hub announces for ``url`` (``X-Linked-Etag`` of an LFS file)."""
    headers = config.headers()
    try:
        response = http_client().head(
            url, headers=headers, follow_redirects=False, timeout=httpx2.Timeout(timeout)
        )
    except (httpx2.HTTPError, hf_errors.OfflineModeIsEnabled) as exc:
        raise hub_error_from(exc) from exc
    if response.status_code >= 400:
        raise error_for_response(response, f"HEAD {url}")
    etag = _clean_etag(response.headers.get("X-Linked-Etag") or response.headers.get("ETag"))
    if etag is None or not _SHA256.fullmatch(etag):
        raise HubError("no_checksum", f"no sha256 for {url}")
    linked = _int_header(response, "X-Linked-Size")
    if linked is not None and linked != size:
        raise HubError("size_mismatch", f"hub says {linked} bytes, listing said {size}")
    return etag


def transfer(
    spec: TransferSpec,
    config: HubConfig,
    control: Control,
    settings: TransferSettings | None = None,
    on_progress: ProgressFn | None = None,
) -> TransferResult:
    """Download ``spec`` into ``models_root/publisher/repo/filename``; see the module doc.

    Raises ``HubError`` (typed), ``Stopped`` (pause or cancel) or ``hardware``'s errors.
    """
    settings = settings or TransferSettings()
    dest = prepare_destination(spec.models_root, spec.repo_id, spec.filename)
    if spec.size < 0:
        raise HubError("bad_response", f"negative size {spec.size}")
    lock = DestinationLock(dest).acquire()
    finished = False
    try:
        if os.path.lexists(dest):
            regular = os.path.isfile(dest) and not os.path.islink(dest)
            if regular and os.path.getsize(dest) == spec.size:
                finished = True
                return TransferResult(dest, spec.size, 0, 0, already_present=True)
            raise HubError("exists", "a different file is already there", path=dest)
        config.require_online()
        url = hf_hub_url(
            spec.repo_id, spec.filename, revision=spec.revision, endpoint=config.endpoint
        )
        sha256 = (spec.sha256 or "").strip().lower() or learn_checksum(
            config, url, spec.size, settings.connect_timeout
        )
        if not _SHA256.fullmatch(sha256):
            raise HubError("no_checksum", f"not a sha256: {sha256[:80]!r}")
        job = _Job(spec, dest, url, sha256, config, control, settings, on_progress)
        try:
            result = job.run()
        except Stopped as stop:
            finished = stop.reason == "cancel"
            raise
        finished = True
        return result
    finally:
        lock.release(remove=finished)


class _Job:
    """The state of one transfer attempt sequence; see ``transfer``."""

    def __init__(
        self,
        spec: TransferSpec,
        dest: Path,
        url: str,
        sha256: str,
        config: HubConfig,
        control: Control,
        settings: TransferSettings,
        on_progress: ProgressFn | None,
    ) -> None:
        self.spec = spec
        self.dest = dest
        self.part = part_path(dest)
        self.url = url
        self.sha256 = sha256
        self.size = spec.size
        self.config = config
        self.control = control
        self.settings = settings
        self.on_progress: ProgressFn = on_progress or (lambda _phase, _done: None)
        self.fh: BinaryIO | None = None
        self.pos = 0
        self.hasher = hashlib.sha256()
        self.hashed = 0  # bytes fed to ``hasher``: must equal ``size`` before the verdict
        self.etag: str | None = None
        self.resumed_from = 0
        self.restarts = 0
        self.reconnects = 0
        self.last_record = 0.0

    # --- the whole sequence --------------------------------------------------------------

    def run(self) -> TransferResult:
        try:
            self._open()
            self._check_disk()
            self._download()
            return self._finish()
        except Stopped as stop:
            self._keep_or_discard(discard=stop.reason == "cancel")
            raise
        except HubError as exc:
            self._keep_or_discard(discard=exc.code in _DISCARD_CODES)
            raise
        except BaseException:
            self._keep_or_discard(discard=False)
            raise

    def _keep_or_discard(self, *, discard: bool) -> None:
        """After a stop or failure: keep the partial for resuming, unless it is worthless
        (cancelled, wrong bytes, or empty)."""
        self._close()
        try:
            on_disk = os.path.getsize(self.part)
        except OSError:
            on_disk = 0
        if discard or on_disk == 0:
            discard_partial(self.dest)
        else:
            # The file is the truth (a pause while re-hashing leaves pos behind it).
            self._save_record(bytes_done=on_disk)

    def _open(self) -> None:
        record = read_record(self.dest)
        if record is None or not record.same_file(
            self.spec.repo_id, self.spec.filename, self.size, self.sha256
        ):
            discard_partial(self.dest)  # bytes of another file, or of nobody knows what
        else:
            self.etag = record.etag
        try:
            fd = os.open(self.part, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            self.fh = os.fdopen(fd, "r+b", buffering=0)
            existing = os.fstat(fd).st_size
            if existing > self.size:
                self._truncate()
                existing = 0
            if existing:
                self._rehash(existing)
        except OSError as exc:
            raise disk_error(exc, self.part) from exc
        self.resumed_from = self.pos
        self._save_record(sync=True, required=True)

    def _rehash(self, existing: int) -> None:
        """Feed the bytes already on disk to the hasher (they are verified at the end)."""
        assert self.fh is not None
        self.fh.seek(0)
        done = 0
        while done < existing:
            self.control.check()
            data = self.fh.read(min(_REHASH_CHUNK, existing - done))
            if not data:
                break
            self.hasher.update(data)
            self.hashed += len(data)
            done += len(data)
            self.on_progress("checking", done)
        self.fh.truncate(done)
        self.fh.seek(done)
        self.pos = done

    def _check_disk(self) -> None:
        free, _total = hardware.disk_space(self.dest.parent)
        needed = self.size - self.pos + self.settings.disk_margin
        if free < needed:
            raise HubError(
                "no_space",
                f"{free} bytes free",
                path=self.dest.parent,
                needed=needed,
                available=free,
            )

    def _download(self) -> None:
        attempts = 0
        while self.pos < self.size:
            self.control.check()
            before = self.pos
            try:
                if self._request():
                    return  # 416 with every byte already here
                if self.pos < self.size:
                    raise _Retry("network", f"connection closed at byte {self.pos}")
                return
            except _Restart as restart:
                self._start_over(str(restart))
            except _Retry as retry:
                self.control.check()  # a pause or cancel hung up: that is not a failure
                if self.pos > before:
                    attempts = 0  # progress was made: the budget is per stuck spell
                attempts += 1
                if attempts > self.settings.max_retries:
                    raise HubError(retry.code, retry.detail, status=retry.status) from None
                delay = min(
                    self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempts - 1)
                )
                if retry.retry_after is not None:
                    delay = min(self.settings.backoff_max, max(delay, retry.retry_after))
                self.reconnects += 1
                log.info("download %s: %s; retrying in %.1fs", self.url, retry.detail, delay)
                self._save_record()
                self.control.sleep(delay)

    def _start_over(self, why: str) -> None:
        self.restarts += 1
        if self.restarts > _MAX_RESTARTS:
            raise HubError("bad_response", f"started over {_MAX_RESTARTS} times: {why}")
        log.info("download %s: %s; starting over from zero", self.url, why)
        self._truncate()

    def _truncate(self) -> None:
        assert self.fh is not None
        self.fh.seek(0)
        self.fh.truncate(0)
        self.pos = 0
        self.hasher = hashlib.sha256()
        self.hashed = 0

    # --- one HTTP request ----------------------------------------------------------------

    def _request(self) -> bool:
        """One GET from ``self.pos``; True when the server says the file is already complete."""
        headers = self.config.headers()
        headers["Accept-Encoding"] = "identity"
        if self.pos:
            headers["Range"] = f"bytes={self.pos}-"
            if self.etag and not _COMMIT.fullmatch(self.spec.revision):
                # A branch may move: only continue if the bytes are still the same file.
                headers["If-Range"] = f'"{self.etag}"'
        s = self.settings
        timeout = httpx2.Timeout(
            connect=s.connect_timeout,
            read=s.stall_timeout,
            write=s.connect_timeout,
            pool=s.connect_timeout,
        )
        if self.config.is_offline:  # switched offline meanwhile: no new connection
            raise HubError("offline", "offline mode was turned on")
        try:
            with http_client().stream("GET", self.url, headers=headers, timeout=timeout) as resp:
                self.control.on_stop(functools.partial(hang_up, resp))
                try:
                    if self._accept(resp):
                        return True
                    with big_reads(resp):
                        self._receive(resp)
                finally:
                    self.control.on_stop(None)
        except httpx2.TimeoutException as exc:
            raise _Retry("timeout", f"no data for {s.stall_timeout:g}s ({exc})") from exc
        except httpx2.TransportError as exc:
            raise _Retry("network", f"{type(exc).__name__}: {exc}") from exc
        except hf_errors.OfflineModeIsEnabled as exc:
            raise HubError("offline", str(exc)) from exc
        return False

    def _accept(self, resp: httpx2.Response) -> bool:
        status = resp.status_code
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
            if match is None:
                raise _Restart("206 without a usable Content-Range")
            total = match.group(3)
            if total != "*" and int(total) != self.size:
                raise HubError("size_mismatch", f"server has {total} bytes, expected {self.size}")
            if int(match.group(1)) != self.pos:
                raise _Restart(f"server sent bytes from {match.group(1)}, asked {self.pos}")
        elif status == 200:
            length = _int_header(resp, "Content-Length")
            if length is not None and length != self.size:
                raise HubError(
                    "size_mismatch", f"server sends {length} bytes, expected {self.size}"
                )
            if self.pos:
                self._start_over("server ignored the Range request")
        elif status == 416:
            if self.pos == self.size:
                return True
            raise _Restart("416 range not satisfiable")
        elif status in (408, 429) or status >= 500:
            code = "rate_limited" if status == 429 else "server_error"
            raise _Retry(code, f"HTTP {status}", status=status, retry_after=_retry_after(resp))
        else:
            raise error_for_response(resp, f"GET {self.url}")
        etag = _clean_etag(resp.headers.get("ETag"))
        if etag:
            self.etag = etag
        return False

    def _receive(self, resp: httpx2.Response) -> None:
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        # The raw bytes are the file's bytes unless the server compressed them anyway.
        identity = encoding in ("", "identity")
        chunks = BodyReader(resp, self.settings.stall_timeout) if identity else resp.iter_bytes()
        control, size = self.control, self.size
        progress, interval = self.on_progress, self.settings.record_interval
        assert self.fh is not None
        # Three threads share the work: this one receives, one hashes, one writes (each
        # block goes to both, in order, without a copy). On two cores the hash no longer
        # adds to the receiving loop's time.
        hasher = BlockHasher(self.hasher)
        writer = BlockWriter(self.fh, self.pos)
        block: list[bytes] = []
        block_bytes = 0
        block_started = 0.0
        received = self.pos
        stopped = False
        try:
            for chunk in chunks:
                if control.stopping:
                    control.check()
                received += len(chunk)
                if received > size:
                    raise HubError("size_mismatch", f"server sent more than {size} bytes")
                if not block:
                    block_started = time.monotonic()
                block.append(chunk)
                block_bytes += len(chunk)
                # Big blocks for speed; on a slow link, at least twice a second, so a crash
                # loses little.
                if block_bytes >= _WRITE_BLOCK or time.monotonic() - block_started >= 0.5:
                    hasher.submit(block)
                    writer.submit(block)
                    block, block_bytes = [], 0
                    self.pos = writer.pos
                    if time.monotonic() - self.last_record >= interval:
                        self._save_record()
                progress("downloading", received)  # cheap: the listener throttles
        except Stopped:
            stopped = True
            raise
        finally:
            # Whatever arrived is the file's bytes (the size check came first): keep it, and
            # hash it, since a retry in this run goes on with this hash. After a pause or
            # cancel the run ends (a later one re-hashes the file), so the hash is dropped.
            failure = writer.finish(block)
            self.pos = writer.pos
            hasher.finish(block, discard=stopped)
            self.hashed += hasher.hashed
            if failure is not None:
                raise disk_error(failure, self.part) from failure
        progress("downloading", self.pos)

    # --- the end -------------------------------------------------------------------------

    def _finish(self) -> TransferResult:
        assert self.fh is not None
        self.on_progress("verifying", self.pos)
        if self.pos != self.size:
            raise HubError("size_mismatch", f"{self.pos} bytes received, expected {self.size}")
        try:
            os.fsync(self.fh.fileno())
        except OSError as exc:
            raise disk_error(exc, self.part) from exc
        if self.hashed != self.pos:  # a digest of other bytes than the file's must not pass
            raise HubError("io_error", f"{self.hashed} bytes hashed, {self.pos} received")
        digest = self.hasher.hexdigest()
        if digest != self.sha256:
            log.info("download %s: sha256 %s, hub says %s", self.url, digest, self.sha256)
            raise HubError("checksum_mismatch", f"sha256 {digest}, expected {self.sha256}")
        self._close()
        # The folders could have been swapped for a symlink while the bytes came in.
        destination_path(self.spec.models_root, self.spec.repo_id, self.spec.filename)
        place_no_overwrite(self.part, self.dest)
        fsync_folder(self.dest.parent)
        with contextlib.suppress(FileNotFoundError):
            record_path(self.dest).unlink()
        return TransferResult(self.dest, self.resumed_from, self.restarts, self.reconnects)

    def _close(self) -> None:
        fh, self.fh = self.fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    def _save_record(
        self, *, sync: bool = False, required: bool = False, bytes_done: int | None = None
    ) -> None:
        self.last_record = time.monotonic()
        if not self.part.exists():
            return
        record = PartialRecord(
            repo_id=self.spec.repo_id,
            filename=self.spec.filename,
            revision=self.spec.revision,
            size=self.size,
            sha256=self.sha256,
            url=self.url,
            etag=self.etag,
            bytes_done=self.pos if bytes_done is None else bytes_done,
            updated=time.time(),
        )
        try:
            write_record(self.dest, record, sync=sync)
        except OSError as exc:
            if required:
                raise disk_error(exc, record_path(self.dest)) from exc
            # A full disk can refuse the record too; the previous one stays valid.
            log.info("could not update %s: %s", record_path(self.dest), exc)
