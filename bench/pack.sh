#!/bin/sh
# bench/pack.sh - qkv row streams against gzip, on the same values, in the
# same run: a 1 GB f32 stream (unit-norm 384-d embeddings, as embed writes
# them) and a 200M-token i32 stream (the King James Bible tokenized with
# bert-base-uncased's WordPiece, one verse a row, cycled to length).
# Prints MB/s (10^6 bytes of values a second) for writing and reading, the
# zlib level and the compression ratio; gzip -1 and -6 compress and
# decompress the raw values (what a .npy would hold).
#
#   bench/pack.sh                     the full run (about 4 GB in $TMPDIR)
#   F32_MB=100 NTOK=20000000 bench/pack.sh     a quick one
#   LEVEL=6 bench/pack.sh             qkv at another zlib level
#
# One core: qkv and gzip are both single-threaded here.
set -eu
cd "$(dirname "$0")/.."
F32_MB=${F32_MB:-1000}
DIM=${DIM:-384}
NTOK=${NTOK:-200000000}
LEVEL=${LEVEL:-1}
PY=${PYTHON:-/usr/bin/python3}
W=${TMPDIR:-/tmp}/qkv-bench.$$
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT INT TERM

make -s lib/libqkv.a
cc -O2 -std=c11 -D_GNU_SOURCE -Ilib -o "$W/qkvbench" bench/qkvbench.c \
    lib/libqkv.a -lz -lm

# Token ids: greedy longest-match WordPiece over lowercased words and
# punctuation, [CLS] ... [SEP] per verse; rows as u32 length + i32 ids.
tools/kjv.sh | "$PY" -c '
import re, struct, sys
vocab = {w.rstrip("\n"): i for i, w in enumerate(open(sys.argv[1], encoding="utf-8"))}
out = sys.stdout.buffer
def pieces(word):
    ids, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            sub = ("##" if start else "") + word[start:end]
            if sub in vocab:
                ids.append(vocab[sub])
                break
            end -= 1
        if end == start:
            return [vocab["[UNK]"]]
        start = end
    return ids
for line in sys.stdin:
    words = re.findall(r"\w+|[^\w\s]", line.lower())
    if not words:
        continue
    ids = [vocab["[CLS]"]] + [i for w in words for i in pieces(w)] + [vocab["[SEP]"]]
    out.write(struct.pack("<I%di" % len(ids), len(ids), *ids))
' tests/data/vocab/bert-base-uncased/vocab.txt >"$W/ids.bin"

now() { date +%s.%N; }
rate() { awk -v mb="$1" -v t0="$2" -v t1="$3" 'BEGIN { printf "%.0f", mb / (t1 - t0) }'; }
ratio() { awk -v mb="$1" -v b="$2" 'BEGIN { printf "%.3f", mb * 1e6 / b }'; }
size() { wc -c <"$1" | tr -d ' '; }

printf '%-24s %-12s %5s %7s %11s %10s\n' data tool level ratio "write MB/s" \
    "read MB/s"
per() { awk -v mb="$1" -v t="$2" 'BEGIN { printf "%.0f", mb / t }'; }
bench() {	# name mode size arg
	name=$1 mode=$2 n=$3 arg=$4
	w=$("$W/qkvbench" "$mode" "$W/s.qkv" "$n" "$arg" "$LEVEL")
	r=$("$W/qkvbench" read "$W/s.qkv")
	mb=${w%% *}
	printf '%-24s %-12s %5s %7s %11s %10s\n' "$name" "qkv stream" "$LEVEL" \
	    "$(ratio "$mb" "$(size "$W/s.qkv")")" "$(per $w)" "$(per $r)"
	rm -f "$W/s.qkv"
	"$W/qkvbench" "raw-$mode" "$W/raw" "$n" "$arg" >/dev/null
	for g in 1 6; do
		t0=$(now)
		gzip -"$g" -c "$W/raw" >"$W/raw.gz"
		t1=$(now)
		gzip -dc "$W/raw.gz" >/dev/null
		t2=$(now)
		printf '%-24s %-12s %5s %7s %11s %10s\n' "" "gzip -$g" "$g" \
		    "$(ratio "$mb" "$(size "$W/raw.gz")")" "$(rate "$mb" "$t0" "$t1")" \
		    "$(rate "$mb" "$t1" "$t2")"
		rm -f "$W/raw.gz"
	done
	rm -f "$W/raw"
}
bench "f32 ${F32_MB} MB (${DIM}-d)" f32 "$F32_MB" "$DIM"
bench "i32 $((NTOK / 1000000))M tokens" i32 "$NTOK" "$W/ids.bin"
