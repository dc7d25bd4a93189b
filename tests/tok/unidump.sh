#!/bin/sh
# Build tests/tok/unidump against the library (after `make`).
set -e
cd "$(dirname "$0")/../.."
mkdir -p build
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Ilib -o build/unidump tests/tok/unidump.c \
    lib/libqkv.a -lutf8proc -ljansson -lz -lm -lpthread
