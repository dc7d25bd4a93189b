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
total=$(wc -l <$d/cases)
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
