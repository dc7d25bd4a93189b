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
#include <string.h>

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
/* Element i of an integer array (U8 .. I64; any other dtype reads as I64),
 * widened to int64; no alignment needed.  Inline: it sits in id loops. */
static inline int64_t
qkv_int_at(const void *src, int dtype, size_t i)
{
	const unsigned char *p = src;

	switch (dtype) {
	case QKV_U8: return p[i];
	case QKV_I8: return (int8_t)p[i];
	case QKV_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
	case QKV_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
	case QKV_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
	default: { int64_t v; memcpy(&v, p + 8 * i, 8); return v; }
	}
}

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
/* Level 0 if f is a pipe or socket: the next stage inflates at once, and
 * compressing costs both ends more time than the bytes cost. */
void qkv_writer_pipe_level(qkv_writer *w, FILE *f);
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

/* -- Beyond the basics: limits, kinds, chunk-level access. */
#define QKV_MAXREC (1u << 30)		/* bytes in one record body */
#define QKV_MAXCOLS 1024
#define QKV_MAXCHUNKROWS (1u << 24)
enum qkv_codec { QKV_CODEC_RAW = 0, QKV_CODEC_ZLIB = 1, QKV_CODEC_SHUFFLE = 2 };
const char *qkv_codec_name(int codec);		/* "raw", "zlib", "shuffle" */
/* The kind of a qkv file from its first bytes: 'S' (row stream), 'T'
 * (tensor file), or 0 if p[0..n) is not a version-1 qkv preamble. */
int qkv_kind(const void *p, size_t n);
const char *qkv_col_kind_name(int kind);	/* "fixed", "ragged", "string" */

/* Target uncompressed bytes per chunk (default 1 MiB); before the first
 * row.  Smaller chunks mean less latency and memory, more overhead. */
void qkv_writer_chunk(qkv_writer *w, size_t bytes);
/* Threads that compress chunks while the caller makes rows (default: one
 * per CPU but one, at most 3; 0 compresses in the caller's thread), at
 * most 16; before the first row.  The bytes written do not depend on it. */
void qkv_writer_threads(qkv_writer *w, int n);
/* A reader over memory the caller keeps alive (fuzzing, tests). */
qkv_reader *qkv_reader_open_mem(const void *buf, size_t len,
    const char *name, qkv_err *e);
int qkv_reader_nmeta(const qkv_reader *r);
const char *qkv_reader_meta_key(const qkv_reader *r, int i);
/* Totals for column i over the chunks read so far. */
typedef struct qkv_colstat {
	uint64_t raw;		/* bytes of content, uncompressed */
	uint64_t stored;	/* bytes stored */
	uint32_t crc;		/* CRC-32 of all its contents, concatenated */
	unsigned codecs;	/* bit 1 << codec for every codec seen */
} qkv_colstat;
const qkv_colstat *qkv_reader_colstat(const qkv_reader *r, int i);
uint64_t qkv_reader_chunks(const qkv_reader *r);	/* chunks read so far */
/* Read the next chunk without decompressing it (its framing and record
 * CRC are checked, its content CRCs are not); rows of the current chunk not
 * yet returned are dropped.  1 = a chunk, 0 = clean end, -1 = error.
 * qkv_reader_rows counts the skipped chunk's rows as returned. */
int qkv_reader_skip(qkv_reader *r, qkv_err *e);

/* A tensor file read whole from an input that cannot be mapped (a pipe). */
qkv_file *qkv_file_read(qkv_in *in, qkv_err *e);
uint32_t qkv_file_crc(const qkv_file *f, int i);	/* tensor i's CRC */
uint64_t qkv_file_offset(const qkv_file *f, int i);	/* and its offset */

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
/* End OpenBLAS's worker threads: they start with every program linked to
 * it and spin (sched_yield) for a while, taking the CPU from the stages of
 * a pipeline that never multiply.  A later product starts them again. */
void nn_stop_threads(void);
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
/* Vectorised versions (AVX-512 / AVX2 / baseline chosen at load time) for
 * the hot loops of the encoders: exp within 2 ulp; GELU within 1e-6 of the
 * exact value, like PyTorch's own vectorised GELU. */
void nn_exp_fast(float *x, size_t n);		/* in place */
void nn_gelu_erf_fast(float *x, size_t n);	/* exact-erf GELU, in place */
void nn_gelu_tanh_fast(float *x, size_t n);	/* tanh GELU, in place */
void nn_softmax_fast(float *x, int rows, int n);	/* each row, in place */
/* Each row of x (rows,n) divided by max(its L2 norm, eps), in place. */
void nn_l2_normalize(float *x, int rows, int n, float eps);

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
/* out[m, n0..n1) = bias + inp (M,K) op(W)[:, n0..n1) for a few rows M
 * (up to a few hundred), W read in place in its dtype (F16/BF16 widened in
 * registers, f32 sums): trans 0: W (K,N) [in, out]; trans 1: W (N,K)
 * [out, in] (F16/BF16: panels widened and transposed into scratch).  inp has
 * row stride lda, out ldo; bias (N) may be NULL; scratch holds
 * nn_gemm_scratch() floats.  Each output is bias plus its K products
 * fused-multiply-added in order: the same bits on every ISA path and for
 * any split into column ranges (gemm.c).  Except f32 [out, in]: there each
 * output is a dot product summed in vector lanes, W's rows read where they
 * lie, the same bits for any split of the columns but not across paths. */
void nn_gemm(float *out, int ldo, const float *inp, int lda,
    const nn_weight *w, int trans, const float *bias, int M, int K, int n0,
    int n1, float *scratch);
