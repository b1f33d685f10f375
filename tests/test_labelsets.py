"""Label sets (:mod:`serlive.labelsets`): renormalisation, calm into neutral, errors, views."""

from __future__ import annotations

import numpy as np
import pytest

from serlive.config import LABELS
from serlive.labelsets import LabelSetError, parse_labels, view, view_analysis
from serlive.results import Analysis, WindowResult
from serlive.segments import Utterance


def random_probs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(LABELS)), size=n)
    return p.astype(np.float32)


def test_basic_keeps_the_ratios_among_kept_labels_and_adds_calm_to_neutral():
    ls = parse_labels("basic", LABELS)
    assert ls.names == ("neutral", "happy", "sad", "angry") and ls.folds_calm
    p = random_probs(50)
    q = ls.apply(p)
    assert q.shape == (50, 4)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)
    i = {k: LABELS.index(k) for k in LABELS}
    neutral_plus_calm = p[:, i["neutral"]] + p[:, i["calm"]]
    for a, b in (("happy", "sad"), ("sad", "angry"), ("happy", "angry")):
        np.testing.assert_allclose(
            q[:, ls.names.index(a)] / q[:, ls.names.index(b)], p[:, i[a]] / p[:, i[b]], rtol=1e-5
        )
    np.testing.assert_allclose(q[:, 0] / q[:, 1], neutral_plus_calm / p[:, i["happy"]], rtol=1e-5)
    # and the kept mass is what renormalisation divides by
    kept = neutral_plus_calm + p[:, i["happy"]] + p[:, i["sad"]] + p[:, i["angry"]]
    np.testing.assert_allclose(q[:, 2], p[:, i["sad"]] / kept, rtol=1e-5)


def test_calm_is_kept_apart_when_chosen():
    ls = parse_labels("neutral,calm,angry", LABELS)
    assert not ls.folds_calm
    p = random_probs(20, seed=1)
    q = ls.apply(p)
    i = [LABELS.index(k) for k in ("neutral", "calm", "angry")]
    np.testing.assert_allclose(q, p[:, i] / p[:, i].sum(axis=1, keepdims=True), rtol=1e-5)


def test_without_neutral_calm_is_dropped_like_any_other_label():
    ls = parse_labels("happy,sad", LABELS)
    assert not ls.folds_calm
    p = np.zeros(len(LABELS), np.float32)
    p[LABELS.index("calm")], p[LABELS.index("happy")], p[LABELS.index("sad")] = 0.5, 0.3, 0.2
    np.testing.assert_allclose(ls.apply(p), [0.6, 0.4], atol=1e-6)


def test_names_any_case_any_order_repeats_and_presets_mixed():
    ls = parse_labels(" Angry, neutral ,HAPPY,angry", LABELS)
    assert ls.names == ("neutral", "happy", "angry")  # the model's order
    assert parse_labels("basic,fearful", LABELS).names == ("neutral", "happy", "sad", "angry", "fearful")
    assert parse_labels("all", LABELS).is_all
    assert parse_labels(None, LABELS).is_all
    p = random_probs(3)
    np.testing.assert_array_equal(parse_labels("all", LABELS).apply(p), p)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("neutral,joy", "unknown label joy; valid labels: neutral, calm, happy"),
        ("boredom,joy", "unknown labels boredom, joy"),
        ("angry", "at least two labels"),
        (" , ", "no labels given"),
    ],
)
def test_bad_label_sets_are_clear_errors_listing_the_valid_ones(spec, message):
    with pytest.raises(LabelSetError, match=message) as info:
        parse_labels(spec, LABELS)
    if "two" not in message:
        assert "presets: basic, all" in str(info.value)


def test_a_row_with_no_kept_mass_is_uniform():
    ls = parse_labels("sad,angry", LABELS)
    p = np.zeros(len(LABELS), np.float32)
    p[LABELS.index("happy")] = 1.0
    np.testing.assert_allclose(ls.apply(p), [0.5, 0.5])


def test_view_analysis_maps_windows_and_the_mean_from_model_space():
    p = random_probs(4, seed=3)
    windows = [WindowResult(float(k), k + 3.0, p[k], silent=k == 3) for k in range(4)]
    mean = p[:3].mean(axis=0)
    a = Analysis(duration_s=6.0, labels=LABELS, windows=windows, probabilities=mean)
    ls = parse_labels("basic", LABELS)
    v = view_analysis(a, ls)
    assert v.labels == ls.names and a.labels == LABELS  # the original is untouched
    np.testing.assert_allclose(v.probabilities, ls.apply(mean), atol=1e-6)
    for w, orig in zip(v.windows, windows, strict=True):
        np.testing.assert_allclose(w.probabilities, ls.apply(orig.probabilities), atol=1e-6)
        assert w.silent == orig.silent
    assert v.label == ls.names[int(np.argmax(ls.apply(mean)))]


def test_view_of_an_utterance():
    p = random_probs(1, seed=4)[0]
    u = Utterance(1.0, 2.5, LABELS, p)
    ls = parse_labels("neutral,sad", LABELS)
    v = view(u, ls, "probabilities")
    assert v.labels == ("neutral", "sad") and (v.start_s, v.end_s) == (1.0, 2.5)
    expected = np.array([p[0] + p[1], p[3]]) / (p[0] + p[1] + p[3])
    np.testing.assert_allclose(v.probabilities, expected, rtol=1e-5)
    assert v.to_dict()["label"] == ("neutral" if expected[0] > expected[1] else "sad")
