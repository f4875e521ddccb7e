/* hooks.h - the worker loop's calls into the memory manager, one at each
 * point of a task's life (roots taken, work found, before and after the
 * op, inputs released, a block dropped). Each is inline and tests one
 * pointer, r->mem: a run that cannot reach its limit pays that test and
 * nothing more, and run.c keeps no memory policy of its own, as Taskflow's
 * exploit/explore/wait loop keeps none. The bodies (hooks.c) are named
 * cask__memory_<point> after their hook cask__mem_<point>. */
#ifndef CASK_SCHED_MEMORY_HOOKS_H
#define CASK_SCHED_MEMORY_HOOKS_H

#include "../internal.h"

/* What became of a task the loop set out to run. */
enum { CASK__EXEC_FAILED = -1, CASK__EXEC_DONE = 0, CASK__EXEC_DEFERRED = 1 };

/* hooks.c */
size_t cask__memory_admit_roots(cask__run *r, uint32_t first, size_t batch);
uint32_t cask__memory_take_ready(cask__worker *w, cask__run *r);
int cask__memory_enter(cask__worker *w, cask__run *r, uint32_t v);
void cask__memory_abort(cask__worker *w, cask__run *r, uint32_t v);
void cask__memory_publish(cask__run *r, uint32_t v);
void cask__memory_finish(cask__run *r, uint32_t v);
void cask__memory_after(cask__worker *w, cask__run *r);

/* How many of a batch of roots (the first is `first`) may start now:
 * batches shrink to what fits under the limit. */
static inline size_t cask__mem_admit_roots(cask__run *r, uint32_t first, size_t batch) {
  return r->mem ? cask__memory_admit_roots(r, first, batch) : batch;
}

/* A task whose inputs the spill thread read back and pinned, or
 * CASK__NO_TASK. Such tasks hold memory, so the loop takes them before
 * roots. */
static inline uint32_t cask__mem_take_ready(cask__worker *w, cask__run *r) {
  return r->mem ? cask__memory_take_ready(w, r) : CASK__NO_TASK;
}

/* Before task v's op runs: pin its inputs and claim its result's room.
 * CASK__EXEC_DONE: run it; CASK__EXEC_DEFERRED: the spill thread has it
 * now; CASK__EXEC_FAILED: the run failed (recorded). */
static inline int cask__mem_enter(cask__worker *w, cask__run *r, uint32_t v) {
  return r->mem ? cask__memory_enter(w, r, v) : CASK__EXEC_DONE;
}

/* Task v failed after cask__mem_enter: give its room back. */
static inline void cask__mem_abort(cask__worker *w, cask__run *r, uint32_t v) {
  if (r->mem) cask__memory_abort(w, r, v);
}

/* Whether to time task v's op: a pure root's time is the price of
 * dropping its block and making it again. */
static inline int cask__mem_times(const cask__run *r, uint32_t v) {
  const cask__task *t = &r->g->tasks[v];
  return r->make_ns && t->ndeps == 0 && (t->op->flags & CASK_OP_PURE);
}

/* Task v's block is in its slot and counted: it may be spilled from now
 * on, and its claimed room becomes held bytes. */
static inline void cask__mem_publish(cask__run *r, uint32_t v) {
  if (r->mem) cask__memory_publish(r, v);
}

/* Task v finished: before its inputs may die, unpin them. */
static inline void cask__mem_finish(cask__run *r, uint32_t v) {
  if (r->mem) cask__memory_finish(r, v);
}

/* d's block is past its last use. 1: the memory manager frees it (it may
 * be on disk or being written); 0: the caller frees it. */
static inline int cask__mem_drop(cask__run *r, uint32_t d) {
  if (!r->mem) return 0;
  cask__memory_drop(r, d);
  return 1;
}

/* After a task and its completion: this worker is idle, and a task
 * waiting for memory may fit now. */
static inline void cask__mem_after(cask__worker *w, cask__run *r) {
  if (r->mem) cask__memory_after(w, r);
}

#endif
