"""A folder of files on a Dask cluster (``serlive predict --cluster ADDRESS|local:N``).

Why Dask and not a home-made pool: people with archives of thousands of hours already run
Dask on their SLURM, Kubernetes or cloud machines (``dask-jobqueue``, ``dask-kubernetes``),
and its scheduler already does what a second pool would have to learn: placing tasks on free
workers, and running again the tasks of a worker that died (up to
``distributed.scheduler.allowed-failures`` times).  This module is the only one that imports
Dask, and only when a cluster is asked for: ``dask[distributed]`` is the optional ``[cluster]``
extra, and without it :func:`open_client` says how to install it.

What a task is: one file, by path.  The worker reads the file itself (the paths must be
visible to the workers: a shared file system; :func:`check_paths_visible` tries the first one
early and says so), runs :func:`serlive.files.processes.analysis_or_reason` or, with
``--segments``, :func:`serlive.files.segmented.analyse_file_segmented` (the serial code, so
the numbers are the ``--jobs 1`` numbers byte for byte), and sends back the pickled result,
embeddings included for ``--session``.  Each worker thread loads the model once, from the
same path, and checks it is the client's file by its sha256 (:func:`_model_for`).

Order and memory: at most :data:`AHEAD_PER_THREAD` files per worker thread are submitted
past the earliest unfinished one, and results are yielded in input order, each as soon as it
and every file before it are done, so a million paths never sit in the scheduler at once.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serlive.config import SegmentConfig
from serlive.model import EmotionModel, file_sha256
from serlive.profiles.store import Profile

#: files submitted per worker thread past the earliest unfinished one: enough to keep each busy
#: while a result travels back, few enough that the scheduler holds a few tasks, not the archive
AHEAD_PER_THREAD = 4

#: most files one task analyses.  A task costs the scheduler and its round trip a few ms, and each
#: file about 20-30 ms more on a 2-core LocalCluster than in --jobs (bench/bench_cluster.py): short
#: clips go in batches, so that cost is paid per batch; few enough per batch that results stream
#: and a lost worker's batch is cheap to run again
MAX_FILES_PER_TASK = 16


def files_per_task(n_files: int, threads: int) -> int:
    """Files per task: about 16 tasks per worker thread over the run, at most :data:`MAX_FILES_PER_TASK`."""
    return max(1, min(MAX_FILES_PER_TASK, n_files // max(1, 16 * threads)))


#: seconds to wait for a scheduler to answer before calling it unreachable
CONNECT_TIMEOUT_S = 10.0

#: seconds without a connection to the scheduler before a run gives up on it
GONE_AFTER_S = 10.0

INSTALL_HINT = (
    "--cluster needs Dask: pip install 'serlive[cluster]' (dask[distributed]); the standalone "
    "executable has none, use a pip install of serlive for clusters"
)


class ClusterError(Exception):
    """The cluster cannot be used: Dask missing, the scheduler unreachable, or gone mid-run."""


@dataclass(frozen=True)
class ClusterSpec:
    """What ``--cluster`` named: a scheduler's address, or ``local:N`` worker processes here."""

    address: str | None = None
    local_workers: int = 0

    def __str__(self) -> str:
        return self.address if self.address is not None else f"local:{self.local_workers}"


def parse_cluster(text: str) -> ClusterSpec:
    """``tcp://host:8786`` (or any Dask address), or ``local:N``; a ValueError says what is wrong."""
    text = text.strip()
    if text.startswith("local:") or text == "local":
        n = text.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--cluster {text}: local:N needs a number of workers, 1 or more (local:2)")
        return ClusterSpec(local_workers=int(n))
    if "://" not in text and ":" not in text:
        raise ValueError(f"--cluster {text}: give a scheduler address (tcp://host:8786) or local:N")
    return ClusterSpec(address=text)


# --- on a worker -------------------------------------------------------------------------------
_local = threading.local()


