"""The TFLite model at run time: loading, metadata, refusal of unusable models, prediction."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serlive.config import LABELS, FeatureConfig, WindowConfig
from serlive.model import (
    DEFAULT_MODEL_NAME,
    METADATA_NAME,
    EmotionModel,
    ModelError,
    ModelMetadata,
    check_compatible,
    default_model_path,
    describe_model,
    model_date,
    read_tflite_metadata,
    shipped_model_path,
)
from tests.conftest import REPO, speechlike, spoken

#: the one place in the checkout for shipped models (package data)
MODELS_DIR = REPO / "serlive" / "models"
SHIPPED = MODELS_DIR / DEFAULT_MODEL_NAME


def shipped_training_date(path: Path = SHIPPED) -> str:
    """A shipped model's training date as its metadata says (tests compare with this, not a literal, so
    that switching the default model is the one line in serlive/model.py)."""
    meta = ModelMetadata.from_json(read_tflite_metadata(path.read_bytes())[METADATA_NAME])
    date = model_date(meta)
    assert date, f"{path} carries no training date ('trained' in its metadata)"
    return date


def _meta(**kw) -> ModelMetadata:
    base = dict(labels=LABELS, features=FeatureConfig(), windows=WindowConfig(), normalisation={"type": "t"})
    return ModelMetadata(**(base | kw))


@pytest.fixture(scope="module")
def int8(tiny_models) -> EmotionModel:
    return EmotionModel(tiny_models.int8)


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return (0.7 * np.random.default_rng(3).standard_normal((5, 149, 64, 1))).astype(np.float32)


# --- loading and metadata ---------------------------------------------------------------
def test_tiny_model_loads_with_its_metadata(tiny_models, int8):
    assert int8.labels == LABELS
    assert int8.input_shape == (149, 64, 1)
    assert int8.meta.features == FeatureConfig()
    assert int8.meta.windows == WindowConfig()
    assert int8.meta.extra["architecture"] == "cnn2d"
    assert int8.meta.extra["training"] == {"note": "tiny test model"}
    assert int8.path == tiny_models.int8
    assert int8.extractor.cfg == FeatureConfig()


def test_read_tflite_metadata_returns_the_json(tiny_models):
    entries = read_tflite_metadata(tiny_models.int8.read_bytes())
    assert METADATA_NAME in entries
    d = json.loads(entries[METADATA_NAME])
    assert d["format"] == "serlive" and d["version"] == 1
    assert d["labels"] == list(LABELS)
    assert d["features"] == FeatureConfig().to_dict()
    assert d["windows"]["window_s"] == 3.0 and d["windows"]["hop_s"] == 0.5
    # to_json_dict is the inverse of from_json
    assert ModelMetadata.from_json(entries[METADATA_NAME]).to_json_dict() == d


def test_plain_model_has_no_serlive_metadata(tiny_models):
    assert METADATA_NAME not in read_tflite_metadata(tiny_models.plain_bytes)


def test_metadata_survives_a_second_attach(tiny_models):
    """Re-exporting replaces the entry rather than adding a second one."""
    pytest.importorskip("tensorflow")
    from serlive.train.export import attach_metadata

    once = attach_metadata(tiny_models.plain_bytes, _meta(extra={"run": 1}))
    twice = attach_metadata(once, _meta(extra={"run": 2}))
    entries = read_tflite_metadata(twice)
    assert json.loads(entries[METADATA_NAME])["run"] == 2


def test_frame_vector_model(tiny_models):
    m = EmotionModel(tiny_models.frame_vector)
    assert m.meta.features.kind == "frame_vector"
    assert m.input_shape == (149, 34)
    assert m.extractor.mean is not None and m.extractor.mean.shape == (34,)
    x = m.extractor(speechlike(3.0))
    p = m.predict(x)
    assert p.shape == (1, 8)
    assert p.sum() == pytest.approx(1.0, abs=1e-5)


# --- prediction ------------------------------------------------------------------------
def test_predict_gives_probabilities(int8, inputs):
    p = int8.predict(inputs)
    assert p.shape == (5, 8) and p.dtype == np.float32
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_predict_batch_sizes_are_consistent(int8, inputs):
    whole = int8.predict(inputs)
    singles = np.concatenate([int8.predict(x) for x in inputs])  # no batch axis: one example
    np.testing.assert_allclose(singles, whole, atol=1e-6)
    np.testing.assert_allclose(int8.predict(inputs[:2]), whole[:2], atol=1e-6)
    assert int8.predict(inputs[:0]).shape == (0, 8)


def test_predict_refuses_wrong_shape(int8):
    with pytest.raises(ValueError, match="input shape"):
        int8.predict(np.zeros((2, 100, 64, 1), np.float32))


def test_int8_float32_and_keras_agree(tiny_models, inputs):
    """The export keeps the network: float32 TFLite equals Keras; int8 is close to both."""
    keras_p = np.asarray(tiny_models.keras_model(inputs, training=False))
    f32 = EmotionModel(tiny_models.float32).predict(inputs)
    q = EmotionModel(tiny_models.int8).predict(inputs)
    np.testing.assert_allclose(f32, keras_p, atol=1e-4)
    assert np.max(np.abs(q - f32)) < 0.05


def test_predict_on_real_features(int8):
    x = int8.extractor(speechlike(3.0, seed=2))
    assert x.shape == int8.input_shape
    p = int8.predict(x)
    assert p.shape == (1, 8) and np.isfinite(p).all()


# --- refusal -------------------------------------------------------------------------
def _refused(path: Path, *fragments: str) -> ModelError:
    with pytest.raises(ModelError) as info:
        EmotionModel(path)
    msg = str(info.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg, msg
    return info.value


def test_wrong_labels_refused(tiny_models):
    path = tiny_models.with_metadata(_meta(labels=tuple(reversed(LABELS))), "reversed.tflite")
    _refused(path, "labels", "differ")


def test_wrong_label_count_refused(tiny_models):
    path = tiny_models.with_metadata(_meta(labels=LABELS[:7]), "seven.tflite")
    _refused(path, "labels")


def test_missing_metadata_refused(tiny_models):
    _refused(tiny_models.plain, "no serlive metadata")


def test_features_that_do_not_fit_the_network_refused(tiny_models):
    """Metadata for 8 kHz audio (10 ms frame hop) describes 299 frames; the network takes 149."""
    meta = _meta(features=FeatureConfig(sample_rate=8000, fmax=4000.0, hop_length=80, n_fft=160))
    _refused(tiny_models.with_metadata(meta, "8k.tflite"), "input shape", "(299, 64)")


def test_window_hop_off_the_frame_grid_refused(tiny_models):
    """0.5 s at 8 kHz is 4000 samples: not a whole number of 320-sample frame hops."""
    meta = _meta(features=FeatureConfig(sample_rate=8000, fmax=4000.0))
    _refused(tiny_models.with_metadata(meta, "8k-hop.tflite"), "frame hops")


def test_wrong_feature_kind_refused(tiny_models):
    meta = _meta(
        features=FeatureConfig(kind="frame_vector"), normalisation={"mean": [0] * 34, "std": [1] * 34}
    )
    _refused(tiny_models.with_metadata(meta, "kind.tflite"), "input shape")


def test_wrong_format_or_version_refused(tiny_models):
    _refused(tiny_models.with_metadata(_meta(extra={"version": 2}), "v2.tflite"), "v2", "'serlive' v1")
    _refused(tiny_models.with_metadata(_meta(extra={"format": "other"}), "fmt.tflite"), "'other'")


def test_wrong_sample_rate_refused():
    meta = _meta()
    check_compatible(meta, expected_rate=16000)
    with pytest.raises(ModelError, match=r"16000 Hz.*22050 Hz"):
        check_compatible(meta, expected_rate=22050)
    with pytest.raises(ModelError, match="8000 Hz"):
        check_compatible(_meta(features=FeatureConfig(sample_rate=8000, fmax=4000.0)), expected_rate=16000)


def test_check_compatible_other_problems():
    with pytest.raises(ModelError, match="Nyquist"):
        check_compatible(_meta(features=replace(FeatureConfig(), fmax=9000.0)))
    with pytest.raises(ModelError, match="normalisation"):
        check_compatible(_meta(features=FeatureConfig(kind="frame_vector")))
    with pytest.raises(ModelError, match="non-positive"):
        check_compatible(_meta(windows=WindowConfig(window_s=0.0)))
    with pytest.raises(ModelError, match="labels"):
        check_compatible(_meta(labels=("a", "b")))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\xff\xfe", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"format": "serlive", "version": 1}', "incomplete or malformed"),
        (b'{"format": "tflite", "version": 1}', "format"),
    ],
)
def test_from_json_errors(raw, fragment):
    with pytest.raises(ModelError, match=fragment):
        ModelMetadata.from_json(raw)


def test_from_json_unknown_feature_key():
    d = _meta().to_json_dict()
    d["features"]["n_bins"] = 3
    with pytest.raises(ModelError, match="n_bins"):
        ModelMetadata.from_json(json.dumps(d).encode())


#: A model's own silence threshold survives the metadata round trip.
def test_window_config_round_trips():
    meta = _meta(windows=WindowConfig(window_s=3.0, hop_s=0.5, silence_dbfs=-42.0))
    back = ModelMetadata.from_json(json.dumps(meta.to_json_dict()).encode())
    assert back.windows == meta.windows


#: Values of the wrong type or an unusable window hop are a ModelError at load, not a
#: traceback later in ``serlive predict``.


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["features"].update(sample_rate="16000"), id="rate-as-string"),
        pytest.param(lambda d: d["windows"].update(hop_s=0.33), id="hop-not-multiple-of-frame-hop"),
        pytest.param(lambda d: d["windows"].update(hop_s=0.0), id="zero-hop"),
    ],
)
def test_malformed_metadata_values_are_model_errors(mutate):
    d = _meta().to_json_dict()
    mutate(d)
    with pytest.raises(ModelError):
        check_compatible(ModelMetadata.from_json(json.dumps(d).encode()))


def test_truncated_model_refused(tiny_models, tmp_path):
    data = tiny_models.int8.read_bytes()
    for cut in (len(data) // 2, len(data) - 16, 64, 7):
        path = tmp_path / f"cut{cut}.tflite"
        path.write_bytes(data[:cut])
        _refused(path)


def test_random_bytes_refused(tmp_path):
    path = tmp_path / "random.tflite"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    _refused(path, "not a TFLite flatbuffer")
    path2 = tmp_path / "random_tfl3.tflite"
    path2.write_bytes(b"\x10\x00\x00\x00TFL3" + np.random.default_rng(2).bytes(5000))
    _refused(path2)


def test_empty_missing_and_folder_refused(tmp_path):
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    _refused(empty, "not a TFLite flatbuffer")
    _refused(tmp_path / "missing.tflite", "not found")
    folder = tmp_path / "dir.tflite"
    folder.mkdir()
    _refused(folder, "cannot read model")


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(body=st.binary(min_size=0, max_size=400))
def test_metadata_reader_never_crashes_on_garbage(body):
    data = b"\x0c\x00\x00\x00TFL3" + body
    try:
        out = read_tflite_metadata(data)
    except ModelError:
        return
    assert isinstance(out, dict)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_metadata_reader_never_crashes_on_corrupted_models(tiny_models, data):
    buf = bytearray(tiny_models.int8.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(8, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    try:
        out = read_tflite_metadata(bytes(buf))
    except ModelError:
        return
    assert isinstance(out, dict)


# --- the Keras side ----------------------------------------------------------------------
def test_average_models_averages_member_outputs(inputs):
    keras = pytest.importorskip("keras")
    from serlive.train.fit import average_models
    from serlive.train.nets import cnn2d

    keras.utils.set_random_seed(5)
    members = [cnn2d((149, 64, 1), 8, width=2) for _ in range(2)]
    want = np.mean([np.asarray(m(inputs, training=False)) for m in members], axis=0)
    ens = average_models(members)
    np.testing.assert_allclose(np.asarray(ens(inputs, training=False)), want, atol=1e-6)
    assert average_models(members[:1]) is members[0]


def test_architectures_fit_the_size_budget():
    pytest.importorskip("keras")
    from serlive.train.nets import cnn1d, cnn2d

    # int8 weights: one byte per parameter; the shipped budget is 500 KB
    assert cnn2d((149, 64, 1), 8, width=16).count_params() < 450_000
    assert cnn1d((149, 34), 8, width=64).count_params() < 450_000


# --- the shipped model --------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> Path:
    if not SHIPPED.exists():
        pytest.skip(f"{SHIPPED} not present yet")
    return SHIPPED


def test_shipped_model_loads(shipped):
    m = EmotionModel()  # the default path is the shipped model
    assert m.path == shipped.resolve() or m.path == shipped
    assert m.labels == LABELS
    assert len(m.labels) == 8
    check_compatible(m.meta, expected_rate=16000)
    x = m.extractor(speechlike(3.0))
    p = m.predict(x)
    assert p.shape == (1, 8) and p.sum() == pytest.approx(1.0, abs=1e-4)


def test_shipped_model_sizes():
    """All model files together within the 30 MB budget."""
    from serlive.model import SHIPPED_MODELS

    sizes = {short: shipped_model_path(name).stat().st_size for short, name in SHIPPED_MODELS.items()}
    assert sum(sizes.values()) <= 30 * 1000 * 1000


@pytest.mark.parametrize("short", ["whisper"])
def test_shipped_model_is_speaker_independent(short):
    """The held-out RAVDESS actors 21-24 and the declared test speakers never trained it."""
    m = EmotionModel(short)
    training = m.meta.extra.get("training")
    if training is None:
        pytest.skip("shipped model carries no training provenance")
    assert "train_speakers" in training, "training provenance lacks train_speakers"
    train = set(training["train_speakers"])
    assert not train & {f"ravdess:{i}" for i in range(21, 25)}
    assert not train & set(training.get("test_speakers", []))
    assert not train & set(training.get("val_speakers", []))


def test_default_model_path_points_into_the_checkout(monkeypatch):
    """The editable install finds the shipped model in the package folder of the checkout."""
    monkeypatch.delenv("SERLIVE_MODEL", raising=False)
    assert default_model_path() == SHIPPED == shipped_model_path()
    assert shipped_model_path("other.tflite") == MODELS_DIR / "other.tflite"


def test_serlive_model_overrides_the_default(monkeypatch, tiny_models):
    monkeypatch.setenv("SERLIVE_MODEL", str(tiny_models.int8))
    assert default_model_path() == tiny_models.int8
    assert EmotionModel().path == tiny_models.int8


def test_serlive_model_takes_the_names_model_takes(monkeypatch, tmp_path):
    """``SERLIVE_MODEL=whisper`` is the shipped model, as ``--model whisper`` is (issue 28, item 12:
    ``cnn`` said "cnn: model file not found"); the live engine, which the app builds without a path,
    follows it; a retired model's name says why it is gone, in both."""
    from serlive.live.engine import Engine
    from serlive.model import SHIPPED_MODELS

    for short, name in SHIPPED_MODELS.items():
        for value in (short, name):
            monkeypatch.setenv("SERLIVE_MODEL", value)
            assert default_model_path() == shipped_model_path(name)
    monkeypatch.setenv("SERLIVE_MODEL", "whisper")
    assert EmotionModel().meta.features.kind == "whisper_logmel"
    assert Engine(None).extractor.cfg.kind == "whisper_logmel"
    monkeypatch.setenv("SERLIVE_MODEL", "cnn")
    with pytest.raises(ModelError, match="retired on 2026-12-07"):
        EmotionModel()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SERLIVE_MODEL", "nosuch")
    with pytest.raises(ModelError, match="nosuch"):
        EmotionModel()


