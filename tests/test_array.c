/* test_array.c - the array collection: so far its counter-based random
 * generator, checked against the published Philox4x32-10 known-answer
 * vectors and for the property arrays rely on: a value depends only on the
 * seed and its index, whatever range it is generated in. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "collections/array/philox.h"

START_TEST(philox_matches_random123_known_answers) {
  /* Random123's kat_vectors, philox4x32 with 10 rounds. */
  static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                     {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                                     {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  static const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
  static const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                                      {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                                      {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  for (int v = 0; v < 3; v++) {
    uint32_t out[4];
    cask__philox4x32(ctr[v], key[v], out);
    for (int i = 0; i < 4; i++) ck_assert_msg(out[i] == want[v][i], "vector %d word %d: %08x", v, i, out[i]);
  }
}
END_TEST

START_TEST(uniform_value_depends_only_on_seed_and_index) {
  enum { N = 10000 };
  double *whole = malloc(N * sizeof *whole), *part = malloc(N * sizeof *part);
  cask__philox_uniform(7, 0, N, whole);
  /* Generate the same indices in uneven pieces, as blocks of any chunking
   * would, and in reverse piece order. */
  int64_t cuts[] = {0, 1, 17, 1000, 1001, 4096, 9999, N};
  for (int k = 6; k >= 0; k--) cask__philox_uniform(7, (uint64_t)cuts[k], cuts[k + 1] - cuts[k], part + cuts[k]);
  for (int i = 0; i < N; i++) ck_assert_msg(whole[i] == part[i], "index %d differs", i);
  cask__philox_uniform(8, 0, N, part);
  int same = 0;
  for (int i = 0; i < N; i++) same += whole[i] == part[i];
  ck_assert_msg(same < 3, "seed 7 and 8 share %d of %d values", same, N);
  free(whole);
  free(part);
}
END_TEST

START_TEST(uniform_is_in_unit_interval_with_uniform_moments) {
  enum { N = 1 << 20 };
  double *x = malloc(N * sizeof *x);
  cask__philox_uniform(42, 123456789, N, x);
  double s = 0, s2 = 0;
  int bins[16] = {0};
  for (int i = 0; i < N; i++) {
    ck_assert(x[i] >= 0.0 && x[i] < 1.0);
    s += x[i];
    s2 += x[i] * x[i];
    bins[(int)(x[i] * 16)]++;
  }
  /* Mean 1/2 and variance 1/12, within 6 standard errors. */
  ck_assert_msg(fabs(s / N - 0.5) < 6 * sqrt(1.0 / 12 / N), "mean %g", s / N);
  ck_assert_msg(fabs(s2 / N - s * s / N / N - 1.0 / 12) < 6 * 0.0745 / sqrt(N), "variance %g", s2 / N - s * s / N / N);
  /* Chi-square over 16 bins: 15 degrees of freedom, 99.99th percentile 44. */
  double chi = 0, e = N / 16.0;
  for (int b = 0; b < 16; b++) chi += (bins[b] - e) * (bins[b] - e) / e;
  ck_assert_msg(chi < 44, "chi-square %g", chi);
  free(x);
}
END_TEST

START_TEST(normal_has_zero_mean_unit_variance_and_is_finite) {
  enum { N = 1 << 20 };
  double *x = malloc(N * sizeof *x);
  cask__philox_normal(3, 0, N, x);
  double s = 0, s2 = 0;
  int tail = 0;
  for (int i = 0; i < N; i++) {
    ck_assert(isfinite(x[i]));
    s += x[i];
    s2 += x[i] * x[i];
    tail += fabs(x[i]) > 1.959964;
  }
  ck_assert_msg(fabs(s / N) < 6 / sqrt(N), "mean %g", s / N);
  ck_assert_msg(fabs(s2 / N - 1) < 6 * sqrt(2.0 / N), "variance %g", s2 / N);
  /* 5% of a normal lies beyond 1.96 standard deviations. */
  ck_assert_msg(fabs(tail / (double)N - 0.05) < 6 * sqrt(0.05 * 0.95 / N), "tail %g", tail / (double)N);
  free(x);
}
END_TEST

Suite *array_suite(void) {
  Suite *s = suite_create("array");
  TCase *tc = tcase_create("random");
  tcase_add_test(tc, philox_matches_random123_known_answers);
  tcase_add_test(tc, uniform_value_depends_only_on_seed_and_index);
  tcase_add_test(tc, uniform_is_in_unit_interval_with_uniform_moments);
  tcase_add_test(tc, normal_has_zero_mean_unit_variance_and_is_finite);
  suite_add_tcase(s, tc);
  return s;
}
