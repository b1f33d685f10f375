"""The method study for calibration profiles (docs/calibration.md has the rule and the tables).

Three stages, each cached under ``runs/calib`` and resumable:

``embed``
    pooled block-3 embeddings of every window, cut as ``serlive predict`` cuts a
    file (3 s windows every 2 s, the shipped ``FILE_HOP_S``), for the test corpora,
    the training corpora and BAVED; the embedding cache of :mod:`serlive.train.embed`.
``heads``
    for every held-out test set, a plain head and a session (speaker-normalised,
    mean only) head trained without it (the protocol's recipe, one member), and
    each test clip's file-level record: mean embedding and plain probabilities
    of its voiced windows, and its windows for the session head.
``study``
    enrolment simulation: k labelled clips per emotion per speaker (or per
    corpus), the rest tested; every candidate of :mod:`serlive.profiles.methods`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.config import DEFAULT_WINDOWS, LABELS
from serlive.profiles.methods import (
    CANDIDATES,
    GUARDS,
    Enrolment,
    Fitted,
    base_logits,
    cross_validate,
    fit,
    fit_method,
    fitted_from,
    label_map,
)
from serlive.train.recipe import FILE_HOP_S

OUT = Path("runs/calib")
#: embedded in this order: the test corpora first, so a slow machine can start on them
EMBED_ORDER = ("emotiontts", "turevdb", "ased", "ravdess", "nemo", "esd", "tess", "emospeech")


def embed_config() -> Any:
    from serlive.train.embed import EmbedConfig

    return EmbedConfig(layers=(3,), windows=dataclasses.replace(DEFAULT_WINDOWS, hop_s=FILE_HOP_S))


#: clips kept per (speaker, label) of a corpus too big to embed on a busy 2-core machine (seeded;
#: BAVED's level is not in the key, so it keeps 8 per speaker)
SUBSAMPLE = {"nemo": 20, "esd": 60, "baved": 8}


def corpus_utts(root: str, name: str) -> list[Any]:
    """The corpus's clips (BAVED's arousal clips), subsampled as :data:`SUBSAMPLE` says."""
    from serlive.train.corpora import discover, load_all, load_arousal

    utts: list[Any] = load_arousal(discover(root)["baved"]) if name == "baved" else load_all(root, [name])
    n = SUBSAMPLE.get(name)
    if n is None:
        return utts
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    keyed: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(utts):
        keyed.setdefault((u.speaker, str(getattr(u, "emotion", getattr(u, "level", "")))), []).append(i)
    keep = sorted(j for rows in keyed.values() for j in rng.permutation(rows)[:n].tolist())
    return [utts[j] for j in keep]


def stage_embed(root: str, corpora: tuple[str, ...]) -> None:
    """Fill the embedding cache (one file per corpus; a corpus already there is skipped)."""
    from serlive.train.embed import embed_corpus

    cfg = embed_config()
    for name in corpora:
        t0 = time.monotonic()
        utts = corpus_utts(root, name)
        e = embed_corpus(name, utts, cfg)
        print(f"{name}: {len(utts)} clips, {len(e.clip)} windows, {time.monotonic() - t0:.0f} s", flush=True)


#: the held-out test sets: name -> (test corpus, RAVDESS actors or None); heads train on the rest
def test_sets() -> dict[str, tuple[str, tuple[int, ...] | None]]:
    from serlive.train.protocol import RAVDESS_FOLDS

    sets: dict[str, tuple[str, tuple[int, ...] | None]] = {
        f"ravdess{f[0]}-{f[-1]}": ("ravdess", f) for f in RAVDESS_FOLDS
    }
    for c in ("nemo", "ased", "esd", "turevdb", "emotiontts"):
        sets[c] = (c, None)
    return sets


def load_pool(root: str, corpora: tuple[str, ...]) -> Any:
    """The protocol's :class:`Pool` of the given corpora, from this study's embedding cache."""
    from serlive.train.embed import embed_corpus
    from serlive.train.protocol import build_pool

    cfg = embed_config()
    per = {}
    for name in corpora:
        utts = corpus_utts(root, name)
        per[name] = (utts, [embed_corpus(name, utts, cfg)])
    return build_pool(per, np.arange(per[corpora[0]][1][0].emb.shape[1]))


def head_weights(model: Any) -> dict[str, NDArray[np.float32]]:
    """A Keras head of the protocol's recipe (one member) as numpy arrays for :func:`head_forward`."""
    norm = model.get_layer("standardise")
    mean, var = (np.asarray(v, np.float32).reshape(-1) for v in (norm.mean, norm.variance))
    w1, b1 = model.get_layer("hidden").get_weights()
    w2, b2 = model.get_layer("probabilities").get_weights()
    return {"mean": mean, "std": np.sqrt(var), "w1": w1, "b1": b1, "w2": w2, "b2": b2}


