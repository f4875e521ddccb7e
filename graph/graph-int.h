/* graph-int.h - the task graph's storage, shared by the files of graph/
 * and read by the scheduler.
 *
 * Tasks live in one array of fixed-size records; keys, argument blobs and
 * dependency lists live in three arenas the records point into by offset, so
 * a graph of millions of tasks is a handful of allocations. Dependencies are
 * stored as key hashes (they may name tasks added later) plus a parallel
 * array of resolved indices. Everything under "derived" is rebuilt by
 * cask_graph_validate and dropped by any change: check g->validated. */
#ifndef CASK_GRAPH_INT_H
#define CASK_GRAPH_INT_H

#include "../core/internal.h"

#define CASK__NO_TASK UINT32_MAX
#define CASK__ERRMSG_CAP 1024
#define CASK__TASK_OUTPUT 1u
/* A ghost: in one rank's partial graph (docs/flat-planning.md, section 4),
 * a stand-in for a task another rank makes and runs, kept only for its
 * edges to this rank's tasks: a producer this rank receives from (a root
 * here, without its own inputs) or a reader it sends to. Always carries a
 * RANK hint naming its owner, so placement puts it there. Its edges are
 * only those the rank knows, so it never fuses (fuse.c), and a graph file
 * would plan it as a real task: the JSON writer refuses it. Compaction,
 * cull and order keep the flag with the task record. */
#define CASK__TASK_GHOST 2u

typedef struct cask__task {
  uint64_t hash;       /* hash of the key string */
  const cask_op *op;
  uint32_t key_off, key_len;   /* into keys; NUL-terminated there */
  uint32_t args_off, args_len; /* into args; 8-byte aligned */
  uint32_t deps_off, ndeps;    /* into dep_hash / dep_idx */
  int64_t size;                /* declared result bytes, -1 unknown */
  uint32_t flags;
  uint32_t place_kind; /* a cask_place_kind: where a distributed run puts it */
  uint32_t place[4];   /* its i, j, ni, nj (cask_place_hint) */
} cask__task;

struct cask_graph {
  cask__task *tasks;
  size_t ntasks, tasks_cap;
  char *keys;
  size_t keys_len, keys_cap;
  unsigned char *args;
  size_t args_len, args_cap;
  uint64_t *dep_hash;
  uint32_t *dep_idx; /* CASK__NO_TASK until resolved */
  uint32_t *dep_idx2; /* compaction's second buffer (compact.c) */
  size_t dep_idx2_cap;
  int acyclic; /* known without checking: set by compaction, reset by adds */
  /* A rank's part of an array job's graph (collections/array/core/anchor.c:
   * its tasks and ghosts), made for rank part_rank of part_ranks > 0; the
   * ranks compare part_digest (the job's) instead of their graphs'. */
  int part_ranks, part_rank;
  uint64_t part_digest;
  /* The text of dependency keys given by name (cask_graph_add_keyed), so a
   * missing one can be named: (edge index, offset in keys), ascending. */
  uint64_t *dep_names;
  size_t ndep_names, dep_names_cap;
  size_t ndeps, deps_cap, dep_idx_cap;
  /* open addressing, linear probing: (task index + 1) | hash high bits
   * << 32, 0 = empty. The hash bits let a probe skip non-matching tasks
   * without reading their records (a cache miss each). */
  uint64_t *table;
  size_t table_cap;
  size_t nindexed;    /* tasks [0, nindexed) are in the table */
  uint32_t dup_task;  /* first task found with a duplicate key, or none */
  size_t noutputs;

  /* derived; the buffers keep their capacity across changes and
   * cask_graph_clear, so a reused graph does not fault in fresh pages */
  int validated;
  uint32_t *succ_off; /* ntasks + 1 */
  uint32_t *succ;     /* ndeps */
  size_t succ_off_cap, succ_cap;
  uint32_t *prio;     /* = prio_buf once ordered, NULL before */
  uint32_t *prio_buf;
  size_t prio_cap;
  void *scratch; /* temporary arrays of validate and order */
  size_t scratch_cap;

  char errmsg[CASK__ERRMSG_CAP];
};

static inline const char *cask__key(const cask_graph *g, uint32_t i) {
  return g->keys + g->tasks[i].key_off;
}
static inline const void *cask__args(const cask_graph *g, uint32_t i) {
  return g->args + g->tasks[i].args_off;
}

uint64_t cask__key_hash(const char *key, size_t len);
/* The key index (keys.c). Tasks are appended without touching it; the
 * first lookup after that indexes them in one batch, with prefetching, and
 * reports a duplicate key then (CASK_EDUPKEY, sticky until cleared). */
int cask__index_update(cask_graph *g);
/* *out = the task with that key, or CASK__NO_TASK. */
int cask__index_lookup(cask_graph *g, uint64_t hash, const char *key, size_t len,
                       uint32_t *out);
