/* scheduler.h - the runtime: worker threads that run task graphs.
 *
 * A runtime owns N worker threads, each with a work-stealing deque; it runs
 * one graph at a time. Results are blocks; a task's block is freed as soon as
 * its last consumer ran, unless the task is an output. The first failing task
 * stops the run: no new task starts, running ones finish, every block is
 * freed, and the run's message names the task key, the op and the op's own
 * message. */
#ifndef CASK_SCHEDULER_H
#define CASK_SCHEDULER_H

#include <stdint.h>

#include "cask/export.h"
#include "cask/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cask_runtime cask_runtime;
typedef struct cask_results cask_results;

/* The memory limit: the block bytes a run may hold before it spills blocks
 * to disk and holds back new root tasks (docs/memory.md). */
#define CASK_MEMORY_UNLIMITED UINT64_MAX

typedef enum cask_drop_policy {
  CASK_DROP_DEFAULT = 0, /* CASK_DROP from the environment, else by cost */
  CASK_DROP_COST,        /* drop when making the block again costs less than
                            writing and reading it (both measured) */
  CASK_DROP_ALWAYS,      /* drop every such block (for tests and measurements) */
  CASK_DROP_NEVER        /* spill them like any other block */
} cask_drop_policy;

typedef struct cask_runtime_options {
  int threads; /* 0: CASK_NUM_THREADS, else the available parallelism */
  /* bytes; 0: CASK_MEMORY_LIMIT, else 3/4 of the machine's memory (its
   * cgroup limit if lower); CASK_MEMORY_UNLIMITED: never spill */
  uint64_t memory_limit;
  /* where spill files go: a private directory is made inside it and removed
   * by cask_runtime_free. NULL: CASK_SPILL_DIR, else the temp directory */
  const char *spill_dir;
  /* under the limit, whether blocks of CASK_OP_PURE root tasks are dropped
   * and made again instead of spilled; 0: CASK_DROP ("cost", "always",
   * "never"), else CASK_DROP_COST */
  cask_drop_policy drop;
} cask_runtime_options;
#define CASK_RUNTIME_OPTIONS_DEFAULTS {0, 0, NULL, 0}

/* Parse a memory limit: bytes with a unit ("1.5GiB", "800MB", "64k", "4096"),
 * a fraction of the machine's memory ("0.5", "50%"), or "none"
 * (CASK_MEMORY_UNLIMITED). Units: B, K/KB (1000), KiB (1024), likewise M, G,
 * T; case-insensitive. Errors: CASK_EINVAL (the text is not a limit, or is
 * zero). Thread-safe. */
CASK_API int cask_parse_memory_limit(const char *text, uint64_t *out);

/* Start a runtime and its threads. opts may be NULL (defaults). Errors:
 * CASK_EINVAL (threads < 0 or > 1024, or a bad CASK_NUM_THREADS,
 * CASK_MEMORY_LIMIT, CASK_SPILL_DIR or CASK_DROP), CASK_ETHREAD,
 * CASK_ENOMEM; cask_create_errmsg() says what was wrong (there is no
 * runtime to ask). Free with cask_runtime_free (joins the threads;
 * NULL is a no-op). */
CASK_API int cask_runtime_new(const cask_runtime_options *opts, cask_runtime **out);
CASK_API void cask_runtime_free(cask_runtime *rt);
CASK_API int cask_runtime_threads(const cask_runtime *rt);

/* Called on the worker thread that runs the task; must be thread-safe and
 * quick. status is 0 or the task's error. */
typedef void (*cask_task_start_fn)(void *user, const cask_graph *g,
                                   cask_task_id id, int worker);
typedef void (*cask_task_finish_fn)(void *user, const cask_graph *g,
                                    cask_task_id id, int worker, int status);

/* A block written to disk (loaded == 0) or read back (loaded == 1) by the
 * spill thread, which calls this; must be thread-safe and quick. */
typedef void (*cask_spill_fn)(void *user, const cask_graph *g, cask_task_id id,
                              int loaded, uint64_t bytes, uint64_t ns);

struct cask_run_options;

/* An executor that runs a graph on many processes (include/cask/mpi.h
 * makes one from an MPI communicator). With one in cask_run_options,
 * cask_run (and so cask_store, cask_compute, `cask run`) hands the graph to
 * it: each process (rank) runs its part and the outputs it owns. Writers
 * of cask_store (.npy, Zarr, buffers) use the collectives below to make one
 * file out of every rank's blocks. rank and nranks are set by its maker;
 * the functions are collective: every rank calls them in the same order. */
