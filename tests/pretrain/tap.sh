# tap.sh - TAP helpers for the pretraining tests (sourced).
#   t_ok CMD...              ok if CMD succeeds
#   t_is GOT WANT MSG        ok if the strings are equal
#   t_fails CODE PATTERN MSG CMD...
#                            ok if CMD exits CODE and its stderr is one line
#                            matching PATTERN (grep -E)
#   t_done                   the plan
cd "$(dirname "$0")/.." || exit 1
BIN=${QKV_BIN:-$PWD/bin}
PY=${PYTHON:-/usr/bin/python3}
T_N=0
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
t_pass() { T_N=$((T_N + 1)); echo "ok $T_N - $1"; }
t_fail() { T_N=$((T_N + 1)); echo "not ok $T_N - $1"; shift;
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done; }
t_ok() {
	msg=$1; shift
	if "$@" >"$T/ok.out" 2>&1; then t_pass "$msg"
	else t_fail "$msg" "$(head -5 "$T/ok.out")"; fi
}
t_is() {
	if [ "$1" = "$2" ]; then t_pass "$3"
	else t_fail "$3" "got:  $(printf '%s' "$1" | head -c 300)" \
	    "want: $(printf '%s' "$2" | head -c 300)"; fi
}
t_fails() {
	code=$1 pat=$2 msg=$3; shift 3
	"$@" >"$T/fails.out" 2>"$T/fails.err"
	rc=$?
	if [ "$rc" -eq "$code" ] && [ "$(wc -l <"$T/fails.err")" -eq 1 ] &&
	    grep -Eq "$pat" "$T/fails.err"; then
		t_pass "$msg: $(cat "$T/fails.err")"
	else
		t_fail "$msg" "exit $rc (want $code)" "$(head -3 "$T/fails.err")"
	fi
}
t_done() { echo "1..$T_N"; }
