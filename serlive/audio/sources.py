"""Audio sources behind one small interface: a microphone and a file replay.

An :class:`AudioSource` writes mono float32 samples at :attr:`sample_rate`
into a :class:`~serlive.audio.ring.RingBuffer` from its own thread (the
PortAudio callback thread, or a replay thread) until it is stopped, runs out
(:attr:`finished`) or fails (:attr:`error`, a one-line message).  It never
resamples: a microphone that cannot deliver the model's rate is opened at its
default rate and the engine's worker resamples (see :mod:`serlive.live.engine`), so
the callback stays a copy.

``sounddevice`` is imported lazily through :func:`load_backend`: it raises
``OSError`` at import when the PortAudio library is missing, and PortAudio
scans devices once, at initialisation, so file-only use never touches it.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.audio.ring import RingBuffer

NO_DEVICE_MESSAGE = (
    "no audio input device found (PortAudio sees no microphone; connect one or start a sound server)"
)


class AudioDeviceError(Exception):
    """No usable input device, or it cannot be opened; ``str()`` is a one-line explanation."""


class DeviceUnreachableError(AudioDeviceError):
    """The device is listed but PortAudio cannot reach it (sound server stopped, device unplugged).

    Its own class so a caller can look for devices again (:func:`reinitialize_portaudio`): the
    device list PortAudio keeps is the one it saw when it was initialised.
    """


#: PortAudio error codes that say "not these settings" rather than "not this device": invalid
#: channel count, invalid sample rate, sample format not supported.  Anything else from a settings
#: check or an open (ALSA's failed open of a dead PulseAudio PCM comes back as -9993, "Illegal
#: combination of I/O devices") means the device itself cannot be reached.
_SETTINGS_ERRORS = {-9998, -9997, -9994}


def portaudio_error_code(exc: BaseException) -> int | None:
    """The ``PaErrorCode`` of a PortAudio error (sounddevice puts it in ``args[1]`` and in ``str()``)."""
    args = getattr(exc, "args", ())
    if len(args) > 1 and isinstance(args[1], int):
        return args[1]
    m = re.search(r"PaErrorCode (-?\d+)", str(exc))
    return int(m.group(1)) if m else None


def _unreachable(what: str, exc: BaseException) -> DeviceUnreachableError:
    reason = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    return DeviceUnreachableError(
        f"{what} cannot be reached (PortAudio: {reason}): the sound server may have "
        "stopped, or the device been unplugged or taken by another program; look for devices again "
        "(Refresh, `serlive devices`)"
    )


def load_backend() -> ModuleType:
    """The ``sounddevice`` module, or :class:`AudioDeviceError` when PortAudio is missing."""
    try:
        return importlib.import_module("sounddevice")
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise AudioDeviceError(
            f"the PortAudio library is not installed ({exc}); install libportaudio2"
        ) from None
    except ImportError as exc:
        raise AudioDeviceError(f"the sounddevice package is not installed ({exc})") from None


# --- devices ---------------------------------------------------------------------------
@dataclass(frozen=True)
class InputDevice:
    """One capture device as PortAudio reports it."""

    index: int
    name: str
    channels: int
    default_rate: float
    hostapi: str
    is_default: bool


#: Held while PortAudio is re-initialised and around the calls that query or open devices, so a
#: re-initialisation on a helper thread (the live view's Refresh) never runs beside them: PortAudio
#: is not thread-safe across Pa_Terminate/Pa_Initialize.  Never taken in an audio callback.
PORTAUDIO_LOCK = threading.RLock()


def reinitialize_portaudio(backend: ModuleType | None = None) -> None:
    """Make PortAudio scan the devices again (what the device list's Refresh does).

    Why: PortAudio enumerates devices once, in ``Pa_Initialize`` (at ``import sounddevice``);
    a microphone plugged in or a sound server started later is invisible, and one that went
    away stays listed, until it is terminated and initialised again.  Terminating closes
    every open stream, so call this only when none is open (the live view refreshes only
    while stopped; the main window stops file playback first).  A backend without these
    hooks (a test double) is left as it is.
    """
    sd = backend or load_backend()
    terminate, initialize = getattr(sd, "_terminate", None), getattr(sd, "_initialize", None)
    if terminate is None or initialize is None:
        return
    with PORTAUDIO_LOCK:
        with contextlib.suppress(sd.PortAudioError):  # not initialised (an earlier try failed half-way)
            terminate()
        try:
            initialize()
        except sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot initialise PortAudio again ({exc})") from None


def list_input_devices(backend: ModuleType | None = None) -> list[InputDevice]:
    """Every device with input channels, the system default marked; may be empty."""
    sd = backend or load_backend()
    try:
        with PORTAUDIO_LOCK:
            devices = list(sd.query_devices())
            try:
                default_in = int(sd.default.device[0])
            except (TypeError, ValueError, IndexError):
                default_in = -1
            hostapis = [h["name"] for h in sd.query_hostapis()]
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot list audio devices ({exc})") from None
    out = []
    for i, d in enumerate(devices):
        if int(d.get("max_input_channels", 0)) <= 0:
            continue
        api = int(d.get("hostapi", -1))
        out.append(
            InputDevice(
                index=int(d.get("index", i)),
                name=str(d["name"]),
                channels=int(d["max_input_channels"]),
                default_rate=float(d.get("default_samplerate", 0.0)),
                hostapi=hostapis[api] if 0 <= api < len(hostapis) else "",
                is_default=int(d.get("index", i)) == default_in,
            )
        )
    return out


def resolve_input_device(device: int | str | None, backend: ModuleType | None = None) -> InputDevice:
    """Pick an input device by index, by (part of) its name, or the default when None.

    Name matching is case-insensitive; an exact name wins over substrings, and
    a substring that matches several devices is an error that lists them
    (guessing would record from the wrong microphone).
    """
    devices = list_input_devices(backend)
    if not devices:
        raise AudioDeviceError(NO_DEVICE_MESSAGE)
    if device is None or (isinstance(device, str) and not device.strip()):
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(device, int) or device.strip().lstrip("-").isdigit():
        idx = int(device)
        for d in devices:
            if d.index == idx:
                return d
        raise AudioDeviceError(f"no input device with index {idx} (see `serlive devices`)")
    want = device.strip().lower()
    exact = [d for d in devices if d.name.lower() == want]
    if exact:
        return exact[0]
    partial = [d for d in devices if want in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise AudioDeviceError(f"no input device matching {device!r} (see `serlive devices`)")
    names = ", ".join(f"{d.index}: {d.name}" for d in partial)
    raise AudioDeviceError(f"{device!r} matches several input devices ({names}); pass the index")


# --- the interface -----------------------------------------------------------------------
class AudioSource(ABC):
    """Something that writes mono float32 samples into a ring buffer from its own thread.

    ``realtime`` says whether samples arrive on a clock (a microphone, a
    paced replay): the engine then keeps only the newest window when it falls
    behind and watches for a stalled device.  A source that is not realtime
    waits for ring space instead of overwriting, so every window is analysed.
    """

    sample_rate: int
    realtime: bool = True
    name: str = "audio source"

    def __init__(self) -> None:
        self._error: str | None = None
        self._finished = False
        self._ring: RingBuffer | None = None

    @abstractmethod
    def start(self, ring: RingBuffer) -> None:
        """Begin writing into ``ring``; raises :class:`AudioDeviceError` when it cannot."""

    @abstractmethod
    def stop(self, timeout: float = 2.0) -> bool:
        """Stop writing; returns within about ``timeout`` s, True when it really stopped.

        Idempotent and callable from any thread.
        """

    @property
    def error(self) -> str | None:
        """Why the source ended on its own, as one line; None while healthy."""
        return self._error

    @property
    def finished(self) -> bool:
        """No more samples will come (end of file, error, or stopped)."""
        return self._finished

    @property
    def overflows(self) -> int:
        """Blocks the device itself reported as overflowed (audio lost before us)."""
        return 0

    def _fail(self, message: str) -> None:
        """Record the first error and wake the consumer; safe from any thread."""
        if self._error is None:
            self._error = message
        self._finished = True
        if self._ring is not None:
            self._ring.wake()


class ThreadedSource(AudioSource):
    """A source driven by a plain Python thread running :meth:`produce`.

    An exception in :meth:`produce` becomes :attr:`error` (a device error
    mid-stream, as the engine sees it), never an unhandled thread traceback.
    """

    def __init__(self) -> None:
        super().__init__()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()

    def start(self, ring: RingBuffer) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"{self.name} is already running")
        self._ring = ring
        self._error = None
        self._finished = False
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"serlive-{type(self).__name__}", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        assert self._ring is not None
        try:
            self.produce(self._ring, self._stop_event)
        except Exception as exc:
            self._fail(f"{self.name} failed: {exc or type(exc).__name__}")
        finally:
            self._finished = True
            self._ring.wake()

    @abstractmethod
    def produce(self, ring: RingBuffer, stop: threading.Event) -> None:
        """Write samples until done or until ``stop`` is set."""

    def stop(self, timeout: float = 2.0) -> bool:
        self._stop_event.set()
        t = self._thread
        if t is None or t is threading.current_thread():
            return True
        t.join(timeout)
        return not t.is_alive()


class FileSource(ThreadedSource):
    """Replays audio as if it were a microphone: in real time (optionally sped up) or as fast as possible.

    Loads ``path`` with :func:`serlive.audio.io.load_audio` at ``sample_rate``
    (the same samples ``serlive predict`` analyses, which is what makes the
    stream/file parity exact), or takes ``samples`` already at ``sample_rate``.
    Real-time blocks are due on an absolute schedule (no drift from sleep
    overshoot); as-fast-as-possible replay waits for ring space instead of
    overwriting, so the consumer sees every sample.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        samples: NDArray[np.floating] | None = None,
        sample_rate: int = 16000,
        realtime: bool = True,
        speed: float = 1.0,
        block_s: float = 0.02,
        loop: bool = False,
    ) -> None:
        super().__init__()
        if (path is None) == (samples is None):
            raise ValueError("give exactly one of path or samples")
        if speed <= 0 or block_s <= 0:
            raise ValueError("speed and block_s must be positive")
        if samples is None:
            from serlive.audio.io import load_audio

            samples = load_audio(path, sample_rate)  # type: ignore[arg-type]
            self.name = f"file {path}"
        else:
            self.name = "sample array"
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self.samples.ndim != 1:
            raise ValueError("samples must be mono (1-D)")
        self.sample_rate = int(sample_rate)
        self.realtime = realtime
        self.speed = float(speed)
        self.block = max(1, round(block_s * self.sample_rate)) if realtime else 4096
        self.loop = loop

    def produce(self, ring: RingBuffer, stop: threading.Event) -> None:
        y, block, n = self.samples, self.block, len(self.samples)
        rate = self.sample_rate * self.speed
        t0 = time.perf_counter()
        pos = total = 0
        while not stop.is_set():
            if pos >= n:
                if not self.loop or n == 0:
                    return
                pos = 0
            chunk = y[pos : pos + block]
            if self.realtime:
                # a block is "captured" once its last sample has been played
                delay = t0 + (total + len(chunk)) / rate - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    return
            else:
                while ring.space() < len(chunk):
                    if stop.wait(0.002):
                        return
            ring.write(chunk)
            pos += len(chunk)
            total += len(chunk)


