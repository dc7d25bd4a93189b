#!/bin/sh
# nsp: options, formats, errors, determinism, corpus shards, bounded pool.
. "$(dirname "$0")/pretrain/tap.sh"
V=tests/data/vocab/bert-base-uncased
D=tests/data/pretrain
xz -dc $D/ntc.ids.xz >"$T/ntc.ids"
cp $D/kjv8.ids "$T/kjv8.ids"

"$BIN/nsp" -Z 2>"$T/usage"
t_is "$?:$(grep -c '^usage: nsp' "$T/usage")" "2:1" "bad option: usage, exit 2"
t_fails 2 'no model' "no model" env -u QKV_MODEL "$BIN/nsp" /dev/null
t_fails 2 '^nsp: -l: 4 is out of range \[5, ' "-l below 5" "$BIN/nsp" -m $V -l 4 /dev/null
t_fails 2 '^nsp: --shard needs -r' "--shard without -r" \
    "$BIN/nsp" -m $V --shard 1/2 /dev/null
t_fails 2 'belong to mask' "--wwm without --google" \
    "$BIN/nsp" -m $V --wwm /dev/null
printf '2023 2003\n\n1 2 abc\n' >"$T/bad"
t_fails 1 "^nsp: $T/bad: line 3: 'abc' is not a token id\$" "bad id" \
    "$BIN/nsp" -m $V "$T/bad"
printf '2023\n30522\n' >"$T/big"
t_fails 1 "line 2: id 30522 is not in the vocabulary \(30522 ids\)" \
    "id out of range" "$BIN/nsp" -m $V "$T/big"
t_fails 1 "line 2: id 30522" "-o: error" "$BIN/nsp" -m $V -o "$T/o.txt" "$T/big"
t_is "$(ls "$T" | grep -c '^o\.txt')" 0 "-o: nothing left behind"
t_fails 1 "no column ids" "stream without ids" sh -c \
    "$PY -c \"import sys; sys.path.insert(0, 'formats'); import qkv, numpy
qkv.write_stream('$T/noids.qkv', [('foo', 'ragged', 'i32', ())], {'foo': [numpy.zeros(2, 'i4')]})\" &&
    $BIN/nsp -m $V $T/noids.qkv"

# the instances: [CLS] A [SEP] B [SEP] within -l, segments, labels, keys
"$BIN/nsp" -m $V -l 64 --dupe 2 "$T/kjv8.ids" >"$T/p64"
t_is "$(awk -F'\t' 'NF != 4 { print "fields " NR; exit }
    { n = split($1, id, " "); split($2, sg, " ")
      if (n > 64 || n < 5) { print "length " NR; exit }
      if (id[1] != 101 || id[n] != 102) { print "ends " NR; exit }
      a = 0; for (i = 1; i <= n; i++) a += sg[i] == 0
      if (id[a] != 102 || sg[a + 1] != 1 || sg[n] != 1) { print "seg " NR; exit }
      if ($3 != 0 && $3 != 1) { print "label " NR; exit } }' "$T/p64")" "" \
    "-l 64: every instance is [CLS] A [SEP] B [SEP] within 64, segments 0/1"
t_is "$(cut -f4 "$T/p64" | sort | uniq -d | wc -l)" 0 "keys are unique"
"$BIN/nsp" -m $V -l 64 "$T/kjv8.ids" >"$T/p64d1"
t_is "$(sort "$T/p64d1" | comm -23 - "$(sort "$T/p64" >"$T/sorted"; echo "$T/sorted")" | wc -l)" 0 \
    "--dupe 2 holds the --dupe 1 instances (pass 0 is keyed alike)"
t_ok "--dupe 2 repeats with other draws" sh -c \
    "[ \$(wc -l <$T/p64) -gt \$((\$(wc -l <$T/p64d1) * 3 / 2)) ] && ! cmp -s $T/p64 $T/p64d1"

