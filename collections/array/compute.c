/* compute.c - from an array to numbers: lower every block of the array to
 * tasks, optimize the graph (cull, fuse chains, order), run it on the
 * context's runtime, and copy the blocks into the caller's buffer. */
#include <stdio.h>

#include "array-int.h"
#include "dtype.h"


/* Calls fn for every block index of a, in C order. */
static int for_blocks(cask_array *a, int (*fn)(void *, cask_array *, const int64_t *), void *user) {
  int64_t idx[CASK_MAX_NDIM] = {0};
  for (;;) {
    int rc = fn(user, a, idx);
    if (rc) return rc;
    int i = a->ndim - 1;
    for (; i >= 0; i--) {
      if (++idx[i] < cask__nblocks(a, i)) break;
      idx[i] = 0;
    }
    if (i < 0) return CASK_OK;
  }
}

static int lower_output(void *user, cask_array *a, const int64_t *bidx) {
  cask__lower *L = user;
  cask_task_id id;
  int rc = cask__lower_block(L, a, bidx, &id);
  return rc ? rc : cask_graph_set_output(L->g, id, 1);
}

typedef struct into_ctx {
  cask__lower L;
  void *dst;
} into_ctx;

static int lower_into(void *user, cask_array *a, const int64_t *bidx) {
  into_ctx *c = user;
  cask_task_id id;
  int rc = cask__lower_into(&c->L, a, bidx, c->dst, &id);
  return rc ? rc : cask_graph_set_output(c->L.g, id, 1);
}

/* The graph computing a; with dst (and a elementwise) its blocks are
 * written straight into dst. */
static int build_graph(cask_array *a, void *dst, cask_graph **out) {
  cask_ctx *ctx = a->ctx;
  ctx->errmsg[0] = '\0';
  cask_graph *g;
  int rc = cask__check_block_count(1, &a);
  if (rc) return rc;
  rc = cask_graph_new(&g);
  if (rc) return rc;
  into_ctx c = {{g, ctx}, dst};
  rc = dst ? for_blocks(a, lower_into, &c) : for_blocks(a, lower_output, &c.L);
  if (rc && !ctx->errmsg[0]) cask__fail(ctx, rc, "%s", cask_graph_errmsg(g)); /* the graph said why */
  if (!rc && (rc = cask_graph_optimize(g, CASK_OPT_ALL)))
    cask__fail(ctx, rc, "optimizing the graph: %s", cask_graph_errmsg(g));
  if (rc) {
    cask_graph_free(g);
    return rc;
  }
  *out = g;
  return CASK_OK;
}

int cask_array_graph(cask_array *a, cask_graph **out) {
  if (!a || !out) return CASK_EINVAL;
  *out = NULL;
  return build_graph(a, NULL, out);
}

typedef struct copy_ctx {
  cask_graph *g;
  cask_results *res;
  char *dst;
} copy_ctx;

/* Copy one result block into its box of the C-order destination. */
static int copy_block(void *user, cask_array *a, const int64_t *bidx) {
  copy_ctx *c = user;
  char key[512];
  cask__node_block_key(a, bidx, key, sizeof key);
  const cask_block *b = cask_results_get_key(c->res, key);
  if (!b) return cask__fail(a->ctx, CASK_EINVAL, "the result of block %s is missing", key);
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], idx[CASK_MAX_NDIM] = {0};
  cask__block_box(a, bidx, off, ext);
  const char *src = cask_block_data(b);
  size_t w = cask__itemsize(a);
  int64_t total = cask_block_size(b);
  if (total == 0) return CASK_OK;
  int nd = a->ndim;
  int64_t row = nd ? ext[nd - 1] : 1;
  for (int64_t o = 0; o < total; o += row) {
    int64_t flat = 0;
    for (int i = 0; i < nd; i++) flat = flat * a->shape[i] + off[i] + idx[i];
    memcpy(c->dst + (size_t)flat * w, src + (size_t)o * w, (size_t)row * w);
    for (int i = nd - 2; i >= 0; i--) {
      if (++idx[i] < ext[i]) break;
      idx[i] = 0;
    }
  }
  return CASK_OK;
}

int cask_compute(cask_array *a, void *buf, size_t nbytes) {
  if (!a || (!buf && nbytes)) return CASK_EINVAL;
  if (nbytes != (size_t)cask_array_size(a) * cask__itemsize(a)) {
    char s[256];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "compute: an array of shape %s and dtype %s needs %lld bytes, the buffer has %zu",
                      s, cask_dtype_name(a->dtype), (long long)(cask_array_size(a) * (int64_t)cask__itemsize(a)), nbytes);
  }
  cask_graph *g;
  int direct = cask__is_elementwise(a);
  int rc = build_graph(a, direct ? buf : NULL, &g);
  if (rc) return rc;
  cask_results *res;
  if ((rc = cask_run(a->ctx->rt, g, NULL, &res))) {
    cask__fail(a->ctx, rc, "%s", cask_runtime_errmsg(a->ctx->rt));
  } else if (direct) {
    cask_results_free(res);
  } else {
    copy_ctx c = {g, res, buf};
    rc = for_blocks(a, copy_block, &c);
    cask_results_free(res);
  }
  cask_graph_free(g);
  return rc;
}

int cask_compute_scalar(cask_array *a, double *out) {
  if (!a || !out) return CASK_EINVAL;
  if (cask_array_size(a) != 1) {
    char s[256];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "compute_scalar: the array has shape %s, not one element", s);
  }
  _Alignas(8) unsigned char v[8];
  int rc = cask_compute(a, v, cask__itemsize(a));
  if (!rc) cask__cast(out, CASK_F64, v, a->dtype, 1);
  return rc;
}
