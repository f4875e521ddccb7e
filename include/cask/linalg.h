/* linalg.h - einsum and the decompositions of chunked arrays (NumPy's and
 * dask.array.linalg's names and results), on LAPACK (LAPACKE over
 * OpenBLAS's LAPACK). Lazy like every array operation: a call checks
 * shapes and builds nodes; cask_compute does the work. Every function
 * returns CASK_EINVAL with the context's message naming the function and
 * the shapes for bad arguments; a matrix LAPACK cannot factor (singular,
 * not positive definite) fails the computation with CASK_EINVAL naming the
 * function and the shape (NumPy's LinAlgError). Dtypes: float64 and
 * float32 (float32 stays float32); integers and bool are computed as
 * float64, as NumPy does. Results are bit-identical for any thread count:
 * every tree is fixed by block index. Matrix products and matmul chunks:
 * see cask/array.h. matmul/dot/tensordot are declared in cask/array.h. */
#ifndef CASK_LINALG_H
#define CASK_LINALG_H

#include "cask/array.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NumPy's einsum(subscripts, *operands) for n operands (1 to 8):
 * "ij,jk->ik", implicit output ("ij,jk": the labels seen once, in ASCII
 * order), a label repeated in one operand takes the diagonal ("ii->i",
 * "ii" is the trace). No ellipsis. Matrix products go to the blocked
 * gemm of cask_tensordot; everything else is a fused product summed by a
 * reduction (no product block is materialized). Result dtype: the
 * operands' promotion. */
CASK_API int cask_einsum(const char *subscripts, int n, cask_array *const *operands, cask_array **out);

/* The matrices that fit in one block: decompositions of a 2-d a that is
 * rechunked to one block first (refused with CASK_ETOOBIG above
 * CASK_LINALG_MAX_BLOCK bytes). */
#define CASK_LINALG_MAX_BLOCK ((int64_t)1 << 30)

/* QR of a (m, n): q (m, k) and r (k, n), k = min(m, n), NumPy's 'reduced'
 * mode (either output may be NULL). A tall-and-skinny a chunked along
 * rows only (one column chunk) is factored by TSQR (dask.array.linalg's
 * tsqr): a QR per row block, then the stacked R factors in a tree of
 * fan-in split_every fixed by block index, q as a chunked array with a's
 * row chunks, r one block. Every row block must have at least n rows
 * (dask's rule; rechunk otherwise). An a of one block is one LAPACK call.
 * Signs follow LAPACK (as NumPy's), up to which the factors are unique. */
CASK_API int cask_qr(cask_array *a, cask_array **q, cask_array **r);
/* Thin SVD a = u @ diag(s) @ vt: u (m, k), s (k,) descending, vt (k, n).
 * Tall-and-skinny chunked a: TSQR, then the SVD of r (u = q @ u_r); one
 * block: gesdd (NumPy's). Any output may be NULL. */
CASK_API int cask_svd(cask_array *a, cask_array **u, cask_array **s, cask_array **vt);
/* The singular values only (NumPy's svd(a, compute_uv=False)). */
CASK_API int cask_svdvals(cask_array *a, cask_array **out);
/* dask's svd_compressed: a rank-k approximation by randomized projection
 * (Halko et al.): a @ omega (omega normal, seed; k + 10 columns, at most
 * n), n_power_iter power iterations, QR by TSQR, the SVD of the small
 * projection; u (m, k), s (k,), vt (k, n). a must be chunked along rows
 * only, its blocks at least k + 10 rows (or min(m, n)). */
CASK_API int cask_svd_compressed(cask_array *a, int64_t k, int n_power_iter, uint64_t seed, cask_array **u,
                                 cask_array **s, cask_array **vt);
/* Lower-triangular l with a = l @ l.T (a symmetric positive definite; only
 * its lower triangle is read, as NumPy's). */
CASK_API int cask_cholesky(cask_array *a, cask_array **out);
/* x with a @ x = b: a (n, n), b (n,) or (n, k); LU with partial pivoting
 * (gesv, NumPy's). */
CASK_API int cask_solve(cask_array *a, cask_array *b, cask_array **out);
/* The inverse of a square a (gesv against the identity, NumPy's way). */
CASK_API int cask_inv(cask_array *a, cask_array **out);
/* NumPy's det (the product of LU's diagonal; a singular matrix gives 0)
 * and slogdet (sign and log|det|: (0, -inf) for a singular one), square
 * a, one block. */
CASK_API int cask_det(cask_array *a, cask_array **out);
CASK_API int cask_slogdet(cask_array *a, cask_array **sign, cask_array **logabsdet);
/* Least squares: x minimizing |b - a @ x| (a (m, n), b (m,) or (m, k)),
 * residuals (the squared norms of b - a @ x per column: (k,) or (1,) when
 * m > n, else (0,)), rank (0-d int64) and the singular values of a (min(m,
 * n),). One block: gelsd (NumPy's, rcond = machine precision); a
 * tall-and-skinny chunked a: TSQR, x = r^-1 (q.T @ b) (dask's way). Any
 * output but x may be NULL. */
CASK_API int cask_lstsq(cask_array *a, cask_array *b, cask_array **x, cask_array **residuals, cask_array **rank,
                        cask_array **sv);

/* NumPy's norm(x, ord, axis, keepdims). kind says what ord is: None
 * (CASK_NORM_DEFAULT: the 2-norm of a vector, Frobenius of a matrix, the
 * 2-norm of a flattened array with no axis), a number (CASK_NORM_ORD, ord:
 * vectors any p including 0, INFINITY, -INFINITY; matrices 1, -1, 2, -2,
 * INFINITY, -INFINITY), 'fro' or 'nuc' (matrices). axes: NULL (naxes 0):
 * all axes (at most 2); one axis: vector norms; two: matrix norms. The
 * result is float64 (float32 for float32). 2, -2 and 'nuc' take singular
 * values (a matrix that fits in one block, or TSQR's r). */
typedef enum cask_norm_kind { CASK_NORM_DEFAULT, CASK_NORM_ORD, CASK_NORM_FRO, CASK_NORM_NUC } cask_norm_kind;
CASK_API int cask_norm(cask_array *x, cask_norm_kind kind, double ord, const int *axes, int naxes, int keepdims,
                       cask_array **out);

#ifdef __cplusplus
}
#endif
#endif
