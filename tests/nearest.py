"""nearest against a numpy brute force (run by tests/nearest.t).

The brute force scores every row in float64 and sorts stably: best first,
ties to the lower row.  Integer data (dot, l2) is exact in float32 too, so
there the hits must match row for row, ties included.  On real-valued data
two rows may change places only when their exact scores differ by less than
float32 can tell apart; identical rows (a tenth of the index is copies)
must come lowest row first, and a query equal to an index row must find
all its copies first.
"""
import os, select, signal, subprocess, sys, tempfile, time
import numpy as np

sys.path.insert(0, "formats")
import qkv  # formats/qkv.py, written from the format's specification

BIN = os.environ.get("QKV_BIN", "bin")
NEAREST = os.path.join(BIN, "nearest")
T = tempfile.mkdtemp()
n_ok = 0


def ok(cond, what, diag=""):
    global n_ok
    n_ok += 1
    print("%sok %d - %s" % ("" if cond else "not ", n_ok, what))
    if not cond and diag:
        print("\n".join("# " + l for l in str(diag).splitlines()[:20]))
    sys.stdout.flush()
    return cond


def path(name):
    return os.path.join(T, name)


def run(args, stdin=None, data=None):
    """Run nearest; returns (exit status, stdout, stderr)."""
    if stdin is not None:
        with open(stdin, "rb") as f:
            p = subprocess.run([NEAREST] + args, stdin=f, capture_output=True)
    else:
        p = subprocess.run([NEAREST] + args, input=data or b"",
                           capture_output=True)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def parse(out):
    """Lines -> {query: [(rank, score, row, text)]}, numbers from 1."""
    res = {}
    for line in out.splitlines():
        f = line.split("\t")
        res.setdefault(int(f[0]), []).append(
            (int(f[1]), float(f[2]), int(f[3]), f[4] if len(f) > 4 else None))
    return res


def write_text(name, Q):
    with open(path(name), "w") as f:
        for v in Q:
            f.write(" ".join("%.9g" % x for x in v) + "\n")  # exact for f32
    return path(name)


def exact_scores(metric, X, q, inv):
    """Scores of every row in float64, computed once per distinct vector
    (inv maps rows to distinct vectors) so identical rows tie exactly."""
    U = X.astype(np.float64)
    qd = q.astype(np.float64)
    if metric == "l2":
        s = np.sqrt(np.maximum(((U - qd) ** 2).sum(1), 0))
    else:
        s = U @ qd
        if metric == "cos":
            nx, nq = np.linalg.norm(U, axis=1), np.linalg.norm(qd)
            s = np.where((nx > 0) & (nq > 0), s / np.maximum(nx * nq, 1e-300), 0)
    return s[inv] if inv is not None else s


def brute(metric, s, k):
    """Top k rows of scores s: best first, ties to the lower row."""
    key = s if metric == "l2" else -s
    k = min(k, len(s))
    cut = np.partition(key, k - 1)[k - 1]
    cand = np.nonzero(key <= cut)[0]
    return cand[np.lexsort((cand, key[cand]))][:k]


def compare(metric, X, Q, k, out, inv=None, exact=False, groups=None):
    """None if out is the brute-force answer, else what differs."""
    res = parse(out)
    if sorted(res) != list(range(1, len(Q) + 1)):
        return "queries answered: %s" % sorted(res)[:10]
    Xd = X if inv is None else X[np.unique(inv, return_index=True)[1]]
    for i, q in enumerate(Q):
        s = exact_scores(metric, Xd, q, inv)
        want = brute(metric, s, k)
        got = res[i + 1]
        if [g[0] for g in got] != list(range(1, len(want) + 1)):
            return "query %d: ranks %s" % (i + 1, [g[0] for g in got][:12])
        rows = np.array([g[2] - 1 for g in got])
        if len(set(rows)) != len(rows) or rows.min() < 0 or rows.max() >= len(X):
            return "query %d: rows %s" % (i + 1, rows)
        for r, (g, w) in enumerate(zip(got, want)):
            a = rows[r]
            scale = max(1.0, abs(s[w]))
            if abs(g[1] - s[a]) > 1e-6 * scale:
                return "query %d rank %d: row %d score %r, exact %r" % (
                    i + 1, r + 1, a + 1, g[1], s[a])
            if a != w and (exact or s[a] == s[w] or abs(s[a] - s[w]) > 1e-5 * scale):
                return "query %d rank %d: row %d (%r), brute force row %d (%r)" % (
                    i + 1, r + 1, a + 1, s[a], w + 1, s[w])
        if groups is not None:  # copies of one vector: lowest rows, in order
            seen = {}
            for a in rows:
                seen.setdefault(inv[a], []).append(a)
            for g, rs in seen.items():
                if rs != list(groups[g][:len(rs)]):
                    return "query %d: copies of a row come as %s, not %s" % (
                        i + 1, [x + 1 for x in rs],
                        [x + 1 for x in groups[g][:len(rs)]])
    return None


