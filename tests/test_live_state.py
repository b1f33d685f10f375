"""The Live tab's state without widgets (``serlive.gui.live_state``): what it draws and says."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from serlive.adaptation import AdaptationConfig
from serlive.config import LABELS
from serlive.gui.live_state import LiveState, clock, no_speech_text, strip_columns
from serlive.live.engine import EngineStats, Result


def _result(i: int, silent: bool = False, quiet: bool = False, heard: float = 0.0) -> Result:
    p = np.full(len(LABELS), 0.02, np.float32)
    p[i % len(LABELS)] = 1 - 0.02 * (len(LABELS) - 1)
    return Result(i, i * 8000, i * 8000 + 48000, 16000, p, silent, None, 0.01 * (i + 1), LABELS,
                  adapted=heard >= 20, speech_heard_s=heard, quiet=quiet)  # fmt: skip


def _engine(**kw) -> SimpleNamespace:
    base = dict(
        adaptation=AdaptationConfig(min_speech_s=20.0), adapt=True, samples_received=1, record_path=None,
        recorded_samples=0, sample_rate=16000, recording=False, stats=lambda: EngineStats(windows=3),
    )  # fmt: skip
    return SimpleNamespace(**{**base, **kw})


def test_curves_gap_no_speech_and_keep_the_last_minute():
    state = LiveState(len(LABELS))
    state.add([_result(i, silent=(i == 1)) for i in range(3)])
    t, probs, silent = state.curves()
    assert state.results_seen == 3 and list(silent) == [False, True, False]
    assert np.allclose(t, [-1.0, -0.5, 0.0]) and np.isnan(probs[1]).all() and np.isfinite(probs[[0, 2]]).all()
    state.add([_result(i) for i in range(3, 200)])  # 100 s later: only the last minute (and a second) stays
    t, _, _ = state.curves()
    assert t[0] >= -61.0 and state.last_latency == 2.0
    state.reset()
    assert state.results_seen == 0 and state.curves()[0].size == 0 and state.last_latency is None


def test_status_line_says_the_take_the_wait_and_the_adaptation():
    state = LiveState(len(LABELS))
    state.add([_result(0, heard=12.4)])
    line = state.status_line(_engine(samples_received=0), "Fake mic @ 16000 Hz")
    assert line.startswith("waiting for the first audio from the device…  |  Fake mic @ 16000 Hz")
    assert "adapting to the voice: 12 of 20 s of speech" in line and "decision latency 10.0 ms" in line
    take = Path("/tmp/take-2.wav")
    rec = _engine(record_path=take, recorded_samples=51200, recording=True)
    assert state.status_line(rec, "mic").startswith("● REC take-2.wav 0:03.2  |  mic")
    rec.recording = False  # the take ended while listening
    assert state.status_line(rec, "mic").startswith(f"saved 0:03.2 to {take}  |  ")
    assert clock(3725) == "1:02:05"
    assert no_speech_text(_result(0, silent=True, quiet=True)).startswith("too quiet")
    assert no_speech_text(_result(0, silent=True)).startswith("no voice heard")


def test_the_no_speech_reason_describes_the_newest_hop():
    """Right after speech stops in digital silence the 3 s window still holds the loud tail, and the line
    said "no voice heard (tone, music or noise?)" for 3 s (issue 28, item 7): a silent newest hop is a
    pause; a loud one (a tone going on) still reads "no voice heard"; a quiet window stays too quiet."""
    from serlive.gui.live_state import PAUSE_TEXT, loudest_dbfs

    sr = 16000
    speech_then_silence = np.concatenate([0.3 * np.sin(np.arange(sr) * 0.2), np.zeros(sr // 2)])
    assert loudest_dbfs(np.zeros(8000, np.float32)) == float("-inf")
    assert loudest_dbfs(np.full(640, 0.1, np.float32)) == pytest.approx(-20.0, abs=0.01)
    assert loudest_dbfs(np.zeros(100, np.float32)) == float("-inf")  # shorter than a frame
    newest = loudest_dbfs(speech_then_silence[-sr // 2 :].astype(np.float32))
    loud_window = _result(0, silent=True)  # loud: the speech's tail is in it, no voice found
    assert no_speech_text(loud_window, newest, -50.0) == PAUSE_TEXT
    tone_now = loudest_dbfs(speech_then_silence[: sr // 2].astype(np.float32))
    assert no_speech_text(loud_window, tone_now, -50.0).startswith("no voice heard")
    assert no_speech_text(_result(0, silent=True, quiet=True), newest, -50.0).startswith("too quiet")
    assert no_speech_text(loud_window, -49.0, -50.0).startswith("no voice heard")  # above the gate


def test_the_views_state_data_and_export_import_no_qt():
    """The modules split from the views (issue 20, the house) can be used without Qt."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys, serlive.gui.live_state, serlive.gui.file_model, serlive.gui.export, serlive.gui.arrays\n"
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO, env=env)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_label_set_maps_the_kept_history_and_the_newest_result_and_switches_back():
    """``basic``: four columns, (neutral + calm, happy, sad, angry) renormalised; no speech stays a gap."""
    from serlive.labelsets import parse_labels

    rng = np.random.default_rng(3)
    state = LiveState(len(LABELS))
    results = [_result(i, silent=(i == 2)) for i in range(6)]
    for r in results:
        r.probabilities[:] = rng.dirichlet(np.ones(len(LABELS)))
    state.add(results)
    t8, p8, s8 = state.curves()
    basic = parse_labels("basic", LABELS)
    state.set_labelset(basic)
    t4, p4, s4 = state.curves()
    assert p4.shape == (6, 4) and np.array_equal(t4, t8) and np.array_equal(s4, s8)
    col = {lb: p8[:, LABELS.index(lb)] for lb in LABELS}
    q = np.stack([col["neutral"] + col["calm"], col["happy"], col["sad"], col["angry"]], 1)
    np.testing.assert_allclose(p4[~s4], (q / q.sum(1, keepdims=True))[~s4], atol=1e-6)
    assert np.isnan(p4[s4]).all()
    newest = state.shown(state.last)
    assert newest.labels == basic.names and newest.label == basic.names[int(np.argmax(p4[-1]))]
    assert newest.confidence == pytest.approx(float(p4[-1].max()), abs=1e-6)
    state.set_labelset(parse_labels("all", LABELS))  # all: the model's eight, as before
    assert state.labelset is None and state.shown(state.last) is state.last
    np.testing.assert_array_equal(state.curves()[1], p8)


