/* run.c - running a job: every output in one cask_store call (one graph,
 * one run, with progress and a trace), then the printed ones printed.
 * The one thing to know: .npy files and Zarr stores are written by writer
 * tasks inside the run, block by block, each block freed once written, so
 * no output has to fit in memory; they are written under temporary names
 * renamed into place only when the whole run succeeded, so an interrupted
 * or failed run leaves nothing under an output's name. Printed outputs (small:
 * job.c refuses large ones) are computed into buffers. */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "mpi_session.h"
#include "plan.h"
#include "progress.h"

/* ---- printing -------------------------------------------------------------
 * JSON values (NaN and Infinity as Python's json reads them), nested as the
 * array's axes: "name = [[1, 2], [3, 4]]". */

static void print_elem(FILE *f, cask_dtype dt, const char *p) {
  double d;
  switch (dt) {
  case CASK_F64: memcpy(&d, p, 8); break;
  case CASK_F32: {
    float x;
    memcpy(&x, p, 4);
    d = x;
    break;
  }
  case CASK_I64: {
    int64_t x;
    memcpy(&x, p, 8);
    fprintf(f, "%lld", (long long)x);
    return;
  }
  case CASK_I32: {
    int32_t x;
    memcpy(&x, p, 4);
    fprintf(f, "%d", x);
    return;
  }
  case CASK_U8: fprintf(f, "%u", (unsigned)(unsigned char)*p); return;
  default: fputs(*p ? "true" : "false", f); return;
  }
  if (isnan(d)) fputs("NaN", f);
  else if (isinf(d)) fputs(d > 0 ? "Infinity" : "-Infinity", f);
  else {
    char num[40]; /* "2.0", not "2": the value stays a float when read back */
    snprintf(num, sizeof num, dt == CASK_F32 ? "%.9g" : "%.17g", d);
    fprintf(f, "%s%s", num, strpbrk(num, ".e") ? "" : ".0");
  }
}

static const char *print_axis(FILE *f, cask_dtype dt, int ndim, const int64_t *shape, int axis, const char *p) {
  if (axis == ndim) {
    print_elem(f, dt, p);
    return p + cask_dtype_size(dt);
  }
  fputc('[', f);
  for (int64_t i = 0; i < shape[axis]; i++) {
    if (i) fputs(", ", f);
    p = print_axis(f, dt, ndim, shape, axis + 1, p);
  }
  fputc(']', f);
  return p;
}

/* ---- targets --------------------------------------------------------------- */

/* The targets of every output (a buffer for a printed one, a file, a
 * store), and the buffers; the exit code. */
static int make_targets(const job *j, cask_target **out, char ***bufs, int *n) {
  cask_target *t = calloc((size_t)j->nout * 5, sizeof *t);
  char **b = calloc((size_t)j->nout, sizeof *b);
  int k = 0;
  if (!t || !b) goto no_memory;
  for (int i = 0; i < j->nout; i++) {
    const job_output *o = &j->out[i];
    if (o->print) { /* job.c allows only small arrays to be printed */
      size_t nbytes = (size_t)cask_array_size(o->a) * cask_dtype_size(cask_array_dtype(o->a));
      if (!(b[i] = malloc(nbytes ? nbytes : 1))) goto no_memory;
      t[k++] = CASK_TO_BUFFER(o->a, b[i], nbytes);
    }
    if (o->npy) t[k++] = CASK_TO_NPY(o->a, o->npy);
    if (o->zarr) t[k++] = CASK_TO_ZARR(o->a, o->zarr, &o->zarr_opts);
    if (o->hdf5) t[k++] = CASK_TO_HDF5(o->a, o->hdf5, o->dataset, &o->h5_opts);
    if (o->netcdf) t[k++] = CASK_TO_NETCDF(o->a, o->netcdf, o->variable, &o->h5_opts);
  }
  *out = t, *bufs = b, *n = k;
  return 0;
no_memory:
  for (int i = 0; b && i < j->nout; i++) free(b[i]);
  free(t);
  free(b);
  fprintf(stderr, "cask: out of memory\n");
  return EXIT_TASK;
}

