/* init.c - what makes the array module ready: the one table of op
 * registrars (one per file with ops), run once per process, and contexts,
 * which are only created after it has run.
 * The one thing to know: this file sits above every folder of arrays (it
 * is the only one that knows them all); adding a file with ops means
 * adding its registrar to the table, nothing else. */
#include <uv.h>

#include "core/array-int.h"
#include "io/io.h"
#include "ops/ops.h"
#include "ops/sort-int.h"

/* Every file's op registrar (SQLite's builtin function table, blosc2's
 * register_codecs): a graph file naming any of these ops can be run. */
static void (*const registrars[])(void) = {
  cask__register_ghost_ops,
  cask__register_source_ops,
  cask__register_reduce_ops,
  cask__register_scan_ops,
  cask__register_sort_ops,
  cask__register_count_ops,
  cask__register_map_ops,
  cask__register_npy_ops,
  cask__register_linalg_ops,
  cask__register_lapack_ops,
  cask__register_tsqr_ops,
  cask__register_structure_ops,
  cask__register_zarr_ops,
  cask__register_zarr3_ops,
  cask__register_store_ops,
  cask__register_tasks_ops,
  cask__register_select_ops,
  cask__register_kernel_ops,
  cask__register_hdf5_ops,
  cask__register_hdf5_write_ops,
  cask__register_netcdf_ops,
  cask__register_netcdf_write_ops,
};

/* Once per process (uv_once): contexts on several threads must not write
 * the op pointers while another lowers with them. */
static void register_once(void) {
  for (size_t i = 0; i < sizeof registrars / sizeof registrars[0]; i++) registrars[i]();
}

void cask_register_array_ops(void) {
  static uv_once_t once = UV_ONCE_INIT;
  uv_once(&once, register_once);
}

/* When libcask is loaded: a graph file of arrays read by a program that
 * never made a context found no "array.npy_read" op. (A program linking
 * the static library and no array call calls cask_register_array_ops.) */
__attribute__((constructor)) static void register_at_load(void) { cask_register_array_ops(); }

int cask_ctx_new(const cask_options *opts, cask_ctx **out) {
  if (!out) return cask__create_fail(CASK_EINVAL, "cask_ctx_new: out is NULL");
  *out = NULL;
  cask_options o = opts ? *opts : (cask_options)CASK_OPTIONS_DEFAULTS;
  if (o.split_every < 0 || o.split_every == 1 || o.split_every > 1024)
    return cask__create_fail(CASK_EINVAL, "cask_ctx_new: split_every %d is not 0 (8) or 2 to 1024", o.split_every);
  if (o.chunk_bytes < 0)
    return cask__create_fail(CASK_EINVAL, "cask_ctx_new: chunk_bytes %lld is negative", (long long)o.chunk_bytes);
  cask_ctx *ctx = cask__calloc(1, sizeof *ctx);
  if (!ctx) return cask__create_fail(CASK_ENOMEM, "cask_ctx_new: out of memory");
  /* the runtime's message, if it fails, is the one cask_create_errmsg gives */
  int rc = cask_runtime_new(&(cask_runtime_options){o.threads, o.memory_limit, o.spill_dir, CASK_DROP_DEFAULT}, &ctx->rt);
  if (rc) {
    cask__free(ctx);
    return rc;
  }
  atomic_init(&ctx->refs, 1);
  ctx->split_every = o.split_every ? o.split_every : 8;
  ctx->chunk_bytes = o.chunk_bytes > 0 ? o.chunk_bytes : (int64_t)128 << 20;
  cask_register_array_ops();
  *out = ctx;
  return CASK_OK;
}
