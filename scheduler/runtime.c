/* runtime.c - starting and stopping a runtime's worker threads.
 * The calling thread of cask_run is worker 0; a runtime of N workers starts
 * N-1 threads, which park until a run gives them work (so a one-task graph
 * never pays for a thread hand-off). */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static void thread_main(void *arg) { cask__worker_serve(arg); }

static int env_threads(int *out) {
  const char *s = getenv("CASK_NUM_THREADS");
  if (!s || !*s) {
    *out = (int)uv_available_parallelism();
    return CASK_OK;
  }
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 1 || v > 1024)
    return cask__create_fail(CASK_EINVAL, "CASK_NUM_THREADS='%.100s' is not a thread count from 1 to 1024", s);
  *out = (int)v;
  return CASK_OK;
}

static void stop_threads(cask_runtime *rt, int started) {
  atomic_store(&rt->shutdown, 1);
  cask__lock(&rt->park.mu, CASK__LOCK_PARK);
  atomic_fetch_add(&rt->park.epoch, 1);
  cask__unlock(&rt->park.mu, CASK__LOCK_PARK);
  uv_cond_broadcast(&rt->park.cv);
  for (int i = 1; i < started; i++) uv_thread_join(&rt->workers[i].thread);
}

int cask_runtime_new(const cask_runtime_options *opts, cask_runtime **out) {
  if (!out) return cask__create_fail(CASK_EINVAL, "cask_runtime_new: out is NULL");
  *out = NULL;
  int n = opts ? opts->threads : 0;
  if (n < 0 || n > 1024)
    return cask__create_fail(CASK_EINVAL, "threads = %d: give 1 to 1024, or 0 for CASK_NUM_THREADS or every core", n);
  if (n == 0 && env_threads(&n)) return CASK_EINVAL;
  cask__registry_init();
  cask_runtime *rt = cask__calloc(1, sizeof *rt);
  if (!rt) return cask__create_fail(CASK_ENOMEM, "out of memory starting a runtime");
  rt->nworkers = n;
  rt->workers = cask__aligned_alloc(64, (size_t)n * sizeof *rt->workers);
  int rc = CASK_ENOMEM, inited = 0, started = 1;
  if (!rt->workers) goto fail_free;
  memset(rt->workers, 0, (size_t)n * sizeof *rt->workers);
  if (cask__park_init(&rt->park)) goto fail_free;
  if (uv_mutex_init(&rt->mu)) goto fail_park;
  if (uv_cond_init(&rt->left_cv)) goto fail_mutex;
  if ((rc = cask__memory_init(&rt->mem, opts, rt->errmsg, sizeof rt->errmsg))) goto fail_cond;
  rt->mem.park = &rt->park;
  rc = CASK_ENOMEM;
  for (; inited < n; inited++) {
    cask__worker *w = &rt->workers[inited];
    w->rt = rt;
    w->index = inited;
    w->rng = cask__mix64(0x5eed + (uint64_t)inited);
    if (cask__deque_init(&w->deque, 1024)) goto fail_workers;
  }
  for (; started < n; started++)
    if (uv_thread_create(&rt->workers[started].thread, thread_main, &rt->workers[started])) {
      rc = CASK_ETHREAD;
      goto fail_threads;
    }
  *out = rt;
  cask__create_ok();
  return CASK_OK;
fail_threads:
  stop_threads(rt, started);
fail_workers:
  for (int i = 0; i < inited; i++) cask__deque_destroy(&rt->workers[i].deque);
  cask__memory_destroy(&rt->mem);
fail_cond:
  uv_cond_destroy(&rt->left_cv);
fail_mutex:
  uv_mutex_destroy(&rt->mu);
fail_park:
  cask__park_destroy(&rt->park);
fail_free:
  /* the memory manager's own message says which setting was wrong */
  if (rt->errmsg[0]) cask__create_fail(rc, "%s", rt->errmsg);
  else cask__create_fail(rc, "cannot start a runtime of %d threads: %s", n, cask_strerror(rc));
  cask__aligned_free(rt->workers);
  cask__free(rt);
  return rc;
}

void cask_runtime_free(cask_runtime *rt) {
  if (!rt) return;
  stop_threads(rt, rt->nworkers);
  for (int i = 0; i < rt->nworkers; i++) {
    cask__worker *w = &rt->workers[i];
    cask__deque_destroy(&w->deque);
    cask__free(w->ready);
    cask__free(w->trace);
  }
  cask__memory_destroy(&rt->mem);
  cask__free(rt->slots);
  cask__free(rt->roots);
  cask__free(rt->by_prio);
  uv_cond_destroy(&rt->left_cv);
  uv_mutex_destroy(&rt->mu);
  cask__park_destroy(&rt->park);
  cask__aligned_free(rt->workers);
  cask__free(rt);
}

int cask_runtime_threads(const cask_runtime *rt) { return rt ? rt->nworkers : 0; }

void cask_runtime_cancel(cask_runtime *rt) {
  if (!rt) return;
  atomic_store(&rt->cancel_seen, 1);
  cask__runtime_stop(rt);
}

void cask__runtime_stop(cask_runtime *rt) {
  /* rt->mu keeps the run alive while we mark it. */
  cask__lock(&rt->mu, CASK__LOCK_RT);
  if (rt->run) cask__run_fail(rt->run, CASK_ECANCELED, CASK__NO_TASK, "the run was canceled");
  cask__unlock(&rt->mu, CASK__LOCK_RT);
  cask__park_notify(&rt->park, 1);
}

const char *cask_runtime_errmsg(const cask_runtime *rt) { return rt ? rt->errmsg : ""; }

void cask_runtime_last_stats(const cask_runtime *rt, cask_run_stats *out) {
  if (!out) return;
  if (!rt) {
    memset(out, 0, sizeof *out);
    return;
  }
  *out = rt->last_stats;
}
