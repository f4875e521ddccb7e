/* spill.c - the spill thread: a libuv loop that workers wake (uv_async) when
 * held bytes pass the high-water mark, when a task's input is on disk, or
 * when memory frees up while blocks are on disk. Each wake-up it
 *   1. reads back the inputs of waiting tasks (best priority first), pins
 *      them and hands the tasks back to the workers;
 *   2. spills blocks until held bytes are under the low-water mark, the
 *      block whose next consumer comes last in the static task order first;
 *   3. reads spilled blocks back ahead of use while there is room.
 * Compute workers never wait for a file. One file per spilled block: a
 * header (magic, run, task, size, checksum) and the bytes; it is deleted
 * when the block is no longer needed. A block of a pure root task (a read
 * of a .npy slice or a Zarr chunk, a generator) is dropped instead of
 * written when running its op again costs less than the write and the read
 * (both measured during the run), and made again by that op, checked
 * against the first one's checksum. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../core/clones.h"
#include "../internal.h"
#include "../run_state.h"

#define SPILL_MAGIC "CASKSPL1"
#define SPILL_MIN_BYTES 4096

typedef struct spill_header {
  char magic[8];
  uint64_t seq; /* the run */
  uint32_t task, pad;
  uint64_t nbytes, checksum;
} spill_header;

/* ---- files --------------------------------------------------------------- */

/* Eight independent multiply-xorshift lanes over 64-byte strides, which
 * the compiler turns into one vector per step (compiled per x86-64 level):
 * four scalar lanes took a third of the time of a run that drops and
 * makes again its .npy blocks, checksumming each twice. */
CASK_CLONES static void lanes(const unsigned char *p, size_t n, uint64_t *h) {
  const uint64_t k = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i + 64 <= n; i += 64)
    for (int l = 0; l < 8; l++) {
      uint64_t w;
      memcpy(&w, p + i + 8 * l, 8);
      h[l] = (h[l] ^ w) * k;
      h[l] ^= h[l] >> 29;
    }
}

static uint64_t checksum(const unsigned char *p, size_t n) {
  uint64_t h[8] = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL, 0x082efa98ec4e6c89ULL,
                   0x452821e638d01377ULL, 0xbe5466cf34e90c6cULL, 0xc0ac29b7c97c50ddULL, 0x3f84d5b5b5470917ULL};
  lanes(p, n, h);
  size_t i = n & ~(size_t)63;
  uint64_t x = cask__hash(p + i, n - i, n);
  for (int l = 0; l < 8; l++) x = cask__mix64(x ^ h[l]);
  return x;
}

static void spill_path(const cask__run *r, uint32_t v, char *buf, size_t cap) {
  cask__fmt(buf, cap, "%s/%llu-%u.spill", r->mem->dir, (unsigned long long)r->seq, v);
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static void io_fail(cask__run *r, uint32_t v, const char *what, const char *path, int err) {
  char msg[CASK__RUN_ERRMSG_CAP];
  cask__fmt(msg, sizeof msg, "%s the block of task '%s' (%s): %s", what, cask__key(r->g, v), path,
            strerror(err));
  cask__run_fail(r, CASK_EIO, v, msg);
}

static int write_block(cask__run *r, uint32_t v, const cask_block *b, const cask__spill_rec *rec) {
  cask__assert_unlocked(); /* workers take mem->mu: no file I/O under it */
  char path[4096];
  spill_path(r, v, path, sizeof path);
  spill_header h = {SPILL_MAGIC, r->seq, v, 0, rec->nbytes, rec->checksum};
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    io_fail(r, v, "spilling", path, errno);
    return CASK_EIO;
  }
  int bad = write_all(fd, &h, sizeof h) || write_all(fd, cask_block_data(b), rec->nbytes);
  int err = errno;
  /* a spilled block must not stay in the page cache as well */
  if (!bad) cask__drop_cached(fd, 0, (int64_t)(sizeof h + rec->nbytes), 1);
  if (close(fd) && !bad) {
    bad = 1;
    err = errno;
  }
  if (!bad) return CASK_OK;
  unlink(path);
  io_fail(r, v, "spilling", path, err);
  return CASK_EIO;
}

static void record(cask__memory *m, cask__run *r, uint32_t v, int loaded, uint64_t bytes,
                   uint64_t t0, uint64_t t1) {
  *(loaded ? &m->read_ns : &m->write_ns) += t1 - t0;
  *(loaded ? &m->read_bytes : &m->write_bytes) += bytes;
  atomic_fetch_add(loaded ? &m->loaded_bytes : &m->spilled_bytes, bytes);
  atomic_fetch_add(loaded ? &m->loaded_blocks : &m->spilled_blocks, 1);
  atomic_fetch_add(&m->io_ns, t1 - t0);
  const cask_run_options *o = r->opts;
  if (o && o->on_spill) o->on_spill(o->user, r->g, v, loaded, bytes, t1 - t0);
  if (o && o->trace_path &&
      !cask__grow((void **)&m->trace, &m->trace_cap, m->ntrace + 1, sizeof *m->trace))
    m->trace[m->ntrace++] = (cask__io_event){t0, t1, v, loaded};
}

