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
 * Arrays have a dtype (float64, float32, int64, int32, uint8, bool) and
 * follow NumPy's promotion rules. Arrays are reference counted; an array
 * keeps its inputs alive. A context and its arrays are used from one thread
 * at a time (the computation itself runs on all the context's threads). */
#ifndef CASK_ARRAY_H
#define CASK_ARRAY_H

#include <stdint.h>

#include "cask/block.h"
#include "cask/export.h"
#include "cask/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cask_ctx cask_ctx;
typedef struct cask_array cask_array;

typedef struct cask_options {
  int threads;           /* 0: CASK_NUM_THREADS, else all cores */
  int split_every;       /* fan-in of matmul sum, QR and order trees; 0: 8 */
  int64_t chunk_bytes;   /* bytes one intermediate block of a rechunk may hold
                            (Dask's array.chunk-size); 0: 128 MiB */
  uint64_t memory_limit; /* as cask_runtime_options: 0 is CASK_MEMORY_LIMIT or
                            3/4 of the machine; CASK_MEMORY_UNLIMITED */
  const char *spill_dir; /* NULL: CASK_SPILL_DIR, else the temp directory */
} cask_options;
#define CASK_OPTIONS_DEFAULTS {0, 0, 0, 0, NULL}

/* A context: a runtime and the options arrays are computed with. On
 * failure (bad options, a bad CASK_NUM_THREADS, CASK_MEMORY_LIMIT or
 * CASK_SPILL_DIR) *out is NULL and cask_create_errmsg() says why. Every
 * array holds its context: cask_ctx_free gives up the caller's hold, and
 * the context (and its runtime's threads) goes when its last array is
 * released, so an array stays usable after cask_ctx_free. */
CASK_API int cask_ctx_new(const cask_options *opts, cask_ctx **out);
CASK_API void cask_ctx_free(cask_ctx *ctx);
/* Register the array ops ("array.npy_read", "array.kernel", ...) so that
 * cask_graph_read_json can read graphs of arrays. The shared library does
 * it when it is loaded; a program linking the static library that reads
 * such a graph before making any context calls it first. Idempotent,
 * thread-safe. */
CASK_API void cask_register_array_ops(void);
/* What the last failed call on this context's arrays was about. */
CASK_API const char *cask_ctx_errmsg(const cask_ctx *ctx);
CASK_API cask_runtime *cask_ctx_runtime(cask_ctx *ctx);

/* ---- creation ---------------------------------------------------------
 * shape: ndim extents (0 <= ndim <= CASK_MAX_NDIM); chunks: ndim chunk
 * extents, the last chunk along an axis may be smaller; a chunk extent of 0
 * (or chunks NULL) means the whole axis. dtype: any cask_dtype; a value is
 * converted to it as NumPy's astype would. */
CASK_API int cask_full(cask_ctx *ctx, cask_dtype dtype, double value, int ndim, const int64_t *shape,
                       const int64_t *chunks, cask_array **out);
CASK_API int cask_zeros(cask_ctx *ctx, cask_dtype dtype, int ndim, const int64_t *shape,
                        const int64_t *chunks, cask_array **out);
CASK_API int cask_ones(cask_ctx *ctx, cask_dtype dtype, int ndim, const int64_t *shape,
                       const int64_t *chunks, cask_array **out);
/* Values unspecified (each block is whatever its fresh memory holds). */
CASK_API int cask_empty(cask_ctx *ctx, cask_dtype dtype, int ndim, const int64_t *shape,
                        const int64_t *chunks, cask_array **out);
/* start, start + step, ... below stop (NumPy's arange): element i is
 * start + i * step converted to dtype; for integer dtypes, as NumPy, the
 * first two values converted and then steps of their difference (exact in
 * int64). */
CASK_API int cask_arange(cask_ctx *ctx, cask_dtype dtype, double start, double stop, double step,
                         int64_t chunk, cask_array **out);
/* num values from start to stop (stop included when endpoint). */
CASK_API int cask_linspace(cask_ctx *ctx, cask_dtype dtype, double start, double stop, int64_t num,
                           int endpoint, int64_t chunk, cask_array **out);
/* n x m with ones on diagonal k (k > 0 above the main one). */
CASK_API int cask_eye(cask_ctx *ctx, cask_dtype dtype, int64_t n, int64_t m, int64_t k, int64_t chunk,
                      cask_array **out);
/* Counter-based (Philox4x32-10): the value at an index depends only on the
 * seed and the index, for any chunking and thread count. dtype: CASK_F64
 * or CASK_F32. */
CASK_API int cask_random_uniform(cask_ctx *ctx, uint64_t seed, cask_dtype dtype, int ndim,
                                 const int64_t *shape, const int64_t *chunks, cask_array **out);
CASK_API int cask_random_normal(cask_ctx *ctx, uint64_t seed, cask_dtype dtype, int ndim,
                                const int64_t *shape, const int64_t *chunks, cask_array **out);
/* A C-order buffer of dtype the caller keeps alive (no copy) until release
 * (may be NULL) is called with (user, data) when the last array using it is
 * freed. The array is known by the buffer's bytes, read once here (a hash):
 * they must not change while it is in use; MPI ranks giving the same bytes
 * run it together, other bytes on a rank are refused naming the task. */
CASK_API int cask_from_buffer(cask_ctx *ctx, const void *data, cask_dtype dtype, int ndim,
                              const int64_t *shape, const int64_t *chunks,
                              void (*release)(void *user, void *data), void *user, cask_array **out);

CASK_API cask_array *cask_array_retain(cask_array *a);
CASK_API void cask_array_release(cask_array *a); /* NULL is a no-op */
/* The shape and chunk of an axis whose blocks' lengths depend on data (x[mask],
 * nonzero, compress: dask's NaN chunks); cask_array_size is then CASK_UNKNOWN
 * too, and cask_array_nblocks gives the number of blocks along it. */
#define CASK_UNKNOWN (-1)
CASK_API int cask_array_ndim(const cask_array *a);
CASK_API const int64_t *cask_array_shape(const cask_array *a);
CASK_API const int64_t *cask_array_chunks(const cask_array *a);
CASK_API int64_t cask_array_size(const cask_array *a);
CASK_API cask_dtype cask_array_dtype(const cask_array *a);
/* The number of blocks along axis (0 for a bad axis). */
CASK_API int64_t cask_array_nblocks(const cask_array *a, int axis);

/* NumPy's result dtype of an arithmetic operation on a and b
 * (np.result_type): bool < u8 < i32 < i64 < f32 < f64 by kind, with
 * u8|i32 -> i32, i32|f32 -> f64, i64|f32 -> f64. Thread-safe. */
CASK_API cask_dtype cask_promote(cask_dtype a, cask_dtype b);

/* ---- elementwise -------------------------------------------------------
 * NumPy broadcasting: shapes are aligned at the right; an extent of 1
 * stretches. Where both operands span an axis with different chunks, the
 * one with fewer elements is rechunked to the other's chunks. Result
 * dtypes follow NumPy: promotion of the operands; true division and the
 * float functions give a float (f32 stays f32, integers give f64);
 * comparisons, logical operations, isnan and isfinite give bool. */
typedef enum cask_binop {
  CASK_ADD, CASK_SUB, CASK_MUL, CASK_DIV, CASK_POW, CASK_MAXIMUM, CASK_MINIMUM,
  CASK_ARCTAN2, CASK_FLOOR_DIVIDE, CASK_MOD, CASK_EQUAL, CASK_NOT_EQUAL, CASK_LESS,
  CASK_LESS_EQUAL, CASK_GREATER, CASK_GREATER_EQUAL, CASK_LOGICAL_AND, CASK_LOGICAL_OR,
  CASK_BINOP_COUNT
} cask_binop;
typedef enum cask_unop {
  CASK_NEGATIVE, CASK_ABS, CASK_SQRT, CASK_EXP, CASK_EXPM1, CASK_LOG, CASK_LOG1P,
  CASK_LOG2, CASK_LOG10, CASK_SIN, CASK_COS, CASK_TAN, CASK_ARCSIN, CASK_ARCCOS,
  CASK_ARCTAN, CASK_SINH, CASK_COSH, CASK_TANH, CASK_FLOOR, CASK_CEIL, CASK_ROUND,
  CASK_ISNAN, CASK_ISFINITE, CASK_LOGICAL_NOT, CASK_UNOP_COUNT
} cask_unop;
CASK_API int cask_binary(cask_binop op, cask_array *a, cask_array *b, cask_array **out);
/* a op s, or s op a with CASK_SCALAR_FIRST. A scalar is "weak", as in
 * NumPy 2 (NEP 50): it takes the array's dtype, except that a float scalar
 * (one without CASK_SCALAR_INT) with an integer or bool array gives
 * float64. CASK_SCALAR_INT: s is an integer (Python's int). */
#define CASK_SCALAR_FIRST 1
#define CASK_SCALAR_INT 2
#define CASK_SCALAR_BOOL 4 /* s is a bool (0 or 1): it takes the array's dtype */
CASK_API int cask_binary_scalar(cask_binop op, cask_array *a, double s, int flags, cask_array **out);
/* The same with an exact 64-bit integer scalar (a double holds integers
 * exactly only up to 2^53): as CASK_SCALAR_INT. An integer the array's
 * integer dtype cannot hold (300 with uint8, 2^31 with int32) is refused
 * (CASK_EINVAL, naming the value and the dtype: NEP 50), except in
 * comparisons, which are exact. */
CASK_API int cask_binary_scalar_int(cask_binop op, cask_array *a, int64_t s, int flags, cask_array **out);
CASK_API int cask_unary(cask_unop op, cask_array *a, cask_array **out);
/* cond ? a : b elementwise, broadcasting all three; the result dtype is the
 * promotion of a's and b's. */
CASK_API int cask_where(cask_array *cond, cask_array *a, cask_array *b, cask_array **out);
/* minimum(maximum(a, lo), hi), as NumPy's clip. */
CASK_API int cask_clip(cask_array *a, double lo, double hi, cask_array **out);
/* NumPy's astype (unsafe casting: floats to integers truncate toward zero;
 * NaN and out-of-range values give INT64_MIN-like values as on x86; to bool
 * is != 0). */
CASK_API int cask_astype(cask_array *a, cask_dtype dtype, cask_array **out);

/* ---- reductions --------------------------------------------------------
 * axes: naxes distinct axes (negative counts from the end); naxes = 0 or
 * axes = NULL reduces every axis. The reduced axes are dropped. Blocks are
 * reduced in a fixed order (a left fold over their partial states in block
 * order), so a result is bit-identical for any thread or rank count. Sums are pairwise within blocks;
 * var and std combine (count, mean, M2) with Chan's formula.
 * Result dtypes (NumPy's): sum/prod of bool and integers give int64, of
 * floats their dtype; mean/var/std of integers give float64; min/max keep
 * the dtype; any/all give bool; argmin/argmax give int64, the flat index
 * within the reduced axes (NumPy allows one axis or all for these; so does
 * cask). The nan- variants skip NaNs (nanmin/nanmax of an all-NaN slice is
 * NaN, as NumPy's with its warning). */
typedef enum cask_reduction {
  CASK_SUM, CASK_MEAN, CASK_MIN, CASK_MAX, CASK_VAR, CASK_STD, CASK_PROD, CASK_ANY,
  CASK_ALL, CASK_ARGMIN, CASK_ARGMAX, CASK_NANSUM, CASK_NANMEAN, CASK_NANMIN,
  CASK_NANMAX, CASK_REDUCTION_COUNT
} cask_reduction;
CASK_API int cask_reduce(cask_reduction op, cask_array *a, const int *axes, int naxes, int ddof,
                         cask_array **out);
/* NumPy's ptp (max - min in a's dtype; bool refused, as NumPy's subtract
 * does), count_nonzero (int64) and nanprod (NaN counts as 1) over axes as
 * cask_reduce takes them (naxes 0: all). */
CASK_API int cask_ptp(cask_array *a, const int *axes, int naxes, cask_array **out);
CASK_API int cask_count_nonzero(cask_array *a, const int *axes, int naxes, cask_array **out);
CASK_API int cask_nanprod(cask_array *a, const int *axes, int naxes, cask_array **out);
/* NumPy's nanvar and nanstd: over the non-NaN values, divided by their
 * count - ddof (NaN where that is not positive); integers: var, std. */
CASK_API int cask_nanvar(cask_array *a, const int *axes, int naxes, int ddof, cask_array **out);
CASK_API int cask_nanstd(cask_array *a, const int *axes, int naxes, int ddof, cask_array **out);
/* NumPy's average: sum(a * w) / sum(w) over axes, w of a's shape or 1-d
 * along the one axis given (weights NULL: mean); float64 unless both are
 * float32. Weights summing to 0 give inf or NaN (NumPy raises). */
CASK_API int cask_average(cask_array *a, const int *axes, int naxes, cask_array *weights, cask_array **out);
/* NumPy's nanargmin and nanargmax: argmin / argmax (int64, the flat index
 * within the reduced axes) ignoring NaNs; ties go to the first. A slice of
 * NaNs only fails the computation with CASK_EINVAL, "All-NaN slice
 * encountered" (NumPy's ValueError). Integers: argmin, argmax. */
CASK_API int cask_nanargmin(cask_array *a, const int *axes, int naxes, cask_array **out);
CASK_API int cask_nanargmax(cask_array *a, const int *axes, int naxes, cask_array **out);
/* NumPy's cov(m, y, rowvar, bias, ddof): the covariance matrix of the
 * variables (rows of m when rowvar, else columns; a 1-d m is one
 * variable; y's variables appended), computed in float64 as NumPy does:
 * the row means subtracted, X @ X.T by the blocked matmul, times
 * 1 / (N - ddof). ddof -1 (None): 1, or 0 when bias. One variable gives a
 * 0-d result. corrcoef: cov / outer(sqrt(diag), sqrt(diag)), clipped to
 * [-1, 1]. At most 2-d inputs; y NULL: none. */
CASK_API int cask_cov(cask_array *m, cask_array *y, int rowvar, int bias, int ddof, cask_array **out);
CASK_API int cask_corrcoef(cask_array *x, cask_array *y, int rowvar, cask_array **out);

/* ---- sorting and order statistics (NumPy's) ------------------------------
 * axis NULL: a flattened in C order first (NumPy's axis=None); else one
 * axis (negative from the end). A 1-d array of several blocks (and so any
 * flattened one) is sorted by a parallel external merge: every block
 * sorted alone, exact splitters from samples of the sorted runs, each
 * output block merged from its piece of every run, so no task holds more
 * than about two blocks and an array larger than the memory limit sorts.
 * An n-d array whose axis spans several chunks is rechunked to one chunk
 * along the axis (a task holds that lane group). Stable: ties keep their
 * order (argsort too: NumPy's default quicksort is not stable, a stable
 * order is one of its valid results); NaNs sort last and come back as
 * NumPy's nan; -0.0 sorts before 0.0 in sort (a valid order of NumPy's
 * unstable sort) and ties with it in argsort, searchsorted and the
 * quantiles. Results are the same bits for any thread count. */
CASK_API int cask_sort(cask_array *a, const int *axis, cask_array **out);
/* int64 indices that sort a along axis (flat C-order indices for NULL). */
CASK_API int cask_argsort(cask_array *a, const int *axis, cask_array **out);
/* dask's topk: k > 0 the k largest along axis, largest first; k < 0 the
 * -k smallest, smallest first (NaNs count as the largest). 0 < |k| <= the
 * axis' extent. A reduction over the blocks, as dask's. argtopk: their
 * int64 indices along the axis (the ends of argsort). */
CASK_API int cask_topk(cask_array *a, int64_t k, int axis, cask_array **out);
CASK_API int cask_argtopk(cask_array *a, int64_t k, int axis, cask_array **out);
#define CASK_QUANTILE_NAN 1      /* nanquantile, nanmedian: NaNs left out */
#define CASK_QUANTILE_PERCENT 2  /* q in [0, 100] (percentile) */
#define CASK_QUANTILE_SCALAR 4   /* q is one number: no q axis in the result */
#define CASK_QUANTILE_KEEPDIMS 8 /* the reduced axes kept with extent 1 */
/* NumPy's quantile (percentile, nanquantile, nanpercentile by flags), exact,
 * with its default 'linear' method, over axis (NULL: all): nq values q
 * (1 to 256), the result of shape (nq,) + the reduced shape (no q axis with
 * CASK_QUANTILE_SCALAR), float64. NaN where a lane has a NaN (without
 * CASK_QUANTILE_NAN) or no value. q outside [0, 1] ([0, 100]), a bool
 * array or an empty lane (without CASK_QUANTILE_NAN) give CASK_EINVAL. */
CASK_API int cask_quantile(cask_array *a, const double *q, int nq, int flags, const int *axis, cask_array **out);
/* NumPy's median (nanmedian with CASK_QUANTILE_NAN; CASK_QUANTILE_KEEPDIMS):
 * the middle value or the mean of the two middle values, float64 (float32
 * for float32). */
CASK_API int cask_median(cask_array *a, const int *axis, int flags, cask_array **out);
/* NumPy's unique of a flattened: the sorted distinct values (NaNs are one
 * value, as NumPy 1.24's equal_nan) and, when counts is not NULL, how often
 * each occurs (int64). Its size depends on the data, so it computes when
 * called (one run: the sort above) and returns arrays over the results. */
CASK_API int cask_unique(cask_array *a, cask_array **values, cask_array **counts);
/* NumPy's bincount of a 1-d array of non-negative integers (bool too):
 * int64 counts of each value 0..max(x) (at least minlength), or float64
 * sums of weights (of x's shape). The length is found by a small eager
 * pass (the minimum and maximum, one run); a negative value or a float x
 * gives CASK_EINVAL. */
CASK_API int cask_bincount(cask_array *x, cask_array *weights, int64_t minlength, cask_array **out);
/* NumPy's histogram of a flattened: int64 counts in `bins` bins, edges
 * either given (edges: bins + 1 increasing values) or equal over range
 * (two values; NULL: a's smallest and largest, found by a small eager
 * pass); each bin holds its left edge, the last its right one too; values
 * outside (and NaN) are not counted. edges_out (may be NULL): the edges as
 * a float64 array. */
CASK_API int cask_histogram(cask_array *a, int64_t bins, const double *edges, const double *range,
                            cask_array **counts, cask_array **edges_out);
/* NumPy's digitize: for each element, the index of its bin among nbins
 * monotonic (increasing or decreasing) bin edges (right: intervals closed
 * on the right), int64. */
CASK_API int cask_digitize(cask_array *x, const double *bins, int64_t nbins, int right, cask_array **out);
/* NumPy's searchsorted: for each element of v, the index where it would be
 * inserted into the sorted 1-d a (right: after equal elements), int64 of
 * v's shape. a is not checked to be sorted (nor is it in NumPy). */
CASK_API int cask_searchsorted(cask_array *a, cask_array *v, int right, cask_array **out);

/* ---- structure ---------------------------------------------------------
 * Only blocks an output needs are built: slicing a few elements out of a
 * huge array makes a handful of tasks. */
#define CASK_NONE INT64_MIN /* an omitted start or stop of a slice */
typedef struct cask_index {
  int64_t start, stop, step; /* Python's slice semantics (negative counts from
                                the end; step != 0, negative walks back) */
  int is_int;                /* 1: the single index `start`; drops the axis */
} cask_index;
#define CASK_SLICE(start, stop, step) ((cask_index){(start), (stop), (step), 0})
#define CASK_COLON ((cask_index){CASK_NONE, CASK_NONE, 1, 0}) /* ":" */
#define CASK_AT(i) ((cask_index){(i), 0, 1, 1})
/* a[idx[0], idx[1], ...]: nidx <= ndim entries, the remaining axes whole.
 * The result's chunks follow the input's (divided by the step). */
CASK_API int cask_slice(cask_array *a, int nidx, const cask_index *idx, cask_array **out);
/* Axes permuted: result axis i is a's axis perm[i]; perm NULL reverses
 * (a.T). */
CASK_API int cask_transpose(cask_array *a, const int *perm, cask_array **out);
/* C-order reshape; one extent may be -1. Where the chunks do not allow a
 * block-by-block reshape, the axes involved are rechunked first (as
 * dask.array.reshape does). */
CASK_API int cask_reshape(cask_array *a, int ndim, const int64_t *shape, cask_array **out);
/* Join n arrays along an existing axis (concatenate) or a new one (stack);
 * the shapes must agree elsewhere; dtypes are promoted. */
CASK_API int cask_concatenate(int n, cask_array *const *arrays, int axis, cask_array **out);
CASK_API int cask_stack(int n, cask_array *const *arrays, int axis, cask_array **out);
/* New chunks (0: the whole axis). Intermediate blocks stay under the
 * context's chunk_bytes, as Dask's plan_rechunk keeps them. */
CASK_API int cask_rechunk(cask_array *a, const int64_t *chunks, cask_array **out);

/* ---- shape functions (NumPy's) -------------------------------------------
 * Built on the nodes above (slices, transposes, reshapes, concatenations,
 * fused elementwise kernels): lazy, block by block, out-of-core. Axes may
 * be negative (counted from the end); an axis out of range, a repeated
 * axis or an impossible shape gives CASK_EINVAL naming the function and
 * the shape, before anything is built. */
/* a with the order of elements reversed along naxes axes (naxes = 0 or
 * axes NULL: every axis). flipud is axis 0, fliplr axis 1. */
CASK_API int cask_flip(cask_array *a, int naxes, const int *axes, cask_array **out);
/* Elements shifted by shifts[k] along axes[k] (k < n), wrapping around;
 * an axis may repeat (its shifts add up). axes NULL: a flattened, rolled
 * by shifts[0] (n = 1), and given its shape back. */
CASK_API int cask_roll(cask_array *a, int n, const int64_t *shifts, const int *axes, cask_array **out);
/* Axes of extent 1 removed: the naxes given (each must have extent 1), or
 * every one (naxes = 0). */
CASK_API int cask_squeeze(cask_array *a, int naxes, const int *axes, cask_array **out);
/* Axes of extent 1 inserted at positions axes[k] of the result (which has
 * a's axes plus naxes). */
CASK_API int cask_expand_dims(cask_array *a, int naxes, const int *axes, cask_array **out);
/* Axis source[k] moved to position destination[k]; the others keep their
 * order. */
CASK_API int cask_moveaxis(cask_array *a, int n, const int *source, const int *destination, cask_array **out);
CASK_API int cask_swapaxes(cask_array *a, int axis1, int axis2, cask_array **out);
/* a stretched to shape by NumPy's broadcasting rules (no copy of a's
 * data: a fused kernel writes each block). */
CASK_API int cask_broadcast_to(cask_array *a, int ndim, const int64_t *shape, cask_array **out);
/* a repeated reps[k] times along each axis (reps and a's shape aligned at
 * the right, the shorter padded with ones, as NumPy's tile). */
CASK_API int cask_tile(cask_array *a, int n, const int64_t *reps, cask_array **out);
/* Each element repeated `repeats` times in a row along *axis; axis NULL:
 * along a flattened. */
CASK_API int cask_repeat(cask_array *a, int64_t repeats, const int *axis, cask_array **out);
typedef enum cask_pad_mode {
  CASK_PAD_CONSTANT, CASK_PAD_EDGE, CASK_PAD_REFLECT, CASK_PAD_SYMMETRIC, CASK_PAD_WRAP
} cask_pad_mode;
/* before[i] and after[i] elements added around axis i, as NumPy's pad:
 * constant (value, converted to a's dtype), edge, reflect (the edge not
 * repeated), symmetric (repeated), wrap; widths larger than the axis are
 * padded in rounds as NumPy does. A non-constant mode on an empty axis is
 * refused. */
CASK_API int cask_pad(cask_array *a, const int64_t *before, const int64_t *after, cask_pad_mode mode, double value,
             cask_array **out);
/* Elements below diagonal k (triu) or above it (tril) set to 0 in the
 * last two axes (a 1-d array is the row of a square matrix, as NumPy). */
CASK_API int cask_triu(cask_array *a, int64_t k, cask_array **out);
CASK_API int cask_tril(cask_array *a, int64_t k, cask_array **out);
/* a flattened times b flattened: result[i, j] = a[i] * b[j]. */
CASK_API int cask_outer(cask_array *a, cask_array *b, cask_array **out);
/* NumPy's round (around): floats scaled by 10^decimals, rounded half to
 * even and scaled back, in their dtype; integers unchanged for decimals
 * >= 0, rounded to a multiple of 10^-decimals otherwise. */
CASK_API int cask_round(cask_array *a, int decimals, cask_array **out);
/* NumPy's cumsum, cumprod, nancumsum (NaN counts as 0) and nancumprod
 * (NaN counts as 1) along *axis (negative: from the end); axis NULL: over
 * a flattened in C order (NumPy's axis=None). Floats keep their dtype,
 * integers and bool give int64 (NumPy: uint8 gives uint64). A parallel
 * scan over blocks: bit-identical for any thread count, integers exact,
 * float sums within rounding of NumPy's sequential ones. */
typedef enum cask_scan_op {
  CASK_CUMSUM, CASK_CUMPROD, CASK_NANCUMSUM, CASK_NANCUMPROD, CASK_SCAN_COUNT
} cask_scan_op;
CASK_API int cask_cumulative(cask_scan_op op, cask_array *a, const int *axis, cask_array **out);
/* NumPy's diff: the n-th difference a[1:] - a[:-1] along axis (bool:
 * a[1:] != a[:-1]), in a's dtype; n = 0 gives a. n < 0 and 0-d arrays are
 * refused. */
CASK_API int cask_diff(cask_array *a, int64_t n, int axis, cask_array **out);

/* ---- linear algebra -----------------------------------------------------
 * Blocked: every block product is one CBLAS call (OpenBLAS; its own
 * threading is off, the scheduler runs blocks in parallel), the sum over
 * the inner blocks in a fixed order (chains accumulated in place, then a
 * tree of fan-in split_every), so results are bit-identical for any thread
 * count. Where the summed axes are chunked differently, the operand with
 * fewer elements is rechunked. Result dtype: cask_promote of the operands';
 * float32 stays float32; integers and bool are computed exactly in int64
 * loops (wrapping like NumPy's; bool is "any a and b"). */
/* NumPy's matmul for 1-d and 2-d operands. */
CASK_API int cask_matmul(cask_array *a, cask_array *b, cask_array **out);
/* NumPy's dot for 1-d and 2-d operands (the same as matmul there; a 0-d
 * operand multiplies). */
CASK_API int cask_dot(cask_array *a, cask_array *b, cask_array **out);
/* Sum over a's axes axes_a[k] and b's axes_b[k] (NumPy's tensordot), for
 * operands and results of at most 2 axes. */
CASK_API int cask_tensordot(cask_array *a, cask_array *b, int naxes, const int *axes_a,
                            const int *axes_b, cask_array **out);

/* ---- user kernels -------------------------------------------------------- */
typedef struct cask_block_info {
  int ndim;
  const int64_t *block_index; /* which block of the output */
  const int64_t *offset;      /* global index of the output block's first element */
  const int64_t *depth;       /* map_overlap: the halo before the block per
                                 axis (out's element 0 is the padded block's
                                 element depth); the halo after it is as deep,
                                 except that CASK_BOUNDARY_NONE cuts both at
                                 the array's edges. Else NULL */
  char *errmsg;               /* a message for a failure, errmsg_cap bytes */
  size_t errmsg_cap;
} cask_block_info;
/* Fill out (allocated by cask with the output block's shape and dtype)
 * from the input blocks; return 0 or a CASK_ error code. Called on any
 * worker thread, concurrently for different blocks. */
typedef int (*cask_block_fn)(void *user, const cask_block *const *in, int nin, cask_block *out,
                             const cask_block_info *info);
typedef struct cask_map_spec {
  cask_block_fn fn;
  void *user;
  const char *name;  /* part of every task key (and what the trace shows) */
  uint64_t token;    /* identifies fn's behaviour with user: equal specs and
                        inputs are computed once */
  cask_dtype dtype;  /* of the output */
  const int64_t *chunks; /* output chunk per axis (same number of blocks as
                            the inputs): every block has extent chunks[i];
                            chunks[i] = 0 or chunks NULL: the inputs' block
                            extents. map_overlap: NULL or the input's */
} cask_map_spec;
/* One task per block: the inputs (broadcast against each other, rechunked
 * to the first's chunks) give their blocks at the same block index (block 0
 * along an axis where an input has extent 1; fn sees it unstretched). The
 * output has the broadcast number of axes. */
CASK_API int cask_map_blocks(const cask_map_spec *spec, int nin, cask_array *const *in, cask_array **out);
/* A kernel by name, for expressions and job files:
 * map_blocks('name', x[, y...], dtype='float32') calls fn block by block as
 * cask_map_blocks does with spec {fn, user, name, token, dtype (default:
 * the first input's), NULL}. name: 1 to 23 characters of letters, digits,
 * '_' and '.'; token nonzero (what fn computes with user). A plugin of the
 * cask program (cask run --plugin lib.so) registers its kernels here from
 * its cask_plugin_init. Errors: CASK_EINVAL, CASK_EOPEXISTS (the name is
 * taken), CASK_ETOOBIG (4096 kernels). Thread-safe; never removed. */
CASK_API int cask_kernel_register(const char *name, cask_block_fn fn, void *user, uint64_t token);
typedef enum cask_boundary {
  CASK_BOUNDARY_CONSTANT, CASK_BOUNDARY_NEAREST, CASK_BOUNDARY_REFLECT, CASK_BOUNDARY_PERIODIC,
  CASK_BOUNDARY_NONE /* no halo beyond the array's edges */
} cask_boundary;
/* Each block with depth[i] neighbouring elements on both sides of axis i
 * (from the neighbouring blocks, or the boundary rule at the array's
 * edges: constant `value`, nearest, reflect (NumPy's 'symmetric'),
 * periodic). fn gets the padded block and fills out, which has the block's
 * own (unpadded) shape: no trim step. 0 <= depth[i] <= in's chunk along
 * axis i; value is converted to in's dtype. */
CASK_API int cask_map_overlap(const cask_map_spec *spec, cask_array *in, const int64_t *depth,
                              cask_boundary boundary, double value, cask_array **out);

/* ---- expression strings -------------------------------------------------
 * NumExpr-style: "2*a + 3*b*b - sin(a)" over the named arrays, with Python's
 * operators and precedence (+ - * / // % **, comparisons < <= > >= == !=,
 * & | ~ as logical and/or/not on bools, unary minus, parentheses; **
 * binds tighter than a unary minus on its left and groups to the right),
 * numbers (an integer literal is an exact int64 scalar), True/False, the
 * constants pi, e, inf and nan (a variable of the same name wins), and the
 * functions sqrt exp expm1 log log1p log2 log10 sin cos tan arcsin arccos
 * arctan sinh cosh tanh floor ceil abs negative isnan isfinite (one
 * argument), arctan2 maximum minimum power (two), where clip (three). Array
 * functions, with NumPy's arguments by position or keyword (lists [a, b]
 * and tuples (a, b) included): the reductions sum mean std var min max
 * prod any all argmin argmax nansum nanmean nanmin nanmax (a,
 * axis=None|int|(ints), keepdims=False, and ddof= for var and std),
 * transpose(a, axes=None), rechunk(a, (chunks)), astype(a, 'float32'),
 * matmul(a, b), dot(a, b), concatenate(arrays, axis=0), stack(arrays,
 * axis=0), round(a, decimals=0) and the shape functions above (flip
 * flipud fliplr roll squeeze expand_dims moveaxis swapaxes broadcast_to
 * reshape ravel tile repeat pad triu tril outer), sorting and order
 * statistics (sort argsort topk argtopk percentile quantile nanpercentile
 * nanquantile median nanmedian unique bincount histogram digitize
 * searchsorted, docs/sorting.md), the statistics (nanargmin nanargmax cov
 * corrcoef among them), einsum('ij,ij->i', a, b) and the linear algebra of
 * cask/linalg.h (a function NumPy gives a tuple is indexed after its call:
 * qr(a)[0], svd(a, full_matrices=False)[1], slogdet(a)[1], lstsq(a, b)[0];
 * solve inv det cholesky svdvals norm svd_compressed); a @ b; a.T; slicing
 * a[::2, 5000:] and integer indexes a[0, -1] (integer expressions of
 * numbers); selection: masks a[a > 0.5], a[m, :], index lists and arrays
 * a[[3, 1, 4], :], a[idx], compress, extract, take, nonzero(a)[k],
 * argwhere, flatnonzero, compute_chunk_sizes; x.f(args) is f(x, args). It builds the same lazy nodes as the
 * calls above. A syntax error or an
 * unknown name gives CASK_EINVAL with a message giving the 1-based column,
 * e.g. "column 5: unknown name 'c' (in expression 'a + c')". */
CASK_API int cask_eval(cask_ctx *ctx, const char *expr, const char *const *names,
                       cask_array *const *values, size_t nvars, cask_array **out);

/* ---- selection (NumPy's boolean and integer indexing) ----------------------
 * Results whose length depends on data have blocks of unknown length
 * (CASK_UNKNOWN in their shape and chunks, as dask's NaN chunks): one block
 * per input block (per block row when the input is chunked along more than
 * its first axis; the rows are joined first, so the order is C order).
 * Elementwise operations between arrays of the same blocks, and every
 * reduction but argmin/argmax along such an axis, work without the sizes;
 * writing to a file computes them first (a counting pass: one task per
 * block counting its mask, then the run); everything else that needs them
 * refuses with CASK_EINVAL naming the operation, until
 * cask_compute_chunk_sizes gives an array of known sizes. Errors name the
 * function and the shapes, before anything runs. */
/* x[mask]: mask a bool array of x's shape; the selected elements, 1-d, in
 * C order. */
CASK_API int cask_mask_select(cask_array *x, cask_array *mask, cask_array **out);
/* np.compress(cond, x, axis): the slices along axis (0 <= axis < ndim, or
 * negative from the end) where cond (1-d, any dtype: nonzero is true) is
 * true; cond shorter than the axis leaves out the rest, as NumPy does;
 * x[cond, :] is the same with cond a bool array of the axis' length.
 * axis NULL: of x flattened. */
CASK_API int cask_compress(cask_array *cond, cask_array *x, const int *axis, cask_array **out);
/* np.extract(cond, x): x's elements where cond (x's shape, any dtype) is
 * nonzero, 1-d in C order. */
CASK_API int cask_extract(cask_array *cond, cask_array *x, cask_array **out);
/* np.nonzero(x): x's ndim int64 arrays of the indices of its nonzero
 * elements (C order) along each axis, into out[0 .. ndim-1] (a 0-d x as
 * a 1-d one of one element, as NumPy 1.24 does). */
CASK_API int cask_nonzero(cask_array *x, cask_array **out);
/* np.argwhere(x): an int64 array (n, ndim) of those indices. */
CASK_API int cask_argwhere(cask_array *x, cask_array **out);
/* np.flatnonzero(x): the flat (C order) indices of x's nonzero elements. */
CASK_API int cask_flatnonzero(cask_array *x, cask_array **out);
/* np.take(x, idx, axis): the n indices idx (negative from the end) along
 * axis (NULL: of x flattened), known now: an index out of bounds is
 * CASK_EINVAL naming it, the axis and x's shape before anything runs.
 * Each result block reads only the input blocks its indices fall in. */
CASK_API int cask_take_list(cask_array *x, int64_t n, const int64_t *idx, const int *axis, cask_array **out);
/* The same with idx an integer cask array (any shape, known length): the
 * result's shape is x's with axis replaced by idx's; an index out of bounds
 * fails the run, naming the task, the index and the shape. A result block
 * reads every block of x along axis. */
CASK_API int cask_take(cask_array *x, cask_array *idx, const int *axis, cask_array **out);
/* a with the lengths of its blocks known (dask's compute_chunk_sizes):
 * runs a counting pass now (a task per block counting its mask or its
 * nonzero elements, far cheaper than the selection), then gives an array
 * of regular chunks (as many blocks as before, of even length) made from
 * a's blocks when it is computed. An array of known sizes is returned
 * retained. */
CASK_API int cask_compute_chunk_sizes(cask_array *a, cask_array **out);

/* ---- I/O ----------------------------------------------------------------
 * .npy files (NumPy's format, versions 1.0, 2.0, 3.0). */
/* A lazy array over the file: each block task reads its own part (never the
 * whole file); C or Fortran order, little or big endian, the dtypes above.
 * chunks NULL: about 64 MiB blocks along the first axis. A bad header
 * gives CASK_EFORMAT naming the file and the byte offset. */
CASK_API int cask_read_npy(cask_ctx *ctx, const char *path, const int64_t *chunks, cask_array **out);
/* Compute a into a .npy file: each block written in place by its task, in
 * parallel, into a temporary file renamed to path when every block is
 * written (nothing half-written is ever at path). cask_store of one
 * target; cask_store writes several outputs in one run. */
CASK_API int cask_to_npy(cask_array *a, const char *path);

/* Zarr directory stores. v2: a directory holding .zarray (JSON metadata)
 * and one file per chunk, named by the chunk's indices joined with '.'
 * ("0.3") or '/' ("0/3", in subdirectories). C order, little-endian
 * f8 f4 i8 i4 u1 b1; compressors none, zlib, gzip, zstd and blosc.
 * v3: zarr.json and chunk files "c/0/3"; codecs transpose, bytes (either
 * endianness), gzip, zstd, blosc, crc32c, and sharding_indexed (many inner
 * chunks in one shard file, with an index of their places). */
typedef enum cask_zarr_compressor {
  CASK_ZARR_NONE,
  CASK_ZARR_ZLIB,       /* numcodecs Zlib: a zlib stream; level 0..9 */
  CASK_ZARR_GZIP,       /* numcodecs GZip: one gzip member; level 0..9 */
  CASK_ZARR_ZSTD,       /* numcodecs Zstd: one frame with its content size; level 1..22 */
  CASK_ZARR_BLOSC_LZ4,  /* numcodecs Blosc(cname='lz4'); level (clevel) 0..9 */
  CASK_ZARR_BLOSC_ZSTD  /* numcodecs Blosc(cname='zstd'); level (clevel) 0..9 */
} cask_zarr_compressor;

typedef struct cask_zarr_options {
  cask_zarr_compressor compressor;
  int level;          /* the compressor's level (see above) */
  int shuffle;        /* blosc only: 0 none, 1 byte shuffle, 2 bit shuffle */
  char separator;     /* the key separator: '.' or '/' */
  double fill_value;  /* .zarray's fill_value, converted to the array's dtype;
                         the padding of edge chunks */
  int zarr_format;    /* 2 (or 0) or 3. v3 writes keys "c/i/j" (the
                         separator is '/' whatever the field above says),
                         the bytes codec little-endian, then the compressor
                         (not zlib, which v3 does not have) */
  int64_t shards[CASK_MAX_NDIM]; /* v3: all 0, no sharding; else a shard's
                         extents in elements, each a multiple of the
                         array's chunk (the inner chunks), as zarr-python's
                         shards=; index at the end, with a crc32c */
} cask_zarr_options;
/* zarr's own defaults: Blosc(lz4, clevel 5, byte shuffle), '.', fill 0, v2. */
#define CASK_ZARR_OPTIONS_DEFAULTS {CASK_ZARR_BLOSC_LZ4, 5, 1, '.', 0.0, 2, {0}}

/* A lazy array over the store at path (a directory): .zarray (v2) or
 * zarr.json (v3) is parsed (strictly) now; each block task reads and
 * decodes the chunk files (or the inner chunks of the shard files) its
 * block overlaps, a missing chunk file, shard file or inner chunk reading
 * as fill_value (null: 0). chunks NULL: the store's chunks (a sharded
 * store: its shards, or its inner chunks when a shard exceeds 64 MiB). Bad metadata or a dtype, order, filter
 * or compressor cask does not read gives CASK_EFORMAT naming the store and
 * the field; a corrupt or truncated chunk fails the computation with
 * CASK_EFORMAT naming the chunk file. */
CASK_API int cask_read_zarr(cask_ctx *ctx, const char *path, const int64_t *chunks, cask_array **out);
/* Compute a into a Zarr store at path (v2, or v3 with opts->zarr_format
 * 3): one chunk per block of a (v3 with shards: one shard file per
 * shards-sized group of blocks, written whole by one task)
 * (rechunk first for other chunks), written in parallel by their tasks into
 * a temporary store next to path (".NAME.tmp-PID-N"), .zarray or zarr.json last, then
 * renamed to path; an existing store at path is replaced whole, an empty
 * directory is filled, anything else there is refused. opts NULL:
 * CASK_ZARR_OPTIONS_DEFAULTS. cask_store of one target. */
CASK_API int cask_to_zarr(cask_array *a, const char *path, const cask_zarr_options *opts);

/* ---- computing ---------------------------------------------------------- */
/* Where cask_store puts one array: a caller's buffer (C order,
 * cask_array_size elements of the array's dtype; nbytes checked), a .npy
 * file, or a Zarr v2 or v3 store (zarr: NULL for CASK_ZARR_OPTIONS_DEFAULTS). */
typedef enum cask_target_kind {
  CASK_TARGET_BUFFER, CASK_TARGET_NPY, CASK_TARGET_ZARR,
  CASK_TARGET_HDF5, CASK_TARGET_NETCDF /* cask/hdf5.h: CASK_TO_HDF5, CASK_TO_NETCDF */
} cask_target_kind;
typedef struct cask_target {
  cask_target_kind kind;
  cask_array *array;
  void *buf;      /* BUFFER */
  size_t nbytes;  /* BUFFER */
  const char *path;               /* NPY, ZARR, HDF5, NETCDF */
  const cask_zarr_options *zarr;  /* ZARR */
  const char *name;               /* HDF5: the dataset; NETCDF: the variable */
  const struct cask_hdf5_options *hdf5; /* HDF5, NETCDF (NULL: defaults) */
} cask_target;
#define CASK_TO_BUFFER(a, buf, nbytes) ((cask_target){CASK_TARGET_BUFFER, (a), (buf), (nbytes), NULL, NULL, NULL, NULL})
#define CASK_TO_NPY(a, path) ((cask_target){CASK_TARGET_NPY, (a), NULL, 0, (path), NULL, NULL, NULL})
#define CASK_TO_ZARR(a, path, opts) ((cask_target){CASK_TARGET_ZARR, (a), NULL, 0, (path), (opts), NULL, NULL})

/* Compute n arrays of one context into their targets in one graph and one
 * run (dask's compute(a, b) and store): a subexpression they share is
 * computed once, and every block goes to its target as soon as it exists,
 * by a writer task in the same graph, and is freed once written, so no
 * output needs to fit in memory and the run keeps the context's memory
 * limit. Files are written under temporary names next to their paths and
 * renamed into place only when the whole run succeeded; after a failure, a
 * cancel (cask_runtime_cancel(cask_ctx_runtime(ctx)) from another thread)
 * or a full disk nothing new is at any path and an existing file or store
 * there is untouched. opts (may be NULL): progress callbacks, a Chrome
 * trace, on_run_start; cask_runtime_last_stats(cask_ctx_runtime(ctx))
 * gives the run's statistics afterwards. A Zarr store at a path is
 * replaced whole; a path holding anything else than a store is refused. */
CASK_API int cask_store(int n, const cask_target *targets, const cask_run_options *opts);
/* The graph cask_store(n, targets, ...) would run as rank `rank` of nranks
 * ranks (1: one process), built without running it or opening any file:
 * each writer task stands for the one the run adds (same key, grouping and
 * placement) and never runs. With parts non-NULL, a job a rank can build
 * its part of gets only the rank's part (*parts = 1; plan it with
 * cask_plan_new(g, nranks, rank, &p)), as an
 * MPI run builds it; else the whole graph (*parts = 0, and why, when not
 * NULL, says what stopped the part; why_cap bytes). For `cask run
 * --plan-ranks`. Outputs of unknown block lengths are refused (a run sizes
 * them first with a counting pass). */
CASK_API int cask_store_graph(int n, const cask_target *targets, int nranks, int rank, int *parts, char *why,
                              size_t why_cap, cask_graph **out);
/* Compute a into buf: cask_store of one buffer target. */
CASK_API int cask_compute(cask_array *a, void *buf, size_t nbytes);
/* Compute a 0-d (or one-element) array, converted to double. */
CASK_API int cask_compute_scalar(cask_array *a, double *out);
/* ---- arrays and a task graph in one graph ------------------------------
 * dask's from_delayed and to_delayed. cask_from_tasks: an array whose block
 * k (C order of the block grid of shape and chunks) is what task ids[k] of
 * g makes, a block of dtype and of the block's shape (checked when it runs:
 * a wrong one fails the run naming the task). The tasks and everything they
 * depend on are copied now, keys kept: g may change or be freed afterwards
 * (it is validated here). cask_graph_add_array: the blocks of a lowered
 * into the user's graph g (added unless g has them), their task ids in
 * ids (C order, nids = the number of blocks), for the user's tasks to take
 * as inputs; run g with cask_run on cask_ctx_runtime(ctx) or any runtime. */
CASK_API int cask_from_tasks(cask_ctx *ctx, cask_graph *g, const cask_task_id *ids, cask_dtype dtype, int ndim,
                             const int64_t *shape, const int64_t *chunks, cask_array **out);
CASK_API int cask_graph_add_array(cask_graph *g, cask_array *a, cask_task_id *ids, size_t nids);

/* Build, optimize and order the task graph that computes a, without running
 * it: the caller owns the graph (for dumping it as JSON or DOT). */
CASK_API int cask_array_graph(cask_array *a, cask_graph **out);
/* The same for n arrays of one context in one graph (a subexpression they
 * share is computed once); every block of every array is an output. With
 * block_keys, *block_keys receives the key of the task behind each block
 * (array 0's blocks in C order, then array 1's, ...) to find it in the
 * results of cask_run; one allocation, free it with cask_free. */
CASK_API int cask_arrays_graph(int n, cask_array *const *arrays, cask_graph **out, char ***block_keys);
/* Rank `rank`'s part of that graph on nranks ranks (flat planning,
 * docs/distributed.md): the tasks the rank runs, and stand-ins ("ghosts",
 * placed on their owners) for the other ranks' tasks it receives from or
 * sends to, so cask_plan_new(g, nranks, rank, &p) (which plans a part
 * without the broadcast rule) gives the rank's plan of the whole graph in time and memory that grow
 * with the rank's part only. Only for jobs of sources, file reads and
 * elementwise steps on one grid of blocks with reductions of them as
 * outputs (or read back over the leading axes they reduce, as in
 * x - mean(x, axis=0)), on at most as many ranks as blocks: for others *out is NULL
 * (CASK_OK) and why (required) says what stopped it (why_cap bytes). The graph is
 * for planning: it is not culled and its ghosts never run. */
CASK_API int cask_arrays_graph_part(int n, cask_array *const *arrays, int nranks, int rank, cask_graph **out,
                                    char *why, size_t why_cap);

#ifdef __cplusplus
}
#endif
#endif
