/* kernel.c - compiling an elementwise tree to a register program, and
 * running it over pieces of a block.
 * The one thing to know: the loops in the op functions below are compiled
 * once per instruction set (target_clones: AVX-512, AVX2, baseline) and the
 * library picks one when it loads; math functions are declared with the simd
 * attribute so gcc calls glibc's vector variants (libmvec, within 4 ulp).
 * Programs may come from a graph file: cask__program_check proves every
 * register is written before it is read and holds the class (double or
 * int64) its reader expects, so a hostile program computes garbage at
 * worst, never reads outside its buffers. */
#include <math.h>
#include <stdio.h>

#include "../../../core/clones.h"
#include "../core/dtype.h"
#include "kernel.h"
#include "gen.h"

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

#define MAX_SOURCES 64

typedef struct compiler {
  cask__program *p;
  cask_array **leaves;
  uint32_t live; /* bit r: register r holds a value still needed */
  cask_ctx *ctx;
  int ops; /* operations inlined so far */
  cask_array *root;
  /* Sources reached in the tree and how often: one reached once is
   * computed inside the kernel; one reached twice is a block read twice
   * (computing a random number twice costs more than reading it). */
  cask_array *src[MAX_SOURCES];
  int uses[MAX_SOURCES], nsrc, visits;
  int gens; /* sources computed in the kernel so far */
} compiler;

static int isint_dt(int dt) { return dt != CASK_F64 && dt != CASK_F32; }
static int is_logical(int op) { return op >= CASK_EQUAL && op <= CASK_LOGICAL_OR; }
static int unop_gives_bool(int op) { return op == CASK_ISNAN || op == CASK_ISFINITE || op == CASK_LOGICAL_NOT; }
/* Unary ops defined on int64 registers; the others are float functions. */
static int unop_on_int(int op) {
  return op == CASK_NEGATIVE || op == CASK_ABS || op == CASK_ROUND || unop_gives_bool(op);
}

static int alloc_reg(compiler *c) {
  for (int r = 0; r < CASK__KERNEL_REGS; r++)
    if (!(c->live & (1u << r))) {
      c->live |= 1u << r;
      return r;
    }
  return -1;
}

/* Append in (its operands are consumed) with a fresh destination. */
static int emit(compiler *c, cask__insn in, int nops, int *reg) {
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
  uint8_t ops[3] = {in.a, in.b, in.c};
  for (int k = 0; k < nops; k++) c->live &= ~(1u << ops[k]);
  in.dst = (uint8_t)r;
  c->p->insn[c->p->ninsn++] = in;
  *reg = r;
  return CASK_OK;
}

static int emit1(compiler *c, int code, int op, int a, int dt, int isint, int *reg) {
  cask__insn in = {.code = (uint8_t)code, .op = (uint8_t)op, .a = (uint8_t)a, .dt = (uint8_t)dt,
                   .isint = (uint8_t)isint};
  /* A load's a is a leaf index, a generator has no operand. */
  return emit(c, in, code == CASK__K_LOAD || code == CASK__K_GEN ? 0 : 1, reg);
}

/* reg (holding a value of dtype from) in the class of dtype to: int
 * values become doubles; a float becomes an integer only by astype. */
static int convert(compiler *c, int *reg, int from, int to) {
  if (isint_dt(from) == isint_dt(to)) return CASK_OK;
  /* to float32 directly: int64 -> double -> float would round twice */
  if (isint_dt(from)) return emit1(c, CASK__K_TO_FLOAT, 0, *reg, to == CASK_F32 ? CASK_F32 : CASK_F64, 1, reg);
  return emit1(c, CASK__K_TO_INT, 0, *reg, to, 0, reg);
}

/* Wrap or round reg to dtype dt where dt is narrower than its register. */
static int narrow(compiler *c, int *reg, int dt) {
  if (dt == CASK_F64 || dt == CASK_I64) return CASK_OK;
  return emit1(c, CASK__K_NARROW, 0, *reg, dt, isint_dt(dt), reg);
}

static int leaf_index(compiler *c, cask_array *a) {
  for (uint32_t i = 0; i < c->p->nleaves; i++)
    if (c->leaves[i] == a) return (int)i;
  if (c->p->nleaves == CASK__MAX_LEAVES) return -1;
  c->leaves[c->p->nleaves] = a;
  return (int)c->p->nleaves++;
}

#define MAX_FUSED_OPS 40 /* operations in one kernel */

static void count_sources(compiler *c, cask_array *a) {
  if (++c->visits > 4 * MAX_FUSED_OPS) return; /* a DAG with much sharing: enough seen */
  if (cask__is_source(a)) {
    for (int k = 0; k < c->nsrc; k++)
      if (c->src[k] == a) {
        c->uses[k]++;
        return;
      }
    if (c->nsrc < MAX_SOURCES) {
      c->src[c->nsrc] = a;
      c->uses[c->nsrc++] = 1;
    }
    return;
  }
  if (!cask__is_elementwise(a)) return;
  for (int i = 0; i < a->nin; i++) count_sources(c, a->in[i]);
}

