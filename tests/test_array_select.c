/* test_array_select.c - selection (x[mask], compress, extract, nonzero,
 * argwhere, flatnonzero, take) against plain loops over every dtype and
 * odd chunkings (ragged last blocks, one-element chunks, chunks larger
 * than the array), empty results and 0-d arrays, bit for bit; arrays of
 * unknown block lengths: elementwise operations and reductions without
 * the sizes, the counting pass, the refusals naming the operation; the
 * errors of bad arguments. NumPy checks through expressions and `cask run`
 * are in tests/select_numpy_check.py. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cask/cask.h"
#include "test-util.h"

static cask_ctx *new_ctx(int threads) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = threads;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

#define R 5
#define C 7
static const int64_t CHUNKINGS[][2] = {{2, 3}, {1, 1}, {8, 9}, {5, 2}, {3, 7}};
#define NCH (sizeof CHUNKINGS / sizeof CHUNKINGS[0])
static const cask_dtype DTYPES[] = {CASK_F64, CASK_F32, CASK_I64, CASK_I32, CASK_U8, CASK_BOOL};
#define NDT (sizeof DTYPES / sizeof DTYPES[0])

/* Element k of the test data as dtype dt: zeros here and there (nonzero
 * tests), NaN in the floats (nonzero: true). */
static void fill(void *buf, cask_dtype dt, int64_t n, int seed) {
  for (int64_t k = 0; k < n; k++) {
    int64_t v = (k * 7 + seed * 3) % 11 - 4; /* -4 .. 6 */
    double f = k % 13 == 5 ? NAN : (double)v * 1.25;
    switch (dt) {
    case CASK_F64: ((double *)buf)[k] = f; break;
    case CASK_F32: ((float *)buf)[k] = (float)f; break;
    case CASK_I64: ((int64_t *)buf)[k] = v * 1000000007LL; break;
    case CASK_I32: ((int32_t *)buf)[k] = (int32_t)v; break;
    case CASK_U8: ((uint8_t *)buf)[k] = (uint8_t)v; break;
    default: ((uint8_t *)buf)[k] = v > 0; break;
    }
  }
}

static int nonzero_at(const void *buf, cask_dtype dt, int64_t k) {
  switch (dt) {
  case CASK_F64: return ((const double *)buf)[k] != 0;
  case CASK_F32: return ((const float *)buf)[k] != 0;
  case CASK_I64: return ((const int64_t *)buf)[k] != 0;
  case CASK_I32: return ((const int32_t *)buf)[k] != 0;
  default: return ((const uint8_t *)buf)[k] != 0;
  }
}

/* a computed (its sizes first when unknown): a malloc'd buffer, its
 * element count in *n. Releases a. */
static void *get(cask_array *a, int64_t *n) {
  cask_array *k;
  ck_assert_int_eq(cask_compute_chunk_sizes(a, &k), CASK_OK);
  cask_array_release(a);
  *n = cask_array_size(k);
  ck_assert_int_ge(*n, 0);
  size_t bytes = (size_t)*n * cask_dtype_size(cask_array_dtype(k));
  void *buf = malloc(bytes + 1);
  ck_assert_int_eq(cask_compute(k, buf, bytes), CASK_OK);
  cask_array_release(k);
  return buf;
}

