"""Takes: recordings started and ended on a running stream (a mixin of :class:`serlive.live.engine.Engine`).

Split from ``serlive/live/engine.py`` (issue 20, the house).  Why takes run on the stream instead of
opening a stream of their own: a stream a sound server has just opened delivers its first audio
0.3-1.9 s late, so a take that opened its own stream lost the user's first words.  The caller's
thread creates the file and hands the take to the worker with one reference store; the worker
writes the model-rate samples from the model-rate ring (kept until written) and closes the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.audio.record import WavRecorder
from serlive.live.results import EngineError

FloatArray = NDArray[np.float32]


class Take:
    """One recording on a running stream: model-rate samples ``[start, end)`` go to ``recorder``.

    Why on the stream and not a stream of its own: opening an input stream can take a second or
    two before the device delivers (a sound server), so a take that opened its own stream lost
    the user's first words.  A take started on a running stream begins at the press.
    """

    def __init__(self, recorder: WavRecorder, start: int) -> None:
        self.recorder = recorder
        self.start = start
        self.pos = start  #: next model-rate sample to write
        #: one past the last sample (set by :meth:`Engine.stop_take`; None: until the stream ends)
        self.end: int | None = None


class TakesMixin:
    """Engine methods for takes; the engine provides ``_run`` (``take``, ``last_take``) and settings."""

    _run: Any
    sample_rate: int
    flush_interval_s: float
    on_flush: Any
    number_takes: bool
    running: bool  # the engine's property

    def _recorder(self, path: str | Path) -> WavRecorder:
        """A new take's file (numbered when ``path`` exists and :attr:`number_takes`; never overwritten)."""
        rate, flush = self.sample_rate, self.flush_interval_s
        return WavRecorder(path, rate, flush, self.on_flush, numbered=self.number_takes)

    def start_take(self, path: str | Path) -> Path:
        """Start recording the running stream to ``path`` (numbered if it exists) from this moment on.

        The take holds the model-rate samples from the one that arrived at this call onward; the
        stream, its windows and its session statistics go on undisturbed.  Returns the file really
        written (``take-3.wav`` when ``take.wav`` and ``take-2.wav`` exist).  Raises RecordError
        when the file cannot be created, EngineError when no stream runs or a take is going.
        """
        run = self._run
        if run is None or not self.running or run.stop.is_set():
            raise EngineError("no stream is running: start() it first")
        if run.take is not None:
            raise EngineError(f"already recording to {run.take.recorder.path}")
        recorder = self._recorder(path)
        run.take = Take(recorder, self._now_index(run))  # one reference store: the worker sees it whole
        run.capture.wake()
        return recorder.path

    def stop_take(self) -> Path | None:
        """End the take at this moment; the worker writes its last samples and closes the file.

        Returns the take's file (None when none was being recorded).  :attr:`recording` turns
        False once the file is closed.
        """
        run = self._run
        take = None if run is None else run.take
        if run is None or take is None:
            return None
        take.end = max(take.start, self._now_index(run))
        run.capture.wake()
        return take.recorder.path

    def end_take_at(self, end: int) -> None:
        """End the current take at model-rate sample ``end`` of the stream, whenever that arrives.

        Why: ``listen --duration 25 --record x.wav`` stopped on the wall clock and wrote the samples
        captured by then, 25.10 s; a take cut at its sample count holds exactly the duration asked
        for (issue 28, item 11).  Never before what is already written.  Raises EngineError when no
        take is being recorded.
        """
        run = self._run
        take = None if run is None else run.take
        if take is None:
            raise EngineError("no take is being recorded")
        take.end = max(take.pos, take.start, int(end))
        run.capture.wake()

    @property
    def recording(self) -> bool:
        """True while a take is open (started and not yet closed by the worker)."""
        run = self._run
        return run is not None and run.take is not None

    def _now_index(self, run: Any) -> int:
        """The model-rate index of the sample the source delivers next: "now" on the stream's clock."""
        captured = run.capture.written
        if run.resampler is None:
            return captured
        # the model-rate ring starts after any stale audio skipped at Start (never resampled)
        return round((captured - run.skipped) * self.sample_rate / run.source.sample_rate)

    def _current_take(self) -> Take | None:
        run = self._run
        return None if run is None else (run.take or run.last_take)

    @property
    def record_path(self) -> Path | None:
        """The file of the current (or last) take (:attr:`record` or start_take's path, numbered)."""
        take = self._current_take()
        return None if take is None else take.recorder.path

    @property
    def recorded_samples(self) -> int:
        """Samples written to the current (or last) take."""
        take = self._current_take()
        return 0 if take is None else take.recorder.frames_written

    def _record(self, run: Any, moved: FloatArray | None = None, moved_end: int = 0) -> None:
        """Write the take's samples that are in the model-rate ring now; close it once past its end.

        ``moved``: the capture samples ``[moved_end - len(moved), moved_end)`` just moved on (when
        the device runs at the model's rate), written instead of reading them back: a sample the
        producer overwrote before the worker got to it is a zero there, so the take stays aligned
        with real time.  Without it, everything the model-rate ring holds is written.
        """
        take = run.take
        if take is None:
            return
        end = take.end  # read once: the caller's thread may set it meanwhile
        limit = run.ring.written if moved is None else moved_end
        hi = limit if end is None else min(end, limit)
        if hi > take.pos:
            n = hi - take.pos
            if moved is not None and take.pos >= moved_end - len(moved):
                first = take.pos - (moved_end - len(moved))
                data: FloatArray | None = moved[first : first + n]
            else:
                data = run.ring.read(take.pos, n) if n <= run.ring.capacity else None
            take.recorder.write(np.zeros(n, np.float32) if data is None else data)
            take.pos = hi
        if end is not None and take.pos >= end:
            take.recorder.close()
            run.last_take, run.take = take, None
