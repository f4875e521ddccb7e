/* exec.c - the MPI executor through the C API (tests/mpi_check.sh runs it
 * under `mpirun -np K`, K = 1, 2, 3): random graphs (the same on every
 * rank: seeded) run with cask_run_mpi give every output the bits a local
 * cask_run gives, each output is held by exactly one rank, the blocks
 * sent equal the plans' sends; blocks split into 64-byte messages
 * (CASK_MPI_SPLIT) too, and of a different size on each rank; send
 * tasks whose first-choice key a user took; buffers computed across
 * ranks; arrays over memory (cask_from_buffer, unique) run across ranks
 * holding the same bytes, refused naming a task where one rank's differ;
 * a run canceled on every rank while their tasks take unequal times
 * ends with CASK_ECANCELED on every rank and MPI still usable;
 * a failing task stops every
 * rank with CASK_ETASK (also with many split messages in flight)
 * and a message naming its key, its op and its rank; ranks holding
 * different graphs are refused naming the first differing task. Exit 0
 * when all hold. */
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"
#include "cask/distributed.h"
#include "cask/mpi.h"

#include "node_op.h"

static int fail_run(cask_task_io *io) {
  snprintf(io->errmsg, io->errmsg_cap, "failing on purpose");
  return CASK_ETASK;
}

static const cask_op *op_node, *op_fail;

/* Task keys: "t-I", or (clash) "cask.mpi_send-(I+1)": every block sent
 * then has a task whose key is the executor's first choice for its send
 * task. */
static int clash_keys;

/* A random DAG of n tasks: each reads up to 3 earlier ones, sizes from 1
 * to 300 values; every sink an output. bad >= 0: that task fails. */
static cask_graph *random_graph(uint64_t seed, int n, int bad) {
  cask_graph *g;
  cask_graph_new(&g);
  for (int i = 0; i < n; i++) {
    uint64_t r = mix(seed * 1000003 + (uint64_t)i);
    int64_t a[2] = {(int64_t)(r & 0xffff), 1 + (int64_t)((r >> 16) % 300)};
    cask_task_id deps[3];
    int nd = i < 4 ? 0 : (int)((r >> 32) % 4);
    for (int k = 0; k < nd; k++) deps[k] = (cask_task_id)(mix(r + (uint64_t)k) % (uint64_t)i);
    char key[32];
    if (clash_keys) snprintf(key, sizeof key, "cask.mpi_send-%d", (i + 1) % n);
    else snprintf(key, sizeof key, "t-%d", i);
    cask_task_id id;
    cask_graph_add(g, key, i == bad ? op_fail : op_node, a, sizeof a, deps, (size_t)nd, &id);
    cask_graph_set_size(g, id, a[1] * 8);
  }
  return g;
}

