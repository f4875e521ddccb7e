/* arrays.c - cask's chunked arrays beside their anchors: two fused
 * elementwise expressions against NumExpr and NumPy, sum / mean / std
 * against NumPy, (x + x.T)[::2, n/4:].mean(axis=1) of a random grid against
 * dask.array,
 * and a small expression's latency against NumPy. Two C loops say what the
 * memory allows: the STREAM triad (d = a + s*b) and a plain read (a sum),
 * both with OpenMP on the same thread count.
 *
 * The one thing to know before editing: nothing timed may pay for first
 * touches or skip work. Inputs and outputs are allocated and touched before
 * any clock starts (with transparent huge pages, as NumPy allocates its
 * arrays). cask, the C loops and the Python anchor (anchors.c) take turns
 * repetition by repetition, and every repetition is checked: before it,
 * some output elements are set to NaN, after it they must hold what a plain
 * C formula gives; the anchor's values are checked the same way, and whole
 * results against C loops and each other. A failed check exits. */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define FLAT_N 100000000
#define FLAT_N_QUICK 10000000
#define FLAT_CHUNK 1000000
#define NUMPY_REPS 3 /* NumPy's plain expression makes fresh temporaries: up to seconds each */
#define GRID_N 20000
#define GRID_N_QUICK 4000
#define GRID_CHUNK 1000
#define GRID_SEED 42
#define GRID_REPS 3 /* dask.array takes about 9 s per run at full size */
#define GRID_ROWS_CHECKED 4
#define TARGET_GRID 0.2 /* at least 5x faster than dask's threaded scheduler */
#define SMALL_CALLS 2000
#define SMALL_CALLS_QUICK 500
#define SMALL_BATCH 100 /* calls per turn */
#define POISON_STRIDE 4096 /* one poisoned element per 32 KiB of output */
#define TRIAD_SCALAR 3.0
#define MAX_REPS 64
#define TARGET_TRIAD 0.75 /* a*b + a: this fraction of the triad's bandwidth */
#define TARGET_READ 0.80  /* reductions: this fraction of the read bandwidth */
#define TARGET_SMALL 2.0  /* small arrays: at most this many times NumPy's latency */

enum { EXPR_AXBA, EXPR_MIXED, REF_TRIAD, NEXPR = 2 };
static const char *const exprs[NEXPR] = {"a*b + a", "2*a + 3*b*b - sin(a)"};
static const char *const names[2] = {"a", "b"};
static const char *const red_names[3] = {"sum", "mean", "std"};
static const cask_reduction red_ops[3] = {CASK_SUM, CASK_MEAN, CASK_STD};

/* ---- figures ------------------------------------------------------------ */

/* The times of one system for one case, in seconds. */
typedef struct series {
  double *v;
  size_t n, cap;
} series;

static void series_add(series *s, double v) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 16;
    if (!(s->v = realloc(s->v, s->cap * sizeof *s->v))) bench_die("malloc", "out of memory");
  }
  s->v[s->n++] = v;
}

/* NaN if nothing was measured. */
static double median(series *s) { return s->n ? bench_median(s->v, s->n) : NAN; }

static double minimum(series *s) {
  if (!s->n) return NAN;
  bench_median(s->v, s->n); /* sorts */
  return s->v[0];
}

static const char *verdict(int pass) { return pass ? "pass" : "FAIL"; }

/* A table cell: the figure, or "-" for one not measured. */
static const char *cell(char *buf, const char *fmt, double v) {
  if (isnan(v)) return "-";
  snprintf(buf, 24, fmt, v);
  return buf;
}

/* ---- inputs and checks ---------------------------------------------------- */

/* The inputs, on both sides: a = i * (1/n), b = 1 - a. One IEEE operation
 * each, so NumPy's arange(n) * (1.0 / n) gives the same bits. */
static double in_a(size_t i, size_t n) { return (double)i * (1.0 / (double)n); }

static double flat_ref(int which, size_t i, size_t n) {
  double a = in_a(i, n), b = 1.0 - a;
  if (which == EXPR_AXBA) return a * b + a;
  if (which == EXPR_MIXED) return 2 * a + 3 * b * b - sin(a);
  return a + TRIAD_SCALAR * b;
}

/* Within tol, relative above 1 and absolute below; false for NaN. Kernels
 * may contract a*b + a into an FMA and use a vector sin (within 4 ulp), so
 * results are close, not bit-identical. */
static int close_to(double x, double ref, double tol) {
  return fabs(x - ref) <= tol * (1 + fabs(ref));
}

static void die_value(const char *what, const char *where, double got, double want) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s is %.17g, expected %.17g", where, got, want);
  bench_die(what, msg);
}

/* NaN at every POISON_STRIDE-th element from phase on: a repetition that
 * skipped a block, or a piece of one, leaves a NaN behind. */
