"""Utterance segmentation (:mod:`serlive.segments`): boundary recall, pause statistics, cost.

Three measurements, printed as a table and one ``BENCH`` JSON line:

* **recall** on generated speech: espeak-ng sentences (each trimmed to its speech) joined by
  silences of known lengths (0.2-2 s), for several ``--min-pause`` values: the share of true
  boundaries (sentence ends and starts) found within 0.15 s, the segments lying wholly in
  silence, and the extra cuts inside sentences;
* **pauses inside one utterance**: the gaps the detector hears inside RAVDESS clips (one
  sentence each, ``--ravdess``) and inside espeak-ng sentences: a minimum pause shorter than
  these splits a sentence, the figure the default (0.3 s) was chosen on;
* **cost**: segmentation time over the file analysis time of the same signal (``--model``), CPU
  time: segmentation fed by the analysis (``analyse_signal(segmenter=...)``, as ``predict
  --segments`` runs it: the window rule's chunk probabilities are reused) and on its own
  (:func:`serlive.segments.segment_signal`).  Figures on a busy machine vary; the ratio is of two
  timings of the same run.

    python bench/segments_eval.py [--model whisper] [--ravdess ../shared/data/ravdess] [--minutes 2]
"""

from __future__ import annotations

import os

# one thread everywhere, as the app runs (cli.py), before numpy is imported: OpenBLAS threads fighting
# a busy machine's other work made the analysis' timings swing by 3x
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from serlive.audio.io import load_audio  # noqa: E402
from serlive.config import SegmentConfig  # noqa: E402
from serlive.segments import Segmenter, complete, segment_signal  # noqa: E402
from serlive.vad import SAMPLE_RATE as SR  # noqa: E402  (the rate segments.py cuts at)

TOLERANCE_S = 0.15
SENTENCES = [
    "Kids are talking by the door.",
    "Dogs are sitting by the door.",
    "I can't believe you did that again after everything we said.",
    "Well I suppose we could try it one more time.",
    "The results came in this morning and they are much better than expected.",
    "Please leave the package at the front desk.",
    "Nobody told me the meeting had been moved to Thursday.",
    "What a wonderful surprise to see you here.",
    "Turn the music down right now.",
    "I miss the old house by the river.",
    "She opened the letter and started to cry.",
    "We won the match in the very last minute.",
]
PAUSES_S = (0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0)


def speech_extent(y: np.ndarray, floor_db: float = 40.0) -> tuple[int, int]:
    """First and one-past-last sample of the 10 ms frames within ``floor_db`` of the loudest."""
    n = len(y) // 160
    rms = np.sqrt(np.mean(y[: n * 160].reshape(n, 160) ** 2, axis=1)) + 1e-9
    db = 20 * np.log10(rms)
    on = np.flatnonzero(db > db.max() - floor_db)
    return int(on[0] * 160), int((on[-1] + 1) * 160)


