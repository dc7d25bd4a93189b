#!/usr/bin/python3
"""Write small seed inputs for the fuzz targets in tests/fuzz/seeds/.

Run from the repository root: /usr/bin/python3 tests/fuzz/mkseeds.py
Seeds are kept small so the fuzzer mutates structure, not bulk data."""
import json, os, struct
import numpy as np

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def safetensors(tensors, meta=None):
    hdr, blob = {}, b""
    for name, (dt, shape, raw) in tensors.items():
        hdr[name] = {"dtype": dt, "shape": shape,
                     "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if meta:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob

a = np.arange(6, dtype="<f4").reshape(2, 3)
put("safetensors", "three.safetensors", safetensors({
    "w": ("F32", [2, 3], a.tobytes()),
    "h": ("F16", [4], np.ones(4, "<f2").tobytes()),
    "b": ("BF16", [1], b"\x80\x3f"),
    "i": ("I64", [], struct.pack("<q", 7)),
}, {"format": "pt"}))
put("safetensors", "empty.safetensors", safetensors({}))

for name, arr in {"f32_2d": a, "i64_1d": np.arange(3, dtype="<i8"),
                  "u8_scalar": np.array(5, "u1"),
                  "f16_3d": np.zeros((1, 2, 2), "<f2")}.items():
    import io
    b = io.BytesIO()
    np.save(b, arr)
    put("npy", name + ".npy", b.getvalue())
