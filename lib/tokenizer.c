/*
 * tokenizer.c - the tokenizer front: loads WordPiece or byte-level BPE
 * from a model's files, splits added (special) tokens out of the text,
 * repairs invalid UTF-8, runs the model, truncates and adds the
 * post-processor's special tokens; and decodes.  Semantics are those of
 * Hugging Face `tokenizers` (Tokenizer::encode / decode).
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "tokint.h"

#define MAXID (1 << 24)		/* ids beyond this are refused at load */
#define MAXTMPL 16

enum { DEC_NONE, DEC_WORDPIECE, DEC_BYTELEVEL };
enum { TI_SPECIAL, TI_A, TI_B };

struct titem {
	int kind;		/* TI_* */
	int type;		/* token type id */
	int nids;
	int32_t ids[4];
};
struct tmpl {
	int n;
	struct titem it[MAXTMPL];
};

struct itok {
	const char *p;
	uint32_t len;
	uint8_t special, subword;
};

struct qkv_tok {
	int kind;
	struct wordpiece *wp;
	struct bpe *bpe;
	struct addtok *added;
	size_t nadded;
	struct addset raw, norm;	/* matched before / after normalizing */
	struct strtab addmap;		/* added content -> id */
	struct itok *itok;
	int32_t size;
	int32_t roles[QKV_TOK_NROLES];
	int post;			/* has a post-processor template */
	struct tmpl single, pair;
	int dec;
	char *dec_prefix;
	int dec_cleanup;
};

/* ---- file names for messages ------------------------------------------ */

/* Where the files come from: a model, or memory (tok_open_mem). */
struct src {
	qkv_model *m;
	const char *const *names, *const *bufs;
	const size_t *lens;
	int n;
	char name[4096];
	const char *vtext;	/* tokenizer.json's model.vocab, read by
				 * tj_vocab; jansson saw {} in its place */
	size_t vlen;
};

static const char *
src_file(struct src *s, const char *file, size_t *len)
{
	if (s->m != NULL)
		return qkv_model_file(s->m, file, len);
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->names[i], file) == 0) {
			*len = s->lens[i];
			return s->bufs[i];
		}
	return NULL;
}

static const char *
fname(struct src *s, const char *file)
{
	const char *path, *slash;
	struct stat sb;
	FILE *f;
	unsigned char magic[4] = {0};

	if (s->m == NULL)
		return file;
	path = qkv_model_path(s->m);
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(s->name, sizeof s->name, "%s/%s", path, file);
		return s->name;
	}
	if ((f = fopen(path, "rb")) != NULL) {
		if (fread(magic, 1, 4, f) != 4)
			memset(magic, 0, 4);
		fclose(f);
	}
	if (memcmp(magic, QKV_MAGIC, 4) == 0)
		snprintf(s->name, sizeof s->name, "%s:%s", path, file);
	else if (strcmp(file, "merges.txt") == 0 ||
	    strcmp(file, "tokenizer_config.json") == 0 ||
	    strcmp(file, "special_tokens_map.json") == 0) {
		slash = strrchr(path, '/');
		if (slash == NULL)
			snprintf(s->name, sizeof s->name, "%s", file);
		else
			snprintf(s->name, sizeof s->name, "%.*s/%s",
			    (int)(slash - path), path, file);
	} else
		snprintf(s->name, sizeof s->name, "%s", path);
	return s->name;
}

static json_t *
load_json(struct src *s, const char *file, const char *buf, size_t len,
    qkv_err *e)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_ALLOW_NUL, &je);

	if (j == NULL)
		qkv_errf(e, "%s: line %d: %s", fname(s, file), je.line, je.text);
	return j;
}

/* tokenizer.json, its vocabulary left to tj_vocab when it can read it
 * (s->vtext set): jansson parses the rest, the vocabulary's span replaced
 * by an object as empty that spans as many lines. */
static json_t *
load_tokjson(struct src *s, const char *buf, size_t len, qkv_err *e)
{
	size_t at, n, nl = 0;
	char *cut;
	json_t *j;

	s->vtext = NULL;
	if (!tj_find_vocab(buf, len, MAXID, &at, &n) ||
	    (cut = malloc(len + 2)) == NULL)
		return load_json(s, "tokenizer.json", buf, len, e);
	memcpy(cut, buf, at);
	cut[at] = '{';
	for (size_t i = 0; i < n; i++)
		if (buf[at + i] == '\n')
			cut[at + 1 + nl++] = '\n';
	cut[at + 1 + nl] = '}';
	memcpy(cut + at + 2 + nl, buf + at + n, len - at - n);
	j = load_json(s, "tokenizer.json", cut, len - n + 2 + nl, e);
	free(cut);
	if (j != NULL) {
		s->vtext = buf + at;
		s->vlen = n;
	}
	return j;
}

/* ---- building the tokenizer -------------------------------------------- */

static int
add_token(qkv_tok *t, const char *content, size_t len, int32_t id,
    int special, int single_word, int lstrip, int rstrip, int normalized,
    qkv_err *e)
{
	struct addtok *a;

	if (len == 0)
		return 0;	/* HF ignores empty added tokens */
	/* a token added twice keeps its last settings */
	for (size_t i = 0; i < t->nadded; i++)
		if (t->added[i].clen == len &&
		    memcmp(t->added[i].content, content, len) == 0) {
			a = &t->added[i];
			goto set;
		}
	{
		size_t cap = t->nadded;
		if (tok_grow(&t->added, &cap, t->nadded + 1, sizeof *t->added,
		    e) < 0)
			return -1;
	}
	a = &t->added[t->nadded++];
	memset(a, 0, sizeof *a);
	if ((a->content = malloc(len + 1)) == NULL)
		return qkv_errf(e, "out of memory");
	memcpy(a->content, content, len);
	a->content[len] = '\0';
	a->clen = len;
set:
	a->id = id;
	a->special = (uint8_t)special;
	a->single_word = (uint8_t)single_word;
	a->lstrip = (uint8_t)lstrip;
	a->rstrip = (uint8_t)rstrip;
	a->normalized = (uint8_t)normalized;
	return 0;
}

