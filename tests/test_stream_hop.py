"""The live engine's adaptive hop (``Engine(adaptive_hop=...)``, :mod:`serlive.live.hop`).

The governor's rule is tested with numbers (no clock); the engine with a model whose predict
sleeps while a flag is set, replayed in real time: the hop widens to 1 s while it is slow and
returns to 0.5 s once it is fast again, every window on the base grid, every base-grid window
accounted for.  With the option off (or a file replayed at full speed) nothing changes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serlive.audio.sources import FileSource
from serlive.live.engine import Engine, Result
from serlive.live.hop import HopGovernor, HopPolicy
from serlive.windows import window_starts
from tests.conftest import SR, speechlike
from tests.test_analysis import StubModel
from tests.test_stream import WIN, drain, run_fast, speech_with_pauses

HOP = SR // 2


# --- the rule ------------------------------------------------------------------------------
def test_widened_hop_is_a_whole_multiple_of_the_base_hop():
    p = HopPolicy()
    assert (p.factor(0.5), p.factor(0.3), p.factor(0.25), p.factor(1.0), p.factor(2.0)) == (2, 3, 4, 2, 2)
    with pytest.raises(ValueError):
        HopPolicy(calm_load=0.7, widen_load=0.6)  # no hysteresis
    with pytest.raises(ValueError):
        HopPolicy(recent=0)


def test_governor_widens_on_sustained_load_or_a_backlog_not_on_one_slow_window():
    g = HopGovernor(HopPolicy(), 0.5)
    assert g.observe(3.0, 5.0, 0.0) == 1  # the first window (a whole window's features) is not judged
    assert g.observe(3.5, 0.9, 0.0) == 1  # one slow window: the mean of the last three decides
    assert g.observe(4.0, 0.1, 0.0) == 1
    assert g.observe(4.5, 0.1, 0.0) == 1
    for t in (5.0, 5.5):
        assert g.observe(t, 0.7, 0.0) == 1
    assert g.observe(6.0, 0.7, 0.0) == 2 and g.changes == 1  # three windows over 60 % of a hop
    b = HopGovernor(HopPolicy(), 0.5)
    b.observe(3.0, 0.1, 0.0)
    assert b.observe(3.5, 0.1, 2.5) == 2  # fast windows, but 2.5 hops of audio waiting


def test_governor_widens_when_the_worker_waits_for_a_cpu_and_returns_when_it_does_not():
    """Fast windows (10 % of a hop) on a machine full of other work: they mostly waited for a CPU."""
    one = HopGovernor(HopPolicy(warmup=0), 0.5)
    for t, cpu in ((3.0, 0.05), (3.5, 0.05), (4.0, 0.0)):  # one preempted window: a third of the time
        assert one.observe(t, 0.1, 0.0, 0.05, cpu) == 1
    g = HopGovernor(HopPolicy(calm_s=2.0, warmup=0), 0.5)
    assert g.observe(3.0, 0.1, 0.0, 0.05, 0.05) == 1
    assert g.observe(3.5, 0.1, 0.0, 0.05, 0.01) == 1
    assert g.observe(4.0, 0.1, 0.0, 0.05, 0.01) == 2  # ran 0.07 of the last windows' 0.15 s
    assert g.starved == pytest.approx(1 - 0.07 / 0.15)
    for t in (5.0, 6.0):  # the CPUs are free again; the starved windows leave the last three
        assert g.observe(t, 0.1, 0.0, 0.05, 0.05) == 2
    assert g.starved == pytest.approx(1 - 0.11 / 0.15)  # 27 %: not yet under 25 %
    for t in (7.0, 8.0):  # calm from 7.0 ...
        assert g.observe(t, 0.1, 0.0, 0.05, 0.05) == 2
    assert g.observe(9.0, 0.1, 0.0, 0.05, 0.05) == 1  # ... for 2 s of audio
    off = HopGovernor(HopPolicy(widen_starved=None, warmup=0), 0.5)
    assert all(off.observe(3.0 + t, 0.1, 0.0, 0.05, 0.0) == 1 for t in range(5))  # not judged


def test_governor_returns_only_after_staying_comfortable_for_a_while():
    g = HopGovernor(HopPolicy(calm_s=5.0, warmup=0), 0.5)
    for t in (3.0, 3.5, 4.0):
        g.observe(t, 0.8, 0.0)
    assert g.factor == 2
    assert g.observe(5.0, 0.1, 0.0) == 2  # calm from here ...
    assert g.observe(6.0, 0.4, 0.0) == 2  # ... not: between the thresholds still counts as busy
    for t in (7.0, 8.0, 9.0, 10.0, 11.0):
        assert g.observe(t, 0.1, 0.5) == 2
    assert g.observe(12.0, 0.1, 0.0) == 1 and g.changes == 2  # 5 s of audio calm since 7.0
    assert g.observe(12.5, 0.9, 0.0) == 1  # the base hop is judged afresh: one slow window is not enough


# --- the engine ----------------------------------------------------------------------------
class SwitchableModel(StubModel):
    """A model that takes ``delay`` seconds per window while :attr:`slow` is set."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.slow = threading.Event()
        self.slow.set()

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.slow.is_set():
            time.sleep(self.delay)
        return super().predict(x)


