/*
 * qkvfile.c - unit tests of the qkv format library (lib/qkvfile.c).
 *
 * With no arguments: round trips of row streams and tensor files, and
 * damage of every kind (every truncation, every flipped byte, crafted
 * records).  With arguments it is the C side of the Python round trip
 * (tests/format.t):
 *   qkvfile gen STREAM TENSORS   write the sample stream and tensor file
 *   qkvfile check STREAM TENSORS read files (written by formats/qkv.py)
 *                                and compare them with the same sample
 * The sample is defined here and in tests/format.t alike.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "qkv.h"
#include "tap.h"

/* ---- the sample ------------------------------------------------------- */

enum { C_IDS, C_TEXT, C_VEC, C_LABEL, C_H, C_B, C_BF, C_D, NCOLS };
#define NROWS 3000

static qkv_col cols[NCOLS] = {
	{"ids", QKV_I32, QKV_COL_RAGGED, 0, {0}},
	{"text", QKV_STR, QKV_COL_STRING, 0, {0}},
	{"vec", QKV_F32, QKV_COL_FIXED, 2, {3, 2}},
	{"label", QKV_I64, QKV_COL_FIXED, 0, {0}},
	{"h", QKV_F16, QKV_COL_FIXED, 1, {2}},
	{"b", QKV_U8, QKV_COL_RAGGED, 0, {0}},
	{"bf", QKV_BF16, QKV_COL_FIXED, 0, {0}},
	{"d", QKV_F64, QKV_COL_RAGGED, 0, {0}},
};

/* Row i of the sample, into storage s; cells point into s. */
struct row {
	int32_t ids[13];
	char text[64];
	float vec[6];
	int64_t label;
	uint16_t h[2];
	uint8_t b[3];
	uint16_t bf;
	double d[2];
};

static void
sample_row(long i, struct row *s, qkv_cell *c)
{
	size_t n;

	c[C_IDS].n = (size_t)(i * 7 % 13);
	for (size_t j = 0; j < c[C_IDS].n; j++)
		s->ids[j] = (int32_t)((i * 31 + (long)j * 17) % 50257 - 100);
	c[C_IDS].p = s->ids;
	n = (size_t)snprintf(s->text, sizeof s->text, "row %ld", i);
	for (long k = 0; k < i % 4; k++)
		n += (size_t)snprintf(s->text + n, sizeof s->text - n, "\xc3\xa9");
	if (i % 5 == 0)
		s->text[n++] = '\n';
	c[C_TEXT].p = s->text;
	c[C_TEXT].n = n;
	for (int k = 0; k < 6; k++)
		s->vec[k] = (float)(i * 6 + k) * 0.25f - 7.0f;
	c[C_VEC].p = s->vec;
	s->label = (int64_t)i * i * 1000003 - 5;
	c[C_LABEL].p = &s->label;
	for (int k = 0; k < 2; k++)
		s->h[k] = (uint16_t)(0x3c00 + (i + k) % 1024);
	c[C_H].p = s->h;
	c[C_B].n = (size_t)(i % 3);
	for (size_t j = 0; j < c[C_B].n; j++)
		s->b[j] = (uint8_t)((i + (long)j) & 255);
	c[C_B].p = s->b;
	s->bf = (uint16_t)(0x3f80 + i % 128);
	c[C_BF].p = &s->bf;
	c[C_D].n = (size_t)(i % 2);
	for (size_t j = 0; j < c[C_D].n; j++)
		s->d[j] = (double)i + (double)j / 4;
	c[C_D].p = s->d;
}

/* Does a row read back equal sample row i?  Returns the first bad column,
 * or -1. */
static int
row_differs(long i, const qkv_cell *got)
{
	struct row s;
	qkv_cell want[NCOLS];

	sample_row(i, &s, want);
	for (int k = 0; k < NCOLS; k++) {
		size_t es = cols[k].kind == QKV_COL_STRING ? 1 :
		    qkv_dtype_size(cols[k].dtype), n = want[k].n;
		if (cols[k].kind == QKV_COL_FIXED) {
			n = 1;
			for (int d = 0; d < cols[k].ndim; d++)
				n *= (size_t)cols[k].shape[d];
		}
		if (got[k].n != n || memcmp(got[k].p, want[k].p, n * es) != 0)
			return k;
		/* cells are aligned for their dtype */
		if ((uintptr_t)got[k].p % es != 0)
			return k;
	}
	return -1;
}

static int threads = -1;	/* -1: the library's default */

static int
write_sample(FILE *f, int level, size_t chunk, long nrows, qkv_err *e)
{
	qkv_writer *w = qkv_writer_open(f, "sample", cols, NCOLS, e);
	struct row s;
	qkv_cell c[NCOLS];

	if (w == NULL)
		return -1;
	if (threads >= 0)
		qkv_writer_threads(w, threads);
	qkv_writer_level(w, level);
	qkv_writer_chunk(w, chunk);
	if (qkv_writer_meta(w, "model", "test", 4, e) < 0 ||
	    qkv_writer_meta(w, "empty", "", 0, e) < 0)
		goto fail;
	for (long i = 0; i < nrows; i++) {
		sample_row(i, &s, c);
		if (qkv_writer_row(w, c, e) < 0)
			goto fail;
		if (i == 10 && qkv_writer_flush(w, e) < 0)
			goto fail;
	}
	return qkv_writer_close(w, e);
fail:
	qkv_writer_free(w);
	return -1;
}

/* Read a whole sample stream; returns rows read and equal, -1 on error
 * (message in e), -2 on a value mismatch. */
