#!/usr/bin/python3
"""qkvdump.py COLUMN < stream - print one column of a qkv row stream, one
row per line, with the format's reference reader (formats/qkv.py): ragged
columns as space-separated numbers, string columns as their bytes."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'formats'))
import qkv  # noqa: E402

kind, meta, cols = qkv.read(sys.stdin.buffer.read())
out = sys.stdout.buffer
for row in cols[sys.argv[1]]:
    if isinstance(row, str):
        out.write(row.encode('utf-8', 'surrogateescape') + b'\n')
    else:
        out.write(' '.join(str(int(v)) for v in row).encode() + b'\n')
