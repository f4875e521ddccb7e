/* memory.h - the memory manager (memory.c), its spill thread (spill.c)
 * and the worker loop's side of it (hooks.c, called through hooks.h): the
 * limit a run keeps, the state of every task's block (in memory, being
 * written, on disk), pins, and the thread that writes blocks out and reads
 * them back. It reads the run's state (../internal.h) but calls nothing of
 * the worker loop: what it does to a run is in ../run_state.h.
 *
 * Each slot has one atomic word: the block's state in the low bits, flags,
 * and the count of running tasks reading it (pins) above. A task pins its
 * inputs before it runs; a block is written to disk only while nobody pins
 * it, and freed only if still nobody pins it when the write is done (one
 * compare-and-swap decides both), so a running task never sees its input
 * vanish. A task whose input is on disk is handed to the spill thread, which
 * reads its inputs back, pins them for it, and hands it back to the workers.
 *
 * Lock order: rt->mu, then mem->mu (../locks.h, which checks it); mem->mu
 * is never held during file I/O and never while a task runs. */
#ifndef CASK_SCHED_MEMORY_H
#define CASK_SCHED_MEMORY_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "cask/scheduler.h"

enum {
  CASK__SLOT_EMPTY = 0, /* no block (not run yet, or produced nothing) */
  CASK__SLOT_MEM,       /* in memory */
  CASK__SLOT_WRITING,   /* in memory, the spill thread is writing it */
  CASK__SLOT_DISK,      /* on disk (run->spilled says what it was) */
  CASK__SLOT_LOADING,   /* the spill thread is reading it back */
  CASK__SLOT_DEAD       /* freed after its last use */
};
#define CASK__SLOT_STATE 7u
#define CASK__SLOT_PREFETCHED 8u /* read back ahead of use: no victim until pinned */
#define CASK__SLOT_DROPPED 16u   /* its last use passed while it was written or read */
#define CASK__SLOT_FILE 32u      /* its spill file (or its pure op) holds it: spilling
                              again is free */
#define CASK__SLOT_REMAKE 64u    /* with CASK__SLOT_FILE: dropped, not written; its pure op
                              makes it again (a worker may, see
                              cask__memory_remake_inputs) */
#define CASK__SLOT_PIN 128u      /* one pin */

/* What a block on disk (or dropped) was: enough to check it when it comes
 * back. remake: it was dropped, not written, and comes back by running
 * its task's pure op again. */
typedef struct cask__spill_rec {
  cask_dtype dtype;
  int ndim;
  int64_t shape[CASK_MAX_NDIM];
  size_t nbytes;
  uint64_t checksum;
  int remake;
} cask__spill_rec;

typedef struct cask__io_event {
  uint64_t start_ns, end_ns;
  uint32_t task;
  int loaded; /* 0: written to disk, 1: read back */
} cask__io_event;

typedef struct cask__run cask__run;

/* A list of tasks under cask__memory.mu; pub mirrors n for a look without
 * the lock. */
typedef struct cask__task_list {
  uint32_t *v;
  size_t n, cap;
  atomic_size_t pub;
} cask__task_list;

/* The time a pure op took per byte of its results, summed over the run's
 * tasks of that op (their time when they ran, and when made again): the
 * price of dropping one of its blocks. A few ops per run; a slot is taken
 * by a CAS on op. */
#define CASK__RATE_SLOTS 32
typedef struct cask__op_rate {
  _Atomic(const cask_op *) op;
  atomic_uint_fast64_t ns, bytes;
} cask__op_rate;

