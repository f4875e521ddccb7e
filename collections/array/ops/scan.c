/* scan.c - NumPy's cumulative sums and products (cumsum, cumprod,
 * nancumsum, nancumprod) as a parallel scan over blocks. Along the scanned
 * axis, block k of the result is made by three tasks of one op,
 * array.scan:
 *   local   block k of the input scanned on its own (in the result dtype);
 *   carry   what comes before block k: carry(k-1) combined with the last
 *           slice of local(k-1) (an exclusive scan of the block totals);
 *   fixup   local(k) combined with carry(k), broadcast along the axis.
 * Block 0 is its local scan. The carries form a chain in block index
 * order, so every result is fixed by the graph, whatever the number of
 * threads; only the local scans and fix-ups run in parallel. Integer
 * results are NumPy's exactly (int64, wrapping as NumPy's do); float sums
 * differ from NumPy's sequential ones by the rounding of the carry
 * additions. */
#include <math.h>
#include <string.h>

#include "../../../core/internal.h"
#include "../core/dtype.h"
#include "ops.h"

enum { SCAN_LOCAL, SCAN_CARRY, SCAN_FIXUP };

typedef struct scan_ext {
  int32_t op; /* cask_scan_op */
  int32_t axis;
} scan_ext;

typedef struct scan_args {
  int32_t step; /* SCAN_* */
  int32_t op;   /* cask_scan_op */
  int32_t axis;
  int32_t dtype; /* of the result (local: the input is converted to it) */
} scan_args;

static const cask_op *op_scan;
static const char *const scan_names[CASK_SCAN_COUNT] = {"cumsum", "cumprod", "nancumsum", "nancumprod"};

static int is_prod(int op) { return op == CASK_CUMPROD || op == CASK_NANCUMPROD; }
static int is_nan(int op) { return op == CASK_NANCUMSUM || op == CASK_NANCUMPROD; }

/* NumPy's accumulate dtype on 64-bit Linux: floats keep theirs, integers
 * and bool become int64 (uint8 becomes uint64 in NumPy; cask has no
 * uint64, as for sum). */
static cask_dtype scan_dtype(cask_dtype t) { return cask__dtype_is_float(t) ? t : CASK_I64; }

/* ---- the block op ------------------------------------------------------ */

/* x[k] = x[k] op y[k] for k < n, in dtype t (integers wrap, as NumPy's). */
static void combine(void *x, const void *y, int64_t n, cask_dtype t, int prod) {
  if (t == CASK_F64) {
    double *a = x;
    const double *b = y;
    if (prod) for (int64_t k = 0; k < n; k++) a[k] *= b[k];
    else for (int64_t k = 0; k < n; k++) a[k] += b[k];
  } else if (t == CASK_F32) {
    float *a = x;
    const float *b = y;
    if (prod) for (int64_t k = 0; k < n; k++) a[k] *= b[k];
    else for (int64_t k = 0; k < n; k++) a[k] += b[k];
  } else {
    uint64_t *a = x;
    const uint64_t *b = y;
    if (prod) for (int64_t k = 0; k < n; k++) a[k] *= b[k];
    else for (int64_t k = 0; k < n; k++) a[k] += b[k];
  }
}

/* d[k] = x[k] op y[k * ys] for k < n (ys 0: y is one value, broadcast), in
 * dtype t: the fix-up in one pass, without copying the local scan first. */
static void combine_into(void *d, const void *x, const void *y, int64_t ys, int64_t n, cask_dtype t, int prod) {
  if (t == CASK_F64) {
    double *o = d;
    const double *a = x, *b = y;
    if (prod) for (int64_t k = 0; k < n; k++) o[k] = a[k] * b[k * ys];
    else for (int64_t k = 0; k < n; k++) o[k] = a[k] + b[k * ys];
  } else if (t == CASK_F32) {
    float *o = d;
    const float *a = x, *b = y;
    if (prod) for (int64_t k = 0; k < n; k++) o[k] = a[k] * b[k * ys];
    else for (int64_t k = 0; k < n; k++) o[k] = a[k] + b[k * ys];
  } else {
    uint64_t *o = d;
    const uint64_t *a = x, *b = y;
    if (prod) for (int64_t k = 0; k < n; k++) o[k] = a[k] * b[k * ys];
    else for (int64_t k = 0; k < n; k++) o[k] = a[k] + b[k * ys];
  }
}

