#!/bin/sh
# tok: every form a model can be given in (a lone tokenizer.json, a
# directory with only vocab.txt or vocab.json and merges.txt, a qkv model
# file made by pack, $QKV_MODEL), cased models given each way, GPT-2 round
# trips of the hard set's valid lines, and a 1 GiB line from a pipe.  The
# expected ids are the reference's (tests/data/tok/golden, made by
# tests/tok/mkgolden.js).
T=tests/tmp/tok-forms
. "$(dirname "$0")/tok/tap.sh"
PACK=$BIN/pack

for c in hard man-intl; do
	xz -dc tests/data/tok/$c.txt.xz >"$T/$c.txt"
	for m in bert gpt2 bert-cased; do
		xz -dc "$G/$c.$m.ids.xz" >"$T/$c.$m.ids"
	done
done
xz -dc "$G/hard.bert.s.xz" | cut -f1 >"$T/hard.bert.s"
xz -dc "$G/hard.gpt2.s.xz" | cut -f1 >"$T/hard.gpt2.s"

# check MODEL NAME: the model gives the reference's ids for NAME (bert,
# gpt2, bert-cased) on both corpora
check() {
	for c in hard man-intl; do
		"$TOK" -m "$1" -j 2 "$T/$c.txt" >"$T/out" 2>"$T/err"
		same "$T/out" "$T/$c.$2.ids" "$c: $2 ids from $1"
	done
}

# A lone tokenizer.json
check $V/bert-base-uncased/tokenizer.json bert
check $V/gpt2/tokenizer.json gpt2

# Directories without tokenizer.json
mkdir -p "$T/bert-txt" "$T/gpt2-bpe"
cp $V/bert-base-uncased/vocab.txt $V/bert-base-uncased/tokenizer_config.json \
    "$T/bert-txt/"
cp $V/gpt2/vocab.json $V/gpt2/merges.txt "$T/gpt2-bpe/"
check "$T/bert-txt" bert
check "$T/gpt2-bpe" gpt2

# Cased models: lowercase false in a lone tokenizer.json; do_lower_case
# false in the tokenizer_config.json beside a lone vocab.txt
mkdir -p "$T/cased-json" "$T/cased-txt"
"$PY" tests/tok/bertvariant.py $V/bert-base-uncased/tokenizer.json \
    "$T/cased-json/tokenizer.json" lowercase=false
cp $V/bert-base-uncased/vocab.txt "$T/cased-txt/"
echo '{"do_lower_case": false}' >"$T/cased-txt/tokenizer_config.json"
check "$T/cased-json/tokenizer.json" bert-cased
check "$T/cased-txt/vocab.txt" bert-cased

