/* memory.c - the memory benchmarks of issue 4: cask under a memory limit
 * beside dask's threaded scheduler (no limit, everything in memory) and
 * dask.distributed (a worker process with a limit, spilling LRU blocks).
 *   A. std(x - x.mean(axis=0)), x random: cask may recompute x (a
 *      generator's output) inside its fused kernels instead of spilling it;
 *   B. an elementwise expression reduced, over a Zarr store dask wrote;
 *   C. A's expression over that store: x's blocks come from the reads and
 *      are used twice, so what does not fit must be spilled.
 *
 * The one thing to know before editing: every measured computation runs in
 * a fresh child process (cask: this program with --memory-child; the
 * anchors: /usr/bin/python3), and its peak RSS is ru_maxrss from wait4,
 * measured from outside. For a process tree (dask.distributed's nanny and
 * worker) wait4 gives the largest single process, so that script also sums
 * the RSS of its whole tree, sampled every 50 ms. Walls are the compute
 * call alone (graph building included, process and cluster start not). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PYTHON "/usr/bin/python3"
#define SEED 42
#define LIMIT ((uint64_t)1 << 30)        /* cask's memory limit: 1 GiB */
#define DIST_LIMIT "2GB"                 /* dask.distributed's worker limit */
#define DIST_LIMIT_QUICK "600MB"         /* a worker process alone holds ~150 MB */
#define QUICK_DIV 10                     /* --quick: rows, chunk rows, limit / 10 */
#define TIMEOUT_S 1200                   /* a child still running then is a hang */
#define DATA_DIR "/var/tmp/cask-bench-data"
#define GIB 1073741824.0

/* ---- the Python side ------------------------------------------------------ */

/* argv: path rows cols chunk_rows seed. Makes the store once: under a lock,
 * into a temporary name renamed when complete (after a sync, so its
 * write-back does not land in a later measurement); a complete store is
 * reused. Prints "reused" or "written <seconds>". */
static const char store_script[] =
    "import sys, os, json, glob, shutil, fcntl, time\n"
    "path = sys.argv[1]\n"
    "rows, cols, crow, seed = (int(v) for v in sys.argv[2:6])\n"
    "def complete(p):\n"
    "    try:\n"
    "        with open(os.path.join(p, '.zarray')) as f:\n"
    "            m = json.load(f)\n"
    "    except (OSError, ValueError):\n"
    "        return False\n"
    "    c = m.get('compressor') or {}\n"
    "    if (m.get('shape'), m.get('chunks'), m.get('dtype'), c.get('id'), c.get('level')) != \\\n"
    "            ([rows, cols], [crow, cols], '<f8', 'zstd', 1):\n"
    "        return False\n"
    "    files = [os.path.join(p, '%d.0' % i) for i in range(-(-rows // crow))]\n"
    "    return all(os.path.isfile(f) and os.path.getsize(f) > 0 for f in files)\n"
    "os.makedirs(os.path.dirname(path), exist_ok=True)\n"
    "with open(path + '.lock', 'w') as lock:\n"
    "    fcntl.flock(lock, fcntl.LOCK_EX)\n"
    "    if complete(path):\n"
    "        print('reused')\n"
    "        sys.exit(0)\n"
    "    for old in glob.glob(path + '.tmp-*') + ([path] if os.path.exists(path) else []):\n"
    "        shutil.rmtree(old, ignore_errors=True)\n"
    "    import numcodecs, dask.array as da\n"
    "    tmp = '%s.tmp-%d' % (path, os.getpid())\n"
    "    t0 = time.perf_counter()\n"
    "    x = da.random.RandomState(seed).random_sample((rows, cols), chunks=(crow, cols))\n"
    "    x.to_zarr(tmp, compressor=numcodecs.Zstd(level=1))\n"
    "    os.sync()\n"
    "    os.rename(tmp, path)\n"
    "    print('written', time.perf_counter() - t0)\n";

/* argv: mode (threads|distributed) expr source (random|store) rows cols
 * chunk_rows threads worker_limit timeout_s. Prints "version <dask>" and
 * "result <value> <wall s> <tree peak bytes, -1 if not sampled>". A timeout
 * raises, so the cluster is still closed. */
