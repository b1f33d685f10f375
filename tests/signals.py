"""Synthetic test signals, shared by the tests and the benchmarks (numpy and serlive only, no pytest).

Why a module of its own: ``bench/bench_gui.py`` imported ``speechlike`` from ``tests/conftest.py``,
which imports pytest (and sets Qt up for the suite), so the benchmark needed the test extras to run
(issue 28, item 13).  ``tests/conftest.py`` re-exports these names, so the tests import them as before.
"""

from __future__ import annotations

import numpy as np

SR = 16000


def tone(freq: float, dur: float, sr: int = SR, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    """A sine of ``freq`` Hz lasting ``dur`` seconds, float32."""
    t = np.arange(round(dur * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def chirp(f0: float, f1: float, dur: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A linear sweep from ``f0`` to ``f1`` Hz, float32."""
    t = np.arange(round(dur * sr)) / sr
    phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t**2)
    return (amp * np.sin(phase)).astype(np.float32)


def noise(dur: float, sr: int = SR, colour: str = "white", amp: float = 0.1, seed: int = 0) -> np.ndarray:
    """White, pink or brown noise with RMS ``amp``, float32 (the training augmentation's noise, scaled)."""
    from serlive.train.augment import unit_noise  # numpy and scipy only: fine for the benches too

    return (amp * unit_noise(round(dur * sr), np.random.default_rng(seed), colour)).astype(np.float32)


def speechlike(dur: float, sr: int = SR, f0: float = 140.0, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    """Harmonic 'voice' with a wandering pitch, syllable envelope and some breath noise."""
    rng = np.random.default_rng(seed)
    n = round(dur * sr)
    t = np.arange(n) / sr
    pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    x = sum((0.6**k) * np.sin((k + 1) * phase) for k in range(8))
    env = np.clip(np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    x = x * (0.15 + env) + 0.05 * rng.standard_normal(n)
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


#: sentences with no emotion of their own, for espeak-ng voices (calibration tests, bench_profile)
SENTENCES = (
    "the weather is nice today",
    "please open the window now",
    "we will meet at noon tomorrow",
    "the train leaves at seven",
    "can you hear the music",
    "put the book on the table",
    "the river runs to the sea",
    "turn left at the corner",
    "it is raining again",
    "they built a tall house",
)
