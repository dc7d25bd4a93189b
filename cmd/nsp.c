/* nsp - next-sentence pairs for BERT pretraining. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

static _Noreturn void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: nsp [-bt] [-m model] [-l length] [-s seed] [-o file] [--short p]\n"
	    "           [--dupe n] [--epoch e] [--pool n] [file ...]\n"
	    "       nsp -r corpus [--shard i/n] [-bt] [-m model] [-l length]\n"
	    "           [-s seed] [-o file] [--short p] [--dupe n] [--epoch e]\n"
	    "       nsp --google [-bt] [-m model] [-l length] [-s seed] [-o file]\n"
	    "           [--short p] [--dupe n] [--prob p] [--max-pred n] [--wwm]\n"
	    "           [file ...]\n"
	    "       nsp --score [-j threads] [-m model] [-o file] [file ...]\n");
	exit(status);
}

enum { OPT_POOL = 256, OPT_GOOGLE, OPT_SHARD, OPT_SCORE };

static const struct option longopts[] = {
	{"short", required_argument, NULL, 0},
	{"dupe", required_argument, NULL, 0},
	{"epoch", required_argument, NULL, 0},
	{"prob", required_argument, NULL, 0},
	{"max-pred", required_argument, NULL, 0},
	{"wwm", no_argument, NULL, 0},
	{"pool", required_argument, NULL, OPT_POOL},
	{"google", no_argument, NULL, OPT_GOOGLE},
	{"shard", required_argument, NULL, OPT_SHARD},
	{"score", no_argument, NULL, OPT_SCORE},
	{NULL, 0, NULL, 0}
};

struct sink {
	qkv_ptout *out;
	int32_t *seg;		/* max_seq_length */
};

static int
emit(void *ctx, const qkv_ptinst *in, qkv_err *e)
{
	struct sink *s = ctx;
	qkv_ptrow row = {
		.ids = in->ids, .n = (size_t)in->n, .seg = s->seg,
		.label = in->is_random_next, .key = in->key,
		.fields = QKV_PT_SEG | QKV_PT_LABEL | QKV_PT_KEY,
	};

	for (int32_t i = 0; i < in->n; i++)
		s->seg[i] = i >= in->a_len + 2;
	return qkv_ptout_row(s->out, &row, NULL, e);
}

static void
parse_shard(const char *s, long *i, long *n)
{
	char *end;

	*i = strtol(s, &end, 10);
	if (*end != '/')
		errx(2, "--shard %s: give I/N", s);
	*n = strtol(end + 1, &end, 10);
	if (*end != '\0' || *n < 1 || *n > 1L << 30 || *i < 1 || *i > *n)
		errx(2, "--shard %s: give I/N with 1 <= I <= N", s);
}

