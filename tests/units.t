#!/bin/sh
# Runs every C unit test binary (tests/bin/*) as a subtest-free TAP stream:
# each binary is one test here, passing when it exits 0; its own TAP lines
# are shown as comments so failures are readable.
cd "$(dirname "$0")/.." || exit 1
n=0; fail=0
for t in tests/bin/*; do
	[ -x "$t" ] || continue
	n=$((n + 1))
	if out=$("$t" 2>&1); then
		echo "ok $n - $t"
	else
		echo "not ok $n - $t"
		printf '%s\n' "$out" | sed 's/^/# /'
		fail=$((fail + 1))
	fi
done
echo "1..$n"