typedef struct cask__memory {
  uint64_t limit; /* CASK_MEMORY_UNLIMITED: no manager runs */
  cask_drop_policy drop; /* never CASK_DROP_DEFAULT once initialized */
  uint64_t high;  /* spilling starts above this */
  uint64_t low;   /* and goes on until held bytes are below this */
  char *spill_root; /* where the private directory is made */
  char *dir;        /* the private directory; NULL until the first spill */
  atomic_int started; /* the spill thread runs (from the first spill on) */
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t retry; /* looks at waiting tasks again (see serve) */
  uv_mutex_t mu;
  uv_cond_t idle_cv;
  /* under mu */
  cask__run *run; /* the run being served, or NULL */
  atomic_int busy; /* the spill thread works on run (set under mu; read anywhere) */
  int quit;
  cask__task_list waiting; /* tasks whose inputs must be read back */
  cask__task_list ready;   /* tasks whose inputs were read back and pinned */
  cask__task_list deletes; /* dead blocks whose spill files are to go */
  atomic_int spill_wanted;
  /* the waiting tasks wait for this rank's sends alone (spill.c,
   * waits_for_sends): a receive need not wait for them (remote.c) */
  atomic_int send_wait;
  /* spilling passes begun (serve), counted for ever: a receive that would
   * go over the limit waits for one that began after it asked (remote.c) */
  atomic_uint spill_passes;
  /* what the last of them left in memory (cask__memory_used_by_blocks) */
  atomic_uint_fast64_t pass_left;
  /* passes ended (raised after pass_left is stored): a forced receive
   * needs one that began after it asked to have ended (reviewer: it could
   * go over mid-pass, with the previous pass's pass_left) */
  atomic_uint passes_done;
  atomic_int_fast64_t ondisk; /* blocks in CASK__SLOT_DISK */
  /* figures of the run going on (reset when one starts) */
  atomic_uint_fast64_t spilled_bytes, spilled_blocks, loaded_bytes, loaded_blocks, io_ns;
  atomic_uint_fast64_t held_back;
  atomic_uint_fast64_t dropped_bytes, dropped_blocks, remade_bytes, remade_blocks, remake_ns;
  /* what making blocks again costs, per pure op (workers add to it) */
  cask__op_rate rates[CASK__RATE_SLOTS];
  /* what spilling costs on this disk, measured (the spill thread's; kept
   * across runs): the price a drop is weighed against */
  uint64_t write_ns, write_bytes, read_ns, read_bytes;
  atomic_uint_fast64_t last_peak; /* peak bytes of the last run, once it ended */
  /* the spill thread's own: trace events, victim scratch */
  cask__io_event *trace;
  size_t ntrace, trace_cap;
  uint64_t *cand;
  size_t cand_cap;
  uint32_t *pins;
  size_t npins, pins_cap;
  struct cask__park *park; /* the runtime's, to wake workers */
} cask__memory;

/* memory.c: limits, runs, pins, dropping blocks, the task lists */
/* Limit and spill directory from the options and the environment. err
 * says what was wrong. */
int cask__memory_init(cask__memory *m, const cask_runtime_options *opts, char *err, size_t errcap);
void cask__memory_destroy(cask__memory *m);
/* A run begins (r->mem set) or ends: after end the spill thread no longer
 * touches r; blocks left on disk are read back (kept outputs, after a
 * success) or deleted (after a failure). */
void cask__memory_begin(cask__memory *m, cask__run *r);
int cask__memory_end(cask__memory *m, cask__run *r, int failed);
/* Pin every input of task v; 0 if one is on disk (nothing stays pinned). */
int cask__memory_pin_inputs(cask__run *r, uint32_t v);
void cask__memory_unpin(cask__run *r, uint32_t d);
/* Pin d, which must not be on disk. */
void cask__memory_pin_one(cask__run *r, uint32_t d);
/* Free d's block after its last use, wherever it is (memory, being
 * written, disk). */
void cask__memory_drop(cask__run *r, uint32_t d);
/* Append v to l under m->mu (published in l->pub, seq_cst). */
int cask__list_push(cask__memory *m, cask__task_list *l, uint32_t v);
void cask__memory_wake(cask__memory *m);
/* Reserve bytes (add them to r->reserved) if held plus reserved stays
 * within max_used; 0 if not (nothing reserved). Give them back with an
 * atomic subtraction from r->reserved. */
int cask__memory_claim(cask__run *r, uint64_t bytes, uint64_t max_used);
/* Held plus reserved (the declared sizes of running tasks' results). */
uint64_t cask__memory_used(const cask__run *r);
/* Held plus reserved, the pool's buffers left out: what the water marks
 * are about (the pool keeps buffers up to the high one for the next
 * blocks). */
uint64_t cask__memory_used_by_blocks(const cask__run *r);
int cask__memory_make_dir(cask__memory *m, char *err, size_t errcap);

/* spill.c: the spill thread's body */
void cask__spill_thread(void *arg);
void cask__spill_wake(uv_async_t *h);
/* Whether v's block can be dropped and made again by ops alone: its op is
 * CASK_OP_PURE and so are its inputs' ops, which have no inputs (a read or
 * a generator, made again with it). */
int cask__remakeable(const cask_graph *g, uint32_t v);
/* Add one run of a pure op (ns for bytes of result) to its rate. */
void cask__memory_time_op(cask__memory *m, const cask_op *op, uint64_t ns, uint64_t bytes);
/* Read v's block back (verified; its file kept) or make it again (a
 * dropped block) into memory with the given flags (CASK__SLOT_PIN,
 * CASK__SLOT_PREFETCHED), unless used bytes would pass max_used. 1: back, 0:
 * skipped (or claimed or dropped meanwhile), <0: failed and the run
 * stopped. The spill thread's; a worker's for a dropped block; any
 * thread's once the run is over. */
int cask__spill_load(cask__run *r, uint32_t v, unsigned flags, uint64_t max_used);
/* Delete v's spill file (the spill thread's, or any thread's once the run
 * is over). */
void cask__spill_delete(cask__run *r, uint32_t v);

#endif
