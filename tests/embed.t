#!/bin/sh
# embed on the golden checkpoints: id lines in, vectors out as text, equal
# to the PyTorch reference outputs; pooling defaults; bad input.
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
BIN=${QKV_BIN:-$PWD/bin}
G=tests/data/golden
REF="$PY tests/bert_ref.py"
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
# check NAME CMD: CMD's output shown as a diagnostic
check() {
	if out=$(eval "$2" 2>&1); then ok "$1 $(echo $out | tail -c 80)"
	else nok "$1"; printf '%s\n' "$out" | sed 's/^/# /'; fi
}
# fails NAME STATUS PATTERN CMD: exit status and a one-line message
fails() {
	eval "$4" >"$t/out" 2>"$t/err"; rc=$?
	if [ $rc -eq "$2" ] && [ "$(wc -l <"$t/err")" -eq 1 ] &&
	    grep -q -- "$3" "$t/err"; then ok "$1: $(cat "$t/err")"
	else nok "$1 (status $rc)"; sed 's/^/# /' "$t/err"; fi
}

for d in bert-tiny bert-tiny-legacy-bf16 bert-tiny-st bert-tiny-std01; do
	tol=1e-4
	case $d in *std01) tol=5e-4 ;; esac
	for c in single batch pair long; do
		r=$G/$d/ref/$c
		# ids.txt holds [CLS] ... [SEP] (pairs: two [SEP]); the token
		# types embed infers from the [SEP] must equal token_types.txt
		$BIN/embed -m $G/$d -t -p none <$r/ids.txt >$t/none &&
		$BIN/embed -m $G/$d -t -p pooler <$r/ids.txt >$t/pooler &&
		$BIN/embed -m $G/$d -t -p mean <$r/ids.txt >$t/mean &&
		$BIN/embed -m $G/$d -t -p mean -n <$r/ids.txt >$t/l2 &&
		$BIN/embed -m $G/$d -t <$r/ids.txt >$t/default
		check "$d/$c last_hidden_state" \
		    "$REF compare $r last_hidden_state $t/none --tokens --tol $tol"
		check "$d/$c pooled" "$REF compare $r pooled $t/pooler --tol $tol"
		check "$d/$c mean_pooled" \
		    "$REF compare $r mean_pooled $t/mean --tol $tol"
		check "$d/$c mean_pooled_l2" \
		    "$REF compare $r mean_pooled_l2 $t/l2 --tol $tol"
		# default pooling: sentence-transformers' (mean + Normalize) for
		# -st, else the [CLS] vector
		if [ $d = bert-tiny-st ]; then
			check "$d/$c default is mean + L2" \
			    "$REF compare $r mean_pooled_l2 $t/default"
		else
			check "$d/$c default is cls" \
			    "$REF compare $r last_hidden_state $t/default --cls --tol $tol"
		fi
	done
done

# ids without [CLS]/[SEP] get them, as tok -s would add them
r=$G/bert-tiny/ref/batch
sed 's/^2 //; s/ 3$//' $r/ids.txt | $BIN/embed -m $G/bert-tiny -t -p pooler >$t/wrapped
check "ids without specials are wrapped in [CLS] ... [SEP]" \
    "$REF compare $r pooled $t/wrapped"
# -r takes them as they are: different vectors
sed 's/^2 //; s/ 3$//' $r/ids.txt | $BIN/embed -m $G/bert-tiny -t -r -p pooler >$t/raw
check "-r does not add specials" "! cmp -s $t/raw $t/wrapped"
# batches of one give the same vectors as one batch
$BIN/embed -m $G/bert-tiny -t -B 1 -p none <$r/ids.txt >$t/b1
$BIN/embed -m $G/bert-tiny -t -p none <$r/ids.txt >$t/b32
check "-B 1 equals one batch" "$REF close $t/b1 $t/b32"
# the vectors do not depend on the number of threads
$BIN/embed -m $G/bert-tiny -t -j 1 -p none <$r/ids.txt >$t/j1
$BIN/embed -m $G/bert-tiny -t -j 3 -p none <$r/ids.txt >$t/j3
check "-j 1 and -j 3 give the same bits" "cmp $t/j1 $t/j3"
# files as arguments, in order
s1=$G/bert-tiny/ref/single/ids.txt
$BIN/embed -m $G/bert-tiny -t $s1 $r/ids.txt >$t/two
{ $BIN/embed -m $G/bert-tiny -t <$s1; $BIN/embed -m $G/bert-tiny -t <$r/ids.txt; } >$t/two.ref
check "files in order" "[ \$(wc -l <$t/two) -eq 4 ] && $REF close $t/two $t/two.ref"
# -o writes the file
$BIN/embed -m $G/bert-tiny -t -o $t/o.txt <$r/ids.txt
check "-o FILE" "$BIN/embed -m $G/bert-tiny -t <$r/ids.txt | cmp - $t/o.txt"
# QKV_MODEL is the default model
QKV_MODEL=$G/bert-tiny $BIN/embed -t <$r/ids.txt >$t/env
check "QKV_MODEL" "$BIN/embed -m $G/bert-tiny -t <$r/ids.txt | cmp - $t/env"
# too long: truncated with a warning (keeping [SEP]), or rejected by -x
long=$(seq 5 204 | tr '\n' ' ')
echo "2 ${long}3" | $BIN/embed -m $G/bert-tiny -t -p none >$t/trunc 2>$t/warn
check "over-long sequence truncated to 128 tokens" \
    "[ \$(grep -c . $t/trunc) -eq 128 ] && grep -q 'truncated' $t/warn"
