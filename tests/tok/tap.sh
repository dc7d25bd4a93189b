# tap.sh - TAP helpers for the tok tests (sourced; T is the test's
# scratch directory, made afresh).
#   ok MSG                   ok if the last command's status was 0
#   same FILE EXPECTED MSG   ok if the files are equal (an empty EXPECTED
#                            fails: something before went wrong); shows
#                            the first differences
#   done_testing             the plan, and the exit status
cd "$(dirname "$0")/.." || exit 1
BIN=${QKV_BIN:-$PWD/bin}
TOK=$BIN/tok
V=tests/data/vocab
G=tests/data/tok/golden
PY=${PYTHON:-/usr/bin/python3}
rm -rf "$T"
mkdir -p "$T"
n=0
fails=0

ok() {
	st=$?
	n=$((n + 1))
	if [ $st -eq 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		fails=$((fails + 1))
	fi
}

same() {
	if [ -s "$2" ] && cmp -s "$1" "$2"; then
		ok "$3"
	else
		false
		ok "$3"
		diff "$2" "$1" | head -6 | cut -c1-300 | sed 's/^/# /'
	fi
}

done_testing() {
	echo "1..$n"
	[ $fails -eq 0 ]
}
