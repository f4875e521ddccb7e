/* test_array_shape.c - the shape functions of the C API (flip, roll,
 * squeeze, expand_dims, moveaxis, swapaxes, broadcast_to, tile, repeat,
 * pad, triu, tril, outer, round) against plain loops over odd chunkings
 * (ragged blocks, one-element chunks, chunks larger than the array), and
 * their errors: CASK_EINVAL with a message naming the function and the
 * shape, no array returned. NumPy checks of the same functions through
 * expressions are in tests/shape_numpy_check.py. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cask/cask.h"
#include "test-util.h"

static cask_ctx *new_ctx(void) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = 3;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

#define R 5
#define C 7
/* x[i][j] = 10 i + j as float64, shape (5, 7) in chunks ch (a buffer: its
 * blocks go through the gather and kernel tasks, not a source view). */
static double X[R][C];
static cask_array *grid(cask_ctx *ctx, int64_t c0, int64_t c1) {
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++) X[i][j] = 10 * i + j;
  cask_array *x;
  ck_assert_int_eq(cask_from_buffer(ctx, X, CASK_F64, 2, (int64_t[]){R, C}, (int64_t[]){c0, c1}, NULL, NULL, &x),
                   CASK_OK);
  return x;
}

/* a's values as doubles (any dtype), checking its shape. */
static void get(cask_array *a, int ndim, const int64_t *shape, double *buf) {
  ck_assert_int_eq(cask_array_ndim(a), ndim);
  for (int i = 0; i < ndim; i++) ck_assert_int_eq(cask_array_shape(a)[i], shape[i]);
  cask_array *d;
  ck_assert_int_eq(cask_astype(a, CASK_F64, &d), CASK_OK);
  ck_assert_int_eq(cask_compute(d, buf, (size_t)cask_array_size(d) * sizeof *buf), CASK_OK);
  cask_array_release(d);
  cask_array_release(a);
}

static const int64_t CHUNKINGS[][2] = {{2, 3}, {1, 1}, {8, 9}, {5, 2}};
#define NCH (sizeof CHUNKINGS / sizeof CHUNKINGS[0])

START_TEST(flip_roll_swap_and_move_axes_match_loops) {
  cask_ctx *ctx = new_ctx();
  double got[4 * R * C];
  for (size_t c = 0; c < NCH; c++) {
    cask_array *x = grid(ctx, CHUNKINGS[c][0], CHUNKINGS[c][1]), *r;
    ck_assert_int_eq(cask_flip(x, 1, (int[]){-1}, &r), CASK_OK);
    get(r, 2, (int64_t[]){R, C}, got);
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) require(got[i * C + j] == X[i][C - 1 - j], "flip at %d,%d", i, j);
    ck_assert_int_eq(cask_roll(x, 2, (int64_t[]){2, -9}, (int[]){0, 1}, &r), CASK_OK);
    get(r, 2, (int64_t[]){R, C}, got);
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) require(got[i * C + j] == X[(i + R - 2) % R][(j + 9) % C], "roll at %d,%d", i, j);
    ck_assert_int_eq(cask_roll(x, 1, (int64_t[]){3}, NULL, &r), CASK_OK); /* flattened */
    get(r, 2, (int64_t[]){R, C}, got);
    for (int k = 0; k < R * C; k++) require(got[k] == (&X[0][0])[(k + R * C - 3) % (R * C)], "flat roll at %d", k);
    ck_assert_int_eq(cask_swapaxes(x, 0, -1, &r), CASK_OK);
    get(r, 2, (int64_t[]){C, R}, got);
    for (int j = 0; j < C; j++)
      for (int i = 0; i < R; i++) require(got[j * R + i] == X[i][j], "swapaxes at %d,%d", j, i);
    cask_array *e, *m;
    ck_assert_int_eq(cask_expand_dims(x, 1, (int[]){1}, &e), CASK_OK); /* (5, 1, 7) */
    ck_assert_int_eq(cask_moveaxis(e, 2, (int[]){0, 2}, (int[]){2, 0}, &m), CASK_OK); /* (7, 1, 5) */
    cask_array *s;
    ck_assert_int_eq(cask_squeeze(m, 0, NULL, &s), CASK_OK);
    get(s, 2, (int64_t[]){C, R}, got);
    for (int j = 0; j < C; j++)
      for (int i = 0; i < R; i++) require(got[j * R + i] == X[i][j], "moveaxis at %d,%d", j, i);
    cask_array_release(e);
    cask_array_release(m);
    cask_array_release(x);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(broadcast_tile_repeat_match_loops) {
  cask_ctx *ctx = new_ctx();
  double got[6 * R * C];
  for (size_t c = 0; c < NCH; c++) {
    cask_array *x = grid(ctx, CHUNKINGS[c][0], CHUNKINGS[c][1]), *row, *r;
    ck_assert_int_eq(cask_slice(x, 1, (cask_index[]){CASK_SLICE(1, 2, 1)}, &row), CASK_OK); /* (1, 7) */
    ck_assert_int_eq(cask_broadcast_to(row, 3, (int64_t[]){2, 4, C}, &r), CASK_OK);
    get(r, 3, (int64_t[]){2, 4, C}, got);
    for (int k = 0; k < 2 * 4 * C; k++) require(got[k] == X[1][k % C], "broadcast_to at %d", k);
    ck_assert_int_eq(cask_tile(x, 2, (int64_t[]){2, 3}, &r), CASK_OK);
    get(r, 2, (int64_t[]){2 * R, 3 * C}, got);
    for (int i = 0; i < 2 * R; i++)
      for (int j = 0; j < 3 * C; j++) require(got[i * 3 * C + j] == X[i % R][j % C], "tile at %d,%d", i, j);
    ck_assert_int_eq(cask_repeat(x, 3, (int[]){1}, &r), CASK_OK);
    get(r, 2, (int64_t[]){R, 3 * C}, got);
    for (int i = 0; i < R; i++)
      for (int j = 0; j < 3 * C; j++) require(got[i * 3 * C + j] == X[i][j / 3], "repeat at %d,%d", i, j);
    ck_assert_int_eq(cask_repeat(x, 2, NULL, &r), CASK_OK);
    get(r, 1, (int64_t[]){2 * R * C}, got);
    for (int k = 0; k < 2 * R * C; k++) require(got[k] == (&X[0][0])[k / 2], "flat repeat at %d", k);
    cask_array_release(row);
    cask_array_release(x);
  }
  cask_ctx_free(ctx);
}
END_TEST

