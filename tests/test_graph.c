/* test_graph.c - the graph module: building, validation, cull, fuse, order
 * and the predicted peak, plus property tests over random DAGs.
 * Random graphs come from a fixed-seed splitmix64 of our own; every failure
 * message of a property test prints the seed, so it can be replayed alone.
 * Test ops are registered as "test_graph.*"; the registry is process-wide,
 * so an op that already exists (CK_FORK=no) is looked up instead. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"
#include "graph/graph-int.h"

/* ---- helpers ----------------------------------------------------------- */

static int test_run(cask_task_io *io) {
  (void)io;
  return CASK_OK;
}

static const cask_op *test_op(const char *name) {
  cask_op def = {name, test_run, NULL, NULL, NULL, 0, 0};
  const cask_op *op = NULL;
  int rc = cask_op_register(&def, &op);
  if (rc == CASK_EOPEXISTS) op = cask_op_find(name);
  else ck_assert_msg(rc == CASK_OK, "registering %s: %s", name, cask_err_name(rc));
  ck_assert_ptr_nonnull(op);
  ck_assert_str_eq(op->name, name);
  return op;
}

static cask_graph *new_graph(void) {
  cask_graph *g = NULL;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  ck_assert_ptr_nonnull(g);
  return g;
}

/* Add a task with dependencies named by key; fails the test on error. */
static cask_task_id addk(cask_graph *g, const char *key, size_t ndeps,
                         const char *const *deps) {
  cask_task_id id;
  int rc = cask_graph_add_keyed(g, key, test_op("test_graph.op"), NULL, 0, deps, ndeps, &id);
  ck_assert_msg(rc == CASK_OK, "adding '%s': %s (%s)", key, cask_err_name(rc),
                cask_graph_errmsg(g));
  return id;
}
#define DEPS(...) (sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), \
                  (const char *const[]){__VA_ARGS__}

static cask_task_id id_of(const cask_graph *g, const char *key) {
  cask_task_id id;
  int rc = cask_graph_find(g, key, &id);
  ck_assert_msg(rc == CASK_OK, "key '%s' not found: %s", key, cask_err_name(rc));
  return id;
}

static int has_key(const cask_graph *g, const char *key) {
  cask_task_id id;
  return cask_graph_find(g, key, &id) == CASK_OK;
}

static void set_output(cask_graph *g, const char *key) {
  ck_assert_int_eq(cask_graph_set_output(g, id_of(g, key), 1), CASK_OK);
}

static void set_size(cask_graph *g, const char *key, int64_t bytes) {
  ck_assert_int_eq(cask_graph_set_size(g, id_of(g, key), bytes), CASK_OK);
}

static void assert_msg_names(const cask_graph *g, const char *key) {
  const char *msg = cask_graph_errmsg(g);
  char quoted[256];
  snprintf(quoted, sizeof quoted, "'%s'", key);
  ck_assert_msg(strstr(msg, quoted) != NULL, "message \"%s\" does not name '%s'", msg, key);
}

/* The keys of a task's dependencies, joined with ','. */
static void dep_keys(const cask_graph *g, cask_task_id id, char *out, size_t cap) {
  size_t n;
  const cask_task_id *d = cask_graph_deps(g, id, &n);
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (i) strncat(out, ",", cap - strlen(out) - 1);
    strncat(out, cask_graph_key(g, d[i]), cap - strlen(out) - 1);
  }
}

/* The element keys of a fused task, head first, joined with ','. */
static void fused_keys(const cask_graph *g, cask_task_id id, char *out, size_t cap) {
  size_t len, pos = 0;
  const void *blob = cask_graph_args(g, id, &len);
  const cask_op *op;
  const char *key;
  uint32_t kl, al;
  const void *args;
  out[0] = '\0';
  while (cask__fused_next(blob, len, &pos, &op, &key, &kl, &args, &al)) {
    if (out[0]) strncat(out, ",", cap - strlen(out) - 1);
    strncat(out, key, cap - strlen(out) - 1);
  }
  ck_assert_uint_eq(pos, len);
}

/* splitmix64: small, fast, and the same everywhere. */
typedef struct rng {
  uint64_t s;
} rng;
static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static uint32_t rng_below(rng *r, uint32_t n) { return (uint32_t)(rng_next(r) % n); }

/* ---- building ---------------------------------------------------------- */

/* Regression: find on a graph with no task probed a table that did not
 * exist yet (a NULL dereference), found by the array lowering. */
START_TEST(graph_find_in_an_empty_graph_is_not_found) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id id = 7;
  ck_assert_int_eq(cask_graph_find(g, "anything", &id), CASK_ENOTFOUND);
  ck_assert_int_eq(cask_graph_clear(g), CASK_OK);
  ck_assert_int_eq(cask_graph_find(g, "anything", &id), CASK_ENOTFOUND);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_add_and_find_by_key) {
  cask_graph *g = new_graph();
  const cask_op *op = test_op("test_graph.op");
  ck_assert_uint_eq(cask_graph_size(g), 0);
  char args[] = "argument bytes";
  cask_task_id a, b;
  ck_assert_int_eq(cask_graph_add(g, "load-a", op, args, sizeof args, NULL, 0, &a), CASK_OK);
  args[0] = 'X'; /* the graph holds a copy */
  ck_assert_int_eq(cask_graph_add(g, "sum-b", op, NULL, 0, &a, 1, &b), CASK_OK);
  ck_assert_uint_ne(a, b);
  ck_assert_uint_eq(cask_graph_size(g), 2);
  ck_assert_uint_eq(id_of(g, "load-a"), a);
  ck_assert_uint_eq(id_of(g, "sum-b"), b);
  ck_assert_str_eq(cask_graph_key(g, a), "load-a");
  ck_assert_str_eq(cask_graph_key(g, b), "sum-b");
  ck_assert_ptr_eq(cask_graph_op(g, a), op);
  size_t len;
  const char *got = cask_graph_args(g, a, &len);
  ck_assert_uint_eq(len, sizeof args);
  ck_assert_str_eq(got, "argument bytes");
  cask_graph_args(g, b, &len);
  ck_assert_uint_eq(len, 0);
  ck_assert_int_eq(cask_graph_size_estimate(g, a), -1);
  ck_assert(!cask_graph_is_output(g, a));
  cask_task_id none = 12345;
  ck_assert_int_eq(cask_graph_find(g, "load", &none), CASK_ENOTFOUND);
  ck_assert_int_eq(cask_graph_find(g, "load-a ", &none), CASK_ENOTFOUND);
  ck_assert_uint_eq(none, 12345);
  ck_assert_str_eq(cask_graph_errmsg(g), "");

  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  size_t n;
  const cask_task_id *d = cask_graph_deps(g, b, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert_uint_eq(d[0], a);
  d = cask_graph_dependents(g, a, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert_uint_eq(d[0], b);
  cask_graph_dependents(g, b, &n);
  ck_assert_uint_eq(n, 0);
  cask_graph_free(g);
  cask_graph_free(NULL);
}
END_TEST

START_TEST(graph_finds_thousands_of_keys) {
  /* Past the first growth of the key table (1024 slots). */
  cask_graph *g = new_graph();
  char key[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "('x', %d)", i);
    ck_assert_uint_eq(addk(g, key, 0, NULL), (cask_task_id)i);
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "('x', %d)", i);
    ck_assert_uint_eq(id_of(g, key), (cask_task_id)i);
    ck_assert_str_eq(cask_graph_key(g, (cask_task_id)i), key);
  }
  ck_assert(!has_key(g, "('x', 5000)"));
  cask_graph_free(g);
}
END_TEST

/* Make a graph holding a duplicate key, added by id or by key. */
static cask_graph *graph_with_duplicate(int keyed) {
  const cask_op *op = test_op("test_graph.op");
  cask_graph *g = new_graph();
  addk(g, "dup-key-1", 0, NULL);
  addk(g, "other", 0, NULL);
  /* Keys are indexed lazily (graph.h): the add itself does not look. */
  int rc = keyed ? cask_graph_add_keyed(g, "dup-key-1", op, NULL, 0, NULL, 0, NULL)
                 : cask_graph_add(g, "dup-key-1", op, NULL, 0, NULL, 0, NULL);
  ck_assert_msg(rc == CASK_OK, "adding a duplicate gave %s", cask_err_name(rc));
  return g;
}

START_TEST(graph_rejects_duplicate_key_and_names_it) {
  /* Each call that needs the index reports it, naming the key, and the
   * graph stays refused until cask_graph_clear. */
  const cask_op *op = test_op("test_graph.op");
  for (int keyed = 0; keyed <= 1; keyed++) {
    const char *how = keyed ? "add_keyed" : "add";
    for (int first = 0; first < 3; first++) {
      cask_graph *g = graph_with_duplicate(keyed);
      cask_task_id id;
      int rc = first == 0 ? cask_graph_validate(g)
               : first == 1 ? cask_graph_find(g, "other", &id)
                            : cask_graph_add(g, NULL, op, NULL, 0, NULL, 0, &id);
      ck_assert_msg(rc == CASK_EDUPKEY, "%s, then call %d: %s", how, first, cask_err_name(rc));
      assert_msg_names(g, "dup-key-1");
      ck_assert_int_eq(cask_graph_validate(g), CASK_EDUPKEY);
      ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_EDUPKEY);
      ck_assert_int_eq(cask_graph_find(g, "dup-key-1", &id), CASK_EDUPKEY);
      ck_assert_int_eq(cask_graph_add(g, NULL, op, "x", 1, NULL, 0, &id), CASK_EDUPKEY);
      assert_msg_names(g, "dup-key-1");
      /* Cleared, the graph is usable again. */
      ck_assert_int_eq(cask_graph_clear(g), CASK_OK);
      addk(g, "dup-key-1", 0, NULL);
      ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
      ck_assert_uint_eq(id_of(g, "dup-key-1"), 0);
      cask_graph_free(g);
    }
  }
}
END_TEST

