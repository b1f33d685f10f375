"""Display arrays without Qt: waveform envelopes, averaged spectrogram columns, counted words.

Numpy only, so the Qt-free modules (``file_model``) and the worker threads use them without importing
pyqtgraph; :mod:`serlive.gui.plots` re-exports them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


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


def plural(n: int, word: str) -> str:
    """``1 window``, ``2 windows``, ``0 windows``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
