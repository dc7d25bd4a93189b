/* tok - text to token ids and back, as Hugging Face tokenizers do it. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qkv.h"

#define BATCH (1 << 20)		/* input bytes per batch of lines */
#define MAXLINE (16L << 20)	/* longest line accepted */

static int sflag, bflag, dflag, oflag, bytesflag, plainflag;
static long maxlen;
static qkv_tok *tok;
static const char *outname = "<stdout>";

static _Noreturn void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: tok [-bqst] [-j threads] [-l length] [-m model] [-o file]\n"
	    "           [--bytes] [--offsets] [--plain] [file ...]\n"
	    "       tok -d [-m model] [-o file] [file ...]\n");
	exit(status);
}

/* ---- a batch of lines, encoded by a worker ------------------------------ */

enum { FREE, READY, BUSY, DONE };

struct batch {
	int state;
	char *in;		/* whole lines */
	size_t inlen, incap;
	const char *name;	/* input file, for messages */
	long line0;		/* number of the first line */
	char *out;		/* text output */
	size_t outlen, outcap;
	/* -b: each row's tokens, appended; its line in `in` */
	int32_t *ids;
	uint8_t *types;
	uint32_t *offs;
	size_t nids, idcap;
	size_t *rows;		/* per row: ntok, line start, line length */
	size_t nrows, rowcap;
	int stalled;		/* the input stalled after it: flush it */
	int failed;
	qkv_err err;
};

static size_t
put_u32(char *p, uint32_t v)
{
	char t[10];
	size_t n = 0, k;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (k = 0; k < n; k++)
		p[k] = t[n - 1 - k];
	return n;
}

static int
out_room(struct batch *b, size_t more)
{
	if (b->outlen + more <= b->outcap)
		return 0;
	size_t c = b->outcap ? b->outcap : BATCH;
	while (c < b->outlen + more)
		c *= 2;
	char *p = realloc(b->out, c);
	if (p == NULL)
		return qkv_errf(&b->err, "out of memory");
	b->out = p;
	b->outcap = c;
	return 0;
}

static int
format_line(struct batch *b, const qkv_tokenc *x, size_t boff)
{
	if (out_room(b, x->n * 34 + 1) < 0)
		return -1;
	char *p = b->out + b->outlen;
	for (size_t i = 0; i < x->n; i++) {
		if (i > 0)
			*p++ = ' ';
		p += put_u32(p, (uint32_t)x->ids[i]);
		if (x->offs != NULL && oflag) {
			uint32_t add = i >= x->b0 && i < x->b1 ? boff : 0;
			*p++ = ':';
			p += put_u32(p, x->offs[2 * i] + add);
			*p++ = ':';
			p += put_u32(p, x->offs[2 * i + 1] + add);
		}
	}
	*p++ = '\n';
	b->outlen = (size_t)(p - b->out);
	return 0;
}

/* -b: keep the row for the writer (the main thread). */
static int
keep_row(struct batch *b, const qkv_tokenc *x, size_t start, size_t len,
    size_t boff)
{
	if (b->nids + x->n > b->idcap) {
		size_t c = b->idcap ? b->idcap : 65536;
		void *p;
		while (c < b->nids + x->n)
			c *= 2;
		if ((p = realloc(b->ids, c * sizeof *b->ids)) == NULL)
			return qkv_errf(&b->err, "out of memory");
		b->ids = p;
		if ((p = realloc(b->types, c)) == NULL)
			return qkv_errf(&b->err, "out of memory");
		b->types = p;
		if (oflag) {
			if ((p = realloc(b->offs, 2 * c * sizeof *b->offs)) ==
			    NULL)
				return qkv_errf(&b->err, "out of memory");
			b->offs = p;
		}
		b->idcap = c;
	}
	if (b->nrows == b->rowcap) {
		size_t c = b->rowcap ? 2 * b->rowcap : 4096;
		size_t *p = realloc(b->rows, 3 * c * sizeof *p);
		if (p == NULL)
			return qkv_errf(&b->err, "out of memory");
		b->rows = p;
		b->rowcap = c;
	}
	memcpy(b->ids + b->nids, x->ids, x->n * sizeof *x->ids);
	memcpy(b->types + b->nids, x->types, x->n);
	if (oflag)
		for (size_t i = 0; i < x->n; i++) {
			uint32_t add = i >= x->b0 && i < x->b1 ? boff : 0;
			b->offs[2 * (b->nids + i)] = x->offs[2 * i] + add;
			b->offs[2 * (b->nids + i) + 1] = x->offs[2 * i + 1] +
			    add;
		}
	b->nids += x->n;
	b->rows[3 * b->nrows] = x->n;
	b->rows[3 * b->nrows + 1] = start;
	b->rows[3 * b->nrows + 2] = len;
	b->nrows++;
	return 0;
}

