/* select-api.c - the C functions of selection (include/cask/array.h):
 * x[mask], compress, extract, nonzero, argwhere, flatnonzero, take and
 * cask_compute_chunk_sizes; their checks, which name the function and the
 * shapes before anything is built, and the nodes of select.c they make.
 * The one thing to know: a selection's input is first made of block rows
 * (every axis but the first whole), so block k of the result is a run of
 * C order; results of one mask (or of one array's nonzero elements) share
 * the key of their unknown block lengths (ukey), so they combine
 * elementwise, as x[m] + y[m] does in NumPy. */
#include <math.h>
#include <stdio.h>

#include "../core/dtype.h"
#include "select.h"

static const char *shape_s(char *buf, size_t cap, const cask_array *a) {
  cask__shape_str(buf, cap, a->ndim, a->shape);
  return buf;
}

/* a as 1-d (a 0-d array as one element). */
static int as_1d(cask_array *a, cask_array **out) {
  if (a->ndim == 1) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  int64_t n = cask_array_size(a);
  return cask_reshape(a, 1, &n, out);
}

/* x rechunked so that its blocks span every axis but the first: a block
 * row is then a run of C order. About as many elements per block as
 * before. */
static int rows_whole(cask_array *x, cask_array **out) {
  int split = 0;
  int64_t row = 1, per = 1, c[CASK_MAX_NDIM];
  for (int i = 1; i < x->ndim; i++) {
    split |= cask__nblocks(x, i) > 1;
    row *= x->shape[i];
    per *= x->chunk[i];
  }
  if (!split) {
    *out = cask_array_retain(x);
    return CASK_OK;
  }
  per *= x->chunk[0];
  c[0] = row ? per / row : x->shape[0];
  if (c[0] < 1) c[0] = 1;
  for (int i = 1; i < x->ndim; i++) c[i] = x->shape[i];
  return cask_rechunk(x, c, out);
}

/* m rechunked to like's chunks where they differ (known lengths only). */
static int align_to(cask_array *m, const cask_array *like, cask_array **out) {
  int differs = 0;
  for (int i = 0; i < m->ndim; i++) differs |= !(m->unknown & (1u << i)) && m->chunk[i] != like->chunk[i];
  if (!differs) {
    *out = cask_array_retain(m);
    return CASK_OK;
  }
  return cask_rechunk(m, like->chunk, out);
}

/* A select node over x (and m) of the given output shape; its unknown
 * axis ax gets nblocks blocks under key. */
static int make_select(int mode, int axis, int coord, cask_array *x, cask_array *m, cask_dtype dt, int ndim,
                       const int64_t *shape, int ax, int64_t nblocks, uint64_t key, cask_array **out) {
  /* the known axes: x's chunks (compress), else whole (argwhere's) */
  const int64_t *chunk = mode == CASK__SEL_AXIS ? x->chunk : shape;
  cask__select_ext *e = cask__calloc(1, sizeof *e);
  if (!e) return cask__fail(x->ctx, CASK_ENOMEM, "out of memory selecting");
  *e = (cask__select_ext){mode, axis, coord, 0};
  cask_array *in[2] = {x, m};
  int rc = cask__node_new_ext(x->ctx, &cask__select_class, e, dt, ndim, shape, chunk, m ? 2 : 1, in, out);
  if (rc) return rc;
  cask__set_unknown(*out, ax, nblocks, key);
  if (mode == CASK__SEL_AXIS) /* x's other axes of unknown length stay so */
    for (int i = 0; i < x->ndim; i++)
      if (i != axis && (x->unknown & (1u << i))) cask__set_unknown(*out, i, x->ublocks[i], x->ukey[i]);
  cask__node_seal(*out, e, sizeof *e);
  return CASK_OK;
}

static uint64_t key_of(const cask_array *a, const char *what) { return cask__hash(what, strlen(what), a->token); }