# determinism: the same input and seed give the same bytes
"$BIN/nsp" -m $V -l 64 --dupe 2 "$T/kjv8.ids" >"$T/p64b"
t_ok "same seed, same output" cmp "$T/p64" "$T/p64b"
"$BIN/nsp" -m $V -l 64 --dupe 2 -s 1 "$T/kjv8.ids" >"$T/p64s"
t_ok "another seed, another output" sh -c "! cmp -s $T/p64 $T/p64s"
"$BIN/nsp" -m $V -l 64 --dupe 2 --epoch 1 "$T/kjv8.ids" >"$T/p64e"
t_ok "another epoch, another output" sh -c "! cmp -s $T/p64 $T/p64e"
"$BIN/nsp" -m $V -l 64 --dupe 2 <"$T/kjv8.ids" >"$T/p64i"
t_ok "stdin reads as a file" cmp "$T/p64" "$T/p64i"
"$BIN/nsp" -m $V -l 64 --dupe 2 -b "$T/kjv8.ids" >"$T/p64.qkv"
"$BIN/mask" -m $V "$T/p64.qkv" >"$T/m64b"
"$BIN/mask" -m $V "$T/p64" >"$T/m64t"
t_ok "-b: the same instances as a qkv stream" cmp "$T/m64b" "$T/m64t"

# a tok -b stream (ids and text columns) reads like id lines; a blank
# text ends a document, text without ids is skipped
"$PY" - "$T" "$D/kjv8.txt" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, qkv
t = sys.argv[1]
ids = [l.split() for l in open(t + "/kjv8.ids").read().split("\n")[:-1]]
txt = open(sys.argv[2]).read().split("\n")[:-1]
I, X = [], []
for k, (a, s) in enumerate(zip(ids, txt)):
    I.append(np.array([int(x) for x in a], "<i4"))
    X.append(s if s else " \u3000\t")
    if k == 3:
        I.append(np.zeros(0, "<i4")); X.append("\x01")
qkv.write_stream(t + "/kjv8.qkv", [("ids", "ragged", "i32", ()),
                                   ("text", "string", "str", ())],
                 {"ids": I, "text": X})
PY
"$BIN/nsp" -m $V -l 64 --dupe 2 "$T/kjv8.qkv" >"$T/p64q"
t_ok "tok -b stream input: same instances as id lines" cmp "$T/p64" "$T/p64q"

# corpus files: shards concatenate to the whole; mask keeps it so
"$PY" tests/pretrain/mkcorpus.py "$T/ntc.ids" "$T/ntc.qkv"
"$BIN/nsp" -m $V -r "$T/ntc.qkv" --dupe 2 | "$BIN/mask" -m $V >"$T/whole"
for i in 1 2 3 4; do
	"$BIN/nsp" -m $V -r "$T/ntc.qkv" --dupe 2 --shard $i/4 | "$BIN/mask" -m $V
done >"$T/parts"
t_ok "-r: 4 shards through nsp | mask concatenate to --shard 1/1" \
    cmp "$T/whole" "$T/parts"
t_is "$(wc -l <"$T/whole")" "$(wc -l <"$T/parts")" "... $(wc -l <"$T/whole") instances"
"$BIN/nsp" -m $V -r "$T/ntc.qkv" --dupe 2 -b --shard 1/1 | "$BIN/mask" -m $V >"$T/whole2"
t_ok "-r: --shard 1/1 is the default, and -b gives the same" cmp "$T/whole" "$T/whole2"
t_fails 1 "not a corpus file" "-r with a row stream" \
    "$BIN/nsp" -m $V -r "$T/kjv8.qkv"

# | head ends nsp quietly
"$BIN/nsp" -m $V --dupe 10 "$T/ntc.ids" 2>"$T/pipe.err" | head -1 >/dev/null
t_is "$(cat "$T/pipe.err")" "" "| head: no message"

# pool mode: peak memory bounded by the pool, not the corpus
for k in 1 2 3 4 5 6 7 8 9 10; do cat "$T/ntc.ids"; done >"$T/ntc10.ids"
rss() { /usr/bin/time -f %M "$BIN/nsp" -m $V --pool 50 "$1" 2>&1 >/dev/null | tail -1; }
r1=$(rss "$T/ntc.ids"); r10=$(rss "$T/ntc10.ids")
t_ok "pool mode: peak RSS ${r1} KB for the corpus, ${r10} KB for 10x" \
    [ "$r10" -le $((r1 + r1 / 10 + 1024)) ]
t_done