static void
encode_batch(struct batch *b, qkv_tokenc *x)
{
	int flags = (sflag ? QKV_TOK_SPECIALS : 0) |
	    (plainflag ? QKV_TOK_PLAIN : 0) | (bytesflag ? QKV_TOK_BYTES : 0) |
	    (oflag ? QKV_TOK_OFFSETS : 0);
	int pairs = sflag && qkv_tok_nadded(tok, 1) > 0;
	size_t i = 0;
	long line = b->line0;

	b->outlen = 0;
	b->nids = b->nrows = 0;
	while (i < b->inlen) {
		char *s = b->in + i, *nl = memchr(s, '\n', b->inlen - i), *tab;
		size_t n = nl ? (size_t)(nl - s) : b->inlen - i;
		int rc;
		if (n > (size_t)MAXLINE) {
			qkv_errf(&b->err, "%s: line %ld: longer than %ld bytes",
			    b->name, line, MAXLINE);
			b->failed = 1;
			return;
		}
		if (pairs && (tab = memchr(s, '\t', n)) != NULL)
			rc = qkv_tok_encode(tok, x, s, (size_t)(tab - s),
			    tab + 1, n - (size_t)(tab - s) - 1, flags,
			    (size_t)maxlen, &b->err);
		else {
			tab = NULL;
			rc = qkv_tok_encode(tok, x, s, n, NULL, 0, flags,
			    (size_t)maxlen, &b->err);
		}
		size_t boff = tab ? (size_t)(tab - s) + 1 : 0;
		if (rc == 0)
			rc = bflag ? keep_row(b, x, i, n, boff) :
			    format_line(b, x, boff);
		if (rc < 0) {
			char where[512];
			snprintf(where, sizeof where, "%s: line %ld", b->name,
			    line);
			qkv_errprefix(&b->err, where);
			b->failed = 1;
			return;
		}
		i += n + 1;
		line++;
	}
}

/* ---- the pipeline: read, encode in parallel, write in order ------------- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;	/* a batch is READY, or quit */
	pthread_cond_t done;	/* a batch is DONE, or the input ended */
	pthread_cond_t space;	/* a slot is FREE, or quit */
	struct batch *slot;
	int nslot;
	long next_work;		/* next batch a worker takes */
	long nread;		/* batches read so far */
	int eof;		/* the reader is done (rfailed: with an error) */
	int rfailed;
	qkv_err rerr;
	int quit;
} pl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, 0,
	0, {{0}}, 0};

static void *
worker(void *arg)
{
	qkv_err e;
	qkv_tokenc *x = qkv_tokenc_new(&e);

	(void)arg;
	if (x == NULL)
		errx(1, "%s", e.msg);
	pthread_mutex_lock(&pl.mu);
	for (;;) {
		struct batch *b;
		while (!pl.quit && pl.next_work >= pl.nread)
			pthread_cond_wait(&pl.work, &pl.mu);
		if (pl.next_work >= pl.nread)
			break;
		b = &pl.slot[pl.next_work++ % pl.nslot];
		b->state = BUSY;
		pthread_mutex_unlock(&pl.mu);
		encode_batch(b, x);
		pthread_mutex_lock(&pl.mu);
		b->state = DONE;
		pthread_cond_broadcast(&pl.done);
	}
	pthread_mutex_unlock(&pl.mu);
	qkv_tokenc_free(x);
	return NULL;
}

