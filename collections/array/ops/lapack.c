/* lapack.c - the decompositions of matrices that fit in one block, on
 * LAPACKE (OpenBLAS's LAPACK): cholesky, solve, inv, det, slogdet, svd,
 * svdvals, qr and lstsq of a single block, and the small steps TSQR's
 * users need (a triangular solve, a rank). The inputs are rechunked to one
 * block (refused above CASK_LINALG_MAX_BLOCK); one task runs the LAPACK
 * call and packs every result into one 1-d block; each result is then a
 * node of its own ("lapack part") whose task copies its piece out, so
 * svd's u, s and vt share one gesdd call.
 * The one thing to know: tasks get the blocks in the node's dtype
 * (float64 or float32; integers were cast to float64 by the node), and a
 * matrix LAPACK cannot factor fails the task with a message naming the
 * function and the shape, which the run's error carries. */
#include <lapacke.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lapack.h"
#include "../core/dtype.h"

/* ---- the block op ----------------------------------------------------- */

typedef struct lapack_args {
  int32_t fn, dtype;
  double param; /* F_RANK: the matrix's larger extent for the tolerance */
} lapack_args;

static const char *const fn_names[CASK__LAPACK_COUNT] = {"cholesky", "solve",  "inv",   "det",     "slogdet",
                                                          "svd",      "svdvals", "qr",   "lstsq",   "solve_triangular",
                                                          "matrix_rank"};

const char *cask__lapack_name(int fn) { return (unsigned)fn < CASK__LAPACK_COUNT ? fn_names[fn] : "?"; }

/* A matrix view of a block: rows x cols, row-major (1-d: a column). */
typedef struct mat {
  int64_t rows, cols;
} mat;

static mat mat_of(const cask_block *b) {
  int nd = cask_block_ndim(b);
  const int64_t *s = cask_block_shape(b);
  return (mat){nd > 0 ? s[0] : 1, nd > 1 ? s[1] : 1};
}

/* Sizes of the packed results of fn for inputs a (and b). */
int cask__lapack_parts(int fn, int64_t m, int64_t n, int64_t bk, int64_t *sizes) {
  int64_t k = m < n ? m : n;
  switch (fn) {
  case CASK__F_CHOL:
  case CASK__F_INV: sizes[0] = m * n; return 1;
  case CASK__F_SOLVE:
  case CASK__F_TRSOLVE: sizes[0] = n * bk; return 1;
  case CASK__F_DET:
  case CASK__F_RANK: sizes[0] = 1; return 1;
  case CASK__F_SLOGDET: sizes[0] = sizes[1] = 1; return 2;
  case CASK__F_SVD:
    sizes[0] = m * k, sizes[1] = k, sizes[2] = k * n;
    return 3;
  case CASK__F_SVDVALS: sizes[0] = k; return 1;
  case CASK__F_QR:
    sizes[0] = m * k, sizes[1] = k * n;
    return 2;
  case CASK__F_LSTSQ:
    sizes[0] = n * bk, sizes[1] = m > n ? bk : 0, sizes[2] = 1, sizes[3] = k;
    return 4;
  }
  return 0;
}

#define FAIL(...) (cask__fmt(io->errmsg, io->errmsg_cap, __VA_ARGS__), CASK_EINVAL)

/* The body of every function for one precision: T the element type, P the
 * LAPACKE letter (d or s), EPS its machine epsilon. */