/* x[m] for m of x's shape, any dtype (nonzero is true). */
static int select_mask(const char *fn, cask_array *x, cask_array *m, cask_array **out) {
  cask_array *x1 = NULL, *m1 = NULL, *xr = NULL, *mr = NULL;
  int rc = CASK_OK;
  if (x->ndim > 1 && x->unknown) return cask__need_sizes(x, fn);
  if (x->ndim == 0) {
    if ((rc = as_1d(x, &x1)) || (rc = as_1d(m, &m1))) goto done;
  } else {
    x1 = cask_array_retain(x), m1 = cask_array_retain(m);
  }
  if ((rc = rows_whole(x1, &xr)) || (rc = rows_whole(m1, &mr))) goto done;
  if (!m1->unknown) {
    cask_array *t = mr;
    rc = align_to(t, xr, &mr);
    cask_array_release(t);
    if (rc) goto done;
  }
  rc = make_select(CASK__SEL_MASK, 0, 0, xr, mr, x->dtype, 1, (int64_t[]){CASK_UNKNOWN}, 0, cask__nblocks(xr, 0),
                   key_of(mr, "mask"), out);
done:
  cask_array_release(x1), cask_array_release(m1), cask_array_release(xr), cask_array_release(mr);
  return rc;
}

static int check_pair(const char *fn, cask_array *a, cask_array *b, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || !b) return CASK_EINVAL;
  if (a->ctx != b->ctx) return cask__fail(a->ctx, CASK_EINVAL, "%s: the arrays belong to different contexts", fn);
  return CASK_OK;
}

int cask_mask_select(cask_array *x, cask_array *mask, cask_array **out) {
  int rc = check_pair("x[mask]", x, mask, out);
  if (rc) return rc;
  char s[256], t[256];
  if (mask->dtype != CASK_BOOL)
    return cask__fail(x->ctx, CASK_EINVAL,
                      "x[mask]: the mask has dtype %s; a mask must be bool (an integer array selects by index: take)",
                      cask_dtype_name(mask->dtype));
  int same = mask->ndim == x->ndim;
  for (int i = 0; same && i < x->ndim; i++)
    same = mask->shape[i] == x->shape[i] &&
           (!(x->unknown & (1u << i)) || ((mask->unknown & (1u << i)) && mask->ukey[i] == x->ukey[i]));
  if (!same)
    return cask__fail(x->ctx, CASK_EINVAL,
                      "x[mask]: the mask's shape %s does not match the array's %s (NumPy: boolean index did not match "
                      "indexed array)%s",
                      shape_s(s, sizeof s, mask), shape_s(t, sizeof t, x),
                      x->unknown || mask->unknown ? "; -1 is an unknown length, matched only by the same selection" : "");
  return select_mask("x[mask]", x, mask, out);
}

int cask_extract(cask_array *cond, cask_array *x, cask_array **out) {
  int rc = check_pair("extract", cond, x, out);
  if (rc || (rc = cask__need_sizes(x, "extract")) || (rc = cask__need_sizes(cond, "extract"))) return rc;
  if (cask_array_size(cond) != cask_array_size(x)) {
    char s[256], t[256];
    return cask__fail(x->ctx, CASK_EINVAL, "extract: the condition's shape %s has not the size of the array's %s",
                      shape_s(s, sizeof s, cond), shape_s(t, sizeof t, x));
  }
  cask_array *c1 = NULL, *x1 = NULL;
  if (!(rc = as_1d(cond, &c1)) && !(rc = as_1d(x, &x1))) rc = select_mask("extract", x1, c1, out);
  cask_array_release(c1), cask_array_release(x1);
  return rc;
}

