/* Fuzz target: a Hugging Face model directory as users download it, opened
 * by qkv_model_open and used (exercise.h): config.json, model.safetensors
 * or model.safetensors.index.json with its shards, and the tokenizer files.
 * The input is files separated by the 8 bytes SEP; each file's first byte
 * picks its name from names[] below, the rest is its content.  The
 * directory is made afresh for each input under $TMPDIR (or /tmp).
 * Seeds: tests/fuzz/mkseeds_model.py. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exercise.h"

#define SEP "\nQKVFILE"

static const char *const names[] = {
	"config.json", "model.safetensors", "model.safetensors.index.json",
	"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
	"vocab.txt", "vocab.json", "merges.txt", "tokenizer.json",
	"tokenizer_config.json", "special_tokens_map.json",
	"sentence_bert_config.json", "modules.json", "1_Pooling/config.json",
};
#define NNAMES (sizeof names / sizeof names[0])

static char dir[256];

static void
clear(void)
{
	char p[512];

	for (size_t i = 0; i < NNAMES; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
}

static void
cleanup(void)
{
	char p[512];

	clear();
	snprintf(p, sizeof p, "%s/1_Pooling", dir);
	rmdir(p);
	rmdir(dir);
}

static void
put(const unsigned char *s, size_t n)
{
	char p[512];
	int fd;

	if (n == 0)
		return;
	snprintf(p, sizeof p, "%s/%s", dir, names[s[0] % NNAMES]);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		abort();
	if (write(fd, s + 1, n - 1) != (ssize_t)(n - 1))
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const size_t sl = sizeof SEP - 1;
	qkv_model *m;
	qkv_err e;

	if (dir[0] == '\0') {
		const char *t = getenv("TMPDIR");
		char sub[512];
		snprintf(dir, sizeof dir, "%s/qkv-hfdir.XXXXXX",
		    t && *t ? t : "/tmp");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(sub, sizeof sub, "%s/1_Pooling", dir);
		if (mkdir(sub, 0755) < 0)
			abort();
		atexit(cleanup);
	}
	clear();
	while (size > 0) {
		const unsigned char *s = memmem(data, size, SEP, sl);
		size_t n = s ? (size_t)(s - data) : size;
		put(data, n);
		data += s ? n + sl : n;
		size -= s ? n + sl : n;
	}
	if ((m = qkv_model_open(dir, &e)) == NULL)
		return 0;
	exercise(m);
	qkv_model_close(m);
	return 0;
}
