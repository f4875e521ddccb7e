/* bench.h - what the files of cask-bench share: the four graph shapes, the
 * clock, task keys, and the per-file entry points.
 *
 * The one thing to know before editing: every timed function checks that
 * each task really ran (cask's run statistics, OpenMP's per-thread counters)
 * and exits the program if not, so a figure can never come from a run that
 * skipped its work. Figures are nanoseconds; callers take medians. */
#ifndef CASK_BENCH_H
#define CASK_BENCH_H

#include <cask/cask.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

typedef enum bench_shape {
  SHAPE_INDEPENDENT = 0, /* n tasks, no dependencies */
  SHAPE_CHAIN,           /* task i depends on task i-1 */
  SHAPE_TREE,            /* n/2 leaves reduced pairwise: n-1 tasks */
  SHAPE_WAVEFRONT,       /* s x s grid, s = floor(sqrt n): (i,j) after (i-1,j), (i,j-1) */
  SHAPE_COUNT
} bench_shape;

const char *bench_shape_name(bench_shape s);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int bench_shape_parse(const char *name, bench_shape *out);
/* Tasks the shape has at nominal size n (n >= 4). */
size_t bench_shape_tasks(bench_shape s, size_t n);
/* Dependency edges the shape has at nominal size n. */
size_t bench_shape_edges(bench_shape s, size_t n);
size_t bench_isqrt(size_t n);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);
/* Page faults the process took so far (every thread). */
uint64_t bench_page_faults(void);
/* Microseconds one page fault costs: first touch of fresh anonymous memory
 * (what growing a graph into new memory pays per 4 KiB). */
double bench_fault_us(void);
/* Nanoseconds of one trivial system call (getppid): what a futex wake or a
 * sched_yield costs at least. */
double bench_syscall_ns(void);
/* Median of n values (sorts v). */
double bench_median(double *v, size_t n);
/* Print "cask-bench: what: message" to stderr and exit(1). */
void bench_die(const char *what, const char *msg) __attribute__((noreturn));
void *bench_xmalloc(size_t n);
/* Sleep 20 ms: long enough for libgomp's spinning threads (about 2 ms after
 * a parallel region here) and cask's workers to go to sleep, so one
 * system's idle threads do not eat the other's cores in the next
 * measurement. */
void bench_settle(void);
/* Print ,"name":v for a JSON line (fmt for v), or ,"name":null if v is NaN. */
void bench_json_num(const char *name, const char *fmt, double v);

/* prefix + decimal i, NUL-terminated, into buf (room for prefix + 11);
 * returns the length. Hand-written because snprintf costs more than a
 * graph insert. */
static inline size_t bench_key(char *buf, const char *prefix, uint32_t i) {
  size_t n = 0;
  while (prefix[n]) {
    buf[n] = prefix[n];
    n++;
  }
  char digits[10];
  size_t d = 0;
  do {
    digits[d++] = (char)('0' + i % 10);
    i /= 10;
  } while (i);
  while (d) buf[n++] = digits[--d];
  buf[n] = '\0';
  return n;
}

/* ---- cask_shapes.c: the shapes as cask graphs ------------------------- */

/* Scratch the tree builders need (n/2 ids), allocated and touched before
 * timing starts so the bench's own memory is not what is measured. */
typedef struct bench_scratch {
  uint32_t *ids;
  size_t cap;
} bench_scratch;
void bench_scratch_init(bench_scratch *s, size_t n);
void bench_scratch_destroy(bench_scratch *s);

/* One timed repetition: build shape s (nominal size n) into g, which must be
 * empty, run it on rt, free the results. Returns the nanoseconds of build +
 * run + results free, and in *build_ns the part spent building; exits if a
 * call fails or a task did not run. */
uint64_t bench_cask_shape(cask_runtime *rt, cask_graph *g, bench_shape s, size_t n,
                          bench_scratch *scratch, uint64_t *build_ns);

/* ---- omp_shapes.c: the same shapes as OpenMP tasks -------------------- */

/* One timed repetition with `threads` OpenMP threads; the same exit rule. */
uint64_t bench_omp_shape(bench_shape s, size_t n, int threads, bench_scratch *scratch);

/* ---- optimize.c: build, validate, cull, fuse and order a big graph ---- */

typedef struct bench_opt_times {
  uint64_t build, validate, cull, fuse, order, total; /* ns */
  size_t tasks, after_cull, after_fuse;
  uint64_t faults; /* page faults taken during the timed phases */
} bench_opt_times;
/* The array-like graph of about `tasks` tasks (see optimize.c), built into g
 * (emptied first) and optimized pass by pass. */
void bench_optimize(cask_graph *g, size_t tasks, bench_opt_times *t);

/* ---- idle.c: CPU used by a runtime with nothing to do ----------------- */

