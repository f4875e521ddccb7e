/* run_state.c - a run's shared outcome and counters: the first failure
 * (claimed once with a CAS), held bytes and peaks, and whether a worker is
 * busy. Called by the worker loop and by the memory manager alike. */
#include "internal.h"

void cask__run_fail(cask__run *r, int rc, uint32_t task, const char *msg) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&r->fail_claim, &expected, 1)) {
    r->fail_rc = rc;
    r->fail_task = task;
    cask__fmt(r->fail_msg, sizeof r->fail_msg, "%s", msg);
  }
  /* seq_cst: a store that makes a parked worker's wait end must be ordered
   * before the notifier's read of the waiter count (park.h), or a worker
   * going to sleep and this notify can miss each other and the run hangs. */
  atomic_store_explicit(&r->stop, 1, memory_order_seq_cst);
  cask__park_notify(&r->rt->park, 1);
}

int cask__any_running(const cask__run *r) {
  for (int i = 0; i < r->rt->nworkers; i++)
    if (atomic_load_explicit(&r->rt->workers[i].busy, memory_order_relaxed)) return 1;
  return 0;
}

/* received: b is a block received from elsewhere that its slot now holds
 * (remote.h): counted out of the remote bytes after the slot counted it
 * in and before this thread reads the peak, so its peak does not count
 * it twice (when the slot's count read the remote bytes still holding
 * it, the receivers of tests/mpi/memory.c peaked one block over their
 * limit in most runs). Another thread reading both counters between the
 * two steps can still see it twice for a moment: the safe direction (a
 * claim refused then is retried when the remote bytes drop). */
static void account(cask__run *r, const cask_block *b, int sign, int received) {
  if (!b) return;
  int64_t bytes = (int64_t)cask_block_nbytes(b) * sign;
  cask__remote *x = sign > 0 ? r->remote : NULL;
  /* the peak reads held and remote bytes under the remote lock, as every
   * increase of the remote bytes and every received block's move does
   * (remote.h) */
  if (x) cask__remote_lock(x);
  int64_t nb = atomic_fetch_add_explicit(&r->held_blocks, sign, memory_order_relaxed) + sign;
  int64_t nbytes = atomic_fetch_add_explicit(&r->held_bytes, bytes, memory_order_relaxed) + bytes;
  /* a block is counted out only after it was counted in (happens-before,
   * and so in the counters' modification order) */
  CASK__ASSERT(nb >= 0 && nbytes >= 0);
  if (sign < 0) {
    if (r->remote) cask__remote_room_freed(r->remote); /* a receive waiting for room */
    return;
  }
  if (received) cask__remote_taken(x, b);
  /* blocks held outside the slots (remote.h) are part of the peak */
  if (x) nbytes += atomic_load_explicit(&x->bytes, memory_order_relaxed);
  cask__raise_peak(r, nbytes);
  if (x) cask__remote_unlock(x);
  if (received) cask__remote_taken_wake(x, r);
  int64_t p = atomic_load_explicit(&r->peak_blocks, memory_order_relaxed);
  while (nb > p && !atomic_compare_exchange_weak_explicit(&r->peak_blocks, &p, nb,
                                                          memory_order_relaxed, memory_order_relaxed)) {
  }
}

void cask__account(cask__run *r, const cask_block *b, int sign) { account(r, b, sign, 0); }

void cask__account_received(cask__run *r, const cask_block *b) { account(r, b, +1, 1); }

void cask__raise_peak(cask__run *r, int64_t bytes) {
  int64_t p = atomic_load_explicit(&r->peak_bytes, memory_order_relaxed);
  while (bytes > p && !atomic_compare_exchange_weak_explicit(&r->peak_bytes, &p, bytes, memory_order_relaxed,
                                                             memory_order_relaxed)) {
  }
}
