"""The Library page adds a scan's rows to the table a batch per event-loop turn.

A thousand rows inserted at once into the sorted table stalled the GUI thread for 150-250 ms
(benchmarks/library_scan_stall.py); here the batch is made tiny so five files take three turns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from library_home import FakeHome, copy, populate
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop_app.ui.models.library_model import Column
from desktop_app.ui.pages.library_page import LibraryPage
from desktop_app.ui.services import Services

TIMEOUT = 20_000


@pytest.fixture
def fake_home(tmp_path: Path) -> FakeHome:
    return FakeHome(tmp_path / "home")


@pytest.fixture
def files(fake_home: FakeHome, services: Services, tiny_models: dict[str, Path]) -> dict[str, Path]:
    return populate(fake_home.home, services.paths.models, tiny_models)


@pytest.fixture
def page(qtbot: QtBot, services: Services, fake_home: FakeHome) -> Iterator[LibraryPage]:
    """A page with a batch of 2; closed and its background work drained afterwards (as
    test_library_page's ``pages`` fixture explains)."""
    page = LibraryPage(services, sources_factory=fake_home.sources)
    page.insert_batch = 2
    qtbot.addWidget(page)
    page.resize(1180, 760)
    yield page
    if shiboken6.isValid(page):
        page.close()
    for pool in (services.pools.io, services.pools.heavy):
        assert pool.waitForDone(TIMEOUT)
    QApplication.processEvents()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def names(page: LibraryPage) -> set[str]:
    return {page.proxy.index(r, Column.NAME).data() for r in range(page.proxy.rowCount())}


def test_rows_arrive_in_batches_then_the_outcome_is_shown(
    qtbot: QtBot, page: LibraryPage, files: dict[str, Path], qtmodeltester
) -> None:
    qtmodeltester.check(page.model)  # watches every batch insert
    inserted: list[int] = []
    statuses: list[str] = []
    page.model.rowsInserted.connect(lambda _p, first, last: inserted.append(last - first + 1))
    page.model.rowsInserted.connect(lambda *_: statuses.append(page.status.text()))
    with qtbot.waitSignal(page.outcome_shown, timeout=TIMEOUT) as shown:
        page.show()  # the first show starts the scan
    assert inserted == [2, 2, 1]
    # While rows are still arriving the status says so; the summary comes once all are in.
    assert statuses[1] == "Showing models… 2 of 5"
    assert page.status.text().startswith("5 model files, 1 broken")
    assert shown.args[0].rows == page.model.rows()
    assert names(page) == {
        "tiny-F16.gguf",
        "tiny-Q4_K_M.gguf",
        "tiny-Q2_K.gguf",
        "tiny:q4_K_M",
        "tiny-Q8_0.gguf",
    }
    assert page.views.table_stack.currentWidget() is page.table


def test_a_scan_that_ends_while_rows_are_arriving_takes_over_the_feed(
    qtbot: QtBot,
    page: LibraryPage,
    services: Services,
    files: dict[str, Path],
    tiny_models: dict[str, Path],
    qtmodeltester,
) -> None:
    qtmodeltester.check(page.model)
    extra = files["lms_q4"].parent / "tiny-Q8_0.gguf"
    shown: list[object] = []
    page.outcome_shown.connect(shown.append)
    rescanned: list[bool] = []

    def rescan_after_first_batch(*_args: object) -> None:
        if rescanned:
            return
        # A new file appears and a rescan runs to its end before the feed's next turn.
        rescanned.append(True)
        copy(tiny_models["Q8_0"], extra)
        page.rescan()
        assert services.pools.io.waitForDone(TIMEOUT)

    page.model.rowsInserted.connect(rescan_after_first_batch)
    page.show()
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT)
    qtbot.wait(100)  # nothing more may arrive: one feed, carried on with the newer outcome
    assert len(shown) == 1, shown
    assert shown[0].rows == page.model.rows()  # type: ignore[attr-defined]
    assert page.proxy.rowCount() == 6
    assert str(extra) in {str(r.entry.path) for r in page.model.rows()}
    assert page.status.text().startswith("6 model files, 1 broken")
