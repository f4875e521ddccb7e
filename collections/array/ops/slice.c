/* slice.c - cask_slice: basic indexing with Python's slice semantics
 * (negative indices, omitted bounds, negative steps, integer indices that
 * drop their axis).
 * The result's chunk along an axis is ceil(input chunk / |step|), so an
 * output block spans at most one input chunk and reads at most two input
 * blocks per axis (one array.gather task).
 * The one thing to know: a slice is pushed down before it becomes a node.
 * A slice of a source is another source (a new affine view: no task reads
 * the elements left out), a slice of an elementwise operation is the same
 * operation over sliced operands, a slice of a slice is one slice. So
 * (x + x.T)[::2, 5000:] of a random x is an elementwise kernel over two
 * sources that generate only the kept elements. */
#include <stdio.h>

#include "boxcopy.h"

/* One axis of a selection, resolved against the axis' extent: the
 * elements start, start + step, ... (len of them), or the single element
 * start when is_int. Fields are int64 so the struct has no padding (it is
 * hashed). */
typedef struct axis_sel {
  int64_t start, step, len, is_int;
} axis_sel;

/* A slice node's parameters, per input axis. */
typedef struct slice_ext {
  int64_t start[CASK_MAX_NDIM], step[CASK_MAX_NDIM];
  uint32_t ints; /* input axes taken at an integer index (dropped) */
  uint32_t pad;
} slice_ext;

static int slice_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                       cask_task_id *out);
static const cask__node_class slice_class = {.name = "slice", .lower = slice_lower, .selects = 1};

static int slice_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                       cask_task_id *out) {
  const slice_ext *e = a->ext;
  cask_array *in = a->in[0];
  int64_t ext[CASK_MAX_NDIM], step[CASK_MAX_NDIM], np[CASK_MAX_NDIM];
  cask__axis_piece pc[2 * CASK_MAX_NDIM];
  int64_t off[CASK_MAX_NDIM], oext[CASK_MAX_NDIM];
  cask__block_box(a, bidx, off, oext);
  for (int i = 0, j = 0, k = 0; i < in->ndim; i++) {
    int64_t first = e->start[i];
    ext[i] = 1;
    step[i] = 1;
    if (!(e->ints >> i & 1)) {
      ext[i] = oext[j];
      step[i] = e->step[i];
      first += off[j++] * e->step[i];
    }
    np[i] = cask__axis_pieces(first, step[i], ext[i], in->chunk[i], 0, pc + k, 2);
    if (np[i] > 2) /* the chunk rule makes this impossible */
      return cask__fail(L->ctx, CASK_EINVAL, "%s: a block reads more than two input blocks along axis %d", key, i);
    k += (int)np[i];
  }
  return cask__lower_gather(L, key, a->dtype, in->ndim, ext, step, e->ints, np, pc, &in, out);
}

/* ---- resolving indices -------------------------------------------------- */

static int index_error(const cask_array *a, int axis, const char *fmt, int64_t v) {
  char s[CASK_MAX_NDIM * 22 + 4], what[128];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  snprintf(what, sizeof what, fmt, (long long)v);
  return cask__fail(a->ctx, CASK_EINVAL, "slice: %s for axis %d with extent %lld (array of shape %s)", what,
                    axis, (long long)a->shape[axis], s);
}

/* Python's slice.indices(n) and the length of the result; an integer index
 * checked against the extent. */
static int resolve(const cask_array *a, int axis, cask_index ix, axis_sel *s) {
  int64_t n = a->shape[axis];
  if (ix.is_int) {
    int64_t k = ix.start == CASK_NONE ? ix.start : ix.start < 0 ? ix.start + n : ix.start;
    if (k < 0 || k >= n) return index_error(a, axis, "index %lld is out of range", ix.start);
    *s = (axis_sel){k, 1, 1, 1};
    return CASK_OK;
  }
  int64_t step = ix.step == CASK_NONE ? 1 : ix.step, start, stop, len;
  if (step == 0) return index_error(a, axis, "step %lld is not allowed", 0);
  int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? n : n - 1;
  start = ix.start == CASK_NONE ? (step > 0 ? lo : hi) : ix.start < 0 ? ix.start + n : ix.start;
  stop = ix.stop == CASK_NONE ? (step > 0 ? hi : lo) : ix.stop < 0 ? ix.stop + n : ix.stop;
  start = start < lo ? lo : start > hi ? hi : start;
  stop = stop < lo ? lo : stop > hi ? hi : stop;
  if (step > 0) len = stop > start ? (stop - start - 1) / step + 1 : 0;
  else len = start > stop ? (start - stop - 1) / -step + 1 : 0;
  /* One canonical form per selection, so equal slices share a token (and
   * composed steps cannot overflow: a step only matters for len >= 2). */
  if (len <= 1) step = 1;
  if (len == 0) start = 0;
  *s = (axis_sel){start, step, len, 0};
  return CASK_OK;
}

/* ---- building ----------------------------------------------------------- */

static int is_identity(const cask_array *a, const axis_sel *sel) {
  for (int i = 0; i < a->ndim; i++)
    if (sel[i].is_int || sel[i].start != 0 || sel[i].step != 1 || sel[i].len != a->shape[i]) return 0;
  return 1;
}

/* Shape and chunks of a sliced: an output block stays within one input
 * chunk's span. */
