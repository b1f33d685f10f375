"""The live view's drawing of the audio itself: waveform, level meter and clip light, scrolling log-mel.

A mixin of :class:`serlive.gui.live_view.LiveView`, split from it: the view
keeps its widgets, the engine and the results; here is what each 30 fps tick
draws from the ring's newest samples, computing only what arrived since the
last tick (the envelope's new bins, the spectrogram's new columns).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from serlive.config import FeatureConfig
from serlive.gui.arrays import RollingEnvelope
from serlive.gui.colors import CLIP_COLOR
from serlive.gui.plots import set_mel_axis, spectrogram_levels

WAVE_BINS = 1000  #: min/max pairs across the live waveform (about one per pixel column)
SPEC_S = 10.0  #: seconds of scrolling spectrogram
WAVE_S = SPEC_S  #: seconds of waveform shown: the same span, so the two read as one timeline
CLIP_LEVEL = 0.99
CLIP_HOLD_S = 1.0


class LiveDrawMixin:
    """Waveform, level, clip light and spectrogram of the live view, drawn from the ring each tick."""

    _level_pos: int
    _clip_until: float
    _clip_on: bool
    _wave_env: RollingEnvelope | None
    _spec_next_frame: int
    spec_frames: int
    spec_buf: Any
    _extractor: Any
    wave_curve: Any
    level_bar: Any
    clip_label: Any
    spec_item: Any

    def _fit_spectrogram(self, cfg: FeatureConfig) -> None:
        """Size the scrolling image for the model's bands and frame rate, label it in Hz."""
        self.spec_frames = round(SPEC_S * cfg.sample_rate / cfg.hop_length)
        self.spec_buf = np.full((cfg.n_mels, self.spec_frames), -120.0, np.float32)
        self.spec_item.setLevels(spectrogram_levels(cfg))  # dB, or log10 power for Whisper's front end
        self.spec_item.setImage(self.spec_buf, autoLevels=False)
        self.spec_item.setRect(-SPEC_S, 0, SPEC_S, cfg.n_mels)
        self.spec_plot.setYRange(0, cfg.n_mels, padding=0)
        set_mel_axis(self.spec_plot, cfg)

    def _draw_audio(self, ring: Any, sr: int) -> None:
        written = ring.written
        if written == self._level_pos:  # no audio since the last frame (blocks come slower than 30 fps)
            self._set_clip(time.monotonic() < self._clip_until)  # only the clip light's hold can change
            return
        n_wave = int(WAVE_S * sr)
        env = self._wave_env  # made for each run (_reset_display), at the run's rate
        if env is None:
            env = self._wave_env = RollingEnvelope(WAVE_BINS, n_wave // WAVE_BINS)
        x, v = env.update(ring.read, written, ring.capacity)  # from the samples since the last tick only
        self.wave_curve.setData(x / sr, v)
        # level meter and clipping over the samples that arrived since the last tick
        new = max(1, min(written - self._level_pos, n_wave))
        self._level_pos = written
        _, tail = ring.latest(new)
        peak = float(np.max(np.abs(tail))) if len(tail) else 0.0
        db = 20 * np.log10(max(peak, 1e-6))
        self.level_bar.setValue(int(max(-60, min(0, db))))
        now = time.monotonic()
        if peak >= CLIP_LEVEL:
            self._clip_until = now + CLIP_HOLD_S
        self._set_clip(now < self._clip_until)
        self._draw_spectrogram(ring, written)

    def _draw_spectrogram(self, ring: Any, written: int) -> None:
        ext = self._extractor
        cfg = ext.cfg
        hop, nfft = cfg.hop_length, cfg.n_fft
        avail = (written - nfft) // hop + 1 if written >= nfft else 0
        first = max(self._spec_next_frame, avail - self.spec_frames)
        n_new = avail - first
        if n_new <= 0:
            return
        data = ring.read(first * hop, (n_new - 1) * hop + nfft)
        if data is None:  # overwritten while we were away: start from the newest frames
            first = max(0, avail - 50)
            n_new = avail - first
            data = ring.read(first * hop, (n_new - 1) * hop + nfft)
            if data is None:
                return
        mel = ext.raw_frames(data)[:, : cfg.n_mels].T  # (bands, frames)
        k = min(mel.shape[1], self.spec_frames)
        self.spec_buf[:, :-k] = self.spec_buf[:, k:]
        self.spec_buf[:, -k:] = mel[:, -k:]
        self._spec_next_frame = avail
        self.spec_item.setImage(self.spec_buf, autoLevels=False)

    def _set_clip(self, on: bool) -> None:
        if on == self._clip_on:
            return  # a style sheet change re-polishes the widget: only when the light changes
        self._clip_on = on
        color = CLIP_COLOR if on else "#555555"
        self.clip_label.setStyleSheet(f"QLabel {{ color: white; background: {color}; padding: 2px 6px; }}")