int cask_compress(cask_array *cond, cask_array *x, const int *axis, cask_array **out) {
  int rc = check_pair("compress", cond, x, out);
  if (rc) return rc;
  char s[256], t[256];
  if (cond->ndim != 1)
    return cask__fail(x->ctx, CASK_EINVAL, "compress: the condition must be 1-d, not of shape %s",
                      shape_s(s, sizeof s, cond));
  if (!axis) { /* of x flattened */
    cask_array *x1;
    if ((rc = cask__need_sizes(x, "compress")) || (rc = as_1d(x, &x1))) return rc;
    rc = cask_compress(cond, x1, (int[]){0}, out);
    cask_array_release(x1);
    return rc;
  }
  int ax;
  if ((rc = cask__axis(x, "compress", *axis, x->ndim, &ax))) return rc;
  cask_array *xs = NULL, *cr = NULL;
  if (((x->unknown >> ax) & 1u) || cond->unknown) { /* either is of unknown length */
    if (!(x->unknown & (1u << ax)) || !cond->unknown || cond->ukey[0] != x->ukey[ax])
      return cask__fail(x->ctx, CASK_EINVAL,
                        "compress: the condition (shape %s) and axis %d of the array (shape %s) have lengths that "
                        "are not known to match (-1: unknown); compute the sizes first (cask_compute_chunk_sizes)",
                        shape_s(s, sizeof s, cond), ax, shape_s(t, sizeof t, x));
    xs = cask_array_retain(x), cr = cask_array_retain(cond);
  } else {
    if (cond->shape[0] > x->shape[ax])
      return cask__fail(x->ctx, CASK_EINVAL, "compress: the condition has %lld entries, axis %d of the array (shape %s) "
                        "only %lld", (long long)cond->shape[0], ax, shape_s(t, sizeof t, x), (long long)x->shape[ax]);
    if (cond->shape[0] < x->shape[ax]) { /* NumPy leaves the rest out */
      cask_index idx[CASK_MAX_NDIM];
      for (int i = 0; i < x->ndim; i++) idx[i] = CASK_COLON;
      idx[ax] = CASK_SLICE(0, cond->shape[0], 1);
      if ((rc = cask_slice(x, x->ndim, idx, &xs))) return rc;
    } else {
      xs = cask_array_retain(x);
    }
    int64_t c = xs->chunk[ax];
    rc = cond->chunk[0] == c ? (cr = cask_array_retain(cond), CASK_OK) : cask_rechunk(cond, &c, &cr);
  }
  if (!rc && (xs->unknown & ~(1u << ax))) /* compute_chunk_sizes, and so every write, handles one */
    rc = cask__fail(x->ctx, CASK_EINVAL,
                    "compress: axis %d of the array (shape %s, -1: unknown) would be its second axis of unknown "
                    "block lengths; cask handles one: compute the sizes first (cask_compute_chunk_sizes, "
                    "compute_chunk_sizes(x) in an expression)", ax, shape_s(t, sizeof t, x));
  if (!rc) {
    int64_t shape[CASK_MAX_NDIM];
    memcpy(shape, xs->shape, sizeof shape);
    shape[ax] = CASK_UNKNOWN;
    rc = make_select(CASK__SEL_AXIS, ax, 0, xs, cr, x->dtype, x->ndim, shape, ax, cask__nblocks(xs, ax),
                     key_of(cr, "axis"), out);
  }
  cask_array_release(xs), cask_array_release(cr);
  return rc;
}

/* x with block rows (a 0-d x as one element), for the index functions. */
static int index_input(const char *fn, cask_array *x, cask_array **xr) {
  if (!x) return CASK_EINVAL;
  int rc = cask__need_sizes(x, fn);
  if (rc) return rc;
  cask_array *x1;
  if (x->ndim == 0 ? (rc = as_1d(x, &x1)) : (x1 = cask_array_retain(x), 0)) return rc;
  rc = rows_whole(x1, xr);
  cask_array_release(x1);
  return rc;
}

int cask_nonzero(cask_array *x, cask_array **out) {
  if (!out || !x) return CASK_EINVAL;
  int nd = x->ndim ? x->ndim : 1;
  for (int d = 0; d < nd; d++) out[d] = NULL;
  cask_array *xr = NULL;
  int rc = index_input("nonzero", x, &xr);
  for (int d = 0; d < nd && !rc; d++)
    rc = make_select(CASK__SEL_NONZERO, 0, d, xr, NULL, CASK_I64, 1, (int64_t[]){CASK_UNKNOWN}, 0,
                     cask__nblocks(xr, 0), key_of(xr, "nonzero"), &out[d]);
  if (rc)
    for (int d = 0; d < nd; d++) cask_array_release(out[d]), out[d] = NULL;
  cask_array_release(xr);
  return rc;
}

