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

#include "../../../core/index.h"
#include "../../../graph/graph-int.h"
#include "cask/array.h"

#define CASK__MAX_DEPTH 4096 /* operations between an array and its sources */

typedef enum cask__kind {
  CASK__NODE_SOURCE, CASK__NODE_UNARY, CASK__NODE_BINARY,
  CASK__NODE_SCALAR_BINARY, CASK__NODE_REDUCE, CASK__NODE_WHERE, CASK__NODE_CAST,
  CASK__NODE_EXT, /* defined by a module of its own through a cask__node_class */
  CASK__NODE_KIND_COUNT
} cask__kind;

struct cask_ctx {
  atomic_long refs; /* the caller's (until cask_ctx_free) and one per array */
  cask_runtime *rt;
  int split_every;
  int64_t chunk_bytes;
  char errmsg[1024];
};

typedef struct cask__lower cask__lower;

/* What the module of a kind of node (sources, elementwise trees,
 * reductions, slicing, matmul, .npy, ...) gives: the key prefix of its
 * blocks, how to lower one block, and how to free its parameters (a->ext).
 * Every node has one: cask__lower_block only calls its lower. */
typedef struct cask__node_class {
  const char *name;
  /* The task computing block bidx of a under key (or an existing task that
   * already computes exactly that block, e.g. a block of an input). */
  int (*lower)(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
               cask_task_id *out);
  void (*free_ext)(void *ext); /* NULL: cask__free */
  int selects; /* lowers only the input blocks its blocks need (a slice) */
  int unknown_ok; /* takes inputs of unknown block lengths (a->unknown) */
  /* The key prefix of a's blocks when it is not name (a source's op). */
  const char *(*prefix)(const cask_array *a);
  /* Flat planning (anchor.c, docs/flat-planning.md). aligned: block bidx
   * of a node on the anchor grid reads only tasks of anchor block bidx
   * (sources, file reads, elementwise trees). lower_part: the tasks of a
   * rank for the input blocks at its anchor positions pos[0..npos-1]
   * (ascending), with ghosts for other ranks' neighbours (reductions). */
  int aligned;
  int (*lower_part)(cask__lower *L, cask_array *a, const int64_t *pos, size_t npos);
  /* A stand-in for block bidx of such a node made on another rank (its
   * owner and size known in closed form), read by this rank's tasks. */
  int (*part_ghost)(cask__lower *L, cask_array *a, const int64_t *bidx, cask_task_id *out);
} cask__node_class;

/* Sources (creation functions, a caller's buffer) compute element values
 * from a flat index alone; a source node reads them through an affine view:
 * the element at index (i0, i1, ...) of the node is flat index
 * base + sum(ik * fstride[k]) of the source. So slicing and transposing a
 * source make another source (no task reads the untouched elements). */
typedef enum cask__source_op {
  CASK__SRC_FULL, CASK__SRC_EMPTY, CASK__SRC_ARANGE, CASK__SRC_LINSPACE, CASK__SRC_EYE,
  CASK__SRC_UNIFORM, CASK__SRC_NORMAL, CASK__SRC_BUFFER,
  CASK__SRC_COUNT
} cask__source_op;

typedef struct cask__source {
  double a, b, c;     /* FULL: a = value; ARANGE: start a, step b; LINSPACE:
                         start a, step b, c = the last value (num-1 at stop when
                         endpoint) ; EYE: a = k, b = m (columns) */
  int64_t count;      /* LINSPACE: num */
  uint64_t seed;      /* UNIFORM, NORMAL */
  const void *data;   /* BUFFER: element 0 of the buffer (in the source dtype) */
  uint64_t content;   /* BUFFER: a hash of the whole buffer's bytes (the token's, not data) */
  void (*release)(void *, void *); /* BUFFER, first node only */
  void *user;
  int64_t base;
  int64_t fstride[CASK_MAX_NDIM];
} cask__source;