void cask__spill_delete(cask__run *r, uint32_t v) {
  if (!r->spilled || !r->spilled[v]) return;
  char path[4096];
  spill_path(r, v, path, sizeof path);
  if (!r->spilled[v]->remake) unlink(path);
  cask__free(r->spilled[v]);
  r->spilled[v] = NULL;
}

/* Back from CASK__SLOT_WRITING or CASK__SLOT_LOADING to `to` (flags and pins kept), or
 * freed, file and all, if its last use passed meanwhile. */
static void settle(cask__run *r, uint32_t v, unsigned to) {
  atomic_uint *word = &r->slots[v].mem;
  unsigned cur = atomic_load(word);
  for (;;) {
    unsigned next =
        cur & CASK__SLOT_DROPPED ? CASK__SLOT_DEAD : (cur & ~(CASK__SLOT_STATE | CASK__SLOT_DROPPED)) | to;
    if (!atomic_compare_exchange_weak(word, &cur, next)) continue;
    if (cur & CASK__SLOT_DROPPED) {
      CASK__ASSERT(cur / CASK__SLOT_PIN == 0); /* past its last use: nobody pins it */
      if ((to & CASK__SLOT_STATE) == CASK__SLOT_DISK) atomic_fetch_sub(&r->mem->ondisk, 1);
      cask_block *b = r->slots[v].out;
      r->slots[v].out = NULL;
      cask__account(r, b, -1);
      cask_block_release(b);
      cask__spill_delete(r, v);
    }
    return;
  }
}

/* The blocks of v's inputs, made afresh by their pure ops (v is
 * remakeable: its inputs are pure roots, whose own blocks may be dead or
 * dropped by now and are not touched). The caller releases them. */
static int make_inputs(cask__run *r, uint32_t v, cask_block **in, char *err, size_t cap) {
  const cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  for (uint32_t k = 0; k < t->ndeps; k++) {
    uint32_t d = g->dep_idx[t->deps_off + k];
    const cask__task *td = &g->tasks[d];
    cask_task_io io = {cask__args(g, d), td->args_len, NULL, 0, NULL, err, cap, td->op->op_data, -1};
    uint64_t t0 = cask__now_ns();
    int rc = td->op->run(&io);
    if (!rc && io.output) cask__memory_time_op(r->mem, td->op, cask__now_ns() - t0, cask_block_nbytes(io.output));
    in[k] = io.output; /* NULL as the first time, when the op makes no block */
    if (rc) {
      if (!err[0]) cask__fmt(err, cap, "its input '%s' (op %s): %s", cask__key(g, d), td->op->name, cask_strerror(rc));
      return rc;
    }
  }
  return CASK_OK;
}

/* Make a dropped block again by running its task's pure op (on this
 * thread, worker -1), on inputs made again too, checked against what the
 * first run made. */
static int remake(cask__run *r, uint32_t v, unsigned flags) {
  cask__memory *m = r->mem;
  const cask__task *t = &r->g->tasks[v];
  const cask__spill_rec *rec = r->spilled[v];
  char err[1024] = "";
  cask_block *stackin[8] = {NULL}, **in = stackin;
  uint64_t t0 = cask__now_ns();
  int rc = t->ndeps > 8 && !(in = cask__calloc(t->ndeps, sizeof *in)) ? CASK_ENOMEM : CASK_OK;
  if (!rc) rc = make_inputs(r, v, in, err, sizeof err);
  cask_task_io io = {cask__args(r->g, v), t->args_len, in, t->ndeps, NULL, err, sizeof err, t->op->op_data, -1};
  uint64_t top = cask__now_ns();
  cask__assert_unlocked();
  if (!rc) rc = t->op->run(&io);
  uint64_t t1 = cask__now_ns();
  for (uint32_t k = 0; in && k < t->ndeps; k++) cask_block_release(in[k]);
  if (in != stackin) cask__free(in);
  cask_block *b = io.output;
  int same = !rc && b && cask_block_dtype(b) == rec->dtype && cask_block_ndim(b) == rec->ndim &&
             cask_block_nbytes(b) == rec->nbytes &&
             !memcmp(cask_block_shape(b), rec->shape, (size_t)rec->ndim * sizeof *rec->shape) &&
             ((t->op->flags & CASK_OP_CHECKS_SOURCE) || checksum(cask_block_data(b), rec->nbytes) == rec->checksum);
  if (!same) {
    char msg[CASK__RUN_ERRMSG_CAP];
    if (rc)
      cask__fmt(msg, sizeof msg, "task '%s' (op %s) failed making its dropped block again: %s", cask__key(r->g, v),
                t->op->name, err[0] ? err : cask_strerror(rc));
    else
      cask__fmt(msg, sizeof msg,
                "task '%s' (op %s) made its dropped block again with other bits than the first time (did its "
                "source change during the run?)",
                cask__key(r->g, v), t->op->name);
    cask__run_fail(r, rc < 0 ? rc : CASK_EIO, v, msg);
    cask_block_release(b);
    settle(r, v, CASK__SLOT_DISK);
    return rc < 0 ? rc : CASK_EIO;
  }
  atomic_fetch_add(&m->remade_bytes, rec->nbytes);
  atomic_fetch_add(&m->remade_blocks, 1);
  atomic_fetch_add(&m->remake_ns, t1 - t0);
  cask__memory_time_op(m, t->op, t1 - top, rec->nbytes);
  atomic_fetch_sub(&m->ondisk, 1);
  r->slots[v].out = b;
  cask__account(r, b, +1);
  settle(r, v, CASK__SLOT_MEM | flags);
  return 1;
}