/* Input: the files in turn; a batch holds whole lines of one file.  Read
 * with read(2) so that a batch goes out as soon as the input stalls: a
 * slow producer's lines come back without waiting for a full batch. */
struct input {
	char **files;
	int nfiles, cur;
	int fd;			/* -1: none open */
	int eof;		/* the current file is at its end */
	qkv_in *in;		/* tok -d reads through qkv_in instead */
	const char *name;	/* the current file's, for messages */
	long line;		/* lines of the current file so far */
	char *carry;		/* a partial line read ahead */
	size_t ncarry, carrycap;
};

/* 1 if a read of fd would not block (or would fail: let read tell). */
static int
ready(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, 0) != 0;
}

static void
close_file(struct input *ip)
{
	if (ip->fd > 0)
		close(ip->fd);
	ip->fd = -1;
}

static int
next_file(struct input *ip, qkv_err *e)
{
	const char *f;

	close_file(ip);
	if (ip->cur >= ip->nfiles)
		return 0;
	f = ip->files[ip->cur++];
	if (strcmp(f, "-") == 0) {
		ip->fd = 0;
		ip->name = "<stdin>";
	} else if ((ip->fd = open(f, O_RDONLY | O_CLOEXEC)) < 0)
		return qkv_errf(e, "%s: %s", f, strerror(errno));
	else
		ip->name = f;	/* batches outlive the file: argv names it */
	ip->eof = 0;
	ip->line = 0;
	return 1;
}

static int
grow_in(struct batch *b, size_t cap, qkv_err *e)
{
	char *p;

	if (cap <= b->incap)
		return 0;
	if ((p = realloc(b->in, cap)) == NULL)
		return qkv_errf(e, "out of memory");
	b->in = p;
	b->incap = cap;
	return 0;
}

/* Fill b with whole lines; 0 at the end of all input. */
static int
read_batch(struct input *ip, struct batch *b, qkv_err *e)
{
	for (;;) {
		size_t scanned = 0;
		int havenl = 0;
		if (ip->fd < 0) {
			int r = next_file(ip, e);
			if (r <= 0)
				return r;
		}
		if (grow_in(b, BATCH + ip->ncarry, e) < 0)
			return -1;
		if (ip->ncarry > 0)
			memcpy(b->in, ip->carry, ip->ncarry);
		b->inlen = ip->ncarry;
		ip->ncarry = 0;
		b->stalled = 0;
		for (;;) {
			ssize_t r;
			if (!havenl && b->inlen > scanned) {
				havenl = memchr(b->in + scanned, '\n',
				    b->inlen - scanned) != NULL;
				scanned = b->inlen;
			}
			if (b->inlen == b->incap) {
				if (havenl)
					break;
				if (b->incap > (size_t)MAXLINE)
					return qkv_errf(e, "%s: line %ld: longer "
					    "than %ld bytes", ip->name,
					    ip->line + 1, MAXLINE);
				if (grow_in(b, 2 * b->incap, e) < 0)
					return -1;
			}
			if (ip->eof)
				break;
			if (havenl && !ready(ip->fd)) {
				b->stalled = 1;
				break;
			}
			r = read(ip->fd, b->in + b->inlen, b->incap - b->inlen);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return qkv_errf(e, "%s: %s", ip->name,
				    strerror(errno));
			}
			if (r == 0)
				ip->eof = 1;
			b->inlen += (size_t)r;
		}
		if (!ip->eof || b->inlen < b->incap) {
			/* keep the partial last line for next time (at the
			 * end of a file there is none: the rest is a line) */
			char *nl = memrchr(b->in, '\n', b->inlen);
			size_t keep = nl ? b->inlen - (size_t)(nl + 1 - b->in) :
			    0;
			if (ip->eof)
				keep = 0;
			if (keep > ip->carrycap) {
				char *p = realloc(ip->carry, keep);
				if (p == NULL)
					return qkv_errf(e, "out of memory");
				ip->carry = p;
				ip->carrycap = keep;
			}
			if (keep > 0)
				memcpy(ip->carry, nl + 1, keep);
			ip->ncarry = keep;
			b->inlen -= keep;
		}
		b->name = ip->name;
		b->line0 = ip->line + 1;
		for (char *p = b->in, *end = b->in + b->inlen;
		    (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
			ip->line++;
		if (b->inlen > 0 && b->in[b->inlen - 1] != '\n')
			ip->line++;
		if (b->inlen == 0) {
			if (!ip->eof)
				continue;
			close_file(ip);	/* this file is done */
			continue;
		}
		return 1;
	}
}

static qkv_writer *writer;
static int progress;		/* show progress on standard error */

/* Bytes and lines done, at most twice a second; NULL b ends the line. */
static void
show_progress(const struct batch *b)
{
	static uint64_t bytes;
	static struct timespec last;
	struct timespec now;

	if (!progress)
		return;
	if (b == NULL) {
		if (bytes > 0)
			fprintf(stderr, "\r%40s\r", "");
		return;
	}
	bytes += b->inlen;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - last.tv_sec) * 1000000000L + now.tv_nsec -
	    last.tv_nsec < 500000000L)
		return;
	last = now;
	fprintf(stderr, "\rtok: %.1f MB, %s line %ld", bytes / 1e6, b->name,
	    b->line0);
}

