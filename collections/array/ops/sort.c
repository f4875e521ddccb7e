/* sort.c - sort, argsort and the exact order statistics (quantiles,
 * medians) as nodes of two classes and one op, array.sort.
 *
 * "sortlane": the axis is one chunk, so each block holds whole lanes (the
 * 1-d fibres along the axis): one task per block sorts every lane (or
 * takes its quantiles). An n-d array whose axis spans several chunks is
 * rechunked to one chunk along the axis first (a task then holds a whole
 * lane group: the other axes' chunk times the axis).
 *
 * "sortpipe": a 1-d array of B > 1 blocks (the flattened array for
 * axis=None), sorted (quantiles: see "selection" below) without any task
 * holding more than a few blocks, so
 * an array larger than the memory limit sorts (the memory manager spills
 * the runs and pieces between the steps):
 *   run k      block k sorted on its own, as keys (sortkey.h), with the
 *              global indices for argsort;
 *   sample k   every s-th key of run k, its length and its count of NaNs;
 *   bracket    all samples merged: for each rank r wanted (the first
 *              index of every output block; or the ranks a quantile
 *              needs) two sample elements lo <= element r <= hi, which
 *              regular sampling guarantees with at most 2(B+1)s elements
 *              between them;
 *   cand k     run k's elements in [lo, hi], and how many lie below lo;
 *   table      the candidates of every run merged: for each rank, how many
 *              elements of each run come before it (the exact split) and
 *              the key at the rank;
 *   piece k,j  the part of run k that falls in output block j (it also
 *              depends on piece k,j+1: the order then cuts a run into all
 *              its pieces at once);
 *   merge j    the pieces of block j merged (a tree of stable pairwise
 *              merges, in run order) and decoded: output block j;
 * Quantiles and medians of such an array take no sort: the keys at their
 * ranks are found digit by digit by counting passes (hist, narrow: see
 * "selection" below), then select computes them.
 * Elements are ordered by (key, run, position), i.e. by (value, index):
 * the sort is stable, ties keep their order, and every step is fixed by
 * the graph, so results are the same bits for any thread count. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../../core/internal.h"
#include "../core/dtype.h"
#include "ops.h"
#include "sort-int.h"
#include "sortkey.h"

enum {
  STEP_LANE, STEP_RUN, STEP_SAMPLE, STEP_BRACKET, STEP_CAND, STEP_TABLE, STEP_PIECE, STEP_MERGE, STEP_SELECT,
  STEP_HIST, STEP_HSUM, STEP_NARROW
};
#define HSUM_FANIN 8 /* hists summed in a tree: narrow holds one, whatever the blocks */

typedef struct sort_args {
  int32_t step, mode, dtype, axis; /* dtype: the input's */
  int32_t flags, nq;
  int64_t k;      /* RUN, CAND, PIECE: the run; PIECE, MERGE: j the output block */
  int64_t j;
  int64_t nruns;  /* B */
  int64_t chunk;  /* the input's chunk */
  int64_t n;      /* the input's length */
  int64_t s;      /* the sample stride */
  double q[];     /* LANE, NARROW, SELECT: nq quantiles in [0, 1] */
} sort_args;

static const cask_op *op_sort;

#define POS_INF (-2) /* a bracket bound above every element */
#define NEG_INF (-1) /* below every element */

static int is_arg(int mode) { return mode == CASK__SORT_ARGSORT; }
static int canon(int mode) { return mode != CASK__SORT_SORT; } /* -0.0 == 0.0 but for sort's values */

/* ---- quantile arithmetic, as NumPy 1.24's _quantile and _median -------- */

/* NumPy's _lerp(a, b, t) on the values of keys ka <= kb: b - a in the
 * dtype (integers exactly, wrapping as NumPy's subtract), then times t in
 * float64 (in float32 for float32 data and one q: NumPy's value-based
 * casting keeps float32 there). */
static double lerp(cask_dtype t, int f32, uint64_t ka, uint64_t kb, double g) {
  double a = cask__key_to_f64(t, ka), b = cask__key_to_f64(t, kb), d;
  if (f32) {
    float fa = (float)a, fb = (float)b, fd = fb - fa;
    return g >= 0.5 ? (double)(fb - fd * (float)(1 - g)) : (double)(fa + fd * (float)g);
  }
  if (t == CASK_F32) d = (double)((float)b - (float)a); /* subtract of float32 arrays: float32 */
  else if (t == CASK_I64) d = (double)(int64_t)(kb - ka); /* the sign bits of the keys cancel */
  else if (t == CASK_I32) d = (double)(int32_t)(uint32_t)(kb - ka);
  else if (t == CASK_U8) d = (double)(uint8_t)(kb - ka);
  else d = b - a;
  return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

/* NumPy's _get_indexes for the linear method: the ranks below and above
 * q's virtual index among c values, and gamma (with NumPy's -1 for "the
 * last" kept in gamma as NumPy keeps it). */
static void q_ranks(double q, int64_t c, int64_t *prev, int64_t *next, double *gamma) {
  double vi = (double)(c - 1) * q, p = floor(vi);
  int64_t ip = (int64_t)p, in = ip + 1;
  if (vi >= (double)(c - 1)) ip = in = -1;
  if (vi < 0) ip = in = 0;
  *gamma = vi - (double)ip;
  *prev = ip < 0 ? c - 1 : ip;
  *next = in < 0 ? c - 1 : in;
}

/* The two ranks each quantile (or the median) needs, in out[2 * nq]. */
static void wanted_ranks(const sort_args *a, int64_t c, int64_t *out) {
  int nr = 2;
  if (a->mode == CASK__SORT_MEDIAN) {
    out[0] = c % 2 ? (c - 1) / 2 : c / 2 - 1;
    out[1] = c / 2;
  } else {
    double g;
    for (int i = 0; i < a->nq; i++) q_ranks(a->q[i], c, &out[2 * i], &out[2 * i + 1], &g);
    nr = 2 * a->nq;
  }
  for (int i = 0; i < nr; i++) /* no value counts (all NaN): rank 0, not read */
    if (out[i] < 0) out[i] = 0;
}

/* Result i from the keys at its two ranks, the count c of values that
 * count, and whether the lane has a NaN. */
static double result(const sort_args *a, int i, int64_t c, uint64_t ka, uint64_t kb, int has_nan) {
  cask_dtype t = (cask_dtype)a->dtype;
  if (c == 0 || (has_nan && !(a->flags & CASK__SORT_NAN))) return NAN;
  double va = cask__key_to_f64(t, ka), vb = cask__key_to_f64(t, kb);
  if (a->mode == CASK__SORT_MEDIAN) {
    if (c % 2) return t == CASK_F32 ? (double)(float)va : va;
    return t == CASK_F32 ? (double)(((float)va + (float)vb) / 2.0f) : (va + vb) / 2.0;
  }
  int64_t p, n;
  double g;
  q_ranks(a->q[i], c, &p, &n, &g);
  return lerp(t, t == CASK_F32 && (a->flags & CASK__SORT_F32), ka, kb, g);
}

static int nresults(const sort_args *a) { return a->mode == CASK__SORT_MEDIAN ? 1 : a->nq; }

static void put_result(void *dst, cask_dtype out_t, int64_t at, double v) {
  if (out_t == CASK_F32) ((float *)dst)[at] = (float)v;
  else ((double *)dst)[at] = v;
}

/* ---- lanes: the axis is one chunk ---------------------------------------- */

static void split(const int64_t *s, int nd, int ax, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < ax; i++) *outer *= s[i];
  for (int i = ax + 1; i < nd; i++) *inner *= s[i];
  *n = nd ? s[ax] : 1;
}