static long
read_sample(qkv_reader *r, qkv_err *e)
{
	qkv_cell c[NCOLS];
	long i = 0;
	int rc;

	if (qkv_reader_ncols(r) != NCOLS)
		return -2;
	for (int k = 0; k < NCOLS; k++) {
		const qkv_col *col = qkv_reader_col(r, k);
		if (strcmp(col->name, cols[k].name) != 0 ||
		    col->dtype != cols[k].dtype || col->kind != cols[k].kind ||
		    col->ndim != cols[k].ndim ||
		    memcmp(col->shape, cols[k].shape,
		    (size_t)col->ndim * sizeof col->shape[0]) != 0)
			return -2;
	}
	while ((rc = qkv_reader_next(r, c, e)) == 1) {
		int bad = row_differs(i, c);
		if (bad >= 0) {
			fprintf(stderr, "row %ld column %s differs\n", i,
			    cols[bad].name);
			return -2;
		}
		i++;
	}
	return rc < 0 ? -1 : i;
}

/* The whole output of f as memory. */
static unsigned char *
slurp(FILE *f, size_t *len)
{
	long n;
	unsigned char *p;

	fflush(f);
	n = ftell(f);
	p = malloc((size_t)n + 1);
	rewind(f);
	if (fread(p, 1, (size_t)n, f) != (size_t)n)
		abort();
	*len = (size_t)n;
	return p;
}

static unsigned char *
stream_bytes(int level, size_t chunk, long nrows, size_t *len)
{
	FILE *f = tmpfile();
	qkv_err e;
	unsigned char *p;

	if (write_sample(f, level, chunk, nrows, &e) < 0) {
		printf("# %s\n", e.msg);
		abort();
	}
	p = slurp(f, len);
	fclose(f);
	return p;
}

/* ---- tensors of the sample -------------------------------------------- */

#define NT 11
static struct {
	const char *name;
	int dtype, ndim;
	int64_t shape[3];
} tens[NT] = {
	{"a.f32", QKV_F32, 2, {3, 5}},
	{"b.i64", QKV_I64, 3, {2, 2, 2}},
	{"c.u8", QKV_U8, 1, {7}},
	{"scalar", QKV_F64, 0, {0}},
	{"empty", QKV_I32, 2, {0, 4}},
	{"h", QKV_F16, 1, {4}},
	{"bf", QKV_BF16, 1, {3}},
	{"i8", QKV_I8, 1, {5}},
	{"u16", QKV_U16, 1, {3}},
	{"i16", QKV_I16, 1, {3}},
	{"i32", QKV_I32, 1, {4}},
};

/* Element k of tensor t, as bytes into out; returns its size. */
static size_t
tensor_elem(int t, long k, void *out)
{
	switch (t) {
	case 0: { float v = (float)k * 0.5f - 3; memcpy(out, &v, 4); return 4; }
	case 1: { int64_t v = k * -123456789012LL; memcpy(out, &v, 8); return 8; }
	case 2: { uint8_t v = (uint8_t)(k * 37 & 255); memcpy(out, &v, 1); return 1; }
	case 3: { double v = 3.25; memcpy(out, &v, 8); return 8; }
	case 4: return 4;
	case 5: { uint16_t v = (uint16_t)(0x3c00 + k); memcpy(out, &v, 2); return 2; }
	case 6: { uint16_t v = (uint16_t)(0x4000 + k); memcpy(out, &v, 2); return 2; }
	case 7: { int8_t v = (int8_t)(k - 2); memcpy(out, &v, 1); return 1; }
	case 8: { uint16_t v = (uint16_t)(65535 - k); memcpy(out, &v, 2); return 2; }
	case 9: { int16_t v = (int16_t)(-k * 1000); memcpy(out, &v, 2); return 2; }
	case 10: { int32_t v = (int32_t)(k * 100000 - 7); memcpy(out, &v, 4); return 4; }
	}
	abort();
}

static long
tensor_numel(int t)
{
	long n = 1;
	for (int d = 0; d < tens[t].ndim; d++)
		n *= tens[t].shape[d];
	return n;
}

static size_t
tensor_data(int t, unsigned char *buf)
{
	size_t n = 0;
	for (long k = 0; k < tensor_numel(t); k++)
		n += tensor_elem(t, k, buf + n);
	return n;
}

static const char config[] = "{\"a\": 1}";

static int
write_tensors(FILE *f, qkv_err *e)
{
	qkv_twriter *w = qkv_twriter_open(f, "tensors", e);
	unsigned char buf[256];

	if (w == NULL)
		return -1;
	if (qkv_twriter_meta(w, "file:config.json", config, strlen(config),
	    e) < 0 || qkv_twriter_meta(w, "note", "x", 1, e) < 0)
		goto fail;
	for (int t = 0; t < NT; t++) {
		size_t n = tensor_data(t, buf);
		if (qkv_twriter_tensor(w, tens[t].name, tens[t].dtype,
		    tens[t].ndim, tens[t].shape, buf, n, e) < 0)
			goto fail;
	}
	return qkv_twriter_close(w, e);
fail:
	qkv_twriter_free(w);
	return -1;
}

/* 0 if f holds exactly the sample tensors and metadata. */
static int
check_tensors(const qkv_file *f)
{
	unsigned char buf[256];
	size_t len;
	const char *m;

	if (qkv_file_ntensors(f) != NT || qkv_file_nmeta(f) != 2)
		return -1;
	for (int t = 0; t < NT; t++) {
		const qkv_tensor *q = qkv_file_find(f, tens[t].name);
		size_t n = tensor_data(t, buf);
		if (q == NULL || q != qkv_file_tensor(f, t) ||
		    strcmp(q->name, tens[t].name) != 0 ||
		    q->dtype != tens[t].dtype || q->ndim != tens[t].ndim ||
		    memcmp(q->shape, tens[t].shape,
		    (size_t)q->ndim * sizeof q->shape[0]) != 0 ||
		    q->nbytes != n || memcmp(q->data, buf, n) != 0 ||
		    qkv_file_offset(f, t) % 64 != 0 ||
		    qkv_file_crc(f, t) != qkv_crc32(0, buf, n))
			return -1;
	}
	m = qkv_file_meta(f, "file:config.json", &len);
	if (m == NULL || len != strlen(config) || memcmp(m, config, len) != 0)
		return -1;
	m = qkv_file_meta(f, "note", &len);
	if (m == NULL || len != 1 || *m != 'x' ||
	    qkv_file_meta(f, "nope", &len) != NULL)
		return -1;
	return 0;
}

