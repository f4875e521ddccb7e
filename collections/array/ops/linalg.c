/* linalg.c - matmul, dot and tensordot on chunked arrays, through CBLAS
 * (OpenBLAS), and the two block ops they lower to:
 *   array.matmul_product  C (+)= A(i,k) @ B(k,j) for one pair of blocks: one
 *                         gemm call (float32/float64), or an exact int64
 *                         loop (integers, bool);
 *   array.matmul_sum      the first input plus the others, in input order.
 * Every operand is at most 2-d and so is the result: a block is viewed as a
 * matrix (a's free axes x contracted axes, b's contracted x free), with
 * CblasTrans where the contracted axis comes first, and an operand that is
 * a caller's buffer is read in place, so a block is copied only to convert
 * its dtype (or for a full contraction over crossed axes).
 *
 * The one thing to know before editing: the sum over the inner blocks
 * accumulates IN PLACE. A product task with accumulate set writes into its
 * first input (the running sum of the blocks before it, beta = 1) and hands
 * that very block on as its output; array.matmul_sum does the same. This is
 * safe only because lowering gives every such running sum exactly one
 * consumer, never marks it an output, and always starts it in a block that
 * array.matmul_product allocated itself (never a view of a caller's
 * buffer). Keep it that way. The order of the sum is fixed by the graph
 * (chains of consecutive inner blocks, then a tree of fan-in split_every),
 * so results are bit-identical for any thread count. */
#include <cblas.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <uv.h>

#include "ops.h"
#include "../core/dtype.h"

/* ---- the node ------------------------------------------------------------ */

/* Which axes of a and b are summed (pairs, sorted by a's axis so that a's
 * block never needs a copy) and which are kept: the result's axes are a's
 * kept axes, then b's, each in increasing order (NumPy's tensordot). */
typedef struct contract_params {
  int32_t nfa, nfb, nc, pad;
  int32_t fa[2], fb[2]; /* kept axes of a, of b */
  int32_t ca[2], cb[2]; /* summed pairs: a's axis ca[p] with b's axis cb[p] */
} contract_params;

static int lower_contract(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key,
                          cask_task_id *out);

static const cask__node_class matmul_class = {.name = "matmul", .lower = lower_contract};
static const cask__node_class dot_class = {.name = "dot", .lower = lower_contract};
static const cask__node_class tensordot_class = {.name = "tensordot", .lower = lower_contract};

/* OpenBLAS's own threads would fight the scheduler's workers for the
 * cores: every block product runs on one thread, the workers run blocks in
 * parallel. Set once per process, when the first product node is made
 * (openblas_set_num_threads is process-wide: it also applies to the
 * program's own OpenBLAS calls). */
void openblas_set_num_threads(int num_threads);
static void blas_single_thread(void) { openblas_set_num_threads(1); }
void cask__blas_single_thread(void) {
  static uv_once_t once = UV_ONCE_INIT;
  uv_once(&once, blas_single_thread);
}

static void shapes_str(char *buf, size_t cap, const cask_array *a, const cask_array *b) {
  char sa[160], sb[160];
  cask__shape_str(sa, sizeof sa, a->ndim, a->shape);
  cask__shape_str(sb, sizeof sb, b->ndim, b->shape);
  snprintf(buf, cap, "%s and %s", sa, sb);
}

/* Axis k of an array of ndim axes (negative counts from the end), or -1. */
static int norm_axis(int k, int ndim) {
  if (k < 0) k += ndim;
  return k >= 0 && k < ndim ? k : -1;
}

/* Fill p from the summed axes (already checked); pairs sorted by a's axis. */
static void plan(contract_params *p, const cask_array *a, const cask_array *b, int naxes,
                 const int *ax, const int *bx) {
  memset(p, 0, sizeof *p);
  p->nc = naxes;
  for (int k = 0; k < naxes; k++) {
    p->ca[k] = ax[k];
    p->cb[k] = bx[k];
  }
  if (naxes == 2 && p->ca[0] > p->ca[1]) {
    int32_t t = p->ca[0];
    p->ca[0] = p->ca[1], p->ca[1] = t;
    t = p->cb[0];
    p->cb[0] = p->cb[1], p->cb[1] = t;
  }
  for (int i = 0; i < a->ndim; i++)
    if (!(naxes > 0 && ax[0] == i) && !(naxes > 1 && ax[1] == i)) p->fa[p->nfa++] = i;
  for (int i = 0; i < b->ndim; i++)
    if (!(naxes > 0 && bx[0] == i) && !(naxes > 1 && bx[1] == i)) p->fb[p->nfb++] = i;
}

/* The summed axes must have one extent on both sides. */
static int check_pairs(const char *what, const cask_array *a, const cask_array *b,
                       const contract_params *p) {
  for (int k = 0; k < p->nc; k++) {
    int i = p->ca[k], j = p->cb[k];
    if (a->shape[i] != b->shape[j]) {
      char s[400];
      shapes_str(s, sizeof s, a, b);
      return cask__fail(a->ctx, CASK_EINVAL, "%s: shapes %s not aligned: %lld (axis %d of a) != %lld (axis %d of b)",
                        what, s, (long long)a->shape[i], i, (long long)b->shape[j], j);
    }
  }
  return CASK_OK;
}

