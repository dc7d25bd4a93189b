/*
 * gemv.c - the one-row products of token generation alone, in GB/s of
 * weights read: nn_matmul with N = 1 over the matrices of a gpt2-size
 * model (12 layers of Conv1D [in, out] weights, then the tied LM head
 * [out, in]), each kind timed apart and the whole token together, in F32,
 * F16 and BF16.  The matrices (about 500 MB in F32) are far larger than
 * the caches, as in sample.  Best of REPS passes.
 *
 *   gemv [workers] [reps] [dtype...]
 *
 * Build: cc -O2 -Ilib -o gemv bench/gemv.c lib/libqkv.a -lopenblas
 *   -lutf8proc -ljansson -lz -lm -lpthread
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qkv.h"

#define L 12
#define C 768
#define V 50257

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *
fill(int dtype, size_t n, unsigned seed)
{
	size_t es = qkv_dtype_size(dtype);
	unsigned char *p = malloc(n * es);

	if (p == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		float f = (float)((seed + i * 2654435761u) % 2001) / 1000.0f - 1;
		uint32_t u;
		memcpy(&u, &f, 4);
		if (dtype == QKV_F32)
			memcpy(p + 4 * i, &f, 4);
		else {
			/* top half of the f32: a BF16; for F16 a value in
			 * range made by shifting the exponent down */
			uint16_t h = dtype == QKV_BF16 ? (uint16_t)(u >> 16) :
			    (uint16_t)(((u >> 16) & 0x8000) |
			    (i % 1024 + 0x3000));
			memcpy(p + 2 * i, &h, 2);
		}
	}
	return p;
}

struct shape {
	const char *name;
	int in, out, trans;
	nn_weight w[L];
	int nw;
	float *b;
};

int
main(int argc, char **argv)
{
	int workers = argc > 1 ? atoi(argv[1]) : 2;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	const char *dts[] = {"f32", "f16", "bf16"};
	int dtv[] = {QKV_F32, QKV_F16, QKV_BF16};
	qkv_err e;

	if (nn_set_workers(workers, &e) < 0)
		return 1;
	nn_set_threads(1);
	float *x = malloc(4 * C * sizeof *x), *y = malloc(V * sizeof *y);
	for (int i = 0; i < 4 * C; i++)
		x[i] = (float)(i % 7) / 7 - 0.5f;
	for (int d = 0; d < 3; d++) {
		int dt = dtv[d], want = argc <= 3;
		for (int a = 3; a < argc; a++)
			want |= strcmp(argv[a], dts[d]) == 0;
		if (!want)
			continue;
		struct shape sh[] = {
			{.name = "attn 768x2304", .in = C, .out = 3 * C, .trans = 0},
			{.name = "proj 768x768", .in = C, .out = C, .trans = 0},
			{.name = "fc 768x3072", .in = C, .out = 4 * C, .trans = 0},
			{.name = "fcproj 3072x768", .in = 4 * C, .out = C, .trans = 0},
			{.name = "head 50257x768", .in = C, .out = V, .trans = 1},
		};
		int ns = sizeof sh / sizeof sh[0];
		for (int s = 0; s < ns; s++) {
			sh[s].nw = sh[s].trans ? 1 : L;
			sh[s].b = calloc(sh[s].out, sizeof(float));
			for (int l = 0; l < sh[s].nw; l++) {
				sh[s].w[l].dtype = dt;
				sh[s].w[l].rows = sh[s].trans ? sh[s].out : sh[s].in;
				sh[s].w[l].cols = sh[s].trans ? sh[s].in : sh[s].out;
				sh[s].w[l].data = fill(dt, (size_t)sh[s].in *
				    sh[s].out, 17u * s + l);
			}
		}
		double tok_best = 1e30, best[8];
		for (int s = 0; s < ns; s++)
			best[s] = 1e30;
		for (int r = 0; r < reps; r++) {
			double t0 = now();
			for (int l = 0; l < L; l++)
				for (int s = 0; s < ns; s++)
					if (!sh[s].trans)
						nn_matmul(y, x, &sh[s].w[l], 0,
						    sh[s].b, 1, sh[s].in,
						    sh[s].out);
			nn_matmul(y, x, &sh[ns - 1].w[0], 1, NULL, 1, C, V);
			double t = now() - t0;
			if (t < tok_best)
				tok_best = t;
			/* each kind alone, over its 12 layers */
			for (int s = 0; s < ns; s++) {
				t0 = now();
				for (int l = 0; l < sh[s].nw; l++)
					nn_matmul(y, x, &sh[s].w[l], sh[s].trans,
					    sh[s].trans ? NULL : sh[s].b, 1,
					    sh[s].in, sh[s].out);
				t = now() - t0;
				if (t < best[s])
					best[s] = t;
			}
		}
		double all = 0;
		for (int s = 0; s < ns; s++) {
			double bytes = (double)sh[s].nw * sh[s].in * sh[s].out *
			    qkv_dtype_size(dt);
			all += bytes;
			printf("%-5s %d workers %-16s %6.1f GB/s %8.3f ms\n",
			    dts[d], workers, sh[s].name, bytes / best[s] / 1e9,
			    best[s] * 1e3);
		}
		printf("%-5s %d workers %-16s %6.1f GB/s %8.3f ms (%.1f tokens/s)\n",
		    dts[d], workers, "token", all / tok_best / 1e9,
		    tok_best * 1e3, 1 / tok_best);
		for (int s = 0; s < ns; s++) {
			for (int l = 0; l < sh[s].nw; l++)
				free((void *)sh[s].w[l].data);
			free(sh[s].b);
		}
	}
	free(x);
	free(y);
	return 0;
}
