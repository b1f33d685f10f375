"""Benchmark of the model pipeline on one thread.

Measures, for the shipped model (or ``--model``):

* per 3 s window: feature time, inference time and both together (median and
  p95 over ``--windows`` windows cut from speech-like audio);
* the live engine's per-hop feature cost (only the 25 frames new since the
  previous window, then the window's normalisation);
* file analysis speed as a multiple of real time on a generated ``--minutes``
  long signal (espeak-ng speech when installed, otherwise modulated harmonic
  tones and noise), in memory and from a FLAC file.

Prints a small table and one JSON line (prefixed ``BENCH``) for scripts.

    python bench/bench_pipeline.py [--model PATH] [--windows 500] [--minutes 10]
"""

from __future__ import annotations

import os

# one thread everywhere, before numpy/scipy are imported
for _var in (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # runnable from a checkout without an install
    sys.path.insert(0, str(REPO))

from serlive.audio.io import load_audio  # noqa: E402
from serlive.files.analysis import analyse_file, analyse_signal  # noqa: E402
from serlive.model import EmotionModel, ModelError, default_model_path  # noqa: E402
from serlive.windows import take_window  # noqa: E402

SENTENCES = [
    "Kids are talking by the door.",
    "Dogs are sitting by the door.",
    "I can't believe you did that again, after everything we said!",
    "Well, I suppose we could try it one more time, if you really want to.",
    "The results came in this morning and they are much better than expected.",
    "Please leave the package at the front desk, I will pick it up later.",
    "Oh no, I think I left the keys in the car, and it is locked.",
    "That was the most wonderful evening I have had in years.",
]


def espeak_speech(sr: int, seconds: float, tmp: Path) -> np.ndarray | None:
    """A few minutes of espeak-ng speech with varied voices and pauses, tiled to ``seconds``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    rng = np.random.default_rng(0)
    pieces: list[np.ndarray] = []
    for i, text in enumerate(SENTENCES):
        for voice, pitch, speed in (("en", 40, 150), ("en+f3", 70, 175), ("en-us", 55, 130)):
            wav = tmp / f"s{i}_{voice}.wav"
            try:
                subprocess.run(
                    [exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(wav), text],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
            except (subprocess.SubprocessError, OSError):
                continue
            y = load_audio(wav, sr) * float(rng.uniform(0.3, 1.0))
            pieces += [y, np.zeros(int(sr * rng.uniform(0.2, 1.2)), np.float32)]
    if not pieces:
        return None
    one = np.concatenate(pieces)
    reps = int(np.ceil(seconds * sr / len(one)))
    return np.tile(one, reps)[: int(seconds * sr)].astype(np.float32)


def synthetic_speech(sr: int, seconds: float) -> np.ndarray:
    """Speech-like stand-in: gliding harmonic 'voice' in syllables, pauses and breath noise."""
    rng = np.random.default_rng(0)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 150 * (1 + 0.25 * np.sin(2 * np.pi * 0.23 * t) + 0.08 * np.sin(2 * np.pi * 2.1 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum((0.65**k) * np.sin((k + 1) * phase) for k in range(10))
    syllables = np.clip(np.sin(2 * np.pi * 3.7 * t), 0, None) ** 0.6
    phrases = (np.sin(2 * np.pi * 0.11 * t + rng.uniform(0, 6)) > -0.5).astype(np.float64)
    y = voice * syllables * phrases + 0.02 * rng.standard_normal(n)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def speech(sr: int, seconds: float, tmp: Path, synthetic: bool) -> tuple[np.ndarray, bool]:
    """The bench's signal, and whether it is espeak-ng's: synthetic when asked or espeak-ng is missing.

    Every bench falls back the same way, so a figure's ``signal`` says which of the two it was measured on.
    """
    y = None if synthetic else espeak_speech(sr, seconds, tmp)
    if y is None:
        return synthetic_speech(sr, seconds), False
    return y, True


def open_model(path: Path) -> EmotionModel | None:
    """The model on one thread, or None after saying on stderr why it cannot be read (the bench exits 2)."""
    try:
        return EmotionModel(path, num_threads=1)
    except ModelError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return None


def machine(**extra: object) -> dict[str, object]:
    """What a ``BENCH`` line was measured on, under the same keys in every bench so that runs compare."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        **extra,
    }


def emit(result: dict[str, object]) -> int:
    """Print the ``BENCH`` line scripts read (keys sorted, so two runs diff line by line); exit status 0."""
    print("BENCH " + json.dumps(result, sort_keys=True))
    return 0


def stats_ms(ns: list[int]) -> dict[str, float]:
    a = np.asarray(ns, dtype=np.float64) / 1e6
    return {"median_ms": round(float(np.median(a)), 4), "p95_ms": round(float(np.percentile(a, 95)), 4)}