def test_status_line_says_a_widened_hop_and_nothing_at_the_base_hop():
    """Issue 19, item 3: the engine analysing every 1 s while busy is said next to the device; at the
    asked-for hop (or without an adaptive engine: no hop in its stats) the line is as before."""
    state = LiveState(len(LABELS))
    state.add([_result(0)])
    busy = EngineStats(windows=3, base_hop_s=0.5, hop_s=1.0)
    line = state.status_line(_engine(stats=lambda: busy), "Fake mic @ 16000 Hz")
    assert line.startswith("Fake mic @ 16000 Hz  |  analysing every 1 s (busy)  |  decision latency")
    calm = EngineStats(windows=3, base_hop_s=0.5, hop_s=0.5)
    for st in (calm, EngineStats(windows=3)):
        line = state.status_line(_engine(stats=lambda st=st: st), "Fake mic @ 16000 Hz")
        assert "analysing" not in line and line.startswith("Fake mic @ 16000 Hz  |  decision latency")
    # a stream that ended while busy: the last line says what happened, not what is going on
    assert "analysing" not in state.status_line(_engine(stats=lambda: busy), "mic", final=True)


def test_strip_columns_fill_the_base_hops_a_widened_window_stands_for():
    """One column per base hop ending at the newest window: a window 1 s after the last (adaptive hop,
    late windows) is repeated, so the strip stays under the curves; at the base hop, one per window."""
    state = LiveState(len(LABELS))
    state.add([_result(i, silent=(i == 1)) for i in range(3)])  # ends 3.0, 3.5, 4.0: the base hop
    t, probs, silent = state.curves()
    x0, cols, dark = strip_columns(t, probs, silent, 0.5)
    assert x0 == pytest.approx(-1.5) and np.array_equal(dark, silent)
    np.testing.assert_array_equal(cols, probs)
    state.add([_result(i) for i in (4, 6, 7)])  # ends 5.0, 6.0, 6.5: two windows at the 1 s hop
    t, probs, silent = state.curves()
    x0, cols, dark = strip_columns(t, probs, silent, 0.5)
    assert len(cols) == len(dark) == 8 and x0 == pytest.approx(-4.0)  # 8 columns of 0.5 s end at 0
    np.testing.assert_array_equal(cols, probs[[0, 1, 2, 3, 3, 4, 4, 5]])
    assert list(dark) == [False, True] + [False] * 6
    x0, cols, dark = strip_columns(np.zeros(0), np.zeros((0, len(LABELS))), np.zeros(0, bool), 0.5)
    assert len(cols) == len(dark) == 0
