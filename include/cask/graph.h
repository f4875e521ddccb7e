/* graph.h - task graphs: tasks, keys, the op registry, validation,
 * optimizations (cull, fuse, order) and JSON / DOT output.
 *
 * A task is a key (a readable name, hashed to 64 bits), an op, the op's
 * arguments (a byte blob copied into the graph) and the keys it depends on.
 * Ops are registered by name once per process; a graph stores the op, never a
 * function pointer of its own, so every graph can be written as JSON and read
 * back to run. A graph is not thread-safe: build and optimize it from one
 * thread, and do not change it while a run uses it. */
#ifndef CASK_GRAPH_H
#define CASK_GRAPH_H

#include <stdint.h>
#include <stdio.h>

#include "cask/alloc.h"
#include "cask/block.h"
#include "cask/export.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;
typedef struct cask_graph cask_graph;
typedef struct cask_op cask_op;
/* Index of a task in its graph, 0..cask_graph_size()-1. Cull and fuse
 * renumber tasks: look ids up again by key after them. */
typedef uint32_t cask_task_id;

/* ---- ops --------------------------------------------------------------- */

/* What an op's run function sees. Inputs are borrowed, in dependency order
 * (an entry is NULL when that dependency produced no value). The op sets
 * `output` to a block whose one reference it hands over, or leaves it NULL.
 * On failure it returns a negative cask_err and may write its own message to
 * errmsg (cap bytes, always NUL-terminated by the scheduler). */
typedef struct cask_task_io {
  const void *args;
  size_t args_len;
  cask_block *const *inputs;
  size_t ninputs;
  cask_block *output;
  char *errmsg;
  size_t errmsg_cap;
  void *op_data; /* the op's registered op_data */
  int worker;    /* index of the worker running the task; -1 when the memory
                    manager re-makes a dropped block of a CASK_OP_PURE op */
} cask_task_io;

/* An op definition. `name` and `run` are required. args_to_json adds the
 * op's arguments as fields of `obj`; args_from_json reads them back into a
 * blob allocated with malloc-compatible cask allocation (the reader frees it
 * with cask_free()). Without them, arguments are written as hex bytes.
 * flags: CASK_OP_PURE or 0. */
struct cask_op {
  const char *name;
  int (*run)(cask_task_io *io);
  int (*args_to_json)(const void *args, size_t len, struct cJSON *obj);
  int (*args_from_json)(const struct cJSON *obj, void **args, size_t *len,
                        char *err, size_t errcap);
  void *op_data;
  unsigned flags;
  /* 0: any length; else the exact byte length of the op's arguments,
   * checked when a task is added or read from JSON (an op reading a fixed
   * struct from args_hex of another length would read out of bounds) */
  size_t args_size;
};
/* The op's block depends on its arguments (and inputs) alone and running it
 * has no side effects: under a memory limit the block of a task without
 * inputs, or of a task whose inputs are all such tasks, may be dropped and
 * made again by running the ops again, when that costs less than writing it
 * to a spill file and reading it back (cask's .npy and Zarr readers,
 * generators, elementwise kernels, transposes and slices are pure). A block
 * made again must have the same bits (checked), or the run fails. */
#define CASK_OP_PURE 1u
/* With CASK_OP_PURE: the op itself refuses to make a block from a source
 * that changed (cask's .npy reader checks the file's size, time and inode
 * on every read), so a block made again is not also compared with a
 * checksum of the first one (which cost a sixth of a run that re-reads a
 * .npy file). */
#define CASK_OP_CHECKS_SOURCE 2u

/* Register an op; the definition (and its name) is copied. *out (may be
 * NULL) receives the registered op, valid for the life of the process.
 * Errors: CASK_EINVAL (no name or run), CASK_EOPEXISTS. Thread-safe. */
CASK_API int cask_op_register(const cask_op *def, const cask_op **out);
/* The registered op of that name, or NULL. Built-in ops ("cask.noop",
 * "cask.fused") are always there. Thread-safe. */
CASK_API const cask_op *cask_op_find(const char *name);

/* ---- building ---------------------------------------------------------- */

/* New empty graph. Free with cask_graph_free (NULL is a no-op). */
CASK_API int cask_graph_new(cask_graph **out);
CASK_API void cask_graph_free(cask_graph *g);
/* Remove every task but keep the memory, to build the next graph in it
 * without faulting in fresh pages (what a service running many graphs
 * wants). */
