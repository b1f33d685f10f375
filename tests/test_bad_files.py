"""Bad and odd audio files through every loading path: the loader, ``serlive predict`` and the file viewer.

A generated corpus (several hundred files, see :func:`build_corpus`): every
integer and float sample format at rates from 8 to 192 kHz with 1 to 8
channels, 10 ms to 7 s long, silent, clipped, with DC offset, float files
holding NaN, Inf and absurd values, containers renamed to the wrong
extension, files truncated every few bytes through their headers, random
bytes with audio extensions and WAV headers with impossible fields.  Each case
must either load as a correct analysis (compared with an independent
reference where the content is known) or fail with one :class:`AudioLoadError`
line that names the file; nothing may raise anything else, hang, or make more
samples than the file can hold.  The same corpus then goes through one
``serlive predict`` process (one JSON line per file, no traceback, bounded
peak memory) and the file viewer's worker functions; a sample goes through the
real viewer widget (pytest-qt, offscreen).  The 2-hour case checks that a long
file is streamed: peak memory about the size of its 16 kHz output, not twice.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serlive.audio.io import MAX_ABS_SAMPLE, AudioLoadError, load_audio
from serlive.files.analysis import analyse_signal
from serlive.model import EmotionModel
from serlive.windows import window_starts
from tests.conftest import REPO, SR, spoken

RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000]
#: subtype → (container, quantisation step of a full-scale sample)
SUBTYPES = {
    "PCM_U8": ("wav", 2 / 255),
    "PCM_S8": ("aiff", 1 / 128),
    "PCM_16": ("wav", 2**-15),
    "PCM_24": ("flac", 2**-23),
    "PCM_32": ("wav", 2**-31),
    "FLOAT": ("wav", 1e-7),
    "DOUBLE": ("wav", 1e-7),
}
#: Longest audio any corpus file holds (s): no loader output may be longer than this at 16 kHz
#: (a header field rewritten to a lower rate stretches a file, within this bound).
MAX_CORPUS_OUTPUT_S = 120.0


@dataclass
class Case:
    """One corpus file and what loading it must give."""

    path: Path
    group: str
    #: "ok": must load; "error": must fail with AudioLoadError; "either": one or the other
    expect: str
    #: expected 16 kHz mono samples (compared within ``tol``), when the content is known
    ref: np.ndarray | None = None
    tol: float = 0.0
    #: expected output length when known (±1 sample)
    length: int | None = None
    #: a fragment the error reason must contain
    error: str | None = None
    #: True: every window must be silent; False: at least one must not be
    silent: bool | None = None
    #: most samples the output may have (a truncated file: what its whole version gives)
    max_length: int | None = None

    @property
    def id(self) -> str:
        return f"{self.group}:{self.path.name}"


def _tone_frames(dur: float, sr: int, channels: int, amp: float = 0.5, freq: float = 440.0) -> np.ndarray:
    """``(frames, channels)`` float64: a sine at a different level in each channel."""
    t = np.arange(round(dur * sr)) / sr
    y = amp * np.sin(2 * np.pi * freq * t)
    gains = np.linspace(1.0, 0.3, channels)
    return y[:, None] * gains[None, :]


def _reference(frames: np.ndarray, sr: int) -> np.ndarray:
    """What the loader must return: channel mean, soxr HQ to 16 kHz (computed independently, float64)."""
    mono = frames.mean(axis=1)
    if sr == SR:
        return mono
    return soxr.resample(mono, sr, SR, quality="HQ")


def _wav_header(
    rate: int = SR,
    channels: int = 1,
    bits: int = 16,
    fmt: int = 1,
    data_bytes: int = 0,
    riff: int | None = None,
    block_align: int | None = None,
) -> bytes:
    """A canonical 44-byte WAV header with every field settable (for impossible values)."""
    align = channels * bits // 8 if block_align is None else block_align
    riff = 36 + data_bytes if riff is None else riff
    return (
        b"RIFF"
        + struct.pack("<I", riff & 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH",
            16,
            fmt,
            channels & 0xFFFF,
            rate & 0xFFFFFFFF,
            (rate * align) & 0xFFFFFFFF,
            align & 0xFFFF,
            bits & 0xFFFF,
        )
        + b"data"
        + struct.pack("<I", data_bytes & 0xFFFFFFFF)
    )


def build_corpus(root: Path) -> list[Case]:
    """Write every case under ``root``; see the module docstring."""
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    rng = np.random.default_rng(1234)

    def write(name: str, frames: np.ndarray, sr: int, subtype: str | None = None) -> Path:
        p = root / name
        sf.write(str(p), frames, sr, subtype=subtype)
        return p

    # --- every sample format x every rate, 1-8 channels: exact content check -----------------
    for i, (subtype, (container, q)) in enumerate(SUBTYPES.items()):
        for j, sr in enumerate(RATES):
            ch = 1 + (i + j) % 8
            x = _tone_frames(0.3, sr, ch)
            p = write(f"grid_{subtype}_{sr}_{ch}ch.{container}", x, sr, subtype)
            ref = _reference(x, sr)
            cases.append(Case(p, "format-rate-channels", "ok", ref=ref, tol=2 * q + 2e-5, length=len(ref)))

    # --- content: silent, clipped, DC offset, near-silent; 10 ms to 7 s --------------------------
    def wave(n: int, ch: int, period: float) -> np.ndarray:
        return np.sin(np.arange(n) / period)[:, None] * np.ones((1, ch))

    # loud tones, clipped square waves and DC pass the level gate but are not speech: the VAD
    # (serlive.vad) makes every window of them "no speech"
    contents = {
        "silent": (lambda n, ch: np.zeros((n, ch)), True),
        "near_silent": (lambda n, ch: 1e-6 * rng.standard_normal((n, ch)), True),
        "clipped": (lambda n, ch: np.sign(wave(n, ch, 7.0)), True),
        "dc_offset": (lambda n, ch: 0.5 + 0.3 * wave(n, ch, 5.0), True),
        "dc_only": (lambda n, ch: np.full((n, ch), 0.9), True),
        "tone_am": (lambda n, ch: 0.5 * wave(n, ch, 4.0) * (1 + 0.5 * rng.random((n, 1))), True),
    }
    layouts = [("wav", "PCM_16", 44100, 2), ("flac", "PCM_16", 48000, 1), ("wav", "FLOAT", 16000, 1)]
    for name, (make, silent) in contents.items():
        for dur in (0.01, 1.0, 3.0, 7.0):
            for container, subtype, sr, ch in layouts:
                n = round(dur * sr)
                x = np.clip(make(n, ch), -1, 1) if subtype != "FLOAT" else make(n, ch)
                p = write(f"content_{name}_{dur}s_{sr}_{ch}ch_{subtype}.{container}", x, sr, subtype)
                length = len(_reference(x[:, :1], sr))
                # a window needs 3 s; shorter clips are padded to one window, silent or not
                cases.append(Case(p, "content", "ok", length=length, silent=silent))
    # clipped beyond full scale (float files may exceed ±1)
    for amp in (1.0, 1.5, 100.0, 32768.0):
        x = amp * np.sign(np.sin(np.arange(3 * SR) / 7.0))
        p = write(f"clipped_float_{amp:g}.wav", x, SR, "FLOAT")
        cases.append(Case(p, "content", "ok", ref=x, tol=amp * 1e-7, length=3 * SR, silent=True))

    # --- NaN, Inf and absurd values in float files: deterministic, finite --------------------
    def nan_patterns(n: int) -> dict[str, np.ndarray]:
        base = 0.3 * np.sin(np.arange(n) / 9.0)
        out = {}
        for label, idx, val in (
            ("one_nan", [n // 2], np.nan),
            ("one_posinf", [n // 3], np.inf),
            ("one_neginf", [n // 4], -np.inf),
            ("nan_run", slice(n // 4, n // 2), np.nan),
            ("huge_1e30", [10, n // 2], 1e30),
            ("float_max", [n // 5], 3.4e38),
        ):
            y = base.copy()
            y[idx] = val
            out[label] = y
        out["all_nan"] = np.full(n, np.nan)
        out["all_inf"] = np.full(n, np.inf)
        out["denormal"] = np.full(n, 1e-40)
        return out

    for subtype in ("FLOAT", "DOUBLE"):
        for sr in (16000, 48000):
            n = round(3.2 * sr)
            for label, y in nan_patterns(n).items():
                p = write(f"nonfinite_{label}_{subtype}_{sr}.wav", y, sr, subtype)
                silent = True if label in ("all_nan", "all_inf", "denormal") else None
                ref = None
                if sr == SR:  # bad samples become 0, absurd ones are clipped
                    ref = np.clip(np.where(np.isfinite(y), y, 0.0), -MAX_ABS_SAMPLE, MAX_ABS_SAMPLE)
                n16 = round(3.2 * SR)
                cases.append(Case(p, "nan-inf", "ok", ref=ref, tol=1e-6, length=n16, silent=silent))

    # --- containers under wrong extensions: libsndfile reads the content, not the name ---------
    stereo = _tone_frames(0.5, 22050, 2)
    ref22 = _reference(stereo, 22050)
    containers = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS", "aiff": "PCM_16", "au": "PCM_16",
                  "w64": "PCM_16", "caf": "PCM_16"}  # fmt: skip
    wrong_ext = [".wav", ".flac", ".ogg", ".mp3", ".opus", ".txt", ""]
    for container, subtype in containers.items():
        src = write(f"container.{container}", stereo, 22050, subtype)
        lossy = container == "ogg"
        cases.append(Case(src, "container", "ok", ref=None if lossy else ref22, tol=2e-4, length=len(ref22)))
        for ext in wrong_ext:
            if ext == f".{container}":
                continue
            p = root / f"renamed_{container}_as{ext.replace('.', '_') or '_none'}{ext}"
            p.write_bytes(src.read_bytes())
            cases.append(Case(p, "wrong-extension", "ok", ref=None if lossy else ref22, tol=2e-4,
                              length=len(ref22)))  # fmt: skip

    # --- truncated every few bytes through the header, and part-way through the data ----------
    trunc_sources = {
        "pcm16_mono.wav": (_tone_frames(0.5, SR, 1), SR, "PCM_16"),
        "float_stereo.wav": (_tone_frames(0.5, 44100, 2), 44100, "FLOAT"),
        "pcm24_6ch.wav": (_tone_frames(0.5, 48000, 6), 48000, "PCM_24"),  # WAVE_FORMAT_EXTENSIBLE
        "pcm16.flac": (_tone_frames(0.5, 44100, 2), 44100, "PCM_16"),
        "vorbis.ogg": (_tone_frames(0.5, 44100, 2), 44100, "VORBIS"),
        "pcm16.aiff": (_tone_frames(0.5, 22050, 1), 22050, "PCM_16"),
        "pcm16.au": (_tone_frames(0.5, 8000, 1), 8000, "PCM_16"),
        "pcm16.caf": (_tone_frames(0.5, 32000, 2), 32000, "PCM_16"),
        "pcm16.w64": (_tone_frames(0.5, 11025, 1), 11025, "PCM_16"),
    }
    for name, (x, sr, subtype) in trunc_sources.items():
        full = write(f"full_{name}", x, sr, subtype).read_bytes()
        full_len = len(_reference(x[:, :1], sr))
        cuts = [*range(0, min(len(full), 120), 3), *(int(len(full) * f) for f in (0.25, 0.5, 0.75, 0.99))]
        for cut in sorted(set(cuts)):
            p = root / f"trunc_{cut:06d}_{name}"
            p.write_bytes(full[:cut])
            if cut == 0:
                cases.append(Case(p, "truncated", "error", error="file is empty"))
            else:  # a header cut short cannot load; one cut in the data loads what is there
                cases.append(Case(p, "truncated", "either", max_length=full_len))

    # --- random bytes under audio extensions, and random bytes after a real magic --------------
    exts = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".au", ".caf", ".w64", ".opus", ".oga", ".aif", ".snd")
    for ext in (*exts, ".vox", ".gsm"):  # the last three: libsndfile guesses headerless data from the name
        for size in (1, 4, 44, 1000, 65536):
            p = root / f"random_{size}{ext}"
            p.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
            cases.append(Case(p, "random-bytes", "error", error="not a readable audio file"))
    magics = {
        "riff.wav": b"RIFF\x24\x08\x00\x00WAVEfmt ",
        "flac.flac": b"fLaC",
        "ogg.ogg": b"OggS\x00\x02",
        "aiff.aiff": b"FORM\x00\x00\x10\x00AIFFCOMM",
        "au.au": b".snd\x00\x00\x00\x18",
        "caf.caf": b"caff\x00\x01",
    }
    for name, magic in magics.items():
        for size in (8, 200, 5000):
            p = root / f"magic_{size}_{name}"
            p.write_bytes(magic + rng.integers(0, 256, size, dtype=np.uint8).tobytes())
            cases.append(Case(p, "magic+random", "either"))

    # --- WAV headers with impossible or extreme fields ----------------------------------------
    pcm = (0.3 * np.sin(np.arange(SR // 2) / 5.0) * 32767).astype("<i2").tobytes()
    fields: list[tuple[str, dict, str]] = [
        ("rate_0", {"rate": 0}, "error"),
        ("rate_1", {"rate": 1}, "error"),
        ("rate_7", {"rate": 7}, "error"),
        ("rate_999", {"rate": 999}, "error"),
        ("rate_1000", {"rate": 1000}, "ok"),
        ("rate_768000", {"rate": 768000}, "ok"),
        ("rate_768001", {"rate": 768001}, "error"),
        ("rate_2e9", {"rate": 2_000_000_000}, "error"),
        ("rate_max", {"rate": 0xFFFFFFFF}, "error"),
        ("channels_0", {"channels": 0}, "error"),
        ("channels_9", {"channels": 9}, "either"),
        ("channels_255", {"channels": 255}, "either"),
        ("channels_1024", {"channels": 1024}, "either"),
        ("channels_65535", {"channels": 65535}, "either"),
        ("bits_0", {"bits": 0}, "either"),
        ("bits_1", {"bits": 1}, "either"),
        ("bits_7", {"bits": 7}, "either"),
        ("bits_12", {"bits": 12}, "either"),
        ("bits_40", {"bits": 40}, "either"),
        ("bits_64", {"bits": 64}, "either"),
        ("align_0", {"block_align": 0}, "either"),
        ("align_huge", {"block_align": 65535}, "either"),
        ("fmt_0", {"fmt": 0}, "either"),
        ("fmt_adpcm", {"fmt": 2}, "either"),
        ("fmt_mp3", {"fmt": 0x55}, "either"),
        ("fmt_ac3", {"fmt": 0x2000}, "either"),
        ("fmt_extensible_short", {"fmt": 0xFFFE}, "either"),
        ("fmt_float_16bit", {"fmt": 3}, "either"),
        ("data_0", {"data_bytes": 0}, "either"),
        ("data_huge", {"data_bytes": 0xFFFFFFF0}, "either"),
        ("data_odd", {"data_bytes": len(pcm) - 1}, "either"),
        ("riff_0", {"riff": 0}, "either"),
        ("riff_huge", {"riff": 0xFFFFFFFF}, "either"),
    ]
    for name, kw, expect in fields:
        kw = {"data_bytes": len(pcm), **kw}
        p = root / f"header_{name}.wav"
        p.write_bytes(_wav_header(**kw) + pcm)
        # 0 and 2^32-1 are refused by libsndfile itself ("SF_INFO struct incomplete")
        error = (
            "unsupported sample rate"
            if name in ("rate_1", "rate_7", "rate_999", "rate_768001", "rate_2e9")
            else None
        )
        cases.append(Case(p, "wav-header-fields", expect, error=error))

    # --- the small edge cases -----------------------------------------------------------------
    (root / "empty.wav").write_bytes(b"")
    cases.append(Case(root / "empty.wav", "edge", "error", error="file is empty"))
    sf.write(str(root / "zero_frames.wav"), np.zeros(0, np.float32), SR)
    cases.append(Case(root / "zero_frames.wav", "edge", "error", error="contains no audio samples"))
    sf.write(str(root / "one_frame.wav"), np.array([0.25], np.float32), SR, subtype="FLOAT")
    cases.append(Case(root / "one_frame.wav", "edge", "ok", ref=np.array([0.25]), tol=1e-7, length=1))
    sf.write(str(root / "one_frame_48k.wav"), np.array([[0.25, 0.5]], np.float32), 48000, subtype="FLOAT")
    cases.append(Case(root / "one_frame_48k.wav", "edge", "error", error="too short"))
    sf.write(str(root / "two_frames_44k.wav"), np.array([0.1, 0.2], np.float32), 44100, subtype="FLOAT")
    cases.append(Case(root / "two_frames_44k.wav", "edge", "ok", length=1))
    cases.append(Case(root / "missing.wav", "edge", "error", error="file not found"))
    (root / "text.wav").write_text("RIFF is a word; this is not audio.\n" * 20)
    cases.append(Case(root / "text.wav", "edge", "error", error="not a readable audio file"))
    return cases


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("bad_files"))


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    """The shipped model: what the app and ``serlive predict`` use by default."""
    return EmotionModel(num_threads=1)


@dataclass
class Outcome:
    samples: np.ndarray | None
    error: AudioLoadError | None


@pytest.fixture(scope="module")
def outcomes(corpus: list[Case]) -> dict[str, Outcome]:
    """Every case through :func:`load_audio` once; anything but AudioLoadError propagates (a failure)."""
    out: dict[str, Outcome] = {}
    for case in corpus:
        try:
            y = load_audio(case.path)
        except AudioLoadError as exc:
            out[case.id] = Outcome(None, exc)
        else:
            out[case.id] = Outcome(y, None)
    return out


def _error_problem(case: Case, exc: AudioLoadError) -> str | None:
    """What is wrong with the error a case gave (None: one clear line naming the file)."""
    text = str(exc)
    if "\n" in text or not exc.reason.strip():
        return f"{case.id}: error is not one line: {text!r}"
    if not text.startswith(str(case.path)) or exc.path != str(case.path):
        return f"{case.id}: error does not name the file: {text!r}"
    if str(case.path) in exc.reason:
        return f"{case.id}: the reason repeats the path: {exc.reason!r}"
    if case.error is not None and case.error not in exc.reason:
        return f"{case.id}: expected {case.error!r} in {exc.reason!r}"
    return None


# --- the loader -----------------------------------------------------------------------------
def test_corpus_is_large_and_varied(corpus):
    groups = {c.group for c in corpus}
    assert len(corpus) >= 500, len(corpus)
    assert len(groups) >= 9
    assert len({c.id for c in corpus}) == len(corpus)


def test_every_case_loads_correctly_or_fails_with_one_clear_line(corpus, outcomes):
    wrong: list[str] = []
    for case in corpus:
        got = outcomes[case.id]
        if got.error is not None:
            if case.expect == "ok":
                wrong.append(f"{case.id}: should load, got {got.error.reason}")
                continue
            problem = _error_problem(case, got.error)
            if problem:
                wrong.append(problem)
            continue
        if case.expect == "error":
            wrong.append(f"{case.id}: should fail, loaded {len(got.samples)} samples")
            continue
        y = got.samples
        assert y is not None
        assert y.dtype == np.float32 and y.ndim == 1 and len(y) > 0, case.id
        assert np.isfinite(y).all(), case.id
        assert np.abs(y).max() <= MAX_ABS_SAMPLE * 1.01, case.id
        assert len(y) <= MAX_CORPUS_OUTPUT_S * SR, f"{case.id}: {len(y)} samples from a small file"
        if case.length is not None and abs(len(y) - case.length) > 1:
            wrong.append(f"{case.id}: {len(y)} samples, expected {case.length}")
        if case.ref is not None:
            n = min(len(y), len(case.ref))
            err = float(np.max(np.abs(y[:n] - case.ref[:n])))
            if err > case.tol:
                wrong.append(f"{case.id}: differs from the reference by {err:.3g} (tolerance {case.tol:.3g})")
    assert not wrong, "\n".join(wrong[:30])


def test_truncated_files_never_invent_samples(corpus, outcomes):
    """A file cut short loads at most what its whole version holds (never header-promised garbage)."""
    loaded = 0
    for case in corpus:
        if case.group != "truncated" or outcomes[case.id].samples is None:
            continue
        loaded += 1
        assert case.max_length is not None
        assert len(outcomes[case.id].samples) <= case.max_length + 1, case.id
    assert loaded >= 20  # the cuts inside the data load


def test_random_bytes_are_refused_for_every_extension(corpus, outcomes):
    refused = [c for c in corpus if c.group == "random-bytes" and outcomes[c.id].error is not None]
    assert len(refused) == sum(c.group == "random-bytes" for c in corpus)


def test_nan_and_inf_are_replaced_deterministically(corpus, outcomes):
    """Documented choice: non-finite samples become 0 and absurd ones are clipped, the same every time."""
    for case in corpus:
        if case.group == "nan-inf":
            again = load_audio(case.path)
            np.testing.assert_array_equal(again, outcomes[case.id].samples, err_msg=case.id)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_fuzzed_headers_load_or_fail_cleanly(tmp_path, data):
    """Property: any byte mutation of a valid file's first 512 bytes loads sanely or raises AudioLoadError."""
    kind = data.draw(st.sampled_from(["wav16", "wavfloat", "flac", "aiff", "wav6ch"]))
    x = _tone_frames(0.2, 22050, 6 if kind == "wav6ch" else 2)
    ext, subtype = {"wav16": ("wav", "PCM_16"), "wavfloat": ("wav", "FLOAT"), "flac": ("flac", "PCM_16"),
                    "aiff": ("aiff", "PCM_16"), "wav6ch": ("wav", "PCM_24")}[kind]  # fmt: skip
    p = tmp_path / f"fuzz.{ext}"
    sf.write(str(p), x, 22050, subtype=subtype)
    buf = bytearray(p.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, min(511, len(buf) - 1)))
        buf[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(1, len(buf)))]
    p.write_bytes(bytes(buf))
    try:
        y = load_audio(p)
    except AudioLoadError as exc:
        assert "\n" not in str(exc) and exc.reason
        return
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    # a rate field rewritten down to 1 kHz stretches 0.2 s x 22 kHz at most 22x; channels only shrink it
    assert len(y) <= 0.2 * 22050 * SR / 1000 + 64