static int
write_out(qkv_out *o, const struct batch *b, qkv_err *e)
{
	size_t at = 0;

	show_progress(b);
	if (!bflag) {
		/* a short write shows in ferror: qkv_out_commit reports it */
		if (b->outlen > 0)
			(void)!fwrite(b->out, 1, b->outlen, o->f);
		if (b->stalled)
			fflush(o->f);
		return 0;
	}
	for (size_t r = 0; r < b->nrows; r++) {
		qkv_cell c[4];
		int k = 0;
		size_t n = b->rows[3 * r];
		c[k++] = (qkv_cell){b->ids + at, n};
		c[k++] = (qkv_cell){b->in + b->rows[3 * r + 1],
		    b->rows[3 * r + 2]};
		if (sflag)
			c[k++] = (qkv_cell){b->types + at, n};
		if (oflag)
			c[k++] = (qkv_cell){b->offs + 2 * at, 2 * n};
		if (qkv_writer_row(writer, c, e) < 0)
			return -1;
		at += n;
	}
	return b->stalled ? qkv_writer_flush(writer, e) : 0;
}

/* -b: the stream's columns and metadata. */
static int
open_writer(qkv_out *o, const char *model, qkv_err *e)
{
	qkv_col cols[4];
	int n = 0;
	char vs[32];
	const char *kind = qkv_tok_kind(tok) == QKV_TOK_BPE ? "bpe" :
	    "wordpiece";

	memset(cols, 0, sizeof cols);
	snprintf(cols[n].name, sizeof cols[n].name, "ids");
	cols[n].dtype = QKV_I32;
	cols[n++].kind = QKV_COL_RAGGED;
	snprintf(cols[n].name, sizeof cols[n].name, "text");
	cols[n].dtype = QKV_STR;
	cols[n++].kind = QKV_COL_STRING;
	if (sflag) {
		snprintf(cols[n].name, sizeof cols[n].name, "token_type_ids");
		cols[n].dtype = QKV_U8;
		cols[n++].kind = QKV_COL_RAGGED;
	}
	if (oflag) {
		snprintf(cols[n].name, sizeof cols[n].name, "offsets");
		cols[n].dtype = QKV_I32;
		cols[n++].kind = QKV_COL_RAGGED;
	}
	snprintf(vs, sizeof vs, "%ld", (long)qkv_tok_vocab_size(tok));
	if ((writer = qkv_writer_open(o->f, outname, cols, n, e)) == NULL)
		return -1;
	qkv_writer_pipe_level(writer, o->f);
	if (qkv_writer_meta(writer, "model", model, strlen(model), e) < 0 ||
	    qkv_writer_meta(writer, "tokenizer", kind, strlen(kind), e) < 0 ||
	    qkv_writer_meta(writer, "vocab_size", vs, strlen(vs), e) < 0 ||
	    qkv_writer_meta(writer, "specials", sflag ? "1" : "0", 1, e) < 0)
		return -1;
	return 0;
}

