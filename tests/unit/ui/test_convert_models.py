"""The Convert page's item models on their own: target checklist rules and the job list."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.core.convert_source import inspect_source, writable_types
from desktop_app.core.fit import Verdict
from desktop_app.ui.models.convert_jobs_model import (
    Column as JobColumn,
)
from desktop_app.ui.models.convert_jobs_model import (
    ConvertJobsModel,
    JobRole,
    JobRow,
    JobState,
)
from desktop_app.ui.models.target_types_model import (
    REQUANTIZE_TIP,
    SOURCE_TYPE_TIP,
    Column,
    TargetTypesModel,
)
from desktop_app.ui.theme import verdict_color


def test_target_types_rows_sizes_fit_and_checks(
    qapp: object, tiny_models: dict[str, Path], qtmodeltester
) -> None:
    source = inspect_source(tiny_models["F16"])
    model = TargetTypesModel(writable_types())
    qtmodeltester.check(model)
    labels = [model.index(r, Column.TYPE).data(Qt.ItemDataRole.DisplayRole) for r in range(3)]
    assert labels == ["F32", "BF16", "F16"]  # best quality first
    assert "NVFP4" not in [ft.label for ft in writable_types()]  # the quantizer cannot write it
    verdicts = {ft.label: source.fit(ft, 8192, 8 << 30).verdict for ft in writable_types()}
    verdicts["Q2_K"] = Verdict.DOES_NOT_FIT  # as a machine short of memory would say
    model.set_estimates(source.estimates, verdicts, 8192)
    model.set_source_type("F16", quantized=False)
    assert model.headerData(Column.FIT, Qt.Orientation.Horizontal) == "Fit at 8,192"
    q8 = model.row_of("Q8_0")
    assert model.index(q8, Column.SIZE).data() != "—"
    assert model.index(q8, Column.BPW).data() == "8.50"
    assert model.index(q8, Column.FIT).data() == "Fits"
    q2 = model.index(model.row_of("Q2_K"), Column.FIT)
    assert q2.data() == "Does not fit"
    assert q2.data(Qt.ItemDataRole.ForegroundRole).name() == verdict_color(Verdict.DOES_NOT_FIT)
    f16 = model.index(model.row_of("F16"), Column.TYPE)
    assert (
        f16.data() == "F16  (source)" and f16.data(Qt.ItemDataRole.ToolTipRole) == SOURCE_TYPE_TIP
    )
    assert not model.flags(f16) & Qt.ItemFlag.ItemIsEnabled

    seen: list[int] = []
    model.checked_changed.connect(lambda: seen.append(1))
    model.set_checked(["Q8_0"])
    index = model.index(model.row_of("Q4_K_M"), Column.TYPE)
    assert model.setData(index, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert model.checked_labels() == ["Q8_0", "Q4_K_M"] and len(seen) == 2
    assert model.estimated_bytes(["Q8_0", "Q4_K_M"]) == (
        source.estimates["Q8_0"] + source.estimates["Q4_K_M"]
    )
    # A quantized source disables everything until re-quantizing is allowed.
    model.set_source_type("Q4_K_M", quantized=True)
    assert model.checked_labels() == []
    assert model.index(model.row_of("Q8_0"), Column.NOTE).data(Qt.ItemDataRole.ToolTipRole) == (
        REQUANTIZE_TIP
    )
    model.set_allow_requantize(True)
    assert model.checked_labels() == ["Q8_0"]  # Q4_K_M is now the source's own type
    model.set_estimates({}, {}, 8192)
    assert model.estimated_bytes(["Q8_0"]) is None
    qtmodeltester.check(model)


def test_job_rows_states_progress_and_time(qtbot: QtBot, qtmodeltester) -> None:
    model = ConvertJobsModel()
    qtmodeltester.check(model)
    rows = [
        JobRow(1, 0, "F16", "F16 conversion (temporary)"),
        JobRow(1, 1, "Q8_0", "m-Q8_0.gguf", destination=Path("/o/m-Q8_0.gguf"), size=2048),
        JobRow(1, 2, "Q2_K", "m-Q2_K.gguf", destination=Path("/o/m-Q2_K.gguf")),
    ]
    with qtbot.waitSignal(model.rowsInserted):
        model.add_batch(rows)
    assert model.index(0, JobColumn.OUTPUT).data() == "F16 (temporary)"
    assert model.index(1, JobColumn.OUTPUT).data() == "Q8_0"
    assert model.index(1, JobColumn.PROGRESS).data(JobRole.PROGRESS) is None  # queued: no bar
    assert model.index(1, JobColumn.TIME).data() == "—"
    assert model.index(1, JobColumn.SIZE).data() == "~2.0 KiB"

    model.update(rows[0], state=JobState.DONE, fraction=1.0)
    model.update(rows[1], state=JobState.RUNNING, fraction=0.5, elapsed=10.0, detail="blk.0")
    assert rows[1].started is not None
    assert model.index(1, JobColumn.PROGRESS).data(JobRole.PROGRESS) == 0.5
    assert model.index(1, JobColumn.STATE).data() == "Running"
    assert "blk.0" in model.index(1, JobColumn.STATE).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(1, JobColumn.TIME).data() == "10 s / ~10 s"  # left from the fraction
    rows[1].started = time.monotonic() - 75
    model.tick()
    assert model.index(1, JobColumn.TIME).data().startswith("1 min 15 s")
    model.update(rows[1], state=JobState.FAILED, detail="the output folder is read-only")
    assert model.index(1, JobColumn.STATE).data() == "Failed: the output folder is read-only"
    assert model.index(1, JobColumn.STATE).data(Qt.ItemDataRole.ForegroundRole).name() == "#d64541"
    model.finish_open_rows(1, JobState.SKIPPED, "an earlier step failed")
    assert [r.state for r in model.rows_of(1)] == [JobState.DONE, JobState.FAILED, JobState.SKIPPED]
    assert "an earlier step failed" in model.index(2, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(0, JobColumn.PROGRESS).data(JobRole.PROGRESS) == 1.0
    assert model.index(0, 0).data(JobRole.BATCH) == 1
    qtmodeltester.check(model)


def test_eta_before_progress_uses_the_estimate() -> None:
    row = JobRow(1, 0, "Q8_0", "m.gguf", state=JobState.RUNNING, elapsed=2.0)
    assert row.seconds_left() is None
    row.estimated_seconds = 30.0
    assert row.seconds_left() == 28.0
    row.fraction, row.elapsed = 0.25, 5.0
    assert row.seconds_left() == 15.0
    row.state = JobState.DONE
    assert row.seconds_left() is None