START_TEST(graph_derived_keys_merge_identical_tasks) {
  cask_graph *g = new_graph();
  const cask_op *op = test_op("test_graph.op");
  const cask_op *op2 = test_op("test_graph.other");
  cask_task_id a = addk(g, "a", 0, NULL), b = addk(g, "b", 0, NULL);
  const unsigned char args[] = {1, 2, 0};
  cask_task_id ab[] = {a, b}, ba[] = {b, a};
  cask_task_id t1, t2, t3;
  ck_assert_int_eq(cask_graph_add(g, NULL, op, args, 2, ab, 2, &t1), CASK_OK);
  size_t before = cask_graph_size(g);
  ck_assert_int_eq(cask_graph_add(g, NULL, op, args, 2, ab, 2, &t2), CASK_OK);
  ck_assert_uint_eq(t1, t2);
  ck_assert_uint_eq(cask_graph_size(g), before);
  const char *key = cask_graph_key(g, t1);
  ck_assert_msg(strncmp(key, "test_graph.op-", 14) == 0 && strlen(key) == 14 + 16,
                "derived key '%s' is not 'test_graph.op-<16 hex digits>'", key);

  /* Anything that changes the computation changes the task. */
  struct {
    const char *what;
    const cask_op *op;
    const void *args;
    size_t args_len;
    const cask_task_id *deps;
    size_t ndeps;
  } differ[] = {
      {"other args", op, (const unsigned char[]){1, 3}, 2, ab, 2},
      {"longer args", op, args, 3, ab, 2},
      {"no args", op, NULL, 0, ab, 2},
      {"deps swapped", op, args, 2, ba, 2},
      {"fewer deps", op, args, 2, ab, 1},
      {"no deps", op, args, 2, NULL, 0},
      {"other op", op2, args, 2, ab, 2},
  };
  cask_task_id seen[16];
  size_t nseen = 0;
  seen[nseen++] = t1;
  for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++) {
    ck_assert_int_eq(cask_graph_add(g, NULL, differ[i].op, differ[i].args, differ[i].args_len,
                                    differ[i].deps, differ[i].ndeps, &t3),
                     CASK_OK);
    for (size_t j = 0; j < nseen; j++)
      ck_assert_msg(t3 != seen[j], "%s: merged with task %u '%s'", differ[i].what,
                    (unsigned)seen[j], cask_graph_key(g, seen[j]));
    seen[nseen++] = t3;
    /* ... and adding it again merges. */
    cask_task_id again;
    ck_assert_int_eq(cask_graph_add(g, NULL, differ[i].op, differ[i].args, differ[i].args_len,
                                    differ[i].deps, differ[i].ndeps, &again),
                     CASK_OK);
    ck_assert_msg(again == t3, "%s: the same task added twice got ids %u and %u",
                  differ[i].what, (unsigned)t3, (unsigned)again);
  }
  ck_assert_uint_eq(cask_graph_size(g), 2 + nseen);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_derived_keys_see_through_dependency_keys) {
  /* Two graphs built the same way derive the same keys: the derivation uses
   * dependency keys, not ids. */
  const cask_op *op = test_op("test_graph.op");
  cask_graph *g1 = new_graph(), *g2 = new_graph();
  addk(g1, "a", 0, NULL);
  addk(g2, "pad", 0, NULL);
  addk(g2, "a", 0, NULL);
  cask_task_id d1 = id_of(g1, "a"), d2 = id_of(g2, "a"), t1, t2;
  ck_assert_int_eq(cask_graph_add(g1, NULL, op, "xy", 2, &d1, 1, &t1), CASK_OK);
  ck_assert_int_eq(cask_graph_add(g2, NULL, op, "xy", 2, &d2, 1, &t2), CASK_OK);
  ck_assert_str_eq(cask_graph_key(g1, t1), cask_graph_key(g2, t2));
  cask_graph_free(g1);
  cask_graph_free(g2);
}
END_TEST

