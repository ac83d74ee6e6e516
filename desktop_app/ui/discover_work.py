"""Discover's background jobs: plain functions the page runs with ``Op`` on the io pool.

They call the core (search, listing, remote header facts, fit) and return frozen results the
GUI thread only displays; no Qt object is touched here. Every hub call gets the ``HubConfig``
of the offline switch at the moment it was asked for, so an offline request never connects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from desktop_app.core.fit import LoadPlan
from desktop_app.core.hardware import read_machine_info
from desktop_app.core.hub.catalog import filter_catalog, load_catalog
from desktop_app.core.hub.client import HubClient, SearchResults, Sort
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.listing import RepoListing
from desktop_app.core.hub.remote_fit import fit_variants, header_source, recommended
from desktop_app.core.hub.remote_header import RemoteFacts
from desktop_app.core.hub.session import HubConfig
from desktop_app.ui.models.discover_model import (
    DiscoverRow,
    Origin,
    row_from_catalog,
    row_from_summary,
)
from desktop_app.ui.models.variant_model import VariantRow

# Bytes of memory available now; tests and screenshots pass a fixed figure.
MemoryProbe = Callable[[], int]


@dataclass(frozen=True)
class Found:
    """What the result list shows after a search (or at start)."""

    request: int
    rows: tuple[DiscoverRow, ...]
    origin: Origin  # where the first rows came from: hub, cache or catalog
    offline: bool
    fetched_at: float | None  # when cached results were saved
    error: HubError | None  # why the hub's answer is missing, when not offline


def _catalog_rows(text: str, author: str) -> tuple[DiscoverRow, ...]:
    entries = filter_catalog(load_catalog(), text)
    if author:
        entries = tuple(e for e in entries if e.publisher.casefold() == author.casefold())
    return tuple(row_from_catalog(e) for e in entries)


def _result_rows(results: SearchResults) -> tuple[DiscoverRow, ...]:
    origin = Origin.CACHE if results.from_cache or results.offline else Origin.HUB
    return tuple(row_from_summary(m, origin) for m in results.models)


def find_models(request: int, config: HubConfig, text: str, author: str, sort: Sort) -> Found:
    """Search the hub (or its cache when offline); the filtered catalog when neither has it."""
    try:
        results = HubClient(config).search(text, author=author or None, sort=sort)
    except HubError as exc:
        offline = config.is_offline
        error = None if offline and exc.code == "offline" else exc  # offline is no failure
        return Found(request, _catalog_rows(text, author), Origin.CATALOG, offline, None, error)
    rows = _result_rows(results)
    origin = Origin.CACHE if results.from_cache or results.offline else Origin.HUB
    return Found(request, rows, origin, results.offline, results.fetched_at if rows else None, None)


def starting_rows(request: int, config: HubConfig, sort: Sort) -> Found:
    """Before any search: results saved earlier, then the catalog; never a connection."""
    cached: tuple[DiscoverRow, ...] = ()
    fetched_at = None
    try:
        results = HubClient(replace(config, offline=True)).search("", sort=sort)
    except HubError:
        pass  # nothing saved yet
    else:
        cached, fetched_at = _result_rows(results), results.fetched_at
    seen = {r.repo_id for r in cached}
    catalog = tuple(r for r in _catalog_rows("", "") if r.repo_id not in seen)
    origin = Origin.CACHE if cached else Origin.CATALOG
    return Found(request, cached + catalog, origin, config.is_offline, fetched_at, None)


@dataclass(frozen=True)
class Opened:
    request: int
    listing: RepoListing
    cpu_features: tuple[str, ...]


def open_repo(request: int, config: HubConfig, repo_id: str, models_dir: str) -> Opened:
    listing = HubClient(config).listing(repo_id)
    machine = read_machine_info(models_dir, ask_backend=False)
    return Opened(request, listing, machine.cpu_features)


def read_facts(config: HubConfig, listing: RepoListing) -> RemoteFacts | None:
    """Header facts of the repo's smallest complete variant (None: nothing to read)."""
    source = header_source(listing)
    if source is None:
        return None
    return HubClient(config).remote_facts(
        listing.repo_id, source.path, revision=listing.revision or "main"
    )


@dataclass(frozen=True)
class Priced:
    request: int
    rows: tuple[VariantRow, ...]
    available: int
    recommended_key: str | None


def price(
    request: int,
    listing: RepoListing,
    facts: RemoteFacts | None,
    n_ctx: int,
    cpu_features: tuple[str, ...],
    memory: MemoryProbe,
) -> Priced:
    available = memory()
    fits = fit_variants(
        listing.variants, facts, LoadPlan(n_ctx=n_ctx), available, cpu_features=cpu_features
    )
    best = recommended(fits)
    key = best.key if best is not None else None
    rows = tuple(VariantRow(f, f.variant.key == key) for f in fits)
    return Priced(request, rows, available, key)
