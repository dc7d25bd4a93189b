/* Unit tests: npy, safetensors and model loading on the golden data. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "qkv.h"
#include "tap.h"

#define G "tests/data/golden/"

int
main(void)
{
	qkv_err e = {{0}};
	qkv_npy *n;
	qkv_st *st;
	qkv_model *m;
	const qkv_tensor *t;

	/* half floats: every f16 value converts to f32 and back exactly */
	int bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = qkv_f16_to_f32((uint16_t)h);
		if (!isnan(f) && qkv_f32_to_f16(f) != h)
			bad++;
	}
	ok(bad == 0, "f16 round trip of all 65536 values (%d bad)", bad);
	ok(qkv_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00,
	    "f16 ties round to even (down)");
	ok(qkv_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02,
	    "f16 ties round to even (up)");
	ok(qkv_f32_to_f16(65520.0f) == 0x7c00, "f16 overflow to inf");
	ok(qkv_f16_to_f32(0x0001) == ldexpf(1, -24), "f16 smallest subnormal");
	ok(qkv_f32_to_bf16(1.0f) == 0x3f80 && qkv_bf16_to_f32(0x3f80) == 1.0f,
	    "bf16 of 1.0");
	ok(qkv_f32_to_bf16(1.00390625f) == 0x3f80,
	    "bf16 tie 1+2^-8 rounds to even (down)");

	n = qkv_npy_open(G "bert-tiny/ref/batch/input_ids.npy", &e);
	ok(n != NULL, "npy opens (%s)", n ? "" : e.msg);
	if (n) {
		t = qkv_npy_tensor(n);
		ok(t->dtype == QKV_I64 && t->ndim == 2 && t->shape[0] == 3 &&
		    t->shape[1] == 28, "npy dtype and shape");
		int64_t first;
		memcpy(&first, t->data, 8);
		ok(first == 2, "npy first id is [CLS]=2 (%lld)", (long long)first);
		qkv_npy_close(n);
	}
	ok(qkv_npy_open("tests/data/golden/README.md", &e) == NULL &&
	    strstr(e.msg, "not a .npy file") != NULL, "npy rejects text: %s",
	    e.msg);

	st = qkv_st_open(G "bert-tiny/model.safetensors", &e);
	ok(st != NULL, "safetensors opens");
	if (st) {
		t = qkv_st_find(st, "bert.embeddings.word_embeddings.weight");
		ok(t && t->dtype == QKV_F32 && t->ndim == 2 &&
		    t->shape[0] == 1000 && t->shape[1] == 64,
		    "word embeddings are f32 [1000, 64]");
		qkv_st_close(st);
	}
	st = qkv_st_open(G "gpt2-tiny-legacy-f16/model.safetensors", &e);
	ok(st != NULL && qkv_st_find(st, "h.0.attn.masked_bias") != NULL &&
	    qkv_st_find(st, "wte.weight")->dtype == QKV_F16,
	    "f16 legacy safetensors");
	qkv_st_close(st);

	/* bad headers: the 8-byte length is filled in from the JSON text */
	static const struct {
		long hlen;		/* -1: the JSON's own length */
		const char *json, *msg;
	} badst[] = {
		{0, NULL, "too short"},
		{0x7fffffffffffffL, "{}", "header length"},
		{-1, "{,", "bad JSON"},
		{-1, "[]", "not an object"},
		{-1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
		    "\"data_offsets\":[0,8]}}", "outside"},
		{-1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],"
		    "\"data_offsets\":[0,0]}}", "bad shape"},
		{-1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,"
		    "4],\"data_offsets\":[0,0]}}", "overflows"},
		{-1, "{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],"
		    "\"data_offsets\":[0,0]}}", "unsupported dtype"},
	};
	for (size_t i = 0; i < sizeof badst / sizeof badst[0]; i++) {
		unsigned char buf[256];
		size_t len = 0;
		if (badst[i].json != NULL) {
			size_t j = strlen(badst[i].json);
			uint64_t h = badst[i].hlen < 0 ? j : (uint64_t)badst[i].hlen;
			for (int b = 0; b < 8; b++)
				buf[b] = (unsigned char)(h >> (8 * b));
			memcpy(buf + 8, badst[i].json, j);
			len = 8 + j;
		}
		st = qkv_st_parse(buf, len, "x.safetensors", &e);
		ok(st == NULL && strstr(e.msg, badst[i].msg) != NULL,
		    "bad safetensors %zu rejected: %s", i, e.msg);
		qkv_st_close(st);
	}

	m = qkv_model_open(G "bert-tiny-st", &e);
	ok(m != NULL, "model dir opens");
	if (m) {
		size_t len;
		const char *cfg = qkv_model_file(m, "1_Pooling/config.json", &len);
		ok(cfg && strstr(cfg, "pooling_mode_mean_tokens"),
		    "model file in a subdirectory");
		ok(qkv_model_file(m, "no-such-file", &len) == NULL,
		    "absent file is NULL");
		ok(qkv_model_tensor(m, "embeddings.word_embeddings.weight"),
		    "tensor by name");
		ok(qkv_model_ntensors(m) > 10, "tensors listed");
		qkv_model_close(m);
	}
	m = qkv_model_open("tests/data/vocab/gpt2/vocab.json", &e);
	ok(m != NULL && qkv_model_file(m, "merges.txt", NULL) != NULL &&
	    qkv_model_file(m, "vocab.json", NULL) != NULL &&
	    qkv_model_ntensors(m) == 0, "single vocab.json with merges.txt");
	qkv_model_close(m);
	/* a qkv model file: files from "file:" metadata, tensors mapped */
	{
		char path[] = "/tmp/qkv-model-XXXXXX";
		int fd = mkstemp(path);
		FILE *f = fdopen(fd, "wb");
		qkv_twriter *w = qkv_twriter_open(f, path, &e);
		float v[6] = {1, 2, 3, 4, 5, 6};
		int64_t shape[2] = {2, 3};
		ok(w && qkv_twriter_meta(w, "file:config.json", "{\"a\":1}", 7,
		    &e) == 0 && qkv_twriter_tensor(w, "w", QKV_F32, 2, shape, v,
		    sizeof v, &e) == 0 && qkv_twriter_close(w, &e) == 0,
		    "write a qkv model file");
		fclose(f);
		m = qkv_model_open(path, &e);
		ok(m != NULL, "qkv model file opens (%s)", m ? "" : e.msg);
		if (m) {
			size_t len = 0;
			const char *c = qkv_model_file(m, "config.json", &len);
			ok(c && len == 7 && strcmp(c, "{\"a\":1}") == 0,
			    "file from metadata, NUL-terminated");
			t = qkv_model_tensor(m, "w");
			ok(t && t->dtype == QKV_F32 && t->shape[1] == 3 &&
			    ((const float *)t->data)[5] == 6.0f &&
			    qkv_model_ntensors(m) == 1, "tensor mapped");
			ok(qkv_model_file(m, "vocab.txt", NULL) == NULL,
			    "absent file");
			qkv_model_close(m);
		}
		unlink(path);
	}
	ok(qkv_model_open("tests/data/nonexistent", &e) == NULL &&
	    strstr(e.msg, "No such file"), "missing model: %s", e.msg);
	done_testing();
}
