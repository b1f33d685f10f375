"""Feature parity with librosa, streaming exactness and the per-window normalisation.

Tolerances:
* log-mel: within 0.01 dB of librosa wherever librosa's value is above -80 dB
  (our path is float32; far below the signal the 1e-10 floor dominates);
* MFCC: within 1e-3 (absolute, the values are O(10..1000));
* ZCR: equal to 1e-6 (it is a count);
* RMS, chroma, filterbanks: relative 1e-4 on linear values.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from serlive.config import FeatureConfig, WindowConfig
from serlive.features import (
    FeatureExtractor,
    chroma_filterbank,
    dct_matrix,
    frame_rms_dbfs,
    frame_signal,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    n_frames_for,
    zero_crossing_rate,
)
from tests.conftest import SR, chirp, noise, speechlike, tone

librosa = pytest.importorskip("librosa", reason="parity tests need librosa (the [train] extra)")

CFG = FeatureConfig()
VCFG = FeatureConfig(kind="frame_vector")


def mixed_signal(seed: int = 0, dur: float = 1.5) -> np.ndarray:
    """Chirp + tone + noise with a silent gap of exact zeros and a near-zero stretch."""
    y = (
        chirp(80, 6000, dur, amp=0.3)
        + tone(440, dur, amp=0.2)
        + noise(dur, colour="pink", amp=0.05, seed=seed)
    )
    y[4000:5000] = 0.0
    y[9000:9500] *= 1e-12
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def sig() -> np.ndarray:
    return mixed_signal()


def librosa_mel_power(y: np.ndarray, cfg: FeatureConfig = CFG) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        center=False, window="hann", power=2.0, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
        htk=False, norm="slaney",
    )  # fmt: skip


# --- building blocks -------------------------------------------------------------
def test_mel_scale_matches_librosa():
    f = np.array([0.0, 50.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0])
    np.testing.assert_allclose(hz_to_mel(f), librosa.hz_to_mel(f, htk=False), rtol=1e-12)
    m = np.linspace(0, 40, 17)
    np.testing.assert_allclose(mel_to_hz(m), librosa.mel_to_hz(m, htk=False), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels", "fmin", "fmax"),
    [(16000, 640, 64, 50.0, 8000.0), (22050, 1024, 40, 0.0, 11025.0)],
)
def test_mel_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney", dtype=np.float64
    )
    assert ours.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize(("sr", "n_fft"), [(16000, 640), (22050, 2048)])
def test_chroma_filterbank_matches_librosa(sr, n_fft):
    ours = chroma_filterbank(sr, n_fft, 12)
    ref = librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=12, tuning=0.0, dtype=np.float64)
    assert ours.shape == (12, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-12)


#: MFCCs are the orthonormal DCT-II of the floored log-mel, as in librosa.


def test_dct_matrix_is_orthonormal():
    full = dct_matrix(64, 64)
    np.testing.assert_allclose(full.T @ full, np.eye(64), atol=1e-12)
    assert dct_matrix(64, 20).shape == (64, 20)


def test_dct_matrix_is_dct2():
    d = dct_matrix(64, 20)
    x = np.random.default_rng(1).standard_normal((5, 64))
    np.testing.assert_allclose(x @ d, scipy.fft.dct(x, type=2, norm="ortho", axis=1)[:, :20], atol=1e-12)
    # the 0th coefficient is the scaled mean of the bands
    np.testing.assert_allclose(d[:, 0], 1 / np.sqrt(64), atol=1e-12)


def test_frame_counts_and_framing():
    assert n_frames_for(0, CFG) == 0
    assert n_frames_for(CFG.n_fft - 1, CFG) == 0
    assert n_frames_for(CFG.n_fft, CFG) == 1
    assert n_frames_for(CFG.n_fft + CFG.hop_length - 1, CFG) == 1
    assert n_frames_for(CFG.n_fft + CFG.hop_length, CFG) == 2
    assert n_frames_for(48000, CFG) == 149
    y = np.arange(2000, dtype=np.float32)
    fr = frame_signal(y, 640, 320)
    assert fr.shape == (n_frames_for(2000, CFG), 640)
    assert fr[2, 0] == 640 and fr[2, -1] == 640 + 639
    assert frame_signal(y[:100], 640, 320).shape == (0, 640)
    assert FeatureExtractor(CFG).raw_frames(y[:100]).shape == (0, 64)


# --- parity with librosa ---------------------------------------------------------------
def test_logmel_matches_librosa(sig):
    ours = FeatureExtractor(CFG).raw_frames(sig)
    ref = 10 * np.log10(np.maximum(librosa_mel_power(sig), 1e-10)).T
    assert ours.shape == ref.shape == (n_frames_for(len(sig), CFG), CFG.n_mels)
    assert ours.dtype == np.float32
    above = ref > -80
    assert above.mean() > 0.8  # the comparison covers most of the spectrogram
    np.testing.assert_allclose(ours[above], ref[above], rtol=0, atol=0.01)
    # where librosa is at the 1e-10 floor we are at it (or within float32 noise of it) too
    assert np.all(ours[ref <= -99.99] < -90)


def test_mfcc_matches_librosa(sig):
    ext = FeatureExtractor(VCFG)
    x = ext.window_input(ext.raw_frames(sig))
    mel = librosa_mel_power(sig, VCFG)
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=VCFG.top_db), n_mfcc=VCFG.n_mfcc).T
    # our DCT of our floored dB, before the per-window mean removal of window_input
    mel_db = ext.raw_frames(sig)[:, : VCFG.n_mels]
    ours = np.maximum(mel_db, mel_db.max() - VCFG.top_db) @ ext.dct
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * scale)
    # window_input's MFCC block is that minus its mean over time
    np.testing.assert_allclose(x[:, : VCFG.n_mfcc], ref - ref.mean(axis=0), rtol=0, atol=1e-4 * scale)
    # and the DCT itself is exact against librosa on librosa's own dB
    db = librosa.power_to_db(mel, top_db=VCFG.top_db)
    np.testing.assert_allclose(db.T @ dct_matrix(VCFG.n_mels, VCFG.n_mfcc), ref, rtol=1e-5, atol=1e-3)


def test_zcr_matches_librosa(sig):
    c = VCFG
    raw = FeatureExtractor(c).raw_frames(sig)
    ref = librosa.feature.zero_crossing_rate(
        sig, frame_length=c.n_fft, hop_length=c.hop_length, center=False
    )[0]
    np.testing.assert_allclose(raw[:, c.n_mels], ref, atol=1e-6)
    # the exact-zero and sub-threshold stretches give frames with no crossings
    assert raw[4000 // c.hop_length + 1, c.n_mels] == 0.0
    # a pure tone crosses zero 2*f times a second
    frames = frame_signal(tone(1000, 0.5), c.n_fft, c.hop_length)
    np.testing.assert_allclose(zero_crossing_rate(frames), 2 * 1000 / SR, atol=2 / c.n_fft)


def test_rms_matches_librosa(sig):
    c = VCFG
    raw = FeatureExtractor(c).raw_frames(sig)
    ref = librosa.feature.rms(y=sig, frame_length=c.n_fft, hop_length=c.hop_length, center=False)[0]
    loud = ref > 1e-6
    np.testing.assert_allclose(raw[loud, c.n_mels + 1], ref[loud], rtol=1e-4)
    np.testing.assert_allclose(raw[~loud, c.n_mels + 1], ref[~loud], atol=1e-7)
    # frame_rms_dbfs is the same measure in dBFS: a 0.5-amplitude sine is -9.03 dBFS
    db = frame_rms_dbfs(tone(1000, 0.5, amp=0.5), c)
    np.testing.assert_allclose(db, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.01)


def test_chroma_matches_librosa(sig):
    c = VCFG
    ext = FeatureExtractor(c)
    raw = ext.raw_frames(sig)
    ours = raw[:, c.n_mels + 2 :]
    power = ext.power_spectrum(frame_signal(sig, c.n_fft, c.hop_length)).astype(np.float64)
    ref = librosa.feature.chroma_stft(S=power.T, sr=c.sample_rate, tuning=0.0, n_chroma=c.n_chroma).T
    # an independent power spectrum gives the same chroma
    stft = librosa.stft(
        sig.astype(np.float64), n_fft=c.n_fft, hop_length=c.hop_length, center=False, window="hann"
    )
    ref2 = librosa.feature.chroma_stft(S=np.abs(stft) ** 2, sr=c.sample_rate, tuning=0.0).T
    assert ours.shape == ref.shape == (len(raw), 12)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours, ref2, rtol=1e-4, atol=1e-5)
    # with chroma_filterbank and the power spectrum directly
    direct = power @ chroma_filterbank(c.sample_rate, c.n_fft, c.n_chroma).T
    direct /= np.maximum(direct.max(axis=1, keepdims=True), np.finfo(np.float32).tiny)
    np.testing.assert_allclose(ours, direct, rtol=1e-4, atol=1e-5)
    # A4 lights up pitch class A (index 9 with C at 0)
    a4 = ext.raw_frames(tone(440, 0.5))[:, c.n_mels + 2 :]
    assert np.all(a4.argmax(axis=1) == 9)


# --- streaming ---------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [CFG, VCFG], ids=["logmel", "frame_vector"])
@pytest.mark.parametrize("k", [1, 7, 25, 60])
def test_raw_frames_of_a_suffix_equal_the_slice(sig, cfg, k):
    ext = FeatureExtractor(cfg)
    whole = ext.raw_frames(sig)
    tail = ext.raw_frames(sig[k * cfg.hop_length :])
    assert tail.shape == whole[k:].shape
    np.testing.assert_allclose(tail, whole[k:], rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("cfg", [CFG, VCFG], ids=["logmel", "frame_vector"])
@pytest.mark.parametrize("chunk", [160, 320, 1000, 8000])
def test_incremental_frames_equal_whole_file(cfg, chunk):
    """Feeding a stream in chunks and computing only new frames reproduces the file's frames."""
    ext = FeatureExtractor(cfg)
    y = mixed_signal(seed=3, dur=2.0)
    buf = np.zeros(0, np.float32)
    consumed = 0  # absolute sample index of buf[0]
    next_frame = 0
    got = []
    for s in range(0, len(y), chunk):
        buf = np.concatenate([buf, y[s : s + chunk]])
        n = ext.n_frames(len(buf))
        if n:
            got.append(ext.raw_frames(buf[: (n - 1) * cfg.hop_length + cfg.n_fft]))
            next_frame += n
            drop = n * cfg.hop_length
            buf = buf[drop:]
            consumed += drop
    inc = np.concatenate(got)
    whole = ext.raw_frames(y)
    assert next_frame == len(whole)
    np.testing.assert_allclose(inc, whole, rtol=1e-6, atol=1e-4)


