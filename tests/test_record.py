"""The streaming WAV recorder: lossless, header kept current, readable after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serlive.audio.record import RecordError, WavRecorder
from tests.conftest import REPO, SR, speechlike


def test_samples_round_trip_bit_exactly(tmp_path: Path):
    y = speechlike(2.0)
    y[100] = 1.5  # float WAV keeps values beyond full scale too
    path = tmp_path / "r.wav"
    with WavRecorder(path, SR) as rec:
        for i in range(0, len(y), 777):
            rec.write(y[i : i + 777])
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (SR, 1, "FLOAT", len(y))
    back, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(back, y)


def test_header_follows_the_flush_interval(tmp_path: Path):
    path = tmp_path / "r.wav"
    flushed: list[int] = []
    rec = WavRecorder(path, SR, flush_interval_s=3600, on_flush=flushed.append)
    rec.write(np.ones(1000, np.float32))
    assert sf.info(path).frames == 0  # written, not yet declared
    rec.flush()
    assert sf.info(path).frames == 1000 and flushed == [1000]
    rec.flush_interval_s = 0.0
    rec.write(np.ones(500, np.float32))
    assert sf.info(path).frames == 1500 and flushed == [1000, 1500]
    rec.close()
    rec.close()
    assert rec.closed
    with pytest.raises(RecordError, match="closed"):
        rec.write(np.ones(3, np.float32))


def test_refuses_other_formats_and_unwritable_paths(tmp_path: Path):
    with pytest.raises(RecordError, match=r"\.wav"):
        WavRecorder(tmp_path / "r.flac", SR)
    with pytest.raises(RecordError, match="cannot write recording"):
        WavRecorder(tmp_path / "missing" / "r.wav", SR)


CHILD = """
import sys
import numpy as np
from serlive.audio.sources import FileSource
from serlive.stream import Engine
from tests.test_analysis import StubModel

y = np.load(sys.argv[1])
eng = Engine(StubModel(), record=sys.argv[2], flush_interval_s=0.25,
             on_flush=lambda n: print(n, flush=True))
eng.start(FileSource(samples=y, speed=2.0))
eng.wait(60)
"""


@pytest.mark.slow
def test_recording_survives_sigkill(tmp_path: Path):
    """Kill a process recording a real-time replay: the file opens and holds every flushed sample."""
    y = speechlike(20.0, seed=5)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "killed.wav"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "y.npy"), str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = 0
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while last < 2 * SR and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last = int(line)
        assert last >= 2 * SR, f"child did not flush: {proc.stderr.read() if proc.stderr else ''}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    got, sr = sf.read(out, dtype="float32")
    assert sr == SR
    assert last <= len(got) < len(y)  # everything up to the last flush we saw, not the whole clip
    np.testing.assert_array_equal(got, y[: len(got)])
