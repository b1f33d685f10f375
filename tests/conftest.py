"""Shared fixtures: synthetic audio, fake corpus trees and tiny exported models.

Nothing here reads ``../shared/data``; every file a test needs is generated
into pytest's ``tmp_path``.  The fake corpora are "learnable": each emotion is
a different fundamental frequency, syllable rate and noise colour, so a
network trained on them for a few epochs has something real to find.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# one BLAS thread: the machine running the suite may be busy training
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Qt without a display (CI, this suite): set before anything imports Qt
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from serlive.config import LABELS  # noqa: E402
from tests.signals import SR, chirp, noise, speechlike, tone  # noqa: E402, F401


def pytest_configure(config: pytest.Config) -> None:
    # third-party noise, not ours: the TFLite converter and Keras under numpy 2
    config.addinivalue_line("filterwarnings", "ignore:Statistics for quantized inputs:UserWarning")
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept:DeprecationWarning"
    )


REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


# --- signal generators ------------------------------------------------------------
#: espeak-ng speech shipped with the app (16 kHz mono, 5.4 s): real enough for the VAD, and always there
EXAMPLE_SPEECH = REPO / "assets" / "example.wav"


def spoken(dur: float, start_s: float = 0.0, amp: float = 0.3) -> np.ndarray:
    """``dur`` seconds of real (synthesised) speech, peak ``amp``: the example clip, repeated.

    For tests whose windows must count as speech: the voice-activity detector rightly
    calls :func:`speechlike`'s harmonic buzz speech in some windows and not in others, while
    every 3 s window of this clip is 64-96 % voiced (``vad_min_fraction`` is 10 %).
    """
    y, sr = sf.read(str(EXAMPLE_SPEECH), dtype="float32")
    assert sr == SR and y.ndim == 1
    n, first = round(dur * SR), round(start_s * SR)
    x = np.tile(y, -(-(first + n) // len(y)))[first : first + n]
    return (amp * x / max(1e-9, float(np.max(np.abs(x))))).astype(np.float32)


def dominant_frequency(y: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest FFT bin (Hann-windowed)."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * sr / len(y))


def assert_opens_clip_offscreen(
    run: Callable[..., subprocess.CompletedProcess[str]], cmd: list[str], cwd: Path
) -> None:
    """The desktop app started as ``cmd`` (a clip last) shows its window, analyses the clip and quits.

    As a file manager opens a file with it; offscreen, and ``SERLIVE_QUIT_AFTER`` ends it.  ``run`` is
    the calling test's ``run(cmd, cwd, timeout, **env)`` (the wheel's venv and the PyInstaller bundle
    need different environments).  Settings land in ``cwd/config``, never in ``~/.config``.
    """
    proc = run(
        cmd,
        cwd,
        timeout=90,
        QT_QPA_PLATFORM="offscreen",
        SERLIVE_TRACE="1",
        SERLIVE_QUIT_AFTER="4",
        XDG_CONFIG_HOME=str(cwd / "config"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "serlive-trace: shown" in proc.stderr, proc.stderr
    assert "serlive-trace: file-analysed" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def write_audio(path: Path, data: np.ndarray, sr: int = SR, subtype: str | None = None) -> Path:
    """Write ``data`` with soundfile (format from the extension), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype=subtype)
    return path


@pytest.fixture
def make_audio(tmp_path: Path) -> Callable[..., Path]:
    """``make_audio("name.wav", data, sr=16000, subtype=None)`` → path under ``tmp_path``."""

    def make(name: str, data: np.ndarray, sr: int = SR, subtype: str | None = None) -> Path:
        return write_audio(tmp_path / name, data, sr, subtype)

    return make


ESPEAK = shutil.which("espeak-ng")


def clip_folder(d: Path, n: int, bad: int, silent: int, step: int, mod: int, shift: float) -> list[Path]:
    """``n`` files of different lengths (finished out of order); ``bad`` unreadable, ``silent`` silent."""
    paths = []
    for i in range(n):
        p = d / f"clip_{i:02d}.wav"
        if i == bad:
            p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
        elif i == silent:
            write_audio(p, np.zeros(4 * SR, np.float32))
        else:
            write_audio(p, spoken(2.0 + (step * i) % mod, start_s=shift * i))
        paths.append(p)
    return paths


