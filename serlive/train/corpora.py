"""Corpus loaders from file-name conventions.

Each loader walks a corpus folder (``.wav`` or ``.flac``, any depth) and yields
:class:`Utterance` records in the app's 8-label set.  Labels a corpus lacks
simply never occur.  EmoDB's boredom has no place among the 8 labels and is
dropped (counted in the loader's ``skipped``), as are files whose names do not
follow the convention.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from serlive.config import LABELS

AUDIO_SUFFIXES = (".wav", ".flac")
DATA_ENV = "SERLIVE_DATA"


@dataclass(frozen=True)
class Utterance:
    """One labelled clip. ``speaker`` is globally unique (prefixed by corpus)."""

    path: str
    corpus: str
    speaker: str
    gender: str  # "male", "female" or "unknown"
    emotion: str

    def __post_init__(self) -> None:
        if self.emotion not in LABELS:
            raise ValueError(f"{self.path}: emotion {self.emotion!r} not in {LABELS}")


def _audio_files(root: Path) -> list[Path]:
    files = [
        Path(d) / f for d, _, names in os.walk(root) for f in names if f.lower().endswith(AUDIO_SUFFIXES)
    ]
    return sorted(files)


RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip
_RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_ravdess(path: Path) -> Utterance | None:
    """``MM-VC-EE-II-SS-RR-AA``; speech only (vocal channel 01); odd actors male."""
    m = _RAVDESS_RE.match(path.stem)
    if not m or m.group(2) != "01" or m.group(3) not in RAVDESS_EMOTIONS:
        return None
    actor = int(m.group(7))
    return Utterance(
        str(path), "ravdess", f"ravdess:{actor:02d}",
        "male" if actor % 2 else "female", RAVDESS_EMOTIONS[m.group(3)],
    )  # fmt: skip


TESS_EMOTIONS = {
    "angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
    "neutral": "neutral", "ps": "surprised", "sad": "sad",
}  # fmt: skip


def parse_tess(path: Path) -> Utterance | None:
    """``<OAF|YAF>_<word>_<emotion>``; emotion from the name (folders mix case); both female."""
    parts = path.stem.split("_")
    if len(parts) < 3:
        return None
    emotion = TESS_EMOTIONS.get(parts[-1].lower())
    prefix = parts[0].upper()
    speaker = {"OAF": "OAF", "OA": "OAF", "YAF": "YAF", "YA": "YAF"}.get(prefix)
    if emotion is None or speaker is None:
        return None
    return Utterance(str(path), "tess", f"tess:{speaker}", "female", emotion)


SAVEE_EMOTIONS = {
    "a": "angry", "d": "disgust", "f": "fearful", "h": "happy",
    "n": "neutral", "sa": "sad", "su": "surprised",
}  # fmt: skip
_SAVEE_RE = re.compile(r"^(DC|JE|JK|KL)_(a|d|f|h|n|sa|su)(\d\d)$")


def parse_savee(path: Path) -> Utterance | None:
    """``<speaker>_<code><nn>``; four male speakers."""
    m = _SAVEE_RE.match(path.stem)
    if not m:
        return None
    return Utterance(str(path), "savee", f"savee:{m.group(1)}", "male", SAVEE_EMOTIONS[m.group(2)])


CREMAD_EMOTIONS = {
    "ANG": "angry", "DIS": "disgust", "FEA": "fearful",
    "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}  # fmt: skip
_CREMAD_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def _cremad_genders(root: Path) -> dict[str, str]:
    """Actor genders from CREMA-D's ``VideoDemographics.csv`` when it is present."""
    for candidate in root.rglob("VideoDemographics.csv"):
        with candidate.open(newline="") as fh:
            return {
                row["ActorID"].strip(): row["Sex"].strip().lower()
                for row in csv.DictReader(fh)
                if row.get("ActorID") and row.get("Sex")
            }
    return {}