static int check_graph(cask_runtime *rt, MPI_Comm comm, int rank, int nranks, uint64_t seed, int n) {
  cask_graph *g = random_graph(seed, n, -1);
  cask_results *local = NULL, *dist = NULL;
  int bad = 0;
  if (cask_run(rt, g, NULL, &local)) return fprintf(stderr, "local run: %s\n", cask_runtime_errmsg(rt)), 1;
  cask_executor *ex;
  cask_mpi_executor_new(comm, &ex);
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.executor = ex;
  if (cask_run(rt, g, &o, &dist)) return fprintf(stderr, "rank %d: mpi run: %s\n", rank, cask_runtime_errmsg(rt)), 1;
  long long held = 0, outputs = 0, all;
  for (cask_task_id id = 0; id < cask_graph_size(g); id++) {
    const cask_block *a = cask_results_get(local, id), *b = cask_results_get(dist, id);
    outputs += a != NULL;
    if (!b) continue;
    held++;
    if (!a || cask_block_nbytes(a) != cask_block_nbytes(b) || memcmp(cask_block_data(a), cask_block_data(b), cask_block_nbytes(a)))
      bad = fprintf(stderr, "rank %d: graph %llu: task %s differs from the local run\n", rank, (unsigned long long)seed,
                    cask_graph_key(g, id));
  }
  MPI_Allreduce(&held, &all, 1, MPI_LONG_LONG, MPI_SUM, comm);
  if (all != outputs) bad = fprintf(stderr, "rank %d: %lld outputs held over the ranks, %lld in the graph\n", rank, all, outputs);
  cask_mpi_stats st;
  cask_mpi_last_stats(ex, &st);
  size_t planned = 0;
  for (int r = 0; r < nranks; r++) { /* the fake-rank plans */
    cask_plan *p;
    cask_plan_stats ps;
    cask_plan_new(g, nranks, r, &p);
    cask_plan_get_stats(p, &ps);
    planned += ps.nsends;
    cask_plan_free(p);
  }
  if (st.blocks_sent != planned || st.planned_sends != planned)
    bad = fprintf(stderr, "rank %d: %llu blocks sent, plans say %zu\n", rank, (unsigned long long)st.blocks_sent, planned);
  cask_results_free(local);
  cask_results_free(dist);
  cask_mpi_executor_free(ex);
  cask_graph_free(g);
  return bad != 0;
}

/* c = b + 1, b @ b', sum(unique(b)) and the edges of b's histogram in 4
 * bins (unique and histogram compute when called, their results arrays
 * over memory) of b over mem (16 doubles, chunks of 4) into out
 * (16 + 16 + 1 + 5), by store options o. */
static int memory_arrays(cask_ctx *ctx, const cask_run_options *o, const double *mem, double *out) {
  cask_array *b = NULL, *c = NULL, *m = NULL, *bt = NULL, *u = NULL, *s = NULL, *h = NULL, *e = NULL;
  int rc = cask_from_buffer(ctx, mem, CASK_F64, 2, (int64_t[]){4, 4}, (int64_t[]){2, 2}, NULL, NULL, &b);
  if (!rc) rc = cask_binary_scalar(CASK_ADD, b, 1.0, 0, &c);
  if (!rc) rc = cask_transpose(b, NULL, &bt);
  if (!rc) rc = cask_matmul(b, bt, &m);
  if (!rc) rc = cask_unique(b, &u, NULL);
  if (!rc) rc = cask_reduce(CASK_SUM, u, NULL, 0, 0, &s);
  if (!rc) rc = cask_histogram(b, 4, NULL, NULL, &h, &e);
  if (!rc) {
    cask_target t[4] = {CASK_TO_BUFFER(c, out, 16 * sizeof *out), CASK_TO_BUFFER(m, out + 16, 16 * sizeof *out),
                        CASK_TO_BUFFER(s, out + 32, sizeof *out), CASK_TO_BUFFER(e, out + 33, 5 * sizeof *out)};
    rc = cask_store(4, t, o);
  }
  cask_array *all[] = {b, c, m, bt, u, s, h, e};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cask_array_release(all[i]);
  return rc;
}

/* Arrays over memory (cask_from_buffer, and unique's values, which it
 * computes when called) at a different address on each rank (ASLR aside):
 * the same bytes on every rank give the local run's bits (elementwise,
 * a matmul reading the buffer in place, a reduction of unique's values,
 * histogram's edges);
 * other bytes on one rank are refused before anything runs, every rank
 * naming a task that reads the memory, the outputs keeping their bytes. */