CASK_API int cask_graph_clear(cask_graph *g);

/* Add a task whose dependencies are tasks already in the graph.
 * key: the task's name; NULL derives one from the op, the arguments and the
 * dependency keys ("opname-<16 hex digits>"), and then an identical task
 * added before is returned instead of a new one (common-subexpression
 * elimination). args are copied. Errors: CASK_EINVAL (bad id, NULL op),
 * CASK_ETOOBIG, CASK_ENOMEM; the graph's message says which task.
 * Keys are indexed lazily, in batches (a lookup per add would cost a cache
 * miss per task on large graphs): a duplicate key is reported, as
 * CASK_EDUPKEY naming the key, by the first call that needs the index
 * (cask_graph_find, an add with key NULL, cask_graph_validate and everything
 * that validates), and the graph is refused until cask_graph_clear. */
CASK_API int cask_graph_add(cask_graph *g, const char *key, const cask_op *op,
                            const void *args, size_t args_len, const cask_task_id *deps,
                            size_t ndeps, cask_task_id *out);
/* The same with dependencies named by key; they may be added later (a key
 * still missing at validation is CASK_EMISSINGDEP). key must not be NULL. */
CASK_API int cask_graph_add_keyed(cask_graph *g, const char *key, const cask_op *op,
                                  const void *args, size_t args_len,
                                  const char *const *dep_keys, size_t ndeps,
                                  cask_task_id *out);

/* Make room for ntasks tasks and ndeps dependency edges in all, so that
 * building a large graph does not reallocate. Optional. */
CASK_API int cask_graph_reserve(cask_graph *g, size_t ntasks, size_t ndeps);

/* Mark a task as a requested output (its block is kept for the caller). */
CASK_API int cask_graph_set_output(cask_graph *g, cask_task_id id, int is_output);
/* Declare the bytes a task's result will hold (for order and peak memory). */
CASK_API int cask_graph_set_size(cask_graph *g, cask_task_id id, int64_t nbytes);

/* Placement hints: where a distributed run (docs/distributed.md,
 * "Placement") should put a task. They say nothing about the rank count, so
 * a graph is the same for every K; the placement maps them to ranks. A
 * hint changes no result, only which rank computes it. */
typedef enum cask_place_kind {
  CASK_PLACE_NONE = 0,   /* the default rules: roots in runs, others by majority */
  CASK_PLACE_GRID = 1,   /* block (i, j) on the block-cyclic P x Q process
                            grid (P * Q = K) chosen for an ni x nj block
                            grid: rank (i mod P) * Q + j mod Q */
  CASK_PLACE_FOLLOW = 2, /* the rank of input i (0 <= i < the task's inputs) */
  CASK_PLACE_RANK = 3,   /* rank i (i mod K) */
  CASK_PLACE_RUN = 4     /* root i of ni (0 <= i < ni) in runs: ni split
                            into K contiguous runs of equal count, the
                            first ni % K one longer, as the unhinted roots
                            are; j and nj are 0. Set by the array library
                            on the roots of a job it plans flat
                            (docs/flat-planning.md) */
} cask_place_kind;
typedef struct cask_place_hint {
  int kind; /* a cask_place_kind */
  uint32_t i, j, ni, nj;
} cask_place_hint;
/* Set task id's hint (NONE clears it). CASK_EINVAL for a bad kind, a FOLLOW
 * of an input it lacks, a GRID of an empty grid or a RUN with ni = 0,
 * i >= ni or j, nj not 0 (message in cask_graph_errmsg). Hints are kept
 * by graph files and digests. */
CASK_API int cask_graph_set_place(cask_graph *g, cask_task_id id, const cask_place_hint *h);
CASK_API int cask_graph_get_place(const cask_graph *g, cask_task_id id, cask_place_hint *h);

/* ---- inspecting -------------------------------------------------------- */

CASK_API size_t cask_graph_size(const cask_graph *g);
/* Look a key up. May bring the key index up to date (a write inside a
 * const graph): after cask_graph_validate it only reads. */
