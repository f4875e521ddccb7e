/* park.h - parking idle workers without lost wake-ups (an event count).
 *
 * A worker that finds no work announces itself (prepare: waiters + 1, read
 * the epoch), looks for work once more, and only then sleeps, and only if
 * the epoch has not moved (commit). A thread that makes work available
 * first publishes it (a seq_cst store, e.g. the deque's bottom) and then
 * reads `waiters` (seq_cst): by the total order of seq_cst operations either
 * it sees the waiter and bumps the epoch under the mutex, or the waiter's
 * second look sees the work. Notifying costs one load while nobody sleeps.
 * The same two-phase wait as Taskflow's notifier and Eigen's EventCount. */
#ifndef CASK_SCHED_PARK_H
#define CASK_SCHED_PARK_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

typedef struct cask__park {
  atomic_int waiters;
  atomic_uint_fast64_t epoch;
  uv_mutex_t mu;
  uv_cond_t cv;
} cask__park;

int cask__park_init(cask__park *p);
void cask__park_destroy(cask__park *p);
/* Phase one: returns the epoch to pass to commit. */
uint64_t cask__park_prepare(cask__park *p);
/* Work turned up after prepare: do not sleep. */
void cask__park_cancel(cask__park *p);
/* Phase two: sleep until the epoch moves past `epoch`. */
void cask__park_commit(cask__park *p, uint64_t epoch);
/* Wake one sleeper (or all). Cheap when nobody waits. */
void cask__park_notify(cask__park *p, int all);

#endif
