/* viz_layout.c - from a task graph to the picture `cask viz` draws: layers
 * (longest path from the roots), the run order and the bytes held at each
 * step, grouping for large graphs, and barycentre ordering within layers.
 * The one thing to know: everything here works on indices in plain arrays
 * and is deterministic (stable sorts, ties by index), so the same graph
 * always gives the same page; the page itself only scales and draws. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viz-int.h"

#define SWEEPS 4 /* down-up pairs of barycentre ordering; more rarely helps */

/* ---- string map ----------------------------------------------------- */

static uint64_t hash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

int viz_map_init(viz_map *m, size_t n) {
  size_t cap = 16;
  while (cap < 2 * n + 2) cap *= 2;
  m->slots = calloc(cap, sizeof *m->slots);
  m->mask = cap - 1;
  return m->slots ? 0 : -1;
}

void viz_map_destroy(viz_map *m) {
  free(m->slots);
  m->slots = NULL;
}

static int same(const char *name, const char *s, size_t len) {
  return strncmp(name, s, len) == 0 && name[len] == '\0';
}

uint32_t viz_map_find(const viz_map *m, const char *const *names, const char *s, size_t len) {
  for (size_t i = hash(s, len) & m->mask;; i = (i + 1) & m->mask) {
    uint32_t e = m->slots[i];
    if (!e) return VIZ_NONE;
    if (same(names[e - 1], s, len)) return e - 1;
  }
}

uint32_t viz_map_add(viz_map *m, const char *const *names, uint32_t idx) {
  const char *s = names[idx];
  size_t len = strlen(s);
  for (size_t i = hash(s, len) & m->mask;; i = (i + 1) & m->mask) {
    uint32_t e = m->slots[i];
    if (!e) {
      m->slots[i] = idx + 1;
      return idx;
    }
    if (same(names[e - 1], s, len)) return e - 1;
  }
}

/* ---- layers, order, memory ------------------------------------------ */

/* Dependents in CSR form: succ_off[n + 1], succ[]. */
static int dependents(const viz_graph *g, uint32_t **off_out, uint32_t **succ_out) {
  uint32_t n = g->n, ne = g->dep_off[n];
  uint32_t *off = calloc((size_t)n + 1, sizeof *off);
  uint32_t *succ = malloc(((size_t)ne + 1) * sizeof *succ);
  uint32_t *fill = malloc(((size_t)n + 1) * sizeof *fill);
  if (!off || !succ || !fill) goto fail;
  for (uint32_t e = 0; e < ne; e++) off[g->dep[e] + 1]++;
  for (uint32_t i = 0; i < n; i++) off[i + 1] += off[i];
  memcpy(fill, off, (size_t)n * sizeof *fill);
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t e = g->dep_off[i]; e < g->dep_off[i + 1]; e++) succ[fill[g->dep[e]]++] = i;
  free(fill);
  *off_out = off;
  *succ_out = succ;
  return 0;
fail:
  free(off);
  free(succ);
  free(fill);
  return -1;
}

/* A task on a cycle, given that Kahn's algorithm left `done` unset for
 * some: walk unfinished deps n times, which must end inside a cycle. */
static uint32_t task_on_cycle(const viz_graph *g, const unsigned char *done) {
  uint32_t v = 0;
  while (done[v]) v++;
  for (uint32_t step = 0; step < g->n; step++) {
    for (uint32_t e = g->dep_off[v]; e < g->dep_off[v + 1]; e++)
      if (!done[g->dep[e]]) {
        v = g->dep[e];
        break;
      }
  }
  return v;
}

/* Longest-path layers and a topological order (Kahn, FIFO: file order among
 * ready tasks). Returns 1 and names a task on a cycle in err if there is one. */
