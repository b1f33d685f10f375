"""A user's labelled clips, analysed as ``predict`` analyses a file, ready for a profile to be fitted.

Why the file path: a profile is applied to what the model says of a file (and of each window), so
it must be fitted on exactly that: each clip's pooled embedding and plain probabilities are the
weighted means over its voiced windows, the same windows and weights ``serlive predict`` uses for
the file's label.  A clip with no speech cannot teach anything and is skipped; one that cannot be
read is listed; a label left with fewer than two usable clips is refused by name, because neither a
cross-validated estimate nor a fit can come from one example.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.audio.io import AudioLoadError
from serlive.files.analysis import analyse_file, analyse_signal
from serlive.model import EmotionModel
from serlive.profiles.methods import MAX_LABELS, Enrolment
from serlive.results import Analysis

#: fewest usable clips a label needs
MIN_CLIPS = 2


class EnrolmentError(ValueError):
    """The labelled clips cannot make a profile; ``str()`` says why, naming labels and files.

    ``skipped``: the clips left out before it came to that (no speech, unreadable), so the user
    is told about them too, and can fix them along with the labels that fell short.
    """

    def __init__(self, message: str, skipped: EnrolmentReport | None = None) -> None:
        super().__init__(message)
        self.skipped = skipped


@dataclass(frozen=True)
class LabelledClip:
    """One clip and the label its speaker gave it."""

    path: Path
    label: str


@dataclass
class EnrolmentReport:
    """The enrolment, and what was left out of it and why."""

    enrolment: Enrolment
    kind: str
    used: dict[str, list[Path]]
    no_speech: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- where the labelled clips come from -------------------------------------------------------------
def clips_from_folder(root: str | Path) -> list[LabelledClip]:
    """``root/<label>/<clip>``: one folder per label, every file in it a clip (hidden files aside)."""
    root = Path(root)
    if not root.is_dir():
        raise EnrolmentError(f"{root}: not a folder (give one folder per label inside it, or --csv)")
    clips = [
        LabelledClip(f, d.name)
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for f in sorted(q for q in d.rglob("*") if q.is_file() and not q.name.startswith("."))
    ]
    if not clips:
        raise EnrolmentError(f"{root}: no clips found (expected one folder per label, each holding clips)")
    return clips


def clips_from_csv(path: str | Path) -> list[LabelledClip]:
    """``path,label`` rows (a header row naming them is allowed); relative paths are from the CSV's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnrolmentError(f"{path}: cannot be read ({exc})") from exc
    clips: list[LabelledClip] = []
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise EnrolmentError(f"{path}:{n}: expected 'path,label', got {','.join(row)!r}")
        if n == 1 and (row[0].strip().lower(), row[1].strip().lower()) == ("path", "label"):
            continue
        clip = Path(row[0].strip()).expanduser()
        clips.append(LabelledClip(clip if clip.is_absolute() else path.parent / clip, row[1].strip()))
    if not clips:
        raise EnrolmentError(f"{path}: no 'path,label' rows")
    return clips


def normalise_labels(
    clips: Iterable[LabelledClip], model_labels: tuple[str, ...], own: bool = False
) -> tuple[list[LabelledClip], str, list[str]]:
    """Labels matched case-insensitively: to the model's (a calibration) or among themselves (own labels).

    Returns the clips with their labels spelled one way, the profile's kind, and a note for each
    spelling that was changed (``Happy`` → ``happy``), so the user sees what was merged.
    """
    clips = list(clips)
    by_fold = {m.casefold(): m for m in model_labels}
    given = {c.label for c in clips}
    calibration = not own and all(g.casefold() in by_fold for g in given)
    spelling: dict[str, str] = {}
    for g in sorted(given):
        key = g.casefold()
        if calibration:
            spelling[g] = by_fold[key]
        else:
            spelling[g] = next((s for s in spelling.values() if s.casefold() == key), g)
    notes = [
        f"label {g!r} read as {s!r}" + (" (the model's label)" if calibration else " (the same label)")
        for g, s in sorted(spelling.items())
        if g != s
    ]
    kind = "calibration" if calibration else "own"
    return [LabelledClip(c.path, spelling[c.label]) for c in clips], kind, notes


