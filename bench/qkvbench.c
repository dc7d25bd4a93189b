/*
 * qkvbench.c - the C half of bench/pack.sh: write and read qkv row streams
 * of a given size, timing only the library (data is generated before the
 * clock starts), and dump the same values raw for the gzip peer.
 *
 *   qkvbench f32 OUT MB DIM LEVEL      rows of vec f32[DIM], about MB MB
 *   qkvbench i32 OUT NTOK IDS LEVEL    rows of ids ragged i32, NTOK tokens
 *                                      cycled from IDS (u32 length, then
 *                                      that many i32 ids, per row)
 *   qkvbench raw-f32 OUT MB DIM        the same values, raw
 *   qkvbench raw-i32 OUT NTOK IDS
 *   qkvbench read IN                   read every row, touching every byte
 *
 * THREADS=n in the environment sets the writer's compression threads.
 *
 * Each prints one line: "MB SECONDS" (MB of values, 10^6 bytes).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qkv.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void
die(const char *what, const qkv_err *e)
{
	fprintf(stderr, "qkvbench: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

/* 64 MiB of embedding-like floats: unit vectors of DIM normal values,
 * as a sentence encoder with normalisation emits them. */
#define POOL (64u << 20)
static float *
f32_pool(int dim, size_t *nrows)
{
	size_t n = POOL / sizeof(float) / (size_t)dim * (size_t)dim;
	float *p = malloc(n * sizeof *p);
	uint64_t s = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < n; i += (size_t)dim) {
		double norm = 0;
		for (int k = 0; k < dim; k++) {
			/* sum of 4 uniforms: close enough to normal */
			double v = 0;
			for (int j = 0; j < 4; j++) {
				s ^= s << 13, s ^= s >> 7, s ^= s << 17;
				v += (double)(s >> 11) / 9007199254740992.0;
			}
			p[i + (size_t)k] = (float)(v - 2);
			norm += (v - 2) * (v - 2);
		}
		for (int k = 0; k < dim; k++)
			p[i + (size_t)k] = (float)(p[i + (size_t)k] / sqrt(norm));
	}
	*nrows = n / (size_t)dim;
	return p;
}

/* The level, and THREADS compression threads if set. */
static void
setup(qkv_writer *w, int level)
{
	const char *t = getenv("THREADS");

	qkv_writer_level(w, level);
	if (t != NULL && *t != '\0')
		qkv_writer_threads(w, atoi(t));
}

/* Rows of token ids read from IDS. */
static unsigned char *ids;
static size_t idslen;

static void
load_ids(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 20;

	if (f == NULL)
		die(path, NULL);
	ids = malloc(cap);
	for (;;) {
		if (idslen == cap)
			ids = realloc(ids, cap *= 2);
		size_t k = fread(ids + idslen, 1, cap - idslen, f);
		if (k == 0)
			break;
		idslen += k;
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	qkv_err e;
	double t0, mb = 0;

	if (argc == 3 && strcmp(argv[1], "read") == 0) {
		qkv_in *in = qkv_in_open(argv[2], &e);
		qkv_reader *r = in ? qkv_reader_open(in, &e) : NULL;
		qkv_cell c[QKV_MAXCOLS];
		unsigned sink = 0;
		int rc;
		if (r == NULL)
			die(argv[2], &e);
		t0 = now();
		while ((rc = qkv_reader_next(r, c, &e)) == 1) {
			for (int i = 0; i < qkv_reader_ncols(r); i++) {
				size_t n = c[i].n * qkv_dtype_size(
				    qkv_reader_col(r, i)->dtype);
				const unsigned char *p = c[i].p;
				for (size_t k = 0; k < n; k += 64)
					sink += p[k];
				mb += (double)n;
			}
		}
		if (rc < 0)
			die(argv[2], &e);
		printf("%.1f %.3f %u\n", mb / 1e6, now() - t0, sink & 1);
		return 0;
	}
	if (argc < 5)
		die("usage", NULL);
	const char *mode = argv[1];
	int raw = strncmp(mode, "raw-", 4) == 0;
	FILE *out = fopen(argv[2], "wb");
	if (out == NULL)
		die(argv[2], NULL);
	int level = raw ? 0 : atoi(argv[argc - 1]);
	qkv_writer *w = NULL;

	if (strcmp(mode + (raw ? 4 : 0), "f32") == 0) {
		double want = atof(argv[3]) * 1e6;
		int dim = atoi(argv[4]);
		size_t pool_rows, rowbytes = (size_t)dim * 4;
		float *pool = f32_pool(dim, &pool_rows);
		qkv_col col = {"vec", QKV_F32, QKV_COL_FIXED, 1, {dim}};
		if (!raw && ((w = qkv_writer_open(out, argv[2], &col, 1, &e)) ==
		    NULL))
			die(argv[2], &e);
		if (w)
			setup(w, level);
		t0 = now();
		for (size_t i = 0; mb < want; i++) {
			const float *row = pool + (i % pool_rows) * (size_t)dim;
			if (raw)
				fwrite(row, 1, rowbytes, out);
			else if (qkv_writer_row(w, &(qkv_cell){row, 0}, &e) < 0)
				die(argv[2], &e);
			mb += (double)rowbytes;
		}
	} else if (strcmp(mode + (raw ? 4 : 0), "i32") == 0) {
		double want = atof(argv[3]);
		size_t at = 0;
		qkv_col col = {"ids", QKV_I32, QKV_COL_RAGGED, 0, {0}};
		load_ids(argv[4]);
		if (!raw && ((w = qkv_writer_open(out, argv[2], &col, 1, &e)) ==
		    NULL))
			die(argv[2], &e);
		if (w)
			setup(w, level);
		t0 = now();
		for (double ntok = 0; ntok < want;) {
			uint32_t n;
			if (at + 4 > idslen)
				at = 0;
			memcpy(&n, ids + at, 4);
			const void *row = ids + at + 4;
			at += 4 + (size_t)n * 4;
			if (raw)
				fwrite(row, 4, n, out);
			else if (qkv_writer_row(w, &(qkv_cell){row, n}, &e) < 0)
				die(argv[2], &e);
			ntok += n;
			mb += 4.0 * n;
		}
	} else
		die(mode, NULL);
	if (w && qkv_writer_close(w, &e) < 0)
		die(argv[2], &e);
	if (fclose(out) != 0)
		die(argv[2], NULL);
	printf("%.1f %.3f\n", mb / 1e6, now() - t0);
	return 0;
}
