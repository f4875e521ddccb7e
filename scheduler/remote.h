/* remote.h - a run some of whose root tasks are made elsewhere: blocks of
 * other processes (MPI ranks), received by distributed/mpi/. Such a root
 * is held out of the run's root list until its block has arrived; then
 * whoever received it queues it here and wakes a worker, and workers look
 * at this queue after their own deque, before the shared roots (and,
 * with a progress hook, between tasks before the next one: run.c's
 * remote_first). A run
 * without one pays one pointer test in find_work and one in collect_roots,
 * as memory/hooks.h keeps the memory manager out of run.c.
 * The queue's mutex is a leaf: nothing else is taken while it is held.
 *
 * Memory held outside the run's slots (received blocks not yet taken by
 * their task, blocks whose sends are in flight) is counted here, in
 * `bytes`: the memory manager adds it to what the run uses (admission,
 * claims, spilling) and to the run's peak, so it counts against the
 * limit; it cannot be spilled (MPI reads or writes it). */
#ifndef CASK_SCHED_REMOTE_H
#define CASK_SCHED_REMOTE_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

struct cask_runtime;

typedef struct cask__remote {
  const uint8_t *held; /* per task of the run's graph: 1 = a root whose block comes from elsewhere */
  struct cask_runtime *rt;
  uv_mutex_t mu;
  uint32_t *queue; /* arrived roots, queue[head..tail) (cap = the held roots) */
  size_t head, tail, cap;
  atomic_size_t navail; /* tail - head, read without the lock */
  atomic_int_fast64_t bytes; /* held outside the run's slots (see above) */
  /* received blocks not yet in their task's slot (part of bytes): counted
   * out by the worker that put the block in the slot, after the slot
   * counted it in (cask__remote_taken), so never counted nowhere */
  atomic_int_fast64_t untaken;
  /* blocks this rank is sending, until every message of theirs completed
   * (part of bytes): the spill thread waits for them rather than pass the
   * limit (memory/spill.c, waits_for_sends) */
  atomic_int_fast64_t sending;
  /* The receiver waits for room (cask__remote_want_room): the next thread
   * that frees memory calls on_room(room_ctx) once. A leaf: on_room may
   * take only a lock nothing else is taken under. */
  atomic_int room_wanted;
  void (*on_room)(void *ctx);
  void *room_ctx;
  /* The receiving side's progress (distributed/mpi: one non-blocking poll
   * of its messages, skipped when another thread is at it): > 0 when
   * something moved, 0 when not, < 0 when nothing more is to come. Workers
   * call it between tasks (at most every CASK__REMOTE_POLL_NS, through
   * cask__remote_poll) and, idle while blocks are to come, for up to
   * CASK__REMOTE_IDLE_NS before they park, so a block that arrives is
   * taken within a task's time, not after the communication thread's
   * sleep. NULL: none. */
  int (*progress)(void *ctx);
  void *progress_ctx;
  /* An idle worker stops polling and parks (poll_remote, run.c): the
   * receiving side's own poller, which may wait longer while workers
   * poll, takes over at once. NULL: none. */
  void (*parking)(void *ctx);
  atomic_uint_fast64_t polled_at; /* the last call's time (ns) */
  struct cask__run *run;     /* the run served, while it runs; under mu */
  /* cask__remote_claim asked for room (asked) when the spill thread had
   * begun asked_pass passes; under mu */
  int asked;
  unsigned asked_pass;
  int trace_by_caller; /* with a trace_path the run records events, and its caller writes them */
} cask__remote;

/* How often workers poll between tasks, and how long an idle one polls
 * (yielding the core between polls) before it parks. */
#define CASK__REMOTE_POLL_NS 5000
#define CASK__REMOTE_IDLE_NS 100000

/* cap: how many roots are held (each arrives once). */
int cask__remote_init(cask__remote *x, struct cask_runtime *rt, const uint8_t *held, size_t cap);
void cask__remote_destroy(cask__remote *x);
/* Root v's block is ready to be taken by its task: queue it and wake a
 * worker. Any thread; takes only the leaf lock and the park's. */
void cask__remote_arrive(cask__remote *x, uint32_t v);
/* A queued root, or CASK__NO_TASK. Workers. */
uint32_t cask__remote_take(cask__remote *x);
/* x->progress, if CASK__REMOTE_POLL_NS passed since the last call (any
 * thread's) or idle is set; its result, or 0 when not called. Workers. */
int cask__remote_poll(cask__remote *x, int idle);
/* The run starts (r) or ends (NULL) serving x: launch.c. */
void cask__remote_attach(cask__remote *x, struct cask__run *r);
/* Count delta bytes in (> 0: the run's peak rises with them) or out (< 0:
 * tasks held back for memory may fit now, so parked workers and the
 * memory manager are woken). Any thread. */
void cask__remote_hold(cask__remote *x, int64_t delta);
/* The same for a block being sent (> 0: its send task ran; < 0: its last
 * message completed), counted in x->sending too. Any thread. */
void cask__remote_send_hold(cask__remote *x, int64_t delta);
/* Root v's task put block b (may be NULL) in its slot and the run counted
 * it there (cask__account): count it out of bytes and untaken. The
 * worker, right after; counting it out in the op left a moment in which
 * the block was counted nowhere and the comm thread or a root could take
 * its room. */
/* Root v's task put block b in its slot and the run counted it there
 * (cask__account): count it out of bytes and untaken. The worker, right
 * after, between cask__remote_lock and cask__remote_unlock, which it holds
 * around the slot's count too, so that the peak (read under the lock: its
 * increases all are, cask__remote_hold's and cask__remote_claim's) never
 * sees the block twice nor nowhere; counting it out in the op left a
 * moment in which the block was counted nowhere and the comm thread or a
 * root could take its room. Then, unlocked, cask__remote_taken_wake (r,
 * the run) wakes what waits for memory. */
void cask__remote_lock(cask__remote *x);
void cask__remote_unlock(cask__remote *x);
void cask__remote_taken(cask__remote *x, const struct cask_block *b);
void cask__remote_taken_wake(cask__remote *x, struct cask__run *r);
/* The caller (the receiver) is about to ask for room and will wait if
 * there is none: the next release of memory calls on_room. */
void cask__remote_want_room(cask__remote *x);
/* Memory was freed (a block dropped or spilled, remote bytes counted
 * out): wake a receiver waiting for room, if one is. Any thread. */
static inline void cask__remote_room_freed(cask__remote *x) {
  /* a wake lost to a race (the flag set just after this read) costs the
   * receiver one of its timed waits (at most 1 ms): no fence on every
   * release for it */
  if (atomic_load_explicit(&x->room_wanted, memory_order_seq_cst) && atomic_exchange(&x->room_wanted, 0) && x->on_room)
    x->on_room(x->room_ctx);
}
/* Count n bytes in if the run's used bytes (held, reserved, pooled and
 * x->bytes) plus n stay within its memory limit; 1 if counted. If not,
 * the memory manager is asked to make room (the caller asks again later);
 * with force, n is counted anyway when it cannot (nothing runs, the spill
 * thread has nothing to do, and a spilling pass begun since this receive
 * asked for room left none, nothing coming into memory since). The test
 * and the addition are one claim of the memory manager (a CAS on the
 * run's reserved bytes), so a worker claiming room at the same time never
 * takes the same room. Without a run attached, or a run
 * that cannot reach its limit, n is counted. Any thread. */
int cask__remote_claim(cask__remote *x, int64_t n, int force);

#endif
