"""The file viewer plays the file itself, at its rate and channels, read in blocks (issue 28, item 14).

A fake output stream (tests/fake_sounddevice.py) keeps every frame the callback gave it, so the
test sees the rate and channels the stream was opened with and the samples that went out.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from serlive.audio.player import AHEAD_BLOCKS, Feeder
from tests.conftest import spoken
from tests.fake_sounddevice import CallbackStop, FakeSoundDevice, device

RATE = 48000


def stereo_file(path, seconds: float = 3.0) -> np.ndarray:
    """A 48 kHz stereo file whose channels differ (speech left, a tone right); its samples."""
    n = round(seconds * RATE)
    import soxr

    left = soxr.resample(spoken(seconds), 16000, RATE)[:n]
    right = 0.2 * np.sin(2 * np.pi * 330 * np.arange(n) / RATE)
    y = np.stack([left, right], axis=1).astype(np.float32)
    sf.write(str(path), y, RATE, subtype="FLOAT")
    return y


def drain(feeder: Feeder, frames: int = 1000) -> tuple[np.ndarray, int]:
    """Call the callback as a device would until it stops; what it gave, and the most blocks held."""
    got, most = [], 0
    for _ in range(100_000):
        # a device's clock leaves the reader time: wait for the blocks this call needs (or the end)
        while len(feeder._blocks) < 2 and not any(b is None for b in feeder._blocks):
            time.sleep(0.001)
        out = np.full((frames, feeder.channels), np.nan, np.float32)
        most = max(most, len(feeder._blocks))
        try:
            feeder.callback(out, frames, None, None)
        except CallbackStop:
            got.append(out)
            break
        got.append(out)
    assert feeder.underruns == 0
    return np.concatenate(got), most


def test_feeder_gives_the_files_own_frames_from_the_start_in_blocks(tmp_path):
    y = stereo_file(tmp_path / "s.wav")
    feeder = Feeder.for_file(tmp_path / "s.wav", 0.5, max_channels=2, stop_exception=CallbackStop)
    assert (feeder.rate, feeder.channels) == (RATE, 2)
    feeder.start()
    try:
        out, most = drain(feeder)
    finally:
        feeder.close()
    want = y[RATE // 2 :]
    np.testing.assert_array_equal(out[: len(want)], want)
    assert not out[len(want) :].any()  # the end is padded with silence, nothing else
    assert feeder.position_s == pytest.approx(3.0)
    assert most <= AHEAD_BLOCKS + 1  # read ahead a second at most, never the whole file


def test_feeder_mixes_down_for_a_mono_device_and_silences_bad_samples(tmp_path):
    y = stereo_file(tmp_path / "s.wav", 1.0)
    y[100] = [np.nan, 5.0]
    sf.write(str(tmp_path / "s.wav"), y, RATE, subtype="FLOAT")
    feeder = Feeder.for_file(tmp_path / "s.wav", 0.0, max_channels=1, stop_exception=CallbackStop)
    assert feeder.channels == 1
    feeder.start()
    try:
        out, _ = drain(feeder)
    finally:
        feeder.close()
    want = np.clip(np.nan_to_num(y, nan=0.0), -1, 1).mean(axis=1)
    np.testing.assert_allclose(out[: len(want), 0], want, atol=1e-7)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


def viewer_on_fake_output(qtbot, monkeypatch, speed: float = 3.0) -> tuple:
    """A FileView on the shipped model, with a fake sounddevice whose default output is stereo.

    (view, fake sounddevice, message boxes recorded); also used by tests/test_file_selection.py.
    """
    from serlive.audio import sources
    from serlive.gui import messages
    from serlive.gui.file_view import FileView
    from serlive.model import EmotionModel

    errors: list[tuple[str, str]] = []
    monkeypatch.setattr(messages, "show_error", lambda _p, title, text: errors.append((title, text)))
    sd = FakeSoundDevice([device("speakers", inputs=0, outputs=2, rate=RATE)], default=0)
    sd.speed = speed
    monkeypatch.setattr(sources, "load_backend", lambda: sd)
    view = FileView(EmotionModel(num_threads=1))
    qtbot.addWidget(view)
    return view, sd, errors


@pytest.fixture
def viewer(qtbot, monkeypatch):
    pytest.importorskip("PySide6")
    view, sd, errors = viewer_on_fake_output(qtbot, monkeypatch)
    view.show()
    yield view, sd, errors
    view.shutdown()


def _open(qtbot, view, path) -> None:
    view.open_file(path)
    qtbot.waitUntil(lambda: view.loaded is not None and not view.busy, timeout=60_000)


def test_viewer_plays_a_48k_stereo_file_at_48k_in_stereo_and_the_cursor_follows(qtbot, viewer, tmp_path):
    view, sd, errors = viewer
    y = stereo_file(tmp_path / "s.wav")
    _open(qtbot, view, tmp_path / "s.wav")
    assert view.loaded.sample_rate == 16000  # the analysis copy; not what plays
    view.seek(1.0)
    assert view.start_playback() and view.playback_note == ""
    stream = sd.outputs[-1]
    assert (stream.samplerate, stream.channels) == (RATE, 2)
    cursor = []
    while view._player is not None:
        qtbot.wait(30)
        # where the fake device has got to in the file, in seconds, and the cursor meanwhile
        cursor.append((1.0 + len(stream.blocks) * stream.blocksize / RATE, view.cursors[0].value()))
    assert not errors
    out = stream.played
    want = y[RATE:]
    np.testing.assert_array_equal(out[: len(want)], want)  # the file's own samples, both channels
    values = [c for _, c in cursor]
    assert values == sorted(values) and 1.0 <= values[0] < 2.5
    # in step with the device, in file seconds (a 48 kHz frame count read at 16 kHz would run 3x fast)
    assert all(c <= dev + 0.25 for dev, c in cursor), cursor
    assert view.cursors[0].value() == pytest.approx(3.0, abs=0.05)
    assert view.play_button.text() == "Play"


def test_a_file_gone_since_it_was_opened_plays_the_analysis_copy_and_says_so(qtbot, viewer, tmp_path):
    view, sd, errors = viewer
    stereo_file(tmp_path / "s.wav", 2.0)
    _open(qtbot, view, tmp_path / "s.wav")
    said = []
    view.status_changed.connect(said.append)
    (tmp_path / "s.wav").unlink()
    assert view.start_playback()
    stream = sd.outputs[-1]
    assert (stream.samplerate, stream.channels) == (16000, 1)
    assert "analysis copy" in view.playback_note and "file not found" in said[-1]
    qtbot.waitUntil(lambda: view._player is None, timeout=10_000)
    np.testing.assert_array_equal(stream.played[: len(view.loaded.samples), 0], view.loaded.samples)
    assert not errors
