/* parse.c - NumExpr-style expression strings to lazy array nodes.
 * A recursive-descent parser with Python's precedence:
 *   compare := bitor (('<' | '<=' | '>' | '>=' | '==' | '!=') bitor)*
 *              (chained as Python: a < b < c is (a < b) & (b < c))
 *   bitor   := bitand ('|' bitand)*
 *   bitand  := sum ('&' sum)*
 *   sum     := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '//' | '%') unary)*
 *   unary   := ('-' | '+' | '~') unary | power
 *   power   := atom ('**' unary)?          (right-associative, and -a**2 is -(a**2))
 *   atom    := number | True | False | name | name '(' args ')' | '(' compare ')'
 * & | ~ are logical and/or/not (NumExpr's meaning on bools). A value is a
 * number or an array; operations on two numbers are folded while parsing,
 * so "2*3*a" is one multiplication by 6. An integer literal is an integer
 * scalar (NumPy's weak Python int). Every error names the 1-based column
 * where it was found. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "array-int.h"

typedef struct value {
  cask_array *a; /* NULL: a number */
  double num;
  int is_int; /* the number is an integer (a literal without '.' or 'e'); 2: a bool */
} value;

typedef struct parser {
  cask_ctx *ctx;
  const char *s, *p;
  const char *const *names;
  cask_array *const *values;
  size_t nvars;
  int depth;
} parser;

#define MAX_DEPTH 200 /* nesting: keeps hostile input off the stack's end */

static int col(const parser *ps, const char *at) { return (int)(at - ps->s) + 1; }

/* The column comes first and the expression is shown cut to 160 bytes, so
 * a long expression cannot push the column out of the message. */
static int fail_at(parser *ps, const char *at, const char *what) {
  size_t len = strlen(ps->s);
  return cask__fail(ps->ctx, CASK_EINVAL, "column %d: %.600s (in expression '%.160s%s')", col(ps, at), what,
                    ps->s, len > 160 ? "..." : "");
}

static void skip(parser *ps) {
  while (isspace((unsigned char)*ps->p)) ps->p++;
}

static void drop(value *v) {
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

static int scalar_flags(const value *v) {
  return v->is_int == 2 ? CASK_SCALAR_BOOL : v->is_int ? CASK_SCALAR_INT : 0;
}

/* Apply op to two values, consuming them. */
static int apply2(parser *ps, const char *at, int op, value *x, value *y, value *out) {
  int rc = CASK_OK;
  out->a = NULL;
  out->is_int = 0;
  if (!x->a && !y->a) {
    out->num = fold_binary(op, x->num, y->num);
    out->is_int = x->is_int && y->is_int && int_result(op, x->num, y->num);
    if (out->is_int && (op >= CASK_EQUAL || (x->is_int == 2 && y->is_int == 2 && op != CASK_SUB)))
      out->is_int = 2; /* comparisons, and bool op bool, stay bools */
  } else if (!y->a) {
    rc = cask_binary_scalar(op, x->a, y->num, scalar_flags(y), &out->a);
  } else if (!x->a) {
    rc = cask_binary_scalar(op, y->a, x->num, CASK_SCALAR_FIRST | scalar_flags(x), &out->a);
  } else {
    rc = cask_binary(op, x->a, y->a, &out->a);
  }
  drop(x);
  drop(y);
  if (rc) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s", cask_ctx_errmsg(ps->ctx));
    return fail_at(ps, at, msg);
  }
  return CASK_OK;
}

static int apply1(parser *ps, const char *at, int op, value *x, value *out) {
  out->a = NULL;
  if (!x->a) {
    out->num = fold_unary(op, x->num);
    out->is_int = op == CASK_ISNAN || op == CASK_ISFINITE || op == CASK_LOGICAL_NOT ? 2
                  : x->is_int && (op == CASK_NEGATIVE || op == CASK_ABS || op == CASK_ROUND);
    return CASK_OK;
  }
  int rc = cask_unary(op, x->a, &out->a);
  drop(x);
  return rc ? fail_at(ps, at, cask_ctx_errmsg(ps->ctx)) : CASK_OK;
}

