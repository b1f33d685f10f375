""" "Teach it my voice": a guided session that records a few takes per emotion and fits a profile.

For each emotion shown (View ▸ Emotions shown) it puts a neutral sentence on screen and how to say
it, counts down, records a take with the level meter moving, lets the user play it back or take
it again, and moves on once the emotion has its takes.  Then it fits on a worker thread (the same
analysis and fit as ``serlive calibrate``), shows the cross-validated estimate of the plain model
against the profile, and on "Use this profile" saves it and asks the window to switch to it.

The recording is a :class:`serlive.gui.teach_state.TakeRecorder` on whatever source
``source_factory`` makes (the live tab's microphone; a file replay in tests), polled by a GUI
timer: nothing here waits on audio or on the fit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from serlive.gui import messages
from serlive.gui.plots import LevelMeter
from serlive.gui.teach_state import (
    COUNTDOWN_S,
    MAX_TAKES,
    MIN_TAKES,
    TAKE_S,
    TakeRecorder,
    TeachPlan,
    prompt_for,
)

POLL_MS = 33


class _FitSignals(QObject):
    done = Signal(object)  # a Profile
    failed = Signal(str)


class TeachDialog(QDialog):
    """The guided session.  ``profile_made(name)`` once the user chose to use the fitted profile."""

    profile_made = Signal(str)

    def __init__(
        self,
        emotions: tuple[str, ...],
        model_path: str | Path | None,
        source_factory: Callable[[], Any],
        parent: QWidget | None = None,
        name: str = "my voice",
        play: Callable[[Any, int], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Teach it my voice")
        self.emotions = tuple(emotions)
        self.model_path = model_path
        self.source_factory = source_factory
        self._play = play
        self.plan: TeachPlan | None = None
        self.index = 0
        self.recorder: TakeRecorder | None = None
        self.profile: Any = None
        self._count = 0
        self._last_take: Any = None
        self._fit_signals = _FitSignals(self)
        self._fit_signals.done.connect(self._fitted)
        self._fit_signals.failed.connect(self._fit_failed)
        self._build(name)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.countdown = QTimer(self)
        self.countdown.setInterval(1000)
        self.countdown.timeout.connect(self._count_down)

    # --- layout ------------------------------------------------------------------------------------
    def _build(self, name: str) -> None:
        root = QVBoxLayout(self)
        self.pages = QStackedWidget()
        root.addWidget(self.pages)
        # intro
        intro = QWidget()
        iv = QVBoxLayout(intro)
        iv.addWidget(
            QLabel(
                f"serlive will ask you to say a short sentence in each of {len(self.emotions)} emotions "
                f"({', '.join(self.emotions)}), {TAKE_S:g} s a take. Speak as you would to a friend; "
                "the takes stay on this computer, beside the profile."
            )
        )
        row = QHBoxLayout()
        row.addWidget(QLabel("Profile name:"))
        self.name_edit = QLineEdit(name)
        row.addWidget(self.name_edit)
        row.addWidget(QLabel("Takes per emotion:"))
        self.takes_spin = QSpinBox()
        self.takes_spin.setRange(MIN_TAKES, MAX_TAKES)
        self.takes_spin.setValue(MIN_TAKES)
        row.addWidget(self.takes_spin)
        iv.addLayout(row)
        self.begin_button = QPushButton("Begin")
        self.begin_button.clicked.connect(self.begin)
        iv.addWidget(self.begin_button)
        for label in intro.findChildren(QLabel):
            label.setWordWrap(True)
        self.pages.addWidget(intro)
        # one emotion
        take = QWidget()
        tv = QVBoxLayout(take)
        self.step_label = QLabel()
        self.sentence_label = QLabel()
        big = QFont()
        big.setPointSize(big.pointSize() + 6)
        self.sentence_label.setFont(big)
        self.sentence_label.setWordWrap(True)
        self.how_label = QLabel()
        self.count_label = QLabel("")
        self.count_label.setFont(big)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.level = LevelMeter()
        self.takes_label = QLabel()
        for w in (self.step_label, self.sentence_label, self.how_label, self.count_label, self.level):
            tv.addWidget(w)
        tv.addWidget(self.takes_label)
        buttons = QHBoxLayout()
        self.record_button = QPushButton("Record take (R)")
        self.play_button = QPushButton("Play back")
        self.again_button = QPushButton("Take again")
        self.next_button = QPushButton("Next")
        for b, slot in (
            (self.record_button, self.record),
            (self.play_button, self.play_back),
            (self.again_button, self.take_again),
            (self.next_button, self.next_emotion),
        ):
            b.clicked.connect(slot)
            buttons.addWidget(b)
        tv.addLayout(buttons)
        QShortcut(QKeySequence("R"), take, self.record)
        self.pages.addWidget(take)
        # the fit and its result
        result = QWidget()
        rv = QVBoxLayout(result)
        self.result_label = QLabel("Fitting your profile…")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rv.addWidget(self.result_label)
        rb = QHBoxLayout()
        self.use_button = QPushButton("Use this profile")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_profile)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        rb.addWidget(self.use_button)
        rb.addWidget(close)
        rv.addLayout(rb)
        self.pages.addWidget(result)

    # --- the session -------------------------------------------------------------------------------
    def begin(self) -> None:
        """Check the name, make the plan, show the first emotion."""
        from serlive.profiles.store import NAME_RE, profile_path

        name = self.name_edit.text().strip()
        if not NAME_RE.match(name):
            messages.show_error(
                self, "Profile name", "Use letters, digits, spaces, dots, dashes or underscores."
            )
            return
        folder = profile_path(name).with_suffix(".takes")
        self.plan = TeachPlan(self.emotions, self.takes_spin.value(), folder)
        self.index = 0
        self.pages.setCurrentIndex(1)
        self._show_step()

    @property
    def emotion(self) -> str:
        return self.emotions[self.index]

    def _show_step(self) -> None:
        assert self.plan is not None
        sentence, how = prompt_for(self.emotion, self.index)
        self.step_label.setText(f"Emotion {self.index + 1} of {len(self.emotions)}: <b>{self.emotion}</b>")
        self.sentence_label.setText(f"“{sentence}”")
        self.how_label.setText(f"Say it {how}.")
        self._sync()

    def _sync(self) -> None:
        assert self.plan is not None
        busy = self.recorder is not None or self.countdown.isActive()
        n = len(self.plan.takes[self.emotion])
        self.takes_label.setText(f"Take {n} of {self.plan.takes_per_emotion} recorded")
        self.record_button.setEnabled(not busy and not self.plan.done(self.emotion))
        self.play_button.setEnabled(not busy and n > 0)
        self.again_button.setEnabled(not busy and n > 0)
        self.next_button.setEnabled(not busy and self.plan.done(self.emotion))
        self.next_button.setText("Fit my profile" if self.index == len(self.emotions) - 1 else "Next")

    def record(self) -> None:
        """Count down, then record one take."""
        if self.plan is None or not self.record_button.isEnabled():
            return
        self._count = COUNTDOWN_S
        self.count_label.setText(str(self._count))
        self.countdown.start()
        self._sync()

    def _count_down(self) -> None:
        self._count -= 1
        if self._count > 0:
            self.count_label.setText(str(self._count))
            return
        self.countdown.stop()
        try:
            self.recorder = TakeRecorder(self.source_factory(), TAKE_S)
        except Exception as exc:  # no device, device busy: say so, stay on this step
            self.recorder = None
            self.count_label.setText("")
            messages.show_error(self, "Cannot record", str(exc))
            self._sync()
            return
        self.count_label.setText("● speak now")
        self.timer.start()
        self._sync()

    def _poll(self) -> None:
        rec = self.recorder
        if rec is None:
            return
        self.level.setValue(int(max(-60, min(0, rec.level_dbfs))))
        if not rec.finished:
            return
        self.timer.stop()
        self.recorder = None
        assert self.plan is not None
        try:
            y = rec.stop(16000)
            if len(y) < 0.5 * rec.wanted * 16000 / rec.rate:
                raise OSError(rec.source.error or "the input stopped before the take was complete")
            self._last_take = y
            self.plan.add_take(self.emotion, y, 16000)
            self.count_label.setText("✓")
        except OSError as exc:
            self.count_label.setText("")
            messages.show_error(self, "Cannot record", str(exc))
        self._sync()

    def play_back(self) -> None:
        """Play the last take of this emotion."""
        assert self.plan is not None
        takes = self.plan.takes[self.emotion]
        if not takes:
            return
        import soundfile as sf

        y, sr = sf.read(takes[-1], dtype="float32")
        try:
            (self._play or _play_default)(y, sr)
        except Exception as exc:
            messages.show_error(self, "Cannot play", str(exc))

    def take_again(self) -> None:
        """Drop the last take of this emotion and record it again."""
        assert self.plan is not None
        self.plan.drop_last(self.emotion)
        self._sync()
        self.record()

    def next_emotion(self) -> None:
        """The next emotion; after the last, the fit."""
        assert self.plan is not None
        if not self.plan.done(self.emotion):
            return
        if self.index < len(self.emotions) - 1:
            self.index += 1
            self._show_step()
            return
        self.pages.setCurrentIndex(2)
        self.result_label.setText("Fitting your profile…")
        threading.Thread(target=self._fit, name="serlive-teach-fit", daemon=True).start()

    # --- the fit -----------------------------------------------------------------------------------
    def _fit(self) -> None:
        """Worker thread: the CLI's enrolment and fit on the takes; touches no widget."""
        from serlive.files.enrolment import EnrolmentError, clips_from_folder, enrol
        from serlive.model import EmotionModel, ModelError
        from serlive.profiles.build import make_profile

        assert self.plan is not None
        try:
            model = EmotionModel(self.model_path)
            report = enrol(clips_from_folder(self.plan.folder), model)
            name = self.name_edit.text().strip()
            profile = make_profile(name, report.enrolment, report.kind, model.sha256, model.path.name)
        except (EnrolmentError, ModelError, ValueError, OSError) as exc:
            self._fit_signals.failed.emit(str(exc))
            return
        self._fit_signals.done.emit(profile)

    def _fitted(self, profile: Any) -> None:
        from serlive.profiles.store import calibration_table

        self.profile = profile
        self.result_label.setText(f"<pre>{calibration_table(profile)}</pre>")
        self.use_button.setEnabled(True)

    def _fit_failed(self, message: str) -> None:
        self.result_label.setText(
            f"The profile could not be fitted: {message}\nGo back with Close and teach it again, "
            "speaking a little louder or closer to the microphone."
        )

    def use_profile(self) -> None:
        """Save the fitted profile and ask the window to use it."""
        from serlive.profiles.store import ProfileError, profile_path, save_profile

        if self.profile is None:
            return
        try:
            save_profile(self.profile, profile_path(self.profile.name))
        except ProfileError as exc:
            messages.show_error(self, "Cannot save the profile", str(exc))
            return
        self.profile_made.emit(self.profile.name)
        self.accept()

    def done(self, result: int) -> None:
        """Closing stops a take under way (its device is released)."""
        self.countdown.stop()
        self.timer.stop()
        if self.recorder is not None:
            self.recorder.source.stop()
            self.recorder = None
        super().done(result)


def _play_default(y: Any, sr: int) -> None:
    """Play through the default output (sounddevice); raises where there is none."""
    from serlive.audio.sources import load_backend

    load_backend().play(y, sr)
