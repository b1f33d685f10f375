"""Selecting a range in the file viewer (shift-drag on any lane), as a mixin of :class:`FileView`.

Issue 28, item 15.  A plain click still puts the cursor (and clears the selection, as Audacity's
does); a drag with Shift held selects, shown as a band across every lane.  Play and Space then
play the selection (:mod:`serlive.gui.file_playback` reads :attr:`SelectionMixin.selection`), the
summary panel shows its emotion mean beside the whole file's (:mod:`serlive.gui.selection`, no
Qt), and File ▸ Export selection… writes its audio and timeline on a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal

from serlive.gui.arrays import plural
from serlive.gui.colors import emotion_color
from serlive.gui.selection import MIN_SELECTION_S, export_selection, selection_summary


class _ExportSignals(QObject):
    done = Signal(str)  #: a line saying what was written
    failed = Signal(str)  #: why not


class SelectionMixin:
    """The selection: its bands, the shift-drag that makes it, its summary and its export."""

    loaded: Any
    labelset: Any
    wave_plot: Any
    spec_plot: Any
    time_plot: Any
    strip: Any
    selection_label: Any
    selection_changed: Any  # the view's signal
    _draw_summary: Callable[[Any], None]  # the view's
    #: (start, end) in file seconds, or None
    selection: tuple[float, float] | None = None

    def _install_selection(self) -> None:
        """A band in every lane, and shift-drag on each lane's view box to make it."""
        self._sel_anchor: float | None = None
        self.export_signals = _ExportSignals()
        self.selection_regions = []
        for p in (self.wave_plot, self.spec_plot, self.strip, self.time_plot):
            region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 255, 255, 45))
            region.setZValue(5)
            region.hide()
            p.addItem(region, ignoreBounds=True)
            self.selection_regions.append(region)
            vb = p.getPlotItem().vb
            plain = vb.mouseDragEvent
            vb.mouseDragEvent = lambda ev, axis=None, vb=vb, plain=plain: self._drag(vb, plain, ev, axis)

    def _drag(self, vb: Any, plain: Any, ev: Any, axis: Any) -> None:
        """Shift-drag with the left button selects; any other drag pans, as before."""
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if (
            self.loaded is None
            or ev.button() != Qt.MouseButton.LeftButton
            or not (shift or self._sel_anchor is not None)
        ):
            plain(ev, axis)
            return
        ev.accept()
        x = float(vb.mapSceneToView(ev.scenePos()).x())
        if ev.isStart():
            self._sel_anchor = float(vb.mapSceneToView(ev.buttonDownScenePos()).x())
        if self._sel_anchor is None:
            return
        self.select(self._sel_anchor, x)
        if ev.isFinish():
            self._sel_anchor = None
            if self.selection is not None and self.selection[1] - self.selection[0] < MIN_SELECTION_S:
                self.clear_selection()

    def select(self, a: float, b: float) -> None:
        """Select ``a .. b`` seconds (either order), within the file."""
        if self.loaded is None:
            return
        dur = len(self.loaded.samples) / self.loaded.sample_rate
        lo, hi = sorted((min(max(0.0, a), dur), min(max(0.0, b), dur)))
        self.selection = (lo, hi)
        for r in self.selection_regions:
            r.setRegion((lo, hi))
            r.show()
        self._draw_summary(self.loaded)
        self._selection_summary()  # (a file without speech draws no table)
        self.selection_changed.emit()

    def clear_selection(self) -> None:
        """No selection: Play plays from the cursor again."""
        had = self.selection is not None
        self.selection = None
        for r in getattr(self, "selection_regions", ()):
            r.hide()
        if self.loaded is not None and had:
            self._draw_summary(self.loaded)
        self.selection_label.setText("")
        if had:
            self.selection_changed.emit()

    def _selection_summary(self) -> Any:
        """The selection's :class:`SelectionSummary` (None: no selection), also written in its label."""
        if self.selection is None or self.loaded is None:
            self.selection_label.setText("")
            return None
        sel = selection_summary(self.loaded, *self.selection, self.labelset)
        span = f"{sel.start_s:.2f}–{sel.end_s:.2f} s"
        if sel.probabilities is None:
            head = f"selection {span}: no speech ({plural(sel.windows, 'window')})"
        else:
            top = float(np.max(sel.probabilities))
            of = f"{sel.voiced} of {plural(sel.windows, 'window')}"
            head = f"selection {span}: {sel.label} {100 * top:.0f} % ({of})"
        self.selection_label.setText(head)
        return sel

    def _prob_table(self, labels: tuple[str, ...], probs: Any) -> str:
        """The whole file's probabilities as a table, with the selection's beside them when there is one."""
        sel = self._selection_summary()
        sel_p = (
            None
            if sel is None or sel.probabilities is None
            else dict(zip(sel.labels, sel.probabilities, strict=True))
        )
        cell = "<td align='right' style='padding-left: 12px'>{}</td>"
        header = (
            ""
            if sel is None
            else f"<tr><td></td><td></td>{cell.format('file')}{cell.format('selection')}</tr>"
        )
        rows = "".join(
            f"<tr><td style='color:{emotion_color(lb)}'>■</td><td>{lb}</td>{cell.format(f'{100 * p:.1f} %')}"
            + ("" if sel is None else cell.format("—" if sel_p is None else f"{100 * sel_p[lb]:.1f} %"))
            + "</tr>"
            for lb, p in sorted(zip(labels, probs, strict=True), key=lambda kv: -kv[1])
        )
        return f"<table>{header}{rows}</table>"

    def export_selection(self, path: str | Path) -> bool:
        """Write the selection's audio to ``path`` and its timeline beside it, on a worker thread.

        ``export_signals.done`` or ``.failed`` says how it went (an hour's selection is a lot of disk:
        not on the GUI thread).  False when there is nothing to export.
        """
        d, sel, labelset = self.loaded, self.selection, self.labelset
        if d is None or sel is None:
            return False
        sig = self.export_signals

        def work() -> None:
            from serlive.audio.io import AudioLoadError

            try:
                csv_path = export_selection(d, *sel, path, labelset)
            except AudioLoadError as exc:
                sig.failed.emit(str(exc))
            except OSError as exc:
                sig.failed.emit(f"{path}: {exc.strerror or exc}")
            else:
                sig.done.emit(f"saved the selection {sel[0]:.2f}–{sel[1]:.2f} s to {path} and {csv_path}")

        threading.Thread(target=work, name="serlive-export-selection", daemon=True).start()
        return True
