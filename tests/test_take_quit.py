"""Record, then Quit at once: the take holds every sample from the key press to the quit (issue 28, item 1).

A user saw a take of 4.40 s where 5.39 s had passed between Ctrl+R and Ctrl+Q.  The cause: Quit stops
the engine with a 2 s deadline and the process exits; a worker still inside a model call at the
deadline (a loaded machine: a screenshot ran beside it) had not yet written the take's tail, and the
file's header declared only what its last flush had.  Here the model often takes 4 s (a loaded
machine), and the window is quit at random moments: the file on disk, read the moment the window has
closed (what the exiting process leaves), must hold the device's samples from the press to the quit,
with none missing at either end.  (Before the fix this lost 0.78 s at the end of its first take.)
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings, Qt

from serlive.audio.sources import InputDevice
from tests.conftest import SR

CLICK_PERIOD = SR // 4  # a click every 0.250 s, as in the report


def click_track(seconds: float, seed: int = 28) -> np.ndarray:
    """Clicks every 0.25 s over a faint noise floor (-60 dBFS), so every offset in it is unique."""
    y = np.random.default_rng(seed).normal(0.0, 1e-3, int(seconds * SR)).astype(np.float32)
    for k in range(0, len(y) - 8, CLICK_PERIOD):
        y[k : k + 8] = np.float32(0.8)
    return y


class SlowStub:
    """The test's stand-in model: StubModel's answers, often after 4 s (longer than Stop's 2 s)."""

    def __init__(self, rng: random.Random) -> None:
        from tests.test_analysis import StubModel

        self._stub = StubModel()
        self.meta, self.extractor, self.labels = self._stub.meta, self._stub.extractor, self._stub.labels
        self._rng = rng

    def predict(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self._rng.choice((0.0, 0.05, 4.0)))
        return self._stub.predict(x)


@pytest.mark.slow
def test_record_then_quit_keeps_every_sample_from_the_press_to_the_quit(qtbot, tmp_path: Path, monkeypatch):
    from serlive.audio import sources
    from serlive.gui import live_view, messages
    from serlive.gui.main_window import MainWindow
    from serlive.live.engine import Engine
    from serlive.model import EmotionModel
    from tests.fake_sounddevice import FakeSoundDevice, device

    model = EmotionModel(num_threads=1)  # the window's; the engine gets the slow stand-in below
    errors: list[tuple[str, str]] = []
    monkeypatch.setattr(messages, "show_error", lambda parent, title, text: errors.append((title, text)))
    signal = click_track(90.0)
    sd = FakeSoundDevice([device("Fake mic", 1, 0, SR)], default=0)
    sd.signal, sd.speed = signal, 1.0
    monkeypatch.setattr(sources, "load_backend", lambda: sd)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)

    def engine(_model_path, **kw):  # every window analysed (a click track is "no speech" to the VAD)
        return Engine(SlowStub(rng), **{**kw, "skip_silent": False})

    monkeypatch.setattr(live_view, "Engine", engine)
    devices = [InputDevice(0, "Fake mic", 1, float(SR), "ALSA", True)]
    monkeypatch.setattr(live_view, "list_input_devices", lambda: devices)
    for n in range(1, 7):
        settings = QSettings(str(tmp_path / f"settings-{n}.ini"), QSettings.Format.IniFormat)
        win = MainWindow(model, None, settings=settings)
        win.live._list_devices = lambda: devices
        win.live.refresh_devices()
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        live = win.live
        live.record_path = str(tmp_path / "take.wav")  # chosen before: Ctrl+R does not ask
        qtbot.mouseClick(live.start_button, Qt.MouseButton.LeftButton)
        assert live.engine is not None and live.engine.running, errors
        eng = live.engine
        qtbot.waitUntil(lambda eng=eng: eng.samples_received > 0, timeout=5_000)
        qtbot.wait(rng.randint(200, 3200))
        before = live.engine.samples_received
        qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # Record to a file
        after = live.engine.samples_received
        assert live.engine.recording, f"Ctrl+R started no take (seed {seed}): {errors}"
        path = live.engine.record_path
        qtbot.wait(rng.randint(100, 2500))
        quit_at = live.engine.samples_received
        qtbot.keyClick(win, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)  # File ▸ Quit
        assert not win.isVisible()
        got, sr = sf.read(path, dtype="float32")  # what the exiting process leaves on disk
        why = f"take {n} (seed {seed}): press at {before}-{after}, quit at {quit_at}, {len(got)} samples"
        assert sr == SR and len(got) > 0, why
        starts = [k for k in range(before, after + 1) if np.array_equal(got[:256], signal[k : k + 256])]
        assert starts, f"{why}: does not start at the press"
        lost = quit_at - (starts[0] + len(got))
        assert lost <= 0, f"{why}: {lost} samples lost at the end"
        np.testing.assert_array_equal(got, signal[starts[0] : starts[0] + len(got)], err_msg=why)
        assert not errors, errors
