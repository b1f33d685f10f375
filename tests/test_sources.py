"""Microphone and file sources against a fake sounddevice: devices, rates, callback, failures."""

from __future__ import annotations

import threading
import time
import types

import numpy as np
import pytest

from serlive.audio import sources
from serlive.audio.ring import RingBuffer
from serlive.audio.sources import (
    NO_DEVICE_MESSAGE,
    AudioDeviceError,
    DeviceUnreachableError,
    FileSource,
    MicrophoneSource,
    list_input_devices,
    load_backend,
    resolve_input_device,
)
from serlive.live.engine import Engine, StreamEnd
from tests.conftest import SR, speechlike
from tests.fake_sounddevice import FakeSoundDevice, device
from tests.test_analysis import StubModel


def backend_with(*devs: dict, default: int = 0, **kw) -> FakeSoundDevice:
    return FakeSoundDevice(list(devs), default=default, **kw)


def usual() -> FakeSoundDevice:
    return backend_with(
        device("HDA Intel PCH: ALC3246 Analog (hw:0,0)", inputs=2, outputs=2, rate=48000),
        device("HDMI 0", inputs=0, outputs=8),
        device("pulse", inputs=32, outputs=32),
        device("default", inputs=32, outputs=32),
        default=3,
    )


def wait_until(cond, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


# --- devices ------------------------------------------------------------------------------
def test_list_input_devices_skips_outputs_and_marks_the_default():
    devs = list_input_devices(usual())
    assert [d.index for d in devs] == [0, 2, 3]
    assert [d.is_default for d in devs] == [False, False, True]
    assert devs[0].channels == 2 and devs[0].default_rate == 48000 and devs[0].hostapi == "ALSA"


def test_resolve_device_by_default_index_and_name():
    sd = usual()
    assert resolve_input_device(None, sd).name == "default"
    assert resolve_input_device(2, sd).name == "pulse"
    assert resolve_input_device("2", sd).name == "pulse"
    assert resolve_input_device("PULSE", sd).index == 2  # exact name, any case
    assert resolve_input_device("alc3246", sd).index == 0  # unique substring
    with pytest.raises(AudioDeviceError, match="no input device with index 1"):
        resolve_input_device(1, sd)  # an output-only device
    with pytest.raises(AudioDeviceError, match="no input device matching 'usb'"):
        resolve_input_device("usb", sd)
    with pytest.raises(AudioDeviceError, match="several input devices"):
        resolve_input_device("a", sd)


def test_no_default_falls_back_to_the_first_input():
    sd = usual()
    sd.default.device = [-1, -1]
    assert resolve_input_device(None, sd).index == 0


def test_no_devices_is_a_clear_error():
    sd = backend_with(default=-1)
    assert list_input_devices(sd) == []
    with pytest.raises(AudioDeviceError) as exc:
        MicrophoneSource(backend=sd)
    assert str(exc.value) == NO_DEVICE_MESSAGE
    assert "\n" not in NO_DEVICE_MESSAGE


def test_missing_portaudio_library_is_a_clear_error(monkeypatch):
    def no_portaudio(name: str):
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(sources, "importlib", types.SimpleNamespace(import_module=no_portaudio))
    with pytest.raises(AudioDeviceError, match="libportaudio2"):
        load_backend()
    with pytest.raises(AudioDeviceError, match="PortAudio"):
        MicrophoneSource()


# --- settings -----------------------------------------------------------------------------
def test_model_rate_is_used_when_the_device_supports_it():
    mic = MicrophoneSource("pulse", backend=usual())
    assert (mic.sample_rate, mic.channels, mic.resampled) == (SR, 1, False)
    assert mic.blocksize == 320


def test_device_without_16k_opens_at_its_default_rate():
    sd = usual()
    sd.rates = {0: {44100, 48000}}
    mic = MicrophoneSource(0, backend=sd)
    assert mic.sample_rate == 48000 and mic.resampled
    assert mic.blocksize == 960


def test_stereo_only_device_is_averaged_in_the_callback():
    sd = usual()
    sd.channels = {0: {2}}
    sd.speed = 4.0
    sd.signal = speechlike(1.0)
    mic = MicrophoneSource(0, backend=sd)
    assert mic.channels == 2
    ring = RingBuffer(SR)
    mic.start(ring)
    assert wait_until(lambda: ring.written >= 4000)
    mic.stop()
    n = ring.written - ring.written % 320
    np.testing.assert_allclose(ring.read(0, min(n, 8000)), 0.75 * sd.signal[: min(n, 8000)], atol=1e-7)


def test_device_accepting_nothing_is_refused():
    sd = usual()
    sd.rates = {0: {8000}}
    with pytest.raises(AudioDeviceError, match="accepts neither 16000 Hz nor its default 48000 Hz"):
        MicrophoneSource(0, backend=sd)


# --- the stream ---------------------------------------------------------------------------
def test_callback_copies_blocks_exactly_and_counts_device_overflows():
    sd = usual()
    sd.signal = speechlike(2.0)
    sd.speed = 8.0
    sd.overflow_blocks = {3, 5}
    mic = MicrophoneSource("pulse", backend=sd)
    ring = RingBuffer(2 * SR)
    mic.start(ring)
    assert wait_until(lambda: ring.written >= SR)
    assert mic.stop(2.0)
    assert mic.error is None and mic.finished
    n = min(ring.written, 2 * SR)
    np.testing.assert_array_equal(ring.read(0, n), sd.signal[:n])
    assert mic.overflows == 2
    assert sd.streams[0].closed


def test_open_failure_is_a_clear_error():
    sd = usual()
    sd.open_error = "Device unavailable [PaErrorCode -9985]"
    mic = MicrophoneSource("pulse", backend=sd)
    with pytest.raises(DeviceUnreachableError) as info:  # the device, not the rate (issue 11, defect 5)
        mic.start(RingBuffer(SR))
    msg = str(info.value)
    assert msg.startswith("input device 2 (pulse) cannot be reached (PortAudio: Device unavailable")
    assert "Hz" not in msg and "Refresh" in msg


def test_stream_that_stops_by_itself_is_a_device_error_and_the_engine_restarts():
    sd = usual()
    sd.signal = speechlike(6.0)
    sd.speed = 8.0
    sd.fail_after_blocks = 200  # 4 s of audio, then the device is gone
    eng = Engine(StubModel())
    eng.start(MicrophoneSource("pulse", backend=sd))
    assert eng.wait(10)
    items = []
    while not eng.results.empty():
        items.append(eng.results.get_nowait())
    end = items[-1]
    assert isinstance(end, StreamEnd)
    assert "stopped unexpectedly" in end.error and "pulse" in end.error
    assert len(items) - 1 == 3  # windows ending at 3.0, 3.5 and 4.0 s
    assert sd.streams[0].closed
    sd.fail_after_blocks = None
    eng.start(MicrophoneSource("pulse", backend=sd))
    assert wait_until(lambda: eng.stats().windows >= 2, 10)
    assert eng.stop(2.0)
    assert eng.error is None


def test_exception_in_the_callback_aborts_with_a_message():
    class BrokenRing(RingBuffer):
        def write(self, x, t=None):
            raise MemoryError("ring gone")

    sd = usual()
    sd.speed = 8.0
    mic = MicrophoneSource("pulse", backend=sd)
    mic.start(BrokenRing(SR))
    assert wait_until(lambda: mic.finished)
    assert mic.error == "audio callback failed: ring gone"
    mic.stop()


def test_stop_is_bounded_when_closing_the_device_hangs():
    sd = usual()
    sd.hang_on_close = True
    mic = MicrophoneSource("pulse", backend=sd)
    mic.start(RingBuffer(SR))
    t0 = time.monotonic()
    assert mic.stop(0.3) is False
    assert time.monotonic() - t0 < 1.0
    # a second caller (the engine's worker) waits for the same close, bounded, and is told the truth
    t0 = time.monotonic()
    assert mic.stop(0.3) is False
    assert time.monotonic() - t0 < 1.0


def test_resampled_microphone_feeds_the_engine_at_the_model_rate():
    sd = usual()
    sd.rates = {0: {48000}}
    sd.signal = speechlike(8.0)
    sd.speed = 8.0
    eng = Engine(StubModel())
    mic = MicrophoneSource(0, backend=sd)
    eng.start(mic)
    assert wait_until(lambda: eng.stats().windows >= 4, 10)
    assert eng.stop(2.0)
    assert eng.ring is not None
    got = eng.ring.read(SR, SR)
    want = sd.signal[SR : 2 * SR]  # 16k → 48k → 16k: equal up to the filters' band edge
    assert np.corrcoef(got, want)[0, 1] > 0.999
    assert np.max(np.abs(got - want)) < 0.02
    starts = []
    while not eng.results.empty():
        item = eng.results.get_nowait()
        if not isinstance(item, StreamEnd):
            starts.append(item.start)
    assert starts[:4] == [0, 8000, 16000, 24000]


# --- file source ----------------------------------------------------------------------------
def test_file_source_real_time_pacing_and_stop():
    y = speechlike(1.0)
    src = FileSource(samples=y, speed=2.0)
    ring = RingBuffer(2 * SR)
    t0 = time.perf_counter()
    src.start(ring)
    assert wait_until(lambda: src.finished, 5)
    elapsed = time.perf_counter() - t0
    assert 0.4 < elapsed < 1.5
    np.testing.assert_array_equal(ring.read(0, SR), y)
    assert src.error is None
    loop = FileSource(samples=y, speed=4.0, loop=True)
    loop.start(ring)
    time.sleep(0.4)
    assert not loop.finished
    assert loop.stop(1.0) and loop.finished


def test_fast_file_source_waits_for_space_instead_of_overwriting():
    y = speechlike(3.0)
    src = FileSource(samples=y, realtime=False)
    ring = RingBuffer(SR)
    src.start(ring)
    assert wait_until(lambda: ring.written >= SR - 4096)
    time.sleep(0.1)
    assert ring.written <= SR and ring.overflow_samples == 0
    got = []
    pos = 0
    while pos < len(y):
        w = ring.written
        if w > pos:
            got.append(ring.read(pos, w - pos))
            pos = w
            ring.release(pos)
        elif src.finished:
            break
        time.sleep(0.005)
    np.testing.assert_array_equal(np.concatenate(got), y)
    assert ring.overflow_samples == 0


def test_threaded_source_exception_becomes_its_error():
    class Boom(sources.ThreadedSource):
        sample_rate = SR
        name = "boom device"

        def produce(self, ring, stop):
            raise OSError("I/O error")

    src = Boom()
    src.start(RingBuffer(SR))
    assert wait_until(lambda: src.finished)
    assert src.error == "boom device failed: I/O error"
    assert threading.active_count() >= 1


def test_failed_open_leaves_no_recording(tmp_path):
    sd = usual()
    sd.open_error = "Device unavailable"
    eng = Engine(StubModel(), record=tmp_path / "rec.wav")
    with pytest.raises(AudioDeviceError):
        eng.start(MicrophoneSource("pulse", backend=sd))
    assert not (tmp_path / "rec.wav").exists()
    assert not eng.running


# --- devices that come and go (issue 11, defects 4 and 5) ---------------------------------------------
def test_reinitialize_portaudio_finds_devices_that_appeared_after_start():
    """PortAudio lists what it saw when initialised: a sound server started later needs a re-init."""
    from serlive.audio.sources import reinitialize_portaudio

    sd = FakeSoundDevice([], default=-1)
    sd.rescanned = [device("pulse", inputs=32, outputs=32), device("default", inputs=32, outputs=32)]
    assert list_input_devices(sd) == []
    reinitialize_portaudio(sd)
    assert (sd.terminations, sd.initializations) == (1, 1)
    found = list_input_devices(sd)
    assert [d.name for d in found] == ["pulse", "default"] and found[1].is_default


def test_a_device_whose_server_is_gone_is_unreachable_not_a_rate_problem():
    """As PortAudio's ALSA back end answers for a PulseAudio device after the server stopped (-9993)."""
    sd = usual()
    sd.gone = True
    with pytest.raises(DeviceUnreachableError) as info:
        MicrophoneSource("pulse", backend=sd)
    msg = str(info.value)
    assert msg.startswith("input device 2 (pulse) cannot be reached (PortAudio: Illegal combination")
    assert "sound server may have stopped" in msg and "Hz" not in msg and "accepts neither" not in msg
    sd.gone = False
    sd.rates = {2: {22050}}  # a real rate refusal still says so
    with pytest.raises(AudioDeviceError, match="accepts neither 16000 Hz nor its default 44100 Hz") as info:
        MicrophoneSource("pulse", backend=sd)
    assert not isinstance(info.value, DeviceUnreachableError)
