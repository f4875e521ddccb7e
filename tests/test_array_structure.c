/* test_array_structure.c - slicing, transpose, rechunk, reshape,
 * concatenate and stack, checked against plain C loops over the same
 * numbers: inputs are caller buffers (cask_from_buffer) or random sources
 * whose values the test first computes whole, and every result is compared
 * element by element (bit for bit: structure moves values, it never
 * computes). Also checked: the chunks of every result, how many tasks a
 * graph has (only the blocks an output needs; pushdown into sources makes
 * none), errors and their messages, and that results do not depend on the
 * thread count.
 *
 * The structural nodes are computed directly with cask_compute, which
 * copies blocks of any dtype; elementwise operations appear only on float64
 * inputs. */
#include "test-util.h"
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/array.h"
#include "cask/cask.h"
#include "collections/array/ops/boxcopy.h"

/* ======================================================================
 * Helpers: what a test makes is kept in a pool and freed by cleanup(), so
 * a test reads as the computation it checks. A helper that fails aborts
 * the test with the context's message.
 * ====================================================================== */

enum { POOL_MAX = 4096 };
static struct {
  cask_array *arrays[POOL_MAX];
  void *buffers[POOL_MAX];
  cask_ctx *ctxs[32];
  int narrays, nbuffers, nctxs;
} pool;
static cask_ctx *last_ctx;

static void cleanup(void) {
  while (pool.narrays) cask_array_release(pool.arrays[--pool.narrays]);
  while (pool.nbuffers) free(pool.buffers[--pool.nbuffers]);
  while (pool.nctxs) cask_ctx_free(pool.ctxs[--pool.nctxs]);
  last_ctx = NULL;
}

static void expect_ok(int rc, const char *what) {
  if (rc != CASK_OK) ck_abort_msg("%s: %s (%s)", what, cask_err_name(rc), cask_ctx_errmsg(last_ctx));
}

static cask_ctx *ctx_new(int threads, int64_t chunk_bytes) {
  cask_ctx *ctx = NULL;
  int rc = cask_ctx_new(&(cask_options){.threads = threads, .split_every = 0, .chunk_bytes = chunk_bytes}, &ctx);
  ck_assert_msg(rc == CASK_OK, "cask_ctx_new: %s", cask_err_name(rc));
  ck_assert(pool.nctxs < 32);
  pool.ctxs[pool.nctxs++] = ctx;
  last_ctx = ctx;
  return ctx;
}

static cask_array *kept(int rc, cask_array *a, const char *what) {
  expect_ok(rc, what);
  ck_assert_msg(a != NULL, "%s returned CASK_OK and no array", what);
  ck_assert(pool.narrays < POOL_MAX);
  pool.arrays[pool.narrays++] = a;
  return a;
}

static void *scratch(size_t bytes) {
  void *d = malloc(bytes ? bytes : 1);
  ck_assert(d != NULL && pool.nbuffers < POOL_MAX);
  pool.buffers[pool.nbuffers++] = d;
  return d;
}

static const cask_dtype all_dtypes[] = {CASK_F64, CASK_F32, CASK_I64, CASK_I32, CASK_U8, CASK_BOOL};

static int64_t prod(int nd, const int64_t *s) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= s[i];
  return n;
}

/* n distinct-ish values of dtype dt (bools alternate irregularly). */
static void *values(cask_dtype dt, int64_t n, uint64_t seed) {
  size_t w = cask_dtype_size(dt);
  unsigned char *d = scratch((size_t)n * w);
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (int64_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    switch (dt) {
    case CASK_F64: ((double *)d)[i] = (double)(int64_t)(x % 100000) / 8 - 6000; break;
    case CASK_F32: ((float *)d)[i] = (float)(int64_t)(x % 100000) / 8 - 6000; break;
    case CASK_I64: ((int64_t *)d)[i] = (int64_t)x; break;
    case CASK_I32: ((int32_t *)d)[i] = (int32_t)x; break;
    case CASK_U8: d[i] = (unsigned char)x; break;
    default: d[i] = (x >> 20) & 1; break;
    }
  }
  return d;
}

static cask_array *wrap(cask_ctx *c, const void *data, cask_dtype dt, int nd, const int64_t *sh,
                        const int64_t *ch) {
  cask_array *a = NULL;
  int rc = cask_from_buffer(c, data, dt, nd, sh, ch, NULL, NULL, &a);
  return kept(rc, a, "from_buffer");
}

static cask_array *runif(cask_ctx *c, uint64_t seed, int nd, const int64_t *sh, const int64_t *ch) {
  cask_array *a = NULL;
  int rc = cask_random_uniform(c, seed, CASK_F64, nd, sh, ch, &a);
  return kept(rc, a, "random_uniform");
}

/* x behind a node that is neither a source nor elementwise (its blocks are
 * x's, aliased), so that operations on it make their own tasks instead of
 * pushing down into x. */
static int opaque_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                        cask_task_id *out) {
  cask_task_id dep;
  int rc = cask__lower_block(L, a->in[0], bidx, &dep);
  return rc ? rc : cask__lower_alias(L, key, dep, out);
}
static const cask__node_class opaque_class = {.name = "opaque", .lower = opaque_lower};

static cask_array *opaque(cask_array *x) {
  cask_array *a = NULL;
  int rc = cask__node_new_ext(x->ctx, &opaque_class, NULL, x->dtype, x->ndim, x->shape, x->chunk, 1, &x, &a);
  if (!rc) cask__node_seal(a, NULL, 0);
  return kept(rc, a, "opaque");
}

static cask_array *rechunk(cask_array *x, const int64_t *ch) {
  cask_array *a = NULL;
  int rc = cask_rechunk(x, ch, &a);
  return kept(rc, a, "rechunk");
}

/* Every element of a, in a fresh pool buffer. */
static void *computed(cask_array *a) {
  size_t n = (size_t)cask_array_size(a) * cask_dtype_size(cask_array_dtype(a));
  void *buf = scratch(n);
  expect_ok(cask_compute(a, buf, n), "compute");
  return buf;
}

static void expect_chunks(cask_array *a, int nd, const int64_t *want) {
  ck_assert_int_eq(cask_array_ndim(a), nd);
  for (int i = 0; i < nd; i++)
    ck_assert_msg(cask_array_chunks(a)[i] == want[i], "axis %d: chunk %lld, expected %lld", i,
                  (long long)cask_array_chunks(a)[i], (long long)want[i]);
}

static void expect_shape(cask_array *a, int nd, const int64_t *want) {
  ck_assert_int_eq(cask_array_ndim(a), nd);
  for (int i = 0; i < nd; i++)
    ck_assert_msg(cask_array_shape(a)[i] == want[i], "axis %d: extent %lld, expected %lld", i,
                  (long long)cask_array_shape(a)[i], (long long)want[i]);
}

/* Tasks of a's optimized graph whose key starts with prefix ("" : all). */
static size_t count_tasks(cask_array *a, const char *prefix) {
  cask_graph *g = NULL;
  expect_ok(cask_array_graph(a, &g), "array_graph");
  size_t n = 0, len = strlen(prefix);
  for (size_t i = 0; i < cask_graph_size(g); i++)
    n += strncmp(cask_graph_key(g, (cask_task_id)i), prefix, len) == 0;
  cask_graph_free(g);
  return n;
}

/* The first index where two buffers of n elements of w bytes differ, or -1. */
static int64_t first_diff(const void *a, const void *b, int64_t n, size_t w) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp((const char *)a + i * (int64_t)w, (const char *)b + i * (int64_t)w, w)) return i;
  return -1;
}

static void expect_same(const void *got, const void *want, int64_t n, cask_dtype dt, const char *what) {
  int64_t i = first_diff(got, want, n, cask_dtype_size(dt));
  ck_assert_msg(i < 0, "%s (%s): element %lld differs", what, cask_dtype_name(dt), (long long)i);
}

/* Flat C-order index of idx in shape. */
static int64_t flat(int nd, const int64_t *shape, const int64_t *idx) {
  int64_t f = 0;
  for (int i = 0; i < nd; i++) f = f * shape[i] + idx[i];
  return f;
}

/* Advance a C-order odometer; 0 when it wrapped around. */
static int next_index(int nd, const int64_t *shape, int64_t *idx) {
  return cask__index_next(nd, idx, shape) >= 0;
}

/* The graph lowering makes for every block of a, before any optimization
 * (fusion hides ops inside cask.fused tasks). */
static cask_graph *raw_graph(cask_array *a) {
  cask_graph *g;
  expect_ok(cask_graph_new(&g), "graph_new");
  cask__lower L = {g, a->ctx, NULL, 0, 0};
  int64_t nb[16], idx[16] = {0};
  for (int i = 0; i < a->ndim; i++) nb[i] = cask__nblocks(a, i);
  do {
    cask_task_id id;
    expect_ok(cask__lower_block(&L, a, idx, &id), "lower");
  } while (next_index(a->ndim, nb, idx));
  return g;
}

