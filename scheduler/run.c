/* run.c - running one graph: the worker loop, task completion, failure.
 *
 * Where a worker looks for work, in order: the dependent its last task made
 * ready (best priority first, depth first, no deque round trip); its own
 * deque; the shared list of root tasks in priority order; other workers'
 * deques (stealing); in a run with blocks from elsewhere (remote.h), an
 * arrived block's root comes first. A worker that finds nothing spins
 * briefly and then parks. Finished-task counts are kept per worker and added to the shared
 * count only when the worker runs dry, so the shared line is touched a few
 * times per run, not once per task: whoever's addition reaches the task
 * count ends the run. The memory limit is kept behind the cask__mem_*
 * hooks (memory/hooks.h), which cost one pointer test when there is none. */
#define _GNU_SOURCE /* qsort_r */
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>

#include "internal.h"
#include "memory/hooks.h"

#define SPIN_ROUNDS 64

static void drop_block(cask__run *r, uint32_t v) {
  if (cask__mem_drop(r, v)) return;
  cask_block *b = r->slots[v].out;
  r->slots[v].out = NULL;
  cask__account(r, b, -1);
  cask_block_release(b);
}

/* Run the op of task v: CASK__EXEC_DONE, CASK__EXEC_DEFERRED (the memory
 * manager hands the task back later) or CASK__EXEC_FAILED (recorded). */
static int execute(cask__worker *w, cask__run *r, uint32_t v) {
  cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  int e = cask__mem_enter(w, r, v);
  if (e != CASK__EXEC_DONE) return e;
  cask_block *stackin[8];
  cask_block **in = stackin;
  if (t->ndeps > 8 && !(in = cask__malloc(t->ndeps * sizeof *in))) {
    cask__run_fail(r, CASK_ENOMEM, v, "out of memory gathering the task's inputs");
    cask__mem_abort(w, r, v);
    return CASK__EXEC_FAILED;
  }
  for (uint32_t k = 0; k < t->ndeps; k++) in[k] = r->slots[g->dep_idx[t->deps_off + k]].out;
  w->errmsg[0] = '\0';
  cask_task_io io = {cask__args(g, v), t->args_len, in, t->ndeps, NULL,
                     w->errmsg, sizeof w->errmsg, t->op->op_data, w->index};
  const cask_run_options *o = r->opts;
  if (o && o->on_task_start) o->on_task_start(o->user, g, v, w->index);
  /* the time a pure op over pure roots takes is part of the price of
   * dropping its block (spill.c) */
  int timed = cask__mem_times(r, v);
  uint64_t start = (o && o->trace_path) || timed ? cask__now_ns() : 0;
  cask__assert_unlocked();
  int rc = t->op->run(&io);
  if (start) {
    uint64_t end = cask__now_ns();
    if (timed && !rc && io.output) cask__memory_time_op(r->mem, t->op, end - start, cask_block_nbytes(io.output));
    if (o && o->trace_path && cask__trace_record(w, v, start, end) && !rc) rc = CASK_ENOMEM;
  }
  if (o && o->on_task_finish) o->on_task_finish(o->user, g, v, w->index, rc);
  if (in != stackin) cask__free(in);
  w->tasks_run++;
  if (rc) {
    cask__mem_abort(w, r, v);
    cask_block_release(io.output);
    char msg[CASK__RUN_ERRMSG_CAP];
    cask__fmt(msg, sizeof msg, "task '%s' (op %s) failed: %s", cask__key(g, v), t->op->name,
              w->errmsg[0] ? w->errmsg : cask_strerror(rc));
    cask__run_fail(r, rc < 0 ? rc : CASK_ETASK, v, msg);
    return CASK__EXEC_FAILED;
  }
  CASK__ASSERT(!r->slots[v].out); /* a task's block is made once */
  r->slots[v].out = io.output;
  /* a received block leaves the remote count only once the slot counts
   * it (remote.h) */
  if (r->remote && r->remote->held[v]) cask__account_received(r, io.output);
  else cask__account(r, io.output, +1);
  cask__mem_publish(r, v);
  return CASK__EXEC_DONE;
}

