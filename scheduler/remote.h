/* remote.h - a run some of whose root tasks are made elsewhere: blocks of
 * other processes (MPI ranks), received by distributed/mpi/. Such a root
 * is held out of the run's root list until its block has arrived; then
 * whoever received it queues it here and wakes a worker, and workers look
 * at this queue after their own deque, before the shared roots. A run
 * without one pays one pointer test in find_work and one in collect_roots,
 * as memory/hooks.h keeps the memory manager out of run.c.
 * The queue's mutex is a leaf: nothing else is taken while it is held. */
#ifndef CASK_SCHED_REMOTE_H
#define CASK_SCHED_REMOTE_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

struct cask_runtime;

typedef struct cask__remote {
  const uint8_t *held; /* per task of the run's graph: 1 = a root whose block comes from elsewhere */
  struct cask_runtime *rt;
  uv_mutex_t mu;
  uint32_t *queue; /* arrived roots, queue[head..tail) (cap = the held roots) */
  size_t head, tail, cap;
  atomic_size_t navail; /* tail - head, read without the lock */
} cask__remote;

/* cap: how many roots are held (each arrives once). */
int cask__remote_init(cask__remote *x, struct cask_runtime *rt, const uint8_t *held, size_t cap);
void cask__remote_destroy(cask__remote *x);
/* Root v's block is ready to be taken by its task: queue it and wake a
 * worker. Any thread; takes only the leaf lock and the park's. */
void cask__remote_arrive(cask__remote *x, uint32_t v);
/* A queued root, or CASK__NO_TASK. Workers. */
uint32_t cask__remote_take(cask__remote *x);

#endif
