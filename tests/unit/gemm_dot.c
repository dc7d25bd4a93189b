/*
 * nn_gemm's f32 [out, in] path (gemm.c: dot products summed in lanes) and
 * nn_linear_workers against a naive double-precision product on odd sizes: rows of A below, at and above a tile's group, K
 * with a vector tail and over a block (1024), columns that end a tile
 * short, strides wider than the rows, with and without bias; a column
 * range split in two gives the same bits as in one piece.  Run by
 * tests/gpt2_isa.t again with QKV_SIMD=avx2 and =none for the other paths.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

static float
frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* max |C - A W^T - bias| over C (M,N) at ldc, relative to the sum of
 * the terms' magnitudes */
static double
err_of(const float *C, size_t ldc, const float *A, size_t lda,
    const float *W, size_t ldw, const float *bias, int M, int K, int n0,
    int n1)
{
	double worst = 0;

	for (int m = 0; m < M; m++)
		for (int n = n0; n < n1; n++) {
			double s = bias ? bias[n] : 0, mag = 1e-30 + fabs(s);
			for (int k = 0; k < K; k++) {
				double p = (double)A[m * lda + k] * W[n * ldw + k];
				s += p;
				mag += fabs(p);
			}
			double e = fabs(C[m * ldc + n] - s) / mag;
			worst = e > worst ? e : worst;
		}
	return worst;
}

static void
case_nt(int M, int K, int N, int pad, int with_bias, unsigned seed)
{
	size_t lda = (size_t)K + pad, ldw = (size_t)K + 2 * pad,
	    ldc = (size_t)N + pad;
	float *A = malloc(sizeof(float) * M * lda);
	float *W = malloc(sizeof(float) * N * ldw);
	float *b = malloc(sizeof(float) * N);
	float *C = malloc(sizeof(float) * M * ldc);
	float *C2 = malloc(sizeof(float) * M * ldc);
	int n0 = N > 2 ? 1 : 0, n1 = N, cut = n0 + (n1 - n0) * 2 / 5;

	for (size_t i = 0; i < M * lda; i++)
		A[i] = frand(&seed);
	for (size_t i = 0; i < N * ldw; i++)
		W[i] = frand(&seed);
	for (int i = 0; i < N; i++)
		b[i] = frand(&seed);
	for (size_t i = 0; i < M * ldc; i++)
		C[i] = C2[i] = 1234.5f;
	nn_weight w = {W, QKV_F32, N, (int)ldw};

	nn_gemm(C, (int)ldc, A, (int)lda, &w, 1, with_bias ? b : NULL, M, K,
	    n0, n1, NULL);
	double e = err_of(C, ldc, A, lda, W, ldw, with_bias ? b : NULL, M, K,
	    n0, n1);
	int outside = 0;
	for (int m = 0; m < M; m++)
		for (int n = 0; n < (int)ldc; n++)
			if ((n < n0 || n >= n1) && C[m * ldc + n] != 1234.5f)
				outside = 1;
	ok(e < 1e-6 && !outside, "f32 [out,in] M=%d K=%d N=%d lda+%d%s: columns "
	    "%d..%d, relative error %.2g, nothing else written", M, K, N, pad,
	    with_bias ? " bias" : "", n0, n1 - 1, e);
	nn_gemm(C2, (int)ldc, A, (int)lda, &w, 1, with_bias ? b : NULL, M, K,
	    n0, cut, NULL);
	nn_gemm(C2, (int)ldc, A, (int)lda, &w, 1, with_bias ? b : NULL, M, K,
	    cut, n1, NULL);
	ok(memcmp(C, C2, sizeof(float) * M * ldc) == 0,
	    "f32 [out,in] M=%d K=%d N=%d: split at column %d, the same bits", M, K,
	    N, cut);
	free(A);
	free(W);
	free(b);
	free(C);
	free(C2);
}

/* nn_linear_workers at 1 and 3 workers: the reference, and the same bits */
static void
case_workers(int M, int K, int N, unsigned seed)
{
	float *A = malloc(sizeof(float) * M * K);
	float *W = malloc(sizeof(float) * N * K);
	float *b = malloc(sizeof(float) * N);
	float *C1 = malloc(sizeof(float) * M * N);
	float *C3 = malloc(sizeof(float) * M * N);

	for (int i = 0; i < M * K; i++)
		A[i] = frand(&seed);
	for (int i = 0; i < N * K; i++)
		W[i] = frand(&seed);
	for (int i = 0; i < N; i++)
		b[i] = frand(&seed);
	nn_set_workers(1, NULL);
	nn_linear_workers(C1, A, W, b, M, K, N);
	nn_set_workers(3, NULL);
	nn_linear_workers(C3, A, W, b, M, K, N);
	double e = err_of(C3, N, A, K, W, K, b, M, K, 0, N);
	ok(e < 1e-6 && memcmp(C1, C3, sizeof(float) * M * N) == 0,
	    "nn_linear_workers M=%d K=%d N=%d: relative error %.2g, 1 and 3 "
	    "workers the same bits", M, K, N, e);
	free(A);
	free(W);
	free(b);
	free(C1);
	free(C3);
}

int
main(void)
{
	static const int Ms[] = {1, 2, 3, 4, 5, 6, 7, 11, 13, 16, 25};
	static const int Ks[] = {1, 7, 8, 16, 17, 33, 770, 1040, 2055};
	static const int Ns[] = {1, 3, 4, 5, 9, 31};
	unsigned seed = 1;

	nn_set_threads(1);
	for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
		for (size_t j = 0; j < sizeof Ks / sizeof *Ks; j++)
			case_nt(Ms[i], Ks[j], Ns[(i + j) % 6], (int)(i + j) % 3 *
			    5, (int)(i + j) % 2, seed++);
	case_nt(70, 300, 37, 3, 1, seed++);
	/* inputs copied to a scratch with longer rows (K a multiple of
	 * 256), in blocks of rows when they do not fit */
	case_workers(5, 768, 130, seed++);
	case_workers(19, 512, 65, seed++);
	case_workers(64, 3072, 20, seed++);
	case_workers(37, 8192, 12, seed++);
	case_workers(100, 200, 50, seed++);
	done_testing();
}
