/* count.c - NumPy's counting and searching functions: digitize (a task
 * per block), searchsorted, bincount and histogram (a partial per input
 * block, then cask_reduce's sum over the blocks: a fixed-order tree, so the
 * same bits for any thread count), and unique, which computes when called.
 * The one thing to know: what NumPy decides from the data before counting
 * (bincount's length from the largest value, histogram's range from the
 * smallest and largest) is a small eager pass here (one run of two
 * reductions), so every array keeps a shape known before it runs; unique's
 * size is the data itself, so it sorts at once (the sort of sort.c) and
 * gives arrays over its results. Comparisons are those of sortkey.h:
 * NaN above everything, -0.0 equal to 0.0. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../../core/internal.h"
#include "../core/dtype.h"
#include "ops.h"
#include "sort-int.h"
#include "sortkey.h"

enum { CNT_DIGITIZE, CNT_SEARCH, CNT_BINCOUNT, CNT_HIST };

typedef struct count_ext {
  int32_t kind, flag; /* flag: right (digitize, searchsorted); uniform (hist); weights (bincount) */
  int64_t m;          /* bins: digitize's, histogram's edges (m + 1), bincount's length */
  double v[];         /* digitize's bins, histogram's edges */
} count_ext;

static const cask_op *op_count;

static void fmt_shape(char *s, size_t cap, const cask_array *a) { cask__shape_str(s, cap, a->ndim, a->shape); }

/* ---- the block op -------------------------------------------------------- */

static double as_f64(const void *p, cask_dtype t, int64_t i) {
  double d;
  cask__cast(&d, CASK_F64, (const char *)p + (size_t)i * cask_dtype_size(t), t, 1);
  return d;
}

/* NumPy's searchsorted(bins, x, side) and digitize's decreasing bins. */
static int digitize_run(cask_task_io *io, const count_ext *e) {
  cask_block *x = io->inputs[0];
  int rc = cask_block_new(CASK_I64, cask_block_ndim(x), cask_block_shape(x), &io->output);
  if (rc) return rc;
  int64_t n = cask_block_size(x), m = e->m, *o = cask_block_data(io->output);
  uint64_t *bk = cask__malloc((size_t)(m ? m : 1) * sizeof *bk);
  if (!bk) return CASK_ENOMEM;
  int dec = m > 1 && e->v[0] > e->v[m - 1];
  for (int64_t i = 0; i < m; i++) { /* decreasing bins: reversed, then len - searchsorted */
    double b = dec ? e->v[m - 1 - i] : e->v[i];
    cask__keys_encode(&bk[i], &b, CASK_F64, 1, 1, 1);
  }
  for (int64_t i = 0; i < n; i++) {
    double v = as_f64(cask_block_data(x), cask_block_dtype(x), i);
    uint64_t k;
    cask__keys_encode(&k, &v, CASK_F64, 1, 1, 1);
    /* digitize: right=False is searchsorted side='right' (and the reverse) */
    int64_t p = e->flag ? cask__lower_bound(bk, m, k) : cask__upper_bound(bk, m, k);
    if (dec) p = m - p; /* NumPy: len(bins) - searchsorted(bins[::-1], x, side) */
    o[i] = p;
  }
  cask__free(bk);
  return CASK_OK;
}

/* inputs: a block (sorted), v block: how many of the a block's elements
 * come before each v (left: < v; right: <= v), as a (1,) + v's shape. */
static int search_run(cask_task_io *io, const count_ext *e) {
  cask_block *a = io->inputs[0], *v = io->inputs[1];
  int nd = cask_block_ndim(v);
  int64_t s[CASK_MAX_NDIM + 1] = {1};
  memcpy(s + 1, cask_block_shape(v), (size_t)nd * sizeof s[0]);
  int rc = cask_block_new(CASK_I64, nd + 1, s, &io->output);
  if (rc) return rc;
  int64_t na = cask_block_size(a), nv = cask_block_size(v), *o = cask_block_data(io->output);
  uint64_t *ak = cask__malloc_big((size_t)(na ? na : 1) * sizeof *ak), *vk = cask__malloc_big((size_t)(nv ? nv : 1) * 8);
  if (!ak || !vk) rc = CASK_ENOMEM;
  if (!rc) {
    cask__keys_encode(ak, cask_block_data(a), cask_block_dtype(a), na, 1, 1);
    cask__keys_encode(vk, cask_block_data(v), cask_block_dtype(v), nv, 1, 1);
    for (int64_t i = 0; i < nv; i++) o[i] = e->flag ? cask__upper_bound(ak, na, vk[i]) : cask__lower_bound(ak, na, vk[i]);
  }
  cask__free(ak);
  cask__free(vk);
  return rc;
}

