/* consumer.c - a program built against an installed cask: runs a
 * three-task graph whose op has JSON hooks written with cJSON (which the
 * package brings), writes it as JSON and reads it back, and, given a graph
 * file of arrays (argv[1], made by `cask graph`), reads and runs it in this
 * fresh process without ever making an array context. So the install test
 * proves the headers, the library and its dependencies are all found. */
#include <cask/cask.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_to_json(const void *args, size_t len, struct cJSON *obj) {
  int64_t v = 0; /* tasks without arguments add 0 */
  if (len && len != sizeof v) return CASK_EINVAL;
  if (len) memcpy(&v, args, sizeof v);
  return cJSON_AddNumberToObject(obj, "add", (double)v) ? CASK_OK : CASK_ENOMEM;
}

static int add_from_json(const struct cJSON *obj, void **args, size_t *len, char *err, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "add");
  if (!cJSON_IsNumber(v)) {
    snprintf(err, cap, "\"add\" must be a number");
    return CASK_EJSON;
  }
  int64_t *p = cask_malloc(sizeof *p);
  if (!p) return CASK_ENOMEM;
  *p = (int64_t)v->valuedouble;
  *args = p;
  *len = sizeof *p;
  return CASK_OK;
}

/* A graph file of arrays, read and run here with no array context made. */
static int run_array_graph(const char *path) {
  cask_graph *g;
  char *err = NULL;
  cask_runtime *rt;
  cask_results *res;
  if (cask_graph_read_json(path, &g, &err)) {
    fprintf(stderr, "consumer: %s: %s\n", path, err ? err : "");
    cask_free(err);
    return 1;
  }
  if (cask_runtime_new(NULL, &rt)) {
    fprintf(stderr, "consumer: %s\n", cask_create_errmsg());
    return 1;
  }
  int rc = cask_run(rt, g, NULL, &res);
  if (rc) fprintf(stderr, "consumer: running %s: %s\n", path, cask_runtime_errmsg(rt));
  else printf("consumer: ran the %zu tasks of %s\n", cask_graph_size(g), path);
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
  return rc != CASK_OK;
}

static int one_run(cask_task_io *io) {
  int rc = cask_block_new(CASK_I64, 0, NULL, &io->output);
  if (rc) return rc;
  int64_t s = 1;
  for (size_t i = 0; i < io->ninputs; i++) s += *(const int64_t *)cask_block_data(io->inputs[i]);
  *(int64_t *)cask_block_data(io->output) = s;
  return CASK_OK;
}

int main(int argc, char **argv) {
  if (argc > 1) return run_array_graph(argv[1]);
  if (cask_version() != CASK_VERSION_HEX) {
    fprintf(stderr, "header %x and library %x versions differ\n", CASK_VERSION_HEX, cask_version());
    return 1;
  }
  const cask_op *op;
  cask_graph *g;
  cask_runtime *rt;
  cask_results *res;
  cask_task_id a, b, c;
  int64_t add = 0;
  if (cask_op_register(&(cask_op){.name = "consumer.one", .run = one_run, .args_to_json = add_to_json,
                                  .args_from_json = add_from_json},
                       &op) ||
      cask_graph_new(&g) || cask_graph_add(g, "a", op, NULL, 0, NULL, 0, &a) ||
      cask_graph_add(g, "b", op, NULL, 0, NULL, 0, &b) ||
      cask_graph_add(g, "c", op, &add, sizeof add, (cask_task_id[]){a, b}, 2, &c) ||
      cask_runtime_new(NULL, &rt) || cask_run(rt, g, NULL, &res)) {
    fprintf(stderr, "consumer: cask call failed\n");
    return 1;
  }
  int64_t v = *(const int64_t *)cask_block_data(cask_results_get(res, c));
  printf("cask %s: c = %lld\n", cask_version_string(), (long long)v);
  char *text = NULL, *err = NULL;
  size_t len;
  cask_graph *back = NULL;
  int json_ok = !cask_graph_to_json(g, &text, &len) && !cask_graph_from_json(text, len, &back, &err) &&
                cask_graph_size(back) == 3;
  if (!json_ok) fprintf(stderr, "consumer: JSON round trip failed: %s\n", err ? err : cask_graph_errmsg(g));
  cask_free(text);
  cask_free(err);
  cask_graph_free(back);
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
  return v == 3 && json_ok ? 0 : 1;
}