/* NumPy's pad of one axis as a map from padded positions to indices of
 * the axis (-1: the constant), written element by element as
 * numpy/lib/arraypad.py fills its array in rounds (_set_reflect_both,
 * _set_wrap_both): a wide reflect is not periodic there. */
static void pad_map(int64_t n, int64_t before, int64_t after, cask_pad_mode mode, int64_t *m) {
  int64_t len = n + before + after;
  for (int64_t p = 0; p < len; p++) m[p] = p >= before && p < before + n ? p - before : -1;
  if (mode == CASK_PAD_CONSTANT) return;
  if (mode == CASK_PAD_EDGE || (n == 1 && mode != CASK_PAD_WRAP)) {
    for (int64_t p = 0; p < len; p++) m[p] = p < before ? 0 : p >= before + n ? n - 1 : m[p];
    return;
  }
  int64_t l = before, r = after;
  while (l > 0 || r > 0) {
    int64_t valid = len - l - r; /* positions l .. l + valid - 1 are filled */
    if (mode == CASK_PAD_WRAP) {
      int64_t wl = l < valid ? l : valid, wr = r < valid ? r : valid;
      for (int64_t k = 0; k < wl; k++) m[l - 1 - k] = m[l + valid - 1 - k];
      for (int64_t k = 0; k < wr; k++) m[l + valid + k] = m[l + k];
      l -= wl;
      r -= wr;
    } else {
      int64_t edge = mode == CASK_PAD_SYMMETRIC, avail = valid - !edge;
      int64_t wl = l < avail ? l : avail, wr = r < avail ? r : avail;
      for (int64_t k = 0; k < wl; k++) m[l - 1 - k] = m[l + k + !edge];
      int64_t last = l + valid - 1;
      for (int64_t k = 0; k < wr; k++) m[last + 1 + k] = m[last - k - !edge];
      l -= wl;
      r -= wr;
    }
  }
}

/* A large broadcast is not one huge block: stretched axes are chunked to
 * keep blocks under chunk_bytes. */
