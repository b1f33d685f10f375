"""``serlive evaluate``: score a model on labelled files through the predict path.

Writes accuracy, macro-F1, a classification report, a confusion-matrix PNG and
per-gender and per-corpus accuracy.  Files are analysed exactly as
``serlive predict`` analyses them, so the numbers describe what a user gets.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from serlive.audio.io import AudioLoadError
from serlive.config import LABELS
from serlive.files.analysis import adapt_to_session, analyse_file
from serlive.model import EmotionModel
from serlive.train.corpora import Utterance


def _acc(pairs: list[tuple[int, int]]) -> float:
    return float(np.mean([a == b for a, b in pairs])) if pairs else float("nan")


def evaluate_utterances(
    model: EmotionModel, utts: list[Utterance], out_dir: str | Path, plots: bool = True, session: bool = False
) -> dict[str, Any]:
    """Analyse each file, compare with its label, write the report files into ``out_dir``.

    ``session``: each speaker's files are one session (``serlive predict --session``
    on them): labelled by the adapted head with that speaker's statistics.
    """
    from sklearn.metrics import classification_report, confusion_matrix, f1_score

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y_true: list[int] = []
    y_pred: list[int] = []
    groups: dict[str, dict[str, list[tuple[int, int]]]] = {
        "gender": defaultdict(list), "corpus": defaultdict(list), "speaker": defaultdict(list)
    }  # fmt: skip
    errors: list[str] = []
    rows = []
    analysed: list[tuple[Utterance, Any]] = []
    for i, u in enumerate(utts, 1):
        try:
            analysed.append((u, analyse_file(u.path, model, keep_embeddings=session)))
        except AudioLoadError as exc:
            errors.append(str(exc))
        if i % 50 == 0 or i == len(utts):
            sys.stderr.write(f"\revaluate: {i}/{len(utts)} files")
            sys.stderr.flush()
    sys.stderr.write("\n")
    adapted: dict[str, float] = {}
    if session:
        by_speaker: dict[str, list[Any]] = defaultdict(list)
        for u, a in analysed:
            by_speaker[u.speaker].append(a)
        for spk, analyses in by_speaker.items():
            adapted[spk] = adapt_to_session(analyses, model)
    for u, a in analysed:
        t, p = LABELS.index(u.emotion), LABELS.index(a.label)
        y_true.append(t)
        y_pred.append(p)
        for key, val in (("gender", u.gender), ("corpus", u.corpus), ("speaker", u.speaker)):
            groups[key][val].append((t, p))
        rows.append({"path": u.path, "true": u.emotion, "pred": a.label, "adapted": a.adapted,
                     "probabilities": [round(float(x), 4) for x in a.probabilities]})  # fmt: skip
    if not y_true:
        shown = "; ".join(errors[:5]) + (" ..." if len(errors) > 5 else "")
        raise ValueError(f"no file could be scored ({len(errors)} unreadable: {shown})")
    present = sorted(set(y_true) | set(y_pred))
    names = [LABELS[i] for i in present]
    report_txt = classification_report(y_true, y_pred, labels=present, target_names=names, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(LABELS))))
    summary = {
        "files": len(utts),
        "scored": len(y_true),
        "errors": len(errors),
        "accuracy": _acc(list(zip(y_true, y_pred, strict=True))),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_gender": {k: _acc(v) for k, v in sorted(groups["gender"].items())},
        "per_corpus": {k: _acc(v) for k, v in sorted(groups["corpus"].items())},
        "per_speaker": {k: _acc(v) for k, v in sorted(groups["speaker"].items())},
        "session": session,
        "speech_per_speaker_s": {k: round(v, 1) for k, v in adapted.items()},
    }
    g = summary["per_gender"]
    if "male" in g and "female" in g:
        summary["gender_gap_points"] = round(100 * abs(g["male"] - g["female"]), 1)
    report = {"model": str(model.path), "summary": summary, "confusion_matrix": cm.tolist(),
              "labels": list(LABELS), "errors": errors}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "classification_report.txt").write_text(report_txt)
    (out / "predictions.json").write_text(json.dumps(rows))
    if plots:
        plot_confusion(cm, out / "confusion.png", title=f"{model.path.name}: acc {summary['accuracy']:.3f}")
    return report


def plot_confusion(cm: np.ndarray, path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm.sum(axis=1, keepdims=True)
    norm = cm / np.where(rows == 0, 1, rows)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=8)  # fmt: skip
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
