/* sortkey.c - sort keys and the radix sort (sortkey.h). Keys turn every
 * dtype's order into unsigned integer order (floats: the sign bit flipped
 * for positives, every bit for negatives; integers: the sign bit flipped),
 * so one stable LSD radix sort serves all dtypes, and its result does not
 * depend on anything but the data (no pivots, no threads). */
#include <math.h>
#include <string.h>

#include "../../../core/internal.h"
#include "sortkey.h"

#define F64_NAN_KEY UINT64_MAX
#define F32_NAN_KEY UINT64_C(0xFFFFFFFF)

uint64_t cask__nan_key(cask_dtype t) {
  return t == CASK_F64 ? F64_NAN_KEY : t == CASK_F32 ? F32_NAN_KEY : UINT64_MAX;
}

int cask__key_bytes(cask_dtype t) { return t == CASK_U8 || t == CASK_BOOL ? 1 : (int)cask_dtype_size(t); }

static uint64_t f64_key(double v, int canon_zero) {
  if (isnan(v)) return F64_NAN_KEY;
  if (canon_zero && v == 0) v = 0.0;
  uint64_t u;
  memcpy(&u, &v, 8);
  return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

static uint64_t f32_key(float v, int canon_zero) {
  if (isnan(v)) return F32_NAN_KEY;
  if (canon_zero && v == 0) v = 0.0f;
  uint32_t u;
  memcpy(&u, &v, 4);
  return u >> 31 ? (uint32_t)~u : u | (UINT32_C(1) << 31);
}

/* The float keys without branches, so the contiguous loops vectorize
 * (with branches the encoding was half of a quantile's time). */
static inline uint64_t f64_key_fast(double v, int canon_zero) {
  uint64_t u;
  memcpy(&u, &v, 8);
  u = canon_zero && v == 0 ? 0 : u;
  uint64_t k = u ^ ((uint64_t)((int64_t)u >> 63) | (UINT64_C(1) << 63));
  return v != v ? F64_NAN_KEY : k;
}

static inline uint64_t f32_key_fast(float v, int canon_zero) {
  uint32_t u;
  memcpy(&u, &v, 4);
  u = canon_zero && v == 0 ? 0 : u;
  uint32_t k = u ^ ((uint32_t)((int32_t)u >> 31) | (UINT32_C(1) << 31));
  return v != v ? F32_NAN_KEY : k;
}

void cask__keys_encode(uint64_t *keys, const void *src, cask_dtype t, int64_t n, int64_t stride, int canon_zero) {
  switch (t) {
  case CASK_F64:
    if (stride == 1 && canon_zero)
      for (int64_t i = 0; i < n; i++) keys[i] = f64_key_fast(((const double *)src)[i], 1);
    else if (stride == 1)
      for (int64_t i = 0; i < n; i++) keys[i] = f64_key_fast(((const double *)src)[i], 0);
    else
      for (int64_t i = 0; i < n; i++) keys[i] = f64_key(((const double *)src)[i * stride], canon_zero);
    break;
  case CASK_F32:
    if (stride == 1)
      for (int64_t i = 0; i < n; i++) keys[i] = f32_key_fast(((const float *)src)[i], canon_zero);
    else
      for (int64_t i = 0; i < n; i++) keys[i] = f32_key(((const float *)src)[i * stride], canon_zero);
    break;
  case CASK_I64:
    for (int64_t i = 0; i < n; i++) keys[i] = (uint64_t)((const int64_t *)src)[i * stride] ^ (UINT64_C(1) << 63);
    break;
  case CASK_I32:
    for (int64_t i = 0; i < n; i++) keys[i] = (uint32_t)((const int32_t *)src)[i * stride] ^ (UINT32_C(1) << 31);
    break;
  default: /* uint8, bool */
    for (int64_t i = 0; i < n; i++) keys[i] = ((const uint8_t *)src)[i * stride];
  }
}

static double f64_of(uint64_t k) {
  if (k == F64_NAN_KEY) return NAN;
  uint64_t u = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
  double v;
  memcpy(&v, &u, 8);
  return v;
}

static float f32_of(uint64_t k) {
  if (k == F32_NAN_KEY) return NAN;
  uint32_t u = (uint32_t)k, v32 = u >> 31 ? u & ~(UINT32_C(1) << 31) : ~u;
  float v;
  memcpy(&v, &v32, 4);
  return v;
}

void cask__keys_decode(void *dst, cask_dtype t, const uint64_t *keys, int64_t n, int64_t stride) {
  switch (t) {
  case CASK_F64:
    for (int64_t i = 0; i < n; i++) ((double *)dst)[i * stride] = f64_of(keys[i]);
    break;
  case CASK_F32:
    for (int64_t i = 0; i < n; i++) ((float *)dst)[i * stride] = f32_of(keys[i]);
    break;
  case CASK_I64:
    for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i * stride] = (int64_t)(keys[i] ^ (UINT64_C(1) << 63));
    break;
  case CASK_I32:
    for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i * stride] = (int32_t)(uint32_t)(keys[i] ^ (UINT32_C(1) << 31));
    break;
  default:
    for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i * stride] = (uint8_t)keys[i];
  }
}