static int check_memory_arrays(cask_ctx *ctx, const cask_run_options *o, int rank) {
  int bad = 0;
  double *mem = calloc(64, sizeof *mem), want[38], got[38];
  if (!mem) return fprintf(stderr, "rank %d: out of memory\n", rank), 1;
  double *at = mem + 3 * rank; /* another address, the same bytes */
  for (int i = 0; i < 16; i++) at[i] = (double)((i * 7) % 5) - 1.5;
  int rc = memory_arrays(ctx, NULL, at, want);
  for (int i = 0; i < 16 && !rc; i++) /* the local run against plain loops: b + 1, and the edges' ends */
    if (want[i] != at[i] + 1 || want[33] != -1.5 || want[37] != 2.5)
      bad = fprintf(stderr, "rank %d: local run: element %d is %g, edges [%g, %g]\n", rank, i, want[i], want[33], want[37]);
  if (!rc) rc = memory_arrays(ctx, o, at, got);
  if (rc || memcmp(want, got, sizeof want))
    bad = fprintf(stderr, "rank %d: the same memory on every rank: rc %d (%s), bytes %s\n", rank, rc, cask_ctx_errmsg(ctx),
                  memcmp(want, got, sizeof want) ? "differ" : "equal");
  if (rank == 1) at[5] += 1.0; /* rank 1 alone holds other bytes */
  for (int i = 0; i < 38; i++) got[i] = 7.0;
  rc = memory_arrays(ctx, o, at, got);
  int kept = 1;
  for (int i = 0; i < 38; i++) kept &= got[i] == 7.0;
  const char *msg = cask_ctx_errmsg(ctx);
  if (rc != CASK_EINVAL || !strstr(msg, "differ between the ranks") || !strstr(msg, "task ") ||
      !strstr(msg, "cask_from_buffer") || !kept)
    bad = fprintf(stderr, "rank %d: other memory on rank 1: rc %d, message '%s', outputs %s\n", rank, rc, msg,
                  kept ? "kept" : "changed");
  free(mem);
  return bad;
}

/* Buffers under MPI: an array to two buffers (one computed straight into
 * it, one copied) gives the local bytes whatever the buffers held before
 * (each rank fills a zeroed scratch, merged, then copied); arrays over
 * memory (check_memory_arrays). */
static int check_buffers(int rank, int nranks) {
  cask_options co = CASK_OPTIONS_DEFAULTS;
  co.threads = 2, co.memory_limit = CASK_MEMORY_UNLIMITED;
  cask_ctx *ctx;
  cask_executor *ex;
  if (cask_ctx_new(&co, &ctx) || cask_mpi_executor_new(MPI_COMM_WORLD, &ex)) return fprintf(stderr, "no context\n"), 1;
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.executor = ex;
  int bad = 0;
  enum { N = 1000 };
  static double want[N], a1[N], a2[N], sq[N];
  cask_array *x, *y;
  cask_random_uniform(ctx, 7, CASK_F64, 1, (int64_t[]){N}, (int64_t[]){97}, &x);
  cask_binary_scalar(CASK_MUL, x, 3.0, 0, &y);
  if (cask_compute(y, want, sizeof want)) bad = fprintf(stderr, "rank %d: local compute: %s\n", rank, cask_ctx_errmsg(ctx));
  memset(a1, 0xab, sizeof a1), memset(a2, 0x5c, sizeof a2), memset(sq, 0x11, sizeof sq);
  cask_target t[3] = {CASK_TO_BUFFER(y, a1, sizeof a1), CASK_TO_BUFFER(y, a2, sizeof a2), CASK_TO_BUFFER(x, sq, sizeof sq)};
  int rc = cask_store(3, t, &o);
  if (rc || memcmp(a1, want, sizeof want) || memcmp(a2, want, sizeof want))
    bad = fprintf(stderr, "rank %d: buffers under MPI: rc %d (%s), bytes %s\n", rank, rc, cask_ctx_errmsg(ctx),
                  memcmp(a1, want, sizeof want) ? "differ" : "equal");
  for (int i = 0; i < N && !rc; i++)
    if (sq[i] * 3.0 != want[i]) {
      bad = fprintf(stderr, "rank %d: buffer of x: value %d differs\n", rank, i);
      break;
    }
  cask_array_release(x);
  cask_array_release(y);
  if (nranks > 1) bad |= check_memory_arrays(ctx, &o, rank);
  cask_mpi_executor_free(ex);
  cask_ctx_free(ctx);
  return bad != 0;
}

