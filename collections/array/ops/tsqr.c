/* tsqr.c - QR of a tall-and-skinny chunked matrix by TSQR (Demmel et al.;
 * dask.array.linalg.tsqr), as two node classes sharing one set of tasks:
 *   tsqr-<token>-n<level>-<i>  a QR node (LAPACK's LQ of the transpose,
 *                              in place): level 0, block i of a (m_i x n)
 *                              -> [Q_i; R_i] packed as one (m_i + n) x n
 *                              block; level l > 0, the R factors of
 *                              children split_every*i .. stacked -> [Q; R];
 *   tsqr-<token>-m<level>-<i>  the multiplier of node i of level l: the
 *                              rows of its parent's Q that belong to it,
 *                              times the parent's multiplier (n x n);
 *   q block i = Q_i @ the multiplier of leaf i; r = the root's R.
 * An R asked for without its Q (qr(a, mode='r'), svdvals) has a tree of
 * its own, tsqr-<token>-r-n..., whose nodes form no Q (no orgqr): half the
 * LAPACK work.
 * The tree groups consecutive blocks by index with fan-in split_every, so
 * the result is bit-identical for any thread count. The one thing to
 * know: a QR node packs Q above R in one block, so every task that reads a
 * node finds its R in the last n rows (and a leaf needs m_i >= n rows: the
 * constructor checks it, as dask does). */
#include <lapacke.h>
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "lapack.h"
#include "../core/dtype.h"

typedef struct tsqr_args {
  int32_t dtype, n, leaf, pos; /* pos: mult's child index in its parent */
  int32_t has_parent, r_only;  /* r_only: a node of a tree for R alone (no Q formed) */
} tsqr_args;

static const cask_op *op_node, *op_mult, *op_q, *op_r;

/* a (rows x n, row-major) -> Q in place and R (n x n) into r, or R alone
 * when r_only. Row-major a read as column-major is a.T (n x rows), whose
 * LQ factorization a.T = L Q' is a = Q'.T L.T: R = L.T is the upper
 * triangle of a's first n rows as they lie, and Q = Q'.T is the buffer
 * orglq leaves. LAPACK works on the buffer in place; LAPACKE's row-major
 * geqrf would transpose it into a copy and back, twice. */
#define DEFINE_QR(T, P)                                                                                     \
  static int qr_##P(T *a, int rows, int n, int r_only, T *r) {                                             \
    T *tau = cask__malloc(((size_t)n + 1) * sizeof(T));                                                    \
    if (!tau) return CASK_ENOMEM;                                                                          \
    lapack_int info = n > 0 ? LAPACKE_##P##gelqf(LAPACK_COL_MAJOR, n, rows, a, n, tau) : 0;                \
    for (int i = 0; i < n; i++)                                                                            \
      for (int j = 0; j < n; j++) r[(size_t)i * n + j] = j >= i ? a[(size_t)i * n + j] : (T)0;             \
    if (!info && n > 0 && !r_only) info = LAPACKE_##P##orglq(LAPACK_COL_MAJOR, n, rows, n, a, n, tau);    \
    cask__free(tau);                                                                                       \
    return info ? CASK_EINVAL : CASK_OK;                                                                   \
  }
DEFINE_QR(double, d)
DEFINE_QR(float, s)

static int qr_block(cask_dtype dt, char *a, int rows, int n, int r_only, char *r) {
  return dt == CASK_F64 ? qr_d((double *)a, rows, n, r_only, (double *)r) : qr_s((float *)a, rows, n, r_only, (float *)r);
}

/* C (rows x n) = A (rows x n, lda n) @ B (n x n). */
static void gemm(cask_dtype dt, int rows, int n, const void *a, const void *b, void *c) {
  if (rows == 0 || n == 0) return;
  if (dt == CASK_F64)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, n, 1.0, a, n, b, n, 0.0, c, n);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
}

/* LAPACK's panel factorization is memory-bound: a block that fits in L2
 * factors 3 to 5 times faster per row than one of tens of MB (measured
 * here: 2000 x 100 in 11 ms, 50000 x 100 in 680 ms). So a tall block is
 * itself factored as a one-level TSQR over sub-blocks of about this many
 * bytes (fixed: the same sub-blocks on every machine and thread count). */
