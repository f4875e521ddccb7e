/* test_array_store.c - cask_store: buffers, .npy files and Zarr stores in
 * one graph and one run; outputs larger than the memory limit streamed to
 * their files; atomic writes under failure, cancel and a full disk.
 *
 * References are plain loops over the same values (or cask_compute of the
 * same array without a limit); files are read back with cask_read_npy and
 * cask_read_zarr, whose agreement with NumPy and zarr the npy and zarr
 * suites check. Every test works in a private temporary directory. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cask/cask.h"
#include "test-util.h"

static char dir[256];
static const cask_zarr_options raw = {CASK_ZARR_NONE, 0, 0, '.', 0, 2, {0}}; /* uncompressed */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  return remove(p);
}

static void setup(void) {
  snprintf(dir, sizeof dir, "%s/cask-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void teardown(void) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static const char *path_of(const char *name) {
  static char p[8][600];
  static int k;
  k = (k + 1) % 8;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

static cask_ctx *new_ctx(int threads, uint64_t limit) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = threads;
  o.memory_limit = limit;
  o.spill_dir = dir;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

/* Entries of the directory other than the names given (NULL-terminated). */
static int others_in_dir(const char *const *keep) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    int kept = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    for (int k = 0; keep[k] && !kept; k++) kept = !strcmp(e->d_name, keep[k]);
    n += !kept;
  }
  if (d) closedir(d);
  return n;
}

/* rows x cols float64 values v(i, j), written as a .npy by cask. */
static double v_of(int64_t i, int64_t j) { return (double)((i * 7919 + j * 104729) % 1000) / 7.0 - 50; }

static void write_input(cask_ctx *ctx, const char *path, int64_t rows, int64_t cols) {
  double *x = malloc((size_t)(rows * cols) * sizeof *x);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) x[i * cols + j] = v_of(i, j);
  cask_array *a;
  ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 2, (int64_t[]){rows, cols}, NULL, NULL, NULL, &a), CASK_OK);
  ck_assert_int_eq(cask_to_npy(a, path), CASK_OK);
  cask_array_release(a);
  free(x);
}

static double *read_back(cask_ctx *ctx, const char *path, int zarr, int64_t n) {
  cask_array *a;
  int rc = zarr ? cask_read_zarr(ctx, path, NULL, &a) : cask_read_npy(ctx, path, NULL, &a);
  ck_assert_msg(rc == CASK_OK, "%s: %s", path, cask_ctx_errmsg(ctx));
  ck_assert_int_eq(cask_array_size(a), n);
  double *buf = malloc((size_t)n * sizeof *buf);
  ck_assert_int_eq(cask_compute(a, buf, (size_t)n * sizeof *buf), CASK_OK);
  cask_array_release(a);
  return buf;
}

static cask_array *eval(cask_ctx *ctx, const char *expr, cask_array *x) {
  cask_array *out = NULL;
  const char *names[] = {"x"};
  int rc = cask_eval(ctx, expr, names, &x, 1, &out);
  ck_assert_msg(rc == CASK_OK, "%s: %s", expr, cask_ctx_errmsg(ctx));
  return out;
}

static atomic_int reads;

static void count_reads(void *user, const cask_graph *g, cask_task_id id, int worker) {
  (void)user, (void)worker;
  if (!strncmp(cask_graph_key(g, id), "npy-", 4)) atomic_fetch_add(&reads, 1);
}

