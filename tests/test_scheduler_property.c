/* test_scheduler_property.c - cask_run against a sequential reference on
 * thousands of random DAGs.
 *
 * Each graph comes from a fixed-seed splitmix64 of our own, in one of eight
 * shapes (layered, random edges, in-trees, out-trees, chains, wide fan-out
 * and fan-in, duplicate edges, a mix), with 1 to 3000 tasks. Every task
 * computes a 64-bit mix of a salt (from its key) and its inputs' values in
 * dependency order, so a missing, swapped or stale input changes the result.
 * The reference is the same function evaluated in plain C in index order
 * (generated dependencies always point to lower indices; a third of the
 * graphs are added to cask in a shuffled order, with keyed dependencies, so
 * ids do not follow that order). Each graph runs at 1, 2, 4 and 8 threads,
 * as built and after cull+fuse+order. Every failure message names the
 * seed, shape, size and thread count, so a graph can be replayed alone.
 *
 * Iterations scale with CASK_TEST_SCALE (a factor; default 1, or 0.2
 * under a sanitizer). */
#include "test-util.h"
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"



#define MAX_TASKS 3000
#define BASE_SEED 0x5eedca5cULL

static long scaled(long n, long floor) {
  const char *s = getenv("CASK_TEST_SCALE");
  double f = s && *s ? atof(s) : SANITIZED ? 0.2 : 1.0;
  long v = (long)((double)n * (f > 0 ? f : 1.0));
  return v < floor ? floor : v;
}

static uint64_t rng_next(uint64_t *s) { return mix64(*s += 0x9e3779b97f4a7c15ULL); }
static uint32_t rng_below(uint64_t *s, uint32_t n) { return n ? (uint32_t)(rng_next(s) % n) : 0; }

/* What task values are made of: order matters (input k is mixed with k). */
static uint64_t mix_input(uint64_t acc, uint64_t in, size_t k) {
  return mix64(acc ^ (in + 0x9e3779b97f4a7c15ULL * (k + 1)));
}

static uint64_t key_salt(const char *key, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
  for (; *key; key++) h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
  return mix64(h ^ seed);
}

/* ---- the op ------------------------------------------------------------ */

typedef struct pargs {
  uint64_t salt;
  uint64_t fail; /* nonzero: fail with CASK_EIO */
} pargs;

static atomic_long live_blocks;

static void release_counted(void *user, void *data) {
  (void)user;
  free(data);
  atomic_fetch_sub(&live_blocks, 1);
}

static int mix_run(cask_task_io *io) {
  pargs a;
  if (io->args_len != sizeof a) {
    snprintf(io->errmsg, io->errmsg_cap, "got %zu bytes of arguments", io->args_len);
    return CASK_EINVAL;
  }
  memcpy(&a, io->args, sizeof a);
  uint64_t acc = a.salt;
  for (size_t k = 0; k < io->ninputs; k++) {
    const cask_block *b = io->inputs[k];
    if (!b || cask_block_dtype(b) != CASK_I64 || cask_block_size(b) != 1) {
      snprintf(io->errmsg, io->errmsg_cap, "input %zu is missing or not a scalar", k);
      return CASK_EINVAL;
    }
    acc = mix_input(acc, *(const uint64_t *)cask_block_data(b), k);
  }
  if (a.fail) {
    snprintf(io->errmsg, io->errmsg_cap, "injected failure");
    return CASK_EIO;
  }
  uint64_t *p = malloc(sizeof *p);
  if (!p) return CASK_ENOMEM;
  *p = acc;
  atomic_fetch_add(&live_blocks, 1);
  int rc = cask_block_wrap(p, CASK_I64, 0, NULL, release_counted, NULL, &io->output);
  if (rc) release_counted(NULL, p);
  return rc;
}

static const cask_op *mix_op(void) {
  const cask_op *op = cask_op_find("prop.mix");
  if (op) return op;
  cask_op def = {"prop.mix", mix_run, NULL, NULL, NULL, 0, 0};
  ck_assert_int_eq(cask_op_register(&def, &op), CASK_OK);
  return op;
}

/* ---- random DAGs ------------------------------------------------------- */