START_TEST(graph_tasks_may_have_many_dependencies) {
  /* More than the 16 dependencies the add calls keep on the stack. */
  cask_graph *g = new_graph();
  const cask_op *op = test_op("test_graph.op");
  enum { N = 40 };
  cask_task_id ids[N];
  char keys[N][16];
  const char *kp[N];
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "in-%d", i);
    kp[i] = keys[i];
    ids[i] = addk(g, keys[i], 0, NULL);
  }
  cask_task_id wide_ids, wide_keys, wide_derived;
  /* Listed in reverse for the keyed one, so order matters in the check. */
  const char *rev[N];
  for (int i = 0; i < N; i++) rev[i] = kp[N - 1 - i];
  ck_assert_int_eq(cask_graph_add(g, "wide-ids", op, NULL, 0, ids, N, &wide_ids), CASK_OK);
  ck_assert_int_eq(cask_graph_add_keyed(g, "wide-keys", op, NULL, 0, rev, N, &wide_keys), CASK_OK);
  ck_assert_int_eq(cask_graph_add(g, NULL, op, NULL, 0, ids, N, &wide_derived), CASK_OK);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  size_t n;
  const cask_task_id *d = cask_graph_deps(g, wide_ids, &n);
  ck_assert_uint_eq(n, N);
  for (int i = 0; i < N; i++) ck_assert_uint_eq(d[i], ids[i]);
  d = cask_graph_deps(g, wide_keys, &n);
  ck_assert_uint_eq(n, N);
  for (int i = 0; i < N; i++) ck_assert_uint_eq(d[i], ids[N - 1 - i]);
  d = cask_graph_deps(g, wide_derived, &n);
  ck_assert_uint_eq(n, N);
  cask_graph_dependents(g, ids[7], &n);
  ck_assert_uint_eq(n, 3);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_keyed_deps_may_be_added_later) {
  cask_graph *g = new_graph();
  cask_task_id late_consumer = addk(g, "consumer", DEPS("early", "late"));
  addk(g, "early", 0, NULL);
  ck_assert_int_eq(cask_graph_validate(g), CASK_EMISSINGDEP);
  size_t n = 99;
  ck_assert_ptr_null(cask_graph_deps(g, late_consumer, &n));
  ck_assert_uint_eq(n, 0);
  cask_task_id late = addk(g, "late", 0, NULL);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  const cask_task_id *d = cask_graph_deps(g, late_consumer, &n);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(d[0], id_of(g, "early"));
  ck_assert_uint_eq(d[1], late);
  d = cask_graph_dependents(g, late, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert_uint_eq(d[0], late_consumer);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_change_undoes_validation_and_order) {
  cask_graph *g = new_graph();
  cask_task_id a = addk(g, "a", 0, NULL), b = addk(g, "b", DEPS("a"));
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_priority(g, a), 0);
  ck_assert_uint_eq(cask_graph_priority(g, b), 1);
  size_t n;
  ck_assert_ptr_nonnull(cask_graph_deps(g, b, &n));
  ck_assert_uint_eq(n, 1);
  /* A new output changes the order: it is dropped. */
  ck_assert_int_eq(cask_graph_set_output(g, b, 1), CASK_OK);
  ck_assert_uint_eq(cask_graph_priority(g, a), UINT32_MAX);
  int64_t peak;
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_priority(g, b), 1);
  /* A new task undoes everything. */
  addk(g, "c", DEPS("a"));
  n = 9;
  ck_assert_ptr_null(cask_graph_deps(g, b, &n));
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_null(cask_graph_dependents(g, a, &n));
  ck_assert_uint_eq(cask_graph_priority(g, a), UINT32_MAX);
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK); /* idempotent */
  cask_graph_dependents(g, a, &n);
  ck_assert_uint_eq(n, 2);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_deps_of_a_validated_task_without_dependencies_is_not_null) {
  /* graph.h: NULL means "not validated"; a validated task with no
   * dependencies has an empty list, not NULL. */
  cask_graph *g = new_graph();
  cask_task_id a = addk(g, "lonely", 0, NULL);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  size_t n = 9;
  const cask_task_id *d = cask_graph_deps(g, a, &n);
  ck_assert_uint_eq(n, 0);
  ck_assert_msg(d != NULL, "deps of a validated task in a graph without edges is NULL");
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_clear_empties_the_graph_for_reuse) {
  cask_graph *g = new_graph();
  addk(g, "a", 0, NULL);
  addk(g, "b", DEPS("a"));
  set_output(g, "b");
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_int_eq(cask_graph_clear(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 0);
  ck_assert(!has_key(g, "a"));
  ck_assert_str_eq(cask_graph_errmsg(g), "");
  /* The same keys again are not duplicates; the old output is gone. */
  addk(g, "b", DEPS("a"));
  addk(g, "a", 0, NULL);
  addk(g, "x", DEPS("a"));
  ck_assert_int_eq(cask_graph_cull(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 3); /* no output: both sinks stay */
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_uint_lt(cask_graph_priority(g, id_of(g, "a")), cask_graph_priority(g, id_of(g, "b")));
  /* A cleared error: a graph refused for a cycle is usable after clear. */
  ck_assert_int_eq(cask_graph_clear(g), CASK_OK);
  addk(g, "loop", DEPS("loop"));
  ck_assert_int_eq(cask_graph_validate(g), CASK_ECYCLE);
  ck_assert_int_eq(cask_graph_clear(g), CASK_OK);
  addk(g, "loop", 0, NULL);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  ck_assert_int_eq(cask_graph_clear(NULL), CASK_EINVAL);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_reserve_then_build) {
  cask_graph *g = new_graph();
  ck_assert_int_eq(cask_graph_reserve(NULL, 10, 10), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_reserve(g, (size_t)UINT32_MAX + 1, 0), CASK_ETOOBIG);
  ck_assert_int_eq(cask_graph_reserve(g, 3000, 3000), CASK_OK);
  char key[32], dep[32];
  for (int i = 0; i < 3000; i++) {
    snprintf(key, sizeof key, "t%d", i);
    snprintf(dep, sizeof dep, "t%d", i - 1);
    if (i) addk(g, key, DEPS(dep));
    else addk(g, key, 0, NULL);
  }
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  ck_assert_uint_eq(id_of(g, "t2999"), 2999);
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 1);
  cask_graph_free(g);
}
END_TEST

/* ---- validation -------------------------------------------------------- */

START_TEST(graph_rejects_missing_dependency_and_names_both_keys) {
  cask_graph *g = new_graph();
  addk(g, "present-input", 0, NULL);
  addk(g, "consumer-task-7", DEPS("present-input", "absent-input-3"));
  ck_assert_int_eq(cask_graph_validate(g), CASK_EMISSINGDEP);
  assert_msg_names(g, "consumer-task-7");
  /* The header promises both keys (graph.h, cask_graph_validate). */
  assert_msg_names(g, "absent-input-3");
  cask_graph_free(g);
}
END_TEST

/* Every 'quoted' name in the message is one of keys[], and there is one. */
static void assert_msg_names_only(const cask_graph *g, const char *const *keys, size_t nkeys) {
  const char *msg = cask_graph_errmsg(g);
  size_t named = 0;
  for (const char *p = strchr(msg, '\''); p; p = strchr(p, '\'')) {
    const char *end = strchr(p + 1, '\'');
    if (!end) break; /* cut off by the message's size */
    size_t len = (size_t)(end - p - 1);
    int on_cycle = 0;
    for (size_t i = 0; i < nkeys && !on_cycle; i++)
      on_cycle = strlen(keys[i]) == len && strncmp(keys[i], p + 1, len) == 0;
    ck_assert_msg(on_cycle, "message \"%s\" names '%.*s', which is not on the cycle", msg,
                  (int)len, p + 1);
    named++;
    p = end + 1;
  }
  ck_assert_msg(named > 0, "message \"%s\" names no task", msg);
}

START_TEST(graph_rejects_cycle_and_names_a_task_on_it) {
  /* A 3-cycle with a task downstream of it added first (so a walk from the
   * first stuck task starts off the cycle) and a task upstream of it. */
  cask_graph *g = new_graph();
  addk(g, "downstream", DEPS("cyc-c"));
  addk(g, "upstream", 0, NULL);
  addk(g, "cyc-a", DEPS("upstream", "cyc-c"));
  addk(g, "cyc-b", DEPS("cyc-a"));
  addk(g, "cyc-c", DEPS("cyc-b"));
  ck_assert_int_eq(cask_graph_validate(g), CASK_ECYCLE);
  static const char *const cycle[] = {"cyc-a", "cyc-b", "cyc-c"};
  assert_msg_names_only(g, cycle, 3);
  size_t n;
  ck_assert_ptr_null(cask_graph_deps(g, 0, &n));
  ck_assert_int_eq(cask_graph_order(g), CASK_ECYCLE);
  ck_assert_int_eq(cask_graph_cull(g), CASK_ECYCLE);
  ck_assert_int_eq(cask_graph_fuse(g), CASK_ECYCLE);
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_ECYCLE);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_rejects_self_loop_and_names_it) {
  cask_graph *g = new_graph();
  addk(g, "fine", 0, NULL);
  addk(g, "self-loop", DEPS("fine", "self-loop"));
  addk(g, "after", DEPS("self-loop"));
  ck_assert_int_eq(cask_graph_validate(g), CASK_ECYCLE);
  static const char *const cycle[] = {"self-loop"};
  assert_msg_names_only(g, cycle, 1);
  cask_graph_free(g);
}
END_TEST

START_TEST(graph_rejects_long_cycle_and_names_tasks_on_it) {
  /* A ring of 5000 tasks fed by a chain of 1000: the message is cut to its
   * buffer, but what it names is on the ring. */
  enum { RING = 5000, TAIL = 1000 };
  cask_graph *g = new_graph();
  char key[32], dep[32], dep2[32];
  for (int i = 0; i < TAIL; i++) {
    snprintf(key, sizeof key, "chain-%d", i);
    snprintf(dep, sizeof dep, "chain-%d", i - 1);
    if (i) addk(g, key, DEPS(dep));
    else addk(g, key, 0, NULL);
  }
  for (int i = 0; i < RING; i++) {
    snprintf(key, sizeof key, "ring-%d", i);
    snprintf(dep, sizeof dep, "ring-%d", (i + RING - 1) % RING);
    snprintf(dep2, sizeof dep2, "chain-%d", TAIL - 1);
    if (i == 0) addk(g, key, DEPS(dep, dep2));
    else addk(g, key, DEPS(dep));
  }
  ck_assert_int_eq(cask_graph_validate(g), CASK_ECYCLE);
  static char names[RING][24];
  static const char *ring[RING];
  for (int i = 0; i < RING; i++) {
    snprintf(names[i], sizeof names[i], "ring-%d", i);
    ring[i] = names[i];
  }
  assert_msg_names_only(g, ring, RING);
  ck_assert_uint_lt(strlen(cask_graph_errmsg(g)), CASK__ERRMSG_CAP);
  cask_graph_free(g);
}
END_TEST

/* ---- cull -------------------------------------------------------------- */