def espeak_sentences(folder: Path, voices: tuple[str, ...] = ("en", "en-us")) -> list[np.ndarray]:
    """Every sentence in each voice, at 16 kHz, trimmed to its speech."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed")
    out = []
    for v, voice in enumerate(voices):
        for i, text in enumerate(SENTENCES):
            path = folder / f"s{v}_{i}.wav"
            speed = (150, 175)[(i + v) % 2]
            subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
            y = load_audio(path, SR)
            a, b = speech_extent(y)
            out.append(y[a:b])
    return out


def joined(sentences: list[np.ndarray], seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Sentences separated by pauses cycling through :data:`PAUSES_S` (plus 1 s of silence at each end).

    Returns the signal and each sentence's (start, end) in seconds: the true boundaries.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sentences))
    parts = [np.zeros(SR, np.float32)]
    spans = []
    t = SR
    for k, i in enumerate(order):
        y = sentences[i]
        spans.append((t / SR, (t + len(y)) / SR))
        parts.append(y)
        t += len(y)
        gap = round((PAUSES_S[k % len(PAUSES_S)] if k < len(order) - 1 else 1.0) * SR)
        parts.append(np.zeros(gap, np.float32))
        t += gap
    return np.concatenate(parts), spans


def score(segs: list, spans: list[tuple[float, float]], tol: float = TOLERANCE_S) -> dict:
    """Boundary recall, segments in silence, cuts inside sentences."""
    starts = np.array([s.start_s for s in segs])
    ends = np.array([s.end_s for s in segs])
    found = total = 0
    misses = []
    for a, b in spans:
        for t, pool in ((a, starts), (b, ends)):
            total += 1
            ok = len(pool) and np.min(np.abs(pool - t)) <= tol
            found += bool(ok)
            if not ok:
                misses.append(round(t, 2))
    in_silence = sum(1 for s in segs if not any(s.start_s < b and s.end_s > a for a, b in spans))
    inner = sum(1 for s in segs for a, b in spans if a + tol < s.end_s < b - tol)
    err_start = [float(np.min(np.abs(starts - a))) for a, _ in spans] if len(starts) else []
    err_end = [float(np.min(np.abs(ends - b))) for _, b in spans] if len(ends) else []
    return {
        "boundaries": total,
        "found": found,
        "recall": found / total,
        "segments": len(segs),
        "in_silence": in_silence,
        "inner_cuts": inner,
        "median_err_start_s": float(np.median(err_start)) if err_start else None,
        "median_err_end_s": float(np.median(err_end)) if err_end else None,
        "misses": misses[:10],
    }


def by_pause(segs: list, spans: list[tuple[float, float]], tol: float = TOLERANCE_S) -> dict[str, str]:
    """Per pause length: how many of the pauses between sentences got both their boundaries."""
    starts = np.array([s.start_s for s in segs])
    ends = np.array([s.end_s for s in segs])
    out: dict[str, list[int]] = {}
    for (_, b), (a, _) in itertools.pairwise(spans):
        key = f"{a - b:.1f}"
        ok = bool(len(starts)) and np.min(np.abs(ends - b)) <= tol and np.min(np.abs(starts - a)) <= tol
        out.setdefault(key, [0, 0])
        out[key][0] += ok
        out[key][1] += 1
    return {k: f"{v[0]}/{v[1]}" for k, v in sorted(out.items(), key=lambda kv: float(kv[0]))}


def inner_pauses(clips: list[np.ndarray]) -> list[float]:
    """Lengths of the pauses the detector hears inside single-sentence clips (release to voice again)."""
    from serlive.segments import Segmenter

    gaps: list[float] = []
    probe = SegmentConfig(min_pause_s=0.03125, min_speech_s=0.0, pad_s=0.0)
    for y in clips:
        seg = Segmenter(probe)
        segs = seg.feed(y) + seg.finish()
        gaps += [b.start_s - a.end_s for a, b in itertools.pairwise(segs)]
    return gaps


class TimedSegmenter(Segmenter):
    """A segmenter that adds up the CPU time spent in it (what segmenting during analysis costs)."""

    def __init__(self) -> None:
        super().__init__()
        self.spent = 0.0

    def feed(self, samples: np.ndarray) -> list:
        t0 = time.process_time()
        out = super().feed(samples)
        self.spent += time.process_time() - t0
        return out

    def offer(self, first_chunks: list[int], probabilities: np.ndarray) -> None:
        t0 = time.process_time()
        super().offer(first_chunks, probabilities)
        self.spent += time.process_time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="whisper", help="models whose file analysis the cost is compared with")
    ap.add_argument("--ravdess", default=str(REPO.parent / "shared" / "data" / "ravdess"))
    ap.add_argument("--ravdess-clips", type=int, default=240)
    ap.add_argument("--minutes", type=float, default=2.0, help="length of the signal timed for the cost")
    args = ap.parse_args()
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        sents = espeak_sentences(Path(tmp))
    y, spans = joined(sents)
    print(f"generated: {len(sents)} sentences, {len(y) / SR:.1f} s, pauses {PAUSES_S} s")
    report["recall"] = {}
    for mp in (0.15, 0.2, 0.3, 0.4, 0.5):
        segs = segment_signal(y, SegmentConfig(min_pause_s=mp))
        r = score(segs, spans)
        r["by_pause"] = by_pause(segs, spans)
        report["recall"][mp] = r
        print(
            f"min pause {mp:.2f} s: recall {100 * r['recall']:5.1f} % of {r['boundaries']} boundaries, "
            f"{r['segments']} segments, {r['in_silence']} in silence, {r['inner_cuts']} cuts inside "
            f"sentences, median error start {r['median_err_start_s']:.3f} end {r['median_err_end_s']:.3f} s"
        )
        print("    pauses split, by length: " + ", ".join(f"{k} s {v}" for k, v in r["by_pause"].items()))
    # pauses inside one sentence
    esp_gaps = inner_pauses(sents)
    report["espeak_inner_pauses_s"] = sorted(round(g, 3) for g in esp_gaps)
    rav = Path(args.ravdess)
    rav_gaps: list[float] = []
    if rav.is_dir():
        files = sorted(rav.rglob("03-01-*.flac"))
        step = max(1, len(files) // args.ravdess_clips)
        clips = [load_audio(f, SR) for f in files[::step][: args.ravdess_clips]]
        rav_gaps = inner_pauses(clips)
        report["ravdess_clips"] = len(clips)
    report["ravdess_inner_pauses_s"] = sorted(round(g, 3) for g in rav_gaps)
    for name, gaps, n in (
        ("espeak-ng sentences", esp_gaps, len(sents)),
        ("RAVDESS clips", rav_gaps, report.get("ravdess_clips", 0)),
    ):
        if not n:
            continue
        g = np.array(gaps)
        split = {mp: int(np.sum(g >= mp)) for mp in (0.15, 0.2, 0.25, 0.3, 0.4, 0.5)}
        print(
            f"{name}: {len(g)} inner pauses in {n} clips; pauses >= min pause (would split): "
            + ", ".join(f"{k:.2f} s: {v}" for k, v in split.items())
        )
        report[f"{name} splits"] = split
    # cost
    from serlive.files.analysis import analyse_signal
    from serlive.model import EmotionModel

    reps = int(np.ceil(args.minutes * 60 * SR / len(y)))
    report["cost"] = []
    signals = (
        ("sentences and pauses", np.tile(y, reps)),
        ("speech only", np.tile(np.concatenate(sents), reps)),
    )
    for kind, sig in signals:
        long = sig[: round(args.minutes * 60 * SR)]
        for name in args.model.split(","):
            model = EmotionModel(name)
            analyse_signal(long[: 10 * SR], model)  # warm up
            t0 = time.process_time()
            analyse_signal(long, model)
            t_an = time.process_time() - t0
            t0 = time.process_time()
            alone = segment_signal(long)
            t_alone = time.process_time() - t0
            seg = TimedSegmenter()
            analyse_signal(long, model, segmenter=seg)
            t0 = time.process_time()
            shared = complete(seg, long)
            seg.spent += time.process_time() - t0
            assert [(s.start_s, s.end_s) for s in shared] == [(s.start_s, s.end_s) for s in alone]
            row = {"signal": kind, "signal_s": len(long) / SR, "model": name, "analysis_s": t_an}
            row.update(
                alone_s=t_alone, alone_ratio=t_alone / t_an, shared_s=seg.spent, ratio=seg.spent / t_an
            )
            report["cost"].append(row)
            print(
                f"cost ({name}, {kind}, {len(long) / SR:.0f} s, CPU): analysis {t_an:.2f} s; segmentation "
                f"fed by the analysis {seg.spent:.3f} s = {100 * seg.spent / t_an:.1f} % of it "
                f"(on its own {t_alone:.2f} s = {100 * t_alone / t_an:.1f} %)"
            )
    print("BENCH " + json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
