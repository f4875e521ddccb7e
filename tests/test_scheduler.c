/* test_scheduler.c - the scheduler: the Chase-Lev deque and the parking
 * event count seen from inside (scheduler/internal.h), then cask_run seen
 * from outside: results, block lifetimes, failure, cancel, callbacks, the
 * trace, options, and the order one worker follows.
 *
 * The test ops make blocks with cask_block_wrap and a release callback that
 * counts them down, so a test can say how many blocks are alive at any
 * moment, also from inside a later task. Ops run on worker threads, where a
 * ck_assert would be unsafe: they report a surprise by failing the task,
 * which the test then sees as a failed run. Ops are registered as "test.*";
 * the registry is process-wide, so an op that exists (CK_FORK=no) is looked
 * up instead. The stress tests (deque, park) are meant for TSan; they scale
 * down under a sanitizer or with CASK_TEST_SCALE (a factor, e.g. 0.1). */
#include "test-util.h"
#include <check.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cask/cask.h"
#include "scheduler/internal.h"

/* ---- helpers ----------------------------------------------------------- */



/* n scaled by CASK_TEST_SCALE (default 1, or 0.2 under a sanitizer), at
 * least `floor`. */
static long scaled(long n, long floor) {
  const char *s = getenv("CASK_TEST_SCALE");
  double f = s && *s ? atof(s) : SANITIZED ? 0.2 : 1.0;
  long v = (long)((double)n * (f > 0 ? f : 1.0));
  return v < floor ? floor : v;
}

/* atomic_load as functions: a failed ck_assert then prints
 * "load_l(&live_blocks) == 1", not the expansion of atomic_load. */
static unsigned load_u(atomic_uint *p) { return atomic_load(p); }
static unsigned load_uc(atomic_uchar *p) { return atomic_load(p); }
static int load_i(atomic_int *p) { return atomic_load(p); }
static long load_l(atomic_long *p) { return atomic_load(p); }
static size_t load_z(atomic_size_t *p) { return atomic_load(p); }
static unsigned long load_ul(atomic_ulong *p) { return atomic_load(p); }
static uint64_t load_u64(atomic_uint_fast64_t *p) { return atomic_load(p); }

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *s, uint32_t n) { return n ? (uint32_t)(rng_next(s) % n) : 0; }

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Arguments of every test op. */
typedef struct targs {
  int64_t value;    /* test.sum: added to the inputs; test.fail: the code */
  int64_t sleep_us; /* sleep this long first */
  int64_t quiet;    /* test.fail: write no message of its own */
  int64_t probe;    /* record live_blocks at the start into probe_max */
} targs;

static atomic_long live_blocks; /* counted blocks not yet released */
static atomic_long probe_max = -1;

static void release_counted(void *user, void *data) {
  (void)user;
  free(data);
  atomic_fetch_sub(&live_blocks, 1);
}

static int make_counted(int64_t v, cask_block **out) {
  int64_t *p = malloc(sizeof *p);
  if (!p) return CASK_ENOMEM;
  *p = v;
  atomic_fetch_add(&live_blocks, 1);
  int rc = cask_block_wrap(p, CASK_I64, 0, NULL, release_counted, NULL, out);
  if (rc) release_counted(NULL, p);
  return rc;
}

static int64_t value_of(const cask_block *b) { return *(const int64_t *)cask_block_data(b); }

/* The value of an output; the test fails if it has none. */
static int64_t result_of(const cask_results *res, cask_task_id id) {
  const cask_block *b = cask_results_get(res, id);
  require(b != NULL, "task %u has no result", id);
  return value_of(b);
}

/* Read the arguments, sleep and probe: the prelude of every test op. */
static int begin(cask_task_io *io, targs *a) {
  if (io->args_len != sizeof *a) {
    snprintf(io->errmsg, io->errmsg_cap, "test op got %zu bytes of arguments", io->args_len);
    return CASK_EINVAL;
  }
  memcpy(a, io->args, sizeof *a);
  if (a->sleep_us) sleep_us(a->sleep_us);
  if (a->probe) {
    long live = atomic_load(&live_blocks), seen = atomic_load(&probe_max);
    while (live > seen && !atomic_compare_exchange_weak(&probe_max, &seen, live)) {
    }
  }
  return CASK_OK;
}

/* test.sum: value + the sum of the inputs, as a counted block. */
static int sum_run(cask_task_io *io) {
  targs a;
  int rc = begin(io, &a);
  if (rc) return rc;
  uint64_t v = (uint64_t)a.value; /* unsigned: long sums wrap, not overflow */
  for (size_t k = 0; k < io->ninputs; k++) {
    if (!io->inputs[k]) {
      snprintf(io->errmsg, io->errmsg_cap, "input %zu is missing", k);
      return CASK_EINVAL;
    }
    v += (uint64_t)value_of(io->inputs[k]);
  }
  return make_counted((int64_t)v, &io->output);
}

/* test.none: no value. */
static int none_run(cask_task_io *io) {
  targs a;
  return begin(io, &a);
}

/* test.fail: fails with code `value` and "disk on fire". */
static int fail_run(cask_task_io *io) {
  targs a;
  int rc = begin(io, &a);
  if (rc) return rc;
  if (!a.quiet) snprintf(io->errmsg, io->errmsg_cap, "disk on fire");
  return (int)a.value;
}

/* test.fail_messy: makes a block, fills the whole message buffer, then
 * fails with CASK_EIO: the scheduler must release the block and cut the
 * message to size. */
static int fail_messy_run(cask_task_io *io) {
  targs a;
  int rc = begin(io, &a);
  if (rc) return rc;
  rc = make_counted(1, &io->output);
  if (rc) return rc;
  memset(io->errmsg, 'm', io->errmsg_cap - 1);
  io->errmsg[io->errmsg_cap - 1] = '\0';
  return CASK_EIO;
}

static const cask_op *op_get(const char *name, int (*run)(cask_task_io *)) {
  const cask_op *op = cask_op_find(name);
  if (op) return op;
  cask_op def = {name, run, NULL, NULL, NULL, 0, 0};
  int rc = cask_op_register(&def, &op);
  require(rc == CASK_OK, "registering %s: %s", name, cask_err_name(rc));
  return op;
}

static const cask_op *op_sum(void) { return op_get("test.sum", sum_run); }
static const cask_op *op_none(void) { return op_get("test.none", none_run); }
static const cask_op *op_fail(void) { return op_get("test.fail", fail_run); }
static const cask_op *op_fail_messy(void) { return op_get("test.fail_messy", fail_messy_run); }

static cask_task_id add(cask_graph *g, const char *key, const cask_op *op, targs a,
                        const cask_task_id *deps, size_t ndeps) {
  cask_task_id id;
  int rc = cask_graph_add(g, key, op, &a, sizeof a, deps, ndeps, &id);
  require(rc == CASK_OK, "adding '%s': %s: %s", key, cask_err_name(rc), cask_graph_errmsg(g));
  return id;
}

static cask_task_id add_sum(cask_graph *g, const char *key, int64_t value, const cask_task_id *deps,
                            size_t ndeps) {
  return add(g, key, op_sum(), (targs){value, 0, 0, 0}, deps, ndeps);
}

static cask_graph *new_graph(void) {
  cask_graph *g = NULL;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  return g;
}

static cask_runtime *new_runtime(int threads) {
  cask_runtime_options o = CASK_RUNTIME_OPTIONS_DEFAULTS;
  o.threads = threads;
  cask_runtime *rt = NULL;
  int rc = cask_runtime_new(&o, &rt);
  require(rc == CASK_OK, "cask_runtime_new(%d): %s", threads, cask_err_name(rc));
  ck_assert_int_eq(cask_runtime_threads(rt), threads);
  return rt;
}

static void assert_run_ok(int rc, cask_runtime *rt) {
  require(rc == CASK_OK, "cask_run: %s: %s", cask_err_name(rc), cask_runtime_errmsg(rt));
}

static void assert_contains(const char *hay, const char *needle) {
  require(strstr(hay, needle) != NULL, "\"%s\" does not contain \"%s\"", hay, needle);
}

/* What the callbacks saw, per task id; seq numbers come from one clock, so
 * "finished before started" can be compared across tasks. */
typedef struct recorder {
  size_t n;
  int nworkers;
  const cask_graph *g;
  atomic_uint *starts, *finishes;
  atomic_ulong *start_seq, *finish_seq;
  atomic_int *status;
  atomic_ulong clock;
  atomic_uint *order; /* ids in start order */
  atomic_size_t norder;
  atomic_int bad_worker, bad_graph;
  pthread_t caller;
  atomic_int off_caller; /* a callback ran on another thread than caller */
  /* test hooks */
  cask_runtime *rt;
  unsigned cancel_at; /* cancel when this many tasks started (0: never) */
  cask_graph *nested; /* run it from the first start callback */
  atomic_int nested_rc;
  atomic_int nested_out_null;
} recorder;

static void recorder_init(recorder *r, const cask_graph *g, int nworkers) {
  memset(r, 0, sizeof *r);
  r->n = cask_graph_size(g);
  r->nworkers = nworkers;
  r->g = g;
  size_t n = r->n ? r->n : 1;
  r->starts = calloc(n, sizeof *r->starts);
  r->finishes = calloc(n, sizeof *r->finishes);
  r->start_seq = calloc(n, sizeof *r->start_seq);
  r->finish_seq = calloc(n, sizeof *r->finish_seq);
  r->status = calloc(n, sizeof *r->status);
  r->order = calloc(n, sizeof *r->order);
  ck_assert(r->starts && r->finishes && r->start_seq && r->finish_seq && r->status && r->order);
  r->caller = pthread_self();
  atomic_store(&r->nested_rc, 1);
}

