/* Fuzz target: a GPT-2 config.json, as gpt2_open reads it. */
#include <stdint.h>
#include <stddef.h>

#include "qkv.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gpt2_config c;
	qkv_err e;

	if (gpt2_parse_config(&c, (const char *)data, size, &e) == 0 &&
	    (c.n_embd % c.n_head != 0 || c.n_embd < 1))
		__builtin_trap();	/* a shape that should have been refused */
	return 0;
}