# --- the analysis that predict and the viewer run ------------------------------------------------
def _file_hop() -> int:
    """The default model's file-path hop in samples (an encoder model analyses files every 2 s)."""
    from serlive.model import ModelMetadata, default_model_path, read_tflite_metadata

    meta = ModelMetadata.from_json(read_tflite_metadata(default_model_path().read_bytes())["serlive"])
    return meta.windows.for_files().hop_samples(SR)


def _check_analysis(case: Case, y: np.ndarray, a) -> None:
    starts = window_starts(
        len(y), 3 * SR, _file_hop(), to_end=SR // 100
    )  # the frame hop: a window at the end
    assert len(a.windows) == len(starts), case.id
    assert np.isfinite(a.probabilities).all() and abs(float(a.probabilities.sum()) - 1) < 1e-3, case.id
    for w in a.windows:
        assert np.isfinite(w.probabilities).all(), case.id
    if case.silent is True:
        assert all(w.silent for w in a.windows) and not a.speech, case.id
    elif case.silent is False:
        assert a.speech, case.id


def test_every_loadable_case_gives_a_correct_analysis(corpus, outcomes, model):
    n = 0
    for case in corpus:
        y = outcomes[case.id].samples
        if y is None:
            continue
        _check_analysis(case, y, analyse_signal(y, model))
        n += 1
    assert n >= 250