static cask_dtype result_dtype(int mode, int flags, cask_dtype t) {
  if (mode == CASK__SORT_ARGSORT) return CASK_I64;
  if (mode == CASK__SORT_QUANTILE) return t == CASK_F32 && (flags & CASK__SORT_F32) ? CASK_F32 : CASK_F64;
  if (mode == CASK__SORT_MEDIAN) return t == CASK_F32 ? CASK_F32 : CASK_F64;
  return t;
}

static int lane_run(cask_task_io *io, const sort_args *a) {
  cask_block *in = io->inputs[0];
  cask_dtype t = cask_block_dtype(in), rt = result_dtype(a->mode, a->flags, t);
  int nd = cask_block_ndim(in);
  const int64_t *s = cask_block_shape(in);
  int64_t outer, n, inner, os[CASK_MAX_NDIM + 1];
  split(s, nd, a->axis, &outer, &n, &inner);
  int ond = nd;
  if (a->mode == CASK__SORT_QUANTILE || a->mode == CASK__SORT_MEDIAN) { /* (nq,) + shape without the axis */
    ond = 0;
    if (a->mode == CASK__SORT_QUANTILE && !(a->flags & CASK__SORT_QSCALAR)) os[ond++] = a->nq;
    for (int i = 0; i < nd; i++)
      if (i != a->axis) os[ond++] = s[i];
  } else {
    memcpy(os, s, (size_t)nd * sizeof os[0]);
  }
  int64_t top = a->k < 0 ? -a->k : a->k, m = top < n ? top : n; /* TOPK: the lanes' length */
  if (a->mode == CASK__SORT_TOPK) os[a->axis] = m;
  int rc = cask_block_new(rt, ond, os, &io->output);
  if (rc) return rc;
  uint64_t *keys = cask__malloc_big((size_t)(n ? n : 1) * sizeof *keys);
  int64_t *idx = is_arg(a->mode) ? cask__malloc_big((size_t)(n ? n : 1) * sizeof *idx) : NULL;
  if (!keys || (is_arg(a->mode) && !idx)) {
    cask__free(keys);
    cask__free(idx);
    return CASK_ENOMEM;
  }
  size_t w = cask_dtype_size(t);
  const char *src = cask_block_data(in);
  void *dst = cask_block_data(io->output);
  uint64_t nan = cask__nan_key(t);
  for (int64_t o = 0; o < outer && !rc; o++)
    for (int64_t i = 0; i < inner && !rc; i++) {
      int64_t first = o * n * inner + i;
      cask__keys_encode(keys, src + (size_t)first * w, t, n, inner, canon(a->mode));
      if (idx)
        for (int64_t k = 0; k < n; k++) idx[k] = k;
      rc = cask__radix_sort(keys, idx, n, cask__key_bytes(t));
      if (rc) break;
      if (a->mode == CASK__SORT_SORT) {
        cask__keys_decode((char *)dst + (size_t)first * w, t, keys, n, inner);
      } else if (a->mode == CASK__SORT_TOPK) { /* the largest first, or the smallest */
        if (a->k > 0) /* reversed whole: the m largest come first, largest first */
          for (int64_t q = 0; q < n / 2; q++) {
            uint64_t tk = keys[q];
            keys[q] = keys[n - 1 - q];
            keys[n - 1 - q] = tk;
          }
        cask__keys_decode((char *)dst + (size_t)(o * m * inner + i) * w, t, keys, m, inner);
      } else if (idx) {
        for (int64_t k = 0; k < n; k++) ((int64_t *)dst)[first + k * inner] = idx[k];
      } else {
        int64_t valid = cask__lower_bound(keys, n, nan), c = a->flags & CASK__SORT_NAN ? valid : n;
        int64_t r[2 * CASK__MAX_Q];
        wanted_ranks(a, c, r);
        for (int q = 0; q < nresults(a); q++) {
          uint64_t ka = c ? keys[r[2 * q]] : 0, kb = c ? keys[r[2 * q + 1]] : 0;
          put_result(dst, rt, q * outer * inner + o * inner + i, result(a, q, c, ka, kb, valid < n));
        }
      }
    }
  cask__free(keys);
  cask__free(idx);
  return rc;
}

/* ---- the pipeline: a 1-d array of B blocks -------------------------------- */

static int new_i64(int64_t n, cask_block **out) { return cask_block_new(CASK_I64, 1, &n, out); }

static int run_run(cask_task_io *io, const sort_args *a) {
  cask_block *in = io->inputs[0];
  cask_dtype t = cask_block_dtype(in);
  int64_t m = cask_block_size(in), arg = is_arg(a->mode);
  int rc = new_i64(arg ? 2 * m : m, &io->output);
  if (rc) return rc;
  uint64_t *keys = cask_block_data(io->output);
  int64_t *idx = arg ? (int64_t *)keys + m : NULL;
  cask__keys_encode(keys, cask_block_data(in), t, m, 1, canon(a->mode));
  for (int64_t i = 0; idx && i < m; i++) idx[i] = a->k * a->chunk + i;
  return cask__radix_sort(keys, idx, m, cask__key_bytes(t));
}

static int64_t run_len(const sort_args *a, const cask_block *run) {
  return is_arg(a->mode) ? cask_block_size(run) / 2 : cask_block_size(run);
}

