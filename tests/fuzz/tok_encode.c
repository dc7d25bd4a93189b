/* Fuzz target: the tokenizers' text paths (UTF-8 decoding and repair,
 * added-token splitting, the BERT normalizer's fast and general paths,
 * the GPT-2 pre-tokenizer and merges, truncation, pairs, offsets, decode).
 * The first input byte chooses the flags; the rest is the text, a TAB in
 * it making a pair.  Runs from the repository root (the vocabularies are
 * read from tests/data/vocab). */
#include <stdlib.h>
#include <string.h>

#include "tokint.h"

static qkv_tok *bert_tok, *gpt2_tok;
static qkv_model *models[2];
static qkv_tokenc *x, *y;

static qkv_tok *
load(const char *path, int i)
{
	qkv_err e;
	qkv_tok *t;

	/* both stay open (and reachable) for the life of the process */
	models[i] = qkv_model_open(path, &e);
	t = models[i] ? qkv_tok_open(models[i], &e) : NULL;
	if (t == NULL)
		abort();
	return t;
}

static void
check(const qkv_tok *t, const unsigned char *s, size_t n, int flags,
    size_t maxlen)
{
	qkv_err e;
	const char *tab = memchr(s, '\t', n), *d;
	size_t an = tab ? (size_t)(tab - (const char *)s) : n, dl;

	if (qkv_tok_encode(t, x, (const char *)s, an, tab ? tab + 1 : NULL,
	    tab ? n - an - 1 : 0, flags, maxlen, &e) < 0)
		return;
	for (size_t i = 0; i < x->n; i++) {
		if (x->ids[i] < 0 || x->ids[i] >= qkv_tok_vocab_size(t))
			__builtin_trap();
		if ((flags & QKV_TOK_OFFSETS) && (x->offs[2 * i] >
		    x->offs[2 * i + 1] || x->offs[2 * i + 1] > n))
			__builtin_trap();
	}
	if ((d = qkv_tok_decode(t, x, x->ids, x->n, 0, &dl, &e)) == NULL)
		__builtin_trap();
	/* byte-level BPE with raw bytes gives the text back exactly */
	if (qkv_tok_kind(t) == QKV_TOK_BPE && (flags & QKV_TOK_BYTES) &&
	    !tab && maxlen == 0 && (dl != n || memcmp(d, s, n) != 0))
		__builtin_trap();
	/* the BERT normalizer's table path equals its general path */
	if (qkv_tok_kind(t) == QKV_TOK_WORDPIECE && !tab) {
		wp_force_general = 1;
		int rc = qkv_tok_encode(t, y, (const char *)s, n, NULL, 0,
		    flags, maxlen, &e);
		wp_force_general = 0;
		if (rc < 0 || y->n != x->n ||
		    memcmp(y->ids, x->ids, x->n * sizeof *x->ids) != 0)
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	qkv_err e;
	int flags;

	if (bert_tok == NULL) {
		bert_tok = load("tests/data/vocab/bert-base-uncased", 0);
		gpt2_tok = load("tests/data/vocab/gpt2", 1);
		if ((x = qkv_tokenc_new(&e)) == NULL ||
		    (y = qkv_tokenc_new(&e)) == NULL)
			abort();
	}
	if (size == 0)
		return 0;
	flags = data[0] & (QKV_TOK_SPECIALS | QKV_TOK_PLAIN | QKV_TOK_BYTES |
	    QKV_TOK_OFFSETS);
	check(bert_tok, data + 1, size - 1, flags, data[0] & 0x80 ? 7 : 0);
	check(gpt2_tok, data + 1, size - 1, flags, data[0] & 0x80 ? 7 : 0);
	return 0;
}
