#!/bin/sh
# The GPT-2 parity checks (tests/bin/gpt2) and the checks of nn_matmul,
# nn_gemm, nn_matmul_many and nn_attention_causal again on the kernels
# this CPU would not pick: AVX2+FMA+F16C and plain C (QKV_SIMD), so every path of the GEMV,
# GEMM, widening and vectorised code is tested.
cd "$(dirname "$0")/.." || exit 1
n=0
for isa in avx2 none; do
	for t in gpt2 nn_matmul gemm gemm_dot pgemm nn_attention; do
		n=$((n + 1))
		if out=$(QKV_SIMD=$isa tests/bin/$t 2>&1); then
			echo "ok $n - tests/bin/$t with QKV_SIMD=$isa ($(echo "$out" |
			    grep -c '^ok') checks)"
		else
			echo "not ok $n - tests/bin/$t with QKV_SIMD=$isa"
			echo "$out" | grep -v '^ok' | sed 's/^/# /'
		fi
	done
done
echo "1..$n"
