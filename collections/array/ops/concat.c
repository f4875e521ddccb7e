/* concat.c - cask_concatenate and cask_stack: arrays joined along an
 * existing axis, or along a new one (stack gives each input a new axis of
 * extent 1 with chunk 1, without copying, and concatenates).
 * The result has the chunks of the first input that is not empty along the
 * axis; the other inputs are rechunked to them on the other axes. When
 * every input's extent along the axis is a multiple of that chunk (the last
 * one's need not be) and the inputs have that chunk, each output block IS
 * an input block (an alias, no copy); otherwise an output block gathers
 * from the input blocks it overlaps (array.gather).
 * The one thing to know: the node keeps the inputs' offsets along the axis;
 * its blocks find their inputs from them. */
#include <stdio.h>

#include "boxcopy.h"

typedef struct concat_ext {
  int32_t axis, aligned;
  int64_t n;
  int64_t off[]; /* n + 1: where input k starts along the axis; off[n] the total */
} concat_ext;

static size_t ext_size(int64_t n) { return sizeof(concat_ext) + (size_t)(n + 1) * sizeof(int64_t); }

/* Output block bidx is block ib of input k. */
static int lower_aligned(cask__lower *L, cask_array *a, const int64_t *bidx, const int64_t *off,
                         const char *key, cask_task_id *out) {
  const concat_ext *e = a->ext;
  int ax = e->axis;
  int64_t k = 0, ib[CASK_MAX_NDIM];
  while (k + 1 < e->n && !(off[ax] < e->off[k + 1])) k++;
  memcpy(ib, bidx, sizeof ib[0] * (size_t)a->ndim);
  ib[ax] = (off[ax] - e->off[k]) / a->in[k]->chunk[ax];
  cask_task_id dep;
  int rc = cask__lower_block(L, a->in[k], ib, &dep);
  return rc ? rc : cask__lower_alias(L, key, dep, out);
}

/* Pieces along the axis from every input the block overlaps (pc NULL:
 * count them). */
static int64_t axis_pieces(const cask_array *a, int64_t lo, int64_t hi, cask__axis_piece *pc) {
  const concat_ext *e = a->ext;
  int64_t np = 0;
  for (int64_t k = 0; k < e->n; k++) {
    int64_t s = lo > e->off[k] ? lo : e->off[k], t = hi < e->off[k + 1] ? hi : e->off[k + 1];
    if (s >= t) continue;
    int64_t m = cask__axis_pieces(s - e->off[k], 1, t - s, a->in[k]->chunk[e->axis], (int32_t)k,
                                  pc ? pc + np : NULL, INT64_MAX);
    np += m;
  }
  return np;
}

static int concat_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                        cask_task_id *out) {
  const concat_ext *e = a->ext;
  int ax = e->axis, empty = 0;
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], step[CASK_MAX_NDIM], np[CASK_MAX_NDIM];
  cask__block_box(a, bidx, off, ext);
  for (int i = 0; i < a->ndim; i++) empty |= ext[i] == 0;
  if (e->aligned && !empty) return lower_aligned(L, a, bidx, off, key, out);
  int64_t total = 0;
  for (int i = 0; i < a->ndim; i++) {
    step[i] = 1;
    np[i] = i == ax ? axis_pieces(a, off[ax], off[ax] + ext[ax], NULL) : ext[i] > 0;
    total += np[i];
  }
  cask__axis_piece *pc = cask__malloc((size_t)(total ? total : 1) * sizeof *pc);
  if (!pc) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  for (int i = 0, k = 0; i < a->ndim; k += (int)np[i], i++) {
    if (i == ax) axis_pieces(a, off[ax], off[ax] + ext[ax], pc + k);
    else if (np[i]) pc[k] = (cask__axis_piece){bidx[i], 0, ext[i], 0};
  }
  int rc = cask__lower_gather(L, key, a->dtype, a->ndim, ext, step, 0, np, pc, a->in, out);
  cask__free(pc);
  return rc;
}

