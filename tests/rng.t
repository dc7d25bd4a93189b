#!/bin/sh
# CPython's random.Random against qkv_mt_*: the same program of draws
# (tests/unit/rng.c mt_program) for several int seeds, compared line by line.
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
seeds="0 1 42 12345 -12345 4294967295 4294967296 9223372036854775807
-9223372036854775807 0x1234567890abcdef0fedcba987654321"
echo "1..10"
n=0
for s in $seeds; do
	n=$((n + 1))
	c=$(tests/bin/rng mt "$s" 2>&1)
	p=$("$PY" - "$s" <<'PYEOF'
import random, sys
r = random.Random(int(sys.argv[1], 0))
out = []
for _ in range(5): out.append("u32 %d" % r.getrandbits(32))
for _ in range(5): out.append("random %d" % int(r.random() * 2**53))
for k in range(1, 65): out.append("bits %d %d" % (k, r.getrandbits(k)))
for a, b in [(0, 0), (1, 1), (0, 1), (2, 125), (2, 509), (0, 30521), (1, 2),
             (0, 15), (0, 16), (-7, 7), (0, 2**32 - 1), (0, 2**32),
             (5, 2**40), (0, 2**63 - 2)]:
    for _ in range(4): out.append("randint %d %d %d" % (a, b, r.randint(a, b)))
for n in range(0, 51, 7):
    x = list(range(n)); r.shuffle(x)
    out.append(("shuffle %d " % n + " ".join(map(str, x))).rstrip())
for _ in range(3): out.append("random %d" % int(r.random() * 2**53))
print("\n".join(out))
PYEOF
)
	if [ "$c" = "$p" ]; then
		echo "ok $n - random.Random($s) draws"
	else
		echo "not ok $n - random.Random($s) draws"
		printf '%s\n' "$c" > /tmp/rng.c.$$; printf '%s\n' "$p" > /tmp/rng.py.$$
		diff /tmp/rng.py.$$ /tmp/rng.c.$$ | head -5 | sed 's/^/# /'
		rm -f /tmp/rng.c.$$ /tmp/rng.py.$$
	fi
done