static int push_ready(cask__worker *w, cask__run *r, uint32_t v) {
  if (cask__deque_push(&w->deque, v)) {
    cask__run_fail(r, CASK_ENOMEM, v, "out of memory growing a work queue");
    return CASK_ENOMEM;
  }
  cask__park_notify(&w->rt->park, 0);
  return CASK_OK;
}

static int by_prio_desc(const void *a, const void *b, void *prio) {
  uint32_t pa = ((uint32_t *)prio)[*(const uint32_t *)a];
  uint32_t pb = ((uint32_t *)prio)[*(const uint32_t *)b];
  return pa < pb ? 1 : pa > pb ? -1 : 0;
}

/* After v ran: release inputs whose last consumer this was, make dependents
 * ready. Returns the best-priority ready dependent to run next, or
 * CASK__NO_TASK; the others go on the deque, best on top. */
static uint32_t complete(cask__worker *w, cask__run *r, uint32_t v) {
  cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  cask__mem_finish(r, v);
  for (uint32_t k = 0; k < t->ndeps; k++) {
    uint32_t d = g->dep_idx[t->deps_off + k];
    /* acq_rel: the last consumer frees the block after every other
     * consumer's reads of it. */
    unsigned uses = atomic_fetch_sub_explicit(&r->slots[d].uses, 1, memory_order_acq_rel);
    CASK__ASSERT(uses >= 1); /* each consumer counts once */
    if (uses == 1 && !cask__is_kept(g, d)) drop_block(r, d);
  }
  uint32_t s0 = g->succ_off[v], s1 = g->succ_off[v + 1];
  if (s0 == s1 && !cask__is_kept(g, v)) drop_block(r, v);
  size_t nready = 0;
  for (uint32_t s = s0; s < s1; s++) {
    uint32_t c = g->succ[s];
    /* acq_rel: the one that makes c ready sees every producer's result. */
    unsigned pending = atomic_fetch_sub_explicit(&r->slots[c].pending, 1, memory_order_acq_rel);
    CASK__ASSERT(pending >= 1 && pending != CASK__TASK_DONE); /* c has not run yet */
    if (pending != 1) continue;
    if (nready == w->ready_cap &&
        cask__grow((void **)&w->ready, &w->ready_cap, nready + 1, sizeof *w->ready)) {
      cask__run_fail(r, CASK_ENOMEM, c, "out of memory collecting ready tasks");
      return CASK__NO_TASK;
    }
    w->ready[nready++] = c;
  }
  if (nready == 0) return CASK__NO_TASK;
  if (nready > 2) qsort_r(w->ready, nready, sizeof *w->ready, by_prio_desc, g->prio);
  else if (nready == 2 && g->prio[w->ready[0]] < g->prio[w->ready[1]]) {
    uint32_t tmp = w->ready[0];
    w->ready[0] = w->ready[1];
    w->ready[1] = tmp;
  }
  for (size_t i = 0; i + 1 < nready; i++)
    if (push_ready(w, r, w->ready[i])) return CASK__NO_TASK;
  return w->ready[nready - 1];
}

/* Take a batch of roots from the shared list (one atomic add for many
 * tasks: the list's cache line would otherwise bounce between cores on
 * every task). The batch goes on this worker's deque, where idle workers
 * can steal it; the best-priority root is returned to run now. Batches
 * shrink as the list empties so the last roots spread over all workers. */
static uint32_t claim_roots(cask__worker *w, cask__run *r) {
  size_t next = atomic_load_explicit(&r->next_root, memory_order_relaxed);
  if (next >= r->nroots) return CASK__NO_TASK;
  size_t batch = (r->nroots - next) / (4 * (size_t)w->rt->nworkers);
  batch = batch < 1 ? 1 : batch > 64 ? 64 : batch;
  batch = cask__mem_admit_roots(r, r->roots[next], batch);
  if (!batch) return CASK__NO_TASK;
  size_t i = atomic_fetch_add_explicit(&r->next_root, batch, memory_order_relaxed);
  if (i >= r->nroots) return CASK__NO_TASK;
  size_t end = i + batch < r->nroots ? i + batch : r->nroots;
  for (size_t k = end - 1; k > i; k--)
    if (push_ready(w, r, r->roots[k])) return CASK__NO_TASK;
  return r->roots[i];
}

