"""serlive's Python API for notebooks and pipelines: ``load_model``, ``analyse_file``, ``analyse_files``.

Why a small API of its own rather than "import the internals": the modules beneath move as the
house is rearranged, and a notebook should not break when they do.  These three names (and
:class:`FileResult`) are re-exported by ``serlive`` itself, lazily, so ``import serlive`` stays as
light as it was; ``tests/test_api.py`` checks that they stay put.  They run the same analysis as
``serlive predict`` (one file, a machine's cores, or a Dask cluster), so the numbers are the
command's numbers.

::

    import pandas as pd
    import serlive

    model = serlive.load_model()                       # the shipped model, loaded once
    r = serlive.analyse_file("clip.wav", model=model)
    print(r.label, r.confidence)
    rows = [r.to_dict() for r in serlive.analyse_files(paths, jobs=2)]
    df = pd.DataFrame(rows)                            # path, label, confidence, ..., one column per emotion
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serlive.model import EmotionModel
from serlive.results import Analysis


@dataclass(frozen=True)
class FileResult:
    """One file's result: the whole-file label and distribution, or why it could not be analysed.

    ``label`` is ``"no speech"`` (with no confidence or probabilities) when no window held speech,
    and None when the file failed (``error`` says why).  ``analysis`` holds the per-window
    timeline (:class:`serlive.results.Analysis`) for who wants more than the summary.
    """

    path: str
    label: str | None
    confidence: float | None
    probabilities: dict[str, float] | None
    duration_s: float | None
    speech: bool
    adapted: bool = False
    error: str | None = None
    analysis: Analysis | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the file was analysed (an error is a result too, not an exception)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A flat row for a DataFrame: the summary fields, then a column per emotion (None: no speech)."""
        row: dict[str, Any] = {
            "path": self.path,
            "label": self.label,
            "confidence": self.confidence,
            "duration_s": self.duration_s,
            "speech": self.speech,
            "adapted": self.adapted,
            "error": self.error,
        }
        labels = self.analysis.labels if self.analysis is not None else tuple(self.probabilities or ())
        for name in labels:
            row[name] = None if self.probabilities is None else self.probabilities[name]
        return row

    @classmethod
    def of(cls, path: str | Path, result: Analysis | str) -> FileResult:
        """From what the file analysis returns: an :class:`Analysis`, or the reason it failed."""
        if isinstance(result, str):
            return cls(str(path), None, None, None, None, False, error=result)
        a = result
        probs = dict(zip(a.labels, (float(p) for p in a.probabilities), strict=True)) if a.speech else None
        return cls(
            str(path),
            a.label if a.speech else "no speech",
            a.confidence if a.speech else None,
            probs,
            float(a.duration_s),
            bool(a.speech),
            bool(a.adapted),
            analysis=a,
        )


def load_model(path: str | Path | None = None, profile: str | Path | None = None) -> EmotionModel:
    """The model at ``path`` (default: ``$SERLIVE_MODEL`` or the shipped one), checked and ready.

    ``profile``: a calibration profile's name or file (``serlive calibrate``); the model then
    judges through it (its labels, its fit).  Load it once and pass it on: loading the encoder
    model takes a few hundred milliseconds.  Raises :class:`serlive.model.ModelError` with the
    reason for a file (model or profile) it cannot use.
    """
    if profile is None:
        return EmotionModel(path)
    from serlive.model import ModelError
    from serlive.profiles.store import ProfileError, load_profile

    try:
        return EmotionModel(path, profile=load_profile(profile))
    except ProfileError as exc:
        raise ModelError(str(exc)) from exc


def analyse_file(path: str | Path, model: EmotionModel | None = None) -> FileResult:
    """One audio file (any format soundfile reads), analysed as ``serlive predict`` does.

    A file that cannot be read gives a result with ``error`` set, not an exception, so a loop
    over an archive goes on past it.
    """
    from serlive.files.processes import analysis_or_reason

    return FileResult.of(path, analysis_or_reason(path, model or load_model()))


def analyse_files(
    paths: Sequence[str | Path],
    *,
    model: EmotionModel | None = None,
    jobs: int | None = None,
    cluster: Any = None,
    session: bool = False,
) -> Iterator[FileResult]:
    """Each file's :class:`FileResult`, in the order given, each as soon as it (and those before) are done.

    ``jobs``: workers on this machine (default: every core, as memory allows).  ``cluster``: a
    Dask scheduler's address (``"tcp://host:8786"``), ``"local:N"``, or a connected
    ``distributed.Client``; the workers read the files by path (needs ``serlive[cluster]``).
    ``session``: the files are one speaker's, judged against that voice (all files are analysed
    before the first result comes).  The results are the same whichever way they ran.
    """
    model = model or load_model()
    names = [str(p) for p in paths]
    raw: Iterator[Analysis | str]
    if cluster is not None:
        raw = _on_cluster(cluster, names, model, session)
    else:
        from serlive.files.parallel import analyse_files as analyse_here
        from serlive.files.parallel import default_jobs

        raw = analyse_here(names, model, jobs or default_jobs(), keep_embeddings=session)
    if session:
        from serlive.files.analysis import adapt_to_session

        results = list(raw)
        adapt_to_session([r for r in results if isinstance(r, Analysis)], model)
        raw = iter(results)
    for name, result in zip(names, raw, strict=True):
        yield FileResult.of(name, result)


def _on_cluster(cluster: Any, paths: list[str], model: EmotionModel, session: bool) -> Iterator[Any]:
    """The files' results on Dask: a Client given is used as it is; an address is connected to and closed."""
    from serlive.files.cluster import analyse_files_on_cluster, open_client, parse_cluster

    if hasattr(cluster, "submit"):
        yield from analyse_files_on_cluster(cluster, paths, model, keep_embeddings=session)
        return
    with open_client(parse_cluster(str(cluster))) as client:
        yield from analyse_files_on_cluster(client, paths, model, keep_embeddings=session)
