"""``serlive evaluate`` with the tiny model on the every-corpus fake tree."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from serlive.cli import main
from serlive.config import LABELS
from serlive.model import EmotionModel

pytest.importorskip("sklearn", reason="evaluate needs the [train] extra")


def test_evaluate_all_corpora(parser_corpus, tiny_models, tmp_path, capsys):
    out = tmp_path / "ev"
    rc = main(
        ["evaluate", "--model", str(tiny_models.int8), "--data", str(parser_corpus.root), "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    s = report["summary"]
    n = len(parser_corpus.expected)
    assert s["files"] == s["scored"] == n and s["errors"] == 0
    assert set(s["per_corpus"]) == {"ravdess", "tess", "savee", "cremad", "emodb", "turevdb"}
    assert set(s["per_gender"]) == {"male", "female", "unknown"}
    assert "gender_gap_points" in s
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (8, 8) and cm.sum() == n
    # rows of the confusion matrix are the true labels
    true_counts = np.bincount([LABELS.index(v[3]) for v in parser_corpus.expected.values()], minlength=8)
    np.testing.assert_array_equal(cm.sum(axis=1), true_counts)
    assert s["accuracy"] == pytest.approx(np.trace(cm) / n)
    preds = json.loads((out / "predictions.json").read_text())
    assert len(preds) == n and {p["true"] for p in preds} <= set(LABELS)
    assert (out / "confusion.png").stat().st_size > 1000
    assert "precision" in (out / "classification_report.txt").read_text()
    assert json.loads(printed[: printed.rindex("}") + 1])["files"] == n


def test_evaluate_predictions_match_the_predict_path(parser_corpus, tiny_models, tmp_path, capsys):
    from serlive.files.analysis import analyse_file

    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(tiny_models.int8), "--data", str(parser_corpus.root),
                 "--corpora", "savee", "--out", str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    model = EmotionModel(tiny_models.int8)
    for row in json.loads((out / "predictions.json").read_text()):
        a = analyse_file(row["path"], model)
        assert row["pred"] == a.label
        np.testing.assert_allclose(row["probabilities"], a.probabilities, atol=1e-4)


def test_evaluate_counts_unreadable_files(parser_corpus, tiny_models, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(parser_corpus.root / "savee", root / "savee")
    (root / "savee" / "DC_h02.wav").write_bytes(b"not audio at all")
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(tiny_models.int8), "--data", str(root), "--out", str(out)]) == 0
    capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["files"] == 5
    assert report["summary"]["scored"] == 4 and report["summary"]["errors"] == 1
    assert "DC_h02.wav" in report["errors"][0]


#: When no file can be scored, evaluate says so clearly instead of crashing in sklearn.
def test_evaluate_with_no_readable_file(tiny_models, tmp_path, capsys):
    root = tmp_path / "data" / "savee"
    root.mkdir(parents=True)
    (root / "DC_a01.wav").write_bytes(b"junk")
    rc = main(
        [
            "evaluate",
            "--model",
            str(tiny_models.int8),
            "--data",
            str(root.parent),
            "--out",
            str(tmp_path / "e"),
        ]
    )
    assert rc != 0
    assert "DC_a01.wav" in capsys.readouterr().err


def test_evaluate_usage_errors(tiny_models, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tiny_models.int8), "--data", str(tmp_path / "none")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tiny_models.plain), "--data", str(tmp_path)]) == 2
    assert "no serlive metadata" in capsys.readouterr().err
