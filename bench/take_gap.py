"""Issue 20, item 1: the gap between pressing Record (or Start) and a take's first sample.

Old way: a take opens its own stream (``Engine(record=...).start`` at the press).  New way: listening
runs and ``start_take`` at the press.  Gap = press-to-stop wall time minus the take's length.  Run
with a click track played into a PulseAudio null sink whose monitor is the default source
(docs/gui.md, ../shared/virtual-mic.md):  python bench/take_gap.py OUTDIR
"""

import sys
import time

import soundfile as sf

from serlive.audio.sources import MicrophoneSource
from serlive.live.engine import Engine
from tests.test_analysis import StubModel

out = sys.argv[1]


def old(n):
    eng = Engine(StubModel(), record=f"{out}/old.wav")
    t0 = time.monotonic()
    eng.start(MicrophoneSource("pulse"))
    time.sleep(3.0)
    t1 = time.monotonic()
    eng.stop()
    p = eng.record_path
    n_rec = sf.info(str(p)).frames
    return (t1 - t0), n_rec / 16000


def new(n, eng):
    t0 = time.monotonic()
    p = eng.start_take(f"{out}/new.wav")
    time.sleep(3.0)
    t1 = time.monotonic()
    eng.stop_take()
    while eng.recording:
        time.sleep(0.01)
    return (t1 - t0), sf.info(str(p)).frames / 16000


print("old: Start opens the take's own stream")
for i in range(4):
    w, f = old(i)
    print(f"  take {i + 1}: press->stop {w:.3f} s, file {f:.3f} s, gap {w - f:.3f} s")
    time.sleep(1.0)
print("new: Record on a running stream")
eng = Engine(StubModel())
eng.start(MicrophoneSource("pulse"))
time.sleep(2.5)
for i in range(4):
    w, f = new(i, eng)
    print(f"  take {i + 1}: press->stop {w:.3f} s, file {f:.3f} s, gap {w - f:.3f} s")
    time.sleep(0.7)
eng.stop()