def head_forward(h: dict[str, NDArray], x: NDArray[np.floating]) -> NDArray[np.float32]:
    """The head's probabilities (dropout off; exact GELU, as Keras's ``gelu``)."""
    from scipy.special import erf

    z = (np.asarray(x, np.float32) - h["mean"]) / np.maximum(h["std"], 1e-7)
    z = z @ h["w1"] + h["b1"]
    z = 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))
    z = z @ h["w2"] + h["b2"]
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


def stage_heads(root: str, train_corpora: tuple[str, ...]) -> None:
    """Per test set: the plain and the session head trained without it, and its test windows."""
    from serlive.train.protocol import HeadConfig, fit_head, pool_groups, pool_labels, window_weights

    all_corpora = tuple(dict.fromkeys((*train_corpora, "emotiontts")))
    pool = load_pool(root, all_corpora)
    speaker, corpus = pool_groups(pool)
    y = pool_labels(pool)
    means = {s: pool.x[(speaker == s) & ~pool.silent].mean(axis=0) for s in np.unique(speaker)}
    xn = pool.x - np.stack([means[s] for s in speaker])  # the session head's input
    cfg = HeadConfig()
    for name, (corp, actors) in test_sets().items():
        target = OUT / "heads" / f"{name}.npz"
        if target.is_file():
            continue
        t0 = time.monotonic()
        test = corpus == corp
        if actors is not None:
            test &= np.isin(speaker, [f"ravdess:{a:02d}" for a in actors])
        train = np.isin(corpus, train_corpora) & ~test & ~pool.silent
        if corp != "ravdess":
            train &= corpus != corp
        tr = np.flatnonzero(train)
        w = window_weights(pool, tr)
        plain = head_weights(fit_head(pool.x[tr], y[tr], w, cfg))
        adapt = head_weights(fit_head(xn[tr], y[tr], w, cfg))
        te = np.flatnonzero(test)
        clips = np.unique(pool.clip[te])
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            target,
            x=pool.x[te].astype(np.float16),
            clip=np.searchsorted(clips, pool.clip[te]),
            silent=pool.silent[te],
            speaker=np.array([pool.utts[c].speaker for c in clips]),
            emotion=np.array([pool.utts[c].emotion for c in clips]),
            gender=np.array([pool.utts[c].gender for c in clips]),
            **{f"plain_{k}": v for k, v in plain.items()},
            **{f"adapt_{k}": v for k, v in adapt.items()},
            train_corpora=np.array(sorted(set(corpus[tr]))),
        )
        print(f"heads {name}: {len(tr)} train windows, {len(clips)} test clips, "
              f"{time.monotonic() - t0:.0f} s", flush=True)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the study

#: the numpy candidates fitted alone (each with the guard); ``auto`` chooses among CANDIDATES
FITTED = ("bias", "prototypes", "prototypes+bias", "head")
#: what ``auto`` chose among (the default candidates before the study)
AUTO = ("bias", "prototypes+bias", "head")
KS = (1, 2, 4, 8)
DRAWS = 10
PER_CORPUS = ("nemo", "ased", "turevdb", "emotiontts")
SESSION_S = 20.0
VALENCE = {"happy": "positive", "surprised": "positive", "angry": "negative", "sad": "negative",
           "fearful": "negative", "disgust": "negative", "neutral": "neutral", "calm": "neutral"}  # fmt: skip