typedef struct edges {
  uint32_t *consumer, *dep;
  size_t n, cap;
} edges;

static void edge(edges *e, uint32_t consumer, uint32_t dep) {
  require(dep < consumer, "edge from %u to %u goes forward", consumer, dep);
  if (e->n == e->cap) {
    e->cap = e->cap ? 2 * e->cap : 1024;
    e->consumer = realloc(e->consumer, e->cap * sizeof *e->consumer);
    e->dep = realloc(e->dep, e->cap * sizeof *e->dep);
    ck_assert(e->consumer && e->dep);
  }
  e->consumer[e->n] = consumer;
  e->dep[e->n++] = dep;
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Each generator adds the edges of tasks [lo, hi); dependencies point to
 * lower indices, so index order is a topological order. */
static void gen_layered(uint64_t *r, uint32_t lo, uint32_t hi, edges *e) {
  uint32_t maxw = 1 + rng_below(r, 64);
  uint32_t ps = lo, cs = lo, w = 1 + rng_below(r, maxw);
  for (uint32_t i = lo; i < hi; i++) {
    if (i - cs == w) {
      ps = cs;
      cs = i;
      w = 1 + rng_below(r, maxw);
    }
    if (cs == lo) continue; /* the first layer: roots */
    uint32_t nd = 1 + rng_below(r, 4);
    for (uint32_t k = 0; k < nd; k++)
      edge(e, i, rng_below(r, 10) ? ps + rng_below(r, cs - ps) : lo + rng_below(r, cs - lo));
  }
}

static void gen_random(uint64_t *r, uint32_t lo, uint32_t hi, edges *e) {
  for (uint32_t i = lo + 1; i < hi; i++) {
    uint32_t span = i - lo, nd = rng_below(r, min_u32(span, 6) + 1);
    for (uint32_t k = 0; k < nd; k++)
      edge(
          e, i,
          rng_below(r, 3) == 0 ? lo + rng_below(r, span) : i - 1 - rng_below(r, min_u32(span, 16)));
  }
}

/* Reductions: each task feeds one later task (a few feed none: a forest). */
static void gen_in_tree(uint64_t *r, uint32_t lo, uint32_t hi, edges *e) {
  uint32_t fan = 2 + rng_below(r, 8);
  for (uint32_t i = lo; i + 1 < hi; i++) {
    if (rng_below(r, 50) == 0) continue;
    edge(e, i + 1 + rng_below(r, min_u32(fan, hi - 1 - i)), i);
  }
}

/* Broadcasts: each task reads one earlier task. */
static void gen_out_tree(uint64_t *r, uint32_t lo, uint32_t hi, edges *e) {
  for (uint32_t i = lo + 1; i < hi; i++)
    edge(e, i,
         rng_below(r, 2) ? lo + rng_below(r, i - lo) : i - 1 - rng_below(r, min_u32(i - lo, 4)));
}

/* Interleaved chains (what fuse collapses), sometimes joined. */
static void gen_chains(uint64_t *r, uint32_t lo, uint32_t hi, edges *e) {
  enum { MAXC = 8 };
  uint32_t nch = 1 + rng_below(r, MAXC), last[MAXC];
  for (uint32_t c = 0; c < MAXC; c++) last[c] = UINT32_MAX;
  int join = hi - lo > 2 && rng_below(r, 2);
  uint32_t end = join ? hi - 1 : hi;
  for (uint32_t i = lo; i < end; i++) {
    uint32_t c = rng_below(r, 4) ? (i - lo) * nch / (end - lo) : rng_below(r, nch);
    if (last[c] != UINT32_MAX && rng_below(r, 40)) edge(e, i, last[c]);
    uint32_t c2 = rng_below(r, nch);
    if (rng_below(r, 20) == 0 && c2 != c && last[c2] != UINT32_MAX) edge(e, i, last[c2]);
    last[c] = i;
  }
  if (join)
    for (uint32_t c = 0; c < nch; c++)
      if (last[c] != UINT32_MAX) edge(e, hi - 1, last[c]);
}

/* A few roots, a wide middle reading them, one sink reading the whole
 * middle in a shuffled order. */
static void gen_fan(uint64_t *r, uint32_t lo, uint32_t hi, edges *e) {
  uint32_t n = hi - lo, roots = min_u32(n, 1 + rng_below(r, 3));
  if (n <= roots) return;
  uint32_t mid_end = n > roots + 1 ? hi - 1 : hi;
  for (uint32_t i = lo + roots; i < mid_end; i++) {
    edge(e, i, lo + rng_below(r, roots));
    if (rng_below(r, 4) == 0) edge(e, i, lo + rng_below(r, roots));
  }
  if (mid_end == hi) return;
  uint32_t m = mid_end - (lo + roots), *perm = malloc((m ? m : 1) * sizeof *perm);
  ck_assert_ptr_nonnull(perm);
  for (uint32_t k = 0; k < m; k++) perm[k] = lo + roots + k;
  for (uint32_t k = m; k > 1; k--) {
    uint32_t j = rng_below(r, k), t = perm[k - 1];
    perm[k - 1] = perm[j];
    perm[j] = t;
  }
  for (uint32_t k = 0; k < m; k++) edge(e, hi - 1, perm[k]);
  if (m == 0) edge(e, hi - 1, lo);
  free(perm);
}

/* Random edges, each often listed two or three times. */
static void gen_duplicates(uint64_t *r, uint32_t lo, uint32_t hi, edges *e) {
  for (uint32_t i = lo + 1; i < hi; i++) {
    uint32_t span = i - lo, nd = rng_below(r, min_u32(span, 4) + 1);
    for (uint32_t k = 0; k < nd; k++) {
      uint32_t d = i - 1 - rng_below(r, min_u32(span, 12));
      uint32_t times = 1 + rng_below(r, 3);
      for (uint32_t t = 0; t < times; t++) edge(e, i, d);
    }
  }
}

typedef void (*generator)(uint64_t *, uint32_t, uint32_t, edges *);
static const generator generators[] = {gen_layered, gen_random, gen_in_tree,   gen_out_tree,
                                       gen_chains,  gen_fan,    gen_duplicates};
static const char *const shape_names[] = {"layered", "random", "in-tree",    "out-tree",
                                          "chains",  "fan",    "duplicates", "mixed"};
#define NSHAPES 8
#define NGEN (sizeof generators / sizeof generators[0])

/* Segments of random shapes, then edges across them. */
static void gen_mixed(uint64_t *r, uint32_t n, edges *e) {
  uint32_t nseg = 1 + rng_below(r, 3), lo = 0;
  for (uint32_t s = 0; s < nseg && lo < n; s++) {
    uint32_t hi = s + 1 == nseg ? n : lo + 1 + rng_below(r, n - lo);
    generators[rng_below(r, NGEN)](r, lo, hi, e);
    lo = hi;
  }
  for (uint32_t k = n / 20; k > 0 && n > 1; k--) {
    uint32_t c = 1 + rng_below(r, n - 1);
    edge(e, c, rng_below(r, c));
  }
}

typedef struct dag {
  uint64_t seed;
  int shape;
  uint32_t n;
  uint32_t *off, *deps; /* dependencies of i: deps[off[i] .. off[i+1]) */
  uint8_t *output;
  int any_output;
  uint64_t *salt, *want;
  char (*keys)[16];
  int shuffled; /* added in a shuffled order */
} dag;

static void dag_make(dag *d, int shape, uint64_t seed, uint32_t n) {
  memset(d, 0, sizeof *d);
  d->seed = seed;
  d->shape = shape;
  d->n = n;
  uint64_t r = seed;
  edges e = {0};
  if (shape < (int)NGEN)
    generators[shape](&r, 0, n, &e);
  else
    gen_mixed(&r, n, &e);
  /* Dependency lists in the order the generator listed them. */
  d->off = calloc(n + 1, sizeof *d->off);
  d->deps = malloc((e.n ? e.n : 1) * sizeof *d->deps);
  d->output = calloc(n, 1);
  d->salt = malloc(n * sizeof *d->salt);
  d->want = malloc(n * sizeof *d->want);
  d->keys = malloc(n * sizeof *d->keys);
  ck_assert(d->off && d->deps && d->output && d->salt && d->want && d->keys);
  for (size_t k = 0; k < e.n; k++) d->off[e.consumer[k] + 1]++;
  for (uint32_t i = 0; i < n; i++) d->off[i + 1] += d->off[i];
  uint32_t *fill = calloc(n, sizeof *fill);
  ck_assert_ptr_nonnull(fill);
  for (size_t k = 0; k < e.n; k++) {
    uint32_t c = e.consumer[k];
    d->deps[d->off[c] + fill[c]++] = e.dep[k];
  }
  free(fill);
  free(e.consumer);
  free(e.dep);
  /* Outputs: none (the sinks count), a tenth, one task, or most sinks and
   * a few inner tasks. */
  uint32_t *consumers = calloc(n, sizeof *consumers);
  ck_assert_ptr_nonnull(consumers);
  for (uint32_t k = 0; k < d->off[n]; k++) consumers[d->deps[k]]++;
  uint32_t mode = rng_below(&r, 4);
  for (uint32_t i = 0; i < n; i++) {
    if (mode == 1) d->output[i] = rng_below(&r, 10) == 0;
    if (mode == 3) d->output[i] = consumers[i] == 0 ? rng_below(&r, 2) : rng_below(&r, 20) == 0;
  }
  if (mode == 2) d->output[rng_below(&r, n)] = 1;
  for (uint32_t i = 0; i < n; i++) d->any_output |= d->output[i];
  free(consumers);
  /* The sequential reference. */
  for (uint32_t i = 0; i < n; i++) {
    snprintf(d->keys[i], sizeof d->keys[i], "k%u", i);
    d->salt[i] = key_salt(d->keys[i], seed);
    uint64_t acc = d->salt[i];
    for (uint32_t k = d->off[i]; k < d->off[i + 1]; k++)
      acc = mix_input(acc, d->want[d->deps[k]], k - d->off[i]);
    d->want[i] = acc;
  }
  d->shuffled = rng_below(&r, 3) == 0;
}

static void dag_free(dag *d) {
  free(d->off);
  free(d->deps);
  free(d->output);
  free(d->salt);
  free(d->want);
  free(d->keys);
}

static int dag_kept(const dag *d, uint32_t i, const uint32_t *consumers) {
  return d->any_output ? d->output[i] : consumers[i] == 0;
}

/* Build the graph; id_of[i] receives the id of task i. fail: the task
 * that fails, or UINT32_MAX. */
static cask_graph *dag_build(const dag *d, uint32_t fail, cask_task_id *id_of) {
  cask_graph *g = NULL;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  const cask_op *op = mix_op();
  uint32_t *perm = malloc(d->n * sizeof *perm);
  ck_assert_ptr_nonnull(perm);
  for (uint32_t i = 0; i < d->n; i++) perm[i] = i;
  uint64_t r = d->seed ^ 0xabcdefULL;
  if (d->shuffled)
    for (uint32_t k = d->n; k > 1; k--) {
      uint32_t j = rng_below(&r, k), t = perm[k - 1];
      perm[k - 1] = perm[j];
      perm[j] = t;
    }
  size_t maxdeps = 0;
  for (uint32_t i = 0; i < d->n; i++)
    if (d->off[i + 1] - d->off[i] > maxdeps) maxdeps = d->off[i + 1] - d->off[i];
  const char **dk = malloc((maxdeps ? maxdeps : 1) * sizeof *dk);
  cask_task_id *di = malloc((maxdeps ? maxdeps : 1) * sizeof *di);
  ck_assert(dk && di);
  for (uint32_t k = 0; k < d->n; k++) {
    uint32_t i = perm[k];
    pargs a = {d->salt[i], i == fail};
    size_t nd = d->off[i + 1] - d->off[i];
    int rc;
    if (d->shuffled) {
      for (size_t j = 0; j < nd; j++) dk[j] = d->keys[d->deps[d->off[i] + j]];
      rc = cask_graph_add_keyed(g, d->keys[i], op, &a, sizeof a, dk, nd, &id_of[i]);
    } else {
      for (size_t j = 0; j < nd; j++) di[j] = id_of[d->deps[d->off[i] + j]];
      rc = cask_graph_add(g, d->keys[i], op, &a, sizeof a, di, nd, &id_of[i]);
    }
    require(rc == CASK_OK, "seed %llu: adding %s: %s", (unsigned long long)d->seed, d->keys[i],
            cask_graph_errmsg(g));
    require(!d->output[i] || cask_graph_set_output(g, id_of[i], 1) == CASK_OK, "set_output");
  }
  free(perm);
  free(dk);
  free(di);
  return g;
}

/* Size: one of four magnitudes, so small and large graphs both come up
 * often; the first two graphs of a shape are the extremes. */
static uint32_t pick_size(uint64_t *r, long gi) {
  if (gi == 0) return 1;
  if (gi == 1) return MAX_TASKS;
  static const uint32_t lo[] = {1, 10, 100, 1000}, hi[] = {10, 100, 1000, MAX_TASKS};
  uint32_t b = rng_below(r, 4);
  return lo[b] + rng_below(r, hi[b] - lo[b] + 1);
}

/* ---- running ----------------------------------------------------------- */

static const int thread_counts[] = {1, 2, 4, 8};
#define NRT 4

typedef struct starts {
  size_t n;
  atomic_uint *count;
  atomic_int bad;
} starts;

static void count_start(void *user, const cask_graph *g, cask_task_id id, int worker) {
  starts *s = user;
  (void)g;
  (void)worker;
  if (id < s->n)
    atomic_fetch_add_explicit(&s->count[id], 1, memory_order_relaxed);
  else
    atomic_store(&s->bad, 1);
}

static void starts_reset(starts *s, size_t n) {
  s->n = n;
  for (size_t i = 0; i < n; i++) atomic_store_explicit(&s->count[i], 0, memory_order_relaxed);
  atomic_store(&s->bad, 0);
}

#define CTX "seed %llu (%s, %u tasks%s, %s) at %d threads: "
#define CTX_ARGS(d, opt, t)                                       \
  (unsigned long long)(d)->seed, shape_names[(d)->shape], (d)->n, \
      (d)->shuffled ? ", shuffled" : "", (opt) ? "cull+fuse+order" : "as built", (t)

/* Run g (built from d, maybe optimized) and compare every kept task with
 * the reference. Unoptimized, also check each task started exactly once. */
static void run_and_check(cask_runtime *rt, int threads, cask_graph *g, const dag *d,
                          const cask_task_id *id_of, const uint32_t *consumers, int optimized,
                          starts *st) {
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  if (!optimized) {
    starts_reset(st, cask_graph_size(g));
    o.on_task_start = count_start;
    o.user = st;
  }
  cask_results *res = NULL;
  int rc = cask_run(rt, g, &o, &res);
  require(rc == CASK_OK, CTX "%s: %s", CTX_ARGS(d, optimized, threads), cask_err_name(rc),
          cask_runtime_errmsg(rt));
  long kept = 0;
  for (uint32_t i = 0; i < d->n; i++) {
    const cask_block *b =
        optimized ? cask_results_get_key(res, d->keys[i]) : cask_results_get(res, id_of[i]);
    if (!dag_kept(d, i, consumers)) {
      require(b == NULL, CTX "%s is not an output but has a result",
              CTX_ARGS(d, optimized, threads), d->keys[i]);
      continue;
    }
    kept++;
    require(b != NULL, CTX "output %s has no result", CTX_ARGS(d, optimized, threads), d->keys[i]);
    uint64_t got = *(const uint64_t *)cask_block_data(b);
    require(got == d->want[i], CTX "%s = %016llx, the reference says %016llx",
            CTX_ARGS(d, optimized, threads), d->keys[i], (unsigned long long)got,
            (unsigned long long)d->want[i]);
  }
  require(atomic_load(&live_blocks) == kept, CTX "%ld blocks alive for %ld outputs",
          CTX_ARGS(d, optimized, threads), atomic_load(&live_blocks), kept);
  cask_results_free(res);
  require(atomic_load(&live_blocks) == 0, CTX "%ld blocks alive after cask_results_free",
          CTX_ARGS(d, optimized, threads), atomic_load(&live_blocks));
  cask_run_stats stats;
  cask_runtime_last_stats(rt, &stats);
  require(stats.tasks_run == cask_graph_size(g), CTX "%llu tasks ran of %zu",
          CTX_ARGS(d, optimized, threads), (unsigned long long)stats.tasks_run, cask_graph_size(g));
  if (optimized) return;
  require(!atomic_load(&st->bad), "a start callback got a bad task id");
  for (uint32_t i = 0; i < d->n; i++) {
    unsigned c = atomic_load(&st->count[id_of[i]]);
    require(c == 1, CTX "%s started %u times", CTX_ARGS(d, optimized, threads), d->keys[i], c);
  }
}

static uint32_t *count_consumers(const dag *d) {
  uint32_t *c = calloc(d->n, sizeof *c);
  ck_assert_ptr_nonnull(c);
  for (uint32_t k = 0; k < d->off[d->n]; k++) c[d->deps[k]]++;
  return c;
}

static void new_runtimes(cask_runtime **rts) {
  for (int t = 0; t < NRT; t++) {
    cask_runtime_options o = {.threads = thread_counts[t]};
    ck_assert_int_eq(cask_runtime_new(&o, &rts[t]), CASK_OK);
  }
}

/* _i: the shape. */
START_TEST(random_dags_match_the_sequential_reference) {
  int shape = _i;
  long ngraphs = scaled(1000, 10);
  cask_runtime *rts[NRT];
  new_runtimes(rts);
  starts st = {0};
  st.count = calloc(MAX_TASKS, sizeof *st.count);
  cask_task_id *id_of = malloc(MAX_TASKS * sizeof *id_of);
  ck_assert(st.count && id_of);
  uint64_t sizes = 0, fused = 0;
  const cask_op *fused_op = cask_op_find("cask.fused");
  for (long gi = 0; gi < ngraphs; gi++) {
    uint64_t seed = BASE_SEED ^ ((uint64_t)shape << 40) ^ (uint64_t)gi;
    uint64_t r = seed;
    dag d;
    dag_make(&d, shape, seed, pick_size(&r, gi));
    uint32_t *consumers = count_consumers(&d);
    sizes += d.n;

    cask_graph *g = dag_build(&d, UINT32_MAX, id_of);
    for (int t = 0; t < NRT; t++)
      run_and_check(rts[t], thread_counts[t], g, &d, id_of, consumers, 0, &st);
    cask_graph_free(g);

    g = dag_build(&d, UINT32_MAX, id_of);
    int rc = cask_graph_optimize(g, CASK_OPT_ALL);
    require(rc == CASK_OK, "seed %llu: optimize: %s", (unsigned long long)seed,
            cask_graph_errmsg(g));
    for (cask_task_id t = 0; t < cask_graph_size(g); t++) fused += cask_graph_op(g, t) == fused_op;
    for (int t = 0; t < NRT; t++)
      run_and_check(rts[t], thread_counts[t], g, &d, id_of, consumers, 1, &st);
    cask_graph_free(g);
    free(consumers);
    dag_free(&d);
  }
  /* Not a suite of trivial graphs: sizes add up, and fused chains ran
   * (against the same reference as the unfused graph) for every shape
   * but the fans, which have no chain. */
  ck_assert_uint_gt(sizes, (uint64_t)ngraphs * 50);
  int fan = shape < (int)NGEN && generators[shape] == gen_fan;
  if (!fan) ck_assert_uint_gt(fused, 0);
  free(st.count);
  free(id_of);
  for (int t = 0; t < NRT; t++) cask_runtime_free(rts[t]);
}
END_TEST

/* Tasks that depend on f, directly or not (f included). */
static void mark_descendants(const dag *d, uint32_t f, uint8_t *below) {
  memset(below, 0, d->n);
  below[f] = 1;
  for (uint32_t i = f + 1; i < d->n; i++)
    for (uint32_t k = d->off[i]; k < d->off[i + 1] && !below[i]; k++) below[i] = below[d->deps[k]];
}

/* Does some kept task need f? (Else cull drops it and the run succeeds.) */
static int needed_by_kept(const dag *d, uint32_t f, const uint8_t *below,
                          const uint32_t *consumers) {
  for (uint32_t i = f; i < d->n; i++)
    if (below[i] && dag_kept(d, i, consumers)) return 1;
  return 0;
}

static void expect_failure(cask_runtime *rt, int threads, cask_graph *g, const dag *d, uint32_t f,
                           int optimized, starts *st, const cask_task_id *id_of,
                           const uint8_t *below) {
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  starts_reset(st, cask_graph_size(g));
  o.on_task_start = count_start;
  o.user = st;
  cask_results *res = (cask_results *)&res;
  int rc = cask_run(rt, g, &o, &res);
  require(rc == CASK_EIO, CTX "%s failing gave %s", CTX_ARGS(d, optimized, threads), d->keys[f],
          cask_err_name(rc));
  require(res == NULL, "a failed run left results");
  char quoted[32];
  snprintf(quoted, sizeof quoted, "'%s'", d->keys[f]);
  const char *msg = cask_runtime_errmsg(rt);
  require(strstr(msg, quoted) && strstr(msg, "prop.mix") && strstr(msg, "injected failure"),
          CTX "the message \"%s\" does not name %s", CTX_ARGS(d, optimized, threads), msg, quoted);
  require(atomic_load(&live_blocks) == 0, CTX "%ld blocks alive after the failed run",
          CTX_ARGS(d, optimized, threads), atomic_load(&live_blocks));
  if (optimized) return;
  for (uint32_t i = f + 1; i < d->n; i++)
    require(!below[i] || atomic_load(&st->count[id_of[i]]) == 0,
            CTX "%s started although it depends on the failed %s", CTX_ARGS(d, optimized, threads),
            d->keys[i], d->keys[f]);
}

/* _i: the shape. One task fails: the run reports it by key, frees every
 * block, and starts nothing downstream of it. */
START_TEST(random_dags_with_a_failing_task_free_everything) {
  int shape = _i;
  long ngraphs = scaled(200, 8);
  cask_runtime *rts[NRT];
  new_runtimes(rts);
  starts st = {0};
  st.count = calloc(MAX_TASKS, sizeof *st.count);
  cask_task_id *id_of = malloc(MAX_TASKS * sizeof *id_of);
  uint8_t *below = malloc(MAX_TASKS);
  ck_assert(st.count && id_of && below);
  long culled_ok = 0;
  for (long gi = 0; gi < ngraphs; gi++) {
    uint64_t seed = BASE_SEED ^ 0xfa11ULL ^ ((uint64_t)shape << 40) ^ (uint64_t)gi;
    uint64_t r = seed;
    dag d;
    dag_make(&d, shape, seed, pick_size(&r, gi + 2));
    uint32_t f = rng_below(&r, d.n);
    uint32_t *consumers = count_consumers(&d);
    mark_descendants(&d, f, below);
    int t = (int)(gi % NRT);

    cask_graph *g = dag_build(&d, f, id_of);
    expect_failure(rts[t], thread_counts[t], g, &d, f, 0, &st, id_of, below);
    cask_graph_free(g);

    g = dag_build(&d, f, id_of);
    ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_OK);
    t = (t + 1) % NRT;
    if (needed_by_kept(&d, f, below, consumers)) {
      expect_failure(rts[t], thread_counts[t], g, &d, f, 1, &st, id_of, below);
    } else {
      /* Culled away: the run succeeds with the reference values. */
      run_and_check(rts[t], thread_counts[t], g, &d, id_of, consumers, 1, &st);
      culled_ok++;
    }
    cask_graph_free(g);
    free(consumers);
    dag_free(&d);
  }
  (void)culled_ok;
  free(st.count);
  free(id_of);
  free(below);
  for (int t = 0; t < NRT; t++) cask_runtime_free(rts[t]);
}
END_TEST

Suite *scheduler_property_suite(void) {
  Suite *s = suite_create("scheduler_property");
  TCase *tc = tcase_create("reference");
  tcase_add_loop_test(tc, random_dags_match_the_sequential_reference, 0, NSHAPES);
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  tc = tcase_create("failure");
  tcase_add_loop_test(tc, random_dags_with_a_failing_task_free_everything, 0, NSHAPES);
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  return s;
}
