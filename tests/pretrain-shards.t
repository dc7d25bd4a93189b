#!/bin/sh
# nsp -r | mask | pack --shards: four shards of the corpus give, after
# concatenation, the very arrays of one run; runs repeat byte for byte;
# shards load in Python as numpy arrays; bad input leaves no shard behind.
. "$(dirname "$0")/pretrain/tap.sh"
V=tests/data/vocab/bert-base-uncased
D=tests/data/pretrain
xz -dc $D/ntc.ids.xz >"$T/ntc.ids"

t_ok "pack --corpus from id lines" "$BIN/pack" --corpus -o "$T/c.qkv" "$T/ntc.ids"
run() {	# run NAME SHARD: the pipeline into shards NAME-*.qkv
	"$BIN/nsp" -m $V -r "$T/c.qkv" --dupe 2 --shard "$2" -b |
	    "$BIN/mask" -m $V -b | "$BIN/pack" --shards --shard-size 1000 \
	    -o "$T/$1"
}
run whole 1/1
for i in 1 2 3 4; do run part$i $i/4; done
run again 1/1
t_is "$(ls "$T" | grep -c '^whole-.*\.qkv$')" \
    "$(ls "$T" | grep -c '^again-.*\.qkv$')" "a re-run writes as many shards"
same=1
for f in "$T"/whole-*.qkv; do
	cmp -s "$f" "$T/again-${f##*/whole-}" || same=0
done
t_is $same 1 "a re-run with the same seed is byte-identical"

"$PY" - "$T" >"$T/py.out" 2>&1 <<'PY'
import glob, sys
sys.path.insert(0, "formats")
import numpy as np, qkv
t = sys.argv[1]
def ok(c, m):
    print("%s\t%s" % ("ok" if c else "not", m))
def load(pattern):
    arrays = {}
    for f in sorted(glob.glob(t + "/" + pattern)):
        kind, meta, d = qkv.read(f)
        for k, a in d.items():
            arrays.setdefault(k, []).append(a)
    return {k: np.concatenate(v) for k, v in arrays.items()}
whole = load("whole-*.qkv")
parts = {}
for i in range(1, 5):
    for k, a in load("part%d-*.qkv" % i).items():
        parts.setdefault(k, []).append(a)
parts = {k: np.concatenate(v) for k, v in parts.items()}
names = ["input_ids", "input_mask", "segment_ids", "masked_lm_positions",
         "masked_lm_ids", "masked_lm_weights", "next_sentence_labels"]
ok(list(whole) == names, "shards hold the seven features")
N = len(whole["input_ids"])
ok(all(whole[k].tobytes() == parts[k].tobytes() and
       whole[k].dtype == parts[k].dtype for k in names),
   "4 shards through nsp | mask | pack concatenate to the 1/1 run: "
   "%d instances, every array byte-identical" % N)
shapes = {k: whole[k].shape for k in names}
ok(shapes == {"input_ids": (N, 128), "input_mask": (N, 128),
              "segment_ids": (N, 128), "masked_lm_positions": (N, 20),
              "masked_lm_ids": (N, 20), "masked_lm_weights": (N, 20),
              "next_sentence_labels": (N, 1)}
   and all(whole[k].dtype == np.int64 for k in names
           if k != "masked_lm_weights")
   and whole["masked_lm_weights"].dtype == np.float32,
   "shapes [N,128] [N,20] [N,1], int64 and float32")
m = whole["input_mask"]
ok(np.array_equal(m, (np.arange(128) < m.sum(1)[:, None]).astype(np.int64))
   and (whole["input_ids"][m == 0] == 0).all()
   and (whole["segment_ids"][m == 0] == 0).all(),
   "input_mask marks the ids; padding is 0")
w = whole["masked_lm_weights"]
pos, ids = whole["masked_lm_positions"], whole["masked_lm_ids"]
ok(((w == 1) | (w == 0)).all() and (pos[w == 0] == 0).all()
   and (pos < m.sum(1)[:, None]).all(),
   "weights 1 for predictions, 0 for padding; positions in the sequence")
masked = np.take_along_axis(whole["input_ids"], pos, 1)
share = ((masked == 103) & (w == 1)).sum() / (w == 1).sum()
ok(0.78 < share < 0.82, "[MASK] at %.3f of the predictions" % share)
PY
grep -q '^ok	' "$T/py.out" || t_fail "the Python reader ran" "$(tail -3 "$T/py.out")"
while IFS='	' read -r res msg; do
	case $res in ok) t_pass "$msg" ;; not) t_fail "$msg" ;;
	*) t_fail "python: $res $msg" ;; esac
done <"$T/py.out"

# bad input: nothing left behind
"$BIN/nsp" -m $V -r "$T/c.qkv" -b | \
    "$BIN/pack" --shards -o "$T/nomask" 2>"$T/err"
t_is "$?:$(cat "$T/err")" "1:pack: <stdin>: row 1: no column masked_lm_positions (mask(1) adds it)" \
    "--shards without mask names the missing column"
"$BIN/nsp" -m $V -r "$T/c.qkv" -l 256 | "$BIN/mask" -m $V | \
    "$BIN/pack" --shards --shard-size 10 -l 128 -o "$T/long" 2>"$T/err"
t_is "$?:$(grep -Ec '^pack: <stdin>: row [0-9]+: [0-9]+ ids, longer than -l 128$' "$T/err")" \
    "1:1" "a sequence longer than -l is an error: $(cat "$T/err")"
t_is "$(ls "$T" | grep -c '^long-\|^nomask-')" 0 "a failed pack leaves no shard"

# token blocks for causal LM: documents and end-of-text cut into -l
"$BIN/pack" --blocks -l 64 --eot 0 --shard-size 500 -o "$T/blk" "$T/ntc.ids"
t_is "$("$PY" - "$T" <<'PY'
import glob, sys
sys.path.insert(0, "formats")
import numpy as np, qkv
t = sys.argv[1]
toks = []
for block in open(t + "/ntc.ids").read().split("\n\n"):
    ids = block.split()
    if ids:
        toks += [int(x) for x in ids] + [0]
want = np.array(toks[:len(toks) // 64 * 64]).reshape(-1, 64)
got = np.concatenate([qkv.read(f)[2]["input_ids"]
                      for f in sorted(glob.glob(t + "/blk-*.qkv"))])
print(got.shape == want.shape and np.array_equal(got, want))
PY
)" True "--blocks: documents joined by the end-of-text id, cut into blocks of 64"
t_done
