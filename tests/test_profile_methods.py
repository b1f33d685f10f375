"""Calibration-profile methods on synthetic embeddings (numpy-made; no corpora, no model)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from serlive.profiles.methods import (
    GUARDS,
    CrossValidation,
    Enrolment,
    Fitted,
    accuracies,
    cross_validate,
    fit,
    label_map,
)

MODEL = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
NAMES = ("neutral", "happy", "sad", "angry")
D = 256


def _clips(rng, n, centres, bias=2.0, signal=1.5, noise=1.0, labels=None):
    """Embeddings around a centre per label; plain probabilities leaning to sad by ``bias`` nats."""
    k = len(centres)
    y = rng.integers(0, k, n) if labels is None else labels
    x = centres[y] + noise * rng.normal(size=(n, centres.shape[1]))
    z = 0.8 * rng.normal(size=(n, len(MODEL)))
    cols = [MODEL.index(a) for a in NAMES[:k]]
    z[np.arange(n), np.array(cols)[y]] += signal
    z[:, MODEL.index("sad")] += bias
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return x.astype(np.float32), p.astype(np.float32), y.astype(np.int64)


def _acc(probs, y):
    return float(np.mean(np.argmax(probs, axis=1) == y))


def test_a_bias_of_the_plain_model_is_corrected():
    rng = np.random.default_rng(1)
    centres = 0.05 * rng.normal(size=(4, D))  # the embedding barely separates them: a bias is what is there
    x, p, y = _clips(rng, 48, centres, bias=3.0)
    f = fit(Enrolment(x, p, y, NAMES, MODEL), "calibration")
    assert f.method != "none"
    assert f.cv_fitted["balanced"] > f.cv_plain["balanced"]
    xt, pt, yt = _clips(rng, 800, centres, bias=3.0)
    plain = Fitted.from_params("none", {}, NAMES, MODEL).apply(xt, pt)
    assert _acc(plain, yt) < 0.45  # the bias sends most clips to sad
    assert _acc(f.apply(xt, pt), yt) > _acc(plain, yt) + 0.2


def test_own_labels_separable_in_the_embedding_are_learned():
    rng = np.random.default_rng(2)
    centres = 0.4 * rng.normal(size=(3, D))
    x, p, y = _clips(rng, 30, centres)
    names = ("stressed", "relaxed", "bored")
    f = fit(Enrolment(x, p, y, names, MODEL), "own")
    assert f.method != "none"
    assert np.isnan(f.cv_plain["overall"])
    assert f.cv_fitted["overall"] > 0.9
    xt, _, yt = _clips(rng, 300, centres)
    out = f.apply(xt)  # own labels need no plain probabilities
    assert out.shape == (300, 3)
    assert _acc(out, yt) > 0.9


def test_none_when_calibration_cannot_help():
    rng = np.random.default_rng(3)
    centres = 0.4 * rng.normal(size=(4, D))
    x, p, _ = _clips(rng, 40, centres, bias=0.0)
    y = rng.integers(0, 4, 40)  # labels unrelated to the clips
    # the strict guard keeps the plain model; the shipped "likelier" guard keeps a profile whenever its
    # cross-validation is likelier at an accuracy not lower, noise included (docs/calibration.md)
    shipped = fit(Enrolment(x, p, y, NAMES, MODEL), "calibration")
    assert shipped.method == "none" or (
        shipped.cv_fitted["balanced"] >= shipped.cv_plain["balanced"]
        and shipped.cv_fitted["log_loss"] < shipped.cv_plain["log_loss"]
    )
    f = fit(Enrolment(x, p, y, NAMES, MODEL), "calibration", guard="clear")
    assert f.method == "none"
    xt, pt, _ = _clips(rng, 5, centres)
    folded = pt @ label_map(NAMES, MODEL)
    np.testing.assert_allclose(f.apply(xt, pt), folded / folded.sum(axis=1, keepdims=True), atol=1e-5)


def _cv(y, plain, fitted, names=("neutral", "happy"), losses=(0.6, 0.6)):
    """Cross-validation figures of a made-up enrolment; ``losses``: plain's and the profile's log-loss."""
    preds = {"none": np.asarray(plain), "prototypes+bias": np.asarray(fitted)}
    y = np.asarray(y)
    return CrossValidation(
        np.zeros((len(y), 2)),
        y,
        names,
        preds,
        {m: accuracies(p, y, names) for m, p in preds.items()},
        dict(zip(preds, losses, strict=True)),
    )


def test_the_better_guard_keeps_a_small_gain_that_the_clear_guard_rejects():
    y = np.array([0] * 10 + [1] * 10)
    plain = y.copy()
    plain[[0, 1, 2, 10, 11, 12]] = 1 - y[[0, 1, 2, 10, 11, 12]]  # the plain model misses 6 of 20
    small = plain.copy()
    small[[0, 1, 10]] = y[[0, 1, 10]]  # fixes 3 ...
    small[[3, 13]] = 1 - y[[3, 13]]  # ... and breaks 2: one clip better, within a sign test's noise
    cv = _cv(y, plain, small)
    assert cv.scores["prototypes+bias"]["balanced"] > cv.scores["none"]["balanced"]
    assert cv.choose("calibration", ("prototypes+bias",), guard="clear") == "none"
    assert cv.choose("calibration", ("prototypes+bias",), guard="better") == "prototypes+bias"
    assert cv.choose("calibration", ("prototypes+bias",)) == "none"  # the default, likelier: same log-loss
    likelier = _cv(y, plain, small, losses=(0.6, 0.5))
    assert likelier.choose("calibration", ("prototypes+bias",)) == "prototypes+bias"
    worse = plain.copy()
    worse[0] = y[0]  # fixes 1 ...
    worse[[3, 4, 13]] = 1 - y[[3, 4, 13]]  # ... and breaks 3
    cv = _cv(y, plain, worse)
    assert cv.scores["prototypes+bias"]["balanced"] < cv.scores["none"]["balanced"]
    for guard in GUARDS:
        assert cv.choose("calibration", ("prototypes+bias",), guard=guard) == "none"
    tie = plain.copy()
    tie[0], tie[3] = y[0], 1 - y[3]  # one fixed, one broken, the same label: no gain keeps the plain model
    assert _cv(y, plain, tie).choose("calibration", ("prototypes+bias",), guard="better") == "none"
    with pytest.raises(ValueError, match="guard"):
        cv.choose("calibration", ("prototypes+bias",), guard="loose")


def test_fit_passes_the_guard_on():
    rng = np.random.default_rng(3)
    centres = 0.4 * rng.normal(size=(4, D))
    x, p, _ = _clips(rng, 40, centres, bias=0.0)
    y = rng.integers(0, 4, 40)
    enrol = Enrolment(x, p, y, NAMES, MODEL)
    for guard in GUARDS:
        f = fit(enrol, "calibration", guard=guard)
        if guard == "likelier":
            assert f.method == "none" or f.cv_fitted["balanced"] >= f.cv_plain["balanced"]
        else:
            assert f.method == "none" or f.cv_fitted["balanced"] > f.cv_plain["balanced"]
    with pytest.raises(ValueError, match="guard"):
        fit(enrol, "calibration", guard="loose")


def test_the_likelier_guard_keeps_a_tie_in_accuracy_only_when_the_probabilities_move_towards_the_labels():
    y = np.array([0] * 8 + [1] * 8)
    plain = y.copy()
    plain[[0, 8]] = 1 - y[[0, 8]]
    tie = plain.copy()
    tie[0], tie[3] = y[0], 1 - y[3]  # one fixed, one broken: the same balanced accuracy
    closer = _cv(y, plain, tie, losses=(0.7, 0.5))
    assert closer.scores["prototypes+bias"]["balanced"] == closer.scores["none"]["balanced"]
    assert closer.choose("calibration", ("prototypes+bias",), guard="likelier") == "prototypes+bias"
    assert closer.choose("calibration", ("prototypes+bias",), guard="better") == "none"
    farther = _cv(y, plain, tie, losses=(0.5, 0.7))
    assert farther.choose("calibration", ("prototypes+bias",), guard="likelier") == "none"
    worse = plain.copy()
    worse[[3, 4]] = 1 - y[[3, 4]]  # a lower accuracy is never kept, however likely
    likely_but_worse = _cv(y, plain, worse, losses=(0.9, 0.1))
    assert likely_but_worse.choose("calibration", ("prototypes+bias",), "likelier") == "none"
    no_losses = _cv(y, plain, tie)
    no_losses.losses.clear()
    with pytest.raises(ValueError, match="log-loss"):
        no_losses.choose("calibration", ("prototypes+bias",), guard="likelier")


def test_cross_validation_reports_the_log_loss_of_the_plain_probabilities():
    x, p, y = _clips(
        np.random.default_rng(5), 24, 0.4 * np.random.default_rng(6).normal(size=(4, D)), bias=0.0
    )
    cv = cross_validate(Enrolment(x, p, y, NAMES, MODEL), "calibration", ("prototypes+bias",))
    folded = p @ label_map(NAMES, MODEL)
    folded = np.maximum(folded / folded.sum(axis=1, keepdims=True), 1e-6)
    want = np.mean([-np.log(folded[y == c, c]).mean() for c in np.unique(y)])
    assert cv.losses["none"] == pytest.approx(want, rel=1e-6)
    assert np.isfinite(cv.losses["prototypes+bias"]) and cv.losses["prototypes+bias"] > 0


def test_apply_on_one_window_and_cost():
    rng = np.random.default_rng(4)
    centres = 0.3 * rng.normal(size=(4, D))
    x, p, y = _clips(rng, 32, centres)
    for method in ("bias", "prototypes+bias", "head"):
        f = fit(Enrolment(x, p, y, NAMES, MODEL), "calibration", candidates=(method,))
        one = f.apply(x[0], p[0])
        assert one.shape == (1, 4) and one.dtype == np.float32
        assert abs(float(one.sum()) - 1.0) < 1e-5
        np.testing.assert_allclose(one[0], f.apply(x[:3], p[:3])[0], atol=1e-6)
    t0 = time.perf_counter()
    for _ in range(200):
        f.apply(x[:1], p[:1])
    assert (time.perf_counter() - t0) / 200 < 2e-3  # well under 1 ms on a quiet machine


def test_from_params_round_trip_gives_identical_outputs():
    rng = np.random.default_rng(5)
    centres = 0.3 * rng.normal(size=(4, D))
    x, p, y = _clips(rng, 40, centres)
    for kind, names in (("calibration", NAMES), ("own", ("a", "b", "c", "d"))):
        for method in ("bias", "prototypes+bias", "head") if kind == "calibration" else ("head",):
            f = fit(Enrolment(x, p, y, names, MODEL), kind, candidates=(method,))
            stored = json.loads(
                json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in f.params.items()})
            )
            g = Fitted.from_params(f.method, stored, names, MODEL)
            assert g.kind == kind
            np.testing.assert_array_equal(g.apply(x, p), f.apply(x, p))


def test_bad_input_is_refused():
    rng = np.random.default_rng(6)
    x, p, y = _clips(rng, 10, rng.normal(size=(4, D)))
    with pytest.raises(ValueError, match="not the model's"):
        fit(Enrolment(x, p, y, ("neutral", "Happy", "sad", "angry"), MODEL), "calibration")
    with pytest.raises(ValueError, match="two labels"):
        fit(Enrolment(x, p, np.zeros(10, np.int64), NAMES, MODEL), "calibration")
    with pytest.raises(ValueError, match="kind"):
        fit(Enrolment(x, p, y, NAMES, MODEL), "mine")


def test_calm_counts_as_neutral_when_only_neutral_is_a_label():
    m = label_map(("neutral", "sad"), MODEL)
    assert m[MODEL.index("calm"), 0] == 1.0 and m[MODEL.index("neutral"), 0] == 1.0
    assert m[MODEL.index("happy")].sum() == 0.0


def test_fitting_100_clips_is_fast():
    rng = np.random.default_rng(7)
    centres = 0.3 * rng.normal(size=(8, 1024))
    y = np.repeat(np.arange(4), 25)
    x, p, y = _clips(rng, 100, centres[:4], labels=y)
    t0 = time.perf_counter()
    fit(Enrolment(x, p, y, NAMES, MODEL), "calibration")
    assert time.perf_counter() - t0 < 15.0  # target 5 s on a quiet 2-core machine; slack for a busy CI


def test_a_profile_kept_at_the_same_accuracy_says_its_probabilities_moved():
    from dataclasses import replace

    from serlive.profiles.build import make_profile
    from serlive.profiles.store import calibration_table

    rng = np.random.default_rng(4)
    centres = 0.6 * rng.normal(size=(4, D))
    x, p, y = _clips(rng, 40, centres)
    profile = make_profile("me", Enrolment(x, p, y, NAMES, MODEL), "calibration", "0" * 64, "m.tflite")
    assert profile.method != "none"
    for figures in (profile.cv_plain, profile.cv_fitted):
        assert {"balanced", "log_loss"} <= set(figures)
    assert "log-loss" in calibration_table(profile)
    same = {**profile.cv_plain, "log_loss": 0.9}
    tie = replace(profile, cv_plain=same, cv_fitted={**same, "log_loss": 0.7})
    assert tie.kept_for_its_probabilities and not profile.kept_for_its_probabilities
    assert "same accuracy" in calibration_table(tie) and "closer to your labels" in calibration_table(tie)
    assert "log-loss 0.90 → 0.70" in tie.summary()
    older = replace(profile, cv_plain={k: v for k, v in same.items() if k != "log_loss"})  # an older file
    assert not older.kept_for_its_probabilities and "log-loss" not in calibration_table(older)