size_t nn_gemm_scratch(void);
/* The same product for many rows (hundreds and up), packed: W first made
 * into panels of NN_PANEL columns (k-major, f32) by nn_pgemm_pack, panels
 * [p0, p1) into bp (nn_pgemm_panels(N) * K * NN_PANEL floats, 64-byte
 * aligned; tmp holds NN_PANEL * 1024 floats); then nn_pgemm computes
 * C[m0..m1) x panels [p0, p1) = bias + A (M,K) . panels, each output its K
 * products fused-multiply-added in order: the same bits for any split,
 * tiling or ISA path, and as nn_gemm's broadcast tiles; act (NN_ACT_*)
 * is applied to each tile as it is finished.  scratch holds
 * nn_pgemm_scratch() floats.  nn_matmul_many runs both on the workers. */
#define NN_PANEL 32
size_t nn_pgemm_panels(int N);
size_t nn_pgemm_scratch(void);
void nn_pgemm_pack(float *bp, const nn_weight *w, int trans, int K, int N,
    int p0, int p1, float *tmp);
void nn_pgemm(float *C, int ldc, const float *A, int lda, const float *bp,
    const float *bias, int K, int N, int m0, int m1, int p0, int p1,
    int act, float *scratch);
/* For up to a few hundred rows: nn_pgemm_packa packs tiles [t0, t1) of
 * the nn_pgemm_tiles(M) tiles of A (M,K) for the whole of K into ap (M * K
 * floats), then nn_pgemm_jit computes panels [p0, p1) from it, packing one
 * panel of W at a time into scratch (nn_pgemm_jit_scratch(K) floats) while
 * fetching the next: the same bits as nn_pgemm. */
int nn_pgemm_tiles(int M);
void nn_pgemm_packa(float *ap, const float *A, int lda, int M, int K, int t0,
    int t1);
size_t nn_pgemm_jit_scratch(int K);
void nn_pgemm_jit(float *C, int ldc, const float *ap, const nn_weight *w,
    int trans, const float *bias, int M, int K, int N, int p0, int p1,
    int act, float *scratch);
/* C (M,N) at ldc = A (M,K) op(W) on the calling thread, f32 W with rows
 * ldw floats apart: trans 0 W (K,N), trans 1 W (N,K); for attention's
 * small products, in nn_pgemm's order.  scratch: nn_pgemm_small_scratch(M,
 * K) floats, 64-byte aligned. */
size_t nn_pgemm_small_scratch(int M, int K);
void nn_pgemm_small(float *C, int ldc, const float *A, int lda, const float *W,
    int ldw, int trans, int M, int K, int N, float *scratch);
/* out (M,N) at row stride ldo = act(bias + inp (M,K) op(W)), inp at lda,
 * through nn_pgemm on the workers; -1 if the panel buffer cannot be had. */
int nn_matmul_many(float *out, int ldo, const float *inp, int lda,
    const nn_weight *w, int trans, const float *bias, int M, int K, int N,
    int act);
/* nn_matmul, then act (NN_ACT_*) on the output: in the GEMM path each
 * worker applies it to the columns it just made, while they are in cache. */
enum { NN_ACT_NONE, NN_ACT_GELU_TANH, NN_ACT_GELU_ERF, NN_ACT_RELU };
void nn_matmul_act(float *out, const float *inp, const nn_weight *w,
    int trans, const float *b, int N, int C, int OC, int act);
void nn_activate(float *x, size_t n, int act);	/* in place */
/* A pre-LN decoder's residual add and next LayerNorm, over the workers by
 * rows: x (N,C) += y (y may be NULL, may equal out), out (N,C) = LN(x) *
 * w + b (sums in float lanes, as nn_residual_layernorm). */
void nn_add_layernorm(float *x, const float *y, float *out, const float *w,
    const float *b, int N, int C, float eps);
/* The SIMD level the kernels use: 2 AVX-512F, 1 AVX2+FMA+F16C, 0 plain C
 * (QKV_SIMD=avx2 or none forces a lower one). */
int nn_simd(void);
/* Causal self-attention of T new queries over a KV cache of past+T rows:
 * q (T, n_head*hd) with row stride ldq; k, v (past+T, n_head*hd) with row
 * stride ldkv (the new rows already written); out (T, n_head*hd);
 * att scratch (n_head, T, past+T).  Query i sees keys 0..past+i;
 * scores = q.k * scale, softmax in f32. */
void nn_attention_causal(float *out, const float *q, int ldq, const float *k,
    const float *v, int ldkv, float *att, int T, int past, int n_head,
    int hd, float scale);

/* out (N,OC) = inp (N,C) w^T + b, w (OC,C) f32 as PyTorch Linear, spread
 * over the workers with as little repacking of inp as the size allows;
 * results do not depend on the number of workers. */
void nn_linear_workers(float *out, const float *inp, const float *w,
    const float *b, int N, int C, int OC);
/* The same, then act (NN_ACT_*) on out: in the product's tiles when the
 * rows are many, else in a pass of its own. */
void nn_linear_act(float *out, const float *inp, const float *w,
    const float *b, int N, int C, int OC, int act);
/* The pieces of a bidirectional encoder layer, spread over the workers
 * (by rows, or by sequence and head), so with workers keep OpenBLAS at one
 * thread.  x (N,C) = LN(x + y + bias) * w + b; y and bias may be NULL. */
void nn_residual_layernorm(float *x, const float *y, const float *bias,
    const float *w, const float *b, int N, int C, float eps);
