"""Session adaptation through the live engine: a speaker's clips played back to back, as a session.

For each held-out speaker (the shipped model's validation speakers by default:
never trained on), the speaker's clips are shuffled and joined with 0.3 s
pauses into one stream of ``--seconds`` seconds, which the live
:class:`serlive.live.engine.Engine` analyses twice (0.5 s hop, no smoothing), once
with adaptation on and once off.  Each voiced window is scored against the
clip under its centre (calm and neutral stand for each other where the corpus
has only one of them, as in the protocol), and windows are counted separately
before and after the engine switched to the adapted head.

This measures what the app does, start to finish, not only what the protocol's
cached embeddings say; it is a model-card measurement, not a test.

    python scripts/session_replay.py [--speakers ravdess:19,nemo:MP0,...] [--seconds 120] [--model M]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serlive.audio.io import load_audio  # noqa: E402
from serlive.audio.sources import FileSource  # noqa: E402
from serlive.config import LABELS  # noqa: E402
from serlive.live.engine import Engine, Result  # noqa: E402
from serlive.model import EmotionModel  # noqa: E402
from serlive.train.corpora import default_data_root, load_all  # noqa: E402
from serlive.train.protocol import app_correct  # noqa: E402

PAUSE_S = 0.3


def session_stream(
    paths: list[str], labels: list[str], seconds: float, sr: int
) -> tuple[np.ndarray, np.ndarray]:
    """The clips back to back (with pauses) up to ``seconds``, and each sample's label index (-1: pause)."""
    parts, owner = [], []
    total = 0
    for path, label in zip(paths, labels, strict=True):
        y = load_audio(path, sr)
        gap = np.zeros(int(PAUSE_S * sr), np.float32)
        parts += [y, gap]
        owner += [np.full(len(y), LABELS.index(label)), np.full(len(gap), -1)]
        total += len(y) + len(gap)
        if total >= seconds * sr:
            break
    return np.concatenate(parts), np.concatenate(owner)


def run(model: EmotionModel, y: np.ndarray, adapt: bool) -> list[Result]:
    """Every window of ``y`` through the live engine (as fast as it goes)."""
    eng = Engine(model, adapt=adapt)
    eng.start(FileSource(samples=y, sample_rate=model.meta.features.sample_rate, realtime=False))
    if not eng.wait(600):
        raise RuntimeError("the replay did not finish")
    results, _ = eng.drain()
    return results


def main() -> int:
    """Print per speaker and pooled: window accuracy before / after adaptation, and the plain head's."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--data", default=None, help="data roots joined by ':' (default $SERLIVE_DATA)")
    ap.add_argument("--speakers", default="ravdess:19,ravdess:20,nemo:MP0,ased:01,ased:02")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = EmotionModel(args.model)
    if model.adaptation is None:
        print(f"{model.path.name} has no session adaptation", file=sys.stderr)
        return 2
    sr = model.meta.features.sample_rate
    utts = load_all(args.data or default_data_root())
    rng = np.random.default_rng(args.seed)
    pooled = {"plain_before": [], "plain_after": [], "adapted_after": []}
    report = {}
    for spk in args.speakers.split(","):
        mine = [u for u in utts if u.speaker == spk]
        if not mine:
            print(f"{spk}: no clips found", file=sys.stderr)
            continue
        order = rng.permutation(len(mine))
        corpus_labels = {LABELS.index(u.emotion) for u in mine}
        y, owner = session_stream(
            [mine[i].path for i in order], [mine[i].emotion for i in order], args.seconds, sr
        )
        adapted, plain = run(model, y, True), run(model, y, False)
        counts = {k: [] for k in pooled}
        for a, p in zip(adapted, plain, strict=True):
            truth = int(owner[min(len(owner) - 1, (a.start + a.end) // 2)])
            if a.silent or truth < 0:
                continue
            ok_plain = app_correct(int(np.argmax(p.probabilities)), truth, corpus_labels)
            if a.adapted:
                counts["adapted_after"].append(
                    app_correct(int(np.argmax(a.probabilities)), truth, corpus_labels)
                )
                counts["plain_after"].append(ok_plain)
            else:
                counts["plain_before"].append(ok_plain)
        first = next((r.end_s for r in adapted if r.adapted), None)
        report[spk] = {
            k: (round(100 * float(np.mean(v)), 1) if v else None, len(v)) for k, v in counts.items()
        }
        report[spk]["adapted_from_s"] = first
        for k in pooled:
            pooled[k] += counts[k]
        print(spk, json.dumps(report[spk]), flush=True)
    summary = {k: (round(100 * float(np.mean(v)), 1) if v else None, len(v)) for k, v in pooled.items()}
    print("pooled (accuracy %, voiced windows):", json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