#define SUB_BYTES ((size_t)1 << 20)

/* qr_block of a (rows x n) by sub-blocks when it is tall: each sub-block's
 * QR in place, their R factors stacked and factored (R), and each Q times
 * its n x n piece of the stack's Q. */
static int qr_local(cask_dtype dt, char *a, int rows, int n, int r_only, char *r) {
  size_t w = cask_dtype_size(dt), rowb = (size_t)n * w;
  int64_t sub = n ? (int64_t)(SUB_BYTES / rowb) : rows;
  if (sub < 2 * (int64_t)n) sub = 2 * (int64_t)n;
  if (n == 0 || rows < 2 * sub) return qr_block(dt, a, rows, n, r_only, r);
  int k = (int)(rows / sub); /* the last sub-block takes the remainder */
  char *stack = cask__malloc((size_t)k * n * rowb), *tmp = NULL;
  if (!stack) return CASK_ENOMEM;
  int rc = CASK_OK;
  for (int j = 0; j < k && !rc; j++) {
    int64_t rj = j == k - 1 ? rows - j * sub : sub;
    rc = qr_block(dt, a + (size_t)(j * sub) * rowb, (int)rj, n, r_only, stack + (size_t)j * n * rowb);
  }
  if (!rc) rc = qr_block(dt, stack, k * n, n, r_only, r);
  if (!rc && !r_only && !(tmp = cask__malloc((size_t)(2 * sub) * rowb))) rc = CASK_ENOMEM;
  for (int j = 0; j < k && !rc && !r_only; j++) {
    int64_t rj = j == k - 1 ? rows - j * sub : sub;
    char *aj = a + (size_t)(j * sub) * rowb;
    gemm(dt, (int)rj, n, aj, stack + (size_t)j * n * rowb, tmp);
    memcpy(aj, tmp, (size_t)rj * rowb);
  }
  cask__free(tmp);
  cask__free(stack);
  return rc;
}

static int check_blocks(cask_task_io *io, const tsqr_args *a, size_t min_in) {
  if (io->ninputs < min_in) return 0;
  for (size_t i = 0; i < io->ninputs; i++) {
    const cask_block *b = io->inputs[i];
    if (!b || cask_block_dtype(b) != (cask_dtype)a->dtype || cask_block_ndim(b) != 2 ||
        cask_block_shape(b)[1] != a->n || cask_block_shape(b)[0] < a->n)
      return 0;
  }
  return 1;
}

static int malformed(cask_task_io *io) {
  cask__fmt(io->errmsg, io->errmsg_cap, "tsqr: the input blocks do not fit the arguments");
  return CASK_EINVAL;
}

static int read_args(cask_task_io *io, tsqr_args *a) {
  if (io->args_len != sizeof *a) return 0;
  memcpy(a, io->args, sizeof *a);
  return (a->dtype == CASK_F64 || a->dtype == CASK_F32) && a->n >= 0;
}

/* array.tsqr_node: a leaf's block, or the children's R factors stacked,
 * factored in the output block's first rows (Q there, R below it), or in
 * a scratch buffer when only R is kept. */
