/* test_distributed.c - placement, one rank's plan and graph digests
 * (distributed/, docs/distributed.md), all without MPI: the plans of every
 * rank of K are made in this one process and checked against each other
 * (every task runs on exactly one rank, sends of a to b are the receives of
 * b from a, each block goes to each rank once) over random DAGs for K = 1
 * to 8, and against the bytes a row-block elementwise job (none) and a
 * tree reduction (one partial per rank but the first) must move; placement
 * hints (grid, follow, rank, run) and broadcasts against the documented
 * rules; for flat planning (docs/flat-planning.md), RUN hints against a
 * plain-loop split, placement without the broadcast walk against the
 * default, and a hand-built partial graph whose ghosts give its receives
 * and sends. */
#include "test-util.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"
#include "cask/distributed.h"
#include "distributed/dist-int.h" /* placement flags, ghosts (graph-int.h) */

typedef struct targs {
  uint64_t salt;
} targs;

static cask_task_id add(cask_graph *g, const char *key, uint64_t salt, int64_t nbytes, const cask_task_id *deps,
                        size_t ndeps) {
  targs a = {salt};
  cask_task_id id;
  ck_assert_int_eq(cask_graph_add(g, key, cask_op_find("cask.noop"), &a, sizeof a, deps, ndeps, &id), CASK_OK);
  if (nbytes >= 0) ck_assert_int_eq(cask_graph_set_size(g, id, nbytes), CASK_OK);
  return id;
}

/* Tasks of random (or, one in five, undeclared) size with up to four
 * inputs among the earlier tasks; with `changed` >= 0, that task's
 * argument differs. */
static cask_graph *random_dag(uint64_t seed, int ntasks, int changed) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  uint64_t s = seed;
  char key[32];
  for (int i = 0; i < ntasks; i++) {
    cask_task_id deps[4];
    size_t nd = i ? (size_t)(mix64(++s) % 5) : 0;
    for (size_t k = 0; k < nd; k++) deps[k] = (cask_task_id)(mix64(++s) % (uint64_t)i);
    int64_t nbytes = mix64(++s) % 5 == 0 ? -1 : (int64_t)(mix64(++s) % 4096);
    snprintf(key, sizeof key, "t-%d", i);
    add(g, key, (uint64_t)i + (i == changed), nbytes, deps, nd);
  }
  return g;
}

/* Rank r of k's plan statistics for g. */
static cask_plan_stats rank_stats(cask_graph *g, int k, int r) {
  cask_plan *p;
  cask_plan_stats st;
  ck_assert_int_eq(cask_plan_new(g, k, r, &p), CASK_OK);
  cask_plan_get_stats(p, &st);
  cask_plan_free(p);
  return st;
}

START_TEST(placement_is_deterministic_and_gives_every_task_one_rank) {
  for (uint64_t seed = 1; seed <= 20; seed++)
    for (int k = 1; k <= 8; k++) {
      cask_graph *a = random_dag(seed, 300, -1), *b = random_dag(seed, 300, -1);
      int oa[300], ob[300];
      ck_assert_int_eq(cask_graph_place(a, k, oa), CASK_OK);
      ck_assert_int_eq(cask_graph_place(b, k, ob), CASK_OK);
      for (int i = 0; i < 300; i++) {
        require(oa[i] == ob[i], "seed %d, %d ranks: task %d on rank %d, then on %d", (int)seed, k, i, oa[i], ob[i]);
        require(oa[i] >= 0 && oa[i] < k, "seed %d: task %d on rank %d of %d", (int)seed, i, oa[i], k);
      }
      cask_graph_free(a);
      cask_graph_free(b);
    }
}
END_TEST

/* Every rank's plan of g on k ranks (cask_plan_new_flags), checked against
 * each other and g. */
static void check_plans_flags(cask_graph *g, int k, const char *what, unsigned flags) {
  size_t n = cask_graph_size(g);
  cask_plan **p = calloc((size_t)k, sizeof *p);
  int *runs = calloc(n, sizeof *runs);
  for (int r = 0; r < k; r++) ck_assert_int_eq(cask_plan_new_flags(g, k, r, flags, &p[r]), CASK_OK);
  const int *owner = cask_plan_owners(p[0]);
  int64_t sent = 0, received = 0;
  for (int r = 0; r < k; r++) {
    size_t nt, ns, nr;
    const cask_task_id *t = cask_plan_tasks(p[r], &nt);
    const cask_transfer *s = cask_plan_sends(p[r], &ns);
    const cask_transfer *v = cask_plan_recvs(p[r], &nr);
    cask_plan_stats st;
    cask_plan_get_stats(p[r], &st);
    require(st.nlocal == nt && st.nsends == ns && st.nrecvs == nr && st.ntasks == n, "%s: rank %d's counts", what, r);
    for (size_t i = 0; i < nt; i++) {
      require(owner[t[i]] == r, "%s: rank %d runs task %u of rank %d", what, r, t[i], owner[t[i]]);
      runs[t[i]]++;
    }
    for (size_t i = 0; i < ns; i++) {
      require(owner[s[i].task] == r && s[i].peer != r, "%s: rank %d sends block %u it does not own", what, r, s[i].task);
      require(s[i].nbytes == cask_graph_size_estimate(g, s[i].task), "%s: send of %u: wrong size", what, s[i].task);
      for (size_t j = 0; j < i; j++)
        require(s[j].task != s[i].task || s[j].peer != s[i].peer, "%s: rank %d sends block %u to rank %d twice", what,
                r, s[i].task, s[i].peer);
      size_t nd;
      const cask_task_id *users = cask_graph_dependents(g, s[i].task, &nd);
      int needed = 0;
      for (size_t j = 0; j < nd; j++) needed |= owner[users[j]] == s[i].peer;
      require(needed, "%s: rank %d sends block %u to rank %d, which does not read it", what, r, s[i].task, s[i].peer);
      sent += s[i].nbytes > 0 ? s[i].nbytes : 0;
    }
    for (size_t i = 0; i < nr; i++) received += v[i].nbytes > 0 ? v[i].nbytes : 0;
    require(st.bytes_sent + st.bytes_received >= 0, "%s: negative bytes", what);
  }
  require(sent == received, "%s: %lld bytes sent, %lld received", what, (long long)sent, (long long)received);
  for (size_t i = 0; i < n; i++) require(runs[i] == 1, "%s: task %zu runs on %d ranks", what, i, runs[i]);
  /* every edge across ranks is covered: the consumer's rank receives the block */
  for (cask_task_id c = 0; c < n; c++) {
    size_t nd, nr;
    const cask_task_id *deps = cask_graph_deps(g, c, &nd);
    const cask_transfer *v = cask_plan_recvs(p[owner[c]], &nr);
    for (size_t j = 0; j < nd; j++) {
      if (owner[deps[j]] == owner[c]) continue;
      int got = 0;
      for (size_t i = 0; i < nr; i++) got += v[i].task == deps[j];
      require(got == 1, "%s: rank %d receives block %u %d times", what, owner[c], deps[j], got);
    }
  }
  /* sends of a to b, in order, are the receives of b from a */
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++) {
      size_t ns, nr, i = 0, j = 0;
      const cask_transfer *s = cask_plan_sends(p[a], &ns), *v = cask_plan_recvs(p[b], &nr);
      for (;;) {
        while (i < ns && s[i].peer != b) i++;
        while (j < nr && v[j].peer != a) j++;
        if (i == ns || j == nr) break;
        require(s[i].task == v[j].task, "%s: rank %d's sends to %d and %d's receives differ", what, a, b, b);
        i++, j++;
      }
      require(i == ns && j == nr, "%s: rank %d sends %d blocks more than rank %d receives", what, a, b, b);
    }
  for (int r = 0; r < k; r++) cask_plan_free(p[r]);
  free(p);
  free(runs);
}

static void check_plans(cask_graph *g, int k, const char *what) { check_plans_flags(g, k, what, 0); }

