/* omp_shapes.c - the four overhead shapes as OpenMP tasks (gcc's libgomp),
 * the yardstick for cask's figures.
 *
 * One thread creates every task inside `parallel` + `single`, in the same
 * order cask's builder adds them; the DAG shapes name their edges with
 * `depend` clauses on one byte per task. The task body calls a no-op
 * through a volatile function pointer (cask's "cask.noop" is also an
 * indirect call) and counts itself in a per-thread counter, so the body
 * cannot be optimized away and the counts prove that every task ran. */
#include <omp.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_THREADS 1024

typedef struct counter {
  alignas(64) uint64_t n;
} counter;

static counter counters[MAX_THREADS];
static char *flags; /* depend addresses: flags[i] stands for task i */
static size_t flags_cap;

__attribute__((noinline)) static void noop_body(void *arg) {
  (void)arg;
  __asm__ volatile("" ::: "memory");
}
static void (*volatile task_body)(void *) = noop_body;

static inline void body(void) {
  task_body(NULL);
  counters[omp_get_thread_num()].n++;
}

static void run_independent(size_t n, int threads) {
#pragma omp parallel num_threads(threads)
#pragma omp single
  for (size_t i = 0; i < n; i++) {
#pragma omp task
    body();
  }
}

static void run_chain(size_t n, int threads, char *a) {
#pragma omp parallel num_threads(threads)
#pragma omp single
  {
#pragma omp task depend(out : a[0])
    body();
    for (size_t i = 1; i < n; i++) {
#pragma omp task depend(in : a[i - 1]) depend(out : a[i])
      body();
    }
  }
}

/* The same tree as cask_shapes.c: leaves, then pairs level by level. */
static void run_tree(size_t n, int threads, char *a, uint32_t *cur) {
#pragma omp parallel num_threads(threads)
#pragma omp single
  {
    size_t m = n / 2;
    uint32_t next = 0;
    for (size_t i = 0; i < m; i++) {
      uint32_t k = next++;
#pragma omp task depend(out : a[k])
      body();
      cur[i] = k;
    }
    while (m > 1) {
      for (size_t j = 0; j + 1 < m; j += 2) {
        uint32_t l = cur[j], r = cur[j + 1], k = next++;
#pragma omp task depend(in : a[l], a[r]) depend(out : a[k])
        body();
        cur[j / 2] = k;
      }
      if (m % 2) cur[m / 2] = cur[m - 1];
      m = (m + 1) / 2;
    }
  }
}

static void run_wavefront(size_t n, int threads, char *a) {
  size_t side = bench_isqrt(n);
#pragma omp parallel num_threads(threads)
#pragma omp single
  for (size_t i = 0; i < side; i++)
    for (size_t j = 0; j < side; j++) {
      size_t k = i * side + j;
      if (i && j) {
#pragma omp task depend(in : a[k - side], a[k - 1]) depend(out : a[k])
        body();
      } else if (i) {
#pragma omp task depend(in : a[k - side]) depend(out : a[k])
        body();
      } else if (j) {
#pragma omp task depend(in : a[k - 1]) depend(out : a[k])
        body();
      } else {
#pragma omp task depend(out : a[k])
        body();
      }
    }
}

static uint64_t counted(int threads) {
  uint64_t sum = 0;
  for (int t = 0; t < threads; t++) sum += counters[t].n;
  return sum;
}

/* The depend bytes, faulted in before the clock starts. */
static char *flag_bytes(size_t n) {
  if (n > flags_cap) {
    free(flags);
    flags = bench_xmalloc(n);
    flags_cap = n;
  }
  memset(flags, 0, n);
  return flags;
}

uint64_t bench_omp_shape(bench_shape s, size_t n, int threads, bench_scratch *scratch) {
  if (threads > MAX_THREADS) bench_die("omp", "too many threads");
  size_t want = bench_shape_tasks(s, n);
  char *a = flag_bytes(want);
  for (int t = 0; t < MAX_THREADS; t++) counters[t].n = 0;
  uint64_t t0 = bench_now_ns();
  switch (s) {
  case SHAPE_INDEPENDENT:
    run_independent(n, threads);
    break;
  case SHAPE_CHAIN:
    run_chain(n, threads, a);
    break;
  case SHAPE_TREE:
    run_tree(n, threads, a, scratch->ids);
    break;
  default:
    run_wavefront(n, threads, a);
    break;
  }
  uint64_t t1 = bench_now_ns();
  if (counted(threads) != want) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %llu OpenMP tasks ran, expected %zu", bench_shape_name(s),
             (unsigned long long)counted(threads), want);
    bench_die("check", msg);
  }
  return t1 - t0;
}
