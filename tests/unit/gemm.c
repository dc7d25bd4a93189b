/* nn_gemm against a naive reference: every dtype, both layouts, sizes that
 * are not multiples of the tiles (rows, 48-column panels, blocks of K),
 * row strides wider than the rows, unaligned weights, no bias, and column
 * ranges split at odd places.  The reference is the order nn_gemm
 * promises (bias, then one fmaf per k in order), so every ISA path
 * (QKV_SIMD, see gpt2_isa.t) must give the same bits; a double-precision
 * product checks that the promise is the product. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

static uint32_t seed = 12345u;

static float
rnd(void)
{
	seed = seed * 1664525u + 1013904223u;
	return ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
}

/* Returns the max abs difference from the double product, or INFINITY
 * if any output differs in a bit from the fmaf chain. */
static double
check(int dtype, int trans, int M, int N, int K, int with_bias, int split,
    int *exact)
{
	size_t es = qkv_dtype_size(dtype), nw = (size_t)N * K;
	int mis = dtype == QKV_F32 ? 4 : 2;
	int lda = K + 3, ldo = N + 5;
	char *raw = malloc(nw * es + 8), *w = raw + mis;
	float *wf = malloc(nw * sizeof *wf);
	float *a = malloc((size_t)M * lda * sizeof *a);
	float *b = malloc((size_t)N * sizeof *b);
	float *y = malloc((size_t)M * ldo * sizeof *y);
	float *s = malloc(nn_gemm_scratch() * sizeof *s);
	double worst = 0;

	for (size_t i = 0; i < nw; i++) {
		float v = rnd();
		uint16_t h;
		if (dtype == QKV_F16) {
			h = qkv_f32_to_f16(v);
			memcpy(w + 2 * i, &h, 2);
			wf[i] = qkv_f16_to_f32(h);
		} else if (dtype == QKV_BF16) {
			h = qkv_f32_to_bf16(v);
			memcpy(w + 2 * i, &h, 2);
			wf[i] = qkv_bf16_to_f32(h);
		} else {
			memcpy(w + 4 * i, &v, 4);
			wf[i] = v;
		}
	}
	for (int i = 0; i < M * lda; i++)
		a[i] = (float)sin(i * 0.37);
	for (int n = 0; n < N; n++)
		b[n] = (float)cos(n * 0.11);
	for (int i = 0; i < M * ldo; i++)
		y[i] = NAN;	/* outside the columns: must stay untouched */

	nn_weight W = {w, dtype, trans ? N : K, trans ? K : N};
	const float *bias = with_bias ? b : NULL;
	if (split > 0 && split < N) {
		nn_gemm(y, ldo, a, lda, &W, trans, bias, M, K, 0, split, s);
		nn_gemm(y, ldo, a, lda, &W, trans, bias, M, K, split, N, s);
	} else
		nn_gemm(y, ldo, a, lda, &W, trans, bias, M, K, 0, N, s);

	*exact = 1;
	for (int m = 0; m < M; m++) {
		for (int n = 0; n < N; n++) {
			float f = with_bias ? b[n] : 0;
			double r = f;
			for (int k = 0; k < K; k++) {
				float wv = trans ? wf[(size_t)n * K + k] :
				    wf[(size_t)k * N + n];
				f = fmaf(a[(size_t)m * lda + k], wv, f);
				r += (double)a[(size_t)m * lda + k] * wv;
			}
			float got = y[(size_t)m * ldo + n];
			if (memcmp(&got, &f, sizeof f) != 0)
				*exact = 0;
			double d = fabs(r - got);
			worst = d > worst || isnan(d) ? d : worst;
		}
		for (int n = N; n < ldo; n++)
			if (!isnan(y[(size_t)m * ldo + n]))
				*exact = 0;
	}
	free(raw);
	free(wf);
	free(a);
	free(b);
	free(y);
	free(s);
	return worst;
}

int
main(void)
{
	static const int dt[] = {QKV_F32, QKV_F16, QKV_BF16};
	/* M, N, K, split: tails of the 8- and 4-row tiles and of the
	 * 48-column panel, K over a block of 384, ranges cut mid-panel */
	static const int shape[][4] = {{1, 1, 1, 0}, {3, 47, 5, 0},
	    {8, 48, 16, 0}, {9, 49, 31, 17}, {17, 100, 383, 48},
	    {64, 96, 385, 0}, {70, 145, 800, 50}, {5, 300, 1, 299}};

	for (int d = 0; d < 3; d++)
		for (int trans = 0; trans < 2; trans++)
			for (size_t i = 0; i < sizeof shape / sizeof shape[0];
			    i++) {
				int M = shape[i][0], N = shape[i][1],
				    K = shape[i][2], sp = shape[i][3];
				int bias = (int)(i % 3 != 1), exact;
				double e = check(dt[d], trans, M, N, K, bias, sp,
				    &exact);
				double tol = 2e-6 * sqrt((double)K);
				/* f32 [out, in] sums in lanes (gemm_dot.c
				 * checks its bits) */
				if (dt[d] == QKV_F32 && trans)
					exact = 1;
				ok(exact && e <= tol, "%s %s M=%d N=%d K=%d%s "
				    "split %d: the fmaf chain's bits, max abs "
				    "diff %.2g <= %.2g from double", qkv_dtype_name(
				    dt[d]), trans ? "[out,in]" : "[in,out]", M, N,
				    K, bias ? "" : " no bias", sp, e, tol);
			}
	done_testing();
}
