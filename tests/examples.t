#!/bin/sh
# examples/ on a slice of the KJV: the Makefile builds shards that pack -t
# lists and the Python reader loads, is make -j safe (byte-identical to
# -j1), does nothing when re-run, and rebuilds only what a touched input
# feeds; mansearch.sh answers from an index of qkv's own man pages.
cd "$(dirname "$0")/.." || exit 1
# make as a user runs it, not as a sub-make of `make -j2 check` (whose
# jobserver it cannot reach) or of `make asan` (whose variables it would get)
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS
top=$(pwd)
bin=${QKV_BIN:-$top/bin}
py=${PYTHON:-python3}
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

books='Ruth Jonah 2_John'
mk() { d=$1; shift; make -s -C "$d" -f "$top/examples/Makefile" TOP="$top" \
    QKV="$bin" BOOKS="$books" "$@"; }
mkdir "$t/a" "$t/b"
mk "$t/a" -j4 >"$t/log" 2>&1; ok $? "make -j4 builds the slice"
mk "$t/b" -j1 >>"$t/log" 2>&1; ok $? "make -j1 builds the slice"
diff -r "$t/a" "$t/b" >/dev/null; ok $? "-j4 and -j1 outputs byte-identical"

for b in $books; do
	"$bin/pack" -t "$t/a/shards/$b-00000.qkv" >"$t/list" 2>&1
	grep -q '^input_ids	i64	[0-9]*x128	' "$t/list" &&
	    grep -q '^masked_lm_positions	i64	[0-9]*x20	' "$t/list"
	ok $? "pack -t lists $b's shard"
done
"$py" - "$t/a/shards" $books <<'PY' >"$t/py" 2>&1
import sys
sys.path.insert(0, "formats")
import qkv
d = sys.argv[1]
for b in sys.argv[2:]:
    kind, meta, a = qkv.read("%s/%s-00000.qkv" % (d, b))
    n = a["input_ids"].shape[0]
    assert n > 0, b
    assert a["input_ids"].shape == (n, 128) and a["input_mask"].shape == (n, 128)
    assert a["segment_ids"].shape == (n, 128)
    assert a["masked_lm_ids"].shape == (n, 20)
    assert a["masked_lm_weights"].shape == (n, 20)
    assert a["next_sentence_labels"].shape == (n, 1)
    assert (a["input_ids"][:, 0] == 101).all(), "every instance starts with [CLS]"
    assert set(a["next_sentence_labels"].ravel()) <= {0, 1}
print("loaded")
PY
r=$?; ok $r "the Python reader loads every shard with the reference's shapes"
[ $r = 0 ] || sed 's/^/# /' "$t/py"

out=$(mk "$t/a" 2>&1)
[ -z "$out" ] && mk "$t/a" -q; ok $? "a second make does nothing"

stamp() { find "$t/a/ids" "$t/a/shards" "$t/a/index" -type f -newer "$t/mark" | sort; }
sleep 1; touch "$t/mark"; sleep 1
touch "$t/a/txt/Jonah.txt"
mk "$t/a" >/dev/null 2>&1
got=$(stamp | sed "s|$t/a/||" | tr '\n' ' ')
[ "$got" = "ids/Jonah.ids index/Jonah.qkv shards/Jonah-00000.qkv " ]
ok $? "touching txt/Jonah.txt rebuilds only its outputs ($got)"

mk "$t/a" query Q='whither thou goest, I will go' >"$t/q" 2>&1
[ "$(wc -l <"$t/q")" -eq 5 ] &&
    awk -F'\t' 'NF != 5 || $1 != 1 || $2 != NR { exit 1 }' "$t/q"
r=$?; ok $r "make query prints the 5 nearest verses, TAB-separated"
[ $r = 0 ] || sed 's/^/# /' "$t/q" | head -20
cut -f5 "$t/q" | while read -r v; do grep -qxF "$v" "$t/a/txt/"*.txt || exit 1; done
ok $? "every verse it prints is a verse of the corpus"

QKV_CACHE=$t/cache QKV_BIN=$bin examples/mansearch.sh -k 3 -M man \
    tokenise text into ids >"$t/m" 2>"$t/merr"
[ $? = 0 ] && [ "$(wc -l <"$t/m")" -eq 3 ]; ok $? "mansearch.sh prints 3 answers"
cut -f2 "$t/m" | grep -q '^[a-z]* – ' ; ok $? "answers are NAME lines of man pages"
[ -n "$(ls "$t/cache"/mansearch-*.qkv)" ]; ok $? "the index is cached"
echo "1..$n"