/* [m, valid, ns, keys at 0, s, 2s, ...] */
static int sample_run(cask_task_io *io, const sort_args *a) {
  const uint64_t *keys = cask_block_data(io->inputs[0]);
  int64_t m = run_len(a, io->inputs[0]), ns = (m + a->s - 1) / a->s;
  int rc = new_i64(3 + ns, &io->output);
  if (rc) return rc;
  int64_t *o = cask_block_data(io->output);
  o[0] = m;
  o[1] = cask__lower_bound(keys, m, cask__nan_key((cask_dtype)a->dtype));
  o[2] = ns;
  for (int64_t q = 0; q < ns; q++) o[3 + q] = (int64_t)keys[q * a->s];
  return CASK_OK;
}

/* The ranks the output needs: block starts (sort, argsort: the merge) or
 * quantile ranks (the selection). */
static int64_t nranks(const sort_args *a) {
  return a->mode == CASK__SORT_SORT || is_arg(a->mode) ? a->nruns - 1 : 2 * nresults(a);
}

/* The bracket block: [n, valid, R, ranks[R], then lo key, lo run, lo pos,
 * hi key, hi run, hi pos, each R long]. */
enum { BR_LOKEY, BR_LORUN, BR_LOPOS, BR_HIKEY, BR_HIRUN, BR_HIPOS };
static int64_t *br_field(int64_t *b, int f) { return b + 3 + b[2] * (1 + f); }

static int bracket_run(cask_task_io *io, const sort_args *a) {
  int64_t B = (int64_t)io->ninputs, S = 0, n = 0, valid = 0, R = nranks(a);
  for (int64_t k = 0; k < B; k++) {
    const int64_t *s = cask_block_data(io->inputs[k]);
    n += s[0];
    valid += s[1];
    S += s[2];
  }
  int rc = new_i64(3 + 7 * R, &io->output);
  if (rc) return rc;
  uint64_t *keys = cask__malloc_big((size_t)(S ? S : 1) * sizeof *keys);
  int64_t *tag = cask__malloc_big((size_t)(S ? S : 1) * sizeof *tag);
  if (!keys || !tag) {
    rc = CASK_ENOMEM;
    goto done;
  }
  int64_t at = 0;
  for (int64_t k = 0; k < B; k++) { /* run order, then position: stable */
    const int64_t *s = cask_block_data(io->inputs[k]);
    for (int64_t q = 0; q < s[2]; q++, at++) {
      keys[at] = (uint64_t)s[3 + q];
      tag[at] = k << 40 | q;
    }
  }
  if ((rc = cask__radix_sort(keys, tag, S, 8))) goto done;
  int64_t *o = cask_block_data(io->output);
  o[0] = n;
  o[1] = valid;
  o[2] = R;
  for (int64_t j = 0; j < R; j++) o[3 + j] = (j + 1) * a->chunk; /* the first rank of each output block but 0 */
  /* Sample i (merged order) has rank in [s*i - (B-1)(s-1), s*i]. */
  for (int64_t j = 0; j < R; j++) {
    int64_t r = o[3 + j], lo = r / a->s, hi = (r + (B - 1) * (a->s - 1) + a->s - 1) / a->s;
    br_field(o, BR_LOKEY)[j] = lo < S ? (int64_t)keys[lo] : 0;
    br_field(o, BR_LORUN)[j] = lo < S ? tag[lo] >> 40 : NEG_INF;
    br_field(o, BR_LOPOS)[j] = lo < S ? (tag[lo] & ((INT64_C(1) << 40) - 1)) * a->s : 0;
    br_field(o, BR_HIKEY)[j] = hi < S ? (int64_t)keys[hi] : 0;
    br_field(o, BR_HIRUN)[j] = hi < S ? tag[hi] >> 40 : POS_INF;
    br_field(o, BR_HIPOS)[j] = hi < S ? (tag[hi] & ((INT64_C(1) << 40) - 1)) * a->s : 0;
  }
done:
  cask__free(keys);
  cask__free(tag);
  return rc;
}

/* Elements of run k (m sorted keys) before the element (key, run, pos) in
 * the order (key, run, position). */
static int64_t below(const uint64_t *keys, int64_t m, int64_t k, uint64_t key, int64_t run, int64_t pos) {
  if (run == NEG_INF) return 0;
  if (run == POS_INF) return m;
  if (k < run) return cask__upper_bound(keys, m, key);
  if (k > run) return cask__lower_bound(keys, m, key);
  return pos;
}

/* [R, then per rank: below lo, count, the keys in [lo, hi]] */
static void cand_range(const sort_args *a, int64_t *b, const uint64_t *keys, int64_t m, int64_t j, int64_t *from,
                       int64_t *to) {
  *from = below(keys, m, a->k, (uint64_t)br_field(b, BR_LOKEY)[j], br_field(b, BR_LORUN)[j], br_field(b, BR_LOPOS)[j]);
  int64_t hr = br_field(b, BR_HIRUN)[j];
  *to = below(keys, m, a->k, (uint64_t)br_field(b, BR_HIKEY)[j], hr, br_field(b, BR_HIPOS)[j]) + (hr == a->k);
  if (*to < *from) *to = *from; /* only where lo and hi are the same element */
}

static int cand_run(cask_task_io *io, const sort_args *a) {
  const uint64_t *keys = cask_block_data(io->inputs[0]);
  int64_t m = run_len(a, io->inputs[0]), *b = cask_block_data(io->inputs[1]), R = b[2], total = 1;
  for (int64_t j = 0; j < R; j++) {
    int64_t f, t;
    cand_range(a, b, keys, m, j, &f, &t);
    total += 2 + t - f;
  }
  int rc = new_i64(total, &io->output);
  if (rc) return rc;
  int64_t *o = cask_block_data(io->output), at = 1;
  o[0] = R;
  for (int64_t j = 0; j < R; j++) {
    int64_t f, t;
    cand_range(a, b, keys, m, j, &f, &t);
    o[at++] = f;
    o[at++] = t - f;
    memcpy(o + at, keys + f, (size_t)(t - f) * sizeof *o);
    at += t - f;
  }
  return CASK_OK;
}

/* [R, B, key at each rank (R), then for each rank the elements of each
 * run before it (R x B)] */
