/* pad.c - NumPy's pad: one axis after the other, each padded by joining
 * pieces before and after it (constants, the edge broadcast, or slices of
 * the array itself, flipped for reflect and symmetric). Where a pad is
 * wider than what can be reflected or wrapped, NumPy pads again from the
 * array padded so far, as many rounds as it takes; so does this, round by
 * round, so the values are NumPy's for any width. */
#include "ops.h"

/* a[.., lo:hi, ..] along ax, flipped when flip. */
static int piece(cask_array *a, int ax, int64_t lo, int64_t hi, int flip, cask_array **out) {
  cask_index idx[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) idx[i] = CASK_COLON;
  /* (hi - 1 down to lo; an empty one as lo:lo, since a stop of -1 would count from the end) */
  idx[ax] = flip && hi > lo ? CASK_SLICE(hi - 1, lo ? lo - 1 : CASK_NONE, -1) : CASK_SLICE(lo, hi, 1);
  return cask_slice(a, a->ndim, idx, out);
}

/* w elements along ax: the constant, or a's edge slice stretched. */
static int fill(cask_array *a, int ax, int64_t w, cask_pad_mode mode, int64_t at, double value, cask_array **out) {
  int64_t shape[CASK_MAX_NDIM];
  memcpy(shape, a->shape, sizeof shape[0] * (size_t)a->ndim);
  shape[ax] = w;
  if (mode == CASK_PAD_CONSTANT) return cask_full(a->ctx, a->dtype, value, a->ndim, shape, a->chunk, out);
  cask_array *edge;
  int rc = piece(a, ax, at, at + 1, 0, &edge);
  if (rc) return rc;
  rc = cask_broadcast_to(edge, a->ndim, shape, out);
  cask_array_release(edge);
  return rc;
}

/* One round of reflect, symmetric or wrap: the pieces before (*lo) and
 * after (*hi) the array cur, at most what cur holds; the widths left to
 * pad go down by their extents. */
static int round_pieces(cask_array *cur, int ax, cask_pad_mode mode, int64_t *left, int64_t *right, cask_array **lo,
                        cask_array **hi) {
  int64_t n = cur->shape[ax], avail = mode == CASK_PAD_REFLECT ? n - 1 : n;
  int64_t wl = *left < avail ? *left : avail, wr = *right < avail ? *right : avail;
  int rc;
  if (mode == CASK_PAD_WRAP) {
    rc = piece(cur, ax, n - wl, n, 0, lo);
    if (!rc) rc = piece(cur, ax, 0, wr, 0, hi);
  } else {
    int64_t skip = mode == CASK_PAD_REFLECT; /* reflect leaves the edge out */
    rc = piece(cur, ax, skip, skip + wl, 1, lo);
    if (!rc) rc = piece(cur, ax, n - skip - wr, n - skip, 1, hi);
  }
  *left -= wl;
  *right -= wr;
  return rc;
}

static int pad_axis(cask_array *a, int ax, int64_t before, int64_t after, cask_pad_mode mode, double value,
                    cask_array **out) {
  cask_array *cur = cask_array_retain(a);
  /* NumPy pads a singleton axis with its edge under reflect and symmetric */
  if (a->shape[ax] == 1 && (mode == CASK_PAD_REFLECT || mode == CASK_PAD_SYMMETRIC)) mode = CASK_PAD_EDGE;
  int rc = CASK_OK;
  while (!rc && (before > 0 || after > 0)) {
    cask_array *p[3] = {NULL, cur, NULL};
    if (mode == CASK_PAD_CONSTANT || mode == CASK_PAD_EDGE) {
      rc = fill(cur, ax, before, mode, 0, value, &p[0]);
      if (!rc) rc = fill(cur, ax, after, mode, cur->shape[ax] - 1, value, &p[2]);
      before = after = 0;
    } else {
      rc = round_pieces(cur, ax, mode, &before, &after, &p[0], &p[2]);
    }
    cask_array *next = NULL;
    if (!rc) rc = cask_concatenate(3, p, ax, &next);
    cask_array_release(p[0]);
    cask_array_release(p[2]);
    cask_array_release(cur);
    cur = next;
  }
  *out = cur;
  return rc;
}

int cask_pad(cask_array *a, const int64_t *before, const int64_t *after, cask_pad_mode mode, double value,
             cask_array **out) {
  static const char *const names[] = {"constant", "edge", "reflect", "symmetric", "wrap"};
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || (a->ndim && (!before || !after))) return CASK_EINVAL;
  if ((unsigned)mode > CASK_PAD_WRAP)
    return cask__fail(a->ctx, CASK_EINVAL, "pad: mode %d is not a pad mode", (int)mode);
  int rc0 = cask__need_sizes(a, "pad"); /* the widths add to the axes' lengths */
  if (rc0) return rc0;
  for (int i = 0; i < a->ndim; i++) {
    if (before[i] < 0 || after[i] < 0)
      return cask__fail(a->ctx, CASK_EINVAL, "pad: the widths of axis %d, (%lld, %lld), must not be negative", i,
                        (long long)before[i], (long long)after[i]);
    if (before[i] > INT64_MAX / 4 - a->shape[i] || after[i] > INT64_MAX / 4 - a->shape[i] - before[i])
      return cask__fail(a->ctx, CASK_EINVAL, "pad: the widths of axis %d are too large", i);
    if (mode != CASK_PAD_CONSTANT && a->shape[i] == 0 && (before[i] || after[i])) {
      char s[CASK_MAX_NDIM * 22 + 4];
      cask__shape_str(s, sizeof s, a->ndim, a->shape);
      return cask__fail(a->ctx, CASK_EINVAL, "pad: axis %d of shape %s is empty: mode '%s' cannot extend it", i, s,
                        names[mode]);
    }
  }
  cask_array *cur = cask_array_retain(a);
  for (int i = 0; i < a->ndim; i++) {
    cask_array *next;
    int rc = pad_axis(cur, i, before[i], after[i], mode, value, &next);
    cask_array_release(cur);
    if (rc) return rc;
    cur = next;
  }
  *out = cur;
  return CASK_OK;
}
