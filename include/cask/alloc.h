/* alloc.h - the allocator hook used by every allocation cask makes.
 * Set it once before any other cask call; objects allocated with one set of
 * functions must be freed before another set is installed. */
#ifndef CASK_ALLOC_H
#define CASK_ALLOC_H

#include <stddef.h>

#include "cask/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*cask_malloc_fn)(size_t size);
typedef void *(*cask_realloc_fn)(void *ptr, size_t size);
typedef void *(*cask_calloc_fn)(size_t count, size_t size);
typedef void (*cask_free_fn)(void *ptr);

/* Replace the allocator. All four functions are required; returns CASK_EINVAL
 * if one is NULL. Not thread-safe: call before anything else. */
CASK_API int cask_set_allocator(cask_malloc_fn malloc_fn, cask_realloc_fn realloc_fn,
                                cask_calloc_fn calloc_fn, cask_free_fn free_fn);

/* Allocate and free through the installed allocator. Strings and blobs that
 * cask hands to the caller (error messages, JSON text) are freed with
 * cask_free. Thread-safe. */
CASK_API void *cask_malloc(size_t size);
CASK_API void cask_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
