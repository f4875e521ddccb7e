/* pool.c - large block buffers kept for reuse.
 *
 * On this VM a fresh page costs more than the arithmetic on it: the kernel
 * zeroes every page a new mapping touches, and a run that reads a .npy
 * file block by block spent 65 % of its time in clear_page (perf) making
 * blocks it had just freed. So the buffers of blocks of 1 MiB and more are
 * not given back to the allocator when their block dies but kept here, up
 * to POOL_BYTES, and a new block of a size that fits one takes it as it is.
 * The memory manager counts these bytes as used (cask__memory_used) and
 * empties the pool before it spills anything, so the limit still holds. */
#include <stdatomic.h>
#include <uv.h>

#include "internal.h"

#define POOL_MIN ((size_t)1 << 20)    /* smaller buffers come and go cheaply */
#define POOL_BYTES ((size_t)256 << 20)
#define POOL_SLOTS 16

static uv_once_t once = UV_ONCE_INIT;
static uv_mutex_t mu;
static struct {
  void *p;
  size_t cap;
} slots[POOL_SLOTS];
static int nslots;
static atomic_size_t held; /* bytes in slots; read without the lock */

static void init(void) { uv_mutex_init(&mu); }

void *cask__pool_take(size_t bytes, size_t *cap) {
  if (bytes < POOL_MIN || !atomic_load_explicit(&held, memory_order_relaxed)) return NULL;
  uv_once(&once, init);
  void *p = NULL;
  uv_mutex_lock(&mu);
  for (int i = nslots - 1; i >= 0; i--) /* newest first: its pages are warm */
    if (slots[i].cap >= bytes && slots[i].cap - bytes <= bytes / 4) {
      p = slots[i].p;
      *cap = slots[i].cap;
      atomic_fetch_sub_explicit(&held, *cap, memory_order_relaxed);
      slots[i] = slots[--nslots];
      break;
    }
  uv_mutex_unlock(&mu);
  return p;
}

int cask__pool_give(void *p, size_t cap) {
  if (cap < POOL_MIN || cap > POOL_BYTES) return 0;
  uv_once(&once, init);
  int kept = 0;
  uv_mutex_lock(&mu);
  if (nslots < POOL_SLOTS && atomic_load_explicit(&held, memory_order_relaxed) + cap <= POOL_BYTES) {
    slots[nslots].p = p;
    slots[nslots++].cap = cap;
    atomic_fetch_add_explicit(&held, cap, memory_order_relaxed);
    kept = 1;
  }
  uv_mutex_unlock(&mu);
  return kept;
}

uint64_t cask__pool_bytes(void) { return atomic_load_explicit(&held, memory_order_relaxed); }

void cask__pool_trim(uint64_t keep) {
  if (atomic_load_explicit(&held, memory_order_relaxed) <= keep) return;
  uv_once(&once, init);
  for (;;) {
    void *p = NULL;
    uv_mutex_lock(&mu);
    if (nslots && atomic_load_explicit(&held, memory_order_relaxed) > keep) {
      p = slots[0].p; /* oldest first */
      atomic_fetch_sub_explicit(&held, slots[0].cap, memory_order_relaxed);
      slots[0] = slots[--nslots];
    }
    uv_mutex_unlock(&mu);
    if (!p) return;
    cask__aligned_free(p);
  }
}
