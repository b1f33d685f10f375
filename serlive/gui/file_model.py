"""The file viewer's data, without widgets: loading, analysis, display arrays and zoomed-in detail.

Split from ``file_view.py`` (issue 20, the house) so the work the viewer's threads do can be run and
tested without pixels: :func:`load_file` is what the loading thread runs (it reports progress through
a plain callback), :func:`render_detail` what the zoom thread runs, :func:`status_line` and
:func:`no_speech_reason` the texts the view shows.  Nothing here imports Qt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.config import SegmentConfig
from serlive.gui.arrays import downsample_columns, envelope, plural
from serlive.labelsets import LabelSet
from serlive.results import Analysis
from serlive.segments import Segment, Segmenter, complete
from serlive.vad import SAMPLE_RATE

WAVE_BINS = 4000
MAX_SPEC_COLS = 4000
MIN_SPAN_S = 0.01  #: the deepest zoom: 160 samples across the plot
LONG_TIMELINE_POINTS = 1500  #: 12.5 min at the 0.5 s hop: beyond it the timeline uses 1-pixel pens
PHASES = ("loading", "spectrogram", "analysing")  #: the progress bar's texts
FEW_POINTS = 12  #: a timeline of this many windows or fewer (a file under about 25 s) gets markers


def viewer_jobs() -> int:
    """Workers for the viewer's analysis: the usable cores, as memory allows, as ``predict`` uses.

    Every worker but the first needs an interpreter of its own, and making one holds the GIL
    (29 ms on the AMD EPYC kind, 185 ms measured on the Intel kind last session), which the GUI
    thread waits out.  The viewer keeps those interpreters (``keep_models``), so that happens
    on the first long file of a session, not on every file opened.
    """
    from serlive.files.parallel import default_jobs

    return default_jobs()


def analyse_in_segments(
    y: NDArray[np.float32],
    model: Any,
    segment_windows: int = 240,
    progress: Any = None,
    segmenter: Segmenter | None = None,
) -> Analysis:
    """Analyse ``y`` for the viewer: small batches so the worker releases the GIL often.

    :func:`serlive.files.analysis.analyse_signal` already works in segments of
    ``segment_windows`` windows (bounded memory, progress and cancel from the
    start); this picks the viewer's batch size and its workers (:func:`viewer_jobs`;
    :mod:`serlive.files.parallel` gives the same result on any number).
    ``segmenter`` is fed as the batches finish, in order, with the speech detector's
    chunk probabilities the analysis computed anyway, as ``predict --segments`` feeds
    it: segmenting on its own after the analysis ran the detector over the file again
    (13-29 % of the analysis time).
    """
    from serlive.files.parallel import analyse_signal_parallel

    return analyse_signal_parallel(
        y,
        model,
        viewer_jobs(),
        batch=8,
        progress=progress,
        segment_windows=segment_windows,
        segmenter=segmenter,
        keep_models=True,
    )


def file_segments(y: NDArray[np.float32], model: Any, segmenter: Segmenter | None) -> list[Segment] | str:
    """The file's segments from the segmenter its analysis fed, or why there are none (a sentence).

    A model at another rate than the speech detector's cannot be segmented; the file is still shown.
    Labelling them (:func:`serlive.segments.utterances` with ``segments=``) is left to the
    utterances panel's thread: a short segment runs a centred window through the model (a third
    of the encoder model's analysis time on speech with many short pauses), and the plots need
    not wait for that.
    """
    if segmenter is None:
        return f"segmentation needs a {SAMPLE_RATE} Hz model, not {model.meta.features.sample_rate} Hz"
    return complete(segmenter, y)


def no_speech_reason(a: Any) -> str:
    """Why a file has no speech window: every window too quiet, or loud ones without a voice.

    It said "no window is above the speech gate" for a -6 dBFS tone too, which is loud: the voice
    detector, not the level gate, turned it down (issue 20, item 8).
    """
    if a.windows and all(w.quiet for w in a.windows):
        return "every window is too quiet to judge (below the level gate)"
    return "no voice heard in any window (tone, music or noise?)"


def mel_frames(ext: Any, y: NDArray[np.float32], frame0: int, frame1: int) -> NDArray[np.float32]:
    """The model's log-mel frames ``frame0 .. frame1 - 1`` of ``y``, as ``(frames, bands)``."""
    cfg = ext.cfg
    seg = y[frame0 * cfg.hop_length : (frame1 - 1) * cfg.hop_length + cfg.n_fft]
    return ext.raw_frames(seg)[:, : cfg.n_mels]


