/* launch.c - cask_run: prepare a graph, hand it to the workers, wait, and
 * collect the outputs (or free everything after a failure).
 * The calling thread works as worker 0; the others join through rt->run
 * (under rt->mu) and the run is torn down only after every worker left. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static int prepare_graph(cask_runtime *rt, cask_graph *g) {
  int rc = cask_graph_validate(g);
  if (!rc && !g->prio) rc = cask_graph_order(g);
  if (rc) cask__fmt(rt->errmsg, sizeof rt->errmsg, "%s", g->errmsg);
  return rc;
}

/* Roots (tasks with no dependencies) sorted by priority. */
static int collect_roots(cask_runtime *rt, cask__run *r) {
  const cask_graph *g = r->g;
  size_t n = g->ntasks;
  if (cask__grow((void **)&rt->by_prio, &rt->by_prio_cap, n + 1, sizeof *rt->by_prio) ||
      cask__grow((void **)&rt->roots, &rt->roots_cap, n + 1, sizeof *rt->roots))
    return CASK_ENOMEM;
  uint32_t *by_prio = rt->by_prio;
  r->roots = rt->roots;
  for (size_t i = 0; i < n; i++) by_prio[g->prio[i]] = (uint32_t)i;
  for (size_t k = 0; k < n; k++)
    if (g->tasks[by_prio[k]].ndeps == 0 && !(r->remote && r->remote->held[by_prio[k]]))
      r->roots[r->nroots++] = by_prio[k]; /* a held root comes through r->remote */
  return CASK_OK;
}

static int setup_run(cask_runtime *rt, cask_graph *g, const cask_run_options *opts,
                     cask__remote *remote, cask__run *r) {
  r->rt = rt;
  r->remote = remote;
  r->g = g;
  r->opts = opts;
  if (cask__grow((void **)&rt->slots, &rt->slots_cap, g->ntasks + 1, sizeof *rt->slots) ||
      collect_roots(rt, r))
    return CASK_ENOMEM;
  r->slots = rt->slots;
  for (size_t i = 0; i < g->ntasks; i++) {
    atomic_init(&r->slots[i].pending, g->tasks[i].ndeps);
    atomic_init(&r->slots[i].uses, g->succ_off[i + 1] - g->succ_off[i]);
    atomic_init(&r->slots[i].mem, CASK__SLOT_EMPTY);
    r->slots[i].out = NULL;
  }
  /* No worker is inside a run now, so the deques have no thieves. */
  for (int i = 0; i < rt->nworkers; i++) {
    cask__worker *w = &rt->workers[i];
    cask__deque_reset(&w->deque);
    w->done_local = w->tasks_run = w->steals = 0;
    w->ntrace = 0;
    w->prepinned = 0;
    atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
  }
  cask__memory_begin(&rt->mem, r);
  return CASK_OK;
}

/* At most 64 tasks whose declared results total under 1 MiB (every size
 * declared): the work of, say, an expression over a few thousand values. */
static int tiny_graph(const cask_graph *g) {
  if (g->ntasks > 64) return 0;
  int64_t bytes = 0;
  for (size_t i = 0; i < g->ntasks; i++) {
    if (g->tasks[i].size < 0) return 0;
    bytes += g->tasks[i].size;
  }
  return bytes < (1 << 20);
}

/* Publish r, work on it as worker 0, and wait for every worker to leave. */
static void drive(cask_runtime *rt, cask__run *r) {
  r->t0 = cask__now_ns();
  cask__lock(&rt->mu, CASK__LOCK_RT);
  r->seq = atomic_load(&rt->run_seq) + 1;
  rt->run = r;
  r->active = 1;
  cask__unlock(&rt->mu, CASK__LOCK_RT);
  /* seq_cst: ordered before the waiter-count read in the notify (park.h). */
  atomic_store_explicit(&rt->run_seq, r->seq, memory_order_seq_cst);
  /* Several roots: wake everyone. One root: its dependents' pushes wake
   * helpers one by one, so a chain never pays for a wake-up. A tiny graph
   * stays on this thread: waking a worker (a futex call, ~1 us here) costs
   * more than its work. */
  if (r->nroots > 1 && !tiny_graph(r->g)) cask__park_notify(&rt->park, 1);
  cask__worker_work(&rt->workers[0], r);
  cask__lock(&rt->mu, CASK__LOCK_RT);
  r->closing = 1;
  r->active--;
  while (r->active > 0) uv_cond_wait(&rt->left_cv, &rt->mu);
  atomic_store(&rt->mem.last_peak, (uint64_t)atomic_load(&r->peak_bytes));
  rt->run = NULL;
  cask__unlock(&rt->mu, CASK__LOCK_RT);
}

