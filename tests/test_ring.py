"""Ring buffer: wrap-around, overflow counting, reads by absolute index, latest N, stamps, waking."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from serlive.audio.ring import RingBuffer


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose value is their absolute index, so any misplaced sample shows."""
    return np.arange(start, start + n, dtype=np.float32)


def test_write_and_read_by_absolute_index():
    r = RingBuffer(10)
    r.write(ramp(0, 4))
    assert r.written == 4 and r.oldest == 0
    np.testing.assert_array_equal(r.read(1, 3), [1, 2, 3])
    np.testing.assert_array_equal(r.read(0, 0), [])
    with pytest.raises(ValueError, match="not written yet"):
        r.read(2, 3)
    with pytest.raises(ValueError):
        r.read(-1, 2)


def test_wrap_around_keeps_every_index_in_place():
    r = RingBuffer(10)
    for start in range(0, 95, 7):  # blocks that straddle the end of the buffer
        r.write(ramp(start, 7))
        r.release(r.written)
    assert r.written == 98
    assert r.oldest == 88
    np.testing.assert_array_equal(r.read(88, 10), ramp(88, 10))
    np.testing.assert_array_equal(r.read(95, 3), ramp(95, 3))
    assert r.overflow_samples == 0


def test_overwritten_window_reads_as_none():
    r = RingBuffer(10)
    r.write(ramp(0, 25))
    assert r.read(14, 2) is None  # gone: only 15..24 are held
    assert r.read(0, 10) is None
    np.testing.assert_array_equal(r.read(15, 10), ramp(15, 10))


def test_overflow_counts_unread_samples_and_never_blocks():
    r = RingBuffer(10)
    r.write(ramp(0, 8))
    assert r.space() == 2
    r.write(ramp(8, 5))  # 3 unread samples overwritten
    assert r.overflow_samples == 3 and r.overflow_events == 1
    r.release(13)
    assert r.space() == 10
    r.write(ramp(13, 10))
    assert r.overflow_samples == 3  # everything overwritten was released
    r.write(ramp(23, 4))
    assert r.overflow_samples == 7 and r.overflow_events == 2


def test_a_consumer_that_stays_behind_loses_each_sample_once():
    """A stalled consumer (nothing released for many writes) loses what was overwritten, counted once:
    the count once grew with every write by everything still unread (4e9 "dropped" of 9.6e6 samples)."""
    r = RingBuffer(10)
    for k in range(100):
        r.write(ramp(5 * k, 5))
    assert r.written == 500 and r.overflow_samples == 490  # all but the newest 10, nothing released
    r.release(500)
    r.write(ramp(500, 10))
    assert r.overflow_samples == 490
    r.write(ramp(510, 3))  # 3 of the 10 unread overwritten
    assert r.overflow_samples == 493


def test_block_larger_than_capacity_keeps_the_newest():
    r = RingBuffer(8)
    r.write(ramp(0, 20))
    assert r.written == 20 and r.overflow_samples == 12
    np.testing.assert_array_equal(r.read(12, 8), ramp(12, 8))


def test_release_never_moves_back_or_past_written():
    r = RingBuffer(10)
    r.write(ramp(0, 5))
    r.release(3)
    r.release(1)
    assert r.released == 3
    r.release(100)
    assert r.released == 5


def test_latest_returns_newest_samples_and_their_start():
    r = RingBuffer(16)
    start, data = r.latest(4)
    assert start == 0 and len(data) == 0
    r.write(ramp(0, 3))
    start, data = r.latest(5)
    assert start == 0
    np.testing.assert_array_equal(data, [0, 1, 2])
    r.write(ramp(3, 30))
    start, data = r.latest(100)  # clipped to the capacity
    assert start == 17
    np.testing.assert_array_equal(data, ramp(17, 16))


def test_arrival_time_of_a_sample_is_its_blocks_stamp():
    r = RingBuffer(100, n_stamps=4)
    r.write(ramp(0, 10), t=1.0)
    r.write(ramp(10, 10), t=2.0)
    assert r.arrival_time(0) == 1.0
    assert r.arrival_time(9) == 1.0
    assert r.arrival_time(10) == 2.0
    assert r.arrival_time(20) is None  # not arrived
    for k in range(2, 6):
        r.write(ramp(10 * k, 10), t=float(k + 1))
    assert r.arrival_time(5) is None  # its stamp was recycled
    assert r.arrival_time(59) == 6.0
    assert r.last_write_time == 6.0


def test_wait_for_wakes_when_the_index_arrives():
    r = RingBuffer(16000)
    assert r.wait_for(0, 0.01)
    t0 = time.perf_counter()
    assert not r.wait_for(100, 0.05)
    assert time.perf_counter() - t0 >= 0.04

    def produce() -> None:
        for i in range(10):
            time.sleep(0.01)
            r.write(ramp(i * 32, 32))

    th = threading.Thread(target=produce)
    th.start()
    t0 = time.perf_counter()
    assert r.wait_for(32 * 5, 5.0)
    assert time.perf_counter() - t0 < 2.0
    th.join()
    t0 = time.perf_counter()
    threading.Timer(0.05, r.wake).start()
    assert not r.wait_for(10**6, 5.0)
    assert time.perf_counter() - t0 < 2.0


def test_concurrent_producer_and_consumer_see_consistent_data():
    """A real producer thread laps a small ring while a reader checks every copy it gets."""
    r = RingBuffer(1024)
    stop = threading.Event()
    total = 200_000

    def produce() -> None:
        pos = 0
        while pos < total:
            n = 37 + pos % 101
            r.write(ramp(pos, n))
            pos += n
        stop.set()

    th = threading.Thread(target=produce)
    th.start()
    good = lost = 0
    while not stop.is_set() or good == 0:
        w = r.written
        start = max(0, w - 900)
        n = min(256, w - start)
        data = r.read(start, n)
        if data is None:
            lost += 1
            continue
        np.testing.assert_array_equal(data, ramp(start, n))  # never torn
        start2, latest = r.latest(300)
        np.testing.assert_array_equal(latest, ramp(start2, len(latest)))
        good += 1
    th.join()
    assert good > 0
    assert r.written >= total