static int layer_tasks(const viz_graph *g, const uint32_t *soff, const uint32_t *succ,
                       uint32_t *layer, uint32_t *topo, char *err, size_t errcap) {
  uint32_t n = g->n, head = 0, tail = 0;
  uint32_t *left = malloc(((size_t)n + 1) * sizeof *left);
  unsigned char *done = calloc((size_t)n + 1, 1);
  if (!left || !done) {
    free(left);
    free(done);
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    left[i] = g->dep_off[i + 1] - g->dep_off[i];
    layer[i] = 0;
    if (!left[i]) topo[tail++] = i;
  }
  while (head < tail) {
    uint32_t v = topo[head++];
    done[v] = 1;
    for (uint32_t e = soff[v]; e < soff[v + 1]; e++) {
      uint32_t w = succ[e];
      if (layer[w] < layer[v] + 1) layer[w] = layer[v] + 1;
      if (--left[w] == 0) topo[tail++] = w;
    }
  }
  int rc = 0;
  if (tail < n) {
    uint32_t c = task_on_cycle(g, done);
    snprintf(err, errcap, "the graph has a cycle: task %u '%s' depends on itself through its deps",
             (unsigned)c, g->key[c]);
    rc = 1;
  }
  free(left);
  free(done);
  return rc;
}

static int has_all_priorities(const viz_graph *g) {
  for (uint32_t i = 0; i < g->n; i++)
    if (g->prio[i] < 0) return 0;
  return g->n > 0;
}