/* The reader's thread: fill free slots with batches, in input order.  It
 * has a thread of its own so that a read that blocks (a stalled pipe)
 * never keeps the main thread from writing what is done. */
static void *
reader(void *arg)
{
	struct input *ip = arg;

	pthread_mutex_lock(&pl.mu);
	for (;;) {
		struct batch *r = &pl.slot[pl.nread % pl.nslot];
		int got;
		while (!pl.quit && r->state != FREE)
			pthread_cond_wait(&pl.space, &pl.mu);
		if (pl.quit)
			break;
		pthread_mutex_unlock(&pl.mu);
		got = read_batch(ip, r, &pl.rerr);
		pthread_mutex_lock(&pl.mu);
		if (got <= 0) {
			pl.rfailed = got < 0;
			break;
		}
		r->state = READY;
		r->failed = 0;
		pl.nread++;
		pthread_cond_signal(&pl.work);
	}
	pl.eof = 1;
	pthread_cond_broadcast(&pl.done);
	pthread_mutex_unlock(&pl.mu);
	return NULL;
}

static int
encode_all(struct input *ip, qkv_out *o, int nthreads, qkv_err *e)
{
	pthread_t *th, rd;
	long nwritten = 0;
	int rc = 0;

	pl.nslot = 2 * nthreads + 2;
	if ((pl.slot = qkv_calloc((size_t)pl.nslot, sizeof *pl.slot, e)) ==
	    NULL)
		return -1;
	if (nthreads == 1) {
		qkv_tokenc *x = qkv_tokenc_new(e);
		struct batch *b = &pl.slot[0];
		int r;
		if (x == NULL)
			return -1;
		while ((r = read_batch(ip, b, e)) > 0) {
			encode_batch(b, x);
			if (b->failed) {
				*e = b->err;
				r = -1;
				break;
			}
			if (write_out(o, b, e) < 0) {
				r = -1;
				break;
			}
		}
		qkv_tokenc_free(x);
		return r;
	}
	if ((th = qkv_calloc((size_t)nthreads, sizeof *th, e)) == NULL)
		return -1;
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			errx(1, "cannot start threads");
	if (pthread_create(&rd, NULL, reader, ip) != 0)
		errx(1, "cannot start threads");
	/* this thread writes the batches in input order */
	pthread_mutex_lock(&pl.mu);
	for (;;) {
		struct batch *w = &pl.slot[nwritten % pl.nslot];
		if (nwritten < pl.nread && w->state == DONE) {
			pthread_mutex_unlock(&pl.mu);
			if (w->failed) {
				*e = w->err;
				rc = -1;
			} else if (write_out(o, w, e) < 0)
				rc = -1;
			pthread_mutex_lock(&pl.mu);
			if (rc < 0)
				break;
			w->state = FREE;
			nwritten++;
			pthread_cond_signal(&pl.space);
			continue;
		}
		if (pl.eof && nwritten == pl.nread) {
			if (pl.rfailed) {
				*e = pl.rerr;
				rc = -1;
			}
			break;
		}
		pthread_cond_wait(&pl.done, &pl.mu);
	}
	pl.quit = 1;
	pl.next_work = pl.nread;	/* on error, drop what is queued */
	pthread_cond_broadcast(&pl.work);
	pthread_cond_broadcast(&pl.space);
	pthread_mutex_unlock(&pl.mu);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	free(th);
	/* on an error the reader may be blocked in read(2): the program
	 * exits without waiting for it */
	if (rc == 0)
		pthread_join(rd, NULL);
	else
		pthread_detach(rd);
	return rc;
}

/* ---- decoding ----------------------------------------------------------- */

