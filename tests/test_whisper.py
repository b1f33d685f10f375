"""Whisper's front end and encoder: features against librosa, the CTranslate2 reader, the Keras rebuild."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from serlive.config import WHISPER_FEATURES
from serlive.features import FeatureExtractor

SR = 16000


def _speechlike(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 * (1 + 0.15 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.1 * t)) ** 2
    return (0.2 * y + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_whisper_logmel_matches_librosa_reference():
    """Whisper's log_mel_spectrogram (power STFT, Slaney mel, log10, floor, scale), uncentred."""
    librosa = pytest.importorskip("librosa")
    y = _speechlike()
    ours = FeatureExtractor(WHISPER_FEATURES)(y)
    power = np.abs(librosa.stft(y, n_fft=400, hop_length=160, window="hann", center=False)) ** 2
    mel = librosa.filters.mel(sr=SR, n_fft=400, n_mels=80) @ power
    ref = np.log10(np.maximum(mel, 1e-10))
    ref = (np.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
    assert ours.shape == ref.T.shape == (298, 80)
    np.testing.assert_allclose(ours, ref.T, atol=2e-5)
    # the floor is 8 decades under the peak, so silence sits at (peak - 8 + 4) / 4
    quiet = FeatureExtractor(WHISPER_FEATURES)(np.concatenate([y[:16000], np.zeros(32000, np.float32)]))
    assert quiet.min() == pytest.approx(quiet.max() - 2.0, abs=1e-5)


def test_whisper_logmel_is_what_a_stream_computes():
    """Frame by frame (the live engine) and whole-window features agree: frames are not centred."""
    ext = FeatureExtractor(WHISPER_FEATURES)
    y = _speechlike(4.0)
    whole = ext.raw_frames(y)
    parts = np.concatenate([ext.raw_frames(y[i * 160 : i * 160 + 8000 + 240]) for i in range(0, 350, 50)])
    np.testing.assert_allclose(parts[: len(whole)], whole[: len(parts)], atol=1e-6)


def _write_ct2(path, variables: dict[str, np.ndarray]) -> None:
    """A CTranslate2 model.bin (binary version 6) as CTranslate2's own writer lays it out."""

    def string(s: str) -> bytes:
        b = s.encode() + b"\0"
        return struct.pack("<H", len(b)) + b

    codes = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.float16): 4}
    out = (
        struct.pack("<I", 6)
        + string("WhisperSpec")
        + struct.pack("<I", 3)
        + struct.pack("<I", len(variables))
    )
    for name, arr in variables.items():
        out += string(name) + struct.pack("<B", arr.ndim) + struct.pack("<" + "I" * arr.ndim, *arr.shape)
        out += struct.pack("<B", codes[arr.dtype]) + struct.pack("<I", arr.nbytes) + arr.tobytes()
    out += struct.pack("<I", 0)  # no aliases
    path.write_bytes(out)


def test_read_ct2_reads_names_shapes_and_types(tmp_path):
    from serlive.train.whisper import read_ct2

    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3, 2)).astype(np.float16)
    b = rng.standard_normal(5).astype(np.float32)
    c = np.arange(6, dtype=np.int8).reshape(2, 3)
    _write_ct2(tmp_path / "model.bin", {"encoder/conv1/weight": a, "decoder/x": b, "encoder/scale": c})
    got = read_ct2(tmp_path / "model.bin")
    assert set(got) == {"conv1/weight", "scale"}
    np.testing.assert_array_equal(got["conv1/weight"], a.astype(np.float32))
    np.testing.assert_array_equal(got["scale"], c.astype(np.float32))
    assert read_ct2(tmp_path / "model.bin", prefix="decoder/")["x"].dtype == np.float32


@pytest.mark.slow
def test_keras_encoder_matches_ctranslate2():
    """The rebuilt encoder (all six blocks + final norm) gives CTranslate2's output on a 3 s window."""
    ct2 = pytest.importorskip("ctranslate2")
    pytest.importorskip("tensorflow")
    from serlive.train.whisper import WhisperUnavailable, build_encoder, read_ct2, whisper_dir

    try:
        folder = whisper_dir()
    except WhisperUnavailable as exc:
        pytest.skip(str(exc))
    weights = read_ct2(folder / "model.bin")
    mel = FeatureExtractor(WHISPER_FEATURES)(_speechlike())
    ours = build_encoder(weights, 6, mel.shape[0], final_norm=True)(mel[None])[-1].numpy()
    model = ct2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    theirs = np.array(model.encode(ct2.StorageView.from_array(np.ascontiguousarray(mel.T[None]))))
    assert ours.shape == theirs.shape == (1, 149, 512)
    assert np.abs(ours - theirs).max() < 2e-3 * np.abs(theirs).max()
    # and a real check: a different input gives a different output
    other = FeatureExtractor(WHISPER_FEATURES)(_speechlike(seed=5)[::-1].copy())
    assert (
        np.abs(build_encoder(weights, 6, 298, final_norm=True)(other[None])[-1].numpy() - theirs).max() > 0.1
    )


def test_embedding_windows_are_the_windows_the_app_cuts():
    """``embed.clip_windows`` slices one computation of the clip's frames: each window must still equal
    the features of that window alone, and its silence flag the level gate's on that window."""
    from serlive.features import FeatureExtractor, frame_rms_dbfs
    from serlive.train.embed import EmbedConfig, clip_windows
    from serlive.vad import is_silent
    from serlive.windows import take_window, window_starts
    from tests.conftest import spoken

    cfg = EmbedConfig()
    ext = FeatureExtractor(cfg.features)
    win, hop = cfg.windows.window_samples(16000), cfg.windows.hop_samples(16000)
    gap = np.zeros(2 * 16000, np.float32)
    for y in (spoken(7.3), spoken(1.2), np.concatenate([spoken(2.0), gap, gap, spoken(3.0)])):
        xs, silent = clip_windows(y, ext, cfg)
        starts = window_starts(len(y), win, hop)
        assert len(xs) == len(silent) == len(starts)
        for x, sil, s in zip(xs, silent, starts, strict=True):
            w = take_window(y, s, win)
            np.testing.assert_array_equal(x, ext(w))
            assert sil == is_silent(frame_rms_dbfs(w, cfg.features), cfg.windows.silence_dbfs)
        if len(y) > 8 * 16000:
            assert any(silent) and not all(silent)
