"""Start-up (issue 19, item 4): the window is on screen before the model loads, and a file still fills in.

The model's interpreter is held back by a patched loader until the test lets it go,
so "before" is an ordering checked with events, not a timing.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from serlive import preload
from serlive.model import EmotionModel, ModelError
from tests.conftest import REPO, spoken, write_audio


@pytest.fixture
def settings(tmp_path, monkeypatch) -> None:
    """The window's settings in the test's folder, never in ~/.config."""
    from serlive.gui import main_window

    ini = str(tmp_path / "settings.ini")
    monkeypatch.setattr(main_window, "QSettings", lambda *_a: QSettings(ini, QSettings.Format.IniFormat))


@pytest.fixture
def held_loader(monkeypatch) -> tuple[threading.Event, list[bool]]:
    """The interpreter is made only once the returned event is set; each load records whether it started."""
    release = threading.Event()
    started: list[bool] = []

    def held(*args, **kwargs) -> EmotionModel:
        started.append(True)
        assert release.wait(60), "the test never released the model"
        return EmotionModel(*args, **kwargs)

    monkeypatch.setattr(preload, "EmotionModel", held)
    return release, started


def test_window_is_shown_before_the_model_loads_and_the_file_fills_in(
    qtbot, tiny_models, tmp_path, errors, settings, held_loader, monkeypatch
):
    from serlive.gui import app

    release, started = held_loader
    frozen: list[bool] = []  # start() freezes the collector's view once the model is in: not the suite's
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    clip = write_audio(tmp_path / "clip.wav", spoken(7.0))
    analysed: list[object] = []
    win = app.start([str(clip)], str(tiny_models.int8))
    assert win is not None
    qtbot.addWidget(win)
    win.file.analysis_done.connect(analysed.append)
    try:
        assert win.isVisible()
        assert not win.model.loaded  # the window was built and shown from the metadata alone
        assert win.file.labels == tuple(win.model.labels)
        qtbot.waitUntil(lambda: bool(started), timeout=10_000)  # the load began once the loop ran
        qtbot.wait(300)  # the viewer's worker is waiting for the model; the window keeps working
        assert not analysed and not win.model.loaded
        with qtbot.waitSignal(win.file.analysis_done, timeout=60_000):
            release.set()
        assert win.model.loaded
        (a,) = analysed
        assert len(a.windows) > 1 and a.duration_s == pytest.approx(7.0)
        assert errors == []
        qtbot.waitUntil(lambda: bool(frozen), timeout=10_000)  # the load's end reached the GUI thread
    finally:
        release.set()
        win.close()


def test_a_model_the_runtime_rejects_after_the_window_is_up(
    qtbot, tiny_models, errors, settings, monkeypatch
):
    """Metadata fine, interpreter refused: the same message as before, then exit code 2."""
    from serlive.gui import app

    def rejected(*_a, **_k) -> EmotionModel:
        raise ModelError("the TFLite runtime rejected the model (test)")

    monkeypatch.setattr(preload, "EmotionModel", rejected)
    guard = QTimer()  # never hang the suite
    guard.setSingleShot(True)
    guard.timeout.connect(QApplication.quit)
    guard.start(20_000)
    try:
        rc = app.run([], str(tiny_models.int8))
    finally:
        guard.stop()
        for w in QApplication.topLevelWidgets():
            w.close()
    assert rc == 2
    assert (
        errors and errors[-1][0] == "Cannot load the model" and "rejected the model (test)" in errors[-1][1]
    )


def test_background_model_answers_metadata_at_once_and_the_rest_after_loading(tiny_models, held_loader):
    release, started = held_loader
    m = preload.BackgroundModel(tiny_models.int8)
    ref = EmotionModel(tiny_models.int8)
    assert (m.labels, m.meta, m.path) == (ref.labels, ref.meta, ref.path)
    assert m.extractor.n_frames(48000) == ref.extractor.n_frames(48000)
    assert m.adaptation is None and not started  # nothing loaded yet
    release.set()
    assert m.input_shape == ref.input_shape  # an interpreter attribute: waits for the load
    assert m.loaded and started


def test_the_model_file_is_hashed_once_for_the_profile_check_and_the_load(tiny_models, monkeypatch):
    """The app checks a remembered profile against the file's sha256 on the GUI thread; the load on its
    thread takes that hash instead of hashing the file again."""
    from serlive import model as model_module

    real = model_module.hashlib.sha256
    calls = []

    class CountingHashlib:
        @staticmethod
        def sha256(*args):
            calls.append(args)
            return real(*args)

    monkeypatch.setattr(model_module, "hashlib", CountingHashlib)
    want = real(tiny_models.int8.read_bytes()).hexdigest()
    m = preload.BackgroundModel(tiny_models.int8)
    assert not calls  # no profile asked about yet: no hash at all
    assert m.sha256 == want and m.sha256 == want
    assert len(calls) == 1
    seen = {}

    class RecordingModel:
        def __init__(self, path, num_threads=1, profile=None, sha256=None):
            seen["sha256"] = sha256

    monkeypatch.setattr(preload, "EmotionModel", RecordingModel)
    monkeypatch.setattr(preload, "_warm_up", lambda: None)
    m.start()
    assert m._ready.wait(10) and m._error is None
    assert seen["sha256"] == want and len(calls) == 1
    given = EmotionModel(tiny_models.int8, sha256="ab" * 32)
    assert given.sha256 == "ab" * 32 and len(calls) == 1


def test_bad_metadata_is_refused_before_any_window(tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"broken\.tflite"):
        preload.BackgroundModel(bad)
    with pytest.raises(ModelError, match="not found"):
        preload.BackgroundModel(tmp_path / "missing.tflite")


def test_the_window_path_imports_neither_scipy_nor_the_runtime():
    """What the window needs before it is drawn; scipy.fft and LiteRT come later, on the loading thread."""
    code = (
        "import sys\n"
        "import serlive.gui.app, serlive.gui.main_window, serlive.preload\n"
        "mods = ('scipy', 'scipy.fft', 'ai_edge_litert', 'tflite_runtime')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
