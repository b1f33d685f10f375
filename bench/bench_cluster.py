"""``predict --cluster local:N`` against ``--jobs N``, the scheduler's cost per file, memory per worker.

Issue 26's measurements (its targets in brackets), each a whole ``serlive predict`` process timed
from outside, as a user runs it (start, cluster start, model loads and output included):

* ``clips``: ``--clips`` clips (default 240) of 2-5 s speech, ``--cluster local:N`` and ``--jobs N``
  alternating over ``--rounds``; the ratio is taken within each round and its median reported
  [within 10 %], and the outputs are compared byte for byte [identical];
* ``short``: ``--short`` files (default 1,000) of 0.5 s: the same pair; the difference in wall time
  per file is what a task costs on the cluster beyond the analysis;
* ``tasks``: the scheduler's own cost per task, in this process: ``--short`` no-op tasks submitted as
  serlive submits files (a few per worker ahead, collected in order) on a running LocalCluster;
* ``long``: one ``--minutes`` file (default 60): one task on one worker, against ``--jobs N``, which
  shares its windows over threads (real-time factors);
* ``memory``: each worker's peak RSS after analysing the clips (``ru_maxrss`` in the worker).

The speech is espeak-ng's (or, without it, a synthetic stand-in) from ``bench_pipeline``; no corpus
audio.  The CPU and the load average are printed, so a table from a busy machine says so.

    python bench/bench_cluster.py [--workers 2] [--clips 240] [--short 1000] [--minutes 60]
                                  [--rounds 3] [--model PATH] [--tiny]

``--tiny`` (6 clips, 20 short files, a 30 s file, one round) only checks that the script runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_jobs import cpu_description, make_clips  # noqa: E402
from bench_pipeline import espeak_speech, synthetic_speech  # noqa: E402

SR = 16000


def predict(paths: list[str], how: list[str], model: str | None) -> tuple[float, bytes]:
    """Wall seconds and stdout of one ``serlive predict`` process."""
    cmd = [sys.executable, "-m", "serlive.cli", "predict", *paths, "--format", "json", *how]
    if model:
        cmd += ["--model", model]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, env=env, timeout=4 * 3600, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(
            f"serlive predict {' '.join(how)} failed ({out.returncode}):\n{out.stderr.decode()[-2000:]}"
        )
    return wall, out.stdout


def pair(paths: list[str], workers: int, rounds: int, model: str | None) -> dict[str, object]:
    """``--cluster local:N`` and ``--jobs N`` alternating; the per-round ratio's median; same output?"""
    cluster, jobs, ratios, same = [], [], [], True
    for _ in range(rounds):
        tc, oc = predict(paths, ["--cluster", f"local:{workers}"], model)
        tj, oj = predict(paths, ["--jobs", str(workers)], model)
        cluster.append(tc)
        jobs.append(tj)
        ratios.append(tc / tj)
        same = same and oc == oj
    return {
        "files": len(paths),
        "cluster_s": [round(t, 2) for t in cluster],
        "jobs_s": [round(t, 2) for t in jobs],
        "cluster_over_jobs_median": round(statistics.median(ratios), 3),
        "per_file_extra_ms": round(
            1000 * (statistics.median(cluster) - statistics.median(jobs)) / len(paths), 2
        ),
        "byte_identical": same,
    }


def _noop(i: int) -> int:
    return i


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_process(clips: list[str], n_tasks: int, workers: int, model_path: str | None) -> dict[str, object]:
    """The scheduler's cost per task (no-op tasks, submitted and collected as serlive does) and the
    workers' peak RSS after analysing ``clips`` on them."""
    from collections import deque

    from distributed import Client, LocalCluster

    from serlive.files.cluster import AHEAD_PER_THREAD, analyse_files_on_cluster
    from serlive.model import EmotionModel

    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as lc,
        Client(lc) as client,
    ):
        client.wait_for_workers(workers)
        client.submit(_noop, -1, pure=False).result()  # the function shipped once
        ahead = AHEAD_PER_THREAD * workers
        t0 = time.perf_counter()
        queued: deque = deque()
        for i in range(n_tasks):
            queued.append(client.submit(_noop, i, pure=False))
            if len(queued) >= ahead:
                queued.popleft().result()
        for f in queued:
            f.result()
        per_task_ms = 1000 * (time.perf_counter() - t0) / n_tasks
        model = EmotionModel(model_path)
        for _ in analyse_files_on_cluster(client, clips, model):
            pass
        rss = client.run(_peak_rss_mb)
    return {
        "tasks": n_tasks,
        "per_task_ms_in_order": round(per_task_ms, 3),
        "worker_peak_rss_mb": sorted(round(v, 1) for v in rss.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clips", type=int, default=240)
    ap.add_argument("--short", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model")
    ap.add_argument("--tiny", action="store_true", help="6 clips, 20 short files, 30 s, one round")
    a = ap.parse_args()
    if a.tiny:
        a.clips, a.short, a.minutes, a.rounds = 6, 20, 0.5, 1
    report: dict[str, object] = {
        "cpu": cpu_description(),
        "workers": a.workers,
        "model": a.model or "shipped",
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        speech = espeak_speech(SR, max(60.0, a.minutes * 60), tmp)
        report["speech"] = "espeak-ng" if speech is not None else "synthetic"
        if speech is None:
            speech = synthetic_speech(SR, max(60.0, a.minutes * 60))
        clips = [str(p) for p in make_clips(tmp / "clips", a.clips, speech)]
        short_dir = tmp / "short"
        short_dir.mkdir()
        short = []
        rng = np.random.default_rng(2)
        for i in range(a.short):
            start = int(rng.integers(0, len(speech) - SR // 2))
            short.append(str(short_dir / f"s_{i:05d}.wav"))
            sf.write(short[-1], speech[start : start + SR // 2], SR)
        long_path = tmp / "long.flac"
        sf.write(str(long_path), speech[: int(a.minutes * 60 * SR)], SR)
        report["clips"] = pair(clips, a.workers, a.rounds, a.model)
        report["short"] = pair(short, a.workers, a.rounds, a.model)
        long_cluster, _ = predict([str(long_path)], ["--cluster", f"local:{a.workers}"], a.model)
        long_jobs, _ = predict([str(long_path)], ["--jobs", str(a.workers)], a.model)
        seconds = a.minutes * 60
        report["long"] = {
            "minutes": a.minutes,
            "cluster_x_real_time": round(seconds / long_cluster, 1),
            "jobs_x_real_time": round(seconds / long_jobs, 1),
        }
        report["in_process"] = in_process(clips, a.short, a.workers, a.model)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
