"""What the Live tab shows, without widgets: the run's decisions, its curves and its status line.

Split from ``live_view.py`` (issue 20, the house) so tests can drive it without pixels: feed it the
engine's results (:meth:`LiveState.add`) and read what the view would draw (:meth:`LiveState.curves`,
:meth:`LiveState.shown`) and say (:meth:`LiveState.status_line`, :func:`no_speech_text`).  Nothing
here imports Qt.

The chosen label set (View ▸ Emotions shown, :mod:`serlive.labelsets`) is a view of what is kept:
the history holds the model's probabilities over all its labels, and :meth:`LiveState.curves` and
:meth:`LiveState.shown` map them, so switching sets redraws the last minute at once, without
restarting the run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.labelsets import LabelSet, view

HISTORY_S = 60.0  #: seconds of rolling probabilities


PAUSE_TEXT = "pause: the newest audio is silent (below the level gate)"


def loudest_dbfs(samples: NDArray[np.float32], frame: int = 320) -> float:
    """The loudest ``frame``-sample stretch (20 ms at 16 kHz) of ``samples`` in dBFS, as the level gate
    measures a window's frames (``-inf`` for no samples or digital silence)."""
    n = len(samples) // frame * frame
    if n == 0:
        return float("-inf")
    ms = np.mean(np.square(samples[:n].reshape(-1, frame), dtype=np.float64), axis=1).max()
    return float(10 * np.log10(ms)) if ms > 0 else float("-inf")


def no_speech_text(r: Any, newest_dbfs: float | None = None, gate_dbfs: float = -50.0) -> str:
    """Why a window is "no speech": below the level gate, or loud without a voice (a tone is not quiet).

    ``newest_dbfs``: the loudest frame of the newest hop of audio.  A window is 3 s, so for about 3 s
    after speech stops in silence it still holds the speech's loud tail, and "no voice heard (tone,
    music or noise?)" described audio that was over (issue 28, item 7): when the newest hop is below
    the gate, the line says it is a pause.
    """
    if r.quiet:
        return "too quiet to judge (below the level gate)"
    if newest_dbfs is not None and newest_dbfs < gate_dbfs:
        return PAUSE_TEXT
    return "no voice heard (tone, music or noise?)"


def strip_columns(
    t: NDArray[np.float64], probs: NDArray[np.float64], silent: NDArray[np.bool_], step: float
) -> tuple[float, NDArray[np.float64], NDArray[np.bool_]]:
    """The rolling strip's columns from :meth:`LiveState.curves`: one per base hop, ending at the newest.

    The strip is an image, one column ``step`` (the base hop) wide per window.  A window that came
    more than a hop after the one before (analysed at the adaptive hop's 1 s, or after late windows
    were dropped) stands for the columns since that one: it is repeated, so every column stays under
    its own curve point instead of the strip drifting off the curves' time axis.  Returns the left edge
    (seconds before the newest window's end), the columns' probabilities and their silent flags.
    """
    if len(t) == 0:
        return -step, probs, silent
    reps = np.ones(len(t), int)
    reps[1:] = np.maximum(1, np.round(np.diff(t) / step)).astype(int)
    return float(t[0]) - step, np.repeat(probs, reps, axis=0), np.repeat(silent, reps)