/* Tasks of op in a's unoptimized graph whose key starts with prefix. */
static size_t count_op_key(cask_array *a, const char *prefix, const char *op) {
  cask_graph *g = raw_graph(a);
  size_t n = 0;
  for (size_t i = 0; i < cask_graph_size(g); i++)
    n += strcmp(cask_graph_op(g, (cask_task_id)i)->name, op) == 0 &&
         strncmp(cask_graph_key(g, (cask_task_id)i), prefix, strlen(prefix)) == 0;
  cask_graph_free(g);
  return n;
}

static size_t count_op(cask_array *a, const char *op) { return count_op_key(a, "", op); }

/* ======================================================================
 * rechunk
 * ====================================================================== */

START_TEST(rechunk_keeps_every_value_of_every_dtype_on_the_new_grid) {
  cask_ctx *c = ctx_new(2, 0);
  static const struct {
    int nd;
    int64_t shape[3], from[3], to[3];
  } cases[] = {
      {1, {10}, {3}, {4}},          {1, {10}, {4}, {0}},          {1, {17}, {1}, {5}},
      {2, {7, 9}, {2, 4}, {3, 2}},  {2, {7, 9}, {7, 1}, {1, 9}},  {2, {6, 6}, {4, 4}, {2, 2}},
      {3, {5, 4, 6}, {2, 3, 4}, {5, 1, 3}}, {3, {4, 0, 3}, {2, 1, 2}, {1, 1, 1}},
      {2, {1, 8}, {1, 3}, {1, 8}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    for (size_t d = 0; d < 6; d++) {
      cask_dtype dt = all_dtypes[d];
      int nd = cases[k].nd;
      int64_t n = prod(nd, cases[k].shape);
      void *v = values(dt, n, k * 10 + d);
      cask_array *x = opaque(wrap(c, v, dt, nd, cases[k].shape, cases[k].from));
      cask_array *y = rechunk(x, cases[k].to);
      int64_t want[3];
      for (int i = 0; i < nd; i++) {
        int64_t s = cases[k].shape[i], ch = cases[k].to[i];
        want[i] = ch > 0 && ch < s ? ch : (s ? s : 1);
      }
      expect_chunks(y, nd, want);
      ck_assert_int_eq(cask_array_dtype(y), dt);
      expect_same(computed(y), v, n, dt, "rechunk");
    }
  cleanup();
}
END_TEST

START_TEST(rechunk_to_the_same_chunks_returns_the_input) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[2] = {6, 8}, ch[2] = {3, 8};
  cask_array *x = opaque(wrap(c, values(CASK_F64, 48, 1), CASK_F64, 2, shape, ch));
  ck_assert_ptr_eq(rechunk(x, (int64_t[]){3, 0}), x);
  ck_assert_ptr_eq(rechunk(x, (int64_t[]){3, 100}), x);
  /* A rechunk back to the original grid is the original. */
  cask_array *y = rechunk(x, (int64_t[]){2, 2});
  ck_assert_ptr_eq(rechunk(y, (int64_t[]){3, 8}), x);
  cleanup();
}
END_TEST

START_TEST(rechunk_of_a_source_is_a_source_and_keeps_random_values) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[2] = {30, 40}, ch[2] = {7, 11};
  cask_array *x = runif(c, 9, 2, shape, ch);
  double *want = computed(x);
  cask_array *y = rechunk(x, (int64_t[]){4, 40});
  ck_assert_uint_eq(count_tasks(y, "rechunk"), 0);
  ck_assert_uint_eq(count_tasks(y, ""), 8);
  expect_same(computed(y), want, 1200, CASK_F64, "rechunked source");
  cleanup();
}
END_TEST

START_TEST(rechunk_reuses_input_blocks_that_it_does_not_change) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[2] = {8, 9}, ch[2] = {4, 3};
  cask_array *x = opaque(wrap(c, values(CASK_I32, 72, 2), CASK_I32, 2, shape, ch));
  /* Axis 1 merges 3 blocks into one: each output block gathers 3. */
  cask_array *y = rechunk(x, (int64_t[]){4, 9});
  ck_assert_uint_eq(count_op_key(y, "rechunk", "array.gather"), 2);
  ck_assert_uint_eq(count_op_key(y, "rechunk", "array.alias"), 0);
  /* (4, 3) to (4, 6): the columns [6, 9) are input blocks as they are
   * (no copy), the columns [0, 6) gather two blocks. */
  cask_array *z = rechunk(x, (int64_t[]){4, 6});
  ck_assert_uint_eq(count_op_key(z, "rechunk", "array.gather"), 2);
  ck_assert_uint_eq(count_op_key(z, "rechunk", "array.alias"), 2);
  expect_same(computed(z), computed(x), 72, CASK_I32, "rechunk");
  cleanup();
}
END_TEST

/* Bytes the inputs of each rechunk task hold, at most. */
static int64_t largest_gather(cask_array *a, size_t *rechunk_tasks) {
  cask_graph *g;
  expect_ok(cask_array_graph(a, &g), "graph");
  int64_t most = 0;
  *rechunk_tasks = 0;
  for (size_t i = 0; i < cask_graph_size(g); i++) {
    if (strncmp(cask_graph_key(g, (cask_task_id)i), "rechunk-", 8)) continue;
    ++*rechunk_tasks;
    size_t nd;
    const cask_task_id *deps = cask_graph_deps(g, (cask_task_id)i, &nd);
    int64_t sum = 0;
    for (size_t j = 0; j < nd; j++) sum += cask_graph_size_estimate(g, deps[j]);
    if (sum > most) most = sum;
  }
  cask_graph_free(g);
  return most;
}

START_TEST(rechunk_plans_an_intermediate_grid_under_chunk_bytes) {
  enum { N = 64 };
  int64_t limit = 2048; /* 256 doubles: a task may not hold the 4096 */
  cask_ctx *c = ctx_new(2, limit);
  int64_t shape[2] = {N, N};
  double *v = values(CASK_F64, N * N, 5);
  cask_array *x = opaque(wrap(c, v, CASK_F64, 2, shape, (int64_t[]){N, 1}));
  cask_array *y = rechunk(x, (int64_t[]){1, N});
  expect_chunks(y, 2, (int64_t[]){1, N});
  size_t tasks;
  int64_t most = largest_gather(y, &tasks);
  /* Directly, each of the N output rows would gather all N columns. */
  ck_assert_msg(most <= limit, "a task gathers %lld bytes", (long long)most);
  ck_assert_msg(tasks > N, "%zu rechunk tasks: no intermediate step", tasks);
  expect_same(computed(y), v, N * N, CASK_F64, "planned rechunk");
  /* With the default 128 MiB there is no intermediate step. */
  cask_ctx *big = ctx_new(2, 0);
  cask_array *x2 = opaque(wrap(big, v, CASK_F64, 2, shape, (int64_t[]){N, 1}));
  cask_array *y2 = rechunk(x2, (int64_t[]){1, N});
  largest_gather(y2, &tasks);
  ck_assert_uint_eq(tasks, N);
  expect_same(computed(y2), v, N * N, CASK_F64, "direct rechunk");
  cleanup();
}
END_TEST

START_TEST(rechunk_plan_works_in_three_dimensions_and_other_dtypes) {
  int64_t limit = 600;
  cask_ctx *c = ctx_new(2, limit);
  int64_t shape[3] = {12, 10, 14};
  for (size_t d = 0; d < 6; d++) {
    cask_dtype dt = all_dtypes[d];
    int64_t n = prod(3, shape);
    void *v = values(dt, n, 40 + d);
    cask_array *x = opaque(wrap(c, v, dt, 3, shape, (int64_t[]){12, 1, 2}));
    cask_array *y = rechunk(x, (int64_t[]){1, 10, 14});
    size_t tasks;
    int64_t most = largest_gather(y, &tasks);
    int64_t w = (int64_t)cask_dtype_size(dt);
    /* About chunk_bytes: the limit, or the old or new blocks if larger. */
    int64_t bound = limit > 140 * w ? limit : 140 * w;
    ck_assert_msg(most <= bound, "%s: a task gathers %lld bytes", cask_dtype_name(dt), (long long)most);
    expect_same(computed(y), v, n, dt, "planned rechunk");
  }
  cleanup();
}
END_TEST

START_TEST(rechunk_of_an_expression_and_of_a_scalar) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[2] = {9, 10};
  double *v = values(CASK_F64, 90, 12);
  cask_array *x = wrap(c, v, CASK_F64, 2, shape, (int64_t[]){4, 3}), *e = NULL;
  expect_ok(cask_binary_scalar(CASK_MUL, x, 3.0, 0, &e), "mul");
  kept(0, e, "mul");
  cask_array *y = rechunk(e, (int64_t[]){2, 7});
  expect_chunks(y, 2, (int64_t[]){2, 7});
  double *got = computed(y);
  int bad = 0;
  for (int i = 0; i < 90; i++) bad += got[i] != v[i] * 3.0;
  ck_assert_int_eq(bad, 0);
  double one = 4.5;
  cask_array *z = wrap(c, &one, CASK_F64, 0, NULL, NULL);
  ck_assert_ptr_eq(rechunk(z, NULL), z);
  cleanup();
}
END_TEST