START_TEST(plans_of_all_ranks_run_every_task_once_and_sends_match_receives) {
  char what[64];
  for (uint64_t seed = 1; seed <= (SANITIZED ? 8 : 30); seed++)
    for (int k = 1; k <= 8; k++) {
      cask_graph *g = random_dag(seed * 7919, 50 + (int)(seed * 37 % 400), -1);
      snprintf(what, sizeof what, "seed %d, %d ranks", (int)seed, k);
      check_plans(g, k, what);
      cask_graph_free(g);
    }
}
END_TEST

/* z_i = f(x_i, y_i), w_i = g(z_i) over n row blocks, x and y added in
 * block order or (interleaved = 0) all of x first. */
static cask_graph *row_blocks(int n, int interleaved) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id *x = calloc((size_t)n, sizeof *x), *y = calloc((size_t)n, sizeof *y);
  char key[32];
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "x-%d", i);
    x[i] = add(g, key, 1, 8000, NULL, 0);
    snprintf(key, sizeof key, "y-%d", i);
    if (interleaved) y[i] = add(g, key, 2, 8000, NULL, 0);
  }
  for (int i = 0; !interleaved && i < n; i++) {
    snprintf(key, sizeof key, "y-%d", i);
    y[i] = add(g, key, 2, 8000, NULL, 0);
  }
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "z-%d", i);
    cask_task_id z = add(g, key, 3, 8000, (cask_task_id[]){x[i], y[i]}, 2);
    snprintf(key, sizeof key, "w-%d", i);
    cask_graph_set_output(g, add(g, key, 4, 8000, &z, 1), 1);
  }
  free(x);
  free(y);
  return g;
}

START_TEST(row_block_elementwise_job_moves_nothing) {
  for (int interleaved = 0; interleaved < 2; interleaved++)
    for (int k = 1; k <= 8; k++) {
      cask_graph *g = row_blocks(4 * k, interleaved);
      for (int r = 0; r < k; r++) {
        cask_plan_stats st = rank_stats(g, k, r);
        require(st.nsends == 0 && st.nrecvs == 0 && st.bytes_sent == 0 && st.bytes_received == 0,
                "%d ranks, rank %d: %zu sends, %zu receives", k, r, st.nsends, st.nrecvs);
        require(st.nlocal == 16, "%d ranks: rank %d runs %zu tasks, not 16", k, r, st.nlocal);
      }
      check_plans(g, k, "row blocks");
      cask_graph_free(g);
    }
}
END_TEST

/* sum over n blocks: x_i (8000 bytes), partial p_i (8 bytes), a binary tree
 * of combines over the partials in block order (an odd one out moves up a
 * level), then the total. */
static cask_graph *tree_sum(int n) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id *level = calloc((size_t)n, sizeof *level);
  char key[48];
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "x-%d", i);
    cask_task_id x = add(g, key, 1, 8000, NULL, 0);
    snprintf(key, sizeof key, "partial-%d", i);
    level[i] = add(g, key, 2, 8, &x, 1);
  }
  for (int m = n, depth = 0; m > 1; m = (m + 1) / 2, depth++)
    for (int i = 0; i < m; i++) {
      if (i % 2 == 0 && i + 1 == m) level[i / 2] = level[i];
      if (i % 2) {
        snprintf(key, sizeof key, "combine-%d-%d", depth, i / 2);
        level[i / 2] = add(g, key, 3, 8, (cask_task_id[]){level[i - 1], level[i]}, 2);
      }
    }
  cask_graph_set_output(g, add(g, "total", 4, 8, level, 1), 1);
  free(level);
  return g;
}

START_TEST(tree_reduction_moves_one_partial_per_rank_but_the_first) {
  for (int k = 1; k <= 8; k++) {
    cask_graph *g = tree_sum(4 * k);
    int64_t sent = 0;
    for (int r = 0; r < k; r++) {
      cask_plan_stats st = rank_stats(g, k, r);
      require(st.nsends == (r > 0) && st.bytes_sent == (r > 0 ? 8 : 0), "%d ranks: rank %d sends %zu blocks, %lld bytes",
              k, r, st.nsends, (long long)st.bytes_sent);
      sent += st.bytes_sent;
    }
    /* K partials on K ranks: K - 1 must move to meet on one of them */
    require(sent == 8 * (k - 1), "%d ranks: %lld bytes moved, not %d", k, (long long)sent, 8 * (k - 1));
    check_plans(g, k, "tree sum");
    cask_graph_free(g);
  }
}
END_TEST

/* top = f(c0, c1, c2, c3), c_i = g(r_i), the r_i split over two ranks;
 * c0's size is not declared. Counted as 1 byte, it would send top (and
 * rank 0's blocks) to rank 1; counted as its siblings' 800, the tie goes
 * to rank 0. */
START_TEST(an_unsized_input_weighs_as_its_largest_sibling) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id c[4], top;
  char key[16];
  for (int i = 0; i < 4; i++) {
    snprintf(key, sizeof key, "r-%d", i);
    cask_task_id r = add(g, key, 1, 8000, NULL, 0);
    snprintf(key, sizeof key, "c-%d", i);
    c[i] = add(g, key, 2, i ? 800 : -1, &r, 1);
  }
  top = add(g, "top", 3, 8, c, 4);
  int owner[9];
  ck_assert_int_eq(cask_graph_place(g, 2, owner), CASK_OK);
  ck_assert_int_eq(owner[c[0]], 0);
  ck_assert_int_eq(owner[c[3]], 1);
  ck_assert_int_eq(owner[top], 0);
  check_plans(g, 2, "unsized sibling");
  cask_graph_free(g);
}
END_TEST

START_TEST(more_ranks_than_roots_leaves_ranks_idle_not_broken) {
  cask_graph *g = tree_sum(3);
  check_plans(g, 8, "3 blocks on 8 ranks");
  cask_plan_stats st = rank_stats(g, 8, 7);
  ck_assert_uint_eq(st.nlocal, 0);
  cask_graph_free(g);
}
END_TEST

START_TEST(an_empty_graph_plans_to_nothing) {
  cask_graph *g;
  cask_plan *p;
  cask_plan_stats st;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  ck_assert_int_eq(cask_plan_new(g, 3, 2, &p), CASK_OK);
  cask_plan_get_stats(p, &st);
  ck_assert_uint_eq(st.ntasks + st.nlocal + st.nsends + st.nrecvs, 0);
  cask_plan_free(p);
  cask_graph_free(g);
}
END_TEST

START_TEST(bad_rank_counts_are_refused_with_a_message) {
  cask_graph *g = tree_sum(4);
  cask_plan *p = (cask_plan *)1;
  int owner[16];
  ck_assert_int_eq(cask_graph_place(g, 0, owner), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), "0 ranks"));
  ck_assert_int_eq(cask_plan_new(g, 4, 4, &p), CASK_EINVAL);
  ck_assert_ptr_null(p);
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), "rank 4 is not one of the ranks 0 to 3"));
  ck_assert_int_eq(cask_plan_new(g, -2, 0, &p), CASK_EINVAL);
  cask_graph_free(g);
}
END_TEST

START_TEST(digests_agree_on_equal_graphs_and_name_the_first_differing_task) {
  cask_graph *a = random_dag(42, 200, -1), *b = random_dag(42, 200, -1), *c = random_dag(42, 200, 57);
  uint64_t da, db, dc, va[200], vc[200];
  char msg[256];
  ck_assert_int_eq(cask_graph_digest(a, &da), CASK_OK);
  ck_assert_int_eq(cask_graph_digest(b, &db), CASK_OK);
  ck_assert_int_eq(cask_graph_digest(c, &dc), CASK_OK);
  ck_assert_uint_eq(da, db);
  ck_assert_uint_ne(da, dc);
  ck_assert_int_eq(cask_graph_compare(a, b, msg, sizeof msg), 0);
  ck_assert_int_eq(cask_graph_compare(a, c, msg, sizeof msg), 1);
  ck_assert_msg(strstr(msg, "task 57 differs") && strstr(msg, "'t-57'"), "message: %s", msg);
  ck_assert_int_eq(cask_graph_task_digests(a, va), CASK_OK);
  ck_assert_int_eq(cask_graph_task_digests(c, vc), CASK_OK);
  ck_assert_uint_eq(cask_digests_first_difference(va, 200, vc, 200), 57);
  ck_assert_uint_eq(cask_digests_first_difference(va, 200, va, 200), SIZE_MAX);
  ck_assert_uint_eq(cask_digests_first_difference(va, 200, va, 150), 150);
  /* a graph with one task more differs after the tasks they share */
  add(b, "extra", 9, 8, NULL, 0);
  ck_assert_int_eq(cask_graph_compare(a, b, msg, sizeof msg), 1);
  ck_assert_msg(strstr(msg, "first 200 tasks"), "message: %s", msg);
  cask_graph_free(a);
  cask_graph_free(b);
  cask_graph_free(c);
}
END_TEST

