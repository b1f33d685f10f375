"""Loading audio files as mono float32 at the model's sample rate.

Everything libsndfile reads (wav, flac, ogg, aiff, ...) at any rate and
channel count.  Channels are averaged, the rate is converted with soxr (high
quality), and problems become an :class:`AudioLoadError` that names the file
and the reason, never a bare library exception.
"""

from __future__ import annotations

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


def sanitize(y: NDArray[np.float32]) -> tuple[NDArray[np.float32], int]:
    """Replace NaN/Inf samples by 0 and return how many there were.

    Float files may hold them; one NaN would otherwise poison every feature
    of its window.
    """
    bad = ~np.isfinite(y)
    n_bad = int(bad.sum())
    if n_bad:
        y = np.where(bad, 0.0, y).astype(np.float32)
    return y, n_bad


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


def load_audio(path: str | Path, sample_rate: int = 16000) -> NDArray[np.float32]:
    """Read ``path`` as mono float32 at ``sample_rate``.

    Raises :class:`AudioLoadError` for missing, unreadable, empty or
    non-audio files.
    """
    p = Path(path)
    _check_path(path, p)
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise AudioLoadError(path, "file not found") from None
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioLoadError(path, f"not a readable audio file ({_reason(exc)})") from None
    except MemoryError:
        raise AudioLoadError(path, "file too large to load") from None
    if data.shape[0] == 0:
        raise AudioLoadError(path, "contains no audio samples")
    y, _ = sanitize(to_mono(data))
    return resample(y, int(sr), sample_rate)
