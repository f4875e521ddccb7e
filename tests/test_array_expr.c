/* test_array_expr.c - the array functions of cask_eval's expressions
 * (reductions with axis=, slicing, .T, @, rechunk, astype, methods) against the same nodes built by the C calls or plain loops, the
 * errors (each names its column; no leak on any error path: run it under
 * ASan), and cask_arrays_graph: several arrays in one graph, a shared step
 * computed once, and every block found by the key it reports.
 * Values are float64 where elementwise kernels run; NumPy checks of the
 * same functions are in tests/cli_check.py (job files). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"

static cask_ctx *new_ctx(void) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = 2;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

/* x: arange(24) as float64 of shape (4, 6), chunks (3, 4). */
static cask_array *grid(cask_ctx *ctx) {
  cask_array *r, *x;
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 24, 1, 0, &r), CASK_OK);
  ck_assert_int_eq(cask_reshape(r, 2, (int64_t[]){4, 6}, &x), CASK_OK);
  cask_array *c;
  ck_assert_int_eq(cask_rechunk(x, (int64_t[]){3, 4}, &c), CASK_OK);
  cask_array_release(r);
  cask_array_release(x);
  return c;
}

static cask_array *eval1(cask_ctx *ctx, const char *expr, cask_array *x) {
  const char *names[] = {"x"};
  cask_array *out = NULL;
  int rc = cask_eval(ctx, expr, names, &x, 1, &out);
  ck_assert_msg(rc == CASK_OK, "%s: %s", expr, cask_ctx_errmsg(ctx));
  return out;
}

static void values(cask_array *a, double *buf, int64_t n) {
  ck_assert_int_eq(cask_array_size(a), n);
  ck_assert_int_eq(cask_array_dtype(a), CASK_F64);
  ck_assert_int_eq(cask_compute(a, buf, (size_t)n * sizeof *buf), CASK_OK);
}

