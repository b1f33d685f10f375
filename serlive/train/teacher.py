"""Soft labels from the encoder model, for distilling it into the small CNN.

Why out of fold: a head's probabilities on the clips it was trained on are
close to their one-hot labels and teach the CNN nothing it does not already
get from the labels.  Each clip's soft label here comes from a head that
never heard its speaker (five groups of speakers, each labelled by a head
trained on the other four), so it says what the encoder model makes of an
unseen voice: which emotions it finds close to which.  ``serlive train
--teacher FILE --distill W`` mixes them into the CNN's targets (:func:`serlive.train.fit.soft_targets`).

``python -m serlive.train.teacher --out runs/teacher.json`` writes
``{resolved clip path: [8 probabilities]}`` for every clip of the cached corpora
except the speakers named by ``--exclude`` (the CNN's validation speakers:
nothing of theirs may reach training, not even through a teacher).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.config import LABELS
from serlive.train.protocol import (
    HeadConfig,
    Pool,
    clip_probabilities,
    fit_head,
    pool_groups,
    pool_labels,
    window_weights,
)
from serlive.train.recipe import SHIPPED_HEAD, shipped_corpora
from serlive.train.speakers import speakers_arg, split_by_speaker


def out_of_fold(
    pool: Pool, cfg: HeadConfig, exclude: set[str] = frozenset(), folds: int = 5, seed: int = 0
) -> dict[int, NDArray]:
    """Soft labels for every clip whose speaker is not in ``exclude``, each from a head blind to that speaker.

    Speakers are dealt into ``folds`` groups at random; the head for a group
    trains on the clean, voiced windows of the other groups (weighted as the
    shipped head is) and labels the group's clean windows.  ``exclude`` is read
    as ``serlive train --val`` reads its speakers (``ravdess:5`` is
    ``ravdess:05``; an unknown name is an error), so the student's validation
    speakers cannot slip through on a spelling.
    """
    _, held_out, _ = split_by_speaker(pool.utts, sorted(exclude), [])
    excluded = {pool.utts[i].speaker for i in held_out}
    speaker, _ = pool_groups(pool)
    names = np.array(sorted(set(speaker.tolist()) - excluded))
    np.random.default_rng(seed).shuffle(names)
    group = {s: k % folds for k, s in enumerate(names)}
    fold_of = np.array([group.get(s, -1) for s in speaker.tolist()])
    y = pool_labels(pool)
    out: dict[int, NDArray] = {}
    for k in range(folds):
        tr = np.flatnonzero((fold_of >= 0) & (fold_of != k) & (pool.aug == 0) & ~pool.silent)
        te = np.flatnonzero((fold_of == k) & (pool.aug == 0))
        if not len(tr) or not len(te):
            continue
        spk, corp = pool_groups(pool, tr)
        head = fit_head(pool.x[tr], y[tr], window_weights(pool, tr), cfg, spk, corp, domains=corp)
        out.update(clip_probabilities(pool, te, head.predict(pool.x[te], batch_size=1024, verbose=0)))
        print(f"  teacher fold {k + 1}/{folds}: {len(te)} windows labelled", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m serlive.train.teacher --out FILE``: out-of-fold soft labels of every cached clip."""

    from serlive.train.corpora import command_parser, default_data_root
    from serlive.train.protocol import load_pool

    ap = command_parser(main.__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/teacher.json"))
    ap.add_argument(
        "--exclude",
        default="ravdess:19-20,nemo:MP0,ased:01-02",
        help="speakers neither trained on nor labelled (the student's validation speakers)",
    )
    ap.add_argument("--heads", type=int, default=1, help="heads averaged per fold (the shipped model has 3)")
    args = ap.parse_args(argv)
    cfg = replace(SHIPPED_HEAD, n_heads=args.heads)
    root = args.data or default_data_root()
    pool = load_pool(root, (2, 3), cfg.layers, 0, shipped_corpora(root))
    probs = out_of_fold(pool, cfg, set(speakers_arg(args.exclude)))
    soft = {str(Path(pool.utts[c].path).resolve()): [round(float(v), 5) for v in p] for c, p in probs.items()}
    hits = [int(np.argmax(p)) == LABELS.index(pool.utts[c].emotion) for c, p in probs.items()]
    print(f"{len(soft)} clips, teacher right on {np.mean(hits):.1%} of them (out of fold)", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(soft))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
