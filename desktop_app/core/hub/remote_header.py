"""Architecture facts of a GGUF file on the hub, read with HTTP Range requests.

The fit estimate needs layers, KV heads, context length and the rest before anything is
downloaded. They are in the header, which is the first few megabytes of the file (mostly the
tokenizer vocabulary). The first request asks for ``initial_bytes`` (8 MiB: headers of
vocabularies up to 262k tokens fit) and the header is parsed while the bytes arrive, growing
by ``NeedMoreData``'s hints: once it is complete the connection is dropped, so a 700 KB header
costs about 1 MB, not 8 MiB. A longer header gets one more request, open-ended up to a 96 MiB
cap and parsed the same way, so any header takes at most two requests. A server that ignores
Range is read from the start, only as far as needed.

Facts are cached on disk per (endpoint, repo, file) together with the commit and ETag they
came from: asking again at the same commit costs no request at all, and offline the last
facts are returned, marked as cached.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx2
from huggingface_hub import errors as hf_errors
from huggingface_hub import hf_hub_url

from desktop_app.core.gguf_file import GGUFHeader, NeedMoreData, parse_gguf_header
from desktop_app.core.hub.cache import JsonCache
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.names import validate_file_name, validate_repo_id
from desktop_app.core.hub.session import HubConfig, error_for_response, http_client, hub_error_from
from desktop_app.core.library.facts_codec import SCHEMA as FACTS_SCHEMA
from desktop_app.core.library.facts_codec import decode_facts, encode_facts
from desktop_app.core.model_facts import ModelFacts, facts_from_header

__all__ = ["RemoteFacts", "read_remote_facts"]

MIB = 1024 * 1024
INITIAL_BYTES = 8 * MIB
MAX_HEADER_BYTES = 96 * MIB
_FIRST_PARSE = 512 * 1024  # first parse attempt; later ones follow the parser's hints
_COMMIT = re.compile(r"[0-9a-f]{40}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)", re.IGNORECASE)
_KIND = "header-facts"


@dataclass(frozen=True)
class RemoteFacts:
    repo_id: str
    filename: str
    commit: str | None
    etag: str | None
    file_size: int
    header_bytes: int
    facts: ModelFacts
    requests: int  # HTTP requests this answer cost (0 when cached)
    bytes_read: int = 0  # bytes taken from the network for it (0 when cached)
    from_cache: bool = False
    saved_at: float = 0.0


def _header_value(resp: httpx2.Response, name: str) -> str | None:
    """A header as the hub itself sent it: it answers resolve with a redirect to its CDN, and
    X-Repo-Commit and X-Linked-Etag are on that redirect, so the first response counts."""
    for r in (*resp.history, resp):
        value = r.headers.get(name)
        if value:
            return value.strip()
    return None


def _clean_etag(value: str | None) -> str | None:
    return value.removeprefix("W/").strip('"').lower() or None if value else None


class _RangeReader:
    def __init__(self, config: HubConfig, url: str) -> None:
        self.config = config
        self.url = url
        self.requests = 0
        self.bytes_read = 0
        self.file_size: int | None = None
        self.commit: str | None = None
        self.etag: str | None = None

    def read_header(
        self, start: int, end: int, buf: bytes, target: int
    ) -> tuple[GGUFHeader | None, bytes, int]:
        """Ask for ``[start, end)`` after ``buf`` (the bytes so far) and parse while the bytes
        arrive, hanging up as soon as the header is complete.

        Returns (header or None, all bytes so far, the size the parser asks for next).
        ``target`` is where the first parse is tried.
        """
        headers = self.config.headers()
        headers["Range"] = f"bytes={start}-{end - 1}"
        headers["Accept-Encoding"] = "identity"
        self.requests += 1
        try:
            with http_client().stream(
                "GET", self.url, headers=headers, timeout=self.config.http_timeout()
            ) as resp:
                offset, limit = self._accept(resp, start, end)
                size = self.file_size
                assert size is not None
                data = bytearray(buf if offset == start else b"")  # Range ignored: from 0
                stop = offset + limit
                tried = 0
                for chunk in resp.iter_bytes():
                    data += chunk
                    if len(data) >= min(target, size, stop):
                        tried = len(data)
                        header, target = _try_parse(data, size, tried)
                        if header is not None:
                            return header, bytes(data), target
                    if len(data) >= stop:
                        break  # a server ignoring Range sends everything: stop here
                if len(data) > tried:
                    header, target = _try_parse(data, size, len(data))
                    if header is not None:
                        return header, bytes(data), target
                return None, bytes(data[:stop]), target
        except (httpx2.HTTPError, hf_errors.OfflineModeIsEnabled) as exc:
            raise hub_error_from(exc) from exc

    def _accept(self, resp: httpx2.Response, start: int, end: int) -> tuple[int, int]:
        status = resp.status_code
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != start:
                raise HubError("bad_response", "206 without the asked Content-Range")
            total = int(match.group(3))
            offset, limit = start, end - start
        elif status == 200:
            length = resp.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise HubError("bad_response", "200 without Content-Length")
            # Range ignored: the whole file comes; read as much as a header may need.
            total, offset = int(length), 0
            limit = min(total, max(end, MAX_HEADER_BYTES))
        else:
            raise error_for_response(resp, f"GET {self.url} (range)")
        if self.file_size is not None and total != self.file_size:
            raise HubError("bad_response", f"file size changed from {self.file_size} to {total}")
        self.file_size = total
        commit = _header_value(resp, "X-Repo-Commit")
        if commit and _COMMIT.fullmatch(commit.lower()):
            self.commit = commit.lower()
        self.etag = _clean_etag(_header_value(resp, "X-Linked-Etag") or resp.headers.get("ETag"))
        return offset, limit


def _try_parse(data: bytearray, size: int, have: int) -> tuple[GGUFHeader | None, int]:
    """(header, 0) when ``data`` holds it all; else (None, where to try next): what the parser
    asks for, but no later than half again as much as now, to hang up early."""
    try:
        return parse_gguf_header(bytes(data), size), 0
    except NeedMoreData as more:
        return None, min(more.needed, have + have // 2)


def _fetch_header(
    config: HubConfig, url: str, initial_bytes: int
) -> tuple[GGUFHeader, _RangeReader]:
    """At most two requests: the first ``initial_bytes``, then the rest up to the cap."""
    reader = _RangeReader(config, url)
    first = max(64 * 1024, initial_bytes)
    header, buf, target = reader.read_header(0, first, b"", min(first, _FIRST_PARSE))
    reader.bytes_read = len(buf)
    if header is not None:
        return header, reader
    size = reader.file_size
    assert size is not None
    if len(buf) < min(first, size):
        raise HubError("network", "connection ended early")
    if len(buf) >= size or len(buf) >= MAX_HEADER_BYTES:
        raise HubError("header_too_large", f"no complete header in {len(buf)} bytes")
    header, buf, _ = reader.read_header(len(buf), MAX_HEADER_BYTES, buf, max(target, len(buf)))
    reader.bytes_read = len(buf)
    if header is None:
        raise HubError("header_too_large", f"no complete header in {len(buf)} bytes")
    return header, reader


def _cache_key(config: HubConfig, repo_id: str, filename: str) -> str:
    return f"{config.endpoint}|{repo_id}|{filename}|{FACTS_SCHEMA}"


def _from_cache(
    cache: JsonCache, key: str, repo_id: str, filename: str, revision: str, offline: bool
) -> RemoteFacts | None:
    entry = cache.get(_KIND, key)
    if entry is None or not isinstance(entry.data, dict):
        return None
    d = entry.data
    commit, etag = d.get("commit"), d.get("etag")
    same = isinstance(commit, str) and commit == revision.lower()
    if not same and not offline:
        return None
    try:
        facts = decode_facts(d.get("facts"), f"{repo_id}/{filename}")
        size, header_bytes = d["file_size"], d["header_bytes"]
        if type(size) is not int or type(header_bytes) is not int:
            return None
    except (ValueError, KeyError):
        return None
    return RemoteFacts(
        repo_id,
        filename,
        commit if isinstance(commit, str) else None,
        etag if isinstance(etag, str) else None,
        size,
        header_bytes,
        facts,
        requests=0,
        from_cache=True,
        saved_at=entry.saved_at,
    )


def read_remote_facts(
    config: HubConfig,
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    initial_bytes: int = INITIAL_BYTES,
    use_cache: bool = True,
) -> RemoteFacts:
    """Facts from the header of ``repo_id/filename``; see the module docstring.

    Raises ``HubError`` (``offline`` when offline with nothing cached) or ``GGUFError`` when
    the remote file is not a valid GGUF file.
    """
    validate_repo_id(repo_id)
    validate_file_name(filename)
    cache = JsonCache(config.cache_dir)
    key = _cache_key(config, repo_id, filename)
    if use_cache:
        cached = _from_cache(cache, key, repo_id, filename, revision, config.is_offline)
        if cached is not None:
            return cached
    config.require_online()
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=config.endpoint)
    header, reader = _fetch_header(config, url, initial_bytes)
    facts = facts_from_header(header, f"{repo_id}/{filename}")
    assert reader.file_size is not None
    result = RemoteFacts(
        repo_id,
        filename,
        reader.commit or (revision.lower() if _COMMIT.fullmatch(revision.lower()) else None),
        reader.etag,
        reader.file_size,
        header.data_offset,
        facts,
        requests=reader.requests,
        bytes_read=reader.bytes_read,
        saved_at=time.time(),
    )
    cache.put(
        _KIND,
        key,
        {
            "commit": result.commit,
            "etag": result.etag,
            "file_size": result.file_size,
            "header_bytes": result.header_bytes,
            "facts": encode_facts(facts),
        },
    )
    return result