static void recorder_destroy(recorder *r) {
  free(r->starts);
  free(r->finishes);
  free(r->start_seq);
  free(r->finish_seq);
  free(r->status);
  free(r->order);
}

static void on_start(void *user, const cask_graph *g, cask_task_id id, int worker) {
  recorder *r = user;
  if (g != r->g || id >= r->n) {
    atomic_store(&r->bad_graph, 1);
    return;
  }
  if (worker < 0 || worker >= r->nworkers) atomic_store(&r->bad_worker, 1);
  if (!pthread_equal(pthread_self(), r->caller)) atomic_store(&r->off_caller, 1);
  atomic_fetch_add(&r->starts[id], 1);
  atomic_store(&r->start_seq[id], atomic_fetch_add(&r->clock, 1) + 1);
  size_t k = atomic_fetch_add(&r->norder, 1);
  if (k < r->n) atomic_store(&r->order[k], id);
  if (r->cancel_at && k + 1 == r->cancel_at) cask_runtime_cancel(r->rt);
  if (r->nested && k == 0) {
    cask_results *out = (cask_results *)&out; /* must be set to NULL */
    atomic_store(&r->nested_rc, cask_run(r->rt, r->nested, NULL, &out));
    atomic_store(&r->nested_out_null, out == NULL);
  }
}

static void on_finish(void *user, const cask_graph *g, cask_task_id id, int worker, int status) {
  recorder *r = user;
  if (g != r->g || id >= r->n) {
    atomic_store(&r->bad_graph, 1);
    return;
  }
  if (worker < 0 || worker >= r->nworkers) atomic_store(&r->bad_worker, 1);
  atomic_fetch_add(&r->finishes[id], 1);
  atomic_store(&r->finish_seq[id], atomic_fetch_add(&r->clock, 1) + 1);
  atomic_store(&r->status[id], status);
}

static cask_run_options recorder_options(recorder *r) {
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.on_task_start = on_start;
  o.on_task_finish = on_finish;
  o.user = r;
  return o;
}

/* A random DAG of test.sum tasks "r<i>": task i depends on up to 3 of the
 * 20 tasks before it (duplicates allowed); about one task in 8 is an
 * output. want[i] receives the value task i computes. */
static void random_sum_dag(cask_graph *g, uint64_t *rng, size_t n, int64_t *want) {
  char key[32];
  for (size_t i = 0; i < n; i++) {
    cask_task_id deps[3];
    size_t nd = i ? rng_below(rng, 4) : 0;
    int64_t v = (int64_t)rng_below(rng, 1000);
    uint64_t sum = (uint64_t)v; /* wraps like test.sum */
    for (size_t k = 0; k < nd; k++) {
      size_t lo = i > 20 ? i - 20 : 0;
      deps[k] = (cask_task_id)(lo + rng_below(rng, (uint32_t)(i - lo)));
      sum += (uint64_t)want[deps[k]];
    }
    snprintf(key, sizeof key, "r%zu", i);
    cask_task_id id = add_sum(g, key, v, deps, nd);
    ck_assert_uint_eq(id, i);
    want[i] = (int64_t)sum;
    if (rng_below(rng, 8) == 0) ck_assert_int_eq(cask_graph_set_output(g, id, 1), CASK_OK);
  }
}

/* ---- the deque --------------------------------------------------------- */

START_TEST(deque_owner_pop_is_lifo_and_steal_is_fifo) {
  cask__deque d;
  ck_assert_int_eq(cask__deque_init(&d, 8), CASK_OK);
  ck_assert_uint_eq(cask__deque_pop(&d), CASK__DEQUE_EMPTY);
  ck_assert_uint_eq(cask__deque_steal(&d), CASK__DEQUE_EMPTY);
  ck_assert(!cask__deque_maybe_nonempty(&d));
  for (uint32_t v = 1; v <= 5; v++) ck_assert_int_eq(cask__deque_push(&d, v), CASK_OK);
  ck_assert(cask__deque_maybe_nonempty(&d));
  ck_assert_uint_eq(cask__deque_pop(&d), 5);
  ck_assert_uint_eq(cask__deque_steal(&d), 1);
  ck_assert_uint_eq(cask__deque_steal(&d), 2);
  ck_assert_uint_eq(cask__deque_pop(&d), 4);
  ck_assert_uint_eq(cask__deque_pop(&d), 3);
  ck_assert_uint_eq(cask__deque_pop(&d), CASK__DEQUE_EMPTY);
  ck_assert_uint_eq(cask__deque_steal(&d), CASK__DEQUE_EMPTY);
  ck_assert(!cask__deque_maybe_nonempty(&d));
  /* Usable again after running empty, from both ends. */
  ck_assert_int_eq(cask__deque_push(&d, 7), CASK_OK);
  ck_assert_uint_eq(cask__deque_steal(&d), 7);
  ck_assert_uint_eq(cask__deque_pop(&d), CASK__DEQUE_EMPTY);
  ck_assert_int_eq(cask__deque_push(&d, 8), CASK_OK);
  ck_assert_uint_eq(cask__deque_pop(&d), 8);
  ck_assert_uint_eq(cask__deque_steal(&d), CASK__DEQUE_EMPTY);
  cask__deque_destroy(&d);
}
END_TEST

START_TEST(deque_grows_past_initial_capacity) {
  enum { N = 10000 };
  cask__deque d;
  ck_assert_int_eq(cask__deque_init(&d, 2), CASK_OK);
  for (uint32_t v = 0; v < N; v++) require(cask__deque_push(&d, v) == CASK_OK, "push %u", v);
  cask__ring *ring = atomic_load(&d.ring);
  ck_assert_int_ge(ring->cap, N);
  for (uint32_t v = 0; v < N / 2; v++) {
    uint32_t got = cask__deque_steal(&d);
    require(got == v, "steal %u gave %u", v, got);
  }
  for (uint32_t v = N; v-- > N / 2;) {
    uint32_t got = cask__deque_pop(&d);
    require(got == v, "pop %u gave %u", v, got);
  }
  ck_assert_uint_eq(cask__deque_pop(&d), CASK__DEQUE_EMPTY);
  /* Reset frees the retired rings and keeps the big one. */
  cask__deque_reset(&d);
  ring = atomic_load(&d.ring);
  ck_assert_ptr_null(ring->retired);
  for (uint32_t v = 0; v < 3000; v++) require(cask__deque_push(&d, v) == CASK_OK, "push %u", v);
  for (uint32_t v = 3000; v-- > 0;) {
    uint32_t got = cask__deque_pop(&d);
    require(got == v, "pop %u after reset gave %u", v, got);
  }
  ck_assert_uint_eq(cask__deque_steal(&d), CASK__DEQUE_EMPTY);
  cask__deque_destroy(&d);
}
END_TEST

START_TEST(deque_wraps_around_without_growing) {
  cask__deque d;
  ck_assert_int_eq(cask__deque_init(&d, 4), CASK_OK);
  cask__ring *first = atomic_load(&d.ring);
  uint32_t next_in = 0, next_out = 0;
  for (int round = 0; round < 10000; round++) {
    require(cask__deque_push(&d, next_in++) == CASK_OK, "push");
    require(cask__deque_push(&d, next_in++) == CASK_OK, "push");
    for (int k = 0; k < 2; k++, next_out++) {
      uint32_t got = cask__deque_steal(&d);
      require(got == next_out, "steal %u gave %u", next_out, got);
    }
  }
  cask__ring *now = atomic_load(&d.ring);
  ck_assert_ptr_eq(now, first);
  ck_assert_uint_eq(cask__deque_steal(&d), CASK__DEQUE_EMPTY);
  cask__deque_destroy(&d);
}
END_TEST

typedef struct stress {
  cask__deque d;
  uint32_t nitems;
  atomic_uchar *seen;
  atomic_int done;
  atomic_long stolen, bogus;
} stress;

static void stress_take(stress *s, uint32_t v) {
  if (v >= s->nitems)
    atomic_fetch_add(&s->bogus, 1);
  else
    atomic_fetch_add(&s->seen[v], 1);
}

static void *stress_thief(void *arg) {
  stress *s = arg;
  for (;;) {
    /* done is read before the steal: once it is set the owner has emptied
     * the deque, so an empty steal after it means nothing is left. */
    int done = atomic_load(&s->done);
    uint32_t v = cask__deque_steal(&s->d);
    if (v == CASK__DEQUE_ABORT) continue;
    if (v == CASK__DEQUE_EMPTY) {
      if (done) return NULL;
      sched_yield();
      continue;
    }
    stress_take(s, v);
    atomic_fetch_add(&s->stolen, 1);
  }
}

/* One owner and three thieves share a deque that starts at `cap` slots;
 * every item must be taken exactly once. */