/* z = f(x, y), or f(y, x) when swapped */
static cask_graph *join_of_two(int swapped) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id xy[2] = {add(g, "x", 1, 8, NULL, 0), add(g, "y", 1, 8, NULL, 0)};
  add(g, "z", 1, 8, (cask_task_id[]){xy[swapped], xy[!swapped]}, 2);
  return g;
}

START_TEST(digest_sees_sizes_outputs_and_dependency_order) {
  cask_graph *a = tree_sum(8), *b = tree_sum(8);
  uint64_t da, db;
  ck_assert_int_eq(cask_graph_digest(a, &da), CASK_OK);
  cask_task_id id;
  ck_assert_int_eq(cask_graph_find(b, "partial-3", &id), CASK_OK);
  cask_graph_set_size(b, id, 16);
  ck_assert_int_eq(cask_graph_digest(b, &db), CASK_OK);
  ck_assert_uint_ne(da, db);
  cask_graph_set_size(b, id, 8);
  cask_graph_set_output(b, id, 1);
  ck_assert_int_eq(cask_graph_digest(b, &db), CASK_OK);
  ck_assert_uint_ne(da, db);
  cask_graph_free(a);
  cask_graph_free(b);
  /* the same tasks, one task's inputs swapped */
  cask_graph *c = join_of_two(0), *d = join_of_two(1);
  char msg[256];
  ck_assert_int_eq(cask_graph_compare(c, d, msg, sizeof msg), 1);
  ck_assert_msg(strstr(msg, "task 2 differs: 'z'"), "message: %s", msg);
  cask_graph_free(c);
  cask_graph_free(d);
}
END_TEST

/* An array job's graph (private ops, fused tasks): two contexts build the
 * same digest, and the elementwise part of a row-block job moves nothing. */
START_TEST(array_graphs_digest_alike_and_row_blocks_stay_local) {
  uint64_t d[2];
  for (int i = 0; i < 2; i++) {
    cask_ctx *ctx;
    cask_array *x, *y, *z;
    ck_assert_int_eq(cask_ctx_new(NULL, &ctx), CASK_OK);
    ck_assert_int_eq(cask_random_uniform(ctx, 7, CASK_F64, 2, (int64_t[]){800, 100}, (int64_t[]){100, 100}, &x),
                     CASK_OK);
    ck_assert_int_eq(cask_random_normal(ctx, 8, CASK_F64, 2, (int64_t[]){800, 100}, (int64_t[]){100, 100}, &y),
                     CASK_OK);
    ck_assert_int_eq(cask_eval(ctx, "2*x + sin(y)", (const char *[]){"x", "y"}, (cask_array *[]){x, y}, 2, &z), CASK_OK);
    cask_graph *g;
    ck_assert_int_eq(cask_array_graph(z, &g), CASK_OK);
    ck_assert_int_eq(cask_graph_digest(g, &d[i]), CASK_OK);
    for (int k = 1; k <= 8; k *= 2) {
      for (int r = 0; r < k; r++) {
        cask_plan_stats st = rank_stats(g, k, r);
        require(st.nsends == 0 && st.nrecvs == 0, "%d ranks: rank %d sends %zu blocks", k, r, st.nsends);
      }
    }
    cask_graph_free(g);
    cask_array_release(x);
    cask_array_release(y);
    cask_array_release(z);
    cask_ctx_free(ctx);
  }
  ck_assert_uint_eq(d[0], d[1]);
}
END_TEST

/* The P x Q grid for K ranks and a 3 x 4 block grid, worked out by hand:
 * the most ranks given blocks, then the most square, then the taller. */
static void grid_for(int k, int *p, int *q) {
  static const int pq[9][2] = {{0, 0}, {1, 1}, {2, 1}, {3, 1}, {2, 2}, {1, 5}, {3, 2}, {1, 7}, {2, 4}};
  *p = pq[k][0], *q = pq[k][1];
}

/* g written as JSON holds want and reads back to a graph of digest d. */
static void json_keeps_hint(cask_graph *g, const char *want, uint64_t d) {
  char *json = NULL, *err = NULL;
  size_t len;
  cask_graph *back;
  uint64_t back_digest;
  ck_assert_int_eq(cask_graph_to_json(g, &json, &len), CASK_OK);
  require(strstr(json, want), "%s", json);
  ck_assert_int_eq(cask_graph_from_json(json, len, &back, &err), CASK_OK);
  ck_assert_int_eq(cask_graph_digest(back, &back_digest), CASK_OK);
  ck_assert_uint_eq(back_digest, d);
  cask_graph_free(back);
  cask_free(json);
}

static void hint(cask_graph *g, cask_task_id t, int kind, uint32_t i, uint32_t j, uint32_t ni, uint32_t nj) {
  cask_place_hint h = {kind, i, j, ni, nj};
  ck_assert_int_eq(cask_graph_set_place(g, t, &h), CASK_OK);
}

START_TEST(hints_place_tasks_before_the_majority_rule) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id blk[3][4], big, small, f, r5, lone, shared;
  char key[32];
  for (uint32_t i = 0; i < 3; i++)
    for (uint32_t j = 0; j < 4; j++) {
      snprintf(key, sizeof key, "b-%u-%u", i, j);
      blk[i][j] = add(g, key, 1, 100, NULL, 0);
      hint(g, blk[i][j], CASK_PLACE_GRID, i, j, 3, 4);
    }
  /* follows its second input although the first is larger */
  big = add(g, "big", 2, 1000, &blk[0][0], 1);
  small = add(g, "small", 2, 10, &blk[2][3], 1);
  f = add(g, "follow", 3, 10, (cask_task_id[]){big, small}, 2);
  hint(g, f, CASK_PLACE_FOLLOW, 1, 0, 0, 0);
  /* rank 5 (mod K); a root read only by a GRID-hinted task goes with it,
   * one read only by the RANK-hinted task stays in the runs */
  lone = add(g, "lone-root", 4, 1 << 20, NULL, 0);
  cask_task_id gt = add(g, "grid-reader", 4, 8, &lone, 1);
  hint(g, gt, CASK_PLACE_GRID, 1, 2, 3, 4);
  cask_task_id w = add(g, "w-root", 4, 8, NULL, 0);
  r5 = add(g, "rank5", 5, 8, (cask_task_id[]){w, blk[1][1]}, 2);
  hint(g, r5, CASK_PLACE_RANK, 5, 0, 0, 0);
  /* a root read by tasks hinted to different ranks stays in the runs */
  shared = add(g, "shared-root", 6, 8, NULL, 0);
  cask_task_id c1 = add(g, "c1", 7, 8, &shared, 1), c2 = add(g, "c2", 7, 8, &shared, 1);
  hint(g, c1, CASK_PLACE_RANK, 0, 0, 0, 0);
  hint(g, c2, CASK_PLACE_RANK, 1, 0, 0, 0);
  for (int k = 1; k <= 8; k++) {
    int *owner = malloc(cask_graph_size(g) * sizeof *owner), p, q;
    ck_assert_int_eq(cask_graph_place(g, k, owner), CASK_OK);
    grid_for(k, &p, &q);
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 4; j++)
        require(owner[blk[i][j]] == (i % p) * q + j % q, "K=%d: block (%d, %d) on rank %d, not %d", k, i, j,
                owner[blk[i][j]], (i % p) * q + j % q);
    require(owner[f] == owner[small], "K=%d: the follower is on %d, its input 1 on %d", k, owner[f], owner[small]);
    require(owner[r5] == 5 % k, "K=%d: rank5 on %d", k, owner[r5]);
    require(owner[lone] == owner[gt] && owner[gt] == (1 % p) * q + 2 % q, "K=%d: the grid reader on %d, its root on %d",
            k, owner[gt], owner[lone]);
    require(owner[c1] == 0 && owner[c2] == 1 % k, "K=%d: c1 on %d, c2 on %d", k, owner[c1], owner[c2]);
    /* the two roots in the runs: one run each (ranks 0 and 1) */
    require(owner[shared] + owner[w] == (k > 1) && owner[shared] <= 1 && owner[w] <= 1,
            "K=%d: the runs' roots on %d and %d", k, owner[shared], owner[w]);
    check_plans(g, k, "hinted graph");
    free(owner);
  }
  cask_graph_free(g);
}
END_TEST

