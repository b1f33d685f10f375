"""``Engine(skip_silent=True)`` (the app, ``listen``): no encoder for no-speech windows, nothing else changes.

The reference is the same engine with the model run on every window (the default, which the
parity tests with file analysis use).
"""

from __future__ import annotations

import json

import numpy as np

from serlive.live.engine import Engine
from serlive.model import EmotionModel
from tests.test_analysis import StubModel
from tests.test_stream import AdaptingModel, run_fast, speech_with_pauses


class CountingModel(StubModel):
    """Counts the windows the model is run on."""

    def __init__(self) -> None:
        super().__init__()
        self.windows = 0

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.windows += len(x)
        return super().predict(x)


def test_silent_windows_skip_the_model_and_voiced_ones_are_unchanged():
    y = speech_with_pauses()
    every, skipping = CountingModel(), CountingModel()
    ref, end_ref = run_fast(Engine(every, smoothing=0.5), y)
    got, end = run_fast(Engine(skipping, smoothing=0.5, skip_silent=True), y)
    assert end_ref.error is None and end.error is None
    assert [(r.start, r.silent) for r in got] == [(r.start, r.silent) for r in ref]
    n_silent = sum(r.silent for r in ref)
    assert 0 < n_silent < len(ref)
    assert every.windows == len(ref) and skipping.windows == len(ref) - n_silent
    for r, g in zip(ref, got, strict=True):
        assert (g.label, g.confidence, g.adapted) == (r.label, r.confidence, r.adapted)
        if r.silent:
            assert g.probabilities is None and g.label == "no speech" and g.confidence == 0.0
            assert json.loads(json.dumps(g.to_dict()))["probabilities"] is None
        else:
            assert g.probabilities.tobytes() == r.probabilities.tobytes()
        # the smoothing never moved on silent windows, so it is the same everywhere
        assert (g.smoothed is None) == (r.smoothed is None)
        if r.smoothed is not None:
            assert g.smoothed.tobytes() == r.smoothed.tobytes()


def test_session_adaptation_is_the_same_when_silent_windows_are_skipped():
    y = speech_with_pauses()
    ref, _ = run_fast(Engine(AdaptingModel(min_speech_s=2.0), adapt=True), y)
    model = AdaptingModel(min_speech_s=2.0)
    got, _ = run_fast(Engine(model, adapt=True, skip_silent=True), y)
    assert any(r.adapted for r in ref) and any(r.silent for r in ref)
    assert len(model.embeddings) == sum(not r.silent for r in ref)  # encoded: the voiced windows only
    for r, g in zip(ref, got, strict=True):
        assert (g.silent, g.adapted, g.speech_heard_s) == (r.silent, r.adapted, r.speech_heard_s)
        if not r.silent:
            assert g.probabilities.tobytes() == r.probabilities.tobytes()


def test_the_real_model_with_skip_gives_the_same_voiced_results(tiny_models):
    y = speech_with_pauses()
    ref, _ = run_fast(Engine(EmotionModel(tiny_models.int8)), y)
    got, _ = run_fast(Engine(EmotionModel(tiny_models.int8), skip_silent=True), y)
    assert [r.silent for r in got] == [r.silent for r in ref]
    for r, g in zip(ref, got, strict=True):
        assert (g.probabilities is None) == r.silent
        if not r.silent:
            np.testing.assert_array_equal(g.probabilities, r.probabilities)
