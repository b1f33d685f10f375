"""A WAV file cut short is labelled for what it holds and said to be cut short (issue 28, item 4).

libsndfile opens a WAV whose data chunk is shorter than its header declares as a complete shorter
file: a 3.65 s clip cut to its first 50 KB read as a shorter file and ``predict`` said nothing.  Now
the loader's :func:`truncation_warning` reads the chunk sizes; ``predict`` puts it in a ``warning``
field (JSON) or a stderr line (text, CSV), and the viewer in its header and status line.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serlive.audio.io import load_audio, truncation_warning
from serlive.audio.record import WavRecorder
from tests.conftest import SR, speechlike


def _clip(tmp_path: Path, name: str = "clip.wav", subtype: str = "PCM_16", channels: int = 1) -> Path:
    y = speechlike(3.65, seed=4)
    path = tmp_path / name
    sf.write(path, np.stack([y] * channels, axis=1) if channels > 1 else y, SR, subtype=subtype)
    return path


def _cut(path: Path, n_bytes: int) -> Path:
    out = path.with_name("cut-" + path.name)
    out.write_bytes(path.read_bytes()[:n_bytes])
    return out


def test_a_cut_wav_is_named_with_what_it_holds_and_what_it_declares(tmp_path: Path):
    whole = _clip(tmp_path)
    cut = _cut(whole, 50_000)
    assert truncation_warning(whole) is None
    warning = truncation_warning(cut)
    have = len(load_audio(cut)) / SR  # what the loader still reads: the part that is there
    assert warning is not None and 1.5 < have < 1.6
    assert f"holds {have:.2f} s of the 3.65 s" in warning and "truncated" in warning
    stereo = _cut(_clip(tmp_path, "stereo.wav", "FLOAT", channels=2), 100_000)
    assert "of the 3.65 s" in (truncation_warning(stereo) or "")


def test_whole_files_and_other_formats_give_no_warning(tmp_path: Path):
    flac = tmp_path / "clip.flac"
    sf.write(flac, speechlike(1.0), SR)
    assert truncation_warning(_cut(flac, 2000)) is None  # not a WAV: nothing to compare
    assert truncation_warning(tmp_path / "missing.wav") is None  # load_audio's to report
    # a stream's placeholder size (0xFFFFFFFF) is no claim about the length
    raw = bytearray(_clip(tmp_path).read_bytes())
    data = raw.index(b"data")
    raw[data + 4 : data + 8] = struct.pack("<I", 0xFFFFFFFF)
    (tmp_path / "stream.wav").write_bytes(bytes(raw[:30_000]))
    assert truncation_warning(tmp_path / "stream.wav") is None
    # a recording whose process was killed declares less than it holds: not cut short
    rec = WavRecorder(tmp_path / "rec.wav", SR, flush_interval_s=3600)
    rec.write(np.ones(1000, np.float32))
    rec.flush()
    rec.write(np.ones(500, np.float32))
    assert truncation_warning(rec.path) is None
    rec.close()


def test_predict_warns_in_json_and_on_stderr_and_labels_what_is_there(tmp_path: Path, capsys):
    from serlive.cli import main

    cut = _cut(_clip(tmp_path), 50_000)
    rc = main(["predict", "--format", "json", str(cut)])
    out, err = capsys.readouterr()
    rec = json.loads(out)
    assert rc == 0 and "truncated" in rec["warning"] and rec["duration_s"] == pytest.approx(1.56, abs=0.01)
    assert rec["label"]  # what is there is still labelled
    rc = main(["predict", str(cut)])
    out, err = capsys.readouterr()
    assert rc == 0 and f"serlive: {cut}: warning: truncated" in err and "(1.6 s)" in out
    rc = main(["predict", "--format", "json", str(_clip(tmp_path, "whole.wav"))])
    assert "warning" not in json.loads(capsys.readouterr().out)


def test_the_viewer_says_so_in_its_header_and_status_line(qtbot, tmp_path: Path):
    from serlive.gui.file_view import FileView
    from serlive.model import EmotionModel

    view = FileView(EmotionModel(num_threads=1))
    qtbot.addWidget(view)
    statuses: list[str] = []
    view.status_changed.connect(statuses.append)
    cut = _cut(_clip(tmp_path), 50_000)
    view.open_file(cut)
    qtbot.waitUntil(lambda: view.loaded is not None and not view.busy, timeout=30_000)
    qtbot.waitUntil(lambda: "⚠" in view.title.text(), timeout=10_000)
    assert "truncated" in view.title.text() and "1.56 s of the 3.65 s" in view.title.toolTip()
    assert "⚠ truncated" in statuses[-1]
    view.open_file(_clip(tmp_path, "whole.wav"))
    qtbot.waitUntil(lambda: view.loaded is not None and view.loaded.path.name == "whole.wav", timeout=30_000)
    qtbot.waitUntil(lambda: not view.busy and "whole.wav" in view.title.text(), timeout=10_000)
    assert "⚠" not in view.title.text() and view.title.toolTip() == ""
    view.shutdown()
