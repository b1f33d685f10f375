"""Audio loading: formats, rates and channel counts to mono float32 16 kHz; clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from serlive.audio.io import AudioLoadError, audio_info, load_audio, resample, sanitize, to_mono
from tests.conftest import SR, dominant_frequency, tone

#: A missing file is reported as "file not found", not libsndfile's "System error.".

RATES = [8000, 11025, 16000, 22050, 44100, 48000]
FORMATS = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_formats_rates_channels(make_audio, fmt, rate, channels):
    dur, freq = 1.0, 1000.0
    y = tone(freq, dur, sr=rate, amp=0.5)
    # channels at different levels; their mean is a 0.5 * mean(gains) sine
    gains = np.linspace(1.0, 0.4, channels)
    data = np.stack([y * g for g in gains], axis=1) if channels > 1 else y
    path = make_audio(f"t_{rate}_{channels}.{fmt}", data, sr=rate, subtype=FORMATS[fmt])
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - dur * SR) <= 1
    assert dominant_frequency(out) == pytest.approx(freq, abs=2.0)
    # level: the mono mix of the channels (lossy codecs within 1 dB)
    mid = out[len(out) // 4 : 3 * len(out) // 4]
    rms = float(np.sqrt(np.mean(mid**2)))
    want = 0.5 * float(np.mean(gains)) / np.sqrt(2)
    tol = 0.12 if fmt == "ogg" else 0.01
    assert rms == pytest.approx(want, rel=tol)


def test_other_target_rate(make_audio):
    path = make_audio("t.wav", tone(300, 0.5, sr=44100), sr=44100)
    out = load_audio(path, sample_rate=8000)
    assert abs(len(out) - 4000) <= 1
    assert dominant_frequency(out, 8000) == pytest.approx(300, abs=4)


def test_channels_are_averaged_not_picked(make_audio):
    y = tone(500, 0.5)
    path = make_audio("antiphase.wav", np.stack([y, -y], axis=1), subtype="FLOAT")
    out = load_audio(path)
    assert np.max(np.abs(out)) < 1e-6
    path2 = make_audio("left_only.wav", np.stack([y, np.zeros_like(y)], axis=1), subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path2), y / 2, atol=1e-6)


def test_16k_mono_is_passed_through_exactly(make_audio):
    y = (tone(700, 0.3) + 0.01).astype(np.float32)
    out = load_audio(make_audio("same.wav", y, subtype="FLOAT"))
    np.testing.assert_array_equal(out, y)


def test_short_file_keeps_its_samples(make_audio):
    out = load_audio(make_audio("short.wav", tone(440, 0.01, sr=48000), sr=48000))
    assert abs(len(out) - 160) <= 1


def test_nan_and_inf_become_zero(make_audio):
    y = tone(440, 0.25)
    y[[10, 500, 1000]] = [np.nan, np.inf, -np.inf]
    out = load_audio(make_audio("nan.wav", y, subtype="FLOAT"))
    assert np.all(np.isfinite(out))
    assert out[10] == 0 and out[500] == 0 and out[1000] == 0
    np.testing.assert_array_equal(out[11:500], y[11:500])
    clean, n_bad = sanitize(np.array([1.0, np.nan, 2.0], np.float32))
    assert n_bad == 1 and clean.tolist() == [1.0, 0.0, 2.0]


def test_nan_in_a_resampled_file_does_not_spread(make_audio):
    y = tone(440, 0.25, sr=48000)
    y[100] = np.nan
    out = load_audio(make_audio("nan48.wav", y, sr=48000, subtype="FLOAT"))
    assert np.all(np.isfinite(out))


def test_helpers():
    stereo = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    np.testing.assert_array_equal(to_mono(stereo), [0.5, 0.5])
    assert to_mono(np.ones(3, np.float64)).dtype == np.float32
    assert resample(np.zeros(0, np.float32), 48000, 16000).shape == (0,)
    x = np.ones(10, np.float32)
    assert resample(x, 16000, 16000) is x or np.array_equal(resample(x, 16000, 16000), x)


# --- errors ---------------------------------------------------------------------------
def _assert_load_error(path, *fragments):
    with pytest.raises(AudioLoadError) as info:
        load_audio(path)
    msg = str(info.value)
    assert str(path) in msg
    assert info.value.path == str(path)
    for frag in fragments:
        assert frag in info.value.reason
    return info.value


def test_missing_file_is_an_audio_load_error(tmp_path):
    _assert_load_error(tmp_path / "nope.wav")


def test_missing_file_says_not_found(tmp_path):
    _assert_load_error(tmp_path / "nope.wav", "not found")


def test_directory(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    _assert_load_error(tmp_path / "folder.wav", "folder")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _assert_load_error(p, "file is empty")


def test_random_bytes_with_wav_extension(tmp_path):
    p = tmp_path / "garbage.wav"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_load_error(p, "not a readable audio file")


def test_text_file_with_flac_extension(tmp_path):
    p = tmp_path / "notes.flac"
    p.write_text("this is not audio\n" * 50)
    _assert_load_error(p, "not a readable audio file")


def test_truncated_header(make_audio, tmp_path):
    good = make_audio("good.wav", tone(440, 0.5))
    p = tmp_path / "trunc.wav"
    p.write_bytes(good.read_bytes()[:20])
    _assert_load_error(p)


def test_zero_length_wav(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(str(p), np.zeros(0, np.float32), SR)
    assert p.stat().st_size > 0  # a valid header with no frames
    _assert_load_error(p, "no audio samples")


def test_error_reason_does_not_repeat_the_path(tmp_path):
    p = tmp_path / "garbage.wav"
    p.write_bytes(b"RIFF" + bytes(100))
    err = _assert_load_error(p)
    assert str(p) not in err.reason


def test_audio_info(make_audio, tmp_path):
    info = audio_info(make_audio("info.flac", np.zeros((4800, 2), np.float32), sr=48000))
    assert info.samplerate == 48000 and info.channels == 2 and info.frames == 4800
    with pytest.raises(AudioLoadError, match="folder"):
        audio_info(tmp_path)
    with pytest.raises(AudioLoadError, match=r"missing\.wav"):
        audio_info(tmp_path / "missing.wav")


def test_audio_info_missing_says_not_found(tmp_path):
    with pytest.raises(AudioLoadError, match="not found"):
        audio_info(tmp_path / "missing.wav")
