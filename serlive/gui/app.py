"""Start the desktop app: QApplication, the model, the main window, files from the command line."""

from __future__ import annotations

import gc
import importlib.resources
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from serlive.gui.main_window import MainWindow

#: package data, found the same way in a checkout, a wheel install and the PyInstaller bundle
ICON = Path(os.fspath(importlib.resources.files("serlive.gui").joinpath("icon.svg")))


def application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once), named so QSettings lands under organisation "serlive"."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv or sys.argv[:1]))
    app.setOrganizationName("serlive")
    app.setApplicationName("serlive")
    # the window belongs to serlive.desktop (serlive --install-desktop-entry): its icon and name in docks
    app.setDesktopFileName("serlive")
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    return app  # type: ignore[return-value]


def run(files: Sequence[str] = (), model_path: str | None = None, profile: str | None = None) -> int:
    """Open the window (and ``files`` in the viewer); returns the exit code.

    ``profile``: ``--profile`` or ``$SERLIVE_PROFILE`` (``"none"``: the plain model); None: the profile
    chosen last time in Listen ▸ Profile.
    """
    app = application()
    win = start(files, model_path, profile)
    if win is None:
        return 2
    _env_hooks(win, bool(files))
    return app.exec()


def choose_profile(ref: str | None, model: Any) -> tuple[Any, str | None]:
    """The profile the window starts with, and a warning to show if the remembered one is unusable.

    A profile asked for on the command line that cannot be used raises ProfileError (the app then
    says so and ends with exit code 2); one remembered from last time only earns a warning, so a
    deleted or outdated profile never keeps the app from starting.
    """
    from serlive.gui import main_window  # its QSettings: the window's own settings (tests point it elsewhere)
    from serlive.profiles.store import ProfileError, load_profile

    explicit = ref is not None
    if ref is None:
        ref = str(main_window.QSettings("serlive", "serlive").value("profile", "") or "")
    if ref.strip().lower() in ("", "none"):
        return None, None
    try:
        profile = load_profile(ref)
        profile.check_model(model.sha256, model.meta.labels, model.path.name)
    except ProfileError as exc:
        if explicit:
            raise
        return None, f"the profile chosen last time is not used: {exc}"
    return profile, None


def start(
    files: Sequence[str] = (), model_path: str | None = None, profile_ref: str | None = None
) -> MainWindow | None:
    """Show the window first, then load the model (:mod:`serlive.preload`); None when the model is unusable.

    The window is built from the model's metadata and shown before the interpreter
    exists: the load starts on a thread once the event loop runs, and a file given
    here is analysed (on the viewer's worker thread) as soon as the model is ready.
    A model whose metadata is unusable is refused before any window appears, as
    before; one the runtime then rejects gets the same message, and the app ends
    with exit code 2.
    """
    from PySide6.QtCore import QObject, Qt, QTimer, Signal

    from serlive.gui import messages
    from serlive.gui.main_window import MainWindow
    from serlive.model import ModelError
    from serlive.preload import BackgroundModel
    from serlive.profiles.store import ProfileError

    try:
        model = BackgroundModel(model_path, num_threads=1)
        profile, warning = choose_profile(profile_ref, model)
    except ModelError as exc:
        messages.show_error(None, "Cannot load the model", f"The emotion model could not be loaded:\n{exc}")
        return None
    except ProfileError as exc:
        messages.show_error(None, "Cannot use the profile", str(exc))
        return None
    model.profile = profile
    win = MainWindow(model, model_path, profile=profile)
    win.show()
    if warning:
        win.statusBar().showMessage(warning, 15000)
    win.profiles.switch_requested.connect(lambda ref: reopen(win, model_path, ref))

    class Loaded(QObject):
        """Carries the load's end from the loading thread to the GUI thread."""

        done = Signal(object)

    loaded = Loaded(win)

    def on_loaded(error: object) -> None:
        if error is not None:
            messages.show_error(
                win, "Cannot load the model", f"The emotion model could not be loaded:\n{error}"
            )
            QApplication.exit(2)
            return
        # Everything imported so far (Qt, pyqtgraph, numpy, scipy, LiteRT: ~80 k objects) lives as long
        # as the app; moved out of the collector's view, a full collection no longer scans it (25 ms
        # measured on the GUI thread), so collections stay well inside a frame.
        gc.collect()
        gc.freeze()

    loaded.done.connect(on_loaded, Qt.ConnectionType.QueuedConnection)  # emitted on the loading thread

    def begin() -> None:
        win.repaint()  # the first frame is on screen before the threads below compete for the GIL
        model.start(loaded.done.emit)
        if files:  # the first now (the viewer's worker waits for the model), the others in turn
            win.open_files(files)  # (File ▸ Open next file)

    # two turns of the event loop: the first paints the window (and lets SERLIVE_TRACE say so), the
    # second starts the work that needs the model
    QTimer.singleShot(0, lambda: QTimer.singleShot(0, begin))
    return win


def reopen(old: MainWindow, model_path: str | None, profile_ref: str) -> MainWindow | None:
    """The window again on another profile (its labels may differ): the file on screen, listening resumed.

    The new window opens before the old one closes (the app would quit with its last window);
    when the new one cannot open, the old one stays and says why.
    """
    from PySide6.QtCore import QTimer

    loaded = old.file.loaded
    files = [str(loaded.path)] if loaded is not None else []
    listening = old.live.engine is not None and old.live.engine.running
    old.save_settings()
    new = start(files, model_path, profile_ref or "none")
    if new is None:
        return None
    if listening:
        QTimer.singleShot(0, new.live.start)
    old.close()
    return new


def _env_hooks(win: MainWindow, has_file: bool) -> None:
    """For the packaged app's smoke test and ``bench/bench_exe.py``; nothing happens unless set.

    ``SERLIVE_TRACE=1``: print ``serlive-trace: EVENT TIME`` (``time.time()``) on stderr when the window
    has been painted (``shown``), a file has been analysed (``file-analysed``) and the first live frame
    has been painted (``live-frame``); without a file it also starts listening at once on the default
    input, as the Start button does (``listening`` once the stream is open, ``no-input-device`` if there
    is none).
    ``SERLIVE_QUIT_AFTER=SECONDS``: close the window (as File > Quit does) after that long.
    """
    from PySide6.QtCore import QTimer

    if os.environ.get("SERLIVE_TRACE"):
        live = win.live

        def trace(event: str) -> None:
            win.repaint()  # the frame is on screen before we say so
            print(f"serlive-trace: {event} {time.time():.3f}", file=sys.stderr, flush=True)

        def first_live_frame() -> None:
            if live.engine is not None and live.engine.samples_received > 0:
                live.timer.timeout.disconnect(first_live_frame)
                trace("live-frame")

        def start() -> None:
            trace("shown")
            if not has_file:
                if live.devices:
                    live.timer.timeout.connect(first_live_frame)  # after LiveView.tick
                    live.start()
                    trace("listening")  # the input stream is open; its first block is not there yet
                else:
                    trace("no-input-device")

        win.file.analysis_done.connect(lambda _a: trace("file-analysed"))
        QTimer.singleShot(0, start)
    quit_after = os.environ.get("SERLIVE_QUIT_AFTER")
    if quit_after:
        QTimer.singleShot(round(1000 * float(quit_after)), win.close)
