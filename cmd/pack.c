/* pack - tar for tensors: create, list, extract and verify qkv files. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qkv.h"

static _Noreturn void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: pack -c [-q] [-o file] file ...\n"
	    "       pack -i dir [-q] [-o file] [--dtype f16|bf16|f32]\n"
	    "       pack -t [file]\n"
	    "       pack -x [-q] [-C dir] [file]\n"
	    "       pack -v [-q] [file]\n"
	    "       pack -M key [file]\n"
	    "       pack --corpus [-o file] [file]\n"
	    "       pack --shards [-l length] [--max-pred n] [--shard-size n]"
	    " -o prefix [file ...]\n"
	    "       pack --blocks [-l length] [--eot id] [--shard-size n]"
	    " -o prefix [file ...]\n");
	exit(status);
}

enum {
	OPT_DTYPE = 256, OPT_CORPUS, OPT_SHARDS, OPT_BLOCKS, OPT_SHARDSIZE,
	OPT_MAXPRED, OPT_EOT
};

static const struct option longopts[] = {
	{"dtype", required_argument, NULL, OPT_DTYPE},
	{"corpus", no_argument, NULL, OPT_CORPUS},
	{"shards", no_argument, NULL, OPT_SHARDS},
	{"blocks", no_argument, NULL, OPT_BLOCKS},
	{"shard-size", required_argument, NULL, OPT_SHARDSIZE},
	{"max-pred", required_argument, NULL, OPT_MAXPRED},
	{"eot", required_argument, NULL, OPT_EOT},
	{NULL, 0, NULL, 0}
};

static int quiet;
static qkv_err e;

/* An input opened for -t, -x, -v, -m: a stream reader or a tensor file. */
struct input {
	qkv_in *in;
	qkv_reader *r;
	qkv_file *f;
	const char *name;
};

static void
open_input(struct input *x, const char *path)
{
	const unsigned char *p;
	long n;
	struct stat st;

	memset(x, 0, sizeof *x);
	if ((x->in = qkv_in_open(path, &e)) == NULL)
		errx(1, "%s", e.msg);
	x->name = qkv_in_name(x->in);
	if ((n = qkv_in_peek(x->in, 8, &p, &e)) < 0)
		errx(1, "%s", e.msg);
	if (qkv_kind(p, (size_t)n) == 'T') {
		/* map a regular file; read anything else whole */
		if (path != NULL && strcmp(path, "-") != 0 &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode))
			x->f = qkv_file_open(path, &e);
		else
			x->f = qkv_file_read(x->in, &e);
		if (x->f == NULL)
			errx(1, "%s", e.msg);
		return;
	}
	/* the reader explains what is wrong with anything else */
	if ((x->r = qkv_reader_open(x->in, &e)) == NULL)
		errx(1, "%s", e.msg);
}

static void
close_input(struct input *x)
{
	qkv_reader_close(x->r);
	qkv_file_close(x->f);
	qkv_in_close(x->in);
}

/* "30522x768", "()" for a scalar; a leading row count for columns. */
static const char *
shape_str(char *buf, size_t len, int ndim, const int64_t *shape,
    const char *rows)
{
	size_t n = 0;

	buf[0] = '\0';
	if (rows != NULL)
		n += (size_t)snprintf(buf, len, "%s", rows);
	for (int i = 0; i < ndim && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%" PRId64,
		    n > 0 ? "x" : "", shape[i]);
	if (n == 0)
		snprintf(buf, len, "()");
	return buf;
}

static void
list_meta(const char *key, const void *val, size_t len)
{
	printf("%s\tmeta\t%zu\traw\t%zu\t%zu\t%08" PRIx32 "\n", key, len, len,
	    len, qkv_crc32(0, val, len));
}

/* pack -t: one line a tensor, column or metadata entry:
 * name dtype shape codec stored raw crc, tab-separated. */