static const struct strtab *
model_vocab(const qkv_tok *t)
{
	return t->kind == QKV_TOK_WORDPIECE ? wp_vocab(t->wp) : bpe_vocab(t->bpe);
}

int32_t
qkv_tok_id(const qkv_tok *t, const char *tok, size_t len)
{
	int32_t id = strtab_get(&t->addmap, tok, len);

	return id >= 0 ? id : strtab_get(model_vocab(t), tok, len);
}

static int
build_addset(qkv_tok *t, struct addset *a, int normalized, qkv_err *e)
{
	memset(a, 0, sizeof *a);
	a->toks = t->added;
	if (btrie_init(&a->trie, 1, e) < 0)
		return -1;
	for (size_t i = 0; i < t->nadded; i++) {
		const struct addtok *k = &t->added[i];
		const char *pat = k->content;
		size_t plen = k->clen;
		char *norm = NULL;
		int rc;
		/* with no normalizer, normalized tokens match as written */
		int isnorm = k->normalized && t->kind == QKV_TOK_WORDPIECE;
		if (normalized ? !k->normalized : k->normalized)
			continue;
		if (isnorm && normalized) {
			if ((norm = wp_normalize(t->wp, pat, plen, &plen, e)) ==
			    NULL)
				return -1;
			pat = norm;
		}
		rc = plen > 0 ? btrie_insert(&a->trie, 0, pat, plen,
		    (int32_t)i, e) : 0;
		if (plen > 0)
			a->first[(unsigned char)pat[0]] = 1;
		free(norm);
		if (rc < 0)
			return -1;
		a->n++;
	}
	return 0;
}

/* The id table, roles and tries, once the model and added tokens are in. */
static int
finish(qkv_tok *t, const char *where, qkv_err *e)
{
	const struct strtab *v = model_vocab(t);
	int32_t maxid = -1;
	const char *prefix = t->kind == QKV_TOK_WORDPIECE ?
	    wp_prefix(t->wp) : "";
	size_t plen = strlen(prefix);

	for (size_t i = 0; i < v->n; i++)
		if (v->ent[i].val > maxid)
			maxid = v->ent[i].val;
	for (size_t i = 0; i < t->nadded; i++)
		if (t->added[i].id > maxid)
			maxid = t->added[i].id;
	if (maxid < 0)
		return qkv_errf(e, "%s: empty vocabulary", where);
	t->size = maxid + 1;
	if ((t->itok = qkv_calloc((size_t)t->size, sizeof *t->itok, e)) ==
	    NULL)
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		size_t len;
		const char *k = strtab_key(v, i, &len);
		struct itok *it = &t->itok[v->ent[i].val];
		/* a token listed twice: its id is the later one's */
		if (strtab_get(v, k, len) != v->ent[i].val)
			continue;
		it->p = k;
		it->len = (uint32_t)len;
		it->subword = t->kind == QKV_TOK_WORDPIECE && plen > 0 &&
		    len > plen && memcmp(k, prefix, plen) == 0;
	}
	if (strtab_init(&t->addmap, t->nadded + 8, e) < 0)
		return -1;
	for (size_t i = 0; i < t->nadded; i++) {
		struct addtok *a = &t->added[i];
		struct itok *it = &t->itok[a->id];
		it->p = a->content;
		it->len = (uint32_t)a->clen;
		it->special = a->special;
		it->subword = 0;
		if (strtab_put(&t->addmap, a->content, a->clen, a->id, e) < 0)
			return -1;
	}
	if (build_addset(t, &t->raw, 0, e) < 0 ||
	    build_addset(t, &t->norm, 1, e) < 0)
		return -1;
	return 0;
}

/* The spelling a config gives a role: "x" or {"content": "x"}. */
static const char *
role_spelling(json_t *cfg, const char *key)
{
	json_t *v = cfg ? json_object_get(cfg, key) : NULL;

	if (json_is_object(v))
		v = json_object_get(v, "content");
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *const role_keys[QKV_TOK_NROLES] = {
	"pad_token", "unk_token", "cls_token", "sep_token", "mask_token",
	"bos_token", "eos_token",
};
static const char *const bert_defaults[QKV_TOK_NROLES] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", NULL, NULL,
};
static const char *const gpt2_defaults[QKV_TOK_NROLES] = {
	NULL, NULL, NULL, NULL, NULL, "<|endoftext|>", "<|endoftext|>",
};

static const char *
role_name(qkv_tok *t, json_t *cfg, json_t *stm, int r)
{
	const char *s = role_spelling(cfg, role_keys[r]);

	if (s == NULL)
		s = role_spelling(stm, role_keys[r]);
	if (s == NULL)
		s = t->kind == QKV_TOK_WORDPIECE ? bert_defaults[r] :
		    gpt2_defaults[r];
	return s;
}

static void
set_roles(qkv_tok *t, json_t *cfg, json_t *stm)
{
	for (int r = 0; r < QKV_TOK_NROLES; r++) {
		const char *s = role_name(t, cfg, stm, r);
		t->roles[r] = s ? qkv_tok_id(t, s, strlen(s)) : -1;
	}
}

/* BERT's template: [CLS] A [SEP] and [CLS] A [SEP] B [SEP]. */
static void
bert_template(qkv_tok *t, int32_t cls, int32_t sep)
{
	struct tmpl *s = &t->single, *p = &t->pair;

	t->post = cls >= 0 && sep >= 0;
	s->n = 3;
	s->it[0] = (struct titem){TI_SPECIAL, 0, 1, {cls}};
	s->it[1] = (struct titem){TI_A, 0, 0, {0}};
	s->it[2] = (struct titem){TI_SPECIAL, 0, 1, {sep}};
	p->n = 5;
	memcpy(p->it, s->it, 3 * sizeof *p->it);
	p->it[3] = (struct titem){TI_B, 1, 0, {0}};
	p->it[4] = (struct titem){TI_SPECIAL, 1, 1, {sep}};
}

