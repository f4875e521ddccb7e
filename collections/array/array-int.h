/* array-int.h - the array expression graph and what lowering needs.
 *
 * A cask_array is one node of a small expression graph (one node per
 * operation, whatever the number of blocks). Its token is a hash of its kind,
 * parameters, shape, chunks and its inputs' tokens: block task keys are
 * "<kind>-<token>-<i>,<j>,...", so the same subexpression built twice lowers
 * to the same tasks (the graph returns the existing task for a key), and a
 * block that no output needs is never built. */
#ifndef CASK_ARRAY_INT_H
#define CASK_ARRAY_INT_H

#include <stdatomic.h>

#include "../../graph/graph-int.h"
#include "cask/array.h"

#define CASK__KERNEL_PIECE 1024 /* elements per pass of a fused kernel */
#define CASK__MAX_LEAVES 64     /* leaf inputs of one fused kernel */
#define CASK__MAX_PROG 128      /* instructions of one fused kernel */
#define CASK__MAX_DEPTH 4096    /* operations between an array and its sources */

typedef enum cask__kind {
  NODE_FULL, NODE_ARANGE, NODE_RANDOM, NODE_BUFFER, NODE_UNARY, NODE_BINARY,
  NODE_SCALAR_BINARY, NODE_REDUCE, NODE_KIND_COUNT
} cask__kind;

struct cask_ctx {
  cask_runtime *rt;
  int split_every;
  char errmsg[1024];
};

struct cask_array {
  atomic_long refs;
  cask_ctx *ctx;
  cask__kind kind;
  int op; /* cask_unop, cask_binop or cask_reduction */
  int ndim;
  int64_t shape[CASK_MAX_NDIM];
  int64_t chunk[CASK_MAX_NDIM];
  cask_array *in[2];
  uint64_t token;
  int depth; /* operations from this node down to its deepest source */
  union {
    double value;                          /* FULL; SCALAR_BINARY's scalar */
    struct { double start, step; } range;  /* ARANGE */
    struct { uint64_t seed; int normal; } random;
    struct {
      const double *data;
      void (*release)(void *, void *);
      void *user;
    } buffer;
    struct {
      uint32_t axes;   /* bit i: input axis i is reduced */
      int ddof;
    } reduce;
  } p;
  int scalar_first; /* SCALAR_BINARY: s op a */
};

/* array.c */
int cask__node_new(cask_ctx *ctx, cask__kind kind, int op, int ndim, const int64_t *shape,
                   const int64_t *chunk, cask_array *in0, cask_array *in1, cask_array **out);
/* Finish a node: hash its token from everything that defines it. */
void cask__node_seal(cask_array *a, const void *params, size_t len);
int64_t cask__nblocks(const cask_array *a, int axis);
int cask__fail(cask_ctx *ctx, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cask__shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);
static inline int cask__is_elementwise(const cask_array *a) {
  return a->kind == NODE_UNARY || a->kind == NODE_BINARY || a->kind == NODE_SCALAR_BINARY;
}

/* Lowering (lower.c). */
typedef struct cask__lower {
  cask_graph *g;
  cask_ctx *ctx;
} cask__lower;
/* The task computing block `bidx` of a; added (with what it needs) unless
 * the graph has it. */
int cask__lower_block(cask__lower *L, cask_array *a, const int64_t *bidx, cask_task_id *out);
/* Block bidx of elementwise a, written into dst (a C-order buffer of a's
 * whole shape) by the task, which produces no block. */
int cask__lower_into(cask__lower *L, cask_array *a, const int64_t *bidx, double *dst,
                     cask_task_id *out);
/* The task key of block bidx of a. */
void cask__node_block_key(const cask_array *a, const int64_t *bidx, char *buf, size_t cap);
/* Offset and extent of a block along every axis. */
void cask__block_box(const cask_array *a, const int64_t *bidx, int64_t *off, int64_t *ext);

/* Source blocks (create.c). */
int cask__lower_source(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                       cask_task_id *out);
void cask__register_array_ops(void);
void cask__register_array_sources(void);

#endif