static int out_grid(const cask_array *a, const axis_sel *sel, int64_t *shape, int64_t *chunk) {
  int nd = 0;
  for (int i = 0; i < a->ndim; i++) {
    if (sel[i].is_int) continue;
    int64_t st = sel[i].step < 0 ? -sel[i].step : sel[i].step;
    shape[nd] = sel[i].len;
    chunk[nd++] = (a->chunk[i] + st - 1) / st;
  }
  return nd;
}

static int slice_node(cask_array *a, const axis_sel *sel, cask_array **out) {
  slice_ext *e = cask__calloc(1, sizeof *e);
  if (!e) return cask__fail(a->ctx, CASK_ENOMEM, "slice: out of memory");
  for (int i = 0; i < a->ndim; i++) {
    e->start[i] = sel[i].start;
    e->step[i] = sel[i].step;
    if (sel[i].is_int) e->ints |= 1u << i;
  }
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  int nd = out_grid(a, sel, shape, chunk);
  int rc = cask__node_new_ext(a->ctx, &slice_class, e, a->dtype, nd, shape, chunk, 1, &a, out);
  if (!rc) cask__node_seal(*out, e, sizeof *e);
  return rc;
}

/* A source through a new view: base moves to the first element, strides
 * scale by the steps, integer indices fold into base. */
static int slice_source(cask_array *a, const axis_sel *sel, cask_array **out) {
  const cask__source *s = &a->p.source;
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM], fstride[CASK_MAX_NDIM], base = s->base;
  int nd = out_grid(a, sel, shape, chunk);
  for (int i = 0, j = 0; i < a->ndim; i++) {
    base += sel[i].start * s->fstride[i];
    if (!sel[i].is_int) fstride[j++] = s->fstride[i] * sel[i].step;
  }
  return cask__source_view(a, nd, shape, chunk, base, fstride, out);
}

static int slice_sel(cask__memo *m, cask_array *a, const axis_sel *sel, cask_array **out);

/* A slice of a slice: one slice of the inner one's input. */
static int slice_compose(cask__memo *m, cask_array *a, const axis_sel *sel, cask_array **out) {
  const slice_ext *e = a->ext;
  cask_array *in = a->in[0];
  axis_sel c[CASK_MAX_NDIM];
  for (int i = 0, j = 0; i < in->ndim; i++) {
    if (e->ints >> i & 1) {
      c[i] = (axis_sel){e->start[i], 1, 1, 1};
      continue;
    }
    const axis_sel *s = &sel[j++];
    c[i].start = e->start[i] + s->start * e->step[i];
    c[i].is_int = s->is_int;
    c[i].len = s->is_int ? 1 : s->len;
    c[i].step = s->is_int || s->len <= 1 ? 1 : e->step[i] * s->step;
    if (!s->is_int && s->len == 0) c[i].start = 0;
  }
  return slice_sel(m, in, c, out);
}

/* The same elementwise operation over its operands sliced alike: an
 * operand spanning an axis takes the axis' selection, one broadcasting
 * along it (extent 1 where a's is larger) keeps its single element. */
static int slice_elementwise(cask__memo *m, cask_array *a, const axis_sel *sel, cask_array **out) {
  size_t plen = sizeof *sel * (size_t)a->ndim;
  cask_array *done = cask__memo_get(m, a, sel, plen);
  if (done) {
    *out = cask_array_retain(done);
    return CASK_OK;
  }
  cask_array *x[3] = {NULL, NULL, NULL};
  int rc = CASK_OK;
  for (int k = 0; k < a->nin && !rc; k++) {
    const cask_array *in = a->in[k];
    axis_sel s[CASK_MAX_NDIM];
    for (int j = 0; j < in->ndim; j++) {
      int i = j + a->ndim - in->ndim;
      if (in->shape[j] == a->shape[i]) s[j] = sel[i];
      else s[j] = (axis_sel){0, 1, 1, sel[i].is_int};
    }
    rc = slice_sel(m, a->in[k], s, &x[k]);
  }
  if (!rc) rc = cask__elementwise_like(a, x, out);
  for (int k = 0; k < 3; k++) cask_array_release(x[k]);
  if (!rc && (rc = cask__memo_put(m, a, sel, plen, *out))) {
    cask_array_release(*out);
    *out = NULL;
  }
  return rc;
}

static int slice_sel(cask__memo *m, cask_array *a, const axis_sel *sel, cask_array **out) {
  if (is_identity(a, sel)) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  if (a->kind == CASK__NODE_EXT && a->cls == &slice_class) return slice_compose(m, a, sel, out);
  if (cask__is_source(a)) return slice_source(a, sel, out);
  if (cask__is_elementwise(a)) return slice_elementwise(m, a, sel, out);
  return slice_node(a, sel, out);
}

int cask_slice(cask_array *a, int nidx, const cask_index *idx, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || nidx < 0 || (nidx && !idx)) return CASK_EINVAL;
  if (a->unknown) return cask__need_sizes(a, "slice");
  if (nidx > a->ndim) {
    char s[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "slice: %d indices for an array of %d axes (shape %s)", nidx,
                      a->ndim, s);
  }
  axis_sel sel[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    cask_index ix = CASK_COLON;
    if (i < nidx) ix = idx[i];
    int rc = resolve(a, i, ix, &sel[i]);
    if (rc) return rc;
  }
  cask__memo m = {NULL, 0, 0};
  int rc = slice_sel(&m, a, sel, out);
  cask__memo_free(&m);
  return rc;
}
