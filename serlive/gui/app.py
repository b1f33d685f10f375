"""Start the desktop app: QApplication, the model, the main window, files from the command line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

ICON = Path(__file__).resolve().parent / "icon.svg"


def application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once), named so QSettings lands under organisation "serlive"."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv or sys.argv[:1]))
    app.setOrganizationName("serlive")
    app.setApplicationName("serlive")
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    return app  # type: ignore[return-value]


def run(files: Sequence[str] = (), model_path: str | None = None) -> int:
    """Open the window (and ``files`` in the viewer); returns the exit code."""
    from serlive.gui import messages
    from serlive.gui.main_window import MainWindow
    from serlive.model import EmotionModel, ModelError

    app = application()
    try:
        model = EmotionModel(model_path, num_threads=1)
    except ModelError as exc:
        messages.show_error(None, "Cannot load the model", f"The emotion model could not be loaded:\n{exc}")
        return 2
    win = MainWindow(model, model_path)
    win.show()
    for f in files[:1]:
        win.open_file(f)
    return app.exec()
