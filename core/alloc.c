/* alloc.c - the allocator hook. Every allocation in libcask goes through
 * these four pointers; aligned blocks over-allocate and keep the original
 * pointer just below the aligned one so they can use the same hook. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <cjson/cJSON.h>

#include "internal.h"

static cask_malloc_fn hook_malloc = malloc;
static cask_realloc_fn hook_realloc = realloc;
static cask_calloc_fn hook_calloc = calloc;
static cask_free_fn hook_free = free;

int cask_set_allocator(cask_malloc_fn m, cask_realloc_fn r, cask_calloc_fn c,
                       cask_free_fn f) {
  if (!m || !r || !c || !f) return CASK_EINVAL;
  hook_malloc = m;
  hook_realloc = r;
  hook_calloc = c;
  hook_free = f;
  /* cJSON allocates the trees cask parses and prints: same allocator. */
  cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = m, .free_fn = f});
  return CASK_OK;
}

void *cask__malloc(size_t n) { return hook_malloc(n ? n : 1); }
void *cask__calloc(size_t c, size_t n) { return hook_calloc(c ? c : 1, n ? n : 1); }
void *cask__realloc(void *p, size_t n) { return hook_realloc(p, n ? n : 1); }
void cask__free(void *p) {
  if (p) hook_free(p);
}
void *cask_malloc(size_t n) { return cask__malloc(n); }
void cask_free(void *p) { cask__free(p); }

char *cask__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = cask__malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void *cask__aligned_alloc(size_t align, size_t n) {
  if (n > SIZE_MAX - align - sizeof(void *)) return NULL;
  char *raw = cask__malloc(n + align + sizeof(void *));
  if (!raw) return NULL;
  uintptr_t a = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
  ((void **)a)[-1] = raw;
  return (void *)a;
}

void cask__aligned_free(void *p) {
  if (p) cask__free(((void **)p)[-1]);
}

/* Where the kernel leaves transparent huge pages to madvise (Debian's
 * default), every fresh 4 KiB page costs a fault; on virtual machines that
 * is 10+ us, so touching a new 40 MB buffer ran at ~160 MB/s here, and at
 * 1.2-2.5 GB/s with 2 MiB pages. Only the 2 MiB-aligned middle can be huge;
 * advice that fails changes nothing. */
#define HUGE_PAGE ((uintptr_t)2 << 20)
static void advise_huge_pages(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  if (!p || n < 2 * HUGE_PAGE) return;
  uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  uintptr_t e = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
  if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p, (void)n;
#endif
}

int cask__grow(void **p, size_t *cap, size_t need, size_t elt) {
  if (need <= *cap) return CASK_OK;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) {
    if (nc > SIZE_MAX / 2) return CASK_ETOOBIG;
    nc *= 2;
  }
  if (nc > SIZE_MAX / elt) return CASK_ETOOBIG;
  void *np = cask__realloc(*p, nc * elt);
  if (!np) return CASK_ENOMEM;
  /* the big arrays of big graphs (task records, arenas, run slots) */
  advise_huge_pages(np, nc * elt);
  *p = np;
  *cap = nc;
  return CASK_OK;
}

void *cask__malloc_big(size_t n) {
  void *p = cask__malloc(n);
  advise_huge_pages(p, n);
  return p;
}

void *cask__aligned_alloc_big(size_t align, size_t n) {
  void *p = cask__aligned_alloc(align, n);
  advise_huge_pages(p, n);
  return p;
}
