"""``predict --jobs``: several workers give byte for byte what one gives, in input order.

The serial path (``--jobs 1``) is the reference throughout.  A long file cut
into many small segments and batches makes the split of one file across
workers happen with short test signals.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import serlive.files.parallel as parallel
from serlive.cli import main
from serlive.files.analysis import Analysis, analyse_signal
from serlive.files.parallel import analyse_files, analyse_signal_parallel, usable_cores
from serlive.model import EmotionModel
from tests.conftest import SR, spoken, write_audio


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files of very different lengths (so a parallel run finishes them out of order), and a broken one."""
    d = tmp_path_factory.mktemp("parallel_audio")
    out = {
        "long": write_audio(d / "long.wav", spoken(41.0)),
        "short": write_audio(d / "short.flac", spoken(2.0, start_s=1.0)),
        "mid": write_audio(d / "mid.wav", spoken(9.5, start_s=0.5)),
        "silent": write_audio(d / "silent.wav", np.zeros(5 * SR, np.float32)),
        "tiny": write_audio(d / "tiny.wav", spoken(0.2)),
        "bad": d / "bad.wav",
    }
    out["bad"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    return out


def predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["predict", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_same_analysis(a: Analysis, b: Analysis) -> None:
    """Every number equal, bit for bit."""
    assert (a.duration_s, a.labels, a.speech, a.adapted, a.hop_s) == (
        b.duration_s,
        b.labels,
        b.speech,
        b.adapted,
        b.hop_s,
    )
    assert a.probabilities.tobytes() == b.probabilities.tobytes()
    assert len(a.windows) == len(b.windows)
    for u, v in zip(a.windows, b.windows, strict=True):
        assert (u.start_s, u.end_s, u.silent) == (v.start_s, v.end_s, v.silent)
        assert u.probabilities.tobytes() == v.probabilities.tobytes()
        assert (u.embedding is None) == (v.embedding is None)
        if u.embedding is not None:
            assert u.embedding.tobytes() == v.embedding.tobytes()


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
@pytest.mark.parametrize("timeline", [False, True])
def test_cli_output_is_byte_identical(capsys, files, tiny_models, fmt, timeline):
    order = ["long", "short", "bad", "silent", "mid", "tiny"]
    args = [str(files[k]) for k in order] + ["--model", str(tiny_models.int8), "--format", fmt]
    args += ["--timeline"] if timeline else []
    serial = predict(capsys, *args, "--jobs", "1")
    assert serial[0] == 1  # the broken file
    for jobs in ("2", "4"):
        assert predict(capsys, *args, "--jobs", jobs) == serial


def test_input_order_with_files_finishing_out_of_order(capsys, files, tiny_models):
    import json

    order = ["long", "tiny", "mid", "short", "long", "bad", "short"]
    args = [str(files[k]) for k in order]
    rc, out, _ = predict(capsys, *args, "--model", str(tiny_models.int8), "--format", "json", "--jobs", "3")
    assert rc == 1
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in recs] == args
    assert [set(r) == {"path", "error"} for r in recs] == [k == "bad" for k in order]
    durations = {k: r["duration_s"] for k, r in zip(order, recs, strict=True) if k != "bad"}
    assert durations == {"long": 41.0, "tiny": 0.2, "mid": 9.5, "short": 2.0}


def test_unreadable_file_gives_its_one_error_line(capsys, files, tiny_models, tmp_path):
    missing = tmp_path / "missing.wav"
    args = [str(files["short"]), str(files["bad"]), str(missing), str(files["mid"])]
    rc, out, err = predict(capsys, *args, "--model", str(tiny_models.int8), "--jobs", "2")
    assert rc == 1
    assert err.count("serlive: ") == 2
    assert f"serlive: {files['bad']}:" in err and f"serlive: {missing}:" in err
    assert out.index(str(files["short"])) < out.index(str(files["mid"]))
    assert "Traceback" not in err


def test_a_long_file_split_across_workers_equals_the_serial_analysis(tiny_models, monkeypatch):
    """Two workers analyse batches of the same file at the same time, and nothing changes."""
    model = EmotionModel(tiny_models.int8)
    y = spoken(30.0)
    y[8 * SR : 14 * SR] = 0.0  # some silent windows too
    kw = {"segment_windows": 7, "batch": 3}  # 55 windows at the 0.5 s hop: 8 segments, 24 batches
    serial = analyse_signal(y, model, **kw)
    assert len(serial.windows) > 20 and any(w.silent for w in serial.windows)

    # every worker that runs a batch waits at this barrier on its first one, so the test fails
    # (BrokenBarrierError) unless two workers really do run batches of this one file at once
    barrier = threading.Barrier(2, timeout=30)
    seen: set[str] = set()
    real = parallel.analyse_batch

    def batch_in_two_threads(*args, **kwargs):
        name = threading.current_thread().name
        if name not in seen:
            seen.add(name)
            if len(seen) <= 2:
                barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "analyse_batch", batch_in_two_threads)
    split = analyse_signal_parallel(y, model, jobs=2, **kw)
    assert len(seen) == 2
    assert_same_analysis(split, serial)


@pytest.mark.parametrize("jobs", [2, 5])
def test_analyse_files_equals_serial_for_every_file(files, tiny_models, jobs):
    model = EmotionModel(tiny_models.int8)
    paths = [files[k] for k in ("mid", "bad", "long", "silent", "tiny", "short")]
    kw = {"segment_windows": 4, "batch": 2}
    serial = list(analyse_files(paths, model, 1, **kw))
    par = list(analyse_files(paths, model, jobs, **kw))
    assert len(par) == len(serial) == len(paths)
    for s, p in zip(serial, par, strict=True):
        if isinstance(s, str):
            assert p == s  # the same reason
        else:
            assert isinstance(p, Analysis)
            assert_same_analysis(p, s)


