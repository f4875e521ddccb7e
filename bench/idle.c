/* idle.c - how much CPU a runtime burns when it has nothing to do.
 *
 * Three windows, each measured as process CPU time (getrusage: every thread,
 * user + system) over wall time: a runtime just started; a runtime whose run
 * has just returned (its workers must stop spinning and park); and a run in
 * progress where one task sleeps and every other worker has no work (they
 * wait for work for the whole window). The sleeping task itself uses no CPU,
 * so the figure is what waiting costs. Run these before any OpenMP region:
 * libgomp's threads spin after a region and would be counted. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

double bench_cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void sleep_for(double seconds) {
  struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static int sleep_run(cask_task_io *io) {
  double s;
  memcpy(&s, io->args, sizeof s);
  sleep_for(s);
  return CASK_OK;
}

static double pct(double cpu0, uint64_t wall0) {
  double wall = (double)(bench_now_ns() - wall0) * 1e-9;
  return 100.0 * (bench_cpu_seconds() - cpu0) / wall;
}

static double idle_window(double seconds) {
  double c0 = bench_cpu_seconds();
  uint64_t w0 = bench_now_ns();
  sleep_for(seconds);
  return pct(c0, w0);
}

/* One task sleeps; threads - 1 no-op roots make sure every worker joined
 * the run (several roots wake them all) before it runs out of work. */
static double in_run_window(cask_runtime *rt, int threads, double seconds) {
  static const cask_op *sleep_op;
  cask_op def = {"bench.sleep", sleep_run, NULL, NULL, NULL, 0, 0};
  if (!sleep_op && !(sleep_op = cask_op_find(def.name)) && cask_op_register(&def, &sleep_op))
    bench_die("cask_op_register", def.name);
  cask_graph *g;
  if (cask_graph_new(&g)) bench_die("cask_graph_new", "failed");
  if (cask_graph_add(g, "sleep", sleep_op, &seconds, sizeof seconds, NULL, 0, NULL))
    bench_die("cask_graph_add", cask_graph_errmsg(g));
  const cask_op *noop = cask_op_find("cask.noop");
  for (int i = 1; i < threads; i++) {
    char key[32];
    bench_key(key, "noop-", (uint32_t)i);
    if (cask_graph_add(g, key, noop, NULL, 0, NULL, 0, NULL))
      bench_die("cask_graph_add", cask_graph_errmsg(g));
  }
  cask_results *res;
  double c0 = bench_cpu_seconds();
  uint64_t w0 = bench_now_ns();
  if (cask_run(rt, g, NULL, &res)) bench_die("cask_run", cask_runtime_errmsg(rt));
  double p = pct(c0, w0);
  cask_results_free(res);
  cask_graph_free(g);
  return p;
}

void bench_idle_measure(int threads, double seconds, bench_idle *out) {
  cask_runtime_options opts = CASK_RUNTIME_OPTIONS_DEFAULTS;
  opts.threads = threads;
  cask_runtime *rt;
  if (cask_runtime_new(&opts, &rt)) bench_die("cask_runtime_new", "failed");
  out->seconds = seconds;
  out->fresh_pct = idle_window(seconds);

  size_t n = (size_t)1 << 17;
  cask_graph *g;
  bench_scratch scratch;
  bench_scratch_init(&scratch, n);
  if (cask_graph_new(&g)) bench_die("cask_graph_new", "failed");
  uint64_t build_ns;
  bench_cask_shape(rt, g, SHAPE_INDEPENDENT, n, &scratch, &build_ns);
  out->after_run_pct = idle_window(seconds);
  cask_graph_free(g);
  bench_scratch_destroy(&scratch);

  out->in_run_pct = in_run_window(rt, threads, seconds);
  cask_runtime_free(rt);
}