/* Sources computed inside one kernel: with 40 operations (each with up to
 * two conversions and a narrowing) they keep a program under
 * CASK__MAX_PROG instructions. */
#define MAX_GENS 4

static int inline_source(const compiler *c, const cask_array *a) {
  if (!cask__is_source(a) || a->op == CASK__SRC_BUFFER || a->op == CASK__SRC_EMPTY || c->gens >= MAX_GENS)
    return 0;
  for (int k = 0; k < c->nsrc; k++)
    if (c->src[k] == a) return c->uses[k] == 1;
  return 0;
}

/* CASK__K_GEN and its payload: the source's parameters and its flat-index
 * strides along the root's axes (0 where it broadcasts). */
static int emit_gen(compiler *c, cask_array *a, int *reg) {
  cask__gen g;
  memset(&g, 0, sizeof g);
  const cask__source *s = &a->p.source;
  g.op = a->op, g.dtype = a->dtype, g.a = s->a, g.b = s->b, g.c = s->c, g.count = s->count;
  g.seed = s->seed, g.base = s->base;
  int nd = c->root->ndim;
  for (int i = 0; i < nd; i++) {
    int j = i - (nd - a->ndim);
    g.stride[i] = j < 0 || a->shape[j] == 1 ? 0 : s->fstride[j];
  }
  int rc = emit1(c, CASK__K_GEN, 0, 0, a->dtype, isint_dt(a->dtype), reg);
  if (rc) return rc;
  if (c->p->ninsn + CASK__K_GEN_SLOTS > CASK__MAX_PROG)
    return cask__fail(c->ctx, CASK_ETOOBIG, "elementwise expression has more than %d operations",
                      CASK__MAX_PROG);
  memcpy(&c->p->insn[c->p->ninsn], &g, sizeof g);
  c->p->ninsn += (uint32_t)CASK__K_GEN_SLOTS;
  c->gens++;
  return CASK_OK;
}

static int compile_node(compiler *c, cask_array *a, int level, int *reg);

/* The dtype a binary node computes in (its operands are converted to it):
 * the promotion of the operands (a scalar is weak: see cask_binary_scalar),
 * a float one for true division and arctan2. */
static int compute_dtype(const cask_array *a) {
  cask_dtype ta = a->in[0]->dtype, tb;
  if (a->kind == CASK__NODE_BINARY) tb = a->in[1]->dtype;
  else if (a->scalar_int == 2) tb = ta; /* a bool scalar */
  else if (a->scalar_int) tb = ta == CASK_BOOL ? CASK_I64 : ta;
  else tb = cask__dtype_is_float(ta) ? ta : CASK_F64;
  cask_dtype t = cask_promote(ta, tb);
  if ((a->op == CASK_DIV || a->op == CASK_ARCTAN2) && isint_dt(t)) t = CASK_F64;
  return t;
}

/* Operands in[0..n-1] into regs, deepest first (fewer live registers). */
static int compile_operands(compiler *c, cask_array *a, int n, int level, int *regs) {
  int order[3] = {0, 1, 2};
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && a->in[order[j]]->depth > a->in[order[j - 1]]->depth; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  for (int k = 0; k < n; k++) {
    int rc = compile_node(c, a->in[order[k]], level + 1, &regs[order[k]]);
    if (rc) return rc;
  }
  return CASK_OK;
}

/* A logical operand: nonzero int registers are true; floats get != 0. */
static int truth(compiler *c, int *reg, int dt) {
  return isint_dt(dt) ? CASK_OK : emit1(c, CASK__K_TRUTH, 0, *reg, 0, 0, reg);
}

static int compile_binary(compiler *c, cask_array *a, int level, int *reg) {
  /* a scalar operand leaves r[1] unset: .b must not be stack bytes, which
   * went into task arguments (and made digests differ between processes) */
  int r[2] = {0, 0}, rc, n = a->kind == CASK__NODE_BINARY ? 2 : 1;
  if ((rc = compile_operands(c, a, n, level, r))) return rc;
  int ct = compute_dtype(a), ci = isint_dt(ct);
  int logic = a->op == CASK_LOGICAL_AND || a->op == CASK_LOGICAL_OR;
  for (int k = 0; k < n && !rc; k++)
    rc = logic ? truth(c, &r[k], a->in[k]->dtype) : convert(c, &r[k], a->in[k]->dtype, ct);
  if (rc) return rc;
  if (logic) ci = 1;
  cask__insn in = {.op = (uint8_t)a->op, .a = (uint8_t)r[0], .b = (uint8_t)r[1], .isint = (uint8_t)ci,
                   .dt = (uint8_t)ct};
  if (n == 2) {
    in.code = CASK__K_BINARY;
  } else if (!ci && !a->scalar_first && a->op == CASK_POW && a->p.scalar.value == 2.0) {
    /* x**2 as x*x, as NumPy's power does for this exponent: the same bits
     * and no libm pow call (several times slower) */
    in.code = CASK__K_BINARY;
    in.op = CASK_MUL;
    in.b = in.a;
  } else {
    in.code = a->scalar_first ? CASK__K_IMM_BINARY : CASK__K_BINARY_IMM;
    double s = a->p.scalar.value;
    if (ci) in.imm.i = logic ? s != 0 : a->scalar_int == 1 ? a->p.scalar.ivalue : cask__f64_to_i64(s);
    else in.imm.f = ct == CASK_F32 ? (double)(float)s : s; /* NumPy: the scalar in float32 */
  }
  if ((rc = emit(c, in, n, reg))) return rc;
  return is_logical(a->op) ? CASK_OK : narrow(c, reg, a->dtype);
}

