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

from serlive.adaptation import SessionStats
from serlive.audio.io import load_audio
from serlive.config import WindowConfig
from serlive.features import FeatureExtractor, frame_rms_dbfs
from serlive.model import EmotionModel
from serlive.vad import SpeechDetector, default_detector, new_speech_s, speech_chunks_in_signal, vad_enabled
from serlive.windows import take_window, window_starts


@dataclass
class WindowResult:
    """One analysed window."""

    start_s: float
    end_s: float
    probabilities: NDArray[np.float32]
    silent: bool
    #: the model's pooled embedding, kept only when asked (``keep_embeddings``) for session adaptation
    embedding: NDArray[np.float32] | None = None
    #: seconds of speech in the samples this window added to the previous one's (session adaptation
    #: counts these; None without the VAD's chunks: the window's new samples, when voiced)
    new_speech_s: float | None = None
    #: its weight in the file's mean: 1, and for the last window, aligned to the file's end, the share
    #: of a hop it adds (it overlaps the window before it; counting it whole would count that twice)
    weight: float = 1.0
    #: below the level gate (too quiet to judge); a silent window that is not quiet had no voice in it
    quiet: bool = False


@dataclass
class Analysis:
    """A whole file's result: per-window timeline and an aggregate."""

    duration_s: float
    labels: tuple[str, ...]
    windows: list[WindowResult] = field(default_factory=list)
    probabilities: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    speech: bool = True
    #: the windows' probabilities come from the session-adapted head (:func:`adapt_to_session`)
    adapted: bool = False
    #: window hop used (seconds): how much new speech each voiced window brings to a session
    hop_s: float = 0.0

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