static const char dask_script[] =
    "import sys, os, time, signal\n"
    "def main():\n"
    "    mode, expr, src = sys.argv[1:4]\n"
    "    rows, cols, crow, threads = (int(v) for v in sys.argv[4:8])\n"
    "    limit, timeout = sys.argv[8], int(sys.argv[9])\n"
    "    def expire(*a):\n"
    "        raise TimeoutError('no result after %d s' % timeout)\n"
    "    signal.signal(signal.SIGALRM, expire)\n"
    "    signal.alarm(timeout)\n"
    "    import dask, dask.array as da\n"
    "    print('version', dask.__version__, flush=True)\n"
    "    if src == 'random':\n"
    "        x = da.random.RandomState(42).random_sample((rows, cols), chunks=(crow, cols))\n"
    "    else:\n"
    "        x = da.from_zarr(src)\n"
    "        assert x.shape == (rows, cols), x.shape\n"
    "    y = eval(expr, {'x': x, 'std': da.std, 'sin': da.sin, 'cos': da.cos})\n"
    "    peak = -1\n"
    "    if mode == 'threads':\n"
    "        t0 = time.perf_counter()\n"
    "        v = y.compute(scheduler='threads', num_workers=threads)\n"
    "        t = time.perf_counter() - t0\n"
    "    else:\n"
    "        v, t, peak = distributed(y, threads, limit)\n"
    "    print('result', repr(float(v)), repr(t), peak, flush=True)\n"
    "def distributed(y, threads, limit):\n"
    "    import tempfile, shutil, threading, psutil\n"
    "    from distributed import Client, LocalCluster\n"
    "    tmp = tempfile.mkdtemp(prefix='cask-bench-dask-')\n"
    "    cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=True,\n"
    "                           memory_limit=limit, local_directory=tmp, dashboard_address=None)\n"
    "    client = Client(cluster)\n"
    "    me, state = psutil.Process(), {'peak': 0, 'stop': False}\n"
    "    def sample():\n"
    "        while not state['stop']:\n"
    "            s = 0\n"
    "            try:\n"
    "                procs = [me] + me.children(recursive=True)\n"
    "            except psutil.Error:\n"
    "                procs = [me]\n"
    "            for p in procs:\n"
    "                try:\n"
    "                    s += p.memory_info().rss\n"
    "                except psutil.Error:\n"
    "                    pass\n"
    "            state['peak'] = max(state['peak'], s)\n"
    "            time.sleep(0.05)\n"
    "    sampler = threading.Thread(target=sample, daemon=True)\n"
    "    sampler.start()\n"
    "    try:\n"
    "        t0 = time.perf_counter()\n"
    "        v = client.compute(y).result()\n"
    "        t = time.perf_counter() - t0\n"
    "    finally:\n"
    "        state['stop'] = True\n"
    "        sampler.join()\n"
    "        client.close()\n"
    "        cluster.close()\n"
    "        shutil.rmtree(tmp, ignore_errors=True)\n"
    "    return v, t, state['peak']\n"
    "if __name__ == '__main__':\n"
    "    main()\n";

/* ---- the cases -------------------------------------------------------------- */

enum { SYS_CASK, SYS_DASK, SYS_DIST, NSYS };
static const char *const sys_names[NSYS] = {"cask", "dask_threads", "dask_distributed"};

typedef struct mcase {
  const char *id, *expr;
  int zarr;               /* x comes from the Zarr store (else random) */
  int64_t rows, cols, crow; /* full size */
  int distributed;        /* dask.distributed runs too */
  double target_dask;     /* cask wall / dask threads wall at most (0: none) */
  double target_rss;      /* cask peak RSS / limit at most (0: none) */
  int spill_targets;      /* the spilled-bytes and spilled-blocks targets apply */
} mcase;

static const mcase cases[] = {
    {"A", "std(x - x.mean(axis=0))", 0, 100000, 10000, 2500, 1, 1.0, 1.25, 0},
    {"B", "(sin(x)**2 + cos(x)**2*2 - x).mean(axis=0).sum()", 1, 50000, 10000, 1000, 0, 0.5, 1.0,
     0},
    {"C", "std(x - x.mean(axis=0))", 1, 50000, 10000, 1000, 0, 0, 0, 1},
};

