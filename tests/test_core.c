/* test_core.c - the core module: error codes, version, the allocator hook,
 * blocks, the key hash and atomic file writes.
 * The allocator test installs a counting hook for the whole process; it
 * restores the default before it returns, so it is safe with CK_FORK=no as
 * long as it passes. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cask/cask.h"
#include "core/internal.h"

/* ---- error codes ------------------------------------------------------- */

START_TEST(errors_every_code_has_its_text_and_name) {
  ck_assert_str_eq(cask_strerror(CASK_OK), "success");
  ck_assert_str_eq(cask_err_name(CASK_OK), "CASK_OK");
  int count = 0;
#define CHECK_CODE(name, val, text)                           \
  ck_assert_int_eq(CASK_##name, val);                         \
  ck_assert_int_lt(CASK_##name, 0);                           \
  ck_assert_str_eq(cask_strerror(CASK_##name), text);         \
  ck_assert_str_eq(cask_err_name(CASK_##name), "CASK_" #name); \
  count++;
  CASK_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
  ck_assert_int_gt(count, 0);
}
END_TEST

START_TEST(errors_codes_are_distinct_and_dense) {
  /* The values are -1, -2, ... with no gap or repeat: a stable, append-only
   * list. */
  static const int codes[] = {
#define CODE(name, val, text) CASK_##name,
      CASK_ERRNO_MAP(CODE)
#undef CODE
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) ck_assert_int_eq(codes[i], -(int)(i + 1));
}
END_TEST

START_TEST(errors_unknown_codes_have_fallback_text) {
  int lowest = 0;
#define LOWEST(name, val, text) \
  if (val < lowest) lowest = val;
  CASK_ERRNO_MAP(LOWEST)
#undef LOWEST
  const int unknown[] = {1, 42, lowest - 1, lowest - 1000, INT_MIN, INT_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    ck_assert_str_eq(cask_strerror(unknown[i]), "unknown error");
    ck_assert_str_eq(cask_err_name(unknown[i]), "CASK_UNKNOWN");
  }
}
END_TEST

/* ---- version ----------------------------------------------------------- */

START_TEST(version_matches_the_header) {
  ck_assert_uint_eq(cask_version(), CASK_VERSION_HEX);
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", CASK_VERSION_MAJOR, CASK_VERSION_MINOR,
           CASK_VERSION_PATCH);
  ck_assert_str_eq(cask_version_string(), want);
  ck_assert_uint_eq((cask_version() >> 16) & 0xff, CASK_VERSION_MAJOR);
  ck_assert_uint_eq((cask_version() >> 8) & 0xff, CASK_VERSION_MINOR);
  ck_assert_uint_eq(cask_version() & 0xff, CASK_VERSION_PATCH);
}
END_TEST

/* ---- the allocator hook ------------------------------------------------ */

/* A counting allocator that also remembers every live pointer, so a free of
 * memory it did not hand out (or a double free) is caught, not just counted. */
#define MAX_LIVE 65536
static struct {
  long calls, frees, foreign_frees;
  void *live[MAX_LIVE];
  size_t nlive;
} hook;

static void live_add(void *p) {
  if (!p) return;
  ck_assert_uint_lt(hook.nlive, MAX_LIVE);
  hook.live[hook.nlive++] = p;
}

/* Remove p from the live set; 0 if it was not there. */
static int live_remove(void *p) {
  for (size_t i = hook.nlive; i-- > 0;)
    if (hook.live[i] == p) {
      hook.live[i] = hook.live[--hook.nlive];
      return 1;
    }
  return 0;
}

static void *count_malloc(size_t n) {
  void *p = malloc(n);
  hook.calls++;
  live_add(p);
  return p;
}
static void *count_calloc(size_t c, size_t n) {
  void *p = calloc(c, n);
  hook.calls++;
  live_add(p);
  return p;
}
static void *count_realloc(void *old, size_t n) {
  hook.calls++;
  if (old && !live_remove(old)) hook.foreign_frees++;
  void *p = realloc(old, n);
  if (!p && old) live_add(old); /* realloc failed: the old block lives on */
  live_add(p);
  return p;
}
static void count_free(void *p) {
  if (!p) return;
  hook.frees++;
  if (!live_remove(p)) hook.foreign_frees++;
  free(p);
}

static int released_calls;
static void *released_user, *released_data;
static void record_release(void *user, void *data) {
  released_calls++;
  released_user = user;
  released_data = data;
}

/* Build, optimize and free a graph and some blocks under the hook. Big
 * enough (600 tasks) that the key table and every arena grow. */
static void exercise_library(void) {
  const cask_op *noop = cask_op_find("cask.noop");
  ck_assert_ptr_nonnull(noop);
  cask_graph *g = NULL;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id prev = 0;
  for (int i = 0; i < 600; i++) {
    char key[32];
    snprintf(key, sizeof key, "hook-%d", i);
    cask_task_id id;
    uint64_t arg = (uint64_t)i;
    ck_assert_int_eq(cask_graph_add(g, key, noop, &arg, sizeof arg, &prev, i ? 1 : 0, &id),
                     CASK_OK);
    ck_assert_int_eq(cask_graph_set_size(g, id, 8), CASK_OK);
    prev = id;
  }
  /* Derived keys, keyed deps and a task with more than 16 dependencies take
   * the heap paths of the add calls. */
  cask_task_id many[20];
  for (int i = 0; i < 20; i++) many[i] = (cask_task_id)(i * 3);
  cask_task_id wide;
  ck_assert_int_eq(cask_graph_add(g, NULL, noop, NULL, 0, many, 20, &wide), CASK_OK);
  const char *keys[20];
  char buf[20][32];
  for (int i = 0; i < 20; i++) {
    snprintf(buf[i], sizeof buf[i], "hook-%d", i * 5);
    keys[i] = buf[i];
  }
  ck_assert_int_eq(cask_graph_add_keyed(g, "hook-wide", noop, NULL, 0, keys, 20, NULL), CASK_OK);
  ck_assert_int_eq(cask_graph_set_output(g, prev, 1), CASK_OK);
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_OK);
  int64_t peak;
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
  cask_graph_free(g);

  /* A graph that fails validation frees its partial state too. */
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  const char *missing[] = {"hook-nowhere"};
  ck_assert_int_eq(cask_graph_add_keyed(g, "hook-orphan", noop, NULL, 0, missing, 1, NULL),
                   CASK_OK);
  ck_assert_int_eq(cask_graph_validate(g), CASK_EMISSINGDEP);
  cask_graph_free(g);

  int64_t shape[] = {3, 5};
  cask_block *b = NULL, *w = NULL;
  ck_assert_int_eq(cask_block_new(CASK_F64, 2, shape, &b), CASK_OK);
  cask_block_release(cask_block_retain(b));
  cask_block_release(b);
  static double outside[15];
  released_calls = 0;
  ck_assert_int_eq(cask_block_wrap(outside, CASK_F64, 2, shape, record_release, NULL, &w),
                   CASK_OK);
  cask_block_release(w);
  ck_assert_int_eq(released_calls, 1);

  void *p = cask_malloc(100);
  ck_assert_ptr_nonnull(p);
  cask_free(p);
  cask_free(NULL);
}

START_TEST(alloc_hook_sees_every_allocation_and_every_free) {
  /* The op registry lives for the whole process and allocates once, on first
   * use: do that with the default allocator, as a program would. */
  ck_assert_ptr_nonnull(cask_op_find("cask.noop"));
  memset(&hook, 0, sizeof hook);
  ck_assert_int_eq(cask_set_allocator(count_malloc, count_realloc, count_calloc, count_free),
                   CASK_OK);
  exercise_library();
  long calls = hook.calls, frees = hook.frees, foreign = hook.foreign_frees;
  size_t live = hook.nlive;
  ck_assert_int_eq(cask_set_allocator(malloc, realloc, calloc, free), CASK_OK);
  ck_assert_msg(calls > 0, "the hook was never called");
  ck_assert_msg(frees > 0, "the hook's free was never called");
  ck_assert_msg(foreign == 0, "%ld frees of pointers the hook did not allocate", foreign);
  ck_assert_msg(live == 0, "%zu allocations made through the hook were not freed", live);

  /* The default is back: nothing more reaches the counting functions. */
  void *p = cask_malloc(10);
  cask_free(p);
  ck_assert_int_eq(hook.calls, calls);
  ck_assert_int_eq(hook.frees, frees);
}
END_TEST

START_TEST(alloc_hook_rejects_a_missing_function_and_keeps_the_old_one) {
  memset(&hook, 0, sizeof hook);
  ck_assert_int_eq(cask_set_allocator(count_malloc, count_realloc, count_calloc, count_free),
                   CASK_OK);
  int rc1 = cask_set_allocator(NULL, realloc, calloc, free);
  int rc2 = cask_set_allocator(malloc, NULL, calloc, free);
  int rc3 = cask_set_allocator(malloc, realloc, NULL, free);
  int rc4 = cask_set_allocator(malloc, realloc, calloc, NULL);
  void *p = cask_malloc(16);
  long calls = hook.calls;
  cask_free(p);
  long frees = hook.frees;
  ck_assert_int_eq(cask_set_allocator(malloc, realloc, calloc, free), CASK_OK);
  ck_assert_int_eq(rc1, CASK_EINVAL);
  ck_assert_int_eq(rc2, CASK_EINVAL);
  ck_assert_int_eq(rc3, CASK_EINVAL);
  ck_assert_int_eq(rc4, CASK_EINVAL);
  ck_assert_msg(calls == 1 && frees == 1,
                "after rejected installs the counting hook saw %ld allocations, %ld frees", calls,
                frees);
}
END_TEST

/* ---- blocks ------------------------------------------------------------ */

START_TEST(block_dtypes_have_sizes_and_names) {
  static const size_t sizes[] = {8, 4, 8, 4, 1, 1};
  static const char *const names[] = {"float64", "float32", "int64", "int32", "uint8", "bool"};
  ck_assert_int_eq(CASK_DTYPE_COUNT, 6);
  for (int dt = 0; dt < CASK_DTYPE_COUNT; dt++) {
    ck_assert_uint_eq(cask_dtype_size((cask_dtype)dt), sizes[dt]);
    ck_assert_str_eq(cask_dtype_name((cask_dtype)dt), names[dt]);
  }
  ck_assert_uint_eq(cask_dtype_size(CASK_DTYPE_COUNT), 0);
  ck_assert_uint_eq(cask_dtype_size((cask_dtype)-1), 0);
  ck_assert_ptr_null(cask_dtype_name(CASK_DTYPE_COUNT));
  ck_assert_ptr_null(cask_dtype_name((cask_dtype)-1));
}
END_TEST

START_TEST(block_new_has_shape_size_and_aligned_data) {
  static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {64, 1, 2}, {0, 4, 4}, {1000, 3, 1}};
  for (int dt = 0; dt < CASK_DTYPE_COUNT; dt++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int ndim = 0; ndim <= 3; ndim++) {
        int64_t shape[3];
        memcpy(shape, shapes[s], sizeof shape);
        cask_block *b = NULL;
        ck_assert_int_eq(cask_block_new((cask_dtype)dt, ndim, shape, &b), CASK_OK);
        int64_t size = 1;
        for (int i = 0; i < ndim; i++) size *= shapes[s][i];
        shape[0] = 999; /* the block keeps its own copy */
        ck_assert_int_eq(cask_block_ndim(b), ndim);
        ck_assert_int_eq(cask_block_dtype(b), dt);
        ck_assert_int_eq(cask_block_size(b), size);
        ck_assert_uint_eq(cask_block_nbytes(b), (size_t)size * cask_dtype_size((cask_dtype)dt));
        for (int i = 0; i < ndim; i++) ck_assert_int_eq(cask_block_shape(b)[i], shapes[s][i]);
        ck_assert_ptr_nonnull(cask_block_data(b));
        ck_assert_msg((uintptr_t)cask_block_data(b) % 64 == 0,
                      "data %p of a %s block with %d dims is not 64-byte aligned",
                      cask_block_data(b), cask_dtype_name((cask_dtype)dt), ndim);
        /* Every byte is writable (ASan checks the bounds). */
        memset(cask_block_data(b), 0xab, cask_block_nbytes(b));
        cask_block_release(b);
      }
}
END_TEST

START_TEST(block_new_scalar_has_one_element) {
  cask_block *b = NULL;
  ck_assert_int_eq(cask_block_new(CASK_I32, 0, NULL, &b), CASK_OK);
  ck_assert_int_eq(cask_block_ndim(b), 0);
  ck_assert_int_eq(cask_block_size(b), 1);
  ck_assert_uint_eq(cask_block_nbytes(b), 4);
  *(int32_t *)cask_block_data(b) = 7;
  cask_block_release(b);
}
END_TEST

START_TEST(block_new_accepts_max_ndim) {
  int64_t shape[CASK_MAX_NDIM];
  for (int i = 0; i < CASK_MAX_NDIM; i++) shape[i] = i % 3 == 0 ? 2 : 1;
  cask_block *b = NULL;
  ck_assert_int_eq(cask_block_new(CASK_U8, CASK_MAX_NDIM, shape, &b), CASK_OK);
  ck_assert_int_eq(cask_block_ndim(b), CASK_MAX_NDIM);
  ck_assert_int_eq(cask_block_size(b), 64);
  for (int i = 0; i < CASK_MAX_NDIM; i++) ck_assert_int_eq(cask_block_shape(b)[i], shape[i]);
  cask_block_release(b);
}
END_TEST

START_TEST(block_new_rejects_bad_arguments_with_einval) {
  int64_t shape[CASK_MAX_NDIM + 1];
  for (int i = 0; i <= CASK_MAX_NDIM; i++) shape[i] = 1;
  cask_block *b = (cask_block *)&shape; /* must be reset to NULL on failure */
  ck_assert_int_eq(cask_block_new(CASK_F64, CASK_MAX_NDIM + 1, shape, &b), CASK_EINVAL);
  ck_assert_ptr_null(b);
  b = (cask_block *)&shape;
  ck_assert_int_eq(cask_block_new(CASK_F64, 100, shape, &b), CASK_EINVAL);
  ck_assert_ptr_null(b);
  ck_assert_int_eq(cask_block_new(CASK_F64, -1, shape, &b), CASK_EINVAL);
  ck_assert_int_eq(cask_block_new(CASK_DTYPE_COUNT, 1, shape, &b), CASK_EINVAL);
  ck_assert_int_eq(cask_block_new((cask_dtype)-1, 1, shape, &b), CASK_EINVAL);
  ck_assert_int_eq(cask_block_new(CASK_F64, 2, NULL, &b), CASK_EINVAL);
  ck_assert_int_eq(cask_block_new(CASK_F64, 1, shape, NULL), CASK_EINVAL);
  int64_t negative[] = {4, -1};
  ck_assert_int_eq(cask_block_new(CASK_F64, 2, negative, &b), CASK_EINVAL);
  ck_assert_ptr_null(b);
  static double data[4];
  ck_assert_int_eq(cask_block_wrap(data, CASK_F64, CASK_MAX_NDIM + 1, shape, NULL, NULL, &b),
                   CASK_EINVAL);
  ck_assert_int_eq(cask_block_wrap(data, CASK_F64, 2, negative, NULL, NULL, &b), CASK_EINVAL);
  ck_assert_int_eq(cask_block_wrap(data, CASK_DTYPE_COUNT, 1, shape, NULL, NULL, &b),
                   CASK_EINVAL);
  ck_assert_int_eq(cask_block_wrap(data, CASK_F64, 1, shape, NULL, NULL, NULL), CASK_EINVAL);
  ck_assert_ptr_null(b);
}
END_TEST

START_TEST(block_new_overflow_is_etoobig) {
  /* None of these may reach the allocator: each is caught by arithmetic. */
  static const struct {
    cask_dtype dt;
    int ndim;
    int64_t shape[3];
  } cases[] = {
      {CASK_U8, 2, {INT64_MAX, 2}},                   /* element count overflows */
      {CASK_U8, 2, {INT64_C(1) << 32, INT64_C(1) << 32}},
      {CASK_U8, 3, {INT64_C(1) << 21, INT64_C(1) << 21, INT64_C(1) << 22}},
      {CASK_F64, 1, {INT64_C(1) << 62}},              /* bytes overflow */
      {CASK_F64, 1, {INT64_MAX}},
      {CASK_I32, 2, {INT64_C(1) << 31, INT64_C(1) << 31}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cask_block *b = (cask_block *)&cases; /* must be reset to NULL */
    int rc = cask_block_new(cases[i].dt, cases[i].ndim, cases[i].shape, &b);
    ck_assert_msg(rc == CASK_ETOOBIG, "case %zu: cask_block_new gave %s, want CASK_ETOOBIG", i,
                  cask_err_name(rc));
    ck_assert_ptr_null(b);
    static char one;
    rc = cask_block_wrap(&one, cases[i].dt, cases[i].ndim, cases[i].shape, NULL, NULL, &b);
    ck_assert_msg(rc == CASK_ETOOBIG, "case %zu: cask_block_wrap gave %s, want CASK_ETOOBIG", i,
                  cask_err_name(rc));
    ck_assert_ptr_null(b);
  }
}
END_TEST

START_TEST(block_zero_extent_is_an_empty_block) {
  int64_t shape[] = {4, 0, 3};
  cask_block *b = NULL;
  ck_assert_int_eq(cask_block_new(CASK_F64, 3, shape, &b), CASK_OK);
  ck_assert_int_eq(cask_block_size(b), 0);
  ck_assert_uint_eq(cask_block_nbytes(b), 0);
  cask_block_release(b);
  ck_assert_int_eq(cask_block_wrap(NULL, CASK_F64, 3, shape, NULL, NULL, &b), CASK_OK);
  ck_assert_int_eq(cask_block_size(b), 0);
  cask_block_release(b);
}
END_TEST

START_TEST(block_wrap_calls_release_exactly_once) {
  static double data[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[] = {2, 3};
  int user = 0;
  cask_block *b = NULL;
  released_calls = 0;
  released_user = released_data = NULL;
  ck_assert_int_eq(cask_block_wrap(data, CASK_F64, 2, shape, record_release, &user, &b),
                   CASK_OK);
  ck_assert_ptr_eq(cask_block_data(b), data); /* no copy */
  ck_assert_int_eq(cask_block_size(b), 6);
  ck_assert_uint_eq(cask_block_nbytes(b), sizeof data);
  ck_assert_ptr_eq(cask_block_retain(b), b);
  ck_assert_ptr_eq(cask_block_retain(b), b);
  cask_block_release(b);
  cask_block_release(b);
  ck_assert_int_eq(released_calls, 0);
  cask_block_release(b);
  ck_assert_int_eq(released_calls, 1);
  ck_assert_ptr_eq(released_user, &user);
  ck_assert_ptr_eq(released_data, data);
  cask_block_release(NULL);
  ck_assert_int_eq(released_calls, 1);
}
END_TEST

START_TEST(block_wrap_rejects_null_data_and_does_not_release) {
  int64_t shape[] = {4};
  cask_block *b = NULL;
  released_calls = 0;
  ck_assert_int_eq(cask_block_wrap(NULL, CASK_F32, 1, shape, record_release, NULL, &b),
                   CASK_EINVAL);
  ck_assert_ptr_null(b);
  ck_assert_int_eq(released_calls, 0);
  /* Without a release function the memory is left alone. */
  static float data[4];
  ck_assert_int_eq(cask_block_wrap(data, CASK_F32, 1, shape, NULL, NULL, &b), CASK_OK);
  cask_block_release(b);
  ck_assert_int_eq(released_calls, 0);
}
END_TEST

START_TEST(block_accessors_accept_null) {
  ck_assert_ptr_null(cask_block_data(NULL));
  ck_assert_uint_eq(cask_block_nbytes(NULL), 0);
  ck_assert_int_eq(cask_block_size(NULL), 0);
  ck_assert_int_eq(cask_block_dtype(NULL), CASK_DTYPE_COUNT);
  ck_assert_int_eq(cask_block_ndim(NULL), 0);
  ck_assert_ptr_null(cask_block_shape(NULL));
  ck_assert_ptr_null(cask_block_retain(NULL));
}
END_TEST

enum { REF_THREADS = 4, REF_ROUNDS = 100000 };

static void *retain_release_loop(void *arg) {
  cask_block *b = arg;
  for (int i = 0; i < REF_ROUNDS; i++) {
    cask_block_retain(b);
    cask_block_release(b);
  }
  return NULL;
}

START_TEST(block_refcount_is_thread_safe) {
  static int32_t data[8];
  int64_t shape[] = {8};
  cask_block *b = NULL;
  released_calls = 0;
  ck_assert_int_eq(cask_block_wrap(data, CASK_I32, 1, shape, record_release, NULL, &b),
                   CASK_OK);
  pthread_t th[REF_THREADS];
  for (int i = 0; i < REF_THREADS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, retain_release_loop, b), 0);
  for (int i = 0; i < REF_THREADS; i++) pthread_join(th[i], NULL);
  ck_assert_int_eq(released_calls, 0);
  cask_block_release(b);
  ck_assert_int_eq(released_calls, 1);
}
END_TEST

/* ---- the key hash ------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

START_TEST(hash_tells_apart_length_and_content) {
  const uint64_t seed = 0x1234;
  uint64_t a = cask__hash("a", 1, seed);
  uint64_t a0 = cask__hash("a\0", 2, seed);
  uint64_t b = cask__hash("b", 1, seed);
  uint64_t empty = cask__hash("", 0, seed);
  ck_assert_uint_ne(a, a0);
  ck_assert_uint_ne(a, b);
  ck_assert_uint_ne(a0, b);
  ck_assert_uint_ne(empty, a);
  ck_assert_uint_ne(cask__hash("", 0, seed), cask__hash("\0", 1, seed));
  /* Zero padding of an 8-byte word must not merge lengths either. */
  ck_assert_uint_ne(cask__hash("abcdefgh", 8, seed), cask__hash("abcdefgh\0", 9, seed));
  ck_assert_uint_ne(cask__hash("abcdefg", 7, seed), cask__hash("abcdefg\0", 8, seed));
  /* Deterministic, and the seed matters. */
  ck_assert_uint_eq(cask__hash("a", 1, seed), a);
  ck_assert_uint_ne(cask__hash("a", 1, seed + 1), a);
}
END_TEST

enum { NKEYS = 100000 };

START_TEST(hash_has_no_collisions_among_short_keys) {
  uint64_t *h = malloc(NKEYS * sizeof *h);
  ck_assert_ptr_nonnull(h);
  /* Key shapes a graph has: short counters, dask-style chunk names, and
   * keys that differ only in their last byte or across the 8-byte boundary. */
  size_t n = 0;
  char key[64];
  for (int i = 0; i < 40000; i++) {
    int len = snprintf(key, sizeof key, "%d", i);
    h[n++] = cask__hash(key, (size_t)len, 0);
  }
  for (int i = 0; i < 40000; i++) {
    int len = snprintf(key, sizeof key, "('x', %d, %d)", i / 200, i % 200);
    h[n++] = cask__hash(key, (size_t)len, 0);
  }
  for (uint32_t i = 0; i < 20000; i++) {
    memset(key, 0, sizeof key);
    memcpy(key, "binary--", 8);
    memcpy(key + 8, &i, sizeof i);
    h[n++] = cask__hash(key, 12 + i % 9, 0);
  }
  ck_assert_uint_eq(n, NKEYS);
  qsort(h, n, sizeof *h, cmp_u64);
  size_t dups = 0;
  for (size_t i = 1; i < n; i++) dups += h[i] == h[i - 1];
  ck_assert_msg(dups == 0, "%zu 64-bit collisions among %d keys", dups, NKEYS);
  free(h);
}
END_TEST

START_TEST(hash_low_bits_spread_evenly) {
  /* The graph's table indexes with the low bits. 10^5 counter keys in 2^16
   * buckets: a good hash leaves about e^-1.53 = 21.7% of buckets empty and no
   * bucket with more than about 10 keys. */
  enum { BUCKETS = 1 << 16 };
  uint32_t *load = calloc(BUCKETS, sizeof *load);
  ck_assert_ptr_nonnull(load);
  char key[32];
  for (int i = 0; i < NKEYS; i++) {
    int len = snprintf(key, sizeof key, "t%d", i);
    load[cask__hash(key, (size_t)len, 0x6361736b6b657973ULL) & (BUCKETS - 1)]++;
  }
  uint32_t empty = 0, most = 0;
  for (int i = 0; i < BUCKETS; i++) {
    empty += load[i] == 0;
    if (load[i] > most) most = load[i];
  }
  free(load);
  ck_assert_msg(empty > BUCKETS * 0.19 && empty < BUCKETS * 0.245,
                "%u of %d buckets empty, expected about %d", empty, BUCKETS,
                (int)(BUCKETS * 0.217));
  ck_assert_msg(most <= 16, "a bucket holds %u keys", most);
}
END_TEST

/* ---- atomic file writes ------------------------------------------------ */

static char tmpdir[64];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/cask-test-core-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

/* The names in a directory, sorted and joined with '|'. */
static void list_dir(const char *dir, char *out, size_t cap) {
  char names[16][256];
  int n = 0;
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    ck_assert_int_lt(n, 16);
    snprintf(names[n++], sizeof names[0], "%s", e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], cmp_name);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i) strncat(out, "|", cap - strlen(out) - 1);
    strncat(out, names[i], cap - strlen(out) - 1);
  }
}