def test_shipped_models_are_package_data():
    """Every model file in serlive/models matches a package-data glob, so wheels and sdists carry it."""
    import fnmatch
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = setuptools["package-data"]["serlive"]
    files = [p.relative_to(REPO / "serlive").as_posix() for p in MODELS_DIR.iterdir() if p.is_file()]
    assert f"models/{DEFAULT_MODEL_NAME}" in files and "models/README.md" in files
    missing = [f for f in files if f.endswith(".tflite") and not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing
    assert any(fnmatch.fnmatch("models/serlive-encoder.tflite", g) for g in globs)  # a model added later
    assert not (REPO / "models").exists(), "one place for model files: serlive/models"


def test_describe_model_names_the_file_and_its_date(tiny_models, tmp_path):
    dated = tiny_models.with_metadata(_meta(extra={"trained": "2026-11-22"}), "dated.tflite")
    assert describe_model(dated) == f"{dated} (trained 2026-11-22)"
    old = tiny_models.with_metadata(_meta(extra={"created": "2025-01-02T03:04:05Z"}), "old.tflite")
    assert describe_model(old) == f"{old} (trained 2025-01-02T03:04:05Z)"
    undated = tiny_models.with_metadata(_meta(), "undated.tflite")
    assert describe_model(undated) == f"{undated} (training date not recorded)"
    assert describe_model(tmp_path / "none.tflite").startswith(f"{tmp_path / 'none.tflite'} (cannot read it:")
    assert describe_model(tiny_models.plain) == f"{tiny_models.plain} (no serlive metadata in the model)"


def test_shipped_models_carry_their_training_date(shipped):
    """What ``serlive --version`` shows: every shipped model says when it was trained."""
    for path in MODELS_DIR.glob("*.tflite"):
        assert describe_model(path) == f"{path} (trained {shipped_training_date(path)})"


# --- bad models through the command line -------------------------------------------------------
def _bad_models(tiny_models, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name → (path, a fragment the one error line must contain)."""
    data = tiny_models.int8.read_bytes()
    (tmp_path / "empty.tflite").write_bytes(b"")
    (tmp_path / "folder.tflite").mkdir()
    (tmp_path / "half.tflite").write_bytes(data[: len(data) // 2])
    (tmp_path / "head.tflite").write_bytes(data[:64])
    (tmp_path / "random.tflite").write_bytes(np.random.default_rng(3).bytes(4000))
    (tmp_path / "model.wav").write_bytes(b"RIFF" + bytes(200))  # a foreign file under any name
    reversed_labels = tiny_models.with_metadata(_meta(labels=tuple(reversed(LABELS))), "mismatch.tflite")
    rate_8k = _meta(features=FeatureConfig(sample_rate=8000, fmax=4000.0, hop_length=80, n_fft=160))
    return {
        "missing": (tmp_path / "none.tflite", "not found"),
        "empty": (tmp_path / "empty.tflite", "not a TFLite flatbuffer"),
        "folder": (tmp_path / "folder.tflite", "cannot read model"),
        "truncated-half": (tmp_path / "half.tflite", "TFLite"),
        "truncated-header": (tmp_path / "head.tflite", "TFLite"),
        "random-bytes": (tmp_path / "random.tflite", "not a TFLite flatbuffer"),
        "foreign-file": (tmp_path / "model.wav", "not a TFLite flatbuffer"),
        "foreign-tflite": (tiny_models.plain, "no serlive metadata"),
        "labels-mismatch": (reversed_labels, "labels"),
        "features-mismatch": (tiny_models.with_metadata(rate_8k, "8k-cli.tflite"), "input shape"),
    }


@pytest.mark.parametrize("command", ["predict", "listen"])
def test_bad_models_give_one_clear_line_from_the_cli(tiny_models, tmp_path, capsys, monkeypatch, command):
    """Each bad model: exit 2, nothing on stdout, one ``serlive`` line naming the file and the problem."""
    from serlive.audio import sources
    from serlive.cli import commands as cli

    def no_device():
        raise AssertionError("a bad model must be refused before any device is opened")

    monkeypatch.setattr(sources, "load_backend", no_device)
    clip = tmp_path / "clip.wav"
    import soundfile as sf

    sf.write(str(clip), speechlike(3.5), 16000)
    for name, (path, fragment) in _bad_models(tiny_models, tmp_path).items():
        argv = [command, str(clip)] if command == "predict" else [command, "--duration", "1"]
        rc = cli.main([*argv, "--model", str(path)])
        captured = capsys.readouterr()
        assert rc == 2 and captured.out == "", name
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in captured.err, (name, captured.err)
        assert lines[0].startswith(f"serlive{'' if command == 'predict' else ' listen'}: "), (name, lines)
        assert str(path) in lines[0] and fragment in lines[0], (name, lines[0])


def test_the_shipped_model_still_works_after_a_bad_one(tmp_path, capsys, monkeypatch):
    """A bad --model changes nothing for the next run: the default (shipped) model loads and predicts."""
    import soundfile as sf

    from serlive.audio import sources
    from serlive.cli import commands as cli
    from tests.fake_sounddevice import FakeSoundDevice, device

    clip = tmp_path / "clip.wav"
    sf.write(str(clip), spoken(3.5), 16000)
    assert cli.main(["predict", str(clip), "--model", str(tmp_path / "none.tflite")]) == 2
    capsys.readouterr()
    assert cli.main(["predict", str(clip), "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["label"] in LABELS and rec["duration_s"] == 3.5
    sd = FakeSoundDevice([device("pulse", 32, 32)], default=0)
    sd.signal, sd.speed = speechlike(4.0), 8.0
    monkeypatch.setattr(sources, "load_backend", lambda: sd)
    assert cli.main(["listen", "--duration", "1", "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert "listening to pulse" in err and "Traceback" not in err


def test_runtime_chatter_filtered_other_output_kept(capfd):
    """The runtime's INFO line is dropped; anything else written to fd 2 meanwhile still arrives."""
    import os

    from serlive.model import _runtime_chatter_filtered

    with _runtime_chatter_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"a real warning\n")
    assert capfd.readouterr().err == "a real warning\n"


def test_predict_stderr_is_clean(make_audio):
    """No runtime chatter ahead of a command's output: stderr of a good predict run is empty."""
    path = make_audio("clean.wav", spoken(3.5))
    res = subprocess.run(
        [sys.executable, "-m", "serlive.cli", "predict", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert json.loads(res.stdout)["label"] in LABELS


def test_shipped_models_by_short_name(tmp_path, monkeypatch):
    from serlive.model import SHIPPED_MODELS, resolve_model_path, shipped_model_path

    for short, name in SHIPPED_MODELS.items():
        assert resolve_model_path(short) == shipped_model_path(name)
        assert resolve_model_path(name) == shipped_model_path(name)
        assert EmotionModel(short).path == shipped_model_path(name)
    # the default is the encoder model; the small CNN is retired, and its name says so
    assert EmotionModel().meta.features.kind == "whisper_logmel"
    for retired in ("cnn", "serlive-cnn.tflite"):
        with pytest.raises(ModelError, match="retired"):
            EmotionModel(retired)
    # a real file of that name wins over a shipped (or retired) model's name
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cnn").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cnn"):
        EmotionModel("cnn")
    assert resolve_model_path("nosuch.tflite") == Path("nosuch.tflite")


def test_encoder_model_runs_one_window_per_call_with_the_same_outputs():
    """The encoder model is invoked a window at a time (cheaper per window), which must not change
    any number: probabilities and embeddings equal those of one call over the whole batch."""
    from serlive.model import ENCODER_INVOKE_BATCH

    sliced = EmotionModel()
    whole = EmotionModel(invoke_batch=64)
    assert sliced.invoke_batch == ENCODER_INVOKE_BATCH and whole.invoke_batch == 64
    rng = np.random.default_rng(3)
    y = np.concatenate([speechlike(3.0, seed=i, f0=120 + 15 * i) for i in range(5)])
    y = y + 0.01 * rng.standard_normal(len(y)).astype(np.float32)
    x = np.stack([sliced.extractor(y[i * 8000 : i * 8000 + 48000]) for i in range(5)])
    p1, e1 = sliced.encode(x)
    p2, e2 = whole.encode(x)
    assert p1.shape == (5, 8) and e1.shape == (5, sliced.embedding_dim)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(sliced.predict(x), p2)