static int check_failure(cask_runtime *rt, int rank, int nranks) {
  int bad_task = 37;
  cask_graph *g = random_graph(99, 60, bad_task);
  cask_plan *p;
  cask_plan_new(g, nranks, 0, &p);
  int owner = cask_plan_owners(p)[bad_task];
  cask_plan_free(p);
  cask_results *res = NULL;
  int rc = cask_run_mpi(rt, g, MPI_COMM_WORLD, NULL, &res);
  char want[64];
  snprintf(want, sizeof want, "rank %d: task 't-%d' (op test.fail)", owner, bad_task);
  int bad = 0;
  if (rc != CASK_ETASK || res || !strstr(cask_runtime_errmsg(rt), want))
    bad = fprintf(stderr, "rank %d: failing run: rc %d, message '%s' (wanted '%s')\n", rank, rc, cask_runtime_errmsg(rt), want);
  cask_graph_free(g);
  return bad != 0;
}

/* Every rank's run canceled (cask_runtime_cancel from another thread, as
 * a program's signal handler would) while the ranks' tasks take unequal
 * times (rank 0's 20 ms, the others' 150 ms): every rank returns
 * CASK_ECANCELED after every rank agreed (by default an executor does not
 * give up: mpi.h), and MPI is still usable, so the next run works. With
 * the agreement given up after a cancel on any executor, rank 0 left its
 * allreduce pending and its next MPI call released the slow ranks into a
 * broadcast it never joined: the job hung. */
static int my_rank;
static atomic_int slow_started;
static int slow_run(cask_task_io *io) {
  atomic_store(&slow_started, 1);
  struct timespec t = {0, my_rank ? 150000000 : 20000000};
  nanosleep(&t, NULL);
  return node_run(io);
}

/* 10 ms into this rank's first task: its run is under way. (10 ms after
 * cask_run_mpi was called, a rank still planning or waiting in the
 * collectives before the run for a slower rank, under TSan and a loaded
 * machine, lost the cancel: no run to cancel yet.) Not waiting for ever:
 * the run may fail first. */
static void *cancel_soon(void *rt) {
  for (int i = 0; i < 5000 && !atomic_load(&slow_started); i++) nanosleep(&(struct timespec){0, 1000000}, NULL);
  nanosleep(&(struct timespec){0, 10000000}, NULL);
  cask_runtime_cancel(rt);
  return NULL;
}

static int check_cancel_uneven(cask_runtime *rt, int rank, int nranks) {
  static const cask_op *op_slow;
  my_rank = rank;
  if (!op_slow) cask_op_register(&(cask_op){.name = "test.slow", .run = slow_run}, &op_slow);
  cask_graph *g;
  cask_graph_new(&g);
  for (int i = 0; i < 4 * nranks; i++) {
    char key[32];
    int64_t a[2] = {i, 1}; /* node_run's seed and length */
    cask_task_id id;
    snprintf(key, sizeof key, "slow-%d", i);
    cask_graph_add(g, key, op_slow, a, sizeof a, NULL, 0, &id);
    cask_graph_set_output(g, id, 1);
  }
  pthread_t th;
  atomic_store(&slow_started, 0);
  pthread_create(&th, NULL, cancel_soon, rt);
  cask_results *res = NULL;
  int rc = cask_run_mpi(rt, g, MPI_COMM_WORLD, NULL, &res);
  pthread_join(th, NULL);
  int bad = 0;
  /* (an executor that gave up says the ranks did not all agree) */
  if (rc != CASK_ECANCELED || res || strstr(cask_runtime_errmsg(rt), "did not all agree"))
    bad = fprintf(stderr, "rank %d: canceled run: rc %d (%s)\n", rank, rc, cask_runtime_errmsg(rt));
  cask_results_free(res);
  cask_graph_free(g);
  return bad != 0;
}

/* Ranks holding different graphs are refused before anything runs, every
 * rank naming the first differing task (rank 1's task 't-12' has other
 * arguments). */
