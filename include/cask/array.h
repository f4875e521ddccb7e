/* array.h - chunked n-d arrays (dask.array's model): lazy expressions whose
 * blocks are computed by task graphs.
 *
 * Every operation returns a new lazy array (one node of a small expression
 * graph; nothing is computed); shapes and chunks are checked when the node is
 * built, and the error message (cask_ctx_errmsg) names the operation and the
 * shapes. cask_compute lowers the expression to one task per block that the
 * output needs, fuses trees of elementwise operations into one pass over
 * cache-sized pieces of each block (no full-block temporaries, also inside
 * reductions: sum(a*b) never materializes a*b), and runs it on the context's
 * runtime.
 *
 * So far: float64 arrays; creation (full, zeros, ones, arange, random
 * uniform/normal, a caller's buffer); elementwise arithmetic and math
 * functions with NumPy broadcasting over aligned chunks; sum, mean, min,
 * max, var, std over any set of axes. Arrays are reference counted; an array
 * keeps its inputs alive. A context and its arrays are used from one thread
 * at a time (the computation itself runs on all the context's threads). */
#ifndef CASK_ARRAY_H
#define CASK_ARRAY_H

#include <stdint.h>

#include "cask/block.h"
#include "cask/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cask_ctx cask_ctx;
typedef struct cask_array cask_array;

typedef struct cask_options {
  int threads;     /* 0: CASK_NUM_THREADS, else all cores */
  int split_every; /* fan-in of reduction trees; 0: 8 */
} cask_options;
#define CASK_OPTIONS_DEFAULTS {0, 0}

/* A context: a runtime and the options arrays are computed with. Free with
 * cask_ctx_free after every array made in it. */
int cask_ctx_new(const cask_options *opts, cask_ctx **out);
void cask_ctx_free(cask_ctx *ctx);
/* What the last failed call on this context's arrays was about. */
const char *cask_ctx_errmsg(const cask_ctx *ctx);
cask_runtime *cask_ctx_runtime(cask_ctx *ctx);

/* ---- creation ---------------------------------------------------------
 * shape: ndim extents (0 <= ndim <= CASK_MAX_NDIM); chunks: ndim chunk
 * extents, the last chunk along an axis may be smaller; a chunk extent of 0
 * (or chunks NULL) means the whole axis. */
int cask_full(cask_ctx *ctx, double value, int ndim, const int64_t *shape,
              const int64_t *chunks, cask_array **out);
int cask_zeros(cask_ctx *ctx, int ndim, const int64_t *shape, const int64_t *chunks,
               cask_array **out);
int cask_ones(cask_ctx *ctx, int ndim, const int64_t *shape, const int64_t *chunks,
              cask_array **out);
/* start, start + step, ... below stop (NumPy's arange for floats). */
int cask_arange(cask_ctx *ctx, double start, double stop, double step, int64_t chunk,
                cask_array **out);
/* Counter-based (Philox4x32-10): the value at an index depends only on the
 * seed and the index, for any chunking and thread count. */
int cask_random_uniform(cask_ctx *ctx, uint64_t seed, int ndim, const int64_t *shape,
                        const int64_t *chunks, cask_array **out);
int cask_random_normal(cask_ctx *ctx, uint64_t seed, int ndim, const int64_t *shape,
                       const int64_t *chunks, cask_array **out);
/* A C-order float64 buffer the caller keeps alive (no copy) until release
 * (may be NULL) is called with (user, data) when the last array using it is
 * freed. */
int cask_from_buffer(cask_ctx *ctx, const double *data, int ndim, const int64_t *shape,
                     const int64_t *chunks, void (*release)(void *user, void *data),
                     void *user, cask_array **out);

cask_array *cask_array_retain(cask_array *a);
void cask_array_release(cask_array *a); /* NULL is a no-op */
int cask_array_ndim(const cask_array *a);
const int64_t *cask_array_shape(const cask_array *a);
const int64_t *cask_array_chunks(const cask_array *a);
int64_t cask_array_size(const cask_array *a);
cask_dtype cask_array_dtype(const cask_array *a);

/* ---- elementwise -------------------------------------------------------
 * NumPy broadcasting: shapes are aligned at the right; an extent of 1
 * stretches. Where both operands span an axis their chunks must match. */
typedef enum cask_binop {
  CASK_ADD, CASK_SUB, CASK_MUL, CASK_DIV, CASK_POW, CASK_MAXIMUM, CASK_MINIMUM,
  CASK_ARCTAN2, CASK_BINOP_COUNT
} cask_binop;
typedef enum cask_unop {
  CASK_NEGATIVE, CASK_ABS, CASK_SQRT, CASK_EXP, CASK_EXPM1, CASK_LOG, CASK_LOG1P,
  CASK_LOG2, CASK_LOG10, CASK_SIN, CASK_COS, CASK_TAN, CASK_ARCSIN, CASK_ARCCOS,
  CASK_ARCTAN, CASK_SINH, CASK_COSH, CASK_TANH, CASK_FLOOR, CASK_CEIL, CASK_UNOP_COUNT
} cask_unop;
int cask_binary(cask_binop op, cask_array *a, cask_array *b, cask_array **out);
/* a op scalar (scalar_first = 0) or scalar op a (scalar_first = 1). */
int cask_binary_scalar(cask_binop op, cask_array *a, double s, int scalar_first,
                       cask_array **out);
int cask_unary(cask_unop op, cask_array *a, cask_array **out);

/* ---- reductions --------------------------------------------------------
 * axes: naxes distinct axes (negative counts from the end); naxes = 0 or
 * axes = NULL reduces every axis. The reduced axes are dropped. Blocks are
 * reduced as a tree with fan-in split_every in a fixed order, so a result
 * is bit-identical for any thread count. Sums are pairwise within blocks;
 * var and std combine (count, mean, M2) with Chan's formula. */
typedef enum cask_reduction {
  CASK_SUM, CASK_MEAN, CASK_MIN, CASK_MAX, CASK_VAR, CASK_STD, CASK_REDUCTION_COUNT
} cask_reduction;
int cask_reduce(cask_reduction op, cask_array *a, const int *axes, int naxes, int ddof,
                cask_array **out);

/* ---- expression strings -------------------------------------------------
 * NumExpr-style: "2*a + 3*b*b - sin(a)" over the named arrays, with Python's
 * operators and precedence (+ - * / **, unary minus, parentheses; ** binds
 * tighter than a unary minus on its left and groups to the right), numbers,
 * and the functions sqrt exp expm1 log log1p log2 log10 sin cos tan arcsin
 * arccos arctan sinh cosh tanh floor ceil abs negative (one argument) and
 * arctan2 maximum minimum power (two). It builds the same lazy nodes as the
 * calls above. A syntax error or an unknown name gives CASK_EINVAL with a
 * message giving the 1-based column, e.g. "column 5: unknown name 'c' (in expression 'a + c')". */
int cask_eval(cask_ctx *ctx, const char *expr, const char *const *names,
              cask_array *const *values, size_t nvars, cask_array **out);

/* ---- computing ---------------------------------------------------------- */
/* Compute a into buf (C order, cask_array_size(a) doubles; nbytes checked). */
int cask_compute(cask_array *a, void *buf, size_t nbytes);
/* Compute a 0-d (or one-element) array. */
int cask_compute_scalar(cask_array *a, double *out);
/* Build, optimize and order the task graph that computes a, without running
 * it: the caller owns the graph (for dumping it as JSON or DOT). */
int cask_array_graph(cask_array *a, cask_graph **out);

#ifdef __cplusplus
}
#endif
#endif
