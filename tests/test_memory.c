/* test_memory.c - the memory limit: parsing, spilling and reading back,
 * admission, the no-deadlock error, failures of the spill store.
 *
 * Every task makes a block of 64-bit values from a salt and its inputs, so
 * a block that came back from disk wrong changes the outputs; each graph
 * runs once without a limit (the reference) and then under a limit far
 * below the bytes it holds, at 1, 2 and 4 threads, and the outputs must be
 * bit-identical. Spill directories are private temporary directories,
 * checked empty after every run. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <glob.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cask/array.h"
#include "cask/cask.h"
#include "test-util.h"

typedef struct margs {
  uint64_t salt;
  int64_t n; /* values in the result */
} margs;

/* out[j] = mix(salt, j, every input's value at j modulo its length) */
static int mix_run(cask_task_io *io) {
  const margs *a = io->args;
  int rc = cask_block_new(CASK_I64, 1, &a->n, &io->output);
  if (rc) return rc;
  uint64_t *out = cask_block_data(io->output);
  for (int64_t j = 0; j < a->n; j++) {
    uint64_t acc = mix64(a->salt + (uint64_t)j);
    for (size_t k = 0; k < io->ninputs; k++) {
      const cask_block *b = io->inputs[k];
      int64_t len = cask_block_size(b);
      if (len) acc = mix64(acc ^ (((const uint64_t *)cask_block_data(b))[j % len] + k));
    }
    out[j] = acc;
  }
  return CASK_OK;
}

static const cask_op *mix_op(void) {
  static const cask_op *op;
  if (!op) {
    static const cask_op def = {"memtest.mix", mix_run, NULL, NULL, NULL, 0, 0};
    if (cask_op_register(&def, &op) == CASK_EOPEXISTS) op = cask_op_find("memtest.mix");
  }
  return op;
}

static cask_task_id add_op(cask_graph *g, const cask_op *op, const char *key, int64_t n,
                           const cask_task_id *deps, size_t ndeps) {
  margs a = {mix64((uint64_t)strlen(key) * 131 + (uint64_t)key[0] + (uint64_t)key[strlen(key) - 1] * 7), n};
  for (const char *c = key; *c; c++) a.salt = mix64(a.salt ^ (uint64_t)*c);
  cask_task_id id;
  ck_assert_int_eq(cask_graph_add(g, key, op, &a, sizeof a, deps, ndeps, &id), CASK_OK);
  ck_assert_int_eq(cask_graph_set_size(g, id, n * 8), CASK_OK);
  return id;
}

static cask_task_id add(cask_graph *g, const char *key, int64_t n, const cask_task_id *deps,
                        size_t ndeps) {
  return add_op(g, mix_op(), key, n, deps, ndeps);
}

/* std(x - x.mean())'s shape: roots r_i (of op root), a chain of small
 * partial results through all of them, then d_i = f(r_i, total): every r_i
 * is held until the chain ends. Outputs: the d_i (big) or a final chain
 * over them. With an op mid, r_i is mid's block of a root of op root
 * instead (x = f(root) held across both passes). */
static cask_graph *two_pass_mid(const cask_op *root, const cask_op *mid, int nroots, int64_t n, int big_outputs) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id *r = malloc((size_t)nroots * sizeof *r), acc = 0, fin = 0;
  char key[64];
  for (int i = 0; i < nroots; i++) {
    snprintf(key, sizeof key, "r-%d", i);
    r[i] = add_op(g, root, key, n, NULL, 0);
    if (mid) {
      snprintf(key, sizeof key, "m-%d", i);
      r[i] = add_op(g, mid, key, n, &r[i], 1);
    }
    snprintf(key, sizeof key, "a-%d", i);
    cask_task_id deps[2] = {r[i], acc};
    acc = add(g, key, 1, deps, i ? 2 : 1);
  }
  for (int i = 0; i < nroots; i++) {
    snprintf(key, sizeof key, "d-%d", i);
    cask_task_id deps[2] = {r[i], acc};
    cask_task_id d = add(g, key, n, deps, 2);
    if (big_outputs) {
      cask_graph_set_output(g, d, 1);
      continue;
    }
    snprintf(key, sizeof key, "e-%d", i);
    cask_task_id deps2[2] = {d, fin}; /* the order walks the chain (taller) first */
    fin = add(g, key, 1, deps2, i ? 2 : 1);
  }
  if (!big_outputs) cask_graph_set_output(g, fin, 1);
  free(r);
  return g;
}

static cask_graph *two_pass_of(const cask_op *root, int nroots, int64_t n, int big_outputs) {
  return two_pass_mid(root, NULL, nroots, n, big_outputs);
}

static cask_graph *two_pass(int nroots, int64_t n, int big_outputs) {
  return two_pass_of(mix_op(), nroots, n, big_outputs);
}

/* A random DAG: tasks of random size with up to three inputs from earlier
 * tasks, the sinks its outputs. */