/* ---- crafting damaged files -------------------------------------------- */

/* Append a record with a correct CRC to b. */
static size_t
put_record(unsigned char *b, const char *tag, const void *body, uint32_t len)
{
	uint32_t crc;

	memcpy(b, tag, 4);
	memcpy(b + 4, &len, 4);
	memcpy(b + 8, body, len);
	crc = qkv_crc32(0, b, 8 + (size_t)len);
	memcpy(b + 8 + len, &crc, 4);
	return 12 + (size_t)len;
}

static const unsigned char pre_s[8] = {0x89, 'Q', 'K', 'V', 1, 'S', 0, 0};

/* A stream: the preamble, a HEAD of one column (kind, dtype, ndim, dims),
 * then a CHNK body as given, then END (rows, 1). */
static size_t
craft_stream(unsigned char *b, int kind, int dtype, int ndim,
    const uint64_t *dims, const void *chunk, uint32_t clen, uint64_t rows)
{
	unsigned char h[128];
	size_t n = 0, o;
	uint32_t one = 1, zero = 0;
	uint64_t end[2] = {rows, chunk ? 1 : 0};

	memcpy(h, &one, 4);
	memcpy(h + 4, &zero, 4);
	n = 8;
	h[n++] = 1;
	h[n++] = 'x';
	h[n++] = (unsigned char)kind;
	h[n++] = (unsigned char)dtype;
	h[n++] = (unsigned char)ndim;
	memcpy(h + n, dims, (size_t)ndim * 8);
	n += (size_t)ndim * 8;
	memcpy(b, pre_s, 8);
	o = 8 + put_record(b + 8, "HEAD", h, (uint32_t)n);
	if (chunk != NULL)
		o += put_record(b + o, "CHNK", chunk, clen);
	o += put_record(b + o, "END ", end, 16);
	return o;
}

/* A chunk body of one block. */
static uint32_t
craft_chunk(unsigned char *b, uint32_t nrows, int codec, const void *content,
    uint32_t ulen, const void *data, uint32_t clen)
{
	uint32_t crc = content ? qkv_crc32(0, content, ulen) : 0;

	memcpy(b, &nrows, 4);
	memset(b + 4, 0, 4);
	b[4] = (unsigned char)codec;
	memcpy(b + 8, &ulen, 4);
	memcpy(b + 12, &clen, 4);
	memcpy(b + 16, &crc, 4);
	memcpy(b + 20, data, clen);
	return 20 + clen;
}

/* Read the whole stream in memory; returns 0 clean, -1 error. */
static int
read_all(const void *p, size_t len, qkv_err *e)
{
	qkv_reader *r = qkv_reader_open_mem(p, len, "t.qkv", e);
	qkv_cell c[QKV_MAXCOLS];
	int rc;

	if (r == NULL)
		return -1;
	while ((rc = qkv_reader_next(r, c, e)) == 1)
		;
	qkv_reader_close(r);
	return rc;
}

static int
has(const qkv_err *e, const char *s)
{
	if (strstr(e->msg, s) != NULL)
		return 1;
	printf("# message: %s\n", e->msg);
	return 0;
}

