/* plan.c - `cask run --plan-ranks K --plan-rank R`: rank R's part of the
 * plan of the job's graph on K ranks (docs/distributed.md), made in this
 * one process without MPI, printed as text or JSON; nothing runs.
 * The one thing to know: the graph is the one a run would place (the
 * job's optimized graph, or a graph file as it is), so the counts are what
 * rank R of `mpirun -np K` would do. */
#include "plan.h"

#include <stdio.h>
#include <string.h>

#include "cask/distributed.h"

static void print_text(const cask_plan_stats *st, double build_seconds) {
  printf("plan: rank %d of %d\n", st->rank, st->nranks);
  printf("graph: %zu tasks, digest %016llx\n", st->ntasks, (unsigned long long)st->digest);
  printf("tasks: %zu\n", st->nlocal);
  printf("sends: %zu blocks, %lld bytes\n", st->nsends, (long long)st->bytes_sent);
  printf("receives: %zu blocks, %lld bytes\n", st->nrecvs, (long long)st->bytes_received);
  if (st->unsized) printf("transfers of blocks of unknown size: %zu (not in the bytes)\n", st->unsized);
  printf("graph build: %.6f s\nplacement: %.6f s\nplanning: %.6f s\n", build_seconds, st->place_seconds,
         st->plan_seconds);
}

static void print_json(const cask_plan_stats *st, double build_seconds) {
  printf("{\"nranks\": %d, \"rank\": %d, \"graph_tasks\": %zu, \"digest\": \"%016llx\", \"tasks\": %zu, "
         "\"sends\": %zu, \"bytes_sent\": %lld, \"receives\": %zu, \"bytes_received\": %lld, \"unsized\": %zu, "
         "\"build_seconds\": %.9f, \"place_seconds\": %.9f, \"plan_seconds\": %.9f}\n",
         st->nranks, st->rank, st->ntasks, (unsigned long long)st->digest, st->nlocal, st->nsends,
         (long long)st->bytes_sent, st->nrecvs, (long long)st->bytes_received, st->unsized, build_seconds,
         st->place_seconds, st->plan_seconds);
}

int plan_command(cask_graph *g, const run_config *cfg, double build_seconds) {
  cask_plan *p;
  int rc = cask_plan_new(g, cfg->plan_ranks, cfg->plan_rank, &p);
  if (rc) {
    fprintf(stderr, "cask: planning rank %d of %d: %s (%s)\n", cfg->plan_rank, cfg->plan_ranks, cask_strerror(rc),
            cask_graph_errmsg(g));
    return rc == CASK_ENOMEM ? EXIT_TASK : EXIT_USAGE;
  }
  cask_plan_stats st;
  cask_plan_get_stats(p, &st);
  (cfg->plan_json ? print_json : print_text)(&st, build_seconds);
  fflush(stdout);
  cask_plan_free(p);
  return 0;
}
