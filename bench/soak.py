"""Soak test of the live engine: an hour of simulated live audio, faster than real time.

A :class:`serlive.audio.sources.FileSource` paces blocks like a microphone
(``realtime=True``) at ``--speed`` times real time into an
:class:`serlive.live.engine.Engine` that also records to disk, while a consumer
thread drains the result queue as ``serlive listen`` does.  Afterwards:

* **windows**: analysed vs expected, dropped windows and samples (must be 0);
* **memory**: RSS sampled every ``--sample-every`` seconds of wall time; the
  growth after the warm-up (the first 10 % of the audio) must stay within
  ``--rss-bound-mb``;
* **parity**: every window's probabilities vs :func:`serlive.files.analysis.analyse_signal`
  over the same samples (what ``serlive predict --timeline`` gives a file);
* **recording**: the WAV the engine wrote vs the samples played, bit for bit
  (read back in blocks).

The signal is generated in 10 s blocks (harmonic "voice" in syllables, with
pauses long enough to make silent windows), deterministic for a seed.

By default the engine runs with the live policy (late windows dropped, not
queued), so a machine too slow for ``--speed`` shows dropped windows rather
than hiding them; ``--keep-late`` analyses every window however late (the test
suite uses it so that a busy CI machine cannot turn a scheduling hiccup into a
failure: it asserts behaviour, not timing), with a capture ring as many times larger as
``--speed``, so it absorbs the wall-clock stall the live ring absorbs.

    python bench/soak.py [--minutes 60] [--speed 40] [--model PATH] [--keep-late]

Prints a summary and one ``SOAK {json}`` line; exit status 1 when a check fails.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # runnable from a checkout without an install
    sys.path.insert(0, str(REPO))

from serlive.audio.sources import FileSource  # noqa: E402
from serlive.files.analysis import analyse_signal  # noqa: E402
from serlive.live.engine import Engine, Result, StreamEnd  # noqa: E402
from serlive.model import EmotionModel  # noqa: E402
from serlive.windows import window_starts  # noqa: E402

BLOCK_S = 10.0


def rss_mb() -> float:
    """Current resident set size (not the peak) in MiB, from /proc; the peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def live_signal(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Speech-like audio with pauses, built 10 s at a time (float32, no float64 hour-long temporaries)."""
    n = int(seconds * sr)
    y = np.empty(n, np.float32)
    block = int(BLOCK_S * sr)
    t = np.arange(block) / sr
    for k, i in enumerate(range(0, n, block)):
        rng = np.random.default_rng((seed, k))
        f0 = rng.uniform(90, 260) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        voice = sum((0.6**h) * np.sin((h + 1) * phase) for h in range(6))
        syllables = np.clip(np.sin(2 * np.pi * rng.uniform(2.5, 5.0) * t + rng.uniform(0, 6)), 0, None)
        x = voice * syllables**0.7 + 0.02 * rng.standard_normal(block)
        if k % 3 == 2:  # a pause of 4-8 s: whole silent windows
            gap = int(rng.uniform(4, 8) * sr)
            x[block - gap :] = 0.0
        x *= rng.uniform(0.05, 0.4) / (np.max(np.abs(x)) + 1e-9)
        m = min(block, n - i)
        y[i : i + m] = x[:m]
    return y


def soak(
    minutes: float = 60.0,
    speed: float = 40.0,
    model: Any = None,
    keep_late: bool = False,
    record_dir: str | Path | None = None,
    sample_every_s: float = 2.0,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the soak; returns the figures (see the module docstring).

    ``keep_late`` also widens the capture ring ``speed`` times: at ``speed`` times real time the
    engine's ring (30 s of audio) absorbs only ``1 / speed`` of the wall-clock stall it absorbs live.
    """
    model = model if model is not None else EmotionModel(num_threads=1)
    sr = int(model.meta.features.sample_rate)
    y = live_signal(minutes * 60, sr)
    with tempfile.TemporaryDirectory(prefix="serlive-soak-") as td:
        rec_path = Path(record_dir or td) / "soak.wav"
        eng = Engine(model, record=rec_path, drop_late=False if keep_late else None)
        if keep_late:  # (the rings are made by start(); a larger one than the default is always valid)
            eng.ring_s *= speed
        expected = window_starts(len(y), eng.window, eng.hop)
        probs = np.full((len(expected), len(eng.labels)), np.nan, np.float32)
        silent = np.zeros(len(expected), bool)
        seen = np.zeros(len(expected), bool)
        ends: list[StreamEnd] = []

        def consume() -> None:  # preallocated arrays: the consumer itself does not grow
            while True:
                item = eng.results.get()
                if isinstance(item, StreamEnd):
                    ends.append(item)
                    return
                assert isinstance(item, Result)
                probs[item.index] = item.probabilities
                silent[item.index] = item.silent
                seen[item.index] = True

        consumer = threading.Thread(target=consume, name="soak-consumer", daemon=True)
        consumer.start()
        rss: list[tuple[float, float]] = []  # (audio seconds streamed, RSS MiB)
        t0 = time.perf_counter()
        eng.start(FileSource(samples=y, sample_rate=sr, speed=speed, block_s=0.05))
        while not eng.wait(sample_every_s):
            rss.append((eng.stats().audio_s, rss_mb()))
            if progress:
                s = eng.stats()
                print(f"\r  {s.audio_s / 60:6.1f} min, {s.windows} windows, RSS {rss[-1][1]:.1f} MiB", end="")
        rss.append((len(y) / sr, rss_mb()))
        wall = time.perf_counter() - t0
        consumer.join(30)
        if progress:
            print()
        end = ends[0] if ends else StreamEnd("no StreamEnd", eng.stats())

        # the file path over the same samples
        t1 = time.perf_counter()
        ref = analyse_signal(y, model, windows=model.meta.windows)  # at the live hop, not the file hop
        t_file = time.perf_counter() - t1
        want = np.stack([w.probabilities for w in ref.windows])
        want_silent = np.array([w.silent for w in ref.windows])
        diff = float(np.max(np.abs(probs[seen] - want[seen]))) if seen.any() else float("nan")

        # the recording, block by block
        rec_frames, rec_mismatch = 0, 0
        with sf.SoundFile(str(rec_path)) as f:
            rec_rate = f.samplerate
            for blk in f.blocks(blocksize=1 << 20, dtype="float32"):
                ref_blk = y[rec_frames : rec_frames + len(blk)]
                extra = len(blk) - len(ref_blk)  # samples recorded beyond those played
                rec_mismatch += int(np.count_nonzero(blk[: len(ref_blk)] != ref_blk)) + extra
                rec_frames += len(blk)

    warm = [m for a, m in rss if a >= 0.1 * len(y) / sr]
    stats = end.stats
    return {
        "audio_min": round(len(y) / sr / 60, 2),
        "speed": speed,
        "policy": "every window (keep late)" if keep_late else "live (drop late windows)",
        "wall_s": round(wall, 1),
        "windows_expected": len(expected),
        "windows": stats.windows,
        "windows_seen": int(seen.sum()),
        "dropped_windows": stats.dropped_windows,
        "dropped_samples": stats.dropped_samples,
        "results_discarded": stats.results_discarded,
        "error": end.error,
        "silent_windows": int(silent[seen].sum()),
        "parity_max_abs_diff": round(diff, 6),
        "parity_silent_equal": bool(np.array_equal(silent[seen], want_silent[seen])),
        "file_path_s": round(t_file, 1),
        "recording_frames": rec_frames,
        "recording_rate": rec_rate,
        "recording_mismatched_samples": rec_mismatch,
        "samples_captured": len(y),
        "rss_mb_warm_min": round(min(warm), 1) if warm else None,
        "rss_mb_warm_max": round(max(warm), 1) if warm else None,
        "rss_mb_growth_after_warmup": round(max(warm) - warm[0], 1) if warm else None,
        "rss_mb_samples": [(round(a / 60, 1), round(m, 1)) for a, m in rss[:: max(1, len(rss) // 20)]],
        "latency_ms_median": None if stats.latency_ms(50) is None else round(stats.latency_ms(50), 2),
        "latency_ms_p95": None if stats.latency_ms(95) is None else round(stats.latency_ms(95), 2),
        "worker_cpu_pct_of_core": round(100 * stats.worker_cpu_s / (len(y) / sr), 3),
    }


def failures(r: dict[str, Any], rss_bound_mb: float, atol: float = 2 / 256) -> list[str]:
    """The soak's pass criteria; an empty list when all hold."""
    out = []
    if r["error"] is not None:
        out.append(f"stream ended with an error: {r['error']}")
    if r["dropped_windows"] or r["dropped_samples"] or r["results_discarded"]:
        out.append("windows, samples or results were dropped")
    if r["windows"] != r["windows_expected"] or r["windows_seen"] != r["windows_expected"]:
        out.append(f"{r['windows_seen']}/{r['windows_expected']} windows analysed")
    if not r["parity_silent_equal"] or not r["parity_max_abs_diff"] <= atol:
        out.append(f"results differ from the file path (max |diff| {r['parity_max_abs_diff']})")
    if r["recording_frames"] != r["samples_captured"] or r["recording_mismatched_samples"]:
        out.append(
            f"recording holds {r['recording_frames']} of {r['samples_captured']} samples, "
            f"{r['recording_mismatched_samples']} differ"
        )
    growth = r["rss_mb_growth_after_warmup"]
    if growth is None or growth > rss_bound_mb:
        out.append(f"RSS grew {growth} MiB after the warm-up (bound {rss_bound_mb} MiB)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0, help="simulated audio (default 60)")
    p.add_argument("--speed", type=float, default=40.0, help="pace, x real time (default 40)")
    p.add_argument("--model", help="a .tflite (default: the shipped model)")
    p.add_argument("--keep-late", action="store_true", help="analyse every window however late")
    p.add_argument("--rss-bound-mb", type=float, default=16.0, help="allowed RSS growth after warm-up")
    args = p.parse_args(argv)
    model = EmotionModel(args.model, num_threads=1)
    r = soak(args.minutes, args.speed, model, keep_late=args.keep_late, progress=sys.stdout.isatty())
    bad = failures(r, args.rss_bound_mb)
    print(
        f"soak: {r['audio_min']:.0f} min of audio at {r['speed']:g}x in {r['wall_s']:.0f} s ({r['policy']})\n"
        f"  windows {r['windows']}/{r['windows_expected']} ({r['silent_windows']} silent), "
        f"dropped windows {r['dropped_windows']}, dropped samples {r['dropped_samples']}, "
        f"error {r['error']}\n"
        f"  parity with the file path: max |diff| {r['parity_max_abs_diff']}, "
        f"silent flags equal {r['parity_silent_equal']}\n"
        f"  recording: {r['recording_frames']}/{r['samples_captured']} samples, "
        f"{r['recording_mismatched_samples']} differ\n"
        f"  RSS after warm-up {r['rss_mb_warm_min']}-{r['rss_mb_warm_max']} MiB "
        f"(growth {r['rss_mb_growth_after_warmup']} MiB, bound {args.rss_bound_mb:g})\n"
        f"  latency median {r['latency_ms_median']} ms, p95 {r['latency_ms_p95']} ms; "
        f"worker CPU {r['worker_cpu_pct_of_core']} % of a core per second of audio\n"
        f"  {'PASS' if not bad else 'FAIL: ' + '; '.join(bad)}"
    )
    print("SOAK " + json.dumps(r, sort_keys=True))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
