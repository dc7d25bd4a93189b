/* ptio.c - pretraining data in and out: documents, instances (text lines
 * or qkv row streams), and indexed corpus files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "qkv.h"
#include "ptint.h"

#define MAX_LINE ((size_t)1 << 30)
#define grow qkv_pt_grow

/* Prefix e with "FILE: line N" or "FILE: row N"; returns -1. */
static int
where(qkv_err *e, const char *name, const char *unit, uint64_t n)
{
	char pre[512];

	snprintf(pre, sizeof pre, "%s: %s %llu", name, unit,
	    (unsigned long long)n);
	return qkv_errprefix(e, pre);
}

/* Python's str.isspace() for one code point. */
static int
py_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) ||
	    c == 0x85 || c == 0xa0 || c == 0x1680 ||
	    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Is s (UTF-8) empty after Python's strip()?  Invalid UTF-8 is text. */
static int
blank_text(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t c = s[i];
		int k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 :
		    (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
		if (k < 0 || i + (size_t)k >= n + (k == 0))
			return 0;
		if (k > 0) {
			c &= 0x3fu >> k;
			for (int j = 1; j <= k; j++) {
				if ((s[i + j] & 0xc0) != 0x80)
					return 0;
				c = c << 6 | (s[i + j] & 0x3f);
			}
		}
		if (!py_space(c))
			return 0;
		i += (size_t)k + 1;
	}
	return 1;
}

/* ---- ids as text -------------------------------------------------------- */

static int
is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int
qkv_pt_parse_ids(const char *s, size_t len, size_t nvocab, int32_t **ids,
    size_t *n, size_t *cap, qkv_err *e)
{
	const char *p = s, *end = s + len;

	while (p < end) {
		while (p < end && is_sep(*p))
			p++;
		if (p == end)
			break;
		const char *t = p;
		uint64_t x = 0;
		while (p < end && *p >= '0' && *p <= '9' && x <= INT32_MAX)
			x = x * 10 + (uint64_t)(*p++ - '0');
		if (p == t || (p < end && !is_sep(*p)) || x > INT32_MAX) {
			const char *q = t;
			while (q < end && q - t < 20 && !is_sep(*q))
				q++;
			return qkv_errf(e, "'%.*s' is not a token id",
			    (int)(q - t), t);
		}
		if (nvocab > 0 && x >= nvocab)
			return qkv_errf(e, "id %llu is not in the vocabulary "
			    "(%zu ids)", (unsigned long long)x, nvocab);
		if (grow(ids, cap, *n + 1, sizeof **ids, e) < 0)
			return -1;
		(*ids)[(*n)++] = (int32_t)x;
	}
	return 0;
}

void
qkv_pt_print_ids(FILE *f, const int32_t *ids, size_t n)
{
	char buf[4096];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		char tmp[12];
		int t = 0;
		uint32_t x = ids[i] < 0 ? (uint32_t)-(int64_t)ids[i] :
		    (uint32_t)ids[i];
		do
			tmp[t++] = (char)('0' + x % 10);
		while ((x /= 10) != 0);
		if (ids[i] < 0)
			tmp[t++] = '-';
		if (k + (size_t)t + 1 > sizeof buf) {
			fwrite(buf, 1, k, f);
			k = 0;
		}
		if (i > 0)
			buf[k++] = ' ';
		while (t > 0)
			buf[k++] = tmp[--t];
	}
	fwrite(buf, 1, k, f);
}

/* ---- integer cells of qkv streams --------------------------------------- */

static int
int_dtype(int dt)
{
	return dt == QKV_U8 || dt == QKV_I8 || dt == QKV_U16 ||
	    dt == QKV_I16 || dt == QKV_I32 || dt == QKV_I64;
}

/* A column that holds a run of integers per row. */
static int
check_run_col(const qkv_col *c, qkv_err *e)
{
	if (!int_dtype(c->dtype))
		return qkv_errf(e, "column %s holds %s, not integers", c->name,
		    qkv_dtype_name(c->dtype));
	if (c->kind == QKV_COL_RAGGED ||
	    (c->kind == QKV_COL_FIXED && c->ndim == 1))
		return 0;
	return qkv_errf(e, "column %s is not a run of integers per row",
	    c->name);
}

/* A column that holds one number per row. */
static int
check_scalar_col(const qkv_col *c, int integer, qkv_err *e)
{
	int64_t n = 1;

	for (int i = 0; i < c->ndim; i++)
		n *= c->shape[i];
	if (c->kind != QKV_COL_FIXED || n != 1)
		return qkv_errf(e, "column %s is not one number per row",
		    c->name);
	if (integer && !int_dtype(c->dtype))
		return qkv_errf(e, "column %s holds %s, not integers", c->name,
		    qkv_dtype_name(c->dtype));
	return 0;
}

/* Whether every v[i] lies in [0, lim), 1 <= lim <= 2^31: four at a time
 * with SSE2 (every x86-64 has it), as signed compares. */
static int
in_range32(const int32_t *v, size_t n, uint32_t lim)
{
	size_t i = 0;

#ifdef __SSE2__
	const __m128i zero = _mm_setzero_si128();
	const __m128i top = _mm_set1_epi32((int32_t)(lim - 1));
	__m128i bad = zero;
	for (; i + 4 <= n; i += 4) {
		__m128i x = _mm_loadu_si128((const __m128i *)(v + i));
		bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmplt_epi32(x, zero),
		    _mm_cmpgt_epi32(x, top)));
	}
	if (_mm_movemask_epi8(bad) != 0)
		return 0;
#endif
	for (; i < n; i++)
		if (v[i] < 0 || (uint32_t)v[i] >= lim)
			return 0;
	return 1;
}

/* The ints of a run cell into *buf (n of them), each in [0, limit). */
static int
cell_ints(const qkv_col *c, const qkv_cell *cell, int64_t limit,
    int32_t **buf, size_t *cap, size_t *n, qkv_err *e)
{
	if (grow(buf, cap, cell->n, sizeof **buf, e) < 0)
		return -1;
	/* the usual cases, i32 ids and u8 segment ids, by plain copies and
	 * a vector range check; a bad value is found and named below */
	uint32_t lim = limit > INT32_MAX ? (uint32_t)1 << 31 : (uint32_t)limit;
	int32_t *b = *buf;
	if (c->dtype == QKV_I32 && limit > 0) {
		if (cell->n > 0)
			memcpy(b, cell->p, cell->n * sizeof *b);
		if (in_range32(b, cell->n, lim)) {
			*n = cell->n;
			return 0;
		}
	} else if (c->dtype == QKV_U8 && limit > 255) {
		const uint8_t *p = cell->p;
		for (size_t i = 0; i < cell->n; i++)
			b[i] = p[i];
		*n = cell->n;
		return 0;
	}
	for (size_t i = 0; i < cell->n; i++) {
		int64_t v = qkv_int_at(cell->p, c->dtype, i);
		if (v < 0 || v >= limit)
			return qkv_errf(e, "%s: %lld is out of range [0, %lld)",
			    c->name, (long long)v, (long long)limit);
		(*buf)[i] = (int32_t)v;
	}
	*n = cell->n;
	return 0;
}

