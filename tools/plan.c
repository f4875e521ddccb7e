/* plan.c - `cask run --plan-ranks K --plan-rank R`: rank R's part of the
 * plan of the job's graph on K ranks (docs/distributed.md), made in this
 * one process without MPI, printed as text or JSON; nothing runs.
 * The one thing to know: the graph is the one `mpirun cask run` builds
 * (cask_store_graph: its writers included, none opened): a job a rank can
 * build its part of alone is planned from that part, in time and memory
 * that do not grow with K ("part" mode); another job, or a graph file,
 * from the whole graph every rank builds ("whole" mode). Both give the
 * rank the same tasks, sends and receives: tests/plan_part_check.py
 * compares them with --plan-lists. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cask/distributed.h"

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct how {
  const char *mode;     /* "part" or "whole" */
  const char *fallback; /* why not part (auto mode), or NULL */
  double build_seconds;
} how;

static void print_text(const cask_plan_stats *st, const how *h) {
  printf("plan: rank %d of %d\n", st->rank, st->nranks);
  printf("mode: %s", h->mode);
  if (h->fallback) printf(" (not in parts: %s)", h->fallback);
  printf("\ngraph: %zu tasks%s, digest %016llx\n", st->ntasks, strcmp(h->mode, "part") ? "" : " (the rank's part)",
         (unsigned long long)st->digest);
  printf("tasks: %zu\n", st->nlocal);
  printf("sends: %zu blocks, %lld bytes\n", st->nsends, (long long)st->bytes_sent);
  printf("receives: %zu blocks, %lld bytes\n", st->nrecvs, (long long)st->bytes_received);
  if (st->unsized) printf("transfers of blocks of unknown size: %zu (not in the bytes)\n", st->unsized);
  printf("graph build: %.6f s\nplacement: %.6f s\nplanning: %.6f s\n", h->build_seconds, st->place_seconds,
         st->plan_seconds);
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void json_transfers(const char *name, const cask_graph *g, const cask_transfer *t, size_t n) {
  printf(", \"%s\": [", name);
  for (size_t i = 0; i < n; i++) {
    printf(i ? ", [" : "[");
    json_string(cask_graph_key(g, t[i].task));
    printf(", %d, %lld]", t[i].peer, (long long)t[i].nbytes);
  }
  putchar(']');
}

/* The keys of the rank's tasks and transfers (--plan-lists), for
 * comparing the plans of the two modes. */
static void print_lists(const cask_plan *p, const cask_graph *g) {
  size_t n;
  const cask_task_id *tasks = cask_plan_tasks(p, &n);
  printf(", \"task_keys\": [");
  for (size_t i = 0; i < n; i++) {
    if (i) printf(", ");
    json_string(cask_graph_key(g, tasks[i]));
  }
  putchar(']');
  const cask_transfer *t = cask_plan_sends(p, &n);
  json_transfers("send_list", g, t, n);
  t = cask_plan_recvs(p, &n);
  json_transfers("recv_list", g, t, n);
}

static void print_json(const cask_plan *p, const cask_graph *g, const cask_plan_stats *st, const how *h,
                       int lists) {
  printf("{\"nranks\": %d, \"rank\": %d, \"mode\": \"%s\", \"fallback\": ", st->nranks, st->rank, h->mode);
  if (h->fallback) json_string(h->fallback);
  else printf("null");
  printf(", \"graph_tasks\": %zu, \"digest\": \"%016llx\", \"tasks\": %zu, "
         "\"sends\": %zu, \"bytes_sent\": %lld, \"receives\": %zu, \"bytes_received\": %lld, \"unsized\": %zu, "
         "\"build_seconds\": %.9f, \"place_seconds\": %.9f, \"plan_seconds\": %.9f",
         st->ntasks, (unsigned long long)st->digest, st->nlocal, st->nsends, (long long)st->bytes_sent, st->nrecvs,
         (long long)st->bytes_received, st->unsized, h->build_seconds, st->place_seconds, st->plan_seconds);
  if (lists) print_lists(p, g);
  printf("}\n");
}

static int plan_graph(cask_graph *g, const run_config *cfg, const how *h) {
  cask_plan *p;
  int rc = cask_plan_new(g, cfg->plan_ranks, cfg->plan_rank, &p); /* a part: without the broadcast walk */
  if (rc) {
    fprintf(stderr, "cask: planning rank %d of %d: %s (%s)\n", cfg->plan_rank, cfg->plan_ranks, cask_strerror(rc),
            cask_graph_errmsg(g));
    return rc == CASK_ENOMEM ? EXIT_TASK : EXIT_USAGE;
  }
  cask_plan_stats st;
  cask_plan_get_stats(p, &st);
  if (cfg->plan_json) print_json(p, g, &st, h, cfg->plan_lists);
  else print_text(&st, h);
  fflush(stdout);
  cask_plan_free(p);
  return 0;
}

int plan_command(cask_graph *g, const run_config *cfg, double build_seconds) {
  if (cfg->plan_mode == PLAN_PART) {
    fprintf(stderr, "cask: --plan-mode part: a graph file is planned whole (only a job's arrays plan in parts)\n");
    return EXIT_USAGE;
  }
  how h = {"whole", cfg->plan_mode == PLAN_AUTO ? "a graph file" : NULL, build_seconds};
  return plan_graph(g, cfg, &h);
}

int plan_outputs(cask_ctx *ctx, int n, const cask_target *t, const run_config *cfg) {
  char why[256] = "";
  cask_graph *g = NULL;
  double t0 = seconds_now();
  int parts = 0, unknown = 0, rc;
  for (int k = 0; k < n; k++) unknown |= cask_array_size(t[k].array) == CASK_UNKNOWN;
  if (unknown) { /* sized by a counting pass in a run: planned without their writers */
    cask_array **a = malloc((size_t)n * sizeof *a);
    for (int k = 0; a && k < n; k++) a[k] = t[k].array;
    rc = a ? cask_arrays_graph(n, a, &g, NULL) : CASK_ENOMEM;
    free(a);
    snprintf(why, sizeof why, "outputs of unknown block lengths (planned without their writers)");
  } else {
    rc = cask_store_graph(n, t, cfg->plan_ranks, cfg->plan_rank, cfg->plan_mode == PLAN_WHOLE ? NULL : &parts, why,
                          sizeof why, &g);
  }
  if (rc) {
    fprintf(stderr, "cask: building the graph: %s\n", cask_ctx_errmsg(ctx));
    return EXIT_TASK;
  }
  if (!parts && cfg->plan_mode == PLAN_PART) {
    fprintf(stderr, "cask: --plan-mode part: this job cannot be planned in parts: %s\n", why);
    cask_graph_free(g);
    return EXIT_USAGE;
  }
  how h = {parts ? "part" : "whole", !parts && cfg->plan_mode == PLAN_AUTO ? why : NULL, seconds_now() - t0};
  int code = plan_graph(g, cfg, &h);
  cask_graph_free(g);
  return code;
}
