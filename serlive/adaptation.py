"""Session adaptation: judge a speaker against their own voice, not against everyone's.

Why: a person's voice, language and microphone shift the encoder's pooled
embedding far more than their emotions do; the cross-corpus protocol
measured that standardising each speaker's embeddings by that speaker's own
(unlabelled) speech lifts accuracy on unseen corpora by several points.  A
live session is one speaker on one microphone, so the app can do the same:
keep running statistics of the session's voiced windows and, once enough
speech has been heard, feed the normalised embedding to a second head that
was trained on normalised embeddings.

Both heads live in the model file (signatures ``encode`` and ``adapt``); the
metadata's ``adaptation`` block says how the statistics are formed and how
much speech they need.  No Qt, no TensorFlow: used by the live engine and by
``serlive predict --session``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: ways of forming the session normaliser the app knows: subtract the mean; or also divide by the spread
STATISTICS = ("mean", "mean_std")


@dataclass(frozen=True)
class AdaptationConfig:
    """What the model's ``adapt`` head expects of the session statistics (metadata ``adaptation``)."""

    #: "mean": x - mean; "mean_std": (x - mean) / (std + floor)
    statistics: str = "mean_std"
    #: seconds of voiced audio heard before the statistics are used (plain head until then)
    min_speech_s: float = 20.0
    #: added to the spread, so a dimension that barely moves is not blown up
    floor: float = 1e-3
    #: once adapted, the share of the plain head's probabilities averaged in (0: the adapted head alone);
    #: why: statistics of a short session are noisy, and the plain head is right where they mislead
    blend: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AdaptationConfig:
        """Parse the metadata block; a ValueError names what the app cannot honour."""
        if not isinstance(d, dict):
            raise ValueError("adaptation metadata is not an object")
        cfg = cls(
            statistics=str(d.get("statistics", "")),
            min_speech_s=float(d["min_speech_s"]),
            floor=float(d.get("floor", cls.floor)),
            blend=float(d.get("blend", 0.0)),
        )
        if cfg.statistics not in STATISTICS:
            raise ValueError(f"adaptation statistics {cfg.statistics!r} is not one of {STATISTICS}")
        if not cfg.min_speech_s > 0 or not cfg.floor > 0:
            raise ValueError("adaptation min_speech_s and floor must be positive")
        if not 0.0 <= cfg.blend < 1.0:
            raise ValueError(f"adaptation blend {cfg.blend} is not in [0, 1)")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """The metadata block."""
        return {
            "statistics": self.statistics,
            "min_speech_s": self.min_speech_s,
            "floor": self.floor,
            "blend": self.blend,
        }

    def combine(self, plain: NDArray[np.float32], adapted: NDArray[np.float32]) -> NDArray[np.float32]:
        """What the app shows once adapted: the adapted head's probabilities with ``blend`` of the plain's."""
        if self.blend == 0.0:
            return np.asarray(adapted, np.float32)
        return ((1.0 - self.blend) * np.asarray(adapted) + self.blend * np.asarray(plain)).astype(np.float32)


class SessionStats:
    """Running mean and spread of one session's voiced-window embeddings (Welford, float64).

    Not thread-safe: owned by the thread that runs the model.  ``reset`` at
    every new stream (stop, device change): a new session may be a new
    speaker or a new microphone.
    """

    def __init__(self, config: AdaptationConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget everything heard."""
        self.n = 0
        self.heard_s = 0.0
        self._mean: NDArray[np.float64] | None = None
        self._m2: NDArray[np.float64] | None = None

    def add(self, embedding: NDArray[np.floating], seconds: float) -> None:
        """One voiced window's embedding; ``seconds`` of new speech it brings (the hop, live)."""
        e = np.asarray(embedding, np.float64).reshape(-1)
        if not np.all(np.isfinite(e)):
            return
        if self._mean is None or self._m2 is None:
            self._mean, self._m2 = np.zeros_like(e), np.zeros_like(e)
        self.n += 1
        delta = e - self._mean
        self._mean += delta / self.n
        self._m2 += delta * (e - self._mean)
        self.heard_s += float(seconds)

    @property
    def ready(self) -> bool:
        """Enough speech heard for the statistics to be used."""
        return self.n >= 2 and self.heard_s >= self.config.min_speech_s

    def normaliser(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """``(mean, scale)`` for the ``adapt`` head: it computes ``(embedding - mean) / scale``."""
        if self._mean is None or self._m2 is None or self.n < 2:
            raise ValueError("no session statistics yet")
        mean = self._mean.astype(np.float32)
        if self.config.statistics == "mean":
            return mean, np.ones_like(mean)
        std = np.sqrt(self._m2 / self.n)
        return mean, (std + self.config.floor).astype(np.float32)
