/* gen.h - the values of a source at flat indices (gen.c). */
#ifndef CASK_ARRAY_GEN_H
#define CASK_ARRAY_GEN_H

#include "../core/array-int.h"

/* n values of source op (dtype, parameters a, b, c, count, seed; every op
 * but CASK__SRC_BUFFER) at flat indices first, first + stride, ... into dst, in
 * the source's dtype. */
void cask__source_fill(int op, cask_dtype dtype, double a, double b, double c, int64_t count,
                       uint64_t seed, int64_t first, int64_t stride, int64_t n, void *dst);

#endif
