/* linalg.c - cask_matmul of two float64 N x N matrices (N = 4000) in
 * blocks of 1000 and 2000, beside NumPy's np.dot (one OpenBLAS call using
 * the same number of threads) and dask.array's blocked matmul (threaded
 * scheduler, the same chunks, OpenBLAS single-threaded per block as in
 * cask). Each anchor is a /usr/bin/python3 child, run as in anchors.c
 * (commands on stdin, one line of results per command).
 *
 * The one thing to know before editing: the inputs are the same bits on
 * both sides (a = (f % 1009) / 1009 - 1/2, b = (7f % 1013) / 1013 - 1/2
 * over the flat index f: one IEEE division and one subtraction each), the
 * systems take turns repetition by repetition, and every repetition is
 * checked: cask's result at sample elements (poisoned with NaN before it)
 * against long double dot products, the anchors' samples the same way and
 * their checksums against cask's; at the end cask's whole result against
 * a Freivalds projection, C v = A (B v). A failed check exits. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define LA_N 4000
#define LA_N_QUICK 600
#define LA_REPS 3 /* about 1.5 s per run and system at full size */
#define LA_NCHUNKS 2
#define LA_TARGET 1.15 /* cask within this factor of NumPy's time */
#define LA_SAMPLES BENCH_MAX_SAMPLES
#define PYTHON "/usr/bin/python3"

static const int64_t chunk_full[LA_NCHUNKS] = {1000, 2000};
static const int64_t chunk_quick[LA_NCHUNKS] = {150, 300};

/* argv: mode (numpy | dask) n threads idx...; commands "numpy", "dask
 * <chunk>"; answer: checksum nsamples samples... seconds. */
static const char script[] =
    "import sys, time\n"
    "try:\n"
    "    import numpy as np\n"
    "except Exception as e:\n"
    "    print('missing numpy', type(e).__name__, flush=True)\n"
    "    sys.exit(0)\n"
    "print('version numpy', np.__version__)\n"
    "mode, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
    "idx = [int(v) for v in sys.argv[4:]]\n"
    "if mode == 'dask':\n"
    "    try:\n"
    "        import dask, dask.array as da\n"
    "    except Exception as e:\n"
    "        print('missing dask', type(e).__name__, flush=True)\n"
    "        sys.exit(0)\n"
    "    print('version dask', dask.__version__)\n"
    "f = np.arange(n * n, dtype=np.int64)\n"
    "a = ((f % 1009).astype(np.float64) / 1009.0 - 0.5).reshape(n, n)\n"
    "b = ((f * 7 % 1013).astype(np.float64) / 1013.0 - 0.5).reshape(n, n)\n"
    "del f\n"
    "out = np.zeros((n, n))\n" /* touched before timing, as cask's output buffer */
    "def answer(r, t):\n"
    "    flat = r.reshape(-1)\n"
    "    print(repr(float(r.sum())), len(idx), *(repr(float(flat[i])) for i in idx), repr(t), flush=True)\n"
    "print('ready', flush=True)\n"
    "for line in sys.stdin:\n"
    "    w = line.split()\n"
    "    t0 = time.perf_counter()\n"
    "    if w[0] == 'numpy':\n"
    "        r = np.dot(a, b, out=out)\n"
    "    else:\n"
    "        c = int(w[1])\n"
    "        r = (da.from_array(a, chunks=c) @ da.from_array(b, chunks=c)).compute(\n"
    "            scheduler='threads', num_workers=threads)\n"
    "    answer(r, time.perf_counter() - t0)\n";

/* ---- inputs and checks ------------------------------------------------------ */

static double in_a(int64_t f) { return (double)(f % 1009) / 1009.0 - 0.5; }
static double in_b(int64_t f) { return (double)(f * 7 % 1013) / 1013.0 - 0.5; }

typedef struct problem {
  int64_t n;
  double *a, *b, *c; /* inputs, cask's result */
  size_t idx[LA_SAMPLES];
  double want[LA_SAMPLES], tol[LA_SAMPLES];
  double abs_sum; /* sum of |c|, for comparing checksums */
} problem;