/* --plan-ranks: the plan of the graph a run would build (its targets). */
static int plan_job(cask_ctx *ctx, const job *j, const run_config *cfg) {
  cask_target *t = NULL;
  char **bufs = NULL;
  int n = 0, code = make_targets(j, &t, &bufs, &n);
  if (code) return code;
  code = n ? plan_outputs(ctx, n, t, cfg) : 0;
  for (int i = 0; i < j->nout; i++) free(bufs[i]);
  free(bufs);
  free(t);
  return code;
}

static void print_outputs(const job *j, char **bufs) {
  for (int i = 0; i < j->nout; i++) {
    if (!j->out[i].print) continue;
    printf("%s = ", j->out[i].name);
    const cask_array *a = j->out[i].a;
    print_axis(stdout, cask_array_dtype(a), cask_array_ndim(a), cask_array_shape(a), 0, bufs[i]);
    putchar('\n');
  }
  fflush(stdout);
}

/* ---- the commands --------------------------------------------------------- */

static int open_job(const run_config *cfg, cask_ctx **ctx, job *j) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = cfg->threads;
  o.memory_limit = cfg->memory_limit;
  o.spill_dir = cfg->spill_dir;
  char err[2048];
  /* on MPI ranks every rank reads the job: they agree whether all could,
   * and the lowest that could not says why (once, not K times; and no rank
   * goes on to wait for one that gave up) */
  int speaker, failed = job_load(cfg->job, &o, ctx, j, err, sizeof err) != 0;
  if (mpi_session_all_ok(failed, &speaker)) return 0;
  if (speaker && mpi_session_rank() > 0) fprintf(stderr, "cask: rank %d: %s\n", mpi_session_rank(), err);
  else if (speaker) fprintf(stderr, "cask: %s\n", err);
  if (!failed) {
    job_free(j);
    cask_ctx_free(*ctx);
  }
  return EXIT_USAGE;
}

static int build_graph(cask_ctx *ctx, const job *j, cask_graph **g) {
  cask_array **arrays = malloc((size_t)j->nout * sizeof *arrays);
  if (!arrays) return EXIT_TASK;
  for (int k = 0; k < j->nout; k++) arrays[k] = j->out[k].a;
  int rc = cask_arrays_graph(j->nout, arrays, g, NULL);
  free(arrays);
  if (rc) fprintf(stderr, "cask: building the graph: %s\n", cask_ctx_errmsg(ctx));
  return rc ? EXIT_TASK : 0;
}

static int write_graph(cask_graph *g, const run_config *cfg) {
  int rc;
  if (!cfg->graph && !cfg->graph_dot) {
    char *text;
    size_t len;
    if ((rc = cask_graph_to_json(g, &text, &len))) {
      fprintf(stderr, "cask: writing the graph: %s\n", cask_graph_errmsg(g));
      return EXIT_TASK;
    }
    fwrite(text, 1, len, stdout);
    cask_free(text);
    return 0;
  }
  rc = cfg->graph_dot ? cask_graph_write_dot(g, cfg->graph) : cask_graph_write_json(g, cfg->graph);
  if (rc) {
    fprintf(stderr, "cask: writing the graph to %s: %s (%s)\n", cfg->graph, cask_strerror(rc), cask_graph_errmsg(g));
    return EXIT_TASK;
  }
  return 0;
}

/* The plan of a dry run. The predicted peak is that of running the tasks
 * one at a time in their order: a run above the limit spills. */
static void print_plan(cask_runtime *rt, cask_graph *g) {
  int64_t peak = 0;
  cask_memory_stats m;
  cask_graph_predicted_peak(g, &peak);
  cask_runtime_memory(rt, &m);
  printf("tasks: %zu\npredicted peak memory: %lld bytes (%.1f MiB)\n", cask_graph_size(g), (long long)peak,
         (double)peak / 1048576.0);
  if (m.limit == CASK_MEMORY_UNLIMITED) {
    printf("memory limit: none\nspilling: never (no memory limit)\n");
    return;
  }
  printf("memory limit: %llu bytes (%.1f MiB)\n", (unsigned long long)m.limit, (double)m.limit / 1048576.0);
  printf("spilling: %s\n", (uint64_t)peak > m.limit ? "expected (the predicted peak is above the limit)"
                                                    : "not expected (the predicted peak is within the limit)");
}