#define DEFINE_RUN(T, P, EPS)                                                                                      \
  static int run_##P(cask_task_io *io, const lapack_args *a, const cask_block *ba, const cask_block *bb,         \
                     T *out, const char *shape) {                                                               \
    mat A = mat_of(ba);                                                                                          \
    int m = (int)A.rows, n = (int)A.cols, k = m < n ? m : n;                                                     \
    int bk = bb ? (int)mat_of(bb).cols : 0;                                                                      \
    size_t an = (size_t)m * (size_t)n;                                                                           \
    T *w = cask__malloc((an + 1) * sizeof(T));                                                                   \
    if (!w) return CASK_ENOMEM;                                                                                  \
    memcpy(w, cask_block_data(ba), an * sizeof(T));                                                              \
    int rc = CASK_OK;                                                                                            \
    lapack_int info = 0;                                                                                         \
    switch (a->fn) {                                                                                             \
    case CASK__F_CHOL:                                                                                           \
      info = LAPACKE_##P##potrf(LAPACK_ROW_MAJOR, 'L', n, w, n);                                                  \
      if (info > 0) rc = FAIL("cholesky: Matrix is not positive definite (shape %s)", shape);                    \
      for (int i = 0; i < n && !rc; i++)                                                                         \
        for (int j = 0; j < n; j++) out[(size_t)i * n + j] = j <= i ? w[(size_t)i * n + j] : (T)0;              \
      break;                                                                                                     \
    case CASK__F_SOLVE:                                                                                          \
    case CASK__F_INV: {                                                                                          \
      lapack_int *piv = cask__malloc(((size_t)n + 1) * sizeof *piv);                                             \
      int nr = a->fn == CASK__F_INV ? n : bk;                                                                    \
      if (!piv) {                                                                                                \
        rc = CASK_ENOMEM;                                                                                        \
        break;                                                                                                   \
      }                                                                                                          \
      if (a->fn == CASK__F_INV)                                                                                  \
        for (int i = 0; i < n; i++)                                                                              \
          for (int j = 0; j < n; j++) out[(size_t)i * n + j] = (T)(i == j);                                      \
      else memcpy(out, cask_block_data(bb), (size_t)n * (size_t)bk * sizeof(T));                                 \
      if (n > 0 && nr > 0) info = LAPACKE_##P##gesv(LAPACK_ROW_MAJOR, n, nr, w, n, piv, out, nr);                 \
      if (info > 0) rc = FAIL("%s: Singular matrix (shape %s)", fn_names[a->fn], shape);                        \
      cask__free(piv);                                                                                           \
      break;                                                                                                     \
    }                                                                                                            \
    case CASK__F_DET:                                                                                            \
    case CASK__F_SLOGDET: {                                                                                      \
      lapack_int *piv = cask__malloc(((size_t)n + 1) * sizeof *piv);                                             \
      if (!piv) {                                                                                                \
        rc = CASK_ENOMEM;                                                                                        \
        break;                                                                                                   \
      }                                                                                                          \
      if (n > 0) info = LAPACKE_##P##getrf(LAPACK_ROW_MAJOR, n, n, w, n, piv);                                    \
      /* NumPy: the product of U's diagonal, negated per row swap; a zero */                                     \
      /* pivot (info > 0) gives det 0 and slogdet (0, -inf) */                                                   \
      T sign = 1, logdet = 0, det = 1;                                                                           \
      for (int i = 0; i < n; i++) {                                                                              \
        T d = w[(size_t)i * n + i];                                                                              \
        if (piv[i] != i + 1) sign = -sign, det = -det;                                                           \
        det *= d;                                                                                                \
        if (d < 0) sign = -sign;                                                                                 \
        logdet += (T)log(fabs((double)d));                                                                       \
      }                                                                                                          \
      if (info > 0) sign = 0, logdet = -(T)INFINITY;                                                             \
      (void)det; /* NumPy's det is sign * exp(logdet), not the product */                                        \
      if (a->fn == CASK__F_DET) out[0] = sign * (T)exp((double)logdet);                                          \
      else out[0] = sign, out[1] = logdet;                                                                       \
      cask__free(piv);                                                                                           \
      break;                                                                                                     \
    }                                                                                                            \
    case CASK__F_SVD:                                                                                            \
    case CASK__F_SVDVALS:                                                                                        \
    case CASK__F_RANK: {                                                                                         \
      T *s = a->fn == CASK__F_SVD ? out + (size_t)m * k : out;                                                    \
      T *sv = a->fn == CASK__F_RANK ? cask__malloc(((size_t)k + 1) * sizeof(T)) : s;                             \
      if (!sv) {                                                                                                 \
        rc = CASK_ENOMEM;                                                                                        \
        break;                                                                                                   \
      }                                                                                                          \
      if (k > 0) {                                                                                               \
        if (a->fn == CASK__F_SVD)                                                                                \
          info = LAPACKE_##P##gesdd(LAPACK_ROW_MAJOR, 'S', m, n, w, n, sv, out, k, s + k, n);                    \
        else                                                                                                     \
          info = LAPACKE_##P##gesdd(LAPACK_ROW_MAJOR, 'N', m, n, w, n, sv, NULL, m > n ? m : n, NULL, m > n ? m : n);                    \
      }                                                                                                          \
      if (info > 0) rc = FAIL("%s: SVD did not converge (shape %s)", fn_names[a->fn], shape);                   \
      if (a->fn == CASK__F_RANK && !rc) { /* NumPy's matrix_rank tolerance */                                  \
        double tol = (k ? (double)sv[0] : 0.0) * a->param * (double)(EPS);                                       \
        int r = 0;                                                                                               \
        for (int i = 0; i < k; i++) r += (double)sv[i] > tol;                                                    \
        out[0] = (T)r;                                                                                           \
      }                                                                                                          \
      if (a->fn == CASK__F_RANK) cask__free(sv);                                                                 \
      break;                                                                                                     \
    }                                                                                                            \
    case CASK__F_QR: {                                                                                           \
      T *tau = cask__malloc(((size_t)k + 1) * sizeof(T));                                                        \
      if (!tau) {                                                                                                \
        rc = CASK_ENOMEM;                                                                                        \
        break;                                                                                                   \
      }                                                                                                          \
      if (k > 0) info = LAPACKE_##P##geqrf(LAPACK_ROW_MAJOR, m, n, w, n, tau);                                    \
      T *r = out + (size_t)m * k;                                                                                \
      for (int i = 0; i < k; i++)                                                                                \
        for (int j = 0; j < n; j++) r[(size_t)i * n + j] = j >= i ? w[(size_t)i * n + j] : (T)0;                \
      for (int i = 0; i < m; i++) memcpy(out + (size_t)i * k, w + (size_t)i * n, (size_t)k * sizeof(T));         \
      if (k > 0) info = LAPACKE_##P##orgqr(LAPACK_ROW_MAJOR, m, k, k, out, k, tau);                              \
      cask__free(tau);                                                                                           \
      break;                                                                                                     \
    }                                                                                                            \
    case CASK__F_TRSOLVE:                                                                                        \
      memcpy(out, cask_block_data(bb), (size_t)n * (size_t)bk * sizeof(T));                                      \
      if (n > 0 && bk > 0) info = LAPACKE_##P##trtrs(LAPACK_ROW_MAJOR, 'U', 'N', 'N', n, bk, w, n, out, bk);      \
      if (info > 0) rc = FAIL("lstsq: the R factor of shape %s is singular (a is rank deficient)", shape);     \
      break;                                                                                                     \
    case CASK__F_LSTSQ: {                                                                                        \
      int ldb = bk, mb = m > n ? m : n;                                                                          \
      T *bw = cask__calloc((size_t)mb * (size_t)(bk ? bk : 1) + 1, sizeof(T));                                   \
      T *s = out + (size_t)n * bk + (m > n ? bk : 0) + 1;                                                        \
      lapack_int rank = 0;                                                                                       \
      if (!bw) {                                                                                                 \
        rc = CASK_ENOMEM;                                                                                        \
        break;                                                                                                   \
      }                                                                                                          \
      memcpy(bw, cask_block_data(bb), (size_t)m * (size_t)bk * sizeof(T));                                       \
      if (k > 0 && bk > 0)                                                                                       \
        info = LAPACKE_##P##gelsd(LAPACK_ROW_MAJOR, m, n, bk, w, n, bw, ldb, s, (T)-1, &rank);                   \
      else if (k > 0)                                                                                            \
        info = LAPACKE_##P##gesdd(LAPACK_ROW_MAJOR, 'N', m, n, w, n, s, NULL, m > n ? m : n, NULL, m > n ? m : n);                       \
      if (info > 0) rc = FAIL("lstsq: SVD did not converge in Linear Least Squares (shape %s)", shape);         \
      if (k == 0) memset(bw, 0, (size_t)mb * (size_t)(bk ? bk : 1) * sizeof(T));                                 \
      memcpy(out, bw, (size_t)n * (size_t)bk * sizeof(T));                                                        \
      if (m > n)                                                                                                 \
        for (int j = 0; j < bk; j++) {                                                                           \
          T r = 0;                                                                                               \
          for (int i = n; i < m; i++) r += bw[(size_t)i * bk + j] * bw[(size_t)i * bk + j];                      \
          out[(size_t)n * bk + j] = r;                                                                           \
        }                                                                                                        \
      out[(size_t)n * bk + (m > n ? bk : 0)] = (T)rank;                                                          \
      cask__free(bw);                                                                                            \
      break;                                                                                                     \
    }                                                                                                            \
    }                                                                                                            \
    /* LAPACKE checks its inputs for NaN: a negative info (NumPy returns NaN) */                              \
    if (info < 0 && !rc) rc = FAIL("%s: the matrix of shape %s holds NaN (LAPACK argument %d)", fn_names[a->fn], shape, (int)-info); \
    cask__free(w);                                                                                               \
    return rc;                                                                                                   \
  }

