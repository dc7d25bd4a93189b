#!/bin/sh
# pack on bad input: every case gives exit status 1, one line on standard
# error naming the program and the file (and what is wrong), no crash, and
# no output left behind (pack -c -o, pack -x -C).  Damaged files are
# crafted here with correct CRCs, so that the check under test is the one
# that fires.
cd "$(dirname "$0")/.." || exit 1
T=tests/tmp/pack-bad.$$
mkdir -p "$T" && trap 'rm -rf "$T"' EXIT
"${PYTHON:-/usr/bin/python3}" - "$T" "${QKV_BIN:-bin}" <<'PY'
import json, os, struct, subprocess, sys, zlib
sys.path[:0] = ["formats", "tests"]
import numpy as np, qkv
from tap import ok, done

T, BIN = sys.argv[1], sys.argv[2]
PACK = os.path.join(BIN, "pack")

def refused(args, path, want, what):
    """pack ARGS fails as it should: exit 1, one line 'pack: PATH: ...WANT...',
    nothing on stdout, and no output file or directory left."""
    out = T + "/out.qkv"
    d = T + "/xdir"
    argv = [a.replace("OUT", out).replace("DIR", d) for a in args]
    r = subprocess.run([PACK] + argv, capture_output=True)
    err = r.stderr.decode(errors="replace")
    leftovers = [f for f in os.listdir(T) if f.startswith("out.qkv") or f == "xdir"]
    good = (r.returncode == 1 and err.count("\n") == 1 and err.startswith("pack: %s: " % path)
            and want in err and r.stdout == b"" and not leftovers)
    ok(good, "%s: pack %s -> %s" % (what, args[0], err.strip()))
    if not good:
        print("#   exit %d, stderr %r, leftovers %r" % (r.returncode, err, leftovers))
    for f in leftovers:
        subprocess.run(["rm", "-rf", os.path.join(T, f)])

def put(name, data):
    p = os.path.join(T, name)
    open(p, "wb").write(data)
    return p

def every_mode(path, want, what):
    for args in (["-v", path], ["-t", path], ["-x", "-C", "DIR", path], ["-c", "-o", "OUT", path]):
        w = want
        if args[0] == "-c" and not path.endswith(".qkv"):
            continue
        if args[0] == "-c" and qkv_kind(path) == "S":
            w = "a row stream"
        refused(args, path, w, what)

def qkv_kind(path):
    b = open(path, "rb").read(8)
    return chr(b[5]) if len(b) == 8 and b[:5] == b"\x89QKV\x01" else None

def rec(tag, body):
    return qkv.rec(tag, body)

# -- the first bytes
every_mode(put("empty.qkv", b""), "empty file", "empty file")
every_mode(put("text.qkv", b"hello, world\n"), "not a qkv file (bad magic)", "wrong magic")
every_mode(put("v2.qkv", b"\x89QKV\x02S\0\0"), "version 2", "unknown version")
every_mode(put("kind.qkv", b"\x89QKV\x01Z\0\0"), "unknown kind", "unknown kind")

# -- a stream of many chunks, cut at every chunk boundary and inside
cols = [("ids", "ragged", "i32", ()), ("vec", "fixed", "f32", (4,))]
rows = 50
data = {"ids": [np.arange(i % 7, dtype="<i4") for i in range(rows)],
        "vec": np.arange(rows * 4, dtype="<f4").reshape(rows, 4)}
qkv.write_stream(T + "/good.qkv", cols, data, chunk=10, codec=2)
good = open(T + "/good.qkv", "rb").read()
r = subprocess.run([PACK, "-v", T + "/good.qkv"], capture_output=True)
ok(r.returncode == 0, "the uncut stream verifies")
bounds, at = [], 8
while at < len(good):
    at += 12 + struct.unpack_from("<I", good, at + 4)[0]
    bounds.append(at)
ok(len(bounds) == 7, "it has HEAD, 5 chunks and END")
for i, cut in enumerate(bounds[:-1]):
    p = put("cut%d.qkv" % i, good[:cut])
    refused(["-v", p], p, "truncated: input ends before the end record", "cut after record %d" % i)
    refused(["-x", "-C", "DIR", p], p, "truncated", "cut after record %d" % i)
for cut in (4, 7, 12, bounds[1] + 3, bounds[2] - 1, len(good) - 1):
    p = put("cutin%d.qkv" % cut, good[:cut])
    refused(["-x", "-C", "DIR", p], p, "truncated", "cut at byte %d" % cut)
    refused(["-t", p], p, "truncated", "cut at byte %d" % cut)