START_TEST(rechunk_rejects_negative_chunks_naming_them) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[2] = {4, 5};
  cask_array *x = wrap(c, values(CASK_F64, 20, 1), CASK_F64, 2, shape, NULL), *y = NULL;
  ck_assert_int_eq(cask_rechunk(x, (int64_t[]){2, -1}, &y), CASK_EINVAL);
  ck_assert_ptr_null(y);
  ck_assert_msg(strstr(cask_ctx_errmsg(c), "rechunk") && strstr(cask_ctx_errmsg(c), "(4, 5)") &&
                    strstr(cask_ctx_errmsg(c), "(2, -1)"),
                "message: %s", cask_ctx_errmsg(c));
  cleanup();
}
END_TEST

/* ======================================================================
 * slice
 * ====================================================================== */

/* The indices Python's a[ix] selects on an axis of extent n, written as a
 * filter over every index (not as the start/stop arithmetic the library
 * uses). Returns how many; an out-of-range integer gives -1. */
static int64_t ref_axis(int64_t n, cask_index ix, int64_t *out) {
  if (ix.is_int) {
    int64_t k = ix.start < 0 ? ix.start + n : ix.start;
    if (k < 0 || k >= n) return -1;
    out[0] = k;
    return 1;
  }
  int64_t step = ix.step == CASK_NONE ? 1 : ix.step, m = 0;
  if (step > 0) {
    int64_t lo = ix.start == CASK_NONE ? 0 : ix.start < 0 ? ix.start + n : ix.start;
    int64_t hi = ix.stop == CASK_NONE ? n : ix.stop < 0 ? ix.stop + n : ix.stop;
    if (lo < 0) lo = 0;
    for (int64_t i = 0; i < n; i++)
      if (i >= lo && i < hi && (i - lo) % step == 0) out[m++] = i;
  } else {
    int64_t hi = ix.start == CASK_NONE ? n - 1 : ix.start < 0 ? ix.start + n : ix.start;
    int64_t lo = ix.stop == CASK_NONE ? -1 : ix.stop < 0 ? ix.stop + n : ix.stop;
    if (hi > n - 1) hi = n - 1;
    for (int64_t i = n - 1; i >= 0; i--)
      if (i <= hi && i > lo && (hi - i) % -step == 0) out[m++] = i;
  }
  return m;
}

/* a[idx] by loops: the result's shape in oshape (returns its ndim), its
 * elements in a new buffer. */
static void *ref_slice(const void *x, cask_dtype dt, int nd, const int64_t *shape, int nidx,
                       const cask_index *idx, int *ond, int64_t *oshape) {
  int64_t *sel[16], cnt[16], pos[16] = {0}, n = 1;
  size_t w = cask_dtype_size(dt);
  *ond = 0;
  for (int i = 0; i < nd; i++) {
    sel[i] = scratch((size_t)(shape[i] + 1) * sizeof(int64_t));
    cask_index ix = i < nidx ? idx[i] : CASK_COLON;
    cnt[i] = ref_axis(shape[i], ix, sel[i]);
    ck_assert(cnt[i] >= 0);
    if (!ix.is_int) oshape[(*ond)++] = cnt[i];
    n *= cnt[i];
  }
  char *out = scratch((size_t)n * w);
  if (n == 0) return out;
  for (int64_t o = 0; o < n; o++) {
    int64_t src[16];
    for (int i = 0; i < nd; i++) src[i] = sel[i][pos[i]];
    memcpy(out + o * (int64_t)w, (const char *)x + flat(nd, shape, src) * (int64_t)w, w);
    next_index(nd, cnt, pos);
  }
  return out;
}

static uint64_t rng_state = 88172645463325252ULL;
static int64_t rnd(int64_t n) { /* uniform-ish in [0, n) */
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (int64_t)(rng_state % (uint64_t)n);
}

/* A random index for an axis of extent n: a slice with any of its parts
 * omitted, negative or past the ends, or an integer index. */
static cask_index random_index(int64_t n) {
  if (n > 0 && rnd(5) == 0) return CASK_AT(rnd(2 * n) - n);
  int64_t steps[] = {1, 1, 2, 3, 5, -1, -1, -2, -3, CASK_NONE};
  int64_t step = steps[rnd(10)];
  int64_t start = rnd(4) == 0 ? CASK_NONE : rnd(2 * n + 5) - n - 2;
  int64_t stop = rnd(4) == 0 ? CASK_NONE : rnd(2 * n + 5) - n - 2;
  return CASK_SLICE(start, stop, step);
}

static cask_array *slice(cask_array *x, int nidx, const cask_index *idx) {
  cask_array *a = NULL;
  int rc = cask_slice(x, nidx, idx, &a);
  return kept(rc, a, "slice");
}

/* Slice x (values v) by idx and compare shape, chunks and every element
 * with the loops. */
static void check_slice(cask_array *x, const void *v, int nidx, const cask_index *idx) {
  int nd = cask_array_ndim(x), ond;
  cask_dtype dt = cask_array_dtype(x);
  int64_t oshape[16], ochunk[16];
  void *want = ref_slice(v, dt, nd, cask_array_shape(x), nidx, idx, &ond, oshape);
  cask_array *y = slice(x, nidx, idx);
  expect_shape(y, ond, oshape);
  for (int i = 0, j = 0; i < nd; i++) {
    cask_index ix = i < nidx ? idx[i] : CASK_COLON;
    if (ix.is_int) continue;
    int64_t st = ix.step == CASK_NONE ? 1 : ix.step < 0 ? -ix.step : ix.step;
    int64_t c = (cask_array_chunks(x)[i] + st - 1) / st;
    ochunk[j] = c < oshape[j] ? c : oshape[j] ? oshape[j] : 1;
    j++;
  }
  expect_chunks(y, ond, ochunk);
  expect_same(computed(y), want, prod(ond, oshape), dt, "slice");
}

START_TEST(slice_matches_python_indexing_for_random_slices_of_every_dtype) {
  cask_ctx *c = ctx_new(2, 0);
  static const struct {
    int nd;
    int64_t shape[3], chunk[3];
  } cases[] = {{1, {23}, {5}}, {2, {9, 11}, {4, 3}}, {3, {6, 5, 7}, {4, 2, 3}}, {2, {1, 13}, {1, 13}}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    for (size_t d = 0; d < 6; d++) {
      cask_dtype dt = all_dtypes[d];
      int nd = cases[k].nd;
      void *v = values(dt, prod(nd, cases[k].shape), 100 + k * 6 + d);
      cask_array *src = wrap(c, v, dt, nd, cases[k].shape, cases[k].chunk);
      cask_array *x = opaque(src);
      for (int t = 0; t < 12; t++) {
        cask_index idx[3];
        int nidx = (int)rnd(nd + 1);
        for (int i = 0; i < nidx; i++) idx[i] = random_index(cases[k].shape[i]);
        check_slice(x, v, nidx, idx);   /* gather tasks */
        check_slice(src, v, nidx, idx); /* a source view */
      }
    }
  /* A random source: the sliced view generates the same values. */
  int64_t rs[3] = {7, 9, 8}, rc[3] = {3, 4, 5};
  cask_array *r = runif(c, 21, 3, rs, rc);
  double *rv = computed(r);
  for (int t = 0; t < 20; t++) {
    cask_index idx[3];
    for (int i = 0; i < 3; i++) idx[i] = random_index(rs[i]);
    check_slice(r, rv, 3, idx);
  }
  cleanup();
}
END_TEST

START_TEST(slice_handles_negative_steps_integer_indices_and_empty_results) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[2] = {10, 12}, chunk[2] = {3, 5};
  void *v = values(CASK_I64, 120, 7);
  cask_array *x = opaque(wrap(c, v, CASK_I64, 2, shape, chunk));
  const cask_index cases[][2] = {
      {CASK_SLICE(CASK_NONE, CASK_NONE, -1), CASK_SLICE(CASK_NONE, CASK_NONE, -1)},
      {CASK_SLICE(8, 1, -3), CASK_SLICE(-1, -12, -2)},
      {CASK_AT(-1), CASK_SLICE(2, 11, 4)},
      {CASK_SLICE(2, 9, 1), CASK_AT(0)},
      {CASK_AT(3), CASK_AT(-12)},
      {CASK_SLICE(5, 5, 1), CASK_COLON},
      {CASK_SLICE(2, 8, -1), CASK_SLICE(100, 200, 1)},
      {CASK_SLICE(-100, 100, 7), CASK_SLICE(-100, 100, -7)},
      {CASK_SLICE(CASK_NONE, CASK_NONE, 100), CASK_SLICE(0, 1, -1)},
      {CASK_SLICE(9, CASK_NONE, -100), CASK_SLICE(CASK_NONE, 0, -5)},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_slice(x, v, 2, cases[k]);
  /* An empty slice of an empty slice, and a 0-d result. */
  cask_array *e = slice(x, 1, (cask_index[]){CASK_SLICE(4, 4, 1)});
  cask_array *e2 = slice(e, 2, (cask_index[]){CASK_COLON, CASK_SLICE(1, 5, 2)});
  expect_shape(e2, 2, (int64_t[]){0, 2});
  computed(e2);
  cask_array *s = slice(x, 2, (cask_index[]){CASK_AT(7), CASK_AT(-2)});
  ck_assert_int_eq(cask_array_ndim(s), 0);
  ck_assert(*(int64_t *)computed(s) == ((int64_t *)v)[7 * 12 + 10]);
  cleanup();
}
END_TEST

START_TEST(slice_of_an_eight_dimensional_array) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[8] = {3, 2, 4, 1, 3, 2, 5, 2}, chunk[8] = {2, 1, 3, 1, 2, 2, 2, 1};
  int64_t n = prod(8, shape);
  for (size_t d = 0; d < 6; d += 2) {
    void *v = values(all_dtypes[d], n, 900 + d);
    cask_array *x = opaque(wrap(c, v, all_dtypes[d], 8, shape, chunk));
    cask_index idx[8] = {CASK_SLICE(CASK_NONE, CASK_NONE, -1), CASK_AT(1), CASK_SLICE(1, 4, 2), CASK_COLON,
                         CASK_SLICE(-1, 0, -1), CASK_AT(-2), CASK_SLICE(4, CASK_NONE, -2), CASK_SLICE(1, 2, 1)};
    check_slice(x, v, 8, idx);
    for (int t = 0; t < 5; t++) {
      for (int i = 0; i < 8; i++) idx[i] = random_index(shape[i]);
      check_slice(x, v, 8, idx);
    }
  }
  cleanup();
}
END_TEST

