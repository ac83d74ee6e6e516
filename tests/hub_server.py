"""A small Hugging Face hub on 127.0.0.1, for tests and benchmarks, with fault injection.

It serves what huggingface_hub and QuantDesk call: ``/api/models`` (search),
``/api/models/{repo}`` and ``.../revision/{rev}`` (info, with sizes and LFS sha256 when asked
for ``blobs``), ``/api/models/{repo}/tree/{rev}``, and ``/{repo}/resolve/{rev}/{file}`` (HEAD
and GET, Range, ETag = sha256, X-Repo-Commit, X-Linked-Etag, X-Linked-Size). Point the code at
it with ``HF_ENDPOINT=server.url``.

Faults, per file (``server.fault(repo, path)``): cut the connection after N body bytes, stall,
answer a status, corrupt a byte, ignore Range, throttle, send extra bytes; per API call
(``server.api_statuses``). Files may be listed with sizes or checksums that lie, or with names
that are hostile. Every request is logged in ``server.requests``.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_CHUNK = 256 * 1024


@dataclass
class FileFaults:
    cut_at: list[int] = field(default_factory=list)  # per GET: close after N body bytes
    stall_at: list[int] = field(default_factory=list)  # per GET: go silent after N bytes
    stall_seconds: float = 3.0
    statuses: list[int] = field(default_factory=list)  # per GET: answer this status instead
    retry_after: str | None = None
    corrupt: bool = False  # one byte in the middle of the file is flipped
    ignore_range: bool = False
    rate: float | None = None  # bytes per second
    extra_bytes: int = 0  # more bytes than the file has (Content-Length includes them)
    redirect: str | None = None  # base URL of another server: answer 302 there, as the hub
    # answers LFS files with a redirect to its CDN


@dataclass
class RepoFile:
    path: str
    data: bytes | None = None
    source: Path | None = None  # served from disk (big benchmark files)
    lfs: bool = True
    listed_size: int | None = None  # what the listing claims, when it lies
    listed_sha256: str | None = None
    served: bool = True  # False: only in listings (hostile names)

    def __post_init__(self) -> None:
        if self.data is None and self.source is None:
            self.data = b""
        if self.source is not None:
            h = hashlib.sha256()
            with open(self.source, "rb") as fh:
                while block := fh.read(8 << 20):
                    h.update(block)
            self.size = self.source.stat().st_size
            self.sha256 = h.hexdigest()
        else:
            assert self.data is not None
            self.size = len(self.data)
            self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.blob_id = hashlib.sha1(self.path.encode("utf-8", "surrogatepass")).hexdigest()

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.source is not None
        with open(self.source, "rb") as fh:
            fh.seek(start)
            return fh.read(end - start)


@dataclass
class Repo:
    repo_id: str
    files: dict[str, RepoFile] = field(default_factory=dict)
    commit: str = ""
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=lambda: ["gguf"])
    pipeline_tag: str | None = "text-generation"
    card_data: dict[str, Any] | None = None
    gguf: dict[str, Any] | None = None
    last_modified: str = "2025-01-01T00:00:00.000Z"
    created_at: str = "2024-06-01T00:00:00.000Z"
    trending_score: int = 0
    gated: bool | str = False
    token: str | None = None  # required Bearer token for files and info

    def __post_init__(self) -> None:
        if not self.commit:
            self.commit = hashlib.sha1(self.repo_id.encode()).hexdigest()

    def add(self, path: str, data: bytes | None = None, **kwargs: Any) -> RepoFile:
        f = RepoFile(path, data, **kwargs)
        self.files[path] = f
        return f


@dataclass
class RequestLog:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults: dict[tuple[str, str], FileFaults] = {}
        self.api_statuses: list[int] = []
        self.api_delay = 0.0
        self.requests: list[RequestLog] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ----------------------------------------------------------------------------

    def add_repo(self, repo_id: str, **kwargs: Any) -> Repo:
        repo = Repo(repo_id, **kwargs)
        self.repos[repo_id] = repo
        return repo

    def fault(self, repo_id: str, path: str) -> FileFaults:
        return self.faults.setdefault((repo_id, path), FileFaults())

    def start(self) -> HubServer:
        server = self

        class Handler(_Handler):
            hub = server

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self.lock:
            open_connections = list(self.connections)
        for conn in open_connections:  # keep-alive connections would go on serving
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- what happened ---------------------------------------------------------------------

    def file_requests(self, repo_id: str, path: str, method: str = "GET") -> list[RequestLog]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method == method
                and "/resolve/" in r.path
                and r.path.endswith("/" + path)
                and r.path.startswith("/" + repo_id + "/")
            ]

    def range_starts(self, repo_id: str, path: str) -> list[int | None]:
        starts: list[int | None] = []
        for r in self.file_requests(repo_id, path):
            value = r.headers.get("range")
            starts.append(int(value.split("=")[1].split("-")[0]) if value else None)
        return starts

    def api_requests(self) -> list[RequestLog]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith("/api/")]


def _parse_range(value: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end exclusive), None for no Range, "bad" for an unsatisfiable one."""
    if not value or not value.startswith("bytes="):
        return None
    spec = value[len("bytes=") :].split(",")[0].strip()
    first, _, last = spec.partition("-")
    if first == "":
        n = int(last)
        return (max(0, size - n), size) if n else "bad"
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        return "bad"
    return start, end


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"
    server_version = "TestHub/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        with self.hub.lock:
            self.hub.connections.add(self.connection)

    def finish(self) -> None:
        with self.hub.lock:
            self.hub.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # --- plumbing --------------------------------------------------------------------------

    def _log(self, status: int) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.hub.lock:
            self.hub.requests.append(RequestLog(self.command, self.path, headers, status))

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self._log(status)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str | None = None) -> None:
        headers = {"X-Error-Code": code} if code else {}
        self._json({"error": code or "error"}, status, headers)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = parse_qs(url.query)
        try:
            if parts[:2] == ["api", "models"]:
                self._api(parts[2:], query)
            elif len(parts) >= 5 and parts[2] == "resolve":
                self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            else:
                self._error(404)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _authorized(self, repo: Repo) -> bool:
        return repo.token is None or self.headers.get("Authorization") == f"Bearer {repo.token}"

    # --- API -------------------------------------------------------------------------------

    def _api(self, rest: list[str], query: dict[str, list[str]]) -> None:
        hub = self.hub
        if hub.api_delay:
            time.sleep(hub.api_delay)
        with hub.lock:
            status = hub.api_statuses.pop(0) if hub.api_statuses else None
        if status is not None:
            self._error(status)
            return
        if not rest:
            self._search(query)
            return
        if len(rest) < 2:
            self._error(404)
            return
        repo = hub.repos.get(f"{rest[0]}/{rest[1]}")
        if repo is None:
            self._error(404, "RepoNotFound")
            return
        if not self._authorized(repo):
            self._error(401, "GatedRepo" if repo.gated else "RepoNotFound")
            return
        tail = rest[2:]
        if not tail or tail[0] == "revision":
            self._json(self._info(repo, blobs="blobs" in query))
        elif tail[0] == "tree":
            self._json([self._tree_entry(f) for f in repo.files.values()])
        else:
            self._error(404)

    def _summary(self, repo: Repo, expand: list[str] | None) -> dict[str, Any]:
        full = {
            "id": repo.repo_id,
            "_id": repo.commit[:24],
            "author": repo.repo_id.split("/")[0],
            "downloads": repo.downloads,
            "likes": repo.likes,
            "lastModified": repo.last_modified,
            "createdAt": repo.created_at,
            "tags": repo.tags,
            "pipeline_tag": repo.pipeline_tag,
            "trendingScore": repo.trending_score,
            "gated": repo.gated,
            "private": False,
            "sha": repo.commit,
        }
        if repo.gguf is not None:
            full["gguf"] = repo.gguf
        if expand:
            return {k: v for k, v in full.items() if k in expand or k in ("id", "_id")}
        return full

    def _search(self, query: dict[str, list[str]]) -> None:
        text = (query.get("search") or [""])[0].lower()
        author = (query.get("author") or [None])[0]
        filters = query.get("filter") or []
        sort = (query.get("sort") or [None])[0]
        limit = int((query.get("limit") or ["1000"])[0])
        expand = query.get("expand")
        rows = [
            r
            for r in self.hub.repos.values()
            if text in r.repo_id.lower()
            and (author is None or r.repo_id.split("/")[0] == author)
            and all(f in r.tags for f in filters)
        ]
        keys = {
            "downloads": lambda r: r.downloads,
            "likes": lambda r: r.likes,
            "lastModified": lambda r: r.last_modified,
            "createdAt": lambda r: r.created_at,
            "trendingScore": lambda r: r.trending_score,
        }
        if sort in keys:
            rows.sort(key=keys[sort], reverse=True)
        self._json([self._summary(r, expand) for r in rows[:limit]])

    def _info(self, repo: Repo, *, blobs: bool) -> dict[str, Any]:
        data = self._summary(repo, None)
        data["cardData"] = repo.card_data
        siblings = []
        for f in repo.files.values():
            entry: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                size = f.listed_size if f.listed_size is not None else f.size
                entry["size"] = size
                entry["blobId"] = f.blob_id
                if f.lfs:
                    sha = f.listed_sha256 or f.sha256
                    entry["lfs"] = {"size": size, "sha256": sha, "pointerSize": 134}
            siblings.append(entry)
        data["siblings"] = siblings
        return data

    def _tree_entry(self, f: RepoFile) -> dict[str, Any]:
        size = f.listed_size if f.listed_size is not None else f.size
        entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": size, "path": f.path}
        if f.lfs:
            sha = f.listed_sha256 or f.sha256
            entry["lfs"] = {"oid": sha, "size": size, "pointerSize": 134}
        return entry

    # --- files -----------------------------------------------------------------------------

    def _resolve(self, repo_id: str, revision: str, path: str) -> None:
        hub = self.hub
        repo = hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound")
            return
        if not self._authorized(repo):
            self._error(401, "GatedRepo" if repo.gated else "RepoNotFound")
            return
        if revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound")
            return
        f = repo.files.get(path)
        if f is None or not f.served:
            self._error(404, "EntryNotFound")
            return
        faults = hub.faults.get((repo_id, path), FileFaults())
        size = f.size
        headers = {
            "ETag": f'"{f.sha256 if f.lfs else f.blob_id}"',
            "X-Repo-Commit": repo.commit,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if f.lfs:
            headers["X-Linked-Etag"] = f'"{f.listed_sha256 or f.sha256}"'
            listed = f.listed_size if f.listed_size is not None else size
            headers["X-Linked-Size"] = str(listed)
        if faults.redirect:
            location = f"{faults.redirect}/{repo_id}/resolve/{revision}/{path}"
            self._send(302, b"", {**headers, "Location": location})
            return
        if self.command == "GET":
            with hub.lock:
                status = faults.statuses.pop(0) if faults.statuses else None
            if status is not None:
                extra = {"Retry-After": faults.retry_after} if faults.retry_after else {}
                self._json({"error": f"injected {status}"}, status, extra)
                return
        wanted = None if faults.ignore_range else _parse_range(self.headers.get("Range"), size)
        if wanted == "bad":
            self._send(416, b"", {**headers, "Content-Range": f"bytes */{size}"})
            return
        if wanted is None:
            start, end, status = 0, size, 200
        else:
            assert isinstance(wanted, tuple)
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        length = end - start + (faults.extra_bytes if end == size else 0)
        self._log(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        self._body(f, faults, start, end, length)

    def _body(self, f: RepoFile, faults: FileFaults, start: int, end: int, length: int) -> None:
        hub = self.hub
        with hub.lock:
            cut = faults.cut_at.pop(0) if faults.cut_at else None
            stall = faults.stall_at.pop(0) if faults.stall_at else None
        plain = (
            cut is None
            and stall is None
            and not faults.corrupt
            and faults.rate is None
            and f.source is not None
            and not faults.extra_bytes
        )
        if plain:
            assert f.source is not None
            self.wfile.flush()
            with open(f.source, "rb") as fh:
                self.connection.sendfile(fh, start, end - start)
            return
        sent = 0
        pos = start
        began = time.monotonic()
        while pos < end:
            block = f.read(pos, min(end, pos + _CHUNK))
            if faults.corrupt:
                middle = f.size // 2
                if pos <= middle < pos + len(block):
                    i = middle - pos
                    block = block[:i] + bytes([block[i] ^ 0xFF]) + block[i + 1 :]
            for limit, action in ((cut, "cut"), (stall, "stall")):
                if limit is not None and sent + len(block) >= limit:
                    self.wfile.write(block[: max(0, limit - sent)])
                    self.wfile.flush()
                    if action == "stall":
                        hub.stopping.wait(faults.stall_seconds)
                    self._hang_up()
                    return
            self.wfile.write(block)
            sent += len(block)
            pos += len(block)
            if faults.rate:
                ahead = sent / faults.rate - (time.monotonic() - began)
                if ahead > 0 and hub.stopping.wait(ahead):
                    self._hang_up()
                    return
        if faults.extra_bytes and end == f.size:
            self.wfile.write(b"\x00" * faults.extra_bytes)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