START_TEST(mask_select_and_nonzero_match_loops_for_every_dtype_and_chunking) {
  cask_ctx *ctx = new_ctx(3);
  static unsigned char xb[R * C * 8], mb[R * C];
  for (size_t d = 0; d < NDT; d++)
    for (size_t c = 0; c < NCH; c++) {
      cask_dtype dt = DTYPES[d];
      size_t w = cask_dtype_size(dt);
      fill(xb, dt, R * C, (int)c);
      fill(mb, CASK_BOOL, R * C, (int)c + 5);
      const int64_t shape[2] = {R, C};
      cask_array *x, *m, *s;
      ck_assert_int_eq(cask_from_buffer(ctx, xb, dt, 2, shape, CHUNKINGS[c], NULL, NULL, &x), CASK_OK);
      ck_assert_int_eq(cask_from_buffer(ctx, mb, CASK_BOOL, 2, shape, CHUNKINGS[(c + 1) % NCH], NULL, NULL, &m),
                       CASK_OK);
      /* x[m]: C order, whatever the two chunkings */
      ck_assert_int_eq(cask_mask_select(x, m, &s), CASK_OK);
      ck_assert_int_eq(cask_array_shape(s)[0], CASK_UNKNOWN);
      ck_assert_int_eq(cask_array_size(s), CASK_UNKNOWN);
      int64_t n, want = 0;
      unsigned char *got = get(s, &n);
      for (int64_t k = 0; k < R * C; k++)
        if (mb[k]) {
          require(want < n && !memcmp(got + want * w, xb + k * w, w), "x[m] %s chunks %zu at %lld", cask_dtype_name(dt),
                  c, (long long)want);
          want++;
        }
      require(n == want, "x[m] %s: %lld elements, want %lld", cask_dtype_name(dt), (long long)n, (long long)want);
      free(got);
      /* nonzero, argwhere, flatnonzero of x */
      cask_array *nz[2], *aw, *fl;
      ck_assert_int_eq(cask_nonzero(x, nz), CASK_OK);
      ck_assert_int_eq(cask_argwhere(x, &aw), CASK_OK);
      ck_assert_int_eq(cask_flatnonzero(x, &fl), CASK_OK);
      int64_t n0, n1, na, nf;
      int64_t *i0 = get(nz[0], &n0), *i1 = get(nz[1], &n1), *ia = get(aw, &na), *iff = get(fl, &nf);
      int64_t j = 0;
      for (int64_t k = 0; k < R * C; k++)
        if (nonzero_at(xb, dt, k)) {
          require(j < n0 && i0[j] == k / C && i1[j] == k % C && ia[2 * j] == k / C && ia[2 * j + 1] == k % C &&
                      iff[j] == k,
                  "nonzero %s chunks %zu at %lld", cask_dtype_name(dt), c, (long long)j);
          j++;
        }
      require(n0 == j && n1 == j && na == 2 * j && nf == j, "nonzero %s: %lld found, want %lld", cask_dtype_name(dt),
              (long long)n0, (long long)j);
      free(i0), free(i1), free(ia), free(iff);
      cask_array_release(x);
      cask_array_release(m);
    }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(compress_extract_and_take_match_loops) {
  cask_ctx *ctx = new_ctx(2);
  static unsigned char xb[R * C * 8];
  static const uint8_t rows[R] = {1, 0, 1, 1, 0}, cols[C] = {0, 1, 1, 0, 0, 0, 1};
  static const int64_t pick[] = {6, -1, 0, 3, 3, -7, 2};
  for (size_t d = 0; d < NDT; d++)
    for (size_t c = 0; c < NCH; c++) {
      cask_dtype dt = DTYPES[d];
      size_t w = cask_dtype_size(dt);
      fill(xb, dt, R * C, (int)c);
      cask_array *x, *cr, *cc, *r;
      ck_assert_int_eq(cask_from_buffer(ctx, xb, dt, 2, (int64_t[]){R, C}, CHUNKINGS[c], NULL, NULL, &x), CASK_OK);
      ck_assert_int_eq(cask_from_buffer(ctx, rows, CASK_BOOL, 1, (int64_t[]){R}, (int64_t[]){2}, NULL, NULL, &cr),
                       CASK_OK);
      ck_assert_int_eq(cask_from_buffer(ctx, cols, CASK_U8, 1, (int64_t[]){C}, NULL, NULL, NULL, &cc), CASK_OK);
      int64_t n;
      /* compress along 0 and 1 */
      ck_assert_int_eq(cask_compress(cr, x, (int[]){0}, &r), CASK_OK);
      unsigned char *got = get(r, &n), *p = got;
      ck_assert_int_eq(n, 3 * C);
      for (int i = 0; i < R; i++)
        for (int j = 0; rows[i] && j < C; j++, p += w) require(!memcmp(p, xb + (i * C + j) * w, w), "compress 0");
      free(got);
      ck_assert_int_eq(cask_compress(cc, x, (int[]){-1}, &r), CASK_OK);
      p = got = get(r, &n);
      ck_assert_int_eq(n, 3 * R);
      for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
          if (cols[j]) {
            require(!memcmp(p, xb + (i * C + j) * w, w), "compress 1");
            p += w;
          }
      free(got);
      /* extract with a condition of another dtype: x itself */
      ck_assert_int_eq(cask_extract(x, x, &r), CASK_OK);
      p = got = get(r, &n);
      for (int64_t k = 0; k < R * C; k++)
        if (nonzero_at(xb, dt, k)) {
          require(!memcmp(p, xb + k * w, w), "extract at %lld", (long long)k);
          p += w;
        }
      require((p - got) / (int64_t)w == n, "extract count");
      free(got);
      /* take along 1 by a list (negative indexes) and by an index array */
      ck_assert_int_eq(cask_take_list(x, 7, pick, (int[]){1}, &r), CASK_OK);
      cask_array *ia, *r2;
      ck_assert_int_eq(cask_from_buffer(ctx, pick, CASK_I64, 1, (int64_t[]){7}, (int64_t[]){3}, NULL, NULL, &ia),
                       CASK_OK);
      ck_assert_int_eq(cask_take(x, ia, (int[]){1}, &r2), CASK_OK);
      unsigned char *g1 = get(r, &n), *g2 = get(r2, &n);
      ck_assert_int_eq(n, R * 7);
      for (int i = 0; i < R; i++)
        for (int k = 0; k < 7; k++) {
          int64_t j = pick[k] < 0 ? pick[k] + C : pick[k];
          require(!memcmp(g1 + (i * 7 + k) * w, xb + (i * C + j) * w, w) &&
                      !memcmp(g2 + (i * 7 + k) * w, xb + (i * C + j) * w, w),
                  "take %s at %d,%d", cask_dtype_name(dt), i, k);
        }
      free(g1), free(g2);
      cask_array_release(ia);
      cask_array_release(cr), cask_array_release(cc), cask_array_release(x);
    }
  cask_ctx_free(ctx);
}
END_TEST

/* A 1-d float64 x of n values 0..1 (a hash), in chunks c; y = x[x > 0.5]. */
static cask_array *selected(cask_ctx *ctx, double *xb, int64_t n, int64_t c, cask_array **xo) {
  for (int64_t k = 0; k < n; k++) xb[k] = (double)((k * 2654435761u) % 1000) / 999.0;
  cask_array *x, *m, *y;
  ck_assert_int_eq(cask_from_buffer(ctx, xb, CASK_F64, 1, &n, &c, NULL, NULL, &x), CASK_OK);
  ck_assert_int_eq(cask_binary_scalar(CASK_GREATER, x, 0.5, 0, &m), CASK_OK);
  ck_assert_int_eq(cask_mask_select(x, m, &y), CASK_OK);
  cask_array_release(m);
  if (xo) *xo = x;
  else cask_array_release(x);
  return y;
}

START_TEST(unknown_lengths_take_elementwise_and_reductions_and_refuse_the_rest) {
  static double xb[1000];
  for (int t = 1; t <= 4; t *= 2) { /* the same bits for any thread count */
    cask_ctx *ctx = new_ctx(t);
    cask_array *x, *y = selected(ctx, xb, 1000, 37, &x), *z, *s, *m2, *yy;
    /* sum, mean, count of y * 2 + 1, and of a selection of y */
    ck_assert_int_eq(cask_binary_scalar(CASK_MUL, y, 2, 0, &z), CASK_OK);
    cask_array *zz;
    ck_assert_int_eq(cask_binary(CASK_ADD, z, y, &zz), CASK_OK); /* the same blocks: fine */
    double sum, mean, cnt, sum2, ref = 0;
    int64_t nref = 0;
    ck_assert_int_eq(cask_reduce(CASK_SUM, zz, NULL, 0, 0, &s), CASK_OK);
    ck_assert_int_eq(cask_compute_scalar(s, &sum), CASK_OK);
    cask_array_release(s);
    ck_assert_int_eq(cask_reduce(CASK_MEAN, y, NULL, 0, 0, &s), CASK_OK);
    ck_assert_int_eq(cask_compute_scalar(s, &mean), CASK_OK);
    cask_array_release(s);
    ck_assert_int_eq(cask_count_nonzero(y, NULL, 0, &s), CASK_OK);
    ck_assert_int_eq(cask_compute_scalar(s, &cnt), CASK_OK);
    cask_array_release(s);
    double var, refv = 0, refs = 0; /* var: no masked rewrite, the partials take the blocks' lengths */
    ck_assert_int_eq(cask_reduce(CASK_VAR, y, NULL, 0, 0, &s), CASK_OK);
    ck_assert_int_eq(cask_compute_scalar(s, &var), CASK_OK);
    cask_array_release(s);
    int64_t nv = 0;
    for (int k = 0; k < 1000; k++)
      if (xb[k] > 0.5) refs += xb[k], nv++;
    for (int k = 0; k < 1000; k++)
      if (xb[k] > 0.5) refv += (xb[k] - refs / nv) * (xb[k] - refs / nv);
    require(fabs(var - refv / nv) < 1e-12, "var %.17g, want %.17g", var, refv / nv);
    ck_assert_int_eq(cask_binary_scalar(CASK_LESS, y, 0.75, 0, &m2), CASK_OK);
    ck_assert_int_eq(cask_mask_select(y, m2, &yy), CASK_OK);
    ck_assert_int_eq(cask_reduce(CASK_SUM, yy, NULL, 0, 0, &s), CASK_OK);
    ck_assert_int_eq(cask_compute_scalar(s, &sum2), CASK_OK);
    cask_array_release(s);
    double ref2 = 0, refm = 0;
    for (int k = 0; k < 1000; k++)
      if (xb[k] > 0.5) {
        ref += 3 * xb[k], refm += xb[k], nref++;
        if (xb[k] < 0.75) ref2 += xb[k];
      }
    require(fabs(sum - ref) < 1e-9 * ref && fabs(mean - refm / nref) < 1e-12 && cnt == nref &&
                fabs(sum2 - ref2) < 1e-9 * ref2,
            "threads %d: sum %.17g (%.17g), mean %.17g (%.17g), count %g (%lld), sum2 %.17g (%.17g)", t, sum, ref,
            mean, refm / nref, cnt, (long long)nref, sum2, ref2);
    static double first[3];
    if (t == 1) first[0] = sum, first[1] = mean, first[2] = sum2;
    else require(!memcmp(first, (double[]){sum, mean, sum2}, sizeof first), "threads %d: other bits", t);
    /* refusals: each names the operation; no array returned */
    cask_array *r = (cask_array *)1;
    ck_assert_int_eq(cask_reshape(y, 1, (int64_t[]){10}, &r), CASK_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "reshape: the array of shape (-1,)") &&
                      strstr(cask_ctx_errmsg(ctx), "cask_compute_chunk_sizes"),
                  "%s", cask_ctx_errmsg(ctx));
    ck_assert_int_eq(cask_slice(y, 1, (cask_index[]){CASK_SLICE(0, 3, 1)}, &r), CASK_EINVAL);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "slice:"), "%s", cask_ctx_errmsg(ctx));
    ck_assert_int_eq(cask_rechunk(y, (int64_t[]){5}, &r), CASK_EINVAL);
    ck_assert_int_eq(cask_binary(CASK_ADD, y, x, &r), CASK_EINVAL); /* a known length against an unknown one */
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "unknown length"), "%s", cask_ctx_errmsg(ctx));
    ck_assert_int_eq(cask_binary(CASK_ADD, y, yy, &r), CASK_EINVAL); /* two selections */
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "different selections"), "%s", cask_ctx_errmsg(ctx));
    ck_assert_int_eq(cask_reduce(CASK_ARGMAX, y, NULL, 0, 0, &r), CASK_EINVAL);
    /* ops that need the length check it (diff gave y back: its loop ran to -1) */
    ck_assert_int_eq(cask_diff(y, 1, 0, &r), CASK_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "diff: the array of shape (-1,)"), "%s", cask_ctx_errmsg(ctx));
    ck_assert_int_eq(cask_roll(y, 1, (int64_t[]){1}, NULL, &r), CASK_EINVAL);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "roll: the array"), "%s", cask_ctx_errmsg(ctx));
    ck_assert_int_eq(cask_pad(y, (int64_t[]){1}, (int64_t[]){1}, CASK_PAD_CONSTANT, 0, &r), CASK_EINVAL);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "pad: the array"), "%s", cask_ctx_errmsg(ctx));
    ck_assert_int_eq(cask_triu(y, 0, &r), CASK_EINVAL);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "triu: the array"), "%s", cask_ctx_errmsg(ctx));
    /* expand_dims keeps the blocks (keepdims); min and max reduce the selection */
    cask_array *e, *mn;
    ck_assert_int_eq(cask_expand_dims(y, 1, (int[]){0}, &e), CASK_OK);
    ck_assert_int_eq(cask_array_ndim(e), 2);
    ck_assert_int_eq(cask_array_shape(e)[0], 1);
    ck_assert_int_eq(cask_array_shape(e)[1], CASK_UNKNOWN);
    ck_assert_int_eq(cask_reduce(CASK_SUM, e, NULL, 0, 0, &s), CASK_OK);
    double esum, emin, rmin = INFINITY;
    ck_assert_int_eq(cask_compute_scalar(s, &esum), CASK_OK);
    require(fabs(esum - ref / 3) < 1e-9 * ref, "sum(expand_dims(y)) %.17g, want %.17g", esum, ref / 3);
    cask_array_release(s), cask_array_release(e);
    ck_assert_int_eq(cask_reduce(CASK_MIN, y, NULL, 0, 0, &mn), CASK_OK);
    ck_assert_int_eq(cask_compute_scalar(mn, &emin), CASK_OK);
    for (int k = 0; k < 1000; k++)
      if (xb[k] > 0.5 && xb[k] < rmin) rmin = xb[k];
    require(emin == rmin, "min(y) %.17g, want %.17g", emin, rmin);
    cask_array_release(mn);
    double buf[1000];
    ck_assert_int_eq(cask_compute(y, buf, sizeof buf), CASK_EINVAL);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "compute into a buffer"), "%s", cask_ctx_errmsg(ctx));
    /* the sizes: regular blocks, as many as before */
    ck_assert_int_eq(cask_compute_chunk_sizes(y, &r), CASK_OK);
    ck_assert_int_eq(cask_array_shape(r)[0], nref);
    ck_assert_int_eq(cask_array_nblocks(r, 0), cask_array_nblocks(y, 0));
    cask_array_release(r);
    cask_array_release(m2), cask_array_release(yy), cask_array_release(zz), cask_array_release(z);
    cask_array_release(y), cask_array_release(x);
    cask_ctx_free(ctx);
  }
}
END_TEST

