"""The shipped model: Whisper's first blocks + voiced pooling + a small head, one ``.tflite``.

Why one file: the app's runtime, its metadata check, the GUI's model choice
and the standalone executable already handle "a .tflite with serlive
metadata"; an encoder model that is one more such file needs none of them to
change.  The app feeds it Whisper's log-mel (:data:`serlive.config.WHISPER_FEATURES`)
and gets eight probabilities back.

Quantisation: int8 *weights* with float activations (TFLite's dynamic-range
mode).  LayerNorm, softmax and GELU lose accuracy under full-integer int8,
while int8 weights alone shrink the file fourfold and keep the encoder's
output within float rounding (measured in :func:`export_encoder_model`).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.adaptation import AdaptationConfig
from serlive.config import LABELS, WHISPER_FEATURES, WindowConfig
from serlive.features import FeatureExtractor
from serlive.model import ModelMetadata
from serlive.train.recipe import ADAPTATION, ENCODER_LAYERS, FILE_HOP_S, SHIPPED_HEAD, shipped_corpora

__all__ = ["ADAPTATION", "ENCODER_LAYERS", "FILE_HOP_S", "SHIPPED_HEAD"]


def _head_layers(head: Any, x: Any) -> Any:
    """``head``'s layers after its input applied to ``x``, dropout left out (inference only).

    An ensemble head (members as nested models, then an average) has each
    member applied to ``x`` and their probabilities averaged.
    """
    import keras

    members = [layer for layer in head.layers if isinstance(layer, keras.Model)]
    if members:
        return keras.ops.mean(keras.ops.stack([_head_layers(m, x) for m in members]), axis=0)
    for layer in head.layers[1:]:
        if not isinstance(layer, keras.layers.Dropout):
            x = layer(x)
    return x


def build_full_model(weights: dict[str, NDArray[np.float32]], head: Any, layers: tuple[int, ...]) -> Any:
    """mel ``(batch, 298, 80)`` → ``{"probabilities", "embedding"}``: encoder blocks, pooling, ``head``.

    The pooled embedding is an output too: session adaptation keeps running
    statistics of it and feeds it, normalised, to the ``adapt`` head.
    """
    import keras

    from serlive.train.whisper import N_MELS, pooled_embedding

    n_frames = FeatureExtractor(WHISPER_FEATURES).n_frames(
        WindowConfig().window_samples(WHISPER_FEATURES.sample_rate)
    )
    mel = keras.Input(shape=(n_frames, N_MELS), name="whisper_logmel")
    emb = pooled_embedding(mel, weights, layers, WHISPER_FEATURES.active_db / 40.0)
    out = {"probabilities": _head_layers(head, emb), "embedding": emb}
    return keras.Model(mel, out, name="serlive_whisper")


def build_adapt_model(head: Any, dim: int) -> Any:
    """``(embedding, session_mean, session_scale)`` → ``head``'s probabilities on the normalised embedding."""
    import keras

    emb = keras.Input(shape=(dim,), name="embedding")
    mean = keras.Input(shape=(dim,), name="session_mean")
    scale = keras.Input(shape=(dim,), name="session_scale")
    out = _head_layers(head, (emb - mean) / scale)
    return keras.Model([emb, mean, scale], {"probabilities": out}, name="serlive_adapt")


def _saved_model(encode: Any, adapt: Any | None) -> str:
    """A SavedModel with signature ``encode`` (and ``adapt``): one TFLite file holds both heads."""
    import tempfile

    import keras
    import tensorflow as tf

    folder = tempfile.mkdtemp(prefix="serlive-export-")
    archive = keras.export.ExportArchive()
    archive.track(encode)
    archive.add_endpoint(
        name="encode",
        fn=lambda whisper_logmel: encode(whisper_logmel),
        input_signature=[tf.TensorSpec([None, *encode.input_shape[1:]], tf.float32, name="whisper_logmel")],
    )
    if adapt is not None:
        dim = int(adapt.input_shape[0][-1])
        archive.track(adapt)
        archive.add_endpoint(
            name="adapt",
            fn=lambda embedding, session_mean, session_scale: adapt(
                [embedding, session_mean[None], session_scale[None]]
            ),
            input_signature=[
                tf.TensorSpec([None, dim], tf.float32, name="embedding"),
                tf.TensorSpec([dim], tf.float32, name="session_mean"),
                tf.TensorSpec([dim], tf.float32, name="session_scale"),
            ],
        )
    archive.write_out(folder, verbose=False)
    return folder