START_TEST(slice_rejects_step_zero_bad_integer_indices_and_too_many_indices) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[2] = {4, 6};
  cask_array *x = wrap(c, values(CASK_F64, 24, 1), CASK_F64, 2, shape, NULL), *y = NULL;
  ck_assert_int_eq(cask_slice(x, 2, (cask_index[]){CASK_COLON, CASK_SLICE(0, 4, 0)}, &y), CASK_EINVAL);
  ck_assert_ptr_null(y);
  const char *m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "slice") && strstr(m, "step 0") && strstr(m, "axis 1") && strstr(m, "(4, 6)"), "%s", m);
  ck_assert_int_eq(cask_slice(x, 2, (cask_index[]){CASK_COLON, CASK_AT(6)}, &y), CASK_EINVAL);
  m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "index 6") && strstr(m, "axis 1") && strstr(m, "extent 6"), "%s", m);
  ck_assert_int_eq(cask_slice(x, 1, (cask_index[]){CASK_AT(-5)}, &y), CASK_EINVAL);
  m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "index -5") && strstr(m, "axis 0") && strstr(m, "extent 4"), "%s", m);
  ck_assert_int_eq(cask_slice(x, 3, (cask_index[]){CASK_COLON, CASK_COLON, CASK_COLON}, &y), CASK_EINVAL);
  m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "3 indices") && strstr(m, "(4, 6)"), "%s", m);
  ck_assert_int_eq(cask_slice(x, 1, NULL, &y), CASK_EINVAL);
  ck_assert_int_eq(cask_slice(NULL, 0, NULL, &y), CASK_EINVAL);
  cleanup();
}
END_TEST

START_TEST(slice_of_one_element_of_a_million_blocks_makes_a_handful_of_tasks) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[2] = {1000, 1000}, ones[2] = {1, 1};
  cask_array *x = runif(c, 3, 2, shape, ones);
  double all[4];
  /* Of a source: one source task generating one element. */
  cask_array *s = slice(x, 2, (cask_index[]){CASK_AT(123), CASK_AT(-7)});
  ck_assert_uint_eq(count_tasks(s, ""), 1);
  /* Of a node that is not pushed down: the gather, the block it reads. */
  cask_array *o = opaque(x);
  cask_array *t = slice(o, 2, (cask_index[]){CASK_SLICE(CASK_NONE, CASK_NONE, -1), CASK_AT(5)});
  cask_array *u = slice(t, 1, (cask_index[]){CASK_SLICE(876, 877, 1)});
  ck_assert_msg(count_tasks(u, "") <= 3, "%zu tasks", count_tasks(u, ""));
  /* Of an elementwise expression: a kernel per output block (4 of one
   * element), each over a source generating its element. */
  cask_array *e = NULL;
  expect_ok(cask_binary_scalar(CASK_MUL, x, 2.0, 0, &e), "mul");
  kept(0, e, "mul");
  cask_array *f = slice(e, 2, (cask_index[]){CASK_SLICE(500, 502, 1), CASK_SLICE(-1, -3, -1)});
  ck_assert_msg(count_tasks(f, "") <= 8, "%zu tasks", count_tasks(f, ""));
  ck_assert_uint_eq(count_tasks(f, "random"), 0); /* fused into the kernels */
  expect_ok(cask_compute(f, all, sizeof all), "compute");
  double *xv = computed(slice(x, 2, (cask_index[]){CASK_SLICE(500, 502, 1), CASK_SLICE(998, 1000, 1)}));
  ck_assert(all[0] == 2 * xv[1] && all[1] == 2 * xv[0] && all[2] == 2 * xv[3] && all[3] == 2 * xv[2]);
  double one;
  expect_ok(cask_compute(u, &one, sizeof one), "compute");
  expect_ok(cask_compute_scalar(slice(x, 2, (cask_index[]){CASK_AT(123), CASK_AT(5)}), &all[0]), "scalar");
  ck_assert(one == all[0]);
  cleanup();
}
END_TEST

START_TEST(slice_of_a_slice_is_one_slice) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[2] = {20, 30}, chunk[2] = {6, 7};
  void *v = values(CASK_F32, 600, 3);
  cask_array *x = opaque(wrap(c, v, CASK_F32, 2, shape, chunk));
  cask_array *a = slice(x, 2, (cask_index[]){CASK_SLICE(2, 19, 1), CASK_SLICE(CASK_NONE, CASK_NONE, -2)});
  cask_array *b = slice(a, 2, (cask_index[]){CASK_SLICE(-1, 0, -3), CASK_AT(4)});
  ck_assert_ptr_eq(b->in[0], x);
  /* The same as slicing x at once: x[18:2:-3, 30 - 1 - 2*4]. */
  cask_array *d = slice(x, 2, (cask_index[]){CASK_SLICE(18, 2, -3), CASK_AT(21)});
  ck_assert(b->token == d->token);
  int ond;
  int64_t os[2];
  void *want = ref_slice(v, CASK_F32, 2, shape, 2, (cask_index[]){CASK_SLICE(18, 2, -3), CASK_AT(21)}, &ond, os);
  expect_same(computed(b), want, os[0], CASK_F32, "composed slice");
  cleanup();
}
END_TEST

/* ======================================================================
 * transpose
 * ====================================================================== */

static cask_array *transpose(cask_array *x, const int *perm) {
  cask_array *a = NULL;
  int rc = cask_transpose(x, perm, &a);
  return kept(rc, a, "transpose");
}

/* x (values v, shape shape) with axes permuted, by loops. */
static void *ref_transpose(const void *v, cask_dtype dt, int nd, const int64_t *shape, const int *perm) {
  size_t w = cask_dtype_size(dt);
  int64_t n = prod(nd, shape), os[16], o[16] = {0}, in[16];
  for (int i = 0; i < nd; i++) os[i] = shape[perm[i]];
  char *out = scratch((size_t)n * w);
  for (int64_t k = 0; k < n; k++) {
    for (int i = 0; i < nd; i++) in[perm[i]] = o[i];
    memcpy(out + k * (int64_t)w, (const char *)v + flat(nd, shape, in) * (int64_t)w, w);
    next_index(nd, os, o);
  }
  return out;
}

static void check_transpose(cask_array *x, const void *v, const int *perm) {
  int nd = cask_array_ndim(x), p[16];
  for (int i = 0; i < nd; i++) p[i] = perm ? (perm[i] < 0 ? perm[i] + nd : perm[i]) : nd - 1 - i;
  cask_array *y = transpose(x, perm);
  int64_t os[16] = {0}, oc[16] = {0};
  for (int i = 0; i < nd; i++) {
    os[i] = cask_array_shape(x)[p[i]];
    oc[i] = cask_array_chunks(x)[p[i]];
  }
  expect_shape(y, nd, os);
  expect_chunks(y, nd, oc);
  expect_same(computed(y), ref_transpose(v, cask_array_dtype(x), nd, cask_array_shape(x), p), prod(nd, os),
              cask_array_dtype(x), "transpose");
}

START_TEST(transpose_permutes_axes_of_every_dtype_block_by_block) {
  cask_ctx *c = ctx_new(2, 0);
  for (size_t d = 0; d < 6; d++) {
    cask_dtype dt = all_dtypes[d];
    int64_t s2[2] = {37, 70}, c2[2] = {16, 33};
    void *v2 = values(dt, prod(2, s2), d);
    cask_array *src = wrap(c, v2, dt, 2, s2, c2);
    check_transpose(opaque(src), v2, NULL);
    check_transpose(src, v2, NULL);
    int64_t s3[3] = {5, 6, 7}, c3[3] = {2, 6, 3};
    void *v3 = values(dt, prod(3, s3), 10 + d);
    cask_array *x3 = opaque(wrap(c, v3, dt, 3, s3, c3));
    static const int perms[][3] = {{0, 2, 1}, {1, 0, 2}, {2, 0, 1}, {1, 2, 0}, {-1, 0, -2}};
    for (int k = 0; k < 5; k++) check_transpose(x3, v3, perms[k]);
  }
  /* A big block: the cache-blocked path with edges that are not multiples
   * of the tile. */
  int64_t sb[2] = {301, 517};
  void *vb = values(CASK_F64, prod(2, sb), 77);
  check_transpose(opaque(wrap(c, vb, CASK_F64, 2, sb, NULL)), vb, NULL);
  cleanup();
}
END_TEST

