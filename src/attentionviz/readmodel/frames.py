"""The binary frame every array travels in: raw little-endian typed arrays behind a small JSON header.

    bytes 0..3     b"AVZ1"
    bytes 4..7     uint32 LE: H, the length of the JSON header (space-padded so 8 + H is a multiple of 8)
    bytes 8..8+H   UTF-8 JSON: {"meta": {...}, "buffers": [{"name", "dtype", "shape", "offset", "length"}]}
    bytes 8+H..    the buffers; each `offset` is relative to here and a multiple of 8

`meta` is one of the frame metadata models of `readmodel.models` (dumped without its unset fields).
dtypes: int8 uint8 int16 uint16 int32 uint32 float32 float64 (what JavaScript's typed arrays
read without copying) and `utf8`: a string column is two buffers, `NAME` (the UTF-8 bytes, dtype
utf8) and `NAME.offsets` (uint32 [n + 1]). A quantised float column is uint16 with
`"bounds": [[min, max], ...]` per last-axis column: value = min + q / 65535 * (max - min).

The same frame is written to files by a static export and decoded by `frontend/src/data/frame.ts`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attentionviz.readmodel.models import FrameMeta

MAGIC = b"AVZ1"
MEDIA_TYPE = "application/octet-stream"
_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64")
_QMAX = 65535


@dataclass
class Frame:
    """Buffers to send, in order, with their typed metadata."""

    meta: FrameMeta
    _buffers: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    def add(self, name: str, array: np.ndarray, **extra: Any) -> None:
        """Add a numeric array (stored little-endian, C order)."""
        dtype = np.dtype(array.dtype).name
        if dtype == "bool":
            array, dtype = array.astype(np.uint8), "uint8"
        if dtype == "int64":
            array, dtype = _narrow_int64(array)
        if dtype not in _DTYPES:
            raise ValueError(f"cannot send dtype {dtype}; convert {name} to one of {_DTYPES}")
        data = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        self._buffers.append(({"name": name, "dtype": dtype, "shape": list(array.shape), **extra}, data))

    def add_strings(self, name: str, values: Sequence[str]) -> None:
        """Add a string column: UTF-8 bytes plus uint32 offsets [n + 1]."""
        encoded = [v.encode("utf-8") for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.uint32)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        self._buffers.append(({"name": name, "dtype": "utf8", "shape": [len(encoded)]}, b"".join(encoded)))
        self.add(f"{name}.offsets", offsets)

    def add_quantized(self, name: str, array: np.ndarray, *, bounds: np.ndarray | None = None) -> None:
        """Add a float array [n] or [n, d] as uint16 over each column's [min, max] (NaN not allowed).

        `bounds` [d, 2] quantises over a wider range than the rows' own (a whole layout's, so that
        rows sent in different frames decode onto the same grid); values outside it are clipped.
        """
        try:
            quantized, pairs = quantize(array, bounds=bounds)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
        self.add(name, quantized, bounds=pairs)

    def encode(self) -> bytes:
        entries = []
        body = bytearray()
        for entry, data in self._buffers:
            body.extend(b"\0" * (-len(body) % 8))
            entries.append({**entry, "offset": len(body), "length": len(data)})
            body.extend(data)
        meta = self.meta.model_dump(exclude_none=True)
        header = json.dumps(
            {"meta": meta, "buffers": entries}, separators=(",", ":"), allow_nan=False
        ).encode()
        header += b" " * (-(8 + len(header)) % 8)
        return MAGIC + len(header).to_bytes(4, "little") + header + bytes(body)


def quantize(array: np.ndarray, *, bounds: np.ndarray | None = None) -> tuple[np.ndarray, list[list[float]]]:
    """uint16 values of a float array [n] or [n, d] over per-column bounds, and those bounds [[min, max], ...].

    Without `bounds`, each column's own [min, max]; values outside given bounds are clipped.
    """
    values = np.asarray(array, dtype=np.float64)
    flat = values.reshape(len(values), int(np.prod(values.shape[1:])))  # [n, d]
    if flat.size and not np.isfinite(flat).all():
        raise ValueError("holds NaN or infinite values, which cannot be quantised")
    if bounds is not None:
        low, high = np.asarray(bounds, dtype=np.float64).reshape(-1, 2).T  # [d, 2] -> [d], [d]
        flat = np.clip(flat, low, high)
    else:
        columns = np.ascontiguousarray(flat.T)  # [d, n]: reducing along rows is far faster than axis=0
        low = columns.min(axis=1) if len(flat) else np.zeros(flat.shape[1])
        high = columns.max(axis=1) if len(flat) else np.zeros(flat.shape[1])
    span = np.where(high > low, high - low, 1.0)
    quantized = np.rint((flat - low) / span * _QMAX).astype(np.uint16).reshape(values.shape)
    return quantized, [[float(a), float(b)] for a, b in zip(low, high, strict=True)]


def decode(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, {name: array or list of str}) from an encoded frame; quantised columns come back as float32."""
    if data[:4] != MAGIC:
        raise ValueError("not an attentionviz frame (bad magic)")
    size = int.from_bytes(data[4:8], "little")
    header: Mapping[str, Any] = json.loads(data[8 : 8 + size])
    body = memoryview(data)[8 + size :]
    raw: dict[str, Any] = {}
    for entry in header["buffers"]:
        chunk = body[entry["offset"] : entry["offset"] + entry["length"]]
        if entry["dtype"] == "utf8":
            raw[entry["name"]] = bytes(chunk)
            continue
        array = np.frombuffer(chunk, dtype=np.dtype(entry["dtype"]).newbyteorder("<")).reshape(entry["shape"])
        if "bounds" in entry:
            bounds = np.asarray(entry["bounds"], dtype=np.float64)  # [d, 2]
            flat = (
                array.reshape(len(array), len(bounds)) / _QMAX * (bounds[:, 1] - bounds[:, 0]) + bounds[:, 0]
            )
            array = flat.reshape(array.shape).astype(np.float32)
        raw[entry["name"]] = array
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, bytes):
            offsets = raw[f"{name}.offsets"]
            out[name] = [value[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]
        elif not (name.endswith(".offsets") and isinstance(raw.get(name[: -len(".offsets")]), bytes)):
            out[name] = value
    return dict(header["meta"]), out


def _narrow_int64(array: np.ndarray) -> tuple[np.ndarray, str]:
    if array.size == 0 or (array.min() >= 0 and array.max() <= np.iinfo(np.uint32).max):
        return array.astype(np.uint32), "uint32"
    if array.min() >= np.iinfo(np.int32).min and array.max() <= np.iinfo(np.int32).max:
        return array.astype(np.int32), "int32"
    raise ValueError("int64 values out of the 32-bit range cannot be sent")
