/* mask - masked-LM predictions for BERT pretraining. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

static _Noreturn void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: mask [-bt] [-m model] [-s seed] [-o file] [--prob p]\n"
	    "            [--max-pred n] [--wwm] [--epoch e] [file ...]\n"
	    "       mask --fill [-k n] [-j threads] [-m model] [-o file]"
	    " [file ...]\n");
	exit(status);
}

static const struct option longopts[] = {
	{"prob", required_argument, NULL, 0},
	{"max-pred", required_argument, NULL, 0},
	{"wwm", no_argument, NULL, 0},
	{"epoch", required_argument, NULL, 0},
	{"fill", no_argument, NULL, 'F'},
	{NULL, 0, NULL, 0}
};

struct state {
	qkv_masker *m;
	qkv_ptout *out;
	FILE *f;
	const char *oname;
	int binary;
	int text;		/* the inputs are text (known at the first row) */
	qkv_col *cols;		/* a binary input's columns, to check others */
	int ncols;
	int32_t *ids, *pos, *label;
	float *w;
	size_t cap;
	uint64_t rows;		/* over all inputs: the key of keyless rows */
};

/* Every input must be text, or a stream with the first one's columns,
 * since the output's columns are fixed at its first row. */
static int
check_input(struct state *s, qkv_ptreader *r, const char *name, qkv_err *e)
{
	qkv_reader *q = qkv_ptreader_stream(r);

	if (s->out == NULL)
		return 0;
	if ((q == NULL) != s->text)
		return qkv_errf(e, "%s: text and qkv inputs mixed", name);
	if (q == NULL)
		return 0;
	int same = qkv_reader_ncols(q) == s->ncols;
	for (int i = 0; same && i < s->ncols; i++) {
		const qkv_col *x = &s->cols[i], *y = qkv_reader_col(q, i);
		same = strcmp(x->name, y->name) == 0 && x->kind == y->kind &&
		    x->dtype == y->dtype && x->ndim == y->ndim &&
		    memcmp(x->shape, y->shape, sizeof x->shape) == 0;
	}
	return same ? 0 : qkv_errf(e, "%s: its columns differ from the first "
	    "input's", name);
}

static int
mask_row(struct state *s, qkv_ptreader *r, const qkv_ptrow *in, qkv_err *e)
{
	qkv_ptrow row = *in;
	int np;

	if (in->fields & QKV_PT_MLM)
		return qkv_errf(e, "row %llu is masked already",
		    (unsigned long long)in->row + 1);
	if (s->out == NULL) {
		/* the first row fixes the output's fields */
		qkv_reader *pass = qkv_ptreader_stream(r);
		if ((s->out = qkv_ptout_open(s->f, s->oname, s->binary,
		    in->fields | QKV_PT_MLM, pass, e)) == NULL)
			return -1;
		s->text = pass == NULL;
		if (pass != NULL) {
			s->ncols = qkv_reader_ncols(pass);
			if ((s->cols = qkv_calloc((size_t)s->ncols,
			    sizeof *s->cols, e)) == NULL)
				return -1;
			for (int i = 0; i < s->ncols; i++)
				s->cols[i] = *qkv_reader_col(pass, i);
		}
	}
	if (in->n > s->cap) {
		s->cap = in->n;
		free(s->ids);
		free(s->pos);
		free(s->label);
		free(s->w);
		if ((s->ids = qkv_calloc(s->cap, sizeof *s->ids, e)) == NULL ||
		    (s->pos = qkv_calloc(s->cap, sizeof *s->pos, e)) == NULL ||
		    (s->label = qkv_calloc(s->cap, sizeof *s->label, e)) ==
		    NULL || (s->w = qkv_calloc(s->cap, sizeof *s->w, e)) == NULL)
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			s->w[i] = 1;
	}
	/* nsp's instances carry a key, so their masking does not depend
	 * on where they are in the stream; other rows use their number */
	uint64_t key = in->fields & QKV_PT_KEY ? (uint64_t)in->key : s->rows;
	if ((np = qkv_masker_run(s->m, key, in->ids, in->n, s->ids, s->pos,
	    s->label, e)) < 0)
		return -1;
	row.ids = s->ids;
	row.pos = s->pos;
	row.mids = s->label;
	row.weights = s->w;
	row.npred = (size_t)np;
	row.fields |= QKV_PT_MLM;
	s->rows++;
	return qkv_ptout_row(s->out, &row, qkv_ptreader_cells(r), e);
}

