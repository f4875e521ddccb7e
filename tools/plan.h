/* plan.h - the fake-rank planning mode of `cask run` (tools/plan.c). */
#ifndef CASK_TOOL_PLAN_H
#define CASK_TOOL_PLAN_H

#include "cask/cask.h"
#include "run.h"

/* Print rank cfg->plan_rank's part of the plan of g on cfg->plan_ranks
 * ranks (build_seconds: how long building g took); the exit code. */
int plan_command(cask_graph *g, const run_config *cfg, double build_seconds);
/* The same for a job's outputs (the targets a run stores): from the
 * rank's part of the graph when the job allows it and cfg->plan_mode is
 * not PLAN_WHOLE, else from the whole graph; writers included. */
int plan_outputs(cask_ctx *ctx, int n, const cask_target *t, const run_config *cfg);

#endif
