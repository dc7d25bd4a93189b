/* pretrain - the recipe's invariants on synthetic data: the vocabulary
 * view, masking rules, corpus files, and sharded ranges equal to one run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qkv.h"
#include "tap.h"

#define V 64	/* ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 [MASK], 5.. words */

static const char *toks[V];
static char names[V][16];

static qkv_ptvocab *
vocab(void)
{
	qkv_err e;

	for (int i = 0; i < V; i++) {
		static const char *sp[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
		    "[MASK]"};
		if (i < 5)
			toks[i] = sp[i];
		else {
			/* every third word is a ## continuation */
			snprintf(names[i], sizeof names[i], "%sw%d",
			    i % 3 == 0 ? "##" : "", i);
			toks[i] = names[i];
		}
	}
	return qkv_ptvocab_new(toks, V, &e);
}

/* A serialised instance, to compare runs. */
struct buf {
	char *p;
	size_t n, cap;
};

static int
collect(void *ctx, const qkv_ptinst *in, qkv_err *e)
{
	struct buf *b = ctx;
	size_t need = b->n + sizeof(int32_t) * ((size_t)in->n + 4) + 8;

	(void)e;
	if (need > b->cap) {
		b->cap = need * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, &in->n, 4);
	memcpy(b->p + b->n + 4, &in->a_len, 4);
	memcpy(b->p + b->n + 8, &in->is_random_next, 4);
	memcpy(b->p + b->n + 12, &in->key, 8);
	memcpy(b->p + b->n + 20, in->ids, (size_t)in->n * 4);
	b->n += 20 + (size_t)in->n * 4;
	return 0;
}

/* A synthetic corpus as id lines: ndoc documents of 1..20 sentences of
 * 1..40 word ids, from a keyed stream. */
static char *
corpus_text(int ndoc)
{
	qkv_rng r;
	size_t cap = 1 << 20, n = 0;
	char *s = malloc(cap);

	qkv_rng_init(&r, 7, 0, 0);
	for (int d = 0; d < ndoc; d++) {
		int ns = 1 + (int)qkv_rng_below(&r, 20);
		for (int k = 0; k < ns; k++) {
			int nt = 1 + (int)qkv_rng_below(&r, 40);
			for (int t = 0; t < nt; t++) {
				if (n + 16 > cap)
					s = realloc(s, cap *= 2);
				n += (size_t)sprintf(s + n, "%s%d", t ? " " : "",
				    5 + (int)qkv_rng_below(&r, V - 5));
			}
			s[n++] = '\n';
		}
		s[n++] = '\n';
	}
	s[n] = '\0';
	return s;
}

static char tmpdir[] = "/tmp/qkv-pretrain-XXXXXX";

static char *
tmpfile_with(const char *name, const char *text)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		exit(1);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