# --- per-window normalisation ---------------------------------------------------------
@pytest.fixture(scope="module")
def window3s() -> np.ndarray:
    y = speechlike(3.0, seed=5)
    y[:4000] *= 0.01  # a quiet start, as real windows have
    return y


def test_window_shapes(window3s):
    assert FeatureExtractor(CFG)(window3s).shape == (149, 64, 1)
    v = FeatureExtractor(VCFG)
    assert v(window3s).shape == (149, v.input_dim) == (149, 20 + 2 + 12)
    assert FeatureExtractor(CFG).raw_dim == 64 and v.raw_dim == 64 + 2 + 12
    w = WindowConfig()
    assert w.window_samples(SR) == 48000 and w.hop_samples(SR) == 8000
    assert w.hop_samples(SR) % CFG.hop_length == 0


@pytest.mark.parametrize("factor", [0.1, 0.3, 3.0])
def test_window_input_is_level_invariant(window3s, factor):
    ext = FeatureExtractor(CFG)
    a = ext(window3s)
    b = ext((window3s * factor).astype(np.float32))
    assert np.max(np.abs(a - b)) < 1e-3
    raw_shift = ext.raw_frames(window3s * factor) - ext.raw_frames(window3s)
    assert abs(np.median(raw_shift) - 20 * np.log10(factor)) < 0.01  # the raw dB did move


