/* kernel.c - compiling an elementwise tree to a register program, and
 * running it over pieces of a block.
 * The one thing to know: the loops in the op functions below are compiled
 * once per instruction set (target_clones: AVX-512, AVX2, baseline) and the
 * library picks one when it loads; math functions are declared with the simd
 * attribute so gcc calls glibc's vector variants (libmvec, within 4 ulp). */
#include <math.h>
#include <stdio.h>

#include "clones.h"
#include "kernel.h"

/* glibc declares these only under -ffast-math; declaring them here gives
 * the vector variants without fast-math's other effects. */
#define SIMD __attribute__((simd("notinbranch")))
SIMD double sin(double);
SIMD double cos(double);
SIMD double tan(double);
SIMD double asin(double);
SIMD double acos(double);
SIMD double atan(double);
SIMD double sinh(double);
SIMD double cosh(double);
SIMD double tanh(double);
SIMD double exp(double);
SIMD double expm1(double);
SIMD double log(double);
SIMD double log1p(double);
SIMD double log2(double);
SIMD double log10(double);
SIMD double pow(double, double);
SIMD double atan2(double, double);


/* ---- compiling --------------------------------------------------------- */

typedef struct compiler {
  cask__program *p;
  cask_array **leaves;
  uint32_t live; /* bit r: register r holds a value still needed */
  cask_ctx *ctx;
  int ops; /* operations inlined so far */
} compiler;

static int alloc_reg(compiler *c) {
  for (int r = 0; r < CASK__KERNEL_REGS; r++)
    if (!(c->live & (1u << r))) {
      c->live |= 1u << r;
      return r;
    }
  return -1;
}

static int emit(compiler *c, cask__insn in, int *reg) {
  if (c->p->ninsn == CASK__MAX_PROG)
    return cask__fail(c->ctx, CASK_ETOOBIG, "elementwise expression has more than %d operations",
                      CASK__MAX_PROG);
  /* The result gets a register of its own before the operands' die (a
   * tree: each value has one use): never writing over an operand keeps a
   * broadcast scalar operand intact while the loop still reads it. */
  int r = alloc_reg(c);
  if (r < 0)
    return cask__fail(c->ctx, CASK_ETOOBIG, "elementwise expression needs more than %d registers",
                      CASK__KERNEL_REGS);
  if (in.code == K_UNARY || in.code == K_BINARY || in.code == K_BINARY_IMM || in.code == K_IMM_BINARY)
    c->live &= ~(1u << in.a);
  if (in.code == K_BINARY) c->live &= ~(1u << in.b);
  in.dst = (uint8_t)r;
  c->p->insn[c->p->ninsn++] = in;
  *reg = r;
  return CASK_OK;
}

static int leaf_index(compiler *c, cask_array *a) {
  for (uint32_t i = 0; i < c->p->nleaves; i++)
    if (c->leaves[i] == a) return (int)i;
  if (c->p->nleaves == CASK__MAX_LEAVES) return -1;
  c->leaves[c->p->nleaves] = a;
  return (int)c->p->nleaves++;
}

#define MAX_FUSED_OPS 40 /* operations in one kernel: <= 81 instructions */

/* Post-order over the tree, the deeper operand first (fewer registers).
 * Operations are taken greedily in that order until MAX_FUSED_OPS; the rest
 * become leaves, computed by kernels of their own. So a long chain is cut
 * into kernels of 40 operations, a shared subexpression reached twice costs
 * the budget twice (never an exponential blow-up), and with at most 40
 * operations the register need stays far below CASK__KERNEL_REGS. */
