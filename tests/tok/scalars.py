#!/usr/bin/python3
"""scalars.py - one line per Unicode scalar value (U+0000..U+10FFFF less
the surrogates), each value c in contexts that show how a tokenizer
classes it: alone, inside a letter run, a digit run, a punctuation run,
and doubled after a space.  An LF (U+000A) splits its own line, as it
would in any file; the tokenizer tests and mkgolden.js read the same
bytes."""
import sys

out = sys.stdout.buffer
buf = []
for cp in range(0x110000):
    if 0xD800 <= cp < 0xE000:
        continue
    c = chr(cp)
    buf.append(('%s a%sb 1%s2 .%s. %s%s' % (c, c, c, c, c, c)).encode('utf-8'))
    if len(buf) == 4096:
        out.write(b'\n'.join(buf) + b'\n')
        buf = []
out.write(b'\n'.join(buf) + b'\n')