def test_window_input_removes_static_eq(window3s):
    """A fixed microphone colouring (+8 dB peak at 1.5 kHz, treble tilt) barely changes the input."""
    ext = FeatureExtractor(CFG)
    y = window3s + noise(3.0, amp=0.003, seed=9)  # a noise floor, so no band is empty
    a0 = 10 ** (8 / 40)
    w0 = 2 * np.pi * 1500 / SR
    alpha = np.sin(w0) / 2
    b = [1 + alpha * a0, -2 * np.cos(w0), 1 - alpha * a0]
    a = [1 + alpha / a0, -2 * np.cos(w0), 1 - alpha / a0]
    eq = scipy.signal.lfilter([1.0, -0.5], [1.0], scipy.signal.lfilter(b, a, y)).astype(np.float32)
    raw_diff = np.abs(ext.raw_frames(eq) - ext.raw_frames(y))
    in_diff = np.abs(ext(eq) - ext(y))[..., 0] * CFG.scale_db  # back in dB
    assert raw_diff.mean() > 2.0  # the EQ is substantial
    assert in_diff.mean() < raw_diff.mean() / 5
    assert in_diff.mean() < 0.5


def test_normalised_logmel_floor_and_centring(window3s):
    c = CFG
    ext = FeatureExtractor(c)
    raw = ext.raw_frames(window3s)
    x = ext.normalised_logmel(raw)
    # range bounded by the floor: at most top_db / scale_db between min and max
    assert x.max() - x.min() <= c.top_db / c.scale_db + 1e-5
    frame_db = np.maximum(raw, raw.max() - c.top_db).max(axis=1)
    active = frame_db >= frame_db.max() - c.active_db
    np.testing.assert_allclose(x[active].mean(axis=0), 0.0, atol=1e-5)


