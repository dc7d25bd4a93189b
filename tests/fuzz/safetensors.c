/* Fuzz target: the safetensors header parser and data bounds. */
#include <string.h>

#include "qkv.h"

volatile unsigned char fuzz_sink;

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	qkv_err e;
	qkv_st *st = qkv_st_parse(data, size, "fuzz", &e);

	if (st == NULL)
		return 0;
	/* every tensor the parser accepts must lie inside the input */
	for (int i = 0; i < qkv_st_ntensors(st); i++) {
		const qkv_tensor *t = qkv_st_tensor(st, i);
		const unsigned char *p = t->data;
		if (p < data || p + t->nbytes > data + size)
			__builtin_trap();
		for (uint64_t j = 0; j < t->nbytes; j += 64)
			fuzz_sink ^= p[j];	/* touch the data: ASan checks it */
		(void)qkv_st_find(st, t->name);
	}
	qkv_st_close(st);
	return 0;
}
