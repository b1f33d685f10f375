"""Out-of-fold soft labels for distilling the encoder model into the CNN; the head is a fake."""

from __future__ import annotations

import numpy as np
import pytest

from serlive.config import LABELS
from serlive.train import fit, teacher
from serlive.train.corpora import Utterance
from serlive.train.protocol import HeadConfig, Pool


def _pool(tmp_path) -> Pool:
    """12 speakers in two corpora, 4 clips of 2 windows each; columns: speaker's number, clip, silent."""
    utts, clip, xs, silent = [], [], [], []
    for s in range(12):
        for c in range(4):
            path = tmp_path / f"{s}-{c}.wav"
            corpus = "ab"[s // 6]
            utts.append(Utterance(str(path), corpus, f"{corpus}:{s}", "female", LABELS[c]))
            clip += [len(utts) - 1] * 2
            xs += [[s, c, c == 3], [s, c, 0]]
            silent += [c == 3, False]  # the first window of each speaker's 4th clip is silent
    n = len(clip)
    x = np.array(xs, np.float32)
    return Pool(utts, x, np.array(clip, np.int32), np.array(silent), np.zeros(n, np.int8))


class _Head:
    """Voiced windows: the clip's emotion index + 1 (0.6); silent ones: the last label (0.9)."""

    def __init__(self, trained_on: set[int]) -> None:
        self.trained_on = trained_on

    def predict(self, x: np.ndarray, **_: object) -> np.ndarray:
        out = np.full((len(x), len(LABELS)), 0.4 / (len(LABELS) - 1), np.float32)
        out[np.arange(len(x)), (x[:, 1].astype(int) + 1) % len(LABELS)] = 0.6
        silent = x[:, 2] > 0
        out[silent] = 0.1 / (len(LABELS) - 1)
        out[silent, len(LABELS) - 1] = 0.9
        return out


def test_every_clip_is_labelled_by_a_head_that_never_heard_its_speaker(tmp_path, monkeypatch):
    pool = _pool(tmp_path)
    folds: list[tuple[set[int], set[int]]] = []

    def fake_fit(x, y, w, cfg, *args, **kwargs):
        head = _Head({int(v) for v in x[:, 0]})
        real_predict = head.predict

        def predict(xt, **kw):
            folds.append((head.trained_on, {int(v) for v in xt[:, 0]}))
            return real_predict(xt, **kw)

        head.predict = predict
        return head

    monkeypatch.setattr(teacher, "fit_head", fake_fit)
    # "a:00" is speaker "a:0" by value, as serlive train --val reads it
    out = teacher.out_of_fold(pool, HeadConfig(), exclude={"a:00", "b:7"}, folds=5)
    assert len(folds) == 5
    for trained, labelled in folds:
        assert trained and labelled and not trained & labelled
        assert not {0, 7} & (trained | labelled)  # excluded speakers: neither trained on nor labelled
    labelled_speakers = set().union(*(lab for _, lab in folds))
    assert labelled_speakers == set(range(12)) - {0, 7}
    assert len(out) == 10 * 4  # every clip of the 10 other speakers
    # the clip's probability is the mean over its voiced windows only (the silent window would win)
    for c, p in out.items():
        emotion = LABELS.index(pool.utts[c].emotion)
        assert np.argmax(p) == (emotion + 1) % len(LABELS)
        assert p.sum() == pytest.approx(1.0, abs=1e-5)


def test_soft_targets_mix_label_and_teacher_where_the_teacher_has_spoken(tmp_path):
    onehot = np.eye(len(LABELS), dtype=np.float32)[[0, 3]]
    known, unknown = tmp_path / "x.wav", tmp_path / "y.wav"
    soft = {str(known.resolve()): [0.0, 1.0] + [0.0] * 6}
    # the teacher's keys are resolved paths: a relative spelling of the same file finds them
    y, hits = fit.soft_targets(onehot, [str(known), str(unknown)], soft, 0.25)
    assert hits == 1
    np.testing.assert_allclose(y[0], [0.75, 0.25] + [0.0] * 6)
    np.testing.assert_allclose(y[1], onehot[1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit.soft_targets(onehot, [str(known)], soft, 1.5)
    with pytest.raises(ValueError, match="probabilities"):
        fit.soft_targets(onehot[:1], [str(known)], {str(known.resolve()): [0.5, 0.5]}, 0.5)


def test_an_excluded_speaker_that_is_not_in_the_data_is_an_error(tmp_path, monkeypatch):
    """A typo must not quietly let the student's validation speakers into the teacher's labels."""
    monkeypatch.setattr(teacher, "fit_head", lambda *a, **k: _Head(set()))
    with pytest.raises(ValueError, match="a:99"):
        teacher.out_of_fold(_pool(tmp_path), HeadConfig(), exclude={"a:99"})