@dataclass
class TestSet:
    """A held-out test set's clips, as ``serlive predict`` sees files."""

    name: str
    emb: NDArray[np.float32]  # (n, D) file mean of voiced windows
    plain: NDArray[np.float32]  # (n, 8) file mean of the plain head's window probabilities
    speaker: NDArray[np.str_]
    emotion: NDArray[np.str_]
    rows: list[NDArray[np.int64]]  # each clip's voiced windows (all where none is voiced)
    x: NDArray[np.float32]  # windows
    wplain: NDArray[np.float32]  # plain probabilities per window
    adapt: dict[str, NDArray]

    def session_probs(self, clips: NDArray[np.int64], ref: NDArray[np.int64]) -> NDArray[np.float32]:
        """File probabilities of ``clips``: the session head on clips ``ref``'s mean, blended 0.5."""
        mu = self.x[np.concatenate([self.rows[c] for c in ref])].mean(axis=0)
        out = np.empty((len(clips), self.plain.shape[1]), np.float32)
        for i, c in enumerate(clips):
            r = self.rows[c]
            out[i] = (0.5 * head_forward(self.adapt, self.x[r] - mu) + 0.5 * self.wplain[r]).mean(axis=0)
        return out


def load_test_set(name: str) -> TestSet:
    with np.load(OUT / "heads" / f"{name}.npz") as z:
        d = {k: z[k] for k in z.files}
    x = d["x"].astype(np.float32)
    plain = {k[6:]: v for k, v in d.items() if k.startswith("plain_")}
    adapt = {k[6:]: v for k, v in d.items() if k.startswith("adapt_")}
    wplain = head_forward(plain, x)
    n = len(d["speaker"])
    rows = []
    for c in range(n):
        r = np.flatnonzero(d["clip"] == c)
        v = r[~d["silent"][r]]
        rows.append(v if len(v) else r)
    emb = np.stack([x[r].mean(axis=0) for r in rows])
    pl = np.stack([wplain[r].mean(axis=0) for r in rows])
    return TestSet(name, emb, pl, d["speaker"], d["emotion"], rows, x, wplain, adapt)


def _session_ref(ts: TestSet, clips: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.int64]:
    """Random whole clips of a speaker until 20 s of audio (a clip of n windows at a 2 s hop: 1 + 2n s)."""
    order = rng.permutation(clips)
    heard, out = 0.0, []
    for c in order:
        out.append(c)
        heard += 1.0 + 2.0 * len(ts.rows[c])
        if heard >= SESSION_S:
            break
    return np.array(out)


def _acc(p: NDArray, y: NDArray[np.int64], names: tuple[str, ...]) -> float:
    fold = label_map(names, LABELS)
    return float(np.mean(np.argmax(np.asarray(p) @ fold, axis=1) == y))


