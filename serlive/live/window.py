"""One live window, from its frames to a :class:`Result` (a mixin of :class:`serlive.live.engine.Engine`).

Split from ``serlive/live/engine.py``, which keeps the stream's plumbing (the
worker loop, pumping, resampling, late windows, the hop).  Here is what one
window goes through: the loudness gate, the voice-activity detector over the
window's samples, the model (plain, or adapted to the session's speaker once
it has heard enough), and the smoothing.

* **Speech gate.**  :func:`serlive.vad.is_silent` over the window's frame
  RMS (dBFS) against the model metadata's ``windows.silence_dbfs`` first (free);
  a window that passes it goes to the voice-activity detector
  (:func:`serlive.vad.speech_windows`) with the window's samples read back from
  the ring, exactly as file analysis does, so both flag the same windows.  A
  "silent" (no speech) window's label is "no speech" and it does not move the
  smoothing.  By default it is still run through the model (its probabilities
  are published, for parity with file analysis and debugging); with
  ``skip_silent`` (the desktop app and ``listen``) it is not, and its
  ``probabilities`` are None: nobody shows them, and a listener in a quiet
  room then costs the features and the VAD, not the encoder, per hop.
* **Smoothing.**  Exponential: ``s = alpha*s + (1-alpha)*p`` over non-silent
  windows; ``alpha = 0`` turns it off.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.adaptation import AdaptationConfig, SessionStats
from serlive.config import FeatureConfig, WindowConfig
from serlive.features import FeatureExtractor
from serlive.live.results import ModelLike, Result
from serlive.live.run import Run
from serlive.vad import SpeechDetector, is_silent, new_speech_s, speech_chunks

FloatArray = NDArray[np.float32]


class WindowMixin:
    """Judging one window of the running stream: gate, VAD, model, adaptation, smoothing."""

    model: ModelLike
    features: FeatureConfig
    extractor: FeatureExtractor
    window_config: WindowConfig
    detector: SpeechDetector | None
    adaptation: AdaptationConfig | None
    labels: tuple[str, ...]
    window: int
    hop: int
    sample_rate: int
    n_window_frames: int
    silence_dbfs: float
    skip_silent: bool
    adapt: bool
    smoothing: float

    def _window(self, run: Run, start: int, index: int | None = None) -> Result | None:
        end = start + self.window
        g0, g1 = run.gap
        if start < g1 and end > g0:
            return None
        fh = self.features.hop_length
        f_lo = start // fh
        f_hi = f_lo + self.n_window_frames
        if not run.frames.ensure(f_lo, f_hi, run.ring.read):
            return None
        raw, rms = run.frames.window(f_lo, f_hi)
        silent = quiet = is_silent(rms, self.silence_dbfs)
        # the samples this window adds to the last analysed one: the speech among them is what the
        # session has newly heard (a whole hop per voiced window over-counted pauses)
        lo = max(run.heard_to, start) - start
        run.heard_to = end
        heard = 0.0 if silent else (self.window - lo) / self.sample_rate
        if not silent and self.detector is not None:  # the VAD, on the worker (never in the callback)
            samples = run.ring.read(start, self.window)
            if samples is None:
                return None
            # the window rule, keeping the chunks for the count above
            speech, voiced = speech_chunks(samples[None], np.ones(1, bool), self.window_config, self.detector)
            silent = not bool(speech[0])
            chunks = voiced[0]
            heard = (
                0.0 if silent or chunks is None else new_speech_s(chunks, lo, self.window, self.sample_rate)
            )
        probs: FloatArray | None
        if silent and self.skip_silent:  # neither the window's input nor the model: nothing shows them
            session = run.session
            probs, adapted = None, bool(self.adapt and session is not None and session.ready)
        else:
            probs, adapted = self._probabilities(run, self.extractor.window_input(raw), silent, heard)
        if probs is not None and not silent:
            a = self.smoothing
            if run.smoothed is None or a == 0.0:
                run.smoothed = probs.copy()
            else:
                run.smoothed = (a * run.smoothed + (1.0 - a) * probs).astype(np.float32)
        arrived = run.ring.arrival_time(end - 1)
        now = time.perf_counter()
        latency = None if arrived is None else now - arrived
        return Result(
            index=start // self.hop if index is None else index,
            start=start,
            end=end,
            sample_rate=self.sample_rate,
            probabilities=probs,
            silent=silent,
            smoothed=None if run.smoothed is None else run.smoothed.copy(),
            latency_s=latency,
            labels=self.labels,
            adapted=adapted,
            speech_heard_s=0.0 if run.session is None else run.session.heard_s,
            new_speech_s=heard,
            quiet=quiet,
            produced_at=now,
        )

    def _probabilities(self, run: Run, x: FloatArray, silent: bool, heard: float) -> tuple[FloatArray, bool]:
        """The model's probabilities for one window; adapted to the session's speaker when asked and ready."""
        if self.adaptation is None:
            return np.asarray(self.model.predict(x[None])[0], dtype=np.float32), False
        if run.session is None:
            run.session = SessionStats(self.adaptation)
        model: Any = self.model  # an EmotionModel: only it has an adaptation
        probs, emb = model.encode(x[None])
        if not silent:
            run.session.add(emb[0], heard)
        if self.adapt and run.session.ready:
            mean, scale = run.session.normaliser()
            return self.adaptation.combine(probs[0], model.adapt(emb, mean, scale)[0]), True
        return np.asarray(probs[0], dtype=np.float32), False