static int check_digest_mismatch(cask_runtime *rt, int rank, int nranks) {
  if (nranks < 2) return 0;
  cask_graph *g = random_graph(5, 40, -1);
  if (rank == 1) {
    cask_graph_free(g);
    cask_graph_new(&g);
    for (int i = 0; i < 40; i++) { /* the same graph but task 12's arguments */
      cask_graph *ref = random_graph(5, 40, -1);
      cask_graph_validate(ref); /* dependencies are listed once validated */
      size_t len, nd;
      const void *args = cask_graph_args(ref, (cask_task_id)i, &len);
      const cask_task_id *deps = cask_graph_deps(ref, (cask_task_id)i, &nd);
      int64_t a[2];
      memcpy(a, args, sizeof a);
      if (i == 12) a[0] ^= 1;
      cask_task_id id;
      cask_graph_add(g, cask_graph_key(ref, (cask_task_id)i), op_node, a, sizeof a, deps, nd, &id);
      cask_graph_set_size(g, id, a[1] * 8);
      cask_graph_free(ref);
    }
  }
  cask_results *res = NULL;
  int rc = cask_run_mpi(rt, g, MPI_COMM_WORLD, NULL, &res);
  int bad = 0;
  if (rc != CASK_EINVAL || res || !strstr(cask_runtime_errmsg(rt), "task 12 differs first") ||
      !strstr(cask_runtime_errmsg(rt), "'t-12'"))
    bad = fprintf(stderr, "rank %d: different graphs: rc %d, message '%s'\n", rank, rc, cask_runtime_errmsg(rt));
  cask_graph_free(g);
  return bad != 0;
}

int main(int argc, char **argv) {
  int level, rank, nranks, bad = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &level);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  cask_op_register(&(cask_op){.name = "test.node", .run = node_run, .args_size = 16}, &op_node);
  cask_op_register(&(cask_op){.name = "test.fail", .run = fail_run, .args_size = 16}, &op_fail);
  cask_runtime *rt;
  cask_runtime_options ro = {2, CASK_MEMORY_UNLIMITED, NULL, 0};
  cask_runtime_new(&ro, &rt);
  for (uint64_t seed = 1; seed <= 20; seed++) bad |= check_graph(rt, MPI_COMM_WORLD, rank, nranks, seed, 20 + (int)(seed * 7 % 150));
  setenv("CASK_MPI_SPLIT", "64", 1);
  for (uint64_t seed = 21; seed <= 25; seed++) bad |= check_graph(rt, MPI_COMM_WORLD, rank, nranks, seed, 120);
  /* each rank its own split (the receiver follows the sender's header) */
  char split[32];
  snprintf(split, sizeof split, "%d", 40 + 24 * rank);
  setenv("CASK_MPI_SPLIT", split, 1);
  bad |= check_graph(rt, MPI_COMM_WORLD, rank, nranks, 26, 120);
  /* a failure while many small messages are in flight */
  bad |= check_failure(rt, rank, nranks);
  unsetenv("CASK_MPI_SPLIT");
  /* keys a user chose that the send tasks' would have taken */
  clash_keys = 1;
  bad |= check_graph(rt, MPI_COMM_WORLD, rank, nranks, 27, 80);
  clash_keys = 0;
  bad |= check_buffers(rank, nranks);
  bad |= check_failure(rt, rank, nranks);
  bad |= check_digest_mismatch(rt, rank, nranks);
  bad |= check_cancel_uneven(rt, rank, nranks);
  /* the runtime still runs after a failed or canceled distributed run */
  bad |= check_graph(rt, MPI_COMM_WORLD, rank, nranks, 77, 50);
  int any;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  if (!any && rank == 0)
    printf("mpi exec: %d ranks: 28 random graphs as the local run, buffers merged, failures named\n", nranks);
  cask_runtime_free(rt);
  MPI_Finalize();
  return any;
}
