"""``serlive --install-desktop-entry`` / ``--uninstall-desktop-entry``: the menu entry and icon.

What is written is checked with ``desktop-file-validate`` (Debian's ``desktop-file-utils``, installed
by ``.ci/run``; outside CI the check is skipped when the tool is missing), parsed back the way a
desktop reads it (the Exec line's quoting included), and run.  Every test uses a temporary
``$XDG_DATA_HOME``: nothing lands in the real ``~/.local/share``.
"""

from __future__ import annotations

import configparser
import importlib.resources
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from serlive import __version__
from serlive.cli import commands as cli
from serlive.cli import desktop

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def validate(path: Path) -> None:
    """``desktop-file-validate`` must print nothing (no error, no warning) and exit 0."""
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        if IN_CI:
            pytest.fail("desktop-file-validate missing: .ci/run installs desktop-file-utils")
        pytest.skip("desktop-file-validate not installed (Debian: desktop-file-utils)")
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        proc.stdout + proc.stderr
    )


def read_entry(path: Path) -> dict[str, str]:
    """The ``[Desktop Entry]`` group, with the string escapes undone."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    group = dict(parser["Desktop Entry"])
    return {
        k: v.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\0", "\\")
        for k, v in group.items()
    }


def split_exec(value: str) -> list[str]:
    """An Exec value (string escapes already undone) into arguments, as the specification quotes them."""
    args: list[str] = []
    cur: list[str] = []
    quoted = have = False
    i = 0
    while i < len(value):
        c = value[i]
        if quoted and c == "\\":
            cur.append(value[i + 1])
            i += 1
        elif c == '"':
            quoted, have = not quoted, True
        elif c == " " and not quoted:
            if cur or have:
                args.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(c)
        i += 1
    assert not quoted, f"unbalanced quotes in {value!r}"
    if cur or have:
        args.append("".join(cur))
    return [a.replace("%%", "%") if a != "%F" else a for a in args]


@pytest.fixture()
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "data home"  # a space: paths must survive quoting
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def test_install_writes_a_valid_entry_and_the_icon(xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--install-desktop-entry"]) == 0
    entry = xdg / "applications" / "serlive.desktop"
    icon = xdg / "icons" / "hicolor" / "scalable" / "apps" / "serlive.svg"
    out = capsys.readouterr().out
    assert str(entry) in out and str(icon) in out
    validate(entry)
    assert icon.read_bytes() == importlib.resources.files("serlive").joinpath("gui", "icon.svg").read_bytes()
    assert oct(entry.stat().st_mode & 0o777) == "0o644"
    d = read_entry(entry)
    assert d["Type"] == "Application" and d["Name"] == "serlive" and d["Icon"] == "serlive"
    assert d["Terminal"] == "false"
    mimes = d["MimeType"].rstrip(";").split(";")
    assert {"audio/x-wav", "audio/flac", "audio/ogg", "audio/mpeg"} <= set(mimes)
    assert all(m.startswith("audio/") for m in mimes)
    args = split_exec(d["Exec"])
    assert args[-1] == "%F" and args[:-1] == desktop.launcher_command()  # files from the file manager
    assert d["TryExec"] == args[0] and Path(args[0]).is_absolute()
    # the command the menu runs is this serlive: with the files replaced by --version it answers
    proc = subprocess.run([*args[:-1], "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith(f"serlive {__version__}\n"), proc.stderr


def test_uninstall_removes_both(xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--install-desktop-entry"]) == 0
    assert cli.main(["--uninstall-desktop-entry"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (xdg / "applications" / "serlive.desktop").exists()
    assert not (xdg / "icons" / "hicolor" / "scalable" / "apps" / "serlive.svg").exists()
    assert not [p for p in xdg.rglob("*serlive*")]
    assert cli.main(["--uninstall-desktop-entry"]) == 0  # nothing there: says so, no error
    assert "no desktop entry to remove" in capsys.readouterr().out


def test_reinstall_replaces_the_entry(xdg: Path) -> None:
    desktop.install(command=["/old/serlive"])
    desktop.install(command=["/new/serlive"])
    d = read_entry(xdg / "applications" / "serlive.desktop")
    assert split_exec(d["Exec"]) == ["/new/serlive", "%F"]
    assert not [p.name for p in (xdg / "applications").iterdir() if p.name.startswith(".")]  # no temp files


@pytest.mark.parametrize(
    "command",
    [
        ["/opt/my apps/serlive"],
        ["/home/a b/v$env/bin/python", "-m", "serlive.cli"],
        ['/odd"dir/back\\slash/`tick`/100%/serlive'],
    ],
)
def test_exec_quoting_survives_odd_paths(tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "xdg"
    desktop.install(home, command)
    entry = desktop.entry_path(home)
    validate(entry)
    d = read_entry(entry)
    assert split_exec(d["Exec"]) == [*command, "%F"]
    assert d["TryExec"] == command[0]


def test_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert desktop.data_home({"XDG_DATA_HOME": "/x/share"}) == Path("/x/share")
    assert desktop.data_home({"XDG_DATA_HOME": "relative/share"}) == tmp_path / ".local" / "share"
    assert desktop.data_home({}) == tmp_path / ".local" / "share"


def test_launcher_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "bin" / "serlive"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script)])
    assert desktop.launcher_command() == [str(script)]
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "pytest")])  # some other program: python -m
    assert desktop.launcher_command() == [str(Path(sys.executable).absolute()), "-m", "serlive.cli"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # the standalone executable
    assert desktop.launcher_command() == [str(Path(sys.executable).absolute())]


def test_desktop_flags_take_no_subcommand(xdg: Path) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--install-desktop-entry", "devices"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["--install-desktop-entry", "--uninstall-desktop-entry"])
    assert not xdg.exists()


def test_version_names_the_model_and_its_training_date(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from serlive.model import default_model_path
    from tests.test_model import shipped_training_date

    monkeypatch.delenv("SERLIVE_MODEL", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first == f"serlive {__version__}"
    assert second == f"model: {default_model_path()} (trained {shipped_training_date()})"
