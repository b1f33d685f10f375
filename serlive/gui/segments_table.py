"""Utterances in the app: the file viewer's (spans, table, CSV) and the live view's last few.

A panel that attaches to a :class:`serlive.gui.file_view.FileView` from outside (its signals,
its waveform plot, its seek and playback).  It asks the view to segment each file
(``view.segment_config``): the view's worker does it while it analyses the file, fed by the
analysis as ``serlive predict --segments`` is (one speech-detector pass; segmenting afterwards
ran the detector over the file again, 13-29 % of the analysis time).  Once the file is shown,
the panel labels the segments with :func:`serlive.segments.utterances` (the same definition as
the CLI's; a short one runs a centred window through the model) on a worker thread of its own,
so the plots do not wait for it, draws each utterance as a coloured span with its label over the
waveform and lists it in a table.  Clicking a span or a row selects both, and plays the utterance.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from serlive.config import SegmentConfig
from serlive.gui import messages
from serlive.gui.colors import emotion_color
from serlive.gui.utterance_table import Samples, UtteranceTable
from serlive.labelsets import LabelSet, view
from serlive.segments import Segment, Utterance, clock, utterances, write_csv

#: Spans drawn under the waveform curve, filled with the emotion's colour at this opacity (0-255).
SPAN_ALPHA = 45
SELECTED_ALPHA = 110


#: pixels kept free after a label before the next utterance's start
LABEL_GAP_PX = 6


def fitting_labels(
    starts: Sequence[float], widths_px: Sequence[float], x0: float, x1: float, width_px: float
) -> list[bool]:
    """Which span labels to show at this zoom: those that fit before the next utterance starts.

    Why: on a 10-minute file, or on close utterances, every label drawn at once piled into an
    unreadable smear (issue 28, item 2).  A label starts at its utterance's start; it is shown when
    the room up to the next utterance's start, in pixels at the visible range ``x0..x1`` over
    ``width_px``, holds it and a small gap.  Utterances do not overlap, so shown labels never do,
    and zooming in widens every room: the hidden labels appear.  The last one always has room.
    """
    scale = width_px / max(x1 - x0, 1e-9)
    out = []
    for i, start in enumerate(starts):
        room = math.inf if i + 1 == len(starts) else (starts[i + 1] - start) * scale
        out.append(room >= widths_px[i] + LABEL_GAP_PX)
    return out


class _Signals(QObject):
    finished = Signal(int, object)  # generation, list[Utterance]
    failed = Signal(int, str)


class SegmentsPanel(QWidget):
    """Utterances of the file shown in ``view``: spans on its waveform, a table, CSV export."""

    #: the table and spans now show the utterances of the file on screen (tests, status)
    ready = Signal()

    def __init__(self, view: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.utterances: list[Utterance] = []  # as shown: over the chosen labels
        self._raw: list[Utterance] = []  # over the model's labels
        self.labelset: LabelSet | None = None
        self._spans: list[tuple[pg.LinearRegionItem, pg.TextItem]] = []
        self._selected = -1
        # the view's worker segments each file as it analyses it (fed by the analysis)
        view.segment_config = SegmentConfig()
        self._generation = 0
        self._signals = _Signals()
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self.view.stop_playback)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.title = QLabel("Utterances: open a file")
        head.addWidget(self.title, 1)
        self.export_button = QPushButton("Export utterances as CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_dialog)
        head.addWidget(self.export_button)
        layout.addLayout(head)
        self.table = UtteranceTable(selectable=True)
        self.table.samples_for = self.samples_for
        self.table.cellClicked.connect(lambda row, _col: self.activate(row))
        self.table.setMaximumHeight(170)
        layout.addWidget(self.table)

        view.analysis_done.connect(self._on_analysis)
        view.cleared.connect(self.clear)
        view.wave_plot.scene().sigMouseClicked.connect(self._plot_clicked)
        vb = view.wave_plot.getPlotItem().vb
        vb.sigXRangeChanged.connect(self.place_labels)
        vb.sigResized.connect(self.place_labels)

    # --- segmenting ------------------------------------------------------------------------
    def _on_analysis(self, analysis: Any) -> None:
        loaded = self.view.loaded
        if loaded is None:
            return
        self.clear()
        self._generation += 1
        gen = self._generation
        segs = loaded.segments
        if isinstance(segs, str) or segs is None:
            self.title.setText(f"Utterances: could not segment ({segs or 'not asked for'})")
            return
        self.title.setText("Utterances: labelling…")
        threading.Thread(
            target=self._work,
            args=(gen, loaded.samples, analysis, segs),
            name="serlive-segments",
            daemon=True,
        ).start()

    def _work(self, gen: int, y: Any, analysis: Any, segments: list[Segment]) -> None:
        """Worker thread: label the segments the analysis found (a short one runs a centred window).

        With the view's model, under the view's ``model_lock`` (its worker and this thread never
        run the interpreter at once): the panel's own copy, loaded when the first file was shown,
        held the GIL while LiteRT built it and stalled the GUI thread for 0.4-1.1 s with the
        shipped model (``test_gui_thread_not_blocked_during_analysis``).  A file opened meanwhile
        makes this labelling stale: it is skipped.
        """
        try:
            with self.view.model_lock:
                if gen != self._generation:
                    return
                utts = utterances(y, analysis, self.view.model, segments=segments)
            self._signals.finished.emit(gen, utts)
        except Exception as exc:  # a bug must not take the window down: say it in the panel
            self._signals.failed.emit(gen, f"{type(exc).__name__}: {exc}")

    def _on_failed(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.title.setText(f"Utterances: could not segment ({message})")

    def _on_finished(self, gen: int, utts: list[Utterance]) -> None:
        if gen != self._generation or self.view.loaded is None:
            return
        self._raw = utts
        self._fill()
        self.ready.emit()

    def set_labelset(self, labelset: LabelSet | None) -> None:
        """Show the utterances over ``labelset``'s labels (None: the model's); the CSV follows."""
        self.labelset = labelset
        if self._raw:
            selected = self._selected
            self._fill()
            self.select(selected)

    def _fill(self) -> None:
        """Table and spans from the utterances, over the chosen labels."""
        for region, text in self._spans:
            self.view.wave_plot.removeItem(region)
            self.view.wave_plot.removeItem(text)
        self._spans = []
        ls = self.labelset
        utts = self._raw if ls is None else [view(u, ls, "probabilities") for u in self._raw]
        self.utterances = utts
        self.table.show_utterances(utts)
        for u in utts:
            self._spans.append(self._span(u))
        self.place_labels()
        n = len(utts)
        pause = SegmentConfig().min_pause_s
        self.title.setText(
            f"{n} utterance{'' if n == 1 else 's'} (a pause of {pause:g} s or more ends one; click to play)"
            if n
            else "No utterances: no speech found"
        )
        self.export_button.setEnabled(bool(n))

    def _span(self, u: Utterance) -> tuple[pg.LinearRegionItem, pg.TextItem]:
        color = QColor(emotion_color(u.label))
        fill = QColor(color)
        fill.setAlpha(SPAN_ALPHA)
        region = pg.LinearRegionItem(
            values=(u.start_s, u.end_s), movable=False, brush=fill, pen=pg.mkPen(None)
        )
        region.setZValue(-10)  # under the waveform curve
        text = pg.TextItem(f"{u.label} {100 * u.confidence:.0f}%", color=color, anchor=(0, 0))
        text.setPos(u.start_s, 1.0)
        plot = self.view.wave_plot
        plot.addItem(region)
        plot.addItem(text)
        return region, text

    def place_labels(self, *_: Any) -> None:
        """Show the span labels that fit at the current zoom (:func:`fitting_labels`); colours stay."""
        if not self._spans:
            return
        vb = self.view.wave_plot.getPlotItem().vb
        (x0, x1), _ = vb.viewRange()
        widths = [text.textItem.boundingRect().width() for _, text in self._spans]
        starts = [u.start_s for u in self.utterances]
        for (_, text), shown in zip(
            self._spans, fitting_labels(starts, widths, x0, x1, vb.width()), strict=True
        ):
            text.setVisible(shown)

    def clear(self) -> None:
        """No file, or another one coming: empty the table and take the spans off the waveform."""
        self._generation += 1
        for region, text in self._spans:
            self.view.wave_plot.removeItem(region)
            self.view.wave_plot.removeItem(text)
        self._spans = []
        self.utterances = []
        self._raw = []
        self._selected = -1
        self.table.setRowCount(0)
        self.export_button.setEnabled(False)
        self.title.setText("Utterances: —")

    # --- selecting, playing ----------------------------------------------------------------
    def select(self, index: int) -> None:
        """Highlight utterance ``index`` in the table and on the waveform (no playback)."""
        if not 0 <= index < len(self.utterances):
            return
        for i, (region, _) in enumerate(self._spans):
            fill = QColor(emotion_color(self.utterances[i].label))
            fill.setAlpha(SELECTED_ALPHA if i == index else SPAN_ALPHA)
            region.setBrush(fill)
            region.update()
        self._selected = index
        self.table.selectRow(index)

    @property
    def selected(self) -> int:
        """Index of the selected utterance, -1 for none."""
        return self._selected

    def samples_for(self, row: int) -> Samples:
        """Utterance ``row``'s samples from the file on screen (the model-rate copy), for "This was…"."""
        loaded = self.view.loaded
        if loaded is None or not 0 <= row < len(self.utterances):
            return "That utterance is no longer on screen."
        u = self.utterances[row]
        rate = loaded.sample_rate
        y = loaded.samples[round(u.start_s * rate) : round(u.end_s * rate)]
        return np.ascontiguousarray(y, dtype=np.float32), u.start_s, u.end_s

    def activate(self, index: int) -> None:
        """Select utterance ``index``, put the cursor at its start and play it to its end."""
        if not 0 <= index < len(self.utterances):
            return
        self.select(index)
        u = self.utterances[index]
        self.view.stop_playback()
        self.view.seek(u.start_s)
        if self.view.start_playback():
            self._stop_timer.start(max(1, round(1000 * u.duration_s)))

    def index_at(self, seconds: float) -> int:
        """The utterance under ``seconds`` on the time axis, -1 for none."""
        for i, u in enumerate(self.utterances):
            if u.start_s <= seconds <= u.end_s:
                return i
        return -1

    def _plot_clicked(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or not self.utterances:
            return
        vb = self.view.wave_plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        i = self.index_at(float(vb.mapSceneToView(ev.scenePos()).x()))
        if i >= 0:
            # after the view's own click handler (which moves the cursor there), play from the start
            QTimer.singleShot(0, lambda: self.activate(i))

    # --- export ----------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> None:
        """The table as CSV: start, end, label, confidence, each emotion's probability."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            write_csv(self.utterances, f)

    def export_dialog(self) -> None:
        """Ask where, then :meth:`export_csv`; an error is a message box, not a crash."""
        loaded = self.view.loaded
        default = str(loaded.path.with_suffix(".utterances.csv")) if loaded is not None else "utterances.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export utterances", default, "CSV files (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except OSError as exc:
            messages.show_error(self, "Cannot export", f"Could not write {path}: {exc}")


class LiveUtterancesPanel(QWidget):
    """The live view's last few utterances, newest first, and whether one is under way.

    Reads the running engine's :attr:`serlive.live.engine.Engine.utterances` (labelled by the engine's
    worker with the file path's rule) on its own timer, so the live view needs no change.
    """

    def __init__(self, live: Any, keep: int = 6, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.live = live
        self.keep = keep
        self.utterances: list[Utterance] = []  # newest first, over the model's labels
        self.labelset: LabelSet | None = None
        self._engine: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.state = QLabel("Utterances: start listening")
        layout.addWidget(self.state)
        self.table = UtteranceTable(selectable=False)
        self.table.samples_for = self.samples_for
        self.table.setMaximumHeight(150)
        layout.addWidget(self.table)
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def poll(self) -> None:
        """Take the engine's new utterances; a new run (another engine) starts an empty list."""
        eng = getattr(self.live, "engine", None)
        if eng is not self._engine:
            self._engine = eng
            self.utterances = []
            self._show()
        if eng is None:
            return
        new = []
        while True:
            try:
                new.append(eng.utterances.get_nowait())
            except Exception:  # queue.Empty, or an engine without utterances
                break
        if new:
            self.utterances = (new[::-1] + self.utterances)[: self.keep]
            self._show()
        since = getattr(eng, "open_utterance_s", None)
        if since is not None:
            self.state.setText(f"Speaking since {clock(since)}…")
        elif eng.running:
            self.state.setText("Pause" if self.utterances else "Waiting for speech")
        else:
            self.state.setText("Stopped")

    def set_labelset(self, labelset: LabelSet | None) -> None:
        """Show the utterances over ``labelset``'s labels (None: the model's)."""
        self.labelset = labelset
        self._show()

    def _show(self) -> None:
        ls = self.labelset
        self.table.show_utterances(
            [u if ls is None else view(u, ls, "probabilities") for u in self.utterances]
        )

    def samples_for(self, row: int) -> Samples:
        """Utterance ``row``'s samples, read back from this run's model-rate ring (for "This was…").

        The engine keeps only the last ``ring_s`` seconds (30 s by default): an older utterance
        is gone, and the answer says so instead of labelling silence or another stretch.
        """
        if not 0 <= row < len(self.utterances):
            return "That utterance is no longer in the list."
        u = self.utterances[row]
        eng = self._engine
        ring = None if eng is None else eng.ring
        if ring is None:
            return "The audio of that utterance is no longer held (listening was restarted)."
        rate = eng.sample_rate
        start, n = round(u.start_s * rate), round(u.duration_s * rate)
        try:
            y = ring.read(start, n) if n <= ring.capacity and start + n <= ring.written else None
        except ValueError:
            y = None
        if y is None:
            held = ring.capacity / rate
            return (
                f"The audio of the utterance at {clock(u.start_s)} is no longer held: listening keeps "
                f"only the last {held:.0f} s. Nothing was changed."
            )
        return y, u.start_s, u.end_s
