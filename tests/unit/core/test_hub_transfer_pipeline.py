"""The download's fast path: the body read from the connection, hashed and written on threads.

``BodyReader`` against the real loopback hub (nothing of httpx2 or huggingface_hub mocked):
the bytes are the file's, a connection left mid-body is never reused, a cut or stalled
connection raises httpx2's own errors. ``BlockHasher`` and ``write_chunks`` on their own, then
a whole transfer stopped while the hashing thread is busy.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from desktop_app.core.hub.blockhash import BlockHasher
from desktop_app.core.hub.body import BodyReader
from desktop_app.core.hub.control import hang_up
from desktop_app.core.hub.diskio import WRITE_PIECE, write_chunks
from desktop_app.core.hub.partial import part_path, read_record
from desktop_app.core.hub.session import HubConfig, http_client
from desktop_app.core.hub.transfer import (
    Control,
    ProgressFn,
    Stopped,
    TransferSettings,
    TransferSpec,
    transfer,
)
from hub_server import HubServer

REPO = "org/Pipeline-GGUF"
BIG = "big.gguf"
SMALL = "small.gguf"
FAST = TransferSettings(
    stall_timeout=1.0, connect_timeout=5.0, backoff_base=0.02, backoff_max=0.2, disk_margin=0
)


@pytest.fixture(scope="module")
def big_payload() -> bytes:
    return os.urandom(12 * 1024 * 1024 + 12345)  # many reads, and not a multiple of any


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, big_payload: bytes) -> Iterator[HubServer]:
    server = HubServer().start()
    repo = server.add_repo(REPO)
    repo.add(BIG, big_payload)
    repo.add(SMALL, big_payload[:3000])
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


def url_of(hub: HubServer, name: str) -> str:
    return f"{hub.url}/{REPO}/resolve/main/{name}"


def read_into(
    received: bytearray,
    hub: HubServer,
    name: str,
    timeout: float = 5.0,
    meanwhile: Callable[[httpx2.Response], None] | None = None,
) -> BodyReader:
    """GET ``name`` and append its body to ``received`` as it comes."""
    headers = {"Accept-Encoding": "identity"}
    with http_client().stream("GET", url_of(hub, name), headers=headers) as resp:
        assert resp.status_code == 200
        if meanwhile is not None:
            meanwhile(resp)
        reader = BodyReader(resp, timeout)
        for chunk in reader:
            received += chunk
    return reader


def read_body(hub: HubServer, name: str) -> tuple[bytes, BodyReader]:
    received = bytearray()
    reader = read_into(received, hub, name)
    return bytes(received), reader


def open_connections(hub: HubServer, expected: int) -> int:
    """The server's open connections, once they settle at ``expected`` (or after 3 s)."""
    deadline = time.monotonic() + 3
    while True:
        with hub.lock:
            count = len(hub.connections)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.01)


# --- BodyReader ----------------------------------------------------------------------------


def test_body_is_read_from_the_connection_and_the_connection_is_not_reused(
    hub: HubServer, big_payload: bytes
) -> None:
    data, reader = read_body(hub, BIG)
    assert data == big_payload
    # Most of the body came straight from the network stream, not through h11.
    assert reader.direct_bytes > len(big_payload) // 2
    # h11 still thinks that body unfinished: httpcore must have closed the connection.
    assert open_connections(hub, 0) == 0
    again, _ = read_body(hub, BIG)  # the client goes on working with a new connection
    assert again == big_payload
    assert len(hub.file_requests(REPO, BIG)) == 2


def test_body_that_came_with_the_headers_keeps_the_connection_for_reuse(hub: HubServer) -> None:
    data, reader = read_body(hub, SMALL)
    assert data == hub.repos[REPO].files[SMALL].data
    assert reader.direct_bytes == 0  # read whole by h11: the connection went back to the pool
    assert open_connections(hub, 1) == 1


def test_cut_connection_mid_body_raises_a_transport_error(
    hub: HubServer, big_payload: bytes
) -> None:
    cut = 5 * 1024 * 1024 + 7
    hub.fault(REPO, BIG).cut_at = [cut]
    received = bytearray()
    with pytest.raises(httpx2.TransportError):  # the transfer retries, as after iter_raw's
        read_into(received, hub, BIG)
    assert bytes(received) == big_payload[:cut]


def test_stalled_connection_raises_read_timeout_after_the_timeout(
    hub: HubServer, big_payload: bytes
) -> None:
    faults = hub.fault(REPO, BIG)
    faults.stall_at = [4 * 1024 * 1024]
    faults.stall_seconds = 10.0
    received = bytearray()
    began = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        read_into(received, hub, BIG, timeout=0.5)
    assert time.monotonic() - began < 5.0  # the 0.5 s timeout fired, not the 10 s stall
    assert bytes(received) == big_payload[: len(received)]
    assert len(received) == 4 * 1024 * 1024


def test_a_listener_stopping_the_read_from_another_thread_ends_it_at_once(
    hub: HubServer,
) -> None:
    """What pause does: shut the socket while a read waits on a stalled connection."""
    faults = hub.fault(REPO, BIG)
    faults.stall_at = [2 * 1024 * 1024]
    faults.stall_seconds = 10.0
    timers: list[threading.Timer] = []

    def hang_up_soon(resp: httpx2.Response) -> None:
        timer = threading.Timer(0.3, hang_up, (resp,))
        timers.append(timer)
        timer.start()

    received = bytearray()
    began = time.monotonic()
    with pytest.raises(httpx2.TransportError):
        read_into(received, hub, BIG, timeout=30.0, meanwhile=hang_up_soon)
    assert time.monotonic() - began < 5.0  # not the 10 s stall, nor the 30 s timeout
    assert len(received) == 2 * 1024 * 1024
    timers[0].join()