int cask_argwhere(cask_array *x, cask_array **out) {
  if (!out || !x) return CASK_EINVAL;
  *out = NULL;
  if (x->ndim == 0)
    return cask__fail(x->ctx, CASK_EINVAL, "argwhere: a 0-d array is not supported (NumPy gives a (n, 0) array)");
  cask_array *xr = NULL;
  int rc = index_input("argwhere", x, &xr);
  if (!rc)
    rc = make_select(CASK__SEL_ARGWHERE, 0, 0, xr, NULL, CASK_I64, 2, (int64_t[]){CASK_UNKNOWN, x->ndim}, 0,
                     cask__nblocks(xr, 0), key_of(xr, "nonzero"), out);
  cask_array_release(xr);
  return rc;
}

int cask_flatnonzero(cask_array *x, cask_array **out) {
  if (!out || !x) return CASK_EINVAL;
  *out = NULL;
  cask_array *xr = NULL;
  int rc = index_input("flatnonzero", x, &xr);
  if (!rc)
    rc = make_select(CASK__SEL_FLAT, 0, 0, xr, NULL, CASK_I64, 1, (int64_t[]){CASK_UNKNOWN}, 0, cask__nblocks(xr, 0),
                     key_of(xr, "nonzero"), out);
  cask_array_release(xr);
  return rc;
}

/* ---- take ---------------------------------------------------------------- */

/* x and the axis take works on: x flattened when axis is NULL. */
static int take_axis(const char *fn, cask_array *x, const int *axis, cask_array **xa, int *ax) {
  int rc = cask__need_sizes(x, fn);
  if (rc) return rc;
  if (!axis) {
    *ax = 0;
    return as_1d(x, xa);
  }
  if ((rc = cask__axis(x, fn, *axis, x->ndim, ax))) return rc;
  *xa = cask_array_retain(x);
  return CASK_OK;
}

static int make_take(cask_array *x, int ax, int64_t n, int64_t *lit, cask_array *idx, int64_t c, cask_array **out) {
  cask__take_ext *e = cask__calloc(1, sizeof *e);
  if (!e) {
    cask__free(lit);
    return cask__fail(x->ctx, CASK_ENOMEM, "out of memory in take");
  }
  *e = (cask__take_ext){ax, 0, n, lit};
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  memcpy(shape, x->shape, sizeof shape);
  memcpy(chunk, x->chunk, sizeof chunk);
  shape[ax] = n, chunk[ax] = c;
  cask_array *in[2] = {x, idx};
  int rc = cask__node_new_ext(x->ctx, &cask__take_class, e, x->dtype, x->ndim, shape, chunk, idx ? 2 : 1, in, out);
  if (rc) return rc;
  uint64_t h = cask__hash(&e->axis, sizeof e->axis, (uint64_t)n);
  if (lit) h = cask__hash(lit, (size_t)n * sizeof *lit, h);
  cask__node_seal(*out, &h, sizeof h);
  return CASK_OK;
}

int cask_take_list(cask_array *x, int64_t n, const int64_t *idx, const int *axis, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!x || n < 0 || (n && !idx)) return CASK_EINVAL;
  cask_array *xa;
  int ax, rc = take_axis("take", x, axis, &xa, &ax);
  if (rc) return rc;
  int64_t len = xa->shape[ax], *lit = cask__malloc((size_t)n * sizeof *lit + 8);
  if (!lit) rc = cask__fail(x->ctx, CASK_ENOMEM, "take: out of memory");
  for (int64_t p = 0; p < n && !rc; p++) {
    int64_t v = idx[p] < 0 ? idx[p] + len : idx[p];
    if (v < 0 || v >= len) {
      char s[256];
      rc = cask__fail(x->ctx, CASK_EINVAL, "take: index %lld is out of bounds for axis %d with size %lld (the array's "
                      "shape is %s)", (long long)idx[p], ax, (long long)len, shape_s(s, sizeof s, xa));
    }
    lit[p] = v;
  }
  if (rc) cask__free(lit);
  else rc = make_take(xa, ax, n, lit, NULL, cask__norm_chunk(n, xa->chunk[ax]), out);
  cask_array_release(xa);
  return rc;
}