static int parse_sum(parser *ps, value *out);
static int parse_compare(parser *ps, value *out);
static int parse_unary(parser *ps, value *out);

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
    {"round", 1, CASK_ROUND},       {"isnan", 1, CASK_ISNAN},   {"isfinite", 1, CASK_ISFINITE},
    {"where", 3, -1},               {"clip", 3, -2},
};

/* A number as a 0-d array (where needs arrays): an integer is int64, as
 * NumPy makes a Python int. */
static int as_array(parser *ps, value *v) {
  if (v->a) return CASK_OK;
  return cask_full(ps->ctx, v->is_int == 2 ? CASK_BOOL : v->is_int ? CASK_I64 : CASK_F64, v->num, 0, NULL,
                   NULL, &v->a);
}

static int apply3(parser *ps, const char *at, int fn, value *args, value *out) {
  int rc = CASK_OK;
  out->a = NULL;
  if (fn == -2) { /* clip(a, lo, hi): bounds are numbers */
    if (args[1].a || args[2].a) rc = fail_at(ps, at, "clip: the bounds must be numbers");
    else if (!args[0].a) {
      double v = args[0].num, lo = args[1].num, hi = args[2].num;
      out->num = v < lo ? lo : v > hi ? hi : v;
      out->is_int = args[0].is_int && args[1].is_int && args[2].is_int;
    } else if ((rc = cask_clip(args[0].a, args[1].num, args[2].num, &out->a))) {
      rc = fail_at(ps, at, cask_ctx_errmsg(ps->ctx));
    }
  } else {
    for (int k = 0; k < 3 && !rc; k++) rc = as_array(ps, &args[k]);
    if (!rc && (rc = cask_where(args[0].a, args[1].a, args[2].a, &out->a)))
      rc = fail_at(ps, at, cask_ctx_errmsg(ps->ctx));
  }
  for (int k = 0; k < 3; k++) drop(&args[k]);
  return rc;
}

static int parse_call(parser *ps, const char *name, size_t len, const char *at, value *out) {
  for (size_t f = 0; f < sizeof functions / sizeof functions[0]; f++) {
    if (strlen(functions[f].name) != len || memcmp(functions[f].name, name, len)) continue;
    value args[3] = {{0}, {0}, {0}};
    int n = 0, rc = CASK_OK;
    ps->p++; /* '(' */
    for (;;) {
      skip(ps);
      if (n == functions[f].nargs) break;
      if (n > 0) {
        if (*ps->p != ',') {
          rc = fail_at(ps, ps->p, functions[f].nargs > 1 ? "expected ',' between the arguments"
                                                         : "expected ')'");
          break;
        }
        ps->p++;
      }
      if ((rc = parse_compare(ps, &args[n]))) break;
      n++;
    }
    if (!rc && *ps->p != ')') rc = fail_at(ps, ps->p, "expected ')' after the arguments");
    if (rc) {
      for (int k = 0; k < 3; k++) drop(&args[k]);
      return rc;
    }
    ps->p++;
    if (functions[f].nargs == 3) return apply3(ps, at, functions[f].op, args, out);
    return functions[f].nargs == 1 ? apply1(ps, at, functions[f].op, &args[0], out)
                                   : apply2(ps, at, functions[f].op, &args[0], &args[1], out);
  }
  char msg[200];
  snprintf(msg, sizeof msg, "unknown function '%.*s'", (int)(len > 64 ? 64 : len), name);
  return fail_at(ps, at, msg);
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
      drop(out);
      return fail_at(ps, ps->p, "expected ')'");
    }
    ps->p++;
    return CASK_OK;
  }
  if (isdigit((unsigned char)*at) || (*at == '.' && isdigit((unsigned char)at[1]))) {
    char *end;
    out->num = strtod(at, &end);
    if (isalpha((unsigned char)*end) || *end == '_') return fail_at(ps, end, "a number runs into a name");
    out->is_int = !memchr(at, '.', (size_t)(end - at)) && !memchr(at, 'e', (size_t)(end - at)) &&
                  !memchr(at, 'E', (size_t)(end - at)) && fabs(out->num) < 9.2e18;
    ps->p = end;
    return CASK_OK;
  }
  if (isalpha((unsigned char)*at) || *at == '_') {
    const char *e = at;
    while (isalnum((unsigned char)*e) || *e == '_') e++;
    size_t len = (size_t)(e - at);
    ps->p = e;
    skip(ps);
    if (*ps->p == '(') return parse_call(ps, at, len, at, out);
    if ((len == 4 && !memcmp(at, "True", 4)) || (len == 5 && !memcmp(at, "False", 5))) {
      out->num = len == 4;
      out->is_int = 2;
      return CASK_OK;
    }
    for (size_t i = 0; i < ps->nvars; i++)
      if (ps->names[i] && strlen(ps->names[i]) == len && !memcmp(ps->names[i], at, len)) {
        if (!ps->values[i]) return fail_at(ps, at, "the variable's array is NULL");
        out->a = cask_array_retain(ps->values[i]);
        return CASK_OK;
      }
    char msg[200];
    snprintf(msg, sizeof msg, "unknown name '%.*s'", (int)(len > 64 ? 64 : len), at);
    return fail_at(ps, at, msg);
  }
  return fail_at(ps, at, *at ? "expected a number, a name or '('" : "the expression ends too early");
}

