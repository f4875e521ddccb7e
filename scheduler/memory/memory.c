/* memory.c - the memory limit and what workers and the spill thread share:
 * parsing limits, the spill directory, a run's start and end, pins,
 * claiming room, dropping blocks and the task lists. See memory.h for the
 * slot protocol. */
#define _GNU_SOURCE /* mkdtemp */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "../run_state.h"

/* ---- limits ------------------------------------------------------------ */

/* The machine's memory as libuv sees it: the cgroup limit when it is set
 * and lower than the physical memory. */
static uint64_t machine_memory(void) {
  uint64_t total = uv_get_total_memory(), constrained = uv_get_constrained_memory();
  return constrained && constrained < total ? constrained : total;
}

static const struct {
  const char *name;
  double mult;
} units[] = {{"b", 1},      {"k", 1e3},   {"kb", 1e3},           {"kib", 1024.0},
             {"m", 1e6},    {"mb", 1e6},  {"mib", 1048576.0},    {"g", 1e9},
             {"gb", 1e9},   {"gib", 1073741824.0},               {"t", 1e12},
             {"tb", 1e12},  {"tib", 1099511627776.0}};

int cask_parse_memory_limit(const char *text, uint64_t *out) {
  if (!text || !out) return CASK_EINVAL;
  while (isspace((unsigned char)*text)) text++;
  if (!strcasecmp(text, "none") || !strcasecmp(text, "unlimited")) {
    *out = CASK_MEMORY_UNLIMITED;
    return CASK_OK;
  }
  if (!isdigit((unsigned char)*text) && *text != '.') return CASK_EINVAL;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || !isfinite(v) || v <= 0) return CASK_EINVAL;
  while (isspace((unsigned char)*end)) end++;
  double bytes;
  if (*end == '%' && !end[1]) {
    if (v > 100) return CASK_EINVAL;
    bytes = v / 100 * (double)machine_memory();
  } else if (!*end) {
    /* a bare number: a fraction of the machine up to 1, bytes above */
    bytes = v <= 1 ? v * (double)machine_memory() : v;
    if (v > 1 && v != floor(v)) return CASK_EINVAL;
  } else {
    size_t n = strlen(end);
    while (n && isspace((unsigned char)end[n - 1])) n--;
    double mult = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
      if (strlen(units[i].name) == n && !strncasecmp(end, units[i].name, n)) mult = units[i].mult;
    if (!mult) return CASK_EINVAL;
    bytes = v * mult;
  }
  if (bytes < 1 || bytes >= 9.2e18) return CASK_EINVAL;
  *out = (uint64_t)bytes;
  return CASK_OK;
}

