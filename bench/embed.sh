#!/bin/sh
# bench/embed.sh - embed's speed beside its peers, in one run, on the same
# bert-base-size checkpoint (random weights, F32, made by tests/bert_ref.py):
#   - PyTorch: Debian's python3-torch, the reference BertModel of
#     tests/bert_ref.py under torch.inference_mode, torch threads 1 and
#     J with OpenBLAS threads J, the best kept (bench/embed_torch.py);
#   - ONNX Runtime: npm's onnxruntime-node on the model exported by
#     torch.onnx.export, J intra-op threads (bench/embed_ort.js);
#   - llama.cpp, optionally: the same weights as GGUF in F32 and F16
#     (bench/bert_gguf.py), through its llama-embedding, the B sequences
#     in one batch and one a batch, the best kept.
# Shapes: 1 x 16 tokens (a query), 1 x 128, 32 x 128; tokens/s and ratios.
# Also: the GFLOP/s the encoder reaches at 32 x 128 against OpenBLAS
# sgemm's GFLOP/s on the encoder's largest product, measured in the same
# run, and against qkv's own product of that shape (bench/sgemm.c); and
# embed's peak RSS at batch 32 (F32 and BF16 storage) against the size of
# the f32 weights.
# qkv, PyTorch and sgemm run twice: with OPENBLAS_CORETYPE=Haswell (this
# machine's setting, AVX2 kernels) and with OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset (OpenBLAS picks its own kernels, AVX-512 here).
#
#   bench/embed.sh [LLAMA]      LLAMA: a llama.cpp checkout with a build
#                               (build/bin/llama-embedding), or that binary
# Environment:
#   ORT_NODE_MODULES  a node_modules holding onnxruntime-node, installed
#                     outside the project with
#                     npm install --ignore-scripts onnxruntime-node
#                     (default ../ext/ortnode/node_modules; skipped if none)
#   J                 threads (default 2)
#   QKV_BENCH_DIR     where the model and its exports stay between runs
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
J=${J:-2}
W=${QKV_BENCH_DIR:-${TMPDIR:-/tmp}/qkv-embed-bench}
ORT=${ORT_NODE_MODULES:-$(cd .. && pwd)/ext/ortnode/node_modules}
LLAMA=${1:-}
SHAPES="1x16 1x128 32x128"
M=$W/bert-base
mkdir -p "$W"
# other work on the machine slows the peers unequally (spinning thread
# pools most): the report says how busy it was
load0=$(cut -d' ' -f1-3 /proc/loadavg)
make -s bin/embed
if [ -n "$LLAMA" ]; then
	for b in "$LLAMA" "$LLAMA/llama-embedding" "$LLAMA/bin/llama-embedding" \
	    "$LLAMA/build/bin/llama-embedding"; do
		[ -f "$b" ] && [ -x "$b" ] && LE=$b && break
	done
	[ -n "${LE:-}" ] || { echo "no llama-embedding under $LLAMA" >&2; exit 2; }
fi
[ -f "$M/model.safetensors" ] || $PY tests/bert_ref.py make "$M"
make -s lib/libqkv.a
cc -O2 -std=c11 -D_GNU_SOURCE -Ilib -o "$W/sgemm" bench/sgemm.c lib/libqkv.a \
    -lopenblas -lutf8proc -ljansson -lz -lm -lpthread

# inputs: [CLS] random ids [SEP], B lines of T tokens per batch
for s in $SHAPES; do
	$PY -c "import random, sys; random.seed(1); B, T = map(int, sys.argv[1].split('x'))
