"""The Live tab with an adaptive engine (issue 19, item 3), offscreen with a fake engine's state.

The status bar says when the hop is widened and nothing extra at the base hop; the strip keeps a
column per base hop when windows come 1 s apart; Start/Stop keeps its shortcut on its QAction.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from serlive.config import LABELS
from serlive.live.engine import EngineStats, Result


def _result(i: int) -> Result:
    p = np.full(len(LABELS), 0.02, np.float32)
    p[i % len(LABELS)] = 1 - 0.02 * (len(LABELS) - 1)
    return Result(i, i * 8000, i * 8000 + 48000, 16000, p, False, None, 0.05, LABELS)


def _engine(hop_s: float) -> SimpleNamespace:
    """What the live view reads of a running engine for its status line and strip."""
    stats = EngineStats(windows=7, base_hop_s=0.5, hop_s=hop_s)
    return SimpleNamespace(
        stats=lambda: stats, samples_received=16000, record_path=None, recorded_samples=0,
        sample_rate=16000, recording=False, adaptation=None, adapt=False, hop_s=0.5, running=True,
    )  # fmt: skip


@pytest.fixture
def view(qtbot):
    from serlive.gui.live_view import LiveView

    v = LiveView(None, LABELS, list_devices=lambda: [], rescan=None, server_sources=None)
    qtbot.addWidget(v)
    return v


def test_status_bar_says_when_the_hop_is_widened(view):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QKeySequence

    seen: list[str] = []
    view.status_changed.connect(seen.append)
    view.state.add([_result(0)])
    view._set_running(True)
    view._update_status(_engine(1.0))
    assert "analysing every 1 s (busy)" in seen[-1]
    view._update_status(_engine(0.5))
    assert "analysing" not in seen[-1] and "windows 7" in seen[-1]
    # the button's text changed to "Stop"; Space stays on the action (setText replaces a button's shortcut)
    assert view.start_button.text() == "Stop"
    assert view.start_stop_action.shortcut() == QKeySequence(Qt.Key.Key_Space)
    assert view.start_button.shortcut().isEmpty()


def test_strip_keeps_a_column_per_base_hop_at_the_widened_hop(view):
    view.engine = _engine(1.0)
    results = [_result(i) for i in (0, 1, 2, 4, 6)]  # ends 3.0, 3.5, 4.0, 5.0, 6.0
    view._show_result(view.state.add(results))
    assert view.strip.image.shape[1] == 7  # 3 s of windows in 0.5 s columns
    rect = view.strip.item.mapRectToParent(view.strip.item.boundingRect())
    assert rect.right() == pytest.approx(0.0, abs=1e-6) and rect.width() == pytest.approx(3.5)
    x, _ = view.prob_curves[0].getData()
    assert len(x) == len(results)  # the curves keep one point per window analysed
