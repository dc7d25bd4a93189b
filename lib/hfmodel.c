/*
 * hfmodel.c - a model as named files and named tensors, whatever it came
 * from: a Hugging Face directory, a qkv model file made by `pack -i`, or a
 * single tokenizer file.  The model code (bert.c, gpt2.c) and the
 * tokenizer front never look at paths; they ask for "config.json" or
 * "bert.embeddings.word_embeddings.weight" here.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qkv.h"

#define MAX_MODEL_FILE (1u << 30)	/* a config or vocabulary file */

enum { SRC_DIR, SRC_SINGLE, SRC_QKV };

struct mfile {
	char *name;
	char *data;		/* NULL: looked for, absent */
	size_t len;
};

struct qkv_model {
	int src;
	char *path;
	char *dir;		/* SRC_DIR and SRC_SINGLE: where files live */
	char *single;		/* SRC_SINGLE: the one file's role name */
	qkv_st **shards;
	int nshards;
	const qkv_tensor **t;
	int nt;
	struct mfile *files;
	int nfiles;
	qkv_file *qf;		/* SRC_QKV */
};

const char *
qkv_model_default(const char *arg)
{
	const char *env;

	if (arg != NULL && *arg != '\0')
		return arg;
	env = getenv("QKV_MODEL");
	return env != NULL && *env != '\0' ? env : NULL;
}

const char *
qkv_model_path(const qkv_model *m)
{
	return m->path;
}

void
qkv_model_close(qkv_model *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->nshards; i++)
		qkv_st_close(m->shards[i]);
	for (int i = 0; i < m->nfiles; i++) {
		free(m->files[i].name);
		free(m->files[i].data);
	}
	free(m->files);
	qkv_file_close(m->qf);
	free(m->shards);
	free(m->t);
	free(m->path);
	free(m->dir);
	free(m->single);
	free(m);
}

static char *
join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