/* x (N,C) = gelu_erf(x + bias), with the vectorised exact GELU. */
void nn_bias_gelu_erf(float *x, const float *bias, int N, int C);
/* Global (unmasked) attention of each of nseq packed sequences to itself:
 * sequence s has len[s] rows from row off[s]; q, k, v have row stride ld,
 * out ldo; head h is columns h*hd .. h*hd+hd-1.  out_h = softmax(q_h k_h^T
 * * scale) v_h, computed per sequence and head, in row blocks when
 * len^2 exceeds a worker's scratch. */
void nn_attention(float *out, int ldo, const float *q, const float *k,
    const float *v, int ld, const int *len, const size_t *off, int nseq,
    int nhead, int hd, float scale);

/* ==== rng ==================================================================== */

/* Keyed streams for reproducible parallel work: Philox4x32-10 (Random123),
 * counter = (item, purpose, block), key = seed.  The numbers of one
 * (seed, item, purpose) depend on nothing else, so sharded or parallel runs
 * draw exactly what one sequential run draws.  Never shared between
 * threads; a qkv_rng is a few words on the stack. */
#define QKV_RNG_BUF 16	/* numbers made at a time: four blocks */
typedef struct qkv_rng {
	uint32_t key[2], ctr[4], out[QKV_RNG_BUF];
	int avail;
} qkv_rng;
/* One Philox4x32-10 block (for tests against the published answers). */
void qkv_philox4x32(const uint32_t ctr[4], const uint32_t key[2],
    uint32_t out[4]);
void qkv_rng_init(qkv_rng *r, uint64_t seed, uint64_t item, uint32_t purpose);
uint32_t qkv_rng_u32(qkv_rng *r);
uint64_t qkv_rng_u64(qkv_rng *r);
double qkv_rng_uniform(qkv_rng *r);		/* [0, 1), 53 bits */
uint64_t qkv_rng_below(qkv_rng *r, uint64_t n);	/* [0, n) unbiased; 0 if n <= 1 */
/* Fisher-Yates from the back: x[i] swaps with x[below(i + 1)], i = n-1..1. */
void qkv_rng_shuffle32(qkv_rng *r, int32_t *x, size_t n);

/* CPython's random.Random: MT19937 seeded as random.Random(seed) is for an
 * int seed, with random(), getrandbits(), randint() and shuffle() drawing
 * exactly what CPython 3 draws (_randbelow by getrandbits and rejection). */
typedef struct qkv_mt {
	uint32_t mt[624];
	int mti;
} qkv_mt;
void qkv_mt_seed(qkv_mt *m, int64_t seed);	/* random.Random(seed) */
/* A seed given as n 32-bit words of abs(seed), least significant first
 * (any Python int); n == 0 is seed 0. */
void qkv_mt_seed_words(qkv_mt *m, const uint32_t *key, size_t n);
uint32_t qkv_mt_u32(qkv_mt *m);			/* genrand_uint32 */
double qkv_mt_random(qkv_mt *m);		/* random() */
uint64_t qkv_mt_getrandbits(qkv_mt *m, int k);	/* 0 < k <= 64 */
uint64_t qkv_mt_below(qkv_mt *m, uint64_t n);	/* _randbelow(n), n > 0 */
/* randint(a, b), a <= b, b - a + 1 < 2^64. */
int64_t qkv_mt_randint(qkv_mt *m, int64_t a, int64_t b);
/* shuffle(x) over n elements of size bytes. */
void qkv_mt_shuffle(qkv_mt *m, void *base, size_t n, size_t size);

/* ==== tokenizer ============================================================== */

/* A tokenizer with the semantics of Hugging Face `tokenizers` (the Rust
 * "fast" tokenizers): BERT WordPiece (BertNormalizer, BertPreTokenizer,
 * WordPiece) or GPT-2 byte-level BPE.  Loaded from a model's files:
 * tokenizer.json if present, else vocab.txt (WordPiece), else vocab.json
 * + merges.txt (byte-level BPE); tokenizer_config.json supplies
 * do_lower_case, strip_accents, tokenize_chinese_chars and the special
 * tokens' spellings.  Read-only once opened: threads share one. */
typedef struct qkv_tok qkv_tok;
enum qkv_tok_kind { QKV_TOK_WORDPIECE = 1, QKV_TOK_BPE = 2 };
/* Roles of special tokens (qkv_tok_special). */
enum qkv_tok_role {
	QKV_TOK_PAD, QKV_TOK_UNK, QKV_TOK_CLS, QKV_TOK_SEP, QKV_TOK_MASK,
	QKV_TOK_BOS, QKV_TOK_EOS,	/* GPT-2: both <|endoftext|> */
	QKV_TOK_NROLES
};

qkv_tok *qkv_tok_open(qkv_model *m, qkv_err *e);
void qkv_tok_close(qkv_tok *t);
int qkv_tok_kind(const qkv_tok *t);
/* Ids run from 0 to size-1 (model vocabulary and added tokens). */
int32_t qkv_tok_vocab_size(const qkv_tok *t);
/* The token string of an id as the vocabulary spells it (GPT-2: in the
 * byte-level alphabet, "Ġthe"); NULL if the id has none. */
