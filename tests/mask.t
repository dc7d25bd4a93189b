#!/bin/sh
# mask: plain sequences and nsp instances, keys, epochs, formats, errors.
. "$(dirname "$0")/pretrain/tap.sh"
V=tests/data/vocab/bert-base-uncased
D=tests/data/pretrain
cp $D/kjv8.ids "$T/kjv8.ids"

"$BIN/mask" -Z 2>"$T/usage"
t_is "$?:$(grep -c '^usage: mask' "$T/usage")" "2:1" "bad option: usage, exit 2"
t_fails 2 '^mask: --prob: ' "--prob out of range" "$BIN/mask" -m $V --prob 2 /dev/null

# plain sequences ([CLS] ... [SEP] as tok -s writes them): fields 2-4 empty
awk 'NF { print "101 " $0 " 102" }' "$T/kjv8.ids" >"$T/plain"
"$BIN/mask" -m $V "$T/plain" >"$T/pm"
t_is "$(awk -F'\t' 'NF != 7 || $2 != "" || $3 != "" || $4 != "" { n++ } END { print n + 0 }' "$T/pm")" 0 \
    "plain sequences: 7 fields, 2-4 empty"
t_is "$(awk -F'\t' '{ n = split($5, p, " "); split($1, id, " "); split($6, o, " ")
    for (i = 1; i <= n; i++) if (o[i] == 101 || o[i] == 102) bad++ } END { print bad + 0 }' "$T/pm")" 0 \
    "[CLS] and [SEP] never masked"
t_is "$(awk -F'\t' '{ n = split($1, id, " "); k = split($5, p, " ")
    w = int(n * 0.15 + 0.5); if (w < 1) w = 1; if (w > 20) w = 20
    if (k > w) bad++ } END { print bad + 0 }' "$T/pm")" 0 \
    "at most min(20, round(0.15 n)) predictions"
# masked ids: [MASK] (103), the original, or another id; originals restore
t_is "$(awk -F'\t' '{ n = split($1, id, " "); k = split($5, p, " "); split($6, o, " ")
    for (i = 1; i <= k; i++) { id[p[i] + 1] = o[i] }
    s = id[1]; for (i = 2; i <= n; i++) s = s " " id[i]; print s }' "$T/pm" | cmp - "$T/plain" && echo same)" same \
    "putting the originals back gives the input"

# nsp instances: masking follows the key, not the line's place
"$BIN/nsp" -m $V --dupe 3 "$T/kjv8.ids" >"$T/pairs"
"$BIN/mask" -m $V "$T/pairs" >"$T/all"
tail -n 50 "$T/pairs" | "$BIN/mask" -m $V >"$T/tail"
t_ok "keyed: the last 50 masked alone = the last 50 of all" sh -c \
    "tail -n 50 $T/all | cmp - $T/tail"
t_is "$(awk -F'\t' 'NF != 7' "$T/all" | wc -l)" 0 \
    "nsp instances: 7 fields"
t_is "$(cut -f2-4 "$T/all" | md5sum)" "$(cut -f2-4 "$T/pairs" | md5sum)" \
    "segments, labels and keys pass through"
"$BIN/mask" -m $V --epoch 1 "$T/pairs" >"$T/e1"
t_ok "--epoch 1 masks otherwise" sh -c "! cmp -s $T/all $T/e1"
"$BIN/mask" -m $V "$T/pairs" >"$T/again"
t_ok "same seed and epoch, same bytes" cmp "$T/all" "$T/again"
"$BIN/mask" -m $V --wwm "$T/pairs" >"$T/wwm"
t_ok "--wwm masks otherwise" sh -c "! cmp -s $T/all $T/wwm"

# binary in and out
"$BIN/mask" -m $V -b "$T/pairs" >"$T/all.qkv"
t_is "$("$PY" - "$T/all.qkv" <<'PY'
import sys
sys.path.insert(0, "formats")
import qkv
k, m, d = qkv.read(sys.argv[1])
print(" ".join("%s:%s" % (c, type(d[c]).__name__) for c in d))
PY
)" "input_ids:list segment_ids:list next_sentence_labels:ndarray key:ndarray masked_lm_positions:list masked_lm_ids:list masked_lm_weights:list" \
    "-b: the columns of an instance stream"
"$BIN/nsp" -m $V --dupe 3 -b "$T/kjv8.ids" | "$BIN/mask" -m $V -b | \
    "$BIN/mask" -m $V -t 2>"$T/twice.err"
t_is "$(cat "$T/twice.err")" "mask: <stdin>: row 1 is masked already" "masking twice is refused"

# errors
printf '101 2023 102\t0 0\n' >"$T/two"
t_fails 1 "^mask: $T/two: line 1: 2 fields: an instance has 1 \(ids\), 4 \(nsp\) or 7 \(mask\)\$" \
    "2 fields" "$BIN/mask" -m $V "$T/two"
printf '101 2023 102\t0 0\t1\t5\n' >"$T/seg"
t_fails 1 "line 1: 2 segment ids for 3 ids" "segments of another length" \
    "$BIN/mask" -m $V "$T/seg"
printf '101 2023 102\t0 0 1\t1\tx\n' >"$T/key"
t_fails 1 "line 1: 'x' is not a key" "bad key" "$BIN/mask" -m $V "$T/key"
t_fails 1 "line 1: id 40000 is not in the vocabulary" "id out of range" \
    sh -c "echo 40000 | $BIN/mask -m $V -o $T/out.txt"
t_is "$(ls "$T" | grep -c '^out\.txt')" 0 "-o: nothing left behind"
t_fails 1 "no column masked_lm_ids" "stream with some MLM columns" sh -c \
    "$PY -c \"import sys; sys.path.insert(0, 'formats'); import qkv, numpy
qkv.write_stream('$T/half.qkv', [('ids', 'ragged', 'i32', ()), ('masked_lm_positions', 'ragged', 'i32', ())], {'ids': [numpy.zeros(2, 'i4')], 'masked_lm_positions': [numpy.zeros(1, 'i4')]})\" &&
    $BIN/mask -m $V $T/half.qkv"
# binary instances: ids (i32) and segment ids (u8 as nsp writes them, or
# i32) are range-checked as they are read
for bad in "input_ids:30522:0" "input_ids:-1:0" "segment_ids:0:-1" "ok:0:1"; do
	col=${bad%%:*} v=${bad#*:} id=${v%%:*} seg=${v#*:}
	$PY -c "import sys; sys.path.insert(0, 'formats'); import qkv, numpy as np
ids = [np.array([101] + [2023] * k + [102], 'i4') for k in range(1, 300)]
dt = 'i4' if $seg < 0 else 'u1'
segs = [np.zeros(len(x), dt) for x in ids]
ids[150][5], segs[150][7] = $id, $seg
qkv.write_stream('$T/bin.qkv', [('input_ids', 'ragged', 'i32', ()), ('segment_ids', 'ragged', 'i32' if dt == 'i4' else 'u8', ())],
    {'input_ids': ids, 'segment_ids': segs}, chunk=64)"
	if [ "$col" = ok ]; then
		"$BIN/mask" -m $V -t "$T/bin.qkv" >"$T/bin.out" 2>"$T/bin.err"
		t_is "$?:$(wc -l <"$T/bin.out")" "0:299" "a binary stream within range is read whole"
	else
		[ "$col" = input_ids ] && val=$id || val=$seg
		t_fails 1 "row 151: $col: $val is out of range" \
		    "binary $col $id/$seg refused" "$BIN/mask" -m $V "$T/bin.qkv"
	fi
done
t_done
