#!/bin/sh
# pack round trips: npy -> qkv -> npy byte for byte, safetensors -> qkv
# values equal, Hugging Face directories -> qkv model files (tensors,
# dtype conversion, every model file as metadata), row streams -> npy,
# and the -t listing, all checked with numpy and formats/qkv.py.
cd "$(dirname "$0")/.." || exit 1
T=tests/tmp/pack.$$
mkdir -p "$T" && trap 'rm -rf "$T"' EXIT
"${PYTHON:-/usr/bin/python3}" - "$T" "${QKV_BIN:-bin}" <<'PY'
import json, os, struct, subprocess, sys, zlib
sys.path[:0] = ["formats", "tests"]
import numpy as np, qkv
from tap import ok, done

T, BIN = sys.argv[1], sys.argv[2]
PACK = os.path.join(BIN, "pack")
G = "tests/data/golden"
def pack(*a, stdin=None):
    r = subprocess.run([PACK] + list(a), capture_output=True, stdin=stdin)
    if r.returncode:
        print("# pack %s: %s" % (" ".join(a), r.stderr.decode().strip()))
    return r
def rd(p):
    return open(p, "rb").read()

def safetensors(path):
    b = rd(path)
    h = json.loads(b[8:8 + struct.unpack_from("<Q", b)[0]])
    base = 8 + struct.unpack_from("<Q", b)[0]
    dt = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8"}
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        a = np.frombuffer(b[base + s:base + e], dt[v["dtype"]]).reshape(v["shape"])
        out[k] = (v["dtype"], a)
    return out
def bf16_f32(u):
    return (u.astype("<u4").reshape(-1) << 16).view("<f4").reshape(u.shape)
def f32_bf16(f):
    u = f.astype("<f4").reshape(-1).view("<u4").astype(np.uint64)
    return ((u + np.uint64(0x7fff) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)).astype("<u2").reshape(f.shape)
def as_f32(dt, a):
    return bf16_f32(a) if dt == "BF16" else a.astype("<f4")

# -- npy -> qkv -> npy, byte for byte, every dtype numpy and qkv share
rng = np.random.default_rng(7)
arrays = {
    "f32_2d": rng.standard_normal((3, 5)).astype("<f4"),
    "f64_1d": rng.standard_normal(7),
    "f16_3d": rng.standard_normal((2, 3, 4)).astype("<f2"),
    "i64_1d": np.arange(-5, 6, dtype="<i8") * 10**15,
    "i32_2d": rng.integers(-2**31, 2**31, (4, 4)).astype("<i4"),
    "i16": np.array([-32768, 0, 32767], "<i2"),
    "u16": np.array([0, 65535], "<u2"),
    "i8": np.array([-128, 127], "i1"),
    "u8_scalar": np.array(200, "u1"),
    "empty": np.zeros((0, 3), "<f4"),
    "big.name.with.dots": np.ones((130, 17), "<f4"),
}
os.makedirs(T + "/npy")
for k, a in arrays.items():
    np.save("%s/npy/%s.npy" % (T, k), a)
r = pack("-c", "-o", T + "/a.qkv", *["%s/npy/%s.npy" % (T, k) for k in arrays])
ok(r.returncode == 0 and r.stdout == b"" and r.stderr == b"", "pack -c of %d .npy files, silent" % len(arrays))
r = pack("-x", "-C", T + "/out", T + "/a.qkv")
ok(r.returncode == 0, "pack -x")
ok(sorted(os.listdir(T + "/out")) == sorted(k + ".npy" for k in arrays), "one .npy per tensor, nothing else")
same = [k for k in arrays if rd("%s/npy/%s.npy" % (T, k)) == rd("%s/out/%s.npy" % (T, k))]
ok(len(same) == len(arrays), "npy -> qkv -> npy byte-identical (%d of %d)" % (len(same), len(arrays)))
k, m, d = qkv.read(T + "/a.qkv")
ok(k == "T" and list(d) == list(arrays) and all(np.array_equal(d[x], arrays[x]) and d[x].dtype == arrays[x].dtype
                                                for x in arrays), "formats/qkv.py reads what pack -c wrote")

