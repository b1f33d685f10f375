"""``serlive predict --segments`` and ``--labels`` (and ``listen --labels``) on the untrained tiny model."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from serlive.audio.sources import FileSource
from serlive.cli import commands as cli
from serlive.cli import main
from serlive.config import LABELS
from serlive.segments import clock
from tests.conftest import SR, spoken, write_audio

BASIC = ["neutral", "happy", "sad", "angry"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Two utterances 2 s apart (the example clip's first 0.55 s word, then 3.2 s of it), and silence."""
    d = tmp_path_factory.mktemp("segments_cli")
    z = lambda s: np.zeros(round(s * SR), np.float32)  # noqa: E731
    two = np.concatenate([z(1.0), spoken(0.55), z(2.0), spoken(3.2, start_s=2.0), z(1.5)])
    return {
        "two": write_audio(d / "two.wav", two),
        "silent": write_audio(d / "silent.wav", z(4.0)),
    }


def run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["predict", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_json_segments(capsys, files, tiny_models):
    rc, out, _ = run(
        capsys, str(files["two"]), "--model", str(tiny_models.int8), "--segments", "--format", "json"
    )
    assert rc == 0
    rec = json.loads(out)
    segs = rec["segments"]
    assert len(segs) >= 2
    first = segs[0]
    assert set(first) == {"start", "end", "label", "confidence", "probabilities"}
    assert first["start"] == pytest.approx(1.0, abs=0.15) and first["end"] == pytest.approx(1.55, abs=0.15)
    assert segs[1]["start"] == pytest.approx(3.55, abs=0.2)
    assert segs[-1]["end"] <= 7.25 + 0.15
    for s in segs:
        assert list(s["probabilities"]) == list(LABELS)
        assert sum(s["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert s["label"] == max(s["probabilities"], key=s["probabilities"].get)
        assert s["confidence"] == max(s["probabilities"].values())
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(segs))


def test_min_pause_merges_utterances(capsys, files, tiny_models):
    """A 2 s pause ends an utterance at the default; a 2.5 s minimum pause keeps one utterance."""
    model = str(tiny_models.int8)
    _, out, _ = run(capsys, str(files["two"]), "--model", model, "--segments", "--format", "json")
    _, out2, _ = run(
        capsys, str(files["two"]), "--model", model, "--segments", "--format", "json", "--min-pause", "2.5"
    )
    n_default, n_long = len(json.loads(out)["segments"]), len(json.loads(out2)["segments"])
    assert n_long < n_default
    assert json.loads(out2)["segments"][0]["start"] == pytest.approx(1.0, abs=0.15)


def test_csv_segments_with_a_label_set(capsys, files, tiny_models):
    rc, out, _ = run(
        capsys, str(files["two"]), str(files["silent"]), "--model", str(tiny_models.int8),
        "--segments", "--labels", "basic", "--format", "csv",
    )  # fmt: skip
    assert rc == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["path", "start", "end", "label", "confidence", *BASIC, "duration_s", "error"]
    body = rows[1:]
    assert body and all(r[0] == str(files["two"]) for r in body)  # the silent file has no utterance
    for r in body:
        probs = [float(x) for x in r[5:9]]
        assert sum(probs) == pytest.approx(1.0, abs=1e-3)
        assert r[3] == BASIC[int(np.argmax(probs))] and float(r[4]) == max(probs)
        assert float(r[1]) < float(r[2]) and r[10] == ""


def test_text_segments_and_labels(capsys, files, tiny_models):
    rc, out, _ = run(
        capsys, str(files["two"]), "--model", str(tiny_models.int8), "--segments", "--labels", "sad,angry"
    )
    assert rc == 0
    lines = out.splitlines()
    i = next(k for k, line in enumerate(lines) if "utterance" in line)
    rows = [line.split() for line in lines[i + 1 :]]
    assert rows and all(r[1] in ("sad", "angry") and r[2].endswith("%") for r in rows)
    assert rows[0][0].startswith("0:01.0-0:01.") or rows[0][0].startswith("0:00.9-0:01.")
    # the file's own summary follows the label set too
    shown = [line.split()[0] for line in lines[2:4]]
    assert sorted(shown) == ["angry", "sad"]


def test_silent_file_has_no_utterances(capsys, files, tiny_models):
    rc, out, _ = run(capsys, str(files["silent"]), "--model", str(tiny_models.int8), "--segments")
    assert rc == 0 and "no utterances" in out
    rc, out, _ = run(
        capsys, str(files["silent"]), "--model", str(tiny_models.int8), "--segments", "--format", "json"
    )
    assert json.loads(out)["segments"] == []


def test_labels_without_segments_follow_the_set_in_every_output(capsys, files, tiny_models):
    model = str(tiny_models.int8)
    _, full, _ = run(capsys, str(files["two"]), "--model", model, "--format", "json", "--timeline")
    _, part, _ = run(
        capsys, str(files["two"]), "--model", model, "--format", "json", "--timeline", "--labels", "basic"
    )
    full, part = json.loads(full), json.loads(part)
    assert list(part["probabilities"]) == BASIC
    p = full["probabilities"]
    kept = p["neutral"] + p["calm"] + p["happy"] + p["sad"] + p["angry"]
    assert part["probabilities"]["sad"] == pytest.approx(p["sad"] / kept, abs=2e-4)
    assert part["probabilities"]["neutral"] == pytest.approx((p["neutral"] + p["calm"]) / kept, abs=2e-4)
    assert all(list(w["probabilities"]) == BASIC for w in part["timeline"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--labels", "neutral,joy"], "unknown label joy; valid labels: neutral, calm, happy, sad"),
        (["--labels", "angry"], "at least two labels"),
        (["--segments", "--timeline", "--format", "csv"], "--timeline or --segments, not both"),
        (["--segments", "--max-segment", "0.5"], "longest segment must be at least 1 s"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(capsys, files, tiny_models, extra, message):
    rc, out, err = run(capsys, str(files["two"]), "--model", str(tiny_models.int8), *extra)
    assert rc == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_negative_min_pause_is_an_argparse_error(capsys, files):
    with pytest.raises(SystemExit) as info:
        main(["predict", str(files["two"]), "--segments", "--min-pause", "-1"])
    assert info.value.code == 2
    assert "positive number of seconds" in capsys.readouterr().err


def test_clock():
    assert clock(0.0) == "0:00.0"
    assert clock(12.34) == "0:12.3"
    assert clock(75.0) == "1:15.0"
    assert clock(3725.55) == "1:02:05.6"


def test_listen_with_a_label_set(tiny_models, capsys):
    args = cli.build_parser().parse_args(
        ["listen", "--model", str(tiny_models.int8), "--format", "json", "--labels", "basic"]
    )
    rc = cli.cmd_listen(args, source=FileSource(samples=spoken(4.0), realtime=False))
    assert rc == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert recs
    for r in recs:
        assert list(r["probabilities"]) == BASIC and sum(r["probabilities"].values()) == pytest.approx(
            1, abs=1e-3
        )
        assert r["label"] in [*BASIC, "no speech"]


def test_listen_segments_prints_each_utterance(tiny_models, capsys):
    z = lambda s: np.zeros(round(s * SR), np.float32)  # noqa: E731
    y = np.concatenate([z(0.5), spoken(0.55), z(1.5), spoken(1.4, start_s=2.0), z(0.5)])
    model = str(tiny_models.int8)
    args = cli.build_parser().parse_args(
        ["listen", "--model", model, "--segments", "--format", "json", "--labels", "basic"]
    )
    assert cli.cmd_listen(args, source=FileSource(samples=y, realtime=False)) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    utts = [r["utterance"] for r in recs if "utterance" in r]
    assert [round(u["start"], 1) for u in utts] == [
        pytest.approx(0.5, abs=0.15),
        pytest.approx(2.55, abs=0.15),
    ]
    assert all(list(u["probabilities"]) == BASIC and u["label"] in BASIC for u in utts)
    assert len(recs) - len(utts) > 0  # the windows are still there
    args = cli.build_parser().parse_args(["listen", "--model", model, "--segments"])
    assert cli.cmd_listen(args, source=FileSource(samples=y, realtime=False)) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("utterance ")]
    assert len(lines) == 2 and lines[0].startswith(("utterance 0:00.4-", "utterance 0:00.5-"))
    # without --segments there are none, and the engine does not segment
    args = cli.build_parser().parse_args(["listen", "--model", model])
    assert cli.cmd_listen(args, source=FileSource(samples=y, realtime=False)) == 0
    assert "utterance" not in capsys.readouterr().out