def test_file_viewer_worker_functions_on_every_case(corpus, outcomes, model):
    """What ``FileView._work`` runs (``file_model``: loader, spectrogram, segmented analysis, envelope)."""
    pytest.importorskip("PySide6")
    from serlive.gui.file_model import WAVE_BINS, analyse_in_segments, display_spectrogram
    from serlive.gui.plots import envelope

    for case in corpus:
        y = outcomes[case.id].samples
        if y is None:
            continue
        spec = display_spectrogram(model, y, threading.Event())
        assert spec.ndim == 2 and spec.shape[0] == model.meta.features.n_mels and np.isfinite(spec).all()
        _check_analysis(case, y, analyse_in_segments(y, model))
        x, v = envelope(y, WAVE_BINS)
        assert len(x) == len(v) <= max(len(y), 2 * WAVE_BINS) and np.isfinite(v).all(), case.id


def test_file_viewer_widget_on_a_sample(qtbot, corpus, outcomes, model, monkeypatch):
    """The real viewer (offscreen), one case per group and outcome: the result drawn, or one error box."""
    pytest.importorskip("PySide6")
    from serlive.gui import messages
    from serlive.gui.file_view import FileView

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(messages, "show_error", lambda parent, title, text: shown.append((title, text)))
    view = FileView(model)
    qtbot.addWidget(view)
    sample: dict[tuple[str, bool], Case] = {}
    for case in corpus:
        sample.setdefault((case.group, outcomes[case.id].error is None), case)
    assert len(sample) >= 12
    for case in sample.values():
        got = outcomes[case.id]
        before = len(shown)
        view.open_file(case.path)
        qtbot.waitUntil(lambda: not view.busy, timeout=30_000)
        if got.error is not None:
            assert shown[before:] == [("Cannot open file", str(got.error))], case.id
        else:
            assert len(shown) == before, (case.id, shown[before:])
            assert view.loaded is not None and view.loaded.path == case.path
            np.testing.assert_array_equal(view.loaded.samples, got.samples)
            _check_analysis(case, got.samples, view.loaded.analysis)
    view.shutdown()