rng = np.random.default_rng(20240604)

# ---- real-valued data: 100k rows, a tenth of them copies of 500 rows
N, D, NQ = 100_000, 37, 200
X = rng.standard_normal((N, D)).astype(np.float32)
src = rng.choice(N, 500, replace=False)
X[rng.choice(N, 10_000, replace=False)] = X[rng.choice(src, 10_000)]
_, first, inv = np.unique(X, axis=0, return_index=True, return_inverse=True)
inv = inv.reshape(-1)
groups = {}
for r in range(N):
    groups.setdefault(inv[r], []).append(r)
dup = [g for g in groups.values() if len(g) > 1]
Q = rng.standard_normal((NQ, D)).astype(np.float32)
Q[:40] = X[[g[0] for g in dup[:40]]]  # queries equal to rows with copies
Q[40] *= 0  # a zero query: everything scores 0 under cos
np.save(path("x.npy"), X)
qkv.write_tensors(path("x.qkv"), {"vectors": X})
texts = ["row %d\tof\nthe index" % (r + 1) for r in range(N)]
qkv.write_stream(path("xs.qkv"), [("text", "string", "str", ()),
                                  ("vec", "fixed", "f32", (D,))],
                 {"text": texts, "vec": X})
qtxt = write_text("q.txt", Q)
qkv.write_stream(path("q.qkv"), [("vec", "fixed", "f32", (D,))], {"vec": Q})

outs = {}
for m in ("cos", "dot", "l2"):
    t = time.time()
    rc, out, err = run(["-m", m, path("x.npy")], stdin=qtxt)
    el = time.time() - t
    outs[m] = out
    ok(rc == 0 and compare(m, X, Q, 10, out, inv, groups=groups) is None,
       "%s: %d queries x %d rows, the brute-force top 10 (%.2fs)" % (m, NQ, N, el),
       err or compare(m, X, Q, 10, out, inv, groups=groups))

rc, out, err = run(["-k", "300", path("x.npy")], stdin=qtxt)
ok(rc == 0 and compare("cos", X, Q[:60], 300, "\n".join(
    l for l in out.splitlines() if int(l.split("\t")[0]) <= 60), inv,
    groups=groups) is None, "cos -k 300", err)
rc, out, err = run([path("x.qkv")], stdin=qtxt)
ok(rc == 0 and out == outs["cos"], "a qkv tensor file answers as the .npy", err)
rc, out, err = run([path("x.npy")], stdin=path("q.qkv"))
ok(rc == 0 and out == outs["cos"], "queries from a qkv stream as from text", err)
rc, out, err = run([path("xs.qkv")], stdin=qtxt)
want = "".join("%s\t%s\n" % (l, texts[int(l.split("\t")[3]) - 1].replace(
    "\t", " ").replace("\n", " ")) for l in outs["cos"].splitlines())
with_text = want
ok(rc == 0 and out == want, "a vector stream index: the same rows, with text",
   err or out[:300])

# several files, rows numbered across them: npy, tensor file, stream
cuts = [0, 30_011, 64_000, N]
np.save(path("p0.npy"), X[:cuts[1]])
qkv.write_tensors(path("p1.qkv"), {"x": X[cuts[1]:cuts[2]].astype(np.float16)})
qkv.write_stream(path("p2.qkv"), [("vec", "fixed", "f32", (D,)),
                                  ("text", "string", "str", ())],
                 {"vec": X[cuts[2]:], "text": texts[cuts[2]:]})
Xp = X.copy()
Xp[cuts[1]:cuts[2]] = X[cuts[1]:cuts[2]].astype(np.float16).astype(np.float32)
rc, out, err = run(["-m", "dot", path("p0.npy"), path("p1.qkv"), path("p2.qkv")],
                   stdin=qtxt)
bad = compare("dot", Xp, Q, 10, out)
texts_ok = all((t is None) == (row <= cuts[2]) and (t is None or
               t == texts[row - 1].replace("\t", " ").replace("\n", " "))
               for hits in parse(out).values() for _, _, row, t in hits)
ok(rc == 0 and bad is None and texts_ok,
   "three files (npy, f16 tensor file, stream): rows numbered across them",
   err or bad or "texts")

