"""Library scans off the GUI thread: one at a time, cancellable, throttled, on watched folders.

``run_scan`` is the worker function (plain Python, no Qt object touched): it builds the sources,
scans them with the index, groups families and judges each model's fit, so the GUI thread only
swaps the results in. ``LibraryScanner`` is its GUI-side controller:

* never two scans at once: a rescan asked for while one runs cancels it and starts afresh when
  it has stopped (its stale result is dropped);
* progress is read from the running job by a 100 ms timer, so the status line changes at most
  ten times a second however fast files are resolved;
* a ``QFileSystemWatcher`` on the source roots and the folders holding models triggers a rescan
  1.5 s after the last change (a copy that creates several entries causes one scan).

Signals (all on the GUI thread):
    scan_started(): a scan was submitted.
    progress_changed(int, int): files resolved, files found.
    scan_finished(object): a ``ScanOutcome``.
    scan_failed(object): the exception of a scan that failed unexpectedly.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QThreadPool, QTimer, Signal, Slot

from desktop_app.core.fit import LoadPlan, estimate_fit
from desktop_app.core.hardware import memory_snapshot
from desktop_app.core.library.entries import LibrarySnapshot, ScanProgress
from desktop_app.core.library.families import ModelFamily, group_families
from desktop_app.core.library.index import LibraryIndex
from desktop_app.core.library.sources import ModelSource, default_sources
from desktop_app.core.library.walk import is_inside
from desktop_app.ui.models.disk_use_model import DiskUse
from desktop_app.ui.models.family_model import family_label
from desktop_app.ui.models.library_model import FIT_CONTEXT, LibraryRow, source_name
from desktop_app.ui.tasks import Op

# (QuantDesk's own model folders, folders the user added) -> every source to scan.
SourcesFactory = Callable[[Sequence[Path], Sequence[Path]], Sequence[ModelSource]]

PROGRESS_INTERVAL_MS = 100
DEBOUNCE_MS = 1500
MAX_WATCHED_DIRS = 512  # inotify watches are a per-user resource shared with other apps


def default_sources_factory(own: Sequence[Path], folders: Sequence[Path]) -> Sequence[ModelSource]:
    """This machine's real places (the user's home, environment and OS)."""
    return default_sources(own, folders=folders)


@dataclass(frozen=True)
class ScanOutcome:
    snapshot: LibrarySnapshot
    rows: tuple[LibraryRow, ...]
    families: tuple[ModelFamily, ...]
    by_source: tuple[DiskUse, ...]
    by_family: tuple[DiskUse, ...]
    looked_in: tuple[tuple[str, str], ...]  # (source kind, folder)
    watch_dirs: tuple[str, ...]


class _Job:
    """One scan's shared state: the GUI sets ``cancel``, the worker sets ``progress``."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.progress: ScanProgress | None = None  # replaced whole: safe to read anywhere

    def on_progress(self, progress: ScanProgress) -> None:
        self.progress = progress


def _source_roots(source: ModelSource) -> list[Path]:
    roots = getattr(source, "roots", None)
    if roots is not None:
        return list(roots)
    if hasattr(source, "cache_dir"):
        cache = source.cache_dir
        if cache is None:
            from huggingface_hub import constants

            cache = constants.HF_HUB_CACHE
        return [Path(cache)]
    return []


def run_scan(
    index: LibraryIndex,
    factory: SourcesFactory,
    own: Sequence[Path],
    folders: Sequence[Path],
    job: _Job,
) -> ScanOutcome:
    """Worker thread: scan, group, judge fit and sum disk use. Touches no Qt object."""
    sources = factory(own, folders)
    snapshot = index.scan(sources, job.cancel, job.on_progress)
    families = group_families(snapshot.entries)
    family_of = {e.key: f.name for f in families for v in f.variants for e in v.entries}
    available = memory_snapshot().available
    plan = LoadPlan(n_ctx=FIT_CONTEXT)
    rows = []
    for entry in snapshot.entries:
        verdict = total = None
        if entry.facts is not None:
            fit = estimate_fit(entry.facts, plan, available)
            verdict, total = fit.verdict, fit.total
        rows.append(LibraryRow(entry, family_of.get(entry.key, entry.name), verdict, total))

    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for entry in snapshot.entries:
        for kind in dict.fromkeys(loc.source_kind for loc in entry.paths):
            per_source[kind][0] += 1
            per_source[kind][1] += entry.size
    by_source = tuple(DiskUse(source_name(k), n, size) for k, (n, size) in per_source.items())
    by_family = tuple(
        DiskUse(family_label(f), sum(len(v.entries) for v in f.variants), f.size) for f in families
    )

    looked_in = []
    roots: list[str] = []
    for source in sources:
        for root in _source_roots(source):
            looked_in.append((str(source.kind), str(root)))
            if os.path.isdir(root):
                roots.append(os.path.abspath(root))
    watch = dict.fromkeys(roots)
    for entry in snapshot.entries:
        for loc in entry.paths:
            folder = os.path.dirname(os.path.abspath(loc.path))
            while len(watch) < MAX_WATCHED_DIRS and any(is_inside(folder, r) for r in roots):
                watch.setdefault(folder)
                folder = os.path.dirname(folder)
    return ScanOutcome(
        snapshot,
        tuple(rows),
        families,
        by_source,
        by_family,
        tuple(dict.fromkeys(looked_in)),
        tuple(list(watch)[:MAX_WATCHED_DIRS]),
    )