#: Peak RSS of *this* process in MiB.  ``ru_maxrss`` will not do: Linux carries it across fork and
#: exec, so a child of a big pytest process would report its parent's peak.  ``VmHWM`` belongs to
#: the address space, which exec replaces.
PEAK_MB = r"""
def peak_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""


# --- serlive predict, as a process ------------------------------------------------------------------
def test_predict_process_on_the_whole_corpus(corpus, outcomes, model, tmp_path):
    """One ``serlive predict`` over every file: a JSON line each, in order, matching the library; no crash."""
    cases = [c for c in corpus if not c.path.is_dir()]
    args = [str(c.path) for c in cases]
    code = (
        PEAK_MB + "import sys\n"
        "from serlive.cli import main\n"
        "rc = main(['predict', '--format', 'json', *sys.argv[1:]])\n"
        "sys.stdout.flush()\n"
        "print('PEAK_RSS_MB', peak_mb(), 'RC', rc, file=sys.stderr)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600, env=env, cwd=REPO
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    tail = proc.stderr.strip().splitlines()[-1].split()
    assert tail[0] == "PEAK_RSS_MB" and tail[2] == "RC", proc.stderr[-2000:]
    assert int(tail[3]) == 1  # some files failed, and said so
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in lines] == args
    for case, rec in zip(cases, lines, strict=True):
        got = outcomes[case.id]
        if got.error is not None:
            assert rec == {"path": str(case.path), "error": got.error.reason}, case.id
        else:
            a = analyse_signal(got.samples, model)
            assert rec["speech"] == a.speech, case.id
            if not a.speech:  # no distribution when nothing was speech (issue 20, item 3)
                assert rec["probabilities"] is None and rec["confidence"] is None, case.id
                continue
            want = [round(float(p), 4) for p in a.probabilities]
            assert list(rec["probabilities"].values()) == pytest.approx(want, abs=2e-4), case.id
    # bounded: nothing in the corpus is longer than a few seconds at 192 kHz x 8 channels
    peak_mb = float(tail[1])
    assert peak_mb < 400, f"predict peaked at {peak_mb:.0f} MiB on small files"


def test_predict_text_format_prints_one_line_per_bad_file(corpus, outcomes, capsys):
    from serlive.cli import main

    bad = [c for c in corpus if outcomes[c.id].error is not None][:60]
    rc = main(["predict", *[str(c.path) for c in bad]])
    captured = capsys.readouterr()
    assert rc == 1 and captured.out == ""
    lines = captured.err.splitlines()
    assert lines == [f"serlive: {c.path}: {outcomes[c.id].error.reason}" for c in bad]


# --- a 2-hour file is streamed -----------------------------------------------------------------------
MEASURE = (
    PEAK_MB
    + r"""