/* n * n doubles on transparent huge pages (as NumPy's arrays are), touched
 * now so that no figure pays for first touches. */
static double *big_alloc(int64_t n) {
  size_t len = (size_t)(n * n) * sizeof(double);
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) bench_die("mmap", "out of memory");
  madvise(p, len, MADV_HUGEPAGE);
  memset(p, 0, len);
  return p;
}

/* Element f of a @ b in long double, and the error bound of a float64 dot
 * product of n terms in any order: n * eps * sum |a_k b_k|. */
static void reference(const problem *p, size_t f, double *want, double *tol) {
  int64_t i = (int64_t)f / p->n, j = (int64_t)f % p->n;
  long double s = 0, m = 0;
  for (int64_t k = 0; k < p->n; k++) {
    long double x = (long double)p->a[i * p->n + k] * p->b[k * p->n + j];
    s += x;
    m += fabsl(x);
  }
  *want = (double)s;
  *tol = (double)p->n * 2.220446049250313e-16 * (double)m;
}

static void problem_init(problem *p, int64_t n) {
  p->n = n;
  p->a = big_alloc(n);
  p->b = big_alloc(n);
  p->c = big_alloc(n);
  for (int64_t f = 0; f < n * n; f++) {
    p->a[f] = in_a(f);
    p->b[f] = in_b(f);
  }
  static const double at[LA_SAMPLES] = {0, 0.13, 0.25, 1.0 / 3, 0.5, 0.61, 0.999, 1};
  for (int k = 0; k < LA_SAMPLES; k++) {
    size_t f = (size_t)(at[k] * (double)(n * n));
    p->idx[k] = f < (size_t)(n * n) ? f : (size_t)(n * n) - 1;
    reference(p, p->idx[k], &p->want[k], &p->tol[k]);
  }
}

static void problem_destroy(problem *p) {
  size_t len = (size_t)(p->n * p->n) * sizeof(double);
  munmap(p->a, len);
  munmap(p->b, len);
  munmap(p->c, len);
}

static void check_value(const char *who, const problem *p, int k, double got) {
  if (fabs(got - p->want[k]) <= p->tol[k]) return;
  char msg[160];
  snprintf(msg, sizeof msg, "element %zu is %.17g, expected %.17g (within %.3g)", p->idx[k], got,
           p->want[k], p->tol[k]);
  bench_die(who, msg);
}

/* Every element of cask's result at once, with high probability: C v must
 * equal A (B v) for v of +-1 values, row by row within the rounding bound
 * of the three products. */
static void check_whole(const problem *p) {
  int64_t n = p->n;
  double *v = bench_xmalloc((size_t)n * sizeof *v), *u = bench_xmalloc((size_t)n * sizeof *u);
  uint64_t s = 88172645463325252ull;
  for (int64_t k = 0; k < n; k++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    v[k] = s & 1 ? 1.0 : -1.0;
  }
  for (int64_t k = 0; k < n; k++) { /* u = B v */
    long double t = 0;
    for (int64_t j = 0; j < n; j++) t += (long double)p->b[k * n + j] * v[j];
    u[k] = (double)t;
  }
  for (int64_t i = 0; i < n; i++) {
    long double av = 0, cv = 0, mag = 0;
    for (int64_t k = 0; k < n; k++) av += (long double)p->a[i * n + k] * u[k];
    for (int64_t j = 0; j < n; j++) {
      cv += (long double)p->c[i * n + j] * v[j];
      mag += fabsl((long double)p->c[i * n + j]);
    }
    /* |a| <= 1/2 and |b| <= 1/2: each c is off by at most n eps n / 4 */
    double tol = (double)n * (double)n * (double)n * 2.220446049250313e-16 / 4 + 1e-9 * (double)mag;
    if (!(fabsl(av - cv) <= tol)) {
      char msg[128];
      snprintf(msg, sizeof msg, "row %lld: C v = %.17Lg but A (B v) = %.17Lg", (long long)i, cv, av);
      bench_die("matmul", msg);
    }
  }
  free(v);
  free(u);
}

