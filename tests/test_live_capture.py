"""Real capture through PulseAudio: a null sink's monitor is the microphone (see ../shared/virtual-mic.md).

The fixture always starts its own daemon with its own ``XDG_RUNTIME_DIR`` and
points ``PULSE_SERVER`` at its socket, so it neither depends on nor disturbs a
daemon that ``.ci/run`` (or a desktop session) may already run; it stops the
daemon by its PID.  PortAudio scans devices once per process, so the live
path runs in a subprocess whose environment is set before it starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from serlive.audio.io import load_audio
from serlive.config import FeatureConfig
from serlive.features import frame_rms_dbfs
from tests.conftest import REPO, SR

pytestmark = pytest.mark.slow

SINK = "vmic16"


def pulse_env(runtime: Path, home: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(daemon environment, client environment) for a PulseAudio daemon of our own in ``runtime``."""
    for exe in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(exe) is None:
            pytest.skip(f"{exe} not installed (apt-get install pulseaudio pulseaudio-utils)")
    runtime.chmod(0o700)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    daemon_env = dict(base, XDG_RUNTIME_DIR=str(runtime), HOME=str(home))
    return daemon_env, dict(daemon_env, PULSE_SERVER=f"unix:{runtime}/pulse/native", PYTHONPATH=str(REPO))


@contextlib.contextmanager
def pulse_daemon(runtime: Path, daemon_env: dict[str, str], env: dict[str, str]) -> Iterator[None]:
    """A PulseAudio daemon, null sink ``vmic16`` whose monitor is the default source; stopped by PID."""
    log = (runtime / "pulseaudio.log").open("w")
    daemon = subprocess.Popen(
        [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
            "-L", "module-native-protocol-unix auth-anonymous=1",
            "-L", f"module-null-sink sink_name={SINK} rate=16000 channels=1 format=s16le",
        ],
        env=daemon_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            ok = subprocess.run(["pactl", "info"], env=env, capture_output=True, timeout=10).returncode == 0
            if ok or daemon.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if not ok:
            pytest.fail(f"PulseAudio did not start: {(runtime / 'pulseaudio.log').read_text()[-2000:]}")
        subprocess.run(["pactl", "set-default-source", f"{SINK}.monitor"], env=env, check=True, timeout=10)
        yield
    finally:
        daemon.terminate()  # by its PID, never by name
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(5)
        log.close()


@pytest.fixture(scope="module")
def virtual_mic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for a process that should capture from ``vmic16.monitor``."""
    runtime = tmp_path_factory.mktemp("pulse-runtime")
    daemon_env, env = pulse_env(runtime, tmp_path_factory.mktemp("pulse-home"))
    with pulse_daemon(runtime, daemon_env, env):
        yield env


class Listener:
    """``serlive listen`` in a subprocess, with its output read by threads."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serlive.cli", "listen", *argv],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.receiving = threading.Event()
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if "receiving audio" in line:
                self.receiving.set()

    def wait_for_audio(self, timeout: float = 30.0) -> None:
        if not self.receiving.wait(timeout):
            self.kill()
            pytest.fail("no audio arrived from the virtual microphone:\n" + "\n".join(self.err))

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("serlive listen did not stop in time:\n" + "\n".join(self.err))
        for t in self._threads:
            t.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def speech_bounds(y: np.ndarray, db: float = -40.0) -> tuple[int, int]:
    """First and last sample of frames louder than ``db`` dBFS."""
    cfg = FeatureConfig()
    loud = np.flatnonzero(frame_rms_dbfs(y, cfg) > db)
    return int(loud[0] * cfg.hop_length), int(loud[-1] * cfg.hop_length + cfg.n_fft)