static const cask__node_class concat_class = {.name = "concatenate", .lower = concat_lower};

/* ---- checks ------------------------------------------------------------- */

static int mismatch(const char *what, cask_array *const *x, int k, const char *why, int axis) {
  char s[CASK_MAX_NDIM * 22 + 4], t[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, x[k]->ndim, x[k]->shape);
  cask__shape_str(t, sizeof t, x[0]->ndim, x[0]->shape);
  return cask__fail(x[0]->ctx, CASK_EINVAL, "%s: array %d has shape %s and array 0 shape %s; %s%d", what, k,
                    s, t, why, axis);
}

static int check_inputs(const char *what, int n, cask_array *const *x) {
  if (n < 1 || !x) return CASK_EINVAL;
  for (int k = 0; k < n; k++)
    if (!x[k]) return CASK_EINVAL;
  for (int k = 1; k < n; k++)
    if (x[k]->ctx != x[0]->ctx)
      return cask__fail(x[0]->ctx, CASK_EINVAL, "%s: array %d belongs to another context than array 0", what, k);
  return CASK_OK;
}

/* Whether output blocks along the axis can be the inputs' own blocks. */
static int is_aligned(int n, cask_array *const *x, int ax, int64_t c) {
  int last = -1;
  for (int k = 0; k < n; k++)
    if (x[k]->shape[ax]) last = k;
  for (int k = 0; k < n; k++) {
    int64_t e = x[k]->shape[ax];
    if (!e) continue;
    if (k < last && (e % c || x[k]->chunk[ax] != c)) return 0;
    if (k == last && x[k]->chunk[ax] != c && !(e < c && x[k]->chunk[ax] == e)) return 0;
  }
  return 1;
}

/* xs[k] = x[k] as dtype, with the lead's chunks off the axis. */
static int conform(int n, cask_array *const *x, int ax, cask_dtype dt, const int64_t *chunk,
                   cask_array **xs) {
  for (int k = 0; k < n; k++) {
    cask_array *t;
    int rc = cask_astype(x[k], dt, &t);
    if (rc) return rc;
    int64_t want[CASK_MAX_NDIM];
    for (int i = 0; i < t->ndim; i++) want[i] = i == ax ? t->chunk[i] : chunk[i];
    rc = cask_rechunk(t, want, &xs[k]);
    cask_array_release(t);
    if (rc) return rc;
  }
  return CASK_OK;
}

static int concat_node(int n, cask_array **xs, int ax, cask_array **out) {
  cask_ctx *ctx = xs[0]->ctx;
  concat_ext *e = cask__calloc(1, ext_size(n));
  if (!e) return cask__fail(ctx, CASK_ENOMEM, "concatenate: out of memory");
  e->axis = ax;
  e->n = n;
  int lead = 0;
  while (lead + 1 < n && !xs[lead]->shape[ax]) lead++;
  for (int k = 0; k < n; k++)
    if (__builtin_add_overflow(e->off[k], xs[k]->shape[ax], &e->off[k + 1]) || e->off[k + 1] > (INT64_C(1) << 60)) {
      cask__free(e);
      return cask__fail(ctx, CASK_ETOOBIG, "concatenate: more than 2^60 elements along axis %d", ax);
    }
  e->aligned = is_aligned(n, xs, ax, xs[lead]->chunk[ax]);
  int64_t shape[CASK_MAX_NDIM];
  memcpy(shape, xs[0]->shape, sizeof shape[0] * (size_t)xs[0]->ndim);
  shape[ax] = e->off[n];
  int rc = cask__node_new_ext(ctx, &concat_class, e, xs[0]->dtype, xs[0]->ndim, shape, xs[lead]->chunk, n,
                              xs, out);
  if (!rc) cask__node_seal(*out, e, ext_size(n));
  return rc;
}

