"""The Live tab's Record: the file to record to, and takes started and ended on the running stream.

A mixin of :class:`serlive.gui.live_view.LiveView`, split from it (issue 20, the house).  The view
provides ``record_check``, ``record_file_button``, ``engine`` and ``_update_status``.  Ticked while
listening, Record starts a take at once (:meth:`serlive.live.engine.Engine.start_take`); unticked it ends
it; ticked while stopped, the next Start records.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QFileDialog

from serlive.gui import messages


class RecordMixin:
    """Record to a file: choose it, tick and untick it, start and end takes."""

    record_path: str | None
    record_check: Any
    record_file_button: Any
    engine: Any

    _update_status: Callable[..., None]  # the view's

    def choose_record_file(self) -> bool:
        """Ask where to record; True when a file was chosen (Record is then ticked).

        The dialog does not ask to replace an existing file because nothing is replaced: a take
        whose file exists goes to the next free numbered name.
        """
        start = self.record_path or str(Path.home() / "recording.wav")
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Record to (an existing file is never overwritten)",
            start,
            "WAV audio (*.wav)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if not path:
            return False
        if Path(path).suffix.lower() != ".wav":
            path += ".wav"
        self.set_record_file(path)
        return True

    def set_record_file(self, path: str | Path) -> None:
        """Record to ``path`` (Record ticked: now while listening, else from the next Start); numbered."""
        self.remember_record_file(path)
        self.record_check.setChecked(True)

    def remember_record_file(self, path: str | Path) -> None:
        """Make ``path`` the record file without ticking Record (the last session's, from QSettings).

        Why: the folder and name were forgotten at a restart, so the save dialog opened in the home
        folder proposing ``recording.wav`` (issue 28, item 6).  Ticking Record then records there
        (the next free numbered name) without asking; the dialog, when opened, starts from it.
        """
        self.record_path = str(path)
        self.record_file_button.setText(self._elided(Path(path).name))
        self.record_file_button.setToolTip(f"Recording to {path} (click to choose another file)")

    def _elided(self, text: str) -> str:
        width = self.record_file_button.width() - 16
        return self.record_file_button.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, width)

    def _toggle_record(self) -> None:
        """Ctrl+R: tick or untick Record (a take starts or ends at once while listening)."""
        if self.record_check.isEnabled():
            self.record_check.setChecked(not self.record_check.isChecked())

    def _record_toggled(self, on: bool) -> None:
        """Ticked: record (now, while listening; else from the next Start).  Unticked: end the take.

        Why takes run on the listening stream: a stream the sound server has just opened delivers its
        first audio 0.3-1.9 s late, so a take that opened its own stream lost the first word, and
        recording meant stopping (curves cleared, adaptation restarted).  Unticking keeps the chosen
        file: ticking again records there (the next free numbered name) without asking again.
        """
        if on and self.record_path is None and not self.choose_record_file():
            self.record_check.setChecked(False)
            return
        eng = self.engine
        if eng is None or not eng.running:
            return  # the next Start records
        if on and not eng.recording and self.record_path is not None:
            from serlive.audio.record import RecordError
            from serlive.live.engine import EngineError

            try:
                eng.start_take(self.record_path)
            except (RecordError, EngineError) as exc:
                messages.show_error(self, "Cannot record", str(exc))
                with QSignalBlocker(self.record_check):
                    self.record_check.setChecked(False)
        elif not on:
            eng.stop_take()
        self._update_status(eng)
