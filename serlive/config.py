"""The one source of truth for audio, feature and window parameters.

Training, export, file analysis and the live engine all read these frozen
dataclasses, and the exported model carries them in its metadata
(:meth:`FeatureConfig.to_dict`).  The app compares the model's copy with what
it is about to compute and refuses a model it cannot feed, so a silent mismatch
between the training features and the app's features cannot happen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: The eight emotions of the app, in model output order.
LABELS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)


@dataclass(frozen=True)
class FeatureConfig:
    """How a 3 s window of audio becomes the model's input.

    Frames are computed without centring (frame ``i`` covers samples
    ``[i*hop, i*hop + n_fft)``) so that frames of a stream can be computed
    incrementally and land on exactly the same sample boundaries as the frames
    of a whole file.  ``hop_length`` divides the window hop of the live engine
    (0.5 s = 25 frames), which keeps the two paths bit-compatible.
    """

    sample_rate: int = 16000
    n_fft: int = 640  # 40 ms Hann window
    hop_length: int = 320  # 20 ms
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    n_mfcc: int = 20
    n_chroma: int = 12
    #: dB floor below the window's loudest mel bin; makes the input
    #: independent of absolute level and of a recording's noise floor.
    top_db: float = 80.0
    #: Frames quieter than this many dB under the window's loudest frame are
    #: left out of the per-band mean (padding and pauses would bias it).
    active_db: float = 50.0
    #: Divisor applied after mean removal so inputs are O(1).
    scale_db: float = 20.0
    #: Which model input the features produce: "logmel" (2D CNN),
    #: "frame_vector" (1D CNN over MFCC+ZCR+RMS+chroma) or "whisper_logmel"
    #: (Whisper's 80-band log10 mel, the pretrained encoder's input).
    kind: str = "logmel"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not ignored."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature config keys: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class WindowConfig:
    """How a signal is cut into model windows."""

    window_s: float = 3.0
    hop_s: float = 0.5
    #: Hop of the file path (``serlive predict``, the file viewer) when it differs
    #: from the live hop; None = ``hop_s``.  An encoder model costs ~12 ms a window:
    #: the live view can afford one every 0.5 s, a 1-hour file at 0.5 s could not
    #: be analysed at 100x real time on one thread.
    file_hop_s: float | None = None
    #: A window whose loudest 20 ms frame is below this RMS level (dBFS) is
    #: "no speech" and does not vote in a file's summary (the cheap first step:
    #: the voice-activity detector does not run on it).
    silence_dbfs: float = -50.0
    #: Voice-activity detection (:mod:`serlive.vad`, Silero VAD) on windows that pass
    #: the level gate: a 32 ms chunk is voiced when its speech probability is at least
    #: ``vad_threshold``; a window is speech when at least ``vad_min_fraction`` of its
    #: 95 chunks are voiced (0 turns the VAD off: the level gate alone).  Chosen on
    #: ``bench/vad_eval.py``'s generated set (figures in docs/reliability.md).
    vad_threshold: float = 0.5
    vad_min_fraction: float = 0.1

    def window_samples(self, sample_rate: int) -> int:
        """Window length in samples."""
        return round(self.window_s * sample_rate)

    def hop_samples(self, sample_rate: int) -> int:
        """Window hop in samples."""
        return round(self.hop_s * sample_rate)

    def for_files(self) -> WindowConfig:
        """The windows of the file path: ``file_hop_s`` as the hop when one is set."""
        return self if self.file_hop_s is None else replace(self, hop_s=self.file_hop_s, file_hop_s=None)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON metadata."""
        return asdict(self)