# -- flipped bytes: in a chunk's data, its header, its CRC
for off, want in ((bounds[0] + 30, "checksum mismatch"), (bounds[1] + 1, "checksum mismatch"),
                  (bounds[1] + 5, "CHNK record (or its length, %d, is damaged)" % (struct.unpack_from("<I", good, bounds[1] + 4)[0] ^ 0x2000)), (bounds[2] - 2, "checksum mismatch"),
                  (bounds[-2] + 9, "checksum mismatch")):
    b = bytearray(good)
    b[off] ^= 0x20
    p = put("flip%d.qkv" % off, b)
    refused(["-v", p], p, want, "flipped byte at %d" % off)
    refused(["-x", "-C", "DIR", p], p, want, "flipped byte at %d" % off)

# -- crafted streams with correct CRCs
def stream(kind, dt, dims, chunks=(), end=None, name=b"x"):
    head = struct.pack("<II", 1, 0) + bytes([len(name)]) + name + bytes([kind, dt, len(dims)])
    head += b"".join(struct.pack("<Q", d) for d in dims)
    out = b"\x89QKV\x01S\0\0" + rec(b"HEAD", head)
    nrows = 0
    for nr, blocks in chunks:
        out += rec(b"CHNK", struct.pack("<I", nr) + b"".join(blocks))
        nrows += nr
    return out + rec(b"END ", struct.pack("<QQ", *(end or (nrows, len(chunks)))))
def block(codec, content, data=None, ulen=None):
    data = content if data is None else data
    return struct.pack("<B3xIII", codec, len(content) if ulen is None else ulen, len(data),
                       zlib.crc32(content)) + data

cases = [
    ("huge dims", stream(0, 9, [2**40, 2**40]), "shape too big"),
    ("dims overflowing 64 bits", stream(0, 9, [2**62, 2**62, 2**62]), "shape too big"),
    ("negative dim", stream(0, 9, [2**64 - 3]), "shape too big"),
    ("9 dimensions", stream(0, 9, [1] * 9), "9 dimensions"),
    ("bad dtype", stream(0, 12, [2]), "bad dtype"),
    ("zip bomb", stream(0, 1, [], [(1 << 24, [block(1, b"", zlib.compress(bytes(100)), 1 << 24)])]),
     "cannot hold"),
    ("overflowing row lengths", stream(1, 5, [], [(2, [block(0, struct.pack("<II", 2**32 - 1, 2**32 - 1))])]),
     "do not add up"),
    ("row count over 2^24", stream(0, 1, [0], [(2**24 + 1, [block(0, b"")])]), "rows (must be"),
    ("END with the wrong count", stream(0, 1, [], [(2, [block(0, b"\1\2")])], end=(3, 1)), "says 3 rows"),
    ("unknown record", b"\x89QKV\x01S\0\0" + stream(0, 1, [])[8:-28] + rec(b"XXXX", b"") + stream(0, 1, [])[-28:],
     "unknown record"),
    ("record length near 2^32", b"\x89QKV\x01S\0\0HEAD\xff\xff\xff\xff", "limit"),
    ("empty column name", stream(0, 1, [], name=b""), "bad name"),
]
for what, blob, want in cases:
    p = put(what.replace(" ", "_") + ".qkv", blob)
    refused(["-v", p], p, want, what)
    refused(["-x", "-C", "DIR", p], p, want, what)

# -- tensor files: cut at every part boundary, flipped data, crafted TOCs
qkv.write_tensors(T + "/tgood.qkv", {"a": np.arange(20, dtype="<f4"), "b": np.ones((3, 3), "<i8")}, {"k": b"v"})
tg = open(T + "/tgood.qkv", "rb").read()
for cut in (8, 64, 64 + 80, 64 + 128, 64 + 128 + 72, len(tg) - 28, len(tg) - 1):
    p = put("tcut%d.qkv" % cut, tg[:cut])
    every_mode(p, "truncated", "tensor file cut at %d" % cut)
b = bytearray(tg)
b[64 + 4] ^= 1
p = put("tflip.qkv", b)
refused(["-v", p], p, "tensor 'a': checksum mismatch", "flipped byte in tensor data")
refused(["-x", "-C", "DIR", p], p, "checksum mismatch", "flipped byte in tensor data")
refused(["-c", "-o", "OUT", p], p, "checksum mismatch", "flipped byte in tensor data")
b = bytearray(tg)
b[40] = 1
p = put("tpad.qkv", b)
refused(["-v", p], p, "padding", "a non-zero padding byte")

def tfile(entries, data=bytes(64), nt=None):
    toc = b""
    for name, dt, dims, off, nbytes in entries:
        toc += bytes([len(name)]) + name + bytes([dt, len(dims)]) + b"".join(struct.pack("<Q", d) for d in dims)
        toc += struct.pack("<QQI", off, nbytes, 0)
    at = 64 + len(data)
    nt = len(entries) if nt is None else nt
    return (b"\x89QKV\x01T" + bytes(58) + data + rec(b"TOC ", struct.pack("<II", nt, 0) + toc)
            + rec(b"END ", struct.pack("<QII", at, nt, 0)))
