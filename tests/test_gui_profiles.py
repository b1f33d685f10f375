"""Profiles in the app (pytest-qt, offscreen): Teach it my voice, Listen ▸ Profile, "This was…", Undo.

The wizard is driven as a person would: the buttons are clicked and the takes come through the
same recorder a microphone feeds, here from espeak-ng voices replayed as a live source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QSettings, Qt

from serlive.audio.sources import FileSource, InputDevice
from serlive.cli import main
from serlive.model import EmotionModel
from serlive.profiles.store import load_profile, profile_path
from tests.conftest import ESPEAK
from tests.voices import HIGH, LOW, TRAIN, load16k, make_voices, voice_set


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if ESPEAK is None:
        pytest.skip("espeak-ng not installed")
    root = tmp_path_factory.mktemp("gui_voices")
    out = make_voices(root)
    out["takes"] = voice_set(root / "takes", {"sad": LOW, "happy": HIGH}, TRAIN)
    return out


def _window(qtbot, tmp_path, monkeypatch, profile=None):
    from serlive.gui import live_view
    from serlive.gui.main_window import MainWindow

    devices = [InputDevice(3, "Fake mic", 1, 16000.0, "ALSA", True)]
    monkeypatch.setattr(live_view, "list_input_devices", lambda: devices)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    model = EmotionModel(num_threads=1, profile=profile)
    win = MainWindow(model, None, settings=settings, profile=profile)
    win.live._list_devices = lambda: devices
    win.live.refresh_devices()
    qtbot.addWidget(win)
    win.show()
    return win


def test_teach_it_my_voice_records_fits_and_switches(
    qtbot, voices, profile_home, tmp_path, monkeypatch, errors
):
    win = _window(qtbot, tmp_path, monkeypatch)
    win.set_labels("happy,sad")  # the wizard asks for the emotions shown
    takes = {e: sorted((voices["takes"] / e).iterdir()) for e in ("happy", "sad")}
    made: list[str] = []

    def next_take() -> FileSource:
        # what the person says into the microphone: the current emotion's next take, replayed live
        emotion = dialog.emotion
        clip = takes[emotion][len(dialog.plan.takes[emotion]) % len(takes[emotion])]
        y = load16k(clip)  # then quiet until the take's 4 s are up
        return FileSource(samples=np.pad(y, (0, max(0, 4 * 16000 - len(y)))), realtime=True, speed=4.0)

    monkeypatch.setattr(win.live, "make_source", next_take)
    win.profiles.switch_requested.connect(made.append)
    dialog = win.profiles.teach()
    assert dialog.emotions == ("happy", "sad")
    dialog.countdown.setInterval(20)  # the person counts faster than the default 1 s a step
    dialog.name_edit.setText("my voice")
    dialog.takes_spin.setValue(3)
    qtbot.mouseClick(dialog.begin_button, Qt.MouseButton.LeftButton)
    for emotion in ("happy", "sad"):
        assert emotion in dialog.step_label.text()
        assert not dialog.next_button.isEnabled()  # not before the takes
        for n in range(3):
            qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda n=n, e=emotion: len(dialog.plan.takes[e]) == n + 1, timeout=15000)
            qtbot.waitUntil(dialog.record_button.isEnabled if n < 2 else dialog.next_button.isEnabled)
        if emotion == "happy":  # take again: the last take is replaced, not added
            qtbot.mouseClick(dialog.again_button, Qt.MouseButton.LeftButton)
            assert len(dialog.plan.takes["happy"]) == 2
            qtbot.waitUntil(lambda: len(dialog.plan.takes["happy"]) == 3, timeout=15000)
            qtbot.waitUntil(dialog.next_button.isEnabled)
        qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.use_button.isEnabled, timeout=60000)
    assert "plain" in dialog.result_label.text() and "overall" in dialog.result_label.text()
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert made == ["my voice"]
    profile = load_profile("my voice")
    assert profile.kind == "calibration" and profile.labels == ("happy", "sad")
    assert profile.clips == {"happy": 3, "sad": 3}
    assert sorted(p.name for p in (profile_path("my voice").with_suffix(".takes") / "happy").iterdir()) == [
        "take-1.wav",
        "take-2.wav",
        "take-3.wav",  # taken again: the first take 3 was deleted, the new one has its name
    ]
    assert win.settings.value("profile") == "my voice"
    assert not errors


def test_the_window_opens_again_on_a_profile_with_its_labels(
    qtbot, voices, profile_home, tmp_path, monkeypatch, errors
):
    from serlive.gui import app

    assert main(["calibrate", str(voices["own"]), "--name", "tone of voice"]) == 0
    win = _window(qtbot, tmp_path, monkeypatch)
    assert win.profiles.status_text() == "" and "none (the general model)" in win.about_text()
    win.profiles._fill()
    assert "tone of voice" in win.profiles.choice_actions
    new = app.reopen(win, None, "tone of voice")
    assert new is not None
    qtbot.addWidget(new)
    try:
        assert new.profiles.profile.name == "tone of voice"
        assert new.live.labels == ("high", "low") and tuple(new.model.labels) == ("high", "low")
        assert new.profile_label.text() == "profile: tone of voice"
        assert "tone of voice: own, high, low" in new.about_text()
        assert not new.live.adapt_action.isEnabled()  # the profile is the adaptation
        assert not win.isVisible()
    finally:
        new.close()


def test_this_was_with_silence_says_so_and_changes_nothing(
    qtbot, voices, profile_home, tmp_path, monkeypatch, errors
):
    assert main(["calibrate", str(voices["own"]), "--name", "mine"]) == 0
    win = _window(qtbot, tmp_path, monkeypatch, profile=load_profile("mine"))
    before = profile_path("mine").read_text()
    win.profiles.this_was("low", np.zeros(32000, np.float32), 0.0, 2.0)
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert errors[0][0] == "Cannot refit" and "no speech" in errors[0][1]
    assert profile_path("mine").read_text() == before
    assert win.profiles.can_label()  # not left busy
