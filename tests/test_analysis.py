"""File analysis: windows, shared frames, silence gating and the aggregate.

Uses a stub model (no TFLite) that records what it is fed, so these tests check
the analysis path itself: every window's input must equal the features of that
window computed on its own, as the live engine computes them.
"""

from __future__ import annotations

import numpy as np
import pytest

from serlive.config import LABELS, FeatureConfig, WindowConfig
from serlive.files.analysis import analyse_file, analyse_signal, is_silent
from serlive.model import ModelMetadata
from serlive.windows import take_window, window_starts
from tests.conftest import SR, speechlike, spoken


class StubModel:
    """Enough of EmotionModel for analyse_signal; probabilities depend on the input."""

    def __init__(self, kind: str = "logmel") -> None:
        fcfg = FeatureConfig(kind=kind)
        norm = {} if kind == "logmel" else {"mean": [0.0] * 34, "std": [1.0] * 34}
        self.meta = ModelMetadata(LABELS, fcfg, WindowConfig(), norm)
        self.extractor = self.meta.make_extractor()
        self.labels = LABELS
        self.inputs: list[np.ndarray] = []
        self.proj = np.random.default_rng(0).standard_normal((self.extractor.input_dim, len(LABELS)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.inputs.append(np.array(x))
        z = x.reshape(len(x), x.shape[1], -1).mean(axis=1) @ self.proj
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def test_window_starts():
    assert window_starts(0, 48000, 8000) == []
    assert window_starts(100, 48000, 8000) == [0]
    assert window_starts(48000, 48000, 8000) == [0]
    assert window_starts(55999, 48000, 8000) == [0]
    assert window_starts(56000, 48000, 8000) == [0, 8000]
    assert window_starts(96000, 48000, 8000) == list(range(0, 48001, 8000))
    with pytest.raises(ValueError):
        window_starts(10, 0, 8000)
    with pytest.raises(ValueError):
        window_starts(10, 48000, 0)


def test_take_window_pads_at_the_end():
    y = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(take_window(y, 2, 4), [2, 3, 4, 5])
    np.testing.assert_array_equal(take_window(y, 8, 4), [8, 9, 0, 0])
    assert take_window(y, 0, 16).dtype == np.float32


@pytest.mark.parametrize("kind", ["logmel", "frame_vector"])
def test_window_inputs_equal_per_window_features(kind):
    model = StubModel(kind)
    y = speechlike(6.3, seed=4)
    a = analyse_signal(y, model, batch=4)
    win, hop = 48000, 8000
    starts = window_starts(len(y), win, hop, to_end=160)
    assert [w.start_s for w in a.windows] == [s / SR for s in starts]
    fed = np.concatenate(model.inputs)
    assert len(model.inputs) == -(-len(starts) // 4)  # batches of 4
    own = np.stack([model.extractor(take_window(y, s, win)) for s in starts])
    np.testing.assert_allclose(fed, own, rtol=1e-5, atol=1e-4)


def test_the_end_of_a_file_is_analysed_and_counted_once():
    """Issue 20, item 4: a 4.0 s file had one window, 0-3 s, and the last 0.3-2 s of any file were in no
    window.  A last window now ends at the file's end (on the frame grid), and in the file's mean it
    weighs the share of a hop it adds, so the audio it shares with the window before is not counted twice."""
    from serlive.config import WindowConfig

    model = StubModel()
    files = WindowConfig(hop_s=2.0)  # the shipped model's file hop
    speech_at_end = np.concatenate([np.zeros(round(3.2 * SR), np.float32), spoken(0.8)])
    a = analyse_signal(speech_at_end, model, windows=files)
    assert [(w.start_s, w.end_s) for w in a.windows] == [(0.0, 3.0), (1.0, 4.0)]
    assert a.windows[0].silent and not a.windows[1].silent and a.speech  # the last word is heard
    y = speechlike(61.3, seed=5)
    b = analyse_signal(y, model, windows=files)
    assert b.windows[-1].end_s == pytest.approx(61.3, abs=0.01) and b.windows[-2].end_s == 61.0
    assert b.windows[-1].weight == pytest.approx(0.3 / 2.0, abs=0.01)
    assert all(w.weight == 1.0 for w in b.windows[:-1])
    voiced = [w for w in b.windows if not w.silent]
    want = np.average([w.probabilities for w in voiced], axis=0, weights=[w.weight for w in voiced])
    np.testing.assert_allclose(b.probabilities, want, atol=1e-6)
    c = analyse_signal(speechlike(7.0, seed=5), model, windows=files)  # hops that reach the end: no extra
    assert [w.end_s for w in c.windows] == [3.0, 5.0, 7.0]


def test_aggregate_ignores_silent_windows():
    model = StubModel()
    y = np.concatenate([np.zeros(4 * SR, np.float32), speechlike(4.0, seed=1)])
    a = analyse_signal(y, model)
    silent = [w.silent for w in a.windows]
    assert silent[0] and not silent[-1]
    assert a.speech
    voiced = [w.probabilities for w in a.windows if not w.silent]
    np.testing.assert_allclose(a.probabilities, np.mean(voiced, axis=0), atol=1e-6)
    assert a.label == LABELS[int(np.argmax(a.probabilities))]
    assert a.confidence == pytest.approx(float(a.probabilities.max()))
    assert a.duration_s == pytest.approx(8.0)


def test_all_silent_signal():
    model = StubModel()
    y = (np.random.default_rng(0).standard_normal(5 * SR) * 1e-4).astype(np.float32)  # -80 dBFS hiss
    a = analyse_signal(y, model)
    assert not a.speech
    assert all(w.silent for w in a.windows)
    assert a.probabilities.shape == (8,)
    np.testing.assert_allclose(a.probabilities.sum(), 1.0, atol=1e-5)


def test_empty_and_short_signals():
    model = StubModel()
    a = analyse_signal(np.zeros(0, np.float32), model)
    assert not a.speech and a.windows == []
    np.testing.assert_allclose(a.probabilities, 1 / 8)
    short = speechlike(1.0)
    b = analyse_signal(short, model)
    assert len(b.windows) == 1
    assert b.windows[0].start_s == 0 and b.windows[0].end_s == pytest.approx(1.0)
    np.testing.assert_allclose(model.inputs[-1][0], model.extractor(take_window(short, 0, 48000)), atol=1e-5)
    tiny = analyse_signal(speechlike(0.01), model)  # shorter than one FFT frame
    assert len(tiny.windows) == 1


def test_silence_gate():
    assert is_silent(np.array([-60.0, -55.0], np.float32), -50.0)
    assert not is_silent(np.array([-60.0, -49.0], np.float32), -50.0)
    assert is_silent(np.zeros(0, np.float32), -50.0)


def test_progress_and_cancel():
    model = StubModel()
    y = speechlike(10.0)
    seen: list[float] = []
    a = analyse_signal(y, model, batch=4, progress=lambda f: seen.append(f) or None)
    assert len(a.windows) == 15
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 4
    cancelled = analyse_signal(y, model, batch=4, progress=lambda f: True)
    assert len(cancelled.windows) == 4


def test_window_hop_must_be_whole_frames():
    with pytest.raises(ValueError, match="multiple of the frame hop"):
        analyse_signal(speechlike(4.0), StubModel(), windows=WindowConfig(hop_s=0.33))


def test_analyse_file_resamples(make_audio):
    model = StubModel()
    y48 = speechlike(4.0, sr=48000)
    a = analyse_file(make_audio("x48.flac", y48, sr=48000), model)
    assert a.duration_s == pytest.approx(4.0, abs=1e-3)
    assert len(a.windows) == 3


def test_segments_give_the_whole_file_result():
    """Segmented analysis (bounded memory) sees exactly the frames of a whole-file pass."""
    y = np.concatenate([speechlike(20.0, seed=3), np.zeros(3 * SR, np.float32), speechlike(9.3, seed=4)])
    whole = analyse_signal(y, StubModel(), segment_windows=10**6)
    seen: list[float] = []
    parts = analyse_signal(y, StubModel(), segment_windows=7, progress=lambda f: seen.append(f) or None)
    assert [w.start_s for w in parts.windows] == [w.start_s for w in whole.windows]
    assert [w.silent for w in parts.windows] == [w.silent for w in whole.windows]
    np.testing.assert_allclose(
        [w.probabilities for w in parts.windows], [w.probabilities for w in whole.windows], atol=1e-6
    )
    np.testing.assert_allclose(parts.probabilities, whole.probabilities, atol=1e-6)
    assert seen == sorted(seen) and seen[-1] == 1.0
    cancelled = analyse_signal(y, StubModel(), segment_windows=7, batch=4, progress=lambda f: True)
    assert len(cancelled.windows) == 4
