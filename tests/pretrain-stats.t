#!/bin/sh
# Statistics of `nsp | mask` on a real corpus (the New Testament, a chapter
# a document) against the reference recipe's on the same ids: the exact
# rules (lengths, specials, max-pred, the prediction count), the 80/10/10
# split, random-next share, masked share, and the length distribution with
# its short sequences; in pool mode and from a corpus file (-r).  The
# reference's summary was made by tests/pretrain/make-golden.sh;
# tests/pretrain/stats.py does the rest.
cd "$(dirname "$0")/.." || exit 1
BIN=${QKV_BIN:-bin}
PY=${PYTHON:-/usr/bin/python3}
d=tests/data/pretrain
V=tests/data/vocab/bert-base-uncased
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
xz -dc $d/ntc.ids.xz >"$tmp/ids"
"$BIN/pack" --corpus -o "$tmp/c.qkv" "$tmp/ids"
n=0
for mode in pool corpus; do
	# pass e of --dupe 10 is --epoch e of --dupe 1: ten replicates
	for e in 0 1 2 3 4 5 6 7 8 9; do
		if [ $mode = pool ]; then
			"$BIN/nsp" -m $V --epoch $e "$tmp/ids"
		else
			"$BIN/nsp" -m $V --epoch $e -r "$tmp/c.qkv"
		fi | "$BIN/mask" -m $V >"$tmp/rec"
		"$PY" tests/pretrain/stats.py summary --vocab $V/vocab.txt \
		    "$tmp/rec" >"$tmp/ours$e.json"
	done
	"$PY" tests/pretrain/stats.py compare $d/ntc-google.json \
	    "$tmp"/ours[0-9].json >"$tmp/tap"
	grep -q '^1\.\.' "$tmp/tap" || echo "not ok - stats.py failed ($mode)"
	# renumber into one plan
	while read -r line; do
		case $line in
		ok*|"not ok"*)
			n=$((n + 1))
			printf '%s\n' "$line" |
			    sed "s/^\(not \)\{0,1\}ok [0-9]* - /\1ok $n - $mode: /"
			;;
		esac
	done <"$tmp/tap"
done
echo "1..$n"
