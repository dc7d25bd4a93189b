"""qkv.py - read and write qkv files (formats/qkv.md) with numpy.

kind, meta, data = read(path_or_bytes)
    kind 'S' (row stream): data maps each column name, in order, to an array
    of shape (rows, *shape) (fixed), a list of 1-D arrays (ragged) or a list
    of str (string).  kind 'T' (tensor file): data maps names to arrays.
    bf16 comes back as float32 (exactly).  meta maps keys to bytes.  Every
    check of the specification is made; damage raises ValueError.
write_stream(path, cols, data, meta={}, chunk=1000, codec=1)
    cols: [(name, kind, dtype, shape)], kind 'fixed', 'ragged' or 'string'.
write_tensors(path, tensors, meta={})
    tensors: {name: array}, or {name: ('bf16', uint16 array of the bits)}.
"""
import struct, zlib
import numpy as np

NAMES = [None, "u8", "i8", "u16", "i16", "i32", "i64", "f16", "bf16", "f32", "f64", "str"]
NP = [None, "u1", "i1", "<u2", "<i2", "<i4", "<i8", "<f2", "<u2", "<f4", "<f8", "u1"]
KINDS = ["fixed", "ragged", "string"]
MAXREC = 1 << 30


def fail(msg, off=None):
    raise ValueError(msg if off is None else "offset %d: %s" % (off, msg))


class Cur:  # a bounds-checked reader over one record body
    def __init__(s, b): s.b, s.i = b, 0
    def u(s, f): return struct.unpack("<" + f, s.take(struct.calcsize(f)))[0]
    def done(s): s.i == len(s.b) or fail("bytes left over in a record")

    def take(s, n):
        if n > len(s.b) - s.i:
            fail("field runs past the record")
        s.i += n
        return s.b[s.i - n:s.i]

    def name(s):
        v = s.take(s.u("B"))
        return v.decode("utf-8", "surrogateescape") if v and b"\0" not in v else fail("bad name")

    def dims(s):
        d = tuple(s.u("Q") for _ in range(s.u("B")))
        return d if len(d) <= 8 and all(x < 1 << 63 for x in d) else fail("bad shape")

    def meta(s, n):
        m = {}
        for _ in range(n):
            k = s.name()
            m[k] = fail("key %r twice" % k) if k in m else s.take(s.u("I"))
        return m


def esize(dt):
    return np.dtype(NP[dt]).itemsize if 1 <= dt <= 10 else fail("bad dtype %d" % dt)


def nbytes(dt, shape):
    return esize(dt) * int(np.prod(shape, dtype=object))


def as_array(b, dt, shape):
    a = np.frombuffer(b, NP[dt])
    return ((a.astype("<u4") << 16).view("<f4") if dt == 8 else a).reshape(shape)


def record(b, off, tag=None):
    if off + 8 > len(b):
        fail("truncated: no end record", off)
    t, n = b[off:off + 4], struct.unpack_from("<I", b, off + 4)[0]
    if n > MAXREC or off + 12 + n > len(b):
        fail("truncated or oversized record", off)
    if zlib.crc32(b[off:off + 8 + n]) != struct.unpack_from("<I", b, off + 8 + n)[0]:
        fail("%r record: checksum mismatch" % t, off)
    if tag and t != tag:
        fail("expected %r, found %r" % (tag, t), off)
    return t, Cur(b[off + 8:off + 8 + n]), off + 12 + n


def read(src):
    b = bytes(src) if isinstance(src, (bytes, bytearray, memoryview)) else open(src, "rb").read()
    if b[:5] != b"\x89QKV\x01" or b[6:8] != b"\0\0" or b[5:6] not in (b"S", b"T"):
        fail("not a version-1 qkv file")
    return (b[5:6].decode(),) + (read_stream(b) if b[5:6] == b"S" else read_tensors(b))


def read_tensors(b):
    if len(b) < 112:
        fail("truncated")
    _, c, _ = record(b, len(b) - 28, b"END ")
    toc, nt, nm = c.u("Q"), c.u("I"), c.u("I")
    if not 64 <= toc <= len(b) - 40:
        fail("bad TOC offset")
    _, c, end = record(b, toc, b"TOC ")
    if end != len(b) - 28 or (c.u("I"), c.u("I")) != (nt, nm):
        fail("TOC and END disagree")
    tensors, prev = {}, 64
    for _ in range(nt):
        name, dt, shape, off, size, crc = c.name(), c.u("B"), c.dims(), c.u("Q"), c.u("Q"), c.u("I")
        if name in tensors or size != nbytes(dt, shape) or off % 64 or off < prev or off + size > toc:
            fail("tensor %r: duplicate, misplaced, or size and shape disagree" % name)
        if zlib.crc32(b[off:off + size]) != crc:
            fail("tensor %r: checksum mismatch" % name, off)
        tensors[name], prev = as_array(b[off:off + size], dt, shape), off + size
    meta = c.meta(nm)
    c.done()
    return meta, tensors