DEFINE_RUN(double, d, DBL_EPSILON)
DEFINE_RUN(float, s, FLT_EPSILON)

static int lapack_run(cask_task_io *io) {
  lapack_args a;
  if (io->args_len != sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if ((unsigned)a.fn >= CASK__LAPACK_COUNT || (a.dtype != CASK_F64 && a.dtype != CASK_F32) || io->ninputs < 1 ||
      io->ninputs > 2) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed lapack arguments");
    return CASK_EINVAL;
  }
  const cask_block *ba = io->inputs[0], *bb = io->ninputs > 1 ? io->inputs[1] : NULL;
  if (cask_block_dtype(ba) != (cask_dtype)a.dtype || cask_block_ndim(ba) != 2 ||
      (bb && (cask_block_dtype(bb) != (cask_dtype)a.dtype || cask_block_ndim(bb) > 2 ||
              cask_block_shape(bb)[0] != cask_block_shape(ba)[0]))) {
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: the input blocks do not fit", fn_names[a.fn]);
    return CASK_EINVAL;
  }
  mat A = mat_of(ba);
  int64_t sizes[4], total = 0;
  int np = cask__lapack_parts(a.fn, A.rows, A.cols, bb ? mat_of(bb).cols : 0, sizes);
  for (int i = 0; i < np; i++) total += sizes[i];
  char shape[64];
  cask__shape_str(shape, sizeof shape, 2, cask_block_shape(ba));
  int rc = cask_block_new((cask_dtype)a.dtype, 1, &total, &io->output);
  if (rc) return rc;
  rc = a.dtype == CASK_F64 ? run_d(io, &a, ba, bb, cask_block_data(io->output), shape)
                           : run_s(io, &a, ba, bb, cask_block_data(io->output), shape);
  if (rc) {
    if (rc == CASK_ENOMEM && !io->errmsg[0]) cask__fmt(io->errmsg, io->errmsg_cap, "out of memory");
    cask_block_release(io->output);
    io->output = NULL;
  }
  return rc;
}

