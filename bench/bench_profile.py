"""What a calibration profile costs (issue 25): fitting on 100 clips, a window with and without it, its size.

* **Fit.**  ``profiles.methods.fit`` (every candidate cross-validated, then the chosen one fitted) on
  100 clips' embeddings once they exist (the targets: at most 5 s).  The embeddings are the shipped
  model's own, of espeak-ng clips in several voices, so the fit sees the real dimensions.
* **A window.**  What the profile adds to a window is its ``apply`` on that window's embedding and
  plain probabilities: timed alone, one window at a time (the target: at most 1 ms).  Beside it,
  the same windows through the plain model and through the model with the profile, alternating
  round by round; at ~40 ms a window their difference is within the rounds' noise, so it only
  checks that nothing else was added.
* **Size.**  The profile file's bytes (the target: at most 1 MB).

    python bench/bench_profile.py [--clips 100] [--windows 200] [--rounds 5]

Prints a table and a ``BENCH {json}`` line; names the CPU.  Benchmarks only on a quiet machine.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_jobs import cpu_description  # noqa: E402

from serlive.audio.io import load_audio  # noqa: E402
from serlive.files.analysis import analyse_signal  # noqa: E402
from serlive.files.enrolment import clip_vectors  # noqa: E402
from serlive.model import EmotionModel  # noqa: E402
from serlive.profiles.build import make_profile  # noqa: E402
from serlive.profiles.methods import Enrolment  # noqa: E402
from serlive.profiles.store import save_profile  # noqa: E402
from tests.signals import SENTENCES  # noqa: E402

#: four "labels": voices of different pitch and rate
VOICES = {"a": (20, 120), "b": (45, 160), "c": (70, 190), "d": (90, 230)}


def espeak_clips(folder: Path, n: int) -> list[tuple[np.ndarray, int]]:
    """``n`` clips (16 kHz) over the four voices, each sentence in turn: (samples, label index)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("bench_profile: needs espeak-ng")
    out = []
    for i in range(n):
        label = i % len(VOICES)
        pitch, speed = list(VOICES.values())[label]
        path = folder / f"c{i}.wav"
        text = SENTENCES[(i // len(VOICES)) % len(SENTENCES)]
        subprocess.run([exe, "-p", str(pitch), "-s", str(speed), "-w", str(path), text], check=True)
        out.append((load_audio(path, 16000), label))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    model = EmotionModel(num_threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        clips = espeak_clips(Path(tmp), a.clips)
        vecs = [clip_vectors(analyse_signal(y, model, keep_embeddings=True)) for y, _ in clips]
        keep = [i for i, v in enumerate(vecs) if v is not None]
        enrol = Enrolment(
            embeddings=np.stack([vecs[i][0] for i in keep]),  # type: ignore[index]
            plain=np.stack([vecs[i][1] for i in keep]),  # type: ignore[index]
            labels=np.array([clips[i][1] for i in keep], np.int64),
            names=tuple(VOICES),
            model_labels=tuple(model.meta.labels),
        )
        fit_s = []
        for _ in range(3):
            t0 = time.perf_counter()
            profile = make_profile("bench", enrol, "own", model.sha256, model.path.name)
            fit_s.append(time.perf_counter() - t0)
        size = save_profile(profile, Path(tmp) / "bench.json").stat().st_size
        profiled = EmotionModel(num_threads=1, profile=profile)
        # windows cut from the clips, as the live engine hands the model one at a time
        ext = model.extractor
        win = model.meta.windows.window_samples(16000)
        sig = np.concatenate([y for y, _ in clips])
        starts = np.linspace(0, len(sig) - win, a.windows).astype(int)
        xs = [ext.window_input(ext.raw_frames(sig[s : s + win])) for s in starts]
        plain_ms, prof_ms = [], []
        for _ in range(a.rounds):
            for m, out in ((model, plain_ms), (profiled, prof_ms)):
                t0 = time.perf_counter()
                for x in xs:
                    m.predict(x[None])
                out.append(1000 * (time.perf_counter() - t0) / len(xs))
    probs, emb = model.encode(np.stack(xs[:20]))
    t0 = time.perf_counter()
    reps = 0
    for _ in range(50):
        for e, p in zip(emb, probs, strict=True):
            profile.apply(e[None], p[None])
            reps += 1
    apply_ms = 1000 * (time.perf_counter() - t0) / reps
    res = {
        "cpu": cpu_description(),
        "clips": len(keep),
        "method": profile.method,
        "fit_s_median": statistics.median(fit_s),
        "fit_s_max": max(fit_s),
        "window_ms_plain": statistics.median(plain_ms),
        "window_ms_profile": statistics.median(prof_ms),
        "window_ms_added": statistics.median(p - q for p, q in zip(prof_ms, plain_ms, strict=True)),
        "apply_ms_per_window": apply_ms,
        "profile_bytes": size,
    }
    print(f"CPU: {res['cpu']}")
    print(
        f"fit on {res['clips']} clips ({res['method']}): "
        f"median {res['fit_s_median']:.2f} s, max {res['fit_s_max']:.2f} s"
    )
    print(
        f"one window: plain {res['window_ms_plain']:.2f} ms, "
        f"with the profile {res['window_ms_profile']:.2f} ms "
        f"(+{res['window_ms_added']:.3f} ms, median of {a.rounds} alternating rounds of {len(xs)} windows)"
    )
    print(f"the profile's apply alone: {apply_ms:.3f} ms a window (what a profile adds to a window)")
    print(
        f"profile file: {size / 1024:.0f} KB (its fitted numbers and its {res['clips']} examples for refits)"
    )
    print("BENCH " + json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
