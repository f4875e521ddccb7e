/* main.c - cask-bench: per-task overhead of cask against OpenMP tasks, the
 * cost of preparing a 1.5-million-task graph, the CPU an idle runtime uses,
 * and chunked arrays beside NumExpr, NumPy and dask.array (arrays.c). A
 * human table goes to stderr, one JSON object per figure to stdout.
 *
 * The one thing to know: "cold" figures come from fresh copies of this
 * program (--cold-child, --optimize-child), because only a new process has
 * faulted in none of the memory a graph needs; "warm" figures reuse one
 * graph (cask_graph_clear keeps its memory) and one runtime in this process.
 * Usage: cask-bench [--threads N] [--quick] [--shape NAME] [--reps N]
 *                   [--only overhead,optimize,idle,dask,arrays,linalg,memory] [--measure cold,warm,omp]
 * (linalg: cask_matmul beside NumPy's np.dot and dask.array, linalg.c;
 * memory: cask under a memory limit beside dask, memory.c, only when asked
 * for: it takes minutes and dask holds 8.5 GB) */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void bench_linalg(const bench_arrays_config *c); /* linalg.c */

#define OPT_TASKS 1500000
#define DASK_TASKS 150000
#define MAX_REPS 64

enum { DO_OVERHEAD = 1, DO_OPTIMIZE = 2, DO_IDLE = 4, DO_DASK = 8, DO_ARRAYS = 16, DO_LINALG = 32,
       DO_ALL = 63, DO_MEMORY = 64, DO_BEYOND = 128, DO_FORMATS = 256, DO_MPI = 512,
       DO_SELECT = 1024, DO_ORDER = 2048, DO_DECOMP = 4096 /* not in DO_ALL: see usage */ };
enum { M_COLD = 1, M_WARM = 2, M_OMP = 4, M_ALL = 7 };

typedef struct config {
  int threads, reps, quick, only_shape;
  bench_shape shape;
  unsigned what;    /* DO_* */
  unsigned measure; /* M_*: which overhead figures (leave some out to profile one) */
} config;

static const double target_ns[SHAPE_COUNT] = {100, 150, 150, 0}; /* 0: none */

static void usage(void) {
  fprintf(stderr,
          "usage: cask-bench [--threads N] [--quick] [--shape independent|chain|tree|wavefront]\n"
          "                  [--reps N] [--only overhead,optimize,idle,dask,arrays,linalg,memory,beyond,formats,mpi,\n"
          "                          select,order,decomp]\n"
          "                  [--measure cold,warm,omp]\n"
          "memory (cask with a memory limit beside dask and dask.distributed, minutes, up to\n"
          "8.5 GB of RAM and a 4 GB Zarr store in $CASK_BENCH_DATA) and beyond (every system in\n"
          "a memory cgroup of 1.5 GiB over 4 GB files in $CASK_BENCH_DATA, as root, tens of\n"
          "minutes), formats (HDF5 and Zarr v3 beside dask over h5py, 4 GB files), mpi (mpirun -np\n"
          "1, 2, 4 beside dask.distributed, bench/mpi.py), select (x[x > 0.5].sum() of 10^8\n"
          "float64 beside NumPy and dask), order (sort and exact percentiles of 10^8 float64 beside\n"
          "NumPy and dask, 0.8 GB in $CASK_BENCH_DATA) and decomp (TSQR of 10^6 x 100 and einsum at\n"
          "10^4 x 10^4 beside NumPy and dask, 3 GB of RAM) run only when named\n");
  exit(2);
}

static int default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

static cask_runtime *runtime(int threads) {
  cask_runtime_options opts = CASK_RUNTIME_OPTIONS_DEFAULTS;
  opts.threads = threads;
  cask_runtime *rt;
  if (cask_runtime_new(&opts, &rt)) bench_die("cask_runtime_new", "failed");
  return rt;
}

static cask_graph *graph(void) {
  cask_graph *g;
  if (cask_graph_new(&g)) bench_die("cask_graph_new", "failed");
  return g;
}

/* ---- children: one cold measurement each ------------------------------- */

static int cold_child(int argc, char **argv) {
  bench_shape s;
  if (argc != 5 || bench_shape_parse(argv[2], &s)) usage();
  size_t n = strtoull(argv[3], NULL, 10);
  cask_runtime *rt = runtime(atoi(argv[4]));
  cask_graph *g = graph();
  bench_scratch scratch;
  bench_scratch_init(&scratch, n);
  uint64_t faults = bench_page_faults(), build;
  uint64_t ns = bench_cask_shape(rt, g, s, n, &scratch, &build);
  printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", ns, build, bench_page_faults() - faults);
  return 0;
}

