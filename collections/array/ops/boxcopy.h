/* boxcopy.h - the block ops of the structural operations (slice, transpose,
 * rechunk, reshape, concatenate) and the strided copies they run on.
 *
 * The one thing to know: every copying structural op lowers to one op,
 * "array.gather", which builds an output block from a grid of input blocks.
 * Along each axis the output block is a run of pieces, each read from one
 * input block (a first element and a count, walking with the axis' step);
 * the task's inputs are the input blocks of every combination of pieces, in
 * C order. Slicing is a gather with steps and at most two pieces per axis,
 * rechunking one with many, a concatenation one whose pieces along the
 * joined axis come from different arrays. */
#ifndef CASK_ARRAY_BOXCOPY_H
#define CASK_ARRAY_BOXCOPY_H

#include "ops.h"

/* A run along one axis read from one input block. */
typedef struct cask__axis_piece {
  int64_t block; /* the input block's index along the axis (lowering only) */
  int64_t src;   /* the first element read, within that block */
  int64_t n;     /* elements read; written one after the other to the output */
  int32_t input; /* which input array (concatenate's joined axis), else 0 */
} cask__axis_piece;

/* The pieces of an axis whose output element k (0 <= k < ext) is global
 * input index first + k * step, the input chunked by chunk. Writes at most
 * max pieces to out (out may be NULL) and returns how many there are. */
int64_t cask__axis_pieces(int64_t first, int64_t step, int64_t ext, int64_t chunk, int32_t input,
                          cask__axis_piece *out, int64_t max);

/* The task under key building an output block from pieces: npieces[i]
 * pieces along axis i (pieces holds axis 0's, then axis 1's, ...), ndim axes
 * of extents ext (the sums of the pieces' n) read with step. Axes in the
 * bit mask drop (extent 1: an integer index) are not in the output block.
 * The input of a combination of pieces is inputs[sum of their .input],
 * block (their .block); those are lowered here. With an empty box no input
 * is lowered and the task makes an empty block. */
int cask__lower_gather(cask__lower *L, const char *key, cask_dtype dtype, int ndim,
                       const int64_t *ext, const int64_t *step, uint32_t drop,
                       const int64_t *npieces, const cask__axis_piece *pieces,
                       cask_array *const *inputs, cask_task_id *out);

/* Block bidx of a, transposed by perm (output axis i is a's axis perm[i]). */
int cask__lower_transpose_block(cask__lower *L, const char *key, cask_array *a,
                                const int64_t *bidx, const int *perm, cask_task_id *out);
/* The input block of task dep seen with another shape (same elements in the
 * same order): no copy, the new block holds the input block. */
int cask__lower_reshape_block(cask__lower *L, const char *key, cask_task_id dep, int ndim,
                              const int64_t *shape, cask_task_id *out);
/* Block of task dep under another key (no copy), so that the result of an
 * array whose blocks are its inputs' can be found by its own key. */
int cask__lower_alias(cask__lower *L, const char *key, cask_task_id dep, cask_task_id *out);

/* Copy a box of count[i] elements per axis from src (C order, shape sshape),
 * starting at sstart and walking with sstep, to dst (C order, shape dshape)
 * at dstart. Every index must be in range. w: bytes per element. */
void cask__box_copy(char *dst, const int64_t *dshape, const int64_t *dstart, const char *src,
                    const int64_t *sshape, const int64_t *sstart, const int64_t *sstep,
                    const int64_t *count, int ndim, size_t w);
/* dst (C order) = src (C order, shape sshape) with axes permuted: dst axis i
 * is src axis perm[i]. Cache-blocked where the two layouts cross. */
void cask__transpose_copy(char *dst, const char *src, int ndim, const int64_t *sshape,
                          const int *perm, size_t w);

/* Normalized chunk extent of an axis of extent s (0 or >= s: the whole
 * axis; an empty axis has chunk 1), as cask__node_new stores it. */
static inline int64_t cask__norm_chunk(int64_t s, int64_t c) {
  int64_t r = c > 0 && c < s ? c : s;
  return r > 0 ? r : 1;
}

/* What a pushdown (slice or transpose rebuilt below an elementwise tree)
 * has already made for a node with given parameters: a shared
 * subexpression is rebuilt once, so a DAG never becomes a tree of
 * exponential size. Results are retained; cask__memo_free releases them. */
typedef struct cask__memo {
  struct cask__memo_entry *e;
  size_t cap, n;
} cask__memo;
/* The result for (node, params), borrowed, or NULL. */
cask_array *cask__memo_get(const cask__memo *m, const cask_array *node, const void *params,
                           size_t len);
int cask__memo_put(cask__memo *m, const cask_array *node, const void *params, size_t len,
                   cask_array *result);
void cask__memo_free(cask__memo *m);

#endif
