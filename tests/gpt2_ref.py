#!/usr/bin/python3
"""GPT-2 reference in PyTorch (Debian's python3-torch), f32 on the CPU.

    gpt2_ref.py check-golden DIR...   our reference against the golden
                                      files (shows this script is right)
    gpt2_ref.py make OUTDIR           random checkpoints + reference outputs
                                      in the golden layout (ref/CASE/*.npy)
    gpt2_ref.py make-bench OUTDIR     the gpt2-size random checkpoint in F32,
                                      F16 and BF16 (gpt2-124m-f32, ...), no
                                      reference outputs (bench/sample.sh)

`make` writes two Hugging Face directories under OUTDIR:
  gpt2-124m/  the gpt2 (124M) shape: 12 layers, 768 wide, 12 heads, 50257
              ids, 1024 positions; F32; names as the hub's gpt2 file has
              them (no "transformer." prefix, stale h.N.attn.bias buffers)
  odd-bf16/   odd sizes in BF16: 3 layers, 96 wide, 3 heads of 32, inner
              200, 517 ids, 80 positions; "transformer." names; its own
              untied lm_head; scores also divided by layer index + 1
Weights are N(0, std) with every bias and LayerNorm parameter nonzero; the
reference upcasts stored values to f32 exactly and computes in f32.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


# -- the model ---------------------------------------------------------------

def load_safetensors(path):
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
            raw = bytearray(f.read(e - b))
            dt = {'F32': torch.float32, 'F16': torch.float16,
                  'BF16': torch.bfloat16, 'I64': torch.int64,
                  'F64': torch.float64}[info['dtype']]
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.zeros(0, dtype=dt)
            out[name] = t.reshape(info['shape'])
    return out


def save_safetensors(path, tensors):
    names = {torch.float32: 'F32', torch.float16: 'F16',
             torch.bfloat16: 'BF16'}
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (
            torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape),
                        'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(len(h).to_bytes(8, 'little'))
        f.write(h)
        for b in blobs:
            f.write(b)


class GPT2:
    def __init__(self, d):
        cfg = json.load(open(os.path.join(d, 'config.json')))
        raw = load_safetensors(os.path.join(d, 'model.safetensors'))
        self.w = {}
        for k, v in raw.items():
            if k.startswith('transformer.'):
                k = k[len('transformer.'):]
            if k.endswith('.attn.bias') or k.endswith('.attn.masked_bias'):
                continue
            self.w[k] = v.to(torch.float32)
        self.C = cfg['n_embd']
        self.H = cfg['n_head']
        self.L = cfg['n_layer']
        self.eps = cfg.get('layer_norm_epsilon', 1e-5)
        self.by_layer = cfg.get('scale_attn_by_inverse_layer_idx', False)
        tied = cfg.get('tie_word_embeddings', True)
        self.head = self.w['wte.weight'] if tied else self.w['lm_head.weight']
        assert cfg.get('activation_function', 'gelu_new') == 'gelu_new'

    def ln(self, x, name):
        return F.layer_norm(x, (self.C,), self.w[name + '.weight'],
                            self.w[name + '.bias'], self.eps)

    def conv1d(self, x, name):  # weights [in, out]
        return torch.addmm(self.w[name + '.bias'], x, self.w[name + '.weight'])

    @staticmethod
    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) *
                                           (x + 0.044715 * torch.pow(x, 3.0))))

    def forward(self, ids, cache):
        """ids (T,) after the cache's positions; cache: list of (k, v) per
        layer, extended in place.  Returns logits (T, V)."""
        return self.ln(self.forward_hidden(ids, cache), 'ln_f') @ self.head.T

    def forward_hidden(self, ids, cache):
        """The residual stream after the last block, (T, C)."""
        C, H = self.C, self.H
        hd = C // H
        T = len(ids)
        past = cache[0][0].shape[0] if cache else 0
        x = self.w['wte.weight'][ids] + self.w['wpe.weight'][past:past + T]
        q_pos = torch.arange(past, past + T)[:, None]
        k_pos = torch.arange(past + T)[None, :]
        visible = k_pos <= q_pos
        for l in range(self.L):
            p = 'h.%d.' % l
            qkv = self.conv1d(self.ln(x, p + 'ln_1'), p + 'attn.c_attn')
            q, k, v = qkv.split(C, dim=1)
            if len(cache) <= l:
                cache.append((k, v))
            else:
                cache[l] = (torch.cat([cache[l][0], k]),
                            torch.cat([cache[l][1], v]))
            k, v = cache[l]
            q = q.view(T, H, hd).transpose(0, 1)
            k = k.view(-1, H, hd).transpose(0, 1)
            v = v.view(-1, H, hd).transpose(0, 1)
            s = q @ k.transpose(1, 2) / math.sqrt(hd)
            if self.by_layer:
                s = s / float(l + 1)
            s = torch.where(visible, s, torch.finfo(s.dtype).min)
            a = torch.softmax(s, dim=-1) @ v
            a = a.transpose(0, 1).reshape(T, C)
            x = x + self.conv1d(a, p + 'attn.c_proj')
            m = self.gelu_new(self.conv1d(self.ln(x, p + 'ln_2'), p + 'mlp.c_fc'))
            x = x + self.conv1d(m, p + 'mlp.c_proj')
        return x


def reference(model, rows, n_gen):
    """Every output of the golden layout for rows of ids."""
    B, Tmax = len(rows), max(len(r) for r in rows)
    V = model.head.shape[0]
    out = {'input_ids': np.full((B, Tmax), -1, np.int64),
           'lengths': np.array([len(r) for r in rows], np.int64),
           'logits': np.zeros((B, Tmax, V), np.float32),
           'last_logits': np.zeros((B, V), np.float32)}
    if n_gen:
        out['generated'] = np.zeros((B, n_gen), np.int64)
        out['greedy_margin'] = np.zeros((B, n_gen), np.float32)
        out['gen_logits'] = np.zeros((B, n_gen, V), np.float32)
    with torch.no_grad():
        for b, r in enumerate(rows):
            out['input_ids'][b, :len(r)] = r
            lg = model.forward(torch.tensor(r), [])
            out['logits'][b, :len(r)] = lg.numpy()
            out['last_logits'][b] = lg[-1].numpy()
            cache = []
            step = model.forward(torch.tensor(r), cache)[-1]
            for n in range(n_gen):
                top = torch.topk(step, 2).values
                nxt = int(torch.argmax(step))  # first maximum
                out['generated'][b, n] = nxt
                out['greedy_margin'][b, n] = float(top[0] - top[1])
                out['gen_logits'][b, n] = step.numpy()
                if n + 1 < n_gen:
                    step = model.forward(torch.tensor([nxt]), cache)[-1]
    return out


def write_case(d, case, rows, out):
    cd = os.path.join(d, 'ref', case)
    os.makedirs(cd, exist_ok=True)
    for k, v in out.items():
        np.save(os.path.join(cd, k + '.npy'), v)
    with open(os.path.join(cd, 'ids.txt'), 'w') as f:
        for r in rows:
            f.write(' '.join(map(str, r)) + '\n')


# -- random checkpoints --------------------------------------------------------

def make_model(d, cfg, dtype, prefix, stale, untied, seed, std):
    g = torch.Generator().manual_seed(seed)
    C, I, V, P = cfg['n_embd'], 4 * cfg['n_embd'] if cfg.get(
        'n_inner') is None else cfg['n_inner'], cfg['vocab_size'], cfg['n_positions']

    def normal(*shape, s=std, mean=0.0):
        return (torch.randn(*shape, generator=g) * s + mean).to(dtype)

    t = {prefix + 'wte.weight': normal(V, C),
         prefix + 'wpe.weight': normal(P, C, s=0.01)}
    for l in range(cfg['n_layer']):
        p = prefix + 'h.%d.' % l
        for ln in ('ln_1', 'ln_2'):
            t[p + ln + '.weight'] = normal(C, s=0.1, mean=1.0)
            t[p + ln + '.bias'] = normal(C, s=0.05)
        for name, shape in (('attn.c_attn', (C, 3 * C)), ('attn.c_proj', (C, C)),
                            ('mlp.c_fc', (C, I)), ('mlp.c_proj', (I, C))):
            t[p + name + '.weight'] = normal(*shape)
            t[p + name + '.bias'] = normal(shape[1], s=0.05)
        if stale:
            t[p + 'attn.bias'] = torch.tril(torch.ones(P, P)).view(
                1, 1, P, P).to(torch.float32)
    t[prefix + 'ln_f.weight'] = normal(C, s=0.1, mean=1.0)
    t[prefix + 'ln_f.bias'] = normal(C, s=0.05)
    if untied:
        t['lm_head.weight'] = normal(V, C)
    os.makedirs(d, exist_ok=True)
    save_safetensors(os.path.join(d, 'model.safetensors'), t)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)


def make(outdir):
    rng = np.random.default_rng(2024)
    big = {'model_type': 'gpt2', 'architectures': ['GPT2LMHeadModel'],
           'vocab_size': 50257, 'n_positions': 1024, 'n_ctx': 1024,
           'n_embd': 768, 'n_layer': 12, 'n_head': 12,
           'layer_norm_epsilon': 1e-5, 'activation_function': 'gelu_new',
           'bos_token_id': 50256, 'eos_token_id': 50256}
    d = os.path.join(outdir, 'gpt2-124m')
    make_model(d, big, torch.float32, '', True, False, 124, 0.02)
    m = GPT2(d)
    rows = [list(map(int, rng.integers(0, 50257, 64))),
            list(map(int, rng.integers(0, 50257, 150)))]
    write_case(d, 'prompt', rows, reference(m, rows, 64))

    odd = {'model_type': 'gpt2', 'vocab_size': 517, 'n_positions': 80,
           'n_embd': 96, 'n_layer': 3, 'n_head': 3, 'n_inner': 200,
           'layer_norm_epsilon': 1e-5, 'activation_function': 'gelu_new',
           'scale_attn_by_inverse_layer_idx': True,
           'tie_word_embeddings': False, 'eos_token_id': 516}
    d = os.path.join(outdir, 'odd-bf16')
    make_model(d, odd, torch.bfloat16, 'transformer.', False, True, 517, 0.1)
    m = GPT2(d)
    rows = [list(map(int, rng.integers(0, 517, n))) for n in (1, 17, 33)]
    write_case(d, 'prompt', rows, reference(m, rows, 40))
    rows = [list(map(int, rng.integers(0, 517, 80)))]
    write_case(d, 'full', rows, reference(m, rows, 0))


def make_bench(outdir):
    big = {'model_type': 'gpt2', 'architectures': ['GPT2LMHeadModel'],
           'vocab_size': 50257, 'n_positions': 1024, 'n_ctx': 1024,
           'n_embd': 768, 'n_layer': 12, 'n_head': 12,
           'layer_norm_epsilon': 1e-5, 'activation_function': 'gelu_new',
           'bos_token_id': 50256, 'eos_token_id': 50256}
    for name, dt in (('f32', torch.float32), ('f16', torch.float16),
                     ('bf16', torch.bfloat16)):
        make_model(os.path.join(outdir, 'gpt2-124m-' + name), big, dt, '',
                   False, False, 124, 0.02)


def check_golden(dirs):
    worst = 0.0
    for d in dirs:
        m = GPT2(d)
        for case in sorted(os.listdir(os.path.join(d, 'ref'))):
            cd = os.path.join(d, 'ref', case)
            ids, lens = np.load(cd + '/input_ids.npy'), np.load(cd + '/lengths.npy')
            gen = os.path.exists(cd + '/generated.npy')
            rows = [list(map(int, ids[b, :n])) for b, n in enumerate(lens)]
            out = reference(m, rows, np.load(cd + '/generated.npy').shape[1] if gen else 0)
            for k in ('logits', 'gen_logits', 'generated'):
                if k in out:
                    diff = np.abs(out[k].astype(np.float64) -
                                  np.load(cd + '/' + k + '.npy')).max()
                    worst = max(worst, diff)
                    print('%s %s %s: max abs diff %.3g' % (d, case, k, diff))
    assert worst <= 1e-5, worst  # the f32 rounding floor is 2.3e-6


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'check-golden':
        check_golden(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == 'make':
        make(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == 'make-bench':
        make_bench(sys.argv[2])
    else:
        sys.exit(__doc__)
