"""Plot building blocks shared by the live view and the file viewer (pyqtgraph)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray

from serlive.gui.colors import COLORMAP, SPECTROGRAM_LEVELS, emotion_color

pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")


def envelope(y: NDArray[np.float32], n_bins: int) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
    """Min/max envelope of ``y`` in ``n_bins`` bins as ``(x_index, values)`` of 2 points per bin.

    Why: drawing every sample of an hour (57 M points) or even of 5 s live
    (80 k points at 30 fps) costs far more than a frame; a min/max pair per
    pixel column looks identical and keeps clipping peaks visible.

    Bins are ``ceil(n / n_bins)`` samples long and the last one takes what is left, so every
    sample is in a bin (whole bins of ``n // n_bins`` left out up to ``n_bins - 1`` samples:
    a 3.65 s clip's waveform ended at 3.5 s); at most ``n_bins`` bins.
    """
    n = len(y)
    if n <= 2 * n_bins:
        return np.arange(n, dtype=np.float64), np.asarray(y, np.float32)
    per = -(-n // n_bins)
    bins = -(-n // per)
    m = (bins - 1) * per  # the samples of the whole bins; the last bin has n - m of them
    vals = np.empty(2 * bins, np.float32)
    blocks = y[:m].reshape(bins - 1, per)
    vals[0:-2:2] = blocks.min(axis=1)
    vals[1:-2:2] = blocks.max(axis=1)
    vals[-2], vals[-1] = y[m:].min(), y[m:].max()
    centres = np.arange(bins, dtype=np.float64) * per + per / 2
    centres[-1] = (m + n) / 2
    return np.repeat(centres, 2), vals


def downsample_columns(spec: NDArray[np.float32], max_cols: int) -> NDArray[np.float32]:
    """Average groups of frames so an image has at most ``max_cols`` time columns (long files)."""
    n = spec.shape[0]
    if n <= max_cols:
        return spec
    per = int(np.ceil(n / max_cols))
    m = (n // per) * per
    return spec[:m].reshape(n // per, per, spec.shape[1]).mean(axis=1).astype(np.float32)


def spectrogram_item() -> pg.ImageItem:
    """An image with the shared colormap and fixed levels (no auto-levels: they would pump)."""
    item = pg.ImageItem(axisOrder="row-major")
    item.setColorMap(pg.colormap.get(COLORMAP))
    item.setLevels(SPECTROGRAM_LEVELS)
    return item


def emotion_pen(label: str, width: float = 2.0) -> pg.QtGui.QPen:
    """The pen of one emotion's curve."""
    return pg.mkPen(emotion_color(label), width=width)


class EmotionBars(pg.PlotWidget):
    """Eight vertical bars, one per emotion, in the emotion colours."""

    def __init__(self, labels: tuple[str, ...], parent: object = None) -> None:
        super().__init__(parent=parent)
        self.labels = labels
        x = np.arange(len(labels))
        self.bars = pg.BarGraphItem(
            x=x, height=np.zeros(len(labels)), width=0.7, brushes=[emotion_color(lb) for lb in labels]
        )
        self.addItem(self.bars)
        self.setYRange(0, 1, padding=0)
        self.setXRange(-0.6, len(labels) - 0.4, padding=0)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        ax = self.getAxis("bottom")
        ax.setTicks([[(i, lb[:4]) for i, lb in enumerate(labels)]])
        self.setMinimumHeight(120)

    def set_values(self, probs: NDArray[np.floating] | None) -> None:
        """Show ``probs`` (None: all zero)."""
        h = np.zeros(len(self.labels)) if probs is None else np.asarray(probs, np.float64)
        self.bars.setOpts(height=h)


def set_mel_axis(plot: pg.PlotWidget, cfg: object) -> None:
    """Label a spectrogram's rows in Hz: row ``i`` is mel band ``i`` (centre at mel point ``i + 1``)."""
    from serlive.features import hz_to_mel

    n = int(cfg.n_mels)  # type: ignore[attr-defined]
    lo, hi = float(hz_to_mel(cfg.fmin)), float(hz_to_mel(cfg.fmax))  # type: ignore[attr-defined]
    ticks = []
    for f in (250, 500, 1000, 2000, 4000, 8000):
        if cfg.fmin <= f <= cfg.fmax:  # type: ignore[attr-defined]
            pos = (float(hz_to_mel(f)) - lo) / (hi - lo) * (n + 1) - 1 + 0.5
            ticks.append((pos, f"{f // 1000}k" if f >= 1000 else str(f)))
    plot.getAxis("left").setTicks([ticks])
    plot.setLabel("left", "frequency (Hz)")
