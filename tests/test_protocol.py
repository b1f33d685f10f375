"""The cross-corpus protocol's speaker normalisation and scoring, on a synthetic pool (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from serlive.train.corpora import Utterance
from serlive.train.protocol import (
    Pool,
    mean_score,
    mean_swapped,
    score,
    session_rows,
    speaker_normalised,
    window_weights,
)


def _pool() -> Pool:
    """Two speakers, 10 clips each of 1-3 windows; speaker B's embeddings sit elsewhere and spread more."""
    rng = np.random.default_rng(0)
    utts, clip, xs, silent = [], [], [], []
    for s, (offset, spread) in enumerate([(0.0, 1.0), (5.0, 3.0)]):
        for c in range(10):
            utts.append(Utterance(f"{s}-{c}.wav", "fake", f"fake:{s}", "female", "happy" if c % 2 else "sad"))
            n = 1 + c % 3
            clip += [len(utts) - 1] * n
            xs.append(offset + spread * rng.standard_normal((n, 4)))
            silent += [c == 0] + [False] * (n - 1)  # each speaker's first clip is silent
    return Pool(
        utts,
        np.concatenate(xs).astype(np.float32),
        np.array(clip, np.int32),
        np.array(silent),
        np.zeros(len(clip), np.int8),
    )


