#!/bin/sh
# Install the Debian packages qkv needs to build and test, when missing.
# Build and run time: utf8proc, zlib, OpenBLAS (pthread), jansson.
# Tests only: numpy and torch (Debian's) as the reference, mandoc for the
# man pages, clang for fuzzing and sanitizers, bible-kjv (reader and text)
# as a corpus, xz for compressed golden data, GNU time for peak memory.
set -e
pkgs="build-essential libutf8proc-dev zlib1g-dev libopenblas-dev
libopenblas0-pthread libjansson-dev pkg-config"
[ "${1:-}" = "--test" ] && pkgs="$pkgs python3 python3-numpy python3-torch
mandoc clang libclang-rt-14-dev llvm perl bible-kjv bible-kjv-text valgrind
xz-utils time"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends $missing
