/* registry.c - the process-wide op registry: name -> op definition.
 * Ops are never removed, so a registered cask_op pointer stays valid for the
 * life of the process and graphs may store it. Registration takes a write
 * lock; lookups a read lock. The built-in ops are registered once, on first
 * use of the registry (uv_once).
 *
 * Private ops are cask's own ops whose arguments hold addresses (the fused
 * op's op pointers, a caller's buffer, a kernel's function pointer): only
 * cask makes their tasks (cask__graph_add), the public add calls refuse
 * them, and they are never written as JSON unless they have JSON hooks that
 * rebuild the addresses from names (the fused op). */
#include <stdatomic.h>
#include <uv.h>

#include "graph-int.h"

#define MAX_OPS 4096
#define MAX_PRIVATE_OPS 32

static uv_once_t init_once = UV_ONCE_INIT;
static uv_rwlock_t lock;
static cask_op *ops[MAX_OPS];
static size_t nops;
/* Ops whose arguments hold addresses (registered by cask itself only):
 * entries are written before the release-store of the count, so a reader
 * without the lock sees whole entries. */
static const cask_op *private_ops[MAX_PRIVATE_OPS];
static atomic_size_t nprivate;

const cask_op *cask__op_fused;
const cask_op *cask__op_noop;

static int noop_run(cask_task_io *io) {
  (void)io;
  return CASK_OK;
}

static const cask_op *find_locked(const char *name) {
  for (size_t i = 0; i < nops; i++)
    if (strcmp(ops[i]->name, name) == 0) return ops[i];
  return NULL;
}

static int register_locked(const cask_op *def, const cask_op **out) {
  if (find_locked(def->name)) return CASK_EOPEXISTS;
  if (nops == MAX_OPS) return CASK_ETOOBIG;
  cask_op *op = cask__malloc(sizeof *op);
  char *name = cask__strdup(def->name);
  if (!op || !name) {
    cask__free(op);
    cask__free(name);
    return CASK_ENOMEM;
  }
  *op = *def;
  op->name = name;
  ops[nops++] = op;
  if (out) *out = op;
  return CASK_OK;
}

static void mark_private_locked(const cask_op *op) {
  size_t n = atomic_load_explicit(&nprivate, memory_order_relaxed);
  if (n == MAX_PRIVATE_OPS) return; /* a fixed set of cask's own ops */
  private_ops[n] = op;
  atomic_store_explicit(&nprivate, n + 1, memory_order_release);
}

static void init_registry(void) {
  if (uv_rwlock_init(&lock) != 0) return; /* cannot fail on Linux */
  static const cask_op noop = {"cask.noop", noop_run, NULL, NULL, NULL, 0, 0};
  static const cask_op fused = {"cask.fused", cask__fused_run, cask__fused_to_json,
                                cask__fused_from_json, NULL, 0, 0};
  register_locked(&noop, &cask__op_noop);
  register_locked(&fused, &cask__op_fused);
  mark_private_locked(cask__op_fused); /* its blob holds op pointers */
}

void cask__registry_init(void) { uv_once(&init_once, init_registry); }

static int not_serializable(const void *args, size_t len, struct cJSON *obj) {
  (void)args, (void)len, (void)obj;
  return CASK_ENOTSERIAL;
}

int cask__op_register_private(const cask_op *def, const cask_op **out) {
  if (!def || !def->name || !def->run) return CASK_EINVAL;
  cask__registry_init();
  cask_op copy = *def;
  if (!copy.args_to_json) copy.args_to_json = not_serializable;
  const cask_op *op;
  uv_rwlock_wrlock(&lock);
  int rc = register_locked(&copy, &op);
  if (!rc) mark_private_locked(op);
  uv_rwlock_wrunlock(&lock);
  if (!rc && out) *out = op;
  return rc;
}

int cask__op_is_private(const cask_op *op) {
  size_t n = atomic_load_explicit(&nprivate, memory_order_acquire);
  for (size_t i = 0; i < n; i++)
    if (private_ops[i] == op) return 1;
  return 0;
}

int cask_op_register(const cask_op *def, const cask_op **out) {
  if (!def || !def->name || !def->name[0] || !def->run) return CASK_EINVAL;
  cask__registry_init();
  uv_rwlock_wrlock(&lock);
  int rc = register_locked(def, out);
  uv_rwlock_wrunlock(&lock);
  return rc;
}

const cask_op *cask_op_find(const char *name) {
  if (!name) return NULL;
  cask__registry_init();
  uv_rwlock_rdlock(&lock);
  const cask_op *op = find_locked(name);
  uv_rwlock_rdunlock(&lock);
  return op;
}