START_TEST(cull_keeps_only_what_outputs_need) {
  cask_graph *g = new_graph();
  addk(g, "dead-1", 0, NULL);
  addk(g, "a", 0, NULL);
  addk(g, "b", DEPS("a"));
  addk(g, "dead-2", DEPS("a", "b"));
  addk(g, "c", DEPS("b", "a"));
  addk(g, "dead-3", DEPS("c"));
  addk(g, "island", 0, NULL);
  addk(g, "out-2", 0, NULL);
  set_output(g, "c");
  set_output(g, "out-2");
  set_size(g, "c", 123);
  ck_assert_int_eq(cask_graph_cull(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 4);
  static const char *const gone[] = {"dead-1", "dead-2", "dead-3", "island"};
  for (int i = 0; i < 4; i++)
    ck_assert_msg(!has_key(g, gone[i]), "'%s' survived the cull", gone[i]);
  /* The survivors keep their relative order, outputs and sizes. */
  ck_assert_uint_eq(id_of(g, "a"), 0);
  ck_assert_uint_eq(id_of(g, "b"), 1);
  ck_assert_uint_eq(id_of(g, "c"), 2);
  ck_assert_uint_eq(id_of(g, "out-2"), 3);
  ck_assert(cask_graph_is_output(g, id_of(g, "c")));
  ck_assert(cask_graph_is_output(g, id_of(g, "out-2")));
  ck_assert(!cask_graph_is_output(g, id_of(g, "a")));
  ck_assert_int_eq(cask_graph_size_estimate(g, id_of(g, "c")), 123);
  char deps[256];
  dep_keys(g, id_of(g, "c"), deps, sizeof deps);
  ck_assert_str_eq(deps, "b,a");
  dep_keys(g, id_of(g, "b"), deps, sizeof deps);
  ck_assert_str_eq(deps, "a");
  /* Culling again changes nothing. */
  ck_assert_int_eq(cask_graph_cull(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 4);
  cask_graph_free(g);
}
END_TEST

START_TEST(cull_without_outputs_keeps_everything_reachable_from_sinks) {
  /* With no output, every sink counts as one; in a DAG every task reaches a
   * sink, so nothing goes. */
  cask_graph *g = new_graph();
  addk(g, "a", 0, NULL);
  addk(g, "b", DEPS("a"));
  addk(g, "sink-1", DEPS("b"));
  addk(g, "sink-2", DEPS("a"));
  addk(g, "island", 0, NULL);
  ck_assert_int_eq(cask_graph_cull(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 5);
  static const char *const all[] = {"a", "b", "sink-1", "sink-2", "island"};
  for (int i = 0; i < 5; i++) ck_assert_uint_eq(id_of(g, all[i]), (cask_task_id)i);
  /* Unmarking the only output goes back to "every sink". */
  set_output(g, "sink-1");
  ck_assert_int_eq(cask_graph_cull(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 3);
  ck_assert_int_eq(cask_graph_set_output(g, id_of(g, "sink-1"), 0), CASK_OK);
  addk(g, "late-sink", DEPS("a"));
  ck_assert_int_eq(cask_graph_cull(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 4);
  cask_graph_free(g);
}
END_TEST

START_TEST(cull_of_a_graph_without_edges_keeps_the_outputs) {
  cask_graph *g = new_graph();
  addk(g, "x", 0, NULL);
  addk(g, "y", 0, NULL);
  addk(g, "z", 0, NULL);
  set_output(g, "y");
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 1);
  ck_assert_uint_eq(id_of(g, "y"), 0);
  ck_assert(cask_graph_is_output(g, 0));
  ck_assert_uint_eq(cask_graph_priority(g, 0), 0);
  cask_graph_free(g);
}
END_TEST

START_TEST(cull_of_an_empty_graph_is_fine) {
  cask_graph *g = new_graph();
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 0);
  int64_t peak = -5;
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
  ck_assert_int_eq(peak, 0);
  cask_graph_free(g);
}
END_TEST

/* ---- fuse -------------------------------------------------------------- */

START_TEST(fuse_merges_linear_chain_keeps_tail_key) {
  cask_graph *g = new_graph();
  const cask_op *op = test_op("test_graph.op");
  const cask_op *op2 = test_op("test_graph.other");
  ck_assert_int_eq(cask_graph_add_keyed(g, "src", op, "s", 1, NULL, 0, NULL), CASK_OK);
  const char *k1[] = {"src"}, *k2[] = {"mid"}, *k3[] = {"tail"};
  ck_assert_int_eq(cask_graph_add_keyed(g, "mid", op2, "middle", 6, k1, 1, NULL), CASK_OK);
  ck_assert_int_eq(cask_graph_add_keyed(g, "tail", op, NULL, 0, k2, 1, NULL), CASK_OK);
  ck_assert_int_eq(cask_graph_add_keyed(g, "end", op2, "e", 1, k3, 1, NULL), CASK_OK);
  set_output(g, "end");
  set_size(g, "end", 4096);
  set_size(g, "mid", 1);
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 1);
  cask_task_id t = id_of(g, "end");
  ck_assert_ptr_eq(cask_graph_op(g, t), cask_op_find("cask.fused"));
  ck_assert(cask_graph_is_output(g, t));
  ck_assert_int_eq(cask_graph_size_estimate(g, t), 4096);
  size_t len;
  const void *blob = cask_graph_args(g, t, &len);
  ck_assert_uint_eq(cask__fused_count(blob, len), 4);
  /* Head first, each element with its own op, key and args. */
  static const struct {
    const char *key, *args;
    size_t args_len;
    const char *op;
  } want[] = {{"src", "s", 1, "test_graph.op"},
              {"mid", "middle", 6, "test_graph.other"},
              {"tail", "", 0, "test_graph.op"},
              {"end", "e", 1, "test_graph.other"}};
  size_t pos = 0;
  const cask_op *eop;
  const char *key;
  uint32_t kl, al;
  const void *args;
  for (int i = 0; i < 4; i++) {
    ck_assert(cask__fused_next(blob, len, &pos, &eop, &key, &kl, &args, &al));
    ck_assert_str_eq(key, want[i].key);
    ck_assert_uint_eq(kl, strlen(want[i].key));
    ck_assert_str_eq(eop->name, want[i].op);
    ck_assert_uint_eq(al, want[i].args_len);
    ck_assert_mem_eq(args, want[i].args, al);
  }
  cask_graph_free(g);
}
END_TEST

START_TEST(fuse_chain_takes_the_heads_dependencies) {
  /* in-0..in-19 -> join -> step -> out: join, step and out fuse into "out",
   * which depends on all twenty inputs, in order. */
  cask_graph *g = new_graph();
  enum { N = 20 };
  char keys[N][16];
  const char *kp[N];
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "in-%d", i);
    kp[i] = keys[i];
    addk(g, keys[i], 0, NULL);
  }
  addk(g, "join", N, kp);
  addk(g, "step", DEPS("join"));
  addk(g, "out", DEPS("step"));
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), N + 1);
  ck_assert(!has_key(g, "join"));
  ck_assert(!has_key(g, "step"));
  char got[512], want[512] = "";
  for (int i = 0; i < N; i++) {
    if (i) strcat(want, ",");
    strcat(want, keys[i]);
  }
  dep_keys(g, id_of(g, "out"), got, sizeof got);
  ck_assert_str_eq(got, want);
  fused_keys(g, id_of(g, "out"), got, sizeof got);
  ck_assert_str_eq(got, "join,step,out");
  cask_graph_free(g);
}
END_TEST

START_TEST(fuse_never_fuses_outputs_away) {
  cask_graph *g = new_graph();
  addk(g, "a", 0, NULL);
  addk(g, "b", DEPS("a"));
  addk(g, "c", DEPS("b"));
  addk(g, "d", DEPS("c"));
  set_output(g, "b");
  set_output(g, "d");
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 2);
  char got[256];
  ck_assert(cask_graph_is_output(g, id_of(g, "b")));
  ck_assert(cask_graph_is_output(g, id_of(g, "d")));
  fused_keys(g, id_of(g, "b"), got, sizeof got);
  ck_assert_str_eq(got, "a,b");
  fused_keys(g, id_of(g, "d"), got, sizeof got);
  ck_assert_str_eq(got, "c,d");
  dep_keys(g, id_of(g, "d"), got, sizeof got);
  ck_assert_str_eq(got, "b");
  cask_graph_free(g);
}
END_TEST

START_TEST(fuse_leaves_diamonds_alone) {
  cask_graph *g = new_graph();
  const cask_op *op = test_op("test_graph.op");
  addk(g, "top", 0, NULL);
  addk(g, "left", DEPS("top"));
  addk(g, "right", DEPS("top"));
  addk(g, "bottom", DEPS("left", "right"));
  /* A task that uses one input twice is not a chain link either. */
  addk(g, "twice", DEPS("bottom", "bottom"));
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 5);
  for (cask_task_id i = 0; i < 5; i++) ck_assert_ptr_eq(cask_graph_op(g, i), op);
  char got[256];
  dep_keys(g, id_of(g, "bottom"), got, sizeof got);
  ck_assert_str_eq(got, "left,right");
  dep_keys(g, id_of(g, "twice"), got, sizeof got);
  ck_assert_str_eq(got, "bottom,bottom");
  cask_graph_free(g);
}
END_TEST

START_TEST(fuse_twice_flattens_chains) {
  cask_graph *g = new_graph();
  addk(g, "a", 0, NULL);
  addk(g, "b", DEPS("a"));
  addk(g, "c", DEPS("b"));
  addk(g, "d", DEPS("c"));
  set_output(g, "b");
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 2);
  /* A fixed point: fusing again changes nothing. */
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 2);
  /* Release b: the two fused tasks now form one chain, which must hold the
   * four original sub-tasks, not a fused task inside a fused task. */
  ck_assert_int_eq(cask_graph_set_output(g, id_of(g, "b"), 0), CASK_OK);
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 1);
  cask_task_id d = id_of(g, "d");
  char got[256];
  fused_keys(g, d, got, sizeof got);
  ck_assert_str_eq(got, "a,b,c,d");
  size_t len, pos = 0;
  const void *blob = cask_graph_args(g, d, &len);
  const cask_op *op;
  const char *key;
  uint32_t kl, al;
  const void *args;
  while (cask__fused_next(blob, len, &pos, &op, &key, &kl, &args, &al))
    ck_assert_msg(op != cask_op_find("cask.fused"), "sub-task '%s' is itself fused", key);
  cask_graph_free(g);
}
END_TEST

/* Chains through ghosts (graph-int.h, CASK__TASK_GHOST): a (pinned to rank
 * 1) -> b (on rank 1) -> c, and gp (on rank 0) -> x -> y; b and gp are
 * ghosts when `ghosts`. Without the marks each chain fuses whole (a into
 * b too: both pinned to rank 1). */
static cask_graph *ghost_chains(int ghosts) {
  cask_graph *g = new_graph();
  addk(g, "a", 0, NULL);
  addk(g, "b", DEPS("a"));
  addk(g, "c", DEPS("b"));
  addk(g, "gp", 0, NULL);
  addk(g, "x", DEPS("gp"));
  addk(g, "y", DEPS("x"));
  addk(g, "unused", 0, NULL);
  set_output(g, "c");
  set_output(g, "y");
  const char *pinned[3] = {"a", "b", "gp"};
  const uint32_t rank[3] = {1, 1, 0};
  for (int i = 0; i < 3; i++) {
    cask_place_hint h = {CASK_PLACE_RANK, rank[i], 0, 0, 0};
    ck_assert_int_eq(cask_graph_set_place(g, id_of(g, pinned[i]), &h), CASK_OK);
  }
  if (ghosts) {
    ck_assert_int_eq(cask__graph_set_ghost(g, id_of(g, "b")), CASK_OK);
    ck_assert_int_eq(cask__graph_set_ghost(g, id_of(g, "gp")), CASK_OK);
  }
  return g;
}