int cask__memory_init(cask__memory *m, const cask_runtime_options *opts, char *err, size_t errcap) {
  memset(m, 0, sizeof *m);
  m->limit = opts ? opts->memory_limit : 0;
  const char *env = getenv("CASK_MEMORY_LIMIT");
  if (!m->limit && env && *env && cask_parse_memory_limit(env, &m->limit)) {
    cask__fmt(err, errcap, "CASK_MEMORY_LIMIT='%s' is not a memory limit (e.g. 1.5GiB, 800MB, 0.5, none)", env);
    return CASK_EINVAL;
  }
  if (!m->limit) m->limit = machine_memory() / 4 * 3;
  /* Spill well before the limit, down to well under it: writing takes time
   * and tasks go on producing meanwhile. */
  m->high = m->limit == CASK_MEMORY_UNLIMITED ? m->limit : m->limit / 10 * 8;
  m->low = m->limit == CASK_MEMORY_UNLIMITED ? m->limit : m->limit / 10 * 6;
  m->drop = opts ? opts->drop : CASK_DROP_DEFAULT;
  if ((unsigned)m->drop > CASK_DROP_NEVER) {
    cask__fmt(err, errcap, "drop policy %d is not a cask_drop_policy", (int)m->drop);
    return CASK_EINVAL;
  }
  const char *drop = getenv("CASK_DROP");
  if (m->drop == CASK_DROP_DEFAULT && drop && *drop) {
    static const char *const names[] = {"cost", "always", "never"};
    for (int i = 0; i < 3; i++)
      if (!strcasecmp(drop, names[i])) m->drop = (cask_drop_policy)(CASK_DROP_COST + i);
    if (m->drop == CASK_DROP_DEFAULT) {
      cask__fmt(err, errcap, "CASK_DROP='%s' is not a drop policy (cost, always or never)", drop);
      return CASK_EINVAL;
    }
  }
  if (m->drop == CASK_DROP_DEFAULT) m->drop = CASK_DROP_COST;
  const char *root = opts && opts->spill_dir ? opts->spill_dir : getenv("CASK_SPILL_DIR");
  if (!root || !*root) root = getenv("TMPDIR");
  if (!root || !*root) root = "/tmp";
  struct stat st;
  if (stat(root, &st) || !S_ISDIR(st.st_mode)) {
    cask__fmt(err, errcap, "the spill directory '%s' is not a directory", root);
    return CASK_EINVAL;
  }
  if (!(m->spill_root = cask__strdup(root))) return CASK_ENOMEM;
  if (uv_mutex_init(&m->mu)) goto fail_root;
  if (uv_cond_init(&m->idle_cv)) goto fail_mutex;
  return CASK_OK;
fail_mutex:
  uv_mutex_destroy(&m->mu);
fail_root:
  cask__free(m->spill_root);
  m->spill_root = NULL;
  return CASK_ETHREAD;
}

/* The spill thread and its loop start when a run first needs them (held
 * bytes pass the high-water mark): a runtime that never comes near its
 * limit never has them, nor their file descriptors. Under m->mu. */
static int start_thread(cask__memory *m) {
  if (uv_loop_init(&m->loop)) return CASK_ETHREAD;
  if (uv_async_init(&m->loop, &m->wake, cask__spill_wake)) goto fail_loop;
  m->wake.data = m;
  if (uv_timer_init(&m->loop, &m->retry)) goto fail_timer;
  m->retry.data = &m->wake;
  if (uv_thread_create(&m->thread, cask__spill_thread, m)) goto fail_async;
  atomic_store_explicit(&m->started, 1, memory_order_release);
  return CASK_OK;
fail_async:
  uv_close((uv_handle_t *)&m->retry, NULL);
fail_timer:
  uv_close((uv_handle_t *)&m->wake, NULL);
  uv_run(&m->loop, UV_RUN_DEFAULT);
fail_loop:
  uv_loop_close(&m->loop);
  return CASK_ETHREAD;
}

/* Remove the private directory and whatever a killed run left in it. */
static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        cask__fmt(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
      }
    closedir(d);
  }
  rmdir(dir);
}

void cask__memory_destroy(cask__memory *m) {
  if (!m->spill_root) return; /* never initialized */
  if (atomic_load(&m->started)) {
    cask__lock(&m->mu, CASK__LOCK_MEM);
    m->quit = 1;
    cask__unlock(&m->mu, CASK__LOCK_MEM);
    uv_async_send(&m->wake);
    uv_thread_join(&m->thread);
    uv_loop_close(&m->loop);
  }
  uv_cond_destroy(&m->idle_cv);
  uv_mutex_destroy(&m->mu);
  if (m->dir) remove_dir(m->dir);
  cask__free(m->dir);
  cask__free(m->spill_root);
  cask__free(m->waiting.v);
  cask__free(m->ready.v);
  cask__free(m->deletes.v);
  cask__free(m->pins);
  cask__free(m->trace);
  cask__free(m->cand);
  memset(m, 0, sizeof *m);
}

/* Make the private spill directory (on the spill thread, at the first
 * spill, so runs that never spill never touch the disk). */