int cask_take(cask_array *x, cask_array *idx, const int *axis, cask_array **out) {
  int rc = check_pair("take", x, idx, out);
  if (rc) return rc;
  if (idx->dtype == CASK_BOOL || cask__dtype_is_float(idx->dtype))
    return cask__fail(x->ctx, CASK_EINVAL, "take: the indices have dtype %s; arrays used as indices must be of "
                      "integer type (a bool mask selects with x[mask] or compress)", cask_dtype_name(idx->dtype));
  if (idx->unknown) return cask__need_sizes(idx, "take (its indices)");
  cask_array *xa = NULL, *i1 = NULL, *r = NULL;
  int ax;
  if ((rc = take_axis("take", x, axis, &xa, &ax))) return rc;
  if (!(rc = as_1d(idx, &i1))) rc = make_take(xa, ax, i1->shape[0], NULL, i1, i1->chunk[0], &r);
  if (!rc && idx->ndim != 1) { /* the indices' shape in place of the axis */
    int64_t shape[CASK_MAX_NDIM];
    int nd = 0;
    if (xa->ndim - 1 + idx->ndim > CASK_MAX_NDIM) {
      rc = cask__fail(x->ctx, CASK_ETOOBIG, "take: the result would have more than %d axes", CASK_MAX_NDIM);
    } else {
      for (int i = 0; i < ax; i++) shape[nd++] = xa->shape[i];
      for (int i = 0; i < idx->ndim; i++) shape[nd++] = idx->shape[i];
      for (int i = ax + 1; i < xa->ndim; i++) shape[nd++] = xa->shape[i];
      rc = cask_reshape(r, nd, shape, out);
    }
  } else if (!rc) {
    *out = cask_array_retain(r);
  }
  cask_array_release(xa), cask_array_release(i1), cask_array_release(r);
  return rc;
}

/* ---- the counting pass --------------------------------------------------- */

typedef struct walk {
  const cask_array **seen;
  size_t n, cap;
} walk;

/* The select node below a whose unknown lengths have key (its mask, its
 * condition or its input is what the counting pass counts). */
static const cask_array *find_origin(walk *w, const cask_array *a, uint64_t key) {
  for (size_t i = 0; i < w->n; i++)
    if (w->seen[i] == a) return NULL;
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 64;
    const cask_array **t = cask__realloc(w->seen, cap * sizeof *t);
    if (!t) return NULL;
    w->seen = t, w->cap = cap;
  }
  w->seen[w->n++] = a;
  if (a->cls == &cask__select_class) {
    const cask__select_ext *e = a->ext;
    int ax = e->mode == CASK__SEL_AXIS ? e->axis : 0; /* the axis it makes */
    if (a->ukey[ax] == key) return a;
  }
  for (int k = 0; k < a->nin; k++) {
    if (!a->in[k]->unknown) continue;
    const cask_array *o = find_origin(w, a->in[k], key);
    if (o) return o;
  }
  return NULL;
}

/* On MPI ranks: whether every rank got here without failing (a rank that
 * failed alone must not skip a collective the others enter: the run's
 * digest check, the merge). */
static int agree_ranks(cask_executor *ex, cask_ctx *ctx, int rc) {
  if (ex && ex->nranks > 1 && !ex->all_ok(ex, rc == CASK_OK) && !rc)
    rc = cask__fail(ctx, CASK_EIO, "counting a selection's elements: another MPI rank failed");
  return rc;
}

/* The counting pass: a graph of counts's blocks (one array.count_true task
 * per block of the selection, fused with what makes its mask) run now,
 * with the caller's progress callbacks (its trace is the main run's); the
 * counts into out. rc: a failure before (counts may then be NULL): only
 * the ranks' agreements are made, so the others do not wait. */
