"""Selecting a range in the file viewer (issue 28, item 15): shift-drag, play it, its mean, export it.

pytest-qt, offscreen, the shipped model; a fake output stream (tests/fake_sounddevice.py) keeps
what was played.  The drags are real mouse events on the plots' viewport.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from serlive.audio.io import AudioLoadError, copy_span
from serlive.gui.selection import selection_summary, selection_windows
from tests.conftest import spoken
from tests.test_file_playback_original import viewer_on_fake_output

RATE = 48000


def flac_24bit(path, seconds: float = 9.0) -> np.ndarray:
    """A 48 kHz stereo 24-bit FLAC (speech left, quieter speech right); its samples as int32."""
    import soxr

    n = round(seconds * RATE)
    left = soxr.resample(spoken(seconds), 16000, RATE)[:n]
    y = np.stack([left, 0.5 * left[::-1]], axis=1)
    sf.write(str(path), y, RATE, subtype="PCM_24")
    return sf.read(str(path), dtype="int32")[0]


@pytest.fixture
def viewer(qtbot, monkeypatch, tmp_path):
    view, sd, errors = viewer_on_fake_output(qtbot, monkeypatch, speed=4.0)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    y = flac_24bit(tmp_path / "talk.flac")
    view.open_file(tmp_path / "talk.flac")
    qtbot.waitUntil(lambda: view.loaded is not None and not view.busy, timeout=60_000)
    qtbot.wait(50)
    yield view, sd, errors, y
    view.shutdown()


def _pos(plot, seconds: float) -> QPoint:
    """The viewport point of ``seconds`` at the middle height of ``plot``'s data area."""
    vb = plot.getPlotItem().vb
    scene = vb.mapViewToScene(QPointF(seconds, vb.viewRange()[1][0] * 0.5 + vb.viewRange()[1][1] * 0.5))
    return plot.mapFromScene(scene)


def _mouse(plot, kind: QEvent.Type, at: QPoint, buttons, modifiers) -> None:
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    ev = QMouseEvent(kind, QPointF(at), plot.viewport().mapToGlobal(QPointF(at)), button, buttons, modifiers)
    QApplication.sendEvent(plot.viewport(), ev)