START_TEST(empty_results_zero_d_and_empty_arrays) {
  cask_ctx *ctx = new_ctx(2);
  cask_array *x, *m, *r;
  int64_t n;
  /* nothing selected */
  ck_assert_int_eq(cask_zeros(ctx, CASK_I32, 2, (int64_t[]){4, 6}, (int64_t[]){3, 4}, &x), CASK_OK);
  ck_assert_int_eq(cask_binary_scalar(CASK_GREATER, x, 1, 0, &m), CASK_OK);
  ck_assert_int_eq(cask_mask_select(x, m, &r), CASK_OK);
  free(get(r, &n));
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(cask_flatnonzero(x, &r), CASK_OK);
  free(get(r, &n));
  ck_assert_int_eq(n, 0);
  /* min and max of it fail the run as NumPy raises (they were INT64 extremes) */
  for (int op = 0; op < 2; op++) {
    cask_array *y, *v;
    double d;
    ck_assert_int_eq(cask_mask_select(x, m, &y), CASK_OK);
    ck_assert_int_eq(cask_reduce(op ? CASK_MAX : CASK_MIN, y, NULL, 0, 0, &v), CASK_OK);
    ck_assert_int_ne(cask_compute_scalar(v, &d), CASK_OK);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), op ? "reduction operation maximum which has no identity"
                                                  : "reduction operation minimum which has no identity"),
                  "%s", cask_ctx_errmsg(ctx));
    cask_array_release(v), cask_array_release(y);
  }
  cask_array_release(m), cask_array_release(x);
  /* an empty array */
  ck_assert_int_eq(cask_ones(ctx, CASK_F64, 2, (int64_t[]){0, 4}, (int64_t[]){2, 2}, &x), CASK_OK);
  ck_assert_int_eq(cask_binary_scalar(CASK_GREATER, x, 0, 0, &m), CASK_OK);
  ck_assert_int_eq(cask_mask_select(x, m, &r), CASK_OK);
  free(get(r, &n));
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(cask_take_list(x, 2, (int64_t[]){1, -4}, (int[]){1}, &r), CASK_OK);
  ck_assert_int_eq(cask_array_shape(r)[0], 0);
  ck_assert_int_eq(cask_array_shape(r)[1], 2);
  free(get(r, &n));
  cask_array_release(m), cask_array_release(x);
  /* 0-d: x[m] has 0 or 1 element; nonzero as a 1-element array */
  for (int v = 0; v < 2; v++) {
    ck_assert_int_eq(cask_full(ctx, CASK_F64, v ? 2.5 : 0, 0, NULL, NULL, &x), CASK_OK);
    ck_assert_int_eq(cask_binary_scalar(CASK_NOT_EQUAL, x, 0, 0, &m), CASK_OK);
    ck_assert_int_eq(cask_mask_select(x, m, &r), CASK_OK);
    double *g = get(r, &n);
    require(n == v && (!v || g[0] == 2.5), "0-d x[m]: %lld", (long long)n);
    free(g);
    cask_array *nz[1];
    ck_assert_int_eq(cask_nonzero(x, nz), CASK_OK);
    int64_t *gi = get(nz[0], &n);
    require(n == v && (!v || gi[0] == 0), "0-d nonzero");
    free(gi);
    ck_assert_int_eq(cask_argwhere(x, &r), CASK_EINVAL);
    cask_array_release(m), cask_array_release(x);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(bad_arguments_name_the_function_and_shapes) {
  cask_ctx *ctx = new_ctx(1);
  cask_array *x, *m, *f, *r = NULL, *i;
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 12, 1, 5, &x), CASK_OK);
  ck_assert_int_eq(cask_ones(ctx, CASK_BOOL, 1, (int64_t[]){5}, NULL, &m), CASK_OK);
  ck_assert_int_eq(cask_ones(ctx, CASK_I64, 1, (int64_t[]){12}, NULL, &f), CASK_OK);
