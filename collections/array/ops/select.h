/* select.h - what the selection tasks and classes (select.c) share with
 * the functions that build their nodes (select-api.c). */
#ifndef CASK_ARRAY_SELECT_H
#define CASK_ARRAY_SELECT_H

#include "boxcopy.h"

/* What a select node takes out of in[0]: by a mask of its shape (in[1]),
 * slices along an axis (in[1]: the 1-d condition), or the indices of its
 * nonzero elements (one coordinate, argwhere's rows, flat indices). */
enum { CASK__SEL_MASK, CASK__SEL_AXIS, CASK__SEL_NONZERO, CASK__SEL_ARGWHERE, CASK__SEL_FLAT };
typedef struct cask__select_ext {
  int32_t mode, axis, coord, pad;
} cask__select_ext;

/* The regular blocks along axis of an array of unknown block lengths,
 * once counted: input block b is [starts[b], starts[b + 1]). */
typedef struct cask__regrid_ext {
  int32_t axis, pad;
  int64_t nin;
  int64_t *starts; /* nin + 1 */
} cask__regrid_ext;

/* take: literal indexes (normalized, n of them), or NULL (in[1] holds them). */
typedef struct cask__take_ext {
  int32_t axis, pad;
  int64_t n;
  int64_t *lit;
} cask__take_ext;

extern const cask__node_class cask__select_class, cask__count_class, cask__regrid_class, cask__take_class;

#endif
