"""What the live engine publishes: a :class:`Result` per window, :class:`StreamEnd` after the last,
:class:`EngineStats` counters; and what it needs of a model (:class:`ModelLike`).

Split from ``serlive/live/engine.py`` (issue 20, the house); import them from either module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from serlive.features import FeatureExtractor

FloatArray = NDArray[np.float32]


class ModelLike(Protocol):
    """What the engine needs of :class:`serlive.model.EmotionModel`."""

    meta: Any
    extractor: FeatureExtractor
    labels: tuple[str, ...]

    def predict(self, inputs: FloatArray) -> FloatArray: ...


class EngineError(Exception):
    """The engine cannot start (or restart); ``str()`` says why."""


@dataclass(frozen=True)
class Result:
    """One analysed window."""

    #: window number: ``start == index * hop`` (a replayed file's last window, aligned to its end: the
    #: number after the last regular one)
    index: int
    start: int  #: first sample (model rate, since the stream started)
    end: int  #: one past the last sample
    sample_rate: int
    #: the model's output; None for a no-speech window the engine did not run the model on (``skip_silent``)
    probabilities: FloatArray | None
    silent: bool
    #: exponentially smoothed probabilities over non-silent windows (None before the first)
    smoothed: FloatArray | None
    #: seconds from the arrival of the window's last sample to publishing (None if unknown)
    latency_s: float | None
    labels: tuple[str, ...]
    #: the probabilities come from the session-adapted head (see :mod:`serlive.adaptation`)
    adapted: bool = False
    #: seconds of speech the session statistics hold so far (0 for a model that cannot adapt)
    speech_heard_s: float = 0.0
    #: seconds of speech in the samples this window added to the last analysed one (0 when silent)
    new_speech_s: float = 0.0
    #: silent because it is below the level gate (too quiet to judge); False for a loud window the
    #: voice-activity detector found no voice in (a tone, music, noise): the two say different things
    quiet: bool = False
    #: ``time.perf_counter()`` when the engine made it (None if unknown); with :attr:`latency_s` it gives
    #: the arrival of the window's last sample, so a consumer can measure the time until it is shown
    produced_at: float | None = None

    @property
    def start_s(self) -> float:
        """Window start in seconds since the stream started."""
        return self.start / self.sample_rate

    @property
    def end_s(self) -> float:
        """Window end in seconds."""
        return self.end / self.sample_rate

    @property
    def shown(self) -> FloatArray | None:
        """The probabilities to show: smoothed when available (None only for a skipped no-speech window)."""
        return self.smoothed if self.smoothed is not None else self.probabilities

    @property
    def label(self) -> str:
        """``"no speech"`` for a silent window, else the most probable (smoothed) label."""
        if self.silent or self.shown is None:
            return "no speech"
        return self.labels[int(np.argmax(self.shown))]

    @property
    def confidence(self) -> float:
        """Probability of :attr:`label` (0 when silent)."""
        return 0.0 if self.silent or self.shown is None else float(np.max(self.shown))

    def to_dict(self, ndigits: int = 4) -> dict[str, Any]:
        """The JSON object ``serlive listen --format json`` prints."""

        def probs(p: FloatArray | None) -> dict[str, float] | None:
            if p is None:
                return None
            return {k: round(float(v), ndigits) for k, v in zip(self.labels, p, strict=True)}

        return {
            "index": self.index,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "silent": self.silent,
            "label": self.label,
            "confidence": round(self.confidence, ndigits),
            "probabilities": probs(self.probabilities),
            "smoothed": probs(self.smoothed),
            "latency_ms": None if self.latency_s is None else round(1000 * self.latency_s, 2),
            "adapted": self.adapted,
        }


@dataclass
class EngineStats:
    """Counters of one stream; a snapshot is safe to keep."""

    windows: int = 0
    dropped_windows: int = 0
    #: samples lost because the worker fell more than the ring's length behind
    dropped_samples: int = 0
    #: blocks the device reported as overflowed before they reached us
    device_overflows: int = 0
    #: model-rate samples received
    samples: int = 0
    sample_rate: int = 16000
    #: CPU time of the worker thread (features, model, gating, resampling, recording)
    worker_cpu_s: float = 0.0
    results_discarded: int = 0
    #: samples (at the source's rate) skipped at Start as stale: delivered faster than time allows
    stale_samples: int = 0
    latencies_s: list[float] = field(default_factory=list)
    #: the hop asked for, in seconds (``Engine(hop_s=...)``)
    base_hop_s: float = 0.0
    #: the hop in use now: the base hop, or a multiple of it while the worker is busy (``adaptive_hop``)
    hop_s: float = 0.0
    #: times the adaptive hop widened or returned to the base hop
    hop_changes: int = 0
    #: windows analysed at the widened hop
    widened_windows: int = 0
    #: base-hop windows not analysed because the hop was widened (the late ones are ``dropped_windows``)
    hop_skipped_windows: int = 0

    @property
    def widened(self) -> bool:
        """The adaptive hop is wider than the base hop now (the worker is busy)."""
        return self.hop_s > self.base_hop_s + 1e-9 and self.base_hop_s > 0

    @property
    def audio_s(self) -> float:
        """Seconds of audio received."""
        return self.samples / self.sample_rate

    def latency_ms(self, q: float) -> float | None:
        """Latency quantile ``q`` (0-100) in ms, None without measurements."""
        if not self.latencies_s:
            return None
        return float(np.percentile(self.latencies_s, q)) * 1000

    def summary(self) -> str:
        """One line for the end of ``serlive listen``."""
        med, p95 = self.latency_ms(50), self.latency_ms(95)
        lat = "n/a" if med is None or p95 is None else f"median {med:.1f} ms, p95 {p95:.1f} ms"
        extra = f", device overflows {self.device_overflows}" if self.device_overflows else ""
        if self.hop_changes:  # the adaptive hop widened while the machine was busy
            extra += (
                f", hop changes {self.hop_changes} ({self.widened_windows} windows at the wider hop, "
                f"{self.hop_skipped_windows} skipped)"
            )
        return (
            f"{self.windows} windows over {self.audio_s:.1f} s, dropped windows {self.dropped_windows}, "
            f"dropped samples {self.dropped_samples}{extra}, latency {lat}"
        )


@dataclass(frozen=True)
class StreamEnd:
    """Published after the last result of a stream: why it ended and its final counters."""

    error: str | None
    stats: EngineStats