/* ---- documents ---------------------------------------------------------- */

struct qkv_docreader {
	qkv_in *in;
	const qkv_ptvocab *v;
	qkv_reader *qr;
	qkv_cell *cells;
	int idcol, textcol;
	int32_t *ids, *tmp;
	int64_t *off;
	size_t nids, idcap, nsent, offcap, tmpcap;
};

static int
find_ids_col(qkv_reader *qr)
{
	int c = qkv_reader_find(qr, "input_ids");

	return c >= 0 ? c : qkv_reader_find(qr, "ids");
}

qkv_docreader *
qkv_docreader_open(qkv_in *in, const qkv_ptvocab *v, qkv_err *e)
{
	qkv_docreader *r;

	if ((r = qkv_calloc(1, sizeof *r, e)) == NULL)
		return NULL;
	r->in = in;
	r->v = v;
	if (grow(&r->off, &r->offcap, 1, sizeof *r->off, e) < 0)
		goto fail;
	if (qkv_in_is_qkv(in)) {
		if ((r->qr = qkv_reader_open(in, e)) == NULL)
			goto fail;
		r->idcol = find_ids_col(r->qr);
		r->textcol = qkv_reader_find(r->qr, "text");
		if (r->idcol < 0) {
			qkv_errf(e, "%s: no column ids (tok -b writes it)",
			    qkv_in_name(in));
			goto fail;
		}
		if (check_run_col(qkv_reader_col(r->qr, r->idcol), e) < 0 ||
		    (r->textcol >= 0 && qkv_reader_col(r->qr, r->textcol)->kind
		    != QKV_COL_STRING && qkv_errf(e, "column text is not "
		    "strings") < 0)) {
			qkv_errprefix(e, qkv_in_name(in));
			goto fail;
		}
		if ((r->cells = qkv_calloc((size_t)qkv_reader_ncols(r->qr),
		    sizeof *r->cells, e)) == NULL)
			goto fail;
	}
	return r;
fail:
	qkv_docreader_close(r);
	return NULL;
}

void
qkv_docreader_close(qkv_docreader *r)
{
	if (r == NULL)
		return;
	qkv_reader_close(r->qr);
	free(r->cells);
	free(r->ids);
	free(r->tmp);
	free(r->off);
	free(r);
}

/* The next sentence into r->ids: 1 a sentence, 2 a document break, 3
 * nothing (a row the reference skips), 0 the end, -1 error. */
static int
next_sentence(qkv_docreader *r, qkv_err *e)
{
	size_t before = r->nids;
	int rc;

	if (r->qr == NULL) {
		char *line;
		size_t len;
		if ((rc = qkv_in_line(r->in, &line, &len, MAX_LINE, e)) <= 0)
			return rc;
		if (qkv_pt_parse_ids(line, len, r->v ? qkv_ptvocab_size(r->v) :
		    0, &r->ids, &r->nids, &r->idcap, e) < 0)
			return where(e, qkv_in_name(r->in), "line",
			    (uint64_t)qkv_in_lineno(r->in));
		return r->nids == before ? 2 : 1;
	}
	if ((rc = qkv_reader_next(r->qr, r->cells, e)) <= 0)
		return rc;
	const qkv_col *c = qkv_reader_col(r->qr, r->idcol);
	const qkv_cell *cell = &r->cells[r->idcol];
	int64_t limit = r->v ? (int64_t)qkv_ptvocab_size(r->v) : INT32_MAX;
	size_t k;
	if (cell_ints(c, cell, limit, &r->tmp, &r->tmpcap, &k, e) < 0 ||
	    grow(&r->ids, &r->idcap, r->nids + k, sizeof *r->ids, e) < 0)
		return where(e, qkv_in_name(r->in), "row",
		    qkv_reader_rows(r->qr));
	memcpy(r->ids + r->nids, r->tmp, k * sizeof *r->ids);
	r->nids += k;
	if (r->textcol >= 0) {
		const qkv_cell *t = &r->cells[r->textcol];
		if (blank_text(t->p, t->n))
			return 2;
		return k > 0 ? 1 : 3;
	}
	return k > 0 ? 1 : 2;
}

int
qkv_docreader_next(qkv_docreader *r, qkv_doc *d, qkv_err *e)
{
	int rc;

	r->nids = 0;
	r->nsent = 0;
	r->off[0] = 0;
	for (;;) {
		if ((rc = next_sentence(r, e)) < 0)
			return -1;
		if (rc == 0 || rc == 2) {
			if (r->nsent > 0 || rc == 0)
				break;
			continue;
		}
		if (rc == 3)
			continue;
		if (grow(&r->off, &r->offcap, r->nsent + 2, sizeof *r->off,
		    e) < 0)
			return -1;
		r->off[++r->nsent] = (int64_t)r->nids;
	}
	d->ids = r->ids;
	d->off = r->off;
	d->nsent = r->nsent;
	return r->nsent > 0;
}

/* ---- instances in ------------------------------------------------------- */

enum { C_IDS, C_SEG, C_LABEL, C_KEY, C_POS, C_MIDS, C_W, NC };

static const char *const colname[NC] = {
	"input_ids", "segment_ids", "next_sentence_labels", "key",
	"masked_lm_positions", "masked_lm_ids", "masked_lm_weights"
};

struct qkv_ptreader {
	qkv_in *in;
	int64_t nvocab;
	qkv_reader *qr;
	qkv_cell *cells;
	int col[NC];
	int32_t *ids, *seg, *pos, *mids;
	float *w;
	size_t idcap, segcap, poscap, midcap, wcap;
	uint64_t row;
};

