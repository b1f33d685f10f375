"""Loading audio files as mono float32 at the model's sample rate.

Everything libsndfile reads (wav, flac, ogg, aiff, ...) at any rate and
channel count.  Channels are averaged, the rate is converted with soxr (high
quality), and problems become an :class:`AudioLoadError` that names the file
and the reason, never a bare library exception.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from numpy.typing import NDArray

#: Extensions treated as audio when a folder is scanned.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".au", ".w64", ".caf", ".mp3", ".opus"}
)


class AudioLoadError(Exception):
    """A file that could not be turned into audio; ``str()`` names file and reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def to_mono(data: NDArray[np.floating]) -> NDArray[np.float32]:
    """Average channels of ``(frames, channels)`` data."""
    if data.ndim == 1:
        return data.astype(np.float32, copy=False)
    return data.mean(axis=1, dtype=np.float32)


def resample(y: NDArray[np.float32], sr_in: int, sr_out: int) -> NDArray[np.float32]:
    """High-quality rate conversion (soxr HQ); a no-op when the rates match."""
    if sr_in == sr_out or len(y) == 0:
        return np.asarray(y, dtype=np.float32)
    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


#: Largest sample magnitude kept (120 dB above full scale).  Float files may exceed ±1 (some tools
#: write float WAV scaled like 16-bit integers, up to ±32768), but a value near float32's limit
#: (1e30, say) overflows the power spectrum to inf and turns every feature of its window into NaN.
MAX_ABS_SAMPLE = 1e6


