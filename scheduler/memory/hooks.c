/* hooks.c - the memory manager's side of the worker loop that is not on
 * every task's path (that part is inline in hooks.h): admission of roots,
 * tasks handed back by the spill thread, dropped inputs made again, tasks
 * deferred to the spill thread, and publishing a new block. Only runs that
 * may reach their limit come here (r->mem set). */
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
      !atomic_load(&m->waiting.pub) && !atomic_load(&m->ready.pub) && !atomic_load(&m->busy) &&
      !(r->remote && atomic_load(&r->remote->bytes) > 0))
    return 1;
  /* (blocks another process sends or receives leave by themselves, and
   * wake the workers when they do: remote.h) */
  atomic_fetch_add_explicit(&m->held_back, 1, memory_order_relaxed);
  if (!atomic_exchange(&m->spill_wanted, 1)) cask__memory_wake(m);
  return 0;
}

/* Roots of declared size come in batches that fit half the room left;
 * roots of unknown size one at a time once memory is held. Past the
 * low-water mark, one at a time whatever their size: the rest of a batch
 * waits on the claiming worker's deque, and a thief steals from its far
 * end, so it would start the root needed last while memory is short. */
size_t cask__memory_admit_roots(cask__run *r, uint32_t first, size_t batch) {
  int64_t size = r->g->tasks[first].size;
  if (!admit(r, size)) return 0;
  uint64_t used = cask__memory_used(r), limit = r->mem->limit;
  if (cask__memory_used_by_blocks(r) > r->mem->low) return 1;
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
 * one at a time on the spill thread. */
int cask__memory_remake_inputs(cask__run *r, uint32_t v) {
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

/* The spill thread reads the task's inputs back or makes room, then hands
 * it back. */
int cask__memory_defer(cask__run *r, uint32_t v) {
  if (!cask__list_push(r->mem, &r->mem->waiting, v)) {
    cask__memory_wake(r->mem);
    return CASK__EXEC_DEFERRED;
  }
  cask__run_fail(r, CASK_ENOMEM, v, "out of memory deferring a task");
  return CASK__EXEC_FAILED;
}

void cask__memory_publish(cask__run *r, uint32_t v) {
  cask__memory *m = r->mem;
  const cask_graph *g = r->g;
  int64_t size = g->tasks[v].size;
  /* after the slot counted it in: a release (cask__memory_used) */
  if (size > 0 && !cask__mem_counted(r, v)) atomic_fetch_sub_explicit(&r->reserved, size, memory_order_release);
  if (!r->slots[v].out) return;
  /* A sink nobody keeps is freed right after: never a spill candidate. */
  if (g->succ_off[v] == g->succ_off[v + 1] && !cask__is_kept(g, v)) return;
  atomic_store_explicit(&r->slots[v].mem, CASK__SLOT_MEM, memory_order_release);
  if (cask__memory_used(r) > m->high && !atomic_exchange(&m->spill_wanted, 1)) cask__memory_wake(m);
}