static int table_run(cask_task_io *io, const sort_args *a) {
  (void)a;
  int64_t *b = cask_block_data(io->inputs[0]), R = b[2], B = (int64_t)io->ninputs - 1, n = b[0];
  int rc = new_i64(2 + R + R * B, &io->output);
  if (rc) return rc;
  int64_t *o = cask_block_data(io->output), *pos = cask__calloc((size_t)B, sizeof *pos);
  if (!pos) return CASK_ENOMEM;
  o[0] = R;
  o[1] = B;
  for (int64_t k = 0; k < B; k++) pos[k] = 1;
  uint64_t *keys = NULL;
  int64_t *tag = NULL, cap = 0;
  for (int64_t j = 0; j < R && !rc; j++) {
    int64_t nc = 0, need = b[3 + j];
    for (int64_t k = 0; k < B; k++) {
      const int64_t *c = cask_block_data(io->inputs[1 + k]);
      need -= c[pos[k]];
      nc += c[pos[k] + 1];
    }
    if (nc > cap) {
      cask__free(keys);
      cask__free(tag);
      cap = nc;
      keys = cask__malloc_big((size_t)cap * sizeof *keys);
      tag = cask__malloc_big((size_t)cap * sizeof *tag);
      if (!keys || !tag) {
        rc = CASK_ENOMEM;
        break;
      }
    }
    int64_t at = 0;
    for (int64_t k = 0; k < B; k++) {
      const int64_t *c = cask_block_data(io->inputs[1 + k]);
      for (int64_t i = 0; i < c[pos[k] + 1]; i++, at++) {
        keys[at] = (uint64_t)c[pos[k] + 2 + i];
        tag[at] = k;
      }
    }
    if ((rc = cask__radix_sort(keys, tag, nc, 8))) break;
    int64_t *row = o + 2 + R + j * B;
    for (int64_t k = 0; k < B; k++) row[k] = ((const int64_t *)cask_block_data(io->inputs[1 + k]))[pos[k]];
    if (need < 0 || need > nc || (need == nc && b[3 + j] < n)) {
      cask__fmt(io->errmsg, io->errmsg_cap, "array.sort: rank %lld is not within its bracket", (long long)b[3 + j]);
      rc = CASK_EINVAL;
      break;
    }
    for (int64_t i = 0; i < need; i++) row[tag[i]]++;
    o[2 + j] = need < nc ? (int64_t)keys[need] : 0;
    for (int64_t k = 0; k < B; k++) {
      const int64_t *c = cask_block_data(io->inputs[1 + k]);
      pos[k] += 2 + c[pos[k] + 1];
    }
  }
  cask__free(keys);
  cask__free(tag);
  cask__free(pos);
  return rc;
}

/* Run k's part of output block j: [from, to) by the table. */
static int piece_run(cask_task_io *io, const sort_args *a) {
  cask_block *run = io->inputs[0];
  const int64_t *t = cask_block_data(io->inputs[1]), R = t[0], B = t[1];
  int64_t m = run_len(a, run);
  int64_t from = a->j == 0 ? 0 : t[2 + R + (a->j - 1) * B + a->k], to = a->j == B - 1 ? m : t[2 + R + a->j * B + a->k];
  int64_t len = to - from, arg = is_arg(a->mode);
  int rc = new_i64(arg ? 2 * len : len, &io->output);
  if (rc) return rc;
  int64_t *o = cask_block_data(io->output);
  const int64_t *r = cask_block_data(run);
  memcpy(o, r + from, (size_t)len * sizeof *o);
  if (arg) memcpy(o + len, r + m + from, (size_t)len * sizeof *o);
  return CASK_OK;
}

static int merge_run(cask_task_io *io, const sort_args *a) {
  int64_t n = 0, arg = is_arg(a->mode);
  for (size_t k = 0; k < io->ninputs; k++) n += cask_block_size(io->inputs[k]) / (arg ? 2 : 1);
  int64_t want = a->j == a->nruns - 1 ? a->n - a->j * a->chunk : a->chunk;
  if (n != want) {
    cask__fmt(io->errmsg, io->errmsg_cap, "array.sort: merge %lld got %lld elements, not %lld", (long long)a->j,
              (long long)n, (long long)want);
    return CASK_EINVAL;
  }
  cask_block *bk = NULL, *bi = NULL;
  uint64_t *keys = cask__sort_scratch(n, &bk);
  int64_t *idx = arg ? cask__sort_scratch(n, &bi) : NULL, *bounds = cask__malloc((io->ninputs + 1) * sizeof *bounds);
  int rc = !keys || (arg && !idx) || !bounds ? CASK_ENOMEM : CASK_OK;
  int64_t at = 0;
  for (size_t k = 0; !rc && k < io->ninputs; k++) { /* the pieces in run order */
    int64_t len = cask_block_size(io->inputs[k]) / (arg ? 2 : 1);
    const int64_t *p = cask_block_data(io->inputs[k]);
    memcpy(keys + at, p, (size_t)len * sizeof *keys);
    if (arg) memcpy(idx + at, p + len, (size_t)len * sizeof *idx);
    bounds[k] = at;
    at += len;
  }
  if (!rc) {
    bounds[io->ninputs] = at;
    rc = cask__merge_runs(keys, idx, bounds, (int)io->ninputs);
  }
  if (!rc) rc = cask_block_new(arg ? CASK_I64 : (cask_dtype)a->dtype, 1, &n, &io->output);
  if (!rc) {
    if (arg) memcpy(cask_block_data(io->output), idx, (size_t)n * sizeof *idx);
    else cask__keys_decode(cask_block_data(io->output), (cask_dtype)a->dtype, keys, n, 1);
  }
  cask_block_release(bk);
  cask_block_release(bi);
  cask__free(bounds);
  return rc;
}

/* ---- selection: quantiles of a 1-d array of B blocks ------------------------
 * The keys at the wanted ranks, found digit by digit from the top (DIGIT
 * bits a level): at each level every block counts, for each rank, its keys
 * that share the rank's prefix so far, by their next digit (hist), and the
 * counts summed over the blocks give the next digit of each rank's key and
 * its rank among the keys of that prefix (narrow). After the last level
 * the prefixes are the keys: exact, with a few counting passes over the
 * data and no sort. The hists of a level are summed by a tree of fan-in
 * HSUM_FANIN (hsum), so no task holds more than that many. */
#define DIGIT 12

