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
 * yet returned are dropped.  1 = a chunk, 0 = clean end, -1 = error. */
int qkv_reader_skip(qkv_reader *r, qkv_err *e);

/* A tensor file read whole from an input that cannot be mapped (a pipe). */
qkv_file *qkv_file_read(qkv_in *in, qkv_err *e);
uint32_t qkv_file_crc(const qkv_file *f, int i);	/* tensor i's CRC */
uint64_t qkv_file_offset(const qkv_file *f, int i);	/* and its offset */

/* ==== npy ==================================================================== */

/* Map a .npy file (version 1-3, little-endian numeric dtypes, C order). */
typedef struct qkv_npy qkv_npy;
qkv_npy *qkv_npy_open(const char *path, qkv_err *e);
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

/* ==== rng ==================================================================== */

/* ==== tokenizer ============================================================== */

/* ==== bert =================================================================== */

/* ==== gpt2 =================================================================== */

/* ==== knn ==================================================================== */

/* ==== pretrain =============================================================== */

#endif
