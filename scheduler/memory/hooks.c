/* hooks.c - the memory manager's side of the worker loop (see hooks.h):
 * admission of roots, tasks handed back by the spill thread, pinning and
 * claiming before a task runs, publishing its block after, unpinning its
 * inputs, and waking the spill thread for tasks that wait for room. Only
 * runs that may reach their limit come here (r->mem set). */
#include "hooks.h"

#include "../run_state.h"

/* May a root task of declared size `size` (-1: unknown) start now? */
static int admit(cask__run *r, int64_t size) {
  cask__memory *m = r->mem;
  uint64_t used = cask__memory_used(r);
  if (used == 0 || used + (size > 0 ? (uint64_t)size : 0) <= m->limit) return 1;
  /* Nothing runs, the spill thread is idle and has nothing to read back:
   * what is held cannot be spilled (blocks the caller shares), and holding
   * the root back would wait for ever. Go over the limit instead. */
  if (!cask__any_running(r) && !atomic_load(&m->spill_wanted) &&
      !atomic_load(&m->waiting.pub) && !atomic_load(&m->ready.pub) && !atomic_load(&m->busy))
    return 1;
  atomic_fetch_add_explicit(&m->held_back, 1, memory_order_relaxed);
  if (!atomic_exchange(&m->spill_wanted, 1)) cask__memory_wake(m);
  return 0;
}

/* Roots of declared size come in batches that fit half the room left;
 * roots of unknown size one at a time once memory is held. */
size_t cask__memory_admit_roots(cask__run *r, uint32_t first, size_t batch) {
  int64_t size = r->g->tasks[first].size;
  if (!admit(r, size)) return 0;
  uint64_t used = cask__memory_used(r), limit = r->mem->limit;
  uint64_t room = used < limit ? (limit - used) / 2 : 0;
  size_t fit = size > 0 ? (size_t)(room / (uint64_t)size) : used < r->mem->low / 4 ? batch : 1;
  return fit < 1 ? 1 : fit < batch ? fit : batch;
}

uint32_t cask__memory_take_ready(cask__worker *w, cask__run *r) {
  cask__task_list *l = &r->mem->ready;
  if (!atomic_load(&l->pub)) return CASK__NO_TASK;
  uint32_t v = CASK__NO_TASK;
  cask__lock(&r->mem->mu, CASK__LOCK_MEM);
  if (l->n) {
    v = l->v[--l->n];
    atomic_store(&l->pub, l->n);
  }
  cask__unlock(&r->mem->mu, CASK__LOCK_MEM);
  /* its inputs are pinned and its room reserved: cask__memory_enter
   * must not do either again */
  if (v != CASK__NO_TASK) w->prepinned = 1;
  return v;
}

/* A dropped input is made again by the worker that needs it, as its read
 * task ran the first time, in parallel with the other workers, rather than
 * one at a time on the spill thread. 1: none of v's inputs is dropped any
 * more; 0: one could not be made here (no room, or another thread has it);
 * <0: the run failed. */
static int remake_inputs(cask__run *r, uint32_t v) {
  const cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  for (uint32_t k = 0; k < t->ndeps; k++) {
    uint32_t d = g->dep_idx[t->deps_off + k];
    unsigned cur = atomic_load_explicit(&r->slots[d].mem, memory_order_acquire);
    if ((cur & CASK__SLOT_STATE) != CASK__SLOT_DISK) continue;
    if (!(cur & CASK__SLOT_REMAKE)) return 0; /* a spill file: the spill thread's */
    int rc = cask__spill_load(r, d, 0, r->mem->limit);
    if (rc <= 0) return rc;
  }
  return 1;
}

/* Hand task v to the spill thread, which reads its inputs back or makes
 * room, then hands it back. */
static int defer(cask__run *r, uint32_t v) {
  if (!cask__list_push(r->mem, &r->mem->waiting, v)) {
    cask__memory_wake(r->mem);
    return CASK__EXEC_DEFERRED;
  }
  cask__run_fail(r, CASK_ENOMEM, v, "out of memory deferring a task");
  return CASK__EXEC_FAILED;
}

/* Pin the inputs (making dropped ones again here, or handing the task to
 * the spill thread if one is on disk) and claim the declared size of the
 * result. A task whose result would pass the limit goes to the spill
 * thread too, which makes room or waits for running tasks: admission of
 * roots alone let a burst of ready tasks (every block of x - x.mean() at
 * once) take several times the limit, and a check before an unclaimed
 * addition let two workers take the same room. */
int cask__memory_enter(cask__worker *w, cask__run *r, uint32_t v) {
  int prepinned = w->prepinned;
  w->prepinned = 0;
  const cask__task *t = &r->g->tasks[v];
  if (!prepinned && !cask__memory_pin_inputs(r, v)) {
    int made = remake_inputs(r, v);
    if (made < 0) return CASK__EXEC_FAILED;
    if (!made || !cask__memory_pin_inputs(r, v)) return defer(r, v);
  }
  /* A task handed back by the spill thread had its result's room
   * reserved there (so the next task it serves counts it). Others claim
   * it; if they cannot, the spill thread makes room (spills, drops, waits
   * for running tasks) or, when nothing can be freed, hands the task back
   * to run over the limit rather than never. */
  if (t->size > 0 && !prepinned && !cask__memory_claim(r, (uint64_t)t->size, r->mem->limit)) {
    for (uint32_t k = 0; k < t->ndeps; k++) cask__memory_unpin(r, r->g->dep_idx[t->deps_off + k]);
    return defer(r, v);
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
void cask__memory_abort(cask__worker *w, cask__run *r, uint32_t v) {
  int64_t size = r->g->tasks[v].size;
  if (size > 0) atomic_fetch_sub_explicit(&r->reserved, size, memory_order_relaxed);
  atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
}

void cask__memory_publish(cask__run *r, uint32_t v) {
  cask__memory *m = r->mem;
  const cask_graph *g = r->g;
  int64_t size = g->tasks[v].size;
  if (size > 0) atomic_fetch_sub_explicit(&r->reserved, size, memory_order_relaxed);
  if (!r->slots[v].out) return;
  /* A sink nobody keeps is freed right after: never a spill candidate. */
  if (g->succ_off[v] == g->succ_off[v + 1] && !cask__is_kept(g, v)) return;
  atomic_store_explicit(&r->slots[v].mem, CASK__SLOT_MEM, memory_order_release);
  if (cask__memory_used(r) > m->high && !atomic_exchange(&m->spill_wanted, 1)) cask__memory_wake(m);
}

/* The inputs are unpinned before any of them may be dropped (a drop
 * discards the pin count with the block). v's pending becomes
 * CASK__TASK_DONE: the spill thread no longer counts v as a next use. */
void cask__memory_finish(cask__run *r, uint32_t v) {
  const cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  for (uint32_t k = 0; k < t->ndeps; k++) cask__memory_unpin(r, g->dep_idx[t->deps_off + k]);
  atomic_store_explicit(&r->slots[v].pending, CASK__TASK_DONE, memory_order_relaxed);
}

/* A wake-up lost to a race here is made up by the spill thread's retry
 * timer. */
void cask__memory_after(cask__worker *w, cask__run *r) {
  atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
  if (atomic_load_explicit(&r->mem->waiting.pub, memory_order_relaxed)) cask__memory_wake(r->mem);
}
