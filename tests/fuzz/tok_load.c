/* Fuzz target: loading a tokenizer from untrusted files (vocab.txt,
 * vocab.json with merges.txt, tokenizer.json, tokenizer_config.json),
 * then encoding and decoding with whatever loads.  The input is files
 * separated by a NUL byte, named by the first byte's choice of layout. */
#include <string.h>

#include "tokint.h"

static const char *const layouts[][3] = {
	{"vocab.txt", "tokenizer_config.json", NULL},
	{"vocab.json", "merges.txt", "tokenizer_config.json"},
	{"tokenizer.json", "tokenizer_config.json", NULL},
	{"tokenizer.json", NULL, NULL},
};

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *bufs[3], *const *names;
	size_t lens[3], dl;
	int n = 0;
	qkv_err e;
	qkv_tok *t;
	qkv_tokenc *x;
	static const char text[] = "Hello, [MASK] w\xc3\xb6rld!<|endoftext|> "
	    "\xe4\xb8\xad\xe6\x96\x87 don't \xff 12345";

	if (size == 0)
		return 0;
	names = layouts[data[0] % 4];
	data++;
	size--;
	while (n < 3 && names[n] != NULL) {
		const unsigned char *z = memchr(data, 0, size);
		size_t l = z ? (size_t)(z - data) : size;
		bufs[n] = (const char *)data;
		lens[n] = l;
		n++;
		data += z ? l + 1 : l;
		size -= z ? l + 1 : l;
	}
	if ((t = tok_open_mem(names, bufs, lens, n, &e)) == NULL)
		return 0;
	if ((x = qkv_tokenc_new(&e)) != NULL) {
		for (int f = 0; f < 16; f++)
			if (qkv_tok_encode(t, x, text, sizeof text - 1,
			    f & 1 ? "pair" : NULL, 4, f, f & 8 ? 5 : 0, &e) == 0)
				(void)qkv_tok_decode(t, x, x->ids, x->n, 0, &dl,
				    &e);
		qkv_tokenc_free(x);
	}
	for (int r = 0; r < QKV_TOK_NROLES; r++)
		(void)qkv_tok_special(t, r);
	qkv_tok_close(t);
	return 0;
}
