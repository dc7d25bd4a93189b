#!/bin/sh
# bench/sample.sh - sample's speed against PyTorch and llama.cpp, side by
# side in one run, on a gpt2-size (124M) model with random weights in F32,
# F16 and BF16: a 64-token prompt, then 128 generated tokens (greedy, no
# stop).  Prints prompt and generated tokens/s and the ratios, and the
# memory bound of generation: every generated token reads all the weight
# matrices once, so tokens/s <= read bandwidth / weight bytes per token.
#
#   bench/sample.sh                 sample and PyTorch
#   bench/sample.sh LLAMA_BUILD     also llama.cpp: the path of a llama.cpp
#                                   build (its build/ directory, or the
#                                   llama-bench binary); the checkpoints
#                                   are converted to GGUF by bench/gguf.py
#   J=1 REPS=5 bench/sample.sh      threads, best of REPS runs
#
# sample and llama.cpp take turns, one run each per round, and the
# bandwidth is measured again in each round: on a shared machine all see
# the same spells of load, and the best of each is kept.
#
# PyTorch (Debian's python3-torch, f32 only: it has no fast F16 on a CPU)
# runs a KV-cache loop (bench/sample_torch.py) in each of its thread
# settings, torch threads x OpenBLAS threads, and the best is kept.
# The models (about 1 GB) stay in $QKV_BENCH_DIR between runs.
#
# The peers are timed warm (llama-bench runs a warm-up first; the PyTorch
# loop keeps the best of REPS passes in one process), so sample is given
# the same prompt PASSES times in one process and its rates are the
# totals over all of them: the first, cold pass (about 35 ms more on a
# 64-token prompt here: first touch of buffers, caches) is included, so
# the figure is, if anything, low.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
J=${J:-2}
REPS=${REPS:-3}
NP=64
NG=128
PASSES=${PASSES:-4}
W=${QKV_BENCH_DIR:-${TMPDIR:-/tmp}/qkv-sample-bench}
LLAMA=${1:-}
if [ -n "$LLAMA" ]; then
	for b in "$LLAMA" "$LLAMA/llama-bench" "$LLAMA/bin/llama-bench" \
	    "$LLAMA/build/bin/llama-bench"; do
		[ -f "$b" ] && [ -x "$b" ] && LB=$b && break
	done
	[ -n "${LB:-}" ] || { echo "no llama-bench under $LLAMA" >&2; exit 2; }
fi
mkdir -p "$W"
make -s bin/sample
[ -f "$W/gpt2-124m-bf16/model.safetensors" ] ||
	$PY tests/gpt2_ref.py make-bench "$W"
$PY -c "import random; random.seed(1)
print(' '.join(str(random.randrange(50257)) for _ in range($NP)))" >"$W/prompt.txt"
for i in $(seq "$PASSES"); do cat "$W/prompt.txt"; done >"$W/prompts.txt"
cc -O3 -march=native -pthread -o "$W/membw" bench/membw.c

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a ? b : a) }'; }

BW=$("$W/membw" "$J" 1024)
echo "gpt2-size model: prompt $NP tokens, $NG generated, $J threads, best of $REPS"
echo "memory read bandwidth ($J threads, bench/membw.c): $BW GB/s"
printf '\n%-5s %-22s %7s %7s %6s %7s %7s %7s\n' dtype program prompt/s \
    gen/s bound% "vs-torch" "(gen)" "vs-llama"