START_TEST(fuse_never_fuses_a_ghost_or_into_one) {
  char keys[64];
  cask_graph *plain = ghost_chains(0);
  ck_assert_int_eq(cask_graph_fuse(plain), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(plain), 3);
  fused_keys(plain, id_of(plain, "c"), keys, sizeof keys);
  ck_assert_str_eq(keys, "a,b,c");
  fused_keys(plain, id_of(plain, "y"), keys, sizeof keys);
  ck_assert_str_eq(keys, "gp,x,y");
  cask_graph_free(plain);

  /* a stays out of the ghost b, b out of c, the ghost gp out of x; x
   * still fuses into y; the marks survive cull, fuse and order */
  cask_graph *g = ghost_chains(1);
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 5);
  ck_assert(!has_key(g, "unused"));
  for (int i = 0; i < 3; i++) {
    const char *k = (const char *[]){"a", "b", "c"}[i];
    ck_assert_msg(cask_graph_op(g, id_of(g, k)) != cask_op_find("cask.fused"), "'%s' was fused", k);
  }
  fused_keys(g, id_of(g, "y"), keys, sizeof keys);
  ck_assert_str_eq(keys, "x,y");
  dep_keys(g, id_of(g, "y"), keys, sizeof keys);
  ck_assert_str_eq(keys, "gp");
  const char *all[5] = {"a", "b", "c", "gp", "y"};
  for (int i = 0; i < 5; i++) {
    int want = !strcmp(all[i], "b") || !strcmp(all[i], "gp");
    ck_assert_msg(cask__graph_is_ghost(g, id_of(g, all[i])) == want, "'%s': ghost %d", all[i], !want);
  }
  ck_assert_uint_ne(cask_graph_priority(g, id_of(g, "b")), UINT32_MAX);

  /* a ghost needs its RANK hint first, and keeps it */
  ck_assert_int_eq(cask__graph_set_ghost(g, id_of(g, "c")), CASK_EINVAL);
  assert_msg_names(g, "c");
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), "no RANK hint"));
  cask_place_hint grid = {CASK_PLACE_GRID, 0, 0, 2, 2}, rank2 = {CASK_PLACE_RANK, 2, 0, 0, 0};
  ck_assert_int_eq(cask_graph_set_place(g, id_of(g, "b"), &grid), CASK_EINVAL);
  assert_msg_names(g, "b");
  ck_assert_int_eq(cask_graph_set_place(g, id_of(g, "b"), &rank2), CASK_OK);

  /* not written as JSON: read back, it would be a real task */
  char *json = (char *)1;
  size_t len;
  ck_assert_int_eq(cask_graph_to_json(g, &json, &len), CASK_ENOTSERIAL);
  ck_assert_ptr_null(json);
  assert_msg_names(g, "b");
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), "ghost"));
  cask_graph_free(g);
}
END_TEST

/* ---- order and peak ---------------------------------------------------- */

/* Assert prio is a permutation of 0..n-1 and every dependency comes first. */
static void assert_topological(const cask_graph *g, uint64_t seed) {
  size_t n = cask_graph_size(g);
  uint8_t *used = calloc(n ? n : 1, 1);
  ck_assert_ptr_nonnull(used);
  for (cask_task_id i = 0; i < n; i++) {
    uint32_t p = cask_graph_priority(g, i);
    ck_assert_msg(p < n, "seed %llu: task '%s' has priority %u of %zu tasks",
                  (unsigned long long)seed, cask_graph_key(g, i), (unsigned)p, n);
    ck_assert_msg(!used[p], "seed %llu: priority %u given twice", (unsigned long long)seed,
                  (unsigned)p);
    used[p] = 1;
    size_t nd;
    const cask_task_id *d = cask_graph_deps(g, i, &nd);
    for (size_t k = 0; k < nd; k++)
      ck_assert_msg(cask_graph_priority(g, d[k]) < p,
                    "seed %llu: '%s' (priority %u) runs after its consumer '%s' (%u)",
                    (unsigned long long)seed, cask_graph_key(g, d[k]),
                    (unsigned)cask_graph_priority(g, d[k]), cask_graph_key(g, i), (unsigned)p);
  }
  free(used);
}

/* A random DAG in creation order: task i depends only on tasks < i. Chains
 * are likely (the previous task is a favourite dependency), so fuse has
 * work; repeated dependencies happen too. */
typedef struct dag {
  uint32_t n;
  uint32_t *off;  /* n + 1 */
  uint32_t *deps; /* creation indices */
  uint8_t *output;
} dag;

static void dag_make(dag *d, rng *r, uint32_t n) {
  d->n = n;
  d->off = malloc((n + 1) * sizeof *d->off);
  d->deps = malloc((size_t)n * 4 * sizeof *d->deps);
  d->output = calloc(n, 1);
  ck_assert(d->off && d->deps && d->output);
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; i++) {
    d->off[i] = m;
    uint32_t k = i ? rng_below(r, 5) : 0;
    if (k == 4) k = 1; /* more single-input tasks: chains */
    for (uint32_t j = 0; j < k; j++) {
      uint32_t pick = rng_below(r, 4);
      if (pick < 2) d->deps[m++] = i - 1;
      else if (pick == 2) d->deps[m++] = i - 1 - rng_below(r, i < 8 ? i : 8);
      else d->deps[m++] = rng_below(r, i);
    }
  }
  d->off[n] = m;
  /* No outputs (every sink then counts), a few, or many. */
  uint32_t mode = rng_below(r, 4);
  for (uint32_t i = 0; i < n && mode; i++)
    d->output[i] = mode == 1 ? rng_below(r, n) == 0 : mode == 2 ? rng_below(r, 20) == 0
                                                                : rng_below(r, 2) == 0;
}

static void dag_free(dag *d) {
  free(d->off);
  free(d->deps);
  free(d->output);
}

static void dag_key(char *buf, size_t cap, uint32_t i) { snprintf(buf, cap, "r%u", i); }

/* Build the DAG into a graph, tasks added in a shuffled order (so ids are
 * not a topological order), with dependencies by key; args hold the creation
 * index, sizes are random. */
