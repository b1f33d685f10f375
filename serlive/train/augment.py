"""Waveform augmentation for the training split only.

The classic SER set (additive noise at a random SNR, time stretch, pitch
shift, time shift, gain) plus a channel set aimed at what decides whether
the app works on a user's own microphone: random EQ, band-limiting,
small-room reverb, codec-like degradation and level changes.  All functions
take and return mono float32 at the model rate and draw from a caller-owned
``numpy.random.Generator`` so a seed fixes the whole training set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
from numpy.typing import NDArray

from serlive.audio.io import resample

Audio = NDArray[np.float32]


def _power(y: Audio) -> float:
    return float(np.mean(np.square(y, dtype=np.float64))) + 1e-12


def unit_noise(n: int, rng: np.random.Generator, colour: str = "white") -> NDArray[np.float64]:
    """White, pink (1/f) or brown (1/f^2) noise of unit RMS, in float64.

    float64 so that a caller scaling it (the tests' noise at a given RMS) rounds to float32 once.
    """
    white = rng.standard_normal(n)
    if colour != "white":
        spec = np.fft.rfft(white)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        spec /= f ** (0.5 if colour == "pink" else 1.0)
        white = np.fft.irfft(spec, n)
    return white / (np.sqrt(np.mean(white**2)) + 1e-12)


def coloured_noise(n: int, rng: np.random.Generator, colour: str = "white") -> Audio:
    """White, pink (1/f) or brown (1/f^2) noise of unit RMS."""
    return unit_noise(n, rng, colour).astype(np.float32)


def add_noise(y: Audio, snr_db: float, rng: np.random.Generator, colour: str = "white") -> Audio:
    """Add noise so the speech-to-noise ratio is ``snr_db`` (over the whole clip)."""
    noise = coloured_noise(len(y), rng, colour) * np.sqrt(_power(y) / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)


def gain(y: Audio, db: float) -> Audio:
    """Scale by ``db`` and hard-clip at full scale, as a hot input would."""
    return np.clip(y * 10 ** (db / 20), -1.0, 1.0).astype(np.float32)


def speed(y: Audio, factor: float) -> Audio:
    """Speed perturbation: resample so tempo and pitch both change by ``factor``."""
    return resample(y, round(16000 * factor), 16000)


def time_stretch(y: Audio, rate: float) -> Audio:
    """Tempo change keeping pitch (librosa phase vocoder)."""
    import librosa

    return librosa.effects.time_stretch(y, rate=rate).astype(np.float32)


def pitch_shift(y: Audio, semitones: float, sr: int = 16000) -> Audio:
    """Pitch change keeping tempo (librosa)."""
    import librosa

    return librosa.effects.pitch_shift(y, sr=sr, n_steps=semitones, res_type="soxr_hq").astype(np.float32)


def _peaking(fc: float, gain_db: float, q: float, sr: int) -> tuple[NDArray, NDArray]:
    """RBJ cookbook peaking EQ biquad."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * fc / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return b / den[0], den / den[0]


def random_eq(y: Audio, rng: np.random.Generator, sr: int = 16000) -> Audio:
    """1-3 random peaking filters (+-9 dB) and a gentle tilt: a different microphone."""
    out = y.astype(np.float64)
    for _ in range(int(rng.integers(1, 4))):
        fc = float(np.exp(rng.uniform(np.log(100), np.log(6500))))
        b, a = _peaking(fc, float(rng.uniform(-9, 9)), float(rng.uniform(0.5, 2.5)), sr)
        out = scipy.signal.lfilter(b, a, out)
    # first-order tilt: y[n] - k*y[n-1] (k>0 brightens, k<0 darkens)
    k = float(rng.uniform(-0.6, 0.6))
    out = scipy.signal.lfilter([1.0, -k], [1.0], out) / (1 + abs(k))
    return out.astype(np.float32)


def band_limit(y: Audio, rng: np.random.Generator, sr: int = 16000) -> Audio:
    """Random high-pass (60-400 Hz) and low-pass (2.8-7 kHz): phones, headsets, cheap mics."""
    lo = float(rng.uniform(60, 400))
    hi = float(rng.uniform(2800, 7000))
    sos = scipy.signal.butter(4, [lo, hi], btype="bandpass", fs=sr, output="sos")
    return scipy.signal.sosfilt(sos, y).astype(np.float32)


def room_reverb(y: Audio, rng: np.random.Generator, sr: int = 16000) -> Audio:
    """Convolve with a synthetic small-room impulse response (RT60 0.15-0.7 s).

    Exponentially decaying noise after a direct path, low-passed as air and
    walls absorb highs; the dry/wet ratio varies with the speaker's distance.
    """
    rt60 = float(rng.uniform(0.15, 0.7))
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    sos = scipy.signal.butter(2, float(rng.uniform(2500, 7000)), fs=sr, output="sos")
    tail = scipy.signal.sosfilt(sos, tail)
    pre_delay = int(rng.uniform(0.002, 0.015) * sr)
    rir = np.zeros(n + pre_delay)
    rir[0] = 1.0
    rir[pre_delay:] += tail * float(rng.uniform(0.1, 0.5)) / np.sqrt(np.sum(tail**2) + 1e-12)
    wet = scipy.signal.fftconvolve(y, rir)[: len(y)]
    return (wet * np.sqrt(_power(y) / _power(wet))).astype(np.float32)


def codec(y: Audio, rng: np.random.Generator, sr: int = 16000) -> Audio:
    """Codec-like damage: telephone-band 8 kHz round trip, or 8-bit mu-law."""
    if rng.random() < 0.5:
        return resample(resample(y, sr, 8000), 8000, sr)[: len(y)]
    mu = 255.0
    peak = float(np.max(np.abs(y))) + 1e-9
    x = y / peak
    comp = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    q = np.round(comp * 127) / 127
    return (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu * peak).astype(np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of one augmentation chain."""

    p_speed: float = 0.35
    p_pitch: float = 0.25
    p_stretch: float = 0.2
    p_eq: float = 0.6
    p_band: float = 0.3
    p_reverb: float = 0.35
    p_noise: float = 0.6
    p_codec: float = 0.15
    snr_db: tuple[float, float] = (3.0, 30.0)
    gain_db: tuple[float, float] = (-25.0, 6.0)


def augment_voice(y: Audio, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> Audio:
    """At most one of speed perturbation, pitch shift or time stretch (changes length)."""
    r = rng.random()
    if r < cfg.p_speed:
        return speed(y, float(rng.uniform(0.9, 1.1)))
    r -= cfg.p_speed
    if r < cfg.p_pitch:
        return pitch_shift(y, float(rng.uniform(-2.5, 2.5)))
    r -= cfg.p_pitch
    if r < cfg.p_stretch:
        return time_stretch(y, float(rng.uniform(0.8, 1.2)))
    return y


def augment_channel(y: Audio, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> Audio:
    """Room, microphone, noise, codec and level, applied to a whole window.

    Applied after the speech is placed in its window so noise and reverb also
    fill the pauses, as they would on a real microphone.
    """
    if rng.random() < cfg.p_reverb:
        y = room_reverb(y, rng)
    if rng.random() < cfg.p_eq:
        y = random_eq(y, rng)
    if rng.random() < cfg.p_band:
        y = band_limit(y, rng)
    if rng.random() < cfg.p_noise:
        colour = str(rng.choice(["white", "pink", "brown"]))
        y = add_noise(y, float(rng.uniform(*cfg.snr_db)), rng, colour)
    if rng.random() < cfg.p_codec:
        y = codec(y, rng)
    peak = float(np.max(np.abs(y))) + 1e-9
    y = y * (0.5 / peak)  # normalise, then apply a random level
    return gain(y, float(rng.uniform(*cfg.gain_db)))
