"""``serlive listen`` and ``serlive devices`` without a sound card: fake backend, file source, no device."""

from __future__ import annotations

import _thread
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serlive.audio import sources
from serlive.audio.sources import NO_DEVICE_MESSAGE, AudioDeviceError, FileSource
from serlive.cli import commands as cli
from serlive.config import LABELS
from tests.conftest import REPO, SR, speechlike, spoken
from tests.fake_sounddevice import FakeSoundDevice, device


def fake_backend(signal: np.ndarray | None = None, speed: float = 4.0, **kw) -> FakeSoundDevice:
    sd = FakeSoundDevice(
        [device("pulse", inputs=32, outputs=32), device("default", inputs=32, outputs=32)],
        default=1,
        **kw,
    )
    if signal is not None:
        sd.signal = signal
    sd.speed = speed
    return sd


@pytest.fixture
def use_backend(monkeypatch):
    """``use_backend(sd)`` makes the CLI's sounddevice import return ``sd``."""

    def install(sd: FakeSoundDevice | Exception) -> None:
        def load():
            if isinstance(sd, Exception):
                raise sd
            return sd

        monkeypatch.setattr(sources, "load_backend", load)

    return install


def listen_args(model: Path, *extra: str):
    return cli.build_parser().parse_args(["listen", "--model", str(model), *extra])


