/* philox.c - Philox4x32-10 and the uniform / normal transforms.
 * The per-element loops are written so gcc vectorizes them (32x32->64-bit
 * multiplies, no branches); the counter of element i is (i lo, i hi, 0, 0)
 * and the key is the seed. */
#include <math.h>

#include "../../../core/clones.h"
#include "philox.h"

#define M0 0xD2511F53u
#define M1 0xCD9E8D57u
#define W0 0x9E3779B9u
#define W1 0xBB67AE85u

static inline void round10(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)M0 * c[0], p1 = (uint64_t)M1 * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
    c[1] = (uint32_t)p1;
    c[3] = (uint32_t)p0;
    c[0] = n0;
    c[2] = n2;
    k0 += W0;
    k1 += W1;
  }
}

void cask__philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  round10(c, key[0], key[1]);
  for (int i = 0; i < 4; i++) out[i] = c[i];
}

/* The 53 high bits of hi:lo as a double in [0, 1): (hi >> 11) * 2^32 + lo
 * over 2^53, from two exact 32-bit conversions, because AVX2 has no
 * vector conversion from 64-bit integers and the loop would not vectorize. */
static inline double to_unit(uint32_t lo, uint32_t hi) {
  double h = (double)(int32_t)(hi >> 11);
  double l = (double)(int32_t)(lo ^ 0x80000000u) + 2147483648.0;
  return h * 0x1.0p-21 + l * 0x1.0p-53;
}


/* Uniform values take half a Philox output each: index i is words (0, 1)
 * of counter i >> 1 when i is even, words (2, 3) when odd. A run of
 * consecutive indices thus costs one Philox call per two values. */
static inline double uniform_one(uint32_t k0, uint32_t k1, uint64_t idx) {
  uint64_t ctr = idx >> 1;
  uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
  round10(c, k0, k1);
  return (idx & 1) ? to_unit(c[2], c[3]) : to_unit(c[0], c[1]);
}

CASK_CLONES
void cask__philox_uniform(uint64_t seed, uint64_t first, int64_t stride, int64_t n, double *out) {
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  if (stride != 1 && !(stride & 1)) {
    /* An even stride keeps the index's parity: one half for the whole run,
     * counters (first >> 1) + i * (stride / 2); a loop without a select
     * vectorizes like the contiguous one. */
    uint64_t c0 = first >> 1, cs = (uint64_t)(stride / 2);
    if (first & 1)
      for (int64_t i = 0; i < n; i++) {
        uint64_t ctr = c0 + (uint64_t)i * cs;
        uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
        round10(c, k0, k1);
        out[i] = to_unit(c[2], c[3]);
      }
    else
      for (int64_t i = 0; i < n; i++) {
        uint64_t ctr = c0 + (uint64_t)i * cs;
        uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
        round10(c, k0, k1);
        out[i] = to_unit(c[0], c[1]);
      }
    return;
  }
  if (stride != 1) { /* odd: the parity alternates; both halves, then a select */
    double lo[256], hi[256];
    for (int64_t b = 0; b < n; b += 256) {
      int64_t m = n - b < 256 ? n - b : 256;
      for (int64_t i = 0; i < m; i++) {
        uint64_t ctr = (first + (uint64_t)((b + i) * stride)) >> 1;
        uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
        round10(c, k0, k1);
        lo[i] = to_unit(c[0], c[1]);
        hi[i] = to_unit(c[2], c[3]);
      }
      for (int64_t i = 0; i < m; i++) out[b + i] = ((first + (uint64_t)((b + i) * stride)) & 1) ? hi[i] : lo[i];
    }
    return;
  }
  int64_t i = 0;
  if (n > 0 && (first & 1)) out[i++] = uniform_one(k0, k1, first);
  uint64_t pair0 = (first + (uint64_t)i) >> 1;
  int64_t npairs = (n - i) / 2;
  double *o = out + i;
  for (int64_t p = 0; p < npairs; p++) {
    uint64_t ctr = pair0 + (uint64_t)p;
    uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    round10(c, k0, k1);
    o[2 * p] = to_unit(c[0], c[1]);
    o[2 * p + 1] = to_unit(c[2], c[3]);
  }
  i += 2 * npairs;
  if (i < n) out[i] = uniform_one(k0, k1, first + (uint64_t)i);
}

CASK_CLONES
void cask__philox_normal(uint64_t seed, uint64_t first, int64_t stride, int64_t n, double *out) {
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int64_t i = 0; i < n; i++) {
    uint64_t idx = first + (uint64_t)(i * stride);
    uint32_t c[4] = {(uint32_t)idx, (uint32_t)(idx >> 32), 0, 0};
    round10(c, k0, k1);
    /* u1 in (0, 1] so log(u1) is finite. */
    double u1 = 1.0 - to_unit(c[0], c[1]), u2 = to_unit(c[2], c[3]);
    out[i] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  }
}