struct cask_array {
  atomic_long refs;
  cask_ctx *ctx;
  cask__kind kind;
  int op; /* cask_unop, cask_binop or cask_reduction */
  cask_dtype dtype;
  int ndim;
  int64_t shape[CASK_MAX_NDIM];
  int64_t chunk[CASK_MAX_NDIM];
  int nin;          /* inputs in in[0 .. nin-1] */
  cask_array **in;  /* in_inline, or an allocation for more than two */
  cask_array *in_inline[2];
  const cask__node_class *cls; /* how its blocks are lowered */
  void *ext;                   /* CASK__NODE_EXT's parameters, freed with the node */
  uint64_t token;
  int depth; /* operations from this node down to its deepest source */
  union {
    struct {
      double value;  /* SCALAR_BINARY's scalar */
      int64_t ivalue; /* the same, exact, when it is an integer (scalar_int 1) */
    } scalar;
    cask__source source;
    struct {
      uint32_t axes;   /* bit i: input axis i is reduced */
      int ddof;
    } reduce;
  } p;
  /* Axes whose blocks' lengths depend on data (dask's NaN chunks; bit i:
   * axis i): shape[i] and chunk[i] are CASK_UNKNOWN, ublocks[i] blocks lie
   * along it and ukey[i] is the token of the node whose data decide them
   * (a selection). Two arrays have the same blocks there when their ukeys
   * are equal. Only nodes that take blocks' lengths from the blocks at run
   * time accept such inputs (cask__node_new_n refuses them elsewhere). */
  uint32_t unknown;
  int64_t ublocks[CASK_MAX_NDIM];
  uint64_t ukey[CASK_MAX_NDIM];
  int scalar_first; /* SCALAR_BINARY: s op a */
  int scalar_int;   /* SCALAR_BINARY: the scalar is a float (0), an integer (1), a bool (2) */
};

/* array.c */
/* A node of class cls with one reference, retaining its inputs (in0, in1
 * may be NULL). Call cask__node_seal when its parameters are set. */
int cask__node_new(cask_ctx *ctx, cask__kind kind, const cask__node_class *cls, int op,
                   cask_dtype dtype, int ndim, const int64_t *shape, const int64_t *chunk,
                   cask_array *in0, cask_array *in1, cask_array **out);
/* The same with nin inputs (any number). */
int cask__node_new_n(cask_ctx *ctx, cask__kind kind, const cask__node_class *cls, int op,
                     cask_dtype dtype, int ndim, const int64_t *shape, const int64_t *chunk,
                     int nin, cask_array *const *in, cask_array **out);
/* A CASK__NODE_EXT node of class cls owning ext (freed with the node, also
 * when this call fails). */
int cask__node_new_ext(cask_ctx *ctx, const cask__node_class *cls, void *ext, cask_dtype dtype,
                       int ndim, const int64_t *shape, const int64_t *chunk, int nin,
                       cask_array *const *in, cask_array **out);
/* Axis i of a (shape and chunk set to CASK_UNKNOWN) has nblocks blocks
 * whose lengths the data of the node of token key decide. */
void cask__set_unknown(cask_array *a, int axis, int64_t nblocks, uint64_t key);
/* CASK_OK when a's block lengths are all known; else CASK_EINVAL with the
 * context's message saying that fn needs them and how to get them. */
int cask__need_sizes(const cask_array *a, const char *fn);
/* Finish a node: hash its token from everything that defines it. */
void cask__node_seal(cask_array *a, const void *params, size_t len);
int64_t cask__nblocks(const cask_array *a, int axis);
/* Move bidx on to a's next block in C order (cask__index_next over its
 * grid of blocks); 0 when bidx was the last block. */
int cask__next_block(const cask_array *a, int64_t *bidx);
/* The most tasks one array graph is built for: a kernel's or a partial
 * reduction's arguments take up to ~600 bytes, and a graph keeps them in a
 * 4 GiB arena (sum(zeros(10^8)) in chunks of 1 ran 18 s and took 5 GB
 * before it filled the arena at 6.9 million tasks). */
#define CASK__MAX_ARRAY_TASKS ((int64_t)1 << 23)
/* CASK_OK, or CASK_ETOOBIG (with the context's message naming the array
 * with the most blocks and chunks that would fit) when lowering the arrays
 * would make more tasks than that: checked before anything is built. */
int cask__check_block_count(int n, cask_array *const *arrays);
/* Drop one reference to ctx (an array's, or the caller's): the last frees
 * it and its runtime. */
void cask__ctx_release(cask_ctx *ctx);
int cask__fail(cask_ctx *ctx, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cask__shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);
/* Bytes of one element of a's dtype. */
static inline size_t cask__itemsize(const cask_array *a) { return cask_dtype_size(a->dtype); }
static inline int cask__is_elementwise(const cask_array *a) {
  return a->kind == CASK__NODE_UNARY || a->kind == CASK__NODE_BINARY || a->kind == CASK__NODE_SCALAR_BINARY ||
         a->kind == CASK__NODE_WHERE || a->kind == CASK__NODE_CAST;
}

#define CASK__MAX_OPERAND_REDUCTIONS 16

/* The anchor grid of a job for flat planning (anchor.c): the blocks of
 * the nodes every task lies at, numbered in positions (lexicographic, axis
 * perm[0] slowest), split into runs of positions, one per rank. */