static void poison(double *d, size_t n, size_t phase) {
  for (size_t i = phase % POISON_STRIDE; i < n; i += POISON_STRIDE) d[i] = NAN;
}

static void check_poisoned(const char *what, const double *d, size_t n, size_t phase, int which) {
  for (size_t i = phase % POISON_STRIDE; i < n; i += POISON_STRIDE) {
    double want = flat_ref(which, i, n);
    if (!close_to(d[i], want, 1e-12)) {
      char where[48];
      snprintf(where, sizeof where, "element %zu", i);
      die_value(what, where, d[i], want);
    }
  }
}

/* Every element against the C formula, on `threads` threads (10^8 sines
 * at full size). */
static void check_all(const char *what, const double *d, size_t n, int which, int threads) {
  size_t bad = n;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : bad)
  for (size_t i = 0; i < n; i++)
    if (!close_to(d[i], flat_ref(which, i, n), 1e-12) && i < bad) bad = i;
  if (bad < n) {
    char where[48];
    snprintf(where, sizeof where, "element %zu", bad);
    die_value(what, where, d[bad], flat_ref(which, bad, n));
  }
}

static double checksum(const double *d, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += d[i];
  return s;
}

/* An anchor's result against the C formula at the sample indices. */
static void check_samples(const char *what, const bench_py_result *res, const size_t *idx,
                          int nidx, int which, size_t n) {
  if (res->nsamples != nidx) bench_die(what, "the anchor returned the wrong number of samples");
  for (int k = 0; k < nidx; k++)
    if (!close_to(res->sample[k], flat_ref(which, idx[k], n), 1e-12))
      die_value(what, "an element of the anchor's result", res->sample[k], flat_ref(which, idx[k], n));
}

/* n doubles of anonymous memory with transparent huge pages where the
 * kernel gives them (NumPy asks for them for every array of 4 MiB or more,
 * so the anchors have them too), touched by `threads` threads now so that
 * no figure pays for first-touch page faults. */
static double *big_alloc(size_t n, int threads) {
  size_t len = n * sizeof(double);
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) bench_die("mmap", "out of memory");
  madvise(p, len, MADV_HUGEPAGE);
  double *d = p;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; i++) d[i] = 0;
  return d;
}

static void big_free(double *d, size_t n) { munmap(d, n * sizeof *d); }

/* ---- the C yardsticks and cask's turn ------------------------------------ */

static double seconds_since(uint64_t t0) { return (double)(bench_now_ns() - t0) * 1e-9; }

static double triad(double *restrict d, const double *restrict a, const double *restrict b, size_t n,
                    int threads) {
  uint64_t t0 = bench_now_ns();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; i++) d[i] = a[i] + TRIAD_SCALAR * b[i];
  return seconds_since(t0);
}

/* Eight independent sums: one chain of dependent adds would be bound by the
 * add's latency, not by memory. */
static double sum_slice(const double *a, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += a[i];
    s1 += a[i + 1];
    s2 += a[i + 2];
    s3 += a[i + 3];
    s4 += a[i + 4];
    s5 += a[i + 5];
    s6 += a[i + 6];
    s7 += a[i + 7];
  }
  for (; i < n; i++) s0 += a[i];
  return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

static double read_all(const double *a, size_t n, int threads, double *sum) {
  double s = 0;
  uint64_t t0 = bench_now_ns();
#pragma omp parallel num_threads(threads) reduction(+ : s)
  {
    size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
    s += sum_slice(a + n * t / nt, n * (t + 1) / nt - n * t / nt);
  }
  *sum = s;
  return seconds_since(t0);
}

static double timed_compute(cask_ctx *ctx, cask_array *x, double *out, size_t n) {
  uint64_t t0 = bench_now_ns();
  if (cask_compute(x, out, n * sizeof *out)) bench_die("cask_compute", cask_ctx_errmsg(ctx));
  return seconds_since(t0);
}

/* ---- the anchors' turn ------------------------------------------------------ */

typedef struct anchor {
  bench_py *py; /* NULL: no anchor */
  bench_py_modules mods;
} anchor;

static int has(const anchor *a, int module) { return a->py && a->mods.have[module]; }

/* One command; its time (one call) goes into s. */
static void py_turn(anchor *a, const char *cmd, bench_py_result *res, series *s) {
  bench_py_call(a->py, cmd, res);
  if (s) series_add(s, res->times[0]);
  bench_settle();
}

static void note_missing(const anchor *a, int module) {
  if (!has(a, module))
    fprintf(stderr, "(no %s anchor: /usr/bin/python3 cannot import it: %s)\n",
            bench_module_names[module], a->mods.missing[module][0] ? a->mods.missing[module] : "?");
}

