/* nearest - the rows of an index nearest to each query vector. */
#include <err.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qkv.h"

static _Noreturn void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: nearest [-k count] [-m cos|dot|l2] [-c column] "
	    "[-j threads] [-o file] index ...\n");
	exit(status);
}

/* Queries are read by a thread of their own, so that a batch is every
 * query that has arrived (up to cap): a pipe that trickles is answered
 * query by query, a file in full batches. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	qkv_in *in;
	qkv_reader *r;		/* NULL: text vectors, one per line */
	int vc, dim;
	int file;		/* standard input is a regular file */
	float *q;		/* (cap,dim) queries waiting */
	int n, cap;
	int done;		/* 1: end of input; -1: error, in e */
	qkv_err e;
} qs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One query into v: 1, 0 at the end, -1 on error. */
static int
read_query(float *v, qkv_err *e)
{
	qkv_cell cells[QKV_MAXCOLS];
	char *line;
	size_t len;
	int rc;

	if (qs.r == NULL) {
		size_t b;
		do {	/* skip blank lines (embed -t -p none ends sequences so) */
			if ((rc = qkv_in_line(qs.in, &line, &len, 64 *
			    (size_t)qs.dim + 4096, e)) != 1)
				return rc;
			for (b = 0; b < len && (line[b] == ' ' || line[b] == '\t' ||
			    line[b] == '\r'); b++)
				;
		} while (b == len);
		if (knn_parse_vec(line, len, v, qs.dim, e) < 0) {
			char where[64];
			snprintf(where, sizeof where, "<stdin>: line %ld",
			    qkv_in_lineno(qs.in));
			return qkv_errprefix(e, where);
		}
		return 1;
	}
	if ((rc = qkv_reader_next(qs.r, cells, e)) != 1)
		return rc;
	qkv_to_f32(v, cells[qs.vc].p, qkv_reader_col(qs.r, qs.vc)->dtype,
	    (size_t)qs.dim);
	for (int d = 0; d < qs.dim; d++)
		if (!isfinite(v[d]))
			return qkv_errf(e, "<stdin>: row %llu: a vector with NaN "
			    "or infinity", (unsigned long long)qkv_reader_rows(qs.r));
	return 1;
}

static void *
reader(void *arg)
{
	float *v = arg;
	int rc;

	do {
		rc = read_query(v, &qs.e);
		pthread_mutex_lock(&qs.mu);
		while (rc == 1 && qs.n == qs.cap)
			pthread_cond_wait(&qs.cv, &qs.mu);
		if (rc == 1)
			memcpy(qs.q + (size_t)qs.n++ * qs.dim, v,
			    (size_t)qs.dim * sizeof *v);
		else
			qs.done = rc == 0 ? 1 : -1;
		pthread_cond_signal(&qs.cv);
		pthread_mutex_unlock(&qs.mu);
	} while (rc == 1);
	return NULL;
}

static qkv_out *out;

static void
fail(const char *msg)
{
	qkv_out_abort(out);
	errx(1, "%s", msg);
}

/* Text goes on one line: tabs and line breaks become spaces. */
static void
print_text(FILE *f, const char *t, size_t n)
{
	putc('\t', f);
	for (size_t i = 0; i < n; i++)
		putc(t[i] == '\t' || t[i] == '\n' || t[i] == '\r' ? ' ' : t[i], f);
}