static int optimize_child(int argc, char **argv) {
  if (argc != 3) usage();
  bench_opt_times t;
  cask_graph *g = graph();
  bench_optimize(g, strtoull(argv[2], NULL, 10), &t);
  cask_graph_free(g);
  printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %zu %zu %zu %" PRIu64 "\n",
         t.build, t.validate, t.cull, t.fuse, t.order, t.tasks, t.after_cull, t.after_fuse,
         t.faults);
  return 0;
}

static void spawn_self(char **argv, char *out, size_t cap) {
  if (bench_spawn_read(argv, out, cap) != 0) bench_die("child", argv[1]);
}

/* ---- overhead ------------------------------------------------------------ */

typedef struct overhead {
  bench_shape shape;
  size_t n, tasks;
  int reps;
  double cold_ns, warm_ns, omp_ns;  /* per task, medians */
  double cold_build, warm_build;   /* the graph-building part of cold_ns, warm_ns */
  double cold_faults, warm_faults, omp_faults; /* page faults per repetition, medians */
  double cold_min, warm_min, omp_min; /* fastest repetition, per task */
} overhead;

/* Per-repetition samples of one shape; medians go into an overhead row. */
typedef struct samples {
  double cold[MAX_REPS], cold_build[MAX_REPS], cold_faults[MAX_REPS];
  double warm[MAX_REPS], warm_build[MAX_REPS], warm_faults[MAX_REPS];
  double omp[MAX_REPS], omp_faults[MAX_REPS];
} samples;

static void cold_rep(const config *c, const overhead *o, samples *sm, int r) {
  char ns[32], th[16], out[96];
  snprintf(ns, sizeof ns, "%zu", o->n);
  snprintf(th, sizeof th, "%d", c->threads);
  char *argv[] = {"/proc/self/exe", "--cold-child", (char *)bench_shape_name(o->shape), ns, th,
                  NULL};
  spawn_self(argv, out, sizeof out);
  if (sscanf(out, "%lf %lf %lf", &sm->cold[r], &sm->cold_build[r], &sm->cold_faults[r]) != 3)
    bench_die("cold child", out);
  sm->cold[r] /= (double)o->tasks;
  sm->cold_build[r] /= (double)o->tasks;
}

static void warm_rep(cask_runtime *rt, cask_graph *g, const overhead *o, bench_scratch *scratch,
                     samples *sm, int r) {
  if (cask_graph_clear(g)) bench_die("cask_graph_clear", "failed");
  uint64_t faults = bench_page_faults(), build;
  uint64_t ns = bench_cask_shape(rt, g, o->shape, o->n, scratch, &build);
  if (r < 0) return;
  sm->warm_faults[r] = (double)(bench_page_faults() - faults);
  sm->warm[r] = (double)ns / (double)o->tasks;
  sm->warm_build[r] = (double)build / (double)o->tasks;
}

static void omp_rep(int threads, const overhead *o, bench_scratch *scratch, samples *sm, int r) {
  uint64_t faults = bench_page_faults();
  uint64_t ns = bench_omp_shape(o->shape, o->n, threads, scratch);
  if (r < 0) return;
  sm->omp_faults[r] = (double)(bench_page_faults() - faults);
  sm->omp[r] = (double)ns / (double)o->tasks;
}

/* Median (and, after the sort, the minimum) of the first n samples. */
static double median_min(double *v, int n, double *min) {
  double m = bench_median(v, (size_t)n);
  if (min) *min = v[0];
  return m;
}

/* The three systems take turns, repetition by repetition, so a burst of
 * load from elsewhere on the machine hits all of them alike; r = -1 is a
 * warm-up (it also starts libgomp's threads) and is not kept. */
