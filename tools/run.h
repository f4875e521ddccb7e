/* run.h - `cask run` and `cask graph` once the command line is read. */
#ifndef CASK_TOOL_RUN_H
#define CASK_TOOL_RUN_H

#include <stdatomic.h>
#include <stdint.h>

/* EXIT_INTERRUPTED becomes 128 + the signal in main */
enum { EXIT_TASK = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };
/* --plan-mode: the rank's part of the graph when the job allows it, the
 * whole graph, or the part only (an error when the job does not allow it) */
enum { PLAN_AUTO = 0, PLAN_WHOLE, PLAN_PART };

typedef struct run_config {
  const char *job;        /* the job file */
  int threads;            /* 0: the runtime's default */
  uint64_t memory_limit;  /* 0: the job file's "memory_limit", else the runtime's default */
  const char *spill_dir;  /* NULL: the runtime's default (the temp directory) */
  const char *trace;      /* Chrome trace-event JSON, or NULL */
  const char *graph;      /* the task graph, or NULL */
  int graph_dot;          /* the graph as DOT instead of JSON */
  int dry_run;            /* build and optimize, run nothing */
  int quiet;              /* no progress, no summary */
  int plan_ranks;         /* > 0: print rank plan_rank's plan on that many ranks, run nothing */
  int plan_rank;
  int plan_json;          /* that plan as one JSON object */
  int plan_lists;         /* with the keys of its tasks, sends and receives */
  int plan_mode;          /* PLAN_AUTO, PLAN_WHOLE or PLAN_PART */
  atomic_int *interrupted; /* the signal (SIGINT, SIGTERM, SIGHUP) that stopped the run, or 0 */
} run_config;

/* Returns the process's exit code. */
int job_command_run(const run_config *cfg);
/* Writes the job's graph to cfg->graph (JSON on stdout when NULL and not
 * DOT) without running it. */
int job_command_graph(const run_config *cfg);

#endif