START_TEST(reductions_take_axis_as_int_tuple_or_none_and_ddof) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx);
  double got[6];
  cask_array *a = eval1(ctx, "sum(x, axis=0)", x);
  values(a, got, 6);
  for (int j = 0; j < 6; j++) ck_assert_double_eq(got[j], 4 * j + 6 * (0 + 1 + 2 + 3));
  cask_array_release(a);
  a = eval1(ctx, "x.mean(axis=-1)", x);
  values(a, got, 4);
  for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(got[i], 6 * i + 2.5, 1e-12);
  cask_array_release(a);
  a = eval1(ctx, "max(x, (0, 1)) + sum(x, None)", x);
  values(a, got, 1);
  ck_assert_double_eq(got[0], 23 + 276);
  cask_array_release(a);
  a = eval1(ctx, "var(x, axis=1, ddof=1)", x);
  values(a, got, 4);
  for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(got[i], 3.5, 1e-12); /* var of 0..5, ddof 1 */
  cask_array_release(a);
  a = eval1(ctx, "argmax(x[::-1], axis=0)", x);
  int64_t idx[6];
  ck_assert_int_eq(cask_array_dtype(a), CASK_I64);
  ck_assert_int_eq(cask_compute(a, idx, sizeof idx), CASK_OK);
  for (int j = 0; j < 6; j++) ck_assert_int_eq(idx[j], 0);
  cask_array_release(a);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(slices_indexes_transposes_and_rechunk_match_loops) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx);
  double got[24];
  cask_array *a = eval1(ctx, "x[::2, 3:]", x);
  values(a, got, 6);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) ck_assert_double_eq(got[i * 3 + j], 12 * i + 3 + j);
  cask_array_release(a);
  a = eval1(ctx, "x[-1, ::-2]", x);
  values(a, got, 3);
  for (int j = 0; j < 3; j++) ck_assert_double_eq(got[j], 23 - 2 * j);
  cask_array_release(a);
  a = eval1(ctx, "x[2 - 1, 6 // 2]", x);
  values(a, got, 1);
  ck_assert_int_eq(cask_array_ndim(a), 0);
  ck_assert_double_eq(got[0], 9);
  cask_array_release(a);
  a = eval1(ctx, "x.T[1]", x);
  values(a, got, 4);
  for (int i = 0; i < 4; i++) ck_assert_double_eq(got[i], 6 * i + 1);
  cask_array_release(a);
  cask_array *x3;
  ck_assert_int_eq(cask_reshape(x, 3, (int64_t[]){2, 3, 4}, &x3), CASK_OK);
  a = eval1(ctx, "transpose(x, axes=(2, 0, 1))", x3);
  ck_assert_int_eq(cask_array_shape(a)[0], 4);
  values(a, got, 24);
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++) ck_assert_double_eq(got[(k * 2 + i) * 3 + j], i * 12 + j * 4 + k);
  cask_array_release(a);
  cask_array_release(x3);
  a = eval1(ctx, "rechunk(x, (1, 6)) * 1", x);
  ck_assert_int_eq(cask_array_chunks(a)[0], 1);
  ck_assert_int_eq(cask_array_chunks(a)[1], 6);
  cask_array_release(a);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(matmul_operator_and_astype_build_the_c_calls_nodes) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx);
  double got[16];
  cask_array *a = eval1(ctx, "x @ x.T", x);
  values(a, got, 16);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      double s = 0;
      for (int k = 0; k < 6; k++) s += (6.0 * i + k) * (6.0 * j + k);
      ck_assert_double_eq_tol(got[i * 4 + j], s, 1e-9);
    }
  cask_array_release(a);
  a = eval1(ctx, "(x / 4).astype('int32')", x);
  ck_assert_int_eq(cask_array_dtype(a), CASK_I32);
  int32_t iv[24];
  ck_assert_int_eq(cask_compute(a, iv, sizeof iv), CASK_OK);
  for (int k = 0; k < 24; k++) ck_assert_int_eq(iv[k], k / 4);
  cask_array_release(a);
  a = eval1(ctx, "astype(x > 11, dtype='f4')", x);
  ck_assert_int_eq(cask_array_dtype(a), CASK_F32);
  cask_array_release(a);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* Each bad expression fails with CASK_EINVAL and a message with the
 * column; no array is returned, nothing leaks. */
