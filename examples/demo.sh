#!/bin/sh
# demo.sh - what `make demo` runs: qkv on what the repository ships.
#  1. tok with the real bert-base-uncased and gpt2 vocabularies;
#  2. tok | embed | nearest: semantic search over the NAME lines of qkv's
#     own man pages, with the tiny random-weight test model (it runs the
#     whole pipeline, but its answers mean nothing: use a real model, see
#     README.md);
#  3. tok | sample | tok -d with the tiny random-weight GPT-2 (gibberish).
set -eu
cd "$(dirname "$0")/.."
bin=${QKV_BIN:-bin}
V=tests/data/vocab
G=tests/data/golden
say() { printf '\n== %s\n' "$*"; }

say "tok: WordPiece, the real bert-base-uncased vocabulary"
echo "Unix filters for BERT and GPT-2." | "$bin/tok" -s -m $V/bert-base-uncased
say "tok: byte-level BPE, the real gpt2 vocabulary, and back"
echo "Unix filters for BERT and GPT-2." | "$bin/tok" -m $V/gpt2
echo "Unix filters for BERT and GPT-2." | "$bin/tok" -m $V/gpt2 | "$bin/tok" -d -m $V/gpt2

say "tok | embed | nearest (tiny random model: answers mean nothing)"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# each page's one-line description, from its mdoc .Nm and .Nd lines
for m in man/*.[157]; do
	awk '/^\.Nm / && !n { n = $2 } /^\.Nd / { sub(/^\.Nd /, ""); print n " - " $0; exit }' "$m"
done | "$bin/tok" -q -s -b -m $G/bert-tiny-st | "$bin/embed" -q -m $G/bert-tiny-st -o "$t/index.qkv"
echo "split text into tokens" | "$bin/tok" -s -b -m $G/bert-tiny-st |
    "$bin/embed" -m $G/bert-tiny-st | "$bin/nearest" -k 3 "$t/index.qkv"

say "tok | sample | tok -d (tiny random GPT-2: gibberish, but seeded)"
echo "The quick brown fox" | "$bin/tok" -m $G/gpt2-tiny |
    "$bin/sample" -m $G/gpt2-tiny -n 12 -s 1 --echo | "$bin/tok" -d -m $G/gpt2-tiny
