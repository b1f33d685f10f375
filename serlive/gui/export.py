"""Export of a file's analysis, beside the views (File ▸ Export timeline as CSV); no Qt."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from serlive.labelsets import LabelSet, view_analysis
from serlive.results import Analysis


def write_timeline_csv(a: Analysis, path: str | Path, labelset: LabelSet | None = None) -> None:
    """One row per window: start, end, silent, top label ("no speech" when silent), each probability.

    The same windows and numbers as ``serlive predict --timeline`` (``--labels``: ``labelset``, the
    labels View ▸ Emotions shows; None: the model's).
    """
    if labelset is not None:
        a = view_analysis(a, labelset)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["start_s", "end_s", "silent", "label", *a.labels])
        for win in a.windows:
            top = "no speech" if win.silent else a.labels[int(np.argmax(win.probabilities))]
            w.writerow(
                [f"{win.start_s:.3f}", f"{win.end_s:.3f}", int(win.silent), top]
                + [f"{float(p):.4f}" for p in win.probabilities]
            )