static int key_bits(cask_dtype t) { return 8 * cask__key_bytes(t); }
#define DIGIT0 16 /* level 0 has one count for all ranks: a wider digit */
static int nlevels(cask_dtype t) {
  int b = key_bits(t);
  return b <= DIGIT0 ? 1 : 1 + (b - DIGIT0 + DIGIT - 1) / DIGIT;
}
/* Level l's digit is bits [lo, hi) of a key. */
static void level_bits(cask_dtype t, int l, int *lo, int *hi) {
  int b = key_bits(t);
  *hi = l ? b - DIGIT0 - DIGIT * (l - 1) : b;
  int w = l ? DIGIT : DIGIT0;
  *lo = *hi > w ? *hi - w : 0;
}

/* Keys with one prefix (bits hi and up) are the values in one interval:
 * past level 0 an element is tested against the ends of each prefix's
 * interval as a value (no key made), and only those inside get their key
 * and digit [lo, hi) counted. Prefixes never mix NaN with numbers (level
 * 0's 16 bits part them); a NaN prefix's ends are NaN and count nothing,
 * and its rank's result is NaN anyway.
 * The loop for one dtype goes piece by piece (in L1 for every prefix): a
 * branch-free test skips the pieces with none inside an interval (most,
 * past the first levels), else the indices inside are noted and their
 * keys' digits counted. */
#define COUNT_IN_RANGES(T)                                                             \
  do {                                                                                 \
    T a[MAX_PREFIXES], b[MAX_PREFIXES];                                                \
    for (int u = 0; u < np; u++) {                                                     \
      uint64_t kl = p[u] << hi, kh = kl | ((UINT64_C(1) << hi) - 1);                   \
      cask__keys_decode(&a[u], t, &kl, 1, 1);                                          \
      cask__keys_decode(&b[u], t, &kh, 1, 1);                                          \
    }                                                                                  \
    const T *v = src;                                                                  \
    for (int64_t f = 0; f < n; f += 256) {                                             \
      int64_t m = n - f < 256 ? n - f : 256;                                           \
      for (int u = 0; u < np; u++) {                                                   \
        T au = a[u], bu = b[u];                                                        \
        int any = 0, c = 0;                                                            \
        for (int64_t i = 0; i < m; i++) any |= (v[f + i] >= au) & (v[f + i] <= bu);    \
        if (!any) continue;                                                            \
        for (int64_t i = 0; i < m; i++) {                                              \
          T e = v[f + i];                                                              \
          at[c] = (int32_t)i;                                                          \
          c += (e >= au) & (e <= bu);                                                  \
        }                                                                              \
        for (int j = 0; j < c; j++) {                                                  \
          uint64_t k;                                                                  \
          cask__keys_encode(&k, &v[f + at[j]], t, 1, 1, 1);                            \
          h[u][(k >> lo) & mask]++;                                                    \
        }                                                                              \
      }                                                                                \
    }                                                                                  \
  } while (0)

#define MAX_PREFIXES (2 * CASK__MAX_Q)

/* The digits [lo, hi) of x's keys with prefix p[u] (bits hi and up)
 * counted into h[u], for np distinct prefixes. */
static void count_prefixes(const cask_block *x, int np, const uint64_t *p, int lo, int hi, int64_t *const *h) {
  cask_dtype t = cask_block_dtype(x);
  uint64_t mask = (UINT64_C(1) << (hi - lo)) - 1;
  int64_t n = cask_block_size(x);
  const void *src = cask_block_data(x);
  int32_t at[256];
  if (t == CASK_F64) COUNT_IN_RANGES(double);
  else if (t == CASK_F32) COUNT_IN_RANGES(float);
  else if (t == CASK_I64) COUNT_IN_RANGES(int64_t);
  else COUNT_IN_RANGES(int32_t); /* uint8 and bool take one level */
}
#undef COUNT_IN_RANGES

/* The narrow block: [n, valid, R, prefix[R], rank within the prefix[R]] */
static int hist_run(cask_task_io *io, const sort_args *a) {
  cask_block *x = io->inputs[0];
  cask_dtype t = cask_block_dtype(x);
  int l = (int)a->j, lo, hi;
  level_bits(t, l, &lo, &hi);
  const int64_t *nb = l ? cask_block_data(io->inputs[1]) : NULL;
  int64_t R = l ? nb[2] : 1, w = (INT64_C(1) << (hi - lo)) + 1; /* the last: NaNs (level 0) */
  int rc = new_i64(R * w, &io->output);
  if (rc) return rc;
  int64_t *h = cask_block_data(io->output), n = cask_block_size(x);
  memset(h, 0, (size_t)(R * w) * sizeof *h);
  uint64_t keys[1024], nan = cask__nan_key(t), mask = (UINT64_C(1) << (hi - lo)) - 1;
  size_t isz = cask_dtype_size(t);
  /* Ranks sharing a prefix (a quantile's two neighbours, nearly always)
   * share one count: first[r] is the first rank with r's prefix. */
  int64_t *first = cask__malloc((size_t)R * sizeof *first);
  if (!first) return CASK_ENOMEM;
  for (int64_t r = 0; r < R; r++) {
    first[r] = r;
    for (int64_t q = 0; l && q < r; q++)
      if (nb[3 + q] == nb[3 + r]) {
        first[r] = q;
        break;
      }
  }
  for (int64_t f = 0; !l && f < n; f += 1024) {
    int64_t m = n - f < 1024 ? n - f : 1024, nans = 0;
    cask__keys_encode(keys, (const char *)cask_block_data(x) + (size_t)f * isz, t, m, 1, 1);
    for (int64_t i = 0; i < m; i++) {
      h[(keys[i] >> lo) & mask]++;
      nans += keys[i] == nan;
    }
    h[w - 1] += nans;
  }
  if (l) { /* the distinct prefixes; the other ranks are counted under the first of theirs */
    int np = 0;
    uint64_t pre[MAX_PREFIXES];
    int64_t *hs[MAX_PREFIXES];
    for (int64_t r = 0; r < R && np < MAX_PREFIXES; r++)
      if (first[r] == r) pre[np] = (uint64_t)nb[3 + r], hs[np++] = h + r * w;
    count_prefixes(x, np, pre, lo, hi, hs);
  }
  for (int64_t r = 0; r < R; r++)
    if (first[r] != r) memcpy(h + r * w, h + first[r] * w, (size_t)w * sizeof *h);
  cask__free(first);
  return CASK_OK;
}