static void path_in(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static size_t read_all(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

START_TEST(write_file_atomic_writes_and_leaves_no_temp_file) {
  make_tmpdir();
  char path[256], listing[1024], got[64], err[256] = "";
  path_in(path, sizeof path, "out.json");
  ck_assert_int_eq(cask__write_file_atomic(path, "first version", 13, err, sizeof err), CASK_OK);
  ck_assert_uint_eq(read_all(path, got, sizeof got), 13);
  ck_assert_mem_eq(got, "first version", 13);
  ck_assert_int_eq(cask__write_file_atomic(path, "second", 6, err, sizeof err), CASK_OK);
  ck_assert_uint_eq(read_all(path, got, sizeof got), 6);
  ck_assert_mem_eq(got, "second", 6);
  list_dir(tmpdir, listing, sizeof listing);
  ck_assert_str_eq(listing, "out.json");
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0644);
  /* An empty file is a file too. */
  ck_assert_int_eq(cask__write_file_atomic(path, "", 0, err, sizeof err), CASK_OK);
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_size, 0);
  unlink(path);
  rmdir(tmpdir);
}
END_TEST

START_TEST(write_file_atomic_fails_cleanly_in_a_missing_dir) {
  make_tmpdir();
  char path[256], listing[1024], err[256] = "";
  path_in(path, sizeof path, "no-such-dir/out.json");
  ck_assert_int_eq(cask__write_file_atomic(path, "x", 1, err, sizeof err), CASK_EIO);
  ck_assert_msg(strstr(err, path) != NULL, "message '%s' does not name the path", err);
  list_dir(tmpdir, listing, sizeof listing);
  ck_assert_str_eq(listing, "");
  /* A NULL message buffer is allowed. */
  ck_assert_int_eq(cask__write_file_atomic(path, "x", 1, NULL, 0), CASK_EIO);
  rmdir(tmpdir);
}
END_TEST

