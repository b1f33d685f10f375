"""Plot building blocks shared by the live view and the file viewer (pyqtgraph)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from serlive.gui.arrays import downsample_columns, envelope, plural  # noqa: F401 (re-exported)
from serlive.gui.colors import COLORMAP, NO_SPEECH_COLOR, SPECTROGRAM_LEVELS, emotion_color

pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")

STRIP_ROWS = 3  #: image rows of the emotion strip (no speech: the middle one only)
#: left-axis width of the strip and the probability plot under it, so their time scales line up
STRIP_AXIS_WIDTH = 56
#: pixels above a plot's data area: half a tick label, so "1.0" at the top of a range is not cut
EDGE_MARGIN = 7


def format_time(seconds: float, spacing: float, clock: str = "s") -> str:
    """``seconds`` as a tick label: ``clock`` "s" (12.5), "m:ss" (2:05.5) or "h:mm:ss" (1:02:05).

    Decimals follow the tick ``spacing`` (0.02 s apart: two), so neighbouring ticks never read the
    same; the value is rounded before it is split, so 59.96 s at 0.5 s spacing reads 1:00.0.
    """
    decimals = max(0, -int(np.floor(np.log10(spacing) + 1e-9))) if spacing > 0 else 0
    v = round(abs(seconds), decimals)
    sign = "-" if seconds < 0 and v > 0 else ""
    if clock == "s":
        return f"{sign}{v:.{decimals}f}"
    width = 2 + (decimals + 1 if decimals else 0)
    m, s = divmod(v, 60.0)
    if clock == "m:ss":
        return f"{sign}{int(m)}:{s:0{width}.{decimals}f}"
    h, m = divmod(int(m), 60)
    return f"{sign}{h}:{m:02d}:{s:0{width}.{decimals}f}"


#: tick steps of a clock (m:ss, h:mm:ss) axis, in seconds
CLOCK_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
               10800, 21600, 43200, 86400)  # fmt: skip


class TimeAxis(pg.AxisItem):
    """A time axis in seconds, m:ss or h:mm:ss, never with an SI-prefixed unit.

    Why: pyqtgraph scales an axis with units by SI prefixes, so a 20-minute file read "time (ks)"
    under 0.2…1.0 and a 0.3 s file "time (ms)"; minutes and hours are what a user reads.  The
    format follows the file's length (:meth:`set_duration`), not the zoom, so it stays the same
    while zooming.  ``ago`` (the live plots, whose x is negative): "seconds ago", shown positive.
    """

    def __init__(self, orientation: str = "bottom", ago: bool = False, **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self.ago = ago
        self.clock = "s"

    def set_duration(self, seconds: float, show_label: bool = True) -> None:
        """Pick the format for a file of ``seconds`` (under a minute: s; under an hour: m:ss)."""
        clock = "s" if seconds < 60 else "m:ss" if seconds < 3600 else "h:mm:ss"
        label = f"time ({clock})" if show_label else self.labelText
        if (clock, label) == (self.clock, self.labelText) and (self.label.isVisible() or not show_label):
            return  # the same format: redrawing three axes' ticks cost a frame on opening a file
        self.clock = clock
        if show_label:
            self.setLabel(label)
        self.picture = None  # redraw the ticks in the new format
        self.update()

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        """Round clock steps (30 s, 1 min, 2 min, 5 min, ...) in m:ss and h:mm:ss (pyqtgraph's hook).

        pyqtgraph picks decimal steps, which in m:ss put ticks every 100 s: 1:40, 3:20, 5:00.
        """
        span = abs(maxVal - minVal)
        if self.clock == "s" or span <= 0 or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        most = max(2.0, size / 80.0)  # a label every 80 pixels or more
        major = next((s for s in CLOCK_STEPS if span / s <= most), CLOCK_STEPS[-1])
        minor = next((s for s in reversed(CLOCK_STEPS) if s < major and (major / s) % 1 == 0), major)
        return [(major, 0.0), (minor, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        """Tick labels in :attr:`clock`'s format (pyqtgraph's hook)."""
        return [format_time(-v if self.ago else v, spacing, self.clock) for v in values]


def spectrogram_levels(cfg: object = None) -> tuple[float, float]:
    """The fixed image levels for the frames of a model's front end (``cfg``: its FeatureConfig).

    The log-mel front end gives dB (SPECTROGRAM_LEVELS); Whisper's (``whisper_logmel``, the encoder
    models') gives log10 power, dB / 10, so the same levels / 10: on the dB levels its image was a
    flat orange.  The two put speech at the same place within the levels (tested).
    """
    lo, hi = SPECTROGRAM_LEVELS
    return (lo / 10, hi / 10) if getattr(cfg, "kind", "logmel") == "whisper_logmel" else (lo, hi)


def spectrogram_item(cfg: object = None) -> pg.ImageItem:
    """An image with the shared colormap and fixed levels (no auto-levels: they would pump)."""
    item = pg.ImageItem(axisOrder="row-major")
    item.setColorMap(pg.colormap.get(COLORMAP))
    item.setLevels(spectrogram_levels(cfg))
    return item


def emotion_pen(label: str, width: float = 2.0) -> pg.QtGui.QPen:
    """The pen of one emotion's curve."""
    return pg.mkPen(emotion_color(label), width=width)