static int compile_node(compiler *c, cask_array *a, int level, int *reg) {
  cask__insn in = {0};
  int ra, rb, rc;
  int inline_it = cask__is_elementwise(a) && (level == 0 || c->ops < MAX_FUSED_OPS);
  if (inline_it) c->ops++;
  if (!inline_it) {
    int l = leaf_index(c, a);
    if (l < 0)
      return cask__fail(c->ctx, CASK_ETOOBIG, "elementwise expression has more than %d inputs",
                        CASK__MAX_LEAVES);
    in.code = K_LOAD;
    in.a = (uint8_t)l;
    return emit(c, in, reg);
  }
  in.op = (uint8_t)a->op;
  if (a->kind == NODE_UNARY || a->kind == NODE_SCALAR_BINARY) {
    if ((rc = compile_node(c, a->in[0], level + 1, &ra))) return rc;
    in.code = a->kind == NODE_UNARY ? K_UNARY : a->scalar_first ? K_IMM_BINARY : K_BINARY_IMM;
    in.a = (uint8_t)ra;
    in.imm = a->p.value;
    return emit(c, in, reg);
  }
  int first = a->in[1]->depth > a->in[0]->depth;
  if ((rc = compile_node(c, a->in[first], level + 1, first ? &rb : &ra)) ||
      (rc = compile_node(c, a->in[!first], level + 1, first ? &ra : &rb)))
    return rc;
  in.code = K_BINARY;
  in.a = (uint8_t)ra;
  in.b = (uint8_t)rb;
  return emit(c, in, reg);
}

int cask__program_compile(cask_array *a, cask__program *p, cask_array **leaves) {
  memset(p, 0, sizeof *p);
  compiler c = {p, leaves, 0, a->ctx, 0};
  int r, rc = compile_node(&c, a, 0, &r);
  if (!rc) p->result = (uint8_t)r;
  return rc;
}

size_t cask__program_size(const cask__program *p) {
  return offsetof(cask__program, insn) + p->ninsn * sizeof(cask__insn);
}

int cask__program_check(const cask__program *p, size_t len, uint32_t nleaves) {
  if (len < offsetof(cask__program, insn) || p->ninsn == 0 || p->ninsn > CASK__MAX_PROG ||
      len != cask__program_size(p) || p->nleaves != nleaves || p->result >= CASK__KERNEL_REGS)
    return CASK_EINVAL;
  for (uint32_t i = 0; i < p->ninsn; i++) {
    const cask__insn *in = &p->insn[i];
    /* A load's operand is a leaf index, every other operand a register. */
    if (in->dst >= CASK__KERNEL_REGS || in->b >= CASK__KERNEL_REGS ||
        in->a >= (in->code == K_LOAD ? nleaves : CASK__KERNEL_REGS))
      return CASK_EINVAL;
    if ((in->code == K_LOAD && in->a >= nleaves) || in->code > K_IMM_BINARY ||
        (in->code == K_UNARY && in->op >= CASK_UNOP_COUNT) ||
        (in->code >= K_BINARY && in->op >= CASK_BINOP_COUNT))
      return CASK_EINVAL;
  }
  return CASK_OK;
}

/* ---- running ----------------------------------------------------------- */

CASK_CLONES static void unary_loop(int op, const double *restrict a, double *restrict d, int64_t n) {
#define LOOP(expr)                                 \
  for (int64_t i = 0; i < n; i++) d[i] = (expr); \
  break
  switch (op) {
  case CASK_NEGATIVE: LOOP(-a[i]);
  case CASK_ABS: LOOP(fabs(a[i]));
  case CASK_SQRT: LOOP(sqrt(a[i]));
  case CASK_EXP: LOOP(exp(a[i]));
  case CASK_EXPM1: LOOP(expm1(a[i]));
  case CASK_LOG: LOOP(log(a[i]));
  case CASK_LOG1P: LOOP(log1p(a[i]));
  case CASK_LOG2: LOOP(log2(a[i]));
  case CASK_LOG10: LOOP(log10(a[i]));
  case CASK_SIN: LOOP(sin(a[i]));
  case CASK_COS: LOOP(cos(a[i]));
  case CASK_TAN: LOOP(tan(a[i]));
  case CASK_ARCSIN: LOOP(asin(a[i]));
  case CASK_ARCCOS: LOOP(acos(a[i]));
  case CASK_ARCTAN: LOOP(atan(a[i]));
  case CASK_SINH: LOOP(sinh(a[i]));
  case CASK_COSH: LOOP(cosh(a[i]));
  case CASK_TANH: LOOP(tanh(a[i]));
  case CASK_FLOOR: LOOP(floor(a[i]));
  case CASK_CEIL: LOOP(ceil(a[i]));
  }
#undef LOOP
}

