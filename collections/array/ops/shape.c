/* shape.c - NumPy's shape functions built on the existing node kinds, so
 * they lower block by block like everything else and add no op of their
 * own: flip (a slice with step -1), roll (two slices concatenated),
 * squeeze and expand_dims (reshapes by unit axes), moveaxis and swapaxes
 * (transposes), broadcast_to (a where() over a constant true mask, which
 * the fused kernel computes without reading memory; stretched axes are
 * chunked to keep blocks under the context's chunk_bytes). Each checks its
 * arguments before building anything and names itself and the shape. */
#include <stdio.h>

#include "ops.h"

int cask__axis(const cask_array *a, const char *fn, int64_t axis, int ndim, int *out) {
  if (axis < -ndim || axis >= ndim) {
    char s[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "%s: axis %lld is out of bounds for %d axes (the array's shape is %s)", fn,
                      (long long)axis, ndim, s);
  }
  *out = (int)(axis < 0 ? axis + ndim : axis);
  return CASK_OK;
}

int cask__axes(const cask_array *a, const char *fn, int n, const int *axes, int ndim, int *out, uint32_t *mask) {
  *mask = 0;
  if (n < 0 || n > ndim) return cask__fail(a->ctx, CASK_EINVAL, "%s: %d axes given for %d", fn, n, ndim);
  for (int k = 0; k < n; k++) {
    int rc = cask__axis(a, fn, axes[k], ndim, &out[k]);
    if (rc) return rc;
    if (*mask & (1u << out[k])) return cask__fail(a->ctx, CASK_EINVAL, "%s: axis %d is repeated", fn, axes[k]);
    *mask |= 1u << out[k];
  }
  return CASK_OK;
}

int cask_flip(cask_array *a, int naxes, const int *axes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || (naxes && !axes)) return CASK_EINVAL;
  int ax[CASK_MAX_NDIM];
  uint32_t mask = naxes ? 0 : (1u << a->ndim) - 1;
  int rc = naxes ? cask__axes(a, "flip", naxes, axes, a->ndim, ax, &mask) : CASK_OK;
  if (rc || (rc = cask__need_sizes(a, "flip"))) return rc;
  cask_index idx[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) idx[i] = (mask >> i) & 1 ? CASK_SLICE(CASK_NONE, CASK_NONE, -1) : CASK_COLON;
  return cask_slice(a, a->ndim, idx, out);
}

/* a[.., s:, ..] and a[.., :s, ..] joined the other way round. */
static int roll_axis(cask_array *a, int64_t shift, int ax, cask_array **out) {
  int64_t n = a->shape[ax], s = n ? ((shift % n) + n) % n : 0;
  if (!s) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  cask_index idx[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) idx[i] = CASK_COLON;
  cask_array *part[2] = {NULL, NULL};
  idx[ax] = CASK_SLICE(n - s, CASK_NONE, 1);
  int rc = cask_slice(a, a->ndim, idx, &part[0]);
  idx[ax] = CASK_SLICE(CASK_NONE, n - s, 1);
  if (!rc) rc = cask_slice(a, a->ndim, idx, &part[1]);
  if (!rc) rc = cask_concatenate(2, part, ax, out);
  cask_array_release(part[0]);
  cask_array_release(part[1]);
  return rc;
}

int cask_roll(cask_array *a, int n, const int64_t *shifts, const int *axes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || n < 1 || !shifts) return CASK_EINVAL;
  int rc0 = cask__need_sizes(a, "roll"); /* the shift wraps at the axis' length */
  if (rc0) return rc0;
  if (!axes) { /* flattened, rolled, and given its shape back */
    if (n != 1) return cask__fail(a->ctx, CASK_EINVAL, "roll: without axes, one shift (got %d)", n);
    cask_array *flat, *r = NULL;
    int rc = cask_reshape(a, 1, (int64_t[]){-1}, &flat);
    if (rc) return rc;
    rc = roll_axis(flat, shifts[0], 0, &r);
    if (!rc) rc = cask_reshape(r, a->ndim, a->shape, out);
    cask_array_release(flat);
    cask_array_release(r);
    return rc;
  }
  int ax[CASK_MAX_NDIM * 4];
  if (n > CASK_MAX_NDIM * 4) return cask__fail(a->ctx, CASK_EINVAL, "roll: %d shifts is too many", n);
  for (int k = 0; k < n; k++) { /* an axis may repeat: its shifts add up, as in NumPy */
    int rc = cask__axis(a, "roll", axes[k], a->ndim, &ax[k]);
    if (rc) return rc;
  }
  cask_array *cur = cask_array_retain(a);
  for (int k = 0; k < n; k++) {
    cask_array *next;
    int rc = roll_axis(cur, shifts[k], ax[k], &next);
    cask_array_release(cur);
    if (rc) return rc;
    cur = next;
  }
  *out = cur;
  return CASK_OK;
}