def test_listen_captures_speech_played_into_the_virtual_mic(virtual_mic, tiny_models, espeak, tmp_path):
    clip = load_audio(
        espeak("The quick brown fox jumps over the lazy dog, and then it runs far away.", speed=150), SR
    )
    pad = np.zeros(SR // 2, np.float32)
    play = np.concatenate([pad, 0.7 * clip / np.max(np.abs(clip)), pad])
    sf.write(tmp_path / "play.wav", play, SR, subtype="PCM_16")
    ref, _ = sf.read(tmp_path / "play.wav", dtype="float32")  # what the sink really gets (16-bit)
    s0, s1 = speech_bounds(ref)
    assert (s1 - s0) / SR > 2.0

    rec_path = tmp_path / "rec.wav"
    lead_s, duration = 4.0, 18 + len(ref) / SR
    listener = Listener(
        ["--format", "json", "--duration", f"{duration:.1f}", "--record", str(rec_path),
         "--model", str(tiny_models.int8), "--smoothing", "0"],
        virtual_mic,
    )  # fmt: skip
    try:
        listener.wait_for_audio()
        time.sleep(lead_s)  # silence before: at least one whole window
        subprocess.run(["paplay", f"--device={SINK}", str(tmp_path / "play.wav")], env=virtual_mic,
                       check=True, timeout=60)  # fmt: skip
        t_stop = time.monotonic()
        rc = listener.wait(timeout=duration + 30)
        assert time.monotonic() - t_stop < duration + 10
    finally:
        listener.kill()
    err = "\n".join(listener.err)
    assert rc == 0, err
    assert "Traceback" not in err
    assert "serlive listen: stopped:" in err and "dropped samples 0" in err

    results = [json.loads(line) for line in listener.out]  # stdout is pure JSON lines
    assert len(results) >= 20

    rec, sr = sf.read(rec_path, dtype="float32")
    assert sr == SR and len(rec) > len(ref) + 6 * SR
    corr = scipy.signal.correlate(rec, ref, mode="valid", method="fft")
    lag = int(np.argmax(corr))
    seg = rec[lag : lag + len(ref)]
    assert np.corrcoef(seg, ref)[0, 1] > 0.9, "the recording does not contain the played clip"

    speech = (lag + s0, lag + s1)
    before = after = voiced = 0
    for r in results:
        start, end = round(r["start_s"] * SR), round(r["end_s"] * SR)
        overlap = min(end, speech[1]) - max(start, speech[0])
        if end <= speech[0] or start >= speech[1]:
            assert r["silent"] and r["label"] == "no speech", r
            before += end <= speech[0]
            after += start >= speech[1]
        elif overlap >= SR:
            # a second of the sentence is well over the VAD's 10 % of a window (0.3 s voiced);
            # a window holding only its first or last 0.25-0.5 s may rightly be no speech
            assert not r["silent"] and r["label"] != "no speech", r
            voiced += 1
    assert before >= 1 and after >= 1 and voiced >= 3


def test_listen_stops_cleanly_on_ctrl_c(virtual_mic, tiny_models):
    listener = Listener(["--format", "json", "--model", str(tiny_models.int8)], virtual_mic)
    try:
        listener.wait_for_audio()
        time.sleep(3.8)
        listener.proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        rc = listener.wait(timeout=15)
        assert time.monotonic() - t0 < 5
    finally:
        listener.kill()
    err = "\n".join(listener.err)
    assert rc == 0, err
    assert "Traceback" not in err and "serlive listen: stopped:" in err
    results = [json.loads(line) for line in listener.out]
    assert results and all(r["silent"] for r in results)  # nothing was played: the sink is silent


def test_devices_lists_the_pulse_devices(virtual_mic):
    res = subprocess.run(
        [sys.executable, "-m", "serlive.cli", "devices"],
        env=virtual_mic,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    rows = res.stdout.splitlines()[1:-1]
    names = {row.split()[-5] for row in rows}
    assert names & {"pulse", "default"}
    assert sum(row.startswith("*") for row in rows) == 1


TAKES_CHILD = """
import json, subprocess, sys, time
from serlive.audio.sources import MicrophoneSource
from serlive.live.engine import Engine
from tests.test_analysis import StubModel

clip, out, sink = sys.argv[1], sys.argv[2], sys.argv[3]
eng = Engine(StubModel(), record=out)
for take in range(3):
    eng.start(MicrophoneSource(None, 16000))
    t0 = time.monotonic()
    while eng.samples_received == 0:
        if time.monotonic() - t0 > 20:
            sys.exit("no audio from the virtual microphone")
        time.sleep(0.01)
    time.sleep(0.3)
    subprocess.run(["paplay", f"--device={sink}", clip], check=True, timeout=60)
    time.sleep(0.4 + 0.07 * take)  # the clip's tail through the monitor; each take stops at another phase
    assert eng.stop(3.0)
    print(json.dumps({"captured": eng.samples_received, "rate": eng.source.sample_rate,
                      "recorded": eng.recorded_samples, "path": str(eng.record_path)}), flush=True)
"""


def test_stop_records_every_sample_captured_from_the_virtual_mic(virtual_mic, tmp_path):
    """Three takes through PulseAudio, each with a known 1.5 s clip played into the sink and Stop soon after
    it: each file holds exactly the samples captured up to Stop (the whole clip among them) and each take
    has its own numbered file (issue 11, defects 1 and 2)."""
    from tests.conftest import chirp

    ref = np.round(chirp(200.0, 3000.0, 1.5, amp=0.5) * 32767) / 32767  # what a 16-bit sink holds
    sf.write(tmp_path / "clip.wav", ref, SR, subtype="PCM_16")
    res = subprocess.run(
        [sys.executable, "-c", TAKES_CHILD, str(tmp_path / "clip.wav"), str(tmp_path / "take.wav"), SINK],
        env=virtual_mic, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    takes = [json.loads(line) for line in res.stdout.splitlines()]
    assert [t["path"] for t in takes] == [str(tmp_path / n) for n in ("take.wav", "take-2.wav", "take-3.wav")]
    for t in takes:
        rec, sr = sf.read(t["path"], dtype="float32")
        assert sr == SR and len(rec) == t["recorded"]
        if t["rate"] == SR:
            assert len(rec) == t["captured"], f"{t['path']}: {len(rec)} recorded of {t['captured']} captured"
        else:
            assert abs(len(rec) - t["captured"] * SR / t["rate"]) <= 1, t
        corr = scipy.signal.correlate(rec, ref, mode="valid", method="fft")
        lag = int(np.argmax(corr))
        assert np.corrcoef(rec[lag : lag + len(ref)], ref)[0, 1] > 0.95, f"{t['path']}: clip not in it"
        assert lag + len(ref) <= len(rec)  # the clip's tail is there too


def test_listen_duration_record_writes_the_duration_asked_for(virtual_mic, tiny_models, tmp_path):
    """``serlive listen --duration 3 --record x.wav`` through PulseAudio: 3 s of audio (counted from the first
    block the sound server delivers, which can take 0.3-1.9 s), all of it in the file."""
    out = tmp_path / "x.wav"
    listener = Listener(
        ["--format", "json", "--duration", "3", "--record", str(out), "--model", str(tiny_models.int8)],
        virtual_mic,
    )
    try:
        rc = listener.wait(timeout=60)
    finally:
        listener.kill()
    err = "\n".join(listener.err)
    assert rc == 0, err
    rec, sr = sf.read(out, dtype="float32")
    assert f"recorded {len(rec) / SR:.2f} s ({len(rec)} samples) to {out}" in err
    assert sr == SR and 3.0 <= len(rec) / SR < 3.4, len(rec) / SR


REFRESH_CHILD = """
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
app = QApplication([])
from serlive.config import LABELS
from serlive.gui import messages
from serlive.gui.live_view import LiveView

boxes = []
messages.show_error = lambda parent, title, text: boxes.append([title, text])
view = LiveView(None, LABELS)

def settle():  # Refresh re-initialises PortAudio on a helper thread; its result arrives as a Qt signal
    deadline = time.monotonic() + 20
    while view.scanning and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)

def report(step):
    print(json.dumps({"step": step, "devices": [d.name for d in view.devices], "boxes": boxes,
                      "notice": view.notice.text() if not view.notice.isHidden() else ""}), flush=True)

report("launch")
sys.stdin.readline()  # the sound server is up now
view.refresh_button.click()
settle()
report("refresh")
sys.stdin.readline()  # and gone again
view.start_button.click()
settle()
report("start")
view.refresh_button.click()
settle()
report("refresh again")
"""


def test_refresh_finds_a_sound_server_started_after_launch_and_forgets_a_gone_one(tmp_path):
    """The live view through real PortAudio + PulseAudio: launched with no sound server (no device), a server
    starts and Refresh lists its devices; the server stops, Start says the device cannot be reached (not
    that it refuses a sample rate), and Refresh no longer lists it (issue 11, defects 4 and 5)."""
    runtime, home = tmp_path / "runtime", tmp_path / "home"
    runtime.mkdir()
    home.mkdir()
    daemon_env, env = pulse_env(runtime, home)
    child = subprocess.Popen(
        [sys.executable, "-c", REFRESH_CHILD], env=env, cwd=REPO, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    steps = []
    try:

        def step() -> dict:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the child ended: {child.stderr.read()[-3000:] if child.stderr else ''}")
            steps.append(json.loads(line))
            return steps[-1]

        launch = step()
        if launch["devices"]:
            pytest.skip(f"this machine has input devices without a sound server: {launch['devices']}")
        assert "No audio input device" in launch["notice"]
        with pulse_daemon(runtime, daemon_env, env):
            child.stdin.write("up\n")
            child.stdin.flush()
            up = step()
        assert {"pulse", "default"} <= set(up["devices"]), up
        assert up["notice"] == ""
        child.stdin.write("gone\n")  # the daemon has been stopped (and waited for) above
        child.stdin.flush()
        start = step()
        title, text = start["boxes"][-1]
        assert title == "Cannot open the microphone"
        assert "cannot be reached" in text and "sound server may have stopped" in text, text
        assert "accepts neither" not in text and "Hz" not in text
        assert start["devices"] == [] and "No audio input device" in start["notice"]
        again = step()
        assert again["devices"] == []
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