/* ,"anchor":"numpy 1.24.2","anchor_s":...,"ratio":cask/anchor, or a note. */
static void json_anchor(const anchor *a, int module, series *s, double cask_s) {
  if (has(a, module) && s->n)
    printf(",\"anchor\":\"%s %s\",\"anchor_s\":%.6g,\"anchor_min_s\":%.6g,\"ratio\":%.3f",
           bench_module_names[module], a->mods.version[module], median(s), minimum(s),
           cask_s / median(s));
  else
    printf(",\"anchor\":null,\"anchor_note\":\"cannot import %s\"", bench_module_names[module]);
}

/* ---- flat arrays: elementwise and reductions ------------------------------ */

typedef struct flat {
  size_t n;
  double *a, *b, *out, *d; /* inputs, cask's output, the triad's output */
  cask_array *xa, *xb;     /* a and b as cask arrays over the buffers */
  double ref[3];           /* sum, mean, std of a, in long double */
  size_t idx[BENCH_MAX_SAMPLES];
  int nidx;
  anchor py;
  series triad, read;
} flat;

/* One case: cask's times and its anchors'. */
typedef struct figure {
  series cask, anchor, numpy;
} figure;

/* Elements where the anchor's results are looked at. */
static int sample_indices(size_t n, size_t *idx) {
  static const double at[] = {0, 0.1, 0.25, 1.0 / 3, 0.5, 0.77, 0.999};
  int k = 0;
  for (; k < (int)(sizeof at / sizeof at[0]); k++) idx[k] = (size_t)(at[k] * (double)n);
  idx[k++] = n - 1;
  return k;
}

static void flat_anchor(flat *f, int threads) {
  char num[2][24], ids[BENCH_MAX_SAMPLES][24];
  snprintf(num[0], 24, "%zu", f->n);
  snprintf(num[1], 24, "%d", threads);
  char *args[6 + BENCH_MAX_SAMPLES] = {num[0], num[1], (char *)exprs[0], (char *)exprs[1]};
  for (int i = 0; i < f->nidx; i++) {
    snprintf(ids[i], 24, "%zu", f->idx[i]);
    args[4 + i] = ids[i];
  }
  f->py.py = bench_py_start(BENCH_PY_FLAT, args, &f->py.mods);
}

/* long double sums: the reference for sum, mean and std. */
static void flat_ref_stats(flat *f) {
  long double s = 0, m2 = 0;
  for (size_t i = 0; i < f->n; i++) s += f->a[i];
  long double mean = s / (long double)f->n;
  for (size_t i = 0; i < f->n; i++) m2 += (f->a[i] - mean) * (f->a[i] - mean);
  f->ref[0] = (double)s;
  f->ref[1] = (double)mean;
  f->ref[2] = (double)sqrtl(m2 / (long double)f->n);
}

static void flat_init(flat *f, size_t n, int threads, cask_ctx *ctx) {
  memset(f, 0, sizeof *f);
  f->n = n;
  f->nidx = sample_indices(n, f->idx);
  flat_anchor(f, threads); /* returns once the child has built its inputs */
  f->a = big_alloc(n, threads);
  f->b = big_alloc(n, threads);
  f->out = big_alloc(n, threads);
  f->d = big_alloc(n, threads);
  double *a = f->a, *b = f->b;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; i++) {
    a[i] = in_a(i, n);
    b[i] = 1.0 - a[i];
  }
  int64_t shape = (int64_t)n, chunk = FLAT_CHUNK;
  if (cask_from_buffer(ctx, f->a, CASK_F64, 1, &shape, &chunk, NULL, NULL, &f->xa) ||
      cask_from_buffer(ctx, f->b, CASK_F64, 1, &shape, &chunk, NULL, NULL, &f->xb))
    bench_die("cask_from_buffer", cask_ctx_errmsg(ctx));
  flat_ref_stats(f);
}

static void flat_destroy(flat *f) {
  bench_py_stop(f->py.py);
  cask_array_release(f->xa);
  cask_array_release(f->xb);
  big_free(f->a, f->n);
  big_free(f->b, f->n);
  big_free(f->out, f->n);
  big_free(f->d, f->n);
  free(f->triad.v);
  free(f->read.v);
}

static void triad_turn(flat *f, int threads, size_t phase, int keep) {
  poison(f->d, f->n, phase);
  double t = triad(f->d, f->a, f->b, f->n, threads);
  check_poisoned("triad", f->d, f->n, phase, REF_TRIAD);
  if (keep) series_add(&f->triad, t);
  bench_settle();
}

static void cask_expr_turn(flat *f, cask_ctx *ctx, cask_array *x, int e, size_t phase, series *s) {
  poison(f->out, f->n, phase);
  double t = timed_compute(ctx, x, f->out, f->n);
  check_poisoned(exprs[e], f->out, f->n, phase, e);
  if (s) series_add(s, t);
  bench_settle();
}

/* The anchor's turn: the expression by NumExpr, and for the first
 * NUMPY_REPS repetitions by NumPy. Checksums are kept for the end. */