static void measure_shape(const config *c, cask_runtime *rt, cask_graph *g, overhead *o,
                          bench_scratch *scratch) {
  static samples sm;
  int n = o->reps;
  for (int r = -1; r < n; r++) {
    if (r >= 0 && (c->measure & M_COLD)) cold_rep(c, o, &sm, r);
    bench_settle();
    if (c->measure & M_WARM) warm_rep(rt, g, o, scratch, &sm, r);
    bench_settle();
    if (c->measure & M_OMP) omp_rep(c->threads, o, scratch, &sm, r);
    bench_settle();
  }
  if (c->measure & M_COLD) {
    o->cold_ns = median_min(sm.cold, n, &o->cold_min);
    o->cold_build = median_min(sm.cold_build, n, NULL);
    o->cold_faults = median_min(sm.cold_faults, n, NULL);
  }
  if (c->measure & M_WARM) {
    o->warm_ns = median_min(sm.warm, n, &o->warm_min);
    o->warm_build = median_min(sm.warm_build, n, NULL);
    o->warm_faults = median_min(sm.warm_faults, n, NULL);
  }
  if (c->measure & M_OMP) {
    o->omp_ns = median_min(sm.omp, n, &o->omp_min);
    o->omp_faults = median_min(sm.omp_faults, n, NULL);
  }
}

static const char *verdict(double ns, double target) {
  return target == 0 || isnan(ns) ? "-" : ns <= target ? "pass" : "FAIL";
}

static void print_overhead_header(void) {
  fprintf(stderr,
          "\nPer-task overhead, ns/task (median of the repetitions; \"omp best\": fastest one;\n"
          "cask: build + run + free of results, fusion off; pf: page faults per repetition)\n"
          "%-12s %8s %8s %9s %9s %9s %9s %8s %8s %6s %4s %4s %7s %7s\n",
          "shape", "N", "tasks", "cask cold", "cask warm", "OpenMP", "omp best", "cold/omp",
          "warm/omp", "target", "warm", "cold", "pf cold", "pf warm");
}

static void report_overhead(const config *c, const overhead *o) {
  double t = target_ns[o->shape];
  char tgt[16];
  snprintf(tgt, sizeof tgt, t ? "<=%.0f" : "-", t);
  fprintf(stderr, "%-12s %8zu %8zu %9.1f %9.1f %9.1f %9.1f %8.2f %8.2f %6s %4s %4s %7.0f %7.0f\n",
          bench_shape_name(o->shape), o->n, o->tasks, o->cold_ns, o->warm_ns, o->omp_ns, o->omp_min,
          o->cold_ns / o->omp_ns, o->warm_ns / o->omp_ns, tgt, verdict(o->warm_ns, t),
          verdict(o->cold_ns, t), o->cold_faults, o->warm_faults);
  printf("{\"bench\":\"overhead\",\"shape\":\"%s\",\"n\":%zu,\"tasks\":%zu,\"threads\":%d,"
         "\"reps\":%d",
         bench_shape_name(o->shape), o->n, o->tasks, c->threads, o->reps);
  bench_json_num("cask_cold_ns", "%.1f", o->cold_ns);
  bench_json_num("cask_warm_ns", "%.1f", o->warm_ns);
  bench_json_num("omp_ns", "%.1f", o->omp_ns);
  bench_json_num("ratio_cold", "%.3f", o->cold_ns / o->omp_ns);
  bench_json_num("ratio_warm", "%.3f", o->warm_ns / o->omp_ns);
  bench_json_num("cask_cold_min_ns", "%.1f", o->cold_min);
  bench_json_num("cask_warm_min_ns", "%.1f", o->warm_min);
  bench_json_num("omp_min_ns", "%.1f", o->omp_min);
  bench_json_num("cask_cold_build_ns", "%.1f", o->cold_build);
  bench_json_num("cask_warm_build_ns", "%.1f", o->warm_build);
  bench_json_num("cold_page_faults", "%.0f", o->cold_faults);
  bench_json_num("warm_page_faults", "%.0f", o->warm_faults);
  bench_json_num("omp_page_faults", "%.0f", o->omp_faults);
  if (t) {
    bench_json_num("target_ns", "%.0f", t);
    if (!isnan(o->warm_ns)) printf(",\"pass_warm\":%s", o->warm_ns <= t ? "true" : "false");
    if (!isnan(o->cold_ns)) printf(",\"pass_cold\":%s", o->cold_ns <= t ? "true" : "false");
  }
  printf(",\"fused\":false}\n");
  fflush(stdout);
}

