/* digest.c - hashes of a graph that ranks compare before they run it.
 * The one thing to know: only what is the same in every process may enter
 * a hash. Keys, op names, argument bytes of public ops and dependency keys
 * are; the arguments of cask's private ops hold addresses (counted by their
 * length only), and a fused task's blob holds op pointers (its elements are
 * hashed one by one, by op name). */
#include <string.h>

#include "dist-int.h"

static uint64_t mix(uint64_t h, uint64_t x) { return cask__mix64(h ^ cask__mix64(x + 0x9e3779b97f4a7c15ULL)); }

static uint64_t hash_str(uint64_t h, const char *s, size_t len) { return mix(h, cask__hash(s, len, len)); }

/* One op application: its name and arguments. */
static uint64_t hash_call(uint64_t h, const cask_op *op, const void *args, size_t len) {
  h = hash_str(h, op->name, strlen(op->name));
  return cask__op_is_private(op) ? mix(h, len) : mix(h, cask__hash(args, len, 1));
}

static uint64_t hash_fused(uint64_t h, const void *blob, size_t len) {
  size_t pos = 0;
  const cask_op *op;
  const char *key;
  const void *args;
  uint32_t key_len, args_len;
  while (cask__fused_next(blob, len, &pos, &op, &key, &key_len, &args, &args_len))
    h = hash_call(hash_str(h, key, key_len), op, args, args_len);
  return h;
}

static uint64_t task_digest(const cask_graph *g, uint32_t t) {
  const cask__task *r = &g->tasks[t];
  uint64_t h = hash_str(0, cask__key(g, t), r->key_len);
  const void *args = cask__args(g, t);
  h = r->op == cask__op_fused ? hash_fused(hash_str(h, r->op->name, strlen(r->op->name)), args, r->args_len)
                              : hash_call(h, r->op, args, r->args_len);
  h = mix(h, r->ndeps);
  for (uint32_t k = 0; k < r->ndeps; k++) h = mix(h, g->dep_hash[r->deps_off + k]);
  h = mix(h, r->flags & (CASK__TASK_OUTPUT | CASK__TASK_GHOST)); /* a ghost is not the task it stands for */
  h = mix(h, (uint64_t)r->size);
  if (r->place_kind) /* unhinted tasks digest as before hints existed */
    for (int k = 0; k < 4; k++) h = mix(h, ((uint64_t)r->place_kind << 32) | r->place[k]);
  return h;
}

int cask_graph_task_digests(cask_graph *g, uint64_t *out) {
  if (!g || !out) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  for (size_t i = 0; i < g->ntasks; i++) out[i] = task_digest(g, (uint32_t)i);
  return CASK_OK;
}

int cask_graph_digest(cask_graph *g, uint64_t *out) {
  if (!g || !out) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  uint64_t h = mix(0, g->ntasks);
  for (size_t i = 0; i < g->ntasks; i++) h = mix(h, task_digest(g, (uint32_t)i));
  *out = h;
  return CASK_OK;
}

size_t cask_digests_first_difference(const uint64_t *a, size_t na, const uint64_t *b, size_t nb) {
  size_t n = na < nb ? na : nb;
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return i;
  return na == nb ? SIZE_MAX : n;
}

static void name_difference(cask_graph *a, cask_graph *b, size_t i, char *msg, size_t cap) {
  if (!msg || !cap) return;
  if (i >= a->ntasks || i >= b->ntasks) {
    cask__fmt(msg, cap, "the graphs agree on their first %zu tasks, but one has %zu tasks and the other %zu", i,
              a->ntasks, b->ntasks);
    return;
  }
  cask__fmt(msg, cap, "task %zu differs: '%s' (op %s) against '%s' (op %s)", i, cask__key(a, (uint32_t)i),
            a->tasks[i].op->name, cask__key(b, (uint32_t)i), b->tasks[i].op->name);
}

int cask_graph_compare(cask_graph *a, cask_graph *b, char *msg, size_t cap) {
  if (!a || !b) return CASK_EINVAL;
  int rc = cask_graph_validate(a);
  if (!rc) rc = cask_graph_validate(b);
  if (rc) return rc;
  size_t n = a->ntasks < b->ntasks ? a->ntasks : b->ntasks, i = 0;
  while (i < n && task_digest(a, (uint32_t)i) == task_digest(b, (uint32_t)i)) i++;
  if (i == n && a->ntasks == b->ntasks) {
    if (msg && cap) msg[0] = '\0';
    return 0;
  }
  name_difference(a, b, i, msg, cap);
  return 1;
}