int cask__remakeable(const cask_graph *g, uint32_t v) {
  const cask__task *t = &g->tasks[v];
  if (!(t->op->flags & CASK_OP_PURE)) return 0;
  for (uint32_t k = 0; k < t->ndeps; k++) {
    const cask__task *d = &g->tasks[g->dep_idx[t->deps_off + k]];
    if (d->ndeps || !(d->op->flags & CASK_OP_PURE)) return 0;
  }
  return 1;
}

void cask__memory_time_op(cask__memory *m, const cask_op *op, uint64_t ns, uint64_t bytes) {
  for (int i = 0; i < CASK__RATE_SLOTS; i++) {
    cask__op_rate *e = &m->rates[i];
    const cask_op *cur = atomic_load_explicit(&e->op, memory_order_acquire);
    if (!cur && atomic_compare_exchange_strong(&e->op, &cur, op)) cur = op;
    if (cur != op) continue;
    atomic_fetch_add_explicit(&e->ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->bytes, bytes, memory_order_relaxed);
    return;
  }
}

/* op's measured ns per byte; 0: not measured in this run. */
static double op_ns_per_byte(cask__memory *m, const cask_op *op) {
  for (int i = 0; i < CASK__RATE_SLOTS; i++) {
    cask__op_rate *e = &m->rates[i];
    const cask_op *cur = atomic_load_explicit(&e->op, memory_order_acquire);
    if (!cur) return 0;
    if (cur != op) continue;
    uint64_t b = atomic_load_explicit(&e->bytes, memory_order_relaxed);
    return b ? (double)atomic_load_explicit(&e->ns, memory_order_relaxed) / (double)b : 0;
  }
  return 0;
}

/* What making v's block (nbytes) again costs, in ns: its op's measured
 * rate, plus its inputs' (made again with it: their declared sizes, else
 * as large as v's). 0: some op not measured yet. Rates, not this block's
 * own time: one block's read, timed while another thread read too, could
 * be twice its op's usual price and send it to a spill file. */
static double make_cost(cask__memory *m, const cask__run *r, uint32_t v, size_t nbytes) {
  const cask__task *t = &r->g->tasks[v];
  double cost = op_ns_per_byte(m, t->op) * (double)nbytes;
  for (uint32_t k = 0; cost > 0 && k < t->ndeps; k++) {
    const cask__task *d = &r->g->tasks[r->g->dep_idx[t->deps_off + k]];
    double rate = op_ns_per_byte(m, d->op);
    cost = rate > 0 ? cost + rate * (double)(d->size > 0 ? (size_t)d->size : nbytes) : 0;
  }
  return cost;
}

/* The bytes of v's inputs (declared sizes; else nbytes, v's). */
static int64_t inputs_size(const cask_graph *g, uint32_t v, int64_t nbytes) {
  const cask__task *t = &g->tasks[v];
  int64_t n = 0;
  for (uint32_t k = 0; k < t->ndeps; k++) {
    int64_t s = g->tasks[g->dep_idx[t->deps_off + k]].size;
    n += s > 0 ? s : nbytes; /* undeclared: priced as v's (make_cost does too) */
  }
  return n;
}

/* Whether to drop v's block (nbytes) rather than spill it: by the policy,
 * or (CASK_DROP_COST) when making it again costs less than writing it and
 * reading it back: the op's measured time against the spill throughput
 * measured on this disk (kept across the runtime's runs). Both sides are
 * measured, never assumed: until the runtime has written a spill file it
 * spills (one block is the price of knowing the disk), and until it has
 * read one back a read is priced as a write. With a guessed spill rate (it was 1 GB/s writing,
 * 2 GB/s reading) the choice flipped between runs of the same job on a
 * disk whose speed varies: the make rate measured on a slow minute was
 * compared with a constant; now both sides slow down together. */
static int cheaper_to_remake(cask__memory *m, const cask__run *r, uint32_t v, size_t nbytes) {
  if (m->drop == CASK_DROP_NEVER || !cask__remakeable(r->g, v)) return 0;
  if (m->drop == CASK_DROP_ALWAYS) return 1;
  double cost = make_cost(m, r, v, nbytes);
  if (cost <= 0 || !m->write_bytes) return 0;
  double w = (double)m->write_ns / (double)m->write_bytes;
  double rd = m->read_bytes ? (double)m->read_ns / (double)m->read_bytes : w;
  return cost < (w + rd) * (double)nbytes;
}

