"""One utterance table for both tabs, with its right-click "This was… ▸ <label>" menu.

Why one widget: the File tab's table right-aligned start, end and confidence while the Live tab's
left-aligned them (issue 28, item 10), because each panel built its own.  Both panels now show
their utterances through :class:`UtteranceTable`, so the columns, their alignment and the
context menu are the same everywhere.

"This was…" labels an utterance for the active calibration profile
(:class:`serlive.gui.profile_menu.ProfileControl`).  The table knows neither where the audio
lives nor the main window: its panel hands it ``samples_for(row)`` (the File tab reads the
loaded file, the Live tab the engine's model-rate ring) and the window sets :attr:`profiles`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from serlive.gui import messages
from serlive.gui.colors import emotion_color
from serlive.gui.profile_menu import this_was_menu
from serlive.segments import Utterance, clock

#: the columns, and which of them are numbers (right-aligned, so the digits line up)
COLUMNS = ("start", "end", "emotion", "confidence")
NUMERIC = (0, 1, 3)

#: what ``samples_for(row)`` returns: the utterance's samples at the model rate, its start and
#: end (s), or a sentence saying why they cannot be had (shown to the user; nothing changes)
Samples = tuple[NDArray[np.float32], float, float] | str


class UtteranceTable(QTableWidget):
    """start, end, emotion (in its colour), confidence; a right-click offers "This was…"."""

    def __init__(self, selectable: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        if selectable:
            self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        else:
            self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        #: the window's profile control (None: no "This was…"); set by the main window
        self.profiles: Any = None
        #: the panel's reader of a row's audio (None: the menu offers nothing to label)
        self.samples_for: Callable[[int], Samples] | None = None
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu_requested)

    def show_utterances(self, utts: Sequence[Utterance]) -> None:
        """One row per utterance, in the given order."""
        self.setRowCount(len(utts))
        for i, u in enumerate(utts):
            cells = (clock(u.start_s), clock(u.end_s), u.label, f"{100 * u.confidence:.0f} %")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 2:
                    item.setForeground(QColor(emotion_color(u.label)))
                if col in NUMERIC:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, col, item)

    # --- the context menu ----------------------------------------------------------------------------
    def context_menu(self, row: int) -> QMenu:
        """The menu of ``row``: "This was… ▸ <label>" of the active profile.

        Without a profile the item stays, disabled, and says where one is chosen, so the feature
        can be found; with one that cannot take an example now (a refit running) it is disabled.
        """
        menu = QMenu(self)
        sub = this_was_menu(menu, self.profiles, lambda label: self.label_row(row, label))
        if sub is None or self.samples_for is None:
            hint = menu.addAction("This was… (choose a profile in Listen ▸ Profile)")
            hint.setEnabled(False)
        else:
            menu.addMenu(sub)
        return menu

    def _menu_requested(self, pos: QPoint) -> None:
        row = self.rowAt(pos.y())
        if row < 0:
            return
        self.context_menu(row).exec(self.viewport().mapToGlobal(pos))

    def label_row(self, row: int, label: str) -> None:
        """Teach the active profile that utterance ``row`` was ``label`` (refit on a worker thread).

        Audio that is gone (a live utterance the ring has overwritten) is said in a message box,
        and the profile is left as it was.
        """
        if self.samples_for is None or self.profiles is None:
            return
        got = self.samples_for(row)
        if isinstance(got, str):
            messages.show_info(self, "This was…", got)
            return
        samples, start_s, end_s = got
        self.profiles.this_was(label, samples, start_s, end_s)