qkv_ptreader *
qkv_ptreader_open(qkv_in *in, size_t nvocab, qkv_err *e)
{
	qkv_ptreader *r;

	if ((r = qkv_calloc(1, sizeof *r, e)) == NULL)
		return NULL;
	r->in = in;
	r->nvocab = nvocab ? (int64_t)nvocab : INT32_MAX;
	if (!qkv_in_is_qkv(in))
		return r;
	if ((r->qr = qkv_reader_open(in, e)) == NULL)
		goto fail;
	for (int k = 0; k < NC; k++)
		r->col[k] = qkv_reader_find(r->qr, colname[k]);
	if (r->col[C_IDS] < 0)
		r->col[C_IDS] = qkv_reader_find(r->qr, "ids");
	if (r->col[C_SEG] < 0)
		r->col[C_SEG] = qkv_reader_find(r->qr, "token_type_ids");
	if (r->col[C_IDS] < 0) {
		qkv_errf(e, "%s: no column input_ids (or ids)", qkv_in_name(in));
		goto fail;
	}
	int mlm = (r->col[C_POS] >= 0) + (r->col[C_MIDS] >= 0) +
	    (r->col[C_W] >= 0);
	if (mlm > 0 && mlm < 3) {
		int k = r->col[C_POS] < 0 ? C_POS : r->col[C_MIDS] < 0 ?
		    C_MIDS : C_W;
		qkv_errf(e, "%s: no column %s", qkv_in_name(in), colname[k]);
		goto fail;
	}
	for (int k = 0; k < NC; k++) {
		if (r->col[k] < 0)
			continue;
		const qkv_col *c = qkv_reader_col(r->qr, r->col[k]);
		int rc;
		if (k == C_LABEL || k == C_KEY)
			rc = check_scalar_col(c, 1, e);
		else if (k != C_W)
			rc = check_run_col(c, e);
		else if (c->dtype == QKV_F32 && (c->kind == QKV_COL_RAGGED ||
		    (c->kind == QKV_COL_FIXED && c->ndim == 1)))
			rc = 0;
		else
			rc = qkv_errf(e, "column %s is not a run of f32",
			    c->name);
		if (rc < 0) {
			qkv_errprefix(e, qkv_in_name(in));
			goto fail;
		}
	}
	if ((r->cells = qkv_calloc((size_t)qkv_reader_ncols(r->qr),
	    sizeof *r->cells, e)) == NULL)
		goto fail;
	return r;
fail:
	qkv_ptreader_close(r);
	return NULL;
}

void
qkv_ptreader_close(qkv_ptreader *r)
{
	if (r == NULL)
		return;
	qkv_reader_close(r->qr);
	free(r->cells);
	free(r->ids);
	free(r->seg);
	free(r->pos);
	free(r->mids);
	free(r->w);
	free(r);
}

qkv_reader *
qkv_ptreader_stream(qkv_ptreader *r)
{
	return r->qr;
}

const qkv_cell *
qkv_ptreader_cells(const qkv_ptreader *r)
{
	return r->cells;
}

static int
parse_int(const char *p, size_t n, int64_t lo, int64_t hi, int64_t *v,
    const char *what, qkv_err *e)
{
	int64_t x = 0;
	size_t i = 0;

	while (n > 0 && is_sep(p[n - 1]))
		n--;
	while (i < n && is_sep(p[i]))
		i++;
	if (i == n)
		return qkv_errf(e, "no %s", what);
	for (size_t j = i; j < n; j++) {
		if (p[j] < '0' || p[j] > '9' || x > (INT64_MAX - 9) / 10)
			return qkv_errf(e, "'%.*s' is not a %s",
			    (int)(n - i > 30 ? 30 : n - i), p + i, what);
		x = x * 10 + (p[j] - '0');
	}
	if (x < lo || x > hi)
		return qkv_errf(e, "%s %lld is out of range", what,
		    (long long)x);
	*v = x;
	return 0;
}

static int
text_row(qkv_ptreader *r, const char *line, size_t len, qkv_ptrow *row,
    qkv_err *e)
{
	const char *f[8];
	size_t fn[8], nf = 0, k;
	const char *p = line, *end = line + len;

	for (;;) {
		const char *t = memchr(p, '\t', (size_t)(end - p));
		if (nf == 7)
			return qkv_errf(e, "more than 7 fields");
		f[nf] = p;
		fn[nf++] = (size_t)((t ? t : end) - p);
		if (t == NULL)
			break;
		p = t + 1;
	}
	if (nf != 1 && nf != 4 && nf != 7)
		return qkv_errf(e, "%zu fields: an instance has 1 (ids), 4 "
		    "(nsp) or 7 (mask)", nf);
	k = 0;
	if (qkv_pt_parse_ids(f[0], fn[0], (size_t)r->nvocab, &r->ids, &k,
	    &r->idcap, e) < 0)
		return -1;
	row->ids = r->ids;
	row->n = k;
	if (nf >= 4 && fn[1] + fn[2] + fn[3] > 0) {
		int64_t v;
		size_t ns = 0;
		if (qkv_pt_parse_ids(f[1], fn[1], 2, &r->seg, &ns, &r->segcap,
		    e) < 0)
			return qkv_errprefix(e, "segments");
		if (ns != row->n)
			return qkv_errf(e, "%zu segment ids for %zu ids", ns,
			    row->n);
		row->seg = r->seg;
		if (parse_int(f[2], fn[2], 0, 1, &v, "label", e) < 0)
			return -1;
		row->label = (int32_t)v;
		if (parse_int(f[3], fn[3], 0, INT64_MAX, &v, "key", e) < 0)
			return -1;
		row->key = v;
		row->fields |= QKV_PT_SEG | QKV_PT_LABEL | QKV_PT_KEY;
	}
	if (nf == 7) {
		size_t np = 0, nm = 0, nw = 0;
		if (qkv_pt_parse_ids(f[4], fn[4], row->n, &r->pos, &np,
		    &r->poscap, e) < 0)
			return qkv_errprefix(e, "positions");
		if (qkv_pt_parse_ids(f[5], fn[5], (size_t)r->nvocab, &r->mids,
		    &nm, &r->midcap, e) < 0)
			return qkv_errprefix(e, "masked ids");
		int32_t *wi = NULL;
		size_t wcap = 0;
		int rc = qkv_pt_parse_ids(f[6], fn[6], 2, &wi, &nw, &wcap, e);
		if (rc == 0 && grow(&r->w, &r->wcap, nw, sizeof *r->w, e) == 0)
			for (size_t i = 0; i < nw; i++)
				r->w[i] = (float)wi[i];
		else
			rc = -1;
		free(wi);
		if (rc < 0)
			return qkv_errprefix(e, "weights");
		if (nm != np || nw != np)
			return qkv_errf(e, "%zu positions, %zu masked ids, %zu "
			    "weights", np, nm, nw);
		row->pos = r->pos;
		row->mids = r->mids;
		row->weights = r->w;
		row->npred = np;
		row->fields |= QKV_PT_MLM;
	}
	return 0;
}