int
main(void)
{
	qkv_err e;
	qkv_ptvocab *v = vocab();

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	ok(v != NULL, "vocabulary with [CLS] [SEP] [MASK]");
	ok(qkv_ptvocab_cls(v) == 2 && qkv_ptvocab_sep(v) == 3 &&
	    qkv_ptvocab_mask(v) == 4, "special ids found");
	{
		/* a token listed twice is its last id, as in the reference's
		 * dict; a missing (NULL) token is the empty string */
		const char *t[9] = {"[CLS]", "a", "[SEP]", "[MASK]", "a",
		    "[SEP]", NULL, "[CLS]", ""};
		qkv_ptvocab *d = qkv_ptvocab_new(t, 9, &e);
		ok(d != NULL && qkv_ptvocab_cls(d) == 7 &&
		    qkv_ptvocab_sep(d) == 5 && qkv_ptvocab_mask(d) == 3,
		    "repeated special tokens: their last ids");
		qkv_ptvocab_free(d);
	}
	{
		const char *t[3] = {"[CLS]", "[SEP]", "x"};
		ok(qkv_ptvocab_new(t, 3, &e) == NULL &&
		    strstr(e.msg, "[MASK]") != NULL,
		    "a vocabulary without [MASK] is refused: %s", e.msg);
	}

	/* masking rules over many random sequences */
	{
		qkv_ptopts o;
		qkv_rng r;
		int32_t ids[128], out[128], pos[128], label[128];
		int bad_special = 0, bad_count = 0, bad_sorted = 0,
		    bad_label = 0, bad_other = 0, bad_word = 0, total = 0;
		qkv_ptopts_default(&o, 0);
		o.whole_word = 1;
		o.max_predictions = 12;
		qkv_masker *m = qkv_masker_new(v, &o, &e);
		qkv_rng_init(&r, 1, 2, 3);
		for (int it = 0; it < 2000; it++) {
			int n = 5 + (int)qkv_rng_below(&r, 120), cand = 0;
			for (int i = 0; i < n; i++) {
				ids[i] = (int32_t)qkv_rng_below(&r, V);
				cand += ids[i] != 0 && ids[i] != 2 &&
				    ids[i] != 3 && ids[i] != 4;
			}
			int np = qkv_masker_run(m, (uint64_t)it, ids, (size_t)n,
			    out, pos, label, &e);
			total += np;
			long want = lrint(n * 0.15);
			want = want < 1 ? 1 : want > 12 ? 12 : want;
			if (np > want || (np < want && np < cand &&
			    !o.whole_word))
				bad_count++;
			int is_pos[128] = {0};
			for (int k = 0; k < np; k++) {
				if (k > 0 && pos[k] <= pos[k - 1])
					bad_sorted++;
				if (label[k] != ids[pos[k]])
					bad_label++;
				int t = ids[pos[k]];
				if (t == 0 || t == 2 || t == 3 || t == 4)
					bad_special++;
				is_pos[pos[k]] = 1;
			}
			for (int i = 0; i < n; i++)
				if (!is_pos[i] && out[i] != ids[i])
					bad_other++;
			/* a masked ## piece's word is masked whole: the piece
			 * before it (if a word piece) is masked too */
			for (int i = 1; i < n; i++)
				if (is_pos[i] && ids[i] >= 5 && ids[i] % 3 == 0 &&
				    ids[i - 1] >= 5 && !is_pos[i - 1])
					bad_word++;
		}
		ok(total > 10000, "%d predictions over 2000 sequences", total);
		ok(bad_special == 0, "no [PAD] [CLS] [SEP] [MASK] masked");
		ok(bad_count == 0, "at most max-pred, at most round(n*prob)");
		ok(bad_sorted == 0, "positions ascending and distinct");
		ok(bad_label == 0, "labels are the original ids");
		ok(bad_other == 0, "unchosen positions unchanged");
		ok(bad_word == 0, "whole words: a masked ## piece's word "
		    "start is masked");
		/* the same key gives the same masking, another key another */
		int32_t a[64], b[64], c[64], la[64];
		int32_t pa[64] = {0}, pb[64] = {0}, pc[64] = {0};
		for (int i = 0; i < 64; i++)
			ids[i] = 5 + i % (V - 5);
		qkv_masker_run(m, 99, ids, 64, a, pa, la, &e);
		qkv_masker_run(m, 99, ids, 64, b, pb, la, &e);
		qkv_masker_run(m, 100, ids, 64, c, pc, la, &e);
		ok(memcmp(a, b, sizeof a) == 0 && memcmp(pa, pb, sizeof pa) == 0,
		    "same key, same masking");
		ok(memcmp(pa, pc, sizeof pa) != 0, "other key, other masking");
		qkv_masker_free(m);
	}

	/* corpus file: written from id lines, read back document by
	 * document; nsp over shards concatenates to one run */
	{
		char *text = corpus_text(57);
		char *ids = tmpfile_with("c.ids", text);
		char *cpath;
		if (asprintf(&cpath, "%s/c.qkv", tmpdir) < 0)
			return 1;
		qkv_in *in = qkv_in_open(ids, &e);
		qkv_docreader *r = qkv_docreader_open(in, v, &e);
		FILE *f = fopen(cpath, "wb");
		int rc = qkv_corpus_write(r, f, cpath, tmpdir, &e);
		fclose(f);
		qkv_docreader_close(r);
		qkv_in_close(in);
		ok(rc == 0, "corpus written%s%s", rc ? ": " : "",
		    rc ? e.msg : "");
		qkv_corpus *c = qkv_corpus_open(cpath, &e);
		ok(c != NULL && qkv_corpus_ndocs(c) == 57, "corpus of 57 "
		    "documents opened%s%s", c ? "" : ": ", c ? "" : e.msg);
		in = qkv_in_open(ids, &e);
		r = qkv_docreader_open(in, v, &e);
		qkv_doc d, cd;
		int same = 1;
		for (size_t k = 0; c && qkv_docreader_next(r, &d, &e) > 0; k++) {
			if (qkv_corpus_doc(c, k, &cd) < 0 || cd.nsent != d.nsent) {
				same = 0;
				break;
			}
			for (size_t s = 0; s <= d.nsent; s++)
				same &= cd.off[s] - cd.off[0] == d.off[s];
			same &= memcmp(cd.ids + cd.off[0], d.ids,
			    (size_t)d.off[d.nsent] * 4) == 0;
		}
		qkv_docreader_close(r);
		qkv_in_close(in);
		ok(same, "corpus documents equal the input's");

		/* shards: contiguous runs covering the corpus, each within
		 * one document of its share of the tokens */
		for (uint64_t n = 1; c && n <= 7; n++) {
			size_t lo, hi, prev = 0, biggest = 0;
			int runs = 1, fair = 1;
			uint64_t T = qkv_corpus_ntokens(c);
			for (size_t k = 0; k < 57; k++) {
				qkv_corpus_doc(c, k, &cd);
				size_t len = (size_t)(cd.off[cd.nsent] - cd.off[0]);
				biggest = len > biggest ? len : biggest;
			}
			for (uint64_t i = 1; i <= n; i++) {
				qkv_corpus_shard(c, i, n, &lo, &hi);
				runs &= lo == prev && hi >= lo;
				prev = hi;
				uint64_t t0 = 0, t1 = T;
				if (lo < 57 && qkv_corpus_doc(c, lo, &cd) == 0)
					t0 = (uint64_t)cd.off[0];
				if (hi < 57 && qkv_corpus_doc(c, hi, &cd) == 0)
					t1 = (uint64_t)cd.off[0];
				double share = (double)(t1 - t0) - (double)T / n;
				fair &= share <= (double)biggest &&
				    -share <= (double)biggest;
			}
			ok(runs && prev == 57, "%d shards: runs of documents "
			    "covering the corpus in order", (int)n);
			ok(fair, "%d shards: each within a document of T/n "
			    "tokens", (int)n);
		}

		qkv_ptopts o;
		qkv_ptopts_default(&o, 0);
		o.dupe = 3;
		o.max_seq_length = 48;
		struct buf whole = {0}, parts = {0}, again = {0};
		qkv_nsp *s = qkv_nsp_new(v, &o, 0, &e);
		qkv_nsp_range(s, qkv_corpus_doc, c, 57, 0, 57, collect, &whole,
		    &e);
		for (int i = 1; i <= 4; i++)
			qkv_nsp_range(s, qkv_corpus_doc, c, 57,
			    (size_t)(57 * (i - 1) / 4), (size_t)(57 * i / 4),
			    collect, &parts, &e);
		qkv_nsp_range(s, qkv_corpus_doc, c, 57, 0, 57, collect, &again,
		    &e);
		ok(whole.n > 0 && whole.n == parts.n &&
		    memcmp(whole.p, parts.p, whole.n) == 0,
		    "4 shards concatenate to the whole run (%zu bytes)", whole.n);
		ok(again.n == whole.n && memcmp(again.p, whole.p, whole.n) == 0,
		    "a second run is the same");
		qkv_nsp_free(s);
		free(whole.p);
		free(parts.p);
		free(again.p);
		qkv_corpus_close(c);

		/* a corpus with sentences out of order is refused */
		FILE *bf = fopen(cpath, "wb");
		qkv_twriter *w = qkv_twriter_open(bf, cpath, &e);
		int32_t bids[4] = {5, 6, 7, 8};
		int64_t bs[3] = {0, 3, 2}, bd[2] = {0, 2}, n4 = 4, n3 = 3, n2 = 2;
		qkv_twriter_meta(w, "qkv-pretrain", "corpus 1", 8, &e);
		qkv_twriter_tensor(w, "ids", QKV_I32, 1, &n4, bids, 16, &e);
		qkv_twriter_tensor(w, "sentences", QKV_I64, 1, &n3, bs, 24, &e);
		qkv_twriter_tensor(w, "documents", QKV_I64, 1, &n2, bd, 16, &e);
		qkv_twriter_close(w, &e);
		fclose(bf);
		c = qkv_corpus_open(cpath, &e);
		ok(c == NULL && strstr(e.msg, "sentences") != NULL,
		    "bad offsets refused: %s", c ? "(opened)" : e.msg);
		unlink(cpath);
		unlink(ids);
		free(cpath);
		free(ids);
		free(text);
	}
	qkv_ptvocab_free(v);
	rmdir(tmpdir);
	done_testing();
}
