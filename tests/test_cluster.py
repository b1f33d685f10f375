"""``serlive predict --cluster`` on a Dask ``LocalCluster`` of two worker processes on loopback.

The reference is ``--jobs 1``'s output, byte for byte.  The faults are real: a worker process
SIGKILLed mid-run, the client SIGKILLed and then resumed, the scheduler closed mid-run, and an
address where nothing listens.  Every cluster is closed by its fixture, so no worker outlives
the test that made it.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from serlive.cli import main
from tests.conftest import REPO, clip_folder, spoken, write_audio

distributed = pytest.importorskip("distributed", reason="needs the [cluster] extra")

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::ResourceWarning", "ignore:Port 8787 is already in use"
)


def make_cluster() -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    """Two worker processes on loopback, shared by the tests that do not harm them."""
    c = make_cluster()
    try:
        yield c
    finally:
        c.close(timeout=20)


@pytest.fixture
def own_cluster() -> Iterator[distributed.LocalCluster]:
    """A cluster for one test that kills part of it."""
    c = make_cluster()
    try:
        yield c
    finally:
        with contextlib.suppress(Exception):
            c.close(timeout=20)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Nine files of different lengths (they finish out of order), one unreadable, one silent."""
    return clip_folder(
        tmp_path_factory.mktemp("cluster_clips"), 9, bad=3, silent=6, step=5, mod=9, shift=0.41
    )


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Twelve 12 s files: with the shipped encoder model, long enough for a kill to land mid-run."""
    d = tmp_path_factory.mktemp("cluster_long")
    paths = []
    for i in range(12):
        paths.append(write_audio(d / f"talk_{i:02d}.wav", spoken(12.0, start_s=0.7 * i)))
    return paths


@pytest.fixture(scope="module")
def long_reference(long_clips: list[Path]) -> str:
    """``--jobs 1``'s JSON lines for :func:`long_clips`, made once for the fault tests."""
    return run_main(["predict", *map(str, long_clips), "--format", "json", "--jobs", "1"])[1]


def run_main(argv: list[str]) -> tuple[int, str]:
    """``serlive`` in this process: (exit status, standard output)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "serlive.cli", *args]


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """Wait until ``path`` holds ``n`` complete lines (or the process ended); the lines it holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        have = path.read_bytes().count(b"\n") if path.exists() else 0
        if have >= n or proc.poll() is not None:
            return have
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {n} lines in {timeout} s")


def run_interrupted(
    argv: list[str], out: Path, lines: int, interrupt: Callable[[], object]
) -> tuple[int, int, str]:
    """Run ``argv``, call ``interrupt()`` once ``out`` holds ``lines`` records, and wait for the end:
    the records there were before the interrupt, the exit status and stderr."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, cwd=REPO)
    try:
        seen = wait_for_lines(out, lines, proc)
        interrupt()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return seen, proc.returncode, err.decode()


@pytest.mark.parametrize(
    "options",
    [["--format", "json", "--timeline"], ["--format", "csv"], ["--format", "json", "--segments"]],
    ids=["json-timeline", "csv", "segments"],
)
def test_cluster_output_is_byte_identical_to_one_job(cluster, clips, tiny_models, options):
    files = [str(p) for p in clips]
    model = ["--model", str(tiny_models.int8)]
    rc1, want = run_main(["predict", *files, *model, *options, "--jobs", "1"])
    rc2, got = run_main(["predict", *files, *model, *options, "--cluster", cluster.scheduler_address])
    assert (rc1, rc2) == (1, 1)  # the unreadable file fails either way
    assert got == want
    assert "not a readable audio file" in got or "error" in got  # its own error line, in its place


def test_session_embeddings_come_back_from_the_workers(cluster, clips, monkeypatch):
    """``--session`` (the shipped encoder model): the workers' embeddings adapt the files alike."""
    files = [str(p) for p in clips[:3]] * 3  # 9 files, over 20 s of speech: the adaptation runs
    rc1, want = run_main(["predict", *files, "--session", "--format", "json", "--jobs", "1"])
    monkeypatch.setenv("SERLIVE_CLUSTER", cluster.scheduler_address)  # the variable picks the cluster
    rc2, got = run_main(["predict", *files, "--session", "--format", "json"])
    assert rc1 == rc2 == 0
    assert '"adapted": true' in want
    assert got == want


def test_a_task_that_raises_gives_its_file_an_error_line(cluster, clips, tiny_models, monkeypatch):
    """A worker that cannot load the client's model (another file at that path) fails each file, clearly."""
    import serlive.files.cluster as cl

    monkeypatch.setattr(cl, "file_sha256", lambda path: "0" * 64)  # the client's idea of the model's hash
    model = ["--model", str(tiny_models.int8), "--format", "json"]
    rc, out = run_main(
        ["predict", str(clips[0]), str(clips[1]), *model, "--cluster", cluster.scheduler_address]
    )
    assert rc == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert all('"error"' in line and "is not the client's" in line for line in lines)