/* What one run gave; ok = 0: it failed or timed out (NaNs elsewhere). */
typedef struct mrun {
  int ok;
  double value, wall_s, rss, tree; /* bytes; tree: NaN unless sampled */
  double user_s, sys_s, minflt;    /* the child's CPU and page faults (wait4) */
  cask_run_stats st;               /* cask only */
  uint64_t distinct, multi, unused, x_sized; /* cask only: the spill log's counts */
  char version[32];
} mrun;

typedef struct msize {
  int64_t rows, cols, crow;
  uint64_t limit;
  const char *dist_limit;
  char store[512]; /* the Zarr store (zarr cases) */
} msize;

static double bytes_of(const msize *s) { return 8.0 * (double)s->rows * (double)s->cols; }

/* ---- children ------------------------------------------------------------- */

/* Every block write the spill thread reports, per task: how often it was
 * written, and whether a consumer started since its last write (a block
 * written again before any use was written for nothing). Callbacks come
 * from the workers and the spill thread at once: hence the atomics. */
typedef struct spill_log {
  size_t ntasks;
  _Atomic uint32_t *writes;
  atomic_uchar *used;
  atomic_uint_fast64_t twice_unused, x_sized;
  uint64_t x_block_bytes;
} spill_log;

static void on_start(void *user, const cask_graph *g, cask_task_id id, int worker) {
  (void)worker;
  spill_log *l = user;
  size_t n;
  const cask_task_id *deps = cask_graph_deps(g, id, &n);
  for (size_t i = 0; i < n; i++) atomic_store(&l->used[deps[i]], 1);
}

static void on_spill(void *user, const cask_graph *g, cask_task_id id, int loaded, uint64_t bytes,
                     uint64_t ns) {
  (void)g, (void)ns;
  spill_log *l = user;
  if (loaded) return;
  if (atomic_fetch_add(&l->writes[id], 1) > 0 && !atomic_exchange(&l->used[id], 0))
    atomic_fetch_add(&l->twice_unused, 1);
  atomic_store(&l->used[id], 0);
  if (bytes == l->x_block_bytes) atomic_fetch_add(&l->x_sized, 1);
}

/* Blocks written at least once, and more than once. */
static void spill_counts(const spill_log *l, uint64_t *distinct, uint64_t *multi) {
  *distinct = *multi = 0;
  for (size_t i = 0; i < l->ntasks; i++) {
    uint32_t w = atomic_load(&l->writes[i]);
    *distinct += w > 0;
    *multi += w > 1;
  }
}

/* Build y's graph and run it with the spill log; y's value into *v. */
static void compute_logged(cask_ctx *ctx, cask_array *y, spill_log *l, double *v) {
  cask_graph *g;
  char **keys;
  if (cask_arrays_graph(1, &y, &g, &keys)) bench_die("graph", cask_ctx_errmsg(ctx));
  size_t n = cask_graph_size(g);
  l->ntasks = n;
  l->writes = calloc(n, sizeof *l->writes);
  l->used = calloc(n, sizeof *l->used);
  if (!l->writes || !l->used) bench_die("malloc", "out of memory");
  cask_run_options ro = CASK_RUN_OPTIONS_DEFAULTS;
  ro.on_task_start = on_start;
  ro.on_spill = on_spill;
  ro.user = l;
  cask_results *res;
  cask_runtime *rt = cask_ctx_runtime(ctx);
  if (cask_run(rt, g, &ro, &res)) bench_die("cask_run", cask_runtime_errmsg(rt));
  cask_block *b = cask_results_get_key(res, keys[0]);
  if (!b || cask_block_dtype(b) != CASK_F64 || cask_block_size(b) != 1)
    bench_die("cask_run", "the result is not one float64");
  *v = *(const double *)cask_block_data(b);
  cask_results_free(res);
  cask_free(keys);
  cask_graph_free(g);
}

/* argv: --memory-child expr source rows cols chunk_rows threads limit.
 * Prints "result value wall_ns", the run's memory statistics and the spill
 * log's counts. The graph is built and run here (what cask_compute_scalar
 * does) so the spill callback can see every write. */