START_TEST(one_run_fills_buffers_files_and_stores_reading_the_input_once) {
  cask_ctx *ctx = new_ctx(2, CASK_MEMORY_UNLIMITED);
  int64_t rows = 60, cols = 30;
  write_input(ctx, path_of("x.npy"), rows, cols);
  cask_array *x, *y, *m;
  ck_assert_int_eq(cask_read_npy(ctx, path_of("x.npy"), (int64_t[]){7, 30}, &x), CASK_OK); /* 9 blocks */
  y = eval(ctx, "x * 2 + 1", x);
  m = eval(ctx, "mean(x * 2 + 1, axis=0)", x); /* shares y's blocks */
  double *ybuf = malloc((size_t)(rows * cols) * sizeof *ybuf), mbuf[30];
  cask_target t[] = {CASK_TO_BUFFER(y, ybuf, (size_t)(rows * cols) * sizeof *ybuf), CASK_TO_NPY(y, path_of("y.npy")),
                     CASK_TO_ZARR(m, path_of("m.zarr"), NULL), CASK_TO_BUFFER(m, mbuf, sizeof mbuf),
                     CASK_TO_NPY(y, path_of("y2.npy"))};
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.on_task_start = count_reads;
  atomic_store(&reads, 0);
  ck_assert_msg(cask_store(5, t, &o) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(atomic_load(&reads), 9); /* each block of x.npy read once */
  for (int64_t j = 0; j < cols; j++) {
    double s = 0;
    for (int64_t i = 0; i < rows; i++) {
      require(ybuf[i * cols + j] == v_of(i, j) * 2 + 1, "y[%lld, %lld]", (long long)i, (long long)j);
      s += v_of(i, j) * 2 + 1;
    }
    require(fabs(mbuf[j] - s / rows) < 1e-12 * (1 + fabs(s)), "m[%lld] = %g, want %g", (long long)j, mbuf[j], s / rows);
  }
  double *yf = read_back(ctx, path_of("y.npy"), 0, rows * cols), *y2 = read_back(ctx, path_of("y2.npy"), 0, rows * cols);
  double *mf = read_back(ctx, path_of("m.zarr"), 1, cols);
  ck_assert(!memcmp(yf, ybuf, (size_t)(rows * cols) * sizeof *yf) && !memcmp(y2, ybuf, (size_t)(rows * cols) * 8));
  ck_assert(!memcmp(mf, mbuf, sizeof mbuf));
  ck_assert_int_eq(others_in_dir((const char *[]){"x.npy", "y.npy", "y2.npy", "m.zarr", NULL}), 0);
  free(yf), free(y2), free(mf), free(ybuf);
  cask_array_release(m), cask_array_release(y), cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* Outputs ten times the memory limit: written block by block, the held
 * bytes stay within the limit, the files hold the unlimited run's values. */
START_TEST(outputs_ten_times_the_limit_stream_to_their_files) {
  int64_t rows = 1200, cols = 1000; /* 9.6 MB of float64 */
  uint64_t limit = 960000;
  cask_ctx *free_ctx = new_ctx(2, CASK_MEMORY_UNLIMITED), *ctx = new_ctx(2, limit);
  write_input(free_ctx, path_of("x.npy"), rows, cols);
  static const char *const exprs[] = {"x * 3 - 1", "(x - mean(x, axis=0)) * 2"};
  for (int e = 0; e < 2; e++) {
    cask_array *xf, *x, *want_a, *y;
    ck_assert_int_eq(cask_read_npy(free_ctx, path_of("x.npy"), (int64_t[]){40, 1000}, &xf), CASK_OK);
    ck_assert_int_eq(cask_read_npy(ctx, path_of("x.npy"), (int64_t[]){40, 1000}, &x), CASK_OK);
    want_a = eval(free_ctx, exprs[e], xf);
    y = eval(ctx, exprs[e], x);
    size_t nbytes = (size_t)(rows * cols) * sizeof(double);
    double *want = malloc(nbytes);
    ck_assert_int_eq(cask_compute(want_a, want, nbytes), CASK_OK);
    cask_target t[] = {CASK_TO_NPY(y, path_of("y.npy")),
                       CASK_TO_ZARR(y, path_of("y.zarr"), &raw)};
    ck_assert_msg(cask_store(2, t, NULL) == CASK_OK, "%s: %s", exprs[e], cask_ctx_errmsg(ctx));
    cask_run_stats st;
    cask_runtime_last_stats(cask_ctx_runtime(ctx), &st);
    /* streaming holds no more than the limit; the two-pass shape holds x's
     * blocks and, while spilling, each worker may make one block more */
    uint64_t bound = limit + (e ? 2 * 320000 : 0);
    require(st.peak_bytes <= bound, "%s: peak %llu bytes held, bound %llu", exprs[e],
            (unsigned long long)st.peak_bytes, (unsigned long long)bound);
    double *a = read_back(free_ctx, path_of("y.npy"), 0, rows * cols), *b = read_back(free_ctx, path_of("y.zarr"), 1, rows * cols);
    require(!memcmp(a, want, nbytes) && !memcmp(b, want, nbytes), "%s: the files differ from the unlimited run",
            exprs[e]);
    free(a), free(b), free(want);
    cask_array_release(y), cask_array_release(want_a), cask_array_release(x), cask_array_release(xf);
  }
  cask_ctx_free(ctx);
  cask_ctx_free(free_ctx);
}
END_TEST

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *b = malloc(*n + 1);
  ck_assert_uint_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

/* A full disk (the file-size limit stands in for it) while outputs are
 * written: the run fails naming the file, the files already at the paths
 * are untouched, and no temporary is left. */
START_TEST(a_full_disk_while_writing_leaves_the_old_outputs_and_no_temporary) {
  cask_ctx *ctx = new_ctx(2, CASK_MEMORY_UNLIMITED);
  cask_array *small, *big;
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 10, 1, 0, &small), CASK_OK);
  ck_assert_int_eq(cask_to_npy(small, path_of("out.npy")), CASK_OK);
  ck_assert_int_eq(cask_to_zarr(small, path_of("out.zarr"), NULL), CASK_OK);
  size_t n0, z0;
  unsigned char *npy0 = slurp(path_of("out.npy"), &n0), *zarr0 = slurp(path_of("out.zarr/.zarray"), &z0);
  ck_assert_int_eq(cask_random_uniform(ctx, 3, CASK_F64, 2, (int64_t[]){400, 500}, (int64_t[]){100, 500}, &big),
                   CASK_OK); /* 1.6 MB */
  struct rlimit old, tiny;
  getrlimit(RLIMIT_FSIZE, &old);
  tiny = (struct rlimit){200000, old.rlim_max};
  signal(SIGXFSZ, SIG_IGN);
  for (int k = 0; k < 2; k++) {
    cask_target t = k ? CASK_TO_ZARR(big, path_of("out.zarr"), &raw)
                      : CASK_TO_NPY(big, path_of("out.npy"));
    /* a store's chunks are 400 kB each, past the limit too */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &tiny), 0);
    int rc = cask_store(1, &t, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    ck_assert_int_eq(rc, CASK_EIO);
    const char *msg = cask_ctx_errmsg(ctx);
    ck_assert_msg(strstr(msg, k ? "out.zarr" : "out.npy") && strstr(msg, "large"), "%s", msg);
  }
  size_t n1, z1;
  unsigned char *npy1 = slurp(path_of("out.npy"), &n1), *zarr1 = slurp(path_of("out.zarr/.zarray"), &z1);
  ck_assert(n1 == n0 && !memcmp(npy0, npy1, n0) && z1 == z0 && !memcmp(zarr0, zarr1, z0));
  ck_assert_int_eq(others_in_dir((const char *[]){"out.npy", "out.zarr", NULL}), 0);
  free(npy0), free(npy1), free(zarr0), free(zarr1);
  cask_array_release(big), cask_array_release(small);
  cask_ctx_free(ctx);
}
END_TEST

