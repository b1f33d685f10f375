"""Features for training and for the app, in numpy + scipy only.

Why not librosa here: librosa compiles numba code on first use (17-25 s cold,
again in a frozen app), which would sit on the app's start-up path.  These
functions reproduce librosa's definitions (``tests/test_features.py`` checks
parity) with non-centred frames, so that a stream can be featurised frame by
frame and give the same numbers as a whole file.

The work is split in two stages:

* :meth:`FeatureExtractor.raw_frames` turns samples into per-frame raw
  features (mel power in dB, and for the 1D model ZCR, RMS and chroma).  Each
  frame depends only on its own ``n_fft`` samples, so the live engine computes
  only the frames that are new since the last window.
* :meth:`FeatureExtractor.window_input` turns the raw frames of one 3 s window
  into the model input, applying the per-window normalisation (level floor and
  per-band mean removal) that makes the input independent of recording level
  and of a static microphone/room colouring.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from serlive.config import FeatureConfig

FloatArray = NDArray[np.float32]

#: The model inputs this module can compute (``FeatureConfig.kind``).
FEATURE_KINDS = ("logmel", "frame_vector", "whisper_logmel")
#: Whisper's power floor before its log10 (``log_mel_spectrogram``'s ``clamp(min=1e-10)``).
_WHISPER_AMIN = 1e-10

#: Power floor before the log. Far below any real signal so that the per-window
#: ``top_db`` floor (relative to the peak) decides, keeping quiet windows level-invariant.
_AMIN = 1e-20


def hz_to_mel(freq: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Slaney mel scale (librosa's default, ``htk=False``)."""
    f = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep,
        mels,
    )


def mel_to_hz(mels: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> NDArray[np.float64]:
    """Slaney-normalised triangular mel filters, shape ``(n_mels, n_fft//2+1)``.

    Same construction as ``librosa.filters.mel(htk=False, norm="slaney")``.
    """
    fftfreqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    return weights * enorm[:, None]


def chroma_filterbank(sample_rate: int, n_fft: int, n_chroma: int = 12) -> NDArray[np.float64]:
    """Chroma filters as ``librosa.filters.chroma(tuning=0)`` builds them."""
    ctroct, octwidth, a440 = 5.0, 2.0, 440.0
    frequencies = np.linspace(0, sample_rate, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(frequencies / (a440 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    d = np.subtract.outer(np.arange(0, n_chroma, dtype="d"), frqbins).T
    n_chroma2 = np.round(float(n_chroma) / 2)
    d = np.remainder(d + n_chroma2 + 10 * n_chroma, n_chroma) - n_chroma2
    wts = np.exp(-0.5 * (2 * d / np.tile(binwidthbins, (n_chroma, 1)).T) ** 2).T
    norms = np.sqrt(np.sum(wts**2, axis=0, keepdims=True))
    wts = wts / np.where(norms < np.finfo(float).tiny, 1.0, norms)
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2)), (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)  # base_c=True
    return np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)])


def dct_matrix(n_in: int, n_out: int) -> NDArray[np.float64]:
    """Orthonormal DCT-II basis, shape ``(n_in, n_out)``, as ``scipy.fft.dct(norm='ortho')``."""
    import scipy.fft  # here, not at the top: see power_spectrum

    return scipy.fft.dct(np.eye(n_in), type=2, norm="ortho", axis=1)[:, :n_out]


def n_frames_for(n_samples: int, cfg: FeatureConfig) -> int:
    """Number of whole frames in ``n_samples`` samples (no centring, no padding)."""
    if n_samples < cfg.n_fft:
        return 0
    return 1 + (n_samples - cfg.n_fft) // cfg.hop_length


def frame_signal(y: FloatArray, n_fft: int, hop: int) -> FloatArray:
    """Strided view of ``y`` as frames ``(n_frames, n_fft)``; no copy."""
    if len(y) < n_fft:
        return np.zeros((0, n_fft), dtype=y.dtype)
    return np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]


