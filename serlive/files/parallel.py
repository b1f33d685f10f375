"""File analysis on every core: files side by side, and a long file's batches across workers.

Why threads and not processes: the LiteRT interpreter releases the GIL while
it runs (a Python thread keeps counting while another one invokes the
encoder), and so do the FFTs, the matrix products and the resampler, which
together are nearly all of a window's cost.  Threads start in no time, share
the audio and each segment's frames without copying them, need no pickling,
and work inside the desktop app, where forking a Qt process is not an option.
Each worker has its own :class:`~serlive.model.EmotionModel` (an interpreter is
not thread-safe), made when the worker first has work, so ``--jobs 8`` on one
short clip loads one model, not eight.

Why the output is byte-identical to the serial path: the work is cut by
:func:`serlive.files.analysis.plan_signal`, the same cut :func:`analyse_signal`
makes.  A segment's frames are computed once, from that segment's stretch of
signal, and each batch (one VAD call and one model call) holds the same
windows as in the serial loop, so every number is computed from the same
inputs by the same kernels with the same shapes, whichever worker runs it.

Scheduling: one queue ordered by (file, batch), so all workers help finish the
earliest unfinished file before starting later ones.  Results therefore come
out in input order and as soon as possible (a caller can print each file as it
completes), and memory holds only a few files' audio at a time.
"""

from __future__ import annotations

import heapq
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.audio.io import AudioLoadError, _available_bytes, load_audio
from serlive.config import WindowConfig
from serlive.files.analysis import (
    BATCH,
    SEGMENT_WINDOWS,
    Analysis,
    SegmentWindows,
    SignalPlan,
    WindowResult,
    _sink_for,
    analyse_batch,
    finish_analysis,
    plan_signal,
)
from serlive.files.processes import analyse_files_in_processes, analysis_or_reason, use_processes
from serlive.model import EmotionModel
from serlive.segments import Segmenter
from serlive.vad import SpeechDetector, default_detector, vad_enabled

#: files loaded ahead of the earliest unfinished one, per worker (bounds the audio held in memory)
LOOKAHEAD_PER_JOB = 2


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


#: what one worker may need: a worker process held ~110 MB (its interpreter, one window a call, ~35 MB
#: of it) on a folder of clips; the rest is room for a long file's audio and its frames
WORKER_BYTES = 300 * 2**20


