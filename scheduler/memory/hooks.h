/* hooks.h - the worker loop's calls into the memory manager, one at each
 * point of a task's life (roots taken, work found, before and after the
 * op, inputs released, a block dropped). Each is inline and tests one
 * pointer, r->mem: a run that cannot reach its limit pays that test and
 * nothing more, and run.c keeps no memory policy of its own, as Taskflow's
 * exploit/explore/wait loop keeps none. The bodies are named
 * cask__memory_<point> after their hook cask__mem_<point>. */
#ifndef CASK_SCHED_MEMORY_HOOKS_H
#define CASK_SCHED_MEMORY_HOOKS_H

#include "../internal.h"

/* What became of a task the loop set out to run. */
enum { CASK__EXEC_FAILED = -1, CASK__EXEC_DONE = 0, CASK__EXEC_DEFERRED = 1 };

/* hooks.c: the bodies that are not on every task's path */
size_t cask__memory_admit_roots(cask__run *r, uint32_t first, size_t batch);
uint32_t cask__memory_take_ready(cask__worker *w, cask__run *r);
void cask__memory_publish(cask__run *r, uint32_t v);
/* Make again, on this worker, the inputs of v that were dropped (not
 * written), within the limit. 1: none of v's inputs is dropped any more;
 * 0: one could not be made here (no room, or another thread has it); <0:
 * the run failed. */
int cask__memory_remake_inputs(cask__run *r, uint32_t v);
/* Hand task v to the spill thread; CASK__EXEC_DEFERRED, or
 * CASK__EXEC_FAILED (out of memory, the run failed). */
int cask__memory_defer(cask__run *r, uint32_t v);

/* The bodies on every task's path, inline as they were in run.c: a run
 * has a manager whenever its sizes are not all declared (the default
 * limit is 3/4 of the machine), so they are hot far more often than a
 * limit is near. */

/* Pin the inputs (making dropped ones again here, or handing the task to
 * the spill thread if one is on disk) and claim the declared size of the
 * result. A task whose result would pass the limit goes to the spill
 * thread too, which makes room or waits for running tasks: admission of
 * roots alone let a burst of ready tasks (every block of x - x.mean() at
 * once) take several times the limit, and a check before an unclaimed
 * addition let two workers take the same room. */
/* Whether v's block was counted before its task ran: a block received
 * from elsewhere (remote.h counts it from its arrival on). Its task claims
 * no room: the claim would count it twice, and under pressure send the
 * task to the spill thread while its block, unspillable until taken,
 * holds the room the spill thread is looking for. */
static inline int cask__mem_counted(const cask__run *r, uint32_t v) {
  return r->remote && r->remote->held[v];
}

static inline int cask__memory_enter(cask__worker *w, cask__run *r, uint32_t v) {
  int prepinned = w->prepinned;
  w->prepinned = 0;
  const cask__task *t = &r->g->tasks[v];
  if (!prepinned && !cask__memory_pin_inputs(r, v)) {
    int made = cask__memory_remake_inputs(r, v);
    if (made < 0) return CASK__EXEC_FAILED;
    if (!made || !cask__memory_pin_inputs(r, v)) return cask__memory_defer(r, v);
  }
  /* A task handed back by the spill thread had its result's room
   * reserved there (so the next task it serves counts it). Others claim
   * it; if they cannot, the spill thread makes room (spills, drops, waits
   * for running tasks) or, when nothing can be freed, hands the task back
   * to run over the limit rather than never. */
  if (t->size > 0 && !prepinned && !cask__mem_counted(r, v) && !cask__memory_claim(r, (uint64_t)t->size, r->mem->limit)) {
    for (uint32_t k = 0; k < t->ndeps; k++) cask__memory_unpin(r, r->g->dep_idx[t->deps_off + k]);
    return cask__memory_defer(r, v);
  }
  /* per worker, not one shared counter: a shared line would bounce
   * between cores twice per task */
  atomic_store_explicit(&w->busy, 1, memory_order_relaxed);
  return CASK__EXEC_DONE;
}

/* A failed task's reservation goes and its worker is no longer busy. A
 * failed task left `busy` set once, so the next run on the runtime saw a
 * task running for ever and held its roots back for ever (the inputs stay
 * pinned: the run is over, and cask__memory_end frees what they pin). */
static inline void cask__memory_abort(cask__worker *w, cask__run *r, uint32_t v) {
  int64_t size = r->g->tasks[v].size;
  if (size > 0 && !cask__mem_counted(r, v)) atomic_fetch_sub_explicit(&r->reserved, size, memory_order_relaxed);
  atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
}

/* The inputs are unpinned before any of them may be dropped (a drop
 * discards the pin count with the block). v's pending becomes
 * CASK__TASK_DONE: the spill thread no longer counts v as a next use. */
static inline void cask__memory_finish(cask__run *r, uint32_t v) {
  const cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  for (uint32_t k = 0; k < t->ndeps; k++) cask__memory_unpin(r, g->dep_idx[t->deps_off + k]);
  atomic_store_explicit(&r->slots[v].pending, CASK__TASK_DONE, memory_order_relaxed);
}

/* A wake-up lost to a race here is made up by the spill thread's retry
 * timer. */
static inline void cask__memory_after(cask__worker *w, cask__run *r) {
  atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
  if (atomic_load_explicit(&r->mem->waiting.pub, memory_order_relaxed)) cask__memory_wake(r->mem);
}

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

/* Whether to time task v's op: the rate of a pure op over pure roots is
 * the price of dropping its block and making it again (spill.c). */
static inline int cask__mem_times(const cask__run *r, uint32_t v) {
  return r->mem && cask__remakeable(r->g, v);
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
