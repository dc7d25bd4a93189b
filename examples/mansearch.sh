#!/bin/sh
# mansearch.sh - semantic search over man pages with tok | embed | nearest.
#
#   examples/mansearch.sh [-k N] [-M DIR]... [-m MODEL] QUERY...
#
# The first run builds an index of every page's NAME line (its one-line
# description) under each DIR (default: /usr/share/man) and keeps it in
# $QKV_CACHE (default: ~/.cache/qkv); later runs only embed the query.
# MODEL (or $QKV_MODEL) is a sentence-embedding model directory or
# `pack -i` file; by default the tiny random-weight test model that ships
# with qkv, which runs but finds nothing meaningful.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${QKV_BIN:-$here/../bin}
model=${QKV_MODEL:-$here/../tests/data/golden/bert-tiny-st}
k=10
dirs=
usage() {
	echo "usage: mansearch.sh [-k N] [-M DIR]... [-m MODEL] QUERY..." >&2
	exit 2
}
while getopts k:M:m:h opt; do
	case $opt in
	k) k=$OPTARG ;;
	M) dirs="$dirs $OPTARG" ;;
	m) model=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || usage
[ -n "$dirs" ] || dirs=/usr/share/man
cache=${QKV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qkv}
mkdir -p "$cache"
# one index per model and set of directories
key=$(printf '%s\n' "$model" $dirs | cksum | cut -d' ' -f1)
index=$cache/mansearch-$key.qkv

# "name(section) - description" for one page, from its NAME section
describe() {
	mandoc -T utf8 -O width=1000 "$1" 2>/dev/null | col -b |
	    awk 'f && NF { sub(/^ +/, ""); print; exit } /^NAME/ { f = 1 }'
}

if [ ! -s "$index" ]; then
	echo "mansearch: indexing$dirs (once)" >&2
	find $dirs -type f \( -name '*.[1-9]*' \) 2>/dev/null | sort |
	while read -r f; do
		d=$(describe "$f")
		[ -n "$d" ] && printf '%s\n' "$d"
	done | "$bin/tok" -q -s -b -m "$model" |
	    "$bin/embed" -q -m "$model" -o "$index"
fi
printf '%s\n' "$*" | "$bin/tok" -s -b -m "$model" |
    "$bin/embed" -q -m "$model" | "$bin/nearest" -k "$k" "$index" | cut -f3,5
