#!/bin/sh
# Every man page is mandoc -Tlint clean (warnings included) and renders.
cd "$(dirname "$0")/.." || exit 1
n=0
for m in man/*.[157]; do
	[ -e "$m" ] || continue
	n=$((n + 1))
	out=$(mandoc -Tlint -Wwarning "$m" 2>&1)
	if [ -z "$out" ] && mandoc -Tascii "$m" >/dev/null 2>&1; then
		echo "ok $n - $m lint clean"
	else
		echo "not ok $n - $m"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done
echo "1..$n"
