#!/bin/sh
# Valgrind memcheck over one whole pipeline on the tiny golden BERT:
# text | tok -b | embed | nearest (the index made by embed too), every
# program under memcheck: no memory error and no definite leak in any of
# them, and the pipeline's answer is the one the plain run gives.
# Under `make asan` the programs carry ASan, which valgrind cannot run:
# the plain `make check` (and so `make ci`) runs this test.
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
BIN=${QKV_BIN:-$top/bin}
if [ -n "${QKV_ASAN:-}" ]; then
	echo "1..0 # SKIP the programs are built with ASan; make check runs this"
	exit 0
fi
command -v valgrind >/dev/null || { echo "Bail out! valgrind not installed (tools/deps.sh --test)"; exit 1; }
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
M=$top/tests/data/golden/bert-tiny
n=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# errors (and definite leaks) make the program exit 99
vg() {
	log=$1
	shift
	valgrind -q --tool=memcheck --error-exitcode=99 --leak-check=full \
	    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
	    --log-file="$t/$log.vg" "$@"
}

xz -dc tests/data/tok/prose.txt.xz | grep -v '^ *$' | head -n 40 >"$t/text"
head -n 3 "$t/text" >"$t/queries"
export OPENBLAS_NUM_THREADS=1
"$BIN/tok" -q -b -s -l 32 -m "$M" "$t/text" | "$BIN/embed" -q -m "$M" \
    >"$t/index.qkv" || { echo "Bail out! could not make the index"; exit 1; }
"$BIN/tok" -q -b -s -l 32 -m "$M" "$t/queries" | "$BIN/embed" -q -m "$M" |
    "$BIN/nearest" -k 3 "$t/index.qkv" >"$t/plain" ||
    { echo "Bail out! the plain pipeline failed"; exit 1; }

vg tok "$BIN/tok" -q -b -s -l 32 -m "$M" "$t/queries" >"$t/ids.qkv"
ok $? "tok -b under memcheck: no errors, no definite leaks"
vg embed "$BIN/embed" -q -m "$M" "$t/ids.qkv" >"$t/vec.qkv"
ok $? "embed under memcheck: no errors, no definite leaks"
vg nearest "$BIN/nearest" -k 3 "$t/index.qkv" <"$t/vec.qkv" >"$t/vg"
ok $? "nearest under memcheck: no errors, no definite leaks"
[ -s "$t/plain" ] && cmp -s "$t/plain" "$t/vg"
ok $? "the pipeline under memcheck answers as without it"
# and as a pipeline: all three at once, reading from pipes
vg tok2 "$BIN/tok" -q -b -s -l 32 -m "$M" "$t/queries" |
    vg embed2 "$BIN/embed" -q -m "$M" |
    vg nearest2 "$BIN/nearest" -k 3 "$t/index.qkv" >"$t/vg2"
ok $? "tok -b | embed | nearest, each under memcheck: the last clean"
! grep -l . "$t"/*.vg >"$t/dirty"
r=$?
ok $r "no memcheck report from any of the six runs"
[ $r = 0 ] || for f in $(cat "$t/dirty"); do sed 's/^/# /' "$f" | head -20; done
cmp -s "$t/plain" "$t/vg2"
ok $? "the piped run under memcheck answers as without it"
echo "1..$n"
