/* Fuzz target: text input as every program reads it: lines (qkv_in_line
 * over a file, LF only, a last line without LF, a length limit), each line
 * parsed as token ids (qkv_pt_parse_ids, what embed, sample, nsp and mask
 * read), then the ids decoded by both real tokenizers (tok -d).
 * Properties: the lines put back together are the input; a line is refused
 * as too long exactly when it is; accepted ids are in the vocabulary and
 * print back to what parses to them again; decoding fails exactly on an id
 * with no token; GPT-2 decode, encode (raw bytes) and decode again gives
 * the same bytes.  The first byte picks the line limit and vocabulary size.
 * Runs from the repository root (vocabularies from tests/data/vocab). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qkv.h"

static qkv_tok *wp_tok, *bpe_tok;
static qkv_tokenc *x, *y;

static qkv_tok *
load(const char *path)
{
	static qkv_model *m[2];	/* open for the process */
	static int n;
	qkv_err e;
	qkv_tok *t;

	if ((m[n] = qkv_model_open(path, &e)) == NULL ||
	    (t = qkv_tok_open(m[n++], &e)) == NULL)
		abort();
	return t;
}

static void
decode(const qkv_tok *t, const int32_t *ids, size_t n)
{
	qkv_err e;
	const char *d, *d2;
	size_t dl, dl2, known = 0;
	char *copy;

	for (size_t i = 0; i < n; i++)
		known += ids[i] < qkv_tok_vocab_size(t) &&
		    qkv_tok_token(t, ids[i], &dl) != NULL;
	d = qkv_tok_decode(t, x, ids, n, 0, &dl, &e);
	if ((d != NULL) != (known == n))
		__builtin_trap();
	if (d == NULL || qkv_tok_kind(t) != QKV_TOK_BPE)
		return;
	if ((copy = malloc(dl + 1)) == NULL)
		return;
	memcpy(copy, d, dl);
	if (qkv_tok_encode(t, y, copy, dl, NULL, 0, QKV_TOK_BYTES, 0, &e) < 0 ||
	    (d2 = qkv_tok_decode(t, y, y->ids, y->n, 0, &dl2, &e)) == NULL ||
	    dl2 != dl || memcmp(d2, copy, dl) != 0)
		__builtin_trap();
	free(copy);
}

static int
is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void
line(const char *s, size_t len, size_t nvocab)
{
	static int32_t *ids, *ids2;
	static size_t cap, cap2;
	size_t n = 0, n2 = 0, fields = 0;
	char *buf = NULL;
	size_t blen = 0;
	qkv_err e;
	FILE *f;

	for (size_t i = 0; i < len; i++)
		fields += !is_sep(s[i]) && (i == 0 || is_sep(s[i - 1]));
	if (qkv_pt_parse_ids(s, len, nvocab, &ids, &n, &cap, &e) < 0)
		return;
	if (n != fields)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (nvocab > 0 && (size_t)ids[i] >= nvocab))
			__builtin_trap();
	if ((f = open_memstream(&buf, &blen)) == NULL)
		return;
	qkv_pt_print_ids(f, ids, n);
	fclose(f);
	if (qkv_pt_parse_ids(buf, blen, nvocab, &ids2, &n2, &cap2, &e) < 0 ||
	    n2 != n || (n > 0 && memcmp(ids, ids2, n * sizeof *ids) != 0))
		__builtin_trap();
	free(buf);
	decode(wp_tok, ids, n);
	decode(bpe_tok, ids, n);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const size_t vocabs[] = {0, 1, 1000, 30522, 50257, 2147483647};
	static int fd = -1;
	static char path[64];
	size_t maxlen, nvocab, pos = 0;
	long lines = 0;
	qkv_err e;
	qkv_in *in;
	char *l;
	size_t len;
	int rc;

	if (wp_tok == NULL) {
		wp_tok = load("tests/data/vocab/bert-base-uncased");
		bpe_tok = load("tests/data/vocab/gpt2");
		if ((x = qkv_tokenc_new(&e)) == NULL ||
		    (y = qkv_tokenc_new(&e)) == NULL ||
		    (fd = memfd_create("lines", 0)) < 0)
			abort();
		snprintf(path, sizeof path, "/dev/fd/%d", fd);
	}
	if (size == 0)
		return 0;
	maxlen = data[0] & 0x80 ? (size_t)(data[0] & 0x3f) : (size_t)1 << 20;
	nvocab = vocabs[(data[0] >> 6 & 1) * 3 + data[0] % 3];
	data++;
	size--;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
	    (in = qkv_in_open(path, &e)) == NULL)
		abort();
	while ((rc = qkv_in_line(in, &l, &len, maxlen, &e)) == 1) {
		/* the line is the next bytes of the input, up to a LF or
		 * the end */
		if (len > maxlen || pos + len > size ||
		    memcmp(l, data + pos, len) != 0 ||
		    (pos + len < size && data[pos + len] != '\n') ||
		    memchr(l, '\n', len) != NULL ||
		    qkv_in_lineno(in) != ++lines)
			__builtin_trap();
		pos += len + (pos + len < size);
		line(l, len, nvocab);
	}
	if (rc == 0 && pos != size)
		__builtin_trap();	/* input left unread */
	if (rc < 0) {
		/* only for a line that really is too long */
		const unsigned char *nl = memchr(data + pos, '\n', size - pos);
		size_t ll = nl ? (size_t)(nl - (data + pos)) : size - pos;
		if (ll <= maxlen)
			__builtin_trap();
	}
	qkv_in_close(in);
	return 0;
}
