"""The status line fits its width (issue 28, item 5): short forms, elision, the whole line as a tooltip."""

from __future__ import annotations

import pytest

from serlive.gui.status_fit import ELLIPSIS, SEP, fit_status, short_form

#: a Live tab line as LiveState.status_line writes it during a take, adapted
LIVE_LINE = SEP.join(
    [
        "● REC take-3.wav 0:04.4",
        "Monitor of Virtual_mic via default @ 16000 Hz",
        "decision latency 41.2 ms",
        "dropped samples 0",
        "windows 81",
        "adapted to this voice (38 s of speech)",
    ]
)


def test_parts_have_short_forms_that_keep_their_numbers():
    assert short_form("adapted to this voice (38 s of speech)") == "adapted, 38 s"
    assert short_form("adapting to the voice: 12 of 20 s of speech") == "adapting, 12/20 s"
    assert short_form("decision latency 41.2 ms") == "latency 41.2 ms"
    assert short_form("dropped samples 0") == "dropped 0"
    assert short_form("81 windows of 3 s every 2 s, 40 with speech") == "81 windows, 40 speech"
    assert short_form("windows 81") == "windows 81"  # already short: unchanged


@pytest.mark.parametrize("width", [len(LIVE_LINE), 120, 100, 80, 60, 40, 20, 5, 1])
def test_what_shows_always_fits(width):
    shown = fit_status(LIVE_LINE, width, len)
    assert len(shown) <= width or shown == ELLIPSIS
    if width >= len(LIVE_LINE):
        assert shown == LIVE_LINE


def test_short_forms_come_before_elision_and_elision_before_dropping():
    all_short = SEP.join(short_form(p) for p in LIVE_LINE.split(SEP))
    assert fit_status(LIVE_LINE, len(all_short), len) == all_short  # nothing elided where short forms fit
    elided = fit_status(LIVE_LINE, len(all_short) - 10, len)
    assert elided.endswith("adapted, 38 s") and ELLIPSIS in elided.split(SEP)[1]  # the device name
    dropped = fit_status(LIVE_LINE, 40, len)
    assert dropped.startswith("● REC take-3.wav 0:04.4") and dropped.endswith(ELLIPSIS)


def test_the_window_shows_what_fits_and_the_whole_line_as_a_tooltip(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QSettings

    from serlive.gui import live_view
    from serlive.gui.main_window import MainWindow
    from serlive.model import EmotionModel

    monkeypatch.setattr(live_view, "list_input_devices", lambda: [])
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(EmotionModel(num_threads=1), settings=settings)
    qtbot.addWidget(win)
    win.show()
    label = win.status_label
    fits = lambda: label.fontMetrics().horizontalAdvance(label.text()) <= label.width()  # noqa: E731
    win.resize(win.minimumWidth(), 600)  # the narrowest the window goes: about 1000 px
    qtbot.waitUntil(lambda: win.width() <= 1100)
    win.live.status_changed.emit(LIVE_LINE)
    qtbot.wait(20)
    assert label.full_text() == LIVE_LINE
    assert label.text() != LIVE_LINE and fits(), (label.text(), label.width())
    assert label.toolTip() == LIVE_LINE
    assert "adapted, 38 s" in label.text()  # shortened, not cut off mid-word
    win.resize(2600, 600)  # wide enough for all of it: no tooltip
    qtbot.waitUntil(lambda: label.text() == LIVE_LINE, timeout=3000)
    assert label.toolTip() == "" and fits()
    win.close()
