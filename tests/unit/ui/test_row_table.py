"""The base of the flat table models: counts, headers, guarded row lookup and row changes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pytest
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from pytestqt.qtbot import QtBot

from desktop_app.ui.models.compare_summary_model import CompareSummaryModel
from desktop_app.ui.models.compare_variants_model import CompareVariantsModel
from desktop_app.ui.models.convert_jobs_model import ConvertJobsModel
from desktop_app.ui.models.discover_model import DiscoverModel
from desktop_app.ui.models.disk_use_model import DiskUseModel
from desktop_app.ui.models.downloads_model import DownloadsModel
from desktop_app.ui.models.folder_list_model import FolderListModel
from desktop_app.ui.models.library_model import LibraryModel
from desktop_app.ui.models.quant_table import QuantTableModel
from desktop_app.ui.models.row_table import RowTableModel
from desktop_app.ui.models.size_guide_model import SizeGuideModel
from desktop_app.ui.models.target_types_model import TargetTypesModel
from desktop_app.ui.models.variant_model import VariantModel

Display = Qt.ItemDataRole.DisplayRole
Tip = Qt.ItemDataRole.ToolTipRole
Horizontal = Qt.Orientation.Horizontal


@dataclass(frozen=True)
class Fruit:
    name: str
    grams: int


class Col(enum.IntEnum):
    NAME = 0
    GRAMS = 1


class FruitModel(RowTableModel[Fruit]):
    """A subclass as the app writes them: data only, plus a signal of its own."""

    picked = Signal(str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(("Fruit", "Weight"), {Col.GRAMS: "Weight in grams"}, parent)

    def set_rows(self, rows: list[Fruit]) -> None:
        self._replace_rows(rows, lambda f: f.name)

    def reset(self, rows: list[Fruit]) -> None:
        self._reset_rows(rows)

    def append(self, rows: list[Fruit]) -> None:
        self._append_rows(rows)

    def remove(self, first: int, last: int) -> None:
        self._remove_rows(first, last)

    def change(self, first: int = 0, last: int | None = None) -> None:
        self._rows_changed(first, last)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Display) -> Any:
        fruit = self.row_for(index)
        if fruit is None or role != Display:
            return None
        return fruit.name if index.column() == Col.NAME else f"{fruit.grams} g"


APPLE, PEAR, PLUM = Fruit("apple", 180), Fruit("pear", 170), Fruit("plum", 60)


@pytest.fixture
def model(qtmodeltester: Any) -> FruitModel:
    m = FruitModel()
    qtmodeltester.check(m)  # stays attached: every later change is checked too
    return m


def test_generic_base_works_with_the_pinned_pyside6(qtbot: QtBot) -> None:
    # Generic after the Qt base: Shiboken's metaclass and typing.Generic must both hold.
    assert issubclass(FruitModel, QAbstractTableModel)
    assert RowTableModel[Fruit] is not RowTableModel  # subscripting is a typing alias only
    owner = QObject()
    m = FruitModel(owner)
    assert m.parent() is owner
    seen: list[str] = []
    m.picked.connect(seen.append)  # a signal declared on the subclass still works
    m.picked.emit("apple")
    assert seen == ["apple"]


def test_counts_and_headers(model: FruitModel) -> None:
    assert (model.rowCount(), model.columnCount()) == (0, 2)
    model.reset([APPLE, PEAR])
    assert (model.rowCount(), model.columnCount()) == (2, 2)
    # A flat table: no children below any cell.
    assert model.rowCount(model.index(0, 0)) == 0 and model.columnCount(model.index(0, 0)) == 0
    assert [model.headerData(c, Horizontal) for c in range(2)] == ["Fruit", "Weight"]
    assert model.headerData(Col.GRAMS, Horizontal, Tip) == "Weight in grams"
    assert model.headerData(Col.NAME, Horizontal, Tip) is None  # no tip for that column
    assert model.headerData(0, Horizontal, Qt.ItemDataRole.FontRole) is None
    # Out of range and vertical sections answer nothing rather than raising.
    for section in (-1, 2, 99):
        assert model.headerData(section, Horizontal) is None
    assert model.headerData(0, Qt.Orientation.Vertical) is None
    assert model.index(1, 1).data() == "170 g"


def test_row_for_is_guarded(model: FruitModel) -> None:
    model.reset([APPLE, PEAR])
    assert model.row_for(model.index(1, 0)) == PEAR
    assert model.row_for(QModelIndex()) is None
    # An index the view still holds for a row that has gone since.
    stale = model.createIndex(5, 0)
    assert stale.isValid() and model.row_for(stale) is None
    kept = QPersistentModelIndex(model.index(1, 0))
    model.remove(1, 1)
    assert not kept.isValid() and model.row_for(kept) is None
    assert model.index(1, 0).data() is None
    assert model.row_at(0) == APPLE and model.rows() == (APPLE,)
    with pytest.raises(IndexError):
        model.row_at(3)


def test_same_rows_with_new_values_update_in_place(qtbot: QtBot, model: FruitModel) -> None:
    model.reset([APPLE, PEAR])
    kept = QPersistentModelIndex(model.index(1, 1))
    heavier = [APPLE, Fruit("pear", 200)]
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.dataChanged) as changed:
        model.set_rows(heavier)
    top_left, bottom_right = changed.args[:2]
    assert (top_left.row(), top_left.column()) == (0, 0)
    assert (bottom_right.row(), bottom_right.column()) == (1, 1)
    assert kept.isValid() and kept.data() == "200 g"  # selection and scroll would survive
    # Other rows (or the same ones in another order): a reset.
    with qtbot.waitSignal(model.modelReset):
        model.set_rows([PEAR, APPLE])
    assert not kept.isValid()
    assert model.rows() == (PEAR, APPLE)
    with qtbot.waitSignal(model.modelReset):
        model.set_rows([])
    with qtbot.assertNotEmitted(model.dataChanged), qtbot.assertNotEmitted(model.modelReset):
        model.set_rows([])  # nothing to nothing: no signal at all


def test_rows_changed_covers_the_range_and_every_column(qtbot: QtBot, model: FruitModel) -> None:
    with qtbot.assertNotEmitted(model.dataChanged):
        model.change()  # an empty table has nothing to repaint
    model.reset([APPLE, PEAR, PLUM])
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.change(1, 1)
    top_left, bottom_right = changed.args[:2]
    assert (top_left.row(), top_left.column(), bottom_right.row(), bottom_right.column()) == (
        1,
        0,
        1,
        1,
    )
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.change(1)
    assert (changed.args[0].row(), changed.args[1].row()) == (1, 2)


def test_append_and_remove(qtbot: QtBot, model: FruitModel) -> None:
    with qtbot.assertNotEmitted(model.rowsInserted):
        model.append([])
    with qtbot.waitSignal(model.rowsInserted) as inserted:
        model.append([APPLE, PEAR])
    assert inserted.args[1:] == [0, 1]
    with qtbot.waitSignal(model.rowsInserted) as inserted:
        model.append([PLUM])
    assert inserted.args[1:] == [2, 2]
    with qtbot.waitSignal(model.rowsRemoved) as removed:
        model.remove(0, 1)
    assert removed.args[1:] == [0, 1]
    assert model.rows() == (PLUM,) and model.index(0, 0).data() == "plum"


def test_header_texts_are_returned_as_given(qtmodeltester: Any) -> None:
    # Qt shows header text literally; the base must not interpret or trim it.
    odd = RowTableModel[Fruit](("<b>not bold</b>", "\u202ename", ""))
    assert [odd.headerData(c, Horizontal) for c in range(3)] == [
        "<b>not bold</b>",
        "\u202ename",
        "",
    ]
    empty = RowTableModel[Fruit](())
    assert empty.columnCount() == 0 and empty.headerData(0, Horizontal) is None
    qtmodeltester.check(empty)


@pytest.mark.parametrize(
    "make",
    [
        DiscoverModel,
        VariantModel,
        LibraryModel,
        DownloadsModel,
        CompareSummaryModel,
        CompareVariantsModel,
        ConvertJobsModel,
        QuantTableModel,
        SizeGuideModel,
        FolderListModel,
        lambda: DiskUseModel("Source"),
        lambda: TargetTypesModel([]),
    ],
)
def test_every_flat_table_model_is_built_on_the_base(make: Any, qtmodeltester: Any) -> None:
    m = make()
    assert isinstance(m, RowTableModel)
    qtmodeltester.check(m)
    assert m.rowCount() == 0 and m.row_for(m.index(0, 0)) is None
    headers = [m.headerData(c, Horizontal) for c in range(m.columnCount())]
    assert m.columnCount() > 0 and all(isinstance(h, str) for h in headers)
    assert m.headerData(m.columnCount(), Horizontal) is None