static void
list(struct input *x)
{
	char sh[512], rows[64];
	size_t len;

	if (x->f != NULL) {
		for (int i = 0; i < qkv_file_ntensors(x->f); i++) {
			const qkv_tensor *t = qkv_file_tensor(x->f, i);
			printf("%s\t%s\t%s\traw\t%" PRIu64 "\t%" PRIu64
			    "\t%08" PRIx32 "\n", t->name,
			    qkv_dtype_name(t->dtype),
			    shape_str(sh, sizeof sh, t->ndim, t->shape, NULL),
			    t->nbytes, t->nbytes, qkv_file_crc(x->f, i));
		}
		for (int i = 0; i < qkv_file_nmeta(x->f); i++) {
			const char *k = qkv_file_meta_key(x->f, i);
			const void *v = qkv_file_meta(x->f, k, &len);
			list_meta(k, v, len);
		}
		return;
	}
	int rc;
	while ((rc = qkv_reader_skip(x->r, &e)) == 1)
		;
	if (rc < 0)
		errx(1, "%s", e.msg);
	snprintf(rows, sizeof rows, "%" PRIu64, qkv_reader_rows(x->r));
	for (int i = 0; i < qkv_reader_ncols(x->r); i++) {
		const qkv_col *c = qkv_reader_col(x->r, i);
		const qkv_colstat *s = qkv_reader_colstat(x->r, i);
		char codecs[64] = "";
		for (int k = 0; k < 3; k++)
			if (s->codecs & 1u << k)
				snprintf(codecs + strlen(codecs),
				    sizeof codecs - strlen(codecs), "%s%s",
				    codecs[0] ? "," : "", qkv_codec_name(k));
		if (c->kind == QKV_COL_FIXED)
			shape_str(sh, sizeof sh, c->ndim, c->shape, rows);
		else
			snprintf(sh, sizeof sh, "%sx*", rows);
		printf("%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%08" PRIx32
		    "\n", c->name, qkv_dtype_name(c->dtype), sh,
		    codecs[0] ? codecs : "-", s->stored, s->raw, s->crc);
	}
	for (int i = 0; i < qkv_reader_nmeta(x->r); i++) {
		const char *k = qkv_reader_meta_key(x->r, i);
		const void *v = qkv_reader_meta(x->r, k, &len);
		list_meta(k, v, len);
	}
}

/* pack -v */
static void
verify(struct input *x)
{
	if (x->f != NULL) {
		if (qkv_file_verify(x->f, &e) < 0)
			errx(1, "%s", e.msg);
		if (!quiet)
			printf("%s: ok: %d tensors, %d metadata\n", x->name,
			    qkv_file_ntensors(x->f), qkv_file_nmeta(x->f));
		return;
	}
	qkv_cell cells[QKV_MAXCOLS];
	int rc;
	while ((rc = qkv_reader_next(x->r, cells, &e)) == 1)
		;
	if (rc < 0)
		errx(1, "%s", e.msg);
	if (!quiet)
		printf("%s: ok: %" PRIu64 " rows, %d columns, %" PRIu64
		    " chunks\n", x->name, qkv_reader_rows(x->r),
		    qkv_reader_ncols(x->r), qkv_reader_chunks(x->r));
}

/* pack -m KEY: the value's bytes on standard output. */
static void
print_meta(struct input *x, const char *key)
{
	size_t len;
	const void *v = x->f ? qkv_file_meta(x->f, key, &len) :
	    qkv_reader_meta(x->r, key, &len);

	if (v == NULL)
		errx(1, "%s: no metadata '%s'", x->name, key);
	if (fwrite(v, 1, len, stdout) != len || fflush(stdout) != 0)
		err(1, "<stdout>");
}

/* ---- extraction -------------------------------------------------------- */

/* Outputs made so far, removed again if extraction fails. */
static char **made;
static int nmade;
static char **dirs;
static int ndirs;

static void
remember(char ***v, int *n, const char *s)
{
	char **nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);

	if (nv == NULL || (nv[*n] = strdup(s)) == NULL)
		errx(1, "out of memory");
	*v = nv;
	(*n)++;
}

static void
undo(void)
{
	for (int i = 0; i < nmade; i++)
		unlink(made[i]);
	for (int i = ndirs - 1; i >= 0; i--)
		rmdir(dirs[i]);
}

static _Noreturn void
fail(void)
{
	undo();
	errx(1, "%s", e.msg);
}

/* DIR/NAME+SUFFIX for a name from the file, refusing names that would
 * escape DIR; creates the directories in between. */
