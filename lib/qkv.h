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

/* ==== rng ==================================================================== */

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

/* ==== gpt2 =================================================================== */

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

/* Queries per batch that keep a search near 256 MB. */
int knn_batch_size(int dim, int k);
/* A line of dim numbers separated by blanks (a text vector) into v. */
int knn_parse_vec(const char *line, size_t len, float *v, int dim,
    qkv_err *e);

/* ==== pretrain =============================================================== */

#endif