def drag(plot, a: float, b: float, shift: bool) -> None:
    """Press at ``a`` seconds, move to ``b`` in steps with the button held, release."""
    mods = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    p0, p1 = _pos(plot, a), _pos(plot, b)
    _mouse(plot, QEvent.Type.MouseButtonPress, p0, Qt.MouseButton.LeftButton, mods)
    for i in range(1, 11):
        at = QPoint(p0.x() + (p1.x() - p0.x()) * i // 10, p0.y())
        _mouse(plot, QEvent.Type.MouseMove, at, Qt.MouseButton.LeftButton, mods)
    _mouse(plot, QEvent.Type.MouseButtonRelease, p1, Qt.MouseButton.NoButton, mods)


def test_shift_drag_selects_on_any_lane_and_a_plain_drag_still_pans(qtbot, viewer):
    view, _sd, _errors, _y = viewer
    before = view.wave_plot.viewRange()[0]
    view.zoom(0.5)
    zoomed = view.wave_plot.viewRange()[0]
    drag(view.time_plot, 4.0, 3.0, shift=False)  # a plain drag pans, selects nothing
    assert view.selection is None and view.wave_plot.viewRange()[0][0] > zoomed[0] + 0.3
    view.zoom_to_fit()
    assert view.wave_plot.viewRange()[0] == pytest.approx(before)
    for plot in (view.wave_plot, view.spec_plot, view.time_plot):
        drag(plot, 2.0, 5.0, shift=True)
        lo, hi = view.selection
        assert lo == pytest.approx(2.0, abs=0.05) and hi == pytest.approx(5.0, abs=0.05), plot
        assert all(r.isVisible() and r.getRegion() == pytest.approx((lo, hi)) for r in view.selection_regions)
    drag(view.wave_plot, 6.0, 1.0, shift=True)  # right to left works too
    assert view.selection[0] == pytest.approx(1.0, abs=0.05) and view.selection[1] == pytest.approx(
        6.0, abs=0.05
    )
    view.seek(3.0)  # a plain click puts the cursor and clears the selection
    assert view.selection is None and not any(r.isVisible() for r in view.selection_regions)
    assert view.cursors[0].value() == pytest.approx(3.0)


def test_space_plays_the_selection_only(qtbot, viewer):
    view, sd, errors, y = viewer
    view.seek(0.5)
    view.select(2.0, 3.5)
    view.play_action.trigger()  # Space
    assert view._player is not None
    qtbot.waitUntil(lambda: view._player is None, timeout=10_000)
    played = sd.outputs[-1].played
    want = y[2 * RATE : round(3.5 * RATE)] / 2.0**31  # int32 full scale to float
    assert (sd.outputs[-1].samplerate, sd.outputs[-1].channels) == (RATE, 2)
    np.testing.assert_allclose(played[: len(want)], want, atol=1e-7)
    assert not played[len(want) :].any()  # nothing after the selection's end
    assert view.cursors[0].value() == pytest.approx(3.5, abs=0.05) and not errors


def test_the_summary_shows_the_selections_mean_beside_the_files(viewer):
    view, _sd, _errors, _y = viewer
    d = view.loaded
    file_table = view.prob_text.text()
    assert "selection" not in file_table
    view.select(1.0, 5.0)
    ws = selection_windows(d, 1.0, 5.0)
    centres = [0.5 * (w.start_s + w.end_s) for w in ws]
    assert ws and all(1.0 <= c <= 5.0 for c in centres)
    voiced = [w for w in ws if not w.silent]
    want = np.average([w.probabilities for w in voiced], axis=0, weights=[w.weight for w in voiced])
    s = selection_summary(d, 1.0, 5.0, None)
    np.testing.assert_allclose(s.probabilities, want)
    top = d.analysis.labels[int(np.argmax(want))]
    assert view.selection_label.text().startswith(f"selection 1.00–5.00 s: {top} {100 * want.max():.0f} %")
    table = view.prob_text.text()
    assert ">file<" in table and ">selection<" in table
    assert f"{100 * want.max():.1f} %" in table  # the selection's column
    assert f"{100 * d.analysis.probabilities.max():.1f} %" in table  # the file's, unchanged beside it
    # a selection shorter than a hop has the window nearest its middle
    assert len(selection_windows(d, 4.0, 4.05)) == 1
    view.clear_selection()
    assert view.prob_text.text() == file_table and view.selection_label.text() == ""


def test_export_selection_writes_the_files_own_samples_and_its_timeline(qtbot, viewer, tmp_path):
    view, _sd, errors, y = viewer
    view.select(2.0, 5.0)
    (tmp_path / "sel.csv").write_text("mine\n")  # never overwritten: the dialog asked about sel.flac only
    with qtbot.waitSignal(view.export_signals.done, timeout=10_000) as done:
        assert view.export_selection(tmp_path / "sel.flac")
    got, rate = sf.read(str(tmp_path / "sel.flac"), dtype="int32")
    assert rate == RATE and sf.info(str(tmp_path / "sel.flac")).subtype == "PCM_24"
    np.testing.assert_array_equal(got, y[2 * RATE : 5 * RATE])  # lossless: every bit
    assert (tmp_path / "sel.csv").read_text() == "mine\n"
    rows = list(csv.reader((tmp_path / "sel-2.csv").open()))
    assert rows[0][:4] == ["start_s", "end_s", "silent", "label"]
    ws = selection_windows(view.loaded, 2.0, 5.0)
    assert [float(r[0]) for r in rows[1:]] == pytest.approx([w.start_s for w in ws], abs=1e-3)
    assert "sel-2.csv" in done.args[0] and not errors
    # WAV takes the same samples
    with qtbot.waitSignal(view.export_signals.done, timeout=10_000):
        view.export_selection(tmp_path / "sel.wav")
    np.testing.assert_array_equal(
        sf.read(str(tmp_path / "sel.wav"), dtype="int32")[0], y[2 * RATE : 5 * RATE]
    )


def test_flac_is_refused_for_float_samples_and_a_bad_name_is_said(tmp_path):
    src = tmp_path / "f.wav"
    sf.write(str(src), np.full((4800, 2), 0.123456789, np.float32), RATE, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match=r"choose a \.wav"):
        copy_span(src, tmp_path / "out.flac", 0.0, 0.05)
    with pytest.raises(AudioLoadError, match=r"\.wav or \.flac"):
        copy_span(src, tmp_path / "out.mp3", 0.0, 0.05)
    frames, subtype = copy_span(src, tmp_path / "out.wav", 0.01, 0.05)
    assert (frames, subtype) == (1920, "FLOAT")
    np.testing.assert_array_equal(
        sf.read(str(tmp_path / "out.wav"), dtype="float32")[0], np.float32(0.123456789)
    )
    assert not (tmp_path / "out.flac").exists()
