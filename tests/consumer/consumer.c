/* consumer.c - a program built against an installed cask: runs a
 * three-task graph and checks the version, so the install test proves the
 * headers, the library and its dependencies are all found. */
#include <cask/cask.h>
#include <stdio.h>

static int one_run(cask_task_io *io) {
  int rc = cask_block_new(CASK_I64, 0, NULL, &io->output);
  if (rc) return rc;
  int64_t s = 1;
  for (size_t i = 0; i < io->ninputs; i++) s += *(const int64_t *)cask_block_data(io->inputs[i]);
  *(int64_t *)cask_block_data(io->output) = s;
  return CASK_OK;
}

int main(void) {
  if (cask_version() != CASK_VERSION_HEX) {
    fprintf(stderr, "header %x and library %x versions differ\n", CASK_VERSION_HEX, cask_version());
    return 1;
  }
  const cask_op *op;
  cask_graph *g;
  cask_runtime *rt;
  cask_results *res;
  cask_task_id a, b, c;
  if (cask_op_register(&(cask_op){.name = "consumer.one", .run = one_run}, &op) ||
      cask_graph_new(&g) || cask_graph_add(g, "a", op, NULL, 0, NULL, 0, &a) ||
      cask_graph_add(g, "b", op, NULL, 0, NULL, 0, &b) ||
      cask_graph_add(g, "c", op, NULL, 0, (cask_task_id[]){a, b}, 2, &c) ||
      cask_runtime_new(NULL, &rt) || cask_run(rt, g, NULL, &res)) {
    fprintf(stderr, "consumer: cask call failed\n");
    return 1;
  }
  int64_t v = *(const int64_t *)cask_block_data(cask_results_get(res, c));
  printf("cask %s: c = %lld\n", cask_version_string(), (long long)v);
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
  return v == 3 ? 0 : 1;
}