def _convert(encode: Any, adapt: Any | None, int8_weights: bool) -> bytes:
    import shutil

    import tensorflow as tf

    folder = _saved_model(encode, adapt)
    try:
        keys = ["encode"] + (["adapt"] if adapt is not None else [])
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=keys)
        if int8_weights:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return bytes(converter.convert())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def convert_dynamic_int8(model: Any, adapt: Any | None = None) -> bytes:
    """TFLite with int8 weights and float activations (no representative set needed)."""
    return _convert(model, adapt, True)


def convert_float(model: Any, adapt: Any | None = None) -> bytes:
    """TFLite in float32, the reference the int8-weight file is compared with."""
    return _convert(model, adapt, False)


def metadata(extra: dict[str, Any], file_hop_s: float | None = FILE_HOP_S) -> ModelMetadata:
    """The metadata block of an encoder model (features, windows, labels, provenance)."""
    extra = {"trained": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **extra}
    return ModelMetadata(LABELS, WHISPER_FEATURES, WindowConfig(file_hop_s=file_hop_s), {}, extra)


def export_encoder_model(
    model: Any, meta: ModelMetadata, path: Path, check: NDArray[np.float32], adapt: Any | None = None
) -> dict:
    """Write the int8-weight model (and a float32 twin beside it) and compare them on ``check`` windows.

    With ``adapt`` (and an ``adaptation`` block in ``meta``) the file carries the
    session-adapted head as a second signature; it is checked the same way, with
    the ``check`` windows' own statistics as the session.
    """
    from serlive.model import EmotionModel
    from serlive.train.export import attach_metadata

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(attach_metadata(convert_dynamic_int8(model, adapt), meta))
    twin = path.with_name(path.stem + "_float32.tflite")
    twin.write_bytes(attach_metadata(convert_float(model, adapt), meta))
    q, f = EmotionModel(path), EmotionModel(twin)

    def run(m: EmotionModel) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        outs = [m.encode(check[i : i + 16]) for i in range(0, len(check), 16)]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    (pq, eq), (pf, ef) = run(q), run(f)
    keras_out = model.predict(check, batch_size=16, verbose=0)
    report = {
        "size_bytes": path.stat().st_size,
        "float32_size_bytes": twin.stat().st_size,
        "int8_vs_float32_top1_agreement": float(np.mean(pq.argmax(1) == pf.argmax(1))),
        "int8_vs_float32_max_abs_prob_diff": float(np.abs(pq - pf).max()),
        "tflite_float32_vs_keras_max_abs_prob_diff": float(np.abs(pf - keras_out["probabilities"]).max()),
        "tflite_float32_vs_keras_max_abs_embedding_diff": float(np.abs(ef - keras_out["embedding"]).max()),
    }
    if adapt is not None:
        mean, scale = ef.mean(axis=0), ef.std(axis=0) + 1e-3
        aq, af = q.adapt(eq, mean, scale), f.adapt(ef, mean, scale)
        ak = adapt.predict([ef, np.tile(mean, (len(ef), 1)), np.tile(scale, (len(ef), 1))], verbose=0)
        report["adapt_int8_vs_float32_top1_agreement"] = float(np.mean(aq.argmax(1) == af.argmax(1)))
        report["adapt_tflite_float32_vs_keras_max_abs_prob_diff"] = float(
            np.abs(af - ak["probabilities"]).max()
        )
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m serlive.train.encoder_model --data ROOTS --out DIR``: train on all corpora, export."""

    from serlive.train.corpora import command_parser, default_data_root, licence_note
    from serlive.train.protocol import (
        clip_predictions,
        fit_head,
        load_pool,
        pool_groups,
        pool_labels,
        score,
        speaker_normalised,
        window_weights,
    )
    from serlive.train.speakers import speakers_arg, split_by_speaker
    from serlive.train.whisper import read_ct2, whisper_dir

    ap = command_parser(main.__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/encoder"))
    ap.add_argument("--head", default="{}", help="HeadConfig fields as JSON, over the shipped recipe's")
    ap.add_argument("--corpora", default=None, help="comma list (default: the shipped model's seven)")
    # one speaker of each multi-speaker corpus with genders (ESD has a single speaker: all of it trains)
    ap.add_argument("--val", default="ravdess:19,ravdess:20,nemo:MP0,ased:01,ased:02")
    ap.add_argument(
        "--adapt",
        default=json.dumps(ADAPTATION.to_dict()),
        help="the session adaptation (AdaptationConfig fields as JSON); 'none' for a model without it",
    )
    args = ap.parse_args(argv)
    d = json.loads(args.head)
    if "layers" in d:
        d["layers"] = tuple(d["layers"])
    cfg = replace(SHIPPED_HEAD, **d)
    t0 = time.monotonic()
    root = args.data or default_data_root()
    corpora_arg = args.corpora.split(",") if args.corpora else shipped_corpora(root)
    pool = load_pool(root, (2, 3), cfg.layers, cfg.n_aug, corpora_arg)
    # read as serlive train --val reads it: ravdess:5 is ravdess:05, an unknown name is an error
    _, val_rows, _ = split_by_speaker(pool.utts, speakers_arg(args.val), [])
    val_speakers = {pool.utts[i].speaker for i in val_rows}
    speaker, _ = pool_groups(pool)
    val = np.isin(speaker, list(val_speakers))
    y = pool_labels(pool)
    tr = np.flatnonzero(~val & (pool.aug <= cfg.n_aug) & ~pool.silent)
    va = np.flatnonzero(val & (pool.aug == 0))
    w = window_weights(pool, tr, cfg.balance_gender)
    spk_tr, corpus_tr = pool_groups(pool, tr)
    head = fit_head(pool.x[tr], y[tr], w, cfg, spk_tr, corpus_tr, domains=corpus_tr)
    plain_va = head.predict(pool.x[va], verbose=0) if len(va) else None
    val_score = score(pool.utts, clip_predictions(pool, va, plain_va)) if len(va) else {}
    print(f"validation ({len(va)} windows): {val_score.get('accuracy')}", file=sys.stderr)
    adaptation = None if args.adapt == "none" else AdaptationConfig.from_dict(json.loads(args.adapt))
    adapt_head, adapt_score = None, {}
    if adaptation is not None:
        # every speaker normalised by all of their own voiced windows, as the protocol's speaker_norm;
        # validation speakers too, as a session that has heard them for a while
        xn = speaker_normalised(pool, 0.0, adaptation.statistics == "mean_std")
        adapt_head = fit_head(xn[tr], y[tr], w, cfg, domains=corpus_tr)
        if len(va):
            shown = adaptation.combine(plain_va, adapt_head.predict(xn[va], verbose=0))
            adapt_score = score(pool.utts, clip_predictions(pool, va, shown))
        print(f"validation, adapted: {adapt_score.get('accuracy')}", file=sys.stderr)

    weights = read_ct2(whisper_dir() / "model.bin")
    model = build_full_model(weights, head, cfg.layers)
    adapt = None if adapt_head is None else build_adapt_model(adapt_head, pool.x.shape[1])
    corpora = sorted({u.corpus for u in pool.utts})
    meta = metadata(
        {
            "architecture": f"whisper-base encoder blocks 1-{max(cfg.layers)} + pooled head",
            "encoder": {
                "name": "openai/whisper-base (MIT)",
                "blocks": max(cfg.layers),
                "sha256": "905e5bf8...c1a57",
            },
            "parameters": int(model.count_params()),
            "training": {
                "corpora": corpora,
                "val_speakers": sorted(val_speakers),
                "train_speakers": sorted({pool.utts[int(c)].speaker for c in pool.clip[tr]}),
                "clips": len({int(c) for c in pool.clip[tr]}),
                "head": asdict(cfg) | {"layers": list(cfg.layers)},
                "command": "python -m serlive.train.encoder_model " + " ".join(argv or sys.argv[1:]),
                "validation": val_score,
                "validation_adapted": adapt_score,
            },
            "licence": licence_note(corpora),
        }
        | ({} if adaptation is None else {"adaptation": adaptation.to_dict()})
    )
    # check windows: the clean validation windows' mel, recomputed from audio
    from serlive.audio.io import load_audio
    from serlive.train.embed import EmbedConfig, clip_windows

    ext = FeatureExtractor(WHISPER_FEATURES)
    check: list[NDArray[np.float32]] = []
    for c in sorted({int(c) for c in pool.clip[va]})[:40]:
        xs, _ = clip_windows(load_audio(pool.utts[c].path), ext, EmbedConfig())
        check += xs[:2]
    report = export_encoder_model(model, meta, args.out / "model.tflite", np.stack(check), adapt)
    report["validation"] = val_score
    report["validation_adapted"] = adapt_score
    report["seconds"] = time.monotonic() - t0
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if not k.startswith("validation")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