# --- analysing them ---------------------------------------------------------------------------------
def clip_vectors(analysis: Analysis) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """A clip's pooled embedding and plain probabilities: weighted means over its voiced windows."""
    voiced = [w for w in analysis.windows if not w.silent and w.embedding is not None]
    if not voiced:
        return None
    weights = np.array([w.weight for w in voiced], np.float64)
    emb = np.average(np.stack([w.embedding for w in voiced]), axis=0, weights=weights)  # type: ignore[misc]
    plain = np.average(np.stack([w.probabilities for w in voiced]), axis=0, weights=weights)
    return emb.astype(np.float32), plain.astype(np.float32)


def signal_vectors(
    samples: NDArray[np.float32], model: EmotionModel
) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """:func:`clip_vectors` of samples already at the model's rate (an utterance the app holds)."""
    return clip_vectors(analyse_signal(np.asarray(samples, np.float32), model, keep_embeddings=True))


def enrol(
    clips: list[LabelledClip],
    model: EmotionModel,
    own: bool = False,
    progress: Callable[[int, int, Path], None] | None = None,
) -> EnrolmentReport:
    """Analyse every clip with the plain model and gather the enrolment; EnrolmentError if it cannot fit.

    ``progress(done, total, path)`` is called after each clip (the CLI's bar).
    """
    if model.profile is not None:
        raise EnrolmentError("a profile is fitted on the plain model: load the model without --profile")
    if model.embedding_dim == 0:
        raise EnrolmentError(f"{model.path.name} gives no embeddings: calibration needs the encoder model")
    clips, kind, notes = normalise_labels(clips, model.meta.labels, own)
    names = tuple(sorted({c.label for c in clips}, key=_label_order(model.meta.labels)))
    if len(names) > MAX_LABELS:
        raise EnrolmentError(f"{len(names)} labels: a profile has at most {MAX_LABELS}")
    if len(names) < 2:
        raise EnrolmentError(
            f"only one label ({names[0] if names else 'none'}): a profile needs two or more to tell apart"
        )
    embs: list[NDArray[np.float32]] = []
    plains: list[NDArray[np.float32]] = []
    labels: list[int] = []
    used: dict[str, list[Path]] = {n: [] for n in names}
    report_no_speech: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    for i, clip in enumerate(clips):
        try:
            analysis = analyse_file(clip.path, model, keep_embeddings=True)
        except (AudioLoadError, OSError) as exc:
            unreadable.append((clip.path, str(exc)))
        else:
            vectors = clip_vectors(analysis)
            if vectors is None:
                report_no_speech.append(clip.path)
            else:
                embs.append(vectors[0])
                plains.append(vectors[1])
                labels.append(names.index(clip.label))
                used[clip.label].append(clip.path)
        if progress is not None:
            progress(i + 1, len(clips), clip.path)
    short = [f"{n} ({len(used[n])})" for n in names if len(used[n]) < MIN_CLIPS]
    dim = model.embedding_dim
    enrolment = Enrolment(
        embeddings=np.stack(embs) if embs else np.zeros((0, dim), np.float32),
        plain=np.stack(plains) if plains else np.zeros((0, len(model.meta.labels)), np.float32),
        labels=np.asarray(labels, np.int64),
        names=names,
        model_labels=tuple(model.meta.labels),
    )
    report = EnrolmentReport(enrolment, kind, used, report_no_speech, unreadable, notes)
    if short:
        raise EnrolmentError(
            f"each label needs at least {MIN_CLIPS} clips with speech; too few for: {', '.join(short)}",
            report,
        )
    return report


def _label_order(model_labels: tuple[str, ...]) -> Callable[[str], tuple[int, str]]:
    """The model's labels in its order, then own labels alphabetically: menus and tables read alike."""
    return lambda n: (model_labels.index(n) if n in model_labels else len(model_labels), n.casefold())
