/* progress.h - what `cask run` shows while a graph runs: a live bar on a
 * terminal (a plain line every few seconds otherwise) on stderr, and the
 * summary at the end. It also turns a SIGINT into a cancel of the run.
 * The scheduler's callbacks only count (atomics; they run on every worker
 * thread); a thread of its own draws, so a slow terminal never slows a
 * task. */
#ifndef CASK_TOOL_PROGRESS_H
#define CASK_TOOL_PROGRESS_H

#include <stdatomic.h>

#include "cask/cask.h"

typedef struct progress progress;

/* Starts watching a run of g on rt; show: 0 nothing (still cancels on
 * interrupt), 1 progress lines. Fills opts' callbacks. NULL on no memory. */
progress *progress_start(cask_runtime *rt, const cask_graph *g, int show, atomic_int *interrupted,
                         cask_run_options *opts);
/* Stops the drawing thread (call after cask_run returned). */
void progress_stop(progress *p);
/* The summary (wall time, tasks, peak memory, time per op kind) on stderr. */
void progress_summary(const progress *p, const cask_run_stats *st);
void progress_free(progress *p);

#endif