def _model_for(
    model_path: str, sha256: str, invoke_batch: int | None, profile_json: str | None = None
) -> EmotionModel:
    """This worker thread's model, loaded once (an interpreter is not thread-safe: one per thread).

    Keyed by the model file's sha256: a second run with the same model on a long-lived worker
    reuses it, and a worker whose file at that path differs from the client's refuses to guess.
    """
    cache: dict[tuple[str, int | None, str], EmotionModel] = getattr(_local, "models", None) or {}
    _local.models = cache
    # a calibration profile (``--profile``) makes another model of the same file
    key = (
        sha256,
        invoke_batch,
        "" if profile_json is None else hashlib.sha256(profile_json.encode()).hexdigest(),
    )
    if key not in cache:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        got = file_sha256(model_path)
        if got != sha256:
            raise ValueError(
                f"the worker's model file {model_path} is not the client's (sha256 {got[:12]}, "
                f"not {sha256[:12]}): give the workers the same model file"
            )
        profile = None if profile_json is None else Profile.from_json(profile_json)
        cache[key] = EmotionModel(model_path, invoke_batch=invoke_batch, profile=profile)
    return cache[key]


def analyse_task(
    path: str,
    model_path: str,
    sha256: str,
    invoke_batch: int | None,
    keep_embeddings: bool,
    seg_cfg: SegmentConfig | None,
    profile_json: str | None = None,
) -> Any:
    """One file on a worker: ``Analysis | str``, or with ``seg_cfg`` ``(Analysis | str, found | None)``.

    A model that cannot be loaded on the worker raises: the client turns that into the file's
    error line rather than a result it cannot trust.
    """
    from serlive.files.processes import analysis_or_reason
    from serlive.files.segmented import analyse_file_segmented

    model = _model_for(model_path, sha256, invoke_batch, profile_json)
    if seg_cfg is not None:
        return analyse_file_segmented(path, model, seg_cfg, keep_embeddings)
    return analysis_or_reason(path, model, keep_embeddings=keep_embeddings)


def analyse_batch_task(paths: list[str], *args: Any) -> list[Any]:
    """Several files in one task (:func:`files_per_task`): each one's :func:`analyse_task` result."""
    return [analyse_task(p, *args) for p in paths]


def visible(paths: list[str]) -> list[bool]:
    """Which of ``paths`` this worker can open for reading (run on a worker by the early check)."""
    return [os.access(p, os.R_OK) for p in paths]


# --- on the client -----------------------------------------------------------------------------
@contextmanager
def open_client(spec: ClusterSpec) -> Iterator[Any]:
    """A connected ``distributed.Client`` (and, for ``local:N``, the LocalCluster it runs), closed after.

    Raises :class:`ClusterError` when Dask is not installed or the scheduler does not answer
    within :data:`CONNECT_TIMEOUT_S`.
    """
    try:
        import dask  # noqa: F401
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError(f"{INSTALL_HINT} ({exc})") from exc
    cluster = None
    try:
        if spec.address is None:
            cluster = LocalCluster(
                n_workers=spec.local_workers,
                threads_per_worker=1,  # one interpreter per process; a core each
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=50,  # logging.CRITICAL: a restarted worker is reported by us, not by a trace
            )
            client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
        else:
            client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {spec}: {exc}") from exc
    try:
        yield client
    finally:
        with suppress(Exception):  # the scheduler already gone: nothing left to close politely
            client.close(timeout=5)
        if cluster is not None:
            cluster.close(timeout=10)


def worker_threads(client: Any) -> int:
    """Threads across the cluster's workers now (at least 1, so a cluster still starting gets work)."""
    try:
        info = client.scheduler_info()
    except Exception as exc:  # comm errors, or a closed client's ClosedClientError
        raise ClusterError(f"lost the Dask scheduler: {exc}") from exc
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))


def check_paths_visible(client: Any, paths: Sequence[str]) -> str | None:
    """A warning when the first file this process can read is not readable on a worker, else None.

    Only one file is tried: the point is to say early that the workers do not share this file
    system (each file they cannot read still gets its own error line).
    """
    first = next((p for p in paths if os.access(p, os.R_OK)), None)
    if first is None:
        return None
    try:
        answers = client.run(visible, [first])
    except Exception as exc:  # comm errors, or a closed client's ClosedClientError
        raise ClusterError(f"lost the Dask scheduler: {exc}") from exc
    blind = [w for w, ok in answers.items() if not ok[0]]
    if blind:
        return (
            f"{len(blind)} of {len(answers)} Dask workers cannot read {first}: the workers must see the "
            "files at the same paths (a shared file system); their files get an error line"
        )
    return None


