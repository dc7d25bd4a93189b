/* Unit tests for the tokenizer API (lib/tokenizer.c and friends): what
 * other programs call (roles, token strings, subwords, pairs, types,
 * offsets, truncation, decode), and internal agreements: the BERT
 * normalizer's table path equals its general path on random text, and
 * threads building the lazy tables at once get the same ids.  Expected
 * ids and texts are Hugging Face tokenizers' (npm binding 0.23.2) for the
 * same calls. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tokint.h"

#define V "tests/data/vocab/"

static qkv_model *models[8];
static int nmodels;

static qkv_tok *
open_tok(const char *path)
{
	qkv_err e;
	qkv_model *m = qkv_model_open(path, &e);
	qkv_tok *t = m ? qkv_tok_open(m, &e) : NULL;

	if (t == NULL) {
		printf("# %s\n", e.msg);
		exit(1);
	}
	models[nmodels++] = m;	/* closed at the end */
	return t;
}

static int
ids_are(const qkv_tokenc *x, const int32_t *want, size_t n)
{
	return x->n == n && memcmp(x->ids, want, n * sizeof *want) == 0;
}

static int
id_of(const qkv_tok *t, const char *s)
{
	return qkv_tok_id(t, s, strlen(s));
}

/* Random text from a pool of troublesome characters. */
static const char *const pool[] = {
	"a", "B", "z", "Q", " ", "  ", "\t", "\r", "\x01", "\x7f", "0", "9",
	".", ",", "'", "-", "[", "]", "#", "\xc3\xa9", "e\xcc\x81", "\xcc\x81",
	"\xcc\x96", "\xc4\xb0", "\xce\xa3", "\xcf\x82", "\xe4\xb8\xad",
	"\xe6\x96\x87", "\xef\xa4\x80", "\xe3\x80\x80", "\xe2\x80\x8b",
	"\xef\xbb\xbf", "\xef\xbf\xbd", "\xf0\x9f\x98\x80", "\xe2\x80\x8d",
	"\xf0\x9d\x85\xa5", "\xf0\x9d\x85\xad", "\xe0\xa4\xa8",
	"\xe0\xa5\x8d", "\xea\xb0\x80", "\xe1\x84\x80", "\xd8\xa7",
	"\xd9\x8e", "\xe0\xbd\xb1", "\xe0\xbd\xb2", "\xc2\xad", "\xff",
	"\xe2\x82", "[MASK]", "[SEP]", "<|endoftext|>", "\xc7\x85",
	"\xe1\xba\x9e", "\xef\xac\x81", "\xe2\x85\xab", "\xc2\xbd",
};

