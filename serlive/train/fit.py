"""``serlive train``: corpora → speaker-independent split → features → CNN → int8 TFLite.

Speaker-independent by construction: train, validation and test speakers are
disjoint sets, augmentation touches the training split only, and the test
split is scored through the same file-analysis path as ``serlive predict``
(whole files, 3 s windows, silent windows ignored).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.config import CORPUS_LICENCES, LABELS, FeatureConfig, WindowConfig
from serlive.train.corpora import TRAIN_ONLY_SPEAKERS, Utterance, load_all
from serlive.train.dataset import DatasetConfig, build


@dataclass
class TrainConfig:
    """Options of one training run (all recorded in the model metadata)."""

    data_root: str
    out_dir: str = "runs/latest"
    corpora: list[str] = field(default_factory=lambda: ["ravdess", "tess"])
    val_speakers: list[str] = field(default_factory=lambda: ["ravdess:15", "ravdess:16"])
    test_speakers: list[str] = field(
        default_factory=lambda: ["ravdess:17", "ravdess:18", "ravdess:19", "ravdess:20"]
    )
    arch: str = "cnn2d"
    width: int = 16
    epochs: int = 120
    patience: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    label_smoothing: float = 0.1
    n_aug: int = 6
    trim_db: float = 40.0
    seed: int = 1234
    corpus_weight: dict[str, float] = field(default_factory=lambda: {"tess": 3.0, "turevdb": 1.0})
    spec_augment: bool = True
    mixup: float = 0.2
    workers: int = 2
    ensemble: int = 1
    #: soft labels of the encoder model (``python -m serlive.train.teacher``); "" = labels only
    teacher: str = ""
    #: weight of the teacher's probabilities in each training target (the label keeps the rest)
    distill: float = 0.5


def speakers_arg(text: str) -> list[str]:
    """``ravdess:17-20,tess:OAF`` → ``['ravdess:17', ..., 'ravdess:20', 'tess:OAF']``."""
    out: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        corpus, _, spk = part.partition(":")
        if "-" in spk and all(s.isdigit() for s in spk.split("-", 1)):
            a, b = (int(s) for s in spk.split("-", 1))
            width = len(spk.split("-", 1)[0])
            out += [f"{corpus}:{i:0{width}d}" for i in range(a, b + 1)]
        else:
            out.append(part)
    return out


def _speaker_key(speaker: str) -> str:
    """``ravdess:05`` and ``ravdess:5`` alike: numeric speaker ids compare by value."""
    corpus, _, spk = speaker.partition(":")
    return f"{corpus}:{int(spk)}" if spk.isdigit() else speaker


def split_by_speaker(
    utts: list[Utterance], val: list[str], test: list[str]
) -> tuple[list[int], list[int], list[int]]:
    """Indices of train / validation / test; a speaker is in exactly one."""
    # "ravdess:5" names the speaker the corpus calls "ravdess:05": numbers match by value
    by_value = {_speaker_key(u.speaker): u.speaker for u in utts}
    val = [by_value.get(_speaker_key(s), s) for s in val]
    test = [by_value.get(_speaker_key(s), s) for s in test]
    if set(val) & set(test):
        raise ValueError(f"speakers in both validation and test: {sorted(set(val) & set(test))}")
    known = {u.speaker for u in utts}
    unknown = sorted((set(val) | set(test)) - known)
    if unknown:
        # a typo here would silently move the intended test speakers into training
        raise ValueError(f"validation/test speakers not in the data: {', '.join(unknown)}")
    many = sorted((set(val) | set(test)) & TRAIN_ONLY_SPEAKERS)
    if many:
        # one id for many people: held out, it would share voices with training
        raise ValueError(f"{', '.join(many)} stands for many speakers and can only be trained on")
    tr, va, te = [], [], []
    for i, u in enumerate(utts):
        (te if u.speaker in test else va if u.speaker in val else tr).append(i)
    return tr, va, te


def sample_weights(utts: list[Utterance], corpus_weight: dict[str, float]) -> NDArray[np.float32]:
    """Balance speakers, emotions, genders and corpora.

    Every (speaker, emotion) cell gets the same total weight (times the corpus
    weight), so TESS's two voices with 1400 clips each do not drown out
    sixteen RAVDESS actors with 60.  Then, by iterative proportional fitting,
    each emotion carries the same total weight and male and female speakers
    carry the same total weight (speakers of unknown gender keep theirs):
    without that, TESS's two women made the model 9 points better on women.
    Mean weight is 1.
    """
    cells = Counter((u.speaker, u.emotion) for u in utts)
    w = np.array([corpus_weight.get(u.corpus, 1.0) / cells[(u.speaker, u.emotion)] for u in utts])
    emotions = np.array([u.emotion for u in utts])
    genders = np.array([u.gender for u in utts])
    known = np.isin(genders, ["male", "female"])
    for _ in range(20):
        for e in np.unique(emotions):
            sel = emotions == e
            w[sel] /= w[sel].sum()
        if known.any() and len(np.unique(genders[known])) == 2:
            target = w[known].sum() / 2
            for g in ("male", "female"):
                sel = genders == g
                w[sel] *= target / w[sel].sum()
    return (w * len(w) / w.sum()).astype(np.float32)


def spec_augment(x: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """SpecAugment-style masks (in place): one frequency band and one time span per example."""
    n, t, f = x.shape[:3]
    for i in range(n):
        fw = int(rng.integers(0, max(2, f // 8)))
        f0 = int(rng.integers(0, f - fw + 1))
        x[i, :, f0 : f0 + fw] = 0.0
        tw = int(rng.integers(0, max(2, t // 8)))
        t0 = int(rng.integers(0, t - tw + 1))
        x[i, t0 : t0 + tw] = 0.0
    return x


def licence_note(corpora: list[str]) -> str:
    """The licence line a model inherits from its training corpora."""
    names = ", ".join(CORPUS_LICENCES.get(c, c) for c in corpora)
    return f"trained on {names}: for non-commercial use only"


def _log(msg: str) -> None:
    print(msg, flush=True)


def cosine_lr(epoch: int, epochs: int, peak: float, warmup: int = 3) -> float:
    """Linear warm-up, then cosine decay to 1 % of ``peak`` at the last epoch.

    A fixed schedule trains to convergence within a known time budget;
    early stopping then only guards against a run that stops improving.
    """
    if epoch <= warmup:
        return peak * epoch / warmup
    t = (epoch - warmup) / max(1, epochs - warmup)
    return peak * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * t)))


def train_one(
    cfg: TrainConfig,
    X: NDArray[np.float16],
    y: NDArray[np.float32],
    w: NDArray[np.float32],
    Xv: NDArray[np.float32],
    yv: NDArray[np.float32],
    seed: int,
    stats: tuple[NDArray, NDArray] | None,
) -> tuple[Any, list[dict[str, float]]]:
    """Train one network with early stopping on validation loss; returns best model + history."""
    import keras

    from serlive.train.nets import ARCHITECTURES

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    shape = X.shape[2:]
    model = ARCHITECTURES[cfg.arch](shape, len(LABELS), width=cfg.width)
    opt = keras.optimizers.Adam(cfg.lr)
    model.compile(
        optimizer=opt,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )
    best = (np.inf, -1.0)
    best_weights = model.get_weights()
    history: list[dict[str, float]] = []
    wait = 0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.time()
        opt.learning_rate.assign(cosine_lr(epoch, cfg.epochs, cfg.lr))
        variant = rng.integers(0, X.shape[1], len(X))
        xb = X[np.arange(len(X)), variant].astype(np.float32)
        if stats is not None:
            xb = (xb - stats[0]) / stats[1]
        yb = y.copy()
        if cfg.spec_augment:
            spec_augment(xb, rng)
        if cfg.mixup > 0:
            perm = rng.permutation(len(xb))
            lam = rng.beta(cfg.mixup, cfg.mixup, len(xb)).astype(np.float32)
            lam = np.maximum(lam, 1 - lam)
            xb = (
                lam.reshape(-1, *([1] * (xb.ndim - 1))) * xb
                + (1 - lam).reshape(-1, *([1] * (xb.ndim - 1))) * xb[perm]
            )
            yb = lam[:, None] * yb + (1 - lam[:, None]) * yb[perm]
        h = model.fit(xb, yb, sample_weight=w, batch_size=cfg.batch_size, epochs=1, verbose=0, shuffle=True)
        vl, va = model.evaluate(Xv, yv, batch_size=256, verbose=0)
        rec = {"epoch": epoch, "loss": float(h.history["loss"][0]), "val_loss": float(vl),
               "val_acc": float(va), "lr": float(keras.ops.convert_to_numpy(opt.learning_rate)),
               "seconds": round(time.time() - t0, 1)}  # fmt: skip
        history.append(rec)
        improved = vl < best[0] - 1e-4
        _log(
            f"epoch {epoch:3d}  loss {rec['loss']:.3f}  val_loss {vl:.3f}  val_acc {va:.3f}  "
            f"lr {rec['lr']:.1e}  {rec['seconds']:.0f}s{'  *' if improved else ''}"
        )
        if improved:
            best, best_weights, wait = (vl, va), model.get_weights(), 0
        else:
            wait += 1
            if wait >= cfg.patience:
                _log(f"early stop: no val_loss improvement for {cfg.patience} epochs")
                break
    model.set_weights(best_weights)
    return model, history


def average_models(models: list[Any]) -> Any:
    """One Keras graph averaging the members' probabilities (exports as one .tflite)."""
    import keras

    if len(models) == 1:
        return models[0]
    inp = keras.Input(shape=models[0].input_shape[1:], name="input")
    for i, m in enumerate(models):
        m.name = f"member{i}"
    out = keras.layers.Average(name="probs_mean")([m(inp) for m in models])
    return keras.Model(inp, out, name="ensemble")


