/* run.c - running a job: one graph for all its outputs, run with progress
 * and a trace, then each output printed or written.
 * The one thing to know: outputs are collected from the results of that
 * one run (every output block is a graph output, found by the key
 * cask_arrays_graph reports), so a step shared by two outputs is computed
 * once; a .npy file or Zarr store is written only after the whole run
 * succeeded, under a temporary name renamed into place (cask_to_npy does
 * it for a file; a store is a directory, renamed here), so an interrupted
 * or failed run leaves nothing under an output's name. */
#define _GNU_SOURCE /* nftw */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "progress.h"

/* ---- collecting an output ------------------------------------------------ */

/* Copies one block into its box of the C-order buffer dst of a's shape. */
static void place_block(const cask_array *a, const int64_t *bidx, const cask_block *b, char *dst) {
  int nd = cask_array_ndim(a);
  const int64_t *shape = cask_array_shape(a), *chunks = cask_array_chunks(a);
  size_t w = cask_dtype_size(cask_array_dtype(a));
  int64_t total = cask_block_size(b), idx[CASK_MAX_NDIM] = {0};
  const int64_t *ext = cask_block_shape(b);
  const char *src = cask_block_data(b);
  int64_t row = nd ? ext[nd - 1] : 1;
  for (int64_t o = 0; o < total; o += row) {
    int64_t flat = 0;
    for (int i = 0; i < nd; i++) flat = flat * shape[i] + bidx[i] * chunks[i] + idx[i];
    memcpy(dst + (size_t)flat * w, src + (size_t)o * w, (size_t)row * w);
    for (int i = nd - 2; i >= 0; i--) {
      if (++idx[i] < ext[i]) break;
      idx[i] = 0;
    }
  }
}

/* Blocks along an axis; an empty axis is one (empty) block. */
static int64_t axis_blocks(const cask_array *a, int i) {
  int64_t c = cask_array_chunks(a)[i], s = cask_array_shape(a)[i];
  return s > 0 && c > 0 ? (s + c - 1) / c : 1;
}

static int64_t nblocks(const cask_array *a) {
  int64_t n = 1;
  for (int i = 0; i < cask_array_ndim(a); i++) n *= axis_blocks(a, i);
  return n;
}

/* The output's values from the results; keys: its blocks' keys, C order. */
static char *collect(const cask_array *a, const cask_results *res, char *const *keys, char *err, size_t cap) {
  size_t nbytes = (size_t)cask_array_size(a) * cask_dtype_size(cask_array_dtype(a));
  char *buf = malloc(nbytes ? nbytes : 1);
  int nd = cask_array_ndim(a);
  int64_t bidx[CASK_MAX_NDIM] = {0}, n = nblocks(a);
  if (!buf) {
    snprintf(err, cap, "out of memory collecting %zu bytes", nbytes);
    return NULL;
  }
  for (int64_t k = 0; k < n && nbytes; k++) {
    const cask_block *b = cask_results_get_key(res, keys[k]);
    if (!b) {
      snprintf(err, cap, "the result of block %s is missing", keys[k]);
      free(buf);
      return NULL;
    }
    place_block(a, bidx, b, buf);
    for (int i = nd - 1; i >= 0; i--) {
      if (++bidx[i] < axis_blocks(a, i)) break;
      bidx[i] = 0;
    }
  }
  return buf;
}

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

static const char *print_axis(FILE *f, const cask_array *a, int axis, const char *p) {
  cask_dtype dt = cask_array_dtype(a);
  if (axis == cask_array_ndim(a)) {
    print_elem(f, dt, p);
    return p + cask_dtype_size(dt);
  }
  fputc('[', f);
  for (int64_t i = 0; i < cask_array_shape(a)[axis]; i++) {
    if (i) fputs(", ", f);
    p = print_axis(f, a, axis + 1, p);
  }
  fputc(']', f);
  return p;
}