/* inputs: x block (and weights block): counts (int64) or sums of weights
 * (float64) of each value 0..m-1, as a (1, m) block. */
static int bincount_run(cask_task_io *io, const count_ext *e) {
  cask_block *x = io->inputs[0], *w = e->flag ? io->inputs[1] : NULL;
  int rc = cask_block_new(w ? CASK_F64 : CASK_I64, 2, (int64_t[]){1, e->m}, &io->output);
  if (rc) return rc;
  void *o = cask_block_data(io->output);
  memset(o, 0, cask_block_nbytes(io->output));
  int64_t n = cask_block_size(x);
  for (int64_t i = 0; i < n; i++) {
    int64_t v;
    cask__cast(&v, CASK_I64, (const char *)cask_block_data(x) + (size_t)i * cask_dtype_size(cask_block_dtype(x)),
               cask_block_dtype(x), 1);
    if (v < 0 || v >= e->m) {
      cask__fmt(io->errmsg, io->errmsg_cap, "bincount: value %lld is outside [0, %lld)", (long long)v, (long long)e->m);
      return CASK_EINVAL;
    }
    if (w) ((double *)o)[v] += as_f64(cask_block_data(w), cask_block_dtype(w), i);
    else ((int64_t *)o)[v]++;
  }
  return CASK_OK;
}

/* NumPy's _histogram: equal bins by scaling (then corrected against the
 * edges, as NumPy does), else by searching the edges; the last bin holds
 * its right edge; values outside the edges (and NaN) are not counted. */
static int hist_run(cask_task_io *io, const count_ext *e) {
  cask_block *x = io->inputs[0];
  int64_t nb = e->m, n = cask_block_size(x);
  int rc = cask_block_new(CASK_I64, 2, (int64_t[]){1, nb}, &io->output);
  if (rc) return rc;
  int64_t *o = cask_block_data(io->output);
  memset(o, 0, (size_t)nb * sizeof *o);
  const double *edge = e->v, first = edge[0], last = edge[nb];
  double norm = (double)nb / (last - first);
  for (int64_t i = 0; i < n; i++) {
    double v = as_f64(cask_block_data(x), cask_block_dtype(x), i);
    if (!(v >= first && v <= last)) continue;
    int64_t k;
    /* Scaling needs a finite position: with edges closer than the values'
     * spacing (a range of width 1 around 4.7e15) norm is infinite and
     * (v - first) * norm may be NaN (NumPy 1.24 then indexes out of
     * bounds); such a value is placed by searching the edges. */
    double t = e->flag ? (v - first) * norm : -1.0;
    if (t >= 0 && t < (double)nb + 1) {
      k = (int64_t)t;
      if (k == nb) k--;
      if (v < edge[k] && k > 0) k--;
      if (v >= edge[k + 1] && k != nb - 1) k++;
    } else {
      int64_t lo = 0, hi = nb; /* the last edge <= v, within the bins */
      while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (edge[mid] <= v) lo = mid;
        else hi = mid - 1;
      }
      k = lo == nb ? nb - 1 : lo;
    }
    o[k]++;
  }
  return CASK_OK;
}

