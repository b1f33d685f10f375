"""Fine-tuning the top encoder block on two CPU cores: linear probe, then LP-FT, from cached activations.

Why this shape:

* The stem and blocks 1-2 stay frozen and are read from the activation cache
  (:mod:`serlive.train.activations`), so an epoch runs one block, the pooling
  and the head: minutes on two cores, not hours.
* First the head is trained on the frozen block's pooled output (the linear
  probe, the shipped recipe's head), then block 3 and that head are trained
  together at a small learning rate.  Fine-tuning from a random head distorts
  the pretrained features that carry to unseen corpora (Kumar et al., ICLR
  2022, "LP-FT").
* Single epochs swing by several points, so the candidate is the average of
  the last checkpoints' weights (fixed before any run, see ``average_last``),
  not a hand-picked epoch.
* Every epoch writes a checkpoint (weights, optimizer state, scores), and a
  run started again in the same folder resumes after the last one.

The result keeps the shipped architecture exactly (the same blocks, pooling
and head shape), so the export and the cost per window are unchanged: block
3's new weights are written back into the Whisper weight table and the model
is built by :func:`serlive.train.encoder_model.build_full_model`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.train.activations import ActivationConfig, CorpusActivations
from serlive.train.corpora import Utterance
from serlive.train.finetune_model import (
    ActPool,
    FinetuneConfig,
    block_model,
    pooled,
)
from serlive.train.protocol import HeadConfig, Pool

#: the linear probe's weights in a run's folder
PROBE_FILE = "probe.weights.h5"


def build_act_pool(
    per_corpus: dict[str, tuple[list[Utterance], CorpusActivations]],
    frozen_emb: NDArray[np.float32] | None = None,
) -> ActPool:
    """Stack corpora's activations into one :class:`ActPool` (``pool.x`` filled in later if not given)."""
    utts: list[Utterance] = []
    states, masks, clips, silents, parts, rows = [], [], [], [], [], []
    for k, (cu, act) in enumerate(per_corpus.values()):
        base = len(utts)
        utts += cu
        states.append(act.states)
        masks.append(np.asarray(act.mask, np.float32))
        clips.append(np.asarray(act.clip) + base)
        silents.append(np.asarray(act.silent))
        parts.append(np.full(len(act.clip), k, np.int32))
        rows.append(np.arange(len(act.clip), dtype=np.int64))
    clip = np.concatenate(clips).astype(np.int32)
    x = frozen_emb if frozen_emb is not None else np.zeros((len(clip), 0), np.float32)
    pool = Pool(utts, x, clip, np.concatenate(silents), np.zeros(len(clip), np.int8))
    return ActPool(pool, states, np.concatenate(masks), np.concatenate(parts), np.concatenate(rows))


class _Batches:
    """Shuffled training batches of (state, mask) → label with a sample weight, one epoch at a time."""

    def __init__(self, ap: ActPool, idx: NDArray[np.int64], y: NDArray[np.int64], w: NDArray[np.float32],
                 batch: int, seed: int) -> None:  # fmt: skip
        self.ap, self.idx, self.y, self.w, self.batch, self.seed = ap, idx, y, w, batch, seed

    def epoch(self, e: int) -> Any:
        order = np.random.default_rng(self.seed * 1000 + e).permutation(len(self.idx))
        for a in range(0, len(order), self.batch):
            sel = order[a : a + self.batch]
            b = self.idx[sel]
            yield self.ap.batch_states(b), self.ap.mask[b], self.y[sel], self.w[sel]


