#!/bin/sh
# The qkv format across two implementations: files the C library writes
# are read by formats/qkv.py (Python + numpy, written from the spec) and
# the other way round; the example bytes in formats/qkv.md are what both
# writers write.  The sample content is defined here and in
# tests/unit/qkvfile.c alike.
cd "$(dirname "$0")/.." || exit 1
T=tests/tmp/format.$$
mkdir -p "$T" && trap 'rm -rf "$T"' EXIT
[ -x tests/bin/qkvfile ] || { printf '1..1\nnot ok 1 - tests/bin/qkvfile is not built (make units)\n'; exit 1; }
"${PYTHON:-/usr/bin/python3}" - "$T" <<'PY'
import sys, subprocess, re
sys.path[:0] = ["formats", "tests"]
import numpy as np, qkv
from tap import ok, done

T = sys.argv[1]
def run(*a):
    return subprocess.run(list(a), capture_output=True, text=True)

N = 3000
def sample():
    ids, text, b, d = [], [], [], []
    for i in range(N):
        ids.append(np.array([(i * 31 + j * 17) % 50257 - 100 for j in range(i * 7 % 13)], "<i4"))
        text.append("row %d" % i + "\u00e9" * (i % 4) + ("\n" if i % 5 == 0 else ""))
        b.append(np.array([(i + j) & 255 for j in range(i % 3)], "u1"))
        d.append(np.array([i + j / 4 for j in range(i % 2)], "<f8"))
    i = np.arange(N)
    vec = ((i[:, None] * 6 + np.arange(6)).astype(np.float32) * np.float32(0.25) - np.float32(7)).reshape(N, 3, 2)
    h = (0x3c00 + (i[:, None] + np.arange(2)) % 1024).astype("<u2").view("<f2")
    bf = (0x3f80 + i % 128).astype("<u2")
    return dict(ids=ids, text=text, vec=vec, label=i.astype("<i8") * i * 1000003 - 5, h=h, b=b,
                bf=bf, d=d)
COLS = [("ids", "ragged", "i32", ()), ("text", "string", "str", ()), ("vec", "fixed", "f32", (3, 2)),
        ("label", "fixed", "i64", ()), ("h", "fixed", "f16", (2,)), ("b", "ragged", "u8", ()),
        ("bf", "fixed", "bf16", ()), ("d", "ragged", "f64", ())]
def tensors():
    k = lambda n: np.arange(n)
    return {"a.f32": (k(15) * 0.5 - 3).astype("<f4").reshape(3, 5),
            "b.i64": (k(8) * -123456789012).astype("<i8").reshape(2, 2, 2),
            "c.u8": (k(7) * 37 & 255).astype("u1"), "scalar": np.array(3.25, "<f8"),
            "empty": np.zeros((0, 4), "<i4"), "h": (0x3c00 + k(4)).astype("<u2").view("<f2"),
            "bf": ("bf16", (0x4000 + k(3)).astype("<u2")), "i8": (k(5) - 2).astype("i1"),
            "u16": (65535 - k(3)).astype("<u2"), "i16": (k(3) * -1000).astype("<i2"),
            "i32": (k(4) * 100000 - 7).astype("<i4")}
META_T = {"file:config.json": b'{"a": 1}', "note": b"x"}

def same(a, b):
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return np.asarray(a).shape == np.asarray(b).shape and np.array_equal(a, b)
def bf16(u):
    return (u.astype("<u4") << 16).view("<f4")

# C writes, Python reads
r = run("tests/bin/qkvfile", "gen", T + "/c.s.qkv", T + "/c.t.qkv")
ok(r.returncode == 0, "C writer: sample stream and tensor file " + r.stderr.strip())
kind, meta, data = qkv.read(T + "/c.s.qkv")
want = sample()
ok(kind == "S" and list(data) == [c[0] for c in COLS], "python reads the C stream's columns in order")
ok(meta == {"model": b"test", "empty": b""}, "python reads the C stream's metadata")
for name, kindc, dt, shape in COLS:
    w = bf16(want[name]) if dt == "bf16" else want[name]
    ok(same(data[name], w), "C stream column %s (%s %s%s): all %d rows equal" % (name, kindc, dt, list(shape), N))
kind, meta, data = qkv.read(T + "/c.t.qkv")
ok(kind == "T" and meta == META_T, "python reads the C tensor file's metadata")
for name, a in tensors().items():
    w = bf16(a[1]) if isinstance(a, tuple) else a
    ok(same(data[name], w), "C tensor %s equal" % name)
ok(list(data) == list(tensors()), "C tensors in order")

# Python writes, C reads (raw, zlib and shuffled zlib blocks)
for codec in (0, 1, 2):
    qkv.write_stream(T + "/p.s.qkv", COLS, sample(), {"model": b"test", "empty": b""}, chunk=700, codec=codec)
    qkv.write_tensors(T + "/p.t.qkv", tensors(), META_T)
    r = run("tests/bin/qkvfile", "check", T + "/p.s.qkv", T + "/p.t.qkv")
    ok(r.returncode == 0, "C reads the python stream (codec %d) and tensor file" % codec)
    if r.returncode:
        print("# " + r.stdout.replace("\n", "\n# "))
    ok(same(qkv.read(T + "/p.s.qkv")[2]["ids"], want["ids"]), "python reads its own stream (codec %d)" % codec)

# the example of the specification, byte for byte
spec = open("formats/qkv.md").read()
sec = spec[spec.index("## 8. Example"):]
hexbytes = b"".join(bytes.fromhex(m.group(1)) for m in
                    (re.match(r"\s{4,}((?:[0-9a-f]{2} )+)", l + " ") for l in sec.splitlines()) if m)
qkv.write_stream(T + "/ex.py", [("x", "fixed", "u8", ())], {"x": np.array([1, 2], "u1")}, {"k": b"v"}, codec=0)
r = run("tests/bin/qkvfile", "example", T + "/ex.c")
ok(len(hexbytes) == 102, "the spec's example is 102 bytes")
ok(open(T + "/ex.py", "rb").read() == hexbytes, "python writes the spec's example byte for byte")
ok(r.returncode == 0 and open(T + "/ex.c", "rb").read() == hexbytes, "C writes the spec's example byte for byte")
k, m, d = qkv.read(hexbytes)
ok(k == "S" and m == {"k": b"v"} and d["x"].tolist() == [1, 2], "python reads the example as 2 rows")

# the python reader refuses damage as well: every cut and flipped byte of
# the example; every 7th of the C tensor file
def refused(blob, step):
    missed = 0
    for i in range(0, len(blob), step):
        for damaged in (blob[:i], blob[:i] + bytes([blob[i] ^ 0x40]) + blob[i + 1:]):
            try:
                qkv.read(damaged)
                missed += 1
            except (ValueError, zlib.error, struct.error):
                pass
    return missed == 0
import zlib, struct
ok(refused(hexbytes, 1), "python reader refuses every cut and flipped byte of a stream")
tf = open(T + "/c.t.qkv", "rb").read()
def rejects(blob):
    try:
        qkv.read(blob)
        return False
    except (ValueError, zlib.error, struct.error):
        return True
toc = struct.unpack_from("<Q", tf, len(tf) - 20)[0]
ok(all(rejects(tf[:i]) for i in range(len(tf))), "python reader refuses every cut of a tensor file")
ok(all(rejects(tf[:i] + bytes([tf[i] ^ 0x40]) + tf[i + 1:]) for i in range(toc, len(tf))),
   "python reader refuses every flipped byte of its TOC and END")
done()
PY
