/*
 * sgemm.c - the ceiling for bench/embed.sh: OpenBLAS sgemm GFLOP/s on the
 * encoder's largest product, (M,K) x (N,K)^T as a Linear layer computes
 * it, with OpenBLAS's own threads (OPENBLAS_NUM_THREADS); best of a few
 * seconds of runs.  With a fourth argument, qkv's own product of the same
 * shape instead (nn_matmul_many, packed panels, on THREADS workers).
 *
 *   sgemm M N K [THREADS]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "qkv.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void
product(int qkv, float *c, const float *a, const float *b, int M, int N,
    int K)
{
	nn_weight w = {b, QKV_F32, N, K};

	if (qkv)
		nn_matmul_many(c, N, a, K, &w, 1, NULL, M, K, N, NN_ACT_NONE);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1,
		    a, K, b, K, 0, c, N);
}

int
main(int argc, char **argv)
{
	if (argc != 4 && argc != 5)
		return 2;
	int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]);
	int qkv = argc == 5;
	float *a = malloc(sizeof *a * M * K), *b = malloc(sizeof *b * N * K);
	float *c = malloc(sizeof *c * M * N);
	double best = 1e30, start;

	if (a == NULL || b == NULL || c == NULL ||
	    (qkv && nn_set_workers(atoi(argv[4]), NULL) < 0))
		return 1;
	for (long i = 0; i < (long)M * K; i++)
		a[i] = (float)(i % 17) / 17 - 0.5f;
	for (long i = 0; i < (long)N * K; i++)
		b[i] = (float)(i % 13) / 13 - 0.5f;
	product(qkv, c, a, b, M, N, K);
	start = now();
	for (int n = 0; n < 3 || (now() - start < 3 && n < 100); n++) {
		double t0 = now();
		product(qkv, c, a, b, M, N, K);
		double t = now() - t0;
		best = t < best ? t : best;
	}
	printf("%.1f\n", 2.0 * M * N * K / best / 1e9);
	free(a);
	free(b);
	free(c);
	return 0;
}
