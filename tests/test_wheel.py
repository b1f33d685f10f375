"""The app as a Python package: built with ``python -m build``, installed from the wheel, used elsewhere.

Builds the sdist and, from it, the wheel (``python -m build`` does both, the wheel from the unpacked
sdist, so a file the sdist forgets is missing from the wheel too) out of a copy of the checkout, then:

* both hold every shipped model (``serlive/models/*.tflite``, byte for byte), the model card and the icon;
* the wheel installs with plain ``pip install`` (dependencies resolved, no ``--no-deps``) into a fresh
  venv outside the checkout that sees nothing of the test venv; the dependency versions are pinned to the
  test venv's (a constraints file, so pip takes them from its cache and the outputs are comparable);
* from another working directory: ``serlive --version`` names the model inside the venv's site-packages
  with its training date; ``serlive predict --format json --timeline`` on a generated clip prints exactly
  what the checkout prints; ``--install-desktop-entry`` writes an entry whose Exec line, run with the clip
  for ``%F``, opens the desktop app offscreen, analyses the clip and exits 0 (``SERLIVE_QUIT_AFTER``);
* ``pip uninstall -y serlive`` leaves no file of the package behind.

In CI (``CI=true``) a build that cannot be made fails the test; elsewhere it is skipped only when the
build backend cannot be fetched (offline).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from serlive import __version__
from serlive.model import DEFAULT_MODEL_NAME
from tests.conftest import REPO, SR, assert_opens_clip_offscreen, speechlike, write_audio
from tests.test_desktop import read_entry, split_exec
from tests.test_model import shipped_training_date

pytestmark = pytest.mark.slow

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
#: what a copy of the checkout leaves out: VCS, venvs, caches, build output, training runs
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "runs", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
    ".ruff_cache", ".cache", "out",
)  # fmt: skip
#: package data every build must carry, besides each serlive/models/*.tflite of the checkout
PACKAGE_DATA = ("serlive/models/README.md", "serlive/gui/icon.svg")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without what would let the installed app see the checkout or another model."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SERLIVE_MODEL", "VIRTUAL_ENV")}
    return {**env, **extra}


def run(cmd: list[str], cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout, check=False
    )


def shipped_files() -> dict[str, bytes]:
    """Package path → bytes of every file that must be in the wheel and the sdist."""
    models = sorted((REPO / "serlive" / "models").glob("*.tflite"))
    assert REPO / "serlive" / "models" / DEFAULT_MODEL_NAME in models
    paths = [p.relative_to(REPO).as_posix() for p in models] + list(PACKAGE_DATA)
    return {p: (REPO / p).read_bytes() for p in paths}


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Installed:
    venv: Path
    serlive: Path  # the console script
    site_packages: Path
    record: list[Path]  # every file pip installed for serlive (the dist-info's RECORD)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheel")


@pytest.fixture(scope="module")
def built(workdir: Path) -> Built:
    """``python -m build`` on a copy of the checkout (no build/ or egg-info lands in the checkout)."""
    try:
        import build  # noqa: F401
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("python -m build not installed (it is in the test extra)")
    src = workdir / "src"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE)
    dist = workdir / "dist"
    proc = run([sys.executable, "-m", "build", "--outdir", str(dist), str(src)], src, timeout=600)
    log = f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    if (
        proc.returncode
        and not IN_CI
        and "Could not find a version that satisfies" in proc.stdout + proc.stderr
    ):
        pytest.skip(f"the build backend could not be installed (offline?)\n{log}")
    assert proc.returncode == 0, log
    (wheel,) = dist.glob("serlive-*.whl")
    (sdist,) = dist.glob("serlive-*.tar.gz")
    return Built(wheel, sdist)


@pytest.fixture(scope="module")
def elsewhere(workdir: Path) -> Path:
    """A working directory outside the checkout."""
    d = workdir / "cwd"
    d.mkdir()
    return d


def constraints(path: Path) -> Path:
    """The test venv's versions of every installed distribution (but serlive) as pip constraints."""
    pins: dict[str, str] = {}
    for d in metadata.distributions():
        name = (d.metadata["Name"] or "").lower().replace("_", "-")
        if name and name != "serlive":
            pins[name] = d.version  # one pin per name, even with a stale second dist-info around
    path.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    return path


@pytest.fixture(scope="module")
def installed(built: Built, workdir: Path) -> Installed:
    """A fresh venv (no system site-packages) with the wheel installed by ``pip install WHEEL``."""
    venv = workdir / "venv"
    proc = run([sys.executable, "-m", "venv", str(venv)], workdir)
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    proc = run([*pip, "-c", str(constraints(workdir / "constraints.txt")), str(built.wheel)], workdir, 900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], workdir)
    site = Path(proc.stdout.strip())
    (dist_info,) = site.glob("serlive-*.dist-info")
    record = [
        (site / line.split(",")[0]).resolve()
        for line in (dist_info / "RECORD").read_text().splitlines()
        if line.strip()
    ]
    return Installed(venv, venv / "bin" / "serlive", site, record)


