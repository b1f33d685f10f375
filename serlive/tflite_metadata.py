"""The ``metadata`` entries of a TFLite file, read from its flatbuffer without the runtime.

Why without the runtime: the desktop app builds its window from the model's metadata (labels,
feature and window settings) before the interpreter exists, and ``--version`` names the model;
both read a few hundred bytes of a 12 MB file in microseconds.  Only what the TFLite schema needs
for that is read: Model field 4 = buffers [Buffer], field 6 = metadata [Metadata{name: string,
buffer: uint}], Buffer field 0 = data [ubyte].
"""

from __future__ import annotations

import struct


class FlatbufferError(ValueError):
    """Not a TFLite flatbuffer, or a corrupt one; ``str()`` says which."""


def _u32(buf: bytes, pos: int) -> int:
    return struct.unpack_from("<I", buf, pos)[0]


def _table_field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vt_size:
        return None
    off = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + off if off else None


def _deref(buf: bytes, pos: int) -> int:
    return pos + _u32(buf, pos)


def flatbuffer_metadata(data: bytes) -> dict[str, bytes]:
    """All ``metadata`` entries of a TFLite flatbuffer as ``{name: bytes}``.

    TFLite schema: Model field 4 = buffers [Buffer], field 6 = metadata
    [Metadata{name: string, buffer: uint}], Buffer field 0 = data [ubyte].
    """
    try:
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise FlatbufferError("not a TFLite flatbuffer (missing TFL3 identifier)")
        model = _deref(data, 0)
        meta_pos = _table_field(data, model, 6)
        buf_pos = _table_field(data, model, 4)
        if meta_pos is None or buf_pos is None:
            return {}
        metas = _deref(data, meta_pos)
        buffers = _deref(data, buf_pos)
        n_buffers = _u32(data, buffers)
        out: dict[str, bytes] = {}
        for i in range(_u32(data, metas)):
            entry = _deref(data, metas + 4 + 4 * i)
            name_pos = _table_field(data, entry, 0)
            idx_pos = _table_field(data, entry, 1)
            if name_pos is None:
                continue
            s = _deref(data, name_pos)
            name = data[s + 4 : s + 4 + _u32(data, s)].decode("utf-8")
            idx = _u32(data, idx_pos) if idx_pos is not None else 0
            if idx >= n_buffers:
                raise FlatbufferError(f"metadata {name!r} points at missing buffer {idx}")
            buffer = _deref(data, buffers + 4 + 4 * idx)
            data_pos = _table_field(data, buffer, 0)
            if data_pos is None:
                out[name] = b""
                continue
            vec = _deref(data, data_pos)
            out[name] = bytes(data[vec + 4 : vec + 4 + _u32(data, vec)])
        return out
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise FlatbufferError(f"corrupt TFLite flatbuffer ({exc})") from exc