static uint32_t steal(cask__worker *w) {
  cask_runtime *rt = w->rt;
  int n = rt->nworkers;
  if (n < 2) return CASK__NO_TASK;
  w->rng = cask__mix64(w->rng + 0x9e3779b97f4a7c15ULL);
  int start = (int)(w->rng % (uint64_t)n);
  for (int k = 0; k < n; k++) {
    cask__worker *victim = &rt->workers[(start + k) % n];
    if (victim == w) continue;
    for (int tries = 0; tries < 4; tries++) {
      uint32_t v = cask__deque_steal(&victim->deque);
      if (v == CASK__DEQUE_EMPTY) break;
      if (v != CASK__DEQUE_ABORT) {
        w->steals++;
        return v;
      }
    }
  }
  return CASK__NO_TASK;
}

static uint32_t find_work(cask__worker *w, cask__run *r) {
  uint32_t v = cask__deque_pop(&w->deque);
  if (v != CASK__DEQUE_EMPTY) return v;
  if ((v = cask__mem_take_ready(w, r)) != CASK__NO_TASK) return v;
  /* blocks from elsewhere hold memory already, like those read back */
  if (r->remote && (v = cask__remote_take(r->remote)) != CASK__NO_TASK) return v;
  if ((v = claim_roots(w, r)) != CASK__NO_TASK) return v;
  return steal(w);
}

/* Add this worker's finished count to the shared one; the addition that
 * reaches the task count ends the run. */
static void flush_done(cask__worker *w, cask__run *r) {
  if (!w->done_local) return;
  uint64_t before = atomic_fetch_add_explicit(&r->done, w->done_local, memory_order_acq_rel);
  CASK__ASSERT(before + w->done_local <= r->g->ntasks); /* no task ran twice */
  if (before + w->done_local == r->g->ntasks) {
    atomic_store_explicit(&r->finished, 1, memory_order_seq_cst); /* see cask__run_fail */
    /* Wake workers parked inside the run. If none ever joined (a small
     * graph the caller ran alone), waking the parked ones would only make
     * them look at a run that is over: a context switch per run that cost
     * small computations 3.4 -> 10.7 us here. seq_cst: a helper that joins
     * after this load sees `finished` before it parks (worker_work). */
    if (atomic_load_explicit(&r->helpers, memory_order_seq_cst)) cask__park_notify(&w->rt->park, 1);
  }
  w->done_local = 0;
}

/* seq_cst: the waiter's half of the pairing with the stores above. */
static int run_over(cask__run *r) {
  return atomic_load_explicit(&r->finished, memory_order_seq_cst) ||
         atomic_load_explicit(&r->stop, memory_order_seq_cst);
}

/* Idle while blocks are to come from elsewhere: poll for them (yielding
 * the core between polls) for up to CASK__REMOTE_IDLE_NS, then let the
 * worker park (the communication thread wakes it when one arrives, after
 * its own sleep). A task found meanwhile, or CASK__NO_TASK. */
static uint32_t poll_remote(cask__worker *w, cask__run *r) {
  uint64_t until = cask__now_ns() + CASK__REMOTE_IDLE_NS;
  uint32_t v = CASK__NO_TASK;
  while (v == CASK__NO_TASK && !run_over(r) && cask__remote_poll(r->remote, 1) >= 0) {
    if ((v = find_work(w, r)) != CASK__NO_TASK) break;
    if (cask__now_ns() >= until) {
      if (r->remote->parking) r->remote->parking(r->remote->progress_ctx);
      break;
    }
    sched_yield();
  }
  return v;
}

