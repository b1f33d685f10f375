"""Cutting a signal into fixed model windows.

One definition used by file analysis, the live engine and training, so a
window starting at sample ``s`` is the same window everywhere.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start samples of the windows of a signal.

    A signal shorter than one window gets one window at 0 (padded by
    :func:`take_window`).  Longer signals get every full window at multiples of
    ``hop``; a tail shorter than ``hop`` is not analysed on its own, exactly as
    in the live engine, which emits a window every time ``hop`` new samples
    complete one.
    """
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    if n_samples <= window:
        return [0] if n_samples > 0 else []
    return list(range(0, n_samples - window + 1, hop))


def take_window(y: NDArray[np.float32], start: int, window: int) -> NDArray[np.float32]:
    """Samples ``[start, start+window)``, zero-padded at the end when short."""
    seg = y[start : start + window]
    if len(seg) == window:
        return seg
    out = np.zeros(window, dtype=np.float32)
    out[: len(seg)] = seg
    return out