static cask_graph *dag_build(const dag *d, rng *r) {
  cask_graph *g = new_graph();
  const cask_op *op = test_op("test_graph.op");
  uint32_t *perm = malloc((d->n ? d->n : 1) * sizeof *perm);
  ck_assert_ptr_nonnull(perm);
  for (uint32_t i = 0; i < d->n; i++) perm[i] = i;
  for (uint32_t i = d->n; i > 1; i--) {
    uint32_t j = rng_below(r, i), t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
  char key[16];
  static char dk[8][16];
  for (uint32_t s = 0; s < d->n; s++) {
    uint32_t i = perm[s];
    const char *dkp[8];
    uint32_t nd = d->off[i + 1] - d->off[i];
    for (uint32_t k = 0; k < nd; k++) {
      dag_key(dk[k], sizeof dk[k], d->deps[d->off[i] + k]);
      dkp[k] = dk[k];
    }
    dag_key(key, sizeof key, i);
    cask_task_id id;
    ck_assert_int_eq(cask_graph_add_keyed(g, key, op, &i, sizeof i, dkp, nd, &id), CASK_OK);
    ck_assert_int_eq(cask_graph_set_size(g, id, (int64_t)rng_below(r, 1000) - 1), CASK_OK);
    if (d->output[i]) ck_assert_int_eq(cask_graph_set_output(g, id, 1), CASK_OK);
  }
  free(perm);
  return g;
}

START_TEST(order_is_a_topological_order) {
  for (uint64_t seed = 1; seed <= 300; seed++) {
    rng r = {seed};
    dag d;
    dag_make(&d, &r, 1 + rng_below(&r, seed % 10 == 0 ? 3000 : 300));
    cask_graph *g = dag_build(&d, &r);
    int rc = cask_graph_order(g);
    ck_assert_msg(rc == CASK_OK, "seed %llu: order gave %s: %s", (unsigned long long)seed,
                  cask_err_name(rc), cask_graph_errmsg(g));
    assert_topological(g, seed);
    int64_t peak;
    ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
    cask_graph_free(g);
    dag_free(&d);
  }
}
END_TEST

/* A binary reduction over leaves [lo, hi): returns the node's key. Leaves
 * are added before any sum, in bit-reversed order, so ids say nothing about
 * the tree's layout. */
static void tree_key(char *buf, size_t cap, int lo, int hi) {
  if (hi - lo == 1) snprintf(buf, cap, "leaf-%d", lo);
  else snprintf(buf, cap, "sum-%d-%d", lo, hi);
}

static void tree_add_sums(cask_graph *g, const char *prefix, int lo, int hi) {
  if (hi - lo == 1) return;
  int mid = (lo + hi) / 2;
  tree_add_sums(g, prefix, lo, mid);
  tree_add_sums(g, prefix, mid, hi);
  char k[64], l[64], r[64], kk[80], lk[80], rk[80];
  tree_key(k, sizeof k, lo, hi);
  tree_key(l, sizeof l, lo, mid);
  tree_key(r, sizeof r, mid, hi);
  snprintf(kk, sizeof kk, "%s%s", prefix, k);
  snprintf(lk, sizeof lk, "%s%s", prefix, l);
  snprintf(rk, sizeof rk, "%s%s", prefix, r);
  addk(g, kk, DEPS(lk, rk));
}

static void tree_build(cask_graph *g, const char *prefix, int leaves) {
  int bits = 0;
  while ((1 << bits) < leaves) bits++;
  for (int i = 0; i < leaves; i++) {
    int rev = 0;
    for (int b = 0; b < bits; b++) rev |= ((i >> b) & 1) << (bits - 1 - b);
    char k[64];
    snprintf(k, sizeof k, "%sleaf-%d", prefix, rev);
    addk(g, k, 0, NULL);
  }
  tree_add_sums(g, prefix, 0, leaves);
}

/* Min and max priority over the subtree of [lo, hi). */
static void tree_span(const cask_graph *g, const char *prefix, int lo, int hi, uint32_t *min,
                      uint32_t *max) {
  char k[64], kk[80];
  tree_key(k, sizeof k, lo, hi);
  snprintf(kk, sizeof kk, "%s%s", prefix, k);
  uint32_t p = cask_graph_priority(g, id_of(g, kk));
  *min = *max = p;
  if (hi - lo == 1) return;
  int mid = (lo + hi) / 2;
  uint32_t a, b;
  tree_span(g, prefix, lo, mid, &a, &b);
  if (a < *min) *min = a;
  if (b > *max) *max = b;
  tree_span(g, prefix, mid, hi, &a, &b);
  if (a < *min) *min = a;
  if (b > *max) *max = b;
}

/* At every sum, the whole left subtree runs before any of the right one. */
static void assert_subtrees_finish(const cask_graph *g, const char *prefix, int lo, int hi) {
  if (hi - lo == 1) return;
  int mid = (lo + hi) / 2;
  uint32_t lmin, lmax, rmin, rmax;
  tree_span(g, prefix, lo, mid, &lmin, &lmax);
  tree_span(g, prefix, mid, hi, &rmin, &rmax);
  ck_assert_msg(lmax < rmin,
                "%ssum-%d-%d: left half runs in priorities %u..%u, right half %u..%u", prefix,
                lo, hi, lmin, lmax, rmin, rmax);
  assert_subtrees_finish(g, prefix, lo, mid);
  assert_subtrees_finish(g, prefix, mid, hi);
}

START_TEST(order_finishes_a_subtree_before_new_roots) {
  enum { LEAVES = 16 };
  cask_graph *g = new_graph();
  tree_build(g, "", LEAVES);
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  uint32_t last_left = 0, first_right = UINT32_MAX;
  for (int i = 0; i < LEAVES; i++) {
    char k[32];
    snprintf(k, sizeof k, "leaf-%d", i);
    uint32_t p = cask_graph_priority(g, id_of(g, k));
    if (i < LEAVES / 2 && p > last_left) last_left = p;
    if (i >= LEAVES / 2 && p < first_right) first_right = p;
  }
  ck_assert_msg(last_left < first_right,
                "a right-half leaf (priority %u) runs before a left-half leaf (priority %u)",
                first_right, last_left);
  assert_subtrees_finish(g, "", 0, LEAVES);
  cask_graph_free(g);
}
END_TEST

/* A fold acc-i = f(x-i, acc-(i-1)) with x-i listed first: the taller
 * dependency (the chain) is walked first, so each x-i is made just before
 * the step that uses it, not all of them up front. */
START_TEST(order_walks_the_tallest_dependency_first) {
  enum { N = 12 };
  cask_graph *g = new_graph();
  char acc[32], prev[32], x[32];
  for (int i = 0; i < N; i++) {
    snprintf(x, sizeof x, "x-%d", i);
    addk(g, x, 0, NULL);
    snprintf(acc, sizeof acc, "acc-%d", i);
    if (i) addk(g, acc, DEPS(x, prev));
    else addk(g, acc, DEPS(x));
    memcpy(prev, acc, sizeof acc);
  }
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  for (int i = 1; i < N; i++) {
    snprintf(x, sizeof x, "x-%d", i);
    snprintf(prev, sizeof prev, "acc-%d", i - 1);
    ck_assert_msg(cask_graph_priority(g, id_of(g, x)) > cask_graph_priority(g, id_of(g, prev)),
                  "x-%d (priority %u) is made before acc-%d (%u)", i, cask_graph_priority(g, id_of(g, x)),
                  i - 1, cask_graph_priority(g, id_of(g, prev)));
  }
  cask_graph_free(g);
}
END_TEST

START_TEST(order_runs_the_output_tree_before_other_roots) {
  /* Two trees; only the second is an output. Its whole subtree runs before
   * any task of the first (added first, so index order would say the
   * opposite). */
  cask_graph *g = new_graph();
  tree_build(g, "A.", 8);
  tree_build(g, "B.", 8);
  set_output(g, "B.sum-0-8");
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  uint32_t amin, amax, bmin, bmax;
  tree_span(g, "A.", 0, 8, &amin, &amax);
  tree_span(g, "B.", 0, 8, &bmin, &bmax);
  ck_assert_msg(bmax < amin, "output tree B runs in %u..%u, the other tree in %u..%u", bmin,
                bmax, amin, amax);
  assert_subtrees_finish(g, "A.", 0, 8);
  assert_subtrees_finish(g, "B.", 0, 8);
  assert_topological(g, 0);
  cask_graph_free(g);
}
END_TEST

START_TEST(predicted_peak_of_a_chain_and_a_tree) {
  int64_t peak = -1;
  /* Chain a -> b -> c, 10 bytes each: while b runs, a and b are held. */
  cask_graph *g = new_graph();
  addk(g, "a", 0, NULL);
  addk(g, "b", DEPS("a"));
  addk(g, "c", DEPS("b"));
  set_size(g, "a", 10);
  set_size(g, "b", 10);
  set_size(g, "c", 10);
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_EINVAL); /* not ordered */
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
  ck_assert_int_eq(peak, 20);
  /* Unknown sizes count 0. */
  set_size(g, "b", -1);
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
  ck_assert_int_eq(peak, 10);
  cask_graph_free(g);

  /* Four 10-byte leaves, two 5-byte sums, a 1-byte root, in the order
   * l0 l1 m0 l2 l3 m1 r: l0 10, l1 20, m0 25 (then 5), l2 15, l3 25,
   * m1 30 (then 10), r 11. */
  g = new_graph();
  tree_build(g, "", 4);
  for (int i = 0; i < 4; i++) {
    char k[32];
    snprintf(k, sizeof k, "leaf-%d", i);
    set_size(g, k, 10);
  }
  set_size(g, "sum-0-2", 5);
  set_size(g, "sum-2-4", 5);
  set_size(g, "sum-0-4", 1);
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
  ck_assert_int_eq(peak, 30);
  cask_graph_free(g);

  /* Fan-out: a 100-byte input read by three 1-byte tasks, joined by a
   * 1-byte root. The input is held until the last reader ran: 103. */
  g = new_graph();
  addk(g, "big", 0, NULL);
  addk(g, "r1", DEPS("big"));
  addk(g, "r2", DEPS("big"));
  addk(g, "r3", DEPS("big"));
  addk(g, "join", DEPS("r1", "r2", "r3"));
  set_size(g, "big", 100);
  set_size(g, "r1", 1);
  set_size(g, "r2", 1);
  set_size(g, "r3", 1);
  set_size(g, "join", 1);
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
  ck_assert_int_eq(peak, 103);
  cask_graph_free(g);
}
END_TEST

/* ---- the optimize property --------------------------------------------- */

/* Reference answers from the DAG itself: which tasks an output needs, and how
 * many tasks fuse should leave. */
static void dag_needed(const dag *d, uint8_t *needed) {
  int any = 0;
  for (uint32_t i = 0; i < d->n; i++) any |= d->output[i];
  /* Dependencies have smaller indices: one backward sweep is enough. */
  for (uint32_t i = d->n; i-- > 0;) {
    if (!any) needed[i] = 1;
    else if (d->output[i]) needed[i] = 1;
    if (!needed[i]) continue;
    for (uint32_t k = d->off[i]; k < d->off[i + 1]; k++) needed[d->deps[k]] = 1;
  }
}

/* Tasks left after fuse: needed ones minus those that fuse into their one
 * consumer (not an output, one consuming edge, the consumer has one input). */
static uint32_t dag_expected_after_fuse(const dag *d, const uint8_t *needed) {
  uint32_t *consumers = calloc(d->n, sizeof *consumers), *consumer = calloc(d->n, sizeof *consumer);
  ck_assert(consumers && consumer);
  uint32_t kept = 0;
  for (uint32_t i = 0; i < d->n; i++)
    if (needed[i])
      for (uint32_t k = d->off[i]; k < d->off[i + 1]; k++) {
        consumers[d->deps[k]]++;
        consumer[d->deps[k]] = i;
      }
  for (uint32_t i = 0; i < d->n; i++) {
    if (!needed[i]) continue;
    uint32_t c = consumer[i];
    int fuses = !d->output[i] && consumers[i] == 1 && d->off[c + 1] - d->off[c] == 1;
    kept += !fuses;
  }
  free(consumers);
  free(consumer);
  return kept;
}

