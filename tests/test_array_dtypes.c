/* test_array_dtypes.c - arrays of every dtype (float64, float32, int64,
 * int32, uint8, bool): promotion, elementwise operations, scalars, where,
 * clip, astype, reductions, creation, long fused programs and cask_eval,
 * checked against independent references: NumPy's dtype tables (pasted
 * below, with the command that made them) and plain C loops that follow
 * NumPy's semantics (integer wrapping, floor division and modulo sign
 * rules, x // 0 == 0, float32 arithmetic done in C's float). The TCase "numpy" is driven by tests/dtypes_numpy_check.py,
 * which compares what cask computes with NumPy itself; run on its own it does
 * nothing.
 *
 * The one thing to know: every check names the operation, the dtypes and the
 * element, and loops count mismatches and report the first (ck_assert on
 * every element would cost more than what it checks). */
#include "test-util.h"
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/array.h"
#include "cask/cask.h"

enum { NDT = CASK_DTYPE_COUNT };

/* ======================================================================
 * Helpers: everything a test makes is kept in a pool and freed by
 * cleanup(); a helper that fails aborts the test with the context's
 * message.
 * ====================================================================== */

enum { POOL_MAX = 8192 };
static struct {
  cask_array *arrays[POOL_MAX];
  void *buffers[POOL_MAX];
  cask_ctx *ctxs[32];
  int narrays, nbuffers, nctxs;
} pool;
static cask_ctx *last_ctx;

static void expect_ok(int rc, const char *what) {
  if (rc != CASK_OK) ck_abort_msg("%s: %s (%s)", what, cask_err_name(rc), last_ctx ? cask_ctx_errmsg(last_ctx) : "");
}

static cask_ctx *ctx_new(int threads, int split_every) {
  cask_ctx *ctx = NULL;
  int rc = cask_ctx_new(&(cask_options){.threads = threads, .split_every = split_every, .chunk_bytes = 0}, &ctx);
  ck_assert_msg(rc == CASK_OK, "cask_ctx_new(%d, %d): %s", threads, split_every, cask_err_name(rc));
  ck_assert(pool.nctxs < 32);
  pool.ctxs[pool.nctxs++] = ctx;
  last_ctx = ctx;
  return ctx;
}

static cask_array *kept(int rc, cask_array *a, const char *what) {
  expect_ok(rc, what);
  ck_assert_msg(a != NULL, "%s returned CASK_OK and no array", what);
  ck_assert(pool.narrays < POOL_MAX);
  pool.arrays[pool.narrays++] = a;
  return a;
}

/* kept() of a call that makes var: the call runs before var is read. */
#define KEEP(call, var, what) ({ int rc_ = (call); kept(rc_, (var), (what)); })

static void *scratch(size_t nbytes) {
  void *d = calloc(nbytes ? nbytes : 1, 1);
  ck_assert(d != NULL && pool.nbuffers < POOL_MAX);
  pool.buffers[pool.nbuffers++] = d;
  return d;
}

static void cleanup(void) {
  while (pool.narrays) cask_array_release(pool.arrays[--pool.narrays]);
  while (pool.nbuffers) free(pool.buffers[--pool.nbuffers]);
  while (pool.nctxs) cask_ctx_free(pool.ctxs[--pool.nctxs]);
  last_ctx = NULL;
}

static const char *dn(cask_dtype t) { return cask_dtype_name(t) ? cask_dtype_name(t) : "?"; }
static int isflt(cask_dtype t) { return t == CASK_F64 || t == CASK_F32; }
static size_t dsz(cask_dtype t) { return cask_dtype_size(t); }

static int64_t prod(int nd, const int64_t *s) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= s[i];
  return n;
}

/* Element i of p (dtype t) as a double (int64 rounds as C's conversion,
 * which is NumPy's int64 -> float64). */
static double getf(const void *p, cask_dtype t, int64_t i) {
  switch (t) {
  case CASK_F64: return ((const double *)p)[i];
  case CASK_F32: return ((const float *)p)[i];
  case CASK_I64: return (double)((const int64_t *)p)[i];
  case CASK_I32: return ((const int32_t *)p)[i];
  case CASK_U8: return ((const uint8_t *)p)[i];
  default: return ((const uint8_t *)p)[i] != 0;
  }
}

/* Element i of an integer or bool buffer. */
static int64_t geti(const void *p, cask_dtype t, int64_t i) {
  switch (t) {
  case CASK_I64: return ((const int64_t *)p)[i];
  case CASK_I32: return ((const int32_t *)p)[i];
  case CASK_U8: return ((const uint8_t *)p)[i];
  case CASK_BOOL: return ((const uint8_t *)p)[i] != 0;
  default: ck_abort_msg("geti of %s", dn(t)); return 0;
  }
}

/* Store v wrapped to integer dtype t (NumPy's integer overflow wraps). */
static void seti(void *p, cask_dtype t, int64_t i, int64_t v) {
  switch (t) {
  case CASK_I64: ((int64_t *)p)[i] = v; break;
  case CASK_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
  case CASK_U8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)v; break;
  case CASK_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  default: ck_abort_msg("seti of %s", dn(t));
  }
}

static void setf(void *p, cask_dtype t, int64_t i, double v) {
  if (t == CASK_F64) ((double *)p)[i] = v;
  else if (t == CASK_F32) ((float *)p)[i] = (float)v;
  else ck_abort_msg("setf of %s", dn(t));
}

/* NumPy's astype (unsafe casting) as NumPy 1.24 does it on x86-64, measured
 * with /usr/bin/python3: floats to int64 truncate, NaN and values outside
 * [-2^63, 2^63) give INT64_MIN; to int32 the same with INT32_MIN; to uint8
 * through a 32-bit conversion: values outside int32 give 0 (300.0 -> 44,
 * -1.0 -> 255, 5e9+1 -> 0, 2^40+3 -> 0); to bool != 0 (NaN is true);
 * int64 -> float32 rounds once (2^60+2^36+1 -> 2^60+2^37). */
static int64_t f2i64(double x) {
  return x >= -9223372036854775808.0 && x < 9223372036854775808.0 ? (int64_t)x : INT64_MIN;
}
static int64_t f2i32(double x) {
  return x > -2147483649.0 && x < 2147483648.0 ? (int64_t)(int32_t)x : INT32_MIN;
}
static void ref_cast(void *dst, cask_dtype dt, int64_t di, const void *src, cask_dtype st, int64_t si) {
  if (st == dt) {
    memcpy((char *)dst + di * (int64_t)dsz(dt), (const char *)src + si * (int64_t)dsz(st), dsz(dt));
    return;
  }
  double f = getf(src, st, si);
  switch (dt) {
  case CASK_F64: ((double *)dst)[di] = f; break;
  case CASK_F32:
    ((float *)dst)[di] = st == CASK_I64 ? (float)((const int64_t *)src)[si] : (float)f;
    break;
  case CASK_I64: seti(dst, dt, di, isflt(st) ? f2i64(f) : geti(src, st, si)); break;
  case CASK_I32: seti(dst, dt, di, isflt(st) ? f2i32(f) : geti(src, st, si)); break;
  case CASK_U8: /* INT32_MIN's low byte is 0 */
    seti(dst, dt, di, isflt(st) ? f2i32(f) : geti(src, st, si));
    break;
  default: ((uint8_t *)dst)[di] = f != 0 || f != f; break;
  }
}

/* Distance in units in the last place (of dtype t) between a and b. */
static double ulps(double a, double b, cask_dtype t) {
  if (t == CASK_F32) {
    float fa = (float)a, fb = (float)b;
    int32_t ia, ib;
    memcpy(&ia, &fa, 4);
    memcpy(&ib, &fb, 4);
    int64_t oa = ia < 0 ? (int64_t)INT32_MIN - ia : ia, ob = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return fabs((double)(oa - ob));
  }
  int64_t ia, ib;
  memcpy(&ia, &a, 8);
  memcpy(&ib, &b, 8);
  __int128 oa = ia < 0 ? (__int128)INT64_MIN - ia : ia, ob = ib < 0 ? (__int128)INT64_MIN - ib : ib;
  __int128 d = oa - ob;
  return fabs((double)d);
}

/* Bit-identical, or both NaN. */
static int same_f(double got, double want, cask_dtype t) {
  if (got != got || want != want) return got != got && want != want;
  if (t == CASK_F32) {
    float a = (float)got, b = (float)want;
    return memcmp(&a, &b, 4) == 0;
  }
  return memcmp(&got, &want, 8) == 0;
}

/* Within tol ulps, both NaN, or equal (also infinities and zeros of either
 * sign). */
static int near_f(double got, double want, cask_dtype t, double tol) {
  if (got != got || want != want) return got != got && want != want;
  if (got == want) return 1;
  if (isinf(got) || isinf(want)) return 0;
  return ulps(got, want, t) <= tol;
}

static void fmt_elem(char *buf, size_t cap, const void *p, cask_dtype t, int64_t i) {
  if (isflt(t)) snprintf(buf, cap, "%.17g", getf(p, t, i));
  else snprintf(buf, cap, "%lld", (long long)geti(p, t, i));
}

/* An array over a copy of n elements of data (dtype t). */
static cask_array *arr(cask_ctx *c, cask_dtype t, const void *data, int nd, const int64_t *shape,
                       const int64_t *chunks) {
  int64_t n = prod(nd, shape);
  void *copy = scratch((size_t)n * dsz(t));
  memcpy(copy, data, (size_t)n * dsz(t));
  cask_array *a = NULL;
  int rc = cask_from_buffer(c, copy, t, nd, shape, chunks, NULL, NULL, &a);
  return kept(rc, a, "from_buffer");
}

/* a computed into a fresh buffer of its dtype. */
static void *fetch(cask_array *a) {
  size_t nbytes = (size_t)cask_array_size(a) * dsz(cask_array_dtype(a));
  void *d = scratch(nbytes);
  expect_ok(cask_compute(a, d, nbytes), "compute");
  return d;
}

static cask_array *bin(cask_binop op, cask_array *x, cask_array *y) {
  cask_array *a = NULL;
  int rc = cask_binary(op, x, y, &a);
  return kept(rc, a, "binary");
}
static cask_array *bsc(cask_binop op, cask_array *x, double s, int flags) {
  cask_array *a = NULL;
  int rc = cask_binary_scalar(op, x, s, flags, &a);
  return kept(rc, a, "binary_scalar");
}
static cask_array *un(cask_unop op, cask_array *x) {
  cask_array *a = NULL;
  int rc = cask_unary(op, x, &a);
  return kept(rc, a, "unary");
}
static cask_array *cast(cask_array *x, cask_dtype t) {
  cask_array *a = NULL;
  int rc = cask_astype(x, t, &a);
  return kept(rc, a, "astype");
}
static cask_array *red(cask_reduction op, cask_array *x, const int *axes, int naxes, int ddof) {
  cask_array *a = NULL;
  int rc = cask_reduce(op, x, axes, naxes, ddof, &a);
  return kept(rc, a, "reduce");
}

static const char *const binop_names[CASK_BINOP_COUNT] = {
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2",
    "floor_divide", "mod", "equal", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "logical_and", "logical_or"};
static const char *const unop_names[CASK_UNOP_COUNT] = {
    "negative", "abs", "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "sin",
    "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "floor", "ceil",
    "round", "isnan", "isfinite", "logical_not"};
static const char *const red_names[CASK_REDUCTION_COUNT] = {
    "sum", "mean", "min", "max", "var", "std", "prod", "any", "all", "argmin", "argmax",
    "nansum", "nanmean", "nanmin", "nanmax"};

/* ======================================================================
 * NumPy's tables. Made once with Debian's NumPy 1.24.2 (/usr/bin/python3):
 *
 *   D = ["float64","float32","int64","int32","uint8","bool"]
 *   code = {"float64":"d","float32":"f","int64":"q","int32":"i","uint8":"B",
 *           "bool":"?","float16":"e","int8":"b"}
 *   np.result_type(a, b)                       -> PROMOTE[a][b]
 *   getattr(np, op)(np.ones(2, a), np.ones(2, b)).dtype, "X" on TypeError
 *                                              -> BINOP_NP[op][a][b]
 *   getattr(np, op)(np.ones(2, a)).dtype       -> UNOP_NP[op][a]
 *   np._set_promotion_state("weak") (NEP 50), then x OP 3 and x OP 2.5 for
 *   x = np.ones(2, a) (3 OP x and 2.5 OP x give the same)
 *                                              -> SCALAR_NP[op][a]: int, float
 *
 * cask has no float16 and no int8: where NumPy gives float16 (float
 * functions of uint8 and bool) cask gives float64 as array.h says ("the
 * float functions give a float (... integers give f64)"); where NumPy gives
 * int8 (bool ** bool, bool // bool, bool % bool) or raises (bool - bool,
 * -bool), cask refuses with CASK_EINVAL.
 * ====================================================================== */

static const char PROMOTE[NDT][NDT + 1] = {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiB?"};

static const char BINOP_NP[CASK_BINOP_COUNT][NDT][NDT + 1] = {
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiB?"}, /* add */
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiBX"}, /* subtract */
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiB?"}, /* multiply */
    {"dddddd", "dfddff", "dddddd", "dddddd", "dfdddd", "dfdddd"}, /* divide */
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiBb"}, /* power */
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiB?"}, /* maximum */
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiB?"}, /* minimum */
    {"dddddd", "dfddff", "dddddd", "dddddd", "dfddee", "dfddee"}, /* arctan2 */
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiBb"}, /* floor_divide */
    {"dddddd", "dfddff", "ddqqqq", "ddqiii", "dfqiBB", "dfqiBb"}, /* remainder */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* equal */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* not_equal */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* less */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* less_equal */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* greater */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* greater_equal */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* logical_and */
    {"??????", "??????", "??????", "??????", "??????", "??????"}, /* logical_or */
};

static const char UNOP_NP[CASK_UNOP_COUNT][NDT + 1] = {
    "dfqiBX", /* negative */ "dfqiB?", /* abs */     "dfddee", /* sqrt */
    "dfddee", /* exp */      "dfddee", /* expm1 */   "dfddee", /* log */
    "dfddee", /* log1p */    "dfddee", /* log2 */    "dfddee", /* log10 */
    "dfddee", /* sin */      "dfddee", /* cos */     "dfddee", /* tan */
    "dfddee", /* arcsin */   "dfddee", /* arccos */  "dfddee", /* arctan */
    "dfddee", /* sinh */     "dfddee", /* cosh */    "dfddee", /* tanh */
    "dfddee", /* floor */    "dfddee", /* ceil */    "dfqiBe", /* round */
    "??????", /* isnan */    "??????", /* isfinite */ "??????", /* logical_not */
};

/* Under NEP 50 a Python int takes the array's dtype (bool's becomes int64)
 * and a Python float an integer array's becomes float64: per op and array
 * dtype, the result with an int scalar, then with a float scalar. */
static const char SCALAR_NP[CASK_BINOP_COUNT][NDT][3] = {
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* add */
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* subtract */
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* multiply */
    {"dd", "ff", "dd", "dd", "dd", "dd"}, /* divide */
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* power */
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* maximum */
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* minimum */
    {"dd", "ff", "dd", "dd", "ed", "dd"}, /* arctan2 */
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* floor_divide */
    {"dd", "ff", "qd", "id", "Bd", "qd"}, /* remainder */
    {"??", "??", "??", "??", "??", "??"}, /* equal */
    {"??", "??", "??", "??", "??", "??"}, /* not_equal */
    {"??", "??", "??", "??", "??", "??"}, /* less */
    {"??", "??", "??", "??", "??", "??"}, /* less_equal */
    {"??", "??", "??", "??", "??", "??"}, /* greater */
    {"??", "??", "??", "??", "??", "??"}, /* greater_equal */
    {"??", "??", "??", "??", "??", "??"}, /* logical_and */
    {"??", "??", "??", "??", "??", "??"}, /* logical_or */
};

/* A NumPy type code as the cask dtype cask gives, or -1 where cask refuses. */
static int from_code(char c) {
  switch (c) {
  case 'd': return CASK_F64;
  case 'f': return CASK_F32;
  case 'q': return CASK_I64;
  case 'i': return CASK_I32;
  case 'B': return CASK_U8;
  case '?': return CASK_BOOL;
  case 'e': return CASK_F64; /* float16: cask has none */
  default: return -1;        /* 'b' (int8) and 'X' (TypeError) */
  }
}

/* ======================================================================
 * Reference semantics (NumPy's), written as plain C
 * ====================================================================== */

/* Mismatches of one test: counted, the first few described. */
static struct {
  int n;
  char text[8000];
} bad;

static void mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mismatch(const char *fmt, ...) {
  if (bad.n++ >= 24) return;
  size_t off = strlen(bad.text);
  if (off + 8 >= sizeof bad.text) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(bad.text + off, sizeof bad.text - off - 2, fmt, ap);
  va_end(ap);
  strcat(bad.text, "; ");
}
static void reset_bad(void) {
  bad.n = 0;
  bad.text[0] = 0;
}
#define ASSERT_NO_MISMATCH(what) ck_assert_msg(bad.n == 0, "%s: %d mismatches: %s", (what), bad.n, bad.text)

/* NumPy's npy_divmod (numpy/core/src/npymath/npy_math_internal.h.src): the
 * floor division and the remainder of floats, in the operands' own
 * precision; x // 0 is x / 0 and x % 0 is fmod(x, 0) (NaN). */
#define NPY_DIVMOD(NAME, T, FMOD, FLOOR, COPYSIGN)          \
  static T NAME(T a, T b, T *modulus) {                     \
    T mod = FMOD(a, b);                                     \
    if (!b) {                                               \
      *modulus = mod;                                       \
      return a / b;                                         \
    }                                                       \
    T div = (a - mod) / b;                                  \
    if (mod) {                                              \
      if ((b < 0) != (mod < 0)) {                           \
        mod += b;                                           \
        div -= (T)1;                                        \
      }                                                     \
    } else {                                                \
      mod = COPYSIGN((T)0, b);                              \
    }                                                       \
    T fl;                                                   \
    if (div) {                                              \
      fl = FLOOR(div);                                      \
      if (div - fl > (T)0.5) fl += (T)1;                    \
    } else {                                                \
      fl = COPYSIGN((T)0, a / b);                           \
    }                                                       \
    *modulus = mod;                                         \
    return fl;                                              \
  }
NPY_DIVMOD(divmod_d, double, fmod, floor, copysign)
NPY_DIVMOD(divmod_f, float, fmodf, floorf, copysignf)

/* Integer floor division and modulo as NumPy: the quotient rounds toward
 * minus infinity, the remainder takes the divisor's sign, x // 0 and x % 0
 * are 0, INT64_MIN // -1 wraps to INT64_MIN. */
static int64_t ifloordiv(int64_t x, int64_t y) {
  if (y == 0) return 0;
  if (y == -1) return (int64_t)(0 - (uint64_t)x);
  int64_t q = x / y, r = x % y;
  return r != 0 && ((r < 0) != (y < 0)) ? q - 1 : q;
}
static int64_t imod(int64_t x, int64_t y) {
  if (y == 0 || y == -1) return 0;
  int64_t r = x % y;
  return r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
}
/* x ** y modulo 2^64 (NumPy's integer power wraps). A negative exponent:
 * NumPy raises; cask gives 0, or +-1 for bases +-1 (kernel.c's powi). */
static int64_t ipow(int64_t x, int64_t y) {
  if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)x;
  for (; y; y >>= 1, b *= b)
    if (y & 1) r *= b;
  return (int64_t)r;
}