for _ in range(B): print(' '.join(['2'] + [str(random.randrange(5, 30522)) for _ in range(T - 2)] + ['3']))" "$s" >"$W/$s.txt"
done
now() { date +%s.%N; }
# qkv_rate SHAPE: tokens/s of embed, load time excluded: the time of
# 1 + R batches less that of 1 batch, best of 3
qkv_rate() {
	B=${1%x*} T=${1#*x}
	R=$((2048 / (B * T) + 2))
	: >"$W/in1"; : >"$W/inR"
	cat "$W/$1.txt" >"$W/in1"
	for _ in $(seq $((R + 1))); do cat "$W/$1.txt"; done >"$W/inR"
	best=0
	for _ in 1 2 3; do
		t0=$(now); bin/embed -m "$M" -j "$J" -B "$B" <"$W/in1" >/dev/null
		t1=$(now); bin/embed -m "$M" -j "$J" -B "$B" <"$W/inR" >/dev/null
		t2=$(now)
		r=$(awk -v n=$((R * B * T)) -v a="$t0" -v b="$t1" -v c="$t2" \
		    'BEGIN { d = (c - b) - (b - a); printf "%.1f", (d > 0 ? n / d : 0) }')
		best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
	done
	echo "$best"
}
torch_rates() {
	for t in 1 "$J"; do
		OPENBLAS_NUM_THREADS=$J OMP_NUM_THREADS=$t $PY bench/embed_torch.py \
		    "$M" "$t" $SHAPES
	done | awk '{ if ($2 > best[$1]) best[$1] = $2 } END { for (s in best) print s, best[s] }'
}
get() { awk -v s="$1" '$1 == s { print $2 }' "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

# peers that do not use OpenBLAS: once
: >"$W/ort"
if [ -d "$ORT/onnxruntime-node" ]; then
	[ -f "$W/bert-base.onnx" ] ||
		$PY bench/embed_torch.py "$M" --onnx "$W/bert-base.onnx" 2>/dev/null
	NODE_PATH=$ORT node bench/embed_ort.js "$W/bert-base.onnx" "$J" 30522 $SHAPES \
	    >"$W/ort"
	ORTV=$(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$ORT/onnxruntime-node/package.json")
fi
: >"$W/llama-f32"; : >"$W/llama-f16"
if [ -n "${LE:-}" ]; then
	for dt in f32 f16; do
		[ -f "$W/bert-base-$dt.gguf" ] ||
			$PY bench/bert_gguf.py "$M" "$W/bert-base-$dt.gguf" $dt
		for s in $SHAPES; do
			B=${s%x*} T=${s#*x}
			# words that are whole tokens: T - 2 of them and the specials
			$PY -c "import random, sys; random.seed(2); B, T = map(int, sys.argv[1].split('x'))
for _ in range(B): print(' '.join('tok%d' % random.randrange(5, 30522) for _ in range(T - 2)))" "$s" >"$W/$s.words"
			# the batch all sequences at once, or one sequence per
			# batch: one ubatch of B x T tokens attends across all
			# of them (masked), which costs it 3x at 32 x 128
			best=0
			for n in $((B * T)) $([ "$B" -gt 1 ] && echo "$T"); do
				for _ in 1 2 3; do
					r=$("$LE" -m "$W/bert-base-$dt.gguf" -f "$W/$s.words" \
					    -t "$J" -b "$n" -ub "$n" -c "$n" \
					    --pooling cls --embd-normalize -1 2>&1 >/dev/null |
					    sed -n 's/.*prompt eval time.*tokens (.*, *\([0-9.]*\) tokens per second).*/\1/p')
					best=$(awk -v a="$best" -v b="${r:-0}" 'BEGIN { print (b > a ? b : a) }')
				done
			done
			echo "$s $best" >>"$W/llama-$dt"
		done
	done
fi

flop=$($PY -c "import json; c = json.load(open('$M/config.json'))
H, I, L = c['hidden_size'], c['intermediate_size'], c['num_hidden_layers']
print(L * (2 * (4 * H * H + 2 * H * I) + 4 * 128 * H))")
echo "bert-base-size model (random weights, F32), $J threads; tokens/s, best of 3"
echo "load average at the start: $load0"
[ -s "$W/ort" ] && echo "ONNX Runtime: onnxruntime-node $ORTV" ||
	echo "ONNX Runtime: none (set ORT_NODE_MODULES)"
[ -n "${LE:-}" ] && echo "llama.cpp: $LE"
for set in Haswell unset; do
	if [ $set = unset ]; then
		unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
	else
		export OPENBLAS_CORETYPE=$set
	fi
	echo
	echo "== OPENBLAS_CORETYPE=$set"
	sg=$(OPENBLAS_NUM_THREADS=$J "$W/sgemm" 4096 3072 768)
	# qkv's own product of that shape (packed panels, J workers): what
	# the encoder's products run at, beside the ceiling
	pg=$("$W/sgemm" 4096 3072 768 "$J")
	torch_rates >"$W/torch"
	printf '%-7s %9s %9s %9s %9s %9s %8s %8s %8s %8s\n' shape qkv torch ort \
	    llama-f32 llama-f16 vs-torch vs-ort vs-l-f32 vs-l-f16
	for s in $SHAPES; do
		q=$(qkv_rate "$s")
		echo "$s $q" >>"$W/qkv.$set"
		printf '%-7s %9s %9s %9s %9s %9s %8s %8s %8s %8s\n' "$s" "$q" \
		    "$(get "$s" "$W/torch")" "$(get "$s" "$W/ort")" \
		    "$(get "$s" "$W/llama-f32")" "$(get "$s" "$W/llama-f16")" \
		    "$(ratio "$q" "$(get "$s" "$W/torch")")" \
		    "$(ratio "$q" "$(get "$s" "$W/ort")")" \
		    "$(ratio "$q" "$(get "$s" "$W/llama-f32")")" \
		    "$(ratio "$q" "$(get "$s" "$W/llama-f16")")"
		[ "$s" = 32x128 ] && enc=$(awk -v r="$q" -v f="$flop" 'BEGIN { printf "%.1f", r * f / 1e9 }')
	done
	echo "encoder at 32x128: $enc GFLOP/s; OpenBLAS sgemm 4096x3072x768 ($J threads): $sg GFLOP/s; $(awk -v a="$enc" -v b="$sg" 'BEGIN { printf "%.0f%%", 100 * a / b }') of the ceiling"
	echo "qkv's product 4096x3072x768 ($J workers): $pg GFLOP/s; the encoder at $(awk -v a="$enc" -v b="$pg" 'BEGIN { printf "%.0f%%", 100 * a / b }') of it"
done

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# peak RSS of embed on three batches of 32 x 128 against the weights it
# computes with (f32: BF16 storage is converted once, at load, and the
# file's pages are let go)
cat "$W/32x128.txt" "$W/32x128.txt" "$W/32x128.txt" >"$W/in3"
[ -f "$M-bf16/model.safetensors" ] ||
	$PY tests/bert_ref.py make "$M-bf16" --dtype bf16
wb=$(wc -c <"$M/model.safetensors")
echo
for v in "F32 $M" "BF16 $M-bf16"; do
	set -- $v
	rss=$( { /usr/bin/time -f %M bin/embed -m "$2" -j "$J" <"$W/in3" >/dev/null; } 2>&1 | tail -1)
	echo "peak RSS of embed at batch 32, $1 stored: $((rss / 1024)) MiB; f32 weights $((wb / 1048576)) MiB; $(awk -v r="$rss" -v w="$wb" 'BEGIN { printf "%.2f", r * 1024 / w }')x"
done