START_TEST(broadcast_to_keeps_blocks_under_chunk_bytes) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = 2;
  o.chunk_bytes = 1024;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  cask_array *x = grid(ctx, 2, 4), *row, *r;
  ck_assert_int_eq(cask_slice(x, 1, (cask_index[]){CASK_AT(3)}, &row), CASK_OK); /* (7,) in chunks 4 */
  ck_assert_int_eq(cask_broadcast_to(row, 3, (int64_t[]){50, 6, C}, &r), CASK_OK);
  const int64_t *ch = cask_array_chunks(r);
  ck_assert_int_eq(ch[2], 4);
  ck_assert_msg(ch[0] * ch[1] * ch[2] * 8 <= 1024 && ch[0] >= 1 && ch[1] >= 1, "chunks (%lld, %lld, %lld)",
                (long long)ch[0], (long long)ch[1], (long long)ch[2]);
  static double got[50 * 6 * C];
  get(r, 3, (int64_t[]){50, 6, C}, got);
  for (int k = 0; k < 50 * 6 * C; k++) require(got[k] == X[3][k % C], "broadcast_to at %d", k);
  cask_array_release(row);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(pad_every_mode_any_width_matches_loops) {
  cask_ctx *ctx = new_ctx();
  static const int64_t widths[][4] = {{0, 0, 1, 2}, {3, 1, 0, 8}, {11, 4, 20, 1}, {1, 13, 6, 6}};
  double got[40 * 40];
  for (size_t c = 0; c < NCH; c++)
    for (int mode = CASK_PAD_CONSTANT; mode <= CASK_PAD_WRAP; mode++)
      for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        cask_array *x = grid(ctx, CHUNKINGS[c][0], CHUNKINGS[c][1]), *r;
        const int64_t *wd = widths[w];
        ck_assert_int_eq(cask_pad(x, (int64_t[]){wd[0], wd[2]}, (int64_t[]){wd[1], wd[3]}, mode, -1.5, &r), CASK_OK);
        int64_t n0 = R + wd[0] + wd[1], n1 = C + wd[2] + wd[3], m0[40], m1[40];
        pad_map(R, wd[0], wd[1], mode, m0);
        pad_map(C, wd[2], wd[3], mode, m1);
        get(r, 2, (int64_t[]){n0, n1}, got);
        for (int64_t i = 0; i < n0; i++)
          for (int64_t j = 0; j < n1; j++) {
            double want = m0[i] < 0 || m1[j] < 0 ? -1.5 : X[m0[i]][m1[j]];
            require(got[i * n1 + j] == want, "pad mode %d widths %zu at %lld,%lld: %g, want %g", mode, w,
                    (long long)i, (long long)j, got[i * n1 + j], want);
          }
        cask_array_release(x);
      }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(triangles_outer_and_round_match_loops) {
  cask_ctx *ctx = new_ctx();
  double got[R * C * R * C];
  for (size_t c = 0; c < NCH; c++) {
    cask_array *x = grid(ctx, CHUNKINGS[c][0], CHUNKINGS[c][1]), *r;
    for (int64_t k = -6; k <= 8; k += 2) {
      ck_assert_int_eq(cask_triu(x, k, &r), CASK_OK);
      get(r, 2, (int64_t[]){R, C}, got);
      for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) require(got[i * C + j] == (j - i >= k ? X[i][j] : 0), "triu %lld", (long long)k);
      ck_assert_int_eq(cask_tril(x, k, &r), CASK_OK);
      get(r, 2, (int64_t[]){R, C}, got);
      for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) require(got[i * C + j] == (j - i <= k ? X[i][j] : 0), "tril %lld", (long long)k);
    }
    ck_assert_int_eq(cask_outer(x, x, &r), CASK_OK);
    get(r, 2, (int64_t[]){R * C, R * C}, got);
    for (int p = 0; p < R * C; p++)
      for (int q = 0; q < R * C; q++) require(got[p * R * C + q] == (&X[0][0])[p] * (&X[0][0])[q], "outer");
    cask_array *s;
    ck_assert_int_eq(cask_binary_scalar(CASK_DIV, x, 7, 0, &s), CASK_OK);
    ck_assert_int_eq(cask_round(s, 2, &r), CASK_OK);
    get(r, 2, (int64_t[]){R, C}, got);
    for (int k = 0; k < R * C; k++) require(got[k] == nearbyint((&X[0][0])[k] / 7 * 100) / 100, "round at %d", k);
    ck_assert_int_eq(cask_round(x, -1, &r), CASK_OK);
    get(r, 2, (int64_t[]){R, C}, got);
    for (int k = 0; k < R * C; k++) require(got[k] == nearbyint((&X[0][0])[k] / 10) * 10, "round -1 at %d", k);
    cask_array_release(s);
    cask_array_release(x);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(bad_arguments_name_the_function_and_shape) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx, 2, 3), *z, *r;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, (int64_t[]){0, 3}, NULL, &z), CASK_OK);
  static const char *const want[] = {
      "flip: axis 2 is out of bounds for 2 axes (the array's shape is (5, 7))",
      "flip: axis -1 is repeated",
      "roll: axis -3 is out of bounds",
      "squeeze: axis 0 of shape (5, 7) has extent 5, not 1",
      "expand_dims: axis 3 is out of bounds for 3 axes",
      "moveaxis: axis 1 is repeated",
      "swapaxes: axis 5 is out of bounds",
      "broadcast_to: cannot broadcast shape (5, 7) to (5, 6)",
      "broadcast_to: cannot broadcast shape (5, 7) to (7,)",
      "tile: repetition -2 along axis 1 is negative",
      "repeat: repeats is -1, negative",
      "pad: the widths of axis 1, (0, -1), must not be negative",
      "pad: axis 0 of shape (0, 3) is empty: mode 'wrap' cannot extend it",
      "pad: mode 9 is not a pad mode",
  };
  /* each refused before anything is built, its message naming the call and the shape */
  r = (cask_array *)1;
  ck_assert_int_eq(cask_flip(x, 1, (int[]){2}, &r), CASK_EINVAL);
  ck_assert_ptr_null(r);
  size_t k = 0;
