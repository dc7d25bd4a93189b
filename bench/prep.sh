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
# peaks; cpu s is user + system time of all its processes, a figure that
# other load on the machine disturbs less than the elapsed seconds.  The
# reference writes its records as text through the stub.
set -eu
[ $# -ge 1 ] && [ -f "$1/create_pretraining_data.py" ] ||
	{ echo "usage: $0 BERT_CHECKOUT [COPIES [DUPE]]" >&2; exit 2; }
bert=$1 copies=${2:-1} dupe=${3:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${QKV_BIN:-$top/bin}
PY=${PYTHON:-/usr/bin/python3}
V=$top/tests/data/vocab/bert-base-uncased
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
# peak RSS in KB, and CPU seconds, of the processes timed into files $1*
peak() { cat "$1"* | awk '{ s += $1 } END { print s }'; }
cpu() { cat "$1"* | awk '{ s += $2 + $3 } END { printf "%.2f", s }'; }
count() {	# instances in shards $1-*.qkv
	for f in "$1"-*.qkv; do "$B/pack" -t "$f"; done |
	    awk -F'\t' '$1 == "input_ids" { split($3, s, "x"); n += s[1] }
	    END { print n + 0 }'
}

# the reference
s0=$(now)
$TIME -f "%M %U %S" -o "$t/rss.g" "$PY" "$top/bench/google/run.py" "$bert" -- \
    --input_file="$t/corpus.txt" --output_file="$t/google.txt" \
    --vocab_file="$V/vocab.txt" --dupe_factor="$dupe"
s1=$(now)
g_n=$(wc -l <"$t/google.txt")
g_s=$(echo "$s1 - $s0" | bc -l)
g_r=$(peak "$t/rss.g")
g_c=$(cpu "$t/rss.g")
rm -f "$t/google.txt"

# qkv, one pipeline
s0=$(now)
$TIME -f "%M %U %S" -o "$t/rss.p1" "$B/tok" -m $V "$t/corpus.txt" |
    $TIME -f "%M %U %S" -o "$t/rss.p2" "$B/nsp" -b -m $V --dupe "$dupe" |
    $TIME -f "%M %U %S" -o "$t/rss.p3" "$B/mask" -b -m $V |
    $TIME -f "%M %U %S" -o "$t/rss.p4" "$B/pack" --shards -q -o "$t/pipe"
s1=$(now)
p_n=$(count "$t/pipe")
p_s=$(echo "$s1 - $s0" | bc -l)
p_r=$(peak "$t/rss.p")
p_c=$(cpu "$t/rss.p")
rm -f "$t"/pipe-*.qkv

# qkv, sharded: index the corpus, then one shard per core at once
s0=$(now)
$TIME -f "%M %U %S" -o "$t/rss.s1" "$B/tok" -m $V "$t/corpus.txt" |
    $TIME -f "%M %U %S" -o "$t/rss.s2" "$B/pack" --corpus -o "$t/corpus.qkv"
i=1
while [ $i -le "$ncpu" ]; do
	( $TIME -f "%M %U %S" -o "$t/rss.x$i.1" "$B/nsp" -b -m $V -r "$t/corpus.qkv" \
	    --dupe "$dupe" --shard $i/$ncpu |
	    $TIME -f "%M %U %S" -o "$t/rss.x$i.2" "$B/mask" -b -m $V |
	    $TIME -f "%M %U %S" -o "$t/rss.x$i.3" "$B/pack" --shards -q -o "$t/shard$i" ) &
	i=$((i + 1))
done
wait
s1=$(now)
x_n=0
i=1
while [ $i -le "$ncpu" ]; do x_n=$((x_n + $(count "$t/shard$i"))); i=$((i + 1)); done
x_s=$(echo "$s1 - $s0" | bc -l)
x_c=$(echo "$(cpu "$t/rss.s") + $(cpu "$t/rss.x")" | bc -l)
# the indexing stage and the shards run one after the other
x_r=$(( $(peak "$t/rss.s") > $(peak "$t/rss.x") ? $(peak "$t/rss.s") : $(peak "$t/rss.x") ))

row() { printf '%-24s %9s %8.2f %9.0f %8.2f %8.1f\n' "$1" "$2" "$3" \
    "$(echo "$2 / $3" | bc -l)" "$4" "$(echo "$5 / 1024" | bc -l)"; }
printf '%-24s %9s %8s %9s %8s %8s\n' "" instances seconds inst/s "cpu s" \
    "peak MB"
row "google (python3)" "$g_n" "$g_s" "$g_c" "$g_r"
row "qkv tok|nsp|mask|pack" "$p_n" "$p_s" "$p_c" "$p_r"
row "qkv sharded x$ncpu" "$x_n" "$x_s" "$x_c" "$x_r"
printf 'speed (instances/s), qkv / google:  pipeline %.1fx   sharded %.1fx\n' \
    "$(echo "($p_n / $p_s) / ($g_n / $g_s)" | bc -l)" \
    "$(echo "($x_n / $x_s) / ($g_n / $g_s)" | bc -l)"
printf 'cpu per instance, google / qkv:  pipeline %.1fx   sharded %.1fx\n' \
    "$(echo "($g_c / $g_n) / ($p_c / $p_n)" | bc -l)" \
    "$(echo "($g_c / $g_n) / ($x_c / $x_n)" | bc -l)"
printf 'peak memory, google / qkv:  pipeline %.1fx   sharded %.1fx\n' \
    "$(echo "$g_r / $p_r" | bc -l)" "$(echo "$g_r / $x_r" | bc -l)"
