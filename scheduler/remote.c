/* remote.c - the queue of roots whose blocks came from elsewhere
 * (remote.h). Few entries (one per received block), so a mutex and an
 * atomic count that keeps idle workers off it. */
#include "internal.h"
#include "remote.h"

int cask__remote_init(cask__remote *x, struct cask_runtime *rt, const uint8_t *held, size_t cap) {
  memset(x, 0, sizeof *x);
  x->rt = rt;
  x->held = held;
  x->cap = cap;
  if (!(x->queue = cask__malloc((cap ? cap : 1) * sizeof *x->queue))) return CASK_ENOMEM;
  if (uv_mutex_init(&x->mu)) {
    cask__free(x->queue);
    return CASK_ENOMEM;
  }
  atomic_init(&x->navail, 0);
  atomic_init(&x->bytes, 0);
  atomic_init(&x->untaken, 0);
  atomic_init(&x->sending, 0);
  atomic_init(&x->room_wanted, 0);
  atomic_init(&x->polled_at, 0);
  return CASK_OK;
}

void cask__remote_destroy(cask__remote *x) {
  uv_mutex_destroy(&x->mu);
  cask__free(x->queue);
}

void cask__remote_arrive(cask__remote *x, uint32_t v) {
  uv_mutex_lock(&x->mu);
  CASK__ASSERT(x->tail < x->cap); /* each held root arrives once */
  x->queue[x->tail++] = v;
  /* seq_cst: published before the park's waiter count is read (park.h) */
  atomic_fetch_add_explicit(&x->navail, 1, memory_order_seq_cst);
  uv_mutex_unlock(&x->mu);
  cask__park_notify(&x->rt->park, 0);
}

uint32_t cask__remote_take(cask__remote *x) {
  if (!atomic_load_explicit(&x->navail, memory_order_seq_cst)) return CASK__NO_TASK;
  uint32_t v = CASK__NO_TASK;
  uv_mutex_lock(&x->mu);
  if (x->head < x->tail) {
    v = x->queue[x->head++];
    atomic_fetch_sub_explicit(&x->navail, 1, memory_order_relaxed);
  }
  uv_mutex_unlock(&x->mu);
  return v;
}

int cask__remote_poll(cask__remote *x, int idle) {
  uint64_t now = cask__now_ns();
  if (!idle && now - atomic_load_explicit(&x->polled_at, memory_order_relaxed) < CASK__REMOTE_POLL_NS) return 0;
  atomic_store_explicit(&x->polled_at, now, memory_order_relaxed);
  return x->progress(x->progress_ctx);
}

void cask__remote_attach(cask__remote *x, struct cask__run *r) {
  uv_mutex_lock(&x->mu);
  x->run = r;
  /* what was held before the run started counts in its peak */
  if (r) cask__raise_peak(r, atomic_load(&r->held_bytes) + atomic_load(&x->bytes));
  uv_mutex_unlock(&x->mu);
}

void cask__remote_hold(cask__remote *x, int64_t delta) {
  int64_t now = atomic_fetch_add_explicit(&x->bytes, delta, memory_order_relaxed) + delta;
  CASK__ASSERT(now >= 0); /* counted out only after counted in */
  cask__park *park = NULL;
  cask__memory *mem = NULL;
  uv_mutex_lock(&x->mu);
  if (x->run) {
    if (delta > 0) cask__raise_peak(x->run, atomic_load_explicit(&x->run->held_bytes, memory_order_relaxed) + now);
    else park = &x->run->rt->park, mem = x->run->mem;
  }
  uv_mutex_unlock(&x->mu);
  /* the park and the manager are the runtime's: they outlive the run */
  if (park) cask__park_notify(park, 0);
  if (mem && atomic_load(&mem->waiting.pub)) cask__memory_wake(mem);
  if (delta < 0) cask__remote_room_freed(x);
}

void cask__remote_send_hold(cask__remote *x, int64_t delta) {
  /* sending first both ways: a spill thread woken by the count out below
   * sees the send gone */
  int64_t now = atomic_fetch_add_explicit(&x->sending, delta, memory_order_seq_cst) + delta;
  CASK__ASSERT(now >= 0);
  cask__remote_hold(x, delta);
}

void cask__remote_taken(cask__remote *x, const cask_block *b) {
  if (!b) return;
  int64_t n = (int64_t)cask_block_nbytes(b);
  int64_t left = atomic_fetch_sub_explicit(&x->untaken, n, memory_order_relaxed) - n;
  CASK__ASSERT(left >= 0); /* counted in by the receiver first */
  cask__remote_hold(x, -n);
}

void cask__remote_want_room(cask__remote *x) { atomic_store_explicit(&x->room_wanted, 1, memory_order_seq_cst); }

/* Whether the memory manager may still make room in r: a task runs (its
 * inputs may die), or the spill thread has work or is at it. While the
 * spill thread's waiting tasks wait for this rank's sends alone
 * (send_wait, memory/spill.c), only running and handed-back tasks count:
 * those sends may be to a rank that waits to send to this one, and one of
 * the two must receive. The cycle is broken here, by one received block
 * over the limit at a time (forced only when none is untaken), which the
 * spill thread then writes out like any other; the spill thread's passes
 * do not count then, as they come and go with every root held back and
 * a receive seeing one would wait again. */
static int room_may_come(cask__run *r) {
  cask__memory *m = r->mem;
  if (cask__any_running(r) || atomic_load(&m->ready.pub)) return 1;
  if (atomic_load(&m->send_wait)) return 0;
  return atomic_load(&m->spill_wanted) || atomic_load(&m->waiting.pub) || atomic_load(&m->busy);
}

int cask__remote_claim(cask__remote *x, int64_t n, int force) {
  int ok = 1;
  cask__memory *wake = NULL;
  uv_mutex_lock(&x->mu);
  cask__run *r = x->run;
  if (r && r->mem) {
    ok = cask__memory_claim(r, (uint64_t)n, r->mem->limit);
    if (ok) {
      /* counted twice for a moment (reserved, then here): never less */
      atomic_fetch_add_explicit(&x->bytes, n, memory_order_relaxed);
      atomic_fetch_sub_explicit(&r->reserved, n, memory_order_relaxed);
    } else if (force && !room_may_come(r)) {
      ok = 1; /* nothing else will free memory: go over rather than wait for ever */
      atomic_fetch_add_explicit(&x->bytes, n, memory_order_relaxed);
    } else if (!atomic_exchange(&r->mem->spill_wanted, 1)) {
      wake = r->mem; /* make room: spill (the caller asks again) */
    }
  } else {
    atomic_fetch_add_explicit(&x->bytes, n, memory_order_relaxed);
  }
  if (ok && r) cask__raise_peak(r, atomic_load_explicit(&r->held_bytes, memory_order_relaxed) + atomic_load(&x->bytes));
  uv_mutex_unlock(&x->mu);
  if (wake) cask__memory_wake(wake); /* the runtime's: outlives the run */
  return ok;
}