/* A two-pass std as the array library builds it: partial p_i of block i
 * (480 bytes of state), a left fold of combines, each FOLLOWing its partial,
 * whose last one is the mean (240 bytes), then partials q_i (720 bytes) of
 * x_i - mean and their fold. With `file`, the blocks x_i (8000 bytes) are
 * roots read by both passes; without, x is generated inside the partials:
 * the p_i are the roots, and the q_i read nothing but the mean. */
typedef struct two_pass {
  cask_task_id x[16], p[16], q[16], mean;
} two_pass;

static cask_task_id fold(cask_graph *g, const char *name, const cask_task_id *part, int n, int64_t state,
                         int64_t last) {
  cask_task_id s = part[0];
  char key[48];
  for (int j = 1; j < n; j++) {
    snprintf(key, sizeof key, "%s-combine-%d", name, j);
    s = add(g, key, 20, j + 1 < n ? state : last, (cask_task_id[]){s, part[j]}, 2);
    hint(g, s, CASK_PLACE_FOLLOW, 1, 0, 0, 0);
  }
  return s;
}

static cask_graph *two_pass_std(int n, int file, two_pass *t) {
  cask_graph *g;
  char key[32];
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "x-%d", i);
    if (file) t->x[i] = add(g, key, 10, 8000, NULL, 0);
    snprintf(key, sizeof key, "p-%d", i);
    t->p[i] = add(g, key, 11, 480, &t->x[i], file);
  }
  t->mean = fold(g, "mean", t->p, n, 480, 240);
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "q-%d", i);
    t->q[i] = add(g, key, 12, 720, file ? (cask_task_id[]){t->x[i], t->mean} : &t->mean, 1 + file);
  }
  cask_graph_set_output(g, fold(g, "std", t->q, n, 720, 240), 1);
  return g;
}

/* The defect this pins: the q_i of a generated x read one input, the mean,
 * so the majority rule put the whole second pass on the mean's rank. The
 * mean is a broadcast (read by n tasks, made from all n roots); the q_i,
 * reading nothing else, are split over the runs of the roots the mean is
 * made from: each with its p_i, and the fold crosses each boundary once.
 * With file blocks the q_i follow their x_i as before. Either way the
 * ranks move one state per boundary per pass and the mean once to each
 * other rank. */
START_TEST(tasks_reading_only_a_broadcast_are_split_like_the_roots_it_came_from) {
  for (int file = 0; file < 2; file++)
    for (int n = 5; n <= 12; n += 7)
      for (int k = 1; k <= 8; k++) {
        two_pass t;
        cask_graph *g = two_pass_std(n, file, &t);
        int *owner = malloc(cask_graph_size(g) * sizeof *owner), per_rank[8] = {0}, used = k < n ? k : n;
        ck_assert_int_eq(cask_graph_place(g, k, owner), CASK_OK);
        for (int i = 0; i < n; i++) {
          cask_task_id block = file ? t.x[i] : t.p[i];
          require(owner[t.q[i]] == owner[block], "file %d, n %d, K=%d: q-%d on rank %d, its block on %d", file, n, k,
                  i, owner[t.q[i]], owner[block]);
          per_rank[owner[t.q[i]]]++;
        }
        /* the documented runs: the first n % K ranks one block more */
        for (int r = 0; r < k; r++)
          require(per_rank[r] == n / k + (r < n % k), "file %d, n %d, K=%d: rank %d runs %d second-pass partials",
                  file, n, k, r, per_rank[r]);
        int64_t sent = 0;
        for (int r = 0; r < k; r++) {
          cask_plan_stats st = rank_stats(g, k, r);
          sent += st.bytes_sent;
        }
        require(sent == (int64_t)(used - 1) * (480 + 240 + 720), "file %d, n %d, K=%d: %lld bytes moved", file, n, k,
                (long long)sent);
        check_plans(g, k, "two-pass std");
        free(owner);
        cask_graph_free(g);
      }
}
END_TEST

/* Blocks r_i (800 bytes), N = 8 roots. `big` (1 MB) is made from all of
 * them and read by e_i = f(r_i, big); each r_i has two readers, so big's
 * share is N / 2 = 4 roots: a broadcast where that exceeds the longest
 * run, ceil(N / K), i.e. K >= 3. There e_i follows its r_i although big
 * weighs more; at K <= 2 big votes and, by bytes, every e_i sits with it.
 * `lone` reads big alone: a group of one takes the majority of all its
 * inputs. In a second graph the halo h_i (80 bytes) of r_i is read by its
 * neighbours' stencils s_i = f(r_i, h_i-1, h_i+1): r_i, read by two tasks
 * and made from one root, never is a broadcast, so s_i stays with r_i. */
START_TEST(a_broadcast_does_not_vote_but_a_block_read_by_a_few_tasks_does) {
  enum { N = 8 };
  cask_graph *g, *st;
  cask_task_id r[N], h[N], e[N], s[N], big, lone;
  char key[32];
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  ck_assert_int_eq(cask_graph_new(&st), CASK_OK);
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "r-%d", i);
    r[i] = add(g, key, 1, 800, NULL, 0);
  }
  big = add(g, "big", 3, 1 << 20, r, N);
  cask_graph_set_output(g, lone = add(g, "lone", 4, 8, &big, 1), 1);
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "e-%d", i);
    cask_graph_set_output(g, e[i] = add(g, key, 5, 800, (cask_task_id[]){r[i], big}, 2), 1);
  }
  for (int k = 1; k <= 8; k++) {
    int owner[2 * N + 2];
    ck_assert_int_eq(cask_graph_place(g, k, owner), CASK_OK);
    for (int i = 0; i < N; i++) {
      int want = k >= 3 ? owner[r[i]] : owner[big];
      require(owner[e[i]] == want, "K=%d: e-%d on rank %d, not %d", k, i, owner[e[i]], want);
    }
    require(owner[lone] == owner[big], "K=%d: lone on rank %d, big on %d", k, owner[lone], owner[big]);
    check_plans(g, k, "a broadcast among voters");
  }
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "r-%d", i);
    r[i] = add(st, key, 1, 800, NULL, 0);
    snprintf(key, sizeof key, "h-%d", i);
    h[i] = add(st, key, 2, 80, &r[i], 1);
  }
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "s-%d", i);
    s[i] = add(st, key, 6, 800, (cask_task_id[]){r[i], h[(i + N - 1) % N], h[(i + 1) % N]}, 3);
    cask_graph_set_output(st, s[i], 1);
  }
  for (int k = 1; k <= 8; k++) {
    int owner[3 * N];
    ck_assert_int_eq(cask_graph_place(st, k, owner), CASK_OK);
    for (int i = 0; i < N; i++)
      require(owner[s[i]] == owner[r[i]], "K=%d: s-%d on rank %d, its block on %d", k, i, owner[s[i]], owner[r[i]]);
    check_plans(st, k, "stencil");
  }
  cask_graph_free(g);
  cask_graph_free(st);
}
END_TEST