double cask__key_to_f64(cask_dtype t, uint64_t key) {
  switch (t) {
  case CASK_F64: return f64_of(key);
  case CASK_F32: return f32_of(key);
  case CASK_I64: return (double)(int64_t)(key ^ (UINT64_C(1) << 63));
  case CASK_I32: return (double)(int32_t)(uint32_t)(key ^ (UINT32_C(1) << 31));
  default: return (double)key;
  }
}

#define RADIX_BITS 11
#define RADIX (1 << RADIX_BITS)

/* Small arrays: insertion sort (stable), cheaper than 256-bucket passes. */
/* Passes alternate between two buffers of keys (and payloads): the one
 * just written becomes the source of the next pass. */
static void swap_passes(uint64_t **sk, uint64_t **dk, int64_t **sp, int64_t **dp) {
  uint64_t *t = *sk;
  *sk = *dk, *dk = t;
  int64_t *tq = *sp;
  *sp = *dp, *dp = tq;
}

/* After the passes: the result (sk, sp) into the caller's arrays, unless
 * the last pass wrote there already. */
static void land(uint64_t *k, int64_t *p, const uint64_t *sk, const int64_t *sp, int64_t n) {
  if (sk == k) return;
  memcpy(k, sk, (size_t)n * sizeof *k);
  if (p) memcpy(p, sp, (size_t)n * sizeof *p);
}

static void insertion(uint64_t *k, int64_t *p, int64_t n) {
  for (int64_t i = 1; i < n; i++) {
    uint64_t v = k[i];
    int64_t pv = p ? p[i] : 0, j = i;
    for (; j > 0 && k[j - 1] > v; j--) {
      k[j] = k[j - 1];
      if (p) p[j] = p[j - 1];
    }
    k[j] = v;
    if (p) p[j] = pv;
  }
}

/* LSD passes over digits 0..nd-1 of k[0..n) (p along), t as scratch; the
 * result in k. One pass counts every digit; a digit the same in every key
 * is skipped (float32 keys in 64 bits, small integers, narrow ranges). */
static void lsd(uint64_t *k, int64_t *p, uint64_t *tk, int64_t *tp, int64_t n, int nd, int64_t (*count)[RADIX]) {
  if (n < 64) {
    insertion(k, p, n);
    return;
  }
  memset(count, 0, (size_t)nd * sizeof *count);
  for (int64_t i = 0; i < n; i++) {
    uint64_t v = k[i];
    for (int d = 0; d < nd; d++) count[d][(v >> (RADIX_BITS * d)) & (RADIX - 1)]++;
  }
  uint64_t *sk = k, *dk = tk;
  int64_t *sp = p, *dp = tp;
  for (int d = 0; d < nd; d++) {
    int64_t *c = count[d], sum = 0;
    int sh = RADIX_BITS * d;
    if (c[(sk[0] >> sh) & (RADIX - 1)] == n) continue;
    for (int b = 0; b < RADIX; b++) {
      int64_t t = c[b];
      c[b] = sum;
      sum += t;
    }
    if (sp)
      for (int64_t i = 0; i < n; i++) {
        int64_t at = c[(sk[i] >> sh) & (RADIX - 1)]++;
        dk[at] = sk[i];
        dp[at] = sp[i];
      }
    else
      for (int64_t i = 0; i < n; i++) dk[c[(sk[i] >> sh) & (RADIX - 1)]++] = sk[i];
    swap_passes(&sk, &dk, &sp, &dp);
  }
  land(k, p, sk, sp, n);
}

/* Keys a bucket may hold to be finished by LSD passes in cache (its keys
 * and scratch within L2). */
#define IN_CACHE 32768

/* Digits 0..top of k[0..n): large arrays by their top digit first (one
 * stable scatter into buckets, each sorted on the digits below), so the
 * LSD passes over the many digits below run in cache, not over the whole
 * block in memory (they took 30 ns an element at 10^7 elements). */
