#!/bin/sh
# Sampling is correct in distribution.  One prompt repeated N times (each
# line draws on its own), one new token each; the counts are checked
# against the softmax of the reference logits (golden last_logits, not
# ours): no id outside the top-k / top-p set ever, and a chi-square test.
# Seeds are fixed, so the outcome is fixed; the critical values are at
# p = 0.001 so a correct sampler passes for almost every seed.
cd "$(dirname "$0")/.." || exit 1
S=${QKV_BIN:-bin}/sample
PY=${PYTHON:-/usr/bin/python3}
M=tests/data/golden/gpt2-tiny-std01
R=$M/ref/single
T=tests/tmp/dist.$$
mkdir -p "$T" && trap 'rm -rf "$T"' EXIT
N=10000
yes "$(cat $R/ids.txt)" | head -$N >"$T/in"
n=0
# check NAME SAMPLE-OPTIONS: python gets the options to build the law
check() {
	d=$1; shift
	n=$((n + 1))
	$S -m $M -n 1 -E -j 2 "$@" "$T/in" >"$T/draws" 2>"$T/err"
	if $PY - "$T/draws" "$R" "$@" >"$T/out" 2>&1 <<'PY'
import sys, numpy as np
draws, ref, args = sys.argv[1], sys.argv[2], sys.argv[3:]
o = {'-t': 1.0, '-k': 0, '-p': 1.0, '-r': 1.0}
for i in range(0, len(args), 2):
    if args[i] in o: o[args[i]] = float(args[i + 1])
x = np.load(ref + '/last_logits.npy')[0].astype(np.float64)
V = len(x)
if o['-r'] != 1.0:
    for t in set(int(v) for v in open(ref + '/ids.txt').read().split()):
        x[t] = x[t] / o['-r'] if x[t] > 0 else x[t] * o['-r']
x = x / o['-t']
allowed = np.ones(V, bool)
if o['-k'] > 0:
    allowed[:] = False
    allowed[np.argsort(-x, kind='stable')[:int(o['-k'])]] = True
p = np.where(allowed, np.exp(x - x[allowed].max()), 0)
p /= p.sum()
if o['-p'] < 1.0:
    order = np.argsort(-p, kind='stable')
    cum = np.cumsum(p[order])
    keep = order[:np.searchsorted(cum, o['-p']) + 1]
    allowed[:] = False
    allowed[keep] = True
    p = np.where(allowed, p, 0)
    p /= p.sum()
got = np.array([int(l) for l in open(draws).read().split()])
N = len(got)
assert N == 10000, N
bad = got[~allowed[got]]
print('allowed set: %d ids; draws outside it: %d' % (allowed.sum(), len(bad)))
assert len(bad) == 0, bad[:10]
counts = np.bincount(got, minlength=V)
# bins: each id with expected count >= 5, the rest pooled
e = p * N
big = e >= 5
obs = list(counts[big]); exp = list(e[big])
if e[~big & allowed].sum() > 0:
    obs.append(counts[~big].sum()); exp.append(e[~big].sum())
obs, exp = np.array(obs, float), np.array(exp)
chi2 = ((obs - exp) ** 2 / exp).sum()
df = len(obs) - 1
# Wilson-Hilferty: the chi-square quantile at 1 - 0.001 (z = 3.0902)
crit = df * (1 - 2 / (9 * df) + 3.0902 * np.sqrt(2 / (9 * df))) ** 3
print('chi2 %.1f on %d df, critical %.1f' % (chi2, df, crit))
assert chi2 < crit
# and the sampler is not too perfect either (a fixed pattern would be)
assert chi2 > df * (1 - 2 / (9 * df) - 3.0902 * np.sqrt(2 / (9 * df))) ** 3
PY
	then echo "ok $n - $d: $(tr '\n' ' ' <"$T/out")"
	else echo "not ok $n - $d"; sed 's/^/# /' "$T/out" "$T/err"; fi
}
check "temperature 1" -s 11 -t 1
check "temperature 0.7" -s 12 -t 0.7
check "top-k 20 at temperature 0.9" -s 13 -t 0.9 -k 20
check "top-k 3" -s 14 -k 3
check "top-p 0.5" -s 15 -p 0.5
check "top-p 0.9 at temperature 1.3" -s 16 -t 1.3 -p 0.9
check "top-k 50 then top-p 0.8" -s 17 -k 50 -p 0.8
check "repetition penalty 1.5" -s 18 -r 1.5 -t 0.8
echo "1..$n"