def default_jobs() -> int:
    """Workers when the user names no number: the usable cores, but no more than free memory holds.

    Every worker holds its own interpreter, so a 16-core machine with little free memory
    would swap with one per core; the budget is :data:`WORKER_BYTES` each of ``MemAvailable``.
    """
    cores = usable_cores()
    avail = _available_bytes()
    return cores if avail is None else max(1, min(cores, avail // WORKER_BYTES))


def _return_freed_memory() -> None:
    """Hand the finished workers' freed memory back to the system (glibc only; elsewhere nothing).

    Each worker's interpreter holds ~100 MB of activations at the viewer's batch of 8; freed
    on its thread, most of it stayed in glibc's per-thread arenas, and the desktop app's RSS
    stayed 60 MB higher after analysing one long file on two cores (205 MB instead of 245 MB
    once trimmed, against 186 MB with one core).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl or another libc: nothing to trim with
        pass


#: interpreters made for earlier runs, by model file and slice size (see :class:`WorkerModels`)
_SPARES: dict[tuple[Path, int | None], list[EmotionModel]] = {}
_SPARES_LOCK = threading.Lock()


class WorkerModels:
    """One model per worker thread, made on the thread's first call of :meth:`get`.

    The first thread to ask gets ``model`` itself, so one worker costs no second
    interpreter.  With ``keep``, the others come from, and at :meth:`give_back` return
    to, a store kept for the process: the file viewer makes its second interpreter once
    per session, not once per file opened (making one holds the GIL for 30-185 ms,
    depending on the machine, and costs the GUI thread that long).
    """

    def __init__(self, model: EmotionModel, keep: bool = False) -> None:
        self._model = model
        self._given = False
        self._keep = keep
        self._made: list[EmotionModel] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def get(self) -> EmotionModel:
        """This thread's model."""
        m = getattr(self._local, "model", None)
        if m is None:
            with self._lock:
                mine, self._given = not self._given, True
            if mine:
                m = self._model
            else:
                m = self._spare() if self._keep else None
                if m is None:
                    m = EmotionModel(
                        self._model.path, invoke_batch=self._model.invoke_batch, profile=self._model.profile
                    )
                with self._lock:
                    self._made.append(m)
            self._local.model = m
        return m

    def _key(self) -> tuple[Path, int | None, tuple[str, ...] | None]:
        p = self._model.profile  # a spare judging through another profile is another model
        profile = None if p is None else (p.name, p.created, p.method)
        return (self._model.path, self._model.invoke_batch, profile)

    def _spare(self) -> EmotionModel | None:
        with _SPARES_LOCK:
            spares = _SPARES.get(self._key())
            return spares.pop() if spares else None

    def give_back(self) -> None:
        """Keep the models this run made for the next one (with ``keep``; call once the workers are done)."""
        with self._lock:
            made, self._made = self._made, []
        if self._keep and made:
            with _SPARES_LOCK:
                _SPARES.setdefault(self._key(), []).extend(made)


@dataclass
class _Segment:
    """A segment's shared frames: made by the first worker that needs them, dropped after its last batch."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    windows: SegmentWindows | None = None
    left: int = 0
    #: a worker is making the frames now (set and read holding the pool's ``cond``)
    making: bool = False


@dataclass
class _Job:
    """One signal's progress through the pool."""

    index: int
    path: Path | None = None
    y: NDArray[np.float32] | None = None
    plan: SignalPlan | None = None
    segments: list[_Segment] = field(default_factory=list)
    batches: list[list[WindowResult] | None] = field(default_factory=list)
    #: per batch, the window rule's chunk probabilities as ``(segment's first sample, starts, p)``
    #: (None: not done yet); kept only for a signal whose utterances are segmented as it goes
    offers: list[list[tuple[int, list[int], NDArray[np.float64]]] | None] | None = None
    left: int = 0
    result: Analysis | str | None = None  # the analysis, or why the file could not be read


class _Pool:
    """Worker threads draining one priority queue of (job, batch) tasks; see the module docstring."""

    def __init__(
        self,
        model: EmotionModel,
        jobs: int,
        windows: WindowConfig | None,
        batch: int,
        segment_windows: int,
        keep_embeddings: bool,
        detector: SpeechDetector | None,
        keep_models: bool = False,
    ) -> None:
        self.model = model
        self.models = WorkerModels(model, keep_models)
        self.windows = windows
        self.batch = batch
        self.segment_windows = segment_windows
        self.keep = keep_embeddings and model.adaptation is not None
        wcfg = windows or model.meta.windows.for_files()
        self.detector = detector or (default_detector() if vad_enabled(wcfg) else None)
        self.cond = threading.Condition()
        self.tasks: list[tuple[int, int, int]] = []  # (job, segment or -1 to load, batch)
        self.jobs: dict[int, _Job] = {}
        self.done_windows = 0
        self.error: BaseException | None = None
        self.stopping = False
        self.busy = 0  # workers in a task
        self.threads = [
            threading.Thread(target=self._work, name=f"serlive-analysis-{i}", daemon=True)
            for i in range(jobs)
        ]
        for t in self.threads:
            t.start()

    # --- submitting (caller's thread) ----------------------------------------
    def add_file(self, index: int, path: Path) -> None:
        """Queue ``path`` to be loaded (by a worker) and analysed."""
        with self.cond:
            self.jobs[index] = _Job(index, path=path)
            heapq.heappush(self.tasks, (index, -1, 0))
            self.cond.notify()

    def add_signal(self, index: int, y: NDArray[np.float32], offers: bool = False) -> _Job:
        """Queue samples already at the model's rate; ``offers``: keep each batch's chunk probabilities."""
        job = _Job(index, offers=[] if offers else None)
        with self.cond:
            self.jobs[index] = job
            self._plan(job, y)
            self.cond.notify_all()
        return job

    def wait(self, index: int, tick: Callable[[], bool] | None = None) -> Analysis | str:
        """Job ``index``'s result once it is complete; ``tick()`` is called now and then, True cancels.

        ``tick`` runs in the caller's thread without the pool's lock held, so it may take its time.
        """
        while True:
            with self.cond:
                if self.error is not None:
                    raise self.error
                job = self.jobs[index]
                if job.result is not None:
                    del self.jobs[index]
                    return job.result
            if tick is not None and tick():
                with self.cond:
                    return self._cancel(job)
            with self.cond:
                if job.result is None and self.error is None:
                    self.cond.wait(0.1)  # a timeout keeps Ctrl-C and the progress callback alive

    def _cancel(self, job: _Job) -> Analysis:
        """Stop everything; the windows done before the first missing batch make the partial analysis."""
        self.stopping = True
        self.tasks.clear()
        self.cond.notify_all()
        assert job.plan is not None
        result = job.plan.empty_result(self.model.labels)
        for b in job.batches:
            if b is None:
                break
            result.windows.extend(b)
        return finish_analysis(result)

    def close(self) -> None:
        """Stop the workers after their current batch.

        Idle workers (every task done) are joined, so their models' memory is freed before the
        caller goes on (the file viewer keeps running); a worker still in a batch (cancel, an
        error, Ctrl-C) is left to finish it: the threads are daemons, and nobody needs to wait.
        """
        with self.cond:
            self.stopping = True
            self.tasks.clear()
            self.cond.notify_all()
            busy = self.busy
        if not busy:
            for t in self.threads:
                t.join()
            self.models.give_back()
            if len(self.threads) > 1:
                _return_freed_memory()

    # --- working (worker threads) --------------------------------------------
    def _plan(self, job: _Job, y: NDArray[np.float32]) -> None:
        """Cut a loaded signal into batch tasks (called holding ``cond``)."""
        plan = plan_signal(len(y), self.model, self.windows, self.batch, self.segment_windows)
        job.y, job.plan = y, plan
        if not plan.segments:
            job.result = finish_analysis(plan.empty_result(self.model.labels))
            job.y = None
            return
        k = 0
        for s, group in enumerate(plan.segments):
            job.segments.append(_Segment(left=len(group)))
            for _ in group:
                heapq.heappush(self.tasks, (job.index, s, k))
                k += 1
        job.batches = [None] * k
        if job.offers is not None:
            job.offers = [None] * k
        job.left = k

    def _work(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.tasks and not self.stopping:
                        self.cond.wait()
                    if self.stopping:
                        return
                    index, seg, k = self._next_task()
                    job = self.jobs[index]
                    self.busy += 1
                try:
                    if seg < 0:
                        self._load(job)
                    else:
                        self._batch(job, seg, k)
                finally:
                    with self.cond:
                        self.busy -= 1
        except BaseException as exc:  # a bug, or memory: the caller re-raises it
            with self.cond:
                self.error = exc
                self.stopping = True
                self.cond.notify_all()

    def _next_task(self) -> tuple[int, int, int]:
        """The earliest task, or, while another worker makes its segment's frames, the earliest that
        need not wait for them (called holding ``cond``, with a task queued).

        A 10-minute file is two segments of frames (240 and 60 windows): the second worker used to
        wait about 0.2 s on the first segment's lock while the first made its frames; now it starts
        the second segment meanwhile.  The results are the same: each batch is computed alike
        whichever worker runs it, and they are put in order at the end.
        """
        skipped: list[tuple[int, int, int]] = []
        chosen = None
        while self.tasks:
            task = heapq.heappop(self.tasks)
            index, seg, _ = task
            if seg < 0 or not self.jobs[index].segments[seg].making:
                chosen = task
                break
            skipped.append(task)
        for task in skipped[1 if chosen is None else 0 :]:
            heapq.heappush(self.tasks, task)
        return chosen if chosen is not None else skipped[0]

    def _load(self, job: _Job) -> None:
        assert job.path is not None
        try:
            y = load_audio(job.path, self.model.meta.features.sample_rate)
        except AudioLoadError as exc:
            with self.cond:
                job.result = exc.reason
                self.cond.notify_all()
            return
        with self.cond:
            self._plan(job, y)
            self.cond.notify_all()

    def _batch(self, job: _Job, seg: int, k: int) -> None:
        plan, y = job.plan, job.y
        assert plan is not None and y is not None
        segment = job.segments[seg]
        with segment.lock:
            if segment.windows is None:
                with self.cond:
                    segment.making = True
                try:
                    segment.windows = plan.segment(y, seg, self.model.extractor)
                finally:
                    with self.cond:
                        segment.making = False
            windows = segment.windows
        first = sum(len(g) for g in plan.segments[:seg])
        chunk = plan.segments[seg][k - first]
        calls: list[tuple[int, list[int], NDArray[np.float64]]] = []
        sink = None if job.offers is None else (lambda starts, p: calls.append((windows.first, starts, p)))
        out = analyse_batch(windows, chunk, self.models.get(), plan, self.detector, self.keep, sink)
        with self.cond:
            job.batches[k] = out
            if job.offers is not None:
                job.offers[k] = calls
            self.done_windows += len(out)
            segment.left -= 1
            if segment.left == 0:
                segment.windows = None
            job.left -= 1
            if job.left == 0:
                result = plan.empty_result(self.model.labels)
                for b in job.batches:
                    result.windows.extend(b or [])
                job.result = finish_analysis(result)
                job.y, job.batches, job.segments = None, [], []
            self.cond.notify_all()


def analyse_files(
    paths: Sequence[str | Path],
    model: EmotionModel,
    jobs: int = 1,
    *,
    keep_embeddings: bool = False,
    windows: WindowConfig | None = None,
    batch: int = BATCH,
    segment_windows: int = SEGMENT_WINDOWS,
) -> Iterator[Analysis | str]:
    """Each file's :class:`Analysis` (or, as a string, why it could not be read), in input order.

    Each result is yielded as soon as it and every file before it are done, so a
    caller can print while later files are still being analysed.  ``jobs=1`` is
    the serial loop over :func:`serlive.files.analysis.analyse_file`, unchanged; more
    jobs give byte-identical results (see the module docstring).  A folder's worth of
    files (:func:`serlive.files.processes.use_processes`) goes to worker processes, a few
    files to threads that also share out each file's batches.
    """
    if use_processes(len(paths), jobs):
        yield from analyse_files_in_processes(
            paths,
            model,
            jobs,
            keep_embeddings=keep_embeddings,
            windows=windows,
            batch=batch,
            segment_windows=segment_windows,
        )
        return
    if jobs <= 1:
        for path in paths:
            yield analysis_or_reason(
                path,
                model,
                windows=windows,
                batch=batch,
                segment_windows=segment_windows,
                keep_embeddings=keep_embeddings,
            )
        return
    pool = _Pool(model, jobs, windows, batch, segment_windows, keep_embeddings, None)
    try:
        ahead = max(2, LOOKAHEAD_PER_JOB * jobs)
        queued = 0
        for i in range(len(paths)):
            while queued < len(paths) and queued <= i + ahead:
                pool.add_file(queued, Path(paths[queued]))
                queued += 1
            yield pool.wait(i)
    finally:
        pool.close()


class _SegmenterFeed:
    """Feeds a :class:`~serlive.segments.Segmenter` from the pool's finished batches, in batch order.

    A segmenter must see the signal in order, and the serial loop hands it each batch's chunk
    probabilities (``offer``) and then the samples up to the next batch's first window (``feed``).
    The workers finish batches in any order; this replays each one's recorded offers and feeds
    its samples once every batch before it has been replayed, in the caller's thread, so the
    segmenter receives exactly the serial loop's calls (the same segments) while the workers go on.
    """

    def __init__(self, pool: _Pool, job: _Job, y: NDArray[np.float32], segmenter: Segmenter) -> None:
        assert job.plan is not None
        self.pool, self.job, self.y, self.segmenter = pool, job, y, segmenter
        self.plan = job.plan
        self.sizes = [len(chunk) for group in job.plan.segments for chunk in group]
        self.next = 0  # the next batch to replay
        self.done = 0  # windows replayed

    def __call__(self) -> None:
        """Replay every finished batch not yet replayed that has no unfinished batch before it."""
        offers = self.job.offers
        assert offers is not None
        while self.next < len(self.sizes):
            with self.pool.cond:
                calls = offers[self.next]
                if calls is None:
                    return
                offers[self.next] = []  # replayed: its arrays may go
            for first, starts, p in calls:
                sink = _sink_for(self.segmenter, first)
                assert sink is not None
                sink(starts, p)
            self.done += self.sizes[self.next]
            self.next += 1
            self.plan.feed_segmenter(self.segmenter, self.y, self.done)


def analyse_signal_parallel(
    y: NDArray[np.float32],
    model: EmotionModel,
    jobs: int = 1,
    *,
    windows: WindowConfig | None = None,
    batch: int = BATCH,
    progress: Callable[[float], bool | None] | None = None,
    segment_windows: int = SEGMENT_WINDOWS,
    detector: SpeechDetector | None = None,
    keep_embeddings: bool = False,
    segmenter: Segmenter | None = None,
    keep_models: bool = False,
) -> Analysis:
    """:func:`serlive.files.analysis.analyse_signal` with its batches spread over ``jobs`` worker threads.

    The same arguments and the same result, byte for byte.  ``progress(fraction)``
    is called in the caller's thread (a few times a second and at the end);
    returning True cancels, and the windows done before the first unfinished
    batch are returned, as the serial path returns those done before it stopped.

    ``segmenter`` is fed as :func:`~serlive.files.analysis.analyse_signal` feeds it (the window
    rule's chunk probabilities, then the samples, batch by batch in order): the caller's
    thread does it as the batches finish (:class:`_SegmenterFeed`), so utterance
    segmentation runs beside the analysis and gives the serial path's segments.  On cancel
    it is left part-fed, as the serial path leaves it.

    ``keep_models``: the workers' extra interpreters are kept for the next call (the file
    viewer's; :class:`WorkerModels`).
    """
    if jobs <= 1:
        from serlive.files.analysis import analyse_signal

        return analyse_signal(
            y,
            model,
            windows=windows,
            batch=batch,
            progress=progress,
            segment_windows=segment_windows,
            detector=detector,
            keep_embeddings=keep_embeddings,
            segmenter=segmenter,
        )
    pool = _Pool(model, jobs, windows, batch, segment_windows, keep_embeddings, detector, keep_models)
    try:
        y = np.asarray(y, dtype=np.float32)
        job = pool.add_signal(0, y, offers=segmenter is not None)
        total = max(1, job.plan.n_windows if job.plan else 1)
        feed = None if segmenter is None or job.plan is None else _SegmenterFeed(pool, job, y, segmenter)

        def tick() -> bool:
            if feed is not None:
                feed()
            return progress is not None and bool(progress(min(1.0, pool.done_windows / total)))

        result = pool.wait(0, tick if progress is not None or feed is not None else None)
        assert isinstance(result, Analysis)
        if not pool.stopping:
            if feed is not None:
                feed()  # the batches that finished after the last tick
            if progress is not None:
                progress(1.0)
        return result
    finally:
        pool.close()