# ranks stable: batches of other sizes, one thread, give the same lines
lines = outs["l2"].splitlines()
same = True
for i in (0, 1, 7, 41, 199):
    rc, out, err = run(["-m", "l2", path("x.npy")], data=open(qtxt, "rb")
                       .read().splitlines(True)[i])
    want = ["%d\t%s" % (1, l.split("\t", 1)[1]) for l in lines
            if l.split("\t")[0] == str(i + 1)]
    same = same and rc == 0 and out.splitlines() == want
ok(same, "a query alone gets the lines it got in a batch of %d" % NQ)
rc, out, err = run(["-j", "1", "-m", "l2", path("x.npy")], stdin=qtxt)
ok(rc == 0 and out == outs["l2"], "-j 1 gives the same lines", err)

# ---- integer data: scores exact in float32, ties everywhere
Xi = rng.integers(-2, 3, (N, 24)).astype(np.float32)
Qi = rng.integers(-2, 3, (100, 24)).astype(np.float32)
Qi[:10] = Xi[:10]
np.save(path("xi.npy"), Xi)
qi = write_text("qi.txt", Qi)
for m in ("dot", "l2"):
    rc, out, err = run(["-m", m, "-k", "25", path("xi.npy")], stdin=qi)
    ok(rc == 0 and compare(m, Xi, Qi, 25, out, exact=True) is None,
       "%s on small integers: row for row, %d-way ties included" % (
           m, np.unique(Xi @ Qi[11], return_counts=True)[1].max()),
       err or compare(m, Xi, Qi, 25, out, exact=True))

# ---- k beyond the rows, an empty index, -o
small = X[:7]
np.save(path("small.npy"), small)
rc, out, err = run(["-k", "50", "-m", "l2", path("small.npy")], data=b"1 " * D)
ok(rc == 0 and compare("l2", small, np.ones((1, D), np.float32), 50, out) is None
   and len(out.splitlines()) == 7, "-k beyond the rows: every row, sorted", err)
np.save(path("empty.npy"), np.zeros((0, D), np.float32))
rc, out, err = run([path("empty.npy")], data=b"1 " * D)
ok(rc == 0 and out == "", "an empty index: no lines", err)
rc, out, err = run(["-o", path("out.txt"), "-m", "l2", path("x.npy")], stdin=qtxt)
ok(rc == 0 and out == "" and open(path("out.txt")).read() == outs["l2"],
   "-o writes the file", err)