int cask__memory_make_dir(cask__memory *m, char *err, size_t errcap) {
  if (m->dir) return CASK_OK;
  size_t n = strlen(m->spill_root) + 48;
  char *dir = cask__malloc(n);
  if (!dir) return CASK_ENOMEM;
  /* The PID in the name: a killed run's directory is recognised and
   * removed by the next run that spills here. */
  cask__remove_leftovers(m->spill_root, "cask-spill-");
  snprintf(dir, n, "%s/cask-spill-%ld-XXXXXX", m->spill_root, (long)getpid());
  if (!mkdtemp(dir)) {
    cask__fmt(err, errcap, "cannot make a spill directory in %s: %s", m->spill_root, strerror(errno));
    cask__free(dir);
    return CASK_EIO;
  }
  m->dir = dir;
  return CASK_OK;
}

/* ---- runs -------------------------------------------------------------- */

/* Whether a run needs the manager: only if its blocks could pass the point
 * where spilling starts (every size declared and their sum below it: no). */
static int may_spill(const cask__memory *m, const cask_graph *g) {
  if (m->limit == CASK_MEMORY_UNLIMITED) return 0;
  uint64_t sum = 0;
  for (size_t i = 0; i < g->ntasks; i++) {
    if (g->tasks[i].size < 0) return 1;
    sum += (uint64_t)g->tasks[i].size;
    if (sum > m->low) return 1;
  }
  return 0;
}

void cask__memory_begin(cask__memory *m, cask__run *r) {
  atomic_store(&m->spilled_bytes, 0);
  atomic_store(&m->spilled_blocks, 0);
  atomic_store(&m->loaded_bytes, 0);
  atomic_store(&m->loaded_blocks, 0);
  atomic_store(&m->io_ns, 0);
  atomic_store(&m->held_back, 0);
  atomic_store(&m->dropped_bytes, 0);
  atomic_store(&m->dropped_blocks, 0);
  atomic_store(&m->remade_bytes, 0);
  atomic_store(&m->remade_blocks, 0);
  atomic_store(&m->remake_ns, 0);
  atomic_store(&m->ondisk, 0);
  atomic_store(&m->spill_wanted, 0);
  atomic_store(&m->send_wait, 0);
  m->ntrace = 0;
  for (int i = 0; i < CASK__RATE_SLOTS; i++) {
    atomic_store(&m->rates[i].op, NULL);
    atomic_store(&m->rates[i].ns, 0);
    atomic_store(&m->rates[i].bytes, 0);
  }
  if (!may_spill(m, r->g)) return;
  r->mem = m;
  cask__lock(&m->mu, CASK__LOCK_MEM);
  m->run = r;
  m->waiting.n = m->ready.n = m->deletes.n = 0;
  atomic_store(&m->waiting.pub, 0);
  atomic_store(&m->ready.pub, 0);
  atomic_store(&m->deletes.pub, 0);
  cask__unlock(&m->mu, CASK__LOCK_MEM);
}

int cask__memory_end(cask__memory *m, cask__run *r, int failed) {
  if (r->mem != m) return CASK_OK;
  cask__lock(&m->mu, CASK__LOCK_MEM);
  m->run = NULL;
  while (m->busy) uv_cond_wait(&m->idle_cv, &m->mu);
  cask__unlock(&m->mu, CASK__LOCK_MEM);
  /* Now no thread but this one touches the slots. Outputs on disk come
   * back after a success; every spill file goes. */
  int rc = CASK_OK;
  for (size_t i = 0; r->spilled && i < r->g->ntasks; i++) {
    if (!r->spilled[i]) continue;
    if (!failed && !rc && (atomic_load(&r->slots[i].mem) & CASK__SLOT_STATE) == CASK__SLOT_DISK &&
        cask__spill_load(r, (uint32_t)i, 0, UINT64_MAX) != 1)
      rc = CASK_EIO;
    cask__spill_delete(r, (uint32_t)i);
  }
  cask__free(r->spilled);
  r->spilled = NULL;
  return rc;
}

/* ---- the workers' side ------------------------------------------------- */

