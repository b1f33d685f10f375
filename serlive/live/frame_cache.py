"""Raw frames of a live stream, computed once each and kept while windows need them.

Split from ``serlive/live/engine.py`` (issue 20, the house); the engine's worker is its only user.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from serlive.config import FeatureConfig
from serlive.features import FeatureExtractor, frame_rms_dbfs

FloatArray = NDArray[np.float32]

#: Above this ``rows x filters x bins`` OpenBLAS's sgemm takes its regular kernel on the CPUs seen
#: (about 4e5 on AVX-512 here); the engine stays above it so its frames match the file path's.
_BLAS_SMALL_MNK = 1_000_000


def min_frame_batch(cfg: FeatureConfig) -> int:
    """Fewest frames :class:`_FrameCache` computes per call for this feature config."""
    narrowest = min(cfg.n_mels, cfg.n_chroma) if cfg.kind == "frame_vector" else cfg.n_mels
    rows = math.ceil(_BLAS_SMALL_MNK / (narrowest * (cfg.n_fft // 2 + 1))) + 1
    return -(-rows // 16) * 16


class FrameCache:
    """Raw frames and frame RMS of a contiguous run of frame indices ``[base, base+count)``."""

    def __init__(self, ext: FeatureExtractor, n_window_frames: int) -> None:
        self.ext = ext
        self.cfg = ext.cfg
        self.min_batch = min_frame_batch(ext.cfg)
        cap = n_window_frames + self.min_batch
        self.raw = np.zeros((cap, ext.raw_dim), dtype=np.float32)
        self.rms = np.zeros(cap, dtype=np.float32)
        self.base = 0
        self.count = 0

    @property
    def end(self) -> int:
        return self.base + self.count

    def ensure(self, f_lo: int, f_hi: int, read: Callable[[int, int], FloatArray | None]) -> bool:
        """Make frames ``[f_lo, f_hi)`` available; False when their samples are gone."""
        if self.base <= f_lo and f_hi <= self.end:
            return True
        contiguous = self.base <= f_lo <= self.end
        new_lo = self.end if contiguous else f_lo
        b_lo = min(new_lo, f_hi - self.min_batch)  # negative: zero-pad before the stream
        hop, n_fft = self.cfg.hop_length, self.cfg.n_fft
        first = max(0, b_lo)
        samples = read(first * hop, (f_hi - 1 - first) * hop + n_fft)
        if samples is None:
            self.base, self.count = f_hi, 0
            return False
        if b_lo < 0:
            samples = np.concatenate([np.zeros(-b_lo * hop, np.float32), samples])
        raw = self.ext.raw_frames(samples)[new_lo - b_lo :]
        rms = frame_rms_dbfs(samples, self.cfg)[new_lo - b_lo :]
        if not contiguous:
            self.base, self.count = new_lo, 0
        k = len(raw)
        if self.count + k > len(self.raw):  # drop frames older than this window
            drop = f_lo - self.base
            keep = self.count - drop
            self.raw[:keep] = self.raw[drop : self.count]
            self.rms[:keep] = self.rms[drop : self.count]
            self.base, self.count = f_lo, keep
        self.raw[self.count : self.count + k] = raw
        self.rms[self.count : self.count + k] = rms
        self.count += k
        return True

    def window(self, f_lo: int, f_hi: int) -> tuple[FloatArray, FloatArray]:
        i = f_lo - self.base
        return self.raw[i : i + f_hi - f_lo], self.rms[i : i + f_hi - f_lo]

    def lowest_needed_sample(self) -> int:
        """No future :meth:`ensure` reads below this sample index (for ring release)."""
        return max(0, self.end - self.min_batch) * self.cfg.hop_length