/* array.lapack_part: elements [off, off + size) of the packed block, with
 * the part's shape. */
typedef struct part_args {
  int32_t dtype, ndim;
  int64_t off, shape[2];
} part_args;

static int part_run(cask_task_io *io) {
  part_args a;
  if (io->args_len != sizeof a || io->ninputs != 1 || !io->inputs[0]) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  int64_t n = 1;
  if (a.ndim < 0 || a.ndim > 2 || (unsigned)a.dtype >= CASK_DTYPE_COUNT) return CASK_EINVAL;
  for (int i = 0; i < a.ndim; i++) n *= a.shape[i];
  const cask_block *in = io->inputs[0];
  if (a.off < 0 || n < 0 || a.off + n > cask_block_size(in)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "lapack part [%lld, %lld) beyond a block of %lld", (long long)a.off,
              (long long)(a.off + n), (long long)cask_block_size(in));
    return CASK_EINVAL;
  }
  int rc = cask_block_new((cask_dtype)a.dtype, a.ndim, a.shape, &io->output);
  if (rc) return rc;
  /* the packed block is in the computation's dtype; a part may be int64 (rank) */
  size_t w = cask_dtype_size(cask_block_dtype(in));
  cask__cast(cask_block_data(io->output), (cask_dtype)a.dtype, (const char *)cask_block_data(in) + (size_t)a.off * w,
             cask_block_dtype(in), n);
  return CASK_OK;
}

static const cask_op *op_lapack, *op_part;

void cask__register_lapack_ops(void) {
  cask_op_register(&(cask_op){.name = "array.lapack", .run = lapack_run}, &op_lapack);
  cask_op_register(&(cask_op){.name = "array.lapack_part", .run = part_run}, &op_part);
}

/* ---- nodes ------------------------------------------------------------ */

typedef struct part_params {
  int32_t fn, part, dtype, pad; /* dtype: of the computation */
  double param;
  int64_t off;
} part_params;