static cask_graph *random_dag_of(const cask_op *op, uint64_t seed, int ntasks, int64_t maxn) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  uint64_t s = seed;
  char key[64];
  for (int i = 0; i < ntasks; i++) {
    cask_task_id deps[3];
    size_t nd = i ? (size_t)(mix64(++s) % 4) : 0;
    for (size_t k = 0; k < nd; k++) deps[k] = (cask_task_id)(mix64(++s) % (uint64_t)i);
    snprintf(key, sizeof key, "t-%d", i);
    add_op(g, op, key, 1 + (int64_t)(mix64(++s) % (uint64_t)maxn), deps, nd);
  }
  return g;
}

static cask_graph *random_dag(uint64_t seed, int ntasks, int64_t maxn) {
  return random_dag_of(mix_op(), seed, ntasks, maxn);
}

static char *make_dir(void) {
  char *dir = strdup("/tmp/cask-memtest-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

/* Files under dir (recursively one level: the private spill directory). */
static int count_files(const char *dir) {
  char pattern[512];
  snprintf(pattern, sizeof pattern, "%s/*/*", dir);
  glob_t gl;
  int n = glob(pattern, 0, NULL, &gl) == 0 ? (int)gl.gl_pathc : 0;
  globfree(&gl);
  return n;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

static cask_runtime *runtime(int threads, uint64_t limit, const char *dir) {
  cask_runtime *rt;
  cask_runtime_options o = {.threads = threads, .memory_limit = limit, .spill_dir = dir};
  ck_assert_int_eq(cask_runtime_new(&o, &rt), CASK_OK);
  return rt;
}

/* Run g on rt and compare every output with ref's; returns the stats. */
static cask_run_stats run_and_compare_with(cask_runtime *rt, cask_graph *g, const cask_run_options *o,
                                           cask_results *ref, const char *what) {
  cask_results *res;
  int rc = cask_run(rt, g, o, &res);
  require(rc == CASK_OK, "%s: %s", what, cask_runtime_errmsg(rt));
  size_t n = cask_graph_size(g), compared = 0;
  for (cask_task_id i = 0; i < n; i++) {
    cask_block *a = cask_results_get(ref, i), *b = cask_results_get(res, i);
    require((a == NULL) == (b == NULL), "%s: output %s missing", what, cask_graph_key(g, i));
    if (!a) continue;
    require(cask_block_nbytes(a) == cask_block_nbytes(b) &&
                !memcmp(cask_block_data(a), cask_block_data(b), cask_block_nbytes(a)),
            "%s: output %s differs", what, cask_graph_key(g, i));
    compared++;
  }
  require(compared > 0, "%s: nothing compared", what);
  cask_results_free(res);
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  return st;
}

static cask_run_stats run_and_compare(cask_runtime *rt, cask_graph *g, cask_results *ref, const char *what) {
  return run_and_compare_with(rt, g, NULL, ref, what);
}

/* Spill files written for tasks whose key starts with "m-" (on_spill). */
static atomic_int mid_spills;

static void count_mid_spills(void *user, const cask_graph *g, cask_task_id id, int loaded, uint64_t bytes,
                             uint64_t ns) {
  (void)user, (void)bytes, (void)ns;
  if (!loaded && !strncmp(cask_graph_key(g, id), "m-", 2)) atomic_fetch_add(&mid_spills, 1);
}

static cask_results *reference(cask_graph *g) {
  cask_runtime *rt = runtime(1, CASK_MEMORY_UNLIMITED, NULL);
  cask_results *res;
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_OK);
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  ck_assert_uint_eq(st.spilled_blocks, 0);
  cask_runtime_free(rt);
  return res;
}

START_TEST(parse_limits) {
  uint64_t v;
  ck_assert_int_eq(cask_parse_memory_limit("1.5GiB", &v), CASK_OK);
  ck_assert_uint_eq(v, 1610612736ULL);
  ck_assert_int_eq(cask_parse_memory_limit("800MB", &v), CASK_OK);
  ck_assert_uint_eq(v, 800000000ULL);
  ck_assert_int_eq(cask_parse_memory_limit(" 64 kib ", &v), CASK_OK);
  ck_assert_uint_eq(v, 65536);
  ck_assert_int_eq(cask_parse_memory_limit("4096", &v), CASK_OK);
  ck_assert_uint_eq(v, 4096);
  ck_assert_int_eq(cask_parse_memory_limit("2g", &v), CASK_OK);
  ck_assert_uint_eq(v, 2000000000ULL);
  ck_assert_int_eq(cask_parse_memory_limit("none", &v), CASK_OK);
  ck_assert_uint_eq(v, CASK_MEMORY_UNLIMITED);
  uint64_t half, pct;
  ck_assert_int_eq(cask_parse_memory_limit("0.5", &half), CASK_OK);
  ck_assert_int_eq(cask_parse_memory_limit("50%", &pct), CASK_OK);
  ck_assert_uint_eq(half, pct);
  ck_assert(half > (1ULL << 20));
  const char *bad[] = {"", "abc", "-1", "0", "0%", "1.5", "10XB", "200%", "5 GB extra", "nan", "1e400"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    require(cask_parse_memory_limit(bad[i], &v) == CASK_EINVAL, "'%s' was accepted", bad[i]);
  ck_assert_int_eq(cask_parse_memory_limit(NULL, &v), CASK_EINVAL);
}
END_TEST

START_TEST(limit_from_environment) {
  cask_runtime *rt = NULL;
  setenv("CASK_MEMORY_LIMIT", "lots", 1);
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_EINVAL);
  ck_assert_ptr_null(rt);
  setenv("CASK_MEMORY_LIMIT", "2MiB", 1);
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_OK);
  cask_memory_stats ms;
  cask_runtime_memory(rt, &ms);
  ck_assert_uint_eq(ms.limit, 2097152);
  cask_runtime_free(rt);
  /* the option wins over the environment */
  rt = runtime(1, 12345678, NULL);
  cask_runtime_memory(rt, &ms);
  ck_assert_uint_eq(ms.limit, 12345678);
  cask_runtime_free(rt);
  unsetenv("CASK_MEMORY_LIMIT");
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_OK);
  cask_runtime_memory(rt, &ms);
  ck_assert(ms.limit > (64ULL << 20) && ms.limit != CASK_MEMORY_UNLIMITED);
  cask_runtime_free(rt);
  cask_runtime_options o = {.threads = 1, .spill_dir = "/nonexistent/cask"};
  ck_assert_int_eq(cask_runtime_new(&o, &rt), CASK_EINVAL);
  setenv("CASK_SPILL_DIR", "/nonexistent/cask", 1);
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_EINVAL);
  unsetenv("CASK_SPILL_DIR");
}
END_TEST

