"""The Convert page with real tiny models: clicks in, real converter and quantizer workers out.

Every job runs the real core (HF folder -> F16 GGUF in a worker process, llama.cpp's quantizer
in worker processes) on models the tests make; faults are real too: a read-only folder, a disk
the estimate says is full, a pickle-only folder, a cancel while llama.cpp is writing.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionViewItem, QTableView
from pytestqt.qtbot import QtBot

from convert_fakes import make_model
from desktop_app.core import hardware
from desktop_app.core.convert_batch import StageFinished, StageProgress
from desktop_app.core.provenance import read_sidecar
from desktop_app.core.quantize_worker import TEST_HOOK_ENV, TEST_HOOKS_ENV
from desktop_app.ui.convert_runner import ConvertRunner, _Relay
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.models.convert_jobs_model import JobState
from desktop_app.ui.models.target_types_model import (
    NEEDS_IMATRIX_TIP,
    REQUANTIZE_TIP,
    SOURCE_TYPE_TIP,
    Column,
)
from desktop_app.ui.pages.convert_page import ConvertPage
from desktop_app.ui.services import Services

TIMEOUT = 60_000


@pytest.fixture
def pages(services: Services) -> Iterator[list[ConvertPage]]:
    """Keeps pages alive until their background work is over (see test_library_page)."""
    kept: list[ConvertPage] = []
    yield kept
    for page in kept:
        if shiboken6.isValid(page):
            page.close()  # cancels queued and running jobs
    for pool in (services.pools.io, services.pools.heavy):
        assert pool.waitForDone(TIMEOUT)
    QApplication.processEvents()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    kept.clear()


@pytest.fixture
def open_page(
    qtbot: QtBot, services: Services, pages: list[ConvertPage], tmp_path: Path
) -> Callable[[], ConvertPage]:
    def make() -> ConvertPage:
        page = ConvertPage(services)
        qtbot.addWidget(page)
        pages.append(page)
        page.resize(990, 760)
        page.show()
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        page.set_output_dir(out)
        return page

    return make


def choose_source(qtbot: QtBot, page: ConvertPage, path: Path) -> None:
    page.select_source(str(path))
    qtbot.waitUntil(lambda: page.source_facts.text() != "Reading the source…", timeout=TIMEOUT)


def click_check(qtbot: QtBot, view: QTableView, label: str) -> None:
    """Tick or untick a type the way a user does: a click on its check box."""
    model = view.model()
    index = model.index(model.row_of(label), Column.TYPE)  # type: ignore[attr-defined]
    view.scrollTo(index)
    option = QStyleOptionViewItem()
    option.rect = view.visualRect(index)  # type: ignore[attr-defined]
    option.features = QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator  # type: ignore[attr-defined]
    box = view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, view)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=box.center())


def tick_only(qtbot: QtBot, page: ConvertPage, labels: list[str]) -> None:
    qtbot.mouseClick(page.targets.clear_button, Qt.MouseButton.LeftButton)
    for label in labels:
        click_check(qtbot, page.targets.table, label)
    assert page.targets.model.checked_labels() == labels


def states(page: ConvertPage, batch: int) -> list[JobState]:
    return [r.state for r in page.jobs_model.rows_of(batch)]


def start_and_wait(qtbot: QtBot, page: ConvertPage) -> int:
    assert page.start_button.isEnabled()
    before = page.jobs_model.rowCount()
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.jobs_model.rowCount() > before
    batch = page.jobs_model.row_at(before).batch
    qtbot.waitUntil(lambda: batch not in page.runner.active(), timeout=TIMEOUT)
    return batch


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_hf_folder_to_f16_then_a_ladder_of_two_from_the_page(
    qtbot: QtBot, open_page: Callable[[], ConvertPage], tmp_path: Path, qtmodeltester
) -> None:
    folder, *_ = make_model(tmp_path / "Tiny-HF")
    page = open_page()
    out = page.output_dir
    choose_source(qtbot, page, folder)
    facts = page.source_facts.text()
    assert "Hugging Face folder" in facts and "llama (LlamaForCausalLM)" in facts
    assert "parameters" in facts and "F32" in facts
    assert "free" in page.disk_label.text()
    # The default selection is the ladder's; the fit column is priced for this machine.
    model = page.targets.model
    assert model.checked_labels() == ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"]
    row = model.row_of("Q4_K_M")
    assert model.index(row, Column.FIT).data() == "Fits"
    assert model.index(row, Column.SIZE).data().endswith("iB")
    assert model.headerData(Column.FIT, Qt.Orientation.Horizontal) == "Fit at 4,096"

    tick_only(qtbot, page, ["F16"])
    batch = start_and_wait(qtbot, page)
    assert states(page, batch) == [JobState.DONE]
    f16 = out / "Tiny-HF-F16.gguf"
    assert page.jobs_model.row(batch, 0).output == f16
    assert read_sidecar(f16)["source"]["kind"] == "hf_folder"  # type: ignore[index]

    # The finished file becomes the next source, as the library would hand it over.
    choose_source(qtbot, page, f16)
    assert "GGUF file" in page.source_facts.text()
    f16_row = model.row_of("F16")
    assert model.index(f16_row, Column.TYPE).data(Qt.ItemDataRole.ToolTipRole) == SOURCE_TYPE_TIP
    tick_only(qtbot, page, ["Q8_0", "Q4_K_M"])
    batch = start_and_wait(qtbot, page)
    assert states(page, batch) == [JobState.DONE, JobState.DONE]
    made = ["Tiny-HF-Q8_0.gguf", "Tiny-HF-Q4_K_M.gguf"]
    for index, name in enumerate(made):
        record = read_sidecar(out / name)
        assert record is not None
        assert record["source"]["path"] == str(f16)
        assert record["output"]["file_type"] == name.removeprefix("Tiny-HF-").removesuffix(".gguf")
        assert record["ladder"]["labels"] == ["Q8_0", "Q4_K_M"]
        assert record["ladder"]["index"] == index
    assert leftovers(out) == []
    log = page.jobs.log.toPlainText()
    assert "[Q4_K_M] tensor 1/" in log and f"wrote {out / made[1]}" in log
    assert not page.banner.isVisible()

    # Finished rows open in Chat; Compare waits until a receiver says it is there.
    second = page.jobs_model.rowCount() - 1
    page.jobs.select_row(second)
    assert page.jobs.chat_button.isEnabled() and not page.jobs.cancel_button.isEnabled()
    with qtbot.waitSignal(page.open_in_chat) as chat:
        qtbot.mouseClick(page.jobs.chat_button, Qt.MouseButton.LeftButton)
    assert chat.args == [str(out / made[1])]
    assert not page.jobs.compare_button.isEnabled()
    assert "not available" in page.jobs.compare_button.toolTip()
    page.set_compare_available(True)
    assert page.jobs.compare_button.isEnabled()
    with qtbot.waitSignal(page.open_in_compare) as compare:
        qtbot.mouseClick(page.jobs.compare_button, Qt.MouseButton.LeftButton)
    assert compare.args == [[str(out / n) for n in made]]
    qtmodeltester.check(page.targets.model)
    qtmodeltester.check(page.jobs_model)


def test_cancel_mid_job_removes_the_temp_file_and_marks_the_rows(
    qtbot: QtBot,
    open_page: Callable[[], ConvertPage],
    tiny_gguf: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    monkeypatch.setenv(TEST_HOOK_ENV, "slow:0.3")  # every tensor takes 0.3 s in the worker
    page = open_page()
    out = page.output_dir
    choose_source(qtbot, page, tiny_gguf)
    tick_only(qtbot, page, ["Q8_0", "Q4_K_M"])
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    first = page.jobs_model.row_at(0)
    qtbot.waitUntil(lambda: first.state == JobState.RUNNING and first.fraction > 0, timeout=TIMEOUT)
    assert any(p.name.endswith(".partial") for p in out.iterdir())  # llama.cpp is writing
    assert first.elapsed > 0 and "/" in page.jobs_model.index(0, 3).data()  # elapsed / left
    page.jobs.select_row(0)
    assert page.jobs.cancel_button.isEnabled()
    qtbot.mouseClick(page.jobs.cancel_button, Qt.MouseButton.LeftButton)
    assert page.jobs_model.index(0, 2).data() in ("Cancelling…", "Cancelled")
    qtbot.waitUntil(lambda: not page.runner.active(), timeout=TIMEOUT)
    assert states(page, first.batch) == [JobState.CANCELLED, JobState.CANCELLED]
    assert list(out.iterdir()) == []  # no temp file, no output, no sidecar
    assert page.banner.isVisible() and "Cancelled" in page.banner.text()
    assert not page.jobs.cancel_button.isEnabled()


def test_a_queued_job_cancelled_before_it_starts_never_runs(
    qtbot: QtBot,
    open_page: Callable[[], ConvertPage],
    tiny_gguf: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    monkeypatch.setenv(TEST_HOOK_ENV, "slow:0.2")
    page = open_page()
    out = page.output_dir
    choose_source(qtbot, page, tiny_gguf)
    tick_only(qtbot, page, ["Q8_0"])
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    tick_only(qtbot, page, ["Q4_K_M"])
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    queued = page.jobs_model.row_at(1)
    assert queued.state == JobState.QUEUED  # the heavy pool runs one batch at a time
    page.jobs.select_row(1)
    qtbot.mouseClick(page.jobs.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.runner.active(), timeout=TIMEOUT)
    assert queued.state == JobState.CANCELLED
    assert page.jobs_model.row_at(0).state == JobState.DONE
    assert sorted(p.name for p in out.iterdir()) == [
        "tiny-Q8_0.gguf",
        "tiny-Q8_0.gguf.quantdesk.json",
    ]


@pytest.mark.parametrize("kind", ["pickle", "architecture"])
def test_refused_sources_show_the_converters_sentence(
    qtbot: QtBot, open_page: Callable[[], ConvertPage], tmp_path: Path, kind: str
) -> None:
    folder, *_ = make_model(tmp_path / "m")
    if kind == "pickle":
        (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(b"\x80\x04 not opened")
        expected = "only pickle checkpoints"
    else:
        config = json.loads((folder / "config.json").read_text())
        config["architectures"] = ["GPT2LMHeadModel"]
        (folder / "config.json").write_text(json.dumps(config))
        expected = "architecture GPT2LMHeadModel is not supported (supported: LlamaForCausalLM"
    page = open_page()
    choose_source(qtbot, page, folder)
    text = page.source_facts.text()
    assert text.startswith("Cannot use this source:") and expected in text
    if kind == "pickle":
        assert "pytorch_model.bin" in text
    assert not page.start_button.isEnabled()
    assert page.targets.model.index(0, Column.SIZE).data() == "—"


def test_types_needing_an_imatrix_are_marked_and_disabled_until_one_is_chosen(
    qtbot: QtBot, open_page: Callable[[], ConvertPage], tiny_gguf: Path, tmp_path: Path
) -> None:
    page = open_page()
    choose_source(qtbot, page, tiny_gguf)
    model = page.targets.model
    row = model.row_of("IQ2_XXS")
    index = model.index(row, Column.TYPE)
    assert index.data() == "IQ2_XXS"
    assert model.index(row, Column.NOTE).data().startswith("Needs imatrix.")
    assert not model.flags(index) & Qt.ItemFlag.ItemIsEnabled
    assert index.data(Qt.ItemDataRole.ToolTipRole) == NEEDS_IMATRIX_TIP
    click_check(qtbot, page.targets.table, "IQ2_XXS")
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert not model.setData(index, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    # Types that only recommend one stay usable.
    q2 = model.index(model.row_of("Q2_K"), Column.TYPE)
    assert model.flags(q2) & Qt.ItemFlag.ItemIsEnabled
    page.targets.set_imatrix(tmp_path / "model.imatrix.gguf")
    assert model.flags(index) & Qt.ItemFlag.ItemIsEnabled
    click_check(qtbot, page.targets.table, "IQ2_XXS")
    assert "IQ2_XXS" in model.checked_labels()
    qtbot.mouseClick(page.targets.imatrix_clear, Qt.MouseButton.LeftButton)
    assert "IQ2_XXS" not in model.checked_labels()  # still ticked, no longer usable


def _deny_writes(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """A read-only folder, also for root (which ignores permission bits)."""
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    if os.geteuid() != 0:
        return
    real_access = os.access

    def access(path: object, mode: int, **kw: object) -> bool:
        if Path(str(path)).resolve() == folder.resolve() and mode & os.W_OK:
            return False
        return real_access(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


def test_a_read_only_output_folder_shows_a_clear_error(
    qtbot: QtBot,
    open_page: Callable[[], ConvertPage],
    tiny_gguf: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    _deny_writes(monkeypatch, locked)
    try:
        page = open_page()
        page.set_output_dir(locked)
        choose_source(qtbot, page, tiny_gguf)
        qtbot.waitUntil(lambda: "read-only" in page.disk_label.text(), timeout=TIMEOUT)
        tick_only(qtbot, page, ["Q8_0", "Q4_K_M"])
        batch = start_and_wait(qtbot, page)
        assert states(page, batch) == [JobState.FAILED, JobState.FAILED]
        state = page.jobs_model.index(0, 2).data()
        assert state.startswith("Failed:") and "the output folder is read-only" in state
        assert page.banner.isVisible()
        assert "Nothing was made" in page.banner.text() and "read-only" in page.banner.text()
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_not_enough_disk_is_refused_before_anything_is_written(
    qtbot: QtBot,
    open_page: Callable[[], ConvertPage],
    tiny_gguf: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hardware, "disk_space", lambda _path: (4096, 10**12))
    page = open_page()
    choose_source(qtbot, page, tiny_gguf)
    qtbot.waitUntil(lambda: "not enough space" in page.disk_label.text(), timeout=TIMEOUT)
    tick_only(qtbot, page, ["Q8_0"])
    batch = start_and_wait(qtbot, page)
    assert states(page, batch) == [JobState.FAILED]
    assert "not enough free disk space" in page.jobs_model.index(0, 2).data()
    assert "not enough free disk space" in page.banner.text()
    assert list(page.output_dir.iterdir()) == []


def test_requantizing_needs_the_checkbox_and_warns(
    qtbot: QtBot, open_page: Callable[[], ConvertPage], tiny_models: dict[str, Path]
) -> None:
    page = open_page()
    choose_source(qtbot, page, tiny_models["Q4_K_M"])
    model = page.targets.model
    assert "Already quantized (Q4_K_M)" in page.source_facts.text()
    q2 = model.index(model.row_of("Q2_K"), Column.TYPE)
    assert q2.data(Qt.ItemDataRole.ToolTipRole) == REQUANTIZE_TIP
    assert model.checked_labels() == [] and not page.start_button.isEnabled()
    assert (
        page.targets.requantize_box.isVisible() and not page.targets.requantize_warning.isVisible()
    )
    qtbot.mouseClick(page.targets.requantize_box, Qt.MouseButton.LeftButton)
    assert page.targets.requantize_warning.isVisible()
    assert "worse" in page.targets.requantize_warning.text()
    tick_only(qtbot, page, ["Q2_K"])
    batch = start_and_wait(qtbot, page)
    assert states(page, batch) == [JobState.DONE]
    output = page.jobs_model.row(batch, 0).output
    assert output is not None and output.name == "tiny-Q2_K.gguf"
    record = read_sidecar(output)
    assert record is not None and "requantize_quality_loss" in record["warnings"]
    assert "re-quantized" in page.jobs_model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)


def test_a_checked_source_starts_the_next_quantize_worker_ahead(
    qtbot: QtBot,
    open_page: Callable[[], ConvertPage],
    services: Services,
    tiny_models: dict[str, Path],
) -> None:
    launcher = services.quantize_launcher
    page = open_page()
    assert launcher.spare_pid is None
    choose_source(qtbot, page, tiny_models["F16"])
    qtbot.waitUntil(lambda: launcher.spare_pid is not None, timeout=TIMEOUT)
    spare = launcher.spare_pid
    tick_only(qtbot, page, ["Q8_0"])
    batch = start_and_wait(qtbot, page)
    assert states(page, batch) == [JobState.DONE]
    # The job used the spare; its end started the next one for the job after.
    assert launcher.spare_pid not in (None, spare)


def test_the_main_window_lists_convert_after_chat_and_opens_results_in_chat(
    qtbot: QtBot, services: Services, tiny_gguf: Path, tmp_path: Path
) -> None:
    window = MainWindow(services)
    qtbot.addWidget(window)
    names = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert names.index("Chat") < names.index("Convert") < names.index("Downloads")
    assert window.sidebar.item(names.index("Convert")).flags() & Qt.ItemFlag.ItemIsEnabled
    window.show_page(window.convert_page)
    assert window.pages.currentWidget() is window.convert_page
    copy = tmp_path / "tiny-F16.gguf"
    shutil.copyfile(tiny_gguf, copy)
    window.convert_page.open_in_chat.emit(str(copy))
    assert window.pages.currentWidget() is window.chat_page
    window.close()
    assert window.convert_page.runner.active() == []


def test_the_runner_throttles_progress_and_keeps_every_tensor_line(
    qtbot: QtBot, services: Services
) -> None:
    runner = ConvertRunner(services.pools.heavy)
    relay = _Relay(runner, 7, ("Q8_0",))
    progressed: list[StageProgress] = []
    lines: list[str] = []
    runner.progressed.connect(lambda _b, p: progressed.append(p))
    runner.log_added.connect(lambda _b, new: lines.extend(new))

    def burst() -> None:  # a batch's event thread reporting 500 chunks of 50 tensors
        for i in range(500):
            relay.on_event(StageProgress(0, i / 500, i // 10, 50, f"t{i // 10}", 0.1))
        relay.on_event(StageFinished(0, None, None))

    worker = threading.Thread(target=burst)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(lines) == 50, timeout=TIMEOUT)
    assert 1 <= len(progressed) <= 5  # ~10 per second at most, the last one always sent
    assert progressed[-1].fraction == 499 / 500
    assert lines[0] == "[Q8_0] tensor 1/50: t0" and lines[-1] == "[Q8_0] tensor 50/50: t49"
    runner.deleteLater()