static int is_cmp(int op) { return op >= CASK_EQUAL && op <= CASK_GREATER_EQUAL; }
static int is_logic(int op) { return op == CASK_LOGICAL_AND || op == CASK_LOGICAL_OR; }
static int truthy(double f) { return f != 0 || f != f; }

static int cmp_f(int op, double x, double y) {
  switch (op) {
  case CASK_EQUAL: return x == y;
  case CASK_NOT_EQUAL: return x != y;
  case CASK_LESS: return x < y;
  case CASK_LESS_EQUAL: return x <= y;
  case CASK_GREATER: return x > y;
  default: return x >= y;
  }
}
static int cmp_i(int op, int64_t x, int64_t y) {
  switch (op) {
  case CASK_EQUAL: return x == y;
  case CASK_NOT_EQUAL: return x != y;
  case CASK_LESS: return x < y;
  case CASK_LESS_EQUAL: return x <= y;
  case CASK_GREATER: return x > y;
  default: return x >= y;
  }
}

/* NumPy's maximum/minimum: a NaN on either side wins; otherwise the second
 * operand unless the first is strictly larger (smaller) - measured:
 * np.maximum(-0.0, 0.0) is 0.0, np.maximum(0.0, -0.0) is -0.0. */
static double fmax_np(double x, double y) { return (x > y || x != x) ? x : y; }
static double fmin_np(double x, double y) { return (x < y || x != x) ? x : y; }

/* x op y in float64 (tolerance: ulps of the result). */
static double op_d(int op, double x, double y, double *tol) {
  double m;
  *tol = 0;
  switch (op) {
  case CASK_ADD: return x + y;
  case CASK_SUB: return x - y;
  case CASK_MUL: return x * y;
  case CASK_DIV: return x / y;
  case CASK_POW: *tol = 4; return pow(x, y); /* libmvec: within 4 ulp */
  case CASK_MAXIMUM: return fmax_np(x, y);
  case CASK_MINIMUM: return fmin_np(x, y);
  case CASK_ARCTAN2: *tol = 4; return atan2(x, y);
  case CASK_FLOOR_DIVIDE: return divmod_d(x, y, &m);
  default: divmod_d(x, y, &m); return m;
  }
}

/* The same in float32 arithmetic (NumPy's float32 loops). pow and arctan2:
 * the float64 function rounded (within 1 float32 ulp of NumPy's powf). */
static float op_f(int op, float x, float y, double *tol) {
  float m;
  *tol = 0;
  switch (op) {
  case CASK_ADD: return x + y;
  case CASK_SUB: return x - y;
  case CASK_MUL: return x * y;
  case CASK_DIV: return x / y;
  case CASK_POW: *tol = 1; return (float)pow(x, y);
  case CASK_MAXIMUM: return (float)fmax_np(x, y);
  case CASK_MINIMUM: return (float)fmin_np(x, y);
  case CASK_ARCTAN2: *tol = 1; return (float)atan2(x, y);
  case CASK_FLOOR_DIVIDE: return divmod_f(x, y, &m);
  default: divmod_f(x, y, &m); return m;
  }
}

static int64_t op_i(int op, int64_t x, int64_t y) {
  uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
  switch (op) {
  case CASK_ADD: return (int64_t)(ux + uy);
  case CASK_SUB: return (int64_t)(ux - uy);
  case CASK_MUL: return (int64_t)(ux * uy);
  case CASK_POW: return ipow(x, y);
  case CASK_MAXIMUM: return x > y ? x : y;
  case CASK_MINIMUM: return x < y ? x : y;
  case CASK_FLOOR_DIVIDE: return ifloordiv(x, y);
  default: return imod(x, y);
  }
}

/* One operand of a binary op: a value in its dtype, read from a buffer. */
typedef struct operand {
  const void *p;
  cask_dtype t;
  int64_t i;
} operand;

/* NumPy's x op y computed in dtype ct (the promotion of the operands, or
 * the weak scalar's rule) and stored into d[i] of result dtype rt.
 * Returns the tolerance in ulps of rt (0: exact). */
static double ref_binop(int op, operand x, operand y, cask_dtype ct, void *d, cask_dtype rt, int64_t i) {
  double tol = 0, fx = getf(x.p, x.t, x.i), fy = getf(y.p, y.t, y.i);
  if (is_logic(op)) {
    int tx = truthy(fx), ty = truthy(fy);
    seti(d, CASK_BOOL, i, op == CASK_LOGICAL_AND ? tx && ty : tx || ty);
  } else if (is_cmp(op)) {
    seti(d, CASK_BOOL, i, isflt(ct) ? cmp_f(op, fx, fy) : cmp_i(op, geti(x.p, x.t, x.i), geti(y.p, y.t, y.i)));
  } else if (isflt(rt) && !isflt(ct)) { /* true division and arctan2 of integers */
    setf(d, rt, i, op_d(op, fx, fy, &tol));
  } else if (ct == CASK_F32) {
    setf(d, rt, i, op_f(op, (float)fx, (float)fy, &tol));
  } else if (ct == CASK_F64) {
    setf(d, rt, i, op_d(op, fx, fy, &tol));
  } else {
    seti(d, rt, i, op_i(op, geti(x.p, x.t, x.i), geti(y.p, y.t, y.i)));
  }
  return tol;
}

/* Compare got[i] with want[i] (dtype t) within tol ulps; describe a
 * mismatch with the words in what. */
static void check_elem(const void *got, const void *want, cask_dtype t, int64_t i, double tol, const char *what) {
  int ok;
  if (isflt(t)) ok = tol > 0 ? near_f(getf(got, t, i), getf(want, t, i), t, tol) : same_f(getf(got, t, i), getf(want, t, i), t);
  else ok = geti(got, t, i) == geti(want, t, i);
  if (!ok) {
    char g[40], w[40];
    fmt_elem(g, sizeof g, got, t, i);
    fmt_elem(w, sizeof w, want, t, i);
    mismatch("%s = %s, want %s (%s)", what, g, w, dn(t));
  }
}

/* ======================================================================
 * Test values: each dtype's edges (zeros of both signs, infinities, NaN,
 * the extremes of the integers, values beyond 2^53, values that wrap).
 * ====================================================================== */

static const double V_F64[] = {0.0,   -0.0,    1.0,       -1.0,      2.5,  -2.5, 0.5,
                               3.0,   -7.0,    7.25,      0.1,       1e300, -1e-300,
                               4.5e15, INFINITY, -INFINITY, NAN,     255.0, -1e10,
                               9007199254740994.0};
static const float V_F32[] = {0.0f,   -0.0f,    1.0f,      -1.0f, 2.5f,  -2.5f, 0.5f,
                              3.0f,   -7.0f,    7.25f,     0.1f,  3e38f, -1e-38f,
                              16777216.0f, INFINITY, -INFINITY, NAN, 255.0f, -1e10f, 1.1f};
static const int64_t V_I64[] = {0,       1,         -1,        2,  -7, 7, 3, 255, 256, INT64_MAX,
                                INT64_MIN, (1LL << 53) + 1, -((1LL << 53) + 1), 1LL << 62,
                                1000000007, -3};
static const int32_t V_I32[] = {0, 1, -1, 2, -7, 7, 3, 255, 256, INT32_MAX, INT32_MIN, 65537, -100000, 46341, -3};
static const uint8_t V_U8[] = {0, 1, 2, 3, 7, 100, 127, 128, 200, 255};
static const uint8_t V_BOOL[] = {0, 1};

static const void *vals(cask_dtype t, int64_t *n) {
  switch (t) {
  case CASK_F64: *n = sizeof V_F64 / sizeof *V_F64; return V_F64;
  case CASK_F32: *n = sizeof V_F32 / sizeof *V_F32; return V_F32;
  case CASK_I64: *n = sizeof V_I64 / sizeof *V_I64; return V_I64;
  case CASK_I32: *n = sizeof V_I32 / sizeof *V_I32; return V_I32;
  case CASK_U8: *n = sizeof V_U8 / sizeof *V_U8; return V_U8;
  default: *n = 2; return V_BOOL;
  }
}

/* ======================================================================
 * Promotion
 * ====================================================================== */

START_TEST(cask_promote_matches_numpys_result_type_for_all_36_pairs) {
  reset_bad();
  for (int a = 0; a < NDT; a++)
    for (int b = 0; b < NDT; b++) {
      cask_dtype got = cask_promote((cask_dtype)a, (cask_dtype)b), want = (cask_dtype)from_code(PROMOTE[a][b]);
      if (got != want) mismatch("promote(%s, %s) = %s, want %s", dn(a), dn(b), dn(got), dn(want));
    }
  ASSERT_NO_MISMATCH("cask_promote");
  ck_assert_int_eq(cask_promote(CASK_DTYPE_COUNT, CASK_F64), CASK_DTYPE_COUNT);
  ck_assert_int_eq(cask_promote(CASK_F64, (cask_dtype)-1), CASK_DTYPE_COUNT);
}
END_TEST

/* ======================================================================
 * Binary operations
 * ====================================================================== */

START_TEST(every_binop_has_numpys_result_dtype_or_is_refused_for_every_pair) {
  cask_ctx *c = ctx_new(1, 0);
  reset_bad();
  int64_t one = 1;
  for (int op = 0; op < CASK_BINOP_COUNT; op++)
    for (int a = 0; a < NDT; a++)
      for (int b = 0; b < NDT; b++) {
        cask_array *x = NULL, *y = NULL, *r = NULL;
        expect_ok(cask_zeros(c, (cask_dtype)a, 1, &one, NULL, &x), "zeros");
        expect_ok(cask_ones(c, (cask_dtype)b, 1, &one, NULL, &y), "ones");
        int want = from_code(BINOP_NP[op][a][b]);
        int rc = cask_binary((cask_binop)op, x, y, &r);
        if (want < 0) {
          if (rc != CASK_EINVAL || r) mismatch("%s(%s, %s) gave %s, want CASK_EINVAL (NumPy: '%c')", binop_names[op], dn(a), dn(b), cask_err_name(rc), BINOP_NP[op][a][b]);
          else if (!strstr(cask_ctx_errmsg(c), binop_names[op]))
            mismatch("%s(%s, %s): message '%s' does not name the op", binop_names[op], dn(a), dn(b), cask_ctx_errmsg(c));
        } else if (rc != CASK_OK) {
          mismatch("%s(%s, %s) refused (%s), want %s", binop_names[op], dn(a), dn(b), cask_ctx_errmsg(c), dn(want));
        } else if (cask_array_dtype(r) != (cask_dtype)want) {
          mismatch("%s(%s, %s) is %s, want %s", binop_names[op], dn(a), dn(b), dn(cask_array_dtype(r)), dn(want));
        }
        cask_array_release(r);
        cask_array_release(x);
        cask_array_release(y);
      }
  ASSERT_NO_MISMATCH("binary result dtypes");
  cleanup();
}
END_TEST

/* Every op over every pair of dtypes: a column of one dtype's values
 * broadcast against a row of the other's (every combination), with chunks
 * that cut both. */
START_TEST(every_binop_computes_numpys_values_for_every_pair) {
  cask_ctx *c = ctx_new(2, 0);
  reset_bad();
  for (int ta = 0; ta < NDT; ta++)
    for (int tb = 0; tb < NDT; tb++) {
      int64_t na, nb;
      const void *va = vals((cask_dtype)ta, &na), *vb = vals((cask_dtype)tb, &nb);
      cask_array *a = arr(c, (cask_dtype)ta, va, 2, (int64_t[]){na, 1}, (int64_t[]){3, 1});
      cask_array *b = arr(c, (cask_dtype)tb, vb, 1, &nb, (int64_t[]){4});
      cask_dtype ct = (cask_dtype)from_code(PROMOTE[ta][tb]);
      for (int op = 0; op < CASK_BINOP_COUNT; op++) {
        int want_t = from_code(BINOP_NP[op][ta][tb]);
        if (want_t < 0) continue; /* refused: the test above */
        cask_array *r = bin((cask_binop)op, a, b);
        cask_dtype rt = (cask_dtype)want_t;
        if (cask_array_dtype(r) != rt) continue; /* reported by the test above */
        void *got = fetch(r), *want = scratch((size_t)(na * nb) * dsz(rt));
        for (int64_t i = 0; i < na; i++)
          for (int64_t j = 0; j < nb; j++) {
            int64_t k = i * nb + j;
            double tol = ref_binop(op, (operand){va, (cask_dtype)ta, i}, (operand){vb, (cask_dtype)tb, j}, ct, want, rt, k);
            char what[160], sa[40], sb[40];
            fmt_elem(sa, sizeof sa, va, (cask_dtype)ta, i);
            fmt_elem(sb, sizeof sb, vb, (cask_dtype)tb, j);
            snprintf(what, sizeof what, "%s(%s %s, %s %s)", binop_names[op], dn(ta), sa, dn(tb), sb);
            check_elem(got, want, rt, k, tol, what);
          }
      }
    }
  ASSERT_NO_MISMATCH("binary values");
  cleanup();
}
END_TEST

/* Hard-coded NumPy answers (printed by NumPy 1.24.2) for the sign rules
 * of floor division and modulo, independent of the reference above. */
START_TEST(floor_divide_and_mod_follow_numpys_sign_rules_and_zero_divisors) {
  cask_ctx *c = ctx_new(2, 0);
  static const int64_t xi[] = {-7, 7, -7, 7, 5, -5, 0, INT64_MIN, INT64_MIN, (1LL << 62) + 1};
  static const int64_t yi[] = {2, -2, -2, 2, 0, 0, 0, -1, 1, 3};
  static const int64_t qi[] = {-4, -4, 3, 3, 0, 0, 0, INT64_MIN, INT64_MIN, 1537228672809129301LL};
  static const int64_t ri[] = {1, -1, -1, 1, 0, 0, 0, 0, 0, 2};
  int64_t n = 10;
  cask_array *x = arr(c, CASK_I64, xi, 1, &n, (int64_t[]){3}), *y = arr(c, CASK_I64, yi, 1, &n, (int64_t[]){3});
  const int64_t *q = fetch(bin(CASK_FLOOR_DIVIDE, x, y)), *r = fetch(bin(CASK_MOD, x, y));
  for (int i = 0; i < n; i++) {
    ck_assert_msg(q[i] == qi[i], "%lld // %lld = %lld, NumPy %lld", (long long)xi[i], (long long)yi[i], (long long)q[i], (long long)qi[i]);
    ck_assert_msg(r[i] == ri[i], "%lld %% %lld = %lld, NumPy %lld", (long long)xi[i], (long long)yi[i], (long long)r[i], (long long)ri[i]);
  }
  /* int32: INT32_MIN // -1 wraps, x // 0 and x % 0 are 0 */
  static const int32_t x32[] = {INT32_MIN, 7, -7}, y32[] = {-1, 0, 0}, q32[] = {INT32_MIN, 0, 0};
  int64_t n3 = 3;
  cask_array *x3 = arr(c, CASK_I32, x32, 1, &n3, NULL), *y3 = arr(c, CASK_I32, y32, 1, &n3, NULL);
  const int32_t *q3 = fetch(bin(CASK_FLOOR_DIVIDE, x3, y3)), *r3 = fetch(bin(CASK_MOD, x3, y3));
  for (int i = 0; i < 3; i++) {
    ck_assert_msg(q3[i] == q32[i], "int32 %d // %d = %d, NumPy %d", x32[i], y32[i], q3[i], q32[i]);
    ck_assert_msg(r3[i] == 0, "int32 %d %% %d = %d, NumPy 0", x32[i], y32[i], r3[i]);
  }
  /* floats: np.floor_divide and np.remainder printed by NumPy */
  static const double xf[] = {-7.5, 7.5, -7.5, 7.5, 5.0, -5.0, 0.0, -0.0, 1.0, -1.0, INFINITY, 1.0, -1.0, 0.0, 1e300};
  static const double yf[] = {2, -2, -2, 2, 0, 0, 0, 0, INFINITY, INFINITY, 1.0, -INFINITY, -INFINITY, -3, 1e-300};
  static const double qf[] = {-4.0, -4.0, 3.0, 3.0, INFINITY, -INFINITY, NAN, NAN, 0.0, -1.0, NAN, -1.0, 0.0, -0.0, INFINITY};
  static const double rf[] = {0.5, -0.5, -1.5, 1.5, NAN, NAN, NAN, NAN, 1.0, INFINITY, NAN, -INFINITY, -1.0, -0.0, 4.891554850853602e-301};
  /* float32: the same inputs rounded; 1e300 -> inf, 1e-300 -> 0 */
  static const double rf32_last = NAN;
  int64_t nf = 15;
  /* float32 floor division is float32 arithmetic (npy_divmodf): (a - mod)
   * / b rounds to float32 before the floor; NumPy's answers: */
  static const float x32f[] = {-2147483600.0f, 1402767.4f, 1116027.9f, -1181933.4f};
  static const float y32f[] = {89.0f, 0.1f, 0.1f, 0.1f}, q32f[] = {-24129028.0f, 14027674.0f, 11160279.0f, -11819335.0f};
  int64_t n4 = 4;
  const float *q4 = fetch(bin(CASK_FLOOR_DIVIDE, arr(c, CASK_F32, x32f, 1, &n4, NULL), arr(c, CASK_F32, y32f, 1, &n4, NULL)));
  for (int i = 0; i < 4; i++)
    ck_assert_msg(q4[i] == q32f[i], "float32 %.9g // %.9g = %.9g, NumPy %.9g", x32f[i], y32f[i], q4[i], q32f[i]);
  for (int t = 0; t < 2; t++) {
    cask_dtype dt = t ? CASK_F32 : CASK_F64;
    cask_array *fx = cast(arr(c, CASK_F64, xf, 1, &nf, (int64_t[]){4}), dt);
    cask_array *fy = cast(arr(c, CASK_F64, yf, 1, &nf, (int64_t[]){4}), dt);
    const void *fq = fetch(bin(CASK_FLOOR_DIVIDE, fx, fy)), *fr = fetch(bin(CASK_MOD, fx, fy));
    for (int i = 0; i < nf; i++) {
      double wr = (t && i == 14) ? rf32_last : rf[i];
      ck_assert_msg(same_f(getf(fq, dt, i), qf[i], dt), "%s %g // %g = %g, NumPy %g", dn(dt), xf[i], yf[i], getf(fq, dt, i), qf[i]);
      ck_assert_msg(same_f(getf(fr, dt, i), wr, dt), "%s %g %% %g = %g, NumPy %g", dn(dt), xf[i], yf[i], getf(fr, dt, i), wr);
    }
  }
  cleanup();
}
END_TEST

