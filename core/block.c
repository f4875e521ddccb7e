/* block.c - reference-counted typed n-d buffers.
 * The header and the data of an owned block are one allocation (data at a
 * 64-byte boundary after the header) so a block costs one malloc. Wrapped
 * blocks point at caller memory and call the caller's release. Large
 * owned allocations are kept for reuse when their block dies (pool.c). */
#include <stdatomic.h>

#include "internal.h"

struct cask_block {
  atomic_long refs;
  void *data;
  size_t nbytes;
  int64_t size;
  cask_dtype dtype;
  int ndim;
  int64_t shape[CASK_MAX_NDIM];
  void (*release)(void *user, void *data); /* wrapped blocks only */
  void *user;
  int owned;
  size_t cap; /* owned: bytes of the allocation (header and data) */
};

#define BLOCK_HEADER ((sizeof(struct cask_block) + 63) & ~(size_t)63)

static const size_t dtype_sizes[CASK_DTYPE_COUNT] = {8, 4, 8, 4, 1, 1};
static const char *const dtype_names[CASK_DTYPE_COUNT] = {
    "float64", "float32", "int64", "int32", "uint8", "bool"};

size_t cask_dtype_size(cask_dtype dt) {
  return (unsigned)dt < CASK_DTYPE_COUNT ? dtype_sizes[dt] : 0;
}
const char *cask_dtype_name(cask_dtype dt) {
  return (unsigned)dt < CASK_DTYPE_COUNT ? dtype_names[dt] : NULL;
}

/* Check the shape and compute element count and bytes without overflow. */
static int shape_bytes(cask_dtype dt, int ndim, const int64_t *shape,
                       int64_t *size, size_t *nbytes) {
  if ((unsigned)dt >= CASK_DTYPE_COUNT || ndim < 0 || ndim > CASK_MAX_NDIM ||
      (ndim > 0 && !shape))
    return CASK_EINVAL;
  /* Like NumPy, a shape is too big when the product of its non-zero
   * extents overflows, whatever the order of the axes and even if another
   * extent is zero. */
  int64_t n = 1, nonzero = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return CASK_EINVAL;
    if (shape[i] == 0) {
      n = 0;
      continue;
    }
    if (nonzero > INT64_MAX / shape[i]) return CASK_ETOOBIG;
    nonzero *= shape[i];
  }
  if ((uint64_t)nonzero > (SIZE_MAX - BLOCK_HEADER - 64) / dtype_sizes[dt])
    return CASK_ETOOBIG;
  if (n) n = nonzero;
  *size = n;
  *nbytes = (size_t)n * dtype_sizes[dt];
  return CASK_OK;
}

static void fill_header(cask_block *b, cask_dtype dt, int ndim,
                        const int64_t *shape, int64_t size, size_t nbytes) {
  atomic_init(&b->refs, 1);
  b->dtype = dt;
  b->ndim = ndim;
  b->size = size;
  b->nbytes = nbytes;
  for (int i = 0; i < ndim; i++) b->shape[i] = shape[i];
}

int cask_block_new(cask_dtype dt, int ndim, const int64_t *shape,
                   cask_block **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  int64_t size;
  size_t nbytes;
  int rc = shape_bytes(dt, ndim, shape, &size, &nbytes);
  if (rc) return rc;
  size_t cap = BLOCK_HEADER + nbytes;
  cask_block *b = cask__pool_take(cap, &cap);
  if (!b && !(b = cask__aligned_alloc_big(64, cap))) return CASK_ENOMEM;
  fill_header(b, dt, ndim, shape, size, nbytes);
  b->cap = cap;
  b->data = (char *)b + BLOCK_HEADER;
  b->release = NULL;
  b->user = NULL;
  b->owned = 1;
  *out = b;
  return CASK_OK;
}

int cask_block_wrap(void *data, cask_dtype dt, int ndim, const int64_t *shape,
                    void (*release)(void *, void *), void *user,
                    cask_block **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  int64_t size;
  size_t nbytes;
  int rc = shape_bytes(dt, ndim, shape, &size, &nbytes);
  if (rc) return rc;
  if (!data && nbytes > 0) return CASK_EINVAL;
  cask_block *b = cask__aligned_alloc(64, sizeof *b);
  if (!b) return CASK_ENOMEM;
  fill_header(b, dt, ndim, shape, size, nbytes);
  b->data = data;
  b->release = release;
  b->user = user;
  b->owned = 0;
  *out = b;
  return CASK_OK;
}

cask_block *cask_block_retain(cask_block *b) {
  /* relaxed: taking a new reference needs no ordering, the caller already
   * holds one (the libstdc++ shared_ptr argument). */
  if (b) {
    long old = atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    CASK__ASSERT(old >= 1); /* the caller holds a reference */
  }
  return b;
}

void cask_block_release(cask_block *b) {
  if (!b) return;
  /* acq_rel: the thread that frees must see every write other holders made
   * before they released. */
  long old = atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel);
  CASK__ASSERT(old >= 1); /* released no more often than held */
  if (old != 1) return;
  if (!b->owned && b->release) b->release(b->user, b->data);
  if (!b->owned || !cask__pool_give(b, b->cap)) cask__aligned_free(b);
}

int cask__block_frees_memory(const cask_block *b) {
  return b && atomic_load_explicit(&b->refs, memory_order_acquire) == 1 && (b->owned || b->release);
}

void *cask_block_data(const cask_block *b) { return b ? b->data : NULL; }
size_t cask_block_nbytes(const cask_block *b) { return b ? b->nbytes : 0; }
int64_t cask_block_size(const cask_block *b) { return b ? b->size : 0; }
cask_dtype cask_block_dtype(const cask_block *b) { return b ? b->dtype : CASK_DTYPE_COUNT; }
int cask_block_ndim(const cask_block *b) { return b ? b->ndim : 0; }
const int64_t *cask_block_shape(const cask_block *b) { return b ? b->shape : NULL; }
