"""Playing a file as it is: its own rate and channels, read in blocks ahead of the output callback.

Why: the file viewer played its 16 kHz mono analysis copy, so a 48 kHz stereo recording came out
as 16 kHz mono (issue 28, item 14).  The original is read here, never whole (an hour of 48 kHz
stereo float32 is 1.4 GB): a feeder thread keeps a few blocks (:data:`BLOCK_S` each,
:data:`AHEAD_BLOCKS` of them) in a deque, and the output callback only copies from them, as the
capture callback only copies into the ring.  A block that is late (a stalled disk) plays as
silence and is counted, never waited for in the callback.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from serlive.audio.io import AudioLoadError, audio_info

BLOCK_S = 0.1  #: seconds of audio a block holds
AHEAD_BLOCKS = 10  #: blocks kept ahead of the device (1 s)
POLL_S = 0.02  #: how often the feeder looks whether the callback took a block


class BlockReader(Protocol):
    """Where the blocks come from: an open file, or an array (the analysis copy)."""

    def read(self, frames: int) -> NDArray[np.float32]:
        """Up to ``frames`` frames as ``(frames, channels)`` float32; fewer at the end, none after it."""
        ...

    def close(self) -> None:
        """Let go of the file."""
        ...


class _FileReader:
    def __init__(self, f: sf.SoundFile) -> None:
        self.f = f

    def read(self, frames: int) -> NDArray[np.float32]:
        return self.f.read(frames, dtype="float32", always_2d=True)

    def close(self) -> None:
        self.f.close()


class _ArrayReader:
    def __init__(self, y: NDArray[np.float32], start: int) -> None:
        self.y, self.pos = y, start

    def read(self, frames: int) -> NDArray[np.float32]:
        chunk = self.y[self.pos : self.pos + frames]
        self.pos += len(chunk)
        return chunk.reshape(-1, 1)

    def close(self) -> None:
        pass


class Feeder:
    """Blocks of a file for an output stream's callback (:meth:`callback`), read by a thread of its own.

    ``position_s`` is where in the file the frames handed to the device have got to; the view takes
    the device's output latency off it for the cursor.  ``stop_exception`` is raised by the callback
    once the last frame is out (sounddevice's ``CallbackStop``).
    """

    def __init__(
        self,
        reader: BlockReader,
        rate: int,
        channels: int,
        start_frame: int,
        downmix: bool = False,
        stop_exception: type[BaseException] = StopIteration,
        end_frame: int | None = None,
    ) -> None:
        self.reader, self.rate, self.start_frame = reader, rate, start_frame
        #: play up to this frame (a selection's end); None: to the end of the file
        self.end_frame = end_frame
        self._read_pos = start_frame
        self.downmix = downmix
        self.channels = 1 if downmix else channels  #: what the stream is opened with
        self.stop_exception = stop_exception
        self.block = max(1, round(BLOCK_S * rate))
        self._blocks: deque[NDArray[np.float32] | None] = deque()
        self._cur: NDArray[np.float32] = np.zeros((0, self.channels), np.float32)
        self._off = 0
        self.played = 0  #: frames handed to the device
        self.underruns = 0  #: callbacks that found no block ready and played silence
        self.ended = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_block()  # something to play from the first callback on (a block: well under a ms)

    @classmethod
    def for_file(
        cls, path: str | Path, start_s: float, max_channels: int, end_s: float | None = None, **kw: Any
    ) -> Feeder:
        """The file at ``path`` from ``start_s`` (to ``end_s``), in mono for a device with fewer channels.

        :class:`AudioLoadError` where it cannot be read (moved, deleted, changed since it was analysed).
        """
        info = audio_info(path)
        try:
            f = sf.SoundFile(str(path))
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioLoadError(path, f"cannot be read for playback ({exc})") from None
        start = min(max(0, round(start_s * info.samplerate)), max(0, info.frames))
        try:
            f.seek(start)
        except (sf.LibsndfileError, RuntimeError) as exc:
            f.close()
            raise AudioLoadError(path, f"cannot be read for playback ({exc})") from None
        downmix = info.channels > max(1, max_channels)
        end = None if end_s is None else round(end_s * info.samplerate)
        return cls(
            _FileReader(f), int(info.samplerate), int(info.channels), start, downmix, end_frame=end, **kw
        )

    @classmethod
    def for_samples(
        cls, y: NDArray[np.float32], rate: int, start_s: float, end_s: float | None = None, **kw: Any
    ) -> Feeder:
        """Mono samples held in memory (the analysis copy, where the file itself cannot be played)."""
        start = min(max(0, round(start_s * rate)), len(y))
        end = None if end_s is None else round(end_s * rate)
        return cls(_ArrayReader(y, start), rate, 1, start, end_frame=end, **kw)

    @property
    def position_s(self) -> float:
        """Seconds into the file of the next frame to go to the device."""
        return (self.start_frame + self.played) / self.rate

    def start(self) -> None:
        """Start reading ahead on a thread."""
        self._thread = threading.Thread(target=self._run, name="serlive-playback-feeder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the file (after the stream is closed)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self.reader.close()

    def _read_block(self) -> bool:
        """Read one block into the deque; False at the end (the end marker is queued)."""
        want = self.block if self.end_frame is None else min(self.block, self.end_frame - self._read_pos)
        try:
            got = self.reader.read(want) if want > 0 else np.zeros((0, self.channels), np.float32)
        except (sf.LibsndfileError, RuntimeError, OSError):
            got = np.zeros((0, self.channels), np.float32)  # a file cut off under us: end here
        if len(got) == 0:
            self._blocks.append(None)
            return False
        self._read_pos += len(got)
        # NaN/Inf play as silence and nothing goes past full scale: a float file scaled like
        # 16-bit integers (up to 32768) would otherwise hit the speakers at full volume
        got = np.clip(np.nan_to_num(got, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)
        if self.downmix:  # after: one NaN channel would silence the other
            got = got.mean(axis=1, keepdims=True, dtype=np.float32)
        self._blocks.append(np.ascontiguousarray(got, dtype=np.float32))
        if len(got) < want or self._read_pos == self.end_frame:
            self._blocks.append(None)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            if len(self._blocks) < AHEAD_BLOCKS:
                if not self._read_block():
                    return
            else:
                self._stop.wait(POLL_S)

    def callback(self, out: NDArray[np.float32], frames: int, _time: Any, _status: Any) -> None:
        """The output stream's callback: copies the next ``frames`` frames, silence where none are ready."""
        n = 0
        while n < frames:
            if self._off >= len(self._cur):
                if not self._blocks:
                    self.underruns += 1
                    break
                nxt = self._blocks.popleft()
                if nxt is None:
                    self.ended = True
                    break
                self._cur, self._off = nxt, 0
            k = min(frames - n, len(self._cur) - self._off)
            out[n : n + k] = self._cur[self._off : self._off + k]
            self._off += k
            n += k
        out[n:] = 0
        self.played += n
        if self.ended:
            raise self.stop_exception