static void run_overhead(const config *c) {
  size_t sizes[] = {(size_t)1 << 17, (size_t)1 << 20};
  int nsizes = c->quick ? 1 : 2;
  cask_runtime *rt = runtime(c->threads);
  cask_graph *g = graph();
  print_overhead_header();
  for (int k = 0; k < nsizes; k++) {
    bench_scratch scratch;
    bench_scratch_init(&scratch, sizes[k]);
    for (int s = 0; s < SHAPE_COUNT; s++) {
      if (c->only_shape && (bench_shape)s != c->shape) continue;
      overhead o = {(bench_shape)s, sizes[k], bench_shape_tasks((bench_shape)s, sizes[k]),
                    c->reps, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
      measure_shape(c, rt, g, &o, &scratch);
      report_overhead(c, &o);
    }
    bench_scratch_destroy(&scratch);
  }
  cask_graph_free(g);
  cask_runtime_free(rt);
}

/* ---- optimize -------------------------------------------------------------- */

typedef struct opt_ms {
  double build, validate, cull, fuse, order, total, faults;
} opt_ms;

static void opt_median(const bench_opt_times *t, int reps, opt_ms *out) {
  double v[5][MAX_REPS];
  for (int r = 0; r < reps; r++) {
    v[0][r] = (double)t[r].build / 1e6;
    v[1][r] = (double)t[r].validate / 1e6;
    v[2][r] = (double)t[r].cull / 1e6;
    v[3][r] = (double)t[r].fuse / 1e6;
    v[4][r] = (double)t[r].order / 1e6;
  }
  out->build = bench_median(v[0], (size_t)reps);
  out->validate = bench_median(v[1], (size_t)reps);
  out->cull = bench_median(v[2], (size_t)reps);
  out->fuse = bench_median(v[3], (size_t)reps);
  out->order = bench_median(v[4], (size_t)reps);
  double tot[MAX_REPS], pf[MAX_REPS];
  for (int r = 0; r < reps; r++) {
    tot[r] = (double)t[r].total / 1e6;
    pf[r] = (double)t[r].faults;
  }
  out->total = bench_median(tot, (size_t)reps);
  out->faults = bench_median(pf, (size_t)reps);
}

static void report_optimize(const char *mode, int reps, const bench_opt_times *t,
                            const opt_ms *m) {
  fprintf(stderr, "%-5s %9zu %9zu %9zu %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %5s %8.0f\n", mode,
          t->tasks, t->after_cull, t->after_fuse, m->build, m->validate, m->cull, m->fuse,
          m->order, m->total, m->total < 1000 ? "pass" : "FAIL", m->faults);
  printf("{\"bench\":\"optimize\",\"mode\":\"%s\",\"reps\":%d,\"tasks\":%zu,"
         "\"after_cull\":%zu,\"after_fuse\":%zu,\"build_ms\":%.1f,\"validate_ms\":%.1f,"
         "\"cull_ms\":%.1f,\"fuse_ms\":%.1f,\"order_ms\":%.1f,\"total_ms\":%.1f,"
         "\"page_faults\":%.0f,\"target_ms\":1000,\"pass\":%s}\n",
         mode, reps, t->tasks, t->after_cull, t->after_fuse, m->build, m->validate, m->cull,
         m->fuse, m->order, m->total, m->faults, m->total < 1000 ? "true" : "false");
  fflush(stdout);
}

static void optimize_cold(int reps, bench_opt_times *t) {
  char arg[32], out[256];
  snprintf(arg, sizeof arg, "%d", OPT_TASKS);
  char *argv[] = {"/proc/self/exe", "--optimize-child", arg, NULL};
  for (int r = 0; r < reps; r++) {
    spawn_self(argv, out, sizeof out);
    bench_opt_times *x = &t[r];
    if (sscanf(out, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %zu %zu %zu %" SCNu64,
               &x->build, &x->validate, &x->cull, &x->fuse, &x->order, &x->tasks, &x->after_cull,
               &x->after_fuse, &x->faults) != 9)
      bench_die("optimize child", out);
    x->total = x->build + x->validate + x->cull + x->fuse + x->order;
  }
}

static void optimize_warm(int reps, bench_opt_times *t) {
  cask_graph *g = graph();
  bench_optimize(g, OPT_TASKS, &t[0]); /* warm-up, not kept */
  for (int r = 0; r < reps; r++) bench_optimize(g, OPT_TASKS, &t[r]);
  cask_graph_free(g);
}

static void run_optimize(const config *c) {
  int reps = c->quick ? 1 : 3;
  bench_opt_times t[MAX_REPS];
  opt_ms m;
  fprintf(stderr,
          "\nGraph preparation, %d tasks, ms (median; cold = fresh process, warm = reused graph)\n"
          "%-5s %9s %9s %9s %8s %8s %8s %8s %8s %8s %5s %8s\n",
          OPT_TASKS, "mode", "tasks", "culled", "fused", "build", "validate", "cull", "fuse",
          "order", "total", "<1s", "faults");
  if (c->measure & M_COLD) {
    optimize_cold(reps, t);
    opt_median(t, reps, &m);
    report_optimize("cold", reps, &t[0], &m);
  }
  if (c->measure & M_WARM) {
    optimize_warm(reps, t);
    opt_median(t, reps, &m);
    report_optimize("warm", reps, &t[0], &m);
  }
}

static void run_dask(void) {
  bench_dask d;
  fprintf(stderr, "\nDask (same graph shape, %d tasks, measured at that size only)\n", DASK_TASKS);
  bench_dask_optimize(DASK_TASKS, &d);
  if (!d.available) {
    fprintf(stderr, "skipped: /usr/bin/python3 cannot import dask\n");
    return;
  }
  fprintf(stderr,
          "dask %s: %zu tasks -> %zu culled -> %zu fused; build %.1f ms, cull %.1f ms, "
          "fuse %.1f ms, order %.1f ms, total %.1f ms\n",
          d.version, d.tasks, d.after_cull, d.after_fuse, d.build_ms, d.cull_ms, d.fuse_ms,
          d.order_ms, d.total_ms);
  printf("{\"bench\":\"dask_optimize\",\"dask\":\"%s\",\"tasks\":%zu,\"after_cull\":%zu,"
         "\"after_fuse\":%zu,\"build_ms\":%.1f,\"cull_ms\":%.1f,\"fuse_ms\":%.1f,"
         "\"order_ms\":%.1f,\"total_ms\":%.1f}\n",
         d.version, d.tasks, d.after_cull, d.after_fuse, d.build_ms, d.cull_ms, d.fuse_ms,
         d.order_ms, d.total_ms);
  fflush(stdout);
}

/* ---- idle ------------------------------------------------------------------ */

static void idle_line(const config *c, const char *state, double pct, double seconds) {
  fprintf(stderr, "%-26s %8.3f %% of a core over %.2f s  %s\n", state, pct, seconds,
          pct < 1.0 ? "pass" : "FAIL");
  printf("{\"bench\":\"idle\",\"state\":\"%s\",\"threads\":%d,\"seconds\":%.2f,"
         "\"cpu_pct\":%.3f,\"target_pct\":1,\"pass\":%s}\n",
         state, c->threads, seconds, pct, pct < 1.0 ? "true" : "false");
  fflush(stdout);
}

static void run_idle(const config *c) {
  bench_idle r;
  bench_idle_measure(c->threads, c->quick ? 0.25 : 1.0, &r);
  fprintf(stderr, "\nIdle runtime, process CPU time / wall time (target < 1%% of a core)\n");
  idle_line(c, "fresh_runtime", r.fresh_pct, r.seconds);
  idle_line(c, "after_run", r.after_run_pct, r.seconds);
  if (c->threads > 1) idle_line(c, "in_run_no_work", r.in_run_pct, r.seconds);
}

/* ---- context ------------------------------------------------------------- */

/* The value of the first "name : value" line of /proc/cpuinfo that starts
 * with `field`, or "?". */
static void cpuinfo(const char *field, char *out, size_t cap) {
  snprintf(out, cap, "?");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[256], *v;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, strlen(field)) == 0 && (v = strchr(line, ':'))) {
      v[1 + strcspn(v + 1, "\n")] = '\0';
      snprintf(out, cap, "%s", v[1] == ' ' ? v + 2 : v + 1);
      break;
    }
  fclose(f);
}

