"""Corpus loaders from file-name conventions.

Each loader walks a corpus folder (``.wav`` or ``.flac``, any depth) and yields
:class:`Utterance` records in the app's 8-label set.  Labels a corpus lacks
simply never occur.  EmoDB's boredom has no place among the 8 labels and is
dropped (counted in the loader's ``skipped``), as are files whose names do not
follow the convention.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from serlive.config import CORPUS_LICENCES, LABELS

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


def _genders_table(
    root: Path, name: str, speaker: str, gender: str, delimiter: str = ",", encoding: str | None = None
) -> dict[str, str]:
    """Speaker → lower-case gender from the first table ``name`` below ``root``; empty when there is none.

    Ids and genders are stripped (nEMO's ids carry leading spaces); rows missing either are skipped.
    """
    for candidate in root.rglob(name):
        with candidate.open(newline="", encoding=encoding) as fh:
            return {
                row[speaker].strip(): row[gender].strip().lower()
                for row in csv.DictReader(fh, delimiter=delimiter)
                if row.get(speaker) and row.get(gender)
            }
    return {}


def _cremad_genders(root: Path) -> dict[str, str]:
    """Actor genders from CREMA-D's ``VideoDemographics.csv`` when it is present."""
    return _genders_table(root, "VideoDemographics.csv", "ActorID", "Sex")


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


NEMO_EMOTIONS = {
    "anger": "angry", "fear": "fearful", "happiness": "happy",
    "neutral": "neutral", "sadness": "sad", "surprised": "surprised",
}  # fmt: skip
_NEMO_RE = re.compile(r"^([A-Z]{2}\d)_([a-z]+)_(\d+)$")


def _nemo_genders(root: Path) -> dict[str, str]:
    """Speaker genders from nEMO's ``data.tsv`` (speaker ids there carry leading spaces)."""
    return _genders_table(root, "data.tsv", "speaker_id", "gender", delimiter="\t", encoding="utf-8")


def parse_nemo(path: Path, genders: dict[str, str] | None = None) -> Utterance | None:
    """``<SPK>_<emotion>_<n>`` (Polish, acted); gender from ``data.tsv`` when present."""
    m = _NEMO_RE.match(path.stem)
    if not m or m.group(2) not in NEMO_EMOTIONS:
        return None
    gender = (genders or {}).get(m.group(1), "unknown")
    if gender not in ("male", "female"):
        gender = "unknown"
    return Utterance(str(path), "nemo", f"nemo:{m.group(1)}", gender, NEMO_EMOTIONS[m.group(2)])


ASED_EMOTIONS = {"n": "neutral", "f": "fearful", "h": "happy", "s": "sad", "a": "angry"}
_ASED_RE = re.compile(r"^([nfhsaNFHSA])\d+-(\d+)-(\d+)-(0[12])-(\d+)$")


def parse_ased(path: Path) -> Utterance | None:
    """``<e><n>-<sentence>-<take>-<gender>-<speaker>`` (Amharic); gender 01 female, 02 male."""
    m = _ASED_RE.match(path.stem)
    if not m:
        return None
    gender = "female" if m.group(4) == "01" else "male"
    return Utterance(
        str(path), "ased", f"ased:{int(m.group(5)):02d}", gender, ASED_EMOTIONS[m.group(1).lower()]
    )


ESD_EMOTIONS = {
    "angry": "angry",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprised",
}
#: ESD speakers 0011-0020 speak English (0011-0015 female... per the corpus's table); we hold 0020 only.
ESD_GENDERS = {"0020": "male"}
_ESD_RE = re.compile(r"^(\d{4})_(\d{6})$")


def parse_esd(path: Path) -> Utterance | None:
    """``<Emotion>/<spk>_<nnnnnn>``: the emotion is the folder's name."""
    m = _ESD_RE.match(path.stem)
    emotion = ESD_EMOTIONS.get(path.parent.name.lower())
    if not m or emotion is None:
        return None
    spk = m.group(1)
    return Utterance(str(path), "esd", f"esd:{spk}", ESD_GENDERS.get(spk, "unknown"), emotion)


EMOSPEECH_EMOTIONS = {"calm": "calm", "fearful": "fearful", "angry": "angry", "happy": "happy"}
#: The app's "unknown user" hash: clips by many people under one id, so never in validation or test.
EMOSPEECH_UNKNOWN_USER = "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
#: Keywords that are not emotional speech (filler and background recordings).
_EMOSPEECH_NOT_SPEECH = {"unknown", "background"}
_EMOSPEECH_RE = re.compile(r"^([a-z]+)-([a-z]+)-([A-Za-z]+)-(\d{13,14})-([0-9a-f]{16,})$")


def parse_emospeech(path: Path) -> Utterance | None:
    """``<keyword>-<environment>-<emotion>-<timestamp>-<userhash>`` (phone app, in the wild).

    Emotion ``None`` and the ``unknown``/``background`` keywords are dropped;
    the unknown-user hash becomes the train-only speaker ``emospeech:unknown``.
    """
    m = _EMOSPEECH_RE.match(path.stem)
    if not m or m.group(1) in _EMOSPEECH_NOT_SPEECH:
        return None
    emotion = EMOSPEECH_EMOTIONS.get(m.group(3).lower())
    if emotion is None:
        return None
    user = m.group(5)
    speaker = "emospeech:unknown" if user == EMOSPEECH_UNKNOWN_USER else f"emospeech:{user[:12]}"
    return Utterance(str(path), "emospeech", speaker, "unknown", emotion)


#: emotiontts open DB: the file number's hundreds give the emotion (00001-00100 neutral, ...).
EMOTIONTTS_EMOTIONS = ("neutral", "happy", "angry", "sad")
EMOTIONTTS_FEMALE = frozenset({"ema", "emb", "nea", "neb", "nec", "ned", "nee"})
EMOTIONTTS_MALE = frozenset({"emf", "emg", "emh", "nek", "nel", "nem", "nen", "neo"})
#: The corpus's README names speakers A and B in both subsets: ``ema``/``nea`` and ``emb``/``neb``
#: may be the same two women, so each pair is one speaker id and can never straddle a split.
EMOTIONTTS_SAME_PERSON = {"ema": "a", "nea": "a", "emb": "b", "neb": "b"}
_EMOTIONTTS_RE = re.compile(r"^([a-z]{3})(\d{5})$")


def parse_emotiontts(path: Path) -> Utterance | None:
    """``<spk>/wav/<spk><nnnnn>`` (Korean, read speech): number 1-100 neutral, 101-200 happy, ...

    The speaker's three letters give the gender (the corpus's README); numbers
    above 400 and unknown speakers are skipped.
    """
    m = _EMOTIONTTS_RE.match(path.stem)
    if not m:
        return None
    spk, number = m.group(1), int(m.group(2))
    gender = "female" if spk in EMOTIONTTS_FEMALE else "male" if spk in EMOTIONTTS_MALE else None
    if gender is None or not 1 <= number <= 400:
        return None
    emotion = EMOTIONTTS_EMOTIONS[(number - 1) // 100]
    speaker = f"emotiontts:{EMOTIONTTS_SAME_PERSON.get(spk, spk)}"
    return Utterance(str(path), "emotiontts", speaker, gender, emotion)


#: Speakers that stand for many people (a corpus's "unknown user"): training only.
TRAIN_ONLY_SPEAKERS = frozenset({"emospeech:unknown"})


@dataclass(frozen=True)
class ArousalClip:
    """A clip labelled with an arousal level only (BAVED): 0 low, 1 neutral, 2 high."""

    path: str
    corpus: str
    speaker: str
    gender: str
    arousal: int


_BAVED_RE = re.compile(r"^(\d+)-([mf])-(\d+)-(\d+)-([012])-(\d+)$")


def parse_baved(path: Path) -> ArousalClip | None:
    """``<speaker>-<gender>-<age>-<word>-<level>-<record>`` (Arabic words; arousal, not categories)."""
    m = _BAVED_RE.match(path.stem)
    if not m:
        return None
    gender = "male" if m.group(2) == "m" else "female"
    return ArousalClip(str(path), "baved", f"baved:{int(m.group(1)):02d}", gender, int(m.group(5)))


def load_arousal(root: str | Path) -> list[ArousalClip]:
    """BAVED's clips with their arousal level; never categorical labels (the corpus has none)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    return [c for c in map(parse_baved, _audio_files(root)) if c is not None]


PARSERS: dict[str, Callable[[Path], Utterance | None]] = {
    "ravdess": parse_ravdess,
    "tess": parse_tess,
    "savee": parse_savee,
    "cremad": parse_cremad,
    "emodb": parse_emodb,
    "turevdb": parse_turevdb,
    "nemo": parse_nemo,
    "ased": parse_ased,
    "esd": parse_esd,
    "emospeech": parse_emospeech,
    "emotiontts": parse_emotiontts,
}
#: Folder names recognised under a data root (lower-cased, '-'/'_' removed).
ALIASES = {"ravdess": "ravdess", "tess": "tess", "savee": "savee", "cremad": "cremad",
           "emodb": "emodb", "turevdb": "turevdb", "turev": "turevdb", "nemo": "nemo", "ased": "ased",
           "asedv1": "ased", "esd": "esd", "emospeech": "emospeech", "baved": "baved",
           "emotiontts": "emotiontts", "korean": "emotiontts"}  # fmt: skip
#: Corpora under a data root that carry no categorical labels (see :func:`load_arousal`).
AROUSAL_ONLY = frozenset({"baved"})


def licence_note(corpora: list[str]) -> str:
    """The licence line a model inherits from its training corpora."""
    names = ", ".join(CORPUS_LICENCES.get(c, c) for c in corpora)
    return f"trained on {names}: for non-commercial use only"


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
    genders = _cremad_genders(root) if name == "cremad" else _nemo_genders(root) if name == "nemo" else None
    for path in _audio_files(root):
        if name == "cremad":
            utt = parse_cremad(path, genders)
        elif name == "nemo":
            utt = parse_nemo(path, genders)
        else:
            utt = PARSERS[name](path)
        if report is not None:
            if utt is None:
                report.skipped += 1
            else:
                report.found += 1
        if utt is not None:
            yield utt


DataRoots = str | Path | Sequence[str | Path]


def split_roots(data_roots: DataRoots) -> list[Path]:
    """One or several data roots: a path, a list, or paths joined by ``os.pathsep``."""
    if isinstance(data_roots, (str, Path)):
        return [Path(p) for p in str(data_roots).split(os.pathsep) if p]
    return [Path(p) for p in data_roots]


def discover(data_roots: DataRoots) -> dict[str, Path]:
    """Corpus folders directly under each data root, by canonical name.

    Several roots are read in order (``../shared/data`` and a folder of
    restored extra corpora, say); a corpus found under two roots is an error
    rather than a silent choice between two copies.
    """
    found: dict[str, Path] = {}
    for root in split_roots(data_roots):
        if not root.is_dir():
            raise FileNotFoundError(f"data folder not found: {root}")
        for child in sorted(root.iterdir()):
            key = ALIASES.get(child.name.lower().replace("-", "").replace("_", ""))
            if key and child.is_dir():
                if key in found:
                    raise ValueError(f"corpus {key!r} found twice: {found[key]} and {child}")
                found[key] = child
    return found


def default_data_root() -> str | None:
    """``$SERLIVE_DATA`` (one root or several joined by ``os.pathsep``), else ``../shared/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return env
    guess = Path(__file__).resolve().parents[3] / "shared" / "data"
    return str(guess) if guess.is_dir() else None


def command_parser(doc: str | None) -> argparse.ArgumentParser:
    """A training command's parser with ``--data``: every one reads the data roots the same way."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--data", default=None, help="data roots joined by os.pathsep (default $SERLIVE_DATA)")
    return ap


def load_all(data_roots: DataRoots, corpora: list[str] | None = None) -> list[Utterance]:
    """Every utterance of the chosen corpora (default: all categorical ones found) under the roots."""
    found = discover(data_roots)
    names = corpora or [n for n in found if n not in AROUSAL_ONLY]
    arousal = [n for n in names if n in AROUSAL_ONLY]
    if arousal:
        raise ValueError(f"{arousal} carry arousal levels, not emotion labels (see load_arousal)")
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(
            f"corpora {missing} not under {data_roots} (found: {sorted(found) or 'none'})"
        )
    return [u for n in names for u in load_corpus(n, found[n])]
