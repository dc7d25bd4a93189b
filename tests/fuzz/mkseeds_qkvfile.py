#!/usr/bin/python3
"""Write the seed inputs of the qkvfile fuzz target, tests/fuzz/seeds/qkvfile/,
with formats/qkv.py: small row streams (every column kind, raw, zlib and
shuffled blocks, several chunks, no rows) and tensor files.

Run from the repository root: /usr/bin/python3 tests/fuzz/mkseeds_qkvfile.py"""
import os, sys
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "formats"))
import qkv

out = os.path.join(here, "seeds", "qkvfile")
os.makedirs(out, exist_ok=True)
p = lambda name: os.path.join(out, name)

cols = [("ids", "ragged", "i32", ()), ("text", "string", "str", ()), ("vec", "fixed", "f32", (3,)),
        ("label", "fixed", "i64", ())]
rows = 6
data = {"ids": [np.arange(i, dtype="<i4") for i in range(rows)],
        "text": ["row %d \u00e9" % i for i in range(rows)],
        "vec": np.arange(rows * 3, dtype="<f4").reshape(rows, 3) / 4,
        "label": np.arange(rows, dtype="<i8") - 2}
for codec in (0, 1, 2):
    qkv.write_stream(p("stream%d.qkv" % codec), cols, data, {"model": b"x"}, chunk=2, codec=codec)
qkv.write_stream(p("empty.qkv"), [("x", "fixed", "u8", ())], {"x": np.zeros(0, "u1")})
qkv.write_stream(p("f16.qkv"), [("h", "fixed", "f16", (2, 2)), ("b", "ragged", "u8", ())],
                 {"h": np.ones((3, 2, 2), "<f2"), "b": [np.arange(i, dtype="u1") for i in range(3)]}, codec=2)
qkv.write_tensors(p("tensors.qkv"), {"a": np.arange(6, dtype="<f4").reshape(2, 3), "s": np.array(7, "<i8"),
                                     "e": np.zeros((0, 2), "<f2"), "b": ("bf16", np.ones(3, "<u2"))},
                  {"file:config.json": b'{"hidden_size": 4}'})
qkv.write_tensors(p("notensors.qkv"), {})