@pytest.fixture
def profile_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty profiles folder of the test's own (``$SERLIVE_PROFILE_DIR``), and no ``$SERLIVE_PROFILE``."""
    folder = tmp_path / "profiles"
    monkeypatch.setenv("SERLIVE_PROFILE_DIR", str(folder))
    monkeypatch.delenv("SERLIVE_PROFILE", raising=False)
    return folder


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Message boxes recorded instead of shown (a modal box would block the run).

    Here, not in each GUI test module, so every window test records its boxes the same way; Qt is
    imported only when a test asks for it.
    """
    from serlive.gui import messages

    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(messages, "show_error", lambda parent, title, text: seen.append((title, text)))
    monkeypatch.setattr(messages, "show_info", lambda parent, title, text: seen.append((title, text)))
    return seen


def espeak_to(path: Path, text: str, speed: int = 160, pitch: int = 50, voice: str = "en") -> Path:
    """Synthesise ``text`` with espeak-ng into a wav file (22.05 kHz)."""
    assert ESPEAK is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


@pytest.fixture
def espeak(tmp_path: Path) -> Callable[..., Path]:
    """``espeak("text", name="x.wav", speed=..., pitch=...)``; skips when espeak-ng is absent."""
    if ESPEAK is None:
        pytest.skip("espeak-ng not installed")

    def say(text: str, name: str = "speech.wav", **kw) -> Path:
        return espeak_to(tmp_path / name, text, **kw)

    return say


# --- fake corpora -------------------------------------------------------------------
#: Each emotion gets its own fundamental, syllable rate and noise colour.
EMOTION_F0 = {label: 110.0 * 1.3**i for i, label in enumerate(LABELS)}
EMOTION_RATE = {label: 2.0 + i for i, label in enumerate(LABELS)}
EMOTION_COLOUR = {label: ("white", "pink", "brown")[i % 3] for i, label in enumerate(LABELS)}


def emotion_clip(emotion: str, seed: int, dur: float = 1.5, sr: int = SR, detune: float = 0.0) -> np.ndarray:
    """A clip whose spectrum and rhythm identify ``emotion`` (learnable by a tiny CNN)."""
    rng = np.random.default_rng(seed)
    n = round(dur * sr)
    t = np.arange(n) / sr
    f0 = EMOTION_F0[emotion] * (1 + detune) * (1 + 0.01 * rng.standard_normal())
    x = sum((0.7**k) * np.sin(2 * np.pi * (k + 1) * f0 * t) for k in range(5))
    env = 0.25 + 0.75 * (0.5 + 0.5 * np.sin(2 * np.pi * EMOTION_RATE[emotion] * t))
    x = x * env / 3.0
    x = x + noise(dur, sr, EMOTION_COLOUR[emotion], amp=0.05, seed=seed + 7)
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # no clicks at the ends
    return (0.5 * x * fade / np.max(np.abs(x))).astype(np.float32)


RAVDESS_CODES = {label: f"{i + 1:02d}" for i, label in enumerate(LABELS)}
TESS_CODES = {
    "angry": "angry", "disgust": "disgust", "fearful": "fear", "happy": "happy",
    "neutral": "neutral", "surprised": "ps", "sad": "sad",
}  # fmt: skip
SAVEE_CODES = {
    "angry": "a", "disgust": "d", "fearful": "f", "happy": "h",
    "neutral": "n", "sad": "sa", "surprised": "su",
}  # fmt: skip
CREMAD_CODES = {
    "angry": "ANG",
    "disgust": "DIS",
    "fearful": "FEA",
    "happy": "HAP",
    "neutral": "NEU",
    "sad": "SAD",
}
EMODB_CODES = {"angry": "W", "disgust": "E", "fearful": "A", "happy": "F", "sad": "T", "neutral": "N"}
TUREV_CODES = {"angry": "kz", "calm": "sk", "happy": "mt", "sad": "hl"}
TESS_FOLDERS = {"fearful": "Fear", "surprised": "Pleasant_surprise"}


@dataclass
class FakeCorpus:
    """A generated corpus tree and what the loaders must find in it."""

    root: Path
    #: path → (corpus, speaker, gender, emotion) of every file a loader must accept
    expected: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    #: audio files a loader must skip (bad names, boredom, song, ...)
    rejected: list[Path] = field(default_factory=list)

    def speakers(self, corpus: str) -> set[str]:
        return {v[1] for v in self.expected.values() if v[0] == corpus}


class CorpusBuilder:
    """Writes clips under a root and records their expected labels."""

    def __init__(self, root: Path, dur: float = 1.5) -> None:
        self.corpus = FakeCorpus(root)
        self.dur = dur
        self.n = 0

    def _clip(self, emotion: str, detune: float, sr: int) -> np.ndarray:
        self.n += 1
        return emotion_clip(emotion, seed=self.n, dur=self.dur, sr=sr, detune=detune)

    def add(self, rel: str, emotion: str, expect: tuple[str, str, str] | None, detune=0.0, sr=SR) -> Path:
        """Write ``rel``; ``expect`` = (corpus, speaker, gender) or None for a file to be skipped."""
        path = write_audio(self.corpus.root / rel, self._clip(emotion, detune, sr), sr)
        if expect is None:
            self.corpus.rejected.append(path)
        else:
            self.corpus.expected[str(path)] = (*expect, emotion)
        return path

    def ravdess(self, actors: tuple[int, ...], clips: int = 1, emotions: tuple[str, ...] = LABELS) -> None:
        for actor in actors:
            gender = "male" if actor % 2 else "female"
            for emotion in emotions:
                # (intensity, statement, repetition); neutral has no strong intensity
                combos = [
                    (i, s, r)
                    for s in (1, 2)
                    for r in (1, 2)
                    for i in (1, 2)
                    if emotion != "neutral" or i == 1
                ]
                for k in range(clips):
                    i, s, r = combos[k]
                    name = f"03-01-{RAVDESS_CODES[emotion]}-{i:02d}-{s:02d}-{r:02d}"
                    ext = ".flac" if (actor + k) % 2 else ".wav"
                    self.add(
                        f"ravdess/Actor_{actor:02d}/{name}-{actor:02d}{ext}",
                        emotion,
                        ("ravdess", f"ravdess:{actor:02d}", gender),
                        detune=0.03 * (actor % 3 - 1),
                        sr=48000 if k == 0 and actor == actors[0] else SR,
                    )

    def tess(self, speakers: tuple[str, ...] = ("OAF", "YAF"), clips: int = 1) -> None:
        words = ("back", "bite", "food", "goose")
        for spk in speakers:
            for emotion, code in TESS_CODES.items():
                folder = f"{spk}_{TESS_FOLDERS.get(emotion, emotion)}"
                for k in range(clips):
                    ext = ".wav" if k % 2 == 0 else ".flac"
                    self.add(
                        f"tess/{folder}/{spk}_{words[k % len(words)]}_{code}{ext}",
                        emotion,
                        ("tess", f"tess:{spk}", "female"),
                        detune=0.04 if spk == "YAF" else -0.04,
                        sr=24414 if k == 0 else SR,
                    )


def build_parser_corpus(root: Path) -> FakeCorpus:
    """Small tree with every corpus, its quirks and some files the loaders must skip."""
    b = CorpusBuilder(root, dur=0.5)
    b.ravdess((1, 2), clips=1)
    b.tess(("OAF", "YAF"), clips=1)
    # TESS quirks: folder case differs from the name, a typo'd speaker prefix
    b.add("tess/OAF_Fear/OAF_food_fear.wav", "fearful", ("tess", "tess:OAF", "female"))
    b.add("tess/OAF_neutral/OA_bite_neutral.wav", "neutral", ("tess", "tess:OAF", "female"))
    b.add("tess/YAF_pleasant_surprised/YAF_goose_ps.flac", "surprised", ("tess", "tess:YAF", "female"))
    # SAVEE: four male speakers
    for spk, emotion in (("DC", "angry"), ("JE", "sad"), ("JK", "surprised"), ("KL", "neutral")):
        b.add(f"savee/{spk}_{SAVEE_CODES[emotion]}01.wav", emotion, ("savee", f"savee:{spk}", "male"))
    # CREMA-D with a demographics file for 1001 and 1002, none for 1003
    b.add("crema-d/AudioWAV/1001_DFA_ANG_XX.wav", "angry", ("cremad", "cremad:1001", "male"))
    b.add("crema-d/AudioWAV/1002_IEO_HAP_HI.flac", "happy", ("cremad", "cremad:1002", "female"))
    b.add("crema-d/AudioWAV/1003_TIE_SAD_LO.wav", "sad", ("cremad", "cremad:1003", "unknown"))
    (root / "crema-d" / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n"
        "1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    # EmoDB: 03 male, 08 female; boredom (L) is dropped
    b.add("emodb/wav/03a01Wa.wav", "angry", ("emodb", "emodb:03", "male"))
    b.add("emodb/wav/08b02Tc.flac", "sad", ("emodb", "emodb:08", "female"))
    b.add("emodb/wav/03a02La.wav", "neutral", None)
    # TurEV-DB: genders unknown; the word may contain underscores or non-ASCII letters
    b.add("TurEV-DB/Angry/1157_kz_acik.wav", "angry", ("turevdb", "turevdb:1157", "unknown"))
    b.add("TurEV-DB/Calm/1358_sk_güneş.flac", "calm", ("turevdb", "turevdb:1358", "unknown"))
    # files every loader must skip
    b.add("ravdess/Actor_01/03-02-05-01-01-01-01.wav", "angry", None)  # song, not speech
    b.add("ravdess/Actor_01/03-01-09-01-01-01-01.wav", "angry", None)  # no emotion 09
    b.add("ravdess/Actor_01/notes.wav", "angry", None)
    b.add("tess/OAF_angry/OAF_back.wav", "angry", None)  # no emotion part
    b.add("tess/OAF_angry/XYZ_back_angry.wav", "angry", None)  # unknown speaker
    b.add("tess/OAF_angry/OAF_back_bored.wav", "angry", None)
    b.add("savee/XX_a01.wav", "angry", None)
    b.add("savee/DC_b01.wav", "angry", None)
    b.add("crema-d/AudioWAV/1001_DFA_XXX_XX.wav", "angry", None)
    b.add("TurEV-DB/Angry/1157_zz_acik.wav", "angry", None)
    (root / "ravdess" / "Actor_01" / "readme.txt").write_text("not audio")
    (root / "unrelated").mkdir()
    return b.corpus


def build_training_corpus(root: Path) -> FakeCorpus:
    """RAVDESS 4 actors x 8 emotions x 2 clips and TESS 2 speakers x 7 x 2 clips."""
    b = CorpusBuilder(root, dur=1.5)
    b.ravdess((1, 2, 3, 4), clips=2)
    b.tess(("OAF", "YAF"), clips=2)
    return b.corpus


@pytest.fixture(scope="session")
def parser_corpus(tmp_path_factory: pytest.TempPathFactory) -> FakeCorpus:
    """The small every-corpus tree (read-only for tests)."""
    return build_parser_corpus(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(scope="session")
def training_corpus(tmp_path_factory: pytest.TempPathFactory) -> FakeCorpus:
    """The larger RAVDESS+TESS tree for the training smoke test."""
    return build_training_corpus(tmp_path_factory.mktemp("train_data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skips when it is not there."""
    if not (SHARED_DATA / "ravdess").is_dir():
        pytest.skip("../shared/data not available")
    return SHARED_DATA


