"""End-to-end ``serlive train`` and ``serlive evaluate`` on a tiny fake corpus.

Two epochs of a width-4 CNN: this checks the pipeline (split, features, cache,
training, int8 export with metadata, test scoring, evaluation report), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serlive.cli import main
from serlive.config import LABELS
from serlive.model import EmotionModel

pytest.importorskip("tensorflow", reason="training needs the [train] extra")

pytestmark = pytest.mark.slow

TRAIN_SPEAKERS = ["ravdess:01", "ravdess:02", "tess:OAF", "tess:YAF"]


def _train_args(root: Path, out: Path, epochs: int) -> list[str]:
    return [
        "train", "--data", str(root), "--corpora", "ravdess,tess",
        "--val", "ravdess:03", "--test", "ravdess:04",
        "--epochs", str(epochs), "--width", "4", "--n-aug", "1", "--workers", "1", "--out", str(out),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(training_corpus, tmp_path_factory):
    """One training run (shared by the tests below), with its own feature cache."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cache")
    mp.setenv("SERLIVE_CACHE", str(cache))
    out = tmp_path_factory.mktemp("run1")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(_train_args(training_corpus.root, out, epochs=2))
    yield {"rc": rc, "out": out, "log": buf.getvalue(), "cache": cache, "mp": mp}
    mp.undo()


def test_train_writes_model_and_metrics(trained):
    assert trained["rc"] == 0, trained["log"]
    out = trained["out"]
    for name in ("model.tflite", "model_float32.tflite", "metrics.json", "history.json", "model.keras"):
        assert (out / name).is_file(), name
    assert (out / "model.tflite").stat().st_size < (out / "model_float32.tflite").stat().st_size
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["val"]["int8_acc"] <= 1.0
    assert 0.0 <= metrics["val"]["int8_float32_top1_agreement"] <= 1.0
    test = metrics["test"]["int8"]
    assert test["files"] == 16 and test["scored"] == 16 and test["errors"] == 0
    assert set(test["per_speaker"]) == {"ravdess:04"}
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 1 and len(history[0]) == 2  # one member, two epochs
    assert (out / "test_int8" / "confusion.png").is_file()
    log = trained["log"]
    assert "train 60, val 16, test 16" in log
    assert "from cache" not in log  # a fresh cache


def test_exported_model_loads_with_provenance(trained):
    model = EmotionModel(trained["out"] / "model.tflite")
    assert model.labels == LABELS
    assert model.input_shape == (149, 64, 1)
    training = model.meta.extra["training"]
    assert training["train_speakers"] == TRAIN_SPEAKERS
    assert "ravdess:04" not in training["train_speakers"]
    assert "ravdess:03" not in training["train_speakers"]
    assert training["test_speakers"] == ["ravdess:04"]
    assert training["val_speakers"] == ["ravdess:03"]
    assert training["clips"] == {"train": 60, "val": 16, "test": 16}
    assert training["command"].startswith("serlive train --data")
    assert model.meta.extra["architecture"] == "cnn2d"
    f32 = EmotionModel(trained["out"] / "model_float32.tflite")
    assert f32.meta == model.meta


def test_second_run_uses_the_feature_cache(trained, training_corpus, tmp_path, capsys):
    assert trained["rc"] == 0
    out = tmp_path / "run2"
    rc = main(_train_args(training_corpus.root, out, epochs=1))
    log = capsys.readouterr().out
    assert rc == 0
    assert "features: ravdess: 48 clips from cache" in log
    assert "features: tess: 28 clips from cache" in log
    assert (out / "model.tflite").is_file()


def test_evaluate_report(trained, training_corpus, tmp_path, capsys):
    assert trained["rc"] == 0
    ev = tmp_path / "eval"
    rc = main(
        ["evaluate", "--model", str(trained["out"] / "model.tflite"), "--data", str(training_corpus.root),
         "--corpora", "ravdess", "--out", str(ev)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0
    for name in ("report.json", "confusion.png", "classification_report.txt", "predictions.json"):
        assert (ev / name).is_file(), name
    report = json.loads((ev / "report.json").read_text())
    s = report["summary"]
    assert s["files"] == s["scored"] == 64
    assert set(s["per_gender"]) == {"male", "female"}
    assert set(s["per_corpus"]) == {"ravdess"}
    assert 0.0 <= s["accuracy"] <= 1.0
    assert len(report["confusion_matrix"]) == 8 and sum(map(sum, report["confusion_matrix"])) == 64
    assert '"per_gender"' in printed


def test_evaluate_speaker_filter(trained, training_corpus, tmp_path, capsys):
    assert trained["rc"] == 0
    ev = tmp_path / "eval4"
    rc = main(
        ["evaluate", "--model", str(trained["out"] / "model.tflite"), "--data", str(training_corpus.root),
         "--corpora", "ravdess", "--speakers", "ravdess:04", "--out", str(ev)]
    )  # fmt: skip
    capsys.readouterr()
    assert rc == 0
    s = json.loads((ev / "report.json").read_text())["summary"]
    assert s["files"] == 16 and set(s["per_gender"]) == {"female"}
    rc = main(
        ["evaluate", "--model", str(trained["out"] / "model.tflite"), "--data", str(training_corpus.root),
         "--speakers", "ravdess:99", "--out", str(ev)]
    )  # fmt: skip
    assert rc == 2
    assert "no labelled files" in capsys.readouterr().err


def test_train_usage_errors(training_corpus, tmp_path, capsys):
    rc = main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "not found" in capsys.readouterr().err
    rc = main(
        ["train", "--data", str(training_corpus.root), "--val", "ravdess:03", "--test", "ravdess:03",
         "--out", str(tmp_path / "o")]
    )  # fmt: skip
    assert rc == 2
    assert "both validation and test" in capsys.readouterr().err