for dt in f32 f16 bf16; do
	M=$W/gpt2-124m-$dt
	# bytes read per generated token: every matrix once (the tied
	# wte as the LM head), one row of wpe, noise from the rest
	bytes=$($PY -c "import json
f = open('$M/model.safetensors', 'rb'); n = int.from_bytes(f.read(8), 'little')
h = json.loads(f.read(n)); s = 0
for k, v in h.items():
    if k == '__metadata__' or k.endswith(('attn.bias', 'masked_bias')): continue
    b = v['data_offsets'][1] - v['data_offsets'][0]
    s += b if not k.endswith('wpe.weight') else b // v['shape'][0]
print(s)")

	# sample and llama.cpp take turns, one run each per round, so that
	# both see the same load on a shared machine; best of REPS rounds
	best_p=0 best_g=0 lp= lg=
	if [ -n "${LB:-}" ]; then
		lp=0 lg=0
		[ -f "$W/gpt2-124m-$dt.gguf" ] || $PY bench/gguf.py "$M" \
		    tests/data/vocab/gpt2 "$W/gpt2-124m-$dt.gguf"
	fi
	for r in $(seq "$REPS"); do
		line=$(bin/sample -m "$M" -t 0 -E -n $NG -j "$J" -v "$W/prompts.txt" \
		    2>&1 >/dev/null | grep 'tokens/s')
		p=$(echo "$line" | sed 's/.*s, \([0-9.]*\) tokens\/s; gen.*/\1/')
		g=$(echo "$line" | sed 's/.*s, \([0-9.]*\) tokens\/s$/\1/')
		best_p=$(max "$best_p" "$p")
		best_g=$(max "$best_g" "$g")
		BW=$(max "$BW" "$("$W/membw" "$J" 1024)")
		[ -n "${LB:-}" ] || continue
		csv=$("$LB" -m "$W/gpt2-124m-$dt.gguf" -p $NP -n $NG -t "$J" \
		    -r 1 -o csv 2>/dev/null)
		# the avg_ts column (of one run) of the pp and tg rows
		col=$(echo "$csv" | head -1 | tr ',' '\n' | grep -n '^"*avg_ts"*$' |
		    cut -d: -f1)
		p=$(echo "$csv" | grep ",\"*$NP\"*,\"*0\"*," | head -1 |
		    cut -d, -f"$col" | tr -d '"')
		g=$(echo "$csv" | grep ",\"*0\"*,\"*$NG\"*," | head -1 |
		    cut -d, -f"$col" | tr -d '"')
		lp=$(max "$lp" "$p")
		lg=$(max "$lg" "$g")
	done

	tp= tg=
	if [ $dt = f32 ]; then
		tp=0 tg=0
		# torch threads x OpenBLAS threads: each way of using J cores
		echo "1 $J" >"$W/sets"
		[ "$J" -gt 1 ] && echo "$J 1" >>"$W/sets"
		while read -r set; do
			set -- $set
			out=$(TORCH_THREADS=$1 OPENBLAS_NUM_THREADS=$2 \
			    OMP_NUM_THREADS=$1 $PY bench/sample_torch.py "$M" \
			    "$W/prompt.txt" $NG "$REPS" </dev/null)
			echo "      pytorch torch threads $1, OpenBLAS threads $2: $out"
			p=$(echo "$out" | awk '{ print $2 }')
			g=$(echo "$out" | awk '{ print $4 }')
			tp=$(max "$tp" "$p")
			tg=$(max "$tg" "$g")
		done <"$W/sets"
	fi
	bound=$(awk -v bw="$BW" -v b="$bytes" 'BEGIN { printf "%.1f", bw * 1e9 / b }')
	row() {	# row DTYPE NAME PROMPT GEN
		pct=$(awk -v g="$4" -v b="$bound" 'BEGIN { printf "%.0f", 100 * g / b }')
		vt=- vtg= vl=-
		[ -n "$tp" ] && vt=$(awk -v a="$3" -v b="$tp" -v c="$4" -v d="$tg" \
		    'BEGIN { printf "%.2fx", a / b }') &&
		    vtg=$(awk -v c="$4" -v d="$tg" 'BEGIN { printf "%.2fx", c / d }')
		[ -n "$lp" ] && vl=$(awk -v a="$3" -v b="$lp" -v c="$4" -v d="$lg" \
		    'BEGIN { printf "%.2fx/%.2fx", a / b, c / d }')
		printf '%-5s %-22s %7.1f %7.1f %5s%% %7s %7s %s\n' "$1" "$2" "$3" \
		    "$4" "$pct" "$vt" "$vtg" "$vl"
	}
	echo "$dt: $bytes weight bytes per token: at most $bound tokens/s" \
	    "($BW GB/s, the best so far)"
	row $dt sample "$best_p" "$best_g"
	[ -n "$tp" ] && printf '%-5s %-22s %7.1f %7.1f %5s%%\n' $dt pytorch \
	    "$tp" "$tg" "$(awk -v g="$tg" -v b="$bound" 'BEGIN { printf "%.0f", 100 * g / b }')"
	[ -n "$lp" ] && printf '%-5s %-22s %7.1f %7.1f %5s%%\n' $dt llama.cpp \
	    "$lp" "$lg" "$(awk -v g="$lg" -v b="$bound" 'BEGIN { printf "%.0f", 100 * g / b }')"
done
echo "(vs-torch: sample's prompt and generation rates over PyTorch's f32;"
echo " vs-llama: prompt/generation over llama.cpp's on the same dtype)"