int bench_memory_child(int argc, char **argv) {
  if (argc != 9) bench_die("--memory-child", "expects: expr source rows cols chunk_rows threads limit");
  alarm(TIMEOUT_S); /* a hang ends as a killed child, which the parent reports */
  int64_t shape[2] = {strtoll(argv[4], NULL, 10), strtoll(argv[5], NULL, 10)};
  int64_t chunks[2] = {strtoll(argv[6], NULL, 10), shape[1]};
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = atoi(argv[7]);
  o.memory_limit = strtoull(argv[8], NULL, 10);
  cask_ctx *ctx;
  if (cask_ctx_new(&o, &ctx)) bench_die("cask_ctx_new", "failed");
  cask_array *x, *y;
  int rc = strcmp(argv[3], "random") == 0
               ? cask_random_uniform(ctx, SEED, CASK_F64, 2, shape, chunks, &x)
               : cask_read_zarr(ctx, argv[3], NULL, &x);
  if (rc) bench_die(argv[3], cask_ctx_errmsg(ctx));
  const int64_t *got = cask_array_shape(x), *gotc = cask_array_chunks(x);
  if (cask_array_ndim(x) != 2 || got[0] != shape[0] || got[1] != shape[1] || gotc[0] != chunks[0])
    bench_die(argv[3], "the store's shape or chunks are not the ones asked for");
  spill_log l = {.x_block_bytes = 8 * (uint64_t)chunks[0] * (uint64_t)chunks[1]};
  double v;
  uint64_t t0 = bench_now_ns();
  if (cask_eval(ctx, argv[2], (const char *const[]){"x"}, &x, 1, &y))
    bench_die(argv[2], cask_ctx_errmsg(ctx));
  compute_logged(ctx, y, &l, &v);
  uint64_t ns = bench_now_ns() - t0, distinct, multi;
  cask_run_stats st;
  cask_runtime_last_stats(cask_ctx_runtime(ctx), &st);
  spill_counts(&l, &distinct, &multi);
  printf("result %.17g %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
         " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
         v, ns, st.peak_bytes, st.memory_limit, st.spilled_bytes, st.spilled_blocks,
         st.loaded_bytes, st.loaded_blocks, st.spill_io_ns, st.held_back, st.tasks_run);
  printf("spills %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", distinct, multi,
         (uint64_t)atomic_load(&l.twice_unused), (uint64_t)atomic_load(&l.x_sized));
  free(l.writes);
  free(l.used);
  cask_array_release(y);
  cask_array_release(x);
  cask_ctx_free(ctx);
  return 0;
}

/* Run argv to its end; its stdout's lines go to on_line. Returns the exit
 * status (-1: killed or not run); r gets the child's peak RSS in bytes
 * (wait4's ru_maxrss: the largest of the child and its waited-for
 * descendants), CPU seconds and minor page faults (summed over them). */
static int run_child(char *const argv[], void (*on_line)(const char *, mrun *), mrun *r) {
  FILE *to, *from;
  pid_t pid = bench_spawn_pipes(argv, &to, &from);
  if (pid < 0) return -1;
  fclose(to); /* no input */
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, from) > 0) on_line(line, r);
  free(line);
  fclose(from);
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR) return -1;
  r->rss = (double)ru.ru_maxrss * 1024.0;
  r->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
  r->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
  r->minflt = (double)ru.ru_minflt;
  if (WIFSIGNALED(status))
    fprintf(stderr, "(%s was killed by signal %d)\n", argv[0], WTERMSIG(status));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cask_line(const char *line, mrun *r) {
  uint64_t ns;
  cask_run_stats *s = &r->st;
  if (sscanf(line, "spills %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &r->distinct, &r->multi,
             &r->unused, &r->x_sized) == 4)
    return;
  if (sscanf(line,
             "result %lf %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
             " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
             &r->value, &ns, &s->peak_bytes, &s->memory_limit, &s->spilled_bytes,
             &s->spilled_blocks, &s->loaded_bytes, &s->loaded_blocks, &s->spill_io_ns,
             &s->held_back, &s->tasks_run) == 11) {
    r->wall_s = (double)ns * 1e-9;
    r->ok = 1;
  }
}

