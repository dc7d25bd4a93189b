#!/bin/sh
# kjv.sh - the King James Bible as a pretraining corpus: one verse per line,
# an empty line after each book (a document), in canonical order.
#
#   tools/kjv.sh [-c] [BOOK...]
#
# BOOK is a name as the bible(1) program prints it ("Genesis", "1 John");
# with no BOOK, all 66 books.  -c makes each chapter a document instead.
# Needs Debian's bible-kjv (the reader) and bible-kjv-text (the text).
set -eu
bychapter=0
if [ "${1:-}" = "-c" ]; then bychapter=1; shift; fi
command -v bible >/dev/null 2>&1 ||
	{ echo "kjv.sh: bible(1) not found: apt-get install bible-kjv" >&2; exit 1; }
# bible(1) prints "Book N" before each chapter and "  V text" per verse.
wanted=$(printf '%s|' "$@" | sed 's/|$//')
bible -l100000 'gen1:1-rev22:21' | awk -v bychapter="$bychapter" -v wanted="$wanted" '
/^  [0-9]+ / {
	if (!keep) next
	sub(/^  [0-9]+ /, "")
	print
	printed = 1
	next
}
NF {
	book = $0
	sub(/ [0-9]+$/, "", book)
	if (printed && (book != cur || bychapter)) print ""
	printed = 0
	cur = book
	keep = (wanted == "") || index("|" wanted "|", "|" book "|") > 0
}
END { if (printed) print "" }
'