#define MSG(call, text)                                                                          \
  do {                                                                                           \
    ck_assert_int_eq(call, CASK_EINVAL);                                                         \
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), text), "%s: %s", #call, cask_ctx_errmsg(ctx));    \
  } while (0)
  MSG(cask_mask_select(x, m, &r), "the mask's shape (5,) does not match the array's (12,)");
  MSG(cask_mask_select(x, f, &r), "the mask has dtype int64");
  MSG(cask_take_list(x, 2, (int64_t[]){3, 12}, NULL, &r), "take: index 12 is out of bounds for axis 0 with size 12");
  MSG(cask_take_list(x, 1, (int64_t[]){-13}, (int[]){0}, &r), "index -13 is out of bounds");
  MSG(cask_take_list(x, 1, (int64_t[]){0}, (int[]){1}, &r), "take: axis 1 is out of bounds");
  MSG(cask_compress(f, m, (int[]){0}, &r), "compress: the condition has 12 entries, axis 0 of the array (shape (5,)) only 5");
  MSG(cask_take(x, x, NULL, &r), "take: the indices have dtype float64");
#undef MSG
  ck_assert_ptr_null(r);
  /* an index array out of bounds fails the run, naming the task */
  ck_assert_int_eq(cask_arange(ctx, CASK_I64, 10, 14, 1, 2, &i), CASK_OK);
  ck_assert_int_eq(cask_take(x, i, NULL, &r), CASK_OK);
  double buf[4];
  ck_assert_int_eq(cask_compute(r, buf, sizeof buf), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "take-") && strstr(cask_ctx_errmsg(ctx), "index 12 is out of bounds for axis 0 with size 12"),
                "%s", cask_ctx_errmsg(ctx));
  cask_array_release(r), cask_array_release(i);
  cask_array_release(x), cask_array_release(m), cask_array_release(f);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_select_suite(void) {
  Suite *s = suite_create("array_select");
  TCase *tc = tcase_create("select");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, mask_select_and_nonzero_match_loops_for_every_dtype_and_chunking);
  tcase_add_test(tc, compress_extract_and_take_match_loops);
  tcase_add_test(tc, unknown_lengths_take_elementwise_and_reductions_and_refuse_the_rest);
  tcase_add_test(tc, empty_results_zero_d_and_empty_arrays);
  tcase_add_test(tc, bad_arguments_name_the_function_and_shapes);
  suite_add_tcase(s, tc);
  return s;
}