static void
test_crafted(void)
{
	unsigned char b[4096], ch[1024], z[1024];
	uint64_t dims[QKV_MAXDIM + 1] = {0};
	qkv_err e;
	size_t n;
	uint32_t cl;
	uLongf zl;

	/* the example of formats/qkv.md, section 8 */
	{
		unsigned char h[24] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 'x', 0, 1, 0,
		    1, 'k', 1, 0, 0, 0, 'v'};
		unsigned char v[2] = {1, 2};
		uint64_t end[2] = {2, 1};
		memcpy(b, pre_s, 8);
		n = 8 + put_record(b + 8, "HEAD", h, 20);
		cl = craft_chunk(ch, 2, 0, v, 2, v, 2);
		n += put_record(b + n, "CHNK", ch, cl);
		n += put_record(b + n, "END ", end, 16);
		qkv_reader *r = qkv_reader_open_mem(b, n, "ex", &e);
		qkv_cell c[1];
		size_t ml;
		const char *m = r ? qkv_reader_meta(r, "k", &ml) : NULL;
		int ok1 = r && m && ml == 1 && *m == 'v' &&
		    qkv_reader_next(r, c, &e) == 1 && c[0].n == 1 &&
		    *(const uint8_t *)c[0].p == 1 &&
		    qkv_reader_next(r, c, &e) == 1 &&
		    *(const uint8_t *)c[0].p == 2 &&
		    qkv_reader_next(r, c, &e) == 0;
		ok(ok1, "the example of the specification reads as 2 rows");
		qkv_reader_close(r);

		/* the writer at level 0 writes exactly these bytes */
		FILE *f = tmpfile();
		qkv_col x = {"x", QKV_U8, QKV_COL_FIXED, 0, {0}};
		qkv_writer *w = qkv_writer_open(f, "ex", &x, 1, &e);
		size_t wl;
		qkv_writer_level(w, 0);
		qkv_writer_meta(w, "k", "v", 1, &e);
		qkv_writer_row(w, &(qkv_cell){v, 1}, &e);
		qkv_writer_row(w, &(qkv_cell){v + 1, 1}, &e);
		qkv_writer_close(w, &e);
		unsigned char *wb = slurp(f, &wl);
		ok(wl == n && memcmp(wb, b, n) == 0,
		    "the writer writes the example byte for byte");
		free(wb);
		fclose(f);
	}

	dims[0] = 4;
	n = craft_stream(b, QKV_COL_FIXED, QKV_F32, 1, dims, NULL, 0, 0);
	ok(read_all(b, n, &e) == 0, "crafted empty stream reads cleanly");

	/* huge declared dims: product overflows, or a row beyond 2^30 */
	dims[0] = 1ull << 62;
	dims[1] = 1ull << 62;
	n = craft_stream(b, QKV_COL_FIXED, QKV_F32, 2, dims, NULL, 0, 0);
	ok(read_all(b, n, &e) < 0 && has(&e, "shape too big"),
	    "overflowing dims are refused");
	dims[0] = 1ull << 29;
	n = craft_stream(b, QKV_COL_FIXED, QKV_F32, 1, dims, NULL, 0, 0);
	ok(read_all(b, n, &e) < 0 && has(&e, "shape too big"),
	    "a 2 GiB row is refused");
	dims[0] = (uint64_t)-1;		/* negative as i64 */
	n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 1, dims, NULL, 0, 0);
	ok(read_all(b, n, &e) < 0 && has(&e, "shape too big"),
	    "a negative dimension is refused");
	n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 9, dims, NULL, 0, 0);
	ok(read_all(b, n, &e) < 0 && has(&e, "9 dimensions"),
	    "9 dimensions are refused");
	n = craft_stream(b, QKV_COL_FIXED, QKV_STR, 0, dims, NULL, 0, 0);
	ok(read_all(b, n, &e) < 0 && has(&e, "bad dtype"),
	    "a fixed string column is refused");
	n = craft_stream(b, 7, QKV_U8, 0, dims, NULL, 0, 0);
	ok(read_all(b, n, &e) < 0 && has(&e, "unknown kind"),
	    "an unknown column kind is refused");

	/* zip bomb: a few bytes claiming a gigabyte */
	{
		unsigned char c8[8] = {0};
		dims[0] = 1;
		cl = craft_chunk(ch, 1u << 24, 1, NULL, 1u << 24, c8, 8);
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 1, dims, ch, cl,
		    1u << 24);
		ok(read_all(b, n, &e) < 0 && has(&e, "cannot hold"),
		    "a block claiming more than 1032:1 is refused");
	}
	/* rows: 0 and too many */
	{
		unsigned char v = 0;
		cl = craft_chunk(ch, 0, 0, &v, 0, &v, 0);
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, ch, cl, 0);
		ok(read_all(b, n, &e) < 0 && has(&e, "0 rows"),
		    "a chunk of 0 rows is refused");
		cl = craft_chunk(ch, 0x80000000u, 0, &v, 0, &v, 0);
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 1, dims, ch, cl, 0);
		ok(read_all(b, n, &e) < 0 && has(&e, "2147483648 rows"),
		    "a chunk of 2^31 rows is refused");
	}
	/* ragged lengths that overflow or disagree with the content */
	{
		uint32_t cnt[3] = {0xffffffffu, 0xffffffffu, 2};
		unsigned char content[20];
		memcpy(content, cnt, 12);
		memset(content + 12, 7, 8);
		cl = craft_chunk(ch, 3, 0, content, 20, content, 20);
		n = craft_stream(b, QKV_COL_RAGGED, QKV_I32, 0, dims, ch, cl, 3);
		ok(read_all(b, n, &e) < 0 && has(&e, "do not add up"),
		    "huge ragged lengths are refused");
		zl = sizeof z;
		compress2(z, &zl, content, 20, 6);
		cl = craft_chunk(ch, 3, 2, content, 20, z, (uint32_t)zl);
		n = craft_stream(b, QKV_COL_STRING, QKV_STR, 0, dims, ch, cl, 3);
		ok(read_all(b, n, &e) < 0 && has(&e, "bad codec"),
		    "a shuffled string column is refused");
		cl = craft_chunk(ch, 6, 0, content, 20, content, 20);
		n = craft_stream(b, QKV_COL_RAGGED, QKV_I32, 0, dims, ch, cl, 6);
		ok(read_all(b, n, &e) < 0 && has(&e, "cannot hold 6 row"),
		    "a ragged block too short for its lengths is refused");
	}
	/* zlib data that inflates to less or more than it says */
	{
		unsigned char content[64];
		memset(content, 3, sizeof content);
		zl = sizeof z;
		compress2(z, &zl, content, 64, 6);
		cl = craft_chunk(ch, 32, 1, content, 32, z, (uint32_t)zl);
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, ch, cl, 32);
		ok(read_all(b, n, &e) < 0 && has(&e, "bad zlib data"),
		    "zlib data longer than ulen is refused");
		zl = sizeof z;
		compress2(z, &zl, content, 16, 6);
		cl = craft_chunk(ch, 32, 1, content, 32, z, (uint32_t)zl);
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, ch, cl, 32);
		ok(read_all(b, n, &e) < 0 && has(&e, "bad zlib data"),
		    "zlib data shorter than ulen is refused");
		zl = sizeof z;
		compress2(z, &zl, content, 32, 6);
		content[5] = 4;		/* CRC computed over other bytes */
		cl = craft_chunk(ch, 32, 1, content, 32, z, (uint32_t)zl);
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, ch, cl, 32);
		ok(read_all(b, n, &e) < 0 && has(&e, "checksum mismatch"),
		    "a content CRC mismatch is refused");
	}
	/* END counts that lie; data after the end; unknown records */
	{
		unsigned char v[2] = {1, 2};
		cl = craft_chunk(ch, 2, 0, v, 2, v, 2);
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, ch, cl, 3);
		ok(read_all(b, n, &e) < 0 && has(&e, "says 3 rows"),
		    "END with a wrong row count is refused");
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, ch, cl, 2);
		b[n] = 0;
		ok(read_all(b, n + 1, &e) < 0 && has(&e, "after the end"),
		    "bytes after END are refused");
		size_t at = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, NULL,
		    0, 0) - 28;
		at += put_record(b + at, "abcd", v, 2);
		at += put_record(b + at, "END ", (uint64_t[2]){0, 0}, 16);
		ok(read_all(b, at, &e) == 0, "an ancillary record is skipped");
		memcpy(b + at - 28 - 14, "Abcd", 4);
		at = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, NULL, 0, 0)
		    - 28;
		at += put_record(b + at, "Abcd", v, 2);
		at += put_record(b + at, "END ", (uint64_t[2]){0, 0}, 16);
		ok(read_all(b, at, &e) < 0 && has(&e, "unknown record 'Abcd'"),
		    "an unknown critical record is refused");
	}
	/* a record length beyond the limit */
	{
		uint32_t big = (1u << 30) + 1;
		n = craft_stream(b, QKV_COL_FIXED, QKV_U8, 0, dims, NULL, 0, 0);
		memcpy(b + 12, &big, 4);
		ok(read_all(b, n, &e) < 0 && has(&e, "limit"),
		    "a record over 2^30 bytes is refused before allocating");
		big = 0xfffffff0u;
		memcpy(b + 12, &big, 4);
		ok(read_all(b, n, &e) < 0 && has(&e, "limit"),
		    "a record length near 2^32 is refused");
	}
	/* the first bytes */
	ok(read_all("", 0, &e) < 0 && has(&e, "t.qkv: empty file"),
	    "an empty stream: 'empty file'");
	ok(read_all("hello world", 11, &e) < 0 && has(&e, "bad magic"),
	    "text is not qkv");
	ok(read_all("\x89QKV\x02S\0\0", 8, &e) < 0 && has(&e, "version 2"),
	    "version 2 is refused");
	ok(read_all("\x89QKV\x01T\0\0", 8, &e) < 0 &&
	    has(&e, "is a tensor file, not a row stream"),
	    "a tensor file is not a stream");
	ok(read_all("\x89QKV\x01S\0", 7, &e) < 0 && has(&e, "truncated"),
	    "a short preamble is truncated");
	ok(read_all("\x89QKV\x01S\0\0", 8, &e) < 0 &&
	    has(&e, "before the end record"), "a preamble alone is truncated");
}

