"""`quantdesk search`, `files` and `download` as a user runs them, against a loopback hub.

The CLI runs in a real subprocess with HF_ENDPOINT pointing at the test server; the last test
kills a downloading process with SIGKILL and checks the next run resumes from the partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.synthetic_model import write_model
from hub_server import HubServer

pytestmark = pytest.mark.integration

REPO = "bartowski/Tiny-GGUF"


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("cli-hub")
    return {
        "a": write_model(folder / "a.gguf", "tiny").read_bytes(),
        "b": write_model(folder / "b.gguf", "tiny", seed=3).read_bytes(),
    }


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, payload: dict[str, bytes]) -> Iterator[HubServer]:
    server = HubServer().start()
    repo = server.add_repo(REPO, downloads=1234, likes=5, card_data={"license": "apache-2.0"})
    repo.add("Tiny-Q4_K_M.gguf", payload["a"])
    repo.add("Tiny-Q8_0.gguf", payload["b"])
    repo.add("Q6_K/Tiny-Q6_K-00001-of-00002.gguf", payload["a"])
    repo.add("Q6_K/Tiny-Q6_K-00002-of-00002.gguf", payload["b"][:4096])
    repo.add("README.md", b"# Tiny\n\nA <b>tiny</b> test model for the command line.\n", lfs=False)
    repo.add("..\\..\\evil.gguf", b"x", served=False)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("quantdesk: ")
    for word in words:
        assert word in lines[0], lines[0]


def test_search_table_json_and_offline(hub: HubServer) -> None:
    proc = cli("search", "tiny")
    assert proc.returncode == 0, proc.stderr
    assert REPO in proc.stdout and "1.2K" in proc.stdout

    proc = cli("search", "tiny", "--json", "--limit", "5")
    data = json.loads(proc.stdout)
    assert data["source"] == "hub" and [m["repo_id"] for m in data["models"]] == [REPO]
    again = json.loads(cli("search", "tiny", "--json", "--limit", "5").stdout)
    assert again["source"] == "cache" and again["models"] == data["models"]  # fresh: no request
    assert len(hub.api_requests()) == 2

    proc = cli("search", "tiny", "--json", "--offline")
    data = json.loads(proc.stdout)
    assert data["source"] == "cache" and data["offline"] and data["models"][0]["repo_id"] == REPO

    before = len(hub.requests)
    proc = cli("search", "gemma", "--offline")
    assert proc.returncode == 0 and "curated catalog" in proc.stdout
    assert "gemma-2-2b-it-GGUF" in proc.stdout
    assert len(hub.requests) == before  # offline: no connection at all


def test_files_lists_quants_with_fit_verdicts(hub: HubServer, payload: dict[str, bytes]) -> None:
    proc = cli("files", REPO, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [f["quant"] for f in data["files"]] == ["Q8_0", "Q6_K", "Q4_K_M"]
    q6 = data["files"][1]
    assert q6["shards"] == 2 and q6["size"] == len(payload["a"]) + 4096
    assert all(f["verdict"] == "fits" for f in data["files"])
    assert data["kv_included"] and data["recommended"] == "Tiny-Q8_0.gguf"
    assert all(f["memory"]["kv_cache"] > 0 for f in data["files"])
    assert data["rejected"][0]["name"] == "..\\\\..\\\\evil.gguf"
    assert data["card"]["license"] == "apache-2.0"
    assert data["card"]["summary"] == "A tiny test model for the command line."

    longer = json.loads(cli("files", REPO, "--json", "--ctx", "32768").stdout)
    assert longer["files"][0]["memory"]["kv_cache"] > data["files"][0]["memory"]["kv_cache"]

    proc = cli("files", REPO)
    assert proc.returncode == 0
    assert "* Q8_0" in proc.stdout and "fits" in proc.stdout and "(+1 parts)" in proc.stdout
    assert "refused unsafe file name" in proc.stdout


def test_files_errors_are_one_line(hub: HubServer) -> None:
    assert_one_line_error(cli("files", "nobody/Missing-GGUF"), "not found")
    assert_one_line_error(cli("files", "../etc"), "not a valid Hugging Face repo id")
    assert_one_line_error(cli("files", "nobody/Missing-GGUF", "--offline"), "offline")


def test_download_verifies_and_reports(hub: HubServer, app_home: Path) -> None:
    a = hub.repos[REPO].files["Tiny-Q4_K_M.gguf"]
    proc = cli("download", REPO, "Tiny-Q4_K_M.gguf")
    assert proc.returncode == 0, proc.stderr
    dest = app_home / "models" / "bartowski" / "Tiny-GGUF" / "Tiny-Q4_K_M.gguf"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == a.sha256
    assert "sha256 verified" in proc.stdout and "verifying" in proc.stdout

    again = cli("download", REPO, "Q4_K_M")
    assert again.returncode == 0 and "already there" in again.stdout
    assert len(hub.file_requests(REPO, "Tiny-Q4_K_M.gguf")) == 1


def test_download_split_variant_by_label_into_dir(hub: HubServer, tmp_path: Path) -> None:
    proc = cli("download", REPO, "q6_k", "--dir", str(tmp_path / "lib"))
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "lib" / "bartowski" / "Tiny-GGUF" / "Q6_K"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Tiny-Q6_K-00001-of-00002.gguf",
        "Tiny-Q6_K-00002-of-00002.gguf",
    ]


def test_download_refusals_and_failures(hub: HubServer, app_home: Path, tmp_path: Path) -> None:
    models = app_home / "models"
    assert_one_line_error(cli("download", REPO, "..\\..\\evil.gguf"), "unsafe")
    assert_one_line_error(cli("download", REPO, "/etc/passwd"), "unsafe")
    assert_one_line_error(cli("download", REPO, "IQ1_S"), "not in the repo")
    hub.fault(REPO, "Tiny-Q8_0.gguf").corrupt = True
    assert_one_line_error(cli("download", REPO, "Tiny-Q8_0.gguf"), "sha256")
    hub.fault(REPO, "Tiny-Q8_0.gguf").corrupt = False
    hub.fault(REPO, "Tiny-Q8_0.gguf").statuses = [404]
    assert_one_line_error(cli("download", REPO, "Tiny-Q8_0.gguf"), "not found")
    leftovers = [p for p in models.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert leftovers == []
    assert not (tmp_path / "evil.gguf").exists()


def test_killed_download_resumes_from_the_partial_file(hub: HubServer, app_home: Path) -> None:
    name = "Tiny-Q8_0.gguf"
    f = hub.repos[REPO].files[name]
    hub.fault(REPO, name).rate = 600_000  # ~6 s for the whole file: time to kill it midway
    dest = app_home / "models" / "bartowski" / "Tiny-GGUF" / name
    part = dest.with_name(name + ".part")
    env = dict(os.environ)
    child = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "download", REPO, name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > f.size // 4):
            assert child.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    kept = part.stat().st_size
    assert 0 < kept < f.size and not dest.exists()
    assert dest.with_name(name + ".part.json").exists()

    hub.fault(REPO, name).rate = None
    proc = cli("download", REPO, name)
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == f.sha256
    starts = hub.range_starts(REPO, name)
    assert starts[0] is None and starts[-1] == kept > 0  # resumed, not started from zero
    assert "resumed at" in proc.stdout
    assert [p.name for p in dest.parent.iterdir()] == [name]  # no partial, record or lock
