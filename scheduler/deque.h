/* deque.h - a Chase-Lev work-stealing deque of task indices.
 * One owner pushes and pops at the bottom; any thread steals from the top.
 * The memory orders follow Lê, Pop, Cohen and Zappa Nardelli (PPoPP 2013),
 * with the fences folded into seq_cst accesses so ThreadSanitizer, which
 * does not model fences, sees the same happens-before edges the code has. */
#ifndef CASK_SCHED_DEQUE_H
#define CASK_SCHED_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define CASK__DEQUE_EMPTY UINT32_MAX
#define CASK__DEQUE_ABORT (UINT32_MAX - 1) /* lost a race: try again */

typedef struct cask__ring {
  int64_t cap; /* a power of two */
  struct cask__ring *retired; /* older, smaller rings, freed at reset */
  _Atomic uint32_t slot[];
} cask__ring;

typedef struct cask__deque {
  alignas(64) atomic_int_fast64_t top;
  alignas(64) atomic_int_fast64_t bottom;
  _Atomic(cask__ring *) ring;
} cask__deque;

int cask__deque_init(cask__deque *d, int64_t cap);
void cask__deque_destroy(cask__deque *d);
/* Owner only, with no thief active (between runs): empty it and free the
 * retired rings. */
void cask__deque_reset(cask__deque *d);
/* Owner only. CASK_OK or CASK_ENOMEM (the ring could not grow). */
int cask__deque_push(cask__deque *d, uint32_t v);
/* Owner only. A task index or CASK__DEQUE_EMPTY. */
uint32_t cask__deque_pop(cask__deque *d);
/* Any thread. A task index, CASK__DEQUE_EMPTY or CASK__DEQUE_ABORT. */
uint32_t cask__deque_steal(cask__deque *d);
/* Any thread; a hint only. */
int cask__deque_maybe_nonempty(cask__deque *d);

#endif
