/* Fuzz target: the pretraining readers and the recipe on what they read.
 * The first byte picks the reader: documents (id lines or a qkv stream,
 * then nsp's pool mode and the reference mode on them), instances (text
 * or a stream, then mask and text output), or a corpus file (then sharded
 * ranges). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qkv.h"

static qkv_ptvocab *v;

static int
sink(void *ctx, const qkv_ptinst *in, qkv_err *e)
{
	(void)ctx;
	(void)e;
	if (in->n < 5 || in->n > 16 || in->a_len < 1 || in->a_len > in->n - 4)
		__builtin_trap();
	return 0;
}

static qkv_in *
mem_in(const unsigned char *p, size_t n, int *fd)
{
	char path[64];
	qkv_err e;

	if ((*fd = memfd_create("fuzz", 0)) < 0 ||
	    write(*fd, p, n) != (ssize_t)n)
		return NULL;
	lseek(*fd, 0, SEEK_SET);
	snprintf(path, sizeof path, "/dev/fd/%d", *fd);
	return qkv_in_open(path, &e);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	qkv_err e;
	qkv_ptopts o;
	int fd = -1;

	if (v == NULL) {
		static char names[64][8];
		const char *t[64];
		for (int i = 0; i < 64; i++) {
			snprintf(names[i], sizeof names[i], "%s%d",
			    i % 3 ? "" : "##", i);
			t[i] = names[i];
		}
		t[0] = "[PAD]", t[1] = "[CLS]", t[2] = "[SEP]", t[3] = "[MASK]";
		v = qkv_ptvocab_new(t, 64, &e);
	}
	if (size < 1)
		return 0;
	qkv_ptopts_default(&o, 1);
	o.max_seq_length = 16;
	o.dupe = 2;
	o.whole_word = data[0] & 8;
	switch (data[0] % 3) {
	case 0: {
		qkv_in *in = mem_in(data + 1, size - 1, &fd);
		qkv_docreader *r = in ? qkv_docreader_open(in, v, &e) : NULL;
		qkv_nsp *s = qkv_nsp_new(v, &o, 3, &e);
		qkv_google *g = qkv_google_new(v, &o, &e);
		qkv_doc d;
		int docs = 0;
		while (r && docs++ < 64 && qkv_docreader_next(r, &d, &e) > 0)
			if (qkv_nsp_doc(s, &d, sink, NULL, &e) < 0 ||
			    qkv_google_add(g, &d, &e) < 0)
				break;
		if (qkv_google_run(g, &e) == 0)
			for (size_t k = 0; k < qkv_google_count(g); k++)
				if (qkv_google_inst(g, k)->npred > 16)
					__builtin_trap();
		qkv_google_free(g);
		qkv_nsp_free(s);
		qkv_docreader_close(r);
		qkv_in_close(in);
		break;
	}
	case 1: {
		qkv_in *in = mem_in(data + 1, size - 1, &fd);
		qkv_ptreader *r = in ? qkv_ptreader_open(in, 64, &e) : NULL;
		qkv_masker *m = qkv_masker_new(v, &o, &e);
		FILE *null = fopen("/dev/null", "w");
		qkv_ptout *out = qkv_ptout_open(null, "null", 0,
		    QKV_PT_SEG | QKV_PT_LABEL | QKV_PT_KEY, NULL, &e);
		qkv_ptrow row;
		int32_t ids[64], pos[64], lab[64];
		while (r && qkv_ptreader_next(r, &row, &e) > 0) {
			if (row.n <= 64 && qkv_masker_run(m, (uint64_t)row.key,
			    row.ids, row.n, ids, pos, lab, &e) < 0)
				__builtin_trap();
			qkv_ptout_row(out, &row, NULL, &e);
		}
		qkv_ptout_free(out);
		fclose(null);
		qkv_masker_free(m);
		qkv_ptreader_close(r);
		qkv_in_close(in);
		break;
	}
	default: {
		/* as mapped: aligned */
		unsigned char *copy = malloc(size);
		memcpy(copy, data + 1, size - 1);
		qkv_corpus *c = qkv_corpus_parse(copy, size - 1, "fuzz", &e);
		if (c != NULL) {
			qkv_nsp *s = qkv_nsp_new(v, &o, 0, &e);
			size_t nd = qkv_corpus_ndocs(c);
			qkv_nsp_range(s, qkv_corpus_doc, c, nd, 0,
			    nd < 32 ? nd : 32, sink, NULL, &e);
			qkv_nsp_free(s);
			qkv_corpus_close(c);
		}
		free(copy);
	}
	}
	if (fd >= 0)
		close(fd);
	return 0;
}
