#!/bin/sh
# Parity at bert-base size: random bert-base checkpoints (12 layers, hidden
# 768, 30522 ids, 512 positions) made here, stored as F32 with the "bert."
# prefix and as BF16 in the legacy layout (gamma/beta, position_ids
# buffer); a padded batch of sequences and sentence pairs of odd lengths up
# to 256 tokens through the PyTorch reference (tests/bert_ref.py, itself
# checked against the goldens first) and through embed.  Last hidden
# states, pooled and mean-pooled outputs must agree within 1e-4.
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
BIN=${QKV_BIN:-$PWD/bin}
REF="$PY tests/bert_ref.py"
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
n=0
check() {
	n=$((n + 1))
	if out=$(eval "$2" 2>&1); then echo "ok $n - $1 $(echo $out | tail -c 60)"
	else echo "not ok $n - $1"; printf '%s\n' "$out" | sed 's/^/# /'; fi
}

G=tests/data/golden
check "reference equals the golden outputs" \
    "$REF check $G/bert-tiny $G/bert-tiny-legacy-bf16 $G/bert-tiny-st $G/bert-tiny-std01 | tail -1"

$REF ids $t/ids.txt --lengths 256,37,131,2,200,5,64 --pairs 1 --seed 7
for v in "f32 hf 11" "bf16 legacy 12"; do
	set -- $v
	m=$t/base-$1
	check "make bert-base $1 ($2 names)" \
	    "$REF make $m --dtype $1 --layout $2 --seed $3"
	check "$1 reference" "$REF run $m $t/ids.txt $t/ref-$1"
	$BIN/embed -m $m -t -p none <$t/ids.txt >$t/none
	$BIN/embed -m $m -t -p none -j 3 <$t/ids.txt >$t/none3
	check "$1: -j 3 gives the same bits as -j 2" "cmp $t/none $t/none3"
	check "$1 last_hidden_state" \
	    "$REF compare $t/ref-$1 last_hidden_state $t/none --tokens"
	$BIN/embed -m $m -t -p pooler <$t/ids.txt >$t/pooler
	check "$1 pooled" "$REF compare $t/ref-$1 pooled $t/pooler"
	$BIN/embed -m $m -t -p mean <$t/ids.txt >$t/mean
	check "$1 mean_pooled" "$REF compare $t/ref-$1 mean_pooled $t/mean"
	$BIN/embed -m $m -t -p mean -n <$t/ids.txt >$t/l2
	check "$1 mean_pooled_l2" "$REF compare $t/ref-$1 mean_pooled_l2 $t/l2"
	rm -rf $m
done
echo "1..$n"
