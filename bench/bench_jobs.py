"""``serlive predict --jobs``: a folder of clips and one long file, with 1 and N workers, side by side.

Each measurement is a whole ``serlive predict`` process (start, model load and
output included, as a user runs it), timed from outside.  The runs alternate
(1 job, N jobs, N separate one-job processes, 1 job, ...) so that both see the
same machine, and each ratio is taken within one round, then the median over
rounds is reported: on a busy machine the absolute times move, the ratios much
less.  The outputs of 1 and N jobs are compared byte for byte.

Cases (issue 19's targets in brackets):

* ``folder``: ``--clips`` clips (default 240) of 2-5 s speech [N=2: >= 1.8x faster than 1 job];
  also run as N separate ``--jobs 1`` processes over 1/N of the files each: what a process
  pool would give, for the threads-or-processes choice;
* ``long``: one ``--minutes`` long FLAC file (default 10) [>= 100x real time with 1 job,
  >= 1.7x that with 2].

The CPU is named from ``lscpu`` (model, cores this process may use, AVX2/AVX-512/VNNI
flags) and the load average is printed before and after, so a table from a busy
machine says so.

    python bench/bench_jobs.py [--jobs N] [--clips 240] [--minutes 10] [--rounds 3]
                               [--data FOLDER] [--model PATH] [--tiny]

``--data`` takes an existing folder of clips instead of the generated ones; ``--tiny``
(6 clips, 30 s, one round) checks that the script runs.
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

from bench_pipeline import espeak_speech, synthetic_speech  # noqa: E402

from serlive.audio.io import AUDIO_EXTENSIONS  # noqa: E402
from serlive.files.parallel import usable_cores  # noqa: E402

SR = 16000
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_description() -> dict[str, object]:
    """Model name, usable cores and the SIMD flags that decide XNNPACK's int8 kernels."""
    info: dict[str, object] = {"usable_cores": usable_cores(), "load_average": os.getloadavg()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    info["model"] = fields.get("Model name", "?").strip()
    info["cpus"] = fields.get("CPU(s)", "?").strip()
    have = set(fields.get("Flags", "").split())
    info["flags"] = [f for f in FLAGS if f in have]
    return info


def make_clips(folder: Path, n: int, speech: np.ndarray) -> list[Path]:
    """``n`` clips of 2-5 s cut from ``speech`` at varied offsets and gains (16 kHz wav)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        dur = int(SR * rng.uniform(2.0, 5.0))
        start = int(rng.integers(0, len(speech) - dur))
        y = speech[start : start + dur] * float(rng.uniform(0.5, 1.0))
        paths.append(folder / f"clip_{i:04d}.wav")
        sf.write(str(paths[-1]), y, SR)
    return paths


def predict(args: list[str], jobs: int, model: str | None) -> tuple[float, float, bytes]:
    """Wall seconds, child CPU seconds and stdout of one ``serlive predict`` process."""
    cmd = [sys.executable, "-m", "serlive.cli", "predict", *args, "--format", "json", "--jobs", str(jobs)]
    if model:
        cmd += ["--model", model]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    before = os.times()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, env=env, timeout=3600)
    wall = time.perf_counter() - t0
    after = os.times()
    if out.returncode != 0:
        raise SystemExit(f"serlive predict failed ({out.returncode}):\n{out.stderr.decode()[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, out.stdout


def processes(groups: list[list[str]], model: str | None) -> float:
    """Wall seconds of one ``--jobs 1`` process per group, all running at once (a process pool's cost)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    extra = ["--model", model] if model else []
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "serlive.cli", "predict", *g, "--format", "json", "--jobs", "1", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for g in groups
    ]
    for p in procs:
        p.wait()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=usable_cores(), help="N (default: the usable cores)")
    ap.add_argument("--clips", type=int, default=240)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", type=Path, help="a folder of clips to use instead of generated ones")
    ap.add_argument("--model", help="model file (default: the shipped one)")
    ap.add_argument("--tiny", action="store_true", help="6 clips, 30 s, one round: does it run?")
    a = ap.parse_args()
    if a.tiny:
        a.clips, a.minutes, a.rounds = 6, 0.5, 1
    n = max(2, a.jobs)
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; {cpu['cpus']} CPUs, {cpu['usable_cores']} usable; flags {cpu['flags']}")
    print(f"load average before: {cpu['load_average']}")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        speech = espeak_speech(SR, max(60.0, a.minutes * 60), tmp)
        source = "espeak-ng" if speech is not None else "synthetic"
        if speech is None:
            speech = synthetic_speech(SR, max(60.0, a.minutes * 60))
        if a.data is not None:
            clips = sorted(p for p in a.data.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)[: a.clips]
        else:
            clips = make_clips(tmp / "clips", a.clips, speech)
        clip_s = sum(sf.info(str(p)).duration for p in clips)
        long_path = tmp / "long.flac"
        sf.write(str(long_path), speech[: int(a.minutes * 60 * SR)], SR)
        long_s = sf.info(str(long_path)).duration
        print(
            f"folder: {len(clips)} clips, {clip_s:.0f} s ({'given' if a.data else source}); "
            f"long: {long_s:.0f} s"
        )

        folder_args = [str(p) for p in clips]
        groups = [folder_args[i::n] for i in range(n)]
        rows: dict[str, list[float]] = {
            k: []
            for k in (
                "folder_1",
                "folder_n",
                "folder_procs",
                "long_1",
                "long_n",
                "cpu_folder_1",
                "cpu_folder_n",
            )
        }
        identical = True
        for r in range(a.rounds):
            w1, c1, o1 = predict(folder_args, 1, a.model)
            wn, cn, on = predict(folder_args, n, a.model)
            wp = processes(groups, a.model)
            l1, _, lo1 = predict([str(long_path)], 1, a.model)
            ln, _, lon = predict([str(long_path)], n, a.model)
            identical &= o1 == on and lo1 == lon
            for k, v in zip(rows, (w1, wn, wp, l1, ln, c1, cn), strict=True):
                rows[k].append(v)
            print(
                f"round {r + 1}: folder 1 job {w1:.2f} s, {n} jobs {wn:.2f} s, {n} processes {wp:.2f} s; "
                f"long 1 job {l1:.2f} s, {n} jobs {ln:.2f} s"
            )

    def ratio(a_key: str, b_key: str) -> float:
        return statistics.median(x / y for x, y in zip(rows[a_key], rows[b_key], strict=True))

    med = {k: statistics.median(v) for k, v in rows.items()}
    result = {
        "cpu": cpu,
        "jobs": n,
        "clips": len(clips),
        "clip_seconds": round(clip_s, 1),
        "long_seconds": round(long_s, 1),
        "rounds": a.rounds,
        "folder_1_job_s": round(med["folder_1"], 3),
        "folder_n_jobs_s": round(med["folder_n"], 3),
        "folder_n_processes_s": round(med["folder_procs"], 3),
        "folder_speedup_jobs": round(ratio("folder_1", "folder_n"), 3),
        "folder_speedup_processes": round(ratio("folder_1", "folder_procs"), 3),
        "folder_ms_per_clip_1_job": round(1000 * med["folder_1"] / max(1, len(clips)), 2),
        "long_realtime_1_job": round(long_s / med["long_1"], 1),
        "long_realtime_n_jobs": round(long_s / med["long_n"], 1),
        "long_speedup_jobs": round(ratio("long_1", "long_n"), 3),
        "folder_cpu_s_1_job": round(med["cpu_folder_1"], 2),
        "folder_cpu_s_n_jobs": round(med["cpu_folder_n"], 2),
        "outputs_identical": identical,
        "load_average_after": os.getloadavg(),
    }
    print()
    print(f"{'case':<34}{'1 job':>10}{f'{n} jobs':>10}{'ratio':>8}")
    print(
        f"{'folder (s)':<34}{med['folder_1']:>10.2f}{med['folder_n']:>10.2f}"
        f"{result['folder_speedup_jobs']:>8.2f}"
    )
    print(
        f"{f'folder, {n} one-job processes (s)':<34}{med['folder_1']:>10.2f}{med['folder_procs']:>10.2f}"
        f"{result['folder_speedup_processes']:>8.2f}"
    )
    print(
        f"{'long file (x real time)':<34}{result['long_realtime_1_job']:>10.1f}"
        f"{result['long_realtime_n_jobs']:>10.1f}{result['long_speedup_jobs']:>8.2f}"
    )
    print(f"outputs of 1 and {n} jobs byte-identical: {identical}")
    print(f"load average after: {result['load_average_after']}")
    print("BENCH " + json.dumps(result))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