START_TEST(hints_are_checked_digested_and_kept_by_files_and_fusion) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id a = add(g, "a", 1, 8, NULL, 0), b = add(g, "b", 2, 8, &a, 1), c = add(g, "c", 3, 8, &b, 1);
  cask_task_id d = add(g, "d", 4, 8, (cask_task_id[]){a, c}, 2);
  cask_graph_set_output(g, d, 1);
  /* refused: a FOLLOW of an input the task lacks, an empty grid, no kind */
  const cask_place_hint bad[] = {{CASK_PLACE_FOLLOW, 1, 0, 0, 0}, {CASK_PLACE_GRID, 0, 0, 0, 3}, {9, 0, 0, 0, 0}};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(cask_graph_set_place(g, b, &bad[i]), CASK_EINVAL);
    require(strstr(cask_graph_errmsg(g), "cask_graph_set_place: task 'b'"), "%s", cask_graph_errmsg(g));
  }
  uint64_t before, after;
  ck_assert_int_eq(cask_graph_digest(g, &before), CASK_OK);
  hint(g, b, CASK_PLACE_RANK, 3, 0, 0, 0);
  hint(g, d, CASK_PLACE_FOLLOW, 1, 0, 0, 0);
  ck_assert_int_eq(cask_graph_digest(g, &after), CASK_OK);
  ck_assert_uint_ne(before, after);
  /* a graph file keeps them */
  json_keeps_hint(g, "\"place\":[3,3,0,0,0]", after);
  char *err = NULL;
  cask_graph *back;
  /* and a bad one in a file is refused by name */
  const char *text = "{\"cask_graph\":1,\"ntasks\":1,\"tasks\":[{\"key\":\"x\",\"op\":\"cask.noop\",\"place\":[2,0,0,0,0]}]}";
  ck_assert_int_eq(cask_graph_from_json(text, strlen(text), &back, &err), CASK_EJSON);
  require(err && strstr(err, "place"), "%s", err ? err : "(no message)");
  cask_free(err);
  /* fusion of e -> f -> h keeps f's hint in the fused task (named h) */
  cask_task_id e = add(g, "e", 5, 8, NULL, 0), f2 = add(g, "f", 6, 8, &e, 1), h2 = add(g, "h", 7, 8, &f2, 1);
  cask_graph_set_output(g, h2, 1);
  hint(g, f2, CASK_PLACE_RANK, 2, 0, 0, 0);
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  cask_task_id fused;
  cask_place_hint got;
  ck_assert_int_eq(cask_graph_find(g, "h", &fused), CASK_OK);
  ck_assert_int_eq(cask_graph_get_place(g, fused, &got), CASK_OK);
  require(got.kind == CASK_PLACE_RANK && got.i == 2, "fused: kind %d, i %u", got.kind, got.i);
  /* but e, unpinned, stays apart from f, pinned to rank 2 (a RANK hint
   * pins its task, not the work before it: rank 0's HDF5 writers) */
  cask_task_id te;
  size_t nd;
  ck_assert_int_eq(cask_graph_find(g, "e", &te), CASK_OK);
  const cask_task_id *deps = cask_graph_deps(g, fused, &nd);
  require(nd == 1 && deps[0] == te, "the fused task takes %zu inputs, not e", nd);
  require(strcmp(cask_graph_op(g, fused)->name, "cask.fused") == 0, "f and h are not fused");
  cask_graph_free(g);
}
END_TEST

/* ---- flat planning (docs/flat-planning.md): RUN hints, ghosts, placement
 * without the broadcast walk ---------------------------------------------- */

/* The rank of root p of n on k ranks by the documented split, in a plain
 * loop: k runs in order, the first n % k of them one root longer. */
static int run_rank_ref(uint32_t p, uint32_t n, int k) {
  uint32_t start = 0;
  for (int r = 0; r < k; r++) {
    uint32_t len = n / (uint32_t)k + ((uint32_t)r < n % (uint32_t)k);
    if (p < start + len) return r;
    start += len;
  }
  return -1;
}

/* n roots hinted RUN p of n, added in a scrambled order of p (alternately
 * from both ends) and each read by a task of its own; a task with inputs
 * hinted RUN too; two unhinted roots, which stay in runs of their own
 * (counted without the RUN ones): ranks 0 and 1. */
START_TEST(run_hints_put_root_p_of_n_where_the_runs_of_n_put_it) {
  char key[32];
  for (uint32_t n = 1; n <= 13; n++) {
    cask_graph *g;
    ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
    cask_task_id root[13], use[13], late, free0, free1;
    uint32_t pos[13];
    for (uint32_t i = 0; i < n; i++) {
      pos[i] = i % 2 ? i / 2 : n - 1 - i / 2;
      snprintf(key, sizeof key, "root-%u", i);
      root[i] = add(g, key, 1, 800, NULL, 0);
      hint(g, root[i], CASK_PLACE_RUN, pos[i], 0, n, 0);
      snprintf(key, sizeof key, "use-%u", i);
      cask_graph_set_output(g, use[i] = add(g, key, 2, 800, &root[i], 1), 1);
    }
    late = add(g, "late", 3, 8, (cask_task_id[]){root[0], root[n - 1]}, 2);
    hint(g, late, CASK_PLACE_RUN, n - 1, 0, n, 0);
    cask_graph_set_output(g, late, 1);
    free0 = add(g, "free-0", 4, 8, NULL, 0);
    free1 = add(g, "free-1", 5, 8, NULL, 0);
    cask_graph_set_output(g, add(g, "free-use", 6, 8, (cask_task_id[]){free0, free1}, 2), 1);
    for (int k = 1; k <= 8; k++) {
      int owner[40];
      ck_assert_int_eq(cask_graph_place(g, k, owner), CASK_OK);
      for (uint32_t i = 0; i < n; i++) {
        int want = run_rank_ref(pos[i], n, k);
        require(owner[root[i]] == want, "n %u, K=%d: root %u of %u on rank %d, not %d", n, k, pos[i], n,
                owner[root[i]], want);
        require(owner[use[i]] == want, "n %u, K=%d: its reader on rank %d, not %d", n, k, owner[use[i]], want);
      }
      require(owner[late] == run_rank_ref(n - 1, n, k), "n %u, K=%d: late on rank %d", n, k, owner[late]);
      require(owner[free0] == 0 && owner[free1] == (k > 1), "n %u, K=%d: unhinted roots on %d and %d", n, k,
              owner[free0], owner[free1]);
      check_plans(g, k, "RUN-hinted roots");
      check_plans_flags(g, k, "RUN-hinted roots, no broadcasts", CASK_PLAN_NO_BROADCAST);
    }
    cask_graph_free(g);
  }
}
END_TEST

/* Two columns of a generated x, each with its own two-pass std: column c's
 * partials p are roots (hinted RUN c n + i of 2 n when `hinted`), its
 * second pass q reads only its mean, a broadcast made from that column's
 * roots alone: its group spans the column's positions, so each column's
 * second pass lines up with its first. */
static cask_graph *two_columns(int n, int hinted, cask_task_id (*q)[8]) {
  cask_graph *g;
  char key[32];
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  for (int c = 0; c < 2; c++) {
    cask_task_id p[8], mean;
    for (int i = 0; i < n; i++) {
      snprintf(key, sizeof key, "p-%d-%d", c, i);
      p[i] = add(g, key, 11, 480, NULL, 0);
      if (hinted) hint(g, p[i], CASK_PLACE_RUN, (uint32_t)(c * n + i), 0, (uint32_t)(2 * n), 0);
    }
    snprintf(key, sizeof key, "mean-%d", c);
    mean = fold(g, key, p, n, 480, 240);
    for (int i = 0; i < n; i++) {
      snprintf(key, sizeof key, "q-%d-%d", c, i);
      q[c][i] = add(g, key, 12, 720, &mean, 1);
    }
    snprintf(key, sizeof key, "std-%d", c);
    cask_graph_set_output(g, fold(g, key, q[c], n, 720, 240), 1);
  }
  return g;
}

/* When every root in the runs carries a RUN hint of one count n, groups
 * of tasks reading only a broadcast are spread by the hints' positions:
 * RUN hints that number the roots as the static order does place the
 * two-pass std (both the generated x, whose second pass is such a group,
 * and the file x) exactly as no hints do. Two roots of one position (a
 * second file block y_i with x_i) always share a rank. */