def test_silence_and_empty_windows():
    ext = FeatureExtractor(CFG)
    x = ext(np.zeros(48000, np.float32))
    assert x.shape == (149, 64, 1)
    assert np.all(np.isfinite(x)) and np.all(x == 0)
    v = FeatureExtractor(VCFG)
    assert np.all(np.isfinite(v(np.zeros(48000, np.float32))))
    with pytest.raises(ValueError, match="no frames"):
        ext.window_input(np.zeros((0, 64), np.float32))


def test_frame_vector_normalisation_uses_mean_std(window3s):
    plain = FeatureExtractor(VCFG)(window3s)
    mean = np.linspace(-1, 1, plain.shape[1]).astype(np.float32)
    std = np.linspace(0.5, 2, plain.shape[1]).astype(np.float32)
    normed = FeatureExtractor(VCFG, mean, std)(window3s)
    np.testing.assert_allclose(normed, (plain - mean) / std, rtol=1e-5, atol=1e-5)


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="kind"):
        FeatureExtractor(FeatureConfig(kind="mfcc"))
    with pytest.raises(ValueError, match="Nyquist"):
        FeatureExtractor(FeatureConfig(sample_rate=8000, fmax=8000.0))
    with pytest.raises(ValueError, match="unknown feature config keys"):
        FeatureConfig.from_dict({**CFG.to_dict(), "n_bins": 3})
    assert FeatureConfig.from_dict(VCFG.to_dict()) == VCFG


def test_features_of_espeak_speech(espeak):
    """Real (synthetic) speech: finite features, silence gate separates speech from pauses."""
    from serlive.audio.io import load_audio

    y = load_audio(espeak("Kids are talking by the door", name="kids.wav"))
    ext = FeatureExtractor(CFG)
    raw = ext.raw_frames(y)
    assert np.all(np.isfinite(raw))
    db = frame_rms_dbfs(y, CFG)
    assert db.max() > -30  # speech is there
    lm = librosa_mel_power(y)
    ref = 10 * np.log10(np.maximum(lm, 1e-10)).T
    above = ref > -80
    np.testing.assert_allclose(raw[above], ref[above], atol=0.01)
