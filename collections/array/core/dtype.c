/* dtype.c - NumPy's promotion table and value conversion between dtypes.
 * The one thing to know: conversions follow NumPy's astype (C casts), with
 * the cases C leaves undefined made defined: a float that an integer type
 * cannot hold (NaN, infinities, out of range) converts to INT64_MIN for
 * int64/int32 as x86's cvttsd2si does (uint8 converts through int32, so
 * gets 0 there), and integers narrow by wrapping. */
#include <math.h>

#include "array-int.h"
#include "dtype.h"

/* Kind rank: bool < unsigned/signed integers < floats. */
static int is_float(cask_dtype d) { return d == CASK_F64 || d == CASK_F32; }

cask_dtype cask_promote(cask_dtype a, cask_dtype b) {
  if ((unsigned)a >= CASK_DTYPE_COUNT || (unsigned)b >= CASK_DTYPE_COUNT) return CASK_DTYPE_COUNT;
  if (a == b) return a;
  if (a == CASK_BOOL) return b;
  if (b == CASK_BOOL) return a;
  if (is_float(a) && is_float(b)) return CASK_F64;
  if (is_float(a) || is_float(b)) {
    cask_dtype f = is_float(a) ? a : b, i = is_float(a) ? b : a;
    /* float32 holds uint8 exactly, not int32 or int64 (NumPy: f8). */
    return f == CASK_F64 || i == CASK_U8 ? f : CASK_F64;
  }
  /* Two integer types: u8 fits in i32 and i64; i32 | i64 -> i64. */
  if (a == CASK_I64 || b == CASK_I64) return CASK_I64;
  return CASK_I32;
}

int cask__dtype_is_float(cask_dtype d) { return is_float(d); }
int cask__dtype_is_int(cask_dtype d) { return d == CASK_I64 || d == CASK_I32 || d == CASK_U8 || d == CASK_BOOL; }

int64_t cask__f64_to_i64(double x) {
  /* [-2^63, 2^63) converts; everything else is what x86 gives. */
  return x >= -9223372036854775808.0 && x < 9223372036854775808.0 ? (int64_t)x : INT64_MIN;
}

static int32_t f64_to_i32(double x) {
  /* NumPy casts through the C conversion; x86 gives INT32_MIN beyond. */
  return x > -2147483649.0 && x < 2147483648.0 ? (int32_t)x : INT32_MIN;
}

static uint8_t f64_to_u8(double x) {
  /* x86 NumPy converts through int32 (cvttsd2si): beyond int32 the byte of
   * INT32_MIN, 0. */
  return (uint8_t)(uint32_t)f64_to_i32(x);
}

/* Element i of src as a double or an int64. */
static double load_f(const void *src, cask_dtype t, int64_t i) {
  switch (t) {
  case CASK_F64: return ((const double *)src)[i];
  case CASK_F32: return ((const float *)src)[i];
  case CASK_I64: return (double)((const int64_t *)src)[i];
  case CASK_I32: return ((const int32_t *)src)[i];
  case CASK_U8: return ((const uint8_t *)src)[i];
  default: return ((const uint8_t *)src)[i] != 0;
  }
}

static int64_t load_i(const void *src, cask_dtype t, int64_t i) {
  switch (t) {
  case CASK_I64: return ((const int64_t *)src)[i];
  case CASK_I32: return ((const int32_t *)src)[i];
  case CASK_U8: return ((const uint8_t *)src)[i];
  case CASK_BOOL: return ((const uint8_t *)src)[i] != 0;
  default: return cask__f64_to_i64(load_f(src, t, i));
  }
}

void cask__cast(void *dst, cask_dtype dt, const void *src, cask_dtype st, int64_t n) {
  if (dt == st) {
    memmove(dst, src, (size_t)n * cask_dtype_size(dt));
    return;
  }
  switch (dt) {
  case CASK_F64:
    for (int64_t i = 0; i < n; i++) ((double *)dst)[i] = load_f(src, st, i);
    break;
  case CASK_F32: /* integers straight to float: through double would round twice */
    if (cask__dtype_is_int(st))
      for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = (float)load_i(src, st, i);
    else
      for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = (float)load_f(src, st, i);
    break;
  case CASK_I64:
    for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i] = load_i(src, st, i);
    break;
  case CASK_I32:
    if (is_float(st))
      for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i] = f64_to_i32(load_f(src, st, i));
    else
      for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int32_t)(uint32_t)load_i(src, st, i);
    break;
  case CASK_U8:
    if (is_float(st))
      for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = f64_to_u8(load_f(src, st, i));
    else
      for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = (uint8_t)load_i(src, st, i);
    break;
  default:
    for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = load_f(src, st, i) != 0;
  }
}

void cask__fill_f64(void *dst, cask_dtype dt, double v, int64_t n) {
  _Alignas(8) unsigned char one[8];
  cask__cast(one, dt, &v, CASK_F64, 1);
  size_t w = cask_dtype_size(dt);
  if (w == 1) {
    memset(dst, one[0], (size_t)n);
    return;
  }
  for (int64_t i = 0; i < n; i++) memcpy((char *)dst + (size_t)i * w, one, w);
}

void cask__byteswap(void *data, size_t w, int64_t n) {
  if (w == 4) {
    uint32_t *d = data;
    for (int64_t i = 0; i < n; i++) d[i] = __builtin_bswap32(d[i]);
  } else if (w == 8) {
    uint64_t *d = data;
    for (int64_t i = 0; i < n; i++) d[i] = __builtin_bswap64(d[i]);
  }
}
