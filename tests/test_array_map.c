/* test_array_map.c - user kernels (cask_map_blocks, cask_map_overlap),
 * checked against plain C loops over whole arrays: the loops broadcast the
 * inputs, and pad the whole array by each boundary rule with index
 * arithmetic of their own (a modulo for periodic, a folded period of 2n for
 * reflect), so a mistake in the halo gathering cannot be repeated here.
 * Values are small integers, so every sum compares exactly.
 *
 * ck_assert records a mark on every call, so loops over elements count
 * mismatches and assert once. */
#include "test-util.h"
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/array.h"
#include "cask/cask.h"

/* ---- helpers ---------------------------------------------------------- */

static cask_ctx *new_ctx(int threads) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = threads;
  cask_ctx *ctx = NULL;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

static double load(const void *p, cask_dtype t, int64_t i) {
  switch (t) {
  case CASK_F64: return ((const double *)p)[i];
  case CASK_F32: return ((const float *)p)[i];
  case CASK_I64: return (double)((const int64_t *)p)[i];
  case CASK_I32: return ((const int32_t *)p)[i];
  case CASK_U8: return ((const uint8_t *)p)[i];
  default: return ((const uint8_t *)p)[i] != 0;
  }
}

static void store(void *p, cask_dtype t, int64_t i, double v) {
  switch (t) {
  case CASK_F64: ((double *)p)[i] = v; break;
  case CASK_F32: ((float *)p)[i] = (float)v; break;
  case CASK_I64: ((int64_t *)p)[i] = (int64_t)v; break;
  case CASK_I32: ((int32_t *)p)[i] = (int32_t)v; break;
  case CASK_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
  default: ((uint8_t *)p)[i] = v != 0; break;
  }
}

static int64_t prod(int nd, const int64_t *s) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= s[i];
  return n;
}

/* Flat index -> multi-index of shape s. */
static void unflat(int64_t f, int nd, const int64_t *s, int64_t *idx) {
  for (int i = nd - 1; i >= 0; i--) {
    idx[i] = f % s[i];
    f /= s[i];
  }
}

/* An array over a fresh buffer of small integers (seeded), in dtype t;
 * *data receives the buffer (free it after the array). */
static cask_array *int_array(cask_ctx *ctx, cask_dtype t, int nd, const int64_t *shape,
                             const int64_t *chunks, unsigned seed, void **data) {
  int64_t n = prod(nd, shape);
  *data = malloc((size_t)(n ? n : 1) * cask_dtype_size(t));
  uint32_t x = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    int v = (int)((x >> 24) % 10);
    store(*data, t, i, t == CASK_I32 || t == CASK_I64 ? v - 4 : v);
  }
  cask_array *a = NULL;
  ck_assert_int_eq(cask_from_buffer(ctx, *data, t, nd, shape, chunks, NULL, NULL, &a), CASK_OK);
  return a;
}

/* Compute a (made in ctx) into a fresh buffer (free it). */
static void *compute(cask_ctx *ctx, cask_array *a) {
  size_t nb = (size_t)cask_array_size(a) * cask_dtype_size(cask_array_dtype(a));
  void *buf = malloc(nb ? nb : 1);
  int rc = cask_compute(a, buf, nb);
  ck_assert_msg(rc == CASK_OK, "compute: %s: %s", cask_err_name(rc), cask_ctx_errmsg(ctx));
  return buf;
}

/* ======================================================================
 * map_blocks
 * ====================================================================== */

/* out = 2 * in + the output element's global flat index, which it finds
 * from info->offset: so the offsets are checked too. user: the global
 * shape. */
static int twice_plus_index(void *user, const cask_block *const *in, int nin, cask_block *out,
                            const cask_block_info *info) {
  const int64_t *gshape = user;
  int nd = info->ndim;
  const int64_t *bs = cask_block_shape(out);
  if (nin != 1 || info->depth || cask_block_ndim(out) != nd) return CASK_EINVAL;
  int64_t n = cask_block_size(out), idx[CASK_MAX_NDIM];
  for (int64_t e = 0; e < n; e++) {
    unflat(e, nd, bs, idx);
    int64_t g = 0;
    for (int i = 0; i < nd; i++) g = g * gshape[i] + info->offset[i] + idx[i];
    store(cask_block_data(out), cask_block_dtype(out), e,
          2 * load(cask_block_data(in[0]), cask_block_dtype(in[0]), e) + (double)g);
  }
  return CASK_OK;
}

START_TEST(map_blocks_of_one_input_sees_each_block_and_its_offset) {
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[2] = {7, 10}, chunks[2] = {3, 4};
  void *data;
  cask_array *a = int_array(ctx, CASK_F64, 2, shape, chunks, 1, &data), *m;
  cask_map_spec spec = {twice_plus_index, shape, "twice", 1, CASK_F64, NULL};
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_OK);
  ck_assert_int_eq(cask_array_ndim(m), 2);
  ck_assert(cask_array_shape(m)[0] == 7 && cask_array_shape(m)[1] == 10);
  ck_assert(cask_array_chunks(m)[0] == 3 && cask_array_chunks(m)[1] == 4);
  double *got = compute(ctx, m);
  int bad = 0;
  for (int64_t i = 0; i < 70; i++) bad += got[i] != 2 * ((double *)data)[i] + (double)i;
  ck_assert_msg(bad == 0, "%d of 70 elements differ", bad);
  /* The result feeds float64 arithmetic and reductions like any array. */
  cask_array *s;
  double total, want = 0;
  ck_assert_int_eq(cask_reduce(CASK_SUM, m, NULL, 0, 0, &s), CASK_OK);
  ck_assert_int_eq(cask_compute_scalar(s, &total), CASK_OK);
  for (int64_t i = 0; i < 70; i++) want += got[i];
  ck_assert_msg(total == want, "sum %g, loop %g", total, want);
  cask_array_release(s);
  free(got);
  cask_array_release(m);
  cask_array_release(a);
  free(data);
  cask_ctx_free(ctx);
}
END_TEST

/* out = the sum of the inputs, broadcast within the block as NumPy would
 * (aligned at the right, an extent of 1 stretches): the kernel sees the
 * inputs' own blocks. */
static int sum_inputs(void *user, const cask_block *const *in, int nin, cask_block *out,
                      const cask_block_info *info) {
  int nd = cask_block_ndim(out);
  const int64_t *os = cask_block_shape(out);
  int64_t n = cask_block_size(out), idx[CASK_MAX_NDIM];
  for (int64_t e = 0; e < n; e++) {
    unflat(e, nd, os, idx);
    double v = 0;
    for (int k = 0; k < nin; k++) {
      int bn = cask_block_ndim(in[k]);
      const int64_t *bs = cask_block_shape(in[k]);
      int64_t f = 0;
      for (int j = 0; j < bn; j++) {
        int i = j + nd - bn;
        if (bs[j] != 1 && bs[j] != os[i]) {
          snprintf(info->errmsg, info->errmsg_cap, "input %d block extent %lld vs %lld", k,
                   (long long)bs[j], (long long)os[i]);
          return CASK_EINVAL;
        }
        f = f * bs[j] + (bs[j] == 1 ? 0 : idx[i]);
      }
      v += load(cask_block_data(in[k]), cask_block_dtype(in[k]), f);
    }
    store(cask_block_data(out), cask_block_dtype(out), e, v);
  }
  return CASK_OK;
}