# --- tiny models ------------------------------------------------------------------
@dataclass
class TinyModels:
    """Untrained models exported the way ``serlive train`` exports, for loader/CLI tests."""

    dir: Path
    int8: Path
    float32: Path
    frame_vector: Path
    plain: Path  # converted without serlive metadata
    plain_bytes: bytes
    with_metadata: Callable[..., Path]
    keras_model: Any  # the Keras model behind int8/float32/plain


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Build and export a width-4 cnn2d (int8 + float32), a cnn1d and a metadata-less twin, once."""
    pytest.importorskip("tensorflow", reason="needs the [train] extra")
    import keras
    import tensorflow as tf

    from serlive.config import FeatureConfig, WindowConfig
    from serlive.features import FeatureExtractor
    from serlive.model import ModelMetadata
    from serlive.train.export import attach_metadata, export_tflite
    from serlive.train.nets import cnn1d, cnn2d

    out = tmp_path_factory.mktemp("tiny_models")
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    fcfg, wcfg = FeatureConfig(), WindowConfig()
    ext = FeatureExtractor(fcfg)
    n_frames = ext.n_frames(wcfg.window_samples(fcfg.sample_rate))
    model = cnn2d((n_frames, fcfg.n_mels, 1), len(LABELS), width=4)
    rep = (0.5 * rng.standard_normal((12, n_frames, fcfg.n_mels, 1))).astype(np.float32)
    meta = ModelMetadata(
        LABELS,
        fcfg,
        wcfg,
        {"type": "test"},
        {"architecture": "cnn2d", "training": {"note": "tiny test model"}},
    )
    export_tflite(model, meta, out / "tiny.tflite", rep, float_path=out / "tiny_float32.tflite")

    vcfg = FeatureConfig(kind="frame_vector")
    vext = FeatureExtractor(vcfg)
    vmodel = cnn1d((n_frames, vext.input_dim), len(LABELS), width=4)
    vrep = rng.standard_normal((12, n_frames, vext.input_dim)).astype(np.float32)
    vnorm = {"mean": [0.0] * vext.input_dim, "std": [1.0] * vext.input_dim}
    vmeta = ModelMetadata(LABELS, vcfg, wcfg, vnorm, {"architecture": "cnn1d"})
    export_tflite(vmodel, vmeta, out / "tiny_cnn1d.tflite", vrep)

    plain = bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    (out / "plain.tflite").write_bytes(plain)

    counter = iter(range(10**6))

    def with_metadata(meta: ModelMetadata, name: str | None = None) -> Path:
        path = out / (name or f"meta_{next(counter)}.tflite")
        path.write_bytes(attach_metadata(plain, meta))
        return path

    return TinyModels(
        out, out / "tiny.tflite", out / "tiny_float32.tflite", out / "tiny_cnn1d.tflite",
        out / "plain.tflite", plain, with_metadata, model,
    )  # fmt: skip