/* The running sum (product) of n contiguous values of x into d (x == d:
 * in place): the lane of a scan along the last axis, one loop instead of a
 * combine per element (which took half of a 1-d cumsum's time) and no copy
 * of the input first. The same operations in the same order as a copy
 * followed by d[k] op= d[k-1], so the same bits. */
static void scan_lane(void *d, const void *x, int64_t n, cask_dtype t, int prod) {
  if (n < 1) return;
  if (t == CASK_F64) {
    double *a = d;
    const double *b = x;
    a[0] = b[0];
    if (prod) for (int64_t k = 1; k < n; k++) a[k] = b[k] * a[k - 1];
    else for (int64_t k = 1; k < n; k++) a[k] = b[k] + a[k - 1];
  } else if (t == CASK_F32) {
    float *a = d;
    const float *b = x;
    a[0] = b[0];
    if (prod) for (int64_t k = 1; k < n; k++) a[k] = b[k] * a[k - 1];
    else for (int64_t k = 1; k < n; k++) a[k] = b[k] + a[k - 1];
  } else {
    uint64_t *a = d;
    const uint64_t *b = x;
    a[0] = b[0];
    if (prod) for (int64_t k = 1; k < n; k++) a[k] = b[k] * a[k - 1];
    else for (int64_t k = 1; k < n; k++) a[k] = b[k] + a[k - 1];
  }
}

/* A C-order block of shape s seen as (outer, n, inner) around axis ax. */
static void split(const int64_t *s, int nd, int ax, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < ax; i++) *outer *= s[i];
  for (int i = ax + 1; i < nd; i++) *inner *= s[i];
  *n = s[ax];
}

/* The input converted to the result dtype (NaN as the identity for the
 * nan- variants), then scanned in place along the axis. */
static int local_run(cask_task_io *io, const scan_args *a) {
  cask_block *in = io->inputs[0];
  cask_dtype it = cask_block_dtype(in), t = a->dtype;
  int nd = cask_block_ndim(in);
  const int64_t *s = cask_block_shape(in);
  int rc = cask_block_new(t, nd, s, &io->output);
  if (rc) return rc;
  const void *src = cask_block_data(in);
  void *dst = cask_block_data(io->output);
  int64_t size = cask_block_size(in), outer, n, inner;
  double ident = is_prod(a->op) ? 1 : 0;
  split(s, nd, a->axis, &outer, &n, &inner);
  size_t w = cask_dtype_size(t);
  if (inner == 1 && it == t && !is_nan(a->op)) { /* a lane at a time, straight from the input */
    for (int64_t o = 0; o < outer; o++)
      scan_lane((char *)dst + (size_t)(o * n) * w, (const char *)src + (size_t)(o * n) * w, n, t, is_prod(a->op));
    return CASK_OK;
  }
  cask__cast(dst, t, src, it, size); /* integers and bool to int64 exactly; floats keep their dtype */
  if (t == CASK_F64 && is_nan(a->op))
    for (int64_t i = 0; i < size; i++) ((double *)dst)[i] = isnan(((double *)dst)[i]) ? ident : ((double *)dst)[i];
  if (t == CASK_F32 && is_nan(a->op))
    for (int64_t i = 0; i < size; i++) ((float *)dst)[i] = isnan(((float *)dst)[i]) ? (float)ident : ((float *)dst)[i];
  for (int64_t o = 0; o < outer; o++) {
    if (inner == 1) {
      scan_lane((char *)dst + (size_t)(o * n) * w, (char *)dst + (size_t)(o * n) * w, n, t, is_prod(a->op));
      continue;
    }
    for (int64_t i = 1; i < n; i++) {
      char *row = (char *)dst + (size_t)((o * n + i) * inner) * w;
      combine(row, row - (size_t)inner * w, inner, t, is_prod(a->op));
    }
  }
  return CASK_OK;
}

/* inputs: local(k-1) and, past block 1, carry(k-1). The last slice of
 * local(k-1) along the axis, combined with carry(k-1). */