# qkv model files made by pack -i: a tiny model's weights with the real
# vocabularies beside them (the tokenizer does not look at the weights)
mkpacked() {	# mkpacked NAME TINY FILES...: pack TINY's weights with FILES
	name=$1 tiny=$2
	shift 2
	mkdir -p "$T/$name"
	cp tests/data/golden/$tiny/config.json \
	    tests/data/golden/$tiny/model.safetensors "$@" "$T/$name/"
	"$PACK" -i "$T/$name" -o "$T/$name.qkv"
}
mkpacked p-bert bert-tiny $V/bert-base-uncased/*
ok "pack -i a BERT model with the bert-base-uncased tokenizer"
mkpacked p-gpt2 gpt2-tiny $V/gpt2/*
ok "pack -i a GPT-2 model with the gpt2 tokenizer"
mkpacked p-gpt2-bpe gpt2-tiny $V/gpt2/vocab.json $V/gpt2/merges.txt
ok "pack -i a GPT-2 model with vocab.json and merges.txt only"
mkpacked p-cased bert-tiny $V/bert-base-uncased/vocab.txt \
    "$T/cased-txt/tokenizer_config.json"
ok "pack -i a BERT model with vocab.txt, do_lower_case false"
check "$T/p-bert.qkv" bert
check "$T/p-gpt2.qkv" gpt2
check "$T/p-gpt2-bpe.qkv" gpt2
check "$T/p-cased.qkv" bert-cased
for m in bert gpt2; do
	"$TOK" -m "$T/p-$m.qkv" -s "$T/hard.txt" >"$T/out"
	same "$T/out" "$T/hard.$m.s" "hard: $m -s from a qkv model file"
done
xz -dc "$G/hard.bert.dec.xz" >"$T/exp"
"$TOK" -m "$T/p-bert.qkv" -d "$T/hard.bert.ids" >"$T/out"
same "$T/out" "$T/exp" "hard: bert -d from a qkv model file is HF decode"
"$TOK" -m "$T/p-gpt2.qkv" --bytes "$T/hard.txt" |
    "$TOK" -m "$T/p-gpt2.qkv" -d >"$T/out"
same "$T/out" "$T/hard.txt" "hard: gpt2 --bytes round trip, qkv model file"

# QKV_MODEL is the default for -m; -m wins over it
QKV_MODEL=$V/gpt2 "$TOK" "$T/hard.txt" >"$T/out"
same "$T/out" "$T/hard.gpt2.ids" "hard: gpt2 ids from QKV_MODEL"
QKV_MODEL=$T/p-bert.qkv "$TOK" "$T/hard.txt" >"$T/out"
same "$T/out" "$T/hard.bert.ids" "hard: bert ids from QKV_MODEL, a qkv file"
QKV_MODEL=$T/none "$TOK" -m $V/gpt2 "$T/hard.txt" >"$T/out"
same "$T/out" "$T/hard.gpt2.ids" "-m wins over QKV_MODEL"
echo 31373 | QKV_MODEL=$V/gpt2 "$TOK" -d >"$T/out"
echo hello >"$T/exp"
same "$T/out" "$T/exp" "-d: QKV_MODEL"
env -u QKV_MODEL "$TOK" </dev/null >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && [ ! -s "$T/out" ] &&
    [ "$(cat "$T/err")" = "tok: no model: use -m MODEL or set QKV_MODEL" ]
ok "no -m and no QKV_MODEL: exit 1 saying so"

# GPT-2: every valid UTF-8 line of the hard set comes back byte for byte,
# with and without special-token spellings read as such
"$PY" -c '
import sys
for l in open(sys.argv[1], "rb").read().split(b"\n"):
    try:
        l.decode("utf-8")
        sys.stdout.buffer.write(l + b"\n")
    except UnicodeDecodeError:
        pass' "$T/hard.txt" >"$T/valid.txt"
[ "$(wc -l <"$T/valid.txt")" -gt 100 ]
ok "the hard set has valid lines ($(wc -l <"$T/valid.txt"))"
"$TOK" -m $V/gpt2 "$T/valid.txt" | "$TOK" -m $V/gpt2 -d >"$T/out"
same "$T/out" "$T/valid.txt" "hard, valid lines: gpt2 tok | tok -d"
"$TOK" -m $V/gpt2 --plain "$T/valid.txt" | "$TOK" -m $V/gpt2 -d >"$T/out"
same "$T/out" "$T/valid.txt" "hard, valid lines: gpt2 tok --plain | tok -d"
"$TOK" -m $V/gpt2 --bytes "$T/hard.txt" | "$TOK" -m $V/gpt2 -d >"$T/out"
same "$T/out" "$T/hard.txt" "hard, all lines: gpt2 tok --bytes | tok -d"

# A 1 GiB line (generated, from a pipe) is rejected once it passes 16 MiB,
# in bounded memory, with no output file; lines before it count
bigline() {	# bigline TOKARGS...: 2 short lines, then 1 GiB of 'a' and LF
	{ printf 'one\ntwo\n'; head -c 1073741824 /dev/zero | tr '\0' a;
	    echo; } | /usr/bin/time -o "$T/rss" -f %M "$TOK" "$@" \
	    -o "$T/big.out" 2>"$T/err"
}
for j in 1 2; do
	bigline -m $V/gpt2 -j $j
	[ $? -eq 1 ] && [ ! -e "$T/big.out" ] &&
	    [ "$(cat "$T/err")" = \
	    "tok: <stdin>: line 3: longer than 16777216 bytes" ]
	ok "-j $j: a 1 GiB line is rejected, naming line 3"
	[ "$(tail -n 1 "$T/rss")" -lt 200000 ]
	ok "-j $j: peak RSS $(tail -n 1 "$T/rss") KiB stays under 200 MB"
done
{ printf '1 2\n'; head -c 1073741824 /dev/zero | tr '\0' ' '; echo 3; } |
    /usr/bin/time -o "$T/rss" -f %M "$TOK" -m $V/gpt2 -d -o "$T/big.out" \
    2>"$T/err"
[ $? -eq 1 ] && [ ! -e "$T/big.out" ] && grep -q '<stdin>: line 2: ' "$T/err"
ok "-d: a 1 GiB line is rejected, naming line 2"
[ "$(tail -n 1 "$T/rss")" -lt 200000 ]
ok "-d: peak RSS $(tail -n 1 "$T/rss") KiB stays under 200 MB"

done_testing