/* Between tasks of a run with blocks from elsewhere: poll for them, and
 * run an arrived block's root before v (which goes on the deque): it is
 * cheap (its block is here) and its readers are often what another rank
 * waits for (a stencil's boundary, whose result goes back). Taken after
 * the deque instead, it waited for every task the rank had ready: a step
 * of the stencil of bench/mpi_metg.c on one rank ran its interior first.
 * v, or the root to run instead. */
static uint32_t remote_first(cask__worker *w, cask__run *r, uint32_t v) {
  cask__remote_poll(r->remote, 0);
  if (!atomic_load_explicit(&r->remote->navail, memory_order_relaxed)) return v;
  if (v != CASK__NO_TASK && push_ready(w, r, v)) return CASK__NO_TASK;
  return cask__remote_take(r->remote); /* NO_TASK (taken by another): find_work pops v */
}

/* Work on run r until it is finished or stopped. */
void cask__worker_work(cask__worker *w, cask__run *r) {
  uint32_t v = CASK__NO_TASK;
  for (;;) {
    if (v == CASK__NO_TASK) v = find_work(w, r);
    if (v != CASK__NO_TASK) {
      if (atomic_load_explicit(&r->stop, memory_order_relaxed)) return;
      int e = execute(w, r, v);
      if (e == CASK__EXEC_FAILED) return;
      if (e == CASK__EXEC_DEFERRED) {
        v = CASK__NO_TASK;
        continue;
      }
      w->done_local++;
      v = complete(w, r, v);
      cask__mem_after(w, r);
      if (r->remote && r->remote->progress) v = remote_first(w, r, v);
      continue;
    }
    flush_done(w, r);
    if (run_over(r)) return;
    if (r->remote && r->remote->progress && (v = poll_remote(w, r)) != CASK__NO_TASK) continue;
    for (int i = 0; i < SPIN_ROUNDS && v == CASK__NO_TASK && !run_over(r); i++) {
      sched_yield(); /* with more workers than cores, let the others run */
      v = find_work(w, r);
    }
    if (v != CASK__NO_TASK) continue;
    uint64_t epoch = cask__park_prepare(&w->rt->park);
    if (run_over(r) || (v = find_work(w, r)) != CASK__NO_TASK) {
      cask__park_cancel(&w->rt->park);
      continue;
    }
    cask__park_commit(&w->rt->park, epoch);
  }
}

static cask__run *join(cask_runtime *rt, uint64_t seq) {
  cask__lock(&rt->mu, CASK__LOCK_RT);
  cask__run *r = rt->run;
  if (r && r->seq == seq && !r->closing) {
    r->active++;
    atomic_fetch_add_explicit(&r->helpers, 1, memory_order_seq_cst);
  } else {
    r = NULL;
  }
  cask__unlock(&rt->mu, CASK__LOCK_RT);
  return r;
}

static void leave(cask_runtime *rt, cask__run *r) {
  cask__lock(&rt->mu, CASK__LOCK_RT);
  if (--r->active == 0) uv_cond_signal(&rt->left_cv);
  cask__unlock(&rt->mu, CASK__LOCK_RT);
}

void cask__worker_serve(cask__worker *w) {
  cask_runtime *rt = w->rt;
  uint64_t last = 0; /* sequence number of the last run this worker saw */
  while (!atomic_load(&rt->shutdown)) {
    uint64_t seq = atomic_load_explicit(&rt->run_seq, memory_order_acquire);
    if (seq != last) {
      last = seq;
      cask__run *r = join(rt, seq);
      if (r) {
        cask__worker_work(w, r);
        w->done_local = 0;
        leave(rt, r);
      }
      continue;
    }
    uint64_t epoch = cask__park_prepare(&rt->park);
    if (atomic_load(&rt->shutdown) || atomic_load(&rt->run_seq) != last) {
      cask__park_cancel(&rt->park);
      continue;
    }
    cask__park_commit(&rt->park, epoch);
  }
}
