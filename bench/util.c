/* util.c - the small things every file of cask-bench uses: the shapes'
 * names and sizes, the clock, page-fault counts, medians, exiting with a
 * message, JSON numbers, the pause between measurements, and the two
 * machine costs that explain most figures here (a page
 * fault and a system call). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char *const shape_names[SHAPE_COUNT] = {"independent", "chain", "tree",
                                                     "wavefront"};

const char *bench_shape_name(bench_shape s) {
  return s < SHAPE_COUNT ? shape_names[s] : "?";
}

int bench_shape_parse(const char *name, bench_shape *out) {
  for (int s = 0; s < SHAPE_COUNT; s++)
    if (strcmp(name, shape_names[s]) == 0) {
      *out = (bench_shape)s;
      return 0;
    }
  return -1;
}

size_t bench_isqrt(size_t n) {
  size_t r = 0;
  while ((r + 1) * (r + 1) <= n) r++;
  return r;
}

size_t bench_shape_tasks(bench_shape s, size_t n) {
  switch (s) {
  case SHAPE_TREE:
    return 2 * (n / 2) - 1;
  case SHAPE_WAVEFRONT:
    return bench_isqrt(n) * bench_isqrt(n);
  default:
    return n;
  }
}

size_t bench_shape_edges(bench_shape s, size_t n) {
  size_t side = bench_isqrt(n);
  switch (s) {
  case SHAPE_CHAIN:
    return n - 1;
  case SHAPE_TREE:
    return 2 * (n / 2 - 1);
  case SHAPE_WAVEFRONT:
    return 2 * side * (side - 1);
  default:
    return 0;
  }
}

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_page_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (uint64_t)(ru.ru_minflt + ru.ru_majflt);
}

double bench_fault_us(void) {
  size_t len = (size_t)32 << 20, page = 4096;
  volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -1;
  uint64_t f0 = bench_page_faults(), t0 = bench_now_ns();
  for (size_t i = 0; i < len; i += page) p[i] = 1;
  uint64_t t1 = bench_now_ns(), faults = bench_page_faults() - f0;
  munmap((void *)p, len);
  return faults ? (double)(t1 - t0) / 1e3 / (double)faults : -1;
}

double bench_syscall_ns(void) {
  enum { N = 20000 };
  uint64_t t0 = bench_now_ns();
  for (int i = 0; i < N; i++) syscall(SYS_getppid);
  return (double)(bench_now_ns() - t0) / N;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_die(const char *what, const char *msg) {
  fprintf(stderr, "cask-bench: %s: %s\n", what, msg);
  exit(1);
}

void *bench_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) bench_die("malloc", "out of memory");
  return p;
}

void bench_settle(void) {
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

void bench_json_num(const char *name, const char *fmt, double v) {
  printf(",\"%s\":", name);
  if (isnan(v)) printf("null");
  else printf(fmt, v);
}
