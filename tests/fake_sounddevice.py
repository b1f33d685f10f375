"""A stand-in for the ``sounddevice`` module: devices, settings checks, an InputStream and an OutputStream.

The stream calls its callback from a thread with ``(blocksize, channels)``
float32 blocks of a given signal, paced ``speed`` times faster than real
time, and can simulate the failures a real device shows: a stream that stops
on its own (device unplugged), overflow flags, a close that never returns,
an open that fails.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class PortAudioError(Exception):
    pass


class CallbackAbort(Exception):  # sounddevice's name
    pass


class CallbackStop(Exception):  # sounddevice's name
    pass


class CallbackFlags:
    def __init__(self, input_overflow: bool = False) -> None:
        self.input_overflow = input_overflow


class _Default:
    def __init__(self) -> None:
        self.device = [-1, -1]


class FakeInputStream:
    def __init__(
        self,
        backend: FakeSoundDevice,
        device: int,
        samplerate: float,
        channels: int,
        dtype: str,
        blocksize: int,
        callback: Any,
        finished_callback: Any,
    ) -> None:
        if backend.open_error:
            raise PortAudioError(backend.open_error)
        if backend.gone:
            raise PortAudioError("Error opening InputStream: Illegal combination of I/O devices", -9993)
        backend.check_input_settings(device=device, channels=channels, dtype=dtype, samplerate=samplerate)
        self.backend = backend
        self.device = device
        self.samplerate = samplerate
        self.channels = channels
        self.blocksize = blocksize
        self.callback = callback
        self.finished_callback = finished_callback
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished_called = False
        self.closed = False
        self.delivered = 0  #: frames handed to the callback (what the app captured)
        backend.streams.append(self)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _finish(self) -> None:
        if not self._finished_called:
            self._finished_called = True
            self.finished_callback()

    def _run(self) -> None:
        b = self.backend
        sig = b.signal_for(self.samplerate, self.channels)
        pos = 0
        blocks = 0
        period = self.blocksize / self.samplerate / b.speed
        while not self._stop.wait(period):
            if b.fail_after_blocks is not None and blocks >= b.fail_after_blocks:
                self._finish()  # the device went away: PortAudio ends the stream on its own
                return
            if pos + self.blocksize > len(sig):
                pos = 0 if b.loop else pos
                if not b.loop:
                    continue  # silence of the end: keep the clock running, deliver nothing
            block = sig[pos : pos + self.blocksize]
            pos += self.blocksize
            flags = CallbackFlags(input_overflow=blocks in b.overflow_blocks)
            try:
                self.callback(block, self.blocksize, None, flags)
            except CallbackAbort:
                self._finish()
                return
            self.delivered += len(block)
            blocks += 1

    def abort(self, ignore_errors: bool = True) -> None:
        if self.backend.hang_on_close:
            threading.Event().wait()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        self._finish()

    def close(self, ignore_errors: bool = True) -> None:
        self.abort()
        self.closed = True


class FakeOutputStream:
    """An output stream that asks its callback for ``blocksize`` frames at a time on a thread and keeps
    what it was given (``played``, ``(frames, channels)``), ``speed`` times faster than real time."""

    def __init__(
        self,
        backend: FakeSoundDevice,
        samplerate: float,
        channels: int,
        dtype: str,
        callback: Any,
        **_kw: Any,
    ) -> None:
        if backend.output_rates is not None and int(samplerate) not in backend.output_rates:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")
        self.backend, self.samplerate, self.channels, self.dtype = backend, samplerate, channels, dtype
        self.callback = callback
        self.blocksize = 1024
        self.latency = 0.0
        self.blocks: list[np.ndarray] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = False
        self.closed = False
        backend.outputs.append(self)

    @property
    def played(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros((0, self.channels), np.float32)

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = self.blocksize / self.samplerate / self.backend.speed
        while not self._stop.wait(period):
            out = np.full((self.blocksize, self.channels), np.nan, np.float32)  # the callback must fill it
            try:
                self.callback(out, self.blocksize, None, None)
            except CallbackStop:
                self.blocks.append(out)
                break
            self.blocks.append(out)
        self.active = False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.active = False

    def close(self) -> None:
        self.stop()
        self.closed = True


class FakeSoundDevice:
    """Module-like object; attributes are what ``serlive.audio.sources`` uses."""

    PortAudioError = PortAudioError
    CallbackAbort = CallbackAbort
    CallbackStop = CallbackStop

    def __init__(
        self,
        devices: list[dict[str, Any]] | None = None,
        default: int = -1,
        rates: dict[int, set[int]] | None = None,
        channels: dict[int, set[int]] | None = None,
    ) -> None:
        self.devices = devices if devices is not None else []
        self.default = _Default()
        self.default.device = [default, default]
        self.rates = rates or {}
        self.channels = channels or {}
        self.signal: np.ndarray = np.zeros(16000, np.float32)
        self.signal_rate = 16000
        self.speed = 1.0
        self.loop = True
        self.fail_after_blocks: int | None = None
        self.overflow_blocks: set[int] = set()
        self.hang_on_close = False
        self.open_error: str | None = None
        self.streams: list[FakeInputStream] = []
        self.outputs: list[FakeOutputStream] = []
        #: the rates an output stream opens at (None: any)
        self.output_rates: set[int] | None = None
        #: the sound server went away: settings checks and opens fail as PortAudio's ALSA back end does
        self.gone = False
        #: what a re-initialised PortAudio finds (None: the same devices); PortAudio scans only at init
        self.rescanned: list[dict[str, Any]] | None = None
        self.initializations = 0
        self.terminations = 0

    def _terminate(self) -> None:  # sounddevice's private names, which serlive uses to rescan
        self.terminations += 1

    def _initialize(self) -> None:
        self.initializations += 1
        if self.rescanned is not None:
            self.devices, self.rescanned = self.rescanned, None
            self.default.device = [len(self.devices) - 1 if self.devices else -1] * 2

    def query_devices(self, device: Any = None, kind: str | None = None) -> Any:
        if kind == "output":  # the first device with outputs stands for the default output
            for i, d in enumerate(self.devices):
                if d["max_output_channels"] > 0:
                    return dict(d, index=i)
            raise PortAudioError("No output device")
        return [dict(d, index=i) for i, d in enumerate(self.devices)]

    def query_hostapis(self) -> list[dict[str, Any]]:
        return [{"name": "ALSA"}, {"name": "OSS"}]

    def check_input_settings(self, device: int, channels: int, dtype: str, samplerate: float) -> None:
        if self.gone:
            raise PortAudioError("Illegal combination of I/O devices", -9993)
        d = self.devices[device]
        if channels > d["max_input_channels"] or channels not in self.channels.get(device, {1, 2}):
            raise PortAudioError(f"Invalid number of channels [PaErrorCode -9998] {channels}")
        ok = self.rates.get(device)
        if ok is not None and int(samplerate) not in ok:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    def InputStream(self, **kw: Any) -> FakeInputStream:  # sounddevice's name
        return FakeInputStream(self, **kw)

    def OutputStream(self, **kw: Any) -> FakeOutputStream:  # sounddevice's name
        return FakeOutputStream(self, **kw)

    def signal_for(self, rate: float, channels: int) -> np.ndarray:
        import soxr

        y = self.signal
        if int(rate) != self.signal_rate:
            y = soxr.resample(y, self.signal_rate, int(rate)).astype(np.float32)
        if channels == 1:
            return y[:, None].copy()
        return np.stack([y, 0.5 * y] + [y] * (channels - 2), axis=1).astype(np.float32)


def device(name: str, inputs: int = 2, outputs: int = 0, rate: float = 44100.0, hostapi: int = 0) -> dict:
    return {
        "name": name,
        "max_input_channels": inputs,
        "max_output_channels": outputs,
        "default_samplerate": rate,
        "hostapi": hostapi,
    }
