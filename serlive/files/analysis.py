"""File analysis: samples → windows → probabilities → timeline and summary.

Shared by ``serlive predict``, ``serlive evaluate`` and the file viewer.  The
raw frames of the whole signal are computed once and each window takes its
slice of them (window starts are whole multiples of the frame hop), so
overlapping windows cost no repeated FFTs and give exactly the frames the live
engine computes incrementally.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.adaptation import SessionStats
from serlive.audio.io import load_audio
from serlive.config import WindowConfig
from serlive.features import FeatureExtractor, frame_rms_dbfs
from serlive.model import EmotionModel
from serlive.results import Analysis, WindowResult
from serlive.segments import Segmenter
from serlive.vad import (
    CHUNK_HOP,
    ProbabilitySink,
    SpeechDetector,
    default_detector,
    is_silent,
    new_speech_s,
    speech_chunks_in_signal,
    vad_enabled,
)
from serlive.windows import take_window, window_starts

#: windows per model call: the batch is also the unit a worker takes and progress reports after
BATCH = 32
#: windows per segment whose frames are computed once (2 minutes at the default hop): bounded memory
SEGMENT_WINDOWS = 240


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


@dataclass
class SignalPlan:
    """How :func:`analyse_signal` cuts a signal: window starts, grouped into segments and batches.

    The one definition of the cut, shared by the serial loop and the parallel
    one (:mod:`serlive.files.parallel`): a segment's frames are computed once from
    its own stretch of signal, and each batch (the unit of one VAD and one
    model call) is the same windows in both, so both give byte-identical
    results whichever worker runs which batch.
    """

    windows: WindowConfig
    sample_rate: int
    n_samples: int
    win: int
    hop: int
    #: segment → batch → window start samples
    segments: list[list[list[int]]]
    #: every window's start, in order
    starts: list[int]

    def previous_end(self, start: int) -> int:
        """Where the window before the one at ``start`` ends (0 for the first): what it already heard."""
        k = bisect.bisect_left(self.starts, start)
        return 0 if k == 0 else min(self.starts[k - 1] + self.win, self.n_samples)

    @property
    def n_windows(self) -> int:
        """Windows in the whole signal."""
        return len(self.starts)

    def feed_segmenter(self, segmenter: Segmenter, y: NDArray[np.float32], done: int) -> None:
        """Hand ``segmenter`` the samples up to window ``done``'s start (the signal's end after the last).

        Called once the first ``done`` windows' chunk probabilities have been offered, so the
        segmenter never judges a chunk that a window still to come would have spoken for.
        """
        end = self.starts[done] if done < len(self.starts) else len(y)
        segmenter.feed(y[segmenter.fed_samples : end])

    def empty_result(self, labels: tuple[str, ...]) -> Analysis:
        """The :class:`Analysis` the batches' windows are appended to."""
        return Analysis(
            duration_s=self.n_samples / self.sample_rate, labels=labels, hop_s=self.hop / self.sample_rate
        )

    def segment(self, y: NDArray[np.float32], index: int, ext: FeatureExtractor) -> SegmentWindows:
        """Segment ``index``'s shared frames."""
        group = self.segments[index]
        return SegmentWindows(y, [group[0][0], group[-1][-1]], self.win, ext)


def plan_signal(
    n_samples: int,
    model: EmotionModel,
    windows: WindowConfig | None = None,
    batch: int = BATCH,
    segment_windows: int = SEGMENT_WINDOWS,
) -> SignalPlan:
    """The :class:`SignalPlan` of ``n_samples`` samples for ``model`` (see :func:`analyse_signal`)."""
    meta = model.meta
    sr = meta.features.sample_rate
    wcfg = windows or meta.windows.for_files()
    win = wcfg.window_samples(sr)
    hop = wcfg.hop_samples(sr)
    fhop = meta.features.hop_length
    if hop % fhop:
        raise ValueError(f"window hop {hop} is not a multiple of the frame hop {fhop}")
    starts = window_starts(n_samples, win, hop, to_end=fhop)  # a last window reaches the file's end
    seg_n, batch = max(1, segment_windows), max(1, batch)
    segments = []
    for g in range(0, len(starts), seg_n):
        group = starts[g : g + seg_n]
        segments.append([group[b : b + batch] for b in range(0, len(group), batch)])
    return SignalPlan(wcfg, sr, n_samples, win, hop, segments, starts)


