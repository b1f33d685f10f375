"""An encoder model (Whisper front end + blocks + pooled head) exported and run by the app's own code."""

from __future__ import annotations

import numpy as np
import pytest

from serlive.analysis import analyse_signal
from serlive.config import LABELS, WHISPER_FEATURES
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
    from serlive.train.encoder_model import build_full_model, export_encoder_model, metadata
    from serlive.train.protocol import HeadConfig, fit_head

    rng = np.random.default_rng(0)
    cfg = HeadConfig(layers=(1,), hidden=16, epochs=2)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    y = rng.integers(0, len(LABELS), 64)
    head = fit_head(x, y, np.ones(64, np.float32), cfg)
    model = build_full_model(_weights(rng), head, cfg.layers)
    from serlive.features import FeatureExtractor

    ext = FeatureExtractor(WHISPER_FEATURES)
    check = np.stack([ext(_voice(3.0, 100 + 40 * i, i)) for i in range(6)])
    path = tmp_path_factory.mktemp("enc") / "enc.tflite"
    report = export_encoder_model(model, metadata({"architecture": "test"}), path, check)
    return path, report, model


def test_exported_encoder_model_loads_and_matches_keras(encoder_model):
    path, report, keras_model = encoder_model
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
    np.testing.assert_allclose(p, keras_model.predict(x[None], verbose=0), atol=0.05)


def test_encoder_model_runs_the_file_path(encoder_model):
    m = EmotionModel(encoder_model[0])
    y = np.concatenate([_voice(2.0, 120, 1), np.zeros(SR, np.float32), _voice(2.5, 200, 2)])
    assert m.meta.windows.hop_s == 0.5 and m.meta.windows.file_hop_s == 2.0
    a = analyse_signal(y, m)
    # files: the model's file hop (5.5 s: windows at 0 and 2 s), live: its 0.5 s hop
    assert [w.start_s for w in a.windows] == [0.0, 2.0]
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
