"""The Library page on a fake home: LM Studio, Ollama and QuantDesk's own folder, real GGUFs."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from library_home import FakeHome, copy, populate
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from desktop_app.core.library.entries import LibrarySnapshot, ScanStats
from desktop_app.core.library.hidden import HIDDEN_FILE_NAME
from desktop_app.messages import describe_broken_reason
from desktop_app.ui import library_actions, library_scanner
from desktop_app.ui.models.library_model import BROKEN_COLOR, Column, LibraryRole
from desktop_app.ui.pages.library_page import LibraryPage
from desktop_app.ui.services import Services
from desktop_app.ui.widgets.import_dialog import ImportModeDialog

TIMEOUT = 20_000


@pytest.fixture
def fake_home(tmp_path: Path) -> FakeHome:
    return FakeHome(tmp_path / "home")


@pytest.fixture
def files(fake_home: FakeHome, services: Services, tiny_models: dict[str, Path]) -> dict[str, Path]:
    return populate(fake_home.home, services.paths.models, tiny_models)


@pytest.fixture
def pages(services: Services) -> Iterator[list[LibraryPage]]:
    """Keeps test pages alive until their background work is over.

    qtbot holds only weak references, and a page that dies with work in flight crashes
    PySide: each tasks.py relay is a child of its owner and holds the owner's bound methods,
    so the relay's deleteLater() can drop the owner's last reference from inside the relay's
    own destructor. So: cancel, wait for the pools, deliver, run the deleteLater()s, release.
    """
    kept: list[LibraryPage] = []
    yield kept
    for page in kept:
        if shiboken6.isValid(page):
            page.close()  # cancels a running scan
    for pool in (services.pools.io, services.pools.heavy):
        assert pool.waitForDone(TIMEOUT)
    QApplication.processEvents()
    flush_deferred_deletes()
    kept.clear()


def flush_deferred_deletes() -> None:
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def open_page(
    qtbot: QtBot, services: Services, fake_home: FakeHome, pages: list[LibraryPage]
) -> LibraryPage:
    page = LibraryPage(services, sources_factory=fake_home.sources)
    qtbot.addWidget(page)
    pages.append(page)
    page.resize(1280, 760)
    with qtbot.waitSignal(page.scanner.scan_finished, timeout=TIMEOUT):
        page.show()  # the first show starts the scan
    return page


def table_rows(page: LibraryPage) -> list[dict[str, str]]:
    proxy = page.proxy
    return [
        {c.name: proxy.index(r, c).data() for c in Column}
        | {"path": proxy.index(r, 0).data(LibraryRole.PATH)}
        for r in range(proxy.rowCount())
    ]


def select_path(page: LibraryPage, path: Path) -> None:
    row = next(r for r in page.model.rows() if r.entry.path == path)
    page.views.select_key(row.key)
    assert page.selected_row() == row


def test_scan_lists_every_source_off_the_gui_thread(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    qtmodeltester,
    pages: list[LibraryPage],
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    rows = {(r["SOURCE"], r["QUANT"], r["NAME"]) for r in table_rows(page)}
    assert rows == {
        ("LM Studio", "F16", "tiny-F16.gguf"),
        ("LM Studio", "Q4_K_M", "tiny-Q4_K_M.gguf"),
        ("LM Studio", "Q2_K", "tiny-Q2_K.gguf"),
        ("Ollama", "Q4_K_M", "tiny:q4_K_M"),
        ("QuantDesk", "Q8_0", "tiny-Q8_0.gguf"),
    }
    good = [r for r in table_rows(page) if r["QUANT"] != "Q2_K"]
    assert all(r["FIT"] == "Fits" and r["ARCH"] == "llama" for r in good)
    assert fake_home.threads and threading.get_ident() not in fake_home.threads
    assert "LM Studio" in page.summary.text() and "5 model files" in page.status.text()
    page.views.tabs.setCurrentWidget(page.tree)  # the family tree is built when first shown
    assert page.family_model.rowCount() == 3
    for model in (page.model, page.proxy, page.family_model, page.views.tree_proxy):
        qtmodeltester.check(model)
    qtmodeltester.check(page.views.source_use)
    qtmodeltester.check(page.views.family_use)
    sources = {u.label: u.files for u in page.views.source_use.rows()}
    assert sources == {"LM Studio": 3, "Ollama": 1, "QuantDesk": 1}


def test_filter_by_text_and_source(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    pages: list[LibraryPage],
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    qtbot.keyClicks(page.search, "q8_0")
    assert [r["SOURCE"] for r in table_rows(page)] == ["QuantDesk"]
    page.search.clear()
    qtbot.keyClicks(page.search, "lmstudio-community")  # a folder in the path
    assert {r["SOURCE"] for r in table_rows(page)} == {"LM Studio"}
    page.search.clear()
    page.source_filter.setCurrentIndex(page.source_filter.findData("ollama"))
    assert [r["NAME"] for r in table_rows(page)] == ["tiny:q4_K_M"]
    qtbot.keyClicks(page.search, "no such model")
    assert page.proxy.rowCount() == 0
    assert page.views.table_stack.currentWidget() is page.views.message
    assert "No models match" in page.views.message.text()
    page.search.clear()
    page.source_filter.setCurrentIndex(0)
    assert page.proxy.rowCount() == 5
    assert page.views.table_stack.currentWidget() is page.table


def test_family_view_groups_variants_best_first(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    pages: list[LibraryPage],
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    page.views.tabs.setCurrentWidget(page.tree)
    tree = page.views.tree_proxy
    families = {}
    for f in range(tree.rowCount()):
        parent = tree.index(f, 0)
        families[parent.data(LibraryRole.FAMILY_KEY)] = [
            tree.index(v, 0, parent).data() for v in range(tree.rowCount(parent))
        ]
    lms = next(v for k, v in families.items() if k.startswith("lmstudio-community/tiny-gguf"))
    assert lms == ["F16", "Q4_K_M", "Q2_K"]  # best quality first; the broken one included
    assert sum(len(v) for v in families.values()) == 5
    # A family row selects its best usable variant for the details and the actions.
    lms_row = next(
        tree.index(f, 0)
        for f in range(tree.rowCount())
        if tree.index(f, 0).data(LibraryRole.FAMILY_KEY).startswith("lmstudio-community")
    )
    page.tree.setCurrentIndex(lms_row)
    assert page.selected_row().entry.path == files["lms_f16"]  # type: ignore[union-attr]
    assert page.details.title.text() == "tiny-F16.gguf"
    # Compare gets the family's usable variants, best first.
    select_path(page, files["lms_q4"])
    assert page.details.compare_button.isEnabled()
    with qtbot.waitSignal(page.open_in_compare) as blocker:
        page.details.compare_button.click()
    assert blocker.args == [[str(files["lms_f16"]), str(files["lms_q4"])]]
    page.set_compare_available(False, "Compare is not available in this version yet.")
    assert not page.details.compare_button.isEnabled()
    assert "not available" in page.details.compare_button.toolTip()


def test_broken_file_is_a_grey_row_with_its_reason(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    pages: list[LibraryPage],
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    row = next(r for r in page.model.rows() if r.entry.path == files["lms_broken"])
    index = page.model.index_for_key(row.key)
    assert row.entry.broken_reason is not None and row.entry.facts is None
    reason = describe_broken_reason(row.entry.broken_reason)  # the cut fell in the vocabulary
    assert reason in index.data(Qt.ItemDataRole.ToolTipRole)
    assert index.data(Qt.ItemDataRole.ForegroundRole) == QColor(BROKEN_COLOR)
    assert index.siblingAtColumn(Column.FIT).data() == "Broken"
    assert "1 broken" in page.status.text()
    select_path(page, files["lms_broken"])
    assert not page.details.chat_button.isEnabled()
    assert page.details.fields["status"].text() == f"Broken: {reason}"


def test_delete_own_file_after_confirmation(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    pages: list[LibraryPage],
    qtmodeltester,
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    qtmodeltester.check(page.model)  # watches the removal and the rescan that follows
    qtmodeltester.check(page.proxy)
    # Other apps' files cannot be deleted: the button is off and says why.
    select_path(page, files["lms_q4"])
    assert not page.details.delete_button.isEnabled()
    assert "LM Studio" in page.details.delete_button.toolTip()

    asked: list[str] = []
    answer = QMessageBox.StandardButton.No

    def question(_parent: object, _title: str, text: str, *_args: object) -> object:
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    select_path(page, files["own_q8"])
    assert page.details.delete_button.isEnabled()
    page.details.delete_button.click()
    assert "This frees" in asked[0] and files["own_q8"].exists()  # "No" keeps the file

    answer = QMessageBox.StandardButton.Yes
    page.details.delete_button.click()
    qtbot.waitUntil(lambda: not files["own_q8"].exists(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 4, timeout=TIMEOUT)
    assert "QuantDesk" not in {r["SOURCE"] for r in table_rows(page)}
    assert "freed" in page.notice.text()
    assert files["lms_q4"].exists()


def test_hide_persists_across_pages(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    pages: list[LibraryPage],
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    select_path(page, files["own_q8"])
    assert not page.details.hide_button.isEnabled()  # own files are deleted, not hidden
    select_path(page, files["lms_f16"])
    page.details.hide_button.click()
    assert page.proxy.rowCount() == 4
    assert page.show_hidden.text() == "Show hidden (1)"
    page.show_hidden.setChecked(True)
    assert page.proxy.rowCount() == 5
    hidden = next(r for r in page.model.rows() if r.entry.path == files["lms_f16"])
    assert page.model.index_for_key(hidden.key).data(Qt.ItemDataRole.FontRole).italic()
    services.pools.io.waitForDone(TIMEOUT)
    assert (services.paths.config / HIDDEN_FILE_NAME).exists()
    assert files["lms_f16"].exists()  # hiding changes nothing on disk
    page.close()

    again = open_page(qtbot, services, fake_home, pages)
    assert again.proxy.rowCount() == 4
    assert str(files["lms_f16"]) not in {r["path"] for r in table_rows(again)}
    assert again.show_hidden.text() == "Show hidden (1)"
    # Unhiding puts it back, and that persists too.
    again.show_hidden.setChecked(True)
    select_path(again, files["lms_f16"])
    assert again.details.hide_button.text() == "Unhide"
    again.details.hide_button.click()
    again.show_hidden.setChecked(False)
    assert again.proxy.rowCount() == 5


def test_import_via_dialog_copies_into_own_folder(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    tmp_path: Path,
    tiny_models: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    pages: list[LibraryPage],
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    assert page.views.table_stack.currentWidget() is page.views.message  # empty home
    text = page.views.message.text()
    assert "No models found" in text and str(fake_home.lmstudio) in text
    assert str(services.paths.models) in text

    src = copy(tiny_models["Q4_K_M"], tmp_path / "downloads" / "tiny-Q4_K_M.gguf")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(src)], ""))
    monkeypatch.setattr(library_actions.import_dialog, "ask_import_mode", lambda *a: "copy")
    page.import_button.click()
    dest = services.paths.models / "imported" / "tiny-Q4_K_M.gguf"
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 1, timeout=TIMEOUT)
    assert dest.is_file() and src.is_file()  # copied, the original stays
    assert table_rows(page)[0]["path"] == str(dest)
    assert table_rows(page)[0]["SOURCE"] == "QuantDesk"
    assert page.views.table_stack.currentWidget() is page.table
    assert page.notice.text() == "Imported 1 file."

    # Dropping a file asks the same question; a symbolic link this time.
    other = copy(tiny_models["Q8_0"], tmp_path / "downloads" / "tiny-Q8_0.gguf")
    monkeypatch.setattr(library_actions.import_dialog, "ask_import_mode", lambda *a: "symlink")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other)), QUrl.fromLocalFile(str(tmp_path))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    page.dropEvent(drop)
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 2, timeout=TIMEOUT)
    assert (services.paths.models / "imported" / "tiny-Q8_0.gguf").is_symlink()


def test_import_dialog_offers_four_modes(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = ImportModeDialog([str(tmp_path / "a.gguf")], tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.mode() == "copy"
    dialog.buttons["hardlink"].click()
    assert dialog.mode() == "hardlink"
    assert set(dialog.buttons) == {"copy", "move", "hardlink", "symlink"}


def test_open_in_chat_and_reveal(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    pages: list[LibraryPage],
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    select_path(page, files["lms_q4"])
    with qtbot.waitSignal(page.open_in_chat) as blocker:
        page.details.chat_button.click()
    assert blocker.args == [str(files["lms_q4"])]
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    page.details.reveal_button.click()
    assert [u.toLocalFile() for u in opened] == [str(files["lms_q4"].parent)]
    assert page.details.fields["arch"].text() == "llama"
    assert "LM Studio: " + str(files["lms_q4"]) in page.details.locations.toPlainText()


def test_watched_folder_change_triggers_one_rescan(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    tiny_models: dict[str, Path],
    pages: list[LibraryPage],
    qtmodeltester,
) -> None:
    page = open_page(qtbot, services, fake_home, pages)
    qtmodeltester.check(page.model)  # watches the rows the rescan inserts
    page.views.tabs.setCurrentWidget(page.tree)
    qtmodeltester.check(page.family_model)
    assert str(files["lms_q4"].parent) in page.scanner.watcher.directories()
    calls = len(fake_home.threads)
    with qtbot.waitSignal(page.scanner.scan_finished, timeout=TIMEOUT):
        copy(tiny_models["Q8_0"], files["lms_q4"].parent / "tiny-Q8_0.gguf")
        copy(tiny_models["Q8_0"], files["lms_q4"].parent / "tiny-Q8_0-copy.gguf")
    assert page.proxy.rowCount() == 7
    assert len(fake_home.threads) == calls + 1  # debounced: two new files, one scan


class _SlowSource:
    """Blocks the scan until released (or cancelled), counting scans running at once."""

    kind = "folder"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.active = self.most = self.started = 0

    def candidates(self, problems: list, cancel: threading.Event | None = None):  # type: ignore[no-untyped-def]
        with self.lock:
            self.active += 1
            self.started += 1
            self.most = max(self.most, self.active)
        try:
            while not self.release.is_set() and not (cancel is not None and cancel.is_set()):
                time.sleep(0.005)
        finally:
            with self.lock:
                self.active -= 1
        yield from ()


def test_rescan_during_a_scan_restarts_it_never_two_at_once(
    qtbot: QtBot, services: Services, pages: list[LibraryPage]
) -> None:
    slow = _SlowSource()
    page = LibraryPage(services, sources_factory=lambda own, folders: [slow])
    qtbot.addWidget(page)
    pages.append(page)
    finished: list[object] = []
    page.scanner.scan_finished.connect(finished.append)
    page.show()
    qtbot.waitUntil(lambda: slow.started == 1, timeout=TIMEOUT)
    page.rescan_button.click()
    page.rescan_button.click()
    qtbot.waitUntil(lambda: slow.started == 2, timeout=TIMEOUT)
    slow.release.set()
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=TIMEOUT)
    qtbot.wait(100)
    assert slow.most == 1 and slow.started == 2 and len(finished) == 1
    assert not finished[0].snapshot.cancelled  # type: ignore[attr-defined]


class _ChattyIndex:
    """An index whose scan reports progress thousands of times."""

    def scan(self, sources, cancel=None, on_progress=None):  # type: ignore[no-untyped-def]
        from desktop_app.core.library.entries import ScanProgress

        deadline = time.monotonic() + 0.6
        n = 0
        while time.monotonic() < deadline:
            n += 1
            on_progress(ScanProgress(n, 10**6, Path("x.gguf")))
            time.sleep(0.0001)
        return LibrarySnapshot((), (), False, ScanStats(0, 0, 0, 0.6))


def test_progress_reaches_the_gui_at_most_ten_times_a_second(
    qtbot: QtBot, services: Services
) -> None:
    scanner = library_scanner.LibraryScanner(
        _ChattyIndex(),  # type: ignore[arg-type]
        lambda own, folders: [],
        [services.paths.models],
        services.pools.io,
    )
    updates: list[tuple[int, int]] = []
    scanner.progress_changed.connect(lambda done, total: updates.append((done, total)))
    with qtbot.waitSignal(scanner.scan_finished, timeout=TIMEOUT):
        scanner.rescan()
    assert 1 <= len(updates) <= 8
    assert updates == sorted(updates)
    scanner.shutdown()
    flush_deferred_deletes()


def test_close_cancels_a_running_scan(
    qtbot: QtBot, services: Services, pages: list[LibraryPage]
) -> None:
    slow = _SlowSource()
    page = LibraryPage(services, sources_factory=lambda own, folders: [slow])
    qtbot.addWidget(page)
    pages.append(page)
    page.show()
    qtbot.waitUntil(lambda: slow.started == 1, timeout=TIMEOUT)
    page.close()
    assert services.pools.io.waitForDone(TIMEOUT)
    assert slow.active == 0
    page.rescan()  # after shutdown: ignored
    assert slow.started == 1


def test_added_folder_is_scanned_and_remembered(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    tmp_path: Path,
    tiny_models: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    pages: list[LibraryPage],
) -> None:
    folder = tmp_path / "my models"
    copy(tiny_models["Q2_K"], folder / "deep" / "tiny-Q2_K.gguf")
    page = open_page(qtbot, services, fake_home, pages)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(page.scanner.scan_finished, timeout=TIMEOUT):
        page.add_folder_button.click()
    assert [r["SOURCE"] for r in table_rows(page)] == ["Added folder"]
    services.pools.io.waitForDone(TIMEOUT)
    page.close()
    again = open_page(qtbot, services, fake_home, pages)
    assert [r["QUANT"] for r in table_rows(again)] == ["Q2_K"]
    shutil.rmtree(folder)


def test_folders_dialog_removes_an_added_folder_only(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    tmp_path: Path,
    tiny_models: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    pages: list[LibraryPage],
    qtmodeltester,
) -> None:
    folder = tmp_path / "my models"
    added = copy(tiny_models["Q2_K"], folder / "tiny-Q2_K.gguf")
    page = open_page(qtbot, services, fake_home, pages)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(page.scanner.scan_finished, timeout=TIMEOUT):
        page.add_folder_button.click()
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 6, timeout=TIMEOUT)
    assert "Added folder" in {r["SOURCE"] for r in table_rows(page)}

    page.folders_button.click()
    dialog = page.folders_dialog
    assert dialog is not None and dialog.isVisible()
    qtmodeltester.check(dialog.model)
    kinds = {row.path: row.kind for row in dialog.model.rows()}
    assert kinds[str(services.paths.models)] == "quantdesk"
    assert kinds[str(folder)] == "folder"
    assert kinds[str(fake_home.lmstudio)] == "lmstudio"  # other apps' folders are shown...
    assert not any(k == "hf_cache" for k in kinds.values())  # ...when they exist
    # Neither QuantDesk's own folder nor another app's can be removed.
    for fixed in (str(services.paths.models), str(fake_home.lmstudio)):
        dialog.select_path(fixed)
        assert not dialog.remove_button.isEnabled()
        assert dialog.remove_button.toolTip()
        page.actions.remove_folder(fixed)  # refused below the button too
    assert page.actions.folders == (str(folder),)

    dialog.select_path(str(folder))
    assert dialog.remove_button.isEnabled()
    with qtbot.waitSignal(page.scanner.scan_finished, timeout=TIMEOUT):
        dialog.remove_button.click()
    qtbot.waitUntil(lambda: page.proxy.rowCount() == 5, timeout=TIMEOUT)
    assert "Added folder" not in {r["SOURCE"] for r in table_rows(page)}
    assert str(folder) not in {row.path for row in dialog.model.rows()}
    assert not dialog.remove_button.isEnabled()  # the removed row's selection is gone
    assert added.exists()  # removing a folder never touches its files
    assert page.actions.folders == ()
    assert [str(p) for p in services.settings.models_folders(services.paths.models)] == [
        str(services.paths.models)
    ]
    dialog.close()

    # Remembered: a new page does not read the removed folder.
    page.close()
    again = open_page(qtbot, services, fake_home, pages)
    assert again.proxy.rowCount() == 5


def test_deleting_a_model_imported_as_a_link_keeps_its_target(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    pages: list[LibraryPage],
) -> None:
    from desktop_app.core.library.manage import import_model
    from desktop_app.core.provenance import sidecar_path

    outside = files["lms_q4"].parent.parent.parent.parent / "elsewhere" / "tiny-Q4_K_M.gguf"
    copy(files["lms_q4"], outside)
    link = import_model(outside, services.paths.models, "symlink", publisher="linked")
    sidecar_path(link).write_text('{"format": "quantdesk.provenance"}')
    page = open_page(qtbot, services, fake_home, pages)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    select_path(page, link)
    page.details.delete_button.click()
    qtbot.waitUntil(lambda: not link.is_symlink(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "Removed the link" in page.notice.text(), timeout=TIMEOUT)
    assert "was kept" in page.notice.text()
    assert outside.is_file() and not sidecar_path(link).exists()


def test_details_show_how_quantdesk_made_a_file(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    files: dict[str, Path],
    pages: list[LibraryPage],
) -> None:
    from desktop_app.core.provenance import write_sidecar

    write_sidecar(
        files["own_q8"],
        {
            "source": {"path": "/models/tiny-F16.gguf", "file_type": "F16"},
            "output": {"file": "tiny-Q8_0.gguf", "file_type": "Q8_0"},
            "options": {"imatrix": "/data/tiny.imatrix.gguf"},
            "ladder": {"labels": ["Q8_0", "Q4_K_M", "Q2_K"]},
        },
    )
    page = open_page(qtbot, services, fake_home, pages)
    select_path(page, files["own_q8"])
    text = page.details.provenance.text()
    assert page.details.provenance_box.isVisibleTo(page)
    assert text.startswith("Made by QuantDesk from tiny-F16.gguf (F16) as Q8_0 on 20")
    assert "with the imatrix tiny.imatrix.gguf" in text
    assert "one of a ladder of 3 (Q8_0, Q4_K_M, Q2_K)" in text
    select_path(page, files["lms_q4"])  # no sidecar: nothing said
    assert not page.details.provenance_box.isVisibleTo(page)
    assert page.details.provenance.text() == ""


def test_a_folder_put_first_becomes_quantdesks_own_at_once(
    qtbot: QtBot,
    services: Services,
    fake_home: FakeHome,
    tmp_path: Path,
    tiny_models: dict[str, Path],
    pages: list[LibraryPage],
) -> None:
    old = services.paths.models
    copy(tiny_models["Q8_0"], old / "tiny-Q8_0.gguf")
    bigger = tmp_path / "bigger disk"
    copy(tiny_models["Q2_K"], bigger / "tiny-Q2_K.gguf")
    services.models_folder.bind(services)
    page = open_page(qtbot, services, fake_home, pages)
    with qtbot.waitSignal(services.models_folder.changed, timeout=TIMEOUT):
        services.settings.update(models_folders=(str(bigger), str(old)))
    # The switch rescans with the new folder as QuantDesk's own (after any scan already going).
    with qtbot.waitSignal(page.scanner.scan_finished, timeout=TIMEOUT):
        pass
    sources = {Path(r["path"]).name: r["SOURCE"] for r in table_rows(page)}
    assert sources == {"tiny-Q2_K.gguf": "QuantDesk", "tiny-Q8_0.gguf": "Added folder"}
    # Deleting and importing follow: the new folder is the one QuantDesk owns.
    assert page.actions.models_root == bigger
    assert page.actions.folders == (str(old),)
