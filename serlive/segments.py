"""Utterances: a recording split at its pauses, each stretch of speech labelled once.

Fixed 3 s windows answer "what is the emotion around second 12"; a person reading a
conversation wants "0:12-0:17 angry (82 %)".  This module gives the one definition of a
segment that ``serlive predict --segments``, the file viewer and the live view share:

* **Speech** is what the voice-activity detector (:mod:`serlive.vad`, Silero) hears in one
  continuous pass, 31.25 ms chunk by chunk, its LSTM state carried from chunk to chunk (a
  window's detector restarts at each window; a segment boundary must not depend on where a
  window began).  Chunks below the level gate (``silence_dbfs``) are never speech.
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
hold mostly its neighbours).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from serlive.config import SegmentConfig
from serlive.vad import CHUNK, CHUNK_HOP, SAMPLE_RATE, SpeechDetector, default_detector
from serlive.windows import take_window

if TYPE_CHECKING:
    from serlive.analysis import Analysis, WindowResult
    from serlive.model import EmotionModel

FloatArray = NDArray[np.float32]

#: Chunks encoded per call: bounds memory (gates are 4 KB a chunk) on hour-long files.
_BLOCK = 2048
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
class Utterance:
    """A labelled segment: its probabilities over ``labels`` (summing to 1)."""

    start_s: float
    end_s: float
    labels: tuple[str, ...]
    probabilities: FloatArray

    @property
    def label(self) -> str:
        """Most probable label."""
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        """Probability of :attr:`label`."""
        return float(np.max(self.probabilities))

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


class Segmenter:
    """The pause rule over a continuous 16 kHz stream: ``feed`` samples, get closed segments.

    Keeps the detector's LSTM state, the samples of the chunk not yet complete and the open
    utterance.  Times count from the first sample fed.  Not thread-safe (one stream, one owner).
    """

    def __init__(self, config: SegmentConfig | None = None, detector: SpeechDetector | None = None) -> None:
        self.cfg = config or SegmentConfig()
        self.det = detector or default_detector()
        w = self.det.weights
        # one stream, no batch to agree with: the LSTM steps in float32 (a third faster than float64)
        self._w_hh = w.w_hh.astype(np.float32)
        self._w_out = w.w_out.astype(np.float32)
        self._h = np.zeros(self._w_hh.shape[0], np.float32)
        self._c = np.zeros(self._w_hh.shape[0], np.float32)
        #: what a chunk below the level gate gives the LSTM: a silent chunk's encoding (no STFT, no convs)
        self._quiet_gates = self.det.encode(np.zeros((1, CHUNK), np.float32))[0].astype(np.float32)
        #: chunk encodings computed elsewhere (file analysis' window rule, see :meth:`offer`), by chunk index
        self._shared: dict[int, NDArray[np.float32]] = {}
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

    def offer(self, first: int, needed: NDArray[np.bool_], gates: NDArray[np.floating]) -> None:
        """Chunk encodings already computed: ``gates[k]`` is chunk ``first + k``'s where ``needed[k]``.

        File analysis' window rule encodes the chunks of its speech-candidate windows on the same
        grid (chunk ``j`` starts at sample ``500 j``); handing them over here spares encoding them
        twice, the larger half of segmentation's cost.  Chunks already judged are ignored.
        """
        for k in np.flatnonzero(needed):
            j = first + int(k)
            if j >= self._chunk:
                self._shared[j] = np.asarray(gates[k], dtype=np.float32)

    def feed(self, samples: FloatArray) -> list[Segment]:
        """Add samples (mono float32 at 16 kHz); returns the segments this closed, in order."""
        y = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._fed += len(y)
        self._buf = np.concatenate([self._buf, y]) if len(self._buf) else y
        if len(self._buf) < CHUNK:
            return []
        n = (len(self._buf) - CHUNK) // CHUNK_HOP + 1
        chunks = np.lib.stride_tricks.sliding_window_view(self._buf, CHUNK)[: n * CHUNK_HOP : CHUNK_HOP]
        out: list[Segment] = []
        for b0 in range(0, n, _BLOCK):
            block = chunks[b0 : b0 + _BLOCK]
            rms = np.sqrt(np.mean(np.square(block, dtype=np.float32), axis=1))
            level = 20 * np.log10(np.maximum(rms, 1e-7))
            quiet = level < self.cfg.silence_dbfs
            gates = np.empty((len(block), len(self._quiet_gates)), np.float32)
            gates[quiet] = self._quiet_gates
            todo = ~quiet
            if self._shared:
                first = self._chunk
                for k in np.flatnonzero(todo):
                    g = self._shared.pop(first + int(k), None)
                    if g is not None:
                        gates[k] = g
                        todo[k] = False
            if todo.any():
                gates[todo] = self.det.encode(np.ascontiguousarray(block[todo]))
            p = np.where(quiet, 0.0, self._decode(gates))
            for pj, lj in zip(p.tolist(), level.tolist(), strict=True):
                out.extend(self._step(pj, lj))
        self._buf = self._buf[n * CHUNK_HOP :].copy()
        if self._shared:  # encodings of chunks already judged (offered twice by overlapping batches)
            self._shared = {j: g for j, g in self._shared.items() if j >= self._chunk}
        self.history.extend(out)
        return out

    def _decode(self, gates: NDArray[np.float32]) -> NDArray[np.float32]:
        """Speech probabilities of consecutive chunks from their input gates, the LSTM state carried on.

        :meth:`serlive.vad.SpeechDetector.decode`'s recurrence (gates pre-scaled so one tanh gives all
        four), in float32 on one row.
        """
        w_hh, hid = self._w_hh, self._w_hh.shape[0]
        h, c = self._h, self._c
        hs = np.empty((len(gates), hid), np.float32)
        for t in range(len(gates)):
            th = np.tanh(gates[t] + h @ w_hh)
            sg = 0.5 * th + 0.5
            c = sg[hid : 2 * hid] * c + sg[:hid] * th[2 * hid : 3 * hid]
            h = sg[3 * hid :] * np.tanh(c)
            hs[t] = h
        self._h, self._c = h, c
        z = np.maximum(hs, 0.0) @ self._w_out + np.float32(self.det.weights.b_out)
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def finish(self) -> list[Segment]:
        """End of the stream: close the open utterance, if any (its end is the last voiced chunk's)."""
        out = []
        if self._start is not None:
            seg = self._close(self._last_voiced)
            if seg is not None:
                out.append(seg)
        self._start = None
        self._shared.clear()
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
    heard speech the window rule did not); None when no window overlaps at all.
    """
    pool = [w for w in windows if not w.silent] if voiced_only else list(windows)
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


def centred_start(segment: Segment, window: int, n_samples: int, sample_rate: int) -> int:
    """First sample of the ``window``-sample window centred on ``segment``, kept inside the signal."""
    mid = round((segment.start_s + segment.end_s) / 2 * sample_rate)
    return int(min(max(0, mid - window // 2), max(0, n_samples - window)))


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

    def run(segs: list[Segment]) -> NDArray[np.float32]:
        xs = [model.extractor(take_window(y, centred_start(s, win, len(y), sr), win)) for s in segs]
        return model.predict(np.stack(xs))

    return run


def utterances(
    y: FloatArray,
    analysis: Analysis,
    model: EmotionModel,
    config: SegmentConfig | None = None,
    detector: SpeechDetector | None = None,
    segmenter: Segmenter | None = None,
) -> list[Utterance]:
    """Segment ``y`` and label its segments from ``analysis`` of the same signal (the file path).

    ``segmenter``: the one ``analyse_signal(segmenter=...)`` fed (cheaper: the window rule's chunk
    encodings are reused); without it the signal is segmented here (``config``, ``detector``).
    A session-adapted analysis labels short segments from its windows too: a fresh centred
    window would come from the plain head and not compare with the rest.
    """
    if model.meta.features.sample_rate != SAMPLE_RATE:
        raise ValueError(f"segmentation runs at {SAMPLE_RATE} Hz, not {model.meta.features.sample_rate}")
    if round(analysis.duration_s * SAMPLE_RATE) != len(y):
        raise ValueError("the analysis is not of this signal")
    if segmenter is not None:
        segs = complete(segmenter, y)
    else:
        segs = segment_signal(y, config, detector, model.meta.features.sample_rate)
    window_s = model.meta.windows.window_s
    centred = None if analysis.adapted else model_centred(model, y, window_s)
    return label_segments(segs, analysis, window_s, centred)