/* The sum of broadcast whole arrays, by loops. */
static double broadcast_sum_at(int nin, void *const *data, const cask_dtype *t, const int *nds,
                               const int64_t (*shapes)[4], int nd, const int64_t *idx) {
  double v = 0;
  for (int k = 0; k < nin; k++) {
    int64_t f = 0;
    for (int j = 0; j < nds[k]; j++) {
      int64_t e = shapes[k][j];
      f = f * e + (e == 1 ? 0 : idx[j + nd - nds[k]]);
    }
    v += load(data[k], t[k], f);
  }
  return v;
}

typedef struct bcase {
  int nin, nd[3];
  int64_t shape[3][4], chunks[3][4];
  cask_dtype t[3];
  int out_nd;
  int64_t out_shape[4];
} bcase;

static void check_broadcast_case(cask_ctx *ctx, const bcase *c) {
  void *data[3];
  cask_array *in[3], *m;
  for (int k = 0; k < c->nin; k++) in[k] = int_array(ctx, c->t[k], c->nd[k], c->shape[k], c->chunks[k], 3 + k, &data[k]);
  cask_map_spec spec = {sum_inputs, NULL, "sum", 7, CASK_F64, NULL};
  int rc = cask_map_blocks(&spec, c->nin, in, &m);
  ck_assert_msg(rc == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(cask_array_ndim(m), c->out_nd);
  for (int i = 0; i < c->out_nd; i++) {
    ck_assert_int_eq(cask_array_shape(m)[i], c->out_shape[i]);
    /* The grid: the chunks of the first input that spans the axis. */
    int64_t want = 1;
    for (int k = c->nin - 1; k >= 0; k--) {
      int j = i - (c->out_nd - c->nd[k]);
      if (j >= 0 && c->shape[k][j] != 1) want = c->chunks[k][j];
    }
    ck_assert_int_eq(cask_array_chunks(m)[i], want);
  }
  double *got = compute(ctx, m);
  int64_t n = prod(c->out_nd, c->out_shape), idx[4];
  int bad = 0;
  for (int64_t e = 0; e < n; e++) {
    unflat(e, c->out_nd, c->out_shape, idx);
    bad += got[e] != broadcast_sum_at(c->nin, data, c->t, c->nd, c->shape, c->out_nd, idx);
  }
  ck_assert_msg(bad == 0, "%d of %lld elements differ", bad, (long long)n);
  free(got);
  cask_array_release(m);
  for (int k = 0; k < c->nin; k++) {
    cask_array_release(in[k]);
    free(data[k]);
  }
}

START_TEST(map_blocks_broadcasts_and_rechunks_its_inputs_to_the_first_ones_grid) {
  cask_ctx *ctx = new_ctx(2);
  static const bcase cases[] = {
      /* a row vector along the last axis */
      {2, {2, 1}, {{6, 7}, {7}}, {{4, 3}, {3}}, {CASK_F64, CASK_F64}, 2, {6, 7}},
      /* a column (extent 1 on the last axis) */
      {2, {2, 2}, {{6, 7}, {6, 1}}, {{4, 3}, {4, 1}}, {CASK_F64, CASK_I32}, 2, {6, 7}},
      /* the first input is the one that stretches */
      {2, {2, 2}, {{1, 7}, {6, 7}}, {{1, 3}, {4, 3}}, {CASK_U8, CASK_F64}, 2, {6, 7}},
      /* chunks that differ from the first input's: rechunked to them */
      {2, {2, 1}, {{6, 7}, {7}}, {{4, 3}, {2}}, {CASK_F64, CASK_I64}, 2, {6, 7}},
      {2, {2, 2}, {{6, 7}, {6, 7}}, {{4, 3}, {5, 7}}, {CASK_F64, CASK_F64}, 2, {6, 7}},
      {2, {2, 2}, {{1, 7}, {6, 7}}, {{1, 2}, {4, 3}}, {CASK_F64, CASK_F64}, 2, {6, 7}},
      /* three inputs, a scalar among them, and another dtype */
      {3, {3, 0, 2}, {{2, 5, 4}, {0}, {5, 1}}, {{1, 2, 3}, {0}, {2, 1}}, {CASK_I64, CASK_F32, CASK_BOOL}, 3, {2, 5, 4}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_broadcast_case(ctx, &cases[i]);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(map_blocks_accepts_the_same_array_twice) {
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[2] = {5, 6}, chunks[2] = {2, 4};
  void *data;
  cask_array *a = int_array(ctx, CASK_F64, 2, shape, chunks, 9, &data), *m;
  cask_map_spec spec = {sum_inputs, NULL, "sum", 7, CASK_F64, NULL};
  cask_array *in[2] = {a, a};
  ck_assert_int_eq(cask_map_blocks(&spec, 2, in, &m), CASK_OK);
  double *got = compute(ctx, m);
  int bad = 0;
  for (int i = 0; i < 30; i++) bad += got[i] != 2 * ((double *)data)[i];
  ck_assert_int_eq(bad, 0);
  free(got);
  cask_array_release(m);
  cask_array_release(a);
  free(data);
  cask_ctx_free(ctx);
}
END_TEST

/* Every output element: 100 * (the sum of the input block) + its own flat
 * index in the output block; the output block has its own shape. */
static int block_summary(void *user, const cask_block *const *in, int nin, cask_block *out,
                         const cask_block_info *info) {
  double s = 0;
  for (int64_t e = 0; e < cask_block_size(in[0]); e++) s += load(cask_block_data(in[0]), cask_block_dtype(in[0]), e);
  for (int64_t e = 0; e < cask_block_size(out); e++) store(cask_block_data(out), cask_block_dtype(out), e, 100 * s + (double)e);
  return CASK_OK;
}

START_TEST(map_blocks_makes_other_dtypes_and_chunks) {
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[2] = {5, 7}, chunks[2] = {2, 3};
  void *data;
  cask_array *a = int_array(ctx, CASK_I32, 2, shape, chunks, 5, &data), *m;
  const int32_t *x = data;
  /* 3 x 3 blocks of 2 x 4 int64: shape (6, 12). */
  cask_map_spec spec = {block_summary, NULL, "summary", 1, CASK_I64, (const int64_t[]){2, 4}};
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_OK);
  ck_assert_int_eq(cask_array_dtype(m), CASK_I64);
  ck_assert(cask_array_shape(m)[0] == 6 && cask_array_shape(m)[1] == 12);
  int64_t *got = compute(ctx, m);
  int bad = 0;
  for (int bi = 0; bi < 3; bi++)
    for (int bj = 0; bj < 3; bj++) {
      int64_t s = 0;
      for (int i = bi * 2; i < bi * 2 + 2 && i < 5; i++)
        for (int j = bj * 3; j < bj * 3 + 3 && j < 7; j++) s += x[i * 7 + j];
      for (int e = 0; e < 8; e++) bad += got[(bi * 2 + e / 4) * 12 + bj * 4 + e % 4] != 100 * s + e;
    }
  ck_assert_msg(bad == 0, "%d elements differ", bad);
  free(got);
  cask_array_release(m);

  /* chunks[i] = 0 keeps the input's blocks along axis i (5 = 2 + 2 + 1),
   * uint8 in, float32 out. */
  spec.dtype = CASK_F32;
  spec.chunks = (const int64_t[]){0, 2};
  cask_array *u;
  void *udata;
  u = int_array(ctx, CASK_U8, 2, shape, chunks, 6, &udata);
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &u, &m), CASK_OK);
  ck_assert(cask_array_shape(m)[0] == 5 && cask_array_shape(m)[1] == 6);
  float *f = compute(ctx, m);
  const uint8_t *ux = udata;
  bad = 0;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 6; j++) {
      int bi = i / 2, bj = j / 2, e = (i % 2) * 2 + j % 2;
      double s = 0;
      for (int r = bi * 2; r < bi * 2 + 2 && r < 5; r++)
        for (int q = bj * 3; q < bj * 3 + 3 && q < 7; q++) s += ux[r * 7 + q];
      bad += f[i * 6 + j] != (float)(100 * s + e);
    }
  ck_assert_msg(bad == 0, "%d elements differ", bad);
  free(f);
  cask_array_release(m);
  cask_array_release(u);
  free(udata);
  cask_array_release(a);
  free(data);
  cask_ctx_free(ctx);
}
END_TEST

