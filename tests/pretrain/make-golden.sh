#!/bin/sh
# make-golden.sh - run google-research/bert's create_pretraining_data.py (the
# reference) here, with TensorFlow stubbed (bench/google), and keep its
# output as golden data for tests/nsp-google.t.
#
#   tests/pretrain/make-golden.sh CHECKOUT
#
# CHECKOUT is a local checkout of github.com/google-research/bert (its code
# stays out of this project).  Writes tests/data/pretrain/:
#   kjv8.txt          8 short books of the KJV (tools/kjv.sh), one verse a line
#   kjv8.ids          the reference tokenizer's ids for it (as `tok` prints)
#   edge.txt, .ids    odd shapes: a one-sentence document, a 700-word sentence,
#                     empty documents, runs of tiny sentences, long words
#   dup/vocab.txt     the tiny BERT vocabulary with four tokens listed twice
#   dup.ids           edge.txt under that vocabulary
#   NAME.ref.xz       the reference's records, one a line: the seven
#                     features, TAB-separated, exactly as `nsp --google -t`
#   cases             NAME, input, vocabulary (under tests/data), nsp options
#   ntc.ids.xz        the New Testament, a chapter a document, as ids
#   ntc-google.json   tests/pretrain/stats.py's summary of the reference's
#                     records for ntc (defaults: L 128, dupe 10), against
#                     which tests/pretrain-stats.t compares nsp | mask
set -eu
[ $# -eq 1 ] && [ -f "$1/create_pretraining_data.py" ] ||
	{ echo "usage: $0 BERT_CHECKOUT" >&2; exit 2; }
bert=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-/usr/bin/python3}
d=$top/tests/data/pretrain
base=$top/tests/data/vocab/bert-base-uncased
mkdir -p "$d/dup"
cd "$d"

"$top/tools/kjv.sh" Ruth Jonah Obadiah Haggai Philemon "2 John" "3 John" Jude >kjv8.txt
# edge.txt: made from KJV words by a seeded generator, so it is stable
"$py" - "$top" <<'PY'
import random, subprocess, sys
words = subprocess.run([sys.argv[1] + "/tools/kjv.sh", "Genesis"],
                       capture_output=True, text=True, check=True).stdout.split()
r = random.Random(3)
lines = [" ".join(words[:5]), "", " ".join(words[100:800]), "", "", "   ", ""]
for _ in range(6):
    for _ in range(r.randint(1, 30)):
        lines.append(" ".join(words[r.randint(0, 30000):][:r.randint(1, 40)]))
    lines.append("")
lines.append("unbelievably antidisestablishmentarianism "
             "hyperparameterization quixotically " * 5)
lines.append("x")
open("edge.txt", "w").write("\n".join(lines) + "\n")
PY
cat "$top/../shared/vocab/bert-tiny/vocab.txt" >dup/vocab.txt
sed -n '3p;4p;10p;500p' dup/vocab.txt >>dup/vocab.txt

: >cases
# case NAME TEXT VOCABDIR NSP-OPTIONS -- REFERENCE-FLAGS
case1() {
	name=$1 text=$2 vocab=$3 nspopts=$4
	shift 4
	"$py" "$top/bench/google/run.py" "$bert" --ids "$name.ids.tmp" -- \
	    --input_file="$text" --output_file="$name.ref" \
	    --vocab_file="$vocab/vocab.txt" "$@"
	ids=${text%.txt}.ids vdir=vocab/bert-base-uncased
	[ "$vocab" = "$d/dup" ] && ids=dup.ids vdir=pretrain/dup
	mv "$name.ids.tmp" "$ids"
	xz -9e -f "$name.ref"
	printf '%s\t%s\t%s\t%s\n' "$name" "$ids" "$vdir" "$nspopts" >>cases
}
for dupe in 1 5; do
	for L in 128 512; do
		case1 "kjv8-d$dupe-l$L" kjv8.txt "$base" "--dupe $dupe -l $L" \
		    --dupe_factor=$dupe --max_seq_length=$L
		case1 "kjv8-d$dupe-l$L-wwm" kjv8.txt "$base" \
		    "--dupe $dupe -l $L --wwm" \
		    --dupe_factor=$dupe --max_seq_length=$L --do_whole_word_mask
	done
done
case1 edge-l16-wwm edge.txt "$base" "--dupe 5 -l 16 --wwm" \
    --dupe_factor=5 --max_seq_length=16 --do_whole_word_mask
case1 edge-s7 edge.txt "$base" \
    "--dupe 3 -s 7 -l 64 --short 0.5 --prob 0.3 --max-pred 40" \
    --dupe_factor=3 --random_seed=7 --max_seq_length=64 \
    --short_seq_prob=0.5 --masked_lm_prob=0.3 --max_predictions_per_seq=40
case1 edge-s0-l5 edge.txt "$base" "--dupe 2 -s 0 -l 5 --short 1 --prob 1" \
    --dupe_factor=2 --random_seed=0 --max_seq_length=5 --short_seq_prob=1 \
    --masked_lm_prob=1
case1 dup-l64 edge.txt "$d/dup" "--dupe 3 -l 64 --wwm" \
    --dupe_factor=3 --max_seq_length=64 --do_whole_word_mask

# statistics: the reference on the New Testament, chapters as documents
"$top/tools/kjv.sh" -c Matthew Mark Luke John Acts Romans "1 Corinthians" \
    "2 Corinthians" Galatians Ephesians Philippians Colossians \
    "1 Thessalonians" "2 Thessalonians" "1 Timothy" "2 Timothy" Titus \
    Philemon Hebrews James "1 Peter" "2 Peter" "1 John" "2 John" "3 John" \
    Jude Revelation >ntc.txt.tmp
"$py" "$top/bench/google/run.py" "$bert" --ids ntc.ids -- \
    --input_file=ntc.txt.tmp --output_file=ntc.ref.tmp \
    --vocab_file="$base/vocab.txt" --dupe_factor=10
"$py" "$top/tests/pretrain/stats.py" summary --vocab "$base/vocab.txt" \
    ntc.ref.tmp >ntc-google.json
xz -9e -f ntc.ids
rm -f ntc.txt.tmp ntc.ref.tmp
ls -l "$d"