/* uint8 (a + b) > 200 wraps a + b to uint8 before comparing, as NumPy
 * does; so do int32 products inside longer expressions. */
START_TEST(narrow_integers_wrap_inside_fused_expressions) {
  cask_ctx *c = ctx_new(2, 0);
  enum { N = 3000 };
  uint8_t ua[N], ub[N];
  int32_t ia[N], ib[N];
  int64_t il[N];
  for (int i = 0; i < N; i++) {
    ua[i] = (uint8_t)(i * 7 + 3);
    ub[i] = (uint8_t)(i * 13 + 200);
    ia[i] = (int32_t)(uint32_t)(i * 2654435761u);
    ib[i] = (int32_t)(i * 40503 - 60000);
    il[i] = (int64_t)i * 1000003 - (1LL << 40);
  }
  int64_t n = N, ch = 700;
  cask_array *a = arr(c, CASK_U8, ua, 1, &n, &ch), *b = arr(c, CASK_U8, ub, 1, &n, &ch);
  cask_array *x = arr(c, CASK_I32, ia, 1, &n, &ch), *y = arr(c, CASK_I32, ib, 1, &n, &ch);
  cask_array *z = arr(c, CASK_I64, il, 1, &n, &ch);
  /* (a + b) > 200 with an integer scalar, and against a uint8 array of 200s */
  const uint8_t *g1 = fetch(bsc(CASK_GREATER, bin(CASK_ADD, a, b), 200, CASK_SCALAR_INT));
  cask_array *two_hundred = NULL;
  expect_ok(cask_full(c, CASK_U8, 200, 1, &n, &ch, &two_hundred), "full");
  kept(CASK_OK, two_hundred, "full");
  const uint8_t *g2 = fetch(bin(CASK_GREATER, bin(CASK_ADD, a, b), two_hundred));
  /* (a * b - a) as uint8, then widened by adding an int32: wraps first */
  const int32_t *g3 = fetch(bin(CASK_ADD, bin(CASK_SUB, bin(CASK_MUL, a, b), a), x));
  /* int32 x * y wraps before it meets int64 z */
  const int64_t *g4 = fetch(bin(CASK_ADD, bin(CASK_MUL, x, y), z));
  /* -a of uint8, abs of int32's minimum */
  const uint8_t *g5 = fetch(un(CASK_NEGATIVE, a));
  /* sum of the wrapped uint8 sums: wrap per element, then exact int64 */
  int64_t s6;
  expect_ok(cask_compute(red(CASK_SUM, bin(CASK_ADD, a, b), NULL, 0, 0), &s6, 8), "sum");
  reset_bad();
  int64_t w6 = 0;
  for (int i = 0; i < N; i++) {
    uint8_t s = (uint8_t)(ua[i] + ub[i]);
    w6 += s;
    if (g1[i] != (s > 200)) mismatch("(%u + %u) > 200 at %d: %u", ua[i], ub[i], i, g1[i]);
    if (g2[i] != (s > 200)) mismatch("(%u + %u) > full(200) at %d: %u", ua[i], ub[i], i, g2[i]);
    int32_t w3 = (int32_t)((uint32_t)(uint8_t)(ua[i] * ub[i] - ua[i]) + (uint32_t)ia[i]);
    if (g3[i] != w3) mismatch("u8 a*b-a + i32 at %d: %d, want %d", i, g3[i], w3);
    int64_t w4 = (int64_t)(int32_t)((uint32_t)ia[i] * (uint32_t)ib[i]) + il[i];
    if (g4[i] != w4) mismatch("i32 x*y + i64 at %d: %lld, want %lld", i, (long long)g4[i], (long long)w4);
    if (g5[i] != (uint8_t)(256 - ua[i])) mismatch("-u8 %u = %u", ua[i], g5[i]);
  }
  if (s6 != w6) mismatch("sum(u8 a + b) = %lld, want %lld", (long long)s6, (long long)w6);
  ASSERT_NO_MISMATCH("wrapping in fused expressions");
  cleanup();
}
END_TEST

/* int64 values beyond 2^53 (where a double loses the low bits) stay exact
 * through arithmetic, comparisons, maximum, where and astype to int64. */
START_TEST(int64_beyond_2_to_53_is_exact_everywhere) {
  cask_ctx *c = ctx_new(2, 0);
  enum { N = 1000 };
  int64_t a[N], b[N];
  for (int i = 0; i < N; i++) {
    a[i] = (1LL << 53) + 1 + 2 * (int64_t)i; /* odd: no double holds it */
    b[i] = (1LL << 53) + (int64_t)(i % 7);
  }
  int64_t n = N, ch = 300;
  cask_array *x = arr(c, CASK_I64, a, 1, &n, &ch), *y = arr(c, CASK_I64, b, 1, &n, &ch);
  const int64_t *sum = fetch(bin(CASK_ADD, x, y)), *dif = fetch(bin(CASK_SUB, x, y));
  const int64_t *mx = fetch(bin(CASK_MAXIMUM, x, bsc(CASK_ADD, y, 1, CASK_SCALAR_INT)));
  const int64_t *fd = fetch(bsc(CASK_FLOOR_DIVIDE, x, 3, CASK_SCALAR_INT));
  const uint8_t *eq = fetch(bin(CASK_EQUAL, x, bsc(CASK_ADD, y, 1, CASK_SCALAR_INT)));
  cask_array *w = NULL;
  expect_ok(cask_where(bin(CASK_LESS, x, y), x, y, &w), "where");
  const int64_t *wh = fetch(kept(CASK_OK, w, "where"));
  int64_t s, lo, hi;
  expect_ok(cask_compute(red(CASK_SUM, x, NULL, 0, 0), &s, 8), "sum");
  expect_ok(cask_compute(red(CASK_MIN, y, NULL, 0, 0), &lo, 8), "min");
  expect_ok(cask_compute(red(CASK_MAX, x, NULL, 0, 0), &hi, 8), "max");
  reset_bad();
  for (int i = 0; i < N; i++) {
    if (sum[i] != a[i] + b[i]) mismatch("add at %d: %lld", i, (long long)sum[i]);
    if (dif[i] != a[i] - b[i]) mismatch("sub at %d: %lld", i, (long long)dif[i]);
    int64_t m = a[i] > b[i] + 1 ? a[i] : b[i] + 1;
    if (mx[i] != m) mismatch("maximum at %d: %lld, want %lld", i, (long long)mx[i], (long long)m);
    if (fd[i] != a[i] / 3) mismatch("// 3 at %d: %lld, want %lld", i, (long long)fd[i], (long long)(a[i] / 3));
    if (eq[i] != (a[i] == b[i] + 1)) mismatch("equal at %d: %u", i, eq[i]);
    if (wh[i] != (a[i] < b[i] ? a[i] : b[i])) mismatch("where at %d: %lld", i, (long long)wh[i]);
  }
  uint64_t ws = 0;
  for (int i = 0; i < N; i++) ws += (uint64_t)a[i];
  if (s != (int64_t)ws) mismatch("sum = %lld, want %lld", (long long)s, (long long)ws);
  if (lo != 1LL << 53) mismatch("min = %lld", (long long)lo);
  if (hi != a[N - 1]) mismatch("max = %lld, want %lld", (long long)hi, (long long)a[N - 1]);
  ASSERT_NO_MISMATCH("int64 beyond 2^53");
  cleanup();
}
END_TEST

/* Simple xorshift for test data (deterministic, independent of cask). */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
/* A float of random sign, mantissa and exponent in [2^-lo, 2^hi). */
static float rnd_float(int lo, int hi) {
  uint64_t r = rnd();
  float m = 1.0f + (float)(r & 0x7fffff) / 8388608.0f;
  int e = (int)((r >> 23) % (uint64_t)(lo + hi)) - lo;
  return ((r >> 40) & 1 ? -1.0f : 1.0f) * ldexpf(m, e);
}

/* float32 + - * / and fused chains are float32 arithmetic: every operation
 * rounds to float32 (NumPy computes float32 ufuncs in float32), bit for
 * bit, also for subnormal results. C's float arithmetic (SSE) is the
 * reference; each step is kept in a volatile so no FMA contraction joins
 * two of them. */
START_TEST(float32_arithmetic_is_bit_identical_to_c_float) {
  cask_ctx *c = ctx_new(2, 0);
  enum { N = 5000 };
  static float a[N], b[N], d[N];
  for (int i = 0; i < N; i++) {
    a[i] = rnd_float(20, 20);
    b[i] = i % 5 == 0 ? rnd_float(130, -100) : rnd_float(20, 20); /* some subnormal products */
    d[i] = rnd_float(10, 10);
  }
  int64_t n = N, ch = 1100;
  cask_array *x = arr(c, CASK_F32, a, 1, &n, &ch), *y = arr(c, CASK_F32, b, 1, &n, &ch);
  cask_array *z = arr(c, CASK_F32, d, 1, &n, &ch);
  const float *add = fetch(bin(CASK_ADD, x, y)), *sub = fetch(bin(CASK_SUB, x, y));
  const float *mul = fetch(bin(CASK_MUL, x, y)), *dv = fetch(bin(CASK_DIV, x, y));
  const float *fma_like = fetch(bin(CASK_ADD, bin(CASK_MUL, x, y), z));
  const float *chain = fetch(bin(CASK_DIV, bin(CASK_SUB, bin(CASK_MUL, x, x), z), bin(CASK_ADD, y, z)));
  const float *sq = fetch(un(CASK_SQRT, un(CASK_ABS, x)));
  /* float32 * float64 is float64: no rounding to float32 on the way */
  double *dd = scratch(N * sizeof(double));
  for (int i = 0; i < N; i++) dd[i] = 1.0 + i * 1e-9;
  cask_array *w = arr(c, CASK_F64, dd, 1, &n, &ch);
  const double *mixed = fetch(bin(CASK_MUL, x, w));
  reset_bad();
  for (int i = 0; i < N; i++) {
    volatile float p = a[i] * b[i], q = a[i] * a[i], r = q - d[i], s = b[i] + d[i];
    float want[7] = {a[i] + b[i], a[i] - b[i], p, a[i] / b[i], p + d[i], r / s, sqrtf(fabsf(a[i]))};
    const float *got[7] = {add, sub, mul, dv, fma_like, chain, sq};
    static const char *const nm[7] = {"a+b", "a-b", "a*b", "a/b", "a*b+c", "(a*a-c)/(b+c)", "sqrt(abs(a))"};
    for (int k = 0; k < 7; k++)
      if (memcmp(&got[k][i], &want[k], 4) != 0)
        mismatch("%s at %d (a=%a b=%a c=%a): %a, want %a", nm[k], i, a[i], b[i], d[i], got[k][i], want[k]);
    double wm = (double)a[i] * dd[i];
    if (memcmp(&mixed[i], &wm, 8) != 0) mismatch("f32*f64 at %d: %a, want %a", i, mixed[i], wm);
  }
  ASSERT_NO_MISMATCH("float32 arithmetic");
  cleanup();
}
END_TEST

/* ======================================================================
 * Scalars (NEP 50)
 * ====================================================================== */

/* The dtype a weak scalar takes with an array of dtype t (array.h). */
static cask_dtype scalar_dtype(cask_dtype t, int is_int) {
  if (is_int) return t == CASK_BOOL ? CASK_I64 : t;
  return isflt(t) ? t : CASK_F64;
}

START_TEST(scalars_are_weak_as_nep50_for_every_op_dtype_and_side) {
  cask_ctx *c = ctx_new(2, 0);
  static const double iscal[] = {3, 200, 16777217}, fscal[] = {0.1, -2.5, 1e10};
  reset_bad();
  for (int t = 0; t < NDT; t++) {
    int64_t n;
    const void *v = vals((cask_dtype)t, &n);
    cask_array *x = arr(c, (cask_dtype)t, v, 1, &n, (int64_t[]){3});
    for (int op = 0; op < CASK_BINOP_COUNT; op++)
      for (int is_int = 0; is_int < 2; is_int++)
        for (int k = 0; k < 3; k++)
          for (int first = 0; first < 2; first++) {
            double s = is_int ? iscal[k] : fscal[k];
            cask_dtype st = scalar_dtype((cask_dtype)t, is_int);
            if (is_int && ((st == CASK_U8 && s > 255))) continue; /* NumPy raises OverflowError */
            int flags = (is_int ? CASK_SCALAR_INT : 0) | (first ? CASK_SCALAR_FIRST : 0);
            cask_array *r = NULL;
            int rc = cask_binary_scalar((cask_binop)op, x, s, flags, &r);
            cask_dtype want_t = (cask_dtype)from_code(SCALAR_NP[op][t][is_int ? 0 : 1]);
            if (rc != CASK_OK) {
              mismatch("%s(%s, %s scalar %g, first=%d) refused: %s", binop_names[op], dn(t), is_int ? "int" : "float", s, first, cask_ctx_errmsg(c));
              continue;
            }
            kept(rc, r, "binary_scalar");
            if (cask_array_dtype(r) != want_t) {
              mismatch("%s(%s, %s scalar, first=%d) is %s, want %s", binop_names[op], dn(t), is_int ? "int" : "float", first, dn(cask_array_dtype(r)), dn(want_t));
              continue;
            }
            /* the scalar in its weak dtype: float32 rounds it */
            _Alignas(8) unsigned char sbuf[8];
            if (isflt(st)) setf(sbuf, st, 0, s);
            else seti(sbuf, st, 0, (int64_t)s);
            cask_dtype ct = (cask_dtype)from_code(PROMOTE[t][st]);
            void *got = fetch(r), *want = scratch((size_t)n * 8);
            for (int64_t i = 0; i < n; i++) {
              operand xa = {v, (cask_dtype)t, i}, sa = {sbuf, st, 0};
              double tol = ref_binop(op, first ? sa : xa, first ? xa : sa, ct, want, want_t, i);
              char what[160], sx[40];
              fmt_elem(sx, sizeof sx, v, (cask_dtype)t, i);
              if (first) snprintf(what, sizeof what, "%s(%s %g, %s %s)", binop_names[op], is_int ? "int" : "float", s, dn(t), sx);
              else snprintf(what, sizeof what, "%s(%s %s, %s %g)", binop_names[op], dn(t), sx, is_int ? "int" : "float", s);
              check_elem(got, want, want_t, i, tol, what);
            }
          }
  }
  ASSERT_NO_MISMATCH("scalar ops");
  cleanup();
}
END_TEST

/* A bool scalar (Python's True/False, CASK_SCALAR_BOOL) is the weakest:
 * the result is NumPy's for the array's dtype with a bool array, so
 * refused exactly where NumPy refuses bool - bool or gives int8. */
