/* einsum.c - NumPy's einsum over chunked arrays, built of existing nodes.
 * The subscripts are parsed and checked against the operands first (every
 * error names einsum, the subscripts and the shapes). Then:
 *   1. a label repeated within one operand takes its diagonal: where(eye,
 *      x, 0) summed over the second axis (each sum has one nonzero term,
 *      so the values are exact);
 *   2. two operands whose contraction is a matrix product (every label in
 *      both is summed, every other label is kept, at most 2-d each side and
 *      in the result) go to cask_tensordot: one gemm per block pair;
 *   3. anything else is one elementwise product of the operands, each
 *      transposed to a common label order and given size-1 axes for the
 *      labels it lacks (broadcasting), summed over the labels not in the
 *      output: the reduction's partials evaluate the fused product piece by
 *      piece, so 'ij,ij->i' never holds a product block.
 * The one thing to know: results keep NumPy's dtype (the operands'
 * promotion): integer sums, which cask's sum widens to int64, are narrowed
 * back (the same wrapping as NumPy's), bool sums become "any". */
#include <stdio.h>
#include <string.h>

#include "ops.h"

#define MAX_OPERANDS 8

typedef struct spec {
  int n;
  char in[MAX_OPERANDS][CASK_MAX_NDIM + 1]; /* each operand's labels */
  char out[64];                             /* the output's labels */
} spec;

static void describe(char *buf, size_t cap, const char *subs, int n, cask_array *const *ops) {
  size_t off = (size_t)snprintf(buf, cap, "'%.100s' with shapes ", subs);
  for (int k = 0; k < n && off < cap; k++) {
    char s[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, ops[k]->ndim, ops[k]->shape);
    off += (size_t)snprintf(buf + off, cap - off, "%s%s", k ? ", " : "", s);
  }
}

