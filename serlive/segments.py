"""Utterances: a recording split at its pauses, each stretch of speech labelled once.

Fixed 3 s windows answer "what is the emotion around second 12"; a person reading a
conversation wants "0:12-0:17 angry (82 %)".  This module gives the one definition of a
segment that ``serlive predict --segments``, the file viewer and the live view share:

* **Speech** is what the voice-activity detector (:mod:`serlive.vad`, Silero) hears in
  31.25 ms chunks on a grid anchored at the first sample: chunk ``j``'s speech probability is
  the one the window rule computes for it in the 3 s window that starts at the latest multiple
  of 2 s at least 1 s before the chunk (:func:`window_of`).  Those windows exist in the live
  engine (0.5 s hop) and in both file paths (0.5 s and 2 s hops), so file analysis hands its
  probabilities over and segmentation costs it almost nothing, and a boundary is the same
  whatever the hop or the blocks the stream came in.  Chunks below the level gate
  (``silence_dbfs``) are never speech.
* **The pause rule**: a chunk with a speech probability of at least ``threshold`` is voiced;
  inside an utterance, a pause begins at the first chunk below ``release`` and ends the
  utterance once it has lasted ``min_pause_s``.  Voiced stretches shorter than
  ``min_speech_s`` are dropped; ``pad_s`` is added at both ends.
* **Long stretches** are cut when they reach ``max_segment_s``, at the quietest point (lowest
  smoothed chunk level) of their second half, so pieces are between half and all of the cap.

:class:`Segmenter` works incrementally (``feed`` blocks, get the utterances a pause has
closed), so the live view and a whole file (:func:`segment_signal`, one ``feed`` and
``finish``) cut the same signal at the same places.

**Labelling** (:func:`label_segments`): a segment's probabilities are the mean of the voiced
windows that overlap it, each weighted by its overlap in seconds; a segment shorter than a
window gets one window centred on it instead (the windows that contain a short utterance
hold mostly its neighbours), its start rounded to the live hop's grid so the live view has
the same window (:class:`LiveUtterances`, the live engine's labelling).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
from numpy.typing import NDArray

from serlive.config import SegmentConfig
from serlive.results import Labelled
from serlive.vad import CHUNK, CHUNK_HOP, SAMPLE_RATE, SpeechDetector, default_detector
from serlive.windows import take_window

if TYPE_CHECKING:
    from serlive.model import EmotionModel
    from serlive.results import Analysis, WindowResult

FloatArray = NDArray[np.float32]

#: Chunks judged per step of :meth:`Segmenter.feed`: bounds memory on long files.
_BLOCK = 2048
#: Chunks in one 3 s window of the window rule (:mod:`serlive.vad`: 95 chunks 500 samples apart).
WINDOW_CHUNKS = 95
#: The detector's LSTM restarts every PIECE chunks (2 s) ...
PIECE = 64
#: ... and a chunk is judged in the window that began at the latest restart at least WARM_UP chunks
#: (1 s) before it: chunk ``j``'s probability is its probability in the window rule's 3 s window
#: starting at chunk :func:`window_of` ``(j)``.
WARM_UP = WINDOW_CHUNKS - PIECE
#: Chunks of level smoothing when looking for the quietest point (5 x 31 ms = 156 ms).
_SMOOTH = 5


@dataclass(frozen=True)
class Segment:
    """A stretch of speech, in seconds from the start of the signal (or stream)."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Utterance(Labelled):
    """A labelled segment: its probabilities over ``labels`` (summing to 1)."""

    start_s: float
    end_s: float
    labels: tuple[str, ...]
    probabilities: FloatArray

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        """The JSON object of ``predict --segments``: start, end, label, confidence, probabilities."""
        return {
            "start": round(self.start_s, 3),
            "end": round(self.end_s, 3),
            "label": self.label,
            "confidence": round(self.confidence, digits),
            "probabilities": {
                k: round(float(v), digits) for k, v in zip(self.labels, self.probabilities, strict=True)
            },
        }


