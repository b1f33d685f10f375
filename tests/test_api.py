"""serlive's public Python API: the names stay put, ``import serlive`` stays light, predict's numbers."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import serlive
from serlive.cli import main
from tests.conftest import REPO, SR, spoken, write_audio

#: the public names; removing or renaming one breaks notebooks: change this list only with a deprecation
PUBLIC = ["FileResult", "analyse_file", "analyse_files", "load_model"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("api_clips")
    paths = [write_audio(d / f"c{i}.wav", spoken(2.0 + 1.5 * i, start_s=0.2 * i)) for i in range(5)]
    bad = d / "bad.wav"
    bad.write_bytes(b"nope")
    silent = write_audio(d / "silent.wav", np.zeros(3 * SR, np.float32))
    return [*paths[:2], bad, silent, *paths[2:]]


def test_the_public_names_stay_put():
    assert sorted(serlive.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(serlive, name) is getattr(__import__("serlive.api").api, name)
        assert name in dir(serlive)
    with pytest.raises(AttributeError):
        _ = serlive.no_such_name


def test_import_serlive_stays_light():
    code = "import sys, serlive; assert not {'numpy', 'serlive.api', 'serlive.model'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO)


def test_analyse_file_gives_predicts_numbers(clips, tiny_models):
    model = serlive.load_model(tiny_models.int8)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["predict", str(clips[0]), "--model", str(tiny_models.int8), "--format", "json"])
    rec = json.loads(buf.getvalue())
    r = serlive.analyse_file(clips[0], model=model)
    assert r.ok and r.path == str(clips[0])
    assert r.label == rec["label"]
    assert round(r.confidence, 4) == rec["confidence"]
    assert {k: round(v, 4) for k, v in r.probabilities.items()} == rec["probabilities"]
    assert len(r.analysis.windows) > 0


def test_errors_and_silence_are_results_not_exceptions(clips, tiny_models):
    model = serlive.load_model(tiny_models.int8)
    bad = serlive.analyse_file(clips[2], model=model)
    assert not bad.ok and "not a readable audio file" in bad.error and bad.label is None
    silent = serlive.analyse_file(clips[3], model=model)
    assert silent.ok and silent.label == "no speech" and silent.confidence is None
    row = silent.to_dict()
    assert row["label"] == "no speech" and row["neutral"] is None


def test_analyse_files_in_order_the_same_for_any_jobs(clips, tiny_models):
    model = serlive.load_model(tiny_models.int8)
    one = [serlive.analyse_file(p, model=model).to_dict() for p in clips]
    many = list(serlive.analyse_files(clips, model=model, jobs=2))
    assert [r.path for r in many] == [str(p) for p in clips]
    rows = [r.to_dict() for r in many]
    assert rows == one
    assert list(rows[0]) == [
        "path", "label", "confidence", "duration_s", "speech", "adapted", "error", *model.labels,
    ]  # fmt: skip


def test_load_model_says_why_it_cannot(tmp_path):
    from serlive.model import ModelError

    with pytest.raises(ModelError, match="model file not found"):
        serlive.load_model(tmp_path / "missing.tflite")