typedef struct cask_executor {
  int rank, nranks;
  /* runs g (opts names no executor); the outputs this rank owns in *out */
  int (*run)(struct cask_executor *ex, cask_runtime *rt, cask_graph *g,
             const struct cask_run_options *opts, cask_results **out);
  /* 1 when ok is nonzero on every rank, else 0 (also when MPI fails) */
  int (*all_ok)(struct cask_executor *ex, int ok);
  /* root's len bytes into buf on every rank */
  int (*bcast)(struct cask_executor *ex, void *buf, size_t len, int root);
  /* buf becomes the bitwise OR of every rank's buf (each byte written by
   * one rank, zero elsewhere: the bytes of that rank, exactly) */
  int (*merge)(struct cask_executor *ex, void *buf, size_t len);
  void *impl;
} cask_executor;

typedef struct cask_run_options {
  cask_task_start_fn on_task_start;   /* optional */
  cask_task_finish_fn on_task_finish; /* optional */
  void *user;
  const char *trace_path; /* optional: write a Chrome trace-event JSON */
  cask_spill_fn on_spill; /* optional */
  /* optional: called once on the calling thread with the validated and
   * ordered graph, before any task starts (to size a progress display for
   * a graph the caller did not build, as cask_store's) */
  void (*on_run_start)(void *user, const cask_graph *g);
  /* optional: run on many processes (cask_executor above); the callbacks
   * then see each rank's own graph (its tasks and received blocks) */
  cask_executor *executor;
} cask_run_options;
#define CASK_RUN_OPTIONS_DEFAULTS {NULL, NULL, NULL, NULL, NULL, NULL, NULL}

typedef struct cask_run_stats {
  uint64_t wall_ns;       /* from the first task start to the last finish */
  uint64_t tasks_run;     /* tasks whose op ran (fused chains count once) */
  uint64_t steals;        /* tasks taken from another worker's deque */
  uint64_t peak_blocks;   /* most blocks held at once */
  uint64_t peak_bytes;    /* most block bytes held at once */
  uint64_t memory_limit;  /* the limit the run kept (CASK_MEMORY_UNLIMITED: none) */
  uint64_t spilled_bytes, spilled_blocks; /* written to disk */
  uint64_t loaded_bytes, loaded_blocks;   /* read back */
  uint64_t spill_io_ns;   /* time the spill thread spent writing and reading */
  uint64_t held_back;     /* times a root task was held back by the limit */
  /* blocks of CASK_OP_PURE root tasks dropped instead of spilled (making
   * them again cost less than a write and a read), and made again */
  uint64_t dropped_bytes, dropped_blocks;
  uint64_t remade_bytes, remade_blocks;
  uint64_t remake_ns;     /* time the spill thread spent making them again */
} cask_run_stats;

/* Memory of the run going on (or of the last run), readable from any thread
 * at any time: for progress displays. */
typedef struct cask_memory_stats {
  uint64_t limit;
  uint64_t held_bytes, peak_bytes;
  uint64_t spilled_bytes, loaded_bytes;
} cask_memory_stats;
CASK_API void cask_runtime_memory(const cask_runtime *rt, cask_memory_stats *out);

/* Run a graph: validate it (and order it, if it was not ordered), run every
 * task, and hand back the output blocks in *out (free with
 * cask_results_free). With no output marked, the results hold the sinks.
 * Blocks until done. Errors: anything cask_graph_validate returns, CASK_ETASK
 * (a task failed), CASK_ECANCELED, CASK_EBUSY (a run is already going on this
 * runtime), CASK_EIO (the trace could not be written, or spilling failed),
 * CASK_ENOMEM (also: a task needs more input bytes at once than the memory
 * limit, and the run could not go on within it). On error *out is NULL
 * and cask_runtime_errmsg() says what happened. Thread-safe with respect to
 * cask_runtime_cancel; one run at a time per runtime. */
CASK_API int cask_run(cask_runtime *rt, cask_graph *g, const cask_run_options *opts,
                      cask_results **out);
/* Cancel the run going on (from any thread, or a callback): no new task
 * starts and cask_run returns CASK_ECANCELED. No-op when idle. */
CASK_API void cask_runtime_cancel(cask_runtime *rt);
/* The message of the last failed run ("" if none). Not thread-safe with a
 * run in progress. */
CASK_API const char *cask_runtime_errmsg(const cask_runtime *rt);
/* Statistics of the last run (also a failed one). */
CASK_API void cask_runtime_last_stats(const cask_runtime *rt, cask_run_stats *out);

/* An output's block (borrowed: valid until cask_results_free; retain it to
 * keep it), or NULL if the task is not an output or produced no value. */
CASK_API cask_block *cask_results_get(const cask_results *r, cask_task_id id);
/* The same by key. Looks the key up in the graph that was run: the graph
 * must not be freed or changed before the results are. */
CASK_API cask_block *cask_results_get_key(const cask_results *r, const char *key);
CASK_API void cask_results_free(cask_results *r);

#ifdef __cplusplus
}
#endif
#endif