static char *
out_path(const char *dir, const char *name, const char *suffix)
{
	char *p;
	const char *s = name;

	if (*name == '/')
		goto bad;
	for (;;) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			goto bad;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	if (asprintf(&p, "%s/%s%s", dir, name, suffix) < 0)
		errx(1, "out of memory");
	for (int i = 0; i < nmade; i++)
		if (strcmp(made[i], p) == 0) {
			qkv_errf(&e, "%s: written twice (names clash)", p);
			fail();
		}
	for (char *q = p + strlen(dir) + 1; (q = strchr(q, '/')) != NULL; q++) {
		*q = '\0';
		if (mkdir(p, 0777) == 0)
			remember(&dirs, &ndirs, p);
		else if (errno != EEXIST) {
			qkv_errf(&e, "%s: %s", p, strerror(errno));
			fail();
		}
		*q = '/';
	}
	return p;
bad:
	qkv_errf(&e, "'%s': a name that is not a safe relative path", name);
	fail();
	return NULL;
}

static void
commit(qkv_out *o, const char *path)
{
	if (qkv_out_commit(o, &e) < 0)
		fail();
	remember(&made, &nmade, path);
}

static qkv_out *
open_out(const char *path)
{
	qkv_out *o = qkv_out_open(path, &e);

	if (o == NULL)
		fail();
	return o;
}

/* bf16 has no .npy type: it is written as f32, exactly. */
static int
npy_dtype(int dtype)
{
	return dtype == QKV_BF16 ? QKV_F32 : dtype;
}

static void
write_npy(const char *dir, const qkv_tensor *t)
{
	char *path = out_path(dir, t->name, ".npy");
	qkv_out *o = open_out(path);
	const void *data = t->data;
	float *conv = NULL;

	if (t->dtype == QKV_BF16) {
		size_t n = (size_t)t->nbytes / 2;
		if ((conv = qkv_malloc(n * sizeof *conv, &e)) == NULL)
			fail();
		qkv_to_f32(conv, t->data, QKV_BF16, n);
		data = conv;
	}
	if (qkv_npy_write(o->f, npy_dtype(t->dtype), t->ndim, t->shape, data,
	    &e) < 0) {
		qkv_out_abort(o);
		qkv_errprefix(&e, path);
		fail();
	}
	free(conv);
	commit(o, path);
	free(path);
}

/* The bytes of metadata "file:PATH" become DIR/PATH. */
static void
write_files(const char *dir, int n, const char *(*key)(const void *, int),
    const void *(*val)(const void *, const char *, size_t *), const void *src)
{
	size_t len;

	for (int i = 0; i < n; i++) {
		const char *k = key(src, i);
		if (strncmp(k, "file:", 5) != 0)
			continue;
		const void *v = val(src, k, &len);
		char *path = out_path(dir, k + 5, "");
		qkv_out *o = open_out(path);
		if (len > 0 && fwrite(v, 1, len, o->f) != len) {
			qkv_out_abort(o);
			qkv_errf(&e, "%s: %s", path, strerror(errno));
			fail();
		}
		commit(o, path);
		free(path);
	}
}

static const char *
fkey(const void *f, int i)
{
	return qkv_file_meta_key(f, i);
}

static const void *
fval(const void *f, const char *k, size_t *len)
{
	return qkv_file_meta(f, k, len);
}

static const char *
rkey(const void *r, int i)
{
	return qkv_reader_meta_key(r, i);
}

static const void *
rval(const void *r, const char *k, size_t *len)
{
	return qkv_reader_meta(r, k, len);
}

/* A column on its way out: values (and offsets) in temporary files until
 * the end record has been checked, then written as .npy. */
struct colout {
	FILE *vals, *offs;
	uint64_t n;		/* elements so far */
};

/* An anonymous temporary file in $TMPDIR (tmpfile(3) ignores it). */
static FILE *
tmp_open(void)
{
	const char *d = getenv("TMPDIR");
	char *path;
	FILE *f = NULL;
	int fd;

	if (asprintf(&path, "%s/pack.XXXXXX", d && *d ? d : "/tmp") < 0)
		errx(1, "out of memory");
	if ((fd = mkstemp(path)) < 0 || unlink(path) < 0 ||
	    (f = fdopen(fd, "w+")) == NULL) {
		qkv_errf(&e, "%s: %s", path, strerror(errno));
		fail();
	}
	free(path);
	return f;
}

