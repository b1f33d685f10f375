"""A folder on worker processes (``serlive.files.processes``): the serial results, in input order.

The serial loop (``--jobs 1``) is the reference: every number equal bit for bit,
unreadable files giving the same reason in the same place, and a worker process
that dies handing its files back instead of losing them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

import serlive.files.parallel as parallel
from serlive.cli import main
from serlive.files.analysis import Analysis
from serlive.files.parallel import analyse_files
from serlive.files.processes import MIN_FILES_PER_JOB, analyse_files_in_processes, use_processes
from serlive.model import EmotionModel
from tests.conftest import clip_folder
from tests.test_parallel import assert_same_analysis


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Twenty files of different lengths (they finish out of order), one unreadable, one silent."""
    return clip_folder(tmp_path_factory.mktemp("folder"), 20, bad=5, silent=11, step=7, mod=13, shift=0.37)


def assert_same_results(got: list[Analysis | str], want: list[Analysis | str]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if isinstance(w, str):
            assert g == w  # the same reason, in the same place
        else:
            assert isinstance(g, Analysis)
            assert_same_analysis(g, w)


def test_a_folder_goes_to_processes_a_few_files_stay_on_threads():
    assert not use_processes(100, 1)
    assert not use_processes(MIN_FILES_PER_JOB * 2 - 1, 2)
    assert use_processes(MIN_FILES_PER_JOB * 2, 2)


@pytest.mark.parametrize("jobs", [2, 3])
def test_processes_give_the_serial_results_in_input_order(folder, tiny_models, jobs):
    model = EmotionModel(tiny_models.int8)
    kw = {"segment_windows": 4, "batch": 2}
    serial = list(analyse_files(folder, model, 1, **kw))
    assert sum(isinstance(r, str) for r in serial) == 1
    assert_same_results(list(analyse_files_in_processes(folder, model, jobs, **kw)), serial)


def test_session_embeddings_come_back_from_the_workers(folder):
    """The shipped encoder model's per-window embeddings (``--session``) cross the process boundary intact."""
    model = EmotionModel()
    paths = folder[:9]
    serial = list(analyse_files(paths, model, 1, keep_embeddings=True))
    assert any(isinstance(r, Analysis) and r.windows and r.windows[0].embedding is not None for r in serial)
    assert_same_results(list(analyse_files_in_processes(paths, model, 2, keep_embeddings=True)), serial)


def test_predict_on_a_folder_uses_processes_and_prints_what_one_job_prints(
    capsys, folder, tiny_models, monkeypatch
):
    calls: list[int] = []
    real = parallel.analyse_files_in_processes

    def counted(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "analyse_files_in_processes", counted)
    args = ["predict", str(folder[0].parent), "--model", str(tiny_models.int8), "--format", "json"]
    rc1 = main([*args, "--timeline", "--jobs", "1"])
    serial = capsys.readouterr()
    rc2 = main([*args, "--timeline", "--jobs", "2"])
    par = capsys.readouterr()
    assert calls == [2]
    assert rc1 == rc2 == 1  # the unreadable file
    assert par.out == serial.out
    recs = [json.loads(line) for line in par.out.splitlines()]
    assert [Path(r["path"]).name for r in recs] == [p.name for p in folder]
    assert "error" in recs[5] and recs[11]["speech"] is False
    assert "Traceback" not in par.err


def test_a_dead_worker_process_hands_its_files_back(folder, tiny_models, capfd):
    model = EmotionModel(tiny_models.int8)
    kw = {"segment_windows": 4, "batch": 2}
    serial = list(analyse_files(folder, model, 1, **kw))
    results = analyse_files_in_processes(folder, model, 3, **kw)
    got = [next(results)]  # this process's thread analyses the first file while the workers start
    children = multiprocessing.active_children()
    assert children, "no worker process was started"
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
    got += list(results)
    assert_same_results(got, serial)
    assert "a worker process ended unexpectedly" in capfd.readouterr().err


def test_workers_are_forked_only_from_a_process_without_other_threads():
    """``serlive predict`` forks (no other thread runs yet); a caller with threads of its own spawns."""
    import sys
    import threading

    from serlive.files.processes import start_method

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        t.join()
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        assert start_method() == "fork"