CASK_API int cask_graph_find(const cask_graph *g, const char *key, cask_task_id *out);
CASK_API const char *cask_graph_key(const cask_graph *g, cask_task_id id);
CASK_API const cask_op *cask_graph_op(const cask_graph *g, cask_task_id id);
CASK_API const void *cask_graph_args(const cask_graph *g, cask_task_id id, size_t *len);
CASK_API int cask_graph_is_output(const cask_graph *g, cask_task_id id);
CASK_API int64_t cask_graph_size_estimate(const cask_graph *g, cask_task_id id);
/* Dependencies as ids; the graph must be validated (else NULL, *n = 0). */
CASK_API const cask_task_id *cask_graph_deps(const cask_graph *g, cask_task_id id,
                                             size_t *n);
/* Dependents (consumers) as ids; the graph must be validated. */
CASK_API const cask_task_id *cask_graph_dependents(const cask_graph *g, cask_task_id id,
                                                   size_t *n);
/* The last error's message (names keys, fields, files); "" if none. */
CASK_API const char *cask_graph_errmsg(const cask_graph *g);

/* ---- validating and optimizing ----------------------------------------- */

/* Resolve dependency keys and check the graph: CASK_EMISSINGDEP (names both
 * keys), CASK_ECYCLE (names tasks on the cycle). Idempotent and cheap once
 * done; adding a task undoes it. */
CASK_API int cask_graph_validate(cask_graph *g);
/* Drop every task that no output needs. With no output marked, every sink
 * (task without dependents) counts as an output. Renumbers tasks. */
CASK_API int cask_graph_cull(cask_graph *g);
/* Fuse linear chains: a task whose only consumer has it as its only input
 * runs inside that consumer (op "cask.fused"), which keeps its key. Outputs
 * are never fused away. Renumbers tasks. */
CASK_API int cask_graph_fuse(cask_graph *g);
/* Compute the static order: a priority per task (0 runs first) that finishes
 * the work which frees memory before starting new roots. */
CASK_API int cask_graph_order(cask_graph *g);
/* Priority of a task (ordered graph), or UINT32_MAX when not ordered. */
CASK_API uint32_t cask_graph_priority(const cask_graph *g, cask_task_id id);
/* Peak bytes held when the tasks run one at a time in priority order, from
 * the declared sizes (unknown sizes count 0). Needs an ordered graph. */
CASK_API int cask_graph_predicted_peak(const cask_graph *g, int64_t *bytes);

enum {
  CASK_OPT_CULL = 1,
  CASK_OPT_FUSE = 2,
  CASK_OPT_ORDER = 4,
  CASK_OPT_ALL = 7
};
/* validate, then the chosen passes in the order cull, fuse, order. */
CASK_API int cask_graph_optimize(cask_graph *g, unsigned passes);

/* ---- JSON and DOT ------------------------------------------------------ */

/* Write the graph as JSON, one task per line (docs/graphs.md):
 *   {"cask_graph":1,"ntasks":N,"tasks":[
 *   {"key":..,"op":..,"args":{..},"deps":[keys],"output":true,"size":B,
 *    "priority":P}, ...]}
 * "output", "size" and "priority" appear only when set. The file is written
 * to a temporary name and renamed when complete. Validates the graph first
 * and returns its error. */
CASK_API int cask_graph_write_json(cask_graph *g, const char *path);
/* The same JSON as a string from cask_malloc; free with cask_free. */
CASK_API int cask_graph_to_json(cask_graph *g, char **out, size_t *len);
/* Read a graph written by cask_graph_write_json, by hand or by another
 * program. The reader is strict: unknown or repeated fields, trailing text,
 * NUL bytes, a "size" that is not a whole number in [0, 2^53), an "ntasks"
 * that does not match, and nesting deeper than 1000 are refused. Priorities
 * in the file are not trusted: an ordered graph is ordered again. Bad input
 * gets CASK_EJSON / CASK_EUNKNOWNOP / CASK_EDUPKEY / CASK_EMISSINGDEP /
 * CASK_ECYCLE with a message naming the task index, key and field (line and
 * column for syntax) in *errmsg (from cask_malloc, or NULL; free with
 * cask_free). cJSON keeps its last parse error in a process-wide variable:
 * do not parse graph JSON on two threads at once. */
CASK_API int cask_graph_from_json(const char *text, size_t len, cask_graph **out,
                                  char **errmsg);
CASK_API int cask_graph_read_json(const char *path, cask_graph **out, char **errmsg);
/* Write Graphviz DOT (nodes labelled by key and op). Temporary name, then
 * rename. Needs a validated graph. */
CASK_API int cask_graph_write_dot(cask_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif
