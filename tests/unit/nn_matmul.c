/* nn_matmul against a plain double-precision product: every dtype, both
 * layouts, GEMV and sgemm row counts, odd sizes, unaligned weights, a
 * reduction too long for one widened slice, GEMVs over input rows in
 * chunks, and 1 vs 3 workers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

static double
check(int dtype, int trans, int N, int C, int OC, int misalign)
{
	size_t es = qkv_dtype_size(dtype), nw = (size_t)C * OC;
	char *raw = malloc(nw * es + 8), *w = raw + misalign;
	float *wf = malloc(nw * sizeof *wf), *x = malloc((size_t)N * C * 4);
	float *b = malloc((size_t)OC * 4), *y = malloc((size_t)N * OC * 4);
	float *y3 = malloc((size_t)N * OC * 4);
	double worst = 0;
	uint32_t s = 12345u + (uint32_t)(dtype * 7 + trans * 3 + N + C + OC);

	for (size_t i = 0; i < nw; i++) {
		s = s * 1664525u + 1013904223u;
		float v = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.2f;
		if (dtype == QKV_F16) {
			uint16_t h = qkv_f32_to_f16(v);
			memcpy(w + 2 * i, &h, 2);
			wf[i] = qkv_f16_to_f32(h);
		} else if (dtype == QKV_BF16) {
			uint16_t h = qkv_f32_to_bf16(v);
			memcpy(w + 2 * i, &h, 2);
			wf[i] = qkv_bf16_to_f32(h);
		} else {
			memcpy(w + 4 * i, &v, 4);
			wf[i] = v;
		}
	}
	for (int i = 0; i < N * C; i++)
		x[i] = (float)sin(i * 0.37);
	for (int o = 0; o < OC; o++)
		b[o] = (float)cos(o * 0.11);
	nn_weight W = {w, dtype, trans ? OC : C, trans ? C : OC};
	nn_set_workers(1, NULL);
	nn_matmul(y, x, &W, trans, b, N, C, OC);
	nn_set_workers(3, NULL);
	nn_matmul(y3, x, &W, trans, b, N, C, OC);
	for (int n = 0; n < N; n++)
		for (int o = 0; o < OC; o++) {
			double r = b[o];
			for (int i = 0; i < C; i++)
				r += (double)x[(size_t)n * C + i] * (trans ?
				    wf[(size_t)o * C + i] : wf[(size_t)i * OC + o]);
			double d = fabs(r - y[(size_t)n * OC + o]);
			worst = d > worst || isnan(d) ? d : worst;
		}
	if (memcmp(y, y3, (size_t)N * OC * 4) != 0)
		worst = INFINITY;
	free(raw);
	free(wf);
	free(x);
	free(b);
	free(y);
	free(y3);
	return worst;
}

int
main(void)
{
	static const int dt[] = {QKV_F32, QKV_F16, QKV_BF16};
	static const int shape[][3] = {{1, 64, 192}, {1, 77, 33}, {3, 100, 250},
	    {4, 96, 288}, {70, 61, 1000}, {5, 20000, 40},
	    /* GEMV [in, out] in chunks of input rows: odd sizes */
	    {1, 771, 333}, {3, 1283, 47}, {1, 136, 2500}, {2, 130, 16}};

	nn_set_threads(1);
	for (int d = 0; d < 3; d++)
		for (int trans = 0; trans < 2; trans++)
			for (size_t k = 0; k < sizeof shape / sizeof shape[0]; k++) {
				int N = shape[k][0], C = shape[k][1], OC = shape[k][2];
				/* f32 misaligned by 4 bytes only (BLAS wants
				 * floats aligned); halves by 2 */
				int mis = dt[d] == QKV_F32 ? 4 : 2;
				double e = check(dt[d], trans, N, C, OC, mis);
				/* the f32 sum of C terms of size <= 0.1 */
				double tol = 2e-6 * sqrt((double)C);
				ok(e <= tol, "%s %s N=%d C=%d OC=%d: max abs "
				    "diff %.2g <= %.2g, same bits with 3 workers",
				    qkv_dtype_name(dt[d]), trans ? "[out,in]" :
				    "[in,out]", N, C, OC, e, tol);
			}
	done_testing();
}
