#!/usr/bin/python3
"""gguf.py - write a GPT-2 Hugging Face checkpoint as a GGUF file for
llama.cpp, so bench/sample.sh can run llama.cpp on the very weights that
sample runs on (llama.cpp's own converter needs the transformers package).

    gguf.py MODEL_DIR VOCAB_DIR OUT.gguf

MODEL_DIR holds config.json and model.safetensors (F32, F16 or BF16; names
with or without "transformer."); VOCAB_DIR holds vocab.json and merges.txt.
Matrices keep their dtype; vectors are written as F32, as llama.cpp wants.
"""
import json
import os
import struct
import sys

import numpy as np

GGUF_ALIGN = 32
T_U32, T_I32, T_F32, T_STR, T_ARR = 4, 5, 6, 8, 9
GG_F32, GG_F16, GG_BF16 = 0, 1, 30
FILE_TYPE = {GG_F32: 0, GG_F16: 1, GG_BF16: 32}


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == '__metadata__':
                continue
            b, e = info['data_offsets']
            f.seek(base + b)
            np_dt = {'F32': '<f4', 'F16': '<f2', 'BF16': '<u2'}.get(info['dtype'])
            if np_dt is None:
                continue
            a = np.frombuffer(f.read(e - b), np_dt).reshape(info['shape'])
            out[name] = (info['dtype'], a)
    return out


def gstr(s):
    b = s.encode('utf-8')
    return struct.pack('<Q', len(b)) + b


def kv(key, typ, val):
    out = gstr(key) + struct.pack('<I', typ)
    if typ == T_U32:
        return out + struct.pack('<I', val)
    if typ == T_F32:
        return out + struct.pack('<f', val)
    if typ == T_STR:
        return out + gstr(val)
    etype, items = val
    out += struct.pack('<IQ', etype, len(items))
    if etype == T_STR:
        return out + b''.join(gstr(x) for x in items)
    return out + np.asarray(items, '<i4').tobytes()


def main(mdir, vdir, out):
    cfg = json.load(open(os.path.join(mdir, 'config.json')))
    raw = read_safetensors(os.path.join(mdir, 'model.safetensors'))
    t = {}
    for k, v in raw.items():
        k = k[len('transformer.'):] if k.startswith('transformer.') else k
        if not k.endswith(('.attn.bias', '.attn.masked_bias')):
            t[k] = v
    C, L = cfg['n_embd'], cfg['n_layer']
    I = cfg.get('n_inner') or 4 * C

    def vec(name):
        dt, a = t[name]
        if dt == 'BF16':
            a = (a.astype('<u4') << 16).view('<f4')
        return GG_F32, np.ascontiguousarray(a, '<f4')

    def mat(name, transpose):
        dt, a = t[name]
        if transpose:  # Conv1D [in, out] -> llama.cpp's [out][in] rows
            a = a.T
        g = {'F32': GG_F32, 'F16': GG_F16, 'BF16': GG_BF16}[dt]
        return g, np.ascontiguousarray(a)

    tensors = [('token_embd.weight',) + mat('wte.weight', False),
               ('position_embd.weight',) + mat('wpe.weight', False),
               ('output_norm.weight',) + vec('ln_f.weight'),
               ('output_norm.bias',) + vec('ln_f.bias'),
               ('output.weight',) + mat('lm_head.weight' if 'lm_head.weight'
                                        in t else 'wte.weight', False)]
    for l in range(L):
        h, b = 'h.%d.' % l, 'blk.%d.' % l
        tensors += [
            (b + 'attn_norm.weight',) + vec(h + 'ln_1.weight'),
            (b + 'attn_norm.bias',) + vec(h + 'ln_1.bias'),
            (b + 'attn_qkv.weight',) + mat(h + 'attn.c_attn.weight', True),
            (b + 'attn_qkv.bias',) + vec(h + 'attn.c_attn.bias'),
            (b + 'attn_output.weight',) + mat(h + 'attn.c_proj.weight', True),
            (b + 'attn_output.bias',) + vec(h + 'attn.c_proj.bias'),
            (b + 'ffn_norm.weight',) + vec(h + 'ln_2.weight'),
            (b + 'ffn_norm.bias',) + vec(h + 'ln_2.bias'),
            (b + 'ffn_up.weight',) + mat(h + 'mlp.c_fc.weight', True),
            (b + 'ffn_up.bias',) + vec(h + 'mlp.c_fc.bias'),
            (b + 'ffn_down.weight',) + mat(h + 'mlp.c_proj.weight', True),
            (b + 'ffn_down.bias',) + vec(h + 'mlp.c_proj.bias')]

    vocab = json.load(open(os.path.join(vdir, 'vocab.json'), encoding='utf-8'))
    tokens = [None] * len(vocab)
    for s, i in vocab.items():
        tokens[i] = s
    tokens += ['[PAD%d]' % i for i in range(cfg['vocab_size'] - len(tokens))]
    merges = [l.rstrip('\n') for l in open(os.path.join(vdir, 'merges.txt'),
                                           encoding='utf-8')
              if l.strip() and not l.startswith('#version')]
    eos = cfg.get('eos_token_id', 50256)
    types = [3 if i == eos else 1 for i in range(len(tokens))]
    ftype = FILE_TYPE[dict((n, g) for n, g, _ in tensors)['blk.0.attn_qkv.weight']]
    kvs = [kv('general.architecture', T_STR, 'gpt2'),
           kv('general.name', T_STR, 'gpt2-bench'),
           kv('general.file_type', T_U32, ftype),
           kv('general.alignment', T_U32, GGUF_ALIGN),
           kv('gpt2.context_length', T_U32, cfg['n_positions']),
           kv('gpt2.embedding_length', T_U32, C),
           kv('gpt2.feed_forward_length', T_U32, I),
           kv('gpt2.block_count', T_U32, L),
           kv('gpt2.attention.head_count', T_U32, cfg['n_head']),
           kv('gpt2.attention.layer_norm_epsilon', T_F32,
              cfg.get('layer_norm_epsilon', 1e-5)),
           kv('tokenizer.ggml.model', T_STR, 'gpt2'),
           kv('tokenizer.ggml.pre', T_STR, 'gpt-2'),
           kv('tokenizer.ggml.tokens', T_ARR, (T_STR, tokens)),
           kv('tokenizer.ggml.token_type', T_ARR, (T_I32, types)),
           kv('tokenizer.ggml.merges', T_ARR, (T_STR, merges)),
           kv('tokenizer.ggml.bos_token_id', T_U32, eos),
           kv('tokenizer.ggml.eos_token_id', T_U32, eos)]

    infos, off = [], 0
    for name, g, a in tensors:
        dims = list(reversed(a.shape))  # ne0 is the innermost dimension
        infos.append(gstr(name) + struct.pack('<I', len(dims)) +
                     b''.join(struct.pack('<Q', d) for d in dims) +
                     struct.pack('<IQ', g, off))
        off += a.nbytes + (-a.nbytes % GGUF_ALIGN)
    head = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs))
    head += b''.join(kvs) + b''.join(infos)
    head += b'\0' * (-len(head) % GGUF_ALIGN)
    with open(out + '.tmp', 'wb') as f:
        f.write(head)
        for _, _, a in tensors:
            f.write(a.tobytes())
            f.write(b'\0' * (-a.nbytes % GGUF_ALIGN))
    os.rename(out + '.tmp', out)


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