static void deque_stress(uint64_t seed, int64_t cap, uint32_t nitems) {
  stress s;
  memset(&s, 0, sizeof s);
  s.nitems = nitems;
  s.seen = calloc(s.nitems, sizeof *s.seen);
  ck_assert_ptr_nonnull(s.seen);
  ck_assert_int_eq(cask__deque_init(&s.d, cap), CASK_OK);
  pthread_t thieves[3];
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(pthread_create(&thieves[i], NULL, stress_thief, &s), 0);
  uint64_t rng = seed;
  uint32_t pushed = 0;
  while (pushed < s.nitems) {
    /* Bursts of pushes, then some pops; a quarter of the time one push
     * and one pop, so the owner and the thieves race for the last item. */
    int tight = rng_below(&rng, 4) == 0;
    uint32_t burst = tight ? 1 : 1 + rng_below(&rng, 256);
    for (uint32_t k = 0; k < burst && pushed < s.nitems; k++)
      require(cask__deque_push(&s.d, pushed++) == CASK_OK, "push %u", pushed - 1);
    for (uint32_t pops = tight ? 1 : rng_below(&rng, burst + 1); pops > 0; pops--) {
      uint32_t v = cask__deque_pop(&s.d);
      if (v == CASK__DEQUE_EMPTY) break;
      stress_take(&s, v);
    }
  }
  for (uint32_t v; (v = cask__deque_pop(&s.d)) != CASK__DEQUE_EMPTY;) stress_take(&s, v);
  atomic_store(&s.done, 1);
  for (int i = 0; i < 3; i++) pthread_join(thieves[i], NULL);
  require(load_l(&s.bogus) == 0, "seed %llu: %ld items that were never pushed were taken",
          (unsigned long long)seed, load_l(&s.bogus));
  for (uint32_t v = 0; v < s.nitems; v++)
    require(load_uc(&s.seen[v]) == 1, "seed %llu, ring of %lld: item %u taken %u times",
            (unsigned long long)seed, (long long)cap, v, load_uc(&s.seen[v]));
  require(load_l(&s.stolen) > 0, "seed %llu: the thieves never stole: the test tested nothing",
          (unsigned long long)seed);
  cask__deque_destroy(&s.d);
  free(s.seen);
}

START_TEST(deque_concurrent_steals_take_every_item_exactly_once) {
  /* Small rings grow while thieves read them; a large one never grows. */
  uint32_t n = (uint32_t)scaled(1000000, 20000);
  deque_stress(42, 16, n);
  deque_stress(43, 2, n);
  deque_stress(44, 1 << 16, n);
  deque_stress(45, 64, n);
}
END_TEST

/* ---- parking ----------------------------------------------------------- */

typedef struct pingpong {
  cask__park park;
  atomic_long items; /* published, not yet taken */
  atomic_long consumed;
  long total;
  atomic_long sleeps; /* commits: how often a consumer really slept */
} pingpong;

static int take_item(pingpong *p) {
  long n = atomic_load(&p->items);
  while (n > 0 && !atomic_compare_exchange_weak(&p->items, &n, n - 1)) {
  }
  return n > 0;
}

static void *park_consumer(void *arg) {
  pingpong *p = arg;
  while (atomic_load(&p->consumed) < p->total) {
    if (take_item(p)) {
      atomic_fetch_add(&p->consumed, 1);
      continue;
    }
    /* The two-phase wait of park.h: announce, look again, then sleep. */
    uint64_t epoch = cask__park_prepare(&p->park);
    if (atomic_load(&p->items) > 0 || atomic_load(&p->consumed) >= p->total) {
      cask__park_cancel(&p->park);
      continue;
    }
    atomic_fetch_add(&p->sleeps, 1);
    cask__park_commit(&p->park, epoch);
  }
  /* Wake the other consumers so they see the end. */
  cask__park_notify(&p->park, 1);
  return NULL;
}

/* Publish `total` items one by one (in random bursts), each followed by a
 * notify of one sleeper, waiting for each burst to be consumed. A lost
 * wake-up leaves an item and every consumer asleep: the wait times out and
 * the test fails instead of hanging. */
static void park_round_trip(int nconsumers, long total) {
  pingpong p;
  memset(&p, 0, sizeof p);
  p.total = total;
  ck_assert_int_eq(cask__park_init(&p.park), CASK_OK);
  pthread_t th[4];
  for (int i = 0; i < nconsumers; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, park_consumer, &p), 0);
  uint64_t rng = 7;
  long produced = 0;
  while (produced < total) {
    long burst = nconsumers == 1 ? 1 : 1 + rng_below(&rng, 4);
    /* A random pause, so that over many rounds the publish lands at every
     * point of a consumer's prepare / look again / commit sequence. */
    for (volatile uint32_t spin = rng_below(&rng, 300); spin > 0; spin--) {
    }
    for (long k = 0; k < burst && produced < total; k++, produced++) {
      atomic_fetch_add(&p.items, 1);
      cask__park_notify(&p.park, 0);
    }
    /* Spin (the next publish then comes right after a consumer took the
     * last item, when it is about to park), yielding now and then. */
    double deadline = now_s() + 10;
    for (unsigned spins = 1; atomic_load(&p.consumed) < produced; spins++) {
      if (spins % 1024) continue;
      require(now_s() < deadline,
              "lost wake-up: item %ld of %ld not consumed after 10 s (%d consumers)", produced,
              total, nconsumers);
      sched_yield();
    }
  }
  for (int i = 0; i < nconsumers; i++) pthread_join(th[i], NULL);
  ck_assert_int_eq(load_l(&p.consumed), total);
  /* The consumers must really have slept, or the test tested nothing. */
  require(atomic_load(&p.sleeps) > 0, "no consumer ever parked");
  ck_assert_int_eq(load_i(&p.park.waiters), 0);
  cask__park_destroy(&p.park);
}

START_TEST(park_no_lost_wakeup_one_sleeper) { park_round_trip(1, scaled(100000, 5000)); }
END_TEST

START_TEST(park_no_lost_wakeup_many_sleepers) { park_round_trip(3, scaled(100000, 5000)); }
END_TEST

START_TEST(park_notify_without_sleepers_does_nothing) {
  cask__park p;
  ck_assert_int_eq(cask__park_init(&p), CASK_OK);
  cask__park_notify(&p, 0);
  cask__park_notify(&p, 1);
  ck_assert_uint_eq(load_u64(&p.epoch), 0);
  /* prepare + cancel leaves no waiter behind; a notify between prepare and
   * commit makes the commit return at once. */
  uint64_t e = cask__park_prepare(&p);
  cask__park_cancel(&p);
  ck_assert_int_eq(load_i(&p.waiters), 0);
  e = cask__park_prepare(&p);
  cask__park_notify(&p, 0);
  cask__park_commit(&p, e);
  ck_assert_int_eq(load_i(&p.waiters), 0);
  ck_assert_uint_eq(load_u64(&p.epoch), e + 1);
  cask__park_destroy(&p);
}
END_TEST

/* ---- results and block lifetimes -------------------------------------- */