typedef struct cask__anchor {
  int ndim;
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  int64_t nb[CASK_MAX_NDIM]; /* blocks per axis */
  int perm[CASK_MAX_NDIM];
  int64_t count;
  /* Reductions read as operands (broadcast back over the axes they
   * reduce, as in x - mean(x, axis=0)), inputs before what reads them. */
  cask_array *ops[CASK__MAX_OPERAND_REDUCTIONS];
  int nops;
} cask__anchor;

/* Lowering (lower.c). */
struct cask__lower {
  cask_graph *g;
  cask_ctx *ctx;
  const cask__anchor *G; /* non-NULL: roots get RUN hints (cask__stamp_root) */
  int nranks, rank;      /* nranks > 0: only rank's part, other ranks' neighbours as ghosts */
};

/* anchor.c. 1 when the outputs form a job each rank can lower its part
 * of alone (sources, file reads and elementwise steps on one grid of
 * blocks, reductions of them as outputs only), with its grid in *G; else 0
 * with the reason in why. Depends on the arrays only (never on K). */
int cask__anchor_find(int n, cask_array *const *outs, cask__anchor *G, char *why, size_t cap);
/* Whether a has G's shape and chunks (its blocks are anchor blocks). */
int cask__anchor_on(const cask__anchor *G, const cask_array *a);
int64_t cask__anchor_pos(const cask__anchor *G, const int64_t *abidx);
void cask__anchor_at(const cask__anchor *G, int64_t p, int64_t *abidx);
/* The rank owning position p on nranks ranks, and a rank's positions
 * lo .. lo + n - 1 (place.c's split of roots into runs). */
int cask__anchor_rank(const cask__anchor *G, int64_t p, int nranks);
void cask__anchor_range(const cask__anchor *G, int nranks, int rank, int64_t *lo, int64_t *n);
/* Gives root task id (no inputs, no hint yet) of anchor block abidx its
 * RUN hint; nothing when L has no grid. */
int cask__stamp_root(cask__lower *L, cask_task_id id, const int64_t *abidx);
/* The same for task id of anchor block abidx reading a reduction's
 * result (one of leaves[0..n-1]): it stays at its anchor block, whatever
 * placement would make of a block every rank reads. */
int cask__stamp_reader(cask__lower *L, cask_task_id id, const int64_t *abidx, cask_array *const *leaves, uint32_t n);
/* Whether a is one of G's operand reductions. */
int cask__anchor_operand(const cask__anchor *G, const cask_array *a);
/* A stand-in in a rank's partial graph for task key of rank owner (a
 * producer it receives, or a reader it sends to, with the given inputs),
 * of size bytes; the existing task when the key is there. */
/* The blocks of output a that rank L->rank makes from its anchor
 * positions pos[0..npos-1] (ascending), fn called for each: an aligned
 * node's blocks at them; a reduction's output blocks whose fold ends on
 * the rank (cask__part_lower made them). */
int cask__part_blocks(cask__lower *L, cask_array *a, const int64_t *pos, size_t npos,
                      int (*fn)(cask__lower *L, cask_array *a, const int64_t *bidx, void *arg), void *arg);
/* The rank's part of each reduction among the n outputs (once per
 * expression). */
int cask__part_lower(cask__lower *L, int n, cask_array *const *arrays, const int64_t *pos, size_t npos);
/* The digest ranks compare for a run of parts: the outputs' tokens (each
 * a hash of its whole expression), their target kinds (NULL: none), the
 * grid and the rank count. Never 0. */
uint64_t cask__part_digest(int n, cask_array *const *arrays, const int *kinds, const cask__anchor *G, int nranks);
void cask__register_ghost_ops(void); /* lower.c */
int cask__ghost(cask__lower *L, const char *key, int owner, const cask_task_id *deps, size_t ndeps, int64_t size,
                cask_task_id *out);
/* The task computing block `bidx` of a; added (with what it needs) unless
 * the graph has it. */
int cask__lower_block(cask__lower *L, cask_array *a, const int64_t *bidx, cask_task_id *out);
/* "<kind>-<token>-i,j,..." for a task of a node (kind: any prefix). */
void cask__block_key(char *buf, size_t cap, const char *kind, uint64_t token, int ndim,
                     const int64_t *bidx);
/* The task key of block bidx of a. */
void cask__node_block_key(const cask_array *a, const int64_t *bidx, char *buf, size_t cap);
/* Offset and extent of a block along every axis. */
void cask__block_box(const cask_array *a, const int64_t *bidx, int64_t *off, int64_t *ext);

static inline int cask__is_source(const cask_array *a) { return a->kind == CASK__NODE_SOURCE; }

#endif