int
main(int argc, char **argv)
{
	qkv_ptopts o;
	qkv_err e;
	int c, li, dofill = 0;
	long k = 5, threads = 0;
	const char *model = NULL, *outpath = NULL;
	struct state s = {0};

	qkv_cli_init();
	qkv_ptopts_default(&o, 0);
	while ((c = getopt_long(argc, argv, "bhj:k:m:o:qs:tV", longopts,
	    &li)) != -1) {
		switch (c) {
		case 'F':
			dofill = 1;
			break;
		case 'k':
			if (qkv_parse_long(optarg, 1, 1 << 20, &k, &e) < 0)
				errx(2, "-k: %s", e.msg);
			break;
		case 'j':
			if (qkv_parse_long(optarg, 1, 1024, &threads, &e) < 0)
				errx(2, "-j: %s", e.msg);
			break;
		case 0:
			if (qkv_ptopts_set(&o, longopts[li].name, optarg, &e) < 0)
				errx(2, "%s", e.msg);
			break;
		case 's':
			if (qkv_ptopts_set(&o, "s", optarg, &e) < 0)
				errx(2, "%s", e.msg);
			break;
		case 'b':
		case 't':
			s.binary = c == 'b';
			break;
		case 'q':
			break;
		case 'm':
			model = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'V':
			printf("mask (qkv) %s\n", QKV_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;

	if ((model = qkv_model_default(model)) == NULL)
		errx(2, "no model: give -m MODEL or set QKV_MODEL");
	qkv_model *m = qkv_model_open(model, &e);
	if (m != NULL && dofill) {
		if (threads > 0)
			nn_set_threads((int)threads);
		if (bert_heads_run(m, BERT_FILL, (int)k, argc, argv, outpath,
		    &e) < 0)
			errx(1, "%s", e.msg);
		qkv_model_close(m);
		return 0;
	}
	nn_stop_threads();	/* no matrix products from here on */
	qkv_ptvocab *v = m ? qkv_ptvocab_from_model(m, &e) : NULL;
	if (v == NULL)
		errx(1, "%s", e.msg);
	if ((s.m = qkv_masker_new(v, &o, &e)) == NULL)
		errx(1, "%s", e.msg);
	qkv_out *out = qkv_out_open(outpath, &e);
	if (out == NULL)
		errx(1, "%s", e.msg);
	s.f = out->f;
	s.oname = outpath ? outpath : "<stdout>";

	int nfiles = argc > 0 ? argc : 1, rc = 0;
	for (int i = 0; i < nfiles && rc == 0; i++) {
		qkv_in *in = qkv_in_open(argc > 0 ? argv[i] : "-", &e);
		qkv_ptreader *r = in ? qkv_ptreader_open(in,
		    qkv_ptvocab_size(v), &e) : NULL;
		qkv_ptrow row;
		rc = r ? check_input(&s, r, qkv_in_name(in), &e) : -1;
		while (rc == 0 && (rc = qkv_ptreader_next(r, &row, &e)) > 0)
			if ((rc = mask_row(&s, r, &row, &e)) < 0)
				qkv_errprefix(&e, qkv_in_name(in));
		qkv_ptreader_close(r);
		qkv_in_close(in);
	}
	if (rc < 0 || (s.out && qkv_ptout_close(s.out, &e) < 0)) {
		if (rc < 0)
			qkv_ptout_free(s.out);
		qkv_out_abort(out);
		errx(1, "%s", e.msg);
	}
	if (qkv_out_commit(out, &e) < 0)
		errx(1, "%s", e.msg);
	qkv_masker_free(s.m);
	qkv_ptvocab_free(v);
	qkv_model_close(m);
	free(s.ids);
	free(s.pos);
	free(s.label);
	free(s.w);
	free(s.cols);
	return 0;
}
