/* hello_graph.c - the README's example: three tasks, c = a + b + 1.
 * Kept compiling and running by ctest so the README stays true. */
#include <stdio.h>

#include <cask/cask.h>

static int one(cask_task_io *io) {            /* an op: 1 + sum of inputs */
  int rc = cask_block_new(CASK_I64, 0, NULL, &io->output);
  if (rc) return rc;
  int64_t s = 1;
  for (size_t i = 0; i < io->ninputs; i++)
    s += *(const int64_t *)cask_block_data(io->inputs[i]);
  *(int64_t *)cask_block_data(io->output) = s;
  return CASK_OK;
}

int main(void) {
  const cask_op *op;
  cask_op_register(&(cask_op){.name = "example.one", .run = one}, &op);

  cask_graph *g;
  cask_task_id a, b, c;
  cask_graph_new(&g);
  cask_graph_add(g, "a", op, NULL, 0, NULL, 0, &a);
  cask_graph_add(g, "b", op, NULL, 0, NULL, 0, &b);
  cask_graph_add(g, "c", op, NULL, 0, (cask_task_id[]){a, b}, 2, &c);
  cask_graph_set_output(g, c, 1);

  cask_runtime *rt;
  cask_results *res;
  if (cask_runtime_new(NULL, &rt) != CASK_OK) {  /* threads: all cores */
    fprintf(stderr, "%s\n", cask_create_errmsg()); /* e.g. a bad CASK_NUM_THREADS */
    return 1;
  }
  int rc = cask_run(rt, g, NULL, &res);
  if (rc != CASK_OK)
    fprintf(stderr, "%s\n", cask_runtime_errmsg(rt));   /* names task, op, message */
  else
    printf("c = %lld\n", (long long)*(int64_t *)cask_block_data(cask_results_get(res, c)));
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
  return rc != CASK_OK;
}
