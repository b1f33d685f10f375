"""Linux desktop integration: a menu entry and an icon in the user's XDG data folders.

``serlive --install-desktop-entry`` writes ``applications/serlive.desktop`` and
``icons/hicolor/scalable/apps/serlive.svg`` under ``$XDG_DATA_HOME`` (``~/.local/share`` when unset),
which is where desktops look for per-user applications: the app then shows in the menu and in "Open
with" for audio files, and a file opened that way lands in the file viewer (``Exec=... %F``; the app
opens the first).  ``--uninstall-desktop-entry`` removes both.  pip and pipx cannot write outside the
environment they install into, hence a command rather than package data.

The entry runs the very command that installed it (the console script of this venv or pipx app, or
the standalone executable) by absolute path, with ``TryExec`` on it so that desktops hide the entry
once that program is uninstalled.  No Qt here: the command works without a display.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import subprocess
import sys
from pathlib import Path

APP_ID = "serlive"
#: what ``serlive.audio.io`` reads (AUDIO_EXTENSIONS), as shared-mime-info names them, with their aliases
MIME_TYPES = (
    "audio/x-wav",
    "audio/wav",
    "audio/vnd.wave",
    "audio/flac",
    "audio/x-flac",
    "audio/ogg",
    "audio/x-vorbis+ogg",
    "audio/x-flac+ogg",
    "audio/x-opus+ogg",
    "audio/x-aiff",
    "audio/x-aifc",
    "audio/basic",
    "audio/mpeg",
)
#: characters that make an Exec argument need quotes (Desktop Entry Specification, "The Exec key")
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_home(env: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share``; the spec says to ignore a relative value."""
    value = (os.environ if env is None else env).get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def entry_path(home: Path) -> Path:
    """Where the .desktop file goes (its name is the desktop file ID the window announces)."""
    return home / "applications" / f"{APP_ID}.desktop"


def icon_path(home: Path) -> Path:
    """Where the icon goes: the hicolor theme, the fallback every icon theme inherits."""
    return home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"


def launcher_command() -> list[str]:
    """The command that runs this serlive: the frozen executable, the console script, or ``python -m``.

    A console script (``venv/bin/serlive``, pipx's ``~/.local/bin/serlive``) is kept as the path it was
    started by, symlinks not resolved, so that a pipx upgrade, which replaces the venv behind the link,
    keeps the entry working.
    """
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).absolute())]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name.startswith(APP_ID) and script.suffix != ".py" and script.is_file():
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "serlive.cli"]


def _exec_arg(arg: str) -> str:
    """One Exec argument, quoted per the Desktop Entry Specification when it needs to be."""
    arg = arg.replace("%", "%%")
    if not any(c in _RESERVED for c in arg):
        return arg
    for c in ("\\", '"', "`", "$"):
        arg = arg.replace(c, "\\" + c)
    return f'"{arg}"'


def _escape_value(value: str) -> str:
    """A string value of a desktop file: backslashes doubled (the general escape layer, under Exec's)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def desktop_entry(command: list[str]) -> str:
    """The text of ``serlive.desktop`` for a launcher ``command``."""
    exec_line = " ".join(_exec_arg(a) for a in command) + " %F"
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=serlive",
        "GenericName=Speech emotion recognition",
        "Comment=Hear which emotion a voice carries, live from the microphone or in audio files",
        f"TryExec={_escape_value(command[0])}",
        f"Exec={_escape_value(exec_line)}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=AudioVideo;Audio;",
        f"MimeType={';'.join(MIME_TYPES)};",
        "Keywords=emotion;speech;voice;microphone;SER;",
        "StartupNotify=true",
    ]
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename, so a menu never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _refresh_mime_cache(applications: Path) -> None:
    """Let "Open with" see the MimeType line now (desktop-file-utils; desktops also rescan on their own)."""
    tool = shutil.which("update-desktop-database")
    if tool and applications.is_dir():
        subprocess.run([tool, "-q", str(applications)], check=False, capture_output=True, timeout=30)


def install(home: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Write the entry and the icon; the paths written."""
    home = data_home() if home is None else home
    entry, icon = entry_path(home), icon_path(home)
    svg = importlib.resources.files("serlive").joinpath("gui", "icon.svg").read_bytes()
    _write(icon, svg)
    _write(entry, desktop_entry(command or launcher_command()).encode("utf-8"))
    _refresh_mime_cache(entry.parent)
    return [entry, icon]


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove the entry and the icon; the paths that were there."""
    home = data_home() if home is None else home
    removed = []
    for path in (entry_path(home), icon_path(home)):
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    if removed:
        _refresh_mime_cache(entry_path(home).parent)
    return removed