/* The shapes under a limit a tenth of what they hold: bit-identical. */
START_TEST(spilled_runs_are_bit_identical) {
  char *dir = make_dir();
  int big = _i; /* 0: small outputs, 1: every d_i kept */
  cask_graph *g = two_pass(48, 16384, big); /* 48 blocks of 128 KiB: 6 MiB */
  cask_results *ref = reference(g);
  for (int threads = 1; threads <= 4; threads *= 2) {
    cask_runtime *rt = runtime(threads, 640 << 10, dir);
    char what[64];
    snprintf(what, sizeof what, "two-pass (big outputs %d), %d threads", big, threads);
    cask_run_stats st = run_and_compare(rt, g, ref, what);
    require(st.spilled_blocks > 0 && st.loaded_blocks > 0, "%s: nothing spilled", what);
    require(st.spilled_bytes >= st.spilled_blocks * 131072, "%s: spilled bytes", what);
    require(st.memory_limit == 640 << 10, "%s: limit %llu", what, (unsigned long long)st.memory_limit);
    require(count_files(dir) == 0, "%s: spill files left", what);
    /* a second run on the same runtime */
    run_and_compare(rt, g, ref, what);
    cask_runtime_free(rt);
    require(count_entries(dir) == 0, "%s: the spill directory is left", what);
  }
  cask_results_free(ref);
  cask_graph_free(g);
  rmdir(dir);
  free(dir);
}
END_TEST

START_TEST(random_dags_under_a_limit) {
  char *dir = make_dir();
  int graphs = SANITIZED ? 6 : 24;
  for (int k = 0; k < graphs; k++) {
    uint64_t seed = 0xd15c0 + (uint64_t)k;
    cask_graph *g = random_dag(seed, 60 + k * 7, 20000);
    cask_results *ref = reference(g);
    int threads = 1 + k % 3;
    cask_runtime *rt = runtime(threads, 640 << 10, dir);
    char what[96];
    snprintf(what, sizeof what, "random DAG seed %llx, %d threads", (unsigned long long)seed, threads);
    run_and_compare(rt, g, ref, what);
    require(count_files(dir) == 0, "%s: spill files left", what);
    cask_runtime_free(rt);
    cask_results_free(ref);
    cask_graph_free(g);
  }
  require(count_entries(dir) == 0, "spill directories left");
  rmdir(dir);
  free(dir);
}
END_TEST

/* A task whose inputs alone pass the limit cannot run once one of them had
 * to go to disk: a clear error, no hang. */
START_TEST(inputs_larger_than_the_limit_fail) {
  char *dir = make_dir();
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id r[4];
  char key[16];
  for (int i = 0; i < 4; i++) {
    snprintf(key, sizeof key, "big-%d", i);
    r[i] = add(g, key, 50000, NULL, 0); /* 400 kB each */
  }
  cask_graph_set_output(g, add(g, "all", 1, r, 4), 1);
  cask_runtime *rt = runtime(2, 1000000, dir);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_ENOMEM);
  ck_assert_ptr_null(res);
  const char *msg = cask_runtime_errmsg(rt);
  require(strstr(msg, "'all'") && strstr(msg, "1600000 bytes") && strstr(msg, "memory limit of 1000000 bytes"),
          "message: %s", msg);
  require(count_files(dir) == 0, "spill files left after the failure");
  cask_runtime_free(rt);
  require(count_entries(dir) == 0, "the spill directory is left");
  cask_graph_free(g);
  rmdir(dir);
  free(dir);
}
END_TEST

