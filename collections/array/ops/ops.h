/* ops.h - what ops/ (creation, elementwise, reductions, structure, linear
 * algebra, user kernels, task-graph arrays) gives the folders above it
 * (io/, expr/, the registrar) and its own files: node classes, internal
 * builders, and each file's op registrar. */
#ifndef CASK_ARRAY_OPS_H
#define CASK_ARRAY_OPS_H

#include "../core/array-int.h"

/* The classes of the built-in node kinds (the others keep theirs static). */
extern const cask__node_class cask__source_class;      /* create.c */
extern const cask__node_class cask__elementwise_class; /* fused.c */
extern const cask__node_class cask__reduce_class;      /* reduce.c */

/* A source node over the same values as src through another view (shape,
 * chunk, and the new base and flat strides): slicing and transposing a
 * source. The new node keeps src alive (a buffer is released once).
 * (create.c) */
int cask__source_view(cask_array *src, int ndim, const int64_t *shape, const int64_t *chunk,
                      int64_t base, const int64_t *fstride, cask_array **out);

/* The elementwise operation of node a over other inputs x[0 .. a->nin-1]
 * (slices and transposes pushed through it; elementwise.c). */
int cask__elementwise_like(const cask_array *a, cask_array *const *x, cask_array **out);

/* Block bidx of elementwise a, written into dst (a C-order buffer of a's
 * whole shape) by the task, which produces no block (fused.c). */
int cask__lower_into(cask__lower *L, cask_array *a, const int64_t *bidx, void *dst,
                     cask_task_id *out);

/* The kernel registered under name (cask_kernel_register) into spec's fn,
 * user, name and token; 0 if there is none (map.c). */
int cask__kernel_find(const char *name, cask_map_spec *spec);

/* axis (negative from the end) of an ndim-axis result as 0..ndim-1, or
 * CASK_EINVAL naming fn and a's shape (shape.c). */
int cask__axis(const cask_array *a, const char *fn, int64_t axis, int ndim, int *out);
/* n distinct such axes into out, and their bits in *mask. */
int cask__axes(const cask_array *a, const char *fn, int n, const int *axes, int ndim, int *out, uint32_t *mask);

/* A reduction over all of x[m] (or an elementwise function of it) as the
 * reduction of where(m, f(x), identity): no selection, one fused pass.
 * 1 when done (*out set), 0 when a is not such an array or op has no
 * rewrite, <0 on error (select-api.c). */
int cask__masked_reduce(cask_reduction op, cask_array *a, cask_array **out);
/* a with axes of extent 1 added where mask says (expand_dims), for a of
 * unknown block lengths (reshape.c) */
int cask__expand_unknown(cask_array *a, int nd, uint32_t mask, cask_array **out);

/* cask_compute_chunk_sizes with the run options of the counting run
 * (progress callbacks; the trace left out) (select-api.c). */
int cask__compute_chunk_sizes(cask_array *a, const cask_run_options *opts, cask_array **out);
/* OpenBLAS (and its LAPACK) single-threaded inside tasks, once per
 * process: the scheduler's workers are the parallelism (linalg.c; called
 * when a matmul, TSQR or LAPACK node is made). */
void cask__blas_single_thread(void);

/* The ops of each file, registered once per process by init.c's table. */
void cask__register_source_ops(void);    /* create.c: array.source, array.buffer */
void cask__register_kernel_ops(void);    /* fused.c: array.kernel, array.kernel_into */
void cask__register_reduce_ops(void);    /* reduce.c */
void cask__register_scan_ops(void);      /* scan.c: array.scan */
void cask__register_structure_ops(void); /* boxcopy.c: gather, transpose, reshape, alias */
void cask__register_linalg_ops(void);    /* linalg.c */
void cask__register_lapack_ops(void);    /* lapack.c: array.lapack, array.lapack_part */
void cask__register_tsqr_ops(void);      /* tsqr.c */
void cask__register_map_ops(void);       /* map.c */
void cask__register_tasks_ops(void);     /* tasks.c */
void cask__register_select_ops(void);    /* select.c: select, count_true, join, take */

#endif