static double checksum(problem *p) {
  long double s = 0, m = 0;
  for (int64_t f = 0; f < p->n * p->n; f++) {
    s += p->c[f];
    m += fabsl((long double)p->c[f]);
  }
  p->abs_sum = (double)m;
  return (double)s;
}

/* ---- the anchors -------------------------------------------------------------- */

typedef struct anchor {
  pid_t pid;
  FILE *to, *from;
  char *line;
  size_t cap;
  char version[64], missing[64];
} anchor;

/* OPENBLAS_NUM_THREADS is read when the child loads OpenBLAS: NumPy gets
 * the bench's thread count, Dask 1 (its workers are the parallelism). */
static int anchor_start(anchor *x, const char *mode, int64_t n, int threads, int blas_threads,
                        const problem *p) {
  memset(x, 0, sizeof *x);
  char ns[24], ts[24], bt[24], ids[LA_SAMPLES][24];
  snprintf(ns, sizeof ns, "%lld", (long long)n);
  snprintf(ts, sizeof ts, "%d", threads);
  snprintf(bt, sizeof bt, "%d", blas_threads);
  char *argv[8 + LA_SAMPLES] = {PYTHON, "-c", (char *)script, (char *)mode, ns, ts};
  for (int k = 0; k < LA_SAMPLES; k++) {
    snprintf(ids[k], sizeof ids[k], "%zu", p->idx[k]);
    argv[6 + k] = ids[k];
  }
  const char *old = getenv("OPENBLAS_NUM_THREADS");
  char *saved = old ? strdup(old) : NULL;
  setenv("OPENBLAS_NUM_THREADS", bt, 1);
  x->pid = bench_spawn_pipes(argv, &x->to, &x->from);
  if (saved) setenv("OPENBLAS_NUM_THREADS", saved, 1);
  else unsetenv("OPENBLAS_NUM_THREADS");
  free(saved);
  if (x->pid < 0) {
    snprintf(x->missing, sizeof x->missing, "%s does not run", PYTHON);
    return 0;
  }
  while (getline(&x->line, &x->cap, x->from) > 0) {
    char mod[16], rest[32];
    if (strcmp(x->line, "ready\n") == 0) return 1;
    if (sscanf(x->line, "version %15s %31s", mod, rest) == 2 && strcmp(mod, mode) == 0)
      memcpy(x->version, rest, sizeof rest);
    if (sscanf(x->line, "missing %15s %31s", mod, rest) == 2) snprintf(x->missing, sizeof x->missing, "%s: %s", mod, rest);
  }
  if (bench_spawn_wait(x->pid, x->to, x->from) != 0) bench_die(mode, "the Python anchor failed (its error is above)");
  x->pid = -1;
  return 0;
}

static void anchor_stop(anchor *x) {
  if (x->pid > 0) bench_spawn_wait(x->pid, x->to, x->from);
  free(x->line);
}

/* One command; checks the samples and the checksum; returns seconds. */
static double anchor_call(anchor *x, const char *who, const char *cmd, const problem *p,
                          double cask_sum) {
  if (fprintf(x->to, "%s\n", cmd) < 0 || fflush(x->to) || getline(&x->line, &x->cap, x->from) <= 0)
    bench_die(who, "the Python anchor failed (its error is above)");
  char *s = x->line, *end;
  double sum = strtod(s, &end), t;
  long ns = strtol(end, &s, 10);
  if (ns != LA_SAMPLES) bench_die(who, x->line);
  for (int k = 0; k < LA_SAMPLES; k++, s = end) check_value(who, p, k, strtod(s, &end));
  t = strtod(s, &end);
  if (end == s) bench_die(who, x->line);
  if (!isnan(cask_sum) && !(fabs(sum - cask_sum) <= 1e-9 * p->abs_sum + 1e-9)) {
    char msg[128];
    snprintf(msg, sizeof msg, "checksum %.17g, cask's %.17g", sum, cask_sum);
    bench_die(who, msg);
  }
  bench_settle();
  return t;
}

/* ---- cask's turn ------------------------------------------------------------- */