/* ---- writing ------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

static void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Whether the process pid is gone (EPERM: alive, someone else's). */
static int process_gone(long pid) { return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

/* Removes ".BASE.tmp-PID-N" and ".BASE.old-PID-N" next to path whose PID
 * is gone: what a run killed by SIGKILL left while writing the store. */
static void remove_leftovers(const char *path) {
  char *d = strdup(path), *b = strdup(path);
  const char *base = b ? basename(b) : NULL, *dn = d ? dirname(d) : NULL;
  DIR *dir = dn ? opendir(dn) : NULL;
  struct dirent *e;
  char prefix[4200], full[8400];
  size_t n = base ? (size_t)snprintf(prefix, sizeof prefix, ".%s.", base) : sizeof prefix;
  while (dir && n < sizeof prefix && (e = readdir(dir))) {
    const char *rest = e->d_name + n;
    if (strncmp(e->d_name, prefix, n) || (strncmp(rest, "tmp-", 4) && strncmp(rest, "old-", 4))) continue;
    char *end;
    long pid = strtol(rest + 4, &end, 10);
    if (*end != '-' || !process_gone(pid)) continue;
    snprintf(full, sizeof full, "%s/%s", dn, e->d_name);
    remove_tree(full);
  }
  if (dir) closedir(dir);
  free(d);
  free(b);
}

/* A new directory "DIR/.BASE.WHAT-PID-N" next to path (so a rename never
 * crosses file systems); made with mkdir, not mkdtemp, for the umask's
 * permissions rather than 0700. */
static int temp_dir(const char *path, const char *what, char *out, size_t cap) {
  char *d = strdup(path), *b = strdup(path);
  const char *dir = d ? dirname(d) : NULL, *base = b ? basename(b) : NULL;
  int made = 0;
  for (int n = 0; dir && base && n < 1000 && !made; n++) {
    if (snprintf(out, cap, "%s/.%s.%s-%ld-%d", dir, base, what, (long)getpid(), n) >= (int)cap) break;
    made = mkdir(out, 0777) == 0;
    if (!made && errno != EEXIST) break;
  }
  free(d);
  free(b);
  return made ? 0 : -1;
}

/* Renames the directory tmp to path. rename() replaces only an empty
 * directory: a store already at path (job.c lets only a store be there) is
 * renamed aside first (onto an empty directory), and removed once the new
 * one is in (or put back if that fails). */
static int replace_dir(const char *tmp, const char *path) {
  char old[4200];
  if (!rename(tmp, path)) return 0;
  if ((errno != ENOTEMPTY && errno != EEXIST) || temp_dir(path, "old", old, sizeof old)) return -1;
  int e = 0;
  if (rename(path, old)) {
    e = errno;
    rmdir(old);
  } else if (rename(tmp, path)) {
    e = errno;
    rename(old, path);
  } else {
    remove_tree(old);
  }
  errno = e;
  return e ? -1 : 0;
}

/* A Zarr store is written under a temporary name next to path (removed
 * if the write fails or is canceled), then renamed to path. */
static int write_zarr(cask_ctx *ctx, cask_array *view, const char *path, const cask_zarr_options *zo, char *err,
                      size_t cap) {
  char tmp[4200];
  remove_leftovers(path);
  if (temp_dir(path, "tmp", tmp, sizeof tmp)) {
    snprintf(err, cap, "writing %s: cannot make a temporary directory next to it: %s", path, strerror(errno));
    return CASK_EIO;
  }
  int rc = cask_to_zarr(view, tmp, zo);
  if (rc) snprintf(err, cap, "writing %s: %s", path, cask_ctx_errmsg(ctx));
  else if ((rc = replace_dir(tmp, path) ? CASK_EIO : 0))
    snprintf(err, cap, "writing %s: cannot rename the written store into place: %s", path, strerror(errno));
  if (rc) remove_tree(tmp);
  return rc;
}

/* The output's files, from a view of its collected values with its chunks
 * (a Zarr store gets one chunk per block of the output). */
static int write_files(cask_ctx *ctx, const job_output *o, const char *buf, char *err, size_t cap) {
  const cask_array *a = o->a;
  cask_array *view = NULL;
  int rc = cask_from_buffer(ctx, buf, cask_array_dtype(a), cask_array_ndim(a), cask_array_shape(a),
                            cask_array_chunks(a), NULL, NULL, &view);
  if (rc) snprintf(err, cap, "%s", cask_ctx_errmsg(ctx));
  if (!rc && o->npy && (rc = cask_to_npy(view, o->npy)))
    snprintf(err, cap, "writing %s: %s", o->npy, cask_ctx_errmsg(ctx));
  if (!rc && o->zarr) rc = write_zarr(ctx, view, o->zarr, &o->zarr_opts, err, cap);
  cask_array_release(view);
  return rc;
}

/* Prints or writes every output from the results of the run. */
static int finish_outputs(cask_ctx *ctx, const job *j, const cask_results *res, char **keys,
                          atomic_int *interrupted) {
  char err[1500];
  size_t first = 0;
  for (int k = 0; k < j->nout; k++) {
    const job_output *o = &j->out[k];
    if (*interrupted) return EXIT_INTERRUPTED;
    char *buf = collect(o->a, res, keys + first, err, sizeof err);
    first += (size_t)nblocks(o->a);
    if (!buf) {
      fprintf(stderr, "cask: output %s: %s\n", o->name, err);
      return EXIT_TASK;
    }
    if (o->print) {
      printf("%s = ", o->name);
      print_axis(stdout, o->a, 0, buf);
      putchar('\n');
      fflush(stdout);
    }
    int rc = o->npy || o->zarr ? write_files(ctx, o, buf, err, sizeof err) : 0;
    free(buf);
    if (rc && *interrupted) return EXIT_INTERRUPTED; /* the write was canceled */
    if (rc) {
      fprintf(stderr, "cask: output %s: %s\n", o->name, err);
      return EXIT_TASK;
    }
  }
  return 0;
}

/* ---- the commands --------------------------------------------------------- */

static int open_job(const run_config *cfg, cask_ctx **ctx, job *j) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = cfg->threads;
  o.memory_limit = cfg->memory_limit;
  o.spill_dir = cfg->spill_dir;
  char err[2048];
  if (job_load(cfg->job, &o, ctx, j, err, sizeof err)) {
    fprintf(stderr, "cask: %s\n", err);
    return EXIT_USAGE;
  }
  return 0;
}

