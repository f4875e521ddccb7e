/* beyond.c - the larger-than-memory benchmark (cask-bench --only beyond):
 * data on files 2.5-3 times a memory cgroup's cap, cask and dask (threads,
 * distributed) each in a fresh cgroup with that cap, the page cache
 * counted.
 *
 * The one thing to know: the orchestration (cgroups, the data files, the
 * dask anchors, checking every result against NumPy) is bench/beyond.py,
 * which cask-bench runs; this file is its entry point and the cask side,
 * a child process (--beyond-child) that computes one case with cask_store
 * and prints its figures, so that nothing but the computation runs inside
 * the cgroup. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifndef CASK_BENCH_SOURCE_DIR
#error "CASK_BENCH_SOURCE_DIR: where bench/beyond.py is"
#endif

/* x in blocks of crow whole rows (a Zarr store: its own chunks; crow 0: the
 * reader's default). */
static cask_array *open_input(cask_ctx *ctx, const char *path, int64_t crow) {
  cask_array *a = NULL;
  size_t n = strlen(path);
  int rc = n > 5 && !strcmp(path + n - 5, ".zarr") ? cask_read_zarr(ctx, path, NULL, &a)
                                                    : cask_read_npy(ctx, path, NULL, &a);
  if (!rc && crow && n > 4 && !strcmp(path + n - 4, ".npy") && cask_array_ndim(a) == 2) {
    int64_t chunks[2] = {crow, cask_array_shape(a)[1]};
    cask_array_release(a);
    rc = cask_read_npy(ctx, path, chunks, &a);
  }
  if (rc) bench_die(path, cask_ctx_errmsg(ctx));
  return a;
}

/* argv: --beyond-child threads limit chunk_rows expr x_path w_path|- output...
 * where an output is "value", "npy:PATH" or "zarr:PATH" (zstd level 1).
 * Prints "result VALUE WALL_NS" and "stats" with the run's statistics. */
int bench_beyond_child(int argc, char **argv) {
  if (argc < 8) bench_die("--beyond-child", "expects: threads limit chunk_rows expr x w outputs...");
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = atoi(argv[2]);
  o.memory_limit = strtoull(argv[3], NULL, 10);
  int64_t crow = strtoll(argv[4], NULL, 10);
  cask_ctx *ctx;
  if (cask_ctx_new(&o, &ctx)) bench_die("cask_ctx_new", "failed");
  uint64_t t0 = bench_now_ns();
  cask_array *in[2] = {open_input(ctx, argv[6], crow), NULL}, *y;
  int nin = strcmp(argv[7], "-") ? 2 : 1;
  if (nin == 2) in[1] = open_input(ctx, argv[7], 0);
  if (cask_eval(ctx, argv[5], (const char *const[]){"x", "w"}, in, (size_t)nin, &y))
    bench_die(argv[5], cask_ctx_errmsg(ctx));
  int nout = argc - 8;
  cask_target *t = bench_xmalloc((size_t)nout * sizeof *t);
  static const cask_zarr_options zstd1 = {.compressor = CASK_ZARR_ZSTD, .level = 1, .separator = '.'};
  double value = 0;
  for (int k = 0; k < nout; k++) {
    const char *spec = argv[8 + k];
    if (!strcmp(spec, "value")) t[k] = CASK_TO_BUFFER(y, &value, sizeof value);
    else if (!strncmp(spec, "npy:", 4)) t[k] = CASK_TO_NPY(y, spec + 4);
    else if (!strncmp(spec, "zarr:", 5)) t[k] = CASK_TO_ZARR(y, spec + 5, &zstd1);
    else bench_die(spec, "an output is value, npy:PATH or zarr:PATH");
  }
  if (cask_store(nout, t, NULL)) bench_die("cask_store", cask_ctx_errmsg(ctx));
  uint64_t ns = bench_now_ns() - t0;
  cask_run_stats st;
  cask_runtime_last_stats(cask_ctx_runtime(ctx), &st);
  printf("result %.17g %" PRIu64 "\n", value, ns);
  printf("stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
         " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
         st.peak_bytes, st.memory_limit, st.spilled_bytes, st.spilled_blocks, st.loaded_bytes, st.dropped_bytes,
         st.dropped_blocks, st.remade_bytes, st.remake_ns, st.held_back, st.tasks_run);
  fflush(stdout);
  free(t);
  cask_array_release(y);
  for (int k = 0; k < nin; k++) cask_array_release(in[k]);
  cask_ctx_free(ctx);
  return 0;
}

/* Runs bench/NAME with --cask-bench (this program), --threads and --quick. */
static void run_script(const char *name, const bench_arrays_config *c) {
  char threads[16], script[4200];
  snprintf(threads, sizeof threads, "%d", c->threads);
  snprintf(script, sizeof script, "%s/bench/%s", CASK_BENCH_SOURCE_DIR, name);
  char *argv[] = {"/usr/bin/python3", script, "--cask-bench", "/proc/self/exe", "--threads", threads,
                  c->quick ? "--quick" : NULL, NULL};
  fflush(stdout);
  fflush(stderr);
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) bench_die("readlink", "/proc/self/exe");
  exe[n] = '\0';
  argv[3] = exe;
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
    fprintf(stderr, "cask-bench: bench/%s failed (its error is above)\n", name);
}

void bench_beyond(const bench_arrays_config *c) { run_script("beyond.py", c); }

/* issue 15: HDF5 and Zarr v3 beside dask over h5py (bench/formats.py runs
 * `cask run`, found beside this program as ../tools/cask). */
void bench_formats(const bench_arrays_config *c) { run_script("formats.py", c); }

/* issue 14: sort and exact percentiles beside NumPy and dask (bench/order.py) */
void bench_order(const bench_arrays_config *c) { run_script("order.py", c); }
/* issue 13: `mpirun -np K cask run` beside dask.distributed (bench/mpi.py
 * runs ../tools/cask under mpirun) */
void bench_mpi(const bench_arrays_config *c) { run_script("mpi.py", c); }

/* issue 14: x[x > 0.5].sum() beside NumPy and dask (bench/select.py). */
void bench_select(const bench_arrays_config *c) { run_script("select.py", c); }

/* issue 14: TSQR and einsum beside NumPy and dask.array (bench/decomp.py
 * calls libcask.so, found beside this program as ../libcask.so). */
void bench_decomp(const bench_arrays_config *c) { run_script("decomp.py", c); }
