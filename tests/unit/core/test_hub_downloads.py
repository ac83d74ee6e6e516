"""Downloads from a real hub on loopback, under every fault the hub or the disk can produce.

The promise checked after each fault: either the verified file (its sha256 equals the hub's)
at ``models/<publisher>/<repo>/<file>``, or a typed error, and never a corrupt or misplaced
file. Nothing of huggingface_hub is mocked: the server is real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from desktop_app.core.hub import diskio
from desktop_app.core.hub import transfer as transfer_module
from desktop_app.core.hub.downloads import (
    DownloadManager,
    DownloadRequest,
    DownloadState,
    DownloadStatus,
)
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.partial import (
    DestinationLock,
    PartialRecord,
    part_path,
    read_record,
    record_path,
    write_record,
)
from desktop_app.core.hub.session import HubConfig
from desktop_app.core.hub.transfer import Control, TransferSettings, TransferSpec, transfer
from hub_server import HubServer, RepoFile

REPO = "org/Tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
FAST = TransferSettings(
    stall_timeout=1.0,
    connect_timeout=5.0,
    backoff_base=0.02,
    backoff_max=0.2,
    disk_margin=0,
    record_interval=0.02,
)


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from desktop_app.core.synthetic_model import write_model

    return write_model(tmp_path_factory.mktemp("hub") / "tiny.gguf", "tiny").read_bytes()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> Iterator[HubServer]:
    server = HubServer().start()
    repo = server.add_repo(REPO)
    repo.add(FILE, payload)
    repo.add("sub/tiny-Q8_0.gguf", payload[::-1])
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


@pytest.fixture
def models(app_home: Path) -> Path:
    return app_home / "models"


@pytest.fixture
def config(app_home: Path) -> HubConfig:
    return HubConfig.from_env(cache_dir=app_home / "cache" / "hub")


def hub_file(hub: HubServer, path: str = FILE, repo: str = REPO) -> RepoFile:
    return hub.repos[repo].files[path]


def spec_for(models: Path, f: RepoFile, repo: str = REPO, **kw: object) -> TransferSpec:
    values: dict[str, object] = {
        "models_root": models,
        "repo_id": repo,
        "filename": f.path,
        "revision": "main",
        "size": f.size,
        "sha256": f.sha256,
    }
    values.update(kw)
    return TransferSpec(**values)  # type: ignore[arg-type]


def files_under(folder: Path) -> set[str]:
    if not folder.exists():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def assert_verified(dest: Path, f: RepoFile) -> None:
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == f.sha256
    leftovers = {p.name for p in dest.parent.iterdir()} - {dest.name}
    assert not leftovers, leftovers


def assert_nothing_placed(models: Path, allowed_partial: bool) -> None:
    """No model file anywhere; at most the partial, its record and lock."""
    for rel in files_under(models):
        if allowed_partial and rel.endswith((".part", ".part.json", ".part.lock")):
            continue
        assert rel.endswith(".part.lock"), f"unexpected file {rel}"


def run(
    models: Path, config: HubConfig, f: RepoFile, **kw: object
) -> transfer_module.TransferResult:
    settings = kw.pop("settings", FAST)
    return transfer(spec_for(models, f, **kw), config, Control(), settings)  # type: ignore[arg-type]


# --- the plain path -----------------------------------------------------------------------


def test_download_lands_verified_in_lm_studio_layout(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    phases: list[str] = []
    result = transfer(spec_for(models, f), config, Control(), FAST, lambda p, _d: phases.append(p))
    assert result.path == models / "org" / "Tiny-GGUF" / FILE
    assert_verified(result.path, f)
    assert files_under(models) == {f"org/Tiny-GGUF/{FILE}"}
    assert phases[-1] == "verifying" and "downloading" in phases
    assert hub.range_starts(REPO, FILE) == [None]


def test_subfolder_in_repo_is_kept(hub: HubServer, models: Path, config: HubConfig) -> None:
    f = hub_file(hub, "sub/tiny-Q8_0.gguf")
    result = run(models, config, f)
    assert result.path == models / "org" / "Tiny-GGUF" / "sub" / "tiny-Q8_0.gguf"
    assert_verified(result.path, f)


def test_checksum_learned_from_hub_headers_when_listing_has_none(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    result = run(models, config, f, sha256=None)
    assert_verified(result.path, f)
    assert len(hub.file_requests(REPO, FILE, "HEAD")) == 1


def test_existing_same_size_file_is_reported_not_replaced(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    first = run(models, config, f)
    again = run(models, config, f)
    assert again.already_present and again.path == first.path
    assert len(hub.file_requests(REPO, FILE)) == 1


def test_different_file_at_destination_is_never_overwritten(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    dest = models / "org" / "Tiny-GGUF" / FILE
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"mine")
    with pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "exists"
    assert dest.read_bytes() == b"mine"


# --- network faults -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cut_connections_at_random_offsets_resume_with_range(
    hub: HubServer, models: Path, config: HubConfig, seed: int
) -> None:
    f = hub_file(hub)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, f.size // 4), 4))
    hub.fault(REPO, FILE).cut_at = cuts
    result = run(models, config, f)
    assert_verified(result.path, f)
    starts = hub.range_starts(REPO, FILE)
    assert starts[0] is None and len(starts) == 5
    assert all(s is not None and s > 0 for s in starts[1:])
    assert result.reconnects == 4 and result.restarts == 0


def test_stall_is_detected_and_reconnected(hub: HubServer, models: Path, config: HubConfig) -> None:
    f = hub_file(hub)
    faults = hub.fault(REPO, FILE)
    faults.stall_at = [f.size // 3]
    faults.stall_seconds = 10.0
    began = time.monotonic()
    result = run(models, config, f, settings=FAST)
    assert time.monotonic() - began < 8.0  # the 1 s stall timeout fired, not the 10 s stall
    assert_verified(result.path, f)
    assert hub.range_starts(REPO, FILE)[1] == f.size // 3


def test_corrupted_bytes_never_reach_the_models_folder(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    hub.fault(REPO, FILE).corrupt = True
    with pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "checksum_mismatch"
    assert_nothing_placed(models, allowed_partial=False)
    # The mismatch is not sticky: with a good server the retry succeeds from zero.
    hub.fault(REPO, FILE).corrupt = False
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert hub.range_starts(REPO, FILE)[-1] is None


def test_not_found_is_a_typed_error(hub: HubServer, models: Path, config: HubConfig) -> None:
    f = hub_file(hub)
    hub.fault(REPO, FILE).statuses = [404]
    with pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "not_found" and info.value.status == 404
    assert_nothing_placed(models, allowed_partial=True)


def test_429_and_500_are_retried_with_backoff(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    faults = hub.fault(REPO, FILE)
    faults.statuses = [429, 500, 503]
    faults.retry_after = "0"
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert len(hub.file_requests(REPO, FILE)) == 4


def test_persistent_500_gives_up_after_bounded_retries(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    hub.fault(REPO, FILE).statuses = [500] * 50
    with pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "server_error" and info.value.status == 500
    assert len(hub.file_requests(REPO, FILE)) == FAST.max_retries + 1
    assert_nothing_placed(models, allowed_partial=True)


def test_listing_that_lies_about_size_is_refused(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    for claimed in (f.size + 1000, f.size - 1000):
        with pytest.raises(HubError) as info:
            run(models, config, f, size=claimed)
        assert info.value.code == "size_mismatch"
        assert_nothing_placed(models, allowed_partial=False)


def test_server_sending_more_bytes_than_announced_is_refused(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    hub.fault(REPO, FILE).extra_bytes = 4096
    with pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "size_mismatch"
    assert_nothing_placed(models, allowed_partial=False)


def test_range_ignored_restarts_from_zero_correctly(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    faults = hub.fault(REPO, FILE)
    faults.cut_at = [f.size // 2]
    faults.ignore_range = True
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert result.restarts == 1
    assert hub.range_starts(REPO, FILE) == [None, f.size // 2]  # asked, got 200 instead


def test_416_on_a_stale_partial_starts_over(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    leave_partial(models, f, 1000)
    hub.fault(REPO, FILE).statuses = [416]
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert result.restarts == 1 and result.resumed_from == 1000


def test_complete_partial_from_a_crash_before_rename_is_finished(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    dest = models / "org" / "Tiny-GGUF" / FILE
    dest.parent.mkdir(parents=True)
    part_path(dest).write_bytes(f.data)  # type: ignore[arg-type]
    write_record(dest, _record(f, f.size))
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert result.resumed_from == f.size
    assert hub.file_requests(REPO, FILE) == []  # nothing left to fetch: no request at all


def test_partial_of_another_file_is_discarded(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    dest = models / "org" / "Tiny-GGUF" / FILE
    dest.parent.mkdir(parents=True)
    part_path(dest).write_bytes(b"\x00" * 5000)
    stale = _record(f, 5000)
    write_record(dest, PartialRecord(**{**stale.__dict__, "sha256": "0" * 64}))
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert result.resumed_from == 0 and hub.range_starts(REPO, FILE) == [None]


def test_partial_with_garbage_record_is_not_trusted(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    dest = models / "org" / "Tiny-GGUF" / FILE
    dest.parent.mkdir(parents=True)
    part_path(dest).write_bytes(b"\x00" * 5000)
    record_path(dest).write_text("{not json")
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert result.resumed_from == 0


def test_resume_after_restart_rehashes_and_continues(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    """A run that gave up (here: no retries allowed) leaves a partial the next run continues."""
    f = hub_file(hub)
    hub.fault(REPO, FILE).cut_at = [f.size // 2]
    no_retry = TransferSettings(**{**FAST.__dict__, "max_retries": 0})
    with pytest.raises(HubError) as info:
        run(models, config, f, settings=no_retry)
    assert info.value.code == "network"
    dest = models / "org" / "Tiny-GGUF" / FILE
    assert part_path(dest).stat().st_size == f.size // 2
    record = read_record(dest)
    assert record is not None and record.bytes_done == f.size // 2
    assert not dest.exists()
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert result.resumed_from == f.size // 2
    assert hub.range_starts(REPO, FILE)[-1] == f.size // 2


def test_resumed_partial_with_corrupted_bytes_fails_the_checksum(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    """Bytes damaged on disk between runs are caught by the re-hash, never promoted."""
    f = hub_file(hub)
    dest = models / "org" / "Tiny-GGUF" / FILE
    dest.parent.mkdir(parents=True)
    damaged = bytearray(f.data[: f.size // 2])  # type: ignore[index]
    damaged[100] ^= 0xFF
    part_path(dest).write_bytes(bytes(damaged))
    write_record(dest, _record(f, len(damaged)))
    with pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "checksum_mismatch"
    assert_nothing_placed(models, allowed_partial=False)


# --- disk ------------------------------------------------------------------------------------


def test_free_disk_is_checked_before_any_request(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    greedy = TransferSettings(**{**FAST.__dict__, "disk_margin": 1 << 60})
    with pytest.raises(HubError) as info:
        run(models, config, f, settings=greedy)
    assert info.value.code == "no_space"
    assert info.value.needed is not None and info.value.available is not None
    assert info.value.needed > info.value.available
    assert hub.file_requests(REPO, FILE) == []


def test_disk_full_mid_write_keeps_the_partial_for_resume(
    hub: HubServer, models: Path, config: HubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = hub_file(hub)
    real_write = diskio.write_chunks
    written = {"n": 0}

    def filling_write(fh: BinaryIO, chunks: list[bytes]) -> None:
        size = sum(len(c) for c in chunks)
        # The disk fills after the first write (a busy machine may batch several blocks into
        # one write, so "a third of the file" is only a target, not a guarantee).
        if written["n"] > 0 and written["n"] + size > f.size // 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written["n"] += size
        real_write(fh, chunks)

    monkeypatch.setattr(transfer_module, "_WRITE_BLOCK", 256 * 1024)
    monkeypatch.setattr(diskio, "write_chunks", filling_write)
    with pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "disk_full"
    dest = models / "org" / "Tiny-GGUF" / FILE
    kept = part_path(dest).stat().st_size
    assert 0 < kept < f.size and not dest.exists()
    assert kept == written["n"]  # cut back to the last whole block
    assert read_record(dest) is not None

    monkeypatch.setattr(diskio, "write_chunks", real_write)
    result = run(models, config, f)
    assert_verified(result.path, f)
    assert result.resumed_from == kept and hub.range_starts(REPO, FILE)[-1] == kept


def _can_mount_tmpfs(where: Path) -> bool:
    if os.name != "posix" or os.geteuid() != 0:
        return False
    where.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def test_real_full_disk_mid_write(
    hub: HubServer, tmp_path: Path, config: HubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a 2 MiB tmpfs (root only): the real ENOSPC, not a simulated one."""
    small = tmp_path / "small-disk"
    if not _can_mount_tmpfs(small):
        pytest.skip("needs root and tmpfs to make a tiny disk")
    monkeypatch.setattr(transfer_module, "_WRITE_BLOCK", 256 * 1024)
    try:
        f = hub_file(hub)
        assert f.size > 2 * 1024 * 1024
        # A negative margin lets the pre-check pass so the disk really fills up.
        optimist = TransferSettings(**{**FAST.__dict__, "disk_margin": -f.size})
        with pytest.raises(HubError) as info:
            run(small, config, f, settings=optimist)
        assert info.value.code == "disk_full"
        dest = small / "org" / "Tiny-GGUF" / FILE
        assert part_path(dest).stat().st_size > 0 and not dest.exists()
    finally:
        subprocess.run(["umount", str(small)], check=False)


