#!/bin/sh
# The GPT-2 parity checks of tests/bin/gpt2 again on the kernels this CPU
# would not pick: AVX2+FMA+F16C and plain C (QKV_SIMD), so every path of
# the F32/F16 GEMV and widening code meets the golden references.
cd "$(dirname "$0")/.." || exit 1
n=0
for isa in avx2 none; do
	n=$((n + 1))
	if out=$(QKV_SIMD=$isa tests/bin/gpt2 2>&1); then
		echo "ok $n - golden GPT-2 parity with QKV_SIMD=$isa ($(echo "$out" |
		    grep -c '^ok') checks)"
	else
		echo "not ok $n - golden GPT-2 parity with QKV_SIMD=$isa"
		echo "$out" | grep -v '^ok' | sed 's/^/# /'
	fi
done
echo "1..$n"