/* Process CPU seconds (all threads, user + system). */
double bench_cpu_seconds(void);
/* Percent of one core the whole process used: with a fresh runtime, right
 * after a run, and during a run where one task sleeps and the other workers
 * have nothing to do. Each window lasts `seconds`. */
typedef struct bench_idle {
  double fresh_pct, after_run_pct, in_run_pct;
  double seconds;
} bench_idle;
void bench_idle_measure(int threads, double seconds, bench_idle *out);

/* ---- spawn.c: run a program, collect its standard output -------------- */

/* Run argv[0] with argv, wait, copy up to cap-1 bytes of its stdout into
 * buf (NUL-terminated). Returns the exit status, or -1 if it could not run
 * or was killed. */
int bench_spawn_read(char *const argv[], char *buf, size_t cap);
/* Start argv[0] with argv, its stdin fed from *to and its stdout read from
 * *from. Returns its pid, or -1 if it could not run. */
pid_t bench_spawn_pipes(char *const argv[], FILE **to, FILE **from);
/* Close both streams (the child sees end of input), wait for it; returns
 * its exit status, or -1 if it was killed. */
int bench_spawn_wait(pid_t pid, FILE *to, FILE *from);

/* ---- dask.c: the same optimize graph in Dask, if Dask is installed ---- */

typedef struct bench_dask {
  int available;
  size_t tasks, after_cull, after_fuse;
  double build_ms, cull_ms, fuse_ms, order_ms, total_ms;
  char version[32];
} bench_dask;
void bench_dask_optimize(size_t tasks, bench_dask *out);

/* ---- anchors.c: NumExpr, NumPy and dask.array in a Python child ------- */

enum { BENCH_NUMPY, BENCH_NUMEXPR, BENCH_DASK, BENCH_MODULES };
extern const char *const bench_module_names[BENCH_MODULES];
typedef enum bench_script {
  BENCH_PY_FLAT,  /* args: n threads expr0 expr1 idx...; commands: numexpr i,
                     numpy i (expression i), reduce k (a.sum, a.mean, a.std) */
  BENCH_PY_SMALL, /* args: expr; command: small n calls */
  BENCH_PY_DASK   /* args: n chunk threads; command: dask */
} bench_script;
#define BENCH_MAX_SAMPLES 8

typedef struct bench_py_modules {
  int have[BENCH_MODULES]; /* the module imported */
  char version[BENCH_MODULES][32];
  char missing[BENCH_MODULES][96]; /* if it did not, why */
} bench_py_modules;

/* What one command measured: the times of its calls in seconds (pointing
 * into the bench_py, valid until its next call), and what the last call
 * computed: a checksum (the sum of the result) or the scalar result, and
 * the result's values at the script's sample indices. */
typedef struct bench_py_result {
  double value, sample[BENCH_MAX_SAMPLES];
  int nsamples, ntimes;
  const double *times;
} bench_py_result;

typedef struct bench_py bench_py;
/* Start a script (args NULL-terminated); it builds its inputs and waits for
 * commands. NULL if python3 does not run or the script's main module does
 * not import (mods says which modules did and why not); exits the program
 * if the script fails otherwise. Free with bench_py_stop. */
bench_py *bench_py_start(bench_script s, char *const args[], bench_py_modules *mods);
/* Run one command; exits the program if the script fails. */
void bench_py_call(bench_py *p, const char *cmd, bench_py_result *res);
void bench_py_stop(bench_py *p); /* NULL is a no-op */

/* ---- arrays.c: chunked arrays beside NumExpr, NumPy and dask.array ---- */

typedef struct bench_arrays_config {
  int threads, quick, reps;
} bench_arrays_config;
void bench_arrays(const bench_arrays_config *c);

/* ---- memory.c: a memory limit and spilling beside dask ----------------- */

/* The three cases of issue 4, each system in a fresh child process. */
void bench_memory(const bench_arrays_config *c);
/* The child: cask-bench --memory-child expr source rows cols chunk_rows
 * threads limit (source: "random" or a Zarr store). */
int bench_memory_child(int argc, char **argv);

/* ---- beyond.c: larger than memory, in a memory cgroup ------------------- */

/* Runs bench/beyond.py, which runs every case in a cgroup. */
void bench_beyond(const bench_arrays_config *c);
/* The child: cask-bench --beyond-child threads limit chunk_rows expr x w
 * outputs... (see beyond.c). */
int bench_beyond_child(int argc, char **argv);
/* Runs bench/formats.py (issue 15: HDF5 and Zarr v3 beside dask over h5py). */
void bench_formats(const bench_arrays_config *c);
/* issue 14: sort and exact percentiles beside NumPy and dask (bench/order.py) */
void bench_order(const bench_arrays_config *c);
void bench_mpi(const bench_arrays_config *c);
void bench_select(const bench_arrays_config *c);
/* bench/decomp.py: TSQR and einsum (issue 14). */
void bench_decomp(const bench_arrays_config *c);

#endif