static void
tmp_put(FILE *f, const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, f) != n) {
		qkv_errf(&e, "temporary file: %s", strerror(errno));
		fail();
	}
}

/* Write .npy header + the temporary file's bytes. */
static void
finish_npy(const char *dir, const char *name, const char *suffix, int dtype,
    int ndim, const int64_t *shape, FILE *tmp)
{
	char *path = out_path(dir, name, suffix), buf[1 << 16];
	qkv_out *o = open_out(path);
	size_t k;

	rewind(tmp);
	if (qkv_npy_write_header(o->f, dtype, ndim, shape, &e) < 0)
		goto bad;
	while ((k = fread(buf, 1, sizeof buf, tmp)) > 0)
		if (fwrite(buf, 1, k, o->f) != k) {
			qkv_errf(&e, "%s", strerror(errno));
			goto bad;
		}
	if (ferror(tmp)) {
		qkv_errf(&e, "temporary file: %s", strerror(errno));
		goto bad;
	}
	commit(o, path);
	free(path);
	return;
bad:
	qkv_out_abort(o);
	qkv_errprefix(&e, path);
	fail();
}

static void
extract_stream(qkv_reader *r, const char *dir)
{
	int nc = qkv_reader_ncols(r);
	struct colout *co = calloc((size_t)nc, sizeof *co);
	qkv_cell cells[QKV_MAXCOLS];
	float conv[256];
	int rc;

	if (co == NULL)
		errx(1, "out of memory");
	for (int i = 0; i < nc; i++) {
		int64_t zero = 0;
		co[i].vals = tmp_open();
		if (qkv_reader_col(r, i)->kind != QKV_COL_FIXED)
			co[i].offs = tmp_open();
		if (co[i].offs)
			tmp_put(co[i].offs, &zero, 8);
	}
	while ((rc = qkv_reader_next(r, cells, &e)) == 1) {
		for (int i = 0; i < nc; i++) {
			const qkv_col *c = qkv_reader_col(r, i);
			size_t es = c->kind == QKV_COL_STRING ? 1 :
			    qkv_dtype_size(c->dtype);
			if (c->dtype != QKV_BF16)
				tmp_put(co[i].vals, cells[i].p, cells[i].n * es);
			else
				for (size_t k = 0; k < cells[i].n; k += 256) {
					size_t m = cells[i].n - k < 256 ?
					    cells[i].n - k : 256;
					qkv_to_f32(conv, (const uint16_t *)
					    cells[i].p + k, QKV_BF16, m);
					tmp_put(co[i].vals, conv, m * 4);
				}
			co[i].n += cells[i].n;
			if (co[i].offs) {
				int64_t off = (int64_t)co[i].n;
				tmp_put(co[i].offs, &off, 8);
			}
		}
	}
	if (rc < 0)
		fail();
	int64_t rows = (int64_t)qkv_reader_rows(r);
	for (int i = 0; i < nc; i++) {
		const qkv_col *c = qkv_reader_col(r, i);
		int dt = c->kind == QKV_COL_STRING ? QKV_U8 : npy_dtype(c->dtype);
		int64_t shape[QKV_MAXDIM + 1], n = (int64_t)co[i].n;
		if (c->kind == QKV_COL_FIXED) {
			shape[0] = rows;
			memcpy(shape + 1, c->shape, (size_t)c->ndim * sizeof *shape);
			finish_npy(dir, c->name, ".npy", dt, c->ndim + 1, shape,
			    co[i].vals);
		} else {
			int64_t nofs = rows + 1;
			finish_npy(dir, c->name, ".npy", dt, 1, &n, co[i].vals);
			finish_npy(dir, c->name, ".offsets.npy", QKV_I64, 1,
			    &nofs, co[i].offs);
			fclose(co[i].offs);
		}
		fclose(co[i].vals);
	}
	free(co);
	write_files(dir, qkv_reader_nmeta(r), rkey, rval, r);
}