/* Fails on block (1, 0) with a message; user: the code to return. */
static int fail_on_block_1_0(void *user, const cask_block *const *in, int nin, cask_block *out,
                             const cask_block_info *info) {
  memset(cask_block_data(out), 0, cask_block_nbytes(out));
  if (info->block_index[0] == 1 && info->block_index[1] == 0) {
    snprintf(info->errmsg, info->errmsg_cap, "refusing block %lld,%lld", (long long)info->block_index[0],
             (long long)info->block_index[1]);
    return *(int *)user;
  }
  return CASK_OK;
}

/* The key of the task of block "-i,j" among a's graph's tasks named prefix. */
static void find_key(cask_array *a, const char *prefix, const char *suffix, char *key, size_t cap) {
  cask_graph *g;
  ck_assert_int_eq(cask_array_graph(a, &g), CASK_OK);
  key[0] = '\0';
  for (size_t i = 0; i < cask_graph_size(g); i++) {
    const char *k = cask_graph_key(g, (cask_task_id)i);
    size_t n = strlen(k), s = strlen(suffix);
    if (!strncmp(k, prefix, strlen(prefix)) && n > s && !strcmp(k + n - s, suffix)) snprintf(key, cap, "%s", k);
  }
  cask_graph_free(g);
  ck_assert_msg(key[0], "no task %s...%s", prefix, suffix);
}

START_TEST(a_failing_kernel_fails_compute_with_its_message_and_task_key) {
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[2] = {6, 6}, chunks[2] = {2, 3};
  void *data;
  cask_array *a = int_array(ctx, CASK_F64, 2, shape, chunks, 2, &data), *in[2] = {a, a}, *m;
  int code = CASK_EINVAL;
  cask_map_spec spec = {fail_on_block_1_0, &code, "failing", 3, CASK_F64, NULL};
  /* Two inputs: the task stays a task of its own (no fused chain). */
  ck_assert_int_eq(cask_map_blocks(&spec, 2, in, &m), CASK_OK);
  char key[512];
  find_key(m, "failing-", "-1,0", key, sizeof key);
  double buf[36];
  ck_assert_int_eq(cask_compute(m, buf, sizeof buf), CASK_EINVAL);
  const char *msg = cask_ctx_errmsg(ctx);
  ck_assert_msg(strstr(msg, "refusing block 1,0") && strstr(msg, key), "message: %s", msg);
  /* A positive return is a task failure. */
  code = 7;
  ck_assert_int_eq(cask_compute(m, buf, sizeof buf), CASK_ETASK);
  msg = cask_ctx_errmsg(ctx);
  ck_assert_msg(strstr(msg, "refusing block 1,0") && strstr(msg, key), "message: %s", msg);
  cask_array_release(m);

  /* One input: the source block and the kernel fuse into one task, whose
   * message still names the kernel's key. */
  code = CASK_EIO;
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_OK);
  find_key(m, "failing-", "-1,0", key, sizeof key);
  ck_assert_int_eq(cask_compute(m, buf, sizeof buf), CASK_EIO);
  msg = cask_ctx_errmsg(ctx);
  ck_assert_msg(strstr(msg, "refusing block 1,0") && strstr(msg, key), "message: %s", msg);
  cask_array_release(m);
  cask_array_release(a);
  free(data);
  cask_ctx_free(ctx);
}
END_TEST

static size_t count_prefix(cask_graph *g, const char *prefix) {
  size_t n = 0;
  for (size_t i = 0; i < cask_graph_size(g); i++) n += !strncmp(cask_graph_key(g, (cask_task_id)i), prefix, strlen(prefix));
  return n;
}