static int parse_power(parser *ps, value *out) {
  int rc = parse_atom(ps, out);
  if (rc) return rc;
  skip(ps);
  if (ps->p[0] != '*' || ps->p[1] != '*') return CASK_OK;
  const char *at = ps->p;
  ps->p += 2;
  value e;
  if ((rc = parse_unary(ps, &e))) {
    drop(out);
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
  if (++ps->depth > MAX_DEPTH) return fail_at(ps, at, "nested too deeply");
  value x;
  int rc = parse_unary(ps, &x);
  ps->depth--;
  if (rc) return rc;
  if (!neg) {
    *out = x;
    return CASK_OK;
  }
  return apply1(ps, at, sign == '~' ? CASK_LOGICAL_NOT : CASK_NEGATIVE, &x, out);
}

static int parse_term(parser *ps, value *out) {
  int rc = parse_unary(ps, out);
  for (;;) {
    if (rc) return rc;
    skip(ps);
    char c = *ps->p;
    if ((c != '*' && c != '/' && c != '%') || ps->p[1] == '*') return CASK_OK;
    const char *at = ps->p++;
    int op = c == '*' ? CASK_MUL : c == '%' ? CASK_MOD : CASK_DIV;
    if (c == '/' && *ps->p == '/') {
      ps->p++;
      op = CASK_FLOOR_DIVIDE;
    }
    value y, x = *out;
    if ((rc = parse_unary(ps, &y))) {
      drop(&x);
      out->a = NULL; /* released with x */
      return rc;
    }
    rc = apply2(ps, at, op, &x, &y, out);
  }
}

static int parse_sum(parser *ps, value *out) {
  if (++ps->depth > MAX_DEPTH) return fail_at(ps, ps->p, "nested too deeply");
  int rc = parse_term(ps, out);
  for (;;) {
    if (rc) break;
    skip(ps);
    char c = *ps->p;
    if (c != '+' && c != '-') break;
    const char *at = ps->p++;
    value y, x = *out;
    if ((rc = parse_term(ps, &y))) {
      drop(&x);
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
      drop(&x);
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
  if (++ps->depth > MAX_DEPTH) return fail_at(ps, ps->p, "nested too deeply");
  value left, acc = {0};
  int have = 0, rc = parse_bitor(ps, &left), len, op;
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
    drop(&left);
    drop(&acc);
    return rc;
  }
  if (have) {
    drop(&left);
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
    drop(&v);
    return fail_at(&ps, ps.p, "unexpected text after the expression");
  }
  if (!v.a) /* a constant expression: a 0-d array */
    return cask_full(ctx, v.is_int == 2 ? CASK_BOOL : v.is_int ? CASK_I64 : CASK_F64, v.num, 0, NULL, NULL, out);
  *out = v.a;
  return CASK_OK;
}
