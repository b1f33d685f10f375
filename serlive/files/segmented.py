"""One file's analysis with its utterances (``predict --segments``), wherever it runs.

Why a module of its own: the serial loop of ``serlive predict`` and a Dask worker
(:mod:`serlive.files.cluster`) must cut a file's utterances the same way, so the one
definition lives here, beneath both, rather than in the command line.  The segmenter is
fed as the analysis goes and takes the window rule's speech probabilities from it, so the
speech detector runs once per file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from serlive.audio.io import AudioLoadError, load_audio
from serlive.config import SegmentConfig
from serlive.files.analysis import analyse_signal
from serlive.model import EmotionModel
from serlive.results import Analysis
from serlive.segments import Segmenter, complete, model_centred

#: a file's segments and the plain model's window centred on each short one
Found = tuple[list[Any], dict[Any, Any]]


def segment_file(y: NDArray[Any], segmenter: Segmenter, model: EmotionModel) -> Found:
    """A file's segments (``segmenter`` was fed by its analysis) and the window centred on each short one.

    The centred windows (the plain model's) are computed now, while the samples are at hand; they
    label short segments unless a session adapts the file's windows (then its windows do, see
    :func:`serlive.segments.utterances`).
    """
    segs = complete(segmenter, y)
    short = [s for s in segs if s.duration_s < model.meta.windows.window_s]
    centred = dict(zip(short, model_centred(model, y)(short), strict=True)) if short else {}
    return segs, centred


def analyse_file_segmented(
    path: str | Path, model: EmotionModel, seg_cfg: SegmentConfig, keep_embeddings: bool = False
) -> tuple[Analysis, Found] | tuple[str, None]:
    """``(Analysis, (segments, centred windows))``, or ``(why it could not be read, None)``."""
    try:
        y = load_audio(path, model.meta.features.sample_rate)
    except AudioLoadError as exc:
        return exc.reason, None
    segmenter = Segmenter(seg_cfg)
    a = analyse_signal(y, model, keep_embeddings=keep_embeddings, segmenter=segmenter)
    return a, segment_file(y, segmenter, model)


def analyse_files_segmented(
    paths: Sequence[str | Path], model: EmotionModel, seg_cfg: SegmentConfig, keep_embeddings: bool = False
) -> Iterator[tuple[Analysis, Found] | tuple[str, None]]:
    """Each file's :func:`analyse_file_segmented`, in order, one at a time (``--jobs`` does not apply)."""
    for path in paths:
        yield analyse_file_segmented(path, model, seg_cfg, keep_embeddings)