static const int64_t *sort_key;
static int by_key_then_index(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  if (sort_key[x] != sort_key[y]) return sort_key[x] < sort_key[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* Bytes held right after each task runs, tasks one at a time in `order`:
 * a result is held from its task until its last dependent has run (outputs
 * until the end), as cask_graph_predicted_peak counts it. */
static int held_bytes(const viz_graph *g, const uint32_t *soff, const int64_t *order,
                      int64_t *held, int64_t *peak) {
  uint32_t n = g->n;
  uint32_t *seq = malloc(((size_t)n + 1) * sizeof *seq);
  uint32_t *left = malloc(((size_t)n + 1) * sizeof *left);
  if (!seq || !left) {
    free(seq);
    free(left);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    seq[i] = i;
    left[i] = soff[i + 1] - soff[i];
  }
  sort_key = order;
  qsort(seq, n, sizeof *seq, by_key_then_index);
  int64_t h = 0;
  *peak = 0;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t v = seq[k];
    int64_t sz = g->size[v] > 0 ? g->size[v] : 0;
    h += sz;
    held[v] = h;
    if (h > *peak) *peak = h;
    for (uint32_t e = g->dep_off[v]; e < g->dep_off[v + 1]; e++) {
      uint32_t d = g->dep[e];
      if (--left[d] == 0 && !g->output[d]) h -= g->size[d] > 0 ? g->size[d] : 0;
    }
    if (left[v] == 0 && !g->output[v]) h -= sz;
  }
  free(seq);
  free(left);
  return 0;
}

/* Per task: layer, order (priority, else topological position), held bytes. */
typedef struct task_facts {
  uint32_t *soff, *succ, *layer, *topo;
  int64_t *order, *held;
} task_facts;

static void facts_free(task_facts *f) {
  free(f->soff);
  free(f->succ);
  free(f->layer);
  free(f->topo);
  free(f->order);
  free(f->held);
}

static int task_facts_compute(const viz_graph *g, task_facts *f, viz_view *v, char *err,
                              size_t errcap) {
  size_t n1 = (size_t)g->n + 1;
  memset(f, 0, sizeof *f);
  if (dependents(g, &f->soff, &f->succ)) goto fail_nomem;
  f->layer = malloc(n1 * sizeof *f->layer);
  f->topo = malloc(n1 * sizeof *f->topo);
  f->order = malloc(n1 * sizeof *f->order);
  f->held = malloc(n1 * sizeof *f->held);
  if (!f->layer || !f->topo || !f->order || !f->held) goto fail_nomem;
  int rc = layer_tasks(g, f->soff, f->succ, f->layer, f->topo, err, errcap);
  if (rc) return rc;
  v->has_prio = has_all_priorities(g);
  for (uint32_t k = 0; k < g->n; k++)
    f->order[v->has_prio ? k : f->topo[k]] = v->has_prio ? g->prio[k] : (int64_t)k;
  if (held_bytes(g, f->soff, f->order, f->held, &v->peak)) goto fail_nomem;
  v->ntasks = g->n;
  v->ntask_edges = g->dep_off[g->n];
  return 0;
fail_nomem:
  snprintf(err, errcap, "out of memory");
  return -1;
}

/* ---- view nodes ----------------------------------------------------- */

static int view_alloc(viz_view *v, uint32_t n) {
  size_t n1 = (size_t)n + 1;
  v->n = n;
  v->label = calloc(n1, sizeof *v->label);
  v->op = malloc(n1 * sizeof *v->op);
  v->count = calloc(n1, sizeof *v->count);
  v->layer = malloc(n1 * sizeof *v->layer);
  v->pos = malloc(n1 * sizeof *v->pos);
  v->bytes = malloc(n1 * sizeof *v->bytes);
  v->order = malloc(n1 * sizeof *v->order);
  v->held = malloc(n1 * sizeof *v->held);
  return v->label && v->op && v->count && v->layer && v->pos && v->bytes && v->order && v->held
             ? 0
             : -1;
}

void viz_view_destroy(viz_view *v) {
  for (uint32_t i = 0; v->label && i < v->n; i++) free(v->label[i]);
  free(v->label);
  free(v->op);
  free(v->count);
  free(v->layer);
  free(v->pos);
  free(v->bytes);
  free(v->order);
  free(v->held);
  free(v->ops);
  free(v->esrc);
  free(v->edst);
  free(v->ecount);
  memset(v, 0, sizeof *v);
}

/* Op names interned in v->ops; op_of[i] is task i's. */
static int intern_ops(const viz_graph *g, viz_view *v, uint32_t *op_of) {
  viz_map m;
  v->ops = malloc(((size_t)g->n + 1) * sizeof *v->ops);
  if (!v->ops || viz_map_init(&m, g->n)) return -1;
  for (uint32_t i = 0; i < g->n; i++) {
    v->ops[v->nops] = g->op[i];
    op_of[i] = viz_map_add(&m, v->ops, v->nops);
    if (op_of[i] == v->nops) v->nops++;
  }
  viz_map_destroy(&m);
  return 0;
}

/* A 16-hex-digit token between s and end: what array keys carry. */
static int is_token(const char *s, const char *end) {
  if (end - s != 16) return 0;
  for (; s < end; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
  return 1;
}

/* Where a key's group name ends. Array keys are "<kind>-<token>-..." with a
 * 16-hex-digit token naming the array operation, whatever follows (block
 * indices, "-0-combine-3" for a reduction's combines): the group ends with the
 * token. Other keys lose a last part made of block indices (digits and
 * commas), so "add-3-7" is in "add-3"; the rest are their own group. */
static size_t group_len(const char *key) {
  for (const char *p = strchr(key, '-'); p; p = strchr(p + 1, '-')) {
    const char *end = strchr(p + 1, '-');
    if (!end) end = p + 1 + strlen(p + 1);
    if (p > key && is_token(p + 1, end)) return (size_t)(end - key);
  }
  const char *dash = strrchr(key, '-');
  if (!dash || dash == key || !dash[1]) return strlen(key);
  for (const char *p = dash + 1; *p; p++)
    if ((*p < '0' || *p > '9') && *p != ',') return strlen(key);
  return (size_t)(dash - key);
}

/* Task i -> group index in grp[]; names[] gets each group's name (owned).
 * by_op: groups are op names. Returns the number of groups, or -1. */
static int64_t group_tasks(const viz_graph *g, int by_op, uint32_t *grp, char **names) {
  viz_map m;
  if (viz_map_init(&m, g->n)) return -1;
  uint32_t ng = 0;
  for (uint32_t i = 0; i < g->n; i++) {
    const char *s = by_op ? g->op[i] : g->key[i];
    size_t len = by_op ? strlen(s) : group_len(s);
    uint32_t k = viz_map_find(&m, (const char *const *)names, s, len);
    if (k == VIZ_NONE) {
      if (!(names[ng] = strndup(s, len))) goto fail;
      k = viz_map_add(&m, (const char *const *)names, ng++);
    }
    grp[i] = k;
  }
  viz_map_destroy(&m);
  return ng;
fail:
  viz_map_destroy(&m);
  for (uint32_t k = 0; k < ng; k++) {
    free(names[k]);
    names[k] = NULL;
  }
  return -1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* View edges: task edges mapped through node_of, self-edges dropped,
 * equal pairs merged with a count. */
static int view_edges(const viz_graph *g, const uint32_t *node_of, viz_view *v) {
  size_t ne = g->dep_off[g->n], m = 0;
  uint64_t *pairs = malloc((ne + 1) * sizeof *pairs);
  if (!pairs) return -1;
  for (uint32_t i = 0; i < g->n; i++)
    for (uint32_t e = g->dep_off[i]; e < g->dep_off[i + 1]; e++) {
      uint32_t s = node_of[g->dep[e]], d = node_of[i];
      if (s != d) pairs[m++] = (uint64_t)s << 32 | d;
    }
  qsort(pairs, m, sizeof *pairs, cmp_u64);
  v->esrc = malloc((m + 1) * sizeof *v->esrc);
  v->edst = malloc((m + 1) * sizeof *v->edst);
  v->ecount = malloc((m + 1) * sizeof *v->ecount);
  if (!v->esrc || !v->edst || !v->ecount) {
    free(pairs);
    return -1;
  }
  for (size_t k = 0; k < m; k++) {
    if (v->nedges && pairs[k] == pairs[k - 1]) {
      v->ecount[v->nedges - 1]++;
      continue;
    }
    v->esrc[v->nedges] = (uint32_t)(pairs[k] >> 32);
    v->edst[v->nedges] = (uint32_t)pairs[k];
    v->ecount[v->nedges++] = 1;
  }
  free(pairs);
  return 0;
}

/* Fold task facts into nodes: sums, minima, maxima; a node whose tasks have
 * several ops gets VIZ_NONE. Layers become ranks 0.. of the distinct minimum
 * task layers, so no layer is empty. */
static int fold_tasks(const viz_graph *g, const task_facts *f, const uint32_t *node_of,
                      const uint32_t *op_of, viz_view *v) {
  for (uint32_t k = 0; k < v->n; k++) {
    v->bytes[k] = -1;
    v->order[k] = INT64_MAX;
    v->held[k] = 0;
    v->layer[k] = UINT32_MAX;
  }
  for (uint32_t i = 0; i < g->n; i++) {
    uint32_t k = node_of[i];
    if (v->count[k]++ == 0) v->op[k] = op_of[i];
    else if (v->op[k] != op_of[i]) v->op[k] = VIZ_NONE;
    if (g->size[i] >= 0) v->bytes[k] = (v->bytes[k] < 0 ? 0 : v->bytes[k]) + g->size[i];
    if (f->order[i] < v->order[k]) v->order[k] = f->order[i];
    if (f->held[i] > v->held[k]) v->held[k] = f->held[i];
    if (f->layer[i] < v->layer[k]) v->layer[k] = f->layer[i];
  }
  int64_t *lay = malloc(((size_t)v->n + 1) * sizeof *lay);
  uint32_t *idx = malloc(((size_t)v->n + 1) * sizeof *idx);
  if (!lay || !idx) {
    free(lay);
    free(idx);
    return -1;
  }
  for (uint32_t k = 0; k < v->n; k++) {
    lay[k] = v->layer[k];
    idx[k] = k;
  }
  sort_key = lay;
  qsort(idx, v->n, sizeof *idx, by_key_then_index);
  uint32_t rank = 0;
  for (uint32_t r = 0; r < v->n; r++) {
    if (r && lay[idx[r]] != lay[idx[r - 1]]) rank++;
    v->layer[idx[r]] = rank;
  }
  free(lay);
  free(idx);
  return 0;
}

/* ---- barycentre ordering -------------------------------------------- */

typedef struct slot {
  double bc;
  uint32_t pos, node;
} slot;

static int by_bc(const void *a, const void *b) {
  const slot *x = a, *y = b;
  if (x->bc != y->bc) return x->bc < y->bc ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Nodes bucketed by layer, plus edges indexed by node in both directions. */
typedef struct layout {
  uint32_t nlayers, *loff, *lnode;
  uint32_t *ioff, *iedge, *ooff, *oedge;
  double *coord;
  slot *tmp;
} layout;

static void bucket(const uint32_t *key, uint32_t n, uint32_t nb, uint32_t *off, uint32_t *out) {
  memset(off, 0, ((size_t)nb + 1) * sizeof *off);
  for (uint32_t i = 0; i < n; i++) off[key[i] + 1]++;
  for (uint32_t b = 0; b < nb; b++) off[b + 1] += off[b];
  for (uint32_t i = 0; i < n; i++) out[off[key[i]]++] = i;
  for (uint32_t b = nb; b > 0; b--) off[b] = off[b - 1];
  off[0] = 0;
}

static int layout_init(layout *L, const viz_view *v) {
  size_t n1 = (size_t)v->n + 1, e1 = (size_t)v->nedges + 1;
  memset(L, 0, sizeof *L);
  for (uint32_t k = 0; k < v->n; k++)
    if (v->layer[k] + 1 > L->nlayers) L->nlayers = v->layer[k] + 1;
  L->loff = malloc(((size_t)L->nlayers + 1) * sizeof *L->loff);
  L->lnode = malloc(n1 * sizeof *L->lnode);
  L->ioff = malloc(n1 * sizeof *L->ioff);
  L->ooff = malloc(n1 * sizeof *L->ooff);
  L->iedge = malloc(e1 * sizeof *L->iedge);
  L->oedge = malloc(e1 * sizeof *L->oedge);
  L->coord = malloc(n1 * sizeof *L->coord);
  L->tmp = malloc(n1 * sizeof *L->tmp);
  if (!L->loff || !L->lnode || !L->ioff || !L->ooff || !L->iedge || !L->oedge || !L->coord ||
      !L->tmp)
    return -1;
  bucket(v->layer, v->n, L->nlayers, L->loff, L->lnode);
  bucket(v->edst, v->nedges, v->n, L->ioff, L->iedge);
  bucket(v->esrc, v->nedges, v->n, L->ooff, L->oedge);
  return 0;
}

static void layout_free(layout *L) {
  free(L->loff);
  free(L->lnode);
  free(L->ioff);
  free(L->ooff);
  free(L->iedge);
  free(L->oedge);
  free(L->coord);
  free(L->tmp);
}

/* Coordinates centre each layer on 0, so a narrow layer sits under the
 * middle of a wide one. */
static void set_coords(layout *L, viz_view *v, uint32_t l) {
  uint32_t len = L->loff[l + 1] - L->loff[l];
  for (uint32_t r = 0; r < len; r++) {
    uint32_t k = L->lnode[L->loff[l] + r];
    v->pos[k] = r;
    L->coord[k] = r - (len - 1) / 2.0;
  }
}

/* Reorder layer l by the weighted mean coordinate of its neighbours in the
 * layers before it (down) or after it (up); a node with none keeps its own. */
static void sweep_layer(layout *L, viz_view *v, uint32_t l, int down) {
  uint32_t len = L->loff[l + 1] - L->loff[l];
  const uint32_t *off = down ? L->ioff : L->ooff, *edge = down ? L->iedge : L->oedge;
  const uint32_t *other = down ? v->esrc : v->edst;
  for (uint32_t r = 0; r < len; r++) {
    uint32_t k = L->lnode[L->loff[l] + r];
    double sum = 0, w = 0;
    for (uint32_t e = off[k]; e < off[k + 1]; e++) {
      uint32_t o = other[edge[e]];
      if (down ? v->layer[o] >= l : v->layer[o] <= l) continue;
      sum += L->coord[o] * v->ecount[edge[e]];
      w += v->ecount[edge[e]];
    }
    L->tmp[r] = (slot){w > 0 ? sum / w : L->coord[k], r, k};
  }
  qsort(L->tmp, len, sizeof *L->tmp, by_bc);
  for (uint32_t r = 0; r < len; r++) L->lnode[L->loff[l] + r] = L->tmp[r].node;
  set_coords(L, v, l);
}

static int order_layers(viz_view *v) {
  layout L;
  int rc = layout_init(&L, v);
  if (!rc) {
    for (uint32_t l = 0; l < L.nlayers; l++) set_coords(&L, v, l);
    for (int s = 0; s < SWEEPS; s++) {
      for (uint32_t l = 1; l < L.nlayers; l++) sweep_layer(&L, v, l, 1);
      for (uint32_t l = L.nlayers; l-- > 1;) sweep_layer(&L, v, l - 1, 0);
    }
  }
  layout_free(&L);
  return rc;
}

/* ---- the view ------------------------------------------------------- */

static int build_nodes(const viz_graph *g, const task_facts *f, uint32_t max_tasks,
                       int force_group, viz_view *v, uint32_t *op_of, uint32_t *node_of) {
  if (intern_ops(g, v, op_of)) return -1;
  char **names = calloc((size_t)g->n + 1, sizeof *names);
  if (!names) return -1;
  int64_t ng = g->n;
  if (g->n >= max_tasks || force_group) {
    v->grouped = 1;
    ng = group_tasks(g, 0, node_of, names);
    if (ng >= max_tasks) {
      for (int64_t k = 0; k < ng; k++) {
        free(names[k]);
        names[k] = NULL;
      }
      v->grouped = 2;
      ng = group_tasks(g, 1, node_of, names);
    }
  } else {
    for (uint32_t i = 0; i < g->n; i++) {
      node_of[i] = i;
      if (!(names[i] = strdup(g->key[i]))) ng = -1;
    }
  }
  if (ng < 0 || view_alloc(v, (uint32_t)ng)) {
    for (uint32_t i = 0; i < g->n; i++) free(names[i]); /* calloc'd: unset ones are NULL */
    free(names);
    return -1;
  }
  memcpy(v->label, names, (size_t)ng * sizeof *names);
  free(names);
  return fold_tasks(g, f, node_of, op_of, v);
}

int viz_build_view(const viz_graph *g, uint32_t max_tasks, int force_group, viz_view *v,
                   char *err, size_t errcap) {
  task_facts f;
  memset(v, 0, sizeof *v);
  int rc = task_facts_compute(g, &f, v, err, errcap);
  uint32_t *op_of = malloc(((size_t)g->n + 1) * sizeof *op_of);
  uint32_t *node_of = malloc(((size_t)g->n + 1) * sizeof *node_of);
  if (!rc && (!op_of || !node_of || build_nodes(g, &f, max_tasks, force_group, v, op_of, node_of) ||
              view_edges(g, node_of, v) || order_layers(v))) {
    snprintf(err, errcap, "out of memory");
    rc = -1;
  }
  free(op_of);
  free(node_of);
  facts_free(&f);
  if (rc) viz_view_destroy(v);
  return rc;
}
