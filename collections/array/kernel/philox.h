/* philox.h - Philox4x32-10, the counter-based generator of Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3" (SC 2011).
 * The value at a flat index depends only on the seed and the index, so an
 * array is the same for any chunking, thread count or evaluation order:
 * each block generates its own elements from their global indices. */
#ifndef CASK_ARRAY_PHILOX_H
#define CASK_ARRAY_PHILOX_H

#include <stdint.h>

/* Uniform doubles in [0, 1), 53 random bits each, for flat indices
 * first, first + stride, ... (n of them) of the stream `seed`: index i is
 * half of the output of Philox counter i >> 1. */
void cask__philox_uniform(uint64_t seed, uint64_t first, int64_t stride, int64_t n, double *out);
/* Standard normal doubles (Box-Muller on the index's own two uniforms). */
void cask__philox_normal(uint64_t seed, uint64_t first, int64_t stride, int64_t n, double *out);
/* The raw 128 bits of one index, for tests against the published vectors. */
void cask__philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

#endif
