"""What one live stream owns (:class:`Run`), and a bounded call of a source's ``stop``.

Split from ``serlive/live/engine.py``: the engine (:class:`serlive.live.engine.Engine`)
starts a new :class:`Run` for every stream, so a worker that outlives ``stop()``
keeps writing to its own run's rings and counters, never the next stream's.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.adaptation import SessionStats
from serlive.audio.ring import RingBuffer
from serlive.audio.sources import AudioSource
from serlive.live.frame_cache import FrameCache
from serlive.live.hop import HopGovernor
from serlive.live.results import EngineStats, Result, StreamEnd
from serlive.live.takes import Take
from serlive.segments import LiveUtterances

log = logging.getLogger("serlive.live.engine")

FloatArray = NDArray[np.float32]

#: For this long after Start a realtime source is watched for audio that predates Start ...
_BACKLOG_WATCH_S = 1.0
#: ... i.e. for more audio than the time since Start holds, by more than this (blocks arrive unevenly)
_BACKLOG_SLACK_S = 1.5


def bounded_stop(stop: Callable[[float], bool], timeout: float) -> bool:
    """Call a source's ``stop(timeout)`` without trusting it to honour the timeout."""
    done = threading.Event()
    ok: list[bool] = []

    def call() -> None:
        try:
            ok.append(bool(stop(timeout)))
        except Exception:
            log.exception("stopping the audio source failed")
            ok.append(False)
        finally:
            done.set()

    threading.Thread(target=call, name="serlive-source-stop", daemon=True).start()
    return done.wait(timeout + 0.1) and all(ok)


class Run:
    """Everything one stream owns, so a worker that outlives ``stop()`` cannot touch the next stream."""

    def __init__(
        self, source: AudioSource, capture: RingBuffer, model_ring: RingBuffer, frames: FrameCache
    ) -> None:
        self.source = source
        self.frames = frames
        self.capture = capture
        self.ring = model_ring
        self.resampler: Any = None
        #: the take being recorded (None: none); set by the caller's thread, ended by the worker
        self.take: Take | None = None
        #: the last take that ended (its file is closed)
        self.last_take: Take | None = None
        self.cursor = 0  # capture samples moved on (resampled / recorded)
        self.next_start = 0  # the next window on the base hop's grid to analyse or skip
        #: the adaptive hop (None: a fixed hop); the hop in base hops is ``hop_factor``, and while
        #: it is over 1 the windows analysed are those ``hop_factor`` base hops apart from ``hop_anchor``
        self.governor: HopGovernor | None = None
        self.hop_anchor = 0
        self.last_analysed = -1  # start of the newest regular window analysed (-1: none yet)
        self.last_hop_skipped = -1  # start of the newest window the widened hop passed over (-1: none)
        self.heard_to = 0  # end of the last analysed window: later samples are new to the session
        self.backlog_checked = False  # past the time a stale backlog at Start is looked for
        self.skipped = 0  # capture samples skipped as stale (delivered faster than the clock allows)
        self.smoothed: FloatArray | None = None
        #: this stream's speaker statistics (None: the model cannot adapt); a new stream starts afresh
        self.session: SessionStats | None = None
        self.gap = (0, 0)  # model-rate samples zero-filled after a capture overflow (resampling only)
        self.stop = threading.Event()
        self.ending = False  # the worker is past its loop (closing the source, publishing the end)
        self.done = threading.Event()
        self.error: str | None = None
        self.thread: threading.Thread | None = None
        self.t_start = time.perf_counter()
        self.stats_lock = threading.Lock()
        self.stats = EngineStats()
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.callback_errors = 0
        self.utts: LiveUtterances | None = None  # the stream's utterances (None: not asked for)
        self.seg_fed = 0  # model-rate samples handed to ``utts``

    @property
    def hop_factor(self) -> int:
        """The hop in base hops: the governor's (1 for a fixed hop)."""
        return 1 if self.governor is None else self.governor.factor


def skip_backlog(run: Run, hop: int) -> None:
    """Skip audio that predates Start: more samples than the time since Start can hold.

    Why: once, after 4 minutes idle on a fresh sound server, Start showed 298 windows after 7 s and
    a minute of "no speech": the device handed over a backlog far faster than real time and every
    window of it was analysed.  A stream's results must be about audio after Start, so during its
    first second, samples beyond what the elapsed time holds (plus :data:`_BACKLOG_SLACK_S` for
    uneven blocks) are stale: the oldest are skipped, leaving the elapsed time's worth.  Counted
    in :attr:`EngineStats.stale_samples`.  (A file replayed faster than real time declares its
    ``speed``; only the first second is watched, so a device clock a little fast is never cut.)
    """
    elapsed = time.perf_counter() - run.t_start
    if elapsed > _BACKLOG_WATCH_S:
        run.backlog_checked = True
    rate = run.source.sample_rate * float(getattr(run.source, "speed", 1.0) or 1.0)
    written = run.capture.written
    if written - run.skipped <= (elapsed + _BACKLOG_SLACK_S) * rate:
        return
    keep_from = written - int(elapsed * rate)  # the newest elapsed-time's worth is after Start
    k = keep_from - run.cursor
    if k <= 0:
        return
    run.cursor = keep_from
    run.skipped += k
    if run.resampler is None:  # windows and the take start after the stale audio
        run.next_start = max(run.next_start, -(-keep_from // hop) * hop)
        run.heard_to = max(run.heard_to, run.next_start)
        take = run.take
        if take is not None and take.pos < keep_from and take.pos == take.start:
            take.start = take.pos = keep_from
    run.capture.release(run.cursor if run.resampler is not None else min(run.cursor, run.next_start))
    with run.stats_lock:
        run.stats.stale_samples = run.skipped
    log.warning("skipped %d samples of stale audio delivered at Start", k)


def put_newest(q: queue.Queue[Any], item: Any) -> bool:
    """Put ``item`` without blocking; when ``q`` is full, drop its oldest item first (True then).

    Why: the worker must never wait for a reader (the GUI's timer, ``listen``); a reader that
    stopped reading misses old results, never the newest.  One worker puts, so the retry fits.
    """
    try:
        q.put_nowait(item)
        return False
    except queue.Full:
        with contextlib.suppress(queue.Empty):
            q.get_nowait()
        q.put_nowait(item)
        return True


def drain_results(results: queue.Queue[Result | StreamEnd]) -> tuple[list[Result], StreamEnd | None]:
    """Everything waiting in ``results``, without blocking: the windows, and the stream's end if it came."""
    out: list[Result] = []
    ended: StreamEnd | None = None
    while True:
        try:
            item = results.get_nowait()
        except queue.Empty:
            return out, ended
        if isinstance(item, StreamEnd):
            ended = item
        else:
            out.append(item)