START_TEST(transpose_of_an_eight_dimensional_array) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[8] = {2, 3, 1, 4, 2, 3, 2, 5}, chunk[8] = {1, 2, 1, 3, 2, 2, 1, 4};
  void *v = values(CASK_I32, prod(8, shape), 5);
  cask_array *x = opaque(wrap(c, v, CASK_I32, 8, shape, chunk));
  check_transpose(x, v, NULL);
  check_transpose(x, v, (int[]){3, 7, 0, 5, 1, 6, 2, 4});
  check_transpose(x, v, (int[]){0, 1, 2, 3, 4, 5, 7, 6});
  cleanup();
}
END_TEST

START_TEST(transpose_makes_one_task_per_block_and_composes) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[2] = {10, 12}, chunk[2] = {5, 4};
  cask_array *x = opaque(wrap(c, values(CASK_U8, 120, 1), CASK_U8, 2, shape, chunk));
  cask_array *t = transpose(x, NULL);
  ck_assert_uint_eq(count_tasks(t, "transpose"), 6);
  ck_assert_ptr_eq(transpose(t, NULL), x);                   /* x.T.T is x */
  ck_assert_ptr_eq(transpose(x, (int[]){0, 1}), x);          /* identity */
  cask_array *s = runif(c, 1, 2, shape, chunk);
  ck_assert_uint_eq(count_tasks(transpose(s, NULL), "transpose"), 0); /* a source view */
  cleanup();
}
END_TEST

START_TEST(transpose_rejects_bad_permutations_naming_them) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[3] = {2, 3, 4};
  cask_array *x = wrap(c, values(CASK_F64, 24, 1), CASK_F64, 3, shape, NULL), *y = NULL;
  ck_assert_int_eq(cask_transpose(x, (int[]){0, 1, 1}, &y), CASK_EINVAL);
  ck_assert_ptr_null(y);
  const char *m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "transpose") && strstr(m, "perm[2] = 1") && strstr(m, "repeats") && strstr(m, "(2, 3, 4)"),
                "%s", m);
  ck_assert_int_eq(cask_transpose(x, (int[]){0, 3, 1}, &y), CASK_EINVAL);
  m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "perm[1] = 3") && strstr(m, "out of range") && strstr(m, "3 axes"), "%s", m);
  ck_assert_int_eq(cask_transpose(x, (int[]){0, -4, 1}, &y), CASK_EINVAL);
  cleanup();
}
END_TEST

/* ======================================================================
 * pushdown of slices and transposes
 * ====================================================================== */

static cask_array *binop(cask_binop op, cask_array *x, cask_array *y) {
  cask_array *a = NULL;
  int rc = cask_binary(op, x, y, &a);
  return kept(rc, a, "binary");
}
static cask_array *binsc(cask_binop op, cask_array *x, double v, int flags) {
  cask_array *a = NULL;
  int rc = cask_binary_scalar(op, x, v, flags, &a);
  return kept(rc, a, "binary_scalar");
}
static cask_array *unop(cask_unop op, cask_array *x) {
  cask_array *a = NULL;
  int rc = cask_unary(op, x, &a);
  return kept(rc, a, "unary");
}
static cask_array *where(cask_array *q, cask_array *x, cask_array *y) {
  cask_array *a = NULL;
  int rc = cask_where(q, x, y, &a);
  return kept(rc, a, "where");
}
static cask_array *astype(cask_array *x, cask_dtype dt) {
  cask_array *a = NULL;
  int rc = cask_astype(x, dt, &a);
  return kept(rc, a, "astype");
}

START_TEST(slice_of_x_plus_x_transposed_is_pure_sources) {
  enum { N = 40 };
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[2] = {N, N}, chunk[2] = {7, 7};
  cask_array *x = runif(c, 11, 2, shape, chunk), *s;
  double *xv = computed(x);
  expect_ok(cask_binary(CASK_ADD, x, transpose(x, NULL), &s), "add");
  kept(0, s, "add");
  cask_array *y = slice(s, 2, (cask_index[]){CASK_SLICE(CASK_NONE, CASK_NONE, 2), CASK_SLICE(25, CASK_NONE, 1)});
  expect_shape(y, 2, (int64_t[]){N / 2, N - 25});
  ck_assert_uint_eq(count_tasks(y, "slice"), 0);
  ck_assert_uint_eq(count_tasks(y, "transpose"), 0);
  ck_assert_uint_eq(count_tasks(y, "rechunk"), 0);
  double *got = computed(y);
  int bad = 0;
  for (int i = 0; i < N / 2; i++)
    for (int j = 0; j < N - 25; j++) bad += got[i * (N - 25) + j] != xv[2 * i * N + 25 + j] + xv[(25 + j) * N + 2 * i];
  ck_assert_int_eq(bad, 0);
  /* One kernel per output block; the sources are computed inside the
   * kernels or by tasks generating only the kept elements (never N * N). */
  cask_graph *g;
  expect_ok(cask_array_graph(y, &g), "graph");
  int64_t generated = 0;
  size_t kernels = 0, others = 0;
  for (size_t i = 0; i < cask_graph_size(g); i++) {
    const char *key = cask_graph_key(g, (cask_task_id)i);
    if (!strncmp(key, "random", 6)) generated += cask_graph_size_estimate(g, (cask_task_id)i);
    else if (!strncmp(key, "elementwise", 11)) kernels++;
    else others++;
  }
  cask_graph_free(g);
  ck_assert_uint_eq(kernels, 5 * 3); /* (20, 15) in chunks of (4, 7) */
  ck_assert_uint_eq(others, 0);
  ck_assert_int_le(generated, 2 * (N / 2) * (N - 25) * 8);
  cleanup();
}
END_TEST

/* Every way an operand can meet a slice: spanning the axis, broadcasting
 * along it (extent 1 or missing), and axes of extent 1 everywhere. */
START_TEST(slice_pushdown_through_broadcasting_matches_the_loop) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t sx[2] = {5, 6}, sr[1] = {6}, ss[2] = {5, 1}, st[2] = {1, 6};
  double *xv = values(CASK_F64, 30, 1), *rv = values(CASK_F64, 6, 2), *sv = values(CASK_F64, 5, 3),
         *tv = values(CASK_F64, 6, 4);
  cask_array *x = wrap(c, xv, CASK_F64, 2, sx, (int64_t[]){2, 4}), *r = wrap(c, rv, CASK_F64, 1, sr, (int64_t[]){4});
  cask_array *sc = opaque(wrap(c, sv, CASK_F64, 2, ss, (int64_t[]){2, 1}));
  cask_array *t = wrap(c, tv, CASK_F64, 2, st, (int64_t[]){1, 4});
  /* a = -(2 - (x + r) * s): every kind of operand and both scalar sides. */
  cask_array *a1 = binop(CASK_ADD, x, r);
  cask_array *a2 = binop(CASK_MUL, a1, sc);
  cask_array *a3 = binsc(CASK_SUB, a2, 2.0, CASK_SCALAR_FIRST);
  cask_array *a = unop(CASK_NEGATIVE, a3);
  double want[30];
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 6; j++) want[i * 6 + j] = -(2.0 - (xv[i * 6 + j] + rv[j]) * sv[i]);
  const cask_index cases[][2] = {
      {CASK_SLICE(CASK_NONE, CASK_NONE, -2), CASK_SLICE(1, 5, 3)},
      {CASK_AT(3), CASK_SLICE(-1, CASK_NONE, -1)},
      {CASK_SLICE(1, 4, 1), CASK_AT(-2)},
      {CASK_AT(0), CASK_AT(5)},
      {CASK_SLICE(2, 2, 1), CASK_COLON},
      {CASK_COLON, CASK_SLICE(4, 1, 1)},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    check_slice(a, want, 2, cases[k]);
    /* Only the operand that is not a source is sliced by tasks: one per
     * block of its (5, 1) slice, at most 3. */
    ck_assert_uint_le(count_tasks(slice(a, 2, cases[k]), "slice-"), 3);
  }
  /* An expression whose first axis is 1 everywhere: slices of it are
   * slices of the operands' own extent-1 axis. */
  cask_array *b = binop(CASK_SUB, t, r);
  double wb[6];
  for (int j = 0; j < 6; j++) wb[j] = tv[j] - rv[j];
  const cask_index ones[][2] = {
      {CASK_SLICE(1, CASK_NONE, 1), CASK_COLON},
      {CASK_SLICE(0, 1, 1), CASK_SLICE(CASK_NONE, CASK_NONE, -4)},
      {CASK_AT(-1), CASK_SLICE(2, 5, 2)},
      {CASK_SLICE(CASK_NONE, CASK_NONE, -1), CASK_AT(1)},
  };
  for (size_t k = 0; k < sizeof ones / sizeof ones[0]; k++) check_slice(b, wb, 2, ones[k]);
  cleanup();
}
END_TEST