/* Blocks are multiplied pairwise, so the summed axes need one chunking:
 * where they differ, the operand with fewer elements (b on a tie) is
 * rechunked along them to the other's chunks (as elementwise operations
 * do). *ra and *rb are a and b, or a new reference to the rechunked one. */
static int unify_chunks(const char *what, const contract_params *p, cask_array *a, cask_array *b,
                        cask_array **ra, cask_array **rb) {
  *ra = a, *rb = b;
  int same = 1;
  for (int k = 0; k < p->nc; k++) same &= a->chunk[p->ca[k]] == b->chunk[p->cb[k]];
  if (same) return CASK_OK;
  int move_b = cask_array_size(b) <= cask_array_size(a);
  cask_array *x = move_b ? b : a, *to = move_b ? a : b, **out = move_b ? rb : ra;
  const int32_t *xa = move_b ? p->cb : p->ca, *ta = move_b ? p->ca : p->cb;
  int64_t ch[CASK_MAX_NDIM];
  for (int i = 0; i < x->ndim; i++) ch[i] = x->chunk[i];
  for (int k = 0; k < p->nc; k++) ch[xa[k]] = to->chunk[ta[k]];
  int rc = cask_rechunk(x, ch, out);
  if (rc) {
    char m[sizeof a->ctx->errmsg];
    snprintf(m, sizeof m, "%s", cask_ctx_errmsg(a->ctx));
    return cask__fail(a->ctx, rc, "%s: rechunking %c to the other operand's chunks: %s", what, move_b ? 'b' : 'a', m);
  }
  return CASK_OK;
}

/* gemm takes int extents: the rows, columns and summed length of every
 * block product must fit. */
static int check_blas_extents(const char *what, const cask_array *a, const cask_array *b,
                              const contract_params *p, cask_dtype dt) {
  if (!cask__dtype_is_float(dt)) return CASK_OK;
  int64_t m = 1, n = 1, k = 1;
  for (int t = 0; t < p->nfa; t++) m *= a->chunk[p->fa[t]];
  for (int t = 0; t < p->nfb; t++) n *= b->chunk[p->fb[t]];
  for (int t = 0; t < p->nc; t++) k *= a->chunk[p->ca[t]] > b->chunk[p->cb[t]] ? a->chunk[p->ca[t]] : b->chunk[p->cb[t]];
  if (m <= INT_MAX && n <= INT_MAX && k <= INT_MAX) return CASK_OK;
  char s[400];
  shapes_str(s, sizeof s, a, b);
  return cask__fail(a->ctx, CASK_ETOOBIG, "%s: shapes %s: a block product of %lld x %lld x %lld is beyond BLAS's int extents; use smaller chunks",
                    what, s, (long long)m, (long long)k, (long long)n);
}

/* The node summing a's axes ax[k] against b's bx[k] (checked: in range,
 * distinct). */
static int contract(const char *what, const cask__node_class *cls, cask_array *a, cask_array *b,
                    int naxes, const int *ax, const int *bx, cask_array **out) {
  contract_params p;
  plan(&p, a, b, naxes, ax, bx);
  cask_dtype dt = cask_promote(a->dtype, b->dtype);
  cask_array *ra, *rb;
  int rc = check_pairs(what, a, b, &p);
  if (!rc) rc = check_blas_extents(what, a, b, &p, dt);
  if (!rc) rc = unify_chunks(what, &p, a, b, &ra, &rb);
  if (rc) return rc;
  int64_t shape[2], chunk[2];
  int nd = 0;
  for (int t = 0; t < p.nfa; t++, nd++) shape[nd] = ra->shape[p.fa[t]], chunk[nd] = ra->chunk[p.fa[t]];
  for (int t = 0; t < p.nfb; t++, nd++) shape[nd] = rb->shape[p.fb[t]], chunk[nd] = rb->chunk[p.fb[t]];
  contract_params *ext = cask__malloc(sizeof *ext);
  if (!ext) rc = cask__fail(a->ctx, CASK_ENOMEM, "%s: out of memory", what);
  else rc = cask__node_new_ext(a->ctx, cls, ext, dt, nd, shape, chunk, 2, (cask_array *[]){ra, rb}, out);
  if (!rc) {
    *ext = p;
    cask__node_seal(*out, &p, sizeof p);
    cask__blas_single_thread();
  }
  if (ra != a) cask_array_release(ra);
  if (rb != b) cask_array_release(rb);
  return rc;
}

static int check_args(cask_array *a, cask_array *b, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || !b) return CASK_EINVAL;
  if (a->ctx != b->ctx) return cask__fail(a->ctx, CASK_EINVAL, "the operands belong to different contexts");
  int rc = cask__need_sizes(a, "a matrix product");
  return rc ? rc : cask__need_sizes(b, "a matrix product");
}