def test_body_through_tls_is_read_from_the_tls_stream(
    hub: HubServer, big_payload: bytes, tmp_path: Path
) -> None:
    """Over HTTPS the direct reads go through the TLS stream httpx2 opened (decrypted, the
    certificate checked), never the bare socket."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    httpd = hub._httpd
    assert httpd is not None
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    url = url_of(hub, BIG).replace("http://", "https://")
    client_ctx = ssl.create_default_context(cafile=str(cert))
    received = bytearray()
    with httpx2.Client(verify=client_ctx) as client, client.stream("GET", url) as resp:
        assert resp.status_code == 200
        reader = BodyReader(resp, 5.0)
        for chunk in reader:
            received += chunk
    assert bytes(received) == big_payload
    assert reader.direct_bytes > len(big_payload) // 2
    with httpx2.Client() as untrusting, pytest.raises(httpx2.ConnectError):
        untrusting.get(url)  # the certificate is checked: TLS is really in the way


# --- BlockHasher ---------------------------------------------------------------------------


class SlowHash:
    """A real hash that takes its time, to catch the hashing thread mid-work."""

    def __init__(self, delay: float, fail_at: int | None = None) -> None:
        self.inner = hashlib.sha256()
        self.delay = delay
        self.fail_at = fail_at
        self.calls = 0

    def update(self, data: bytes, /) -> None:
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise MemoryError("hash failed")
        time.sleep(self.delay)
        self.inner.update(data)


def test_block_hasher_hashes_every_byte_in_order() -> None:
    blocks = [[os.urandom(n) for n in (5000, 1, 70000)] for _ in range(20)]
    expected = hashlib.sha256(b"".join(b"".join(block) for block in blocks)).hexdigest()
    digest = hashlib.sha256()
    hasher = BlockHasher(digest, depth=2)  # a small queue: the producer waits on it
    for block in blocks[:-1]:
        hasher.submit(block)
    hasher.finish(blocks[-1])
    assert digest.hexdigest() == expected
    assert hasher.hashed == sum(len(c) for block in blocks for c in block)


def test_block_hasher_error_is_raised_and_later_blocks_are_not_hashed() -> None:
    slow = SlowHash(0.0, fail_at=2)
    hasher = BlockHasher(slow, depth=1)
    hasher.submit([b"a" * 4096])
    hasher.submit([b"b" * 4096])  # fails in the thread
    deadline = time.monotonic() + 5
    while hasher.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(MemoryError):  # the error reaches the producer at its next submit
        hasher.submit([b"c" * 4096])
    with pytest.raises(MemoryError):
        hasher.finish([b"d"])
    assert hasher.hashed == 4096 and slow.calls == 2
    assert not hasher._thread.is_alive()


def test_block_hasher_discard_stops_without_hashing_what_is_queued() -> None:
    slow = SlowHash(0.2)
    hasher = BlockHasher(slow, depth=8)
    for _ in range(8):
        hasher.submit([b"x" * 4096])
    began = time.monotonic()
    hasher.finish([b"y" * 4096], discard=True)
    assert time.monotonic() - began < 0.6  # the block being hashed, not all nine (1.8 s)
    assert hasher.hashed < 3 * 4096
    assert not hasher._thread.is_alive()


# --- write_chunks --------------------------------------------------------------------------


def test_write_chunks_writes_every_size_in_order(tmp_path: Path) -> None:
    sizes = [16384] * 40 + [0, 1, WRITE_PIECE, WRITE_PIECE + 1, 3 * WRITE_PIECE - 5, 7]
    chunks = [os.urandom(n) for n in sizes]  # TLS-sized, empty, and larger than a piece
    path = tmp_path / "out.bin"
    with open(path, "wb", buffering=0) as fh:
        fh.write(b"head")
        write_chunks(fh, chunks)
        write_chunks(fh, [b"tail"])
    assert path.read_bytes() == b"head" + b"".join(chunks) + b"tail"


# --- the whole transfer ----------------------------------------------------------------------


def test_cancel_and_pause_while_the_hashing_thread_is_busy(
    hub: HubServer, big_payload: bytes, app_home: Path
) -> None:
    """Stopped mid-download: no thread left behind, the partial gone (cancel) or kept
    (pause), and the resumed run ends with the verified file."""
    models = app_home / "models"
    config = HubConfig.from_env(cache_dir=app_home / "cache")
    sha = hashlib.sha256(big_payload).hexdigest()
    spec = TransferSpec(models, REPO, BIG, "main", len(big_payload), sha)
    hub.fault(REPO, BIG).rate = 8_000_000  # 1.5 s for the whole file
    dest = models / "org" / "Pipeline-GGUF" / BIG

    def stop_at(control: Control, reason: str, at: int) -> ProgressFn:
        def on_progress(phase: str, done: int) -> None:
            if phase == "downloading" and done >= at:
                control.stop(reason)

        return on_progress

    def download_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("download-")]

    for reason in ("cancel", "pause"):
        control = Control()
        with pytest.raises(Stopped) as stopped:
            transfer(spec, config, control, FAST, stop_at(control, reason, 6 * 1024 * 1024))
        assert stopped.value.reason == reason
        assert download_threads() == []  # writer and hasher joined
        assert not dest.exists()
        if reason == "cancel":
            assert not part_path(dest).exists()
    on_disk = part_path(dest).read_bytes()
    assert len(on_disk) >= 4 * 1024 * 1024 and big_payload.startswith(on_disk)
    record = read_record(dest)
    assert record is not None and record.bytes_done == len(on_disk)

    hub.fault(REPO, BIG).rate = None
    result = transfer(spec, config, Control(), FAST)
    assert result.path == dest and result.resumed_from == len(on_disk)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
    assert not part_path(dest).exists()
