#!/bin/sh
# tok against Hugging Face tokenizers: every line of every corpus in
# tests/data/tok, for bert-base-uncased and gpt2, loaded each way a model
# can be given, in default and --plain modes, with specials, truncation,
# offsets and decoding; round trips; and bad input.  The reference ids
# were made by tests/tok/mkgolden.js (see tests/data/tok/golden/VERSION).
T=tests/tmp/tok
. "$(dirname "$0")/tok/tap.sh"

for c in hard prose man-en man-intl code; do
	xz -dc tests/data/tok/$c.txt.xz >"$T/$c.txt"
done
"$PY" tests/tok/scalars.py >"$T/scalars.txt"
for f in "$G"/*.xz; do	# NAME.xz, or NAME.part1.xz NAME.part2.xz ...
	b=$(basename "$f" .xz)
	case $b in
	*.part1) xz -dc "$f" >"$T/${b%.part1}" ;;
	*.part[0-9]*) xz -dc "$f" >>"$T/${b%.part*}" ;;
	*) xz -dc "$f" >"$T/$b" ;;
	esac
done

# --plain expectation: the default ids with the listed lines replaced
plain_expect() {
	awk -F'\t' -v pf="$2" 'BEGIN { while ((getline l < pf) > 0) {
	    i = index(l, "\t"); p[substr(l, 1, i - 1)] = substr(l, i + 1) } }
	    { print (FNR in p) ? p[FNR] : $0 }' "$1"
}

for c in hard prose man-en man-intl code scalars; do
	for m in bert gpt2; do
		case $m in
		bert) srcs="$V/bert-base-uncased $V/bert-base-uncased/vocab.txt" ;;
		gpt2) srcs="$V/gpt2 $V/gpt2/vocab.json" ;;
		esac
		plain_expect "$T/$c.$m.ids" "$T/$c.$m.plain" >"$T/$c.$m.plainids"
		for src in $srcs; do
			"$TOK" -m "$src" -j 2 "$T/$c.txt" >"$T/out" 2>"$T/err"
			same "$T/out" "$T/$c.$m.ids" "$c: $m ids from $src"
			"$TOK" -m "$src" -j 1 --plain "$T/$c.txt" >"$T/out" 2>&1
			same "$T/out" "$T/$c.$m.plainids" "$c: $m --plain from $src"
		done
	done
done

# Other BertNormalizer settings, in tokenizer.json or tokenizer_config.json
mkv() {	# mkv NAME KEY=VALUE...: a model directory with the settings
	d=$T/$1
	shift
	mkdir -p "$d"
	"$PY" tests/tok/bertvariant.py $V/bert-base-uncased/tokenizer.json \
	    "$d/tokenizer.json" "$@"
}
mkv bert-cased lowercase=false
mkv bert-strip lowercase=false strip_accents=true
mkv bert-keep strip_accents=false
mkv bert-nocjk handle_chinese_chars=false
mkv bert-noclean clean_text=false
mkdir -p "$T/bert-cased-txt"
cp $V/bert-base-uncased/vocab.txt "$T/bert-cased-txt/"
echo '{"do_lower_case": false}' >"$T/bert-cased-txt/tokenizer_config.json"
for c in hard man-intl scalars; do
	for m in bert-cased bert-strip bert-keep bert-nocjk bert-noclean; do
		[ -e "$T/$c.$m.ids" ] || continue
		"$TOK" -m "$T/$m" "$T/$c.txt" >"$T/out"
		same "$T/out" "$T/$c.$m.ids" "$c: $m ids"
	done
	"$TOK" -m "$T/bert-cased-txt" "$T/$c.txt" >"$T/out"
	same "$T/out" "$T/$c.bert-cased.ids" \
	    "$c: vocab.txt with do_lower_case false is cased"
done

# special tokens, pairs at TAB, truncation
for m in bert gpt2; do
	src=$V/bert-base-uncased
	[ $m = gpt2 ] && src=$V/gpt2
	cut -f1 "$T/hard.$m.s" >"$T/exp"
	"$TOK" -m "$src" -s "$T/hard.txt" >"$T/out"
	same "$T/out" "$T/exp" "hard: $m -s (pairs at TAB)"
	cut -f1 "$T/hard.$m.s-l12" >"$T/exp"
	"$TOK" -m "$src" -s -l 12 "$T/hard.txt" >"$T/out"
	same "$T/out" "$T/exp" "hard: $m -s -l 12 (longest first)"
	"$TOK" -m "$src" -l 5 "$T/hard.txt" >"$T/out"
	same "$T/out" "$T/hard.$m.l5" "hard: $m -l 5"
done
"$TOK" -m $V/bert-base-uncased/vocab.txt -s "$T/hard.txt" >"$T/out"
cut -f1 "$T/hard.bert.s" >"$T/exp"
same "$T/out" "$T/exp" "hard: bert -s from vocab.txt"

# -b: the same ids, the line as read, the token types, in a qkv stream
# (read back by the format's reference reader, formats/qkv.py)
DUMP="$PY tests/tok/qkvdump.py"
for m in bert gpt2; do
	src=$V/bert-base-uncased
	[ $m = gpt2 ] && src=$V/gpt2
	"$TOK" -m "$src" -b "$T/man-intl.txt" >"$T/b.qkv"
	$DUMP ids <"$T/b.qkv" >"$T/out"
	same "$T/out" "$T/man-intl.$m.ids" "man-intl: $m -b ids"
	$DUMP text <"$T/b.qkv" >"$T/out"
	same "$T/out" "$T/man-intl.txt" "man-intl: $m -b text is the line"
	"$TOK" -m "$src" -b -s "$T/hard.txt" >"$T/b.qkv"
	$DUMP ids <"$T/b.qkv" >"$T/out"
	cut -f1 "$T/hard.$m.s" >"$T/exp"
	same "$T/out" "$T/exp" "hard: $m -b -s ids"
	$DUMP token_type_ids <"$T/b.qkv" >"$T/out"
	cut -f2 "$T/hard.$m.s" >"$T/exp"
	same "$T/out" "$T/exp" "hard: $m -b -s token_type_ids"
	$DUMP text <"$T/b.qkv" >"$T/out"
	same "$T/out" "$T/hard.txt" "hard: $m -b text is the raw line"
	"$TOK" -m "$src" -d "$T/b.qkv" >"$T/out"
	"$TOK" -m "$src" -s "$T/hard.txt" | "$TOK" -m "$src" -d >"$T/exp"
	same "$T/out" "$T/exp" "hard: $m -d reads -b streams"
	# into a pipe the chunks go raw (the next stage would only inflate
	# them): bigger than the file's, the same rows
	"$TOK" -m "$src" -b -s "$T/hard.txt" | cat >"$T/bp.qkv"
	$DUMP ids <"$T/b.qkv" >"$T/exp"
	$DUMP ids <"$T/bp.qkv" | cmp -s - "$T/exp" &&
	    [ "$(wc -c <"$T/bp.qkv")" -gt "$(wc -c <"$T/b.qkv")" ]
	ok "hard: $m -b into a pipe: raw chunks, the same ids"
done
"$TOK" -m $V/bert-base-uncased -b --offsets "$T/hard.txt" | $DUMP offsets |
    perl -ne 'chomp; my @v = split / /; my @p;
	for (my $i = 0; $i < @v; $i += 2) { push @p, "$v[$i]:$v[$i+1]" } print join(" ", @p), "\n"' \
    >"$T/out"
sed 's/[0-9]*:\([0-9]*:[0-9]*\)/\1/g' "$T/hard.bert.offs" >"$T/exp"
same "$T/out" "$T/exp" "hard: bert -b --offsets"

# BERT: decode is HF decode; offsets are HF's, in bytes
for c in hard prose man-intl; do
	"$TOK" -m $V/bert-base-uncased -d "$T/$c.bert.ids" >"$T/out"
	same "$T/out" "$T/$c.bert.dec" "$c: bert -d equals HF decode"
done
"$TOK" -m $V/bert-base-uncased --offsets "$T/hard.txt" >"$T/out"
same "$T/out" "$T/hard.bert.offs" "hard: bert --offsets"
head -n 8000 "$T/man-intl.txt" | "$TOK" -m $V/bert-base-uncased --offsets \
    >"$T/out"
same "$T/out" "$T/man-intl.bert.offs" "man-intl: bert --offsets"

# GPT-2 round trips: valid UTF-8 comes back byte for byte; with --bytes
# anything does
for c in prose man-en man-intl code scalars; do
	"$TOK" -m $V/gpt2 "$T/$c.txt" | "$TOK" -m $V/gpt2 -d >"$T/out"
	same "$T/out" "$T/$c.txt" "$c: gpt2 tok | tok -d round trip"
done
head -c 300000 /dev/urandom >"$T/random.bin"
cat "$T/hard.txt" tests/data/tok/code.txt.xz "$T/random.bin" >"$T/bytes.bin"
printf 'no final newline \377' >>"$T/bytes.bin"
"$TOK" -m $V/gpt2 --bytes "$T/bytes.bin" | "$TOK" -m $V/gpt2 -d >"$T/out"
# -d ends every line with LF; the input's last line had none
printf '\n' >>"$T/bytes.bin"
same "$T/out" "$T/bytes.bin" "binary: gpt2 tok --bytes | tok -d round trip"

# GPT-2 offsets tile each line exactly
"$TOK" -m $V/gpt2 --offsets "$T/man-intl.txt" | perl -ne '
	chomp; my $at = 0;
	for (split / /) { my ($i, $s, $e) = split /:/; exit 1 if $s != $at || $e <= $s; $at = $e }
	print "$at\n"' >"$T/out"
perl -ne 'chomp; print length($_), "\n"' "$T/man-intl.txt" >"$T/exp"
same "$T/out" "$T/exp" "man-intl: gpt2 --offsets tile every line"

# The tiny vocabularies' worked examples (../shared/vocab/README.md)
echo 'Hello, world! This is a test.' | "$TOK" -m $V/bert-tiny -s >"$T/out"
echo '2 141 120 120 123 16 220 5 161 142 69 88 113 127 128 18 3' >"$T/exp"
same "$T/out" "$T/exp" "bert-tiny worked example"
echo 'Hello, world! This is a test.' | "$TOK" -m $V/gpt2-tiny >"$T/out"
echo '39 695 78 11 995 0 770 318 257 256 395 13' >"$T/exp"
same "$T/out" "$T/exp" "gpt2-tiny worked example"

# Lines: LF only, CR kept, last line without LF, empty lines
printf 'a\r\n\nb' | "$TOK" -m $V/gpt2 >"$T/out"
printf '64 201\n\n65\n' >"$T/exp"
same "$T/out" "$T/exp" "gpt2: CR kept, empty line, unterminated last line"

# A slow producer's lines come back before its input ends (perl writes a
# line, waits for the answer, then writes the next; the alarm is only a
# guard against hanging)
live() {
	perl -e 'use IPC::Open2; $SIG{ALRM} = sub { print "timeout\n"; exit 1 };
	    my $pid = open2(my $out, my $in, @ARGV); $in->autoflush(1);
	    alarm 20; print $in "hello\n"; my $a = <$out>; print $a;
	    print $in "world\n"; close $in; print <$out>; waitpid $pid, 0' "$@"
}
live "$TOK" -m $V/gpt2 >"$T/out"
printf '31373\n6894\n' >"$T/exp"
same "$T/out" "$T/exp" "ids of a line come out before the next is written"
live sh -c "sed -u 's/hello/31373/; s/world/6894/' | $TOK -m $V/gpt2 -d" \
    >"$T/out"
printf 'hello\nworld\n' >"$T/exp"
same "$T/out" "$T/exp" "-d: text of a line comes out before the next is read"

# Bad input
"$TOK" -m "$T/none" </dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "^tok: $T/none: " "$T/err"
ok "missing model: exit 1 naming it"
mkdir -p "$T/badjson" "$T/badmerge" "$T/badvocab"
printf '{"a": 0,\n "b": x}\n' >"$T/badjson/vocab.json"
printf '#version: 0.2\n' >"$T/badjson/merges.txt"
"$TOK" -m "$T/badjson/vocab.json" </dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "vocab.json: line 2:" "$T/err"
ok "malformed vocab.json: names the file and line"
cp $V/gpt2/vocab.json "$T/badmerge/"
printf '#version: 0.2\n\304\240 t\nfoo\n' >"$T/badmerge/merges.txt"
"$TOK" -m "$T/badmerge" </dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "merges.txt: line 3:" "$T/err"
ok "malformed merges.txt: names the file and line"
printf '[PAD]\n[UNK]\nok\nbad\377\n' >"$T/badvocab/vocab.txt"
"$TOK" -m "$T/badvocab" </dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "vocab.txt: line 4: invalid UTF-8" "$T/err"
ok "malformed vocab.txt: names the file and line"
cp $V/gpt2/vocab.json "$T/badmerge/vocab.json"
rm -f "$T/badmerge/merges.txt"
"$TOK" -m "$T/badmerge/vocab.json" </dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "merges.txt: missing" "$T/err"
ok "vocab.json without merges.txt: says so"
head -c 17000000 /dev/zero | tr '\0' a >"$T/long.txt"
"$TOK" -m $V/gpt2 -o "$T/long.out" "$T/long.txt" 2>"$T/err"
[ $? -eq 1 ] && grep -q "long.txt: line 1: longer than 16777216 bytes" \
    "$T/err" && [ ! -e "$T/long.out" ]
ok "a line over 16 MiB is rejected, no output file left"
echo '1 2 x3' | "$TOK" -m $V/gpt2 -d 2>"$T/err"
[ $? -eq 1 ] && grep -q "line 1: 'x3' is not a token id" "$T/err"
ok "-d: a bad id names the line"
echo '50257' | "$TOK" -m $V/gpt2 -d 2>"$T/err"
[ $? -eq 1 ] && grep -q "line 1: token id 50257 is not in the vocabulary" \
    "$T/err"
ok "-d: an unknown id names the line"
"$TOK" -x 2>/dev/null
[ $? -eq 2 ]
ok "unknown option: exit 2"
"$TOK" -m $V/bert-base-uncased --bytes </dev/null 2>/dev/null
[ $? -eq 2 ]
ok "--bytes with WordPiece: exit 2"
yes 'a line of text' | head -n 200000 | "$TOK" -m $V/gpt2 | head -n 1 \
    >"$T/out" 2>"$T/err"
[ "$(cat "$T/out")" = "64 1627 286 2420" ] && [ ! -s "$T/err" ]
ok "| head ends it quietly"

done_testing
