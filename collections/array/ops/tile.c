/* tile.c - NumPy's tile and repeat on the existing node kinds. tile joins
 * copies of the array along each axis (when the axis' extent is a multiple
 * of its chunk the output blocks are the input's own blocks: no copy);
 * repeat broadcasts a new unit axis after the repeated one and merges the
 * two, so element i is written repeats times in a row. */
#include "ops.h"

/* Every copy is at least one block, and an array graph holds at most
 * 2^23 tasks (core/array-int.h). */
#define CASK_TILE_MAX_COPIES CASK__MAX_ARRAY_TASKS

/* a joined r times with itself along axis ax. */
static int tile_axis(cask_array *a, int64_t r, int ax, cask_array **out) {
  if (r == 1) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  if (r == 0) { /* an empty selection keeps the dtype and the other axes */
    cask_index idx[CASK_MAX_NDIM];
    for (int i = 0; i < a->ndim; i++) idx[i] = i == ax ? CASK_SLICE(0, 0, 1) : CASK_COLON;
    return cask_slice(a, a->ndim, idx, out);
  }
  cask_array **copies = cask__malloc((size_t)r * sizeof *copies);
  if (!copies) return cask__fail(a->ctx, CASK_ENOMEM, "tile: out of memory");
  for (int64_t k = 0; k < r; k++) copies[k] = a;
  int rc = cask_concatenate((int)r, copies, ax, out);
  cask__free(copies);
  return rc;
}

int cask_tile(cask_array *a, int n, const int64_t *reps, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || n < 0 || (n && !reps)) return CASK_EINVAL;
  int rc0 = cask__need_sizes(a, "tile");
  if (rc0) return rc0;
  int nd = n > a->ndim ? n : a->ndim;
  if (nd > CASK_MAX_NDIM)
    return cask__fail(a->ctx, CASK_ETOOBIG, "tile: %d repetitions for at most %d axes", n, CASK_MAX_NDIM);
  int64_t shape[CASK_MAX_NDIM] = {0}, r[CASK_MAX_NDIM];
  for (int i = 0; i < nd; i++) { /* both aligned at the right, as NumPy pads them with ones */
    int j = i - (nd - a->ndim), k = i - (nd - n);
    shape[i] = j >= 0 ? a->shape[j] : 1;
    r[i] = k >= 0 ? reps[k] : 1;
    if (r[i] < 0)
      return cask__fail(a->ctx, CASK_EINVAL, "tile: repetition %lld along axis %d is negative", (long long)r[i], i);
    if (r[i] && shape[i] > INT64_MAX / 4 / r[i])
      return cask__fail(a->ctx, CASK_EINVAL, "tile: %lld repetitions of an axis of %lld are too many elements",
                        (long long)r[i], (long long)shape[i]);
  }
  int empty = 0;
  for (int i = 0; i < nd; i++) empty |= shape[i] * r[i] == 0;
  if (empty) { /* nothing to copy, however many copies */
    int64_t rs[CASK_MAX_NDIM];
    for (int i = 0; i < nd; i++) rs[i] = shape[i] * r[i];
    return cask_zeros(a->ctx, a->dtype, nd, rs, NULL, out);
  }
  for (int i = 0; i < nd; i++)
    if (r[i] > CASK_TILE_MAX_COPIES)
      return cask__fail(a->ctx, CASK_ETOOBIG, "tile: %lld copies along axis %d, more than 2^23 (each is a block at least)",
                        (long long)r[i], i);
  cask_array *cur;
  int rc = cask_reshape(a, nd, shape, &cur);
  for (int i = 0; i < nd && !rc; i++) {
    cask_array *next;
    rc = tile_axis(cur, r[i], i, &next);
    cask_array_release(cur);
    cur = rc ? NULL : next;
  }
  if (!rc) *out = cur;
  return rc;
}

int cask_repeat(cask_array *a, int64_t repeats, const int *axis, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if (repeats < 0) return cask__fail(a->ctx, CASK_EINVAL, "repeat: repeats is %lld, negative", (long long)repeats);
  int rc0 = cask__need_sizes(a, "repeat");
  if (rc0) return rc0;
  cask_array *x;
  int ax = 0, rc = axis ? cask__axis(a, "repeat", *axis, a->ndim, &ax) : CASK_OK;
  if (rc) return rc;
  if (!axis) rc = cask_reshape(a, 1, (int64_t[]){-1}, &x); /* None: flattened first */
  else x = cask_array_retain(a);
  if (rc) return rc;
  if (repeats && x->ndim && x->shape[ax] > INT64_MAX / repeats) {
    cask_array_release(x);
    return cask__fail(a->ctx, CASK_EINVAL, "repeat: %lld repeats of an axis of %lld are too many elements",
                      (long long)repeats, (long long)a->shape[ax]);
  }
  if (x->ndim + 1 > CASK_MAX_NDIM) {
    cask_array_release(x);
    return cask__fail(a->ctx, CASK_ETOOBIG, "repeat: %d axes are too many", a->ndim);
  }
  int64_t wide[CASK_MAX_NDIM], shape[CASK_MAX_NDIM];
  for (int i = 0, j = 0; i <= x->ndim; i++) wide[i] = i == ax + 1 ? repeats : x->shape[j++];
  for (int i = 0; i < x->ndim; i++) shape[i] = i == ax ? x->shape[i] * repeats : x->shape[i];
  cask_array *e = NULL, *b = NULL;
  int nax = ax + 1;
  rc = cask_expand_dims(x, 1, &nax, &e);
  if (!rc) rc = cask_broadcast_to(e, x->ndim + 1, wide, &b);
  if (!rc) rc = cask_reshape(b, x->ndim, shape, out);
  cask_array_release(x);
  cask_array_release(e);
  cask_array_release(b);
  return rc;
}
