/*
 * Unit tests: the MLM and NSP heads against the PyTorch reference outputs
 * (BertForPreTraining) of the golden BERT directories: mlm_logits on every
 * real token, its argmax, and nsp_logits; a checkpoint without heads is
 * refused by name.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

#define G "tests/data/golden/"

static const char *cases[] = {"single", "batch", "pair", "long"};

static const qkv_tensor *
npy(qkv_npy **keep, const char *dir, const char *c, const char *name)
{
	char p[512];
	qkv_err e;

	snprintf(p, sizeof p, G "%s/ref/%s/%s.npy", dir, c, name);
	if ((*keep = qkv_npy_open(p, &e)) == NULL) {
		printf("# %s\n", e.msg);
		return NULL;
	}
	return qkv_npy_tensor(*keep);
}

static void
golden(const char *dir)
{
	char path[256];
	qkv_err e;
	double tol = strstr(dir, "std01") ? 5e-4 : 1e-4;

	snprintf(path, sizeof path, G "%s", dir);
	qkv_model *m = qkv_model_open(path, &e);
	bert *b = m ? bert_load(m, &e) : NULL;
	bert_mlm *h = b ? bert_mlm_load(b, &e) : NULL;
	ok(h != NULL, "%s: MLM head loads%s%s", dir, h ? "" : ": ",
	    h ? "" : e.msg);
	if (h == NULL)
		goto out;
	int H = bert_cfg(b)->hidden, V = bert_cfg(b)->vocab;
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		qkv_npy *k[6] = {0};
		const qkv_tensor *ti = npy(&k[0], dir, cases[c], "input_ids");
		const qkv_tensor *tt = npy(&k[1], dir, cases[c], "token_type_ids");
		const qkv_tensor *tm = npy(&k[2], dir, cases[c], "attention_mask");
		const qkv_tensor *tl = npy(&k[3], dir, cases[c], "mlm_logits");
		const qkv_tensor *t1 = npy(&k[4], dir, cases[c], "mlm_top1");
		const qkv_tensor *tn = npy(&k[5], dir, cases[c], "nsp_logits");
		if (!ti || !tt || !tm || !tl || !t1 || !tn) {
			ok(0, "%s/%s: reference files", dir, cases[c]);
			goto next;
		}
		int B = (int)ti->shape[0], T = (int)ti->shape[1];
		const int64_t *ids = ti->data, *types = tt->data, *mask = tm->data;
		const int64_t *top1 = t1->data;
		int32_t *pid = calloc((size_t)B * T, sizeof *pid);
		int32_t *ptt = calloc((size_t)B * T, sizeof *ptt);
		int *len = calloc((size_t)B, sizeof *len);
		float *hid = calloc((size_t)B * T * H, sizeof *hid);
		float *pool = calloc((size_t)B * H, sizeof *pool);
		float *lg = calloc((size_t)B * T * V, sizeof *lg);
		float nsp[64];
		int N = 0;
		for (int s = 0; s < B; s++)
			for (int t = 0; t < T; t++)
				if (mask[s * T + t]) {
					pid[N] = (int32_t)ids[s * T + t];
					ptt[N++] = (int32_t)types[s * T + t];
					len[s]++;
				}
		int rc = bert_encode(b, pid, ptt, len, B, hid, &e) ||
		    bert_mlm_logits(h, hid, N, lg, &e) ||
		    bert_pool(b, BERT_POOL_POOLER, hid, len, B, pool, &e) ||
		    bert_nsp_logits(b, pool, B, nsp, &e);
		ok(rc == 0, "%s/%s: heads run%s%s", dir, cases[c],
		    rc ? ": " : "", rc ? e.msg : "");
		double d = 0;
		int same1 = 1, o = 0;
		const float *ref = tl->data;
		for (int s = 0; s < B; s++)
			for (int t = 0; t < len[s]; t++, o++) {
				const float *x = lg + (size_t)o * V;
				const float *y = ref + ((size_t)s * T + t) * V;
				int best = 0;
				for (int v = 0; v < V; v++) {
					double dd = fabs((double)x[v] - y[v]);
					if (!(dd <= d))
						d = dd;
					if (x[v] > x[best])
						best = v;
				}
				same1 &= best == top1[s * T + t];
			}
		ok(d <= tol, "%s/%s: mlm_logits max abs diff %.3g (%d tokens "
		    "x %d)", dir, cases[c], d, N, V);
		ok(same1, "%s/%s: mlm_top1 equal", dir, cases[c]);
		d = 0;
		for (int i = 0; i < 2 * B; i++) {
			double dd = fabs((double)nsp[i] - ((const float *)
			    tn->data)[i]);
			if (!(dd <= d))
				d = dd;
		}
		ok(d <= tol, "%s/%s: nsp_logits max abs diff %.3g", dir,
		    cases[c], d);
		free(pid);
		free(ptt);
		free(len);
		free(hid);
		free(pool);
		free(lg);
next:
		for (int i = 0; i < 6; i++)
			qkv_npy_close(k[i]);
	}
out:
	bert_mlm_free(h);
	bert_free(b);
	qkv_model_close(m);
}

/* top-k of softmax: best first, ties to the lower id, probabilities
 * summing with the rest to 1 */
static void
topk(void)
{
	float lg[2 * 8] = {1, 3, 3, 0, 2, 3, -1, 0, 5, 4, 3, 2, 1, 0, -1, -2};
	int32_t id[6];
	float p[6];

	bert_topk(lg, 2, 8, 3, id, p);
	ok(id[0] == 1 && id[1] == 2 && id[2] == 5 && id[3] == 0 &&
	    id[4] == 1 && id[5] == 2, "top-3 ids, ties to the lower id");
	double z = exp(1) + 3 * exp(3) + exp(2) + exp(-1) + 2 * exp(0);
	ok(fabs(p[0] - exp(3) / z) < 1e-6 && p[1] == p[0] && p[2] == p[0],
	    "top-3 probabilities %.6f", p[0]);
}

int
main(void)
{
	topk();
	golden("bert-tiny");
	golden("bert-tiny-legacy-bf16");
	golden("bert-tiny-std01");

	/* a checkpoint without heads: refused, naming the tensor */
	qkv_err e;
	qkv_model *m = qkv_model_open(G "bert-tiny-st", &e);
	bert *b = m ? bert_load(m, &e) : NULL;
	bert_mlm *h = b ? bert_mlm_load(b, &e) : NULL;
	ok(b != NULL && h == NULL && strstr(e.msg, "cls.predictions") != NULL,
	    "no MLM head in bert-tiny-st: %s", h ? "(loaded)" : e.msg);
	float pooled[64] = {0}, lg[2];
	ok(b != NULL && bert_nsp_logits(b, pooled, 1, lg, &e) < 0 &&
	    strstr(e.msg, "cls.seq_relationship") != NULL,
	    "no NSP head in bert-tiny-st: %s", e.msg);
	bert_mlm_free(h);
	bert_free(b);
	qkv_model_close(m);
	done_testing();
}