class MicrophoneSource(AudioSource):
    """A sounddevice ``InputStream`` whose callback only copies into the ring.

    The device is resolved when the source is made (index, name or default),
    so a bad ``--device`` fails before anything starts.  The stream is opened
    at ``sample_rate`` when the device supports it, else at the device's
    default rate (:attr:`sample_rate` then says which; the engine resamples).
    Mono is asked for; a device that only offers two channels is averaged
    into a preallocated scratch buffer.

    The callback: copy (or average) into the ring, count device overflows,
    nothing else; no logging, no locks, no allocation beyond a slice view.
    ``finished_callback`` firing when we did not ask to stop (device
    unplugged, sound server gone) becomes :attr:`error`.
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int = 16000,
        block_s: float = 0.02,
        backend: ModuleType | None = None,
    ) -> None:
        super().__init__()
        self._sd = backend or load_backend()
        #: how much faster than real time the backend delivers: 1 for sounddevice; a test double may
        #: declare more, and the engine's check for stale audio at Start allows for it
        self.speed = float(getattr(self._sd, "speed", 1.0))
        self.device = resolve_input_device(device, self._sd)
        self.name = self.device.name
        self.requested_rate = int(sample_rate)
        self.channels, self.sample_rate = self._choose_settings()
        self.blocksize = max(1, round(block_s * self.sample_rate))
        self._mix = np.zeros(max(self.blocksize, 8192), dtype=np.float32)
        self._stream: Any = None
        self._lock = threading.Lock()  # guards _stream between stop() callers, never the callback
        self._closer: threading.Thread | None = None  # the thread closing the last stream
        self._stopping = False
        self._overflows = 0

    @property
    def resampled(self) -> bool:
        """True when the device runs at a rate other than the one asked for."""
        return self.sample_rate != self.requested_rate

    @property
    def overflows(self) -> int:
        return self._overflows

    def _choose_settings(self) -> tuple[int, int]:
        sd, d = self._sd, self.device
        channel_options = [1] if d.channels < 2 else [1, 2]
        rates = [self.requested_rate]
        default = round(d.default_rate)
        if default > 0 and default != self.requested_rate:
            rates.append(default)
        unreachable: BaseException | None = None
        for rate in rates:
            for ch in channel_options:
                try:
                    with PORTAUDIO_LOCK:
                        sd.check_input_settings(device=d.index, channels=ch, dtype="float32", samplerate=rate)
                except sd.PortAudioError as exc:
                    if portaudio_error_code(exc) not in _SETTINGS_ERRORS:
                        unreachable = unreachable or exc
                    continue
                except ValueError:
                    continue
                return ch, rate
        if unreachable is not None:  # not a rate the device refuses: the device itself is not there
            raise _unreachable(f"input device {d.index} ({d.name})", unreachable)
        raise AudioDeviceError(
            f"input device {d.name!r} accepts neither {self.requested_rate} Hz nor its default "
            f"{default} Hz as float32 mono/stereo"
        )

    def start(self, ring: RingBuffer) -> None:
        sd = self._sd
        with self._lock:
            if self._stream is not None:
                raise RuntimeError(f"{self.name} is already running")
            self._ring = ring
            self._error = None
            self._finished = False
            self._stopping = False
            self._overflows = 0
            stream = None
            try:
                with PORTAUDIO_LOCK:
                    stream = sd.InputStream(
                        device=self.device.index,
                        samplerate=self.sample_rate,
                        channels=self.channels,
                        dtype="float32",
                        blocksize=self.blocksize,
                        callback=self._callback,
                        finished_callback=self._on_finished,
                    )
                    stream.start()
            except (sd.PortAudioError, ValueError) as exc:
                self._stopping = True
                if stream is not None:
                    stream.close(ignore_errors=True)
                if isinstance(exc, sd.PortAudioError) and portaudio_error_code(exc) not in _SETTINGS_ERRORS:
                    raise _unreachable(f"input device {self.device.index} ({self.name})", exc) from None
                raise AudioDeviceError(
                    f"cannot open input device {self.device.index} ({self.name}) at "
                    f"{self.sample_rate} Hz: {exc}"
                ) from None
            self._stream = stream

    def _callback(self, indata: NDArray[np.float32], frames: int, time_info: Any, status: Any) -> None:
        try:
            if status.input_overflow:
                self._overflows += 1
            ring = self._ring
            assert ring is not None
            if self.channels == 1:
                ring.write(indata[:, 0])
            else:
                mix = self._mix[:frames] if frames <= len(self._mix) else np.empty(frames, np.float32)
                np.mean(indata, axis=1, out=mix)
                ring.write(mix)
        except Exception as exc:
            self._fail(f"audio callback failed: {exc or type(exc).__name__}")
            raise self._sd.CallbackAbort from None

    def _on_finished(self) -> None:
        if not self._stopping:
            self._fail(
                f"the audio input {self.name!r} stopped unexpectedly (device unplugged or sound server gone?)"
            )
        self._finished = True
        if self._ring is not None:
            self._ring.wake()

    def stop(self, timeout: float = 2.0) -> bool:
        """Abort and close the stream in a helper thread, waiting at most ``timeout`` s.

        PortAudio's stop can hang on a broken device (see docs: a pipe source
        with no writer never returns); a daemon thread keeps that from hanging
        the app.
        """
        with self._lock:
            self._stopping = True
            stream, self._stream = self._stream, None
            if stream is not None:

                def close() -> None:
                    stream.abort(ignore_errors=True)
                    stream.close(ignore_errors=True)

                self._closer = threading.Thread(target=close, name="serlive-mic-close", daemon=True)
                self._closer.start()
            # a second caller (the engine's worker after stop()) waits for the same close: only then
            # has the callback written its last block, and the recording can take every sample
            closer = self._closer
        self._finished = True
        if closer is None or closer is threading.current_thread():
            return True
        closer.join(timeout)
        return not closer.is_alive()