START_TEST(errors_name_the_column_and_leak_nothing) {
  static const struct {
    const char *expr, *want;
  } cases[] = {
      {"sum(x, dtype=1)", "column 8: sum: unknown keyword 'dtype'"},
      {"sum(x, keepdims=x)", "column 17: sum: 'keepdims' must be True or False"},
      {"sum(x, axis=0, axis=1)", "column 16: sum: 'axis' is given twice"},
      {"sum(x, 0, 1, 2)", "sum takes at most 2 arguments"},
      {"sum()", "column 1: sum: missing argument 'a'"},
      {"sum(axis=0, x)", "a positional argument after a keyword argument"},
      {"x[1.5]", "column 3: an index must be an integer"},
      {"x[x]", "column 3: take: the indices have dtype float64; arrays used as indices must be of integer type"},
      {"x[1, 2, 3]", "column 2:"},
      {"x[]", "column 3: expected an index or a slice"},
      {"x[1", "expected ',' or ']'"},
      {"3[0]", "only an array can be indexed"},
      {"x.U", "unknown attribute 'U'"},
      {"(2).T", ".T needs an array"},
      {"x @ 2", "@ needs an array on both sides"},
      {"x @ x", "column 3:"},
      {"astype(x, 'float16')", "column 11: astype: the dtype must be"},
      {"astype(x, 'float32", "the string is not closed"},
      {"rechunk(x, (2,))", "column 12: rechunk: 'chunks' has 1 entries"},
      {"transpose(x, (0, 0))", "column 1:"},
      {"sum(x, axis=(0, 0))", "column 1:"},
      {"sin(x, 2)", "column 6: expected ')' after the arguments (sin takes 1 argument, got 2)"},
      {"sin(axis=x)", "column 5: sin takes no keyword arguments ('axis')"},
      {"where(x > 1, x, y=2)", "column 17: where takes no keyword arguments ('y')"},
      {"clip(x, 1, a_min=2)", "column 12: clip: unknown or repeated keyword 'a_min'"},
      {"clip(x, a_max=1, 2)", "column 18: a positional argument after a keyword argument"},
      {"where(x > 1, x)", "column 15: expected ',' between the arguments (where takes 3"},
      {"sqrt()", "column 6: expected a number"},
      {"var(x, ddof=-1)", "ddof must be a non-negative integer"},
      {"std(x, axis='a')", "'axis' must be an integer"},
      {"frob(x)", "column 1: unknown function 'frob'"},
      {"x.sum(axis=5) + 1", "column 3:"},
      {"sum(x[0:2], axis=(0, 1)) + x[", "the expression ends too early"},
      /* lists and tuples: an error inside one frees what was parsed */
      {"concatenate([x, q])", "column 17: unknown name 'q'"},
      {"concatenate([x, x], axis=5)", "column 1: concatenate: axis 5 is out of range"},
      {"stack([x, [x, x]])", "column 11: stack: 'arrays' must be an array, not a list"},
      {"concatenate([x,, x])", "column 16: expected a number, a name or '('"},
      {"pad(x, ((1, 2), (3, x)))", "column 17: pad: 'pad_width' must be an integer or a tuple"},
      {"concatenate([x, x)", "column 18: expected ',' or ']' in the list"},
      {"flip(x, axis=(0, 0))", "column 1: flip: axis 0 is repeated"},
  };
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx);
  const char *names[] = {"x"};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    cask_array *out = (cask_array *)1;
    int rc = cask_eval(ctx, cases[k].expr, names, &x, 1, &out);
    ck_assert_msg(rc == CASK_EINVAL && out == NULL, "%s: rc %d", cases[k].expr, rc);
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), cases[k].want), "%s: message '%s', wanted '%s'", cases[k].expr,
                  cask_ctx_errmsg(ctx), cases[k].want);
  }
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* Sums the float64 blocks of output k (block keys keys[first ...]). */
static double sum_blocks(const cask_results *res, char **keys, size_t first, size_t n) {
  double s = 0;
  for (size_t k = first; k < first + n; k++) {
    const cask_block *b = cask_results_get_key(res, keys[k]);
    ck_assert_msg(b != NULL, "no result for %s", keys[k]);
    const double *d = cask_block_data(b);
    for (int64_t i = 0; i < cask_block_size(b); i++) s += d[i];
  }
  return s;
}

START_TEST(arrays_graph_computes_shared_steps_once_and_reports_every_block_key) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx);
  cask_array *y = eval1(ctx, "x * 2", x);
  const char *names[] = {"x", "y"};
  cask_array *vals[] = {x, y}, *outs[3];
  ck_assert_int_eq(cask_eval(ctx, "sum(y, axis=0)", names, vals, 2, &outs[0]), CASK_OK);
  ck_assert_int_eq(cask_eval(ctx, "y + 1", names, vals, 2, &outs[1]), CASK_OK);
  outs[2] = cask_array_retain(x); /* an input itself: its blocks are its source's tasks */
  cask_graph *g;
  char **keys;
  ck_assert_int_eq(cask_arrays_graph(3, outs, &g, &keys), CASK_OK);
  /* x's four blocks are outputs (never fused away) and feed y's four
   * blocks, which both other outputs use: each is one task */
  size_t sources = 0;
  for (cask_task_id id = 0; id < cask_graph_size(g); id++)
    sources += !strcmp(cask_graph_op(g, id)->name, "array.source");
  ck_assert_uint_eq(sources, 4);
  cask_results *res;
  ck_assert_int_eq(cask_run(cask_ctx_runtime(ctx), g, NULL, &res), CASK_OK);
  /* blocks: sum(y, axis=0) has 2, y + 1 has 4, x has 4 */
  ck_assert_double_eq(sum_blocks(res, keys, 0, 2), 2 * 276);
  ck_assert_double_eq(sum_blocks(res, keys, 2, 4), 2 * 276 + 24);
  ck_assert_double_eq(sum_blocks(res, keys, 6, 4), 276);
  cask_results_free(res);
  cask_free(keys);
  cask_graph_free(g);
  ck_assert_int_eq(cask_arrays_graph(0, outs, &g, &keys), CASK_EINVAL);
  ck_assert_ptr_null(g);
  for (int k = 0; k < 3; k++) cask_array_release(outs[k]);
  cask_array_release(y);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* Integer literals went through double: 9007199254740993 lost its last
 * bit, 9223372036854775807 made a float64 result, and 2147483648 with an
 * int32 array silently wrapped (NumPy 1.24: int64; NEP 50: an error). */
