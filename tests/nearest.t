#!/bin/sh
# nearest against a numpy brute force on 100k vectors, ties included; bad
# input; streaming and | head.  The checks are in tests/nearest.py.
cd "$(dirname "$0")/.." || exit 1
exec "${PYTHON:-/usr/bin/python3}" tests/nearest.py