START_TEST(the_same_spec_on_the_same_inputs_shares_its_tasks) {
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[2] = {6, 9}, chunks[2] = {2, 3}; /* 9 blocks */
  cask_array *a, *b, *m1, *m2, *pair;
  ck_assert_int_eq(cask_random_uniform(ctx, 1, CASK_F64, 2, shape, chunks, &a), CASK_OK);
  ck_assert_int_eq(cask_random_uniform(ctx, 2, CASK_F64, 2, shape, chunks, &b), CASK_OK);
  cask_array *ab[2] = {a, b};
  /* Different user pointers: the token says they behave the same. */
  int u1, u2;
  cask_map_spec twin = {sum_inputs, &u1, "twin", 42, CASK_F64, NULL};
  ck_assert_int_eq(cask_map_blocks(&twin, 2, ab, &m1), CASK_OK);
  twin.user = &u2;
  ck_assert_int_eq(cask_map_blocks(&twin, 2, ab, &m2), CASK_OK);
  cask_map_spec pair_spec = {sum_inputs, NULL, "pair", 1, CASK_F64, NULL};
  cask_array *mm[2] = {m1, m2};
  ck_assert_int_eq(cask_map_blocks(&pair_spec, 2, mm, &pair), CASK_OK);
  cask_graph *g;
  ck_assert_int_eq(cask_array_graph(pair, &g), CASK_OK);
  ck_assert_int_eq(count_prefix(g, "twin-"), 9);
  ck_assert_int_eq(count_prefix(g, "pair-"), 9);
  ck_assert_int_eq(cask_graph_size(g), 36); /* a, b, twin, pair */
  cask_graph_free(g);
  /* The graph runs with each twin block as both inputs of its pair task. */
  double *got = compute(ctx, pair), *va = compute(ctx, a), *vb = compute(ctx, b);
  int bad = 0;
  for (int i = 0; i < 54; i++) bad += got[i] != 2 * (va[i] + vb[i]);
  ck_assert_int_eq(bad, 0);
  free(got);
  free(va);
  free(vb);
  cask_array_release(pair);
  cask_array_release(m2);

  /* Another token (or name, dtype, chunks) is another computation. */
  twin.token = 43;
  ck_assert_int_eq(cask_map_blocks(&twin, 2, ab, &m2), CASK_OK);
  mm[1] = m2;
  ck_assert_int_eq(cask_map_blocks(&pair_spec, 2, mm, &pair), CASK_OK);
  ck_assert_int_eq(cask_array_graph(pair, &g), CASK_OK);
  ck_assert_int_eq(count_prefix(g, "twin-"), 18);
  ck_assert_int_eq(cask_graph_size(g), 45);
  cask_graph_free(g);
  cask_array_release(pair);
  cask_array_release(m2);
  cask_array_release(m1);
  cask_array_release(a);
  cask_array_release(b);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(a_graph_with_a_user_kernel_cannot_be_written_as_json) {
  cask_ctx *ctx = new_ctx(1);
  int64_t n = 10, c = 4;
  cask_array *a, *m, *o;
  ck_assert_int_eq(cask_random_uniform(ctx, 1, CASK_F64, 1, &n, &c, &a), CASK_OK);
  cask_map_spec spec = {sum_inputs, NULL, NULL, 1, CASK_F64, NULL};
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_OK);
  ck_assert_int_eq(cask_map_overlap(&spec, a, &(int64_t){1}, CASK_BOUNDARY_NEAREST, 0, &o), CASK_OK);
  cask_array *both[2] = {m, o};
  for (int k = 0; k < 2; k++) {
    cask_graph *g;
    char *json = NULL;
    size_t len;
    ck_assert_int_eq(cask_array_graph(both[k], &g), CASK_OK);
    /* The default names are the functions'. */
    ck_assert_int_eq(count_prefix(g, k ? "map_overlap-" : "map_blocks-"), 3);
    ck_assert_int_eq(cask_graph_to_json(g, &json, &len), CASK_ENOTSERIAL);
    ck_assert_ptr_null(json);
    cask_graph_free(g);
  }
  cask_array_release(m);
  cask_array_release(o);
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(map_blocks_refuses_bad_arguments_with_a_message) {
  cask_ctx *ctx = new_ctx(1);
  int64_t shape[2] = {6, 6}, c33[2] = {3, 3}, s5[1] = {5};
  cask_array *a, *v, *m = (cask_array *)1;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, shape, c33, &a), CASK_OK);
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 1, s5, NULL, &v), CASK_OK);
  cask_map_spec spec = {sum_inputs, NULL, "k", 1, CASK_F64, NULL};
  cask_array *av[2] = {a, v}, *an[2] = {a, NULL};

  spec.token = 0; /* unset: could not tell two kernels apart */
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "spec->token is 0"));
  ck_assert_int_eq(cask_map_overlap(&spec, a, (int64_t[]){1, 1}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  spec.token = 1;

  ck_assert_int_eq(cask_map_blocks(&spec, 0, &a, &m), CASK_EINVAL);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(cask_map_blocks(&spec, 1, NULL, &m), CASK_EINVAL);
  ck_assert_int_eq(cask_map_blocks(NULL, 1, &a, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "spec is NULL"));
  ck_assert_int_eq(cask_map_blocks(&spec, 2, an, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "input 1 is NULL"));

  spec.fn = NULL;
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "spec->fn is NULL"));
  spec.fn = sum_inputs;
  spec.dtype = CASK_DTYPE_COUNT;
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "spec->dtype"));
  spec.dtype = CASK_F64;
  spec.chunks = (const int64_t[]){2, -1};
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "spec->chunks[1]"));
  spec.chunks = NULL;
  char name[200];
  memset(name, 'x', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  spec.name = name;
  ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "spec->name"));
  spec.name = "k";

  ck_assert_int_eq(cask_map_blocks(&spec, 2, av, &m), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "(6, 6)") && strstr(cask_ctx_errmsg(ctx), "(5,)") &&
                    strstr(cask_ctx_errmsg(ctx), "cannot be broadcast"),
                "%s", cask_ctx_errmsg(ctx));
  ck_assert_ptr_null(m);
  cask_array_release(a);
  cask_array_release(v);
  cask_ctx_free(ctx);
}
END_TEST

/* ======================================================================
 * map_overlap
 * ====================================================================== */

/* A weighted sum over the window [x - depth, x + depth] of every element
 * (weights 1, 2, ... in C order over the window): every halo element counts,
 * each with its own weight. With CASK_BOUNDARY_NONE the window is cut where
 * the padded block ends. It checks what map_overlap promises fn sees. */
typedef struct stencil {
  int nd;
  int64_t shape[3], depth[3];
  cask_boundary mode;
} stencil;

static int window_sum(void *user, const cask_block *const *in, int nin, cask_block *out,
                      const cask_block_info *info) {
  const stencil *st = user;
  int nd = st->nd;
  const int64_t *ps = cask_block_shape(in[0]), *os = cask_block_shape(out);
  if (nin != 1 || info->ndim != nd || !info->depth || cask_block_ndim(in[0]) != nd) return CASK_EINVAL;
  for (int i = 0; i < nd; i++) {
    int64_t lo = st->depth[i], hi = st->depth[i], off = info->offset[i];
    if (st->mode == CASK_BOUNDARY_NONE) {
      lo = lo < off ? lo : off;
      hi = hi < st->shape[i] - off - os[i] ? hi : st->shape[i] - off - os[i];
    }
    if (info->depth[i] != lo || ps[i] != lo + os[i] + hi) {
      snprintf(info->errmsg, info->errmsg_cap, "axis %d: depth %lld, padded %lld, block %lld", i,
               (long long)info->depth[i], (long long)ps[i], (long long)os[i]);
      return CASK_EINVAL;
    }
  }
  int64_t wshape[3], idx[3], o[3];
  for (int i = 0; i < nd; i++) wshape[i] = 2 * st->depth[i] + 1;
  int64_t wn = prod(nd, wshape);
  for (int64_t e = 0; e < cask_block_size(out); e++) {
    unflat(e, nd, os, idx);
    double s = 0;
    for (int64_t w = 0; w < wn; w++) {
      unflat(w, nd, wshape, o);
      int64_t f = 0, inside = 1;
      for (int i = 0; i < nd; i++) {
        int64_t p = idx[i] + info->depth[i] + o[i] - st->depth[i];
        inside &= p >= 0 && p < ps[i];
        f = f * ps[i] + p;
      }
      if (inside) s += (double)(w + 1) * load(cask_block_data(in[0]), cask_block_dtype(in[0]), f);
    }
    store(cask_block_data(out), cask_block_dtype(out), e, s);
  }
  return CASK_OK;
}

/* The boundary rules, written differently from map.c: 1 and *k = the index
 * read, 0 for the constant, -1 for nothing (NONE). */
static int ref_index(int64_t j, int64_t n, cask_boundary mode, int64_t *k) {
  if (j >= 0 && j < n) {
    *k = j;
    return 1;
  }
  switch (mode) {
  case CASK_BOUNDARY_CONSTANT: return 0;
  case CASK_BOUNDARY_NONE: return -1;
  case CASK_BOUNDARY_NEAREST: *k = j < 0 ? 0 : n - 1; return 1;
  case CASK_BOUNDARY_PERIODIC: *k = ((j % n) + n) % n; return 1;
  default: { /* NumPy's 'symmetric': the mirror has period 2n */
    int64_t m = ((j % (2 * n)) + 2 * n) % (2 * n);
    *k = m < n ? m : 2 * n - 1 - m;
    return 1;
  }
  }
}

/* window_sum at global index x of the whole array padded by the rule. */
static double ref_window_sum(const stencil *st, const void *data, cask_dtype t, double value,
                             const int64_t *x) {
  int nd = st->nd;
  int64_t wshape[3], o[3];
  for (int i = 0; i < nd; i++) wshape[i] = 2 * st->depth[i] + 1;
  unsigned char c[8];
  store(c, t, 0, value);
  double s = 0, cval = load(c, t, 0); /* the constant in the input's dtype */
  for (int64_t w = 0; w < prod(nd, wshape); w++) {
    unflat(w, nd, wshape, o);
    int64_t f = 0, k;
    int kind = 1;
    for (int i = 0; i < nd; i++) {
      int r = ref_index(x[i] + o[i] - st->depth[i], st->shape[i], st->mode, &k);
      if (r < kind) kind = r;
      f = f * st->shape[i] + (r == 1 ? k : 0);
    }
    if (kind >= 0) s += (double)(w + 1) * (kind ? load(data, t, f) : cval);
  }
  return s;
}