static int compile_unary(compiler *c, cask_array *a, int level, int *reg) {
  int r, rc = compile_node(c, a->in[0], level + 1, &r);
  int ti = a->in[0]->dtype, op = a->op;
  if (rc) return rc;
  /* A float result from an integer input (sin of ints, round of bools):
   * convert first; isnan and friends read either class. */
  int to_float = !unop_on_int(op) || (!unop_gives_bool(op) && !isint_dt(a->dtype));
  if (to_float && (rc = convert(c, &r, ti, CASK_F64))) return rc;
  int ci = to_float ? 0 : isint_dt(ti);
  if ((rc = emit1(c, CASK__K_UNARY, op, r, 0, ci, reg))) return rc;
  return unop_gives_bool(op) ? CASK_OK : narrow(c, reg, a->dtype);
}

static int compile_where(compiler *c, cask_array *a, int level, int *reg) {
  int r[3], rc = compile_operands(c, a, 3, level, r);
  if (!rc) rc = truth(c, &r[0], a->in[0]->dtype);
  for (int k = 1; k < 3 && !rc; k++) rc = convert(c, &r[k], a->in[k]->dtype, a->dtype);
  if (rc) return rc;
  cask__insn in = {.code = CASK__K_WHERE, .a = (uint8_t)r[0], .b = (uint8_t)r[1], .c = (uint8_t)r[2],
                   .isint = (uint8_t)isint_dt(a->dtype)};
  return emit(c, in, 3, reg);
}

static int compile_cast(compiler *c, cask_array *a, int level, int *reg) {
  int rc = compile_node(c, a->in[0], level + 1, reg);
  int from = a->in[0]->dtype, to = a->dtype;
  if (rc) return rc;
  if (isint_dt(from) != isint_dt(to)) {
    return convert(c, reg, from, to); /* lands in to's range */
  }
  /* Same class: only a dtype that cannot hold every value of from needs
   * work (bool and uint8 fit everywhere wider). */
  int fits = to == CASK_F64 || to == CASK_I64 || from == CASK_BOOL || (from == CASK_U8 && to == CASK_I32);
  return fits ? CASK_OK : narrow(c, reg, to);
}

/* Post-order over the tree. Operations are taken greedily until
 * MAX_FUSED_OPS; the rest become leaves, computed by kernels of their own.
 * So a long chain is cut into kernels of 40 operations, a shared
 * subexpression reached twice costs the budget twice (never an exponential
 * blow-up), and the register need stays below CASK__KERNEL_REGS. */
static int compile_node(compiler *c, cask_array *a, int level, int *reg) {
  int inline_it = cask__is_elementwise(a) && (level == 0 || c->ops < MAX_FUSED_OPS);
  if (!inline_it && inline_source(c, a)) return emit_gen(c, a, reg);
  if (!inline_it) {
    int l = leaf_index(c, a);
    if (l < 0)
      return cask__fail(c->ctx, CASK_ETOOBIG, "elementwise expression has more than %d inputs",
                        CASK__MAX_LEAVES);
    return emit1(c, CASK__K_LOAD, 0, l, a->dtype, isint_dt(a->dtype), reg);
  }
  c->ops++;
  switch (a->kind) {
  case CASK__NODE_UNARY: return compile_unary(c, a, level, reg);
  case CASK__NODE_WHERE: return compile_where(c, a, level, reg);
  case CASK__NODE_CAST: return compile_cast(c, a, level, reg);
  default: return compile_binary(c, a, level, reg);
  }
}

int cask__program_compile(cask_array *a, cask__program *p, cask_array **leaves) {
  memset(p, 0, sizeof *p);
  compiler c = {p, leaves, 0, a->ctx, 0, a, {0}, {0}, 0, 0, 0};
  count_sources(&c, a);
  int r, rc = compile_node(&c, a, 0, &r);
  if (!rc) {
    p->result = (uint8_t)r;
    p->dtype = (uint8_t)a->dtype;
  }
  return rc;
}

