"""A preallocated single-producer/single-consumer ring buffer of mono float32 samples.

The producer is an audio callback (or a file replay thread); it must never
block, allocate more than a slice view, or wait for a lock the reader holds.
So the buffer is lock-free:

* Every sample has an absolute index (``0, 1, 2, ...`` since the stream
  started).  The producer publishes progress through two counters that only
  grow: ``_claim`` (set *before* it copies a block: the slots of samples
  older than ``_claim - capacity`` are being overwritten) and ``_written``
  (set *after* the copy: samples below it are complete).  A reader copies
  first and checks ``_claim`` afterwards, seqlock style, so a window that the
  producer overwrote while it was being copied is reported as lost (``None``)
  instead of being returned torn.  Under CPython each counter store is a single
  atomic reference store; numpy may drop the GIL while copying, which is
  exactly the case the claim check covers.
* The consumer (the engine worker) publishes how far it has read with
  :meth:`release`.  When a write would overwrite unread samples the producer
  still writes (live audio wants the newest samples, and waiting in an audio
  callback is not an option) but counts the overwritten samples as an overflow.
* Each write also records ``(end index, arrival time)`` in a small stamp ring,
  so the engine can say when any sample arrived (decision latency is measured
  from the arrival of a window's last sample).
* The consumer can sleep until a given sample index has arrived
  (:meth:`wait_for`): the producer sets a :class:`threading.Event` only when it
  crosses the index the consumer asked for, i.e. about once per window hop,
  not on every block.  ``Event.set`` takes the event's internal lock for a few
  instructions; the consumer never holds it while working.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]

#: Index larger than any stream will reach; "wake me for nothing".
_NEVER = 1 << 62


class RingBuffer:
    """Fixed-size ring of float32 samples addressed by absolute sample index."""

    def __init__(self, capacity: int, n_stamps: int = 1024) -> None:
        if capacity <= 0:
            raise ValueError("ring capacity must be positive")
        self.capacity = int(capacity)
        # np.full writes every page now; np.zeros would map them lazily and the audio
        # callback would take a page fault every 4 KiB during the first pass round the ring
        self._buf = np.full(self.capacity, 0.0, dtype=np.float32)
        self._claim = 0
        self._written = 0
        self._released = 0
        self._overflow_samples = 0
        self._overflow_events = 0
        self._lost_upto = 0  # samples below this index were already counted as overwritten
        self._n_stamps = 0
        self._stamp_end = np.zeros(n_stamps, dtype=np.int64)
        self._stamp_time = np.zeros(n_stamps, dtype=np.float64)
        self._last_write_time: float | None = None
        self._wake_at = _NEVER
        self._event = threading.Event()

    # --- producer side ---------------------------------------------------------
    def write(self, x: FloatArray, t: float | None = None) -> None:
        """Append samples; never blocks, never allocates beyond slice views.

        ``t`` is the arrival time (``time.perf_counter()``); taken here when
        not given.  Samples the consumer had not released yet and that this
        write overwrites are counted in :attr:`overflow_samples`.
        """
        n = len(x)
        if n == 0:
            return
        if t is None:
            t = time.perf_counter()
        cap = self.capacity
        w = self._written
        if n > cap:  # only the newest capacity samples can be kept
            x = x[n - cap :]
            skipped = n - cap
        else:
            skipped = 0
        m = n - skipped
        # unread samples this write overwrites, each counted once however long the consumer stays behind
        oldest_kept = w + n - cap
        lost = oldest_kept - max(self._released, self._lost_upto)
        if lost > 0:
            self._overflow_samples += lost
            self._overflow_events += 1
            self._lost_upto = oldest_kept
        w += skipped
        self._claim = w + m
        i = w % cap
        k = cap - i
        if k >= m:
            self._buf[i : i + m] = x
        else:
            self._buf[i:] = x[:k]
            self._buf[: m - k] = x[k:]
        s = self._n_stamps % len(self._stamp_end)
        self._stamp_time[s] = t  # time before end: a reader that sees the end sees its time
        self._stamp_end[s] = w + m
        self._n_stamps += 1
        self._last_write_time = t
        self._written = w + m
        if w + m >= self._wake_at and not self._event.is_set():
            self._event.set()

    # --- counters ----------------------------------------------------------------
    @property
    def written(self) -> int:
        """Samples written since the stream started (the next sample's index)."""
        return self._written

    @property
    def oldest(self) -> int:
        """Index of the oldest sample still held."""
        return max(0, self._written - self.capacity)

    @property
    def released(self) -> int:
        """How far the consumer has said it is done reading."""
        return self._released

    @property
    def overflow_samples(self) -> int:
        """Unread samples overwritten because the consumer fell behind."""
        return self._overflow_samples

    @property
    def overflow_events(self) -> int:
        """Writes that overwrote unread samples."""
        return self._overflow_events

    @property
    def last_write_time(self) -> float | None:
        """``perf_counter`` time of the latest write, or None before the first."""
        return self._last_write_time

    def space(self) -> int:
        """Samples that can be written before unread samples get overwritten."""
        return self.capacity - (self._written - self._released)

    # --- consumer side ---------------------------------------------------------
    def release(self, upto: int) -> None:
        """Consumer: samples below ``upto`` may be overwritten without counting an overflow."""
        if upto > self._released:
            self._released = min(int(upto), self._written)

    def read(self, start: int, n: int, out: FloatArray | None = None) -> FloatArray | None:
        """Copy of samples ``[start, start+n)``, or None when (part of) them was overwritten.

        Raises ``ValueError`` for samples that have not arrived yet: asking
        for the future is a caller bug, losing the past is a normal event.
        """
        if n < 0 or start < 0:
            raise ValueError("negative start or length")
        if n > self.capacity:
            raise ValueError(f"cannot read {n} samples from a ring of {self.capacity}")
        w = self._written
        if start + n > w:
            raise ValueError(f"samples [{start}, {start + n}) not written yet (written: {w})")
        cap = self.capacity
        if start < w - cap:
            return None
        dst = np.empty(n, dtype=np.float32) if out is None else out[:n]
        i = start % cap
        k = cap - i
        if k >= n:
            dst[:] = self._buf[i : i + n]
        else:
            dst[:k] = self._buf[i:]
            dst[k:] = self._buf[: n - k]
        if start < self._claim - cap:  # the producer got there while we copied
            return None
        return dst

    def latest(self, n: int) -> tuple[int, FloatArray]:
        """The newest ``min(n, available)`` samples and the absolute index of the first.

        For drawing a waveform: retries when the producer laps the copy.
        """
        n = min(int(n), self.capacity)
        for _ in range(8):
            w = self._written
            m = min(n, w)
            start = w - m
            data = self.read(start, m)
            if data is not None:
                return start, data
        # the producer is lapping us continuously (ring far too small): give the newest we can
        w = self._written
        m = min(n, w, self.capacity // 2)
        data = self.read(w - m, m)
        return (w - m, data) if data is not None else (w, np.zeros(0, np.float32))

    def arrival_time(self, index: int) -> float | None:
        """``perf_counter`` time at which sample ``index`` arrived, or None when not known.

        The stamp ring holds the last ``n_stamps`` writes; the sample arrived
        with the first write whose end index is above it.
        """
        count = min(self._n_stamps, len(self._stamp_end))
        if count == 0 or index >= self._written:
            return None
        ends = self._stamp_end[:count]
        cand = np.where(ends > index, ends, _NEVER)
        k = int(np.argmin(cand))
        if cand[k] == _NEVER:
            return None
        if self._n_stamps > len(self._stamp_end) and cand[k] == ends.min():
            return None  # the oldest stamp held: the block before it (where it starts) is forgotten
        t = float(self._stamp_time[k])
        # a stamp overwritten between the two loads would carry a later end
        return t if int(self._stamp_end[k]) == int(cand[k]) else None

    def wait_for(self, index: int, timeout: float) -> bool:
        """Consumer: sleep until sample ``index - 1`` has arrived, :meth:`wake` or ``timeout``.

        Returns True when the samples are there.  The order (clear, publish
        the threshold, re-check) makes a write that races with this call
        either seen by the re-check or wake the event.
        """
        self._event.clear()
        self._wake_at = int(index)
        if self._written >= index:
            self._wake_at = _NEVER
            return True
        self._event.wait(timeout)
        self._wake_at = _NEVER
        return self._written >= index

    def wake(self) -> None:
        """Wake a consumer sleeping in :meth:`wait_for` (stop, error, end of stream)."""
        self._event.set()