def run(cfg: TrainConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """The whole pipeline; writes ``model.tflite``, ``metrics.json`` and more into ``out_dir``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t_start = time.time()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    utts = load_all(cfg.data_root, cfg.corpora)
    tr, va, te = split_by_speaker(utts, cfg.val_speakers, cfg.test_speakers)
    if not tr or not va:
        raise ValueError("training and validation splits must not be empty")
    _log(f"corpora {cfg.corpora}: {len(utts)} clips; train {len(tr)}, val {len(va)}, test {len(te)}")
    _log("train speakers: " + ", ".join(sorted({utts[i].speaker for i in tr})))
    fcfg = FeatureConfig(kind="logmel" if cfg.arch == "cnn2d" else "frame_vector")
    wcfg = WindowConfig()
    dcfg = DatasetConfig(fcfg, wcfg.window_s, n_aug=cfg.n_aug, trim_db=cfg.trim_db, seed=cfg.seed)
    fit_utts = [utts[i] for i in tr + va]
    feats = build(fit_utts, dcfg, workers=cfg.workers, log=_log)
    X, Xv = feats[: len(tr)], feats[len(tr) :, 0].astype(np.float32)
    onehot = np.eye(len(LABELS), dtype=np.float32)
    y = onehot[[LABELS.index(utts[i].emotion) for i in tr]]
    if cfg.teacher:
        from serlive.train.teacher import soft_targets

        soft = json.loads(Path(cfg.teacher).read_text())
        y, hits = soft_targets(y, [utts[i].path for i in tr], soft, cfg.distill)
        _log(f"distillation: {hits} of {len(tr)} clips, {cfg.distill:.0%} of each target from the teacher")
    yv = onehot[[LABELS.index(utts[i].emotion) for i in va]]
    w = sample_weights([utts[i] for i in tr], cfg.corpus_weight)
    stats = None
    norm: dict[str, Any] = {
        "type": "per-window: floor top_db below peak, subtract per-band mean of active frames, / scale_db"
    }
    if fcfg.kind == "frame_vector":
        flat = X[:, 0].astype(np.float32).reshape(-1, X.shape[-1])
        stats = (flat.mean(axis=0), flat.std(axis=0) + 1e-6)
        Xv = (Xv - stats[0]) / stats[1]
        norm.update(mean=stats[0].tolist(), std=stats[1].tolist())
    models, histories = [], []
    for k in range(cfg.ensemble):
        _log(f"--- training member {k + 1}/{cfg.ensemble} ({cfg.arch}, width {cfg.width})")
        m, h = train_one(cfg, X, y, w, Xv, yv, cfg.seed + 1000 * k, stats)
        models.append(m)
        histories.append(h)
    model = average_models(models)
    model.save(out / "model.keras")

    from serlive.model import EmotionModel, ModelMetadata
    from serlive.train.export import export_tflite

    rng = np.random.default_rng(cfg.seed)
    pick = rng.choice(len(X), size=min(400, len(X)), replace=False)
    rep = X[pick, rng.integers(0, X.shape[1], len(pick))].astype(np.float32)
    if stats is not None:
        rep = (rep - stats[0]) / stats[1]
    cmd = "serlive train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[2:]))
    meta = ModelMetadata(
        labels=LABELS,
        features=fcfg,
        windows=wcfg,
        normalisation=norm,
        extra={
            "architecture": cfg.arch,
            "parameters": int(model.count_params()),
            "ensemble": cfg.ensemble,
            "training": {
                "corpora": cfg.corpora,
                "train_speakers": sorted({utts[i].speaker for i in tr}),
                "val_speakers": cfg.val_speakers,
                "test_speakers": cfg.test_speakers,
                "clips": {"train": len(tr), "val": len(va), "test": len(te)},
                "command": cmd,
                "config": asdict(cfg) | {"data_root": "<data root>"},
                "epochs_run": [len(h) for h in histories],
            },
            "licence": licence_note(cfg.corpora),
        },
    )
    sizes = export_tflite(model, meta, out / "model.tflite", rep, float_path=out / "model_float32.tflite")
    _log(f"exported int8 {sizes['int8'] / 1024:.0f} KB, float32 {sizes['float32'] / 1024:.0f} KB")

    q = EmotionModel(out / "model.tflite")
    f = EmotionModel(out / "model_float32.tflite")
    pq = q.predict(Xv)
    pf = f.predict(Xv)
    agree = float(np.mean(pq.argmax(1) == pf.argmax(1)))
    val_acc_int8 = float(np.mean(pq.argmax(1) == yv.argmax(1)))
    val_acc_f32 = float(np.mean(pf.argmax(1) == yv.argmax(1)))
    _log(f"validation (clean, centred clips): int8 acc {val_acc_int8:.3f}, float32 acc {val_acc_f32:.3f}, "
         f"top-1 agreement {agree:.3f}")  # fmt: skip
    metrics: dict[str, Any] = {
        "val": {"int8_acc": val_acc_int8, "float32_acc": val_acc_f32, "int8_float32_top1_agreement": agree},
        "sizes_bytes": sizes,
        "train_seconds": round(time.time() - t_start),
    }
    if te:
        from serlive.train.evaluate import evaluate_utterances

        test_utts = [utts[i] for i in te]
        rep_q = evaluate_utterances(q, test_utts, out / "test_int8")
        rep_f = evaluate_utterances(f, test_utts, out / "test_float32", plots=False)
        metrics["test"] = {"int8": rep_q["summary"], "float32": rep_f["summary"]}
        pred_q = json.loads((out / "test_int8" / "predictions.json").read_text())
        pred_f = json.loads((out / "test_float32" / "predictions.json").read_text())
        metrics["test"]["int8_float32_top1_agreement"] = float(
            np.mean([a["pred"] == b["pred"] for a, b in zip(pred_q, pred_f, strict=True)])
        )
        sq, sf = rep_q["summary"], rep_f["summary"]
        _log(
            f"test (unseen speakers, predict path): int8 acc {sq['accuracy']:.3f}, "
            f"float32 acc {sf['accuracy']:.3f}, macro-F1 {sq['macro_f1']:.3f}, "
            f"gender gap {sq.get('gender_gap_points', 'n/a')} points"
        )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "history.json").write_text(json.dumps(histories, indent=2))
    _log(f"done in {time.time() - t_start:.0f} s → {out}")
    return metrics