/* matmul and dot of 1-d and 2-d operands: a's last axis against b's first
 * (b's only axis when 1-d). */
static int matmul_like(const char *what, const cask__node_class *cls, cask_array *a, cask_array *b,
                       cask_array **out) {
  int rc = check_args(a, b, out);
  if (rc) return rc;
  if (a->ndim < 1 || b->ndim < 1 || a->ndim > 2 || b->ndim > 2) {
    char s[400];
    shapes_str(s, sizeof s, a, b);
    return cask__fail(a->ctx, CASK_EINVAL, "%s: shapes %s: only 1-d and 2-d operands are supported%s", what, s,
                      a->ndim < 1 || b->ndim < 1 ? " (a scalar operand: use multiply)" : "");
  }
  int ax = a->ndim - 1, bx = 0;
  return contract(what, cls, a, b, 1, &ax, &bx, out);
}

int cask_matmul(cask_array *a, cask_array *b, cask_array **out) {
  return matmul_like("matmul", &matmul_class, a, b, out);
}

int cask_dot(cask_array *a, cask_array *b, cask_array **out) {
  int rc = check_args(a, b, out);
  if (rc) return rc;
  /* NumPy: dot with a scalar is multiplication. */
  if (a->ndim == 0 || b->ndim == 0) return cask_binary(CASK_MUL, a, b, out);
  return matmul_like("dot", &dot_class, a, b, out);
}

/* Axes of one operand: in range and distinct; normalized into out. */
static int tensordot_axes(cask_array *x, char name, int naxes, const int *axes, int *norm,
                          cask_array *a, cask_array *b) {
  char s[400];
  for (int k = 0; k < naxes; k++) {
    norm[k] = norm_axis(axes[k], x->ndim);
    if (norm[k] < 0 || (k == 1 && norm[1] == norm[0])) {
      shapes_str(s, sizeof s, a, b);
      return cask__fail(a->ctx, CASK_EINVAL, "tensordot: shapes %s: axis %d of %c is %s", s, axes[k], name,
                        norm[k] < 0 ? "out of range" : "given twice");
    }
  }
  return CASK_OK;
}

int cask_tensordot(cask_array *a, cask_array *b, int naxes, const int *axes_a, const int *axes_b,
                   cask_array **out) {
  int rc = check_args(a, b, out);
  if (rc) return rc;
  char s[400];
  shapes_str(s, sizeof s, a, b);
  if (a->ndim > 2 || b->ndim > 2)
    return cask__fail(a->ctx, CASK_EINVAL, "tensordot: shapes %s: operands of more than 2 axes are not supported", s);
  int lim = a->ndim < b->ndim ? a->ndim : b->ndim;
  if (naxes < 0 || naxes > lim || (naxes && (!axes_a || !axes_b)))
    return cask__fail(a->ctx, CASK_EINVAL, "tensordot: shapes %s: %d summed axes (at most %d)", s, naxes, lim);
  int ax[2], bx[2];
  if ((rc = tensordot_axes(a, 'a', naxes, axes_a, ax, a, b)) ||
      (rc = tensordot_axes(b, 'b', naxes, axes_b, bx, a, b)))
    return rc;
  int nd = a->ndim + b->ndim - 2 * naxes;
  if (nd > 2)
    return cask__fail(a->ctx, CASK_EINVAL, "tensordot: shapes %s summed over %d axes make a %d-d result; at most 2-d is supported",
                      s, naxes, nd);
  return contract("tensordot", &tensordot_class, a, b, naxes, ax, bx, out);
}

/* ---- block ops: arguments and matrix views ------------------------------- */

/* An operand read straight from a caller's buffer (cask_from_buffer, or a
 * slice or transpose of one): no task copies the block out of it first. */
typedef struct buffer_view {
  const void *data;          /* the block's first element; NULL: an input block */
  int64_t ext[2], stride[2]; /* extents and element strides of the block's axes */
} buffer_view;

typedef struct product_args {
  int32_t dtype;      /* of the result */
  int32_t accumulate; /* inputs[0] is the running sum: add into it */
  contract_params p;  /* axes of the operand blocks */
  buffer_view x[2];   /* a's and b's block, when read from a buffer */
} product_args;

typedef struct sum_args {
  int32_t dtype, pad;
} sum_args;

/* A block seen as a rows x cols row-major matrix for gemm: element (r, c)
 * at p[r * ld + c], or at p[c * ld + r] when trans. */
typedef struct view {
  const void *p;
  int trans;
  int64_t ld;
} view;

/* One operand of a product: a block or a buffer view, seen as a matrix
 * whose rows run over axes ra and columns over axes ca. */
typedef struct operand {
  const void *data;
  cask_dtype dtype;
  int ndim, nr, nc;
  int64_t shape[2], stride[2];
  const int32_t *ra, *ca;
  int64_t rows, cols;
  void *tmp[2]; /* conversions this task owns */
} operand;

