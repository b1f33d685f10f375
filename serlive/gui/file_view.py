"""File viewer: waveform, log-mel and emotion timeline of a whole file on one linked time axis.

Loading, the spectrogram and the analysis run on a worker thread (the GUI
keeps painting; a progress bar and Cancel); the results arrive through Qt
signals.  An hour of audio is drawn from a min/max envelope and a
time-averaged spectrogram of at most a few thousand columns; when the view is
zoomed in further than those columns resolve, the visible stretch is
re-rendered at full detail on a worker thread and laid over it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from serlive.config import SegmentConfig
from serlive.gui import messages
from serlive.gui.colors import emotion_color
from serlive.gui.export import write_timeline_csv
from serlive.gui.file_model import (
    FEW_POINTS,
    LONG_TIMELINE_POINTS,
    MIN_SPAN_S,
    PHASES,
    AnalysisCancelled,
    DetailRequest,
    Loaded,
    load_file,
    no_speech_reason,
    shown,
    status_line,
)
from serlive.gui.file_playback import PlaybackMixin
from serlive.gui.file_selection import SelectionMixin
from serlive.gui.file_zoom import ZoomDetailMixin
from serlive.gui.plots import (
    STRIP_AXIS_WIDTH,
    EmotionBars,
    EmotionLegend,
    EmotionStrip,
    TimeAxis,
    emotion_pen,
    follow_labels,
    plain_menu,
    plural,
    set_mel_axis,
    spectrogram_item,
    whole_edge_ticks,
)
from serlive.labelsets import LabelSet


class _Signals(QObject):
    progress = Signal(int, float, str)  # generation, fraction, phase
    finished = Signal(int, object)  # generation, Loaded
    failed = Signal(int, str)  # generation, message
    detail = Signal(int, int, int, object)  # generation, first frame, end frame, (bands, columns) image
    wave_detail = Signal(int, object, object)  # generation, times, values of the whole waveform curve


class FileView(PlaybackMixin, SelectionMixin, ZoomDetailMixin, QWidget):
    """The file tab.  ``model`` is an EmotionModel used only by this view's worker thread."""

    analysis_done = Signal(object)  #: the :class:`Analysis` of the file just shown
    cleared = Signal()  #: the view no longer shows a file (another is being opened)
    #: one line for the main window's status bar while this tab is shown
    status_changed = Signal(str)
    selection_changed = Signal()  #: a range was selected or the selection cleared

    def __init__(self, model: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.labels: tuple[str, ...] = tuple(model.labels)
        self.loaded: Loaded | None = None
        self._drawing: Loaded | None = None  #: the file whose plots are being drawn, then shown
        self.labelset: LabelSet | None = None  #: the labels shown (View ▸ Emotions shown); None: all
        #: split each file into utterances by this rule, fed by its analysis (set by the utterances panel)
        self.segment_config: SegmentConfig | None = None
        self._opening = Path()  #: the file being opened (named in the title when it fails)
        self._pending = False
        self._generation = 0
        self._cancel = threading.Event()
        #: held while a thread runs ``model``'s interpreter: this view's worker, the utterances panel's
        self.model_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._signals = _Signals()
        self._signals.progress.connect(self._on_progress)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._signals.detail.connect(self._on_detail)
        self._signals.wave_detail.connect(self._on_wave_detail)
        self._wave_detailed = False  #: the waveform curve holds a zoomed-in stretch's samples
        self._player: Any = None
        self._play_pos = 0
        # zoomed-in spectrogram detail: one worker thread, only the newest request is rendered
        self._detail_cv = threading.Condition()
        self._detail_req: DetailRequest | None = None
        self._detail_thread: threading.Thread | None = None
        self._detail_stop = False
        self._build()
        self._install_selection()
        self._install_wave_autoscale()
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(120)  # after the wheel or drag settles
        self._zoom_timer.timeout.connect(self.request_detail)
        self.wave_plot.sigXRangeChanged.connect(lambda *_: self._zoom_timer.start())
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(33)
        self.play_timer.timeout.connect(self._follow_playback)
        self._steps: list[Any] = []  #: what is left of emptying or drawing the plots (:meth:`_run_steps`)
        self._step_timer = QTimer(self)  # the view's own: a single shot could outlive a closed view
        self._step_timer.setSingleShot(True)
        self._step_timer.setInterval(5)
        self._step_timer.timeout.connect(self._next_step)
        self.clear()  # the empty view as opening a file leaves it, so the first open redraws no axis

    # --- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel("Open an audio file: File ▸ Open (Ctrl+O), or drop it on the window.")
        self.title.setWordWrap(True)
        top.addWidget(self.title, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        # never narrower than its longest text: "spectrogram 10%" wrapped onto two lines in a bar
        # squeezed by a long title (issue 20, item 14)
        widest = max(self.progress.fontMetrics().horizontalAdvance(f"{p} 100%") for p in PHASES)
        self.progress.setMinimumWidth(min(260, widest + 32))
        self.progress.hide()
        top.addWidget(self.progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        top.addWidget(self.cancel_button)
        self.play_button = QPushButton("Play")
        self.play_button.setEnabled(False)
        self.play_button.setToolTip(
            "Play the selection, or from the cursor where there is none (Space); "
            "click a plot to move the cursor, Shift-drag to select"
        )
        self.play_button.clicked.connect(self.toggle_playback)
        top.addWidget(self.play_button)
        root.addLayout(top)
        # Space on an action, not on the button: setText("Stop") replaced the button's shortcut with the
        # new text's mnemonic, so Space played once and then did nothing (issue 20, item 7).  The Live
        # tab's Start/Stop has Space too; an action of a hidden tab does not fire, so only one does.
        self.play_action = QAction("Play/Stop", self)
        self.play_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.play_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.play_action.triggered.connect(lambda: self.play_button.isEnabled() and self.toggle_playback())
        self.addAction(self.play_action)

        body = QSplitter(Qt.Orientation.Horizontal)
        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self.wave_plot = pg.PlotWidget(axisItems={"bottom": TimeAxis()})
        self.wave_plot.setLabel("left", "waveform")
        self.wave_plot.setYRange(-1, 1, padding=0)
        self.wave_curve = self.wave_plot.plot(pen=pg.mkPen("#8ce99a", width=1))
        self.spec_plot = pg.PlotWidget(axisItems={"bottom": TimeAxis()})
        set_mel_axis(self.spec_plot, self.model.meta.features)
        self.spec_item = spectrogram_item(self.model.meta.features)
        self.spec_plot.addItem(self.spec_item)
        self.detail_item = spectrogram_item(
            self.model.meta.features
        )  # the visible stretch at full detail, over spec_item
        self.detail_item.setZValue(1)
        self.detail_item.hide()
        self.spec_plot.addItem(self.detail_item)
        self.time_plot = pg.PlotWidget(axisItems={"bottom": TimeAxis()})
        self.time_plot.setLabel("left", "probability")
        self.time_plot.getAxis("bottom").setLabel("time (s)")
        self.time_plot.setYRange(0, 1, padding=0.02)
        # pens set per file in _draw_steps (2 px for short files, 1 px for long ones)
        self.time_curves = [
            self.time_plot.plot(pen=emotion_pen(lb), name=lb, connect="finite") for lb in self.labels
        ]
        # the top emotion of each window above the curves: readable where eight curves over 20 minutes are not
        self.strip = EmotionStrip(self.labels)
        self.strip.setMouseEnabled(True, False)
        self.strip.setXLink(self.wave_plot)
        self.time_plot.getAxis("left").setWidth(STRIP_AXIS_WIDTH)  # the strip's columns over the curves' x
        self.cursors = []
        n_mels = int(self.model.meta.features.n_mels)
        y_ranges = ((-1.0, 1.0), (0.0, float(n_mels)), (-0.02, 1.02))
        for p, (lo, hi) in zip((self.wave_plot, self.spec_plot, self.time_plot), y_ranges, strict=True):
            p.setMouseEnabled(True, False)  # zoom and pan in time only
            p.getAxis("left").enableAutoSIPrefix(False)
            p.getAxis("left").setWidth(STRIP_AXIS_WIDTH)  # one left edge: the plots' times stand in columns
            whole_edge_ticks(p)
            # Fixed y-ranges: pyqtgraph's "View All" and auto-range would fit them to the data (a
            # waveform's +-1.1, kept for the files after), so they are limits, not just a start.
            p.setLimits(yMin=lo, yMax=hi, minYRange=hi - lo, maxYRange=hi - lo)
            p.setYRange(lo, hi, padding=0)
            p.hideButtons()  # the corner "A" (auto-range): View ▸ Zoom to fit (Ctrl+0) does it
            # the right-click menu's "View All" shows the whole file, as Zoom to fit does (it padded the
            # data's bounds: -3…69 s for a 66 s file)
            menu = p.getPlotItem().vb.menu
            menu.viewAll.triggered.disconnect()
            menu.viewAll.triggered.connect(self.zoom_to_fit)
            plain_menu(p, view_all=True)  # not pyqtgraph's axis, mouse-mode, plot-option and export items
            # draw only what is in view, at most ~2 points per pixel: an hour's curves paint in ms
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
            if p is not self.wave_plot:
                p.setXLink(self.wave_plot)
            cur = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#ffffff", width=1))
            cur.setZValue(10)
            p.addItem(cur)
            self.cursors.append(cur)
            p.scene().sigMouseClicked.connect(lambda ev, plot=p: self._clicked(plot, ev))
            if p is self.time_plot:
                pl.addWidget(self.strip)
                # the cursor crosses the emotion strip too (issue 28, item 8)
                strip_cur = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#ffffff", width=1))
                strip_cur.setZValue(10)
                self.strip.addItem(strip_cur)
                self.cursors.append(strip_cur)
            pl.addWidget(p)
        self.legend = EmotionLegend(self.labels, self.time_curves)
        pl.addWidget(self.legend)
        body.addWidget(plots)

        side = QWidget()
        sl = QVBoxLayout(side)
        self.summary_label = QLabel("—")
        font = self.summary_label.font()
        font.setPointSize(24)
        font.setBold(True)
        self.summary_label.setFont(font)
        self.summary_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sl.addWidget(self.summary_label)
        self.summary_detail = QLabel("")
        self.summary_detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.summary_detail.setWordWrap(True)
        sl.addWidget(self.summary_detail)
        self.selection_label = QLabel("")  # the selection's mean, beside the file's (shift-drag selects)
        self.selection_label.setTextFormat(Qt.TextFormat.PlainText)
        self.selection_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.selection_label.setWordWrap(True)
        sl.addWidget(self.selection_label)
        self.bars = EmotionBars(self.labels)
        sl.addWidget(self.bars, 1)
        self.prob_text = QLabel("")
        self.prob_text.setTextFormat(Qt.TextFormat.RichText)
        sl.addWidget(self.prob_text)
        body.addWidget(side)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 1)
        root.addWidget(body, 1)

    # --- loading -----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True from :meth:`open_file` until the result is drawn or the failure reported."""
        return self._pending

    def open_file(self, path: str | Path) -> None:
        """Start loading and analysing ``path`` in the background (cancels a running one)."""
        self.cancel()
        self.stop_playback()
        self._generation += 1
        self.clear(staged=True)
        self._cancel = threading.Event()
        # absolute: the status bar showed the command line's relative path (issue 20, item 10)
        gen, cancel, p = self._generation, self._cancel, Path(path).absolute()
        self._pending = True
        self._opening = p
        self.title.setText(f"Analysing {p.name}…")
        self.status_changed.emit(f"analysing {p}…")
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self._thread = threading.Thread(
            target=self._work,
            args=(gen, p, cancel, self.segment_config),
            name="serlive-file-analysis",
            daemon=True,
        )
        self._thread.start()

    def clear(self, staged: bool = False) -> None:
        """Show no file: plots, summary, Play and the cursor emptied, :attr:`loaded` None.

        Called when another file is opened, so that whatever happens to it (shown, failed to
        load, cancelled) the previous file's plots, summary, Play and CSV export never stand
        under the new title, as they did.  ``staged`` (opening a file): the plots are emptied one a
        turn of the event loop, as the result is drawn (all at once, their repaint took 35-50 ms).
        """
        self.loaded = self._drawing = None
        self._wave_detailed = False
        self.set_cursor(0.0)
        self._play_pos = 0
        self.clear_selection()
        self.play_button.setEnabled(False)
        self.summary_label.setText("—")
        self.summary_label.setStyleSheet("")
        self.summary_detail.setText("")
        self.prob_text.setText("")
        self._run_steps(self._clear_steps())  # (ends whatever was being drawn)
        if not staged:
            self._finish_steps()
        self.cleared.emit()

    def _clear_steps(self) -> list[Any]:
        """The plots emptied, one plot (one repaint) a step; the time axes reset last."""

        def wave() -> None:
            self.detail_item.hide()
            self.wave_curve.setData([], [])

        def timeline() -> None:
            for c in self.time_curves:
                c.setData([], [])
            self.strip.clear_windows()

        def axes() -> None:
            # the empty view has no file's time axis: the previous range and m:ss stayed (issue 28, item 3)
            for p in (self.wave_plot, self.spec_plot, self.time_plot, self.strip):
                p.setLimits(xMin=None, xMax=None, maxXRange=None, minXRange=None)
            self.wave_plot.setXRange(0, 1, padding=0)
            for p in (self.wave_plot, self.spec_plot, self.time_plot):
                p.getAxis("bottom").set_duration(0.0, show_label=p is self.time_plot)

        return [wave, self.spec_item.clear, timeline, lambda: self.bars.set_values(None), axes]

    def show_failure(self, path: str | Path, message: str) -> None:
        """Say that ``path`` could not be opened, with the view emptied and nothing else running.

        For a file that fails before any loading starts (the main window's "no such file"): the
        header, status line and axis named the file before it, whose error they still showed while
        the message box named this one (issue 28, item 3).  The box is shown here, once.
        """
        self.cancel()
        self.stop_playback()
        self._generation += 1
        self.clear()
        self._opening = Path(path).absolute()
        self._on_failed(self._generation, message)

    def cancel(self) -> None:
        """Cancel the running analysis (its late results are ignored)."""
        self._cancel.set()

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait for the worker thread (tests, closing); True when it has finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _work(self, gen: int, path: Path, cancel: threading.Event, segments: SegmentConfig | None) -> None:
        """Worker thread: load, spectrogram, analysis.  Touches no widget, only emits signals."""
        from serlive.audio.io import AudioLoadError

        sig = self._signals
        try:
            report = lambda frac, phase: sig.progress.emit(gen, frac, phase)  # noqa: E731
            with self.model_lock:
                loaded = load_file(path, self.model, report, cancel, segments)
            sig.finished.emit(gen, loaded)
        except AnalysisCancelled:
            sig.failed.emit(gen, "")
        except AudioLoadError as exc:
            sig.failed.emit(gen, str(exc))
        except MemoryError:
            sig.failed.emit(gen, f"{path}: too large to analyse in memory")
        except Exception as exc:  # a bug must not take the window down: say it and carry on
            sig.failed.emit(gen, f"{path}: analysis failed ({type(exc).__name__}: {exc})")

    def _on_progress(self, gen: int, frac: float, phase: str) -> None:
        if gen == self._generation:
            self.progress.setValue(int(1000 * frac))
            self.progress.setFormat(f"{phase} %p%")

    def _on_failed(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self._finish_steps()  # the box stands over an empty view, not over the previous file's plots
        self._pending = False
        self.progress.hide()
        self.cancel_button.hide()
        if message:
            self.title.setText(f"Could not open {self._opening.name}.")
            self.status_changed.emit(message)
            messages.show_error(self, "Cannot open file", message)
        else:
            self.title.setText(f"Analysis of {self._opening.name} cancelled.")
            self.status_changed.emit("analysis cancelled")

    def _on_finished(self, gen: int, loaded: Loaded) -> None:
        if gen != self._generation:
            return
        self._finish_steps()  # what is left of emptying the plots, before drawing in them
        self.progress.hide()
        self.cancel_button.hide()

        def done() -> None:
            self._pending = False
            self.loaded = loaded
            self.fit_wave_range()  # the visible audio's peak, now that there is a file
            self.status_changed.emit(status_line(loaded, self.model))
            self.play_button.setEnabled(True)
            self.analysis_done.emit(loaded.analysis)

        # drawn a plot at a time so no single frame carries all of the first paint
        self._drawing = loaded  # a label set chosen meanwhile redraws it too (set_labelset)
        self._run_steps([*self._draw_steps(loaded), done])

    # --- drawing -----------------------------------------------------------------------
    def _draw_steps(self, d: Loaded) -> list[Any]:
        """The result drawn in four steps, one plot each (each PlotWidget repaints on its own)."""
        dur = len(d.samples) / d.sample_rate

        def wave() -> None:
            # the view stays within the file: zooming out stops at all of it, panning at its ends
            span = max(dur, 1e-3)
            for p in (self.wave_plot, self.spec_plot, self.time_plot, self.strip):
                p.getPlotItem().vb.disableAutoRange()
                p.setLimits(xMin=0.0, xMax=span, maxXRange=span, minXRange=min(span, MIN_SPAN_S))
            self.wave_plot.setXRange(0, span, padding=0)
            for p in (self.wave_plot, self.spec_plot, self.time_plot):  # s, m:ss or h:mm:ss for this file
                p.getAxis("bottom").set_duration(dur, show_label=p is self.time_plot)
            self.wave_curve.setData(d.wave_t, d.wave_v)
            self.set_cursor(0.0)

        def spectrogram() -> None:
            spec = d.spectrogram
            self.spec_item.setImage(spec, autoLevels=False)
            self.spec_item.setRect(0, 0, dur, spec.shape[0])

        return [wave, spectrogram, lambda: self._draw_timeline(d), lambda: self._draw_summary(d)]

    def set_labelset(self, labelset: LabelSet | None) -> None:
        """Show ``labelset``'s emotions (View ▸ Emotions shown): curves, strip, summary and CSV, now.

        A view of the stored probabilities (:func:`file_model.shown`): the file is not analysed again.
        """
        self.labelset = None if labelset is None or labelset.is_all else labelset
        names = self.labels if self.labelset is None else self.labelset.names
        follow_labels(names, self.legend, self.bars, self.strip)
        if self._drawing is not None:  # the file on screen, or the one being drawn
            self._draw_timeline(self._drawing)
            self._draw_summary(self._drawing)

    def _draw_timeline(self, d: Loaded) -> None:
        """The curves and the strip of the labels shown (a label not shown: an empty curve)."""
        v = shown(d, self.labelset)
        # 1-pixel (cosmetic) pens for long files: Qt's raster engine draws them ~6x faster than
        # 2-pixel ones (an hour's 8 x 7195 points: ~4 ms a paint instead of ~27 ms)
        width = 2 if len(d.times) <= LONG_TIMELINE_POINTS else 1
        # a short file has one or a few windows: one point draws no line, so the plot looked empty
        # (issue 20, item 11); markers show them
        few = len(d.times) <= FEW_POINTS and bool(np.isfinite(d.probs).any())  # (no markers for NaN)
        for label, c in zip(self.labels, self.time_curves, strict=True):
            c.setPen(emotion_pen(label, width=width))
            if label not in v.labels:
                c.setData([], [])
                continue
            color = emotion_color(label)
            column = v.probs[:, v.labels.index(label)]
            c.setData(
                d.times, column, symbol="o" if few else None, symbolSize=7, symbolBrush=color, symbolPen=color
            )
        # one column per window, centred on the window like the curves' points, a hop wide
        step = float(self.model.meta.windows.for_files().hop_s)
        silent = np.array([w.silent for w in d.analysis.windows], bool)
        x0 = float(d.times[0]) - step / 2 if len(d.times) else 0.0
        self.strip.set_windows(x0, step, v.probs, silent)

    def _draw_summary(self, d: Loaded) -> None:
        """The whole file's label, confidence, bars and table over the labels shown."""
        a = shown(d, self.labelset).summary
        dur = len(d.samples) / d.sample_rate
        label = a.label if a.speech else "no speech"
        self.summary_label.setText(label)
        self.summary_label.setStyleSheet(f"color: {emotion_color(label) if a.speech else '#707070'}")
        windows = plural(len(a.windows), "window")
        self.summary_detail.setText(
            f"confidence {100 * a.confidence:.0f} %  ·  {windows}  ·  {dur:.1f} s"
            if a.speech
            else f"{no_speech_reason(a)}  ·  {dur:.1f} s"
        )
        if a.speech:
            self.bars.set_values(a.probabilities)
            self.prob_text.setText(self._prob_table(a.labels, a.probabilities))  # and the selection's
        else:
            # Without a speech window the analysis still averages all windows (so the numbers
            # exist), but showing that distribution under "no speech" contradicted the summary.
            self.bars.set_values(None)
            self.prob_text.setText("<i>no emotion distribution: no window has speech</i>")
        title = f"{d.path.name}  —  {dur:.1f} s"
        # a file cut short reads as a shorter whole one: the header says it is not (issue 28, item 4)
        self.title.setText(title if d.warning is None else f"{title}  —  ⚠ {d.warning}")
        self.title.setToolTip(d.warning or "")

    def _run_steps(self, steps: list[Any]) -> None:
        """Run the first step now and each other one a turn of the event loop later, after Qt painted.

        One chain at a time: a new one (another file opened) ends the one running.
        """
        self._steps = list(steps)
        self._next_step()

    def _next_step(self) -> None:
        if self._steps:
            self._steps.pop(0)()
        if self._steps:
            self._step_timer.start()

    def _finish_steps(self) -> None:
        steps, self._steps = self._steps, []
        for step in steps:
            step()

    def set_cursor(self, seconds: float) -> None:
        """Move the playback cursor in every lane: waveform, spectrogram, strip and curves."""
        for c in self.cursors:
            c.setValue(seconds)

    def _clicked(self, plot: pg.PlotWidget, ev: Any) -> None:
        if self.loaded is None or ev.button() != Qt.MouseButton.LeftButton:
            return
        vb = plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        self.seek(float(vb.mapSceneToView(ev.scenePos()).x()))

    def seek(self, seconds: float) -> None:
        """Put the cursor (and the playback position) at ``seconds``."""
        if self.loaded is None:
            return
        dur = len(self.loaded.samples) / self.loaded.sample_rate
        seconds = min(max(0.0, seconds), dur)
        self._play_pos = int(seconds * self.loaded.sample_rate)
        self.set_cursor(seconds)
        self.clear_selection()  # a plain click clears it, as in Audacity

    # --- export ------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> None:
        """One row per window: start, end, silent, top label, then each shown emotion's probability."""
        if self.loaded is None:
            raise ValueError("no file analysed yet")
        write_timeline_csv(self.loaded.analysis, path, self.labelset)

    def grab_view(self) -> Any:
        """The tab as on screen, without its buttons and progress bar (a QPixmap for File ▸ Export view).

        A Play button in an exported figure is noise; hidden with its space kept, so nothing moves.
        """
        controls = (self.play_button, self.cancel_button, self.progress)
        shown = [w for w in controls if w.isVisible()]
        for w in controls:
            policy = w.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            w.setSizePolicy(policy)
        for w in shown:
            w.hide()
        try:
            return self.grab()
        finally:
            for w in shown:
                w.show()

    def export_png(self, path: str | Path) -> bool:
        """The view as an image, as it is on screen (without the Play button)."""
        return bool(self.grab_view().save(str(path), "PNG"))

    def shutdown(self) -> None:
        """Cancel the worker and stop playback (window closing)."""
        self.cancel()
        self.stop_playback()
        with self._detail_cv:
            self._detail_stop = True
            self._detail_cv.notify()
        self.wait(2.0)