static int node_run(cask_task_io *io) {
  tsqr_args a;
  if (!read_args(io, &a) || !check_blocks(io, &a, 1) || (a.leaf && io->ninputs != 1)) return malformed(io);
  size_t w = cask_dtype_size((cask_dtype)a.dtype), rowb = (size_t)a.n * w;
  int64_t rows = 0;
  for (size_t i = 0; i < io->ninputs; i++) rows += a.leaf ? cask_block_shape(io->inputs[i])[0] : a.n;
  int rc = cask_block_new((cask_dtype)a.dtype, 2, (int64_t[]){(a.r_only ? 0 : rows) + a.n, a.n}, &io->output);
  if (rc) return rc;
  char *out = cask_block_data(io->output);
  char *stack = a.r_only ? cask__malloc((size_t)rows * rowb + 1) : out;
  if (!stack) {
    cask_block_release(io->output);
    io->output = NULL;
    return CASK_ENOMEM;
  }
  if (a.leaf) memcpy(stack, cask_block_data(io->inputs[0]), (size_t)rows * rowb);
  else
    for (size_t i = 0; i < io->ninputs; i++) { /* each child's R: its last n rows */
      const cask_block *b = io->inputs[i];
      memcpy(stack + i * (size_t)a.n * rowb, (const char *)cask_block_data(b) + (size_t)(cask_block_shape(b)[0] - a.n) * rowb,
             (size_t)a.n * rowb);
    }
  char *r = a.r_only ? out : out + (size_t)rows * rowb;
  rc = qr_local(a.dtype, stack, (int)rows, a.n, a.r_only, r);
  if (stack != out) cask__free(stack);
  if (rc == CASK_EINVAL) cask__fmt(io->errmsg, io->errmsg_cap, "tsqr: a block of the matrix holds NaN (LAPACKE refuses it) or LAPACK failed");
  if (rc) {
    cask_block_release(io->output);
    io->output = NULL;
  }
  return rc;
}

/* array.tsqr_mult: inputs the parent node and (has_parent) the parent's
 * multiplier: rows pos*n .. of the parent's Q, times the multiplier. */
static int mult_run(cask_task_io *io) {
  tsqr_args a;
  if (!read_args(io, &a) || io->ninputs != 1u + (a.has_parent != 0) || !check_blocks(io, &a, 1)) return malformed(io);
  const cask_block *parent = io->inputs[0];
  size_t w = cask_dtype_size((cask_dtype)a.dtype);
  if ((int64_t)(a.pos + 1) * a.n > cask_block_shape(parent)[0] - a.n || a.pos < 0) return malformed(io);
  const char *q = (const char *)cask_block_data(parent) + (size_t)a.pos * a.n * a.n * w;
  int rc = cask_block_new((cask_dtype)a.dtype, 2, (int64_t[]){a.n, a.n}, &io->output);
  if (rc) return rc;
  if (a.has_parent) gemm(a.dtype, a.n, a.n, q, cask_block_data(io->inputs[1]), cask_block_data(io->output));
  else memcpy(cask_block_data(io->output), q, (size_t)a.n * a.n * w);
  return CASK_OK;
}

/* array.tsqr_q: a leaf's Q times its multiplier (or alone: one block). */
static int q_run(cask_task_io *io) {
  tsqr_args a;
  if (!read_args(io, &a) || io->ninputs != 1u + (a.has_parent != 0) || !check_blocks(io, &a, 1)) return malformed(io);
  const cask_block *leaf = io->inputs[0];
  int64_t rows = cask_block_shape(leaf)[0] - a.n;
  int rc = cask_block_new((cask_dtype)a.dtype, 2, (int64_t[]){rows, a.n}, &io->output);
  if (rc) return rc;
  if (a.has_parent) gemm(a.dtype, (int)rows, a.n, cask_block_data(leaf), cask_block_data(io->inputs[1]), cask_block_data(io->output));
  else memcpy(cask_block_data(io->output), cask_block_data(leaf), (size_t)(rows * a.n) * cask_dtype_size(a.dtype));
  return CASK_OK;
}

/* array.tsqr_r: the root's R (its last n rows). */
static int r_run(cask_task_io *io) {
  tsqr_args a;
  if (!read_args(io, &a) || io->ninputs != 1 || !check_blocks(io, &a, 1)) return malformed(io);
  const cask_block *root = io->inputs[0];
  size_t w = cask_dtype_size((cask_dtype)a.dtype);
  int rc = cask_block_new((cask_dtype)a.dtype, 2, (int64_t[]){a.n, a.n}, &io->output);
  if (rc) return rc;
  memcpy(cask_block_data(io->output), (const char *)cask_block_data(root) + (size_t)(cask_block_shape(root)[0] - a.n) * a.n * w,
         (size_t)a.n * a.n * w);
  return CASK_OK;
}

