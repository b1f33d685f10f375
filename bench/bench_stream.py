"""Benchmark of the live engine, headless (no GUI, no sound card needed).

Two phases, each an :class:`serlive.live.engine.Engine` fed by a
:class:`serlive.audio.sources.FileSource` that paces blocks of 20 ms like a
microphone callback, with a consumer thread draining the result queue as
``serlive listen`` does:

* **live**: ``--live-seconds`` of speech in real time.  Decision latency
  (arrival of a window's last sample → result published: median, p95, max),
  CPU time of the engine's worker thread and of the whole process per second
  of audio (in % of one core), RSS before and after.
* **simulated stream**: ``--sim-minutes`` of audio replayed ``--sim-speed``
  times faster than real time with the live policy (late windows are dropped,
  not queued).  Dropped windows and samples, windows expected vs analysed,
  RSS sampled along the way (flat memory = no growth after the warm-up).

Model: ``--model``, else the shipped default model when present, else a tiny
untrained int8 cnn2d exported on the spot (needs the [train] extra).  Prints a
table and one ``BENCH {json}`` line.

    python bench/bench_stream.py [--model PATH] [--hop 0.5] [--live-seconds 60] [--sim-minutes 10]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:  # runnable from a checkout without an install
        sys.path.insert(0, _p)

# first: bench_pipeline sets one thread everywhere before numpy/scipy are imported
from bench_pipeline import emit, machine, open_model, speech  # noqa: E402, I001 (order: threads)

import argparse  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from serlive.audio.sources import FileSource  # noqa: E402
from serlive.live.engine import Engine, EngineStats, StreamEnd  # noqa: E402
from serlive.model import default_model_path  # noqa: E402
from serlive.windows import window_starts  # noqa: E402


def rss_mb() -> float:
    """Current resident set size (not the peak) from /proc, in MB."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: peak RSS is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tiny_model(out: Path) -> Path:
    """An untrained width-4 cnn2d exported to int8 like ``serlive train`` does."""
    import keras

    from serlive.config import LABELS, FeatureConfig, WindowConfig
    from serlive.features import FeatureExtractor
    from serlive.model import ModelMetadata
    from serlive.train.export import export_tflite
    from serlive.train.nets import cnn2d

    keras.utils.set_random_seed(0)
    fcfg, wcfg = FeatureConfig(), WindowConfig()
    n = FeatureExtractor(fcfg).n_frames(wcfg.window_samples(fcfg.sample_rate))
    net = cnn2d((n, fcfg.n_mels, 1), len(LABELS), width=4)
    rep = (0.5 * np.random.default_rng(0).standard_normal((12, n, fcfg.n_mels, 1))).astype(np.float32)
    meta = ModelMetadata(LABELS, fcfg, wcfg, {"type": "bench"}, {"architecture": "cnn2d"})
    path = out / "tiny_bench.tflite"
    export_tflite(net, meta, path, rep)
    return path


def run_stream(
    model_path: Path, y: np.ndarray, sr: int, hop: float, speed: float, sample_every_s: float = 5.0
) -> dict[str, Any]:
    """Stream ``y`` paced at ``speed`` x real time; drain results like ``serlive listen``."""
    eng = Engine(model_path, hop_s=hop, smoothing=0.5)
    # warm-up outside the measurement: interpreter allocation, filterbanks, first FFT plans
    warm = Engine(eng.model, hop_s=hop)
    warm.start(FileSource(samples=y[: 5 * sr], sample_rate=sr, realtime=False))
    warm.wait(60)
    rss_before = rss_mb()
    rss_samples: list[tuple[float, float]] = []
    got: list[Any] = []
    end: list[StreamEnd] = []

    def consume() -> None:
        while True:
            item = eng.results.get()
            if isinstance(item, StreamEnd):
                end.append(item)
                return
            got.append(item.start)

    consumer = threading.Thread(target=consume, daemon=True)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    eng.start(FileSource(samples=y, sample_rate=sr, speed=speed))
    consumer.start()
    next_sample = t0
    while not eng.wait(0.2):
        now = time.perf_counter()
        if now >= next_sample:
            rss_samples.append((round(now - t0, 1), round(rss_mb(), 1)))
            next_sample = now + sample_every_s
    consumer.join(10)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    stats: EngineStats = end[0].stats if end else eng.stats()
    rss_after = rss_mb()
    audio_s = len(y) / sr
    expected = len(window_starts(len(y), eng.window, eng.hop))
    return {
        "audio_s": round(audio_s, 1),
        "speed": speed,
        "wall_s": round(wall, 2),
        "windows_expected": expected,
        "windows": stats.windows,
        "dropped_windows": stats.dropped_windows,
        "dropped_samples": stats.dropped_samples,
        "error": None if not end else end[0].error,
        "latency_ms": {
            "median": round(stats.latency_ms(50) or float("nan"), 3),
            "p95": round(stats.latency_ms(95) or float("nan"), 3),
            "max": round(stats.latency_ms(100) or float("nan"), 3),
        },
        # % of one core per second of audio, so sped-up replays compare with real time
        "worker_cpu_pct_of_core": round(100 * stats.worker_cpu_s / audio_s, 3),
        "process_cpu_pct_of_core": round(100 * cpu / audio_s, 3),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_after, 1),
        "rss_mb_samples": rss_samples,
    }


