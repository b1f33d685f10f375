"""``serlive predict``: output formats, timelines, errors, folders, and no TensorFlow on this path.

All runs use the untrained tiny model via ``--model`` so nothing here depends on
the shipped model's accuracy.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serlive.cli import main
from serlive.config import LABELS
from serlive.files.analysis import analyse_file
from serlive.model import EmotionModel
from tests.conftest import REPO, SR, speechlike, spoken, write_audio


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli_audio")
    files = {
        "six": write_audio(d / "six.wav", spoken(6.0)),
        "two": write_audio(d / "two.flac", spoken(2.0, start_s=1.0)),
        "silent": write_audio(d / "silent.wav", np.zeros(4 * SR, np.float32)),
        "bad": d / "bad.wav",
        "nested": write_audio(d / "folder" / "sub" / "deep.flac", speechlike(3.5, seed=3)),
        "nested2": write_audio(d / "folder" / "a.wav", speechlike(1.0, seed=4)),
    }
    files["bad"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (d / "folder" / "notes.txt").write_text("not audio")
    (d / "folder" / "sub" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    (d / "empty_folder").mkdir()
    return files


def run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["predict", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def run_csv(capsys, tiny_models, *args: str) -> tuple[int, str, str]:
    """``predict ARGS`` with the tiny model as CSV: the CSV tests differ only in their files and flags."""
    return run(capsys, *args, "--model", str(tiny_models.int8), "--format", "csv")


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_fields(capsys, audio, tiny_models):
    rc, out, _ = run(capsys, str(audio["six"]), "--model", str(tiny_models.int8), "--format", "json")
    assert rc == 0
    (rec,) = json_lines(out)
    assert rec["path"] == str(audio["six"])
    assert rec["label"] in LABELS
    assert list(rec["probabilities"]) == list(LABELS)
    assert sum(rec["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert rec["confidence"] == pytest.approx(max(rec["probabilities"].values()), abs=1e-4)
    assert rec["label"] == max(rec["probabilities"], key=rec["probabilities"].get)
    assert rec["duration_s"] == pytest.approx(6.0)
    assert rec["speech"] is True
    assert "timeline" not in rec


def test_json_matches_the_library(capsys, audio, tiny_models):
    """The CLI prints what analyse_file computes, rounded."""
    rc, out, _ = run(capsys, str(audio["two"]), "--model", str(tiny_models.int8), "--format", "json")
    assert rc == 0
    (rec,) = json_lines(out)
    a = analyse_file(audio["two"], EmotionModel(tiny_models.int8))
    np.testing.assert_allclose(list(rec["probabilities"].values()), a.probabilities, atol=1e-4)


def test_path_is_reported_as_given(capsys, audio, tiny_models, monkeypatch):
    monkeypatch.chdir(audio["six"].parent)
    rc, out, _ = run(capsys, "six.wav", "--model", str(tiny_models.int8), "--format", "json")
    assert rc == 0
    assert json_lines(out)[0]["path"] == "six.wav"


@pytest.mark.parametrize(
    ("dur", "starts"),
    [
        (6.0, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
        (6.2, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.2]),  # the last window ends at the file's end
        (3.5, [0.0, 0.5]),
        (3.4, [0.0, 0.4]),
        (3.0, [0.0]),
        (2.0, [0.0]),
    ],
)
def test_timeline_windows(capsys, tmp_path, tiny_models, dur, starts):
    path = write_audio(tmp_path / f"d{dur}.wav", spoken(dur))
    rc, out, _ = run(capsys, str(path), "--model", str(tiny_models.int8), "--format", "json", "--timeline")
    assert rc == 0
    (rec,) = json_lines(out)
    tl = rec["timeline"]
    assert [w["start"] for w in tl] == starts
    assert [w["end"] for w in tl] == [min(s + 3.0, dur) for s in starts]
    for w in tl:
        assert list(w["probabilities"]) == list(LABELS)
        assert sum(w["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert w["silent"] is False
    # the file's probabilities are the mean of its (voiced) windows, the end-aligned last one weighing
    # the share of a 0.5 s hop it adds
    weights = [
        1.0 if (w["start"] / 0.5).is_integer() else (w["end"] - tl[i - 1]["end"]) / 0.5
        for i, w in enumerate(tl)
    ]
    mean = np.average([list(w["probabilities"].values()) for w in tl], axis=0, weights=weights)
    np.testing.assert_allclose(list(rec["probabilities"].values()), mean, atol=2e-4)


def test_bad_file_among_good_ones(capsys, audio, tiny_models, tmp_path):
    missing = tmp_path / "missing.wav"
    args = [str(audio["six"]), str(audio["bad"]), str(missing), str(audio["two"])]
    rc, out, _ = run(capsys, *args, "--model", str(tiny_models.int8), "--format", "json")
    assert rc == 1
    recs = json_lines(out)
    assert [r["path"] for r in recs] == args
    assert set(recs[1]) == {"path", "error"} and recs[1]["error"]
    assert set(recs[2]) == {"path", "error"} and recs[2]["error"]
    assert recs[0]["label"] in LABELS and recs[3]["label"] in LABELS


def test_bad_file_text_format(capsys, audio, tiny_models):
    rc, out, err = run(capsys, str(audio["bad"]), str(audio["two"]), "--model", str(tiny_models.int8))
    assert rc == 1
    assert str(audio["two"]) in out and str(audio["bad"]) not in out
    assert f"serlive: {audio['bad']}:" in err


def test_text_format(capsys, audio, tiny_models):
    rc, out, _ = run(capsys, str(audio["six"]), "--model", str(tiny_models.int8), "--timeline")
    assert rc == 0
    assert out.startswith(f"{audio['six']}  (6.0 s)\n")
    for label in LABELS:
        assert label in out
    assert out.count(" s  ") == 7  # one line per window


def test_folder_recursion(capsys, audio, tiny_models):
    folder = audio["nested"].parents[1]
    rc, out, _ = run(capsys, str(folder), "--model", str(tiny_models.int8), "--format", "json")
    assert rc == 0
    paths = [r["path"] for r in json_lines(out)]
    assert paths == sorted([str(audio["nested"]), str(audio["nested2"])])


def test_empty_folder(capsys, audio, tiny_models):
    rc, out, err = run(capsys, str(audio["six"].parent / "empty_folder"), "--model", str(tiny_models.int8))
    assert rc == 1
    assert out == "" and "no audio files found" in err


def test_csv(capsys, audio, tiny_models):
    rc, out, _ = run_csv(capsys, tiny_models, str(audio["six"]), str(audio["bad"]), str(audio["two"]))
    assert rc == 1
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["path", "label", "confidence", *LABELS, "duration_s", "error"]
    assert len(rows) == 4 and all(len(r) == len(rows[0]) for r in rows)
    good = rows[1]
    assert good[0] == str(audio["six"]) and good[1] in LABELS and good[-1] == ""
    probs = [float(x) for x in good[3 : 3 + 8]]
    assert sum(probs) == pytest.approx(1.0, abs=1e-3)
    assert float(good[2]) == pytest.approx(max(probs), abs=1e-4)
    assert float(good[-2]) == pytest.approx(6.0)
    bad = rows[2]
    assert bad[0] == str(audio["bad"]) and bad[-1] != "" and bad[1] == ""


def test_csv_timeline(capsys, audio, tiny_models):
    rc, out, _ = run_csv(capsys, tiny_models, str(audio["six"]), str(audio["two"]), "--timeline")
    assert rc == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["path", "start", "end", "label", "confidence", *LABELS, "duration_s", "error"]
    body = rows[1:]
    assert len(body) == 7 + 1
    assert [float(r[1]) for r in body[:7]] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert [r[0] for r in body] == [str(audio["six"])] * 7 + [str(audio["two"])]
    assert all(len(r) == len(rows[0]) for r in body)


def test_silent_file(capsys, audio, tiny_models):
    rc, out, _ = run(
        capsys, str(audio["silent"]), "--model", str(tiny_models.int8), "--format", "json", "--timeline"
    )
    assert rc == 0
    (rec,) = json_lines(out)
    assert rec["speech"] is False
    assert rec["label"] == "no speech"
    assert all(w["silent"] for w in rec["timeline"])
    rc, out, _ = run(capsys, str(audio["silent"]), "--model", str(tiny_models.int8))
    assert "no speech detected" in out


def test_no_speech_has_no_confidence_or_distribution(capsys, audio, tiny_models, make_audio):
    """Issue 20, item 3: silence and a loud tone printed "no speech 95%" with a bar chart, and JSON/CSV a
    confidence and eight probabilities (the mean of non-speech windows).  As the GUI does, nothing was
    speech, so there is no confidence and no distribution: null in JSON, empty in CSV, no bars in text."""
    t = np.arange(6 * SR) / SR
    loud_tone = make_audio("tone.wav", (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    model = ["--model", str(tiny_models.int8)]
    for path in (audio["silent"], loud_tone):
        rc, out, _ = run(capsys, str(path), *model, "--format", "json")
        (rec,) = json_lines(out)
        assert rc == 0 and rec["speech"] is False and rec["label"] == "no speech"
        assert rec["confidence"] is None and rec["probabilities"] is None
        rc, out, _ = run(capsys, str(path), *model, "--format", "csv")
        rows = list(csv.reader(io.StringIO(out)))
        head, row = rows[0], rows[1]
        assert row[head.index("label")] == "no speech"
        assert [row[head.index(k)] for k in ("confidence", *LABELS)] == [""] * 9
        rc, out, _ = run(capsys, str(path), *model)
        assert "no speech detected" in out and "%" not in out and "█" not in out, out
        rc, out, _ = run(capsys, str(path), *model, "--format", "csv", "--timeline")
        rows = list(csv.reader(io.StringIO(out)))
        assert all(r[rows[0].index("confidence")] == "" for r in rows[1:])  # a silent window has none


def test_espeak_speech_is_speech(capsys, espeak, tiny_models):
    path = espeak("Kids are talking by the door. Dogs are sitting by the door.", name="kids.wav")
    rc, out, _ = run(capsys, str(path), "--model", str(tiny_models.int8), "--format", "json", "--timeline")
    assert rc == 0
    (rec,) = json_lines(out)
    assert rec["speech"] is True and rec["label"] in LABELS
    info = sf.info(str(path))
    assert rec["duration_s"] == pytest.approx(info.frames / info.samplerate, abs=1e-3)
    assert any(not w["silent"] for w in rec["timeline"])


def test_unusable_model(capsys, audio, tiny_models, tmp_path):
    rc, out, err = run(capsys, str(audio["six"]), "--model", str(tiny_models.plain))
    assert rc == 2 and out == ""
    assert "no serlive metadata" in err
    rc, _, err = run(capsys, str(audio["six"]), "--model", str(tmp_path / "none.tflite"))
    assert rc == 2 and "not found" in err


def test_usage_errors(capsys, monkeypatch):
    with pytest.raises(SystemExit) as info:
        main(["predict"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["predict", "x.wav", "--format", "xml"])
    capsys.readouterr()
    # no arguments opens the desktop app (the GUI itself is tested in test_gui.py)
    import serlive.cli.commands

    monkeypatch.setattr(serlive.cli.commands, "cmd_gui", lambda args: 7)
    assert main([]) == 7


# --- as a separate process ----------------------------------------------------------------
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_module_entry_point(audio, tiny_models):
    proc = subprocess.run(
        [sys.executable, "-m", "serlive.cli", "predict", str(audio["six"]), "--model", str(tiny_models.int8),
         "--format", "json"],
        capture_output=True, text=True, timeout=120, env=_env(), cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (rec,) = json_lines(proc.stdout)
    assert rec["path"] == str(audio["six"]) and rec["label"] in LABELS


def test_predict_does_not_import_tensorflow(audio, tiny_models):
    argv = ["predict", str(audio["six"]), "--model", str(tiny_models.int8), "--format", "json"]
    code = (
        "import json, sys\n"
        "from serlive.cli import main\n"
        f"rc = main({argv!r})\n"
        "print(json.dumps({'rc': rc, 'tensorflow': 'tensorflow' in sys.modules,"
        " 'keras': 'keras' in sys.modules, 'librosa': 'librosa' in sys.modules}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env(), cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status == {"rc": 0, "tensorflow": False, "keras": False, "librosa": False}
