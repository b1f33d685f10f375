"""Utterances of a live stream (a mixin of :class:`serlive.live.engine.Engine`).

Split from ``serlive/live/engine.py``.  The stream's samples go to a segmenter
(:class:`serlive.segments.LiveUtterances`, the rule of ``predict --segments``)
as they arrive; an utterance a pause has closed is labelled once the windows
the file path would use are in, and goes to :attr:`Engine.utterances`.
"""

from __future__ import annotations

import queue
from typing import Any

import numpy as np

from serlive.live.run import Run, put_newest
from serlive.segments import Utterance


class UtterancesMixin:
    """Feeding the stream's segmenter and publishing its utterances."""

    utterances: queue.Queue[Utterance]
    _run: Any

    def _feed_utterances(self, run: Run) -> None:
        """Hand the model-rate samples that arrived since the last call to the stream's segmenter."""
        end = run.ring.written
        if run.utts is None:
            return
        piece = max(1, run.ring.capacity // 2)
        while run.seg_fed < end:
            n = min(end - run.seg_fed, piece)
            y = run.ring.read(run.seg_fed, n)
            if y is None:  # overwritten while the worker was stalled: a gap, as the recording has
                y = np.zeros(n, np.float32)
            run.seg_fed += n
            for u in run.utts.feed(y):
                self._publish_utterance(u)

    def _publish_utterance(self, u: Utterance) -> None:
        put_newest(self.utterances, u)

    @property
    def open_utterance_s(self) -> float | None:
        """Start (s) of the utterance under way, None in a pause or without a stream."""
        run = self._run
        return None if run is None or run.utts is None else run.utts.open_since_s