/* Writes that fail (the file-size limit stands in for a full disk): the run
 * fails naming the file, no file is left, and results of an earlier run
 * are untouched. */
START_TEST(a_failing_spill_write_stops_the_run_cleanly) {
  char *dir = make_dir();
  cask_graph *g = two_pass(16, 16384, 0);
  cask_results *ref = reference(g);
  cask_runtime *rt = runtime(2, 640 << 10, dir);
  cask_results *earlier = NULL;
  ck_assert_int_eq(cask_run(rt, g, NULL, &earlier), CASK_OK);
  struct rlimit old;
  getrlimit(RLIMIT_FSIZE, &old);
  struct rlimit small = {100000, old.rlim_max};
  signal(SIGXFSZ, SIG_IGN);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
  cask_results *res = NULL;
  int rc = cask_run(rt, g, NULL, &res);
  setrlimit(RLIMIT_FSIZE, &old);
  ck_assert_int_eq(rc, CASK_EIO);
  ck_assert_ptr_null(res);
  const char *msg = cask_runtime_errmsg(rt);
  require(strstr(msg, "spilling the block of task") && strstr(msg, ".spill") && strstr(msg, "large"),
          "message: %s", msg);
  require(count_files(dir) == 0, "spill files left after the failure");
  for (cask_task_id i = 0; i < cask_graph_size(g); i++) {
    cask_block *a = cask_results_get(ref, i), *b = cask_results_get(earlier, i);
    if (a) require(b && !memcmp(cask_block_data(a), cask_block_data(b), cask_block_nbytes(a)), "earlier results changed");
  }
  /* and the runtime still works */
  run_and_compare(rt, g, ref, "after a failed spill");
  cask_results_free(earlier);
  cask_runtime_free(rt);
  require(count_entries(dir) == 0, "the spill directory is left");
  cask_results_free(ref);
  cask_graph_free(g);
  rmdir(dir);
  free(dir);
}
END_TEST

/* The spill file of task id, just written (NULL when gone). */
static char *spill_file_of(const char *dir, cask_task_id id) {
  char pattern[512], *path = NULL;
  snprintf(pattern, sizeof pattern, "%s/*/*-%u.spill", dir, id);
  glob_t gl;
  if (glob(pattern, 0, NULL, &gl) == 0) path = strdup(gl.gl_pathv[0]);
  globfree(&gl);
  return path;
}

/* Flip a byte of every spill file as soon as it is written. */
static void corrupt_file(void *user, const cask_graph *g, cask_task_id id, int loaded, uint64_t bytes,
                         uint64_t ns) {
  (void)g, (void)bytes, (void)ns;
  char *path = loaded ? NULL : spill_file_of(user, id);
  FILE *f = path ? fopen(path, "r+b") : NULL;
  if (f) {
    fseek(f, 100, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
  }
  free(path);
}

/* Cut every spill file to 1000 bytes as soon as it is written. */
static void truncate_file(void *user, const cask_graph *g, cask_task_id id, int loaded, uint64_t bytes,
                          uint64_t ns) {
  (void)g, (void)bytes, (void)ns;
  char *path = loaded ? NULL : spill_file_of(user, id);
  if (path && truncate(path, 1000) != 0) perror(path);
  free(path);
}

/* A run whose spill files fn tampers with fails with CASK_EIO, its message
 * holding both words, and leaves no spill file. */
static void tampered_spill_fails(cask_spill_fn fn, const char *says, const char *also) {
  char *dir = make_dir();
  cask_graph *g = two_pass(16, 16384, 0);
  cask_runtime *rt = runtime(2, 640 << 10, dir);
  cask_run_options o = {.on_spill = fn, .user = dir};
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, &o, &res), CASK_EIO);
  const char *msg = cask_runtime_errmsg(rt);
  require(strstr(msg, says) && strstr(msg, also) && strstr(msg, ".spill"), "message: %s", msg);
  require(count_files(dir) == 0, "spill files left after the failure");
  cask_runtime_free(rt);
  cask_graph_free(g);
  rmdir(dir);
  free(dir);
}

/* A truncated spill file was reported as "Input/output error". */
START_TEST(regress_truncated_spill_file_reported_as_io_error) {
  tampered_spill_fails(truncate_file, "truncated", "1000 of its");
}
END_TEST

START_TEST(a_corrupt_spill_file_is_caught) { tampered_spill_fails(corrupt_file, "corrupt", "checksum"); }
END_TEST

static void count_spill(void *user, const cask_graph *g, cask_task_id id, int loaded, uint64_t bytes,
                        uint64_t ns) {
  (void)g, (void)id, (void)ns;
  uint64_t *c = user;
  __atomic_fetch_add(&c[loaded], bytes, __ATOMIC_RELAXED);
}

