/* Fuzz target: the qkv model-file loader, as every program meets it: the
 * bytes as a file (`pack -i` output) opened by qkv_model_open, then used
 * (exercise.h).  Seeds: tests/fuzz/mkseeds_model.py. */
#include <sys/mman.h>
#include <unistd.h>

#include "exercise.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	qkv_model *m;
	qkv_err e;

	if (fd < 0) {
		if ((fd = memfd_create("model.qkv", 0)) < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	/* only the qkv model file path: other bytes are a tokenizer file
	 * by name, which tok_load fuzzes */
	if (size < 4 || memcmp(data, QKV_MAGIC, 4) != 0)
		return 0;
	if ((m = qkv_model_open(path, &e)) == NULL)
		return 0;
	exercise(m);
	qkv_model_close(m);
	return 0;
}