echo "2 $(seq 5 130 | tr '\n' ' ')3" | $BIN/embed -m $G/bert-tiny -t -p none >$t/t1
echo "2 ${long}3" | $BIN/embed -m $G/bert-tiny -q -t -p none >$t/t2 2>$t/warn2
check "truncation keeps the final [SEP]; -q silences the warning" \
    "$REF close $t/t1 $t/t2 && [ ! -s $t/warn2 ]"
echo "2 5 6 3" | $BIN/embed -m $G/bert-tiny -q -t -l 3 -p none >$t/l3
check "-l 3 truncates to 3 tokens" "[ \$(grep -c . $t/l3) -eq 3 ]"

# qkv streams as tok -b writes them: ids, token types, text carried through
for c in batch pair; do
	r=$G/bert-tiny/ref/$c
	$REF tostream $r/ids.txt $t/in.qkv --types $r/token_types.txt --text $r/sentences.txt
	$BIN/embed -m $G/bert-tiny -p pooler <$t/in.qkv >$t/out.qkv
	check "stream $c: pooled" "$REF compare $r pooled $t/out.qkv"
	check "stream $c: text carried through" \
	    "$REF column $t/out.qkv text | cmp - $r/sentences.txt"
	$BIN/embed -m $G/bert-tiny -p none <$t/in.qkv >$t/tok.qkv
	check "stream $c: -p none, a row per token" \
	    "$REF compare $r last_hidden_state $t/tok.qkv --tokens"
	check "stream $c: -p none rows say seq, pos and id" \
	    "[ \"\$($REF column $t/tok.qkv id | tr '\n' ' ')\" = \"\$(tr '\n' ' ' <$r/ids.txt)\" ] &&
	    [ \$($REF column $t/tok.qkv seq | uniq | wc -l) -eq \$(wc -l <$r/ids.txt) ] &&
	    [ \$($REF column $t/tok.qkv pos | sed -n 1p) -eq 0 ]"
done
r=$G/bert-tiny/ref/pair
$REF tostream $r/ids.txt $t/in2.qkv --types $r/token_types.txt --types-name token_type_ids
$BIN/embed -m $G/bert-tiny -p pooler <$t/in2.qkv >$t/out2.qkv
check "stream with token_type_ids and no text" \
    "$REF compare $r pooled $t/out2.qkv && ! $REF column $t/out2.qkv text 2>/dev/null"
# pair ids without specials in a stream with types: wrapped as a pair
sed 's/^2 //; s/ 3$//; s/ 3 / /' $r/ids.txt >$t/bare.txt
sed 's/^0 //; s/ 1$//; s/0 1/1/' $r/token_types.txt >$t/bare.types
$REF tostream $t/bare.txt $t/bare.qkv --types $t/bare.types
$BIN/embed -m $G/bert-tiny -p pooler <$t/bare.qkv >$t/bare.out
check "pairs without specials become [CLS] A [SEP] B [SEP]" \
    "$REF compare $r pooled $t/bare.out"
: | $BIN/embed -m $G/bert-tiny >$t/empty.qkv
check "no input: an empty, valid stream" \
    "[ -z \"\$($REF column $t/empty.qkv vec)\" ]"

