/* mask - masked-LM predictions for BERT pretraining. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mask [-bqt] [-m model] [-s seed] [-o file] [--prob p]\n"
	    "            [--max-pred n] [--wwm] [--epoch e] [file ...]\n");
	exit(2);
}

enum { OPT_PROB = 256, OPT_MAXPRED, OPT_WWM, OPT_EPOCH };

static const struct option longopts[] = {
	{"prob", required_argument, NULL, OPT_PROB},
	{"max-pred", required_argument, NULL, OPT_MAXPRED},
	{"wwm", no_argument, NULL, OPT_WWM},
	{"epoch", required_argument, NULL, OPT_EPOCH},
	{NULL, 0, NULL, 0}
};

struct state {
	qkv_masker *m;
	const qkv_ptvocab *v;
	int32_t *ids, *out, *pos, *label;
	size_t nids, cap, pcap;
	uint64_t row;		/* rows so far: the key of rows without one */
	FILE *f;
};

/* Field k (0-based) of a TAB-separated line; 0 if absent. */
static int
field(const char *line, size_t len, int k, const char **p, size_t *n)
{
	const char *s = line, *end = line + len;

	for (int i = 0; i < k; i++) {
		const char *t = memchr(s, '\t', (size_t)(end - s));
		if (t == NULL)
			return 0;
		s = t + 1;
	}
	const char *t = memchr(s, '\t', (size_t)(end - s));
	*p = s;
	*n = (size_t)((t ? t : end) - s);
	return 1;
}

static int
parse_key(const char *p, size_t n, uint64_t *key, qkv_err *e)
{
	uint64_t x = 0;

	if (n == 0 || n > 19)
		return qkv_errf(e, "'%.*s' is not an instance key",
		    (int)(n > 30 ? 30 : n), p);
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return qkv_errf(e, "'%.*s' is not an instance key",
			    (int)(n > 30 ? 30 : n), p);
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	*key = x;
	return 0;
}

static int
mask_line(struct state *s, const char *line, size_t len, qkv_err *e)
{
	const char *f0, *kp;
	size_t n0, kn;
	uint64_t key = s->row++;
	int np;

	field(line, len, 0, &f0, &n0);
	s->nids = 0;
	if (qkv_pt_parse_ids(f0, n0, qkv_ptvocab_size(s->v), &s->ids,
	    &s->nids, &s->cap, e) < 0)
		return -1;
	/* nsp's lines carry the instance key in field 4 */
	if (field(line, len, 3, &kp, &kn) && parse_key(kp, kn, &key, e) < 0)
		return -1;
	if (s->pcap < s->cap) {
		free(s->out);
		free(s->pos);
		free(s->label);
		s->pcap = s->cap;
		if ((s->out = qkv_calloc(s->pcap, sizeof *s->out, e)) == NULL ||
		    (s->pos = qkv_calloc(s->pcap, sizeof *s->pos, e)) == NULL ||
		    (s->label = qkv_calloc(s->pcap, sizeof *s->label, e)) ==
		    NULL)
			return -1;
	}
	if ((np = qkv_masker_run(s->m, key, s->ids, s->nids, s->out, s->pos,
	    s->label, e)) < 0)
		return -1;
	qkv_pt_print_ids(s->f, s->out, s->nids);
	fwrite(f0 + n0, 1, (size_t)(line + len - (f0 + n0)), s->f);
	putc('\t', s->f);
	qkv_pt_print_ids(s->f, s->pos, (size_t)np);
	putc('\t', s->f);
	qkv_pt_print_ids(s->f, s->label, (size_t)np);
	putc('\t', s->f);
	for (int i = 0; i < np; i++)
		fputs(i ? " 1" : "1", s->f);
	putc('\n', s->f);
	return 0;
}

int
main(int argc, char **argv)
{
	qkv_ptopts o;
	qkv_err e;
	int c, binary = 0;
	long lv;
	double dv;
	const char *model = NULL, *outpath = NULL;

	qkv_cli_init();
	qkv_ptopts_default(&o, 0);
	while ((c = getopt_long(argc, argv, "bhm:o:qs:tV", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'b':
			binary = 1;
			break;
		case 't':
			binary = 0;
			break;
		case 'q':
			break;
		case 'm':
			model = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 's':
			if (qkv_parse_long(optarg, 0, LONG_MAX, &lv, &e) < 0)
				errx(2, "-s: %s", e.msg);
			o.seed = (uint64_t)lv;
			break;
		case OPT_PROB:
			if (qkv_parse_double(optarg, 0, 1, &dv, &e) < 0)
				errx(2, "--prob: %s", e.msg);
			o.masked_lm_prob = dv;
			break;
		case OPT_MAXPRED:
			if (qkv_parse_long(optarg, 0, 1 << 20, &lv, &e) < 0)
				errx(2, "--max-pred: %s", e.msg);
			o.max_predictions = (int)lv;
			break;
		case OPT_WWM:
			o.whole_word = 1;
			break;
		case OPT_EPOCH:
			if (qkv_parse_long(optarg, 0, 1 << 24, &lv, &e) < 0)
				errx(2, "--epoch: %s", e.msg);
			o.epoch = (uint32_t)lv;
			break;
		case 'V':
			printf("mask %s\n", QKV_VERSION);
			return 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (binary)
		errx(1, "-b: qkv streams are not written yet");

	if ((model = qkv_model_default(model)) == NULL)
		errx(2, "no model: give -m MODEL or set QKV_MODEL");
	qkv_model *m = qkv_model_open(model, &e);
	qkv_ptvocab *v = m ? qkv_ptvocab_from_model(m, &e) : NULL;
	if (v == NULL)
		errx(1, "%s", e.msg);
	struct state s = {0};
	s.v = v;
	if ((s.m = qkv_masker_new(v, &o, &e)) == NULL)
		errx(1, "%s", e.msg);

	qkv_out *out = qkv_out_open(outpath, &e);
	if (out == NULL)
		errx(1, "%s", e.msg);
	s.f = out->f;
	int nfiles = argc > 0 ? argc : 1;
	for (int i = 0; i < nfiles; i++) {
		qkv_in *in = qkv_in_open(argc > 0 ? argv[i] : "-", &e);
		char *line;
		size_t len;
		int rc = in ? 0 : -1;
		if (in && qkv_in_is_qkv(in))
			rc = qkv_errf(&e, "%s: qkv streams are not read yet",
			    qkv_in_name(in));
		while (rc == 0 &&
		    (rc = qkv_in_line(in, &line, &len, 1u << 30, &e)) > 0) {
			if ((rc = mask_line(&s, line, len, &e)) < 0) {
				char pre[512];
				snprintf(pre, sizeof pre, "%s: line %ld",
				    qkv_in_name(in), qkv_in_lineno(in));
				qkv_errprefix(&e, pre);
			}
		}
		qkv_in_close(in);
		if (rc < 0) {
			qkv_out_abort(out);
			errx(1, "%s", e.msg);
		}
	}
	if (qkv_out_commit(out, &e) < 0)
		errx(1, "%s", e.msg);
	qkv_masker_free(s.m);
	qkv_ptvocab_free(v);
	qkv_model_close(m);
	free(s.ids);
	free(s.out);
	free(s.pos);
	free(s.label);
	return 0;
}