static void py_expr_turn(flat *f, int e, int r, figure *fig, double *sums, int *nsums) {
  char cmd[32];
  bench_py_result res;
  if (has(&f->py, BENCH_NUMEXPR)) {
    snprintf(cmd, sizeof cmd, "numexpr %d", e);
    py_turn(&f->py, cmd, &res, r >= 0 ? &fig->anchor : NULL);
    check_samples("numexpr", &res, f->idx, f->nidx, e, f->n);
    sums[(*nsums)++] = res.value;
  }
  if (has(&f->py, BENCH_NUMPY) && r < NUMPY_REPS) {
    snprintf(cmd, sizeof cmd, "numpy %d", e);
    py_turn(&f->py, cmd, &res, r >= 0 ? &fig->numpy : NULL);
    check_samples("numpy", &res, f->idx, f->nidx, e, f->n);
    sums[(*nsums)++] = res.value;
  }
}

/* Triad, cask and the anchors take turns, repetition by repetition (r = -1
 * is a warm-up, not kept), so a burst of load elsewhere hits all alike. */
static void measure_expr(const bench_arrays_config *c, flat *f, cask_ctx *ctx, int e,
                         figure *fig) {
  cask_array *x;
  if (cask_eval(ctx, exprs[e], names, (cask_array *const[]){f->xa, f->xb}, 2, &x))
    bench_die("cask_eval", cask_ctx_errmsg(ctx));
  double sums[2 * MAX_REPS + 2];
  int nsums = 0;
  for (int r = -1; r < c->reps; r++) {
    size_t phase = (size_t)(r + 2) * 613 + (size_t)e * 101;
    triad_turn(f, c->threads, phase, r >= 0);
    cask_expr_turn(f, ctx, x, e, phase, r >= 0 ? &fig->cask : NULL);
    py_expr_turn(f, e, r, fig, sums, &nsums);
  }
  check_all(exprs[e], f->out, f->n, e, c->threads);
  double mine = checksum(f->out, f->n);
  for (int k = 0; k < nsums; k++)
    if (!close_to(sums[k], mine, 1e-9)) die_value(exprs[e], "the anchor's checksum", sums[k], mine);
  cask_array_release(x);
}

static void measure_reductions(const bench_arrays_config *c, flat *f, cask_ctx *ctx,
                               figure fig[3]) {
  cask_array *x[3];
  for (int k = 0; k < 3; k++)
    if (cask_reduce(red_ops[k], f->xa, NULL, 0, 0, &x[k]))
      bench_die("cask_reduce", cask_ctx_errmsg(ctx));
  for (int r = -1; r < c->reps; r++) {
    double sum, t = read_all(f->a, f->n, c->threads, &sum);
    if (!close_to(sum, f->ref[0], 1e-9)) die_value("read loop", "the sum", sum, f->ref[0]);
    if (r >= 0) series_add(&f->read, t);
    bench_settle();
    for (int k = 0; k < 3; k++) {
      double v = NAN;
      uint64_t t0 = bench_now_ns();
      if (cask_compute_scalar(x[k], &v)) bench_die("cask_compute_scalar", cask_ctx_errmsg(ctx));
      t = seconds_since(t0);
      if (!close_to(v, f->ref[k], 1e-10)) die_value(red_names[k], "cask's result", v, f->ref[k]);
      if (r >= 0) series_add(&fig[k].cask, t);
      bench_settle();
      if (!has(&f->py, BENCH_NUMPY)) continue;
      char cmd[16];
      bench_py_result res;
      snprintf(cmd, sizeof cmd, "reduce %d", k);
      py_turn(&f->py, cmd, &res, r >= 0 ? &fig[k].anchor : NULL);
      if (!close_to(res.value, f->ref[k], 1e-10))
        die_value(red_names[k], "NumPy's result", res.value, f->ref[k]);
    }
  }
  for (int k = 0; k < 3; k++) cask_array_release(x[k]);
}

static void report_expr(const bench_arrays_config *c, flat *f, int e, figure *fig,
                        double triad_s) {
  double cs = median(&fig->cask), ne = median(&fig->anchor), np = median(&fig->numpy);
  double gbps = 24.0 * (double)f->n / cs / 1e9, frac = triad_s / cs;
  int has_target = e == EXPR_AXBA;
  char b[4][24];
  fprintf(stderr, "%-22s %9.4f %9s %9s %7s %7s %7.1f %7.2f %7s %4s\n", exprs[e], cs,
          cell(b[0], "%.4f", ne), cell(b[1], "%.4f", np), cell(b[2], "%.2f", cs / ne),
          cell(b[3], "%.2f", cs / np), gbps, frac, has_target ? ">=0.75" : "-",
          has_target ? verdict(frac >= TARGET_TRIAD) : "-");
  printf("{\"bench\":\"array\",\"case\":\"%s\",\"n\":%zu,\"chunk\":%d,\"threads\":%d,\"reps\":%d,"
         "\"cask_s\":%.6g,\"cask_min_s\":%.6g",
         exprs[e], f->n, FLAT_CHUNK, c->threads, c->reps, cs, minimum(&fig->cask));
  json_anchor(&f->py, BENCH_NUMEXPR, &fig->anchor, cs);
  bench_json_num("numpy_s", "%.6g", np);
  bench_json_num("ratio_numpy", "%.3f", cs / np);
  printf(",\"numpy_reps\":%zu,\"cask_gbps\":%.2f,\"triad_gbps\":%.2f,\"fraction_of_triad\":%.3f",
         fig->numpy.n, gbps, 24.0 * (double)f->n / triad_s / 1e9, frac);
  if (has_target)
    printf(",\"target_fraction_of_triad\":%.2f,\"pass\":%s", TARGET_TRIAD,
           frac >= TARGET_TRIAD ? "true" : "false");
  printf("}\n");
  fflush(stdout);
}