def test_every_speaker_is_standardised_by_their_own_voiced_windows():
    pool = _pool()
    x = speaker_normalised(pool)
    for s in ("fake:0", "fake:1"):
        rows = np.array([pool.utts[c].speaker == s for c in pool.clip])
        voiced = rows & ~pool.silent
        np.testing.assert_allclose(x[voiced].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(x[voiced].std(axis=0), 1.0, atol=2e-3)  # the 1e-3 floor
    # the mean-only variant moves each speaker to the origin and keeps the spread
    m = speaker_normalised(pool, scale=False)
    rows = np.array([pool.utts[c].speaker == "fake:1" for c in pool.clip]) & ~pool.silent
    np.testing.assert_allclose(m[rows].std(axis=0), pool.x[rows].std(axis=0), rtol=1e-5)


def test_a_short_session_uses_whole_clips_up_to_its_length():
    pool = _pool()
    rows = np.flatnonzero([pool.utts[c].speaker == "fake:0" for c in pool.clip])
    chosen = session_rows(rows, pool, 7.0, np.random.default_rng(1))
    clips = np.unique(pool.clip[chosen])
    heard = sum(2.5 + 0.5 * np.count_nonzero(pool.clip[chosen] == c) for c in clips)
    # random whole clips until 7 s are heard: 3 s windows, so two or three clips
    assert heard >= 7.0 and heard - 4.0 < 7.0 and 2 <= len(clips) <= 3
    assert not pool.silent[chosen].any()
    for c in clips:  # whole clips: every voiced window of a chosen clip
        assert set(np.flatnonzero((pool.clip == c) & ~pool.silent)) <= set(chosen)
    # 0 s: all of the speaker's voiced windows
    np.testing.assert_array_equal(
        session_rows(rows, pool, 0.0, np.random.default_rng(1)), rows[~pool.silent[rows]]
    )


def test_draws_of_a_session_are_averaged_and_kept():
    pool = _pool()
    preds_a = {c: 0 for c in range(len(pool.utts))}  # everything 'neutral'...
    happy = 2  # LABELS index of "happy"
    preds_b = {c: happy for c in range(len(pool.utts))}
    a, b = score(pool.utts, preds_a), score(pool.utts, preds_b)
    assert a["accuracy"] == 0.0 and b["accuracy"] == pytest.approx(0.5)
    assert b["per_speaker"] == {"fake:0": 0.5, "fake:1": 0.5}
    m = mean_score([a, b])
    assert m["accuracy"] == pytest.approx(0.25) and m["accuracy_draws"] == [0.0, 0.5]
    assert m["per_speaker"]["fake:0"] == pytest.approx(0.25)


def _gendered_pool() -> Pool:
    """Corpus A: two women; B: a woman, two men, one speaker of unknown gender; C: a man and a woman."""
    utts, clip = [], []
    speakers = [("a", "a:1", "female"), ("a", "a:2", "female"), ("b", "b:1", "female"),
                ("b", "b:2", "male"), ("b", "b:3", "male"), ("b", "b:4", "unknown"),
                ("c", "c:1", "male"), ("c", "c:2", "female")]  # fmt: skip
    for corpus, spk, gender in speakers:
        for c in range(6 if corpus == "a" else 3):
            utts.append(Utterance(f"{spk}-{c}.wav", corpus, spk, gender, "happy" if c % 2 else "sad"))
            clip += [len(utts) - 1] * (1 + c % 2)
    n = len(clip)
    return Pool(
        utts, np.zeros((n, 2), np.float32), np.array(clip, np.int32), np.zeros(n, bool), np.zeros(n, np.int8)
    )


def _mass(pool: Pool, w: np.ndarray, key) -> dict:
    out: dict = {}
    for c, wi in zip(pool.clip, w, strict=True):
        k = key(pool.utts[c])
        out[k] = out.get(k, 0.0) + float(wi)
    return out


def test_window_weights_give_every_corpus_and_its_emotions_the_same_weight():
    pool = _gendered_pool()
    idx = np.arange(len(pool.clip))
    for balance in (False, True):
        w = window_weights(pool, idx, balance_gender=balance)
        assert w.mean() == pytest.approx(1.0)
        cells = _mass(pool, w, lambda u: (u.corpus, u.emotion))
        assert max(cells.values()) == pytest.approx(min(cells.values()), rel=1e-3), (balance, cells)
    plain = _mass(pool, window_weights(pool, idx), lambda u: u.gender)
    assert plain["female"] > 1.5 * plain["male"]  # corpus A is all women: unbalanced
    balanced = _mass(pool, window_weights(pool, idx, balance_gender=True), lambda u: u.gender)
    assert balanced["female"] == pytest.approx(balanced["male"], rel=1e-3)
    assert balanced["unknown"] == pytest.approx(plain["unknown"], rel=0.3)  # kept roughly its share


def test_mean_swap_moves_each_speaker_onto_another_corpus_and_keeps_what_differs_within():
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.array(["a:1", "a:2", "b:1", "c:1"]), 5)
    corpora = np.array([s.split(":")[0] for s in speakers])
    offsets = {"a:1": 0.0, "a:2": 10.0, "b:1": 100.0, "c:1": -50.0}
    x = rng.normal(size=(20, 3)).astype(np.float32) + np.array([offsets[s] for s in speakers])[:, None]
    y = np.arange(20) % 4
    w = np.linspace(1, 2, 20).astype(np.float32)
    xs, ys, ws = mean_swapped(x, y, w, speakers, corpora, 2, rng)
    assert xs.shape == (60, 3) and np.array_equal(ys, np.tile(y, 3))
    assert np.allclose(xs[:20], x)  # the originals stay
    assert ws.sum() == pytest.approx(w.sum())  # copies share the originals' weight
    means = {s: x[speakers == s].mean(axis=0) for s in offsets}
    for k in (1, 2):
        copy = xs[20 * k : 20 * (k + 1)]
        for s in offsets:
            rows = speakers == s
            # within a speaker nothing changes but the offset
            assert np.allclose(copy[rows] - copy[rows].mean(axis=0), x[rows] - means[s], atol=1e-4)
            new_mean = copy[rows].mean(axis=0)
            donors = [o for o in offsets if o.split(":")[0] != s.split(":")[0]]
            assert any(np.allclose(new_mean, means[o], atol=1e-4) for o in donors), s


def test_mean_swap_within_one_corpus_takes_another_speaker():
    rng = np.random.default_rng(1)
    speakers = np.repeat(np.array(["a:1", "a:2"]), 4)
    x = np.concatenate([np.zeros((4, 2)), np.full((4, 2), 5.0)]).astype(np.float32)
    xs, _, _ = mean_swapped(
        x, np.zeros(8, np.int64), np.ones(8, np.float32), speakers, np.full(8, "a"), 1, rng
    )
    assert np.allclose(xs[8:12], 5.0) and np.allclose(xs[12:], 0.0)