static uint32_t key_index(const char *key, uint32_t len) {
  ck_assert(len > 1 && key[0] == 'r');
  return (uint32_t)strtoul(key + 1, NULL, 10);
}

static void check_optimized(const cask_graph *g, const dag *d, uint64_t seed) {
  unsigned long long sd = (unsigned long long)seed;
  uint8_t *needed = calloc(d->n, 1), *covered = calloc(d->n, 1);
  ck_assert(needed && covered);
  dag_needed(d, needed);
  size_t n = cask_graph_size(g);
  uint32_t expect = dag_expected_after_fuse(d, needed);
  ck_assert_msg(n == expect, "seed %llu: %zu tasks after cull+fuse, expected %u", sd, n, expect);

  /* Every output is still there, under its key, still an output. */
  char key[16];
  for (uint32_t i = 0; i < d->n; i++) {
    if (!d->output[i]) continue;
    dag_key(key, sizeof key, i);
    cask_task_id id;
    ck_assert_msg(cask_graph_find(g, key, &id) == CASK_OK, "seed %llu: output '%s' is gone", sd,
                  key);
    ck_assert_msg(cask_graph_is_output(g, id), "seed %llu: '%s' is no longer an output", sd, key);
  }

  const cask_op *fused = cask_op_find("cask.fused");
  int any_output = 0;
  for (uint32_t i = 0; i < d->n; i++) any_output |= d->output[i];
  for (cask_task_id t = 0; t < n; t++) {
    const char *tkey = cask_graph_key(g, t);
    /* Every task is needed: it is an output or something consumes it. */
    size_t nsucc;
    cask_graph_dependents(g, t, &nsucc);
    ck_assert_msg(!any_output || nsucc > 0 || cask_graph_is_output(g, t),
                  "seed %llu: '%s' is neither an output nor needed by one", sd, tkey);
    /* Each original task it stands for, exactly once over the graph, with
     * its arguments; the chain's head has the task's dependencies. */
    uint32_t head = UINT32_MAX;
    if (cask_graph_op(g, t) == fused) {
      size_t len, pos = 0;
      const void *blob = cask_graph_args(g, t, &len);
      const cask_op *op;
      const char *k;
      uint32_t kl, al, count = 0, last = 0;
      const void *args;
      while (cask__fused_next(blob, len, &pos, &op, &k, &kl, &args, &al)) {
        uint32_t i = key_index(k, kl);
        ck_assert_msg(i < d->n && needed[i] && !covered[i],
                      "seed %llu: sub-task '%s' of '%s' is unneeded or twice in the graph", sd,
                      k, tkey);
        ck_assert_msg(op != fused, "seed %llu: '%s' nests a fused task", sd, tkey);
        ck_assert(al == sizeof i && memcmp(args, &i, sizeof i) == 0);
        covered[i] = 1;
        if (count++ == 0) head = i;
        last = i;
      }
      ck_assert_uint_eq(pos, len);
      ck_assert_msg(count >= 2, "seed %llu: fused task '%s' has %u sub-tasks", sd, tkey, count);
      dag_key(key, sizeof key, last);
      ck_assert_msg(strcmp(key, tkey) == 0, "seed %llu: fused task '%s' ends with '%s'", sd, tkey,
                    key);
    } else {
      head = key_index(tkey, (uint32_t)strlen(tkey));
      ck_assert_msg(head < d->n && needed[head] && !covered[head],
                    "seed %llu: '%s' is unneeded or twice in the graph", sd, tkey);
      covered[head] = 1;
      size_t al;
      const void *args = cask_graph_args(g, t, &al);
      ck_assert(al == sizeof head && memcmp(args, &head, sizeof head) == 0);
    }
    size_t nd;
    const cask_task_id *deps = cask_graph_deps(g, t, &nd);
    ck_assert_msg(nd == d->off[head + 1] - d->off[head],
                  "seed %llu: '%s' has %zu dependencies, its head r%u had %u", sd, tkey, nd,
                  head, d->off[head + 1] - d->off[head]);
    for (size_t k = 0; k < nd; k++) {
      dag_key(key, sizeof key, d->deps[d->off[head] + k]);
      ck_assert_msg(strcmp(cask_graph_key(g, deps[k]), key) == 0,
                    "seed %llu: dependency %zu of '%s' is '%s', expected '%s'", sd, k, tkey,
                    cask_graph_key(g, deps[k]), key);
    }
  }
  for (uint32_t i = 0; i < d->n; i++)
    ck_assert_msg(!needed[i] || covered[i], "seed %llu: needed task r%u was lost", sd, i);
  assert_topological(g, seed);
  free(needed);
  free(covered);
}

START_TEST(optimize_on_random_graphs_keeps_outputs) {
  /* So the property is not met by graphs where nothing happens: count what
   * the passes did over all seeds. */
  size_t culled = 0, fused = 0, with_outputs = 0;
  const cask_op *fused_op = cask_op_find("cask.fused");
  for (uint64_t seed = 1000; seed < 1150; seed++) {
    rng r = {seed};
    dag d;
    uint32_t n = seed == 1000 ? 1 : seed == 1001 ? 2000 : 1 + rng_below(&r, 2000);
    dag_make(&d, &r, n);
    cask_graph *g = dag_build(&d, &r);
    int rc = cask_graph_optimize(g, CASK_OPT_ALL);
    ck_assert_msg(rc == CASK_OK, "seed %llu: optimize gave %s: %s", (unsigned long long)seed,
                  cask_err_name(rc), cask_graph_errmsg(g));
    check_optimized(g, &d, seed);
    uint8_t *needed = calloc(n, 1);
    ck_assert_ptr_nonnull(needed);
    dag_needed(&d, needed);
    for (uint32_t i = 0; i < n; i++) {
      culled += !needed[i];
      with_outputs += d.output[i];
    }
    free(needed);
    for (cask_task_id t = 0; t < cask_graph_size(g); t++) fused += cask_graph_op(g, t) == fused_op;
    int64_t peak;
    ck_assert_int_eq(cask_graph_predicted_peak(g, &peak), CASK_OK);
    ck_assert_int_ge(peak, 0);
    /* Both passes are at a fixed point. */
    size_t size = cask_graph_size(g);
    ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_CULL | CASK_OPT_FUSE), CASK_OK);
    ck_assert_msg(cask_graph_size(g) == size, "seed %llu: a second cull+fuse went from %zu to %zu",
                  (unsigned long long)seed, size, cask_graph_size(g));
    cask_graph_free(g);
    dag_free(&d);
  }
  ck_assert_msg(culled > 1000 && fused > 1000 && with_outputs > 1000,
                "the random graphs exercise too little: %zu tasks culled, %zu fused tasks, %zu "
                "outputs",
                culled, fused, with_outputs);
}
END_TEST

/* ---- invalid arguments ------------------------------------------------- */

