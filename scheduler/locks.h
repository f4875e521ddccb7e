/* locks.h - the scheduler's three mutexes and their one order: rt->mu
 * (joining and leaving runs), then mem->mu (the memory manager's lists),
 * then park.mu (a leaf). None is held while a task's op runs, while a
 * worker parks, or during the spill thread's file I/O.
 *
 * The order is checked, not only written down: with CASK_DEBUG_ASSERTS
 * (the sanitizer builds) each thread keeps the set of these it holds, so a
 * lock taken out of order, an unlock of one not held, or one held where
 * none may be is caught where it happens, as SQLite asserts
 * sqlite3_mutex_held. Otherwise cask__lock and cask__unlock are
 * uv_mutex_lock and uv_mutex_unlock and the checks cost nothing. */
#ifndef CASK_SCHED_LOCKS_H
#define CASK_SCHED_LOCKS_H

#include <uv.h>

#include "../core/internal.h"

/* Ranks, in the order the locks are taken. */
enum { CASK__LOCK_RT = 1u, CASK__LOCK_MEM = 2u, CASK__LOCK_PARK = 4u };

#ifdef CASK_DEBUG_ASSERTS
/* The ranks this thread holds (locks.c). */
extern _Thread_local unsigned cask__locks_held;

static inline void cask__lock(uv_mutex_t *mu, unsigned rank) {
  /* nothing of this rank or after it may be held already */
  CASK__ASSERT((cask__locks_held & ~(rank - 1)) == 0);
  uv_mutex_lock(mu);
  cask__locks_held |= rank;
}

static inline void cask__unlock(uv_mutex_t *mu, unsigned rank) {
  CASK__ASSERT(cask__locks_held & rank);
  cask__locks_held &= ~rank;
  uv_mutex_unlock(mu);
}

/* Where no lock may be held: a task's op, parking, file I/O. */
static inline void cask__assert_unlocked(void) { CASK__ASSERT(cask__locks_held == 0); }
#else
static inline void cask__lock(uv_mutex_t *mu, unsigned rank) {
  (void)rank;
  uv_mutex_lock(mu);
}

static inline void cask__unlock(uv_mutex_t *mu, unsigned rank) {
  (void)rank;
  uv_mutex_unlock(mu);
}

static inline void cask__assert_unlocked(void) {}
#endif

#endif