/* The task whose key has that hash (for dependencies, stored as hashes). */
uint32_t cask__index_find_hash(const cask_graph *g, uint64_t hash);
int cask__index_reserve(cask_graph *g, size_t ntasks);
void cask__index_clear(cask_graph *g);
/* Append a task; deps given as hashes with optional known indices (NULL:
 * all unresolved). The core of both public add calls; duplicate keys are
 * found later, by the key index. */
int cask__add(cask_graph *g, const char *key, size_t key_len, uint64_t hash,
              const cask_op *op, const void *args, size_t args_len,
              const uint64_t *dep_hash, const uint32_t *dep_idx, size_t ndeps,
              cask_task_id *out);
/* Scratch memory of at least n bytes (valid until the next call). */
void *cask__scratch(cask_graph *g, size_t n);
/* The key text of dependency edge `edge` if it was given by name, or NULL. */
const char *cask__dep_name(const cask_graph *g, size_t edge);
/* Keep the tasks with map[i] != CASK__NO_TASK (map: old -> new index, in
 * order), task i taking the dependency list of deps_from[i] (NULL: its
 * own). The graph must be validated; it is left unvalidated. */
int cask__compact(cask_graph *g, const uint32_t *map, const uint32_t *deps_from);
/* Drop the derived state after a change. */
void cask__invalidate(cask_graph *g);
/* Release all storage of a graph struct, leaving it empty. */
void cask__graph_clear(cask_graph *g);

/* Mark task id a ghost (CASK__TASK_GHOST). Its RANK hint must be set
 * first (CASK_EINVAL naming the task otherwise); the hint then cannot be
 * changed to another kind. For the array library's partial lowering. */
int cask__graph_set_ghost(cask_graph *g, cask_task_id id);
/* 1 when task id is a ghost, else 0 (also for a bad id). */
int cask__graph_is_ghost(const cask_graph *g, cask_task_id id);

/* The most argument bytes one task may carry when they come from a caller
 * or a graph file: arguments are parameters; data belongs in blocks (a
 * graph file with a 2 GB "args_hex" took 8.4 GB to read). */
#define CASK__MAX_TASK_ARGS ((size_t)16 << 20)

/* Built-in ops (registry.c) and the fused op's blob layout (fused.c). */
extern const cask_op *cask__op_fused;
extern const cask_op *cask__op_noop;
void cask__registry_init(void);
/* Register one of cask's own ops whose arguments hold addresses: the
 * public cask_graph_add / cask_graph_add_keyed refuse it (cask adds its
 * tasks with cask__graph_add), and without args_to_json it is not
 * serializable (CASK_ENOTSERIAL). */
int cask__op_register_private(const cask_op *def, const cask_op **out);
int cask__op_is_private(const cask_op *op);
/* cask_graph_add and cask_graph_add_keyed without the refusal of private
 * ops: for cask's own code, which makes their arguments. */
int cask__graph_add(cask_graph *g, const char *key, const cask_op *op, const void *args,
                    size_t args_len, const cask_task_id *deps, size_t ndeps, cask_task_id *out);
int cask__graph_add_keyed(cask_graph *g, const char *key, const cask_op *op, const void *args,
                          size_t args_len, const char *const *dep_keys, size_t ndeps,
                          cask_task_id *out);

typedef struct cask__fused_elem {
  const cask_op *op;
  uint32_t key_len, args_len; /* followed by key bytes + NUL, padded to 8,
                                 then args, padded to 8 */
} cask__fused_elem;
/* Walk a fused blob: element i's op, key and args. Returns the number of
 * elements, or 0 for a malformed blob. */
uint32_t cask__fused_count(const void *blob, size_t len);
/* Iterator: *pos starts at 0; returns 0 at the end or on a bad blob. */
int cask__fused_next(const void *blob, size_t len, size_t *pos,
                     const cask_op **op, const char **key, uint32_t *key_len,
                     const void **args, uint32_t *args_len);
/* Append one element to a growable blob (first call: *blob NULL, *len 0). */
int cask__fused_append(unsigned char **blob, size_t *len, size_t *cap,
                       const cask_op *op, const char *key, uint32_t key_len,
                       const void *args, uint32_t args_len);
/* The fused op's run (fused.c) and its JSON hooks (json_args.c), which
 * the registry installs. */
int cask__fused_run(cask_task_io *io);
int cask__fused_to_json(const void *args, size_t len, struct cJSON *obj);
int cask__fused_from_json(const struct cJSON *obj, void **args, size_t *len,
                          char *err, size_t errcap);

/* JSON of op arguments: the op's own functions, or hex bytes without them.
 * (json_args.c) */
int cask__args_to_json(const cask_op *op, const void *args, size_t len,
                       struct cJSON *obj);
int cask__args_from_json(const cask_op *op, const struct cJSON *obj,
                         void **args, size_t *len, char *err, size_t errcap);

#endif
