#!/bin/sh
# bench/nearest.sh - nearest beside faiss IndexFlatIP (Debian python3-faiss),
# exact inner-product top-10 of 1000 queries over 1M x 384 f32 vectors.
#
#   bench/nearest.sh [ROWS [QUERIES]]
#
# Both run on the same data in the same run, alternately, best of 3 each:
# qkv as a user runs it (the whole process: maps the index, parses text
# queries, prints lines), faiss as search() alone, after the index was
# loaded and added (so faiss's times leave out its set-up).  Both use
# OpenBLAS sgemm with its default threads.  The comparison is made twice:
# with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE as this environment sets them
# (Haswell if it sets neither: the machine's setting) and with both unset,
# as on a user's machine, where OpenBLAS picks its own (AVX-512) kernels.
# The data (about 1.5 GB) is made once, seeded, under $QKV_BENCH_DIR
# (default ${TMPDIR:-/tmp}/qkv-bench-nearest).
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
BIN=${QKV_BIN:-bin}
ROWS=${1:-1000000}
NQ=${2:-1000}
DIR=${QKV_BENCH_DIR:-${TMPDIR:-/tmp}/qkv-bench-nearest}
[ -x "$BIN/nearest" ] || { echo "build first: make" >&2; exit 1; }
"$PY" -c 'import faiss' 2>/dev/null ||
	{ echo "needs Debian's python3-faiss: apt-get install python3-faiss" >&2; exit 1; }
mkdir -p "$DIR" || exit 1
export BIN DIR ROWS NQ

"$PY" - <<'EOF' || exit 1
import os, numpy as np
d, n, nq = os.environ["DIR"], int(os.environ["ROWS"]), int(os.environ["NQ"])
x = os.path.join(d, "x-%d.npy" % n)
if not os.path.exists(x):
    rng = np.random.default_rng(7)
    X = np.lib.format.open_memmap(x + ".tmp", "w+", np.float32, (n, 384))
    for i in range(0, n, 100_000):
        X[i:i + 100_000] = rng.standard_normal((min(100_000, n - i), 384),
                                               np.float32)
    X.flush()
    del X
    os.rename(x + ".tmp", x)
q = os.path.join(d, "q-%d.txt" % nq)
if not os.path.exists(q):
    Q = np.random.default_rng(8).standard_normal((nq, 384), np.float32)
    np.save(os.path.join(d, "q-%d.npy" % nq), Q)
    with open(q + ".tmp", "w") as f:
        for v in Q:
            f.write(" ".join("%.9g" % a for a in v) + "\n")
    os.rename(q + ".tmp", q)
EOF

run() {	# run SETTING-NAME: one comparison in the current environment
	SETTING=$1 "$PY" - <<'EOF'
import os, subprocess, time
import numpy as np, faiss
d, n, nq = os.environ["DIR"], int(os.environ["ROWS"]), int(os.environ["NQ"])
x, qt = os.path.join(d, "x-%d.npy" % n), os.path.join(d, "q-%d.txt" % nq)
X = np.load(x, mmap_mode="r")
Q = np.load(os.path.join(d, "q-%d.npy" % nq))
index = faiss.IndexFlatIP(X.shape[1])
for i in range(0, n, 100_000):
    index.add(np.ascontiguousarray(X[i:i + 100_000]))
cmd = [os.path.join(os.environ["BIN"], "nearest"), "-m", "dot", "-k", "10", x]
timer = ["/usr/bin/time", "-f", "%M"] if os.path.exists("/usr/bin/time") else []
tq, tf, rss = [], [], 0
for r in range(3):
    with open(qt, "rb") as f:
        t = time.perf_counter()
        p = subprocess.run(timer + cmd, stdin=f, capture_output=True, check=True)
        tq.append(time.perf_counter() - t)
    out = p.stdout
    if timer:
        rss = max(rss, int(p.stderr.split()[-1]) / 1024)
    t = time.perf_counter()
    D, I = index.search(Q, 10)
    tf.append(time.perf_counter() - t)
# the ceiling: OpenBLAS sgemm alone (numpy float32 matmul) on the same
# shapes, 1000 queries against blocks of 4096 in-memory rows
B = np.ascontiguousarray(X[:min(n, 200_000)])
Qc = np.ascontiguousarray(Q)
ts = []
for r in range(3):
    t = time.perf_counter()
    for i in range(0, len(B), 4096):
        Qc @ B[i:i + 4096].T
    ts.append(time.perf_counter() - t)
sg = 2.0 * len(B) * nq * X.shape[1] / 1e9 / min(ts)
rows = np.array([int(l.split(b"\t")[3]) - 1 for l in out.splitlines()]).reshape(nq, 10)
same = (rows == I).mean()
gf = 2.0 * n * nq * X.shape[1] / 1e9
cfg = " ".join("%s=%s" % (k, os.environ[k]) for k in
               ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ) or "unset"
print("%-28s  qkv %6.2f s  faiss %6.2f s  ratio %.2fx  same rows %.4f  "
      "qkv %.0f GFLOP/s = %.0f%% of sgemm's %.0f  qkv peak RSS %s"
      % (cfg, min(tq), min(tf), min(tf) / min(tq), same, gf / min(tq),
         100 * gf / min(tq) / sg, sg, "%.0f MB" % rss if timer else "?"))
EOF
}

echo "nearest vs faiss IndexFlatIP: $ROWS x 384 f32, $NQ queries, top 10, $(nproc) cores"
echo "  (ratio = faiss time / qkv time; > 1 means qkv is faster; RSS includes the mapped index)"
if [ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ]; then
	run machine
else
	OPENBLAS_CORETYPE=Haswell run machine
fi
(unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; run unset)