static int
bin_row(qkv_ptreader *r, qkv_ptrow *row, qkv_err *e)
{
	size_t k;
	const qkv_cell *c = r->cells;

	if (cell_ints(qkv_reader_col(r->qr, r->col[C_IDS]), &c[r->col[C_IDS]],
	    r->nvocab, &r->ids, &r->idcap, &row->n, e) < 0)
		return -1;
	row->ids = r->ids;
	if (r->col[C_SEG] >= 0) {
		if (cell_ints(qkv_reader_col(r->qr, r->col[C_SEG]),
		    &c[r->col[C_SEG]], INT32_MAX, &r->seg, &r->segcap, &k,
		    e) < 0)
			return -1;
		if (k != row->n)
			return qkv_errf(e, "%zu segment ids for %zu ids", k,
			    row->n);
		row->seg = r->seg;
		row->fields |= QKV_PT_SEG;
	}
	if (r->col[C_LABEL] >= 0) {
		const qkv_col *col = qkv_reader_col(r->qr, r->col[C_LABEL]);
		int64_t v = qkv_int_at(c[r->col[C_LABEL]].p, col->dtype, 0);
		if (v < 0 || v > 1)
			return qkv_errf(e, "next_sentence_labels: %lld is not "
			    "0 or 1", (long long)v);
		row->label = (int32_t)v;
		row->fields |= QKV_PT_LABEL;
	}
	if (r->col[C_KEY] >= 0) {
		const qkv_col *col = qkv_reader_col(r->qr, r->col[C_KEY]);
		row->key = qkv_int_at(c[r->col[C_KEY]].p, col->dtype, 0);
		if (row->key < 0)
			return qkv_errf(e, "key: %lld is negative",
			    (long long)row->key);
		row->fields |= QKV_PT_KEY;
	}
	if (r->col[C_POS] >= 0) {
		size_t nm;
		if (cell_ints(qkv_reader_col(r->qr, r->col[C_POS]),
		    &c[r->col[C_POS]], (int64_t)row->n, &r->pos, &r->poscap,
		    &row->npred, e) < 0 ||
		    cell_ints(qkv_reader_col(r->qr, r->col[C_MIDS]),
		    &c[r->col[C_MIDS]], r->nvocab, &r->mids, &r->midcap, &nm,
		    e) < 0)
			return -1;
		const qkv_cell *w = &c[r->col[C_W]];
		if (nm != row->npred || w->n != row->npred)
			return qkv_errf(e, "%zu positions, %zu masked ids, %zu "
			    "weights", row->npred, nm, w->n);
		if (grow(&r->w, &r->wcap, w->n, sizeof *r->w, e) < 0)
			return -1;
		memcpy(r->w, w->p, w->n * sizeof *r->w);
		row->pos = r->pos;
		row->mids = r->mids;
		row->weights = r->w;
		row->fields |= QKV_PT_MLM;
	}
	return 0;
}

int
qkv_ptreader_next(qkv_ptreader *r, qkv_ptrow *row, qkv_err *e)
{
	int rc;

	memset(row, 0, sizeof *row);
	row->row = r->row;
	if (r->qr == NULL) {
		char *line;
		size_t len;
		if ((rc = qkv_in_line(r->in, &line, &len, MAX_LINE, e)) <= 0)
			return rc;
		if (text_row(r, line, len, row, e) < 0)
			return where(e, qkv_in_name(r->in), "line",
			    (uint64_t)qkv_in_lineno(r->in));
	} else {
		if ((rc = qkv_reader_next(r->qr, r->cells, e)) <= 0)
			return rc;
		if (bin_row(r, row, e) < 0)
			return where(e, qkv_in_name(r->in), "row", r->row + 1);
	}
	r->row++;
	return 1;
}

/* ---- instances out ------------------------------------------------------ */

enum { SRC_PASS = -1 };

struct qkv_ptout {
	FILE *f;
	char *name;
	int binary, fields;
	qkv_writer *w;
	int ncols;
	int *src;		/* per column: C_* or SRC_PASS */
	int *passcol;		/* per column: the pass column (SRC_PASS) */
	qkv_cell *cells;
	int google, L, P;	/* nsp --google records */
	int64_t *pad;
	float *padw;
	uint8_t *seg8;		/* segment ids as written: u8 */
	size_t seg8cap;
};

static int
want_col(int fields, int k)
{
	switch (k) {
	case C_IDS: return 1;
	case C_SEG: return (fields & QKV_PT_SEG) != 0;
	case C_LABEL: return (fields & QKV_PT_LABEL) != 0;
	case C_KEY: return (fields & QKV_PT_KEY) != 0;
	default: return (fields & QKV_PT_MLM) != 0;
	}
}

static void
set_col(qkv_col *c, int k)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", colname[k]);
	c->kind = k == C_LABEL || k == C_KEY ? QKV_COL_FIXED : QKV_COL_RAGGED;
	/* segment ids are 0/1: a byte each keeps the pipe 40% thinner */
	c->dtype = k == C_KEY ? QKV_I64 : k == C_W ? QKV_F32 :
	    k == C_SEG ? QKV_U8 : QKV_I32;
}

/* Which C_* a pass column named name stands for, or -1. */
static int
own_name(const char *name)
{
	for (int k = 0; k < NC; k++)
		if (strcmp(name, colname[k]) == 0)
			return k;
	if (strcmp(name, "ids") == 0)
		return C_IDS;
	if (strcmp(name, "token_type_ids") == 0)
		return C_SEG;
	return -1;
}

qkv_ptout *
qkv_ptout_open(FILE *f, const char *name, int binary, int fields,
    qkv_reader *pass, qkv_err *e)
{
	qkv_ptout *o;
	qkv_col *cols = NULL;
	int np = pass ? qkv_reader_ncols(pass) : 0, have[NC] = {0};

	if ((o = qkv_calloc(1, sizeof *o, e)) == NULL)
		return NULL;
	o->f = f;
	o->binary = binary;
	o->fields = fields;
	if ((o->name = strdup(name)) == NULL) {
		qkv_errf(e, "out of memory");
		goto fail;
	}
	if (!binary)
		return o;
	if ((cols = qkv_calloc((size_t)(np + NC), sizeof *cols, e)) == NULL ||
	    (o->src = qkv_calloc((size_t)(np + NC), sizeof *o->src, e)) ==
	    NULL ||
	    (o->passcol = qkv_calloc((size_t)(np + NC), sizeof *o->passcol,
	    e)) == NULL ||
	    (o->cells = qkv_calloc((size_t)(np + NC), sizeof *o->cells, e)) ==
	    NULL)
		goto fail;
	/* pass's columns in place, ours replacing those of our names (the
	 * first of ids/input_ids, of token_type_ids/segment_ids) */
	for (int i = 0; i < np; i++) {
		const qkv_col *c = qkv_reader_col(pass, i);
		int k = own_name(c->name);
		if (k >= 0 && !have[k] && want_col(fields, k)) {
			set_col(&cols[o->ncols], k);
			/* keep the input's name for the ids (ids or
			 * input_ids) and the segments */
			memcpy(cols[o->ncols].name, c->name, sizeof c->name);
			o->src[o->ncols++] = k;
			have[k] = 1;
		} else if (k >= 0 && have[k]) {
			continue;	/* a second spelling: drop it */
		} else {
			cols[o->ncols] = *c;
			o->src[o->ncols] = SRC_PASS;
			o->passcol[o->ncols++] = i;
		}
	}
	for (int k = 0; k < NC; k++)
		if (!have[k] && want_col(fields, k)) {
			set_col(&cols[o->ncols], k);
			o->src[o->ncols++] = k;
		}
	if ((o->w = qkv_writer_open(f, name, cols, o->ncols, e)) == NULL)
		goto fail;
	qkv_writer_pipe_level(o->w, f);
	free(cols);
	return o;
fail:
	free(cols);
	qkv_ptout_free(o);
	return NULL;
}

