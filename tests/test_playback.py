"""File-viewer playback through a real output device: PulseAudio's null sink, recorded from its monitor.

The viewer runs offscreen in a subprocess (PortAudio scans devices once per
process, so its environment must point at the test daemon before it starts);
``parecord`` records the sink's monitor meanwhile, and the test checks that
what came out of the sink is the file, that the cursor moved through it, and
that playback stopped by itself at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from tests.conftest import REPO, SR, noise
from tests.test_live_capture import SINK, virtual_mic  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

PLAYER = r"""
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings
from serlive.gui.app import application
from serlive.gui.main_window import MainWindow
from serlive.gui import messages
from serlive.model import EmotionModel

errors = []
messages.show_error = lambda parent, title, text: errors.append(f"{title}: {text}")
app = application()
win = MainWindow(EmotionModel(num_threads=1), settings=QSettings(sys.argv[2], QSettings.Format.IniFormat))
win.show()
win.open_file(sys.argv[1])
deadline = time.monotonic() + 60
while win.file.loaded is None and time.monotonic() < deadline and not errors:
    app.processEvents(); time.sleep(0.005)
view = win.file
view.seek(float(sys.argv[3]))
started = view.start_playback()
print("PLAYING", flush=True)
cursor = []
t0 = time.monotonic()
while view._player is not None and time.monotonic() - t0 < 30:
    app.processEvents(); time.sleep(0.01)
    cursor.append((time.monotonic() - t0, view.cursors[0].value()))
print(json.dumps({"started": started, "errors": errors, "cursor": cursor,
                  "button": view.play_button.text(), "elapsed": time.monotonic() - t0}))
win.close()
"""


def test_playback_reaches_the_output_device(virtual_mic, tmp_path):  # noqa: F811
    if shutil.which("parecord") is None:
        pytest.skip("parecord not installed (pulseaudio-utils)")
    # noise with a random envelope: no two stretches alike, so the alignment is unambiguous;
    # played from 1.0 s to the end (3.0 s of audio)
    rng = np.random.default_rng(5)
    env = np.repeat(rng.uniform(0.1, 1.0, 40), SR // 10).astype(np.float32)
    y = 0.5 * env * noise(4.0, colour="white", amp=1.0, seed=5)
    y = (0.7 * y / np.max(np.abs(y))).astype(np.float32)
    path = tmp_path / "clip.wav"
    sf.write(path, y, SR, subtype="PCM_16")
    ref, _ = sf.read(path, dtype="float32")
    rec_path = tmp_path / "monitor.wav"
    rec = subprocess.Popen(
        ["parecord", f"--device={SINK}.monitor", "--rate=16000", "--channels=1", "--format=s16le",
         "--file-format=wav", str(rec_path)],
        env=virtual_mic,
    )  # fmt: skip
    try:
        res = subprocess.run(
            [sys.executable, "-c", PLAYER, str(path), str(tmp_path / "s.ini"), "1.0"],
            env=virtual_mic,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        rec.terminate()
        rec.wait(10)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.splitlines()[-1])
    assert out["started"] and not out["errors"], out["errors"]
    # playback stopped on its own at the end of the file, and the button says so
    assert out["button"] == "Play"
    assert 2.5 < out["elapsed"] < 8.0
    cursor = np.array(out["cursor"])
    assert cursor[0, 1] >= 1.0 - 0.3  # starts at the seek position (minus the output latency)
    assert cursor[-1, 1] > 3.5  # and reaches the end of the 4.0 s file
    assert np.all(np.diff(cursor[:, 1]) >= -1e-9), "the cursor went backwards"

    got, sr = sf.read(rec_path, dtype="float32")
    assert sr == SR

    def best_match(part: np.ndarray) -> tuple[int, float]:
        """Where ``part`` sits in the recording, and the correlation coefficient there."""
        corr = scipy.signal.correlate(got, part, mode="valid", method="fft")
        lag = int(np.argmax(corr))
        return lag, float(np.corrcoef(got[lag : lag + len(part)], part)[0, 1])

    # the monitor may join a few tens of ms late: look for the played part without its first 0.5 s
    played = ref[SR + SR // 2 :]
    _, r = best_match(played)
    assert r > 0.99, f"what reached the sink is not the file (r = {r:.3f})"
    # the file's first second (before the seek position) never reached the sink
    for k in range(4):
        _, r_head = best_match(ref[k * SR // 4 : (k + 1) * SR // 4 - SR // 20])
        assert r_head < 0.5, f"audio from before the cursor was played (r = {r_head:.2f})"