def enrol_draw(
    y: NDArray[np.int64], clips: NDArray[np.int64], k: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """k clips of each label (at most all but one of it) from ``clips``; the rest is the test."""
    en = []
    for c in np.unique(y[clips]):
        mine = clips[y[clips] == c]
        take = min(k, len(mine) - 1)
        if take > 0:
            en.extend(rng.choice(mine, take, replace=False).tolist())
    en_a = np.array(sorted(en), np.int64)
    return en_a, np.setdiff1d(clips, en_a)


@dataclass(frozen=True)
class Draw:
    """One enrolment draw of a test set: its enrolled clips ``en``, its test clips ``te``, and more."""

    ts: TestSet
    names: tuple[str, ...]
    y: NDArray[np.int64]
    en: NDArray[np.int64]
    te: NDArray[np.int64]
    #: each test speaker's clips that make up its session statistics (the --session baseline)
    session_ref: dict[str, NDArray[np.int64]]
    groups: NDArray[np.int64] | None


def _baselines(d: Draw) -> tuple[dict[str, Any], Enrolment]:
    """The plain and the session heads' accuracy on ``te``, and the enrolment of ``en`` (both studies')."""
    ts, names, y, en, te, session_ref, groups = d.ts, d.names, d.y, d.en, d.te, d.session_ref, d.groups
    out: dict[str, Any] = {"n_enrol": len(en), "n_test": len(te)}
    out["plain"] = _acc(ts.plain[te], y[te], names)
    sess = np.empty((len(te), ts.plain.shape[1]), np.float32)
    for s, ref in session_ref.items():
        m = ts.speaker[te] == s
        sess[m] = ts.session_probs(te[m], ref)
    out["session"] = _acc(sess, y[te], names)
    g = groups[en] if groups is not None else None
    return out, Enrolment(ts.emb[en], ts.plain[en], y[en], names, LABELS, g)


def run_enrolment(d: Draw, with_adapt_fit: bool = True) -> dict[str, Any]:
    """Every method's accuracy on ``te`` after enrolling ``en``."""
    ts, names, y, en, te = d.ts, d.names, d.y, d.en, d.te
    out, base = _baselines(d)
    g = base.groups
    t0 = time.perf_counter()
    cv = cross_validate(base, "calibration", FITTED)
    for m in (*FITTED, "auto"):
        chosen = cv.choose("calibration", AUTO if m == "auto" else (m,))
        f = fitted_from(base, "calibration", chosen, cv)
        out[m] = float(np.mean(np.argmax(f.apply(ts.emb[te], ts.plain[te]), axis=1) == y[te]))
        out[f"chose:{m}"] = chosen
        if m == "prototypes+bias":
            out["raw:prototypes+bias"] = float(
                np.mean(
                    np.argmax(fitted_from(base, "calibration", m, cv).apply(ts.emb[te], ts.plain[te]), axis=1)
                    == y[te]
                )
            )
    out["cv_s"] = time.perf_counter() - t0
    ae_en, ae_te = ts.session_probs(en, en), ts.session_probs(te, en)
    out["adapt-enrol"] = _acc(ae_te, y[te], names)
    if with_adapt_fit:
        f = fit(Enrolment(ts.emb[en], ae_en, y[en], names, LABELS, g), "calibration", AUTO)
        out["adapt-enrol+auto"] = float(np.mean(np.argmax(f.apply(ts.emb[te], ae_te), axis=1) == y[te]))
    return out


def guarded(
    enrol: Enrolment, emb: NDArray, plain: NDArray, y: NDArray[np.int64], plain_acc: float
) -> dict[str, Any]:
    """``prototypes+bias`` fitted on ``enrol``, with no guard and under each guard, scored on the
    test clips (``emb``, ``plain``, ``y``); a guard that keeps the plain model scores ``plain_acc``."""
    method = "prototypes+bias"
    cv = cross_validate(enrol, "calibration", (method,))
    raw = fitted_from(enrol, "calibration", method, cv).apply(emb, plain)
    out: dict[str, Any] = {"raw:" + method: float(np.mean(np.argmax(raw, axis=1) == y))}
    for guard in GUARDS:
        chosen = cv.choose("calibration", (method,), guard)
        out[f"{method}@{guard}"] = out["raw:" + method] if chosen == method else plain_acc
        out[f"chose:{method}@{guard}"] = chosen
    return out


def guard_enrolment(d: Draw) -> dict[str, Any]:
    """The guard rules: ``prototypes+bias`` under each guard (and none) after enrolling ``en``."""
    out, base = _baselines(d)
    return {**out, **guarded(base, d.ts.emb[d.te], d.ts.plain[d.te], d.y[d.te], out["plain"])}


def draw_rng(k: int, draw: int, unit: str, set_name: str) -> np.random.Generator:
    """The enrolment draw's generator: the same clips for every method, study and rerun."""
    return np.random.default_rng([k, draw, zlib.crc32(unit.encode()), zlib.crc32(set_name.encode())])


def own_enrolment(
    ts: TestSet, names: tuple[str, ...], y: NDArray[np.int64], en: NDArray[np.int64], te: NDArray[np.int64]
) -> dict[str, Any]:
    """Own labels (valence): the fitted head against the plain model's probabilities summed per class."""
    fold = np.zeros((len(LABELS), len(names)), np.float32)
    for i, lab in enumerate(LABELS):
        fold[i, names.index(VALENCE[lab])] = 1.0
    plain = float(np.mean(np.argmax(ts.plain[te] @ fold, axis=1) == y[te]))
    f = fit(Enrolment(ts.emb[en], ts.plain[en], y[en], names, LABELS), "own")
    own = float(np.mean(np.argmax(f.apply(ts.emb[te]), axis=1) == y[te]))
    return {"plain-summed": plain, "own": own, "chose": f.method, "n_enrol": len(en)}


#: (mode, k) in the order they run: the rule's and the targets' first
JOBS = (
    ("speaker", 2), ("speaker", 4), ("corpus", 8), ("corpus", 2), ("speaker", 1), ("speaker", 8),
    ("corpus", 1), ("corpus", 4), ("own", 2), ("own", 4), ("own", 8),
)  # fmt: skip


def _done(path: Path, pattern: str = "study*.jsonl") -> set[tuple[str, str, int]]:
    done = set()
    for f in path.parent.glob(pattern):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            done.add((r["set"], r["mode"], r["k"]))
    return done


#: the guard rules' jobs (docs/calibration.md): the rule's k = 2 first, then the targets'
GUARD_JOBS = (
    ("speaker", 2), ("speaker", 4), ("corpus", 8), ("speaker", 1), ("speaker", 8),
    ("corpus", 2), ("corpus", 4), ("corpus", 1),
)  # fmt: skip


def stage_study(sets: list[str], tag: str, wait_s: float = 3600.0, guards: bool = False) -> None:
    """Append one JSON line per (set, mode, k, unit, draw) to runs/calib/study-TAG.jsonl (resumable).

    Runs :data:`JOBS` in order over ``sets``, waiting for a set's heads where they are still training.
    With ``guards``, the guard rules' comparison instead (:data:`GUARD_JOBS`, :func:`guard_enrolment`),
    to runs/calib/guard-TAG.jsonl.
    """
    prefix = "guard" if guards else "study"
    path = OUT / f"{prefix}-{tag}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    done = _done(path, f"{prefix}*.jsonl")
    cache: dict[str, Any] = {}
    with path.open("a") as log:
        for mode, k in GUARD_JOBS if guards else JOBS:
            for name in sets:
                corp = name.rstrip("0123456789-") or "ravdess"
                if (name, mode, k) in done or (mode == "corpus" and corp not in PER_CORPUS):
                    continue
                t_wait = time.monotonic()
                while not (OUT / "heads" / f"{name}.npz").is_file():
                    if time.monotonic() - t_wait > wait_s:
                        raise SystemExit(f"study: no heads for {name}")
                    time.sleep(20)
                if name not in cache:
                    ts = load_test_set(name)
                    names = tuple(lab for lab in LABELS if lab in set(ts.emotion.tolist()))
                    cache[name] = (ts, names, np.array([names.index(e) for e in ts.emotion], np.int64))
                ts, names, y = cache[name]
                t0 = time.monotonic()
                for r in _job(ts, names, y, mode, k, guards):
                    r.update({"set": name, "mode": mode, "k": k})
                    log.write(json.dumps(r) + "\n")
                log.flush()
                print(f"study {name} {mode} k={k}: {time.monotonic() - t0:.0f} s", flush=True)


def _job(
    ts: TestSet, names: tuple[str, ...], y: NDArray[np.int64], mode: str, k: int, guards: bool = False
) -> Any:
    speakers = np.unique(ts.speaker)
    spk_id = np.searchsorted(speakers, ts.speaker)
    if mode == "corpus":
        units = [("all", np.arange(len(y)))]
    else:
        units = [(str(s), np.flatnonzero(ts.speaker == s)) for s in speakers]
    vn = ("negative", "neutral", "positive")
    vy = np.array([vn.index(VALENCE[e]) for e in ts.emotion], np.int64)
    for unit, clips in units:
        for d in range(DRAWS):
            rng = draw_rng(k, d, unit, ts.name)
            if mode == "own":
                en, te = enrol_draw(vy, clips, k, rng)
                if len(np.unique(vy[en])) < 2 or not len(te):
                    continue
                r = own_enrolment(ts, vn, vy, en, te)
            else:
                en, te = enrol_draw(y, clips, k, rng)
                if len(np.unique(y[en])) < 2 or not len(te):
                    continue
                ref = {
                    s: _session_ref(ts, np.flatnonzero(ts.speaker == s), rng)
                    for s in np.unique(ts.speaker[te])
                }
                grp = spk_id if mode == "corpus" else None
                draw = Draw(ts, names, y, en, te, ref, grp)
                r = guard_enrolment(draw) if guards else run_enrolment(draw, k == 2)
            r.update({"unit": unit, "draw": d})
            yield r


def stage_baved(root: str) -> None:
    """BAVED arousal as own labels: half the speakers enrol k clips per level, the other half is the test."""
    from serlive.train.embed import embed_corpus

    clips = corpus_utts(root, "baved")
    e = embed_corpus("baved", clips, embed_config())
    x = e.emb.astype(np.float32)
    emb = []
    for c in range(len(clips)):
        r = np.flatnonzero(e.clip == c)
        v = r[~e.silent[r]]
        emb.append(x[v if len(v) else r].mean(axis=0))
    emb_a = np.stack(emb)
    level = np.array([c.arousal for c in clips], np.int64)
    spk = np.array([c.speaker for c in clips])
    names = ("low", "neutral", "high")
    rows = []
    for k in (2, 4, 8, 16):
        for d in range(DRAWS):
            rng = np.random.default_rng([k, d, 77])
            us = rng.permutation(np.unique(spk))
            half = np.isin(spk, us[: len(us) // 2])
            en, _ = enrol_draw(level, np.flatnonzero(half), k, rng)
            te = np.flatnonzero(~half)
            f = fit(Enrolment(emb_a[en], np.zeros((len(en), 8), np.float32), level[en], names, LABELS), "own")
            acc = float(np.mean(np.argmax(f.apply(emb_a[te]), axis=1) == level[te]))
            rows.append({"k": k, "draw": d, "own": acc, "chose": f.method, "n_test": len(te)})
            print(f"baved k={k} draw {d}: {acc:.3f} ({f.method})", flush=True)
    (OUT / "baved.json").write_text(json.dumps(rows))


def bench(n: int = 100, dim: int = 1024, repeats: int = 3) -> dict[str, float]:
    """Fit time for ``n`` clips of 8 labels (the default candidates), apply time per window, params size."""
    rng = np.random.default_rng(0)
    centres = 0.3 * rng.normal(size=(8, dim))
    y = np.arange(n) % 8
    x = (centres[y] + rng.normal(size=(n, dim))).astype(np.float32)
    p = rng.dirichlet(np.ones(8), n).astype(np.float32)
    fits = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f = fit(Enrolment(x, p, y, LABELS, LABELS), "calibration")
        fits.append(time.perf_counter() - t0)
    out = {"fit_s_median": float(np.median(fits)), "method": f.method}
    for m in CANDIDATES["calibration"]:
        z0 = base_logits(p, label_map(LABELS, LABELS))
        g = Fitted(m, fit_method(m, x, z0, y, 8), LABELS, LABELS)
        t0 = time.perf_counter()
        for i in range(1000):
            g.apply(x[i % n], p[i % n])
        size = len(
            json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in g.params.items()})
        )
        out[f"apply_ms:{m}"] = time.perf_counter() - t0
        out[f"json_bytes:{m}"] = size
    return out


def main(argv: list[str] | None = None) -> int:
    from serlive.train.corpora import default_data_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=("embed", "heads", "study", "baved", "bench"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--corpora", default=",".join((*EMBED_ORDER, "baved")))
    ap.add_argument("--train-corpora", default="ravdess,turevdb,nemo,ased,esd")
    ap.add_argument("--sets", default=",".join(test_sets()))
    ap.add_argument("--tag", default="all", help="names this process's results file")
    ap.add_argument("--guards", action="store_true", help="study: the guard rules' comparison (A, B, C)")
    args = ap.parse_args(argv)
    root = args.data or default_data_root()
    if args.stage == "embed":
        stage_embed(root, tuple(args.corpora.split(",")))
    elif args.stage == "study":
        stage_study(args.sets.split(","), args.tag, guards=args.guards)
    elif args.stage == "baved":
        stage_baved(root)
    elif args.stage == "bench":
        print(json.dumps(bench(), indent=1))
    elif args.stage == "heads":
        stage_heads(root, tuple(args.train_corpora.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