static void dask_line(const char *line, mrun *r) {
  double tree;
  if (sscanf(line, "version %31s", r->version) == 1) return;
  if (sscanf(line, "result %lf %lf %lf", &r->value, &r->wall_s, &tree) == 3) {
    r->tree = tree < 0 ? NAN : tree;
    r->ok = 1;
  }
}

static void run_cask(const mcase *k, const msize *s, int threads, mrun *r) {
  char a[5][32];
  snprintf(a[0], 32, "%" PRId64, s->rows);
  snprintf(a[1], 32, "%" PRId64, s->cols);
  snprintf(a[2], 32, "%" PRId64, s->crow);
  snprintf(a[3], 32, "%d", threads);
  snprintf(a[4], 32, "%" PRIu64, s->limit);
  char *argv[] = {"/proc/self/exe", "--memory-child", (char *)k->expr,
                  k->zarr ? (char *)s->store : "random", a[0], a[1], a[2], a[3], a[4], NULL};
  if (run_child(argv, cask_line, r) != 0) r->ok = 0;
  snprintf(r->version, sizeof r->version, "%s", cask_version_string());
}

static void run_dask(const mcase *k, const msize *s, int threads, int distributed, mrun *r) {
  char a[5][32];
  snprintf(a[0], 32, "%" PRId64, s->rows);
  snprintf(a[1], 32, "%" PRId64, s->cols);
  snprintf(a[2], 32, "%" PRId64, s->crow);
  snprintf(a[3], 32, "%d", threads);
  snprintf(a[4], 32, "%d", TIMEOUT_S);
  char *argv[] = {PYTHON, "-c", (char *)dask_script, distributed ? "distributed" : "threads",
                  (char *)k->expr, k->zarr ? (char *)s->store : "random", a[0], a[1], a[2], a[3],
                  (char *)s->dist_limit, a[4], NULL};
  r->tree = NAN;
  if (run_child(argv, dask_line, r) != 0) r->ok = 0;
}

/* The Zarr store, written once by dask into $CASK_BENCH_DATA. */
static int ensure_store(msize *s) {
  const char *dir = getenv("CASK_BENCH_DATA");
  if (!dir || !*dir) dir = DATA_DIR;
  snprintf(s->store, sizeof s->store, "%s/x-%" PRId64 "x%" PRId64 "-c%" PRId64 "-zstd1-seed%d.zarr",
           dir, s->rows, s->cols, s->crow, SEED);
  char a[4][32], out[128];
  snprintf(a[0], 32, "%" PRId64, s->rows);
  snprintf(a[1], 32, "%" PRId64, s->cols);
  snprintf(a[2], 32, "%" PRId64, s->crow);
  snprintf(a[3], 32, "%d", SEED);
  char *argv[] = {PYTHON, "-c", (char *)store_script, s->store, a[0], a[1], a[2], a[3], NULL};
  fprintf(stderr, "Zarr store %s: ", s->store);
  fflush(stderr);
  if (bench_spawn_read(argv, out, sizeof out) != 0) {
    fprintf(stderr, "could not be written (the error is above); the Zarr cases are skipped\n");
    return -1;
  }
  double secs;
  if (sscanf(out, "written %lf", &secs) == 1) fprintf(stderr, "written by dask in %.1f s\n", secs);
  else fprintf(stderr, "reused\n");
  return 0;
}

/* ---- checks and report ---------------------------------------------------------- */

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

/* Whether cask's value is right. Where both sides read the same store the
 * results must agree within 1e-9; a random x comes from different
 * generators (cask's Philox, NumPy's Mersenne Twister), so cask's std is
 * held to the exact 1/sqrt(12) within a statistical bound: the relative
 * standard error of a std of n uniforms is about 0.45/sqrt(n), the bound
 * is 3/sqrt(n) (6.7 sigma). *what says which check it was. */
static int check(const mcase *k, const msize *s, const mrun *r, double *diff, const char **what) {
  *diff = NAN;
  if (!r[SYS_CASK].ok) {
    *what = "cask failed";
    return 0;
  }
  if (!k->zarr) {
    *diff = rel(r[SYS_CASK].value, 1 / sqrt(12.0));
    *what = "vs 1/sqrt(12), statistical";
    return *diff <= 3 / sqrt((double)s->rows * (double)s->cols);
  }
  *what = "vs dask, <= 1e-9";
  if (!r[SYS_DASK].ok) return 0;
  *diff = rel(r[SYS_CASK].value, r[SYS_DASK].value);
  return *diff <= 1e-9;
}