class EmotionBars(pg.PlotWidget):
    """One horizontal bar per emotion, in the emotion colours, its full name beside it.

    Horizontal, because eight full names under vertical bars did not fit a 250-pixel panel (they
    were cut to neut/happ/angr/disg/surp and still ran together at 1000×650).
    """

    def __init__(self, labels: tuple[str, ...], parent: object = None) -> None:
        super().__init__(parent=parent)
        self.labels = labels
        self.bars = pg.BarGraphItem(x0=0, y=np.zeros(0), width=np.zeros(0), height=0.7)
        self.addItem(self.bars)
        self.getPlotItem().invertY(True)  # the first label at the top
        self.setXRange(0, 1, padding=0)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        plain_menu(self, view_all=False)
        self.hideAxis("bottom")  # the table beside it gives the numbers (its "1.0" tick was clipped)
        self.getAxis("left").setStyle(tickLength=0)
        self.set_labels(labels)
        self.setMinimumHeight(150)

    def set_labels(self, labels: tuple[str, ...]) -> None:
        """One bar per label of ``labels`` (View ▸ Emotions shown), each in its emotion's colour; all zero."""
        self.labels = tuple(labels)
        n = len(self.labels)
        brushes = [emotion_color(lb) for lb in self.labels]
        self.bars.setOpts(y=np.arange(n), width=np.zeros(n), brushes=brushes)
        self.setYRange(-0.6, n - 0.4, padding=0)
        self.getAxis("left").setTicks([[(i, lb) for i, lb in enumerate(self.labels)]])

    @property
    def values(self) -> NDArray[np.float64]:
        """The bar lengths shown (what :meth:`set_values` was given)."""
        return np.asarray(self.bars.opts["width"], np.float64)

    def set_values(self, probs: NDArray[np.floating] | None) -> None:
        """Show ``probs`` (None: all zero)."""
        w = np.zeros(len(self.labels)) if probs is None else np.asarray(probs, np.float64)
        self.bars.setOpts(width=w)


