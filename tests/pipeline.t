#!/bin/sh
# tok | embed | nearest end to end, against a numpy brute force over the
# index's own vectors.  The checks are in tests/pipeline.py.
cd "$(dirname "$0")/.." || exit 1
exec "${PYTHON:-/usr/bin/python3}" tests/pipeline.py
