/* progress.c - progress lines, the summary, and SIGINT to cancel.
 * The one thing to know: the task callbacks run on worker threads and only
 * touch atomics and their own worker's slot; everything that prints runs
 * on the progress thread or after the run. Time per op kind is the time
 * tasks took, summed over threads, grouped by the kind in their key
 * (its op, or the first word of its key for a fused chain). Memory
 * figures come from cask_runtime_memory, which any thread may read. */
#include "progress.h"

#include <pthread.h>
#include <sys/ioctl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_KINDS 64

struct progress {
  cask_runtime *rt;
  const cask_graph *g;
  atomic_int *interrupted;
  int show, tty, nworkers, nkinds;
  uint64_t total, t0, t_end; /* t_end: when the run returned */
  atomic_uint_fast64_t done;
  uint8_t *kind_of;   /* per task: its kind */
  uint64_t *start_ns; /* per worker: when its current task started */
  char kinds[MAX_KINDS][48];
  atomic_uint_fast64_t kind_ns[MAX_KINDS], kind_tasks[MAX_KINDS];
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stopping, started, canceled, drawing;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A task's kind: its op's name, or for a fused chain (op "cask.fused")
 * the first word of its key: "reduce (fused)". */
static int kind_index(progress *p, cask_task_id id) {
  char name[sizeof p->kinds[0]];
  const cask_op *op = cask_graph_op(p->g, id);
  if (op && strcmp(op->name, "cask.fused")) {
    snprintf(name, sizeof name, "%s", op->name);
  } else {
    const char *key = cask_graph_key(p->g, id);
    snprintf(name, sizeof name, "%.*s (fused)", (int)strcspn(key, "-"), key);
  }
  for (int k = 0; k < p->nkinds; k++)
    if (!strcmp(p->kinds[k], name)) return k;
  if (p->nkinds == MAX_KINDS) return MAX_KINDS - 1; /* the rest is counted with the last */
  memcpy(p->kinds[p->nkinds], name, sizeof name);
  return p->nkinds++;
}

static void on_start(void *user, const cask_graph *g, cask_task_id id, int worker) {
  progress *p = user;
  if (worker >= 0 && worker < p->nworkers) p->start_ns[worker] = now_ns();
}

static void on_finish(void *user, const cask_graph *g, cask_task_id id, int worker, int status) {
  progress *p = user;
  if (worker >= 0 && worker < p->nworkers && id < p->total) {
    int k = p->kind_of[id];
    atomic_fetch_add_explicit(&p->kind_ns[k], now_ns() - p->start_ns[worker], memory_order_relaxed);
    atomic_fetch_add_explicit(&p->kind_tasks[k], 1, memory_order_relaxed);
  }
  atomic_fetch_add_explicit(&p->done, 1, memory_order_relaxed);
  if (*p->interrupted) cask_runtime_cancel(p->rt);
}

static void fmt_duration(char *buf, size_t cap, double s) {
  if (s < 60) snprintf(buf, cap, "%.1fs", s);
  else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

/* Three significant digits: "812 B", "9.60 MiB", "1.25 GiB". */
static void fmt_bytes(char *buf, size_t cap, uint64_t b) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (b < 1024) {
    snprintf(buf, cap, "%llu B", (unsigned long long)b);
    return;
  }
  double v = (double)b / 1024;
  int u = 0;
  for (; v >= 1024 && u < 4; u++) v /= 1024;
  snprintf(buf, cap, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Held now (at the end: the run's peak) of the limit, and spilled:
 * "memory 180 MiB of 256 MiB, spilled 312 MiB", or on the bar, where room
 * is short, "mem 180/256 MiB  spilled 312 MiB". Without a limit nothing
 * is ever spilled: only what is held. */
static void fmt_memory(char *buf, size_t cap, const cask_runtime *rt, int final, int bar) {
  cask_memory_stats m;
  char held[32], limit[32], spilled[32];
  cask_runtime_memory(rt, &m);
  fmt_bytes(held, sizeof held, final ? m.peak_bytes : m.held_bytes);
  fmt_bytes(limit, sizeof limit, m.limit);
  fmt_bytes(spilled, sizeof spilled, m.spilled_bytes);
  const char *what = final ? "peak" : bar ? "mem" : "memory", *unit = strchr(held, ' ');
  if (m.limit == CASK_MEMORY_UNLIMITED) snprintf(buf, cap, "%s %s", what, held);
  else if (!bar) snprintf(buf, cap, "%s %s of %s, spilled %s", what, held, limit, spilled);
  else if (!strcmp(unit, strchr(limit, ' '))) /* one unit for both */
    snprintf(buf, cap, "%s %.*s/%s  spilled %s", what, (int)(unit - held), held, limit, spilled);
  else snprintf(buf, cap, "%s %s/%s  spilled %s", what, held, limit, spilled);
}

static int term_cols(void) {
  struct winsize ws;
  return ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20 ? ws.ws_col : 80;
}

static void draw(progress *p, int final) {
  if (!p->g) return; /* the graph is still being built */
  uint64_t done = atomic_load_explicit(&p->done, memory_order_relaxed);
  if (done > p->total) done = p->total;
  double el = (double)(now_ns() - p->t0) / 1e9, rate = el > 0 ? (double)done / el : 0;
  char elapsed[32], eta[32] = "?", mem[160];
  fmt_duration(elapsed, sizeof elapsed, el);
  if (rate > 0) fmt_duration(eta, sizeof eta, (double)(p->total - done) / rate);
  fmt_memory(mem, sizeof mem, p->rt, final, p->tty);
  double frac = p->total ? (double)done / (double)p->total : 1;
  if (p->tty) {
    /* one line that fits the terminal (a wrapped line defeats the \r): the
     * bar takes the room the text leaves, up to 30 columns */
    char text[320], bar[40] = "";
    int n = snprintf(text, sizeof text, "%llu/%llu tasks %3.0f%%  %.0f/s  %s  ETA %s  %s",
                     (unsigned long long)done, (unsigned long long)p->total, frac * 100, rate, elapsed, eta, mem);
    int cols = term_cols(), width = cols - 1 - n - 3;
    if (width > 30) width = 30;
    if (width >= 8) {
      bar[0] = '[';
      for (int k = 0; k < width; k++) bar[k + 1] = k < (int)(frac * width) ? '#' : '.';
      memcpy(bar + width + 1, "] ", 3);
    }
    fprintf(stderr, "\r%s%.*s\033[K%s", bar, cols - 1 - (int)strlen(bar), text, final ? "\n" : "");
  } else {
    fprintf(stderr, "cask: %llu/%llu tasks (%.0f%%), %.0f tasks/s, elapsed %s, ETA %s, %s\n", (unsigned long long)done,
            (unsigned long long)p->total, frac * 100, rate, elapsed, eta, mem);
  }
  fflush(stderr);
}

/* Draws every 200 ms on a terminal, every 5 s elsewhere; cancels the run
 * when SIGINT came (polled every 20 ms: a signal handler may not take the
 * runtime's locks; under mpirun, a rank's SIGTERM is followed by SIGKILL
 * about 160 ms later, and its outputs' temporaries must be gone by then). */
static void *watch(void *arg) {
  progress *p = arg;
  uint64_t every = p->tty ? 200000000u : 5000000000u, last = now_ns();
  pthread_mutex_lock(&p->mu);
  while (!p->stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    /* again every time: a cancel before the run started, or one an MPI
     * run forgot at its start (exec.c), would be lost */
    if (*p->interrupted) cask_runtime_cancel(p->rt);
    if (*p->interrupted && !p->canceled) {
      p->canceled = 1;
      fprintf(stderr, "%scask: interrupted: canceling the run (running tasks finish)\n", p->tty && p->show ? "\n" : "");
    }
    if (p->show && p->drawing && now_ns() - last >= every) {
      last = now_ns();
      draw(p, 0);
    }
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* The run's graph is known: its size and each task's kind (on the calling
 * thread, before any task starts). */
static void on_run_start(void *user, const cask_graph *g) {
  progress *p = user;
  size_t n = cask_graph_size(g);
  uint8_t *kind_of = calloc(n + 1, 1);
  pthread_mutex_lock(&p->mu);
  p->g = g;
  for (cask_task_id id = 0; kind_of && id < n; id++) kind_of[id] = (uint8_t)kind_index(p, id);
  /* a second run (cask_store counting a selection's elements first): the
   * bar starts again, the time per kind adds up */
  free(p->kind_of);
  atomic_store(&p->done, 0);
  p->kind_of = kind_of;
  p->total = kind_of ? n : 0; /* no memory: no kinds and no bar */
  p->t0 = now_ns();
  pthread_mutex_unlock(&p->mu);
}

progress *progress_start(cask_runtime *rt, int show, atomic_int *interrupted, cask_run_options *opts) {
  progress *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->rt = rt;
  p->show = show;
  p->tty = isatty(2);
  p->interrupted = interrupted;
  p->nworkers = cask_runtime_threads(rt);
  p->start_ns = calloc((size_t)p->nworkers + 1, sizeof *p->start_ns);
  if (!p->start_ns) {
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->t0 = now_ns();
  p->drawing = 1;
  p->started = pthread_create(&p->thread, NULL, watch, p) == 0;
  opts->on_task_start = on_start;
  opts->on_task_finish = on_finish;
  opts->on_run_start = on_run_start;
  opts->user = p;
  return p;
}

void progress_stop(progress *p) {
  if (!p || !p->started || !p->drawing) return;
  pthread_mutex_lock(&p->mu); /* the thread draws holding it */
  p->t_end = now_ns();
  p->drawing = 0;
  pthread_mutex_unlock(&p->mu);
  if (p->show && !*p->interrupted) draw(p, 1);
}

void progress_summary(const progress *p, const cask_run_stats *st) {
  char wall[32], peak[32], limit[64], spilled[32], loaded[32];
  fmt_duration(wall, sizeof wall, (double)((p->t_end ? p->t_end : now_ns()) - p->t0) / 1e9);
  fmt_bytes(peak, sizeof peak, st->peak_bytes);
  fmt_bytes(spilled, sizeof spilled, st->spilled_bytes);
  fmt_bytes(loaded, sizeof loaded, st->loaded_bytes);
  fmt_bytes(limit, sizeof limit, st->memory_limit);
  int calm = !st->spilled_bytes && !st->held_back && !st->dropped_blocks; /* the limit never acted */
  char of[80] = ", no limit";
  if (st->memory_limit != CASK_MEMORY_UNLIMITED) snprintf(of, sizeof of, " of the %s limit", limit);
  fprintf(stderr, "cask: done in %s: %llu tasks, peak memory %s%s (%llu blocks)%s\n", wall,
          (unsigned long long)st->tasks_run, peak, of, (unsigned long long)st->peak_blocks,
          calm ? ", nothing spilled" : "");
  if (!calm)
    fprintf(stderr,
            "cask: spilled %s (%llu blocks), read back %s (%llu blocks), spill I/O %.2f s, roots held back %llu "
            "time%s\n",
            spilled, (unsigned long long)st->spilled_blocks, loaded, (unsigned long long)st->loaded_blocks,
            (double)st->spill_io_ns / 1e9, (unsigned long long)st->held_back, st->held_back == 1 ? "" : "s");
  if (st->dropped_blocks) {
    char dropped[32], remade[32];
    fmt_bytes(dropped, sizeof dropped, st->dropped_bytes);
    fmt_bytes(remade, sizeof remade, st->remade_bytes);
    fprintf(stderr,
            "cask: dropped %s (%llu blocks) instead of spilling, made again from their sources %s (%llu blocks) "
            "in %.2f s\n",
            dropped, (unsigned long long)st->dropped_blocks, remade, (unsigned long long)st->remade_blocks,
            (double)st->remake_ns / 1e9);
  }
  /* what serializing libhdf5 and libnetcdf cost (their one lock) */
  cask_hdf5_lock_stats lk;
  cask_hdf5_lock_cost(&lk);
  if (lk.acquired)
    fprintf(stderr, "cask: HDF5/NetCDF calls: %llu under the lock, held %.3f s, waited %.3f s (%llu waits)\n",
            (unsigned long long)lk.acquired, (double)lk.held_ns / 1e9, (double)lk.wait_ns / 1e9,
            (unsigned long long)lk.contended);
  int order[MAX_KINDS];
  for (int k = 0; k < p->nkinds; k++) order[k] = k;
  for (int a = 1; a < p->nkinds; a++) /* by time, longest first */
    for (int b = a; b > 0 && p->kind_ns[order[b]] > p->kind_ns[order[b - 1]]; b--) {
      int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  fprintf(stderr, "cask: time per op kind (task time summed over threads):\n");
  for (int k = 0; k < p->nkinds; k++) {
    int i = order[k];
    fprintf(stderr, "  %-28s %10.3f s  %8llu tasks\n", p->kinds[i], (double)p->kind_ns[i] / 1e9,
            (unsigned long long)p->kind_tasks[i]);
  }
}

void progress_free(progress *p) {
  if (!p) return;
  progress_stop(p);
  if (p->started) {
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->kind_of);
  free(p->start_ns);
  free(p);
}
