/* block.h - reference-counted typed n-d buffers: the values tasks produce.
 * A block is what flows along the edges of a task graph. The scheduler holds
 * one reference per task result and drops it after the last consumer ran. */
#ifndef CASK_BLOCK_H
#define CASK_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "cask/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CASK_MAX_NDIM 16

typedef enum cask_dtype {
  CASK_F64 = 0,
  CASK_F32,
  CASK_I64,
  CASK_I32,
  CASK_U8,
  CASK_BOOL,
  CASK_DTYPE_COUNT
} cask_dtype;

typedef struct cask_block cask_block;

/* Bytes per element of a dtype, 0 for an invalid one. Thread-safe. */
CASK_API size_t cask_dtype_size(cask_dtype dt);
/* NumPy-style name ("float64", "int32", "bool", ...), or NULL. Thread-safe. */
CASK_API const char *cask_dtype_name(cask_dtype dt);

/* Allocate an uninitialized C-order block (data 64-byte aligned) with one
 * reference owned by the caller. ndim 0 is a scalar. Errors: CASK_EINVAL for a
 * bad dtype, ndim or negative extent, CASK_ETOOBIG on overflow, CASK_ENOMEM.
 * Thread-safe. */
CASK_API int cask_block_new(cask_dtype dt, int ndim, const int64_t *shape,
                            cask_block **out);
/* Wrap memory the caller owns, without copying. release(user, data) is called
 * when the last reference goes (NULL: the memory is never freed by cask).
 * Thread-safe. */
CASK_API int cask_block_wrap(void *data, cask_dtype dt, int ndim, const int64_t *shape,
                             void (*release)(void *user, void *data), void *user,
                             cask_block **out);

/* Add a reference. Thread-safe. Returns b. */
CASK_API cask_block *cask_block_retain(cask_block *b);
/* Drop a reference; the last one frees the block. NULL is a no-op.
 * Thread-safe. */
CASK_API void cask_block_release(cask_block *b);

CASK_API void *cask_block_data(const cask_block *b);
CASK_API size_t cask_block_nbytes(const cask_block *b);
CASK_API int64_t cask_block_size(const cask_block *b); /* element count */
CASK_API cask_dtype cask_block_dtype(const cask_block *b);
CASK_API int cask_block_ndim(const cask_block *b);
CASK_API const int64_t *cask_block_shape(const cask_block *b);

#ifdef __cplusplus
}
#endif
#endif