/* map_overlap of window_sum against the loop; returns mismatches. */
static int check_overlap(cask_ctx *ctx, cask_dtype t, cask_dtype out_t, int nd, const int64_t *shape,
                         const int64_t *chunks, const int64_t *depth, cask_boundary mode, double value) {
  stencil st = {nd, {0}, {0}, mode};
  for (int i = 0; i < nd; i++) st.shape[i] = shape[i], st.depth[i] = depth[i];
  void *data;
  cask_array *a = int_array(ctx, t, nd, shape, chunks, 11, &data), *m;
  cask_map_spec spec = {window_sum, &st, "window", 1, out_t, NULL};
  int rc = cask_map_overlap(&spec, a, depth, mode, value, &m);
  ck_assert_msg(rc == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  void *got = compute(ctx, m);
  int bad = 0;
  int64_t x[3];
  for (int64_t e = 0; e < prod(nd, shape); e++) {
    unflat(e, nd, shape, x);
    double want = ref_window_sum(&st, data, t, value, x);
    unsigned char w[8];
    store(w, out_t, 0, want);
    bad += load(got, out_t, e) != load(w, out_t, 0);
  }
  free(got);
  cask_array_release(m);
  cask_array_release(a);
  free(data);
  return bad;
}

static const char *const mode_names[] = {"constant", "nearest", "reflect", "periodic", "none"};

START_TEST(overlap_1d_matches_the_padded_loop_for_every_depth) {
  cask_boundary mode = (cask_boundary)_i;
  cask_ctx *ctx = new_ctx(2);
  /* Partial last blocks (11 = 4+4+3 = 3+3+3+2: a depth of 3 reaches past
   * the last block of 2), and one block as wide as the array. */
  static const int64_t cfg[][2] = {{11, 4}, {11, 3}, {5, 5}, {1, 1}};
  for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++)
    for (int64_t d = 0; d <= cfg[k][1]; d++) {
      int bad = check_overlap(ctx, CASK_F64, CASK_F64, 1, &cfg[k][0], &cfg[k][1], &d, mode, 2.5);
      ck_assert_msg(bad == 0, "%s: n %lld chunk %lld depth %lld: %d elements differ", mode_names[mode],
                    (long long)cfg[k][0], (long long)cfg[k][1], (long long)d, bad);
    }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(overlap_2d_matches_the_padded_loop_for_every_depth) {
  cask_boundary mode = (cask_boundary)_i;
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[2] = {7, 5}, chunks[2] = {3, 2};
  for (int64_t d0 = 0; d0 <= 3; d0++)
    for (int64_t d1 = 0; d1 <= 2; d1++) {
      int64_t depth[2] = {d0, d1};
      int bad = check_overlap(ctx, CASK_F64, CASK_F64, 2, shape, chunks, depth, mode, -1.5);
      ck_assert_msg(bad == 0, "%s: depth (%lld, %lld): %d elements differ", mode_names[mode], (long long)d0,
                    (long long)d1, bad);
    }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(overlap_3d_matches_the_padded_loop) {
  cask_boundary mode = (cask_boundary)_i;
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[3] = {5, 4, 3}, chunks[3] = {2, 3, 2};
  static const int64_t depths[][3] = {{0, 0, 0}, {1, 1, 1}, {2, 3, 2}, {2, 0, 1}, {0, 2, 0}};
  for (size_t k = 0; k < sizeof depths / sizeof depths[0]; k++) {
    int bad = check_overlap(ctx, CASK_F64, CASK_F64, 3, shape, chunks, depths[k], mode, 4);
    ck_assert_msg(bad == 0, "%s: depth (%lld, %lld, %lld): %d elements differ", mode_names[mode],
                  (long long)depths[k][0], (long long)depths[k][1], (long long)depths[k][2], bad);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(overlap_gathers_every_dtype_and_converts_the_constant_to_it) {
  cask_ctx *ctx = new_ctx(2);
  int64_t shape[2] = {6, 5}, chunks[2] = {4, 2}, depth[2] = {2, 1};
  /* 2.7 -> int32 2, 7.9 -> uint8 7, 3 -> bool true, as astype would. */
  static const struct {
    cask_dtype in, out;
    double value;
  } cases[] = {{CASK_I32, CASK_I64, 2.7}, {CASK_U8, CASK_F64, 7.9}, {CASK_F32, CASK_F32, 0.5},
               {CASK_BOOL, CASK_I32, 3}, {CASK_I64, CASK_F64, -2}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    for (int mode = 0; mode <= CASK_BOUNDARY_NONE; mode++) {
      int bad = check_overlap(ctx, cases[k].in, cases[k].out, 2, shape, chunks, depth, (cask_boundary)mode,
                              cases[k].value);
      ck_assert_msg(bad == 0, "%s -> %s, %s: %d elements differ", cask_dtype_name(cases[k].in),
                    cask_dtype_name(cases[k].out), mode_names[mode], bad);
    }
  cask_ctx_free(ctx);
}
END_TEST

/* Dependencies of the tasks named prefix: the most any has, and their sum. */
static void deps_of(cask_graph *g, const char *prefix, size_t *max, size_t *sum) {
  *max = *sum = 0;
  for (size_t i = 0; i < cask_graph_size(g); i++) {
    if (strncmp(cask_graph_key(g, (cask_task_id)i), prefix, strlen(prefix))) continue;
    size_t n;
    cask_graph_deps(g, (cask_task_id)i, &n);
    *max = n > *max ? n : *max;
    *sum += n;
  }
}

START_TEST(overlap_lowers_only_the_neighbours_a_halo_reads) {
  cask_ctx *ctx = new_ctx(1);
  int64_t shape[2] = {9, 9}, chunks[2] = {3, 3};
  cask_array *a, *m;
  ck_assert_int_eq(cask_random_uniform(ctx, 1, CASK_F64, 2, shape, chunks, &a), CASK_OK);
  stencil st = {2, {9, 9}, {1, 0}, CASK_BOUNDARY_CONSTANT};
  cask_map_spec spec = {window_sum, &st, "w", 1, CASK_F64, NULL};
  static const struct {
    int64_t depth[2];
    cask_boundary mode;
    size_t ntasks, max, sum;
  } cases[] = {
      /* Along axis 0 only: edge rows read 2 blocks, the middle row 3. */
      {{1, 0}, CASK_BOUNDARY_CONSTANT, 18, 3, 21},
      {{1, 0}, CASK_BOUNDARY_NONE, 18, 3, 21},
      {{1, 0}, CASK_BOUNDARY_PERIODIC, 18, 3, 27},
      /* Both axes: up to 3 x 3. */
      {{1, 1}, CASK_BOUNDARY_NEAREST, 18, 9, 49},
      {{2, 2}, CASK_BOUNDARY_PERIODIC, 18, 9, 81},
      /* No halo: each task reads its own block only, so the two fuse
       * into one task (with no dependencies). */
      {{0, 0}, CASK_BOUNDARY_REFLECT, 9, 0, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    st.depth[0] = cases[k].depth[0], st.depth[1] = cases[k].depth[1], st.mode = cases[k].mode;
    ck_assert_int_eq(cask_map_overlap(&spec, a, cases[k].depth, cases[k].mode, 0, &m), CASK_OK);
    cask_graph *g;
    size_t max, sum;
    ck_assert_int_eq(cask_array_graph(m, &g), CASK_OK);
    deps_of(g, "w-", &max, &sum);
    ck_assert_msg(cask_graph_size(g) == cases[k].ntasks && max == cases[k].max && sum == cases[k].sum,
                  "case %zu: %zu tasks, at most %zu and in all %zu dependencies", k, cask_graph_size(g), max,
                  sum);
    cask_graph_free(g);
    cask_array_release(m);
  }
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(map_overlap_refuses_bad_arguments_with_a_message) {
  cask_ctx *ctx = new_ctx(1);
  int64_t shape[2] = {6, 7}, chunks[2] = {3, 2};
  cask_array *a, *m = (cask_array *)1;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, shape, chunks, &a), CASK_OK);
  stencil st = {2, {6, 7}, {1, 1}, CASK_BOUNDARY_CONSTANT};
  cask_map_spec spec = {window_sum, &st, "w", 1, CASK_F64, NULL};
  const char *msg = cask_ctx_errmsg(ctx);

  ck_assert_int_eq(cask_map_overlap(&spec, a, (const int64_t[]){1, 3}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  ck_assert_ptr_null(m);
  ck_assert_msg(strstr(msg, "depth 3 on axis 1") && strstr(msg, "[0, 2]") && strstr(msg, "(3, 2)"), "%s", msg);
  ck_assert_int_eq(cask_map_overlap(&spec, a, (const int64_t[]){-1, 0}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(msg, "depth -1 on axis 0"));
  ck_assert_int_eq(cask_map_overlap(&spec, a, NULL, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(msg, "depth is NULL"));
  ck_assert_int_eq(cask_map_overlap(&spec, a, (const int64_t[]){1, 1}, (cask_boundary)9, 0, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(msg, "boundary 9"));
  spec.chunks = (const int64_t[]){3, 3};
  ck_assert_int_eq(cask_map_overlap(&spec, a, (const int64_t[]){1, 1}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(msg, "spec->chunks[1]"));
  spec.chunks = (const int64_t[]){0, 2}; /* the input's: accepted */
  ck_assert_int_eq(cask_map_overlap(&spec, a, (const int64_t[]){1, 1}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_OK);
  cask_array_release(m);
  spec.chunks = NULL;
  spec.fn = NULL;
  ck_assert_int_eq(cask_map_overlap(&spec, a, (const int64_t[]){1, 1}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(msg, "spec->fn is NULL"));
  spec.fn = window_sum;
  spec.dtype = (cask_dtype)-1;
  ck_assert_int_eq(cask_map_overlap(&spec, a, (const int64_t[]){1, 1}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(msg, "spec->dtype"));
  ck_assert_int_eq(cask_map_overlap(&spec, NULL, (const int64_t[]){1, 1}, CASK_BOUNDARY_NEAREST, 0, &m), CASK_EINVAL);
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

/* ======================================================================
 * threads
 * ====================================================================== */

START_TEST(results_are_identical_for_1_2_and_8_threads) {
  int64_t shape[2] = {40, 30}, chunks[2] = {7, 6}, depth[2] = {2, 3}, row[1] = {30}, rc1[1] = {6};
  void *first[2] = {NULL, NULL};
  size_t nbytes = 40 * 30 * sizeof(double);
  stencil st = {2, {40, 30}, {2, 3}, CASK_BOUNDARY_PERIODIC};
  for (int t = 0; t < 3; t++) {
    cask_ctx *ctx = new_ctx((int[]){1, 2, 8}[t]);
    cask_array *a, *r, *o, *m;
    ck_assert_int_eq(cask_random_normal(ctx, 5, CASK_F64, 2, shape, chunks, &a), CASK_OK);
    ck_assert_int_eq(cask_random_uniform(ctx, 6, CASK_F64, 1, row, rc1, &r), CASK_OK);
    cask_map_spec ov = {window_sum, &st, "window", 1, CASK_F64, NULL};
    ck_assert_int_eq(cask_map_overlap(&ov, a, depth, CASK_BOUNDARY_PERIODIC, 0, &o), CASK_OK);
    cask_map_spec sum = {sum_inputs, NULL, "sum", 1, CASK_F64, NULL};
    cask_array *in[3] = {o, r, a};
    ck_assert_int_eq(cask_map_blocks(&sum, 3, in, &m), CASK_OK);
    void *got[2] = {compute(ctx, o), compute(ctx, m)};
    for (int k = 0; k < 2; k++) {
      if (!first[k]) {
        first[k] = got[k];
        continue;
      }
      ck_assert_msg(!memcmp(first[k], got[k], nbytes), "result %d differs with %d threads", k, (int[]){1, 2, 8}[t]);
      free(got[k]);
    }
    cask_array_release(m);
    cask_array_release(o);
    cask_array_release(r);
    cask_array_release(a);
    cask_ctx_free(ctx);
  }
  free(first[0]);
  free(first[1]);
}
END_TEST

/* Ops whose arguments hold addresses (a kernel's function pointer, a
 * caller's buffer, an fd) are refused by the JSON reader and by the public
 * add: bytes from outside would be followed as pointers. */
START_TEST(ops_holding_addresses_cannot_be_added_or_read_from_json) {
  cask_ctx *ctx = new_ctx(1); /* registers the array ops */
  static const char *const names[] = {"array.map_blocks", "array.map_overlap", "array.buffer",
                                      "array.kernel_into", "array.matmul_product_view", "array.npy_write"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char text[512], *err = NULL;
    snprintf(text, sizeof text,
             "{\"cask_graph\": 1, \"ntasks\": 1, \"tasks\": [{\"key\": \"t\", \"op\": \"%s\", "
             "\"args\": {\"args_hex\": \"4141414141414141\"}}]}",
             names[i]);
    cask_graph *g = NULL;
    ck_assert_int_eq(cask_graph_from_json(text, strlen(text), &g, &err), CASK_EJSON);
    ck_assert_msg(err && strstr(err, names[i]) && strstr(err, "addresses"), "%s: %s", names[i], err ? err : "");
    cask_free(err);
    ck_assert_ptr_null(g);
    ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
    uint64_t junk = 0x4141414141414141ULL;
    ck_assert_int_eq(cask_graph_add(g, "t", cask_op_find(names[i]), &junk, sizeof junk, NULL, 0, NULL), CASK_EINVAL);
    cask_graph_free(g);
  }
  cask_ctx_free(ctx);
}
END_TEST

/* ---- keys never shared by different computations ------------------------ */

typedef struct affine {
  double a, b;
} affine;

/* out = a*x + b (sq = 0) or a*x*x + b (sq = 1), user an affine */
static int affine_run(const affine *p, int sq, const cask_block *const *in, cask_block *out) {
  const double *x = cask_block_data(in[0]);
  double *o = cask_block_data(out);
  for (int64_t i = 0; i < cask_block_size(out); i++) o[i] = p->a * (sq ? x[i] * x[i] : x[i]) + p->b;
  return 0;
}
static int affine_lin(void *user, const cask_block *const *in, int nin, cask_block *out,
                      const cask_block_info *info) {
  return affine_run(user, 0, in, out);
}
static int affine_sq(void *user, const cask_block *const *in, int nin, cask_block *out,
                     const cask_block_info *info) {
  return affine_run(user, 1, in, out);
}

/* With x = ones(4) and no names, map_blocks(plus1, x) + map_blocks(times10,
 * x) was 4: the two kernels had one key and were computed once. */
START_TEST(regress_map_blocks_merges_different_kernels) {
  cask_ctx *ctx = new_ctx(2);
  int64_t n = 4;
  cask_array *x, *p, *t, *sum;
  ck_assert_int_eq(cask_ones(ctx, CASK_F64, 1, &n, NULL, &x), CASK_OK);
  affine plus1 = {1, 1}, times10 = {10, 0};
  /* different fn */
  cask_map_spec sp = {affine_lin, &plus1, NULL, 1, CASK_F64, NULL}, st = {affine_sq, &plus1, NULL, 1, CASK_F64, NULL};
  ck_assert_int_eq(cask_map_blocks(&sp, 1, &x, &p), CASK_OK);
  ck_assert_int_eq(cask_map_blocks(&st, 1, &x, &t), CASK_OK);
  ck_assert_int_eq(cask_binary(CASK_ADD, p, t, &sum), CASK_OK);
  double out[4];
  ck_assert_int_eq(cask_compute(sum, out, sizeof out), CASK_OK);
  for (int i = 0; i < 4; i++) ck_assert_double_eq(out[i], 4.0); /* (1+1) + (1*1+1) */
  cask_array_release(t);
  cask_array_release(sum);
  /* same fn, different user */
  st = (cask_map_spec){affine_lin, &times10, NULL, 1, CASK_F64, NULL};
  ck_assert_int_eq(cask_map_blocks(&st, 1, &x, &t), CASK_OK);
  ck_assert_int_eq(cask_binary(CASK_ADD, p, t, &sum), CASK_OK);
  ck_assert_int_eq(cask_compute(sum, out, sizeof out), CASK_OK);
  for (int i = 0; i < 4; i++) ck_assert_double_eq(out[i], 12.0);
  cask_array_release(p);
  cask_array_release(t);
  cask_array_release(sum);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

#define PN 16 /* every tree of the property test is a vector of PN values */

typedef struct ptree {
  cask_ctx *ctx;
  uint64_t s;
  affine pool[6]; /* 0 and 3, 1 and 4, 2 and 5 are equal in content */
} ptree;

static uint64_t prand(ptree *t, uint64_t n) { return mix64(++t->s) % n; }

/* A random expression tree over map_blocks (named and unnamed, two kernels,
 * users equal in content at different addresses), sums over a stack,
 * reversing slices and sources; its value by plain loops in ref. */
static cask_array *ptree_gen(ptree *t, int depth, double *ref) {
  cask_array *r = NULL, *a, *b;
  int64_t n = PN, c = 1 + (int64_t)prand(t, 8);
  uint64_t kind = depth ? prand(t, 6) : 5;
  double ra[PN], rb[PN];
  if (kind == 0 || kind == 1) { /* map_blocks */
    int sq = (int)prand(t, 2), u = (int)prand(t, 6), named = kind == 1;
    const affine *p = &t->pool[u];
    /* a named spec's token says what it computes: kernel and user's content */
    cask_map_spec spec = {sq ? affine_sq : affine_lin, &t->pool[u], named ? "aff" : NULL,
                          named ? 1 + (uint64_t)(sq * 10 + u % 3) : 1 + prand(t, 2), CASK_F64, NULL};
    a = ptree_gen(t, depth - 1, ra);
    ck_assert_int_eq(cask_map_blocks(&spec, 1, &a, &r), CASK_OK);
    for (int i = 0; i < PN; i++) ref[i] = p->a * (sq ? ra[i] * ra[i] : ra[i]) + p->b;
    cask_array_release(a);
  } else if (kind == 2) { /* binary */
    cask_binop op = prand(t, 2) ? CASK_ADD : CASK_MUL;
    a = ptree_gen(t, depth - 1, ra);
    b = ptree_gen(t, depth - 1, rb);
    ck_assert_int_eq(cask_binary(op, a, b, &r), CASK_OK);
    for (int i = 0; i < PN; i++) ref[i] = op == CASK_ADD ? ra[i] + rb[i] : ra[i] * rb[i];
    cask_array_release(a);
    cask_array_release(b);
  } else if (kind == 3) { /* sum(stack([a, b]), axis=0) */
    cask_array *st;
    a = ptree_gen(t, depth - 1, ra);
    b = ptree_gen(t, depth - 1, rb);
    ck_assert_int_eq(cask_stack(2, (cask_array *[]){a, b}, 0, &st), CASK_OK);
    ck_assert_int_eq(cask_reduce(CASK_SUM, st, (int[]){0}, 1, 0, &r), CASK_OK);
    for (int i = 0; i < PN; i++) ref[i] = ra[i] + rb[i];
    cask_array_release(st);
    cask_array_release(a);
    cask_array_release(b);
  } else if (kind == 4) { /* a[::-1] */
    a = ptree_gen(t, depth - 1, ra);
    ck_assert_int_eq(cask_slice(a, 1, &CASK_SLICE(CASK_NONE, CASK_NONE, -1), &r), CASK_OK);
    for (int i = 0; i < PN; i++) ref[i] = ra[PN - 1 - i];
    cask_array_release(a);
  } else { /* a source: arange(k, k + PN) or full(v) */
    int k = (int)prand(t, 4);
    if (prand(t, 2)) {
      ck_assert_int_eq(cask_arange(t->ctx, CASK_F64, k, k + PN, 1, c, &r), CASK_OK);
      for (int i = 0; i < PN; i++) ref[i] = k + i;
    } else {
      ck_assert_int_eq(cask_full(t->ctx, CASK_F64, 0.5 * k, 1, &n, &c, &r), CASK_OK);
      for (int i = 0; i < PN; i++) ref[i] = 0.5 * k;
    }
  }
  return r;
}

/* Many random trees summed in one graph: a key shared by two different
 * computations makes one of them compute the other's value. */
START_TEST(random_expression_trees_never_share_keys_between_computations) {
  ptree t = {new_ctx(2), 1000 * (uint64_t)_i, {{0.5, 1}, {1.5, -1}, {1, 0.25}, {0.5, 1}, {1.5, -1}, {1, 0.25}}};
  for (int round = 0; round < 20; round++) {
    double total[PN] = {0}, one[PN];
    cask_array *sum = NULL;
    for (int k = 0; k < 6; k++) {
      cask_array *tr = ptree_gen(&t, 4, one), *next;
      for (int i = 0; i < PN; i++) total[i] += one[i];
      if (!sum) {
        sum = tr;
        continue;
      }
      ck_assert_int_eq(cask_binary(CASK_ADD, sum, tr, &next), CASK_OK);
      cask_array_release(sum);
      cask_array_release(tr);
      sum = next;
    }
    double out[PN];
    ck_assert_int_eq(cask_compute(sum, out, sizeof out), CASK_OK);
    for (int i = 0; i < PN; i++)
      require(fabs(out[i] - total[i]) <= 1e-9 * (1 + fabs(total[i])), "round %d, element %d: %.17g, want %.17g",
              round, i, out[i], total[i]);
    cask_array_release(sum);
  }
  cask_ctx_free(t.ctx);
}
END_TEST

/* ---- arrays and a user's task graph (from_tasks, graph_add_array) ------ */

/* A user's op: a float64 block of rows x 3 whose values are base + index. */
typedef struct rows_args {
  int64_t rows;
  double base;
} rows_args;

static int make_rows(cask_task_io *io) {
  rows_args a;
  memcpy(&a, io->args, sizeof a);
  int64_t shape[2] = {a.rows, 3};
  int rc = cask_block_new(CASK_F64, 2, shape, &io->output);
  if (rc) return rc;
  double *p = cask_block_data(io->output);
  for (int64_t i = 0; i < a.rows * 3; i++) p[i] = a.base + (double)i;
  return CASK_OK;
}

/* Sums its inputs' values (any number of blocks): the user's task over an
 * array's blocks. */
static int sum_all(cask_task_io *io) {
  double s = 0;
  for (size_t k = 0; k < io->ninputs; k++) {
    const double *p = cask_block_data(io->inputs[k]);
    for (int64_t i = 0; i < cask_block_size(io->inputs[k]); i++) s += p[i];
  }
  int rc = cask_block_new(CASK_F64, 0, NULL, &io->output);
  if (!rc) *(double *)cask_block_data(io->output) = s;
  return rc;
}

static const cask_op *user_op(const char *name, int (*run)(cask_task_io *), size_t args_size) {
  const cask_op *op = cask_op_find(name);
  if (!op) ck_assert_int_eq(cask_op_register(&(cask_op){.name = name, .run = run, .args_size = args_size}, &op), CASK_OK);
  return op;
}

START_TEST(arrays_from_a_users_tasks_and_a_users_tasks_over_arrays) {
  cask_ctx *ctx = new_ctx(2);
  const cask_op *rows = user_op("maptest.rows", make_rows, sizeof(rows_args));
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id ids[3];
  for (int k = 0; k < 3; k++) { /* blocks of 4, 4 and 2 rows */
    rows_args a = {k < 2 ? 4 : 2, 100.0 * k};
    char key[16];
    snprintf(key, sizeof key, "load-%d", k);
    ck_assert_int_eq(cask_graph_add(g, key, rows, &a, sizeof a, NULL, 0, &ids[k]), CASK_OK);
  }
  cask_array *x, *y;
  ck_assert_int_eq(cask_from_tasks(ctx, g, ids, CASK_F64, 2, (int64_t[]){10, 3}, (int64_t[]){4, 3}, &x), CASK_OK);
  cask_graph_free(g); /* the array has its own copy */
  const char *names[] = {"x"};
  ck_assert_int_eq(cask_eval(ctx, "x * 2 + 1", names, &x, 1, &y), CASK_OK);
  double got[30], want[30];
  ck_assert_int_eq(cask_compute(y, got, sizeof got), CASK_OK);
  for (int r = 0; r < 10; r++)
    for (int c = 0; c < 3; c++) {
      int k = r / 4, i = (r % 4) * 3 + c;
      want[r * 3 + c] = (100.0 * k + i) * 2 + 1;
    }
  ck_assert(!memcmp(got, want, sizeof got));

  /* the other way: y's blocks as inputs of a user's task, in one graph */
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id blocks[3], total;
  ck_assert_int_eq(cask_graph_add_array(g, y, blocks, 3), CASK_OK);
  ck_assert_int_eq(cask_graph_add(g, "total", user_op("maptest.sum_all", sum_all, 0), NULL, 0, blocks, 3, &total),
                   CASK_OK);
  cask_graph_set_output(g, total, 1);
  cask_results *res;
  ck_assert_int_eq(cask_run(cask_ctx_runtime(ctx), g, NULL, &res), CASK_OK);
  double s = 0;
  for (int i = 0; i < 30; i++) s += want[i];
  ck_assert(*(const double *)cask_block_data(cask_results_get(res, total)) == s);
  cask_results_free(res);
  ck_assert_int_eq(cask_graph_add_array(g, y, blocks, 2), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "has 3 blocks"), "%s", cask_ctx_errmsg(ctx));
  cask_graph_free(g);
  cask_array_release(y);
  cask_array_release(x);

  /* a task that makes another shape than declared fails the run, naming it */
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  rows_args a = {5, 0};
  ck_assert_int_eq(cask_graph_add(g, "wrong", rows, &a, sizeof a, NULL, 0, &ids[0]), CASK_OK);
  ck_assert_int_eq(cask_from_tasks(ctx, g, ids, CASK_F64, 2, (int64_t[]){4, 3}, (int64_t[]){4, 3}, &x), CASK_OK);
  ck_assert_int_eq(cask_compute(x, got, 12 * sizeof(double)), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "(5, 3)") && strstr(cask_ctx_errmsg(ctx), "(4, 3)"), "%s",
                cask_ctx_errmsg(ctx));
  cask_array_release(x);
  ck_assert_int_eq(cask_from_tasks(ctx, g, (cask_task_id[]){7}, CASK_F64, 1, (int64_t[]){3}, (int64_t[]){3}, &x),
                   CASK_EINVAL);
  cask_graph_free(g);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_map_suite(void) {
  Suite *s = suite_create("array_map");
  TCase *tc = tcase_create("map_blocks");
  tcase_add_test(tc, map_blocks_of_one_input_sees_each_block_and_its_offset);
  tcase_add_test(tc, ops_holding_addresses_cannot_be_added_or_read_from_json);
  tcase_add_test(tc, regress_map_blocks_merges_different_kernels);
  tcase_add_test(tc, arrays_from_a_users_tasks_and_a_users_tasks_over_arrays);
  tcase_add_loop_test(tc, random_expression_trees_never_share_keys_between_computations, 0, 8);
  tcase_add_test(tc, map_blocks_broadcasts_and_rechunks_its_inputs_to_the_first_ones_grid);
  tcase_add_test(tc, map_blocks_accepts_the_same_array_twice);
  tcase_add_test(tc, map_blocks_makes_other_dtypes_and_chunks);
  tcase_add_test(tc, a_failing_kernel_fails_compute_with_its_message_and_task_key);
  tcase_add_test(tc, the_same_spec_on_the_same_inputs_shares_its_tasks);
  tcase_add_test(tc, a_graph_with_a_user_kernel_cannot_be_written_as_json);
  tcase_add_test(tc, map_blocks_refuses_bad_arguments_with_a_message);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("map_overlap");
  tcase_add_loop_test(tc, overlap_1d_matches_the_padded_loop_for_every_depth, 0, CASK_BOUNDARY_NONE + 1);
  tcase_add_loop_test(tc, overlap_2d_matches_the_padded_loop_for_every_depth, 0, CASK_BOUNDARY_NONE + 1);
  tcase_add_loop_test(tc, overlap_3d_matches_the_padded_loop, 0, CASK_BOUNDARY_NONE + 1);
  tcase_add_test(tc, overlap_gathers_every_dtype_and_converts_the_constant_to_it);
  tcase_add_test(tc, overlap_lowers_only_the_neighbours_a_halo_reads);
  tcase_add_test(tc, map_overlap_refuses_bad_arguments_with_a_message);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("threads");
  tcase_add_test(tc, results_are_identical_for_1_2_and_8_threads);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
