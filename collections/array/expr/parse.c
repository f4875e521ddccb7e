/* parse.c - NumExpr-style expression strings to lazy array nodes.
 * A recursive-descent parser with Python's precedence:
 *   compare := bitor (('<' | '<=' | '>' | '>=' | '==' | '!=') bitor)*
 *              (chained as Python: a < b < c is (a < b) & (b < c))
 *   bitor   := bitand ('|' bitand)*
 *   bitand  := sum ('&' sum)*
 *   sum     := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '//' | '%' | '@') unary)*
 *   unary   := ('-' | '+' | '~') unary | power
 *   power   := primary ('**' unary)?       (right-associative, and -a**2 is -(a**2))
 *   primary := atom ('[' subscript ']' | '.T' | '.' name '(' args ')')*
 *   atom    := number | True | False | name | name '(' args ')' | '(' compare ')'
 *   args    := [arg (',' arg)* [',']], arg := [name '='] value
 *   value   := compare | '[' [value (',' value)* [',']] ']'
 *              | '(' [value ',' [value (',' value)* [',']]] ')' | 'string' | None
 *              (a '(' holding a ',' at its own level, or nothing, is a tuple)
 * & | ~ are logical and/or/not (NumExpr's meaning on bools). A value is a
 * number or an array; operations on two numbers are folded while parsing,
 * so "2*3*a" is one multiplication by 6, and an index like x[n-1] is a
 * number by the time it is used. An integer literal is an integer scalar
 * (NumPy's weak Python int). Array functions (call.c, call-shape.c) bind
 * their arguments by position or keyword as NumPy's do; x.f(...) is
 * f(x, ...). Every error names the 1-based column where it was found. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr-int.h"

#define MAX_DEPTH 200 /* nesting: keeps hostile input off the stack's end */

static int col(const parser *ps, const char *at) { return (int)(at - ps->s) + 1; }

/* The column comes first and the expression is shown cut to 160 bytes, so
 * a long expression cannot push the column out of the message. */
int cask__expr_fail(parser *ps, const char *at, const char *what) {
  size_t len = strlen(ps->s);
  return cask__fail(ps->ctx, CASK_EINVAL, "column %d: %.600s (in expression '%.160s%s')", col(ps, at), what,
                    ps->s, len > 160 ? "..." : "");
}

static void skip(parser *ps) {
  while (isspace((unsigned char)*ps->p)) ps->p++;
}

void cask__expr_drop(value *v) {
  cask_array_release(v->a);
  v->a = NULL;
}

static double fold_binary(int op, double x, double y) {
  switch (op) {
  case CASK_ADD: return x + y;
  case CASK_SUB: return x - y;
  case CASK_MUL: return x * y;
  case CASK_DIV: return x / y;
  case CASK_POW: return pow(x, y);
  case CASK_MAXIMUM: return (x > y || x != x) ? x : y;
  case CASK_MINIMUM: return (x < y || x != x) ? x : y;
  case CASK_FLOOR_DIVIDE: return y == 0 ? x / y : floor(x / y);
  case CASK_MOD: {
    double m = fmod(x, y);
    return m != 0 && ((m < 0) != (y < 0)) ? m + y : m;
  }
  case CASK_EQUAL: return x == y;
  case CASK_NOT_EQUAL: return x != y;
  case CASK_LESS: return x < y;
  case CASK_LESS_EQUAL: return x <= y;
  case CASK_GREATER: return x > y;
  case CASK_GREATER_EQUAL: return x >= y;
  case CASK_LOGICAL_AND: return x != 0 && y != 0;
  case CASK_LOGICAL_OR: return x != 0 || y != 0;
  default: return atan2(x, y);
  }
}

/* Python's floor division and modulo of integers (y != 0). */
static int64_t floordiv_i64(int64_t x, int64_t y) {
  int64_t q = x / y;
  return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
}

/* op on two int64 integers as Python computes it, into *r; 0 when the
 * result is not an int64 (an overflow, a negative power: then the double
 * folding stands, as it did for every integer before). */
static int fold_int(int op, int64_t x, int64_t y, int64_t *r) {
  switch (op) {
  case CASK_ADD: return !__builtin_add_overflow(x, y, r);
  case CASK_SUB: return !__builtin_sub_overflow(x, y, r);
  case CASK_MUL: return !__builtin_mul_overflow(x, y, r);
  case CASK_MAXIMUM: *r = x > y ? x : y; return 1;
  case CASK_MINIMUM: *r = x < y ? x : y; return 1;
  case CASK_FLOOR_DIVIDE:
    if (y == 0 || (x == INT64_MIN && y == -1)) return 0;
    *r = floordiv_i64(x, y);
    return 1;
  case CASK_MOD:
    if (y == 0) return 0;
    if (y == -1) { *r = 0; return 1; } /* INT64_MIN % -1 traps in C */
    /* C's remainder moved to y's sign; x - floor(x / y) * y overflows
     * its product for x near INT64_MIN (found by fuzz_array_eval) */
    *r = x % y;
    if (*r != 0 && ((*r < 0) != (y < 0))) *r += y;
    return 1;
  case CASK_POW: {
    if (y < 0) return 0;
    int64_t acc = 1;
    for (int64_t k = 0; k < y; k++) {
      if (__builtin_mul_overflow(acc, x, &acc)) return 0;
      if (acc == 0 || acc == 1 || (acc == -1 && k > 64)) { /* stays put from here */
        *r = acc == -1 ? ((y - k - 1) % 2 ? 1 : -1) : acc;
        return 1;
      }
    }
    *r = acc;
    return 1;
  }
  case CASK_EQUAL: *r = x == y; return 1;
  case CASK_NOT_EQUAL: *r = x != y; return 1;
  case CASK_LESS: *r = x < y; return 1;
  case CASK_LESS_EQUAL: *r = x <= y; return 1;
  case CASK_GREATER: *r = x > y; return 1;
  case CASK_GREATER_EQUAL: *r = x >= y; return 1;
  case CASK_LOGICAL_AND: *r = x != 0 && y != 0; return 1;
  case CASK_LOGICAL_OR: *r = x != 0 || y != 0; return 1;
  default: return 0;
  }
}