static int is_label(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Parse and check subs against the operands into sp; the extent of each
 * label into ext (indexed by character). */
static int parse(cask_ctx *ctx, const char *subs, int n, cask_array *const *ops, spec *sp, int64_t *ext) {
  char d[600];
  describe(d, sizeof d, subs, n, ops);
  memset(sp, 0, sizeof *sp);
  const char *p = subs;
  int k = 0, len = 0, explicit_out = 0;
  for (int c = 0; c < 128; c++) ext[c] = -1;
  for (;; p++) {
    if (*p == ' ') continue;
    if (is_label(*p)) {
      if (k >= n) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: more operands in the subscripts than the %d given", d, n);
      if (len >= CASK_MAX_NDIM) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: operand %d has too many labels", d, k);
      sp->in[k][len++] = *p;
      continue;
    }
    if (*p == '.') return cask__fail(ctx, CASK_EINVAL, "einsum: %s: '...' (ellipsis) is not supported", d);
    if (*p == ',' || *p == '\0' || (*p == '-' && p[1] == '>')) {
      if (k >= n) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: more operands in the subscripts than the %d given", d, n);
      k++;
      len = 0;
      if (*p == ',') continue;
      if (*p == '-') explicit_out = 1, p += 2;
      break;
    }
    return cask__fail(ctx, CASK_EINVAL, "einsum: %s: invalid character '%c' in the subscripts", d, *p);
  }
  if (k != n) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: %d operand terms in the subscripts, %d operands given", d, k, n);
  sp->n = n;
  for (k = 0; k < n; k++) {
    if ((int)strlen(sp->in[k]) != ops[k]->ndim)
      return cask__fail(ctx, CASK_EINVAL, "einsum: %s: operand %d has %d axes but its subscripts '%s' have %d labels", d,
                        k, ops[k]->ndim, sp->in[k], (int)strlen(sp->in[k]));
    for (int i = 0; sp->in[k][i]; i++) {
      int c = sp->in[k][i];
      if (ext[c] >= 0 && ext[c] != ops[k]->shape[i])
        return cask__fail(ctx, CASK_EINVAL, "einsum: %s: label '%c' has extent %lld in one place and %lld in another", d,
                          c, (long long)ext[c], (long long)ops[k]->shape[i]);
      ext[c] = ops[k]->shape[i];
    }
  }
  if (explicit_out) {
    len = 0;
    for (; *p; p++) {
      if (*p == ' ') continue;
      if (*p == '.') return cask__fail(ctx, CASK_EINVAL, "einsum: %s: '...' (ellipsis) is not supported", d);
      if (!is_label(*p)) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: invalid character '%c' in the output", d, *p);
      if (ext[(int)*p] < 0)
        return cask__fail(ctx, CASK_EINVAL, "einsum: %s: output label '%c' is in no operand", d, *p);
      if (strchr(sp->out, *p)) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: output label '%c' is repeated", d, *p);
      if (len >= CASK_MAX_NDIM) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: too many output labels", d);
      sp->out[len++] = *p;
    }
    return CASK_OK;
  }
  /* Implicit: the labels that appear once, in alphabetical (ASCII) order. */
  for (int c = 0; c < 128; c++) {
    int count = 0;
    for (k = 0; k < n; k++)
      for (int i = 0; sp->in[k][i]; i++) count += sp->in[k][i] == c;
    if (count == 1) {
      if (len >= CASK_MAX_NDIM) return cask__fail(ctx, CASK_EINVAL, "einsum: %s: too many output labels", d);
      sp->out[len++] = (char)c;
    }
  }
  return CASK_OK;
}

/* x with its repeated labels reduced to their diagonals; labels updated. */
static int take_diagonals(cask_array *x, char *labels, cask_array **out) {
  cask_array *cur = cask_array_retain(x);
  int rc = CASK_OK;
  for (int p = 0; labels[p] && !rc; p++)
    for (int q = p + 1; labels[q] && !rc; q++) {
      if (labels[q] != labels[p]) continue;
      int nd = cur->ndim;
      int64_t n = cur->shape[p], shape[CASK_MAX_NDIM];
      for (int i = 0; i < nd; i++) shape[i] = i == p || i == q ? n : 1;
      cask_array *eye = NULL, *mask = NULL, *zero = NULL, *w = NULL, *r = NULL;
      rc = cask_eye(cur->ctx, CASK_BOOL, n, n, 0, cur->chunk[p], &eye);
      if (!rc) rc = cask_reshape(eye, nd, shape, &mask);
      if (!rc) rc = cask_zeros(cur->ctx, cur->dtype, 0, NULL, NULL, &zero);
      if (!rc) rc = cask_where(mask, cur, zero, &w);
      if (!rc) rc = cask_reduce(CASK_SUM, w, &q, 1, 0, &r);
      cask_array_release(eye);
      cask_array_release(mask);
      cask_array_release(zero);
      cask_array_release(w);
      if (!rc) {
        cask_array_release(cur);
        cur = r;
        memmove(labels + q, labels + q + 1, strlen(labels + q));
        q--;
      }
    }
  if (rc) cask_array_release(cur);
  else *out = cur;
  return rc;
}

/* x summed over its labels that are not in keep_in (removed from labels). */
static int sum_labels(cask_array *x, char *labels, const char *keep_in, cask_array **out) {
  int axes[CASK_MAX_NDIM], na = 0;
  char kept[CASK_MAX_NDIM + 1] = {0};
  int nk = 0;
  for (int i = 0; labels[i]; i++) {
    if (strchr(keep_in, labels[i])) kept[nk++] = labels[i];
    else axes[na++] = i;
  }
  if (!na) {
    *out = cask_array_retain(x);
    return CASK_OK;
  }
  int rc = cask_reduce(CASK_SUM, x, axes, na, 0, out);
  if (!rc) memcpy(labels, kept, sizeof kept);
  return rc;
}

/* x (with labels) transposed to the order of the output. */
static int to_output(cask_array *x, const char *labels, const char *out_labels, cask_array **out) {
  int perm[CASK_MAX_NDIM], nd = (int)strlen(out_labels), same = 1;
  for (int i = 0; i < nd; i++) {
    perm[i] = (int)(strchr(labels, out_labels[i]) - labels);
    same &= perm[i] == i;
  }
  if (same) {
    *out = cask_array_retain(x);
    return CASK_OK;
  }
  return cask_transpose(x, perm, out);
}

/* The BLAS route: two operands of distinct labels, everything in both
 * summed, everything else kept, at most 2-d throughout. 0 if it does not
 * apply. */
static int try_tensordot(cask_array *a, const char *la, cask_array *b, const char *lb, const char *lo,
                         cask_array **out, int *rc) {
  int na = (int)strlen(la), nb = (int)strlen(lb), no = (int)strlen(lo), ax[2], bx[2], nc = 0;
  if (na > 2 || nb > 2 || no > 2) return 0;
  char kept[5] = {0};
  int nk = 0;
  for (int i = 0; i < na; i++) {
    const char *j = strchr(lb, la[i]);
    int in_out = strchr(lo, la[i]) != NULL;
    if (j && in_out) return 0; /* a batch label: not a matrix product */
    if (!j && !in_out) return 0; /* summed on one side only: handled elsewhere */
    if (j) ax[nc] = i, bx[nc++] = (int)(j - lb);
    else kept[nk++] = la[i];
  }
  for (int i = 0; i < nb; i++) {
    int in_a = strchr(la, lb[i]) != NULL, in_out = strchr(lo, lb[i]) != NULL;
    if (!in_a && !in_out) return 0;
    if (!in_a) kept[nk++] = lb[i];
  }
  if (nk != no || (nc == 0 && (na == 0 || nb == 0))) return 0;
  cask_array *t = NULL;
  *rc = cask_tensordot(a, b, nc, ax, bx, &t);
  if (!*rc) *rc = to_output(t, kept, lo, out);
  cask_array_release(t);
  return 1;
}

/* The general route: one broadcast product over every label (output
 * labels first, in order), summed over the rest. */
static int product_sum(cask_ctx *ctx, int n, cask_array **x, char (*labels)[CASK_MAX_NDIM + 1], const char *lo,
                       const char *d, cask_array **out) {
  char all[64] = {0};
  int nall = (int)strlen(lo);
  memcpy(all, lo, (size_t)nall);
  for (int k = 0; k < n; k++)
    for (int i = 0; labels[k][i]; i++)
      if (!strchr(all, labels[k][i])) {
        if (nall >= CASK_MAX_NDIM)
          return cask__fail(ctx, CASK_EINVAL, "einsum: %s: more than %d distinct labels", d, CASK_MAX_NDIM);
        all[nall++] = labels[k][i];
      }
  cask_array *prod = NULL;
  int rc = CASK_OK;
  for (int k = 0; k < n && !rc; k++) {
    /* the operand's labels in the order of `all`, then size-1 axes for the others */
    int perm[CASK_MAX_NDIM], np = 0;
    int64_t shape[CASK_MAX_NDIM];
    for (int i = 0; i < nall; i++) {
      const char *at = strchr(labels[k], all[i]);
      if (at) perm[np++] = (int)(at - labels[k]);
      shape[i] = at ? x[k]->shape[at - labels[k]] : 1;
    }
    int same = 1;
    for (int i = 0; i < np; i++) same &= perm[i] == i;
    cask_array *t = NULL, *e = NULL, *p = NULL;
    rc = same ? (t = cask_array_retain(x[k]), CASK_OK) : cask_transpose(x[k], perm, &t);
    if (!rc) rc = np == nall ? (e = cask_array_retain(t), CASK_OK) : cask_reshape(t, nall, shape, &e);
    if (!rc && prod) rc = cask_binary(CASK_MUL, prod, e, &p);
    else if (!rc) p = cask_array_retain(e);
    cask_array_release(t);
    cask_array_release(e);
    cask_array_release(prod);
    prod = p;
  }
  if (rc) {
    cask_array_release(prod);
    return rc;
  }
  int no = (int)strlen(lo), axes[CASK_MAX_NDIM];
  for (int i = no; i < nall; i++) axes[i - no] = i;
  if (nall == no) *out = prod;
  else {
    rc = cask_reduce(CASK_SUM, prod, axes, nall - no, 0, out);
    cask_array_release(prod);
  }
  return rc;
}

int cask_einsum(const char *subscripts, int n, cask_array *const *operands, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!subscripts || n < 1 || !operands) return CASK_EINVAL;
  for (int k = 0; k < n; k++)
    if (!operands[k] || operands[k]->ctx != operands[0]->ctx) return CASK_EINVAL;
  cask_ctx *ctx = operands[0]->ctx;
  if (n > MAX_OPERANDS) return cask__fail(ctx, CASK_EINVAL, "einsum: %d operands (at most %d)", n, MAX_OPERANDS);
  spec sp;
  int64_t ext[128];
  int rc = parse(ctx, subscripts, n, operands, &sp, ext);
  if (rc) return rc;
  char d[600];
  describe(d, sizeof d, subscripts, n, operands);
  cask_dtype dt = operands[0]->dtype;
  for (int k = 1; k < n; k++) dt = cask_promote(dt, operands[k]->dtype);
  cask_array *x[MAX_OPERANDS] = {NULL}, *r = NULL;
  for (int k = 0; k < n && !rc; k++) rc = take_diagonals(operands[k], sp.in[k], &x[k]);
  /* A label in one operand only and not in the output is summed there first. */
  for (int k = 0; k < n && !rc; k++) {
    char keep[128] = {0};
    size_t kl = strlen(sp.out);
    memcpy(keep, sp.out, kl);
    for (int j = 0; j < n; j++)
      if (j != k) strncat(keep, sp.in[j], sizeof keep - strlen(keep) - 1);
    cask_array *s = NULL;
    rc = sum_labels(x[k], sp.in[k], keep, &s);
    if (!rc) {
      cask_array_release(x[k]);
      x[k] = s;
    }
  }
  if (!rc) {
    if (n == 1) rc = to_output(x[0], sp.in[0], sp.out, &r);
    else if (!(n == 2 && try_tensordot(x[0], sp.in[0], x[1], sp.in[1], sp.out, &r, &rc)))
      rc = product_sum(ctx, n, x, sp.in, sp.out, d, &r);
  }
  for (int k = 0; k < n; k++) cask_array_release(x[k]);
  if (rc) {
    char m[sizeof ctx->errmsg];
    snprintf(m, sizeof m, "%s", cask_ctx_errmsg(ctx));
    if (strncmp(m, "einsum", 6)) cask__fail(ctx, rc, "einsum: %s: %s", d, m);
    return rc;
  }
  if (r->dtype == dt) {
    *out = r;
    return CASK_OK;
  }
  /* cask's sum widens integers to int64: back to NumPy's dtype */
  rc = cask_astype(r, dt, out);
  cask_array_release(r);
  return rc;
}