static int count_run(cask_task_io *io) {
  const count_ext *e = io->args;
  if (io->args_len < sizeof *e || io->args_len != sizeof *e + (size_t)(e->kind == CNT_HIST ? e->m + 1 : e->kind == CNT_DIGITIZE ? e->m : 0) * 8 ||
      io->ninputs < 1 || !io->inputs[0] || (io->ninputs > 1 && !io->inputs[1]) || e->m < 0) {
    cask__fmt(io->errmsg, io->errmsg_cap, "array.count: bad arguments or inputs");
    return CASK_EINVAL;
  }
  switch (e->kind) {
  case CNT_DIGITIZE: return digitize_run(io, e);
  case CNT_SEARCH: return io->ninputs == 2 ? search_run(io, e) : CASK_EINVAL;
  case CNT_BINCOUNT: return io->ninputs == 1 + (e->flag != 0) ? bincount_run(io, e) : CASK_EINVAL;
  case CNT_HIST: return e->m > 0 ? hist_run(io, e) : CASK_EINVAL;
  }
  return CASK_EINVAL;
}

/* ---- nodes ------------------------------------------------------------------ */

static size_t ext_size(const count_ext *e) {
  return sizeof *e + (size_t)(e->kind == CNT_HIST ? e->m + 1 : e->kind == CNT_DIGITIZE ? e->m : 0) * sizeof(double);
}

/* Output block bidx from: digitize, x's block bidx; the partials, input
 * block bidx[0] (and v's block bidx[1..] for searchsorted). */
static int count_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  const count_ext *e = a->ext;
  cask_task_id deps[2];
  size_t nd = 0;
  int rc;
  if (e->kind == CNT_DIGITIZE) {
    rc = cask__lower_block(L, a->in[0], bidx, &deps[nd++]);
  } else {
    rc = cask__lower_block(L, a->in[0], bidx, &deps[nd++]);
    if (!rc && a->nin > 1) rc = cask__lower_block(L, a->in[1], e->kind == CNT_SEARCH ? bidx + 1 : bidx, &deps[nd++]);
  }
  if (rc) return rc;
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], bytes = 8;
  cask__block_box(a, bidx, off, ext);
  for (int i = 0; i < a->ndim; i++) bytes *= ext[i];
  rc = cask__graph_add(L->g, key, op_count, e, ext_size(e), deps, nd, out);
  if (!rc) cask_graph_set_size(L->g, *out, bytes);
  return rc;
}

static const cask__node_class count_class = {.name = "count", .lower = count_lower};

static int count_node(cask_array *x, cask_array *y, count_ext *e, cask_dtype dt, int nd, const int64_t *shape,
                      const int64_t *chunk, cask_array **out) {
  cask_array *in[2] = {x, y};
  size_t len = ext_size(e);
  int rc = cask__node_new_ext(x->ctx, &count_class, e, dt, nd, shape, chunk, y ? 2 : 1, in, out);
  if (!rc) cask__node_seal(*out, e, len);
  return rc;
}

static count_ext *new_ext(cask_ctx *ctx, int kind, int flag, int64_t m, int64_t nv, const char *fn) {
  count_ext *e = cask__calloc(1, sizeof *e + (size_t)nv * sizeof(double));
  if (!e) cask__fail(ctx, CASK_ENOMEM, "%s: out of memory", fn);
  else e->kind = kind, e->flag = flag, e->m = m;
  return e;
}

/* The partials p of shape (B, m) summed over their first axis. */
static int sum_partials(cask_array *p, cask_array **out) {
  int rc = cask_reduce(CASK_SUM, p, (int[]){0}, 1, 0, out);
  cask_array_release(p);
  return rc;
}

static int begin(cask_array *a, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  return a ? CASK_OK : CASK_EINVAL;
}

/* 1 increasing, -1 decreasing (NumPy's _monotonicity), 0 neither. */
static int monotonic(const double *b, int64_t n) {
  int inc = 1, dec = 1;
  for (int64_t i = 1; i < n; i++) {
    if (!(b[i] >= b[i - 1])) inc = 0;
    if (!(b[i] <= b[i - 1])) dec = 0;
  }
  return inc ? 1 : dec ? -1 : 0;
}

