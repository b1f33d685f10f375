"""How the shipped model holds up when the recording channel changes (a model-card measurement).

Takes the held-out RAVDESS actors (17-20 by default: never heard in training)
and runs each clip through ``serlive``'s file-analysis path under a set of
fixed, seeded degradations: level, additive noise at several SNRs, a
telephone channel, mu-law, small-room reverb, a random microphone EQ, and a
"laptop" chain of several of them.  For each condition it prints accuracy,
macro recall and the share of the most-predicted class (a model that collapses
onto one class on an unfamiliar channel shows it there first).

This is not a test of generalisation to real other corpora (see the model
card for TurEV-DB); it says how much of the accuracy survives channel
changes of the kinds training augments with, on speakers the model never heard.

    python scripts/channel_robustness.py [--data ../shared/data] [--model M] [--actors 17,18,19,20]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from serlive.audio.io import load_audio, resample  # noqa: E402
from serlive.config import DEFAULT_FEATURES  # noqa: E402
from serlive.files.analysis import analyse_signal  # noqa: E402
from serlive.model import EmotionModel  # noqa: E402
from serlive.train import augment  # noqa: E402
from serlive.train.corpora import default_data_root, load_corpus  # noqa: E402

SR = DEFAULT_FEATURES.sample_rate  # config.py is the one source of the model rate
Degrade = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def telephone(y: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
    """300-3400 Hz band and an 8 kHz round trip: a phone call."""
    sos = scipy.signal.butter(4, [300, 3400], btype="bandpass", fs=SR, output="sos")
    return resample(resample(scipy.signal.sosfilt(sos, y).astype(np.float32), SR, 8000), 8000, SR)[: len(y)]


def mulaw(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """8-bit mu-law (the codec helper's second branch, forced)."""
    mu, peak = 255.0, float(np.max(np.abs(y))) + 1e-9
    x = y / peak
    q = np.round(np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) * 127) / 127
    return (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu * peak).astype(np.float32)


def laptop(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reverb, a microphone EQ, band-limiting, pink noise at 20 dB, -20 dB level."""
    y = augment.room_reverb(y, rng)
    y = augment.random_eq(y, rng)
    y = augment.band_limit(y, rng)
    y = augment.add_noise(y, 20.0, rng, "pink")
    return augment.gain(y / (np.max(np.abs(y)) + 1e-9) * 0.5, -20.0)


CONDITIONS: dict[str, Degrade] = {
    "clean": lambda y, rng: y,
    "level -30 dB": lambda y, rng: augment.gain(y, -30.0),
    "white noise 20 dB SNR": lambda y, rng: augment.add_noise(y, 20.0, rng, "white"),
    "white noise 10 dB SNR": lambda y, rng: augment.add_noise(y, 10.0, rng, "white"),
    "pink noise 10 dB SNR": lambda y, rng: augment.add_noise(y, 10.0, rng, "pink"),
    "telephone (300-3400 Hz, 8 kHz)": telephone,
    "mu-law 8 bit": mulaw,
    "small-room reverb": augment.room_reverb,
    "random microphone EQ": augment.random_eq,
    "laptop chain": laptop,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding ravdess/ ($SERLIVE_DATA)")
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--actors", default="17,18,19,20", help="RAVDESS actors to use (held out in training)")
    args = ap.parse_args()
    root = args.data or default_data_root()
    if root is None or not (Path(root) / "ravdess").is_dir():
        print("channel_robustness: no RAVDESS under --data / $SERLIVE_DATA / ../shared/data", file=sys.stderr)
        return 2
    actors = {f"ravdess:{int(a):02d}" for a in args.actors.split(",")}
    found = load_corpus("ravdess", Path(root) / "ravdess")
    utts = sorted((u for u in found if u.speaker in actors), key=lambda u: u.path)
    model = EmotionModel(args.model, num_threads=1)
    labels = model.labels
    clips = [load_audio(u.path, SR) for u in utts]
    print(f"{len(utts)} clips of actors {args.actors}, model {model.path.name}")
    print(f"{'condition':34s} {'accuracy':>9s} {'macro rec':>9s}  most predicted")
    rows = []
    for name, degrade in CONDITIONS.items():
        pred = []
        for i, y in enumerate(clips):
            rng = np.random.default_rng(1000 + i)  # the same degradation of a clip in every run
            a = analyse_signal(degrade(y, rng).astype(np.float32), model)
            pred.append(a.label)
        truth = [u.emotion for u in utts]
        acc = float(np.mean([p == t for p, t in zip(pred, truth, strict=True)]))
        recalls = [
            np.mean([p == lb for p, t in zip(pred, truth, strict=True) if t == lb])
            for lb in labels
            if lb in truth
        ]
        top, n_top = Counter(pred).most_common(1)[0]
        rows.append({"condition": name, "accuracy": acc, "macro_recall": float(np.mean(recalls)),
                     "most_predicted": top, "most_predicted_share": n_top / len(pred)})  # fmt: skip
        share = 100 * n_top / len(pred)
        print(f"{name:34s} {100 * acc:8.1f}% {100 * np.mean(recalls):8.1f}%  {top} {share:.0f}%")
    print("RESULT " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
