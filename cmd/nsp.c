/* nsp - next-sentence pairs for BERT pretraining. */
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qkv.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: nsp [-bqt] [-m model] [-l len] [-s seed] [-o file] [--short p]\n"
	    "           [--dupe n] [--epoch e] [--pool n] [file ...]\n"
	    "       nsp --google [-bt] [-m model] [-l len] [-s seed] [-o file]\n"
	    "           [--dupe n] [--short p] [--prob p] [--max-pred n] [--wwm]\n"
	    "           [file ...]\n");
	exit(2);
}

enum {
	OPT_SHORT = 256, OPT_DUPE, OPT_EPOCH, OPT_POOL, OPT_GOOGLE, OPT_PROB,
	OPT_MAXPRED, OPT_WWM
};

static const struct option longopts[] = {
	{"short", required_argument, NULL, OPT_SHORT},
	{"dupe", required_argument, NULL, OPT_DUPE},
	{"epoch", required_argument, NULL, OPT_EPOCH},
	{"pool", required_argument, NULL, OPT_POOL},
	{"google", no_argument, NULL, OPT_GOOGLE},
	{"prob", required_argument, NULL, OPT_PROB},
	{"max-pred", required_argument, NULL, OPT_MAXPRED},
	{"wwm", no_argument, NULL, OPT_WWM},
	{NULL, 0, NULL, 0}
};

struct out {
	FILE *f;
	int L, P;		/* --google: padded lengths */
	const char *name;
};

static const char *progname = "nsp";

/* One streaming instance: ids, segment ids, label, key. */
static int
emit_text(void *ctx, const qkv_ptinst *in, qkv_err *e)
{
	struct out *o = ctx;
	FILE *f = o->f;

	(void)e;
	qkv_pt_print_ids(f, in->ids, (size_t)in->n);
	putc('\t', f);
	for (int32_t i = 0; i < in->n; i++) {
		if (i > 0)
			putc(' ', f);
		putc(i < in->a_len + 2 ? '0' : '1', f);
	}
	fprintf(f, "\t%d\t%lld\n", in->is_random_next, (long long)in->key);
	return ferror(f) ? qkv_errf(e, "%s: write error", o->name) : 0;
}

/* A --google record: the reference's seven features, padded. */
static void
google_text(struct out *o, const qkv_ptinst *in)
{
	FILE *f = o->f;
	int i;

	qkv_pt_print_ids(f, in->ids, (size_t)in->n);
	for (i = in->n; i < o->L; i++)
		fputs(" 0", f);
	putc('\t', f);
	for (i = 0; i < o->L; i++)
		fputs(i == 0 ? (i < in->n ? "1" : "0") : i < in->n ? " 1" : " 0",
		    f);
	putc('\t', f);
	for (i = 0; i < o->L; i++) {
		int seg = i < in->n && i >= in->a_len + 2;
		if (i > 0)
			putc(' ', f);
		putc(seg ? '1' : '0', f);
	}
	putc('\t', f);
	for (int pass = 0; pass < 2; pass++) {
		const int32_t *v = pass == 0 ? in->pos : in->label;
		qkv_pt_print_ids(f, v, (size_t)in->npred);
		for (i = in->npred; i < o->P; i++)
			fputs(i == 0 ? "0" : " 0", f);
		putc('\t', f);
	}
	for (i = 0; i < o->P; i++)
		fputs(i == 0 ? (i < in->npred ? "1" : "0") :
		    i < in->npred ? " 1" : " 0", f);
	fprintf(f, "\t%d\n", in->is_random_next);
}