START_TEST(bool_scalars_take_the_arrays_dtype_for_every_op_and_side) {
  cask_ctx *c = ctx_new(2, 0);
  reset_bad();
  for (int t = 0; t < NDT; t++) {
    int64_t n;
    const void *v = vals((cask_dtype)t, &n);
    cask_array *x = arr(c, (cask_dtype)t, v, 1, &n, (int64_t[]){3});
    for (int op = 0; op < CASK_BINOP_COUNT; op++)
      for (int sv = 0; sv < 2; sv++)
        for (int first = 0; first < 2; first++) {
          cask_array *r = NULL;
          int rc = cask_binary_scalar((cask_binop)op, x, sv, CASK_SCALAR_BOOL | (first ? CASK_SCALAR_FIRST : 0), &r);
          int want_t = from_code(first ? BINOP_NP[op][CASK_BOOL][t] : BINOP_NP[op][t][CASK_BOOL]);
          if (want_t < 0) {
            if (rc != CASK_EINVAL || r) mismatch("%s(%s, bool scalar, first=%d) gave %s, want CASK_EINVAL", binop_names[op], dn(t), first, cask_err_name(rc));
            cask_array_release(r);
            continue;
          }
          if (rc != CASK_OK) {
            mismatch("%s(%s, bool scalar %d, first=%d) refused: %s", binop_names[op], dn(t), sv, first, cask_ctx_errmsg(c));
            continue;
          }
          kept(rc, r, "binary_scalar");
          if (cask_array_dtype(r) != (cask_dtype)want_t) {
            mismatch("%s(%s, bool scalar, first=%d) is %s, want %s", binop_names[op], dn(t), first, dn(cask_array_dtype(r)), dn(want_t));
            continue;
          }
          uint8_t sb = (uint8_t)sv;
          void *got = fetch(r), *want = scratch((size_t)n * 8);
          for (int64_t i = 0; i < n; i++) {
            operand xa = {v, (cask_dtype)t, i}, sa = {&sb, CASK_BOOL, 0};
            double tol = ref_binop(op, first ? sa : xa, first ? xa : sa, (cask_dtype)from_code(PROMOTE[t][CASK_BOOL]), want, (cask_dtype)want_t, i);
            char what[160], sx[40];
            fmt_elem(sx, sizeof sx, v, (cask_dtype)t, i);
            snprintf(what, sizeof what, "%s(%s %s, bool %d, first=%d)", binop_names[op], dn(t), sx, sv, first);
            check_elem(got, want, (cask_dtype)want_t, i, tol, what);
          }
        }
  }
  ASSERT_NO_MISMATCH("bool scalars");
  cleanup();
}
END_TEST

/* float32 + 0.1 adds float32(0.1), in float32 arithmetic: not the float64
 * sum rounded (the values below include some where the two differ). */
START_TEST(float32_plus_a_float_scalar_uses_the_scalar_rounded_to_float32) {
  cask_ctx *c = ctx_new(2, 0);
  enum { N = 4000 };
  static float a[N];
  for (int i = 0; i < N; i++) a[i] = rnd_float(8, 8);
  int64_t n = N;
  cask_array *x = arr(c, CASK_F32, a, 1, &n, (int64_t[]){900});
  const float *add = fetch(bsc(CASK_ADD, x, 0.1, 0)), *mul = fetch(bsc(CASK_MUL, x, 0.1, CASK_SCALAR_FIRST));
  const uint8_t *eq = fetch(bsc(CASK_EQUAL, bin(CASK_SUB, bsc(CASK_ADD, x, 0.1, 0), x), 0.1, 0));
  const float *big = fetch(bsc(CASK_ADD, x, 16777217, CASK_SCALAR_INT));
  int differ = 0;
  reset_bad();
  for (int i = 0; i < N; i++) {
    volatile float wa = a[i] + 0.1f, wm = 0.1f * a[i], wb = a[i] + 16777216.0f;
    differ += (float)((double)a[i] + 0.1) != wa;
    if (memcmp(&add[i], (const void *)&wa, 4)) mismatch("%a + 0.1 = %a, want %a", a[i], add[i], wa);
    if (memcmp(&mul[i], (const void *)&wm, 4)) mismatch("0.1 * %a = %a, want %a", a[i], mul[i], wm);
    if (memcmp(&big[i], (const void *)&wb, 4)) mismatch("%a + 16777217 = %a, want %a (the int in float32)", a[i], big[i], wb);
    volatile float d = wa - a[i];
    if (eq[i] != (d == 0.1f)) mismatch("(x + 0.1) - x == 0.1 at %d: %u", i, eq[i]);
  }
  ASSERT_NO_MISMATCH("float32 with float scalars");
  ck_assert_msg(differ > 10, "only %d inputs tell float32 from float64 addition", differ);
  cleanup();
}
END_TEST

/* An integer scalar beyond the array's range compares as the number it is
 * (NumPy 2: uint8 < 300 is all True), never wrapped to the array's dtype;
 * a scalar flagged an integer that is not one is refused. */
START_TEST(out_of_range_integer_scalars_compare_by_value_and_bad_scalars_are_refused) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t n;
  const void *u = vals(CASK_U8, &n);
  cask_array *x = arr(c, CASK_U8, u, 1, &n, NULL);
  const uint8_t *lt = fetch(bsc(CASK_LESS, x, 300, CASK_SCALAR_INT));
  const uint8_t *eq = fetch(bsc(CASK_EQUAL, x, 256, CASK_SCALAR_INT));
  const uint8_t *gt = fetch(bsc(CASK_GREATER, x, -1, CASK_SCALAR_INT));
  for (int64_t i = 0; i < n; i++) {
    ck_assert_msg(lt[i] == 1, "uint8 %u < 300 gave %u", ((const uint8_t *)u)[i], lt[i]);
    ck_assert_msg(eq[i] == 0, "uint8 %u == 256 gave %u", ((const uint8_t *)u)[i], eq[i]);
    ck_assert_msg(gt[i] == 1, "uint8 %u > -1 gave %u", ((const uint8_t *)u)[i], gt[i]);
  }
  int64_t m;
  const void *w = vals(CASK_I32, &m);
  cask_array *y = arr(c, CASK_I32, w, 1, &m, NULL);
  const uint8_t *e2 = fetch(bsc(CASK_EQUAL, y, 4294967296.0, CASK_SCALAR_INT | CASK_SCALAR_FIRST));
  const uint8_t *l2 = fetch(bsc(CASK_LESS, y, 1099511627776.0, CASK_SCALAR_INT));
  for (int64_t i = 0; i < m; i++) {
    ck_assert_msg(e2[i] == 0, "2^32 == int32 %d gave %u", ((const int32_t *)w)[i], e2[i]);
    ck_assert_msg(l2[i] == 1, "int32 %d < 2^40 gave %u", ((const int32_t *)w)[i], l2[i]);
  }
  cask_array *r = NULL;
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, x, 2.5, CASK_SCALAR_INT, &r), CASK_EINVAL);
  ck_assert_ptr_null(r);
  ck_assert_msg(strstr(cask_ctx_errmsg(c), "add") && strstr(cask_ctx_errmsg(c), "2.5"), "message: %s", cask_ctx_errmsg(c));
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, x, 1e19, CASK_SCALAR_INT, &r), CASK_EINVAL);
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, x, NAN, CASK_SCALAR_INT, &r), CASK_EINVAL);
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, x, 1, 8, &r), CASK_EINVAL);
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, x, 2, CASK_SCALAR_BOOL, &r), CASK_EINVAL);
  ck_assert_ptr_null(r);
  cleanup();
}
END_TEST

/* ======================================================================
 * Unary operations
 * ====================================================================== */

/* NumPy's rint: halves to even, the sign of zero kept (-0.4 -> -0.0). */
static double round_even(double x) {
  if (!isfinite(x)) return x;
  double f = floor(x), d = x - f, r;
  if (d > 0.5) r = f + 1;
  else if (d < 0.5) r = f;
  else r = fmod(f, 2.0) == 0 ? f : f + 1;
  return copysign(r, x);
}

static int exact_unop(int op) {
  return op == CASK_NEGATIVE || op == CASK_ABS || op == CASK_SQRT || op == CASK_FLOOR || op == CASK_CEIL ||
         op == CASK_ROUND;
}

static double libm1(int op, double x) {
  switch (op) {
  case CASK_NEGATIVE: return -x;
  case CASK_ABS: return fabs(x);
  case CASK_SQRT: return sqrt(x);
  case CASK_EXP: return exp(x);
  case CASK_EXPM1: return expm1(x);
  case CASK_LOG: return log(x);
  case CASK_LOG1P: return log1p(x);
  case CASK_LOG2: return log2(x);
  case CASK_LOG10: return log10(x);
  case CASK_SIN: return sin(x);
  case CASK_COS: return cos(x);
  case CASK_TAN: return tan(x);
  case CASK_ARCSIN: return asin(x);
  case CASK_ARCCOS: return acos(x);
  case CASK_ARCTAN: return atan(x);
  case CASK_SINH: return sinh(x);
  case CASK_COSH: return cosh(x);
  case CASK_TANH: return tanh(x);
  case CASK_FLOOR: return floor(x);
  case CASK_CEIL: return ceil(x);
  default: return round_even(x);
  }
}

/* NumPy's op(x[i]) into d[i] of dtype rt; the tolerance in ulps. */
static double ref_unop(int op, const void *x, cask_dtype t, int64_t i, void *d, cask_dtype rt) {
  double f = getf(x, t, i);
  switch (op) {
  case CASK_ISNAN: seti(d, rt, i, f != f); return 0;
  case CASK_ISFINITE: seti(d, rt, i, isfinite(f) != 0); return 0;
  case CASK_LOGICAL_NOT: seti(d, rt, i, !truthy(f)); return 0;
  default: break;
  }
  if (!isflt(rt)) { /* negative, abs, round of integers: exact, wrapping */
    int64_t v = geti(x, t, i);
    seti(d, rt, i, op == CASK_NEGATIVE ? (int64_t)(0 - (uint64_t)v) : op == CASK_ABS && v < 0 ? (int64_t)(0 - (uint64_t)v) : v);
    return 0;
  }
  setf(d, rt, i, libm1(op, f));
  if (exact_unop(op)) return 0;
  /* float64: glibc's vector functions are within 4 ulp of the scalar
   * ones; float32: the float64 function rounded, within 1 ulp */
  return rt == CASK_F32 ? 1 : 4;
}

START_TEST(every_unop_has_numpys_result_dtype_over_every_dtype) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t one = 1;
  reset_bad();
  for (int op = 0; op < CASK_UNOP_COUNT; op++)
    for (int t = 0; t < NDT; t++) {
      cask_array *x = NULL, *r = NULL;
      expect_ok(cask_ones(c, (cask_dtype)t, 1, &one, NULL, &x), "ones");
      int want = from_code(UNOP_NP[op][t]);
      int rc = cask_unary((cask_unop)op, x, &r);
      if (want < 0) {
        if (rc != CASK_EINVAL || r) mismatch("%s(%s) gave %s, want CASK_EINVAL", unop_names[op], dn(t), cask_err_name(rc));
      } else if (rc != CASK_OK) {
        mismatch("%s(%s) refused: %s", unop_names[op], dn(t), cask_ctx_errmsg(c));
      } else if (cask_array_dtype(r) != (cask_dtype)want) {
        mismatch("%s(%s) is %s, want %s (NumPy: '%c')", unop_names[op], dn(t), dn(cask_array_dtype(r)), dn(want), UNOP_NP[op][t]);
      }
      cask_array_release(r);
      cask_array_release(x);
    }
  ASSERT_NO_MISMATCH("unary result dtypes");
  cleanup();
}
END_TEST

START_TEST(every_unop_computes_numpys_values_over_every_dtype) {
  cask_ctx *c = ctx_new(2, 0);
  reset_bad();
  for (int t = 0; t < NDT; t++) {
    int64_t n;
    const void *v = vals((cask_dtype)t, &n);
    cask_array *x = arr(c, (cask_dtype)t, v, 1, &n, (int64_t[]){4});
    for (int op = 0; op < CASK_UNOP_COUNT; op++) {
      cask_array *r = NULL;
      if (cask_unary((cask_unop)op, x, &r) != CASK_OK) continue; /* the dtype test */
      kept(CASK_OK, r, "unary");
      cask_dtype rt = cask_array_dtype(r);
      if ((int)rt != from_code(UNOP_NP[op][t])) continue; /* the dtype test */
      void *got = fetch(r), *want = scratch((size_t)n * 8);
      for (int64_t i = 0; i < n; i++) {
        double tol = ref_unop(op, v, (cask_dtype)t, i, want, rt);
        char what[120], sx[40];
        fmt_elem(sx, sizeof sx, v, (cask_dtype)t, i);
        snprintf(what, sizeof what, "%s(%s %s)", unop_names[op], dn(t), sx);
        check_elem(got, want, rt, i, tol, what);
      }
    }
  }
  ASSERT_NO_MISMATCH("unary values");
  cleanup();
}
END_TEST

/* Hard-coded: np.round (np.rint) rounds halves to even and keeps the sign
 * of zero; integers round to themselves. */
START_TEST(round_is_half_to_even_in_float64_and_float32) {
  cask_ctx *c = ctx_new(1, 0);
  static const double x[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -0.4, 0.49999999999999994, 4503599627370497.0, 1e300, 2.675};
  static const double w[] = {0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 4.0, -0.0, 0.0, 4503599627370497.0, 1e300, 3.0};
  int64_t n = 12;
  cask_array *a = arr(c, CASK_F64, x, 1, &n, (int64_t[]){5});
  const double *r = fetch(un(CASK_ROUND, a));
  const float *r32 = fetch(un(CASK_ROUND, cast(a, CASK_F32)));
  for (int i = 0; i < n; i++) {
    ck_assert_msg(same_f(r[i], w[i], CASK_F64), "round(%.17g) = %.17g, want %.17g", x[i], r[i], w[i]);
    float wf = (float)round_even((float)x[i]);
    ck_assert_msg(same_f(r32[i], wf, CASK_F32), "float32 round(%.9g) = %.9g, want %.9g", (float)x[i], r32[i], wf);
  }
  static const int32_t xi[] = {INT32_MIN, -3, 0, 5, INT32_MAX};
  int64_t m = 5;
  const int32_t *ri = fetch(un(CASK_ROUND, arr(c, CASK_I32, xi, 1, &m, NULL)));
  const int32_t *ai = fetch(un(CASK_ABS, arr(c, CASK_I32, xi, 1, &m, NULL)));
  const int32_t *ni = fetch(un(CASK_NEGATIVE, arr(c, CASK_I32, xi, 1, &m, NULL)));
  static const int32_t wa[] = {INT32_MIN, 3, 0, 5, INT32_MAX}, wn[] = {INT32_MIN, 3, 0, -5, -INT32_MAX};
  for (int i = 0; i < m; i++) {
    ck_assert_msg(ri[i] == xi[i], "round(int32 %d) = %d", xi[i], ri[i]);
    ck_assert_msg(ai[i] == wa[i], "abs(int32 %d) = %d, NumPy %d", xi[i], ai[i], wa[i]);
    ck_assert_msg(ni[i] == wn[i], "negative(int32 %d) = %d, NumPy %d", xi[i], ni[i], wn[i]);
  }
  cleanup();
}
END_TEST

/* ======================================================================
 * where, clip, astype, full
 * ====================================================================== */

/* cond (its own dtype: nonzero and NaN are true) of shape (nc, 1, 1), a of
 * shape (na, 1), b of shape (nb,): every combination, result dtype the
 * promotion of a's and b's. */
START_TEST(where_broadcasts_three_operands_of_mixed_dtypes) {
  cask_ctx *c = ctx_new(2, 0);
  reset_bad();
  for (int tc = 0; tc < NDT; tc++)
    for (int ta = 0; ta < NDT; ta++)
      for (int tb = 0; tb < NDT; tb++) {
        if (tc != CASK_BOOL && tc != ta && tc != tb) continue; /* every cond dtype, not every triple */
        int64_t nc, na, nb;
        const void *vc = vals((cask_dtype)tc, &nc), *va = vals((cask_dtype)ta, &na), *vb = vals((cask_dtype)tb, &nb);
        cask_array *cond = arr(c, (cask_dtype)tc, vc, 3, (int64_t[]){nc, 1, 1}, (int64_t[]){3, 1, 1});
        cask_array *a = arr(c, (cask_dtype)ta, va, 2, (int64_t[]){na, 1}, (int64_t[]){5, 1});
        cask_array *b = arr(c, (cask_dtype)tb, vb, 1, &nb, (int64_t[]){6});
        cask_array *r = NULL;
        int rc = cask_where(cond, a, b, &r);
        kept(rc, r, "where");
        cask_dtype rt = (cask_dtype)from_code(PROMOTE[ta][tb]);
        if (cask_array_dtype(r) != rt || cask_array_ndim(r) != 3 || cask_array_size(r) != nc * na * nb) {
          mismatch("where(%s, %s, %s) is %s of %lld elements, want %s of %lld", dn(tc), dn(ta), dn(tb),
                   dn(cask_array_dtype(r)), (long long)cask_array_size(r), dn(rt), (long long)(nc * na * nb));
          continue;
        }
        void *got = fetch(r), *want = scratch((size_t)(nc * na * nb) * 8);
        for (int64_t i = 0; i < nc; i++)
          for (int64_t j = 0; j < na; j++)
            for (int64_t k = 0; k < nb; k++) {
              int64_t o = (i * na + j) * nb + k;
              if (truthy(getf(vc, (cask_dtype)tc, i))) ref_cast(want, rt, o, va, (cask_dtype)ta, j);
              else ref_cast(want, rt, o, vb, (cask_dtype)tb, k);
              char what[80];
              snprintf(what, sizeof what, "where(%s, %s, %s) at (%lld, %lld, %lld)", dn(tc), dn(ta), dn(tb), (long long)i, (long long)j, (long long)k);
              check_elem(got, want, rt, o, 0, what);
            }
      }
  ASSERT_NO_MISMATCH("where");
  cleanup();
}
END_TEST

/* clip(a, lo, hi) is minimum(maximum(a, lo), hi) with weak scalars:
 * integral bounds keep an integer array's dtype, other bounds make it
 * float64; float32 stays float32 with the bounds rounded to float32. */
