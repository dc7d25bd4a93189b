/* nn_attention_causal against a plain double-precision softmax attention:
 * one new query over a KV cache (token generation, its own kernel) and
 * several (the prompt, through sgemm), head sizes that are and are not a
 * multiple of the vector width, and the same bits with 1 and 3 workers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

/* The worst |out - reference| for T new queries after past cached rows. */
static double
check(int T, int past, int n_head, int hd, int *same)
{
	int C = n_head * hd, L = past + T, ldq = 3 * C, ldkv = C + 5;
	float *q = malloc((size_t)T * ldq * sizeof *q);
	float *k = malloc((size_t)L * ldkv * sizeof *k);
	float *v = malloc((size_t)L * ldkv * sizeof *v);
	float *att = malloc((size_t)n_head * T * L * sizeof *att);
	float *out = malloc((size_t)T * C * sizeof *out);
	float *out3 = malloc((size_t)T * C * sizeof *out3);
	double *p = malloc((size_t)L * sizeof *p), worst = 0;
	float scale = 1.0f / sqrtf((float)hd);

	for (int i = 0; i < T * ldq; i++)
		q[i] = (float)sin(i * 0.731 + hd);
	for (int i = 0; i < L * ldkv; i++) {
		k[i] = (float)cos(i * 0.377 + T);
		v[i] = (float)sin(i * 0.113 + past);
	}
	nn_set_workers(1, NULL);
	nn_attention_causal(out, q, ldq, k, v, ldkv, att, T, past, n_head, hd,
	    scale);
	nn_set_workers(3, NULL);
	nn_attention_causal(out3, q, ldq, k, v, ldkv, att, T, past, n_head, hd,
	    scale);
	*same = memcmp(out, out3, (size_t)T * C * sizeof *out) == 0;
	for (int t = 0; t < T; t++)
		for (int h = 0; h < n_head; h++) {
			const float *qh = q + (size_t)t * ldq + h * hd;
			int seen = past + t + 1;
			double m = -INFINITY, s = 0;
			for (int l = 0; l < seen; l++) {
				double d = 0;
				for (int i = 0; i < hd; i++)
					d += (double)qh[i] * k[(size_t)l * ldkv +
					    h * hd + i];
				p[l] = d * scale;
				m = p[l] > m ? p[l] : m;
			}
			for (int l = 0; l < seen; l++)
				s += p[l] = exp(p[l] - m);
			for (int i = 0; i < hd; i++) {
				double r = 0;
				for (int l = 0; l < seen; l++)
					r += p[l] / s * v[(size_t)l * ldkv +
					    h * hd + i];
				double d = fabs(r - out[(size_t)t * C + h * hd + i]);
				worst = d > worst || isnan(d) ? d : worst;
			}
		}
	free(q);
	free(k);
	free(v);
	free(att);
	free(out);
	free(out3);
	free(p);
	return worst;
}

int
main(void)
{
	/* T, past, heads, head size */
	static const int cases[][4] = {{1, 0, 2, 64}, {1, 63, 12, 64},
	    {1, 200, 3, 17}, {1, 31, 4, 8}, {1, 5, 2, 70}, {1, 1000, 1, 33},
	    {7, 0, 2, 64}, {5, 40, 3, 17}, {3, 9, 4, 8}};

	nn_set_threads(1);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int T = cases[c][0], past = cases[c][1], nh = cases[c][2];
		int hd = cases[c][3], same;
		double e = check(T, past, nh, hd, &same);
		ok(e <= 1e-5 && same, "T=%d past=%d heads=%d hd=%d: max abs "
		    "diff %.2g <= 1e-5, %s bits with 3 workers", T, past, nh,
		    hd, e, same ? "same" : "NOT the same");
	}
	done_testing();
}
