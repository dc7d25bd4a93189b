#!/bin/sh
# sample against the golden references: greedy continuations, --score
# log-probabilities, bad input, seeds, --echo, the end token, the context.
cd "$(dirname "$0")/.." || exit 1
S=${QKV_BIN:-bin}/sample
PY=${PYTHON:-/usr/bin/python3}
G=tests/data/golden
T=tests/tmp/sample.$$
mkdir -p "$T" && trap 'rm -rf "$T"' EXIT
n=0
t() {	# t DESCRIPTION COMMAND...: ok when the command succeeds
	desc=$1; shift
	n=$((n + 1))
	if "$@" >"$T/out" 2>&1; then echo "ok $n - $desc"
	else echo "not ok $n - $desc"; sed 's/^/# /' "$T/out"; fi
}

# greedy: -t 0, 32 tokens past the end token, equal to the reference
for m in gpt2-tiny gpt2-tiny-legacy-f16 gpt2-tiny-std01; do
	for c in single batch long_gen; do
		r=$G/$m/ref/$c
		$PY -c "import numpy, sys
for row in numpy.load('$r/generated.npy'): print(' '.join(map(str, row)))" \
		    >"$T/want"
		$S -m $G/$m -t 0 -E -n 32 -j 2 "$r/ids.txt" >"$T/got" 2>"$T/err"
		t "$m $c: greedy 32 tokens equal the reference" \
		    cmp "$T/want" "$T/got"
	done
done

# --score -v: every token's log-probability from the reference logits
for m in gpt2-tiny gpt2-tiny-legacy-f16 gpt2-tiny-std01; do
	for c in single batch long; do
		r=$G/$m/ref/$c
		$S -m $G/$m --score -v "$r/ids.txt" >"$T/score" 2>&1
		t "$m $c: --score log-probabilities within 1e-4" $PY -c "
import numpy as np, sys
lg = np.load('$r/logits.npy').astype(np.float64)
ids = np.load('$r/input_ids.npy'); L = np.load('$r/lengths.npy')
rows = open('$T/score').read().splitlines()
assert len(rows) == len(L), rows
worst = 0
for b, n in enumerate(L):
    x = lg[b, :n]
    ls = x - x.max(1, keepdims=True)
    ls -= np.log(np.exp(ls).sum(1, keepdims=True))
    want = ls[np.arange(n - 1), ids[b, 1:n]]
    tot, cnt, ppl, per = rows[b].split('\t')
    got = np.array([float(v) for v in per.split()])
    assert int(cnt) == n - 1 and len(got) == n - 1, (cnt, n)
    worst = max(worst, abs(got - want).max(), abs(float(tot) - want.sum()))
    assert abs(float(ppl) - np.exp(-want.mean())) <= 1e-4 * np.exp(-want.mean())
print('max diff', worst)
assert worst <= 1e-4, worst"
	done
done

M=$G/gpt2-tiny-std01
ids=$(head -1 $M/ref/single/ids.txt)
# bad input: one line error naming the line, exit 1, earlier output intact
# (line 1's output the same as a run on line 1 alone), in both modes
printf '%s\n' "$ids" >"$T/line1"
$S -m $M -s 1 -n 5 "$T/line1" >"$T/gen1"
$S -m $M --score "$T/line1" >"$T/score1"
$PY -c "print(' '.join(['7'] * 257))" >"$T/long"
for bad in empty range long; do
	case $bad in
	empty)	printf '\n' >"$T/l2"
		msg='empty prompt' ;;
	range)	printf '1 2 1000\n' >"$T/l2"
		msg='id 1000 is not in the vocabulary (1000 ids)' ;;
	long)	cp "$T/long" "$T/l2"
		msg='257 tokens exceed the context of 256 positions' ;;
	esac
	cat "$T/line1" "$T/l2" "$T/line1" >"$T/in"
	for mode in gen score; do
		if [ $mode = gen ]; then
			$S -m $M -s 1 -n 5 "$T/in" >"$T/o" 2>"$T/e"; rc=$?
		else
			$S -m $M --score <"$T/in" >"$T/o" 2>"$T/e"; rc=$?
		fi
		f=$T/in; [ $mode = score ] && f='<stdin>'
		t "$bad ($mode): exit 1" test $rc -eq 1
		t "$bad ($mode): one line naming line 2" sh -c "test \$(wc -l <$T/e) -eq 1 &&
		    grep -qxF 'sample: $f: line 2: $msg' $T/e"
		t "$bad ($mode): line 1's output intact" cmp "$T/${mode}1" "$T/o"
	done