START_TEST(clip_is_minimum_of_maximum_with_weak_scalar_bounds) {
  cask_ctx *c = ctx_new(2, 0);
  static const double bounds[][2] = {{2, 100}, {-2.5, 7.5}, {0, 0}, {-1e300, 0.1}, {3, 2}};
  reset_bad();
  for (int t = 0; t < NDT; t++) {
    int64_t n;
    const void *v = vals((cask_dtype)t, &n);
    cask_array *x = arr(c, (cask_dtype)t, v, 1, &n, (int64_t[]){4});
    for (int k = 0; k < 5; k++) {
      double lo = bounds[k][0], hi = bounds[k][1];
      int is_int = lo == floor(lo) && hi == floor(hi) && fabs(lo) < 1e18 && fabs(hi) < 1e18;
      if (t == CASK_U8 && is_int && lo < 0) continue;
      cask_array *r = NULL;
      KEEP(cask_clip(x, lo, hi, &r), r, "clip");
      /* maximum(x, lo) then minimum(., hi), each with NEP 50's rule */
      cask_dtype st1 = isflt((cask_dtype)t) ? (cask_dtype)t : is_int ? scalar_dtype((cask_dtype)t, 1) : CASK_F64;
      cask_dtype t1 = (cask_dtype)from_code(PROMOTE[t][st1]);
      cask_dtype st2 = isflt(t1) ? t1 : is_int ? scalar_dtype(t1, 1) : CASK_F64;
      cask_dtype t2 = (cask_dtype)from_code(PROMOTE[t1][st2]);
      if (cask_array_dtype(r) != t2) {
        mismatch("clip(%s, %g, %g) is %s, want %s", dn(t), lo, hi, dn(cask_array_dtype(r)), dn(t2));
        continue;
      }
      void *got = fetch(r), *mid = scratch((size_t)n * 8), *want = scratch((size_t)n * 8);
      _Alignas(8) unsigned char s1[8], s2[8];
      if (isflt(st1)) setf(s1, st1, 0, lo);
      else seti(s1, st1, 0, (int64_t)lo);
      if (isflt(st2)) setf(s2, st2, 0, hi);
      else seti(s2, st2, 0, (int64_t)hi);
      for (int64_t i = 0; i < n; i++) {
        ref_binop(CASK_MAXIMUM, (operand){v, (cask_dtype)t, i}, (operand){s1, st1, 0}, t1, mid, t1, i);
        ref_binop(CASK_MINIMUM, (operand){mid, t1, i}, (operand){s2, st2, 0}, t2, want, t2, i);
        char what[80], sx[40];
        fmt_elem(sx, sizeof sx, v, (cask_dtype)t, i);
        snprintf(what, sizeof what, "clip(%s %s, %g, %g)", dn(t), sx, lo, hi);
        check_elem(got, want, t2, i, 0, what);
      }
    }
  }
  /* uint8 with bounds beyond its range: by value, every uint8 is inside */
  int64_t n;
  const uint8_t *u = vals(CASK_U8, &n);
  cask_array *r = NULL;
  KEEP(cask_clip(arr(c, CASK_U8, u, 1, &n, NULL), -5, 300, &r), r, "clip");
  const uint8_t *g = fetch(r);
  for (int64_t i = 0; i < n; i++)
    if (g[i] != u[i]) mismatch("clip(uint8 %u, -5, 300) = %u", u[i], g[i]);
  ASSERT_NO_MISMATCH("clip");
  ck_assert_int_eq(cask_clip(r, NAN, 1, &(cask_array *){NULL}), CASK_EINVAL);
  cleanup();
}
END_TEST

/* Floats beyond each integer type's range, halves, and int64 values a
 * float32 or float64 must round. */
static const double CAST_F[] = {300.0, -1.0, 5e9 + 1, 1e10 + 7, -300.5, 1099511627779.0, 255.9, -0.9, 1e20,
                                9223372036854775808.0, -9223372036854775808.0, 2147483648.0, -2147483648.5,
                                2147483647.5, -2147483649.0, 4294967301.0, 256.0, 65536.5};
static const int64_t CAST_I[] = {(1LL << 60) + (1LL << 36) + 1, (1LL << 53) + 1, -((1LL << 60) + (1LL << 36) + 1),
                                 INT64_MAX, INT64_MIN, 4294967295LL, 2147483648LL, -129, 65791};

/* The test values of dtype t plus the extra ones above that t can hold. */
static void *cast_values(cask_dtype t, int64_t *n) {
  int64_t nv;
  const void *v = vals(t, &nv);
  int64_t extra = isflt(t) ? 18 : t == CASK_I64 ? 9 : 0;
  void *d = scratch((size_t)(nv + extra) * 8);
  memcpy(d, v, (size_t)nv * dsz(t));
  for (int64_t i = 0; i < extra; i++) {
    if (isflt(t)) setf(d, t, nv + i, CAST_F[i]);
    else seti(d, t, nv + i, CAST_I[i]);
  }
  *n = nv + extra;
  return d;
}

START_TEST(astype_between_every_pair_of_dtypes_is_numpys_unsafe_cast) {
  cask_ctx *c = ctx_new(2, 0);
  reset_bad();
  for (int s = 0; s < NDT; s++) {
    int64_t n;
    void *v = cast_values((cask_dtype)s, &n);
    cask_array *x = arr(c, (cask_dtype)s, v, 1, &n, (int64_t[]){7});
    for (int t = 0; t < NDT; t++) {
      cask_array *r = cast(x, (cask_dtype)t);
      ck_assert_int_eq(cask_array_dtype(r), t);
      /* alone, and fused after a multiplication by 1 in the source's dtype */
      void *got = fetch(r), *want = scratch((size_t)n * 8);
      void *fused = fetch(cast(bsc(CASK_MUL, x, 1, isflt((cask_dtype)s) ? 0 : CASK_SCALAR_INT), (cask_dtype)t));
      for (int64_t i = 0; i < n; i++) {
        ref_cast(want, (cask_dtype)t, i, v, (cask_dtype)s, i);
        char what[80], sx[40];
        fmt_elem(sx, sizeof sx, v, (cask_dtype)s, i);
        snprintf(what, sizeof what, "astype(%s %s, %s)", dn(s), sx, dn(t));
        check_elem(got, want, (cask_dtype)t, i, 0, what);
        if (s != CASK_BOOL) { /* bool * 1 is int64 */
          snprintf(what, sizeof what, "astype(%s %s * 1, %s)", dn(s), sx, dn(t));
          check_elem(fused, want, (cask_dtype)t, i, 0, what);
        }
      }
    }
  }
  ASSERT_NO_MISMATCH("astype");
  cask_array *r = NULL;
  int64_t one = 1;
  cask_array *x = NULL;
  expect_ok(cask_ones(c, CASK_F64, 1, &one, NULL, &x), "ones");
  kept(CASK_OK, x, "ones");
  ck_assert_int_eq(cask_astype(x, CASK_DTYPE_COUNT, &r), CASK_EINVAL);
  ck_assert_ptr_null(r);
  cleanup();
}
END_TEST

START_TEST(full_converts_its_value_to_every_dtype_as_astype) {
  cask_ctx *c = ctx_new(2, 0);
  static const double extra[] = {0.1, -2.7, 2.5, NAN, INFINITY, -INFINITY, 4611686018427387904.0, -0.0, 1e-320};
  reset_bad();
  for (int t = 0; t < NDT; t++)
    for (int k = 0; k < 18 + 9; k++) {
      double v = k < 18 ? CAST_F[k] : extra[k - 18];
      int64_t shape[2] = {5, 7}, ch[2] = {2, 3};
      cask_array *a = NULL;
      KEEP(cask_full(c, (cask_dtype)t, v, 2, shape, ch, &a), a, "full");
      void *got = fetch(a);
      _Alignas(8) unsigned char want[8];
      ref_cast(want, (cask_dtype)t, 0, &v, CASK_F64, 0);
      for (int64_t i = 0; i < 35; i++) {
        char what[60];
        snprintf(what, sizeof what, "full(%s, %.17g)[%lld]", dn(t), v, (long long)i);
        int ok = isflt((cask_dtype)t) ? same_f(getf(got, (cask_dtype)t, i), getf(want, (cask_dtype)t, 0), (cask_dtype)t)
                                      : geti(got, (cask_dtype)t, i) == geti(want, (cask_dtype)t, 0);
        if (!ok) {
          char g[40], w[40];
          fmt_elem(g, sizeof g, got, (cask_dtype)t, i);
          fmt_elem(w, sizeof w, want, (cask_dtype)t, 0);
          mismatch("%s = %s, want %s", what, g, w);
          break;
        }
      }
    }
  ASSERT_NO_MISMATCH("full");
  cleanup();
}
END_TEST

/* Expressions mixing dtypes, each step in its own dtype, against loops. */
START_TEST(fused_expressions_mixing_dtypes_match_the_loop) {
  cask_ctx *c = ctx_new(2, 0);
  enum { N = 2500 };
  static uint8_t u[N];
  static int32_t i32[N];
  static int64_t i64[N];
  static float f32[N], g32[N];
  static double f64[N];
  for (int i = 0; i < N; i++) {
    u[i] = (uint8_t)(i * 31 + 7);
    i32[i] = (int32_t)(uint32_t)((uint64_t)i * 2654435761u);
    i64[i] = (int64_t)(rnd() >> 2) - (1LL << 61);
    f32[i] = rnd_float(6, 6);
    g32[i] = rnd_float(6, 6);
    f64[i] = i % 11 == 3 ? NAN : (double)rnd_float(4, 12) * 1.0000001;
  }
  int64_t n = N, ch = 600;
  cask_array *U = arr(c, CASK_U8, u, 1, &n, &ch), *I = arr(c, CASK_I32, i32, 1, &n, &ch);
  cask_array *L = arr(c, CASK_I64, i64, 1, &n, &ch), *F = arr(c, CASK_F32, f32, 1, &n, &ch);
  cask_array *G = arr(c, CASK_F32, g32, 1, &n, &ch), *D = arr(c, CASK_F64, f64, 1, &n, &ch);
  /* 1: where(u > 100, i32, f32) + i64: float64 */
  cask_array *w = NULL;
  expect_ok(cask_where(bsc(CASK_GREATER, U, 100, CASK_SCALAR_INT), I, F, &w), "where");
  kept(CASK_OK, w, "where");
  const double *e1 = fetch(bin(CASK_ADD, w, L));
  /* 2: astype(f64 * 1000, int32) + i32: int32, wrapping */
  const int32_t *e2 = fetch(bin(CASK_ADD, cast(bsc(CASK_MUL, D, 1000, 0), CASK_I32), I));
  /* 3: logical_and(f64 (NaN is true), i32) | (u == 7) */
  const uint8_t *e3 = fetch(bin(CASK_LOGICAL_OR, bin(CASK_LOGICAL_AND, D, I), bsc(CASK_EQUAL, U, 7, CASK_SCALAR_INT)));
  /* 4: f32 * f32 (rounded to float32) + f64 */
  const double *e4 = fetch(bin(CASK_ADD, bin(CASK_MUL, F, G), D));
  /* 5: astype(i64, f32) * 2.0 (float32; int64 -> float32 rounds once) */
  const float *e5 = fetch(bsc(CASK_MUL, cast(L, CASK_F32), 2.0, 0));
  /* 6: i64 < f32: compared as float64 */
  const uint8_t *e6 = fetch(bin(CASK_LESS, bsc(CASK_FLOOR_DIVIDE, L, 1LL << 40, CASK_SCALAR_INT), F));
  /* 7: u8 - 200 (uint8 wraps) // 3, then / i32 (float64) */
  const double *e7 = fetch(bin(CASK_DIV, bsc(CASK_FLOOR_DIVIDE, bsc(CASK_SUB, U, 200, CASK_SCALAR_INT), 3, CASK_SCALAR_INT), I));
  /* 8: sum and max of astype(f32 * 10, u8): per element, then exact */
  int64_t s8;
  uint8_t m8;
  cask_array *u8 = cast(bsc(CASK_MUL, F, 10, 0), CASK_U8);
  expect_ok(cask_compute(red(CASK_SUM, u8, NULL, 0, 0), &s8, 8), "sum");
  expect_ok(cask_compute(red(CASK_MAX, u8, NULL, 0, 0), &m8, 1), "max");
  reset_bad();
  int64_t ws8 = 0;
  uint8_t wm8 = 0;
  for (int i = 0; i < N; i++) {
    double w1 = (u[i] > 100 ? (double)i32[i] : (double)f32[i]) + (double)i64[i];
    if (!same_f(e1[i], w1, CASK_F64)) mismatch("1 at %d: %.17g, want %.17g", i, e1[i], w1);
    int32_t w2 = (int32_t)((uint32_t)(int32_t)f2i32(f64[i] * 1000) + (uint32_t)i32[i]);
    if (e2[i] != w2) mismatch("2 at %d: %d, want %d", i, e2[i], w2);
    uint8_t w3 = (truthy(f64[i]) && i32[i] != 0) || u[i] == 7;
    if (e3[i] != w3) mismatch("3 at %d: %u, want %u", i, e3[i], w3);
    volatile float p = f32[i] * g32[i];
    double w4 = (double)p + f64[i];
    if (!same_f(e4[i], w4, CASK_F64)) mismatch("4 at %d: %.17g, want %.17g", i, e4[i], w4);
    volatile float w5 = (float)i64[i];
    w5 = w5 * 2.0f;
    if (memcmp(&e5[i], (const void *)&w5, 4)) mismatch("5 at %d (%lld): %a, want %a", i, (long long)i64[i], e5[i], w5);
    uint8_t w6 = (double)ifloordiv(i64[i], 1LL << 40) < (double)f32[i];
    if (e6[i] != w6) mismatch("6 at %d: %u, want %u", i, e6[i], w6);
    double w7 = (double)(((uint8_t)(u[i] - 200)) / 3) / (double)i32[i];
    if (!same_f(e7[i], w7, CASK_F64)) mismatch("7 at %d: %.17g, want %.17g", i, e7[i], w7);
    uint8_t v8 = (uint8_t)f2i32((double)(float)(f32[i] * 10.0f));
    ws8 += v8;
    if (v8 > wm8) wm8 = v8;
  }
  if (s8 != ws8) mismatch("8: sum %lld, want %lld", (long long)s8, (long long)ws8);
  if (m8 != wm8) mismatch("8: max %u, want %u", m8, wm8);
  ASSERT_NO_MISMATCH("mixed-dtype expressions");
  cleanup();
}
END_TEST

/* ======================================================================
 * Reductions
 * ====================================================================== */

/* array.h: sum/prod of bool and integers give int64, of floats their
 * dtype; mean/var/std of integers float64; min/max keep the dtype; any/all
 * bool; argmin/argmax int64. */
static cask_dtype red_dtype(int op, cask_dtype t) {
  switch (op) {
  case CASK_SUM:
  case CASK_PROD:
  case CASK_NANSUM: return isflt(t) ? t : CASK_I64;
  case CASK_MIN:
  case CASK_MAX:
  case CASK_NANMIN:
  case CASK_NANMAX: return t;
  case CASK_ANY:
  case CASK_ALL: return CASK_BOOL;
  case CASK_ARGMIN:
  case CASK_ARGMAX: return CASK_I64;
  default: return isflt(t) ? t : CASK_F64;
  }
}
static int wants_float(int op) { return op == CASK_MEAN || op == CASK_VAR || op == CASK_STD || op == CASK_NANMEAN; }

/* Shape (4, 5, 6): repeating values (ties for argmin/argmax), negative
 * ones; int64 values near +-2^59 (sums beyond 2^53 that must stay exact,
 * and wrap as NumPy's do); int32 values whose sums overflow int32 (NumPy
 * sums them in int64); with nan, NaNs here and there and one whole row
 * along the last axis (index (1, 2, :)). */
enum { RA = 4, RB = 5, RC = 6, RN = RA * RB * RC };
static void red_fill(void *d, cask_dtype t, int64_t n, int nan) {
  for (int64_t i = 0; i < n; i++) {
    int64_t b = (i * 37) % 23 - 11;
    switch (t) {
    case CASK_F64:
    case CASK_F32: setf(d, t, i, nan && (i % 17 == 5 || (i >= 42 && i < 48)) ? NAN : (double)b * 0.375); break;
    case CASK_I64: seti(d, t, i, b * 3 + (1LL << 58) * (i % 5 - 2)); break;
    case CASK_I32: seti(d, t, i, b * 30000000); break;
    case CASK_U8: seti(d, t, i, ((i * 37) % 23) * 11); break;
    default: seti(d, t, i, ((i * 37) % 23) % 3 == 0); break;
    }
  }
}

/* NumPy's op over the m elements of x (dtype t) at input indices idx[] (in
 * C order of the reduced axes), into d[o] of dtype rt. Returns the
 * absolute tolerance (0: exact): float sums differ from a long double sum
 * by at most (m + 1) eps sum|x|, whatever their order. */
