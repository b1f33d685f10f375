"""An encoder model (Whisper front end + blocks + pooled head) exported and run by the app's own code."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from serlive.adaptation import AdaptationConfig
from serlive.config import LABELS, WHISPER_FEATURES
from serlive.files.analysis import analyse_file, analyse_signal
from serlive.model import EmotionModel, ModelError

pytest.importorskip("tensorflow")

SR = 16000


def _weights(rng: np.random.Generator, n_layers: int = 1) -> dict[str, np.ndarray]:
    """Random weights shaped like Whisper base's encoder (d = 512, 8 heads), as read_ct2 returns them."""
    d, f = 512, 2048

    def r(*shape: int, scale: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "conv1/weight": r(d, 80, 3), "conv1/bias": r(d), "conv2/weight": r(d, d, 3), "conv2/bias": r(d),
        "position_encodings/encodings": r(1500, d), "layer_norm/gamma": np.ones(d, np.float32),
        "layer_norm/beta": np.zeros(d, np.float32),
    }  # fmt: skip
    for i in range(n_layers):
        p = f"layer_{i}/"
        w |= {
            p + "self_attention/layer_norm/gamma": np.ones(d, np.float32),
            p + "self_attention/layer_norm/beta": r(d), p + "self_attention/linear_0/weight": r(3 * d, d),
            p + "self_attention/linear_0/bias": r(3 * d), p + "self_attention/linear_1/weight": r(d, d),
            p + "self_attention/linear_1/bias": r(d), p + "ffn/layer_norm/gamma": np.ones(d, np.float32),
            p + "ffn/layer_norm/beta": r(d), p + "ffn/linear_0/weight": r(f, d),
            p + "ffn/linear_0/bias": r(f), p + "ffn/linear_1/weight": r(d, f), p + "ffn/linear_1/bias": r(d),
        }  # fmt: skip
    return w