/* The callback, the stats and the trace agree on what was spilled. */
START_TEST(spilling_is_reported) {
  char *dir = make_dir();
  cask_graph *g = two_pass(24, 16384, 0);
  cask_runtime *rt = runtime(2, 640 << 10, dir);
  char trace[600];
  snprintf(trace, sizeof trace, "%s/trace.json", dir);
  uint64_t seen[2] = {0, 0};
  cask_run_options o = {.on_spill = count_spill, .user = seen, .trace_path = trace};
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, &o, &res), CASK_OK);
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  ck_assert_uint_eq(seen[0], st.spilled_bytes);
  ck_assert_uint_eq(seen[1], st.loaded_bytes);
  /* a block read back may leave memory again without a second write (its
   * file stays) and be read back again: reads may pass writes */
  ck_assert(st.spilled_bytes > 0 && st.loaded_bytes > 0 && st.spill_io_ns > 0);
  /* a block is written at most once (its file stays until it is dead):
   * 48 blocks of 128 KiB (the scalars are too small to spill) */
  require(st.spilled_blocks <= 48, "%llu blocks spilled, %llu read back",
          (unsigned long long)st.spilled_blocks, (unsigned long long)st.loaded_blocks);
  cask_memory_stats ms;
  cask_runtime_memory(rt, &ms);
  ck_assert_uint_eq(ms.spilled_bytes, st.spilled_bytes);
  ck_assert_uint_eq(ms.peak_bytes, st.peak_bytes);
  FILE *f = fopen(trace, "rb");
  ck_assert_ptr_nonnull(f);
  char *text = calloc(1, 1 << 22);
  size_t len = fread(text, 1, (1 << 22) - 1, f);
  fclose(f);
  ck_assert(len > 0);
  ck_assert_ptr_nonnull(strstr(text, "\"spill I/O\""));
  ck_assert_ptr_nonnull(strstr(text, "\"name\":\"spill\""));
  ck_assert_ptr_nonnull(strstr(text, "\"name\":\"read back\""));
  free(text);
  unlink(trace);
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
  rmdir(dir);
  free(dir);
}
END_TEST

/* Arrays under a limit: the product's blocks are materialized and used
 * twice (mean, then the deviations), so they spill; the result is
 * bit-identical to the unlimited one. */