static int
bool_of(json_t *o, const char *key, int dflt)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* tokenizer_config.json overrides the normalizer where it says so. */
static void
config_norm(struct bertnorm *bn, json_t *cfg)
{
	json_t *v;

	if (cfg == NULL)
		return;
	if (json_is_boolean(v = json_object_get(cfg, "do_lower_case"))) {
		bn->lower = json_is_true(v);
		if (json_object_get(cfg, "strip_accents") == NULL)
			bn->strip = bn->lower;
	}
	v = json_object_get(cfg, "strip_accents");
	if (json_is_boolean(v))
		bn->strip = json_is_true(v);
	else if (json_is_null(v))
		bn->strip = bn->lower;
	if (json_is_boolean(v = json_object_get(cfg, "tokenize_chinese_chars")))
		bn->chinese = json_is_true(v);
}

/* vocab.txt: one token per line, the line number is the id. */
static int
load_vocab_txt(qkv_tok *t, struct src *src, const char *buf, size_t len,
    qkv_err *e)
{
	const char *name = fname(src, "vocab.txt");
	size_t i = 0;
	long line = 0;

	if (len == 0)
		return qkv_errf(e, "%s: empty vocabulary", name);
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - i;
		const char *s = buf + i;
		line++;
		if (line > MAXID)
			return qkv_errf(e, "%s: line %ld: too many tokens",
			    name, line);
		if (tu_valid((const unsigned char *)s, n) != n)
			return qkv_errf(e, "%s: line %ld: invalid UTF-8", name,
			    line);
		/* HF trims trailing whitespace (a CR too) */
		while (n > 0) {
			size_t cs;
			int32_t c;
			cs = n - 1;
			while (cs > 0 && ((unsigned char)s[cs] & 0xc0) == 0x80)
				cs--;
			tu_decode((const unsigned char *)s + cs, n - cs, &c);
			struct tu_props p;
			if (c < 0)
				break;
			tu_base((uint32_t)c, &p);
			if (!p.ws)
				break;
			n = cs;
		}
		if (wp_add(t->wp, s, n, (int32_t)(line - 1), e) < 0)
			return -1;
		i = nl ? end + 1 : len;
	}
	return 0;
}

static int
vocab_add(void *ctx, const char *tok, size_t len, int32_t id, qkv_err *e)
{
	qkv_tok *t = ctx;

	return t->kind == QKV_TOK_WORDPIECE ? wp_add(t->wp, tok, len, id, e) :
	    bpe_add(t->bpe, tok, len, id, e);
}

/* The vocabulary: text tj_vocab has read once already, or jansson's. */
static int
load_vocab_obj(qkv_tok *t, const char *text, size_t tlen, json_t *vocab,
    const char *name, qkv_err *e)
{
	const char *k;
	json_t *v;

	if (text != NULL) {
		int rc = tj_vocab(text, tlen, MAXID, vocab_add, t, e);
		return rc == 1 ? 0 : rc < 0 ? -1 :
		    qkv_errf(e, "%s: the vocabulary changed while read", name);
	}
	if (!json_is_object(vocab))
		return qkv_errf(e, "%s: the vocabulary is not a JSON object",
		    name);
	json_object_foreach(vocab, k, v) {
		json_int_t id;
		size_t kl = strlen(k);
		if (!json_is_integer(v) || (id = json_integer_value(v)) < 0 ||
		    id >= MAXID)
			return qkv_errf(e, "%s: token \"%.40s\": id is not an "
			    "integer in [0, %d)", name, k, MAXID);
		if (vocab_add(t, k, kl, (int32_t)id, e) < 0)
			return -1;
	}
	return 0;
}

/* merges.txt: "#version" lines skipped, then "A B" per line. */
static int
load_merges_txt(qkv_tok *t, const char *name, const char *buf, size_t len,
    qkv_err *e)
{
	size_t i = 0;
	long line = 0;

	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i), *sp;
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - i;
		const char *s = buf + i;
		line++;
		i = nl ? end + 1 : len;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n >= 8 && memcmp(s, "#version", 8) == 0)
			continue;
		if ((sp = memchr(s, ' ', n)) == NULL ||
		    memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)) != NULL)
			return qkv_errf(e, "%s: line %ld: expected two tokens "
			    "separated by one space", name, line);
		if (bpe_merge_add(t->bpe, s, (size_t)(sp - s), sp + 1,
		    n - (size_t)(sp + 1 - s), e) < 0) {
			char m[sizeof e->msg];
			snprintf(m, sizeof m, "%s: line %ld", name, line);
			return qkv_errprefix(e, m);
		}
	}
	return 0;
}