size_t cask__program_size(const cask__program *p) {
  return offsetof(cask__program, insn) + p->ninsn * sizeof(cask__insn);
}

int cask__program_leaf_dtype(const cask__program *p, uint32_t l) {
  for (uint32_t i = 0; i < p->ninsn; i++) {
    if (p->insn[i].code == CASK__K_LOAD && p->insn[i].a == l) return p->insn[i].dt;
    if (p->insn[i].code == CASK__K_GEN) i += (uint32_t)CASK__K_GEN_SLOTS;
  }
  return -1;
}

int cask__program_has_gen(const cask__program *p) {
  for (uint32_t i = 0; i < p->ninsn; i++)
    if (p->insn[i].code == CASK__K_GEN) return 1;
  return 0;
}

void cask__program_place(cask__program *p, int ndim, const int64_t *off) {
  for (uint32_t i = 0; i < p->ninsn; i++) {
    if (p->insn[i].code != CASK__K_GEN) continue;
    cask__gen g;
    memcpy(&g, &p->insn[i + 1], sizeof g);
    for (int k = 0; k < ndim; k++) g.base += off[k] * g.stride[k];
    memcpy(&p->insn[i + 1], &g, sizeof g);
    i += (uint32_t)CASK__K_GEN_SLOTS;
  }
}

/* The class (1: int64) the instruction's destination gets, or -1 when the
 * instruction is malformed given the classes of the registers it reads. */
static int check_insn(const cask__insn *in, uint32_t defined, uint32_t intreg, uint32_t nleaves) {
  int need[3] = {-1, -1, -1}, nops = 0, out = in->isint;
  switch (in->code) {
  case CASK__K_LOAD:
    if (in->a >= nleaves || in->dt >= CASK_DTYPE_COUNT) return -1;
    return isint_dt(in->dt);
  case CASK__K_CONST: return in->isint;
  case CASK__K_UNARY:
    if (in->op >= CASK_UNOP_COUNT || (in->isint && !unop_on_int(in->op))) return -1;
    need[0] = in->isint, nops = 1;
    if (unop_gives_bool(in->op)) out = 1;
    break;
  case CASK__K_BINARY:
  case CASK__K_BINARY_IMM:
  case CASK__K_IMM_BINARY:
    if (in->op >= CASK_BINOP_COUNT || (in->isint && (in->op == CASK_DIV || in->op == CASK_ARCTAN2))) return -1;
    need[0] = need[1] = in->isint, nops = in->code == CASK__K_BINARY ? 2 : 1;
    if (is_logical(in->op)) out = 1;
    if (in->code != CASK__K_BINARY) need[1] = -1;
    break;
  case CASK__K_WHERE: need[0] = 1, need[1] = need[2] = in->isint, nops = 3; break;
  case CASK__K_TO_FLOAT:
    if (in->dt != CASK_F64 && in->dt != CASK_F32) return -1;
    need[0] = 1, nops = 1, out = 0;
    break;
  case CASK__K_TO_INT:
    if (in->dt >= CASK_DTYPE_COUNT || !isint_dt(in->dt)) return -1;
    need[0] = 0, nops = 1, out = 1;
    break;
  case CASK__K_TRUTH: need[0] = 0, nops = 1, out = 1; break;
  case CASK__K_NARROW:
    if (in->dt >= CASK_DTYPE_COUNT || in->dt == CASK_F64 || in->dt == CASK_I64) return -1;
    out = isint_dt(in->dt), need[0] = out, nops = 1;
    break;
  case CASK__K_GEN: return in->dt < CASK_DTYPE_COUNT ? isint_dt(in->dt) : -1;
  default: return -1;
  }
  uint8_t ops[3] = {in->a, in->b, in->c};
  for (int k = 0; k < nops; k++) {
    if (need[k] < 0) continue;
    if (ops[k] >= CASK__KERNEL_REGS || !(defined & (1u << ops[k])) || !!(intreg & (1u << ops[k])) != need[k])
      return -1;
  }
  return out;
}

int cask__program_check(const cask__program *p, size_t len, uint32_t nleaves) {
  if (len < offsetof(cask__program, insn) || p->ninsn == 0 || p->ninsn > CASK__MAX_PROG ||
      len != cask__program_size(p) || p->nleaves != nleaves || p->result >= CASK__KERNEL_REGS ||
      p->dtype >= CASK_DTYPE_COUNT)
    return CASK_EINVAL;
  uint32_t defined = 0, intreg = 0;
  for (uint32_t i = 0; i < p->ninsn; i++) {
    const cask__insn *in = &p->insn[i];
    int cls = check_insn(in, defined, intreg, nleaves);
    if (cls < 0 || in->dst >= CASK__KERNEL_REGS) return CASK_EINVAL;
    if (in->code == CASK__K_GEN) { /* its payload: a source that can be computed */
      cask__gen g;
      if (i + CASK__K_GEN_SLOTS >= p->ninsn) return CASK_EINVAL;
      memcpy(&g, &p->insn[i + 1], sizeof g);
      if (g.op < 0 || g.op >= CASK__SRC_COUNT || g.op == CASK__SRC_BUFFER || g.op == CASK__SRC_EMPTY || g.dtype != in->dt)
        return CASK_EINVAL;
      i += (uint32_t)CASK__K_GEN_SLOTS;
    }
    defined |= 1u << in->dst;
    intreg = cls ? intreg | (1u << in->dst) : intreg & ~(1u << in->dst);
  }
  if (!(defined & (1u << p->result)) || !!(intreg & (1u << p->result)) != cask__program_isint(p))
    return CASK_EINVAL;
  return CASK_OK;
}

