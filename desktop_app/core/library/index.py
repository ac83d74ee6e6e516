"""The library index: every model file found by the sources, with its header facts, cached.

Reading a header costs a file open and up to a few MiB of reads; listing a library must not
cost that per file every time. So facts are cached per physical file and a warm scan only
lists folders and stats files: a file whose (device, inode, size, mtime_ns) is unchanged is
not opened at all.

Why a JSON Lines file (a header, then one record per line) and not SQLite: the cache is
disposable (deleting it only costs one slow scan), it is read whole on every scan anyway (the
library shows every model), and it is written rarely, as one atomic replace. At a few
thousand models that is a few MB at most.
SQLite would add locking, WAL files and migrations to protect data that needs none of it; two
processes scanning at once (the app and ``quantdesk list``) can at worst make one of them
re-read a few headers later.

Why (st_dev, st_ino) and not the path as the cache key: the same file is often reachable under
several paths (an HF snapshot symlink and its blob, hard links between apps), and a file
replaced by a new download under the same path gets a new inode even when size and mtime are
copied over. Renaming or moving a file inside one file system keeps its cache entry.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from desktop_app.core.atomic import atomic_write_text
from desktop_app.core.errors import FileAccessError
from desktop_app.core.gguf_file import GGUFError
from desktop_app.core.library.entries import (
    Candidate,
    LibrarySnapshot,
    Location,
    ModelEntry,
    ScanProblem,
    ScanProgress,
    ScanStats,
)
from desktop_app.core.library.facts_codec import SCHEMA, decode_facts, encode_facts
from desktop_app.core.library.families import FamilyInput, family_keys, quant_label_for
from desktop_app.core.library.sources import ModelSource
from desktop_app.core.model_facts import ModelFacts, read_model_facts
from desktop_app.core.provenance import Provenance, read_provenance

__all__ = ["CACHE_FILE_NAME", "LibraryIndex"]

log = logging.getLogger(__name__)

CACHE_FILE_NAME = "library-index.json"
_FORMAT = 2  # 2: JSON Lines (a header line, then one [key, record] per line)
_DAY_NS = 86_400 * 10**9
# Records of files not seen for this long are dropped; a file on a drive that is unplugged for
# a while keeps its record until then, so plugging it back in is a warm scan.
_PRUNE_AFTER_NS = 30 * _DAY_NS


@dataclass
class _Record:
    size: int
    mtime_ns: int
    seen_ns: int
    raw_facts: dict[str, Any] | None  # as stored; decoded on first use only
    broken: str | None
    facts: ModelFacts | None = None

    def to_json(self) -> dict[str, Any]:
        raw = encode_facts(self.facts) if self.facts is not None else self.raw_facts
        return {
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "seen_ns": self.seen_ns,
            "facts": raw,
            "broken": self.broken,
        }


@dataclass
class _Found:
    """One physical file during a scan, with the stat taken when it was first found."""

    st: os.stat_result
    first: Candidate
    locations: list[Location] = field(default_factory=list)


@dataclass(frozen=True)
class _Resolved:
    found: _Found
    facts: ModelFacts | None
    broken: str | None


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


class LibraryIndex:
    """Scans sources into ``LibrarySnapshot``s, keeping header facts in ``cache_file``.

    Thread-safe: scans are serialised. Meant to run off the GUI thread.
    """

    def __init__(self, cache_file: Path) -> None:
        self._cache_file = cache_file
        self._records: dict[str, _Record] | None = None
        self._dirty = False
        self._lock = threading.Lock()

    @property
    def cache_file(self) -> Path:
        return self._cache_file

    def scan(
        self,
        sources: Iterable[ModelSource],
        cancel: threading.Event | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
    ) -> LibrarySnapshot:
        """List every source, then resolve each distinct file's facts (cache first).

        Never raises for what is on disk: unreadable folders and vanished files become
        ``problems``, unreadable model files become entries with a ``broken_reason``.
        A cancelled scan returns what it resolved so far and keeps that in the cache.
        """
        with self._lock:
            started = time.perf_counter()
            records = self._load()
            problems: list[ScanProblem] = []
            found = self._collect(sources, problems, cancel)
            resolved: list[_Resolved] = []
            hits = reads = 0
            cancelled = _is_set(cancel)
            for done, item in enumerate(found.values(), start=1):
                if _is_set(cancel):
                    cancelled = True
                    break
                outcome = self._resolve(records, item, problems)
                if outcome is not None:
                    resolved.append(outcome[0])
                    hits += outcome[1]
                    reads += not outcome[1]
                if on_progress is not None:
                    on_progress(ScanProgress(done, len(found), item.first.path))
            self._save(prune=not cancelled)
            entries = _entries(resolved)
            stats = ScanStats(len(found), hits, reads, time.perf_counter() - started)
            return LibrarySnapshot(entries, tuple(problems), cancelled, stats)

    # --- listing ---------------------------------------------------------------------------

    def _collect(
        self,
        sources: Iterable[ModelSource],
        problems: list[ScanProblem],
        cancel: threading.Event | None,
    ) -> dict[str, _Found]:
        found: dict[str, _Found] = {}
        for source in sources:
            for cand in source.candidates(problems, cancel):
                if _is_set(cancel):
                    return found
                try:
                    st = os.stat(cand.path)
                except OSError as exc:
                    code = "vanished" if isinstance(exc, FileNotFoundError) else "io_error"
                    problems.append(
                        ScanProblem(code, str(cand.path), cand.source_kind, str(exc.strerror))
                    )
                    continue
                if not stat.S_ISREG(st.st_mode):
                    problems.append(ScanProblem("not_a_file", str(cand.path), cand.source_kind))
                    continue
                item = found.setdefault(_identity(st), _Found(st, cand))
                if not _already_listed(item.locations, cand):
                    item.locations.append(
                        Location(
                            cand.path, cand.source_kind, cand.display_name, cand.repo, cand.revision
                        )
                    )
        return found

    # --- facts ------------------------------------------------------------------------------

    def _resolve(
        self, records: dict[str, _Record], item: _Found, problems: list[ScanProblem]
    ) -> tuple[_Resolved, bool] | None:
        """(resolved, came from cache), or None when the file vanished before it was read."""
        st, path = item.st, item.first.path
        key = _identity(st)
        now = time.time_ns()
        record = records.get(key)
        if record is not None and (record.size, record.mtime_ns) == (st.st_size, st.st_mtime_ns):
            try:
                if record.raw_facts is not None and record.facts is None:
                    record.facts = decode_facts(record.raw_facts, str(path))
                    record.raw_facts = None
                if now - record.seen_ns > _DAY_NS:  # coarse, so warm scans rarely rewrite
                    record.seen_ns = now
                    self._dirty = True
                facts = record.facts
                if facts is not None and facts.path != str(path):
                    facts = replace(facts, path=str(path))
                return _Resolved(item, facts, record.broken), True
            except ValueError:
                log.info("library cache record for %s is damaged; reading the file", path)
                del records[key]
        try:
            facts = read_model_facts(path)
        except GGUFError as exc:
            # A verdict about the bytes: cached, so a broken file is not re-read until it
            # changes (a download that resumes changes size and mtime).
            records[key] = _Record(st.st_size, st.st_mtime_ns, now, None, exc.problem.value)
            self._dirty = True
            return _Resolved(item, None, exc.problem.value), False
        except FileAccessError as exc:
            if exc.code == "not_found":
                problems.append(ScanProblem("vanished", str(path), item.first.source_kind))
                return None
            # Not cached: permissions and I/O errors are about the moment, not the file.
            return _Resolved(item, None, exc.code), False
        except Exception:  # noqa: BLE001 - one odd file must not hide the whole library
            log.warning("reading the header of %s failed unexpectedly", path, exc_info=True)
            return _Resolved(item, None, "internal_error"), False
        records[key] = _Record(st.st_size, st.st_mtime_ns, now, None, None, facts)
        self._dirty = True
        return _Resolved(item, facts, None), False

    # --- cache file -------------------------------------------------------------------------

    def _load(self) -> dict[str, _Record]:
        if self._records is not None:
            return self._records
        self._records = {}
        try:
            lines = self._cache_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return self._records
        except (OSError, ValueError):
            log.info("library cache %s unreadable; starting afresh", self._cache_file)
            return self._records
        # One JSON document per line, parsed one by one: a single json.loads of the whole
        # cache held the GIL for 60-140 ms per 1,000 models and stalled the GUI thread.
        try:
            header = json.loads(lines[0]) if lines else None
        except ValueError:
            header = None
        if (
            not isinstance(header, dict)
            or header.get("format") != _FORMAT
            or header.get("facts_schema") != SCHEMA
        ):
            return self._records  # another version's cache: rebuilt by this scan
        for line in lines[1:]:
            try:
                key, raw = json.loads(line)
            except (ValueError, TypeError):
                continue  # one damaged line costs one file's re-read, not the cache
            record = _parse_record(raw)
            if isinstance(key, str) and record is not None:
                self._records[key] = record
        return self._records

    def _save(self, *, prune: bool) -> None:
        records = self._records
        if records is None:
            return
        if prune:
            cutoff = time.time_ns() - _PRUNE_AFTER_NS
            stale = [k for k, r in records.items() if r.seen_ns < cutoff]
            for key in stale:
                del records[key]
            self._dirty = self._dirty or bool(stale)
        if not self._dirty:
            return
        header = {"format": _FORMAT, "facts_schema": SCHEMA}
        lines = [json.dumps(header, separators=(",", ":"))]
        # Record by record (short calls the GUI thread can interleave with), one per line.
        lines.extend(
            json.dumps([k, r.to_json()], separators=(",", ":")) for k, r in records.items()
        )
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            text = "\n".join(lines) + "\n"
            atomic_write_text(self._cache_file, text, mode=0o600)
        except OSError as exc:
            # A read-only or full disk costs speed next time, not correctness now.
            log.warning("could not save the library cache %s: %s", self._cache_file, exc)
            return
        self._dirty = False


def _already_listed(locations: list[Location], cand: Candidate) -> bool:
    # One path found twice (a user folder that contains the models folder) is one location;
    # one Ollama blob under two tags is two, since each tag is a name the user knows.
    return any(
        loc.path == cand.path
        and (loc.source_kind != cand.source_kind or loc.display_name == cand.display_name)
        for loc in locations
    )


def _is_set(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _parse_record(raw: Any) -> _Record | None:
    if not isinstance(raw, dict):
        return None
    size, mtime, seen = raw.get("size"), raw.get("mtime_ns"), raw.get("seen_ns")
    facts, broken = raw.get("facts"), raw.get("broken")
    if type(size) is not int or type(mtime) is not int or type(seen) is not int:
        return None
    if isinstance(facts, dict) and broken is None:
        return _Record(size, mtime, seen, facts, None)
    if facts is None and isinstance(broken, str):
        return _Record(size, mtime, seen, None, broken)
    return None


def _entries(resolved: list[_Resolved]) -> tuple[ModelEntry, ...]:
    inputs = [
        FamilyInput(r.facts, r.found.first.name, r.found.first.repo, r.found.first.path.parent)
        for r in resolved
    ]
    keys = family_keys(inputs)
    entries = []
    for r, family_key in zip(resolved, keys, strict=True):
        item = r.found
        entries.append(
            ModelEntry(
                key=_identity(item.st),
                paths=tuple(item.locations),
                name=item.first.name,
                size=item.st.st_size,
                mtime_ns=item.st.st_mtime_ns,
                facts=r.facts,
                broken_reason=r.broken,
                family_key=family_key,
                quant_label=quant_label_for(r.facts, item.first.name),
                own=any(loc.source_kind == "quantdesk" for loc in item.locations),
                provenance=_provenance(item.locations),
            )
        )
    return tuple(entries)


def _provenance(locations: list[Location]) -> Provenance | None:
    """The sidecar beside the first location that has one. Read at every scan, not cached:
    a missing one costs one failed open, and a sidecar can appear after its model (it is
    written second)."""
    for loc in locations:
        if loc.source_kind == "ollama":
            continue  # blobs named by hash: QuantDesk never writes beside them
        found = read_provenance(loc.path)
        if found is not None:
            return found
    return None
