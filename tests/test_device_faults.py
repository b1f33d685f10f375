"""Device faults: a device that stalls, never starts, vanishes mid-stream, overflows, or hangs on close.

Where a fault can be made for real it is: a PulseAudio daemon of our own
provides a virtual microphone (a null sink's monitor, see
``../shared/virtual-mic.md``), and mid-stream we unload the sink's module,
``SIGKILL`` the daemon, or ``SIGSTOP`` it (a server that hangs rather than
goes).  The engine runs in a child process (PortAudio scans devices once per
process, so its environment must be set before it starts) that reports what
it sees as JSON lines; after each fault the parent repairs the server and the
same engine in the same process must start again.  The rest use
``tests/fake_sounddevice.py``.  What ``test_stream.py``/``test_sources.py``
already cover (a stream that ends by itself, a callback exception, a close that
hangs, overflow counting in the source) is not repeated.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from serlive.audio.sources import AudioDeviceError, FileSource, MicrophoneSource
from serlive.cli import commands as cli
from serlive.live.engine import Engine, EngineStats, StreamEnd
from tests.conftest import REPO, speechlike
from tests.fake_sounddevice import FakeSoundDevice, device
from tests.test_analysis import StubModel


def fake() -> FakeSoundDevice:
    sd = FakeSoundDevice([device("pulse", 32, 32, 44100.0)], default=0)
    sd.signal = speechlike(6.0)
    sd.speed = 8.0
    return sd


def drain(eng: Engine) -> tuple[list, StreamEnd | None]:
    items = []
    while not eng.results.empty():
        items.append(eng.results.get_nowait())
    end = items[-1] if items and isinstance(items[-1], StreamEnd) else None
    return [i for i in items if not isinstance(i, StreamEnd)], end


# --- with the fake backend -------------------------------------------------------------------------
def test_device_that_stalls_is_reported_and_the_engine_restarts():
    """Callbacks stop without PortAudio ending the stream (a hung driver): the stall timeout names it."""
    sd = fake()
    sd.loop = False  # after 6 s of audio the clock runs on but no block is delivered
    eng = Engine(StubModel(), stall_timeout_s=0.5)
    eng.start(MicrophoneSource("pulse", backend=sd))
    assert eng.wait(15)
    results, end = drain(eng)
    assert end is not None and end.error == "no audio from 'pulse' for 0.5 s (device stalled or gone?)"
    assert len(results) == 7  # every window of the 6 s that did arrive
    assert sd.streams[0].closed  # the worker closed the stalled device
    t0 = time.monotonic()
    assert eng.stop(2.0)
    assert time.monotonic() - t0 < 2.5
    sd.loop = True
    eng.start(MicrophoneSource("pulse", backend=sd))
    deadline = time.monotonic() + 10
    while eng.stats().windows < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert eng.stats().windows >= 2 and eng.error is None
    assert eng.stop(2.0)


def test_device_that_never_delivers_is_reported():
    sd = fake()
    sd.signal = np.zeros(0, np.float32)
    sd.loop = False
    eng = Engine(StubModel(), first_audio_timeout_s=0.5)
    eng.start(MicrophoneSource("pulse", backend=sd))
    assert eng.wait(10)
    _, end = drain(eng)
    assert end is not None and end.error == "no audio from 'pulse' within 0.5 s of starting"
    assert end.stats.samples == 0 and end.stats.windows == 0


def test_rate_refused_at_open_fails_cleanly_and_the_engine_starts_again(tmp_path: Path):
    """The settings check passes but opening the stream refuses the rate (seen with some ALSA devices)."""
    sd = fake()
    sd.open_error = "Invalid sample rate [PaErrorCode -9997]"
    eng = Engine(StubModel(), record=tmp_path / "rec.wav")
    with pytest.raises(AudioDeviceError) as info:
        eng.start(MicrophoneSource("pulse", backend=sd))
    msg = str(info.value)
    assert msg == "cannot open input device 0 (pulse) at 16000 Hz: Invalid sample rate [PaErrorCode -9997]"
    assert not eng.running and not (tmp_path / "rec.wav").exists()
    sd.open_error = None
    eng.start(MicrophoneSource("pulse", backend=sd))
    assert eng.wait(1.0) is False  # running
    assert eng.stop(2.0) and eng.error is None
    assert (tmp_path / "rec.wav").stat().st_size > 44


def test_device_overflows_reach_the_engine_status_and_the_summary():
    sd = fake()
    sd.overflow_blocks = {5, 6, 40}
    eng = Engine(StubModel())
    eng.start(MicrophoneSource("pulse", backend=sd))
    deadline = time.monotonic() + 10
    while eng.stats().device_overflows < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert eng.stop(2.0)
    stats = eng.stats()
    assert stats.device_overflows == 3
    assert "device overflows 3" in stats.summary()
    assert "device overflows" not in EngineStats().summary()  # only said when there were some


def test_listen_prints_device_overflows_in_its_summary(monkeypatch, capsys, tiny_models):
    from serlive.audio import sources

    sd = fake()
    sd.overflow_blocks = {3}
    monkeypatch.setattr(sources, "load_backend", lambda: sd)
    rc = cli.main(["listen", "--model", str(tiny_models.int8), "--duration", "1.5"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "device overflows 1" in out.splitlines()[-1]


def test_device_gone_and_close_hangs_stop_still_bounded():
    """The worst case together: the stream dies and closing it never returns."""
    sd = fake()
    sd.fail_after_blocks = 60
    sd.hang_on_close = True
    eng = Engine(StubModel())
    eng.start(MicrophoneSource("pulse", backend=sd))
    assert eng.wait(10)  # the worker gives up on the hung close after its own bound
    _, end = drain(eng)
    assert end is not None and "stopped unexpectedly" in end.error
    t0 = time.monotonic()
    eng.stop(1.0)
    assert time.monotonic() - t0 < 1.5
    sd.hang_on_close = False
    sd.fail_after_blocks = None
    eng.start(FileSource(samples=speechlike(3.5), realtime=False))  # the engine is usable again
    assert eng.wait(10) and eng.error is None


# --- real faults through PulseAudio ------------------------------------------------------------------
SINK = "vmic16"
NULL_SINK_ARGS = f"sink_name={SINK} rate=16000 channels=1 format=s16le"

CHILD = r"""
import json, sys, time
from serlive.audio.sources import AudioDeviceError, MicrophoneSource
from serlive.live.engine import Engine
from tests.test_analysis import StubModel

