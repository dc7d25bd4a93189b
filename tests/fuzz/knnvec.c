/* Fuzz target: text vectors (knn_parse_vec), then a search with the vector
 * parsed, so odd values (huge, subnormal, zero) go through scoring too. */
#include <string.h>

#include "qkv.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	float v[16], x[3 * 16];
	knn_hit h[2 * 3];
	qkv_err e;
	int dim;

	if (size < 1)
		return 0;
	dim = data[0] % 16 + 1;
	if (knn_parse_vec((const char *)data + 1, size - 1, v, dim, &e) < 0)
		return 0;
	for (int i = 0; i < 3 * dim; i++)
		x[i] = (float)(i % 5) - 2;
	for (int m = KNN_COS; m <= KNN_L2; m++)
		if (knn_topk(x, 3, v, 1, dim, m, 2, h, &e) != 2 ||
		    h[0].row == h[1].row || h[0].row < 0 || h[0].row > 2)
			__builtin_trap();
	return 0;
}