static void report_reduction(const bench_arrays_config *c, flat *f, int k, figure *fig,
                             double triad_s, double read_s) {
  double cs = median(&fig->cask), np = median(&fig->anchor);
  double gbps = 8.0 * (double)f->n / cs / 1e9, of_read = read_s / cs;
  double of_triad = gbps / (24.0 * (double)f->n / triad_s / 1e9);
  char b[2][24];
  fprintf(stderr, "%-22s %9.4f %9s %7s %7.1f %7.2f %7.2f %7s %4s\n", red_names[k], cs,
          cell(b[0], "%.4f", np), cell(b[1], "%.2f", cs / np), gbps, of_read, of_triad, ">=0.80",
          verdict(of_read >= TARGET_READ));
  printf("{\"bench\":\"array\",\"case\":\"%s(a)\",\"n\":%zu,\"chunk\":%d,\"threads\":%d,\"reps\":%d,"
         "\"cask_s\":%.6g,\"cask_min_s\":%.6g",
         red_names[k], f->n, FLAT_CHUNK, c->threads, c->reps, cs, minimum(&fig->cask));
  json_anchor(&f->py, BENCH_NUMPY, &fig->anchor, cs);
  printf(",\"anchor_threads\":1,\"cask_gbps\":%.2f,\"read_gbps\":%.2f,\"fraction_of_read\":%.3f,"
         "\"fraction_of_triad\":%.3f,\"target_fraction_of_read\":%.2f,\"pass\":%s}\n",
         gbps, 8.0 * (double)f->n / read_s / 1e9, of_read, of_triad, TARGET_READ,
         of_read >= TARGET_READ ? "true" : "false");
  fflush(stdout);
}

static void report_flat(const bench_arrays_config *c, flat *f, figure *ew, figure *red) {
  double triad_s = median(&f->triad), read_s = median(&f->read);
  fprintf(stderr,
          "\nArrays: float64 a, b of N = %zu (in memory, huge pages), chunks of %d, %d threads;\n"
          "seconds, median of %d (NumPy's plain expression: %d); GB/s counts each array once\n"
          "yardsticks (C, OpenMP): STREAM triad %.1f GB/s (%.4f s), read (sum) %.1f GB/s (%.4f s)\n",
          f->n, FLAT_CHUNK, c->threads, c->reps, NUMPY_REPS, 24.0 * (double)f->n / triad_s / 1e9,
          triad_s, 8.0 * (double)f->n / read_s / 1e9, read_s);
  note_missing(&f->py, BENCH_NUMPY);
  note_missing(&f->py, BENCH_NUMEXPR);
  printf("{\"bench\":\"array_bandwidth\",\"n\":%zu,\"threads\":%d,\"reps\":%d,\"triad_s\":%.6g,"
         "\"triad_gbps\":%.2f,\"read_s\":%.6g,\"read_gbps\":%.2f}\n",
         f->n, c->threads, c->reps, triad_s, 24.0 * (double)f->n / triad_s / 1e9, read_s,
         8.0 * (double)f->n / read_s / 1e9);
  fprintf(stderr, "%-22s %9s %9s %9s %7s %7s %7s %7s %7s %4s\n", "expression", "cask", "numexpr",
          "numpy", "c/ne", "c/np", "GB/s", "/triad", "target", "");
  for (int e = 0; e < NEXPR; e++) report_expr(c, f, e, &ew[e], triad_s);
  fprintf(stderr, "%-22s %9s %9s %7s %7s %7s %7s %7s %4s\n", "reduction (all axes)", "cask",
          "numpy 1T", "c/np", "GB/s", "/read", "/triad", "target", "");
  for (int k = 0; k < 3; k++) report_reduction(c, f, k, &red[k], triad_s, read_s);
}

