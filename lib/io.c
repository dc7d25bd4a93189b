/* io.c - buffered input with peek, atomic output, program plumbing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qkv.h"

#define IN_BLOCK (1 << 20)

struct qkv_in {
	int fd;
	int owned;
	char *name;
	unsigned char *buf;	/* buf[pos..end) is unread */
	size_t cap, pos, end;
	int eof;
	long lineno;
	uint64_t offset;	/* bytes consumed before buf[pos] */
};

qkv_in *
qkv_in_open(const char *path, qkv_err *e)
{
	qkv_in *in;
	int fd;

	if (path == NULL || strcmp(path, "-") == 0) {
		fd = 0;
		path = "<stdin>";
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((in = qkv_calloc(1, sizeof *in, e)) == NULL ||
	    (in->name = strdup(path)) == NULL ||
	    (in->buf = qkv_malloc(IN_BLOCK, e)) == NULL) {
		if (in != NULL) {
			free(in->name);
			free(in);
		}
		if (fd != 0)
			close(fd);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	in->fd = fd;
	in->owned = fd != 0;
	in->cap = IN_BLOCK;
	return in;
}

void
qkv_in_close(qkv_in *in)
{
	if (in == NULL)
		return;
	if (in->owned)
		close(in->fd);
	free(in->buf);
	free(in->name);
	free(in);
}

const char *
qkv_in_name(const qkv_in *in)
{
	return in->name;
}

long
qkv_in_lineno(const qkv_in *in)
{
	return in->lineno;
}

uint64_t
qkv_in_offset(const qkv_in *in)
{
	return in->offset;
}

/* Fill until at least n bytes are buffered or EOF; grows the buffer. */
static int
fill(qkv_in *in, size_t n, qkv_err *e)
{
	if (in->end - in->pos >= n || in->eof)
		return 0;
	if (in->pos > 0) {
		memmove(in->buf, in->buf + in->pos, in->end - in->pos);
		in->end -= in->pos;
		in->pos = 0;
	}
	if (n > in->cap) {
		size_t cap = in->cap;
		unsigned char *nb;
		while (cap < n) {
			if (cap > SIZE_MAX / 2)
				return qkv_errf(e, "%s: out of memory", in->name);
			cap *= 2;
		}
		if ((nb = realloc(in->buf, cap)) == NULL)
			return qkv_errf(e, "%s: out of memory", in->name);
		in->buf = nb;
		in->cap = cap;
	}
	while (in->end < n && !in->eof) {
		ssize_t r = read(in->fd, in->buf + in->end, in->cap - in->end);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return qkv_errf(e, "%s: %s", in->name, strerror(errno));
		}
		if (r == 0)
			in->eof = 1;
		in->end += (size_t)r;
	}
	return 0;
}

long
qkv_in_peek(qkv_in *in, size_t n, const unsigned char **p, qkv_err *e)
{
	if (fill(in, n, e) < 0)
		return -1;
	*p = in->buf + in->pos;
	return (long)(in->end - in->pos < n ? in->end - in->pos : n);
}

long
qkv_in_read(qkv_in *in, void *buf, size_t n, qkv_err *e)
{
	size_t got = 0;

	while (got < n) {
		if (in->pos == in->end) {
			if (in->eof)
				break;
			/* big reads go straight through */
			if (n - got >= in->cap) {
				ssize_t r = read(in->fd, (char *)buf + got, n - got);
				if (r < 0) {
					if (errno == EINTR)
						continue;
					return qkv_errf(e, "%s: %s", in->name,
					    strerror(errno));
				}
				if (r == 0)
					in->eof = 1;
				got += (size_t)r;
				in->offset += (uint64_t)r;
				continue;
			}
			if (fill(in, 1, e) < 0)
				return -1;
			continue;
		}
		size_t k = in->end - in->pos;
		if (k > n - got)
			k = n - got;
		memcpy((char *)buf + got, in->buf + in->pos, k);
		in->pos += k;
		in->offset += k;
		got += k;
	}
	return (long)got;
}

/* The qkv magic; formats/qkv.md defines it. */
static const unsigned char qkv_magic[4] = {0x89, 'Q', 'K', 'V'};

int
qkv_in_is_qkv(qkv_in *in)
{
	const unsigned char *p;

	if (qkv_in_peek(in, 4, &p, NULL) < 4)
		return 0;
	return memcmp(p, qkv_magic, 4) == 0;
}

int
qkv_in_line(qkv_in *in, char **line, size_t *len, size_t maxlen, qkv_err *e)
{
	size_t scanned = 0;

	for (;;) {
		unsigned char *s = in->buf + in->pos + scanned;
		size_t avail = in->end - in->pos - scanned;
		unsigned char *nl = memchr(s, '\n', avail);
		if (nl != NULL) {
			size_t n = (size_t)(nl - (in->buf + in->pos));
			if (n > maxlen)
				goto toolong;
			*line = (char *)in->buf + in->pos;
			*len = n;
			in->pos += n + 1;
			in->offset += n + 1;
			in->lineno++;
			return 1;
		}
		scanned = in->end - in->pos;
		if (scanned > maxlen)
			goto toolong;
		if (in->eof) {
			if (scanned == 0)
				return 0;
			*line = (char *)in->buf + in->pos;
			*len = scanned;
			in->pos += scanned;
			in->offset += scanned;
			in->lineno++;
			return 1;
		}
		/* need more: read at least one more byte, growing the buffer */
		if (fill(in, scanned + 1, e) < 0)
			return -1;
	}
toolong:
	return qkv_errf(e, "%s: line %ld: longer than %zu bytes", in->name,
	    in->lineno + 1, maxlen);
}

/* ---- output ---------------------------------------------------------- */

/* Temporary files to remove on a fatal signal.  Fixed table: a program has
 * at most a handful of outputs open. */
#define MAXTMP 16
static char *volatile tmpfiles[MAXTMP];

static void
on_fatal(int sig)
{
	for (int i = 0; i < MAXTMP; i++)
		if (tmpfiles[i] != NULL)
			unlink(tmpfiles[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

void
qkv_cli_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_fatal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void
track(char *tmp, int on)
{
	for (int i = 0; i < MAXTMP; i++) {
		if (on && tmpfiles[i] == NULL) {
			tmpfiles[i] = tmp;
			return;
		}
		if (!on && tmpfiles[i] == tmp) {
			tmpfiles[i] = NULL;
			return;
		}
	}
}

qkv_out *
qkv_out_open(const char *path, qkv_err *e)
{
	qkv_out *o;
	int fd;

	if ((o = qkv_calloc(1, sizeof *o, e)) == NULL)
		return NULL;
	if (path == NULL || strcmp(path, "-") == 0) {
		o->f = stdout;
		return o;
	}
	if ((o->path = strdup(path)) == NULL ||
	    asprintf(&o->tmp, "%s.tmp.XXXXXX", path) < 0) {
		free(o->path);
		free(o);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	if ((fd = mkstemp(o->tmp)) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* mkstemp makes 0600; give the file the usual umask-based mode */
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	track(o->tmp, 1);
	if ((o->f = fdopen(fd, "wb")) == NULL) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(o->tmp);
		track(o->tmp, 0);
		goto fail;
	}
	return o;
fail:
	free(o->tmp);
	free(o->path);
	free(o);
	return NULL;
}

int
qkv_out_commit(qkv_out *o, qkv_err *e)
{
	int rc = 0;
	const char *name = o->path ? o->path : "<stdout>";

	if (fflush(o->f) != 0 || ferror(o->f))
		rc = qkv_errf(e, "%s: write error: %s", name,
		    strerror(errno ? errno : EIO));
	if (o->path == NULL) {
		free(o);
		return rc;
	}
	if (fclose(o->f) != 0 && rc == 0)
		rc = qkv_errf(e, "%s: %s", name, strerror(errno));
	if (rc == 0 && rename(o->tmp, o->path) != 0)
		rc = qkv_errf(e, "%s: %s", name, strerror(errno));
	if (rc != 0)
		unlink(o->tmp);
	track(o->tmp, 0);
	free(o->tmp);
	free(o->path);
	free(o);
	return rc;
}

void
qkv_out_abort(qkv_out *o)
{
	if (o == NULL)
		return;
	if (o->path == NULL) {
		fflush(o->f);
		free(o);
		return;
	}
	fclose(o->f);
	unlink(o->tmp);
	track(o->tmp, 0);
	free(o->tmp);
	free(o->path);
	free(o);
}

/* ---- small helpers for programs -------------------------------------- */

int
qkv_parse_long(const char *s, long lo, long hi, long *v, qkv_err *e)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return qkv_errf(e, "'%s' is not a number", s);
	if (x < lo || x > hi)
		return qkv_errf(e, "%s is out of range [%ld, %ld]", s, lo, hi);
	*v = x;
	return 0;
}

int
qkv_parse_double(const char *s, double lo, double hi, double *v, qkv_err *e)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || isnan(x))
		return qkv_errf(e, "'%s' is not a number", s);
	if (x < lo || x > hi)
		return qkv_errf(e, "%s is out of range [%g, %g]", s, lo, hi);
	*v = x;
	return 0;
}

int
qkv_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (int)n;
}

int
qkv_progress_wanted(int quiet)
{
	return !quiet && isatty(2);
}
