/* park.c - the event count of park.h. The epoch only changes with the mutex
 * held, and a sleeper checks it with the mutex held, so a notify between a
 * sleeper's prepare and its commit is never lost. */
#include "park.h"

#include "locks.h"

int cask__park_init(cask__park *p) {
  atomic_init(&p->waiters, 0);
  atomic_init(&p->epoch, 0);
  if (uv_mutex_init(&p->mu)) return CASK_ENOMEM;
  if (uv_cond_init(&p->cv)) {
    uv_mutex_destroy(&p->mu);
    return CASK_ENOMEM;
  }
  return CASK_OK;
}

void cask__park_destroy(cask__park *p) {
  uv_cond_destroy(&p->cv);
  uv_mutex_destroy(&p->mu);
}

uint64_t cask__park_prepare(cask__park *p) {
  /* seq_cst: the waiter's half of the store-load pairing in park.h. */
  atomic_fetch_add_explicit(&p->waiters, 1, memory_order_seq_cst);
  return atomic_load_explicit(&p->epoch, memory_order_seq_cst);
}

void cask__park_cancel(cask__park *p) {
  atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_relaxed);
}

void cask__park_commit(cask__park *p, uint64_t epoch) {
  cask__assert_unlocked(); /* a sleeper holding a lock would stall its takers */
  cask__lock(&p->mu, CASK__LOCK_PARK);
  while (atomic_load_explicit(&p->epoch, memory_order_relaxed) == epoch)
    uv_cond_wait(&p->cv, &p->mu);
  cask__unlock(&p->mu, CASK__LOCK_PARK);
  atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_relaxed);
}

void cask__park_notify(cask__park *p, int all) {
  /* seq_cst: the notifier's half of the pairing (after publishing work). */
  if (atomic_load_explicit(&p->waiters, memory_order_seq_cst) == 0) return;
  cask__lock(&p->mu, CASK__LOCK_PARK);
  atomic_fetch_add_explicit(&p->epoch, 1, memory_order_relaxed);
  cask__unlock(&p->mu, CASK__LOCK_PARK);
  if (all)
    uv_cond_broadcast(&p->cv);
  else
    uv_cond_signal(&p->cv);
}