/* Whether op on two integers gives an integer (Python's int arithmetic). */
static int int_result(int op, double x, double y) {
  switch (op) {
  case CASK_ADD:
  case CASK_SUB:
  case CASK_MUL:
  case CASK_MAXIMUM:
  case CASK_MINIMUM: return 1;
  case CASK_FLOOR_DIVIDE:
  case CASK_MOD: return y != 0;
  case CASK_POW: return y >= 0;
  default: return op >= CASK_EQUAL && op <= CASK_LOGICAL_OR;
  }
}

static double fold_unary(int op, double x) {
  static double (*const f[])(double) = {NULL, fabs, sqrt, exp, expm1, log, log1p, log2, log10, sin,
                                        cos, tan, asin, acos, atan, sinh, cosh, tanh, floor, ceil,
                                        nearbyint};
  switch (op) {
  case CASK_NEGATIVE: return -x;
  case CASK_ISNAN: return x != x;
  case CASK_ISFINITE: return isfinite(x) != 0;
  case CASK_LOGICAL_NOT: return x == 0;
  default: return f[op](x);
  }
}

/* array op number (or number op array with CASK_SCALAR_FIRST) */
static int with_scalar(int op, cask_array *a, const value *v, int first, cask_array **out) {
  if (v->is_int == 1) return cask_binary_scalar_int(op, a, v->i, first, out);
  return cask_binary_scalar(op, a, v->num, first | (v->is_int == 2 ? CASK_SCALAR_BOOL : 0), out);
}

/* Apply op to two values, consuming them. */
static int apply2(parser *ps, const char *at, int op, value *x, value *y, value *out) {
  int rc = CASK_OK;
  out->a = NULL;
  out->is_int = 0;
  if (!x->a && !y->a) {
    out->num = fold_binary(op, x->num, y->num);
    out->is_int = x->is_int && y->is_int && int_result(op, x->num, y->num);
    if (out->is_int && !fold_int(op, x->i, y->i, &out->i)) out->is_int = 0; /* beyond int64 */
    if (out->is_int) out->num = (double)out->i;
    if (out->is_int && (op >= CASK_EQUAL || (x->is_int == 2 && y->is_int == 2 && op != CASK_SUB)))
      out->is_int = 2; /* comparisons, and bool op bool, stay bools */
  } else if (!y->a) {
    rc = with_scalar(op, x->a, y, 0, &out->a);
  } else if (!x->a) {
    rc = with_scalar(op, y->a, x, CASK_SCALAR_FIRST, &out->a);
  } else {
    rc = cask_binary(op, x->a, y->a, &out->a);
  }
  cask__expr_drop(x);
  cask__expr_drop(y);
  if (rc) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s", cask_ctx_errmsg(ps->ctx));
    return cask__expr_fail(ps, at, msg);
  }
  return CASK_OK;
}

int cask__expr_apply1(parser *ps, const char *at, int op, value *x, value *out) {
  out->a = NULL;
  if (!x->a) {
    out->num = fold_unary(op, x->num);
    out->is_int = op == CASK_ISNAN || op == CASK_ISFINITE || op == CASK_LOGICAL_NOT ? 2
                  : x->is_int && (op == CASK_NEGATIVE || op == CASK_ABS || op == CASK_ROUND);
    out->i = out->is_int == 2 ? (int64_t)out->num : x->i;
    if (out->is_int == 1 && (op == CASK_NEGATIVE || (op == CASK_ABS && x->i < 0))) {
      if (x->i == INT64_MIN) out->is_int = 0; /* -2^63 has no int64 negation */
      else out->i = -x->i;
    }
    return CASK_OK;
  }
  int rc = cask_unary(op, x->a, &out->a);
  cask__expr_drop(x);
  return rc ? cask__expr_fail(ps, at, cask_ctx_errmsg(ps->ctx)) : CASK_OK;
}

static int parse_sum(parser *ps, value *out);
static int parse_compare(parser *ps, value *out);
static int parse_unary(parser *ps, value *out);
static int parse_call(parser *ps, const char *name, size_t len, const char *at, value *self, value *out);

static const struct {
  const char *name;
  int nargs, op;
} functions[] = {
    {"negative", 1, CASK_NEGATIVE}, {"abs", 1, CASK_ABS},       {"sqrt", 1, CASK_SQRT},
    {"exp", 1, CASK_EXP},           {"expm1", 1, CASK_EXPM1},   {"log", 1, CASK_LOG},
    {"log1p", 1, CASK_LOG1P},       {"log2", 1, CASK_LOG2},     {"log10", 1, CASK_LOG10},
    {"sin", 1, CASK_SIN},           {"cos", 1, CASK_COS},       {"tan", 1, CASK_TAN},
    {"arcsin", 1, CASK_ARCSIN},     {"arccos", 1, CASK_ARCCOS}, {"arctan", 1, CASK_ARCTAN},
    {"sinh", 1, CASK_SINH},         {"cosh", 1, CASK_COSH},     {"tanh", 1, CASK_TANH},
    {"floor", 1, CASK_FLOOR},       {"ceil", 1, CASK_CEIL},     {"arctan2", 2, CASK_ARCTAN2},
    {"maximum", 2, CASK_MAXIMUM},   {"minimum", 2, CASK_MINIMUM}, {"power", 2, CASK_POW},
    {"isnan", 1, CASK_ISNAN},   {"isfinite", 1, CASK_ISFINITE},
    {"where", 3, -1},               {"clip", 3, -2},
};

/* A number as a 0-d array (where needs arrays): an integer is int64, as
 * NumPy makes a Python int. */