static double cask_turn(cask_ctx *ctx, cask_array *x, problem *p, uint64_t *faults) {
  for (int k = 0; k < LA_SAMPLES; k++) p->c[p->idx[k]] = NAN;
  size_t nb = (size_t)(p->n * p->n) * sizeof(double);
  uint64_t f0 = bench_page_faults(), t0 = bench_now_ns();
  if (cask_compute(x, p->c, nb)) bench_die("cask_compute", cask_ctx_errmsg(ctx));
  double t = (double)(bench_now_ns() - t0) * 1e-9;
  *faults = bench_page_faults() - f0;
  for (int k = 0; k < LA_SAMPLES; k++) check_value("cask matmul", p, k, p->c[p->idx[k]]);
  bench_settle();
  return t;
}

/* ---- figures ------------------------------------------------------------------ */

typedef struct series {
  double v[64];
  int n;
} series;

static double med(series *s) { return s->n ? bench_median(s->v, (size_t)s->n) : NAN; }
static double best(series *s) {
  if (!s->n) return NAN;
  bench_median(s->v, (size_t)s->n); /* sorts */
  return s->v[0];
}

typedef struct figures {
  series cask[LA_NCHUNKS], dask[LA_NCHUNKS], numpy;
  double faults[LA_NCHUNKS];
} figures;

static const char *cell(char *buf, const char *fmt, double v) {
  if (isnan(v)) return "-";
  snprintf(buf, 24, fmt, v);
  return buf;
}

static void report(const bench_arrays_config *c, int64_t n, const int64_t *chunks, int reps,
                   figures *fg, const anchor *np, const anchor *dk) {
  double npm = med(&fg->numpy), flop = 2.0 * (double)n * (double)n * (double)n;
  char b0[24];
  fprintf(stderr,
          "\nmatmul of two float64 %lldx%lld matrices, %d threads, seconds (median of %d)\n"
          "NumPy %s np.dot (OpenBLAS, OPENBLAS_NUM_THREADS=%d): %s s, %.1f GFLOP/s; dask %s: threaded\n"
          "scheduler, same chunks, OpenBLAS 1 thread per block (as cask)\n",
          (long long)n, (long long)n, c->threads, reps, np->version[0] ? np->version : "-", c->threads,
          cell(b0, "%.3f", npm), flop / npm / 1e9, dk->version[0] ? dk->version : "-");
  if (c->quick) fprintf(stderr, "(--quick: a small product, no target: per-block overheads dominate it)\n");
  if (!np->version[0]) fprintf(stderr, "(no NumPy anchor: %s)\n", np->missing);
  if (!dk->version[0]) fprintf(stderr, "(no dask anchor: %s)\n", dk->missing);
  fprintf(stderr, "%-7s %8s %8s %8s %8s %7s %7s %8s %7s %4s %7s\n", "chunk", "cask", "best", "GFLOP/s",
          "numpy", "c/np", "target", "dask", "c/dask", "", "faults");
  for (int k = 0; k < LA_NCHUNKS; k++) {
    double cs = med(&fg->cask[k]), ds = med(&fg->dask[k]), r = cs / npm;
    char b[4][24];
    int judged = !c->quick && !isnan(r), pass = r <= LA_TARGET && !(cs >= ds);
    fprintf(stderr, "%-7lld %8.3f %8.3f %8.1f %8s %7s %7s %8s %7s %4s %7.0f\n", (long long)chunks[k], cs,
            best(&fg->cask[k]), flop / cs / 1e9, cell(b[0], "%.3f", npm), cell(b[1], "%.2f", r), c->quick ? "-" : "<=1.15",
            cell(b[2], "%.3f", ds), cell(b[3], "%.2f", cs / ds), !judged ? "-" : pass ? "pass" : "FAIL",
            fg->faults[k]);
    printf("{\"bench\":\"linalg\",\"case\":\"matmul\",\"dtype\":\"float64\",\"n\":%lld,\"chunk\":%lld,"
           "\"threads\":%d,\"reps\":%d,\"cask_s\":%.6g,\"cask_min_s\":%.6g,\"cask_gflops\":%.1f,"
           "\"cask_page_faults\":%.0f",
           (long long)n, (long long)chunks[k], c->threads, reps, cs, best(&fg->cask[k]), flop / cs / 1e9,
           fg->faults[k]);
    if (np->version[0])
      printf(",\"anchor\":\"numpy %s\",\"anchor_s\":%.6g,\"anchor_min_s\":%.6g,\"anchor_blas_threads\":%d,"
             "\"ratio\":%.3f",
             np->version, npm, best(&fg->numpy), c->threads, r);
    else
      printf(",\"anchor\":null,\"anchor_note\":\"%s\"", np->missing);
    if (dk->version[0]) printf(",\"dask\":\"dask %s\",\"dask_s\":%.6g,\"ratio_dask\":%.3f", dk->version, ds, cs / ds);
    else printf(",\"dask\":null");
    if (judged) printf(",\"target_ratio\":%.2f,\"pass\":%s", LA_TARGET, pass ? "true" : "false");
    printf("}\n");
  }
  fflush(stdout);
}