static void operand_init(operand *o, const cask_block *b, const buffer_view *v, cask_dtype ct,
                         int ndim) {
  o->ndim = ndim;
  if (v->data) {
    o->data = v->data;
    o->dtype = ct;
    for (int i = 0; i < ndim; i++) o->shape[i] = v->ext[i], o->stride[i] = v->stride[i];
    return;
  }
  o->data = cask_block_data(b);
  o->dtype = cask_block_dtype(b);
  for (int i = 0; i < ndim; i++) o->shape[i] = cask_block_shape(b)[i];
  o->stride[0] = ndim == 2 ? o->shape[1] : 1;
  o->stride[1] = 1;
}

static int64_t extent_over(const operand *o, const int32_t *ax, int n) {
  int64_t e = 1;
  for (int t = 0; t < n; t++) e *= o->shape[ax[t]];
  return e;
}

/* The one stride of an index flattened (C order) over axes ax[0..n), or -1
 * when no single stride walks it. */
static int64_t flat_stride(const operand *o, const int32_t *ax, int n) {
  int64_t stride = -1, span = 1;
  for (int t = n - 1; t >= 0; t--) {
    int64_t e = o->shape[ax[t]], st = o->stride[ax[t]];
    if (e == 1) continue;
    if (stride < 0) stride = st;
    else if (st != stride * span) return -1;
    span *= e;
  }
  return stride < 0 ? 1 : stride;
}

/* Offset of flat index f over axes ax[0..n). */
static int64_t flat_offset(const operand *o, const int32_t *ax, int n, int64_t f) {
  int64_t off = 0;
  for (int t = n - 1; t >= 0; t--) {
    off += (f % o->shape[ax[t]]) * o->stride[ax[t]];
    f /= o->shape[ax[t]];
  }
  return off;
}

/* Element (r, c) of a rows x cols matrix whose index r steps by rs and c by
 * cs, as gemm wants it; 0 if no leading dimension describes it. */
static int make_view(const void *data, int64_t rows, int64_t cols, int64_t rs, int64_t cs, view *v) {
  v->p = data;
  v->trans = 0;
  if ((rows <= 1 && cols <= 1) || rows == 0 || cols == 0) { /* empty: gemm is not called */
    v->ld = 1;
    return 1;
  }
  if (rows <= 1) { /* one row: contiguous, or a strided column stored transposed */
    if (cs < 1) return 0;
    v->trans = cs != 1;
    v->ld = cs == 1 ? cols : cs;
    return 1;
  }
  if (cols <= 1) {
    v->ld = rs;
    return rs >= 1;
  }
  if (cs == 1 && rs >= cols) {
    v->ld = rs;
    return 1;
  }
  if (rs == 1 && cs >= rows) {
    v->trans = 1;
    v->ld = cs;
    return 1;
  }
  return 0;
}

/* The view gemm reads: the operand itself, its conversion to dt, or (for a
 * full contraction with crossed axes, or an odd buffer view) a row-major
 * copy. */
static int operand_view(operand *o, cask_dtype dt, view *v) {
  size_t w = cask_dtype_size(dt);
  int64_t n = o->rows * o->cols;
  if (o->dtype != dt) { /* only blocks (C order) come in another dtype */
    if (!(o->tmp[0] = cask__malloc((size_t)(n ? n : 1) * w))) return CASK_ENOMEM;
    cask__cast(o->tmp[0], dt, o->data, o->dtype, n);
    o->data = o->tmp[0];
    o->dtype = dt;
  }
  int64_t rs = flat_stride(o, o->ra, o->nr), cs = flat_stride(o, o->ca, o->nc);
  /* A buffer's rows may be longer than gemm's int leading dimension. */
  if (make_view(o->data, o->rows, o->cols, rs, cs, v) && (!cask__dtype_is_float(dt) || v->ld <= INT_MAX))
    return CASK_OK;
  char *c = o->tmp[1] = cask__malloc((size_t)(n ? n : 1) * w);
  if (!c) return CASK_ENOMEM;
  for (int64_t r = 0; r < o->rows; r++)
    for (int64_t k = 0; k < o->cols; k++) {
      int64_t off = flat_offset(o, o->ra, o->nr, r) + flat_offset(o, o->ca, o->nc, k);
      memcpy(c + (size_t)(r * o->cols + k) * w, (const char *)o->data + off * (int64_t)w, w);
    }
  return make_view(c, o->rows, o->cols, o->cols, 1, v) ? CASK_OK : CASK_EINVAL;
}

/* A result block of 4 MiB or more sits on transparent huge pages (as NumPy
 * asks for its large arrays): on this kind of VM a first touch of a 4 KiB
 * page costs microseconds, 5 ms for an 8 MiB block against 0.2 ms with
 * 2 MiB pages. */
#define HUGE_BLOCK ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

static void release_aligned(void *user, void *data) { cask__aligned_free(data); }

