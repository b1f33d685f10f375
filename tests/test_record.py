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
from serlive.live.engine import Engine
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
    from serlive.live.engine import Engine, StreamEnd
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
from serlive.cli import commands as cli
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


# --- every captured sample, never an overwrite (issue 11, defects 1 and 2) --------------------------
def _mic_engine(tmp_path: Path, rate: int = SR, **kw):
    """An engine recording a fake microphone that plays a known, non-repeating signal in real time."""
    from serlive.audio.sources import MicrophoneSource
    from serlive.live.engine import Engine
    from tests.fake_sounddevice import FakeSoundDevice, device
    from tests.test_analysis import StubModel

    sd = FakeSoundDevice([device("pulse", 32, 32, float(rate))], default=0, rates={0: {rate}})
    sd.signal = speechlike(60.0, seed=21)
    sd.speed = 2.0
    eng = Engine(StubModel(), record=tmp_path / "take.wav", **kw)
    return sd, eng, lambda: MicrophoneSource("pulse", sample_rate=SR, backend=sd)


@pytest.mark.parametrize("rate", [SR, 48000], ids=["16k", "48k-resampled"])
def test_stop_records_every_captured_sample(tmp_path: Path, rate: int):
    """Start, run, Stop, three times: each take holds exactly the samples captured up to Stop, in order,
    and goes to its own numbered file (the earlier takes are left as they were)."""
    sd, eng, mic = _mic_engine(tmp_path, rate)
    takes = []
    for n, run_s in enumerate((1.13, 0.61, 1.87), start=1):  # stops between the worker's steps
        eng.start(mic())
        time.sleep(run_s)
        assert eng.stop(2.0)
        captured = eng.samples_received
        path = eng.record_path
        assert path == (tmp_path / "take.wav" if n == 1 else tmp_path / f"take-{n}.wav")
        got, sr = sf.read(path, dtype="float32")
        assert sr == SR and len(got) == eng.recorded_samples
        if rate == SR:
            assert len(got) == captured, f"take {n}: {len(got)} recorded of {captured} captured"
            np.testing.assert_array_equal(got, sd.signal[:captured])
        else:  # the model-rate stream of every captured sample, filter tail included
            assert abs(len(got) - captured * SR / rate) <= 1, (len(got), captured)
        takes.append((path, got))
    for path, got in takes:  # no take replaced another
        again, _ = sf.read(path, dtype="float32")
        np.testing.assert_array_equal(again, got)


def test_an_existing_file_is_refused_or_numbered_never_overwritten(tmp_path: Path):
    from serlive.audio.record import next_free_path, take_path

    old = tmp_path / "take.wav"
    old.write_bytes(b"precious")
    (tmp_path / "take-2.wav").write_bytes(b"also precious")
    with pytest.raises(RecordError, match=r"already exists and is not overwritten.*take-3\.wav"):
        WavRecorder(old, SR)
    rec = WavRecorder(old, SR, numbered=True)
    rec.write(np.ones(10, np.float32))
    rec.close()
    assert rec.path == tmp_path / "take-3.wav" and rec.requested_path == old
    assert old.read_bytes() == b"precious" and (tmp_path / "take-2.wav").read_bytes() == b"also precious"
    assert sf.info(rec.path).frames == 10
    assert take_path(old, 1) == old and take_path(old, 7) == tmp_path / "take-7.wav"
    assert next_free_path(old) == tmp_path / "take-4.wav"


def test_engine_with_numbering_off_refuses_an_existing_file_before_opening_the_device(tmp_path: Path):
    sd, eng, mic = _mic_engine(tmp_path, number_takes=False)
    (tmp_path / "take.wav").write_bytes(b"precious")
    with pytest.raises(RecordError, match="already exists"):
        eng.start(mic())
    assert sd.streams == [] and (tmp_path / "take.wav").read_bytes() == b"precious"


# --- takes on a running stream (issue 20, items 1 and 2) -----------------------------------------------
@pytest.mark.parametrize("rate", [SR, 48000], ids=["16k", "48k-resampled"])
def test_takes_start_and_stop_on_a_running_stream_at_the_press(tmp_path: Path, rate: int):
    """Listening goes on; Record starts a take with the samples from the press on and Stop ends it there.

    A take used to open its own input stream, and a sound server delivers a new stream's first audio
    0.3-1.9 s late: the first word was lost.  Here each take is the stream's samples from the one that
    arrived at start_take to the one at stop_take, each to its own numbered file, while the windows
    keep coming."""
    from serlive.live.engine import EngineError

    sd, eng, mic = _mic_engine(tmp_path, rate)
    eng.record = None  # listening only; takes are started by hand
    with pytest.raises(EngineError):  # no stream to record
        eng.start_take(tmp_path / "take.wav")
    eng.start(mic())
    assert eng.stop_take() is None  # no take to stop
    spans = []
    try:
        for _n in range(2):
            time.sleep(0.43)
            before = eng.samples_received
            path = eng.start_take(tmp_path / "take.wav")
            after = eng.samples_received
            assert eng.recording
            with pytest.raises(EngineError):  # one take at a time
                eng.start_take(tmp_path / "other.wav")
            time.sleep(0.71)
            eng.stop_take()
            t0 = time.monotonic()
            while eng.recording and time.monotonic() - t0 < 5:
                time.sleep(0.01)
            assert not eng.recording and eng.record_path == path
            spans.append((path, before, after))
        assert eng.running and eng.stats().windows > 0  # the stream never stopped
    finally:
        eng.stop(2.0)
    assert [p.name for p, _, _ in spans] == ["take.wav", "take-2.wav"]
    for path, before, after in spans:
        got, sr = sf.read(path, dtype="float32")
        assert sr == SR and len(got) >= 256
        if rate == SR:  # exactly the stream's samples from the press on
            starts = [k for k in range(before, after + 1) if np.array_equal(got[:64], sd.signal[k : k + 64])]
            assert starts, f"{path.name} does not start between samples {before} and {after}"
            np.testing.assert_array_equal(got, sd.signal[starts[0] : starts[0] + len(got)])
        else:  # the model-rate stream: it starts at the press's model-rate sample
            import soxr

            dev = sd.signal_for(rate, 1)[:, 0]  # what the 48 kHz device delivered
            want = soxr.resample(dev[: after + 10 * rate], rate, SR).astype(np.float32)
            lo, hi = round(before * SR / rate), round(after * SR / rate)
            err = [np.max(np.abs(got[:256] - want[k : k + 256])) for k in range(lo - 2, hi + 3)]
            assert min(err) < 1e-3, f"{path.name}: no start near the press ({min(err)})"