void cask__register_tsqr_ops(void) {
  cask_op_register(&(cask_op){.name = "array.tsqr_node", .run = node_run}, &op_node);
  cask_op_register(&(cask_op){.name = "array.tsqr_mult", .run = mult_run}, &op_mult);
  cask_op_register(&(cask_op){.name = "array.tsqr_q", .run = q_run}, &op_q);
  cask_op_register(&(cask_op){.name = "array.tsqr_r", .run = r_run}, &op_r);
}

/* ---- lowering ---------------------------------------------------------- */

/* Both nodes (q and r) have the input a (one column chunk) as in[0]. */
typedef struct tree {
  cask__lower *L;
  cask_array *a;
  int every, top; /* fan-in; the root's level */
  int r_only;     /* the tree of an R asked for alone */
  int64_t count[64]; /* nodes per level */
} tree;

static void plan_tree(tree *t, cask__lower *L, cask_array *a, int r_only) {
  t->L = L, t->a = a, t->r_only = r_only;
  t->every = L->ctx->split_every < 2 ? 2 : L->ctx->split_every;
  t->count[0] = cask__nblocks(a, 0);
  t->top = 0;
  while (t->count[t->top] > 1) {
    t->count[t->top + 1] = (t->count[t->top] + t->every - 1) / t->every;
    t->top++;
  }
}

static tsqr_args args_of(const tree *t) {
  tsqr_args a;
  memset(&a, 0, sizeof a);
  a.dtype = t->a->dtype;
  a.n = (int32_t)t->a->shape[1];
  a.r_only = t->r_only;
  return a;
}

static int node_task(tree *t, int level, int64_t i, cask_task_id *out) {
  char key[160];
  snprintf(key, sizeof key, "tsqr-%016llx-%sn%d-%lld", (unsigned long long)t->a->token, t->r_only ? "r-" : "", level,
           (long long)i);
  if (cask_graph_find(t->L->g, key, out) == CASK_OK) return CASK_OK;
  tsqr_args a = args_of(t);
  cask_task_id deps[64];
  int nd = 0, rc = CASK_OK;
  int64_t rows = 0;
  if (level == 0) {
    a.leaf = 1;
    rc = cask__lower_block(t->L, t->a, (int64_t[]){i, 0}, &deps[nd++]);
    int64_t off[2], ext[2];
    cask__block_box(t->a, (int64_t[]){i, 0}, off, ext);
    rows = ext[0];
  } else {
    for (int64_t c = i * t->every; c < (i + 1) * t->every && c < t->count[level - 1] && !rc; c++, rows += a.n)
      rc = node_task(t, level - 1, c, &deps[nd++]);
  }
  if (!rc) rc = cask__graph_add(t->L->g, key, op_node, &a, sizeof a, deps, (size_t)nd, out);
  if (!rc) cask_graph_set_size(t->L->g, *out, ((a.r_only ? 0 : rows) + a.n) * a.n * (int64_t)cask__itemsize(t->a));
  return rc;
}

/* The multiplier of node i of level (below the top). */
static int mult_task(tree *t, int level, int64_t i, cask_task_id *out) {
  char key[160];
  snprintf(key, sizeof key, "tsqr-%016llx-m%d-%lld", (unsigned long long)t->a->token, level, (long long)i);
  if (cask_graph_find(t->L->g, key, out) == CASK_OK) return CASK_OK;
  tsqr_args a = args_of(t);
  a.pos = (int32_t)(i % t->every);
  a.has_parent = level + 1 < t->top;
  cask_task_id deps[2];
  int rc = node_task(t, level + 1, i / t->every, &deps[0]);
  if (!rc && a.has_parent) rc = mult_task(t, level + 1, i / t->every, &deps[1]);
  if (!rc) rc = cask__graph_add(t->L->g, key, op_mult, &a, sizeof a, deps, 1u + (size_t)a.has_parent, out);
  if (!rc) cask_graph_set_size(t->L->g, *out, (int64_t)a.n * a.n * (int64_t)cask__itemsize(t->a));
  return rc;
}