/* One loop per operand layout (vector-vector, vector-scalar, scalar-vector,
 * scalar-scalar): with the strides known at compile time every loop
 * vectorizes; a loop with variable strides became gathers. */
#define BINARY_OPS(LOOP)                                   \
  switch (op) {                                            \
  case CASK_ADD: LOOP(x + y);                              \
  case CASK_SUB: LOOP(x - y);                              \
  case CASK_MUL: LOOP(x * y);                              \
  case CASK_DIV: LOOP(x / y);                              \
  case CASK_POW: LOOP(pow(x, y));                          \
  /* NumPy's maximum/minimum propagate a NaN from either side. */ \
  case CASK_MAXIMUM: LOOP((x > y || x != x) ? x : y);      \
  case CASK_MINIMUM: LOOP((x < y || x != x) ? x : y);      \
  case CASK_ARCTAN2: LOOP(atan2(x, y));                    \
  }

#define LOOP_VV(expr)                   \
  for (int64_t i = 0; i < n; i++) {     \
    double x = a[i], y = b[i];          \
    d[i] = (expr);                      \
  }                                     \
  break
#define LOOP_VS(expr)                   \
  for (int64_t i = 0; i < n; i++) {     \
    double x = a[i];                    \
    d[i] = (expr);                      \
  }                                     \
  break
#define LOOP_SV(expr)                   \
  for (int64_t i = 0; i < n; i++) {     \
    double y = b[i];                    \
    d[i] = (expr);                      \
  }                                     \
  break

CASK_CLONES static void binary_vv(int op, const double *restrict a, const double *restrict b,
                             double *restrict d, int64_t n) {
  BINARY_OPS(LOOP_VV)
}
CASK_CLONES static void binary_vs(int op, const double *restrict a, double y, double *restrict d,
                             int64_t n) {
  BINARY_OPS(LOOP_VS)
}
CASK_CLONES static void binary_sv(int op, double x, const double *restrict b, double *restrict d,
                             int64_t n) {
  BINARY_OPS(LOOP_SV)
}

/* sa, sb: 1 for a vector operand, 0 for a broadcast scalar. */
static void binary_loop(int op, const double *a, int64_t sa, const double *b, int64_t sb, double *d,
                        int64_t n) {
  if (sa && sb) binary_vv(op, a, b, d, n);
  else if (sa) binary_vs(op, a, b[0], d, n);
  else if (sb) binary_sv(op, a[0], b, d, n);
  else {
    double x = a[0];
    binary_vs(op, &x, b[0], d, 1);
  }
}