static int
load_merges_json(qkv_tok *t, json_t *merges, const char *name, qkv_err *e)
{
	size_t i;
	json_t *m;

	if (!json_is_array(merges))
		return qkv_errf(e, "%s: model.merges is not an array", name);
	json_array_foreach(merges, i, m) {
		const char *a, *b;
		size_t al, bl;
		int rc;
		if (json_is_string(m)) {
			const char *s = json_string_value(m), *sp;
			size_t n = json_string_length(m);
			if ((sp = memchr(s, ' ', n)) == NULL ||
			    memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
				return qkv_errf(e, "%s: merge %zu: expected two "
				    "tokens separated by one space", name, i);
			a = s;
			al = (size_t)(sp - s);
			b = sp + 1;
			bl = n - al - 1;
		} else if (json_is_array(m) && json_array_size(m) == 2 &&
		    json_is_string(json_array_get(m, 0)) &&
		    json_is_string(json_array_get(m, 1))) {
			a = json_string_value(json_array_get(m, 0));
			al = json_string_length(json_array_get(m, 0));
			b = json_string_value(json_array_get(m, 1));
			bl = json_string_length(json_array_get(m, 1));
		} else
			return qkv_errf(e, "%s: merge %zu: not a pair of "
			    "tokens", name, i);
		if ((rc = bpe_merge_add(t->bpe, a, al, b, bl, e)) < 0) {
			char p[sizeof e->msg];
			snprintf(p, sizeof p, "%s: merge %zu", name, i);
			return qkv_errprefix(e, p);
		}
	}
	return 0;
}

static const char *
type_of(json_t *o)
{
	json_t *v = o ? json_object_get(o, "type") : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
parse_template(qkv_tok *t, json_t *items, json_t *specials, struct tmpl *tp,
    const char *name, qkv_err *e)
{
	size_t i;
	json_t *it;

	tp->n = 0;
	if (!json_is_array(items))
		return qkv_errf(e, "%s: post_processor: template is not an "
		    "array", name);
	json_array_foreach(items, i, it) {
		struct titem *x;
		json_t *sp = json_object_get(it, "SpecialToken");
		json_t *sq = json_object_get(it, "Sequence");
		json_t *o = sp ? sp : sq;
		if (tp->n == MAXTMPL || o == NULL)
			return qkv_errf(e, "%s: post_processor: bad template",
			    name);
		x = &tp->it[tp->n++];
		memset(x, 0, sizeof *x);
		x->type = (int)json_integer_value(json_object_get(o, "type_id"));
		const char *id = json_string_value(json_object_get(o, "id"));
		if (id == NULL)
			return qkv_errf(e, "%s: post_processor: template item "
			    "without an id", name);
		if (sq != NULL) {
			x->kind = strcmp(id, "B") == 0 ? TI_B : TI_A;
			continue;
		}
		x->kind = TI_SPECIAL;
		json_t *ids = json_object_get(json_object_get(specials, id),
		    "ids");
		size_t j;
		json_t *v;
		if (!json_is_array(ids) || json_array_size(ids) > 4)
			return qkv_errf(e, "%s: post_processor: special token "
			    "%.40s has no ids", name, id);
		json_array_foreach(ids, j, v) {
			json_int_t n = json_integer_value(v);
			if (!json_is_integer(v) || n < 0 || n >= MAXID)
				return qkv_errf(e, "%s: post_processor: bad id "
				    "for %.40s", name, id);
			x->ids[x->nids++] = (int32_t)n;
		}
	}
	(void)t;
	return 0;
}

static int
pair_id(json_t *pp, const char *key, int32_t *id)
{
	json_t *v = json_object_get(pp, key);
	json_t *n = json_array_get(v, 1);

	if (!json_is_integer(n) || json_integer_value(n) < 0 ||
	    json_integer_value(n) >= MAXID)
		return -1;
	*id = (int32_t)json_integer_value(n);
	return 0;
}

static int
parse_post(qkv_tok *t, json_t *pp, const char *name, qkv_err *e)
{
	const char *type = type_of(pp);
	int32_t cls, sep;

	t->post = 0;
	if (pp == NULL || json_is_null(pp) || strcmp(type ? type : "",
	    "ByteLevel") == 0)
		return 0;
	if (type == NULL)
		return qkv_errf(e, "%s: post_processor without a type", name);
	if (strcmp(type, "TemplateProcessing") == 0) {
		json_t *sp = json_object_get(pp, "special_tokens");
		t->post = 1;
		return parse_template(t, json_object_get(pp, "single"), sp,
		    &t->single, name, e) < 0 || parse_template(t,
		    json_object_get(pp, "pair"), sp, &t->pair, name, e) < 0 ?
		    -1 : 0;
	}
	if (strcmp(type, "BertProcessing") == 0 ||
	    strcmp(type, "RobertaProcessing") == 0) {
		if (pair_id(pp, "cls", &cls) < 0 || pair_id(pp, "sep", &sep) <
		    0)
			return qkv_errf(e, "%s: post_processor: bad cls/sep",
			    name);
		bert_template(t, cls, sep);
		if (type[0] == 'R') {
			/* <s> A </s> and <s> A </s></s> B </s>, all type 0 */
			struct tmpl *p = &t->pair;
			p->n = 6;
			p->it[3] = (struct titem){TI_SPECIAL, 0, 1, {sep}};
			p->it[4] = (struct titem){TI_B, 0, 0, {0}};
			p->it[5] = (struct titem){TI_SPECIAL, 0, 1, {sep}};
		}
		return 0;
	}
	return qkv_errf(e, "%s: post_processor %s is not supported", name,
	    type);
}

static int
load_tokenizer_json(qkv_tok *t, struct src *src, json_t *j, json_t *cfg,
    qkv_err *e)
{
	const char *name = fname(src, "tokenizer.json");
	json_t *model = json_object_get(j, "model");
	json_t *norm = json_object_get(j, "normalizer");
	json_t *pre = json_object_get(j, "pre_tokenizer");
	json_t *dec = json_object_get(j, "decoder");
	json_t *added = json_object_get(j, "added_tokens"), *a, *v;
	const char *mt = type_of(model), *nt = type_of(norm);
	const char *pt = type_of(pre), *dt = type_of(dec);
	size_t i;

	if (!json_is_object(model))
		return qkv_errf(e, "%s: no model", name);
	if (mt == NULL)
		mt = json_object_get(model, "merges") ? "BPE" :
		    json_object_get(model, "max_input_chars_per_word") ?
		    "WordPiece" : "";
	if (strcmp(mt, "WordPiece") == 0) {
		struct bertnorm bn = {0, 0, 0, 0};
		json_t *sa;
		const char *unk = "[UNK]", *prefix = "##";
		long maxc = 100;
		t->kind = QKV_TOK_WORDPIECE;
		if ((t->wp = wp_new(e)) == NULL)
			return -1;
		if (norm != NULL && !json_is_null(norm)) {
			if (nt == NULL || strcmp(nt, "BertNormalizer") != 0)
				return qkv_errf(e, "%s: normalizer %s is not "
				    "supported", name, nt ? nt : "?");
			bn.clean = bool_of(norm, "clean_text", 1);
			bn.chinese = bool_of(norm, "handle_chinese_chars", 1);
			bn.lower = bool_of(norm, "lowercase", 1);
			sa = json_object_get(norm, "strip_accents");
			bn.strip = json_is_boolean(sa) ? json_is_true(sa) :
			    bn.lower;
			config_norm(&bn, cfg);
		}
		if (pt == NULL || strcmp(pt, "BertPreTokenizer") != 0)
			return qkv_errf(e, "%s: pre_tokenizer %s is not "
			    "supported with WordPiece", name, pt ? pt : "null");
		if (json_is_string(v = json_object_get(model, "unk_token")))
			unk = json_string_value(v);
		if (json_is_string(v = json_object_get(model,
		    "continuing_subword_prefix")))
			prefix = json_string_value(v);
		if (json_is_integer(v = json_object_get(model,
		    "max_input_chars_per_word")))
			maxc = (long)json_integer_value(v);
		if (load_vocab_obj(t, src->vtext, src->vlen,
		    json_object_get(model, "vocab"), name, e) < 0 || wp_finish(t->wp, &bn, prefix, unk, maxc, name,
		    e) < 0)
			return -1;
	} else if (strcmp(mt, "BPE") == 0) {
		int aps = 0;
		t->kind = QKV_TOK_BPE;
		if ((t->bpe = bpe_new(e)) == NULL)
			return -1;
		if (norm != NULL && !json_is_null(norm))
			return qkv_errf(e, "%s: normalizer %s is not supported "
			    "with BPE", name, nt ? nt : "?");
		if (pt == NULL || strcmp(pt, "ByteLevel") != 0 ||
		    !bool_of(pre, "use_regex", 1))
			return qkv_errf(e, "%s: only the ByteLevel pre_tokenizer "
			    "(GPT-2 pattern) is supported with BPE", name);
		aps = bool_of(pre, "add_prefix_space", 0);
		v = json_object_get(model, "dropout");
		if (json_is_number(v) && json_number_value(v) > 0)
			return qkv_errf(e, "%s: BPE dropout is not supported",
			    name);
		static const char *const nope[] = {"continuing_subword_prefix",
		    "end_of_word_suffix"};
		for (size_t k = 0; k < 2; k++) {
			v = json_object_get(model, nope[k]);
			if (json_is_string(v) && json_string_length(v) > 0)
				return qkv_errf(e, "%s: BPE %s is not supported",
				    name, nope[k]);
		}
		if (bool_of(model, "byte_fallback", 0) ||
		    bool_of(model, "ignore_merges", 0))
			return qkv_errf(e, "%s: BPE byte_fallback and "
			    "ignore_merges are not supported", name);
		if (load_vocab_obj(t, src->vtext, src->vlen,
		    json_object_get(model, "vocab"), name, e) < 0 || load_merges_json(t, json_object_get(model,
		    "merges"), name, e) < 0 || bpe_finish(t->bpe, aps, e) < 0)
			return -1;
	} else
		return qkv_errf(e, "%s: model type %s is not supported (only "
		    "WordPiece and BPE)", name, mt);
	if (added != NULL && !json_is_array(added))
		return qkv_errf(e, "%s: added_tokens is not an array", name);
	json_array_foreach(added, i, a) {
		json_t *c = json_object_get(a, "content");
		json_int_t id = json_integer_value(json_object_get(a, "id"));
		if (!json_is_string(c) || !json_is_integer(json_object_get(a,
		    "id")) || id < 0 || id >= MAXID)
			return qkv_errf(e, "%s: added_tokens[%zu]: needs a "
			    "content and an id", name, i);
		if (add_token(t, json_string_value(c), json_string_length(c),
		    (int32_t)id, bool_of(a, "special", 0),
		    bool_of(a, "single_word", 0), bool_of(a, "lstrip", 0),
		    bool_of(a, "rstrip", 0), bool_of(a, "normalized", 1), e) <
		    0)
			return -1;
	}
	if (parse_post(t, json_object_get(j, "post_processor"), name, e) < 0)
		return -1;
	t->dec = DEC_NONE;
	if (dt != NULL && strcmp(dt, "WordPiece") == 0) {
		t->dec = DEC_WORDPIECE;
		v = json_object_get(dec, "prefix");
		t->dec_prefix = strdup(json_is_string(v) ?
		    json_string_value(v) : "##");
		t->dec_cleanup = bool_of(dec, "cleanup", 1);
	} else if (dt != NULL && strcmp(dt, "ByteLevel") == 0)
		t->dec = DEC_BYTELEVEL;
	else if (dt != NULL)
		return qkv_errf(e, "%s: decoder %s is not supported", name, dt);
	return 0;
}

void
qkv_tok_close(qkv_tok *t)
{
	if (t == NULL)
		return;
	wp_free(t->wp);
	bpe_free(t->bpe);
	for (size_t i = 0; i < t->nadded; i++)
		free(t->added[i].content);
	free(t->added);
	btrie_free(&t->raw.trie);
	btrie_free(&t->norm.trie);
	strtab_free(&t->addmap);
	free(t->itok);
	free(t->dec_prefix);
	free(t);
}

static qkv_tok *
tok_open(struct src *sp, qkv_err *e)
{
	struct src src = *sp;
	qkv_tok *t;
	size_t len = 0, clen = 0, slen = 0;
	const char *tj = src_file(&src, "tokenizer.json", &len);
	const char *cb = src_file(&src, "tokenizer_config.json", &clen);
	const char *sb = src_file(&src, "special_tokens_map.json", &slen);
	const char *vt, *vj, *mg, *where;
	json_t *cfg = NULL, *stm = NULL, *j = NULL;
	int rc = -1;

	if ((t = qkv_calloc(1, sizeof *t, e)) == NULL)
		return NULL;
	if (cb != NULL && (cfg = load_json(&src, "tokenizer_config.json", cb,
	    clen, e)) == NULL)
		goto out;
	if (sb != NULL && (stm = load_json(&src, "special_tokens_map.json", sb,
	    slen, e)) == NULL)
		goto out;
	if (tj != NULL) {
		where = fname(&src, "tokenizer.json");
		if ((j = load_tokjson(&src, tj, len, e)) == NULL ||
		    load_tokenizer_json(t, &src, j, cfg, e) < 0)
			goto out;
	} else if ((vt = src_file(&src, "vocab.txt", &len)) != NULL) {
		struct bertnorm bn = {1, 1, 1, 1};
		const char *unk;
		where = fname(&src, "vocab.txt");
		t->kind = QKV_TOK_WORDPIECE;
		config_norm(&bn, cfg);
		unk = role_name(t, cfg, stm, QKV_TOK_UNK);
		if ((t->wp = wp_new(e)) == NULL ||
		    load_vocab_txt(t, &src, vt, len, e) < 0 ||
		    wp_finish(t->wp, &bn, "##", unk, 100, where, e) < 0)
			goto out;
		/* the fast tokenizer made from vocab.txt adds the specials */
		for (int r = QKV_TOK_PAD; r <= QKV_TOK_MASK; r++) {
			const char *s = role_name(t, cfg, stm, r);
			int32_t id = s ? strtab_get(wp_vocab(t->wp), s,
			    strlen(s)) : -1;
			if (id >= 0 && add_token(t, s, strlen(s), id, 1, 0, 0,
			    0, 0, e) < 0)
				goto out;
		}
		t->dec = DEC_WORDPIECE;
		t->dec_prefix = strdup("##");
		t->dec_cleanup = 1;
	} else if ((vj = src_file(&src, "vocab.json", &len)) != NULL) {
		size_t mlen = 0;
		where = fname(&src, "vocab.json");
		t->kind = QKV_TOK_BPE;
		if ((mg = src_file(&src, "merges.txt", &mlen)) == NULL) {
			qkv_errf(e, "%s: missing (vocab.json needs it)",
			    fname(&src, "merges.txt"));
			goto out;
		}
		/* the whole file is the object: tj_vocab, or jansson */
		int fast = tj_vocab(vj, len, MAXID, NULL, NULL, e) == 1;
		if ((t->bpe = bpe_new(e)) == NULL || (!fast &&
		    (j = load_json(&src, "vocab.json", vj, len, e)) == NULL) ||
		    load_vocab_obj(t, fast ? vj : NULL, len, j, where, e) < 0 ||
		    load_merges_txt(t, fname(&src, "merges.txt"), mg, mlen,
		    e) < 0 || bpe_finish(t->bpe, bool_of(cfg,
		    "add_prefix_space", 0), e) < 0)
			goto out;
		for (int r = 0; r < QKV_TOK_NROLES; r++) {
			const char *s = role_name(t, cfg, stm, r);
			int32_t id = s ? strtab_get(bpe_vocab(t->bpe), s,
			    strlen(s)) : -1;
			if (id >= 0 && add_token(t, s, strlen(s), id, 1, 0, 0,
			    0, 1, e) < 0)
				goto out;
		}
		t->dec = DEC_BYTELEVEL;
	} else {
		qkv_errf(e, "%s: no tokenizer (tokenizer.json, vocab.txt, or "
		    "vocab.json with merges.txt)", src.m ? qkv_model_path(src.m) :
		    "<memory>");
		goto out;
	}
	if (t->dec == DEC_WORDPIECE && t->dec_prefix == NULL) {
		qkv_errf(e, "out of memory");
		goto out;
	}
	if (finish(t, where, e) < 0)
		goto out;
	set_roles(t, cfg, stm);
	if (tj == NULL && t->kind == QKV_TOK_WORDPIECE)
		bert_template(t, t->roles[QKV_TOK_CLS], t->roles[QKV_TOK_SEP]);
	/* a template naming ids the vocabulary lacks is unusable */
	for (int k = 0; k < 2 && t->post; k++) {
		const struct tmpl *tp = k ? &t->pair : &t->single;
		for (int i = 0; i < tp->n; i++)
			for (int x = 0; x < tp->it[i].nids; x++)
				if (tp->it[i].ids[x] >= t->size) {
					qkv_errf(e, "%s: post_processor: id %d "
					    "is not in the vocabulary", where,
					    tp->it[i].ids[x]);
					goto out;
				}
	}
	rc = 0;
out:
	json_decref(j);
	json_decref(cfg);
	json_decref(stm);
	if (rc < 0) {
		qkv_tok_close(t);
		return NULL;
	}
	return t;
}

qkv_tok *
qkv_tok_open(qkv_model *m, qkv_err *e)
{
	struct src src = {m, NULL, NULL, NULL, 0, {0}, NULL, 0};

	return tok_open(&src, e);
}

qkv_tok *
tok_open_mem(const char *const names[], const char *const bufs[],
    const size_t lens[], int n, qkv_err *e)
{
	struct src src = {NULL, names, bufs, lens, n, {0}, NULL, 0};

	return tok_open(&src, e);
}

/* ---- queries ----------------------------------------------------------- */

int
qkv_tok_kind(const qkv_tok *t)
{
	return t->kind;
}

int32_t
qkv_tok_vocab_size(const qkv_tok *t)
{
	return t->size;
}

const char *
qkv_tok_token(const qkv_tok *t, int32_t id, size_t *len)
{
	if (id < 0 || id >= t->size || t->itok[id].p == NULL)
		return NULL;
	if (len != NULL)
		*len = t->itok[id].len;
	return t->itok[id].p;
}

int32_t
qkv_tok_special(const qkv_tok *t, int role)
{
	return role >= 0 && role < QKV_TOK_NROLES ? t->roles[role] : -1;
}

int
qkv_tok_is_special(const qkv_tok *t, int32_t id)
{
	return id >= 0 && id < t->size && t->itok[id].special;
}

int
qkv_tok_is_subword(const qkv_tok *t, int32_t id)
{
	return id >= 0 && id < t->size && t->itok[id].subword;
}

int
qkv_tok_nadded(const qkv_tok *t, int pair)
{
	const struct tmpl *tp = pair ? &t->pair : &t->single;
	int n = 0;

	if (!t->post)
		return 0;
	for (int i = 0; i < tp->n; i++)
		n += tp->it[i].nids;
	return n;
}

/* ---- encoding ---------------------------------------------------------- */

qkv_tokenc *
qkv_tokenc_new(qkv_err *e)
{
	qkv_tokenc *x = qkv_calloc(1, sizeof *x, e);

	if (x == NULL)
		return NULL;
	/* never NULL arrays, even for an encoding of no tokens */
	if ((x->s = qkv_calloc(1, sizeof *x->s, e)) == NULL ||
	    (x->ids = qkv_malloc(256 * sizeof *x->ids, e)) == NULL ||
	    (x->types = qkv_malloc(256, e)) == NULL) {
		qkv_tokenc_free(x);
		return NULL;
	}
	x->cap = 256;
	return x;
}

void
qkv_tokenc_free(qkv_tokenc *x)
{
	struct qkv_tokscratch *s;

	if (x == NULL)
		return;
	if ((s = x->s) != NULL) {
		free(s->buf);
		free(s->dbuf);
		free(s->ws);
		free(s->we);
		free(s->fix);
		free(s->omap);
		free(s->nc);
		free(s->nc2);
		free(s->nbuf);
		free(s->nidx);
		free(s->ids2);
		free(s->offs2);
		bpe_cache_free(s->cache);
		free(s->sym);
		free(s->sst);
		free(s->srank);
		free(s->snew);
		free(s->sprev);
		free(s->snext);
		free(s->heap);
		free(s);
	}
	free(x->ids);
	free(x->types);
	free(x->offs);
	free(x);
}

int
tokout_grow(struct tokout *o)
{
	qkv_tokenc *x = o->x;
	size_t c = x->cap ? x->cap * 2 : 256;
	void *p;

	if ((p = realloc(x->ids, c * sizeof *x->ids)) == NULL)
		return qkv_errf(o->e, "out of memory");
	x->ids = p;
	if ((p = realloc(x->types, c)) == NULL)
		return qkv_errf(o->e, "out of memory");
	x->types = p;
	if (o->offsets) {
		if ((p = realloc(x->offs, 2 * c * sizeof *x->offs)) == NULL)
			return qkv_errf(o->e, "out of memory");
		x->offs = p;
	} else {
		free(x->offs);
		x->offs = NULL;
	}
	x->cap = c;
	return 0;
}

/* Replace invalid UTF-8 by U+FFFD (one per maximal invalid subpart) into
 * s->fix, with s->omap giving each fixed byte's input offset. */
static int
repair(struct qkv_tokscratch *s, const char *text, size_t n, size_t *fl,
    qkv_err *e)
{
	const unsigned char *u = (const unsigned char *)text;
	size_t k = 0;

	if (n > (SIZE_MAX - 1) / 3 ||
	    tok_grow(&s->fix, &s->fixcap, 3 * n + 1, 1, e) < 0 ||
	    tok_grow(&s->omap, &s->omapcap, 3 * n + 1, sizeof *s->omap, e) < 0)
		return -1;
	for (size_t i = 0; i < n;) {
		int32_t c;
		int l = tu_decode(u + i, n - i, &c);
		if (c < 0) {
			memcpy(s->fix + k, "\xef\xbf\xbd", 3);
			s->omap[k] = (uint32_t)i;
			s->omap[k + 1] = s->omap[k + 2] = (uint32_t)(i +
			    (size_t)l);
			k += 3;
		} else
			for (int j = 0; j < l; j++) {
				s->fix[k] = text[i + (size_t)j];
				s->omap[k++] = (uint32_t)(i + (size_t)j);
			}
		i += (size_t)l;
	}
	s->omap[k] = (uint32_t)n;
	*fl = k;
	return 0;
}

/* The model on text[a..z) of the (repaired) sequence, with the normalized
 * added tokens split out first. */
static int
model_run(const qkv_tok *t, qkv_tokenc *x, const char *text, size_t a,
    size_t z, int flags, struct tokout *o)
{
	struct qkv_tokscratch *s = x->s;
	int plain = (flags & QKV_TOK_PLAIN) != 0;
	size_t from = a, prev = a, ms, me;
	long k;

	if (a == z)
		return 0;
	if (t->kind == QKV_TOK_WORDPIECE) {
		o->seg = a;
		return wp_encode(t->wp, s, text + a, z - a, &t->norm, plain, o);
	}
	while ((k = addset_next(&t->norm, text, z, from, prev, plain, &ms,
	    &me)) >= 0) {
		if (ms > prev) {
			o->seg = prev;
			if (bpe_encode(t->bpe, s, text + prev, ms - prev, o) < 0)
				return -1;
		}
		o->seg = 0;
		if (tokout_push(o, t->added[k].id, ms, me) < 0)
			return -1;
		from = prev = me;
	}
	if (prev < z) {
		o->seg = prev;
		return bpe_encode(t->bpe, s, text + prev, z - prev, o);
	}
	return 0;
}

/* One sequence: appended to x. */
static int
encode_seq(const qkv_tok *t, qkv_tokenc *x, const char *text, size_t n,
    int flags, qkv_err *e)
{
	struct qkv_tokscratch *s = x->s;
	struct tokout o = {x, (flags & QKV_TOK_OFFSETS) != 0, NULL, 0, 0, e};
	int plain = (flags & QKV_TOK_PLAIN) != 0;
	size_t from = 0, prev = 0, ms, me, fl;
	long k;

	if (n > UINT32_MAX / 4)
		return qkv_errf(e, "sequence of %zu bytes is too long", n);
	if (!((flags & QKV_TOK_BYTES) && t->kind == QKV_TOK_BPE) &&
	    tu_valid((const unsigned char *)text, n) != n) {
		if (repair(s, text, n, &fl, e) < 0)
			return -1;
		text = s->fix;
		n = fl;
		o.omap = s->omap;
	}
	while ((k = addset_next(&t->raw, text, n, from, prev, plain, &ms,
	    &me)) >= 0) {
		if (model_run(t, x, text, prev, ms, flags, &o) < 0)
			return -1;
		o.seg = 0;
		if (tokout_push(&o, t->added[k].id, ms, me) < 0)
			return -1;
		from = prev = me;
	}
	return model_run(t, x, text, prev, n, flags, &o);
}

/* HF's LongestFirst: shorten the longer sequence first. */
static void
longest_first(size_t *na, size_t *nb, size_t limit)
{
	size_t n1 = *na, n2 = *nb;
	int swap = 0;

	if (n1 + n2 <= limit)
		return;
	if (n1 > n2) {
		size_t x = n1;
		n1 = n2;
		n2 = x;
		swap = 1;
	}
	n2 = n1 > limit ? n1 : (n1 > limit - n1 ? n1 : limit - n1);
	if (n1 + n2 > limit) {
		n1 = limit / 2;
		n2 = n1 + limit % 2;
	}
	if (swap) {
		size_t x = n1;
		n1 = n2;
		n2 = x;
	}
	if (n1 < *na)
		*na = n1;
	if (n2 < *nb)
		*nb = n2;
}

int
qkv_tok_encode(const qkv_tok *t, qkv_tokenc *x, const char *a, size_t alen,
    const char *b, size_t blen, int flags, size_t maxlen, qkv_err *e)
{
	struct qkv_tokscratch *s = x->s;
	int offs = (flags & QKV_TOK_OFFSETS) != 0;
	int specials = (flags & QKV_TOK_SPECIALS) && t->post;
	size_t na, nb = 0, nadd = specials ? (size_t)qkv_tok_nadded(t,
	    b != NULL) : 0;
	const struct tmpl *tp = b != NULL ? &t->pair : &t->single;
	struct tokout o = {x, offs, NULL, 0, 0, e};

	x->n = 0;
	if (offs && x->offs == NULL && (x->offs = qkv_malloc(2 * x->cap *
	    sizeof *x->offs, e)) == NULL)
		return -1;
	if (maxlen > 0 && maxlen < nadd)
		return qkv_errf(e, "a length of %zu cannot hold the %zu special "
		    "tokens", maxlen, nadd);
	if (encode_seq(t, x, a, alen, flags, e) < 0)
		return -1;
	na = x->n;
	if (b != NULL && encode_seq(t, x, b, blen, flags, e) < 0)
		return -1;
	nb = x->n - na;
	{
		size_t ka = na, kb = nb;
		if (maxlen > 0) {
			if (b == NULL)
				ka = na < maxlen - nadd ? na : maxlen - nadd;
			else
				longest_first(&ka, &kb, maxlen - nadd);
		}
		/* B's kept tokens follow A's kept ones */
		if (kb > 0 && ka < na) {
			memmove(x->ids + ka, x->ids + na, kb * sizeof *x->ids);
			if (offs)
				memmove(x->offs + 2 * ka, x->offs + 2 * na,
				    2 * kb * sizeof *x->offs);
		}
		na = ka;
		nb = kb;
		x->n = na + nb;
	}
	if (!specials) {
		if (x->n > 0) {	/* types is NULL before the first token */
			memset(x->types, 0, na);
			memset(x->types + na, 1, nb);
		}
		x->a0 = 0;
		x->a1 = x->b0 = na;
		x->b1 = na + nb;
		return 0;
	}
	/* lay the template out: sequences copied aside first */
	if (tok_grow(&s->ids2, &s->cap2, x->n + 1, sizeof *s->ids2, e) < 0 ||
	    (offs && tok_grow(&s->offs2, &s->capo2, 2 * (x->n + 1),
	    sizeof *s->offs2, e) < 0))
		return -1;
	memcpy(s->ids2, x->ids, x->n * sizeof *x->ids);
	if (offs)
		memcpy(s->offs2, x->offs, 2 * x->n * sizeof *x->offs);
	x->n = 0;
	x->a0 = x->a1 = x->b0 = x->b1 = 0;
	for (int i = 0; i < tp->n; i++) {
		const struct titem *it = &tp->it[i];
		size_t from = 0, cnt = 0;
		if (it->kind == TI_SPECIAL) {
			for (int j = 0; j < it->nids; j++) {
				if (tokout_push(&o, it->ids[j], 0, 0) < 0)
					return -1;
				x->types[x->n - 1] = (uint8_t)it->type;
				if (offs)
					x->offs[2 * x->n - 2] =
					    x->offs[2 * x->n - 1] = 0;
			}
			continue;
		}
		if (it->kind == TI_A) {
			cnt = na;
			x->a0 = x->n;
			x->a1 = x->n + na;
		} else {
			if (b == NULL)
				continue;
			from = na;
			cnt = nb;
			x->b0 = x->n;
			x->b1 = x->n + nb;
		}
		while (x->n + cnt > x->cap)
			if (tokout_grow(&o) < 0)
				return -1;
		memcpy(x->ids + x->n, s->ids2 + from, cnt * sizeof *x->ids);
		memset(x->types + x->n, it->type, cnt);
		if (offs)
			memcpy(x->offs + 2 * x->n, s->offs2 + 2 * from,
			    2 * cnt * sizeof *x->offs);
		x->n += cnt;
	}
	return 0;
}

/* ---- decoding ---------------------------------------------------------- */

const char *
qkv_tok_decode(const qkv_tok *t, qkv_tokenc *x, const int32_t *ids,
    size_t n, int flags, size_t *len, qkv_err *e)
{
	struct qkv_tokscratch *s = x->s;
	size_t k = 0, kept = 0;

	for (size_t i = 0; i < n; i++) {
		int32_t id = ids[i];
		const struct itok *it;
		if (id < 0 || id >= t->size || t->itok[id].p == NULL) {
			qkv_errf(e, "token id %ld is not in the vocabulary",
			    (long)id);
			return NULL;
		}
		it = &t->itok[id];
		if ((flags & QKV_TOK_SKIP_SPECIAL) && it->special)
			continue;
		if (t->dec == DEC_WORDPIECE) {
			if (wp_decode_append(t->dec_prefix, t->dec_cleanup,
			    it->p, it->len, kept == 0, &s->dbuf, &k,
			    &s->dbufcap, e) < 0)
				return NULL;
		} else {
			if (tok_grow(&s->dbuf, &s->dbufcap, k + it->len + 2, 1,
			    e) < 0)
				return NULL;
			long bl = t->dec == DEC_BYTELEVEL ?
			    bpe_token_bytes(it->p, it->len, s->dbuf + k) : -1;
			if (bl < 0) {
				if (t->dec == DEC_NONE && kept > 0)
					s->dbuf[k++] = ' ';
				memcpy(s->dbuf + k, it->p, it->len);
				bl = (long)it->len;
			}
			k += (size_t)bl;
		}
		kept++;
	}
	if (tok_grow(&s->dbuf, &s->dbufcap, k + 1, 1, e) < 0)
		return NULL;
	s->dbuf[k] = '\0';
	*len = k;
	return s->dbuf;
}
