"""A screenshot of Teach it my voice during a real take (espeak-ng speech replayed as the microphone).

python scripts/screenshot_teach.py docs/screenshot-teach.png
"""

import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["SERLIVE_PROFILE_DIR"] = tempfile.mkdtemp()
import numpy as np

from serlive.audio.io import load_audio
from serlive.audio.sources import FileSource
from serlive.gui.app import application
from serlive.gui.teach_dialog import TeachDialog

wav = os.path.join(tempfile.mkdtemp(), "s.wav")
subprocess.run(["espeak-ng", "-p", "70", "-s", "170", "-w", wav, "Dogs are sitting by the door."], check=True)
y = load_audio(wav, 16000)
app = application()
d = TeachDialog(
    ("neutral", "happy", "sad", "angry"),
    None,
    lambda: FileSource(samples=np.pad(y, (0, 64000)), realtime=True),
)
d.resize(640, 360)
d.show()
app.processEvents()
d.name_edit.setText("my voice")
d.takes_spin.setValue(3)
d.begin()
d.index = 1
d._show_step()
d.countdown.setInterval(10)
d.record()
t0 = time.monotonic()
while time.monotonic() - t0 < 8:
    app.processEvents()
    time.sleep(0.01)
    if d.recorder is not None and d.recorder.received > 0.9 * 16000 and d.recorder.level_dbfs > -30:
        break
app.processEvents()
d.grab().save(sys.argv[1])
d.done(0)