def test_a_worker_killed_mid_run_loses_nothing_and_writes_nothing_twice(
    own_cluster, long_clips, long_reference, tmp_path
):
    files = [str(p) for p in long_clips]
    want = long_reference
    with distributed.Client(own_cluster) as client:
        pids = list(client.run(os.getpid).values())
    out = tmp_path / "out.jsonl"
    argv = cli("predict", *files, "--output", str(out), "--cluster", own_cluster.scheduler_address)
    seen, rc, err = run_interrupted(argv, out, 1, lambda: os.kill(pids[0], signal.SIGKILL))
    assert seen < len(files), "the run ended before the kill: nothing was tested"
    assert rc == 0, err
    assert out.read_text() == want  # every record once, in order, the one-job numbers


def test_the_client_killed_then_resumed_writes_every_record_once(
    cluster, long_clips, long_reference, tmp_path
):
    files = [str(p) for p in long_clips]
    want = long_reference
    out = tmp_path / "out.jsonl"
    argv = cli("predict", *files, "--output", str(out), "--cluster", cluster.scheduler_address)
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        seen = wait_for_lines(out, 2, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen < len(files), "the run ended before the kill: nothing was tested"
    partial = out.read_text()
    assert want.startswith(partial[: partial.rfind("\n") + 1])
    done = subprocess.run(
        [*argv, "--resume"], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "already in the output" in done.stderr  # the summary line counts what was skipped
    assert out.read_text() == want


def test_the_scheduler_gone_mid_run_exits_2_and_resume_finishes(
    own_cluster, long_clips, long_reference, tmp_path
):
    files = [str(p) for p in long_clips]
    out = tmp_path / "out.jsonl"
    argv = cli("predict", *files, "--output", str(out), "--cluster", own_cluster.scheduler_address)
    seen, rc, err = run_interrupted(argv, out, 1, lambda: own_cluster.close(timeout=20))
    assert seen < len(files), "the run ended before the scheduler went: nothing was tested"
    assert rc == 2, err
    assert "lost the Dask scheduler" in err
    assert "--resume" in err
    want = long_reference
    rc, _ = run_main(["predict", *files, "--output", str(out), "--resume", "--jobs", "2"])
    assert rc == 0
    assert out.read_text() == want


def test_an_unreachable_scheduler_is_a_clear_message_and_exit_2(clips, tiny_models, monkeypatch, capsys):
    import serlive.files.cluster as cl

    monkeypatch.setattr(cl, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = main(
        ["predict", str(clips[0]), "--model", str(tiny_models.int8), "--cluster", f"tcp://127.0.0.1:{port}"]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_without_dask_the_message_names_the_extra(clips, tiny_models, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the [cluster] extra were not installed
    rc = main(["predict", str(clips[0]), "--model", str(tiny_models.int8), "--cluster", "local:2"])
    assert rc == 2
    assert "pip install 'serlive[cluster]'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["local:0", "local:x", "nonsense"])
def test_a_malformed_cluster_is_a_usage_error(clips, bad, capsys):
    assert main(["predict", str(clips[0]), "--cluster", bad]) == 2
    assert "--cluster" in capsys.readouterr().err


def test_predict_without_cluster_does_not_import_dask(clips, tiny_models, tmp_path):
    code = (
        "import sys; from serlive.cli import main; "
        f"main(['predict', {str(clips[0])!r}, '--model', {str(tiny_models.int8)!r}, "
        f"'--output', {str(tmp_path / 'o.csv')!r}]); "
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO)


def test_the_api_runs_on_a_client_given(cluster, clips, tiny_models):
    import serlive

    model = serlive.load_model(tiny_models.int8)
    here = [r.to_dict() for r in serlive.analyse_files(clips, model=model, jobs=1)]
    with distributed.Client(cluster) as client:
        there = [r.to_dict() for r in serlive.analyse_files(clips, model=model, cluster=client)]
    assert there == here
    assert there[3]["error"] and there[3]["label"] is None


def test_a_profile_travels_to_the_workers(cluster, clips, tmp_path, monkeypatch):
    """``--profile`` on a cluster: the workers judge through it, byte-identical to one job."""

    from serlive.files.analysis import analyse_file
    from serlive.files.enrolment import clip_vectors
    from serlive.model import EmotionModel
    from serlive.profiles.build import make_profile
    from serlive.profiles.methods import Enrolment
    from serlive.profiles.store import save_profile

    model = EmotionModel()
    vecs = []
    for p in clips:
        try:
            v = clip_vectors(analyse_file(p, model, keep_embeddings=True))
        except Exception:
            continue
        if v is not None:
            vecs.append(v)
    assert len(vecs) >= 4
    labels = np.arange(len(vecs)) % 2  # two labels of its own: the profile's, not the model's
    enrol = Enrolment(
        np.stack([v[0] for v in vecs]), np.stack([v[1] for v in vecs]), labels, ("one", "two"), model.labels
    )
    path = save_profile(make_profile("t", enrol, "own", model.sha256, model.path.name), tmp_path / "t.json")
    files = [str(p) for p in clips]
    opts = ["--format", "json", "--profile", str(path)]
    rc1, want = run_main(["predict", *files, *opts, "--jobs", "1"])
    rc2, got = run_main(["predict", *files, *opts, "--cluster", cluster.scheduler_address])
    assert got == want and (rc1, rc2) == (1, 1)
    assert '"one"' in got and '"neutral"' not in got


def test_files_go_in_batches_and_come_back_in_order(cluster, clips, tiny_models, monkeypatch):
    """Short clips travel several to a task (the scheduler's cost per task is paid per batch): the output is
    still one job's, byte for byte, and a file that fails in a batch fails alone."""
    import serlive.files.cluster as cl

    assert (
        cl.files_per_task(9, 2) == 1 and cl.files_per_task(240, 2) == 7 and cl.files_per_task(10**6, 8) == 16
    )
    monkeypatch.setattr(cl, "files_per_task", lambda n, threads: 4)
    files = [str(p) for p in clips]
    opts = ["--model", str(tiny_models.int8), "--format", "json", "--timeline"]
    rc1, want = run_main(["predict", *files, *opts, "--jobs", "1"])
    rc2, got = run_main(["predict", *files, *opts, "--cluster", cluster.scheduler_address])
    assert got == want and (rc1, rc2) == (1, 1)
    assert sum('"error"' in line for line in got.splitlines()) == 1  # the unreadable one, not its batch


class _Lost(Exception):
    """Stands for what Dask raises with its scheduler gone (ClosedClientError, comm errors)."""


class _FakeFuture:
    """A future that gives ``value`` once, then behaves as a future of a client whose scheduler went."""

    def __init__(self, value: object, *, fetches: int = 1) -> None:
        self.value, self.fetches, self.status = value, fetches, "finished"

    def result(self, timeout: float | None = None) -> object:
        if self.fetches <= 0:
            self.status = "cancelled"
            raise _Lost("Client is closed. Can't send gather message.")
        self.fetches -= 1
        return self.value

    def release(self) -> None:
        raise _Lost("Client is closed. Can't send client-releases-keys message.")

    def cancel(self) -> None:
        raise _Lost("Client is closed.")


class _FakeClient:
    """Submits ``good`` batches, then is closed: what a client is once its scheduler has gone."""

    def __init__(self, good: int) -> None:
        self.good, self.status = good, "running"

    def scheduler_info(self) -> dict:
        return {"workers": {"w": {"nthreads": 1}}}

    def submit(self, fn, batch, *args, pure: bool = False) -> _FakeFuture:
        if self.good <= 0:
            self.status = "closed"
            raise _Lost("Client is closed. Can't send update-graph message.")
        self.good -= 1
        return _FakeFuture([f"result of {p}" for p in batch])


@pytest.mark.parametrize("good", [0, 1, 3])
def test_a_client_closed_between_batches_is_a_lost_scheduler_not_a_trace(good, tmp_path, monkeypatch):
    """Whatever Dask raises once its client is closed ends the run as a lost scheduler (exit 2, --resume)."""
    import types

    import serlive.files.cluster as cl

    monkeypatch.setattr(cl, "GONE_AFTER_S", 0.2)
    monkeypatch.setattr(cl, "files_per_task", lambda n, threads: 1)
    model_file = tmp_path / "m.tflite"
    model_file.write_bytes(b"not read by a fake client")
    model = types.SimpleNamespace(path=model_file, invoke_batch=1, profile=None)
    paths = [str(tmp_path / f"{i}.wav") for i in range(5)]
    got: list[object] = []
    with pytest.raises(cl.ClusterError, match="lost the Dask scheduler"):
        for result in cl.analyse_files_on_cluster(_FakeClient(good), paths, model):
            got.append(result)
    assert got == [f"result of {p}" for p in paths[:good]]  # each batch that came back, once, in order


def test_a_finished_batch_is_fetched_once(monkeypatch):
    """A batch's result is gathered once: a second gather can meet a scheduler that has just gone."""
    import serlive.files.cluster as cl

    fut = _FakeFuture(["a", "b"], fetches=1)
    client = _FakeClient(1)
    assert cl._batch_results(client, fut, TimeoutError) == ["a", "b"]
    client.status = "closed"
    monkeypatch.setattr(cl, "GONE_AFTER_S", 0.2)
    with pytest.raises(cl.ClusterError, match="lost the Dask scheduler"):
        cl._batch_results(client, fut, TimeoutError)


def test_a_task_that_raised_is_its_files_error_not_a_lost_scheduler():
    import serlive.files.cluster as cl

    class Raised(_FakeFuture):
        def result(self, timeout: float | None = None) -> object:
            self.status = "error"
            raise ValueError("is not the client's model")

    failed = cl._batch_results(_FakeClient(1), Raised(None), TimeoutError)
    assert isinstance(failed, cl.TaskFailed)
    assert "is not the client's model" in str(failed.error)
