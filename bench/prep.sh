#!/bin/sh
# prep.sh - BERT pretraining data: qkv's `tok | nsp | mask | pack` against
# google-research/bert's create_pretraining_data.py (under Debian's python3,
# TensorFlow stubbed by bench/google) on the same corpus with the same
# settings, in one run: instances/s and peak memory of both, and the ratios.
#
#   bench/prep.sh BERT_CHECKOUT [COPIES [DUPE]]
#
# BERT_CHECKOUT is a local checkout of github.com/google-research/bert (the
# project holds no copy).  The corpus is the King James Bible (tools/kjv.sh,
# a book a document) COPIES times (default 1); DUPE is the dupe factor
# (default 10, the reference's).  L 128, max-pred 20, prob 0.15, short 0.1.
#
# qkv runs twice: one pipeline (its four stages run at once, tok on every
# core), and sharded, nsp -r over a corpus file with one shard per core, as
# `make -j` would.  Peak memory of a pipeline is the sum of its processes'
# peaks.  The reference writes its records as text through the stub.
set -eu
[ $# -ge 1 ] && [ -f "$1/create_pretraining_data.py" ] ||
	{ echo "usage: $0 BERT_CHECKOUT [COPIES [DUPE]]" >&2; exit 2; }
bert=$1 copies=${2:-1} dupe=${3:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${QKV_BIN:-$top/bin}
PY=${PYTHON:-/usr/bin/python3}
V=$top/tests/data/bert-base-uncased
TIME=/usr/bin/time
ncpu=$(nproc)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

i=0
while [ $i -lt "$copies" ]; do "$top/tools/kjv.sh"; i=$((i + 1)); done >"$t/corpus.txt"
docs=$(grep -c '^$' "$t/corpus.txt")
mb=$(du -m "$t/corpus.txt" | cut -f1)
echo "corpus: KJV x$copies ($docs documents, $mb MB); L 128, dupe $dupe," \
    "max-pred 20; $ncpu cores"

now() { date +%s.%N; }
# peak RSS in KB of the processes timed into files $1*
peak() { cat "$1"* | awk '{ s += $1 } END { print s }'; }
count() {	# instances in shards $1-*.qkv
	for f in "$1"-*.qkv; do "$B/pack" -t "$f"; done |
	    awk -F'\t' '$1 == "input_ids" { split($3, s, "x"); n += s[1] }
	    END { print n + 0 }'
}

# the reference
s0=$(now)
$TIME -f %M -o "$t/rss.g" "$PY" "$top/bench/google/run.py" "$bert" -- \
    --input_file="$t/corpus.txt" --output_file="$t/google.txt" \
    --vocab_file="$V/vocab.txt" --dupe_factor="$dupe"
s1=$(now)
g_n=$(wc -l <"$t/google.txt")
g_s=$(echo "$s1 - $s0" | bc -l)
g_r=$(peak "$t/rss.g")
rm -f "$t/google.txt"

# qkv, one pipeline
s0=$(now)
$TIME -f %M -o "$t/rss.p1" "$B/tok" -b -m $V "$t/corpus.txt" |
    $TIME -f %M -o "$t/rss.p2" "$B/nsp" -b -m $V --dupe "$dupe" |
    $TIME -f %M -o "$t/rss.p3" "$B/mask" -b -m $V |
    $TIME -f %M -o "$t/rss.p4" "$B/pack" --shards -q -o "$t/pipe"
s1=$(now)
p_n=$(count "$t/pipe")
p_s=$(echo "$s1 - $s0" | bc -l)
p_r=$(peak "$t/rss.p")
rm -f "$t"/pipe-*.qkv

# qkv, sharded: index the corpus, then one shard per core at once
s0=$(now)
$TIME -f %M -o "$t/rss.s1" "$B/tok" -b -m $V "$t/corpus.txt" |
    $TIME -f %M -o "$t/rss.s2" "$B/pack" --corpus -o "$t/corpus.qkv"
i=1
while [ $i -le "$ncpu" ]; do
	( $TIME -f %M -o "$t/rss.x$i.1" "$B/nsp" -b -m $V -r "$t/corpus.qkv" \
	    --dupe "$dupe" --shard $i/$ncpu |
	    $TIME -f %M -o "$t/rss.x$i.2" "$B/mask" -b -m $V |
	    $TIME -f %M -o "$t/rss.x$i.3" "$B/pack" --shards -q -o "$t/shard$i" ) &
	i=$((i + 1))
done
wait
s1=$(now)
x_n=0
i=1
while [ $i -le "$ncpu" ]; do x_n=$((x_n + $(count "$t/shard$i"))); i=$((i + 1)); done
x_s=$(echo "$s1 - $s0" | bc -l)
# the indexing stage and the shards run one after the other
x_r=$(( $(peak "$t/rss.s") > $(peak "$t/rss.x") ? $(peak "$t/rss.s") : $(peak "$t/rss.x") ))

row() { printf '%-26s %10s %9.2f %10.0f %9.1f\n' "$1" "$2" "$3" \
    "$(echo "$2 / $3" | bc -l)" "$(echo "$4 / 1024" | bc -l)"; }
printf '%-26s %10s %9s %10s %9s\n' "" instances seconds inst/s "peak MB"
row "google (python3)" "$g_n" "$g_s" "$g_r"
row "qkv tok|nsp|mask|pack" "$p_n" "$p_s" "$p_r"
row "qkv sharded x$ncpu" "$x_n" "$x_s" "$x_r"
printf 'speed, qkv / google:  pipeline %.1fx   sharded %.1fx\n' \
    "$(echo "($p_n / $p_s) / ($g_n / $g_s)" | bc -l)" \
    "$(echo "($x_n / $x_s) / ($g_n / $g_s)" | bc -l)"
printf 'peak memory, google / qkv:  pipeline %.1fx   sharded %.1fx\n' \
    "$(echo "$g_r / $p_r" | bc -l)" "$(echo "$g_r / $x_r" | bc -l)"