static int lower_q(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key, cask_task_id *out) {
  tree t;
  plan_tree(&t, L, r->in[0], 0);
  tsqr_args a = args_of(&t);
  a.has_parent = t.top > 0;
  cask_task_id deps[2];
  int rc = node_task(&t, 0, bidx[0], &deps[0]);
  if (!rc && a.has_parent) rc = mult_task(&t, 0, bidx[0], &deps[1]);
  if (!rc) rc = cask__graph_add(L->g, key, op_q, &a, sizeof a, deps, 1u + (size_t)a.has_parent, out);
  int64_t off[2], ext[2];
  cask__block_box(r, bidx, off, ext);
  if (!rc) cask_graph_set_size(L->g, *out, ext[0] * ext[1] * (int64_t)cask__itemsize(r));
  return rc;
}

static int lower_r(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key, cask_task_id *out) {
  (void)bidx;
  tree t;
  plan_tree(&t, L, r->in[0], *(const int *)r->ext);
  tsqr_args a = args_of(&t);
  cask_task_id root;
  int rc = node_task(&t, t.top, 0, &root);
  if (!rc) rc = cask__graph_add(L->g, key, op_r, &a, sizeof a, &root, 1, out);
  if (!rc) cask_graph_set_size(L->g, *out, (int64_t)a.n * a.n * (int64_t)cask__itemsize(r));
  return rc;
}

static const cask__node_class q_class = {.name = "tsqr_q", .lower = lower_q};
static const cask__node_class r_class = {.name = "tsqr_r", .lower = lower_r};

/* a (m, n) in a float dtype with one column chunk, every row block at
 * least n rows: q (a's chunks) and r (n x n, one block). */
int cask__tsqr(cask_array *a, const char *fn, cask_array **q, cask_array **r) {
  char s[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  if (q) *q = NULL;
  if (r) *r = NULL;
  int64_t m = a->shape[0], n = a->shape[1];
  if (n > m)
    return cask__fail(a->ctx, CASK_EINVAL, "%s: shape %s is not tall-and-skinny (more columns than rows) and does not fit in one block", fn, s);
  if (n > INT32_MAX / 2) return cask__fail(a->ctx, CASK_ETOOBIG, "%s: shape %s has too many columns", fn, s);
  int64_t c = a->chunk[0], last = m - (cask__nblocks(a, 0) - 1) * c;
  if (m > 0 && (c < n || last < n))
    return cask__fail(a->ctx, CASK_EINVAL,
                      "%s: shape %s in row chunks of %lld: every row block needs at least %lld rows (the number of columns; the last one has %lld): rechunk (dask's tsqr requires it too)",
                      fn, s, (long long)c, (long long)n, (long long)last);
  cask_dtype dt = cask__linalg_dtype(a->dtype);
  cask_array *x = NULL;
  cask__blas_single_thread();
  int rc = a->dtype == dt ? (x = cask_array_retain(a), CASK_OK) : cask_astype(a, dt, &x);
  if (!rc && x->chunk[1] < n) {
    cask_array *y = NULL;
    rc = cask_rechunk(x, (int64_t[]){c, n}, &y);
    cask_array_release(x);
    x = y;
  }
  int64_t rshape[2] = {n, n};
  /* R asked for alone: a tree that forms no Q (half the LAPACK work) */
  int32_t r_only = q == NULL, *ext;
  if (!rc && q) {
    rc = cask__node_new_ext(a->ctx, &q_class, cask__calloc(1, sizeof(int32_t)), dt, 2, x->shape, x->chunk, 1, &x, q);
    if (!rc) cask__node_seal(*q, &r_only, sizeof r_only);
  }
  if (!rc && r) {
    if (!(ext = cask__malloc(sizeof *ext))) rc = cask__fail(a->ctx, CASK_ENOMEM, "%s: out of memory", fn);
    else *ext = r_only;
    if (!rc) rc = cask__node_new_ext(a->ctx, &r_class, ext, dt, 2, rshape, rshape, 1, &x, r);
    if (!rc) cask__node_seal(*r, &r_only, sizeof r_only);
  }
  cask_array_release(x);
  if (rc && q) cask_array_release(*q), *q = NULL;
  return rc;
}
