"""The cross-corpus protocol: what decides which model ships.

Two kinds of held-out test, both scored the way the app labels a file (the
mean probability of a clip's voiced windows, argmax over all eight labels):

* **Leave one corpus out** for nEMO, ASED, ESD-0020 and TurEV-DB: train on
  every other corpus, test on all of the left-out one.  An unseen corpus is
  an unseen language, studio and microphone, which is what every user is.
* **Unseen RAVDESS actors**: five folds of four actors (1-4, ..., 17-20),
  each trained on everything else; pooled over the 20 actors.

Label sets differ between corpora, so a prediction of calm counts as neutral
on a corpus without calm (and neutral as calm on one without neutral): the
two are one state to a listener, and the app cannot know which the corpus
would have called it.

The heads train on cached encoder embeddings (:mod:`serlive.train.embed`),
so a whole protocol run takes minutes.  ``python -m serlive.train.protocol``
prints the Markdown table that goes into the model card.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.adaptation import AdaptationConfig
from serlive.config import LABELS
from serlive.train.corpora import Utterance
from serlive.train.embed import CorpusEmbeddings
from serlive.train.head_config import HeadConfig

LOCO_CORPORA = ("nemo", "ased", "esd", "turevdb")
RAVDESS_FOLDS = tuple(tuple(range(a, a + 4)) for a in (1, 5, 9, 13, 17))
_CALM, _NEUTRAL = LABELS.index("calm"), LABELS.index("neutral")


@dataclass
class Pool:
    """All windows of all corpora, aligned with their clips."""

    utts: list[Utterance]
    x: NDArray[np.float32]  # (n_windows, dim)
    clip: NDArray[np.int32]  # index into utts
    silent: NDArray[np.bool_]
    aug: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))


def select_dims(cached_layers: tuple[int, ...], layers: tuple[int, ...], d: int = 512) -> NDArray[np.int64]:
    """Columns of the cached [mean, std] per block that belong to ``layers``."""
    cols = []
    for layer in layers:
        j = cached_layers.index(layer)
        cols.append(np.arange(2 * d * j, 2 * d * (j + 1)))
    return np.concatenate(cols)


def build_pool(
    per_corpus: dict[str, tuple[list[Utterance], list[CorpusEmbeddings]]],
    cols: NDArray[np.int64],
) -> Pool:
    """Stack corpora (and their augmented copies) into one :class:`Pool`."""
    utts: list[Utterance] = []
    xs, clips, silents, augs = [], [], [], []
    for corpus_utts, embs in per_corpus.values():
        base = len(utts)
        utts += corpus_utts
        for a, e in enumerate(embs):
            xs.append(e.emb[:, cols].astype(np.float32))
            clips.append(e.clip + base)
            silents.append(e.silent)
            augs.append(np.full(len(e.clip), a, np.int8))
    return Pool(
        utts, np.concatenate(xs), np.concatenate(clips), np.concatenate(silents), np.concatenate(augs)
    )


def window_weights(pool: Pool, idx: NDArray[np.int64], balance_gender: bool = False) -> NDArray[np.float32]:
    """Each corpus weighs the same, split equally over its emotions, then over clips and windows.

    Why: EmoSpeech has 5 k clips and RAVDESS 1.2 k; unweighted, the head
    would learn the biggest corpus's microphone and label habits.

    ``balance_gender``: also give women's and men's windows the same total
    weight (speakers of unknown gender keep theirs), by iterative proportional
    fitting against the corpus-and-emotion shares.  Why: TESS (two women) is a
    whole corpus's weight, and the plain head is about 10 points better on
    RAVDESS's actresses than on its actors.
    """
    clip = pool.clip[idx]
    per_clip = Counter(clip.tolist())
    w = np.array([1.0 / per_clip[c] for c in clip.tolist()])
    keys = [(pool.utts[c].corpus, pool.utts[c].emotion) for c in clip.tolist()]
    mass = Counter()
    for k, wi in zip(keys, w, strict=True):
        mass[k] += wi
    n_emotions = Counter(k[0] for k in mass)
    w = np.array([wi / mass[k] / n_emotions[k[0]] for k, wi in zip(keys, w, strict=True)])
    if balance_gender:
        cell = np.unique(np.array([f"{c}\t{e}" for c, e in keys]), return_inverse=True)[1]
        target = np.bincount(cell, weights=w)  # each (corpus, emotion) cell's share, kept
        gender = np.array([pool.utts[c].gender for c in clip.tolist()])
        women, men = gender == "female", gender == "male"
        for _ in range(30):
            if women.any() and men.any():
                half = (w[women].sum() + w[men].sum()) / 2
                w[women] *= half / w[women].sum()
                w[men] *= half / w[men].sum()
            w *= (target / np.bincount(cell, weights=w))[cell]
    return (w / w.mean()).astype(np.float32)


def mean_swapped(
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    w: NDArray[np.float32],
    speakers: NDArray[np.str_],
    corpora: NDArray[np.str_],
    copies: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32]]:
    """``x`` plus ``copies`` copies in which every speaker's mean is replaced by another corpus's speaker's.

    Why: an unseen corpus (language, microphone, acting style) moves all of
    its speakers' embeddings the same way, and a head trained on a few corpora
    reads that offset as an emotion.  Moving each speaker's windows onto other
    speakers' offsets (``x - mean_s + mean_s'``, ``s'`` from another corpus
    where there is one; means of the given windows, labels unused) keeps what
    differs between a speaker's emotions and makes the offset carry no label.
    The copies share the original windows' weight, so the corpus balance of
    ``w`` is kept.
    """
    names = np.unique(speakers)
    means = {s: x[speakers == s].mean(axis=0) for s in names}
    corpus_of = {s: corpora[speakers == s][0] for s in names}
    xs, ys, ws = [x], [y], [w]
    for _ in range(copies):
        xc = x.copy()
        for s in names:
            others = [o for o in names if corpus_of[o] != corpus_of[s]] or [o for o in names if o != s]
            if not others:
                continue
            rows = speakers == s
            xc[rows] += means[others[int(rng.integers(len(others)))]] - means[s]
        xs.append(xc)
        ys.append(y)
        ws.append(w)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws) / (copies + 1)


def pool_groups(
    pool: Pool, idx: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.str_], NDArray[np.str_]]:
    """Speaker and corpus of each window in ``idx`` (default: every window of the pool)."""
    clips = (pool.clip if idx is None else pool.clip[idx]).tolist()
    return (
        np.array([pool.utts[c].speaker for c in clips]),
        np.array([pool.utts[c].corpus for c in clips]),
    )


def pool_labels(pool: Pool) -> NDArray[np.int64]:
    """Each window's emotion as an index into :data:`LABELS`."""
    return np.array([LABELS.index(pool.utts[c].emotion) for c in pool.clip], np.int64)