def _run_slow_then_fast(adaptive: bool | HopPolicy, record: Path | None = None) -> tuple:
    """16 s of speech replayed at twice real time (a hop lasts 0.25 s) through a model taking 0.2 s
    per window, until three windows in a row came 1 s apart (or 10 s of audio with a fixed hop)."""
    y = speechlike(16.0)
    model = SwitchableModel(0.2)
    hops: list[float] = []

    def on_result(r: Result) -> None:
        hops.append(eng.current_hop_s)
        seen.append(r)
        gaps = np.diff([x.start for x in seen[-4:]])
        if (len(gaps) == 3 and (gaps == 2 * HOP).all()) or r.end >= 10 * SR:
            model.slow.clear()

    seen: list[Result] = []
    eng = Engine(model, adaptive_hop=adaptive, on_result=on_result, record=record)
    eng.start(FileSource(samples=y, speed=2.0))
    assert eng.wait(30)
    results, end = drain(eng)
    assert end.error is None and [r.start for r in results] == [r.start for r in seen]
    return y, results, end.stats, hops


def test_a_busy_worker_widens_the_hop_to_1_s_and_returns_to_the_base_hop(tmp_path: Path):
    # a sleeping model is not a machine short of CPUs: the starved share is left out here (see above)
    policy = HopPolicy(calm_s=2.0, calm_load=0.4, widen_starved=None)
    y, results, stats, hops = _run_slow_then_fast(policy, record=tmp_path / "take.wav")
    starts = np.array([r.start for r in results])
    assert (starts % HOP == 0).all()  # on the base grid, at either hop
    assert all(r.index == r.start // HOP and r.end - r.start == WIN for r in results)
    gaps = np.diff(starts)
    assert (gaps > 0).all()
    widened = np.flatnonzero(gaps == 2 * HOP)
    assert len(widened) >= 3, gaps  # analysed every 1 s while the model was slow ...
    assert (gaps[widened[-1] + 1 :] == HOP).any(), gaps  # ... and every 0.5 s again once it was fast
    assert 1.0 in hops and hops[-1] == 0.5  # the engine said so while running
    assert stats.hop_changes >= 2 and not stats.widened and stats.hop_s == stats.base_hop_s == 0.5
    assert stats.widened_windows > 0 and stats.hop_skipped_windows > 0
    # nothing dropped silently: every base-grid window is analysed, late or passed over by the wide hop
    n_grid = len(window_starts(len(y), WIN, HOP))
    assert stats.windows + stats.dropped_windows + stats.hop_skipped_windows == n_grid
    assert f"hop changes {stats.hop_changes}" in stats.summary()
    rec, sr = sf.read(tmp_path / "take.wav", dtype="float32")  # the take does not depend on the hop
    assert sr == SR
    np.testing.assert_array_equal(rec, y)


def test_with_the_option_off_the_hop_stays_fixed():
    y, results, stats, hops = _run_slow_then_fast(False)
    assert set(hops) == {0.5} and len(results) == stats.windows
    assert all(r.start % HOP == 0 for r in results)
    assert (stats.hop_changes, stats.widened_windows, stats.hop_skipped_windows) == (0, 0, 0)
    assert stats.hop_s == stats.base_hop_s == 0.5 and not stats.widened
    assert stats.windows + stats.dropped_windows == len(window_starts(len(y), WIN, HOP))
    assert "hop changes" not in stats.summary()


def test_a_file_replayed_at_full_speed_gets_every_window_with_the_option_on():
    """Not realtime: the worker is 'behind' by design, and the file path's windows are the reference."""
    y = speech_with_pauses()
    ref, _ = run_fast(Engine(StubModel(), smoothing=0.5), y)
    got, end = run_fast(Engine(StubModel(), smoothing=0.5, adaptive_hop=True), y)
    assert [(r.index, r.start, r.end, r.silent) for r in got] == [
        (r.index, r.start, r.end, r.silent) for r in ref
    ]
    for r, g in zip(ref, got, strict=True):
        assert g.probabilities.tobytes() == r.probabilities.tobytes()
    assert (end.stats.hop_changes, end.stats.hop_skipped_windows) == (0, 0)