const char *qkv_tok_token(const qkv_tok *t, int32_t id, size_t *len);
/* Id of a token string (vocabulary or added token), -1 if none. */
int32_t qkv_tok_id(const qkv_tok *t, const char *tok, size_t len);
/* Id of the special token with a role, -1 if the model has none. */
int32_t qkv_tok_special(const qkv_tok *t, int role);
/* 1 if id is an added special token ([CLS], <|endoftext|>, ...). */
int qkv_tok_is_special(const qkv_tok *t, int32_t id);
/* 1 if id is a WordPiece continuation ("##ing"), for whole-word masking. */
int qkv_tok_is_subword(const qkv_tok *t, int32_t id);
/* Number of special tokens QKV_TOK_SPECIALS adds to one sequence (pair
 * = 0) or to a pair (pair = 1). */
int qkv_tok_nadded(const qkv_tok *t, int pair);

/* An encoding: the result of qkv_tok_encode, and the scratch memory that
 * makes encoding allocation-free once warm.  One per thread. */
typedef struct qkv_tokenc {
	int32_t *ids;		/* n token ids */
	uint8_t *types;		/* n token type ids (0, or 1 in a pair's B) */
	uint32_t *offs;		/* 2n byte offsets [start, end) when asked:
				 * into a for A's tokens, into b for B's;
				 * special tokens get 0 0 */
	size_t n;
	size_t a0, a1, b0, b1;	/* A's tokens are [a0, a1), B's [b0, b1) */
	size_t cap;
	struct qkv_tokscratch *s;
} qkv_tokenc;
qkv_tokenc *qkv_tokenc_new(qkv_err *e);
void qkv_tokenc_free(qkv_tokenc *x);

#define QKV_TOK_SPECIALS 0x01	/* add the post-processor's special tokens */
#define QKV_TOK_PLAIN	 0x02	/* special-token spellings are plain text */
#define QKV_TOK_BYTES	 0x04	/* BPE: invalid UTF-8 bytes stay raw bytes */
#define QKV_TOK_OFFSETS	 0x08	/* fill offs */
#define QKV_TOK_SKIP_SPECIAL 0x10	/* decode: leave special tokens out */
/* Encode a (and, if b is non-NULL, the pair a, b) into x.  Invalid UTF-8
 * becomes U+FFFD per maximal invalid subpart (unless QKV_TOK_BYTES);
 * maxlen > 0 truncates to maxlen tokens, specials included, the longer
 * sequence of a pair first.  Returns 0, or -1 if maxlen cannot hold the
 * special tokens or memory runs out. */
int qkv_tok_encode(const qkv_tok *t, qkv_tokenc *x, const char *a,
    size_t alen, const char *b, size_t blen, int flags, size_t maxlen,
    qkv_err *e);
/* Decode ids to text (HF decode; GPT-2: the exact bytes, not repaired).
 * The result lives in x until its next use; NULL on an unknown id. */
const char *qkv_tok_decode(const qkv_tok *t, qkv_tokenc *x,
    const int32_t *ids, size_t n, int flags, size_t *len, qkv_err *e);

/* ==== bert =================================================================== */

/* BERT-family encoders (bert.c).  Loads Hugging Face checkpoints
 * (BertModel, BertForPreTraining, BertForMaskedLM, ... with or without the
 * "bert." prefix, LayerNorm gamma/beta, sentence-transformers layouts) in
 * F32, F16, BF16 or F64: aligned F32 weights are used in place from the
 * mapping, others are converted to f32 once at load.  Computes in f32,
 * every product through nn_sgemm.
 *
 * Batches are packed: n sequences of len[i] tokens lie one after another
 * in ids (and types, and the (N,H) hidden states, N = sum of len), with no
 * padding.  A bert is not safe for use by two threads at once (it owns its
 * workspace). */
enum { BERT_GELU, BERT_GELU_TANH, BERT_RELU };
typedef struct bert_config {
	int vocab, hidden, layers, heads, intermediate;
	int max_positions, type_vocab, pad_id;
	int act;			/* BERT_GELU (exact erf), ... */
	float eps;			/* LayerNorm epsilon */
} bert_config;

/* Parse a config.json (text, NUL-terminated; file names it in errors):
 * the model must be a BERT (model_type "bert", Bert* architectures),
 * sizes in range, absolute positions, a supported hidden_act. */
int bert_config_parse(bert_config *c, const char *text, const char *file,
    qkv_err *e);

typedef struct bert bert;
/* m must outlive the bert.  Errors name the model and the tensor:
 * unknown architectures, missing tensors, shape mismatches. */
bert *bert_load(qkv_model *m, qkv_err *e);
void bert_free(bert *b);
const bert_config *bert_cfg(const bert *b);
/* The model holding the weights and config (m, or the sentence-transformers
 * Transformer module's directory when weights live there). */
qkv_model *bert_model(bert *b);
/* A weight by canonical name, as f32, shape checked: the Hugging Face name
 * without the model's prefix ("bert." or none) and with LayerNorm.weight /
 * .bias for .gamma / .beta: "embeddings.word_embeddings.weight",
 * "encoder.layer.0.output.dense.bias", "pooler.dense.weight", and heads
 * outside the prefix such as "cls.predictions.bias".  cols is 0 for a 1-D
 * tensor.  Converted once and owned by b; NULL with an error naming the
 * tensor if missing or of another shape. */
const float *bert_weight(bert *b, const char *name, int64_t rows,
    int64_t cols, qkv_err *e);
/* Check ids (0 <= id < vocab), types (NULL: all 0) and lengths (1 to
 * max_positions): the error names the sequence (from 1) and token. */
int bert_check_ids(const bert *b, const int32_t *ids, const int32_t *types,
    const int *len, int n, qkv_err *e);