static size_t
random_text(char *buf, size_t cap, unsigned *seed)
{
	size_t n = 0, k = (size_t)rand_r(seed) % 40;

	for (size_t i = 0; i < k; i++) {
		const char *p = pool[(size_t)rand_r(seed) %
		    (sizeof pool / sizeof *pool)];
		size_t l = strlen(p);
		if (n + l >= cap)
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	return n;
}

static int
paths_agree(const qkv_tok *t, int flags, int iters, unsigned seed)
{
	qkv_err e;
	qkv_tokenc *x = qkv_tokenc_new(&e), *y = qkv_tokenc_new(&e);
	char buf[512];
	int bad = 0;

	for (int i = 0; i < iters && !bad; i++) {
		size_t n = random_text(buf, sizeof buf, &seed);
		int r1 = qkv_tok_encode(t, x, buf, n, NULL, 0, flags, 0, &e);
		wp_force_general = 1;
		int r2 = qkv_tok_encode(t, y, buf, n, NULL, 0, flags, 0, &e);
		wp_force_general = 0;
		if (r1 != 0 || r2 != 0 || x->n != y->n ||
		    memcmp(x->ids, y->ids, x->n * sizeof *x->ids) != 0 ||
		    ((flags & QKV_TOK_OFFSETS) && memcmp(x->offs, y->offs,
		    2 * x->n * sizeof *x->offs) != 0)) {
			printf("# paths differ on \"%.*s\"\n", (int)n, buf);
			bad = 1;
		}
	}
	qkv_tokenc_free(x);
	qkv_tokenc_free(y);
	return !bad;
}

struct job {
	const qkv_tok *t;
	unsigned seed;
	int32_t *ids;
	size_t n;
};

static void *
encode_many(void *arg)
{
	struct job *j = arg;
	qkv_err e;
	qkv_tokenc *x = qkv_tokenc_new(&e);
	char buf[512];
	size_t cap = 0;

	j->n = 0;
	for (int i = 0; i < 3000; i++) {
		size_t n = random_text(buf, sizeof buf, &j->seed);
		if (qkv_tok_encode(j->t, x, buf, n, NULL, 0, 0, 0, &e) < 0)
			break;
		if (j->n + x->n > cap) {
			cap = 2 * (j->n + x->n) + 1024;
			j->ids = realloc(j->ids, cap * sizeof *j->ids);
		}
		memcpy(j->ids + j->n, x->ids, x->n * sizeof *x->ids);
		j->n += x->n;
	}
	qkv_tokenc_free(x);
	return NULL;
}

int
main(void)
{
	qkv_err e;
	qkv_tok *bert = open_tok(V "bert-base-uncased");
	qkv_tok *bvt = open_tok(V "bert-base-uncased/vocab.txt");
	qkv_tok *gpt2 = open_tok(V "gpt2");
	qkv_tokenc *x = qkv_tokenc_new(&e);
	const char *s, *d;
	size_t len;

	/* what other programs ask */
	ok(qkv_tok_kind(bert) == QKV_TOK_WORDPIECE &&
	    qkv_tok_kind(gpt2) == QKV_TOK_BPE, "kinds");
	ok(qkv_tok_vocab_size(bert) == 30522 &&
	    qkv_tok_vocab_size(gpt2) == 50257, "vocabulary sizes");
	ok(qkv_tok_special(bert, QKV_TOK_PAD) == 0 &&
	    qkv_tok_special(bert, QKV_TOK_UNK) == 100 &&
	    qkv_tok_special(bert, QKV_TOK_CLS) == 101 &&
	    qkv_tok_special(bert, QKV_TOK_SEP) == 102 &&
	    qkv_tok_special(bert, QKV_TOK_MASK) == 103 &&
	    qkv_tok_special(bert, QKV_TOK_EOS) == -1, "BERT special ids");
	ok(qkv_tok_special(bvt, QKV_TOK_MASK) == 103 &&
	    qkv_tok_special(bvt, QKV_TOK_UNK) == 100,
	    "BERT special ids from vocab.txt");
	ok(qkv_tok_special(gpt2, QKV_TOK_EOS) == 50256 &&
	    qkv_tok_special(gpt2, QKV_TOK_BOS) == 50256 &&
	    qkv_tok_special(gpt2, QKV_TOK_MASK) == -1, "GPT-2 special ids");
	s = qkv_tok_token(bert, 1996, &len);
	ok(s && len == 3 && memcmp(s, "the", 3) == 0 &&
	    id_of(bert, "the") == 1996 && id_of(bert, "[MASK]") == 103 &&
	    id_of(bert, "no-such-token") == -1, "BERT id <-> token");
	s = qkv_tok_token(gpt2, 220, &len);
	ok(s && len == 2 && memcmp(s, "\xc4\xa0", 2) == 0 &&
	    id_of(gpt2, "<|endoftext|>") == 50256 &&
	    qkv_tok_token(gpt2, 50257, &len) == NULL, "GPT-2 id <-> token");
	ok(qkv_tok_is_subword(bert, id_of(bert, "##ing")) &&
	    !qkv_tok_is_subword(bert, 1996) && !qkv_tok_is_subword(bert, -1),
	    "## continuations");
	ok(qkv_tok_is_special(bert, 101) && !qkv_tok_is_special(bert, 1996) &&
	    qkv_tok_is_special(gpt2, 50256) && !qkv_tok_is_special(gpt2, 0),
	    "special tokens");
	ok(qkv_tok_nadded(bert, 0) == 2 && qkv_tok_nadded(bert, 1) == 3 &&
	    qkv_tok_nadded(gpt2, 0) == 0, "specials added");

	/* pairs, types, offsets, truncation */
	{
		static const int32_t want[] = {101, 7592, 2088, 102, 2117,
		    2112, 102};
		static const uint8_t types[] = {0, 0, 0, 0, 1, 1, 1};
		static const uint32_t offs[] = {0, 0, 0, 5, 6, 11, 0, 0, 0, 6,
		    7, 11, 0, 0};
		int rc = qkv_tok_encode(bert, x, "Hello world", 11,
		    "second part", 11, QKV_TOK_SPECIALS | QKV_TOK_OFFSETS, 0, &e);
		ok(rc == 0 && ids_are(x, want, 7) &&
		    memcmp(x->types, types, 7) == 0 &&
		    memcmp(x->offs, offs, sizeof offs) == 0 && x->a0 == 1 &&
		    x->a1 == 3 && x->b0 == 4 && x->b1 == 6,
		    "pair: ids, types, offsets, ranges");
		rc = qkv_tok_encode(bert, x, "Hello world", 11,
		    "second part", 11, QKV_TOK_SPECIALS, 5, &e);
		static const int32_t cut[] = {101, 7592, 102, 2117, 102};
		ok(rc == 0 && ids_are(x, cut, 5), "pair truncated to 5");
		rc = qkv_tok_encode(bert, x, "a b", 3, NULL, 0,
		    QKV_TOK_SPECIALS, 1, &e);
		ok(rc < 0 && strstr(e.msg, "cannot hold") != NULL,
		    "a length too small for the specials is an error");
		rc = qkv_tok_encode(gpt2, x, "x[MASK]<|endoftext|>y", 21, NULL,
		    0, QKV_TOK_SPECIALS, 0, &e);
		static const int32_t g[] = {87, 58, 31180, 42, 60, 50256, 88};
		ok(rc == 0 && ids_are(x, g, 7), "GPT-2: <|endoftext|> split out");
		rc = qkv_tok_encode(gpt2, x, "x<|endoftext|>", 14, NULL, 0,
		    QKV_TOK_PLAIN, 0, &e);
		ok(rc == 0 && x->n > 2 && x->ids[x->n - 1] != 50256,
		    "GPT-2 --plain: <|endoftext|> is text");
	}

	/* decode */
	{
		static const int32_t ids[] = {101, 7592, 1010, 2088, 999, 2017,
		    1005, 2128, 2182, 102};
		d = qkv_tok_decode(bert, x, ids, 10, 0, &len, &e);
		ok(d && strcmp(d, "[CLS] hello, world! you ' re here [SEP]") == 0,
		    "BERT decode: %s", d ? d : e.msg);
		d = qkv_tok_decode(bert, x, ids, 10, QKV_TOK_SKIP_SPECIAL, &len,
		    &e);
		ok(d && strcmp(d, "hello, world! you ' re here") == 0,
		    "BERT decode without specials");
		static const int32_t bad[] = {1, 30522};
		d = qkv_tok_decode(bert, x, bad, 2, 0, &len, &e);
		ok(d == NULL && strstr(e.msg, "30522") != NULL,
		    "decode: an unknown id is an error");
		int rc = qkv_tok_encode(gpt2, x, "caf\xc3\xa9 \xff\xfe", 8, NULL,
		    0, QKV_TOK_BYTES, 0, &e);
		d = rc == 0 ? qkv_tok_decode(gpt2, x, x->ids, x->n, 0, &len,
		    &e) : NULL;
		ok(d && len == 8 && memcmp(d, "caf\xc3\xa9 \xff\xfe", 8) == 0,
		    "GPT-2 --bytes: raw bytes come back");
		rc = qkv_tok_encode(gpt2, x, "caf\xc3\xa9 \xff\xfe", 8, NULL,
		    0, 0, 0, &e);
		d = rc == 0 ? qkv_tok_decode(gpt2, x, x->ids, x->n, 0, &len,
		    &e) : NULL;
		ok(d && len == 12 && memcmp(d, "caf\xc3\xa9 \xef\xbf\xbd"
		    "\xef\xbf\xbd", 12) == 0,
		    "GPT-2: invalid bytes become U+FFFD, one per subpart");
	}

	/* the normalizer's two paths agree */
	ok(paths_agree(bert, 0, 20000, 1), "uncased: table path = general path");
	ok(paths_agree(bert, QKV_TOK_OFFSETS | QKV_TOK_PLAIN, 5000, 2),
	    "uncased, offsets, plain: the paths agree");
	{
		size_t vl = 0;
		qkv_model *m = qkv_model_open(V "bert-base-uncased/vocab.txt",
		    &e);
		const char *vt = m ? qkv_model_file(m, "vocab.txt", &vl) : NULL;
		const char *names[] = {"vocab.txt", "tokenizer_config.json"};
		const char *bufs[] = {vt, "{\"do_lower_case\": false}"};
		size_t lens[] = {vl, strlen(bufs[1])};
		qkv_tok *cased = vt ? tok_open_mem(names, bufs, lens, 2, &e) :
		    NULL;
		ok(cased != NULL && paths_agree(cased, 0, 20000, 3),
		    "cased: table path = general path");
		bufs[1] = "{\"do_lower_case\": false, \"strip_accents\": true, "
		    "\"tokenize_chinese_chars\": false}";
		lens[1] = strlen(bufs[1]);
		qkv_tok *strip = vt ? tok_open_mem(names, bufs, lens, 2, &e) :
		    NULL;
		ok(strip != NULL && paths_agree(strip, 0, 20000, 4),
		    "strip, no CJK padding: table path = general path");
		qkv_tok_close(cased);
		qkv_tok_close(strip);
		qkv_model_close(m);
	}

	/* threads building the lazy tables at once agree with one thread */
	{
		qkv_tok *fresh = open_tok(V "bert-base-uncased");
		struct job j[3] = {{fresh, 7, NULL, 0}, {fresh, 7, NULL, 0},
		    {bert, 7, NULL, 0}};
		pthread_t th[2];
		pthread_create(&th[0], NULL, encode_many, &j[0]);
		pthread_create(&th[1], NULL, encode_many, &j[1]);
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
		encode_many(&j[2]);
		ok(j[0].n > 0 && j[0].n == j[1].n && j[1].n == j[2].n &&
		    memcmp(j[0].ids, j[1].ids, j[0].n * sizeof *j[0].ids) == 0 &&
		    memcmp(j[1].ids, j[2].ids, j[0].n * sizeof *j[0].ids) == 0,
		    "two threads filling the tables get one thread's ids");
		for (int i = 0; i < 3; i++)
			free(j[i].ids);
		qkv_tok_close(fresh);
	}

	/* loading errors name the file and the line */
	{
		const char *names[] = {"vocab.json", "merges.txt"};
		const char *bufs[] = {"{\"a\": 0, \"b\": 1, \"ab\": 2}",
		    "#version: 0.2\na b\na c\n"};
		size_t lens[] = {strlen(bufs[0]), strlen(bufs[1])};
		qkv_tok *t = tok_open_mem(names, bufs, lens, 2, &e);
		ok(t == NULL && strstr(e.msg, "merges.txt: line 3: merge token "
		    "'c' is not in the vocabulary") != NULL, "%s", e.msg);
		bufs[1] = "#version: 0.2\na b\n";
		lens[1] = strlen(bufs[1]);
		t = tok_open_mem(names, bufs, lens, 2, &e);
		ok(t != NULL, "a two-token BPE loads");
		if (t != NULL && qkv_tok_encode(t, x, "ab", 2, NULL, 0, 0, 0,
		    &e) == 0)
			ok(x->n == 1 && x->ids[0] == 2, "and merges a b");
		qkv_tok_close(t);
		const char *tn[] = {"tokenizer.json"};
		const char *tb[] = {"{\"model\": {\"type\": \"Unigram\"}}"};
		size_t tl[] = {strlen(tb[0])};
		t = tok_open_mem(tn, tb, tl, 1, &e);
		ok(t == NULL && strstr(e.msg, "Unigram is not supported"),
		    "unsupported models are refused: %s", e.msg);
	}
	/* tokenizer.json's vocabulary is read without jansson where it can
	 * be: the same tokens and ids, and the same errors, as when jansson
	 * reads it (forced by an escaped key, which the fast reader declines) */
	{
		static const char *const vocab =
		    "{\"[UNK]\": 0, \"a\": 1,\n\"\\u00e9t\\u00E9\": 2, "
		    "\"\\ud83d\\ude00\": 3,\r\n \"q\\\"x\": 4, "
		    "\"\\\\\\/\": 5,\t\"\\t\\b\": 6, \"##b\": 7, "
		    "\"a\": 8, \"\xc3\xa9\": 9, \"{\": 10, \"}\": 11 }";
		static const char *const tails[] = {
		    "}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}",
		    "}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},\n"
		    "\n \"x\": [1,]}",
		};
		static const char *const vocabs[] = {
		    NULL, "{\"a\": 1.5}", "{\"a\": -1}", "{\"\\ud800\": 1}",
		    "{\"a\\u0000\": 1}", "{\"a\": 01}", "{\"a\": \"1\"}",
		    "{\"a\": 99999999999}", "{\"a\"\n: 1,}", "{\"\x01\": 1}",
		    "{\"\xc3\": 1}", "[]",
		};
		char *a = NULL, *b = NULL;
		int bad = 0, nfail = 0;
		for (size_t k = 0; k < sizeof vocabs / sizeof *vocabs; k++)
			for (size_t m = 0; m < 2; m++) {
			const char *v = vocabs[k] ? vocabs[k] : vocab;
			free(a);
			free(b);
			if (asprintf(&a, "{\"model\": {\"type\": \"WordPiece\", "
			    "\"vocab\": %s%s", v, tails[m]) < 0 ||
			    asprintf(&b, "{\"\\u0079\": 0, \"model\": {\"type\": "
			    "\"WordPiece\", \"vocab\": %s%s", v, tails[m]) < 0)
				return 1;
			const char *tn[] = {"tokenizer.json"};
			const char *ta[] = {a}, *tb[] = {b};
			size_t la[] = {strlen(a)}, lb[] = {strlen(b)};
			qkv_err ea, eb;
			qkv_tok *fa = tok_open_mem(tn, ta, la, 1, &ea);
			qkv_tok *fb = tok_open_mem(tn, tb, lb, 1, &eb);
			if ((fa == NULL) != (fb == NULL) || (fa == NULL &&
			    strcmp(ea.msg, eb.msg) != 0)) {
				printf("# %s: %s | %s\n", a, fa ? "" : ea.msg,
				    fb ? "" : eb.msg);
				bad++;
			}
			nfail += fa == NULL;
			if (fa == NULL || fb == NULL) {
				qkv_tok_close(fa);
				qkv_tok_close(fb);
				continue;
			}
			int32_t n = qkv_tok_vocab_size(fa);
			bad += n != qkv_tok_vocab_size(fb);
			for (int32_t id = 0; id < n; id++) {
				size_t l1 = 0, l2 = 0;
				const char *t1 = qkv_tok_token(fa, id, &l1);
				const char *t2 = qkv_tok_token(fb, id, &l2);
				bad += (t1 == NULL) != (t2 == NULL) || l1 != l2 ||
				    (t1 && memcmp(t1, t2, l1) != 0) ||
				    (t1 && qkv_tok_id(fa, t1, l1) !=
				    qkv_tok_id(fb, t2, l2));
			}
			if (k == 0 && m == 0) {
				ok(n == 12 && qkv_tok_id(fa, "a", 1) == 8 &&
				    qkv_tok_id(fa, "\xc3\xa9t\xc3\xa9", 5) == 2 &&
				    qkv_tok_id(fa, "\xf0\x9f\x98\x80", 4) == 3 &&
				    qkv_tok_id(fa, "q\"x", 3) == 4 &&
				    qkv_tok_id(fa, "\\/", 2) == 5 &&
				    qkv_tok_id(fa, "\t\b", 2) == 6 &&
				    qkv_tok_id(fa, "}", 1) == 11,
				    "escapes, surrogates and a repeated token "
				    "(the last id wins) read as JSON means them");
			}
			qkv_tok_close(fa);
			qkv_tok_close(fb);
		}
		ok(bad == 0 && nfail == 23, "the fast vocabulary reader and "
		    "jansson agree on %zu files (%d refused by both)",
		    2 * sizeof vocabs / sizeof *vocabs, nfail);
		free(a);
		free(b);
	}
	qkv_tokenc_free(x);
	qkv_tok_close(bert);
	qkv_tok_close(bvt);
	qkv_tok_close(gpt2);
	while (nmodels > 0)
		qkv_model_close(models[--nmodels]);
	done_testing();
}
