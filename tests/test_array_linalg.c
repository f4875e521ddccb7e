/* test_array_linalg.c - matmul, dot and tensordot against plain loops
 * written here: float64 and float32 (CBLAS), integers and bool (exact),
 * 1-d and 2-d operands, every axis pairing of tensordot, partial last
 * blocks, 1x1 chunks, empty axes, bit-identical results for 1, 2 and 8
 * threads, the graph they lower to, and the errors.
 *
 * Float tolerance: a dot product of length K computed in any order (here:
 * gemm's, then a fixed-order sum over blocks) is within K * u / (1 - K * u)
 * * sum_k |a_k| |b_k| of the exact value (u = eps / 2; Higham, Accuracy and
 * Stability, 3.1). The checks use K * eps * sum_k |a_k| |b_k|, which is
 * above that bound for every K used here, against a reference computed in
 * long double. Integers are compared exactly. Inputs are computed with
 * cask_compute only (elementwise ops are checked on float64 elsewhere). */
#include "test-util.h"
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/array.h"
#include "cask/cask.h"

/* ---- helpers --------------------------------------------------------------- */

static cask_ctx *ctx_with(int threads, int split_every) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = threads;
  o.split_every = split_every;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

static void release_free(void *user, void *data) { free(data); }

/* Deterministic values in [-1, 1) (a small LCG), or small integers for
 * integer dtypes (wide enough to wrap int64 products when big is set). */
static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 11;
}

static void *values(cask_dtype dt, int64_t n, uint64_t seed, int big) {
  size_t w = cask_dtype_size(dt);
  unsigned char *p = malloc((size_t)(n ? n : 1) * w);
  uint64_t s = seed * 977 + 1;
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = lcg(&s);
    double f = (double)(r >> 11) / 4503599627370496.0 * 2 - 1;
    int64_t k = (int64_t)(r % 19) - 9;
    switch (dt) {
    case CASK_F64: ((double *)p)[i] = f; break;
    case CASK_F32: ((float *)p)[i] = (float)f; break;
    case CASK_I64: ((int64_t *)p)[i] = big ? (int64_t)(r << 11) : k; break;
    case CASK_I32: ((int32_t *)p)[i] = big ? (int32_t)(uint32_t)r : (int32_t)k; break;
    case CASK_U8: p[i] = (uint8_t)r; break;
    default: p[i] = (r & 3) == 0; break;
    }
  }
  return p;
}

/* An array over a fresh buffer of values; *data (optional) gets the
 * buffer, which the array owns. */
static cask_array *arr(cask_ctx *ctx, cask_dtype dt, int ndim, const int64_t *shape,
                       const int64_t *chunks, uint64_t seed, int big, void **data) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  void *p = values(dt, n, seed, big);
  cask_array *a;
  ck_assert_int_eq(cask_from_buffer(ctx, p, dt, ndim, shape, chunks, release_free, NULL, &a), CASK_OK);
  if (data) *data = p;
  return a;
}

