"""Cutting a signal into fixed model windows.

One definition used by file analysis, the live engine and training, so a
window starting at sample ``s`` is the same window everywhere.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def window_starts(n_samples: int, window: int, hop: int, to_end: int = 0) -> list[int]:
    """Start samples of the windows of a signal.

    A signal shorter than one window gets one window at 0 (padded by
    :func:`take_window`).  Longer signals get every full window at multiples of
    ``hop``, as the live engine emits a window every time ``hop`` new samples
    complete one.  ``to_end`` > 0 adds a last window ending within ``to_end``
    samples of the signal's end (its start a multiple of ``to_end``: the frame
    hop) where the hops leave a tail: file analysis, which otherwise never
    looked at the last 0.3-2 s of a file (a 4.0 s file had one window, 0-3 s).
    Training keeps the hop grid alone (its windows are examples, not a cover).
    """
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    if n_samples <= window:
        return [0] if n_samples > 0 else []
    starts = list(range(0, n_samples - window + 1, hop))
    if to_end > 0:
        last = (n_samples - window) // to_end * to_end
        if last > starts[-1]:
            starts.append(last)
    return starts


def take_window(y: NDArray[np.float32], start: int, window: int) -> NDArray[np.float32]:
    """Samples ``[start, start+window)``, zero-padded at the end when short."""
    seg = y[start : start + window]
    if len(seg) == window:
        return seg
    out = np.zeros(window, dtype=np.float32)
    out[: len(seg)] = seg
    return out