/* hidden (N,H) = the last hidden states (after the last LayerNorm) of every
 * token.  types may be NULL.  The work is spread over the nn workers
 * (nn_set_workers; keep OpenBLAS at one thread then); the result does not
 * depend on their number. */
int bert_encode(bert *b, const int32_t *ids, const int32_t *types,
    const int *len, int n, float *hidden, qkv_err *e);
/* pooled (n,H) = tanh(W_pool h[CLS] + b_pool); error if no pooler. */
int bert_pooler(bert *b, const float *hidden, const int *len, int n,
    float *pooled, qkv_err *e);

/* Pooling modes: sentence-transformers' plus the pooler and none (the
 * per-token vectors). */
enum {
	BERT_POOL_CLS, BERT_POOL_MEAN, BERT_POOL_MAX, BERT_POOL_MEAN_SQRT,
	BERT_POOL_WEIGHTED_MEAN, BERT_POOL_LAST, BERT_POOL_POOLER,
	BERT_POOL_NONE
};
int bert_pool_parse(const char *name);	/* -1 if unknown */
const char *bert_pool_name(int mode);
/* out (n,H): one vector per sequence from hidden (N,H); not for NONE. */
int bert_pool(bert *b, int mode, const float *hidden, const int *len, int n,
    float *out, qkv_err *e);
/* sentence-transformers defaults (modules.json, the Pooling module's
 * config.json, Normalize, sentence_bert_config.json's max_seq_length):
 * returns 1 when found, 0 when m is not a sentence-transformers model
 * (then cls, no normalisation, *maxlen 0), -1 on error (a module embed
 * cannot apply, such as Dense, or several pooling modes at once). */
int bert_st_defaults(qkv_model *m, int *pool, int *normalize, int *maxlen,
    qkv_err *e);

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

/* Parse and check a config.json (dtype is left QKV_NONE). */
int gpt2_parse_config(gpt2_config *c, const char *json, size_t len,
    qkv_err *e);

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

/* Exact k-nearest-neighbour search by blocked sgemm and a heap per query.
 * Metrics: cos (cosine similarity; a zero vector scores 0 against all) and
 * dot (inner product), higher is better; l2 (Euclidean distance), lower is
 * better.  Hits come best first, ties to the lower row; scores are exact
 * (computed again in double for the hits). */
enum knn_metric { KNN_COS = 0, KNN_DOT = 1, KNN_L2 = 2 };
int knn_metric_parse(const char *name);		/* -1 if unknown */

typedef struct knn_hit {
	int64_t row;		/* from 0, in the order rows were given */
	float score;
} knn_hit;

/* Top k of each query q (nq,dim) among the n rows x (n,dim): hits (nq,k);
 * returns the number of hits per query, min(k, n), or -1. */
int knn_topk(const float *x, int64_t n, const float *q, int nq, int dim,
    int metric, int k, knn_hit *hits, qkv_err *e);

/* The same over rows given piece by piece (streams, several files):
 * knn_begin, then knn_rows / knn_row in row order, then knn_end.  q must
 * stay valid until knn_end.  Memory: O(nq*k*dim) plus a block of rows. */
typedef struct knn knn;
knn *knn_begin(const float *q, int nq, int dim, int metric, int k,
    qkv_err *e);
/* n rows of f32 (n,dim), read in place (a mapping is fine). */
int knn_rows(knn *s, const float *x, size_t n, qkv_err *e);
/* One row of any float dtype, with its text (text NULL: none). */
int knn_row(knn *s, const void *v, int dtype, const char *text, size_t tlen,
    qkv_err *e);
/* Finish: hits (nq,k) as knn_topk; returns hits per query or -1. */
int knn_end(knn *s, knn_hit *hits, qkv_err *e);
/* After knn_end: the text given with a hit's row (not NUL-terminated), or
 * NULL if it had none.  Valid until knn_free. */
const char *knn_text(const knn *s, int64_t row, size_t *len);
void knn_free(knn *s);

/* An index: qkv vector streams (a FIXED float column named col; text
 * from a STRING column "text" if there is one), qkv tensor files or .npy
 * files holding one 2-D float tensor (rows, dimension), all of one
 * dimension; rows numbered from 0 across the files in order.  Tensor files
 * are mapped; streams are read chunk by chunk, again for each search (so
 * a stream that is not a regular file serves one search only). */
typedef struct knn_index knn_index;
knn_index *knn_index_open(char *const *paths, int n, const char *col,
    qkv_err *e);
int knn_index_dim(const knn_index *ix);
/* knn_topk over the whole index. */
int knn_index_search(knn_index *ix, const float *q, int nq, int metric,
    int k, knn_hit *hits, qkv_err *e);
/* The text of a hit of the last search, as knn_text. */
const char *knn_index_text(const knn_index *ix, int64_t row, size_t *len);
void knn_index_close(knn_index *ix);
/* Check that a stream's column col holds float vectors of dimension *dim
 * (any if *dim is 0; it is then set); returns the column or -1. */
int knn_vec_col(const qkv_reader *r, const char *col, int *dim,
    const char *name, qkv_err *e);

/* Queries per batch that keep a search near 256 MB. */
int knn_batch_size(int dim, int k);
/* A line of dim numbers separated by blanks (a text vector) into v. */
int knn_parse_vec(const char *line, size_t len, float *v, int dim,
    qkv_err *e);

/* ==== pretrain =============================================================== */

/* BERT's pretraining data, with the semantics of google-research/bert's
 * create_pretraining_data.py: sentence pairs for next-sentence prediction
 * and masked-LM predictions (pretrain.c). */

