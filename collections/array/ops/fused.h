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

#endif