START_TEST(graph_calls_reject_invalid_arguments_with_einval) {
  const cask_op *op = test_op("test_graph.op");
  cask_task_id id = 0;
  int64_t peak;
  ck_assert_int_eq(cask_graph_new(NULL), CASK_EINVAL);
  /* NULL graph. */
  ck_assert_int_eq(cask_graph_add(NULL, "k", op, NULL, 0, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add_keyed(NULL, "k", op, NULL, 0, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_set_output(NULL, 0, 1), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_set_size(NULL, 0, 1), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_find(NULL, "k", &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_validate(NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_cull(NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_fuse(NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_order(NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_optimize(NULL, CASK_OPT_ALL), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_predicted_peak(NULL, &peak), CASK_EINVAL);
  ck_assert_uint_eq(cask_graph_size(NULL), 0);
  ck_assert_ptr_null(cask_graph_key(NULL, 0));
  ck_assert_ptr_null(cask_graph_op(NULL, 0));
  ck_assert_str_eq(cask_graph_errmsg(NULL), "");
  ck_assert_uint_eq(cask_graph_priority(NULL, 0), UINT32_MAX);

  cask_graph *g = new_graph();
  cask_task_id a = addk(g, "a", 0, NULL);
  /* NULL op, NULL key for the keyed call, NULL arrays with a length. */
  ck_assert_int_eq(cask_graph_add(g, "k", NULL, NULL, 0, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add(g, NULL, NULL, NULL, 0, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add_keyed(g, "k", NULL, NULL, 0, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add_keyed(g, NULL, op, NULL, 0, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add(g, "k", op, NULL, 4, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add(g, "k", op, NULL, 0, NULL, 2, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add_keyed(g, "k", op, NULL, 0, NULL, 2, &id), CASK_EINVAL);
  const char *null_dep[] = {"a", NULL};
  ck_assert_int_eq(cask_graph_add_keyed(g, "k", op, NULL, 0, null_dep, 2, &id), CASK_EINVAL);
  /* Bad ids: a dependency that does not exist (named in the message). */
  cask_task_id bad[] = {a, 1};
  ck_assert_int_eq(cask_graph_add(g, "bad-dep-task", op, NULL, 0, bad, 2, &id), CASK_EINVAL);
  assert_msg_names(g, "bad-dep-task");
  cask_task_id huge = UINT32_MAX;
  ck_assert_int_eq(cask_graph_add(g, NULL, op, NULL, 0, &huge, 1, &id), CASK_EINVAL);
  ck_assert_uint_eq(cask_graph_size(g), 1);
  ck_assert_int_eq(cask_graph_set_output(g, 1, 1), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_set_size(g, 1, 8), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_set_size(g, a, -2), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_find(g, NULL, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_find(g, "a", NULL), CASK_EINVAL);
  ck_assert_ptr_null(cask_graph_key(g, 1));
  ck_assert_ptr_null(cask_graph_op(g, 1));
  size_t len = 5;
  ck_assert_ptr_null(cask_graph_args(g, 1, &len));
  ck_assert_uint_eq(len, 0);
  ck_assert(!cask_graph_is_output(g, 1));
  ck_assert_int_eq(cask_graph_size_estimate(g, 1), -1);
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_ALL + 1), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_optimize(g, 0x100), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  ck_assert_int_eq(cask_graph_predicted_peak(g, NULL), CASK_EINVAL);
  ck_assert_uint_eq(cask_graph_priority(g, 1), UINT32_MAX);
  size_t n = 9;
  ck_assert_ptr_null(cask_graph_deps(g, 1, &n));
  ck_assert_uint_eq(n, 0);
  n = 9;
  ck_assert_ptr_null(cask_graph_dependents(g, 1, &n));
  ck_assert_uint_eq(n, 0);
  /* After all that, the graph is as it was. */
  ck_assert_uint_eq(cask_graph_size(g), 1);
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  cask_graph_free(g);
}
END_TEST

START_TEST(op_register_rejects_bad_and_duplicate_ops) {
  cask_op def = {"test_graph.dup", test_run, NULL, NULL, NULL, 0, 0};
  const cask_op *op = NULL;
  int rc = cask_op_register(&def, &op);
  ck_assert(rc == CASK_OK || rc == CASK_EOPEXISTS); /* CK_FORK=no reruns */
  const cask_op *again = NULL;
  ck_assert_int_eq(cask_op_register(&def, &again), CASK_EOPEXISTS);
  ck_assert_ptr_null(again);
  ck_assert_ptr_eq(cask_op_find("test_graph.dup"), test_op("test_graph.dup"));
  cask_op bad = def;
  bad.name = NULL;
  ck_assert_int_eq(cask_op_register(&bad, NULL), CASK_EINVAL);
  bad.name = "";
  ck_assert_int_eq(cask_op_register(&bad, NULL), CASK_EINVAL);
  bad.name = "test_graph.norun";
  bad.run = NULL;
  ck_assert_int_eq(cask_op_register(&bad, NULL), CASK_EINVAL);
  ck_assert_ptr_null(cask_op_find("test_graph.norun"));
  ck_assert_int_eq(cask_op_register(NULL, NULL), CASK_EINVAL);
  ck_assert_ptr_null(cask_op_find(NULL));
  ck_assert_ptr_null(cask_op_find("test_graph.never-registered"));
  ck_assert_ptr_nonnull(cask_op_find("cask.noop"));
  ck_assert_ptr_nonnull(cask_op_find("cask.fused"));
  /* The definition is copied, name included. */
  char name[] = "test_graph.copied";
  def.name = name;
  const cask_op *copied = NULL;
  rc = cask_op_register(&def, &copied);
  if (rc == CASK_OK) {
    name[0] = 'X';
    ck_assert_str_eq(copied->name, "test_graph.copied");
    ck_assert_ptr_eq(cask_op_find("test_graph.copied"), copied);
  } else {
    ck_assert_int_eq(rc, CASK_EOPEXISTS);
  }
}
END_TEST

/* A crafted fused blob whose op pointer is 0x4141... was followed as a
 * pointer: the public adds refuse ops whose arguments hold addresses, and
 * the JSON reader still makes fused tasks from op names. */
START_TEST(regress_fused_op_trusts_caller_pointers) {
  const cask_op *fused = cask_op_find("cask.fused");
  ck_assert_ptr_nonnull(fused);
  uint64_t blob[8];
  memset(blob, 0x41, sizeof blob);
  ((uint32_t *)blob)[2] = 2; /* key_len */
  ((uint32_t *)blob)[3] = 0; /* args_len */
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id id;
  ck_assert_int_eq(cask_graph_add(g, "x", fused, blob, sizeof blob, NULL, 0, &id), CASK_EINVAL);
  const char *msg = cask_graph_errmsg(g);
  ck_assert_msg(strstr(msg, "'x'") && strstr(msg, "'cask.fused'") && strstr(msg, "made only by cask"), "%s", msg);
  ck_assert_int_eq(cask_graph_add(g, NULL, fused, blob, sizeof blob, NULL, 0, &id), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_add_keyed(g, "y", fused, blob, sizeof blob, NULL, 0, &id), CASK_EINVAL);
  ck_assert_uint_eq(cask_graph_size(g), 0);
  cask_graph_free(g);

  /* Through JSON, a fused task is rebuilt from op names, and runs. */
  const char *text =
      "{\"cask_graph\": 1, \"ntasks\": 1, \"tasks\": [{\"key\": \"f\", \"op\": \"cask.fused\", \"args\": "
      "{\"chain\": [{\"key\": \"a\", \"op\": \"cask.noop\"}, {\"key\": \"f\", \"op\": \"cask.noop\"}]}}]}";
  char *err = NULL;
  int rc = cask_graph_from_json(text, strlen(text), &g, &err);
  ck_assert_msg(rc == CASK_OK, "%s", err ? err : "");
  cask_runtime *rt;
  cask_results *res;
  ck_assert_int_eq(cask_runtime_new(&(cask_runtime_options){.threads = 1}, &rt), CASK_OK);
  ck_assert_int_eq(cask_run(rt, g, NULL, &res), CASK_OK);
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
}
END_TEST

Suite *graph_suite(void) {
  Suite *s = suite_create("graph");
  TCase *tc = tcase_create("build");
  tcase_add_test(tc, graph_find_in_an_empty_graph_is_not_found);
  tcase_add_test(tc, graph_add_and_find_by_key);
  tcase_add_test(tc, graph_finds_thousands_of_keys);
  tcase_add_test(tc, graph_rejects_duplicate_key_and_names_it);
  tcase_add_test(tc, graph_derived_keys_merge_identical_tasks);
  tcase_add_test(tc, graph_derived_keys_see_through_dependency_keys);
  tcase_add_test(tc, graph_tasks_may_have_many_dependencies);
  tcase_add_test(tc, graph_keyed_deps_may_be_added_later);
  tcase_add_test(tc, graph_change_undoes_validation_and_order);
  tcase_add_test(tc, graph_deps_of_a_validated_task_without_dependencies_is_not_null);
  tcase_add_test(tc, graph_clear_empties_the_graph_for_reuse);
  tcase_add_test(tc, graph_reserve_then_build);
  tcase_add_test(tc, graph_calls_reject_invalid_arguments_with_einval);
  tcase_add_test(tc, op_register_rejects_bad_and_duplicate_ops);
  tcase_add_test(tc, regress_fused_op_trusts_caller_pointers);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("validate");
  tcase_add_test(tc, graph_rejects_missing_dependency_and_names_both_keys);
  tcase_add_test(tc, graph_rejects_cycle_and_names_a_task_on_it);
  tcase_add_test(tc, graph_rejects_self_loop_and_names_it);
  tcase_add_test(tc, graph_rejects_long_cycle_and_names_tasks_on_it);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("optimize");
  tcase_add_test(tc, cull_keeps_only_what_outputs_need);
  tcase_add_test(tc, cull_without_outputs_keeps_everything_reachable_from_sinks);
  tcase_add_test(tc, cull_of_a_graph_without_edges_keeps_the_outputs);
  tcase_add_test(tc, cull_of_an_empty_graph_is_fine);
  tcase_add_test(tc, fuse_merges_linear_chain_keeps_tail_key);
  tcase_add_test(tc, fuse_chain_takes_the_heads_dependencies);
  tcase_add_test(tc, fuse_never_fuses_outputs_away);
  tcase_add_test(tc, fuse_leaves_diamonds_alone);
  tcase_add_test(tc, fuse_twice_flattens_chains);
  tcase_add_test(tc, fuse_never_fuses_a_ghost_or_into_one);
  tcase_add_test(tc, order_finishes_a_subtree_before_new_roots);
  tcase_add_test(tc, order_walks_the_tallest_dependency_first);
  tcase_add_test(tc, order_runs_the_output_tree_before_other_roots);
  tcase_add_test(tc, predicted_peak_of_a_chain_and_a_tree);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  /* Property tests: slow under sanitizers, hence the long timeout. */
  tc = tcase_create("property");
  tcase_add_test(tc, order_is_a_topological_order);
  tcase_add_test(tc, optimize_on_random_graphs_keeps_outputs);
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  return s;
}