static void run_flat(const bench_arrays_config *c, cask_ctx *ctx) {
  static flat f;
  static figure ew[NEXPR], red[3];
  flat_init(&f, c->quick ? FLAT_N_QUICK : FLAT_N, c->threads, ctx);
  for (int e = 0; e < NEXPR; e++) measure_expr(c, &f, ctx, e, &ew[e]);
  measure_reductions(c, &f, ctx, red);
  report_flat(c, &f, ew, red);
  for (int k = 0; k < NEXPR + 3; k++) {
    figure *g = k < NEXPR ? &ew[k] : &red[k - NEXPR];
    free(g->cask.v);
    free(g->anchor.v);
    free(g->numpy.v);
  }
  flat_destroy(&f);
}

/* ---- (x + x.T)[::2, n/4:].mean(axis=1) on a random grid ------------------- */

/* The mean of each of the first GRID_ROWS_CHECKED rows of the result, from
 * x's values: row k is x's row 2k and column 2k from n/4 on; x[i, j] is the
 * value at flat index i*n + j of the seed, read here through 1-d slices of
 * a 1-d random array (not the 2-d transpose the benchmark times). */
static void grid_rows_ref(cask_ctx *ctx, size_t n, double *ref) {
  int64_t len = (int64_t)n * (int64_t)n, c0 = (int64_t)n / 4, cnt = (int64_t)n - c0;
  double *row = bench_xmalloc((size_t)cnt * sizeof *row), *col = bench_xmalloc((size_t)cnt * sizeof *col);
  cask_array *flat;
  if (cask_random_uniform(ctx, GRID_SEED, CASK_F64, 1, &len, &len, &flat))
    bench_die("grid reference", cask_ctx_errmsg(ctx));
  for (int k = 0; k < GRID_ROWS_CHECKED; k++) {
    int64_t i = 2 * k;
    cask_index r = CASK_SLICE(i * (int64_t)n + c0, (i + 1) * (int64_t)n, 1);
    cask_index c = CASK_SLICE(c0 * (int64_t)n + i, CASK_NONE, (int64_t)n);
    cask_array *rs, *cs;
    if (cask_slice(flat, 1, &r, &rs) || cask_compute(rs, row, (size_t)cnt * sizeof *row) ||
        cask_slice(flat, 1, &c, &cs) || cask_compute(cs, col, (size_t)cnt * sizeof *col))
      bench_die("grid reference", cask_ctx_errmsg(ctx));
    long double s = 0;
    for (int64_t j = 0; j < cnt; j++) s += (long double)(row[j] + col[j]);
    ref[k] = (double)(s / (long double)cnt);
    cask_array_release(rs);
    cask_array_release(cs);
  }
  cask_array_release(flat);
  free(row);
  free(col);
}

/* Each row's mean is 1 give or take 0.58 / sqrt(n): far inside [0.9, 1.1];
 * the first rows exactly as the reference says. */
static void check_grid(const double *m, size_t n, const double *ref) {
  for (int k = 0; k < GRID_ROWS_CHECKED; k++)
    if (!close_to(m[k], ref[k], 1e-12)) die_value("grid", "a row's mean", m[k], ref[k]);
  for (size_t i = 0; i < n; i++)
    if (!(m[i] > 0.9 && m[i] < 1.1)) die_value("grid", "a row's mean", m[i], 1.0);
}

/* Dask's result, same distribution, other generator: its mean and range. */
static void check_dask(const bench_py_result *res) {
  if (res->nsamples != 2 || !(fabs(res->value - 1) < 0.01) || !(res->sample[0] > 0.9) ||
      !(res->sample[1] < 1.1))
    die_value("dask", "the mean of Dask's result", res->value, 1.0);
}

static cask_array *grid_expr(cask_ctx *ctx, size_t n) {
  int64_t shape[2] = {(int64_t)n, (int64_t)n}, chunks[2] = {GRID_CHUNK, GRID_CHUNK};
  int axis = 1;
  cask_index idx[2] = {CASK_SLICE(CASK_NONE, CASK_NONE, 2), CASK_SLICE((int64_t)n / 4, CASK_NONE, 1)};
  cask_array *x, *xt, *s, *sl, *m = NULL;
  if (cask_random_uniform(ctx, GRID_SEED, CASK_F64, 2, shape, chunks, &x) || cask_transpose(x, NULL, &xt) ||
      cask_binary(CASK_ADD, x, xt, &s) || cask_slice(s, 2, idx, &sl) ||
      cask_reduce(CASK_MEAN, sl, &axis, 1, 0, &m))
    bench_die("grid", cask_ctx_errmsg(ctx));
  cask_array_release(sl); /* m keeps them alive */
  cask_array_release(s);
  cask_array_release(xt);
  cask_array_release(x);
  return m;
}