void
qkv_ptout_free(qkv_ptout *o)
{
	if (o == NULL)
		return;
	qkv_writer_free(o->w);
	free(o->name);
	free(o->src);
	free(o->passcol);
	free(o->cells);
	free(o->pad);
	free(o->padw);
	free(o->seg8);
	free(o);
}

static void
print_floats01(FILE *f, const float *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			putc(' ', f);
		if (w[i] == 0 || w[i] == 1)
			putc(w[i] == 0 ? '0' : '1', f);
		else
			fprintf(f, "%.9g", w[i]);
	}
}

int
qkv_ptout_row(qkv_ptout *o, const qkv_ptrow *row, const qkv_cell *cells,
    qkv_err *e)
{
	int miss = o->fields & ~row->fields;

	if (miss)
		return qkv_errf(e, "row %llu: no %s", (unsigned long long)
		    row->row + 1, miss & QKV_PT_SEG ? "segment_ids" :
		    miss & QKV_PT_LABEL ? "next_sentence_labels" :
		    miss & QKV_PT_KEY ? "key" : "masked_lm_positions");
	if (o->binary) {
		for (int i = 0; i < o->ncols; i++) {
			qkv_cell *c = &o->cells[i];
			switch (o->src[i]) {
			case SRC_PASS: *c = cells[o->passcol[i]]; break;
			case C_IDS: c->p = row->ids; c->n = row->n; break;
			case C_SEG:
				if (grow(&o->seg8, &o->seg8cap, row->n,
				    sizeof *o->seg8, e) < 0)
					return -1;
				for (size_t k = 0; k < row->n; k++)
					o->seg8[k] = (uint8_t)row->seg[k];
				c->p = o->seg8;
				c->n = row->n;
				break;
			case C_LABEL: c->p = &row->label; c->n = 1; break;
			case C_KEY: c->p = &row->key; c->n = 1; break;
			case C_POS: c->p = row->pos; c->n = row->npred; break;
			case C_MIDS: c->p = row->mids; c->n = row->npred; break;
			case C_W: c->p = row->weights; c->n = row->npred; break;
			}
		}
		return qkv_writer_row(o->w, o->cells, e);
	}
	FILE *f = o->f;
	qkv_pt_print_ids(f, row->ids, row->n);
	if (o->fields & (QKV_PT_SEG | QKV_PT_LABEL | QKV_PT_KEY | QKV_PT_MLM)) {
		putc('\t', f);
		if (o->fields & QKV_PT_SEG)
			qkv_pt_print_ids(f, row->seg, row->n);
		putc('\t', f);
		if (o->fields & QKV_PT_LABEL)
			fprintf(f, "%d", row->label);
		putc('\t', f);
		if (o->fields & QKV_PT_KEY)
			fprintf(f, "%lld", (long long)row->key);
	}
	if (o->fields & QKV_PT_MLM) {
		putc('\t', f);
		qkv_pt_print_ids(f, row->pos, row->npred);
		putc('\t', f);
		qkv_pt_print_ids(f, row->mids, row->npred);
		putc('\t', f);
		print_floats01(f, row->weights, row->npred);
	}
	putc('\n', f);
	if (ferror(f))
		return qkv_errf(e, "%s: %s", o->name, strerror(errno ? errno :
		    EIO));
	return 0;
}

int
qkv_ptout_close(qkv_ptout *o, qkv_err *e)
{
	int rc = 0;

	if (o->w != NULL) {
		rc = qkv_writer_close(o->w, e);
		o->w = NULL;
	}
	qkv_ptout_free(o);
	return rc;
}

/* -- nsp --google records */

enum { G_IDS, G_MASK, G_SEG, G_POS, G_MIDS, G_W, G_LABEL, NG };
static const char *const gname[NG] = {
	"input_ids", "input_mask", "segment_ids", "masked_lm_positions",
	"masked_lm_ids", "masked_lm_weights", "next_sentence_labels"
};

qkv_ptout *
qkv_ptout_google(FILE *f, const char *name, int binary, int L, int P,
    qkv_err *e)
{
	qkv_ptout *o;
	qkv_col cols[NG];
	if ((o = qkv_ptout_open(f, name, 0, 0, NULL, e)) == NULL)
		return NULL;
	o->binary = binary;
	o->google = 1;
	o->L = L;
	o->P = P;
	if ((o->pad = qkv_calloc((size_t)(3 * L + 2 * P + 1), sizeof *o->pad,
	    e)) == NULL ||
	    (o->padw = qkv_calloc((size_t)P + 1, sizeof *o->padw, e)) == NULL)
		goto fail;
	if (!binary)
		return o;
	memset(cols, 0, sizeof cols);
	for (int k = 0; k < NG; k++) {
		snprintf(cols[k].name, sizeof cols[k].name, "%s", gname[k]);
		cols[k].kind = QKV_COL_FIXED;
		cols[k].dtype = k == G_W ? QKV_F32 : QKV_I64;
		cols[k].ndim = 1;
		cols[k].shape[0] = k == G_LABEL ? 1 : k >= G_POS ? P : L;
	}
	if ((o->cells = qkv_calloc(NG, sizeof *o->cells, e)) == NULL ||
	    (o->w = qkv_writer_open(f, name, cols, NG, e)) == NULL)
		goto fail;
	qkv_writer_pipe_level(o->w, f);
	return o;
fail:
	qkv_ptout_free(o);
	return NULL;
}

/* len values, space-separated. */
static void
print_padded(FILE *f, const int64_t *v, int len)
{
	int32_t buf[256];

	/* every value here fits an int32: ids, 0/1, positions */
	for (int i = 0; i < len; i += 256) {
		int k = len - i < 256 ? len - i : 256;
		for (int j = 0; j < k; j++)
			buf[j] = (int32_t)v[i + j];
		if (i > 0)
			putc(' ', f);
		qkv_pt_print_ids(f, buf, (size_t)k);
	}
}

