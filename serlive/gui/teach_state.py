""" "Teach it my voice": what the guided session asks for and records, without Qt.

Why Qt-free: the plan (which emotions, how many takes, which sentence), the takes' files and a
take's recording from any :class:`serlive.audio.sources.AudioSource` are logic that tests drive
directly; :mod:`serlive.gui.teach_dialog` only shows them.

The takes are written as WAV files in one folder per emotion beside the profile
(``<profiles>/<name>.takes/<emotion>/take-N.wav``): the same layout ``serlive calibrate DIR``
reads, so the fit is the CLI's, and the user can fit again from the terminal, add clips, or
delete the folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from serlive.audio.ring import RingBuffer
from serlive.audio.sources import AudioSource

#: sentences with no emotion of their own, so the voice carries it (RAVDESS's design: two neutral
#: statements for every emotion); one per emotion, in turn
PROMPTS = (
    "Kids are talking by the door.",
    "Dogs are sitting by the door.",
    "The meeting starts at three o'clock.",
    "I put the keys on the kitchen table.",
    "The bus leaves from the corner of the street.",
    "We talked about it on Tuesday.",
    "The letter arrived this morning.",
    "There are seven chairs in the room.",
)
#: how each emotion is asked for
HOW = {
    "neutral": "in your ordinary, neutral voice",
    "calm": "calmly, relaxed",
    "happy": "happily, as if it were good news",
    "sad": "sadly, as if it were bad news",
    "angry": "angrily, as if it annoys you",
    "fearful": "fearfully, as if it frightens you",
    "disgust": "with disgust, as if it repels you",
    "surprised": "with surprise, as if you did not expect it",
}
TAKE_S = 4.0  #: seconds a take records
COUNTDOWN_S = 3  #: seconds counted down before a take
MIN_TAKES, MAX_TAKES = 2, 4


def prompt_for(emotion: str, index: int) -> tuple[str, str]:
    """(sentence, how to say it) for the ``index``-th emotion of the session."""
    return PROMPTS[index % len(PROMPTS)], HOW.get(emotion, f"as you sound when you feel {emotion}")


@dataclass
class TeachPlan:
    """The session: the emotions asked for, in order, how many takes each, and where they go."""

    emotions: tuple[str, ...]
    takes_per_emotion: int
    folder: Path
    takes: dict[str, list[Path]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.emotions) < 2:
            raise ValueError("a profile needs two or more emotions to tell apart")
        self.takes_per_emotion = min(MAX_TAKES, max(MIN_TAKES, int(self.takes_per_emotion)))
        self.takes = {e: [] for e in self.emotions}

    def take_path(self, emotion: str) -> Path:
        """Where the next take of ``emotion`` goes (never over an existing file)."""
        folder = self.folder / emotion
        n = len(self.takes[emotion]) + 1
        while (folder / f"take-{n}.wav").exists():
            n += 1
        return folder / f"take-{n}.wav"

    def add_take(self, emotion: str, samples: NDArray[np.float32], sample_rate: int) -> Path:
        """Write a take and count it."""
        path = self.take_path(emotion)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, samples, sample_rate, subtype="PCM_16")
        self.takes[emotion].append(path)
        return path

    def drop_last(self, emotion: str) -> None:
        """Take again: the last take of ``emotion`` is deleted."""
        if self.takes[emotion]:
            self.takes[emotion].pop().unlink(missing_ok=True)

    def done(self, emotion: str) -> bool:
        """``emotion`` has its takes."""
        return len(self.takes[emotion]) >= self.takes_per_emotion

    @property
    def complete(self) -> bool:
        """Every emotion has its takes: the fit can run."""
        return all(self.done(e) for e in self.emotions)


class TakeRecorder:
    """One take from ``source``: ``seconds`` of its samples, with the level of the newest ones.

    The source writes into a ring of its own from its thread (the callback only copies); the
    dialog polls :attr:`level_dbfs` and :attr:`finished` from a GUI timer and takes the samples
    with :meth:`stop` once enough have come.
    """

    def __init__(self, source: AudioSource, seconds: float = TAKE_S) -> None:
        self.source = source
        self.rate = int(source.sample_rate)
        self.wanted = round(seconds * self.rate)
        self.ring = RingBuffer(self.wanted + self.rate)
        source.start(self.ring)

    @property
    def received(self) -> int:
        """Samples in so far."""
        return int(self.ring.written)

    @property
    def finished(self) -> bool:
        """The take is long enough, or the source ended or failed."""
        return self.received >= self.wanted or self.source.finished or self.source.error is not None

    @property
    def level_dbfs(self) -> float:
        """Peak of the last 50 ms in dBFS (-inf before any sample)."""
        n = min(self.received, max(1, self.rate // 20))
        if n == 0:
            return -math.inf
        _, tail = self.ring.latest(n)
        peak = float(np.max(np.abs(tail))) if len(tail) else 0.0
        return 20 * math.log10(max(peak, 1e-6))

    def stop(self, model_rate: int) -> NDArray[np.float32]:
        """Stop the source; the take's samples at ``model_rate`` (raises OSError on a device error)."""
        self.source.stop()
        if self.source.error is not None and self.received == 0:
            raise OSError(self.source.error)
        n = min(self.received, self.wanted)
        y = self.ring.read(self.received - n, n) if n else np.zeros(0, np.float32)
        y = np.zeros(0, np.float32) if y is None else y
        if self.rate != model_rate and len(y):
            import soxr

            y = soxr.resample(y, self.rate, model_rate).astype(np.float32)
        return np.asarray(y, np.float32)
