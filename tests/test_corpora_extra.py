"""Loaders of the five extra corpora (nEMO, ASED, ESD, EmoSpeech, BAVED) and several data roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serlive.train.corpora import (
    EMOSPEECH_UNKNOWN_USER,
    discover,
    load_all,
    load_arousal,
    parse_ased,
    parse_baved,
    parse_emospeech,
    parse_emotiontts,
    parse_esd,
    parse_nemo,
)
from serlive.train.speakers import split_by_speaker
from tests.conftest import CorpusBuilder, FakeCorpus

OTHER_USER = "9dd2014cc6e9" + "0" * 44


def _u(parser, rel: str, *args):
    utt = parser(Path("/data") / rel, *args)
    return None if utt is None else (utt.corpus, utt.speaker, utt.gender, utt.emotion)


@pytest.mark.parametrize(
    ("name", "genders", "want"),
    [
        ("KS0_surprised_70.wav", {"KS0": "male"}, ("nemo", "nemo:KS0", "male", "surprised")),
        ("EB0_anger_1.flac", {"EB0": "female"}, ("nemo", "nemo:EB0", "female", "angry")),
        ("EB0_happiness_2.wav", {}, ("nemo", "nemo:EB0", "unknown", "happy")),
        ("EB0_fear_3.wav", None, ("nemo", "nemo:EB0", "unknown", "fearful")),
        ("EB0_sadness_3.wav", None, ("nemo", "nemo:EB0", "unknown", "sad")),
        ("EB0_bored_3.wav", None, None),
        ("EB0_neutral.wav", None, None),
    ],
)
def test_parse_nemo(name, genders, want):
    assert _u(parse_nemo, f"samples/{name}", genders) == want


@pytest.mark.parametrize(
    ("rel", "want"),
    [
        ("05Angry/a5-03-01-02-50.wav", ("ased", "ased:50", "male", "angry")),
        ("04Sad/S4-04-02-01-29.wav", ("ased", "ased:29", "female", "sad")),  # the upper-case quirk
        ("01Neutral/n1-01-01-01-4.wav", ("ased", "ased:04", "female", "neutral")),
        ("02Fearful/f2-03-02-02-65.flac", ("ased", "ased:65", "male", "fearful")),
        ("03Happy/h3-03-02-03-65.wav", None),  # gender 03 does not exist
        ("03Happy/x3-03-02-02-65.wav", None),
        ("03Happy/h3-03-02-02.wav", None),
    ],
)
def test_parse_ased(rel, want):
    assert _u(parse_ased, rel) == want


@pytest.mark.parametrize(
    ("rel", "want"),
    [
        ("0020/Surprise/0020_001512.wav", ("esd", "esd:0020", "male", "surprised")),
        ("0020/Angry/0020_000351.wav", ("esd", "esd:0020", "male", "angry")),
        ("0011/Sad/0011_001100.wav", ("esd", "esd:0011", "unknown", "sad")),
        ("0020/Bored/0020_000001.wav", None),
        ("0020/Angry/0020_1.wav", None),
    ],
)
def test_parse_esd(rel, want):
    assert _u(parse_esd, rel) == want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        (f"bacho-safe-calm-20190710134657-{EMOSPEECH_UNKNOWN_USER}.wav",
         ("emospeech", "emospeech:unknown", "unknown", "calm")),
        (f"go-safe-angry-1563255334515-{OTHER_USER}.wav",
         ("emospeech", "emospeech:9dd2014cc6e9", "unknown", "angry")),
        (f"help-danger-fearful-1563255334515-{OTHER_USER}.wav",
         ("emospeech", "emospeech:9dd2014cc6e9", "unknown", "fearful")),
        (f"yes-safe-None-1563255334515-{OTHER_USER}.wav", None),  # not emotional speech
        (f"unknown-safe-calm-1563255334515-{OTHER_USER}.wav", None),  # filler keyword
        (f"background-safe-calm-1563255334515-{OTHER_USER}.wav", None),
        ("go-safe-calm-1563255334515.wav", None),
    ],
)  # fmt: skip
def test_parse_emospeech(name, want):
    assert _u(parse_emospeech, f"Railway/{name}") == want


def test_parse_baved_gives_arousal_not_emotion():
    clip = parse_baved(Path("/data/3/56-f-40-3-2-884.wav"))
    assert clip is not None
    assert (clip.corpus, clip.speaker, clip.gender, clip.arousal) == ("baved", "baved:56", "female", 2)
    assert parse_baved(Path("/data/3/56-x-40-3-2-884.wav")) is None
    assert parse_baved(Path("/data/3/56-m-40-3-3-884.wav")) is None


def build_extra_corpus(root: Path) -> FakeCorpus:
    """The five extra corpora as restore.py lays them out, with files to skip."""
    b = CorpusBuilder(root, dur=0.4)
    (root / "nemo").mkdir(parents=True)
    (root / "nemo" / "data.tsv").write_text(
        "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage\n"
        "KS0_anger_1.wav\tanger\tx\tx\t        KS0\tmale\t23\n"
        "EB0_fear_2.wav\tfear\tx\tx\t        EB0\tfemale\t27\n",
        encoding="utf-8",
    )
    b.add("nemo/samples/KS0_anger_1.wav", "angry", ("nemo", "nemo:KS0", "male"))
    b.add("nemo/samples/EB0_fear_2.wav", "fearful", ("nemo", "nemo:EB0", "female"))
    b.add("ased/05Angry/a5-03-01-02-50.wav", "angry", ("ased", "ased:50", "male"))
    b.add("ased/04Sad/S4-04-02-01-29.wav", "sad", ("ased", "ased:29", "female"))
    b.add("esd/Emotion Speech Dataset/0020/Happy/0020_000701.wav", "happy", ("esd", "esd:0020", "male"))
    (root / "esd" / "Emotion Speech Dataset" / "0020" / "0020.txt").write_text("0020_000701\tx\tHappy\n")
    b.add(f"emospeech/House/stop-safe-angry-20190709085906-{EMOSPEECH_UNKNOWN_USER}.wav", "angry",
          ("emospeech", "emospeech:unknown", "unknown"))  # fmt: skip
    b.add(f"emospeech/webservice/go-safe-happy-1563255334515-{OTHER_USER}.wav", "happy",
          ("emospeech", "emospeech:9dd2014cc6e9", "unknown"))  # fmt: skip
    b.add(f"emospeech/webservice/yes-safe-None-1563255334515-{OTHER_USER}.wav", "neutral", None)
    b.add(f"emospeech/Metro/background-safe-calm-1563255334515-{OTHER_USER}.wav", "calm", None)
    b.add("baved/3/56-f-40-3-2-884.wav", "angry", None)  # arousal only: never a categorical clip
    return b.corpus


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> FakeCorpus:
    return build_extra_corpus(tmp_path_factory.mktemp("extra"))


def test_load_all_extra_finds_exactly_the_expected_files(extra):
    utts = load_all(extra.root)
    got = {u.path: (u.corpus, u.speaker, u.gender, u.emotion) for u in utts}
    assert got == extra.expected
    assert {u.corpus for u in utts} == {"nemo", "ased", "esd", "emospeech"}


def test_baved_is_arousal_only(extra):
    assert "baved" in discover(extra.root)
    with pytest.raises(ValueError, match="arousal"):
        load_all(extra.root, ["baved"])
    clips = load_arousal(extra.root / "baved")
    assert [(c.speaker, c.arousal) for c in clips] == [("baved:56", 2)]


def test_several_data_roots(extra, parser_corpus, monkeypatch):
    both = [parser_corpus.root, extra.root]
    found = discover(both)
    assert {"ravdess", "tess", "nemo", "ased", "esd", "emospeech", "baved"} <= set(found)
    joined = f"{parser_corpus.root}{os.pathsep}{extra.root}"
    assert discover(joined) == found
    utts = load_all(joined, ["ravdess", "nemo"])
    assert {u.corpus for u in utts} == {"ravdess", "nemo"}
    with pytest.raises(ValueError, match="found twice"):
        discover([extra.root, extra.root])


def test_unknown_user_is_train_only(extra):
    utts = load_all(extra.root, ["emospeech"])
    with pytest.raises(ValueError, match="only be trained on"):
        split_by_speaker(utts, [], ["emospeech:unknown"])
    tr, va, te = split_by_speaker(utts, [], ["emospeech:9dd2014cc6e9"])
    assert [utts[i].speaker for i in tr] == ["emospeech:unknown"] and not va and len(te) == 1


def test_evaluate_reads_two_data_roots(extra, parser_corpus, tiny_models, tmp_path, capsys):
    pytest.importorskip("sklearn", reason="evaluate needs the [train] extra")
    import json

    from serlive.cli import main

    out = tmp_path / "ev"
    argv = ["evaluate", "--model", str(tiny_models.int8), "--data", str(parser_corpus.root),
            "--data", str(extra.root), "--corpora", "ravdess,nemo,ased", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    s = json.loads((out / "report.json").read_text())["summary"]
    assert set(s["per_corpus"]) == {"ravdess", "nemo", "ased"}
    want = sum(
        1
        for v in {**parser_corpus.expected, **extra.expected}.values()
        if v[0] in ("ravdess", "nemo", "ased")
    )
    assert s["files"] == s["scored"] == want


@pytest.mark.parametrize(
    ("rel", "want"),
    [
        ("plain-to-emotional/nek/wav/nek00003.wav", ("emotiontts", "emotiontts:nek", "male", "neutral")),
        ("plain-to-emotional/nek/wav/nek00101.wav", ("emotiontts", "emotiontts:nek", "male", "happy")),
        ("emotional-to-emotional/emb/wav/emb00205.wav", ("emotiontts", "emotiontts:b", "female", "angry")),
        ("plain-to-emotional/neb/wav/neb00400.wav", ("emotiontts", "emotiontts:b", "female", "sad")),
        ("plain-to-emotional/nec/wav/nec00401.wav", None),  # no emotion past 400
        ("plain-to-emotional/xyz/wav/xyz00001.wav", None),  # not one of the 15 speakers
        ("plain-to-emotional/nec/wav/nec0001.wav", None),
    ],
)
def test_parse_emotiontts(rel, want):
    assert _u(parse_emotiontts, "emotiontts/Dataset/SpeechCorpus/Emotional/" + rel) == want


def test_emotiontts_fake_tree_and_same_person_split(tmp_path):
    """The Korean corpus as restore.py lays it out; ema/nea (maybe one woman) are one speaker."""
    b = CorpusBuilder(tmp_path, dur=0.3)
    base = "emotiontts/Dataset/SpeechCorpus/Emotional"
    b.add(f"{base}/emotional-to-emotional/ema/wav/ema00001.wav", "neutral",
          ("emotiontts", "emotiontts:a", "female"))  # fmt: skip
    b.add(f"{base}/plain-to-emotional/nea/wav/nea00302.wav", "sad",
          ("emotiontts", "emotiontts:a", "female"))  # fmt: skip
    b.add(f"{base}/plain-to-emotional/neo/wav/neo00104.wav", "happy",
          ("emotiontts", "emotiontts:neo", "male"))  # fmt: skip
    (tmp_path / base / "plain-to-emotional" / "neo" / "script").mkdir(parents=True)
    (tmp_path / base / "plain-to-emotional" / "neo" / "script" / "neo00104.txt").write_text("x")
    utts = load_all(tmp_path)
    got = {u.path: (u.corpus, u.speaker, u.gender, u.emotion) for u in utts}
    assert got == b.corpus.expected
    tr, _, te = split_by_speaker(utts, [], ["emotiontts:a"])
    assert sorted(utts[i].path.split("/")[-1] for i in te) == ["ema00001.wav", "nea00302.wav"]
    assert [utts[i].speaker for i in tr] == ["emotiontts:neo"]
