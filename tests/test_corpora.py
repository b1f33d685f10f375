"""Corpus file-name parsers, discovery, speaker splits and sample weights."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from serlive.config import LABELS
from serlive.train.corpora import (
    LoadReport,
    Utterance,
    discover,
    load_all,
    load_corpus,
    parse_cremad,
    parse_emodb,
    parse_ravdess,
    parse_savee,
    parse_tess,
    parse_turevdb,
)
from serlive.train.fit import sample_weights
from serlive.train.speakers import speakers_arg, split_by_speaker


def _u(parser, name: str, *args):
    utt = parser(Path("/data/x") / name, *args)
    return None if utt is None else (utt.corpus, utt.speaker, utt.gender, utt.emotion)


# --- parsers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("03-01-05-01-01-01-01.wav", ("ravdess", "ravdess:01", "male", "angry")),
        ("03-01-01-01-02-02-12.flac", ("ravdess", "ravdess:12", "female", "neutral")),
        ("03-01-08-02-01-01-23.wav", ("ravdess", "ravdess:23", "male", "surprised")),
        ("01-01-02-01-01-01-24.wav", ("ravdess", "ravdess:24", "female", "calm")),  # video+audio modality
        ("03-02-05-01-01-01-01.wav", None),  # song
        ("03-01-09-01-01-01-01.wav", None),  # no emotion 09
        ("03-01-05-01-01-01.wav", None),  # a field short
        ("03-01-05-01-01-01-01-01.wav", None),
        ("3-1-5-1-1-1-1.wav", None),
        ("readme.wav", None),
    ],
)
def test_parse_ravdess(name, want):
    assert _u(parse_ravdess, name) == want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("OAF_back_angry.wav", ("tess", "tess:OAF", "female", "angry")),
        ("YAF_bite_ps.wav", ("tess", "tess:YAF", "female", "surprised")),
        ("OAF_food_fear.flac", ("tess", "tess:OAF", "female", "fearful")),
        ("OA_bite_neutral.wav", ("tess", "tess:OAF", "female", "neutral")),  # typo'd prefix in TESS
        ("YAF_goose_Sad.wav", ("tess", "tess:YAF", "female", "sad")),
        ("yaf_goose_disgust.wav", ("tess", "tess:YAF", "female", "disgust")),
        ("YAF_happy.wav", None),
        ("OAF_back_bored.wav", None),
        ("XYZ_back_angry.wav", None),
        ("OAF_back_pleasant_surprise.wav", None),  # the folder spelling is not the file convention
    ],
)
def test_parse_tess(name, want):
    assert _u(parse_tess, name) == want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("DC_a01.wav", ("savee", "savee:DC", "male", "angry")),
        ("JE_sa15.wav", ("savee", "savee:JE", "male", "sad")),
        ("KL_su03.flac", ("savee", "savee:KL", "male", "surprised")),
        ("JK_n30.wav", ("savee", "savee:JK", "male", "neutral")),
        ("DC_b01.wav", None),
        ("XX_a01.wav", None),
        ("DC_a1.wav", None),
        ("dc_a01.wav", None),
    ],
)
def test_parse_savee(name, want):
    assert _u(parse_savee, name) == want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("1001_DFA_ANG_XX.wav", ("cremad", "cremad:1001", "male", "angry")),
        ("1002_IEO_HAP_HI.wav", ("cremad", "cremad:1002", "female", "happy")),
        ("1091_TSI_FEA_LO.flac", ("cremad", "cremad:1091", "unknown", "fearful")),
        ("1001_DFA_XXX_XX.wav", None),
        ("1001_DFA_ANG.wav", None),
        ("101_DFA_ANG_XX.wav", None),
    ],
)
def test_parse_cremad(name, want):
    assert _u(parse_cremad, name, {"1001": "male", "1002": "female", "1091": "other"}) == want


def test_parse_cremad_without_demographics():
    assert _u(parse_cremad, "1001_DFA_DIS_MD.wav") == ("cremad", "cremad:1001", "unknown", "disgust")


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("03a01Wa.wav", ("emodb", "emodb:03", "male", "angry")),
        ("08b02Tc.wav", ("emodb", "emodb:08", "female", "sad")),
        ("16a05Fb.flac", ("emodb", "emodb:16", "female", "happy")),
        ("15b09Ea.wav", ("emodb", "emodb:15", "male", "disgust")),
        ("11a02Ac.wav", ("emodb", "emodb:11", "male", "fearful")),
        ("13a07Na.wav", ("emodb", "emodb:13", "female", "neutral")),
        ("03a01La.wav", None),  # boredom: not one of the 8 labels
        ("03a01Xa.wav", None),
        ("3a01Wa.wav", None),
    ],
)
def test_parse_emodb(name, want):
    assert _u(parse_emodb, name) == want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("1157_kz_acik.wav", ("turevdb", "turevdb:1157", "unknown", "angry")),
        ("1358_sk_güneş.flac", ("turevdb", "turevdb:1358", "unknown", "calm")),
        ("2001_mt_iyi_gun.wav", ("turevdb", "turevdb:2001", "unknown", "happy")),
        ("2001_hl_x.wav", ("turevdb", "turevdb:2001", "unknown", "sad")),
        ("1157_zz_acik.wav", None),
        ("115_kz_acik.wav", None),
        ("1157_kz_.wav", None),
    ],
)
def test_parse_turevdb(name, want):
    assert _u(parse_turevdb, name) == want


def test_utterance_rejects_unknown_emotion():
    with pytest.raises(ValueError, match="boredom"):
        Utterance("x.wav", "emodb", "emodb:03", "male", "boredom")


# --- whole trees ------------------------------------------------------------------------
def test_discover(parser_corpus):
    found = discover(parser_corpus.root)
    assert set(found) == {"ravdess", "tess", "savee", "cremad", "emodb", "turevdb"}
    assert found["cremad"].name == "crema-d" and found["turevdb"].name == "TurEV-DB"


def test_discover_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        discover(tmp_path / "nothing")


def test_load_all_finds_exactly_the_expected_files(parser_corpus):
    utts = load_all(parser_corpus.root)
    got = {u.path: (u.corpus, u.speaker, u.gender, u.emotion) for u in utts}
    assert got == parser_corpus.expected
    assert len(utts) == len(got)  # no duplicates
    rejected = {str(p) for p in parser_corpus.rejected}
    assert not rejected & set(got)


def test_load_all_subset_and_order(parser_corpus):
    utts = load_all(parser_corpus.root, ["tess", "ravdess"])
    corpora = [u.corpus for u in utts]
    assert set(corpora) == {"tess", "ravdess"}
    assert corpora == sorted(corpora, key=["tess", "ravdess"].index)  # grouped in the order asked
    with pytest.raises(FileNotFoundError, match="nosuch"):
        load_all(parser_corpus.root, ["ravdess", "nosuch"])


def test_tess_emotion_from_file_name_not_folder(parser_corpus):
    utts = {Path(u.path).name: u for u in load_all(parser_corpus.root, ["tess"])}
    assert utts["OAF_food_fear.wav"].emotion == "fearful"
    assert Path(utts["OAF_food_fear.wav"].path).parent.name == "OAF_Fear"
    assert utts["OA_bite_neutral.wav"].speaker == "tess:OAF"
    assert utts["YAF_goose_ps.flac"].emotion == "surprised"
    assert {u.speaker for u in utts.values()} == {"tess:OAF", "tess:YAF"}


def test_load_report_counts(parser_corpus):
    report = LoadReport("ravdess")
    utts = list(load_corpus("ravdess", parser_corpus.root / "ravdess", report))
    n_rejected = sum(1 for p in parser_corpus.rejected if "ravdess" in p.parts)
    assert report.found == len(utts) == len(parser_corpus.speakers("ravdess")) * len(LABELS)
    assert report.skipped == n_rejected  # readme.txt is not audio and not counted


def test_emodb_boredom_dropped(parser_corpus):
    emodb = list(load_corpus("emodb", parser_corpus.root / "emodb"))
    assert sorted(Path(u.path).stem for u in emodb) == ["03a01Wa", "08b02Tc"]


def test_cremad_genders_from_demographics(parser_corpus):
    genders = {u.speaker: u.gender for u in load_corpus("cremad", parser_corpus.root / "crema-d")}
    assert genders == {"cremad:1001": "male", "cremad:1002": "female", "cremad:1003": "unknown"}


def test_load_corpus_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus"):
        list(load_corpus("iemocap", tmp_path))
    with pytest.raises(FileNotFoundError):
        list(load_corpus("ravdess", tmp_path / "missing"))


@pytest.mark.data
def test_real_data_layout(shared_data):
    """On the real corpora: labels, speakers and genders as documented in its README."""
    utts = load_all(shared_data, ["ravdess"])
    assert len(utts) == 1200
    speakers = {u.speaker for u in utts}
    assert speakers == {f"ravdess:{i:02d}" for i in range(1, 21)}
    assert Counter(u.gender for u in utts) == {"male": 600, "female": 600}


# --- splits and weights ----------------------------------------------------------------
def test_speakers_arg():
    assert speakers_arg("ravdess:17-20,tess:OAF") == [
        "ravdess:17",
        "ravdess:18",
        "ravdess:19",
        "ravdess:20",
        "tess:OAF",
    ]
    assert speakers_arg("ravdess:01-03") == ["ravdess:01", "ravdess:02", "ravdess:03"]
    assert speakers_arg("cremad:1001-1002, emodb:03") == ["cremad:1001", "cremad:1002", "emodb:03"]
    assert speakers_arg("") == []
    assert speakers_arg(" , ") == []


def test_split_by_speaker_is_disjoint_and_complete(parser_corpus):
    utts = load_all(parser_corpus.root)
    val = speakers_arg("ravdess:02,savee:DC")
    test = speakers_arg("ravdess:01,tess:OAF")
    tr, va, te = split_by_speaker(utts, val, test)
    assert sorted(tr + va + te) == list(range(len(utts)))
    spk = [{utts[i].speaker for i in part} for part in (tr, va, te)]
    assert spk[1] == set(val) and spk[2] == set(test)
    assert not (spk[0] & spk[1]) and not (spk[0] & spk[2]) and not (spk[1] & spk[2])
    assert "tess:YAF" in spk[0] and "emodb:03" in spk[0]


#: A speaker in --val/--test that the data does not have must be refused, not silently
#: leave the intended test speakers in training.
def test_split_by_speaker_refuses_unknown_speakers(parser_corpus):
    utts = load_all(parser_corpus.root, ["ravdess"])
    with pytest.raises(ValueError, match="ravdess:99"):
        split_by_speaker(utts, ["ravdess:02"], speakers_arg("ravdess:99"))


def test_split_by_speaker_numbers_match_by_value(parser_corpus):
    """``ravdess:1-2`` means the actors the corpus calls ``ravdess:01`` and ``ravdess:02``."""
    utts = load_all(parser_corpus.root, ["ravdess"])
    _tr, va, te = split_by_speaker(utts, speakers_arg("ravdess:2"), speakers_arg("ravdess:1-1"))
    assert {utts[i].speaker for i in va} == {"ravdess:02"}
    assert {utts[i].speaker for i in te} == {"ravdess:01"}
    with pytest.raises(ValueError, match="both validation and test"):
        split_by_speaker(utts, ["ravdess:1"], ["ravdess:01"])


def test_split_by_speaker_refuses_overlap(parser_corpus):
    utts = load_all(parser_corpus.root, ["ravdess"])
    with pytest.raises(ValueError, match="ravdess:01"):
        split_by_speaker(utts, ["ravdess:01"], speakers_arg("ravdess:01-02"))


def _utts(spec: list[tuple[str, str, str, int]]) -> list[Utterance]:
    out = []
    for corpus, speaker, emotion, n in spec:
        out += [
            Utterance(f"{speaker}_{emotion}_{k}.wav", corpus, speaker, "female", emotion) for k in range(n)
        ]
    return out


def test_sample_weights_balance_classes():
    utts = _utts(
        [
            ("tess", "tess:OAF", "angry", 50),
            ("tess", "tess:OAF", "sad", 50),
            ("tess", "tess:YAF", "angry", 50),
            ("ravdess", "ravdess:01", "angry", 2),
            ("ravdess", "ravdess:01", "sad", 4),
            ("ravdess", "ravdess:02", "happy", 1),
            ("ravdess", "ravdess:03", "happy", 9),
        ]
    )
    w = sample_weights(utts, {"tess": 3.0})
    assert w.dtype == np.float32 and w.shape == (len(utts),)
    assert np.all(w > 0)
    assert w.mean() == pytest.approx(1.0, rel=1e-5)
    per_class = Counter()
    for u, wi in zip(utts, w, strict=True):
        per_class[u.emotion] += float(wi)
    totals = list(per_class.values())
    assert len(totals) == 3
    np.testing.assert_allclose(totals, totals[0], rtol=1e-5)
    # within a (speaker, emotion) cell every clip weighs the same, and a cell's total does not
    # depend on how many clips it has (before the corpus factor)
    happy = {u.speaker: float(wi) for u, wi in zip(utts, w, strict=True) if u.emotion == "happy"}
    assert happy["ravdess:02"] == pytest.approx(9 * happy["ravdess:03"], rel=1e-5)
    # the corpus factor: a TESS angry cell (50 clips) vs the RAVDESS angry cell (2 clips)
    ang = [(u, float(wi)) for u, wi in zip(utts, w, strict=True) if u.emotion == "angry"]
    tess_cell = sum(wi for u, wi in ang if u.speaker == "tess:OAF")
    ravdess_cell = sum(wi for u, wi in ang if u.speaker == "ravdess:01")
    assert tess_cell == pytest.approx(3 * ravdess_cell, rel=1e-5)


def test_sample_weights_on_fake_tree(parser_corpus):
    utts = load_all(parser_corpus.root)
    w = sample_weights(utts, {"tess": 3.0})
    per_class = Counter()
    for u, wi in zip(utts, w, strict=True):
        per_class[u.emotion] += float(wi)
    assert set(per_class) == set(LABELS)
    np.testing.assert_allclose(list(per_class.values()), len(utts) / len(LABELS), rtol=1e-5)