/* Tensor-file TOC crafting: one tensor entry with the given fields. */
static size_t
craft_tfile(unsigned char *b, int dtype, int ndim, const uint64_t *dims,
    uint64_t off, uint64_t nbytes, uint32_t nt)
{
	unsigned char t[256];
	size_t n = 8, o;
	uint32_t zero = 0, crc = 0;

	memset(b, 0, 128);
	memcpy(b, "\x89QKV\x01T\0\0", 8);
	memcpy(t, &nt, 4);
	memcpy(t + 4, &zero, 4);
	t[n++] = 1;
	t[n++] = 'w';
	t[n++] = (unsigned char)dtype;
	t[n++] = (unsigned char)ndim;
	memcpy(t + n, dims, (size_t)ndim * 8);
	n += (size_t)ndim * 8;
	memcpy(t + n, &off, 8);
	memcpy(t + n + 8, &nbytes, 8);
	memcpy(t + n + 16, &crc, 4);
	n += 20;
	o = 128;	/* 64 bytes of (zero) tensor data at 64 */
	o += put_record(b + o, "TOC ", t, (uint32_t)n);
	unsigned char end[16];
	uint64_t toc = 128;
	memcpy(end, &toc, 8);
	memcpy(end + 8, &nt, 4);
	memcpy(end + 12, &zero, 4);
	o += put_record(b + o, "END ", end, 16);
	return o;
}

static void
test_crafted_tensors(void)
{
	unsigned char b[1024];
	uint64_t dims[2] = {16, 1};
	qkv_err e;
	qkv_file *f;
	size_t n;

	n = craft_tfile(b, QKV_F32, 2, dims, 64, 64, 1);
	f = qkv_file_parse(b, n, "w.qkv", &e);
	ok(f != NULL && qkv_file_tensor(f, 0)->shape[0] == 16,
	    "crafted tensor file parses");
	ok(f != NULL && qkv_file_verify(f, &e) < 0 &&
	    has(&e, "checksum mismatch"), "its zero CRC fails verification");
	qkv_file_close(f);
	dims[0] = 1ull << 62;
	dims[1] = 1ull << 62;
	n = craft_tfile(b, QKV_F32, 2, dims, 64, 64, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "overflow"),
	    "overflowing dims are refused");
	dims[0] = (uint64_t)-16;
	dims[1] = 1;
	n = craft_tfile(b, QKV_F32, 2, dims, 64, 64, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "overflow"),
	    "negative dims are refused");
	dims[0] = 16;
	n = craft_tfile(b, QKV_F32, 2, dims, 64, (uint64_t)-64, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "disagree"),
	    "a size that disagrees with the shape is refused");
	dims[0] = 1ull << 40;
	n = craft_tfile(b, QKV_U8, 1, dims, 64, 1ull << 40, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "out of range"),
	    "a tensor beyond the end of the file is refused");
	dims[0] = 16;
	n = craft_tfile(b, QKV_F32, 1, dims, (uint64_t)-64, 64, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "out of range"),
	    "an offset that wraps around is refused");
	n = craft_tfile(b, QKV_F32, 1, dims, 65, 64, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "misaligned"),
	    "a misaligned tensor is refused");
	n = craft_tfile(b, QKV_F32, 1, dims, 0, 64, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "out of range"),
	    "a tensor over the preamble is refused");
	n = craft_tfile(b, QKV_STR, 1, dims, 64, 64, 1);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "bad dtype"),
	    "a string tensor is refused");
	n = craft_tfile(b, QKV_F32, 1, dims, 64, 64, 0x7fffffff);
	ok(qkv_file_parse(b, n, "w.qkv", &e) == NULL && has(&e, "do not fit"),
	    "a huge tensor count is refused before allocating");
	ok(qkv_file_parse("", 0, "w.qkv", &e) == NULL &&
	    has(&e, "w.qkv: empty file"), "an empty tensor file");
	ok(qkv_file_parse("\x89QKV\x01S\0\0", 8, "w.qkv", &e) == NULL &&
	    has(&e, "is a row stream, not a tensor file"),
	    "a stream is not a tensor file");
	ok(qkv_file_parse("\x89QKV\x01T\0\0", 8, "w.qkv", &e) == NULL &&
	    has(&e, "truncated"), "a short tensor file is truncated");
}

