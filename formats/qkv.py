"""qkv.py - read and write qkv files (formats/qkv.md) with numpy.

    kind, meta, data = qkv.read(path_or_bytes)
        kind 'S' (row stream): data maps each column name, in order, to an
        array of shape (rows, *shape) (fixed), a list of 1-D arrays (ragged)
        or a list of str (string).  kind 'T' (tensor file): data maps names
        to arrays.  bf16 is returned as float32 (exact).  meta maps keys to
        bytes.  Every check of the specification is made; errors raise
        ValueError.
    qkv.write_stream(path, cols, data, meta={}, chunk=1000, codec=1)
        cols: [(name, kind, dtype, shape)], kind 'fixed'|'ragged'|'string'.
    qkv.write_tensors(path, tensors, meta={})
        tensors: {name: array} (or (dtype name, array) for 'bf16', u16 bits).
"""
import struct, zlib
import numpy as np

NAMES = [None, "u8", "i8", "u16", "i16", "i32", "i64", "f16", "bf16", "f32", "f64", "str"]
NP = [None, "u1", "i1", "<u2", "<i2", "<i4", "<i8", "<f2", "<u2", "<f4", "<f8", "u1"]
KINDS = ["fixed", "ragged", "string"]
MAXREC, MAXCOLS, MAXROWS = 1 << 30, 1024, 1 << 24


def fail(msg, off=None):
    raise ValueError(msg if off is None else "offset %d: %s" % (off, msg))


class Cur:
    def __init__(s, b):
        s.b, s.i = b, 0

    def take(s, n):
        if n > len(s.b) - s.i:
            fail("field runs past the record")
        s.i += n
        return s.b[s.i - n:s.i]

    def u(s, f):
        return struct.unpack("<" + f, s.take(struct.calcsize(f)))[0]

    def name(s):
        v = s.take(s.u("B"))
        if not v or b"\0" in v:
            fail("bad name")
        return v.decode("utf-8", "surrogateescape")

    def dims(s):
        d = [s.u("Q") for _ in range(s.u("B"))]
        if len(d) > 8 or any(x >= 1 << 63 for x in d):
            fail("bad shape")
        return tuple(d)

    def meta(s, n):
        m = {}
        for _ in range(n):
            k = s.name()
            if k in m:
                fail("metadata key %r twice" % k)
            m[k] = bytes(s.take(s.u("I")))
        return m

    def done(s):
        if s.i != len(s.b):
            fail("bytes left over in a record")


def esize(dt):
    if not 1 <= dt <= 10:
        fail("bad dtype %d" % dt)
    return np.dtype(NP[dt]).itemsize


def as_array(b, dt, shape):
    a = np.frombuffer(b, NP[dt]).reshape(shape)
    return (a.astype("<u4") << 16).view("<f4") if dt == 8 else a


def record(b, off, tag=None):
    if off + 8 > len(b):
        fail("truncated: no end record", off)
    t, n = bytes(b[off:off + 4]), struct.unpack_from("<I", b, off + 4)[0]
    if n > MAXREC or off + 12 + n > len(b):
        fail("truncated or oversized record", off)
    if zlib.crc32(b[off:off + 8 + n]) != struct.unpack_from("<I", b, off + 8 + n)[0]:
        fail("%r record: checksum mismatch" % t, off)
    if tag and t != tag:
        fail("expected %r, found %r" % (tag, t), off)
    return t, Cur(b[off + 8:off + 8 + n]), off + 12 + n


def read(src):
    b = bytes(src) if isinstance(src, (bytes, bytearray, memoryview)) else open(src, "rb").read()
    if len(b) < 8 or bytes(b[:4]) != b"\x89QKV" or b[4] != 1 or b[6:8] != b"\0\0":
        fail("not a version-1 qkv file")
    if b[5] == ord("T"):
        return ("T",) + read_tensors(b)
    if b[5] == ord("S"):
        return ("S",) + read_stream(b)
    fail("unknown kind")


def read_tensors(b):
    if len(b) < 112:
        fail("truncated")
    _, c, end = record(b, len(b) - 28, b"END ")
    toc, nt, nm = c.u("Q"), c.u("I"), c.u("I")
    if not 64 <= toc <= len(b) - 40:
        fail("bad TOC offset")
    _, c, end = record(b, toc, b"TOC ")
    if end != len(b) - 28 or (c.u("I"), c.u("I")) != (nt, nm):
        fail("TOC and END disagree")
    tensors, prev = {}, 64
    for _ in range(nt):
        name, dt, shape = c.name(), c.u("B"), c.dims()
        off, nbytes, crc = c.u("Q"), c.u("Q"), c.u("I")
        if name in tensors or nbytes != esize(dt) * int(np.prod(shape, dtype=object)):
            fail("tensor %r: duplicate, or size and shape disagree" % name)
        if off % 64 or off < prev or off + nbytes > toc:
            fail("tensor %r: misaligned or out of range" % name)
        data = b[off:off + nbytes]
        if zlib.crc32(data) != crc:
            fail("tensor %r: checksum mismatch" % name, off)
        tensors[name], prev = as_array(data, dt, shape), off + nbytes
    meta = c.meta(nm)
    c.done()
    return meta, tensors


