/* plan.c - `cask run --plan-ranks K --plan-rank R`: rank R's part of the
 * plan of the job's graph on K ranks (docs/distributed.md), made in this
 * one process without MPI, printed as text or JSON; nothing runs.
 * The one thing to know: a job a rank can build its part of alone (the
 * array library decides: cask_arrays_graph_part) is planned from that
 * part, in time and memory that do not grow with K ("part" mode);
 * another job, or a graph file, from the whole graph every rank would
 * build ("whole" mode). Both give the rank the same tasks, sends and
 * receives: tests/plan_part_check.py compares them with --plan-lists. */
#include "plan.h"

#include <stdio.h>
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

static int plan_graph(cask_graph *g, const run_config *cfg, const how *h, unsigned flags) {
  cask_plan *p;
  int rc = cask_plan_new_flags(g, cfg->plan_ranks, cfg->plan_rank, flags, &p);
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
  return plan_graph(g, cfg, &h, 0);
}

int plan_arrays(cask_ctx *ctx, int n, cask_array *const *arrays, const run_config *cfg) {
  char why[256] = "";
  cask_graph *g = NULL;
  double t0 = seconds_now();
  int rc = CASK_OK;
  if (cfg->plan_mode != PLAN_WHOLE)
    rc = cask_arrays_graph_part(n, arrays, cfg->plan_ranks, cfg->plan_rank, &g, why, sizeof why);
  if (!rc && g) {
    how h = {"part", NULL, seconds_now() - t0};
    int code = plan_graph(g, cfg, &h, CASK_PLAN_NO_BROADCAST);
    cask_graph_free(g);
    return code;
  }
  if (!rc && cfg->plan_mode == PLAN_PART) {
    fprintf(stderr, "cask: --plan-mode part: this job cannot be planned in parts: %s\n", why);
    return EXIT_USAGE;
  }
  if (!rc) rc = cask_arrays_graph(n, arrays, &g, NULL);
  if (rc) {
    fprintf(stderr, "cask: building the graph: %s\n", cask_ctx_errmsg(ctx));
    return EXIT_TASK;
  }
  how h = {"whole", cfg->plan_mode == PLAN_AUTO ? why : NULL, seconds_now() - t0};
  int code = plan_graph(g, cfg, &h, 0);
  cask_graph_free(g);
  return code;
}