static int number_array(cask_ctx *ctx, const value *v, cask_array **out) {
  if (v->is_int != 1)
    return cask_full(ctx, v->is_int == 2 ? CASK_BOOL : CASK_F64, v->num, 0, NULL, NULL, out);
  /* zeros + i: cask_full's value is a double, exact only to 2^53 */
  cask_array *z;
  int rc = cask_zeros(ctx, CASK_I64, 0, NULL, NULL, &z);
  if (rc) return rc;
  rc = cask_binary_scalar_int(CASK_ADD, z, v->i, 0, out);
  cask_array_release(z);
  return rc;
}

int cask__expr_as_array(parser *ps, value *v) {
  if (v->a) return CASK_OK;
  return number_array(ps->ctx, v, &v->a);
}

/* The context's message at a column (copied first: fail_at writes the
 * context's message buffer). */
int cask__expr_fail_ctx(parser *ps, const char *at) {
  char msg[900];
  snprintf(msg, sizeof msg, "%s", cask_ctx_errmsg(ps->ctx));
  return cask__expr_fail(ps, at, msg);
}

static int apply3(parser *ps, const char *at, int fn, value *args, value *out) {
  int rc = CASK_OK;
  out->a = NULL;
  if (fn == -2) { /* clip(a, lo, hi): bounds are numbers */
    if (args[1].a || args[2].a) rc = cask__expr_fail(ps, at, "clip: the bounds must be numbers");
    else if (!args[0].a) {
      double v = args[0].num, lo = args[1].num, hi = args[2].num;
      out->num = v < lo ? lo : v > hi ? hi : v;
      out->is_int = args[0].is_int && args[1].is_int && args[2].is_int;
      if (out->is_int) {
        int64_t iv = args[0].i, ilo = args[1].i, ihi = args[2].i;
        out->i = iv < ilo ? ilo : iv > ihi ? ihi : iv;
        out->num = (double)out->i;
        out->is_int = 1;
      }
    } else if ((rc = cask_clip(args[0].a, args[1].num, args[2].num, &out->a))) {
      rc = cask__expr_fail_ctx(ps, at);
    }
  } else {
    for (int k = 0; k < 3 && !rc; k++) rc = cask__expr_as_array(ps, &args[k]);
    if (!rc && (rc = cask_where(args[0].a, args[1].a, args[2].a, &out->a))) rc = cask__expr_fail_ctx(ps, at);
  }
  for (int k = 0; k < 3; k++) cask__expr_drop(&args[k]);
  return rc;
}

/* A value that is an integer number within int64's range (folding can
 * make integers too big for it: 10**30). */
int cask__expr_int(const value *v, int64_t *out) {
  if (v->a || v->is_int != 1) return 0;
  *out = v->i;
  return 1;
}

/* ---- calls: arguments (struct arg, expr-int.h) ------------------------ */

static void drop_arg(arg *g) {
  cask__expr_drop(&g->v);
  for (int k = 0; k < g->nitems; k++) drop_arg(&g->items[k]);
  cask__free(g->items);
  g->items = NULL;
  g->nitems = 0;
}

static void drop_args(arg *args, int n) {
  for (int k = 0; k < n; k++) drop_arg(&args[k]);
}

#define MAX_ITEMS 4096 /* items of one list or tuple */

/* Whether the parenthesis at p holds a tuple: a ',' at its own level
 * before its ')', or nothing ("()"); "(2) * 3" is an expression. */
static int is_tuple(const char *p) {
  int level = 0;
  const char *q = p + 1;
  while (isspace((unsigned char)*q)) q++;
  if (*q == ')') return 1;
  for (; *p; p++) {
    if (*p == '\'' || *p == '"') {
      const char *close = strchr(p + 1, *p);
      if (!close) return 0;
      p = close;
    } else if (*p == '(' || *p == '[') {
      level++;
    } else if (*p == ')' || *p == ']') {
      if (--level == 0) return 0;
    } else if (*p == ',' && level == 1) {
      return 1;
    }
  }
  return 0;
}

static int parse_arg_value(parser *ps, arg *g);

/* A list [..] or tuple (..) at ps->p: its items, and its integers in
 * g->ints when every item is one. */
static int parse_seq(parser *ps, arg *g) {
  char close = *ps->p == '[' ? ']' : ')';
  int cap = 0;
  g->kind = ARG_SEQ;
  g->open = *ps->p++;
  if (++ps->depth > MAX_DEPTH) return cask__expr_fail(ps, g->at, "nested too deeply");
  for (;;) {
    skip(ps);
    if (*ps->p == close) break;
    if (g->nitems == MAX_ITEMS) return cask__expr_fail(ps, ps->p, "more than 4096 items in a list or tuple");
    if (g->nitems == cap) {
      int ncap = cap ? 2 * cap : 8;
      arg *items = cask__realloc(g->items, (size_t)ncap * sizeof *items);
      if (!items) return cask__fail(ps->ctx, CASK_ENOMEM, "out of memory parsing a list");
      memset(items + cap, 0, (size_t)(ncap - cap) * sizeof *items);
      g->items = items;
      cap = ncap;
    }
    arg *it = &g->items[g->nitems++];
    it->at = ps->p;
    int rc = parse_arg_value(ps, it);
    if (rc) return rc;
    skip(ps);
    if (*ps->p == close) break;
    if (*ps->p != ',')
      return cask__expr_fail(ps, ps->p,
                             close == ']' ? "expected ',' or ']' in the list" : "expected ',' or ')' in the tuple");
    ps->p++;
  }
  ps->p++;
  ps->depth--;
  g->nints = g->nitems <= CASK_MAX_NDIM ? g->nitems : -1;
  for (int k = 0; k < g->nitems && g->nints >= 0; k++)
    if (g->items[k].kind != ARG_VALUE || !cask__expr_int(&g->items[k].v, &g->ints[k])) g->nints = -1;
  return CASK_OK;
}

