"""Training data preparation: trimming, placement, augmentation, the feature cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from serlive.audio.io import load_audio
from serlive.config import FeatureConfig
from serlive.features import FeatureExtractor, frame_rms_dbfs
from serlive.train.augment import (
    AugmentConfig,
    add_noise,
    augment_channel,
    band_limit,
    codec,
    coloured_noise,
    gain,
    random_eq,
    room_reverb,
    speed,
)
from serlive.train.corpora import Utterance
from serlive.train.dataset import DatasetConfig, build, place, trim_silence, utterance_variants
from serlive.train.fit import spec_augment
from tests.conftest import SR, dominant_frequency, emotion_clip, speechlike, tone, write_audio

CFG = FeatureConfig()


def test_trim_silence_keeps_the_speech():
    speech = speechlike(1.0, seed=1)
    y = np.concatenate([np.zeros(SR, np.float32), speech, np.zeros(SR // 2, np.float32)])
    t = trim_silence(y, CFG, 40.0)
    assert 0.95 * SR <= len(t) <= 1.1 * SR
    db = frame_rms_dbfs(t, CFG)
    assert db[0] > db.max() - 40 - 1e-3 and db[-1] > db.max() - 40 - 1e-3
    assert trim_silence(y, CFG, 0.0) is y
    short = np.ones(100, np.float32)
    assert trim_silence(short, CFG, 40.0) is short


def test_place_centres_crops_and_pads():
    y = np.arange(1, 11, dtype=np.float32)
    out = place(y, 20, None)
    assert len(out) == 20 and out[5:15].tolist() == y.tolist() and out[:5].sum() == 0
    np.testing.assert_array_equal(place(y, 4, None), y[3:7])
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = place(y, 16, rng)
        nz = np.flatnonzero(r)
        assert len(nz) == 10 and r[nz].tolist() == y.tolist()
        c = place(y, 4, rng)
        assert np.all(np.diff(c) == 1)


def test_coloured_noise_slopes():
    rng = np.random.default_rng(0)
    for colour, slope in (("white", 0.0), ("pink", -3.0), ("brown", -6.0)):
        x = coloured_noise(2**16, rng, colour)
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-3)
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        lo = spec[(f > 200) & (f < 400)].mean()
        hi = spec[(f > 3200) & (f < 6400)].mean()
        per_octave = 10 * np.log10(hi / lo) / 4  # 4 octaves apart
        assert per_octave == pytest.approx(slope, abs=1.0), colour


def test_add_noise_hits_the_snr():
    y = tone(440, 2.0, amp=0.5)
    out = add_noise(y, 10.0, np.random.default_rng(0))
    snr = 10 * np.log10(np.mean(y**2) / np.mean((out - y) ** 2))
    assert snr == pytest.approx(10.0, abs=0.1)


def test_gain_and_clipping():
    y = tone(440, 0.1, amp=0.5)
    np.testing.assert_allclose(gain(y, -6.0206), y * 0.5, atol=1e-5)
    assert np.max(np.abs(gain(y, 20))) == pytest.approx(1.0)


def test_speed_changes_pitch_and_length():
    y = tone(500, 1.0)
    fast = speed(y, 1.1)
    assert len(fast) == pytest.approx(SR / 1.1, abs=2)
    assert dominant_frequency(fast) == pytest.approx(550, abs=3)


def test_channel_augmentations_keep_length_and_are_finite():
    rng = np.random.default_rng(1)
    y = speechlike(1.0)
    for fn in (random_eq, band_limit, room_reverb, codec):
        for _ in range(3):
            out = fn(y, rng)
            assert out.dtype == np.float32 and len(out) == len(y) and np.all(np.isfinite(out)), fn.__name__
    out = band_limit(tone(50, 1.0), np.random.default_rng(2))  # below any high-pass corner
    assert np.sqrt(np.mean(out[SR // 2 :] ** 2)) < 0.2 * np.sqrt(np.mean(tone(50, 1.0) ** 2))


def test_augment_channel_level_range():
    cfg = AugmentConfig()
    rng = np.random.default_rng(3)
    y = speechlike(3.0)
    for _ in range(10):
        out = augment_channel(y, rng, cfg)
        peak_db = 20 * np.log10(np.max(np.abs(out)))
        assert -6.03 + cfg.gain_db[0] - 0.1 <= peak_db <= 0.01
        assert len(out) == len(y)


def test_spec_augment_masks_within_bounds():
    rng = np.random.default_rng(0)
    x = np.ones((6, 149, 64, 1), np.float32)
    out = spec_augment(x, rng)
    assert out is x
    for ex in out:
        zero_cols = np.all(ex[..., 0] == 0, axis=0)
        zero_rows = np.all(ex[..., 0] == 0, axis=1)
        assert zero_cols.sum() < 64 // 8 and zero_rows.sum() < 149 // 8
        assert ex.sum() > 0.7 * ex.size


def test_cache_key_tracks_every_setting():
    base = DatasetConfig(CFG, 3.0)
    assert base.key() == DatasetConfig(FeatureConfig(), 3.0).key()
    others = [
        replace(base, n_aug=5),
        replace(base, seed=1),
        replace(base, trim_db=30.0),
        replace(base, window_s=2.0),
        replace(base, features=FeatureConfig(n_mels=40)),
        replace(base, augment=AugmentConfig(p_noise=0.1)),
    ]
    keys = {c.key() for c in others}
    assert base.key() not in keys and len(keys) == len(others)


def test_utterance_variants_clean_variant_is_the_app_input(tmp_path):
    y = emotion_clip("happy", seed=1, dur=1.2)
    path = write_audio(tmp_path / "a.wav", y)
    cfg = DatasetConfig(CFG, 3.0, n_aug=0)
    v = utterance_variants(str(path), cfg)
    assert v.shape == (1, 149, 64, 1) and v.dtype == np.float16
    want = FeatureExtractor(CFG)(place(trim_silence(load_audio(path), CFG, cfg.trim_db), 48000, None))
    np.testing.assert_allclose(v[0].astype(np.float32), want, atol=2e-3)


def test_build_keeps_rows_aligned_and_caches(tmp_path):
    """Rows follow the utterance order even when corpora interleave; a rerun reads the cache."""
    utts = []
    for i, (corpus, emotion) in enumerate(
        [("tess", "angry"), ("ravdess", "sad"), ("tess", "happy"), ("ravdess", "calm"), ("tess", "sad")]
    ):
        path = write_audio(tmp_path / "audio" / f"{corpus}_{i}.wav", emotion_clip(emotion, seed=i, dur=1.0))
        utts.append(Utterance(str(path), corpus, f"{corpus}:x", "female", emotion))
    cfg = DatasetConfig(CFG, 3.0, n_aug=0)
    logs: list[str] = []
    feats = build(utts, cfg, cache_dir=tmp_path / "cache", workers=1, log=logs.append)
    assert feats.shape == (5, 1, 149, 64, 1)
    for i, u in enumerate(utts):
        np.testing.assert_array_equal(feats[i], utterance_variants(u.path, cfg))
    assert not any("from cache" in m for m in logs)
    logs.clear()
    again = build(utts, cfg, cache_dir=tmp_path / "cache", workers=1, log=logs.append)
    np.testing.assert_array_equal(again, feats)
    assert sum("from cache" in m for m in logs) == 2


def test_partners_share_speaker_and_emotion_and_are_never_self(tmp_path):
    utts = [
        Utterance(f"/x/{spk}_{emo}_{k}.wav", "ravdess", spk, "male", emo)
        for spk in ("ravdess:01", "ravdess:02")
        for emo in ("sad", "angry")
        for k in range(3)
    ] + [Utterance("/x/lonely.wav", "ravdess", "ravdess:03", "male", "calm")]
    from serlive.train.dataset import partners

    mates = partners(utts, seed=7)
    by_path = {u.path: u for u in utts}
    assert mates[-1] is None  # no other clip of that speaker and emotion
    for u, m in zip(utts[:-1], mates[:-1], strict=True):
        assert m is not None and m != u.path
        assert (by_path[m].speaker, by_path[m].emotion) == (u.speaker, u.emotion)
    assert partners(utts, seed=7) == mates


def test_variants_vary_how_much_of_the_window_is_speech(tmp_path):
    """Concatenated and excerpted variants break the link between speech length and label."""
    a = write_audio(tmp_path / "a.wav", emotion_clip("sad", seed=1, dur=1.6))
    b = write_audio(tmp_path / "b.wav", emotion_clip("sad", seed=2, dur=1.6))
    cfg = DatasetConfig(CFG, 3.0, n_aug=24)
    v = utterance_variants(str(a), cfg, partner=str(b)).astype(np.float32)
    # fraction of frames within 30 dB of each variant's loudest frame
    active = [(x[:, :, 0].max(axis=1) > x.max() - 1.5).mean() for x in v[1:]]
    assert max(active) > 0.8  # some windows are (nearly) full of speech
    assert min(active) < 0.4  # some hold only a short excerpt