const double *cask__program_eval(const cask__program *p, const cask__piece *pc,
                                 double (*scratch)[CASK__KERNEL_PIECE], double *out) {
  const double *reg[CASK__KERNEL_REGS];
  int64_t stride[CASK__KERNEL_REGS]; /* 0: a broadcast scalar */
  int64_t n = pc->n;
  for (uint32_t i = 0; i < p->ninsn; i++) {
    const cask__insn *in = &p->insn[i];
    double *d = (out && i + 1 == p->ninsn) ? out : scratch[in->dst];
    switch (in->code) {
    case K_LOAD:
      /* No copy: the register points into the leaf. */
      reg[in->dst] = pc->src[in->a];
      stride[in->dst] = pc->src_stride[in->a];
      if (out && i + 1 == p->ninsn) {
        for (int64_t k = 0; k < n; k++) d[k] = reg[in->dst][k * stride[in->dst]];
        return out;
      }
      continue;
    case K_CONST:
      d[0] = in->imm;
      stride[in->dst] = 0;
      break;
    case K_UNARY:
      if (stride[in->a] == 0) {
        /* A broadcast operand: compute once, keep it a scalar. */
        double v = reg[in->a][0], r;
        unary_loop(in->op, &v, &r, 1);
        d[0] = r;
        stride[in->dst] = 0;
        if (out && i + 1 == p->ninsn) break;
        reg[in->dst] = d;
        continue;
      }
      unary_loop(in->op, reg[in->a], d, n);
      stride[in->dst] = 1;
      break;
    case K_BINARY:
      binary_loop(in->op, reg[in->a], stride[in->a], reg[in->b], stride[in->b], d,
                  stride[in->a] || stride[in->b] ? n : 1);
      stride[in->dst] = stride[in->a] || stride[in->b];
      break;
    case K_BINARY_IMM:
      binary_loop(in->op, reg[in->a], stride[in->a], &in->imm, 0, d, stride[in->a] ? n : 1);
      stride[in->dst] = stride[in->a];
      break;
    case K_IMM_BINARY:
      binary_loop(in->op, &in->imm, 0, reg[in->a], stride[in->a], d, stride[in->a] ? n : 1);
      stride[in->dst] = stride[in->a];
      break;
    }
    reg[in->dst] = d;
  }
  uint8_t r = p->result;
  if (stride[r] == 0 || (out && reg[r] != out)) {
    /* A result that is one broadcast value (every input broadcast): spread
     * it over the piece. */
    double v = reg[r][0], *d = out ? out : scratch[r];
    for (int64_t k = 0; k < n; k++) d[k] = v;
    return d;
  }
  return reg[r];
}

static int contiguous(int ndim, const int64_t *shape, const int64_t *stride) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    if (shape[i] != 1 && stride[i] != s) return 0;
    s *= shape[i];
  }
  return 1;
}

int cask__for_pieces(int ndim, const int64_t *shape, uint32_t nleaves,
                     const cask__leaf_view *leaves, int allow_flat, cask__piece_fn fn,
                     void *user) {
  int64_t size = 1;
  for (int i = 0; i < ndim; i++) size *= shape[i];
  if (size == 0) return CASK_OK;
  cask__piece pc;
  int flat = allow_flat || ndim == 0;
  for (uint32_t l = 0; l < nleaves && flat; l++) flat = contiguous(ndim, shape, leaves[l].stride);
  if (flat) {
    for (int64_t off = 0; off < size; off += CASK__KERNEL_PIECE) {
      pc.n = size - off < CASK__KERNEL_PIECE ? size - off : CASK__KERNEL_PIECE;
      for (uint32_t l = 0; l < nleaves; l++) {
        pc.src[l] = leaves[l].data + off;
        pc.src_stride[l] = 1;
      }
      int rc = fn(user, &pc, off, NULL);
      if (rc) return rc;
    }
    return CASK_OK;
  }
  int64_t idx[CASK_MAX_NDIM] = {0}, last = shape[ndim - 1];
  for (int64_t row_off = 0; row_off < size; row_off += last) {
    for (int64_t j = 0; j < last; j += CASK__KERNEL_PIECE) {
      pc.n = last - j < CASK__KERNEL_PIECE ? last - j : CASK__KERNEL_PIECE;
      idx[ndim - 1] = j;
      for (uint32_t l = 0; l < nleaves; l++) {
        int64_t o = 0;
        for (int a = 0; a < ndim; a++) o += idx[a] * leaves[l].stride[a];
        pc.src[l] = leaves[l].data + o;
        pc.src_stride[l] = leaves[l].stride[ndim - 1] ? 1 : 0;
      }
      int rc = fn(user, &pc, row_off + j, idx);
      if (rc) return rc;
    }
    /* Next row: odometer over the outer axes. */
    for (int a = ndim - 2; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return CASK_OK;
}
