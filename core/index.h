/* index.h - the walk over every index of an n-d box in C order (the last
 * axis fastest): block loops, copies, file readers and the tools take it.
 * Inline, so programs outside libcask (which exports only cask_*) use it
 * too. */
#ifndef CASK_CORE_INDEX_H
#define CASK_CORE_INDEX_H

#include <stdint.h>

/* Advance idx (0 <= idx[i] < ext[i]) to the next index in C order.
 * Returns the axis that moved on (every later axis went back to 0), or -1
 * when idx was the last index (it is then all 0 again); with ndim 0 there
 * is one index, so the first call returns -1. */
static inline int cask__index_next(int ndim, int64_t *idx, const int64_t *ext) {
  for (int i = ndim - 1; i >= 0; i--) {
    if (++idx[i] < ext[i]) return i;
    idx[i] = 0;
  }
  return -1;
}

#endif