void cask__memory_wake(cask__memory *m) {
  if (!atomic_load_explicit(&m->started, memory_order_acquire)) {
    cask__lock(&m->mu, CASK__LOCK_MEM);
    if (!atomic_load(&m->started) && start_thread(m) && m->run)
      cask__run_fail(m->run, CASK_ETHREAD, CASK__NO_TASK, "could not start the spill thread");
    cask__unlock(&m->mu, CASK__LOCK_MEM);
    if (!atomic_load(&m->started)) return;
  }
  uv_async_send(&m->wake);
}

/* Bytes move from reserved to held (a task's result, a block read back),
 * from reserved to the remote bytes (a receive's claim) and from the
 * remote bytes to held (a received block taken by its task), each counted
 * in at its destination before it is counted out of its source, the
 * count out a release. Read in that order, source before destination, each
 * read an acquire: a byte moving meanwhile is seen twice, never nowhere.
 * (Read held first and the remote bytes second, a received block taken
 * between the reads was missed, and the communication thread claimed its
 * room again: a receiver of tests/mpi/memory.c held a block or two over
 * its limit.) */
static int64_t counted(const cask__run *r, int64_t *reserved) {
  *reserved = atomic_load_explicit(&r->reserved, memory_order_acquire);
  /* blocks received or being sent (remote.h): not spillable, but held */
  int64_t n = r->remote ? atomic_load_explicit(&r->remote->bytes, memory_order_acquire) : 0;
  /* buffers kept for reuse are memory too (the spill thread frees them
   * first) */
  return n + atomic_load_explicit(&r->held_bytes, memory_order_acquire) + (int64_t)cask__pool_bytes();
}

uint64_t cask__memory_used(const cask__run *r) {
  int64_t reserved, used = counted(r, &reserved) + reserved;
  return used > 0 ? (uint64_t)used : 0;
}

uint64_t cask__memory_used_by_blocks(const cask__run *r) {
  uint64_t used = cask__memory_used(r), pool = cask__pool_bytes();
  return used > pool ? used - pool : 0;
}

int cask__memory_claim(cask__run *r, uint64_t bytes, uint64_t max_used) {
  int64_t res, held = counted(r, &res);
  for (;;) {
    if (held + res > 0 && (uint64_t)(held + res) + bytes > max_used) return 0;
    /* the CAS on `reserved` makes two claims see each other: no two
     * workers both take the last room */
    if (atomic_compare_exchange_weak_explicit(&r->reserved, &res, res + (int64_t)bytes, memory_order_acq_rel,
                                              memory_order_acquire))
      return 1;
    held = counted(r, &res); /* in the order counted() reads them */
  }
}

/* An input in CASK__SLOT_EMPTY produced no block (its producer ran, and the
 * state of a blockless slot never changes before its consumers are done):
 * nothing to pin, and its unpin is skipped the same way. */
static int pin(cask__run *r, uint32_t d) {
  atomic_uint *word = &r->slots[d].mem;
  unsigned cur = atomic_load_explicit(word, memory_order_relaxed);
  if (cur == CASK__SLOT_EMPTY) return 1;
  for (;;) {
    unsigned st = cur & CASK__SLOT_STATE;
    if (st != CASK__SLOT_EMPTY && st != CASK__SLOT_MEM && st != CASK__SLOT_WRITING) return 0;
    /* acquire: the block's contents and slot pointer, published with
     * release by whoever made it CASK__SLOT_MEM. */
    if (atomic_compare_exchange_weak_explicit(word, &cur, (cur + CASK__SLOT_PIN) & ~CASK__SLOT_PREFETCHED,
                                              memory_order_acquire, memory_order_relaxed))
      return 1;
  }
}

void cask__memory_pin_one(cask__run *r, uint32_t d) {
  (void)pin(r, d); /* the caller knows d is not on disk: it cannot fail */
}