START_TEST(regress_integer_literals_go_through_double) {
  cask_ctx *ctx = new_ctx();
  int64_t n = 3;
  cask_array *x;
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 3, 1, 2, &x), CASK_OK);
  static const struct {
    const char *expr;
    cask_dtype dt;
    int64_t want[3];
  } ok[] = {
      {"astype(x, 'int64') - 9007199254740993", CASK_I64,
       {-9007199254740993LL, -9007199254740992LL, -9007199254740991LL}},
      {"astype(x, 'int64') * 0 - 9223372036854775807", CASK_I64,
       {-9223372036854775807LL, -9223372036854775807LL, -9223372036854775807LL}},
      {"9007199254740993 + astype(x, 'int64')", CASK_I64,
       {9007199254740993LL, 9007199254740994LL, 9007199254740995LL}},
      {"astype(x, 'int64') + (9007199254740993 - 1)", CASK_I64,
       {9007199254740992LL, 9007199254740993LL, 9007199254740994LL}},
      {"astype(x, 'int32') + 2147483647 - 2147483647", CASK_I32, {0, 1, 2}},
      {"astype(x, 'uint8') + 255", CASK_U8, {255, 0, 1}}, /* wraps as NumPy's uint8 does */
      {"astype(astype(x, 'int32') > 2147483648, 'int64')", CASK_I64, {0, 0, 0}}, /* exact comparison */
      {"astype(x, 'int64') * (2**62 // 2**61)", CASK_I64, {0, 2, 4}},
      /* Python's modulo near INT64_MIN: floor(x / y) * y overflowed (fuzz) */
      {"astype(x, 'int64') + -9223372036854775807 % 41041370752", CASK_I64, {6198197249LL, 6198197250LL, 6198197251LL}},
      {"astype(x, 'int64') + 9223372036854775807 % -41041370752", CASK_I64,
       {-6198197249LL, -6198197248LL, -6198197247LL}},
      {"astype(x, 'int64') + (-9223372036854775807 - 1) % -1", CASK_I64, {0, 1, 2}},
  };
  for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
    cask_array *r = eval1(ctx, ok[k].expr, x);
    ck_assert_msg(cask_array_dtype(r) == ok[k].dt, "%s: dtype %s", ok[k].expr, cask_dtype_name(cask_array_dtype(r)));
    int64_t got[3] = {0};
    if (ok[k].dt == CASK_I64) {
      ck_assert_int_eq(cask_compute(r, got, sizeof got), CASK_OK);
    } else { /* narrower: widen for the comparison */
      cask_array *w = NULL;
      ck_assert_int_eq(cask_astype(r, CASK_I64, &w), CASK_OK);
      ck_assert_int_eq(cask_compute(w, got, sizeof got), CASK_OK);
      cask_array_release(w);
    }
    for (int i = 0; i < 3; i++)
      ck_assert_msg(got[i] == ok[k].want[i], "%s [%d]: %lld, want %lld", ok[k].expr, i, (long long)got[i],
                    (long long)ok[k].want[i]);
    cask_array_release(r);
  }
  /* a constant expression keeps its integer exactly */
  cask_array *c = eval1(ctx, "9007199254740993", x);
  int64_t v = 0;
  ck_assert_int_eq(cask_array_dtype(c), CASK_I64);
  ck_assert_int_eq(cask_compute(c, &v, sizeof v), CASK_OK);
  ck_assert_int_eq(v, 9007199254740993LL);
  cask_array_release(c);
  static const struct {
    const char *expr, *value, *dtype;
  } bad[] = {
      {"astype(x, 'int32') + 2147483648", "2147483648", "int32"},
      {"astype(x, 'uint8') + 300", "300", "uint8"},
      {"astype(x, 'uint8') - -1", "-1", "uint8"},
      {"2147483648 * astype(x, 'int32')", "2147483648", "int32"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    const char *names[] = {"x"};
    cask_array *r = (cask_array *)1;
    ck_assert_int_eq(cask_eval(ctx, bad[k].expr, names, &x, 1, &r), CASK_EINVAL);
    ck_assert_ptr_null(r);
    const char *msg = cask_ctx_errmsg(ctx);
    ck_assert_msg(strstr(msg, bad[k].value) && strstr(msg, bad[k].dtype) && strstr(msg, "column"), "%s: %s",
                  bad[k].expr, msg);
  }
  (void)n;
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* NumPy's constants pi, e, inf and nan, unless a variable has the name. */
START_TEST(constants_pi_e_inf_nan) {
  cask_ctx *ctx = new_ctx();
  cask_array *x;
  ck_assert_int_eq(cask_ones(ctx, CASK_F64, 1, (int64_t[]){2}, NULL, &x), CASK_OK);
  static const struct {
    const char *expr;
    double want;
  } cases[] = {{"x * pi", 3.14159265358979323846}, {"x * e", 2.71828182845904523536}, {"-inf * x", -INFINITY}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    cask_array *r = eval1(ctx, cases[k].expr, x);
    double v[2];
    ck_assert_int_eq(cask_compute(r, v, sizeof v), CASK_OK);
    ck_assert_msg(v[0] == cases[k].want, "%s: %g", cases[k].expr, v[0]);
    cask_array_release(r);
  }
  cask_array *r = eval1(ctx, "isnan(x * nan)", x);
  unsigned char b[2];
  ck_assert_int_eq(cask_compute(r, b, sizeof b), CASK_OK);
  ck_assert(b[0] == 1);
  cask_array_release(r);
  const char *names[] = {"pi"}; /* a variable named pi wins */
  ck_assert_int_eq(cask_eval(ctx, "pi + 1", names, &x, 1, &r), CASK_OK);
  double v[2];
  ck_assert_int_eq(cask_compute(r, v, sizeof v), CASK_OK);
  ck_assert(v[0] == 2.0);
  cask_array_release(r);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* concatenate((x, x)) said only "expected ')'": the message names the
 * construct. */
START_TEST(a_tuple_of_arrays_is_named_in_the_error) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx), *r = NULL;
  const char *names[] = {"x"};
  ck_assert_int_eq(cask_eval(ctx, "sum((x, x))", names, &x, 1, &r), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "column 5") && strstr(cask_ctx_errmsg(ctx), "must be an array, not a tuple"),
                "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(cask_eval(ctx, "(x, x) + 1", names, &x, 1, &r), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "column 3") && strstr(cask_ctx_errmsg(ctx), "only a function's argument"),
                "%s", cask_ctx_errmsg(ctx));
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* Lists and tuples of arrays are arguments; keepdims keeps the reduced
 * axes; nested tuples reach pad. x is arange(24) as (4, 6). */