static void gather_stats(cask_runtime *rt, cask__run *r, uint64_t t1) {
  cask_run_stats *s = &rt->last_stats;
  memset(s, 0, sizeof *s);
  s->wall_ns = r->t0 ? t1 - r->t0 : 0; /* an empty graph never starts */
  for (int i = 0; i < rt->nworkers; i++) {
    s->tasks_run += rt->workers[i].tasks_run;
    s->steals += rt->workers[i].steals;
  }
  s->peak_bytes = (uint64_t)atomic_load(&r->peak_bytes);
  s->peak_blocks = (uint64_t)atomic_load(&r->peak_blocks);
  const cask__memory *m = &rt->mem;
  s->memory_limit = m->limit;
  s->spilled_bytes = atomic_load(&m->spilled_bytes);
  s->spilled_blocks = atomic_load(&m->spilled_blocks);
  s->loaded_bytes = atomic_load(&m->loaded_bytes);
  s->loaded_blocks = atomic_load(&m->loaded_blocks);
  s->spill_io_ns = atomic_load(&m->io_ns);
  s->held_back = atomic_load(&m->held_back);
  s->dropped_bytes = atomic_load(&m->dropped_bytes);
  s->dropped_blocks = atomic_load(&m->dropped_blocks);
  s->remade_bytes = atomic_load(&m->remade_bytes);
  s->remade_blocks = atomic_load(&m->remade_blocks);
  s->remake_ns = atomic_load(&m->remake_ns);
}

/* The kept tasks' blocks; tasks that produced no value are left out (get
 * returns NULL for them either way), so a graph of a million no-op sinks
 * needs no million-entry table. */
static int collect_results(cask__run *r, cask_results **out) {
  const cask_graph *g = r->g;
  cask_results *res = cask__calloc(1, sizeof *res);
  if (!res) return CASK_ENOMEM;
  res->g = g;
  size_t n = 0;
  for (size_t i = 0; i < g->ntasks; i++) n += r->slots[i].out != NULL;
  res->ids = cask__malloc((n ? n : 1) * sizeof *res->ids);
  res->blocks = cask__malloc((n ? n : 1) * sizeof *res->blocks);
  if (!res->ids || !res->blocks) {
    cask_results_free(res);
    return CASK_ENOMEM;
  }
  /* After a successful run only kept tasks still hold a block. */
  for (size_t i = 0; i < g->ntasks; i++) {
    if (!r->slots[i].out) continue;
    res->ids[res->n] = (uint32_t)i;
    res->blocks[res->n++] = r->slots[i].out;
    r->slots[i].out = NULL;
  }
  *out = res;
  return CASK_OK;
}

/* After a failure some results are still held; after success none are. */
static void free_run(cask__run *r, int failed) {
  if (r->slots && failed)
    for (size_t i = 0; i < r->g->ntasks; i++) cask_block_release(r->slots[i].out);
  cask__free(r);
}

int cask_run(cask_runtime *rt, cask_graph *g, const cask_run_options *opts,
             cask_results **out) {
  if (!rt || !g || !out) return CASK_EINVAL;
  /* another executor (include/cask/mpi.h): it runs its part through
   * cask__run_with, with options that name no executor */
  if (opts && opts->executor && opts->executor->run) {
    cask_run_options o = *opts;
    o.executor = NULL;
    return opts->executor->run(opts->executor, rt, g, &o, out);
  }
  return cask__run_with(rt, g, opts, NULL, out);
}

