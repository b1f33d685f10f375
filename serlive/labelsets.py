"""Label sets: show only the emotions a user cares about (``--labels neutral,happy,sad,angry``).

The model always answers over its eight labels; a label set is a *view* of that answer:

* the probability of a label left out is dropped and the kept ones are renormalised to sum to 1,
  so the ratio between any two kept labels is the model's own (``P(happy | one of the kept)``);
* **calm folds into neutral** when calm is left out and neutral kept: the corpora that have no
  calm (most of them) call that voice neutral, and dropping calm's mass would push a calm
  speaker towards whatever else is kept;
* the view applies to every vector shown (a window, a file's mean, an utterance's mean), after
  averaging in the model's label space, so a label set never changes which windows are voiced or
  how they are weighted.

Presets: ``basic`` (neutral, happy, sad, angry: SenseVoice's four and the four-class corpora's)
and ``all`` (the model's labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from serlive.results import Analysis

PRESETS: dict[str, tuple[str, ...]] = {
    "basic": ("neutral", "happy", "sad", "angry"),
}
#: The preset meaning "every label of the model".
ALL = "all"

T = TypeVar("T")


class LabelSetError(ValueError):
    """A label set names a label the model does not have (``str()`` lists the valid ones)."""


@dataclass(frozen=True)
class LabelSet:
    """The chosen labels, in the model's order, and how to map the model's probabilities onto them."""

    model_labels: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def is_all(self) -> bool:
        """True when nothing is left out (the view is the identity)."""
        return self.names == self.model_labels

    @property
    def folds_calm(self) -> bool:
        """Calm is left out and neutral kept: calm's probability is added to neutral's."""
        return "calm" in self.model_labels and "calm" not in self.names and "neutral" in self.names

    def matrix(self) -> NDArray[np.float64]:
        """(n_model, n_chosen) 0/1 map: each model label to the chosen label it counts for (or none)."""
        m = np.zeros((len(self.model_labels), len(self.names)))
        for j, name in enumerate(self.names):
            m[self.model_labels.index(name), j] = 1.0
        if self.folds_calm:
            m[self.model_labels.index("calm"), self.names.index("neutral")] = 1.0
        return m

    def apply(self, probabilities: NDArray[np.floating]) -> NDArray[np.float32]:
        """Map (..., n_model) probabilities onto the chosen labels and renormalise each row.

        A row with no mass on any kept label (impossible for a softmax; int8 rounding) is uniform.
        """
        p = np.asarray(probabilities, dtype=np.float64)
        if self.is_all:
            return p.astype(np.float32)
        q = p @ self.matrix()
        total = q.sum(axis=-1, keepdims=True)
        uniform = np.full_like(q, 1.0 / len(self.names))
        return np.where(total > 0, q / np.where(total > 0, total, 1.0), uniform).astype(np.float32)

    def describe(self) -> str:
        """One line for help and messages: the kept labels and whether calm counts as neutral."""
        tail = " (calm counted as neutral)" if self.folds_calm else ""
        return ", ".join(self.names) + tail


def parse_labels(spec: str | Sequence[str] | None, model_labels: Sequence[str]) -> LabelSet:
    """A label set from ``"neutral,happy,sad,angry"``, a preset name, or None (all of the model's).

    Names are case-insensitive, given in any order (kept in the model's order), repeats allowed.
    Raises :class:`LabelSetError` for an unknown name (listing the valid ones and presets), for
    fewer than two labels, and for an empty spec.
    """
    model_labels = tuple(model_labels)
    if spec is None:
        return LabelSet(model_labels, model_labels)
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    words = [w.strip().lower() for w in parts if w.strip()]
    valid = f"valid labels: {', '.join(model_labels)}; presets: {', '.join([*PRESETS, ALL])}"
    if not words:
        raise LabelSetError(f"no labels given; {valid}")
    chosen: set[str] = set()
    for w in words:
        if w == ALL:
            chosen.update(model_labels)
        elif w in PRESETS:
            chosen.update(PRESETS[w])
        else:
            chosen.add(w)
    unknown = sorted(chosen - set(model_labels))
    if unknown:
        raise LabelSetError(f"unknown label{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; {valid}")
    if len(chosen) < 2:
        raise LabelSetError(f"choose at least two labels (one label is always 100 %); {valid}")
    return LabelSet(model_labels, tuple(x for x in model_labels if x in chosen))


def view_analysis(analysis: Analysis, labelset: LabelSet) -> Analysis:
    """A copy of ``analysis`` over the chosen labels: every window and the file's mean mapped.

    The file's mean is mapped from the model-space mean (not re-averaged from mapped windows), so
    its ratios among kept labels are the model's.
    """
    if labelset.is_all:
        return analysis
    windows = [replace(w, probabilities=labelset.apply(w.probabilities)) for w in analysis.windows]
    probs = labelset.apply(analysis.probabilities) if len(analysis.probabilities) else analysis.probabilities
    return replace(analysis, labels=labelset.names, windows=windows, probabilities=probs)


def view(item: T, labelset: LabelSet, *fields: str) -> T:
    """A copy of a dataclass ``item`` with ``labels`` and the named probability ``fields`` mapped.

    For utterances (``view(u, ls, "probabilities")``) and live results (``"probabilities",
    "smoothed"``); a None field stays None.
    """
    if labelset.is_all:
        return item
    changes: dict[str, object] = {"labels": labelset.names}
    for f in fields:
        value = getattr(item, f)
        changes[f] = None if value is None else labelset.apply(value)
    return replace(item, **changes)  # type: ignore[type-var]