static void project_and_spread(uint64_t limit, const char *dir, double *out, cask_run_stats *st) {
  cask_ctx *ctx;
  cask_options o = {.threads = 2, .memory_limit = limit, .spill_dir = dir};
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  cask_array *x, *w, *s;
  ck_assert_int_eq(cask_random_uniform(ctx, 7, CASK_F64, 2, (int64_t[]){4000, 200}, (int64_t[]){250, 200}, &x), CASK_OK);
  ck_assert_int_eq(cask_random_normal(ctx, 8, CASK_F64, 2, (int64_t[]){200, 200}, (int64_t[]){200, 200}, &w), CASK_OK);
  const char *names[] = {"x", "w"};
  cask_array *vals[] = {x, w};
  int rc = cask_eval(ctx, "std(x @ w - mean(x @ w, axis=0), axis=0)", names, vals, 2, &s);
  require(rc == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  rc = cask_compute(s, out, 200 * sizeof(double));
  require(rc == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  cask_runtime_last_stats(cask_ctx_runtime(ctx), st);
  cask_array_release(s);
  cask_array_release(w);
  cask_array_release(x);
  cask_ctx_free(ctx);
}

START_TEST(arrays_spill_and_match) {
  char *dir = make_dir();
  double ref[200], got[200];
  cask_run_stats st;
  project_and_spread(CASK_MEMORY_UNLIMITED, NULL, ref, &st);
  ck_assert_uint_eq(st.spilled_bytes, 0);
  ck_assert(st.peak_bytes > (4 << 20)); /* the 6.4 MB product is held whole */
  project_and_spread(2 << 20, dir, got, &st);
  require(st.spilled_bytes > 0 && st.loaded_bytes > 0, "nothing spilled (peak %llu)",
          (unsigned long long)st.peak_bytes);
  require(!memcmp(ref, got, sizeof ref), "results differ under the limit");
  require(count_entries(dir) == 0, "the spill directory is left");
  rmdir(dir);
  free(dir);
}
END_TEST


/* ---- regression: a failed task left its worker "busy" (issue 16.1) ------ */

/* Sleeps 1 ms; fails on worker 1 (so some run of many roots fails). */
static int fail_on_worker_one(cask_task_io *io) {
  usleep(1000);
  if (io->worker == 1) return CASK_ETASK;
  return cask_block_new(CASK_I64, 0, NULL, &io->output);
}

static char wrapped_bytes[15][10000];

/* A block wrapping caller memory: never spillable. */
static int wrap_caller_memory(cask_task_io *io) {
  const int *i = io->args;
  int64_t n = 10000;
  return cask_block_wrap(wrapped_bytes[*i], CASK_U8, 1, &n, NULL, NULL, &io->output);
}

static int count_inputs(cask_task_io *io) {
  int rc = cask_block_new(CASK_I64, 0, NULL, &io->output);
  if (!rc) *(int64_t *)cask_block_data(io->output) = (int64_t)io->ninputs;
  return rc;
}

static const cask_op *op_named(const char *name, int (*run)(cask_task_io *)) {
  const cask_op *op = cask_op_find(name);
  if (!op) ck_assert_int_eq(cask_op_register(&(cask_op){.name = name, .run = run}, &op), CASK_OK);
  return op;
}

START_TEST(regress_failed_task_under_limit_hangs_next_run) {
  char *dir = make_dir();
  cask_runtime *rt = runtime(2, 64 << 10, dir);
  cask_graph *a, *b;
  ck_assert_int_eq(cask_graph_new(&a), CASK_OK);
  const cask_op *fail = op_named("memtest.fail_on_worker_one", fail_on_worker_one);
  char key[32];
  for (int i = 0; i < 100; i++) {
    snprintf(key, sizeof key, "a-%d", i);
    ck_assert_int_eq(cask_graph_add(a, key, fail, NULL, 0, NULL, 0, NULL), CASK_OK);
  }
  /* Worker 1 may never get a task on a loaded machine: then the run
   * passes, and the hang had no chance; run A again until it fails. */
  int failed = 0;
  for (int tries = 0; tries < 20 && !failed; tries++) {
    cask_results *res = NULL;
    int rc = cask_run(rt, a, NULL, &res);
    failed = rc == CASK_ETASK;
    cask_results_free(res);
  }
  ck_assert_msg(failed, "run A never failed on worker 1");

  ck_assert_int_eq(cask_graph_new(&b), CASK_OK);
  const cask_op *wrap = op_named("memtest.wrap_caller_memory", wrap_caller_memory);
  cask_task_id roots[15], sink;
  for (int i = 0; i < 15; i++) {
    snprintf(key, sizeof key, "b-%d", i);
    ck_assert_int_eq(cask_graph_add(b, key, wrap, &i, sizeof i, NULL, 0, &roots[i]), CASK_OK);
  }
  ck_assert_int_eq(cask_graph_add(b, "sink", op_named("memtest.count_inputs", count_inputs), NULL, 0,
                                  roots, 15, &sink), CASK_OK);
  cask_graph_set_output(b, sink, 1);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, b, NULL, &res), CASK_OK); /* hung here (test timeout) */
  ck_assert_int_eq(*(int64_t *)cask_block_data(cask_results_get(res, sink)), 15);
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(a);
  cask_graph_free(b);
  rmdir(dir);
  free(dir);
}
END_TEST

/* Fails when its salt says so (about one task in twenty), else mixes. */
static int mix_or_fail(cask_task_io *io) {
  const margs *a = io->args;
  if (a->salt % 20 == 0) return CASK_ETASK;
  return mix_run(io);
}

/* The stress that found the bug: random DAGs, some with failing tasks, run
 * back to back on one runtime under a small limit; every run ends, the
 * good ones match their reference, the failing ones fail, and nothing is
 * left in the spill directory. */
START_TEST(random_failing_dags_back_to_back_under_a_limit) {
  char *dir = make_dir();
  const cask_op *fop = op_named("memtest.mix_or_fail", mix_or_fail);
  cask_runtime *rt = runtime(1 + _i % 4, 48 << 10, dir);
  int rounds = SANITIZED ? 12 : 40, failures = 0;
  for (int k = 0; k < rounds; k++) {
    uint64_t seed = 1000 * (uint64_t)_i + (uint64_t)k;
    cask_graph *g = random_dag_of(k % 2 ? fop : mix_op(), seed, 60, 2000);
    /* Without a limit, on one thread, every task runs unless one fails. */
    cask_runtime *one = runtime(1, CASK_MEMORY_UNLIMITED, NULL);
    cask_results *ref = NULL, *res = NULL;
    int want = cask_run(one, g, NULL, &ref);
    cask_runtime_free(one);
    int rc = cask_run(rt, g, NULL, &res);
    require(rc == want, "round %d: %d, want %d: %s", k, rc, want, cask_runtime_errmsg(rt));
    if (rc == CASK_OK) {
      for (cask_task_id t = 0; t < cask_graph_size(g); t++) {
        cask_block *x = cask_results_get(ref, t), *y = cask_results_get(res, t);
        require((x == NULL) == (y == NULL), "round %d: output %u", k, t);
        require(!x || !memcmp(cask_block_data(x), cask_block_data(y), cask_block_nbytes(x)),
                "round %d: output %u differs", k, t);
      }
    }
    failures += rc != CASK_OK;
    cask_results_free(res);
    cask_results_free(ref);
    require(count_files(dir) == 0, "round %d: spill files left", k);
    cask_graph_free(g);
  }
  require(failures > 0 && failures < rounds, "%d of %d rounds failed", failures, rounds);
  cask_runtime_free(rt);
  rmdir(dir);
  free(dir);
}
END_TEST