START_TEST(run_returns_outputs_and_frees_intermediate_blocks) {
  cask_graph *g = new_graph();
  cask_task_id a = add_sum(g, "a", 1, NULL, 0);
  cask_task_id b = add_sum(g, "b", 2, NULL, 0);
  cask_task_id c = add_sum(g, "c", 3, NULL, 0);
  cask_task_id ab = add_sum(g, "ab", 10, (cask_task_id[]){a, b}, 2);
  cask_task_id bc = add_sum(g, "bc", 20, (cask_task_id[]){b, c}, 2);
  cask_task_id out1 = add_sum(g, "out1", 0, (cask_task_id[]){ab, bc}, 2);
  cask_task_id out2 = add_sum(g, "out2", 100, &c, 1);
  add_sum(g, "x", 1000, &out1, 1); /* a sink, not an output: freed after it ran */
  ck_assert_int_eq(cask_graph_set_output(g, out1, 1), CASK_OK);
  ck_assert_int_eq(cask_graph_set_output(g, out2, 1), CASK_OK);
  cask_runtime *rt = new_runtime(4);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_ptr_nonnull(res);
  /* Only the two outputs are alive. */
  ck_assert_int_eq(load_l(&live_blocks), 2);
  ck_assert_int_eq(result_of(res, out1), 13 + 25);
  ck_assert_int_eq(result_of(res, out2), 103);
  ck_assert_ptr_eq(cask_results_get_key(res, "out1"), cask_results_get(res, out1));
  for (cask_task_id t = 0; t < cask_graph_size(g); t++)
    if (t != out1 && t != out2) ck_assert_ptr_null(cask_results_get(res, t));
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  ck_assert_uint_eq(st.tasks_run, 8);
  ck_assert_uint_ge(st.peak_blocks, 2);
  ck_assert_uint_le(st.peak_blocks, 8);
  ck_assert_uint_ge(st.peak_bytes, 2 * sizeof(int64_t));
  /* A retained output outlives the results. */
  cask_block *kept = cask_block_retain(cask_results_get(res, out2));
  cask_results_free(res);
  ck_assert_int_eq(load_l(&live_blocks), 1);
  ck_assert_int_eq(value_of(kept), 103);
  cask_block_release(kept);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

START_TEST(run_without_outputs_returns_the_sinks) {
  cask_graph *g = new_graph();
  cask_task_id a = add_sum(g, "a", 1, NULL, 0);
  cask_task_id s1 = add_sum(g, "s1", 10, &a, 1);
  cask_task_id s2 = add_sum(g, "s2", 20, &a, 1);
  cask_task_id lone = add_sum(g, "lone", 5, NULL, 0);
  cask_runtime *rt = new_runtime(2);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(load_l(&live_blocks), 3);
  ck_assert_ptr_null(cask_results_get(res, a));
  ck_assert_int_eq(result_of(res, s1), 11);
  ck_assert_int_eq(result_of(res, s2), 21);
  ck_assert_int_eq(result_of(res, lone), 5);
  cask_results_free(res);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

START_TEST(blocks_are_freed_after_last_consumer) {
  /* p feeds 64 consumers that make no value; `later` depends on every
   * consumer, so it starts only after all of them ran. By then p's block
   * must be gone: the probe in `later` sees 0 live blocks. A scheduler that
   * kept blocks until the end of the run would show 1. */
  for (int threads = 1; threads <= 4; threads *= 4) {
    cask_graph *g = new_graph();
    cask_task_id p = add_sum(g, "p", 7, NULL, 0);
    cask_task_id cons[64];
    char key[32];
    for (int i = 0; i < 64; i++) {
      snprintf(key, sizeof key, "consumer-%d", i);
      cons[i] = add(g, key, op_none(), (targs){0, 100, 0, 0}, &p, 1);
    }
    cask_task_id later = add(g, "later", op_none(), (targs){0, 0, 0, 1}, cons, 64);
    ck_assert_int_eq(cask_graph_set_output(g, later, 1), CASK_OK);
    atomic_store(&probe_max, -1);
    cask_runtime *rt = new_runtime(threads);
    cask_results *res = NULL;
    assert_run_ok(cask_run(rt, g, NULL, &res), rt);
    require(load_l(&probe_max) == 0,
            "%d threads: %ld blocks alive when the task after p's last consumer started", threads,
            atomic_load(&probe_max));
    ck_assert_ptr_null(cask_results_get(res, later)); /* it made no value */
    cask_run_stats st;
    cask_runtime_last_stats(rt, &st);
    ck_assert_uint_eq(st.peak_blocks, 1);
    ck_assert_uint_eq(st.tasks_run, 66);
    cask_results_free(res);
    ck_assert_int_eq(load_l(&live_blocks), 0);
    cask_runtime_free(rt);
    cask_graph_free(g);
  }
}
END_TEST

START_TEST(chain_holds_one_block_between_tasks) {
  /* In a chain each task's input is released as soon as it ran: when a
   * task starts, only its input is alive. */
  cask_graph *g = new_graph();
  cask_task_id prev = add_sum(g, "link-0", 1, NULL, 0);
  char key[32];
  for (int i = 1; i < 200; i++) {
    snprintf(key, sizeof key, "link-%d", i);
    prev = add(g, key, op_sum(), (targs){1, 0, 0, 1}, &prev, 1);
  }
  atomic_store(&probe_max, -1);
  cask_runtime *rt = new_runtime(2);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(load_l(&probe_max), 1);
  ck_assert_int_eq(result_of(res, prev), 200);
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  ck_assert_uint_eq(st.peak_blocks, 2);
  cask_results_free(res);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

START_TEST(results_get_for_non_outputs_returns_null) {
  cask_graph *g = new_graph();
  cask_task_id a = add_sum(g, "a", 1, NULL, 0);
  cask_task_id b = add_sum(g, "b", 2, &a, 1);
  cask_task_id c = add_sum(g, "c", 3, &b, 1);
  ck_assert_int_eq(cask_graph_set_output(g, b, 1), CASK_OK);
  cask_runtime *rt = new_runtime(2);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(result_of(res, b), 3);
  ck_assert_ptr_eq(cask_results_get_key(res, "b"), cask_results_get(res, b));
  ck_assert_ptr_null(cask_results_get(res, a));
  ck_assert_ptr_null(cask_results_get(res, c)); /* a sink, but outputs are marked */
  ck_assert_ptr_null(cask_results_get(res, 3));
  ck_assert_ptr_null(cask_results_get(res, UINT32_MAX));
  ck_assert_ptr_null(cask_results_get_key(res, "a"));
  ck_assert_ptr_null(cask_results_get_key(res, "c"));
  ck_assert_ptr_null(cask_results_get_key(res, "no-such-key"));
  ck_assert_ptr_null(cask_results_get(NULL, b));
  ck_assert_ptr_null(cask_results_get_key(NULL, "b"));
  cask_results_free(res);
  cask_results_free(NULL);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

/* ---- failure ----------------------------------------------------------- */

START_TEST(first_failure_stops_the_run_and_names_task_key_op_and_message) {
  for (int threads = 1; threads <= 4; threads *= 4) {
    /* r feeds both the failing task and its dependent, so r's block is
     * still held when the run stops; the independent outputs hold theirs
     * too. All must be freed. The failing task takes 20 ms, so with
     * several workers the others are busy with independent tasks when it
     * fails, and must stop taking new ones. */
    cask_graph *g = new_graph();
    cask_task_id r = add_sum(g, "r", 1, NULL, 0);
    cask_task_id bad = add(g, "bad-task", op_fail(), (targs){CASK_EIO, 20000, 0, 0}, &r, 1);
    cask_task_id after = add_sum(g, "after-bad", 0, (cask_task_id[]){bad, r}, 2);
    cask_task_id after2 = add_sum(g, "after-after-bad", 0, &after, 1);
    ck_assert_int_eq(cask_graph_set_output(g, after2, 1), CASK_OK);
    enum { NINDEP = 2000 };
    cask_task_id first_indep = 0;
    char key[32];
    for (int i = 0; i < NINDEP; i++) {
      snprintf(key, sizeof key, "indep-%d", i);
      cask_task_id id = add(g, key, op_sum(), (targs){i, 200, 0, 0}, NULL, 0);
      if (i == 0) first_indep = id;
      ck_assert_int_eq(cask_graph_set_output(g, id, 1), CASK_OK);
    }
    cask_runtime *rt = new_runtime(threads);
    recorder rec;
    recorder_init(&rec, g, threads);
    cask_run_options o = recorder_options(&rec);
    cask_results *res = (cask_results *)&res;
    int rc = cask_run(rt, g, &o, &res);
    require(rc == CASK_EIO, "%d threads: cask_run gave %s, want the op's CASK_EIO", threads,
            cask_err_name(rc));
    ck_assert_ptr_null(res);
    const char *msg = cask_runtime_errmsg(rt);
    assert_contains(msg, "bad-task");
    assert_contains(msg, "test.fail");
    assert_contains(msg, "disk on fire");
    ck_assert_int_eq(load_l(&live_blocks), 0);
    ck_assert_uint_eq(load_u(&rec.starts[bad]), 1);
    ck_assert_int_eq(load_i(&rec.status[bad]), CASK_EIO);
    ck_assert_uint_eq(load_u(&rec.starts[after]), 0);
    ck_assert_uint_eq(load_u(&rec.starts[after2]), 0);
    unsigned indep_started = 0;
    for (int i = 0; i < NINDEP; i++) indep_started += atomic_load(&rec.starts[first_indep + i]);
    /* One worker runs r, then its best ready dependent (the failing task)
     * before any other root; several workers may start a few. */
    if (threads == 1) ck_assert_uint_eq(indep_started, 0);
    require(indep_started < NINDEP / 2,
            "%d threads: %u of %d independent tasks started; the failure should stop them", threads,
            indep_started, NINDEP);
    for (size_t t = 0; t < rec.n; t++)
      require(load_u(&rec.starts[t]) == load_u(&rec.finishes[t]),
              "'%s' started %u times, finished %u", cask_graph_key(g, (cask_task_id)t),
              load_u(&rec.starts[t]), load_u(&rec.finishes[t]));
    cask_run_stats st;
    cask_runtime_last_stats(rt, &st);
    ck_assert_uint_lt(st.tasks_run, cask_graph_size(g));
    recorder_destroy(&rec);
    cask_runtime_free(rt);
    cask_graph_free(g);
  }
}
END_TEST

START_TEST(failure_with_a_positive_code_is_etask_and_without_message_uses_the_code_text) {
  cask_runtime *rt = new_runtime(2);
  cask_graph *g = new_graph();
  add(g, "positive", op_fail(), (targs){1, 0, 0, 0}, NULL, 0);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_ETASK);
  ck_assert_ptr_null(res);
  assert_contains(cask_runtime_errmsg(rt), "positive");
  assert_contains(cask_runtime_errmsg(rt), "disk on fire");
  cask_graph_free(g);

  g = new_graph();
  add(g, "quiet-failure", op_fail(), (targs){CASK_ENOMEM, 0, 1, 0}, NULL, 0);
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_ENOMEM);
  assert_contains(cask_runtime_errmsg(rt), "quiet-failure");
  assert_contains(cask_runtime_errmsg(rt), "test.fail");
  assert_contains(cask_runtime_errmsg(rt), cask_strerror(CASK_ENOMEM));
  cask_graph_free(g);

  /* The runtime is usable after a failure, and the message is cleared. */
  g = new_graph();
  cask_task_id a = add_sum(g, "fine", 5, NULL, 0);
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_str_eq(cask_runtime_errmsg(rt), "");
  ck_assert_int_eq(result_of(res, a), 5);
  cask_results_free(res);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_graph_free(g);
  cask_runtime_free(rt);
}
END_TEST

START_TEST(only_the_first_failure_is_reported) {
  /* One worker runs the roots in priority order: the first failing root
   * stops the run before the second starts. */
  cask_graph *g = new_graph();
  cask_task_id f1 = add(g, "first-failure", op_fail(), (targs){CASK_EIO, 0, 0, 0}, NULL, 0);
  cask_task_id f2 = add(g, "second-failure", op_fail(), (targs){CASK_EINVAL, 0, 0, 0}, NULL, 0);
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_uint_lt(cask_graph_priority(g, f1), cask_graph_priority(g, f2));
  cask_runtime *rt = new_runtime(1);
  recorder rec;
  recorder_init(&rec, g, 1);
  cask_run_options o = recorder_options(&rec);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, &o, &res), CASK_EIO);
  assert_contains(cask_runtime_errmsg(rt), "first-failure");
  ck_assert_ptr_null(strstr(cask_runtime_errmsg(rt), "second-failure"));
  ck_assert_uint_eq(load_u(&rec.starts[f2]), 0);
  recorder_destroy(&rec);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

START_TEST(failure_inside_fused_chain_names_the_sub_task) {
  cask_graph *g = new_graph();
  cask_task_id head = add_sum(g, "chain-head", 1, NULL, 0);
  cask_task_id mid = add(g, "chain-middle", op_fail(), (targs){CASK_EIO, 0, 0, 0}, &head, 1);
  cask_task_id tail = add_sum(g, "chain-tail", 1, &mid, 1);
  ck_assert_int_eq(cask_graph_set_output(g, tail, 1), CASK_OK);
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_OK);
  /* The chain really is one fused task now. */
  ck_assert_uint_eq(cask_graph_size(g), 1);
  ck_assert_str_eq(cask_graph_op(g, 0)->name, "cask.fused");
  ck_assert_str_eq(cask_graph_key(g, 0), "chain-tail");
  cask_runtime *rt = new_runtime(2);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_EIO);
  ck_assert_ptr_null(res);
  const char *msg = cask_runtime_errmsg(rt);
  assert_contains(msg, "chain-tail");
  assert_contains(msg, "chain-middle");
  assert_contains(msg, "test.fail");
  assert_contains(msg, "disk on fire");
  /* The head's block, made inside the fused task, is freed too. */
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