def analyse_files_on_cluster(
    client: Any,
    paths: Sequence[str | Path],
    model: EmotionModel,
    *,
    keep_embeddings: bool = False,
    seg_cfg: SegmentConfig | None = None,
) -> Iterator[Any]:
    """Each file's result in input order, streaming: what :func:`analyse_task` returns for it.

    A task that raised (a bug, or a model the worker could not load) yields its reason as
    the file's error string (with ``seg_cfg``: ``(reason, None)``); a worker that died is
    Dask's to handle (its tasks run again elsewhere; after too many deaths the file gets an
    error line).  A scheduler that stops answering for :data:`GONE_AFTER_S` raises
    :class:`ClusterError`; results yielded before stay yielded.
    """
    from distributed import TimeoutError as DaskTimeout

    paths = [str(Path(p).absolute()) for p in paths]  # a worker's working directory is its own
    sha = file_sha256(model.path)
    args: tuple[Any, ...] = (
        str(Path(model.path).absolute()),
        sha,
        model.invoke_batch,
        keep_embeddings,
        seg_cfg,
    )
    if model.profile is not None:  # sent to every worker once, not with every file
        try:
            args += (client.scatter(model.profile.to_json(), broadcast=True),)
        except Exception as exc:
            raise ClusterError(f"lost the Dask scheduler: {exc}") from exc
    threads = worker_threads(client)
    ahead = AHEAD_PER_THREAD * threads
    per_task = files_per_task(len(paths), threads)
    batches = [paths[i : i + per_task] for i in range(0, len(paths), per_task)]
    queued: deque[Any] = deque()
    submitted = 0
    refused: Exception | None = None  # why the client took no more tasks: those queued still come back
    try:
        for batch in batches:
            while refused is None and submitted < len(batches) and len(queued) < ahead:
                try:
                    fut = client.submit(analyse_batch_task, batches[submitted], *args, pure=False)
                except Exception as exc:  # a closed client raises its own ClosedClientError
                    refused = exc
                    break
                queued.append(fut)
                submitted += 1
            if not queued:
                raise ClusterError(f"lost the Dask scheduler: {refused}") from refused
            fut = queued.popleft()
            results = _batch_results(client, fut, DaskTimeout)
            if isinstance(results, TaskFailed):
                reason = f"analysis failed on a Dask worker: {results.error}"
                for _ in batch:
                    yield (reason, None) if seg_cfg is not None else reason
            else:
                yield from results
            with suppress(Exception):  # the scheduler may be gone already; the next wait says so
                fut.release()
    finally:
        for fut in queued:
            with suppress(Exception):  # the client may already be closed
                fut.cancel()


@dataclass(frozen=True)
class TaskFailed:
    """A task that raised on its worker: its batch's files each get this error line."""

    error: BaseException


def _batch_results(client: Any, fut: Any, timeout_error: type[BaseException]) -> list[Any] | TaskFailed:
    """A batch's results, fetched once, or :class:`TaskFailed` when the task itself raised.

    Why one fetch and a wide net: ``Future.result`` gathers from the workers on every call,
    and with the scheduler going the calls raise what Dask has on hand (cancelled futures,
    a closed client's ``ClosedClientError``, comm errors).  Any of those is a lost scheduler
    once it has lasted :data:`GONE_AFTER_S` (a reconnecting client gets its futures back),
    never an uncaught trace or an error line for a file that did not fail.
    """
    lost_since: float | None = None
    while True:
        try:
            return fut.result(timeout=0.5)
        except (timeout_error, TimeoutError):
            pass
        except Exception as exc:
            if fut.status == "error":  # the task itself raised: its files' error lines
                return TaskFailed(exc)
            # the future was cancelled or lost with the scheduler: see whether it comes back
        if client.status == "running" and fut.status in ("pending", "finished", "error"):
            lost_since = None
            continue
        if lost_since is None:
            lost_since = time.monotonic()
        elif time.monotonic() - lost_since > GONE_AFTER_S:
            raise ClusterError(
                f"lost the Dask scheduler (client {client.status}, task {fut.status}); "
                "the results written so far stay, and --resume goes on from them"
            )
