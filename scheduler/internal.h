/* internal.h - the runtime, its workers and the state of one run.
 *
 * Locks (rt->mu for joining and leaving runs, the memory manager's, the
 * park's) are taken in the order locks.h gives and checks. Everything a
 * task touches is reached through per-task atomics (pending, uses) whose
 * acq_rel updates carry the happens-before from a producer to its
 * consumers. */
#ifndef CASK_SCHED_INTERNAL_H
#define CASK_SCHED_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <uv.h>

#include "../graph/graph-int.h"
#include "deque.h"
#include "locks.h"
#include "memory/memory.h"
#include "park.h"
#include "remote.h"
#include "run_state.h"

#define CASK__RUN_ERRMSG_CAP 2048

/* slot.pending of a task that ran (with a memory manager): no producer
 * decrements it any more, and the spill thread skips it as a next use */
#define CASK__TASK_DONE UINT32_MAX

typedef struct cask__slot {
  atomic_uint pending; /* dependencies not yet finished; CASK__TASK_DONE */
  atomic_uint uses;    /* consumers that have not yet run */
  atomic_uint mem;     /* memory manager: state, flags, pins (memory/memory.h) */
  cask_block *out;     /* the task's result; NULL once released */
} cask__slot;

typedef struct cask__trace_event {
  uint64_t start_ns, end_ns;
  uint32_t task;
} cask__trace_event;

typedef struct cask__run cask__run;

typedef struct cask__worker {
  alignas(64) cask__deque deque;
  struct cask_runtime *rt;
  int index;
  uv_thread_t thread;
  uint64_t rng;
  /* per run */
  uint64_t done_local;
  uint64_t tasks_run, steals;
  int prepinned; /* the task at hand came from the spill thread, inputs pinned */
  atomic_int busy; /* running a task (with a memory manager): read by others */
  uint32_t *ready;   /* scratch: dependents made ready by one task */
  size_t ready_cap;
  cask__trace_event *trace;
  size_t ntrace, trace_cap;
  char errmsg[1024];
} cask__worker;

struct cask__run {
  struct cask_runtime *rt;
  uint64_t seq; /* 1, 2, ...: which run of the runtime this is */
  cask_graph *g;
  const cask_run_options *opts;
  cask__slot *slots;
  uint32_t *roots; /* tasks without dependencies, by priority */
  size_t nroots;
  alignas(64) atomic_size_t next_root;
  alignas(64) atomic_uint_fast64_t done; /* tasks finished (flushed) */
  atomic_int finished;                   /* done reached the task count */
  atomic_int stop;                       /* failure or cancel: start nothing */
  alignas(64) atomic_int_fast64_t held_bytes, held_blocks;
  atomic_int_fast64_t peak_bytes, peak_blocks;
  /* memory manager; NULL when the run cannot reach the limit */
  cask__memory *mem;
  /* roots made elsewhere (remote.h); NULL for an ordinary run */
  cask__remote *remote;
  atomic_int_fast64_t reserved; /* declared result bytes of running tasks */
  cask__spill_rec **spilled;    /* per task, while on disk; spill thread */
  int active;  /* workers inside the run; rt->mu */
  atomic_int helpers; /* workers other than the caller that ever joined */
  int closing; /* no worker may join any more; rt->mu */
  uint64_t t0;
  /* the first failure; written once by the thread that wins fail_claim */
  atomic_int fail_claim;
  int fail_rc;
  uint32_t fail_task;
  char fail_msg[CASK__RUN_ERRMSG_CAP];
};

struct cask_runtime {
  int nworkers; /* including the calling thread, worker 0 */
  cask__worker *workers;
  cask__park park;
  uv_mutex_t mu;
  uv_cond_t left_cv; /* signalled when the last worker leaves a run */
  cask__run *run;    /* the run to join, or NULL; rt->mu */
  atomic_uint_fast64_t run_seq; /* seq of the newest run, readable without the lock */
  atomic_int shutdown;
  atomic_int running; /* a cask_run is in progress */
  /* cask_runtime_cancel was called (sticky until an executor clears it):
   * an MPI run's last collective waits only a bounded time after it
   * (distributed/mpi/exec.c), also once the local run is over */
  atomic_int cancel_seen;
  /* per-run arrays, kept between runs so a runtime that runs many graphs
   * reuses warm memory */
  cask__slot *slots;
  uint32_t *roots, *by_prio;
  size_t slots_cap, roots_cap, by_prio_cap;
  cask_run_stats last_stats;
  cask__memory mem;
  char errmsg[CASK__RUN_ERRMSG_CAP];
};

/* cask_runtime_cancel without marking the runtime canceled from outside
 * (cancel_seen): distributed/mpi/ stops a run another rank failed. */
void cask__runtime_stop(cask_runtime *rt);

/* A run's outputs (launch.c; distributed/mpi/ gathers them). */
struct cask_results {
  const cask_graph *g;
  size_t n;
  uint32_t *ids; /* ascending */
  cask_block **blocks;
};

/* launch.c: cask_run with roots made elsewhere (remote.h; NULL: none),
 * for distributed/mpi/. */
int cask__run_with(cask_runtime *rt, cask_graph *g, const cask_run_options *opts, cask__remote *remote,
                   cask_results **out);
/* Rewrite results of a graph into results of another one: task ids go
 * through to[] (results' graph -> g), and lookups by key use g. */
int cask__results_rebase(cask_results *res, const cask_graph *g, const uint32_t *to);

/* run.c */
void cask__worker_serve(cask__worker *w);
/* Work on run r until it is finished or stopped (worker 0 is the caller). */
void cask__worker_work(cask__worker *w, cask__run *r);
/* trace.c */
int cask__trace_record(cask__worker *w, uint32_t task, uint64_t start, uint64_t end);
int cask__trace_write(struct cask_runtime *rt, const cask_graph *g, const char *path,
                      uint64_t t0, char *err, size_t errcap);
/* The last run's events (workers, spill I/O) as trace-event objects, each
 * after ",\n", of process pid, times from t0 (ns, the clock of
 * cask__now_ns); *out is cask__malloc'd. CASK_ENOMEM. */
int cask__trace_events(struct cask_runtime *rt, const cask_graph *g, int pid, uint64_t t0, char **out, size_t *len);
/* Append s as a JSON string to a growing text (*p, *len, *cap; *oom set
 * when out of memory). */
void cask__trace_json_string(char **p, size_t *len, size_t *cap, const char *s, int *oom);

#endif