START_TEST(failed_task_output_is_released_and_long_messages_are_cut) {
  /* A 3000-character key and an op message that fills its buffer: the
   * run's message is cut to size (ASan sees any overflow), still names the
   * key, and the block the op made before failing is released. */
  char *key = malloc(3001);
  ck_assert_ptr_nonnull(key);
  for (int i = 0; i < 3000; i++) key[i] = (char)('a' + i % 26);
  key[3000] = '\0';
  cask_graph *g = new_graph();
  cask_task_id r = add_sum(g, "r", 1, NULL, 0);
  add(g, key, op_fail_messy(), (targs){0, 0, 0, 0}, &r, 1);
  cask_runtime *rt = new_runtime(2);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_EIO);
  ck_assert_ptr_null(res);
  const char *msg = cask_runtime_errmsg(rt);
  char head[65];
  memcpy(head, key, 64);
  head[64] = '\0';
  assert_contains(msg, head);
  ck_assert_uint_lt(strlen(msg), 3000);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
  cask_graph_free(g);
  free(key);
}
END_TEST

/* ---- cancel ------------------------------------------------------------ */

typedef struct canceler {
  cask_runtime *rt;
  recorder *rec;
  atomic_int canceled;
} canceler;

static void *cancel_when_started(void *arg) {
  canceler *c = arg;
  double deadline = now_s() + 30;
  while (atomic_load(&c->rec->norder) < 10 && now_s() < deadline) sleep_us(100);
  cask_runtime_cancel(c->rt);
  atomic_store(&c->canceled, 1);
  return NULL;
}

START_TEST(cancel_from_another_thread_stops_the_run) {
  enum { N = 2000 };
  cask_graph *g = new_graph();
  char key[32];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "sleepy-%d", i);
    cask_task_id id = add(g, key, op_sum(), (targs){i, 500, 0, 0}, NULL, 0);
    ck_assert_int_eq(cask_graph_set_output(g, id, 1), CASK_OK); /* hold the blocks */
  }
  cask_runtime *rt = new_runtime(2);
  recorder rec;
  recorder_init(&rec, g, 2);
  cask_run_options o = recorder_options(&rec);
  canceler c = {rt, &rec, 0};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, cancel_when_started, &c), 0);
  cask_results *res = (cask_results *)&res;
  int rc = cask_run(rt, g, &o, &res);
  pthread_join(th, NULL);
  require(rc == CASK_ECANCELED, "cask_run gave %s after a cancel", cask_err_name(rc));
  ck_assert_ptr_null(res);
  assert_contains(cask_runtime_errmsg(rt), "cancel");
  size_t started = atomic_load(&rec.norder);
  ck_assert_uint_ge(started, 10);
  require(started < N / 2, "%zu of %d tasks started despite the cancel", started, N);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  /* The next run is not canceled. */
  cask_graph *g2 = new_graph();
  cask_task_id a = add_sum(g2, "after-cancel", 3, NULL, 0);
  assert_run_ok(cask_run(rt, g2, NULL, &res), rt);
  ck_assert_int_eq(result_of(res, a), 3);
  cask_results_free(res);
  recorder_destroy(&rec);
  cask_runtime_free(rt);
  cask_graph_free(g);
  cask_graph_free(g2);
}
END_TEST

START_TEST(cancel_from_a_callback_starts_no_new_task) {
  /* One worker: the fifth task's start cancels; it still runs, and
   * nothing after it starts. */
  cask_graph *g = new_graph();
  char key[32];
  cask_task_id prev = 0;
  for (int i = 0; i < 50; i++) {
    snprintf(key, sizeof key, "step-%d", i);
    prev = i ? add_sum(g, key, 1, &prev, 1) : add_sum(g, key, 1, NULL, 0);
  }
  cask_runtime *rt = new_runtime(1);
  recorder rec;
  recorder_init(&rec, g, 1);
  rec.rt = rt;
  rec.cancel_at = 5;
  cask_run_options o = recorder_options(&rec);
  cask_results *res = NULL;
  ck_assert_int_eq(cask_run(rt, g, &o, &res), CASK_ECANCELED);
  ck_assert_uint_eq(load_z(&rec.norder), 5);
  ck_assert_uint_eq(load_u(&rec.finishes[4]), 1);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  recorder_destroy(&rec);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

START_TEST(cancel_when_idle_is_a_no_op) {
  cask_runtime *rt = new_runtime(2);
  cask_runtime_cancel(rt);
  cask_runtime_cancel(NULL);
  cask_graph *g = new_graph();
  cask_task_id a = add_sum(g, "a", 4, NULL, 0);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(result_of(res, a), 4);
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

/* ---- callbacks and the trace ------------------------------------------- */

START_TEST(callbacks_see_every_task_start_and_finish_once) {
  enum { N = 1000, THREADS = 4 };
  uint64_t rng = 1234;
  cask_graph *g = new_graph();
  int64_t *want = malloc(N * sizeof *want);
  ck_assert_ptr_nonnull(want);
  random_sum_dag(g, &rng, N, want);
  cask_runtime *rt = new_runtime(THREADS);
  recorder rec;
  recorder_init(&rec, g, THREADS);
  cask_run_options o = recorder_options(&rec);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, &o, &res), rt);
  ck_assert_int_eq(load_i(&rec.bad_graph), 0);
  ck_assert_int_eq(load_i(&rec.bad_worker), 0);
  ck_assert_uint_eq(load_z(&rec.norder), N);
  for (cask_task_id t = 0; t < N; t++) {
    require(load_u(&rec.starts[t]) == 1 && load_u(&rec.finishes[t]) == 1,
            "task r%u: %u starts, %u finishes", t, atomic_load(&rec.starts[t]),
            atomic_load(&rec.finishes[t]));
    ck_assert_int_eq(load_i(&rec.status[t]), 0);
    ck_assert_uint_lt(load_ul(&rec.start_seq[t]), load_ul(&rec.finish_seq[t]));
    /* A task starts only after each of its dependencies finished. */
    size_t nd;
    const cask_task_id *deps = cask_graph_deps(g, t, &nd);
    for (size_t k = 0; k < nd; k++)
      require(load_ul(&rec.finish_seq[deps[k]]) < load_ul(&rec.start_seq[t]),
              "r%u started before its dependency r%u finished", t, deps[k]);
    if (cask_graph_is_output(g, t))
      require(result_of(res, t) == want[t], "r%u has a wrong value", t);
    else
      require(cask_results_get(res, t) == NULL, "r%u is not an output but has a result", t);
  }
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  ck_assert_uint_eq(st.tasks_run, N);
  ck_assert_uint_gt(st.wall_ns, 0);
  cask_results_free(res);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  recorder_destroy(&rec);
  free(want);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

static char *temp_dir(void) {
  char tmpl[] = "/tmp/cask-test-XXXXXX";
  char *d = mkdtemp(tmpl);
  ck_assert_ptr_nonnull(d);
  return strdup(d);
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  require(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

START_TEST(trace_file_is_chrome_trace_json) {
  enum { N = 300, THREADS = 3 };
  static const char odd_key[] = "odd \"key\" with \\ and\ttab";
  uint64_t rng = 99;
  cask_graph *g = new_graph();
  int64_t *want = malloc((N + 1) * sizeof *want);
  ck_assert_ptr_nonnull(want);
  random_sum_dag(g, &rng, N, want);
  cask_task_id last = N - 1;
  add(g, odd_key, op_none(), (targs){0, 0, 0, 0}, &last, 1);
  char *dir = temp_dir();
  char path[512];
  snprintf(path, sizeof path, "%s/run.trace.json", dir);
  cask_runtime *rt = new_runtime(THREADS);
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.trace_path = path;
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, &o, &res), rt);
  cask_results_free(res);

  char *text = read_text(path);
  cJSON *root = cJSON_Parse(text);
  require(root != NULL, "the trace is not JSON: %.200s", text);
  cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "traceEvents");
  ck_assert(cJSON_IsArray(events));
  size_t n = cask_graph_size(g);
  int *count = calloc(n, sizeof *count);
  double *ts = calloc(n, sizeof *ts), *end = calloc(n, sizeof *end);
  ck_assert(count && ts && end);
  int thread_names = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, events) {
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "ph");
    ck_assert(cJSON_IsString(ph));
    if (strcmp(ph->valuestring, "M") == 0) {
      thread_names++;
      continue;
    }
    ck_assert_str_eq(ph->valuestring, "X");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(e, "cat");
    const cJSON *jts = cJSON_GetObjectItemCaseSensitive(e, "ts");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(e, "dur");
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(e, "tid");
    ck_assert(cJSON_IsString(name) && cJSON_IsString(cat));
    ck_assert(cJSON_IsNumber(jts) && cJSON_IsNumber(dur) && cJSON_IsNumber(tid));
    cask_task_id id;
    require(cask_graph_find(g, name->valuestring, &id) == CASK_OK,
            "trace event names no task: \"%s\"", name->valuestring);
    ck_assert_str_eq(cat->valuestring, cask_graph_op(g, id)->name);
    ck_assert(jts->valuedouble >= 0 && dur->valuedouble >= 0);
    ck_assert(tid->valueint >= 0 && tid->valueint < THREADS);
    count[id]++;
    ts[id] = jts->valuedouble;
    end[id] = jts->valuedouble + dur->valuedouble;
  }
  ck_assert_int_eq(thread_names, THREADS);
  for (cask_task_id t = 0; t < n; t++) {
    require(count[t] == 1, "task '%s' has %d trace events", cask_graph_key(g, t), count[t]);
    /* Events are in run time: a task starts after its dependencies ended
     * (allowing for the microsecond rounding of %.3f). */
    size_t nd;
    const cask_task_id *deps = cask_graph_deps(g, t, &nd);
    for (size_t k = 0; k < nd; k++)
      require(ts[t] + 0.002 >= end[deps[k]], "'%s' starts at %.3f before '%s' ends at %.3f",
              cask_graph_key(g, t), ts[t], cask_graph_key(g, deps[k]), end[deps[k]]);
  }
  cJSON_Delete(root);
  free(text);
  free(count);
  free(ts);
  free(end);
  remove(path);
  rmdir(dir);
  free(dir);
  free(want);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