done
printf '1 2 x3\n' | $S -m $M >"$T/o" 2>"$T/e"; rc=$?
t "not an id: exit 1" sh -c "test $rc -eq 1 && grep -q \"line 1: 'x3' is not a token id\" $T/e"
$S -m $M -n 5 -o "$T/file" "$T/in" 2>/dev/null
t "-o: no output file after an error" test ! -e "$T/file"
$S -m $M -k -1 </dev/null 2>/dev/null; rc=$?
t "bad option value: exit 2" test $rc -eq 2
$S -m tests/data/golden/bert-tiny </dev/null 2>"$T/e"; rc=$?
t "a BERT model: exit 1 naming it" sh -c "test $rc -eq 1 && grep -q \"model_type 'bert'\" $T/e"

# seeds: the same seed gives the same ids with any thread count
yes "$ids" | head -20 >"$T/p20"
$S -m $M -s 42 -n 20 -t 1.2 -k 50 -p 0.95 -j 1 "$T/p20" >"$T/a"
$S -m $M -s 42 -n 20 -t 1.2 -k 50 -p 0.95 -j 2 "$T/p20" >"$T/b"
$S -m $M -s 43 -n 20 -t 1.2 -k 50 -p 0.95 -j 2 "$T/p20" >"$T/c"
t "same seed, 1 and 2 threads: same output" cmp "$T/a" "$T/b"
t "another seed: another output" sh -c "! cmp -s $T/a $T/c"
t "each prompt its own draw: 20 identical prompts, several outputs" \
    test "$(sort -u "$T/a" | wc -l)" -gt 10
head -5 "$T/p20" | $S -m $M -s 42 -n 20 -t 1.2 -k 50 -p 0.95 -o "$T/d"
t "-o FILE: the first 5 lines equal" sh -c "head -5 $T/a | cmp - $T/d"

# --echo puts the prompt first
$S -m $M -s 5 -n 4 -t 0 -E --echo $M/ref/single/ids.txt >"$T/o"
t "--echo: prompt then the 4 greedy tokens" sh -c "test \"\$(cat $T/o)\" = \"$ids \$($PY -c \"import numpy; print(' '.join(map(str, numpy.load('$M/ref/single/generated.npy')[0][:4])))\")\""

# the end token (999 here) ends a line unless -E
yes "$ids" | head -300 >"$T/p300"
$S -m $M -s 3 -n 40 -t 3 -E "$T/p300" >"$T/withE"
$S -m $M -s 3 -n 40 -t 3 "$T/p300" >"$T/noE"
t "-E: the end token was drawn on some lines" grep -qw 999 "$T/withE"
t "without -E: each line stops right before the end token" $PY -c "
a = open('$T/withE').read().splitlines(); b = open('$T/noE').read().splitlines()
assert len(a) == len(b) == 300
for x, y in zip(a, b):
    x = x.split(); want = x[:x.index('999')] if '999' in x else x
    assert y.split() == want, (x, y)"

# the context: 224 prompt tokens + at most 32 = 256 positions
$S -m $M -t 0 -E -n 100 $M/ref/long_gen/ids.txt >"$T/o" 2>"$T/e"
t "a full context stops generation at 256 positions" sh -c \
    "test \$(wc -w <$T/o) -eq 32 && grep -q 'filled the context of 256' $T/e"
$S -m $M -t 0 -E -n 100 -q $M/ref/long_gen/ids.txt 2>"$T/e" >/dev/null
t "-q: no note" test ! -s "$T/e"

# the qkv stream of `tok -b`: a ragged integer column "ids" (and text)
$PY -c "
import sys; sys.path.insert(0, 'formats'); import qkv, numpy as np
rows = [np.array(l.split(), np.int32) for l in open('$M/ref/batch/ids.txt')]
qkv.write_stream('$T/ids.qkv', [('ids', 'ragged', 'i32', ()), ('text', 'string', 'str', ())],
    {'ids': rows, 'text': ['a', 'b', 'c']}, chunk=2)
