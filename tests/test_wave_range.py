"""The waveform's vertical range follows the visible audio (issue 28, item 16; pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from serlive.gui.file_model import PEAK_FROM_SAMPLES, visible_peak
from tests.conftest import SR, spoken, write_audio
from tests.test_file_playback_original import viewer_on_fake_output


@pytest.fixture
def view(qtbot, monkeypatch, tmp_path):
    """30 s: 10 s of speech at 0.8, then 20 s of the same speech at 0.01 (-40 dBFS)."""
    view, _sd, errors = viewer_on_fake_output(qtbot, monkeypatch)
    view.resize(1000, 700)
    view.show()
    y = np.concatenate([spoken(10.0, amp=0.8), spoken(20.0, start_s=1.0, amp=0.01)])
    view.open_file(write_audio(tmp_path / "loud-then-quiet.wav", y))
    qtbot.waitUntil(lambda: view.loaded is not None and not view.busy, timeout=60_000)
    yield view
    view.shutdown()
    assert not errors


def y_range(view) -> list[float]:
    return [float(v) for v in view.wave_plot.getPlotItem().vb.viewRange()[1]]


def test_zoomed_into_a_quiet_passage_the_range_is_its_peak_and_off_it_is_full_scale(qtbot, view):
    d = view.loaded
    lo, hi = y_range(view)
    assert hi == pytest.approx(-lo) and 0.8 <= hi <= 0.85  # the whole file: its loudest part
    x0 = (12 * SR + int(np.argmax(np.abs(d.samples[12 * SR :])))) / SR - 0.005  # 10 ms of quiet speech
    view.wave_plot.setXRange(x0, x0 + 0.01, padding=0)
    qtbot.wait(200)  # the zoomed-in envelope arrives from the worker
    peak = float(np.abs(d.samples[int(x0 * SR) : int(np.ceil((x0 + 0.01) * SR))]).max())
    assert 0.005 < peak <= 0.0101
    lo, hi = y_range(view)
    assert peak <= hi <= 1.1 * peak and lo == pytest.approx(-hi)
    # the drawn curve is not flat: it spans a good part of the range
    x, v = view.wave_curve.getData()
    shown = v[(x >= x0) & (x <= x0 + 0.01)]
    assert shown.max() - shown.min() > 0.5 * hi
    view.autoscale_action.setChecked(False)  # View ▸ Waveform follows the visible audio, off
    assert y_range(view) == pytest.approx([-1.0, 1.0])
    view.autoscale_action.setChecked(True)
    assert y_range(view)[1] == pytest.approx(hi)
    # digital silence is not blown up into noise: the range stops at -60 dBFS
    view.loaded.samples[round(20 * SR) : round(21 * SR)] = 0.0
    view.wave_plot.setXRange(20.2, 20.3, padding=0)
    assert y_range(view) == pytest.approx([-1e-3, 1e-3])


def test_a_long_view_takes_its_peak_from_the_overview_and_misses_none(view):
    d = view.loaded
    assert (30 - 12) * SR > PEAK_FROM_SAMPLES  # so this view is measured on the overview's bins
    exact = float(np.abs(d.samples[12 * SR :]).max())
    got = visible_peak(d, 12.0, 30.0)
    assert exact <= got <= 0.8  # never under the true peak; a bin at the edge may reach a little out
    assert visible_peak(d, 0.0, 30.0) == pytest.approx(float(np.abs(d.samples).max()))
