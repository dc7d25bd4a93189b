#!/usr/bin/python3
"""Write the seeds of the qkvmodel fuzz target, tests/fuzz/seeds/qkvmodel/:
qkv model files as `pack -i` makes them, and of the hfdir target,
tests/fuzz/seeds/hfdir/: the same directories in hfdir.c's layout (one of
them with its weights in two shards and an index), of micro models cut from the tiny
test checkpoints (tests/data/golden): every tensor sliced to a few rows, one
layer, the configs and tokenizer files kept (the BERT vocabulary cut to its
first 64 tokens), so the fuzzer mutates structure, not megabytes of weights.

Run from the repository root after `make`:
    /usr/bin/python3 tests/fuzz/mkseeds_model.py [PACK]
PACK is the pack program (default bin/pack)."""
import json, os, re, shutil, struct, subprocess, sys, tempfile
import numpy as np

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
golden = os.path.join(top, "tests", "data", "golden")
out = os.path.join(top, "tests", "fuzz", "seeds", "qkvmodel")
pack = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "bin", "pack")

ST_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8"}


def st_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    res = {}
    for name, v in hdr.items():
        if name == "__metadata__":
            continue
        a, b = v["data_offsets"]
        res[name] = (v["dtype"], np.frombuffer(data[a:b], ST_DTYPES[v["dtype"]])
                     .reshape(v["shape"]))
    return res


def st_write(path, tensors):
    hdr, blob = {}, b""
    for name, (dt, arr) in sorted(tensors.items()):
        raw = np.ascontiguousarray(arr).tobytes()
        hdr[name] = {"dtype": dt, "shape": list(arr.shape),
                     "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)


def micro(src, dst, cut, cfg_set, vocab_keep=None):
    """Copy model directory src to dst with tensors sliced: a dimension of
    size s becomes cut[s] (sizes not in cut stay); layers above 0 dropped."""
    os.makedirs(dst)
    t = {}
    for name, (dt, a) in st_read(os.path.join(src, "model.safetensors")).items():
        m = re.search(r"\.(?:layer|h)\.(\d+)\.", name)
        if m and m.group(1) != "0":
            continue
        sl = []
        for d, s in enumerate(a.shape):
            n = cut.get(s, s)
            if vocab_keep and s == 1000:
                n = vocab_keep
            sl.append(slice(0, n))
        t[name] = (dt, a[tuple(sl)])
    st_write(os.path.join(dst, "model.safetensors"), t)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg.update(cfg_set)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    for root, dirs, files in os.walk(src):
        if "ref" in dirs:
            dirs.remove("ref")
        for fn in files:
            rel = os.path.relpath(os.path.join(root, fn), src)
            if rel in ("model.safetensors", "config.json"):
                continue
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copy(os.path.join(root, fn), os.path.join(dst, rel))
    if vocab_keep:
        cut_bert_vocab(dst, vocab_keep)


def cut_bert_vocab(d, n):
    p = os.path.join(d, "vocab.txt")
    with open(p) as f:
        lines = f.read().split("\n")[:n]
    with open(p, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = os.path.join(d, "tokenizer.json")
    if os.path.exists(p):
        with open(p) as f:
            tj = json.load(f)
        tj["model"]["vocab"] = {k: v for k, v in tj["model"]["vocab"].items() if v < n}
        tj["added_tokens"] = [a for a in tj["added_tokens"] if a["id"] < n]
        with open(p, "w") as f:
            json.dump(tj, f, separators=(",", ":"))
    p = os.path.join(d, "1_Pooling", "config.json")
    if os.path.exists(p):
        with open(p) as f:
            pc = json.load(f)
        pc["word_embedding_dimension"] = 8
        with open(p, "w") as f:
            json.dump(pc, f, indent=1)


bert_cut = {64: 8, 256: 16, 128: 8}
bert_cfg = {"hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16,
            "max_position_embeddings": 8, "num_hidden_layers": 1, "vocab_size": 64}
gpt2_cut = {64: 8, 192: 24, 256: 16}
gpt2_cfg = {"n_embd": 8, "n_head": 2, "n_inner": 16, "n_positions": 16, "n_ctx": 16,
            "n_layer": 1}
models = [
    ("bert", "bert-tiny", bert_cut, bert_cfg, 64, "f32"),
    ("bert-bf16", "bert-tiny-legacy-bf16", bert_cut, bert_cfg, 64, None),
    ("bert-st", "bert-tiny-st", bert_cut, bert_cfg, 64, "f16"),
    ("gpt2", "gpt2-tiny", gpt2_cut, gpt2_cfg, None, "f16"),
    ("gpt2-f16", "gpt2-tiny-legacy-f16", gpt2_cut, gpt2_cfg, None, None),
]
HF_SEP = b"\nQKVFILE"
HF_NAMES = ["config.json", "model.safetensors", "model.safetensors.index.json",
            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
            "vocab.txt", "vocab.json", "merges.txt", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json",
            "sentence_bert_config.json", "modules.json", "1_Pooling/config.json"]


def hfdir_seed(d, path, shard=False):
    """The directory d as one hfdir.c input; shard: weights split in two."""
    if shard:
        t = st_read(os.path.join(d, "model.safetensors"))
        names = sorted(t)
        half = {n: i * 2 // len(names) for i, n in enumerate(names)}
        for k in (0, 1):
            st_write(os.path.join(d, HF_NAMES[3 + k]),
                     {n: t[n] for n in names if half[n] == k})
        with open(os.path.join(d, HF_NAMES[2]), "w") as f:
            json.dump({"metadata": {}, "weight_map":
                       {n: HF_NAMES[3 + half[n]] for n in names}}, f)
        os.remove(os.path.join(d, "model.safetensors"))
    parts = []
    for i, n in enumerate(HF_NAMES):
        p = os.path.join(d, n)
        if os.path.exists(p):
            with open(p, "rb") as f:
                parts.append(bytes([i]) + f.read())
    with open(path, "wb") as f:
        f.write(HF_SEP.join(parts))


hfout = os.path.join(top, "tests", "fuzz", "seeds", "hfdir")
os.makedirs(out, exist_ok=True)
os.makedirs(hfout, exist_ok=True)
tmp = tempfile.mkdtemp()
try:
    for name, src, cut, cfg, vk, dtype in models:
        d = os.path.join(tmp, name)
        micro(os.path.join(golden, src), d, cut, cfg, vk)
        cmd = [pack, "-q", "-i", d, "-o", os.path.join(out, name + ".qkv")]
        if dtype:
            cmd += ["--dtype", dtype]
        subprocess.run(cmd, check=True)
        hfdir_seed(d, os.path.join(hfout, name))
        if name == "bert":
            hfdir_seed(d, os.path.join(hfout, name + "-sharded"), shard=True)
finally:
    shutil.rmtree(tmp)
