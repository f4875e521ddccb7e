/* run_state.h - what the memory manager may do to a run it serves: fail
 * it, count a block in or out of its held bytes, ask whether any worker is
 * running a task, and whether a task's block is kept. These live apart
 * from the worker loop (run.c) so memory/ depends on this small file, not
 * on the loop. */
#ifndef CASK_SCHED_RUN_STATE_H
#define CASK_SCHED_RUN_STATE_H

#include <stdint.h>

#include "../graph/graph-int.h"

typedef struct cask__run cask__run;

/* Whether task v's block outlives its consumers: an output, or a sink
 * when the graph names no outputs. */
static inline int cask__is_kept(const cask_graph *g, uint32_t v) {
  return g->noutputs ? (g->tasks[v].flags & CASK__TASK_OUTPUT) != 0
                     : g->succ_off[v] == g->succ_off[v + 1];
}
/* Record the first failure and stop the run (later failures are dropped).
 * Any thread. */
void cask__run_fail(cask__run *r, int rc, uint32_t task, const char *msg);
/* Count a block in (sign +1) or out (-1) of the run's held bytes and
 * blocks, and raise the peaks. NULL counts nothing. Any thread. */
void cask__account(cask__run *r, const cask_block *b, int sign);
/* Count in block b, which a received root's task (remote.h) put in its
 * slot, and count it out of the remote bytes before the peak is read. */
void cask__account_received(cask__run *r, const cask_block *b);
/* Raise the run's peak bytes to at least `bytes`. Any thread. */
void cask__raise_peak(cask__run *r, int64_t bytes);
/* Whether any worker is running a task (with a memory manager; racy: for
 * heuristics). */
int cask__any_running(const cask__run *r);

#endif