def fit_head(
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    w: NDArray[np.float32],
    cfg: HeadConfig,
    speakers: NDArray[np.str_] | None = None,
    corpora: NDArray[np.str_] | None = None,
    domains: NDArray[np.str_] | None = None,
) -> Any:
    """A Keras head (standardisation folded in) trained on windows ``x`` with labels ``y``.

    ``speakers`` and ``corpora`` (per window) let ``cfg.mean_swap`` add its
    copies; without them the recipe's swap is not applied (heads on
    speaker-normalised embeddings pass none).  ``domains`` (per window, the
    corpus) are what ``cfg.adversarial`` trains the hidden layer not to carry;
    they are needed where it is set.  With ``cfg.n_heads`` > 1 the
    head is the mean of that many heads' probabilities, seeds ``cfg.seed``,
    ``cfg.seed + 1``, ...; the first is the single head's twin.
    """
    import keras

    dom = None
    if cfg.adversarial:
        if domains is None or not cfg.hidden:
            raise ValueError("adversarial training needs a hidden layer and each window's domain")
        dom = np.unique(domains, return_inverse=True)[1].astype(np.int64)
    if cfg.mean_swap and speakers is not None and corpora is not None:
        rng = np.random.default_rng(cfg.seed)
        n = len(x)
        x, y, w = mean_swapped(x, y, w, speakers, corpora, cfg.mean_swap, rng)
        dom = None if dom is None else np.tile(dom, len(x) // n)
    heads = [_fit_one(x, y, w, cfg, k, dom) for k in range(cfg.n_heads)]
    if len(heads) == 1:
        return heads[0]
    inp = keras.Input(shape=(x.shape[1],), name="embedding")
    out = keras.layers.Average(name="ensemble")([h(inp) for h in heads])
    return keras.Model(inp, out, name="head")


def _fit_one(
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    w: NDArray[np.float32],
    cfg: HeadConfig,
    k: int,
    dom: NDArray[np.int64] | None = None,
) -> Any:
    """Member ``k`` of a head: seed ``cfg.seed + k``; layer names carry ``_k`` after the first,
    so members' layers stay unique when the export graph applies them side by side.

    With ``dom`` (each window's domain index) a second output classifies the
    domain from the hidden layer through a gradient reversal of strength
    ``cfg.adversarial``: the classifier learns the domain while the hidden
    layer is pushed to drop it (Ganin and Lempitsky, 2015).  Why: an unseen
    corpus's language and microphone move every embedding one way, and a head
    whose hidden layer carries "which corpus" reads that shift as an emotion.
    The returned model has the emotion output only, the shape the export knows.
    """
    import keras

    keras.utils.set_random_seed(cfg.seed + k)
    tag = f"_{k}" if k else ""
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-4
    inp = keras.Input(shape=(x.shape[1],), name="embedding")
    h = keras.layers.Normalization(mean=mean, variance=std**2, name="standardise" + tag)(inp)
    if cfg.hidden:
        h = keras.layers.Dropout(cfg.dropout, name="dropout_in" + tag)(h)
        h = keras.layers.Dense(cfg.hidden, activation="gelu", name="hidden" + tag)(h)
    hidden = h
    h = keras.layers.Dropout(cfg.dropout, name="dropout_out" + tag)(h)
    out = keras.layers.Dense(len(LABELS), activation="softmax", name="probabilities" + tag)(h)
    model = keras.Model(inp, out, name="head" + tag)
    steps = cfg.epochs * int(np.ceil(len(x) / 256))
    sched = keras.optimizers.schedules.CosineDecay(cfg.lr, steps)
    optimizer = keras.optimizers.AdamW(sched, weight_decay=cfg.weight_decay)
    loss = keras.losses.SparseCategoricalCrossentropy()
    if dom is None:
        model.compile(optimizer=optimizer, loss=loss)
        model.fit(x, y, sample_weight=w, batch_size=256, epochs=cfg.epochs, verbose=0, shuffle=True)
        return model
    d = gradient_reversal(cfg.adversarial, name="reverse" + tag)(hidden)
    d = keras.layers.Dense(128, activation="gelu", name="domain_hidden" + tag)(d)
    d = keras.layers.Dense(int(dom.max()) + 1, activation="softmax", name="domain" + tag)(d)
    trainer = keras.Model(inp, [out, d], name="adversarial" + tag)
    trainer.compile(optimizer=optimizer, loss=[loss, keras.losses.SparseCategoricalCrossentropy()])
    trainer.fit(x, [y, dom], sample_weight=[w, w], batch_size=256, epochs=cfg.epochs, verbose=0, shuffle=True)
    return model  # shares its layers with the trainer


def gradient_reversal(strength: float, name: str) -> Any:
    """A layer that passes its input forward and multiplies the gradient by ``-strength``.

    ``(1 + s) * stop_gradient(x) - s * x`` is ``x`` in value and ``-s`` in
    slope, so it needs no backend-specific custom gradient.
    """
    import keras

    return keras.layers.Lambda(
        lambda x: (1.0 + strength) * keras.ops.stop_gradient(x) - strength * x, name=name
    )


def clip_probabilities(
    pool: Pool, idx: NDArray[np.int64], probs: NDArray[np.float32]
) -> dict[int, NDArray[np.float32]]:
    """Each clip's mean probability over its voiced windows among ``idx`` (all of them if none is voiced)."""
    by_clip: dict[int, list[int]] = {}
    for j, i in enumerate(idx.tolist()):
        by_clip.setdefault(int(pool.clip[i]), []).append(j)
    out = {}
    for c, rows in by_clip.items():
        voiced = [r for r in rows if not pool.silent[idx[r]]]
        out[c] = probs[voiced or rows].mean(axis=0)
    return out


def clip_predictions(pool: Pool, idx: NDArray[np.int64], probs: NDArray[np.float32]) -> dict[int, int]:
    """The app's file label per clip: argmax of the mean over voiced windows (all if none)."""
    return {c: int(np.argmax(p)) for c, p in clip_probabilities(pool, idx, probs).items()}


def app_correct(pred: int, truth: int, corpus_labels: set[int]) -> bool:
    """Calm and neutral stand for each other where the corpus has only one of them."""
    if pred == _CALM and _CALM not in corpus_labels:
        pred = _NEUTRAL
    elif pred == _NEUTRAL and _NEUTRAL not in corpus_labels:
        pred = _CALM
    return pred == truth


def score(utts: list[Utterance], preds: dict[int, int]) -> dict[str, Any]:
    """Accuracy, macro recall, per-gender accuracy and the most-predicted class's share."""
    labels = {LABELS.index(utts[c].emotion) for c in preds}
    hits, per_class, per_gender, per_speaker = [], {}, {}, {}
    for c, p in preds.items():
        u = utts[c]
        ok = app_correct(p, LABELS.index(u.emotion), labels)
        hits.append(ok)
        per_class.setdefault(u.emotion, []).append(ok)
        per_gender.setdefault(u.gender, []).append(ok)
        per_speaker.setdefault(u.speaker, []).append(ok)
    shown = Counter(LABELS[p] for p in preds.values())
    top, top_n = shown.most_common(1)[0]
    return {
        "n": len(hits),
        "accuracy": float(np.mean(hits)),
        "macro_recall": float(np.mean([np.mean(v) for v in per_class.values()])),
        "per_gender": {g: float(np.mean(v)) for g, v in sorted(per_gender.items())},
        "per_class": {k: float(np.mean(v)) for k, v in sorted(per_class.items())},
        "per_speaker": {k: float(np.mean(v)) for k, v in sorted(per_speaker.items())},
        "top_class": top,
        "top_share": top_n / len(hits),
        "shown": dict(shown),
    }


def session_rows(
    rows: NDArray[np.int64], pool: Pool, session_s: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    """The voiced windows of random whole clips among ``rows`` until ``session_s`` seconds of audio.

    A clip's length is read from its window count (3 s, plus the 0.5 s hop
    per further window), which is what a live session hears of it.
    """
    voiced = rows[~pool.silent[rows]]
    rows = voiced if len(voiced) else rows
    if session_s <= 0:
        return rows
    clips = np.unique(pool.clip[rows])
    rng.shuffle(clips)
    chosen, heard = [], 0.0
    for c in clips:
        n = int(np.count_nonzero(pool.clip[rows] == c))
        chosen.append(c)
        heard += 2.5 + 0.5 * n
        if heard >= session_s:
            break
    return rows[np.isin(pool.clip[rows], chosen)]


def speaker_normalised(
    pool: Pool, session_s: float = 0.0, scale: bool = True, seed: int = 0
) -> NDArray[np.float32]:
    """Each speaker's windows standardised by the mean and spread of that speaker's voiced windows.

    Per augmentation level, so an augmented copy is normalised by its own
    channel, as a live session is by its own microphone.  Labels are never
    used: this is what the app can do with a user's unlabelled speech.  With
    ``session_s`` the statistics come from only that much of the speaker's
    audio (random clips), as after that many seconds of a live session.
    """
    rng = np.random.default_rng(seed)
    x = pool.x.copy()
    speaker, _ = pool_groups(pool)
    for spk in np.unique(speaker):
        for a in np.unique(pool.aug):
            rows = np.flatnonzero((speaker == spk) & (pool.aug == a))
            if not len(rows):
                continue
            ref = pool.x[session_rows(rows, pool, session_s, rng)]
            x[rows] = pool.x[rows] - ref.mean(axis=0)
            if scale:
                x[rows] /= ref.std(axis=0) + AdaptationConfig.floor  # as the app's SessionStats
    return x


def run_split(
    pool: Pool,
    train_mask: NDArray[np.bool_],
    test_mask: NDArray[np.bool_],
    cfg: HeadConfig,
    x: NDArray[np.float32] | None = None,
    x_tests: list[NDArray[np.float32]] | None = None,
) -> list[dict[int, int]]:
    """Train on ``train_mask`` windows (clean + augmented), predict clean ``test_mask`` windows per clip.

    One prediction per array of ``x_tests`` (default ``[x]``): the test windows
    speaker-normalised with the statistics of several random short sessions,
    while training used all of each speaker's.
    """
    x = pool.x if x is None else x
    y = pool_labels(pool)
    tr = np.flatnonzero(train_mask & (pool.aug <= cfg.n_aug) & ~pool.silent)
    te = np.flatnonzero(test_mask & (pool.aug == 0))
    w = window_weights(pool, tr, cfg.balance_gender)
    spk, corp = pool_groups(pool, tr)
    raw = (spk, corp) if x is pool.x else (None, None)  # a swap moves raw embeddings only
    head = fit_head(x[tr], y[tr], w, cfg, *raw, domains=corp)
    shown = AdaptationConfig(blend=cfg.blend)  # what the app shows once adapted: the same mix
    plain = None
    if cfg.blend > 0:
        plain = fit_head(pool.x[tr], y[tr], w, cfg, spk, corp, domains=corp)
        plain = plain.predict(pool.x[te], batch_size=1024, verbose=0)
    return [
        clip_predictions(pool, te, shown.combine(plain, head.predict(xt[te], batch_size=1024, verbose=0)))
        for xt in (x_tests or [x])
    ]


def mean_score(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Several draws of the same test set as one score: the rates averaged, the draws' accuracies kept."""
    out = dict(scores[0])
    if len(scores) == 1:
        return out
    for key in ("accuracy", "macro_recall", "top_share"):
        out[key] = float(np.mean([s[key] for s in scores]))
    for key in ("per_gender", "per_class", "per_speaker"):
        out[key] = {k: float(np.mean([s[key][k] for s in scores])) for k in scores[0][key]}
    out["accuracy_draws"] = [s["accuracy"] for s in scores]
    return out


#: random short sessions per test speaker when ``session_s`` is set (one draw of one speaker is noise)
SESSION_DRAWS = 5


def protocol(pool: Pool, cfg: HeadConfig, log: Any = sys.stderr) -> dict[str, Any]:
    """Leave-one-corpus-out for :data:`LOCO_CORPORA` and five unseen-actor folds of RAVDESS."""
    speaker, corpus = pool_groups(pool)
    results: dict[str, Any] = {"config": asdict(cfg)}
    x, x_tests = pool.x, [pool.x]
    if cfg.speaker_norm:
        draws = SESSION_DRAWS if cfg.session_s > 0 else 1
        x_tests = [
            speaker_normalised(pool, cfg.session_s, cfg.norm_scale, cfg.seed + k) for k in range(draws)
        ]
        x = speaker_normalised(pool, 0.0, cfg.norm_scale, cfg.seed) if cfg.train_full_stats else x_tests[0]
    for name in LOCO_CORPORA:
        if name not in corpus:
            continue
        t0 = time.monotonic()
        preds = run_split(pool, corpus != name, corpus == name, cfg, x, x_tests)
        results[name] = mean_score([score(pool.utts, p) for p in preds])
        print(f"  {name}: {results[name]['accuracy']:.3f} ({time.monotonic() - t0:.0f} s)", file=log)
    pooled: list[dict[int, int]] = [{} for _ in x_tests]
    for fold in RAVDESS_FOLDS:
        test = np.isin(speaker, [f"ravdess:{a:02d}" for a in fold])
        if not test.any():
            continue
        preds = run_split(pool, ~test, test, cfg, x, x_tests)
        print(f"  ravdess {fold[0]}-{fold[-1]}: {score(pool.utts, preds[0])['accuracy']:.3f}", file=log)
        for acc, p in zip(pooled, preds, strict=True):
            acc.update(p)
    if pooled[0]:
        results["ravdess_folds"] = mean_score([score(pool.utts, p) for p in pooled])
    return results


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per recipe and test set."""
    rows = [
        "| recipe | test set | clips | accuracy | macro recall | women / men | most shown |",
        "|" + "---|" * 7,
    ]
    names = {"nemo": "nEMO (LOCO)", "ased": "ASED (LOCO)", "esd": "ESD-0020 (LOCO)",
             "turevdb": "TurEV-DB (LOCO)", "ravdess_folds": "RAVDESS 1-20, 5 folds"}  # fmt: skip
    for recipe, res in results.items():
        for key, label in names.items():
            if key not in res:
                continue
            r = res[key]
            g = r["per_gender"]
            gender = f"{g['female']:.1%} / {g['male']:.1%}" if "female" in g and "male" in g else "n/a"
            rows.append(
                f"| {recipe} | {label} | {r['n']} | **{r['accuracy']:.1%}** | {r['macro_recall']:.1%} | "
                f"{gender} | {r['top_class']} {r['top_share']:.0%} |"
            )
    return "\n".join(rows).replace("%", " %")


def load_pool(
    data_roots: str,
    layers_cached: tuple[int, ...],
    layers: tuple[int, ...],
    n_aug: int,
    corpora: list[str] | None = None,
) -> Pool:
    """Embeddings of the ``corpora`` (default: every categorical one) under ``data_roots``, cached."""
    from serlive.train.corpora import load_all
    from serlive.train.embed import EmbedConfig, embed_corpus

    utts = load_all(data_roots, corpora)
    per: dict[str, tuple[list[Utterance], list[CorpusEmbeddings]]] = {}
    for name in dict.fromkeys(u.corpus for u in utts):
        cu = [u for u in utts if u.corpus == name]
        per[name] = (
            cu,
            [embed_corpus(name, cu, EmbedConfig(layers=layers_cached, aug=a)) for a in range(n_aug + 1)],
        )
    return build_pool(per, select_dims(layers_cached, layers))


def main(argv: list[str] | None = None) -> int:
    """``python -m serlive.train.protocol --data ROOTS --recipe NAME=JSON ...``: run and print the table."""

    from serlive.train.corpora import command_parser, default_data_root

    ap = command_parser(main.__doc__)
    ap.add_argument(
        "--recipe", action="append", default=[], help='name={"hidden": 0, ...} (HeadConfig fields)'
    )
    ap.add_argument("--out", type=Path, default=Path("runs/protocol.json"))
    ap.add_argument("--cached-layers", default="2,3", help="the blocks the embedding cache holds")
    ap.add_argument("--corpora", default=None, help="comma list (default: the shipped model's seven)")
    args = ap.parse_args(argv)
    from serlive.train.recipe import shipped_corpora

    cached = tuple(int(x) for x in args.cached_layers.split(","))
    root = args.data or default_data_root()
    corpora = args.corpora.split(",") if args.corpora else shipped_corpora(root)
    recipes = {}
    for text in args.recipe or ["mlp-l3={}"]:
        name, _, js = text.partition("=")
        d = json.loads(js or "{}")
        if "layers" in d:
            d["layers"] = tuple(d["layers"])
        recipes[name] = HeadConfig(**d)
    results = {}
    for name, cfg in recipes.items():
        print(f"recipe {name}: {cfg}", file=sys.stderr)
        pool = load_pool(root, cached, cfg.layers, cfg.n_aug, corpora)
        results[name] = protocol(pool, cfg)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