static int carry_run(cask_task_io *io, const scan_args *a) {
  cask_block *loc = io->inputs[0];
  int nd = cask_block_ndim(loc);
  int64_t s[CASK_MAX_NDIM], outer, n, inner;
  memcpy(s, cask_block_shape(loc), (size_t)nd * sizeof s[0]);
  split(s, nd, a->axis, &outer, &n, &inner);
  s[a->axis] = 1;
  int rc = cask_block_new(a->dtype, nd, s, &io->output);
  if (rc) return rc;
  size_t w = cask_dtype_size(a->dtype);
  char *dst = cask_block_data(io->output);
  const char *src = cask_block_data(loc);
  for (int64_t o = 0; o < outer; o++)
    memcpy(dst + (size_t)(o * inner) * w, src + (size_t)((o * n + n - 1) * inner) * w, (size_t)inner * w);
  if (io->ninputs == 2) combine(dst, cask_block_data(io->inputs[1]), outer * inner, a->dtype, is_prod(a->op));
  return CASK_OK;
}

/* inputs: local(k), carry(k): every slice of local(k) combined with the carry. */
static int fixup_run(cask_task_io *io, const scan_args *a) {
  cask_block *loc = io->inputs[0];
  int nd = cask_block_ndim(loc);
  int64_t outer, n, inner;
  split(cask_block_shape(loc), nd, a->axis, &outer, &n, &inner);
  int rc = cask_block_new(a->dtype, nd, cask_block_shape(loc), &io->output);
  if (rc) return rc;
  size_t w = cask_dtype_size(a->dtype);
  char *dst = cask_block_data(io->output);
  const char *src = cask_block_data(loc), *c = cask_block_data(io->inputs[1]);
  for (int64_t o = 0; o < outer; o++) {
    if (inner == 1) { /* one carry for the whole lane */
      combine_into(dst + (size_t)(o * n) * w, src + (size_t)(o * n) * w, c + (size_t)o * w, 0, n, a->dtype,
                   is_prod(a->op));
      continue;
    }
    for (int64_t i = 0; i < n; i++) {
      size_t at = (size_t)((o * n + i) * inner) * w;
      combine_into(dst + at, src + at, c + (size_t)(o * inner) * w, 1, inner, a->dtype, is_prod(a->op));
    }
  }
  return CASK_OK;
}

static int scan_run(cask_task_io *io) {
  scan_args a;
  if (io->args_len != sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  size_t want = a.step == SCAN_LOCAL ? 1 : a.step == SCAN_FIXUP ? 2 : 0;
  int ok = (unsigned)a.op < CASK_SCAN_COUNT && (a.dtype == CASK_F64 || a.dtype == CASK_F32 || a.dtype == CASK_I64) &&
           (a.step == SCAN_CARRY ? io->ninputs == 1 || io->ninputs == 2 : io->ninputs == want);
  for (size_t k = 0; ok && k < io->ninputs; k++) { /* a local scan converts; the others keep the dtype */
    cask_block *b = io->inputs[k];
    ok = b && a.axis >= 0 && a.axis < cask_block_ndim(b) &&
         (a.step == SCAN_LOCAL ? scan_dtype(cask_block_dtype(b)) : cask_block_dtype(b)) == (cask_dtype)a.dtype;
  }
  if (!ok) {
    cask__fmt(io->errmsg, io->errmsg_cap, "array.scan: arguments or inputs do not match (step %d)", a.step);
    return CASK_EINVAL;
  }
  return a.step == SCAN_LOCAL ? local_run(io, &a) : a.step == SCAN_CARRY ? carry_run(io, &a) : fixup_run(io, &a);
}

/* ---- lowering ---------------------------------------------------------- */

static int add_step(cask__lower *L, cask_array *a, int step, const char *key, const cask_task_id *deps, size_t n,
                    int64_t bytes, cask_task_id *out) {
  const scan_ext *e = a->ext;
  scan_args args = {step, e->op, e->axis, a->dtype};
  int rc = cask__graph_add(L->g, key, op_scan, &args, sizeof args, deps, n, out);
  if (!rc) cask_graph_set_size(L->g, *out, bytes);
  return rc;
}

static int64_t block_bytes(const cask_array *a, const int64_t *bidx, int slice) {
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], n = (int64_t)cask__itemsize(a);
  cask__block_box(a, bidx, off, ext);
  for (int i = 0; i < a->ndim; i++) n *= slice && i == ((const scan_ext *)a->ext)->axis ? 1 : ext[i];
  return n;
}

/* The local scan of block bidx (block 0 along the axis is the result's own
 * block: its key is the node's). */
