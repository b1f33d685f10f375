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