int
main(int argc, char **argv)
{
	qkv_ptopts o;
	qkv_err e;
	int c, li, google = 0, binary = 0, dupe_set = 0, mlm_set = 0;
	int doscore = 0;
	long pool = 1000, shard = 1, nshards = 1, threads = 0;
	const char *model = NULL, *outpath = NULL, *corpus = NULL;

	qkv_cli_init();
	qkv_ptopts_default(&o, 0);
	while ((c = getopt_long(argc, argv, "bhj:l:m:o:qr:s:tV", longopts,
	    &li)) != -1) {
		char name[2] = {(char)c, '\0'};
		switch (c) {
		case 0:
			name[0] = '\0';
			if (qkv_ptopts_set(&o, longopts[li].name, optarg, &e) < 0)
				errx(2, "%s", e.msg);
			dupe_set |= strcmp(longopts[li].name, "dupe") == 0;
			mlm_set |= strcmp(longopts[li].name, "prob") == 0 ||
			    strcmp(longopts[li].name, "max-pred") == 0 ||
			    strcmp(longopts[li].name, "wwm") == 0;
			break;
		case 'l':
		case 's':
			if (qkv_ptopts_set(&o, name, optarg, &e) < 0)
				errx(2, "%s", e.msg);
			break;
		case 'b':
		case 't':
			binary = c == 'b';
			break;
		case 'q':
			break;
		case 'm':
			model = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'r':
			corpus = optarg;
			break;
		case OPT_POOL:
			if (qkv_parse_long(optarg, 0, 1 << 30, &pool, &e) < 0)
				errx(2, "--pool: %s", e.msg);
			break;
		case OPT_GOOGLE:
			google = 1;
			break;
		case OPT_SCORE:
			doscore = 1;
			break;
		case 'j':
			if (qkv_parse_long(optarg, 1, 1024, &threads, &e) < 0)
				errx(2, "-j: %s", e.msg);
			break;
		case OPT_SHARD:
			parse_shard(optarg, &shard, &nshards);
			break;
		case 'V':
			printf("nsp (qkv) %s\n", QKV_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (!google && mlm_set)
		errx(2, "--prob, --max-pred and --wwm belong to mask(1), "
		    "or to nsp --google");
	if (google && !dupe_set)
		o.dupe = 10;
	if (corpus != NULL && (google || argc > 0))
		errx(2, "-r reads the corpus file: no input files, no --google");
	if (nshards > 1 && corpus == NULL)
		errx(2, "--shard needs -r CORPUS: a shard draws random "
		    "documents from the whole corpus");

	if ((model = qkv_model_default(model)) == NULL)
		errx(2, "no model: give -m MODEL or set QKV_MODEL");
	qkv_model *m = qkv_model_open(model, &e);
	if (m != NULL && doscore) {
		if (google || corpus)
			errx(2, "--score reads sentence pairs: no --google, no -r");
		if (threads > 0)
			nn_set_threads((int)threads);
		if (bert_heads_run(m, BERT_SCORE, 0, argc, argv, outpath,
		    &e) < 0)
			errx(1, "%s", e.msg);
		qkv_model_close(m);
		return 0;
	}
	nn_stop_threads();	/* no matrix products from here on */
	qkv_ptvocab *v = m ? qkv_ptvocab_from_model(m, &e) : NULL;
	if (v == NULL)
		errx(1, "%s", e.msg);
	qkv_corpus *cp = NULL;
	if (corpus != NULL && (cp = qkv_corpus_open(corpus, &e)) == NULL)
		errx(1, "%s", e.msg);

	qkv_out *out = qkv_out_open(outpath, &e);
	if (out == NULL)
		errx(1, "%s", e.msg);
	const char *oname = outpath ? outpath : "<stdout>";
	struct sink sink = {0};
	qkv_nsp *s = NULL;
	qkv_google *g = NULL;
	if (google) {
		if ((g = qkv_google_new(v, &o, &e)) == NULL ||
		    (sink.out = qkv_ptout_google(out->f, oname, binary,
		    o.max_seq_length, o.max_predictions, &e)) == NULL)
			goto fail;
	} else if ((s = qkv_nsp_new(v, &o, (size_t)pool, &e)) == NULL ||
	    (sink.seg = qkv_calloc((size_t)o.max_seq_length,
	    sizeof *sink.seg, &e)) == NULL ||
	    (sink.out = qkv_ptout_open(out->f, oname, binary,
	    QKV_PT_SEG | QKV_PT_LABEL | QKV_PT_KEY, NULL, &e)) == NULL)
		goto fail;

	if (cp != NULL) {
		/* runs of documents: shards concatenate in order */
		size_t lo, hi;
		qkv_corpus_shard(cp, (uint64_t)shard, (uint64_t)nshards, &lo,
		    &hi);
		if (qkv_nsp_range(s, qkv_corpus_doc, cp,
		    qkv_corpus_ndocs(cp), lo, hi,
		    emit, &sink, &e) < 0)
			goto fail;
	} else {
		int nfiles = argc > 0 ? argc : 1;
		for (int i = 0; i < nfiles; i++) {
			qkv_in *in = qkv_in_open(argc > 0 ? argv[i] : "-", &e);
			qkv_docreader *r = in ? qkv_docreader_open(in, v, &e) :
			    NULL;
			qkv_doc d;
			int rc = r ? 0 : -1;
			while (r && (rc = qkv_docreader_next(r, &d, &e)) > 0) {
				rc = g ? qkv_google_add(g, &d, &e) :
				    qkv_nsp_doc(s, &d, emit, &sink, &e);
				if (rc < 0)
					break;
			}
			qkv_docreader_close(r);
			qkv_in_close(in);
			if (rc < 0)
				goto fail;
		}
	}
	if (g != NULL) {
		if (qkv_google_run(g, &e) < 0)
			goto fail;
		for (size_t k = 0; k < qkv_google_count(g); k++)
			if (qkv_ptout_inst(sink.out, qkv_google_inst(g, k),
			    &e) < 0)
				goto fail;
	}
	int rc = qkv_ptout_close(sink.out, &e);
	sink.out = NULL;
	if (rc < 0)
		goto fail;
	if (qkv_out_commit(out, &e) < 0)
		errx(1, "%s", e.msg);
	qkv_google_free(g);
	qkv_nsp_free(s);
	free(sink.seg);
	qkv_corpus_close(cp);
	qkv_ptvocab_free(v);
	qkv_model_close(m);
	return 0;
fail:
	qkv_ptout_free(sink.out);
	qkv_out_abort(out);
	errx(1, "%s", e.msg);
}
