/* deque.c - the Chase-Lev deque (see deque.h for the memory-model source).
 * Growing copies the live range into a ring twice as large; the old ring
 * stays allocated (a thief may still read from it) until the owner resets
 * the deque between runs, when no thief can be active. */
#include "deque.h"

#include "../core/internal.h"

static cask__ring *ring_new(int64_t cap) {
  cask__ring *r = cask__malloc(sizeof *r + (size_t)cap * sizeof r->slot[0]);
  if (!r) return NULL;
  r->cap = cap;
  r->retired = NULL;
  return r;
}

int cask__deque_init(cask__deque *d, int64_t cap) {
  cask__ring *r = ring_new(cap);
  if (!r) return CASK_ENOMEM;
  atomic_init(&d->top, 0);
  atomic_init(&d->bottom, 0);
  atomic_init(&d->ring, r);
  return CASK_OK;
}

static void free_retired(cask__ring *r) {
  cask__ring *old = r->retired;
  r->retired = NULL;
  while (old) {
    cask__ring *next = old->retired;
    cask__free(old);
    old = next;
  }
}

void cask__deque_destroy(cask__deque *d) {
  cask__ring *r = atomic_load_explicit(&d->ring, memory_order_relaxed);
  if (!r) return;
  free_retired(r);
  cask__free(r);
  atomic_store_explicit(&d->ring, NULL, memory_order_relaxed);
}

void cask__deque_reset(cask__deque *d) {
  free_retired(atomic_load_explicit(&d->ring, memory_order_relaxed));
  atomic_store_explicit(&d->top, 0, memory_order_relaxed);
  atomic_store_explicit(&d->bottom, 0, memory_order_relaxed);
}

static cask__ring *grow(cask__deque *d, cask__ring *r, int64_t t, int64_t b) {
  cask__ring *n = ring_new(r->cap * 2);
  if (!n) return NULL;
  for (int64_t i = t; i < b; i++)
    atomic_store_explicit(&n->slot[i & (n->cap - 1)],
                          atomic_load_explicit(&r->slot[i & (r->cap - 1)], memory_order_relaxed),
                          memory_order_relaxed);
  n->retired = r;
  /* release: a thief that loads the new ring must see its slots filled. */
  atomic_store_explicit(&d->ring, n, memory_order_release);
  return n;
}

int cask__deque_push(cask__deque *d, uint32_t v) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  cask__ring *r = atomic_load_explicit(&d->ring, memory_order_relaxed);
  if (b - t > r->cap - 1 && !(r = grow(d, r, t, b))) return CASK_ENOMEM;
  atomic_store_explicit(&r->slot[b & (r->cap - 1)], v, memory_order_relaxed);
  /* seq_cst (the paper: release fence, then a relaxed store): publishes the
   * slot to thieves, and orders this store before the parking check that
   * follows a push (see park.h). */
  atomic_store_explicit(&d->bottom, b + 1, memory_order_seq_cst);
  return CASK_OK;
}

uint32_t cask__deque_pop(cask__deque *d) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
  cask__ring *r = atomic_load_explicit(&d->ring, memory_order_relaxed);
  /* seq_cst store then seq_cst load: the paper's full fence between taking
   * the bottom slot and reading top, so a thief and the owner cannot both
   * take the last element. */
  atomic_store_explicit(&d->bottom, b, memory_order_seq_cst);
  int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
  if (t > b) {
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return CASK__DEQUE_EMPTY;
  }
  uint32_t v = atomic_load_explicit(&r->slot[b & (r->cap - 1)], memory_order_relaxed);
  if (t == b) {
    /* The last element: race the thieves for it through top. */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
      v = CASK__DEQUE_EMPTY;
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
  }
  return v;
}

uint32_t cask__deque_steal(cask__deque *d) {
  /* seq_cst loads: the paper's acquire load of top, full fence, acquire
   * load of bottom. */
  int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
  if (t >= b) return CASK__DEQUE_EMPTY;
  cask__ring *r = atomic_load_explicit(&d->ring, memory_order_acquire);
  uint32_t v = atomic_load_explicit(&r->slot[t & (r->cap - 1)], memory_order_relaxed);
  if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                               memory_order_relaxed))
    return CASK__DEQUE_ABORT;
  return v;
}

int cask__deque_maybe_nonempty(cask__deque *d) {
  return atomic_load_explicit(&d->bottom, memory_order_relaxed) >
         atomic_load_explicit(&d->top, memory_order_relaxed);
}