# -T: raw text tokenised inside, as tok -s does (a TAB makes a pair)
for d in bert-tiny bert-tiny-st; do
	for c in single batch pair long; do
		r=$G/$d/ref/$c
		$BIN/embed -m $G/$d -T -p pooler <$r/sentences.txt >$t/T.qkv
		check "-T $d/$c: pooled" "$REF compare $r pooled $t/T.qkv"
		check "-T $d/$c: the lines are the text" \
		    "$REF column $t/T.qkv text | cmp - $r/sentences.txt"
	done
done
r=$G/bert-tiny/ref/batch
$BIN/tok -m $G/bert-tiny <$r/sentences.txt | $BIN/embed -m $G/bert-tiny -t >$t/tokpipe
$BIN/embed -m $G/bert-tiny -T -t <$r/sentences.txt >$t/Tpipe
check "tok | embed equals embed -T" "$REF close $t/tokpipe $t/Tpipe"
yes "word" | head -300 | tr '\n' ' ' >$t/longline
$BIN/embed -m $G/bert-tiny -T -t -p none <$t/longline >$t/Tlong 2>$t/Twarn
check "-T truncates a long line to 128 tokens with a warning" \
    "[ \$(grep -c . $t/Tlong) -eq 128 ] && grep -q truncated $t/Twarn"
fails "-T -x rejects a long line" 1 "line 1: 302 tokens, more than the model's maximum of 128" \
    "$BIN/embed -m $G/bert-tiny -T -x <$t/longline"
$REF make $t/notok --hidden 32 --layers 1 --heads 2 --inter 64 --vocab 50 --positions 16
rm $t/notok/vocab.txt
fails "-T without a tokenizer" 1 "embed: -T: " "echo hi | $BIN/embed -m $t/notok -T"

# qkv model files made by pack -i serve the same model, files included
$BIN/pack -i $G/bert-tiny-st -o $t/st.qkv
$BIN/embed -m $t/st.qkv -t <$G/bert-tiny-st/ref/batch/ids.txt >$t/stq
check "pack -i model file: sentence-transformers defaults and vectors" \
    "$REF compare $G/bert-tiny-st/ref/batch mean_pooled_l2 $t/stq"
$BIN/pack -i $G/bert-tiny-legacy-bf16 -o $t/bf.qkv
$BIN/embed -m $t/bf.qkv -t -p none <$G/bert-tiny-legacy-bf16/ref/pair/ids.txt >$t/bfq
check "pack -i model file of a legacy BF16 checkpoint" \
    "$REF compare $G/bert-tiny-legacy-bf16/ref/pair last_hidden_state $t/bfq --tokens"

# the pipeline: an index of sentences, a query, nearest prints the text
r=$G/bert-tiny-st/ref/batch
$REF tostream $r/ids.txt $t/docs.qkv --text $r/sentences.txt
$BIN/embed -m $G/bert-tiny-st <$t/docs.qkv >$t/idx.qkv
sed -n 2p $r/ids.txt >$t/q.txt
$REF tostream $t/q.txt $t/q.qkv --text $t/q.txt
$BIN/embed -m $G/bert-tiny-st <$t/q.qkv | $BIN/nearest -k 1 $t/idx.qkv >$t/hit
check "stream pipeline: nearest finds the query's sentence" \
    "[ \"\$(cut -f2,4,5 $t/hit)\" = \"1	2	\$(sed -n 2p $r/sentences.txt)\" ]"
$BIN/embed -m $G/bert-tiny-st -t <$t/q.txt | $BIN/nearest -k 1 $t/idx.qkv >$t/hit2
check "text ids between the stages: the same answer" "cmp $t/hit $t/hit2"

# the same with tok itself: tok -b, with and without -s, and text ids
M=$G/bert-tiny-st
r=$M/ref/batch
$BIN/tok -m $M -b <$r/sentences.txt | $BIN/embed -m $M >$t/tidx.qkv
sed -n 2p $r/sentences.txt | $BIN/tok -m $M -b | $BIN/embed -m $M |
    $BIN/nearest -k 3 $t/tidx.qkv >$t/thit
