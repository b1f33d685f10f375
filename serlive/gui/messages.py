"""Message boxes in one place, so tests can replace them (a modal box would block an offscreen run)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def show_error(parent: QWidget | None, title: str, text: str) -> None:
    """A modal error box: bad input is always explained, never a traceback."""
    QMessageBox.critical(parent, title, text)


def show_info(parent: QWidget | None, title: str, text: str) -> None:
    """A modal information box."""
    QMessageBox.information(parent, title, text)
