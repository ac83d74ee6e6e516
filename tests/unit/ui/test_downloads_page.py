"""The Downloads page driving real downloads from a loopback hub: faults, buttons, offline,
and a restart that resumes a partial file."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_pages import REAL_FILE, REPO, TIMEOUT, use_fast_downloads
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from pytestqt.qtbot import QtBot

from desktop_app.core.hub.downloads import DownloadRequest, DownloadState
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.partial import part_path
from desktop_app.ui.downloads_bridge import DownloadsBridge, OverallProgress
from desktop_app.ui.models.downloads_model import Column, DownloadRole, format_eta
from desktop_app.ui.pages.discover_page import DiscoverPage
from desktop_app.ui.pages.downloads_page import DownloadsPage
from desktop_app.ui.services import Services
from desktop_app.ui.widgets.download_status import DownloadStatusLabel
from hub_server import HubServer

OTHER_REPO, OTHER_FILE = "org/Small-GGUF", "small-Q8_0.gguf"


@pytest.fixture
def svc(services: Services) -> Iterator[Services]:
    manager = use_fast_downloads(services)
    yield services
    manager.close()


def open_page(qtbot: QtBot, svc: Services) -> DownloadsPage:
    page = DownloadsPage(svc)
    qtbot.addWidget(page)
    page.resize(1180, 760)
    page.show()
    return page


def request(hub: HubServer, repo: str = REPO, name: str = REAL_FILE) -> DownloadRequest:
    f = hub.repos[repo].files[name]
    return DownloadRequest(repo, name, f.size, f.sha256, hub.repos[repo].commit)


def dest_of(svc: Services, repo: str = REPO, name: str = REAL_FILE) -> Path:
    return svc.paths.models.joinpath(*repo.split("/"), name)


def wait_state(qtbot: QtBot, page: DownloadsPage, task_id: int, *states: DownloadState) -> None:
    def reached() -> bool:
        s = page.model.status_of(task_id)
        return s is not None and s.state in states

    qtbot.waitUntil(reached, timeout=TIMEOUT)


def row_text(page: DownloadsPage, task_id: int, column: Column) -> str:
    return page.model.index(page.model.row_of(task_id), column).data()


def assert_verified(path: Path, payload: bytes) -> None:
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_finished_download_row_status_bar_and_actions(
    qtbot: QtBot,
    svc: Services,
    hub: HubServer,
    payload: bytes,
    qtmodeltester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub.fault(REPO, REAL_FILE).rate = 1_500_000  # about 2 s: progress is seen on the way
    page = open_page(qtbot, svc)
    status_label = DownloadStatusLabel(page.bridge)
    qtbot.addWidget(status_label)
    assert not status_label.isVisible() and page.empty.isVisible()
    overall: list[OverallProgress] = []
    page.bridge.overall_changed.connect(overall.append)
    changes: list[float] = []
    page.bridge.status_changed.connect(lambda _s: changes.append(time.monotonic()))
    task = page.bridge.add(request(hub))
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=TIMEOUT)
    assert page.table.isVisible() and not page.empty.isVisible()
    qtbot.waitUntil(
        lambda: (
            0.1 < (page.model.status_of(task).fraction or 0) < 0.9  # type: ignore[union-attr]
            and page.model.status_of(task).speed > 0
        ),  # type: ignore[union-attr]
        timeout=TIMEOUT,
    )
    assert row_text(page, task, Column.STATE) == "Downloading"
    assert row_text(page, task, Column.SPEED).endswith("/s")
    assert row_text(page, task, Column.PROGRESS).endswith("%")
    assert status_label.isVisibleTo(status_label.parentWidget() or status_label)
    assert status_label.text().startswith("1 download, ") and status_label.text().endswith("/s")
    with qtbot.waitSignal(page.download_finished, timeout=TIMEOUT) as finished:
        pass
    dest = dest_of(svc)
    assert finished.args == [str(dest)]
    assert_verified(dest, payload)
    wait_state(qtbot, page, task, DownloadState.DONE)
    assert row_text(page, task, Column.MESSAGE) == "Verified (sha256)."
    assert row_text(page, task, Column.PROGRESS) == "100%"
    assert page.model.index(0, Column.PROGRESS).data(DownloadRole.FRACTION) == 1.0
    assert status_label.text() == "" and overall[-1].count == 0
    # Throttled: at most about ten deliveries a second, however often the worker reports.
    span = max(changes[-1] - changes[0], 0.1)
    assert len(changes) <= 10 * span + 3, (len(changes), span)
    qtmodeltester.check(page.model)
    # Finished: open in Chat, show in folder, remove from the list (the file stays).
    page.select_task(task)
    assert page.chat_button.isEnabled() and not page.pause_button.isEnabled()
    with qtbot.waitSignal(page.open_in_chat, timeout=TIMEOUT) as chat:
        qtbot.mouseClick(page.chat_button, Qt.MouseButton.LeftButton)
    assert chat.args == [str(dest)]
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    qtbot.mouseClick(page.reveal_button, Qt.MouseButton.LeftButton)
    assert [u.toLocalFile() for u in opened] == [str(dest.parent)]
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert page.model.rowCount() == 0 and svc.downloads.statuses() == []
    assert dest.is_file() and page.empty.isVisible()


def test_corrupted_bytes_show_a_clear_error_and_retry_works(
    qtbot: QtBot, svc: Services, hub: HubServer, payload: bytes
) -> None:
    hub.fault(REPO, REAL_FILE).corrupt = True
    page = open_page(qtbot, svc)
    task = page.bridge.add(request(hub))
    wait_state(qtbot, page, task, DownloadState.FAILED)
    message = row_text(page, task, Column.MESSAGE)
    assert message.startswith("The downloaded file is damaged (its sha256 does not match")
    assert row_text(page, task, Column.STATE) == "Failed"
    assert not dest_of(svc).exists()  # a damaged file never reaches the models folder
    page.select_task(task)
    assert page.retry_button.isEnabled() and not page.resume_button.isEnabled()
    hub.fault(REPO, REAL_FILE).corrupt = False
    qtbot.mouseClick(page.retry_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, page, task, DownloadState.DONE)
    assert_verified(dest_of(svc), payload)
    assert row_text(page, task, Column.MESSAGE) == "Verified (sha256)."


def test_cut_connection_fails_clearly_and_retry_resumes_the_partial(
    qtbot: QtBot, svc: Services, hub: HubServer, payload: bytes
) -> None:
    # 1 MB arrives, then every connection breaks at once: the retries give up.
    hub.fault(REPO, REAL_FILE).cut_at = [1_000_000, 0, 0, 0, 0, 0]
    page = open_page(qtbot, svc)
    task = page.bridge.add(request(hub))
    wait_state(qtbot, page, task, DownloadState.FAILED)
    assert "could not reach the hugging face hub" in row_text(page, task, Column.MESSAGE).lower()
    assert part_path(dest_of(svc)).stat().st_size >= 1_000_000  # the partial is kept
    hub.fault(REPO, REAL_FILE).cut_at = []
    page.select_task(task)
    qtbot.mouseClick(page.retry_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, page, task, DownloadState.DONE)
    assert_verified(dest_of(svc), payload)
    assert max(s or 0 for s in hub.range_starts(REPO, REAL_FILE)) >= 1_000_000
    assert "resumed at" in row_text(page, task, Column.MESSAGE)


def test_server_errors_show_the_sentence_and_retry_works(
    qtbot: QtBot, svc: Services, hub: HubServer, payload: bytes
) -> None:
    hub.fault(REPO, REAL_FILE).statuses = [500] * 6
    page = open_page(qtbot, svc)
    task = page.bridge.add(request(hub))
    wait_state(qtbot, page, task, DownloadState.FAILED)
    assert row_text(page, task, Column.MESSAGE) == (
        "The Hugging Face hub had a server error; try again later (HTTP 500)."
    )
    hub.fault(REPO, REAL_FILE).statuses = []
    page.select_task(task)
    qtbot.mouseClick(page.retry_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, page, task, DownloadState.DONE)
    assert_verified(dest_of(svc), payload)


def test_pause_resume_and_cancel_buttons(
    qtbot: QtBot, svc: Services, hub: HubServer, payload: bytes
) -> None:
    hub.fault(REPO, REAL_FILE).rate = 1_000_000
    hub.fault(OTHER_REPO, OTHER_FILE).rate = 500_000
    page = open_page(qtbot, svc)
    task = page.bridge.add(request(hub))
    qtbot.waitUntil(
        lambda: (s := page.model.status_of(task)) is not None and s.done > 300_000,
        timeout=TIMEOUT,
    )
    page.select_task(task)
    assert page.pause_button.isEnabled() and page.cancel_button.isEnabled()
    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, page, task, DownloadState.PAUSED)
    kept = page.model.status_of(task).done  # type: ignore[union-attr]
    assert "kept; resume continues from there" in row_text(page, task, Column.MESSAGE)
    assert part_path(dest_of(svc)).is_file() and not dest_of(svc).exists()
    assert page.resume_button.isEnabled() and not page.pause_button.isEnabled()
    hub.fault(REPO, REAL_FILE).rate = None
    qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, page, task, DownloadState.DONE)
    assert_verified(dest_of(svc), payload)
    assert max(s or 0 for s in hub.range_starts(REPO, REAL_FILE)) >= kept > 0
    # Cancel deletes the part downloaded so far; the row can then be removed.
    other = page.bridge.add(request(hub, OTHER_REPO, OTHER_FILE))
    qtbot.waitUntil(
        lambda: (s := page.model.status_of(other)) is not None and s.done > 0, timeout=TIMEOUT
    )
    page.select_task(other)
    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, page, other, DownloadState.CANCELLED)
    folder = dest_of(svc, OTHER_REPO, OTHER_FILE).parent
    qtbot.waitUntil(lambda: not any(folder.glob("*.part")), timeout=TIMEOUT)
    assert not dest_of(svc, OTHER_REPO, OTHER_FILE).exists()
    assert page.remove_button.isEnabled() and not page.cancel_button.isEnabled()
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert [s.task_id for s in page.model.statuses()] == [task]


def test_offline_pauses_downloads_and_going_online_resumes_them(
    qtbot: QtBot, svc: Services, hub: HubServer, payload: bytes
) -> None:
    hub.fault(REPO, REAL_FILE).rate = 800_000
    page = open_page(qtbot, svc)
    task = page.bridge.add(request(hub))
    qtbot.waitUntil(
        lambda: (s := page.model.status_of(task)) is not None and s.done > 200_000,
        timeout=TIMEOUT,
    )
    discover = DiscoverPage(svc)  # the same switch: Discover shows it too
    qtbot.addWidget(discover)
    discover.show()
    qtbot.mouseClick(page.offline_box, Qt.MouseButton.LeftButton)
    assert svc.offline.is_offline() and page.banner.isVisible()
    assert discover.offline_box.isChecked() and discover.banner.kind == "offline"
    wait_state(qtbot, page, task, DownloadState.PAUSED)
    assert row_text(page, task, Column.MESSAGE) == (
        "Paused while offline; resumes when you go online."
    )
    page.select_task(task)
    assert not page.resume_button.isEnabled()
    assert "Offline mode is on" in page.resume_button.toolTip()
    with pytest.raises(HubError) as refused:  # nothing can start a connection meanwhile
        page.bridge.add(request(hub, OTHER_REPO, OTHER_FILE))
    assert refused.value.code == "offline"
    seen = len(hub.requests)
    qtbot.wait(600)
    assert len(hub.requests) == seen
    hub.fault(REPO, REAL_FILE).rate = None
    qtbot.mouseClick(discover.offline_box, Qt.MouseButton.LeftButton)  # online from Discover
    assert not svc.offline.is_offline() and not page.offline_box.isChecked()
    assert not page.banner.isVisible()
    wait_state(qtbot, page, task, DownloadState.DONE)
    assert_verified(dest_of(svc), payload)


def test_partial_from_an_earlier_run_is_listed_paused_and_resumes(
    qtbot: QtBot, services: Services, hub: HubServer, payload: bytes
) -> None:
    hub.fault(REPO, REAL_FILE).rate = 1_000_000
    earlier = use_fast_downloads(services)  # the previous run's queue
    task = earlier.add(request(hub))
    deadline = time.monotonic() + 20
    while earlier.status(task).done < 500_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    earlier.close()  # quitting pauses it; the partial and its record stay
    assert earlier.status(task).state is DownloadState.PAUSED
    hub.fault(REPO, REAL_FILE).rate = None
    manager = use_fast_downloads(services)  # the next run
    try:
        page = open_page(qtbot, services)
        # Listed first, then with the bytes already on disk once restore() has read them.
        qtbot.waitUntil(
            lambda: page.model.rowCount() == 1 and page.model.status_at(0).done >= 500_000,
            timeout=TIMEOUT,
        )
        restored = page.model.status_at(0)
        assert restored.state is DownloadState.PAUSED
        assert "kept; resume continues from there" in page.model.index(0, Column.MESSAGE).data()
        page.select_task(restored.task_id)
        qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
        wait_state(qtbot, page, restored.task_id, DownloadState.DONE)
        assert_verified(dest_of(services), payload)
        assert max(s or 0 for s in hub.range_starts(REPO, REAL_FILE)) >= 500_000
    finally:
        manager.close()


def test_bridge_reports_tasks_added_before_it_and_stops_after_close(
    qtbot: QtBot, svc: Services, hub: HubServer
) -> None:
    task = svc.downloads.add(request(hub), start=False)  # listed paused, before any bridge
    bridge = DownloadsBridge(svc.downloads, svc.offline)
    seen: list[int] = []
    bridge.status_changed.connect(lambda s: seen.append(s.task_id))
    qtbot.waitUntil(lambda: seen == [task], timeout=TIMEOUT)
    bridge.close()
    svc.downloads.cancel(task)
    qtbot.wait(300)
    assert seen == [task]  # nothing is delivered after close
    bridge.deleteLater()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (4.4, "4 s"), (61, "1 min 01 s"), (3 * 3600 + 5 * 60, "3 h 05 min")],
)
def test_time_left_reads_naturally(seconds: float | None, text: str) -> None:
    assert format_eta(seconds) == text


def test_main_window_wires_downloads_to_status_bar_library_and_chat(
    qtbot: QtBot, svc: Services, hub: HubServer, payload: bytes
) -> None:
    from desktop_app.ui.main_window import MainWindow

    hub.fault(REPO, REAL_FILE).rate = 1_500_000
    window = MainWindow(svc)
    qtbot.addWidget(window)
    window.show()
    names = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert names.index("Discover") == names.index("Library") + 1
    assert window.pages.widget(names.index("Downloads")) is window.downloads_page
    assert not window.download_status.isVisible()
    task = window.downloads_page.bridge.add(request(hub))
    qtbot.waitUntil(
        lambda: window.download_status.text().startswith("1 download, "), timeout=TIMEOUT
    )
    assert window.download_status.isVisible()
    library = window.library_page
    dest = dest_of(svc)

    def listed() -> bool:
        return any(row.entry.path == dest for row in library.model.rows())

    # The finished file is verified, then the Library rescans and lists it.
    qtbot.waitUntil(listed, timeout=TIMEOUT)
    assert_verified(dest, payload)
    qtbot.waitUntil(lambda: not window.download_status.isVisible(), timeout=TIMEOUT)
    window.downloads_page.select_task(task)
    qtbot.mouseClick(window.downloads_page.chat_button, Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is window.chat_page