void cask__memory_unpin(cask__run *r, uint32_t d) {
  atomic_uint *word = &r->slots[d].mem;
  if (atomic_load_explicit(word, memory_order_relaxed) == CASK__SLOT_EMPTY) return;
  unsigned old = atomic_fetch_sub_explicit(word, CASK__SLOT_PIN, memory_order_release);
  CASK__ASSERT(old >= CASK__SLOT_PIN); /* every unpin has its pin */
}

int cask__memory_pin_inputs(cask__run *r, uint32_t v) {
  const cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  for (uint32_t k = 0; k < t->ndeps; k++)
    if (!pin(r, g->dep_idx[t->deps_off + k])) {
      while (k-- > 0) cask__memory_unpin(r, g->dep_idx[t->deps_off + k]);
      return 0;
    }
  return 1;
}

/* A dead block's spill file goes on the spill thread: an unlink is a
 * system call a compute worker should not wait for. */
static void delete_later(cask__run *r, uint32_t d) {
  /* out of memory: the file stays until the end of the run */
  if (!cask__list_push(r->mem, &r->mem->deletes, d)) cask__memory_wake(r->mem);
}

void cask__memory_drop(cask__run *r, uint32_t d) {
  cask__memory *m = r->mem;
  atomic_uint *word = &r->slots[d].mem;
  unsigned cur = atomic_load_explicit(word, memory_order_acquire);
  for (;;) {
    unsigned st = cur & CASK__SLOT_STATE;
    if (st == CASK__SLOT_DEAD) return;
    /* being written or read: the spill thread finishes and frees it */
    unsigned next = st == CASK__SLOT_WRITING || st == CASK__SLOT_LOADING ? cur | CASK__SLOT_DROPPED : CASK__SLOT_DEAD;
    if (!atomic_compare_exchange_weak_explicit(word, &cur, next, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    if (next != CASK__SLOT_DEAD) return;
    /* past its last use no task reads it: nobody pins it */
    CASK__ASSERT(cur / CASK__SLOT_PIN == 0);
    if (st == CASK__SLOT_DISK) atomic_fetch_sub(&m->ondisk, 1);
    if (st == CASK__SLOT_DISK || (cur & CASK__SLOT_FILE)) delete_later(r, d);
    if (st == CASK__SLOT_DISK) return;
    cask_block *b = r->slots[d].out;
    r->slots[d].out = NULL;
    cask__account(r, b, -1);
    cask_block_release(b);
    if (atomic_load_explicit(&m->ondisk, memory_order_relaxed) > 0 && cask__memory_used_by_blocks(r) < m->low)
      cask__memory_wake(m); /* room to read spilled blocks back ahead of use */
    return;
  }
}

int cask__list_push(cask__memory *m, cask__task_list *l, uint32_t v) {
  cask__lock(&m->mu, CASK__LOCK_MEM);
  int rc = l->n == l->cap ? cask__grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v) : CASK_OK;
  if (!rc) {
    l->v[l->n++] = v;
    atomic_store(&l->pub, l->n);
  }
  cask__unlock(&m->mu, CASK__LOCK_MEM);
  return rc;
}

void cask_runtime_memory(const cask_runtime *rt, cask_memory_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!rt) return;
  cask_runtime *mrt = (cask_runtime *)rt; /* the lock, not the state, changes */
  const cask__memory *m = &rt->mem;
  out->limit = m->limit;
  out->spilled_bytes = atomic_load(&m->spilled_bytes);
  out->loaded_bytes = atomic_load(&m->loaded_bytes);
  cask__lock(&mrt->mu, CASK__LOCK_RT);
  if (rt->run) {
    int64_t held = atomic_load(&rt->run->held_bytes);
    out->held_bytes = held > 0 ? (uint64_t)held : 0;
    out->peak_bytes = (uint64_t)atomic_load(&rt->run->peak_bytes);
  } else {
    out->peak_bytes = atomic_load(&m->last_peak);
  }
  cask__unlock(&mrt->mu, CASK__LOCK_RT);
}
