/* ptint.h - private to pretrain.c and ptio.c. */
#ifndef PTINT_H
#define PTINT_H

/* Grow the array at *pp (elements of size bytes, *cap allocated) to hold
 * at least need elements; 0, or -1 with an error. */
int qkv_pt_grow(void *pp, size_t *cap, size_t need, size_t size, qkv_err *e);

#endif