START_TEST(slice_pushdown_through_where_and_astype) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t sx[2] = {6, 7};
  double *xv = values(CASK_F64, 42, 5), *yv = values(CASK_F64, 7, 6);
  cask_array *x = wrap(c, xv, CASK_F64, 2, sx, (int64_t[]){4, 3});
  cask_array *y = wrap(c, yv, CASK_F64, 1, sx + 1, (int64_t[]){3});
  cask_array *cond = binop(CASK_GREATER, x, y);
  cask_array *w = where(cond, x, y);
  cask_array *f = astype(w, CASK_F32);
  float want[42];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 7; j++) want[i * 7 + j] = (float)(xv[i * 7 + j] > yv[j] ? xv[i * 7 + j] : yv[j]);
  check_slice(f, want, 2, (cask_index[]){CASK_SLICE(5, 0, -2), CASK_SLICE(1, CASK_NONE, 2)});
  check_slice(f, want, 1, (cask_index[]){CASK_AT(4)});
  ck_assert_uint_eq(count_tasks(slice(f, 1, (cask_index[]){CASK_AT(4)}), "slice"), 0);
  cleanup();
}
END_TEST

START_TEST(transpose_pushdown_through_broadcasting_matches_the_loop) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t sx[3] = {4, 5, 6};
  double *xv = values(CASK_F64, 120, 7), *rv = values(CASK_F64, 6, 8), *qv = values(CASK_F64, 30, 9);
  cask_array *x = wrap(c, xv, CASK_F64, 3, sx, (int64_t[]){3, 2, 4});
  cask_array *r = wrap(c, rv, CASK_F64, 1, sx + 2, (int64_t[]){4});
  cask_array *q = opaque(wrap(c, qv, CASK_F64, 2, sx + 1, (int64_t[]){2, 4})); /* (5, 6), no source */
  cask_array *a1 = binop(CASK_MUL, x, r);
  cask_array *a = binop(CASK_ADD, a1, q);
  double want[120];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 5; j++)
      for (int k = 0; k < 6; k++) want[(i * 5 + j) * 6 + k] = xv[(i * 5 + j) * 6 + k] * rv[k] + qv[j * 6 + k];
  static const int perms[][3] = {{2, 0, 1}, {1, 0, 2}, {0, 2, 1}, {2, 1, 0}};
  for (int k = 0; k < 4; k++) {
    check_transpose(a, want, perms[k]);
    ck_assert_uint_eq(count_tasks(transpose(a, perms[k]), "transpose-"), 3 * 2 * 1); /* q's blocks only */
  }
  /* And a slice of the transposed expression. */
  cask_array *t = transpose(a, (int[]){2, 0, 1});
  check_slice(t, ref_transpose(want, CASK_F64, 3, sx, (int[]){2, 0, 1}), 3,
              (cask_index[]){CASK_SLICE(CASK_NONE, CASK_NONE, -1), CASK_AT(2), CASK_SLICE(1, 4, 2)});
  cleanup();
}
END_TEST

START_TEST(pushdown_of_a_shared_subexpression_is_built_once) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t n = 8;
  cask_array *a = runif(c, 1, 1, &n, NULL);
  /* 60 doublings of one node: a tree of 2^60 paths, 60 nodes. */
  for (int k = 0; k < 60; k++) a = binop(CASK_ADD, a, a);
  cask_array *s = slice(a, 1, (cask_index[]){CASK_SLICE(1, 3, 1)});
  cask_array *t = transpose(a, NULL);
  ck_assert_int_eq(cask_array_shape(s)[0], 2);
  ck_assert_int_eq(cask_array_shape(t)[0], 8);
  cleanup();
}
END_TEST

/* ======================================================================
 * reshape
 * ====================================================================== */

static cask_array *reshape(cask_array *x, int nd, const int64_t *shape) {
  cask_array *a = NULL;
  int rc = cask_reshape(x, nd, shape, &a);
  return kept(rc, a, "reshape");
}

/* Whether every axis' chunks tile it regularly (the last block may be
 * smaller) and every block of the result has the size it claims. */
static void expect_regular(cask_array *a) {
  for (int i = 0; i < cask_array_ndim(a); i++)
    ck_assert_msg(cask_array_chunks(a)[i] >= 1 &&
                      (cask_array_chunks(a)[i] <= cask_array_shape(a)[i] || cask_array_shape(a)[i] <= 1),
                  "axis %d: chunk %lld for extent %lld", i, (long long)cask_array_chunks(a)[i],
                  (long long)cask_array_shape(a)[i]);
}

START_TEST(reshape_keeps_c_order_for_merges_splits_and_regroupings) {
  cask_ctx *c = ctx_new(2, 0);
  static const struct {
    int nd, ond;
    int64_t shape[4], chunk[4], out[4];
  } cases[] = {
      {3, 2, {6, 4, 5}, {2, 4, 5}, {24, 5}},      {3, 2, {6, 4, 5}, {2, 2, 3}, {24, 5}},
      {2, 3, {24, 5}, {8, 5}, {6, 4, 5}},         {2, 3, {24, 5}, {5, 2}, {2, 12, 5}},
      {2, 2, {6, 4}, {4, 4}, {4, 6}},             {3, 3, {2, 3, 4}, {1, 2, 3}, {4, 3, 2}},
      {1, 3, {12}, {5}, {3, 1, 4}},               {3, 1, {3, 1, 4}, {2, 1, 3}, {12}},
      {2, 4, {6, 10}, {6, 3}, {2, 3, 5, 2}},      {4, 2, {2, 3, 5, 2}, {1, 2, 2, 1}, {15, 4}},
      {2, 0, {1, 1}, {1, 1}, {0}},                {0, 2, {0}, {0}, {1, 1}},
      {2, 2, {0, 3}, {1, 2}, {3, 0}},             {1, 2, {30}, {7}, {-1, 6}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    for (size_t d = 0; d < 6; d += (k % 3 ? 5 : 1)) {
      cask_dtype dt = all_dtypes[d];
      int nd = cases[k].nd, ond = cases[k].ond;
      int64_t n = prod(nd, cases[k].shape), want[4];
      void *v = values(dt, n, 300 + k * 6 + d);
      cask_array *src = wrap(c, v, dt, nd, cases[k].shape, cases[k].chunk);
      int64_t known = 1;
      for (int i = 0; i < ond; i++) known *= cases[k].out[i] < 0 ? 1 : cases[k].out[i];
      for (int i = 0; i < ond; i++) want[i] = cases[k].out[i] < 0 ? n / known : cases[k].out[i];
      cask_array *ys[2] = {reshape(opaque(src), ond, cases[k].out), reshape(src, ond, cases[k].out)};
      for (int m = 0; m < 2; m++) {
        expect_shape(ys[m], ond, want);
        expect_regular(ys[m]);
        ck_assert_int_eq(cask_array_dtype(ys[m]), dt);
        expect_same(computed(ys[m]), v, n, dt, m ? "reshaped source" : "reshape");
      }
    }
  cleanup();
}
END_TEST

START_TEST(reshape_is_free_where_the_chunks_allow_it) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[3] = {6, 4, 5};
  void *v = values(CASK_F64, 120, 4);
  /* Inner axes whole: each output block is an input block's memory. */
  cask_array *x = opaque(wrap(c, v, CASK_F64, 3, shape, (int64_t[]){2, 4, 5}));
  cask_array *y = reshape(x, 2, (int64_t[]){24, 5});
  expect_chunks(y, 2, (int64_t[]){8, 5});
  ck_assert_uint_eq(count_op(y, "array.gather"), 0);
  ck_assert_uint_eq(count_tasks(y, "reshape"), 3);
  expect_same(computed(y), v, 120, CASK_F64, "reshape");
  /* Split back: free as well. */
  cask_array *z = reshape(y, 3, shape);
  ck_assert_uint_eq(count_op(z, "array.gather"), 0);
  expect_same(computed(z), v, 120, CASK_F64, "reshape back");
  /* Inner axes in pieces: rechunked first (gathers), then free. */
  cask_array *p = opaque(wrap(c, v, CASK_F64, 3, shape, (int64_t[]){3, 2, 5}));
  cask_array *q = reshape(p, 2, (int64_t[]){24, 5});
  ck_assert_uint_gt(count_op(q, "array.gather"), 0);
  expect_same(computed(q), v, 120, CASK_F64, "reshape after rechunk");
  /* A fresh source reshapes to a source. */
  cask_array *s = runif(c, 2, 3, shape, (int64_t[]){5, 3, 2});
  cask_array *t = reshape(s, 2, (int64_t[]){4, 30});
  ck_assert_uint_eq(count_tasks(t, "reshape"), 0);
  ck_assert_uint_eq(count_tasks(t, "rechunk"), 0);
  expect_same(computed(t), computed(s), 120, CASK_F64, "reshaped random");
  ck_assert_ptr_eq(reshape(x, 3, (int64_t[]){6, -1, 5}), x);
  cleanup();
}
END_TEST

START_TEST(reshape_of_a_transposed_source_copies_where_it_must) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[2] = {6, 8};
  double *v = values(CASK_F64, 48, 8);
  cask_array *t = transpose(wrap(c, v, CASK_F64, 2, shape, (int64_t[]){4, 3}), NULL); /* (8, 6) view */
  cask_array *r = reshape(t, 1, (int64_t[]){48});
  double *want = ref_transpose(v, CASK_F64, 2, shape, (int[]){1, 0});
  expect_same(computed(r), want, 48, CASK_F64, "flattened transpose");
  cask_array *r2 = reshape(t, 3, (int64_t[]){2, 4, 6}); /* splits the outer axis: still a view */
  ck_assert_uint_eq(count_tasks(r2, "reshape"), 0);
  expect_same(computed(r2), want, 48, CASK_F64, "split transpose");
  cleanup();
}
END_TEST