static double get_f(const void *p, cask_dtype dt, int64_t i) {
  switch (dt) {
  case CASK_F64: return ((const double *)p)[i];
  case CASK_F32: return ((const float *)p)[i];
  case CASK_I64: return (double)((const int64_t *)p)[i];
  case CASK_I32: return ((const int32_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}

static uint64_t get_u(const void *p, cask_dtype dt, int64_t i) {
  switch (dt) {
  case CASK_I64: return (uint64_t)((const int64_t *)p)[i];
  case CASK_I32: return (uint64_t)(int64_t)((const int32_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}

static void *compute(cask_ctx *ctx, cask_array *x) {
  size_t nb = (size_t)cask_array_size(x) * cask_dtype_size(cask_array_dtype(x));
  void *out = malloc(nb ? nb : 1);
  int rc = cask_compute(x, out, nb);
  ck_assert_msg(rc == CASK_OK, "compute: %s", cask_ctx_errmsg(ctx));
  return out;
}

/* A reference contraction: element (i, j) of the result sums over k the
 * products a(i, k) * b(k, j), where the offset functions say where those
 * elements are. Float references in long double with the error bound;
 * integer references wrap in uint64 and are then cast by the caller. */
typedef int64_t (*offset_fn)(int64_t i, int64_t k, const int64_t *shape);

typedef struct contraction {
  int64_t m, n, k;
  offset_fn aoff, boff; /* aoff(i, k, ashape), boff(j, k, bshape) */
  const int64_t *ashape, *bshape;
} contraction;

/* Compare a float result with the reference; returns the mismatches and
 * reports the first. */
static int check_float(const contraction *c, const void *a, cask_dtype at, const void *b,
                       cask_dtype bt, const void *got, cask_dtype rt, double eps) {
  int bad = 0;
  for (int64_t i = 0; i < c->m; i++)
    for (int64_t j = 0; j < c->n; j++) {
      long double s = 0, mag = 0;
      for (int64_t k = 0; k < c->k; k++) {
        long double x = get_f(a, at, c->aoff(i, k, c->ashape)), y = get_f(b, bt, c->boff(j, k, c->bshape));
        s += x * y;
        mag += fabsl(x * y);
      }
      double g = get_f(got, rt, i * c->n + j);
      double tol = (double)c->k * eps * (double)mag + DBL_MIN;
      if (!(fabs(g - (double)s) <= tol)) {
        if (!bad)
          fprintf(stderr, "element (%lld, %lld): %.17g, expected %.17Lg (tolerance %.3g)\n", (long long)i,
                  (long long)j, g, s, tol);
        bad++;
      }
    }
  return bad;
}

/* Integer results: sums of products wrapping in the result's width; bool
 * (rt CASK_BOOL) is "any a and b". */
static int check_int(const contraction *c, const void *a, cask_dtype at, const void *b, cask_dtype bt,
                     const void *got, cask_dtype rt) {
  int bad = 0;
  for (int64_t i = 0; i < c->m; i++)
    for (int64_t j = 0; j < c->n; j++) {
      uint64_t s = 0;
      for (int64_t k = 0; k < c->k; k++)
        s += get_u(a, at, c->aoff(i, k, c->ashape)) * get_u(b, bt, c->boff(j, k, c->bshape));
      uint64_t want = rt == CASK_I64 ? s : rt == CASK_I32 ? (uint64_t)(int64_t)(int32_t)(uint32_t)s
                      : rt == CASK_U8 ? (uint8_t)s : (uint64_t)(s != 0);
      uint64_t g = get_u(got, rt, i * c->n + j);
      if (g != want) {
        if (!bad)
          fprintf(stderr, "element (%lld, %lld): %llu, expected %llu\n", (long long)i, (long long)j,
                  (unsigned long long)g, (unsigned long long)want);
        bad++;
      }
    }
  return bad;
}

/* a (m, k) C order: a[i, k]; a (k, m): a[k, i]; b (k, n): b[k, j]; b (n, k): b[j, k]. */
static int64_t off_ik(int64_t i, int64_t k, const int64_t *s) { return i * s[1] + k; }
static int64_t off_ki(int64_t i, int64_t k, const int64_t *s) { return k * s[1] + i; }
static int64_t off_vec_k(int64_t i, int64_t k, const int64_t *s) { return k; }

/* matmul of 2-d a (m, k) and b (k, n) with the given chunks, checked. */
static void check_matmul_2d(cask_ctx *ctx, cask_dtype at, cask_dtype bt, int64_t m, int64_t k,
                            int64_t n, const int64_t *ac, const int64_t *bc) {
  int64_t as[2] = {m, k}, bs[2] = {k, n};
  void *pa, *pb;
  cask_array *a = arr(ctx, at, 2, as, ac, 1, 0, &pa), *b = arr(ctx, bt, 2, bs, bc, 2, 0, &pb), *c;
  ck_assert_msg(cask_matmul(a, b, &c) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  cask_dtype rt = cask_promote(at, bt);
  ck_assert_int_eq(cask_array_dtype(c), rt);
  ck_assert_int_eq(cask_array_ndim(c), 2);
  ck_assert(cask_array_shape(c)[0] == m && cask_array_shape(c)[1] == n);
  void *got = compute(ctx, c);
  contraction cn = {m, n, k, off_ik, off_ki, as, bs};
  int bad = rt == CASK_F64 ? check_float(&cn, pa, at, pb, bt, got, rt, DBL_EPSILON)
            : rt == CASK_F32 ? check_float(&cn, pa, at, pb, bt, got, rt, FLT_EPSILON)
                             : check_int(&cn, pa, at, pb, bt, got, rt);
  ck_assert_msg(bad == 0, "%s @ %s (%lld, %lld) @ (%lld, %lld): %d elements differ", cask_dtype_name(at),
                cask_dtype_name(bt), (long long)m, (long long)k, (long long)k, (long long)n, bad);
  free(got);
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(c);
}

/* ---- float64 --------------------------------------------------------------- */

START_TEST(matmul_f64_matches_the_triple_loop_with_partial_last_blocks) {
  cask_ctx *ctx = ctx_with(2, 0);
  check_matmul_2d(ctx, CASK_F64, CASK_F64, 37, 23, 41, (int64_t[]){10, 7}, (int64_t[]){7, 9});
  check_matmul_2d(ctx, CASK_F64, CASK_F64, 64, 64, 64, (int64_t[]){16, 16}, (int64_t[]){16, 16});
  check_matmul_2d(ctx, CASK_F64, CASK_F64, 5, 300, 3, NULL, NULL); /* one block each */
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_sums_many_inner_blocks_in_chains_and_trees) {
  /* 50 inner blocks: with split_every 2 and 3, chains of 2 and 3 and trees
   * several levels deep; with 8, chains of up to 8. */
  for (int every = 2; every <= 8; every += every == 3 ? 5 : 1) {
    cask_ctx *ctx = ctx_with(2, every);
    check_matmul_2d(ctx, CASK_F64, CASK_F64, 9, 100, 11, (int64_t[]){4, 2}, (int64_t[]){2, 5});
    cask_ctx_free(ctx);
  }
}
END_TEST

START_TEST(matmul_with_one_by_one_chunks) {
  cask_ctx *ctx = ctx_with(2, 3);
  check_matmul_2d(ctx, CASK_F64, CASK_F64, 6, 7, 5, (int64_t[]){1, 1}, (int64_t[]){1, 1});
  check_matmul_2d(ctx, CASK_I64, CASK_I64, 4, 5, 3, (int64_t[]){1, 1}, (int64_t[]){1, 1});
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_and_dot_of_1d_operands_follow_numpy) {
  cask_ctx *ctx = ctx_with(2, 0);
  int64_t k = 29, m = 13, n = 17, kc = 6, vs[1] = {k}, as[2] = {m, k}, bs[2] = {k, n};
  void *pv, *pw, *pa, *pb;
  cask_array *v = arr(ctx, CASK_F64, 1, vs, &kc, 3, 0, &pv), *w = arr(ctx, CASK_F64, 1, vs, &kc, 4, 0, &pw);
  cask_array *a = arr(ctx, CASK_F64, 2, as, (int64_t[]){5, kc}, 5, 0, &pa);
  cask_array *b = arr(ctx, CASK_F64, 2, bs, (int64_t[]){kc, 4}, 6, 0, &pb);
  for (int use_dot = 0; use_dot < 2; use_dot++) {
    int (*f)(cask_array *, cask_array *, cask_array **) = use_dot ? cask_dot : cask_matmul;
    cask_array *vw, *av, *vb;
    ck_assert_int_eq(f(v, w, &vw), CASK_OK); /* (k,) @ (k,) -> () */
    ck_assert_int_eq(f(a, v, &av), CASK_OK); /* (m, k) @ (k,) -> (m,) */
    ck_assert_int_eq(f(v, b, &vb), CASK_OK); /* (k,) @ (k, n) -> (n,) */
    ck_assert_int_eq(cask_array_ndim(vw), 0);
    ck_assert(cask_array_ndim(av) == 1 && cask_array_shape(av)[0] == m);
    ck_assert(cask_array_ndim(vb) == 1 && cask_array_shape(vb)[0] == n);
    double *g;
    contraction c1 = {1, 1, k, off_vec_k, off_vec_k, vs, vs};
    ck_assert_int_eq(check_float(&c1, pv, CASK_F64, pw, CASK_F64, g = compute(ctx, vw), CASK_F64, DBL_EPSILON), 0);
    free(g);
    contraction c2 = {m, 1, k, off_ik, off_vec_k, as, vs};
    ck_assert_int_eq(check_float(&c2, pa, CASK_F64, pv, CASK_F64, g = compute(ctx, av), CASK_F64, DBL_EPSILON), 0);
    free(g);
    contraction c3 = {1, n, k, off_vec_k, off_ki, vs, bs};
    ck_assert_int_eq(check_float(&c3, pv, CASK_F64, pb, CASK_F64, g = compute(ctx, vb), CASK_F64, DBL_EPSILON), 0);
    free(g);
    double s;
    ck_assert_int_eq(cask_compute_scalar(vw, &s), CASK_OK);
    cask_array_release(vw);
    cask_array_release(av);
    cask_array_release(vb);
  }
  cask_array_release(v);
  cask_array_release(w);
  cask_array_release(a);
  cask_array_release(b);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(dot_of_a_vector_with_itself_is_its_squared_norm) {
  cask_ctx *ctx = ctx_with(2, 0);
  int64_t n = 1000, c = 64;
  void *p;
  cask_array *v = arr(ctx, CASK_F64, 1, &n, &c, 9, 0, &p), *d;
  ck_assert_int_eq(cask_dot(v, v, &d), CASK_OK);
  double got, want = 0;
  ck_assert_int_eq(cask_compute_scalar(d, &got), CASK_OK);
  for (int64_t i = 0; i < n; i++) want += ((double *)p)[i] * ((double *)p)[i];
  ck_assert_msg(fabs(got - want) <= (double)n * DBL_EPSILON * want, "%.17g vs %.17g", got, want);
  cask_array_release(d);
  cask_array_release(v);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(dot_with_a_scalar_multiplies) {
  cask_ctx *ctx = ctx_with(1, 0);
  int64_t s2[2] = {3, 4};
  void *p;
  cask_array *a = arr(ctx, CASK_F64, 2, s2, NULL, 1, 0, &p), *s, *d;
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 2.5, 0, NULL, NULL, &s), CASK_OK);
  ck_assert_msg(cask_dot(s, a, &d) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  double *g = compute(ctx, d);
  for (int i = 0; i < 12; i++) ck_assert(g[i] == 2.5 * ((double *)p)[i]);
  free(g);
  cask_array_release(d);
  cask_array_release(s);
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_feeds_elementwise_operations_and_is_computed_once) {
  /* (a @ b) + (a @ b): one set of product tasks, then the fused kernel. */
  cask_ctx *ctx = ctx_with(2, 0);
  int64_t as[2] = {12, 10}, bs[2] = {10, 8};
  cask_array *a = arr(ctx, CASK_F64, 2, as, (int64_t[]){5, 4}, 1, 0, NULL);
  cask_array *b = arr(ctx, CASK_F64, 2, bs, (int64_t[]){4, 3}, 2, 0, NULL), *c1, *c2, *s;
  ck_assert_int_eq(cask_matmul(a, b, &c1), CASK_OK);
  ck_assert_int_eq(cask_matmul(a, b, &c2), CASK_OK);
  ck_assert_int_eq(cask_binary(CASK_ADD, c1, c2, &s), CASK_OK);
  double *g1 = compute(ctx, c1), *gs = compute(ctx, s);
  for (int i = 0; i < 96; i++) ck_assert(gs[i] == 2 * g1[i]);
  cask_graph *g;
  ck_assert_int_eq(cask_array_graph(s, &g), CASK_OK);
  /* Per output block, a chain of 3 products reading the caller's buffers
   * in place (no array.buffer task copies a block out of them), fused by
   * the optimizer into one task keyed as the output block. The second
   * a @ b is the same node: its blocks are the first's. */
  size_t copies = 0, blocks = 0;
  for (cask_task_id t = 0; t < cask_graph_size(g); t++) {
    copies += strcmp(cask_graph_op(g, t)->name, "array.buffer") == 0;
    blocks += strncmp(cask_graph_key(g, t), "matmul-", 7) == 0;
  }
  ck_assert_uint_eq(copies, 0);
  ck_assert_uint_eq(blocks, 3 * 3);
  /* the graph holds addresses of the caller's buffers: no JSON */
  char *json = NULL;
  size_t len;
  ck_assert_int_eq(cask_graph_to_json(g, &json, &len), CASK_ENOTSERIAL);
  free(json);
  cask_graph_free(g);
  free(g1);
  free(gs);
  cask_array_release(s);
  cask_array_release(c1);
  cask_array_release(c2);
  cask_array_release(a);
  cask_array_release(b);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_graph_round_trips_through_json) {
  cask_ctx *ctx = ctx_with(2, 2);
  int64_t as[2] = {9, 14}, bs[2] = {14, 6};
  cask_array *a, *b, *c;
  ck_assert_int_eq(cask_random_uniform(ctx, 3, CASK_F64, 2, as, (int64_t[]){4, 3}, &a), CASK_OK);
  ck_assert_int_eq(cask_random_uniform(ctx, 4, CASK_F64, 2, bs, (int64_t[]){3, 4}, &b), CASK_OK);
  ck_assert_int_eq(cask_matmul(a, b, &c), CASK_OK);
  double *want = compute(ctx, c);
  cask_graph *g, *g2;
  char *json, *err = NULL;
  size_t len;
  ck_assert_int_eq(cask_array_graph(c, &g), CASK_OK);
  ck_assert_int_eq(cask_graph_to_json(g, &json, &len), CASK_OK);
  ck_assert_msg(cask_graph_from_json(json, len, &g2, &err) == CASK_OK, "%s", err ? err : "");
  cask_results *res;
  ck_assert_int_eq(cask_run(cask_ctx_runtime(ctx), g2, NULL, &res), CASK_OK);
  /* Output block (1, 0) of the result: rows 4..7, columns 0..3. */
  cask_task_id id = 0;
  int found = 0;
  for (cask_task_id t = 0; t < cask_graph_size(g2); t++) {
    const char *k = cask_graph_key(g2, t);
    size_t n = strlen(k);
    if (cask_graph_is_output(g2, t) && strncmp(k, "matmul-", 7) == 0 && n > 4 && strcmp(k + n - 4, "-1,0") == 0) {
      id = t;
      found = 1;
    }
  }
  ck_assert(found);
  const cask_block *blk = cask_results_get(res, id);
  ck_assert_ptr_nonnull(blk);
  const double *d = cask_block_data(blk);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) ck_assert(d[i * 4 + j] == want[(4 + i) * 6 + j]);
  cask_results_free(res);
  cask_graph_free(g2);
  cask_graph_free(g);
  free(json);
  free(want);
  cask_array_release(c);
  cask_array_release(a);
  cask_array_release(b);
  cask_ctx_free(ctx);
}
END_TEST

/* ---- determinism ----------------------------------------------------------- */

START_TEST(results_are_bit_identical_for_1_2_and_8_threads) {
  static const cask_dtype dts[3] = {CASK_F64, CASK_F32, CASK_I64};
  for (int d = 0; d < 3; d++) {
    void *first = NULL;
    size_t nb = 0;
    for (int threads = 1; threads <= 8; threads *= threads == 2 ? 4 : 2) {
      cask_ctx *ctx = ctx_with(threads, 3);
      int64_t as[2] = {45, 61}, bs[2] = {61, 38};
      cask_array *a = arr(ctx, dts[d], 2, as, (int64_t[]){8, 5}, 7, 0, NULL);
      cask_array *b = arr(ctx, dts[d], 2, bs, (int64_t[]){5, 9}, 8, 0, NULL), *c;
      ck_assert_int_eq(cask_matmul(a, b, &c), CASK_OK);
      void *got = compute(ctx, c);
      nb = (size_t)cask_array_size(c) * cask_dtype_size(dts[d]);
      if (!first) first = got;
      else {
        ck_assert_msg(memcmp(first, got, nb) == 0, "%s: %d threads differ from 1", cask_dtype_name(dts[d]), threads);
        free(got);
      }
      cask_array_release(a);
      cask_array_release(b);
      cask_array_release(c);
      cask_ctx_free(ctx);
    }
    free(first);
  }
}
END_TEST

/* ---- other dtypes ------------------------------------------------------------ */

START_TEST(matmul_f32_uses_float32_within_its_bound) {
  cask_ctx *ctx = ctx_with(2, 0);
  check_matmul_2d(ctx, CASK_F32, CASK_F32, 33, 47, 29, (int64_t[]){8, 10}, (int64_t[]){10, 7});
  check_matmul_2d(ctx, CASK_U8, CASK_F32, 6, 9, 5, (int64_t[]){4, 4}, (int64_t[]){4, 2}); /* -> f32 */
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_of_integers_is_exact_and_wraps_like_numpy) {
  cask_ctx *ctx = ctx_with(2, 2);
  check_matmul_2d(ctx, CASK_I64, CASK_I64, 21, 30, 17, (int64_t[]){6, 7}, (int64_t[]){7, 5});
  check_matmul_2d(ctx, CASK_I32, CASK_I32, 11, 13, 9, (int64_t[]){4, 5}, (int64_t[]){5, 4});
  check_matmul_2d(ctx, CASK_U8, CASK_U8, 8, 40, 7, (int64_t[]){3, 9}, (int64_t[]){9, 3});
  check_matmul_2d(ctx, CASK_U8, CASK_I32, 5, 12, 6, (int64_t[]){2, 5}, (int64_t[]){5, 4}); /* -> i32 */
  /* Values near 2^63: products and sums wrap modulo 2^64. */
  int64_t as[2] = {7, 12}, bs[2] = {12, 5};
  void *pa, *pb;
  cask_array *a = arr(ctx, CASK_I64, 2, as, (int64_t[]){3, 5}, 11, 1, &pa);
  cask_array *b = arr(ctx, CASK_I64, 2, bs, (int64_t[]){5, 2}, 12, 1, &pb), *c;
  ck_assert_int_eq(cask_matmul(a, b, &c), CASK_OK);
  void *got = compute(ctx, c);
  contraction cn = {7, 5, 12, off_ik, off_ki, as, bs};
  ck_assert_int_eq(check_int(&cn, pa, CASK_I64, pb, CASK_I64, got, CASK_I64), 0);
  free(got);
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(c);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_of_bools_is_any_of_and) {
  cask_ctx *ctx = ctx_with(2, 2);
  check_matmul_2d(ctx, CASK_BOOL, CASK_BOOL, 14, 19, 12, (int64_t[]){5, 4}, (int64_t[]){4, 5});
  check_matmul_2d(ctx, CASK_BOOL, CASK_BOOL, 3, 1, 4, NULL, NULL);
  check_matmul_2d(ctx, CASK_BOOL, CASK_I64, 6, 8, 4, (int64_t[]){3, 3}, (int64_t[]){3, 3}); /* -> i64 */
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_of_mixed_dtypes_promotes) {
  cask_ctx *ctx = ctx_with(2, 0);
  check_matmul_2d(ctx, CASK_I64, CASK_F64, 9, 11, 7, (int64_t[]){4, 4}, (int64_t[]){4, 3}); /* f64 */
  check_matmul_2d(ctx, CASK_I32, CASK_F32, 8, 10, 6, (int64_t[]){3, 4}, (int64_t[]){4, 4}); /* f64 */
  check_matmul_2d(ctx, CASK_F32, CASK_F64, 5, 9, 8, (int64_t[]){2, 3}, (int64_t[]){3, 5});  /* f64 */
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(empty_axes_give_empty_or_zero_results) {
  cask_ctx *ctx = ctx_with(2, 0);
  int64_t as[2] = {3, 0}, bs[2] = {0, 4}, es[2] = {0, 3}, fs[2] = {3, 2};
  for (int d = 0; d < 2; d++) {
    cask_dtype dt = d ? CASK_I32 : CASK_F64;
    cask_array *a = arr(ctx, dt, 2, as, NULL, 1, 0, NULL), *b = arr(ctx, dt, 2, bs, NULL, 2, 0, NULL);
    cask_array *e = arr(ctx, dt, 2, es, NULL, 3, 0, NULL), *f = arr(ctx, dt, 2, fs, NULL, 4, 0, NULL), *c, *h;
    ck_assert_int_eq(cask_matmul(a, b, &c), CASK_OK); /* (3, 0) @ (0, 4): zeros */
    ck_assert(cask_array_shape(c)[0] == 3 && cask_array_shape(c)[1] == 4);
    void *g = compute(ctx, c);
    for (int i = 0; i < 12; i++) ck_assert(get_f(g, dt, i) == 0);
    free(g);
    ck_assert_int_eq(cask_matmul(e, f, &h), CASK_OK); /* (0, 3) @ (3, 2): (0, 2) */
    ck_assert(cask_array_size(h) == 0 && cask_array_shape(h)[1] == 2);
    free(compute(ctx, h));
    cask_array_release(c);
    cask_array_release(h);
    cask_array_release(a);
    cask_array_release(b);
    cask_array_release(e);
    cask_array_release(f);
  }
  cask_ctx_free(ctx);
}
END_TEST

/* ---- tensordot -------------------------------------------------------------- */

/* tensordot over one pair of axes of 2-d a (p, q) and b (r, s). */
static void check_tensordot_1(cask_ctx *ctx, cask_dtype dt, int ax, int bx) {
  int64_t k = 23, m = 14, n = 11;
  int64_t as[2], bs[2], ac[2], bc[2];
  as[ax] = k, as[1 - ax] = m, ac[ax] = 5, ac[1 - ax] = 4;
  bs[bx] = k, bs[1 - bx] = n, bc[bx] = 5, bc[1 - bx] = 3;
  void *pa, *pb;
  cask_array *a = arr(ctx, dt, 2, as, ac, 21, 0, &pa), *b = arr(ctx, dt, 2, bs, bc, 22, 0, &pb), *c;
  ck_assert_msg(cask_tensordot(a, b, 1, &ax, &bx, &c) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert(cask_array_shape(c)[0] == m && cask_array_shape(c)[1] == n);
  void *got = compute(ctx, c);
  contraction cn = {m, n, k, ax == 1 ? off_ik : off_ki, bx == 0 ? off_ki : off_ik, as, bs};
  int bad = dt == CASK_F64 ? check_float(&cn, pa, dt, pb, dt, got, dt, DBL_EPSILON)
                           : check_int(&cn, pa, dt, pb, dt, got, dt);
  ck_assert_msg(bad == 0, "tensordot axes (%d, %d) of %s: %d elements differ", ax, bx, cask_dtype_name(dt), bad);
  free(got);
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(c);
}

START_TEST(tensordot_over_any_pair_of_axes_of_2d_operands) {
  /* (1, 0) is a @ b; (0, 0) is a.T @ b; (1, 1) is a @ b.T; (0, 1) a.T @ b.T:
   * transposed blocks go to gemm as CblasTrans, not copied. */
  cask_ctx *ctx = ctx_with(2, 2);
  for (int ax = 0; ax < 2; ax++)
    for (int bx = 0; bx < 2; bx++) {
      check_tensordot_1(ctx, CASK_F64, ax, bx);
      check_tensordot_1(ctx, CASK_I64, ax, bx);
    }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(tensordot_over_both_axes_is_a_full_contraction) {
  cask_ctx *ctx = ctx_with(2, 2);
  int64_t s[2] = {13, 9}, st[2] = {9, 13};
  void *pa, *pb, *pt;
  cask_array *a = arr(ctx, CASK_F64, 2, s, (int64_t[]){4, 4}, 31, 0, &pa);
  cask_array *b = arr(ctx, CASK_F64, 2, s, (int64_t[]){4, 4}, 32, 0, &pb);
  cask_array *t = arr(ctx, CASK_F64, 2, st, (int64_t[]){4, 4}, 33, 0, &pt), *c1, *c2;
  /* sum a[i, j] b[i, j], and sum a[i, j] t[j, i] (negative axes too) */
  ck_assert_int_eq(cask_tensordot(a, b, 2, (int[]){0, 1}, (int[]){0, 1}, &c1), CASK_OK);
  ck_assert_int_eq(cask_tensordot(a, t, 2, (int[]){-1, 0}, (int[]){0, 1}, &c2), CASK_OK);
  ck_assert_int_eq(cask_array_ndim(c1), 0);
  double g1, g2;
  ck_assert_int_eq(cask_compute_scalar(c1, &g1), CASK_OK);
  ck_assert_int_eq(cask_compute_scalar(c2, &g2), CASK_OK);
  long double w1 = 0, w2 = 0, m1 = 0, m2 = 0;
  const double *A = pa, *B = pb, *T = pt;
  for (int i = 0; i < 13; i++)
    for (int j = 0; j < 9; j++) {
      w1 += (long double)A[i * 9 + j] * B[i * 9 + j];
      m1 += fabsl((long double)A[i * 9 + j] * B[i * 9 + j]);
      w2 += (long double)A[i * 9 + j] * T[j * 13 + i];
      m2 += fabsl((long double)A[i * 9 + j] * T[j * 13 + i]);
    }
  ck_assert_msg(fabs(g1 - (double)w1) <= 117 * DBL_EPSILON * (double)m1, "%.17g vs %.17Lg", g1, w1);
  ck_assert_msg(fabs(g2 - (double)w2) <= 117 * DBL_EPSILON * (double)m2, "%.17g vs %.17Lg", g2, w2);
  cask_array_release(c1);
  cask_array_release(c2);
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(t);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(tensordot_over_no_axes_is_an_outer_product) {
  cask_ctx *ctx = ctx_with(2, 0);
  int64_t m = 7, n = 5, mc = 3, nc = 2;
  void *pu, *pv;
  cask_array *u = arr(ctx, CASK_F64, 1, &m, &mc, 41, 0, &pu), *v = arr(ctx, CASK_F64, 1, &n, &nc, 42, 0, &pv), *c;
  ck_assert_int_eq(cask_tensordot(u, v, 0, NULL, NULL, &c), CASK_OK);
  ck_assert(cask_array_ndim(c) == 2 && cask_array_shape(c)[0] == m && cask_array_shape(c)[1] == n);
  double *g = compute(ctx, c);
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) ck_assert(g[i * n + j] == ((double *)pu)[i] * ((double *)pv)[j]);
  free(g);
  cask_array_release(c);
  /* a 0-d operand scales a 2-d one */
  int64_t s2[2] = {4, 6};
  void *pa;
  cask_array *a = arr(ctx, CASK_I64, 2, s2, (int64_t[]){3, 4}, 43, 0, &pa), *s;
  ck_assert_int_eq(cask_full(ctx, CASK_I64, -3, 0, NULL, NULL, &s), CASK_OK);
  ck_assert_int_eq(cask_tensordot(s, a, 0, NULL, NULL, &c), CASK_OK);
  int64_t *gi = compute(ctx, c);
  for (int i = 0; i < 24; i++) ck_assert(gi[i] == -3 * ((int64_t *)pa)[i]);
  free(gi);
  cask_array_release(c);
  cask_array_release(s);
  cask_array_release(a);
  cask_array_release(u);
  cask_array_release(v);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(transposed_buffers_are_read_in_place_as_cblas_trans) {
  /* a.T @ b.T with a (k, m), b (n, k) from buffers: transposing a buffer
   * is a view with swapped strides, which gemm reads as CblasTrans. */
  cask_ctx *ctx = ctx_with(2, 2);
  int64_t k = 19, m = 12, n = 9, as[2] = {k, m}, bs[2] = {n, k};
  for (int d = 0; d < 2; d++) {
    cask_dtype dt = d ? CASK_F32 : CASK_F64;
    void *pa, *pb;
    cask_array *a = arr(ctx, dt, 2, as, (int64_t[]){5, 4}, 51, 0, &pa), *b = arr(ctx, dt, 2, bs, (int64_t[]){3, 5}, 52, 0, &pb);
    cask_array *at, *bt, *c;
    ck_assert_int_eq(cask_transpose(a, NULL, &at), CASK_OK);
    ck_assert_int_eq(cask_transpose(b, NULL, &bt), CASK_OK);
    ck_assert_msg(cask_matmul(at, bt, &c) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    void *got = compute(ctx, c);
    contraction cn = {m, n, k, off_ki, off_ik, as, bs};
    ck_assert_int_eq(check_float(&cn, pa, dt, pb, dt, got, dt, d ? FLT_EPSILON : DBL_EPSILON), 0);
    free(got);
    cask_array_release(a);
    cask_array_release(b);
    cask_array_release(at);
    cask_array_release(bt);
    cask_array_release(c);
  }
  cask_ctx_free(ctx);
}
END_TEST

/* ---- errors ----------------------------------------------------------------- */

static void expect_error(int rc, cask_ctx *ctx, const char *const *parts) {
  ck_assert_int_eq(rc, CASK_EINVAL);
  for (int i = 0; parts[i]; i++)
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), parts[i]), "'%s' is not in '%s'", parts[i], cask_ctx_errmsg(ctx));
}

START_TEST(mismatched_shapes_name_the_operation_and_both_shapes) {
  cask_ctx *ctx = ctx_with(1, 0);
  int64_t s34[2] = {3, 4}, s52[2] = {5, 2}, s5 = 5, s3 = 3;
  cask_array *a = arr(ctx, CASK_F64, 2, s34, NULL, 1, 0, NULL), *b = arr(ctx, CASK_F64, 2, s52, NULL, 2, 0, NULL);
  cask_array *v5 = arr(ctx, CASK_F64, 1, &s5, NULL, 3, 0, NULL), *v3 = arr(ctx, CASK_F64, 1, &s3, NULL, 4, 0, NULL);
  cask_array *c = (cask_array *)1;
  expect_error(cask_matmul(a, b, &c), ctx, (const char *[]){"matmul", "(3, 4)", "(5, 2)", "4", "5", NULL});
  ck_assert_ptr_null(c);
  expect_error(cask_dot(a, v5, &c), ctx, (const char *[]){"dot", "(3, 4)", "(5,)", NULL});
  expect_error(cask_matmul(v5, v3, &c), ctx, (const char *[]){"matmul", "(5,)", "(3,)", NULL});
  expect_error(cask_tensordot(a, b, 1, (int[]){0}, (int[]){1}, &c), ctx,
               (const char *[]){"tensordot", "(3, 4)", "(5, 2)", "axis 0 of a", "axis 1 of b", NULL});
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(v5);
  cask_array_release(v3);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(unsupported_ranks_and_bad_axes_are_refused_with_a_message) {
  cask_ctx *ctx = ctx_with(1, 0);
  int64_t s3d[3] = {2, 3, 4}, s2[2] = {4, 4}, s1 = 4;
  cask_array *t = arr(ctx, CASK_F64, 3, s3d, NULL, 1, 0, NULL), *m = arr(ctx, CASK_F64, 2, s2, NULL, 2, 0, NULL);
  cask_array *v = arr(ctx, CASK_F64, 1, &s1, NULL, 3, 0, NULL), *s, *c;
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 1, 0, NULL, NULL, &s), CASK_OK);
  expect_error(cask_matmul(t, m, &c), ctx, (const char *[]){"matmul", "(2, 3, 4)", "(4, 4)", "2-d", NULL});
  expect_error(cask_matmul(s, m, &c), ctx, (const char *[]){"matmul", "()", "(4, 4)", "scalar", NULL});
  expect_error(cask_tensordot(t, m, 1, (int[]){2}, (int[]){0}, &c), ctx, (const char *[]){"tensordot", "(2, 3, 4)", NULL});
  expect_error(cask_tensordot(m, v, 1, (int[]){2}, (int[]){0}, &c), ctx,
               (const char *[]){"tensordot", "axis 2 of a", "out of range", NULL});
  expect_error(cask_tensordot(m, m, 2, (int[]){1, -1}, (int[]){0, 1}, &c), ctx,
               (const char *[]){"tensordot", "given twice", NULL});
  expect_error(cask_tensordot(m, v, 0, NULL, NULL, &c), ctx, (const char *[]){"tensordot", "3-d", NULL});
  expect_error(cask_tensordot(m, v, 2, (int[]){0, 1}, (int[]){0, 1}, &c), ctx, (const char *[]){"tensordot", "at most 1", NULL});
  /* gemm's extents are ints: a block product summing 3e9 terms is refused
   * (nothing is computed: zeros are lazy). */
  int64_t wide[2] = {2, 3000000000}, tall[2] = {3000000000, 2};
  cask_array *w, *h;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, wide, NULL, &w), CASK_OK);
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, tall, NULL, &h), CASK_OK);
  ck_assert_int_eq(cask_matmul(w, h, &c), CASK_ETOOBIG);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "smaller chunks") && strstr(cask_ctx_errmsg(ctx), "(2, 3000000000)"));
  cask_array_release(w);
  cask_array_release(h);
  ck_assert_int_eq(cask_matmul(NULL, m, &c), CASK_EINVAL);
  ck_assert_int_eq(cask_matmul(m, m, NULL), CASK_EINVAL);
  cask_array_release(t);
  cask_array_release(m);
  cask_array_release(v);
  cask_array_release(s);
  cask_ctx_free(ctx);
}
END_TEST

/* ---- chunking ---------------------------------------------------------------- */

START_TEST(differently_chunked_inner_axes_rechunk_the_smaller_operand) {
  cask_ctx *ctx = ctx_with(2, 0);
  /* b (8, 5) has fewer elements than a (6, 8): b's axis 0 goes from chunks
   * of 3 to a's 4; the result keeps a's row and b's column chunks. */
  check_matmul_2d(ctx, CASK_F64, CASK_F64, 6, 8, 5, (int64_t[]){3, 4}, (int64_t[]){3, 2});
  /* a (3, 8) is the smaller: a's axis 1 goes to b's chunks of 3. */
  check_matmul_2d(ctx, CASK_F64, CASK_F64, 3, 8, 9, (int64_t[]){2, 5}, (int64_t[]){3, 4});
  check_matmul_2d(ctx, CASK_I64, CASK_I64, 7, 11, 9, (int64_t[]){3, 2}, (int64_t[]){5, 4});
  int64_t as[2] = {6, 8}, bs[2] = {8, 5};
  cask_array *a, *b, *c;
  ck_assert_int_eq(cask_random_uniform(ctx, 1, CASK_F64, 2, as, (int64_t[]){3, 4}, &a), CASK_OK);
  ck_assert_int_eq(cask_random_uniform(ctx, 2, CASK_F64, 2, bs, (int64_t[]){3, 2}, &b), CASK_OK);
  ck_assert_int_eq(cask_matmul(a, b, &c), CASK_OK);
  ck_assert(cask_array_chunks(c)[0] == 3 && cask_array_chunks(c)[1] == 2);
  /* b + 0 is no source: rechunking it is tasks of its own; the products
   * see the same blocks, so the same bits. */
  cask_array *b0, *c0;
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, b, 0.0, 0, &b0), CASK_OK);
  ck_assert_int_eq(cask_matmul(a, b0, &c0), CASK_OK);
  double *g = compute(ctx, c), *g0 = compute(ctx, c0);
  ck_assert(memcmp(g, g0, 30 * sizeof *g) == 0);
  free(g);
  free(g0);
  cask_array_release(b0);
  cask_array_release(c0);
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(c);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_linalg_suite(void) {
  Suite *s = suite_create("array_linalg");
  TCase *tc = tcase_create("matmul");
  tcase_add_test(tc, matmul_f64_matches_the_triple_loop_with_partial_last_blocks);
  tcase_add_test(tc, matmul_sums_many_inner_blocks_in_chains_and_trees);
  tcase_add_test(tc, matmul_with_one_by_one_chunks);
  tcase_add_test(tc, matmul_and_dot_of_1d_operands_follow_numpy);
  tcase_add_test(tc, dot_of_a_vector_with_itself_is_its_squared_norm);
  tcase_add_test(tc, dot_with_a_scalar_multiplies);
  tcase_add_test(tc, matmul_feeds_elementwise_operations_and_is_computed_once);
  tcase_add_test(tc, matmul_graph_round_trips_through_json);
  tcase_add_test(tc, results_are_bit_identical_for_1_2_and_8_threads);
  tcase_add_test(tc, differently_chunked_inner_axes_rechunk_the_smaller_operand);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("dtypes");
  tcase_add_test(tc, matmul_f32_uses_float32_within_its_bound);
  tcase_add_test(tc, matmul_of_integers_is_exact_and_wraps_like_numpy);
  tcase_add_test(tc, matmul_of_bools_is_any_of_and);
  tcase_add_test(tc, matmul_of_mixed_dtypes_promotes);
  tcase_add_test(tc, empty_axes_give_empty_or_zero_results);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("tensordot");
  tcase_add_test(tc, tensordot_over_any_pair_of_axes_of_2d_operands);
  tcase_add_test(tc, tensordot_over_both_axes_is_a_full_contraction);
  tcase_add_test(tc, tensordot_over_no_axes_is_an_outer_product);
  tcase_add_test(tc, transposed_buffers_are_read_in_place_as_cblas_trans);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_test(tc, mismatched_shapes_name_the_operation_and_both_shapes);
  tcase_add_test(tc, unsupported_ranks_and_bad_axes_are_refused_with_a_message);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