/* Decode the "ids" column of a qkv stream (tok -b's). */
static int
decode_stream(struct input *ip, qkv_out *o, qkv_tokenc *x, int32_t **ids,
    size_t *cap, int live, qkv_err *e)
{
	qkv_reader *r = qkv_reader_open(ip->in, e);
	qkv_cell *cells = NULL;
	const qkv_col *col;
	int ci, rc = -1;

	if (r == NULL)
		return -1;
	if ((ci = qkv_reader_find(r, "ids")) < 0 &&
	    (ci = qkv_reader_find(r, "input_ids")) < 0) {
		qkv_errf(e, "%s: the stream has no 'ids' column", ip->name);
		goto out;
	}
	col = qkv_reader_col(r, ci);
	if (col->kind != QKV_COL_RAGGED || col->dtype < QKV_U8 ||
	    col->dtype > QKV_I64) {
		qkv_errf(e, "%s: column '%s' is not a ragged integer column",
		    ip->name, col->name);
		goto out;
	}
	if ((cells = qkv_calloc((size_t)qkv_reader_ncols(r), sizeof *cells,
	    e)) == NULL)
		goto out;
	while ((rc = qkv_reader_next(r, cells, e)) > 0) {
		const qkv_cell *c = &cells[ci];
		const char *d;
		size_t dl;
		if (c->n > *cap) {
			int32_t *p = realloc(*ids, c->n * sizeof *p);
			if (p == NULL) {
				rc = qkv_errf(e, "out of memory");
				goto out;
			}
			*ids = p;
			*cap = c->n;
		}
		for (size_t i = 0; i < c->n; i++) {
			int64_t v = qkv_int_at(c->p, col->dtype, i);
			(*ids)[i] = v < INT32_MIN || v > INT32_MAX ? -1 :
			    (int32_t)v;
		}
		if ((d = qkv_tok_decode(tok, x, *ids, c->n, 0, &dl, e)) ==
		    NULL) {
			char where[512];
			snprintf(where, sizeof where, "%s: row %llu", ip->name,
			    (unsigned long long)qkv_reader_rows(r));
			rc = qkv_errprefix(e, where);
			goto out;
		}
		fwrite(d, 1, dl, o->f);
		putc('\n', o->f);
		if (live && !ready(0))
			fflush(o->f);
	}
out:
	free(cells);
	qkv_reader_close(r);
	return rc;
}

/* A line of decimal ids (each may carry ":start:end") into *ids. */
static int
parse_ids(const char *line, size_t len, int32_t **ids, size_t *cap,
    size_t *n, qkv_err *e)
{
	*n = 0;
	for (size_t i = 0; i < len;) {
		unsigned long v = 0;
		size_t j = i, k;
		if (line[i] == ' ' || line[i] == '\t') {
			i++;
			continue;
		}
		while (j < len && line[j] >= '0' && line[j] <= '9' &&
		    v <= INT32_MAX)
			v = v * 10 + (unsigned long)(line[j++] - '0');
		k = j;
		if (j > i && j < len && line[j] == ':')
			while (k < len && line[k] != ' ' && line[k] != '\t')
				k++;
		if (j == i || v > INT32_MAX || (k < len && line[k] != ' ' &&
		    line[k] != '\t')) {
			for (k = i; k < len && line[k] != ' ' &&
			    line[k] != '\t'; k++)
				;
			return qkv_errf(e, "'%.*s' is not a token id",
			    (int)(k - i > 40 ? 40 : k - i), line + i);
		}
		if (*n == *cap) {
			size_t c = *cap ? 2 * *cap : 1024;
			int32_t *p = realloc(*ids, c * sizeof *p);
			if (p == NULL)
				return qkv_errf(e, "out of memory");
			*ids = p;
			*cap = c;
		}
		(*ids)[(*n)++] = (int32_t)v;
		i = k;
	}
	return 0;
}