static const char *num(char *buf, const char *fmt, double v) {
  if (isnan(v)) return "-";
  snprintf(buf, 24, fmt, v);
  return buf;
}

static void table_row(const char *name, const mrun *r, int is_cask) {
  char b[7][24];
  const cask_run_stats *st = &r->st;
  if (!r->ok) {
    fprintf(stderr, "%-24s failed (its error is above)\n", name);
    return;
  }
  double nan = NAN;
  fprintf(stderr, "%-24s %7.2f %6.1f %6.1f %7.3f %7s %7s %7s %7s %6s %6s  %.15g\n", name,
          r->wall_s, r->user_s, r->sys_s, r->rss / GIB, num(b[0], "%.3f", r->tree / GIB),
          num(b[1], "%.3f", is_cask ? (double)st->peak_bytes / GIB : nan),
          num(b[2], "%.3f", is_cask ? (double)st->spilled_bytes / 1e9 : nan),
          num(b[3], "%.3f", is_cask ? (double)st->loaded_bytes / 1e9 : nan),
          num(b[4], "%.0f", is_cask ? (double)st->spilled_blocks : nan),
          num(b[5], "%.2f", is_cask ? (double)st->spill_io_ns * 1e-9 : nan), r->value);
}

static void json_run(const mcase *k, const msize *s, int threads, int sys, const mrun *r) {
  printf("{\"bench\":\"memory\",\"case\":\"%s\",\"expr\":\"%s\",\"source\":\"%s\","
         "\"shape\":[%" PRId64 ",%" PRId64 "],\"chunks\":[%" PRId64 ",%" PRId64 "],"
         "\"threads\":%d,\"system\":\"%s\",\"version\":\"%s\",\"ok\":%s",
         k->id, k->expr, k->zarr ? "zarr" : "random", s->rows, s->cols, s->crow, s->cols, threads,
         sys_names[sys], r->version, r->ok ? "true" : "false");
  if (sys == SYS_CASK) printf(",\"memory_limit\":%" PRIu64, s->limit);
  if (sys == SYS_DIST) printf(",\"worker_memory_limit\":\"%s\"", s->dist_limit);
  if (r->ok) {
    printf(",\"value\":%.17g,\"wall_s\":%.4f,\"user_s\":%.2f,\"sys_s\":%.2f,\"minor_faults\":%.0f,"
           "\"peak_rss_bytes\":%.0f",
           r->value, r->wall_s, r->user_s, r->sys_s, r->minflt, r->rss);
    bench_json_num("tree_peak_rss_bytes", "%.0f", r->tree);
  }
  if (r->ok && sys == SYS_CASK)
    printf(",\"peak_held_bytes\":%" PRIu64 ",\"spilled_bytes\":%" PRIu64
           ",\"spilled_blocks\":%" PRIu64 ",\"loaded_bytes\":%" PRIu64 ",\"loaded_blocks\":%" PRIu64
           ",\"spill_io_s\":%.4f,\"held_back\":%" PRIu64 ",\"tasks_run\":%" PRIu64,
           r->st.peak_bytes, r->st.spilled_bytes, r->st.spilled_blocks, r->st.loaded_bytes,
           r->st.loaded_blocks, (double)r->st.spill_io_ns * 1e-9, r->st.held_back,
           r->st.tasks_run);
  if (r->ok && sys == SYS_CASK)
    printf(",\"spilled_distinct_blocks\":%" PRIu64 ",\"spilled_x_sized_writes\":%" PRIu64
           ",\"blocks_written_more_than_once\":%" PRIu64 ",\"rewrites_before_use\":%" PRIu64,
           r->distinct, r->x_sized, r->multi, r->unused);
  printf("}\n");
}

static const char *pass(int ok) { return ok ? "pass" : "FAIL"; }