START_TEST(write_file_atomic_removes_its_temp_file_when_rename_fails) {
  /* The target is a non-empty directory: the temporary is written, the
   * rename fails, and the temporary must go. */
  make_tmpdir();
  char path[256], inner[300], listing[1024], err[256] = "";
  path_in(path, sizeof path, "target");
  ck_assert_int_eq(mkdir(path, 0755), 0);
  snprintf(inner, sizeof inner, "%s/keep", path);
  FILE *f = fopen(inner, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_int_eq(cask__write_file_atomic(path, "data", 4, err, sizeof err), CASK_EIO);
  ck_assert_msg(strstr(err, path) != NULL, "message '%s' does not name the path", err);
  list_dir(tmpdir, listing, sizeof listing);
  ck_assert_str_eq(listing, "target");
  unlink(inner);
  rmdir(path);
  rmdir(tmpdir);
}
END_TEST

Suite *core_suite(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("errors");
  tcase_add_test(tc, errors_every_code_has_its_text_and_name);
  tcase_add_test(tc, errors_codes_are_distinct_and_dense);
  tcase_add_test(tc, errors_unknown_codes_have_fallback_text);
  tcase_add_test(tc, version_matches_the_header);
  suite_add_tcase(s, tc);

  tc = tcase_create("alloc");
  tcase_add_test(tc, alloc_hook_sees_every_allocation_and_every_free);
  tcase_add_test(tc, alloc_hook_rejects_a_missing_function_and_keeps_the_old_one);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("block");
  tcase_add_test(tc, block_dtypes_have_sizes_and_names);
  tcase_add_test(tc, block_new_has_shape_size_and_aligned_data);
  tcase_add_test(tc, block_new_scalar_has_one_element);
  tcase_add_test(tc, block_new_accepts_max_ndim);
  tcase_add_test(tc, block_new_rejects_bad_arguments_with_einval);
  tcase_add_test(tc, block_new_overflow_is_etoobig);
  tcase_add_test(tc, block_zero_extent_is_an_empty_block);
  tcase_add_test(tc, block_wrap_calls_release_exactly_once);
  tcase_add_test(tc, block_wrap_rejects_null_data_and_does_not_release);
  tcase_add_test(tc, block_accessors_accept_null);
  tcase_add_test(tc, block_refcount_is_thread_safe);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("util");
  tcase_add_test(tc, hash_tells_apart_length_and_content);
  tcase_add_test(tc, hash_has_no_collisions_among_short_keys);
  tcase_add_test(tc, hash_low_bits_spread_evenly);
  tcase_add_test(tc, write_file_atomic_writes_and_leaves_no_temp_file);
  tcase_add_test(tc, write_file_atomic_fails_cleanly_in_a_missing_dir);
  tcase_add_test(tc, write_file_atomic_removes_its_temp_file_when_rename_fails);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
