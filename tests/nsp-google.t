#!/bin/sh
# nsp --google against google-research/bert's create_pretraining_data.py:
# every record of every case in tests/data/pretrain/cases (made by
# tests/pretrain/make-golden.sh from the reference run here) must be equal,
# in the same order.
cd "$(dirname "$0")/.." || exit 1
BIN=${QKV_BIN:-bin}
d=tests/data/pretrain
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
total=$(($(wc -l <$d/cases) + 3))
echo "1..$total"
while IFS='	' read -r name ids vocab opts; do
	n=$((n + 1))
	xz -dc "$d/$name.ref.xz" >"$tmp/ref"
	# shellcheck disable=SC2086
	if ! "$BIN/nsp" --google -t -m "tests/data/$vocab" $opts "$d/$ids" \
	    >"$tmp/out" 2>"$tmp/err"; then
		echo "not ok $n - $name: nsp failed: $(cat "$tmp/err")"
		continue
	fi
	if cmp -s "$tmp/out" "$tmp/ref"; then
		echo "ok $n - $name: $(wc -l <"$tmp/ref") records equal"
	else
		first=$(diff "$tmp/ref" "$tmp/out" | sed -n '1s/[acd].*//p')
		echo "not ok $n - $name: records differ from record $first" \
		    "($(wc -l <"$tmp/out") vs $(wc -l <"$tmp/ref"))"
	fi
done <$d/cases

# from text: tok gives the reference tokenizer's ids, so tok | nsp --google
# is the reference run on the text itself
V=tests/data/vocab/bert-base-uncased
for c in kjv8 edge; do
	n=$((n + 1))
	if "$BIN/tok" -m $V $d/$c.txt 2>"$tmp/err" | cmp -s - $d/$c.ids; then
		echo "ok $n - tok $c.txt: the reference tokenizer's ids"
	else
		echo "not ok $n - tok $c.txt: ids differ from the reference's $(head -c 200 "$tmp/err")"
	fi
done
n=$((n + 1))
"$BIN/tok" -m $V $d/kjv8.txt | "$BIN/nsp" --google -t -m $V --dupe 5 --wwm \
    >"$tmp/out" 2>"$tmp/err"
xz -dc $d/kjv8-d5-l128-wwm.ref.xz >"$tmp/ref"
if cmp -s "$tmp/out" "$tmp/ref"; then
	echo "ok $n - tok kjv8.txt | nsp --google --dupe 5 --wwm: the reference's records"
else
	echo "not ok $n - tok | nsp --google differs from the reference $(head -c 200 "$tmp/err")"
fi