/* The targets for one case: a line each, and one JSON object. */
static void report_targets(const mcase *k, const msize *s, const mrun *r, int good, double diff,
                           const char *what) {
  const mrun *c = &r[SYS_CASK];
  double to_dask = c->wall_s / r[SYS_DASK].wall_s, to_dist = c->wall_s / r[SYS_DIST].wall_s;
  double rss = c->rss / (double)s->limit, nblocks = (double)((s->rows + s->crow - 1) / s->crow);
  double must_leave = bytes_of(s) - (double)s->limit;
  double spill_ratio = (double)c->st.spilled_bytes / must_leave;
  int ok_dask = c->ok && r[SYS_DASK].ok && to_dask <= k->target_dask;
  int ok_dist = c->ok && r[SYS_DIST].ok && to_dist <= 0.5;
  int ok_rss = c->ok && rss <= k->target_rss;
  int ok_spill = c->ok && spill_ratio <= 1.2, ok_blocks = c->ok && c->st.spilled_blocks <= nblocks;
  int ok_once = c->ok && c->unused == 0;
  double io_bytes = (double)(c->st.spilled_bytes + c->st.loaded_bytes);
  fprintf(stderr, "check: cask's result %s: relative difference %.3g, %s\n", what, diff,
          good ? "ok" : "FAIL");
  fprintf(stderr, "targets: cask/dask threads %.3f", to_dask);
  if (k->target_dask > 0) fprintf(stderr, " (<= %.2f: %s)", k->target_dask, pass(ok_dask));
  if (k->distributed) fprintf(stderr, "; cask/distributed %.3f (<= 0.5: %s)", to_dist, pass(ok_dist));
  if (k->target_rss > 0)
    fprintf(stderr, "; cask peak RSS %.3f GiB (<= %.2f GiB: %s)", c->rss / GIB,
            k->target_rss * (double)s->limit / GIB, pass(ok_rss));
  fprintf(stderr, "\n");
  if (k->spill_targets)
    fprintf(stderr,
            "spilling: %.3f GB written / %.3f GB that must leave memory (x %.3f GB - limit) = %.3f"
            " (<= 1.2: %s)\n"
            "  %" PRIu64 " block writes (%" PRIu64 " of x's block size) for %.0f x blocks (<= %.0f: %s);"
            " %" PRIu64 " distinct blocks, %" PRIu64 " written more than once,\n"
            "  %" PRIu64 " written again before any consumer used them (0: %s);"
            " spill I/O %.2f s for %.2f GB written and read back (%.2f GB/s);"
            " root tasks held back %" PRIu64 " times\n",
            (double)c->st.spilled_bytes / 1e9, must_leave / 1e9, bytes_of(s) / 1e9, spill_ratio,
            pass(ok_spill), c->st.spilled_blocks, c->x_sized, nblocks, nblocks, pass(ok_blocks),
            c->distinct, c->multi, c->unused, pass(ok_once), (double)c->st.spill_io_ns * 1e-9,
            io_bytes / 1e9, io_bytes / ((double)c->st.spill_io_ns + 1), c->st.held_back);
  if (!k->zarr && c->ok)
    fprintf(stderr, "cask %s x (a generator's output): spilled %" PRIu64 " B, read back %" PRIu64
                    " B\n",
            c->st.spilled_bytes ? "spilled" : "recomputed, inside its fused kernels, instead of spilling",
            c->st.spilled_bytes, c->st.loaded_bytes);
  printf("{\"bench\":\"memory_targets\",\"case\":\"%s\",\"check\":\"%s\",\"check_rel_diff\":", k->id,
         what);
  printf(isnan(diff) ? "null" : "%.3g", diff);
  printf(",\"check_pass\":%s", good ? "true" : "false");
  bench_json_num("ratio_dask_threads", "%.4f", to_dask);
  if (k->target_dask > 0)
    printf(",\"target_ratio_dask_threads\":%.2f,\"pass_dask_threads\":%s", k->target_dask,
           ok_dask && good ? "true" : "false");
  if (k->distributed) {
    bench_json_num("ratio_dask_distributed", "%.4f", to_dist);
    printf(",\"target_ratio_dask_distributed\":0.5,\"pass_dask_distributed\":%s",
           ok_dist && good ? "true" : "false");
  }
  if (k->target_rss > 0)
    printf(",\"rss_over_limit\":%.4f,\"target_rss_over_limit\":%.2f,\"pass_rss\":%s", rss,
           k->target_rss, ok_rss && good ? "true" : "false");
  if (k->spill_targets)
    printf(",\"must_leave_bytes\":%.0f,\"spill_ratio\":%.4f,\"target_spill_ratio\":1.2,"
           "\"pass_spill\":%s,\"x_blocks\":%.0f,\"pass_spilled_blocks_le_x_blocks\":%s,"
           "\"pass_no_rewrite_before_use\":%s",
           must_leave, spill_ratio, ok_spill && good ? "true" : "false", nblocks,
           ok_blocks && good ? "true" : "false", ok_once && good ? "true" : "false");
  if (!k->zarr) printf(",\"x_recomputed\":%s", c->ok && !c->st.spilled_bytes ? "true" : "false");
  printf("}\n");
}

