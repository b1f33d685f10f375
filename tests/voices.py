"""Two espeak-ng voices that stand for two labels, for the calibration tests (CLI and app).

The voices differ in pitch and rate; the enrolment's sentences and the held-out ones differ, so a
profile that separates the held-out clips has learnt the voices, not the words.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import ESPEAK, espeak_to
from tests.signals import SENTENCES

TRAIN, HELD_OUT = SENTENCES[:6], SENTENCES[6:]
#: the two voices: (pitch, words per minute)
LOW, HIGH = (15, 110), (85, 210)


def voice_set(root: Path, names: dict[str, tuple[int, int]], sentences: tuple[str, ...]) -> Path:
    """``root/<label>/clip<i>.wav``: every sentence in each label's voice."""
    for label, (pitch, speed) in names.items():
        for i, text in enumerate(sentences):
            espeak_to(root / label / f"clip{i}.wav", text, speed=speed, pitch=pitch)
    return root


def make_voices(root: Path) -> dict[str, Path]:
    """Enrolment folders (own labels low/high; the model's labels sad/Happy) and held-out clips."""
    assert ESPEAK is not None
    own = voice_set(root / "own", {"low": LOW, "high": HIGH}, TRAIN)
    test = voice_set(root / "test", {"low": LOW, "high": HIGH}, HELD_OUT)
    model_labels = root / "model"
    for src, dst in (("low", "sad"), ("high", "Happy")):  # 'Happy': the model's label in another case
        (model_labels / dst).mkdir(parents=True)
        for f in (own / src).iterdir():
            (model_labels / dst / f.name).write_bytes(f.read_bytes())
    return {"own": own, "test": test, "model": model_labels}


def load16k(path: Path) -> np.ndarray:
    """A clip as the model hears it."""
    from serlive.audio.io import load_audio

    return load_audio(path, 16000)
