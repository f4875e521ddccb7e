/* transpose.c - cask_transpose: axes permuted. Block (i, j) of x.T is
 * block (j, i) of x transposed: one array.transpose task per block (a
 * cache-blocked copy).
 * The one thing to know: like a slice, a transpose is pushed down first: of
 * a source it is another source (strides permuted, no task at all), of an
 * elementwise operation the same operation over transposed operands (an
 * operand of fewer axes is first given the missing leading axes of extent
 * 1, which broadcasting implied), of a transpose one transpose. */
#include <stdio.h>

#include "boxcopy.h"

typedef struct transpose_ext {
  int32_t perm[CASK_MAX_NDIM];
} transpose_ext;

static int transpose_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                           cask_task_id *out) {
  const transpose_ext *e = a->ext;
  int64_t ib[CASK_MAX_NDIM];
  int perm[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    perm[i] = e->perm[i];
    ib[perm[i]] = bidx[i];
  }
  return cask__lower_transpose_block(L, key, a->in[0], ib, perm, out);
}

static const cask__node_class transpose_class = {.name = "transpose", .lower = transpose_lower};

static int is_identity(int nd, const int *perm) {
  for (int i = 0; i < nd; i++)
    if (perm[i] != i) return 0;
  return 1;
}

/* a with nd - a->ndim leading axes of extent 1 (no copy). */
static int expand(cask_array *a, int nd, cask_array **out) {
  int64_t shape[CASK_MAX_NDIM];
  int lead = nd - a->ndim;
  for (int i = 0; i < nd; i++) shape[i] = i < lead ? 1 : a->shape[i - lead];
  return cask_reshape(a, nd, shape, out);
}

static int transpose_node(cask_array *a, const int *perm, cask_array **out) {
  transpose_ext *e = cask__calloc(1, sizeof *e);
  if (!e) return cask__fail(a->ctx, CASK_ENOMEM, "transpose: out of memory");
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    e->perm[i] = perm[i];
    shape[i] = a->shape[perm[i]];
    chunk[i] = a->chunk[perm[i]];
  }
  int rc = cask__node_new_ext(a->ctx, &transpose_class, e, a->dtype, a->ndim, shape, chunk, 1, &a, out);
  if (!rc) cask__node_seal(*out, e, sizeof *e);
  return rc;
}

/* A source with its view's axes (after nd - ndim leading unit axes, of
 * stride 0) permuted. */
static int transpose_source(cask_array *a, int nd, const int *perm, cask_array **out) {
  int64_t es[CASK_MAX_NDIM], ec[CASK_MAX_NDIM], ef[CASK_MAX_NDIM];
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM], fstride[CASK_MAX_NDIM];
  int lead = nd - a->ndim;
  for (int i = 0; i < nd; i++) {
    es[i] = i < lead ? 1 : a->shape[i - lead];
    ec[i] = i < lead ? 1 : a->chunk[i - lead];
    ef[i] = i < lead ? 0 : a->p.source.fstride[i - lead];
  }
  for (int i = 0; i < nd; i++) {
    shape[i] = es[perm[i]];
    chunk[i] = ec[perm[i]];
    fstride[i] = ef[perm[i]];
  }
  return cask__source_view(a, nd, shape, chunk, a->p.source.base, fstride, out);
}

static int transpose_nd(cask__memo *m, cask_array *a, int nd, const int *perm, cask_array **out);

static int transpose_elementwise(cask__memo *m, cask_array *a, int nd, const int *perm,
                                 cask_array **out) {
  int32_t key[CASK_MAX_NDIM + 1] = {nd};
  for (int i = 0; i < nd; i++) key[i + 1] = perm[i];
  cask_array *done = cask__memo_get(m, a, key, sizeof key);
  if (done) {
    *out = cask_array_retain(done);
    return CASK_OK;
  }
  cask_array *x[3] = {NULL, NULL, NULL};
  int rc = CASK_OK;
  for (int k = 0; k < a->nin && !rc; k++) rc = transpose_nd(m, a->in[k], nd, perm, &x[k]);
  if (!rc) rc = cask__elementwise_like(a, x, out);
  for (int k = 0; k < 3; k++) cask_array_release(x[k]);
  if (!rc && (rc = cask__memo_put(m, a, key, sizeof key, *out))) {
    cask_array_release(*out);
    *out = NULL;
  }
  return rc;
}

/* a, seen with nd axes (leading ones of extent 1 added), permuted. */
static int transpose_nd(cask__memo *m, cask_array *a, int nd, const int *perm, cask_array **out) {
  if (cask__is_source(a)) return transpose_source(a, nd, perm, out);
  if (cask__is_elementwise(a)) return transpose_elementwise(m, a, nd, perm, out);
  if (a->ndim < nd) {
    cask_array *e;
    int rc = expand(a, nd, &e);
    if (rc) return rc;
    rc = transpose_nd(m, e, nd, perm, out);
    cask_array_release(e);
    return rc;
  }
  if (is_identity(nd, perm)) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  if (a->kind == CASK__NODE_EXT && a->cls == &transpose_class) { /* x.T.T is x */
    const transpose_ext *e = a->ext;
    int q[CASK_MAX_NDIM];
    for (int i = 0; i < nd; i++) q[i] = e->perm[perm[i]];
    return transpose_nd(m, a->in[0], nd, q, out);
  }
  return transpose_node(a, perm, out);
}

int cask_transpose(cask_array *a, const int *perm, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if (a->unknown) return cask__need_sizes(a, "transpose");
  int p[CASK_MAX_NDIM], nd = a->ndim;
  uint32_t seen = 0;
  for (int i = 0; i < nd; i++) {
    int v = perm ? perm[i] : nd - 1 - i;
    int ax = v < 0 ? v + nd : v;
    if (ax < 0 || ax >= nd || (seen >> ax & 1)) {
      char s[CASK_MAX_NDIM * 22 + 4];
      cask__shape_str(s, sizeof s, nd, a->shape);
      return cask__fail(a->ctx, CASK_EINVAL, "transpose: perm[%d] = %d %s for an array of %d axes (shape %s)",
                        i, v, ax < 0 || ax >= nd ? "is out of range" : "repeats an axis", nd, s);
    }
    seen |= 1u << ax;
    p[i] = ax;
  }
  if (is_identity(nd, p)) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  cask__memo m = {NULL, 0, 0};
  int rc = transpose_nd(&m, a, nd, p, out);
  cask__memo_free(&m);
  return rc;
}
