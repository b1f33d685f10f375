"""Calibration profiles on the shipped model itself, on the one test corpus it never heard.

The method study (:mod:`serlive.train.calibration_eval`) scores every test set with out-of-fold
heads of one member, because six of its seven test sets are in the shipped model's training
data.  The Korean emotiontts sample is in none of it, so there the shipped model can be scored
as a user gets it: each clip analysed as ``serlive calibrate`` analyses it (the int8 encoder,
the three-member head, the mean over voiced windows), then the same enrolment draws as the
study (k clips per emotion, per speaker or per corpus, 10 draws, the same seeds), the profile
fitted as ``calibrate`` fits it, and the rest of the clips scored.  No choice depends on this:
it reports the product's figure beside the study's.

    python -m serlive.train.calibration_shipped [--data ROOTS]   # runs/calib/shipped-emotiontts.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.config import LABELS
from serlive.profiles.methods import GUARDS, Enrolment
from serlive.train.calibration_eval import DRAWS, KS, OUT, _acc, draw_rng, enrol_draw, guarded
from serlive.train.corpora import command_parser, default_data_root, load_all

CORPUS = "emotiontts"
#: the study's columns (calibration_eval.guarded) -> this report's
COLUMNS = {"plain": "plain", "raw:prototypes+bias": "no guard", **{f"prototypes+bias@{g}": g for g in GUARDS}}


def clip_table(root: str, cache: Path) -> dict[str, NDArray]:
    """Every clip's pooled embedding and plain probabilities from the shipped model (cached)."""
    if cache.is_file():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    from serlive.files.analysis import analyse_file
    from serlive.files.enrolment import clip_vectors
    from serlive.model import EmotionModel

    model = EmotionModel()
    rows: dict[str, list[Any]] = {"emb": [], "plain": [], "speaker": [], "emotion": []}
    for u in load_all(root, [CORPUS]):
        vectors = clip_vectors(analyse_file(u.path, model, keep_embeddings=True))
        if vectors is None:  # no voiced window: calibrate skips such a clip too
            continue
        for key, value in zip(rows, (*vectors, u.speaker, u.emotion), strict=True):
            rows[key].append(value)
    table = {k: np.asarray(v) for k, v in rows.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **table)
    return table


def one_draw(t: dict[str, NDArray], names: tuple[str, ...], y: NDArray[np.int64], en: NDArray, te: NDArray,
             groups: NDArray[np.int64] | None) -> dict[str, float]:  # fmt: skip
    """Plain, each guard and no guard on the test clips ``te`` after enrolling ``en``."""
    g = groups[en] if groups is not None else None
    enrol = Enrolment(t["emb"][en], t["plain"][en], y[en], names, LABELS, g)
    plain = _acc(t["plain"][te], y[te], names)
    out = {"plain": plain, **guarded(enrol, t["emb"][te], t["plain"][te], y[te], plain)}
    return {COLUMNS[c]: out[c] for c in COLUMNS}


def study(t: dict[str, NDArray]) -> dict[str, dict[str, float]]:
    """(mode, k) -> column -> the mean over units of each unit's mean over draws."""
    names = tuple(lab for lab in LABELS if lab in set(t["emotion"].tolist()))
    y = np.array([names.index(e) for e in t["emotion"]], np.int64)
    speakers = np.unique(t["speaker"])
    spk_id = np.searchsorted(speakers, t["speaker"])
    out: dict[str, dict[str, float]] = {}
    for mode in ("speaker", "corpus"):
        units = [("all", np.arange(len(y)))] if mode == "corpus" else [
            (str(s), np.flatnonzero(t["speaker"] == s)) for s in speakers]  # fmt: skip
        for k in KS:
            per_unit: list[dict[str, float]] = []
            for unit, clips in units:
                draws = []
                for d in range(DRAWS):
                    en, te = enrol_draw(y, clips, k, draw_rng(k, d, unit, CORPUS))
                    if len(np.unique(y[en])) >= 2 and len(te):
                        draws.append(one_draw(t, names, y, en, te, spk_id if mode == "corpus" else None))
                per_unit.append({c: float(np.mean([r[c] for r in draws])) for c in draws[0]})
            out[f"{mode} k={k}"] = {c: float(np.mean([u[c] for u in per_unit])) for c in per_unit[0]}
    return out


def main(argv: list[str] | None = None) -> int:
    args = command_parser(__doc__.splitlines()[0]).parse_args(argv)
    root = args.data or default_data_root()
    table = clip_table(root, OUT / f"shipped-{CORPUS}.npz")
    result = study(table)
    (OUT / f"shipped-{CORPUS}.json").write_text(json.dumps(result, indent=1))
    cols = list(next(iter(result.values())))
    print("| enrolment | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for key, row in result.items():
        print(f"| {key} | " + " | ".join(f"{100 * row[c]:.1f} %" for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
