"""What an analysis returns: one window's result, and a whole file's (and the rule that labels them).

Why a module of its own: the file analysis (:mod:`serlive.files.analysis`), the
utterance segmenter (:mod:`serlive.segments`), the label sets and the GUI all
speak these two types; kept here, beneath all of them, none has to import
another to name them (the segmenter and the analysis once imported each other).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


class Labelled:
    """The label shown for probabilities over ``labels``: the most probable one, and its probability.

    One rule for a file's aggregate (:class:`Analysis`) and an utterance's
    (:class:`serlive.segments.Utterance`), so the two never disagree on a tie.
    A mixin, not a dataclass: each subclass keeps its own fields and their order.
    """

    labels: tuple[str, ...]
    probabilities: NDArray[np.float32]

    @property
    def label(self) -> str:
        """Most probable label."""
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        """Probability of :attr:`label`."""
        return float(np.max(self.probabilities))


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
class Analysis(Labelled):
    """A whole file's result: per-window timeline and an aggregate (its label: :class:`Labelled`)."""

    duration_s: float
    labels: tuple[str, ...]
    windows: list[WindowResult] = field(default_factory=list)
    probabilities: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    speech: bool = True
    #: the windows' probabilities come from the session-adapted head (:func:`adapt_to_session`)
    adapted: bool = False
    #: window hop used (seconds): how much new speech each voiced window brings to a session
    hop_s: float = 0.0