START_TEST(trace_to_unwritable_path_fails_with_eio_and_frees_blocks) {
  cask_graph *g = new_graph();
  cask_task_id a = add_sum(g, "a", 1, NULL, 0);
  ck_assert_int_eq(cask_graph_set_output(g, a, 1), CASK_OK);
  cask_runtime *rt = new_runtime(2);
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.trace_path = "/nonexistent-cask-dir/sub/trace.json";
  cask_results *res = (cask_results *)&res;
  ck_assert_int_eq(cask_run(rt, g, &o, &res), CASK_EIO);
  ck_assert_ptr_null(res);
  assert_contains(cask_runtime_errmsg(rt), "/nonexistent-cask-dir/sub/trace.json");
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

/* ---- many runs, edge cases, options ------------------------------------ */

static atomic_long allocations; /* outstanding, through the hook */

static void *count_malloc(size_t n) {
  void *p = malloc(n);
  if (p) atomic_fetch_add(&allocations, 1);
  return p;
}
static void *count_calloc(size_t c, size_t n) {
  void *p = calloc(c, n);
  if (p) atomic_fetch_add(&allocations, 1);
  return p;
}
static void *count_realloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q && !p) atomic_fetch_add(&allocations, 1);
  return q;
}
static void count_free(void *p) {
  if (p) atomic_fetch_sub(&allocations, 1);
  free(p);
}

START_TEST(many_runs_on_one_runtime_do_not_leak) {
  /* Every allocation of cask goes through the hook: after 200 runs of
   * varied graphs (some failing, some canceled, some traced) and freeing
   * everything, none is left beyond what the op registry keeps. ASan's
   * leak checker sees the same from outside. */
  ck_assert_int_eq(cask_set_allocator(count_malloc, count_realloc, count_calloc, count_free),
                   CASK_OK);
  op_sum();
  op_fail();
  long base = atomic_load(&allocations);
  char *dir = temp_dir();
  char path[512];
  snprintf(path, sizeof path, "%s/trace.json", dir);
  cask_runtime *rt = new_runtime(3);
  uint64_t rng = 2024;
  int ok = 0, failed = 0, canceled = 0;
  for (int i = 0; i < 200; i++) {
    size_t n = 1 + rng_below(&rng, i % 20 == 0 ? 3000 : 200);
    cask_graph *g = new_graph();
    int64_t *want = malloc(n * sizeof *want);
    ck_assert_ptr_nonnull(want);
    random_sum_dag(g, &rng, n, want);
    int kind = i % 7 == 3 ? 1 : i % 11 == 5 ? 2 : 0; /* 1 fail, 2 cancel */
    if (kind == 1) {
      cask_task_id last = (cask_task_id)(n - 1);
      add(g, "boom", op_fail(), (targs){CASK_EIO, 0, 0, 0}, &last, 1);
    }
    recorder rec;
    recorder_init(&rec, g, 3);
    rec.rt = rt;
    rec.cancel_at = kind == 2 ? 1 : 0;
    cask_run_options o = recorder_options(&rec);
    if (i % 25 == 0) o.trace_path = path;
    cask_results *res = NULL;
    int rc = cask_run(rt, g, &o, &res);
    int want_rc = kind == 1 ? CASK_EIO : kind == 2 ? CASK_ECANCELED : CASK_OK;
    require(rc == want_rc, "run %d: %s, want %s: %s", i, cask_err_name(rc), cask_err_name(want_rc),
            cask_runtime_errmsg(rt));
    if (rc == CASK_OK) {
      for (cask_task_id t = 0; t < n; t++)
        if (cask_graph_is_output(g, t))
          require(result_of(res, t) == want[t], "run %d: r%u has a wrong value", i, t);
      ok++;
    }
    failed += kind == 1;
    canceled += kind == 2;
    cask_results_free(res);
    require(load_l(&live_blocks) == 0, "run %d: %ld blocks alive", i, atomic_load(&live_blocks));
    recorder_destroy(&rec);
    free(want);
    cask_graph_free(g);
  }
  cask_runtime_free(rt);
  long left = atomic_load(&allocations) - base;
  ck_assert_int_eq(cask_set_allocator(malloc, realloc, calloc, free), CASK_OK);
  require(left == 0, "%ld allocations of cask left after %d ok, %d failed, %d canceled runs", left,
          ok, failed, canceled);
  remove(path);
  rmdir(dir);
  free(dir);
}
END_TEST

START_TEST(run_of_empty_graph_succeeds) {
  cask_runtime *rt = new_runtime(2);
  cask_graph *g = new_graph();
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_ptr_nonnull(res);
  ck_assert_ptr_null(cask_results_get(res, 0));
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  ck_assert_uint_eq(st.tasks_run, 0);
  cask_results_free(res);
  /* Twice, and a real run after it. */
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  cask_results_free(res);
  cask_task_id a = add_sum(g, "a", 9, NULL, 0);
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(result_of(res, a), 9);
  cask_results_free(res);
  cask_graph_free(g);
  cask_runtime_free(rt);
}
END_TEST

START_TEST(stats_of_an_empty_run_have_no_wall_time) {
  /* wall_ns runs from the first task start to the last finish: with no
   * task it is 0, not the clock's reading (the run's start time is only
   * set when there are tasks). */
  cask_runtime *rt = new_runtime(2);
  cask_graph *g = new_graph();
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  cask_results_free(res);
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  require(st.wall_ns < 1000000, "an empty run took %llu ns", (unsigned long long)st.wall_ns);
  /* A real run's wall time is sane too. */
  add(g, "nap", op_none(), (targs){0, 2000, 0, 0}, NULL, 0);
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  cask_results_free(res);
  cask_runtime_last_stats(rt, &st);
  require(st.wall_ns >= 2000000 && st.wall_ns < 60000000000ULL, "a 2 ms run took %llu ns",
          (unsigned long long)st.wall_ns);
  cask_graph_free(g);
  cask_runtime_free(rt);
}
END_TEST

START_TEST(graph_changed_between_runs_is_run_as_it_is_now) {
  /* Adding tasks and outputs after a run (which validated and ordered the
   * graph) must be seen by the next run on the same runtime. */
  cask_runtime *rt = new_runtime(3);
  cask_graph *g = new_graph();
  cask_task_id a = add_sum(g, "a", 1, NULL, 0);
  cask_task_id b = add_sum(g, "b", 2, &a, 1);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(result_of(res, b), 3);
  cask_results_free(res);
  char key[32];
  cask_task_id prev = b;
  for (int i = 0; i < 500; i++) {
    snprintf(key, sizeof key, "more-%d", i);
    prev = add_sum(g, key, 1, (cask_task_id[]){prev, a}, 2);
  }
  ck_assert_int_eq(cask_graph_set_output(g, b, 1), CASK_OK);
  ck_assert_int_eq(cask_graph_set_output(g, prev, 1), CASK_OK);
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(result_of(res, b), 3);
  ck_assert_int_eq(result_of(res, prev), 3 + 500 * 2);
  ck_assert_int_eq(load_l(&live_blocks), 2);
  cask_results_free(res);
  /* Cleared and rebuilt smaller. */
  ck_assert_int_eq(cask_graph_clear(g), CASK_OK);
  a = add_sum(g, "only", 42, NULL, 0);
  assert_run_ok(cask_run(rt, g, NULL, &res), rt);
  ck_assert_int_eq(result_of(res, a), 42);
  cask_results_free(res);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_graph_free(g);
  cask_runtime_free(rt);
}
END_TEST

typedef struct side_run {
  cask_graph *g;
  const int64_t *want;
  size_t n;
  int threads, runs;
  int failures; /* written by the thread, read after join */
  char what[256];
} side_run;

static void *run_on_own_runtime(void *arg) {
  side_run *s = arg;
  cask_runtime_options o = {.threads = s->threads};
  cask_runtime *rt = NULL;
  if (cask_runtime_new(&o, &rt)) {
    s->failures++;
    snprintf(s->what, sizeof s->what, "cask_runtime_new failed");
    return NULL;
  }
  for (int i = 0; i < s->runs; i++) {
    cask_results *res = NULL;
    int rc = cask_run(rt, s->g, NULL, &res);
    if (rc) {
      s->failures++;
      snprintf(s->what, sizeof s->what, "run %d: %s: %s", i, cask_err_name(rc),
               cask_runtime_errmsg(rt));
      continue;
    }
    for (cask_task_id t = 0; t < s->n; t++) {
      cask_block *b = cask_results_get(res, t);
      if (cask_graph_is_output(s->g, t) && (!b || value_of(b) != s->want[t])) {
        s->failures++;
        snprintf(s->what, sizeof s->what, "run %d: r%u is wrong", i, t);
      }
    }
    cask_results_free(res);
  }
  cask_runtime_free(rt);
  return NULL;
}

