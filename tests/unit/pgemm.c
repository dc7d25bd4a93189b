/* nn_matmul_many (packed panels, gemm.c) against the order it promises:
 * bias, then one fmaf per k in order, so every output must have exactly
 * the reference's bits, for every dtype and layout, sizes that are not
 * multiples of the tiles (14 and 3 rows, 32-column panels, blocks of 256
 * of K), row strides wider than the rows, the split by rows and the split
 * by panels, 1 to 3 workers and every ISA path (QKV_SIMD, gpt2_isa.t); a
 * double-precision product checks that the promise is the product.  Also:
 * identical rows of W score identically wherever they lie (nearest's
 * ties), and the activation applied by the workers equals nn_activate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

static uint32_t seed = 777u;

static float
rnd(void)
{
	seed = seed * 1664525u + 1013904223u;
	return ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
}

static void
store(char *w, size_t i, int dtype, float v, float *wf)
{
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

/* Max abs difference from the double product; *exact 0 if any output
 * differs in a bit from the fmaf chain or a cell outside was written.
 * dup: W's rows (trans) all equal to its first. */
static double
check(int dtype, int trans, int M, int N, int K, int with_bias, int act,
    int dup, int *exact)
{
	size_t es = qkv_dtype_size(dtype), nw = (size_t)N * K;
	int lda = K + 3, ldo = N + 5;
	char *w = malloc(nw * es + 8);
	float *wf = malloc(nw * sizeof *wf);
	float *a = malloc((size_t)M * lda * sizeof *a);
	float *b = malloc((size_t)N * sizeof *b);
	float *y = malloc((size_t)M * ldo * sizeof *y);
	float *ref = malloc((size_t)N * sizeof *ref);
	double worst = 0;

	for (size_t i = 0; i < nw; i++)
		store(w, i, dtype, dup && trans && i >= (size_t)K ?
		    wf[i % K] : rnd(), wf);
	for (int i = 0; i < M * lda; i++)
		a[i] = (float)sin(i * 0.37);
	for (int n = 0; n < N; n++)
		b[n] = (float)cos(n * 0.11);
	for (int i = 0; i < M * ldo; i++)
		y[i] = NAN;	/* outside the columns: must stay untouched */

	nn_weight W = {w, dtype, trans ? N : K, trans ? K : N};
	if (nn_matmul_many(y, ldo, a, lda, &W, trans, with_bias ? b : NULL, M,
	    K, N, act) < 0) {
		*exact = 0;
		return INFINITY;
	}
	*exact = 1;
	for (int m = 0; m < M; m++) {
		double r[1];
		for (int n = 0; n < N; n++) {
			float f = with_bias ? b[n] : 0;
			r[0] = f;
			for (int k = 0; k < K; k++) {
				float wv = trans ? wf[(size_t)n * K + k] :
				    wf[(size_t)k * N + n];
				f = fmaf(a[(size_t)m * lda + k], wv, f);
				r[0] += (double)a[(size_t)m * lda + k] * wv;
			}
			ref[n] = f;
			double d = fabs(r[0] - y[(size_t)m * ldo + n]);
			if (act == NN_ACT_NONE)
				worst = d > worst || isnan(d) ? d : worst;
		}
		nn_activate(ref, (size_t)N, act);
		if (memcmp(ref, y + (size_t)m * ldo, (size_t)N * sizeof *ref))
			*exact = 0;
		if (dup && trans)
			for (int n = 1; n < N; n++)
				if (memcmp(y + (size_t)m * ldo, y + (size_t)m *
				    ldo + n, sizeof *y))
					*exact = 0;
		for (int n = N; n < ldo; n++)
			if (!isnan(y[(size_t)m * ldo + n]))
				*exact = 0;
	}
	free(w);
	free(wf);
	free(a);
	free(b);
	free(y);
	free(ref);
	return worst;
}

int
main(void)
{
	static const int dt[] = {QKV_F32, QKV_F16, QKV_BF16};
	/* M, N, K: tails of the tiles, panels and blocks of K; rows enough
	 * for the split by rows (>= 56 per task) and too few for it */
	static const int shape[][3] = {{1, 1, 1}, {3, 33, 5}, {14, 32, 256},
	    {15, 65, 257}, {29, 100, 600}, {300, 31, 37}, {337, 70, 513},
	    {700, 129, 96}};

	for (int nw = 1; nw <= 3; nw++) {
		if (nn_set_workers(nw, NULL) < 0)
			return 1;
		for (int d = 0; d < 3; d++)
			for (int trans = 0; trans < 2; trans++)
				for (size_t i = 0; i < sizeof shape /
				    sizeof shape[0]; i++) {
					int M = shape[i][0], N = shape[i][1],
					    K = shape[i][2], bias = (int)(i % 3 != 1),
					    exact;
					if (nw > 1 && d > 0 && M < 300)
						continue;
					double e = check(dt[d], trans, M, N, K, bias,
					    NN_ACT_NONE, 0, &exact);
					double tol = 2e-6 * sqrt((double)K);
					ok(exact && e <= tol, "%d workers: %s %s M=%d "
					    "N=%d K=%d%s: the fmaf chain's bits, max "
					    "abs diff %.2g <= %.2g from double", nw,
					    qkv_dtype_name(dt[d]), trans ? "[out,in]" :
					    "[in,out]", M, N, K, bias ? "" : " no bias",
					    e, tol);
				}
		for (int i = 0; i < 2; i++) {
			int M = i ? 400 : 9, exact;
			check(QKV_F32, 1, M, 300, 384, 0, NN_ACT_NONE, 1, &exact);
			ok(exact, "%d workers: M=%d, 300 equal rows of W: every "
			    "column the same bits", nw, M);
			check(QKV_F32, 1, M, 77, 200, 1, NN_ACT_GELU_ERF, 0,
			    &exact);
			ok(exact, "%d workers: M=%d, GELU on the workers: "
			    "nn_activate's bits", nw, M);
		}
	}
	done_testing();
}