static int result_block(cask_dtype dt, int nd, const int64_t *shape, cask_block **out) {
  size_t n = cask_dtype_size(dt);
  for (int i = 0; i < nd; i++) n *= (size_t)shape[i];
  if (n < HUGE_BLOCK) return cask_block_new(dt, nd, shape, out);
  /* Whole 2 MiB pages: a last partial one could reach past the end of the
   * allocator's mapping and fall back to 4 KiB pages (400 faults). */
  size_t len = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  void *p = cask__aligned_alloc(HUGE_PAGE, len);
  if (!p) return CASK_ENOMEM;
  madvise(p, len, MADV_HUGEPAGE); /* advice: without it, small pages */
  int rc = cask_block_wrap(p, dt, nd, shape, release_aligned, NULL, out);
  if (rc) cask__aligned_free(p);
  return rc;
}

/* ---- block ops: arithmetic ---------------------------------------------- */

static enum CBLAS_TRANSPOSE tr(const view *v) { return v->trans ? CblasTrans : CblasNoTrans; }

static void gemm_float(cask_dtype dt, int64_t m, int64_t n, int64_t k, const view *a, const view *b,
                       int accumulate, void *c) {
  if (dt == CASK_F64)
    cblas_dgemm(CblasRowMajor, tr(a), tr(b), (int)m, (int)n, (int)k, 1.0, a->p, (int)a->ld, b->p,
                (int)b->ld, accumulate ? 1.0 : 0.0, c, (int)n);
  else
    cblas_sgemm(CblasRowMajor, tr(a), tr(b), (int)m, (int)n, (int)k, 1.0f, a->p, (int)a->ld, b->p,
                (int)b->ld, accumulate ? 1.0f : 0.0f, c, (int)n);
}

static uint64_t at_i64(const view *v, int64_t r, int64_t c) {
  const int64_t *p = v->p;
  return (uint64_t)(v->trans ? p[c * v->ld + r] : p[r * v->ld + c]);
}

/* c = a @ b over int64, wrapping as NumPy's integer matmul does (unsigned
 * arithmetic: no overflow is undefined). */
static void gemm_i64(int64_t m, int64_t n, int64_t k, const view *a, const view *b, uint64_t *c) {
  memset(c, 0, (size_t)(m * n) * sizeof *c);
  for (int64_t i = 0; i < m; i++)
    for (int64_t l = 0; l < k; l++) {
      uint64_t x = at_i64(a, i, l), *row = c + i * n;
      if (!x) continue;
      if (!b->trans) {
        const int64_t *br = (const int64_t *)b->p + l * b->ld;
        for (int64_t j = 0; j < n; j++) row[j] += x * (uint64_t)br[j];
      } else {
        for (int64_t j = 0; j < n; j++) row[j] += x * at_i64(b, l, j);
      }
    }
}