def _voice(seconds: float, f0: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.1
    return (y + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def encoder_model(tmp_path_factory):
    from serlive.train.encoder_model import (
        build_adapt_model,
        build_full_model,
        export_encoder_model,
        metadata,
    )
    from serlive.train.protocol import HeadConfig, fit_head

    rng = np.random.default_rng(0)
    cfg = HeadConfig(layers=(1,), hidden=16, epochs=2)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    y = rng.integers(0, len(LABELS), 64)
    head = fit_head(x, y, np.ones(64, np.float32), cfg)
    model = build_full_model(_weights(rng), head, cfg.layers)
    adapt = build_adapt_model(fit_head(x, y[::-1].copy(), np.ones(64, np.float32), cfg), 1024)
    from serlive.features import FeatureExtractor

    ext = FeatureExtractor(WHISPER_FEATURES)
    check = np.stack([ext(_voice(3.0, 100 + 40 * i, i)) for i in range(6)])
    path = tmp_path_factory.mktemp("enc") / "enc.tflite"
    meta = metadata({"architecture": "test", "adaptation": ADAPT.to_dict()})
    report = export_encoder_model(model, meta, path, check, adapt)
    return path, report, model, adapt


ADAPT = AdaptationConfig(statistics="mean_std", min_speech_s=4.0)


def test_exported_encoder_model_loads_and_matches_keras(encoder_model):
    path, report, keras_model, _ = encoder_model
    m = EmotionModel(path)
    assert m.meta.features == WHISPER_FEATURES
    assert m.input_shape == (298, 80)
    assert "trained" in m.meta.extra
    # int8 weights, float activations: a quarter of the float file's weight bytes, same answers
    assert report["size_bytes"] < 0.4 * report["float32_size_bytes"]
    assert report["tflite_float32_vs_keras_max_abs_prob_diff"] < 1e-4
    assert report["int8_vs_float32_max_abs_prob_diff"] < 0.05
    x = m.extractor(_voice(3.0, 150, 9))
    p = m.predict(x[None])
    np.testing.assert_allclose(p.sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(p, keras_model.predict(x[None], verbose=0)["probabilities"], atol=0.05)


def test_the_adapt_signature_runs_the_second_head_on_normalised_embeddings(encoder_model):
    path, report, keras_model, adapt = encoder_model
    m = EmotionModel(path)
    assert m.adaptation == ADAPT and m.embedding_dim == 1024
    assert report["adapt_tflite_float32_vs_keras_max_abs_prob_diff"] < 1e-4
    xs = np.stack([m.extractor(_voice(3.0, 110 + 30 * i, 20 + i)) for i in range(4)])
    probs, emb = m.encode(xs)
    np.testing.assert_allclose(probs, m.predict(xs), atol=1e-6)
    keras_out = keras_model.predict(xs, verbose=0)
    np.testing.assert_allclose(emb, keras_out["embedding"], atol=0.05 * np.abs(keras_out["embedding"]).max())
    mean, scale = emb.mean(axis=0), emb.std(axis=0) + 1e-3
    adapted = m.adapt(emb, mean, scale)
    want = adapt.predict([emb, np.tile(mean, (4, 1)), np.tile(scale, (4, 1))], verbose=0)["probabilities"]
    np.testing.assert_allclose(adapted, want, atol=0.05)
    np.testing.assert_allclose(adapted.sum(axis=1), 1.0, atol=1e-5)
    # the second head is a different head: on the same windows it does not repeat the first
    assert np.abs(adapted - probs).max() > 0.01
    # the session statistics reach it: another session's mean gives other answers
    assert np.abs(m.adapt(emb, mean + 3 * scale, scale) - adapted).max() > 1e-3


def test_adaptation_metadata_and_signatures_must_agree(encoder_model, tmp_path):
    from serlive.train.encoder_model import convert_float
    from serlive.train.export import attach_metadata

    m = EmotionModel(encoder_model[0])
    # an adaptation block on a file without the 'adapt' signature
    lone = tmp_path / "lone.tflite"
    lone.write_bytes(attach_metadata(convert_float(encoder_model[2]), m.meta))
    with pytest.raises(ModelError, match="must come together"):
        EmotionModel(lone)
    # statistics the app does not know how to form
    odd = tmp_path / "odd.tflite"
    meta = dataclasses.replace(
        m.meta, extra={**m.meta.extra, "adaptation": {"statistics": "median", "min_speech_s": 5}}
    )
    odd.write_bytes(attach_metadata(convert_float(encoder_model[2], encoder_model[3]), meta))
    with pytest.raises(ModelError, match="cannot honour"):
        EmotionModel(odd)
    # without the block and without the signature: a plain model that cannot adapt
    plain = tmp_path / "plain.tflite"
    meta = dataclasses.replace(m.meta, extra={k: v for k, v in m.meta.extra.items() if k != "adaptation"})
    plain.write_bytes(attach_metadata(convert_float(encoder_model[2]), meta))
    p = EmotionModel(plain)
    assert p.adaptation is None and p.embedding_dim == 1024
    with pytest.raises(ModelError, match="no session adaptation"):
        p.adapt(np.zeros((1, 1024), np.float32), np.zeros(1024), np.ones(1024))


def test_encoder_model_runs_the_file_path(encoder_model):
    m = EmotionModel(encoder_model[0])
    y = np.concatenate([_voice(2.0, 120, 1), np.zeros(SR, np.float32), _voice(2.5, 200, 2)])
    assert m.meta.windows.hop_s == 0.5 and m.meta.windows.file_hop_s == 2.0
    a = analyse_signal(y, m)
    # files: the model's file hop (5.5 s: windows at 0 and 2 s, and one ending at the end), live: 0.5 s
    assert [w.start_s for w in a.windows] == [0.0, 2.0, 2.5]
    assert a.probabilities.shape == (8,)
    dense = analyse_signal(y, m, windows=m.meta.windows.for_files().__class__(hop_s=0.5))
    assert [w.start_s for w in dense.windows] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    # a window the two share gets the same probabilities either way
    np.testing.assert_allclose(dense.windows[4].probabilities, a.windows[1].probabilities, atol=1e-6)
    # silence padding does not move the pooled embedding: the same word alone or padded in its window
    word = _voice(1.0, 160, 3)
    padded = np.concatenate([word, np.full(2 * SR, 0.0, np.float32)])
    shifted = np.concatenate([np.zeros(SR // 2, np.float32), word, np.zeros(3 * SR // 2, np.float32)])
    p1, p2 = m.predict(np.stack([m.extractor(padded), m.extractor(shifted)]))
    assert np.abs(p1 - p2).max() < 0.1


def test_metadata_that_does_not_fit_the_input_is_refused(encoder_model, tmp_path):
    import dataclasses

    from serlive.model import ModelMetadata
    from serlive.train.encoder_model import convert_float
    from serlive.train.export import attach_metadata

    bad = ModelMetadata(
        LABELS,
        dataclasses.replace(WHISPER_FEATURES, n_mels=64),
        __import__("serlive.config").config.WindowConfig(),
        {},
        {},
    )
    path = tmp_path / "bad.tflite"
    path.write_bytes(attach_metadata(convert_float(encoder_model[2]), bad))
    with pytest.raises(ModelError, match="does not match"):
        EmotionModel(path)


def test_a_file_hop_off_the_frame_grid_is_refused():
    from serlive.config import WindowConfig
    from serlive.model import ModelMetadata, check_compatible

    ok = ModelMetadata(LABELS, WHISPER_FEATURES, WindowConfig(file_hop_s=1.5), {}, {})
    check_compatible(ok)
    assert ok.windows.for_files().hop_s == 1.5 and ok.windows.hop_s == 0.5
    bad = ModelMetadata(LABELS, WHISPER_FEATURES, WindowConfig(file_hop_s=1.505), {}, {})
    with pytest.raises(ModelError, match=r"1\.505 s"):
        check_compatible(bad)
    # and the metadata round trip keeps the file hop
    assert ModelMetadata.from_json(__import__("json").dumps(ok.to_json_dict()).encode()).windows == ok.windows


def test_predict_session_judges_files_against_their_own_speaker(encoder_model, tmp_path, capsys):
    import json

    from serlive.cli import main
    from tests.conftest import spoken, write_audio

    path = str(encoder_model[0])
    files = [str(write_audio(tmp_path / f"take{i}.wav", spoken(7.0, start_s=2.0 * i))) for i in range(3)]

    def predict(*args: str) -> list[dict]:
        assert main(["predict", "--format", "json", "--model", path, *args]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    plain = predict(*files)
    session = predict("--session", *files)
    assert [r["adapted"] for r in plain] == [False] * 3
    assert [r["adapted"] for r in session] == [True] * 3  # 3 files x 3 voiced windows x 2 s >= 4 s
    assert max(abs(plain[0]["probabilities"][k] - session[0]["probabilities"][k]) for k in LABELS) > 1e-3
    # one speaker's statistics over all the files: take0's answer depends on the others given with it
    other = predict("--session", files[0], files[0], files[0])
    assert other[0]["adapted"]
    assert max(abs(other[0]["probabilities"][k] - session[0]["probabilities"][k]) for k in LABELS) > 1e-4
    # too little speech for the statistics: said on stderr, and the plain answers stand
    short = str(write_audio(tmp_path / "short.wav", spoken(3.0)))
    assert main(["predict", "--session", "--format", "json", "--model", path, short]) == 0
    out, err = capsys.readouterr()
    rec = json.loads(out)
    assert rec["adapted"] is False and "not adapted" in err
    assert rec["probabilities"] == predict(short)[0]["probabilities"]


def test_predict_session_needs_a_model_that_can_adapt(capsys, tmp_path, tiny_models):
    from serlive.cli import main
    from tests.conftest import spoken, write_audio

    f = str(write_audio(tmp_path / "a.wav", spoken(3.0)))
    assert main(["predict", "--session", "--model", str(tiny_models.int8), f]) == 2
    assert "has no session adaptation" in capsys.readouterr().err


def test_evaluate_session_adapts_each_speaker_on_their_own_files(encoder_model, tmp_path):
    import json

    from serlive.train.corpora import Utterance
    from serlive.train.evaluate import evaluate_utterances
    from tests.conftest import spoken, write_audio

    model = EmotionModel(encoder_model[0])
    a_files = [write_audio(tmp_path / f"a{i}.wav", spoken(7.0, start_s=i)) for i in range(3)]
    utts = [Utterance(str(f), "fake", "fake:a", "male", "happy") for f in a_files]
    utts.append(
        Utterance(str(write_audio(tmp_path / "b.wav", spoken(3.0))), "fake", "fake:b", "female", "sad")
    )
    rep = evaluate_utterances(model, utts, tmp_path / "report", plots=False, session=True)
    # the speech heard: the VAD's voiced share of each window's new samples (issue 20, item 5), at most
    # the audio itself: speaker a's 3 x 7 s (>= 4 s: adapted), speaker b's 3 s (< 4 s: not)
    heard = {
        spk: sum(
            w.new_speech_s
            for u in utts
            if u.speaker == spk
            for w in analyse_file(u.path, model, keep_embeddings=True).windows
            if not w.silent
        )
        for spk in ("fake:a", "fake:b")
    }
    got = rep["summary"]["speech_per_speaker_s"]
    assert got == pytest.approx(heard, abs=0.05)
    assert 4.0 <= got["fake:a"] <= 21.0 and 0.0 < got["fake:b"] < 4.0
    rows = json.loads((tmp_path / "report" / "predictions.json").read_text())
    assert [r["adapted"] for r in rows] == [True, True, True, False]


def test_a_blended_session_shows_the_mean_of_both_heads(encoder_model):
    """With ``blend`` in the adaptation block, ``predict --session`` windows mix the plain head's answer
    into the adapted head's by that share (the shipped model has blend 0.5)."""
    import dataclasses

    from serlive.files.analysis import adapt_to_session, analyse_signal
    from serlive.model import EmotionModel
    from tests.conftest import spoken

    model = EmotionModel(encoder_model[0])
    assert model.adaptation is not None
    model.adaptation = dataclasses.replace(model.adaptation, blend=0.25)
    analyses = [analyse_signal(spoken(7.0, start_s=2.0 * i), model, keep_embeddings=True) for i in range(3)]
    plain = [w.probabilities.copy() for a in analyses for w in a.windows]
    assert adapt_to_session(analyses, model) >= model.adaptation.min_speech_s
    embs = np.stack([w.embedding for a in analyses for w in a.windows])
    voiced = np.array([not w.silent for a in analyses for w in a.windows])
    adapted = model.adapt(embs, embs[voiced].mean(axis=0), embs[voiced].std(axis=0) + model.adaptation.floor)
    got = np.stack([w.probabilities for a in analyses for w in a.windows])
    np.testing.assert_allclose(got, 0.75 * adapted + 0.25 * np.stack(plain), atol=1e-4)
    assert EmotionModel().adaptation.blend == 0.5  # what ships


def test_an_ensemble_head_shows_the_mean_of_its_members_in_the_exported_graph():
    from serlive.train.encoder_model import build_adapt_model
    from serlive.train.protocol import HeadConfig, fit_head

    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 1024)).astype(np.float32)
    y = rng.integers(0, len(LABELS), 96)
    head = fit_head(x, y, np.ones(96, np.float32), HeadConfig(hidden=16, epochs=2, n_heads=3))
    members = [layer for layer in head.layers if layer.name.startswith("head")]
    assert len(members) == 3
    member_probs = np.stack([m.predict(x[:8], verbose=0) for m in members])
    # members differ (their seeds do), and the head is their mean
    assert np.abs(member_probs[0] - member_probs[1]).max() > 1e-3
    np.testing.assert_allclose(head.predict(x[:8], verbose=0), member_probs.mean(axis=0), atol=1e-6)
    # the graph the export builds (dropout left out) averages the same members
    adapt = build_adapt_model(head, 1024)
    zero, one = np.zeros((8, 1024), np.float32), np.ones((8, 1024), np.float32)
    out = adapt.predict([x[:8], zero, one], verbose=0)["probabilities"]
    np.testing.assert_allclose(out, member_probs.mean(axis=0), atol=1e-5)
    # the first member is the single head of the same recipe
    single = fit_head(x, y, np.ones(96, np.float32), HeadConfig(hidden=16, epochs=2))
    np.testing.assert_allclose(single.predict(x[:8], verbose=0), member_probs[0], atol=1e-5)


def test_gradient_reversal_passes_values_and_turns_the_gradient():
    import tensorflow as tf

    from serlive.train.protocol import gradient_reversal

    x = tf.constant([[1.0, -2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = gradient_reversal(0.4, name="reverse")(x)
        total = tf.reduce_sum(out * tf.constant([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(out.numpy(), x.numpy())
    np.testing.assert_allclose(tape.gradient(total, x).numpy(), [[-0.4, -0.8, -1.2]], rtol=1e-6)


def test_adversarial_head_stops_reading_the_corpus_as_the_emotion():
    """In training the corpus (a clean feature) agrees with the label 90 % of the time and a noisy
    feature carries the label itself; on a test set where they disagree, the plain head follows the
    corpus and the adversarial head, which cannot keep the corpus in its hidden layer, does not."""
    from serlive.train.protocol import HeadConfig, fit_head

    rng = np.random.default_rng(0)

    def data(n: int, agree: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dom = rng.integers(0, 2, n)
        y = np.where(rng.random(n) < agree, dom, 1 - dom)
        x = rng.standard_normal((n, 8)).astype(np.float32)
        x[:, 0] = 2.0 * dom - 1
        x[:, 1] = (2.0 * y - 1) + 1.2 * rng.standard_normal(n)
        return x, y.astype(np.int64), np.array(["a", "b"])[dom]

    x, y, domains = data(2000, 0.9)
    x_test, y_test, _ = data(1000, 0.0)
    accuracy = {}
    for strength in (0.0, 0.5):
        cfg = HeadConfig(hidden=16, epochs=60, dropout=0.0, adversarial=strength)
        head = fit_head(x, y, np.ones(len(x), np.float32), cfg, domains=domains)
        assert [o.shape[-1] for o in head.outputs] == [len(LABELS)]  # the emotion output only
        accuracy[strength] = float((head.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean())
    assert accuracy[0.0] < 0.4 and accuracy[0.5] > accuracy[0.0] + 0.2, accuracy
    with pytest.raises(ValueError, match="domain"):
        fit_head(x, y, np.ones(len(x), np.float32), HeadConfig(hidden=16, epochs=1, adversarial=0.5))