def phase_summary(name: str, r: dict[str, Any]) -> str:
    """One phase of :func:`run_stream` as the table prints it: what a reader compares between runs."""
    lat = r["latency_ms"]
    return (
        f"{name}: {r['audio_s']:.0f} s of audio in {r['wall_s']:.1f} s\n"
        f"  windows {r['windows']}/{r['windows_expected']}, dropped windows {r['dropped_windows']}, "
        f"dropped samples {r['dropped_samples']}, error {r['error']}\n"
        f"  decision latency  median {lat['median']:.2f} ms  p95 {lat['p95']:.2f} ms  "
        f"max {lat['max']:.2f} ms\n"
        f"  CPU per second of audio: worker {r['worker_cpu_pct_of_core']:.2f} % of a core, "
        f"whole process {r['process_cpu_pct_of_core']:.2f} %\n"
        f"  RSS {r['rss_mb_before']:.1f} MB before, {r['rss_mb_after']:.1f} MB after; "
        f"samples (s, MB): {r['rss_mb_samples']}\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a .tflite (default: the shipped model, else a tiny test model)")
    p.add_argument("--hop", type=float, default=0.5, help="window hop in seconds (default 0.5)")
    p.add_argument("--live-seconds", type=float, default=60.0, help="real-time phase length")
    p.add_argument("--sim-minutes", type=float, default=10.0, help="simulated stream length")
    p.add_argument("--sim-speed", type=float, default=10.0, help="simulated stream pace (x real time)")
    p.add_argument("--synthetic", action="store_true", help="do not use espeak-ng even if installed")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="serlive-bench-stream-") as td:
        tmp = Path(td)
        if args.model:
            path, which = Path(args.model), "given"
        elif default_model_path().is_file():
            path, which = default_model_path(), "shipped"
        else:
            path, which = tiny_model(tmp), "tiny untrained int8 cnn2d (width 4): no shipped model"
        model = open_model(path)
        if model is None:
            return 2
        sr = model.meta.features.sample_rate
        total = max(args.live_seconds, args.sim_minutes * 60)
        y, spoken = speech(sr, total, tmp, args.synthetic)
        signal = "espeak-ng speech with pauses" if spoken else "synthetic speech-like"
        live = run_stream(path, y[: int(args.live_seconds * sr)], sr, args.hop, 1.0)
        sim = run_stream(path, y[: int(args.sim_minutes * 60 * sr)], sr, args.hop, args.sim_speed)

    result = {
        "model": str(path),
        "model_kind": which,
        "model_kb": round(path.stat().st_size / 1024, 1),
        "signal": signal,
        "hop_s": args.hop,
        "live": live,
        "simulated": sim,
        "machine": machine(load_avg=os.getloadavg() if hasattr(os, "getloadavg") else None),
    }
    print(f"model {path} ({which}, {result['model_kb']} KB); signal: {signal}; hop {args.hop} s\n")
    for name, r in (("live (real time)", live), (f"simulated ({args.sim_speed:g}x)", sim)):
        print(phase_summary(name, r))
    return emit(result)


if __name__ == "__main__":
    sys.exit(main())