/* Read a whole (small) file; 0 ok, 1 absent, -1 error. */
static int
slurp(const char *path, char **data, size_t *len, qkv_err *e)
{
	struct stat sb;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		return qkv_errf(e, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return qkv_errf(e, "%s: not a regular file", path);
	}
	if ((uint64_t)sb.st_size > MAX_MODEL_FILE) {
		close(fd);
		return qkv_errf(e, "%s: larger than %u bytes", path,
		    MAX_MODEL_FILE);
	}
	if ((buf = qkv_malloc((size_t)sb.st_size + 1, e)) == NULL) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			free(buf);
			return qkv_errf(e, "%s: %s", path,
			    r < 0 ? strerror(errno) : "file shrank while read");
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

static int
add_shard(qkv_model *m, const char *path, qkv_err *e)
{
	qkv_st *st, **ns;
	const qkv_tensor **nt;

	if ((st = qkv_st_open(path, e)) == NULL)
		return -1;
	ns = realloc(m->shards, (size_t)(m->nshards + 1) * sizeof *ns);
	nt = ns ? realloc(m->t, (size_t)(m->nt + qkv_st_ntensors(st)) *
	    sizeof *nt + 1) : NULL;
	if (ns != NULL)
		m->shards = ns;
	if (nt == NULL) {
		qkv_st_close(st);
		return qkv_errf(e, "out of memory");
	}
	m->t = nt;
	m->shards[m->nshards++] = st;
	for (int i = 0; i < qkv_st_ntensors(st); i++) {
		const qkv_tensor *t = qkv_st_tensor(st, i);
		if (qkv_model_tensor(m, t->name) != NULL)
			return qkv_errf(e, "%s: tensor '%s' appears twice in the "
			    "model", path, t->name);
		m->t[m->nt++] = t;
	}
	return 0;
}

/* Sharded checkpoints: model.safetensors.index.json maps each tensor to
 * its shard; open every shard named there once. */
static int
load_index(qkv_model *m, const char *ipath, qkv_err *e)
{
	json_error_t je;
	json_t *root, *map, *v;
	const char *k;
	char **seen = NULL;
	int nseen = 0, rc = 0;

	if ((root = json_load_file(ipath, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return qkv_errf(e, "%s: line %d: %s", ipath, je.line, je.text);
	map = json_object_get(root, "weight_map");
	if (!json_is_object(map)) {
		json_decref(root);
		return qkv_errf(e, "%s: no weight_map object", ipath);
	}
	json_object_foreach(map, k, v) {
		const char *f = json_string_value(v);
		int dup = 0;
		if (f == NULL || strchr(f, '/') != NULL || f[0] == '.') {
			rc = qkv_errf(e, "%s: bad shard name for '%s'", ipath, k);
			break;
		}
		for (int i = 0; i < nseen; i++)
			dup |= strcmp(seen[i], f) == 0;
		if (dup)
			continue;
		char **ns = realloc(seen, (size_t)(nseen + 1) * sizeof *ns);
		char *p = join(m->dir, f);
		if (ns == NULL || p == NULL) {
			free(p);
			if (ns != NULL)
				seen = ns;
			rc = qkv_errf(e, "out of memory");
			break;
		}
		seen = ns;
		seen[nseen++] = (char *)f;
		rc = add_shard(m, p, e);
		free(p);
		if (rc < 0)
			break;
	}
	free(seen);
	json_decref(root);
	return rc;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int
open_dir(qkv_model *m, qkv_err *e)
{
	char *p;
	int rc = 0;

	if ((m->dir = strdup(m->path)) == NULL)
		return qkv_errf(e, "out of memory");
	if ((p = join(m->dir, "model.safetensors")) == NULL)
		return qkv_errf(e, "out of memory");
	if (access(p, F_OK) == 0)
		rc = add_shard(m, p, e);
	else {
		free(p);
		if ((p = join(m->dir, "model.safetensors.index.json")) == NULL)
			return qkv_errf(e, "out of memory");
		if (access(p, F_OK) == 0)
			rc = load_index(m, p, e);
	}
	free(p);
	return rc;
}

/* A single tokenizer file: its role from its name. */
static int
open_single(qkv_model *m, qkv_err *e)
{
	const char *base = strrchr(m->path, '/');
	const char *role;

	base = base ? base + 1 : m->path;
	if (ends_with(base, "tokenizer.json"))
		role = "tokenizer.json";
	else if (ends_with(base, ".json"))
		role = "vocab.json";
	else if (ends_with(base, ".txt"))
		role = "vocab.txt";
	else if (ends_with(base, ".safetensors")) {
		role = NULL;
	} else
		return qkv_errf(e, "%s: not a model directory, qkv model file, "
		    "safetensors file or tokenizer file (vocab.txt, "
		    "tokenizer.json, vocab.json)", m->path);
	if (base == m->path)
		m->dir = strdup(".");
	else
		m->dir = strndup(m->path, (size_t)(base - m->path - 1));
	if (m->dir == NULL || (role && (m->single = strdup(role)) == NULL))
		return qkv_errf(e, "out of memory");
	if (role == NULL) {
		/* a lone safetensors file: its directory holds the rest */
		m->src = SRC_DIR;
		return add_shard(m, m->path, e);
	}
	return 0;
}

/* A qkv model file (`pack -i`): tensors mapped in place, the model's
 * files stored as metadata "file:NAME". */
static int
open_qkv(qkv_model *m, qkv_err *e)
{
	int n;

	if ((m->qf = qkv_file_open(m->path, e)) == NULL)
		return -1;
	n = qkv_file_ntensors(m->qf);
	if ((m->t = calloc((size_t)n + 1, sizeof *m->t)) == NULL)
		return qkv_errf(e, "out of memory");
	for (int i = 0; i < n; i++)
		m->t[m->nt++] = qkv_file_tensor(m->qf, i);
	return 0;
}

qkv_model *
qkv_model_open(const char *path, qkv_err *e)
{
	struct stat sb;
	qkv_model *m;
	int rc;

	if (path == NULL)
		return qkv_errf(e, "no model: use -m MODEL or set QKV_MODEL"),
		    NULL;
	if (stat(path, &sb) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((m = qkv_calloc(1, sizeof *m, e)) == NULL)
		return NULL;
	if ((m->path = strdup(path)) == NULL) {
		free(m);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	if (S_ISDIR(sb.st_mode)) {
		m->src = SRC_DIR;
		rc = open_dir(m, e);
	} else {
		unsigned char magic[4] = {0};
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (read(fd, magic, 4) < 0)
				memset(magic, 0, 4);
			close(fd);
		}
		if (memcmp(magic, QKV_MAGIC, 4) == 0) {
			m->src = SRC_QKV;
			rc = open_qkv(m, e);
		} else {
			m->src = SRC_SINGLE;
			rc = open_single(m, e);
		}
	}
	if (rc < 0) {
		qkv_model_close(m);
		return NULL;
	}
	return m;
}

const char *
qkv_model_file(qkv_model *m, const char *name, size_t *len)
{
	struct mfile *f;
	char *p = NULL, *data = NULL;
	size_t n = 0;
	int rc;

	for (int i = 0; i < m->nfiles; i++) {
		if (strcmp(m->files[i].name, name) == 0) {
			if (len != NULL)
				*len = m->files[i].len;
			return m->files[i].data;
		}
	}
	if (m->src == SRC_QKV) {
		/* served from the mapping, with a NUL added in a copy: metadata
		 * values are not terminated in the file */
		char key[QKV_MAXNAME + 8];
		const void *v;
		snprintf(key, sizeof key, "file:%s", name);
		if ((v = qkv_file_meta(m->qf, key, &n)) != NULL &&
		    (data = malloc(n + 1)) != NULL) {
			memcpy(data, v, n);
			data[n] = '\0';
		}
	} else if (m->src == SRC_SINGLE) {
		/* the file itself under its role, and the companions that a
		 * tokenizer file has beside it */
		if (strcmp(name, m->single) == 0)
			p = strdup(m->path);
		else if (strcmp(name, "merges.txt") == 0 ||
		    strcmp(name, "tokenizer_config.json") == 0 ||
		    strcmp(name, "special_tokens_map.json") == 0)
			p = join(m->dir, name);
	} else if (m->src == SRC_DIR)
		p = join(m->dir, name);
	if (p != NULL) {
		rc = slurp(p, &data, &n, NULL);
		if (rc != 0)
			data = NULL;
		free(p);
	}
	f = realloc(m->files, (size_t)(m->nfiles + 1) * sizeof *f);
	if (f == NULL) {
		free(data);
		return NULL;
	}
	m->files = f;
	f = &m->files[m->nfiles];
	if ((f->name = strdup(name)) == NULL) {
		free(data);
		return NULL;
	}
	f->data = data;
	f->len = n;
	m->nfiles++;
	if (len != NULL)
		*len = n;
	return data;
}

int
qkv_model_ntensors(const qkv_model *m)
{
	return m->nt;
}

const qkv_tensor *
qkv_model_tensor_at(const qkv_model *m, int i)
{
	return i >= 0 && i < m->nt ? m->t[i] : NULL;
}

const qkv_tensor *
qkv_model_tensor(const qkv_model *m, const char *name)
{
	for (int i = 0; i < m->nt; i++)
		if (strcmp(m->t[i]->name, name) == 0)
			return m->t[i];
	return NULL;
}
