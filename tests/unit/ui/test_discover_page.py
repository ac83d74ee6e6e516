"""The Discover page against a real hub on loopback (HF_ENDPOINT), as a user drives it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from hub_pages import (
    GIB,
    HOSTILE,
    REAL_FILE,
    REPO,
    TIMEOUT,
    click_cell,
    use_fast_downloads,
)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit
from pytestqt.qtbot import QtBot

from desktop_app.core.fit import Verdict
from desktop_app.core.hub.downloads import DownloadState
from desktop_app.core.quant_types import file_type_by_label
from desktop_app.ui.models.discover_model import Column, DiscoverRole
from desktop_app.ui.models.variant_model import Column as VCol
from desktop_app.ui.models.variant_model import VariantRole
from desktop_app.ui.pages.discover_page import DiscoverPage
from desktop_app.ui.pages.downloads_page import DownloadsPage
from desktop_app.ui.services import Services
from hub_server import HubServer


@pytest.fixture
def memory() -> dict[str, int]:
    return {"available": 4 * GIB}


@pytest.fixture
def svc(services: Services) -> Iterator[Services]:
    manager = use_fast_downloads(services)
    yield services
    manager.close()


def open_page(qtbot: QtBot, svc: Services, memory: dict[str, int]) -> DiscoverPage:
    page = DiscoverPage(svc, memory=lambda: memory["available"])
    qtbot.addWidget(page)
    page.resize(1180, 760)
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=TIMEOUT)
    return page


def search(qtbot: QtBot, page: DiscoverPage, text: str) -> None:
    page.search.setText(text)
    before = page._search_request
    qtbot.mouseClick(page.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: page._found is not None and page._found.request == before + 1, timeout=TIMEOUT
    )


def repo_ids(page: DiscoverPage) -> list[str]:
    return [page.proxy.index(r, 0).data(DiscoverRole.REPO_ID) for r in range(page.proxy.rowCount())]


def open_repo(qtbot: QtBot, page: DiscoverPage, repo_id: str, *, facts: bool = True) -> None:
    page.select_repo(repo_id)
    qtbot.waitUntil(lambda: page.repo_view.model.rowCount() > 0, timeout=TIMEOUT)
    if facts:
        qtbot.waitUntil(lambda: page._facts is not None, timeout=TIMEOUT)
        qtbot.waitUntil(
            lambda: all(r.fit.kv_included for r in page.repo_view.model.rows()), timeout=TIMEOUT
        )


def variant_rows(page: DiscoverPage) -> dict[str, dict[str, object]]:
    model = page.repo_view.model
    out = {}
    for r in range(model.rowCount()):
        row = model.row_at(r)
        out[row.fit.variant.label] = {
            "fit": model.index(r, VCol.FIT).data(),
            "tip": model.index(r, VCol.FIT).data(Qt.ItemDataRole.ToolTipRole),
            "button": model.index(r, VCol.DOWNLOAD).data(VariantRole.BUTTON_ENABLED),
            "button_tip": model.index(r, VCol.DOWNLOAD).data(Qt.ItemDataRole.ToolTipRole),
            "quant": model.index(r, VCol.QUANT).data(),
            "bold": model.index(r, VCol.QUANT).data(Qt.ItemDataRole.FontRole) is not None,
            "row": row,
        }
    return out


def test_start_shows_the_catalog_without_any_connection(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int], qtmodeltester
) -> None:
    page = open_page(qtbot, svc, memory)
    ids = repo_ids(page)
    assert "Qwen/Qwen2.5-0.5B-Instruct-GGUF" in ids and len(ids) >= 20
    assert "Search to ask" in page.banner.text() and page.banner.kind == "info"
    qtmodeltester.check(page.model)
    qtmodeltester.check(page.proxy)
    assert hub.requests == []


def test_search_lists_hub_results_sortable_by_author(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int], qtmodeltester
) -> None:
    page = open_page(qtbot, svc, memory)
    search(qtbot, page, "gguf")
    assert repo_ids(page) == [REPO, "org/Small-GGUF"]  # most downloads first
    assert not page.banner.isVisible()
    row = {c.name: page.proxy.index(0, c).data() for c in Column}
    assert row == {
        "NAME": "Tiny-GGUF",
        "AUTHOR": "bartowski",
        "DOWNLOADS": "52K",
        "LIKES": "120",
        "UPDATED": "2025-03-01",
        "PARAMS": "3.1B",
    }
    qtmodeltester.check(page.model)
    qtmodeltester.check(page.proxy)
    asked = page._search_request
    page.sort.setCurrentIndex(1)  # most likes: the view re-sorts and the hub is asked again
    assert repo_ids(page) == ["org/Small-GGUF", REPO]
    qtbot.waitUntil(
        lambda: page._found is not None and page._found.request > asked, timeout=TIMEOUT
    )
    assert repo_ids(page) == ["org/Small-GGUF", REPO]
    searches = [r for r in hub.api_requests() if r.path.startswith("/api/models?")]
    assert "sort=likes" in searches[-1].path
    page.author.setText("org")
    search(qtbot, page, "gguf")
    assert repo_ids(page) == ["org/Small-GGUF"]
    assert "author=org" in hub.api_requests()[-1].path


def test_repo_view_prices_each_quant_and_recommends_one(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int]
) -> None:
    hub.fault(REPO, REAL_FILE).rate = 150_000  # a slow header read: size-only prices first
    page = open_page(qtbot, svc, memory)
    search(qtbot, page, "tiny")
    page.select_repo(REPO)
    qtbot.waitUntil(lambda: page.repo_view.model.rowCount() == 4, timeout=TIMEOUT)
    first = variant_rows(page)
    assert not any(v["row"].fit.kv_included for v in first.values())  # type: ignore[attr-defined]
    assert "Size-only estimate for now" in page.repo_view.estimate_note.text()
    assert "KV cache is not included" in str(first["Q8_0"]["tip"])
    # The header arrives: the badges are priced again with the KV cache.
    qtbot.waitUntil(lambda: page._facts is not None, timeout=TIMEOUT)
    qtbot.waitUntil(
        lambda: all(r.fit.kv_included for r in page.repo_view.model.rows()), timeout=TIMEOUT
    )
    rows = variant_rows(page)
    assert list(rows) == ["Q8_0", "Q6_K", "Q4_K_M", "Q2_K"]  # best quality first
    assert {k: v["fit"] for k, v in rows.items()} == {
        "Q8_0": "Does not fit",
        "Q6_K": "Tight",
        "Q4_K_M": "Fits",
        "Q2_K": "Fits",
    }
    assert rows["Q4_K_M"]["quant"] == "Q4_K_M  ★" and rows["Q4_K_M"]["bold"]
    assert not any("★" in str(v["quant"]) or v["bold"] for k, v in rows.items() if k != "Q4_K_M")
    quant_tip = page.repo_view.model.index(2, VCol.QUANT).data(Qt.ItemDataRole.ToolTipRole)
    assert quant_tip.startswith("Recommended: the highest quality that fits comfortably")
    assert "★ recommended" in page.repo_view.message.text()
    tip = str(rows["Q4_K_M"]["tip"])
    for word in ("Weights: 2.0 GiB", "KV cache (4,096 tokens, f16)", "Compute", "Total"):
        assert word in tip, tip
    assert "KV cache at 4,096 tokens" in page.repo_view.estimate_note.text()
    model = page.repo_view.model
    assert model.index(0, VCol.NOTE).data()  # a plain-words note per quant
    q2k = file_type_by_label("Q2_K")
    assert q2k is not None and model.index(3, VCol.BITS).data() == f"{q2k.bits_per_weight:.2f}"
    # A longer context costs more KV cache: the totals grow, the recommendation holds.
    before = model.row_at(2).fit.estimate.total  # type: ignore[union-attr]
    page.repo_view.context.setValue(32768)
    qtbot.waitUntil(
        lambda: model.row_at(2).fit.estimate.total > before,  # type: ignore[union-attr]
        timeout=TIMEOUT,
    )
    assert "32,768 tokens" in page.repo_view.estimate_note.text()
    # Less memory: nothing fits comfortably, and the page says so.
    memory["available"] = 1 * GIB
    page.repo_view.context.setValue(4096)
    qtbot.waitUntil(lambda: "No quant fits" in page.repo_view.message.text(), timeout=TIMEOUT)
    assert page.repo_view.model.rows()[0].fit.verdict is Verdict.DOES_NOT_FIT


def test_hub_text_is_plain_and_hostile_names_are_refused(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int], qtmodeltester
) -> None:
    page = open_page(qtbot, svc, memory)
    search(qtbot, page, "tiny")
    open_repo(qtbot, page, REPO)
    view = page.repo_view
    qtmodeltester.check(view.model)
    assert isinstance(view.summary, QPlainTextEdit)  # never rendered as HTML
    summary = view.summary.toPlainText()
    assert "tiny" in summary and "<" not in summary and "evil.example" not in summary
    assert "etc/passwd" not in summary
    for label in (view.title, view.meta, view.extras, view.refused, view.message):
        assert label.textFormat() == Qt.TextFormat.PlainText
    refused = view.refused.text()
    assert "4 file names refused" in refused
    assert "\u202e" not in refused and "\\u202e" in refused  # shown escaped, not reordering
    labels = [row.fit.variant.label for row in view.model.rows()]
    assert labels == ["Q8_0", "Q6_K", "Q4_K_M", "Q2_K"]  # hostile names never offered
    assert not any(h in row.key for row in view.model.rows() for h in HOSTILE)
    assert "mmproj: mmproj-Tiny-f16.gguf (600 MiB)" in view.extras.text()


def test_download_from_the_page_ends_verified_in_the_models_folder(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int], payload: bytes
) -> None:
    downloads = DownloadsPage(svc)
    qtbot.addWidget(downloads)
    page = open_page(qtbot, svc, memory)
    search(qtbot, page, "tiny")
    open_repo(qtbot, page, REPO)
    row = page.repo_view.model.row_of(REAL_FILE)
    with qtbot.waitSignal(downloads.download_finished, timeout=TIMEOUT) as finished:
        click_cell(qtbot, page.repo_view.table, row, VCol.DOWNLOAD)
    dest = svc.paths.models / "bartowski" / "Tiny-GGUF" / REAL_FILE
    assert finished.args == [str(dest)]
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert sorted(p.name for p in dest.parent.iterdir()) == [REAL_FILE]
    qtbot.waitUntil(lambda: downloads.model.rowCount() == 1, timeout=TIMEOUT)
    status = downloads.model.status_at(0)
    assert status.state is DownloadState.DONE
    assert downloads.model.index(0, 7).data() == "Verified (sha256)."
    # The variant now says it is in Downloads, and a second click adds nothing.
    rows = variant_rows(page)
    assert rows["Q2_K"]["button"] is False and rows["Q2_K"]["button_tip"] == "Already in Downloads."
    click_cell(qtbot, page.repo_view.table, row, VCol.DOWNLOAD)
    assert len(svc.downloads.statuses()) == 1
    downloads.shutdown()


def test_offline_shows_catalog_and_saved_results_and_opens_no_connection(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int]
) -> None:
    page = open_page(qtbot, svc, memory)
    search(qtbot, page, "tiny")  # online once: the answer is saved
    open_repo(qtbot, page, REPO)
    seen = len(hub.requests)
    qtbot.mouseClick(page.offline_box, Qt.MouseButton.LeftButton)
    assert svc.offline.is_offline()
    qtbot.waitUntil(lambda: "Offline" in page.banner.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: page._found is not None and page._found.offline, timeout=TIMEOUT)
    assert "results saved earlier" in page.banner.text() and page.banner.kind == "offline"
    assert repo_ids(page) == [REPO]
    # The saved listing and header facts still price the repo; Download is disabled.
    qtbot.waitUntil(lambda: page._listing is not None and page._listing.offline, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: page._facts is not None, timeout=TIMEOUT)  # saved at the same commit
    qtbot.waitUntil(lambda: page.repo_view.model.row_of(REAL_FILE) >= 0, timeout=TIMEOUT)
    assert variant_rows(page)["Q2_K"]["button"] is False
    assert (
        variant_rows(page)["Q2_K"]["button_tip"] == "Offline mode is on: turn it off to download."
    )
    click_cell(qtbot, page.repo_view.table, page.repo_view.model.row_of(REAL_FILE), VCol.DOWNLOAD)
    assert svc.downloads.statuses() == []
    # A search never made online: the curated catalog, filtered.
    search(qtbot, page, "qwen")
    assert repo_ids(page) and all("qwen" in r.lower() for r in repo_ids(page))
    assert "curated catalog" in page.banner.text()
    page.select_repo("Qwen/Qwen2.5-0.5B-Instruct-GGUF")
    qtbot.waitUntil(lambda: "not saved earlier" in page.repo_view.message.text(), timeout=TIMEOUT)
    assert len(hub.requests) == seen  # nothing reached the hub while offline


def test_offline_from_the_start_never_touches_the_hub(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int]
) -> None:
    svc.offline.set_offline(True)
    page = open_page(qtbot, svc, memory)
    assert page.offline_box.isChecked()
    assert page.banner.text().startswith("Offline: no connection is made.")
    search(qtbot, page, "llama")
    assert repo_ids(page) and all("llama" in r.lower() for r in repo_ids(page))
    page.select_repo(repo_ids(page)[0])
    qtbot.waitUntil(lambda: "not saved earlier" in page.repo_view.message.text(), timeout=TIMEOUT)
    assert hub.requests == []


def test_unreachable_hub_says_so_and_shows_the_catalog(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int]
) -> None:
    hub.api_statuses = [500, 500]  # the search and its one retry
    page = open_page(qtbot, svc, memory)
    search(qtbot, page, "phi")
    assert page.banner.kind == "error"
    assert "server error" in page.banner.text() and "curated catalog" in page.banner.text()
    assert repo_ids(page) and all("phi" in r.lower() for r in repo_ids(page))


def test_hf_hub_offline_forces_the_switch_on_and_locks_it(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int], monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    page = open_page(qtbot, svc, memory)
    assert page.offline_box.isChecked() and not page.offline_box.isEnabled()
    assert "HF_HUB_OFFLINE" in page.offline_box.toolTip()
    search(qtbot, page, "gemma")
    assert page.banner.kind == "offline" and all("gemma" in r.lower() for r in repo_ids(page))
    assert hub.requests == []


def test_unreadable_header_keeps_size_only_prices_and_says_why(
    qtbot: QtBot, svc: Services, hub: HubServer, memory: dict[str, int]
) -> None:
    hub.fault(REPO, REAL_FILE).statuses = [500] * 10  # every read of the header fails
    page = open_page(qtbot, svc, memory)
    search(qtbot, page, "tiny")
    open_repo(qtbot, page, REPO, facts=False)
    note = page.repo_view.estimate_note
    qtbot.waitUntil(lambda: "could not be read" in note.text(), timeout=TIMEOUT)
    assert note.text().startswith("Size-only estimate: the model's header could not be read")
    assert "server error" in note.text()
    rows = variant_rows(page)
    assert not any(v["row"].fit.kv_included for v in rows.values())  # type: ignore[attr-defined]
    assert rows["Q8_0"]["fit"] == "Does not fit" and rows["Q2_K"]["fit"] == "Fits"
    # Another context keeps the explanation (the header is not asked for again meanwhile).
    page.repo_view.context.setValue(8192)
    first = page.repo_view.model.rows()
    qtbot.waitUntil(lambda: page.repo_view.model.rows() != first, timeout=TIMEOUT)
    assert page.repo_view.model.rows()[0].fit.estimate.memory.n_ctx == 8192  # type: ignore[union-attr]
    assert "could not be read" in note.text()