/* ---- the section --------------------------------------------------------------- */

static void run_turns(const bench_arrays_config *c, cask_ctx *ctx, problem *p, cask_array **x,
                      const int64_t *chunks, int reps, anchor *np, anchor *dk, figures *fg) {
  static double pf[LA_NCHUNKS][64];
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up, not kept */
    double sum = NAN;
    for (int k = 0; k < LA_NCHUNKS; k++) {
      uint64_t faults;
      double t = cask_turn(ctx, x[k], p, &faults);
      if (r >= 0) {
        fg->cask[k].v[fg->cask[k].n++] = t;
        pf[k][r] = (double)faults;
      }
      if (k == 0) sum = checksum(p);
      if (dk->pid > 0) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "dask %lld", (long long)chunks[k]);
        t = anchor_call(dk, "dask", cmd, p, sum);
        if (r >= 0) fg->dask[k].v[fg->dask[k].n++] = t;
      }
    }
    if (np->pid > 0) {
      double t = anchor_call(np, "numpy", "numpy", p, sum);
      if (r >= 0) fg->numpy.v[fg->numpy.n++] = t;
    }
  }
  for (int k = 0; k < LA_NCHUNKS; k++) fg->faults[k] = bench_median(pf[k], (size_t)reps);
}

void bench_linalg(const bench_arrays_config *c) {
  int64_t n = c->quick ? LA_N_QUICK : LA_N;
  const int64_t *chunks = c->quick ? chunk_quick : chunk_full;
  int reps = c->reps < LA_REPS ? c->reps : LA_REPS;
  static problem p;
  static figures fg;
  problem_init(&p, n);
  anchor np, dk;
  anchor_start(&np, "numpy", n, c->threads, c->threads, &p);
  anchor_start(&dk, "dask", n, c->threads, 1, &p);
  cask_options opts = CASK_OPTIONS_DEFAULTS;
  opts.threads = c->threads;
  cask_ctx *ctx;
  if (cask_ctx_new(&opts, &ctx)) bench_die("cask_ctx_new", "failed");
  int64_t shape[2] = {n, n};
  cask_array *a[LA_NCHUNKS], *b[LA_NCHUNKS], *x[LA_NCHUNKS];
  for (int k = 0; k < LA_NCHUNKS; k++) {
    int64_t ch[2] = {chunks[k], chunks[k]};
    if (cask_from_buffer(ctx, p.a, CASK_F64, 2, shape, ch, NULL, NULL, &a[k]) ||
        cask_from_buffer(ctx, p.b, CASK_F64, 2, shape, ch, NULL, NULL, &b[k]) || cask_matmul(a[k], b[k], &x[k]))
      bench_die("cask_matmul", cask_ctx_errmsg(ctx));
  }
  run_turns(c, ctx, &p, x, chunks, reps, &np, &dk, &fg);
  check_whole(&p); /* the last result: chunks[LA_NCHUNKS - 1] */
  report(c, n, chunks, reps, &fg, &np, &dk);
  for (int k = 0; k < LA_NCHUNKS; k++) {
    cask_array_release(x[k]);
    cask_array_release(a[k]);
    cask_array_release(b[k]);
  }
  cask_ctx_free(ctx);
  anchor_stop(&np);
  anchor_stop(&dk);
  problem_destroy(&p);
}