static int count_pass(cask_ctx *ctx, cask_array *counts, int64_t nb, const cask_run_options *opts, int64_t *out, int rc) {
  cask_graph *g = NULL;
  cask_results *res = NULL;
  char key[512];
  if (!rc) ctx->errmsg[0] = '\0';
  if (!rc) rc = cask_graph_new(&g);
  cask__lower L = {g, ctx, NULL, 0, 0};
  for (int64_t k = 0; k < nb && !rc; k++) {
    cask_task_id id;
    if (!(rc = cask__lower_block(&L, counts, &k, &id))) rc = cask_graph_set_output(g, id, 1);
  }
  if (!rc && (rc = cask_graph_optimize(g, CASK_OPT_ALL)))
    cask__fail(ctx, rc, "counting a selection's elements: %s", cask_graph_errmsg(g));
  cask_run_options o = opts ? *opts : (cask_run_options)CASK_RUN_OPTIONS_DEFAULTS;
  o.trace_path = NULL;
  cask_executor *ex = o.executor;
  rc = agree_ranks(ex, ctx, rc);
  if (!rc && (rc = cask_run(ctx->rt, g, &o, &res)))
    cask__fail(ctx, rc, "counting a selection's elements: %s", cask_runtime_errmsg(ctx->rt));
  /* On MPI ranks (an executor) each rank holds the counts of the blocks it
   * owns: the others are 0 here and come from their owners by the merge
   * (every count on exactly one rank). */
  for (int64_t k = 0; k < nb && !rc; k++) {
    cask__node_block_key(counts, &k, key, sizeof key);
    const cask_block *b = cask_results_get_key(res, key);
    out[k] = 0;
    if (b && cask_block_dtype(b) == CASK_I64 && cask_block_size(b) == 1)
      out[k] = *(const int64_t *)cask_block_data(b);
    else if (b || !ex)
      rc = cask__fail(ctx, CASK_EINVAL, "counting a selection's elements: no count for block %lld", (long long)k);
  }
  rc = agree_ranks(ex, ctx, rc);
  if (!rc && ex && ex->nranks > 1 && (rc = ex->merge(ex, out, (size_t)nb * sizeof *out)))
    cask__fail(ctx, rc, "counting a selection's elements: gathering the counts from the ranks failed");
  if (rc && !ctx->errmsg[0]) cask__fail(ctx, rc, "counting a selection's elements: out of memory");
  cask_results_free(res);
  cask_graph_free(g);
  return rc;
}

int cask_compute_chunk_sizes(cask_array *a, cask_array **out) { return cask__compute_chunk_sizes(a, NULL, out); }

int cask__compute_chunk_sizes(cask_array *a, const cask_run_options *opts, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if (!a->unknown) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  if (a->unknown & (a->unknown - 1))
    return cask__fail(a->ctx, CASK_EINVAL, "compute_chunk_sizes: more than one axis of unknown block lengths");
  int ax = __builtin_ctz(a->unknown);
  walk w = {0};
  const cask_array *o = find_origin(&w, a, a->ukey[ax]);
  cask__free(w.seen);
  if (!o) return cask__fail(a->ctx, CASK_EINVAL, "compute_chunk_sizes: the selection deciding axis %d is not found", ax);
  const cask__select_ext *oe = o->ext;
  cask_array *counted = oe->mode <= CASK__SEL_AXIS ? o->in[1] : o->in[0], *counts = NULL;
  int64_t nb = a->ublocks[ax];
  int64_t *starts = cask__calloc((size_t)nb + 1, sizeof *starts);
  cask__regrid_ext *e = cask__calloc(1, sizeof *e);
  int rc = starts && e ? CASK_OK : cask__fail(a->ctx, CASK_ENOMEM, "compute_chunk_sizes: out of memory");
  if (!rc)
    rc = cask__node_new_ext(a->ctx, &cask__count_class, NULL, CASK_I64, 1, &nb, (int64_t[]){1}, 1, &counted, &counts);
  if (!rc) cask__node_seal(counts, NULL, 0);
  rc = count_pass(a->ctx, counts, nb, opts, starts ? starts + 1 : NULL, rc); /* also after a failure: see count_pass */
  cask_array_release(counts);
  if (rc) {
    cask__free(starts), cask__free(e);
    return rc;
  }
  for (int64_t b = 0; b < nb; b++) starts[b + 1] += starts[b];
  int64_t total = starts[nb], shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  memcpy(shape, a->shape, sizeof shape);
  memcpy(chunk, a->chunk, sizeof chunk);
  shape[ax] = total;
  chunk[ax] = nb ? (total + nb - 1) / nb : total;
  *e = (cask__regrid_ext){ax, 0, nb, starts};
  rc = cask__node_new_ext(a->ctx, &cask__regrid_class, e, a->dtype, a->ndim, shape, chunk, 1, &a, out);
  if (!rc) {
    uint64_t h = cask__hash(starts, (size_t)(nb + 1) * sizeof *starts, (uint64_t)ax);
    cask__node_seal(*out, &h, sizeof h);
  }
  return rc;
}