/* What the recipe needs of a WordPiece vocabulary: its size, the special
 * ids, which ids are "##" continuations (whole-word masking), and, for the
 * exact reference mode, the reference's view of duplicate tokens. */
typedef struct qkv_ptvocab qkv_ptvocab;
/* tokens[i] is the token of id i, n ids (vocab.txt order).  Fails if
 * [CLS], [SEP] or [MASK] is missing. */
qkv_ptvocab *qkv_ptvocab_new(const char *const *tokens, size_t n,
    qkv_err *e);
void qkv_ptvocab_free(qkv_ptvocab *v);
/* From a model's vocab.txt. */
qkv_ptvocab *qkv_ptvocab_from_model(qkv_model *m, qkv_err *e);
size_t qkv_ptvocab_size(const qkv_ptvocab *v);
int32_t qkv_ptvocab_cls(const qkv_ptvocab *v);
int32_t qkv_ptvocab_sep(const qkv_ptvocab *v);
int32_t qkv_ptvocab_mask(const qkv_ptvocab *v);

/* A document: nsent sentences, sentence s being ids[off[s] .. off[s+1]).
 * Offsets may start anywhere (a document inside a mapped corpus). */
typedef struct qkv_doc {
	const int32_t *ids;
	const int64_t *off;
	size_t nsent;
} qkv_doc;

typedef struct qkv_ptopts {
	int max_seq_length;	/* -l: 128; every instance fits it */
	double short_seq_prob;	/* --short: 0.1 */
	int dupe;		/* --dupe: passes over each document */
	uint64_t seed;		/* -s: 12345 */
	uint32_t epoch;		/* --epoch: 0 */
	double masked_lm_prob;	/* --prob: 0.15 */
	int max_predictions;	/* --max-pred: 20 */
	int whole_word;		/* --wwm */
} qkv_ptopts;
/* Defaults; google != 0 gives the reference's (dupe 10, else 1). */
void qkv_ptopts_default(qkv_ptopts *o, int google);
/* Check ranges; a message names the option. */
int qkv_ptopts_check(const qkv_ptopts *o, qkv_err *e);
/* Set the option of a program's flag: "l", "s", "short", "dupe", "epoch",
 * "prob", "max-pred" or "wwm" (arg ignored); -1 with a message naming
 * the flag if arg is bad, -2 if name is none of these. */
int qkv_ptopts_set(qkv_ptopts *o, const char *name, const char *arg,
    qkv_err *e);

/* One instance: [CLS] A [SEP] B [SEP]; segment 0 covers the first
 * a_len + 2 tokens, segment 1 the rest. */
typedef struct qkv_ptinst {
	int32_t *ids;
	int32_t n;
	int32_t a_len;
	int32_t is_random_next;	/* 1 = B is from a random document */
	int32_t npred;		/* masked positions (reference mode only) */
	int32_t *pos;		/* npred positions, ascending */
	int32_t *label;		/* npred original ids */
	int64_t key;		/* keys mask's randomness: hash of (doc, pass, index) */
} qkv_ptinst;
typedef int (*qkv_ptemit)(void *ctx, const qkv_ptinst *in, qkv_err *e);

/* Streaming NSP: every random choice for document g (its global index)
 * in pass p comes from the keyed stream (seed, g, p), so the output for a
 * document does not depend on what else a process has seen. */
typedef struct qkv_nsp qkv_nsp;
/* pool: how many earlier documents are kept to draw random-next
 * sentences from (pool mode). */
qkv_nsp *qkv_nsp_new(const qkv_ptvocab *v, const qkv_ptopts *o, size_t pool,
    qkv_err *e);
/* Pool mode: d is the next document of the input; emits its instances
 * (every pass), then keeps a copy of it in the pool. */
int qkv_nsp_doc(qkv_nsp *s, const qkv_doc *d, qkv_ptemit emit, void *ctx,
    qkv_err *e);
/* Corpus mode: the instances of documents [lo, hi) of ndocs documents,
 * random-next documents drawn from all of them; get(ctx, i, d) gives
 * document i. */
typedef int (*qkv_docget)(void *ctx, size_t i, qkv_doc *d);
int qkv_nsp_range(qkv_nsp *s, qkv_docget get, void *gctx, size_t ndocs,
    size_t lo, size_t hi, qkv_ptemit emit, void *ctx, qkv_err *e);
void qkv_nsp_free(qkv_nsp *s);

/* Masked LM on one sequence, keyed by (seed, key, epoch): positions
 * holding [CLS], [SEP], [PAD] or [MASK] are never chosen; the number of
 * predictions is min(max_predictions, max(1, round(n * prob))); each
 * chosen position becomes [MASK] (80%), a random id (10%) or stays (10%). */
typedef struct qkv_masker qkv_masker;
qkv_masker *qkv_masker_new(const qkv_ptvocab *v, const qkv_ptopts *o,
    qkv_err *e);
/* out gets the n masked ids, pos and label up to max_predictions entries;
 * returns the number of predictions, -1 on error. */
int qkv_masker_run(qkv_masker *m, uint64_t key, const int32_t *ids,
    size_t n, int32_t *out, int32_t *pos, int32_t *label, qkv_err *e);
void qkv_masker_free(qkv_masker *m);

/* The reference recipe, record for record (nsp --google): all documents
 * in memory, random.Random(seed), the document shuffle, pairs masked in
 * the reference's order, the instance shuffle. */
typedef struct qkv_google qkv_google;
qkv_google *qkv_google_new(const qkv_ptvocab *v, const qkv_ptopts *o,
    qkv_err *e);
