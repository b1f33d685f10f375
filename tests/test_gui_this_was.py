"""The utterance tables' right-click "This was… ▸ <label>" (pytest-qt, offscreen; issue 28, item 10).

Driven as a person would: a right-click on a row of the File tab's or the Live tab's table opens
the menu, the label is chosen in its "This was…" submenu, the active profile is refitted on a
worker thread and saved, and Listen ▸ Undo (Ctrl+Z) takes it back.  Both tables are one widget,
aligned alike.
"""

# ruff: noqa: F811 (the fixtures imported from test_gui_profiles are arguments of the tests)

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu

from serlive.audio.sources import FileSource
from serlive.cli import main
from serlive.profiles.store import load_profile, profile_path
from tests.conftest import write_audio
from tests.test_gui_profiles import _window, voices  # noqa: F401 (voices: a fixture)
from tests.voices import load16k

SR = 16000


def _padded_clip(folders: dict[str, Path], label: str, before_s: float = 1.0, after_s: float = 2.0) -> Any:
    """A held-out clip of ``label``'s voice between silences, at the model rate."""
    clip = load16k(next((folders["test"] / label).iterdir()))
    z = lambda s: np.zeros(round(s * SR), np.float32)  # noqa: E731
    return np.concatenate([z(before_s), clip, z(after_s)])


def right_click_and_choose(qtbot, table, row: int, label: str | None) -> list[str]:
    """Right-click ``row``; in the menu that opens, choose "This was… ▸ ``label``" (None: just look).

    Returns the texts of the menu's items as they were shown.  The right-click is the context
    menu event the platform sends for it (QTest's mouse clicks go to the widget directly and
    never make one).
    """
    seen: list[str] = []

    def pick() -> None:
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            QTimer.singleShot(20, pick)
            return
        seen.extend(a.text() for a in menu.actions())
        sub = next((a.menu() for a in menu.actions() if a.menu() is not None), None)
        if label is not None:
            assert sub is not None and sub.menuAction().isEnabled(), seen
            seen.extend(f"▸ {a.text()}" for a in sub.actions())
            next(a for a in sub.actions() if a.text() == label).trigger()
        menu.close()

    pos = table.visualItemRect(table.item(row, 0)).center()
    QTimer.singleShot(0, pick)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, table.viewport().mapToGlobal(pos))
    QApplication.sendEvent(table.viewport(), event)
    # the offscreen platform leaves the closed popup the active window; a window manager would
    # hand activation back to the window, and its shortcuts (Ctrl+Z) need that
    if table.window().isVisible():
        table.window().activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is table.window())
    return seen


def _aligned_right(table, row: int) -> list[bool]:
    return [bool(table.item(row, c).textAlignment() & Qt.AlignmentFlag.AlignRight) for c in range(4)]