def analyse_batch(
    segment: SegmentWindows,
    chunk: list[int],
    model: EmotionModel,
    plan: SignalPlan,
    detector: SpeechDetector | None,
    keep_embeddings: bool,
    sink: ProbabilitySink | None = None,
) -> list[WindowResult]:
    """The windows starting at ``chunk`` (one batch of ``segment``): one VAD and one model call.

    ``sink`` receives the window rule's chunk probabilities (:func:`_sink_for`).
    """
    wcfg, win = plan.windows, plan.win
    xs, loud = [], []
    for s in chunk:
        x, rms = segment.window(s)
        xs.append(x)
        loud.append(not is_silent(rms, wcfg.silence_dbfs))
    offsets = [s - segment.first for s in chunk]
    loud_a = np.array(loud)
    speech, voiced = speech_chunks_in_signal(segment.samples, offsets, loud_a, win, wcfg, detector, sink)
    silent = ~speech
    if keep_embeddings:
        probs, embs = model.encode(np.stack(xs))
    else:
        probs, embs = model.predict(np.stack(xs)), None
    sr, n, hop = plan.sample_rate, plan.n_samples, plan.hop
    out = []
    heard_to = plan.previous_end(chunk[0])  # the samples the window before this batch already brought
    for j, (s, p, sil) in enumerate(zip(chunk, probs, silent.tolist(), strict=True)):
        end = min(s + win, n)
        new, heard_to = end - heard_to, end  # the samples this window adds to the previous one's
        heard = 0.0 if sil else new / sr
        if not sil and voiced[j] is not None:
            heard = new_speech_s(voiced[j], end - new - s, end - s, sr)
        weight = 1.0 if s % hop == 0 else new / hop  # the end-aligned window: the share it adds
        emb = None if embs is None else embs[j]
        out.append(WindowResult(s / sr, end / sr, p, sil, emb, heard, weight, not loud[j]))
    return out


def analyse_signal(
    y: NDArray[np.float32],
    model: EmotionModel,
    windows: WindowConfig | None = None,
    batch: int = BATCH,
    progress: Callable[[float], bool | None] | None = None,
    segment_windows: int = SEGMENT_WINDOWS,
    detector: SpeechDetector | None = None,
    keep_embeddings: bool = False,
    segmenter: Segmenter | None = None,
) -> Analysis:
    """Analyse mono float32 samples at the model's rate.

    The signal is processed in segments of ``segment_windows`` windows (2
    minutes at the default hop): each segment's frames are computed once and
    shared by its overlapping windows, memory stays bounded for hour-long
    files, and progress and cancel work from the first segment on.  Segments
    start at window starts (multiples of the frame hop), so every window sees
    exactly the frames a whole-file computation would give it.  The cut is
    :func:`plan_signal`'s; :mod:`serlive.files.parallel` runs the same batches on
    several cores.

    A window is ``silent`` ("no speech") when it fails the level gate
    (:func:`is_silent`) or, past it, the voice-activity detector
    (:func:`serlive.vad.speech_windows`, rule and parameters in ``windows``);
    ``detector`` defaults to the process's shared one.  The live engine applies
    the same rule to the same samples, so both flag the same windows.

    ``progress(fraction)`` is called after each batch; returning ``True``
    cancels (the partial analysis is returned).  ``keep_embeddings`` keeps each
    window's pooled embedding (a model with session adaptation only), for
    :func:`adapt_to_session`.

    ``segmenter`` (a fresh :class:`serlive.segments.Segmenter`) is fed the signal as the
    analysis goes, with the chunk probabilities the window rule computed (so utterance
    segmentation does not run the detector again); :func:`serlive.segments.complete`
    then gives the segments.
    """
    plan = plan_signal(len(y), model, windows, batch, segment_windows)
    result = plan.empty_result(model.labels)
    keep_embeddings = keep_embeddings and model.adaptation is not None
    if not plan.segments:
        return finish_analysis(result)
    if vad_enabled(plan.windows) and detector is None:
        detector = default_detector()
    total, done = plan.n_windows, 0
    for index, group in enumerate(plan.segments):
        segment = plan.segment(y, index, model.extractor)
        for chunk in group:
            sink = _sink_for(segmenter, segment.first)
            result.windows.extend(analyse_batch(segment, chunk, model, plan, detector, keep_embeddings, sink))
            done += len(chunk)
            if segmenter is not None:  # every window starting before the next one has been offered
                plan.feed_segmenter(segmenter, y, done)
            if progress is not None and progress(min(1.0, done / total)):
                return finish_analysis(result)
    return finish_analysis(result)


def finish_analysis(result: Analysis) -> Analysis:
    """The file's aggregate from its windows; a signal too short for any window is no speech."""
    if not result.windows:
        result.probabilities = np.full(len(result.labels), 1 / len(result.labels), np.float32)
        result.speech = False
        return result
    _aggregate(result)
    return result


def _sink_for(segmenter: Segmenter | None, first: int) -> ProbabilitySink | None:
    """Where the window rule hands its chunk probabilities: the segmenter, windows by first chunk."""
    if segmenter is None:
        return None

    def sink(starts: list[int], p: NDArray[np.float64]) -> None:
        on_grid = [i for i, s in enumerate(starts) if (first + s) % CHUNK_HOP == 0]
        segmenter.offer([(first + starts[i]) // CHUNK_HOP for i in on_grid], p[on_grid])

    return sink


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
