/*
 * qkvfile.c - the qkv format (formats/qkv.md): row streams and tensor files.
 *
 * Row streams are written and read front to back: records (tag, length,
 * body, CRC) after an 8-byte preamble; a HEAD declares the columns, CHNK
 * records carry rows column by column, compressed, and an END record gives
 * the counts.  Tensor files hold uncompressed tensors at 64-byte aligned
 * offsets, then a TOC record and an END record that a reader finds at the
 * end of the mapped file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "qkv.h"

#define PREAMBLE 8
#define ALIGN 64
#define RECHDR 8		/* tag + len */
#define ENDLEN 28		/* a tensor file's END record */
#define BLOCKHDR 16
#define MAXRATIO 1032		/* deflate's largest expansion */
#define CHUNK_DEFAULT (1u << 20)
#define READSTEP (16u << 20)	/* record bodies grow by at most this */

static const unsigned char magic[4] = {0x89, 'Q', 'K', 'V'};

/* ---- little-endian helpers -------------------------------------------- */

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* A bounds-checked cursor over a record body. */
typedef struct cur {
	const unsigned char *p, *end;
	int bad;		/* ran past the end */
} cur;

static const unsigned char *
take(cur *c, size_t n)
{
	const unsigned char *p = c->p;

	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = 1;
		return NULL;
	}
	c->p += n;
	return p;
}

static unsigned
take8(cur *c)
{
	const unsigned char *p = take(c, 1);
	return p ? p[0] : 0;
}

static uint32_t
take32(cur *c)
{
	const unsigned char *p = take(c, 4);
	return p ? get32(p) : 0;
}

static uint64_t
take64(cur *c)
{
	const unsigned char *p = take(c, 8);
	return p ? get64(p) : 0;
}

