#!/usr/bin/python3
"""Write seed inputs made from the test data (tests/data) for the fuzz
targets that read text, configs, vocabularies and vectors: ids, knnindex,
knnvec, bertcfg, gpt2cfg, tok_encode and tok_load.  Seeds written here are
named data-*; other seeds in those directories were kept from earlier runs.
The qkv model files for qkvmodel come from mkseeds_model.py, the other
binary formats from mkseeds.py and mkseeds_qkvfile.py.

Run from the repository root: /usr/bin/python3 tests/fuzz/mkseeds_data.py"""
import glob, json, lzma, os, sys
import numpy as np

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
data = os.path.join(top, "tests", "data")
seeds = os.path.join(top, "tests", "fuzz", "seeds")
sys.path.insert(0, os.path.join(top, "formats"))
import qkv


def put(target, name, b):
    d = os.path.join(seeds, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "data-" + name), "wb") as f:
        f.write(b)


def read(*p):
    with open(os.path.join(data, *p), "rb") as f:
        return f.read()


golden = os.path.join(data, "golden")
models = sorted(os.path.basename(p) for p in glob.glob(os.path.join(golden, "*-tiny*")))

# ids: a flag byte (line limit, vocabulary size), then id lines as the
# programs read them: reference inputs, a pretraining corpus, odd spacing
for i, m in enumerate(models):
    for case in ("batch", "pair"):
        p = os.path.join(golden, m, "ref", case, "ids.txt")
        if os.path.exists(p):
            with open(p, "rb") as f:
                put("ids", "%s-%s" % (m, case), bytes([i % 6]) + f.read())
put("ids", "edge", b"\x02" + read("pretrain", "edge.ids")[:4000])
put("ids", "spacing", b"\x81" + b"101 \t2023\r\n\n  7592\x0b999 102\n0001 2147483647\n-1\n12x\n4294967296")
put("ids", "gpt2", b"\x04" + b"15496 11 995 0\n50256 50256\n198 220 220\n")

# configs as Hugging Face writes them
for m in models:
    cfg = read("golden", m, "config.json")
    put("bertcfg" if m.startswith("bert") else "gpt2cfg", m + ".json", cfg)

# knnvec: a dimension byte then a text vector, from reference embeddings
emb = np.load(os.path.join(golden, "bert-tiny-st", "ref", "batch", "mean_pooled.npy"))
for i, dim in enumerate((4, 16)):
    v = emb[i, :dim]
    put("knnvec", "emb%d" % dim, bytes([dim - 1]) + " ".join("%.9g" % x for x in v).encode())
put("knnvec", "odd", bytes([2]) + b"-0 1e-45\t3.4028235e38\r")

# knnindex: an option byte then an index: vector streams with and without
# text (raw, zlib, shuffled), a tensor file, a .npy; reference embeddings
# cut to 8 dimensions
tmp = os.path.join(seeds, "knnindex", ".tmp")
os.makedirs(tmp, exist_ok=True)
sent = read("golden", "bert-tiny-st", "ref", "batch", "sentences.txt").decode().splitlines()
vec = emb[:, :8].astype("<f4")
n = len(vec)
idx = []
for codec in (0, 1, 2):
    p = os.path.join(tmp, "s%d" % codec)
    qkv.write_stream(p, [("vec", "fixed", "f32", (8,)), ("text", "string", "str", ())],
                     {"vec": vec, "text": sent[:n]}, {}, chunk=2, codec=codec)
    idx.append(("stream%d" % codec, p))
p = os.path.join(tmp, "h")
qkv.write_stream(p, [("vec", "fixed", "f16", (8,))], {"vec": vec.astype("<f2")}, {}, codec=2)
idx.append(("stream-f16", p))
p = os.path.join(tmp, "t")
qkv.write_tensors(p, {"emb": vec})
idx.append(("tensors", p))
for name, p in idx:
    with open(p, "rb") as f:
        put("knnindex", name, bytes([len(name) % 15]) + f.read())
    os.unlink(p)
import io
b = io.BytesIO()
np.save(b, vec)
put("knnindex", "npy", b"\x07" + b.getvalue())
os.rmdir(tmp)

# tok_encode: a flag byte then a line of the hand-made hard set
hard = lzma.decompress(read("tok", "hard.txt.xz")).split(b"\n")
step = max(1, len(hard) // 24)
for i in range(0, len(hard), step):
    put("tok_encode", "hard%03d" % i, bytes([i % 256]) + hard[i][:512])

# tok_load: a layout byte then files separated by NUL (tok_load.c), the
# tiny vocabularies
for i, (layout, files) in enumerate([
        (0, [("bert-tiny", "vocab.txt"), ("bert-tiny", "tokenizer_config.json")]),
        (1, [("gpt2-tiny", "vocab.json"), ("gpt2-tiny", "merges.txt"),
             ("gpt2-tiny", "tokenizer_config.json")]),
        (2, [("bert-tiny", "tokenizer.json"), ("bert-tiny", "tokenizer_config.json")]),
        (3, [("gpt2-tiny", "tokenizer.json")])]):
    put("tok_load", "tiny%d" % i,
        bytes([layout]) + b"\0".join(read("vocab", d, f) for d, f in files))
