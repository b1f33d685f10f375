"""Keras architectures: a 2D CNN on log-mel and a 1D CNN on frame vectors.

Both end in statistics pooling over time (mean and max of the last feature
maps) because an utterance's emotion is spread over it; both stay well under
the 500 KB int8 budget and the 2 ms per-window inference budget.
"""

from __future__ import annotations

import keras
from keras import layers


def _conv2d_block(x, filters: int, pool: tuple[int, int] | None, dropout: float, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if pool:
        x = layers.MaxPooling2D(pool, name=f"{name}_pool")(x)
    if dropout:
        x = layers.SpatialDropout2D(dropout, name=f"{name}_drop")(x)
    return x


def _stats_head(x, n_classes: int, dropout: float):
    """Mean and max over time of (time, features), then a small dense classifier."""
    x = layers.Concatenate(name="stats")(
        [layers.GlobalAveragePooling1D(name="t_mean")(x), layers.GlobalMaxPooling1D(name="t_max")(x)]
    )
    x = layers.Dropout(dropout, name="drop")(x)
    x = layers.Dense(64, activation="relu", name="fc")(x)
    x = layers.Dropout(dropout, name="drop2")(x)
    return layers.Dense(n_classes, activation="softmax", name="probs")(x)


def cnn2d(
    input_shape: tuple[int, int, int], n_classes: int, width: int = 16, dropout: float = 0.3
) -> keras.Model:
    """2D CNN over (time, mel, 1): four conv blocks, frequency mean, temporal mean+max pooling."""
    inp = keras.Input(shape=input_shape, name="logmel")
    x = _conv2d_block(inp, width, (2, 2), 0.0, "b1")
    x = _conv2d_block(x, width * 2, (2, 2), 0.1, "b2")
    x = _conv2d_block(x, width * 4, (2, 2), 0.1, "b3")
    x = _conv2d_block(x, width * 8, None, 0.1, "b4")
    # Keep where in frequency the energy sits (pitch height, formants): flatten
    # (freq, ch) per time step instead of averaging over frequency, which would
    # make the net blind to a shift in pitch.
    _, t, f, c = x.shape
    x = layers.Reshape((t, f * c), name="freq_flat")(x)
    x = layers.Dense(width * 8, use_bias=False, name="frame_fc")(x)
    x = layers.BatchNormalization(momentum=0.9, name="frame_bn")(x)
    x = layers.ReLU(name="frame_relu")(x)
    out = _stats_head(x, n_classes, dropout)
    return keras.Model(inp, out, name="cnn2d")


def cnn1d(input_shape: tuple[int, int], n_classes: int, width: int = 64, dropout: float = 0.3) -> keras.Model:
    """1D CNN over per-frame vectors (MFCC+ZCR+RMS+chroma), classic SER style."""
    inp = keras.Input(shape=input_shape, name="frames")
    x = inp
    for i, (f, k) in enumerate(((width, 5), (width * 2, 5), (width * 2, 3), (width * 4, 3))):
        x = layers.Conv1D(f, k, padding="same", use_bias=False, name=f"c{i}_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"c{i}_bn")(x)
        x = layers.ReLU(name=f"c{i}_relu")(x)
        if i < 3:
            x = layers.MaxPooling1D(2, name=f"c{i}_pool")(x)
            x = layers.Dropout(0.1, name=f"c{i}_drop")(x)
    out = _stats_head(x, n_classes, dropout)
    return keras.Model(inp, out, name="cnn1d")


ARCHITECTURES = {"cnn2d": cnn2d, "cnn1d": cnn1d}