/* Element i of an integer or bool array, widened. */
static uint64_t load_u(const void *p, cask_dtype t, int64_t i) {
  switch (t) {
  case CASK_I64: return (uint64_t)((const int64_t *)p)[i];
  case CASK_I32: return (uint64_t)(int64_t)((const int32_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}

/* dst += src for n elements of dt (src of dt, or int64 partial sums):
 * integers wrap in dt's width, bool is or. */
static void add_into(cask_dtype dt, void *dst, const void *src, cask_dtype st, int64_t n) {
  if (dt == CASK_F64) {
    double *d = dst;
    const double *s = src;
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
  } else if (dt == CASK_F32) {
    float *d = dst;
    const float *s = src;
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
  } else if (dt == CASK_BOOL) {
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] |= load_u(src, st, i) != 0;
  } else {
    for (int64_t i = 0; i < n; i++) {
      uint64_t v = load_u(dst, dt, i) + load_u(src, st, i);
      cask__cast((char *)dst + i * (int64_t)cask_dtype_size(dt), dt, &v, CASK_I64, 1);
    }
  }
}

/* ---- array.matmul_product ---------------------------------------------- */

static int check_product_args(const product_args *a) {
  const contract_params *p = &a->p;
  if ((unsigned)a->dtype >= CASK_DTYPE_COUNT || (unsigned)p->nfa > 2 || (unsigned)p->nfb > 2 ||
      (unsigned)p->nc > 2 || p->nfa + p->nfb > 2 || p->nfa + p->nc > 2 || p->nfb + p->nc > 2)
    return 0;
  for (int t = 0; t < 2; t++)
    if ((unsigned)p->fa[t] > 1 || (unsigned)p->fb[t] > 1 || (unsigned)p->ca[t] > 1 || (unsigned)p->cb[t] > 1)
      return 0;
  return 1;
}

/* The operands fit the axes: the summed extents agree. */
static int check_operands(const contract_params *p, const operand *x, const operand *y, char *err,
                          size_t cap) {
  for (int k = 0; k < p->nc; k++)
    if (x->shape[p->ca[k]] != y->shape[p->cb[k]]) {
      cask__fmt(err, cap, "summed extents differ: %lld and %lld", (long long)x->shape[p->ca[k]],
                (long long)y->shape[p->cb[k]]);
      return 0;
    }
  return 1;
}

/* The operands from the inputs and the buffer views: inputs are the running
 * sum (when accumulating), then a's block, then b's, each unless read from
 * a buffer. */
static int gather_operands(cask_task_io *io, const product_args *a, cask_dtype ct, operand *x,
                           operand *y) {
  const contract_params *p = &a->p;
  size_t in = a->accumulate ? 1 : 0;
  size_t need = in + !a->x[0].data + !a->x[1].data;
  int ndim[2] = {p->nfa + p->nc, p->nfb + p->nc};
  const cask_block *blk[2] = {NULL, NULL};
  if (io->ninputs != need) return 0;
  for (int o = 0; o < 2; o++) {
    if (a->x[o].data) continue;
    blk[o] = io->inputs[in++];
    if (!blk[o] || cask_block_ndim(blk[o]) != ndim[o]) {
      cask__fmt(io->errmsg, io->errmsg_cap, "operand %c is not a block of %d axes", o ? 'b' : 'a', ndim[o]);
      return 0;
    }
  }
  operand_init(x, blk[0], &a->x[0], ct, ndim[0]);
  operand_init(y, blk[1], &a->x[1], ct, ndim[1]);
  x->ra = p->fa, x->nr = p->nfa, x->ca = p->ca, x->nc = p->nc;
  y->ra = p->cb, y->nr = p->nc, y->ca = p->fb, y->nc = p->nfb;
  x->rows = extent_over(x, p->fa, p->nfa), x->cols = extent_over(x, p->ca, p->nc);
  y->rows = x->cols, y->cols = extent_over(y, p->fb, p->nfb);
  return check_operands(p, x, y, io->errmsg, io->errmsg_cap);
}

/* The output: a fresh block, or the running sum (inputs[0]) to add into. */
static int product_output(cask_task_io *io, const product_args *a, const operand *x,
                          const operand *y) {
  const contract_params *p = &a->p;
  int64_t shape[2], m = x->rows, n = y->cols;
  int nd = 0;
  for (int t = 0; t < p->nfa; t++) shape[nd++] = x->shape[p->fa[t]];
  for (int t = 0; t < p->nfb; t++) shape[nd++] = y->shape[p->fb[t]];
  if (!a->accumulate) return result_block(a->dtype, nd, shape, &io->output);
  const cask_block *acc = io->inputs[0];
  if (!acc || cask_block_dtype(acc) != (cask_dtype)a->dtype || cask_block_size(acc) != m * n) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the running sum is not a %s block of %lld elements",
              cask_dtype_name(a->dtype), (long long)(m * n));
    return CASK_EINVAL;
  }
  io->output = cask_block_retain(io->inputs[0]);
  return CASK_OK;
}

/* The product of views x (m x k) and y (k x n) into, or added to, c. */
static int multiply(const product_args *a, int64_t m, int64_t n, int64_t k, const view *x,
                    const view *y, void *c) {
  cask_dtype dt = a->dtype;
  if (m * n == 0) return CASK_OK;
  if (k == 0) {
    if (!a->accumulate) memset(c, 0, (size_t)(m * n) * cask_dtype_size(dt));
    return CASK_OK;
  }
  if (cask__dtype_is_float(dt)) {
    gemm_float(dt, m, n, k, x, y, a->accumulate, c);
    return CASK_OK;
  }
  uint64_t *t = cask__malloc((size_t)(m * n) * sizeof *t);
  if (!t) return CASK_ENOMEM;
  gemm_i64(m, n, k, x, y, t);
  if (a->accumulate) add_into(dt, c, t, CASK_I64, m * n);
  else cask__cast(c, dt, t, CASK_I64, m * n);
  cask__free(t);
  return CASK_OK;
}