START_TEST(runtimes_on_different_threads_run_independently) {
  /* Three runtimes, each driven by its own thread, run their own graphs
   * at the same time (they share only the op registry). */
  enum { N = 800, SIDES = 3 };
  side_run sides[SIDES];
  int64_t *want[SIDES];
  uint64_t rng = 77;
  for (int k = 0; k < SIDES; k++) {
    memset(&sides[k], 0, sizeof sides[k]);
    sides[k].g = new_graph();
    want[k] = malloc(N * sizeof *want[k]);
    ck_assert_ptr_nonnull(want[k]);
    random_sum_dag(sides[k].g, &rng, N, want[k]);
    sides[k].want = want[k];
    sides[k].n = N;
    sides[k].threads = 1 + k;
    sides[k].runs = (int)scaled(20, 3);
  }
  pthread_t th[SIDES];
  for (int k = 0; k < SIDES; k++)
    ck_assert_int_eq(pthread_create(&th[k], NULL, run_on_own_runtime, &sides[k]), 0);
  for (int k = 0; k < SIDES; k++) pthread_join(th[k], NULL);
  for (int k = 0; k < SIDES; k++) {
    require(sides[k].failures == 0, "runtime %d: %d failures, last: %s", k, sides[k].failures,
            sides[k].what);
    cask_graph_free(sides[k].g);
    free(want[k]);
  }
  ck_assert_int_eq(load_l(&live_blocks), 0);
}
END_TEST

START_TEST(run_with_one_thread_runs_everything_on_the_calling_thread) {
  cask_runtime *rt = new_runtime(1);
  cask_graph *g = new_graph();
  cask_task_id a = add_sum(g, "a", 1, NULL, 0);
  cask_task_id b = add_sum(g, "b", 10, &a, 1);
  cask_task_id c = add_sum(g, "c", 100, &a, 1);
  cask_task_id d = add_sum(g, "d", 1000, (cask_task_id[]){b, c}, 2);
  recorder rec;
  recorder_init(&rec, g, 1);
  cask_run_options o = recorder_options(&rec);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, &o, &res), rt);
  ck_assert_int_eq(result_of(res, d), 1000 + 11 + 101);
  ck_assert_int_eq(load_i(&rec.bad_worker), 0);
  ck_assert_int_eq(load_i(&rec.off_caller), 0);
  ck_assert_uint_eq(load_z(&rec.norder), 4);
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  ck_assert_uint_eq(st.steals, 0);
  cask_results_free(res);
  recorder_destroy(&rec);
  cask_graph_free(g);
  cask_runtime_free(rt);
}
END_TEST

START_TEST(run_rejects_cycle_with_graph_message) {
  cask_runtime *rt = new_runtime(2);
  cask_graph *g = new_graph();
  const char *to_b[] = {"cyc-b"}, *to_a[] = {"cyc-a"};
  targs a = {0, 0, 0, 0};
  ck_assert_int_eq(cask_graph_add_keyed(g, "cyc-a", op_sum(), &a, sizeof a, to_b, 1, NULL),
                   CASK_OK);
  ck_assert_int_eq(cask_graph_add_keyed(g, "cyc-b", op_sum(), &a, sizeof a, to_a, 1, NULL),
                   CASK_OK);
  cask_results *res = (cask_results *)&res;
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_ECYCLE);
  ck_assert_ptr_null(res);
  assert_contains(cask_runtime_errmsg(rt), "'cyc-a'");
  assert_contains(cask_runtime_errmsg(rt), "'cyc-b'");
  ck_assert_str_eq(cask_runtime_errmsg(rt), cask_graph_errmsg(g));
  cask_graph_free(g);

  g = new_graph();
  const char *missing[] = {"not-there"};
  ck_assert_int_eq(
      cask_graph_add_keyed(g, "needs-missing", op_sum(), &a, sizeof a, missing, 1, NULL), CASK_OK);
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_EMISSINGDEP);
  assert_contains(cask_runtime_errmsg(rt), "needs-missing");
  ck_assert_int_eq(cask_run(NULL, g, NULL, &res), CASK_EINVAL);
  ck_assert_int_eq(cask_run(rt, NULL, NULL, &res), CASK_EINVAL);
  ck_assert_int_eq(cask_run(rt, g, NULL, NULL), CASK_EINVAL);
  cask_graph_free(g);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  cask_runtime_free(rt);
}
END_TEST

START_TEST(run_from_a_callback_is_busy) {
  cask_runtime *rt = new_runtime(2);
  cask_graph *g = new_graph(), *inner = new_graph();
  cask_task_id a = add_sum(g, "outer", 1, NULL, 0);
  add_sum(inner, "inner", 2, NULL, 0);
  recorder rec;
  recorder_init(&rec, g, 2);
  rec.rt = rt;
  rec.nested = inner;
  cask_run_options o = recorder_options(&rec);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, &o, &res), rt);
  ck_assert_int_eq(load_i(&rec.nested_rc), CASK_EBUSY);
  ck_assert_int_eq(load_i(&rec.nested_out_null), 1);
  ck_assert_int_eq(result_of(res, a), 1);
  cask_results_free(res);
  /* Once the run is over, the runtime takes the inner graph. */
  assert_run_ok(cask_run(rt, inner, NULL, &res), rt);
  cask_results_free(res);
  ck_assert_int_eq(load_l(&live_blocks), 0);
  recorder_destroy(&rec);
  cask_graph_free(g);
  cask_graph_free(inner);
  cask_runtime_free(rt);
}
END_TEST

START_TEST(runtime_honours_cask_num_threads) {
  ck_assert_int_eq(setenv("CASK_NUM_THREADS", "3", 1), 0);
  cask_runtime *rt = NULL;
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_OK);
  ck_assert_int_eq(cask_runtime_threads(rt), 3);
  cask_runtime_free(rt);
  cask_runtime_options o = CASK_RUNTIME_OPTIONS_DEFAULTS;
  ck_assert_int_eq(cask_runtime_new(&o, &rt), CASK_OK);
  ck_assert_int_eq(cask_runtime_threads(rt), 3);
  cask_runtime_free(rt);
  /* An explicit count wins over the variable. */
  o.threads = 2;
  ck_assert_int_eq(cask_runtime_new(&o, &rt), CASK_OK);
  ck_assert_int_eq(cask_runtime_threads(rt), 2);
  cask_runtime_free(rt);
  /* Empty: the available parallelism. */
  ck_assert_int_eq(setenv("CASK_NUM_THREADS", "", 1), 0);
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_OK);
  ck_assert_int_ge(cask_runtime_threads(rt), 1);
  cask_runtime_free(rt);
  unsetenv("CASK_NUM_THREADS");
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_OK);
  ck_assert_int_ge(cask_runtime_threads(rt), 1);
  cask_runtime_free(rt);
}
END_TEST

START_TEST(runtime_rejects_bad_cask_num_threads_with_einval) {
  static const char *bad[] = {"0", "-2", "abc", "4x", "1025", " ", "3 ", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(setenv("CASK_NUM_THREADS", bad[i], 1), 0);
    cask_runtime *rt = (cask_runtime *)&rt;
    int rc = cask_runtime_new(NULL, &rt);
    require(rc == CASK_EINVAL, "CASK_NUM_THREADS=\"%s\" gave %s", bad[i], cask_err_name(rc));
    ck_assert_ptr_null(rt);
    /* no runtime to ask: the message is the thread's */
    require(strstr(cask_create_errmsg(), "CASK_NUM_THREADS='") && strstr(cask_create_errmsg(), "1 to 1024"),
            "message: %s", cask_create_errmsg());
  }
  ck_assert_int_eq(setenv("CASK_NUM_THREADS", "1024", 1), 0);
  cask_runtime *rt = NULL;
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_OK);
  ck_assert_int_eq(cask_runtime_threads(rt), 1024);
  cask_runtime_free(rt);
  unsetenv("CASK_NUM_THREADS");
  ck_assert_str_eq(cask_create_errmsg(), ""); /* a success clears it */
  cask_runtime_options o = {.threads = -1};
  ck_assert_int_eq(cask_runtime_new(&o, &rt), CASK_EINVAL);
  ck_assert_msg(strstr(cask_create_errmsg(), "threads = -1"), "%s", cask_create_errmsg());
  setenv("CASK_MEMORY_LIMIT", "lots", 1);
  ck_assert_int_eq(cask_runtime_new(NULL, &rt), CASK_EINVAL);
  ck_assert_msg(strstr(cask_create_errmsg(), "CASK_MEMORY_LIMIT='lots'"), "%s", cask_create_errmsg());
  unsetenv("CASK_MEMORY_LIMIT");
  o.threads = 1025;
  ck_assert_int_eq(cask_runtime_new(&o, &rt), CASK_EINVAL);
  ck_assert_int_eq(cask_runtime_new(NULL, NULL), CASK_EINVAL);
  cask_runtime_free(NULL);
  ck_assert_int_eq(cask_runtime_threads(NULL), 0);
}
END_TEST

/* ---- order ------------------------------------------------------------- */

/* Add tasks in a random order with keyed dependencies, so ids (insertion
 * order) say nothing about the order the scheduler should follow. */
