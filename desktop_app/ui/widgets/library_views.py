"""The library's views: a table of files, a tree of families, disk use, and the details panel.

Owns the item models and their filter proxies; the page feeds it scan results and reads the
selection back as an entry key.

Signals:
    selection_changed(): the selected model (or the visible tab) changed.
    context_menu_requested(QPoint, object): position in the view's viewport, the view.
    activated(): a model row was double-clicked or Enter was pressed on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.fit import Verdict
from desktop_app.core.library.families import ModelFamily
from desktop_app.ui.models.disk_use_model import DiskUse, DiskUseModel
from desktop_app.ui.models.family_model import FamilyColumn, FamilyTreeModel
from desktop_app.ui.models.library_model import (
    HEADERS,
    SOURCE_NAMES,
    Column,
    LibraryFilterProxy,
    LibraryModel,
    LibraryRole,
    LibraryRow,
    display_text,
)
from desktop_app.ui.widgets.library_details import LibraryDetails

DETAILS_WIDTH = 330
NAME_MIN_WIDTH = 190
COLUMN_MAX_WIDTH = 220
FIT_SAMPLE_ROWS = 300
CELL_PADDING = 18  # text margins of a cell in common styles
HEADER_PADDING = 30  # room for the sort indicator


@dataclass(frozen=True, eq=False)
class _TreeInput:
    families: tuple[ModelFamily, ...]
    verdicts: tuple[tuple[str, Verdict | None], ...]
    hidden: frozenset[str]
    rows: Mapping[str, LibraryRow]

    def shows(self, other: _TreeInput) -> bool:
        """Whether the tree built from ``self`` already shows what ``other`` would."""
        mine = (self.families, self.verdicts, self.hidden)
        return mine == (other.families, other.verdicts, other.hidden)


class _LibraryTable(QTableView):
    """The Name column takes the width the other (fitted) columns leave, but never less than
    ``NAME_MIN_WIDTH``: a narrow window scrolls sideways rather than hide every name."""

    def __init__(self) -> None:
        super().__init__()
        self.viewport().installEventFilter(self)
        self.horizontalHeader().sectionResized.connect(self._on_header_section_resized)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_name_column()
        return super().eventFilter(watched, event)

    @Slot(int, int, int)
    def _on_header_section_resized(self, section: int, _old: int, _new: int) -> None:
        if section != Column.NAME:
            self.fit_name_column()

    def fit_columns(self, rows: Sequence[LibraryRow]) -> None:
        """Size every column but Name from its header and a sample of rows.

        Not ResizeToContents: that mode asks ``data`` for every cell of every row on each
        layout, seconds of GUI time for a thousand models.
        """
        header = self.horizontalHeader()
        cell, head = self.fontMetrics(), header.fontMetrics()
        sample = rows[:FIT_SAMPLE_ROWS]
        for col in Column:
            if col == Column.NAME:
                continue
            texts = {display_text(r, col) for r in sample}
            width = max((cell.horizontalAdvance(t) for t in texts), default=0) + CELL_PADDING
            width = max(width, head.horizontalAdvance(HEADERS[col]) + HEADER_PADDING)
            header.resizeSection(col, min(width, COLUMN_MAX_WIDTH))
        self.fit_name_column()

    def fit_name_column(self) -> None:
        header = self.horizontalHeader()
        others = sum(
            header.sectionSize(c)
            for c in range(header.count())
            if c != Column.NAME and not header.isSectionHidden(c)
        )
        width = max(NAME_MIN_WIDTH, self.viewport().width() - others)
        if header.sectionSize(Column.NAME) != width:
            header.resizeSection(Column.NAME, width)


def _item_view_defaults(view: QAbstractItemView) -> None:
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)


class LibraryViews(QSplitter):
    selection_changed = Signal()
    context_menu_requested = Signal(QPoint, object)
    activated = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.model = LibraryModel(self)
        self.proxy = LibraryFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.family_model = FamilyTreeModel(self)
        self.tree_proxy = LibraryFilterProxy(self)
        self.tree_proxy.setRecursiveFilteringEnabled(True)
        self.tree_proxy.setSourceModel(self.family_model)
        self.source_use = DiskUseModel("Source", self)
        self.family_use = DiskUseModel("Family", self)
        self._families: dict[str, ModelFamily] = {}
        self._tree_input: _TreeInput | None = None  # what the tree is to show
        self._tree_built: _TreeInput | None = None  # what it shows
        self._collapsed: set[str] = set()
        self._restoring = False
        self._last_view: QAbstractItemView | None = None  # set below, once the table exists

        self.table = _LibraryTable()
        _item_view_defaults(self.table)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self._last_view = self.table
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setHighlightSections(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setMargin(24)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.message)

        self.tree = QTreeView()
        _item_view_defaults(self.tree)
        self.tree.setModel(self.tree_proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setStyleSheet("QTreeView::item { padding: 3px 0px; }")
        tree_header = self.tree.header()
        tree_header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        tree_header.setSectionResizeMode(FamilyColumn.NAME, QHeaderView.ResizeMode.Stretch)
        tree_header.setStretchLastSection(False)
        metrics = self.tree.fontMetrics()
        for col, samples in (
            (FamilyColumn.BITS, ("Bits/weight", "99 variants")),
            (FamilyColumn.SIZE, ("999.9 MiB",)),
            (FamilyColumn.SOURCE, tuple(SOURCE_NAMES.values())),
            (FamilyColumn.FIT, ("Does not fit",)),
        ):
            width = max(metrics.horizontalAdvance(t) for t in samples) + HEADER_PADDING
            tree_header.resizeSection(col, width)

        disk = QWidget()
        disk_row = QHBoxLayout(disk)
        for title, model in (("By source", self.source_use), ("By family", self.family_use)):
            box = QGroupBox(title)
            view = QTableView()
            view.setModel(model)
            view.verticalHeader().hide()
            view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
            hdr = view.horizontalHeader()
            hdr.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            hdr.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
            QVBoxLayout(box).addWidget(view)
            disk_row.addWidget(box, 1 if model is self.source_use else 2)
        self.disk_note = QLabel(
            "A file found by two apps counts in both rows; it uses the disk only once."
        )
        self.disk_note.setWordWrap(True)
        disk_page = QWidget()
        disk_layout = QVBoxLayout(disk_page)
        disk_layout.addWidget(disk, 1)
        disk_layout.addWidget(self.disk_note)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.table_stack, "Models")
        self.tabs.addTab(self.tree, "Families")
        self.tabs.addTab(disk_page, "Disk use")

        self.details = LibraryDetails()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.details)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        self.addWidget(self.tabs)
        self.addWidget(scroll)
        self.setStretchFactor(0, 1)
        self.setStretchFactor(1, 0)
        self.setSizes([900, DETAILS_WIDTH])
        self.setChildrenCollapsible(False)

        for view in (self.table, self.tree):
            view.selectionModel().currentRowChanged.connect(self._on_view_current_changed)
            view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
            view.customContextMenuRequested.connect(
                lambda pos, v=view: self.context_menu_requested.emit(pos, v)
            )
            view.activated.connect(self._on_view_activated)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.tree.collapsed.connect(self._on_tree_collapsed)
        self.tree.expanded.connect(self._on_tree_expanded)

    # --- feeding -----------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[LibraryRow], max_new: int | None = None) -> int:
        """LibraryModel.set_rows; returns the rows still to append (see there)."""
        first = self.model.rowCount() == 0
        left = self.model.set_rows(rows, max_new)
        if first and rows:
            self.table.fit_columns(rows)
        return left

    def family(self, key: str) -> ModelFamily | None:
        return self._families.get(key)

    def set_families(
        self,
        families: Sequence[ModelFamily],
        rows: Mapping[str, LibraryRow],
        hidden: frozenset[str],
    ) -> None:
        """The tree is rebuilt when it is visible and only if something in it changed:
        a thousand variants take a noticeable part of a second to rebuild."""
        self._families = {f.key: f for f in families}
        verdicts = tuple((k, r.verdict) for k, r in rows.items())
        self._tree_input = _TreeInput(tuple(families), verdicts, hidden, rows)
        if self.tabs.currentWidget() is self.tree:
            self._build_tree()

    def _build_tree(self) -> None:
        given = self._tree_input
        if given is None or (self._tree_built is not None and self._tree_built.shows(given)):
            return
        key = self.selected_key() if self._last_view is self.tree else None
        self.family_model.set_families(given.families, given.rows, given.hidden)
        self._tree_built = given
        self._restore_expansion()
        if key is not None:
            self._select_in_tree(key)

    def set_disk_use(self, by_source: Sequence[DiskUse], by_family: Sequence[DiskUse]) -> None:
        self.source_use.set_rows(by_source)
        self.family_use.set_rows(by_family)

    def show_message(self, text: str, *, rich: bool = False) -> None:
        self.message.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.message.setText(text)
        self.table_stack.setCurrentWidget(self.message)

    def show_table(self) -> None:
        self.table_stack.setCurrentWidget(self.table)

    def set_text_filter(self, text: str) -> None:
        for proxy in (self.proxy, self.tree_proxy):
            proxy.set_text(text)
        self._restore_expansion()

    def set_source_filter(self, kind: str | None) -> None:
        for proxy in (self.proxy, self.tree_proxy):
            proxy.set_source_kind(kind)
        self._restore_expansion()

    def set_show_hidden(self, show: bool) -> None:
        for proxy in (self.proxy, self.tree_proxy):
            proxy.set_show_hidden(show)
        self._restore_expansion()

    # --- selection ---------------------------------------------------------------------------

    def selected_key(self) -> str | None:
        """The entry key of the selected model; a family selects its best usable variant."""
        view = self._last_view
        if view is None:
            return None
        index = view.currentIndex()
        if not index.isValid() or not view.selectionModel().isSelected(index):
            return None
        index = index.siblingAtColumn(0)
        key = index.data(LibraryRole.KEY)
        if key is not None:
            return str(key)
        family = self.family(str(index.data(LibraryRole.FAMILY_KEY)))
        if family is None:
            return None
        best = next((v for v in family.variants if v.broken_reason is None), family.variants[0])
        return best.entries[0].key

    def select_key(self, key: str) -> None:
        """Select a model in the table (tests and callers outside use this)."""
        self.tabs.setCurrentWidget(self.table_stack)
        source = self.model.index_for_key(key)
        index = self.proxy.mapFromSource(source)
        if index.isValid():
            self.table.setCurrentIndex(index)
            self.table.scrollTo(index)

    def _select_in_tree(self, key: str) -> None:
        for f_row in range(self.tree_proxy.rowCount()):
            parent = self.tree_proxy.index(f_row, 0)
            for v_row in range(self.tree_proxy.rowCount(parent)):
                index = self.tree_proxy.index(v_row, 0, parent)
                if index.data(LibraryRole.KEY) == key:
                    self.tree.setCurrentIndex(index)
                    return

    @Slot(QModelIndex, QModelIndex)
    def _on_view_current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        sender = self.table if self.tabs.currentWidget() is self.table_stack else self.tree
        self._last_view = sender
        self.selection_changed.emit()

    @Slot()
    def _on_view_selection_changed(self, *_args: object) -> None:
        self.selection_changed.emit()

    @Slot(int)
    def _on_tabs_current_changed(self, _index: int) -> None:
        widget = self.tabs.currentWidget()
        if widget is self.table_stack:
            self._last_view = self.table
        elif widget is self.tree:
            self._build_tree()
            self._last_view = self.tree
        self.selection_changed.emit()

    @Slot(QModelIndex)
    def _on_view_activated(self, index: QModelIndex) -> None:
        if index.siblingAtColumn(0).data(LibraryRole.KEY) is not None:
            self.activated.emit()

    # --- family expansion --------------------------------------------------------------------

    def _restore_expansion(self) -> None:
        """Families open by default; the ones the user closed stay closed across rescans."""
        self._restoring = True
        try:
            for row in range(self.tree_proxy.rowCount()):
                index = self.tree_proxy.index(row, 0)
                key = index.data(LibraryRole.FAMILY_KEY)
                self.tree.setExpanded(index, key not in self._collapsed)
        finally:
            self._restoring = False

    @Slot(QModelIndex)
    def _on_tree_collapsed(self, index: QModelIndex) -> None:
        if not self._restoring:
            self._collapsed.add(str(index.data(LibraryRole.FAMILY_KEY)))

    @Slot(QModelIndex)
    def _on_tree_expanded(self, index: QModelIndex) -> None:
        if not self._restoring:
            self._collapsed.discard(str(index.data(LibraryRole.FAMILY_KEY)))