static void report_grid(const bench_arrays_config *c, size_t n, int reps, const anchor *py,
                        series *cask, series *dask, double faults, double mean) {
  double cs = median(cask), ds = median(dask);
  char b[2][24];
  fprintf(stderr,
          "\n(x + x.T)[::2, %zu:].mean(axis=1), x uniform random %zux%zu, chunks %dx%d, %d threads, s (median of %d)\n"
          "cask %.3f (%.0f page faults per run)   dask %s threads %s   cask/dask %s (target <= %.2f: %s)\n",
          n / 4, n, n, GRID_CHUNK, GRID_CHUNK, c->threads, reps, cs, faults,
          has(py, BENCH_DASK) ? py->mods.version[BENCH_DASK] : "-", cell(b[0], "%.3f", ds),
          cell(b[1], "%.2f", cs / ds), TARGET_GRID, isnan(ds) ? "-" : verdict(cs / ds <= TARGET_GRID));
  note_missing(py, BENCH_DASK);
  printf("{\"bench\":\"array\",\"case\":\"(x + x.T)[::2, n/4:].mean(axis=1)\",\"shape\":[%zu,%zu],"
         "\"chunks\":[%d,%d],\"threads\":%d,\"reps\":%d,\"cask_s\":%.6g,\"cask_min_s\":%.6g,"
         "\"cask_page_faults\":%.0f",
         n, n, GRID_CHUNK, GRID_CHUNK, c->threads, reps, cs, minimum(cask), faults);
  json_anchor(py, BENCH_DASK, dask, cs);
  if (!isnan(ds))
    printf(",\"target_ratio\":%.2f,\"pass\":%s", TARGET_GRID, cs / ds <= TARGET_GRID ? "true" : "false");
  printf(",\"mean\":%.6f}\n", mean);
  fflush(stdout);
}

static void run_grid(const bench_arrays_config *c, cask_ctx *ctx) {
  size_t n = c->quick ? GRID_N_QUICK : GRID_N;
  int reps = c->reps < GRID_REPS ? c->reps : GRID_REPS;
  char v[3][24];
  snprintf(v[0], 24, "%zu", n);
  snprintf(v[1], 24, "%d", GRID_CHUNK);
  snprintf(v[2], 24, "%d", c->threads);
  anchor py = {0};
  py.py = bench_py_start(BENCH_PY_DASK, (char *[]){v[0], v[1], v[2], NULL}, &py.mods);
  cask_array *m = grid_expr(ctx, n);
  size_t rows = (n + 1) / 2;
  double ref[GRID_ROWS_CHECKED], pf[MAX_REPS], *out = bench_xmalloc(rows * sizeof *out);
  grid_rows_ref(ctx, n, ref);
  series cask = {0}, dask = {0};
  for (int r = -1; r < reps; r++) {
    for (size_t i = 0; i < rows; i++) out[i] = NAN;
    uint64_t f0 = bench_page_faults();
    double t = timed_compute(ctx, m, out, rows);
    if (r >= 0) {
      series_add(&cask, t);
      pf[r] = (double)(bench_page_faults() - f0);
    }
    check_grid(out, rows, ref);
    bench_settle();
    if (!has(&py, BENCH_DASK)) continue;
    bench_py_result res;
    py_turn(&py, "dask", &res, r >= 0 ? &dask : NULL);
    check_dask(&res);
  }
  double mean = checksum(out, rows) / (double)rows;
  if (!(fabs(mean - 1) < 0.01)) die_value("grid", "the mean of cask's result", mean, 1.0);
  report_grid(c, n, reps, &py, &cask, &dask, bench_median(pf, (size_t)reps), mean);
  bench_py_stop(py.py);
  free(cask.v);
  free(dask.v);
  free(out);
  cask_array_release(m);
}

/* ---- small arrays: latency ------------------------------------------------ */

typedef struct small {
  size_t n;
  double *a, *b, *out;
  cask_array *x;
  series cask, numpy;
} small;

static void small_init(small *s, size_t n, cask_ctx *ctx) {
  memset(s, 0, sizeof *s);
  s->n = n;
  s->a = bench_xmalloc(n * sizeof(double));
  s->b = bench_xmalloc(n * sizeof(double));
  s->out = bench_xmalloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    s->a[i] = in_a(i, n);
    s->b[i] = 1.0 - s->a[i];
    s->out[i] = 0;
  }
  int64_t shape = (int64_t)n;
  cask_array *a, *b;
  if (cask_from_buffer(ctx, s->a, CASK_F64, 1, &shape, NULL, NULL, NULL, &a) ||
      cask_from_buffer(ctx, s->b, CASK_F64, 1, &shape, NULL, NULL, NULL, &b) ||
      cask_eval(ctx, exprs[EXPR_MIXED], names, (cask_array *const[]){a, b}, 2, &s->x))
    bench_die("small arrays", cask_ctx_errmsg(ctx));
  cask_array_release(a); /* s->x keeps them alive */
  cask_array_release(b);
}

static void small_destroy(small *s) {
  cask_array_release(s->x);
  free(s->a);
  free(s->b);
  free(s->out);
  free(s->cask.v);
  free(s->numpy.v);
}

