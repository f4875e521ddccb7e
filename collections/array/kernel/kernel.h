/* kernel.h - fused elementwise kernels: a small register program that a task
 * runs over pieces of CASK__KERNEL_PIECE elements of its block, so a tree of
 * elementwise operations makes one pass over memory with every temporary in
 * cache (NumExpr's idea). The program is plain bytes (no pointers), so it
 * sits in the task's argument blob and round-trips through graph JSON. */
#ifndef CASK_ARRAY_KERNEL_H
#define CASK_ARRAY_KERNEL_H

#include "../core/array-int.h"

#define CASK__KERNEL_PIECE 1024 /* elements per pass of a fused kernel */
#define CASK__MAX_LEAVES 64     /* leaf inputs of one fused kernel */
#define CASK__MAX_PROG 256      /* instructions of one fused kernel */
#define CASK__KERNEL_REGS 16

/* Registers hold doubles (float dtypes; float32 values rounded to float32
 * after every operation, so results match NumPy's float32 arithmetic) or
 * int64s (integer and bool dtypes; int32 and uint8 values wrapped after
 * every operation, bools 0 or 1). */
typedef union cask__regbuf {
  double f[CASK__KERNEL_PIECE];
  int64_t i[CASK__KERNEL_PIECE];
} cask__regbuf;

enum {
  CASK__K_LOAD,       /* dst = leaf a (dt: the leaf's dtype) */
  CASK__K_CONST,      /* dst = imm */
  CASK__K_UNARY,      /* dst = op(a) */
  CASK__K_BINARY,     /* dst = a op b */
  CASK__K_BINARY_IMM, /* dst = a op imm */
  CASK__K_IMM_BINARY, /* dst = imm op a */
  CASK__K_WHERE,      /* dst = a ? b : c (a int, b and c one class) */
  CASK__K_TO_FLOAT,   /* dst = (double) a from an int register; dt f32: (float) a */
  CASK__K_TO_INT,     /* dst = a converted to integer dtype dt, from a float register */
  CASK__K_TRUTH,      /* dst = a != 0, from a float register */
  CASK__K_NARROW,     /* dst = a wrapped/rounded to dt (f32, i32, u8, bool) */
  CASK__K_GEN,        /* dst = a source's values (random, arange, ...) computed in place:
                   the next CASK__K_GEN_SLOTS instructions hold its cask__gen */
  CASK__K_CODE_COUNT
};

typedef struct cask__insn {
  uint8_t code, op, dst, a, b, c;
  uint8_t dt;  /* CASK__K_LOAD, CASK__K_TO_INT, CASK__K_NARROW: a cask_dtype */
  uint8_t isint; /* the operands' class: 1 int64, 0 double */
  union {
    double f;
    int64_t i;
  } imm; /* CASK__K_CONST's value, or the scalar of K_*_IMM, in the operands' class */
} cask__insn;

/* A source inlined into a kernel: its parameters and, per axis of the
 * evaluated block, the source's flat-index stride (0 where it broadcasts);
 * base is the flat index of the block's first element. */
typedef struct cask__gen {
  int32_t op, dtype; /* cask__source_op, cask_dtype */
  double a, b, c;
  int64_t count;
  uint64_t seed;
  int64_t base;
  int64_t stride[CASK_MAX_NDIM];
} cask__gen;
#define CASK__K_GEN_SLOTS ((sizeof(cask__gen) + sizeof(cask__insn) - 1) / sizeof(cask__insn))

typedef struct cask__program {
  uint32_t ninsn, nleaves;
  uint8_t result; /* register holding the value */
  uint8_t dtype;  /* the value's dtype (the root node's) */
  uint8_t pad[6];
  cask__insn insn[CASK__MAX_PROG];
} cask__program;

/* Compile the elementwise tree rooted at a (leaves: every non-elementwise
 * node, in first-use order, written to leaves[]). */
int cask__program_compile(cask_array *a, cask__program *p, cask_array **leaves);
/* Bytes of p worth storing (instructions beyond ninsn are not). */
size_t cask__program_size(const cask__program *p);
/* Check a program read from outside (graph JSON): registers defined before
 * use and of the right class, leaves, ops, dtypes. */
int cask__program_check(const cask__program *p, size_t len, uint32_t nleaves);
/* Whether the program computes a source in place (its pieces must then
 * follow rows: cask__for_pieces with allow_flat 0). */
int cask__program_has_gen(const cask__program *p);
/* Move every inlined source to the block at offset off (per axis). */
void cask__program_place(cask__program *p, int ndim, const int64_t *off);
/* The dtype leaf l must have (from its load). */
int cask__program_leaf_dtype(const cask__program *p, uint32_t l);
/* Whether the program's value is in int64 registers. */
static inline int cask__program_isint(const cask__program *p) {
  return p->dtype != CASK_F64 && p->dtype != CASK_F32;
}

/* One leaf as a kernel sees it: data and per-axis strides in elements
 * (0 on broadcast axes), aligned with the output block's axes. */
typedef struct cask__leaf_view {
  const char *data;
  size_t itemsize;
  int64_t stride[CASK_MAX_NDIM];
} cask__leaf_view;

/* Where to find n consecutive output elements along the last axis: each
 * leaf's first element and its last-axis stride. */
typedef struct cask__piece {
  int64_t n;
  int ndim;
  const int64_t *row; /* block-local index of the first element (NULL: all 0) */
  const void *src[CASK__MAX_LEAVES];
  int64_t src_stride[CASK__MAX_LEAVES]; /* 0 or 1 */
} cask__piece;

/* Evaluate the program over one piece. Without out: returns the n values
 * (doubles or int64s as cask__program_isint says; in scratch, or in a
 * leaf); with out: stores them there in the program's dtype and returns
 * out. */
const void *cask__program_eval(const cask__program *p, const cask__piece *pc,
                               cask__regbuf *scratch, void *out);

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