/* A name8: 1-255 bytes, no NUL; copied NUL-terminated into out[256]. */
static int
take_name(cur *c, char *out)
{
	unsigned n = take8(c);
	const unsigned char *p = take(c, n);

	if (p == NULL || n == 0 || memchr(p, 0, n) != NULL)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* A growable byte buffer for writers. */
typedef struct buf {
	unsigned char *p;
	size_t n, cap;
} buf;

static int
buf_grow(buf *b, size_t extra, qkv_err *e)
{
	size_t need, cap;
	unsigned char *np;

	if (qkv_add_size(b->n, extra, &need) < 0)
		return qkv_errf(e, "out of memory");
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		if (qkv_mul_size(cap, 2, &cap) < 0)
			return qkv_errf(e, "out of memory");
	if ((np = realloc(b->p, cap)) == NULL)
		return qkv_errf(e, "out of memory allocating %zu bytes", cap);
	b->p = np;
	b->cap = cap;
	return 0;
}

static int
buf_add(buf *b, const void *p, size_t n, qkv_err *e)
{
	if (buf_grow(b, n, e) < 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int
buf_add8(buf *b, unsigned v, qkv_err *e)
{
	unsigned char c = (unsigned char)v;
	return buf_add(b, &c, 1, e);
}

static int
buf_add32(buf *b, uint32_t v, qkv_err *e)
{
	unsigned char t[4];
	put32(t, v);
	return buf_add(b, t, 4, e);
}

static int
buf_add64(buf *b, uint64_t v, qkv_err *e)
{
	unsigned char t[8];
	put64(t, v);
	return buf_add(b, t, 8, e);
}

static int
buf_add_name(buf *b, const char *s, qkv_err *e)
{
	size_t n = strlen(s);
	return buf_add8(b, (unsigned)n, e) < 0 ? -1 : buf_add(b, s, n, e);
}

static int
check_name(const char *what, const char *s, qkv_err *e)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > QKV_MAXNAME)
		return qkv_errf(e, "%s '%.40s': must be 1 to %d bytes", what,
		    s ? s : "", QKV_MAXNAME);
	return 0;
}

/* ---- shared ------------------------------------------------------------ */

const char *
qkv_codec_name(int codec)
{
	switch (codec) {
	case QKV_CODEC_RAW: return "raw";
	case QKV_CODEC_ZLIB: return "zlib";
	case QKV_CODEC_SHUFFLE: return "shuffle";
	}
	return "?";
}

const char *
qkv_col_kind_name(int kind)
{
	switch (kind) {
	case QKV_COL_FIXED: return "fixed";
	case QKV_COL_RAGGED: return "ragged";
	case QKV_COL_STRING: return "string";
	}
	return "?";
}

int
qkv_kind(const void *p, size_t n)
{
	const unsigned char *b = p;

	if (n < PREAMBLE || memcmp(b, magic, 4) != 0 || b[4] != 1 ||
	    b[6] != 0 || b[7] != 0 || (b[5] != 'S' && b[5] != 'T'))
		return 0;
	return b[5];
}

/* Why the first bytes are not a preamble of the wanted kind. */
static int
preamble_err(const unsigned char *b, size_t n, int want, qkv_err *e)
{
	if (n == 0)
		return qkv_errf(e, "empty file");
	if (n < 4 || memcmp(b, magic, 4) != 0)
		return qkv_errf(e, "not a qkv file (bad magic)");
	if (n < PREAMBLE)
		return qkv_errf(e, "offset 0: truncated preamble");
	if (b[4] != 1)
		return qkv_errf(e, "offset 4: qkv version %u, this reader "
		    "knows version 1", b[4]);
	if (b[6] != 0 || b[7] != 0)
		return qkv_errf(e, "offset 6: reserved bytes not zero");
	if (b[5] != want) {
		if (b[5] == 'S' || b[5] == 'T')
			return qkv_errf(e, "is a %s, not a %s",
			    b[5] == 'S' ? "row stream" : "tensor file",
			    want == 'S' ? "row stream" : "tensor file");
		return qkv_errf(e, "offset 5: unknown kind 0x%02x", b[5]);
	}
	return 0;
}

/* Shape checks shared by columns and tensors: bytes = prod(dims) * esize. */
static int
shape_bytes(int dtype, int ndim, const int64_t *dims, uint64_t *bytes)
{
	uint64_t n = qkv_dtype_size(dtype);

	if (n == 0 || ndim < 0 || ndim > QKV_MAXDIM)
		return -1;
	for (int i = 0; i < ndim; i++) {
		if (dims[i] < 0)
			return -1;
		if (__builtin_mul_overflow(n, (uint64_t)dims[i], &n))
			return -1;
	}
	*bytes = n;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort names (an array of pointers) and report the first duplicate. */
static const char *
find_dup(const char **names, size_t n)
{
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			return names[i];
	return NULL;
}

/* Metadata as parsed: keys NUL-terminated (copied), values pointing into
 * a body the owner keeps. */
typedef struct meta {
	char *key;
	const unsigned char *val;
	size_t len;
} meta;

static int
cmp_meta(const void *a, const void *b)
{
	return strcmp(((const meta *)a)->key, ((const meta *)b)->key);
}

/* Parse nmeta entries from c; keys go into one allocation *keys. */
static int
parse_meta(cur *c, uint32_t nmeta, meta **out, meta **sorted, char **keys,
    qkv_err *e)
{
	meta *m = NULL, *s = NULL;
	char *k = NULL;
	size_t kn = 0;
	cur scan = *c;

	*out = *sorted = NULL;
	*keys = NULL;
	/* each entry takes at least 6 bytes: check before allocating */
	if (nmeta > (size_t)(c->end - c->p) / 6)
		return qkv_errf(e, "%u metadata entries do not fit", nmeta);
	if (nmeta == 0)
		return 0;
	/* first pass: structure and the room keys need */
	for (uint32_t i = 0; i < nmeta; i++) {
		unsigned n = take8(&scan);
		const unsigned char *key = take(&scan, n);
		if (key == NULL || n == 0 || memchr(key, 0, n) != NULL)
			return qkv_errf(e, "metadata entry %u: bad key", i);
		kn += n + 1;
		if (take(&scan, take32(&scan)) == NULL)
			return qkv_errf(e, "metadata entry %u: value runs past "
			    "the record", i);
	}
	if ((m = qkv_calloc(nmeta, sizeof *m, e)) == NULL ||
	    (s = qkv_calloc(nmeta, sizeof *s, e)) == NULL ||
	    (k = qkv_malloc(kn, e)) == NULL)
		goto fail;
	kn = 0;
	for (uint32_t i = 0; i < nmeta; i++) {
		unsigned n = take8(c);
		memcpy(k + kn, take(c, n), n);
		k[kn + n] = '\0';
		m[i].key = k + kn;
		kn += n + 1;
		m[i].len = take32(c);
		m[i].val = take(c, m[i].len);
	}
	memcpy(s, m, nmeta * sizeof *s);
	qsort(s, nmeta, sizeof *s, cmp_meta);
	for (uint32_t i = 1; i < nmeta; i++)
		if (strcmp(s[i - 1].key, s[i].key) == 0) {
			qkv_errf(e, "metadata key '%s' appears twice", s[i].key);
			goto fail;
		}
	*out = m;
	*sorted = s;
	*keys = k;
	return 0;
fail:
	free(m);
	free(s);
	free(k);
	return -1;
}

static const meta *
find_meta(const meta *sorted, int n, const char *key)
{
	meta k = {.key = (char *)key};

	if (n == 0 || key == NULL)
		return NULL;
	return bsearch(&k, sorted, (size_t)n, sizeof k, cmp_meta);
}

/* Encode a meta entry into b, checking the key. */
static int
add_meta(buf *b, const char *key, const void *val, size_t len, qkv_err *e)
{
	if (check_name("metadata key", key, e) < 0)
		return -1;
	if (len > QKV_MAXREC)
		return qkv_errf(e, "metadata '%s': value of %zu bytes is too "
		    "big", key, len);
	if (buf_add_name(b, key, e) < 0 || buf_add32(b, (uint32_t)len, e) < 0 ||
	    buf_add(b, val, len, e) < 0)
		return -1;
	return 0;
}

/* Is key already among the encoded entries of b (n of them)? */
static int
has_meta(const buf *b, const char *key)
{
	size_t k = strlen(key);
	const unsigned char *p = b->p, *end;

	if (b->n == 0)
		return 0;
	for (end = b->p + b->n; p < end;) {
		unsigned n = p[0];
		if (n == k && memcmp(p + 1, key, k) == 0)
			return 1;
		p += 1 + n;
		p += 4 + get32(p);
	}
	return 0;
}

/* Byte shuffle of n elements of k bytes: planes out of interleaved.  The
 * common sizes get loops the compiler vectorises (whole elements in and
 * out, no strided stores). */
static void
shuffle(unsigned char *dst, const unsigned char *src, size_t n, size_t k)
{
	if (n == 0)
		return;
	if (k == 4) {
		unsigned char *d0 = dst, *d1 = dst + n, *d2 = dst + 2 * n,
		    *d3 = dst + 3 * n;
		for (size_t i = 0; i < n; i++) {
			uint32_t v;
			memcpy(&v, src + 4 * i, 4);
			d0[i] = (unsigned char)v;
			d1[i] = (unsigned char)(v >> 8);
			d2[i] = (unsigned char)(v >> 16);
			d3[i] = (unsigned char)(v >> 24);
		}
		return;
	}
	for (size_t j = 0; j < k; j++) {
		unsigned char *d = dst + j * n;
		const unsigned char *s = src + j;
		for (size_t i = 0; i < n; i++)
			d[i] = s[i * k];
	}
}

static void
unshuffle(unsigned char *dst, const unsigned char *src, size_t n, size_t k)
{
	if (n == 0)
		return;
	if (k == 4) {
		const unsigned char *s0 = src, *s1 = src + n, *s2 = src + 2 * n,
		    *s3 = src + 3 * n;
		for (size_t i = 0; i < n; i++) {
			uint32_t v = (uint32_t)s0[i] | (uint32_t)s1[i] << 8 |
			    (uint32_t)s2[i] << 16 | (uint32_t)s3[i] << 24;
			memcpy(dst + 4 * i, &v, 4);
		}
		return;
	}
	for (size_t j = 0; j < k; j++) {
		const unsigned char *s = src + j * n;
		unsigned char *d = dst + j;
		for (size_t i = 0; i < n; i++)
			d[i * k] = s[i];
	}
}

/* ---- row stream writer ------------------------------------------------- */

/* Ways to compress a block.  Which pays depends on the data: unit-norm
 * embeddings compress best as byte planes with Huffman coding alone (their
 * mantissas are noise), token ids of real text as plain zlib at higher
 * levels (phrases repeat) and as planes at level 1; bench/pack.sh has the
 * figures.  So a column tries every way on its first chunk and on every
 * RETRY-th one after, and keeps the smallest. */
enum { HOW_PLAIN, HOW_SHUF, HOW_SHUF_HUFF, HOW_SHUF_RLE, NHOW };
static const int how_strategy[NHOW] = {Z_DEFAULT_STRATEGY, Z_DEFAULT_STRATEGY,
	Z_HUFFMAN_ONLY, Z_RLE};
#define RETRY 64
#define MAXTHREADS 16

typedef struct wcol {
	qkv_col c;
	size_t esize;		/* element size; 1 for strings */
	size_t rowbytes;	/* fixed columns */
} wcol;

/* What one thread needs to compress. */
typedef struct zctx {
	struct qkv_writer *w;
	buf tmp;		/* shuffled values */
	buf best;		/* the best block so far, during a trial */
	z_stream z[NHOW];
	int zinit[NHOW];
} zctx;

/* A chunk on its way out: filled by the caller's thread, compressed by a
 * worker (or the caller), written by the caller's thread in order.
 * Chunks live in a ring of njobs slots, chunk k in slot k % njobs. */
enum { JOB_FREE, JOB_FILL, JOB_READY, JOB_BUSY, JOB_DONE };
typedef struct wjob {
	int state;
	uint64_t seq;
	uint32_t nrows;
	buf *counts, *vals;	/* per column; counts for ragged and string */
	int *how;		/* per column, the way a trial chose */
	buf rec;		/* the CHNK record */
	int failed;
	qkv_err err;
} wjob;

struct qkv_writer {
	FILE *f;
	char *name;
	int ncols;
	wcol *cols;
	buf meta;
	uint32_t nmeta;
	int level;
	size_t target;
	int started;		/* HEAD written */
	int failed;
	size_t pending;		/* content bytes in the open chunk */
	uint64_t rows, chunks;	/* in chunks ended so far */
	uint64_t written;	/* chunks written so far */
	buf rec;		/* HEAD and END */
	wjob *jobs, *cur;	/* the ring; the chunk being filled */
	int njobs;
	zctx self;		/* compressing in the caller's thread */
	int nthreads, running;
	pthread_t tid[MAXTHREADS];
	zctx tz[MAXTHREADS];
	pthread_mutex_t mu;	/* job states, decisions, quit */
	pthread_cond_t cv;
	int quit;
	/* The ways chosen by the trials of the last two windows of RETRY
	 * chunks (at most two are in flight): decided_seq[k] is the trial
	 * chunk whose choice decided[k] holds, or UINT64_MAX. */
	uint64_t decided_seq[2];
	int *decided[2];
};

static int
werr(qkv_writer *w, qkv_err *e)
{
	w->failed = 1;
	return qkv_errprefix(e, w->name);
}

static int
write_all(qkv_writer *w, const void *p, size_t n, qkv_err *e)
{
	if (n > 0 && fwrite(p, 1, n, w->f) != n)
		return qkv_errf(e, "write error: %s",
		    strerror(errno ? errno : EIO));
	return 0;
}

/* Finish r (a body after 8 reserved header bytes) as a record. */
static int
seal_record(buf *r, const char *tag, qkv_err *e)
{
	memcpy(r->p, tag, 4);
	put32(r->p + 4, (uint32_t)(r->n - RECHDR));
	return buf_add32(r, qkv_crc32(0, r->p, r->n), e);
}

/* Start r as a record: room for its header. */
static int
rec_start(buf *r, qkv_err *e)
{
	r->n = 0;
	if (buf_grow(r, RECHDR, e) < 0)
		return -1;
	r->n = RECHDR;
	return 0;
}

qkv_writer *
qkv_writer_open(FILE *f, const char *name, const qkv_col *cols, int ncols,
    qkv_err *e)
{
	qkv_writer *w;
	const char *names[QKV_MAXCOLS];
	int bad = 0;

	if (ncols < 1 || ncols > QKV_MAXCOLS) {
		qkv_errf(e, "%s: %d columns (must be 1 to %d)", name, ncols,
		    QKV_MAXCOLS);
		return NULL;
	}
	if ((w = qkv_calloc(1, sizeof *w, e)) == NULL)
		return NULL;
	w->f = f;
	w->level = 1;
	w->target = CHUNK_DEFAULT;
	/* leave a CPU to the caller, who makes the rows */
	w->nthreads = qkv_ncpu() - 1 < 3 ? qkv_ncpu() - 1 : 3;
	w->decided_seq[0] = w->decided_seq[1] = UINT64_MAX;
	if ((w->name = strdup(name ? name : "<stdout>")) == NULL ||
	    (w->cols = qkv_calloc((size_t)ncols, sizeof *w->cols, e)) == NULL ||
	    (w->decided[0] = qkv_calloc((size_t)ncols, sizeof(int), e)) ==
	    NULL ||
	    (w->decided[1] = qkv_calloc((size_t)ncols, sizeof(int), e)) ==
	    NULL) {
		qkv_errf(e, "out of memory");
		goto fail;
	}
	w->ncols = ncols;
	for (int i = 0; i < ncols; i++) {
		const qkv_col *c = &cols[i];
		wcol *wc = &w->cols[i];
		uint64_t rb = 0;

		bad = i;
		if (memchr(c->name, 0, sizeof c->name) == NULL ||
		    check_name("column name", c->name, e) < 0)
			goto failp;
		if (c->kind == QKV_COL_STRING) {
			if (c->dtype != QKV_STR)
				goto badcol;
			wc->esize = 1;
		} else if (c->kind == QKV_COL_FIXED ||
		    c->kind == QKV_COL_RAGGED) {
			if (c->dtype == QKV_STR || qkv_dtype_size(c->dtype) == 0)
				goto badcol;
			wc->esize = qkv_dtype_size(c->dtype);
			if (c->kind == QKV_COL_FIXED &&
			    (shape_bytes(c->dtype, c->ndim, c->shape, &rb) < 0 ||
			    rb > QKV_MAXREC)) {
				qkv_errf(e, "column '%s': bad or too big shape",
				    c->name);
				goto failp;
			}
		} else
			goto badcol;
		wc->c = *c;
		if (c->kind != QKV_COL_FIXED)
			wc->c.ndim = 0;
		wc->rowbytes = (size_t)rb;
		names[i] = wc->c.name;
	}
	if ((name = find_dup(names, (size_t)ncols)) != NULL) {
		qkv_errf(e, "column '%s' declared twice", name);
		goto failp;
	}
	return w;
badcol:
	qkv_errf(e, "column '%s': bad kind or dtype", cols[bad].name);
failp:
	qkv_errprefix(e, w->name);
fail:
	qkv_writer_free(w);
	return NULL;
}

int
qkv_writer_meta(qkv_writer *w, const char *key, const void *val, size_t len,
    qkv_err *e)
{
	if (w->failed)
		return qkv_errf(e, "%s: earlier error", w->name);
	if (w->started)
		return qkv_errf(e, "%s: metadata after the first row", w->name);
	if (check_name("metadata key", key, e) < 0)
		return werr(w, e);
	if (has_meta(&w->meta, key))
		return qkv_errf(e, "%s: metadata key '%s' given twice", w->name,
		    key);
	if (add_meta(&w->meta, key, val, len, e) < 0)
		return werr(w, e);
	w->nmeta++;
	return 0;
}

void
qkv_writer_level(qkv_writer *w, int level)
{
	if (!w->started)
		w->level = level < 0 ? 0 : level > 9 ? 9 : level;
}

void
qkv_writer_pipe_level(qkv_writer *w, FILE *f)
{
	struct stat st;

	if (fstat(fileno(f), &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		qkv_writer_level(w, 0);
}

void
qkv_writer_chunk(qkv_writer *w, size_t bytes)
{
	w->target = bytes < 1 ? 1 : bytes > QKV_MAXREC / 2 ? QKV_MAXREC / 2 :
	    bytes;
}

void
qkv_writer_threads(qkv_writer *w, int n)
{
	if (!w->started)
		w->nthreads = n < 0 ? 0 : n > MAXTHREADS ? MAXTHREADS : n;
}

static void *worker(void *arg);

/* Before the first row: the ring, and the workers if any. */
static int
start(qkv_writer *w, qkv_err *e)
{
	w->njobs = w->nthreads > 0 ? 2 * w->nthreads + 1 : 1;
	if ((w->jobs = qkv_calloc((size_t)w->njobs, sizeof *w->jobs, e)) ==
	    NULL)
		return -1;
	for (int i = 0; i < w->njobs; i++) {
		wjob *j = &w->jobs[i];
		if ((j->counts = qkv_calloc((size_t)w->ncols, sizeof *j->counts,
		    e)) == NULL || (j->vals = qkv_calloc((size_t)w->ncols,
		    sizeof *j->vals, e)) == NULL || (j->how =
		    qkv_calloc((size_t)w->ncols, sizeof *j->how, e)) == NULL)
			return -1;
	}
	if (w->nthreads == 0)
		return 0;
	if (pthread_mutex_init(&w->mu, NULL) != 0 ||
	    pthread_cond_init(&w->cv, NULL) != 0)
		return qkv_errf(e, "cannot start threads");
	/* a worker that cannot start is done without */
	for (int i = 0; i < w->nthreads; i++) {
		w->tz[i].w = w;
		if (pthread_create(&w->tid[i], NULL, worker, &w->tz[i]) != 0)
			break;
		w->running++;
	}
	if (w->running == 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		w->nthreads = 0;
	}
	return 0;
}

static int
write_head(qkv_writer *w, qkv_err *e)
{
	unsigned char pre[PREAMBLE] = {0x89, 'Q', 'K', 'V', 1, 'S', 0, 0};

	if (start(w, e) < 0 || write_all(w, pre, sizeof pre, e) < 0 ||
	    rec_start(&w->rec, e) < 0)
		return -1;
	if (buf_add32(&w->rec, (uint32_t)w->ncols, e) < 0 ||
	    buf_add32(&w->rec, w->nmeta, e) < 0)
		return -1;
	for (int i = 0; i < w->ncols; i++) {
		const qkv_col *c = &w->cols[i].c;
		if (buf_add_name(&w->rec, c->name, e) < 0 ||
		    buf_add8(&w->rec, (unsigned)c->kind, e) < 0 ||
		    buf_add8(&w->rec, (unsigned)c->dtype, e) < 0 ||
		    buf_add8(&w->rec, (unsigned)c->ndim, e) < 0)
			return -1;
		for (int d = 0; d < c->ndim; d++)
			if (buf_add64(&w->rec, (uint64_t)c->shape[d], e) < 0)
				return -1;
	}
	if (buf_add(&w->rec, w->meta.p, w->meta.n, e) < 0)
		return -1;
	if (w->rec.n - RECHDR > QKV_MAXREC)
		return qkv_errf(e, "header of %zu bytes is too big",
		    w->rec.n - RECHDR);
	if (seal_record(&w->rec, "HEAD", e) < 0 ||
	    write_all(w, w->rec.p, w->rec.n, e) < 0)
		return -1;
	w->started = 1;
	free(w->meta.p);
	memset(&w->meta, 0, sizeof w->meta);
	return 0;
}

/* Deflate the pieces a[0..na) and b[0..nb) as one zlib stream, appended
 * to out; returns the compressed size or (size_t)-1 on error. */
static size_t
deflate2(zctx *zc, int level, int how, buf *out, const void *a, size_t na,
    const void *b, size_t nb, qkv_err *e)
{
	z_stream *z = &zc->z[how];
	size_t start = out->n, bound;

	if (!zc->zinit[how]) {
		if (deflateInit2(z, level, Z_DEFLATED, 15, 8,
		    how_strategy[how]) != Z_OK) {
			qkv_errf(e, "zlib: cannot initialise");
			return (size_t)-1;
		}
		zc->zinit[how] = 1;
	} else
		deflateReset(z);
	bound = deflateBound(z, (uLong)(na + nb));
	if (buf_grow(out, bound, e) < 0)
		return (size_t)-1;
	z->next_out = out->p + start;
	z->avail_out = (uInt)bound;
	z->next_in = (Bytef *)(uintptr_t)a;
	z->avail_in = (uInt)na;
	if (na > 0 && nb > 0 && deflate(z, Z_NO_FLUSH) != Z_OK)
		goto bad;
	if (nb > 0) {
		z->next_in = (Bytef *)(uintptr_t)b;
		z->avail_in = (uInt)nb;
	}
	if (deflate(z, Z_FINISH) != Z_STREAM_END)
		goto bad;
	out->n = start + (bound - z->avail_out);
	return bound - z->avail_out;
bad:
	qkv_errf(e, "zlib: deflate failed");
	return (size_t)-1;
}

/* The way the trial of chunk t chose for column i; waits for that trial
 * when another thread still runs it. */
static int
decided_how(qkv_writer *w, uint64_t t, int i)
{
	int k = (int)(t / RETRY % 2), how;

	if (w->running == 0)
		return w->decided[k][i];
	pthread_mutex_lock(&w->mu);
	while (w->decided_seq[k] != t)
		pthread_cond_wait(&w->cv, &w->mu);
	how = w->decided[k][i];
	pthread_mutex_unlock(&w->mu);
	return how;
}

/* Compress block i of job j into j->rec from offset at: every way on a
 * trial chunk, keeping the smallest, else the way its trial chose.
 * Returns the codec (raw when nothing pays: the caller then stores), or
 * -1. */
static int
compress_block(qkv_writer *w, zctx *zc, wjob *j, int i, size_t at,
    size_t ulen, qkv_err *e)
{
	const wcol *c = &w->cols[i];
	buf *counts = &j->counts[i], *vals = &j->vals[i];
	int trial = c->esize > 1 && j->seq % RETRY == 0;
	int first = c->esize == 1 ? HOW_PLAIN : trial ? HOW_PLAIN :
	    decided_how(w, j->seq - j->seq % RETRY, i);
	int last = trial ? NHOW - 1 : first;
	size_t best = ulen;
	int besthow = -1;

	if (first != HOW_PLAIN || trial) {
		/* byte planes: see formats/qkv.md */
		zc->tmp.n = 0;
		if (buf_grow(&zc->tmp, vals->n, e) < 0)
			return -1;
		shuffle(zc->tmp.p, vals->p, vals->n / c->esize, c->esize);
	}
	for (int how = first; how <= last; how++) {
		size_t clen;
		j->rec.n = at;
		clen = deflate2(zc, w->level, how, &j->rec, counts->p,
		    counts->n, how == HOW_PLAIN ? vals->p : zc->tmp.p, vals->n,
		    e);
		if (clen == (size_t)-1)
			return -1;
		if (clen >= best)
			continue;
		best = clen;
		besthow = how;
		if (trial) {
			zc->best.n = 0;
			if (buf_add(&zc->best, j->rec.p + at, clen, e) < 0)
				return -1;
		}
	}
	if (trial)
		j->how[i] = besthow >= 0 ? besthow : HOW_PLAIN;
	j->rec.n = at;
	if (besthow < 0)
		return QKV_CODEC_RAW;
	if (trial)
		memcpy(j->rec.p + at, zc->best.p, best);
	j->rec.n = at + best;
	return besthow == HOW_PLAIN ? QKV_CODEC_ZLIB : QKV_CODEC_SHUFFLE;
}

/* Make job j's CHNK record. */
static int
compress_job(qkv_writer *w, zctx *zc, wjob *j, qkv_err *e)
{
	if (rec_start(&j->rec, e) < 0 || buf_add32(&j->rec, j->nrows, e) < 0)
		return -1;
	for (int i = 0; i < w->ncols; i++) {
		buf *counts = &j->counts[i], *vals = &j->vals[i];
		size_t ulen = counts->n + vals->n, clen, hdr = j->rec.n;
		uint32_t crc = qkv_crc32(qkv_crc32(0, counts->p, counts->n),
		    vals->p, vals->n);
		int codec = QKV_CODEC_RAW;

		if (buf_grow(&j->rec, BLOCKHDR, e) < 0)
			return -1;
		j->rec.n += BLOCKHDR;
		if (w->level > 0 && ulen > 0 && (codec = compress_block(w, zc,
		    j, i, hdr + BLOCKHDR, ulen, e)) < 0)
			return -1;
		if (codec == QKV_CODEC_RAW &&
		    (buf_add(&j->rec, counts->p, counts->n, e) < 0 ||
		    buf_add(&j->rec, vals->p, vals->n, e) < 0))
			return -1;
		clen = j->rec.n - hdr - BLOCKHDR;
		unsigned char *h = j->rec.p + hdr;
		memset(h, 0, 4);
		h[0] = (unsigned char)codec;
		put32(h + 4, (uint32_t)ulen);
		put32(h + 8, (uint32_t)clen);
		put32(h + 12, crc);
	}
	return seal_record(&j->rec, "CHNK", e);
}

/* Compress job j; a trial job then publishes its choices (also when it
 * failed, so that no one waits for it forever). */
static void
run_job(qkv_writer *w, zctx *zc, wjob *j)
{
	int trial = j->seq % RETRY == 0, k = (int)(j->seq / RETRY % 2);

	if (trial)
		for (int i = 0; i < w->ncols; i++)
			j->how[i] = HOW_PLAIN;
	j->failed = compress_job(w, zc, j, &j->err) < 0;
	if (!trial)
		return;
	if (w->running)
		pthread_mutex_lock(&w->mu);
	memcpy(w->decided[k], j->how, (size_t)w->ncols * sizeof(int));
	w->decided_seq[k] = j->seq;
	if (w->running) {
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static void *
worker(void *arg)
{
	zctx *zc = arg;
	qkv_writer *w = zc->w;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		wjob *j = NULL;
		for (int i = 0; i < w->njobs; i++)
			if (w->jobs[i].state == JOB_READY &&
			    (j == NULL || w->jobs[i].seq < j->seq))
				j = &w->jobs[i];
		if (j == NULL) {
			if (w->quit)
				break;
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		j->state = JOB_BUSY;
		pthread_mutex_unlock(&w->mu);
		run_job(w, zc, j);
		pthread_mutex_lock(&w->mu);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Job states are shared with the workers, which scan them. */
static void
set_state(qkv_writer *w, wjob *j, int state)
{
	if (w->running)
		pthread_mutex_lock(&w->mu);
	j->state = state;
	if (w->running)
		pthread_mutex_unlock(&w->mu);
}

/* Write the chunks before number upto, in order, waiting for each. */
static int
write_upto(qkv_writer *w, uint64_t upto, qkv_err *e)
{
	while (w->written < upto) {
		wjob *j = &w->jobs[w->written % (uint64_t)w->njobs];
		if (w->running) {
			pthread_mutex_lock(&w->mu);
			while (j->state != JOB_DONE)
				pthread_cond_wait(&w->cv, &w->mu);
			pthread_mutex_unlock(&w->mu);
		}
		if (j->failed) {
			*e = j->err;
			return -1;
		}
		if (write_all(w, j->rec.p, j->rec.n, e) < 0)
			return -1;
		set_state(w, j, JOB_FREE);
		w->written++;
	}
	return 0;
}

/* End the open chunk, if any: compress it here, or hand it to a worker. */
static int
end_chunk(qkv_writer *w, qkv_err *e)
{
	wjob *j = w->cur;

	if (j == NULL || j->nrows == 0)
		return 0;
	j->seq = w->chunks++;
	w->rows += j->nrows;
	w->cur = NULL;
	w->pending = 0;
	if (w->running == 0) {
		run_job(w, &w->self, j);
		j->state = JOB_DONE;
		return write_upto(w, w->chunks, e);
	}
	pthread_mutex_lock(&w->mu);
	j->state = JOB_READY;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* The slot for the next chunk, once the chunk it held has been written. */
static int
next_job(qkv_writer *w, qkv_err *e)
{
	wjob *j = &w->jobs[w->chunks % (uint64_t)w->njobs];

	/* only this thread frees slots: no lock needed to see FREE */
	if (w->chunks >= (uint64_t)w->njobs && write_upto(w, w->chunks -
	    (uint64_t)w->njobs + 1, e) < 0)
		return -1;
	set_state(w, j, JOB_FILL);
	j->nrows = 0;
	for (int i = 0; i < w->ncols; i++)
		j->counts[i].n = j->vals[i].n = 0;
	w->cur = j;
	return 0;
}

/* Largest content of one chunk: its body must stay within QKV_MAXREC. */
static size_t
max_content(const qkv_writer *w)
{
	return QKV_MAXREC - 4 - (size_t)BLOCKHDR * (size_t)w->ncols;
}

int
qkv_writer_row(qkv_writer *w, const qkv_cell *cells, qkv_err *e)
{
	size_t need = 0;

	if (w->failed)
		return qkv_errf(e, "%s: earlier error", w->name);
	for (int i = 0; i < w->ncols; i++) {
		wcol *c = &w->cols[i];
		size_t b;
		if (c->c.kind == QKV_COL_FIXED)
			b = c->rowbytes;
		else if (qkv_mul_size(cells[i].n, c->esize, &b) < 0 ||
		    qkv_add_size(b, 4, &b) < 0)
			b = SIZE_MAX;
		if (b > max_content(w) || need + b > max_content(w))
			return qkv_errf(e, "%s: row %llu: column '%s': row too "
			    "big for a chunk", w->name, (unsigned long long)
			    (w->rows + (w->cur ? w->cur->nrows : 0)), c->c.name);
		need += b;
	}
	if (!w->started && write_head(w, e) < 0)
		return werr(w, e);
	if (w->cur != NULL && (w->pending + need > w->target ||
	    w->pending + need > max_content(w) ||
	    w->cur->nrows >= QKV_MAXCHUNKROWS) && end_chunk(w, e) < 0)
		return werr(w, e);
	if (w->cur == NULL && next_job(w, e) < 0)
		return werr(w, e);
	wjob *j = w->cur;
	for (int i = 0; i < w->ncols; i++) {
		wcol *c = &w->cols[i];
		if (c->c.kind == QKV_COL_FIXED) {
			if (buf_add(&j->vals[i], cells[i].p, c->rowbytes, e) < 0)
				return werr(w, e);
			continue;
		}
		if (buf_add32(&j->counts[i], (uint32_t)cells[i].n, e) < 0 ||
		    buf_add(&j->vals[i], cells[i].p, cells[i].n * c->esize,
		    e) < 0)
			return werr(w, e);
	}
	j->nrows++;
	w->pending += need;
	/* a chunk that reached its target goes out now, not on the next row */
	if (w->pending >= w->target && end_chunk(w, e) < 0)
		return werr(w, e);
	return 0;
}

/* End the open chunk and write every chunk ended so far. */
static int
drain(qkv_writer *w, qkv_err *e)
{
	if (!w->started && write_head(w, e) < 0)
		return -1;
	if (end_chunk(w, e) < 0 || write_upto(w, w->chunks, e) < 0)
		return -1;
	if (fflush(w->f) != 0)
		return qkv_errf(e, "write error: %s", strerror(errno));
	return 0;
}

int
qkv_writer_flush(qkv_writer *w, qkv_err *e)
{
	if (w->failed)
		return qkv_errf(e, "%s: earlier error", w->name);
	return drain(w, e) < 0 ? werr(w, e) : 0;
}

int
qkv_writer_close(qkv_writer *w, qkv_err *e)
{
	int rc = -1;

	if (w->failed) {
		qkv_errf(e, "%s: earlier error", w->name);
		goto out;
	}
	if (drain(w, e) < 0 || rec_start(&w->rec, e) < 0 ||
	    buf_add64(&w->rec, w->rows, e) < 0 ||
	    buf_add64(&w->rec, w->chunks, e) < 0 ||
	    seal_record(&w->rec, "END ", e) < 0 ||
	    write_all(w, w->rec.p, w->rec.n, e) < 0)
		goto bad;
	if (fflush(w->f) != 0) {
		qkv_errf(e, "write error: %s", strerror(errno));
		goto bad;
	}
	rc = 0;
	goto out;
bad:
	qkv_errprefix(e, w->name);
out:
	qkv_writer_free(w);
	return rc;
}

static void
zctx_free(zctx *zc)
{
	for (int i = 0; i < NHOW; i++)
		if (zc->zinit[i])
			deflateEnd(&zc->z[i]);
	free(zc->tmp.p);
	free(zc->best.p);
}

void
qkv_writer_free(qkv_writer *w)
{
	if (w == NULL)
		return;
	if (w->running > 0) {
		pthread_mutex_lock(&w->mu);
		w->quit = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		for (int i = 0; i < w->running; i++) {
			pthread_join(w->tid[i], NULL);
			zctx_free(&w->tz[i]);
		}
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
	}
	for (int i = 0; w->jobs != NULL && i < w->njobs; i++) {
		wjob *j = &w->jobs[i];
		for (int k = 0; k < w->ncols; k++) {
			if (j->counts)
				free(j->counts[k].p);
			if (j->vals)
				free(j->vals[k].p);
		}
		free(j->counts);
		free(j->vals);
		free(j->how);
		free(j->rec.p);
	}
	zctx_free(&w->self);
	free(w->jobs);
	free(w->decided[0]);
	free(w->decided[1]);
	free(w->cols);
	free(w->meta.p);
	free(w->rec.p);
	free(w->name);
	free(w);
}

/* ---- row stream reader ------------------------------------------------- */

typedef struct rcol {
	qkv_col c;
	size_t esize, rowbytes;
	unsigned char *mem;	/* decoded content, values region aligned */
	size_t cap;
	const unsigned char *counts, *vals;
	size_t cursor;		/* byte offset of the next row's values */
} rcol;

struct qkv_reader {
	qkv_in *in;		/* or memory: */
	const unsigned char *mem;
	size_t memlen, mempos;
	char *name;
	uint64_t off;		/* offset of the next unread byte */
	uint64_t recoff;	/* offset of the current record */
	int ncols;
	rcol *cols;
	qkv_colstat *stat;
	unsigned char *head;	/* HEAD body: metadata values point here */
	meta *meta, *msorted;
	char *mkeys;
	int nmeta;
	unsigned char *rec;	/* current record: header, body, crc */
	size_t reccap;
	unsigned char *tmp;	/* inflated shuffled content */
	size_t tmpcap;
	uint32_t nrows, row;	/* rows in the decoded chunk, next row */
	uint64_t rows_seen, rows_out, chunks;
	int done, failed;
	z_stream z;
	int zinit;
};

static int
src_read(qkv_reader *r, void *p, size_t n, qkv_err *e)
{
	long got;

	if (r->in == NULL) {
		size_t k = r->memlen - r->mempos < n ? r->memlen - r->mempos : n;
		memcpy(p, r->mem + r->mempos, k);
		r->mempos += k;
		r->off += k;
		return (int)(k == n);
	}
	if ((got = qkv_in_read(r->in, p, n, e)) < 0)
		return -1;
	r->off += (uint64_t)got;
	return (size_t)got == n;
}

/* Error at the current record: "NAME: offset N: ..." */
static int
rerr(qkv_reader *r, qkv_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
rerr(qkv_reader *r, qkv_err *e, const char *fmt, ...)
{
	char msg[sizeof e->msg];
	va_list ap;

	r->failed = 1;
	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return qkv_errf(e, "%s: offset %llu: %s", r->name,
	    (unsigned long long)r->recoff, msg);
}

/* Read one record into r->rec (8-byte header, body, CRC), growing the
 * buffer only as bytes arrive.  Returns 1, or -1.  *tag, *len set. */
static int
read_record(qkv_reader *r, const unsigned char **body, uint32_t *len,
    char tag[5], qkv_err *e)
{
	unsigned char hdr[RECHDR];
	size_t need, got;
	int k;

	r->recoff = r->off;
	if ((k = src_read(r, hdr, RECHDR, e)) < 0)
		return (r->failed = 1), -1;
	if (k == 0)
		return rerr(r, e, r->off == r->recoff ? "truncated: input ends "
		    "before the end record" : "truncated record header");
	memcpy(tag, hdr, 4);
	tag[4] = '\0';
	*len = get32(hdr + 4);
	if (*len > QKV_MAXREC)
		return rerr(r, e, "record of %u bytes (limit %u)", *len,
		    QKV_MAXREC);
	need = RECHDR + (size_t)*len + 4;
	got = RECHDR;
	if (r->reccap < RECHDR + 4) {
		free(r->rec);
		if ((r->rec = qkv_malloc(4096, e)) == NULL)
			return rerr(r, e, "out of memory");
		r->reccap = 4096;
	}
	memcpy(r->rec, hdr, RECHDR);
	while (got < need) {
		size_t want = need - got > READSTEP ? READSTEP : need - got;
		if (got + want > r->reccap) {
			size_t cap = r->reccap;
			while (cap < got + want)
				cap *= 2;
			if (cap > need)
				cap = need;
			unsigned char *np = realloc(r->rec, cap);
			if (np == NULL)
				return rerr(r, e, "out of memory");
			r->rec = np;
			r->reccap = cap;
		}
		if ((k = src_read(r, r->rec + got, want, e)) < 0)
			return (r->failed = 1), -1;
		if (k == 0)
			return rerr(r, e, "truncated %s record (or its length, "
			    "%u, is damaged)", tag, *len);
		got += want;
	}
	if (qkv_crc32(0, r->rec, need - 4) != get32(r->rec + need - 4))
		return rerr(r, e, "%s record: checksum mismatch", tag);
	*body = r->rec + RECHDR;
	return 1;
}

static qkv_reader *
reader_open(qkv_reader *r, qkv_err *e)
{
	unsigned char pre[PREAMBLE];
	const unsigned char *body;
	uint32_t len, ncols, nmeta;
	char tag[5];
	const char *names[QKV_MAXCOLS];
	int k;

	memset(pre, 0, sizeof pre);
	if ((k = src_read(r, pre, PREAMBLE, e)) < 0)
		goto fail;
	if (k == 0 || qkv_kind(pre, PREAMBLE) != 'S') {
		preamble_err(pre, (size_t)r->off, 'S', e);
		goto failp;
	}
	if (read_record(r, &body, &len, tag, e) < 0)
		goto fail;
	if (strcmp(tag, "HEAD") != 0) {
		rerr(r, e, "expected a HEAD record, found '%s'", tag);
		goto fail;
	}
	/* keep the body: metadata values point into it */
	if ((r->head = qkv_malloc(len, e)) == NULL)
		goto failp;
	memcpy(r->head, body, len);
	cur c = {r->head, r->head + len, 0};
	ncols = take32(&c);
	nmeta = take32(&c);
	if (c.bad || ncols < 1 || ncols > QKV_MAXCOLS) {
		rerr(r, e, "HEAD: %u columns (must be 1 to %d)", ncols,
		    QKV_MAXCOLS);
		goto fail;
	}
	if ((r->cols = qkv_calloc(ncols, sizeof *r->cols, e)) == NULL ||
	    (r->stat = qkv_calloc(ncols, sizeof *r->stat, e)) == NULL)
		goto failp;
	r->ncols = (int)ncols;
	for (uint32_t i = 0; i < ncols; i++) {
		rcol *rc = &r->cols[i];
		qkv_col *col = &rc->c;
		uint64_t rb = 0;
		if (take_name(&c, col->name) < 0) {
			rerr(r, e, "HEAD: column %u: bad name", i);
			goto fail;
		}
		col->kind = (int)take8(&c);
		col->dtype = (int)take8(&c);
		col->ndim = (int)take8(&c);
		if (col->ndim > QKV_MAXDIM) {
			rerr(r, e, "HEAD: column '%s': %d dimensions (limit %d)",
			    col->name, col->ndim, QKV_MAXDIM);
			goto fail;
		}
		for (int d = 0; d < col->ndim; d++) {
			uint64_t v = take64(&c);
			col->shape[d] = v > INT64_MAX ? -1 : (int64_t)v;
		}
		if (c.bad) {
			rerr(r, e, "HEAD: column %u runs past the record", i);
			goto fail;
		}
		switch (col->kind) {
		case QKV_COL_FIXED:
			if (qkv_dtype_size(col->dtype) == 0)
				goto baddtype;
			if (shape_bytes(col->dtype, col->ndim, col->shape,
			    &rb) < 0 || rb > QKV_MAXREC) {
				rerr(r, e, "HEAD: column '%s': shape too big",
				    col->name);
				goto fail;
			}
			rc->esize = qkv_dtype_size(col->dtype);
			break;
		case QKV_COL_RAGGED:
		case QKV_COL_STRING:
			if ((col->kind == QKV_COL_STRING) !=
			    (col->dtype == QKV_STR) ||
			    (col->dtype != QKV_STR &&
			    qkv_dtype_size(col->dtype) == 0))
				goto baddtype;
			if (col->ndim != 0) {
				rerr(r, e, "HEAD: column '%s': %s with "
				    "dimensions", col->name,
				    qkv_col_kind_name(col->kind));
				goto fail;
			}
			rc->esize = col->kind == QKV_COL_STRING ? 1 :
			    qkv_dtype_size(col->dtype);
			break;
		default:
			rerr(r, e, "HEAD: column '%s': unknown kind %d",
			    col->name, col->kind);
			goto fail;
		}
		rc->rowbytes = (size_t)rb;
		names[i] = col->name;
		continue;
baddtype:
		rerr(r, e, "HEAD: column '%s': bad dtype %d for a %s column",
		    col->name, col->dtype, qkv_col_kind_name(col->kind));
		goto fail;
	}
	const char *dup = find_dup(names, ncols);
	if (dup != NULL) {
		rerr(r, e, "HEAD: column '%s' declared twice", dup);
		goto fail;
	}
	if (parse_meta(&c, nmeta, &r->meta, &r->msorted, &r->mkeys, e) < 0) {
		char m[sizeof e->msg];
		snprintf(m, sizeof m, "%s", e ? e->msg : "");
		rerr(r, e, "HEAD: %s", m);
		goto fail;
	}
	r->nmeta = (int)nmeta;
	if (c.p != c.end) {
		rerr(r, e, "HEAD: %zu bytes left over", (size_t)(c.end - c.p));
		goto fail;
	}
	return r;
failp:
	qkv_errprefix(e, r->name);
fail:
	qkv_reader_close(r);
	return NULL;
}

static qkv_reader *
reader_new(const char *name, qkv_err *e)
{
	qkv_reader *r = qkv_calloc(1, sizeof *r, e);

	if (r != NULL && (r->name = strdup(name)) == NULL) {
		free(r);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	return r;
}

qkv_reader *
qkv_reader_open(qkv_in *in, qkv_err *e)
{
	qkv_reader *r = reader_new(qkv_in_name(in), e);

	if (r == NULL)
		return NULL;
	r->in = in;
	return reader_open(r, e);
}

qkv_reader *
qkv_reader_open_mem(const void *p, size_t len, const char *name, qkv_err *e)
{
	qkv_reader *r = reader_new(name ? name : "<memory>", e);

	if (r == NULL)
		return NULL;
	r->mem = p;
	r->memlen = len;
	return reader_open(r, e);
}

int
qkv_reader_ncols(const qkv_reader *r)
{
	return r->ncols;
}

const qkv_col *
qkv_reader_col(const qkv_reader *r, int i)
{
	return i >= 0 && i < r->ncols ? &r->cols[i].c : NULL;
}

int
qkv_reader_find(const qkv_reader *r, const char *name)
{
	for (int i = 0; i < r->ncols; i++)
		if (strcmp(r->cols[i].c.name, name) == 0)
			return i;
	return -1;
}

const void *
qkv_reader_meta(const qkv_reader *r, const char *key, size_t *len)
{
	const meta *m = find_meta(r->msorted, r->nmeta, key);

	if (m == NULL)
		return NULL;
	if (len != NULL)
		*len = m->len;
	return m->val;
}

int
qkv_reader_nmeta(const qkv_reader *r)
{
	return r->nmeta;
}

const char *
qkv_reader_meta_key(const qkv_reader *r, int i)
{
	return i >= 0 && i < r->nmeta ? r->meta[i].key : NULL;
}

uint64_t
qkv_reader_rows(const qkv_reader *r)
{
	return r->rows_out;
}

uint64_t
qkv_reader_chunks(const qkv_reader *r)
{
	return r->chunks;
}

const qkv_colstat *
qkv_reader_colstat(const qkv_reader *r, int i)
{
	return i >= 0 && i < r->ncols ? &r->stat[i] : NULL;
}

/* Inflate exactly ulen bytes from src[0..clen) into dst. */
static int
inflate_exact(qkv_reader *r, unsigned char *dst, size_t ulen,
    const unsigned char *src, size_t clen)
{
	int rc;
	unsigned char extra;

	if (!r->zinit) {
		memset(&r->z, 0, sizeof r->z);
		if (inflateInit(&r->z) != Z_OK)
			return -1;
		r->zinit = 1;
	} else if (inflateReset(&r->z) != Z_OK)
		return -1;
	r->z.next_in = (Bytef *)(uintptr_t)src;
	r->z.avail_in = (uInt)clen;
	r->z.next_out = dst;
	r->z.avail_out = (uInt)ulen;
	rc = inflate(&r->z, Z_FINISH);
	if (rc == Z_BUF_ERROR && r->z.avail_out == 0) {
		/* output full: the stream must end without another byte */
		r->z.next_out = &extra;
		r->z.avail_out = 1;
		rc = inflate(&r->z, Z_FINISH);
		if (r->z.avail_out == 0)
			return -1;
	}
	if (rc != Z_STREAM_END || r->z.avail_in != 0 || r->z.avail_out != 0)
		return -1;
	return 0;
}

/* Parse (and unless skip, decode) the chunk in body[0..len). */
static int
read_chunk(qkv_reader *r, const unsigned char *body, uint32_t len, int skip,
    qkv_err *e)
{
	cur c = {body, body + len, 0};
	uint32_t nrows = take32(&c);
	uint64_t total = 0;

	if (c.bad || nrows < 1 || nrows > QKV_MAXCHUNKROWS)
		return rerr(r, e, "CHNK: %u rows (must be 1 to %u)", nrows,
		    QKV_MAXCHUNKROWS);
	for (int i = 0; i < r->ncols; i++) {
		rcol *rc = &r->cols[i];
		const unsigned char *h = take(&c, BLOCKHDR), *data;
		unsigned codec;
		uint32_t ulen, clen, crc;
		size_t ncount = 0, pad = 0, vlen;

		if (h == NULL)
			goto past;
		codec = h[0];
		ulen = get32(h + 4);
		clen = get32(h + 8);
		crc = get32(h + 12);
		if ((data = take(&c, clen)) == NULL)
			goto past;
		if (h[1] != 0 || h[2] != 0 || h[3] != 0)
			return rerr(r, e, "CHNK: column '%s': reserved bytes "
			    "not zero", rc->c.name);
		if (codec > QKV_CODEC_SHUFFLE || (codec == QKV_CODEC_SHUFFLE &&
		    (rc->c.kind == QKV_COL_STRING || rc->esize < 2)))
			return rerr(r, e, "CHNK: column '%s': bad codec %u",
			    rc->c.name, codec);
		if (codec == QKV_CODEC_RAW ? clen != ulen :
		    (uint64_t)ulen > (uint64_t)clen * MAXRATIO)
			return rerr(r, e, "CHNK: column '%s': %u bytes cannot "
			    "hold %u (codec %s)", rc->c.name, clen, ulen,
			    qkv_codec_name((int)codec));
		total += ulen;
		if (ulen > QKV_MAXREC || total > QKV_MAXREC)
			return rerr(r, e, "CHNK: column '%s': content too big",
			    rc->c.name);
		if (rc->c.kind == QKV_COL_FIXED) {
			if ((uint64_t)nrows * rc->rowbytes != ulen)
				return rerr(r, e, "CHNK: column '%s': %u bytes "
				    "for %u rows of %zu bytes", rc->c.name, ulen,
				    nrows, rc->rowbytes);
		} else {
			ncount = (size_t)nrows * 4;
			if (ulen < ncount)
				return rerr(r, e, "CHNK: column '%s': %u bytes "
				    "cannot hold %u row lengths", rc->c.name,
				    ulen, nrows);
		}
		qkv_colstat *st = &r->stat[i];
		st->crc = st->raw == 0 ? crc : (uint32_t)crc32_combine(st->crc,
		    crc, (z_off_t)ulen);
		st->raw += ulen;
		st->stored += clen;
		st->codecs |= 1u << codec;
		if (skip)
			continue;

		/* Decode so that the values region is 8-byte aligned: the
		 * count array (4 bytes a row) starts 4 bytes in when the
		 * number of rows is odd. */
		pad = ncount % 8;
		vlen = ulen - ncount;
		if (rc->cap < pad + ulen) {
			free(rc->mem);
			rc->cap = pad + ulen;
			if ((rc->mem = qkv_malloc(rc->cap, e)) == NULL) {
				rc->cap = 0;
				return rerr(r, e, "out of memory");
			}
		}
		unsigned char *dst = rc->mem + pad;
		if (codec == QKV_CODEC_RAW)
			memcpy(dst, data, ulen);
		else if (codec == QKV_CODEC_ZLIB) {
			if (inflate_exact(r, dst, ulen, data, clen) < 0)
				goto zbad;
		} else {
			if (r->tmpcap < ulen) {
				free(r->tmp);
				r->tmpcap = ulen;
				if ((r->tmp = qkv_malloc(ulen, e)) == NULL) {
					r->tmpcap = 0;
					return rerr(r, e, "out of memory");
				}
			}
			if (inflate_exact(r, r->tmp, ulen, data, clen) < 0)
				goto zbad;
			memcpy(dst, r->tmp, ncount);
			if (vlen % rc->esize != 0)
				goto lens;
			unshuffle(dst + ncount, r->tmp + ncount,
			    vlen / rc->esize, rc->esize);
		}
		if (qkv_crc32(0, dst, ulen) != crc)
			return rerr(r, e, "CHNK: column '%s': checksum mismatch",
			    rc->c.name);
		rc->counts = dst;
		rc->vals = dst + ncount;
		rc->cursor = 0;
		if (rc->c.kind != QKV_COL_FIXED) {
			uint64_t sum = 0;
			for (uint32_t k = 0; k < nrows; k++)
				sum += get32(dst + 4 * (size_t)k);
			if (sum * rc->esize != vlen)
				goto lens;
		}
		continue;
zbad:
		return rerr(r, e, "CHNK: column '%s': bad zlib data",
		    rc->c.name);
lens:
		return rerr(r, e, "CHNK: column '%s': row lengths do not add up "
		    "to the content", rc->c.name);
	}
	if (c.p != c.end)
		return rerr(r, e, "CHNK: %zu bytes left over",
		    (size_t)(c.end - c.p));
	r->rows_seen += nrows;
	r->chunks++;
	if (skip)
		r->rows_out += nrows;
	r->nrows = skip ? 0 : nrows;
	r->row = 0;
	return 1;
past:
	return rerr(r, e, "CHNK: block runs past the record");
}

/* After END: the input must end here. */
static int
at_eof(qkv_reader *r, qkv_err *e)
{
	if (r->in == NULL)
		return r->mempos == r->memlen ? 0 : -1;
	const unsigned char *p;
	long n = qkv_in_peek(r->in, 1, &p, e);
	if (n < 0) {
		r->failed = 1;
		return qkv_errprefix(e, r->name);
	}
	return n == 0 ? 0 : -1;
}

/* Read records up to the next chunk (1), or the end (0). */
static int
next_chunk(qkv_reader *r, int skip, qkv_err *e)
{
	const unsigned char *body;
	uint32_t len;
	char tag[5];

	for (;;) {
		if (read_record(r, &body, &len, tag, e) < 0)
			return -1;
		if (strcmp(tag, "CHNK") == 0)
			return read_chunk(r, body, len, skip, e);
		if (strcmp(tag, "END ") == 0) {
			if (len != 16)
				return rerr(r, e, "END record of %u bytes", len);
			uint64_t rows = get64(body), chunks = get64(body + 8);
			if (rows != r->rows_seen || chunks != r->chunks)
				return rerr(r, e, "END: stream says %llu rows in "
				    "%llu chunks, found %llu in %llu",
				    (unsigned long long)rows,
				    (unsigned long long)chunks,
				    (unsigned long long)r->rows_seen,
				    (unsigned long long)r->chunks);
			r->recoff = r->off;
			if (at_eof(r, e) < 0)
				return r->failed ? -1 :
				    rerr(r, e, "data after the end record");
			r->done = 1;
			return 0;
		}
		if (tag[0] >= 'a' && tag[0] <= 'z')
			continue;	/* ancillary */
		return rerr(r, e, "unknown record '%s'", tag);
	}
}

int
qkv_reader_next(qkv_reader *r, qkv_cell *cells, qkv_err *e)
{
	int rc;

	if (r->failed)
		return qkv_errf(e, "%s: earlier error", r->name);
	while (r->row >= r->nrows) {
		if (r->done)
			return 0;
		if ((rc = next_chunk(r, 0, e)) <= 0)
			return rc;
	}
	for (int i = 0; i < r->ncols; i++) {
		rcol *c = &r->cols[i];
		size_t n;
		if (c->c.kind == QKV_COL_FIXED) {
			cells[i].p = c->vals + (size_t)r->row * c->rowbytes;
			cells[i].n = c->rowbytes / c->esize;
			continue;
		}
		n = get32(c->counts + 4 * (size_t)r->row);
		cells[i].p = c->vals + c->cursor;
		cells[i].n = n;
		c->cursor += n * c->esize;
	}
	r->row++;
	r->rows_out++;
	return 1;
}

int
qkv_reader_skip(qkv_reader *r, qkv_err *e)
{
	if (r->failed)
		return qkv_errf(e, "%s: earlier error", r->name);
	if (r->done)
		return 0;
	r->nrows = r->row = 0;
	return next_chunk(r, 1, e);
}

void
qkv_reader_close(qkv_reader *r)
{
	if (r == NULL)
		return;
	for (int i = 0; r->cols != NULL && i < r->ncols; i++)
		free(r->cols[i].mem);
	if (r->zinit)
		inflateEnd(&r->z);
	free(r->cols);
	free(r->stat);
	free(r->head);
	free(r->meta);
	free(r->msorted);
	free(r->mkeys);
	free(r->rec);
	free(r->tmp);
	free(r->name);
	free(r);
}

/* ---- tensor files ------------------------------------------------------ */

typedef struct ftensor {
	qkv_tensor t;
	uint64_t offset;
	uint32_t crc;
} ftensor;

struct qkv_file {
	char *name;
	const unsigned char *base;
	size_t len;
	void *map;		/* munmap this, */
	unsigned char *owned;	/* or free this */
	uint64_t toc;
	int ntensors;
	ftensor *tensors;
	const ftensor **sorted;	/* by name */
	char *names;
	meta *meta, *msorted;
	char *mkeys;
	int nmeta;
};

static int
cmp_ftensor(const void *a, const void *b)
{
	return strcmp((*(const ftensor *const *)a)->t.name,
	    (*(const ftensor *const *)b)->t.name);
}

/* Parse f->base[0..len): preamble, END, TOC. */
static int
file_parse(qkv_file *f, qkv_err *e)
{
	const unsigned char *b = f->base, *end;
	size_t len = f->len;
	uint64_t toc, tlen, prev = ALIGN;
	uint32_t nt, nm;

	if (qkv_kind(b, len) != 'T')
		return preamble_err(b, len, 'T', e);
	if (len < ALIGN + 20 + ENDLEN)
		return qkv_errf(e, "truncated: %zu bytes is too short for a "
		    "tensor file", len);
	end = b + len - ENDLEN;
	if (memcmp(end, "END ", 4) != 0 || get32(end + 4) != 16)
		return qkv_errf(e, "offset %zu: no end record (truncated?)",
		    len - ENDLEN);
	if (qkv_crc32(0, end, ENDLEN - 4) != get32(end + ENDLEN - 4))
		return qkv_errf(e, "offset %zu: END record: checksum mismatch",
		    len - ENDLEN);
	toc = get64(end + 8);
	nt = get32(end + 16);
	nm = get32(end + 20);
	if (toc < ALIGN || toc > len - ENDLEN - RECHDR - 4)
		return qkv_errf(e, "offset %zu: END: table of contents offset "
		    "%llu out of range", len - ENDLEN, (unsigned long long)toc);
	f->toc = toc;
	const unsigned char *t = b + toc;
	tlen = get32(t + 4);
	if (memcmp(t, "TOC ", 4) != 0 || tlen > QKV_MAXREC ||
	    toc + RECHDR + tlen + 4 != len - ENDLEN)
		return qkv_errf(e, "offset %llu: bad TOC record",
		    (unsigned long long)toc);
	if (qkv_crc32(0, t, RECHDR + tlen) != get32(t + RECHDR + tlen))
		return qkv_errf(e, "offset %llu: TOC record: checksum mismatch",
		    (unsigned long long)toc);
	cur c = {t + RECHDR, t + RECHDR + tlen, 0};
	if (take32(&c) != nt || take32(&c) != nm || c.bad)
		return qkv_errf(e, "offset %llu: TOC and END disagree on counts",
		    (unsigned long long)toc);
	/* a tensor entry takes at least 24 bytes */
	if (nt > tlen / 24 || nt > INT32_MAX || nm > INT32_MAX)
		return qkv_errf(e, "offset %llu: TOC: %u tensors do not fit",
		    (unsigned long long)toc, nt);
	if ((f->tensors = qkv_calloc(nt, sizeof *f->tensors, e)) == NULL ||
	    (f->sorted = qkv_calloc(nt, sizeof *f->sorted, e)) == NULL ||
	    (f->names = qkv_malloc(tlen, e)) == NULL)
		return -1;
	size_t nn = 0;
	for (uint32_t i = 0; i < nt; i++) {
		ftensor *ft = &f->tensors[i];
		qkv_tensor *q = &ft->t;
		char name[QKV_MAXNAME + 1];
		uint64_t nbytes = 0;

		if (take_name(&c, name) < 0)
			return qkv_errf(e, "offset %llu: TOC: tensor %u: bad "
			    "name", (unsigned long long)toc, i);
		q->dtype = (int)take8(&c);
		q->ndim = (int)take8(&c);
		if (q->ndim > QKV_MAXDIM)
			return qkv_errf(e, "offset %llu: TOC: tensor '%s': %d "
			    "dimensions (limit %d)", (unsigned long long)toc,
			    name, q->ndim, QKV_MAXDIM);
		for (int d = 0; d < q->ndim; d++) {
			uint64_t v = take64(&c);
			q->shape[d] = v > INT64_MAX ? -1 : (int64_t)v;
		}
		ft->offset = take64(&c);
		q->nbytes = take64(&c);
		ft->crc = take32(&c);
		if (c.bad)
			return qkv_errf(e, "offset %llu: TOC: tensor %u runs past "
			    "the record", (unsigned long long)toc, i);
		if (q->dtype == QKV_STR || qkv_dtype_size(q->dtype) == 0)
			return qkv_errf(e, "offset %llu: TOC: tensor '%s': bad "
			    "dtype %d", (unsigned long long)toc, name, q->dtype);
		if (shape_bytes(q->dtype, q->ndim, q->shape, &nbytes) < 0 ||
		    nbytes != q->nbytes)
			return qkv_errf(e, "offset %llu: TOC: tensor '%s': shape "
			    "and size (%llu bytes) disagree or overflow",
			    (unsigned long long)toc, name,
			    (unsigned long long)q->nbytes);
		if (ft->offset % ALIGN != 0 || ft->offset < prev ||
		    ft->offset > toc || q->nbytes > toc - ft->offset)
			return qkv_errf(e, "offset %llu: TOC: tensor '%s': data "
			    "at %llu+%llu is misaligned, overlapping or out of "
			    "range", (unsigned long long)toc, name,
			    (unsigned long long)ft->offset,
			    (unsigned long long)q->nbytes);
		prev = ft->offset + q->nbytes;
		q->data = b + ft->offset;
		size_t k = strlen(name) + 1;
		memcpy(f->names + nn, name, k);
		q->name = (const char *)(uintptr_t)nn;
		nn += k;
	}
	for (uint32_t i = 0; i < nt; i++) {
		f->tensors[i].t.name = f->names + (uintptr_t)f->tensors[i].t.name;
		f->sorted[i] = &f->tensors[i];
	}
	f->ntensors = (int)nt;
	qsort(f->sorted, nt, sizeof *f->sorted, cmp_ftensor);
	for (uint32_t i = 1; i < nt; i++)
		if (strcmp(f->sorted[i - 1]->t.name, f->sorted[i]->t.name) == 0)
			return qkv_errf(e, "offset %llu: TOC: tensor '%s' appears "
			    "twice", (unsigned long long)toc,
			    f->sorted[i]->t.name);
	if (parse_meta(&c, nm, &f->meta, &f->msorted, &f->mkeys, e) < 0) {
		char m[sizeof e->msg];
		snprintf(m, sizeof m, "%s", e ? e->msg : "");
		return qkv_errf(e, "offset %llu: TOC: %s",
		    (unsigned long long)toc, m);
	}
	f->nmeta = (int)nm;
	if (c.p != c.end)
		return qkv_errf(e, "offset %llu: TOC: %zu bytes left over",
		    (unsigned long long)toc, (size_t)(c.end - c.p));
	return 0;
}

static qkv_file *
file_new(const char *name, qkv_err *e)
{
	qkv_file *f = qkv_calloc(1, sizeof *f, e);

	if (f != NULL && (f->name = strdup(name ? name : "<memory>")) == NULL) {
		free(f);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	return f;
}

static qkv_file *
file_finish(qkv_file *f, qkv_err *e)
{
	if (file_parse(f, e) < 0) {
		qkv_errprefix(e, f->name);
		qkv_file_close(f);
		return NULL;
	}
	return f;
}

qkv_file *
qkv_file_parse(const void *p, size_t len, const char *name, qkv_err *e)
{
	qkv_file *f = file_new(name, e);

	if (f == NULL)
		return NULL;
	f->base = p;
	f->len = len;
	return file_finish(f, e);
}

/* Read all of fd into f->owned. */
static int
slurp(qkv_file *f, qkv_in *in, qkv_err *e)
{
	size_t cap = 1 << 20;
	long k;

	if ((f->owned = qkv_malloc(cap, e)) == NULL)
		return -1;
	for (;;) {
		if (f->len == cap) {
			unsigned char *np;
			if (cap > SIZE_MAX / 2 ||
			    (np = realloc(f->owned, cap * 2)) == NULL)
				return qkv_errf(e, "out of memory");
			f->owned = np;
			cap *= 2;
		}
		if ((k = qkv_in_read(in, f->owned + f->len, cap - f->len, e)) < 0)
			return -1;
		if (k == 0)
			break;
		f->len += (size_t)k;
	}
	f->base = f->owned;
	return 0;
}

qkv_file *
qkv_file_read(qkv_in *in, qkv_err *e)
{
	qkv_file *f = file_new(qkv_in_name(in), e);

	if (f == NULL)
		return NULL;
	if (slurp(f, in, e) < 0) {
		qkv_file_close(f);
		return NULL;
	}
	return file_finish(f, e);
}

qkv_file *
qkv_file_open(const char *path, qkv_err *e)
{
	qkv_file *f;
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		/* a pipe or device: read it whole */
		close(fd);
		qkv_in *in = qkv_in_open(path, e);
		if (in == NULL)
			return NULL;
		f = qkv_file_read(in, e);
		qkv_in_close(in);
		return f;
	}
	if ((f = file_new(path, e)) == NULL) {
		close(fd);
		return NULL;
	}
	if (st.st_size > 0) {
		f->len = (size_t)st.st_size;
		f->map = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (f->map == MAP_FAILED) {
			f->map = NULL;
			qkv_errf(e, "%s: %s", path, strerror(errno));
			close(fd);
			qkv_file_close(f);
			return NULL;
		}
		f->base = f->map;
	} else
		f->base = (const unsigned char *)"";
	close(fd);
	return file_finish(f, e);
}

static int
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

int
qkv_file_verify(qkv_file *f, qkv_err *e)
{
	uint64_t at = PREAMBLE;

	for (int i = 0; i < f->ntensors; i++) {
		const ftensor *t = &f->tensors[i];
		if (!all_zero(f->base + at, (size_t)(t->offset - at)))
			return qkv_errf(e, "%s: offset %llu: padding before "
			    "tensor '%s' is not zero", f->name,
			    (unsigned long long)at, t->t.name);
		if (qkv_crc32(0, t->t.data, (size_t)t->t.nbytes) != t->crc)
			return qkv_errf(e, "%s: offset %llu: tensor '%s': "
			    "checksum mismatch", f->name,
			    (unsigned long long)t->offset, t->t.name);
		at = t->offset + t->t.nbytes;
	}
	if (!all_zero(f->base + at, (size_t)(f->toc - at)))
		return qkv_errf(e, "%s: offset %llu: padding before the table "
		    "of contents is not zero", f->name, (unsigned long long)at);
	return 0;
}

int
qkv_file_ntensors(const qkv_file *f)
{
	return f->ntensors;
}

const qkv_tensor *
qkv_file_tensor(const qkv_file *f, int i)
{
	return i >= 0 && i < f->ntensors ? &f->tensors[i].t : NULL;
}

uint32_t
qkv_file_crc(const qkv_file *f, int i)
{
	return i >= 0 && i < f->ntensors ? f->tensors[i].crc : 0;
}

uint64_t
qkv_file_offset(const qkv_file *f, int i)
{
	return i >= 0 && i < f->ntensors ? f->tensors[i].offset : 0;
}

const qkv_tensor *
qkv_file_find(const qkv_file *f, const char *name)
{
	ftensor key;
	const ftensor *kp = &key, *const *hit;

	if (f->ntensors == 0 || name == NULL)
		return NULL;
	key.t.name = name;
	hit = bsearch(&kp, f->sorted, (size_t)f->ntensors, sizeof *f->sorted,
	    cmp_ftensor);
	return hit ? &(*hit)->t : NULL;
}

int
qkv_file_nmeta(const qkv_file *f)
{
	return f->nmeta;
}

const char *
qkv_file_meta_key(const qkv_file *f, int i)
{
	return i >= 0 && i < f->nmeta ? f->meta[i].key : NULL;
}

const void *
qkv_file_meta(const qkv_file *f, const char *key, size_t *len)
{
	const meta *m = find_meta(f->msorted, f->nmeta, key);

	if (m == NULL)
		return NULL;
	if (len != NULL)
		*len = m->len;
	return m->val;
}

void
qkv_file_close(qkv_file *f)
{
	if (f == NULL)
		return;
	if (f->map != NULL)
		munmap(f->map, f->len);
	free(f->owned);
	free(f->tensors);
	free(f->sorted);
	free(f->names);
	free(f->meta);
	free(f->msorted);
	free(f->mkeys);
	free(f->name);
	free(f);
}

/* ---- tensor file writer ------------------------------------------------ */

struct qkv_twriter {
	FILE *f;
	char *name;
	uint64_t off;
	uint32_t ntensors, nmeta;
	buf toc;		/* tensor entries */
	buf meta;		/* metadata entries */
	char **names;		/* to refuse duplicates */
	size_t namecap;
	int failed;
};

static int
twrite(qkv_twriter *w, const void *p, size_t n, qkv_err *e)
{
	if (n > 0 && fwrite(p, 1, n, w->f) != n) {
		w->failed = 1;
		return qkv_errf(e, "%s: write error: %s", w->name,
		    strerror(errno ? errno : EIO));
	}
	w->off += n;
	return 0;
}

static int
tpad(qkv_twriter *w, qkv_err *e)
{
	static const unsigned char zero[ALIGN];

	return twrite(w, zero, (size_t)((ALIGN - w->off % ALIGN) % ALIGN), e);
}

qkv_twriter *
qkv_twriter_open(FILE *f, const char *name, qkv_err *e)
{
	static const unsigned char pre[PREAMBLE] = {0x89, 'Q', 'K', 'V', 1, 'T',
	    0, 0};
	qkv_twriter *w = qkv_calloc(1, sizeof *w, e);

	if (w == NULL)
		return NULL;
	w->f = f;
	if ((w->name = strdup(name ? name : "<stdout>")) == NULL) {
		free(w);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	if (twrite(w, pre, sizeof pre, e) < 0 || tpad(w, e) < 0) {
		qkv_twriter_free(w);
		return NULL;
	}
	return w;
}

int
qkv_twriter_meta(qkv_twriter *w, const char *key, const void *val,
    size_t len, qkv_err *e)
{
	if (w->failed)
		return qkv_errf(e, "%s: earlier error", w->name);
	if (check_name("metadata key", key, e) < 0)
		return qkv_errprefix(e, w->name);
	if (has_meta(&w->meta, key))
		return qkv_errf(e, "%s: metadata key '%s' given twice", w->name,
		    key);
	if (add_meta(&w->meta, key, val, len, e) < 0)
		return qkv_errprefix(e, w->name);
	w->nmeta++;
	return 0;
}

int
qkv_twriter_tensor(qkv_twriter *w, const char *name, int dtype, int ndim,
    const int64_t *shape, const void *data, size_t nbytes, qkv_err *e)
{
	uint64_t want;

	if (w->failed)
		return qkv_errf(e, "%s: earlier error", w->name);
	if (check_name("tensor name", name, e) < 0)
		return qkv_errprefix(e, w->name);
	if (dtype == QKV_STR || shape_bytes(dtype, ndim, shape, &want) < 0)
		return qkv_errf(e, "%s: tensor '%s': bad dtype or shape",
		    w->name, name);
	if (want != nbytes)
		return qkv_errf(e, "%s: tensor '%s': %zu bytes for a shape of "
		    "%llu", w->name, name, nbytes, (unsigned long long)want);
	for (uint32_t i = 0; i < w->ntensors; i++)
		if (strcmp(w->names[i], name) == 0)
			return qkv_errf(e, "%s: tensor '%s' given twice",
			    w->name, name);
	if (w->ntensors == UINT32_MAX)
		return qkv_errf(e, "%s: too many tensors", w->name);
	if (w->ntensors == w->namecap) {
		size_t cap = w->namecap ? 2 * w->namecap : 64;
		char **np = realloc(w->names, cap * sizeof *np);
		if (np == NULL)
			return qkv_errf(e, "out of memory");
		w->names = np;
		w->namecap = cap;
	}
	if ((w->names[w->ntensors] = strdup(name)) == NULL)
		return qkv_errf(e, "out of memory");
	w->ntensors++;
	if (tpad(w, e) < 0)
		return -1;
	uint64_t at = w->off;
	if (twrite(w, data, nbytes, e) < 0)
		return -1;
	if (buf_add_name(&w->toc, name, e) < 0 ||
	    buf_add8(&w->toc, (unsigned)dtype, e) < 0 ||
	    buf_add8(&w->toc, (unsigned)ndim, e) < 0)
		goto nomem;
	for (int d = 0; d < ndim; d++)
		if (buf_add64(&w->toc, (uint64_t)shape[d], e) < 0)
			goto nomem;
	if (buf_add64(&w->toc, at, e) < 0 || buf_add64(&w->toc, nbytes, e) < 0 ||
	    buf_add32(&w->toc, qkv_crc32(0, data, nbytes), e) < 0)
		goto nomem;
	return 0;
nomem:
	w->failed = 1;
	return qkv_errprefix(e, w->name);
}

int
qkv_twriter_close(qkv_twriter *w, qkv_err *e)
{
	buf r = {0};
	uint64_t toc;
	int rc = -1;

	if (w->failed) {
		qkv_errf(e, "%s: earlier error", w->name);
		goto out;
	}
	toc = w->off;
	if (buf_add(&r, "TOC ", 4, e) < 0 || buf_add32(&r, 0, e) < 0 ||
	    buf_add32(&r, w->ntensors, e) < 0 || buf_add32(&r, w->nmeta, e) < 0 ||
	    buf_add(&r, w->toc.p, w->toc.n, e) < 0 ||
	    buf_add(&r, w->meta.p, w->meta.n, e) < 0)
		goto bad;
	if (r.n - RECHDR > QKV_MAXREC) {
		qkv_errf(e, "table of contents of %zu bytes is too big",
		    r.n - RECHDR);
		goto bad;
	}
	put32(r.p + 4, (uint32_t)(r.n - RECHDR));
	if (buf_add32(&r, qkv_crc32(0, r.p, r.n), e) < 0)
		goto bad;
	size_t endat = r.n;
	if (buf_add(&r, "END ", 4, e) < 0 || buf_add32(&r, 16, e) < 0 ||
	    buf_add64(&r, toc, e) < 0 || buf_add32(&r, w->ntensors, e) < 0 ||
	    buf_add32(&r, w->nmeta, e) < 0 ||
	    buf_add32(&r, qkv_crc32(0, r.p + endat, 24), e) < 0)
		goto bad;
	if (twrite(w, r.p, r.n, e) < 0)
		goto out;
	if (fflush(w->f) != 0) {
		qkv_errf(e, "%s: write error: %s", w->name, strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
bad:
	qkv_errprefix(e, w->name);
out:
	free(r.p);
	qkv_twriter_free(w);
	return rc;
}

void
qkv_twriter_free(qkv_twriter *w)
{
	if (w == NULL)
		return;
	for (uint32_t i = 0; i < w->ntensors; i++)
		free(w->names[i]);
	free(w->names);
	free(w->toc.p);
	free(w->meta.p);
	free(w->name);
	free(w);
}
