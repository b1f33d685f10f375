"""Keras model → full-integer int8 TFLite with serlive metadata inside.

The metadata JSON goes into the flatbuffer's own ``metadata`` table under the
name ``serlive`` so the model file is self-describing: one file to ship, and
the app can refuse it when its features or labels do not match.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from serlive.model import METADATA_NAME, ModelMetadata


def _convert(model: Any, representative: NDArray[np.float32] | None) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:

        def rep() -> Iterable[list[NDArray[np.float32]]]:
            for x in representative:
                yield [x[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = rep
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def attach_metadata(tflite: bytes, meta: ModelMetadata) -> bytes:
    """Return ``tflite`` with the metadata JSON stored as flatbuffer metadata ``serlive``."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    payload = json.dumps(meta.to_json_dict(), sort_keys=True).encode("utf-8")
    buf = schema.BufferT()
    buf.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export_tflite(
    model: Any,
    meta: ModelMetadata,
    path: str | Path,
    representative: NDArray[np.float32],
    float_path: str | Path | None = None,
) -> dict[str, int]:
    """Write the int8 model (and optionally a float32 twin for comparison); sizes in bytes.

    The metadata gets the export time (UTC) as ``trained`` unless it names one already: ``serlive
    --version`` shows it, so a user can tell which model an installed app runs.
    """
    if "trained" not in meta.extra:
        trained = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = replace(meta, extra={**meta.extra, "trained": trained})
    sizes: dict[str, int] = {}
    int8 = attach_metadata(_convert(model, representative), meta)
    Path(path).write_bytes(int8)
    sizes["int8"] = len(int8)
    if float_path is not None:
        f32 = attach_metadata(_convert(model, None), meta)
        Path(float_path).write_bytes(f32)
        sizes["float32"] = len(f32)
    return sizes