static double ref_reduce(int op, const void *x, cask_dtype t, const int64_t *idx, int64_t m, int ddof, void *d,
                         cask_dtype rt, int64_t o) {
  if (!isflt(t) && !wants_float(op)) {
    uint64_t acc = op == CASK_PROD ? 1 : 0;
    int64_t best = 0, at = -1;
    int any = 0, all = 1;
    for (int64_t k = 0; k < m; k++) {
      int64_t v = geti(x, t, idx[k]);
      if (op == CASK_PROD) acc *= (uint64_t)v;
      else acc += (uint64_t)v;
      any |= v != 0;
      all &= v != 0;
      int lower = op == CASK_MIN || op == CASK_NANMIN || op == CASK_ARGMIN;
      if (at < 0 || (lower ? v < best : v > best)) best = v, at = k;
    }
    switch (op) {
    case CASK_SUM:
    case CASK_NANSUM:
    case CASK_PROD: seti(d, rt, o, (int64_t)acc); break;
    case CASK_ANY: seti(d, rt, o, any); break;
    case CASK_ALL: seti(d, rt, o, all); break;
    case CASK_ARGMIN:
    case CASK_ARGMAX: seti(d, rt, o, at); break;
    default: seti(d, rt, o, best);
    }
    return 0;
  }
  double eps = rt == CASK_F32 ? 0x1p-23 : 0x1p-52;
  long double sum = 0, asum = 0, sumsq = 0, prd = 1;
  int64_t cnt = 0, nan_at = -1, at = -1;
  double best = 0;
  int any = 0, all = 1;
  int lower = op == CASK_MIN || op == CASK_NANMIN || op == CASK_ARGMIN;
  for (int64_t k = 0; k < m; k++) {
    double v = getf(x, t, idx[k]);
    any |= truthy(v);
    all &= truthy(v);
    if (v != v) {
      if (nan_at < 0) nan_at = k;
      continue;
    }
    sum += v, asum += fabs(v), sumsq += (long double)v * v, prd *= v, cnt++;
    if (at < 0 || (lower ? v < best : v > best)) best = v, at = k;
  }
  int nan = nan_at >= 0;
  double want, tol = 0;
  switch (op) {
  case CASK_SUM: want = nan ? NAN : (double)sum, tol = (m + 1) * eps * (double)asum; break;
  case CASK_NANSUM: want = (double)sum, tol = (m + 1) * eps * (double)asum; break;
  case CASK_MEAN:
  case CASK_NANMEAN: {
    int64_t k = op == CASK_MEAN ? m : cnt;
    want = (op == CASK_MEAN && nan) || k == 0 ? NAN : (double)(sum / k);
    tol = (m + 1) * eps * (double)asum / (k ? k : 1);
    break;
  }
  case CASK_VAR:
  case CASK_STD: {
    long double mean = sum / m, ss = 0;
    for (int64_t k = 0; k < m; k++) {
      long double dv = getf(x, t, idx[k]) - mean;
      ss += dv * dv;
    }
    double var = (double)(ss / (m - ddof));
    tol = 4 * (m + 2) * eps * (double)(sumsq / (m - ddof));
    want = nan ? NAN : op == CASK_VAR ? var : sqrt(var);
    if (op == CASK_STD) tol = want > 0 ? tol / (2 * want) + eps * want : sqrt(tol);
    break;
  }
  case CASK_PROD: want = nan ? NAN : (double)prd, tol = (m + 1) * eps * fabs((double)prd); break;
  case CASK_MIN:
  case CASK_MAX: want = nan ? NAN : best; break;
  case CASK_NANMIN:
  case CASK_NANMAX: want = cnt ? best : NAN; break;
  case CASK_ANY: seti(d, rt, o, any); return 0;
  case CASK_ALL: seti(d, rt, o, all); return 0;
  default: seti(d, rt, o, nan ? nan_at : at); return 0; /* argmin, argmax: the first NaN wins */
  }
  setf(d, rt, o, want);
  return tol;
}

static void check_red(const void *got, const void *want, cask_dtype rt, int64_t o, double tol, const char *what) {
  if (!isflt(rt) || tol == 0) {
    check_elem(got, want, rt, o, 0, what);
    return;
  }
  double g = getf(got, rt, o), w = getf(want, rt, o);
  if ((g != g || w != w) ? !(g != g && w != w) : !(g == w || fabs(g - w) <= tol))
    mismatch("%s = %.17g, want %.17g (tolerance %.3g)", what, g, w, tol);
}

/* Reduce x (shape RA x RB x RC, C order) with op over the axes in mask and
 * compare every output element with ref_reduce. */
static void check_reduction(cask_array *x, const void *data, cask_dtype t, int op, const int *axes, int naxes,
                            int ddof, const char *label) {
  uint32_t mask = 0;
  for (int k = 0; k < naxes; k++) mask |= 1u << (axes[k] < 0 ? axes[k] + 3 : axes[k]);
  if (naxes == 0) mask = 7;
  const int64_t ext[3] = {RA, RB, RC};
  int64_t nout = 1, nred = 1;
  for (int a = 0; a < 3; a++) {
    if (mask & (1u << a)) nred *= ext[a];
    else nout *= ext[a];
  }
  cask_array *r = red((cask_reduction)op, x, axes, naxes, ddof);
  char what[120];
  cask_dtype rt = red_dtype(op, t);
  if (cask_array_dtype(r) != rt || cask_array_size(r) != nout || cask_array_ndim(r) != 3 - __builtin_popcount(mask)) {
    mismatch("%s(%s) over %s is %s of %lld elements in %d axes, want %s of %lld", red_names[op], dn(t), label,
             dn(cask_array_dtype(r)), (long long)cask_array_size(r), cask_array_ndim(r), dn(rt), (long long)nout);
    return;
  }
  void *got = fetch(r), *want = scratch((size_t)nout * 8);
  int64_t *idx = scratch((size_t)(nout * nred) * sizeof *idx), *fill = scratch((size_t)nout * sizeof *fill);
  for (int64_t f = 0; f < RN; f++) { /* C order: each output's elements come in reduced C order */
    int64_t mi[3] = {f / (RB * RC), f / RC % RB, f % RC}, o = 0;
    for (int a = 0; a < 3; a++)
      if (!(mask & (1u << a))) o = o * ext[a] + mi[a];
    idx[o * nred + fill[o]++] = f;
  }
  for (int64_t o = 0; o < nout; o++) {
    double tol = ref_reduce(op, data, t, idx + o * nred, nred, ddof, want, rt, o);
    snprintf(what, sizeof what, "%s(%s) over %s, ddof %d, at %lld", red_names[op], dn(t), label, ddof, (long long)o);
    check_red(got, want, rt, o, tol, what);
  }
}

static const struct {
  int n, axes[3];
  const char *label;
} AXSETS[] = {{0, {0}, "all"},       {1, {0}, "(0)"},      {1, {1}, "(1)"},    {1, {2}, "(2)"}, {1, {-1}, "(-1)"},
              {2, {0, 2}, "(0, 2)"}, {2, {1, 2}, "(1, 2)"}, {2, {0, 1}, "(0, 1)"}, {2, {2, 0}, "(2, 0)"},
              {3, {0, 1, 2}, "(0, 1, 2)"}};
enum { NAXSETS = sizeof AXSETS / sizeof AXSETS[0] };

START_TEST(every_reduction_over_every_dtype_and_axis_set_matches_loops) {
  cask_ctx *c = ctx_new(2, 0);
  reset_bad();
  for (int t = 0; t < NDT; t++)
    for (int nan = 0; nan <= isflt((cask_dtype)t); nan++) {
      void *data = scratch(RN * 8);
      red_fill(data, (cask_dtype)t, RN, nan);
      cask_array *x = arr(c, (cask_dtype)t, data, 3, (int64_t[]){RA, RB, RC}, (int64_t[]){3, 2, 4});
      for (int op = 0; op < CASK_REDUCTION_COUNT; op++)
        for (int s = 0; s < NAXSETS; s++) {
          int ddof = (op == CASK_VAR || op == CASK_STD) ? s % 2 : 0;
          check_reduction(x, data, (cask_dtype)t, op, AXSETS[s].axes, AXSETS[s].n, ddof, AXSETS[s].label);
        }
    }
  ASSERT_NO_MISMATCH("reductions");
  cleanup();
}
END_TEST

/* Hard-coded answers: the first index on ties (also across blocks), the
 * first NaN over any number, flat C-order indices within several reduced
 * axes, and the nan- variants over all-NaN slices (NumPy: nanmin and
 * nanmax NaN, nansum 0, nanmean NaN). */
START_TEST(argmin_argmax_ties_nan_and_multi_axis_indices) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t n5 = 5, ch2 = 2;
  static const double a[] = {3, 1, NAN, 1, NAN}, b[] = {5, 0, 7, 0, 7};
  cask_array *A = arr(c, CASK_F64, a, 1, &n5, &ch2), *B = arr(c, CASK_F64, b, 1, &n5, &ch2);
  int64_t v;
  expect_ok(cask_compute(red(CASK_ARGMIN, A, NULL, 0, 0), &v, 8), "argmin");
  ck_assert_msg(v == 2, "argmin([3, 1, nan, 1, nan]) = %lld, NumPy 2", (long long)v);
  expect_ok(cask_compute(red(CASK_ARGMAX, A, NULL, 0, 0), &v, 8), "argmax");
  ck_assert_msg(v == 2, "argmax([3, 1, nan, 1, nan]) = %lld, NumPy 2", (long long)v);
  expect_ok(cask_compute(red(CASK_ARGMIN, B, NULL, 0, 0), &v, 8), "argmin");
  ck_assert_msg(v == 1, "argmin([5, 0, 7, 0, 7]) = %lld, NumPy 1", (long long)v);
  expect_ok(cask_compute(red(CASK_ARGMAX, B, NULL, 0, 0), &v, 8), "argmax");
  ck_assert_msg(v == 2, "argmax([5, 0, 7, 0, 7]) = %lld, NumPy 2", (long long)v);
  /* the same in every other dtype (NaN aside) */
  for (int t = 1; t < NDT; t++) {
    expect_ok(cask_compute(red(CASK_ARGMIN, cast(B, (cask_dtype)t), NULL, 0, 0), &v, 8), "argmin");
    ck_assert_msg(v == 1, "%s argmin([5, 0, 7, 0, 7]) = %lld", dn(t), (long long)v);
    expect_ok(cask_compute(red(CASK_ARGMAX, cast(B, (cask_dtype)t), NULL, 0, 0), &v, 8), "argmax");
    ck_assert_msg(v == (t == CASK_BOOL ? 0 : 2), "%s argmax([5, 0, 7, 0, 7]) = %lld", dn(t), (long long)v);
  }
  /* shape (2, 3, 4): x[i, j, k] = (i * 12 + j * 4 + k) % 7; over axes
   * (0, 2) the index of (i, k) is i * 4 + k. For j = 0: values
   * [0 1 2 3] and [5 6 0 1] -> argmin 0 (first of the two zeros), argmax 5;
   * j = 1: [4 5 6 0] [2 3 4 5] -> argmin 3, argmax 2; j = 2: [1 2 3 4]
   * [6 0 1 2] -> argmin 5, argmax 4. */
  int64_t sh[3] = {2, 3, 4}, chs[3] = {1, 2, 3};
  int64_t x[24];
  for (int i = 0; i < 24; i++) x[i] = i % 7;
  cask_array *X = arr(c, CASK_I64, x, 3, sh, chs);
  int64_t got[3];
  expect_ok(cask_compute(red(CASK_ARGMIN, X, (int[]){0, 2}, 2, 0), got, sizeof got), "argmin");
  ck_assert_msg(got[0] == 0 && got[1] == 3 && got[2] == 5, "argmin over (0, 2): %lld %lld %lld, want 0 3 5",
                (long long)got[0], (long long)got[1], (long long)got[2]);
  expect_ok(cask_compute(red(CASK_ARGMAX, cast(X, CASK_F32), (int[]){2, 0}, 2, 0), got, sizeof got), "argmax");
  ck_assert_msg(got[0] == 5 && got[1] == 2 && got[2] == 4, "argmax over (2, 0): %lld %lld %lld, want 5 2 4",
                (long long)got[0], (long long)got[1], (long long)got[2]);
  /* all-NaN rows */
  static const double nn[] = {NAN, NAN, NAN, 1, NAN, -2};
  int64_t s23[2] = {2, 3};
  cask_array *N = arr(c, CASK_F64, nn, 2, s23, (int64_t[]){1, 2});
  double r[2];
  expect_ok(cask_compute(red(CASK_NANMIN, N, (int[]){1}, 1, 0), r, sizeof r), "nanmin");
  ck_assert_msg(isnan(r[0]) && r[1] == -2, "nanmin rows: %g %g, want nan -2", r[0], r[1]);
  expect_ok(cask_compute(red(CASK_NANMAX, N, (int[]){1}, 1, 0), r, sizeof r), "nanmax");
  ck_assert_msg(isnan(r[0]) && r[1] == 1, "nanmax rows: %g %g, want nan 1", r[0], r[1]);
  expect_ok(cask_compute(red(CASK_NANSUM, N, (int[]){1}, 1, 0), r, sizeof r), "nansum");
  ck_assert_msg(r[0] == 0 && r[1] == -1, "nansum rows: %g %g, want 0 -1", r[0], r[1]);
  expect_ok(cask_compute(red(CASK_NANMEAN, N, (int[]){1}, 1, 0), r, sizeof r), "nanmean");
  ck_assert_msg(isnan(r[0]) && r[1] == -0.5, "nanmean rows: %g %g, want nan -0.5", r[0], r[1]);
  float rf[2];
  expect_ok(cask_compute(red(CASK_NANMIN, cast(N, CASK_F32), (int[]){1}, 1, 0), rf, sizeof rf), "nanmin");
  ck_assert_msg(isnan(rf[0]) && rf[1] == -2, "float32 nanmin rows: %g %g, want nan -2", rf[0], rf[1]);
  cleanup();
}
END_TEST

/* Reductions of integers over empty axes give NumPy's identities; those
 * without one are refused. */
START_TEST(integer_reductions_over_empty_axes) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t sh[2] = {0, 3};
  for (int t = 2; t < NDT; t++) {
    cask_array *z = NULL;
    KEEP(cask_zeros(c, (cask_dtype)t, 2, sh, NULL, &z), z, "zeros");
    int64_t s[3];
    expect_ok(cask_compute(red(CASK_SUM, z, (int[]){0}, 1, 0), s, sizeof s), "sum");
    ck_assert_msg(s[0] == 0 && s[2] == 0, "%s sum of empty: %lld", dn(t), (long long)s[0]);
    expect_ok(cask_compute(red(CASK_PROD, z, (int[]){0}, 1, 0), s, sizeof s), "prod");
    ck_assert_msg(s[0] == 1 && s[2] == 1, "%s prod of empty: %lld", dn(t), (long long)s[0]);
    uint8_t b[3];
    expect_ok(cask_compute(red(CASK_ANY, z, (int[]){0}, 1, 0), b, sizeof b), "any");
    ck_assert_msg(b[0] == 0, "%s any of empty: %u", dn(t), b[0]);
    expect_ok(cask_compute(red(CASK_ALL, z, (int[]){0}, 1, 0), b, sizeof b), "all");
    ck_assert_msg(b[0] == 1, "%s all of empty: %u", dn(t), b[0]);
    double m[3];
    expect_ok(cask_compute(red(CASK_MEAN, z, (int[]){0}, 1, 0), m, sizeof m), "mean");
    ck_assert_msg(isnan(m[0]), "%s mean of empty: %g", dn(t), m[0]);
    for (int op = 0; op < CASK_REDUCTION_COUNT; op++) {
      if (op != CASK_MIN && op != CASK_MAX && op != CASK_ARGMIN && op != CASK_ARGMAX && op != CASK_NANMIN && op != CASK_NANMAX)
        continue;
      cask_array *r = NULL;
      ck_assert_msg(cask_reduce((cask_reduction)op, z, (int[]){0}, 1, 0, &r) == CASK_EINVAL && !r,
                    "%s of an empty %s axis was not refused", red_names[op], dn(t));
    }
  }
  cleanup();
}
END_TEST

/* Shape (40, 50) in 6 x 6 blocks of random values: every reduction of every
 * dtype gives the same bits on 1, 2 and 8 threads; the exact ones (all but
 * float sums, means, variances and products) also with split_every 2. */
START_TEST(reductions_are_bit_identical_across_threads_and_exact_ones_across_split_every) {
  enum { R = 40, C = 50 };
  cask_ctx *ctx[4] = {ctx_new(1, 0), ctx_new(2, 0), ctx_new(8, 0), ctx_new(2, 2)};
  void *data[NDT];
  for (int t = 0; t < NDT; t++) {
    data[t] = scratch(R * C * 8);
    for (int64_t i = 0; i < R * C; i++) {
      if (isflt((cask_dtype)t)) setf(data[t], (cask_dtype)t, i, i % 97 == 13 ? NAN : rnd_float(10, 10));
      else seti(data[t], (cask_dtype)t, i, (int64_t)rnd() >> (t == CASK_I64 ? 4 : 0));
    }
  }
  static const int ax0[1] = {0}, ax1[1] = {-1};
  const int *axes[3] = {NULL, ax0, ax1};
  reset_bad();
  for (int t = 0; t < NDT; t++) {
    cask_array *x[4];
    for (int k = 0; k < 4; k++) x[k] = arr(ctx[k], (cask_dtype)t, data[t], 2, (int64_t[]){R, C}, (int64_t[]){7, 9});
    for (int op = 0; op < CASK_REDUCTION_COUNT; op++)
      for (int a = 0; a < 3; a++) {
        void *out[4];
        size_t nbytes = 0;
        for (int k = 0; k < 4; k++) {
          cask_array *r = red((cask_reduction)op, x[k], axes[a], a ? 1 : 0, 0);
          nbytes = (size_t)cask_array_size(r) * dsz(cask_array_dtype(r));
          out[k] = fetch(r);
        }
        int exact = !(isflt((cask_dtype)t) || wants_float(op)) || op == CASK_MIN || op == CASK_MAX ||
                    op == CASK_NANMIN || op == CASK_NANMAX || op == CASK_ARGMIN || op == CASK_ARGMAX ||
                    op == CASK_ANY || op == CASK_ALL;
        for (int k = 1; k < (exact ? 4 : 3); k++)
          if (memcmp(out[0], out[k], nbytes))
            mismatch("%s(%s) over axes %d differs between %s", red_names[op], dn(t), a,
                     k == 1 ? "1 and 2 threads" : k == 2 ? "1 and 8 threads" : "split_every 8 and 2");
      }
  }
  ASSERT_NO_MISMATCH("reproducibility");
  cleanup();
}
END_TEST

/* ======================================================================
 * Creation
 * ====================================================================== */

START_TEST(empty_has_its_shape_dtype_and_chunks_and_computes) {
  cask_ctx *c = ctx_new(2, 0);
  for (int t = 0; t < NDT; t++) {
    int64_t sh[3] = {3, 0, 4}, sh2[2] = {5, 7}, ch2[2] = {2, 3};
    cask_array *e = NULL;
    KEEP(cask_empty(c, (cask_dtype)t, 3, sh, NULL, &e), e, "empty");
    ck_assert_int_eq(cask_array_dtype(e), t);
    ck_assert_int_eq(cask_array_ndim(e), 3);
    ck_assert_int_eq(cask_array_size(e), 0);
    expect_ok(cask_compute(e, NULL, 0), "compute empty of size 0");
    KEEP(cask_empty(c, (cask_dtype)t, 2, sh2, ch2, &e), e, "empty");
    ck_assert(cask_array_shape(e)[0] == 5 && cask_array_shape(e)[1] == 7);
    ck_assert(cask_array_chunks(e)[0] == 2 && cask_array_chunks(e)[1] == 3);
    fetch(e); /* any values; ASan and the size check catch the rest */
    /* an empty array as an operand computes (values unspecified) */
    fetch(bin(CASK_MUL, e, e));
  }
  cask_array *e = NULL;
  ck_assert_int_eq(cask_empty(c, CASK_DTYPE_COUNT, 0, NULL, NULL, &e), CASK_EINVAL);
  ck_assert_int_eq(cask_empty(c, CASK_F64, 1, (int64_t[]){-1}, NULL, &e), CASK_EINVAL);
  ck_assert_ptr_null(e);
  cleanup();
}
END_TEST

