"""Display arrays without Qt: waveform envelopes, averaged spectrogram columns, counted words.

Numpy only, so the Qt-free modules (``file_model``) and the worker threads use them without importing
pyqtgraph; :mod:`serlive.gui.plots` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable

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


class RollingEnvelope:
    """The min/max envelope of a stream's newest ``n_bins`` bins of ``per`` samples, kept up to date.

    Why: the live waveform's envelope was made again from all of its 10 s (160 k samples) at every
    30 fps tick, when about 530 samples were new.  Bins are aligned to the stream's absolute sample
    index (bin ``k`` holds samples ``[k * per, (k + 1) * per)``), so a complete bin never changes and
    each update reads only the samples since the last one; the newest, incomplete bin is made from
    its samples each time, so the curve reaches the newest sample.
    """

    def __init__(self, n_bins: int, per: int) -> None:
        self.n_bins, self.per = max(1, int(n_bins)), max(1, int(per))
        self.reset()

    def reset(self) -> None:
        """A new stream: nothing held."""
        self._lo = np.zeros(self.n_bins, np.float32)
        self._hi = np.zeros(self.n_bins, np.float32)
        self._next = 0  #: absolute index of the first bin not yet complete
        self._held = 0  #: complete bins held (the newest ones)

    def update(
        self, read: Callable[[int, int], NDArray[np.float32] | None], written: int, capacity: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        """``(x, values)``: 2 points per bin, ``x`` in samples relative to ``written`` (so <= 0).

        ``read(start, n)`` gives samples ``[start, start + n)`` of the stream, or None when they are
        gone (:meth:`serlive.audio.ring.RingBuffer.read`), for ``n`` up to ``capacity``; when they are
        gone the envelope starts again from the newest samples it can read.
        """
        per = self.per
        complete = written // per
        first = max(self._next, complete - self.n_bins, complete - (capacity - per) // per)
        if first > self._next:  # samples skipped: the bins held are not the ones before these
            self._held = 0
        if complete > first:
            data = read(first * per, (complete - first) * per)
            if data is None:  # overwritten while the view was away: what is left of the last n_bins
                self.reset()
                first = complete
                for n in (min(self.n_bins, capacity // per) // 2, self.n_bins // 8, 1):
                    data = read((complete - n) * per, n * per) if 0 < n <= complete else None
                    if data is not None:
                        first = complete - n
                        break
            if data is not None:
                blocks = data.reshape(complete - first, per)
                k = len(blocks)
                if k >= self.n_bins:
                    self._lo[:], self._hi[:] = blocks.min(axis=1), blocks.max(axis=1)
                else:
                    self._lo[:-k], self._hi[:-k] = self._lo[k:], self._hi[k:]
                    self._lo[-k:], self._hi[-k:] = blocks.min(axis=1), blocks.max(axis=1)
                self._held = min(self.n_bins, self._held + k)
            self._next = complete
        n = self._held
        tail = read(complete * per, written - complete * per) if written > complete * per else None
        extra = 0 if tail is None or len(tail) == 0 else 1
        vals = np.empty(2 * (n + extra), np.float32)
        vals[0 : 2 * n : 2] = self._lo[self.n_bins - n :]
        vals[1 : 2 * n : 2] = self._hi[self.n_bins - n :]
        centres = (np.arange(complete - n, complete, dtype=np.float64) * per + per / 2) - written
        if extra:
            assert tail is not None
            vals[-2], vals[-1] = tail.min(), tail.max()
            centres = np.append(centres, (complete * per - written) / 2)
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