/* The sum of hists of one level (all of one size). */
static int hsum_run(cask_task_io *io) {
  int64_t n = cask_block_size(io->inputs[0]);
  for (size_t k = 1; k < io->ninputs; k++)
    if (cask_block_size(io->inputs[k]) != n) return CASK_EINVAL;
  int rc = new_i64(n, &io->output);
  if (rc) return rc;
  int64_t *o = cask_block_data(io->output);
  memcpy(o, cask_block_data(io->inputs[0]), (size_t)n * sizeof *o);
  for (size_t k = 1; k < io->ninputs; k++) {
    const int64_t *h = cask_block_data(io->inputs[k]);
    for (int64_t i = 0; i < n; i++) o[i] += h[i];
  }
  return CASK_OK;
}

/* inputs: (past level 0) the narrow block before, then the level's summed hist. */
static int narrow_run(cask_task_io *io, const sort_args *a) {
  int l = (int)a->j, lo, hi;
  cask_dtype t = (cask_dtype)a->dtype;
  level_bits(t, l, &lo, &hi);
  int64_t w = (INT64_C(1) << (hi - lo)) + 1, B = (int64_t)io->ninputs - (l > 0);
  cask_block *const *hs = io->inputs + (l > 0);
  int64_t n = 0, valid, R;
  if (l) {
    const int64_t *p = cask_block_data(io->inputs[0]);
    n = p[0], valid = p[1], R = p[2];
  } else {
    int64_t nan = 0;
    for (int64_t k = 0; k < B; k++) {
      const int64_t *h = cask_block_data(hs[k]);
      for (int64_t d = 0; d + 1 < w; d++) n += h[d];
      nan += h[w - 1];
    }
    valid = n - nan;
    R = nranks(a);
  }
  int rc = new_i64(3 + 2 * R, &io->output);
  if (rc) return rc;
  int64_t *o = cask_block_data(io->output), *sum = cask__calloc((size_t)w, sizeof *sum);
  if (!sum) return CASK_ENOMEM;
  o[0] = n, o[1] = valid, o[2] = R;
  if (l) memcpy(o + 3, (const int64_t *)cask_block_data(io->inputs[0]) + 3, (size_t)(2 * R) * sizeof *o);
  else {
    wanted_ranks(a, a->flags & CASK__SORT_NAN ? valid : n, o + 3 + R); /* ranks, then prefixes 0 */
    memset(o + 3, 0, (size_t)R * sizeof *o);
  }
  for (int64_t r = 0; r < R; r++) {
    memset(sum, 0, (size_t)w * sizeof *sum);
    for (int64_t k = 0; k < B; k++) {
      const int64_t *h = (const int64_t *)cask_block_data(hs[k]) + (l ? r * w : 0);
      for (int64_t d = 0; d + 1 < w; d++) sum[d] += h[d];
    }
    int64_t rank = o[3 + R + r], d = 0;
    while (d + 2 < w && rank >= sum[d]) rank -= sum[d++]; /* the digit holding the rank */
    o[3 + r] = (int64_t)(((uint64_t)o[3 + r] << (hi - lo)) | (uint64_t)d);
    o[3 + R + r] = rank;
  }
  cask__free(sum);
  return CASK_OK;
}

/* inputs: the last narrow block. The results (nq, or one for the median or
 * a scalar q). */
static int select_run(cask_task_io *io, const sort_args *a) {
  const int64_t *b = cask_block_data(io->inputs[0]);
  cask_dtype d = (cask_dtype)a->dtype, rt = result_dtype(a->mode, a->flags, d);
  int64_t n = b[0], valid = b[1], R = b[2], c = a->flags & CASK__SORT_NAN ? valid : n, nr = nresults(a);
  int scalar = a->mode == CASK__SORT_MEDIAN || (a->flags & CASK__SORT_QSCALAR);
  if (R != 2 * nr) return CASK_EINVAL;
  int rc = cask_block_new(rt, scalar ? 0 : 1, &nr, &io->output);
  if (rc) return rc;
  for (int64_t q = 0; q < nr; q++)
    put_result(cask_block_data(io->output), rt, q,
               result(a, (int)q, c, (uint64_t)b[3 + 2 * q], (uint64_t)b[4 + 2 * q], valid < n));
  return CASK_OK;
}

static int sort_run(cask_task_io *io) {
  sort_args a;
  if (io->args_len < sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if (a.nq < 0 || a.nq > CASK__MAX_Q || io->args_len != sizeof a + (size_t)a.nq * sizeof(double) || a.s < 1 ||
      (unsigned)a.dtype >= CASK_DTYPE_COUNT || a.nruns < 1 || io->ninputs < 1) {
    cask__fmt(io->errmsg, io->errmsg_cap, "array.sort: bad arguments (step %d)", a.step);
    return CASK_EINVAL;
  }
  const sort_args *p = io->args; /* with its quantiles */
  for (size_t k = 0; k < io->ninputs; k++)
    if (!io->inputs[k]) return CASK_EINVAL;
  switch (a.step) {
  case STEP_LANE: return lane_run(io, p);
  case STEP_RUN: return run_run(io, p);
  case STEP_SAMPLE: return sample_run(io, p);
  case STEP_BRACKET: return bracket_run(io, p);
  case STEP_CAND: return cand_run(io, p);
  case STEP_TABLE: return table_run(io, p);
  case STEP_PIECE: return piece_run(io, p);
  case STEP_MERGE: return merge_run(io, p);
  case STEP_SELECT: return select_run(io, p);
  case STEP_HIST: return hist_run(io, p);
  case STEP_HSUM: return hsum_run(io);
  case STEP_NARROW: return narrow_run(io, p);
  }
  cask__fmt(io->errmsg, io->errmsg_cap, "array.sort: unknown step %d", a.step);
  return CASK_EINVAL;
}

/* ---- lowering ------------------------------------------------------------- */

static int add_task(cask__lower *L, const cask_array *a, int step, int64_t k, int64_t j, const char *key,
                    const cask_task_id *deps, size_t nd, int64_t bytes, cask_task_id *out) {
  const cask__sort_ext *e = a->ext;
  const cask_array *in = a->in[0];
  int nq = step == STEP_LANE || step == STEP_SELECT || step == STEP_NARROW ? e->nq : 0;
  size_t len = sizeof(sort_args) + (size_t)nq * sizeof(double);
  sort_args *args = cask__calloc(1, len);
  if (!args) return CASK_ENOMEM;
  *args = (sort_args){step, e->mode, in->dtype, e->axis, e->flags, nq, k, j, cask__nblocks(in, 0),
                      in->ndim ? in->chunk[0] : 1, in->ndim ? in->shape[0] : 1, e->stride};
  memcpy(args->q, e->q, (size_t)nq * sizeof(double));
  int rc = cask__graph_add(L->g, key, op_sort, args, len, deps, nd, out);
  cask__free(args);
  if (!rc) cask_graph_set_size(L->g, *out, bytes);
  return rc;
}

static int lane_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  const cask__sort_ext *e = a->ext;
  cask_array *in = a->in[0];
  int64_t ib[CASK_MAX_NDIM] = {0}, off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], bytes = (int64_t)cask__itemsize(a);
  if (e->mode == CASK__SORT_QUANTILE || e->mode == CASK__SORT_MEDIAN) { /* the q axis, then in's axes but one */
    int o = e->mode == CASK__SORT_QUANTILE && !(e->flags & CASK__SORT_QSCALAR);
    for (int i = 0; i < in->ndim; i++)
      if (i != e->axis) ib[i] = bidx[o++];
  } else {
    memcpy(ib, bidx, (size_t)in->ndim * sizeof ib[0]);
  }
  cask__block_box(a, bidx, off, ext);
  for (int i = 0; i < a->ndim; i++) bytes *= ext[i];
  cask_task_id dep;
  int rc = cask__lower_block(L, in, ib, &dep);
  return rc ? rc : add_task(L, a, STEP_LANE, e->topk, 0, key, &dep, 1, bytes, out);
}

