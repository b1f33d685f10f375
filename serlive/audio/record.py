"""Lossless streaming recorder whose file stays valid if the process is killed.

Why a hand-written WAV writer instead of ``soundfile``: a WAV header holds the
data size, and libsndfile writes the real size only on close, so a killed
process leaves a header that says "no samples".  Here samples go straight to
the file descriptor (the kernel page cache, which outlives the process), and
the header's RIFF, ``fact`` and ``data`` sizes are rewritten in place every
``flush_interval_s`` (default 0.5 s) and on close.  After a ``SIGKILL`` the
file opens with every sample written up to the last header update; samples
written after it sit past the ``data`` chunk and are ignored by readers.
(``fsync`` is not called: the file survives the process, not a power cut.)

The format is 32-bit IEEE float WAV: the engine's samples are float32, so this
is bit-exact (16-bit PCM would round a 24-bit or resampled capture).  The RIFF
size field limits a file to 4 GiB, about 18 h of 16 kHz mono; the recorder
stops writing at that point and says so in :attr:`WavRecorder.truncated`.

A recorder never overwrites a file: it creates its file with ``O_EXCL``, so a
take cannot replace an earlier one even if the file appears between a check
and the open.  ``numbered=True`` (the desktop app, an engine started several
times) moves on to ``take-2.wav``, ``take-3.wav``, ... and :attr:`WavRecorder.path`
says which file was used; otherwise an existing file is a :class:`RecordError`
(``serlive listen --record``: a script gets exactly the file it named, or an error).
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: Header: RIFF(12) + fmt chunk(8+18) + fact chunk(8+4) + data chunk header(8).
_HEADER_SIZE = 12 + 26 + 12 + 8
_MAX_DATA = 0xFFFFFFFF - _HEADER_SIZE
_WAVE_FORMAT_IEEE_FLOAT = 3
DEFAULT_FLUSH_INTERVAL_S = 0.5
#: Highest take number tried before giving up (a folder holding take-2 ... take-9999 is a mistake).
MAX_TAKE = 9999


class RecordError(OSError):
    """The recording file cannot be created or written; ``str()`` says which and why."""


def _header(sample_rate: int, channels: int, n_frames: int) -> bytes:
    data_bytes = n_frames * channels * 4
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", _HEADER_SIZE - 8 + data_bytes),
            b"WAVE",
            b"fmt ",
            struct.pack(
                "<IHHIIHHH",
                18,
                _WAVE_FORMAT_IEEE_FLOAT,
                channels,
                sample_rate,
                sample_rate * channels * 4,
                channels * 4,
                32,
                0,  # cbSize: no extension
            ),
            b"fact",
            struct.pack("<II", 4, n_frames),
            b"data",
            struct.pack("<I", data_bytes),
        )
    )


def take_path(path: str | Path, n: int) -> Path:
    """Take ``n`` of a recording named ``path``: take 1 is ``path`` itself, take 2 ``stem-2.wav``, ..."""
    p = Path(path)
    return p if n <= 1 else p.with_name(f"{p.stem}-{n}{p.suffix}")


def next_free_path(path: str | Path) -> Path:
    """The first take of ``path`` that does not exist yet (for messages; the recorder itself claims
    its file atomically, so this is only a suggestion)."""
    for n in range(1, MAX_TAKE + 1):
        p = take_path(path, n)
        if not os.path.lexists(p):
            return p
    return take_path(path, MAX_TAKE + 1)


class WavRecorder:
    """Appends mono float32 samples to a new WAV file, keeping the header current.

    The file must not exist: with ``numbered=False`` an existing file raises
    :class:`RecordError`; with ``numbered=True`` the next free take
    (``stem-2.wav``, ``stem-3.wav``, ...) is created instead and
    :attr:`path` is the file really written.  ``requested_path`` keeps what
    the caller asked for.

    ``on_flush(n_samples)`` (optional) is called after each header update with
    the number of samples the file now declares; tests use it to know what a
    killed process must have left behind.
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        on_flush: Callable[[int], None] | None = None,
        *,
        numbered: bool = False,
    ) -> None:
        self.requested_path = Path(path)
        self.path = self.requested_path
        if self.path.suffix.lower() != ".wav":
            raise RecordError(f"{self.path}: recordings are written as .wav (float32, lossless)")
        self.sample_rate = int(sample_rate)
        self.flush_interval_s = float(flush_interval_s)
        self.on_flush = on_flush
        self.frames_written = 0
        self.frames_declared = 0
        self.truncated = False
        self._fd: int | None = self._create(numbered)
        try:
            self._write_all(_header(self.sample_rate, 1, 0))
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            self.path.unlink(missing_ok=True)  # ours: created a moment ago
            raise RecordError(f"{self.path}: cannot write recording ({exc.strerror or exc})") from None
        self._last_flush = time.monotonic()

    def _create(self, numbered: bool) -> int:
        """Create the file exclusively (``O_EXCL``: never truncate a file, even one that appeared
        a moment ago), trying the next take when ``numbered``."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        for n in range(1, (MAX_TAKE if numbered else 1) + 1):
            p = take_path(self.requested_path, n)
            try:
                fd = os.open(p, flags, 0o644)
            except FileExistsError:
                continue
            except OSError as exc:
                raise RecordError(f"{p}: cannot write recording ({exc.strerror or exc})") from None
            self.path = p
            return fd
        if numbered:
            raise RecordError(f"{self.requested_path}: takes 1 to {MAX_TAKE} all exist; choose another name")
        raise RecordError(
            f"{self.requested_path}: already exists and is not overwritten; choose another name "
            f"(e.g. {next_free_path(self.requested_path).name})"
        )

    def _write_all(self, data: bytes | memoryview) -> None:
        assert self._fd is not None
        view = memoryview(data).cast("B")
        while len(view):
            n = os.write(self._fd, view)
            view = view[n:]

    def write(self, samples: NDArray[np.float32]) -> None:
        """Append samples; rewrites the header when the flush interval has passed."""
        if self._fd is None:
            raise RecordError(f"{self.path}: recorder is closed")
        x = np.ascontiguousarray(samples, dtype="<f4")
        room = (_MAX_DATA - self.frames_written * 4) // 4
        if len(x) > room:
            x = x[:room]
            self.truncated = True
        if len(x):
            try:
                self._write_all(memoryview(x))
            except OSError as exc:
                raise RecordError(f"{self.path}: cannot write recording ({exc.strerror or exc})") from None
            self.frames_written += len(x)
        if time.monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        """Make the header declare every sample written so far."""
        if self._fd is None or self.frames_declared == self.frames_written:
            self._last_flush = time.monotonic()
            return
        try:
            os.pwrite(self._fd, _header(self.sample_rate, 1, self.frames_written), 0)
        except OSError as exc:
            raise RecordError(f"{self.path}: cannot update the WAV header ({exc.strerror or exc})") from None
        self.frames_declared = self.frames_written
        self._last_flush = time.monotonic()
        if self.on_flush is not None:
            self.on_flush(self.frames_declared)

    def close(self) -> None:
        """Final header update and close; safe to call twice."""
        if self._fd is None:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._fd is None

    def __enter__(self) -> WavRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
