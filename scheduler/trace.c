/* trace.c - Chrome trace-event JSON of a run (opens in Perfetto and
 * chrome://tracing): one complete event ("ph":"X") per task with its worker
 * as the thread, times in microseconds from the run's start, and one per
 * block the spill thread wrote or read back, on a thread of its own. Events are
 * kept per worker during the run (no sharing) and written after it. The
 * MPI executor takes each rank's events as text (cask__trace_events, the
 * rank as the process) and rank 0 writes them all in one file. */
#include <stdio.h>

#include "internal.h"

int cask__trace_record(cask__worker *w, uint32_t task, uint64_t start, uint64_t end) {
  if (cask__grow((void **)&w->trace, &w->trace_cap, w->ntrace + 1, sizeof *w->trace))
    return CASK_ENOMEM;
  w->trace[w->ntrace++] = (cask__trace_event){start, end, task};
  return CASK_OK;
}

typedef struct buf {
  char *p;
  size_t len, cap;
  int oom;
} buf;

static void put(buf *b, const char *s, size_t n) {
  if (b->oom || cask__grow((void **)&b->p, &b->cap, b->len + n + 1, 1)) {
    b->oom = 1;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void put_str(buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_json_string(buf *b, const char *s) {
  put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(b, e, 2);
    } else if (c < 0x20) {
      char e[8];
      snprintf(e, sizeof e, "\\u%04x", c);
      put(b, e, 6);
    } else {
      put(b, (const char *)&c, 1);
    }
  }
  put(b, "\"", 1);
}

/* The events of the run just over as JSON objects, each after ",\n"
 * (no header): thread names, then spill I/O, then tasks, all of process
 * `pid`, times in microseconds from t0. skip: per task, 1 = leave it out
 * (NULL: none). */
static void put_events(buf *b, cask_runtime *rt, const cask_graph *g, int pid, uint64_t t0) {
  char num[200];
  for (int i = 0; i < rt->nworkers; i++) {
    snprintf(num, sizeof num,
             ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"worker %d\"}}", pid, i,
             i);
    put_str(b, num);
  }
  if (rt->mem.ntrace) {
    snprintf(num, sizeof num,
             ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"spill I/O\"}}", pid,
             rt->nworkers);
    put_str(b, num);
  }
  for (size_t k = 0; k < rt->mem.ntrace; k++) {
    const cask__io_event *e = &rt->mem.trace[k];
    snprintf(num, sizeof num,
             ",\n{\"name\":\"%s\",\"cat\":\"spill\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,"
             "\"dur\":%.3f,\"args\":{\"task\":",
             e->loaded ? "read back" : "spill", pid, rt->nworkers, ((double)e->start_ns - (double)t0) / 1e3,
             (double)(e->end_ns - e->start_ns) / 1e3);
    put_str(b, num);
    put_json_string(b, cask__key(g, e->task));
    put_str(b, "}}");
  }
  for (int i = 0; i < rt->nworkers; i++) {
    const cask__worker *w = &rt->workers[i];
    for (size_t k = 0; k < w->ntrace; k++) {
      const cask__trace_event *e = &w->trace[k];
      put_str(b, ",\n{\"name\":");
      put_json_string(b, cask__key(g, e->task));
      put_str(b, ",\"cat\":");
      put_json_string(b, g->tasks[e->task].op->name);
      snprintf(num, sizeof num, ",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}", pid, i,
               ((double)e->start_ns - (double)t0) / 1e3, (double)(e->end_ns - e->start_ns) / 1e3);
      put_str(b, num);
    }
  }
}

int cask__trace_events(cask_runtime *rt, const cask_graph *g, int pid, uint64_t t0, char **out, size_t *len) {
  buf b = {0};
  put_str(&b, "");
  put_events(&b, rt, g, pid, t0);
  if (b.oom) {
    cask__free(b.p);
    return CASK_ENOMEM;
  }
  *out = b.p;
  *len = b.len;
  return CASK_OK;
}

void cask__trace_json_string(char **p, size_t *len, size_t *cap, const char *s, int *oom) {
  buf b = {*p, *len, *cap, *oom};
  put_json_string(&b, s);
  *p = b.p, *len = b.len, *cap = b.cap, *oom = b.oom;
}

int cask__trace_write(cask_runtime *rt, const cask_graph *g, const char *path, uint64_t t0,
                      char *err, size_t errcap) {
  buf b = {0};
  put_str(&b, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
  char *events = NULL;
  size_t n = 0;
  if (cask__trace_events(rt, g, 1, t0, &events, &n)) b.oom = 1;
  else if (n > 2) put(&b, events + 2, n - 2); /* the first without its ",\n" */
  cask__free(events);
  put_str(&b, "\n]}\n");
  if (b.oom) {
    cask__free(b.p);
    cask__fmt(err, errcap, "%s: out of memory building the trace", path);
    return CASK_ENOMEM;
  }
  int rc = cask__write_file_atomic(path, b.p, b.len, err, errcap);
  cask__free(b.p);
  return rc;
}