static const cask__node_class lane_class = {.name = "sortlane", .lower = lane_lower};

/* The pipeline's tasks, each found by key first (built once per node). */
static int pipe_task(cask__lower *L, cask_array *a, int step, int64_t k, int64_t j, cask_task_id *out);

static int64_t in_ext(const cask_array *in, int64_t k) {
  int64_t end = (k + 1) * in->chunk[0];
  return (end < in->shape[0] ? end : in->shape[0]) - k * in->chunk[0];
}

static int pipe_deps(cask__lower *L, cask_array *a, int step, int64_t k, int64_t j, cask_task_id *deps, size_t *nd,
                     int64_t *bytes) {
  const cask__sort_ext *e = a->ext;
  cask_array *in = a->in[0];
  int64_t B = cask__nblocks(in, 0), R = e->mode == CASK__SORT_SORT || is_arg(e->mode) ? B - 1 : 4 * e->nq + 2;
  int rc = CASK_OK, w = is_arg(e->mode) ? 16 : 8;
  *nd = 0;
  switch (step) {
  case STEP_RUN:
    rc = cask__lower_block(L, in, (int64_t[]){k}, &deps[(*nd)++]);
    *bytes = in_ext(in, k) * w;
    break;
  case STEP_SAMPLE:
    rc = pipe_task(L, a, STEP_RUN, k, 0, &deps[(*nd)++]);
    *bytes = (in_ext(in, k) / e->stride + 4) * 8;
    break;
  case STEP_BRACKET:
    for (int64_t r = 0; r < B && !rc; r++) rc = pipe_task(L, a, STEP_SAMPLE, r, 0, &deps[(*nd)++]);
    *bytes = (3 + 7 * R) * 8;
    break;
  case STEP_CAND:
    rc = pipe_task(L, a, STEP_RUN, k, 0, &deps[(*nd)++]);
    if (!rc) rc = pipe_task(L, a, STEP_BRACKET, 0, 0, &deps[(*nd)++]);
    *bytes = R * (2 * (B + 2) * e->stride + 2) * 8;
    break;
  case STEP_TABLE:
    rc = pipe_task(L, a, STEP_BRACKET, 0, 0, &deps[(*nd)++]);
    for (int64_t r = 0; r < B && !rc; r++) rc = pipe_task(L, a, STEP_CAND, r, 0, &deps[(*nd)++]);
    *bytes = (2 + R + R * B) * 8;
    break;
  case STEP_PIECE: /* and the next piece of the run: see pipe_task */
    rc = pipe_task(L, a, STEP_RUN, k, 0, &deps[(*nd)++]);
    if (!rc) rc = pipe_task(L, a, STEP_TABLE, 0, 0, &deps[(*nd)++]);
    if (!rc && j + 1 < B) rc = pipe_task(L, a, STEP_PIECE, k, j + 1, &deps[(*nd)++]);
    *bytes = (in_ext(in, k) / B + 1) * w;
    break;
  case STEP_MERGE:
    for (int64_t r = 0; r < B && !rc; r++) rc = pipe_task(L, a, STEP_PIECE, r, j, &deps[(*nd)++]);
    *bytes = in_ext(in, j) * (int64_t)cask__itemsize(a);
    break;
  case STEP_SELECT:
    rc = pipe_task(L, a, STEP_NARROW, 0, nlevels(in->dtype) - 1, &deps[(*nd)++]);
    *bytes = (e->nq + 1) * 8;
    break;
  case STEP_HIST: /* j: the level */
    rc = cask__lower_block(L, in, (int64_t[]){k}, &deps[(*nd)++]);
    if (!rc && j > 0) rc = pipe_task(L, a, STEP_NARROW, 0, j - 1, &deps[(*nd)++]);
    *bytes = (j ? (4 * e->nq + 2) * ((INT64_C(1) << DIGIT) + 1) : (INT64_C(1) << DIGIT0) + 1) * 8;
    break;
  case STEP_HSUM: { /* k: depth t (above the hists) << 40 | index at that depth; j: the level */
    int64_t t = k >> 40, idx = k & ((INT64_C(1) << 40) - 1), span = 1;
    for (int64_t d = 1; d < t; d++) span *= HSUM_FANIN; /* leaves under one child */
    for (int64_t c = 0; c < HSUM_FANIN && !rc && (idx * HSUM_FANIN + c) * span < B; c++)
      rc = t == 1 ? pipe_task(L, a, STEP_HIST, idx * HSUM_FANIN + c, j, &deps[(*nd)++])
                  : pipe_task(L, a, STEP_HSUM, (t - 1) << 40 | (idx * HSUM_FANIN + c), j, &deps[(*nd)++]);
    *bytes = (j ? (4 * e->nq + 2) * ((INT64_C(1) << DIGIT) + 1) : (INT64_C(1) << DIGIT0) + 1) * 8;
    break;
  }
  case STEP_NARROW: {
    int64_t t = 1;
    for (int64_t span = HSUM_FANIN; span < B; span *= HSUM_FANIN) t++;
    if (j > 0) rc = pipe_task(L, a, STEP_NARROW, 0, j - 1, &deps[(*nd)++]);
    if (!rc) rc = pipe_task(L, a, STEP_HSUM, t << 40, j, &deps[(*nd)++]);
    *bytes = (3 + 8 * e->nq + 4) * 8;
    break;
  }
  }
  return rc;
}