/* NumPy's linspace: step = (stop - start) / div (div = num - 1 with the
 * endpoint, num without), y[i] = i * step + start, the last value stop
 * itself with the endpoint; for integer dtypes (not bool) floored (NumPy
 * 1.20 on: "values are rounded towards -inf instead of 0 when an integer
 * dtype is specified"), then astype. */
START_TEST(linspace_is_numpys_formula_in_every_dtype) {
  cask_ctx *c = ctx_new(2, 0);
  static const struct {
    double start, stop;
    int64_t num;
    int endpoint;
  } cases[] = {{0, 1, 11, 1}, {-3.5, 7.25, 50, 0}, {5, -5, 7, 1}, {1, 1, 5, 1}, {2, 3, 1, 1}, {2, 3, 1, 0},
               {2, 3, 0, 1}, {0, 255, 256, 1}, {0.1, 0.7, 13, 1}, {-1e10, 1e10, 33, 0}, {1, 2, 2, 1}};
  reset_bad();
  for (int t = 0; t < NDT; t++)
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      double a = cases[k].start, b = cases[k].stop;
      int64_t num = cases[k].num;
      int ep = cases[k].endpoint;
      cask_array *l = NULL;
      KEEP(cask_linspace(c, (cask_dtype)t, a, b, num, ep, 4, &l), l, "linspace");
      ck_assert_int_eq(cask_array_size(l), num);
      ck_assert_int_eq(cask_array_dtype(l), t);
      void *got = fetch(l), *want = scratch((size_t)(num ? num : 1) * 8);
      int64_t div = ep ? num - 1 : num;
      double step = (b - a) / (double)div;
      for (int64_t i = 0; i < num; i++) {
        volatile double y = div > 0 ? (double)i * step : (double)i * (b - a);
        double v = y + a;
        if (ep && num > 1 && i == num - 1) v = b;
        if (!isflt((cask_dtype)t) && t != CASK_BOOL) v = floor(v);
        ref_cast(want, (cask_dtype)t, i, &v, CASK_F64, 0);
        char what[100];
        snprintf(what, sizeof what, "linspace(%s, %g, %g, %lld, endpoint=%d)[%lld]", dn(t), a, b, (long long)num, ep, (long long)i);
        check_elem(got, want, (cask_dtype)t, i, 0, what);
      }
    }
  ASSERT_NO_MISMATCH("linspace");
  cask_array *l = NULL;
  ck_assert_int_eq(cask_linspace(c, CASK_F64, 0, 1, -1, 1, 0, &l), CASK_EINVAL);
  cleanup();
}
END_TEST

START_TEST(eye_has_ones_on_diagonal_k_in_every_dtype) {
  cask_ctx *c = ctx_new(2, 0);
  static const int64_t cases[][4] = {{5, 5, 0, 2}, {4, 7, 2, 3}, {7, 4, -3, 2}, {3, 3, 3, 1}, {3, 3, -5, 0},
                                     {6, 9, -1, 4}, {1, 1, 0, 1}, {0, 3, 0, 1}};
  reset_bad();
  for (int t = 0; t < NDT; t++)
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      int64_t n = cases[k][0], m = cases[k][1], d = cases[k][2], ch = cases[k][3];
      cask_array *e = NULL;
      KEEP(cask_eye(c, (cask_dtype)t, n, m, d, ch, &e), e, "eye");
      ck_assert_int_eq(cask_array_dtype(e), t);
      ck_assert(cask_array_ndim(e) == 2 && cask_array_shape(e)[0] == n && cask_array_shape(e)[1] == m);
      void *got = fetch(e);
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
          double g = getf(got, (cask_dtype)t, i * m + j), w = j - i == d;
          if (g != w) mismatch("eye(%s, %lld, %lld, k=%lld)[%lld, %lld] = %g", dn(t), (long long)n, (long long)m, (long long)d, (long long)i, (long long)j, g);
        }
    }
  ASSERT_NO_MISMATCH("eye");
  cleanup();
}
END_TEST

/* array.h: element i is start + i * step converted to dtype; integer
 * dtypes with integral start and step are exact beyond 2^53. */
START_TEST(arange_of_integer_dtypes_is_exact_beyond_2_to_53) {
  cask_ctx *c = ctx_new(2, 0);
  cask_array *a = NULL;
  double base = 1152921504606846976.0; /* 2^60 */
  /* stop as a double: 2^60 + 3072 (2^60 + 3000 would round to it) */
  KEEP(cask_arange(c, CASK_I64, base, base + 3072, 3, 7, &a), a, "arange");
  ck_assert_int_eq(cask_array_size(a), 1024);
  const int64_t *v = fetch(a);
  reset_bad();
  for (int64_t i = 0; i < 1024; i++)
    if (v[i] != (1LL << 60) + 3 * i) mismatch("arange(2^60, ., 3)[%lld] = %lld", (long long)i, (long long)v[i]);
  KEEP(cask_arange(c, CASK_I64, -base, -base - 768, -3, 40, &a), a, "arange");
  ck_assert_int_eq(cask_array_size(a), 256);
  v = fetch(a);
  for (int64_t i = 0; i < 256; i++)
    if (v[i] != -(1LL << 60) - 3 * i) mismatch("arange(-2^60, ., -3)[%lld] = %lld", (long long)i, (long long)v[i]);
  /* small integer dtypes, bool, float32 */
  KEEP(cask_arange(c, CASK_I32, -5, 5, 1, 3, &a), a, "arange");
  const int32_t *v32 = fetch(a);
  for (int i = 0; i < 10; i++)
    if (v32[i] != i - 5) mismatch("int32 arange(-5, 5)[%d] = %d", i, v32[i]);
  KEEP(cask_arange(c, CASK_U8, 0, 20, 2, 3, &a), a, "arange");
  const uint8_t *v8 = fetch(a);
  for (int i = 0; i < 10; i++)
    if (v8[i] != 2 * i) mismatch("uint8 arange(0, 20, 2)[%d] = %u", i, v8[i]);
  KEEP(cask_arange(c, CASK_BOOL, 0, 2, 1, 1, &a), a, "arange");
  const uint8_t *vb = fetch(a);
  if (cask_array_size(a) != 2 || vb[0] != 0 || vb[1] != 1) mismatch("bool arange(0, 2)");
  KEEP(cask_arange(c, CASK_F32, 0, 1, 0.1, 4, &a), a, "arange");
  ck_assert_int_eq(cask_array_size(a), 10);
  const float *vf = fetch(a);
  for (int i = 0; i < 10; i++)
    if (vf[i] != (float)(0 + i * 0.1)) mismatch("float32 arange(0, 1, 0.1)[%d] = %.9g", i, vf[i]);
  /* a non-integral start with an integer dtype: NumPy converts the first
   * two values and steps by their difference */
  KEEP(cask_arange(c, CASK_I64, 0.5, 5, 1.5, 2, &a), a, "arange");
  ck_assert_int_eq(cask_array_size(a), 3);
  v = fetch(a);
  for (int i = 0; i < 3; i++)
    if (v[i] != 2 * i) mismatch("int64 arange(0.5, 5, 1.5)[%d] = %lld (NumPy: 0, 2, 4)", i, (long long)v[i]);
  ASSERT_NO_MISMATCH("arange");
  cleanup();
}
END_TEST

/* ======================================================================
 * Longer programs: chains cut into several kernels (intermediates stored
 * in their own narrow dtypes), reductions of broadcast mixed-dtype
 * expressions over rows longer than a kernel piece, 0-d arrays.
 * ====================================================================== */

START_TEST(long_chains_of_narrow_dtypes_cut_into_kernels_match_the_loop) {
  cask_ctx *c = ctx_new(2, 0);
  enum { N = 3000, STEPS = 45 }; /* 90 operations: more than one kernel */
  static uint8_t u[N];
  static int32_t v[N];
  static float f[N];
  for (int i = 0; i < N; i++) {
    u[i] = (uint8_t)(i * 7);
    v[i] = (int32_t)((uint32_t)i * 2654435761u);
    f[i] = rnd_float(4, 4);
  }
  int64_t n = N, ch = 1300;
  cask_array *cu = arr(c, CASK_U8, u, 1, &n, &ch), *cv = arr(c, CASK_I32, v, 1, &n, &ch);
  cask_array *cf = arr(c, CASK_F32, f, 1, &n, &ch), *cb = bsc(CASK_GREATER, cu, 100, CASK_SCALAR_INT);
  for (int s = 0; s < STEPS; s++) {
    cu = bsc(CASK_ADD, bsc(CASK_MUL, cu, 3, CASK_SCALAR_INT), 7, CASK_SCALAR_INT);
    cv = bin(CASK_SUB, bsc(CASK_MUL, cv, 31, CASK_SCALAR_INT), cv);
    cf = bsc(CASK_SUB, bsc(CASK_MUL, cf, 1.1, 0), 0.5, 0);
    cb = bin(CASK_LOGICAL_OR, bin(CASK_LOGICAL_AND, cb, bsc(CASK_LESS, cu, 128, CASK_SCALAR_INT)), bsc(CASK_EQUAL, cu, 7, CASK_SCALAR_INT));
  }
  const uint8_t *gu = fetch(cu), *gb = fetch(cb);
  const int32_t *gv = fetch(cv);
  const float *gf = fetch(cf);
  int64_t su, sv;
  expect_ok(cask_compute(red(CASK_SUM, cu, NULL, 0, 0), &su, 8), "sum");
  expect_ok(cask_compute(red(CASK_SUM, cv, NULL, 0, 0), &sv, 8), "sum");
  reset_bad();
  int64_t wsu = 0, wsv = 0;
  for (int i = 0; i < N; i++) {
    uint8_t x = u[i], b = u[i] > 100;
    int32_t y = v[i];
    float z = f[i];
    for (int s = 0; s < STEPS; s++) {
      x = (uint8_t)(x * 3 + 7);
      y = (int32_t)((uint32_t)y * 31u - (uint32_t)y);
      volatile float t = z * 1.1f;
      z = t - 0.5f;
      b = (b && x < 128) || x == 7;
    }
    wsu += x, wsv += y;
    if (gu[i] != x) mismatch("uint8 chain at %d: %u, want %u", i, gu[i], x);
    if (gv[i] != y) mismatch("int32 chain at %d: %d, want %d", i, gv[i], y);
    if (memcmp(&gf[i], &z, 4)) mismatch("float32 chain at %d: %a, want %a", i, gf[i], z);
    if (gb[i] != b) mismatch("bool chain at %d: %u, want %u", i, gb[i], b);
  }
  if (su != wsu) mismatch("sum of the uint8 chain: %lld, want %lld", (long long)su, (long long)wsu);
  if (sv != wsv) mismatch("sum of the int32 chain: %lld, want %lld", (long long)sv, (long long)wsv);
  ASSERT_NO_MISMATCH("long chains");
  cleanup();
}
END_TEST

/* int32 (7, 1) * uint8 (3000,) + 1 and float32 (7, 1) * float64 (3000,)
 * with a NaN at column 2000 of row 3: reductions over each axis and both,
 * in blocks whose rows are longer than a kernel piece (1024). */
START_TEST(reductions_of_broadcast_mixed_dtype_expressions_over_long_rows) {
  cask_ctx *c = ctx_new(2, 0);
  enum { R = 7, C = 3000 };
  static int32_t a[R];
  static uint8_t b[C];
  static float fa[R];
  static double fb[C];
  for (int i = 0; i < R; i++) a[i] = (int32_t)((int64_t)i * 400000000 - 1200000000), fa[i] = (float)(i - 3) * 0.75f;
  for (int j = 0; j < C; j++) b[j] = (uint8_t)((j * 37) % 251), fb[j] = (j * 37) % 101 - 50.0;
  b[2500] = 255, fb[2600] = -1000;
  fb[2000] = NAN;
  cask_array *A = arr(c, CASK_I32, a, 2, (int64_t[]){R, 1}, (int64_t[]){3, 1});
  cask_array *B = arr(c, CASK_U8, b, 1, (int64_t[]){C}, (int64_t[]){2200});
  cask_array *FA = arr(c, CASK_F32, fa, 2, (int64_t[]){R, 1}, (int64_t[]){3, 1});
  cask_array *FB = arr(c, CASK_F64, fb, 1, (int64_t[]){C}, (int64_t[]){2200});
  cask_array *ei = bsc(CASK_ADD, bin(CASK_MUL, A, B), 1, CASK_SCALAR_INT); /* int32, wrapping */
  cask_array *ef = bin(CASK_MUL, FA, FB);                                  /* float64 */
  /* the same values as plain buffers, reduced by check_reduction's loops
   * would need shape (4, 5, 6): reduce here by hand instead */
  int32_t *vi = scratch(R * C * 4);
  double *vf = scratch(R * C * 8);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++) {
      vi[i * C + j] = (int32_t)((uint32_t)a[i] * (uint32_t)b[j] + 1u);
      vf[i * C + j] = (double)fa[i] * fb[j];
    }
  static const int ops[] = {CASK_SUM, CASK_MIN, CASK_MAX, CASK_ARGMIN, CASK_ARGMAX, CASK_ANY, CASK_ALL,
                            CASK_MEAN, CASK_NANMAX, CASK_NANMIN, CASK_NANSUM, CASK_PROD};
  reset_bad();
  for (int e = 0; e < 2; e++) {
    cask_array *x = e ? ef : ei;
    cask_dtype t = e ? CASK_F64 : CASK_I32;
    const void *vals_ = e ? (const void *)vf : (const void *)vi;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
      for (int ax = -1; ax < 2; ax++) { /* -1: both */
        int op = ops[k];
        cask_array *r = red((cask_reduction)op, x, ax < 0 ? NULL : &ax, ax < 0 ? 0 : 1, 0);
        cask_dtype rt = red_dtype(op, t);
        if (cask_array_dtype(r) != rt) {
          mismatch("%s of %s is %s", red_names[op], dn(t), dn(cask_array_dtype(r)));
          continue;
        }
        int64_t nout = ax < 0 ? 1 : ax == 0 ? C : R, nred = ax < 0 ? R * C : ax == 0 ? R : C;
        void *got = fetch(r), *want = scratch((size_t)nout * 8);
        int64_t *idx = scratch((size_t)nred * 8);
        for (int64_t o = 0; o < nout; o++) {
          for (int64_t q = 0; q < nred; q++) idx[q] = ax < 0 ? q : ax == 0 ? q * C + o : o * C + q;
          double tol = ref_reduce(op, vals_, t, idx, nred, 0, want, rt, o);
          char what[100];
          snprintf(what, sizeof what, "%s(%s expression) over axis %d at %lld", red_names[op], dn(t), ax, (long long)o);
          check_red(got, want, rt, o, tol, what);
        }
      }
  }
  ASSERT_NO_MISMATCH("reductions of expressions");
  cleanup();
}
END_TEST

/* 0-d arrays of every dtype: elementwise with 1-d ones, and reduced. */
START_TEST(zero_d_arrays_of_every_dtype) {
  cask_ctx *c = ctx_new(1, 0);
  reset_bad();
  for (int t = 0; t < NDT; t++) {
    cask_array *s = NULL;
    KEEP(cask_full(c, (cask_dtype)t, 3, 0, NULL, NULL, &s), s, "full");
    ck_assert_int_eq(cask_array_ndim(s), 0);
    ck_assert_int_eq(cask_array_size(s), 1);
    int64_t n = 4;
    cask_array *v = NULL;
    KEEP(cask_ones(c, CASK_U8, 1, &n, NULL, &v), v, "ones");
    cask_array *sum = bin(CASK_ADD, s, v);
    ck_assert_int_eq(cask_array_ndim(sum), 1);
    const void *g = fetch(sum);
    double w = (t == CASK_BOOL ? 1 : 3) + 1; /* bool + uint8 is uint8 */
    for (int i = 0; i < 4; i++)
      if (getf(g, cask_array_dtype(sum), i) != w) mismatch("%s 0-d + uint8 ones: %g", dn(t), getf(g, cask_array_dtype(sum), i));
    for (int op = 0; op < CASK_REDUCTION_COUNT; op++) {
      cask_array *r = red((cask_reduction)op, s, NULL, 0, 0);
      double got;
      expect_ok(cask_compute_scalar(r, &got), "compute_scalar");
      double one = t == CASK_BOOL ? 1 : 3;
      double want = op == CASK_ARGMIN || op == CASK_ARGMAX || op == CASK_VAR || op == CASK_STD ? 0
                    : op == CASK_ANY || op == CASK_ALL ? 1 : one;
      if (got != want) mismatch("%s of a 0-d %s: %g, want %g", red_names[op], dn(t), got, want);
      if (cask_array_dtype(r) != red_dtype(op, (cask_dtype)t)) mismatch("%s of a 0-d %s is %s", red_names[op], dn(t), dn(cask_array_dtype(r)));
    }
  }
  ASSERT_NO_MISMATCH("0-d arrays");
  cleanup();
}
END_TEST

/* cask_eval over typed arrays: integer literals are weak integer scalars,
 * other numbers weak floats, True/False weak bools (NumPy: bool + True is
 * bool), and the nodes are those of the calls. */