def hop_text(stats: Any) -> str:
    """What the status line says of the hop: the widened one while the engine is busy, else nothing."""
    if not getattr(stats, "widened", False):
        return ""
    return f"  |  analysing every {stats.hop_s:g} s (busy)"


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss`` past an hour) for the recording length in the status bar."""
    if seconds >= 3600:
        h, rest = divmod(int(seconds), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    m, sec = divmod(round(seconds, 1), 60)
    return f"{int(m)}:{sec:04.1f}"


class LiveState:
    """One run's decisions: the last minute of probabilities, counts, latency and adaptation."""

    def __init__(self, n_labels: int, history_s: float = HISTORY_S) -> None:
        self.n_labels = n_labels
        self.history_s = history_s
        #: (end of the window in seconds, its shown probabilities over the model's labels or None
        #: when "no speech")
        self.history: deque[tuple[float, NDArray[np.float32] | None]] = deque()
        #: the labels shown (None: the model's); a view, applied when drawn
        self.labelset: LabelSet | None = None
        self.reset()

    def set_labelset(self, labelset: LabelSet | None) -> None:
        """Show ``labelset``'s labels from now on, the history included (None or all: the model's)."""
        self.labelset = None if labelset is None or labelset.is_all else labelset

    @property
    def n_shown(self) -> int:
        """How many labels are shown: the columns of :meth:`curves`."""
        return self.n_labels if self.labelset is None else len(self.labelset.names)

    def shown(self, r: Any) -> Any:
        """``r`` (an engine result) over the labels shown: its label, confidence and bars follow."""
        return r if self.labelset is None else view(r, self.labelset, "probabilities", "smoothed")

    def reset(self) -> None:
        """A new run starts from nothing (a restart used to show the last run's curves)."""
        self.history.clear()
        #: the newest result, over the model's labels (redrawn when the label set changes)
        self.last: Any = None
        self.results_seen = 0
        self.last_latency: float | None = None
        self.heard_s = 0.0
        self.adapted = False

    def add(self, results: Iterable[Any]) -> Any:
        """Take the engine's new results; returns the newest (None when there was none)."""
        last = None
        for r in results:
            self.history.append((r.end_s, None if r.silent else r.shown))
            self.results_seen += 1
            last = r
        if last is not None:
            self.last = last
            self.heard_s = last.speech_heard_s
            self.adapted = last.adapted
            if last.latency_s is not None:
                self.last_latency = last.latency_s
            while self.history and self.history[0][0] < last.end_s - self.history_s - 1:
                self.history.popleft()
        return last

    def curves(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """Times (seconds before the newest window's end), probabilities (NaN: no speech) and silent flags.

        The probabilities are over the labels shown (:attr:`labelset`), one column each.
        """
        if not self.history:
            return np.zeros(0), np.zeros((0, self.n_shown)), np.zeros(0, bool)
        now = self.history[-1][0]
        t = np.array([h[0] - now for h in self.history])
        gap = np.full(self.n_labels, np.nan)
        probs = np.array([gap if h[1] is None else h[1] for h in self.history], np.float64)
        silent = np.array([h[1] is None for h in self.history], bool)
        if self.labelset is not None:
            mapped = np.full((len(probs), self.n_shown), np.nan)
            mapped[~silent] = self.labelset.apply(probs[~silent])
            probs = mapped
        return t, probs, silent

    def adaptation_text(self, eng: Any) -> str:
        """How far session adaptation has got, for the status line ("" when off or impossible)."""
        cfg = eng.adaptation
        if cfg is None or not eng.adapt:
            return ""
        if self.adapted:
            return f"  |  adapted to this voice ({self.heard_s:.0f} s of speech)"
        need = cfg.min_speech_s
        return f"  |  adapting to the voice: {min(self.heard_s, need):.0f} of {need:.0f} s of speech"

    def status_line(self, eng: Any, device: str, final: bool = False) -> str:
        """The status bar's line: the take, the device, a widened hop, latency, losses, windows, adaptation.

        A widened hop (the engine analyses every 1 s while the computer is busy) is said next to the
        device, where a narrow window does not cut it off; at the asked-for hop nothing is added.
        """
        st = eng.stats()
        lat = "n/a" if self.last_latency is None else f"{1000 * self.last_latency:.1f} ms"
        # losses the user should know of appear only when they happen, so the line stays short
        losses = "".join(
            f"  |  {name} {n}"
            for name, n in (
                ("device overflows", st.device_overflows),
                ("late windows", st.dropped_windows),
                ("stale samples skipped at Start", st.stale_samples),  # audio older than Start: not analysed
            )
            if n
        )
        line = (
            f"{device}{'' if final else hop_text(st)}  |  decision latency {lat}  |  "
            f"dropped samples {st.dropped_samples}{losses}  |  windows {st.windows}"
            f"{self.adaptation_text(eng)}"
        )
        if not final and eng.samples_received == 0:
            # a sound server can take a second or two to deliver its first block; say so, or the
            # user counts that time as recorded
            line = f"waiting for the first audio from the device…  |  {line}"
        path = eng.record_path
        if path is not None:  # where the take goes, and how much of it is on disk (samples, not wall time)
            length = clock(eng.recorded_samples / eng.sample_rate)
            saved = final or not eng.recording  # the stream ended, or the take was ended while listening
            head = f"saved {length} to {path}" if saved else f"● REC {path.name} {length}"
            line = f"{head}  |  {line}"
        return line
