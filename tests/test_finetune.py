"""Fine-tuning on cached activations: the cache, resuming after an interruption, and the export's parity.

Random Whisper-shaped weights and a handful of synthetic clips stand in for
the real encoder and corpora, so these run in seconds; the real run is
``python -m serlive.train.finetune`` (see serlive/models/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from serlive.config import LABELS, WHISPER_FEATURES
from serlive.train.corpora import Utterance
from tests.conftest import SR, spoken, write_audio
from tests.test_encoder_model import _voice, _weights

pytest.importorskip("tensorflow")


def test_the_centred_window_sits_on_the_frame_grid():
    from serlive.train.activations import centred_start

    hop = WHISPER_FEATURES.hop_length
    assert centred_start(20000, 48000, hop) == 0  # shorter than a window: padded, from 0
    assert centred_start(48000, 48000, hop) == 0
    s = centred_start(64321, 48000, hop)
    assert s % hop == 0 and abs(s - (64321 - 48000) / 2) < hop


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Utterance]:
    root = tmp_path_factory.mktemp("act")
    out = []
    for i in range(6):
        y = _voice(2.0 + 0.7 * i, 110 + 30 * i, i)
        path = write_audio(root / f"c{i}.wav", y)
        out.append(Utterance(str(path), "fake", f"fake:{i % 3}", "male" if i % 2 else "female", LABELS[i]))
    silent = write_audio(root / "silent.wav", np.zeros(SR * 4, np.float32))
    out.append(Utterance(str(silent), "fake", "fake:0", "female", "neutral"))
    return out


def test_the_activation_cache_holds_the_frozen_blocks_output_and_is_read_back(clips, tmp_path):
    import tensorflow as tf

    from serlive.features import FeatureExtractor
    from serlive.train.activations import ActivationConfig, activate_corpus, build_frozen_part, centred_window

    cfg = ActivationConfig(frozen_blocks=1)
    weights = _weights(np.random.default_rng(1), 1)
    frozen = build_frozen_part(weights, cfg, 298)
    act = activate_corpus("fake", clips, cfg, cache=tmp_path, frozen=tf.function(frozen))
    assert act.states.shape == (len(clips), 149, 512) and act.states.dtype == np.float16
    assert act.mask.shape == (len(clips), 149) and set(np.unique(act.mask)) <= {0, 1}
    assert act.clip.tolist() == list(range(len(clips)))
    assert act.silent.tolist() == [False] * 6 + [True]
    # each row is the frozen part's output on that clip's centred window, within fp16 rounding
    from serlive.audio.io import load_audio

    x, _ = centred_window(load_audio(clips[4].path), FeatureExtractor(cfg.features), cfg)
    h, m = frozen(x[None])
    np.testing.assert_allclose(act.states[4].astype(np.float32), np.asarray(h)[0], rtol=2e-3, atol=2e-3)
    np.testing.assert_array_equal(act.mask[4], np.asarray(m)[0])

    # a second call reads the cache and never runs the model
    def boom(_x):
        raise AssertionError("the cache was recomputed")

    again = activate_corpus("fake", clips, cfg, cache=tmp_path, frozen=boom)
    np.testing.assert_array_equal(np.asarray(again.states), act.states)
    # another clip list is another cache entry
    with pytest.raises(AssertionError, match="recomputed"):
        activate_corpus("fake", clips[:3], cfg, cache=tmp_path, frozen=boom)
    assert ActivationConfig(frozen_blocks=1).key() != ActivationConfig(frozen_blocks=2).key()


def _act_pool(n: int = 48, seed: int = 0):
    """A tiny ActPool of random 'block 2 states' whose labels the pooled state can tell apart."""
    from serlive.train.corpora import Utterance
    from serlive.train.finetune import ActPool
    from serlive.train.protocol import Pool

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    states = rng.standard_normal((n, 149, 512)).astype(np.float32) * 0.5
    states[:, :, :8] += labels[:, None, None] * 0.5  # a class signal in a few channels
    mask = np.ones((n, 149), np.float32)
    mask[:, 120:] = 0
    utts = [
        Utterance(f"/x/{i}.wav", "fake", f"fake:{i % 6}", "male", LABELS[int(labels[i])]) for i in range(n)
    ]
    pool = Pool(utts, np.zeros((n, 0), np.float32), np.arange(n, dtype=np.int32), np.zeros(n, bool),
                np.zeros(n, np.int8))  # fmt: skip
    return ActPool(
        pool, [states.astype(np.float16)], mask, np.zeros(n, np.int32), np.arange(n, dtype=np.int64)
    )


def _ft_setup():
    from serlive.train.finetune import FinetuneConfig, block_model, pooled
    from serlive.train.protocol import HeadConfig

    weights = _weights(np.random.default_rng(2), 3)
    ap = _act_pool(96)  # more training windows than a rebuilt head's old 64: its standardisation must match
    ap.pool.x = pooled(block_model(weights, 149, None), ap, np.arange(len(ap.mask)))
    head = HeadConfig(hidden=16, dropout=0.0, epochs=3, seed=3)
    cfg = FinetuneConfig(head=head, epochs=2, average_last=2, lr=1e-4, batch=16)
    return weights, ap, cfg


def fit_probe_again(ap, train, cfg):
    """The probe as the run fitted it (same data, seed and weights)."""
    import keras

    from serlive.train.protocol import fit_head, pool_labels, window_weights

    keras.utils.set_random_seed(cfg.seed)
    return fit_head(ap.pool.x[train], pool_labels(ap.pool)[train], window_weights(ap.pool, train), cfg.head)


def test_an_interrupted_fine_tune_resumes_where_it_stopped(tmp_path):
    from serlive.train.finetune import FinetuneConfig, finetune

    weights, ap, cfg = _ft_setup()
    train = np.arange(88)
    seen: list[int] = []

    def evaluate(model, epoch):
        seen.append(epoch)
        return {"epoch": epoch}

    whole, _, records = finetune(ap, train, weights, cfg, tmp_path / "whole", evaluate)
    assert [r["epoch"] for r in records] == [1, 2] and seen == [0, 1, 2, -1]
    # the same run killed after epoch 1's checkpoint: epoch 2's files never written
    cut = tmp_path / "cut"
    cut.mkdir()
    for f in (tmp_path / "whole").iterdir():
        if not f.name.startswith(("epoch-2", "averaged")):
            (cut / f.name).write_bytes(f.read_bytes())
    state = json.loads((cut / "state.json").read_text())
    state["epochs"] = state["epochs"][:1]
    state.pop("averaged")
    (cut / "state.json").write_text(json.dumps(state))
    seen.clear()
    resumed, _, records = finetune(ap, train, weights, cfg, cut, evaluate)
    assert seen == [2, -1], "the probe and epoch 1 were not run again"
    assert [r["epoch"] for r in records] == [1, 2]
    assert "resumed after epoch 1" in (cut / "log.txt").read_text()
    for a, b in zip(whole.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the rebuilt probe is the probe the run started from (weights and standardisation)
    from serlive.train.finetune import block_model, pooled, probe_head

    first = json.loads((tmp_path / "whole" / "state.json").read_text())
    assert first["epochs"][0]["epoch"] == 1
    probe = block_model(weights, 149, probe_head(ap, train, cfg, cut))
    want = block_model(weights, 149, fit_probe_again(ap, train, cfg))
    np.testing.assert_allclose(pooled(probe, ap, train), pooled(want, ap, train), atol=1e-5)
    # fine-tuning moved block 3 (else the test would prove nothing)
    from serlive.train.finetune_model import block_weights

    moved = block_weights(whole)
    assert any(np.abs(moved[k] - weights[k]).max() > 1e-6 for k in moved)
    # a folder of another recipe is refused, not mixed
    with pytest.raises(ValueError, match="another recipe"):
        finetune(ap, train, weights, FinetuneConfig(head=cfg.head, epochs=3), cut)


@pytest.mark.slow
def test_the_export_is_the_fine_tuned_model_and_its_int8_file_matches_the_float_one(tmp_path):
    """Block 3's weights written back into Whisper's table give the fine-tuned model from audio."""
    import keras

    from serlive.features import FeatureExtractor
    from serlive.train.encoder_model import build_full_model, export_encoder_model, metadata
    from serlive.train.finetune import finetune
    from serlive.train.finetune_export import finetuned_weights
    from serlive.train.whisper import build_encoder, voiced_frame_mask

    weights, ap, cfg = _ft_setup()
    model, head, _ = finetune(ap, np.arange(88), weights, cfg, tmp_path / "ft")
    w_ft = finetuned_weights(weights, model)
    ext = FeatureExtractor(WHISPER_FEATURES)
    mel = np.stack([ext(_voice(3.0, 100 + 40 * i, i)) for i in range(4)] + [ext(spoken(3.0))])
    # the fine-tuned block model on the frozen part's output of that audio ...
    h2 = build_encoder(weights, 2, 298)(mel)[-1]
    m = voiced_frame_mask(keras.ops.convert_to_tensor(mel), WHISPER_FEATURES.active_db / 40.0)
    want = np.asarray(model([np.asarray(h2, np.float16), np.asarray(m)], training=False))
    # ... equals the full model built from the written-back weights on the audio itself
    full = build_full_model(w_ft, head, (3,))
    got = full.predict(mel, verbose=0)["probabilities"]
    np.testing.assert_allclose(got, want, atol=2e-3)
    path = tmp_path / "ft.tflite"
    report = export_encoder_model(full, metadata({"architecture": "test"}), path, mel)
    assert report["tflite_float32_vs_keras_max_abs_prob_diff"] < 1e-4
    assert report["int8_vs_float32_max_abs_prob_diff"] < 0.05
    assert Path(path).stat().st_size < 0.4 * report["float32_size_bytes"]
    with pytest.raises(ValueError, match="shape"):
        bad = dict(weights)
        bad["layer_2/ffn/linear_0/bias"] = np.zeros(3, np.float32)
        finetuned_weights(bad, model)


def test_the_report_counts_speakers_won_and_lost_and_groups_a_test_set_as_one_recording_set():
    from serlive.train.finetune_report import set_grouped, wins_losses

    probe = {"a": {"per_speaker": {"x:1": 0.5, "x:2": 0.8, "x:3": 0.4}}, "mean": 0.5}
    tuned = {"a": {"per_speaker": {"x:1": 0.6, "x:2": 0.7, "x:3": 0.4}}, "mean": 0.6}
    assert wins_losses(probe, tuned) == (1, 1, 1)
    ap = _act_pool(12)
    test = np.zeros(12, bool)
    test[:6] = True
    grouped = set_grouped(ap.pool, test)
    assert {grouped.utts[i].speaker for i in range(6)} == {"fake:all"}
    assert [grouped.utts[i].speaker for i in range(6, 12)] == [ap.pool.utts[i].speaker for i in range(6, 12)]
    assert [u.emotion for u in grouped.utts] == [u.emotion for u in ap.pool.utts]
