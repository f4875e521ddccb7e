/* sortkey.h - what every sorting op shares (sortkey.c): values as unsigned
 * 64-bit keys whose integer order is NumPy's sort order, and a stable LSD
 * radix sort of keys (with an optional payload moved along).
 * The one thing to know: a float's key orders -0.0 before 0.0 unless
 * canon_zero makes them one key (NumPy compares them equal: argsort,
 * searchsorted and percentiles need that; sort keeps the sign of every
 * zero with the plain key), and every NaN is one key above +inf, so NaNs
 * sort last as in NumPy and come back as NumPy's nan (the payload bits of
 * a NaN are not kept). */
#ifndef CASK_ARRAY_SORTKEY_H
#define CASK_ARRAY_SORTKEY_H

#include <stdint.h>

#include "cask/block.h"

/* The key of NaN in dtype t (above every other key), or UINT64_MAX for
 * dtypes without NaN (no key reaches it). */
uint64_t cask__nan_key(cask_dtype t);
/* Bytes of key that can differ: 8, 4 (int32, float32) or 1. */
int cask__key_bytes(cask_dtype t);
/* keys[i] = key of element i * stride (elements) of src, i < n. */
void cask__keys_encode(uint64_t *keys, const void *src, cask_dtype t, int64_t n, int64_t stride, int canon_zero);
/* The values back: dst[i * stride] from keys[i]. */
void cask__keys_decode(void *dst, cask_dtype t, const uint64_t *keys, int64_t n, int64_t stride);
/* One key as a double (for interpolation); a NaN key gives NaN. */
double cask__key_to_f64(cask_dtype t, uint64_t key);
/* Stable sort of keys[0..n) (and payload along, when not NULL) by the low
 * key_bytes bytes. CASK_ENOMEM if the scratch buffers cannot be had. */
int cask__radix_sort(uint64_t *keys, int64_t *payload, int64_t n, int key_bytes);
/* Stable merge of the nruns sorted runs keys[bounds[r] .. bounds[r + 1])
 * (payload along, when not NULL) in place, by a tree of pairwise merges
 * (ties: the earlier run first). bounds (nruns + 1 entries) is used up. */
int cask__merge_runs(uint64_t *keys, int64_t *payload, int64_t *bounds, int nruns);
/* n int64s of scratch: a block from the pool (release *b), NULL when out
 * of memory. */
void *cask__sort_scratch(int64_t n, cask_block **b);
/* First index with keys[i] >= v (lower) or > v (upper) in sorted keys. */
int64_t cask__lower_bound(const uint64_t *keys, int64_t n, uint64_t v);
int64_t cask__upper_bound(const uint64_t *keys, int64_t n, uint64_t v);

#endif
