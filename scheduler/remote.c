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

/* Memory counted here was freed: tasks held back for it may fit now. The
 * park and the manager (NULL: no run) are the runtime's, taken from the
 * run under the lock: they outlive the run, which may end meanwhile. */
static void freed(cask__remote *x, cask__park *park, cask__memory *mem) {
  if (park) cask__park_notify(park, 0);
  if (mem && atomic_load(&mem->waiting.pub)) cask__memory_wake(mem);
  cask__remote_room_freed(x);
}

void cask__remote_send_hold(cask__remote *x, int64_t delta) {
  /* sending first both ways: a spill thread woken by the count out below
   * sees the send gone */
  int64_t now = atomic_fetch_add_explicit(&x->sending, delta, memory_order_seq_cst) + delta;
  CASK__ASSERT(now >= 0);
  cask__remote_hold(x, delta);
}

void cask__remote_hold(cask__remote *x, int64_t delta) {
  /* a count out is a release: cask__memory_used reads these bytes before
   * the held ones */
  int64_t now = atomic_fetch_add_explicit(&x->bytes, delta, memory_order_acq_rel) + delta;
  CASK__ASSERT(now >= 0); /* counted out only after counted in */
  uv_mutex_lock(&x->mu);
  cask__run *r = x->run;
  /* both read under the lock, which a received block's move into held
   * bytes takes too (cask__remote_taken) */
  if (r && delta > 0)
    cask__raise_peak(r, atomic_load_explicit(&r->held_bytes, memory_order_relaxed) + atomic_load(&x->bytes));
  cask__park *park = r ? &r->rt->park : NULL;
  cask__memory *mem = r ? r->mem : NULL;
  uv_mutex_unlock(&x->mu);
  if (delta < 0) freed(x, park, mem);
}

void cask__remote_lock(cask__remote *x) { uv_mutex_lock(&x->mu); }

void cask__remote_unlock(cask__remote *x) { uv_mutex_unlock(&x->mu); }

void cask__remote_taken(cask__remote *x, const cask_block *b) {
  int64_t n = (int64_t)cask_block_nbytes(b);
  int64_t left = atomic_fetch_sub_explicit(&x->untaken, n, memory_order_relaxed) - n;
  CASK__ASSERT(left >= 0); /* counted in by the receiver first */
  /* after the slot counted it in, a release (cask__memory_used) */
  left = atomic_fetch_sub_explicit(&x->bytes, n, memory_order_release) - n;
  CASK__ASSERT(left >= 0);
}

/* (the worker is in the run: r lives) */
void cask__remote_taken_wake(cask__remote *x, struct cask__run *r) { freed(x, &r->rt->park, r->mem); }

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
    cask__memory *m = r->mem;
    ok = cask__memory_claim(r, (uint64_t)n, m->limit);
    if (ok) {
      /* counted twice for a moment (reserved, then here): never less */
      atomic_fetch_add_explicit(&x->bytes, n, memory_order_relaxed);
      atomic_fetch_sub_explicit(&r->reserved, n, memory_order_release);
    } else if (force && !room_may_come(r) && x->asked && (int)(atomic_load(&m->passes_done) - x->asked_pass) > 0 &&
               cask__memory_used_by_blocks(r) <= atomic_load(&m->pass_left)) {
      /* nothing else will free memory, and a spilling pass begun (and
       * ended) since this receive asked for room did not make it, nor did anything
       * come into memory since that pass (a root made in the room it
       * freed is spilled by the next one): go over rather than wait for
       * ever. (Going over at once, before asking, a receive passed the
       * limit while blocks it could have spilled were held.) */
      ok = 1;
      atomic_fetch_add_explicit(&x->bytes, n, memory_order_relaxed);
    } else {
      /* make room: spill (the caller asks again) */
      x->asked = 1;
      x->asked_pass = atomic_load(&m->spill_passes);
      if (!atomic_exchange(&m->spill_wanted, 1)) wake = m;
    }
    if (ok) x->asked = 0;
  } else {
    atomic_fetch_add_explicit(&x->bytes, n, memory_order_relaxed);
  }
  if (ok && r) cask__raise_peak(r, atomic_load_explicit(&r->held_bytes, memory_order_relaxed) + atomic_load(&x->bytes));
  uv_mutex_unlock(&x->mu);
  if (wake) cask__memory_wake(wake); /* the runtime's: outlives the run */
  return ok;
}
