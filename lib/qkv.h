/*
 * qkv.h - the one header for users of libqkv.
 *
 * Conventions, for every function below:
 *  - Functions that can fail take a `qkv_err *` last and return -1 (or NULL)
 *    on failure with a one-line message in err->msg, shaped
 *    "FILE: offset N: what went wrong" or "FILE: line N: ...".  The program
 *    prefixes its own name.  The library never prints and never exits.
 *  - Sizes are size_t / int64_t and every size read from a file is checked
 *    before it is used to allocate or index.
 *  - Data is little-endian on disk; hosts are assumed little-endian (checked
 *    at build time in lib/base.c).
 *
 * Sections, one per concern (lib/README describes the floors):
 *   base       errors, dtypes, half floats, checked arithmetic   base.c
 *   io         buffered input with peek, atomic output            io.c
 *   qkv        the qkv format: row streams, tensor files          qkvfile.c
 *   npy        NumPy .npy files                                   npy.c
 *   st         safetensors                                        safetensors.c
 *   model      a model as named files + named tensors             hfmodel.c
 *   nn         kernels: sgemm wrapper, layernorm, gelu, softmax   nn.c
 *   rng        random numbers                                     rng.c
 *   tokenizer  WordPiece, byte-level BPE, the common front        tokenizer.c ...
 *   bert       the encoder and its heads                          bert.c
 *   gpt2       the decoder                                        gpt2.c
 *   knn        exact nearest-neighbour search                     knn.c
 *   pretrain   NSP/MLM data recipe                                pretrain.c
 */
#ifndef QKV_H
#define QKV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define QKV_VERSION "0.1.0"

/* ==== base =================================================================== */

typedef struct qkv_err {
	char msg[1024];
} qkv_err;