int
main(int argc, char *argv[])
{
	const char *col = "vec", *opath = NULL;
	long k = 10, nthr = 0;
	int metric = KNN_COS, c;
	unsigned long long qno = 0;
	knn_index *ix;
	knn_hit *hits;
	float *batch;
	pthread_t th;
	struct stat st;
	qkv_err e;

	qkv_cli_init();
	while ((c = getopt(argc, argv, "c:hj:k:m:o:V")) != -1) {
		switch (c) {
		case 'c':
			col = optarg;
			break;
		case 'j':
			if (qkv_parse_long(optarg, 1, 1024, &nthr, &e) < 0)
				errx(2, "-j: %s", e.msg);
			break;
		case 'k':
			if (qkv_parse_long(optarg, 1, 1000000, &k, &e) < 0)
				errx(2, "-k: %s", e.msg);
			break;
		case 'm':
			if ((metric = knn_metric_parse(optarg)) < 0)
				errx(2, "-m: '%s': not cos, dot or l2", optarg);
			break;
		case 'o':
			opath = optarg;
			break;
		case 'V':
			printf("nearest (qkv) %s\n", QKV_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(2);
	nn_set_threads(1);
	if (nn_set_workers(nthr > 0 ? (int)nthr : qkv_ncpu(), &e) < 0)
		errx(1, "%s", e.msg);

	if ((ix = knn_index_open(argv, argc, col, &e)) == NULL)
		errx(1, "%s", e.msg);
	qs.dim = knn_index_dim(ix);
	if ((qs.in = qkv_in_open(NULL, &e)) == NULL)
		errx(1, "%s", e.msg);
	qs.file = fstat(0, &st) == 0 && S_ISREG(st.st_mode);
	if (qkv_in_is_qkv(qs.in) &&
	    ((qs.r = qkv_reader_open(qs.in, &e)) == NULL ||
	    (qs.vc = knn_vec_col(qs.r, col, &qs.dim, "<stdin>", &e)) < 0))
		errx(1, "%s", e.msg);
	qs.cap = knn_batch_size(qs.dim, (int)k);
	if ((out = qkv_out_open(opath, &e)) == NULL ||
	    (qs.q = qkv_malloc((size_t)qs.cap * qs.dim * sizeof *qs.q, &e)) ==
	    NULL || (batch = qkv_malloc((size_t)qs.cap * qs.dim *
	    sizeof *batch, &e)) == NULL || (hits = qkv_malloc((size_t)qs.cap *
	    k * sizeof *hits, &e)) == NULL)
		errx(1, "%s", e.msg);
	float *v = qkv_malloc((size_t)qs.dim * sizeof *v, &e);
	if (v == NULL || pthread_create(&th, NULL, reader, v) != 0)
		errx(1, "cannot start the reader thread");

	for (;;) {
		int nq, nh, done;
		float *t;
		pthread_mutex_lock(&qs.mu);
		while (qs.n == 0 && !qs.done)
			pthread_cond_wait(&qs.cv, &qs.mu);
		/* let the batch grow while queries keep coming: from a file
		 * until it is full, from a pipe until the reader has waited
		 * 1 ms for input */
		while (qs.n < qs.cap && !qs.done) {
			int before = qs.n;
			struct timespec ts;
			if (qs.file) {
				pthread_cond_wait(&qs.cv, &qs.mu);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&qs.cv, &qs.mu, &ts);
			if (qs.n == before)
				break;
		}
		t = qs.q;	/* take every waiting query */
		qs.q = batch;
		batch = t;
		nq = qs.n;
		qs.n = 0;
		done = qs.done;
		pthread_cond_signal(&qs.cv);
		pthread_mutex_unlock(&qs.mu);
		if (nq == 0 && done < 0)
			fail(qs.e.msg);
		if (nq == 0)
			break;
		if ((nh = knn_index_search(ix, batch, nq, metric, (int)k, hits,
		    &e)) < 0)
			fail(e.msg);
		for (int i = 0; i < nq; i++) {
			qno++;
			for (int j = 0; j < nh; j++) {
				const knn_hit *h = &hits[(size_t)i * k + j];
				const char *text;
				size_t len;
				fprintf(out->f, "%llu\t%d\t%.7g\t%lld", qno, j + 1,
				    h->score, (long long)h->row + 1);
				if ((text = knn_index_text(ix, h->row, &len)) != NULL)
					print_text(out->f, text, len);
				putc('\n', out->f);
			}
		}
		if (fflush(out->f) != 0) {
			qkv_out_abort(out);
			err(1, "%s", opath ? opath : "<stdout>");
		}
	}
	pthread_join(th, NULL);
	if (qkv_out_commit(out, &e) < 0)
		errx(1, "%s", e.msg);
	knn_index_close(ix);
	if (qs.r != NULL)
		qkv_reader_close(qs.r);
	qkv_in_close(qs.in);
	free(qs.q);
	free(batch);
	free(hits);
	free(v);
	return 0;
}
