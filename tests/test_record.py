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
def _sigkill(proc: subprocess.Popen) -> None:
    """Kill ``proc`` hard (no handler runs, nothing is flushed) and check that it died of it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, f"child ended on its own (exit {proc.returncode})"


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
    finally:
        _sigkill(proc)
    got, sr = sf.read(out, dtype="float32")
    assert sr == SR
    assert last <= len(got) < len(y)  # everything up to the last flush we saw, not the whole clip
    np.testing.assert_array_equal(got, y[: len(got)])


def test_long_resampled_stream_is_recorded_sample_for_sample(tmp_path: Path):
    """5 min from a 48 kHz source: the recording is exactly the model-rate stream (soxr, streamed)."""
    import soxr

    from serlive.audio.sources import FileSource
    from serlive.stream import Engine, StreamEnd
    from tests.test_analysis import StubModel

    y48 = np.tile(speechlike(10.0, sr=48000, seed=2), 30)
    eng = Engine(StubModel(), record=tmp_path / "rec.wav")
    eng.start(FileSource(samples=y48, sample_rate=48000, realtime=False))
    assert eng.wait(120)
    items = []
    while not eng.results.empty():
        items.append(eng.results.get_nowait())
    end = items[-1]
    assert isinstance(end, StreamEnd) and end.error is None
    assert end.stats.dropped_samples == 0 and end.stats.dropped_windows == 0
    rec, sr = sf.read(tmp_path / "rec.wav", dtype="float32")
    want = soxr.resample(y48, 48000, SR).astype(np.float32)
    assert sr == SR and len(rec) == len(want) == 300 * SR
    np.testing.assert_array_equal(rec, want)


LISTEN_CHILD = """
import sys
import numpy as np
from serlive import cli
from serlive.audio import sources
from tests.fake_sounddevice import FakeSoundDevice, device

sd = FakeSoundDevice([device("pulse", 32, 32)], default=0)
sd.signal = np.load(sys.argv[1])
sd.speed = float(sys.argv[3])
sources.load_backend = lambda: sd
cli.main(["listen", "--record", sys.argv[2], "--format", "json", "--smoothing", "0"])
"""


@pytest.mark.slow
def test_listen_record_killed_loses_at_most_one_flush_interval(tmp_path: Path):
    """``serlive listen --record`` (default 0.5 s flush) SIGKILLed mid-stream: the file opens, holds exactly
    the captured samples up to its last header update, and what was written after it is under one flush
    interval of audio (plus one 1 s piece the worker moves at a time)."""
    from serlive.audio.record import _HEADER_SIZE, DEFAULT_FLUSH_INTERVAL_S

    speed = 4.0
    y = speechlike(30.0, seed=11)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "listen.wav"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTEN_CHILD, str(tmp_path / "y.npy"), str(out), str(speed)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = 0
        while lines < 8:  # 8 windows published: about 6.5 s of audio captured
            if not proc.stdout.readline():
                pytest.fail(f"listen ended early: {proc.stderr.read() if proc.stderr else ''}")
            lines += 1
        time.sleep(0.37)  # somewhere between two header updates
    finally:
        _sigkill(proc)
    got, sr = sf.read(out, dtype="float32")
    assert sr == SR and len(got) >= 6 * SR
    np.testing.assert_array_equal(got, y[: len(got)])  # exactly what was captured, in order
    written = (out.stat().st_size - _HEADER_SIZE) // 4
    undeclared = written - len(got)
    assert 0 <= undeclared <= (DEFAULT_FLUSH_INTERVAL_S * speed + 1.0) * SR + 320