int cask_squeeze(cask_array *a, int naxes, const int *axes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || (naxes && !axes)) return CASK_EINVAL;
  int ax[CASK_MAX_NDIM];
  uint32_t mask = 0;
  int rc = cask__axes(a, "squeeze", naxes, axes, a->ndim, ax, &mask);
  if (rc || (rc = cask__need_sizes(a, "squeeze"))) return rc;
  int64_t shape[CASK_MAX_NDIM];
  int nd = 0;
  for (int i = 0; i < a->ndim; i++) {
    int drop = naxes ? (int)((mask >> i) & 1) : a->shape[i] == 1;
    if (drop && a->shape[i] != 1) {
      char s[CASK_MAX_NDIM * 22 + 4];
      cask__shape_str(s, sizeof s, a->ndim, a->shape);
      return cask__fail(a->ctx, CASK_EINVAL, "squeeze: axis %d of shape %s has extent %lld, not 1", i, s,
                        (long long)a->shape[i]);
    }
    if (!drop) shape[nd++] = a->shape[i];
  }
  return cask_reshape(a, nd, shape, out);
}

int cask_expand_dims(cask_array *a, int naxes, const int *axes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || naxes < 0 || (naxes && !axes)) return CASK_EINVAL;
  int nd = a->ndim + naxes, ax[CASK_MAX_NDIM];
  if (nd > CASK_MAX_NDIM)
    return cask__fail(a->ctx, CASK_ETOOBIG, "expand_dims: %d axes and %d new ones are more than %d", a->ndim, naxes,
                      CASK_MAX_NDIM);
  uint32_t mask;
  int rc = cask__axes(a, "expand_dims", naxes, axes, nd, ax, &mask);
  if (rc) return rc;
  int64_t shape[CASK_MAX_NDIM];
  if (a->unknown) return cask__expand_unknown(a, nd, mask, out); /* keepdims of a selection's reduction */
  for (int i = 0, j = 0; i < nd; i++) shape[i] = (mask >> i) & 1 ? 1 : a->shape[j++];
  return cask_reshape(a, nd, shape, out);
}

int cask_moveaxis(cask_array *a, int n, const int *source, const int *destination, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || n < 0 || (n && (!source || !destination))) return CASK_EINVAL;
  int src[CASK_MAX_NDIM], dst[CASK_MAX_NDIM], perm[CASK_MAX_NDIM], nd = a->ndim;
  uint32_t smask, dmask;
  int rc = cask__axes(a, "moveaxis", n, source, nd, src, &smask);
  if (!rc) rc = cask__axes(a, "moveaxis", n, destination, nd, dst, &dmask);
  if (rc) return rc;
  /* NumPy's order: the axes not moved keep their order in the free slots */
  for (int k = 0; k < n; k++) perm[dst[k]] = src[k];
  for (int i = 0, j = 0; i < nd; i++) {
    if ((dmask >> i) & 1) continue;
    while ((smask >> j) & 1) j++;
    perm[i] = j++;
  }
  return cask_transpose(a, perm, out);
}

int cask_swapaxes(cask_array *a, int axis1, int axis2, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  int i = 0, j = 0, perm[CASK_MAX_NDIM]; /* set by cask__axis (gcc cannot see it) */
  int rc = cask__axis(a, "swapaxes", axis1, a->ndim, &i);
  if (!rc) rc = cask__axis(a, "swapaxes", axis2, a->ndim, &j);
  if (rc) return rc;
  for (int k = 0; k < a->ndim; k++) perm[k] = k;
  perm[i] = j;
  perm[j] = i;
  return cask_transpose(a, perm, out);
}

int cask_broadcast_to(cask_array *a, int ndim, const int64_t *shape, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || ndim < 0 || ndim > CASK_MAX_NDIM || (ndim && !shape)) return CASK_EINVAL;
  if (a->unknown) return cask__need_sizes(a, "broadcast_to");
  int lead = ndim - a->ndim, ok = lead >= 0;
  int64_t chunk[CASK_MAX_NDIM], block = (int64_t)cask__itemsize(a);
  for (int i = 0; i < ndim && ok; i++) {
    int j = i - lead;
    ok = shape[i] >= 0 && (j < 0 || a->shape[j] == shape[i] || a->shape[j] == 1);
    chunk[i] = j >= 0 && a->shape[j] == shape[i] ? a->chunk[j] : -1;
    if (ok && chunk[i] > 0) block *= chunk[i];
  }
  /* a's chunks where it spans the axis; where it is stretched, as much of
   * the axis as keeps a block under chunk_bytes (Dask takes the whole axis,
   * which makes one huge block of a large broadcast) */
  for (int i = 0; i < ndim && ok; i++) {
    if (chunk[i] >= 0) continue;
    int64_t room = a->ctx->chunk_bytes / (block ? block : 1);
    chunk[i] = room < 1 ? 1 : room < shape[i] ? room : shape[i] ? shape[i] : 1;
    block *= chunk[i];
  }
  if (!ok) {
    char s[CASK_MAX_NDIM * 22 + 4], t[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    cask__shape_str(t, sizeof t, ndim, shape);
    return cask__fail(a->ctx, CASK_EINVAL, "broadcast_to: cannot broadcast shape %s to %s", s, t);
  }
  if (ndim == a->ndim && !memcmp(shape, a->shape, sizeof shape[0] * (size_t)ndim)) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  cask_array *mask;
  int rc = cask_full(a->ctx, CASK_BOOL, 1, ndim, shape, chunk, &mask);
  if (rc) return rc;
  rc = cask_where(mask, a, a, out);
  cask_array_release(mask);
  return rc;
}