/* pack -x: verify first, so that a damaged file leaves nothing behind. */
static void
extract(struct input *x, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (mkdir(dir, 0777) < 0)
			err(1, "%s", dir);
		remember(&dirs, &ndirs, dir);
	} else if (!S_ISDIR(st.st_mode))
		errx(1, "%s: not a directory", dir);
	if (x->r != NULL) {
		extract_stream(x->r, dir);
		return;
	}
	if (qkv_file_verify(x->f, &e) < 0)
		fail();
	int n = qkv_file_ntensors(x->f);
	for (int i = 0; i < n; i++) {
		if (qkv_progress_wanted(quiet))
			fprintf(stderr, "\rpack: %d/%d tensors", i + 1, n);
		write_npy(dir, qkv_file_tensor(x->f, i));
	}
	if (qkv_progress_wanted(quiet) && n > 0)
		fputc('\n', stderr);
	write_files(dir, qkv_file_nmeta(x->f), fkey, fval, x->f);
}

/* ---- creation ---------------------------------------------------------- */

static qkv_out *out;
static qkv_twriter *tw;

static _Noreturn void
cfail(void)
{
	qkv_twriter_free(tw);
	qkv_out_abort(out);
	errx(1, "%s", e.msg);
}

static void
start_out(const char *path)
{
	if (path == NULL && isatty(1))
		errx(2, "refusing to write a qkv file to a terminal (use -o)");
	if ((out = qkv_out_open(path, &e)) == NULL ||
	    (tw = qkv_twriter_open(out->f, path ? path : "<stdout>", &e)) ==
	    NULL)
		cfail();
}

static void
finish_out(void)
{
	int rc = qkv_twriter_close(tw, &e);

	tw = NULL;
	if (rc < 0)
		cfail();
	if (qkv_out_commit(out, &e) < 0)
		errx(1, "%s", e.msg);
}

static int
is_float(int dtype)
{
	return dtype == QKV_F16 || dtype == QKV_BF16 || dtype == QKV_F32 ||
	    dtype == QKV_F64;
}

/* Add one tensor, converted to dtype `to` when it is a float and to is
 * set. */
static void
add_tensor(const char *name, const qkv_tensor *t, int to)
{
	const void *data = t->data;
	size_t nbytes = (size_t)t->nbytes, n;
	void *conv = NULL;
	int dt = t->dtype;

	if (to != QKV_NONE && is_float(dt) && dt != to) {
		n = nbytes / qkv_dtype_size(dt);
		float *f = qkv_malloc(n * sizeof *f, &e);
		if (f == NULL)
			cfail();
		qkv_to_f32(f, t->data, dt, n);
		if (to == QKV_F32)
			conv = f;
		else {
			uint16_t *h = qkv_malloc(n * 2, &e);
			if (h == NULL)
				cfail();
			for (size_t i = 0; i < n; i++)
				h[i] = to == QKV_F16 ? qkv_f32_to_f16(f[i]) :
				    qkv_f32_to_bf16(f[i]);
			free(f);
			conv = h;
		}
		data = conv;
		dt = to;
		nbytes = n * qkv_dtype_size(to);
	}
	if (qkv_twriter_tensor(tw, name, dt, t->ndim, t->shape, data, nbytes,
	    &e) < 0)
		cfail();
	free(conv);
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && strcmp(s + n - k, suf) == 0;
}

/* pack -c: every tensor of every input (.npy, safetensors, qkv tensor
 * file, whichever the first bytes say). */