int
qkv_ptout_inst(qkv_ptout *o, const qkv_ptinst *in, qkv_err *e)
{
	int64_t *feat[NG];
	FILE *f = o->f;

	if (in->n > o->L || in->npred > o->P)
		return qkv_errf(e, "an instance longer than its padding");
	/* the features, padded with zeros as the reference pads them */
	memset(o->pad, 0, (size_t)(3 * o->L + 2 * o->P + 1) * sizeof *o->pad);
	feat[G_IDS] = o->pad;
	feat[G_MASK] = feat[G_IDS] + o->L;
	feat[G_SEG] = feat[G_MASK] + o->L;
	feat[G_POS] = feat[G_SEG] + o->L;
	feat[G_MIDS] = feat[G_POS] + o->P;
	feat[G_LABEL] = feat[G_MIDS] + o->P;
	feat[G_W] = NULL;
	for (int i = 0; i < in->n; i++) {
		feat[G_IDS][i] = in->ids[i];
		feat[G_MASK][i] = 1;
		feat[G_SEG][i] = i >= in->a_len + 2;
	}
	for (int i = 0; i < o->P; i++)
		o->padw[i] = i < in->npred;
	for (int i = 0; i < in->npred; i++) {
		feat[G_POS][i] = in->pos[i];
		feat[G_MIDS][i] = in->label[i];
	}
	feat[G_LABEL][0] = in->is_random_next;
	if (o->binary) {
		for (int k = 0; k < NG; k++) {
			o->cells[k].p = k == G_W ? (const void *)o->padw :
			    (const void *)feat[k];
			o->cells[k].n = 0;
		}
		return qkv_writer_row(o->w, o->cells, e);
	}
	for (int k = 0; k < NG; k++) {
		int len = k == G_LABEL ? 1 : k >= G_POS ? o->P : o->L;
		if (k > 0)
			putc('\t', f);
		if (k == G_W)
			print_floats01(f, o->padw, (size_t)o->P);
		else
			print_padded(f, feat[k], len);
	}
	putc('\n', f);
	if (ferror(f))
		return qkv_errf(e, "%s: %s", o->name, strerror(errno ? errno :
		    EIO));
	return 0;
}

/* ---- corpus files -------------------------------------------------------- */

#define CORPUS_META "qkv-pretrain"
#define CORPUS_KIND "corpus 1"

struct qkv_corpus {
	qkv_file *f;
	const int32_t *ids;
	const int64_t *sent, *doc;
	uint64_t nids, nsent, ndocs;
};

static const qkv_tensor *
corpus_tensor(qkv_file *f, const char *name, int dtype, const char *path,
    qkv_err *e)
{
	const qkv_tensor *t = qkv_file_find(f, name);

	if (t == NULL) {
		qkv_errf(e, "%s: no tensor %s: not a corpus file", path, name);
		return NULL;
	}
	if (t->dtype != dtype || t->ndim != 1) {
		qkv_errf(e, "%s: tensor %s is not a vector of %s", path, name,
		    qkv_dtype_name(dtype));
		return NULL;
	}
	return t;
}

/* Offsets off[0..n] must start at 0, rise strictly, and end at last. */
static int
check_offsets(const int64_t *off, uint64_t n, uint64_t last, const char *path,
    const char *name, qkv_err *e)
{
	if (off[0] != 0)
		return qkv_errf(e, "%s: %s does not start at 0", path, name);
	for (uint64_t i = 0; i < n; i++)
		if (off[i + 1] <= off[i])
			return qkv_errf(e, "%s: %s: entry %llu is empty or "
			    "out of order", path, name,
			    (unsigned long long)i);
	if ((uint64_t)off[n] != last)
		return qkv_errf(e, "%s: %s ends at %lld, not %llu", path, name,
		    (long long)off[n], (unsigned long long)last);
	return 0;
}

/* The checks of a corpus over an opened tensor file f (owned after). */
static qkv_corpus *
corpus_check(qkv_file *f, const char *path, qkv_err *e)
{
	qkv_corpus *c;
	const qkv_tensor *ti, *ts, *td;
	const void *kind;
	size_t klen;

	if ((c = qkv_calloc(1, sizeof *c, e)) == NULL) {
		qkv_file_close(f);
		return NULL;
	}
	c->f = f;
	kind = qkv_file_meta(c->f, CORPUS_META, &klen);
	if (kind == NULL || klen != strlen(CORPUS_KIND) ||
	    memcmp(kind, CORPUS_KIND, klen) != 0) {
		qkv_errf(e, "%s: not a corpus file (pack --corpus makes one)",
		    path);
		goto fail;
	}
	if ((ti = corpus_tensor(c->f, "ids", QKV_I32, path, e)) == NULL ||
	    (ts = corpus_tensor(c->f, "sentences", QKV_I64, path, e)) == NULL ||
	    (td = corpus_tensor(c->f, "documents", QKV_I64, path, e)) == NULL)
		goto fail;
	if (ts->shape[0] < 1 || td->shape[0] < 1) {
		qkv_errf(e, "%s: empty offset tensors", path);
		goto fail;
	}
	/* a mapped file is aligned; memory handed to qkv_corpus_parse must
	 * be too */
	if (((uintptr_t)ti->data & 3) || ((uintptr_t)ts->data & 7) ||
	    ((uintptr_t)td->data & 7)) {
		qkv_errf(e, "%s: tensors not aligned in memory", path);
		goto fail;
	}
	c->ids = ti->data;
	c->sent = ts->data;
	c->doc = td->data;
	c->nids = (uint64_t)ti->shape[0];
	c->nsent = (uint64_t)ts->shape[0] - 1;
	c->ndocs = (uint64_t)td->shape[0] - 1;
	if (check_offsets(c->sent, c->nsent, c->nids, path, "sentences",
	    e) < 0 ||
	    check_offsets(c->doc, c->ndocs, c->nsent, path, "documents", e) < 0)
		goto fail;
	/* ids are not scanned here (each shard would read the whole
	 * corpus): mask checks them against the vocabulary */
	return c;
fail:
	qkv_corpus_close(c);
	return NULL;
}

qkv_corpus *
qkv_corpus_open(const char *path, qkv_err *e)
{
	qkv_file *f = qkv_file_open(path, e);

	if (f == NULL) {
		size_t n = strlen(e->msg);
		snprintf(e->msg + n, sizeof e->msg - n, " (not a corpus file: "
		    "pack --corpus makes one)");
		return NULL;
	}
	return corpus_check(f, path, e);
}

qkv_corpus *
qkv_corpus_parse(const void *buf, size_t len, const char *name, qkv_err *e)
{
	qkv_file *f = qkv_file_parse(buf, len, name, e);

	return f ? corpus_check(f, name, e) : NULL;
}

size_t
qkv_corpus_ndocs(const qkv_corpus *c)
{
	return (size_t)c->ndocs;
}