START_TEST(lists_tuples_and_keepdims) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx);
  double got[48];
  cask_array *a = eval1(ctx, "concatenate([x[:1], x[3:], (x[1:2])], axis=0)", x);
  values(a, got, 18);
  for (int k = 0; k < 18; k++) ck_assert_double_eq(got[k], k < 6 ? k : k < 12 ? k + 12 : k - 6);
  cask_array_release(a);
  a = eval1(ctx, "stack((x[0], x[1], x[2],), axis=1)", x);
  ck_assert_int_eq(cask_array_shape(a)[0], 6);
  values(a, got, 18);
  for (int k = 0; k < 18; k++) ck_assert_double_eq(got[k], (k % 3) * 6 + k / 3);
  cask_array_release(a);
  a = eval1(ctx, "x.sum(axis=1, keepdims=True)", x);
  ck_assert_int_eq(cask_array_ndim(a), 2);
  ck_assert_int_eq(cask_array_shape(a)[1], 1);
  values(a, got, 4);
  for (int i = 0; i < 4; i++) ck_assert_double_eq(got[i], 36 * i + 15);
  cask_array_release(a);
  a = eval1(ctx, "pad(x[:1, :2], ((0, 1), (2, 0)), constant_values=-1)", x);
  values(a, got, 8);
  static const double want[8] = {-1, -1, 0, 1, -1, -1, -1, -1};
  for (int k = 0; k < 8; k++) ck_assert_double_eq(got[k], want[k]);
  cask_array_release(a);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* None and newaxis in a subscript add axes of extent 1, as in NumPy. */