START_TEST(reshape_rejects_sizes_that_differ_naming_both_shapes) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t shape[2] = {4, 5};
  cask_array *x = wrap(c, values(CASK_F64, 20, 1), CASK_F64, 2, shape, NULL), *y = NULL;
  ck_assert_int_eq(cask_reshape(x, 2, (int64_t[]){3, 7}, &y), CASK_EINVAL);
  ck_assert_ptr_null(y);
  const char *m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "reshape") && strstr(m, "(4, 5)") && strstr(m, "(3, 7)"), "%s", m);
  ck_assert_int_eq(cask_reshape(x, 2, (int64_t[]){-1, -1}, &y), CASK_EINVAL);
  ck_assert_int_eq(cask_reshape(x, 2, (int64_t[]){-1, 3}, &y), CASK_EINVAL);
  m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "(-1, 3)") && strstr(m, "-1"), "%s", m);
  ck_assert_int_eq(cask_reshape(x, 1, (int64_t[]){-2}, &y), CASK_EINVAL);
  ck_assert_int_eq(cask_reshape(x, 17, (int64_t[17]){0}, &y), CASK_EINVAL);
  cleanup();
}
END_TEST

/* ======================================================================
 * concatenate and stack
 * ====================================================================== */

static cask_array *concat(int n, cask_array *const *x, int axis) {
  cask_array *a = NULL;
  int rc = cask_concatenate(n, x, axis, &a);
  return kept(rc, a, "concatenate");
}

/* Arrays of one dtype (shapes agree off axis) joined by loops. */
static void *ref_concat(int n, const void *const *v, int nd, const int64_t (*shapes)[4], int ax, cask_dtype dt,
                        int64_t *oshape) {
  size_t w = cask_dtype_size(dt);
  memcpy(oshape, shapes[0], sizeof shapes[0]);
  oshape[ax] = 0;
  for (int k = 0; k < n; k++) oshape[ax] += shapes[k][ax];
  char *out = scratch((size_t)prod(nd, oshape) * w);
  int64_t o[4] = {0};
  for (int64_t f = 0; f < prod(nd, oshape); f++) {
    int64_t in[4], k = 0;
    memcpy(in, o, sizeof in);
    while (in[ax] >= shapes[k][ax]) in[ax] -= shapes[k++][ax];
    memcpy(out + f * (int64_t)w, (const char *)v[k] + flat(nd, shapes[k], in) * (int64_t)w, w);
    next_index(nd, oshape, o);
  }
  return out;
}

START_TEST(concatenate_of_aligned_blocks_reuses_them) {
  cask_ctx *c = ctx_new(2, 0);
  const int64_t shapes[3][4] = {{4, 6}, {6, 6}, {3, 6}};
  for (size_t d = 0; d < 6; d++) {
    cask_dtype dt = all_dtypes[d];
    const void *v[3];
    cask_array *x[3];
    for (int k = 0; k < 3; k++) {
      v[k] = values(dt, prod(2, shapes[k]), 50 + d * 3 + k);
      x[k] = opaque(wrap(c, v[k], dt, 2, shapes[k], (int64_t[]){2, 4}));
    }
    cask_array *y = concat(3, x, 0);
    int64_t os[4];
    void *want = ref_concat(3, v, 2, shapes, 0, dt, os);
    expect_shape(y, 2, os);
    expect_chunks(y, 2, (int64_t[]){2, 4});
    ck_assert_uint_eq(count_op(y, "array.gather"), 0);
    expect_same(computed(y), want, prod(2, os), dt, "aligned concatenate");
  }
  cleanup();
}
END_TEST

START_TEST(concatenate_of_unaligned_blocks_gathers_them) {
  cask_ctx *c = ctx_new(2, 0);
  const int64_t shapes[3][4] = {{5, 3, 4}, {5, 1, 4}, {5, 7, 4}};
  const int64_t chunks[3][3] = {{2, 2, 3}, {3, 1, 4}, {5, 3, 1}};
  for (size_t d = 0; d < 6; d++) {
    cask_dtype dt = all_dtypes[d];
    const void *v[3];
    cask_array *x[3], *s[3];
    for (int k = 0; k < 3; k++) {
      v[k] = values(dt, prod(3, shapes[k]), 70 + d * 3 + k);
      s[k] = wrap(c, v[k], dt, 3, shapes[k], chunks[k]);
      x[k] = opaque(s[k]);
    }
    int64_t os[4];
    void *want = ref_concat(3, v, 3, shapes, 1, dt, os);
    cask_array *ys[2] = {concat(3, x, 1), concat(3, s, -2)};
    for (int m = 0; m < 2; m++) {
      expect_shape(ys[m], 3, os);
      expect_chunks(ys[m], 3, (int64_t[]){2, 2, 3}); /* the first array's */
      ck_assert_uint_gt(count_op(ys[m], "array.gather"), 0);
      expect_same(computed(ys[m]), want, prod(3, os), dt, "concatenate");
    }
  }
  cleanup();
}
END_TEST

START_TEST(concatenate_skips_empty_inputs_and_promotes_dtypes) {
  cask_ctx *c = ctx_new(2, 0);
  const int64_t shapes[3][4] = {{0, 3}, {4, 3}, {0, 3}};
  double *a = values(CASK_F64, 12, 1);
  cask_array *x[3] = {wrap(c, a, CASK_F64, 2, shapes[0], NULL), opaque(wrap(c, a, CASK_F64, 2, shapes[1], (int64_t[]){3, 2})),
                      wrap(c, a, CASK_F64, 2, shapes[2], NULL)};
  cask_array *y = concat(3, x, 0);
  expect_shape(y, 2, (int64_t[]){4, 3});
  expect_chunks(y, 2, (int64_t[]){3, 2});
  expect_same(computed(y), a, 12, CASK_F64, "concatenate with empty inputs");
  expect_shape(concat(2, (cask_array *[]){x[0], x[2]}, 0), 2, (int64_t[]){0, 3});
  computed(concat(2, (cask_array *[]){x[0], x[2]}, 0));
  /* int32 and float64: float64, the integers converted. */
  int64_t n = 3;
  int32_t iv[3] = {-7, 0, 2147483647};
  double dv[2] = {0.5, -1.25};
  cask_array *p[2] = {wrap(c, iv, CASK_I32, 1, &n, NULL), wrap(c, dv, CASK_F64, 1, (int64_t[]){2}, NULL)};
  cask_array *q = concat(2, p, 0);
  ck_assert_int_eq(cask_array_dtype(q), CASK_F64);
  double *got = computed(q);
  ck_assert(got[0] == -7 && got[1] == 0 && got[2] == 2147483647.0 && got[3] == 0.5 && got[4] == -1.25);
  /* uint8 and bool: uint8. */
  uint8_t uv[2] = {200, 3}, bv[2] = {1, 0};
  cask_array *u = concat(2, (cask_array *[]){wrap(c, bv, CASK_BOOL, 1, (int64_t[]){2}, NULL), wrap(c, uv, CASK_U8, 1, (int64_t[]){2}, NULL)}, 0);
  ck_assert_int_eq(cask_array_dtype(u), CASK_U8);
  uint8_t *ug = computed(u);
  ck_assert(ug[0] == 1 && ug[1] == 0 && ug[2] == 200 && ug[3] == 3);
  cleanup();
}
END_TEST

START_TEST(concatenate_rejects_mismatched_shapes_naming_the_array) {
  cask_ctx *c = ctx_new(1, 0);
  double *v = values(CASK_F64, 64, 1);
  cask_array *a = wrap(c, v, CASK_F64, 2, (int64_t[]){3, 4}, NULL), *b = wrap(c, v, CASK_F64, 2, (int64_t[]){3, 5}, NULL);
  cask_array *e = wrap(c, v, CASK_F64, 1, (int64_t[]){4}, NULL), *y = NULL;
  ck_assert_int_eq(cask_concatenate(3, (cask_array *[]){a, a, b}, 0, &y), CASK_EINVAL);
  ck_assert_ptr_null(y);
  const char *m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "concatenate") && strstr(m, "array 2") && strstr(m, "(3, 5)") && strstr(m, "(3, 4)") &&
                    strstr(m, "axis 0"),
                "%s", m);
  ck_assert_int_eq(cask_concatenate(2, (cask_array *[]){a, e}, 0, &y), CASK_EINVAL);
  m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "array 1") && strstr(m, "(4,)"), "%s", m);
  ck_assert_int_eq(cask_concatenate(2, (cask_array *[]){a, a}, 2, &y), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(c), "axis 2"), "%s", cask_ctx_errmsg(c));
  ck_assert_int_eq(cask_concatenate(0, (cask_array *[]){a}, 0, &y), CASK_EINVAL);
  ck_assert_int_eq(cask_stack(2, (cask_array *[]){a, b}, 0, &y), CASK_EINVAL);
  m = cask_ctx_errmsg(c);
  ck_assert_msg(strstr(m, "stack") && strstr(m, "array 1") && strstr(m, "(3, 5)") && strstr(m, "(3, 4)"), "%s", m);
  ck_assert_int_eq(cask_stack(2, (cask_array *[]){a, a}, 3, &y), CASK_EINVAL);
  ck_assert_int_eq(cask_stack(2, (cask_array *[]){a, a}, -4, &y), CASK_EINVAL);
  cleanup();
}
END_TEST

