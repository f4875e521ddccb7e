/* internal.h - helpers shared by every module of libcask: allocation through
 * the hook, hashing, growable arrays, error-message formatting.
 * Nothing here is public; names are cask__ (non-static) or inline. */
#ifndef CASK_CORE_INTERNAL_H
#define CASK_CORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cask/cask.h"

/* CASK__ASSERT(x): an invariant of cask's own code, never a check of what
 * a caller passed (bad input gets an error code, not an abort). Compiled
 * in with CASK_DEBUG_ASSERTS, which the sanitizer builds set (CASK_ASAN,
 * CASK_TSAN), and out of release builds, where x is not evaluated. */
#ifdef CASK_DEBUG_ASSERTS
#include <stdio.h>
#include <stdlib.h>
#define CASK__ASSERT(x)                                                                          \
  ((x) ? (void)0                                                                                 \
       : (fprintf(stderr, "%s:%d: cask invariant broken: %s\n", __FILE__, __LINE__, #x), abort()))
#else
#define CASK__ASSERT(x) ((void)sizeof(!(x)))
#endif

void *cask__malloc(size_t n);
void *cask__calloc(size_t count, size_t n);
void *cask__realloc(void *p, size_t n);
void cask__free(void *p);
/* align must be a power of two >= sizeof(void *). */
void *cask__aligned_alloc(size_t align, size_t n);
void cask__aligned_free(void *p);
char *cask__strdup(const char *s);
/* The same for buffers about to be written whole (block data, file and
 * codec buffers): from 4 MiB on they get transparent huge pages, because
 * fresh 4 KiB pages fault one by one (see alloc.c). */
void *cask__malloc_big(size_t n);
void *cask__aligned_alloc_big(size_t align, size_t n);

/* 64-bit hash of bytes, seeded: fast for short keys, well mixed. */
uint64_t cask__hash(const void *data, size_t len, uint64_t seed);
static inline uint64_t cask__mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* snprintf into a fixed buffer; never overflows, always terminated. */
void cask__fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Grow *p (elements of elt bytes, capacity *cap) to hold at least need.
 * Returns CASK_OK, CASK_ENOMEM or CASK_ETOOBIG. */
int cask__grow(void **p, size_t *cap, size_t need, size_t elt);

/* Monotonic clock in nanoseconds. */
uint64_t cask__now_ns(void);

/* pread until n bytes, end of file or an error: the bytes read, or -1
 * (errno set). EINTR is retried. */
int64_t cask__pread_full(int fd, void *buf, size_t n, int64_t off);
/* Write a file atomically: data goes to "<path>.tmp-PID-XXXXXX" (mkstemp),
 * renamed over path when complete, the temporary removed on failure;
 * leftovers of killed processes next to path go first. */
int cask__write_file_atomic(const char *path, const void *data, size_t len,
                            char *err, size_t errcap);

/* leftovers.c: "<path>.tmp-PID-XXXXXX" into buf, for mkstemp or mkdtemp
 * (CASK_EINVAL if it does not fit). */
int cask__temp_name(char *buf, size_t cap, const char *path);
/* Remove (recursively) the entries of dir named "<prefix><PID>-..." (prefix
 * NULL: any name with ".tmp-<PID>-" in it) whose process is gone. Returns
 * how many went. */
int cask__remove_leftovers(const char *dir, const char *prefix);
/* The same for path's own temporaries, "<path>.tmp-<PID>-..." */
int cask__remove_leftovers_of(const char *path);
/* A new directory "DIR/.BASE.WHAT-PID-N" next to path (a rename from it
 * never crosses file systems), made with the umask's permissions. CASK_OK
 * or CASK_EIO (errno set). */
int cask__temp_dir(const char *path, const char *what, char *out, size_t cap);
/* Remove a file or a directory tree (best effort). */
void cask__remove_tree(const char *path);

/* Take bytes [off, off + len) of fd out of the page cache, writing them
 * out first if written: a container's memory limit counts the cache, so
 * spill files and large outputs must not stay there. Best effort. */
void cask__drop_cached(int fd, int64_t off, int64_t len, int written);

/* pool.c: buffers of dead blocks of 1 MiB and more, kept for new blocks
 * (a fresh page is zeroed by the kernel, which cost more than the work).
 * take: a kept buffer of at least bytes (and at most a quarter more; its
 * capacity in *cap), or NULL. give: keep p (from cask__aligned_alloc_big,
 * capacity cap) if there is room; 0 if not (the caller frees it). */
void *cask__pool_take(size_t bytes, size_t *cap);
int cask__pool_give(void *p, size_t cap);
uint64_t cask__pool_bytes(void);
/* Free kept buffers until at most keep bytes remain. */
void cask__pool_trim(uint64_t keep);

/* error.c: record the message of a failed cask_runtime_new /
 * cask_ctx_new (and return rc) for cask_create_errmsg; clear it. */
int cask__create_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cask__create_ok(void);

/* Whether releasing b (held once, by the caller) frees its memory: it is
 * the only reference and the memory is cask's or has a release callback. */
struct cask_block;
int cask__block_frees_memory(const struct cask_block *b);

#endif
