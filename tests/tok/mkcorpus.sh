#!/bin/sh
# mkcorpus.sh - build the tokenizer test corpora in tests/data/tok/ from
# text found on a Debian machine (man pages in several languages, license
# and documentation prose, C headers and Python code) plus the hand-made
# hard set (mkhard.py).  Run once; the outputs are committed (xz), and
# mkgolden.js then makes the reference ids.  Selection is by sorted file
# name up to a size budget, so a rerun on another machine may pick other
# files: the committed corpora, not this script, are what tests use.
set -eu
cd "$(dirname "$0")/../.."
out=tests/data/tok
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# take FILES from stdin (one per line) until BUDGET bytes of CMD output
take() {
	budget=$1; shift
	: >"$tmp/take"
	while IFS= read -r f; do
		[ "$(wc -c <"$tmp/take")" -ge "$budget" ] && break
		"$@" "$f" >>"$tmp/take" 2>/dev/null || true
	done
	head -c "$budget" "$tmp/take" | sed '$d'
}
render() {
	# man page as a reader sees it: no overstrike, no trailing blanks
	mandoc -Tutf8 "$1" | perl -CSD -pe 's/.\x08//g; s/[ \t]+$//'
}

ls /usr/share/man/man1/*.1.gz /usr/share/man/man8/*.8.gz | sort |
	take 2000000 render >"$tmp/man-en.txt"
for l in de fr es it pt_BR pl ru uk ja ko zh_CN zh_TW tr cs sv nl; do
	[ -d /usr/share/man/$l ] || continue
	find /usr/share/man/$l -type f -name '*.gz' | sort | take 160000 render
done >"$tmp/man-intl.txt"
{ cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 \
    /usr/share/common-licenses/GFDL-1.3 /usr/share/common-licenses/MPL-2.0
  ls /usr/share/vim/vim*/doc/usr_*.txt | sort | take 700000 cat
} >"$tmp/prose.txt"
{ find /usr/include -maxdepth 1 -name '*.h' | sort | take 500000 cat
  find /usr/lib/python3*/ -maxdepth 1 -name '*.py' | sort | take 500000 cat
} >"$tmp/code.txt"
/usr/bin/python3 tests/tok/mkhard.py >"$tmp/hard.txt"
for c in man-en man-intl prose code hard; do
	xz -9e -T1 <"$tmp/$c.txt" >"$out/$c.txt.xz"
	printf '%-10s %8d bytes, %6d lines -> %7d\n' "$c" \
	    "$(wc -c <"$tmp/$c.txt")" "$(wc -l <"$tmp/$c.txt")" \
	    "$(wc -c <"$out/$c.txt.xz")"
done
