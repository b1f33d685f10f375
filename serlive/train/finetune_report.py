"""What a fine-tune changed, per split: the protocol rows, gender, per speaker, and session adaptation.

Why a module of its own: :mod:`serlive.train.finetune` trains and keeps
each epoch's scores; this reads finished runs and answers the model card's
questions without training block 3 again.

* The decision rows (probe against the averaged fine-tune) come from the
  run's ``state.json``, so the table is the one the rule was applied to.
* Per speaker: how many test speakers the fine-tune helped and hurt.
* Session adaptation on the fine-tuned embeddings against the frozen ones,
  measured the protocol's way (heads on the split's training windows; every
  speaker normalised by the mean of a random 20 s of their voiced windows,
  five draws; the app's blend of plain and adapted heads), and,
  beside per-speaker statistics, statistics of the whole test recording set
  (every file of the test corpus or RAVDESS fold, whoever speaks), as a user
  adapting to a folder would.

``python -m serlive.train.finetune_report --runs runs`` prints Markdown.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.train.finetune import (
    SPLITS,
    ActPool,
    FinetuneConfig,
    block_model,
    finetune,
    load_act_pool,
    pooled,
    probe_head,
    test_sets,
    training_windows,
)
from serlive.train.finetune_export import finetuned_weights
from serlive.train.protocol import HeadConfig, Pool

#: the protocol's session-adaptation condition as shipped: 20 s of each test speaker, blend 0.5
ADAPT_CFG = HeadConfig(speaker_norm=True, session_s=20.0, norm_scale=False, blend=0.5)


def wins_losses(probe: dict[str, Any], tuned: dict[str, Any]) -> tuple[int, int, int]:
    """Test speakers the fine-tune scored better on, worse on, and the same (clip accuracy)."""
    won = lost = same = 0
    for name, s in probe.items():
        if not isinstance(s, dict) or "per_speaker" not in s:
            continue
        for spk, a in s["per_speaker"].items():
            b = tuned[name]["per_speaker"][spk]
            won, lost, same = won + (b > a), lost + (b < a), same + (b == a)
    return won, lost, same


def set_grouped(pool: Pool, test: NDArray[np.bool_]) -> Pool:
    """``pool`` with each window's speaker replaced by its recording set.

    A training window's set is its own speaker (as the shipped adapt head is
    trained); a test window's is its test set's group: the whole corpus, or
    the RAVDESS fold.  :func:`serlive.train.protocol.speaker_normalised` on it
    then adapts to everything one test folder holds, whoever speaks.
    """
    utts = list(pool.utts)
    for c in np.unique(pool.clip[test]):
        u = utts[int(c)]
        group = "ravdess-fold" if u.corpus == "ravdess" else "all"
        utts[int(c)] = replace(u, speaker=f"{u.corpus}:{group}")
    return Pool(utts, pool.x, pool.clip, pool.silent, pool.aug)


def adaptation_rows(ap: ActPool, sets: dict[str, NDArray[np.int64]], label: str) -> list[dict[str, Any]]:
    """Plain, per-speaker adapted and set-adapted accuracy of each test set on ``ap.pool.x``."""
    from serlive.train.protocol import SESSION_DRAWS, mean_score, run_split, score, speaker_normalised

    pool = ap.pool
    rows = []
    test_all = np.zeros(len(pool.clip), bool)
    for idx in sets.values():
        test_all[idx] = True
    plain_cfg = HeadConfig()
    for name, idx in sets.items():
        test = np.zeros(len(pool.clip), bool)
        test[idx] = True
        train = ~test_all
        plain = score(pool.utts, run_split(pool, train, test, plain_cfg)[0])
        x_tests = [speaker_normalised(pool, ADAPT_CFG.session_s, False, ADAPT_CFG.seed + k)
                   for k in range(SESSION_DRAWS)]  # fmt: skip
        per_spk = mean_score(
            [score(pool.utts, p) for p in run_split(pool, train, test, ADAPT_CFG, x_tests[0], x_tests)]
        )
        grouped = set_grouped(pool, test)
        xs = speaker_normalised(grouped, 0.0, False, ADAPT_CFG.seed)
        per_set = score(pool.utts, run_split(grouped, train, test, replace(ADAPT_CFG, session_s=0.0), xs)[0])
        rows.append({"embeddings": label, "test set": name, "plain": plain["accuracy"],
                     "speaker 20 s": per_spk["accuracy"], "recording set": per_set["accuracy"],
                     "plain top": f"{plain['top_class']} {plain['top_share']:.0%}",
                     "speaker top": f"{per_spk['top_class']} {per_spk['top_share']:.0%}"})  # fmt: skip
        print(f"  {label} {name}: {rows[-1]}", file=sys.stderr)
    return rows


def label_set_rows(
    ap: ActPool, sets: dict[str, NDArray[np.int64]], model: Any, label: str
) -> list[dict[str, Any]]:
    """Each smaller-than-eight test corpus scored with all eight labels and with its own label set.

    The own-set view is what ``--labels`` shows (:mod:`serlive.labelsets`):
    probabilities renormalised over the corpus's labels, calm folded into
    neutral where calm is not among them.  The eight-label score counts calm
    as neutral (and neutral as calm) where the corpus has only one of them,
    as the protocol does.
    """
    from serlive.config import LABELS
    from serlive.labelsets import parse_labels
    from serlive.train.finetune import pooled
    from serlive.train.protocol import clip_probabilities, score

    rows = []
    for name, idx in sets.items():
        own = sorted({ap.pool.utts[int(c)].emotion for c in ap.pool.clip[idx]}, key=LABELS.index)
        if len(own) == len(LABELS):
            continue
        view = parse_labels(own, LABELS)
        probs = clip_probabilities(ap.pool, idx, pooled(model, ap, idx))
        full = score(ap.pool.utts, {c: int(np.argmax(p)) for c, p in probs.items()})
        kept = [LABELS.index(k) for k in view.names]
        restricted = {c: kept[int(np.argmax(view.apply(p[None])[0]))] for c, p in probs.items()}
        mine = score(ap.pool.utts, restricted)
        rows.append(
            {"model": label, "test set": name, "labels": ",".join(own), "all eight": full["accuracy"],
             "own set": mine["accuracy"], "most shown (own)": _top(mine)}
        )  # fmt: skip
        print(f"  labels {label} {name}: {rows[-1]}", file=sys.stderr)
    return rows


def gender_rows(ap: ActPool) -> list[dict[str, Any]]:
    """RAVDESS women against men over the five unseen-actor folds, for three probes on frozen embeddings.

    Why: the gap is a target (issue 18).  The probe trained on every other
    corpus; the same without the Korean corpus (whose eight men are new
    training data); and with women's and men's windows weighed equally.
    Head-only on the cached frozen embeddings, so it costs minutes.
    """
    from serlive.train.protocol import (
        RAVDESS_FOLDS,
        clip_predictions,
        fit_head,
        pool_groups,
        pool_labels,
        score,
        window_weights,
    )

    speaker, corpus = pool_groups(ap.pool)
    y = pool_labels(ap.pool)
    variants = {
        "every other corpus": ("", False),
        "the same without the Korean corpus": ("emotiontts", False),
        "women and men weighed equally": ("", True),
    }
    rows = []
    for name, (drop, balance) in variants.items():
        preds: dict[int, int] = {}
        for fold in RAVDESS_FOLDS:
            test = np.isin(speaker, [f"ravdess:{a:02d}" for a in fold])
            tr = np.flatnonzero(~test & ~ap.pool.silent & (corpus != drop))
            head = fit_head(ap.pool.x[tr], y[tr], window_weights(ap.pool, tr, balance), HeadConfig())
            te = np.flatnonzero(test)
            preds.update(
                clip_predictions(ap.pool, te, head.predict(ap.pool.x[te], batch_size=1024, verbose=0))
            )
        sc = score(ap.pool.utts, preds)
        g = sc["per_gender"]
        rows.append({"frozen probe trained on": name, "RAVDESS 1-20": sc["accuracy"], "women": g["female"],
                     "men": g["male"], "gap": g["female"] - g["male"]})  # fmt: skip
        print(f"  gender {rows[-1]}", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m serlive.train.finetune_report --runs runs [--adapt]``: the card's fine-tune tables."""

    from serlive.train.activations import ActivationConfig
    from serlive.train.corpora import command_parser, default_data_root
    from serlive.train.whisper import read_ct2, whisper_dir

    ap_ = command_parser(main.__doc__)
    ap_.add_argument("--runs", type=Path, default=Path("runs"))
    ap_.add_argument("--adapt", action="store_true", help="also measure session adaptation (minutes)")
    ap_.add_argument(
        "--labels", action="store_true", help="also score smaller corpora on their own label set"
    )
    ap_.add_argument(
        "--gender", action="store_true", help="also the RAVDESS gender gap of three probes (minutes)"
    )
    args = ap_.parse_args(argv)
    out: dict[str, Any] = {}
    lines = ["| split | test set | clips | frozen probe | LP-FT (mean of epochs) | per epoch | women / men "
             "(probe → FT) | most shown (probe → FT) |", "|" + "---|" * 8]  # fmt: skip
    states = {}
    for split in SPLITS:
        f = args.runs / f"ft-{split}" / "state.json"
        st = json.loads(f.read_text()) if f.is_file() else {}
        if "averaged" in st:  # finished runs only
            states[split] = st
    for split, st in states.items():
        probe, tuned = st["probe"], st["averaged"]
        for name, p in probe.items():
            if not isinstance(p, dict):
                continue
            t = tuned[name]
            epochs = ", ".join(f"{e['scores'][name]['accuracy']:.1%}" for e in st["epochs"])
            lines.append(
                f"| {split} | {name} | {p['n']} | {p['accuracy']:.1%} | **{t['accuracy']:.1%}** | {epochs} "
                f"| {_gender(p)} → {_gender(t)} | {_top(p)} → {_top(t)} |"
            )
        out[split] = {"wins_losses_same": wins_losses(probe, tuned), "probe_mean": probe["mean"],
                      "tuned_mean": tuned["mean"]}  # fmt: skip
    print("\n".join(lines).replace("%", " %"))
    print(json.dumps(out, indent=1))
    if not (args.gender or args.labels or args.adapt):
        return 0
    weights = read_ct2(whisper_dir() / "model.bin")
    ap = load_act_pool(args.data or default_data_root(), ActivationConfig(), weights)
    frozen_x = ap.pool.x
    if args.gender:
        rows = gender_rows(ap)
        (args.runs / "ft-gender.json").write_text(json.dumps(rows, indent=1))
        _print_rows(rows)
    labels: list[dict[str, Any]] = []
    adapt: list[dict[str, Any]] = []
    for split, st in states.items():
        sets = test_sets(ap, SPLITS[split])
        train_idx = training_windows(ap, sets)
        cfg = FinetuneConfig.from_dict(st["config"])
        run = args.runs / f"ft-{split}"
        ap.pool.x = frozen_x
        if args.labels:
            probe = block_model(weights, int(ap.mask.shape[1]), probe_head(ap, train_idx, cfg, run))
            labels += label_set_rows(ap, sets, probe, "frozen probe")
        if args.adapt:
            adapt += adaptation_rows(ap, sets, "frozen")
        model, _, _ = finetune(ap, train_idx, weights, cfg, run)  # the finished run's averaged weights
        if args.labels:
            labels += label_set_rows(ap, sets, model, "LP-FT")
        if args.adapt:
            w_ft = finetuned_weights(weights, model)
            ap.pool.x = pooled(block_model(w_ft, int(ap.mask.shape[1]), None), ap, np.arange(len(ap.mask)))
            adapt += adaptation_rows(ap, sets, "LP-FT")
    for name, rows in (("labelsets", labels), ("adaptation", adapt)):
        if rows:
            (args.runs / f"ft-{name}.json").write_text(json.dumps(rows, indent=1))
            _print_rows(rows)
    return 0


def _print_rows(rows: list[dict[str, Any]]) -> None:
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{v:.1%}" if isinstance(v, float) else str(v) for v in r.values()) + " |")


def _gender(s: dict[str, Any]) -> str:
    g = s["per_gender"]
    return f"{g['female']:.0%} / {g['male']:.0%}" if "female" in g and "male" in g else "n/a"


def _top(s: dict[str, Any]) -> str:
    return f"{s['top_class']} {s['top_share']:.0%}"


if __name__ == "__main__":
    raise SystemExit(main())