int
main(int argc, char **argv)
{
	qkv_ptopts o;
	qkv_err e;
	int c, google = 0, binary = 0, quiet = 0;
	int set_dupe = 0, set_seed = 0;
	long lv;
	double dv;
	long pool = 1000;
	const char *model = NULL, *outpath = NULL;
	int prob_set = 0, mp_set = 0, wwm = 0;
	double prob = 0;
	long maxpred = 0;

	qkv_cli_init();
	qkv_ptopts_default(&o, 0);
	while ((c = getopt_long(argc, argv, "bhl:m:o:qs:tV", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'b':
			binary = 1;
			break;
		case 't':
			binary = 0;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'm':
			model = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'l':
			if (qkv_parse_long(optarg, 5, 1 << 20, &lv, &e) < 0)
				errx(2, "-l: %s", e.msg);
			o.max_seq_length = (int)lv;
			break;
		case 's':
			if (qkv_parse_long(optarg, 0, LONG_MAX, &lv, &e) < 0)
				errx(2, "-s: %s", e.msg);
			o.seed = (uint64_t)lv;
			set_seed = 1;
			break;
		case OPT_SHORT:
			if (qkv_parse_double(optarg, 0, 1, &dv, &e) < 0)
				errx(2, "--short: %s", e.msg);
			o.short_seq_prob = dv;
			break;
		case OPT_DUPE:
			if (qkv_parse_long(optarg, 1, 1 << 20, &lv, &e) < 0)
				errx(2, "--dupe: %s", e.msg);
			o.dupe = (int)lv;
			set_dupe = 1;
			break;
		case OPT_EPOCH:
			if (qkv_parse_long(optarg, 0, 1 << 24, &lv, &e) < 0)
				errx(2, "--epoch: %s", e.msg);
			o.epoch = (uint32_t)lv;
			break;
		case OPT_POOL:
			if (qkv_parse_long(optarg, 0, 1 << 30, &pool, &e) < 0)
				errx(2, "--pool: %s", e.msg);
			break;
		case OPT_GOOGLE:
			google = 1;
			break;
		case OPT_PROB:
			if (qkv_parse_double(optarg, 0, 1, &prob, &e) < 0)
				errx(2, "--prob: %s", e.msg);
			prob_set = 1;
			break;
		case OPT_MAXPRED:
			if (qkv_parse_long(optarg, 0, 1 << 20, &maxpred, &e) < 0)
				errx(2, "--max-pred: %s", e.msg);
			mp_set = 1;
			break;
		case OPT_WWM:
			wwm = 1;
			break;
		case 'V':
			printf("nsp %s\n", QKV_VERSION);
			return 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (!google && (prob_set || mp_set || wwm))
		errx(2, "--prob, --max-pred and --wwm belong to mask(1), "
		    "or to nsp --google");
	if (google && !set_dupe)
		o.dupe = 10;
	(void)set_seed;
	if (prob_set)
		o.masked_lm_prob = prob;
	if (mp_set)
		o.max_predictions = (int)maxpred;
	o.whole_word = wwm;
	if (binary)
		errx(1, "-b: qkv streams are not written yet");
	(void)quiet;

	if (model == NULL && (model = getenv("QKV_MODEL")) == NULL)
		errx(2, "no model: give -m MODEL or set QKV_MODEL");
	qkv_ptvocab *v = qkv_ptvocab_load(model, &e);
	if (v == NULL)
		errx(1, "%s", e.msg);

	qkv_out *out = qkv_out_open(outpath, &e);
	if (out == NULL)
		errx(1, "%s", e.msg);
	struct out ctx = {out->f, o.max_seq_length, o.max_predictions,
	    outpath ? outpath : "<stdout>"};

	qkv_nsp *s = NULL;
	qkv_google *g = NULL;
	if (google)
		g = qkv_google_new(v, &o, &e);
	else
		s = qkv_nsp_new(v, &o, (size_t)pool, &e);
	if (g == NULL && s == NULL)
		goto fail;

	int nfiles = argc > 0 ? argc : 1;
	for (int i = 0; i < nfiles; i++) {
		qkv_in *in = qkv_in_open(argc > 0 ? argv[i] : "-", &e);
		qkv_docreader *r = in ? qkv_docreader_open(in, v, &e) : NULL;
		qkv_doc d;
		int rc = r ? 0 : -1;
		while (r && (rc = qkv_docreader_next(r, &d, &e)) > 0) {
			if (g)
				rc = qkv_google_add(g, &d, &e);
			else
				rc = qkv_nsp_doc(s, &d, emit_text, &ctx, &e);
			if (rc < 0)
				break;
		}
		qkv_docreader_close(r);
		qkv_in_close(in);
		if (rc < 0)
			goto fail;
	}
	if (g) {
		if (qkv_google_run(g, &e) < 0)
			goto fail;
		for (size_t k = 0; k < qkv_google_count(g); k++)
			google_text(&ctx, qkv_google_inst(g, k));
	}
	qkv_google_free(g);
	qkv_nsp_free(s);
	if (qkv_out_commit(out, &e) < 0)
		errx(1, "%s", e.msg);
	qkv_ptvocab_free(v);
	return 0;
fail:
	qkv_out_abort(out);
	errx(1, "%s", e.msg);
	(void)progname;
}
