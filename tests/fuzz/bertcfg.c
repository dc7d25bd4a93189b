/* Fuzz target: a BERT config.json, as bert_load reads it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bert_config c;
	qkv_err e;
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* an accepted config must give shapes the encoder can use */
	if (bert_config_parse(&c, text, "fuzz", &e) == 0 &&
	    (c.hidden < 1 || c.heads < 1 || c.hidden % c.heads != 0 ||
	    c.vocab < 1 || c.intermediate < 1 || c.max_positions < 1 ||
	    c.type_vocab < 1 || c.layers < 0 || !(c.eps >= 0)))
		__builtin_trap();
	free(text);
	return 0;
}