/* ---- tests ------------------------------------------------------------- */

static void
test_stream_roundtrip(void)
{
	static const struct {
		int level;
		size_t chunk;
	} cfg[] = {{1, 4096}, {0, 4096}, {9, 1 << 20}, {1, 1}};
	qkv_err e;

	for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
		size_t len;
		unsigned char *p = stream_bytes(cfg[k].level, cfg[k].chunk,
		    NROWS, &len);
		qkv_reader *r = qkv_reader_open_mem(p, len, "mem", &e);
		long n = r ? read_sample(r, &e) : -1;
		ok(n == NROWS, "level %d chunk %zu: %ld rows read back equal",
		    cfg[k].level, cfg[k].chunk, n);
		if (n < 0)
			printf("# %s\n", e.msg);
		ok(r && qkv_reader_rows(r) == NROWS && qkv_reader_next(r,
		    (qkv_cell[NCOLS]){0}, &e) == 0, "end stays the end");
		size_t ml;
		const char *m = r ? qkv_reader_meta(r, "model", &ml) : NULL;
		ok(m && ml == 4 && memcmp(m, "test", 4) == 0 &&
		    qkv_reader_meta(r, "empty", &ml) && ml == 0 &&
		    qkv_reader_nmeta(r) == 2 &&
		    strcmp(qkv_reader_meta_key(r, 0), "model") == 0,
		    "metadata read back");
		if (k == 0) {
			const qkv_colstat *st = r ? qkv_reader_colstat(r, C_VEC) : NULL;
			ok(st && st->raw == NROWS * 24ull &&
			    st->codecs == 1u << QKV_CODEC_SHUFFLE &&
			    st->stored < st->raw,
			    "f32 column: shuffled and smaller (%llu of %llu)",
			    st ? (unsigned long long)st->stored : 0,
			    st ? (unsigned long long)st->raw : 0);
			st = r ? qkv_reader_colstat(r, C_TEXT) : NULL;
			ok(st && st->codecs == 1u << QKV_CODEC_ZLIB,
			    "string column: zlib");
			ok(qkv_reader_chunks(r) > 10, "many chunks (%llu)",
			    (unsigned long long)qkv_reader_chunks(r));
		}
		if (k == 1) {
			const qkv_colstat *st = r ? qkv_reader_colstat(r, C_IDS) : NULL;
			ok(st && st->codecs == 1u << QKV_CODEC_RAW &&
			    st->raw == st->stored, "level 0 stores raw");
		}
		if (k == 3)
			ok(r && qkv_reader_chunks(r) == NROWS,
			    "a 1-byte chunk target gives one row a chunk");
		qkv_reader_close(r);

		/* skipping sees the same totals, CRCs included */
		qkv_reader *r1 = qkv_reader_open_mem(p, len, "mem", &e);
		qkv_reader *r2 = qkv_reader_open_mem(p, len, "mem", &e);
		int rc;
		while ((rc = qkv_reader_skip(r1, &e)) == 1)
			;
		read_sample(r2, &e);
		int same = rc == 0 && qkv_reader_chunks(r1) == qkv_reader_chunks(r2);
		for (int c = 0; c < NCOLS; c++) {
			const qkv_colstat *a = qkv_reader_colstat(r1, c),
			    *b = qkv_reader_colstat(r2, c);
			same = same && a->crc == b->crc && a->raw == b->raw &&
			    a->stored == b->stored;
		}
		if (k == 0) {
			/* the column CRC is the CRC of all contents */
			uLong crc = crc32(0, NULL, 0);
			struct row s;
			qkv_cell c[NCOLS];
			for (long i = 0; i < NROWS; i++) {
				sample_row(i, &s, c);
				crc = crc32(crc, c[C_VEC].p, 24);
			}
			same = same && qkv_reader_colstat(r1, C_VEC)->crc == crc;
		}
		ok(same, "skipping chunks gives the same totals and CRCs");
		qkv_reader_close(r1);
		qkv_reader_close(r2);
		free(p);
	}
}

/* Compression threads change nothing in the bytes written, across many
 * windows of trials. */
static void
test_threads(void)
{
	size_t len0, len;
	unsigned char *p0, *p;
	static const int nt[] = {1, 2, 3, 16};

	threads = 0;
	p0 = stream_bytes(1, 700, NROWS, &len0);
	for (size_t k = 0; k < sizeof nt / sizeof nt[0]; k++) {
		threads = nt[k];
		p = stream_bytes(1, 700, NROWS, &len);
		ok(len == len0 && memcmp(p, p0, len) == 0,
		    "%d threads write the same %zu bytes as none", nt[k], len);
		free(p);
	}
	threads = -1;
	qkv_reader *r = qkv_reader_open_mem(p0, len0, "t", &(qkv_err){{0}});
	ok(r && read_sample(r, NULL) == NROWS && qkv_reader_chunks(r) > 200,
	    "and they read back (%llu chunks)",
	    r ? (unsigned long long)qkv_reader_chunks(r) : 0);
	qkv_reader_close(r);
	free(p0);
}

static void
test_stream_pipe(void)
{
	/* through a real file descriptor and qkv_in, as programs do */
	char path[] = "/tmp/qkvfile-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w+");
	qkv_err e;

	ok(write_sample(f, 1, 1 << 20, NROWS, &e) == 0, "write to a file");
	fclose(f);
	qkv_in *in = qkv_in_open(path, &e);
	ok(in && qkv_in_is_qkv(in), "io layer sniffs the magic");
	qkv_reader *r = qkv_reader_open(in, &e);
	ok(r && read_sample(r, &e) == NROWS, "read through qkv_in");
	qkv_reader_close(r);
	qkv_in_close(in);
	unlink(path);

	/* an empty stream */
	f = tmpfile();
	size_t len;
	ok(write_sample(f, 1, 1 << 20, 0, &e) == 0, "write 0 rows");
	unsigned char *p = slurp(f, &len);
	qkv_cell c[NCOLS];
	r = qkv_reader_open_mem(p, len, "empty", &e);
	ok(r && qkv_reader_next(r, c, &e) == 0 && qkv_reader_chunks(r) == 0,
	    "0 rows: a clean end at once");
	qkv_reader_close(r);
	fclose(f);
	free(p);
}

