/* reshape.c - cask_reshape: the same elements in C order under another
 * shape, block by block and without copying.
 * The axes of both shapes (leaving out those of extent 1) fall into groups
 * of equal size: (6, 4, 5) -> (24, 5) is {6, 4} -> {24} and {5} -> {5}.
 * Within a group, a block of the input is a contiguous run of the group's
 * C order exactly when the group's inner input axes are whole (one chunk);
 * it is then a block of the output when the run also covers whole inner
 * output axes, i.e. when the outer input chunk times the inner input size
 * is a multiple of the inner output size. Where the input's chunks break
 * that rule the input is rechunked first (dask.array's reshape_rechunk,
 * generalized to groups of several axes on both sides); the outer chunk
 * shrinks as the inner axes grow whole, to keep the blocks' size.
 * The one thing to know: output block i is input block i's memory under
 * another shape (array.reshape wraps it and holds the input block); a
 * source reshapes to another source view where its strides allow (always
 * for a fresh source). */
#include <stdio.h>

#include "boxcopy.h"

typedef struct reshape_ext {
  int32_t from[CASK_MAX_NDIM]; /* per input axis: the output axis whose block
                                  index it takes, or -1 (block 0) */
} reshape_ext;

static int reshape_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                         cask_task_id *out) {
  const reshape_ext *e = a->ext;
  cask_array *in = a->in[0];
  int64_t ib[CASK_MAX_NDIM], off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
  for (int i = 0; i < in->ndim; i++) ib[i] = e->from[i] >= 0 ? bidx[e->from[i]] : 0;
  cask__block_box(a, bidx, off, ext);
  cask_task_id dep;
  int rc = cask__lower_block(L, in, ib, &dep);
  return rc ? rc : cask__lower_reshape_block(L, key, dep, a->ndim, ext, out);
}

/* unknown_ok: cask__expand_unknown's nodes (axes of extent 1 added to an
 * array of unknown lengths); cask_reshape itself refuses such inputs. */
static const cask__node_class reshape_class = {.name = "reshape", .lower = reshape_lower, .unknown_ok = 1};

/* ---- the grid ------------------------------------------------------------ */

typedef struct grid {
  int64_t in_chunk[CASK_MAX_NDIM];  /* what the input must be chunked as */
  int64_t out_chunk[CASK_MAX_NDIM];
  int32_t from[CASK_MAX_NDIM];      /* reshape_ext.from */
} grid;

static int64_t gcd(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* One group: input axes ia[0..ni-1] and output axes oa[0..no-1] (extents
 * above 1, in order) holding the same number of elements. */
static void plan_group(const cask_array *a, const int64_t *oshape, const int *ia, int ni,
                       const int *oa, int no, grid *g) {
  int64_t pin = 1, pout = 1, nbin = 1;
  int whole = 1;
  for (int k = 1; k < ni; k++) {
    pin *= a->shape[ia[k]];
    nbin *= cask__nblocks(a, ia[k]);
    whole &= a->chunk[ia[k]] >= a->shape[ia[k]];
    g->in_chunk[ia[k]] = a->shape[ia[k]];
  }
  for (int k = 1; k < no; k++) {
    pout *= oshape[oa[k]];
    g->out_chunk[oa[k]] = oshape[oa[k]];
  }
  /* A run of c outer input rows is whole output rows when c * pin is a
   * multiple of pout, i.e. c a multiple of q. */
  int64_t q = pout / gcd(pin, pout), s0 = a->shape[ia[0]], c = a->chunk[ia[0]];
  if (!whole || (c % q && c < s0)) {
    c = c / nbin; /* about the same block size once the inner axes are whole */
    c = c / q * q;
    if (c < q) c = q;
  }
  if (c > s0) c = s0;
  g->in_chunk[ia[0]] = c;
  g->out_chunk[oa[0]] = c == s0 ? oshape[oa[0]] : c * pin / pout;
  g->from[ia[0]] = oa[0];
}

/* The groups of a -> oshape (sizes equal and non-zero). */
static void plan_grid(const cask_array *a, int ond, const int64_t *oshape, grid *g) {
  int ia[CASK_MAX_NDIM], oa[CASK_MAX_NDIM], ni = 0, no = 0;
  memset(g, 0, sizeof *g);
  for (int i = 0; i < CASK_MAX_NDIM; i++) g->from[i] = -1; /* hashed: all of it set */
  for (int i = 0; i < a->ndim; i++) {
    g->in_chunk[i] = a->chunk[i];
    if (a->shape[i] != 1) ia[ni++] = i;
  }
  for (int i = 0; i < ond; i++) {
    g->out_chunk[i] = 1;
    if (oshape[i] != 1) oa[no++] = i;
  }
  for (int i = 0, o = 0; i < ni && o < no;) {
    int i1 = i + 1, o1 = o + 1;
    int64_t pi = a->shape[ia[i]], po = oshape[oa[o]];
    while (pi != po) {
      if (pi < po) pi *= a->shape[ia[i1++]];
      else po *= oshape[oa[o1++]];
    }
    plan_group(a, oshape, ia + i, i1 - i, oa + o, o1 - o, g);
    i = i1;
    o = o1;
  }
}

/* ---- sources ------------------------------------------------------------- */

/* The flat strides of a source seen with shape oshape, if its view allows
 * (NumPy's no-copy reshape rule: within a group the input axes must be
 * nested, each stride the next one's times its extent). */
static int source_strides(const cask_array *a, int ond, const int64_t *oshape, int64_t *fs) {
  const int64_t *st = a->p.source.fstride;
  int ia[CASK_MAX_NDIM], oa[CASK_MAX_NDIM], ni = 0, no = 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != 1) ia[ni++] = i;
  for (int i = 0; i < ond; i++) {
    fs[i] = 0;
    if (oshape[i] != 1) oa[no++] = i;
  }
  for (int i = 0, o = 0; i < ni && o < no;) {
    int i1 = i + 1, o1 = o + 1;
    int64_t pi = a->shape[ia[i]], po = oshape[oa[o]];
    while (pi != po) {
      if (pi < po) pi *= a->shape[ia[i1++]];
      else po *= oshape[oa[o1++]];
    }
    for (int k = i; k + 1 < i1; k++)
      if (st[ia[k]] != st[ia[k + 1]] * a->shape[ia[k + 1]]) return 0;
    int64_t s = st[ia[i1 - 1]];
    for (int k = o1 - 1; k >= o; k--) {
      fs[oa[k]] = s;
      s *= oshape[oa[k]];
    }
    i = i1;
    o = o1;
  }
  return 1;
}