/* Computes every output into its targets in one run; the exit code. */
static int run_job(cask_ctx *ctx, const job *j, const run_config *cfg) {
  cask_runtime *rt = cask_ctx_runtime(ctx);
  cask_target *t = NULL;
  char **bufs = NULL;
  int n = 0, code = make_targets(j, &t, &bufs, &n);
  if (code) return code;
  cask_run_options opts = CASK_RUN_OPTIONS_DEFAULTS;
  opts.trace_path = cfg->trace;
  /* on MPI ranks, rank 0 alone shows progress (its own), prints the
   * outputs (merged from every rank) and the summary (totals) */
  int lead = mpi_session_rank() == 0;
  progress *p = progress_start(rt, !cfg->quiet && lead, cfg->interrupted, &opts);
  opts.executor = mpi_session_executor();
  if (!p) {
    fprintf(stderr, "cask: out of memory\n");
    code = EXIT_TASK;
    goto done;
  }
  int rc = n ? cask_store(n, t, &opts) : CASK_OK;
  progress_stop(p);
  if (rc == CASK_ECANCELED || (rc && *cfg->interrupted)) {
    if (lead) fprintf(stderr, "cask: interrupted; no output was written\n");
    code = EXIT_INTERRUPTED;
  } else if (rc) {
    if (lead) fprintf(stderr, "cask: the run failed: %s\n", cask_ctx_errmsg(ctx));
    code = EXIT_TASK;
  } else if (lead) {
    print_outputs(j, bufs);
    cask_run_stats st;
    cask_runtime_last_stats(rt, &st);
    if (!cfg->quiet) progress_summary(p, &st), mpi_session_summary();
  }
  progress_free(p);
done:
  for (int i = 0; i < j->nout; i++) free(bufs[i]);
  free(bufs);
  free(t);
  return code;
}

/* ---- a task graph file ------------------------------------------------------ */

#define MAX_PRINTED 10000

/* Whether path holds a task graph (written by cask graph, --graph or
 * cask_graph_write_json) rather than a job: its first object field. */
static int is_graph_file(const char *path) {
  FILE *f = fopen(path, "rb");
  char head[4096];
  size_t n = f ? fread(head, 1, sizeof head - 1, f) : 0;
  if (f) fclose(f);
  head[n] = '\0';
  const char *brace = strchr(head, '{');
  if (!brace) return 0;
  brace++;
  while (*brace == ' ' || *brace == '\n' || *brace == '\r' || *brace == '\t') brace++;
  return !strncmp(brace, "\"cask_graph\"", 12);
}

/* Each output task's block as KEY = VALUE (small ones), else its shape. */
static void print_results(const cask_graph *g, const cask_results *res) {
  for (cask_task_id id = 0; id < cask_graph_size(g); id++) {
    const cask_block *b = cask_results_get(res, id);
    if (!b) continue;
    cask_dtype dt = cask_block_dtype(b);
    if (cask_block_size(b) > MAX_PRINTED) {
      printf("%s: a %s block of %lld values (not printed)\n", cask_graph_key(g, id), cask_dtype_name(dt),
             (long long)cask_block_size(b));
      continue;
    }
    printf("%s = ", cask_graph_key(g, id));
    print_axis(stdout, dt, cask_block_ndim(b), cask_block_shape(b), 0, cask_block_data(b));
    putchar('\n');
  }
  fflush(stdout);
}

/* cask run GRAPH.json: the graph as it is, with the run's options,
 * progress and summary; its output tasks' blocks printed. */
