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
