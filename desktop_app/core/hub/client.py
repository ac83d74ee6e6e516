"""Search the hub and list a repo's GGUF files, with answers cached on disk for offline use.

``HubClient`` asks the hub's model API through huggingface_hub (its HTTP client, headers and
``ModelInfo`` parsing; ``HfApi.model_info(files_metadata=True)`` for sizes and LFS checksums)
and turns the answers into frozen dataclasses with plain types. Search sends the query
``HfApi.list_models(filter="gguf", search=, author=, sort=, limit=, expand=)`` sends, but
itself: ``list_models`` has no timeout (a stalled server would hang the search forever) and
retries a refused connection for 23 s; here one request is bounded by the config's timeout,
retried once, and its answer capped in size.
Every answer is saved in the app's cache folder with its time. Offline (the app's switch or
``HF_HUB_OFFLINE``), no connection is opened: cached answers are returned and marked
``offline``; with nothing cached, ``HubError("offline")``. Online, a network failure falls back
to the cache the same way (``from_cache=True``), or raises.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

import httpx2
from huggingface_hub import HfApi, ModelInfo, hf_hub_url
from huggingface_hub import errors as hf_errors

from desktop_app import __version__
from desktop_app.core.hub.cache import JsonCache
from desktop_app.core.hub.card import card_info
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.listing import CardInfo, RemoteFile, RepoListing, group_files
from desktop_app.core.hub.names import validate_repo_id
from desktop_app.core.hub.remote_header import INITIAL_BYTES, RemoteFacts, read_remote_facts
from desktop_app.core.hub.session import HubConfig, error_for_response, http_client, hub_error_from

__all__ = ["SORTS", "HubClient", "ModelSummary", "SearchResults", "Sort"]

log = logging.getLogger(__name__)

Sort = Literal["downloads", "likes", "last_modified", "created_at", "trending_score"]
SORTS: tuple[Sort, ...] = ("downloads", "likes", "last_modified", "created_at", "trending_score")
_EXPAND = [
    "author",
    "downloads",
    "likes",
    "lastModified",
    "createdAt",
    "tags",
    "pipeline_tag",
    "gguf",
    "trendingScore",
    "gated",
]
# Tasks whose GGUF files are chat or text models; anything else tagged (speech, embeddings,
# images) is not what Discover lists. Untagged repos are kept.
_TEXT_TASKS = frozenset(
    {"text-generation", "text2text-generation", "image-text-to-text", "conversational"}
)
_README_BYTES = 64 * 1024
_MAX_JSON_BYTES = 16 * 1024 * 1024
_TRANSIENT = frozenset({"network", "timeout", "server_error", "rate_limited"})
_SORT_PARAMS = {
    "downloads": "downloads",
    "likes": "likes",
    "last_modified": "lastModified",
    "created_at": "createdAt",
    "trending_score": "trendingScore",
}


@dataclass(frozen=True)
class ModelSummary:
    repo_id: str
    author: str | None
    downloads: int | None
    likes: int | None
    last_modified: str | None  # ISO 8601
    created_at: str | None
    parameters: int | None  # from the hub's own GGUF parsing, when it has it
    architecture: str | None
    context_length: int | None
    pipeline_tag: str | None
    tags: tuple[str, ...]
    gated: bool
    trending_score: float | None


@dataclass(frozen=True)
class SearchResults:
    query: str
    author: str | None
    sort: str
    models: tuple[ModelSummary, ...]
    fetched_at: float
    from_cache: bool = False
    offline: bool = False
    skipped: int = 0  # results dropped: invalid repo ids, non-text tasks


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _str(value: Any, limit: int = 200) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return _str(value, 40)


def _summary(info: Any) -> ModelSummary | None:
    repo_id = getattr(info, "id", None)
    try:
        validate_repo_id(repo_id)
    except HubError:
        return None
    assert isinstance(repo_id, str)
    gguf = getattr(info, "gguf", None)
    gguf = gguf if isinstance(gguf, dict) else {}
    tags = getattr(info, "tags", None)
    trending = getattr(info, "trending_score", None)
    return ModelSummary(
        repo_id=repo_id,
        author=_str(getattr(info, "author", None)) or repo_id.split("/")[0],
        downloads=_int(getattr(info, "downloads", None)),
        likes=_int(getattr(info, "likes", None)),
        last_modified=_iso(getattr(info, "last_modified", None)),
        created_at=_iso(getattr(info, "created_at", None)),
        parameters=_int(gguf.get("total")),
        architecture=_str(gguf.get("architecture"), 60),
        context_length=_int(gguf.get("context_length")),
        pipeline_tag=_str(getattr(info, "pipeline_tag", None), 60),
        tags=tuple(t[:60] for t in tags[:50] if isinstance(t, str))
        if isinstance(tags, list)
        else (),
        gated=bool(getattr(info, "gated", False)),
        trending_score=(
            float(trending)
            if isinstance(trending, int | float)
            and not isinstance(trending, bool)
            and math.isfinite(trending)
            else None
        ),
    )


def _summary_from_json(data: Any) -> ModelSummary | None:
    """A summary saved by ``search``; None when the cache entry is damaged."""
    if not isinstance(data, dict):
        return None
    repo_id, tags, trending = data.get("repo_id"), data.get("tags"), data.get("trending_score")
    try:
        validate_repo_id(repo_id)
    except HubError:
        return None
    assert isinstance(repo_id, str)
    return ModelSummary(
        repo_id=repo_id,
        author=_str(data.get("author")),
        downloads=_int(data.get("downloads")),
        likes=_int(data.get("likes")),
        last_modified=_str(data.get("last_modified"), 40),
        created_at=_str(data.get("created_at"), 40),
        parameters=_int(data.get("parameters")),
        architecture=_str(data.get("architecture"), 60),
        context_length=_int(data.get("context_length")),
        pipeline_tag=_str(data.get("pipeline_tag"), 60),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        gated=data.get("gated") is True,
        trending_score=(
            float(trending)
            if isinstance(trending, int | float) and not isinstance(trending, bool)
            else None
        ),
    )


class HubClient:
    """See the module docstring. ``config=None`` reads the environment on every call."""

    def __init__(self, config: HubConfig | None = None) -> None:
        self._config = config

    @property
    def config(self) -> HubConfig:
        return self._config if self._config is not None else HubConfig.from_env()

    def _api(self, config: HubConfig) -> HfApi:
        return HfApi(
            endpoint=config.endpoint,
            token=config.token,
            library_name="quantdesk",
            library_version=__version__,
        )

    # --- search --------------------------------------------------------------------------

    def search(
        self,
        text: str = "",
        *,
        author: str | None = None,
        sort: Sort = "downloads",
        limit: int = 50,
        max_age: float = 300.0,
        text_only: bool = True,
    ) -> SearchResults:
        """GGUF repos matching ``text``, best first by ``sort`` (always descending)."""
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}")
        config = self.config
        cache = JsonCache(config.cache_dir)
        key = f"{config.endpoint}|{text.strip().lower()}|{author or ''}|{sort}|{limit}|{text_only}"
        cached = cache.get("search", key)
        fresh = cached is not None and cached.age() <= max_age
        if config.is_offline or fresh:
            if cached is None:
                raise HubError("offline", "offline and this search is not cached")
            return self._cached_search(cached.data, cached.saved_at, config.is_offline)
        params: dict[str, Any] = {
            "filter": ["gguf"],
            "sort": _SORT_PARAMS[sort],
            "limit": max(1, min(limit, 1000)),
            "expand": _EXPAND,
        }
        if text.strip():
            params["search"] = text.strip()
        if author:
            params["author"] = author
        try:
            infos, skipped = self._query_models(config, params)
        except HubError as error:
            if cached is not None and error.code not in ("unauthorized", "gated"):
                log.info("search failed (%s); showing cached results", error)
                return self._cached_search(cached.data, cached.saved_at, config.is_offline)
            raise
        models = []
        for info in infos:
            summary = _summary(info)
            if summary is None or (text_only and summary.pipeline_tag not in (None, *_TEXT_TASKS)):
                skipped += 1
                continue
            models.append(summary)
        results = SearchResults(text, author, sort, tuple(models), time.time(), skipped=skipped)
        cache.put("search", key, {"results": asdict(results)})
        return results

    def _query_models(
        self, config: HubConfig, params: dict[str, Any]
    ) -> tuple[list[ModelInfo], int]:
        """(models, rows skipped as malformed) of one ``/api/models`` query."""
        url = f"{config.endpoint}/api/models"
        for attempt in range(2):
            try:
                rows = self._get_json(config, url, params)
            except HubError as error:
                if attempt or error.code not in _TRANSIENT:
                    raise
                time.sleep(0.5)
                continue
            if not isinstance(rows, list):
                raise HubError("bad_response", "search answer is not a list")
            infos, skipped = [], 0
            for row in rows:
                try:
                    infos.append(ModelInfo(**row))  # type: ignore[no-untyped-call]
                except (TypeError, ValueError, KeyError, AttributeError):
                    skipped += 1
            return infos, skipped
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _get_json(config: HubConfig, url: str, params: dict[str, Any]) -> Any:
        try:
            with http_client().stream(
                "GET", url, params=params, headers=config.headers(), timeout=config.http_timeout()
            ) as resp:
                if resp.status_code != 200:
                    raise error_for_response(resp, f"GET {url}")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_JSON_BYTES:  # decompressed: a gzip bomb stops here
                        raise HubError("bad_response", "answer too large")
        except (httpx2.HTTPError, hf_errors.OfflineModeIsEnabled) as exc:
            raise hub_error_from(exc) from exc
        try:
            return json.loads(bytes(body))
        except ValueError as exc:
            raise HubError("bad_response", f"not JSON: {exc}") from exc

    @staticmethod
    def _cached_search(data: Any, saved_at: float, offline: bool) -> SearchResults:
        raw = data.get("results") if isinstance(data, dict) else None
        if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
            raise HubError("offline" if offline else "bad_response", "damaged search cache")
        models = tuple(m for m in map(_summary_from_json, raw["models"]) if m is not None)
        return SearchResults(
            query=str(raw.get("query", "")),
            author=_str(raw.get("author")),
            sort=str(raw.get("sort", "downloads")),
            models=models,
            fetched_at=saved_at,
            from_cache=True,
            offline=offline,
            skipped=_int(raw.get("skipped")) or 0,
        )

    # --- one repo ------------------------------------------------------------------------

    def listing(
        self,
        repo_id: str,
        *,
        revision: str | None = None,
        with_card: bool = True,
        max_age: float = 0.0,
    ) -> RepoListing:
        """Every GGUF file of ``repo_id`` with size and sha256, grouped by quant."""
        validate_repo_id(repo_id)
        config = self.config
        cache = JsonCache(config.cache_dir)
        key = f"{config.endpoint}|{repo_id}|{revision or ''}|{with_card}"
        cached = cache.get("repos", key)
        if config.is_offline or (cached is not None and cached.age() <= max_age):
            if cached is None:
                raise HubError("offline", f"offline and {repo_id} is not cached")
            return self._listing_from(repo_id, cached.data, cached.saved_at, config.is_offline)
        try:
            info = self._api(config).model_info(
                repo_id, revision=revision, files_metadata=True, timeout=config.timeout
            )
        except (hf_errors.HfHubHTTPError, httpx2.HTTPError, OSError, ValueError) as exc:
            error = hub_error_from(exc)
            if cached is not None and error.code in ("network", "timeout", "server_error"):
                log.info("listing %s failed (%s); showing the cached one", repo_id, error)
                return self._listing_from(repo_id, cached.data, cached.saved_at, False)
            raise error from exc
        commit = info.sha if isinstance(info.sha, str) else None
        files = []
        for s in info.siblings or []:
            lfs = s.lfs
            size = lfs.size if lfs is not None else s.size
            sha = lfs.sha256 if lfs is not None else None
            files.append(
                [
                    s.rfilename,
                    size if _int(size) is not None else None,
                    sha.lower() if isinstance(sha, str) else None,
                ]
            )
        readme = self._readme(config, repo_id, commit or revision or "main") if with_card else None
        card = card_info(info.card_data, readme, info.pipeline_tag)
        data = {
            "commit": commit,
            "files": files,
            "card": asdict(card),
            "gated": bool(info.gated),
            "downloads": _int(info.downloads),
            "likes": _int(info.likes),
            "last_modified": _iso(info.last_modified),
        }
        cache.put("repos", key, data)
        return self._listing_from(repo_id, data, time.time(), False, from_cache=False)

    @staticmethod
    def _listing_from(
        repo_id: str, data: Any, saved_at: float, offline: bool, *, from_cache: bool = True
    ) -> RepoListing:
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise HubError("offline" if offline else "bad_response", "damaged listing cache")
        files: list[RemoteFile] = []
        for row in data["files"]:
            if isinstance(row, list) and len(row) == 3 and isinstance(row[0], str):
                files.append(RemoteFile(row[0], _int(row[1]), _str(row[2], 64)))
        variants, extras, rejected = group_files(files)
        raw_card = data.get("card")
        card = CardInfo()
        if isinstance(raw_card, dict):
            card = replace(
                card,
                summary=_str(raw_card.get("summary"), 2000) or "",
                license=_str(raw_card.get("license")),
                base_models=tuple(
                    x for x in raw_card.get("base_models") or () if isinstance(x, str)
                ),
                languages=tuple(x for x in raw_card.get("languages") or () if isinstance(x, str)),
                pipeline_tag=_str(raw_card.get("pipeline_tag")),
            )
        commit = data.get("commit")
        return RepoListing(
            repo_id=repo_id,
            revision=commit if isinstance(commit, str) else None,
            variants=variants,
            extras=extras,
            rejected=rejected,
            card=card,
            gated=bool(data.get("gated")),
            downloads=_int(data.get("downloads")),
            likes=_int(data.get("likes")),
            last_modified=_str(data.get("last_modified")),
            fetched_at=saved_at,
            from_cache=from_cache,
            offline=offline,
        )

    def _readme(self, config: HubConfig, repo_id: str, revision: str) -> str | None:
        """The first 64 KiB of README.md (enough for a summary), or None."""
        url = hf_hub_url(repo_id, "README.md", revision=revision, endpoint=config.endpoint)
        headers = config.headers()
        headers["Range"] = f"bytes=0-{_README_BYTES - 1}"
        try:
            with http_client().stream(
                "GET", url, headers=headers, timeout=config.http_timeout()
            ) as resp:
                if resp.status_code not in (200, 206):
                    return None
                data = bytearray()
                for chunk in resp.iter_bytes():
                    data += chunk
                    if len(data) >= _README_BYTES:
                        break
        except (httpx2.HTTPError, hf_errors.OfflineModeIsEnabled) as exc:
            log.info("README of %s not read: %s", repo_id, exc)
            return None
        return bytes(data[:_README_BYTES]).decode("utf-8", "replace")

    def remote_facts(
        self,
        repo_id: str,
        filename: str,
        *,
        revision: str = "main",
        initial_bytes: int = INITIAL_BYTES,
    ) -> RemoteFacts:
        """Header facts of one remote GGUF file (cached per commit); see ``remote_header``."""
        return read_remote_facts(
            self.config, repo_id, filename, revision=revision, initial_bytes=initial_bytes
        )


def summaries_json(models: Iterable[ModelSummary]) -> list[dict[str, Any]]:
    return [{**asdict(m), "tags": list(m.tags)} for m in models]