int cask_digitize(cask_array *x, const double *bins, int64_t nbins, int right, cask_array **out) {
  int rc = begin(x, out);
  if (rc) return rc;
  if ((rc = cask__need_sizes(x, "digitize"))) return rc;
  if (nbins < 0 || (nbins && !bins) || nbins > (1 << 20))
    return cask__fail(x->ctx, CASK_EINVAL, "digitize: %lld bins given (0 to 2^20)", (long long)nbins);
  if (!monotonic(bins, nbins))
  {
    char s[CASK_MAX_NDIM * 22 + 4];
    fmt_shape(s, sizeof s, x);
    return cask__fail(x->ctx, CASK_EINVAL,
                      "digitize: bins (%lld of them) must be monotonically increasing or decreasing (x of shape %s)",
                      (long long)nbins, s);
  }
  count_ext *e = new_ext(x->ctx, CNT_DIGITIZE, right != 0, nbins, nbins, "digitize");
  if (!e) return CASK_ENOMEM;
  memcpy(e->v, bins, (size_t)nbins * sizeof(double));
  return count_node(x, NULL, e, CASK_I64, x->ndim, x->shape, x->chunk, out);
}

int cask_searchsorted(cask_array *a, cask_array *v, int right, cask_array **out) {
  int rc = begin(a, out);
  if (rc || !v) return rc ? rc : CASK_EINVAL;
  if ((rc = cask__need_sizes(a, "searchsorted")) || (rc = cask__need_sizes(v, "searchsorted"))) return rc;
  if (a->ndim != 1) {
    char s[CASK_MAX_NDIM * 22 + 4];
    fmt_shape(s, sizeof s, a);
    return cask__fail(a->ctx, CASK_EINVAL, "searchsorted: a must be 1-d, not of shape %s", s);
  }
  if (v->ndim >= CASK_MAX_NDIM) return cask__fail(a->ctx, CASK_EINVAL, "searchsorted: v has too many axes");
  cask_dtype t = cask_promote(a->dtype, v->dtype);
  cask_array *ac = NULL, *vc = NULL, *p = NULL;
  rc = cask_astype(a, t, &ac);
  if (!rc) rc = cask_astype(v, t, &vc);
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  shape[0] = cask__nblocks(a, 0);
  chunk[0] = 1;
  if (!rc) {
    memcpy(shape + 1, vc->shape, (size_t)vc->ndim * 8);
    memcpy(chunk + 1, vc->chunk, (size_t)vc->ndim * 8);
  }
  count_ext *e = rc ? NULL : new_ext(a->ctx, CNT_SEARCH, right != 0, 0, 0, "searchsorted");
  if (!rc && !e) rc = CASK_ENOMEM;
  if (!rc) rc = count_node(ac, vc, e, CASK_I64, vc->ndim + 1, shape, chunk, &p);
  cask_array_release(ac);
  cask_array_release(vc);
  return rc ? rc : sum_partials(p, out);
}

/* The smallest and largest value of a, as doubles, in one run. */
static int min_max(cask_array *a, double *lo, double *hi) {
  cask_array *mn = NULL, *mx = NULL, *m1 = NULL, *m2 = NULL;
  int rc = cask_reduce(CASK_MIN, a, NULL, 0, 0, &mn);
  if (!rc) rc = cask_reduce(CASK_MAX, a, NULL, 0, 0, &mx);
  if (!rc) rc = cask_astype(mn, CASK_F64, &m1);
  if (!rc) rc = cask_astype(mx, CASK_F64, &m2);
  if (!rc) {
    cask_target t[2] = {CASK_TO_BUFFER(m1, lo, sizeof *lo), CASK_TO_BUFFER(m2, hi, sizeof *hi)};
    rc = cask_store(2, t, NULL);
  }
  cask_array_release(mn);
  cask_array_release(mx);
  cask_array_release(m1);
  cask_array_release(m2);
  return rc;
}

