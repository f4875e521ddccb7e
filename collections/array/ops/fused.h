/* fused.h - what the kernel tasks of fused.c share with reduce.c, whose
 * partial reductions run a kernel program over their input too. */
#ifndef CASK_ARRAY_FUSED_H
#define CASK_ARRAY_FUSED_H

#include "../kernel/kernel.h"

/* Lower the leaves of a kernel program for block bidx of a: the task of
 * each leaf's block (broadcast leaves: block 0 on those axes) into deps. */
int cask__lower_leaves(cask__lower *L, cask_array *a, const int64_t *bidx, cask_array **leaves,
                       uint32_t nleaves, cask_task_id *deps);
/* Strides of each input block of a task against the evaluated block's
 * axes (ndim, shape); each must have the dtype its load in p expects. */
int cask__leaf_views(cask_task_io *io, const cask__program *p, int ndim, const int64_t *shape,
                     cask__leaf_view *v);

/* Extents of a's axes of unknown block length (CASK_UNKNOWN in ext, from
 * cask__block_box) marked -(1 + l): leaf l's block gives it at run time.
 * CASK_EINVAL (no leaf has that axis) cannot happen for a node built by
 * cask__node_new_n. */
int cask__mark_unknown_extents(const cask_array *a, cask_array *const *leaves, uint32_t nleaves, int64_t *ext);
/* The marked extents of a task's block replaced by its input blocks'. */
int cask__resolve_extents(cask_task_io *io, int ndim, int64_t *shape);
/* Bytes of a block of a of extents ext, or, when some are unknown, an
 * estimate from the unknown leaf's task. */
int64_t cask__block_bytes(cask__lower *L, const cask_array *a, const int64_t *ext, cask_array *const *leaves,
                          const cask_task_id *deps);

#endif