/* A consumer on the other end of a pipe sees flushed rows while the
 * writer is still open, and reads the stream with no seeking. */
static void
test_pipe_flush(void)
{
	int fds[2];
	qkv_err e;
	struct row s;
	qkv_cell c[NCOLS];
	char path[64];

	if (pipe(fds) < 0)
		abort();
	alarm(20);	/* a reader that waits for more than it needs hangs */
	FILE *f = fdopen(fds[1], "w");
	qkv_writer *w = qkv_writer_open(f, "pipe", cols, NCOLS, &e);
	for (long i = 0; i < 5; i++) {
		sample_row(i, &s, c);
		qkv_writer_row(w, c, &e);
	}
	ok(qkv_writer_flush(w, &e) == 0, "flush 5 rows into a pipe");
	snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
	qkv_in *in = qkv_in_open(path, &e);
	qkv_reader *r = qkv_reader_open(in, &e);
	int got = 0;
	for (long i = 0; i < 5 && r && qkv_reader_next(r, c, &e) == 1; i++)
		got += row_differs(i, c) < 0;
	ok(got == 5, "the reader has all 5 before the writer closes");
	for (long i = 5; i < 8; i++) {
		sample_row(i, &s, c);
		qkv_writer_row(w, c, &e);
	}
	ok(qkv_writer_close(w, &e) == 0, "then 3 more and the end");
	fclose(f);
	for (long i = 5; i < 8 && r && qkv_reader_next(r, c, &e) == 1; i++)
		got += row_differs(i, c) < 0;
	ok(got == 8 && qkv_reader_next(r, c, &e) == 0, "and reads them to a clean end");
	qkv_reader_close(r);
	qkv_in_close(in);
	close(fds[0]);
	alarm(0);
}

static void
test_stream_damage(void)
{
	size_t len;
	unsigned char *p = stream_bytes(1, 300, 60, &len), *q = malloc(len);
	qkv_err e;
	size_t clean = 0, crash = 0, bad_msg = 0, records = 0, rec_trunc = 0;

	/* every prefix is an error, never a clean short stream */
	for (size_t n = 0; n < len; n++) {
		qkv_reader *r = qkv_reader_open_mem(p, n, "cut.qkv", &e);
		qkv_cell c[NCOLS];
		int rc = -1;
		if (r != NULL)
			while ((rc = qkv_reader_next(r, c, &e)) == 1)
				;
		if (rc == 0)
			clean++;
		else if (strncmp(e.msg, "cut.qkv: ", 9) != 0 ||
		    strchr(e.msg, '\n') != NULL)
			bad_msg++;
		qkv_reader_close(r);
	}
	ok(clean == 0 && bad_msg == 0,
	    "all %zu truncations are errors naming the file", len);

	/* at each record boundary, the message says truncated */
	for (size_t at = 8; at < len;) {
		uint32_t rl;
		memcpy(&rl, p + at + 4, 4);
		at += 12 + rl;
		if (at >= len)
			break;
		records++;
		if (read_all(p, at, &e) < 0 && strstr(e.msg, "truncated") &&
		    strstr(e.msg, "offset"))
			rec_trunc++;
		else
			printf("# at %zu: %s\n", at, e.msg);
	}
	ok(records > 5 && rec_trunc == records,
	    "cut at each of %zu record boundaries: 'truncated'", records);

	/* every single changed byte is detected */
	for (size_t i = 0; i < len; i++) {
		memcpy(q, p, len);
		q[i] ^= 0xff;
		if (read_all(q, len, &e) == 0)
			crash++;
		memcpy(q, p, len);
		q[i] ^= 0x01;
		if (read_all(q, len, &e) == 0)
			crash++;
	}
	ok(crash == 0, "all %zu flipped bytes and bits are detected", 2 * len);
	free(p);
	free(q);
}