int cask_bincount(cask_array *x, cask_array *weights, int64_t minlength, cask_array **out) {
  int rc = begin(x, out);
  if (rc) return rc;
  if ((rc = cask__need_sizes(x, "bincount")) || (weights && (rc = cask__need_sizes(weights, "bincount")))) return rc;
  char s[CASK_MAX_NDIM * 22 + 4];
  fmt_shape(s, sizeof s, x);
  if (x->ndim != 1) return cask__fail(x->ctx, CASK_EINVAL, "bincount: x must be 1-d, not of shape %s", s);
  if (cask__dtype_is_float(x->dtype))
    return cask__fail(x->ctx, CASK_EINVAL, "bincount: x is %s (shape %s); it must be integers (NumPy's safe cast)",
                      cask_dtype_name(x->dtype), s);
  if (minlength < 0) return cask__fail(x->ctx, CASK_EINVAL, "bincount: minlength %lld is negative", (long long)minlength);
  if (weights && (weights->ndim != 1 || weights->shape[0] != x->shape[0])) {
    char w[CASK_MAX_NDIM * 22 + 4];
    fmt_shape(w, sizeof w, weights);
    return cask__fail(x->ctx, CASK_EINVAL, "bincount: weights of shape %s do not match x of shape %s", w, s);
  }
  double lo = 0, hi = -1;
  if (x->shape[0] && (rc = min_max(x, &lo, &hi))) return rc;
  if (lo < 0) return cask__fail(x->ctx, CASK_EINVAL, "bincount: x has a negative value (%.0f); NumPy refuses them", lo);
  if (hi >= (double)(INT64_C(1) << 31) || minlength > (INT64_C(1) << 31))
    return cask__fail(x->ctx, CASK_EINVAL, "bincount: %.0f bins (x of shape %s) are more than 2^31", hi + 1 > minlength ? hi + 1 : (double)minlength, s);
  int64_t m = (int64_t)hi + 1 > minlength ? (int64_t)hi + 1 : minlength;
  cask_array *w = NULL, *p = NULL;
  if (weights && (rc = cask_rechunk(weights, x->chunk, &w))) return rc;
  count_ext *e = new_ext(x->ctx, CNT_BINCOUNT, weights != NULL, m, 0, "bincount");
  if (!e) rc = CASK_ENOMEM;
  if (!rc)
    rc = count_node(x, w, e, w ? CASK_F64 : CASK_I64, 2, (int64_t[]){cask__nblocks(x, 0), m}, (int64_t[]){1, m ? m : 1},
                    &p);
  cask_array_release(w);
  return rc ? rc : sum_partials(p, out);
}

/* NumPy's linspace(first, last, n + 1) */
static void edges_of(double first, double last, int64_t n, double *edge) {
  double step = (last - first) / (double)n;
  for (int64_t i = 0; i <= n; i++) edge[i] = step == 0 ? (double)i / (double)n * (last - first) + first : (double)i * step + first;
  edge[n] = last;
}

static void free_buf(void *user, void *data) {
  (void)user;
  cask__free(data);
}

