/* expr-int.h - what the expression parser (parse.c) shares with its array
 * functions (call.c: the table and the binding of arguments; call-shape.c:
 * joining and shape functions; call-stats.c: cumulative functions):
 * values, arguments, and the helpers that report an error at a column. */
#ifndef CASK_ARRAY_EXPR_INT_H
#define CASK_ARRAY_EXPR_INT_H

#include "../ops/ops.h"

typedef struct value {
  cask_array *a; /* NULL: a number */
  double num;
  int64_t i;  /* the number, exactly, when is_int (a double is exact only to 2^53) */
  int is_int; /* the number is an int64 integer (a literal without '.' or 'e',
                 or integers folded without overflow); 2: a bool */
} value;

typedef struct parser {
  cask_ctx *ctx;
  const char *s, *p;
  const char *const *names;
  cask_array *const *values;
  size_t nvars;
  int depth;
} parser;

/* An argument is an expression, a list [a, b] or tuple (a, b) of
 * arguments (nested: pad's ((1, 2), (0, 3))), a string 'float32' or
 * None, optionally after a keyword "axis=". */
typedef enum arg_kind { ARG_VALUE, ARG_SEQ, ARG_STR, ARG_NONE } arg_kind;
typedef struct arg {
  const char *at; /* where the argument's value starts */
  const char *kw; /* its keyword, or NULL */
  const char *sep; /* the ',' before it (NULL for the first) */
  size_t kwlen;
  arg_kind kind;
  value v;
  int nitems;         /* ARG_SEQ: its items */
  struct arg *items;
  char open;          /* ARG_SEQ: '[' or '(' */
  int nints;          /* ARG_SEQ of at most CASK_MAX_NDIM integers: them; else -1 */
  int64_t ints[CASK_MAX_NDIM];
  char str[24];
} arg;
#define MAX_ARGS 6

typedef struct array_fn array_fn;
/* The call's work once its arguments are bound (b[k]: parameter k, NULL
 * when not given; b[0] is already an array where the function needs one). */
typedef int (*array_fn_apply)(parser *ps, const char *at, const array_fn *fn, arg **b, value *out);
#define MAX_PARAMS 5
struct array_fn {
  const char *name;
  array_fn_apply apply;
  int op;
  const char *params[MAX_PARAMS]; /* their names, for keywords and messages */
  int nreq;                       /* how many are required */
  int npos;                       /* how many may be given by position (0: all) */
  int list;                       /* the first parameter is a list of arrays (else an array) */
};

/* parse.c */
/* "column N: what (in expression '...')" as the context's message; CASK_EINVAL. */
int cask__expr_fail(parser *ps, const char *at, const char *what);
/* The same with the context's own message (what the last call said). */
int cask__expr_fail_ctx(parser *ps, const char *at);
void cask__expr_drop(value *v);
/* v as an array (a number becomes a 0-d array, an integer int64). */
int cask__expr_as_array(parser *ps, value *v);
/* A number that is an int64 integer into *out (1), else 0. */
int cask__expr_int(const value *v, int64_t *out);
/* A unary op on a value (a number is folded), consuming it. */
int cask__expr_apply1(parser *ps, const char *at, int op, value *x, value *out);
/* call.c */
/* 'float32', 'f4', 'int', ... into *dt (1), else 0. */
int cask__expr_dtype(const char *s, cask_dtype *dt);
/* The array function named name[0..len), bound to args and applied; 0 in
 * *found when there is none by that name. */
int cask__expr_call(parser *ps, const char *name, size_t len, const char *at, arg *args, int n, value *out,
                    int *found);
/* An argument as an array (fn's parameter param). */
int cask__expr_array_arg(parser *ps, const array_fn *fn, const char *param, arg *g);
/* Integers from an argument: a tuple or list, or one integer (n = 1); None
 * gives n = -1 when allowed. */
int cask__expr_ints(parser *ps, const array_fn *fn, const char *param, arg *g, int allow_none, int64_t *ints,
                    int *n);
/* axis= as ints (None: n = -1), each within CASK_MAX_NDIM's range. */
int cask__expr_axes(parser *ps, const array_fn *fn, arg *g, int *axes, int *n);
/* A reduction's axis, ddof (when fn->params[3] is keepdims: b[2]) and
 * keepdims arguments (b[1] ...), each refused at its column. */
int cask__expr_reduce_args(parser *ps, const array_fn *fn, arg **b, int *axes, int *n, int *ddof, int *keep);
/* keepdims=True: out (a reduction of a over n axes, n <= 0: all) given the
 * reduced axes back, with extent 1. */
int cask__expr_keep_dims(parser *ps, const char *at, const cask_array *a, const int *axes, int n, value *out);

/* call-shape.c: its entries of the table (call.c) */
extern const array_fn cask__expr_shape_fns[];
extern const size_t cask__expr_shape_nfns;
/* call-stats.c: cumulative functions and statistics */
extern const array_fn cask__expr_stats_fns[];
extern const size_t cask__expr_stats_nfns;
/* call-sort.c: sorting, order statistics, counting and searching */
extern const array_fn cask__expr_sort_fns[];
extern const size_t cask__expr_sort_nfns;
/* call-select.c: selection functions, and the advanced index of a
 * subscript: x (already sliced by the other items) indexed along axis by
 * g (a list of integers or bools, or an array value), or by idx. */
extern const array_fn cask__expr_select_fns[];
extern const size_t cask__expr_select_nfns;
int cask__expr_advanced(parser *ps, const char *at, cask_array *x, int axis, arg *g, cask_array **out);
int cask__expr_advanced_array(parser *ps, const char *at, cask_array *x, int axis, cask_array *idx, cask_array **out);
/* call-linalg.c: nanargmin/nanargmax, cov, corrcoef, linear algebra */
extern const array_fn cask__expr_linalg_fns[];
extern const size_t cask__expr_linalg_nfns;
/* einsum('subscripts', a, ...): its own binding (a string, then arrays). */
int cask__expr_einsum(parser *ps, const char *at, arg *args, int n, value *out);

#endif
