"""Many files on every core: worker processes beside this one, each analysing whole files.

Why processes for a folder, when a long file stays on threads (:mod:`serlive.files.parallel`):
a short clip's analysis is many small steps (decoding, the level gate, the speech
detector's numpy, a few interpreter calls, building the result), and between those
steps the threads of one interpreter take turns at the GIL.  On 240 clips two threads
were 1.59x faster than one, two one-job processes 1.76x (AMD EPYC, 2 cores,
``bench/bench_jobs.py``).  A long file's windows share its frames and batches, which
threads do without copying; for a folder each file is a task of its own, so nothing
needs sharing but the file name going out and the result coming back.

How: this process analyses files on a thread of its own from the moment it starts, while
``jobs - 1`` worker processes start beside it, each with a model of its own.  On Linux they
are forked: a fork has every module this process imported and starts in milliseconds, where
a fresh interpreter (``spawn``) spent about 0.6 s of a core on imports, most of what a second
core gained on a folder of 240 clips.  They are forked before this process starts any thread
of its own and while its interpreter runs single-threaded (one XNNPACK thread, one BLAS
thread), so no lock is copied held.  Elsewhere (macOS, Windows: forking is unsafe or
missing there) they are spawned, and the PyInstaller executable's entry calls
``multiprocessing.freeze_support`` for that.  Every worker, here or there, takes the next file in input
order as it becomes free, so a few long files among short ones do not leave a core idle.
Each worker runs :func:`serlive.files.analysis.analyse_file`, the serial path, on its own
model from the same file: the numbers are the serial ones, byte for byte, and pickling
a result keeps every float.  Results are yielded in input order, each as soon as it and
every file before it are done, and at most a few files per worker run ahead of the
earliest unfinished one.

A worker process that dies (killed, out of memory) hands its files back: they are
analysed here, and the rest go on without it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serlive.audio.io import AudioLoadError
from serlive.config import WindowConfig
from serlive.files.analysis import BATCH, SEGMENT_WINDOWS, Analysis, analyse_file
from serlive.model import EmotionModel
from serlive.profiles.store import Profile

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

#: files a worker may be given ahead of the earliest unfinished one (bounds the results held)
AHEAD_PER_JOB = 4

#: fewest files per job for which processes beat threads: a worker process is not free to start
#: (a fork and a model: ~50 ms; spawned: ~0.6 s of imports), which a handful of clips does not repay
MIN_FILES_PER_JOB = 4

# --- in a worker process -----------------------------------------------------------------
_worker: dict[str, Any] = {}


def _start_worker(
    model_path: str, invoke_batch: int | None, options: dict[str, Any], profile: Profile | None = None
) -> None:
    """Load this worker's model once (the executor's initializer)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    _worker["model"] = EmotionModel(model_path, invoke_batch=invoke_batch, profile=profile)
    _worker["options"] = options


def analysis_or_reason(path: str | Path, model: EmotionModel, **options: Any) -> Analysis | str:
    """One file's analysis, or, as a string, why it could not be read: what every path yields."""
    try:
        return analyse_file(path, model, **options)
    except AudioLoadError as exc:
        return exc.reason


def _analyse_in_worker(path: str) -> Analysis | str:
    """One file's result in a worker process, on its own model."""
    return analysis_or_reason(path, _worker["model"], **_worker["options"])


# --- in this process -----------------------------------------------------------------------
def start_method() -> str:
    """``fork`` on Linux (fast; see the module docstring), ``spawn`` elsewhere.

    Also ``spawn`` when this process already runs other Python threads (a caller other than
    ``serlive predict``): a fork copies the locks they may hold, not the threads to release them.
    """
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def use_processes(n_files: int, jobs: int) -> bool:
    """Whether a run of ``n_files`` files on ``jobs`` workers should use worker processes."""
    return jobs > 1 and n_files >= MIN_FILES_PER_JOB * jobs


