"""The file viewer's zoom: whole-file fit, zoom about the middle, and full detail once zoomed in.

A mixin of :class:`serlive.gui.file_view.FileView`, split from it.  The
overview holds a bounded envelope and spectrogram (an hour would otherwise be
millions of points); when the view is zoomed in past what they resolve, the
visible stretch is rendered at full detail on a worker thread, which only
emits signals, and laid over the overview.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.gui.file_model import (
    MIN_WAVE_RANGE,
    DetailRequest,
    Loaded,
    plan_detail,
    render_detail,
    visible_peak,
    wave_with_detail,
)


class ZoomDetailMixin:
    """Zooming the file viewer, and its full-detail rendering worker."""

    loaded: Loaded | None
    model: Any
    wave_plot: Any
    spec_plot: Any
    wave_curve: Any
    autoscale_action: Any
    detail_item: Any
    _signals: Any
    _generation: int
    _wave_detailed: bool
    _detail_cv: threading.Condition
    _detail_req: DetailRequest | None
    _detail_thread: threading.Thread | None
    _detail_stop: bool

    # --- zoomed-in detail: spectrogram and waveform --------------------------------------
    def request_detail(self) -> None:
        """Redraw the visible stretch at full detail where the overview is too coarse for it.

        The overview holds at most MAX_SPEC_COLS spectrogram columns and a WAVE_BINS-bin envelope
        (for an hour ~0.9 s each: a blur once zoomed in).  What to render is
        :func:`file_model.plan_detail`'s; a worker renders it, never the GUI thread.
        """
        d = self.loaded
        if d is None:
            return
        x0, x1 = (float(v) for v in self.wave_plot.getPlotItem().vb.viewRange()[0])
        width_px = max(100, self.spec_plot.width())
        req = plan_detail(d, x0, x1, width_px, self.model.extractor, self._generation)
        if req is None:
            return
        if req.frames is None:
            self.detail_item.hide()  # the overview already shows all there is to see here
        if req.wave is None and self._wave_detailed:
            self.wave_curve.setData(d.wave_t, d.wave_v)
            self._wave_detailed = False
        if req.frames is None and req.wave is None:
            return
        with self._detail_cv:
            self._detail_req = req
            if self._detail_thread is None:
                self._detail_thread = threading.Thread(
                    target=self._detail_loop, name="serlive-zoom-detail", daemon=True
                )
                self._detail_thread.start()
            self._detail_cv.notify()

    def _detail_loop(self) -> None:
        """Worker thread: render the newest request; touches no widget, only emits signals."""
        ext = self.model.extractor
        while True:
            with self._detail_cv:
                while self._detail_req is None and not self._detail_stop:
                    self._detail_cv.wait()
                if self._detail_stop:
                    return
                req, self._detail_req = self._detail_req, None
            try:
                if req.wave is not None:
                    self._signals.wave_detail.emit(req.generation, *wave_with_detail(req))
                if req.frames is not None:
                    self._signals.detail.emit(req.generation, *render_detail(req, ext))
            except Exception:  # a display nicety: the overview stays
                continue

    def _on_detail(self, gen: int, frame0: int, frame1: int, img: NDArray[np.float32]) -> None:
        if gen != self._generation or self.loaded is None:
            return
        frame_s = self.model.extractor.cfg.hop_length / self.loaded.sample_rate
        self.detail_item.setImage(img, autoLevels=False)
        self.detail_item.setRect(frame0 * frame_s, 0, (frame1 - frame0) * frame_s, img.shape[0])
        self.detail_item.show()

    def _on_wave_detail(self, gen: int, t: NDArray[np.float64], v: NDArray[np.float32]) -> None:
        if gen != self._generation or self.loaded is None:
            return
        self.wave_curve.setData(t, v)
        self._wave_detailed = True

    # --- the waveform's vertical range (issue 28, item 16) -----------------------------------
    def _install_wave_autoscale(self) -> None:
        """View ▸ Waveform follows the visible audio: a checkable action (on), and the range kept fitted."""
        from PySide6.QtGui import QAction

        self.autoscale_action = QAction("&Waveform follows the visible audio", self)
        self.autoscale_action.setCheckable(True)
        self.autoscale_action.setChecked(True)
        self.autoscale_action.setToolTip("Off: the waveform's range is fixed at ±1 (full scale)")
        self.autoscale_action.toggled.connect(lambda _on: self.fit_wave_range())
        self.wave_plot.sigXRangeChanged.connect(lambda *_: self.fit_wave_range())

    def fit_wave_range(self) -> None:
        """The waveform's y-range: ±(the visible audio's peak + 5 %) when following it, else ±1.

        A quiet passage zoomed to 10 ms was a flat line on the fixed ±1 (issue 28, item 16).  The
        range never goes under ±:data:`MIN_WAVE_RANGE` (-60 dBFS), so digital silence stays a line.
        """
        half = 1.0
        if self.loaded is not None and self.autoscale_action.isChecked():
            x0, x1 = (float(v) for v in self.wave_plot.getPlotItem().vb.viewRange()[0])
            half = max(MIN_WAVE_RANGE, 1.05 * visible_peak(self.loaded, x0, x1))
        self.wave_plot.setLimits(yMin=-half, yMax=half, minYRange=2 * half, maxYRange=2 * half)
        self.wave_plot.setYRange(-half, half, padding=0)

    def zoom_to_fit(self) -> None:
        """Show the whole file (View ▸ Zoom to fit, and the plots' right-click "View All")."""
        if self.loaded is not None:
            self.wave_plot.setXRange(
                0, max(len(self.loaded.samples) / self.loaded.sample_rate, 1e-3), padding=0
            )

    def zoom(self, factor: float) -> None:
        """Zoom in (``factor`` < 1) or out about the middle of the view, within the file's limits."""
        if self.loaded is not None:
            x0, x1 = self.wave_plot.getPlotItem().vb.viewRange()[0]
            mid, half = (x0 + x1) / 2, (x1 - x0) * factor / 2
            self.wave_plot.setXRange(mid - half, mid + half, padding=0)