def say(**kw):
    print(json.dumps(kw), flush=True)

eng = Engine(StubModel(), stall_timeout_s=2.0, first_audio_timeout_s=10.0)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "start":
        try:
            eng.start(MicrophoneSource(None, 16000))
        except AudioDeviceError as exc:
            say(event="start_failed", error=str(exc))
            continue
        t0 = time.monotonic()
        while eng.samples_received == 0 and time.monotonic() - t0 < 15:
            time.sleep(0.02)
        time.sleep(0.5)
        say(event="receiving", samples=eng.samples_received, error=eng.error)
    elif cmd == "wait_end":
        t0 = time.monotonic()
        ended = eng.wait(20)
        say(event="ended", ended=ended, after_s=time.monotonic() - t0, error=eng.error,
            summary=eng.stats().summary())
    elif cmd == "stop":
        t0 = time.monotonic()
        ok = eng.stop(2.0)
        say(event="stopped", ok=ok, stop_s=time.monotonic() - t0, error=eng.error)
    elif cmd == "quit":
        break
"""


class Pulse:
    """A PulseAudio daemon of our own (own runtime dir and socket), stopped by its PID."""

    def __init__(self, runtime: Path, home: Path) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        self.daemon_env = dict(base, XDG_RUNTIME_DIR=str(runtime), HOME=str(home))
        self.env = dict(self.daemon_env, PULSE_SERVER=f"unix:{runtime}/pulse/native", PYTHONPATH=str(REPO))
        self.log_path = runtime.parent / f"{runtime.name}.log"
        self.proc: subprocess.Popen | None = None

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10,
                              check=check)  # fmt: skip

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                 "-L", "module-native-protocol-unix auth-anonymous=1",
                 "-L", f"module-null-sink {NULL_SINK_ARGS}"],
                env=self.daemon_env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while self.pactl("info", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PulseAudio did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        self.pactl("set-default-source", f"{SINK}.monitor")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.proc.wait(10)  # reap it, or its PID file blocks the next daemon

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Child:
    """The engine in its own process, driven by lines on stdin, answering JSON lines."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD], env=env, cwd=REPO, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.events: queue.Queue[dict] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line.rstrip())

    def ask(self, cmd: str, timeout: float = 40.0) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no answer to {cmd!r}:\n" + "\n".join(self.err[-30:]))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def pulse(tmp_path: Path):
    for exe in ("pulseaudio", "pactl"):
        if shutil.which(exe) is None:
            pytest.skip(f"{exe} not installed (apt-get install pulseaudio pulseaudio-utils)")
    runtime = tmp_path / "pulse-runtime"
    runtime.mkdir(mode=0o700)
    home = tmp_path / "home"
    home.mkdir()
    p = Pulse(runtime, home)
    p.start()
    yield p
    p.stop()


def _receiving(child: Child) -> dict:
    ev = child.ask("start")
    assert ev["event"] == "receiving", ev
    assert ev["samples"] > 0 and ev["error"] is None, ev
    return ev


def _fault_then_restart(pulse: Pulse, fault, repair, expect_error: str) -> dict:
    child = Child(pulse.env)
    try:
        _receiving(child)
        fault()
        ended = child.ask("wait_end")
        assert ended["ended"] is True, ended
        assert ended["error"] is not None and expect_error in ended["error"], ended
        stopped = child.ask("stop")
        assert stopped["stop_s"] < 2.5, stopped  # bounded, whatever the device does
        repair()
        _receiving(child)  # the same engine, in the same process, runs again
        stopped = child.ask("stop")
        assert stopped["ok"] is True and stopped["error"] is None, stopped
        assert not any("Traceback" in line for line in child.err), "\n".join(child.err)
        return ended
    finally:
        child.close()


@pytest.mark.slow
def test_sink_module_unloaded_mid_stream(pulse):
    def repair() -> None:
        pulse.pactl("load-module", "module-null-sink", *NULL_SINK_ARGS.split())
        pulse.pactl("set-default-source", f"{SINK}.monitor")

    ended = _fault_then_restart(
        pulse, lambda: pulse.pactl("unload-module", "module-null-sink"), repair, "stopped unexpectedly"
    )
    assert ended["after_s"] < 5


@pytest.mark.slow
def test_sound_server_killed_mid_stream(pulse):
    ended = _fault_then_restart(
        pulse, lambda: pulse.kill(signal.SIGKILL), pulse.start, "stopped unexpectedly"
    )
    assert ended["after_s"] < 5


@pytest.mark.slow
def test_sound_server_frozen_mid_stream_is_a_stall(pulse):
    """SIGSTOP: the server is there but silent; no PortAudio error comes, the stall timeout (2 s) speaks."""
    ended = _fault_then_restart(
        pulse,
        lambda: pulse.kill(signal.SIGSTOP),
        lambda: pulse.kill(signal.SIGCONT),
        "(device stalled or gone?)",
    )
    assert ended["error"] == "no audio from 'default' for 2 s (device stalled or gone?)"