/* ---- running ----------------------------------------------------------- */

/* NumPy's floor division and modulo of doubles (npy_divmod): the quotient
 * rounded toward minus infinity, the remainder with the divisor's sign. */
static inline double fdivf(double a, double b) {
  if (b == 0) return a / b;
  double mod = fmod(a, b), div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return copysign(0.0, a / b);
  double fl = floor(div);
  return div - fl > 0.5 ? fl + 1.0 : fl;
}
/* The same in float32 arithmetic: float32 floor division and modulo must
 * round as NumPy's float32 loops do, not as double ones. */
static inline float fdiv32(float a, float b) {
  if (b == 0) return a / b;
  float mod = fmodf(a, b), div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0f;
  if (div == 0) return copysignf(0.0f, a / b);
  float fl = floorf(div);
  return div - fl > 0.5f ? fl + 1.0f : fl;
}
static inline float fmod32(float a, float b) {
  float mod = fmodf(a, b);
  if (b == 0) return mod;
  if (mod != 0) return (b < 0) != (mod < 0) ? mod + b : mod;
  return copysignf(0.0f, b);
}
/* x // y or x % y of float32 values held in doubles (strides 0 or 1). */
static void divmod32(int op, const double *a, int64_t sa, const double *b, int64_t sb, double *d, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float x = (float)a[i * sa], y = (float)b[i * sb];
    d[i] = op == CASK_MOD ? fmod32(x, y) : fdiv32(x, y);
  }
}

static inline double fmodf_np(double a, double b) {
  double mod = fmod(a, b);
  if (b == 0) return mod;
  if (mod != 0) return (b < 0) != (mod < 0) ? mod + b : mod;
  return copysign(0.0, b);
}
/* Integer floor division and modulo as NumPy: x // 0 and x % 0 are 0,
 * INT64_MIN // -1 wraps. */
static inline int64_t fdivi(int64_t x, int64_t y) {
  if (y == 0) return 0;
  if (y == -1) return (int64_t)(0 - (uint64_t)x);
  int64_t q = x / y;
  return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
}
static inline int64_t fmodi(int64_t x, int64_t y) {
  if (y == 0 || y == -1) return 0;
  int64_t r = x % y;
  return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
/* Integer power by squaring, wrapping; a negative exponent gives 0 except
 * for bases 1 and -1 (NumPy refuses it; see docs/arrays.md). */
static inline int64_t powi(int64_t x, int64_t y) {
  if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)x;
  while (y) {
    if (y & 1) r *= b;
    b *= b;
    y >>= 1;
  }
  return (int64_t)r;
}

CASK_CLONES static void unary_f(int op, const double *restrict a, double *restrict d, int64_t n) {
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
  case CASK_ROUND: LOOP(nearbyint(a[i])); /* half to even, as NumPy's round */
  }
}

/* Float to bool results (0/1 in int64 registers). */
static void unary_f2i(int op, const double *restrict a, int64_t *restrict d, int64_t n) {
  switch (op) {
  case CASK_ISNAN: LOOP(a[i] != a[i]);
  case CASK_ISFINITE: LOOP(isfinite(a[i]) != 0);
  case CASK_LOGICAL_NOT: LOOP(a[i] == 0);
  }
}

static void unary_i(int op, const int64_t *restrict a, int64_t *restrict d, int64_t n) {
  switch (op) {
  case CASK_NEGATIVE: LOOP((int64_t)(0 - (uint64_t)a[i]));
  case CASK_ABS: LOOP(a[i] < 0 ? (int64_t)(0 - (uint64_t)a[i]) : a[i]);
  case CASK_ROUND: LOOP(a[i]);
  case CASK_ISNAN: LOOP(0);
  case CASK_ISFINITE: LOOP(1);
  case CASK_LOGICAL_NOT: LOOP(a[i] == 0);
  }
#undef LOOP
}

/* Binary loops, one per operand layout (vector-vector, vector-scalar,
 * scalar-vector): with the strides known at compile time every loop
 * vectorizes; a loop with variable strides became gathers. */