START_TEST(run_hints_numbering_roots_as_the_static_order_change_no_owner) {
  for (int file = 0; file < 2; file++)
    for (int n = 5; n <= 12; n += 7) {
      two_pass t, u;
      cask_graph *plain = two_pass_std(n, file, &t), *hinted = two_pass_std(n, file, &u);
      for (int i = 0; i < n; i++) hint(hinted, file ? u.x[i] : u.p[i], CASK_PLACE_RUN, (uint32_t)i, 0, (uint32_t)n, 0);
      size_t nt = cask_graph_size(plain);
      int *a = malloc(nt * sizeof *a), *b = malloc(nt * sizeof *b);
      for (int k = 1; k <= 8; k++) {
        ck_assert_int_eq(cask_graph_place(plain, k, a), CASK_OK);
        ck_assert_int_eq(cask_graph_place(hinted, k, b), CASK_OK);
        for (size_t i = 0; i < nt; i++)
          require(a[i] == b[i], "file %d, n %d, K=%d: task '%s' on rank %d unhinted, %d hinted", file, n, k,
                  cask_graph_key(plain, (cask_task_id)i), a[i], b[i]);
      }
      free(a);
      free(b);
      cask_graph_free(plain);
      cask_graph_free(hinted);
    }
  for (int n = 3; n <= 8; n += 5) {
    cask_task_id q[2][8];
    cask_graph *plain = two_columns(n, 0, q), *hinted = two_columns(n, 1, q);
    size_t nt = cask_graph_size(plain);
    int *a = malloc(nt * sizeof *a), *b = malloc(nt * sizeof *b);
    for (int k = 1; k <= 8; k++) {
      ck_assert_int_eq(cask_graph_place(plain, k, a), CASK_OK);
      ck_assert_int_eq(cask_graph_place(hinted, k, b), CASK_OK);
      for (size_t i = 0; i < nt; i++)
        require(a[i] == b[i], "two columns of %d, K=%d: task '%s' on rank %d unhinted, %d hinted", n, k,
                cask_graph_key(plain, (cask_task_id)i), a[i], b[i]);
      for (int c = 0; c < 2; c++)
        for (int i = 0; i < n; i++)
          require(b[q[c][i]] == run_rank_ref((uint32_t)(c * n + i), (uint32_t)(2 * n), k),
                  "two columns of %d, K=%d: q-%d-%d on rank %d", n, k, c, i, b[q[c][i]]);
    }
    free(a);
    free(b);
    cask_graph_free(plain);
    cask_graph_free(hinted);
  }
  /* r = 2 roots per position: x_i and y_i, both RUN i of n */
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id x[7], y[7];
  char key[16];
  for (int i = 0; i < 7; i++) {
    snprintf(key, sizeof key, "x-%d", i);
    x[i] = add(g, key, 1, 800, NULL, 0);
    snprintf(key, sizeof key, "y-%d", i);
    y[i] = add(g, key, 2, 800, NULL, 0);
    hint(g, x[i], CASK_PLACE_RUN, (uint32_t)i, 0, 7, 0);
    hint(g, y[i], CASK_PLACE_RUN, (uint32_t)i, 0, 7, 0);
    snprintf(key, sizeof key, "z-%d", i);
    cask_graph_set_output(g, add(g, key, 3, 800, (cask_task_id[]){x[i], y[i]}, 2), 1);
  }
  for (int k = 1; k <= 8; k++) {
    int owner[21];
    ck_assert_int_eq(cask_graph_place(g, k, owner), CASK_OK);
    for (int i = 0; i < 7; i++)
      require(owner[x[i]] == owner[y[i]] && owner[x[i]] == run_rank_ref((uint32_t)i, 7, k),
              "K=%d: x-%d on %d, y-%d on %d", k, i, owner[x[i]], i, owner[y[i]]);
    for (int r = 0; r < k; r++) {
      cask_plan_stats st = rank_stats(g, k, r);
      require(st.nsends == 0 && st.nrecvs == 0, "K=%d: rank %d moves blocks", k, r);
    }
  }
  cask_graph_free(g);
}
END_TEST

START_TEST(run_hints_are_checked_digested_written_and_kept_by_fusion) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id r = add(g, "r", 1, 8, NULL, 0), c = add(g, "c", 2, 8, &r, 1);
  cask_graph_set_output(g, c, 1);
  /* refused: p >= n, n = 0, a j or an nj */
  const cask_place_hint bad[] = {{CASK_PLACE_RUN, 3, 0, 3, 0},
                                 {CASK_PLACE_RUN, 0, 0, 0, 0},
                                 {CASK_PLACE_RUN, 0, 1, 3, 0},
                                 {CASK_PLACE_RUN, 0, 0, 3, 1}};
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(cask_graph_set_place(g, r, &bad[i]), CASK_EINVAL);
    require(strstr(cask_graph_errmsg(g), "cask_graph_set_place: task 'r'") &&
                strstr(cask_graph_errmsg(g), "run position i < ni"),
            "%s", cask_graph_errmsg(g));
  }
  cask_place_hint got;
  ck_assert_int_eq(cask_graph_get_place(g, r, &got), CASK_OK);
  ck_assert_int_eq(got.kind, CASK_PLACE_NONE);
  /* digested: the hint, then another position, then another count */
  uint64_t d[4];
  ck_assert_int_eq(cask_graph_digest(g, &d[0]), CASK_OK);
  hint(g, r, CASK_PLACE_RUN, 1, 0, 3, 0);
  ck_assert_int_eq(cask_graph_digest(g, &d[1]), CASK_OK);
  hint(g, r, CASK_PLACE_RUN, 2, 0, 3, 0);
  ck_assert_int_eq(cask_graph_digest(g, &d[2]), CASK_OK);
  hint(g, r, CASK_PLACE_RUN, 2, 0, 4, 0);
  ck_assert_int_eq(cask_graph_digest(g, &d[3]), CASK_OK);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < i; j++) require(d[i] != d[j], "digests %d and %d agree", i, j);
  ck_assert_int_eq(cask_graph_get_place(g, r, &got), CASK_OK);
  require(got.kind == CASK_PLACE_RUN && got.i == 2 && got.j == 0 && got.ni == 4 && got.nj == 0,
          "got %d (%u, %u, %u, %u)", got.kind, got.i, got.j, got.ni, got.nj);
  /* a graph file keeps it */
  json_keeps_hint(g, "\"place\":[4,2,0,4,0]", d[3]);
  char *err = NULL;
  cask_graph *back;
  /* and a bad one in a file is refused naming the task and the field */
  const char *texts[] = {
      "{\"cask_graph\":1,\"ntasks\":1,\"tasks\":[{\"key\":\"x\",\"op\":\"cask.noop\",\"place\":[4,3,0,3,0]}]}",
      "{\"cask_graph\":1,\"ntasks\":1,\"tasks\":[{\"key\":\"x\",\"op\":\"cask.noop\",\"place\":[4,0,0,0,0]}]}",
      "{\"cask_graph\":1,\"ntasks\":1,\"tasks\":[{\"key\":\"x\",\"op\":\"cask.noop\",\"place\":[4,0,2,3,0]}]}"};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(cask_graph_from_json(texts[i], strlen(texts[i]), &back, &err), CASK_EJSON);
    require(err && strstr(err, "'x'") && strstr(err, "\"place\"") && strstr(err, "run position"), "%s",
            err ? err : "(no message)");
    cask_free(err);
    err = NULL;
  }
  /* a root fused into its only consumer keeps its RUN hint (the fused
   * task, named c, is a root) and its rank */
  ck_assert_int_eq(cask_graph_fuse(g), CASK_OK);
  cask_task_id fused;
  size_t nd;
  ck_assert_uint_eq(cask_graph_size(g), 1);
  ck_assert_int_eq(cask_graph_find(g, "c", &fused), CASK_OK);
  require(strcmp(cask_graph_op(g, fused)->name, "cask.fused") == 0, "r and c are not fused");
  cask_graph_deps(g, fused, &nd);
  ck_assert_uint_eq(nd, 0);
  ck_assert_int_eq(cask_graph_get_place(g, fused, &got), CASK_OK);
  require(got.kind == CASK_PLACE_RUN && got.i == 2 && got.ni == 4, "fused: kind %d (%u of %u)", got.kind, got.i,
          got.ni);
  for (int k = 1; k <= 8; k++) {
    int owner[1];
    ck_assert_int_eq(cask_graph_place(g, k, owner), CASK_OK);
    require(owner[0] == run_rank_ref(2, 4, k), "K=%d: the fused root on rank %d", k, owner[0]);
  }
  cask_graph_free(g);
}
END_TEST