static void
create(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *path = argv[i];
		unsigned char head[8] = {0};
		FILE *f = fopen(path, "rb");

		if (f == NULL) {
			qkv_errf(&e, "%s: %s", path, strerror(errno));
			cfail();
		}
		size_t got = fread(head, 1, sizeof head, f);
		fclose(f);
		if (qkv_progress_wanted(quiet))
			fprintf(stderr, "\rpack: %d/%d files", i + 1, argc);
		if (got == 0) {
			qkv_errf(&e, "%s: empty file", path);
			cfail();
		}
		if (got >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) {
			qkv_npy *n = qkv_npy_open(path, &e);
			if (n == NULL)
				cfail();
			/* the name: the file name without directory or .npy */
			const char *base = strrchr(path, '/');
			char *name = strdup(base ? base + 1 : path);
			if (name == NULL)
				errx(1, "out of memory");
			if (has_suffix(name, ".npy"))
				name[strlen(name) - 4] = '\0';
			add_tensor(name, qkv_npy_tensor(n), QKV_NONE);
			free(name);
			qkv_npy_close(n);
		} else if (qkv_kind(head, got) == 'T' ||
		    (qkv_kind(head, got) == 0 && (memcmp(head, QKV_MAGIC, 4)
		    == 0 || has_suffix(path, ".qkv")))) {
			/* a tensor file, or what the reader says is wrong */
			qkv_file *q = qkv_file_open(path, &e);
			if (q == NULL || qkv_file_verify(q, &e) < 0)
				cfail();
			for (int k = 0; k < qkv_file_ntensors(q); k++) {
				const qkv_tensor *t = qkv_file_tensor(q, k);
				add_tensor(t->name, t, QKV_NONE);
			}
			for (int k = 0; k < qkv_file_nmeta(q); k++) {
				size_t len;
				const char *key = qkv_file_meta_key(q, k);
				const void *v = qkv_file_meta(q, key, &len);
				if (qkv_twriter_meta(tw, key, v, len, &e) < 0)
					cfail();
			}
			qkv_file_close(q);
		} else if (qkv_kind(head, got) == 'S') {
			qkv_errf(&e, "%s: a row stream: pack -c takes tensors "
			    "(extract it with pack -x)", path);
			cfail();
		} else {
			qkv_st *st = qkv_st_open(path, &e);
			if (st == NULL) {
				if (!has_suffix(path, ".safetensors"))
					qkv_errf(&e, "%s: not a .npy, safetensors "
					    "or qkv tensor file", path);
				cfail();
			}
			for (int k = 0; k < qkv_st_ntensors(st); k++) {
				const qkv_tensor *t = qkv_st_tensor(st, k);
				add_tensor(t->name, t, QKV_NONE);
			}
			qkv_st_close(st);
		}
	}
	if (qkv_progress_wanted(quiet) && argc > 0)
		fputc('\n', stderr);
}

/* The model files of an HF directory: *.json, *.txt and sentencepiece
 * *.model files, at the top and one directory down (1_Pooling/...),
 * except the shard index, which describes safetensors files that are not
 * copied as such.  In name order, so that the output is reproducible. */
static int
model_file(const char *name)
{
	return name[0] != '.' && !has_suffix(name, ".index.json") &&
	    (has_suffix(name, ".json") || has_suffix(name, ".txt") ||
	    has_suffix(name, ".model"));
}

static void
add_file(const char *path, const char *rel)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *key;
	size_t len = 0, cap = 0, k;

	if (f == NULL) {
		qkv_errf(&e, "%s: %s", path, strerror(errno));
		cfail();
	}
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 65536;
			if (cap > (size_t)QKV_MAXREC * 2 ||
			    (buf = realloc(buf, cap)) == NULL) {
				qkv_errf(&e, "%s: too big for metadata", path);
				cfail();
			}
		}
		k = fread(buf + len, 1, cap - len, f);
		len += k;
	} while (k > 0);
	if (ferror(f)) {
		qkv_errf(&e, "%s: %s", path, strerror(errno));
		cfail();
	}
	fclose(f);
	if (asprintf(&key, "file:%s", rel) < 0)
		errx(1, "out of memory");
	if (qkv_twriter_meta(tw, key, buf, len, &e) < 0)
		cfail();
	free(key);
	free(buf);
}

static void
add_dir_files(const char *dir, const char *rel, int depth)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0) {
		qkv_errf(&e, "%s: %s", dir, strerror(errno));
		cfail();
	}
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char *path, *r;
		struct stat st;
		if (asprintf(&path, "%s/%s", dir, name) < 0 ||
		    asprintf(&r, "%s%s%s", rel, *rel ? "/" : "", name) < 0)
			errx(1, "out of memory");
		/* stat, not lstat: the Hugging Face cache links to blobs */
		if (name[0] != '.' && stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth == 0)
				add_dir_files(path, r, 1);
			else if (S_ISREG(st.st_mode) && model_file(name))
				add_file(path, r);
		}
		free(path);
		free(r);
		free(ents[i]);
	}
	free(ents);
}