class SegmentWindows:
    """Overlapping windows of one stretch of signal, sharing one computation of its frames.

    The stretch runs from the first window's start to the last window's end
    (zero-padded past the signal, as a short clip is).  Window starts lie on
    the frame grid, so each window gets exactly the frames a computation of
    that window alone would give it, at a sixth of the cost at a 0.5 s hop.
    Used by file analysis and by the training embeddings, so both cut windows
    alike.
    """

    def __init__(self, y: NDArray[np.float32], starts: list[int], win: int, ext: FeatureExtractor) -> None:
        self.first = starts[0]
        self.samples = take_window(y, starts[0], starts[-1] - starts[0] + win)
        self._ext = ext
        self._raw = ext.raw_frames(self.samples)
        self._rms = frame_rms_dbfs(self.samples, ext.cfg)
        self._n = ext.n_frames(win)

    def window(self, start: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The model input of the window at sample ``start`` and its frames' RMS (dBFS)."""
        f0 = (start - self.first) // self._ext.cfg.hop_length
        return self._ext.window_input(self._raw[f0 : f0 + self._n]), self._rms[f0 : f0 + self._n]


def analyse_signal(
    y: NDArray[np.float32],
    model: EmotionModel,
    windows: WindowConfig | None = None,
    batch: int = 32,
    progress: Callable[[float], bool | None] | None = None,
    segment_windows: int = 240,
    detector: SpeechDetector | None = None,
    keep_embeddings: bool = False,
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
    cancels (the partial analysis is returned).  ``keep_embeddings`` keeps each
    window's pooled embedding (a model with session adaptation only), for
    :func:`adapt_to_session`.
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
    starts = window_starts(len(y), win, hop, to_end=fhop)  # a last window reaches the file's end
    result = Analysis(duration_s=len(y) / sr, labels=model.labels, hop_s=hop / sr)
    keep_embeddings = keep_embeddings and model.adaptation is not None
    if not starts:
        result.probabilities = np.full(len(model.labels), 1 / len(model.labels), np.float32)
        result.speech = False
        return result
    if vad_enabled(wcfg) and detector is None:
        detector = default_detector()
    done = 0
    heard_to = 0  # end of the previous window (the samples already counted as heard)
    cancelled = False
    for g in range(0, len(starts), max(1, segment_windows)):
        group = starts[g : g + max(1, segment_windows)]
        segment = SegmentWindows(y, group, win, ext)
        for b0 in range(0, len(group), batch):
            chunk = group[b0 : b0 + batch]
            xs, loud = [], []
            for s in chunk:
                x, rms = segment.window(s)
                xs.append(x)
                loud.append(not is_silent(rms, wcfg.silence_dbfs))
            offsets = [s - group[0] for s in chunk]
            loud_a = np.array(loud)
            speech, voiced = speech_chunks_in_signal(segment.samples, offsets, loud_a, win, wcfg, detector)
            silent = ~speech
            if keep_embeddings:
                probs, embs = model.encode(np.stack(xs))
            else:
                probs, embs = model.predict(np.stack(xs)), None
            for j, (s, p, sil) in enumerate(zip(chunk, probs, silent.tolist(), strict=True)):
                e = None if embs is None else embs[j]
                # the samples this window adds to the previous one's (all of them for the first)
                end = min(s + win, len(y))
                new, heard_to = end - heard_to, end
                heard = 0.0 if sil else new / sr
                if not sil and voiced[j] is not None:
                    heard = new_speech_s(voiced[j], end - new - s, end - s, sr)
                weight = 1.0 if s % hop == 0 else new / hop  # the end-aligned window: the share it adds
                result.windows.append(WindowResult(s / sr, end / sr, p, sil, e, heard, weight, not loud[j]))
            done += len(chunk)
            if progress is not None and progress(min(1.0, done / len(starts))):
                cancelled = True
                break
        if cancelled:
            break
    _aggregate(result)
    return result


def _aggregate(result: Analysis) -> None:
    """The file's label: the mean over its voiced windows (all windows when none is voiced).

    Weighted by :attr:`WindowResult.weight`, so the end-aligned last window counts for the new
    samples it adds, not as a whole window of mostly the same audio.
    """
    voiced = [w for w in result.windows if not w.silent]
    result.speech = bool(voiced)
    pool = voiced or result.windows
    if pool:
        probs = np.stack([w.probabilities for w in pool])
        weights = np.array([w.weight for w in pool])
        result.probabilities = np.average(probs, axis=0, weights=weights).astype(np.float32)


def adapt_to_session(analyses: list[Analysis], model: EmotionModel) -> float:
    """Treat ``analyses`` as one speaker: re-label every window with the session-adapted head.

    The statistics are those of every voiced window of every file, each
    counting the speech in its new samples (:func:`serlive.vad.new_speech_s`),
    as a live session gathers them.  Returns the seconds of speech heard; when that is less
    than the model's ``min_speech_s`` nothing changes (the plain head's
    answers stand) and the caller should say so.  The analyses must have been
    made with ``keep_embeddings=True``.
    """
    if model.adaptation is None:
        raise ValueError(f"{model.path.name} has no session adaptation")
    session = SessionStats(model.adaptation)
    for a in analyses:
        for w in a.windows:
            if w.embedding is None:
                raise ValueError("analyses made without keep_embeddings=True")
            if not w.silent:  # the speech it brought (older analyses: a hop)
                session.add(w.embedding, a.hop_s if w.new_speech_s is None else w.new_speech_s)
    if not session.ready:
        return session.heard_s
    mean, scale = session.normaliser()
    for a in analyses:
        if not a.windows:
            continue
        embs = np.stack([w.embedding for w in a.windows])  # every one present: checked above
        plain = np.stack([w.probabilities for w in a.windows])
        shown = model.adaptation.combine(plain, model.adapt(embs, mean, scale))
        for w, p in zip(a.windows, shown, strict=True):
            w.probabilities = p
        _aggregate(a)
        a.adapted = True
    return session.heard_s


def analyse_file(path: str | Path, model: EmotionModel, **kwargs) -> Analysis:
    """Load ``path`` (any readable format) and analyse it; raises AudioLoadError."""
    y = load_audio(path, model.meta.features.sample_rate)
    return analyse_signal(y, model, **kwargs)
