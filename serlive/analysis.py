"""File analysis: samples → windows → probabilities → timeline and summary.

Shared by ``serlive predict``, ``serlive evaluate`` and the file viewer.  The
raw frames of the whole signal are computed once and each window takes its
slice of them (window starts are whole multiples of the frame hop), so
overlapping windows cost no repeated FFTs and give exactly the frames the live
engine computes incrementally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.audio.io import load_audio
from serlive.config import WindowConfig
from serlive.features import frame_rms_dbfs
from serlive.model import EmotionModel
from serlive.vad import SpeechDetector, default_detector, speech_in_signal, vad_enabled
from serlive.windows import take_window, window_starts


@dataclass
class WindowResult:
    """One analysed window."""

    start_s: float
    end_s: float
    probabilities: NDArray[np.float32]
    silent: bool


@dataclass
class Analysis:
    """A whole file's result: per-window timeline and an aggregate."""

    duration_s: float
    labels: tuple[str, ...]
    windows: list[WindowResult] = field(default_factory=list)
    probabilities: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    speech: bool = True

    @property
    def label(self) -> str:
        """Most probable label of the aggregate."""
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        """Aggregate probability of :attr:`label`."""
        return float(np.max(self.probabilities))


def is_silent(rms_db: NDArray[np.float32], threshold_dbfs: float) -> bool:
    """A window is silent when even its loudest 20 ms frame is below the threshold.

    The cheap first step of speech detection: it costs nothing, so the
    voice-activity detector (:mod:`serlive.vad`) runs only on windows that pass
    it.  On its own it let through every loud tone, noise and chord.
    """
    return len(rms_db) == 0 or float(rms_db.max()) < threshold_dbfs


def analyse_signal(
    y: NDArray[np.float32],
    model: EmotionModel,
    windows: WindowConfig | None = None,
    batch: int = 32,
    progress: Callable[[float], bool | None] | None = None,
    segment_windows: int = 240,
    detector: SpeechDetector | None = None,
) -> Analysis:
    """Analyse mono float32 samples at the model's rate.

    The signal is processed in segments of ``segment_windows`` windows (2
    minutes at the default hop): each segment's frames are computed once and
    shared by its overlapping windows, memory stays bounded for hour-long
    files, and progress and cancel work from the first segment on.  Segments
    start at window starts (multiples of the frame hop), so every window sees
    exactly the frames a whole-file computation would give it.

    A window is ``silent`` ("no speech") when it fails the level gate
    (:func:`is_silent`) or, past it, the voice-activity detector
    (:func:`serlive.vad.speech_windows`, rule and parameters in ``windows``);
    ``detector`` defaults to the process's shared one.  The live engine applies
    the same rule to the same samples, so both flag the same windows.

    ``progress(fraction)`` is called after each batch; returning ``True``
    cancels (the partial analysis is returned).
    """
    meta = model.meta
    sr = meta.features.sample_rate
    wcfg = windows or meta.windows.for_files()
    ext = model.extractor
    win = wcfg.window_samples(sr)
    hop = wcfg.hop_samples(sr)
    fhop = meta.features.hop_length
    if hop % fhop:
        raise ValueError(f"window hop {hop} is not a multiple of the frame hop {fhop}")
    starts = window_starts(len(y), win, hop)
    n_win_frames = ext.n_frames(win)
    result = Analysis(duration_s=len(y) / sr, labels=model.labels)
    if not starts:
        result.probabilities = np.full(len(model.labels), 1 / len(model.labels), np.float32)
        result.speech = False
        return result
    if vad_enabled(wcfg) and detector is None:
        detector = default_detector()
    done = 0
    cancelled = False
    for g in range(0, len(starts), max(1, segment_windows)):
        group = starts[g : g + max(1, segment_windows)]
        seg = take_window(y, group[0], group[-1] - group[0] + win)  # pads a short clip
        raw = ext.raw_frames(seg)
        rms = frame_rms_dbfs(seg, meta.features)
        for b0 in range(0, len(group), batch):
            chunk = group[b0 : b0 + batch]
            xs, loud = [], []
            for s in chunk:
                f0 = (s - group[0]) // fhop
                xs.append(ext.window_input(raw[f0 : f0 + n_win_frames]))
                loud.append(not is_silent(rms[f0 : f0 + n_win_frames], wcfg.silence_dbfs))
            offsets = [s - group[0] for s in chunk]
            silent = ~speech_in_signal(seg, offsets, np.array(loud), win, wcfg, detector)
            for s, p, sil in zip(chunk, model.predict(np.stack(xs)), silent.tolist(), strict=True):
                result.windows.append(WindowResult(s / sr, min(s + win, len(y)) / sr, p, sil))
            done += len(chunk)
            if progress is not None and progress(min(1.0, done / len(starts))):
                cancelled = True
                break
        if cancelled:
            break
    voiced = [w.probabilities for w in result.windows if not w.silent]
    result.speech = bool(voiced)
    pool = voiced or [w.probabilities for w in result.windows]
    result.probabilities = np.mean(pool, axis=0).astype(np.float32)
    return result


def analyse_file(path: str | Path, model: EmotionModel, **kwargs) -> Analysis:
    """Load ``path`` (any readable format) and analyse it; raises AudioLoadError."""
    y = load_audio(path, model.meta.features.sample_rate)
    return analyse_signal(y, model, **kwargs)