START_TEST(none_and_newaxis_add_axes) {
  cask_ctx *ctx = new_ctx();
  cask_array *x = grid(ctx); /* arange(24) as (4, 6) */
  static const struct {
    const char *expr;
    int ndim;
    int64_t shape[4];
  } cases[] = {{"x[:, None]", 3, {4, 1, 6}},     {"x[None]", 3, {1, 4, 6}},       {"x[newaxis, 1]", 2, {1, 6}},
               {"x[2, None, ::2]", 2, {1, 3}},    {"x[:, :, None]", 3, {4, 6, 1}}, {"x[None, :, None, 0]", 3, {1, 4, 1}}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    cask_array *r = eval1(ctx, cases[k].expr, x);
    ck_assert_msg(cask_array_ndim(r) == cases[k].ndim, "%s: %d axes", cases[k].expr, cask_array_ndim(r));
    for (int i = 0; i < cases[k].ndim; i++)
      ck_assert_msg(cask_array_shape(r)[i] == cases[k].shape[i], "%s: axis %d", cases[k].expr, i);
    cask_array_release(r);
  }
  /* broadcasting with a new axis: the outer difference of a column and a row */
  cask_array *d = eval1(ctx, "x[:, 0][:, None] - x[0, :][None, :]", x);
  double v[24];
  values(d, v, 24);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 6; j++) ck_assert(v[i * 6 + j] == 6.0 * i - j);
  cask_array_release(d);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_expr_suite(void) {
  Suite *s = suite_create("array_expr");
  TCase *tc = tcase_create("expr");
  tcase_add_test(tc, reductions_take_axis_as_int_tuple_or_none_and_ddof);
  tcase_add_test(tc, slices_indexes_transposes_and_rechunk_match_loops);
  tcase_add_test(tc, matmul_operator_and_astype_build_the_c_calls_nodes);
  tcase_add_test(tc, errors_name_the_column_and_leak_nothing);
  tcase_add_test(tc, regress_integer_literals_go_through_double);
  tcase_add_test(tc, constants_pi_e_inf_nan);
  tcase_add_test(tc, none_and_newaxis_add_axes);
  tcase_add_test(tc, lists_tuples_and_keepdims);
  tcase_add_test(tc, a_tuple_of_arrays_is_named_in_the_error);
  tcase_add_test(tc, arrays_graph_computes_shared_steps_once_and_reports_every_block_key);
  suite_add_tcase(s, tc);
  return s;
}