/* The 1-minute load average, or -1. */
static double loadavg(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

/* What the figures depend on: machine, threads, and how busy it was (the
 * load average is the number of runnable processes, ours included). */
static void report_context(const config *c, const char *when) {
  char cpu[128];
  cpuinfo("model name", cpu, sizeof cpu);
  fprintf(stderr, "%s: %s, %d cores online, 1-min load average %.2f\n", when, cpu,
          default_threads(), loadavg());
  printf("{\"bench\":\"context\",\"when\":\"%s\",\"cpu\":\"%s\",\"cores\":%d,\"threads\":%d,"
         "\"loadavg_1min\":%.2f,\"cask\":\"%s\",\"openmp\":%d,\"cc\":\"gcc %s\"}\n",
         when, cpu, default_threads(), c->threads, loadavg(), cask_version_string(), _OPENMP,
         __VERSION__);
  fflush(stdout);
}

/* ---- options --------------------------------------------------------------- */

/* A comma list of names -> bit i for names[i]. */
static unsigned parse_list(const char *list, const char *const *names, unsigned nnames) {
  unsigned what = 0;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    unsigned bit = 0;
    for (unsigned i = 0; i < nnames; i++)
      if (strcmp(tok, names[i]) == 0) bit = 1u << i;
    if (!bit) usage();
    what |= bit;
  }
  return what;
}

