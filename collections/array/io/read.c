/* read.c - the lowering shared by the readers of .npy files and Zarr
 * stores: a block is one task whose arguments are the array's own (kept in
 * a->ext: a fixed head, then the path) with the block's box stamped in.
 * The one thing to know: the task has no inputs; it opens the file when it
 * runs, so a block nothing needs is never read. */
#include "io.h"

int cask__lower_read(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                     cask_task_id *out) {
  const cask__reader_class *rd = (const cask__reader_class *)a->cls;
  uint32_t path_len;
  memcpy(&path_len, (const char *)a->ext + rd->path_len_at, sizeof path_len);
  size_t len = rd->head + path_len;
  char *args = cask__malloc(len);
  if (!args) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], n = 1;
  cask__block_box(a, bidx, off, ext);
  memcpy(args, a->ext, len);
  memcpy(args + rd->off_at, off, sizeof off[0] * (size_t)a->ndim);
  memcpy(args + rd->ext_at, ext, sizeof ext[0] * (size_t)a->ndim);
  int rc = cask__graph_add(L->g, key, *rd->op, args, len, NULL, 0, out);
  cask__free(args);
  for (int i = 0; i < a->ndim; i++) n *= ext[i];
  if (!rc) cask_graph_set_size(L->g, *out, n * (int64_t)cask__itemsize(a));
  return rc;
}