int qkv_google_add(qkv_google *g, const qkv_doc *d, qkv_err *e);
int qkv_google_run(qkv_google *g, qkv_err *e);
size_t qkv_google_count(const qkv_google *g);
const qkv_ptinst *qkv_google_inst(const qkv_google *g, size_t i);
void qkv_google_free(qkv_google *g);

/* -- The pretraining heads of BertForPreTraining (heads.c), on the
 * encoder's outputs (see the bert section). */
typedef struct bert_mlm bert_mlm;
/* The masked-LM head: dense + activation + LayerNorm, then the decoder
 * tied to the word embeddings plus cls.predictions.bias.  An error names
 * the missing tensor (a checkpoint without the head). */
bert_mlm *bert_mlm_load(bert *b, qkv_err *e);
/* logits (n,V) for n rows of hidden states (n,H). */
int bert_mlm_logits(bert_mlm *h, const float *hidden, int n, float *logits,
    qkv_err *e);
void bert_mlm_free(bert_mlm *h);
/* The next-sentence head: logits (n,2) from the pooled output (n,H);
 * index 0 is "B follows A" (IsNext), 1 "B is random". */
int bert_nsp_logits(bert *b, const float *pooled, int n, float *logits,
    qkv_err *e);
/* Each row of logits (m,V) becomes probabilities (softmax, in place); ids
 * and probs (m,k) get its k most probable ids, best first, ties to the
 * lower id; k <= V.  What the fill-mask pipeline reports. */
void bert_topk(float *logits, int m, int V, int k, int32_t *ids,
    float *probs);
/* Fill-mask on a packed batch (as bert_encode takes it): for every
 * position holding mask, in order, its k most probable ids and their
 * probabilities into top and prob (k per mask).  Returns the number of
 * masks, -1 on error. */
int bert_mlm_fill(bert_mlm *h, const int32_t *ids, const int32_t *types,
    const int *len, int n, int32_t mask, int k, int32_t *top, float *prob,
    qkv_err *e);
/* P(IsNext) of each sequence of a packed batch of pairs into p (n). */
int bert_nsp_score(bert *b, const int32_t *ids, const int32_t *types,
    const int *len, int n, float *p, qkv_err *e);
/* The text filters over the lines of in, in batches, written to out:
 *  BERT_FILL (mask --fill; h is the MLM head): a line holding [MASK]
 *    spellings gets, for each mask, k lines "LINE MASK RANK PROB ID TOKEN"
 *    (TAB-separated; LINE counts on over inputs through *lineno);
 *  BERT_SCORE (nsp --score; h unused): a line "A<TAB>B" gets P(IsNext),
 *    the pair cut to the model's length, longer side first.
 * A line with no [MASK] (fill), no TAB (score), or too long to fill is an
 * error naming it. */
enum { BERT_FILL = 1, BERT_SCORE = 2 };
int bert_heads_filter(bert *b, bert_mlm *h, const qkv_tok *t, int mode,
    int k, qkv_in *in, FILE *out, long *lineno, qkv_err *e);
/* The whole program: the model's encoder, head and tokenizer, the filter
 * over the files (none: standard input), atomically to outpath (NULL:
 * standard output).  A model without the head is refused first. */
int bert_heads_run(qkv_model *m, int mode, int k, int nfiles, char **files,
    const char *outpath, qkv_err *e);

/* -- Pretraining data in and out (ptio.c). */

/* Reads documents: id lines (one sentence per line, a blank line ends a
 * document) or a qkv row stream with an `ids` (or `input_ids`) column: an
 * empty row ends a document, except that with a `text` column (tok -b)
 * only a row whose text is blank (Python's str.isspace) ends one and a row
 * with text but no ids is skipped, as the reference skips such lines.  Ids
 * are checked against v (if not NULL).  Empty documents are skipped. */
typedef struct qkv_docreader qkv_docreader;
qkv_docreader *qkv_docreader_open(qkv_in *in, const qkv_ptvocab *v,
    qkv_err *e);
/* 1 = a document in *d (valid until the next call), 0 = end, -1 = error. */
int qkv_docreader_next(qkv_docreader *r, qkv_doc *d, qkv_err *e);
void qkv_docreader_close(qkv_docreader *r);

/* Parse a line of space-separated ids, appending to *ids (n used, cap
 * allocated); ids must be < nvocab unless nvocab is 0. */
int qkv_pt_parse_ids(const char *s, size_t len, size_t nvocab, int32_t **ids,
    size_t *n, size_t *cap, qkv_err *e);
/* Print ids space-separated (no newline). */
void qkv_pt_print_ids(FILE *f, const int32_t *ids, size_t n);

/* An instance as the stages pass it on.  In text, one line of up to seven
 * TAB-separated fields, each a space-separated list, in fixed places:
 *   1 ids  2 segments  3 label  4 key  5 positions  6 originals  7 weights
 * plain sequences (tok -s) have field 1 only, nsp writes 1-4, mask adds
 * 5-7 (fields 2-4 then empty if the input had none).  In a qkv stream,
 * columns by name: input_ids (or ids), segment_ids (or token_type_ids),
 * next_sentence_labels, key, masked_lm_positions, masked_lm_ids,
 * masked_lm_weights. */
