/* sort-int.h - what sort.c (the sorting node classes and the array.sort
 * op) gives the files that build on it: order.c (sort, argsort, topk,
 * quantiles and medians of the C API) and count.c (unique). */
#ifndef CASK_ARRAY_SORT_INT_H
#define CASK_ARRAY_SORT_INT_H

#include "ops.h"

#define CASK__MAX_Q 256 /* quantiles one call takes */
/* The most blocks the external merge sorts: it makes a piece per pair of
 * blocks (4 million tasks here), and a graph of arrays holds 2^23 tasks. */
#define CASK__MAX_MERGE_BLOCKS 2048

/* TOPK: each block's |topk| largest (topk > 0, largest first) or smallest
 * (topk < 0) along the axis: a step of topk's reduction. */
enum { CASK__SORT_SORT, CASK__SORT_ARGSORT, CASK__SORT_QUANTILE, CASK__SORT_MEDIAN, CASK__SORT_TOPK };
#define CASK__SORT_NAN 1     /* nanquantile, nanmedian: NaNs do not count */
#define CASK__SORT_QSCALAR 2 /* q is one number: no q axis in the result */
#define CASK__SORT_F32 4     /* float32 data, one q, 1-d, not nan-: NumPy's
                                value-based casting keeps float32 */

typedef struct cask__sort_ext {
  int32_t mode, axis, flags, nq;
  int64_t stride; /* set by cask__sort_node */
  int64_t topk;   /* TOPK */
  double q[CASK__MAX_Q];
} cask__sort_ext;

/* The node sorting x along params->axis (or taking its quantiles there):
 * x 1-d of several blocks gets the pipeline, anything else must have the
 * axis in one chunk (the caller rechunks). TOPK works block by block
 * (chunks of |topk| along the axis). */
int cask__sort_node(cask_array *x, const cask__sort_ext *params, cask_array **out);
void cask__register_sort_ops(void);  /* array.sort */
void cask__register_count_ops(void); /* count.c: array.count */

#endif
