/* Fuzz target: the .npy header parser. */
#include "qkv.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	qkv_err e;
	qkv_npy *n = qkv_npy_parse(data, size, "fuzz", &e);

	if (n != NULL) {
		const qkv_tensor *t = qkv_npy_tensor(n);
		const unsigned char *p = t->data;
		if (p < data || p + t->nbytes > data + size ||
		    (uint64_t)qkv_tensor_numel(t) * qkv_dtype_size(t->dtype) !=
		    t->nbytes)
			__builtin_trap();
		qkv_npy_close(n);
	}
	return 0;
}