def sanitize(y: NDArray[np.float32]) -> tuple[NDArray[np.float32], int]:
    """Replace NaN/Inf samples by 0, clip beyond ±:data:`MAX_ABS_SAMPLE`; return how many changed.

    Float files may hold such values; one NaN would otherwise poison every
    feature of its window, and one huge value overflow them.  Replacing them
    (rather than refusing the file) keeps one bad sample from hiding an
    otherwise good recording, and is deterministic: the same file always
    gives the same samples.
    """
    bad = ~np.isfinite(y)
    n_bad = int(bad.sum())
    if n_bad:
        y = np.where(bad, 0.0, y).astype(np.float32)
    big = np.abs(y) > MAX_ABS_SAMPLE
    n_big = int(big.sum())
    if n_big:
        y = np.clip(y, -MAX_ABS_SAMPLE, MAX_ABS_SAMPLE).astype(np.float32)
    return y, n_bad + n_big


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header information, or :class:`AudioLoadError`."""
    p = Path(path)
    _check_path(path, p)
    try:
        return sf.info(str(p))
    except FileNotFoundError:
        raise AudioLoadError(path, "file not found") from None
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioLoadError(path, f"not a readable audio file ({_reason(exc)})") from None


def _check_path(given: str | Path, p: Path) -> None:
    """Name the common path problems before libsndfile turns them into 'System error.'."""
    if p.is_dir():
        raise AudioLoadError(given, "is a folder, not an audio file")
    if not p.exists():
        raise AudioLoadError(given, "file not found")
    if p.stat().st_size == 0:
        raise AudioLoadError(given, "file is empty")


def _reason(exc: Exception) -> str:
    text = str(exc)
    # libsndfile messages start with the path; keep only the reason
    if ": " in text and text.startswith("Error opening"):
        text = text.split(": ", 1)[1]
    return text.strip() or type(exc).__name__


#: Frames read per block when a file is streamed (1.4 s at 48 kHz; 2 MB of float32 for 8 channels).
BLOCK_FRAMES = 65536
#: Sample rates a file may declare.  Outside this range a header is corrupt or not speech audio, and
#: a tiny rate would make the 16 kHz output enormous (1 MB of samples at 7 Hz is 2.3 billion samples).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000


def _available_bytes() -> int | None:
    """``MemAvailable`` from /proc/meminfo, None where it cannot be read (not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def load_audio(path: str | Path, sample_rate: int = 16000) -> NDArray[np.float32]:
    """Read ``path`` as mono float32 at ``sample_rate``.

    The file is streamed in blocks of :data:`BLOCK_FRAMES` frames: each block
    is downmixed, sanitised (NaN/Inf become 0, see :func:`sanitize`) and fed
    to a streaming soxr resampler whose output goes straight into the result
    array.  So the peak memory is the result plus a few blocks, whatever the
    file's rate and channel count (a 2 h 192 kHz 8-channel file would be
    44 GB as float32 if read whole); the samples are identical to reading the
    whole file and calling :func:`to_mono`, :func:`sanitize` and
    :func:`resample` (soxr's streaming and one-shot conversions agree bit for
    bit).

    Raises :class:`AudioLoadError` for missing, unreadable, empty or
    non-audio files, a declared sample rate outside
    [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`], and a file whose
    result would not fit in the available memory.
    """
    p = Path(path)
    _check_path(path, p)
    try:
        with sf.SoundFile(str(p)) as f:
            return _read_stream(path, f, sample_rate)
    except AudioLoadError:
        raise
    except FileNotFoundError:
        raise AudioLoadError(path, "file not found") from None
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioLoadError(path, f"not a readable audio file ({_reason(exc)})") from None
    except MemoryError:
        raise AudioLoadError(path, "file too large to load") from None


def _read_stream(path: str | Path, f: sf.SoundFile, sample_rate: int) -> NDArray[np.float32]:
    """The body of :func:`load_audio` for an open file."""
    if f.format == "RAW":
        # libsndfile found no header and guessed from the name (.au/.snd: 8 kHz µ-law, .vox, .gsm):
        # any bytes at all "load" that way, so random data would be analysed as if it were audio
        raise AudioLoadError(path, "not a readable audio file (no audio header; headerless data is not read)")
    sr_in = int(f.samplerate)
    if not MIN_SAMPLE_RATE <= sr_in <= MAX_SAMPLE_RATE:
        raise AudioLoadError(
            path, f"unsupported sample rate {sr_in} Hz (expected {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
        )
    frames = max(0, int(f.frames))
    # soxr's output length is round(frames * ratio); a little slack, trimmed below
    expect = -(-frames * sample_rate // sr_in) + 16
    avail = _available_bytes()
    if avail is not None and 4 * expect > avail:
        hours = frames / sr_in / 3600
        raise AudioLoadError(
            path,
            f"too long to load: {hours:.1f} h of audio needs {4 * expect / 1e9:.1f} GB of memory, "
            f"{avail / 1e9:.1f} GB available",
        )
    out = np.empty(expect, np.float32)
    n = 0
    stream = None if sr_in == sample_rate else soxr.ResampleStream(sr_in, sample_rate, 1, "float32", "HQ")
    buf = np.empty((BLOCK_FRAMES, f.channels), np.float32)

    def put(y: NDArray[np.float32]) -> None:
        nonlocal out, n
        if n + len(y) > len(out):  # the header undercounted: grow (rare)
            out = np.resize(out, max(2 * len(out), n + len(y)))
        out[n : n + len(y)] = y
        n += len(y)

    read = 0
    while True:
        got = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True, out=buf)
        if len(got) == 0:
            break
        read += len(got)
        y, _ = sanitize(to_mono(got))
        put(y if stream is None else stream.resample_chunk(y))
        if len(got) < BLOCK_FRAMES:
            break
    if read == 0:
        raise AudioLoadError(path, "contains no audio samples")
    if stream is not None:
        put(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    if n == 0:  # one or two frames at a high rate round to no sample at all
        reason = f"too short: {read} frames at {sr_in} Hz make no sample at {sample_rate} Hz"
        raise AudioLoadError(path, reason)
    if n < len(out) // 2:  # the header promised far more than the file holds: do not keep the rest
        return out[:n].copy()
    out.resize(n, refcheck=False)  # shrinks in place (realloc), no copy
    return out


def truncation_warning(path: str | Path) -> str | None:
    """One line when ``path`` is a WAV file whose data chunk holds less than its header declares.

    Why: libsndfile opens such a file (cut short by a full disk, a download or a copy that
    stopped) as a complete shorter one, so a 3.65 s clip cut to its first 50 KB read as a 0.6 s
    file with "no speech" and nothing said the rest was missing (issue 28, item 4).  What is there
    is still analysed; this says that it is not the whole recording.  Other formats and a header
    whose size is a placeholder (0 or 0xFFFFFFFF: written by a stream that never went back to
    fill it in) give None.  Never raises: a file that cannot be read here is load_audio's to report.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
                return None
            endian = "<" if head[:4] == b"RIFF" else ">"
            size = Path(path).stat().st_size
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                (declared,) = struct.unpack(endian + "I", chunk[4:8])
                if chunk[:4] == b"data":
                    present = size - (pos + 8)
                    if declared in (0, 0xFFFFFFFF) or present >= declared:
                        return None
                    frames = _frames_per_byte(path)
                    if frames is None:
                        return (
                            f"truncated: the file holds {present} of the {declared} bytes of audio its "
                            "header declares; only what is there was analysed"
                        )
                    rate, width = frames
                    have, want = present / width / rate, declared / width / rate
                    return (
                        f"truncated: the file holds {have:.2f} s of the {want:.2f} s of audio its header "
                        f"declares ({100 * present / declared:.0f} %); only what is there was analysed"
                    )
                pos += 8 + declared + (declared & 1)  # chunks are padded to an even size
    except OSError:
        return None
    return None


_BYTES_PER_SAMPLE = {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def _frames_per_byte(path: str | Path) -> tuple[int, int] | None:
    """(sample rate, bytes per frame) from libsndfile's reading of the header; None for a
    compressed or unknown encoding (its bytes are not frames) or a header it cannot read."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    width = _BYTES_PER_SAMPLE.get(info.subtype)
    if width is None or info.samplerate <= 0:
        return None
    return int(info.samplerate), width * int(info.channels)


#: containers a span may be copied into, by extension; both hold the samples exactly (lossless)
SPAN_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
_INTEGER_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"}


def copy_span(src: str | Path, dst: str | Path, start_s: float, end_s: float) -> tuple[int, str]:
    """Copy the frames of ``src`` from ``start_s`` to ``end_s`` into ``dst`` (WAV or FLAC), exactly.

    Why here and in blocks: File ▸ Export selection writes the original file's samples, not the
    16 kHz analysis copy, at its rate and channels; an hour of 48 kHz stereo is 1.4 GB as float32,
    so it is streamed by :data:`BLOCK_FRAMES`.  The samples keep their encoding where the target
    holds it (PCM_16 stays PCM_16, read and written as int32, so no bit changes); float or decoded
    lossy sources go to WAV as float.  A target that cannot hold the source's samples exactly
    (FLAC for float samples) is refused with a message naming WAV, never written lossily.
    Returns (frames written, subtype); :class:`AudioLoadError` names the reason for any failure.
    """
    fmt = SPAN_FORMATS.get(Path(dst).suffix.lower())
    if fmt is None:
        raise AudioLoadError(dst, "choose a .wav or .flac file name (both keep the samples exactly)")
    info = audio_info(src)
    subtype = info.subtype
    if not sf.check_format(fmt, subtype):
        if fmt == "FLAC":
            raise AudioLoadError(
                dst, f"FLAC cannot hold {subtype} samples exactly: choose a .wav file name instead"
            )
        subtype = "DOUBLE" if subtype == "DOUBLE" else "FLOAT"
    dtype = "int32" if subtype in _INTEGER_SUBTYPES else ("float64" if subtype == "DOUBLE" else "float32")
    rate = int(info.samplerate)
    first = min(max(0, round(start_s * rate)), info.frames)
    last = min(max(first, round(end_s * rate)), info.frames)
    written = 0
    try:
        with (
            sf.SoundFile(str(src)) as f,
            sf.SoundFile(str(dst), "w", rate, info.channels, subtype, format=fmt) as out,
        ):
            f.seek(first)
            while written < last - first:
                block = f.read(min(BLOCK_FRAMES, last - first - written), dtype=dtype, always_2d=True)
                if len(block) == 0:
                    break
                out.write(block)
                written += len(block)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioLoadError(dst, f"could not be written ({_reason(exc)})") from None
    return written, subtype