import sys, threading, time
import numpy as np
from serlive.model import EmotionModel
from serlive.audio.io import load_audio
from serlive.files.analysis import analyse_signal
from serlive.gui.file_model import WAVE_BINS, display_spectrogram
from serlive.gui.plots import envelope

# a tiny CNN (argv[2]): this test is about the loader's and the viewer's memory, and the encoder
# model's 4800 windows would take minutes of CPU here without changing what is measured
model = EmotionModel(sys.argv[2], num_threads=1)
model.predict(np.zeros((1, *model.input_shape), np.float32))
base = peak_mb()
t0 = time.perf_counter()
y = load_audio(sys.argv[1])
load_peak = peak_mb()
t_load = time.perf_counter() - t0
spec = display_spectrogram(model, y, threading.Event())
a = analyse_signal(y, model, batch=8)
x, v = envelope(y, WAVE_BINS)
print(len(y), y.nbytes / 2**20, base, load_peak, peak_mb(), t_load, len(a.windows), int(a.speech),
      spec.shape[1], int(np.isfinite(a.probabilities).all()))
"""
)


@pytest.mark.slow
def test_two_hour_file_is_streamed_with_bounded_memory(tmp_path, tiny_models):
    """8 kHz 16-bit mono, 2 h (115 MB on disk, 461 MB as 16 kHz float32): peak well under twice the output."""
    sr, hours = 8000, 2.0
    path = tmp_path / "two_hours.wav"
    block = 60 * sr
    speech = soxr.resample(spoken(60.0), SR, sr)[:block]  # real speech, so the VAD finds some
    with sf.SoundFile(str(path), "w", sr, 1, "PCM_16") as f:
        for k in range(int(hours * 60)):  # a minute at a time: the test itself stays small too
            voiced = np.roll(speech, k * sr // 7)
            f.write(voiced if k % 10 else np.zeros(block))  # every tenth minute silent
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(tiny_models.int8)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    n, out_mb, base, load_peak, peak, t_load, windows, speech, cols, finite = proc.stdout.split()
    n_out = int(hours * 3600 * SR)
    assert int(n) == n_out
    out_mb_f = float(out_mb)  # 439 MiB
    # streamed: the loader's peak is the output plus blocks; reading whole would add >= the output again
    assert float(load_peak) - float(base) < 1.15 * out_mb_f + 64, proc.stdout
    # the viewer's whole worker path (spectrogram, segmented analysis, envelope) adds a bounded amount
    assert float(peak) - float(base) < 1.15 * out_mb_f + 160, proc.stdout
    assert int(windows) == len(window_starts(n_out, 3 * SR, SR // 2))  # the tiny CNN's hop
    assert int(speech) == 1 and int(finite) == 1 and int(cols) <= 4000
    print(
        f"2 h file: output {out_mb_f:.0f} MiB, loader peak +{float(load_peak) - float(base):.0f} MiB, "
        f"viewer path peak +{float(peak) - float(base):.0f} MiB, load {float(t_load):.1f} s"
    )
