"""Making a profile from an enrolment, and making it again with one more labelled example.

Why the enrolment travels in the profile: "This was…" in the app labels one more utterance into
the active profile, and Undo takes it back.  Refitting needs every example the profile was made of,
not only the fitted numbers, so the profile keeps its examples' pooled embeddings and plain
probabilities (float16: about 3 KB an example as JSON with a 1024-wide embedding; :data:`MAX_EXAMPLES`
keep a profile under 1 MB).
No audio is kept.  A refit is the same :func:`serlive.profiles.methods.fit` the first fit was, so
its cross-validated estimate and its "no change" guard stay honest as examples are added.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import NDArray

from serlive.profiles.methods import Enrolment, fit
from serlive.profiles.store import Profile, today

#: examples kept for refits (the oldest go first past this): 280 x (1024 + 8) float16 is 0.58 MB, 0.77 MB
#: as base64 in the JSON, beside ~60 KB of fitted numbers (bench/bench_profile.py: 302 KB for 100)
MAX_EXAMPLES = 280


def make_profile(name: str, enrolment: Enrolment, kind: str, model_sha256: str, model_file: str) -> Profile:
    """Fit ``enrolment`` (the method chosen by its own cross-validation) and assemble the profile."""
    fitted = fit(enrolment, kind)
    counts = Counter(int(i) for i in enrolment.labels)
    return Profile(
        name=name,
        kind=kind,
        labels=tuple(enrolment.names),
        model_labels=tuple(enrolment.model_labels),
        model_sha256=model_sha256,
        model_file=model_file,
        method=fitted.method,
        params=dict(fitted.params),
        clips={n: counts.get(i, 0) for i, n in enumerate(enrolment.names)},
        cv_plain=dict(fitted.cv_plain),
        cv_fitted=dict(fitted.cv_fitted),
        created=today(),
        examples={
            "embeddings": np.asarray(enrolment.embeddings[-MAX_EXAMPLES:], np.float16),
            "plain": np.asarray(enrolment.plain[-MAX_EXAMPLES:], np.float16),
            "labels": np.asarray(enrolment.labels[-MAX_EXAMPLES:], np.int16),
        },
    )


def enrolment_of(profile: Profile) -> Enrolment:
    """The examples a profile was fitted on (ValueError when it carries none: made by an old serlive)."""
    ex = profile.examples
    if not ex:
        raise ValueError(f"{profile.where} keeps no examples to refit from; make it again with calibrate")
    return Enrolment(
        embeddings=np.asarray(ex["embeddings"], np.float32),
        plain=np.asarray(ex["plain"], np.float32),
        labels=np.asarray(ex["labels"], np.int64),
        names=profile.labels,
        model_labels=profile.model_labels,
    )


def with_example(
    profile: Profile, embedding: NDArray[np.floating], plain: NDArray[np.floating], label: str
) -> Profile:
    """``profile`` refitted with one more example of ``label`` (one of its labels)."""
    if label not in profile.labels:
        raise ValueError(f"{label!r} is not one of {profile.name!r}'s labels ({', '.join(profile.labels)})")
    e = enrolment_of(profile)
    grown = Enrolment(
        embeddings=np.vstack([e.embeddings, np.asarray(embedding, np.float32).reshape(1, -1)]),
        plain=np.vstack([e.plain, np.asarray(plain, np.float32).reshape(1, -1)]),
        labels=np.append(e.labels, profile.labels.index(label)),
        names=e.names,
        model_labels=e.model_labels,
    )
    again = make_profile(profile.name, grown, profile.kind, profile.model_sha256, profile.model_file)
    return again.at(profile.path)