static void parse(int argc, char **argv, config *c) {
  static const char *const what[] = {"overhead", "optimize", "idle",  "dask",
                                     "arrays",   "linalg",   "memory", "beyond", "formats", "mpi",
                                     "select",   "order",    "decomp"};
  static const char *const measure[] = {"cold", "warm", "omp"};
  *c = (config){default_threads(), 5, 0, 0, SHAPE_INDEPENDENT, DO_ALL, M_ALL};
  int reps = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--quick") == 0) c->quick = 1;
    else if (strcmp(a, "--threads") == 0 && v) c->threads = atoi(argv[++i]);
    else if (strcmp(a, "--reps") == 0 && v) reps = atoi(argv[++i]);
    else if (strcmp(a, "--only") == 0 && v) c->what = parse_list(argv[++i], what, sizeof what / sizeof what[0]);
    else if (strcmp(a, "--measure") == 0 && v) c->measure = parse_list(argv[++i], measure, 3);
    else if (strcmp(a, "--shape") == 0 && v && bench_shape_parse(v, &c->shape) == 0) {
      c->only_shape = 1;
      i++;
    } else usage();
  }
  if (c->threads < 1 || c->threads > 1024) usage();
  c->reps = reps ? reps : c->quick ? 3 : 5;
  if (c->reps < 1 || c->reps > MAX_REPS) usage();
  if (c->quick) c->what &= ~(unsigned)DO_DASK;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--cold-child") == 0) return cold_child(argc, argv);
  if (argc > 1 && strcmp(argv[1], "--optimize-child") == 0) return optimize_child(argc, argv);
  if (argc > 1 && strcmp(argv[1], "--memory-child") == 0) return bench_memory_child(argc, argv);
  if (argc > 1 && strcmp(argv[1], "--beyond-child") == 0) return bench_beyond_child(argc, argv);
  config c;
  parse(argc, argv, &c);
  fprintf(stderr, "cask-bench: cask %s, threads %d, OpenMP %d (gcc %s)%s\n",
          cask_version_string(), c.threads, _OPENMP, __VERSION__, c.quick ? ", quick" : "");
  report_context(&c, "start");
  double fault_us = bench_fault_us(), syscall_ns = bench_syscall_ns();
  fprintf(stderr, "here a page fault (first touch of 4 KiB) costs %.2f us, a system call %.0f ns\n",
          fault_us, syscall_ns);
  printf("{\"bench\":\"machine_costs\",\"us_per_page_fault\":%.2f,\"ns_per_syscall\":%.0f}\n",
         fault_us, syscall_ns);
  /* Idle first: no OpenMP thread may be spinning while it is measured. */
  if (c.what & DO_IDLE) run_idle(&c);
  if (c.what & DO_OVERHEAD) run_overhead(&c);
  if (c.what & DO_OPTIMIZE) run_optimize(&c);
  if (c.what & DO_DASK) run_dask();
  /* the sections that share one config, in the order they run */
  static const struct {
    unsigned bit;
    void (*run)(const bench_arrays_config *);
  } sections[] = {{DO_ARRAYS, bench_arrays}, {DO_LINALG, bench_linalg},   {DO_MEMORY, bench_memory},
                  {DO_BEYOND, bench_beyond}, {DO_FORMATS, bench_formats}, {DO_MPI, bench_mpi},
                  {DO_SELECT, bench_select}, {DO_ORDER, bench_order},     {DO_DECOMP, bench_decomp}};
  bench_arrays_config ac = {c.threads, c.quick, c.reps};
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
    if (c.what & sections[i].bit) sections[i].run(&ac);
  report_context(&c, "end");
  return 0;
}
