"""Calibration profiles: the file format, the model's check, ``serlive calibrate``/``profiles``/``--profile``.

The labelled set is made here with espeak-ng: two voices made to differ in pitch and rate stand for
two labels.  Their sentences differ between the enrolment and the held-out clips, so a profile that
separates the held-out clips has learnt the voices, not the words.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from serlive.cli import main
from serlive.model import EmotionModel, ModelError
from serlive.profiles.store import (
    Profile,
    ProfileError,
    list_profiles,
    load_profile,
    profile_path,
    profiles_dir,
    save_profile,
)
from tests.conftest import ESPEAK, tone, write_audio
from tests.voices import TRAIN, make_voices


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Enrolment folders (own labels low/high; the model's labels sad/happy) and held-out clips."""
    if ESPEAK is None:
        pytest.skip("espeak-ng not installed")
    return make_voices(tmp_path_factory.mktemp("voices"))


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    return EmotionModel()


def _predict_csv(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    """``serlive predict --format csv``: path → label."""
    capsys.readouterr()  # what came before (calibrate's report)
    assert main(["predict", "--format", "csv", "--jobs", "1", *args]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    return {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: r["label"] for r in rows}


def _accuracy(labels: dict[str, str], truth: dict[str, str]) -> float:
    return float(np.mean([labels[k] == truth[k.split("/")[0]] for k in labels]))


# --- the CLI on the synthetic voices ------------------------------------------------------------------
def test_own_labels_profile_learns_two_voices(voices, profile_home, capsys):
    assert main(["calibrate", str(voices["own"]), "--name", "voices"]) == 0
    out = capsys.readouterr().out
    assert "own" in out and "saved" in out and profile_path("voices").is_file()
    test = voices["test"]
    labels = _predict_csv(capsys, str(test / "low"), str(test / "high"), "--profile", "voices")
    assert set(labels.values()) <= {"low", "high"}  # only the profile's labels are shown
    assert _accuracy(labels, {"low": "low", "high": "high"}) >= 0.875


def test_calibration_separates_two_labels_the_plain_model_confuses(voices, profile_home, tmp_path, capsys):
    out_file = tmp_path / "mine.json"
    assert main(["calibrate", str(voices["model"]), "--out", str(out_file)]) == 0
    captured = capsys.readouterr()
    assert "label 'Happy' read as 'happy'" in captured.err  # a case-only difference, said, not refused
    profile = load_profile(out_file)
    assert profile.kind == "calibration" and profile.labels == ("happy", "sad")
    assert profile.clips == {"happy": len(TRAIN), "sad": len(TRAIN)}
    test, truth = voices["test"], {"low": "sad", "high": "happy"}
    plain = _predict_csv(capsys, str(test / "low"), str(test / "high"), "--labels", "happy,sad")
    fitted = _predict_csv(capsys, str(test / "low"), str(test / "high"), "--profile", str(out_file))
    assert _accuracy(plain, truth) <= 0.75, plain  # the plain model calls most low-voice clips happy
    assert _accuracy(fitted, truth) >= 0.875, fitted


def test_a_profile_runs_alike_on_one_core_and_on_worker_processes(voices, profile_home, capsys):
    assert main(["calibrate", str(voices["own"]), "--name", "v"]) == 0
    files = [str(p) for p in sorted((voices["test"]).rglob("*.wav"))]
    capsys.readouterr()
    assert main(["predict", "--format", "json", "--jobs", "1", "--profile", "v", *files]) == 0
    one = capsys.readouterr().out
    assert main(["predict", "--format", "json", "--jobs", "2", "--profile", "v", *files]) == 0
    assert capsys.readouterr().out == one
    assert {json.loads(line)["label"] for line in one.splitlines()} == {"low", "high"}


def test_profile_from_the_environment_and_none_turns_it_off(voices, profile_home, capsys, monkeypatch):
    assert main(["calibrate", str(voices["own"]), "--name", "env"]) == 0
    clip = str(next((voices["test"] / "low").iterdir()))
    monkeypatch.setenv("SERLIVE_PROFILE", "env")
    assert set(_predict_csv(capsys, clip).values()) <= {"low", "high"}
    plain = _predict_csv(capsys, clip, "--profile", "none")
    assert set(plain.values()) <= set(EmotionModel().meta.labels)
    # a profile is already fitted to a voice: --session beside it is refused, not silently ignored
    assert main(["predict", clip, "--session"]) == 2
    assert "--session and --profile" in capsys.readouterr().err


def test_profiles_lists_shows_and_deletes(voices, profile_home, capsys):
    assert main(["calibrate", str(voices["own"]), "--name", "one"]) == 0
    (profile_home / "broken.json").write_text("{not json")
    capsys.readouterr()
    assert main(["profiles"]) == 0
    listing = capsys.readouterr().out
    assert "one: own, high, low; 12 clips" in listing and "broken.json: unreadable" in listing
    assert main(["profiles", "show", "one"]) == 0
    assert "overall" in capsys.readouterr().out
    assert main(["profiles", "delete", "one"]) == 0
    assert not profile_path("one").exists()
    assert main(["profiles", "delete", "one"]) == 1
    assert "no profile named 'one'" in capsys.readouterr().err


# --- bad input ------------------------------------------------------------------------------------------
def test_bad_enrolments_are_refused_by_name_and_nothing_is_written(voices, profile_home, tmp_path, capsys):
    src = voices["own"]
    one_label = tmp_path / "one"
    (one_label / "low").mkdir(parents=True)
    for f in list((src / "low").iterdir())[:3]:
        (one_label / "low" / f.name).write_bytes(f.read_bytes())
    assert main(["calibrate", str(one_label), "--name", "x"]) == 2
    assert "only one label" in capsys.readouterr().err

    # 'high' keeps one clip with speech; a tone (no speech) and a broken file are listed, not fatal
    thin = tmp_path / "thin"
    (thin / "low").mkdir(parents=True)
    (thin / "high").mkdir(parents=True)
    for f in list((src / "low").iterdir())[:3]:
        (thin / "low" / f.name).write_bytes(f.read_bytes())
    (thin / "high" / "a.wav").write_bytes(next((src / "high").iterdir()).read_bytes())
    write_audio(thin / "high" / "beep.wav", tone(440.0, 2.0))
    (thin / "high" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    assert main(["calibrate", str(thin), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "skipped (no speech heard)" in err and "beep.wav" in err
    assert "skipped (unreadable)" in err and "broken.wav" in err
    assert "too few for: high (1)" in err
    assert (
        not profile_path("x").exists() and not any(profile_home.glob("*")) if profile_home.exists() else True
    )


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_an_unwritable_profile_folder_is_a_clear_message(voices, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("SERLIVE_PROFILE_DIR", str(locked))
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: make the folder a file instead
            locked.chmod(0o700)
            locked.rmdir()
            locked.write_text("a file where the folder should be")
        assert main(["calibrate", str(voices["own"]), "--name", "x"]) == 1
        assert "cannot write the profile" in capsys.readouterr().err
    finally:
        if locked.is_dir():
            locked.chmod(0o700)
    assert not list(tmp_path.glob("**/*.tmp"))


# --- the file format -------------------------------------------------------------------------------------
@pytest.fixture
def saved(voices, profile_home, capsys) -> Profile:
    assert main(["calibrate", str(voices["own"]), "--name", "fmt"]) == 0
    capsys.readouterr()
    return load_profile("fmt")


def test_round_trip_keeps_every_field_and_the_same_outputs(saved, tmp_path, model):
    again = load_profile(save_profile(saved, tmp_path / "copy.json"))
    for field in ("name", "kind", "labels", "model_labels", "model_sha256", "method", "clips", "created"):
        assert getattr(again, field) == getattr(saved, field)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5, model.embedding_dim)).astype(np.float32)
    plain = rng.dirichlet(np.ones(len(model.meta.labels)), size=5).astype(np.float32)
    np.testing.assert_array_equal(again.apply(emb, plain), saved.apply(emb, plain))
    assert (tmp_path / "copy.json").stat().st_size < 1 << 20
    assert saved.model_sha256 == model.sha256


def test_a_profile_of_another_model_is_refused(saved, tmp_path, tiny_models):
    text = json.loads(saved.path.read_text())
    text.pop("sha256")
    text["model_sha256"] = "0" * 64
    other = Profile.from_json(_signed(text))
    with pytest.raises(ModelError, match="fit it again"):
        EmotionModel(profile=other)
    with pytest.raises(ModelError, match="gives no embeddings"):  # a CNN has no embedding to map
        EmotionModel(tiny_models.int8, profile=saved)


def test_damaged_profiles_are_refused(saved, tmp_path):
    good = saved.path.read_text()
    cases = {
        "cut.json": good[: len(good) // 2],
        "edited.json": good.replace('"name": "fmt"', '"name": "fmx"'),
        "empty.json": "",
        "binary.json": None,
    }
    for name, text in cases.items():
        p = tmp_path / name
        if text is None:
            p.write_bytes(bytes(range(256)))
        else:
            p.write_text(text)
        with pytest.raises(ProfileError) as exc:
            load_profile(p)
        assert str(p) in str(exc.value)
    newer = json.loads(good)
    newer["version"] = 99
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    with pytest.raises(ProfileError, match="version 99"):
        load_profile(tmp_path / "newer.json")


def test_the_profiles_folder_follows_the_platform_convention(monkeypatch, tmp_path):
    monkeypatch.delenv("SERLIVE_PROFILE_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert profiles_dir() == tmp_path / "xdg" / "serlive" / "profiles"
    assert list_profiles() == []
    assert profile_path("me") == tmp_path / "xdg" / "serlive" / "profiles" / "me.json"
    assert profile_path("./me.json") == Path("./me.json")


def _signed(body: dict) -> str:
    from serlive.profiles.store import _digest

    return json.dumps({**body, "sha256": _digest(body)})


def test_listen_judges_through_the_profile(voices, profile_home, capsys):
    from serlive.audio.sources import FileSource
    from serlive.cli import commands as cli
    from tests.voices import load16k

    assert main(["calibrate", str(voices["own"]), "--name", "live"]) == 0
    y = np.concatenate([load16k(p) for p in sorted((voices["test"] / "high").iterdir())])
    args = cli.build_parser().parse_args(["listen", "--format", "json", "--profile", "live"])
    capsys.readouterr()
    assert cli.cmd_listen(args, source=FileSource(samples=y, realtime=False)) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    voiced = [r for r in recs if not r["silent"]]
    assert voiced and all(set(r["probabilities"]) == {"high", "low"} for r in voiced)
    assert sum(r["label"] == "high" for r in voiced) >= 0.8 * len(voiced)
    args = cli.build_parser().parse_args(["listen", "--profile", "live", "--adapt"])
    assert cli.cmd_listen(args, source=FileSource(samples=y, realtime=False)) == 2


def test_the_python_api_loads_a_model_through_a_profile(voices, profile_home):
    import serlive

    assert main(["calibrate", str(voices["own"]), "--name", "api"]) == 0
    model = serlive.load_model(profile="api")
    result = serlive.analyse_file(next((voices["test"] / "low").iterdir()), model)
    assert set(result.probabilities) == {"high", "low"} and result.label in ("high", "low")
    assert {"high", "low"} <= set(result.to_dict()) and "neutral" not in result.to_dict()
    with pytest.raises(ModelError, match="no profile named 'nope'"):
        serlive.load_model(profile="nope")


def test_the_app_tells_a_profile_asked_for_from_none_asked_for(monkeypatch):
    """``--profile none`` (or the variable) is the general model now; nothing given is last time's choice."""
    from serlive.cli.args import build_parser
    from serlive.cli.profiles import asked_profile, profile_ref

    monkeypatch.delenv("SERLIVE_PROFILE", raising=False)
    parse = build_parser().parse_args
    assert asked_profile(parse(["gui"])) is None and profile_ref(parse(["gui"])) is None
    assert asked_profile(parse(["gui", "--profile", "none"])) == "none"
    assert profile_ref(parse(["gui", "--profile", "none"])) is None
    monkeypatch.setenv("SERLIVE_PROFILE", "me")
    assert asked_profile(parse(["gui"])) == "me" == profile_ref(parse(["predict", "x.wav"]))
    assert asked_profile(parse(["gui", "--profile", "none"])) == "none"


def test_a_profile_of_many_examples_stays_under_a_megabyte(tmp_path):
    """The examples kept for refits are capped, so a long-taught profile is still a small file."""
    from serlive.config import LABELS
    from serlive.profiles.build import MAX_EXAMPLES, make_profile, with_example
    from serlive.profiles.methods import Enrolment

    rng = np.random.default_rng(0)
    n, d = MAX_EXAMPLES + 120, 1024
    y = np.arange(n) % len(LABELS)
    x = rng.normal(size=(n, d)).astype(np.float32) + 0.5 * np.eye(len(LABELS), d, dtype=np.float32)[y]
    plain = rng.dirichlet(np.ones(len(LABELS)), size=n).astype(np.float32)
    profile = make_profile("big", Enrolment(x, plain, y, LABELS, LABELS), "calibration", "0" * 64, "m.tflite")
    path = save_profile(profile, tmp_path / "big.json")
    assert path.stat().st_size < 1 << 20
    again = with_example(load_profile(path), x[0], plain[0], LABELS[0])
    assert len(again.examples["labels"]) == MAX_EXAMPLES
    assert save_profile(again, path).stat().st_size < 1 << 20