def test_wheel_and_sdist_hold_the_models(built: Built) -> None:
    want = shipped_files()
    with zipfile.ZipFile(built.wheel) as zf:
        got = {name: zf.read(name) for name in zf.namelist() if name in want}
        assert not [n for n in zf.namelist() if n.startswith("models/")], "model files outside the package"
    assert got == want, sorted(set(want) - set(got))
    with tarfile.open(built.sdist) as tf:
        root = tf.getnames()[0].split("/")[0]
        got = {}
        for name in want:
            member = tf.extractfile(f"{root}/{name}")
            assert member is not None, name
            got[name] = member.read()
    assert got == want


def test_installed_outside_the_checkout(installed: Installed, elsewhere: Path) -> None:
    python = installed.venv / "bin" / "python"
    proc = run(
        [str(python), "-c", "import serlive, sys; print(serlive.__file__); print(sys.prefix)"], elsewhere
    )
    assert proc.returncode == 0, proc.stderr
    module, prefix = proc.stdout.split()
    assert Path(module).parent == installed.site_packages / "serlive"
    assert Path(prefix) == installed.venv and REPO not in Path(module).parents


def test_version_names_the_installed_model(installed: Installed, elsewhere: Path) -> None:
    proc = run([str(installed.serlive), "--version"], elsewhere, timeout=60)
    assert proc.returncode == 0, proc.stderr
    model = installed.site_packages / "serlive" / "models" / DEFAULT_MODEL_NAME
    date = shipped_training_date()
    assert proc.stdout.splitlines() == [f"serlive {__version__}", f"model: {model} (trained {date})"]
    assert model.read_bytes() == (REPO / "serlive" / "models" / DEFAULT_MODEL_NAME).read_bytes()


@pytest.fixture(scope="module")
def clip(workdir: Path) -> Path:
    """10.5 s: speech-like sound, 3.5 s of silence (some windows are 'no speech'), speech again."""
    pause = np.zeros(7 * SR // 2, np.float32)
    y = np.concatenate([speechlike(3.5, seed=3), pause, speechlike(3.5, seed=4, f0=200)])
    return write_audio(workdir / "clip dir" / "clip.wav", y)


def test_predict_json_same_as_source(installed: Installed, clip: Path, elsewhere: Path) -> None:
    args = ["predict", "--format", "json", "--timeline", str(clip)]
    proc = run([str(installed.serlive), *args], elsewhere)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)
    assert rec["path"] == str(clip) and len(rec["probabilities"]) == 8
    assert any(w["silent"] for w in rec["timeline"]) and not all(w["silent"] for w in rec["timeline"])
    source = run([sys.executable, "-m", "serlive.cli", *args], elsewhere)
    assert source.returncode == 0, source.stderr
    assert proc.stdout == source.stdout


def test_desktop_entry_opens_a_file_in_the_app(installed: Installed, clip: Path, elsewhere: Path) -> None:
    xdg = elsewhere / "xdg data"
    proc = run([str(installed.serlive), "--install-desktop-entry"], elsewhere, 60, XDG_DATA_HOME=str(xdg))
    assert proc.returncode == 0, proc.stderr
    entry = read_entry(xdg / "applications" / "serlive.desktop")
    args = split_exec(entry["Exec"])
    assert args == [str(installed.serlive), "%F"] and entry["TryExec"] == str(installed.serlive)
    # what a file manager does with "Open with serlive": %F becomes the file
    assert_opens_clip_offscreen(run, [*args[:-1], str(clip)], elsewhere)
    proc = run([str(installed.serlive), "--uninstall-desktop-entry"], elsewhere, 60, XDG_DATA_HOME=str(xdg))
    assert proc.returncode == 0 and not list(xdg.rglob("serlive*")), proc.stdout + proc.stderr


def test_uninstall_leaves_nothing(installed: Installed, elsewhere: Path) -> None:
    """Last: removes the package (the other tests above have run it, so byte code was written too)."""
    assert installed.serlive in installed.record
    assert any(p.name == DEFAULT_MODEL_NAME for p in installed.record)
    python = installed.venv / "bin" / "python"
    proc = run([str(python), "-m", "pip", "uninstall", "-y", "serlive"], elsewhere, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    left = [p for p in installed.record if p.exists()]
    assert not left, left
    assert not (installed.site_packages / "serlive").exists()
    assert not list(installed.site_packages.glob("serlive*"))
    assert not list((installed.venv / "bin").glob("serlive*"))
