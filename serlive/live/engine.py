"""The live engine: audio source → ring buffer → 3 s windows → features → int8 model → results.

One worker thread per stream does everything after the audio callback:

* **Windows on absolute sample indices.**  Window ``k`` covers model-rate
  samples ``[k*hop, k*hop + window)`` and is analysed as soon as its last
  sample has arrived: exactly the windows :func:`serlive.windows.window_starts`
  gives a file, so streaming a file and ``serlive predict --timeline`` agree.
* **Incremental features.**  Raw frames (frame ``i`` covers samples
  ``[i*hop_length, i*hop_length + n_fft)``) are computed once, when a window
  first needs them, and kept in a small frame cache; each new window costs
  only its new frames (25 at the default 0.5 s hop) plus the per-window
  normalisation.  Frames are computed in batches of at least
  :func:`min_frame_batch` rows (re-doing some old frames, or zero-padding
  before the first): OpenBLAS uses a small-matrix kernel with a different
  summation order when ``rows x filters x bins`` is small, which would make a
  25-frame batch differ from the file path's whole-file batch in the last bit.
  With the larger batch the frames here are bit-identical to the file path's
  (checked on the development machine).  On another CPU (AMD EPYC) the float32
  product's order followed the batch size at any size, so the filterbank
  products are now done in float64 (:meth:`FeatureExtractor._project`), which
  is row-independent after rounding; the batch floor stays as a second guard.
* **One window** (:mod:`serlive.live.window`): the speech gate, the model and
  the smoothing.
* **Utterances.**  The stream's model-rate samples also go to a
  :class:`serlive.segments.LiveUtterances` (the rule of ``predict --segments``);
  an utterance a pause has closed is labelled once the windows the file path
  would use for it are in (about 3 s after its end) and goes to
  :attr:`Engine.utterances`.  It adds 0.1-0.2 s of worker CPU to 2 minutes of
  replayed audio (10-20 % of the worker's own), well under 1 % of a core live.
* **Resampling.**  A device that cannot run at the model's rate is opened at
  its own rate; the worker resamples with a streaming ``soxr.ResampleStream``
  into a second, model-rate ring.  Not in the callback: ``resample_chunk``
  allocates its output on every call, and the callback must stay a copy.
* **Latency.**  From the arrival of the window's last sample (the ring stamps
  each block as it is written) to the result being published.
* **Late windows.**  For a realtime source the worker analyses the newest
  complete window and counts skipped ones as dropped when it falls behind;
  a source that is not realtime (file replay as fast as possible) gets every
  window.
* **Adaptive hop.**  With ``adaptive_hop`` (the desktop app) a realtime
  source's windows are analysed at a wider hop (1 s for the 0.5 s default)
  while the worker is busy: its windows take most of a hop, or audio waits
  (:mod:`serlive.live.hop` decides, with hysteresis).  The widened hop is a
  whole multiple of the base hop, so every window analysed is still on the
  base grid (a window the file path has too) and the return is seamless; the
  base-grid windows it passes over are counted
  (:attr:`EngineStats.hop_skipped_windows`) and the hop in use is in
  :meth:`Engine.stats` (``hop_s``) and :attr:`Engine.current_hop_s`.

Results go to a bounded thread-safe :attr:`Engine.results` queue and to an
optional ``on_result`` callback (called on the worker thread: a GUI turns it
into a signal).  When a stream ends, a :class:`StreamEnd` follows the last
result.  Nothing here imports Qt.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr
from numpy.typing import NDArray

from serlive.adaptation import AdaptationConfig
from serlive.audio.record import DEFAULT_FLUSH_INTERVAL_S, RecordError
from serlive.audio.ring import RingBuffer
from serlive.audio.sources import AudioSource
from serlive.live.frame_cache import FrameCache, min_frame_batch
from serlive.live.hop import HopGovernor, HopPolicy
from serlive.live.results import EngineError, EngineStats, ModelLike, Result, StreamEnd
from serlive.live.run import Run, bounded_stop, drain_results, put_newest, skip_backlog
from serlive.live.takes import Take, TakesMixin
from serlive.live.utterances import UtterancesMixin
from serlive.live.window import WindowMixin
from serlive.segments import LiveUtterances, Utterance
from serlive.vad import SAMPLE_RATE as SEGMENT_RATE
from serlive.vad import default_detector, vad_enabled

log = logging.getLogger(__name__)

__all__ = ["Engine", "EngineError", "EngineStats", "ModelLike", "Result", "StreamEnd", "min_frame_batch"]

FloatArray = NDArray[np.float32]

#: Longest piece of audio moved from the capture ring per step (bounds the worker's working set).
_PIECE_S = 1.0
#: How long the worker sleeps at most between checks when no window is due.
_IDLE_WAKE_S = 0.25


class Engine(TakesMixin, UtterancesMixin, WindowMixin):
    """Streams a source through the model; start, read results, stop, start again.

    ``model`` is an :class:`~serlive.model.EmotionModel` (or anything like it)
    or a path to load one from (None: the shipped model).  The model is used
    only by the worker thread of the running stream (a TFLite interpreter is
    not thread-safe); do not call it elsewhere while a stream runs.
    """

    def __init__(
        self,
        model: ModelLike | str | Path | None = None,
        *,
        hop_s: float | None = None,
        smoothing: float = 0.0,
        record: str | Path | None = None,
        on_result: Callable[[Result], None] | None = None,
        drop_late: bool | None = None,
        ring_s: float = 30.0,
        queue_size: int = 10_000,
        stall_timeout_s: float = 5.0,
        first_audio_timeout_s: float = 10.0,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        on_flush: Callable[[int], None] | None = None,
        number_takes: bool = True,
        adapt: bool = False,
        utterances: bool = True,
        skip_silent: bool = False,
        adaptive_hop: bool | HopPolicy = False,
    ) -> None:
        if model is None or isinstance(model, (str, Path)):
            from serlive.model import EmotionModel

            model = EmotionModel(model, num_threads=1)
        self.model: ModelLike = model
        meta = model.meta
        self.labels: tuple[str, ...] = tuple(model.labels)
        self.features = meta.features
        self.sample_rate = int(meta.features.sample_rate)
        self.silence_dbfs = float(meta.windows.silence_dbfs)
        self.window_config = meta.windows
        # loaded here, not on the worker: a missing VAD is an error at construction (VadError)
        self.detector = default_detector() if vad_enabled(meta.windows) else None
        self.extractor = model.extractor
        self.window = meta.windows.window_samples(self.sample_rate)
        hop_s = meta.windows.hop_s if hop_s is None else float(hop_s)
        self.hop = round(hop_s * self.sample_rate)
        fh = self.features.hop_length
        if self.hop <= 0 or self.hop % fh or abs(self.hop - hop_s * self.sample_rate) > 1e-6:
            step = fh / self.sample_rate
            raise ValueError(f"hop {hop_s} s must be a positive multiple of the {step:g} s frame hop")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError("smoothing alpha must be in [0, 1) (0 = off)")
        self.n_window_frames = self.extractor.n_frames(self.window)
        batch = max(self.n_window_frames, min_frame_batch(self.features))
        longest_read = (batch - 1) * fh + self.features.n_fft
        if ring_s * self.sample_rate < max(self.window, longest_read) + self.hop:
            raise ValueError(f"a {ring_s:g} s ring buffer cannot hold a window plus a hop")
        self.hop_s = self.hop / self.sample_rate
        self.smoothing = float(smoothing)
        self.record = None if record is None else Path(record)
        #: an engine started again with the same ``record`` writes ``take-2.wav``, ``take-3.wav``, ...
        #: (False: an existing file is a RecordError at start); a file is never overwritten
        self.number_takes = number_takes
        self.on_result = on_result
        self.drop_late = drop_late
        self.ring_s = float(ring_s)
        self.stall_timeout_s = stall_timeout_s
        self.first_audio_timeout_s = first_audio_timeout_s
        self.flush_interval_s = flush_interval_s
        self.on_flush = on_flush
        self.results: queue.Queue[Result | StreamEnd] = queue.Queue(maxsize=queue_size)
        self._run: Run | None = None
        #: how the model adapts to a session's speaker (None: it cannot)
        self.adaptation: AdaptationConfig | None = getattr(model, "adaptation", None)
        #: use the session-adapted head once enough speech is heard; may be switched while running
        #: (the statistics are kept either way, so switching on takes effect at once)
        self.adapt = bool(adapt)
        #: split the stream into utterances (:mod:`serlive.segments`, the rule of ``predict
        #: --segments``); each, once labelled, goes to :attr:`utterances` (newest kept when full)
        self.segment_utterances = bool(utterances) and self.sample_rate == SEGMENT_RATE
        self.utterances: queue.Queue[Utterance] = queue.Queue(maxsize=1000)
        #: run the model only on windows that hold speech (a no-speech result has probabilities None)
        self.skip_silent = bool(skip_silent)
        #: widen the hop while the worker is busy (realtime sources; None: the hop is fixed). Read at start.
        self.hop_policy: HopPolicy | None = (
            adaptive_hop if isinstance(adaptive_hop, HopPolicy) else HopPolicy() if adaptive_hop else None
        )

    # --- control -------------------------------------------------------------------------
    def start(self, source: AudioSource) -> None:
        """Start streaming ``source``; raises AudioDeviceError/RecordError/EngineError when it cannot."""
        old = self._run
        if old is not None and old.thread is not None and old.thread.is_alive():
            if not (old.done.is_set() or old.stop.is_set() or old.ending):
                raise EngineError("the engine is already running; stop() it first")
            old.thread.join(1.0)  # it may be closing the device or publishing its StreamEnd
            if old.thread.is_alive():
                raise EngineError("the previous stream is still shutting down (its worker did not exit)")
        capture = RingBuffer(int(self.ring_s * source.sample_rate))
        if source.sample_rate == self.sample_rate:
            model_ring = capture
        else:
            model_s = self.ring_s + 2 * self.window / self.sample_rate + 2
            model_ring = RingBuffer(int(model_s * self.sample_rate))
        run = Run(source, capture, model_ring, FrameCache(self.extractor, self.n_window_frames))
        run.stats.sample_rate = self.sample_rate
        run.stats.base_hop_s = run.stats.hop_s = self.hop_s
        if self.hop_policy is not None and source.realtime:  # a file replayed at full speed gets every window
            run.governor = HopGovernor(self.hop_policy, self.hop_s)
        if model_ring is not capture:
            run.resampler = soxr.ResampleStream(source.sample_rate, self.sample_rate, 1, dtype="float32")
        if self.segment_utterances:
            detector = self.detector or default_detector()
            run.utts = LiveUtterances(
                self.labels, self.window / self.sample_rate, self.hop_s, detector=detector
            )
        if self.record is not None:  # from the stream's first sample
            run.take = Take(self._recorder(self.record), 0)
        try:
            source.start(capture)
        except BaseException:
            if run.take is not None:  # leave no empty recording behind a device that failed to open
                run.take.recorder.close()
                run.take.recorder.path.unlink(missing_ok=True)
            raise
        run.t_start = time.perf_counter()
        run.thread = threading.Thread(target=self._worker, args=(run,), name="serlive-engine", daemon=True)
        self._run = run
        run.thread.start()

    def stop(self, timeout: float = 2.0, take_timeout: float = 10.0) -> bool:
        """Stop the stream; returns within about ``timeout`` s, True when everything ended.

        Bounded even if the device hangs on close or the worker is stuck in
        the model: both are daemon threads, waited for with a deadline.

        A take still open at the deadline gets up to ``take_timeout`` s more: the worker writes its
        tail after the model call it is in, and a process exiting first (Quit) left a header declaring
        only the last flush: up to a second lost at a take's end (issue 28, item 1).  0 where the
        process lives on (the app's Stop button): the worker still closes the take.
        """
        run = self._run
        if run is None:
            return True
        deadline = time.monotonic() + timeout
        run.stop.set()
        run.capture.wake()
        ok = bounded_stop(run.source.stop, 0.5 * timeout)
        if run.thread is not None:
            run.thread.join(max(0.05, deadline - time.monotonic()))
            if run.thread.is_alive() and run.take is not None and take_timeout > 0:
                log.warning("waiting up to %g s to close %s", take_timeout, run.take.recorder.path)
                run.thread.join(take_timeout)
            ok = ok and not run.thread.is_alive()
        return ok

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stream ends by itself (file replayed, error); True when it has."""
        run = self._run
        return True if run is None else run.done.wait(timeout)

    @property
    def running(self) -> bool:
        """True while a stream's worker is working."""
        run = self._run
        return run is not None and not run.done.is_set()

    @property
    def error(self) -> str | None:
        """Why the last stream ended on its own (one line), or None."""
        return None if self._run is None else self._run.error

    @property
    def ring(self) -> RingBuffer | None:
        """Model-rate samples of the current stream (for a waveform: ``ring.latest(n)``)."""
        return None if self._run is None else self._run.ring

    @property
    def source(self) -> AudioSource | None:
        """The current stream's source."""
        return None if self._run is None else self._run.source

    @property
    def samples_received(self) -> int:
        """Samples the source has delivered (at its own rate) in this stream."""
        return 0 if self._run is None else self._run.capture.written

    @property
    def current_hop_s(self) -> float:
        """Seconds between the windows analysed now: the hop, or a wider one while busy (adaptive hop)."""
        run = self._run
        return self.hop_s * (1 if run is None else run.hop_factor)

    def stats(self) -> EngineStats:
        """A snapshot of the current (or last) stream's counters."""
        run = self._run
        if run is None:
            return EngineStats(sample_rate=self.sample_rate, base_hop_s=self.hop_s, hop_s=self.hop_s)
        with run.stats_lock:
            s = run.stats
            snap = EngineStats(**{**s.__dict__, "latencies_s": list(run.latencies)})
        snap.dropped_samples = run.capture.overflow_samples
        snap.device_overflows = run.source.overflows
        return snap

    # --- worker --------------------------------------------------------------------------
    def _worker(self, run: Run) -> None:
        cpu0 = time.thread_time()
        drop_late = run.source.realtime if self.drop_late is None else self.drop_late
        clean = False  # the loop ended normally (stop, end of source, device error): keep its tail
        finished = False
        try:
            while not run.stop.is_set():
                finished = run.source.finished  # before pumping, so its last samples are included
                error = run.source.error
                if run.source.realtime and not run.backlog_checked:
                    skip_backlog(run, self.hop)
                self._pump_and_analyse(run, drop_late)
                with run.stats_lock:
                    run.stats.worker_cpu_s = time.thread_time() - cpu0
                if error is not None:
                    run.error = error
                    break
                if finished:
                    break
                if run.source.realtime:
                    stalled = self._stalled(run)
                    if stalled is not None:
                        run.error = stalled
                        break
                run.capture.wait_for(self._wake_index(run), _IDLE_WAKE_S)
            clean = True
        except RecordError as exc:  # disk full, file gone: the message names the file
            run.error = str(exc)
        except Exception as exc:
            log.exception("engine worker failed")
            run.error = f"engine failed: {type(exc).__name__}: {exc}"
        finally:
            run.ending = True
            bounded_stop(run.source.stop, 1.0)
            if clean:
                self._finish_tail(run, analyse=finished and not run.stop.is_set(), drop_late=drop_late)
            take = run.take
            if take is not None:  # the stream's end ends the take: it holds every sample up to here
                try:
                    take.end = min(take.end, run.ring.written) if take.end is not None else run.ring.written
                    if clean:
                        self._record(run)
                    take.recorder.close()
                except OSError as exc:
                    run.error = run.error or str(exc)
                run.last_take, run.take = take, None
            with run.stats_lock:
                run.stats.worker_cpu_s = time.thread_time() - cpu0
            # StreamEnd before done: whoever saw wait() return finds it in the queue
            self._publish(run, StreamEnd(run.error, self.stats()))
            run.done.set()

    def _finish_tail(self, run: Run, analyse: bool, drop_late: bool) -> None:
        """After the source has stopped: move on every sample it delivered, then flush the resampler.

        Why: the worker moves audio on once per window or :data:`_IDLE_WAKE_S`, so at
        ``stop()`` up to that much captured audio (plus whatever the device delivered while
        closing) is still in the capture ring; a recording must hold every captured sample
        up to the moment of Stop.  Windows are analysed only when the source ran out by
        itself (a replayed file gets every window); a stop request does not wait for the model.
        """
        try:
            target = run.capture.written
            piece = int(_PIECE_S * run.source.sample_rate)
            while run.cursor < target:
                self._pump(run, min(target - run.cursor, piece))
            if run.resampler is not None:
                self._resample(run, np.zeros(0, np.float32), last=True)
                with run.stats_lock:
                    run.stats.samples = run.ring.written
            if analyse:
                self._analyse(run, drop_late)
                self._analyse_end(run)
            if run.utts is not None:  # the utterance under way ends with the stream
                self._feed_utterances(run)
                for u in run.utts.finish():
                    self._publish_utterance(u)
        except RecordError as exc:
            run.error = run.error or str(exc)
        except Exception as exc:
            log.exception("engine worker failed while finishing the stream")
            run.error = run.error or f"engine failed: {type(exc).__name__}: {exc}"

    def _analyse_end(self, run: Run) -> None:
        """A source that ran out: one last window ending at its end, as file analysis has.

        The hops leave up to a hop (file: up to ``file_hop_s``) after the last window; without
        this the last words of a replayed file were in no window.  Its start is on the frame grid
        (:func:`serlive.windows.window_starts` with ``to_end``), so it ends within a frame hop of the end.
        """
        n = run.ring.written
        fh = self.features.hop_length
        last = run.next_start - self.hop  # the last regular window's start
        if run.hop_factor > 1:  # the last ones may have been passed over by the widened hop
            last = run.last_analysed
        start = (n - self.window) // fh * fh
        if n <= self.window or start <= last:
            return
        index = run.next_start // self.hop  # the number after the last regular window's
        if start == run.last_hop_skipped:  # a window the widened hop passed over: analysed after all
            index = start // self.hop
            with run.stats_lock:
                run.stats.hop_skipped_windows -= 1
        result = self._window(run, start, index=index)
        if result is not None:
            self._publish(run, result)
            if run.utts is not None:
                for u in run.utts.add(result):
                    self._publish_utterance(u)

    def _stalled(self, run: Run) -> str | None:
        now = time.perf_counter()
        last = run.capture.last_write_time
        name = run.source.name
        if last is None:
            if now - run.t_start > self.first_audio_timeout_s:
                return f"no audio from {name!r} within {self.first_audio_timeout_s:g} s of starting"
        elif now - last > self.stall_timeout_s:
            return f"no audio from {name!r} for {self.stall_timeout_s:g} s (device stalled or gone?)"
        return None

    def _wake_index(self, run: Run) -> int:
        """Capture index whose arrival completes the next window."""
        end = run.next_start + self.window
        if run.resampler is None:
            return end
        missing = end - run.ring.written
        if missing <= 0:
            return run.cursor + 1
        ratio = run.source.sample_rate / self.sample_rate
        pending = run.resampler.delay()
        return run.cursor + math.ceil((missing + pending) * ratio) + 1

    def _pump_and_analyse(self, run: Run, drop_late: bool) -> None:
        """Move new capture samples on (resample, record) and analyse every window that is due."""
        target = run.capture.written
        piece = int(_PIECE_S * run.source.sample_rate)
        while run.cursor < target:
            n = min(target - run.cursor, piece)
            self._pump(run, n)
            if not drop_late:
                self._analyse(run, drop_late)
        self._analyse(run, drop_late)

    def _pump(self, run: Run, n: int) -> None:
        """Move capture samples ``[cursor, cursor+n)`` on: to the resampler and/or the recorder.

        Samples the producer overwrote before we got to them (the worker was
        stalled for longer than the ring) become zeros, so the recording and
        the window clock stay aligned with real time; windows over such a gap
        are dropped (the ring read fails for them, or :attr:`Run.gap` marks
        them when resampling).
        """
        cap = run.capture
        data = None
        if run.resampler is not None or run.take is not None:
            data = cap.read(run.cursor, n)
            if data is None:
                data = np.zeros(n, np.float32)
                if run.resampler is not None:
                    before = run.ring.written
                    g0, g1 = run.gap
                    run.gap = (g0 if g1 >= before - self.window else before, -1)
        run.cursor += n
        if run.resampler is not None:
            assert data is not None
            self._resample(run, data)
            if run.gap[1] == -1:  # close the gap just marked, with a margin for the filter delay
                run.gap = (max(0, run.gap[0] - 64), run.ring.written + 64)
            cap.release(run.cursor)
        else:
            if data is not None:
                self._record(run, data, run.cursor)
            cap.release(min(run.cursor, self._lowest_needed(run)))
        with run.stats_lock:
            run.stats.samples = run.ring.written

    def _resample(self, run: Run, data: FloatArray, last: bool = False) -> None:
        """Feed the streaming resampler; its output goes to the model-rate ring and the recorder."""
        y = run.resampler.resample_chunk(data, last=last)
        if len(y):
            # stamp with the arrival of the capture block that completed this chunk
            t = run.capture.arrival_time(run.cursor - 1) if len(data) else None
            run.ring.write(y, t)
            self._record(run)
            run.ring.release(self._lowest_needed(run))

    def _lowest_needed(self, run: Run) -> int:
        """No future read of the model-rate ring goes below this sample (for ``release``).

        The frame cache's lowest sample, and the next window's start: the VAD reads a
        window's samples back from the ring, and the frame cache may already have let
        the window's first second go.
        """
        low = min(run.frames.lowest_needed_sample(), run.next_start)
        if run.utts is not None:  # the segmenter reads the samples back too
            low = min(low, run.seg_fed)
        take = run.take
        return low if take is None else min(low, take.pos)

    def _analyse(self, run: Run, drop_late: bool) -> None:
        """Analyse every complete window (only the newest when ``drop_late``; at a widened hop, every few)."""
        avail = run.ring.written
        while run.next_start + self.window <= avail:
            if drop_late:
                newest = (avail - self.window) // self.hop * self.hop
                if newest > run.next_start:
                    self._skip_late(run, newest)
            start = run.next_start
            run.next_start += self.hop
            if (start - run.hop_anchor) // self.hop % run.hop_factor:  # between the widened hop's windows
                run.last_hop_skipped = start
                with run.stats_lock:
                    run.stats.hop_skipped_windows += 1
                continue
            t0, c0 = time.perf_counter(), time.thread_time()
            result = self._window(run, start)
            if result is None:
                with run.stats_lock:
                    run.stats.dropped_windows += 1
                continue
            run.last_analysed = start
            self._publish(run, result)
            if run.utts is not None:
                for u in run.utts.add(result):
                    self._publish_utterance(u)
            if run.governor is not None:  # judged on the window's whole cost, publishing included
                self._adapt_hop(run, start, time.perf_counter() - t0, time.thread_time() - c0)
        self._feed_utterances(run)

    def _skip_late(self, run: Run, newest: int) -> None:
        """Fallen behind: go on at the newest complete window, counting the windows passed over.

        Late ones are ``dropped_windows``; at a widened hop, those between its windows would not
        have been analysed anyway and are ``hop_skipped_windows``.  The widened hop then counts
        on from the newest window, which is analysed next.
        """
        h, f = self.hop, run.hop_factor
        first, last = run.next_start // h, newest // h - 1  # the base-grid windows passed over
        a = run.hop_anchor // h
        late = (last - a) // f - (first - 1 - a) // f  # those on the widened hop's grid
        with run.stats_lock:
            run.stats.dropped_windows += late
            run.stats.hop_skipped_windows += last - first + 1 - late
        run.next_start = run.hop_anchor = newest

    def _adapt_hop(self, run: Run, start: int, seconds: float, cpu_s: float) -> None:
        """After a window that took ``seconds``, ``cpu_s`` of them on a CPU: keep, widen or narrow the hop."""
        assert run.governor is not None
        speed = float(getattr(run.source, "speed", 1.0) or 1.0)  # a replay sped up has less time per hop
        budget = self.hop_s / speed
        # audio waiting: captured and not yet moved on, and complete windows not yet analysed
        behind = (run.capture.written - run.cursor) / run.source.sample_rate
        behind += max(0, run.ring.written - run.next_start - self.window) / self.sample_rate
        end_s = (start + self.window) / self.sample_rate
        before = run.hop_factor
        with run.stats_lock:
            if before > 1:
                run.stats.widened_windows += 1
        factor = run.governor.observe(end_s, seconds / budget, behind / self.hop_s, seconds, cpu_s)
        if factor == before:
            return
        run.hop_anchor = start  # the next window analysed is ``factor`` hops after this one
        with run.stats_lock:
            run.stats.hop_s = self.hop_s * factor
            run.stats.hop_changes = run.governor.changes
        log.info(
            "analysing every %g s from %.1f s (%s)",
            self.hop_s * factor,
            end_s,
            "busy" if factor > 1 else "caught up",
        )

    def drain(self) -> tuple[list[Result], StreamEnd | None]:
        """Everything waiting in :attr:`results`, without blocking: the windows, and the end if it came.

        For consumers that poll (the GUI's frame timer, ``listen`` after ``stop()``).
        """
        return drain_results(self.results)

    def _publish(self, run: Run, item: Result | StreamEnd) -> None:
        if isinstance(item, Result):
            with run.stats_lock:
                run.stats.windows += 1
                if item.latency_s is not None:
                    run.latencies.append(item.latency_s)
        if put_newest(self.results, item):
            with run.stats_lock:
                run.stats.results_discarded += 1
        if self.on_result is not None and isinstance(item, Result):
            try:
                self.on_result(item)
            except Exception:
                run.callback_errors += 1
                if run.callback_errors == 1:
                    log.exception("on_result callback failed (further failures not logged)")