# -- the -t listing: name dtype shape codec stored raw crc
dtn = {"<f4": "f32", "<f8": "f64", "<f2": "f16", "<i8": "i64", "<i4": "i32", "<i2": "i16", "<u2": "u16",
       "|i1": "i8", "|u1": "u8"}
want = "".join("%s\t%s\t%s\traw\t%d\t%d\t%08x\n" % (
    x, dtn[a.dtype.str], "x".join(map(str, a.shape)) or "()", a.nbytes, a.nbytes, zlib.crc32(a.tobytes()))
    for x, a in arrays.items())
r = pack("-t", T + "/a.qkv")
ok(r.returncode == 0 and r.stdout.decode() == want, "pack -t lists name, dtype, shape, codec, sizes, CRC")
r = pack("-t", stdin=open(T + "/a.qkv", "rb"))
ok(r.returncode == 0 and r.stdout.decode() == want, "pack -t reads a tensor file from standard input")
r = pack("-v", T + "/a.qkv")
ok(r.returncode == 0 and r.stdout == ("%s/a.qkv: ok: %d tensors, 0 metadata\n" % (T, len(arrays))).encode(),
   "pack -v says ok")
ok(pack("-v", "-q", T + "/a.qkv").stdout == b"", "pack -v -q says nothing")

# -- qkv and safetensors inputs to -c: tensors under their own names
for name in ("bert-tiny", "bert-tiny-legacy-bf16", "gpt2-tiny-legacy-f16"):
    st = safetensors("%s/%s/model.safetensors" % (G, name))
    r = pack("-c", "-o", T + "/st.qkv", "%s/%s/model.safetensors" % (G, name), T + "/a.qkv")
    k, m, d = qkv.read(T + "/st.qkv")
    good = r.returncode == 0 and list(d) == list(st) + list(arrays)
    for x, (dt, a) in st.items():
        good = good and np.array_equal(d[x], as_f32(dt, a) if dt == "BF16" else a)
    ok(good, "safetensors (%s) + qkv -> qkv: names, order and values equal" % name)

# -- Hugging Face directories -> model files
for name in sorted(os.listdir(G)):
    src = os.path.join(G, name)
    if not os.path.isdir(src):
        continue
    st = safetensors(src + "/model.safetensors")
    files = {}
    for dp, dn, fn in os.walk(src):
        depth = dp[len(src):].count("/")
        dn[:] = [x for x in dn if depth == 0]
        for f in fn:
            if f.endswith((".json", ".txt", ".model")) and not f.endswith(".index.json"):
                files["file:" + os.path.relpath(os.path.join(dp, f), src)] = rd(os.path.join(dp, f))
    for dtype in (None, "f16", "bf16", "f32"):
        out = "%s/%s.%s.qkv" % (T, name, dtype)
        r = pack("-i", src, "-o", out, *(["--dtype", dtype] if dtype else []))
        if not ok(r.returncode == 0, "pack -i %s --dtype %s" % (name, dtype)):
            continue
        k, m, d = qkv.read(out)
        good = k == "T" and m == files and list(d) == list(st)
        for x, (dt, a) in st.items():
            if dtype is None:
                w = as_f32(dt, a) if dt == "BF16" else a
            else:
                f = as_f32(dt, a) if dt in ("F16", "BF16", "F32") else a
                w = {"f16": lambda f: f.astype("<f2"), "bf16": lambda f: bf16_f32(f32_bf16(f)),
                     "f32": lambda f: f}[dtype](f) if dt in ("F16", "BF16", "F32") else a
            good = good and np.array_equal(d[x], w) and d[x].dtype == w.dtype
        ok(good, "%s --dtype %s: %d tensors (rounded to nearest even) and %d files equal"
           % (name, dtype, len(st), len(files)))
    ok(pack("-v", "-q", "%s/%s.None.qkv" % (T, name)).returncode == 0, "%s model file verifies" % name)
ok("file:1_Pooling/config.json" in qkv.read("%s/bert-tiny-st.None.qkv" % T)[1],
   "sentence-transformers module files come along under their relative path")
r = pack("-M", "file:config.json", "%s/gpt2-tiny.None.qkv" % T)
ok(r.returncode == 0 and r.stdout == rd(G + "/gpt2-tiny/config.json"), "pack -M prints a metadata value")