class LibraryScanner(QObject):
    scan_started = Signal()
    progress_changed = Signal(int, int)
    scan_finished = Signal(object)
    scan_failed = Signal(object)

    def __init__(
        self,
        index: LibraryIndex,
        factory: SourcesFactory,
        own: Sequence[Path],
        pool: QThreadPool,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._index = index
        self._factory = factory
        self._own = tuple(own)
        self._folders: tuple[Path, ...] = ()
        self._pool = pool
        self._job: _Job | None = None
        self._restart = False
        self._closed = False
        self._last_progress: ScanProgress | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(PROGRESS_INTERVAL_MS)
        self._poll.timeout.connect(self._on_poll_timeout)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.rescan)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_watcher_directory_changed)

    @property
    def scanning(self) -> bool:
        return self._job is not None

    def set_folders(self, folders: Sequence[Path]) -> None:
        self._folders = tuple(folders)

    def set_own(self, own: Sequence[Path]) -> None:
        """QuantDesk's own folders (the first models folder moved); used from the next scan."""
        self._own = tuple(own)

    @Slot()
    def rescan(self) -> None:
        """Scan now; if a scan is running, cancel it and scan again once it has stopped."""
        if self._closed:
            return
        self._debounce.stop()
        if self._job is not None:
            self._restart = True
            self._job.cancel.set()
            return
        job = self._job = _Job()
        self._last_progress = None
        (
            Op(run_scan, self._index, self._factory, self._own, self._folders, job)
            .success(lambda outcome: self._on_scan_done(job, outcome))
            .failure(lambda exc: self._on_scan_error(job, exc))
            .owned_by(self)
            .run_in(self._pool)
        )
        self._poll.start()
        self.scan_started.emit()

    def shutdown(self) -> None:
        """Cancel the running scan and stop watching; no scan starts after this."""
        self._closed = True
        self._debounce.stop()
        self._poll.stop()
        if self._job is not None:
            self._job.cancel.set()
        watched = self.watcher.directories()
        if watched:
            self.watcher.removePaths(watched)

    @Slot()
    def _on_poll_timeout(self) -> None:
        job = self._job
        progress = job.progress if job is not None else None
        if progress is not None and progress is not self._last_progress:
            self._last_progress = progress
            self.progress_changed.emit(progress.done, progress.total)

    @Slot(str)
    def _on_watcher_directory_changed(self, _path: str) -> None:
        if not self._closed:
            self._debounce.start()

    def _finish(self, job: _Job) -> bool:
        """Bookkeeping when ``job`` ends; whether its result should be shown."""
        if job is not self._job:
            return False
        self._job = None
        self._poll.stop()
        if self._closed:
            return False
        if self._restart:
            self._restart = False
            self.rescan()
            return False
        return True

    def _on_scan_done(self, job: _Job, outcome: ScanOutcome) -> None:
        if not self._finish(job):
            return
        self._watch(outcome.watch_dirs)
        self.scan_finished.emit(outcome)

    def _on_scan_error(self, job: _Job, exc: BaseException) -> None:
        if self._finish(job):
            self.scan_failed.emit(exc)

    def _watch(self, dirs: Sequence[str]) -> None:
        current = set(self.watcher.directories())
        wanted = set(dirs)
        stale = sorted(current - wanted)
        if stale:
            self.watcher.removePaths(stale)
        new = sorted(wanted - current)
        if new:
            self.watcher.addPaths(new)  # folders gone meanwhile are returned, not warned about