/* Read every file of the store once, so that each system starts with the
 * store in the page cache (it fits in memory): otherwise whoever runs
 * first reads from disk (dask.distributed and case A's 8 GB push it out)
 * and the next one gets the cache it warmed. */
static void warm_store(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  static char buf[1 << 20];
  char path[1024];
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
  }
  closedir(d);
}

static void run_case(const mcase *k, msize *s, const bench_arrays_config *c) {
  static mrun r[NSYS];
  memset(r, 0, sizeof r);
  for (int i = 0; i < NSYS; i++) r[i].value = r[i].wall_s = r[i].rss = r[i].tree = NAN;
  fprintf(stderr, "\n%s: %s, x %s %" PRId64 "x%" PRId64 " float64 (%.2f GB), chunks %" PRId64
                  "x%" PRId64 "\n",
          k->id, k->expr, k->zarr ? "from the Zarr store" : "random uniform", s->rows, s->cols,
          bytes_of(s) / 1e9, s->crow, s->cols);
  fprintf(stderr, "%-24s %7s %6s %6s %7s %7s %7s %7s %7s %6s %6s  %s\n", "system", "wall s",
          "user s", "sys s", "RSS GiB", "tree", "held", "spill GB", "read GB", "blocks", "I/O s",
          "result");
  char name[3][48];
  snprintf(name[0], 48, "cask, limit %.3g GiB", (double)s->limit / GIB);
  snprintf(name[1], 48, "dask threads, no limit");
  snprintf(name[2], 48, "dask.distributed, %s", s->dist_limit);
  for (int i = 0; i < NSYS; i++) {
    if (i == SYS_DIST && !k->distributed) continue;
    if (k->zarr) warm_store(s->store);
    if (i == SYS_CASK) run_cask(k, s, c->threads, &r[i]);
    else run_dask(k, s, c->threads, i == SYS_DIST, &r[i]);
    table_row(name[i], &r[i], i == SYS_CASK);
    json_run(k, s, c->threads, i, &r[i]);
    fflush(stdout);
  }
  double diff;
  const char *what;
  int good = check(k, s, r, &diff, &what);
  report_targets(k, s, r, good, diff, what);
  fflush(stdout);
}

void bench_memory(const bench_arrays_config *c) {
  int div = c->quick ? QUICK_DIV : 1;
  fprintf(stderr,
          "\nMemory limit and spilling (%d threads%s). One run per figure, each in a fresh process;\n"
          "wall: the compute call; user, sys: the child's CPU seconds (process start included);\n"
          "RSS: the child's peak (wait4's ru_maxrss: for dask.distributed the largest process\n"
          "of its tree), tree: GiB summed over dask.distributed's processes, sampled every 50 ms;\n"
          "held (GiB), spill, read, blocks, I/O s: cask's run statistics\n",
          c->threads, c->quick ? ", --quick: rows, chunks and limits / 10" : "");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const mcase *k = &cases[i];
    msize s = {k->rows / div, k->cols, k->crow / div, LIMIT / (uint64_t)div,
               c->quick ? DIST_LIMIT_QUICK : DIST_LIMIT, ""};
    if (k->zarr && ensure_store(&s)) continue;
    run_case(k, &s, c);
  }
}