# -x of a model file gives the directory back: files as they were
r = pack("-x", "-C", T + "/m", "%s/bert-tiny-st.None.qkv" % T)
ok(r.returncode == 0 and rd(T + "/m/1_Pooling/config.json") == rd(G + "/bert-tiny-st/1_Pooling/config.json")
   and rd(T + "/m/vocab.txt") == rd(G + "/bert-tiny-st/vocab.txt"), "pack -x writes the model files back")
st = safetensors(G + "/bert-tiny-st/model.safetensors")
ok(all(np.array_equal(np.load("%s/m/%s.npy" % (T, x)), a) for x, (dt, a) in st.items()), "and the tensors as .npy")
r = pack("-x", "-C", T + "/bf", "%s/bert-tiny-legacy-bf16.None.qkv" % T)
st = safetensors(G + "/bert-tiny-legacy-bf16/model.safetensors")
x = next(iter(st))
ok(r.returncode == 0 and np.array_equal(np.load("%s/bf/%s.npy" % (T, x)), bf16_f32(st[x][1])),
   "bf16 tensors extract as exact f32 (numpy has no bf16)")

# -- row streams: every column to .npy, ragged ones with offsets
subprocess.run(["tests/bin/qkvfile", "gen", T + "/s.qkv", T + "/t.qkv"], check=True)
k, m, d = qkv.read(T + "/s.qkv")
r = pack("-x", "-C", T + "/s", T + "/s.qkv")
ok(r.returncode == 0, "pack -x of a row stream")
good = True
for col, v in d.items():
    if isinstance(v, np.ndarray):
        good = good and np.array_equal(np.load("%s/s/%s.npy" % (T, col)), v)
        continue
    vals, offs = np.load("%s/s/%s.npy" % (T, col)), np.load("%s/s/%s.offsets.npy" % (T, col))
    good = good and offs.dtype == np.int64 and len(offs) == len(v) + 1 and offs[0] == 0
    for i, cell in enumerate(v):
        got = vals[offs[i]:offs[i + 1]]
        good = good and (got.tobytes().decode() == cell if isinstance(cell, str) else np.array_equal(got, cell))
ok(good, "fixed columns as (rows, ...) arrays; ragged and string ones as values + offsets")
r = pack("-x", "-C", T + "/s2", stdin=open(T + "/s.qkv", "rb"))
ok(r.returncode == 0 and all(rd("%s/s/%s" % (T, f)) == rd("%s/s2/%s" % (T, f)) for f in os.listdir(T + "/s")),
   "the same from standard input")
r = pack("-t", T + "/s.qkv")
lines = r.stdout.decode().splitlines()
vec = d["vec"]
ok(r.returncode == 0 and lines[2].split("\t")[:3] == ["vec", "f32", "3000x3x2"]
   and lines[2].split("\t")[3] == "shuffle" and int(lines[2].split("\t")[5]) == vec.nbytes
   and lines[2].split("\t")[6] == "%08x" % zlib.crc32(vec.tobytes()), "pack -t of a stream: totals and CRC per column")
ok(lines[0].split("\t")[:3] == ["ids", "i32", "3000x*"] and lines[1].split("\t")[:4] == ["text", "str", "3000x*", "zlib"]
   and lines[-1].split("\t")[:3] == ["empty", "meta", "0"], "ragged and string columns, metadata")
# through pipes: written without knowing the length, read without seeking
sh = lambda cmd: subprocess.run(cmd, shell=True, capture_output=True)
r = sh("tests/bin/qkvfile gen /dev/stdout %s/t2.qkv | %s -v" % (T, PACK))
ok(r.returncode == 0 and r.stdout == b"<stdin>: ok: 3000 rows, 8 columns, %d chunks\n" % int(r.stdout.split()[-2]),
   "a stream written into a pipe and verified from it")
r = sh("%s -c -o - %s/a.qkv | %s -t" % (PACK, T, PACK))
ok(r.returncode == 0 and r.stdout.decode() == want, "a tensor file written into a pipe and listed from it")
r = pack("-v", T + "/s.qkv")
ok(r.stdout.decode().endswith("ok: 3000 rows, 8 columns, %d chunks\n" % int(r.stdout.split()[-2])), "pack -v of a stream")
done()
PY
