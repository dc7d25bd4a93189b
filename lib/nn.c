/*
 * nn.c - the kernels both models share: the one sgemm wrapper every matrix
 * product goes through, LayerNorm, the two GELUs, softmax, bias adds.
 * Flat float arrays, row-major, no allocation.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "qkv.h"

/* Declared by OpenBLAS's cblas.h in some builds, not others. */
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);

void
nn_set_threads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

int
nn_get_threads(void)
{
	return openblas_get_num_threads();
}

/*
 * C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C, row-major.
 * transa/transb: 0 = as stored, 1 = transposed.
 */
void
nn_sgemm(int transa, int transb, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc)
{
	if (M == 0 || N == 0)
		return;
	cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
	    transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
	    beta, C, ldc);
}

/*
 * Linear layer, PyTorch layout: out (N,OC) = inp (N,C) . w^T + b,
 * w is (OC,C) [out, in]; b (OC) may be NULL.
 */
void
nn_linear(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC)
{
	if (b != NULL) {
		for (int i = 0; i < N; i++)
			memcpy(out + (size_t)i * OC, b, (size_t)OC * sizeof *b);
	}
	nn_sgemm(0, 1, N, OC, C, 1.0f, inp, C, w, C, b ? 1.0f : 0.0f, out, OC);
}

/*
 * Conv1D layer, GPT-2 layout: out (N,OC) = inp (N,C) . w + b,
 * w is (C,OC) [in, out]; b (OC) may be NULL.
 */
void
nn_conv1d(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC)
{
	if (b != NULL) {
		for (int i = 0; i < N; i++)
			memcpy(out + (size_t)i * OC, b, (size_t)OC * sizeof *b);
	}
	nn_sgemm(0, 0, N, OC, C, 1.0f, inp, C, w, OC, b ? 1.0f : 0.0f, out, OC);
}

/*
 * LayerNorm over the last dimension: out (N,C) = (inp - mean) /
 * sqrt(var + eps) * w + b, biased variance.  out may equal inp.
 * Sums in double: a long row of float adds drifts by more than the
 * reference's own rounding.
 */
void
nn_layernorm(float *out, const float *inp, const float *w, const float *b,
    int N, int C, float eps)
{
	for (int i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * C;
		float *y = out + (size_t)i * C;
		double s = 0, v = 0;
		for (int j = 0; j < C; j++)
			s += x[j];
		double mean = s / C;
		for (int j = 0; j < C; j++) {
			double d = x[j] - mean;
			v += d * d;
		}
		float rstd = (float)(1.0 / sqrt(v / C + eps));
		float m = (float)mean;
		for (int j = 0; j < C; j++)
			y[j] = (x[j] - m) * rstd * w[j] + b[j];
	}
}

/* Exact GELU (BERT "gelu"): x * 0.5 * (1 + erf(x / sqrt 2)), in place. */
void
nn_gelu_erf(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

/* Tanh GELU (GPT-2 "gelu_new"), in place. */
void
nn_gelu_tanh(float *x, size_t n)
{
	const float k = 0.7978845608028654f;	/* sqrt(2/pi) */

	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
	}
}

/* Softmax of each row of x (rows,n), in place; max-subtracted. */
void
nn_softmax(float *x, int rows, int n)
{
	for (int r = 0; r < rows; r++) {
		float *p = x + (size_t)r * n;
		float mx = -INFINITY, sum = 0;
		for (int j = 0; j < n; j++)
			if (p[j] > mx)
				mx = p[j];
		for (int j = 0; j < n; j++) {
			p[j] = expf(p[j] - mx);
			sum += p[j];
		}
		float inv = 1.0f / sum;
		for (int j = 0; j < n; j++)
			p[j] *= inv;
	}
}

/* x (N,C) += y (N,C). */
void
nn_add(float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}
