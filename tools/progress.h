/* progress.h - what `cask run` shows while a graph runs: a live bar on a
 * terminal (a plain line every few seconds otherwise) on stderr, with the
 * memory held and the bytes spilled, and the summary at the end. It also
 * turns a SIGINT into a cancel of the run.
 * The scheduler's callbacks only count (atomics; they run on every worker
 * thread); a thread of its own draws, so a slow terminal never slows a
 * task. */
#ifndef CASK_TOOL_PROGRESS_H
#define CASK_TOOL_PROGRESS_H

#include <stdatomic.h>

#include "cask/cask.h"

typedef struct progress progress;

/* Starts watching the next run on rt (its graph arrives through
 * opts->on_run_start); show: 0 nothing (still cancels on interrupt), 1
 * progress lines. Fills opts' callbacks. NULL on no memory. */
progress *progress_start(cask_runtime *rt, int show, atomic_int *interrupted, cask_run_options *opts);
/* Stops drawing and draws the last line (call after cask_run returned). A
 * SIGINT still cancels what runs on rt (writing the outputs) until
 * progress_free. */
void progress_stop(progress *p);
/* The summary (wall time, tasks, peak memory of the limit, what was
 * spilled and read back, time per op kind) on stderr. */
void progress_summary(const progress *p, const cask_run_stats *st);
void progress_free(progress *p);

#endif