/* ---- dropping blocks of pure root tasks instead of spilling them -------- */

static const cask_op *pure_op(void) {
  const cask_op *op = cask_op_find("memtest.mix_pure");
  if (!op)
    ck_assert_int_eq(cask_op_register(&(cask_op){.name = "memtest.mix_pure", .run = mix_run, .flags = CASK_OP_PURE}, &op),
                     CASK_OK);
  return op;
}

static cask_runtime *runtime_drop(int threads, uint64_t limit, const char *dir, cask_drop_policy drop) {
  cask_runtime *rt;
  cask_runtime_options o = {.threads = threads, .memory_limit = limit, .spill_dir = dir, .drop = drop};
  ck_assert_int_eq(cask_runtime_new(&o, &rt), CASK_OK);
  return rt;
}

/* Blocks of pure roots are dropped and made again, not written: the same
 * bits, no spill file for them; with dropping off they spill instead. */
START_TEST(pure_root_blocks_are_dropped_and_made_again_with_the_same_bits) {
  char *dir = make_dir();
  cask_graph *g = two_pass_of(pure_op(), 16, 16384, 0);
  cask_results *ref = reference(g);
  static const cask_drop_policy policies[] = {CASK_DROP_ALWAYS, CASK_DROP_NEVER, CASK_DROP_COST};
  for (int p = 0; p < 3; p++) {
    cask_runtime *rt = runtime_drop(1 + _i, 640 << 10, dir, policies[p]);
    cask_run_stats st = run_and_compare(rt, g, ref, "pure roots");
    if (policies[p] == CASK_DROP_ALWAYS) {
      require(st.dropped_blocks > 0 && st.remade_blocks > 0, "always: %llu dropped, %llu made again",
              (unsigned long long)st.dropped_blocks, (unsigned long long)st.remade_blocks);
      require(st.remade_bytes == st.remade_blocks * 16384 * 8, "made again: %llu bytes",
              (unsigned long long)st.remade_bytes);
    }
    if (policies[p] == CASK_DROP_NEVER)
      require(st.dropped_blocks == 0 && st.spilled_blocks > 0, "never: %llu dropped, %llu spilled",
              (unsigned long long)st.dropped_blocks, (unsigned long long)st.spilled_blocks);
    /* By cost: the first block leaving memory is written (the spill rate
     * is measured, not assumed; with assumed rates this op's blocks were
     * all dropped, none written). What follows depends on the op's speed
     * against the disk's: uninstrumented it is dropped, under TSan (the
     * op several times slower) all 16 were spilled, both right. */
    if (policies[p] == CASK_DROP_COST)
      require(st.spilled_blocks >= 1, "cost: %llu spilled, %llu dropped", (unsigned long long)st.spilled_blocks,
              (unsigned long long)st.dropped_blocks);
    require(st.peak_bytes <= (640 << 10) + 2 * 16384 * 8, "peak %llu", (unsigned long long)st.peak_bytes);
    require(count_files(dir) == 0, "spill files left");
    cask_runtime_free(rt);
  }
  cask_results_free(ref);
  cask_graph_free(g);
  rmdir(dir);
  free(dir);
}
END_TEST

/* A block of a pure op over pure roots (x * 2 of a .npy block) is dropped
 * too, and made again with its input; over an impure input, or by an
 * impure op, it is spilled. */
START_TEST(pure_blocks_of_pure_roots_are_dropped_and_made_again_with_their_inputs) {
  char *dir = make_dir();
  static const struct {
    int root_pure, mid_pure;
  } cases[] = {{1, 1}, {0, 1}, {1, 0}};
  for (int c = 0; c < 3; c++) {
    const cask_op *root = cases[c].root_pure ? pure_op() : mix_op(), *mid = cases[c].mid_pure ? pure_op() : mix_op();
    cask_graph *g = two_pass_mid(root, mid, 16, 16384, 0);
    cask_results *ref = reference(g);
    cask_runtime *rt = runtime_drop(1 + _i, 640 << 10, dir, CASK_DROP_ALWAYS);
    cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
    o.on_spill = count_mid_spills;
    atomic_store(&mid_spills, 0);
    cask_run_stats st = run_and_compare_with(rt, g, &o, ref, "pure over pure roots");
    /* Most m_i leave memory once: dropped (case 0) or spilled. A finished
     * d_i waiting for the chain may spill too (how many depends on how far
     * the threads ran ahead: under ASan on a loaded machine 10 of 16), and
     * in case 2 a pure root whose m_i has not run yet may be dropped; but
     * an m_i of case 0 is never written. */
    uint64_t dropped = st.dropped_blocks, spilled = st.spilled_blocks;
    int mids = atomic_load(&mid_spills);
    int ok = c == 0 ? dropped >= 12 && st.remade_blocks >= 12 && mids == 0
                    : spilled >= 12 && (c == 2 || dropped == 0);
    require(ok, "case %d: %llu dropped, %llu made again, %llu spilled (%d of them m_i)", c,
            (unsigned long long)dropped, (unsigned long long)st.remade_blocks, (unsigned long long)spilled, mids);
    /* making a block again holds its input too: one more block's room */
    require(st.peak_bytes <= (640 << 10) + 3 * 16384 * 8, "case %d: peak %llu", c, (unsigned long long)st.peak_bytes);
    require(count_files(dir) == 0, "spill files left");
    cask_runtime_free(rt);
    cask_results_free(ref);
    cask_graph_free(g);
  }
  rmdir(dir);
  free(dir);
}
END_TEST