static int product_run(cask_task_io *io) {
  product_args a;
  if (io->args_len != sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if (!check_product_args(&a)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed matmul arguments");
    return CASK_EINVAL;
  }
  cask_dtype ct = cask__dtype_is_float(a.dtype) ? a.dtype : CASK_I64; /* what gemm reads */
  operand x = {0}, y = {0};
  if (!gather_operands(io, &a, ct, &x, &y)) {
    if (!io->errmsg[0]) cask__fmt(io->errmsg, io->errmsg_cap, "%zu inputs do not fit the arguments", io->ninputs);
    return CASK_EINVAL;
  }
  view vx, vy;
  int rc = operand_view(&x, ct, &vx);
  if (!rc) rc = operand_view(&y, ct, &vy);
  if (!rc) rc = product_output(io, &a, &x, &y);
  if (!rc) rc = multiply(&a, x.rows, y.cols, x.cols, &vx, &vy, cask_block_data(io->output));
  for (int i = 0; i < 2; i++) {
    cask__free(x.tmp[i]);
    cask__free(y.tmp[i]);
  }
  if (rc == CASK_ENOMEM) cask__fmt(io->errmsg, io->errmsg_cap, "out of memory");
  return rc;
}

/* ---- array.matmul_sum ---------------------------------------------------- */

static int sum_run(cask_task_io *io) {
  sum_args a;
  if (io->args_len != sizeof a || io->ninputs < 2) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  const cask_block *acc = io->inputs[0];
  for (size_t i = 0; i < io->ninputs; i++)
    if (!io->inputs[i] || cask_block_dtype(io->inputs[i]) != (cask_dtype)a.dtype ||
        cask_block_size(io->inputs[i]) != cask_block_size(acc)) {
      cask__fmt(io->errmsg, io->errmsg_cap, "input %zu is not a %s block like the first", i,
                cask_dtype_name((cask_dtype)a.dtype) ? cask_dtype_name((cask_dtype)a.dtype) : "?");
      return CASK_EINVAL;
    }
  /* In place: the first input is a running sum nothing else reads (see the
   * file's header). */
  for (size_t i = 1; i < io->ninputs; i++)
    add_into(a.dtype, cask_block_data(acc), cask_block_data(io->inputs[i]), a.dtype, cask_block_size(acc));
  io->output = cask_block_retain(io->inputs[0]);
  return CASK_OK;
}

static const cask_op *op_product, *op_product_view, *op_sum;

void cask__register_linalg_ops(void) {
  cask_op_register(&(cask_op){.name = "array.matmul_product", .run = product_run}, &op_product);
  /* reads a caller's buffer: its address means nothing in another process */
  cask__op_register_private(&(cask_op){.name = "array.matmul_product_view", .run = product_run},
                            &op_product_view);
  cask_op_register(&(cask_op){.name = "array.matmul_sum", .run = sum_run}, &op_sum);
}

/* ---- lowering ------------------------------------------------------------ */

/* One output block: the products of its row of a's blocks with its column
 * of b's blocks, in chains of consecutive inner blocks (each product added
 * in place to the one before it), then a tree over the chains. */
typedef struct lowering {
  cask__lower *L;
  cask_array *r;
  const contract_params *p;
  int64_t ai[CASK_MAX_NDIM], bi[CASK_MAX_NDIM]; /* block indices of a, b */
  int64_t kb[2];                                /* blocks along each summed pair */
  int64_t nbytes;                               /* of the output block */
  const char *key;
  int grid;                                     /* placement hints: below */
  uint32_t oi, oj, ni, nj;                      /* output block, block grid */
} lowering;

/* Placement for distributed runs (docs/distributed.md, "Matmul"): when
 * the result is a matrix and each operand has one free axis, block (i, j)
 * of the result, its products and sums sit at (i, j) of the result's block
 * grid, a's block (i, k) at (i, k) and b's block (k, j) at (k, j) of the
 * same grid: a block-cyclic distribution on a P x Q process grid (SUMMA's),
 * whatever the rank count. An operand block hinted already (by another
 * product) keeps its hint. */
static int hint(const lowering *w, cask_task_id t, int64_t i, int64_t j, int force) {
  cask_place_hint h;
  if (!w->grid || i > UINT32_MAX || j > UINT32_MAX) return CASK_OK; /* ni, nj: lower_contract */
  if (!force && cask_graph_get_place(w->L->g, t, &h) == CASK_OK && h.kind != CASK_PLACE_NONE) return CASK_OK;
  h = (cask_place_hint){CASK_PLACE_GRID, (uint32_t)i, (uint32_t)j, w->ni, w->nj};
  return cask_graph_set_place(w->L->g, t, &h);
}

/* Inner block k (C order over the summed pairs) of a and b. */
static void set_inner(lowering *w, int64_t k) {
  for (int t = w->p->nc - 1; t >= 0; t--) {
    w->ai[w->p->ca[t]] = w->bi[w->p->cb[t]] = k % w->kb[t];
    k /= w->kb[t];
  }
}

/* Block bidx of x as a view of a caller's buffer, when x is one (or a
 * slice or transpose of one) in the dtype gemm reads, with positive
 * strides: the product then reads it in place. */
static int buffer_block(const cask_array *x, const int64_t *bidx, cask_dtype ct, buffer_view *v) {
  if (!cask__is_source(x) || x->op != CASK__SRC_BUFFER || x->dtype != ct) return 0;
  const cask__source *s = &x->p.source;
  int64_t off[2], first = s->base;
  cask__block_box(x, bidx, off, v->ext);
  for (int i = 0; i < x->ndim; i++) {
    if (s->fstride[i] <= 0 && v->ext[i] > 1) return 0;
    first += off[i] * s->fstride[i];
    v->stride[i] = s->fstride[i];
  }
  v->data = (const char *)s->data + first * (int64_t)cask__itemsize(x);
  return 1;
}

/* Product k, added to prev when prev is not NULL; named key when last. */
static int add_product(lowering *w, int64_t k, const cask_task_id *prev, int last, cask_task_id *out) {
  product_args pa;
  memset(&pa, 0, sizeof pa);
  pa.dtype = w->r->dtype;
  pa.accumulate = prev != NULL;
  pa.p = *w->p;
  cask_dtype ct = cask__dtype_is_float(w->r->dtype) ? w->r->dtype : CASK_I64;
  cask_task_id deps[3];
  int n = 0, rc = CASK_OK;
  if (prev) deps[n++] = *prev;
  set_inner(w, k);
  const int64_t *idx[2] = {w->ai, w->bi};
  for (int o = 0; o < 2 && !rc; o++)
    if (!buffer_block(w->r->in[o], idx[o], ct, &pa.x[o])) {
      rc = cask__lower_block(w->L, w->r->in[o], idx[o], &deps[n++]);
      if (!rc) rc = o ? hint(w, deps[n - 1], k, w->oj, 0) : hint(w, deps[n - 1], w->oi, k, 0);
    }
  if (rc) return rc;
  char key[600];
  if (!last) snprintf(key, sizeof key, "%s-k%lld", w->key, (long long)k);
  const cask_op *op = pa.x[0].data || pa.x[1].data ? op_product_view : op_product;
  rc = cask__graph_add(w->L->g, last ? w->key : key, op, &pa, sizeof pa, deps, (size_t)n, out);
  if (!rc) cask_graph_set_size(w->L->g, *out, w->nbytes);
  if (!rc) rc = hint(w, *out, w->oi, w->oj, 1);
  return rc;
}

/* Tree of fan-in split_every over level[0..count), its root named key. A
 * group of one is carried up as it is (a sum needs two inputs). */
static int sum_tree(lowering *w, cask_task_id *level, int64_t count, cask_task_id *out) {
  int every = w->L->ctx->split_every;
  sum_args sa = {w->r->dtype, 0};
  char key[600];
  int rc = CASK_OK;
  for (int depth = 0; !rc && count > 1; depth++) {
    int64_t n = 0, groups = (count + every - 1) / every;
    for (int64_t j = 0; j < count && !rc; j += every, n++) {
      int64_t m = count - j < every ? count - j : every;
      if (m == 1) {
        level[n] = level[j];
        continue;
      }
      snprintf(key, sizeof key, "%s-sum-%d-%lld", w->key, depth, (long long)n);
      rc = cask__graph_add(w->L->g, groups == 1 ? w->key : key, op_sum, &sa, sizeof sa, level + j,
                          (size_t)m, &level[n]);
      if (!rc) cask_graph_set_size(w->L->g, level[n], w->nbytes);
      if (!rc) rc = hint(w, level[n], w->oi, w->oj, 1);
    }
    count = n;
  }
  *out = level[0];
  return rc;
}

static int lower_contract(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key,
                          cask_task_id *out) {
  lowering w = {L, r, r->ext, {0}, {0}, {1, 1}, (int64_t)cask__itemsize(r), key, 0, 0, 0, 0, 0};
  const contract_params *p = w.p;
  for (int t = 0; t < p->nfa; t++) w.ai[p->fa[t]] = bidx[t];
  for (int t = 0; t < p->nfb; t++) w.bi[p->fb[t]] = bidx[p->nfa + t];
  /* GRID hints carry 32-bit block counts: a grid wider than that (which
   * no graph of 32-bit task ids could hold anyway) gets no hints rather
   * than truncated ones; hints move work between ranks, never change bits */
  int64_t ni = cask__nblocks(r, 0), nj = r->ndim == 2 ? cask__nblocks(r, 1) : 0;
  if (r->ndim == 2 && p->nfa == 1 && p->nfb == 1 && ni <= UINT32_MAX && nj <= UINT32_MAX) {
    w.grid = 1;
    w.oi = (uint32_t)bidx[0], w.oj = (uint32_t)bidx[1];
    w.ni = (uint32_t)ni, w.nj = (uint32_t)nj;
  }
  int64_t nk = 1, off[2], ext[2];
  for (int t = 0; t < p->nc; t++) nk *= w.kb[t] = cask__nblocks(r->in[0], p->ca[t]);
  cask__block_box(r, bidx, off, ext);
  for (int i = 0; i < r->ndim; i++) w.nbytes *= ext[i];
  /* Chains as even as split_every allows: nk = 10 gives 5 + 5, not 8 + 2. */
  int64_t every = L->ctx->split_every, nchains = (nk + every - 1) / every;
  int64_t len = (nk + nchains - 1) / nchains;
  cask_task_id *level = cask__malloc((size_t)nchains * sizeof *level);
  if (!level) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  int rc = CASK_OK;
  for (int64_t c = 0; c < nchains && !rc; c++) {
    int64_t end = (c + 1) * len < nk ? (c + 1) * len : nk;
    for (int64_t k = c * len; k < end && !rc; k++)
      rc = add_product(&w, k, k > c * len ? &level[c] : NULL, nchains == 1 && k == nk - 1, &level[c]);
  }
  if (!rc) rc = sum_tree(&w, level, nchains, out);
  cask__free(level);
  return rc;
}