static int local_task(cask__lower *L, cask_array *a, const int64_t *bidx, cask_task_id *out) {
  const scan_ext *e = a->ext;
  char key[512];
  if (bidx[e->axis] == 0) cask__node_block_key(a, bidx, key, sizeof key);
  else cask__block_key(key, sizeof key, "scanlocal", a->token, a->ndim, bidx);
  if (cask_graph_find(L->g, key, out) == CASK_OK) return CASK_OK;
  cask_task_id in;
  int rc = cask__lower_block(L, a->in[0], bidx, &in);
  return rc ? rc : add_step(L, a, SCAN_LOCAL, key, &in, 1, block_bytes(a, bidx, 0), out);
}

/* carry(k) for k = bidx[axis] >= 1, built forward from the last one the
 * graph has (a loop, not a recursion: an axis may have millions of blocks). */
static int carry_task(cask__lower *L, cask_array *a, const int64_t *bidx, cask_task_id *out) {
  int ax = ((const scan_ext *)a->ext)->axis;
  int64_t b[CASK_MAX_NDIM], k = bidx[ax], j = k;
  memcpy(b, bidx, (size_t)a->ndim * sizeof b[0]);
  char key[512];
  cask_task_id prev = 0;
  int have = 0;
  for (; j >= 1; j--) { /* the last carry already built, if any */
    b[ax] = j;
    cask__block_key(key, sizeof key, "scancarry", a->token, a->ndim, b);
    if (cask_graph_find(L->g, key, &prev) == CASK_OK) {
      have = 1;
      break;
    }
  }
  for (j = have ? j + 1 : 1; j <= k; j++) {
    b[ax] = j - 1;
    cask_task_id deps[2];
    int rc = local_task(L, a, b, &deps[0]);
    if (rc) return rc;
    deps[1] = prev;
    b[ax] = j;
    cask__block_key(key, sizeof key, "scancarry", a->token, a->ndim, b);
    rc = add_step(L, a, SCAN_CARRY, key, deps, j > 1 ? 2 : 1, block_bytes(a, b, 1), &prev);
    if (rc) return rc;
  }
  *out = prev;
  return CASK_OK;
}

static int scan_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  const scan_ext *e = a->ext;
  if (bidx[e->axis] == 0) return local_task(L, a, bidx, out);
  cask_task_id deps[2];
  int rc = local_task(L, a, bidx, &deps[0]);
  if (!rc) rc = carry_task(L, a, bidx, &deps[1]);
  return rc ? rc : add_step(L, a, SCAN_FIXUP, key, deps, 2, block_bytes(a, bidx, 0), out);
}

static const cask__node_class scan_class = {.name = "scan", .lower = scan_lower};

int cask_cumulative(cask_scan_op op, cask_array *a, const int *axis, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if ((unsigned)op >= CASK_SCAN_COUNT)
    return cask__fail(a->ctx, CASK_EINVAL, "cumulative: %d is not a cask_scan_op", (int)op);
  if (a->unknown) return cask__need_sizes(a, scan_names[op]);
  int ax = 0, rc = axis ? cask__axis(a, scan_names[op], *axis, a->ndim, &ax) : CASK_OK;
  if (rc) return rc;
  cask_array *x;
  if (axis) x = cask_array_retain(a);
  else if ((rc = cask_reshape(a, 1, (int64_t[]){-1}, &x))) return rc; /* None: flattened in C order */
  scan_ext *e = cask__calloc(1, sizeof *e);
  if (!e) {
    cask_array_release(x);
    return cask__fail(a->ctx, CASK_ENOMEM, "%s: out of memory", scan_names[op]);
  }
  /* integers have no NaN: their nan- variants are the plain scans */
  e->op = !cask__dtype_is_float(x->dtype) && is_nan(op) ? op - 2 : op;
  e->axis = ax;
  rc = cask__node_new_ext(x->ctx, &scan_class, e, scan_dtype(x->dtype), x->ndim, x->shape, x->chunk, 1, &x, out);
  if (!rc) cask__node_seal(*out, e, sizeof *e);
  cask_array_release(x);
  return rc;
}

void cask__register_scan_ops(void) {
  cask_op_register(&(cask_op){.name = "array.scan", .run = scan_run, .flags = CASK_OP_PURE,
                              .args_size = sizeof(scan_args)},
                   &op_scan);
}