def test_this_was_on_a_file_utterance_refits_and_undo_takes_it_back(
    qtbot, voices, profile_home, tmp_path, monkeypatch, errors
):
    assert main(["calibrate", str(voices["own"]), "--name", "mine"]) == 0
    profile = load_profile("mine")
    win = _window(qtbot, tmp_path, monkeypatch, profile=profile)
    before = profile_path("mine").read_text()
    path = write_audio(tmp_path / "said.wav", _padded_clip(voices, "high"))
    win.tabs.setCurrentWidget(win.file)
    with qtbot.waitSignal(win.segments.ready, timeout=60_000):
        win.file.open_file(str(path))
    table = win.segments.table
    assert table.rowCount() >= 1
    assert _aligned_right(table, 0) == [True, True, False, True]
    shown = right_click_and_choose(qtbot, table, 0, "high")
    assert "This was…" in shown and "▸ high" in shown and "▸ low" in shown
    qtbot.waitUntil(lambda: win.profiles.profile.clips["high"] == profile.clips["high"] + 1, timeout=60_000)
    assert load_profile("mine").clips["high"] == profile.clips["high"] + 1  # the file gained the example
    assert profile_path("mine").read_text() != before
    assert win.model.profile is win.profiles.profile  # the viewer's model judges through the refit now
    qtbot.keyClick(win.file, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Listen ▸ Undo
    assert win.profiles.profile.clips == profile.clips
    assert profile_path("mine").read_text() == before
    assert not errors


def test_this_was_on_a_live_utterance_reads_it_back_from_the_ring(
    qtbot, voices, profile_home, tmp_path, monkeypatch, errors
):
    assert main(["calibrate", str(voices["own"]), "--name", "mine"]) == 0
    profile = load_profile("mine")
    win = _window(qtbot, tmp_path, monkeypatch, profile=profile)
    y = _padded_clip(voices, "low")
    panel = win.live_utterances
    # what the microphone hears: the clip, replayed live (Start opens the real device instead)
    assert win.live.start_source(FileSource(samples=y, realtime=True, speed=4.0))
    qtbot.waitUntil(lambda: panel.table.rowCount() >= 1, timeout=60_000)
    assert _aligned_right(panel.table, 0) == [True, True, False, True]  # as the File tab's
    samples, start_s, end_s = panel.samples_for(0)
    u = panel.utterances[0]
    assert (start_s, end_s) == (u.start_s, u.end_s)
    assert np.array_equal(samples, y[round(u.start_s * SR) : round(u.start_s * SR) + len(samples)])
    right_click_and_choose(qtbot, panel.table, 0, "low")
    qtbot.waitUntil(lambda: win.profiles.profile.clips["low"] == profile.clips["low"] + 1, timeout=60_000)
    assert load_profile("mine").clips["low"] == profile.clips["low"] + 1
    win.profiles.undo_action.trigger()
    assert load_profile("mine").clips == profile.clips
    assert not errors


def test_this_was_on_a_live_utterance_the_ring_has_overwritten_says_so(
    qtbot, voices, profile_home, tmp_path, monkeypatch, errors
):
    from serlive.gui.segments_table import LiveUtterancesPanel
    from serlive.live.engine import Engine
    from serlive.model import EmotionModel

    assert main(["calibrate", str(voices["own"]), "--name", "mine"]) == 0
    win = _window(qtbot, tmp_path, monkeypatch, profile=load_profile("mine"))
    before = profile_path("mine").read_text()

    class Live:  # what the panel reads of the live view: its current engine
        engine = None

    live = Live()
    panel = LiveUtterancesPanel(live)
    panel.table.profiles = win.profiles
    qtbot.addWidget(panel)
    # a 5 s ring and 12 s of quiet after the utterance: its audio is gone once the stream ends
    y = _padded_clip(voices, "low", after_s=12.0)
    live.engine = Engine(EmotionModel(num_threads=1), ring_s=5.0)
    live.engine.start(FileSource(samples=y, realtime=False))
    assert live.engine.wait(120)
    panel.poll()
    assert panel.table.rowCount() >= 1
    assert isinstance(panel.samples_for(panel.table.rowCount() - 1), str)
    right_click_and_choose(qtbot, panel.table, panel.table.rowCount() - 1, "low")
    assert errors and errors[0][0] == "This was…" and "no longer held" in errors[0][1]
    assert profile_path("mine").read_text() == before  # nothing changed
    assert win.profiles.can_label()


def test_without_a_profile_the_menu_says_where_to_choose_one(qtbot, tiny_models, tmp_path, monkeypatch):
    from serlive.gui.utterance_table import UtteranceTable
    from serlive.segments import Utterance

    table = UtteranceTable()
    qtbot.addWidget(table)
    table.show_utterances([Utterance(1.0, 2.5, ("a", "b"), np.array([0.2, 0.8], np.float32))])
    assert [table.item(0, c).text() for c in range(4)] == ["0:01.0", "0:02.5", "b", "80 %"]
    menu = table.context_menu(0)
    assert [(a.text(), a.isEnabled()) for a in menu.actions()] == [
        ("This was… (choose a profile in Listen ▸ Profile)", False)
    ]
