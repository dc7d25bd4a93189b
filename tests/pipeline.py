"""tok | embed | nearest (run by tests/pipeline.t).

An index of 400 lines of prose is made through the pipeline; queries made
the same way must get the rows a numpy brute force finds over the index's
own vectors, and a line of the index, asked for, must come first (or the
first line equal to it).  Token ids and vectors cross the stages as text;
last, the pipeline as written with qkv streams, the text carried through.
"""
import lzma, os, subprocess, sys, tempfile
import numpy as np

sys.path.insert(0, "formats")
import qkv  # formats/qkv.py

BIN = os.environ.get("QKV_BIN", "bin")
M = "tests/data/golden/bert-tiny-st"  # mean pooling, normalised
T = tempfile.mkdtemp()
n_ok = 0


def ok(cond, what, diag=""):
    global n_ok
    n_ok += 1
    print("%sok %d - %s" % ("" if cond else "not ", n_ok, what))
    if not cond and diag:
        print("\n".join("# " + l for l in str(diag).splitlines()[:15]))
    return cond


def sh(cmd, stdin=None):
    p = subprocess.run(cmd, shell=True, input=stdin, capture_output=True,
                       env=dict(os.environ, PATH=BIN + ":" + os.environ["PATH"]))
    return p.returncode, p.stdout, p.stderr.decode()


def parse(out):
    return [l.split("\t") for l in out.decode().splitlines()]


text = lzma.open("tests/data/tok/prose.txt.xz", "rt").read().splitlines()
lines = [l.strip() for l in text[200:1200] if len(l.split()) >= 4][:400]
idx, lf = os.path.join(T, "idx.qkv"), os.path.join(T, "lines.txt")
open(lf, "w").write("\n".join(lines) + "\n")
rc, _, err = sh("tok -m %s < %s | embed -m %s > %s" % (M, lf, M, idx))
X = qkv.read(idx)[2]["vec"] if rc == 0 else np.zeros((0, 64), np.float32)
if not ok(rc == 0 and X.shape == (len(lines), 64), "index: tok | embed, ids "
          "as text, %d rows" % len(X), err):
    print("1..1")  # nothing else can be checked
    sys.exit(1)

picks = [0, 7, 123, 250, len(lines) - 1]
queries = "\n".join(lines[i] for i in picks) + "\nwhere is the source code\n"
rc, out, err = sh("tok -m %s | embed -m %s | nearest -k 5 %s" % (M, M, idx),
                  queries.encode())
res = parse(out)
ok(rc == 0 and len(res) == 5 * (len(picks) + 1) and all(len(f) == 4 for f in res),
   "queries: tok | embed | nearest prints 5 lines per query", err or out[:300])

# the brute force over the index's vectors, for the query vectors embed gives
rc2, vt, err2 = sh("tok -m %s | embed -t -m %s" % (M, M), queries.encode())
Q = np.array([[float(x) for x in l.split()] for l in vt.decode().splitlines()],
             np.float64)
Xd = X.astype(np.float64)
S = (Q @ Xd.T) / np.outer(np.linalg.norm(Q, axis=1), np.linalg.norm(Xd, axis=1))
good, diag = rc2 == 0 and len(Q) == len(picks) + 1, err2
for i in range(len(Q)):
    got = [(int(f[3]) - 1, float(f[2])) for f in res if f[0] == str(i + 1)]
    order = np.lexsort((np.arange(len(X)), -S[i]))[:5]
    for (row, score), w in zip(got, order):
        if abs(score - S[i, row]) > 1e-6 or (row != w and abs(S[i, row] - S[i, w]) > 1e-6):
            good, diag = False, "query %d: row %d (%r), brute force %d (%r)" % (
                i + 1, row + 1, S[i, row], w + 1, S[i, w])
ok(good, "rows and scores are the numpy brute force's", diag)

first = {}
for r, l in enumerate(lines):
    first.setdefault(l, r)
top = [int(f[3]) - 1 for f in res if f[1] == "1"]
ok(top[:len(picks)] == [first[lines[i]] for i in picks] and all(
    float(f[2]) > 0.99999 for f in res if f[1] == "1" and int(f[0]) <= len(picks)),
   "a line of the index asked for comes first, score 1", top)

rc, out2, err = sh("tok -m %s | embed -t -m %s | nearest -k 5 %s" % (M, M, idx),
                   queries.encode())
ok(rc == 0 and out2 == out, "vectors as text between embed and nearest: the "
   "same lines", err)

rc, out3, err = sh("tok -m %s | embed -t -p none -m %s | nearest -k 1 %s" % (
    M, M, idx), lines[7].encode() + b"\n")
ntok = sum(1 for l in sh("tok -m %s | embed -t -p none -m %s" % (M, M),
           lines[7].encode() + b"\n")[1].splitlines() if l.strip())
ok(rc == 0 and ntok > 2 and [int(f[0]) for f in parse(out3)] ==
   list(range(1, ntok + 1)), "per-token vectors (embed -t -p none, blank line "
   "after the sequence) as queries: one answer per token", err or out3[:200])

# the issue's own commands, with the qkv stream between the stages: tok -b
# carries each line's text through embed into the index, and nearest
# prints it (default -k 10) beside the row the text-ids index gave
idxb = os.path.join(T, "idxb.qkv")
rc, _, err = sh("tok -m %s -b < %s | embed -m %s > %s" % (M, lf, M, idxb))
rc2, outb, err2 = sh("tok -m %s -b | embed -m %s | nearest %s" % (M, M, idxb),
                     lines[123].encode() + b"\n")
rc3, outt, err3 = sh("tok -m %s | embed -m %s | nearest %s" % (M, M, idx),
                     lines[123].encode() + b"\n")
rb, rt = parse(outb), parse(outt)
ok(rc == 0 and rc2 == 0 and rc3 == 0 and len(rb) == 10 and
   [f[:4] for f in rb] == rt and all(len(f) == 5 for f in rb) and
   all(f[4] == lines[int(f[3]) - 1] for f in rb) and
   rb[0][4] == lines[123], "tok -b | embed | nearest: 10 lines, each with "
   "its row's text; the same rows and scores as with text ids",
   err + err2 + err3 or outb[:400])

print("1..%d" % n_ok)
subprocess.run(["rm", "-rf", T])
