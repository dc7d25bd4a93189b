#!/bin/sh
# mask --fill and nsp --score against a PyTorch reference of
# BertForPreTraining (tests/pretrain/heads_ref.py, itself checked against
# the goldens first): the same top-k fillers with the same probabilities,
# the same P(IsNext); errors name the line.
. "$(dirname "$0")/pretrain/tap.sh"
G=tests/data/golden
for d in bert-tiny bert-tiny-std01 bert-tiny-legacy-bf16; do
	worst=$("$PY" tests/pretrain/heads_ref.py check $G/$d)
	t_ok "reference = goldens for $d (max abs diff $worst)" \
	    "$PY" -c "import sys; sys.exit(not float('$worst') < 1e-5)"
	# sentences of the goldens with words masked, one or more per line
	cut -f1 $G/$d/ref/*/sentences.txt | awk '{ n = split($0, w, " ")
	    for (i = 2; i <= n; i += 3) w[i] = "[MASK]"
	    s = w[1]; for (i = 2; i <= n; i++) s = s " " w[i]; print s }' \
	    >"$T/masked.txt"
	"$BIN/mask" --fill -k 5 -m $G/$d "$T/masked.txt" >"$T/fill"
	"$BIN/tok" -s -m $G/$d "$T/masked.txt" |
	    "$PY" tests/pretrain/heads_ref.py fill $G/$d 5 >"$T/fill.ref"
	t_is "$(cut -f1-3,5 "$T/fill" | md5sum)" \
	    "$(cut -f1-3,5 "$T/fill.ref" | md5sum)" \
	    "$d: --fill top 5 ids equal the reference's ($(wc -l <"$T/fill") rows)"
	t_is "$(paste "$T/fill" "$T/fill.ref" | awk -F'\t' '
	    { d = $4 - $10; if (d < 0) d = -d; if (d > m) m = d }
	    END { print (m < 1e-5 && NR > 0) ? "ok" : "max diff " m }')" ok \
	    "$d: --fill probabilities within 1e-5"
	cat $G/$d/ref/pair/sentences.txt $G/$d/ref/pair/sentences.txt |
	    awk -F'\t' 'NR > 2 { print $2 "\t" $1; next } { print }' \
	    >"$T/pairs.txt"
	"$BIN/nsp" --score -m $G/$d "$T/pairs.txt" >"$T/score"
	"$BIN/tok" -s -m $G/$d "$T/pairs.txt" |
	    "$PY" tests/pretrain/heads_ref.py score $G/$d >"$T/score.ref"
	t_is "$(paste "$T/score" "$T/score.ref" | awk -F'\t' '
	    { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
	    END { print (m < 1e-5 && NR == 4) ? "ok" : "max diff " m " rows " NR }')" ok \
	    "$d: --score P(IsNext) within 1e-5 of the reference's"
done

echo "no mask here" >"$T/nomask"
t_fails 1 "^mask: $T/nomask: line 1: no \[MASK\] to fill\$" "--fill: a line without [MASK]" \
    "$BIN/mask" --fill -m $G/bert-tiny "$T/nomask"
echo "no tab here" >"$T/notab"
t_fails 1 "^nsp: $T/notab: line 1: no TAB between the sentences\$" "--score: a line without TAB" \
    "$BIN/nsp" --score -m $G/bert-tiny "$T/notab"
# longer than the model's 128 positions: --fill refuses the line ([CLS],
# 151 tokens, [SEP]); --score cuts the pair longest first from the end, as
# the tokenizer does: A of 150 tokens and B of 42 keep 125 - 42 = 83 of A
words() { awk -v w="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++)
	printf "%s%s", i ? " " : "", w }'; }
printf '%s [MASK]\n' "$(words the 150)" >"$T/longfill"
t_fails 1 "^mask: $T/longfill: line 1: 153 tokens, more than the model's 128\$" \
    "--fill: a line longer than the model's positions" \
    "$BIN/mask" --fill -m $G/bert-tiny "$T/longfill"
printf '%s\tand then %s\n' "$(words the 150)" "$(words a 40)" >"$T/longpair"
printf '%s\tand then %s\n' "$(words the 83)" "$(words a 40)" >"$T/cutpair"
"$BIN/nsp" --score -m $G/bert-tiny-std01 "$T/longpair" >"$T/score" 2>&1
"$BIN/tok" -s -m $G/bert-tiny-std01 "$T/cutpair" |
    "$PY" tests/pretrain/heads_ref.py score $G/bert-tiny-std01 >"$T/score.ref"
t_is "$(paste "$T/score" "$T/score.ref" | awk -F'\t' '
    { d = $1 - $2; if (d < 0) d = -d }
    END { print (NR == 1 && d < 1e-5) ? "ok" : "rows " NR " diff " d }')" ok \
    "--score: a pair longer than the model's positions is cut as the tokenizer cuts it"
t_fails 1 "missing tensor 'cls.predictions" "--fill: a model without the MLM head" \
    "$BIN/mask" --fill -m $G/bert-tiny-st "$T/nomask"
t_fails 1 "missing tensor 'cls.seq_relationship" "--score: a model without the NSP head" \
    "$BIN/nsp" --score -m $G/bert-tiny-st "$T/notab"
t_done
