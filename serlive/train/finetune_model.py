"""What the fine-tune and its export share: the run's settings, its window pool and the trainable block.

Why a module of its own: :mod:`serlive.train.finetune` trains and, on request,
exports through :mod:`serlive.train.finetune_export`, which needs the same
block and pool to rebuild the model; each used to import the other.  Both
import these from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.train.protocol import HeadConfig, Pool

#: the block a fine-tune trains, counted from 0 as Whisper's weight names count (2 = the third block)
TRAINED_BLOCK = 2
#: Keras layer names of that block as :func:`serlive.train.whisper._block` builds it
_BLOCK_DENSE = {"qkv": "self_attention/linear_0", "out": "self_attention/linear_1",
                "fc1": "ffn/linear_0", "fc2": "ffn/linear_1"}  # fmt: skip
_BLOCK_NORM = {"ln1": "self_attention/layer_norm", "ln2": "ffn/layer_norm"}


@dataclass(frozen=True)
class FinetuneConfig:
    """One LP-FT recipe (recorded in every checkpoint and in the model's metadata)."""

    #: the linear probe: the head trained first on the frozen block's pooled output
    head: HeadConfig = field(default_factory=HeadConfig)
    epochs: int = 4
    lr: float = 3e-5
    #: the learning rate falls along a cosine to ``lr * final_lr_ratio`` by the last step
    final_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    batch: int = 32
    #: the candidate is the mean of the weights of the last ``average_last`` epochs' checkpoints
    average_last: int = 3
    #: women's and men's windows carry the same total weight in the fine-tune's loss
    balance_gender: bool = False
    #: run the trained block in bfloat16 (float32 weights and pooling): about 1.5-2x faster where the CPU
    #: has AMX or AVX512-BF16, slower where it has not; the export is float32/int8 either way
    mixed_bf16: bool = False
    seed: int = 7

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples as lists)."""
        d = asdict(self)
        d["head"]["layers"] = list(self.head.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinetuneConfig:
        """The config of :meth:`to_dict` (or ``--config``'s JSON, any fields left out at their defaults)."""
        d = dict(d)
        if "head" in d:
            h = dict(d["head"])
            if "layers" in h:
                h["layers"] = tuple(h["layers"])
            d["head"] = HeadConfig(**h)
        return cls(**d)


@dataclass
class ActPool:
    """Cached activations of several corpora aligned with a :class:`Pool` of their pooled embeddings."""

    pool: Pool  # x = frozen block's pooled embedding of each window
    states: list[NDArray[np.float16]]  # per corpus: (windows, positions, 512)
    mask: NDArray[np.float32]  # (windows, positions)
    #: window i's state is states[part[i]][row[i]]
    part: NDArray[np.int32]
    row: NDArray[np.int64]

    def batch_states(self, idx: NDArray[np.int64]) -> NDArray[np.float16]:
        """The states of windows ``idx`` in that order."""
        out = np.empty((len(idx), *self.states[0].shape[1:]), np.float16)
        for p in np.unique(self.part[idx]):
            sel = self.part[idx] == p
            out[sel] = self.states[int(p)][self.row[idx][sel]]
        return out


def block_model(
    weights: dict[str, NDArray[np.float32]], n_pos: int, head: Any | None, mixed_bf16: bool = False
) -> Any:
    """Keras: (state after block 2, voiced mask) → pooled block-3 embedding, or ``head``'s probabilities.

    Block 3 is built trainable from ``weights``; the head (a model of
    :func:`serlive.train.protocol.fit_head`) is applied as a layer, so its
    dropout is active in training and its weights train with the block.
    With ``mixed_bf16`` the block computes in bfloat16 (its weights stay
    float32); the pooling sums in float32 either way.
    """
    import keras

    from serlive.train.whisper import D_MODEL, _block, masked_mean_std

    h_in = keras.Input(shape=(n_pos, D_MODEL), dtype="float16", name="state")
    m_in = keras.Input(shape=(n_pos,), name="mask")
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed_bf16 else "float32")
    try:
        h = keras.ops.cast(h_in, "bfloat16" if mixed_bf16 else "float32")
        h = _block(h, weights, TRAINED_BLOCK, n_pos, trainable=True)
    finally:
        keras.mixed_precision.set_global_policy(before)
    mean, std = masked_mean_std(keras.ops.cast(h, "float32"), m_in)
    emb = keras.ops.concatenate([mean, std], axis=-1)
    return keras.Model([h_in, m_in], emb if head is None else head(emb), name="block3_head")


def block_weights(model: Any) -> dict[str, NDArray[np.float32]]:
    """Block 3's weights from a :func:`block_model`, in Whisper's (CTranslate2) names and layouts."""
    i = TRAINED_BLOCK
    out: dict[str, NDArray[np.float32]] = {}
    for short, name in _BLOCK_DENSE.items():
        kernel, bias = model.get_layer(f"b{i}_{short}").get_weights()
        out[f"layer_{i}/{name}/weight"] = kernel.T.copy()
        out[f"layer_{i}/{name}/bias"] = bias
    for short, name in _BLOCK_NORM.items():
        gamma, beta = model.get_layer(f"b{i}_{short}").get_weights()
        out[f"layer_{i}/{name}/gamma"] = gamma
        out[f"layer_{i}/{name}/beta"] = beta
    return out


def pooled(model: Any, ap: ActPool, idx: NDArray[np.int64], batch: int = 64) -> NDArray[np.float32]:
    """``model``'s output for windows ``idx`` (embeddings or probabilities), in batches."""
    outs = []
    for a in range(0, len(idx), batch):
        b = idx[a : a + batch]
        outs.append(np.asarray(model([ap.batch_states(b), ap.mask[b]], training=False)))
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)