# --- devices -------------------------------------------------------------------------------
def test_devices_lists_inputs_with_the_default_marked(use_backend, capsys):
    use_backend(fake_backend())
    assert cli.main(["devices"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "index" in out[0] and "channels" in out[0] and "default rate" in out[0]
    rows = {line.split()[-5]: line for line in out[1:-1]}
    assert rows["default"].startswith("*") and not rows["pulse"].startswith("*")
    assert "44100 Hz" in rows["pulse"] and " 32 " in rows["pulse"]


@pytest.mark.parametrize(
    "backend",
    [FakeSoundDevice([], default=-1), AudioDeviceError("the PortAudio library is not installed (x)")],
    ids=["no-devices", "no-portaudio"],
)
def test_devices_without_devices_exits_2_with_one_line(use_backend, capsys, backend):
    use_backend(backend)
    assert cli.main(["devices"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("serlive devices: ")


# --- listen on a file source ------------------------------------------------------------------
def test_listen_json_lines_and_summary_on_stderr(tiny_models, capsys, tmp_path):
    y = np.concatenate([np.zeros(4 * SR, np.float32), spoken(4.0)])
    args = listen_args(tiny_models.int8, "--format", "json", "--record", str(tmp_path / "rec.wav"))
    rc = cli.cmd_listen(args, source=FileSource(samples=y, realtime=False))
    captured = capsys.readouterr()
    assert rc == 0
    lines = captured.out.splitlines()
    recs = [json.loads(line) for line in lines]  # stdout is nothing but JSON lines
    assert len(recs) == 11
    first, last = recs[0], recs[-1]
    assert set(first) >= {"start_s", "end_s", "silent", "label", "probabilities", "smoothed", "latency_ms"}
    assert (first["start_s"], first["end_s"], first["silent"], first["label"]) == (
        0.0,
        3.0,
        True,
        "no speech",
    )
    assert last["start_s"] == 5.0 and not last["silent"] and last["label"] in LABELS
    assert list(last["probabilities"]) == list(LABELS)
    assert abs(sum(last["smoothed"].values()) - 1) < 0.01
    assert "stopped: 11 windows over 8.0 s, dropped windows 0, dropped samples 0" in captured.err
    assert "latency median" in captured.err
    rec, _ = sf.read(tmp_path / "rec.wav", dtype="float32")
    np.testing.assert_array_equal(rec, y)


def test_listen_text_lines_and_summary_on_stdout(tiny_models, capsys):
    args = listen_args(tiny_models.int8, "--hop", "1.0", "--smoothing", "0")
    rc = cli.cmd_listen(args, source=FileSource(samples=spoken(5.0), realtime=False))
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert len(out) == 4
    assert out[0].split()[:3] == ["0.00-", "3.00", "s"]
    assert out[2].split()[:2] == ["2.00-", "5.00"]
    assert out[0].split()[3] in LABELS and out[0].endswith(" ms")
    assert out[-1].startswith("serlive listen: stopped: 3 windows")


def test_listen_duration_stops_a_live_microphone(use_backend, tiny_models, capsys):
    use_backend(fake_backend(speechlike(8.0, seed=2), speed=4.0))
    rc = cli.main(["listen", "--model", str(tiny_models.int8), "--duration", "1.5", "--format", "json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    recs = [json.loads(line) for line in captured.out.splitlines()]
    assert 3 <= len(recs) <= 9  # 6 s of audio at 4x in 1.5 s: windows ending at 3.0, 3.5, ... s
    assert [r["start_s"] for r in recs] == [0.5 * i for i in range(len(recs))]
    assert "listening to default at 16000 Hz for 1.5 s" in captured.err
    assert "receiving audio" in captured.err


def test_listen_ctrl_c_stops_cleanly_with_a_summary(use_backend, tiny_models, capsys):
    use_backend(fake_backend(speechlike(8.0, seed=2), speed=4.0))
    # a run started in the background of a non-interactive shell inherits SIGINT ignored, and
    # interrupt_main() then does nothing: the listener would never stop. Ctrl-C as a terminal has it:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.5, _thread.interrupt_main)
    timer.start()
    try:
        rc = cli.main(["listen", "--model", str(tiny_models.int8)])
        # listen's own handler (a flag its loop reads) is gone again: a later Ctrl-C interrupts as usual
        restored = signal.getsignal(signal.SIGINT)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    captured = capsys.readouterr()
    assert rc == 0
    assert restored is signal.default_int_handler
    assert "serlive listen: stopped:" in captured.out.splitlines()[-1]
    assert "Traceback" not in captured.err


def test_listen_device_error_mid_stream_exits_1_with_the_reason(use_backend, tiny_models, capsys):
    sd = fake_backend(speechlike(8.0), speed=8.0)
    sd.fail_after_blocks = 200
    use_backend(sd)
    rc = cli.main(["listen", "--model", str(tiny_models.int8), "--duration", "20"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "stopped unexpectedly" in captured.err.splitlines()[-1]
    assert "stopped: 3 windows" in captured.out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "usb mic"], "no input device matching 'usb mic'"),
        (["--hop", "0.25"], "multiple of the 0.02 s frame hop"),
        (["--smoothing", "1"], "smoothing alpha"),
        (["--record", "/nonexistent/dir/x.wav"], "cannot write recording"),
        (["--record", "x.mp3"], ".wav"),
    ],
)
def test_listen_usage_errors_exit_2(use_backend, tiny_models, capsys, extra, message):
    use_backend(fake_backend())
    rc = cli.main(["listen", "--model", str(tiny_models.int8), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "backend",
    [FakeSoundDevice([], default=-1), AudioDeviceError("the PortAudio library is not installed (x)")],
    ids=["no-devices", "no-portaudio"],
)
def test_listen_without_a_device_exits_2_with_one_line(use_backend, tiny_models, capsys, backend):
    use_backend(backend)
    rc = cli.main(["listen", "--model", str(tiny_models.int8)])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("serlive")]
    assert len(lines) == 1 and "Traceback" not in captured.err
    if isinstance(backend, FakeSoundDevice):
        assert lines[0] == f"serlive listen: {NO_DEVICE_MESSAGE}"


def test_listen_bad_model_exits_2(tmp_path, capsys):
    rc = cli.main(["listen", "--model", str(tmp_path / "none.tflite")])
    assert rc == 2 and "model file not found" in capsys.readouterr().err


def test_no_device_in_a_real_process_is_one_line_and_exit_2(tiny_models, tmp_path):
    """As on CI without a sound server: PortAudio finds nothing; no traceback."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(
        os.environ,
        PULSE_SERVER="unix:" + str(tmp_path / "no-such-socket"),
        XDG_RUNTIME_DIR=str(runtime),
        HOME=str(tmp_path),
        PYTHONPATH=str(REPO),
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import sounddevice as sd; print(len(sd.query_devices()))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        pytest.skip(f"sounddevice unusable here: {probe.stderr.strip()[-200:]}")
    if int(probe.stdout.strip() or 0) > 0:
        pytest.skip("this machine has a real sound card")
    for argv in (["devices"], ["listen", "--model", str(tiny_models.int8), "--duration", "2"]):
        res = subprocess.run(
            [sys.executable, "-m", "serlive.cli", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr
        ours = [ln for ln in res.stderr.splitlines() if ln.startswith("serlive")]
        assert ours == [f"serlive {argv[0]}: {NO_DEVICE_MESSAGE}"]


# --- recording (issue 11: every captured sample, never an overwrite) --------------------------------
def test_listen_duration_record_holds_every_captured_sample(use_backend, tiny_models, capsys, tmp_path):
    """``--duration 1.5 --record x.wav`` at real-time speed: the file holds the device's samples in order
    from its first block, and exactly 1.5 s of them (issue 28, item 11: ``--duration 25`` wrote 25.10 s)."""
    sd = fake_backend(speechlike(30.0, seed=4), speed=1.0)
    use_backend(sd)
    out = tmp_path / "x.wav"
    rc = cli.main(["listen", "--model", str(tiny_models.int8), "--duration", "1.5", "--record", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rec, sr = sf.read(out, dtype="float32")
    delivered = sum(s.delivered for s in sd.streams)
    assert sr == SR and len(rec) == round(1.5 * SR) <= delivered, f"{len(rec)} of {delivered} captured"
    np.testing.assert_array_equal(rec, sd.signal[: len(rec)])
    assert f"recorded {len(rec) / SR:.2f} s ({len(rec)} samples) to {out}" in captured.out


def test_listen_refuses_to_overwrite_an_existing_recording(use_backend, tiny_models, capsys, tmp_path):
    sd = fake_backend(speechlike(8.0), speed=4.0)
    use_backend(sd)
    out = tmp_path / "take.wav"
    out.write_bytes(b"yesterday's take")
    rc = cli.main(["listen", "--model", str(tiny_models.int8), "--duration", "1", "--record", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert err.strip() == (
        f"serlive listen: {out}: already exists and is not overwritten; choose another name (e.g. take-2.wav)"
    )
    assert out.read_bytes() == b"yesterday's take"
    assert sd.streams == [] and not (tmp_path / "take-2.wav").exists()  # the device was never opened


def test_listen_states_the_hop_rule_once_and_speaks_plainly(capsys):
    """Issue 20, item 13: --help said the hop is "a multiple of 0.02" while 0.03 was accepted and the error
    named a 0.01 s frame hop; --duration abc said "invalid _positive_float value"."""
    with pytest.raises(SystemExit):
        cli.main(["listen", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "a multiple of 0.02" not in out and "frame hop (0.01 s for the shipped model" in out
    for bad in ("abc", "-3", "0"):
        with pytest.raises(SystemExit) as exc:
            cli.main(["listen", "--duration", bad])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "number of seconds" in err and "_positive_float" not in err, err