def bench_windows(model: EmotionModel, y: np.ndarray, n: int, seed: int) -> dict[str, dict[str, float]]:
    ext = model.extractor
    sr = model.meta.features.sample_rate
    win = model.meta.windows.window_samples(sr)
    hop = model.meta.windows.hop_samples(sr)
    fhop = model.meta.features.hop_length
    n_frames = ext.n_frames(win)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(y) - win - hop, n) // fhop * fhop
    # warm-up: caches, lazily built filterbanks, interpreter allocation
    for s in starts[:10]:
        model.predict(ext(take_window(y, int(s), win)))
    feat, infer, both, live, adapted = [], [], [], [], []
    session = None
    if model.adaptation is not None:  # statistics of a session that has heard every window once
        _, embs = model.encode(np.stack([ext(take_window(y, int(s), win)) for s in starts[:64]]))
        session = (embs.mean(axis=0), np.ones(embs.shape[1], np.float32))
    for s in starts:
        s = int(s)
        w = take_window(y, s, win)
        t0 = time.perf_counter_ns()
        x = ext(w)
        t1 = time.perf_counter_ns()
        model.predict(x)
        t2 = time.perf_counter_ns()
        feat.append(t1 - t0)
        infer.append(t2 - t1)
        if session is not None:  # what the live engine runs once adapted: encode, then the adapt head
            t4 = time.perf_counter_ns()
            _, emb = model.encode(x[None])
            model.adapt(emb, *session)
            adapted.append(time.perf_counter_ns() - t4)
        both.append(t2 - t0)
        # live engine: raw frames of the last window are known; compute the new hop's frames only
        raw_prev = ext.raw_frames(w)
        tail = y[s + win - (ext.cfg.n_fft - fhop) : s + win + hop]
        t3 = time.perf_counter_ns()
        new = ext.raw_frames(tail)
        raw = np.concatenate([raw_prev[len(new) :], new])
        ext.window_input(raw[-n_frames:])
        live.append(time.perf_counter_ns() - t3)
    out = {
        "features": stats_ms(feat),
        "inference": stats_ms(infer),
        "features+inference": stats_ms(both),
        "live hop (incremental features)": stats_ms(live),
    }
    if adapted:
        out["inference, session-adapted"] = stats_ms(adapted)
    return out


def bench_file(model: EmotionModel, y: np.ndarray, tmp: Path) -> dict[str, float]:
    sr = model.meta.features.sample_rate
    dur = len(y) / sr
    t0 = time.perf_counter()
    a = analyse_signal(y, model)
    t_mem = time.perf_counter() - t0
    import soundfile as sf

    path = tmp / "long.flac"
    sf.write(str(path), y, sr, subtype="PCM_16")
    t0 = time.perf_counter()
    analyse_file(path, model)
    t_file = time.perf_counter() - t0
    return {
        "duration_s": round(dur, 1),
        "windows": len(a.windows),
        "voiced_windows": sum(not w.silent for w in a.windows),
        "seconds_in_memory": round(t_mem, 3),
        "x_realtime_in_memory": round(dur / t_mem, 1),
        "seconds_from_flac": round(t_file, 3),
        "x_realtime_from_flac": round(dur / t_file, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a .tflite exported by serlive train (default: the shipped model)")
    p.add_argument("--windows", type=int, default=500, help="windows timed (default 500)")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the file-analysis signal")
    p.add_argument("--synthetic", action="store_true", help="do not use espeak-ng even if installed")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    path = Path(args.model) if args.model else default_model_path()
    model = open_model(path)
    if model is None:
        return 2
    sr = model.meta.features.sample_rate
    with tempfile.TemporaryDirectory(prefix="serlive-bench-") as td:
        tmp = Path(td)
        t0 = time.perf_counter()
        y, spoken = speech(sr, args.minutes * 60, tmp, args.synthetic)
        source = "espeak-ng" if spoken else "synthetic"
        t_gen = time.perf_counter() - t0
        per_window = bench_windows(model, y, args.windows, args.seed)
        per_file = bench_file(model, y, tmp)

    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # informational only
        litert = "?"
    result = {
        "model": str(path),
        "model_kb": round(path.stat().st_size / 1024, 1),
        "input_shape": list(model.input_shape),
        "signal": source,
        "threads": 1,
        "windows_timed": args.windows,
        "per_window": per_window,
        "file": per_file,
        "machine": machine(ai_edge_litert=litert),
    }

    print(f"model {path} ({result['model_kb']} KB, input {tuple(model.input_shape)}), one thread")
    print(f"signal: {source}, {args.minutes:g} min (generated in {t_gen:.1f} s)\n")
    print(f"{'per 3 s window':<34}{'median ms':>11}{'p95 ms':>10}")
    for name, s in per_window.items():
        print(f"{name:<34}{s['median_ms']:>11.3f}{s['p95_ms']:>10.3f}")
    f = per_file
    print(
        f"\nfile analysis of {f['duration_s']:.0f} s "
        f"({f['windows']} windows, {f['voiced_windows']} voiced):\n"
        f"  in memory  {f['seconds_in_memory']:7.2f} s  = {f['x_realtime_in_memory']:7.1f} x real time\n"
        f"  from FLAC  {f['seconds_from_flac']:7.2f} s  = {f['x_realtime_from_flac']:7.1f} x real time\n"
        f"  peak RSS   {f['peak_rss_mb']:7.1f} MB"
    )
    return emit(result)


if __name__ == "__main__":
    sys.exit(main())