qkv.write_stream('$T/i64.qkv', [('text', 'string', 'str', ()), ('ids', 'ragged', 'i64', ())],
    {'ids': [np.array([1, 2], np.int64), np.array([], np.int64)], 'text': ['x', 'y']})
qkv.write_stream('$T/noids.qkv', [('text', 'string', 'str', ())], {'text': ['x']})"
$S -m $M -t 0 -E -n 32 "$T/ids.qkv" >"$T/got"
$S -m $M -t 0 -E -n 32 $M/ref/batch/ids.txt >"$T/want"
t "a qkv stream of ids in: the same output as id lines" cmp "$T/want" "$T/got"
$S -m $M --score <"$T/ids.qkv" >"$T/got"
$S -m $M --score $M/ref/batch/ids.txt >"$T/want"
t "a qkv stream on stdin, --score: the same output" cmp "$T/want" "$T/got"
$S -m $M -n 2 -s 1 "$T/i64.qkv" >"$T/o" 2>"$T/e"; rc=$?
t "qkv stream: an empty row is row 2's error, row 1 written" sh -c \
    "test $rc -eq 1 && grep -qx 'sample: $T/i64.qkv: row 2: empty prompt' $T/e && test \$(wc -l <$T/o) -eq 1"
$S -m $M "$T/noids.qkv" >/dev/null 2>"$T/e"; rc=$?
t "qkv stream without ids: exit 1 naming the column" sh -c \
    "test $rc -eq 1 && grep -q \"no 'ids' column\" $T/e"

# a qkv model file made by pack -i: the same model through the same API
P=${QKV_BIN:-bin}/pack
if $P -i $M -q -o "$T/m.qkv" && $P -i $M -q --dtype bf16 -o "$T/m16.qkv"; then
	$S -m "$T/m.qkv" -t 0 -E -n 32 $M/ref/batch/ids.txt >"$T/got"
	$S -m $M -t 0 -E -n 32 $M/ref/batch/ids.txt >"$T/want"
	t "a qkv model file (pack -i): the same greedy tokens" cmp "$T/want" "$T/got"
	$S -m "$T/m16.qkv" --score $M/ref/single/ids.txt >"$T/got"
	$S -m $M --score $M/ref/single/ids.txt >"$T/want"
	t "a BF16 qkv model file scores within 0.5 nat of F32" $PY -c "
a = float(open('$T/got').read().split()[0]); b = float(open('$T/want').read().split()[0])
assert a != b and abs(a - b) < 0.5, (a, b)"
else
	t "pack -i makes qkv model files" false
fi

# written as made: the first line comes out while the input is still open
mkfifo "$T/fifo"
(echo "$ids"; sleep 30) >"$T/fifo" &
wpid=$!
timeout 20 sh -c "$S -m $M -n 3 -s 1 <'$T/fifo' | head -1" >"$T/first" 2>/dev/null
kill $wpid 2>/dev/null
t "streamed: a line's ids arrive before the input ends" \
    test "$(wc -w <"$T/first")" -eq 3

# the whole pipeline with the tokenizer, when tok is built
if ${QKV_BIN:-bin}/tok -m $M </dev/null >/dev/null 2>&1; then
	TK=${QKV_BIN:-bin}/tok
	head -2 $M/ref/batch/sentences.txt >"$T/s"
	$TK -m $M "$T/s" | $S -m $M -t 0 -E -n 8 --echo | $TK -m $M -d >"$T/o"
	t "tok | sample --echo | tok -d: each line starts with its sentence" $PY -c "
s = open('$T/s').read().splitlines(); o = open('$T/o').read().splitlines()
assert len(o) == 2 and all(b.startswith(a) and len(b) > len(a) for a, b in zip(s, o)), o"
fi

# | head: ends quietly
yes "$ids" | head -50 | $S -m $M -s 1 -n 50 2>"$T/e" | head -2 >/dev/null
t "| head: no complaint" test ! -s "$T/e"
echo "1..$n"