static int word_at(const char *p, const char *w) {
  size_t n = strlen(w);
  return !strncmp(p, w, n) && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

static int parse_arg_value(parser *ps, arg *g) {
  const char *p = ps->p;
  if (*p == '\'' || *p == '"') {
    const char *close = strchr(p + 1, *p);
    if (!close) return cask__expr_fail(ps, p, "the string is not closed");
    if ((size_t)(close - p - 1) >= sizeof g->str) return cask__expr_fail(ps, p, "the string is too long");
    memcpy(g->str, p + 1, (size_t)(close - p - 1));
    g->kind = ARG_STR;
    ps->p = close + 1;
    return CASK_OK;
  }
  if (word_at(p, "None")) {
    g->kind = ARG_NONE;
    ps->p = p + 4;
    return CASK_OK;
  }
  if (*p == '[' || (*p == '(' && is_tuple(p))) return parse_seq(ps, g);
  g->kind = ARG_VALUE;
  return parse_compare(ps, &g->v);
}

static int parse_arg(parser *ps, arg *g) {
  skip(ps);
  const char *e = ps->p;
  if (isalpha((unsigned char)*e) || *e == '_') {
    while (isalnum((unsigned char)*e) || *e == '_') e++;
    const char *q = e;
    while (isspace((unsigned char)*q)) q++;
    if (*q == '=' && q[1] != '=') {
      g->kw = ps->p;
      g->kwlen = (size_t)(e - ps->p);
      ps->p = q + 1;
      skip(ps);
    }
  }
  g->at = ps->p;
  return parse_arg_value(ps, g);
}

/* The arguments from '(' at ps->p to ')'; self (a method's object) comes
 * first. args[] must be zeroed; the caller drops them. */
static int parse_args(parser *ps, value *self, const char *self_at, arg *args, int *n, const char **close) {
  *n = 0;
  if (self) {
    args[0].at = self_at;
    args[0].v = *self;
    self->a = NULL;
    *n = 1;
  }
  ps->p++; /* '(' */
  skip(ps);
  const char *sep = NULL;
  if (*ps->p == ')') {
    *close = ps->p++;
    return CASK_OK;
  }
  for (;;) {
    if (*n == MAX_ARGS) return cask__expr_fail(ps, ps->p, "too many arguments");
    args[*n].sep = sep;
    int rc = parse_arg(ps, &args[*n]);
    if (rc) return rc;
    (*n)++;
    skip(ps);
    if (*ps->p == ')') break;
    if (*ps->p != ',') return cask__expr_fail(ps, ps->p, "expected ',' or ')' after an argument");
    sep = ps->p++;
    skip(ps);
    if (*ps->p == ')') break; /* a trailing comma */
  }
  *close = ps->p++;
  return CASK_OK;
}

/* NumPy's names of clip's arguments (where and the ufuncs take none). */
static const char *const clip_params[3] = {"a", "a_min", "a_max"};

/* An elementwise function of the first table: positional values only. A
 * wrong count is reported where the text goes wrong: the ',' of the first
 * argument too many, or the ')' that comes too early. */
static int apply_elem(parser *ps, const char *at, size_t f, arg *args, int n, const char *close, value *out) {
  char msg[200];
  int want = functions[f].nargs;
  if (n != want) {
    snprintf(msg, sizeof msg, "%s (%s takes %d argument%s, got %d)",
             n > want ? "expected ')' after the arguments" : n ? "expected ',' between the arguments"
                                                                : "expected a number, a name or '('",
             functions[f].name, want, want > 1 ? "s" : "", n);
    return cask__expr_fail(ps, n > want && args[want].sep ? args[want].sep : close, msg);
  }
  value v[3] = {{0}, {0}, {0}};
  int slot[3] = {0, 1, 2}, given = 0;
  for (int k = 0; k < n; k++) {
    if (args[k].kw) {
      const char *const *names = functions[f].op == -2 ? clip_params : NULL;
      for (slot[k] = 0; names && slot[k] < 3; slot[k]++)
        if (strlen(names[slot[k]]) == args[k].kwlen && !memcmp(names[slot[k]], args[k].kw, args[k].kwlen)) break;
      if (!names || slot[k] == 3 || (given >> slot[k]) & 1) {
        snprintf(msg, sizeof msg,
                 names ? "%s: unknown or repeated keyword '%.*s'" : "%s takes no keyword arguments ('%.*s')",
                 functions[f].name, (int)(args[k].kwlen > 64 ? 64 : args[k].kwlen), args[k].kw);
        return cask__expr_fail(ps, args[k].kw, msg);
      }
    } else if (k > 0 && args[k - 1].kw) {
      return cask__expr_fail(ps, args[k].at, "a positional argument after a keyword argument");
    }
    given |= 1 << slot[k];
    if (args[k].kind != ARG_VALUE) {
      snprintf(msg, sizeof msg, "%s: expected an array or a number", functions[f].name);
      return cask__expr_fail(ps, args[k].at, msg);
    }
  }
  for (int k = 0; k < n; k++) {
    v[slot[k]] = args[k].v;
    args[k].v.a = NULL; /* the apply functions consume them */
  }
  if (n == 3) return apply3(ps, at, functions[f].op, v, out);
  return n == 1 ? cask__expr_apply1(ps, at, functions[f].op, &v[0], out) : apply2(ps, at, functions[f].op, &v[0], &v[1], out);
}

/* map_blocks('kernel', x[, y...], dtype='float32'): a kernel registered by
 * name (cask_kernel_register, a plugin of the cask program). */
static int do_map_blocks(parser *ps, const char *at, arg *args, int n, value *out) {
  char msg[200];
  if (n < 2 || args[0].kw || args[0].kind != ARG_STR)
    return cask__expr_fail(ps, n ? args[0].at : at, "map_blocks: expected a kernel's name as a string, then its arrays");
  cask_map_spec spec = {0};
  if (!cask__kernel_find(args[0].str, &spec)) {
    snprintf(msg, sizeof msg, "map_blocks: no kernel is registered as '%s' (load its plugin with --plugin)",
             args[0].str);
    return cask__expr_fail(ps, args[0].at, msg);
  }
  cask_array *in[MAX_ARGS];
  int nin = 0, dt = -1;
  for (int k = 1; k < n; k++) {
    if (args[k].kw && args[k].kwlen == 5 && !memcmp(args[k].kw, "dtype", 5)) {
      cask_dtype d;
      if (args[k].kind != ARG_STR || !cask__expr_dtype(args[k].str, &d))
        return cask__expr_fail(ps, args[k].at, "map_blocks: dtype must be a string such as 'float32'");
      dt = (int)d;
    } else if (args[k].kw || args[k].kind != ARG_VALUE || !args[k].v.a) {
      return cask__expr_fail(ps, args[k].kw ? args[k].kw : args[k].at,
                     "map_blocks: expected arrays after the kernel's name, and dtype= (no other keyword)");
    } else {
      in[nin++] = args[k].v.a;
    }
  }
  if (!nin) return cask__expr_fail(ps, at, "map_blocks: no array to map");
  spec.dtype = dt >= 0 ? (cask_dtype)dt : cask_array_dtype(in[0]);
  return cask_map_blocks(&spec, nin, in, &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

/* name(args) at ps->p == '(' (self: the object of a method call x.name(...),
 * or NULL; consumed). */
static int parse_call(parser *ps, const char *name, size_t len, const char *at, value *self, value *out) {
  arg args[MAX_ARGS];
  memset(args, 0, sizeof args);
  const char *close = NULL;
  int n, rc = parse_args(ps, self, at, args, &n, &close);
  out->a = NULL;
  if (rc) goto done;
  for (size_t f = 0; f < sizeof functions / sizeof functions[0]; f++)
    if (strlen(functions[f].name) == len && !memcmp(functions[f].name, name, len)) {
      rc = apply_elem(ps, at, f, args, n, close, out);
      goto done;
    }
  int found;
  rc = cask__expr_call(ps, name, len, at, args, n, out, &found);
  if (found) goto done;
  if (len == 10 && !memcmp(name, "map_blocks", 10)) {
    rc = do_map_blocks(ps, at, args, n, out);
    goto done;
  }
  char msg[200];
  snprintf(msg, sizeof msg, "unknown function '%.*s'", (int)(len > 64 ? 64 : len), name);
  rc = cask__expr_fail(ps, at, msg);
done:
  drop_args(args, MAX_ARGS);
  return rc;
}

static int parse_atom(parser *ps, value *out) {
  skip(ps);
  const char *at = ps->p;
  out->a = NULL;
  if (*at == '(') {
    ps->p++;
    int rc = parse_compare(ps, out);
    if (rc) return rc;
    skip(ps);
    if (*ps->p != ')') {
      cask__expr_drop(out);
      return cask__expr_fail(ps, ps->p, *ps->p == ',' ? "expected ')': a tuple such as (a, b) is only a function's argument"
                                              : "expected ')'");
    }
    ps->p++;
    return CASK_OK;
  }
  if (isdigit((unsigned char)*at) || (*at == '.' && isdigit((unsigned char)at[1]))) {
    char *end;
    out->num = strtod(at, &end);
    if (isalpha((unsigned char)*end) || *end == '_') return cask__expr_fail(ps, end, "a number runs into a name");
    out->is_int = !memchr(at, '.', (size_t)(end - at)) && !memchr(at, 'e', (size_t)(end - at)) &&
                  !memchr(at, 'E', (size_t)(end - at));
    if (out->is_int) { /* exactly, as int64; a larger one stays a double */
      errno = 0;
      out->i = strtoll(at, NULL, 10);
      out->is_int = errno != ERANGE;
    }
    ps->p = end;
    return CASK_OK;
  }
  if (isalpha((unsigned char)*at) || *at == '_') {
    const char *e = at;
    while (isalnum((unsigned char)*e) || *e == '_') e++;
    size_t len = (size_t)(e - at);
    ps->p = e;
    skip(ps);
    if (*ps->p == '(') return parse_call(ps, at, len, at, NULL, out);
    if ((len == 4 && !memcmp(at, "True", 4)) || (len == 5 && !memcmp(at, "False", 5))) {
      out->num = out->i = len == 4;
      out->is_int = 2;
      return CASK_OK;
    }
    for (size_t i = 0; i < ps->nvars; i++)
      if (ps->names[i] && strlen(ps->names[i]) == len && !memcmp(ps->names[i], at, len)) {
        if (!ps->values[i]) return cask__expr_fail(ps, at, "the variable's array is NULL");
        out->a = cask_array_retain(ps->values[i]);
        return CASK_OK;
      }
    /* NumPy's constants, unless a variable has the name */
    static const struct {
      const char *name;
      double value;
    } constants[] = {{"pi", 3.14159265358979323846}, {"e", 2.71828182845904523536}, {"inf", INFINITY}, {"nan", NAN}};
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
      if (strlen(constants[i].name) == len && !memcmp(constants[i].name, at, len)) {
        out->num = constants[i].value;
        out->is_int = 0;
        return CASK_OK;
      }
    char msg[200];
    snprintf(msg, sizeof msg, "unknown name '%.*s'", (int)(len > 64 ? 64 : len), at);
    return cask__expr_fail(ps, at, msg);
  }
  return cask__expr_fail(ps, at, *at ? "expected a number, a name or '('" : "the expression ends too early");
}

/* One subscript: an integer expression (folded to a number). */
static int index_int(parser *ps, int64_t *out) {
  const char *at = ps->p;
  value v;
  int rc = parse_sum(ps, &v);
  if (rc) return rc;
  if (!cask__expr_int(&v, out)) {
    cask__expr_drop(&v);
    return cask__expr_fail(ps, at, "an index must be an integer (within int64's range)");
  }
  return CASK_OK;
}

/* One item of a subscript: "i", a slice "start:stop:step" with any part
 * left out, or an advanced index (*adv set: a list [3, 1, 4] or an array
 * expression such as x > 0.5, left in adv for the caller). */
static int parse_index_item(parser *ps, cask_index *x, arg *adv, int *is_adv) {
  int64_t v[3] = {CASK_NONE, CASK_NONE, 1};
  int rc, is_slice = 0;
  const char *at = ps->p;
  *is_adv = 0;
  skip(ps);
  if (*ps->p == '[') {
    adv->at = ps->p;
    *is_adv = 1;
    return parse_seq(ps, adv);
  }
  if (*ps->p != ':' && *ps->p != ',' && *ps->p != ']') { /* the first part: any expression */
    const char *vat = ps->p;
    value val = {0};
    if ((rc = parse_compare(ps, &val))) return rc;
    skip(ps);
    if (val.a) {
      if (*ps->p == ':') {
        cask__expr_drop(&val);
        return cask__expr_fail(ps, vat, "an array cannot bound a slice");
      }
      adv->at = vat;
      adv->kind = ARG_VALUE;
      adv->v = val;
      *is_adv = 1;
      return CASK_OK;
    }
    if (!cask__expr_int(&val, &v[0])) return cask__expr_fail(ps, vat, "an index must be an integer (within int64's range)");
  }
  for (int part = 0;; part++) {
    skip(ps);
    if (part > 0 && *ps->p != ':' && *ps->p != ',' && *ps->p != ']' && (rc = index_int(ps, &v[part]))) return rc;
    skip(ps);
    if (*ps->p != ':' || part == 2) break;
    ps->p++;
    is_slice = 1;
  }
  if (!is_slice && v[0] == CASK_NONE) return cask__expr_fail(ps, at, "expected an index or a slice");
  if (is_slice && v[2] == CASK_NONE) v[2] = 1;
  *x = is_slice ? CASK_SLICE(v[0], v[1], v[2]) : CASK_AT(v[0]);
  return CASK_OK;
}

/* The result's shape with an axis of extent 1 wherever the subscript had
 * None (or newaxis): kind[k] of item k is 'n' (new axis), 'i' (an index:
 * no axis) or 's' (a slice); the sliced array r's axes follow. */
static int insert_new_axes(const char *kind, int nitems, const cask_array *r, int64_t *shape) {
  int nd = 0, ax = 0;
  for (int k = 0; k < nitems; k++) {
    if (nd == CASK_MAX_NDIM) return -1;
    if (kind[k] == 'n') shape[nd++] = 1;
    else if (kind[k] == 's') shape[nd++] = cask_array_shape(r)[ax++];
  }
  for (; ax < cask_array_ndim(r); ax++) {
    if (nd == CASK_MAX_NDIM) return -1;
    shape[nd++] = cask_array_shape(r)[ax];
  }
  return nd;
}

/* x[mask] or x[..., idx, ...] with one advanced item (kind 'a', at
 * item p of n index items): the other items slice first, then the
 * advanced one indexes its axis; where NumPy puts the result's axes first
 * (integers and the array apart), the indexed axis is moved to the front
 * before indexing, so an index array of k axes lands its k axes at 0..k-1
 * and a selection's axis of unknown length is made in place. */
static int apply_advanced(parser *ps, const char *at, value *out, cask_index *idx, const char *kind, int n,
                          int p, arg *adv) {
  cask_array *x = out->a, *r = NULL, *t = NULL;
  int rc;
  if (n == 1 && adv->kind == ARG_VALUE && cask_array_dtype(adv->v.a) == CASK_BOOL &&
      cask_array_ndim(adv->v.a) == cask_array_ndim(x) && cask_array_ndim(x) != 1) {
    if (cask_mask_select(x, adv->v.a, &r)) return cask__expr_fail_ctx(ps, at);
  } else {
    int axis = 0, lo = p, hi = p, nint = 0;
    for (int k = 0; k < p; k++) axis += kind[k] == 's';
    for (int k = 0; k < n; k++)
      if (kind[k] == 'i') {
        nint++;
        if (k < lo) lo = k;
        if (k > hi) hi = k;
      }
    if (n > cask_array_ndim(x)) return cask__expr_fail(ps, at, "too many indices for the array");
    idx[p] = CASK_COLON;
    int whole = 1; /* nothing to slice: also for arrays of unknown lengths */
    for (int k = 0; k < n; k++)
      whole &= !idx[k].is_int && idx[k].start == CASK_NONE && idx[k].stop == CASK_NONE && idx[k].step == 1;
    if (whole) t = cask_array_retain(x);
    else if (cask_slice(x, n, idx, &t)) return cask__expr_fail_ctx(ps, at);
    if (nint && hi - lo + 1 != nint + 1 && axis != 0) { /* not adjacent: NumPy's axes go first */
      int zero = 0;
      cask_array *s = t;
      int unknown = 0; /* an extent of -1: an axis of unknown length */
      for (int i = 0; i < cask_array_ndim(s); i++) unknown |= cask_array_shape(s)[i] < 0;
      if (unknown)
        rc = cask__expr_fail(ps, at, "indexing: the advanced index apart from the integer ones puts its axes first, "
                             "which needs the array's axes moved, but the array has blocks of unknown length "
                             "(after x[mask]); compute them first (compute_chunk_sizes(x))");
      else rc = cask_moveaxis(s, 1, &axis, &zero, &t) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
      cask_array_release(s);
      if (rc) return rc;
      axis = 0;
    }
    rc = cask__expr_advanced(ps, adv->at, t, axis, adv, &r); /* errors at the index's column */
    cask_array_release(t);
    if (rc) return rc;
  }
  cask_array_release(out->a);
  out->a = r;
  return CASK_OK;
}

/* x[...] at ps->p == '[': replaces *out by the slice (None or newaxis
 * items add axes of extent 1, as in NumPy), or by the selection of one
 * advanced item (a mask, a list of indices, an integer array). */
static int parse_subscript(parser *ps, value *out) {
  const char *at = ps->p++;
  cask_index idx[CASK_MAX_NDIM];
  char kind[2 * CASK_MAX_NDIM];
  int n = 0, nitems = 0, nnew = 0, rc = CASK_OK, nadv = 0, padv = -1;
  arg adv;
  memset(&adv, 0, sizeof adv);
  if (!out->a) return cask__expr_fail(ps, at, "only an array can be indexed");
  for (;;) {
    skip(ps);
    if (*ps->p == ']' && nitems > 0) break;
    if (nitems == 2 * CASK_MAX_NDIM) {
      rc = cask__expr_fail(ps, ps->p, "too many indexes");
      goto done;
    }
    if (word_at(ps->p, "None") || word_at(ps->p, "newaxis")) {
      ps->p += *ps->p == 'N' ? 4 : 7;
      kind[nitems++] = 'n';
      nnew++;
      skip(ps);
    } else {
      int is_adv;
      const char *item = ps->p;
      if (n == CASK_MAX_NDIM) {
        rc = cask__expr_fail(ps, ps->p, "too many indexes");
        goto done;
      }
      arg one;
      memset(&one, 0, sizeof one);
      if ((rc = parse_index_item(ps, &idx[n], &one, &is_adv))) {
        drop_arg(&one);
        goto done;
      }
      if (is_adv && nadv++) {
        drop_arg(&one);
        rc = cask__expr_fail(ps, item, "only one array or list index per subscript is supported");
        goto done;
      }
      if (is_adv) adv = one, padv = n;
      kind[nitems++] = is_adv ? 'a' : idx[n].is_int ? 'i' : 's';
      n++;
      skip(ps);
    }
    if (*ps->p == ']') break;
    if (*ps->p != ',') {
      rc = cask__expr_fail(ps, ps->p, "expected ',' or ']' in the subscript");
      goto done;
    }
    ps->p++;
  }
  ps->p++;
  if (nadv) {
    char k2[CASK_MAX_NDIM];
    for (int k = 0, j = 0; k < nitems; k++)
      if (kind[k] != 'n') k2[j++] = kind[k];
    rc = nnew ? cask__expr_fail(ps, at, "None (a new axis) beside an array index is not supported")
              : apply_advanced(ps, at, out, idx, k2, n, padv, &adv);
    goto done;
  }
  cask_array *r;
  if (n ? cask_slice(out->a, n, idx, &r) : !(r = cask_array_retain(out->a))) return cask__expr_fail_ctx(ps, at);
  if (nnew) {
    int64_t shape[CASK_MAX_NDIM];
    int nd = insert_new_axes(kind, nitems, r, shape);
    cask_array *e = NULL;
    if (nd < 0) {
      cask_array_release(r);
      return cask__expr_fail(ps, at, "the new axes make too many axes");
    }
    rc = cask_reshape(r, nd, shape, &e);
    cask_array_release(r);
    if (rc) return cask__expr_fail_ctx(ps, at);
    r = e;
  }
  cask_array_release(out->a);
  out->a = r;
done:
  drop_arg(&adv);
  return rc;
}

/* x.T or x.method(args) at ps->p == '.'. */
static int parse_attr(parser *ps, value *out) {
  const char *at = ps->p + 1, *e = at;
  while (isalnum((unsigned char)*e) || *e == '_') e++;
  ps->p = e;
  skip(ps);
  if (*ps->p == '(') {
    value self = *out;
    return parse_call(ps, at, (size_t)(e - at), at, &self, out);
  }
  if (e - at != 1 || *at != 'T') {
    char msg[200];
    snprintf(msg, sizeof msg, "unknown attribute '%.*s' (only .T, or a method call)", (int)(e - at > 64 ? 64 : e - at), at);
    return cask__expr_fail(ps, at, msg);
  }
  if (!out->a) return cask__expr_fail(ps, at, ".T needs an array");
  cask_array *r;
  if (cask_transpose(out->a, NULL, &r)) return cask__expr_fail_ctx(ps, at);
  cask_array_release(out->a);
  out->a = r;
  return CASK_OK;
}

/* primary := atom ('[' subscript ']' | '.T' | '.' name '(' args ')')* */
static int parse_primary(parser *ps, value *out) {
  int rc = parse_atom(ps, out);
  while (!rc) {
    skip(ps);
    if (*ps->p == '[') rc = parse_subscript(ps, out);
    else if (*ps->p == '.' && (isalpha((unsigned char)ps->p[1]) || ps->p[1] == '_')) rc = parse_attr(ps, out);
    else return CASK_OK;
  }
  cask__expr_drop(out);
  return rc;
}

/* a @ b: both arrays. */
static int apply_matmul(parser *ps, const char *at, value *x, value *y, value *out) {
  int rc = CASK_OK;
  out->a = NULL;
  out->is_int = 0;
  if (!x->a || !y->a) rc = cask__expr_fail(ps, at, "@ needs an array on both sides");
  else if (cask_matmul(x->a, y->a, &out->a)) rc = cask__expr_fail_ctx(ps, at);
  cask__expr_drop(x);
  cask__expr_drop(y);
  return rc;
}

static int parse_power(parser *ps, value *out) {
  int rc = parse_primary(ps, out);
  if (rc) return rc;
  skip(ps);
  if (ps->p[0] != '*' || ps->p[1] != '*') return CASK_OK;
  const char *at = ps->p;
  ps->p += 2;
  value e;
  if ((rc = parse_unary(ps, &e))) {
    cask__expr_drop(out);
    return rc;
  }
  value base = *out;
  return apply2(ps, at, CASK_POW, &base, &e, out);
}

static int parse_unary(parser *ps, value *out) {
  out->a = NULL; /* on every error path *out holds nothing to release */
  skip(ps);
  if (*ps->p != '-' && *ps->p != '+' && *ps->p != '~') return parse_power(ps, out);
  const char *at = ps->p;
  char sign = *ps->p++;
  int neg = sign != '+';
  if (++ps->depth > MAX_DEPTH) return cask__expr_fail(ps, at, "nested too deeply");
  value x;
  int rc = parse_unary(ps, &x);
  ps->depth--;
  if (rc) return rc;
  if (!neg) {
    *out = x;
    return CASK_OK;
  }
  return cask__expr_apply1(ps, at, sign == '~' ? CASK_LOGICAL_NOT : CASK_NEGATIVE, &x, out);
}

static int parse_term(parser *ps, value *out) {
  int rc = parse_unary(ps, out);
  for (;;) {
    if (rc) return rc;
    skip(ps);
    char c = *ps->p;
    if ((c != '*' && c != '/' && c != '%' && c != '@') || ps->p[1] == '*') return CASK_OK;
    const char *at = ps->p++;
    int op = c == '*' ? CASK_MUL : c == '%' ? CASK_MOD : c == '@' ? -1 : CASK_DIV;
    if (c == '/' && *ps->p == '/') {
      ps->p++;
      op = CASK_FLOOR_DIVIDE;
    }
    value y, x = *out;
    if ((rc = parse_unary(ps, &y))) {
      cask__expr_drop(&x);
      out->a = NULL; /* released with x */
      return rc;
    }
    rc = op < 0 ? apply_matmul(ps, at, &x, &y, out) : apply2(ps, at, op, &x, &y, out);
  }
}

static int parse_sum(parser *ps, value *out) {
  if (++ps->depth > MAX_DEPTH) return cask__expr_fail(ps, ps->p, "nested too deeply");
  int rc = parse_term(ps, out);
  for (;;) {
    if (rc) break;
    skip(ps);
    char c = *ps->p;
    if (c != '+' && c != '-') break;
    const char *at = ps->p++;
    value y, x = *out;
    if ((rc = parse_term(ps, &y))) {
      cask__expr_drop(&x);
      out->a = NULL; /* released with x */
      break;
    }
    rc = apply2(ps, at, c == '+' ? CASK_ADD : CASK_SUB, &x, &y, out);
  }
  ps->depth--;
  return rc;
}

/* Left-associative levels: bitand := sum ('&' sum)*, bitor := bitand
 * ('|' bitand)*. */
static int parse_level(parser *ps, value *out, char sym, int op, int (*next)(parser *, value *)) {
  int rc = next(ps, out);
  for (;;) {
    if (rc) return rc;
    skip(ps);
    if (*ps->p != sym) return CASK_OK;
    const char *at = ps->p++;
    value y, x = *out;
    if ((rc = next(ps, &y))) {
      cask__expr_drop(&x);
      out->a = NULL;
      return rc;
    }
    rc = apply2(ps, at, op, &x, &y, out);
  }
}
static int parse_bitand(parser *ps, value *out) { return parse_level(ps, out, '&', CASK_LOGICAL_AND, parse_sum); }
static int parse_bitor(parser *ps, value *out) { return parse_level(ps, out, '|', CASK_LOGICAL_OR, parse_bitand); }

/* The comparison operator at p (its length in *len), or -1. */
static int compare_op(const char *p, int *len) {
  *len = 2;
  if (p[0] == '<' && p[1] == '=') return CASK_LESS_EQUAL;
  if (p[0] == '>' && p[1] == '=') return CASK_GREATER_EQUAL;
  if (p[0] == '=' && p[1] == '=') return CASK_EQUAL;
  if (p[0] == '!' && p[1] == '=') return CASK_NOT_EQUAL;
  *len = 1;
  if (p[0] == '<') return CASK_LESS;
  if (p[0] == '>') return CASK_GREATER;
  return -1;
}

static value retain(value v) {
  cask_array_retain(v.a);
  return v;
}

/* a < b < c is (a < b) & (b < c), b evaluated once (it is one node). */
static int parse_compare(parser *ps, value *out) {
  if (++ps->depth > MAX_DEPTH) return cask__expr_fail(ps, ps->p, "nested too deeply");
  value left = {0}, acc = {0};
  int have = 0, rc = parse_bitor(ps, &left), len, op;
  if (rc) { /* left holds nothing to release (the parser's rule on errors) */
    ps->depth--;
    return rc;
  }
  while (!rc) {
    skip(ps);
    if ((op = compare_op(ps->p, &len)) < 0) break;
    const char *at = ps->p;
    ps->p += len;
    value right, cmp;
    if ((rc = parse_bitor(ps, &right))) break;
    value l = left;
    left = retain(right);
    if ((rc = apply2(ps, at, op, &l, &right, &cmp))) break;
    if (!have) {
      acc = cmp;
      have = 1;
    } else {
      value prev = acc;
      rc = apply2(ps, at, CASK_LOGICAL_AND, &prev, &cmp, &acc);
    }
  }
  ps->depth--;
  if (rc) {
    cask__expr_drop(&left);
    cask__expr_drop(&acc);
    return rc;
  }
  if (have) {
    cask__expr_drop(&left);
    *out = acc;
  } else {
    *out = left;
  }
  return CASK_OK;
}

int cask_eval(cask_ctx *ctx, const char *expr, const char *const *names,
              cask_array *const *values, size_t nvars, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!ctx || !expr || (nvars && (!names || !values))) return CASK_EINVAL;
  parser ps = {ctx, expr, expr, names, values, nvars, 0};
  value v;
  int rc = parse_compare(&ps, &v);
  if (rc) return rc;
  skip(&ps);
  if (*ps.p) {
    cask__expr_drop(&v);
    return cask__expr_fail(&ps, ps.p, "unexpected text after the expression");
  }
  if (!v.a) /* a constant expression: a 0-d array */
    return number_array(ctx, &v, out);
  *out = v.a;
  return CASK_OK;
}