/* An op that says it is pure but makes other bits the second time: the
 * run fails naming the task, never computes with the wrong block. */
static atomic_int liar_calls;

static int liar_run(cask_task_io *io) {
  int rc = mix_run(io);
  if (!rc && atomic_fetch_add(&liar_calls, 1) >= 16) ((uint64_t *)cask_block_data(io->output))[0] ^= 1;
  return rc;
}

START_TEST(a_pure_op_that_changes_its_bits_fails_the_run) {
  char *dir = make_dir();
  const cask_op *liar = cask_op_find("memtest.liar");
  if (!liar) ck_assert_int_eq(cask_op_register(&(cask_op){.name = "memtest.liar", .run = liar_run, .flags = CASK_OP_PURE}, &liar), CASK_OK);
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id r[16], acc = 0, fin = 0;
  char key[32];
  for (int i = 0; i < 16; i++) {
    snprintf(key, sizeof key, "r-%d", i);
    r[i] = add_op(g, liar, key, 16384, NULL, 0);
    snprintf(key, sizeof key, "a-%d", i);
    acc = add(g, key, 1, (cask_task_id[]){r[i], acc}, i ? 2 : 1);
  }
  for (int i = 0; i < 16; i++) {
    snprintf(key, sizeof key, "d-%d", i);
    fin = add(g, key, 1, (cask_task_id[]){r[i], acc, fin}, i ? 3 : 2);
  }
  cask_graph_set_output(g, fin, 1);
  atomic_store(&liar_calls, 0);
  cask_runtime *rt = runtime_drop(2, 640 << 10, dir, CASK_DROP_ALWAYS);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_EIO);
  const char *msg = cask_runtime_errmsg(rt);
  require(strstr(msg, "memtest.liar") && strstr(msg, "other bits"), "message: %s", msg);
  require(count_files(dir) == 0, "spill files left");
  cask_runtime_free(rt);
  cask_graph_free(g);
  rmdir(dir);
  free(dir);
}
END_TEST

START_TEST(the_drop_policy_comes_from_the_environment) {
  cask_runtime *rt;
  setenv("CASK_DROP", "sometimes", 1);
  ck_assert_int_eq(cask_runtime_new(&(cask_runtime_options){.threads = 1, .memory_limit = 1 << 20}, &rt), CASK_EINVAL);
  setenv("CASK_DROP", "Never", 1);
  ck_assert_int_eq(cask_runtime_new(&(cask_runtime_options){.threads = 1, .memory_limit = 1 << 20}, &rt), CASK_OK);
  cask_runtime_free(rt);
  unsetenv("CASK_DROP");
  ck_assert_int_eq(cask_runtime_new(&(cask_runtime_options){.threads = 1, .drop = (cask_drop_policy)9}, &rt),
                   CASK_EINVAL);
}
END_TEST

Suite *memory_suite(void) {
  Suite *s = suite_create("memory");
  TCase *tc = tcase_create("memory");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, parse_limits);
  tcase_add_loop_test(tc, pure_blocks_of_pure_roots_are_dropped_and_made_again_with_their_inputs, 0, 2);
  tcase_add_test(tc, limit_from_environment);
  tcase_add_loop_test(tc, spilled_runs_are_bit_identical, 0, 2);
  tcase_add_test(tc, random_dags_under_a_limit);
  tcase_add_test(tc, inputs_larger_than_the_limit_fail);
  tcase_add_test(tc, a_failing_spill_write_stops_the_run_cleanly);
  tcase_add_test(tc, a_corrupt_spill_file_is_caught);
  tcase_add_test(tc, regress_truncated_spill_file_reported_as_io_error);
  tcase_add_test(tc, spilling_is_reported);
  tcase_add_test(tc, arrays_spill_and_match);
  tcase_add_test(tc, regress_failed_task_under_limit_hangs_next_run);
  tcase_add_loop_test(tc, pure_root_blocks_are_dropped_and_made_again_with_the_same_bits, 0, 2);
  tcase_add_test(tc, a_pure_op_that_changes_its_bits_fails_the_run);
  tcase_add_test(tc, the_drop_policy_comes_from_the_environment);
  tcase_add_loop_test(tc, random_failing_dags_back_to_back_under_a_limit, 0, 4);
  suite_add_tcase(s, tc);
  return s;
}