check "tok -b | embed | nearest prints the sentences, the query's first" \
    "[ \"\$(sed -n 1p $t/thit | cut -f1,2,4,5)\" = \"1	1	2	\$(sed -n 2p $r/sentences.txt)\" ] &&
    [ \"\$(cut -f5 $t/thit | sort)\" = \"\$(sort $r/sentences.txt)\" ]"
check "tok -b: vectors equal the reference's" "$REF compare $r mean_pooled_l2 $t/tidx.qkv"
$BIN/tok -m $M -s -b <$M/ref/pair/sentences.txt | $BIN/embed -m $M -p pooler >$t/tpair.qkv
check "tok -s -b of pairs: token types from the stream" \
    "$REF compare $M/ref/pair pooled $t/tpair.qkv"
$BIN/tok -m $M <$r/sentences.txt | $BIN/embed -m $M >$t/tidx2.qkv
sed -n 2p $r/sentences.txt | $BIN/tok -m $M | $BIN/embed -m $M -t |
    $BIN/nearest -k 3 $t/tidx2.qkv >$t/thit2
check "text ids between the stages: same rows and scores, no text" \
    "[ \"\$(cut -f1-4 $t/thit2)\" = \"\$(cut -f1-4 $t/thit)\" ]"

fails "stream without ids" 1 "embed: .*in3.qkv: the stream has no 'ids' column" \
    "$PY -c \"import sys; sys.path.insert(0, 'formats'); import qkv; qkv.write_stream('$t/in3.qkv', [('text', 'string', 'str', ())], {'text': ['a']})\" &&
    $BIN/embed -m $G/bert-tiny $t/in3.qkv"
head -c 60 $t/in.qkv >$t/cut.qkv
fails "truncated stream" 1 "embed: .*cut.qkv" "$BIN/embed -m $G/bert-tiny $t/cut.qkv"

fails "id outside the vocabulary" 1 "embed: <stdin>: line 2: id 1000 is outside the vocabulary" \
    "printf '2 5 3\n2 1000 3\n' | $BIN/embed -m $G/bert-tiny -t"
fails "not an id" 1 "embed: <stdin>: line 1: 'x7' is not a token id" \
    "echo '2 x7 3' | $BIN/embed -m $G/bert-tiny -t"
fails "-x rejects an over-long sequence" 1 "line 1: 202 tokens, more than the model's maximum of 128" \
    "echo '2 ${long}3' | $BIN/embed -m $G/bert-tiny -x -t"
fails "failed run leaves no -o file" 1 "outside the vocabulary" \
    "printf '2 5 3\n2 1000 3\n' | $BIN/embed -m $G/bert-tiny -t -o $t/bad.txt"
check "no partial output file" "[ ! -e $t/bad.txt ]"
fails "no model" 1 "embed: no model: use -m MODEL or set QKV_MODEL" \
    "echo 2 3 | env -u QKV_MODEL $BIN/embed -t"
fails "unknown pooling" 2 "embed: -p: unknown pooling 'avg'" \
    "echo 2 3 | $BIN/embed -m $G/bert-tiny -p avg"
$BIN/embed -h >$t/usage; rc=$?
check "-h: usage on stdout, status 0" "[ $rc -eq 0 ] && grep -q '^usage: embed' $t/usage"

# broken checkpoints, each named in the message
$REF make $t/m1 --hidden 32 --layers 1 --heads 2 --inter 64 --vocab 50 --positions 16 \
    --drop bert.encoder.layer.0.output.dense.weight
fails "missing tensor" 1 "missing tensor 'bert.encoder.layer.0.output.dense.weight'" \
    "echo 2 3 | $BIN/embed -m $t/m1 -t"
$REF make $t/m2 --hidden 32 --layers 1 --heads 2 --inter 64 --vocab 50 --positions 16 \
    --set intermediate_size=48
fails "shape mismatch" 1 "tensor 'bert.encoder.layer.0.intermediate.dense.weight' has shape \[64,32\], expected \[48,32\]" \
    "echo 2 3 | $BIN/embed -m $t/m2 -t"
$REF make $t/m3 --hidden 32 --layers 1 --heads 2 --inter 64 --vocab 50 --positions 16 \
    --set 'architectures=["GPT2LMHeadModel"]' --set 'model_type="gpt2"'
fails "unknown architecture" 1 "model_type \"gpt2\" is not a BERT model" \
    "echo 2 3 | $BIN/embed -m $t/m3 -t"
$REF make $t/m4 --hidden 32 --layers 1 --heads 2 --inter 64 --vocab 50 --positions 16 \
    --set 'architectures=["RobertaModel"]'
fails "unknown architecture class" 1 "architecture \"RobertaModel\" is not a BERT model" \
    "echo 2 3 | $BIN/embed -m $t/m4 -t"
fails "no weights" 1 "no weights" \
    "mkdir $t/m5 && cp $t/m4/config.json $t/m5 && sed -i 's/RobertaModel/BertModel/' $t/m5/config.json && echo 2 3 | $BIN/embed -m $t/m5 -t"

echo "1..$n"
