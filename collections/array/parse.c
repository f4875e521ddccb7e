/* parse.c - NumExpr-style expression strings to lazy array nodes.
 * A recursive-descent parser with Python's precedence:
 *   sum     := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := ('-' | '+') unary | power
 *   power   := atom ('**' unary)?          (right-associative, and -a**2 is -(a**2))
 *   atom    := number | name | name '(' args ')' | '(' sum ')'
 * A value is a number or an array; operations on two numbers are folded
 * while parsing, so "2*3*a" is one multiplication by 6. Every error names
 * the 1-based column where it was found. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "array-int.h"

typedef struct value {
  cask_array *a; /* NULL: a number */
  double num;
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
  default: return atan2(x, y);
  }
}

static double fold_unary(int op, double x) {
  static double (*const f[])(double) = {NULL, fabs, sqrt, exp, expm1, log, log1p, log2, log10, sin,
                                        cos, tan, asin, acos, atan, sinh, cosh, tanh, floor, ceil};
  return op == CASK_NEGATIVE ? -x : f[op](x);
}

/* Apply op to two values, consuming them. */
static int apply2(parser *ps, const char *at, int op, value *x, value *y, value *out) {
  int rc = CASK_OK;
  out->a = NULL;
  if (!x->a && !y->a) out->num = fold_binary(op, x->num, y->num);
  else if (!y->a) rc = cask_binary_scalar(op, x->a, y->num, 0, &out->a);
  else if (!x->a) rc = cask_binary_scalar(op, y->a, x->num, CASK_SCALAR_FIRST, &out->a);
  else rc = cask_binary(op, x->a, y->a, &out->a);
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
    return CASK_OK;
  }
  int rc = cask_unary(op, x->a, &out->a);
  drop(x);
  return rc ? fail_at(ps, at, cask_ctx_errmsg(ps->ctx)) : CASK_OK;
}

static int parse_sum(parser *ps, value *out);
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
};

static int parse_call(parser *ps, const char *name, size_t len, const char *at, value *out) {
  for (size_t f = 0; f < sizeof functions / sizeof functions[0]; f++) {
    if (strlen(functions[f].name) != len || memcmp(functions[f].name, name, len)) continue;
    value args[2] = {{0}, {0}};
    int n = 0, rc = CASK_OK;
    ps->p++; /* '(' */
    for (;;) {
      skip(ps);
      if (n == functions[f].nargs) break;
      if (n > 0) {
        if (*ps->p != ',') {
          rc = fail_at(ps, ps->p, functions[f].nargs == 2 ? "expected ',' between the two arguments"
                                                          : "expected ')'");
          break;
        }
        ps->p++;
      }
      if ((rc = parse_sum(ps, &args[n]))) break;
      n++;
    }
    if (!rc && *ps->p != ')') rc = fail_at(ps, ps->p, "expected ')' after the arguments");
    if (rc) {
      drop(&args[0]);
      drop(&args[1]);
      return rc;
    }
    ps->p++;
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
    int rc = parse_sum(ps, out);
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
  if (*ps->p != '-' && *ps->p != '+') return parse_power(ps, out);
  const char *at = ps->p;
  int neg = *ps->p++ == '-';
  if (++ps->depth > MAX_DEPTH) return fail_at(ps, at, "nested too deeply");
  value x;
  int rc = parse_unary(ps, &x);
  ps->depth--;
  if (rc) return rc;
  if (!neg) {
    *out = x;
    return CASK_OK;
  }
  return apply1(ps, at, CASK_NEGATIVE, &x, out);
}

static int parse_term(parser *ps, value *out) {
  int rc = parse_unary(ps, out);
  for (;;) {
    if (rc) return rc;
    skip(ps);
    char c = *ps->p;
    if ((c != '*' && c != '/') || ps->p[1] == '*') return CASK_OK;
    if (ps->p[1] == '/') {
      drop(out);
      return fail_at(ps, ps->p, "there is no floor division '//' for float64 arrays: write floor(a / b)");
    }
    const char *at = ps->p++;
    value y, x = *out;
    if ((rc = parse_unary(ps, &y))) {
      drop(&x);
      out->a = NULL; /* released with x */
      return rc;
    }
    rc = apply2(ps, at, c == '*' ? CASK_MUL : CASK_DIV, &x, &y, out);
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

int cask_eval(cask_ctx *ctx, const char *expr, const char *const *names,
              cask_array *const *values, size_t nvars, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!ctx || !expr || (nvars && (!names || !values))) return CASK_EINVAL;
  parser ps = {ctx, expr, expr, names, values, nvars, 0};
  value v;
  int rc = parse_sum(&ps, &v);
  if (rc) return rc;
  skip(&ps);
  if (*ps.p) {
    drop(&v);
    return fail_at(&ps, ps.p, "unexpected text after the expression");
  }
  if (!v.a) /* a constant expression: a 0-d array */
    return cask_full(ctx, CASK_F64, v.num, 0, NULL, NULL, out);
  *out = v.a;
  return CASK_OK;
}