int cask_histogram(cask_array *a, int64_t bins, const double *edges, const double *range, cask_array **counts,
                   cask_array **edges_out) {
  if (edges_out) *edges_out = NULL;
  int rc = begin(a, counts);
  if (rc) return rc;
  if ((rc = cask__need_sizes(a, "histogram"))) return rc;
  char s[CASK_MAX_NDIM * 22 + 4];
  fmt_shape(s, sizeof s, a);
  int uniform = edges == NULL;
  if (bins < 1 || bins > (1 << 24))
    return cask__fail(a->ctx, CASK_EINVAL, "histogram: %lld bins (1 to 2^24) for an array of shape %s", (long long)bins, s);
  count_ext *e = new_ext(a->ctx, CNT_HIST, uniform, bins, bins + 1, "histogram");
  if (!e) return CASK_ENOMEM;
  if (!uniform) {
    memcpy(e->v, edges, (size_t)(bins + 1) * sizeof(double));
    for (int64_t i = 0; i < bins; i++)
      if (!(edges[i + 1] >= edges[i]))
        rc = cask__fail(a->ctx, CASK_EINVAL, "histogram: bins must increase monotonically (edge %lld; the array's shape is %s)",
                        (long long)i + 1, s);
  } else {
    double first = 0, last = 1;
    if (range) {
      first = range[0], last = range[1];
      if (first > last) rc = cask__fail(a->ctx, CASK_EINVAL, "histogram: max must be larger than min in range (%g, %g)", first, last);
      else if (!isfinite(first) || !isfinite(last))
        rc = cask__fail(a->ctx, CASK_EINVAL, "histogram: supplied range of [%g, %g] is not finite", first, last);
    } else if (cask_array_size(a)) {
      rc = min_max(a, &first, &last);
      if (!rc && !(isfinite(first) && isfinite(last)))
        rc = cask__fail(a->ctx, CASK_EINVAL, "histogram: autodetected range of [%g, %g] is not finite (shape %s)", first,
                        last, s);
    }
    if (first == last) first -= 0.5, last += 0.5;
    edges_of(first, last, bins, e->v);
  }
  double *copy = edges_out ? cask__malloc((size_t)(bins + 1) * sizeof *copy) : NULL;
  if (!rc && edges_out && !copy) rc = cask__fail(a->ctx, CASK_ENOMEM, "histogram: out of memory");
  if (copy) memcpy(copy, e->v, (size_t)(bins + 1) * sizeof *copy);
  cask_array *x = NULL, *p = NULL;
  if (!rc) rc = cask_reshape(a, 1, (int64_t[]){-1}, &x);
  if (rc) {
    cask__free(e);
    cask__free(copy);
    return rc;
  }
  rc = count_node(x, NULL, e, CASK_I64, 2, (int64_t[]){cask__nblocks(x, 0), bins}, (int64_t[]){1, bins}, &p);
  cask_array_release(x);
  if (!rc) rc = sum_partials(p, counts);
  if (!rc && edges_out)
    rc = cask_from_buffer(a->ctx, copy, CASK_F64, 1, (int64_t[]){bins + 1}, NULL, free_buf, NULL, edges_out);
  else cask__free(copy);
  if (rc && *counts) {
    cask_array_release(*counts);
    *counts = NULL;
  }
  return rc;
}

/* ---- unique ---------------------------------------------------------------- */

int cask_unique(cask_array *a, cask_array **values, cask_array **counts) {
  if (counts) *counts = NULL;
  int rc = begin(a, values);
  if (rc || (rc = cask__need_sizes(a, "unique"))) return rc;
  int64_t n = cask_array_size(a), w = (int64_t)cask__itemsize(a);
  cask_array *s = NULL;
  char *buf = cask__malloc_big((size_t)(n ? n : 1) * (size_t)w);
  int64_t *cnt = counts ? cask__malloc((size_t)(n ? n : 1) * sizeof *cnt) : NULL;
  if (!buf || (counts && !cnt)) rc = cask__fail(a->ctx, CASK_ENOMEM, "unique: out of memory for %lld elements", (long long)n);
  if (!rc) rc = cask_sort(a, NULL, &s);
  if (!rc) rc = cask_compute(s, buf, (size_t)(n * w));
  cask_array_release(s);
  int64_t u = 0;
  uint64_t prev = 0;
  for (int64_t i = 0; !rc && i < n; i++) { /* equal keys (NaNs are one key, -0.0 is 0.0) make one value */
    uint64_t k;
    cask__keys_encode(&k, buf + i * w, a->dtype, 1, 1, 1);
    if (i == 0 || k != prev) {
      memmove(buf + u * w, buf + i * w, (size_t)w);
      if (cnt) cnt[u] = 0;
      u++;
    }
    if (cnt) cnt[u - 1]++;
    prev = k;
  }
  if (!rc) rc = cask_from_buffer(a->ctx, buf, a->dtype, 1, &u, NULL, free_buf, NULL, values);
  else cask__free(buf);
  if (!rc && counts) {
    rc = cask_from_buffer(a->ctx, cnt, CASK_I64, 1, &u, NULL, free_buf, NULL, counts);
    if (rc) {
      cask_array_release(*values);
      *values = NULL;
    }
  } else {
    cask__free(cnt);
  }
  return rc;
}

void cask__register_count_ops(void) {
  cask_op_register(&(cask_op){.name = "array.count", .run = count_run, .flags = CASK_OP_PURE}, &op_count);
}
