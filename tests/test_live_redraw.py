"""The live view's frame does no drawing when no audio arrived since the last one (issue 19, item 3)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from serlive.config import DEFAULT_FEATURES, LABELS
from serlive.features import FeatureExtractor
from tests.conftest import SR, spoken


class Ring:
    """What ``LiveView._draw_audio`` reads of the engine's ring buffer."""

    def __init__(self, y: np.ndarray) -> None:
        self.y = y
        self.written = 0
        self.capacity = len(y)

    def latest(self, n: int) -> tuple[int, np.ndarray]:
        start = max(0, self.written - n)
        return start, self.y[start : self.written]

    def read(self, start: int, n: int) -> np.ndarray | None:
        return self.y[start : start + n] if start + n <= self.written else None


def test_a_frame_without_new_audio_redraws_nothing(qtbot, monkeypatch):
    from serlive.gui import live_view

    view = live_view.LiveView(None, LABELS, list_devices=lambda: [], rescan=None, server_sources=None)
    qtbot.addWidget(view)
    view._extractor = FeatureExtractor(DEFAULT_FEATURES)
    calls = {"wave": 0, "spec": 0}
    wave_set, spec_set = view.wave_curve.setData, view.spec_item.setImage

    def count(name, real):
        def f(*a, **k):
            calls[name] += 1
            return real(*a, **k)

        return f

    monkeypatch.setattr(view.wave_curve, "setData", count("wave", wave_set))
    monkeypatch.setattr(view.spec_item, "setImage", count("spec", spec_set))
    ring = Ring(spoken(2.0))
    ring.written = SR // 2
    view._draw_audio(ring, SR)
    assert calls == {"wave": 1, "spec": 1}
    level = view.level_bar.value()
    for _ in range(3):  # frames with no new block: nothing is redrawn, the level meter holds
        view._draw_audio(ring, SR)
    assert calls == {"wave": 1, "spec": 1} and view.level_bar.value() == level
    ring.written += 1024  # a block arrives: everything follows it
    view._draw_audio(ring, SR)
    assert calls == {"wave": 2, "spec": 2}
    x, _ = view.wave_curve.getData()
    assert x[-1] <= 0.0 and x[-1] > -0.01  # the curve ends at "now"


def test_rolling_envelope_equals_the_envelope_of_the_newest_bins():
    """The live waveform's envelope, kept up to date from the new samples only, is every bin's min and
    max of the stream's newest samples, whatever the sizes of the pieces that arrive."""
    from serlive.audio.ring import RingBuffer
    from serlive.gui.arrays import RollingEnvelope

    rng = np.random.default_rng(5)
    y = rng.standard_normal(50_000).astype(np.float32)
    ring = RingBuffer(20_000)
    env = RollingEnvelope(n_bins=40, per=160)
    pos = 0
    for n in [7, 530, 1, 160, 3000, 533, 12_000, 2, 20_000, 4000]:
        ring.write(y[pos : pos + n])
        pos += n
        x, v = env.update(ring.read, pos, ring.capacity)
        complete = pos // 160
        first = max(0, complete - 40)
        bins = y[first * 160 : complete * 160].reshape(-1, 160)
        want = np.empty(2 * len(bins), np.float32)
        want[0::2], want[1::2] = bins.min(axis=1), bins.max(axis=1)
        if pos % 160:  # the newest, incomplete bin
            part = y[complete * 160 : pos]
            want = np.append(want, [part.min(), part.max()])
        np.testing.assert_array_equal(v, want)
        assert len(x) == len(v) and np.all(np.diff(x) >= 0) and x[-1] <= 0
        centres = (np.arange(first, complete) * 160 + 80.0) - pos
        np.testing.assert_allclose(x[: 2 * len(bins) : 2], centres)


def test_rolling_envelope_starts_again_when_the_samples_are_gone():
    from serlive.audio.ring import RingBuffer
    from serlive.gui.arrays import RollingEnvelope

    y = np.linspace(-1, 1, 30_000, dtype=np.float32)
    ring = RingBuffer(4000)
    env = RollingEnvelope(n_bins=40, per=160)
    ring.write(y[:1000])
    env.update(ring.read, 1000, ring.capacity)
    for i in range(1000, 30_000, 3000):  # the view away while the ring wrapped several times
        ring.write(y[i : i + 3000])
    _x, v = env.update(ring.read, 30_000, ring.capacity)
    assert len(v) > 0 and v[-1] == y[-1] and v.min() >= y[30_000 - 4000]