int cask__run_with(cask_runtime *rt, cask_graph *g, const cask_run_options *opts, cask__remote *remote,
                   cask_results **out) {
  if (!rt || !g || !out) return CASK_EINVAL;
  *out = NULL;
  int idle = 0;
  if (!atomic_compare_exchange_strong(&rt->running, &idle, 1)) return CASK_EBUSY;
  rt->errmsg[0] = '\0';
  memset(&rt->last_stats, 0, sizeof rt->last_stats);
  int rc = prepare_graph(rt, g);
  cask__run *r = NULL;
  if (rc) goto done;
  rc = CASK_ENOMEM;
  if (!(r = cask__calloc(1, sizeof *r)) || setup_run(rt, g, opts, remote, r)) {
    rc = CASK_ENOMEM;
    cask__fmt(rt->errmsg, sizeof rt->errmsg, "out of memory setting up a run of %zu tasks", g->ntasks);
    goto done;
  }
  if (opts && opts->on_run_start) opts->on_run_start(opts->user, g);
  if (remote) cask__remote_attach(remote, r);
  if (g->ntasks) drive(rt, r);
  if (remote) cask__remote_attach(remote, NULL);
  /* Spilled outputs come back; after a failure spill files go. */
  cask__memory_end(&rt->mem, r, atomic_load_explicit(&r->fail_claim, memory_order_acquire));
  gather_stats(rt, r, cask__now_ns());
  if (atomic_load_explicit(&r->fail_claim, memory_order_acquire)) {
    rc = r->fail_rc;
    cask__fmt(rt->errmsg, sizeof rt->errmsg, "%s", r->fail_msg);
    goto done;
  }
  if (opts && opts->trace_path && !(remote && remote->trace_by_caller) &&
      (rc = cask__trace_write(rt, g, opts->trace_path, r->t0, rt->errmsg, sizeof rt->errmsg)))
    goto done;
  rc = collect_results(r, out);
  if (rc) cask__fmt(rt->errmsg, sizeof rt->errmsg, "out of memory collecting results");
done:
  if (r) free_run(r, rc != CASK_OK);
  atomic_store(&rt->running, 0);
  return rc;
}

cask_block *cask_results_get(const cask_results *res, cask_task_id id) {
  if (!res) return NULL;
  size_t lo = 0, hi = res->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (res->ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < res->n && res->ids[lo] == id ? res->blocks[lo] : NULL;
}

cask_block *cask_results_get_key(const cask_results *res, const char *key) {
  cask_task_id id;
  if (!res || cask_graph_find(res->g, key, &id)) return NULL;
  return cask_results_get(res, id);
}

void cask_results_free(cask_results *res) {
  if (!res) return;
  if (res->blocks)
    for (size_t i = 0; i < res->n; i++) cask_block_release(res->blocks[i]);
  cask__free(res->ids);
  cask__free(res->blocks);
  cask__free(res);
}

static int by_id(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int cask__results_rebase(cask_results *res, const cask_graph *g, const uint32_t *to) {
  /* pairs (new id, old position) sorted by new id; the ids stay ascending */
  uint32_t *pairs = cask__malloc((res->n ? res->n : 1) * 2 * sizeof *pairs);
  cask_block **blocks = cask__malloc((res->n ? res->n : 1) * sizeof *blocks);
  if (!pairs || !blocks) {
    cask__free(pairs);
    cask__free(blocks);
    return CASK_ENOMEM;
  }
  for (size_t i = 0; i < res->n; i++) pairs[2 * i] = to[res->ids[i]], pairs[2 * i + 1] = (uint32_t)i;
  qsort(pairs, res->n, 2 * sizeof *pairs, by_id);
  for (size_t i = 0; i < res->n; i++) blocks[i] = res->blocks[pairs[2 * i + 1]];
  for (size_t i = 0; i < res->n; i++) res->ids[i] = pairs[2 * i];
  cask__free(res->blocks);
  cask__free(pairs);
  res->blocks = blocks;
  res->g = g;
  return CASK_OK;
}