enum {
	QKV_PT_SEG = 1,		/* segment_ids */
	QKV_PT_LABEL = 2,	/* next_sentence_labels */
	QKV_PT_KEY = 4,		/* key */
	QKV_PT_MLM = 8		/* masked_lm_positions, _ids, _weights */
};
typedef struct qkv_ptrow {
	const int32_t *ids;
	size_t n;
	const int32_t *seg;	/* n, if QKV_PT_SEG */
	int32_t label;		/* if QKV_PT_LABEL */
	int64_t key;		/* if QKV_PT_KEY */
	const int32_t *pos, *mids;	/* npred each, if QKV_PT_MLM */
	const float *weights;
	size_t npred;
	int fields;		/* QKV_PT_* present */
	uint64_t row;		/* from 0 */
} qkv_ptrow;

typedef struct qkv_ptreader qkv_ptreader;
/* Ids are checked against nvocab (0: not checked). */
qkv_ptreader *qkv_ptreader_open(qkv_in *in, size_t nvocab, qkv_err *e);
/* 1 = a row, 0 = end, -1 = error (naming the line or row). */
int qkv_ptreader_next(qkv_ptreader *r, qkv_ptrow *row, qkv_err *e);
/* The stream under a binary input (NULL for text), and the cells of the
 * current row, for passing other columns through. */
qkv_reader *qkv_ptreader_stream(qkv_ptreader *r);
const qkv_cell *qkv_ptreader_cells(const qkv_ptreader *r);
void qkv_ptreader_close(qkv_ptreader *r);

typedef struct qkv_ptout qkv_ptout;
/* fields: QKV_PT_* to write (a row lacking one is an error).  Binary
 * output also copies every column of pass (may be NULL), those of the
 * instance's own names replaced by the row's values. */
qkv_ptout *qkv_ptout_open(FILE *f, const char *name, int binary, int fields,
    qkv_reader *pass, qkv_err *e);
/* cells: pass's cells for this row (binary with pass only). */
int qkv_ptout_row(qkv_ptout *o, const qkv_ptrow *row, const qkv_cell *cells,
    qkv_err *e);
/* Flush and, for binary, end the stream; frees o. */
int qkv_ptout_close(qkv_ptout *o, qkv_err *e);
void qkv_ptout_free(qkv_ptout *o);

/* nsp --google output: the reference's seven features padded to L and P
 * (text: one TAB-separated line each; binary: fixed columns i64/f32). */
qkv_ptout *qkv_ptout_google(FILE *f, const char *name, int binary, int L,
    int P, qkv_err *e);
int qkv_ptout_inst(qkv_ptout *o, const qkv_ptinst *in, qkv_err *e);

/* Training shards: qkv tensor files PREFIX-00000.qkv, PREFIX-00001.qkv, ...
 * of `per` rows each (the last may have fewer; an input without rows still
 * gives one, empty).  MLM shards hold the reference's seven features as
 * nsp --google writes them: input_ids, input_mask, segment_ids [N,L],
 * masked_lm_positions, masked_lm_ids [N,P] (i64), masked_lm_weights
 * [N,P] (f32), next_sentence_labels [N,1] (i64).  Block shards hold
 * input_ids [N,L] (i64): contiguous token blocks for causal-LM training.
 * Each file is written atomically; a failure removes every file the writer
 * made. */
typedef struct qkv_shards qkv_shards;
qkv_shards *qkv_shards_open(const char *prefix, int blocks, int L, int P,
    size_t per, qkv_err *e);
/* An instance: longer than L, or more than P predictions, is an error;
 * no segment ids or label reads as zeros. */
int qkv_shards_row(qkv_shards *w, const qkv_ptrow *row, qkv_err *e);
/* Block shards: feed a document; its ids then the end-of-text id are cut
 * into blocks of L (the remainder at the close is dropped). */
int qkv_shards_doc(qkv_shards *w, const qkv_doc *d, int32_t eot, qkv_err *e);
/* Write the last shard; the number written in *nfiles.  Frees w. */
int qkv_shards_close(qkv_shards *w, size_t *nfiles, qkv_err *e);
/* Remove every file written; frees w. */
void qkv_shards_abort(qkv_shards *w);

/* Indexed corpus files: documents of ids in a qkv tensor file, mapped, so
 * nsp -r draws random-next documents by global index.  Tensors: ids i32
 * [T], sentences i64 [S+1] (offsets into ids), documents i64 [D+1]
 * (offsets into sentences); metadata "qkv-pretrain" = "corpus 1". */
typedef struct qkv_corpus qkv_corpus;
qkv_corpus *qkv_corpus_open(const char *path, qkv_err *e);
/* The same over memory the caller keeps alive (fuzzing, tests). */
qkv_corpus *qkv_corpus_parse(const void *buf, size_t len, const char *name,
    qkv_err *e);
size_t qkv_corpus_ndocs(const qkv_corpus *c);
uint64_t qkv_corpus_ntokens(const qkv_corpus *c);
/* Shard i of n (1 <= i <= n < 2^32): the documents [*lo, *hi), the i-th of n
 * runs of about equal tokens; shards 1..n cover the corpus in order. */
void qkv_corpus_shard(const qkv_corpus *c, uint64_t i, uint64_t n, size_t *lo,
    size_t *hi);
/* Fits qkv_docget: ctx is the corpus. */
int qkv_corpus_doc(void *ctx, size_t i, qkv_doc *d);
void qkv_corpus_close(qkv_corpus *c);
/* Write the documents of r as a corpus file to f; scratch files go in
 * tmpdir (NULL: $TMPDIR or /tmp), so memory stays small. */
int qkv_corpus_write(qkv_docreader *r, FILE *f, const char *name,
    const char *tmpdir, qkv_err *e);


#endif
