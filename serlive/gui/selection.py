"""A selected stretch of the file on screen: its windows, its emotion mean and its export (no Qt).

Why (issue 28, item 15): users of Audacity and Sonic Visualiser select a range to hear it, to
compare it with the whole, and to take it away.  The selection's mean is the file's mean taken
over the selection's windows (those whose centre falls in it, the columns the strip shows there;
the window nearest its middle when it is shorter than a hop), weighted as the file's mean is
(:attr:`serlive.results.WindowResult.weight`, voiced windows only) and then viewed through the
labels shown, as the file's summary is, so the two numbers are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.audio.io import copy_span
from serlive.audio.record import next_free_path
from serlive.gui.export import write_timeline_csv
from serlive.gui.file_model import Loaded
from serlive.labelsets import LabelSet
from serlive.results import WindowResult

MIN_SELECTION_S = 0.01  #: a drag shorter than this is a click, not a selection


@dataclass(frozen=True)
class SelectionSummary:
    """The selection's emotion mean over the labels shown (``probabilities`` None: no speech in it)."""

    start_s: float
    end_s: float
    windows: int  #: the selection's windows
    voiced: int  #: of which with speech (the ones the mean is over)
    labels: tuple[str, ...]
    probabilities: NDArray[np.float64] | None

    @property
    def label(self) -> str:
        """The top emotion, or "no speech"."""
        if self.probabilities is None:
            return "no speech"
        return self.labels[int(np.argmax(self.probabilities))]


def selection_windows(d: Loaded, start_s: float, end_s: float) -> list[WindowResult]:
    """The windows whose centre lies in ``start_s .. end_s``; the nearest to its middle if none does."""
    ws = d.analysis.windows
    inside = [w for w, t in zip(ws, d.times, strict=True) if start_s <= t <= end_s]
    if inside or not ws:
        return inside
    mid = 0.5 * (start_s + end_s)
    return [ws[int(np.argmin(np.abs(d.times - mid)))]]


def selection_summary(d: Loaded, start_s: float, end_s: float, labelset: LabelSet | None) -> SelectionSummary:
    """The selection's mean, weighted and viewed as the whole file's is (see the module's docstring)."""
    ws = selection_windows(d, start_s, end_s)
    voiced = [w for w in ws if not w.silent]
    labels = d.analysis.labels if labelset is None or labelset.is_all else labelset.names
    probs = None
    if voiced:
        raw = np.average(
            np.stack([w.probabilities for w in voiced]), axis=0, weights=[w.weight for w in voiced]
        )
        probs = raw if labelset is None or labelset.is_all else labelset.apply(raw)
    return SelectionSummary(start_s, end_s, len(ws), len(voiced), labels, probs)


def export_selection(
    d: Loaded, start_s: float, end_s: float, audio_path: str | Path, labelset: LabelSet | None
) -> Path:
    """Write the selection's audio (the original file's samples, :func:`copy_span`) and its timeline.

    The timeline CSV (the selection's windows, in the file's seconds, as File ▸ Export timeline
    writes them) goes beside the audio under its name with ``.csv``, or the next free name
    (``sel-2.csv``): the save dialog asked about the audio file only, so an existing CSV is never
    overwritten.  Returns the CSV's path; :class:`serlive.audio.io.AudioLoadError` or OSError on failure.
    """
    audio_path = Path(audio_path)
    copy_span(d.path, audio_path, start_s, end_s)
    csv_path = next_free_path(audio_path.with_suffix(".csv"))
    windows = selection_windows(d, start_s, end_s)
    write_timeline_csv(replace(d.analysis, windows=windows), csv_path, labelset)
    return csv_path