uint64_t
qkv_corpus_ntokens(const qkv_corpus *c)
{
	return c->nids;
}

/* Token offset where document i starts (i == ndocs: the end). */
static uint64_t
doc_start(const qkv_corpus *c, uint64_t i)
{
	return (uint64_t)c->sent[c->doc[i]];
}

/* The document boundary nearest token t: the work of a run of documents
 * (its instances, over every pass) grows with its tokens, not with its
 * document count, so shards of equal tokens take equal time. */
static uint64_t
doc_near(const qkv_corpus *c, uint64_t t)
{
	uint64_t lo = 0, hi = c->ndocs;

	while (lo < hi) {	/* the first boundary at or after t */
		uint64_t mid = lo + (hi - lo) / 2;
		if (doc_start(c, mid) < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && t - doc_start(c, lo - 1) < doc_start(c, lo) - t)
		lo--;
	return lo;
}

void
qkv_corpus_shard(const qkv_corpus *c, uint64_t i, uint64_t n, size_t *lo,
    size_t *hi)
{
	/* t * i / n without overflow: ids fit in 2^63, i <= n < 2^32 */
	uint64_t t = c->nids, q = t / n, r = t % n;

	*lo = (size_t)doc_near(c, q * (i - 1) + r * (i - 1) / n);
	*hi = i == n ? (size_t)c->ndocs : (size_t)doc_near(c, q * i + r * i / n);
}

int
qkv_corpus_doc(void *ctx, size_t i, qkv_doc *d)
{
	const qkv_corpus *c = ctx;

	if (i >= c->ndocs)
		return -1;
	d->ids = c->ids;
	d->off = c->sent + c->doc[i];
	d->nsent = (size_t)(c->doc[i + 1] - c->doc[i]);
	return 0;
}

void
qkv_corpus_close(qkv_corpus *c)
{
	if (c == NULL)
		return;
	qkv_file_close(c->f);
	free(c);
}

/* A scratch file: unlinked at once, written through stdio, then mapped. */
struct scratch {
	FILE *f;
	uint64_t bytes;
	void *map;
};

static int
scratch_open(struct scratch *s, const char *dir, qkv_err *e)
{
	char *path;
	int fd;

	memset(s, 0, sizeof *s);
	if (asprintf(&path, "%s/qkv-corpus.XXXXXX", dir) < 0)
		return qkv_errf(e, "out of memory");
	if ((fd = mkstemp(path)) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	unlink(path);
	free(path);
	if ((s->f = fdopen(fd, "w+b")) == NULL) {
		close(fd);
		return qkv_errf(e, "scratch file: %s", strerror(errno));
	}
	return 0;
}

static int
scratch_put(struct scratch *s, const void *p, size_t n, qkv_err *e)
{
	if (fwrite(p, 1, n, s->f) != n)
		return qkv_errf(e, "scratch file: %s", strerror(errno));
	s->bytes += n;
	return 0;
}

static int
scratch_map(struct scratch *s, qkv_err *e)
{
	if (fflush(s->f) != 0)
		return qkv_errf(e, "scratch file: %s", strerror(errno));
	if (s->bytes == 0)
		return 0;
	s->map = mmap(NULL, (size_t)s->bytes, PROT_READ, MAP_SHARED,
	    fileno(s->f), 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return qkv_errf(e, "scratch file: %s", strerror(errno));
	}
	return 0;
}

static void
scratch_close(struct scratch *s)
{
	if (s->map != NULL)
		munmap(s->map, (size_t)s->bytes);
	if (s->f != NULL)
		fclose(s->f);
}

int
qkv_corpus_write(qkv_docreader *r, FILE *f, const char *name,
    const char *tmpdir, qkv_err *e)
{
	struct scratch sc[3];
	qkv_twriter *w = NULL;
	qkv_doc d;
	int64_t zero = 0, nsent = 0, nids = 0;
	int rc = -1, got;

	memset(sc, 0, sizeof sc);
	if (tmpdir == NULL && (tmpdir = getenv("TMPDIR")) == NULL)
		tmpdir = "/tmp";
	for (int i = 0; i < 3; i++)
		if (scratch_open(&sc[i], tmpdir, e) < 0)
			goto out;
	if (scratch_put(&sc[1], &zero, sizeof zero, e) < 0 ||
	    scratch_put(&sc[2], &zero, sizeof zero, e) < 0)
		goto out;
	while ((got = qkv_docreader_next(r, &d, e)) > 0) {
		int64_t base = d.off[0];
		size_t k = (size_t)(d.off[d.nsent] - base);
		if (scratch_put(&sc[0], d.ids + base, k * sizeof *d.ids,
		    e) < 0)
			goto out;
		for (size_t s = 1; s <= d.nsent; s++) {
			int64_t end = nids + (d.off[s] - base);
			if (scratch_put(&sc[1], &end, sizeof end, e) < 0)
				goto out;
		}
		nids += (int64_t)k;
		nsent += (int64_t)d.nsent;
		if (scratch_put(&sc[2], &nsent, sizeof nsent, e) < 0)
			goto out;
	}
	if (got < 0)
		goto out;
	for (int i = 0; i < 3; i++)
		if (scratch_map(&sc[i], e) < 0)
			goto out;
	int64_t shape[3] = {nids, nsent + 1,
	    (int64_t)(sc[2].bytes / sizeof(int64_t))};
	static const char *const names[3] = {"ids", "sentences", "documents"};
	static const int dt[3] = {QKV_I32, QKV_I64, QKV_I64};
	if ((w = qkv_twriter_open(f, name, e)) == NULL ||
	    qkv_twriter_meta(w, CORPUS_META, CORPUS_KIND, strlen(CORPUS_KIND),
	    e) < 0)
		goto out;
	for (int i = 0; i < 3; i++)
		if (qkv_twriter_tensor(w, names[i], dt[i], 1, &shape[i],
		    sc[i].map ? sc[i].map : (const void *)&zero,
		    (size_t)sc[i].bytes, e) < 0)
			goto out;
	rc = qkv_twriter_close(w, e);
	w = NULL;
out:
	qkv_twriter_free(w);
	for (int i = 0; i < 3; i++)
		scratch_close(&sc[i]);
	return rc;
}

/* ---- training shards ------------------------------------------------------ */

struct qkv_shards {
	char *prefix;
	int blocks, L, P;
	size_t per, n;		/* rows per shard, rows held */
	int64_t *feat[NG];	/* the current shard's arrays */
	float *w;
	int32_t *carry;		/* blocks: tokens not yet in a block */
	size_t ncarry;
	char **made;
	size_t nmade, madecap;
};

qkv_shards *
qkv_shards_open(const char *prefix, int blocks, int L, int P, size_t per,
    qkv_err *e)
{
	qkv_shards *w;

	if (L < 1 || P < 0 || per < 1 || per > ((size_t)1 << 40))
		return qkv_errf(e, "bad shard shape"), NULL;
	if ((w = qkv_calloc(1, sizeof *w, e)) == NULL)
		return NULL;
	w->blocks = blocks;
	w->L = L;
	w->P = blocks ? 0 : P;
	w->per = per;
	if ((w->prefix = strdup(prefix)) == NULL) {
		qkv_errf(e, "out of memory");
		goto fail;
	}
	for (int k = 0; k < NG; k++) {
		size_t len = k == G_LABEL ? 1 : k >= G_POS ? (size_t)w->P :
		    (size_t)L, bytes;
		if (k == G_W || (blocks && k != G_IDS))
			continue;
		if (qkv_mul_size(per, len ? len : 1, &bytes) < 0 ||
		    (w->feat[k] = qkv_calloc(bytes, sizeof(int64_t), e)) == NULL)
			goto fail;
	}
	if (!blocks && (w->w = qkv_calloc(per * (size_t)(P ? P : 1),
	    sizeof *w->w, e)) == NULL)
		goto fail;
	if (blocks && (w->carry = qkv_calloc((size_t)L, sizeof *w->carry, e)) ==
	    NULL)
		goto fail;
	return w;
fail:
	qkv_shards_abort(w);
	return NULL;
}

static void
shards_free(qkv_shards *w)
{
	for (size_t i = 0; i < w->nmade; i++)
		free(w->made[i]);
	free(w->made);
	for (int k = 0; k < NG; k++)
		free(w->feat[k]);
	free(w->w);
	free(w->carry);
	free(w->prefix);
	free(w);
}

void
qkv_shards_abort(qkv_shards *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->nmade; i++)
		unlink(w->made[i]);
	shards_free(w);
}

/* Write the rows held as the next shard file. */
static int
shards_flush(qkv_shards *w, qkv_err *e)
{
	char *path;
	qkv_out *o;
	qkv_twriter *tw;

	if (asprintf(&path, "%s-%05zu.qkv", w->prefix, w->nmade) < 0)
		return qkv_errf(e, "out of memory");
	if (grow(&w->made, &w->madecap, w->nmade + 1, sizeof *w->made,
	    e) < 0 || (o = qkv_out_open(path, e)) == NULL) {
		free(path);
		return -1;
	}
	if ((tw = qkv_twriter_open(o->f, path, e)) == NULL)
		goto fail;
	for (int k = 0; k < NG; k++) {
		if (w->blocks && k != G_IDS)
			continue;
		int64_t shape[2] = {(int64_t)w->n, k == G_LABEL ? 1 :
		    k >= G_POS ? w->P : w->L};
		size_t esz = k == G_W ? sizeof(float) : sizeof(int64_t);
		const void *data = k == G_W ? (const void *)w->w :
		    (const void *)w->feat[k];
		if (qkv_twriter_tensor(tw, gname[k], k == G_W ? QKV_F32 :
		    QKV_I64, 2, shape, data, w->n * (size_t)shape[1] * esz,
		    e) < 0) {
			qkv_twriter_free(tw);
			goto fail;
		}
	}
	if (qkv_twriter_close(tw, e) < 0)
		goto fail;
	if (qkv_out_commit(o, e) < 0) {
		free(path);
		return -1;
	}
	w->made[w->nmade++] = path;
	w->n = 0;
	return 0;
fail:
	qkv_out_abort(o);
	free(path);
	return -1;
}

int
qkv_shards_row(qkv_shards *w, const qkv_ptrow *row, qkv_err *e)
{
	size_t r = w->n, L = (size_t)w->L, P = (size_t)w->P;

	if (!(row->fields & QKV_PT_MLM))
		return qkv_errf(e, "no column masked_lm_positions (mask(1) "
		    "adds it)");
	if (row->n > L)
		return qkv_errf(e, "%zu ids, longer than -l %zu", row->n, L);
	if (row->npred > P)
		return qkv_errf(e, "%zu predictions, more than --max-pred %zu",
		    row->npred, P);
	int64_t *ids = w->feat[G_IDS] + r * L, *mask = w->feat[G_MASK] + r * L;
	int64_t *seg = w->feat[G_SEG] + r * L, *pos = w->feat[G_POS] + r * P;
	int64_t *mids = w->feat[G_MIDS] + r * P;
	float *wt = w->w + r * P;
	/* the row, then its padding: loops without a test per element */
	size_t n = row->n, np = row->npred;
	for (size_t i = 0; i < n; i++) {
		ids[i] = row->ids[i];
		mask[i] = 1;
	}
	if (row->seg != NULL)
		for (size_t i = 0; i < n; i++)
			seg[i] = row->seg[i];
	else
		memset(seg, 0, n * sizeof *seg);
	memset(ids + n, 0, (L - n) * sizeof *ids);
	memset(mask + n, 0, (L - n) * sizeof *mask);
	memset(seg + n, 0, (L - n) * sizeof *seg);
	for (size_t i = 0; i < np; i++) {
		pos[i] = row->pos[i];
		mids[i] = row->mids[i];
		wt[i] = row->weights[i];
	}
	memset(pos + np, 0, (P - np) * sizeof *pos);
	memset(mids + np, 0, (P - np) * sizeof *mids);
	for (size_t i = np; i < P; i++)
		wt[i] = 0;
	w->feat[G_LABEL][r] = row->fields & QKV_PT_LABEL ? row->label : 0;
	if (++w->n == w->per)
		return shards_flush(w, e);
	return 0;
}

int
qkv_shards_doc(qkv_shards *w, const qkv_doc *d, int32_t eot, qkv_err *e)
{
	size_t L = (size_t)w->L;
	int64_t i = d->off[0], end = d->off[d->nsent];

	/* the document's ids, then eot, streamed through blocks of L */
	for (;;) {
		int last = i >= end;
		w->carry[w->ncarry++] = last ? eot : d->ids[i];
		if (w->ncarry == L) {
			int64_t *row = w->feat[G_IDS] + w->n * L;
			for (size_t k = 0; k < L; k++)
				row[k] = w->carry[k];
			w->ncarry = 0;
			if (++w->n == w->per && shards_flush(w, e) < 0)
				return -1;
		}
		if (last)
			return 0;
		i++;
	}
}

int
qkv_shards_close(qkv_shards *w, size_t *nfiles, qkv_err *e)
{
	if ((w->n > 0 || w->nmade == 0) && shards_flush(w, e) < 0) {
		qkv_shards_abort(w);
		return -1;
	}
	if (nfiles != NULL)
		*nfiles = w->nmade;
	shards_free(w);
	return 0;
}
