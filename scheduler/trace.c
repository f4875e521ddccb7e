/* trace.c - Chrome trace-event JSON of a run (opens in Perfetto and
 * chrome://tracing): one complete event ("ph":"X") per task with its worker
 * as the thread, times in microseconds from the run's start, and one per
 * block the spill thread wrote or read back, on a thread of its own. Events are
 * kept per worker during the run (no sharing) and written after it. */
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

int cask__trace_write(cask_runtime *rt, const cask_graph *g, const char *path, uint64_t t0,
                      char *err, size_t errcap) {
  buf b = {0};
  put_str(&b, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
  int first = 1;
  char num[160];
  for (int i = 0; i < rt->nworkers; i++) {
    snprintf(num, sizeof num,
             "%s{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"worker %d\"}}",
             first ? "" : ",\n", i, i);
    put_str(&b, num);
    first = 0;
  }
  if (rt->mem.ntrace) {
    snprintf(num, sizeof num,
             ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"spill I/O\"}}",
             rt->nworkers);
    put_str(&b, num);
  }
  for (size_t k = 0; k < rt->mem.ntrace; k++) {
    const cask__io_event *e = &rt->mem.trace[k];
    snprintf(num, sizeof num,
             ",\n{\"name\":\"%s\",\"cat\":\"spill\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,"
             "\"dur\":%.3f,\"args\":{\"task\":",
             e->loaded ? "read back" : "spill", rt->nworkers, (double)(e->start_ns - t0) / 1e3,
             (double)(e->end_ns - e->start_ns) / 1e3);
    put_str(&b, num);
    put_json_string(&b, cask__key(g, e->task));
    put_str(&b, "}}");
  }
  for (int i = 0; i < rt->nworkers; i++) {
    const cask__worker *w = &rt->workers[i];
    for (size_t k = 0; k < w->ntrace; k++) {
      const cask__trace_event *e = &w->trace[k];
      put_str(&b, ",\n{\"name\":");
      put_json_string(&b, cask__key(g, e->task));
      put_str(&b, ",\"cat\":");
      put_json_string(&b, g->tasks[e->task].op->name);
      snprintf(num, sizeof num, ",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}", i,
               (double)(e->start_ns - t0) / 1e3, (double)(e->end_ns - e->start_ns) / 1e3);
      put_str(&b, num);
    }
  }
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