/* Whether the default placement of g on k ranks has a broadcast, by the
 * documented rule worked out here alone: shares in 2^20ths of a root, a
 * root one, each task handing its share out evenly to its readers
 * (rounded down); a broadcast is read by two or more and holds more than
 * ceil(roots / k) roots. */
static int has_broadcast(cask_graph *g, int k) {
  if (k == 1) return 0;
  ck_assert_int_eq(cask_graph_order(g), CASK_OK);
  size_t n = cask_graph_size(g), roots = 0, nd, nr;
  uint32_t *by = malloc((n + 1) * sizeof *by);
  uint64_t *out = malloc((n + 1) * sizeof *out);
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    by[cask_graph_priority(g, (cask_task_id)i)] = (uint32_t)i;
    cask_graph_deps(g, (cask_task_id)i, &nd);
    roots += nd == 0;
  }
  uint64_t run = (roots + (uint64_t)k - 1) / (uint64_t)k << 20;
  for (size_t p = 0; p < n; p++) {
    cask_task_id t = by[p];
    const cask_task_id *deps = cask_graph_deps(g, t, &nd);
    uint64_t share = nd ? 0 : (uint64_t)1 << 20;
    for (size_t j = 0; j < nd; j++) share += out[deps[j]];
    cask_graph_dependents(g, t, &nr);
    out[t] = nr > 1 ? share / nr : share;
    found |= nr >= 2 && share > run;
  }
  free(by);
  free(out);
  return found;
}

/* Hint every root of g RUN (a random position of n = its roots + 2). */
static void hint_roots_run(cask_graph *g, uint64_t seed) {
  size_t n = cask_graph_size(g), nroots = 0, nd;
  ck_assert_int_eq(cask_graph_validate(g), CASK_OK);
  for (size_t i = 0; i < n; i++) nroots += (cask_graph_deps(g, (cask_task_id)i, &nd), nd == 0);
  for (size_t i = 0; i < n; i++)
    if (cask_graph_deps(g, (cask_task_id)i, &nd), nd == 0)
      hint(g, (cask_task_id)i, CASK_PLACE_RUN, (uint32_t)(mix64(seed + i) % (nroots + 2)), 0, (uint32_t)nroots + 2,
           0);
}

/* Without the broadcast walk, placement is the default one on every graph
 * where the default finds no broadcast (K = 1 always); with broadcasts, it
 * still gives every task one rank and consistent plans. Random DAGs, bare
 * and with every root RUN-hinted, and the structured graphs above. */
START_TEST(placement_without_the_broadcast_walk_is_the_default_where_there_is_none) {
  int compared[9] = {0}, others = 0;
  char what[96];
  for (uint64_t seed = 1; seed <= (SANITIZED ? 8 : 30); seed++)
    for (int run = 0; run < 2; run++) {
      cask_graph *gs[4] = {random_dag(seed * 7919, 50 + (int)(seed * 37 % 400), -1), row_blocks((int)seed, 1),
                           tree_sum((int)seed), NULL};
      two_pass t;
      gs[3] = two_pass_std(1 + (int)(seed % 16), (int)(seed & 1), &t);
      for (int w = 0; w < 4; w++) {
        cask_graph *g = gs[w];
        if (run) hint_roots_run(g, seed);
        size_t n = cask_graph_size(g);
        int *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        for (int k = 1; k <= 8; k++) {
          ck_assert_int_eq(cask__place_opts(g, k, a, NULL, 0), CASK_OK);
          ck_assert_int_eq(cask__place_opts(g, k, b, NULL, CASK__PLACE_NO_BROADCAST), CASK_OK);
          snprintf(what, sizeof what, "graph %d, seed %d, RUN %d, %d ranks", w, (int)seed, run, k);
          if (has_broadcast(g, k)) {
            for (size_t i = 0; i < n; i++) require(b[i] >= 0 && b[i] < k, "%s: task %zu on rank %d", what, i, b[i]);
            if (w == 0 && seed <= 4) check_plans_flags(g, k, what, CASK_PLAN_NO_BROADCAST);
            others++;
            continue;
          }
          for (size_t i = 0; i < n; i++)
            require(a[i] == b[i], "%s: task '%s' on rank %d, %d without the walk", what,
                    cask_graph_key(g, (cask_task_id)i), a[i], b[i]);
          compared[k]++;
        }
        free(a);
        free(b);
        cask_graph_free(g);
      }
    }
  /* the comparison is not vacuous: graphs without broadcasts at every K,
   * and graphs with them (where the two may differ) */
  for (int k = 1; k <= 8; k++) require(compared[k] >= 8, "%d ranks: only %d graphs compared", k, compared[k]);
  require(others > 0, "no graph with a broadcast");
  /* where there is one, the walk is off: the second pass of a generated
   * x's std, reading only the mean, follows it (the majority of one) */
  two_pass t;
  cask_graph *std = two_pass_std(12, 0, &t);
  int owner[60];
  ck_assert_int_eq(cask__place_opts(std, 4, owner, NULL, CASK__PLACE_NO_BROADCAST), CASK_OK);
  for (int i = 0; i < 12; i++)
    require(owner[t.q[i]] == owner[t.mean], "q-%d on rank %d, the mean on %d", i, owner[t.q[i]], owner[t.mean]);
  cask_graph_free(std);
  cask_plan *p;
  cask_graph *g = tree_sum(4);
  ck_assert_int_eq(cask_plan_new_flags(g, 2, 0, 6, &p), CASK_EINVAL);
  require(strstr(cask_graph_errmsg(g), "unknown flags 0x6"), "%s", cask_graph_errmsg(g));
  cask_graph_free(g);
}
END_TEST

/* Rank 1's partial graph of a job on K = 3 ranks, by hand: its root a (RUN
 * 1 of 3), b = f(x, a) where x is a ghost producer on rank 0, c = g(a) an
 * output; ghost readers: two tasks of rank 2 read b, one of rank 0 reads
 * a. Without ghost marks (ghosts = 0) the same tasks form a graph whose
 * digest differs. */
static cask_graph *partial_graph(int ghosts) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  cask_task_id x = add(g, "x-remote", 1, 100, NULL, 0), a = add(g, "a", 2, 100, NULL, 0);
  cask_task_id b = add(g, "b", 3, 50, (cask_task_id[]){x, a}, 2);
  cask_graph_set_output(g, add(g, "c", 4, 10, &a, 1), 1);
  cask_task_id r2a = add(g, "read-b-on-2", 5, 8, &b, 1), r2b = add(g, "read-b-on-2-again", 6, 8, &b, 1);
  cask_task_id r0 = add(g, "read-a-on-0", 7, 8, &a, 1);
  hint(g, a, CASK_PLACE_RUN, 1, 0, 3, 0);
  hint(g, b, CASK_PLACE_FOLLOW, 1, 0, 0, 0);
  const cask_task_id ghost[4] = {x, r2a, r2b, r0};
  const uint32_t on[4] = {0, 2, 2, 0};
  for (int i = 0; i < 4; i++) {
    hint(g, ghost[i], CASK_PLACE_RANK, on[i], 0, 0, 0);
    if (ghosts) ck_assert_int_eq(cask__graph_set_ghost(g, ghost[i]), CASK_OK);
  }
  return g;
}

static int has_transfer(cask_graph *g, const cask_transfer *t, size_t n, const char *key, int peer, int64_t nbytes) {
  int found = 0;
  for (size_t i = 0; i < n; i++)
    found += strcmp(cask_graph_key(g, t[i].task), key) == 0 && t[i].peer == peer && t[i].nbytes == nbytes;
  return found;
}

