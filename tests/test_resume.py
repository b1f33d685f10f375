"""``predict --output FILE [--resume]`` on this machine (``--jobs``), and the ledger beside FILE.

FILE must hold exactly what standard output would have (any format), each file's record once,
however a run was cut short; the ledger's cases (a line cut short, a record without its line,
other options, another model, an edited FILE) are made by hand, as a kill would leave them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from serlive.cli import main
from serlive.cli.progress import PredictProgress
from serlive.cli.resume import LEDGER_SUFFIX, output_format
from tests.conftest import SR, spoken, write_audio


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("resume_clips")
    paths = [write_audio(d / f"c{i}.wav", spoken(2.0 + i, start_s=0.3 * i)) for i in range(8)]
    (d / "c9_bad.wav").write_bytes(b"not audio at all")
    write_audio(d / "c8_silent.wav", np.zeros(3 * SR, np.float32))
    return sorted([*paths, d / "c9_bad.wav", d / "c8_silent.wav"])


def stdout_of(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


@pytest.mark.parametrize(
    ("suffix", "options"),
    [(".jsonl", []), (".csv", []), (".csv", ["--timeline"]), (".txt", [])],
)
def test_output_file_holds_what_stdout_would(clips, tiny_models, tmp_path, suffix, options):
    model = ["--model", str(tiny_models.int8)]
    fmt = output_format(None, "x" + suffix)
    _, want = stdout_of(["predict", *map(str, clips), *model, *options, "--format", fmt, "--jobs", "1"])
    out = tmp_path / f"out{suffix}"
    rc, printed = stdout_of(
        ["predict", *map(str, clips), *model, *options, "--output", str(out), "--jobs", "2"]
    )
    assert rc == 1  # the bad file
    assert printed == ""
    assert out.read_text() == want


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_after_part_of_the_files_goes_on_without_repeating(clips, tiny_models, tmp_path, suffix):
    model = ["--model", str(tiny_models.int8)]
    fmt = output_format(None, "x" + suffix)
    _, want = stdout_of(["predict", *map(str, clips), *model, "--format", fmt, "--timeline", "--jobs", "1"])
    out = tmp_path / f"out{suffix}"
    main(["predict", *map(str, clips[:4]), *model, "--timeline", "--output", str(out)])
    ledger = Path(str(out) + LEDGER_SUFFIX)
    # a kill after the 4th record was written but before its ledger line was whole
    lines = ledger.read_text().splitlines(keepends=True)
    ledger.write_text("".join(lines[:4]) + lines[4][:15])
    rc, _ = stdout_of(["predict", *map(str, clips), *model, "--timeline", "--output", str(out), "--resume"])
    assert rc == 1
    assert out.read_text() == want
    assert len(ledger.read_text().splitlines()) == 1 + len(clips)
    # once more: nothing left to do, nothing written
    rc, _ = stdout_of(["predict", *map(str, clips), *model, "--timeline", "--output", str(out), "--resume"])
    assert rc == 0 and out.read_text() == want


def test_a_changed_file_is_analysed_again(clips, tiny_models, tmp_path):
    src = tmp_path / "a.wav"
    write_audio(src, spoken(3.0))
    out = tmp_path / "o.jsonl"
    main(["predict", str(src), "--model", str(tiny_models.int8), "--output", str(out)])
    write_audio(src, spoken(4.0))
    os.utime(src, ns=(0, os.stat(src).st_mtime_ns + 10**9))
    main(["predict", str(src), "--model", str(tiny_models.int8), "--output", str(out), "--resume"])
    durations = [json.loads(line)["duration_s"] for line in out.read_text().splitlines()]
    assert durations == [3.0, 4.0]


def test_refusals_are_clear_and_touch_nothing(clips, tiny_models, tmp_path, capsys):
    model = ["--model", str(tiny_models.int8)]
    out = tmp_path / "o.jsonl"
    main(["predict", str(clips[0]), *model, "--output", str(out)])
    before = out.read_bytes()
    capsys.readouterr()
    cases = [
        (["--output", str(out)], "exists: add --resume"),
        (["--output", str(out), "--resume", "--timeline"], "other settings or another model"),
        (["--output", str(out), "--resume", "--format", "csv"], "other settings or another model"),
        (["--resume"], "--resume needs --output"),
        (["--output", str(out), "--resume", "--session"], "cannot resume"),
    ]
    for extra, says in cases:
        assert main(["predict", str(clips[1]), *model, *extra]) == 2
        assert says in capsys.readouterr().err
        assert out.read_bytes() == before
    out.write_bytes(before[:10])  # edited by hand: shorter than the ledger vouches
    assert main(["predict", str(clips[1]), *model, "--output", str(out), "--resume"]) == 2
    assert "was it edited" in capsys.readouterr().err
    Path(str(out) + LEDGER_SUFFIX).unlink()
    assert main(["predict", str(clips[1]), *model, "--output", str(out), "--resume"]) == 2
    assert "has no ledger" in capsys.readouterr().err


def test_another_model_is_refused(clips, tiny_models, tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    main(["predict", str(clips[0]), "--model", str(tiny_models.int8), "--output", str(out)])
    rc = main(
        ["predict", str(clips[0]), "--model", str(tiny_models.float32), "--output", str(out), "--resume"]
    )
    assert rc == 2
    assert "model_sha256" in capsys.readouterr().err


def test_progress_counts_files_and_hours_and_sums_up():
    class Result:
        duration_s = 1800.0

    stream = io.StringIO()
    p = PredictProgress(3, skipped=2, enabled=True, stream=stream)
    p.step(Result())
    p.step("not a readable audio file")
    p.step(Result())
    p.close()
    text = stream.getvalue()
    assert "3/3 files" in text and "1.00 h audio" in text
    summary = text.strip().splitlines()[-1]
    assert summary.startswith("serlive predict: 3 files analysed, 2 already in the output, 1 failed; 1.00 h")


def test_progress_is_silent_when_not_a_terminal():
    stream = io.StringIO()
    p = PredictProgress(5, stream=stream)
    p.step("x")
    p.close()
    assert stream.getvalue() == ""