static void add_shuffled(cask_graph *g, uint64_t *rng, size_t n, char (*keys)[16],
                         const uint32_t *off, const uint32_t *deps) {
  uint32_t *perm = malloc(n * sizeof *perm);
  const char **dk = malloc((n ? n : 1) * sizeof *dk);
  ck_assert(perm && dk);
  for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
  for (size_t i = n; i > 1; i--) {
    uint32_t j = rng_below(rng, (uint32_t)i), t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
  targs a = {1, 0, 0, 0};
  for (size_t k = 0; k < n; k++) {
    uint32_t v = perm[k];
    size_t nd = off[v + 1] - off[v];
    for (size_t j = 0; j < nd; j++) dk[j] = keys[deps[off[v] + j]];
    int rc = cask_graph_add_keyed(g, keys[v], op_sum(), &a, sizeof a, dk, nd, NULL);
    ck_assert_int_eq(rc, CASK_OK);
  }
  free(perm);
  free(dk);
}

/* Run g on one worker; return the ids in start order (n of them). */
static uint32_t *run_one_worker(cask_graph *g) {
  cask_runtime *rt = new_runtime(1);
  recorder rec;
  recorder_init(&rec, g, 1);
  cask_run_options o = recorder_options(&rec);
  cask_results *res = NULL;
  assert_run_ok(cask_run(rt, g, &o, &res), rt);
  cask_results_free(res);
  cask_runtime_free(rt);
  ck_assert_uint_eq(load_z(&rec.norder), rec.n);
  uint32_t *order = malloc((rec.n ? rec.n : 1) * sizeof *order);
  ck_assert_ptr_nonnull(order);
  for (size_t k = 0; k < rec.n; k++) order[k] = atomic_load(&rec.order[k]);
  recorder_destroy(&rec);
  return order;
}

START_TEST(one_worker_runs_reduction_trees_in_priority_order) {
  /* In a forest of in-trees every task has one consumer, which becomes
   * ready when its last input ran and is run right then: that is exactly
   * the depth-first post-order of cask_graph_order, so one worker must
   * follow the priorities to the letter. */
  enum { N = 600 };
  uint64_t rng = 5;
  static char keys[N][16];
  uint32_t *parent = malloc(N * sizeof *parent), *off = calloc(N + 1, sizeof *off),
           *deps = malloc(N * sizeof *deps);
  ck_assert(parent && off && deps);
  /* Three trees; node i > 2 hangs under a random earlier node, which
   * therefore depends on it. */
  for (uint32_t i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "tree-%u", i);
    parent[i] = i < 3 ? UINT32_MAX : rng_below(&rng, i);
  }
  for (uint32_t i = 0; i < N; i++)
    if (parent[i] != UINT32_MAX) off[parent[i] + 1]++;
  for (uint32_t i = 0; i < N; i++) off[i + 1] += off[i];
  uint32_t *fill = calloc(N, sizeof *fill);
  ck_assert_ptr_nonnull(fill);
  for (uint32_t i = 0; i < N; i++)
    if (parent[i] != UINT32_MAX) deps[off[parent[i]] + fill[parent[i]]++] = i;
  cask_graph *g = new_graph();
  add_shuffled(g, &rng, N, keys, off, deps);
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  uint32_t *order = run_one_worker(g);
  size_t in_index_order = 0;
  for (uint32_t k = 0; k < N; k++) {
    require(cask_graph_priority(g, order[k]) == k, "task %u to start was '%s' of priority %u", k,
            cask_graph_key(g, order[k]), cask_graph_priority(g, order[k]));
    in_index_order += k == 0 || order[k] > order[k - 1];
  }
  /* The graph is not one the test would pass by running tasks by id. */
  ck_assert_uint_lt(in_index_order, N - 10);
  free(order);
  free(parent);
  free(off);
  free(deps);
  free(fill);
  cask_graph_free(g);
}
END_TEST

START_TEST(one_worker_continues_depth_first_and_takes_roots_by_priority) {
  /* On any DAG one worker (a) starts the roots in priority order and (b)
   * after a task that made dependents ready, runs the best-priority of
   * them next. Checked on random DAGs added in shuffled order. */
  for (uint64_t seed = 1; seed <= 20; seed++) {
    uint64_t rng = seed;
    uint32_t n = 50 + rng_below(&rng, 500);
    char(*keys)[16] = malloc(n * sizeof *keys);
    uint32_t *off = calloc(n + 1, sizeof *off), *deps = malloc(4 * n * sizeof *deps);
    ck_assert(keys && off && deps);
    for (uint32_t i = 0; i < n; i++) {
      snprintf(keys[i], sizeof keys[i], "d%u", i);
      uint32_t nd = i ? rng_below(&rng, 5) : 0;
      off[i + 1] = off[i] + nd;
      for (uint32_t k = 0; k < nd; k++) {
        uint32_t lo = i > 30 ? i - 30 : 0;
        deps[off[i] + k] = lo + rng_below(&rng, i - lo);
      }
    }
    cask_graph *g = new_graph();
    add_shuffled(g, &rng, n, keys, off, deps);
    ck_assert_int_eq(cask_graph_order(g), CASK_OK);
    uint32_t *order = run_one_worker(g);
    uint32_t *pending = malloc(n * sizeof *pending), *ready = malloc(n * sizeof *ready);
    uint8_t *ran = calloc(n, 1);
    ck_assert(pending && ready && ran);
    for (cask_task_id t = 0; t < n; t++) {
      size_t nd;
      cask_graph_deps(g, t, &nd);
      pending[t] = (uint32_t)nd;
    }
    uint32_t last_root_prio = 0;
    int any_root = 0;
    size_t continuations = 0;
    for (uint32_t k = 0; k < n; k++) {
      uint32_t v = order[k];
      require(!ran[v] && pending[v] == 0, "seed %llu: '%s' started twice or too early",
              (unsigned long long)seed, cask_graph_key(g, v));
      ran[v] = 1;
      uint32_t pv = cask_graph_priority(g, v);
      size_t nd;
      cask_graph_deps(g, v, &nd);
      if (nd == 0) {
        require(!any_root || pv > last_root_prio,
                "seed %llu: root '%s' (priority %u) started after a root of priority %u",
                (unsigned long long)seed, cask_graph_key(g, v), pv, last_root_prio);
        any_root = 1;
        last_root_prio = pv;
      }
      size_t ns, nready = 0;
      const cask_task_id *succ = cask_graph_dependents(g, v, &ns);
      for (size_t s = 0; s < ns; s++)
        if (--pending[succ[s]] == 0) ready[nready++] = succ[s];
      if (nready == 0 || k + 1 == n) continue;
      uint32_t best = ready[0];
      for (size_t s = 1; s < nready; s++)
        if (cask_graph_priority(g, ready[s]) < cask_graph_priority(g, best)) best = ready[s];
      require(order[k + 1] == best,
              "seed %llu: after '%s' ran '%s', not its best ready dependent '%s'",
              (unsigned long long)seed, cask_graph_key(g, v), cask_graph_key(g, order[k + 1]),
              cask_graph_key(g, best));
      continuations++;
    }
    ck_assert_uint_gt(continuations, 0);
    free(pending);
    free(ready);
    free(ran);
    free(order);
    free(keys);
    free(off);
    free(deps);
    cask_graph_free(g);
  }
}
END_TEST

Suite *scheduler_suite(void) {
  Suite *s = suite_create("scheduler");
  TCase *tc = tcase_create("deque");
  tcase_add_test(tc, deque_owner_pop_is_lifo_and_steal_is_fifo);
  tcase_add_test(tc, deque_grows_past_initial_capacity);
  tcase_add_test(tc, deque_wraps_around_without_growing);
  tcase_add_test(tc, deque_concurrent_steals_take_every_item_exactly_once);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);

  tc = tcase_create("park");
  tcase_add_test(tc, park_notify_without_sleepers_does_nothing);
  tcase_add_test(tc, park_no_lost_wakeup_one_sleeper);
  tcase_add_test(tc, park_no_lost_wakeup_many_sleepers);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);

  tc = tcase_create("results");
  tcase_add_test(tc, run_returns_outputs_and_frees_intermediate_blocks);
  tcase_add_test(tc, run_without_outputs_returns_the_sinks);
  tcase_add_test(tc, blocks_are_freed_after_last_consumer);
  tcase_add_test(tc, chain_holds_one_block_between_tasks);
  tcase_add_test(tc, results_get_for_non_outputs_returns_null);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("failure");
  tcase_add_test(tc, first_failure_stops_the_run_and_names_task_key_op_and_message);
  tcase_add_test(tc, failure_with_a_positive_code_is_etask_and_without_message_uses_the_code_text);
  tcase_add_test(tc, only_the_first_failure_is_reported);
  tcase_add_test(tc, failure_inside_fused_chain_names_the_sub_task);
  tcase_add_test(tc, failed_task_output_is_released_and_long_messages_are_cut);
  tcase_add_test(tc, cancel_from_another_thread_stops_the_run);
  tcase_add_test(tc, cancel_from_a_callback_starts_no_new_task);
  tcase_add_test(tc, cancel_when_idle_is_a_no_op);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("observing");
  tcase_add_test(tc, callbacks_see_every_task_start_and_finish_once);
  tcase_add_test(tc, trace_file_is_chrome_trace_json);
  tcase_add_test(tc, trace_to_unwritable_path_fails_with_eio_and_frees_blocks);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("runtime");
  tcase_add_test(tc, many_runs_on_one_runtime_do_not_leak);
  tcase_add_test(tc, run_of_empty_graph_succeeds);
  tcase_add_test(tc, stats_of_an_empty_run_have_no_wall_time);
  tcase_add_test(tc, graph_changed_between_runs_is_run_as_it_is_now);
  tcase_add_test(tc, runtimes_on_different_threads_run_independently);
  tcase_add_test(tc, run_with_one_thread_runs_everything_on_the_calling_thread);
  tcase_add_test(tc, run_rejects_cycle_with_graph_message);
  tcase_add_test(tc, run_from_a_callback_is_busy);
  tcase_add_test(tc, runtime_honours_cask_num_threads);
  tcase_add_test(tc, runtime_rejects_bad_cask_num_threads_with_einval);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);

  tc = tcase_create("order");
  tcase_add_test(tc, one_worker_runs_reduction_trees_in_priority_order);
  tcase_add_test(tc, one_worker_continues_depth_first_and_takes_roots_by_priority);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