START_TEST(a_partial_graph_receives_from_ghost_producers_and_sends_to_ghost_readers) {
  cask_graph *g = partial_graph(1), *plain = partial_graph(0);
  uint64_t dg, dp;
  ck_assert_int_eq(cask_graph_digest(g, &dg), CASK_OK);
  ck_assert_int_eq(cask_graph_digest(plain, &dp), CASK_OK);
  ck_assert_uint_ne(dg, dp);
  ck_assert_int_eq(cask_graph_optimize(g, CASK_OPT_FUSE | CASK_OPT_ORDER), CASK_OK);
  ck_assert_uint_eq(cask_graph_size(g), 7); /* nothing fuses into or out of a ghost */
  for (unsigned flags = 0; flags <= CASK_PLAN_NO_BROADCAST; flags++) {
    cask_plan *p;
    cask_plan_stats st;
    size_t nt, ns, nr;
    ck_assert_int_eq(cask_plan_new_flags(g, 3, 1, flags, &p), CASK_OK);
    cask_plan_get_stats(p, &st);
    const cask_task_id *t = cask_plan_tasks(p, &nt);
    const cask_transfer *s = cask_plan_sends(p, &ns), *v = cask_plan_recvs(p, &nr);
    require(nt == 3, "flags %u: rank 1 runs %zu tasks", flags, nt);
    for (size_t i = 0; i < nt; i++) {
      const char *k = cask_graph_key(g, t[i]);
      require(!strcmp(k, "a") || !strcmp(k, "b") || !strcmp(k, "c"), "flags %u: rank 1 runs '%s'", flags, k);
    }
    require(nr == 1 && has_transfer(g, v, nr, "x-remote", 0, 100) == 1, "flags %u: %zu receives", flags, nr);
    require(ns == 2 && has_transfer(g, s, ns, "b", 2, 50) == 1 && has_transfer(g, s, ns, "a", 0, 100) == 1,
            "flags %u: %zu sends", flags, ns);
    require(st.bytes_sent == 150 && st.bytes_received == 100, "flags %u: %lld bytes sent, %lld received", flags,
            (long long)st.bytes_sent, (long long)st.bytes_received);
    cask_plan_free(p);
  }
  cask_graph_free(g);
  cask_graph_free(plain);
}
END_TEST

/* docs/api.md's example: a rank's part plans as that rank of the whole
 * graph (counts and bytes), for K up to the blocks; more ranks, a job
 * outside the fragment and a bad rank say why; a part planned as another
 * rank or rank count is refused (it once gave a plan of ghosts). */
START_TEST(a_part_plans_as_its_rank_of_the_whole_graph_and_only_as_that_rank) {
  cask_ctx *ctx;
  cask_array *x, *y, *s, *m;
  ck_assert_int_eq(cask_ctx_new(NULL, &ctx), CASK_OK);
  ck_assert_int_eq(cask_random_uniform(ctx, 3, CASK_F64, 2, (int64_t[]){400, 60}, (int64_t[]){50, 30}, &x), CASK_OK);
  const char *names[] = {"x"};
  ck_assert_int_eq(cask_eval(ctx, "(x - mean(x, axis=0)) * 2", names, &x, 1, &y), CASK_OK);
  ck_assert_int_eq(cask_eval(ctx, "sum(x, axis=0)", names, &x, 1, &s), CASK_OK);
  ck_assert_int_eq(cask_eval(ctx, "x @ x.T", names, &x, 1, &m), CASK_OK);
  cask_array *both[] = {y, s};
  cask_graph *whole, *g;
  char why[256];
  ck_assert_int_eq(cask_arrays_graph(2, both, &whole, NULL), CASK_OK);
  for (int k = 1; k <= 16; k += k < 4 ? 1 : 6) {
    for (int r = 0; r < k; r++) {
      ck_assert_int_eq(cask_arrays_graph_part(2, both, k, r, &g, why, sizeof why), CASK_OK);
      require(g != NULL, "K = %d, rank %d: no part: %s", k, r, why);
      cask_plan *p;
      ck_assert_int_eq(cask_plan_new_flags(g, k, r, CASK_PLAN_NO_BROADCAST, &p), CASK_OK);
      cask_plan_stats a = rank_stats(whole, k, r), b;
      cask_plan_get_stats(p, &b);
      require(a.nlocal == b.nlocal && a.nsends == b.nsends && a.nrecvs == b.nrecvs && a.bytes_sent == b.bytes_sent &&
                  a.bytes_received == b.bytes_received,
              "K = %d, rank %d: the part plans %zu tasks, %zu sends, %zu receives; the whole graph %zu, %zu, %zu", k, r,
              b.nlocal, b.nsends, b.nrecvs, a.nlocal, a.nsends, a.nrecvs);
      cask_plan_free(p);
      cask_graph_free(g);
    }
  }
  ck_assert_int_eq(cask_arrays_graph_part(2, both, 3, 1, &g, why, sizeof why), CASK_OK);
  ck_assert_ptr_nonnull(g);
  int wrong[2][2] = {{3, 2}, {4, 1}};
  for (int i = 0; i < 2; i++) {
    cask_plan *p = (cask_plan *)1;
    ck_assert_int_eq(cask_plan_new_flags(g, wrong[i][0], wrong[i][1], CASK_PLAN_NO_BROADCAST, &p), CASK_EINVAL);
    ck_assert_ptr_null(p);
    require(strstr(cask_graph_errmsg(g), "rank 1's part of 3 ranks"), "%s", cask_graph_errmsg(g));
  }
  cask_graph_free(g);
  ck_assert_int_eq(cask_arrays_graph_part(2, both, 17, 0, &g, why, sizeof why), CASK_OK);
  require(!g && strstr(why, "17 ranks but 16 anchor blocks"), "why: %s", why);
  ck_assert_int_eq(cask_arrays_graph_part(1, &m, 2, 0, &g, why, sizeof why), CASK_OK);
  require(!g && strstr(why, "matmul"), "why: %s", why);
  ck_assert_int_eq(cask_arrays_graph_part(2, both, 3, 3, &g, why, sizeof why), CASK_EINVAL);
  require(!g && strstr(cask_ctx_errmsg(ctx), "rank 3 of 3"), "%s", cask_ctx_errmsg(ctx));
  cask_graph_free(whole);
  cask_array *all[] = {x, y, s, m};
  for (int i = 0; i < 4; i++) cask_array_release(all[i]);
  cask_ctx_free(ctx);
}
END_TEST

Suite *distributed_suite(void) {
  Suite *s = suite_create("distributed");
  TCase *tc = tcase_create("plan");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, placement_is_deterministic_and_gives_every_task_one_rank);
  tcase_add_test(tc, plans_of_all_ranks_run_every_task_once_and_sends_match_receives);
  tcase_add_test(tc, row_block_elementwise_job_moves_nothing);
  tcase_add_test(tc, tree_reduction_moves_one_partial_per_rank_but_the_first);
  tcase_add_test(tc, an_unsized_input_weighs_as_its_largest_sibling);
  tcase_add_test(tc, more_ranks_than_roots_leaves_ranks_idle_not_broken);
  tcase_add_test(tc, an_empty_graph_plans_to_nothing);
  tcase_add_test(tc, bad_rank_counts_are_refused_with_a_message);
  tcase_add_test(tc, digests_agree_on_equal_graphs_and_name_the_first_differing_task);
  tcase_add_test(tc, digest_sees_sizes_outputs_and_dependency_order);
  tcase_add_test(tc, array_graphs_digest_alike_and_row_blocks_stay_local);
  tcase_add_test(tc, hints_place_tasks_before_the_majority_rule);
  tcase_add_test(tc, hints_are_checked_digested_and_kept_by_files_and_fusion);
  tcase_add_test(tc, tasks_reading_only_a_broadcast_are_split_like_the_roots_it_came_from);
  tcase_add_test(tc, a_broadcast_does_not_vote_but_a_block_read_by_a_few_tasks_does);
  suite_add_tcase(s, tc);
  TCase *flat = tcase_create("flat");
  tcase_set_timeout(flat, 120);
  tcase_add_test(flat, run_hints_put_root_p_of_n_where_the_runs_of_n_put_it);
  tcase_add_test(flat, run_hints_numbering_roots_as_the_static_order_change_no_owner);
  tcase_add_test(flat, run_hints_are_checked_digested_written_and_kept_by_fusion);
  tcase_add_test(flat, placement_without_the_broadcast_walk_is_the_default_where_there_is_none);
  tcase_add_test(flat, a_partial_graph_receives_from_ghost_producers_and_sends_to_ghost_readers);
  tcase_add_test(flat, a_part_plans_as_its_rank_of_the_whole_graph_and_only_as_that_rank);
  suite_add_tcase(s, flat);
  return s;
}