tcases = [
    ("huge dims", tfile([(b"w", 9, [2**62, 2**62], 64, 16)]), "overflow"),
    ("negative dims", tfile([(b"w", 9, [2**64 - 4, 1], 64, 16)]), "overflow"),
    ("size and shape disagree", tfile([(b"w", 9, [4], 64, 2**64 - 16)]), "disagree"),
    ("offset + size wraps", tfile([(b"w", 1, [64], 2**64 - 64, 64)]), "out of range"),
    ("data past the TOC", tfile([(b"w", 1, [2**40], 64, 2**40)]), "out of range"),
    ("misaligned tensor", tfile([(b"w", 1, [4], 65, 4)]), "misaligned"),
    ("overlapping tensors", tfile([(b"w", 1, [32], 64, 32), (b"v", 1, [32], 80, 32)]), "overlapping"),
    ("duplicate names", tfile([(b"w", 1, [8], 64, 8), (b"w", 1, [8], 128, 8)], bytes(128)), "appears twice"),
    ("a billion tensors", tfile([(b"w", 1, [8], 64, 8)], nt=10**9), "do not fit"),
]
for what, blob, want in tcases:
    p = put("t_" + what.replace(" ", "_") + ".qkv", blob)
    refused(["-t", p], p, want, what)
    refused(["-x", "-C", "DIR", p], p, want, what)
    refused(["-c", "-o", "OUT", p], p, want, what)

# -- inputs to pack -c: safetensors and .npy
def st(header, data=b""):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data
scases = [
    ("bad JSON in a safetensors header", st(b'{"w": {"dtype": "F32", "shape": [1], '), "bad JSON header"),
    ("safetensors header that is not an object", st(b'[1, 2]'), "not an object"),
    ("safetensors header longer than the file", struct.pack("<Q", 2**40) + b"{}", "does not fit"),
    ("huge dims in safetensors", st({"w": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 4]}},
                                    bytes(4)), "overflows"),
    ("negative dims in safetensors", st({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                                        bytes(4)), "bad shape"),
    ("safetensors offsets past the data", st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                                             bytes(4)), "outside"),
    ("truncated safetensors", st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(16))[:-30],
     "does not fit"),
]
for what, blob, want in scases:
    p = put(what.replace(" ", "_") + ".safetensors", blob)
    refused(["-c", "-o", "OUT", p], p, want, what)
p = put("empty.safetensors", b"")
refused(["-c", "-o", "OUT", p], p, "empty file", "empty safetensors file")
p = put("nothing.bin", b"\0" * 3)
refused(["-c", "-o", "OUT", p], p, "not a .npy, safetensors or qkv tensor file", "unknown input")
np.save(T + "/ok.npy", np.zeros(3, "<f4"))
hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }"
hdr += b" " * (-(len(hdr) + 11) % 64) + b"\n"
p = put("huge.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + bytes(16))
refused(["-c", "-o", "OUT", T + "/ok.npy", p], p, "size overflows", "huge dims in a .npy")
p = put("cut.npy", open(T + "/ok.npy", "rb").read()[:-4])
refused(["-c", "-o", "OUT", T + "/ok.npy", p], p, "shape says", "truncated .npy")
p = put("s.qkv", good)
refused(["-c", "-o", "OUT", p], p, "a row stream", "a row stream given to -c")
refused(["-c", "-o", "OUT", T + "/nonexistent.npy"], T + "/nonexistent.npy", "No such file", "a missing input")

# -- a clash in extracted names and unsafe names
qkv.write_tensors(T + "/evil.qkv", {"../evil": np.zeros(2, "<f4")})
refused(["-x", "-C", "DIR", T + "/evil.qkv"], "'../evil'", "not a safe relative path", "a tensor name with ..")
qkv.write_tensors(T + "/evil2.qkv", {"a": np.zeros(2, "<f4")}, {"file:/etc/passwd": b"x"})
refused(["-x", "-C", "DIR", T + "/evil2.qkv"], "'/etc/passwd'", "not a safe relative path",
        "an absolute metadata path")
ok(not os.path.exists(T + "/evil"), "nothing written outside the directory")

# -- usage errors: exit 2
for args in ([], ["-t", "-x", "f"], ["-c"], ["-i", "d", "--dtype", "f64", "-o", "x"], ["-t", "a", "b"]):
    r = subprocess.run([PACK] + args, capture_output=True)
    ok(r.returncode == 2 and (r.stderr.startswith(b"usage: pack") or r.stderr.startswith(b"pack: --dtype")),
       "usage error: pack %s -> exit %d" % (" ".join(args), r.returncode))
done()
PY