class AnalysisCancelled(Exception):
    """The user pressed Cancel (or opened another file)."""


@dataclass
class Loaded:
    """What the worker hands to the GUI thread."""

    path: Path
    samples: NDArray[np.float32]
    sample_rate: int
    spectrogram: NDArray[np.float32]  #: (bands, columns), already downsampled for display
    analysis: Analysis
    #: display data prepared on the worker (an hour's min/max is ~50 ms of numpy: not on the GUI thread)
    wave_t: NDArray[np.float64]
    wave_v: NDArray[np.float32]
    times: NDArray[np.float64]  #: window centres
    probs: NDArray[np.float64]  #: (windows, labels), NaN for silent windows (gaps in the curves)
    #: the file's utterances (unlabelled), or why there are none; None: not asked for
    segments: list[Segment] | str | None = None
    #: one line when the file is not whole (a WAV cut short: :func:`serlive.audio.io.truncation_warning`)
    warning: str | None = None


@dataclass(frozen=True)
class DetailRequest:
    """A zoomed-in stretch to render at full detail (the newest one wins)."""

    generation: int
    samples: NDArray[np.float32]
    #: spectrogram frames to render (None: the overview is fine enough there)
    frames: tuple[int, int] | None
    max_cols: int
    #: samples whose min/max envelope replaces the overview's points there (None: not needed)
    wave: tuple[int, int] | None
    wave_bins: int
    sample_rate: int
    overview: tuple[NDArray[np.float64], NDArray[np.float32]]  #: the whole file's envelope (seconds, values)


def plan_detail(
    d: Loaded, x0: float, x1: float, width_px: int, ext: Any, generation: int
) -> DetailRequest | None:
    """What to render at full detail for the view ``x0 .. x1`` seconds, ``width_px`` wide (GUI thread).

    Spectrogram frames where the overview has fewer columns than the stretch has frames or the
    plot pixels (at most two columns a pixel), and a waveform envelope (the visible stretch and
    half a screen either side, so a short pan stays sharp) where the overview has fewer points
    than samples or two a pixel; either is None where the overview suffices.  None: nothing in view.
    """
    cfg = ext.cfg
    n_frames = ext.n_frames(len(d.samples))
    dur = len(d.samples) / d.sample_rate
    x0, x1 = max(0.0, x0), min(dur, x1)
    if x1 <= x0:
        return None
    frame_s = cfg.hop_length / d.sample_rate
    f0, f1 = int(x0 / frame_s), min(n_frames, int(np.ceil(x1 / frame_s)) + 1)
    overview_cols = d.spectrogram.shape[1] * (x1 - x0) / max(dur, 1e-9)
    frames = None if f1 - f0 < 2 or overview_cols >= min(f1 - f0, width_px) else (f0, f1)
    span, n = x1 - x0, len(d.samples)
    s0 = max(0, int((x0 - span / 2) * d.sample_rate))
    s1 = min(n, int(np.ceil((x1 + span / 2) * d.sample_rate)))
    visible = (x1 - x0) * d.sample_rate
    overview_points = len(d.wave_v) * (x1 - x0) / max(dur, 1e-9)
    wave = None if overview_points >= min(visible, 2 * width_px) else (s0, s1)
    wave_bins = round(width_px * (s1 - s0) / max(1.0, visible))
    return DetailRequest(
        generation, d.samples, frames, 2 * width_px, wave, wave_bins, d.sample_rate, (d.wave_t, d.wave_v)
    )