static int run_graph_file(const run_config *cfg) {
  cask_graph *g;
  char *err = NULL;
  if (cask_graph_read_json(cfg->job, &g, &err)) {
    fprintf(stderr, "cask: %s\n", err ? err : "cannot read the graph");
    cask_free(err);
    return EXIT_USAGE;
  }
  if (cfg->plan_ranks) {
    int code = plan_command(g, cfg, 0.0);
    cask_graph_free(g);
    return code;
  }
  cask_runtime *rt;
  cask_runtime_options ro = {cfg->threads, cfg->memory_limit, cfg->spill_dir, CASK_DROP_DEFAULT};
  if (cask_runtime_new(&ro, &rt)) {
    fprintf(stderr, "cask: cannot start the runtime: %s\n", cask_create_errmsg());
    cask_graph_free(g);
    return EXIT_USAGE;
  }
  int code = cfg->graph ? write_graph(g, cfg) : 0;
  char rt_msg[256] = "";
  if (!code && cfg->dry_run) {
    if (!cask_graph_validate(g) && !cask_graph_order(g)) print_plan(rt, g);
    else code = EXIT_USAGE, fprintf(stderr, "cask: %s\n", cask_graph_errmsg(g));
  } else if (!code) {
    cask_run_options opts = CASK_RUN_OPTIONS_DEFAULTS;
    opts.trace_path = cfg->trace;
    /* on MPI ranks: the outputs gathered to rank 0, which prints them */
    int lead = mpi_session_rank() == 0;
    progress *p = progress_start(rt, !cfg->quiet && lead, cfg->interrupted, &opts);
    opts.executor = mpi_session_executor();
    cask_results *res = NULL;
    int rc = p ? cask_run(rt, g, &opts, &res) : CASK_ENOMEM;
    progress_stop(p);
    if (!rc && (rc = mpi_session_gather(res)))
      snprintf(rt_msg, sizeof rt_msg, "gathering the outputs to rank 0: %s", cask_strerror(rc));
    if (rc == CASK_ECANCELED || (rc && *cfg->interrupted)) {
      if (lead) fprintf(stderr, "cask: interrupted\n");
      code = EXIT_INTERRUPTED;
    } else if (rc) {
      if (lead)
        fprintf(stderr, "cask: the run failed: %s\n", rt_msg[0] ? rt_msg : p ? cask_runtime_errmsg(rt) : "out of memory");
      code = rc == CASK_ETASK || rc == CASK_EIO || rc == CASK_ENOMEM ? EXIT_TASK : EXIT_USAGE;
    } else if (lead) {
      print_results(g, res);
      cask_run_stats st;
      cask_runtime_last_stats(rt, &st);
      if (!cfg->quiet) progress_summary(p, &st), mpi_session_summary();
    }
    cask_results_free(res);
    progress_free(p);
  }
  cask_runtime_free(rt);
  cask_graph_free(g);
  return code;
}

int job_command_run(const run_config *cfg) {
  if (is_graph_file(cfg->job)) return run_graph_file(cfg);
  cask_ctx *ctx;
  job j;
  int code = open_job(cfg, &ctx, &j);
  if (code) return code;
  /* --graph and --dry-run look at the graph of the job's arrays (the run
   * adds a writer task per output block, which holds an open file) */
  cask_graph *g = NULL;
  int need_graph = cfg->graph || cfg->dry_run;
  if (need_graph && !(code = build_graph(ctx, &j, &g)) && cfg->graph) code = write_graph(g, cfg);
  if (!code && cfg->plan_ranks) code = plan_job(ctx, &j, cfg);
  else if (!code && cfg->dry_run) {
    if (mpi_session_rank() == 0) print_plan(cask_ctx_runtime(ctx), g); /* every rank's is the same */
  }
  else if (!code) code = run_job(ctx, &j, cfg);
  cask_graph_free(g);
  job_free(&j);
  cask_ctx_free(ctx);
  return code;
}

int job_command_graph(const run_config *cfg) {
  cask_ctx *ctx;
  job j;
  int code = open_job(cfg, &ctx, &j);
  if (code) return code;
  cask_graph *g = NULL;
  if (!(code = build_graph(ctx, &j, &g))) code = write_graph(g, cfg);
  if (!code && cfg->graph && !cfg->quiet)
    fprintf(stderr, "cask: wrote %zu tasks to %s\n", cask_graph_size(g), cfg->graph);
  cask_graph_free(g);
  job_free(&j);
  cask_ctx_free(ctx);
  return code;
}
