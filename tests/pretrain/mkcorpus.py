"""mkcorpus.py IDS OUT: a corpus file (lib/ptio.c: tensors ids, sentences,
documents; metadata qkv-pretrain = "corpus 1") from id lines, written by the
independent Python writer in formats/qkv.py, for nsp -r."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../formats"))
import numpy as np  # noqa: E402
import qkv  # noqa: E402

ids, sent, docs, cur = [], [0], [0], 0
for line in open(sys.argv[1]):
    t = line.split()
    if t:
        ids.extend(int(x) for x in t)
        sent.append(len(ids))
        cur += 1
    elif cur:
        docs.append(docs[-1] + cur)
        cur = 0
if cur:
    docs.append(docs[-1] + cur)
qkv.write_tensors(sys.argv[2], {
    "ids": np.array(ids, dtype="<i4"),
    "sentences": np.array(sent, dtype="<i8"),
    "documents": np.array(docs, dtype="<i8"),
}, meta={"qkv-pretrain": b"corpus 1"})