def read_stream(b):
    _, c, off = record(b, 8, b"HEAD")
    ncols, nm = c.u("I"), c.u("I")
    if not 1 <= ncols <= MAXCOLS:
        fail("bad column count")
    cols = [(c.name(), c.u("B"), c.u("B"), c.dims()) for _ in range(ncols)]
    meta = c.meta(nm)
    c.done()
    data, nrows, nchunks = {}, 0, 0
    for name, kind, dt, shape in cols:
        if name in data or kind > 2 or (kind == 2) != (dt == 11) or (kind and shape) or (
                kind < 2 and esize(dt) * int(np.prod(shape, dtype=object)) > MAXREC):
            fail("column %r: bad declaration" % name)
        data[name] = [] if kind else np.zeros((0,) + shape, NP[dt])
    while True:
        at = off
        tag, c, off = record(b, off)
        if tag == b"END ":
            if (c.u("Q"), c.u("Q")) != (nrows, nchunks) or off != len(b):
                fail("END: counts disagree, or data after the end", at)
            return meta, data
        if 97 <= tag[0] <= 122:
            continue
        if tag != b"CHNK":
            fail("unknown record %r" % tag, at)
        n = c.u("I")
        if not 1 <= n <= MAXROWS:
            fail("bad row count", at)
        for name, kind, dt, shape in cols:
            codec, res, ulen, clen, crc = c.u("B"), c.take(3), c.u("I"), c.u("I"), c.u("I")
            raw = bytes(c.take(clen))
            k = 1 if kind == 2 else esize(dt)
            if codec > 2 or bytes(res) != b"\0\0\0" or (codec == 2 and k < 2):
                fail("column %r: bad codec" % name, at)
            if ulen > MAXREC or (codec and ulen > 1032 * clen):
                fail("column %r: impossible size" % name, at)
            if codec:
                raw = zlib.decompress(raw)
            if len(raw) != ulen or (codec == 0 and clen != ulen):
                fail("column %r: size mismatch" % name, at)
            h = 0 if kind == 0 else 4 * n
            if codec == 2:
                v = np.frombuffer(raw, np.uint8, offset=h)
                raw = raw[:h] + v.reshape(k, -1).T.tobytes()
            if zlib.crc32(raw) != crc:
                fail("column %r: checksum mismatch" % name, at)
            if kind == 0:
                a = as_array(raw, dt, (n,) + shape)
                data[name] = np.concatenate([data[name], a])
                continue
            counts = np.frombuffer(raw, "<u4", n).astype(np.int64)
            if ulen < h or h + int(counts.sum()) * k != ulen:
                fail("column %r: lengths do not add up" % name, at)
            ends = h + np.cumsum(counts) * k
            for s, e in zip(np.concatenate([[h], ends[:-1]]), ends):
                v = raw[s:e]
                data[name].append(v.decode("utf-8", "surrogateescape") if kind == 2
                                  else as_array(v, dt, (-1,)))
        c.done()
        nrows, nchunks = nrows + n, nchunks + 1


def rec(tag, body):
    h = tag + struct.pack("<I", len(body)) + body
    return h + struct.pack("<I", zlib.crc32(h))


def name8(s):
    s = s.encode()
    return struct.pack("<B", len(s)) + s


def meta_bytes(meta):
    return b"".join(name8(k) + struct.pack("<I", len(v)) + v for k, v in meta.items())


def code(dtype):
    return NAMES.index(dtype) if isinstance(dtype, str) else NP.index(np.dtype(dtype).newbyteorder("<").str.replace("|", ""))


def write_stream(path, cols, data, meta={}, chunk=1000, codec=1):
    out = [b"\x89QKV\x01S\0\0"]
    head = struct.pack("<II", len(cols), len(meta))
    for name, kind, dt, shape in cols:
        head += name8(name) + struct.pack("<BBB", KINDS.index(kind), code(dt), len(shape))
        head += b"".join(struct.pack("<Q", d) for d in shape)
    out.append(rec(b"HEAD", head + meta_bytes(meta)))
    nrows = len(data[cols[0][0]])
    starts = range(0, nrows, chunk)
    for r in starts:
        n = min(chunk, nrows - r)
        body = struct.pack("<I", n)
        for name, kind, dt, shape in cols:
            cells = data[name][r:r + n]
            if kind == "fixed":
                h, v = b"", np.ascontiguousarray(cells, NP[code(dt)]).tobytes()
            else:
                cells = [x.encode() if kind == "string" else np.asarray(x, NP[code(dt)]).tobytes() for x in cells]
                k = 1 if kind == "string" else np.dtype(NP[code(dt)]).itemsize
                h, v = np.array([len(x) // k for x in cells], "<u4").tobytes(), b"".join(cells)
            k = 1 if kind == "string" else np.dtype(NP[code(dt)]).itemsize
            cd = codec if k > 1 or codec < 2 else 1
            s = h + (np.frombuffer(v, np.uint8).reshape(-1, k).T.tobytes() if cd == 2 else v)
            z = zlib.compress(s) if cd else s
            body += struct.pack("<B3xIII", cd, len(s), len(z), zlib.crc32(h + v)) + z
        out.append(rec(b"CHNK", body))
    out.append(rec(b"END ", struct.pack("<QQ", nrows, len(starts))))
    open(path, "wb").write(b"".join(out))


def write_tensors(path, tensors, meta={}):
    out, toc = bytearray(b"\x89QKV\x01T" + bytes(58)), b""
    for name, a in tensors.items():
        dt, a = (code(a[0]), a[1]) if isinstance(a, tuple) else (code(a.dtype), a)
        data = np.ascontiguousarray(a).tobytes()
        toc += name8(name) + struct.pack("<BB", dt, a.ndim) + b"".join(struct.pack("<Q", d) for d in a.shape)
        toc += struct.pack("<QQI", len(out), len(data), zlib.crc32(data))
        out += data + bytes(-len(data) % 64)
    at = len(out)
    out += rec(b"TOC ", struct.pack("<II", len(tensors), len(meta)) + toc + meta_bytes(meta))
    out += rec(b"END ", struct.pack("<QII", at, len(tensors), len(meta)))
    open(path, "wb").write(out)