int cask_concatenate(int n, cask_array *const *arrays, int axis, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  int rc = check_inputs("concatenate", n, arrays);
  if (rc) return rc;
  for (int k = 0; k < n; k++)
    if ((rc = cask__need_sizes(arrays[k], "concatenate"))) return rc;
  cask_array *const *x = arrays;
  int nd = x[0]->ndim;
  if (nd == 0) return cask__fail(x[0]->ctx, CASK_EINVAL, "concatenate: 0-d arrays cannot be concatenated (use stack)");
  if (axis < -nd || axis >= nd)
    return cask__fail(x[0]->ctx, CASK_EINVAL, "concatenate: axis %d is out of range for arrays of %d axes", axis, nd);
  int ax = axis < 0 ? axis + nd : axis;
  cask_dtype dt = x[0]->dtype;
  for (int k = 1; k < n; k++) {
    if (x[k]->ndim != nd) return mismatch("concatenate", x, k, "the numbers of axes differ, joining on axis ", ax);
    for (int i = 0; i < nd; i++)
      if (i != ax && x[k]->shape[i] != x[0]->shape[i])
        return mismatch("concatenate", x, k, "they must agree except on axis ", ax);
    dt = cask_promote(dt, x[k]->dtype);
  }
  int lead = 0;
  while (lead + 1 < n && !x[lead]->shape[ax]) lead++;
  cask_array **xs = cask__calloc((size_t)n, sizeof *xs);
  if (!xs) return cask__fail(x[0]->ctx, CASK_ENOMEM, "concatenate: out of memory");
  int64_t chunk[CASK_MAX_NDIM];
  memcpy(chunk, x[lead]->chunk, sizeof chunk[0] * (size_t)nd);
  rc = conform(n, x, ax, dt, chunk, xs);
  if (!rc && n == 1) *out = cask_array_retain(xs[0]);
  else if (!rc) rc = concat_node(n, xs, ax, out);
  for (int k = 0; k < n; k++) cask_array_release(xs[k]);
  cask__free(xs);
  return rc;
}

int cask_stack(int n, cask_array *const *arrays, int axis, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  int rc = check_inputs("stack", n, arrays);
  if (rc) return rc;
  for (int k = 0; k < n; k++)
    if ((rc = cask__need_sizes(arrays[k], "stack"))) return rc;
  cask_array *const *x = arrays;
  int nd = x[0]->ndim;
  if (nd + 1 > CASK_MAX_NDIM)
    return cask__fail(x[0]->ctx, CASK_ETOOBIG, "stack: arrays of %d axes would get %d, more than %d", nd, nd + 1,
                      CASK_MAX_NDIM);
  if (axis < -(nd + 1) || axis > nd)
    return cask__fail(x[0]->ctx, CASK_EINVAL, "stack: axis %d is out of range for a result of %d axes", axis,
                      nd + 1);
  int ax = axis < 0 ? axis + nd + 1 : axis;
  for (int k = 1; k < n; k++)
    if (x[k]->ndim != nd || memcmp(x[k]->shape, x[0]->shape, sizeof x[0]->shape[0] * (size_t)nd))
      return mismatch("stack", x, k, "stacked arrays must have one shape, stacking on axis ", ax);
  cask_array **ex = cask__calloc((size_t)n, sizeof *ex);
  if (!ex) return cask__fail(x[0]->ctx, CASK_ENOMEM, "stack: out of memory");
  int64_t shape[CASK_MAX_NDIM];
  for (int i = 0, j = 0; i <= nd; i++) shape[i] = i == ax ? 1 : x[0]->shape[j++];
  for (int k = 0; k < n && !rc; k++) rc = cask_reshape(x[k], nd + 1, shape, &ex[k]);
  if (!rc) rc = cask_concatenate(n, ex, ax, out);
  for (int k = 0; k < n; k++) cask_array_release(ex[k]);
  cask__free(ex);
  return rc;
}