/* pack -i: a Hugging Face directory into one model file. */
static void
import(const char *dir, int to)
{
	struct stat st;
	qkv_model *m;

	if (stat(dir, &st) < 0)
		err(1, "%s", dir);
	if (!S_ISDIR(st.st_mode))
		errx(1, "%s: not a directory (pack -i takes a Hugging Face "
		    "model directory)", dir);
	if ((m = qkv_model_open(dir, &e)) == NULL)
		cfail();
	int n = qkv_model_ntensors(m);
	if (n == 0) {
		qkv_errf(&e, "%s: no tensors (model.safetensors is missing?)",
		    dir);
		cfail();
	}
	for (int i = 0; i < n; i++) {
		const qkv_tensor *t = qkv_model_tensor_at(m, i);
		if (qkv_progress_wanted(quiet))
			fprintf(stderr, "\rpack: %d/%d tensors", i + 1, n);
		add_tensor(t->name, t, to);
	}
	if (qkv_progress_wanted(quiet))
		fputc('\n', stderr);
	qkv_model_close(m);
	add_dir_files(dir, "", 0);
}

/* ---- pretraining data: corpus files and training shards ----------------- */

struct shardopts {
	long len, maxpred, size, eot;
	int set;		/* one of them was given */
};

/* The documents of the inputs (tok output) as one corpus file. */
static void
make_corpus(int argc, char **argv, const char *outpath)
{
	qkv_out *o;
	char *dir = NULL;

	if (argc > 1)
		errx(2, "--corpus reads one input (cat several into it)");
	if (outpath == NULL && isatty(1))
		errx(2, "refusing to write a qkv file to a terminal (use -o)");
	if ((o = qkv_out_open(outpath, &e)) == NULL)
		errx(1, "%s", e.msg);
	/* scratch files beside the output, where there is room for it */
	if (outpath != NULL && strchr(outpath, '/') != NULL &&
	    (dir = strndup(outpath, (size_t)(strrchr(outpath, '/') - outpath)))
	    == NULL)
		errx(1, "out of memory");
	qkv_in *in = qkv_in_open(argc > 0 ? argv[0] : "-", &e);
	qkv_docreader *r = in ? qkv_docreader_open(in, NULL, &e) : NULL;
	if (r == NULL || qkv_corpus_write(r, o->f, outpath ? outpath :
	    "<stdout>", outpath ? (dir ? dir : ".") : NULL, &e) < 0) {
		qkv_out_abort(o);
		errx(1, "%s", e.msg);
	}
	qkv_docreader_close(r);
	qkv_in_close(in);
	free(dir);
	if (qkv_out_commit(o, &e) < 0)
		errx(1, "%s", e.msg);
}

/* Training shards from mask's instances, or token blocks from tok's
 * documents. */
static void
make_shards(int mode, int argc, char **argv, const char *prefix,
    const struct shardopts *so)
{
	qkv_shards *w;
	size_t nfiles;
	int rc = 0;

	if (prefix == NULL)
		errx(2, "--shards and --blocks need -o PREFIX");
	if ((w = qkv_shards_open(prefix, mode == OPT_BLOCKS, (int)so->len,
	    (int)so->maxpred, (size_t)so->size, &e)) == NULL)
		errx(1, "%s", e.msg);
	for (int i = 0; rc == 0 && i < (argc > 0 ? argc : 1); i++) {
		qkv_in *in = qkv_in_open(argc > 0 ? argv[i] : "-", &e);
		if (in == NULL) {
			rc = -1;
			break;
		}
		if (mode == OPT_BLOCKS) {
			qkv_docreader *r = qkv_docreader_open(in, NULL, &e);
			qkv_doc d;
			rc = r ? 0 : -1;
			while (rc == 0 && (rc = qkv_docreader_next(r, &d, &e)) > 0)
				rc = qkv_shards_doc(w, &d, (int32_t)so->eot, &e);
			qkv_docreader_close(r);
		} else {
			qkv_ptreader *r = qkv_ptreader_open(in, 0, &e);
			qkv_ptrow row;
			rc = r ? 0 : -1;
			while (rc == 0 && (rc = qkv_ptreader_next(r, &row, &e)) > 0)
				if ((rc = qkv_shards_row(w, &row, &e)) < 0) {
					char pre[64];
					snprintf(pre, sizeof pre, "row %llu",
					    (unsigned long long)row.row + 1);
					qkv_errprefix(&e, pre);
					qkv_errprefix(&e, qkv_in_name(in));
				}
			qkv_ptreader_close(r);
		}
		qkv_in_close(in);
	}
	if (rc < 0) {
		qkv_shards_abort(w);
		errx(1, "%s", e.msg);
	}
	if (qkv_shards_close(w, &nfiles, &e) < 0)
		errx(1, "%s", e.msg);
	if (!quiet && isatty(2))
		fprintf(stderr, "pack: %zu shard%s %s-*.qkv\n", nfiles,
		    nfiles == 1 ? "" : "s", prefix);
}