class EmotionLegend(QWidget):
    """A row of toggle buttons under a probability plot: colour, full name; a click shows or hides that curve.

    Why outside the plot: pyqtgraph's legend sits on the data and covered most of the curves in an
    800×500 window; as buttons it also lets a user thin eight curves out to the ones of interest.
    """

    def __init__(self, labels: tuple[str, ...], curves: list[pg.PlotDataItem], parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.buttons: list[QPushButton] = []
        self._items = list(zip(labels, curves, strict=True))
        for label, curve in zip(labels, curves, strict=True):
            b = QPushButton(label)
            b.setCheckable(True)
            b.setChecked(True)
            b.setFlat(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space stays Start/Stop and Play
            b.setToolTip(f"Show or hide the {label} curve")
            b.toggled.connect(lambda on, b=b, c=curve, lb=label: self._toggled(b, c, lb, on))
            self._toggled(b, curve, label, True)
            row.addWidget(b)
            self.buttons.append(b)
        row.addStretch(1)

    def show_only(self, labels: tuple[str, ...]) -> None:
        """Offer only the buttons and curves of ``labels`` (a label set's); each keeps its on/off state."""
        for (label, curve), button in zip(self._items, self.buttons, strict=True):
            button.setVisible(label in labels)
            curve.setVisible(label in labels and button.isChecked())

    @staticmethod
    def _toggled(button: QPushButton, curve: pg.PlotDataItem, label: str, on: bool) -> None:
        pix = QPixmap(12, 12)
        pix.fill(QColor(emotion_color(label) if on else "#00000000"))
        if not on:
            painter = QPainter(pix)
            painter.setPen(QColor(emotion_color(label)))
            painter.drawRect(0, 0, 11, 11)
            painter.end()
        button.setIcon(QIcon(pix))
        button.setStyleSheet("" if on else "color: gray;")
        curve.setVisible(on)


def follow_labels(
    names: tuple[str, ...], legend: EmotionLegend, bars: EmotionBars, strip: EmotionStrip
) -> None:
    """A view's legend, bars and strip over ``names`` (View ▸ Emotions shown); colours stay the emotions'."""
    legend.show_only(names)
    bars.set_labels(names)
    strip.set_labels(names)


def set_mel_axis(plot: pg.PlotWidget, cfg: object) -> None:
    """Label a spectrogram's rows in Hz: row ``i`` is mel band ``i`` (centre at mel point ``i + 1``)."""
    from serlive.features import hz_to_mel

    n = int(cfg.n_mels)  # type: ignore[attr-defined]
    lo, hi = float(hz_to_mel(cfg.fmin)), float(hz_to_mel(cfg.fmax))  # type: ignore[attr-defined]
    ticks = []
    # no 250 Hz tick: under 500 it ran into the 500 Hz one on a 150-pixel plot (a 1000x650 window)
    for f in (500, 1000, 2000, 4000, 8000):
        if cfg.fmin <= f <= cfg.fmax:  # type: ignore[attr-defined]
            pos = (float(hz_to_mel(f)) - lo) / (hi - lo) * (n + 1) - 1 + 0.5
            ticks.append((pos, f"{f // 1000}k" if f >= 1000 else str(f)))
    axis = plot.getAxis("left")
    axis.enableAutoSIPrefix(False)  # it read "frequency (Hz) (x0.001)" on the empty tab
    axis.setTicks([ticks])
    plot.setLabel("left", "frequency (Hz)")


def strip_image(
    probs: NDArray[np.floating], silent: NDArray[np.bool_], labels: tuple[str, ...]
) -> NDArray[np.uint8]:
    """The emotion strip's RGBA image, ``(STRIP_ROWS, windows, 4)``: one column per window.

    A speech window is its top emotion's colour, darker the less confident it is (a top
    probability of 1 / len(labels), a coin toss, is drawn at 30 %; 1.0 at full colour), over all
    rows; a "no speech" window is a thin grey line in the middle row only, so it never reads as a
    faint neutral (grey) band.  ``probs`` rows of silent windows may be NaN.
    """
    n, k = len(silent), len(labels)
    img = np.zeros((STRIP_ROWS, n, 4), np.uint8)
    if n == 0:
        return img
    table = np.array([QColor(emotion_color(lb)).getRgb()[:3] for lb in labels], np.float64)
    p = np.nan_to_num(np.asarray(probs, np.float64).reshape(n, k), nan=0.0)
    top = np.argmax(p, axis=1)
    conf = p[np.arange(n), top]
    floor = 1.0 / k
    intensity = 0.3 + 0.7 * np.clip((conf - floor) / max(1e-9, 1.0 - floor), 0.0, 1.0)
    rgb = (table[top] * intensity[:, None]).round().astype(np.uint8)
    speech = ~np.asarray(silent, bool)
    img[:, speech, :3] = rgb[speech]
    img[:, speech, 3] = 255
    grey = QColor(NO_SPEECH_COLOR).getRgb()[:3]
    img[STRIP_ROWS // 2, ~speech, :3] = grey
    img[STRIP_ROWS // 2, ~speech, 3] = 255
    return img


class EmotionStrip(pg.PlotWidget):
    """A thin band above a probability plot: one coloured column per window (see :func:`strip_image`).

    Why: eight overlapping curves over 20 minutes are unreadable; a strip of top emotions reads at a
    glance.  One ImageItem whose image is replaced (never an item per window): an hour's 2400
    windows are one texture, and the live strip costs one small image per decision, not per frame.
    """

    def __init__(self, labels: tuple[str, ...], ago: bool = False, parent: object = None) -> None:
        super().__init__(parent=parent, axisItems={"bottom": TimeAxis(ago=ago)})
        self.labels = labels
        self.item = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.item)
        self.hideAxis("bottom")
        self.setYRange(0, STRIP_ROWS, padding=0)
        self.setLimits(yMin=0, yMax=STRIP_ROWS)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        plain_menu(self, view_all=False)
        ax = self.getAxis("left")
        ax.setTicks([[(STRIP_ROWS / 2, "top")]])
        ax.setStyle(tickLength=0)
        ax.setWidth(STRIP_AXIS_WIDTH)
        self.setFixedHeight(26)
        self.setToolTip("The top emotion of each window (darker: less confident; a grey line: no speech)")
        self.image: NDArray[np.uint8] = strip_image(np.zeros((0, len(labels))), np.zeros(0, bool), labels)

    def set_labels(self, labels: tuple[str, ...]) -> None:
        """The labels of the probabilities :meth:`set_windows` will get (a label set's); shows nothing."""
        self.labels = tuple(labels)
        self.clear_windows()

    def set_windows(
        self, x0: float, step: float, probs: NDArray[np.floating], silent: NDArray[np.bool_]
    ) -> None:
        """Show one column per window, the first from ``x0`` seconds, each ``step`` seconds wide."""
        self.image = strip_image(probs, silent, self.labels)
        if self.image.shape[1] == 0:
            self.item.clear()
            return
        self.item.setImage(self.image, autoLevels=False)
        self.item.setRect(x0, 0, step * self.image.shape[1], STRIP_ROWS)

    def clear_windows(self) -> None:
        """Show nothing (a new file or run)."""
        self.set_windows(0.0, 1.0, np.zeros((0, len(self.labels))), np.zeros(0, bool))


def plain_menu(plot: pg.PlotWidget, view_all: bool) -> None:
    """Keep only what a user of the app needs in ``plot``'s right-click menu.

    pyqtgraph's own menu offers "X axis" / "Y axis" range and link settings, "Mouse Mode", "Plot Options"
    (FFT, log scale, downsampling, grid, points...) and an "Export..." dialog of its own: raw tools that
    put a plot into states the app does not expect (a log-scale waveform, an unlinked axis) and duplicate
    File ▸ Export.  ``view_all``: keep "View All" (the file viewer's, which shows the whole file);
    otherwise no menu at all (the live plots cannot be zoomed).
    """
    item = plot.getPlotItem()
    item.setMenuEnabled(False, enableViewBoxMenu=None)  # "Plot Options"
    plot.scene().contextMenu = []  # the scene's "Export..."
    vb = item.vb
    if not view_all:
        vb.setMenuEnabled(False)
        return
    for action in vb.menu.actions():
        action.setVisible(action is vb.menu.viewAll)


def whole_edge_ticks(plot: pg.PlotWidget) -> None:
    """Let the left axis's labels at the ends of a fixed range ("1.0", "-1.0") show whole.

    pyqtgraph hides a label that reaches past its axis (the waveform's "1.0" was missing) or, when
    allowed to overflow, the widget's edge cut it in half; a small top margin makes room for it.
    """
    plot.getAxis("left").setStyle(hideOverlappingLabels=False)
    layout = plot.getPlotItem().layout
    left, _top, right, bottom = layout.getContentsMargins()
    layout.setContentsMargins(left, EDGE_MARGIN, right, bottom)


class LevelMeter(QWidget):
    """The input level in dBFS as a bar with its value written on it.

    Why not a QProgressBar: its ``setValue`` repaints synchronously whenever
    the shown text changes, which at 30 updates a second cost 0.7 ms each
    (2 % of a core, measured with ``bench/bench_gui.py`` under cProfile).
    ``update()`` here lets Qt paint it with the rest of the frame.
    """

    def __init__(self, minimum: int = -60, maximum: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._min, self._max, self._value = minimum, maximum, minimum
        self.setMinimumHeight(self.fontMetrics().height() + 8)
        self.setToolTip("Peak level of the newest audio")

    def minimum(self) -> int:
        """The bottom of the scale (dBFS)."""
        return self._min

    def value(self) -> int:
        """The level shown (dBFS)."""
        return self._value

    def setValue(self, value: int) -> None:
        """Show ``value`` (clamped to the scale); repaints with the next frame, only when it changed."""
        value = max(self._min, min(self._max, int(value)))
        if value != self._value:
            self._value = value
            self.update()

    def paintEvent(self, _event: object) -> None:
        """Frame, bar, and the value in the middle."""
        p = QPainter(self)
        r = self.rect().adjusted(0, 0, -1, -1)
        p.setPen(self.palette().mid().color())
        p.setBrush(self.palette().base())
        p.drawRect(r)
        frac = (self._value - self._min) / max(1, self._max - self._min)
        if frac > 0:
            bar = r.adjusted(1, 1, 0, 0)
            bar.setWidth(round(frac * (r.width() - 1)))
            p.fillRect(bar, QColor("#4caf50"))
        p.setPen(self.palette().text().color())
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, f"{self._value} dBFS")
        p.end()
