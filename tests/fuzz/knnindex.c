/* Fuzz target: nearest's binary inputs.  The bytes as an index file (a
 * qkv vector stream, a qkv tensor file or a .npy file: knn_index_open),
 * searched twice (a stream is read again for each search), and as a query
 * stream (a qkv stream's float column read as nearest reads its stdin).
 * Properties: at most k hits per query, rows distinct and in order of
 * score, each hit's text (when there is one) readable.  The first byte
 * picks k and the metric.  Text vectors: see knnvec.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qkv.h"

volatile unsigned char fuzz_sink;

static void
search(knn_index *ix, int k, int metric)
{
	int dim = knn_index_dim(ix), nq = 2, nh;
	float *q = malloc((size_t)nq * dim * sizeof *q);
	knn_hit *h = malloc((size_t)nq * k * sizeof *h);
	qkv_err e;

	if (q == NULL || h == NULL)
		goto out;
	for (int i = 0; i < nq * dim; i++)
		q[i] = (float)(i % 7) - 3;
	for (int pass = 0; pass < 2; pass++) {
		if ((nh = knn_index_search(ix, q, nq, metric, k, h, &e)) < 0)
			break;
		if (nh > k)
			__builtin_trap();
		for (int i = 0; i < nq; i++)
			for (int j = 0; j < nh; j++) {
				const knn_hit *a = &h[i * k + j];
				const char *t;
				size_t len;
				if (a->row < 0 || (j > 0 && a->row ==
				    h[i * k + j - 1].row))
					__builtin_trap();
				if ((t = knn_index_text(ix, a->row, &len)) != NULL)
					for (size_t c = 0; c < len; c++)
						fuzz_sink ^= t[c];
			}
	}
out:
	free(q);
	free(h);
}

static void
queries(const unsigned char *data, size_t size)
{
	qkv_err e;
	qkv_reader *r = qkv_reader_open_mem(data, size, "fuzz", &e);
	qkv_cell cells[QKV_MAXCOLS];
	int dim = 0, c;
	float *v;

	if (r == NULL)
		return;
	if ((c = knn_vec_col(r, "vec", &dim, "fuzz", &e)) >= 0 &&
	    (v = malloc((size_t)dim * sizeof *v)) != NULL) {
		while (qkv_reader_next(r, cells, &e) == 1) {
			if (cells[c].n != (size_t)dim)
				__builtin_trap();
			qkv_to_f32(v, cells[c].p, qkv_reader_col(r, c)->dtype,
			    (size_t)dim);
			for (int i = 0; i < dim; i++)
				fuzz_sink ^= isfinite(v[i]);
		}
		free(v);
	}
	qkv_reader_close(r);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	char *paths[1] = {path};
	knn_index *ix;
	qkv_err e;

	if (fd < 0) {
		if ((fd = memfd_create("index", 0)) < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (size < 1)
		return 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data + 1, size - 1, 0) !=
	    (ssize_t)(size - 1))
		abort();
	if ((ix = knn_index_open(paths, 1, "vec", &e)) != NULL) {
		search(ix, data[0] % 5 + 1, data[0] / 5 % 3);
		knn_index_close(ix);
	}
	queries(data + 1, size - 1);
	return 0;
}