static int
decode_all(struct input *ip, qkv_out *o, qkv_err *e)
{
	qkv_tokenc *x = qkv_tokenc_new(e);
	int32_t *ids = NULL;
	size_t cap = 0;
	int r = 0;

	if (x == NULL)
		return -1;
	for (int f = 0; f < ip->nfiles && r == 0; f++) {
		struct stat sb;
		char *line;
		size_t len, n, dl;
		const char *d;
		/* from a pipe or terminal, each line goes out when the
		 * input stalls */
		int live = strcmp(ip->files[f], "-") == 0 &&
		    fstat(0, &sb) == 0 && !S_ISREG(sb.st_mode);
		if ((ip->in = qkv_in_open(ip->files[f], e)) == NULL)
			return -1;
		ip->name = qkv_in_name(ip->in);
		if (qkv_in_is_qkv(ip->in))
			r = decode_stream(ip, o, x, &ids, &cap, live, e);
		else
			while ((r = qkv_in_line(ip->in, &line, &len, MAXLINE,
			    e)) > 0) {
				if (parse_ids(line, len, &ids, &cap, &n, e) < 0 ||
				    (d = qkv_tok_decode(tok, x, ids, n, 0, &dl,
				    e)) == NULL) {
					char where[512];
					snprintf(where, sizeof where,
					    "%s: line %ld", ip->name,
					    qkv_in_lineno(ip->in));
					r = qkv_errprefix(e, where);
					break;
				}
				fwrite(d, 1, dl, o->f);
				putc('\n', o->f);
				if (live && !ready(0))
					fflush(o->f);
			}
		qkv_in_close(ip->in);
		ip->in = NULL;
	}
	free(ids);
	qkv_tokenc_free(x);
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"bytes", no_argument, NULL, 'B'},
		{"offsets", no_argument, NULL, 'O'},
		{"plain", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *model = NULL, *out = NULL;
	static char *stdin_only[] = {"-"};
	long nthreads = 0;
	int quiet = 0;
	struct input ip;
	qkv_model *m;
	qkv_out *o;
	qkv_err e;
	int c, rc;

	qkv_cli_init();
	while ((c = getopt_long(argc, argv, "bdhj:l:m:o:qstV", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'b': bflag = 1; break;
		case 't': bflag = 0; break;
		case 'd': dflag = 1; break;
		case 's': sflag = 1; break;
		case 'q': quiet = 1; break;
		case 'B': bytesflag = 1; break;
		case 'O': oflag = 1; break;
		case 'P': plainflag = 1; break;
		case 'm': model = optarg; break;
		case 'o': out = optarg; break;
		case 'j':
			if (qkv_parse_long(optarg, 1, 1024, &nthreads, &e) < 0)
				errx(2, "-j: %s", e.msg);
			break;
		case 'l':
			if (qkv_parse_long(optarg, 1, INT32_MAX, &maxlen, &e) <
			    0)
				errx(2, "-l: %s", e.msg);
			break;
		case 'V':
			printf("tok (qkv) %s\n", QKV_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (nthreads == 0)
		nthreads = qkv_ncpu();
	if (bflag && dflag)
		errx(2, "-d writes text: -b does not apply");
	if ((m = qkv_model_open(qkv_model_default(model), &e)) == NULL ||
	    (tok = qkv_tok_open(m, &e)) == NULL)
		errx(1, "%s", e.msg);
	if (bytesflag && qkv_tok_kind(tok) != QKV_TOK_BPE)
		errx(2, "--bytes needs a byte-level BPE model");
	if (maxlen > 0 && sflag && maxlen < qkv_tok_nadded(tok, 0))
		errx(2, "-l %ld cannot hold the %d special tokens", maxlen,
		    qkv_tok_nadded(tok, 0));
	memset(&ip, 0, sizeof ip);
	ip.fd = -1;
	ip.files = argc > 0 ? argv : stdin_only;
	ip.nfiles = argc > 0 ? argc : 1;
	if ((o = qkv_out_open(out, &e)) == NULL)
		errx(1, "%s", e.msg);
	if (out != NULL)
		outname = out;
	progress = !dflag && qkv_progress_wanted(quiet);
	if (bflag && open_writer(o, qkv_model_path(m), &e) < 0) {
		qkv_out_abort(o);
		errx(1, "%s", e.msg);
	}
	rc = dflag ? decode_all(&ip, o, &e) : encode_all(&ip, o, (int)nthreads,
	    &e);
	show_progress(NULL);
	if (writer != NULL) {
		if (rc < 0)
			qkv_writer_free(writer);
		else
			rc = qkv_writer_close(writer, &e);
	}
	if (rc < 0) {
		qkv_out_abort(o);
		errx(1, "%s", e.msg);
	}
	if (qkv_out_commit(o, &e) < 0)
		errx(1, "%s", e.msg);
	close_file(&ip);
	free(ip.carry);
	qkv_tok_close(tok);
	qkv_model_close(m);
	return 0;
}