@dataclass(frozen=True)
class SegmentConfig:
    """How a recording is split into utterances (:mod:`serlive.segments`).

    The same rule serves ``serlive predict --segments``, the file viewer and the live view.
    Speech is what the voice-activity detector (:mod:`serlive.vad`) hears, 31 ms chunk by chunk;
    a stretch of speech ends at a pause of at least ``min_pause_s``.
    """

    #: A pause at least this long ends an utterance.  0.3 s, measured (``bench/segments_eval.py``,
    #: docs/segments.md): of 240 RAVDESS clips (one sentence each) 0.2 s would split sentences at 55
    #: inner pauses, 0.3 s at 23, 0.5 s at 9; longer merges more of the sentences a speaker runs
    #: together (at 0.5 s every pause under 0.5 s between espeak-ng sentences).
    min_pause_s: float = 0.3
    #: A stretch of speech longer than this is cut at its quietest point (between half of it and all).
    max_segment_s: float = 12.0
    #: Voiced stretches shorter than this (a click, a cough's onset) are not utterances.
    min_speech_s: float = 0.2
    #: Margin added before the first and after the last voiced chunk (the detector's chunks are 31 ms
    #: and it hears a soft onset a little late).
    pad_s: float = 0.05
    #: A chunk is voiced from this speech probability on (the window rule's chunk threshold) ...
    threshold: float = WindowConfig.vad_threshold
    #: ... and, inside an utterance, stays speech until the probability drops below this one
    #: (hysteresis, as Silero's own ``get_speech_timestamps``: a pause begins when the voice is
    #: clearly gone, not at the first wobble).
    release: float = 0.35
    #: Chunks quieter than this (dBFS) are not speech whatever the detector says: the level gate of
    #: :class:`WindowConfig`.
    silence_dbfs: float = WindowConfig.silence_dbfs

    def __post_init__(self) -> None:
        if not self.min_pause_s > 0:
            raise ValueError(f"the minimum pause must be positive, not {self.min_pause_s:g} s")
        if not self.max_segment_s >= 1.0:
            raise ValueError(f"the longest segment must be at least 1 s, not {self.max_segment_s:g} s")
        if not 0 <= self.release <= self.threshold <= 1:
            raise ValueError("need 0 <= release <= threshold <= 1")


@dataclass(frozen=True)
class Settings:
    """Everything the runtime needs, bundled for convenience."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    windows: WindowConfig = field(default_factory=WindowConfig)
    labels: tuple[str, ...] = LABELS


DEFAULT_FEATURES = FeatureConfig()

#: Whisper's front end: 16 kHz, 25 ms Hann frames every 10 ms, 80 Slaney mel
#: bands 0-8 kHz, log10 power floored 8 decades (80 dB) under the window's
#: peak.  Frames are not centred (unlike Whisper's STFT) for the same reason
#: as ours: a stream's frames must match a file's.  ``active_db`` here is the
#: pooling threshold the encoder model applies to each frame's mean band level.
WHISPER_FEATURES = FeatureConfig(
    n_fft=400,
    hop_length=160,
    n_mels=80,
    fmin=0.0,
    fmax=8000.0,
    top_db=80.0,
    active_db=30.0,
    scale_db=1.0,
    kind="whisper_logmel",
)
DEFAULT_WINDOWS = WindowConfig()


#: Each training corpus (its loader's name) and its licence: the model card's licence line, written
#: at training (``serlive.train.corpora.licence_note``), and the About box, for the corpora a model names
CORPUS_LICENCES = {
    "ravdess": "RAVDESS (CC BY-NC-SA 4.0)",
    "tess": "TESS (CC BY-NC-ND 4.0)",
    "turevdb": "TurEV-DB (CC BY-NC-ND 4.0)",
    "savee": "SAVEE (research use)",
    "cremad": "CREMA-D (ODbL)",
    "emodb": "EmoDB (research use)",
    "nemo": "nEMO (CC BY-NC-SA 4.0)",
    "ased": "ASED (no licence stated; Retta et al. 2022)",
    "esd": "ESD speaker 0020 (research use)",
    "emospeech": "EmoSpeech Command (CC BY-NC-SA 4.0)",
    "emotiontts": "emotiontts open DB (CC BY-NC-SA 4.0, research use)",
}
