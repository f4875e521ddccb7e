/* dtype.h - conversions between cask's dtypes (dtype.c). */
#ifndef CASK_ARRAY_DTYPE_H
#define CASK_ARRAY_DTYPE_H

#include "cask/block.h"

int cask__dtype_is_float(cask_dtype d);
int cask__dtype_is_int(cask_dtype d); /* integers and bool */
/* n elements of src (dtype st) to dst (dtype dt), as NumPy's astype; src
 * and dst may be the same memory when the dtypes have one size. */
void cask__cast(void *dst, cask_dtype dt, const void *src, cask_dtype st, int64_t n);
/* n copies of v converted to dt. */
void cask__fill_f64(void *dst, cask_dtype dt, double v, int64_t n);
/* C's (int64_t)x where defined, INT64_MIN elsewhere (NaN, out of range). */
int64_t cask__f64_to_i64(double x);

/* Whether this machine stores numbers big-endian (files are little). */
static inline int cask__host_big_endian(void) { return __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__; }
/* Reverse the bytes of n elements of w bytes (w 4 or 8; 1 is a no-op). */
void cask__byteswap(void *data, size_t w, int64_t n);

#endif