START_TEST(stack_adds_an_axis_of_chunk_one_without_copies) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t shape[2] = {5, 6};
  for (size_t d = 0; d < 6; d += 3) {
    cask_dtype dt = all_dtypes[d];
    size_t w = cask_dtype_size(dt);
    const void *v[3];
    cask_array *x[3];
    for (int k = 0; k < 3; k++) {
      v[k] = values(dt, 30, 500 + k + d);
      x[k] = opaque(wrap(c, v[k], dt, 2, shape, (int64_t[]){2, 4}));
    }
    for (int axis = -3; axis < 3; axis++) {
      cask_array *y = NULL;
      expect_ok(cask_stack(3, x, axis, &y), "stack");
      kept(0, y, "stack");
      int ax = axis < 0 ? axis + 3 : axis;
      int64_t os[3], oc[3];
      for (int i = 0, j = 0; i < 3; i++) {
        os[i] = i == ax ? 3 : shape[j];
        oc[i] = i == ax ? 1 : (int64_t[]){2, 4}[j];
        if (i != ax) j++;
      }
      expect_shape(y, 3, os);
      expect_chunks(y, 3, oc);
      ck_assert_uint_eq(count_op(y, "array.gather"), 0);
      char *got = computed(y);
      int64_t o[3] = {0}, bad = 0;
      for (int64_t f = 0; f < 90; f++) {
        int64_t k = o[ax], in[2];
        for (int i = 0, j = 0; i < 3; i++)
          if (i != ax) in[j++] = o[i];
        bad += memcmp(got + f * (int64_t)w, (const char *)v[k] + flat(2, shape, in) * (int64_t)w, w) != 0;
        next_index(3, os, o);
      }
      ck_assert_int_eq(bad, 0);
    }
  }
  /* Sources stack as views; different chunks are rechunked. */
  cask_array *r = runif(c, 4, 2, shape, (int64_t[]){2, 3}), *q = runif(c, 5, 2, shape, (int64_t[]){3, 3}), *y = NULL;
  expect_ok(cask_stack(2, (cask_array *[]){r, q}, 1, &y), "stack");
  kept(0, y, "stack");
  double *rv = computed(r), *qv = computed(q), *yv = computed(y);
  int bad = 0;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 6; j++) bad += yv[(i * 2 + 0) * 6 + j] != rv[i * 6 + j] || yv[(i * 2 + 1) * 6 + j] != qv[i * 6 + j];
  ck_assert_int_eq(bad, 0);
  cleanup();
}
END_TEST

/* ======================================================================
 * everything together
 * ====================================================================== */

/* One expression through every structural operation, computed with the
 * given thread count. */
static void *mixed_result(int threads, const double *v, size_t *nbytes) {
  cask_ctx *c = ctx_new(threads, 4096);
  int64_t shape[3] = {12, 10, 9};
  cask_array *x = opaque(wrap(c, v, CASK_F64, 3, shape, (int64_t[]){5, 3, 4}));
  cask_array *s = slice(x, 3, (cask_index[]){CASK_SLICE(CASK_NONE, CASK_NONE, -1), CASK_SLICE(1, 9, 1), CASK_AT(2)});
  cask_array *t = transpose(s, NULL);                        /* (8, 12) */
  cask_array *r = rechunk(t, (int64_t[]){8, 1});
  cask_array *k = concat(2, (cask_array *[]){r, transpose(slice(x, 3, (cask_index[]){CASK_COLON, CASK_SLICE(0, 3, 1), CASK_AT(-1)}), NULL)}, 0);
  cask_array *m = reshape(k, 2, (int64_t[]){-1, 4});       /* (33, 4) */
  cask_array *y = rechunk(m, (int64_t[]){1, 4});
  *nbytes = (size_t)cask_array_size(y) * 8;
  return computed(y);
}

START_TEST(results_are_identical_for_1_2_and_8_threads) {
  double *v = values(CASK_F64, 1080, 99);
  size_t n1, n2, n8;
  void *r1 = mixed_result(1, v, &n1), *r2 = mixed_result(2, v, &n2), *r8 = mixed_result(8, v, &n8);
  ck_assert(n1 == n2 && n1 == n8 && n1 == 33 * 4 * 8);
  ck_assert(memcmp(r1, r2, n1) == 0 && memcmp(r1, r8, n1) == 0);
  /* Against the loops: rows 0..7 are x[::-1, 1:9, 2].T, rows 8..10 x[:, 0:3, -1].T. */
  const double *g = r1;
  int bad = 0;
  for (int64_t f = 0; f < 132; f++) {
    int64_t row = f / 12, col = f % 12;
    double want = row < 8 ? v[((11 - col) * 10 + 1 + row) * 9 + 2] : v[(col * 10 + row - 8) * 9 + 8];
    bad += g[f] != want;
  }
  ck_assert_int_eq(bad, 0);
  cleanup();
}
END_TEST

Suite *array_structure_suite(void) {
  Suite *s = suite_create("array_structure");
  TCase *tc = tcase_create("rechunk");
  tcase_add_test(tc, rechunk_keeps_every_value_of_every_dtype_on_the_new_grid);
  tcase_add_test(tc, rechunk_to_the_same_chunks_returns_the_input);
  tcase_add_test(tc, rechunk_of_a_source_is_a_source_and_keeps_random_values);
  tcase_add_test(tc, rechunk_reuses_input_blocks_that_it_does_not_change);
  tcase_add_test(tc, rechunk_plans_an_intermediate_grid_under_chunk_bytes);
  tcase_add_test(tc, rechunk_plan_works_in_three_dimensions_and_other_dtypes);
  tcase_add_test(tc, rechunk_of_an_expression_and_of_a_scalar);
  tcase_add_test(tc, rechunk_rejects_negative_chunks_naming_them);
  suite_add_tcase(s, tc);
  tc = tcase_create("slice");
  tcase_add_test(tc, slice_matches_python_indexing_for_random_slices_of_every_dtype);
  tcase_add_test(tc, slice_handles_negative_steps_integer_indices_and_empty_results);
  tcase_add_test(tc, slice_of_an_eight_dimensional_array);
  tcase_add_test(tc, slice_rejects_step_zero_bad_integer_indices_and_too_many_indices);
  tcase_add_test(tc, slice_of_one_element_of_a_million_blocks_makes_a_handful_of_tasks);
  tcase_add_test(tc, slice_of_a_slice_is_one_slice);
  suite_add_tcase(s, tc);
  tc = tcase_create("transpose");
  tcase_add_test(tc, transpose_permutes_axes_of_every_dtype_block_by_block);
  tcase_add_test(tc, transpose_of_an_eight_dimensional_array);
  tcase_add_test(tc, transpose_makes_one_task_per_block_and_composes);
  tcase_add_test(tc, transpose_rejects_bad_permutations_naming_them);
  suite_add_tcase(s, tc);
  tc = tcase_create("pushdown");
  tcase_add_test(tc, slice_of_x_plus_x_transposed_is_pure_sources);
  tcase_add_test(tc, slice_pushdown_through_broadcasting_matches_the_loop);
  tcase_add_test(tc, slice_pushdown_through_where_and_astype);
  tcase_add_test(tc, transpose_pushdown_through_broadcasting_matches_the_loop);
  tcase_add_test(tc, pushdown_of_a_shared_subexpression_is_built_once);
  suite_add_tcase(s, tc);
  tc = tcase_create("reshape");
  tcase_add_test(tc, reshape_keeps_c_order_for_merges_splits_and_regroupings);
  tcase_add_test(tc, reshape_is_free_where_the_chunks_allow_it);
  tcase_add_test(tc, reshape_of_a_transposed_source_copies_where_it_must);
  tcase_add_test(tc, reshape_rejects_sizes_that_differ_naming_both_shapes);
  suite_add_tcase(s, tc);
  tc = tcase_create("concatenate");
  tcase_add_test(tc, concatenate_of_aligned_blocks_reuses_them);
  tcase_add_test(tc, concatenate_of_unaligned_blocks_gathers_them);
  tcase_add_test(tc, concatenate_skips_empty_inputs_and_promotes_dtypes);
  tcase_add_test(tc, concatenate_rejects_mismatched_shapes_naming_the_array);
  tcase_add_test(tc, stack_adds_an_axis_of_chunk_one_without_copies);
  suite_add_tcase(s, tc);
  tc = tcase_create("threads");
  tcase_add_test(tc, results_are_identical_for_1_2_and_8_threads);
  suite_add_tcase(s, tc);
  return s;
}