/* ---- the public call ------------------------------------------------------ */

static int size_error(const cask_array *a, int ndim, const int64_t *shape, const char *why) {
  char s[CASK_MAX_NDIM * 22 + 4], t[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  cask__shape_str(t, sizeof t, ndim, shape);
  return cask__fail(a->ctx, CASK_EINVAL, "reshape: cannot reshape an array of shape %s (%lld elements) into shape %s: %s",
                    s, (long long)cask_array_size(a), t, why);
}

/* shape with its -1 replaced, checked against a's size. */
static int infer(const cask_array *a, int ndim, const int64_t *shape, int64_t *out) {
  int unknown = -1;
  int64_t known = 1;
  for (int i = 0; i < ndim; i++) {
    out[i] = shape[i];
    if (shape[i] == -1 && unknown < 0) unknown = i;
    else if (shape[i] < 0) return size_error(a, ndim, shape, "an extent is negative (one -1 is allowed)");
    else if (shape[i] && known > INT64_MAX / shape[i]) return size_error(a, ndim, shape, "too many elements");
    else known *= shape[i];
  }
  int64_t n = cask_array_size(a);
  if (unknown >= 0) {
    if (known == 0 || n % known) return size_error(a, ndim, shape, "the -1 cannot be inferred");
    out[unknown] = n / known;
    known = n;
  }
  return known == n ? CASK_OK : size_error(a, ndim, shape, "the sizes differ");
}

/* a with axes of extent 1 where mask has bits (nd axes in all), for a of
 * unknown lengths: block i of the output is block i of a under its shape
 * with ones added (array.reshape takes the unknown extent from the block). */
int cask__expand_unknown(cask_array *a, int nd, uint32_t mask, cask_array **out) {
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  reshape_ext *e = cask__calloc(1, sizeof *e);
  if (!e) return cask__fail(a->ctx, CASK_ENOMEM, "expand_dims: out of memory");
  for (int i = 0, j = 0; i < nd; i++) {
    if ((mask >> i) & 1) {
      shape[i] = chunk[i] = 1;
      continue;
    }
    e->from[j] = i;
    shape[i] = a->shape[j], chunk[i] = a->chunk[j++];
  }
  int rc = cask__node_new_ext(a->ctx, &reshape_class, e, a->dtype, nd, shape, chunk, 1, &a, out);
  if (rc) return rc;
  for (int i = 0, j = 0; i < nd; i++)
    if (!((mask >> i) & 1)) {
      if (a->unknown & (1u << j)) cask__set_unknown(*out, i, a->ublocks[j], a->ukey[j]);
      j++;
    }
  cask__node_seal(*out, e, sizeof *e);
  return CASK_OK;
}

int cask_reshape(cask_array *a, int ndim, const int64_t *shape, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || ndim < 0 || ndim > CASK_MAX_NDIM || (ndim && !shape)) return CASK_EINVAL;
  if (a->unknown) return cask__need_sizes(a, "reshape");
  int64_t os[CASK_MAX_NDIM];
  int rc = infer(a, ndim, shape, os);
  if (rc) return rc;
  if (ndim == a->ndim && !memcmp(os, a->shape, sizeof os[0] * (size_t)ndim)) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  if (cask_array_size(a) == 0) /* no element to carry over */
    return cask_empty(a->ctx, a->dtype, ndim, os, NULL, out);
  grid g;
  plan_grid(a, ndim, os, &g);
  int64_t fs[CASK_MAX_NDIM];
  if (cask__is_source(a) && source_strides(a, ndim, os, fs))
    return cask__source_view(a, ndim, os, g.out_chunk, a->p.source.base, fs, out);
  cask_array *r;
  if ((rc = cask_rechunk(a, g.in_chunk, &r))) return rc;
  reshape_ext *e = cask__calloc(1, sizeof *e);
  if (!e) rc = cask__fail(a->ctx, CASK_ENOMEM, "reshape: out of memory");
  else {
    memcpy(e->from, g.from, sizeof e->from);
    rc = cask__node_new_ext(a->ctx, &reshape_class, e, a->dtype, ndim, os, g.out_chunk, 1, &r, out);
    if (!rc) cask__node_seal(*out, e, sizeof *e);
  }
  cask_array_release(r);
  return rc;
}