# ---- streaming: each batch is answered before the next query comes
p = subprocess.Popen([NEAREST, "-k", "3", path("x.npy")], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
got = []
for i in range(3):
    p.stdin.write(open(qtxt, "rb").read().splitlines(True)[i])
    p.stdin.flush()
    buf = b""
    deadline = time.time() + 30
    while buf.count(b"\n") < 3 and time.time() < deadline:
        if select.select([p.stdout], [], [], 1)[0]:
            buf += os.read(p.stdout.fileno(), 4096)
    got.append(buf.decode())
p.stdin.close()
p.wait()
ok(p.returncode == 0 and [g.count("\n") for g in got] == [3, 3, 3] and
   all(g.startswith("%d\t1\t" % (i + 1)) for i, g in enumerate(got)),
   "answers stream: each query answered before the next is written", got)

# ---- a stream index on a pipe serves the first batch, then says why not
r, w = os.pipe()
p = subprocess.Popen([NEAREST, "-k", "2", "/dev/fd/%d" % r], pass_fds=[r],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
os.close(r)
feeder = subprocess.Popen(["cat", path("xs.qkv")], stdout=w)
os.close(w)
qlines = open(qtxt, "rb").read().splitlines(True)
p.stdin.write(qlines[0])
p.stdin.flush()
first = p.stdout.readline() + p.stdout.readline()
p.stdin.write(qlines[1])
p.stdin.close()
rest, err = p.stdout.read(), p.stderr.read().decode()
p.wait()
feeder.wait()
ok(first.decode().splitlines() == with_text.splitlines()[:2] and rest == b""
   and p.returncode == 1 and "read only once" in err and
   len(err.splitlines()) == 1,
   "a stream index on a pipe: one batch, then a one-line error", err)

# 1000 queries of 384 numbers from a file take a while to parse: still one
# batch, so a pipe index serves them all
X3 = rng.standard_normal((3000, 384)).astype(np.float32)
qkv.write_stream(path("x3.qkv"), [("vec", "fixed", "f32", (384,))], {"vec": X3})
q3 = write_text("q3.txt", rng.standard_normal((1000, 384)).astype(np.float32))
r, w = os.pipe()
feeder = subprocess.Popen(["cat", path("x3.qkv")], stdout=w)
os.close(w)
with open(q3, "rb") as f:
    p = subprocess.run([NEAREST, "-k", "1", "/dev/fd/%d" % r], pass_fds=[r],
                       stdin=f, capture_output=True)
os.close(r)
feeder.wait()
rc2, out2, err2 = run(["-k", "1", path("x3.qkv")], stdin=q3)
ok(p.returncode == 0 and p.stdout.decode() == out2 and out2.count("\n") == 1000,
   "1000 queries from a file make one batch: a pipe index serves them all",
   p.stderr)

# ---- | head: SIGPIPE ends it quietly
p = subprocess.Popen([NEAREST, "-k", "100", path("x.npy")], stdin=open(qtxt),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
first = p.stdout.readline()
p.stdout.close()
err = p.stderr.read()
p.wait()
ok(first.startswith(b"1\t1\t") and p.returncode in (0, -signal.SIGPIPE) and
   err == b"", "| head: ends quietly (status %d)" % p.returncode, err)

# ---- bad input: one line naming the program, exit 1 (2 for usage)
Q36 = Q[:, :36].copy()
qkv.write_stream(path("q36.qkv"), [("vec", "fixed", "f32", (36,))], {"vec": Q36})
qkv.write_stream(path("qtext.qkv"), [("text", "string", "str", ())],
                 {"text": ["a", "b"]})
qkv.write_tensors(path("two.qkv"), {"a": small, "b": small})
qkv.write_tensors(path("int.qkv"), {"a": np.ones((3, D), np.int32)})
qkv.write_tensors(path("d5.qkv"), {"a": np.ones((3, 5), np.float32)})
with open(path("xs.qkv"), "rb") as f:
    whole = f.read()
with open(path("trunc.qkv"), "wb") as f:
    f.write(whole[:len(whole) // 2])
with open(path("flip.qkv"), "wb") as f:
    f.write(whole[:5000] + bytes([whole[5000] ^ 1]) + whole[5001:])
with open(path("q.bad"), "w") as f:
    f.write(open(qtxt).readline() + " ".join(["1"] * (D - 1)) + "\n")
cases = [
    ("a query stream of another dimension", [path("x.npy")], path("q36.qkv"),
     1, "dimension 36, the index has 37"),
    ("a query stream without vectors", [path("x.npy")], path("qtext.qkv"), 1,
     "no column 'vec'"),
    ("a text vector of another dimension", [path("x.npy")], path("q.bad"), 1,
     "line 2: expected 37 numbers, found 36"),
    ("a text vector with a word", [path("x.npy")], None, 1,
     "line 3: 'one' is not a number"),
    ("index files of two dimensions", [path("x.npy"), path("d5.qkv")], qtxt, 1,
     "d5.qkv: dimension 5, the index has 37"),
    ("an index of two tensors", [path("two.qkv")], qtxt, 1, "2 tensors"),
    ("an integer tensor", [path("int.qkv")], qtxt, 1, "2-D float"),
    ("a text file as index", [qtxt], qtxt, 1, "not a qkv"),
    ("a missing index", [path("nope")], qtxt, 1, "nope: No such file"),
    ("a truncated stream index", [path("trunc.qkv")], qtxt, 1, "trunc.qkv"),
    ("a corrupted stream index", [path("flip.qkv")], qtxt, 1, "flip.qkv"),
    ("-m unknown", ["-m", "cosine", path("x.npy")], qtxt, 2, "-m"),
    ("-k 0", ["-k", "0", path("x.npy")], qtxt, 2, "-k"),
    ("no index", [], qtxt, 2, "usage"),
]
for what, args, stdin, status, msg in cases:
    if stdin is None:
        rc, out, err = run(args, data=b"\n \t\none two\n")
    else:
        rc, out, err = run(args, stdin=stdin)
    lines = err.splitlines()
    good = rc == status and len(lines) == 1 and msg in lines[0] and (
        status == 2 and lines[0].startswith("usage") or
        lines[0].startswith("nearest: "))
    if what.startswith("a text vector of"):  # the good line 1 was answered
        good = good and out.count("\n") == 10
    elif status == 1:
        good = good and out == ""
    ok(good, "%s: exit %d, %r" % (what, rc, lines[0] if lines else ""), err)
rc, out, err = run(["-o", path("never"), path("trunc.qkv")], stdin=qtxt)
ok(rc == 1 and not os.path.exists(path("never")) and
   not [f for f in os.listdir(T) if f.startswith("never")],
   "a failed run leaves no output file")

print("1..%d" % n_ok)
subprocess.run(["rm", "-rf", T])