def read_stream(b):
    _, c, off = record(b, 8, b"HEAD")
    ncols, nm = c.u("I"), c.u("I")
    cols = [(c.name(), c.u("B"), c.u("B"), c.dims()) for _ in range(ncols)] if 1 <= ncols <= 1024 else fail("ncols")
    meta, data, nrows, nchunks = c.meta(nm), {}, 0, 0
    c.done()
    for name, kind, dt, shape in cols:
        if name in data or kind > 2 or (kind == 2) != (dt == 11) or (kind and shape) or (
                kind < 2 and nbytes(dt, shape) > MAXREC):
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
            continue  # ancillary
        if tag != b"CHNK":
            fail("unknown record %r" % tag, at)
        n, total = c.u("I"), 0
        if not 1 <= n <= 1 << 24:
            fail("bad row count", at)
        for name, kind, dt, shape in cols:
            codec, res, ulen, clen, crc = c.u("B"), c.take(3), c.u("I"), c.u("I"), c.u("I")
            raw, k, h, total = c.take(clen), 1 if kind == 2 else esize(dt), 4 * n if kind else 0, total + ulen
            if codec > 2 or res != b"\0\0\0" or (codec == 2 and k < 2) or total > MAXREC or (
                    ulen > 1032 * clen if codec else ulen != clen):
                fail("column %r: bad codec or sizes" % name, at)
            raw = zlib.decompress(raw) if codec else raw
            if len(raw) != ulen:
                fail("column %r: size mismatch" % name, at)
            if codec == 2:
                raw = raw[:h] + np.frombuffer(raw, np.uint8, offset=h).reshape(k, -1).T.tobytes()
            if zlib.crc32(raw) != crc:
                fail("column %r: checksum mismatch" % name, at)
            if kind == 0:
                data[name] = np.concatenate([data[name], as_array(raw, dt, (n,) + shape)])
                continue
            ends = h + np.cumsum(np.frombuffer(raw, "<u4", n).astype(np.int64)) * k
            if ulen < h or ends[-1] != ulen:
                fail("column %r: lengths do not add up" % name, at)
            for s, e in zip(np.concatenate([[h], ends[:-1]]), ends):
                data[name].append(raw[s:e].decode("utf-8", "surrogateescape") if kind == 2
                                  else as_array(raw[s:e], dt, (-1,)))
        c.done()
        nrows, nchunks = nrows + n, nchunks + 1


# -- writing ---------------------------------------------------------------

def rec(tag, body):
    h = tag + struct.pack("<I", len(body)) + body
    return h + struct.pack("<I", zlib.crc32(h))


def name8(s):
    s = s.encode()
    return struct.pack("<B", len(s)) + s


def meta_bytes(meta):
    return b"".join(name8(k) + struct.pack("<I", len(v)) + v for k, v in meta.items())


def code(dtype):
    return NAMES.index(dtype) if isinstance(dtype, str) else NP.index(np.dtype(dtype).str.replace("|", ""))


def write_stream(path, cols, data, meta={}, chunk=1000, codec=1):
    head = struct.pack("<II", len(cols), len(meta))
    for name, kind, dt, shape in cols:
        head += name8(name) + struct.pack("<BBB", KINDS.index(kind), code(dt), len(shape))
        head += b"".join(struct.pack("<Q", d) for d in shape)
    out = [b"\x89QKV\x01S\0\0", rec(b"HEAD", head + meta_bytes(meta))]
    nrows = len(data[cols[0][0]])
    starts = range(0, nrows, chunk)
    for r in starts:
        n = min(chunk, nrows - r)
        body = struct.pack("<I", n)
        for name, kind, dt, shape in cols:
            cells, k = data[name][r:r + n], 1 if kind == "string" else np.dtype(NP[code(dt)]).itemsize
            if kind == "fixed":
                h, v = b"", np.ascontiguousarray(cells, NP[code(dt)]).tobytes()
            else:
                cells = [x.encode() if kind == "string" else np.asarray(x, NP[code(dt)]).tobytes() for x in cells]
                h, v = np.array([len(x) // k for x in cells], "<u4").tobytes(), b"".join(cells)
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