def wave_with_detail(req: DetailRequest) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
    """The overview envelope with the requested stretch replaced by its own, finer one (worker thread)."""
    assert req.wave is not None
    s0, s1 = req.wave
    x, v = envelope(req.samples[s0:s1], max(1, req.wave_bins))
    t = (x + s0) / req.sample_rate
    ot, ov = req.overview
    before, after = ot < s0 / req.sample_rate, ot >= s1 / req.sample_rate
    return np.concatenate([ot[before], t, ot[after]]), np.concatenate([ov[before], v, ov[after]])


def render_detail(req: DetailRequest, ext: Any) -> tuple[int, int, NDArray[np.float32]]:
    """The requested frames' spectrogram image ``(bands, columns)`` and the frames its columns cover."""
    assert req.frames is not None
    frame0, frame1 = req.frames
    mel = mel_frames(ext, req.samples, frame0, frame1)
    img = downsample_columns(mel, req.max_cols).T.copy()
    # frames the columns cover (averaging drops a remainder of < one column's frames)
    per = 1 if img.shape[1] == len(mel) else int(np.ceil(len(mel) / req.max_cols))
    return frame0, frame0 + img.shape[1] * per, img


def display_spectrogram(model: Any, y: NDArray[np.float32], cancel: threading.Event) -> NDArray[np.float32]:
    """The model's log-mel frames, computed in pieces and averaged to ≤ MAX_SPEC_COLS columns."""
    ext = model.extractor
    cfg = ext.cfg
    n_frames = ext.n_frames(len(y))
    if n_frames <= 0:
        return np.full((cfg.n_mels, 1), -120.0, np.float32)
    per = max(1, int(np.ceil(n_frames / MAX_SPEC_COLS)))
    step = per * 512  # frames per piece (a whole number of display columns): short GIL holds
    cols = []
    for f0 in range(0, n_frames, step):
        if cancel.is_set():
            raise AnalysisCancelled
        mel = mel_frames(ext, y, f0, min(n_frames, f0 + step))
        cols.append(downsample_columns(mel, max(1, len(mel) // per)))
    return np.concatenate(cols).T.copy()


def load_file(
    path: Path,
    model: Any,
    progress: Callable[[float, str], None],
    cancel: threading.Event,
    segments: SegmentConfig | None = None,
) -> Loaded:
    """Load, display spectrogram and analysis of ``path`` (the viewer's worker thread runs this).

    ``progress(fraction, phase)`` is called along the way; raises AnalysisCancelled once ``cancel``
    is set, AudioLoadError for a file that cannot be read.  ``segments``: also split the file into
    utterances by that rule, fed by the analysis (:func:`analyse_in_segments`).
    """
    from serlive.audio.io import load_audio, truncation_warning

    sr = int(model.meta.features.sample_rate)
    progress(0.0, "loading")
    y = load_audio(path, sr)
    warning = truncation_warning(path)
    if cancel.is_set():
        raise AnalysisCancelled
    progress(0.1, "spectrogram")
    spec = display_spectrogram(model, y, cancel)
    progress(0.3, "analysing")

    def analysed(frac: float) -> bool:
        progress(0.3 + 0.7 * frac, "analysing")
        return cancel.is_set()

    segmenter = None
    if segments is not None and sr == SAMPLE_RATE:
        segmenter = Segmenter(segments)
    analysis = analyse_in_segments(y, model, progress=analysed, segmenter=segmenter)
    if cancel.is_set():
        raise AnalysisCancelled
    segs = None if segments is None else file_segments(y, model, segmenter)
    x, v = envelope(y, WAVE_BINS)
    t = np.array([0.5 * (w.start_s + w.end_s) for w in analysis.windows])
    if analysis.windows:
        probs = np.array([w.probabilities for w in analysis.windows], np.float64)
        probs[np.array([w.silent for w in analysis.windows])] = np.nan
    else:
        probs = np.zeros((0, len(model.labels)))
    return Loaded(path, y, sr, spec, analysis, x / sr, v, t, probs, segs, warning)


@dataclass(frozen=True)
class Shown:
    """What the viewer draws of a file over the labels shown (View ▸ Emotions shown)."""

    labels: tuple[str, ...]
    probs: NDArray[np.float64]  #: (windows, labels shown), NaN for silent windows
    #: the file's summary over those labels (its ``windows`` are the model's, left as they are)
    summary: Analysis


def shown(d: Loaded, labelset: LabelSet | None) -> Shown:
    """``d``'s timeline and summary over ``labelset`` (None: the model's labels).

    A view of the stored probabilities (:meth:`serlive.labelsets.LabelSet.apply`, calm counted as
    neutral when calm is not kept), so switching sets needs no new analysis.  The windows'
    results are not copied (an hour's 7200 would cost the GUI thread more than a frame): the
    curves take the mapped array, the summary the mapped mean, the CSV export its own copy
    (:func:`serlive.gui.export.write_timeline_csv`).
    """
    a = d.analysis
    if labelset is None or labelset.is_all:
        return Shown(a.labels, d.probs, a)
    speech = np.isfinite(d.probs).all(axis=1)
    probs = np.full((len(d.probs), len(labelset.names)), np.nan)
    probs[speech] = labelset.apply(d.probs[speech])
    mean = labelset.apply(a.probabilities) if len(a.probabilities) else a.probabilities
    return Shown(labelset.names, probs, replace(a, labels=labelset.names, probabilities=mean))


def status_line(d: Loaded, model: Any) -> str:
    """The status bar's line for the file on screen: where it is, its length, its windows."""
    a = d.analysis
    w = model.meta.windows.for_files()
    speech = sum(not x.silent for x in a.windows)
    line = (
        f"{d.path}  |  {len(d.samples) / d.sample_rate:.1f} s  |  {plural(len(a.windows), 'window')} of "
        f"{w.window_s:g} s every {w.hop_s:g} s, {speech} with speech"
    )
    return line if d.warning is None else f"{line}  |  ⚠ {d.warning}"


#: the waveform's auto-scaled half-range never goes below this (-60 dBFS): digital silence stays flat
MIN_WAVE_RANGE = 1e-3
#: up to this many visible samples the peak is taken from the samples, beyond it from the overview
PEAK_FROM_SAMPLES = 200_000


def visible_peak(d: Loaded, x0: float, x1: float) -> float:
    """The largest magnitude of the audio between ``x0`` and ``x1`` seconds, for the waveform's y-range.

    Why (issue 28, item 16): on a fixed ±1 range a quiet passage zoomed to 10 ms was a flat line.
    Cheap enough for every wheel step on the GUI thread: the samples themselves where at most
    :data:`PEAK_FROM_SAMPLES` are in view (under 1 ms), else the overview envelope's bins that
    overlap the view (its min/max per bin are the samples' own peaks; at most 4000 of them).
    """
    n = len(d.samples)
    s0 = min(n, max(0, int(x0 * d.sample_rate)))
    s1 = min(n, max(s0, int(np.ceil(x1 * d.sample_rate))))
    if s1 <= s0:
        return 0.0
    if s1 - s0 <= PEAK_FROM_SAMPLES:
        return float(np.max(np.abs(d.samples[s0:s1])))
    bin_s = n / d.sample_rate / max(1, len(d.wave_t) // 2)  # two points (min, max) per bin
    inside = (d.wave_t >= x0 - bin_s) & (d.wave_t <= x1 + bin_s)
    return float(np.max(np.abs(d.wave_v[inside]))) if inside.any() else 0.0