/* ---- reductions of a selection: masked, without the selection -------------- */

/* a (an elementwise tree over x[m] of one mask, or x[m] itself) as the
 * same tree over x, and m: 1, or 0 when a is not such a tree. */
static int unmask(cask_array *a, uint64_t key, cask_array **val, cask_array **mask) {
  *val = *mask = NULL;
  if (a->cls == &cask__select_class) {
    const cask__select_ext *e = a->ext;
    int one_d = e->mode == CASK__SEL_MASK || (e->mode == CASK__SEL_AXIS && a->ndim == 1); /* compress of 1-d */
    if (!one_d || a->in[0]->unknown || a->in[1]->unknown || a->ukey[0] != key) return 0;
    *val = cask_array_retain(a->in[0]);
    *mask = cask_array_retain(a->in[1]);
    return 1;
  }
  if (!cask__is_elementwise(a) || a->nin > 3) return 0;
  cask_array *x[3] = {NULL, NULL, NULL};
  int rc = 1;
  for (int k = 0; k < a->nin && rc == 1; k++) {
    cask_array *in = a->in[k], *mk = NULL;
    if (!in->unknown) { /* a broadcast operand: one element */
      rc = cask_array_size(in) == 1 ? (x[k] = cask_array_retain(in), 1) : 0;
      continue;
    }
    rc = unmask(in, key, &x[k], &mk);
    if (rc == 1 && !*mask) *mask = mk; /* one key, one mask */
    else cask_array_release(mk);
  }
  if (rc == 1 && (rc = cask__elementwise_like(a, x, val)) == CASK_OK) rc = 1;
  for (int k = 0; k < 3; k++) cask_array_release(x[k]);
  if (rc != 1) {
    cask_array_release(*mask);
    *mask = NULL;
  }
  return rc;
}

int cask__masked_reduce(cask_reduction op, cask_array *a, cask_array **out) {
  if (a->ndim != 1 || !(a->unknown & 1u)) return 0;
  double id;
  switch (op) {
  case CASK_SUM: case CASK_NANSUM: case CASK_ANY: case CASK_MEAN: id = 0; break;
  case CASK_PROD: case CASK_ALL: id = 1; break;
  default: return 0; /* min, max: no identity; an empty selection must fail (the select node's states count) */
  }
  cask_array *val, *mask, *m = NULL, *idn = NULL, *w = NULL, *s = NULL, *c = NULL, *q = NULL;
  int rc = unmask(a, a->ukey[0], &val, &mask);
  if (rc != 1) return rc;
  int fl = cask__dtype_is_float(val->dtype);
  if (!fl && op == CASK_MEAN) {
    rc = 0; /* integers: mean's dtype */
    goto done;
  }
  /* where(m, f(x), identity): the elements left out change no result */
  if ((rc = mask->dtype == CASK_BOOL ? (m = cask_array_retain(mask), CASK_OK)
                                     : cask_binary_scalar(CASK_NOT_EQUAL, mask, 0, 0, &m)) ||
      (rc = cask_full(a->ctx, val->dtype, id, 0, NULL, NULL, &idn)) || (rc = cask_where(m, val, idn, &w)))
    goto done;
  if (op != CASK_MEAN) {
    rc = cask_reduce(op, w, NULL, 0, 0, out);
  } else if (!(rc = cask_reduce(CASK_SUM, w, NULL, 0, 0, &s)) && !(rc = cask_reduce(CASK_SUM, m, NULL, 0, 0, &c)) &&
             !(rc = cask_binary(CASK_DIV, s, c, &q))) {
    rc = cask_astype(q, val->dtype, out); /* float32 stays float32, as NumPy's mean */
  }
  if (!rc) rc = 1;
done:
  cask_array_release(val), cask_array_release(mask), cask_array_release(m), cask_array_release(idn);
  cask_array_release(w), cask_array_release(s), cask_array_release(c), cask_array_release(q);
  return rc;
}