START_TEST(eval_of_typed_arrays_follows_the_same_rules_as_the_calls) {
  cask_ctx *c = ctx_new(2, 0);
  enum { N = 300 };
  static uint8_t u[N], w[N], bb[N];
  static float f[N];
  for (int i = 0; i < N; i++) u[i] = (uint8_t)(i * 7), w[i] = (uint8_t)(i * 13 + 100), bb[i] = i % 3 == 0, f[i] = rnd_float(6, 6);
  int64_t n = N, ch = 128;
  cask_array *vals4[4] = {arr(c, CASK_U8, u, 1, &n, &ch), arr(c, CASK_U8, w, 1, &n, &ch), arr(c, CASK_BOOL, bb, 1, &n, &ch),
                          arr(c, CASK_F32, f, 1, &n, &ch)};
  static const char *const names[4] = {"a", "b", "p", "x"};
  cask_array *A = vals4[0], *B = vals4[1], *P = vals4[2], *X = vals4[3];
  struct {
    const char *expr;
    cask_array *same; /* the same through the calls */
  } cases[] = {
      {"(a + b) > 200", bsc(CASK_GREATER, bin(CASK_ADD, A, B), 200, CASK_SCALAR_INT)},
      {"a + 1", bsc(CASK_ADD, A, 1, CASK_SCALAR_INT)},
      {"a * 2.5", bsc(CASK_MUL, A, 2.5, 0)},
      {"x + 0.1", bsc(CASK_ADD, X, 0.1, 0)},
      {"a // 3 + b % 7", bin(CASK_ADD, bsc(CASK_FLOOR_DIVIDE, A, 3, CASK_SCALAR_INT), bsc(CASK_MOD, B, 7, CASK_SCALAR_INT))},
      {"7 - a", bsc(CASK_SUB, A, 7, CASK_SCALAR_INT | CASK_SCALAR_FIRST)},
      {"a / 2", bsc(CASK_DIV, A, 2, CASK_SCALAR_INT)},
      {"~(a > 3) | p", bin(CASK_LOGICAL_OR, un(CASK_LOGICAL_NOT, bsc(CASK_GREATER, A, 3, CASK_SCALAR_INT)), P)},
      {"p + True", bin(CASK_ADD, P, P)}, /* bool + True: bool (p | True is all True) */
      {"a + True", bsc(CASK_ADD, A, 1, CASK_SCALAR_INT)},
      {"-x ** 2", un(CASK_NEGATIVE, bsc(CASK_POW, X, 2, CASK_SCALAR_INT))},
  };
  reset_bad();
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    cask_array *e = NULL;
    int rc = cask_eval(c, cases[k].expr, names, vals4, 4, &e);
    if (rc != CASK_OK) {
      mismatch("'%s': %s", cases[k].expr, cask_ctx_errmsg(c));
      continue;
    }
    kept(rc, e, cases[k].expr);
    cask_dtype want_t = cask_array_dtype(cases[k].same);
    if (cask_array_dtype(e) != want_t) {
      mismatch("'%s' is %s, want %s", cases[k].expr, dn(cask_array_dtype(e)), dn(want_t));
      continue;
    }
    const void *g = fetch(e), *wv = fetch(cases[k].same);
    if (!strcmp(cases[k].expr, "p + True")) { /* bool | True */
      for (int i = 0; i < N; i++) ((uint8_t *)wv)[i] = 1;
    }
    if (memcmp(g, wv, (size_t)N * dsz(want_t))) mismatch("'%s' differs from the calls", cases[k].expr);
  }
  ASSERT_NO_MISMATCH("eval");
  cleanup();
}
END_TEST

/* Sources (arange, linspace, eye, full, random) of every dtype feeding an
 * elementwise expression, where they are generated inside the kernel:
 * the same values as computed alone, also broadcast (a 1-d arange along
 * the rows of a 2-d eye). */
START_TEST(sources_of_every_dtype_inside_expressions_match_them_alone) {
  cask_ctx *c = ctx_new(2, 0);
  reset_bad();
  for (int t = 0; t < NDT; t++) {
    cask_array *src[5] = {NULL, NULL, NULL, NULL, NULL};
    int64_t n = 300, ch = 64;
    KEEP(cask_arange(c, (cask_dtype)t, -5, 295, 1, 64, &src[0]), src[0], "arange");
    KEEP(cask_linspace(c, (cask_dtype)t, -3.5, 7.25, 300, 0, 64, &src[1]), src[1], "linspace");
    KEEP(cask_full(c, (cask_dtype)t, 2.5, 1, &n, &ch, &src[2]), src[2], "full");
    KEEP(cask_eye(c, (cask_dtype)t, 15, 20, 2, 4, &src[3]), src[3], "eye");
    if (isflt((cask_dtype)t)) KEEP(cask_random_uniform(c, 9, (cask_dtype)t, 1, &n, &ch, &src[4]), src[4], "random");
    static const char *const nm[5] = {"arange", "linspace", "full", "eye", "random_uniform"};
    for (int k = 0; k < 5 && src[k]; k++) {
      size_t nb = (size_t)cask_array_size(src[k]) * dsz((cask_dtype)t);
      const void *alone = fetch(src[k]), *fused = fetch(bin(CASK_MAXIMUM, src[k], src[k]));
      if (cask_array_dtype(src[k]) != (cask_dtype)t) mismatch("%s of %s is %s", nm[k], dn(t), dn(cask_array_dtype(src[k])));
      else if (memcmp(alone, fused, nb)) mismatch("maximum(%s, itself) of %s differs from it", nm[k], dn(t));
    }
    /* eye(15, 20, k=2) + arange(0, 20): the arange broadcast along rows */
    cask_array *row = NULL;
    KEEP(cask_arange(c, (cask_dtype)t, 0, 20, 1, 6, &row), row, "arange");
    cask_array *sum = bin(t == CASK_BOOL ? CASK_LOGICAL_OR : CASK_ADD, src[3], row);
    const void *g = fetch(sum);
    cask_dtype rt = cask_array_dtype(sum);
    for (int64_t i = 0; i < 15; i++)
      for (int64_t j = 0; j < 20; j++) {
        double want = t == CASK_BOOL ? (j - i == 2 || j != 0) : (j - i == 2) + (double)j;
        if (getf(g, rt, i * 20 + j) != want)
          mismatch("%s eye + arange at (%lld, %lld): %g, want %g", dn(t), (long long)i, (long long)j, getf(g, rt, i * 20 + j), want);
      }
  }
  ASSERT_NO_MISMATCH("sources in expressions");
  cleanup();
}
END_TEST

/* ======================================================================
 * NumPy interop (driven by tests/dtypes_numpy_check.py)
 *
 * CASK_DTYPES_DIR holds raw little-endian C-order inputs named
 * "<name>.<dtype>" (dtype as cask_dtype_name says): x and y (1-d, N
 * elements) and r (N elements taken as CASK_DTYPES_ROWS rows) in every
 * dtype. Each result goes to "out-<case>.<its dtype>", or
 * "out-<case>.refused" (holding the message) when cask refuses it; the
 * script knows the cases by the same names.
 * ====================================================================== */

static const char *np_dir;

static void *np_read(const char *name, cask_dtype t, int64_t *n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.%s", np_dir, name, dn(t));
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  ck_assert(fseek(f, 0, SEEK_END) == 0);
  long len = ftell(f);
  ck_assert_msg(len > 0 && len % (long)dsz(t) == 0, "%s: %ld bytes", path, len);
  rewind(f);
  void *d = scratch((size_t)len);
  ck_assert_msg(fread(d, 1, (size_t)len, f) == (size_t)len, "%s: short read", path);
  fclose(f);
  *n = len / (long)dsz(t);
  return d;
}

static void np_write(const char *name, const void *data, size_t nbytes, const char *suffix) {
  char path[1024];
  snprintf(path, sizeof path, "%s/out-%s.%s", np_dir, name, suffix);
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  ck_assert_msg(fwrite(data, 1, nbytes, f) == nbytes && fclose(f) == 0, "%s: write failed", path);
}

/* Compute the result of a call (rc, r) and save it, or save the refusal. */
static void np_save(cask_ctx *c, const char *name, int rc, cask_array *r) {
  if (rc != CASK_OK) {
    const char *msg = cask_ctx_errmsg(c);
    np_write(name, msg, strlen(msg), "refused");
    return;
  }
  kept(rc, r, name);
  void *d = fetch(r);
  np_write(name, d, (size_t)cask_array_size(r) * dsz(cask_array_dtype(r)), dn(cask_array_dtype(r)));
}

START_TEST(numpy_computes_the_same_as_cask) {
  np_dir = getenv("CASK_DTYPES_DIR");
  if (!np_dir || !*np_dir) return; /* run by tests/dtypes_numpy_check.py */
  const char *rows = getenv("CASK_DTYPES_ROWS");
  ck_assert_msg(rows && atoll(rows) > 0, "CASK_DTYPES_ROWS is not set");
  cask_ctx *c = ctx_new(2, 0);
  cask_array *x[NDT], *y[NDT], *rr[NDT];
  int64_t n = 0, ch = 37, rs[2] = {atoll(rows), 0}, rch[2] = {5, 4};
  for (int t = 0; t < NDT; t++) {
    int64_t m;
    void *dx = np_read("x", (cask_dtype)t, &n), *dy = np_read("y", (cask_dtype)t, &m);
    ck_assert(m == n);
    void *dr = np_read("r", (cask_dtype)t, &m);
    ck_assert(m % rs[0] == 0);
    rs[1] = m / rs[0];
    x[t] = arr(c, (cask_dtype)t, dx, 1, &n, &ch);
    y[t] = arr(c, (cask_dtype)t, dy, 1, &n, &ch);
    rr[t] = arr(c, (cask_dtype)t, dr, 2, rs, rch);
  }
  char name[128];
  cask_array *r;
  int rc;
  for (int op = 0; op < CASK_BINOP_COUNT; op++)
    for (int a = 0; a < NDT; a++)
      for (int b = 0; b < NDT; b++) {
        snprintf(name, sizeof name, "bin-%s-%s-%s", binop_names[op], dn(a), dn(b));
        r = NULL, rc = cask_binary((cask_binop)op, x[a], y[b], &r);
        np_save(c, name, rc, r);
      }
  static const double sc[5] = {3, 200, 0.1, -2.5, 1}; /* ints, floats, True */
  for (int op = 0; op < CASK_BINOP_COUNT; op++)
    for (int t = 0; t < NDT; t++)
      for (int k = 0; k < 5; k++)
        for (int first = 0; first < 2; first++) {
          snprintf(name, sizeof name, "sc-%s-%s-%d-%s", binop_names[op], dn(t), k, first ? "first" : "last");
          int flags = (k < 2 ? CASK_SCALAR_INT : k == 4 ? CASK_SCALAR_BOOL : 0) | (first ? CASK_SCALAR_FIRST : 0);
          r = NULL, rc = cask_binary_scalar((cask_binop)op, x[t], sc[k], flags, &r);
          np_save(c, name, rc, r);
        }
  for (int op = 0; op < CASK_UNOP_COUNT; op++)
    for (int t = 0; t < NDT; t++) {
      snprintf(name, sizeof name, "un-%s-%s", unop_names[op], dn(t));
      r = NULL, rc = cask_unary((cask_unop)op, x[t], &r);
      np_save(c, name, rc, r);
    }
  for (int op = 0; op < CASK_REDUCTION_COUNT; op++)
    for (int t = 0; t < NDT; t++)
      for (int a = 0; a < 3; a++) {
        snprintf(name, sizeof name, "red-%s-%s-%s", red_names[op], dn(t), a == 0 ? "all" : a == 1 ? "0" : "1");
        int axis = a - 1;
        r = NULL, rc = cask_reduce((cask_reduction)op, rr[t], a ? &axis : NULL, a ? 1 : 0, 0, &r);
        np_save(c, name, rc, r);
      }
  for (int s = 0; s < NDT; s++)
    for (int t = 0; t < NDT; t++) {
      snprintf(name, sizeof name, "cast-%s-%s", dn(s), dn(t));
      r = NULL, rc = cask_astype(x[s], (cask_dtype)t, &r);
      np_save(c, name, rc, r);
      snprintf(name, sizeof name, "where-%s-%s", dn(s), dn(t));
      r = NULL, rc = cask_where(x[CASK_BOOL], x[s], y[t], &r);
      np_save(c, name, rc, r);
    }
  for (int t = 0; t < NDT; t++) {
    snprintf(name, sizeof name, "clip-%s-int", dn(t));
    r = NULL, rc = cask_clip(x[t], 2, 100, &r);
    np_save(c, name, rc, r);
    snprintf(name, sizeof name, "clip-%s-float", dn(t));
    r = NULL, rc = cask_clip(x[t], -2.5, 7.5, &r);
    np_save(c, name, rc, r);
    static const double lin[3][4] = {{0, 1, 11, 1}, {-3.5, 7.25, 50, 0}, {0, 255, 256, 1}};
    for (int k = 0; k < 3; k++) {
      snprintf(name, sizeof name, "linspace-%s-%d", dn(t), k);
      r = NULL, rc = cask_linspace(c, (cask_dtype)t, lin[k][0], lin[k][1], (int64_t)lin[k][2], (int)lin[k][3], 7, &r);
      np_save(c, name, rc, r);
    }
    static const int64_t eye[2][3] = {{5, 7, 2}, {6, 4, -1}};
    for (int k = 0; k < 2; k++) {
      snprintf(name, sizeof name, "eye-%s-%d", dn(t), k);
      r = NULL, rc = cask_eye(c, (cask_dtype)t, eye[k][0], eye[k][1], eye[k][2], 3, &r);
      np_save(c, name, rc, r);
    }
    static const double fv[8] = {300.0, -1.0, 5e9 + 1, 2.5, -2.7, NAN, INFINITY, 0.1};
    for (int k = 0; k < 8; k++) {
      snprintf(name, sizeof name, "full-%s-%d", dn(t), k);
      r = NULL, rc = cask_full(c, (cask_dtype)t, fv[k], 1, (int64_t[]){3}, NULL, &r);
      np_save(c, name, rc, r);
    }
    if (t != CASK_BOOL) {
      snprintf(name, sizeof name, "arange-%s", dn(t));
      r = NULL;
      rc = t == CASK_U8 ? cask_arange(c, (cask_dtype)t, 0, 250, 3, 9, &r)
           : isflt((cask_dtype)t) ? cask_arange(c, (cask_dtype)t, -3, 20, 0.25, 9, &r)
                                  : cask_arange(c, (cask_dtype)t, -7, 300, 3, 9, &r);
      np_save(c, name, rc, r);
    }
  }
  cleanup();
}
END_TEST

Suite *array_dtypes_suite(void) {
  Suite *s = suite_create("array_dtypes");
  TCase *tc = tcase_create("binary");
  tcase_add_test(tc, cask_promote_matches_numpys_result_type_for_all_36_pairs);
  tcase_add_test(tc, every_binop_has_numpys_result_dtype_or_is_refused_for_every_pair);
  tcase_add_test(tc, every_binop_computes_numpys_values_for_every_pair);
  tcase_add_test(tc, floor_divide_and_mod_follow_numpys_sign_rules_and_zero_divisors);
  tcase_add_test(tc, narrow_integers_wrap_inside_fused_expressions);
  tcase_add_test(tc, int64_beyond_2_to_53_is_exact_everywhere);
  tcase_add_test(tc, float32_arithmetic_is_bit_identical_to_c_float);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("scalar");
  tcase_add_test(tc, scalars_are_weak_as_nep50_for_every_op_dtype_and_side);
  tcase_add_test(tc, bool_scalars_take_the_arrays_dtype_for_every_op_and_side);
  tcase_add_test(tc, float32_plus_a_float_scalar_uses_the_scalar_rounded_to_float32);
  tcase_add_test(tc, out_of_range_integer_scalars_compare_by_value_and_bad_scalars_are_refused);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("unary");
  tcase_add_test(tc, every_unop_has_numpys_result_dtype_over_every_dtype);
  tcase_add_test(tc, every_unop_computes_numpys_values_over_every_dtype);
  tcase_add_test(tc, round_is_half_to_even_in_float64_and_float32);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("where_clip_astype");
  tcase_add_test(tc, where_broadcasts_three_operands_of_mixed_dtypes);
  tcase_add_test(tc, clip_is_minimum_of_maximum_with_weak_scalar_bounds);
  tcase_add_test(tc, astype_between_every_pair_of_dtypes_is_numpys_unsafe_cast);
  tcase_add_test(tc, full_converts_its_value_to_every_dtype_as_astype);
  tcase_add_test(tc, fused_expressions_mixing_dtypes_match_the_loop);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("reduce");
  tcase_add_test(tc, every_reduction_over_every_dtype_and_axis_set_matches_loops);
  tcase_add_test(tc, argmin_argmax_ties_nan_and_multi_axis_indices);
  tcase_add_test(tc, integer_reductions_over_empty_axes);
  tcase_add_test(tc, reductions_are_bit_identical_across_threads_and_exact_ones_across_split_every);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);

  tc = tcase_create("create");
  tcase_add_test(tc, empty_has_its_shape_dtype_and_chunks_and_computes);
  tcase_add_test(tc, linspace_is_numpys_formula_in_every_dtype);
  tcase_add_test(tc, eye_has_ones_on_diagonal_k_in_every_dtype);
  tcase_add_test(tc, arange_of_integer_dtypes_is_exact_beyond_2_to_53);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("programs");
  tcase_add_test(tc, long_chains_of_narrow_dtypes_cut_into_kernels_match_the_loop);
  tcase_add_test(tc, reductions_of_broadcast_mixed_dtype_expressions_over_long_rows);
  tcase_add_test(tc, zero_d_arrays_of_every_dtype);
  tcase_add_test(tc, sources_of_every_dtype_inside_expressions_match_them_alone);
  tcase_add_test(tc, eval_of_typed_arrays_follows_the_same_rules_as_the_calls);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("numpy");
  tcase_add_test(tc, numpy_computes_the_same_as_cask);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return s;
}
