"""The app's calibration profile: Listen ▸ Profile, "Teach it my voice…", "This was…" and its Undo.

Why a controller of its own: the window, both tabs and both utterance tables take part, but the
logic is one thing: which profile judges (none, or one of the user's), how a choice is remembered
(QSettings ``profile``), and how one more labelled utterance refits the active profile on a worker
thread and is taken back by Undo.

Choosing another profile can change the labels themselves (a profile of one's own labels shows
only those), and every plot, legend and table is built over the labels: so the window asks the
app to open itself again on the new profile (:attr:`ProfileControl.switch_requested`), keeping
the file on screen and resuming listening.  A refit keeps the labels, so it is applied in place.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from serlive.gui import messages

#: how QSettings and the menu name the plain model
NONE = ""


class _RefitSignals(QObject):
    done = Signal(object, str)  # the refitted Profile, the label added
    failed = Signal(str)


class ProfileControl(QObject):
    """The active profile of one window and the actions on it."""

    #: open the window again on this profile ("" = none)
    switch_requested = Signal(str)
    #: the active profile changed in place (a refit, an undo): a line for the status bar
    changed = Signal(str)

    def __init__(self, window: Any, profile: Any, model_path: Any, settings: Any) -> None:
        super().__init__(window)
        self.window = window
        self.profile = profile
        self.model_path = model_path
        self.settings = settings
        self.undo_stack: list[tuple[Any, str]] = []
        self._plain_model: Any = None
        self._busy = False
        self._signals = _RefitSignals(self)
        self._signals.done.connect(self._refitted)
        self._signals.failed.connect(lambda text: messages.show_error(self.window, "Cannot refit", text))

    # --- the menu ------------------------------------------------------------------------------------
    def build_menu(self, listen_menu: QMenu) -> None:
        """Listen ▸ Profile (filled when it opens), Teach it my voice…, Undo."""
        self.menu = listen_menu.addMenu("&Profile")
        self.menu.aboutToShow.connect(self._fill)
        self.teach_action = QAction("&Teach it my voice…", self.window)
        self.teach_action.triggered.connect(self.teach)
        listen_menu.addAction(self.teach_action)
        self.undo_action = QAction("&Undo “This was…”", self.window)
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        self.undo_action.triggered.connect(self.undo)
        self.undo_action.setEnabled(False)
        listen_menu.addAction(self.undo_action)
        self._fill()

    def _fill(self) -> None:
        from serlive.profiles.store import Profile, list_profiles, profiles_dir

        menu = self.menu
        menu.clear()
        group = QActionGroup(menu)
        active = NONE if self.profile is None else self.profile.name
        choices: list[tuple[str, str, str]] = [(NONE, "&None (the general model)", "")]
        for p in list_profiles():
            if isinstance(p, Profile):
                choices.append((p.name, p.name, p.summary()))
            else:
                choices.append(("", f"{p[0].stem} (unreadable)", p[1]))
        self.choice_actions: dict[str, QAction] = {}
        for ref, text, tip in choices:
            act = menu.addAction(text)
            act.setCheckable(True)
            act.setToolTip(tip)
            act.setStatusTip(tip)
            group.addAction(act)
            if text.endswith("(unreadable)"):
                act.setEnabled(False)
                continue
            act.setChecked(ref == active)
            act.triggered.connect(lambda _=False, r=ref: self.choose(r))
            self.choice_actions[ref] = act
        menu.addSeparator()
        folder = menu.addAction("Show the profiles folder")
        folder.triggered.connect(lambda: QDesktopServices.openUrl(_url(profiles_dir())))

    def choose(self, ref: str) -> None:
        """Remember ``ref`` (a profile's name, or "" for none) and ask for the window on it."""
        current = NONE if self.profile is None else self.profile.name
        if ref == current:
            return
        live = self.window.live
        if live.engine is not None and live.engine.recording:
            messages.show_info(self.window, "Recording", "Stop the recording before changing the profile.")
            self._fill()
            return
        self.settings.setValue("profile", ref)
        self.switch_requested.emit(ref)

    # --- status and About ----------------------------------------------------------------------------
    def status_text(self) -> str:
        """The status bar's permanent part: the profile judging, if any."""
        return "" if self.profile is None else f"profile: {self.profile.name}"

    def about_html(self) -> str:
        """A line of the About box."""
        import html

        if self.profile is None:
            return "<b>Profile:</b> none (the general model)"
        return f"<b>Profile:</b> {html.escape(self.profile.summary())}"

    # --- teach ---------------------------------------------------------------------------------------
    def teach(self) -> Any:
        """Open "Teach it my voice" over the emotions shown; returns the dialog (tests drive it)."""
        from serlive.gui.teach_dialog import TeachDialog

        window = self.window
        names = window.shown_emotions()
        dialog = TeachDialog(names, self.model_path, window.live.make_source, window)
        dialog.profile_made.connect(self.choose_made)
        dialog.setModal(True)
        dialog.show()
        return dialog

    def choose_made(self, name: str) -> None:
        """A profile was just made: use it (even when it has the active one's name)."""
        self.settings.setValue("profile", name)
        self.switch_requested.emit(name)

    # --- "This was…" and Undo ----------------------------------------------------------------------
    def can_label(self) -> bool:
        """ "This was…" has a profile to label into."""
        return self.profile is not None and bool(self.profile.examples) and not self._busy

    def this_was(self, label: str, samples: NDArray[np.float32], start_s: float, end_s: float) -> None:
        """Label the utterance ``samples`` (model rate) as ``label`` and refit on a worker thread."""
        if not self.can_label():
            return
        self._busy = True
        profile = self.profile
        self.changed.emit(f"adding {end_s - start_s:.1f} s as {label} to profile {profile.name}…")
        threading.Thread(
            target=self._refit, args=(profile, label, samples), name="serlive-refit", daemon=True
        ).start()

    def _refit(self, profile: Any, label: str, samples: NDArray[np.float32]) -> None:
        """Worker thread: the utterance's vectors from the plain model, then the fit with it."""
        from serlive.files.enrolment import signal_vectors
        from serlive.model import EmotionModel
        from serlive.profiles.build import with_example
        from serlive.profiles.store import ProfileError, save_profile

        try:
            if self._plain_model is None:
                self._plain_model = EmotionModel(self.model_path)
            vectors = signal_vectors(samples, self._plain_model)
            if vectors is None:
                raise ValueError("no speech was heard in that utterance")
            again = with_example(profile, vectors[0], vectors[1], label)
            if again.path is not None:
                save_profile(again, again.path)
        except (ValueError, ProfileError, OSError) as exc:
            self._busy = False
            self._signals.failed.emit(str(exc))
            return
        self._signals.done.emit(again, label)

    def _refitted(self, profile: Any, label: str) -> None:
        self.undo_stack.append((self.profile, label))
        self._busy = False
        self._apply(profile)
        n = profile.clips.get(label, 0)
        self.changed.emit(f"profile {profile.name}: added as {label} ({n} examples); Undo: Ctrl+Z")

    def undo(self) -> None:
        """Take the last "This was…" back: the profile before it is saved and used again."""
        from serlive.profiles.store import ProfileError, save_profile

        if not self.undo_stack or self._busy:
            return
        before, label = self.undo_stack.pop()
        try:
            if before.path is not None:
                save_profile(before, before.path)
        except ProfileError as exc:
            self.undo_stack.append((before, label))
            messages.show_error(self.window, "Cannot undo", str(exc))
            return
        self._apply(before)
        self.changed.emit(f"profile {before.name}: the last {label} taken back")

    def _apply(self, profile: Any) -> None:
        """Use ``profile`` (the same labels) in the file viewer's model and the live engine, now."""
        self.profile = profile
        self.window.use_profile_in_place(profile)
        self.undo_action.setEnabled(bool(self.undo_stack))


def _url(path: Any) -> Any:
    from PySide6.QtCore import QUrl

    path.mkdir(parents=True, exist_ok=True)
    return QUrl.fromLocalFile(str(path))


def this_was_menu(parent: QWidget, control: ProfileControl | None, act: Any) -> QMenu | None:
    """A "This was…" submenu of the active profile's labels; ``act(label)`` labels the utterance."""
    if control is None or control.profile is None:
        return None
    menu = QMenu("This was…", parent)
    for label in control.profile.labels:
        a = menu.addAction(label)
        a.triggered.connect(lambda _=False, lb=label: act(lb))
    menu.setEnabled(control.can_label())
    return menu