/* `calls` calls, each timed on its own, one element poisoned before each. */
static void small_cask_turn(cask_ctx *ctx, small *s, int calls, size_t first, int keep) {
  for (int i = 0; i < calls; i++) {
    size_t j = (first + (size_t)i * 7) % s->n;
    s->out[j] = NAN;
    double t = timed_compute(ctx, s->x, s->out, s->n);
    double want = flat_ref(EXPR_MIXED, j, s->n);
    if (!close_to(s->out[j], want, 1e-12)) die_value("small", "an element", s->out[j], want);
    if (keep) series_add(&s->cask, t);
  }
  bench_settle();
}

static void small_py_turn(anchor *py, small *s, int calls, int keep) {
  if (!has(py, BENCH_NUMPY)) return;
  char cmd[48];
  bench_py_result res;
  snprintf(cmd, sizeof cmd, "small %zu %d", s->n, calls);
  bench_py_call(py->py, cmd, &res);
  size_t idx[3] = {0, s->n / 2, s->n - 1};
  check_samples("numpy", &res, idx, 3, EXPR_MIXED, s->n);
  double want = 0;
  for (size_t i = 0; i < s->n; i++) want += flat_ref(EXPR_MIXED, i, s->n);
  if (!close_to(res.value, want, 1e-9)) die_value("numpy", "the checksum", res.value, want);
  for (int i = 0; keep && i < res.ntimes; i++) series_add(&s->numpy, res.times[i]);
  bench_settle();
}

static void report_small(const bench_arrays_config *c, small *s, const anchor *py) {
  double cs = median(&s->cask), np = median(&s->numpy), ratio = cs / np;
  char b[3][24];
  fprintf(stderr, "%-8zu %9.2f %9.2f %9s %9s %7s %7s %4s\n", s->n, cs * 1e6, minimum(&s->cask) * 1e6,
          cell(b[0], "%.2f", np * 1e6), cell(b[1], "%.2f", minimum(&s->numpy) * 1e6),
          cell(b[2], "%.2f", ratio), "<=2", isnan(np) ? "-" : verdict(ratio <= TARGET_SMALL));
  printf("{\"bench\":\"array\",\"case\":\"%s\",\"n\":%zu,\"chunk\":%zu,\"threads\":%d,"
         "\"calls\":%zu,\"cask_s\":%.4g,\"cask_min_s\":%.4g",
         exprs[EXPR_MIXED], s->n, s->n, c->threads, s->cask.n, cs, minimum(&s->cask));
  json_anchor(py, BENCH_NUMPY, &s->numpy, cs);
  if (!isnan(np))
    printf(",\"anchor_threads\":1,\"target_ratio\":%.0f,\"pass\":%s", TARGET_SMALL,
           ratio <= TARGET_SMALL ? "true" : "false");
  printf("}\n");
  fflush(stdout);
}

/* cask and NumPy take turns in batches of SMALL_BATCH calls; the first
 * batch of each is a warm-up. */
static void run_small(const bench_arrays_config *c, cask_ctx *ctx) {
  static const size_t sizes[] = {1000, 2048};
  int calls = c->quick ? SMALL_CALLS_QUICK : SMALL_CALLS;
  anchor py = {0};
  py.py = bench_py_start(BENCH_PY_SMALL, (char *[]){(char *)exprs[EXPR_MIXED], NULL}, &py.mods);
  fprintf(stderr,
          "\n%s on small arrays (one chunk), latency per call in us (median of %d calls)\n",
          exprs[EXPR_MIXED], calls);
  note_missing(&py, BENCH_NUMPY);
  fprintf(stderr, "%-8s %9s %9s %9s %9s %7s %7s %4s\n", "n", "cask", "cask min", "numpy",
          "np min", "c/np", "target", "");
  for (int k = 0; k < 2; k++) {
    small s;
    small_init(&s, sizes[k], ctx);
    for (int done = -SMALL_BATCH; done < calls; done += SMALL_BATCH) {
      small_cask_turn(ctx, &s, SMALL_BATCH, (size_t)(done + SMALL_BATCH), done >= 0);
      small_py_turn(&py, &s, SMALL_BATCH, done >= 0);
    }
    check_all("small", s.out, s.n, EXPR_MIXED, 1);
    report_small(c, &s, &py);
    small_destroy(&s);
  }
  bench_py_stop(py.py);
}

void bench_arrays(const bench_arrays_config *c) {
  cask_options opts = CASK_OPTIONS_DEFAULTS;
  opts.threads = c->threads;
  cask_ctx *ctx;
  if (cask_ctx_new(&opts, &ctx)) bench_die("cask_ctx_new", "failed");
  run_flat(c, ctx);
  run_grid(c, ctx);
  run_small(c, ctx);
  cask_ctx_free(ctx);
}
