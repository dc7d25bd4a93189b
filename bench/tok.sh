#!/bin/sh
# bench/tok.sh - tok beside the reference tokenizers on the same text, in
# one run: Hugging Face tokenizers (its npm binding's batch encode) for
# bert-base-uncased and gpt2, and tiktoken for gpt2 (tiktoken-node, the
# native Rust tiktoken; @dqbd/tiktoken, its WASM build).  One thread, then
# all cores.  Prints MB/s (10^6 bytes of input a second) and ratios.
#
#   bench/tok.sh            100 MB of text
#   MB=20 bench/tok.sh      a quicker run
#
# The text: the King James Bible (tools/kjv.sh), man pages in every
# language installed, and C headers, cycled to MB megabytes
# (bench/out/tok-MB.txt, made once).  The peers are installed with npm
# into bench/out/node_modules on first use.  tok's time is the whole run
# (loading, reading, writing ids to /dev/null); the peers' is their
# encoding alone, which favours them.
set -eu
cd "$(dirname "$0")/.."
MB=${MB:-100}
OUT=bench/out
NCPU=$(nproc)
mkdir -p "$OUT"
make -s bin/tok

if [ ! -d "$OUT/node_modules/tokenizers" ] ||
    [ ! -d "$OUT/node_modules/tiktoken-node" ] ||
    [ ! -d "$OUT/node_modules/@dqbd/tiktoken" ]; then
	(cd "$OUT" && npm install --no-save --no-audit --no-fund \
	    tokenizers tiktoken-node @dqbd/tiktoken >/dev/null)
fi

corpus=$OUT/tok-$MB.txt
if [ ! -s "$corpus" ]; then
	src=$OUT/tok-src.txt
	n=$((MB * 1000000))
	tools/kjv.sh >"$src" 2>/dev/null || : >"$src"
	i=0
	find /usr/share/man -name '*.gz' | sort | while read -r f; do
		mandoc -Tutf8 "$f" 2>/dev/null |
		    perl -CSD -pe 's/.\x08//g; s/[ \t]+$//' >>"$src"
		i=$((i + 1))
		[ $((i % 200)) -eq 0 ] && [ "$(wc -c <"$src")" -ge "$n" ] &&
		    break
	done
	cat /usr/include/*.h >>"$src"
	: >"$corpus"
	while [ "$(wc -c <"$corpus")" -lt "$n" ]; do
		cat "$src" >>"$corpus"
	done
	head -c "$n" "$corpus" | sed '$d' >"$corpus.tmp"
	mv "$corpus.tmp" "$corpus"
	rm -f "$src"
fi
bytes=$(wc -c <"$corpus")
echo "text: $corpus, $bytes bytes, $(wc -l <"$corpus") lines; $NCPU CPUs"

now() { date +%s.%N; }
mbs() { echo "$bytes $1" | awk '{ printf "%.2f", $1 / 1e6 / $2 }'; }

# tok MODEL THREADS -> MB/s
tok() {
	t0=$(now)
	bin/tok -m "tests/data/vocab/$1" -j "$2" "$corpus" >/dev/null
	t1=$(now)
	mbs "$(echo "$t0 $t1" | awk '{ print $2 - $1 }')"
}
# peer NAME THREADS -> MB/s
peer() {
	s=$(RAYON_NUM_THREADS=$2 NODE_PATH=$OUT/node_modules \
	    node bench/tok-peers.js "$1" "$corpus" | awk '{ print $2 }')
	mbs "$s"
}
ratio() { echo "$1 $2" | awk '{ printf "%.1fx", $1 / $2 }'; }

printf '%-8s %-7s %10s %10s %10s %10s %8s %8s\n' model threads tok \
    hf tiktoken tt-wasm tok/hf tok/tt
for th in 1 "$NCPU"; do
	a=$(tok bert-base-uncased "$th")
	b=$(peer hf-bert "$th")
	printf '%-8s %-7s %10s %10s %10s %10s %8s %8s\n' bert "$th" "$a" "$b" \
	    - - "$(ratio "$a" "$b")" -
	a=$(tok gpt2 "$th")
	b=$(peer hf-gpt2 "$th")
	c=$(peer tiktoken-node "$th")
	d=-
	[ "$th" = 1 ] && d=$(peer tiktoken-wasm 1)
	printf '%-8s %-7s %10s %10s %10s %10s %8s %8s\n' gpt2 "$th" "$a" "$b" \
	    "$c" "$d" "$(ratio "$a" "$b")" "$(ratio "$a" "$c")"
done
echo "MB/s of input; tok's time includes loading and writing, the peers' is encoding only"
