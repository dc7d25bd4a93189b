#!/bin/sh
# Parity with the PyTorch reference (tests/gpt2_ref.py, Debian's
# python3-torch) beyond the golden files: the script is first checked
# against the golden outputs, then builds a random gpt2-size (124M)
# checkpoint and an odd-sized BF16 one with their reference outputs, and
# both the library (tests/bin/gpt2) and `sample` are compared with them.
cd "$(dirname "$0")/.." || exit 1
S=${QKV_BIN:-bin}/sample
PY=${PYTHON:-/usr/bin/python3}
G=tests/data/golden
T=tests/tmp/gpt2ref.$$
mkdir -p "$T" && trap 'rm -rf "$T"' EXIT
n=0
t() {
	desc=$1; shift
	n=$((n + 1))
	if "$@" >"$T/out" 2>&1; then echo "ok $n - $desc"
	else echo "not ok $n - $desc"; sed 's/^/# /' "$T/out"; fi
}
# run a TAP producer, renumbering its lines into this stream
sub() {
	"$@" >"$T/sub" 2>&1
	while IFS= read -r l; do
		case $l in
		"ok "*|"not ok "*)
			n=$((n + 1))
			echo "$l" | sed "s/^\(not \)\{0,1\}ok [0-9]*/\1ok $n/";;
		1..*) ;;
		*) echo "# $l";;
		esac
	done <"$T/sub"
}

t "the reference script reproduces the golden GPT-2 outputs" \
    $PY tests/gpt2_ref.py check-golden $G/gpt2-tiny $G/gpt2-tiny-legacy-f16 \
    $G/gpt2-tiny-std01
t "the reference script builds the random checkpoints" \
    $PY tests/gpt2_ref.py make "$T"
sub tests/bin/gpt2 "$T/gpt2-124m" 1e-4 prompt
sub tests/bin/gpt2 "$T/odd-bf16" 1e-4 prompt full

for m in gpt2-124m:64 odd-bf16:40; do
	d=$T/${m%:*}; N=${m#*:}
	$PY -c "import numpy
for r in numpy.load('$d/ref/prompt/generated.npy'): print(' '.join(map(str, r)))" \
	    >"$T/want"
	$S -m "$d" -t 0 -E -n $N -j 2 "$d/ref/prompt/ids.txt" >"$T/got"
	t "${m%:*}: sample greedy $N tokens equal the reference" \
	    cmp "$T/want" "$T/got"
	$S -m "$d" --score -v "$d/ref/prompt/ids.txt" >"$T/score"
	t "${m%:*}: --score log-probabilities within 1e-4" $PY -c "
import numpy as np
r = '$d/ref/prompt'
lg = np.load(r + '/logits.npy'); ids = np.load(r + '/input_ids.npy')
rows = open('$T/score').read().splitlines()
worst = 0
for b, n in enumerate(np.load(r + '/lengths.npy')):
    x = lg[b, :n].astype(np.float64)
    ls = x - x.max(1, keepdims=True)
    ls -= np.log(np.exp(ls).sum(1, keepdims=True))
    want = ls[np.arange(n - 1), ids[b, 1:n]]
    f = rows[b].split('\t')
    got = np.array([float(v) for v in f[3].split()]) if n > 1 else np.zeros(0)
    assert int(f[1]) == n - 1 and len(got) == n - 1
    if n > 1:
        worst = max(worst, abs(got - want).max(), abs(float(f[0]) - want.sum()))
print('max diff', worst)
assert worst <= 1e-4"
done
# a lone safetensors file with no config.json: the shape from the tensors
mkdir -p "$T/lone" && ln -s "$PWD/$T/gpt2-124m/model.safetensors" "$T/lone/gpt2.safetensors"
$S -m "$T/lone/gpt2.safetensors" -t 0 -E -n 64 "$T/gpt2-124m/ref/prompt/ids.txt" >"$T/got"
$PY -c "import numpy
for r in numpy.load('$T/gpt2-124m/ref/prompt/generated.npy'): print(' '.join(map(str, r)))" >"$T/want"
t "a lone safetensors file without config.json: the same greedy tokens" \
    cmp "$T/want" "$T/got"
echo "1..$n"