static void msd(uint64_t *k, int64_t *p, uint64_t *tk, int64_t *tp, int64_t n, int top, int64_t (*count)[RADIX]) {
  if (n <= IN_CACHE || top == 0) {
    lsd(k, p, tk, tp, n, top + 1, count);
    return;
  }
  int64_t *c = count[top], off[RADIX + 1];
  int sh = RADIX_BITS * top;
  memset(c, 0, RADIX * sizeof *c);
  for (int64_t i = 0; i < n; i++) c[(k[i] >> sh) & (RADIX - 1)]++;
  if (c[(k[0] >> sh) & (RADIX - 1)] == n) { /* one bucket: the next digit */
    msd(k, p, tk, tp, n, top - 1, count);
    return;
  }
  off[0] = 0;
  for (int b = 0; b < RADIX; b++) off[b + 1] = off[b] + c[b];
  memcpy(c, off, RADIX * sizeof *c);
  if (p)
    for (int64_t i = 0; i < n; i++) {
      int64_t at = c[(k[i] >> sh) & (RADIX - 1)]++;
      tk[at] = k[i];
      tp[at] = p[i];
    }
  else
    for (int64_t i = 0; i < n; i++) tk[c[(k[i] >> sh) & (RADIX - 1)]++] = k[i];
  memcpy(k, tk, (size_t)n * sizeof *k);
  if (p) memcpy(p, tp, (size_t)n * sizeof *p);
  for (int b = 0; b < RADIX; b++)
    if (off[b + 1] - off[b] > 1)
      msd(k + off[b], p ? p + off[b] : NULL, tk + off[b], tp ? tp + off[b] : NULL, off[b + 1] - off[b], top - 1, count);
}

int cask__radix_sort(uint64_t *keys, int64_t *payload, int64_t n, int key_bytes) {
  if (n < 64) {
    insertion(keys, payload, n);
    return CASK_OK;
  }
  /* Digits of 11 bits (6 for 64-bit keys, 3 for 32: 2048 counters stay in L1). */
  int bits = 8 * key_bytes, nd = (bits + RADIX_BITS - 1) / RADIX_BITS;
  int64_t(*count)[RADIX] = cask__calloc((size_t)nd, sizeof *count);
  cask_block *bk = NULL, *bp = NULL; /* scratch from the block pool: no fresh pages to fault in */
  uint64_t *tk = cask__sort_scratch(n, &bk);
  int64_t *tp = payload ? cask__sort_scratch(n, &bp) : NULL;
  if (count && tk && (!payload || tp)) msd(keys, payload, tk, tp, n, nd - 1, count);
  int rc = count && tk && (!payload || tp) ? CASK_OK : CASK_ENOMEM;
  cask__free(count);
  cask_block_release(bk);
  cask_block_release(bp);
  return rc;
}

void *cask__sort_scratch(int64_t n, cask_block **b) {
  *b = NULL;
  if (n < 1) n = 1;
  return cask_block_new(CASK_I64, 1, &n, b) ? NULL : cask_block_data(*b);
}

/* Stable merge of a[0..na) and b[0..nb) into o (a first on ties). */
static void merge2(const uint64_t *a, const int64_t *ap, int64_t na, const uint64_t *b, const int64_t *bp, int64_t nb,
                   uint64_t *o, int64_t *op) {
  int64_t i = 0, j = 0, k = 0;
  if (op)
    while (i < na && j < nb) {
      int t = b[j] < a[i];
      o[k] = t ? b[j] : a[i];
      op[k++] = t ? bp[j] : ap[i];
      j += t;
      i += !t;
    }
  else
    while (i < na && j < nb) {
      int t = b[j] < a[i];
      o[k++] = t ? b[j] : a[i];
      j += t;
      i += !t;
    }
  memcpy(o + k, a + i, (size_t)(na - i) * sizeof *o);
  memcpy(o + k + na - i, b + j, (size_t)(nb - j) * sizeof *o);
  if (op) {
    memcpy(op + k, ap + i, (size_t)(na - i) * sizeof *op);
    memcpy(op + k + na - i, bp + j, (size_t)(nb - j) * sizeof *op);
  }
}

int cask__merge_runs(uint64_t *keys, int64_t *payload, int64_t *bounds, int nruns) {
  int64_t n = bounds[nruns];
  cask_block *bk = NULL, *bp = NULL;
  uint64_t *tk = cask__sort_scratch(n, &bk);
  int64_t *tp = payload ? cask__sort_scratch(n, &bp) : NULL;
  if (!tk || (payload && !tp)) {
    cask_block_release(bk);
    cask_block_release(bp);
    return CASK_ENOMEM;
  }
  uint64_t *sk = keys, *dk = tk;
  int64_t *sp = payload, *dp = tp;
  while (nruns > 1) { /* adjacent pairs, left first: stable */
    int m = 0;
    for (int r = 0; r < nruns; r += 2, m++) {
      int64_t f = bounds[r], mid = bounds[r + 1], e = r + 1 < nruns ? bounds[r + 2] : mid;
      merge2(sk + f, sp ? sp + f : NULL, mid - f, sk + mid, sp ? sp + mid : NULL, e - mid, dk + f, dp ? dp + f : NULL);
      bounds[m] = f;
    }
    bounds[m] = n;
    nruns = m;
    swap_passes(&sk, &dk, &sp, &dp);
  }
  land(keys, payload, sk, sp, n);
  cask_block_release(bk);
  cask_block_release(bp);
  return CASK_OK;
}

int64_t cask__lower_bound(const uint64_t *keys, int64_t n, uint64_t v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (keys[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int64_t cask__upper_bound(const uint64_t *keys, int64_t n, uint64_t v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (keys[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