int
main(int argc, char **argv)
{
	struct shardopts so = {128, 20, 4096, 50256, 0};
	long lv;
	int c, mode = 0, to = QKV_NONE;
	const char *outpath = NULL, *dir = ".", *key = NULL, *src = NULL;
	struct input x;

	qkv_cli_init();
	while ((c = getopt_long(argc, argv, "C:chi:l:M:o:qtVvx", longopts,
	    NULL)) != -1) {
		switch (c) {
		case OPT_CORPUS: case OPT_SHARDS: case OPT_BLOCKS:
			if (mode != 0 && mode != c)
				usage(2);
			mode = c;
			break;
		case 'l': case OPT_MAXPRED: case OPT_SHARDSIZE: case OPT_EOT:
			if (qkv_parse_long(optarg, c == 'l' || c == OPT_SHARDSIZE,
			    c == OPT_SHARDSIZE ? 1L << 24 : c == OPT_EOT ?
			    INT32_MAX : 1 << 20, &lv, &e) < 0)
				errx(2, "%s: %s", c == 'l' ? "-l" : c == OPT_EOT ?
				    "--eot" : c == OPT_MAXPRED ? "--max-pred" :
				    "--shard-size", e.msg);
			*(c == 'l' ? &so.len : c == OPT_MAXPRED ? &so.maxpred :
			    c == OPT_EOT ? &so.eot : &so.size) = lv;
			so.set = 1;
			break;
		case 'c': case 't': case 'v': case 'x':
		case 'i': case 'M':
			if (mode != 0 && mode != c)
				usage(2);
			mode = c;
			if (c == 'i')
				src = optarg;
			if (c == 'M')
				key = optarg;
			break;
		case 'C':
			dir = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case OPT_DTYPE:
			to = qkv_dtype_parse(optarg);
			if (to != QKV_F16 && to != QKV_BF16 && to != QKV_F32)
				errx(2, "--dtype: '%s': f16, bf16 or f32", optarg);
			break;
		case 'V':
			printf("pack (qkv) %s\n", QKV_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (to != QKV_NONE && mode != 'i')
		errx(2, "--dtype goes with -i");
	if (so.set && mode != OPT_SHARDS && mode != OPT_BLOCKS)
		errx(2, "-l, --max-pred, --eot and --shard-size go with "
		    "--shards or --blocks");
	switch (mode) {
	case OPT_CORPUS:
		make_corpus(argc, argv, outpath);
		return 0;
	case OPT_SHARDS:
	case OPT_BLOCKS:
		make_shards(mode, argc, argv, outpath, &so);
		return 0;
	case 'c':
		if (argc == 0)
			usage(2);
		start_out(outpath);
		create(argc, argv);
		finish_out();
		return 0;
	case 'i':
		if (argc != 0)
			usage(2);
		start_out(outpath);
		import(src, to);
		finish_out();
		return 0;
	case 't': case 'v': case 'x': case 'M':
		if (argc > 1 || outpath != NULL)
			usage(2);
		open_input(&x, argc ? argv[0] : "-");
		if (mode == 't')
			list(&x);
		else if (mode == 'v')
			verify(&x);
		else if (mode == 'M')
			print_meta(&x, key);
		else
			extract(&x, dir);
		close_input(&x);
		if (fflush(stdout) != 0 || ferror(stdout))
			err(1, "<stdout>");
		return 0;
	}
	usage(2);
}
