/* Fuzz target: the qkv row stream reader and the tensor file parser,
 * both on every input (the kind byte steers which one gets far). */
#include <string.h>

#include "qkv.h"

volatile unsigned char fuzz_sink;

static void
touch(const void *p, size_t n)
{
	const unsigned char *b = p;

	/* ASan checks every byte a reader hands out is really there */
	for (size_t i = 0; i < n; i++)
		fuzz_sink ^= b[i];
}

static void
stream(const unsigned char *data, size_t size)
{
	qkv_err e;
	qkv_reader *r = qkv_reader_open_mem(data, size, "fuzz", &e);
	qkv_cell cells[QKV_MAXCOLS];
	size_t len;

	if (r == NULL)
		return;
	for (int i = 0; i < qkv_reader_nmeta(r); i++) {
		const void *v = qkv_reader_meta(r, qkv_reader_meta_key(r, i), &len);
		touch(v, len);
	}
	while (qkv_reader_next(r, cells, &e) == 1) {
		for (int i = 0; i < qkv_reader_ncols(r); i++) {
			const qkv_col *c = qkv_reader_col(r, i);
			size_t es = c->kind == QKV_COL_STRING ? 1 :
			    qkv_dtype_size(c->dtype);
			touch(cells[i].p, cells[i].n * es);
		}
	}
	qkv_reader_close(r);
	/* and once more, skipping chunks as pack -t does */
	if ((r = qkv_reader_open_mem(data, size, "fuzz", &e)) == NULL)
		return;
	while (qkv_reader_skip(r, &e) == 1)
		;
	qkv_reader_close(r);
}

static void
tensors(const unsigned char *data, size_t size)
{
	qkv_err e;
	qkv_file *f = qkv_file_parse(data, size, "fuzz", &e);
	size_t len;

	if (f == NULL)
		return;
	for (int i = 0; i < qkv_file_ntensors(f); i++) {
		const qkv_tensor *t = qkv_file_tensor(f, i);
		const unsigned char *p = t->data;
		if (p < data || p + t->nbytes > data + size ||
		    (uint64_t)qkv_tensor_numel(t) * qkv_dtype_size(t->dtype) !=
		    t->nbytes || (p - data) % 64 != 0 ||
		    qkv_file_find(f, t->name) != t)
			__builtin_trap();
		touch(p, (size_t)t->nbytes);
	}
	for (int i = 0; i < qkv_file_nmeta(f); i++) {
		const void *v = qkv_file_meta(f, qkv_file_meta_key(f, i), &len);
		touch(v, len);
	}
	qkv_file_verify(f, &e);
	qkv_file_close(f);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	stream(data, size);
	tensors(data, size);
	return 0;
}