static int lower_part(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key, cask_task_id *out) {
  (void)bidx;
  const part_params *p = r->ext;
  char ckey[200];
  snprintf(ckey, sizeof ckey, "lapack-%s-%016llx-%016llx-%g", fn_names[p->fn], (unsigned long long)r->in[0]->token,
           (unsigned long long)(r->nin > 1 ? r->in[1]->token : 0), p->param);
  cask_task_id comp;
  int rc = CASK_OK;
  if (cask_graph_find(L->g, ckey, &comp) != CASK_OK) {
    cask_task_id deps[2];
    int64_t zero[2] = {0, 0};
    for (int i = 0; i < r->nin && !rc; i++) rc = cask__lower_block(L, r->in[i], zero, &deps[i]);
    lapack_args a = {p->fn, p->dtype, p->param};
    if (!rc) rc = cask__graph_add(L->g, ckey, op_lapack, &a, sizeof a, deps, (size_t)r->nin, &comp);
    if (rc) return rc;
    int64_t sizes[4], total = 0, bk = r->nin > 1 ? (r->in[1]->ndim > 1 ? r->in[1]->shape[1] : 1) : 0;
    int np = cask__lapack_parts(p->fn, r->in[0]->shape[0], r->in[0]->shape[1], bk, sizes);
    for (int i = 0; i < np; i++) total += sizes[i];
    cask_graph_set_size(L->g, comp, total * (int64_t)cask_dtype_size(p->dtype));
  }
  part_args pa = {r->dtype, r->ndim, p->off, {r->ndim > 0 ? r->shape[0] : 1, r->ndim > 1 ? r->shape[1] : 1}};
  rc = cask__graph_add(L->g, key, op_part, &pa, sizeof pa, &comp, 1, out);
  if (!rc) cask_graph_set_size(L->g, *out, cask_array_size(r) * (int64_t)cask__itemsize(r));
  return rc;
}

static const cask__node_class part_class = {.name = "lapack", .lower = lower_part};

int cask__one_block(cask_array *a, const char *fn, cask_dtype dt, cask_array **out) {
  *out = NULL;
  int64_t bytes = cask_array_size(a) * (int64_t)cask_dtype_size(dt);
  if (bytes > CASK_LINALG_MAX_BLOCK) {
    char s[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_ETOOBIG, "%s: a matrix of shape %s (%lld bytes) does not fit in one block of at most %lld bytes",
                      fn, s, (long long)bytes, (long long)CASK_LINALG_MAX_BLOCK);
  }
  cask_array *c = NULL;
  int rc = a->dtype == dt ? (c = cask_array_retain(a), CASK_OK) : cask_astype(a, dt, &c);
  int64_t whole[CASK_MAX_NDIM] = {0};
  int one = 1;
  for (int i = 0; i < a->ndim; i++) one &= a->chunk[i] >= a->shape[i];
  if (!rc && one) *out = cask_array_retain(c);
  else if (!rc) rc = cask_rechunk(c, whole, out);
  cask_array_release(c);
  return rc;
}

cask_dtype cask__linalg_dtype(cask_dtype t) { return t == CASK_F32 ? CASK_F32 : CASK_F64; }

int cask__lapack(int fn, cask_array *a, cask_array *b, double param, int nparts, const int *ndims,
                 int64_t (*shapes)[2], const cask_dtype *dtypes, unsigned want, cask_array **outs) {
  cask_dtype dt = cask__linalg_dtype(b ? cask_promote(a->dtype, b->dtype) : a->dtype);
  cask_array *in[2] = {NULL, NULL};
  for (int p = 0; p < nparts; p++) outs[p] = NULL;
  cask__blas_single_thread();
  int rc = cask__one_block(a, fn_names[fn], dt, &in[0]);
  if (!rc && b) rc = cask__one_block(b, fn_names[fn], dt, &in[1]);
  int64_t off = 0;
  for (int p = 0; p < nparts && !rc; p++) {
    int64_t size = 1, o = off;
    for (int i = 0; i < ndims[p]; i++) size *= shapes[p][i];
    off += size;
    outs[p] = NULL;
    if (!((want >> p) & 1)) continue; /* a part the caller does not want */
    part_params *ext = cask__malloc(sizeof *ext);
    if (!ext) {
      rc = cask__fail(a->ctx, CASK_ENOMEM, "%s: out of memory", fn_names[fn]);
      break;
    }
    *ext = (part_params){fn, p, dt, 0, param, o};
    cask_array *node = NULL;
    rc = cask__node_new_ext(a->ctx, &part_class, ext, dtypes ? dtypes[p] : dt, ndims[p], shapes[p], shapes[p],
                            b ? 2 : 1, in, &node);
    if (!rc) cask__node_seal(node, ext, sizeof *ext);
    outs[p] = node;
  }
  cask_array_release(in[0]);
  cask_array_release(in[1]);
  for (int p = 0; p < nparts && rc; p++) { /* all or nothing */
    cask_array_release(outs[p]);
    outs[p] = NULL;
  }
  return rc;
}