/* Read a spilled block's file back into memory (see cask__spill_load). */
static int read_back(cask__run *r, uint32_t v, unsigned flags) {
  cask__assert_unlocked();
  cask__memory *m = r->mem;
  cask__spill_rec *rec = r->spilled[v];
  char path[4096];
  spill_path(r, v, path, sizeof path);
  uint64_t t0 = cask__now_ns();
  cask_block *b = NULL;
  int rc = cask_block_new(rec->dtype, rec->ndim, rec->shape, &b);
  if (rc) {
    char msg[256];
    cask__fmt(msg, sizeof msg, "out of memory reading back the block of task '%s' (%zu bytes)",
              cask__key(r->g, v), rec->nbytes);
    cask__run_fail(r, CASK_ENOMEM, v, msg);
    settle(r, v, CASK__SLOT_DISK);
    return CASK_ENOMEM;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  spill_header h;
  int err = fd < 0 ? errno : 0;
  int64_t got = 0, want = (int64_t)(sizeof h + rec->nbytes);
  if (!err && (got = cask__pread_full(fd, &h, sizeof h, 0)) == (int64_t)sizeof h) {
    int64_t n = cask__pread_full(fd, cask_block_data(b), rec->nbytes, sizeof h);
    got = n < 0 ? -1 : got + n;
  }
  if (!err && got < 0) err = errno ? errno : EIO;
  if (fd >= 0) {
    cask__drop_cached(fd, 0, want, 0);
    close(fd);
  }
  if (err) {
    io_fail(r, v, "reading back", path, err);
  } else if (got < want) { /* someone cut the file short: say so, not "I/O error" */
    char msg[CASK__RUN_ERRMSG_CAP];
    cask__fmt(msg, sizeof msg, "the spill file %s of task '%s' is truncated: %lld of its %lld bytes are left", path,
              cask__key(r->g, v), (long long)got, (long long)want);
    cask__run_fail(r, CASK_EIO, v, msg);
    err = EIO;
  } else if (memcmp(h.magic, SPILL_MAGIC, 8) || h.seq != r->seq || h.task != v ||
             h.nbytes != rec->nbytes || h.checksum != rec->checksum ||
             checksum(cask_block_data(b), rec->nbytes) != rec->checksum) {
    char msg[CASK__RUN_ERRMSG_CAP];
    cask__fmt(msg, sizeof msg, "the spill file %s of task '%s' is corrupt (checksum mismatch)", path,
              cask__key(r->g, v));
    cask__run_fail(r, CASK_EIO, v, msg);
    err = EIO;
  }
  if (err) {
    cask_block_release(b);
    settle(r, v, CASK__SLOT_DISK);
    return CASK_EIO;
  }
  record(m, r, v, 1, rec->nbytes, t0, cask__now_ns());
  atomic_fetch_sub(&m->ondisk, 1);
  r->slots[v].out = b;
  cask__account(r, b, +1);
  settle(r, v, CASK__SLOT_MEM | flags);
  return 1;
}

/* Read v's block back: verified, then in memory (pinned for a waiting task,
 * or marked as read ahead). Its file stays until the block is dead, so
 * spilling it again costs no write. */
int cask__spill_load(cask__run *r, uint32_t v, unsigned flags, uint64_t max_used) {
  atomic_uint *word = &r->slots[v].mem;
  unsigned cur = atomic_load(word);
  if ((cur & ~CASK__SLOT_REMAKE) != (CASK__SLOT_DISK | CASK__SLOT_FILE) ||
      !atomic_compare_exchange_strong(word, &cur, (cur & CASK__SLOT_REMAKE) | CASK__SLOT_LOADING | CASK__SLOT_FILE))
    return 0; /* dead, or another thread has it */
  const cask__spill_rec *rec = r->spilled[v];
  /* rec goes with the block if it dies meanwhile; the inputs of a block
   * made again from pure roots are held while it is made */
  int64_t nbytes = (int64_t)rec->nbytes + (rec->remake ? inputs_size(r->g, v, (int64_t)rec->nbytes) : 0);
  /* room for it, claimed (two workers making blocks again see each other) */
  if (max_used != UINT64_MAX && !cask__memory_claim(r, (uint64_t)nbytes, max_used)) {
    settle(r, v, CASK__SLOT_DISK);
    return 0;
  }
  int rc = rec->remake ? remake(r, v, flags) : read_back(r, v, flags);
  if (max_used != UINT64_MAX) atomic_fetch_sub(&r->reserved, nbytes);
  return rc;
}

/* Free v's block, writing it to disk first unless its file already holds
 * it, if nobody pins it. 1: spilled, 0: skipped, <0: failed (the run is
 * stopped). */
static int spill_one(cask__memory *m, cask__run *r, uint32_t v) {
  atomic_uint *word = &r->slots[v].mem;
  unsigned cur = atomic_load(word), kept = CASK__SLOT_FILE | CASK__SLOT_REMAKE;
  /* a block read ahead may leave again (its file or source still has it):
   * kept for ever, read-ahead blocks whose consumers ran late filled the
   * limit and left nothing to spill */
  if ((cur & ~(kept | CASK__SLOT_PREFETCHED)) != CASK__SLOT_MEM) return 0; /* pinned, dropped, not in memory */
  if (!atomic_compare_exchange_strong(word, &cur, (cur & kept) | CASK__SLOT_WRITING)) return 0;
  /* what the word holds now: a block that already has its file (or its
   * source) goes straight to the CAS below. Left as the old value, such a
   * block was always put back: read back once, it never left memory
   * again, and a limit of 5 blocks held 30. */
  cur = (cur & kept) | CASK__SLOT_WRITING;
  cask_block *b = r->slots[v].out;
  if (!cask__block_frees_memory(b) || !cask_block_nbytes(b)) {
    settle(r, v, CASK__SLOT_MEM);
    return 0;
  }
  if (!(cur & CASK__SLOT_FILE)) {
    if (!r->spilled && !(r->spilled = cask__calloc(r->g->ntasks, sizeof *r->spilled))) {
      cask__run_fail(r, CASK_ENOMEM, v, "out of memory starting to spill");
      settle(r, v, CASK__SLOT_MEM);
      return CASK_ENOMEM;
    }
    cask__spill_rec *rec = cask__calloc(1, sizeof *rec);
    if (!rec) {
      cask__run_fail(r, CASK_ENOMEM, v, "out of memory spilling a block");
      settle(r, v, CASK__SLOT_MEM);
      return CASK_ENOMEM;
    }
    rec->dtype = cask_block_dtype(b);
    rec->ndim = cask_block_ndim(b);
    memcpy(rec->shape, cask_block_shape(b), (size_t)rec->ndim * sizeof *rec->shape);
    rec->nbytes = cask_block_nbytes(b);
    uint64_t t0 = cask__now_ns();
    rec->remake = cheaper_to_remake(m, r, v, rec->nbytes);
    /* a source the op checks itself needs no checksum to come back */
    if (!rec->remake || !(r->g->tasks[v].op->flags & CASK_OP_CHECKS_SOURCE))
      rec->checksum = checksum(cask_block_data(b), rec->nbytes);
    if (!rec->remake && write_block(r, v, b, rec)) {
      cask__free(rec);
      settle(r, v, CASK__SLOT_MEM);
      return CASK_EIO;
    }
    r->spilled[v] = rec;
    if (!rec->remake) record(m, r, v, 0, rec->nbytes, t0, cask__now_ns());
    unsigned how = CASK__SLOT_FILE | (rec->remake ? CASK__SLOT_REMAKE : 0);
    cur = atomic_fetch_or(word, how) | how;
  }
  /* Only if nobody pinned it while it was written (the file is kept either
   * way) is it freed, from this CAS on. The block goes while the word still
   * says "busy" (LOADING: nobody pins it, no worker makes it again), and
   * only then does settle say DISK: a worker that makes a dropped block
   * again may claim it at once, and its new block must not be overwritten
   * by this thread's NULL (a race ThreadSanitizer found). */
  unsigned how = cur & kept;
  while (cur == (CASK__SLOT_WRITING | how) && !atomic_compare_exchange_weak(word, &cur, CASK__SLOT_LOADING | how)) {
  }
  if (cur != (CASK__SLOT_WRITING | how)) {
    settle(r, v, CASK__SLOT_MEM);
    return 0;
  }
  atomic_fetch_add(&m->ondisk, 1);
  if (r->spilled[v]->remake) {
    atomic_fetch_add(&m->dropped_bytes, r->spilled[v]->nbytes);
    atomic_fetch_add(&m->dropped_blocks, 1);
  }
  r->slots[v].out = NULL;
  cask__account(r, b, -1);
  cask_block_release(b);
  settle(r, v, CASK__SLOT_DISK);
  return 1;
}

/* Delete the files of blocks that died. */
static void delete_dead(cask__memory *m, cask__run *r) {
  for (;;) {
    cask__lock(&m->mu, CASK__LOCK_MEM);
    uint32_t v = m->deletes.n ? m->deletes.v[--m->deletes.n] : CASK__NO_TASK;
    atomic_store(&m->deletes.pub, m->deletes.n);
    cask__unlock(&m->mu, CASK__LOCK_MEM);
    if (v == CASK__NO_TASK) return;
    cask__spill_delete(r, v);
  }
}

/* ---- choosing ------------------------------------------------------------ */

/* The priority of v's next consumer that has not run (waiting for other
 * inputs, or ready in a queue), UINT32_MAX if none is left (a kept
 * output). A running consumer pins the block, which is then no candidate
 * at all. Ready consumers once made their inputs untouchable: after the
 * mean of x - x.mean() every block of x had a ready consumer, none could
 * leave memory, and 30 blocks were held under a limit of 5. */
static int64_t next_use(const cask__run *r, uint32_t v) {
  const cask_graph *g = r->g;
  int64_t best = UINT32_MAX;
  for (uint32_t s = g->succ_off[v]; s < g->succ_off[v + 1]; s++) {
    uint32_t c = g->succ[s];
    if (atomic_load_explicit(&r->slots[c].pending, memory_order_relaxed) == CASK__TASK_DONE) continue;
    if (g->prio[c] < best) best = g->prio[c];
  }
  return best;
}

static int by_key_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Candidates in `state` as (key << 32 | task), best first: for spilling the
 * furthest next use (blocks read ahead too, after the others of the same
 * next use), for reading ahead the nearest (keys inverted). */
static size_t candidates(cask__memory *m, cask__run *r, unsigned state, int nearest) {
  size_t n = 0;
  unsigned ignore = CASK__SLOT_FILE | CASK__SLOT_REMAKE | (nearest ? 0 : CASK__SLOT_PREFETCHED);
  for (uint32_t v = 0; v < r->g->ntasks; v++) {
    unsigned w = atomic_load_explicit(&r->slots[v].mem, memory_order_relaxed) & ~ignore;
    if (w != state) continue; /* also skips pinned and dropped blocks */
    /* A block under a page frees next to nothing and costs a file. */
    if (r->g->tasks[v].size >= 0 && r->g->tasks[v].size < SPILL_MIN_BYTES) continue;
    int64_t use = next_use(r, v);
    if (use < 0 || (nearest && use == UINT32_MAX)) continue;
    if (n == m->cand_cap && cask__grow((void **)&m->cand, &m->cand_cap, n + 1, sizeof *m->cand)) break;
    uint64_t key = nearest ? UINT32_MAX - (uint64_t)use : (uint64_t)use;
    m->cand[n++] = key << 32 | v;
  }
  if (n > 1) qsort(m->cand, n, sizeof *m->cand, by_key_desc);
  return n;
}

static int stopped(const cask__run *r) { return atomic_load(&r->stop); }

/* Free the pool's buffers until used bytes are at most target (or the
 * pool is empty). */
static void trim_pool_to(cask__run *r, uint64_t target) {
  uint64_t used = cask__memory_used(r), pool = cask__pool_bytes();
  if (used > target && pool) cask__pool_trim(used - target < pool ? pool - (used - target) : 0);
}

/* Blocks leave memory until they use at most target. The pool's buffers
 * are the next blocks' memory: freed, every new block is fresh pages the
 * kernel zeroes (a quarter of the CPU time of a run re-reading a .npy file
 * under a limit). So when the target is the low-water mark the pool keeps
 * what fits under the high one (all counted as used); room made for one
 * task (a lower target) frees them first, as they cost nothing to free.
 * Returns how many blocks left memory, or < 0 (the run failed). */
static int spill_down_to(cask__memory *m, cask__run *r, uint64_t target) {
  uint64_t keep = target >= m->low ? m->high : target;
  trim_pool_to(r, keep);
  if (cask__memory_used_by_blocks(r) <= target && cask__memory_used(r) <= keep) return 0;
  char err[512];
  int rc = cask__memory_make_dir(m, err, sizeof err);
  if (rc) {
    cask__run_fail(r, rc, CASK__NO_TASK, err);
    return rc;
  }
  size_t n = candidates(m, r, CASK__SLOT_MEM, 0);
  int gone = 0;
  for (size_t i = 0; i < n && (cask__memory_used_by_blocks(r) > target || cask__memory_used(r) > keep) && !stopped(r); i++) {
    if ((rc = spill_one(m, r, (uint32_t)m->cand[i])) < 0) return rc;
    gone += rc;
    /* a block that left memory gave its buffer to the pool, which counts
     * as used: without this, spilling freed nothing (40 MiB limit, 228
     * MiB held) */
    trim_pool_to(r, keep);
  }
  return gone;
}

/* Published (seq_cst) before the notify reads the waiter count (park.h). */
static void hand_back(cask__memory *m, cask__run *r, uint32_t v) {
  if (cask__list_push(m, &m->ready, v)) cask__run_fail(r, CASK_ENOMEM, v, "out of memory handing a task back");
}

enum { LOADED, WAIT, FAILED };

/* Whether a task that does not fit, with nothing running nor handed back,
 * waits for this rank's blocks being sent (remote.h, sending) rather than
 * pass the limit. Handed back at once, a sender went on making blocks
 * while the ones before waited for the receiver's room: 13 blocks of 2 MB
 * under a 4 MiB limit on the sending ranks of an HDF5 output (each block
 * goes to rank 0, which receives them one by one).
 *
 * It cannot wait for ever. A send completes once its receiver has room,
 * and a receive waits for room only while the receiving rank's memory may
 * still be freed by the rank itself (remote.c, room_may_come): a task
 * runs or is handed back, the spill thread has work. A spill thread whose
 * waiting tasks wait for sends alone (m->send_wait, set here) is not
 * such work, so a rank in this state receives, over its limit if need be
 * (one block at a time, which its spill thread then writes out). Ranks
 * waiting for each other's sends (A's to B, B's to A) therefore both
 * receive: each one's sends complete, and no cycle of waits is left.
 * Nothing here is timed; the retry timer and the send's completion
 * (cask__remote_hold wakes this thread) only say when to look again.
 * (CASK_MPI_RECV_HOLD=1, a test knob that receives nothing before every
 * header is in, is meant for senders without a limit.) */
static int waits_for_sends(const cask__run *r) {
  return r->remote && atomic_load_explicit(&r->remote->sending, memory_order_seq_cst) > 0;
}

static void unpin_scratch(cask__memory *m, cask__run *r) {
  for (size_t i = 0; i < m->npins; i++) cask__memory_unpin(r, m->pins[i]);
  m->npins = 0;
}

/* Whether memory may still be freed without this thread: a task runs (its
 * inputs may die, its block can be spilled), tasks handed back wait to run,
 * or received blocks are on their way into their slots (claimed by the
 * communication thread, their data in flight or queued for a worker: once
 * taken they can be spilled). Blocks this rank is sending do not count:
 * they leave only when another rank has room to receive them, and that
 * rank may be waiting for this one's (two ranks waiting for each other). */
static int room_may_come(cask__memory *m, const cask__run *r) {
  return cask__any_running(r) || atomic_load(&m->ready.pub) ||
         (r->remote && atomic_load_explicit(&r->remote->untaken, memory_order_relaxed) > 0);
}

/* Make room for `want` more bytes and claim it (r->reserved): LOADED with
 * the room claimed, WAIT (memory will be freed by others, who wake this
 * thread, or the retry timer), FAILED. Only when a pass spilled nothing,
 * no block came into memory during it, and nothing else could free memory
 * before it or after it (what is held is pinned for this task, too small
 * to spill) is the room claimed over the limit: waiting would be for
 * ever. Blocks this rank is sending are waited for (*sends set), never
 * gone over. A pass that spilled something, or during which a
 * block came in (a received block taken by a worker, a root made), is
 * followed by another. */
static int claim_room(cask__memory *m, cask__run *r, uint64_t want, int *sends) {
  uint64_t target = want < m->limit ? m->limit - want : 0;
  for (;;) {
    int may = room_may_come(m, r);
    int64_t held = atomic_load(&r->held_bytes);
    int gone = spill_down_to(m, r, target < m->low ? target : m->low);
    if (gone < 0) return FAILED;
    trim_pool_to(r, target); /* the pool's buffers are room for these */
    if (cask__memory_claim(r, want, m->limit)) return LOADED;
    if (stopped(r)) return FAILED;
    /* Tasks still running hold the rest, and so do tasks handed back but
     * not yet taken (their inputs are pinned): they will finish and wake
     * us. Reading on for every waiting task while the handed-back ones sat
     * in the list took 21 blocks under a limit of 3. */
    if (may || room_may_come(m, r)) return WAIT;
    if (!gone && atomic_load(&r->held_bytes) <= held) {
      /* what is left may be this rank's pending sends: they leave as their
       * receivers take them (waits_for_sends), so wait rather than go
       * over; *sends tells a receive not to wait for this task (remote.c) */
      if (waits_for_sends(r)) return *sends = 1, WAIT;
      break;
    }
  }
  atomic_fetch_add(&r->reserved, (int64_t)want);
  return LOADED;
}

/* Read back task v's inputs and pin them all for it. */
static int load_inputs(cask__memory *m, cask__run *r, uint32_t v) {
  const cask_graph *g = r->g;
  const cask__task *t = &g->tasks[v];
  const uint32_t *deps = g->dep_idx + t->deps_off;
  /* Pin what is in memory (in the scratch list) so spilling for the rest
   * cannot take it. Only this thread moves blocks to and from disk, so
   * what is on disk now stays there until it is read below. */
  uint64_t need = 0, extra = 0, total = 0;
  m->npins = 0;
  for (uint32_t k = 0; k < t->ndeps; k++) {
    uint32_t d = deps[k];
    if (m->npins == m->pins_cap && cask__grow((void **)&m->pins, &m->pins_cap, m->npins + 1, sizeof *m->pins)) {
      cask__run_fail(r, CASK_ENOMEM, v, "out of memory reading inputs back");
      unpin_scratch(m, r);
      return FAILED;
    }
    unsigned st = atomic_load(&r->slots[d].mem) & CASK__SLOT_STATE;
    if (st == CASK__SLOT_DISK) {
      need += r->spilled[d]->nbytes;
      /* a dropped block's own inputs are held while it is made again */
      if (r->spilled[d]->remake) extra += (uint64_t)inputs_size(g, d, (int64_t)r->spilled[d]->nbytes);
      continue;
    }
    if (st == CASK__SLOT_LOADING) { /* a worker is making it again: wait for it */
      unpin_scratch(m, r);
      atomic_store(&m->send_wait, 0);
      return WAIT;
    }
    cask__memory_pin_one(r, d); /* memory or being written: pins */
    m->pins[m->npins++] = d;
    total += cask_block_nbytes(r->slots[d].out);
  }
  int rc = LOADED, sends = 0;
  uint64_t own = t->size > 0 ? (uint64_t)t->size : 0; /* the result it will make */
  if (need && total + need > m->limit) {
    char msg[CASK__RUN_ERRMSG_CAP];
    cask__fmt(msg, sizeof msg,
              "task '%s' (op %s) needs %llu bytes of inputs in memory at once, more than the memory "
              "limit of %llu bytes: raise the limit or make the chunks smaller",
              cask__key(g, v), t->op->name, (unsigned long long)(total + need),
              (unsigned long long)m->limit);
    cask__run_fail(r, CASK_ENOMEM, v, msg);
    rc = FAILED;
  }
  /* The room is claimed before anything is read: made by spilling and
   * left unclaimed, it was taken meanwhile by a receive (the communication
   * thread), a root or the worker taking a received block, and the inputs
   * were read back over the limit anyway. */
  uint64_t claimed = 0;
  if (rc == LOADED && (need || own)) {
    claimed = need + extra + own;
    rc = claim_room(m, r, claimed, &sends);
    if (rc != LOADED) claimed = 0;
  }
  atomic_store(&m->send_wait, sends);
  for (uint32_t k = 0; rc == LOADED && k < t->ndeps; k++) {
    if ((atomic_load(&r->slots[deps[k]].mem) & CASK__SLOT_STATE) != CASK__SLOT_DISK) continue;
    int got = cask__spill_load(r, deps[k], 0, UINT64_MAX);
    rc = got < 0 ? FAILED : got == 0 ? WAIT : LOADED; /* 0: a worker took it meanwhile */
  }
  /* Everything is in memory now: pin every input for the task (a worker
   * may still be making one again: then wait). The inputs read back are
   * held bytes now; the room of its result stays reserved for the task
   * (so the next task served counts it). */
  if (rc == LOADED && !cask__memory_pin_inputs(r, v)) rc = WAIT;
  if (claimed) atomic_fetch_sub(&r->reserved, (int64_t)(rc == LOADED ? need + extra : claimed));
  unpin_scratch(m, r);
  return rc;
}

/* The waiting task with the best priority, taken off the list. */
static uint32_t take_waiting(cask__memory *m, const cask__run *r) {
  uint32_t v = CASK__NO_TASK;
  cask__task_list *l = &m->waiting;
  cask__lock(&m->mu, CASK__LOCK_MEM);
  size_t best = 0;
  for (size_t i = 1; i < l->n; i++)
    if (r->g->prio[l->v[i]] < r->g->prio[l->v[best]]) best = i;
  if (l->n) {
    v = l->v[best];
    l->v[best] = l->v[--l->n];
    atomic_store(&l->pub, l->n);
  }
  cask__unlock(&m->mu, CASK__LOCK_MEM);
  return v;
}

/* Back on the waiting list (which may have filled up meanwhile: workers
 * defer tasks while this one is served). */
static void put_back(cask__memory *m, cask__run *r, uint32_t v) {
  if (cask__list_push(m, &m->waiting, v)) cask__run_fail(r, CASK_ENOMEM, v, "out of memory putting a task back");
}

/* Read ahead: the spilled blocks needed soonest, while they fit under the
 * low-water mark. Returns how many were read. */
static size_t read_ahead(cask__memory *m, cask__run *r) {
  if (atomic_load(&m->ondisk) == 0 || cask__memory_used_by_blocks(r) >= m->low) return 0;
  size_t n = candidates(m, r, CASK__SLOT_DISK, 1), loaded = 0;
  for (size_t i = 0; i < n && !stopped(r) && !atomic_load(&m->waiting.pub); i++) {
    /* blocks up to the low mark; the pool's buffers (counted as used) are
     * what they are read into, up to the high one */
    uint64_t pool = cask__pool_bytes(), max = m->low + pool < m->high ? m->low + pool : m->high;
    int rc = cask__spill_load(r, (uint32_t)m->cand[i], CASK__SLOT_PREFETCHED, max);
    if (rc <= 0) break;
    loaded++;
  }
  return loaded;
}

static void on_retry(uv_timer_t *t) { cask__spill_wake((uv_async_t *)t->data); }

static void serve(cask__memory *m, cask__run *r) {
  cask__park *park = &r->rt->park;
  for (;;) {
    if (stopped(r)) return;
    delete_dead(m, r);
    int progress = 0;
    uint32_t v;
    while ((v = take_waiting(m, r)) != CASK__NO_TASK) {
      int rc = load_inputs(m, r, v);
      if (rc == FAILED) return;
      if (rc == WAIT) {
        put_back(m, r, v);
        /* Running tasks wake this thread when they finish and see a task
         * waiting; in case the last one finished before the put-back was
         * visible to it, look again in a millisecond anyway (cheaper than a
         * full fence on every task's finish). */
        uv_timer_start(&m->retry, on_retry, 1, 0);
        break;
      }
      hand_back(m, r, v);
      cask__park_notify(park, 0);
      progress = 1;
    }
    if (atomic_exchange(&m->spill_wanted, 0) || cask__memory_used(r) > m->high) {
      atomic_fetch_add(&m->spill_passes, 1);
      uint64_t before = cask__memory_used(r);
      if (spill_down_to(m, r, m->low) < 0) return;
      atomic_store(&m->pass_left, cask__memory_used_by_blocks(r));
      atomic_fetch_add(&m->passes_done, 1); /* after pass_left: remote.c reads them the other way */
      if (cask__memory_used(r) < before) progress = 1;
      cask__park_notify(park, 1); /* held-back roots may start now */
    }
    if (read_ahead(m, r)) progress = 1;
    if (!progress) return;
  }
}

void cask__spill_wake(uv_async_t *h) {
  cask__memory *m = h->data;
  cask__lock(&m->mu, CASK__LOCK_MEM);
  if (m->quit) {
    cask__unlock(&m->mu, CASK__LOCK_MEM);
    uv_close((uv_handle_t *)h, NULL);
    uv_close((uv_handle_t *)&m->retry, NULL);
    return;
  }
  cask__run *r = m->run;
  if (r) {
    atomic_store(&m->busy, 1);
  }
  cask__unlock(&m->mu, CASK__LOCK_MEM);
  if (!r) return;
  serve(m, r);
  cask__lock(&m->mu, CASK__LOCK_MEM);
  atomic_store(&m->busy, 0);
  uv_cond_broadcast(&m->idle_cv);
  cask__unlock(&m->mu, CASK__LOCK_MEM);
  /* Roots held back while this thread was busy look again (r may be gone:
   * the park belongs to the runtime). */
  cask__park_notify(m->park, 1);
}

void cask__spill_thread(void *arg) {
  cask__memory *m = arg;
  uv_run(&m->loop, UV_RUN_DEFAULT);
}