/* Format a message into e (if e is non-NULL); always returns -1. */
int qkv_errf(qkv_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix e->msg with "prefix: " (e.g. a file name); returns -1. */
int qkv_errprefix(qkv_err *e, const char *prefix);

enum qkv_dtype {
	QKV_NONE = 0,
	QKV_U8 = 1, QKV_I8 = 2, QKV_U16 = 3, QKV_I16 = 4, QKV_I32 = 5,
	QKV_I64 = 6, QKV_F16 = 7, QKV_BF16 = 8, QKV_F32 = 9, QKV_F64 = 10,
	QKV_STR = 11,		/* UTF-8 strings; see formats/qkv.md */
	QKV_NDTYPE
};
size_t qkv_dtype_size(int dtype);		/* bytes per element; 0 for STR/NONE */
const char *qkv_dtype_name(int dtype);		/* "f32", "str", ... */
int qkv_dtype_parse(const char *name);		/* QKV_NONE if unknown */

float qkv_f16_to_f32(uint16_t h);
uint16_t qkv_f32_to_f16(float f);		/* round to nearest even */
float qkv_bf16_to_f32(uint16_t h);
uint16_t qkv_f32_to_bf16(float f);		/* round to nearest even */
/* Convert n elements of any numeric dtype to float. */
void qkv_to_f32(float *dst, const void *src, int dtype, size_t n);

/* Checked arithmetic: return 0 and set *r, or -1 on overflow. */
int qkv_mul_size(size_t a, size_t b, size_t *r);
int qkv_add_size(size_t a, size_t b, size_t *r);

/* Allocation that reports failure through qkv_err (never returns NULL
 * silently). */
void *qkv_malloc(size_t n, qkv_err *e);
void *qkv_calloc(size_t n, size_t size, qkv_err *e);

uint32_t qkv_crc32(uint32_t crc, const void *p, size_t n);	/* zlib's */

/* ==== io ===================================================================== */

/* Buffered input over a file descriptor, with a peek so programs can tell a
 * qkv stream from text by its magic.  Reads in large blocks. */
typedef struct qkv_in qkv_in;
/* path NULL or "-" means standard input. */
qkv_in *qkv_in_open(const char *path, qkv_err *e);
void qkv_in_close(qkv_in *in);
const char *qkv_in_name(const qkv_in *in);	/* "<stdin>" or the path */
/* Make at least n bytes visible at *p without consuming them; returns the
 * number available (< n only at end of input), -1 on a read error. */
long qkv_in_peek(qkv_in *in, size_t n, const unsigned char **p, qkv_err *e);
/* Read exactly n bytes; returns n, fewer at end of input, -1 on error. */
long qkv_in_read(qkv_in *in, void *buf, size_t n, qkv_err *e);
/* 1 if the input starts with the qkv magic. */
int qkv_in_is_qkv(qkv_in *in);
/* Next line, split on LF only, without the LF; a last line without LF
 * counts.  *line points into an internal buffer valid until the next call.
 * Returns 1 for a line, 0 at end of input, -1 on error (including a line
 * longer than maxlen bytes).  in->lineno counts lines from 1. */
int qkv_in_line(qkv_in *in, char **line, size_t *len, size_t maxlen,
    qkv_err *e);
long qkv_in_lineno(const qkv_in *in);
uint64_t qkv_in_offset(const qkv_in *in);	/* bytes consumed so far */

/* Output to standard output or, atomically, to a file: a path is written
 * to a temporary file beside it and renamed into place only by
 * qkv_out_commit, so a failed run leaves no half-written file.  Temporary
 * files are also removed if the process dies from SIGINT/SIGTERM/SIGHUP. */
typedef struct qkv_out {
	FILE *f;		/* write with stdio */
	char *path;		/* final path, NULL for stdout */
	char *tmp;		/* temporary path */
} qkv_out;
/* path NULL or "-" means standard output. */
qkv_out *qkv_out_open(const char *path, qkv_err *e);
/* Flush, check for write errors, rename into place; frees o. */
int qkv_out_commit(qkv_out *o, qkv_err *e);
/* Discard: remove the temporary file; frees o. */
void qkv_out_abort(qkv_out *o);

/* Program plumbing that neither prints nor exits: ignore nothing, restore
 * SIGPIPE to its default so `| head` ends a program quietly, and install
 * the handler that removes temporary output files on a fatal signal. */
void qkv_cli_init(void);
/* Parse numbers from option arguments: 0 ok, -1 with a message. */
int qkv_parse_long(const char *s, long lo, long hi, long *v, qkv_err *e);
int qkv_parse_double(const char *s, double lo, double hi, double *v,
    qkv_err *e);
/* Number of online CPUs, at least 1. */
int qkv_ncpu(void);
/* Progress: returns 1 if stderr is a terminal and progress is wanted. */
int qkv_progress_wanted(int quiet);

/* ==== qkv ==================================================================== */

#define QKV_MAXDIM 8
#define QKV_MAXNAME 255

/* A tensor as found in a tensor file, safetensors file or model: data
 * points into a mapping (or into memory owned by whoever returned it). */
typedef struct qkv_tensor {
	const char *name;
	int dtype;
	int ndim;
	int64_t shape[QKV_MAXDIM];
	const void *data;
	uint64_t nbytes;
} qkv_tensor;
int64_t qkv_tensor_numel(const qkv_tensor *t);

/* The magic every qkv file and stream starts with (formats/qkv.md). */
#define QKV_MAGIC "\x89QKV"

/* -- Row streams: a header declares columns, then chunks of rows follow,
 * each compressed and checksummed, then an end record with counts. */
enum qkv_colkind {
	QKV_COL_FIXED = 0,	/* each row holds one tensor of `shape` */
	QKV_COL_RAGGED = 1,	/* each row holds a 1-D run of any length */
	QKV_COL_STRING = 2	/* each row holds one UTF-8 string (dtype STR) */
};
typedef struct qkv_col {
	char name[QKV_MAXNAME + 1];
	int dtype;
	int kind;
	int ndim;			/* FIXED: per-row shape; 0 = scalar */
	int64_t shape[QKV_MAXDIM];
} qkv_col;
/* One cell of a row.  FIXED: p points at the row's elements (n is ignored
 * by the writer, set to the element count by the reader); RAGGED: p points
 * at n elements; STRING: p points at n bytes (not NUL-terminated). */
typedef struct qkv_cell {
	const void *p;
	size_t n;
} qkv_cell;

typedef struct qkv_writer qkv_writer;
/* name is used in error messages only. */
qkv_writer *qkv_writer_open(FILE *f, const char *name, const qkv_col *cols,
    int ncols, qkv_err *e);
/* Key/value metadata; only before the first row. */
int qkv_writer_meta(qkv_writer *w, const char *key, const void *val,
    size_t len, qkv_err *e);
/* zlib level 0-9 (default 1); before the first row. */
void qkv_writer_level(qkv_writer *w, int level);
int qkv_writer_row(qkv_writer *w, const qkv_cell *cells, qkv_err *e);
/* End the current chunk and fflush, so a consumer sees the rows now. */
int qkv_writer_flush(qkv_writer *w, qkv_err *e);
/* Write the end record and free w (also when it fails). */
int qkv_writer_close(qkv_writer *w, qkv_err *e);
/* Free w without writing the end record (the output is then invalid). */
void qkv_writer_free(qkv_writer *w);

typedef struct qkv_reader qkv_reader;
/* Reads the stream header, metadata and column declarations. */
qkv_reader *qkv_reader_open(qkv_in *in, qkv_err *e);
int qkv_reader_ncols(const qkv_reader *r);
const qkv_col *qkv_reader_col(const qkv_reader *r, int i);
int qkv_reader_find(const qkv_reader *r, const char *name);	/* -1 if none */
const void *qkv_reader_meta(const qkv_reader *r, const char *key,
    size_t *len);	/* NULL if absent */
/* Next row into cells[ncols]; pointers stay valid until the next call.
 * 1 = a row, 0 = clean end (end record seen and its counts match),
 * -1 = error (a truncated stream is an error, never a short result). */
int qkv_reader_next(qkv_reader *r, qkv_cell *cells, qkv_err *e);
uint64_t qkv_reader_rows(const qkv_reader *r);	/* rows returned so far */
void qkv_reader_close(qkv_reader *r);

/* -- Tensor files: uncompressed tensors aligned to 64 bytes, a table of
 * contents, metadata; opened by mapping the file. */
typedef struct qkv_file qkv_file;
qkv_file *qkv_file_open(const char *path, qkv_err *e);
/* The same over memory the caller keeps alive (fuzzing, tests). */
qkv_file *qkv_file_parse(const void *buf, size_t len, const char *name,
    qkv_err *e);
int qkv_file_verify(qkv_file *f, qkv_err *e);	/* every CRC */
int qkv_file_ntensors(const qkv_file *f);
const qkv_tensor *qkv_file_tensor(const qkv_file *f, int i);
const qkv_tensor *qkv_file_find(const qkv_file *f, const char *name);
int qkv_file_nmeta(const qkv_file *f);
const char *qkv_file_meta_key(const qkv_file *f, int i);
const void *qkv_file_meta(const qkv_file *f, const char *key, size_t *len);
void qkv_file_close(qkv_file *f);

typedef struct qkv_twriter qkv_twriter;
qkv_twriter *qkv_twriter_open(FILE *f, const char *name, qkv_err *e);
int qkv_twriter_meta(qkv_twriter *w, const char *key, const void *val,
    size_t len, qkv_err *e);
int qkv_twriter_tensor(qkv_twriter *w, const char *name, int dtype, int ndim,
    const int64_t *shape, const void *data, size_t nbytes, qkv_err *e);
int qkv_twriter_close(qkv_twriter *w, qkv_err *e);	/* frees w */
void qkv_twriter_free(qkv_twriter *w);

/* ==== npy ==================================================================== */

/* Map a .npy file (version 1-3, little-endian numeric dtypes, C order). */
typedef struct qkv_npy qkv_npy;
qkv_npy *qkv_npy_open(const char *path, qkv_err *e);
/* The same over memory the caller keeps alive (fuzzing, tests). */
qkv_npy *qkv_npy_parse(const void *buf, size_t len, const char *name,
    qkv_err *e);
const qkv_tensor *qkv_npy_tensor(const qkv_npy *n);
void qkv_npy_close(qkv_npy *n);
/* Write a header for a C-order array, then the caller writes the data. */
int qkv_npy_write_header(FILE *f, int dtype, int ndim, const int64_t *shape,
    qkv_err *e);
int qkv_npy_write(FILE *f, int dtype, int ndim, const int64_t *shape,
    const void *data, qkv_err *e);

/* ==== st ===================================================================== */

/* safetensors: an 8-byte header length, a JSON header, then data.  The
 * file is mapped; tensors point into the mapping.  F32, F16, BF16, F64,
 * I64, I32, I16, I8, U8 and BOOL (as u8) are read. */
typedef struct qkv_st qkv_st;
qkv_st *qkv_st_open(const char *path, qkv_err *e);
/* The same over memory the caller keeps alive (fuzzing, tests). */
qkv_st *qkv_st_parse(const void *buf, size_t len, const char *name,
    qkv_err *e);
int qkv_st_ntensors(const qkv_st *st);
const qkv_tensor *qkv_st_tensor(const qkv_st *st, int i);	/* file order */
const qkv_tensor *qkv_st_find(const qkv_st *st, const char *name);
const char *qkv_st_meta(const qkv_st *st, const char *key);	/* __metadata__ */
void qkv_st_close(qkv_st *st);

/* ==== model ================================================================== */

/* A model seen as named files (config.json, vocab.txt, tokenizer.json,
 * 1_Pooling/config.json, ...) and named tensors, whatever it came from:
 *  - a Hugging Face directory (model.safetensors, or sharded with
 *    model.safetensors.index.json);
 *  - a qkv model file made by `pack -i` (files stored as metadata
 *    "file:NAME", tensors mapped);
 *  - a single tokenizer file: vocab.txt, tokenizer.json, or vocab.json
 *    (with merges.txt beside it): a model with files and no tensors.
 * Tensors are as stored (any dtype); the model code converts. */
typedef struct qkv_model qkv_model;
qkv_model *qkv_model_open(const char *path, qkv_err *e);
/* The -m argument, else $QKV_MODEL, else NULL. */
const char *qkv_model_default(const char *arg);
const char *qkv_model_path(const qkv_model *m);
/* A file's bytes, NUL-terminated for convenience (len excludes the NUL);
 * NULL if the model has no such file.  Valid until qkv_model_close. */
const char *qkv_model_file(qkv_model *m, const char *name, size_t *len);
int qkv_model_ntensors(const qkv_model *m);
const qkv_tensor *qkv_model_tensor_at(const qkv_model *m, int i);
const qkv_tensor *qkv_model_tensor(const qkv_model *m, const char *name);
void qkv_model_close(qkv_model *m);

/* ==== nn ===================================================================== */

/* Kernels shared by the models (nn.c).  Row-major flat float arrays; shapes
 * are given as (rows, cols).  None allocates. */
void nn_set_threads(int n);		/* OpenBLAS threads */
int nn_get_threads(void);
/* C (M,N) = alpha op(A) (M,K) op(B) (K,N) + beta C; trans: 0 no, 1 yes.
 * The one wrapper over cblas_sgemm: every matrix product goes here. */
void nn_sgemm(int transa, int transb, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc);
/* out (N,OC) = inp (N,C) w^T + b; w (OC,C) as PyTorch Linear; b may be NULL */
void nn_linear(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC);
/* out (N,OC) = inp (N,C) w + b; w (C,OC) as GPT-2 Conv1D; b may be NULL */
void nn_conv1d(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC);
/* out (N,C) = LayerNorm(inp) * w + b over C; out may equal inp */
void nn_layernorm(float *out, const float *inp, const float *w,
    const float *b, int N, int C, float eps);
void nn_gelu_erf(float *x, size_t n);	/* exact, in place */
void nn_gelu_tanh(float *x, size_t n);	/* tanh approximation, in place */
void nn_softmax(float *x, int rows, int n);	/* each row, in place */
void nn_add(float *x, const float *y, size_t n);	/* x += y */

/* Workers for nn_matmul and nn_attention_causal (nn.c): the work is split
 * by output columns (or heads) so results do not depend on the count.
 * Each worker calls BLAS itself: with more than one worker, keep OpenBLAS
 * at one thread (nn_set_threads(1)).  Default 1 (the caller only). */
int nn_set_workers(int n, qkv_err *e);
int nn_get_workers(void);
/* A weight matrix kept in its stored dtype (F32, F16 or BF16), row-major
 * (rows, cols); data need not be aligned. */
typedef struct nn_weight {
	const void *data;
	int dtype;
	int rows, cols;
} nn_weight;
/* dst[n] = src[n] widened to f32 (F32, F16 or BF16). */
void nn_widen(float *dst, const void *src, int dtype, size_t n);
/* out (N,OC) = inp (N,C) op(W) + b, accumulated in f32; b may be NULL.
 * trans 0: W is (C,OC) [in, out] as GPT-2 Conv1D; trans 1: W is (OC,C)
 * [out, in] as PyTorch Linear (and a tied LM head).  A few rows go through
 * GEMV kernels that widen F16/BF16 in registers; more rows through
 * nn_sgemm, F16/BF16 widened one column slice at a time. */
void nn_matmul(float *out, const float *inp, const nn_weight *w, int trans,
    const float *b, int N, int C, int OC);
/* Causal self-attention of T new queries over a KV cache of past+T rows:
 * q (T, n_head*hd) with row stride ldq; k, v (past+T, n_head*hd) with row
 * stride ldkv (the new rows already written); out (T, n_head*hd);
 * att scratch (n_head, T, past+T).  Query i sees keys 0..past+i;
 * scores = q.k * scale, softmax in f32. */
void nn_attention_causal(float *out, const float *q, int ldq, const float *k,
    const float *v, int ldkv, float *att, int T, int past, int n_head,
    int hd, float scale);

/* ==== rng ==================================================================== */

/* ==== tokenizer ============================================================== */

/* ==== bert =================================================================== */

/* ==== gpt2 =================================================================== */

/* A GPT-2 family decoder (gpt2.c): gpt2, distilgpt2, gpt2-medium/large/xl
 * and any checkpoint of that shape, from a qkv_model.  Weights stay mapped
 * in their stored dtype (F32, F16, BF16); small vectors are widened. */
typedef struct gpt2_config {
	int n_vocab, n_ctx, n_embd, n_head, n_layer, n_inner;
	float eps;		/* layer_norm_epsilon */
	int eos;		/* eos_token_id, -1 if none */
	int act;		/* GPT2_GELU_TANH, GPT2_GELU_ERF, GPT2_RELU */
	int scale_attn;		/* divide scores by sqrt(head_dim) */
	int scale_by_layer;	/* and by layer index + 1 */
	int tied;		/* lm_head is wte (tie_word_embeddings) */
	int dtype;		/* of the big matrices, as stored */
} gpt2_config;
enum { GPT2_GELU_TANH, GPT2_GELU_ERF, GPT2_RELU };

typedef struct gpt2 gpt2;
/* Reads config.json (or, without one, infers the shape from the tensors
 * with head_dim 64) and finds every tensor, with or without the
 * "transformer." prefix; checks every shape. */
gpt2 *gpt2_open(qkv_model *m, qkv_err *e);
const gpt2_config *gpt2_cfg(const gpt2 *g);
void gpt2_close(gpt2 *g);

/* One sequence being decoded: the KV cache and the activations for up to
 * `chunk` tokens at a time (longer inputs are fed in chunks). */
typedef struct gpt2_state gpt2_state;
gpt2_state *gpt2_state_new(const gpt2 *g, int chunk, qkv_err *e);
void gpt2_state_free(gpt2_state *s);
void gpt2_state_reset(gpt2_state *s);	/* forget the sequence */
int gpt2_state_len(const gpt2_state *s);	/* tokens in the cache */
/* Feed T tokens after those in the cache.  logits: if all, (T, n_vocab)
 * for every new position, else (n_vocab) for the last one only; may be
 * NULL.  Fails (with nothing fed) on ids out of range or when the cache
 * would exceed n_ctx. */
int gpt2_forward(gpt2_state *s, const int32_t *ids, int T, float *logits,
    int all, qkv_err *e);
/* log p(ids[t] | ids[<t]) for t = 1..T-1 into lp[T-1] (natural log),
 * from an empty cache; the first token has no prediction.  T <= n_ctx. */
int gpt2_score(gpt2_state *s, const int32_t *ids, int T, double *lp,
    qkv_err *e);

/* Sampling (sampler.c): the next id from a row of logits. */
typedef struct gpt2_sampler {
	double temperature;	/* 0: greedy, ties to the lowest id */
	int top_k;		/* 0: off */
	double top_p;		/* 1: off */
	double rep_penalty;	/* 1: off (CTRL: divide positive logits,
				 * multiply negative ones, of seen ids) */
	uint64_t seed;
} gpt2_sampler;
/* Work space for one vocabulary size. */
typedef struct gpt2_pick gpt2_pick;
gpt2_pick *gpt2_pick_new(int n_vocab, qkv_err *e);
void gpt2_pick_free(gpt2_pick *p);
/* Mark ids as seen for the repetition penalty (the prompt, then each
 * pick); gpt2_pick_clear forgets them. */
void gpt2_pick_seen(gpt2_pick *p, const int32_t *ids, int n);
void gpt2_pick_clear(gpt2_pick *p);
/* Choose the next id from logits (modified in place).  The random draw
 * depends only on (seed, item, step): item is the prompt's number, step
 * the token's, so the same seed gives the same ids with any thread count
 * and in any order of prompts. */
int32_t gpt2_pick_next(gpt2_pick *p, const gpt2_sampler *s, float *logits,
    uint64_t item, uint64_t step);

/* ==== knn ==================================================================== */

/* ==== pretrain =============================================================== */

#endif
