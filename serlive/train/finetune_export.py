"""Export of a fine-tuned encoder model: the shipped architecture with block 3's new weights.

Why a module of its own: :mod:`serlive.train.finetune` trains on cached
activations and knows nothing of the app; this one turns its result into
the one ``.tflite`` the app loads, through the same builders and checks as
the frozen model (:mod:`serlive.train.encoder_model`), so the file's
architecture, signatures, metadata and cost per window cannot drift.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.train.finetune_model import ActPool, FinetuneConfig, block_model, block_weights, pooled


def finetuned_weights(weights: dict[str, NDArray[np.float32]], model: Any) -> dict[str, NDArray[np.float32]]:
    """Whisper's weight table with block 3 replaced by ``model``'s (a :func:`block_model`)."""
    out = dict(weights)
    new = block_weights(model)
    missing = set(new) - set(weights)
    if missing:
        raise KeyError(f"fine-tuned weights not in the Whisper table: {sorted(missing)}")
    for k, v in new.items():
        if v.shape != weights[k].shape:
            raise ValueError(f"{k}: fine-tuned shape {v.shape} differs from {weights[k].shape}")
        out[k] = v.astype(np.float32)
    return out


def export_finetuned(
    ap: ActPool,
    train_idx: NDArray[np.int64],
    val_idx: NDArray[np.int64],
    weights: dict[str, NDArray[np.float32]],
    model: Any,
    head: Any,
    cfg: FinetuneConfig,
    args: Any,
    argv: list[str] | None,
) -> dict[str, Any]:
    """Write ``args.out/model.tflite`` (+ float32 twin): the fine-tuned encoder, its head, an adapt head.

    The session-adapted head is retrained on the fine-tuned embeddings of the
    training windows, each speaker normalised by their own voiced windows (as
    the shipped one is), with the shipped recipe (three heads).
    """
    import json

    from serlive.adaptation import AdaptationConfig
    from serlive.audio.io import load_audio
    from serlive.config import WHISPER_FEATURES
    from serlive.features import FeatureExtractor
    from serlive.train.activations import centred_window
    from serlive.train.corpora import licence_note
    from serlive.train.encoder_model import (
        build_adapt_model,
        build_full_model,
        export_encoder_model,
        metadata,
    )
    from serlive.train.protocol import (
        clip_predictions,
        fit_head,
        pool_labels,
        score,
        speaker_normalised,
        window_weights,
    )
    from serlive.train.recipe import ADAPTATION, SHIPPED_HEAD

    w_ft = finetuned_weights(weights, model)
    # the fine-tuned embedding of every window, in float32 as the exported graph computes it
    emb_model = block_model(w_ft, int(ap.mask.shape[1]), None)
    ap.pool.x = pooled(emb_model, ap, np.arange(len(ap.mask)))
    y = pool_labels(ap.pool)
    w = window_weights(ap.pool, train_idx)
    plain_va = pooled(model, ap, val_idx)
    val_score = score(ap.pool.utts, clip_predictions(ap.pool, val_idx, plain_va))
    adaptation = AdaptationConfig.from_dict(ADAPTATION.to_dict())
    xn = speaker_normalised(ap.pool, 0.0, adaptation.statistics == "mean_std")
    adapt_head = fit_head(xn[train_idx], y[train_idx], w, SHIPPED_HEAD)
    shown = adaptation.combine(plain_va, adapt_head.predict(xn[val_idx], verbose=0))
    adapt_score = score(ap.pool.utts, clip_predictions(ap.pool, val_idx, shown))
    print(f"validation {val_score['accuracy']:.3f}, adapted {adapt_score['accuracy']:.3f}", file=sys.stderr)

    full = build_full_model(w_ft, head, (3,))
    adapt = build_adapt_model(adapt_head, ap.pool.x.shape[1])
    corpora = sorted({u.corpus for u in ap.pool.utts})
    meta = metadata(
        {
            "architecture": "whisper-base encoder blocks 1-3 (block 3 fine-tuned) + pooled head",
            "encoder": {
                "name": "openai/whisper-base (MIT)",
                "blocks": 3,
                "sha256": "905e5bf8...c1a57",
                "fine_tuned_blocks": [3],
            },
            "parameters": int(full.count_params()),
            "training": {
                "corpora": corpora,
                "val_speakers": sorted({ap.pool.utts[int(c)].speaker for c in ap.pool.clip[val_idx]}),
                "train_speakers": sorted({ap.pool.utts[int(c)].speaker for c in ap.pool.clip[train_idx]}),
                "clips": len({int(c) for c in ap.pool.clip[train_idx]}),
                "windows": "one centred 3 s window per clip",
                "finetune": cfg.to_dict(),
                "adapt_head": asdict(SHIPPED_HEAD) | {"layers": list(SHIPPED_HEAD.layers)},
                "command": "python -m serlive.train.finetune " + " ".join(argv or sys.argv[1:]),
                "validation": val_score,
                "validation_adapted": adapt_score,
            },
            "licence": licence_note(corpora),
            "adaptation": adaptation.to_dict(),
        }
    )
    ext = FeatureExtractor(WHISPER_FEATURES)
    from serlive.train.activations import ActivationConfig

    check: list[NDArray[np.float32]] = []
    for c in sorted({int(c) for c in ap.pool.clip[val_idx]})[:60]:
        got = centred_window(load_audio(ap.pool.utts[c].path), ext, ActivationConfig())
        if got is not None:
            check.append(got[0])
    report = export_encoder_model(full, meta, Path(args.out) / "model.tflite", np.stack(check), adapt)
    report["validation"] = val_score
    report["validation_adapted"] = adapt_score
    (Path(args.out) / "validation.json").write_text(json.dumps(report, indent=1))
    return report
