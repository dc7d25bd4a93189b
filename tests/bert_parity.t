#!/bin/sh
# Parity at bert-base size: random bert-base checkpoints (12 layers, hidden
# 768, 30522 ids, 512 positions) made here, stored as F32 with the "bert."
# prefix and as BF16 in the legacy layout (gamma/beta, position_ids
# buffer); a padded batch of sequences and sentence pairs of odd lengths up
# to 256 tokens through the PyTorch reference (tests/bert_ref.py, itself
# checked against the goldens first) and through embed.  Last hidden
# states, pooled and mean-pooled outputs must agree within 1e-4.  Then, at
# an odd small size, F16 storage in the other name layouts and an older
# sentence-transformers export (the BERT in 0_Transformer/).
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
BIN=${QKV_BIN:-$PWD/bin}
REF="$PY tests/bert_ref.py"
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
n=0
check() {
	n=$((n + 1))
	if out=$(eval "$2" 2>&1); then echo "ok $n - $1 $(echo $out | tail -c 60)"
	else echo "not ok $n - $1"; printf '%s\n' "$out" | sed 's/^/# /'; fi
}

G=tests/data/golden
check "reference equals the golden outputs" \
    "$REF check $G/bert-tiny $G/bert-tiny-legacy-bf16 $G/bert-tiny-st $G/bert-tiny-std01 | tail -1"

$REF ids $t/ids.txt --lengths 256,37,131,2,200,5,64 --pairs 1 --seed 7
for v in "f32 hf 11" "bf16 legacy 12"; do
	set -- $v
	m=$t/base-$1
	check "make bert-base $1 ($2 names)" \
	    "$REF make $m --dtype $1 --layout $2 --seed $3"
	check "$1 reference" "$REF run $m $t/ids.txt $t/ref-$1"
	$BIN/embed -m $m -t -p none <$t/ids.txt >$t/none
	$BIN/embed -m $m -t -p none -j 3 <$t/ids.txt >$t/none3
	check "$1: -j 3 gives the same bits as -j 2" "cmp $t/none $t/none3"
	check "$1 last_hidden_state" \
	    "$REF compare $t/ref-$1 last_hidden_state $t/none --tokens"
	# one sequence a batch: the short ones (2 to 64 tokens) go through
	# gemm.c's few-row products, the long ones through sgemm
	$BIN/embed -m $m -t -p none -B 1 -j 3 <$t/ids.txt >$t/none1
	$BIN/embed -m $m -t -p none -B 1 -j 1 <$t/ids.txt >$t/none11
	check "$1: -B 1 -j 1 gives the same bits as -B 1 -j 3" \
	    "cmp $t/none1 $t/none11"
	check "$1 last_hidden_state, one sequence a batch" \
	    "$REF compare $t/ref-$1 last_hidden_state $t/none1 --tokens"
	$BIN/embed -m $m -t -p pooler <$t/ids.txt >$t/pooler
	check "$1 pooled" "$REF compare $t/ref-$1 pooled $t/pooler"
	$BIN/embed -m $m -t -p mean <$t/ids.txt >$t/mean
	check "$1 mean_pooled" "$REF compare $t/ref-$1 mean_pooled $t/mean"
	$BIN/embed -m $m -t -p mean -n <$t/ids.txt >$t/l2
	check "$1 mean_pooled_l2" "$REF compare $t/ref-$1 mean_pooled_l2 $t/l2"
	rm -rf $m
done

# other name layouts and F16 storage at odd sizes (hidden 60: 5 heads of
# 12, 3 layers, 97 ids): no prefix (BertModel) and "bert." with the legacy
# gamma/beta names, both F16
S="--hidden 60 --heads 5 --inter 100 --layers 3 --vocab 97 --positions 40"
$REF ids $t/ids2.txt --vocab 97 --lengths 40,3,17,29,2,33 --pairs 1 --seed 3
for v in "f16 base 21" "f16 legacy 22"; do
	set -- $v
	m=$t/odd-$2
	check "make odd-size $1 ($2 names)" \
	    "$REF make $m $S --dtype $1 --layout $2 --seed $3"
	check "odd-size $2 reference" "$REF run $m $t/ids2.txt $t/ref-$2"
	$BIN/embed -m $m -t -p none <$t/ids2.txt >$t/none
	check "odd-size $1 $2 last_hidden_state" \
	    "$REF compare $t/ref-$2 last_hidden_state $t/none --tokens"
	$BIN/embed -m $m -t -p pooler <$t/ids2.txt >$t/pooler
	check "odd-size $1 $2 pooled" "$REF compare $t/ref-$2 pooled $t/pooler"
done
# a sharded checkpoint (model.safetensors.index.json) gives the same bits
cp -r $t/odd-legacy $t/sharded && $REF shard $t/sharded 3
$BIN/embed -m $t/sharded -t -p pooler <$t/ids2.txt >$t/pooler3
check "sharded in 3 files: the same vectors" \
    "[ ! -e $t/sharded/model.safetensors ] && cmp $t/pooler $t/pooler3"
rm $t/sharded/model-00002-of-00003.safetensors
echo 2 3 | $BIN/embed -m $t/sharded -t >/dev/null 2>$t/shard.err
check "a missing shard: exit 1, one line naming it" \
    "[ $? -eq 1 ] && [ \$(wc -l <$t/shard.err) -eq 1 ] &&
    grep 'embed: .*model-00002-of-00003.safetensors: No such file' $t/shard.err"
# an older sentence-transformers export: the BERT in 0_Transformer/,
# modules.json and 1_Pooling/ at the top; mean pooling (no Normalize) is
# the default, and max_seq_length (sentence_bert_config.json) the limit
st=$t/st
mkdir -p $st/1_Pooling && mv $t/odd-base $st/0_Transformer
printf '%s\n' '[{"idx": 0, "name": "0", "path": "0_Transformer",' \
    '  "type": "sentence_transformers.models.Transformer"},' \
    ' {"idx": 1, "name": "1", "path": "1_Pooling",' \
    '  "type": "sentence_transformers.models.Pooling"}]' >$st/modules.json
echo '{"word_embedding_dimension": 60, "pooling_mode_mean_tokens": true}' \
    >$st/1_Pooling/config.json
echo '{"max_seq_length": 40}' >$st/0_Transformer/sentence_bert_config.json
$BIN/embed -m $st -t <$t/ids2.txt >$t/stmean
check "sentence-transformers in 0_Transformer/: mean pooling by default" \
    "$REF compare $t/ref-base mean_pooled $t/stmean"
echo '{"max_seq_length": 30}' >$st/0_Transformer/sentence_bert_config.json
$BIN/embed -m $st -t <$t/ids2.txt >$t/st30 2>$t/st30.err
check "max_seq_length 30: the lines of 40 and 33 tokens truncated" \
    "grep -q '2 sequences longer than 30 tokens truncated' $t/st30.err &&
    ! $REF compare $t/ref-base mean_pooled $t/st30 >/dev/null &&
    [ \"\$(sed -n 2,4p $t/st30)\" = \"\$(sed -n 2,4p $t/stmean)\" ]"
echo "1..$n"