static const char *const step_names[] = {"sortlane",  "sortrun",   "sortsample", "sortbracket",
                                         "sortcand",  "sorttable", "sortpiece",  "sortmerge",
                                         "sortselect", "sorthist", "sorthsum", "sortnarrow"};

static int pipe_task(cask__lower *L, cask_array *a, int step, int64_t k, int64_t j, cask_task_id *out) {
  char key[512];
  cask__block_key(key, sizeof key, step_names[step], a->token, 2, (int64_t[]){k, j});
  if (cask_graph_find(L->g, key, out) == CASK_OK) return CASK_OK;
  int64_t B = cask__nblocks(a->in[0], 0), bytes = 0;
  /* Piece j of run k depends on piece j + 1, so that the graph's order
   * cuts a run into all its pieces at once (one read of a spilled run, not
   * one per output block). Built from the last piece down, in a loop: an
   * array may have thousands of blocks. */
  for (int64_t jj = B - 1; step == STEP_PIECE && jj > j; jj--) {
    cask_task_id id;
    int rc = pipe_task(L, a, STEP_PIECE, k, jj, &id);
    if (rc) return rc;
  }
  size_t nd = 0;
  cask_task_id stack[64], *deps = B + 3 <= 64 ? stack : cask__malloc((size_t)(B + 3) * sizeof *deps);
  if (!deps) return CASK_ENOMEM;
  int rc = pipe_deps(L, a, step, k, j, deps, &nd, &bytes);
  if (!rc) rc = add_task(L, a, step, k, j, key, deps, nd, bytes, out);
  if (deps != stack) cask__free(deps);
  return rc;
}

static int pipe_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  const cask__sort_ext *e = a->ext;
  int sel = e->mode == CASK__SORT_QUANTILE || e->mode == CASK__SORT_MEDIAN;
  int64_t B = cask__nblocks(a->in[0], 0), bytes = 0, j = sel ? 0 : bidx[0];
  size_t nd = 0;
  cask_task_id stack[64], *deps = B + 3 <= 64 ? stack : cask__malloc((size_t)(B + 3) * sizeof *deps);
  if (!deps) return CASK_ENOMEM;
  int step = sel ? STEP_SELECT : STEP_MERGE;
  int rc = pipe_deps(L, a, step, 0, j, deps, &nd, &bytes);
  if (!rc) rc = add_task(L, a, step, 0, j, key, deps, nd, bytes, out);
  if (deps != stack) cask__free(deps);
  return rc;
}

static const cask__node_class pipe_class = {.name = "sortpipe", .lower = pipe_lower};

/* ---- nodes ---------------------------------------------------------------- */

int cask__sort_node(cask_array *x, const cask__sort_ext *params, cask_array **out) {
  int64_t nb = x->ndim == 1 ? cask__nblocks(x, 0) : 1;
  if (nb > CASK__MAX_MERGE_BLOCKS && (params->mode == CASK__SORT_SORT || params->mode == CASK__SORT_ARGSORT))
    return cask__fail(x->ctx, CASK_ETOOBIG,
                      "%s: %lld blocks (chunks of %lld of %lld elements) would need %lld merge pieces; use larger "
                      "chunks, e.g. (%lld,)",
                      params->mode ? "argsort" : "sort", (long long)nb, (long long)x->chunk[0], (long long)x->shape[0],
                      (long long)(nb * nb), (long long)((x->shape[0] + CASK__MAX_MERGE_BLOCKS - 1) / CASK__MAX_MERGE_BLOCKS));
  cask__sort_ext *e = cask__malloc(sizeof *e);
  if (!e) return cask__fail(x->ctx, CASK_ENOMEM, "sort: out of memory");
  *e = *params;
  cask_dtype rt = result_dtype(e->mode, e->flags, x->dtype);
  int sel = e->mode == CASK__SORT_QUANTILE || e->mode == CASK__SORT_MEDIAN;
  int pipe = x->ndim == 1 && cask__nblocks(x, 0) > 1 && e->mode != CASK__SORT_TOPK;
  int64_t shape[CASK_MAX_NDIM + 1], chunk[CASK_MAX_NDIM + 1];
  int nd = 0;
  if (sel) {
    if (e->mode == CASK__SORT_QUANTILE && !(e->flags & CASK__SORT_QSCALAR)) shape[nd] = chunk[nd] = e->nq, nd++;
    for (int i = 0; i < x->ndim; i++)
      if (i != e->axis) shape[nd] = x->shape[i], chunk[nd] = x->chunk[i], nd++;
  } else {
    nd = x->ndim;
    memcpy(shape, x->shape, (size_t)nd * sizeof shape[0]);
    memcpy(chunk, x->chunk, (size_t)nd * sizeof chunk[0]);
  }
  if (e->mode == CASK__SORT_TOPK) { /* each block's lanes cut to |topk| */
    int ax = e->axis;
    int64_t m = e->topk < 0 ? -e->topk : e->topk, b = cask__nblocks(x, ax);
    int64_t last = x->shape[ax] - (b - 1) * x->chunk[ax];
    if (m > x->chunk[ax]) m = x->chunk[ax]; /* blocks smaller than |topk| are kept whole */
    shape[ax] = (b - 1) * m + (last < m ? last : m);
    chunk[ax] = m;
  }
  if (pipe) { /* the sample stride: samples and candidates about equal */
    int64_t B = cask__nblocks(x, 0), R = sel ? 4 * e->nq + 2 : B - 1;
    double s = sqrt((double)x->shape[0] / (2.0 * (double)(R > 0 ? R : 1) * (double)B));
    e->stride = s < 1 ? 1 : (int64_t)s;
  } else {
    e->stride = 1;
  }
  int rc = cask__node_new_ext(x->ctx, pipe ? &pipe_class : &lane_class, e, rt, nd, shape, chunk, 1, &x, out);
  if (!rc) cask__node_seal(*out, e, sizeof *e);
  return rc;
}

void cask__register_sort_ops(void) {
  cask_op_register(&(cask_op){.name = "array.sort", .run = sort_run, .flags = CASK_OP_PURE}, &op_sort);
}
