/* lapack.h - what lapack.c (one-block LAPACK calls) gives tsqr.c, norm.c
 * and the public functions of linalg.h. */
#ifndef CASK_ARRAY_LAPACK_H
#define CASK_ARRAY_LAPACK_H

#include "cask/linalg.h"
#include "ops.h"

enum {
  CASK__F_CHOL, CASK__F_SOLVE, CASK__F_INV, CASK__F_DET, CASK__F_SLOGDET, CASK__F_SVD, CASK__F_SVDVALS,
  CASK__F_QR, CASK__F_LSTSQ, CASK__F_TRSOLVE, CASK__F_RANK, CASK__LAPACK_COUNT
};
const char *cask__lapack_name(int fn);
/* The sizes of fn's packed results for a (m, n) and b with bk columns. */
int cask__lapack_parts(int fn, int64_t m, int64_t n, int64_t bk, int64_t *sizes);
/* float32 stays float32, everything else is computed as float64. */
cask_dtype cask__linalg_dtype(cask_dtype t);
/* a in dtype dt as one block (CASK_ETOOBIG naming fn above
 * CASK_LINALG_MAX_BLOCK bytes). */
int cask__one_block(cask_array *a, const char *fn, cask_dtype dt, cask_array **out);
/* The results of LAPACK function fn over a (and b: NULL or a second
 * input), each a node of one block: part p has ndims[p] axes of
 * shapes[p] and dtype dtypes[p] (dtypes NULL: the computation's); only
 * the parts whose bit is set in want are made (the others are NULL). One
 * task computes them all. */
int cask__lapack(int fn, cask_array *a, cask_array *b, double param, int nparts, const int *ndims,
                 int64_t (*shapes)[2], const cask_dtype *dtypes, unsigned want, cask_array **outs);
/* cov.c: the diagonal of a 2-d array. */
int cask__diagonal(cask_array *a, cask_array **out);

#endif