def _log(out: Path, msg: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {msg}"
    print(line, file=sys.stderr, flush=True)
    with (out / "log.txt").open("a") as fh:
        fh.write(line + "\n")


def finetune(
    ap: ActPool,
    train_idx: NDArray[np.int64],
    weights: dict[str, NDArray[np.float32]],
    cfg: FinetuneConfig,
    out: Path,
    evaluate: Any | None = None,
) -> tuple[Any, Any, list[dict[str, Any]]]:
    """LP then FT on windows ``train_idx``; checkpoints in ``out``; resumes after the last one found.

    ``ap.pool.x`` must hold the frozen block's pooled embeddings (the linear
    probe trains on them).  ``evaluate(model, epoch)`` (optional) returns a
    JSON-ready score that is logged and kept with each checkpoint; it is
    information only, never used to pick an epoch.  Returns the model with
    the averaged weights (``(state, mask)`` → probabilities), its head, and
    the per-epoch records.
    """
    import keras
    import tensorflow as tf

    from serlive.train.protocol import fit_head, pool_labels, window_weights

    out.mkdir(parents=True, exist_ok=True)
    state_file = out / "state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {"epochs": []}
    if state.get("config", cfg.to_dict()) != cfg.to_dict():
        raise ValueError(f"{out} holds a run of another recipe; use a new folder")
    y_all = pool_labels(ap.pool)
    y = y_all[train_idx]
    w = window_weights(ap.pool, train_idx, cfg.balance_gender)

    # 1. the linear probe (the same every time for the same data and seed, so a resume rebuilds it)
    keras.utils.set_random_seed(cfg.seed)
    if (out / PROBE_FILE).is_file():
        head = probe_head(ap, train_idx, cfg, out)
    else:
        head = fit_head(ap.pool.x[train_idx], y, w, cfg.head)
        head.save_weights(out / PROBE_FILE)
    n_pos = int(ap.mask.shape[1])
    model = block_model(weights, n_pos, head, cfg.mixed_bf16)
    steps_per_epoch = int(np.ceil(len(train_idx) / cfg.batch))
    sched = keras.optimizers.schedules.CosineDecay(
        cfg.lr, cfg.epochs * steps_per_epoch, alpha=cfg.final_lr_ratio
    )
    opt = keras.optimizers.AdamW(sched, weight_decay=cfg.weight_decay)
    opt.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    done = len(state["epochs"])
    if done:
        model.load_weights(out / f"epoch-{done}.weights.h5")
        with np.load(out / f"epoch-{done}.optimizer.npz") as z:
            for v, k in zip(opt.variables, sorted(z.files, key=int), strict=True):
                v.assign(z[k])
        _log(out, f"resumed after epoch {done}")
    elif evaluate is not None:
        state["probe"] = evaluate(model, 0)
        _log(out, f"linear probe: {json.dumps(state['probe'])}")
    state["config"] = cfg.to_dict()

    @tf.function(reduce_retracing=True)
    def step(h: Any, m: Any, yb: Any, wb: Any) -> Any:
        with tf.GradientTape() as tape:
            p = model([h, m], training=True)
            loss = loss_fn(yb, p, sample_weight=wb)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    batches = _Batches(ap, train_idx, y, w, cfg.batch, cfg.seed)
    for e in range(done, cfg.epochs):
        t0 = time.monotonic()
        losses = [float(step(h, m, yb, wb)) for h, m, yb, wb in batches.epoch(e)]
        took = time.monotonic() - t0
        record = {"epoch": e + 1, "loss": float(np.mean(losses)), "seconds": took,
                  "ms_per_window": 1000 * took / len(train_idx)}  # fmt: skip
        if evaluate is not None:
            record["scores"] = evaluate(model, e + 1)
        model.save_weights(out / f"epoch-{e + 1}.weights.h5")
        np.savez(
            out / f"epoch-{e + 1}.optimizer.npz", **{str(k): v.numpy() for k, v in enumerate(opt.variables)}
        )
        state["epochs"].append(record)
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(state_file)
        _log(out, f"epoch {e + 1}/{cfg.epochs}: {json.dumps(record)}")

    # the candidate: the mean of the last checkpoints' weights
    last = range(max(1, cfg.epochs - cfg.average_last + 1), cfg.epochs + 1)
    acc = None
    for e in last:
        model.load_weights(out / f"epoch-{e}.weights.h5")
        ws = model.get_weights()
        acc = ws if acc is None else [a + b for a, b in zip(acc, ws, strict=True)]
    model.set_weights([a / len(last) for a in acc])
    model.save_weights(out / "averaged.weights.h5")
    if evaluate is not None and "averaged" not in state:
        state["averaged"] = evaluate(model, -1)
        state_file.write_text(json.dumps(state, indent=1))
        _log(out, f"averaged epochs {list(last)}: {json.dumps(state['averaged'])}")
    return model, head, state["epochs"]


def probe_head(ap: ActPool, train_idx: NDArray[np.int64], cfg: FinetuneConfig, out: Path) -> Any:
    """The linear probe a finished or running fine-tune in ``out`` started from (its saved weights).

    Its architecture and standardisation come from a one-epoch fit on the same training windows
    (the standardisation is not among the saved weights), then the saved weights replace the fit's.
    """
    from serlive.train.protocol import fit_head, pool_labels

    y = pool_labels(ap.pool)[train_idx]
    head = fit_head(ap.pool.x[train_idx], y, np.ones(len(y), np.float32), replace_epochs(cfg.head, 1))
    head.load_weights(out / PROBE_FILE)
    return head


def replace_epochs(head: HeadConfig, epochs: int) -> HeadConfig:
    """``head`` with another epoch count (1: the architecture to load saved weights into).

    The head's standardisation is built from the windows it is fitted on and is not among its saved
    weights, so a rebuilt head must be fitted on the same training windows as the saved one.
    """
    from dataclasses import replace

    return replace(head, epochs=epochs)


#: Held-out splits (runs/RULE-finetune.txt).  A and B choose: each holds out whole corpora
#: (leave-corpora-out) and one fold of four RAVDESS actors at once, so one training run answers
#: three or four test sets; the two together cover every leave-one-corpus-out corpus.
SPLITS: dict[str, dict[str, tuple]] = {
    "A": {"corpora": ("nemo", "turevdb"), "ravdess": (1, 2, 3, 4)},
    "B": {"corpora": ("ased", "esd", "emotiontts"), "ravdess": (5, 6, 7, 8)},
    # the other three RAVDESS folds, reported after the choice (they complete the five-fold figure)
    "C": {"corpora": (), "ravdess": (9, 10, 11, 12)},
    "D": {"corpora": (), "ravdess": (13, 14, 15, 16)},
    "E": {"corpora": (), "ravdess": (17, 18, 19, 20)},
}
#: The shipped model's validation speakers (as ``encoder_model --val``): never trained on.
FINAL_VAL = ("ravdess:19", "ravdess:20", "nemo:MP0", "ased:01", "ased:02")


def load_act_pool(data_roots: str, cfg: ActivationConfig, weights: dict[str, NDArray[np.float32]]) -> ActPool:
    """Every categorical corpus's cached activations, with the frozen block 3's pooled embeddings."""
    import hashlib

    from serlive.train.activations import activate_corpus, default_activation_dir
    from serlive.train.corpora import load_all

    utts = load_all(data_roots)
    per = {}
    for name in dict.fromkeys(u.corpus for u in utts):
        cu = [u for u in utts if u.corpus == name]
        per[name] = (cu, activate_corpus(name, cu, cfg, mmap=False))
    ap = build_act_pool(per)
    digest = hashlib.sha1("\n".join(u.path for u in ap.pool.utts).encode()).hexdigest()[:12]
    target = default_activation_dir() / cfg.key() / f"frozen-block3-{digest}.npy"
    if target.is_file():
        ap.pool.x = np.load(target)
    else:
        ap.pool.x = pooled(block_model(weights, int(ap.mask.shape[1]), None), ap, np.arange(len(ap.mask)))
        np.save(target.with_suffix(".tmp.npy"), ap.pool.x)
        target.with_suffix(".tmp.npy").replace(target)
    return ap


def test_sets(ap: ActPool, split: dict[str, tuple]) -> dict[str, NDArray[np.int64]]:
    """Window indices of each test set of a split (a whole corpus, or the RAVDESS fold)."""
    from serlive.train.protocol import pool_groups

    speaker, corpus = pool_groups(ap.pool)
    sets = {name: np.flatnonzero(corpus == name) for name in split["corpora"] if (corpus == name).any()}
    fold = np.isin(speaker, [f"ravdess:{a:02d}" for a in split["ravdess"]])
    if fold.any():
        a, b = split["ravdess"][0], split["ravdess"][-1]
        sets[f"ravdess_{a}-{b}"] = np.flatnonzero(fold)
    return sets


def training_windows(ap: ActPool, sets: dict[str, NDArray[np.int64]]) -> NDArray[np.int64]:
    """The voiced windows of every clip outside the test ``sets``: what a split trains on."""
    held = np.zeros(len(ap.mask), bool)
    for idx in sets.values():
        held[idx] = True
    return np.flatnonzero(~held & ~ap.pool.silent)


def scorer(ap: ActPool, sets: dict[str, NDArray[np.int64]], full: bool = False) -> Any:
    """``evaluate(model, epoch)`` for :func:`finetune`: each set's clip accuracy as the app labels files."""
    from serlive.train.protocol import clip_predictions, score

    def evaluate(model: Any, epoch: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, idx in sets.items():
            s = score(ap.pool.utts, clip_predictions(ap.pool, idx, pooled(model, ap, idx)))
            keep = (
                s if full or epoch in (0, -1) else {k: s[k] for k in ("accuracy", "per_gender", "top_share")}
            )
            out[name] = keep
        out["mean"] = float(np.mean([out[n]["accuracy"] for n in sets]))
        return out

    return evaluate


def main(argv: list[str] | None = None) -> int:
    """``python -m serlive.train.finetune --split A|B|final --out runs/ft-A``: LP-FT block 3 (resumable)."""

    from serlive.train.corpora import command_parser, default_data_root
    from serlive.train.protocol import pool_groups
    from serlive.train.speakers import split_by_speaker
    from serlive.train.whisper import read_ct2, whisper_dir

    ap_ = command_parser(main.__doc__)
    ap_.add_argument("--split", default="final", choices=[*SPLITS, "final"])
    ap_.add_argument("--out", type=Path, required=True)
    ap_.add_argument("--config", default="{}", help="FinetuneConfig fields as JSON (head: HeadConfig fields)")
    ap_.add_argument(
        "--export", action="store_true", help="final split: export the model to OUT/model.tflite"
    )
    args = ap_.parse_args(argv)
    cfg = FinetuneConfig.from_dict(json.loads(args.config))
    t0 = time.monotonic()
    weights = read_ct2(whisper_dir() / "model.bin")
    ap = load_act_pool(args.data or default_data_root(), ActivationConfig(), weights)
    speaker, _ = pool_groups(ap.pool)
    if args.split == "final":
        _, val_rows, _ = split_by_speaker(ap.pool.utts, list(FINAL_VAL), [])
        val_names = [ap.pool.utts[i].speaker for i in val_rows]
        sets = {"validation": np.flatnonzero(np.isin(speaker, val_names))}
    else:
        sets = test_sets(ap, SPLITS[args.split])
    train_idx = training_windows(ap, sets)
    print(f"fine-tune {args.split}: {len(train_idx)} training windows, test sets "
          f"{ {k: len(v) for k, v in sets.items()} }", file=sys.stderr)  # fmt: skip
    model, head, _ = finetune(ap, train_idx, weights, cfg, args.out, scorer(ap, sets))
    if args.export:
        from serlive.train.finetune_export import export_finetuned

        report = export_finetuned(ap, train_idx, sets["validation"], weights, model, head, cfg, args, argv)
        report["seconds"] = time.monotonic() - t0
        (args.out / "metrics.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