class FeatureExtractor:
    """Computes raw per-frame features and model inputs for one :class:`FeatureConfig`.

    ``mean``/``std`` are the training-set statistics of the 1D model's frame
    vectors (they ship in the model metadata); the log-mel input needs none
    because its per-window normalisation already centres and scales it.
    """

    def __init__(
        self,
        cfg: FeatureConfig,
        mean: NDArray[np.floating] | None = None,
        std: NDArray[np.floating] | None = None,
    ) -> None:
        if cfg.kind not in FEATURE_KINDS:
            raise ValueError(f"unknown feature kind {cfg.kind!r}")
        if cfg.fmax > cfg.sample_rate / 2:
            raise ValueError("fmax above Nyquist")
        self.cfg = cfg
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.n_fft) / cfg.n_fft)).astype(
            np.float32
        )  # periodic Hann, as scipy.signal.get_window("hann", n, fftbins=True)
        self.mel_fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax).astype(
            np.float32
        )
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)

    # --- sizes -------------------------------------------------------------
    @property
    def raw_dim(self) -> int:
        """Width of one raw frame vector."""
        if self.cfg.kind in ("logmel", "whisper_logmel"):
            return self.cfg.n_mels
        return self.cfg.n_mels + 2 + self.cfg.n_chroma

    @property
    def input_dim(self) -> int:
        """Width of one frame of model input."""
        if self.cfg.kind in ("logmel", "whisper_logmel"):
            return self.cfg.n_mels
        return self.cfg.n_mfcc + 2 + self.cfg.n_chroma

    def n_frames(self, n_samples: int) -> int:
        """Frames in ``n_samples`` samples."""
        return n_frames_for(n_samples, self.cfg)

    @cached_property
    def chroma_fb(self) -> FloatArray:
        """Chroma filters, built only when the 1D features need them."""
        c = self.cfg
        return chroma_filterbank(c.sample_rate, c.n_fft, c.n_chroma).astype(np.float32)

    @cached_property
    def _mel_fb64_t(self) -> NDArray[np.float64]:
        """The mel filters (their float32 values), transposed, in float64: see :meth:`_project`."""
        return self.mel_fb.T.astype(np.float64)

    @cached_property
    def _chroma_fb64_t(self) -> NDArray[np.float64]:
        return self.chroma_fb.T.astype(np.float64)

    @staticmethod
    def _project(power: FloatArray, fb64_t: NDArray[np.float64]) -> FloatArray:
        """``power @ filters`` for each frame, the same to the bit however many frames come at once.

        Why float64: OpenBLAS's float32 GEMM sums in an order that depends on
        the number of rows (measured on an AMD EPYC: 1 to 3 % of values off in
        the last bit between a 700-row and a 1500-row product), so the live
        engine's few new frames per hop and the file path's thousands differed,
        and the int8 encoder turned one-ulp differences into probabilities
        0.03 apart.  In float64 the order's effect is far below float32's last
        bit: rounded back, every batch size gave identical values (0 of
        112,000 differed).  Cost: 0.17 ms more per 300 frames.
        """
        return (power.astype(np.float64) @ fb64_t).astype(np.float32)

    @cached_property
    def dct(self) -> FloatArray:
        """DCT basis for MFCCs."""
        return dct_matrix(self.cfg.n_mels, self.cfg.n_mfcc).astype(np.float32)

    # --- stage 1: per-frame ------------------------------------------------
    def power_spectrum(self, frames: FloatArray) -> FloatArray:
        """``|rfft(frame * hann)|^2`` for each frame; scipy.fft is ~4x numpy's on batches.

        Imported on first use, not with the module: scipy.fft costs about a quarter of the
        desktop app's imports, and the window can be drawn without it (``serlive.preload``
        imports it on a thread once the window is up).
        """
        import scipy.fft

        spec = scipy.fft.rfft(frames * self.window, axis=-1, workers=1)
        return (spec.real**2 + spec.imag**2).astype(np.float32)

    def raw_frames(self, y: FloatArray, chunk: int = 2048) -> FloatArray:
        """Per-frame raw features of mono float32 samples ``y``: ``(n_frames, raw_dim)``.

        Long signals are processed ``chunk`` frames at a time so the FFT
        temporaries stay small (an hour of audio needs ~50 MB of output, not
        gigabytes of intermediate spectra); frames are independent, so the
        result is identical.
        """
        y = np.asarray(y, dtype=np.float32)
        frames = frame_signal(y, self.cfg.n_fft, self.cfg.hop_length)
        if len(frames) == 0:
            return np.zeros((0, self.raw_dim), dtype=np.float32)
        if len(frames) <= chunk:
            return self._raw_from_frames(frames)
        out = np.empty((len(frames), self.raw_dim), dtype=np.float32)
        i = 0
        while i < len(frames):
            # fold a short remainder into the last chunk: a tiny matrix product
            # takes OpenBLAS's small-matrix kernel, whose last bit differs
            end = len(frames) if len(frames) - (i + chunk) < chunk // 2 else i + chunk
            out[i:end] = self._raw_from_frames(frames[i:end])
            i = end
        return out

    def _raw_from_frames(self, frames: FloatArray) -> FloatArray:
        power = self.power_spectrum(frames)
        if self.cfg.kind == "whisper_logmel":
            return np.log10(np.maximum(self._project(power, self._mel_fb64_t), _WHISPER_AMIN)).astype(
                np.float32
            )
        mel_db = 10.0 * np.log10(np.maximum(self._project(power, self._mel_fb64_t), _AMIN))
        if self.cfg.kind == "logmel":
            return mel_db.astype(np.float32)
        zcr = zero_crossing_rate(frames)
        rms = np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=1))
        chroma = self._project(power, self._chroma_fb64_t)
        peak = chroma.max(axis=1, keepdims=True)
        chroma = chroma / np.where(peak > np.finfo(np.float32).tiny, peak, 1.0)
        return np.concatenate([mel_db, zcr[:, None], rms[:, None], chroma], axis=1, dtype=np.float32)

    # --- stage 2: per-window -----------------------------------------------
    def normalised_logmel(self, mel_db: FloatArray) -> FloatArray:
        """Floor at ``top_db`` below the peak, remove each band's mean over active frames.

        Why: a gain change is a constant in dB and a static microphone or room
        colouring is a per-band constant; both vanish under per-band mean
        removal, so the model sees speech, not the recording chain.  Only
        frames within ``active_db`` of the loudest frame enter the mean, so
        padding and pauses do not shift it.
        """
        c = self.cfg
        x = np.maximum(mel_db, mel_db.max() - c.top_db)
        frame_db = x.max(axis=1)
        active = frame_db >= frame_db.max() - c.active_db
        x = x - x[active].mean(axis=0, keepdims=True)
        return (x / c.scale_db).astype(np.float32)

    def whisper_input(self, log_mel: FloatArray) -> FloatArray:
        """Whisper's own normalisation of a window's log10 mel power: floor, shift, scale.

        ``max(x, x.max() - top_db/10)`` then ``(x + 4) / 4``, exactly as
        Whisper's ``log_mel_spectrogram`` does over its 30 s input, applied here
        to one 3 s window: the encoder was pretrained on inputs shaped like
        this, so anything else would waste what it learnt.
        """
        x = np.maximum(log_mel, log_mel.max() - self.cfg.top_db / 10.0)
        return ((x + 4.0) / 4.0).astype(np.float32)

    def window_input(self, raw: FloatArray) -> FloatArray:
        """Model input of one window from its raw frames."""
        if raw.shape[0] == 0:
            raise ValueError("window has no frames")
        c = self.cfg
        if c.kind == "logmel":
            return self.normalised_logmel(raw)[:, :, None]
        if c.kind == "whisper_logmel":
            return self.whisper_input(raw)
        mel_db = raw[:, : c.n_mels]
        db = np.maximum(mel_db, mel_db.max() - c.top_db)
        mfcc = db @ self.dct
        mfcc = mfcc - mfcc.mean(axis=0, keepdims=True)
        zcr = raw[:, c.n_mels : c.n_mels + 1]
        rms = raw[:, c.n_mels + 1 : c.n_mels + 2]
        rms_db = 20 * np.log10(np.maximum(rms, 1e-5))
        rms_db = np.maximum(rms_db - rms_db.max(), -c.top_db) / c.scale_db
        chroma = raw[:, c.n_mels + 2 :]
        x = np.concatenate([mfcc, zcr, rms_db, chroma], axis=1)
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return x.astype(np.float32)

    def __call__(self, y: FloatArray) -> FloatArray:
        """Model input for a window of samples."""
        return self.window_input(self.raw_frames(y))


def zero_crossing_rate(frames: FloatArray, threshold: float = 1e-10) -> FloatArray:
    """Fraction of sign changes per frame, as ``librosa.feature.zero_crossing_rate``."""
    f = np.where(np.abs(frames) <= threshold, 0.0, frames)
    sign = np.signbit(f)
    return np.mean(sign[:, 1:] != sign[:, :-1], axis=1) * ((frames.shape[1] - 1) / frames.shape[1])


def frame_rms_dbfs(y: FloatArray, cfg: FeatureConfig) -> FloatArray:
    """RMS level of each frame in dBFS; the silence gate's measure."""
    frames = frame_signal(np.asarray(y, dtype=np.float32), cfg.n_fft, cfg.hop_length)
    if len(frames) == 0:
        return np.zeros(0, dtype=np.float32)
    # in chunks: squaring the strided view materialises frames x n_fft floats
    # (460 MB for an hour of audio at once)
    rms = np.empty(len(frames), dtype=np.float32)
    for i in range(0, len(frames), 4096):
        rms[i : i + 4096] = np.sqrt(np.mean(np.square(frames[i : i + 4096], dtype=np.float32), axis=1))
    return (20 * np.log10(np.maximum(rms, 1e-7))).astype(np.float32)