#define FLOAT_OPS(LOOP)                                    \
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
  case CASK_FLOOR_DIVIDE: LOOP(fdivf(x, y));               \
  case CASK_MOD: LOOP(fmodf_np(x, y));                     \
  }
#define COMPARE_OPS(LOOP)                                  \
  switch (op) {                                            \
  case CASK_EQUAL: LOOP(x == y);                           \
  case CASK_NOT_EQUAL: LOOP(x != y);                       \
  case CASK_LESS: LOOP(x < y);                             \
  case CASK_LESS_EQUAL: LOOP(x <= y);                      \
  case CASK_GREATER: LOOP(x > y);                          \
  case CASK_GREATER_EQUAL: LOOP(x >= y);                   \
  case CASK_LOGICAL_AND: LOOP(x != 0 && y != 0);           \
  case CASK_LOGICAL_OR: LOOP(x != 0 || y != 0);            \
  }
#define INT_OPS(LOOP)                                                  \
  switch (op) {                                                        \
  case CASK_ADD: LOOP((int64_t)((uint64_t)x + (uint64_t)y));           \
  case CASK_SUB: LOOP((int64_t)((uint64_t)x - (uint64_t)y));           \
  case CASK_MUL: LOOP((int64_t)((uint64_t)x * (uint64_t)y));           \
  case CASK_POW: LOOP(powi(x, y));                                     \
  case CASK_MAXIMUM: LOOP(x > y ? x : y);                              \
  case CASK_MINIMUM: LOOP(x < y ? x : y);                              \
  case CASK_FLOOR_DIVIDE: LOOP(fdivi(x, y));                           \
  case CASK_MOD: LOOP(fmodi(x, y));                                    \
  default: COMPARE_OPS(LOOP)                                           \
  }

#define LOOP_VV(expr)                   \
  for (int64_t i = 0; i < n; i++) {     \
    TA x = a[i], y = b[i];              \
    d[i] = (TD)(expr);                  \
  }                                     \
  break
#define LOOP_VS(expr)                   \
  for (int64_t i = 0; i < n; i++) {     \
    TA x = a[i];                        \
    d[i] = (TD)(expr);                  \
  }                                     \
  break
#define LOOP_SV(expr)                   \
  for (int64_t i = 0; i < n; i++) {     \
    TA y = b[i];                        \
    d[i] = (TD)(expr);                  \
  }                                     \
  break

#define BINARY_FAMILY(name, TA_, TD_, OPS)                                                        \
  CASK_CLONES static void name##_vv(int op, const TA_ *restrict a, const TA_ *restrict b,          \
                                    TD_ *restrict d, int64_t n) {                                  \
    typedef TA_ TA;                                                                               \
    typedef TD_ TD;                                                                               \
    OPS(LOOP_VV)                                                                                  \
  }                                                                                               \
  CASK_CLONES static void name##_vs(int op, const TA_ *restrict a, TA_ y, TD_ *restrict d,         \
                                    int64_t n) {                                                  \
    typedef TA_ TA;                                                                               \
    typedef TD_ TD;                                                                               \
    OPS(LOOP_VS)                                                                                  \
  }                                                                                               \
  CASK_CLONES static void name##_sv(int op, TA_ x, const TA_ *restrict b, TD_ *restrict d,         \
                                    int64_t n) {                                                  \
    typedef TA_ TA;                                                                               \
    typedef TD_ TD;                                                                               \
    OPS(LOOP_SV)                                                                                  \
  }                                                                                               \
  /* sa, sb: 1 for a vector operand, 0 for a broadcast scalar. */                                 \
  static void name(int op, const TA_ *a, int64_t sa, const TA_ *b, int64_t sb, TD_ *d, int64_t n) { \
    if (sa && sb) name##_vv(op, a, b, d, n);                                                      \
    else if (sa) name##_vs(op, a, b[0], d, n);                                                    \
    else if (sb) name##_sv(op, a[0], b, d, n);                                                    \
    else {                                                                                        \
      TA_ x = a[0];                                                                               \
      name##_vs(op, &x, b[0], d, 1);                                                              \
    }                                                                                             \
  }

BINARY_FAMILY(binary_f, double, double, FLOAT_OPS)
BINARY_FAMILY(compare_f, double, int64_t, COMPARE_OPS)
BINARY_FAMILY(binary_i, int64_t, int64_t, INT_OPS)

/* float -> integer dtype dt, as cask__cast converts. */
static void to_int(int dt, const double *a, int64_t *d, int64_t n) {
  switch (dt) {
  case CASK_BOOL:
    for (int64_t i = 0; i < n; i++) d[i] = a[i] != 0;
    break;
  case CASK_I32:
    for (int64_t i = 0; i < n; i++) d[i] = a[i] > -2147483649.0 && a[i] < 2147483648.0 ? (int64_t)a[i] : INT32_MIN;
    break;
  case CASK_U8: /* through int32, as x86 NumPy converts */
    for (int64_t i = 0; i < n; i++) d[i] = (uint8_t)(a[i] > -2147483649.0 && a[i] < 2147483648.0 ? (int32_t)a[i] : INT32_MIN);
    break;
  default:
    for (int64_t i = 0; i < n; i++) d[i] = cask__f64_to_i64(a[i]);
  }
}

