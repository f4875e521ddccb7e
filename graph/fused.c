/* fused.c - the "cask.fused" op: a linear chain of tasks run as one.
 * Its argument blob is the chain's elements in order, head first; each
 * element is {op, key_len, args_len} followed by the key (NUL-terminated)
 * and the args, each padded to 8 bytes. The head gets the fused task's
 * inputs; every later element gets its predecessor's block as its one
 * input. Keys are kept so an error names the sub-task that failed. */
#include <stdio.h>

#include "graph-int.h"

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

int cask__fused_next(const void *blob, size_t len, size_t *pos,
                     const cask_op **op, const char **key, uint32_t *key_len,
                     const void **args, uint32_t *args_len) {
  const unsigned char *b = blob;
  if (*pos >= len || len - *pos < sizeof(cask__fused_elem)) return 0;
  cask__fused_elem e;
  memcpy(&e, b + *pos, sizeof e);
  size_t need = sizeof e + pad8((size_t)e.key_len + 1) + pad8(e.args_len);
  if (need > len - *pos || !e.op) return 0;
  *op = e.op;
  *key = (const char *)b + *pos + sizeof e;
  *key_len = e.key_len;
  *args = b + *pos + sizeof e + pad8((size_t)e.key_len + 1);
  *args_len = e.args_len;
  *pos += need;
  return 1;
}

uint32_t cask__fused_count(const void *blob, size_t len) {
  size_t pos = 0;
  uint32_t n = 0, kl, al;
  const cask_op *op;
  const char *key;
  const void *args;
  while (cask__fused_next(blob, len, &pos, &op, &key, &kl, &args, &al)) n++;
  return pos == len ? n : 0;
}

int cask__fused_append(unsigned char **blob, size_t *len, size_t *cap,
                       const cask_op *op, const char *key, uint32_t key_len,
                       const void *args, uint32_t args_len) {
  size_t need = sizeof(cask__fused_elem) + pad8((size_t)key_len + 1) + pad8(args_len);
  int rc = cask__grow((void **)blob, cap, *len + need, 1);
  if (rc) return rc;
  unsigned char *p = *blob + *len;
  memset(p, 0, need);
  cask__fused_elem e = {op, key_len, args_len};
  memcpy(p, &e, sizeof e);
  memcpy(p + sizeof e, key, key_len);
  if (args_len) memcpy(p + sizeof e + pad8((size_t)key_len + 1), args, args_len);
  *len += need;
  return CASK_OK;
}

int cask__fused_run(cask_task_io *io) {
  size_t pos = 0;
  const cask_op *op;
  const char *key;
  uint32_t kl, al;
  const void *args;
  cask_block *prev = NULL;
  int first = 1;
  while (cask__fused_next(io->args, io->args_len, &pos, &op, &key, &kl, &args, &al)) {
    cask_task_io sub = *io;
    sub.args = args;
    sub.args_len = al;
    sub.output = NULL;
    sub.op_data = op->op_data;
    if (!first) {
      sub.inputs = &prev;
      sub.ninputs = 1;
    }
    if (io->errmsg && io->errmsg_cap) io->errmsg[0] = '\0';
    int rc = op->run(&sub);
    if (!first) cask_block_release(prev);
    if (rc) {
      cask_block_release(sub.output);
      if (io->errmsg && io->errmsg_cap) {
        char inner[512];
        cask__fmt(inner, sizeof inner, "%s", io->errmsg);
        cask__fmt(io->errmsg, io->errmsg_cap, "in fused sub-task '%.*s' (op %s): %s",
                  (int)kl, key, op->name, inner[0] ? inner : cask_strerror(rc));
      }
      return rc;
    }
    prev = sub.output;
    first = 0;
  }
  if (pos != io->args_len) {
    cask_block_release(prev);
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed fused chain arguments");
    return CASK_EINVAL;
  }
  io->output = prev;
  return CASK_OK;
}