class _Scheduler:
    """Hands out file indices in input order to this process's thread and the worker processes."""

    def __init__(self, paths: Sequence[str | Path], model: EmotionModel, jobs: int, options: dict[str, Any]):
        self.paths = [str(p) for p in paths]
        self.model = model
        self.options = options
        self.ahead = AHEAD_PER_JOB * jobs
        self.cond = threading.Condition()
        self.next = 0  # the next index never handed out
        self.retry: list[int] = []  # indices a dead worker process took and did not finish
        self.results: dict[int, Analysis | str] = {}
        self.yielded = 0  # results handed to the caller
        self.error: BaseException | None = None
        self.stopping = False
        self.remote: dict[Future[Any], int] = {}
        self.remote_slots = 2 * (jobs - 1)  # two files queued per worker process keeps each busy
        # imported here: concurrent.futures.process takes 50 ms to import, which the desktop app's
        # file viewer (threads only, via serlive.files.parallel) should not pay
        from concurrent.futures import ProcessPoolExecutor

        self.executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=jobs - 1,
            mp_context=multiprocessing.get_context(start_method()),
            initializer=_start_worker,
            initargs=(str(model.path), model.invoke_batch, options, model.profile),
        )
        # a forking pool starts all its processes at the first submit, in this thread: do it now,
        # before this process has a second thread (the executor's own starts after the forks)
        self.executor.submit(int)
        self.thread = threading.Thread(target=self._local, name="serlive-files-local", daemon=True)
        self.thread.start()

    def _take(self) -> int | None:
        """The next index to analyse (called holding ``cond``); None: nothing may start now."""
        if self.retry:
            return self.retry.pop(0)
        if self.next < len(self.paths) and self.next < self.yielded + self.ahead:
            self.next += 1
            return self.next - 1
        return None

    def _local(self) -> None:
        """This process's worker: the same serial analysis, on the model already loaded."""
        try:
            while True:
                with self.cond:
                    while not self.stopping and (i := self._take()) is None:
                        if self.next >= len(self.paths) and not self.retry and not self.remote:
                            return
                        self.cond.wait(0.1)
                    if self.stopping:
                        return
                result = analysis_or_reason(self.paths[i], self.model, **self.options)
                with self.cond:
                    self.results[i] = result
                    self.cond.notify_all()
        except BaseException as exc:  # a bug, or memory: the caller re-raises it
            with self.cond:
                self.error, self.stopping = exc, True
                self.cond.notify_all()

    def _done(self, fut: Future[Any]) -> None:
        """A worker process's file finished (called on the executor's thread): store its result."""
        from concurrent.futures.process import BrokenProcessPool

        with self.cond:
            i = self.remote.pop(fut)
            exc = fut.exception() if not fut.cancelled() else None
            if fut.cancelled():
                pass
            elif isinstance(exc, BrokenProcessPool):
                self.retry.append(i)  # a worker died: this process analyses the file instead
                self.retry.sort()
                if self.executor is not None:
                    print(
                        "serlive: a worker process ended unexpectedly; its files are analysed here",
                        file=sys.stderr,
                    )
                self.executor, self.remote_slots = None, 0
            elif exc is not None:
                self.error, self.stopping = exc, True
            else:
                self.results[i] = fut.result()
            self.cond.notify_all()

    def _top_up(self) -> None:
        """Keep each worker process two files ahead (caller's thread, holding ``cond``)."""
        from concurrent.futures.process import BrokenProcessPool

        while self.executor is not None and len(self.remote) < self.remote_slots:
            i = self._take()
            if i is None:
                return
            try:
                fut = self.executor.submit(_analyse_in_worker, self.paths[i])
            except (BrokenProcessPool, RuntimeError):
                self.retry.insert(0, i)
                self.executor, self.remote_slots = None, 0
                return
            self.remote[fut] = i
            # the callback takes the lock: add it after releasing ours (a finished future calls it at once)
            self.cond.release()
            try:
                fut.add_done_callback(self._done)
            finally:
                self.cond.acquire()

    def __iter__(self) -> Iterator[Analysis | str]:
        for i in range(len(self.paths)):
            with self.cond:
                while i not in self.results:
                    if self.error is not None:
                        raise self.error
                    self._top_up()
                    self.cond.wait(0.1)  # a timeout keeps Ctrl-C responsive
                result = self.results.pop(i)
                self.yielded = i + 1
                self._top_up()
                self.cond.notify_all()
            yield result

    def close(self) -> None:
        """Stop the local thread after its file and the worker processes without waiting for them."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
            executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def analyse_files_in_processes(
    paths: Sequence[str | Path],
    model: EmotionModel,
    jobs: int,
    *,
    keep_embeddings: bool = False,
    windows: WindowConfig | None = None,
    batch: int = BATCH,
    segment_windows: int = SEGMENT_WINDOWS,
) -> Iterator[Analysis | str]:
    """Each file's :class:`Analysis` (or why it could not be read), in input order (module docstring)."""
    options: dict[str, Any] = {
        "windows": windows,
        "batch": batch,
        "segment_windows": segment_windows,
        "keep_embeddings": keep_embeddings,
    }
    scheduler = _Scheduler(paths, model, jobs, options)
    try:
        yield from scheduler
    finally:
        scheduler.close()