def parse_cremad(path: Path, genders: dict[str, str] | None = None) -> Utterance | None:
    """``<actor>_<sentence>_<EMO>_<level>``; gender from the demographics file, else unknown."""
    m = _CREMAD_RE.match(path.stem)
    if not m or m.group(3) not in CREMAD_EMOTIONS:
        return None
    gender = (genders or {}).get(m.group(1), "unknown")
    if gender not in ("male", "female"):
        gender = "unknown"
    return Utterance(str(path), "cremad", f"cremad:{m.group(1)}", gender, CREMAD_EMOTIONS[m.group(3)])


EMODB_EMOTIONS = {
    "W": "angry",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}  # boredom (L) has no place among the 8 labels and is dropped
EMODB_MALE = {"03", "10", "11", "12", "15"}
_EMODB_RE = re.compile(r"^(\d\d)([a-z]\d\d)([A-Z])([a-z])$")


def parse_emodb(path: Path) -> Utterance | None:
    """``03a01Fa``: speaker, text, emotion letter (German initials), version."""
    m = _EMODB_RE.match(path.stem)
    if not m or m.group(3) not in EMODB_EMOTIONS:
        return None
    spk = m.group(1)
    gender = "male" if spk in EMODB_MALE else "female"
    return Utterance(str(path), "emodb", f"emodb:{spk}", gender, EMODB_EMOTIONS[m.group(3)])


TUREV_EMOTIONS = {"kz": "angry", "sk": "calm", "mt": "happy", "hl": "sad"}
_TUREV_RE = re.compile(r"^(\d{4})_(kz|sk|mt|hl)_(.+)$")


def parse_turevdb(path: Path) -> Utterance | None:
    """``<actor>_<code>_<word>``; the corpus gives no genders."""
    m = _TUREV_RE.match(path.stem)
    if not m:
        return None
    return Utterance(str(path), "turevdb", f"turevdb:{m.group(1)}", "unknown", TUREV_EMOTIONS[m.group(2)])


PARSERS: dict[str, Callable[[Path], Utterance | None]] = {
    "ravdess": parse_ravdess,
    "tess": parse_tess,
    "savee": parse_savee,
    "cremad": parse_cremad,
    "emodb": parse_emodb,
    "turevdb": parse_turevdb,
}
#: Folder names recognised under a data root (lower-cased, '-'/'_' removed).
ALIASES = {"ravdess": "ravdess", "tess": "tess", "savee": "savee", "cremad": "cremad",
           "emodb": "emodb", "turevdb": "turevdb", "turev": "turevdb"}  # fmt: skip


@dataclass
class LoadReport:
    """What a loader found and what it skipped (with reasons kept short)."""

    corpus: str
    found: int = 0
    skipped: int = 0


def load_corpus(name: str, root: str | Path, report: LoadReport | None = None) -> Iterator[Utterance]:
    """Yield the utterances of corpus ``name`` under ``root``."""
    if name not in PARSERS:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(PARSERS)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    genders = _cremad_genders(root) if name == "cremad" else None
    for path in _audio_files(root):
        utt = parse_cremad(path, genders) if name == "cremad" else PARSERS[name](path)
        if report is not None:
            if utt is None:
                report.skipped += 1
            else:
                report.found += 1
        if utt is not None:
            yield utt


def discover(data_root: str | Path) -> dict[str, Path]:
    """Corpus folders directly under ``data_root``, by canonical name."""
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    found: dict[str, Path] = {}
    for child in sorted(root.iterdir()):
        key = ALIASES.get(child.name.lower().replace("-", "").replace("_", ""))
        if key and child.is_dir():
            found[key] = child
    return found


def default_data_root() -> Path | None:
    """``$SERLIVE_DATA``, else ``../shared/data`` beside the checkout, if either exists."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    guess = Path(__file__).resolve().parents[3] / "shared" / "data"
    return guess if guess.is_dir() else None


def load_all(data_root: str | Path, corpora: list[str] | None = None) -> list[Utterance]:
    """Every utterance of the chosen corpora (default: all found) under ``data_root``."""
    found = discover(data_root)
    names = corpora or list(found)
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(f"corpora {missing} not under {data_root} (found: {sorted(found) or 'none'})")
    return [u for n in names for u in load_corpus(n, found[n])]