static void narrow_loop(int dt, const void *a, void *d, int64_t n) {
  switch (dt) {
  case CASK_F32: {
    const double *x = a;
    double *y = d;
    for (int64_t i = 0; i < n; i++) y[i] = (float)x[i];
    break;
  }
  case CASK_I32: {
    const int64_t *x = a;
    int64_t *y = d;
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)(uint32_t)x[i];
    break;
  }
  case CASK_U8: {
    const int64_t *x = a;
    int64_t *y = d;
    for (int64_t i = 0; i < n; i++) y[i] = (uint8_t)x[i];
    break;
  }
  default: {
    const int64_t *x = a;
    int64_t *y = d;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] != 0;
  }
  }
}

/* n elements of a leaf of dtype dt (stride 0 or 1) into its register
 * class: float64 and int64 leaves are read in place. */
static const void *load(int dt, const void *src, int64_t stride, int64_t n, cask__regbuf *d) {
  if (dt == CASK_F64 || dt == CASK_I64) return src;
  int64_t m = stride ? n : 1;
  if (dt == CASK_F32) cask__cast(d->f, CASK_F64, src, CASK_F32, m);
  else cask__cast(d->i, CASK_I64, src, (cask_dtype)dt, m);
  return d;
}

const void *cask__program_eval(const cask__program *p, const cask__piece *pc,
                               cask__regbuf *scratch, void *out) {
  const void *reg[CASK__KERNEL_REGS];
  int64_t stride[CASK__KERNEL_REGS]; /* 0: a broadcast scalar */
  int64_t n = pc->n;
  /* The last instruction may write straight into out when out has the
   * registers' own format. */
  int direct = out && (p->dtype == CASK_F64 || p->dtype == CASK_I64);
  for (uint32_t i = 0; i < p->ninsn; i++) {
    const cask__insn *in = &p->insn[i];
    void *d = (direct && i + 1 == p->ninsn) ? out : &scratch[in->dst];
    int64_t sa = in->a < CASK__KERNEL_REGS ? stride[in->a] : 0, m; /* a load's a is a leaf */
    switch (in->code) {
    case CASK__K_GEN: {
      cask__gen g;
      memcpy(&g, &p->insn[i + 1], sizeof g);
      i += (uint32_t)CASK__K_GEN_SLOTS;
      int64_t first = g.base, es = pc->ndim ? g.stride[pc->ndim - 1] : 0;
      for (int k = 0; pc->row && k < pc->ndim; k++) first += pc->row[k] * g.stride[k];
      m = es ? n : 1; /* a source broadcast along the row: one value */
      if (g.dtype == CASK_F64 || g.dtype == CASK_I64) {
        cask__source_fill(g.op, (cask_dtype)g.dtype, g.a, g.b, g.c, g.count, g.seed, first, es, m, &scratch[in->dst]);
        reg[in->dst] = &scratch[in->dst];
      } else {
        _Alignas(64) unsigned char tmp[CASK__KERNEL_PIECE * 4];
        cask__source_fill(g.op, (cask_dtype)g.dtype, g.a, g.b, g.c, g.count, g.seed, first, es, m, tmp);
        reg[in->dst] = load(in->dt, tmp, es != 0, m, &scratch[in->dst]);
      }
      stride[in->dst] = es != 0;
      continue;
    }
    case CASK__K_LOAD:
      /* No copy for float64 and int64: the register points into the leaf. */
      reg[in->dst] = load(in->dt, pc->src[in->a], pc->src_stride[in->a], n, &scratch[in->dst]);
      stride[in->dst] = pc->src_stride[in->a];
      continue;
    case CASK__K_CONST:
      memcpy(d, &in->imm, 8);
      stride[in->dst] = 0;
      break;
    case CASK__K_UNARY:
      m = sa ? n : 1; /* a broadcast operand is computed once */
      if (!in->isint && (in->op == CASK_ISNAN || in->op == CASK_ISFINITE || in->op == CASK_LOGICAL_NOT))
        unary_f2i(in->op, reg[in->a], d, m);
      else if (in->isint) unary_i(in->op, reg[in->a], d, m);
      else unary_f(in->op, reg[in->a], d, m);
      stride[in->dst] = sa;
      break;
    case CASK__K_BINARY:
    case CASK__K_BINARY_IMM:
    case CASK__K_IMM_BINARY: {
      const void *x = in->code == CASK__K_IMM_BINARY ? (const void *)&in->imm : reg[in->a];
      const void *y = in->code == CASK__K_BINARY ? reg[in->b] : in->code == CASK__K_BINARY_IMM ? (const void *)&in->imm : reg[in->a];
      int64_t sx = in->code == CASK__K_IMM_BINARY ? 0 : sa;
      int64_t sy = in->code == CASK__K_BINARY ? stride[in->b] : in->code == CASK__K_BINARY_IMM ? 0 : sa;
      m = sx || sy ? n : 1;
      if (in->isint) binary_i(in->op, x, sx, y, sy, d, m);
      else if (is_logical(in->op)) compare_f(in->op, x, sx, y, sy, d, m);
      else if (in->dt == CASK_F32 && (in->op == CASK_FLOOR_DIVIDE || in->op == CASK_MOD))
        divmod32(in->op, x, sx, y, sy, d, m);
      else binary_f(in->op, x, sx, y, sy, d, m);
      stride[in->dst] = sx || sy;
      break;
    }
    case CASK__K_WHERE: {
      const int64_t *cnd = reg[in->a];
      const int64_t *x = reg[in->b], *y = reg[in->c]; /* 8-byte values of either class */
      int64_t sc = sa, sx = stride[in->b], sy = stride[in->c];
      int64_t *dd = d;
      m = sc || sx || sy ? n : 1;
      for (int64_t k = 0; k < m; k++) dd[k] = cnd[k * sc] ? x[k * sx] : y[k * sy];
      stride[in->dst] = sc || sx || sy;
      break;
    }
    case CASK__K_TO_FLOAT: {
      const int64_t *x = reg[in->a];
      double *dd = d;
      m = sa ? n : 1;
      if (in->dt == CASK_F32)
        for (int64_t k = 0; k < m; k++) dd[k] = (float)x[k];
      else
        for (int64_t k = 0; k < m; k++) dd[k] = (double)x[k];
      stride[in->dst] = sa;
      break;
    }
    case CASK__K_TO_INT:
      to_int(in->dt, reg[in->a], d, sa ? n : 1);
      stride[in->dst] = sa;
      break;
    case CASK__K_TRUTH: {
      const double *x = reg[in->a];
      int64_t *dd = d;
      m = sa ? n : 1;
      for (int64_t k = 0; k < m; k++) dd[k] = x[k] != 0;
      stride[in->dst] = sa;
      break;
    }
    case CASK__K_NARROW:
      narrow_loop(in->dt, reg[in->a], d, sa ? n : 1);
      stride[in->dst] = sa;
      break;
    }
    reg[in->dst] = d;
  }
  uint8_t r = p->result;
  if (out && reg[r] == out && stride[r]) return out;
  int isint = cask__program_isint(p);
  if (stride[r] == 0) {
    /* One broadcast value (every input broadcast): spread it over the
     * piece, in the register format. */
    int64_t v;
    memcpy(&v, reg[r], 8);
    int64_t *d = scratch[r].i;
    for (int64_t k = 0; k < n; k++) d[k] = v;
    reg[r] = d;
  }
  if (!out) return reg[r];
  cask__cast(out, (cask_dtype)p->dtype, reg[r], isint ? CASK_I64 : CASK_F64, n);
  return out;
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
  pc.ndim = ndim;
  pc.row = NULL;
  int flat = allow_flat || ndim == 0;
  for (uint32_t l = 0; l < nleaves && flat; l++) flat = contiguous(ndim, shape, leaves[l].stride);
  if (flat) {
    for (int64_t off = 0; off < size; off += CASK__KERNEL_PIECE) {
      pc.n = size - off < CASK__KERNEL_PIECE ? size - off : CASK__KERNEL_PIECE;
      for (uint32_t l = 0; l < nleaves; l++) {
        pc.src[l] = leaves[l].data + (size_t)off * leaves[l].itemsize;
        pc.src_stride[l] = 1;
      }
      int rc = fn(user, &pc, off, NULL);
      if (rc) return rc;
    }
    return CASK_OK;
  }
  int64_t idx[CASK_MAX_NDIM] = {0}, last = shape[ndim - 1];
  pc.row = idx;
  for (int64_t row_off = 0; row_off < size; row_off += last) {
    for (int64_t j = 0; j < last; j += CASK__KERNEL_PIECE) {
      pc.n = last - j < CASK__KERNEL_PIECE ? last - j : CASK__KERNEL_PIECE;
      idx[ndim - 1] = j;
      for (uint32_t l = 0; l < nleaves; l++) {
        int64_t o = 0;
        for (int a = 0; a < ndim; a++) o += idx[a] * leaves[l].stride[a];
        pc.src[l] = leaves[l].data + (size_t)o * leaves[l].itemsize;
        pc.src_stride[l] = leaves[l].stride[ndim - 1] ? 1 : 0;
      }
      int rc = fn(user, &pc, row_off + j, idx);
      if (rc) return rc;
    }
    /* Next row: odometer over the outer axes. */
    cask__index_next(ndim - 1, idx, shape);
  }
  return CASK_OK;
}