def test_session_adaptation_is_the_same_in_parallel(capsys, tmp_path):
    """--session keeps every window's embedding (the shipped encoder model adapts); all must match."""
    paths = [str(write_audio(tmp_path / f"s{i}.wav", spoken(12.0, start_s=0.3 * i))) for i in range(3)]
    serial = predict(capsys, *paths, "--session", "--format", "json", "--timeline", "--jobs", "1")
    assert serial[0] == 0 and '"adapted": true' in serial[1]
    assert predict(capsys, *paths, "--session", "--format", "json", "--timeline", "--jobs", "2") == serial


def test_progress_and_cancel(tiny_models):
    model = EmotionModel(tiny_models.int8)
    y = spoken(30.0)
    kw = {"segment_windows": 5, "batch": 2}
    seen: list[float] = []
    full = analyse_signal_parallel(y, model, jobs=2, progress=lambda f: seen.append(f) and False, **kw)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert_same_analysis(full, analyse_signal(y, model, **kw))

    part = analyse_signal_parallel(y, model, jobs=2, progress=lambda f: True, **kw)
    assert len(part.windows) < len(full.windows)
    for u, v in zip(part.windows, full.windows, strict=False):  # a prefix of the whole analysis
        assert (u.start_s, u.probabilities.tobytes()) == (v.start_s, v.probabilities.tobytes())


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_jobs_is_a_usage_error(capsys, files, bad):
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(files["short"]), "--jobs", bad])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def test_default_jobs_is_the_usable_cores_as_memory_allows(monkeypatch):
    import os

    assert usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(parallel, "usable_cores", lambda: 8)
    monkeypatch.setattr(parallel, "_available_bytes", lambda: 64 * 2**30)
    assert parallel.default_jobs() == 8
    monkeypatch.setattr(parallel, "_available_bytes", lambda: 3 * parallel.WORKER_BYTES + 1)
    assert parallel.default_jobs() == 3
    monkeypatch.setattr(parallel, "_available_bytes", lambda: 2**20)
    assert parallel.default_jobs() == 1
    monkeypatch.setattr(parallel, "_available_bytes", lambda: None)  # not Linux: the cores
    assert parallel.default_jobs() == 8


def test_predict_uses_the_default_jobs(capsys, files, tiny_models, monkeypatch):
    seen: list[int] = []
    real = parallel.analyse_files

    def spy(paths, model, jobs=1, **kw):
        seen.append(jobs)
        return real(paths, model, jobs, **kw)

    monkeypatch.setattr(parallel, "analyse_files", spy)
    monkeypatch.setattr(parallel, "default_jobs", lambda: 3)
    assert predict(capsys, str(files["short"]), "--model", str(tiny_models.int8))[0] == 0
    assert predict(capsys, str(files["short"]), "--model", str(tiny_models.int8), "--jobs", "1")[0] == 0
    assert seen == [3, 1]


def test_kept_worker_models_are_made_once_for_many_files(tiny_models, monkeypatch):
    """The viewer keeps its second interpreter (``keep_models``): made for the first file, then reused."""
    model = EmotionModel(tiny_models.int8)
    made: list[EmotionModel] = []

    class Counted(EmotionModel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(parallel, "EmotionModel", Counted)
    monkeypatch.setattr(parallel, "_SPARES", {})
    y = spoken(30.0)
    kw = {"segment_windows": 5, "batch": 2}
    serial = analyse_signal(y, model, **kw)
    # the barrier makes both workers take a batch, so the second one needs an interpreter
    barrier = threading.Barrier(2, timeout=30)
    real = parallel.analyse_batch
    first: set[str] = set()

    def both_workers(*args, **kwargs):
        name = threading.current_thread().name
        if name not in first:
            first.add(name)
            barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "analyse_batch", both_workers)
    for _ in range(3):
        first.clear()
        barrier.reset()
        assert_same_analysis(analyse_signal_parallel(y, model, jobs=2, keep_models=True, **kw), serial)
    assert len(made) == 1
    first.clear()
    barrier.reset()
    analyse_signal_parallel(y, model, jobs=2, **kw)  # without keep_models: a new one, not kept
    assert len(made) == 2


def test_a_worker_does_not_wait_while_another_makes_a_segments_frames(tiny_models, monkeypatch):
    """While one worker makes the first segment's frames, the other starts on a later segment."""
    from serlive.files.analysis import SignalPlan

    model = EmotionModel(tiny_models.int8)
    y = spoken(30.0)
    kw = {"segment_windows": 20, "batch": 4}  # 55 windows: segments of 20, 20 and 15
    serial = analyse_signal(y, model, **kw)
    real = SignalPlan.segment
    first_ready = threading.Event()
    early: list[int] = []  # segments whose batches ran before segment 0's frames were made

    def slow_first(self, y, seg, extractor):
        if seg == 0:
            time.sleep(0.5)
            out = real(self, y, seg, extractor)
            first_ready.set()
            return out
        if not first_ready.is_set():
            early.append(seg)
        return real(self, y, seg, extractor)

    monkeypatch.setattr(SignalPlan, "segment", slow_first)
    assert_same_analysis(analyse_signal_parallel(y, model, jobs=2, **kw), serial)
    assert early and early[0] == 1, early
