"""Session statistics: what the adapted head is fed must be the session's true mean and spread."""

from __future__ import annotations

import numpy as np
import pytest

from serlive.adaptation import AdaptationConfig, SessionStats


def test_running_statistics_equal_the_batch_ones():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((200, 16)) * rng.uniform(0.1, 5, 16) + rng.uniform(-3, 3, 16)).astype(np.float32)
    s = SessionStats(AdaptationConfig(statistics="mean_std", min_speech_s=10.0, floor=1e-3))
    for row in x:
        s.add(row, 0.5)
    mean, scale = s.normaliser()
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scale, x.std(axis=0) + 1e-3, rtol=1e-5)
    assert s.n == 200 and s.heard_s == pytest.approx(100.0)


def test_ready_only_after_enough_speech_and_reset_forgets():
    s = SessionStats(AdaptationConfig(min_speech_s=20.0))
    rng = np.random.default_rng(0)
    for i in range(39):
        s.add(rng.standard_normal(8), 0.5)
        assert not s.ready, i
    s.add(rng.standard_normal(8), 0.5)
    assert s.ready and s.heard_s == pytest.approx(20.0)
    s.reset()
    assert not s.ready and s.n == 0 and s.heard_s == 0.0
    with pytest.raises(ValueError):
        s.normaliser()


def test_mean_statistics_leave_the_scale_alone_and_bad_rows_are_skipped():
    s = SessionStats(AdaptationConfig(statistics="mean", min_speech_s=1.0))
    s.add(np.array([1.0, 10.0]), 1.0)
    s.add(np.array([3.0, 30.0]), 1.0)
    s.add(np.array([np.nan, 0.0]), 1.0)  # a broken window must not poison the session
    mean, scale = s.normaliser()
    np.testing.assert_allclose(mean, [2.0, 20.0])
    np.testing.assert_array_equal(scale, [1.0, 1.0])
    assert s.n == 2 and s.heard_s == 2.0


@pytest.mark.parametrize(
    "block",
    [
        {"statistics": "median", "min_speech_s": 5},
        {"statistics": "mean"},
        {"statistics": "mean", "min_speech_s": 0},
        {"statistics": "mean", "min_speech_s": 20, "blend": 1.0},
        {"statistics": "mean", "min_speech_s": 20, "blend": -0.1},
    ],
)
def test_metadata_the_app_cannot_honour_is_refused(block):
    with pytest.raises((ValueError, KeyError)):
        AdaptationConfig.from_dict(block)


def test_metadata_round_trip():
    cfg = AdaptationConfig(statistics="mean", min_speech_s=15.0, floor=0.01, blend=0.25)
    assert AdaptationConfig.from_dict(cfg.to_dict()) == cfg
    # a model file written before blending existed: the adapted head alone
    assert AdaptationConfig.from_dict({"statistics": "mean", "min_speech_s": 20}).blend == 0.0


def test_blend_averages_the_two_heads():
    plain, adapted = np.array([0.8, 0.2], np.float32), np.array([0.0, 1.0], np.float32)
    np.testing.assert_array_equal(AdaptationConfig(blend=0.0).combine(plain, adapted), adapted)
    np.testing.assert_allclose(AdaptationConfig(blend=0.25).combine(plain, adapted), [0.2, 0.8])