static int build_graph(cask_ctx *ctx, const job *j, cask_graph **g, char ***keys) {
  cask_array **arrays = malloc((size_t)j->nout * sizeof *arrays);
  if (!arrays) return EXIT_TASK;
  for (int k = 0; k < j->nout; k++) arrays[k] = j->out[k].a;
  int rc = cask_arrays_graph(j->nout, arrays, g, keys);
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
static void print_plan(cask_ctx *ctx, cask_graph *g) {
  int64_t peak = 0;
  cask_memory_stats m;
  cask_graph_predicted_peak(g, &peak);
  cask_runtime_memory(cask_ctx_runtime(ctx), &m);
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

/* Runs the graph; the exit code. */
static int run_graph(cask_ctx *ctx, const job *j, cask_graph *g, char **keys, const run_config *cfg) {
  cask_runtime *rt = cask_ctx_runtime(ctx);
  cask_run_options opts = CASK_RUN_OPTIONS_DEFAULTS;
  opts.trace_path = cfg->trace;
  progress *p = progress_start(rt, g, !cfg->quiet, cfg->interrupted, &opts);
  if (!p) {
    fprintf(stderr, "cask: out of memory\n");
    return EXIT_TASK;
  }
  cask_results *res = NULL;
  int rc = cask_run(rt, g, &opts, &res);
  progress_stop(p);
  cask_run_stats st; /* now: writing the outputs runs small graphs too */
  cask_runtime_last_stats(rt, &st);
  int code = 0;
  if (rc == CASK_ECANCELED || (rc && *cfg->interrupted)) {
    fprintf(stderr, "cask: interrupted; no output was written\n");
    code = EXIT_INTERRUPTED;
  } else if (rc) {
    fprintf(stderr, "cask: the run failed: %s\n", cask_runtime_errmsg(rt));
    code = EXIT_TASK;
  } else {
    code = finish_outputs(ctx, j, res, keys, cfg->interrupted);
    if (code == EXIT_INTERRUPTED) fprintf(stderr, "cask: interrupted while writing the outputs\n");
  }
  if (!code && !cfg->quiet) progress_summary(p, &st);
  cask_results_free(res);
  progress_free(p);
  return code;
}

int job_command_run(const run_config *cfg) {
  cask_ctx *ctx;
  job j;
  int code = open_job(cfg, &ctx, &j);
  if (code) return code;
  cask_graph *g = NULL;
  char **keys = NULL;
  if (!(code = build_graph(ctx, &j, &g, &keys)) && cfg->graph) code = write_graph(g, cfg);
  if (!code && cfg->dry_run) print_plan(ctx, g);
  else if (!code) code = run_graph(ctx, &j, g, keys, cfg);
  cask_free(keys);
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
  if (!(code = build_graph(ctx, &j, &g, NULL))) code = write_graph(g, cfg);
  if (!code && cfg->graph && !cfg->quiet)
    fprintf(stderr, "cask: wrote %zu tasks to %s\n", cask_graph_size(g), cfg->graph);
  cask_graph_free(g);
  job_free(&j);
  cask_ctx_free(ctx);
  return code;
}