# --- security and environment ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "..\\..\\x.gguf",
        "C:\\x.gguf",
        "\\\\host\\s\\x.gguf",
        "/etc/passwd",
        "D:foo.gguf",
        "x\u202e.gguf",
        "NUL.gguf",
        "a" * 300 + ".gguf",
        "../../escape.gguf",
    ],
)
def test_hostile_names_never_touch_the_disk_or_network(
    hub: HubServer, models: Path, config: HubConfig, tmp_path: Path, name: str
) -> None:
    hub.repos[REPO].add(name, b"GGUF evil")
    manager = DownloadManager(models, config=config, settings=FAST)
    try:
        with pytest.raises(HubError) as info:
            manager.add(DownloadRequest(REPO, name, 9, "0" * 64))
        assert info.value.code == "bad_file_name"
        with pytest.raises(HubError):
            transfer(spec_for(models, hub.repos[REPO].files[name]), config, Control(), FAST)
    finally:
        manager.close()
    assert not models.exists()
    assert hub.requests == []
    assert not (tmp_path / "escape.gguf").exists() and not (tmp_path.parent / "x.gguf").exists()


def test_offline_opens_no_connection(
    hub: HubServer, models: Path, monkeypatch: pytest.MonkeyPatch, app_home: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = HubConfig.from_env(cache_dir=app_home / "cache")
    with pytest.raises(HubError) as info:
        run(models, config, hub_file(hub))
    assert info.value.code == "offline"
    assert hub.requests == []


def test_token_is_sent_and_required(
    hub: HubServer, models: Path, monkeypatch: pytest.MonkeyPatch, app_home: Path
) -> None:
    repo = hub.add_repo("private/Secret-GGUF", token="hf_testtoken123", gated="auto")
    f = repo.add("secret-Q8_0.gguf", b"GGUF" + bytes(range(256)) * 64)
    config = HubConfig.from_env(cache_dir=app_home / "cache")
    with pytest.raises(HubError) as info:
        run(models, config, f, repo="private/Secret-GGUF")
    assert info.value.code == "gated" and info.value.status == 401
    monkeypatch.setenv("HF_TOKEN", "wrong")
    with pytest.raises(HubError) as info:
        run(models, config, f, repo="private/Secret-GGUF", sha256=None)  # HEAD refused too
    assert info.value.code == "gated"
    monkeypatch.setenv("HF_TOKEN", "hf_testtoken123")
    result = run(models, config, f, repo="private/Secret-GGUF")
    assert_verified(result.path, f)


def test_stored_token_is_used_like_the_hub_does(
    hub: HubServer, models: Path, monkeypatch: pytest.MonkeyPatch, app_home: Path
) -> None:
    """The token ``hf auth login`` stores (in this test session's own HF_HOME)."""
    from huggingface_hub import constants

    repo = hub.add_repo("private/Stored-GGUF", token="hf_storedtoken456")
    f = repo.add("stored-Q8_0.gguf", b"GGUF" + bytes(range(256)) * 100)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    token_file = Path(constants.HF_TOKEN_PATH)
    # conftest points HF_HOME at a temp dir before huggingface_hub is imported: never the
    # real home's token.
    assert token_file.is_relative_to(os.environ["HF_HOME"])
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text("hf_storedtoken456")
    try:
        config = HubConfig.from_env(cache_dir=app_home / "cache")
        result = run(models, config, f, repo="private/Stored-GGUF")
    finally:
        token_file.unlink()
    assert_verified(result.path, f)


def test_token_is_not_sent_to_the_cdn_after_a_redirect(
    hub: HubServer, models: Path, monkeypatch: pytest.MonkeyPatch, app_home: Path
) -> None:
    repo = hub.add_repo("private/Secret-GGUF", token="hf_testtoken123", gated="auto")
    f = repo.add("secret-Q8_0.gguf", b"GGUF" + bytes(range(256)) * 4000)
    with HubServer() as cdn:
        cdn.add_repo("private/Secret-GGUF", commit=repo.commit).add(f.path, f.data)
        hub.fault(repo.repo_id, f.path).redirect = cdn.url
        monkeypatch.setenv("HF_TOKEN", "hf_testtoken123")
        config = HubConfig.from_env(cache_dir=app_home / "cache")
        result = run(models, config, f, repo="private/Secret-GGUF")
        assert_verified(result.path, f)
        (asked,) = hub.file_requests(repo.repo_id, f.path)
        (served,) = cdn.file_requests(repo.repo_id, f.path)
    assert asked.headers["authorization"] == "Bearer hf_testtoken123"
    assert "authorization" not in served.headers  # another origin: the token stays home


def test_second_process_on_the_same_file_is_refused(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    dest = models / "org" / "Tiny-GGUF" / FILE
    dest.parent.mkdir(parents=True)
    with DestinationLock(dest), pytest.raises(HubError) as info:
        run(models, config, f)
    assert info.value.code == "busy"
    result = run(models, config, f)  # released: works
    assert_verified(result.path, f)


# --- the manager ----------------------------------------------------------------------------


class Events:
    def __init__(self) -> None:
        self.items: list[DownloadStatus] = []
        self.lock = threading.Lock()

    def __call__(self, status: DownloadStatus) -> None:
        with self.lock:
            self.items.append(status)

    def states(self, task_id: int) -> list[DownloadState]:
        with self.lock:
            rows = [s.state for s in self.items if s.task_id == task_id]
        return [s for i, s in enumerate(rows) if i == 0 or rows[i - 1] != s]


def test_queue_runs_files_in_parallel_and_reports_progress(
    hub: HubServer, models: Path, config: HubConfig, payload: bytes
) -> None:
    repo = hub.repos[REPO]
    names = [f"many-{i}-Q4_K_M.gguf" for i in range(4)]
    for i, name in enumerate(names):
        repo.add(name, payload[i:] + payload[:i])
        hub.fault(REPO, name).rate = 12_000_000  # ~0.3 s each
    events = Events()
    manager = DownloadManager(models, config=config, settings=FAST, max_parallel=2)
    manager.add_listener(events)
    try:
        ids = [
            manager.add(DownloadRequest(REPO, n, repo.files[n].size, repo.files[n].sha256))
            for n in names
        ]
        finals = [manager.wait(i, timeout=30) for i in ids]
    finally:
        manager.close()
    assert [s.state for s in finals] == [DownloadState.DONE] * 4
    for name in names:
        assert_verified_file(models / "org" / "Tiny-GGUF" / name, repo.files[name])
    states = events.states(ids[0])
    # A free slot may start the first file before its "queued" report goes out.
    assert states[0] in (DownloadState.QUEUED, DownloadState.DOWNLOADING)
    assert states[-1] is DownloadState.DONE
    assert DownloadState.DOWNLOADING in states
    speeds = [s.speed for s in events.items if s.state is DownloadState.DOWNLOADING]
    assert max(speeds) > 0
    # Throttled: a few events per task and second, not one per network chunk.
    assert len(events.items) < 4 * 40


def assert_verified_file(path: Path, f: RepoFile) -> None:
    assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256


def test_pause_resume_and_cancel(hub: HubServer, models: Path, config: HubConfig) -> None:
    f = hub_file(hub)
    hub.fault(REPO, FILE).rate = 2_000_000  # ~1.7 s for the whole file
    manager = DownloadManager(models, config=config, settings=FAST)
    dest = models / "org" / "Tiny-GGUF" / FILE
    try:
        task = manager.add(DownloadRequest(REPO, FILE, f.size, f.sha256))
        _wait_for_bytes(manager, task, f.size // 4)
        manager.pause(task)
        paused = manager.wait(task, timeout=10)
        assert paused.state is DownloadState.PAUSED
        assert part_path(dest).stat().st_size >= f.size // 4 and not dest.exists()

        hub.fault(REPO, FILE).rate = None
        manager.resume(task)
        done = manager.wait(task, timeout=20)
        while done.state is DownloadState.PAUSED:  # resume is queued: wait past the pause
            time.sleep(0.05)
            done = manager.wait(task, timeout=20)
        assert done.state is DownloadState.DONE and done.resumed_from > 0
        assert_verified(dest, f)
        assert hub.range_starts(REPO, FILE)[-1] == done.resumed_from

        other = hub_file(hub, "sub/tiny-Q8_0.gguf")
        hub.fault(REPO, other.path).rate = 1_000_000
        task2 = manager.add(DownloadRequest(REPO, other.path, other.size, other.sha256))
        _wait_for_bytes(manager, task2, 100_000)
        manager.cancel(task2)
        cancelled = manager.wait(task2, timeout=10)
        assert cancelled.state is DownloadState.CANCELLED
    finally:
        manager.close()
    other_dest = models / "org" / "Tiny-GGUF" / "sub" / "tiny-Q8_0.gguf"
    assert list(other_dest.parent.iterdir()) == []


def _wait_for_bytes(manager: DownloadManager, task: int, n: int) -> None:
    deadline = time.monotonic() + 20
    while manager.status(task).done < n:
        assert time.monotonic() < deadline, manager.status(task)
        time.sleep(0.01)


def test_pause_during_a_stall_is_immediate(hub: HubServer, models: Path, config: HubConfig) -> None:
    """A stalled read is interrupted by pause, not waited out (stall timeout 30 s here)."""
    f = hub_file(hub)
    faults = hub.fault(REPO, FILE)
    faults.stall_at = [f.size // 2]
    faults.stall_seconds = 20.0
    patient = TransferSettings(**{**FAST.__dict__, "stall_timeout": 30.0})
    manager = DownloadManager(models, config=config, settings=patient)
    try:
        task = manager.add(DownloadRequest(REPO, FILE, f.size, f.sha256))
        _wait_for_bytes(manager, task, f.size // 2)
        time.sleep(0.2)  # now blocked reading the stalled connection
        began = time.monotonic()
        manager.pause_all()
        paused = manager.wait(task, timeout=10)
        assert paused.state is DownloadState.PAUSED
        assert time.monotonic() - began < 2.0
        assert paused.error is None
    finally:
        manager.close()
    dest = models / "org" / "Tiny-GGUF" / FILE
    assert part_path(dest).stat().st_size == f.size // 2


def test_pause_while_checking_a_partial_keeps_it(
    hub: HubServer, models: Path, config: HubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = hub_file(hub)
    dest = leave_partial(models, f, 3_000_000)
    monkeypatch.setattr(transfer_module, "_REHASH_CHUNK", 64 * 1024)
    control = Control()

    def pause_while_checking(phase: str, done: int) -> None:
        if phase == "checking" and done >= 1_000_000:
            control.stop("pause")

    with pytest.raises(transfer_module.Stopped):
        transfer(spec_for(models, f), config, control, FAST, pause_while_checking)
    assert part_path(dest).stat().st_size == 3_000_000
    record = read_record(dest)
    assert record is not None and record.bytes_done == 3_000_000
    assert hub.file_requests(REPO, FILE) == []


def test_cancel_a_paused_task_deletes_its_partial(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    dest = leave_partial(models, f, 500_000)
    manager = DownloadManager(models, config=config, settings=FAST)
    try:
        (task,) = manager.restore()
        manager.cancel(task)
        assert manager.status(task).state is DownloadState.CANCELLED
    finally:
        manager.close()
    assert list(dest.parent.iterdir()) == []
    assert hub.requests == []


def test_failed_task_reports_typed_error_and_can_be_retried(
    hub: HubServer, models: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    hub.fault(REPO, FILE).corrupt = True
    manager = DownloadManager(models, config=config, settings=FAST)
    try:
        task = manager.add(DownloadRequest(REPO, FILE, f.size, f.sha256))
        failed = manager.wait(task, timeout=20)
        assert failed.state is DownloadState.FAILED
        assert isinstance(failed.error, HubError) and failed.error.code == "checksum_mismatch"
        hub.fault(REPO, FILE).corrupt = False
        manager.retry(task)
        time.sleep(0.01)
        assert manager.wait(task, timeout=20).state is DownloadState.DONE
    finally:
        manager.close()
    assert_verified(models / "org" / "Tiny-GGUF" / FILE, f)


@pytest.mark.parametrize("moved", [False, True], ids=["same-folder", "folder-moved-since"])
def test_restore_lists_partials_left_by_an_earlier_run(
    hub: HubServer, models: Path, tmp_path: Path, config: HubConfig, moved: bool
) -> None:
    f = hub_file(hub)
    dest = leave_partial(models, f, 700_000)
    # Moved: the user put another folder first and restarted; the old one is a models folder
    # still, and the download resumes there.
    root, others = (tmp_path / "bigger disk", [models]) if moved else (models, [])
    manager = DownloadManager(root, config=config, settings=FAST)
    try:
        if moved:
            assert manager.restore() == []  # the folder in effect alone does not have it
        (task,) = manager.restore(others)
        status = manager.status(task)
        assert status.state is DownloadState.PAUSED and status.done == 700_000
        assert status.dest == dest
        manager.resume(task)
        time.sleep(0.01)
        final = manager.wait(task, timeout=20)
        assert final.state is DownloadState.DONE and final.resumed_from == 700_000
    finally:
        manager.close()
    assert_verified(dest, f)  # finished where it started
    assert hub.range_starts(REPO, FILE) == [700_000]


def leave_partial(models: Path, f: RepoFile, done: int) -> Path:
    """The first ``done`` bytes of ``f`` and their record, as a paused or cut run leaves them;
    returns the destination."""
    dest = models / "org" / "Tiny-GGUF" / FILE
    dest.parent.mkdir(parents=True)
    part_path(dest).write_bytes(f.data[:done])  # type: ignore[index]
    write_record(dest, _record(f, done))
    return dest


def _record(f: RepoFile, done: int) -> PartialRecord:
    return PartialRecord(
        repo_id=REPO,
        filename=f.path,
        revision="main",
        size=f.size,
        sha256=f.sha256,
        url="",
        etag=None,
        bytes_done=done,
        updated=time.time(),
    )


def test_a_new_models_folder_takes_new_downloads_and_leaves_listed_ones(
    hub: HubServer, models: Path, tmp_path: Path, config: HubConfig
) -> None:
    f = hub_file(hub)
    manager = DownloadManager(models, config=config, settings=FAST)
    moved = tmp_path / "bigger disk" / "models"
    try:
        before = manager.add(DownloadRequest(REPO, FILE, f.size, f.sha256), start=False)
        manager.set_models_root(moved)
        after = manager.add(DownloadRequest(REPO, "sub/tiny-Q8_0.gguf", 9, "0" * 64), start=False)
        assert manager.status(before).dest == models / "org" / "Tiny-GGUF" / FILE
        assert manager.status(after).dest == moved / "org" / "Tiny-GGUF" / "sub" / "tiny-Q8_0.gguf"
        # Asked for again, the same file goes to the new folder, as a task of its own.
        again = manager.add(DownloadRequest(REPO, FILE, f.size, f.sha256), start=False)
        assert again != before and manager.status(again).dest == moved / "org" / "Tiny-GGUF" / FILE
        # Started after the switch, the task listed before it still lands where it said.
        manager.resume(before)
        time.sleep(0.01)
        assert manager.wait(before, timeout=20).state is DownloadState.DONE
    finally:
        manager.close()
    assert_verified(models / "org" / "Tiny-GGUF" / FILE, f)
    assert not (moved / "org" / "Tiny-GGUF" / FILE).exists()