static void
test_tensors(void)
{
	char path[] = "/tmp/qkvfile-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w+");
	qkv_err e;
	qkv_file *t;
	size_t len;
	unsigned char *p, *q;

	ok(write_tensors(f, &e) == 0, "write a tensor file");
	p = slurp(f, &len);
	fclose(f);
	t = qkv_file_open(path, &e);
	ok(t && check_tensors(t) == 0 && qkv_file_verify(t, &e) == 0,
	    "mapped: every tensor, its metadata, verified");
	ok(t && (uintptr_t)qkv_file_tensor(t, 0)->data % 64 == 0,
	    "mapped data is 64-byte aligned");
	ok(t && qkv_file_find(t, "nope") == NULL, "find: unknown name");
	qkv_file_close(t);
	unlink(path);

	t = qkv_file_parse(p, len, "mem", &e);
	ok(t && check_tensors(t) == 0, "parsed from memory");
	qkv_file_close(t);

	size_t clean = 0, bad_msg = 0;
	for (size_t n = 0; n < len; n++) {
		t = qkv_file_parse(p, n, "cut.qkv", &e);
		if (t != NULL)
			clean++;
		else if (strncmp(e.msg, "cut.qkv: ", 9) != 0)
			bad_msg++;
		qkv_file_close(t);
	}
	ok(clean == 0 && bad_msg == 0, "all %zu truncations are refused", len);

	q = malloc(len);
	size_t missed = 0;
	for (size_t i = 0; i < len; i++) {
		memcpy(q, p, len);
		q[i] ^= 0x10;
		t = qkv_file_parse(q, len, "flip", &e);
		if (t != NULL && qkv_file_verify(t, &e) == 0) {
			printf("# flip at %zu missed\n", i);
			missed++;
		}
		qkv_file_close(t);
	}
	ok(missed == 0, "all %zu flipped bytes are caught by open + verify",
	    len);
	free(q);
	free(p);

	/* an empty tensor file */
	f = tmpfile();
	qkv_twriter *w = qkv_twriter_open(f, "e", &e);
	ok(w && qkv_twriter_close(w, &e) == 0, "write 0 tensors");
	p = slurp(f, &len);
	t = qkv_file_parse(p, len, "e", &e);
	ok(len == 112 && t && qkv_file_ntensors(t) == 0 &&
	    qkv_file_verify(t, &e) == 0, "0 tensors: %zu bytes, valid", len);
	qkv_file_close(t);
	free(p);
	fclose(f);

	/* writer refusals */
	f = tmpfile();
	w = qkv_twriter_open(f, "w", &e);
	int64_t sh[1] = {2};
	float v[2] = {1, 2};
	ok(qkv_twriter_tensor(w, "x", QKV_F32, 1, sh, v, 8, &e) == 0 &&
	    qkv_twriter_tensor(w, "x", QKV_F32, 1, sh, v, 8, &e) < 0 &&
	    has(&e, "twice"), "writer: duplicate tensor names are refused");
	ok(qkv_twriter_tensor(w, "y", QKV_F32, 1, sh, v, 4, &e) < 0 &&
	    has(&e, "4 bytes"), "writer: size must match the shape");
	ok(qkv_twriter_meta(w, "k", "a", 1, &e) == 0 &&
	    qkv_twriter_meta(w, "k", "b", 1, &e) < 0 && has(&e, "twice"),
	    "writer: duplicate metadata keys are refused");
	ok(qkv_twriter_tensor(w, "", QKV_F32, 1, sh, v, 8, &e) < 0,
	    "writer: empty names are refused");
	qkv_twriter_free(w);
	fclose(f);
}

static void
test_writer_refusals(void)
{
	qkv_err e;
	qkv_col c[2] = {{"a", QKV_F32, QKV_COL_FIXED, 1, {4}},
	    {"a", QKV_I32, QKV_COL_RAGGED, 0, {0}}};
	FILE *f = tmpfile();

	ok(qkv_writer_open(f, "w", c, 2, &e) == NULL && has(&e, "twice"),
	    "duplicate column names are refused");
	c[1].dtype = QKV_STR;
	strcpy(c[1].name, "b");
	ok(qkv_writer_open(f, "w", c, 2, &e) == NULL &&
	    has(&e, "'b': bad kind or dtype"), "a ragged string is refused");
	ok(qkv_writer_open(f, "w", c, 0, &e) == NULL, "no columns is refused");
	c[1].dtype = QKV_I32;
	qkv_writer *w = qkv_writer_open(f, "w", c, 2, &e);
	float x[4] = {0};
	qkv_cell cells[2] = {{x, 0}, {x, 1u << 30}};
	ok(w && qkv_writer_row(w, cells, &e) < 0 && has(&e, "too big"),
	    "a row too big for a chunk is refused");
	cells[1].n = 1;
	ok(w && qkv_writer_row(w, cells, &e) == 0, "then a good row");
	ok(w && qkv_writer_meta(w, "k", "v", 1, &e) < 0 && has(&e, "after"),
	    "metadata after rows is refused");
	qkv_writer_free(w);
	fclose(f);
}

/* ---- the C side of the Python round trip -------------------------------- */

static int
gen(const char *sp, const char *tp)
{
	qkv_err e;
	FILE *f = fopen(sp, "wb"), *g = fopen(tp, "wb");

	if (f == NULL || g == NULL || write_sample(f, 1, 4096, NROWS, &e) < 0 ||
	    write_tensors(g, &e) < 0) {
		fprintf(stderr, "gen: %s\n", e.msg);
		return 1;
	}
	fclose(f);
	fclose(g);
	return 0;
}

static int
check(const char *sp, const char *tp)
{
	qkv_err e;
	qkv_in *in = qkv_in_open(sp, &e);
	qkv_reader *r = in ? qkv_reader_open(in, &e) : NULL;
	long n = r ? read_sample(r, &e) : -1;
	size_t ml;
	const char *m = r ? qkv_reader_meta(r, "model", &ml) : NULL;
	qkv_file *t;

	ok(n == NROWS, "python stream: %ld rows equal", n);
	if (n == -1)
		printf("# %s\n", e.msg);
	ok(m && ml == 4 && memcmp(m, "test", 4) == 0,
	    "python stream: metadata");
	qkv_reader_close(r);
	qkv_in_close(in);
	t = qkv_file_open(tp, &e);
	ok(t && check_tensors(t) == 0 && qkv_file_verify(t, &e) == 0,
	    "python tensor file: equal, verified");
	qkv_file_close(t);
	done_testing();
}

/* The example of formats/qkv.md section 8, written by the writer. */
static int
example(const char *path)
{
	qkv_err e;
	FILE *f = fopen(path, "wb");
	qkv_col x = {"x", QKV_U8, QKV_COL_FIXED, 0, {0}};
	qkv_writer *w = f ? qkv_writer_open(f, path, &x, 1, &e) : NULL;
	unsigned char v[2] = {1, 2};

	if (w == NULL)
		return 1;
	qkv_writer_level(w, 0);
	if (qkv_writer_meta(w, "k", "v", 1, &e) < 0 ||
	    qkv_writer_row(w, &(qkv_cell){v, 1}, &e) < 0 ||
	    qkv_writer_row(w, &(qkv_cell){v + 1, 1}, &e) < 0 ||
	    qkv_writer_close(w, &e) < 0 || fclose(f) != 0)
		return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "example") == 0)
		return example(argv[2]);
	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return check(argv[2], argv[3]);
	test_stream_roundtrip();
	test_stream_pipe();
	test_threads();
	test_pipe_flush();
	test_stream_damage();
	test_writer_refusals();
	test_crafted();
	test_tensors();
	test_crafted_tensors();
	done_testing();
}