#define MSG(call)                                                                                        \
  do {                                                                                                   \
    ck_assert_int_eq(call, CASK_EINVAL);                                                                 \
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), want[k]), "'%s', wanted '%s'", cask_ctx_errmsg(ctx), want[k]); \
    k++;                                                                                                 \
  } while (0)
  MSG(cask_flip(x, 1, (int[]){2}, &r));
  MSG(cask_flip(x, 2, (int[]){1, -1}, &r));
  MSG(cask_roll(x, 1, (int64_t[]){1}, (int[]){-3}, &r));
  MSG(cask_squeeze(x, 1, (int[]){0}, &r));
  MSG(cask_expand_dims(x, 1, (int[]){3}, &r));
  MSG(cask_moveaxis(x, 2, (int[]){0, 1}, (int[]){1, 1}, &r));
  MSG(cask_swapaxes(x, 0, 5, &r));
  MSG(cask_broadcast_to(x, 2, (int64_t[]){5, 6}, &r));
  MSG(cask_broadcast_to(x, 1, (int64_t[]){7}, &r));
  MSG(cask_tile(x, 1, (int64_t[]){-2}, &r));
  MSG(cask_repeat(x, -1, NULL, &r));
  MSG(cask_pad(x, (int64_t[]){0, 0}, (int64_t[]){0, -1}, CASK_PAD_EDGE, 0, &r));
  MSG(cask_pad(z, (int64_t[]){1, 0}, (int64_t[]){0, 0}, CASK_PAD_WRAP, 0, &r));
  MSG(cask_pad(x, (int64_t[]){1, 0}, (int64_t[]){0, 0}, (cask_pad_mode)9, 0, &r));
#undef MSG
  ck_assert_int_eq(cask_flip(NULL, 0, NULL, &r), CASK_EINVAL);
  ck_assert_int_eq(cask_outer(x, NULL, &r), CASK_EINVAL);
  cask_array *s;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 0, NULL, NULL, &s), CASK_OK);
  ck_assert_int_eq(cask_triu(s, 0, &r), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "triu: the array is 0-d"), "%s", cask_ctx_errmsg(ctx));
  cask_array_release(s);
  cask_array_release(z);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_shape_suite(void) {
  Suite *s = suite_create("array_shape");
  TCase *tc = tcase_create("shape");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, flip_roll_swap_and_move_axes_match_loops);
  tcase_add_test(tc, broadcast_tile_repeat_match_loops);
  tcase_add_test(tc, broadcast_to_keeps_blocks_under_chunk_bytes);
  tcase_add_test(tc, pad_every_mode_any_width_matches_loops);
  tcase_add_test(tc, triangles_outer_and_round_match_loops);
  tcase_add_test(tc, bad_arguments_name_the_function_and_shape);
  suite_add_tcase(s, tc);
  return s;
}
