/* kernel.h - fused elementwise kernels: a small register program that a task
 * runs over pieces of CASK__KERNEL_PIECE elements of its block, so a tree of
 * elementwise operations makes one pass over memory with every temporary in
 * cache (NumExpr's idea). The program is plain bytes (no pointers), so it
 * sits in the task's argument blob and round-trips through graph JSON. */
#ifndef CASK_ARRAY_KERNEL_H
#define CASK_ARRAY_KERNEL_H

#include "array-int.h"

#define CASK__KERNEL_REGS 16

enum { K_LOAD, K_CONST, K_UNARY, K_BINARY, K_BINARY_IMM, K_IMM_BINARY };

typedef struct cask__insn {
  uint8_t code, op, dst, a, b, pad[3];
  double imm; /* K_CONST value, or the scalar of K_*_IMM */
} cask__insn;

typedef struct cask__program {
  uint32_t ninsn, nleaves;
  uint8_t result; /* register holding the value */
  uint8_t pad[7];
  cask__insn insn[CASK__MAX_PROG];
} cask__program;

/* Compile the elementwise tree rooted at a (leaves: every non-elementwise
 * node, in first-use order, written to leaves[]). */
int cask__program_compile(cask_array *a, cask__program *p, cask_array **leaves);
/* Bytes of p worth storing (instructions beyond ninsn are not). */
size_t cask__program_size(const cask__program *p);
/* Check a program read from outside (graph JSON): registers, leaves, ops. */
int cask__program_check(const cask__program *p, size_t len, uint32_t nleaves);

/* One leaf as a kernel sees it: data and per-axis strides in elements
 * (0 on broadcast axes), aligned with the output block's axes. */
typedef struct cask__leaf_view {
  const double *data;
  int64_t stride[CASK_MAX_NDIM];
} cask__leaf_view;

/* Where to find n consecutive output elements along the last axis: each
 * leaf's element offset of the first one and its last-axis stride. */
typedef struct cask__piece {
  int64_t n;
  const double *src[CASK__MAX_LEAVES];
  int64_t src_stride[CASK__MAX_LEAVES]; /* 0 or 1 */
} cask__piece;

/* Evaluate the program over one piece; returns the result's n values (in
 * scratch, or in a leaf when the program is a plain load). If out is not
 * NULL the last instruction writes there and out is returned. */
const double *cask__program_eval(const cask__program *p, const cask__piece *pc,
                                 double (*scratch)[CASK__KERNEL_PIECE], double *out);

/* Iterate a block of the given shape row by row (rows run along the last
 * axis) in pieces, calling fn with each piece, the flat C-order offset of
 * its first element, and the row's multi-index (the last entry is the
 * piece's start along the last axis). With allow_flat, a block where no
 * leaf broadcasts is taken as one long row (row_idx is then NULL). */
typedef int (*cask__piece_fn)(void *user, const cask__piece *pc, int64_t out_off,
                              const int64_t *row_idx);
int cask__for_pieces(int ndim, const int64_t *shape, uint32_t nleaves,
                     const cask__leaf_view *leaves, int allow_flat, cask__piece_fn fn,
                     void *user);

#endif