typedef struct canceler {
  cask_runtime *rt;
  atomic_int finished;
} canceler;

static void cancel_after_three(void *user, const cask_graph *g, cask_task_id id, int worker, int status) {
  (void)g, (void)id, (void)worker, (void)status;
  canceler *c = user;
  if (atomic_fetch_add(&c->finished, 1) == 2) cask_runtime_cancel(c->rt);
}

/* A cancel in the middle of the run: CASK_ECANCELED, nothing at the paths,
 * no temporary; the context works afterwards. */
START_TEST(a_cancel_leaves_nothing_and_the_context_works_after) {
  cask_ctx *ctx = new_ctx(2, CASK_MEMORY_UNLIMITED);
  cask_array *x, *y;
  ck_assert_int_eq(cask_random_uniform(ctx, 9, CASK_F64, 2, (int64_t[]){2000, 100}, (int64_t[]){50, 100}, &x),
                   CASK_OK);
  y = eval(ctx, "sin(x) ** 2 + cos(x) ** 3", x);
  canceler c = {cask_ctx_runtime(ctx), 0};
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.on_task_finish = cancel_after_three;
  o.user = &c;
  cask_target t[] = {CASK_TO_NPY(y, path_of("y.npy")), CASK_TO_ZARR(y, path_of("y.zarr"), NULL)};
  ck_assert_int_eq(cask_store(2, t, &o), CASK_ECANCELED);
  ck_assert_int_eq(others_in_dir((const char *[]){NULL}), 0);
  ck_assert_msg(cask_store(2, t, NULL) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(others_in_dir((const char *[]){"y.npy", "y.zarr", NULL}), 0);
  cask_array_release(y), cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(bad_targets_are_refused_before_anything_is_written) {
  cask_ctx *ctx = new_ctx(1, CASK_MEMORY_UNLIMITED), *other = new_ctx(1, CASK_MEMORY_UNLIMITED);
  cask_array *a, *b;
  ck_assert_int_eq(cask_ones(ctx, CASK_F64, 1, (int64_t[]){10}, NULL, &a), CASK_OK);
  ck_assert_int_eq(cask_ones(other, CASK_F64, 1, (int64_t[]){10}, NULL, &b), CASK_OK);
  double buf[10];
  ck_assert_int_eq(cask_store(0, NULL, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_store(2, (cask_target[]){CASK_TO_BUFFER(a, buf, sizeof buf), CASK_TO_NPY(b, path_of("b.npy"))},
                              NULL),
                   CASK_EINVAL); /* two contexts */
  ck_assert_int_eq(cask_store(1, (cask_target[]){CASK_TO_BUFFER(NULL, buf, sizeof buf)}, NULL), CASK_EINVAL);
  /* a wrong buffer size after a good file target: nothing is written */
  ck_assert_int_eq(cask_store(2, (cask_target[]){CASK_TO_NPY(a, path_of("a.npy")), CASK_TO_BUFFER(a, buf, 79)}, NULL),
                   CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "needs 80 bytes, the buffer has 79"), "%s", cask_ctx_errmsg(ctx));
  /* a directory that is not a store is never replaced */
  ck_assert_int_eq(mkdir(path_of("mine"), 0755), 0);
  FILE *f = fopen(path_of("mine/notes.txt"), "w");
  fclose(f);
  ck_assert_int_eq(cask_store(1, (cask_target[]){CASK_TO_ZARR(a, path_of("mine"), NULL)}, NULL), CASK_EIO);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "not a Zarr store"), "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(access(path_of("mine/notes.txt"), F_OK), 0);
  ck_assert_int_eq(others_in_dir((const char *[]){"mine", NULL}), 0);
  /* an empty directory is filled */
  ck_assert_int_eq(mkdir(path_of("empty.zarr"), 0755), 0);
  ck_assert_int_eq(cask_to_zarr(a, path_of("empty.zarr"), NULL), CASK_OK);
  ck_assert_int_eq(access(path_of("empty.zarr/.zarray"), F_OK), 0);
  cask_array_release(a), cask_array_release(b);
  cask_ctx_free(ctx), cask_ctx_free(other);
}
END_TEST

/* Arrays over memory count by their bytes (cask_from_buffer's tokens, so
 * MPI ranks agree on them): two buffers of the same bytes are one
 * computation, and like the same expression built twice they go to two
 * buffers in one run; a buffer one element away from another (any of 37
 * elements, across the hash's lanes and its tail) is another array, each
 * to its own target in the same run. */
START_TEST(arrays_over_memory_are_told_apart_by_their_bytes) {
  enum { N = 37 };
  cask_ctx *ctx = new_ctx(2, CASK_MEMORY_UNLIMITED);
  static double mem[N + 1][N], o1[N], o2[N], sums[N + 1];
  for (int p = 0; p <= N; p++)
    for (int i = 0; i < N; i++) mem[p][i] = i == p ? -1.0 : (double)i; /* mem[N]: the original */
  cask_array *a, *b, *x, *y, *x2, *v[N + 1], *sv[N + 1];
  ck_assert_int_eq(cask_from_buffer(ctx, mem[N], CASK_F64, 1, (int64_t[]){N}, (int64_t[]){8}, NULL, NULL, &a), CASK_OK);
  double *copy = malloc(sizeof mem[N]);
  memcpy(copy, mem[N], sizeof mem[N]);
  ck_assert_int_eq(cask_from_buffer(ctx, copy, CASK_F64, 1, (int64_t[]){N}, (int64_t[]){8}, NULL, NULL, &b), CASK_OK);
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, a, 1.0, 0, &x), CASK_OK);
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, a, 1.0, 0, &x2), CASK_OK); /* the same expression again */
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, b, 1.0, 0, &y), CASK_OK);
  for (int k = 0; k < 2; k++) {
    cask_array *second = k ? y : x2;
    for (int i = 0; i < N; i++) o1[i] = o2[i] = -7;
    int rc = cask_store(2, (cask_target[]){CASK_TO_BUFFER(x, o1, sizeof o1), CASK_TO_BUFFER(second, o2, sizeof o2)}, NULL);
    ck_assert_msg(rc == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    for (int i = 0; i < N; i++) ck_assert_msg(o1[i] == i + 1 && o2[i] == i + 1, "case %d: element %d: %g %g", k, i, o1[i], o2[i]);
  }
  cask_target t[N + 1];
  for (int p = 0; p <= N; p++) {
    ck_assert_int_eq(cask_from_buffer(ctx, mem[p], CASK_F64, 1, (int64_t[]){N}, (int64_t[]){8}, NULL, NULL, &v[p]), CASK_OK);
    ck_assert_int_eq(cask_reduce(CASK_SUM, v[p], NULL, 0, 0, &sv[p]), CASK_OK);
    t[p] = CASK_TO_BUFFER(sv[p], &sums[p], sizeof sums[p]);
  }
  ck_assert_msg(cask_store(N + 1, t, NULL) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  for (int p = 0; p <= N; p++) /* the sum of 0..N-1, element p (if any) made -1 */
    ck_assert_msg(sums[p] == N * (N - 1) / 2 - (p < N ? p + 1 : 0), "buffer %d: sum %g", p, sums[p]);
  for (int p = 0; p <= N; p++) cask_array_release(v[p]), cask_array_release(sv[p]);
  cask_array_release(a), cask_array_release(b), cask_array_release(x), cask_array_release(x2), cask_array_release(y);
  free(copy);
  cask_ctx_free(ctx);
}
END_TEST

/* Under the limit the blocks of x.npy are dropped and read again from the
 * file rather than spilled, with the same bits as an unlimited run; with
 * dropping off they are spilled instead. */
START_TEST(npy_blocks_are_dropped_and_read_again_instead_of_spilled) {
  int64_t rows = 1200, cols = 1000;
  cask_ctx *free_ctx = new_ctx(2, CASK_MEMORY_UNLIMITED);
  write_input(free_ctx, path_of("x.npy"), rows, cols);
  size_t nbytes = (size_t)(rows * cols) * sizeof(double);
  double *want = malloc(nbytes), *got = malloc(nbytes);
  cask_array *xf, *yf;
  ck_assert_int_eq(cask_read_npy(free_ctx, path_of("x.npy"), (int64_t[]){40, 1000}, &xf), CASK_OK);
  yf = eval(free_ctx, "(x - mean(x, axis=0)) / std(x, axis=0)", xf);
  ck_assert_int_eq(cask_compute(yf, want, nbytes), CASK_OK);
  static const char *const policy[] = {"always", "never"};
  for (int p = 0; p < 2; p++) {
    setenv("CASK_DROP", policy[p], 1);
    cask_ctx *ctx = new_ctx(2, 960000);
    unsetenv("CASK_DROP");
    cask_array *x, *y;
    ck_assert_int_eq(cask_read_npy(ctx, path_of("x.npy"), (int64_t[]){40, 1000}, &x), CASK_OK);
    y = eval(ctx, "(x - mean(x, axis=0)) / std(x, axis=0)", x);
    ck_assert_msg(cask_compute(y, got, nbytes) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    require(!memcmp(got, want, nbytes), "%s: other values than the unlimited run", policy[p]);
    cask_run_stats st;
    cask_runtime_last_stats(cask_ctx_runtime(ctx), &st);
    if (p == 0)
      require(st.dropped_blocks > 0 && st.remade_blocks > 0, "nothing dropped: %llu spilled",
              (unsigned long long)st.spilled_blocks);
    else
      require(st.dropped_blocks == 0 && st.spilled_blocks > 0, "never: %llu dropped", (unsigned long long)st.dropped_blocks);
    cask_array_release(y), cask_array_release(x);
    cask_ctx_free(ctx);
  }
  free(want), free(got);
  cask_array_release(yf), cask_array_release(xf);
  cask_ctx_free(free_ctx);
}
END_TEST

Suite *array_store_suite(void) {
  Suite *s = suite_create("array_store");
  TCase *tc = tcase_create("store");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, one_run_fills_buffers_files_and_stores_reading_the_input_once);
  tcase_add_test(tc, outputs_ten_times_the_limit_stream_to_their_files);
  tcase_add_test(tc, npy_blocks_are_dropped_and_read_again_instead_of_spilled);
  tcase_add_test(tc, a_full_disk_while_writing_leaves_the_old_outputs_and_no_temporary);
  tcase_add_test(tc, a_cancel_leaves_nothing_and_the_context_works_after);
  tcase_add_test(tc, bad_targets_are_refused_before_anything_is_written);
  tcase_add_test(tc, arrays_over_memory_are_told_apart_by_their_bytes);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return s;
}
