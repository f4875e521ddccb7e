/* gen.c - the values of a source (full, arange, linspace, eye, random)
 * at any flat indices: what a source block task and a kernel computing a
 * source in place both call.
 * The one thing to know: a value depends on its flat index in the source
 * alone, never on the block it lands in, so a result has the same bits
 * whatever the chunking or the fusion. */
#include <math.h>

#include "../core/dtype.h"
#include "gen.h"
#include "philox.h"

/* The parameters of a source (cask__source's, without its view). */
typedef struct gen {
  int op; /* cask__source_op */
  cask_dtype dtype;
  double a, b, c;
  int64_t count;
  uint64_t seed;
} gen;

/* n values of the source at flat indices first, first + stride, ... as
 * doubles (every op but BUFFER). */
static void gen_f64(const gen *s, int64_t first, int64_t stride, int64_t n, double *d) {
  switch (s->op) {
  case CASK__SRC_FULL:
    for (int64_t i = 0; i < n; i++) d[i] = s->a;
    break;
  case CASK__SRC_ARANGE:
    for (int64_t i = 0; i < n; i++) d[i] = s->a + (double)(first + i * stride) * s->b;
    break;
  case CASK__SRC_LINSPACE:
    for (int64_t i = 0; i < n; i++) {
      int64_t f = first + i * stride;
      d[i] = f == s->count - 1 ? s->c : s->a + (double)f * s->b;
    }
    break;
  case CASK__SRC_EYE: {
    int64_t m = (int64_t)s->b, k = (int64_t)s->a;
    for (int64_t i = 0; i < n; i++) {
      int64_t f = first + i * stride;
      d[i] = m > 0 && f % m - f / m == k;
    }
    break;
  }
  case CASK__SRC_UNIFORM: cask__philox_uniform(s->seed, (uint64_t)first, stride, n, d); break;
  case CASK__SRC_NORMAL: cask__philox_normal(s->seed, (uint64_t)first, stride, n, d); break;
  default: break;
  }
}

/* An integer arange is NumPy's: the first two values converted to the
 * dtype, then repeated steps of their difference, in int64 (exact beyond
 * 2^53, where doubles lose integers). For integral start and step that is
 * start + i * step; arange(0.5, 5, 1.5) as int64 is 0, 2, 4 as in NumPy. */
static int int_arange(const gen *s, int64_t *v0, int64_t *d) {
  if (s->op != CASK__SRC_ARANGE || s->dtype == CASK_F64 || s->dtype == CASK_F32 || s->dtype == CASK_BOOL) return 0;
  *v0 = cask__f64_to_i64(s->a);
  *d = (int64_t)((uint64_t)cask__f64_to_i64(s->a + s->b) - (uint64_t)*v0);
  if (s->a == floor(s->a) && s->b == floor(s->b) && fabs(s->a) < 9e18 && fabs(s->b) < 9e18)
    *d = (int64_t)s->b; /* exact even where start + step rounds */
  return 1;
}

/* One row of n elements (flat indices first + i * stride) into dst, in
 * the source's dtype, through a small double buffer when it is not float64. */
static void gen_row(const gen *s, int64_t first, int64_t stride, int64_t n, void *dst) {
  size_t w = cask_dtype_size(s->dtype);
  if (s->op == CASK__SRC_EMPTY) return;
  if (s->op == CASK__SRC_FULL) {
    cask__fill_f64(dst, s->dtype, s->a, n);
    return;
  }
  int64_t a, b;
  if (int_arange(s, &a, &b)) {
    int64_t v[256];
    for (int64_t o = 0; o < n; o += 256) {
      int64_t m = n - o < 256 ? n - o : 256;
      for (int64_t i = 0; i < m; i++) v[i] = (int64_t)((uint64_t)a + (uint64_t)(first + (o + i) * stride) * (uint64_t)b);
      cask__cast((char *)dst + o * (int64_t)w, s->dtype, v, CASK_I64, m);
    }
    return;
  }
  if (s->dtype == CASK_F64) {
    gen_f64(s, first, stride, n, dst);
    return;
  }
  double v[256];
  /* NumPy floors linspace's values for an integer dtype (not toward 0; bool is
   * not an integer dtype there). */
  int floor_it = s->op == CASK__SRC_LINSPACE && s->dtype != CASK_F32 && s->dtype != CASK_BOOL;
  for (int64_t o = 0; o < n; o += 256) {
    int64_t m = n - o < 256 ? n - o : 256;
    gen_f64(s, first + o * stride, stride, m, v);
    for (int64_t i = 0; floor_it && i < m; i++) v[i] = floor(v[i]);
    cask__cast((char *)dst + o * (int64_t)w, s->dtype, v, CASK_F64, m);
  }
}

void cask__source_fill(int op, cask_dtype dtype, double a, double b, double c, int64_t count,
                       uint64_t seed, int64_t first, int64_t stride, int64_t n, void *dst) {
  gen s;
  memset(&s, 0, sizeof s);
  s.op = op, s.dtype = dtype, s.a = a, s.b = b, s.c = c, s.count = count, s.seed = seed;
  gen_row(&s, first, stride, n, dst);
}