def window_of(chunk: int) -> int:
    """First chunk of the window whose probability judges ``chunk`` (see :data:`WARM_UP`)."""
    return 0 if chunk < WINDOW_CHUNKS else PIECE * ((chunk - WARM_UP) // PIECE)


def windows_of(chunks: NDArray[np.integer]) -> NDArray[np.int64]:
    """:func:`window_of` of an array of chunk indices."""
    c = np.asarray(chunks, dtype=np.int64)
    return np.where(c < WINDOW_CHUNKS, 0, PIECE * ((c - WARM_UP) // PIECE))


class Segmenter:
    """The pause rule over a continuous 16 kHz stream: ``feed`` samples, get closed segments.

    Keeps the samples back to the start of the window that judges the next chunk (at most 3 s),
    the window probabilities offered but not yet used, and the open utterance.  Times count from
    the first sample fed.  Not thread-safe (one stream, one owner).
    """

    def __init__(self, config: SegmentConfig | None = None, detector: SpeechDetector | None = None) -> None:
        self.cfg = config or SegmentConfig()
        self.det = detector or default_detector()
        #: window rule probabilities offered by file analysis (:meth:`offer`), by first chunk
        self._offered: dict[int, NDArray[np.floating]] = {}
        self._keep = 0  # chunk index of self._buf[0] (the buffer starts at the window of the next chunk)
        #: every segment closed so far, in order (file analysis feeds the segmenter as it goes)
        self.history: list[Segment] = []
        self._buf = np.zeros(0, np.float32)
        self._chunk = 0  # index of the next chunk to judge (it starts at sample chunk * CHUNK_HOP)
        self._fed = 0  # samples fed so far
        self._start: int | None = None  # first chunk of the open utterance
        self._last_voiced = -1  # last voiced chunk of the open utterance
        self._pause_from: int | None = None  # first chunk of the pause under way
        self._levels: list[float] = []  # level (dBFS) of each chunk since the open utterance began
        self._cut_at: float | None = None  # the open utterance continues a cut piece from here (s)
        self._hop_s = CHUNK_HOP / SAMPLE_RATE
        self._min_pause = max(1, round(self.cfg.min_pause_s / self._hop_s))
        self._max_chunks = max(2, round(self.cfg.max_segment_s / self._hop_s))

    @property
    def fed_s(self) -> float:
        """Seconds of signal fed so far."""
        return self._fed / SAMPLE_RATE

    @property
    def open_since_s(self) -> float | None:
        """Start of the utterance under way (None in a pause): the live view shows it as open."""
        if self._start is None:
            return None
        return self._cut_at if self._cut_at is not None else self._chunk_start_s(self._start)

    @property
    def fed_samples(self) -> int:
        """Samples fed so far."""
        return self._fed

    def offer(self, first_chunks: Sequence[int], probabilities: NDArray[np.floating]) -> None:
        """The window rule's chunk probabilities: row ``i`` of the window starting at ``first_chunks[i]``.

        File analysis calls this with its speech-candidate windows; those starting at a multiple of
        :data:`PIECE` chunks are the ones :func:`window_of` names, so their chunks are not run
        through the detector again.  Others, and windows already judged, are ignored.
        """
        if probabilities.shape[-1] < WINDOW_CHUNKS:
            return
        low = window_of(self._chunk)
        for f, row in zip(first_chunks, probabilities, strict=True):
            if f % PIECE == 0 and f >= low:
                self._offered[int(f)] = row

    def feed(self, samples: FloatArray) -> list[Segment]:
        """Add samples (mono float32 at 16 kHz); returns the segments this closed, in order."""
        y = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._fed += len(y)
        self._buf = np.concatenate([self._buf, y]) if len(self._buf) else y
        end = self._keep + ((len(self._buf) - CHUNK) // CHUNK_HOP + 1 if len(self._buf) >= CHUNK else 0)
        out: list[Segment] = []
        for a in range(self._chunk, end, _BLOCK):
            p, level = self._probabilities(a, min(end, a + _BLOCK))
            for pj, lj in zip(p.tolist(), level.tolist(), strict=True):
                out.extend(self._step(pj, lj))
        keep = window_of(self._chunk)
        if keep > self._keep:
            self._buf = self._buf[(keep - self._keep) * CHUNK_HOP :].copy()
            self._keep = keep
        self._offered = {f: r for f, r in self._offered.items() if f >= keep}
        self.history.extend(out)
        return out

    def _chunks(self, a: int, b: int) -> NDArray[np.float32]:
        """Samples of chunks ``a`` to ``b - 1`` (all in the buffer), (b - a, 512)."""
        x = self._buf[(a - self._keep) * CHUNK_HOP : (b - 1 - self._keep) * CHUNK_HOP + CHUNK]
        return np.lib.stride_tricks.sliding_window_view(x, CHUNK)[::CHUNK_HOP]

    def _probabilities(self, a: int, b: int) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        """Speech probability (0 under the level gate) and level (dBFS) of chunks ``a`` to ``b - 1``."""
        block = self._chunks(a, b)
        level = 20 * np.log10(np.maximum(np.sqrt(np.mean(np.square(block, dtype=np.float32), axis=1)), 1e-7))
        quiet = level < self.cfg.silence_dbfs
        js = np.arange(a, b)
        ws = windows_of(js)
        p = np.zeros(b - a)
        todo: list[tuple[int, NDArray[np.bool_]]] = []
        for w in np.unique(ws).tolist():
            sel = (ws == w) & ~quiet
            if not sel.any():
                continue
            row = self._offered.get(w)
            if row is not None:
                p[sel] = row[js[sel] - w]
            else:
                todo.append((w, sel))
        if todo:  # windows nobody offered: run the detector on them, as the window rule would
            first = todo[0][0]
            last = max(int(js[sel][-1]) for _, sel in todo) + 1
            gates = self.det.encode(np.ascontiguousarray(self._chunks(first, last)))
            steps = max(int(js[sel][-1]) - w + 1 for w, sel in todo)
            x = np.zeros((len(todo), steps, gates.shape[1]))
            for i, (w, sel) in enumerate(todo):
                n = int(js[sel][-1]) - w + 1
                x[i, :n] = gates[w - first : w - first + n]
            probs = self.det.decode(x)  # causal: the zeros after a row's end change nothing before it
            for i, (w, sel) in enumerate(todo):
                p[sel] = probs[i, js[sel] - w]
        return p, level

    def finish(self) -> list[Segment]:
        """End of the stream: close the open utterance, if any (its end is the last voiced chunk's)."""
        out = []
        if self._start is not None:
            seg = self._close(self._last_voiced)
            if seg is not None:
                out.append(seg)
        self._start = None
        self._offered.clear()
        self.history.extend(out)
        return out

    # --- the rule, one chunk at a time -----------------------------------------------------
    def _chunk_start_s(self, j: int) -> float:
        return j * self._hop_s

    def _step(self, p: float, level: float) -> list[Segment]:
        j = self._chunk
        self._chunk += 1
        cfg = self.cfg
        if self._start is None:
            if p >= cfg.threshold:
                self._start, self._last_voiced, self._pause_from = j, j, None
                self._levels = [level]
                self._cut_at = None
            return []
        self._levels.append(level)
        if p >= cfg.threshold:
            self._last_voiced, self._pause_from = j, None
        elif p < cfg.release and self._pause_from is None:
            self._pause_from = j
        if self._pause_from is not None and j - self._pause_from + 1 >= self._min_pause:
            seg = self._close(self._last_voiced)
            self._start = None
            return [seg] if seg is not None else []
        if j - self._start + 1 >= self._max_chunks:
            return self._cut()
        return []

    def _close(self, last: int) -> Segment | None:
        """The open utterance from its start to chunk ``last``'s end, padded; None when too short."""
        assert self._start is not None
        cfg = self.cfg
        end_s = min(self.fed_s, self._chunk_start_s(last) + CHUNK / SAMPLE_RATE + cfg.pad_s)
        if self._cut_at is not None:
            start_s = self._cut_at
        else:
            start_s = max(0.0, self._chunk_start_s(self._start) - cfg.pad_s)
            voiced_s = (last - self._start + 1) * self._hop_s
            if voiced_s < cfg.min_speech_s:
                return None
        return Segment(start_s, max(start_s, end_s))

    def _cut(self) -> list[Segment]:
        """The open utterance reached the cap: cut it at the quietest chunk of its second half."""
        assert self._start is not None
        lv = np.asarray(self._levels, dtype=np.float64)
        smooth = np.convolve(lv, np.ones(_SMOOTH) / _SMOOTH, mode="same")
        half = len(lv) // 2
        k = half + int(np.argmin(smooth[half:]))
        cut_chunk = self._start + k
        cut_s = self._chunk_start_s(cut_chunk) + CHUNK / (2 * SAMPLE_RATE)  # the chunk's centre
        first = (
            self._cut_at
            if self._cut_at is not None
            else max(0.0, self._chunk_start_s(self._start) - self.cfg.pad_s)
        )
        seg = Segment(first, cut_s)
        self._start = cut_chunk
        self._cut_at = cut_s
        self._levels = self._levels[k:]
        if self._last_voiced < cut_chunk:
            self._last_voiced = cut_chunk
        return [seg]


def segment_signal(
    y: FloatArray,
    config: SegmentConfig | None = None,
    detector: SpeechDetector | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> list[Segment]:
    """The utterances of a whole signal: the live rule (:class:`Segmenter`) run over it in one go."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"segmentation runs at {SAMPLE_RATE} Hz, not {sample_rate}")
    seg = Segmenter(config, detector)
    return seg.feed(y) + seg.finish()


def complete(segmenter: Segmenter, y: FloatArray) -> list[Segment]:
    """All segments of ``y`` from a segmenter that file analysis fed part of (``analyse_signal(segmenter=)``).

    Feeds what analysis did not reach (the tail after its last window, or everything when the analysis
    was cancelled early) and ends the stream.
    """
    segmenter.feed(y[segmenter.fed_samples :])
    segmenter.finish()
    return list(segmenter.history)


# --- labelling -----------------------------------------------------------------------------
def overlap_weighted(
    segment: Segment, windows: Sequence[WindowResult], voiced_only: bool = True
) -> FloatArray | None:
    """Mean probabilities of the windows overlapping ``segment``, weighted by overlap (seconds).

    Only voiced windows count; when none overlaps, all overlapping windows do (the segmenter
    heard speech the window rule did not); None when no window with probabilities overlaps.
    """
    # a live no-speech window the engine did not run the model on (``skip_silent``) has no probabilities
    pool = [w for w in windows if w.probabilities is not None and not (voiced_only and w.silent)]
    total = None
    weight = 0.0
    for w in pool:
        ov = min(w.end_s, segment.end_s) - max(w.start_s, segment.start_s)
        if ov > 0:
            p = np.asarray(w.probabilities, dtype=np.float64)
            total = ov * p if total is None else total + ov * p
            weight += ov
    if total is None:
        return overlap_weighted(segment, windows, False) if voiced_only else None
    return (total / weight).astype(np.float32)


def centred_start(
    segment: Segment, window: int, n_samples: int | None, sample_rate: int, grid: int = 1
) -> int:
    """First sample of the ``window``-sample window centred on ``segment``, kept inside the signal.

    The start is rounded to a multiple of ``grid`` samples: the live hop (0.5 s), so the live
    view, whose windows start on that grid, labels a short utterance with the very window the
    file path computes for it.  ``n_samples`` None: a stream, no end yet.
    """
    mid = round((segment.start_s + segment.end_s) / 2 * sample_rate)
    start = max(0, round((mid - window // 2) / grid) * grid)
    return int(start if n_samples is None else min(start, max(0, n_samples - window)))


def label_segments(
    segments: Sequence[Segment],
    analysis: Analysis,
    window_s: float,
    centred: Callable[[list[Segment]], NDArray[np.float32]] | None = None,
) -> list[Utterance]:
    """Label each segment from ``analysis``'s windows (labels in the model's order).

    A segment at least ``window_s`` long gets :func:`overlap_weighted`; a shorter one gets
    ``centred([its segment])`` (one window centred on it, see :func:`model_centred`) when a
    ``centred`` function is given, else the overlap-weighted mean too.
    """
    short = [s for s in segments if s.duration_s < window_s] if centred is not None else []
    extra: dict[Segment, FloatArray] = {}
    if short:
        extra = dict(zip(short, np.asarray(centred(short), np.float32), strict=True))
    n = len(analysis.labels)
    out = []
    for s in segments:
        p = extra.get(s)
        if p is None:
            p = overlap_weighted(s, analysis.windows)
        if p is None:  # no window at all (an empty analysis)
            p = np.full(n, 1.0 / n, np.float32)
        out.append(Utterance(s.start_s, s.end_s, analysis.labels, p))
    return out


def model_centred(
    model: EmotionModel, y: FloatArray, window_s: float | None = None
) -> Callable[[list[Segment]], NDArray[np.float32]]:
    """``centred`` for :func:`label_segments`: the model's probabilities on windows centred on segments."""
    sr = model.meta.features.sample_rate
    win = round((window_s or model.meta.windows.window_s) * sr)
    grid = model.meta.windows.hop_samples(sr)  # the live hop: the live view has this very window

    def run(segs: list[Segment]) -> NDArray[np.float32]:
        xs = [model.extractor(take_window(y, centred_start(s, win, len(y), sr, grid), win)) for s in segs]
        return model.predict(np.stack(xs))

    return run


def utterances(
    y: FloatArray,
    analysis: Analysis,
    model: EmotionModel,
    config: SegmentConfig | None = None,
    detector: SpeechDetector | None = None,
    segmenter: Segmenter | None = None,
    segments: Sequence[Segment] | None = None,
) -> list[Utterance]:
    """Segment ``y`` and label its segments from ``analysis`` of the same signal (the file path).

    ``segmenter``: the one ``analyse_signal(segmenter=...)`` fed (cheaper: the window rule's chunk
    encodings are reused); without it the signal is segmented here (``config``, ``detector``).
    ``segments``: those already found (the file viewer's worker completes its segmenter with the
    analysis and labels later, on another thread): only labelled here.
    A session-adapted analysis labels short segments from its windows too: a fresh centred
    window would come from the plain head and not compare with the rest.
    """
    if model.meta.features.sample_rate != SAMPLE_RATE:
        raise ValueError(f"segmentation runs at {SAMPLE_RATE} Hz, not {model.meta.features.sample_rate}")
    if round(analysis.duration_s * SAMPLE_RATE) != len(y):
        raise ValueError("the analysis is not of this signal")
    if segments is not None:
        segs = list(segments)
    elif segmenter is not None:
        segs = complete(segmenter, y)
    else:
        segs = segment_signal(y, config, detector, model.meta.features.sample_rate)
    window_s = model.meta.windows.window_s
    centred = None if analysis.adapted else model_centred(model, y, window_s)
    return label_segments(segs, analysis, window_s, centred)


def write_csv(utts: Sequence[Utterance], out: TextIO) -> None:
    """Utterances as CSV: ``start,end,label,confidence``, a column per label (the file viewer's export)."""
    labels = utts[0].labels if utts else ()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["start", "end", "label", "confidence", *labels])
    for u in utts:
        d = u.to_dict()
        w.writerow([d["start"], d["end"], d["label"], d["confidence"], *d["probabilities"].values()])


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` from an hour on), as a person reads a position in a recording."""
    tenths = round(seconds * 10)
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    sec = f"{rest // 10:02d}.{rest % 10}"
    return f"{h}:{m:02d}:{sec}" if h else f"{m}:{sec}"


class LiveUtterances:
    """Utterances of a live stream, labelled as the file path labels them (the live engine's helper).

    The engine's worker feeds it the stream's samples (:meth:`feed`, a :class:`Segmenter`) and
    its window results (:meth:`add`: anything with ``start_s``, ``end_s``, ``probabilities``,
    ``silent`` and ``labels``).  An utterance a pause has closed is labelled once the windows
    the file path would use for it have been analysed: every window starting before its end
    (about 3 s after the end), or, for an utterance shorter than a window, the window on the
    hop grid centred on it (:func:`centred_start`).  A window the engine dropped (it fell
    behind) is missing from the mean; a missing centred window falls back to the overlap mean.
    Not thread-safe: the worker owns it.
    """

    def __init__(
        self,
        labels: Sequence[str],
        window_s: float,
        hop_s: float,
        config: SegmentConfig | None = None,
        detector: SpeechDetector | None = None,
        keep_s: float = 120.0,
    ) -> None:
        self.segmenter = Segmenter(config, detector)
        self.labels = tuple(labels)
        self.window_s = float(window_s)
        self.hop_s = float(hop_s)
        self.keep_s = float(keep_s)
        self._results: list[Any] = []  # recent window results, oldest first
        self._pending: list[Segment] = []  # closed, waiting for their windows
        self._newest = float("-inf")  # start (s) of the newest window result

    @property
    def open_since_s(self) -> float | None:
        """Start of the utterance under way (None in a pause)."""
        return self.segmenter.open_since_s

    def feed(self, samples: FloatArray) -> list[Utterance]:
        """New samples of the stream (16 kHz); returns the utterances already labelled, in order."""
        self._pending.extend(self.segmenter.feed(samples))
        return self._label_ready(self._newest)

    def add(self, result: Any) -> list[Utterance]:
        """A window result; returns the utterances it completes, labelled, in order."""
        self._results.append(result)
        self._newest = max(self._newest, result.start_s)
        horizon = result.end_s - self.keep_s
        while self._results and self._results[0].end_s < horizon:
            self._results.pop(0)
        return self._label_ready(self._newest)

    def finish(self) -> list[Utterance]:
        """End of the stream: close the open utterance and label everything with the windows there are."""
        self._pending.extend(self.segmenter.finish())
        return self._label_ready(float("inf"))

    def _needed_start(self, seg: Segment) -> float:
        """Start (s) of the last window this utterance's label waits for."""
        if seg.duration_s < self.window_s:
            sr = SAMPLE_RATE
            grid = round(self.hop_s * sr)
            return centred_start(seg, round(self.window_s * sr), None, sr, grid) / sr
        # the last window starting before the utterance's end
        return max(0.0, np.ceil(seg.end_s / self.hop_s - 1) * self.hop_s)

    def _label_ready(self, newest_start: float) -> list[Utterance]:
        out = []
        while self._pending and self._needed_start(self._pending[0]) <= newest_start + 1e-6:
            seg = self._pending.pop(0)
            out.append(self._label(seg))
        return out

    def _label(self, seg: Segment) -> Utterance:
        labels = self.labels
        p = None
        if seg.duration_s < self.window_s:
            want = self._needed_start(seg)
            for r in self._results:
                if abs(r.start_s - want) < 1e-6 and r.probabilities is not None:
                    p = np.asarray(r.probabilities, np.float32)
        if p is None:
            p = overlap_weighted(seg, self._results)
        if p is None:  # no window over it at all (a stream stopped within its first window)
            p = np.full(len(labels), 1.0 / len(labels), np.float32)
        return Utterance(seg.start_s, seg.end_s, labels, p)
