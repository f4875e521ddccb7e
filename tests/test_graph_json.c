/* test_graph_json.c - graphs as JSON and DOT: round trips, the reader's
 * rejection of bad documents (each checked for its code and for a message
 * that names the field), and the file writers.
 * The test ops are registered by a fixture in every test's process; a
 * second registration (CK_FORK=no) finds them already there. "test_json.scale"
 * writes its own JSON fields; "test_json.const" has no JSON functions, so its
 * arguments go through the hex fallback. */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cask/cask.h"
#include "graph/graph-int.h"

/* ---- test ops ---------------------------------------------------------- */

typedef struct scale_args {
  double factor, offset;
} scale_args;

static int new_scalar(double v, cask_block **out) {
  int rc = cask_block_new(CASK_F64, 0, NULL, out);
  if (!rc) *(double *)cask_block_data(*out) = v;
  return rc;
}

/* const: no inputs, its argument bytes are the double it produces. */
static int const_run(cask_task_io *io) {
  double v = 0;
  if (io->args_len == sizeof v) memcpy(&v, io->args, sizeof v);
  return new_scalar(v, &io->output);
}

/* scale: one input x, produces x * factor + offset. */
static int scale_run(cask_task_io *io) {
  scale_args a;
  if (io->ninputs != 1 || !io->inputs[0] || io->args_len != sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  return new_scalar(*(double *)cask_block_data(io->inputs[0]) * a.factor + a.offset, &io->output);
}

static int scale_to_json(const void *args, size_t len, cJSON *obj) {
  scale_args a;
  if (len != sizeof a) return CASK_ENOTSERIAL;
  memcpy(&a, args, sizeof a);
  if (!cJSON_AddNumberToObject(obj, "factor", a.factor) ||
      !cJSON_AddNumberToObject(obj, "offset", a.offset))
    return CASK_ENOMEM;
  return CASK_OK;
}

/* "factor" is required, "offset" defaults to 0. */
static int scale_from_json(const cJSON *obj, void **args, size_t *len, char *err, size_t cap) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, "factor");
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, "offset");
  if (!cJSON_IsNumber(f) || (o && !cJSON_IsNumber(o))) {
    snprintf(err, cap, "\"factor\" (and \"offset\", if given) must be numbers");
    return CASK_EJSON;
  }
  scale_args *a = cask_malloc(sizeof *a);
  if (!a) return CASK_ENOMEM;
  a->factor = f->valuedouble;
  a->offset = o ? o->valuedouble : 0;
  *args = a;
  *len = sizeof *a;
  return CASK_OK;
}

static int refuse_to_json(const void *args, size_t len, cJSON *obj) {
  return CASK_ENOTSERIAL;
}

static void register_ops(void) {
  static const cask_op defs[] = {
      {"test_json.const", const_run, NULL, NULL, NULL, 0, 0},
      {"test_json.scale", scale_run, scale_to_json, scale_from_json, NULL, 0, 0},
      {"test_json.refuse", const_run, refuse_to_json, NULL, NULL, 0, 0},
  };
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
    int rc = cask_op_register(&defs[i], NULL);
    ck_assert(rc == CASK_OK || rc == CASK_EOPEXISTS);
  }
}

static const cask_op *op(const char *name) {
  const cask_op *o = cask_op_find(name);
  ck_assert_ptr_nonnull(o);
  return o;
}

/* ---- helpers ----------------------------------------------------------- */

static cask_task_id add_const(cask_graph *g, const char *key, double v) {
  cask_task_id id;
  ck_assert_int_eq(cask_graph_add(g, key, op("test_json.const"), &v, sizeof v, NULL, 0, &id), 0);
  return id;
}

static cask_task_id add_scale(cask_graph *g, const char *key, cask_task_id dep, double factor,
                              double offset) {
  scale_args a = {factor, offset};
  cask_task_id id;
  ck_assert_int_eq(cask_graph_add(g, key, op("test_json.scale"), &a, sizeof a, &dep, 1, &id), 0);
  return id;
}

static cask_graph *round_trip(cask_graph *g, char **text_out) {
  char *text, *err = NULL;
  size_t len;
  cask_graph *back;
  ck_assert_int_eq(cask_graph_to_json(g, &text, &len), 0);
  ck_assert_uint_eq(strlen(text), len);
  int rc = cask_graph_from_json(text, len, &back, &err);
  ck_assert_msg(rc == 0, "read back failed: %s (%s)", cask_err_name(rc), err ? err : "");
  ck_assert_ptr_null(err);
  if (text_out)
    *text_out = text;
  else
    cask_free(text);
  return back;
}

/* Reading doc must fail with rc and a message holding every non-NULL
 * string of want[]. */
static void expect_reject(const char *doc, int rc, const char *const want[3]) {
  cask_graph *g = (cask_graph *)1;
  char *err = NULL;
  int got = cask_graph_from_json(doc, strlen(doc), &g, &err);
  ck_assert_msg(got == rc, "%s: got %s, want %s (%s)", doc, cask_err_name(got), cask_err_name(rc),
                err ? err : "no message");
  ck_assert_ptr_null(g);
  ck_assert_msg(err != NULL, "%s: no message", doc);
  for (int i = 0; i < 3 && want[i]; i++)
    ck_assert_msg(strstr(err, want[i]) != NULL, "%s: message \"%s\" lacks \"%s\"", doc, err,
                  want[i]);
  cask_free(err);
}

static double run_task(const cask_graph *g, const char *key, cask_block *input) {
  cask_task_id id;
  ck_assert_int_eq(cask_graph_find(g, key, &id), 0);
  char err[256] = "";
  cask_task_io io = {0};
  io.args = cask_graph_args(g, id, &io.args_len);
  io.inputs = &input;
  io.ninputs = input ? 1 : 0;
  io.errmsg = err;
  io.errmsg_cap = sizeof err;
  const cask_op *o = cask_graph_op(g, id);
  io.op_data = o->op_data;
  int rc = o->run(&io);
  ck_assert_msg(rc == 0, "running %s: %s", key, err);
  ck_assert_ptr_nonnull(io.output);
  double v = *(double *)cask_block_data(io.output);
  cask_block_release(io.output);
  return v;
}

static char *make_tmpdir(void) {
  char *dir = strdup("/tmp/cask-json-test-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

/* Names in dir, sorted, joined by ' '. */
static char *list_dir(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  char *names[64];
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && n < 64) names[n++] = strdup(e->d_name);
  closedir(d);
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j];
      names[j] = names[j - 1];
      names[j - 1] = t;
    }
  char *out = calloc(1, 64 * 300);
  for (size_t i = 0; i < n; i++) {
    if (i) strcat(out, " ");
    strcat(out, names[i]);
    free(names[i]);
  }
  return out;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  char path[4096];
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) != 0) remove_tree(path);
  }
  closedir(d);
  rmdir(dir);
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

/* A graph with every feature the format has: keys that need escaping, both
 * kinds of argument, no arguments, several and forward-declared
 * dependencies, outputs and sizes. */
static const char *const odd_keys[] = {
    "plain", "quote\"d", "back\\slash", "new\nline\ttab", "ctl\x01\x1f", "utf8-caf\xc3\xa9-\xe2\x88\x91",
    /* for the reader's scanner, which matches brackets outside strings */
    "br]}{[,:\\\"x", "ends-in-backslash\\",
};
#define NODD (sizeof odd_keys / sizeof odd_keys[0])

static cask_graph *feature_graph(void) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), 0);
  cask_task_id c = add_const(g, odd_keys[0], 1.5);
  cask_task_id s = add_scale(g, odd_keys[1], c, 2, 0.25);
  cask_task_id deps[] = {c, s};
  cask_task_id n;
  ck_assert_int_eq(cask_graph_add(g, odd_keys[2], cask__op_noop, NULL, 0, deps, 2, &n), 0);
  const char *fwd[] = {odd_keys[4], odd_keys[2]};
  cask_task_id f;
  ck_assert_int_eq(cask_graph_add_keyed(g, odd_keys[3], cask__op_noop, NULL, 0, fwd, 2, &f), 0);
  add_const(g, odd_keys[4], -7);
  unsigned char bytes[] = {0, 1, 0x7f, 0x80, 0xff};
  cask_task_id r;
  ck_assert_int_eq(cask_graph_add(g, odd_keys[5], op("test_json.const"), bytes, sizeof bytes, &f, 1, &r), 0);
  const char *prev[] = {odd_keys[5], odd_keys[7]};
  ck_assert_int_eq(cask_graph_add_keyed(g, odd_keys[6], cask__op_noop, NULL, 0, prev, 2, NULL), 0);
  ck_assert_int_eq(cask_graph_add_keyed(g, odd_keys[7], cask__op_noop, NULL, 0, NULL, 0, NULL), 0);
  ck_assert_int_eq(cask_graph_set_output(g, f, 1), 0);
  ck_assert_int_eq(cask_graph_set_output(g, r, 1), 0);
  ck_assert_int_eq(cask_graph_set_size(g, c, 8), 0);
  ck_assert_int_eq(cask_graph_set_size(g, s, 0), 0);
  ck_assert_int_eq(cask_graph_set_size(g, r, (int64_t)1 << 40), 0);
  ck_assert_int_eq(cask_graph_validate(g), 0);
  return g;
}

static void assert_same_graph(const cask_graph *a, const cask_graph *b) {
  ck_assert_uint_eq(cask_graph_size(a), cask_graph_size(b));
  for (cask_task_id i = 0; i < cask_graph_size(a); i++) {
    ck_assert_str_eq(cask_graph_key(a, i), cask_graph_key(b, i));
    ck_assert_ptr_eq(cask_graph_op(a, i), cask_graph_op(b, i));
    size_t la, lb;
    const void *pa = cask_graph_args(a, i, &la), *pb = cask_graph_args(b, i, &lb);
    ck_assert_uint_eq(la, lb);
    if (la) ck_assert_mem_eq(pa, pb, la);
    ck_assert_int_eq(cask_graph_is_output(a, i), cask_graph_is_output(b, i));
    ck_assert_int_eq(cask_graph_size_estimate(a, i), cask_graph_size_estimate(b, i));
    size_t na, nb;
    const cask_task_id *da = cask_graph_deps(a, i, &na), *db = cask_graph_deps(b, i, &nb);
    ck_assert_uint_eq(na, nb);
    for (size_t k = 0; k < na; k++) ck_assert_str_eq(cask_graph_key(a, da[k]), cask_graph_key(b, db[k]));
    ck_assert_uint_eq(cask_graph_priority(a, i), cask_graph_priority(b, i));
  }
}

/* ---- round trips ------------------------------------------------------- */

START_TEST(json_round_trip_keeps_keys_ops_args_deps_outputs_sizes) {
  cask_graph *g = feature_graph();
  char *text;
  cask_graph *back = round_trip(g, &text);
  assert_same_graph(g, back);
  /* The same graph writes the same text: nothing is lost or reordered. */
  char *again;
  size_t len;
  ck_assert_int_eq(cask_graph_to_json(back, &again, &len), 0);
  ck_assert_str_eq(text, again);
  ck_assert_ptr_nonnull(strstr(text, "\"cask_graph\":1,\"ntasks\":8,"));
  ck_assert_ptr_nonnull(strstr(text, "\"args\":{\"factor\":2,\"offset\":0.25}"));
  ck_assert_ptr_nonnull(strstr(text, "\"args\":{\"args_hex\":\"00017f80ff\"}"));
  ck_assert_ptr_nonnull(strstr(text, "\"size\":1099511627776"));
  ck_assert_ptr_null(strstr(text, "priority")); /* not ordered */
  cask_free(text);
  cask_free(again);
  cask_graph_free(back);
  cask_graph_free(g);
}
END_TEST

START_TEST(json_writer_escapes_strings_like_cjson) {
  cask_graph *g = feature_graph();
  char *text;
  ck_assert_int_eq(cask_graph_to_json(g, &text, NULL), 0);
  for (size_t i = 0; i < NODD; i++) {
    cJSON *s = cJSON_CreateString(odd_keys[i]);
    char *want = cJSON_PrintUnformatted(s);
    ck_assert_msg(strstr(text, want) != NULL, "%s not in the text", want);
    cJSON_free(want);
    cJSON_Delete(s);
  }
  /* And the whole text is JSON cJSON reads. */
  cJSON *root = cJSON_Parse(text);
  ck_assert_ptr_nonnull(root);
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "tasks")), 8);
  cJSON_Delete(root);
  cask_free(text);
  cask_graph_free(g);
}
END_TEST

START_TEST(json_round_trip_of_empty_graph) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), 0);
  char *text;
  cask_graph *back = round_trip(g, &text);
  ck_assert_str_eq(text, "{\"cask_graph\":1,\"ntasks\":0,\"tasks\":[\n]}\n");
  ck_assert_uint_eq(cask_graph_size(back), 0);
  cask_free(text);
  cask_graph_free(back);
  cask_graph_free(g);
}
END_TEST

/* Two chains: a -> s1 -> s2 (output) and b -> t1, both feeding "total". */
static cask_graph *chain_graph(void) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), 0);
  cask_task_id a = add_const(g, "a", 3);
  cask_task_id s1 = add_scale(g, "s1", a, 2, 1);
  cask_task_id s2 = add_scale(g, "s2", s1, 10, 0);
  cask_task_id b = add_const(g, "b", 4);
  cask_task_id t1 = add_scale(g, "t1", b, 0.5, 0);
  cask_task_id both[] = {s2, t1}, total;
  ck_assert_int_eq(cask_graph_add(g, "total", cask__op_noop, NULL, 0, both, 2, &total), 0);
  ck_assert_int_eq(cask_graph_set_output(g, s2, 1), 0);
  ck_assert_int_eq(cask_graph_set_output(g, total, 1), 0);
  return g;
}

START_TEST(json_round_trip_of_fused_graph_runs_same_chain) {
  cask_graph *g = chain_graph();
  ck_assert_int_eq(cask_graph_fuse(g), 0);
  cask_task_id s2, t1;
  ck_assert_int_eq(cask_graph_find(g, "s2", &s2), 0);
  ck_assert_int_eq(cask_graph_find(g, "t1", &t1), 0);
  ck_assert_ptr_eq(cask_graph_op(g, s2), cask__op_fused);
  ck_assert_ptr_eq(cask_graph_op(g, t1), cask__op_fused);
  char *text;
  cask_graph *back = round_trip(g, &text);
  ck_assert_ptr_nonnull(strstr(text, "\"op\":\"cask.fused\",\"args\":{\"chain\":[{\"key\":\"a\","
                                     "\"op\":\"test_json.const\",\"args\":{\"args_hex\":"));
  ck_assert_ptr_nonnull(strstr(text, "{\"key\":\"s1\",\"op\":\"test_json.scale\",\"args\":{\"factor\":2,\"offset\":1}}"));
  /* Same keys, same ops, byte-identical chain blobs (op pointers
   * included: the registry gives the same op for the same name). */
  assert_same_graph(g, back);
  size_t len;
  const void *blob = cask_graph_args(back, s2, &len);
  ck_assert_uint_eq(cask__fused_count(blob, len), 3);
  /* And the chain computes the same: ((3 * 2) + 1) * 10. */
  ck_assert_double_eq(run_task(g, "s2", NULL), 70);
  ck_assert_double_eq(run_task(back, "s2", NULL), 70);
  ck_assert_double_eq(run_task(back, "t1", NULL), 2);
  cask_free(text);
  cask_graph_free(back);
  cask_graph_free(g);
}
END_TEST

START_TEST(json_round_trip_keeps_priorities_of_ordered_graph) {
  cask_graph *g = chain_graph();
  ck_assert_int_eq(cask_graph_order(g), 0);
  char *text;
  cask_graph *back = round_trip(g, &text);
  ck_assert_ptr_nonnull(strstr(text, "\"priority\":"));
  assert_same_graph(g, back); /* priorities included */
  cask_free(text);
  cask_graph_free(back);
  cask_graph_free(g);
}
END_TEST

START_TEST(json_reader_derives_priorities_instead_of_trusting_them) {
  /* Priorities that would run the consumer first: the reader orders the
   * graph itself. */
  const char *doc = "{\"tasks\":["
                    "{\"key\":\"x\",\"op\":\"cask.noop\",\"priority\":1},"
                    "{\"key\":\"y\",\"op\":\"cask.noop\",\"deps\":[\"x\"],\"priority\":0}]}";
  cask_graph *g;
  ck_assert_int_eq(cask_graph_from_json(doc, strlen(doc), &g, NULL), 0);
  ck_assert_uint_eq(cask_graph_priority(g, 0), 0);
  ck_assert_uint_eq(cask_graph_priority(g, 1), 1);
  cask_graph_free(g);
  /* Without priorities in the file the graph is not ordered. */
  const char *plain = "{\"tasks\":[{\"key\":\"x\",\"op\":\"cask.noop\"}]}";
  ck_assert_int_eq(cask_graph_from_json(plain, strlen(plain), &g, NULL), 0);
  ck_assert_uint_eq(cask_graph_priority(g, 0), UINT32_MAX);
  cask_graph_free(g);
}
END_TEST

START_TEST(json_reads_hand_written_document) {
  /* As Python's json.dump(graph, f, indent=2) writes it: whitespace, fields
   * in any order, \u escapes for non-ASCII, optional fields left out, a
   * dependency on a task that comes later, upper-case hex. */
  static const char doc[] =
      "{\n"
      "  \"tasks\": [\n"
      "    {\n"
      "      \"op\": \"test_json.scale\",\n"
      "      \"key\": \"scaled-caf\\u00e9-\\ud83d\\ude00\",\n"
      "      \"deps\": [\"load\"],\n"
      "      \"args\": {\"factor\": 2.5},\n"
      "      \"output\": true\n"
      "    },\n"
      "    {\"key\": \"load\", \"op\": \"test_json.const\", \"size\": 8,\n"
      "     \"args\": {\"args_hex\": \"000000000000F03F\"}},\n"
      "    {\"key\": \"idle\", \"op\": \"cask.noop\", \"output\": false, \"deps\": []}\n"
      "  ],\n"
      "  \"cask_graph\": 1\n"
      "}\n";
  cask_graph *g;
  char *err = NULL;
  int rc = cask_graph_from_json(doc, sizeof doc - 1, &g, &err);
  ck_assert_msg(rc == 0, "%s", err ? err : "");
  ck_assert_uint_eq(cask_graph_size(g), 3);
  const char *key = "scaled-caf\xc3\xa9-\xf0\x9f\x98\x80";
  ck_assert_str_eq(cask_graph_key(g, 0), key);
  ck_assert_int_eq(cask_graph_is_output(g, 0), 1);
  ck_assert_int_eq(cask_graph_is_output(g, 2), 0);
  ck_assert_int_eq(cask_graph_size_estimate(g, 1), 8);
  ck_assert_int_eq(cask_graph_size_estimate(g, 0), -1);
  size_t n;
  const cask_task_id *deps = cask_graph_deps(g, 0, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert_uint_eq(deps[0], 1);
  size_t len;
  const scale_args *a = cask_graph_args(g, 0, &len);
  ck_assert_uint_eq(len, sizeof *a);
  ck_assert_double_eq(a->factor, 2.5);
  ck_assert_double_eq(a->offset, 0);
  cask_block *one;
  ck_assert_int_eq(new_scalar(run_task(g, "load", NULL), &one), 0);
  ck_assert_double_eq(run_task(g, key, one), 2.5);
  cask_block_release(one);
  cask_graph_free(g);
  /* With a UTF-8 byte order mark in front, as some editors save it. */
  static const char bom[] = "\xef\xbb\xbf{\"tasks\": [{\"key\": \"k\", \"op\": \"cask.noop\"}]}";
  ck_assert_int_eq(cask_graph_from_json(bom, sizeof bom - 1, &g, NULL), 0);
  ck_assert_str_eq(cask_graph_key(g, 0), "k");
  cask_graph_free(g);
}
END_TEST

START_TEST(json_reads_what_it_writes_through_files) {
  char *dir = make_tmpdir(), path[4096];
  snprintf(path, sizeof path, "%s/graph.json", dir);
  cask_graph *g = feature_graph(), *back;
  ck_assert_int_eq(cask_graph_order(g), 0);
  ck_assert_int_eq(cask_graph_write_json(g, path), 0);
  char *err = NULL;
  ck_assert_int_eq(cask_graph_read_json(path, &back, &err), 0);
  assert_same_graph(g, back);
  cask_graph_free(back);
  cask_graph_free(g);
  remove_tree(dir);
  free(dir);
}
END_TEST

/* ---- the reader rejects bad documents ---------------------------------- */

START_TEST(json_reader_rejects_unknown_op_and_names_it) {
  expect_reject("{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\"},"
                "{\"key\":\"b\",\"op\":\"no.such.op\",\"deps\":[\"a\"]}]}",
                CASK_EUNKNOWNOP, (const char *[3]){"task 1 (key 'b')", "\"op\"", "'no.such.op'"});
  /* Inside a fused chain too. */
  expect_reject("{\"tasks\":[{\"key\":\"f\",\"op\":\"cask.fused\",\"args\":{\"chain\":["
                "{\"key\":\"h\",\"op\":\"cask.noop\"},{\"key\":\"i\",\"op\":\"gone.op\"}]}}]}",
                CASK_EUNKNOWNOP, (const char *[3]){"task 0 (key 'f')", "\"chain\"[1] (key 'i')", "'gone.op'"});
}
END_TEST

START_TEST(json_reader_rejects_missing_dep_and_names_both_keys) {
  expect_reject("{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\"},"
                "{\"key\":\"b\",\"op\":\"cask.noop\",\"deps\":[\"a\",\"ghost\"]}]}",
                CASK_EMISSINGDEP, (const char *[3]){"task 1 (key 'b')", "\"deps\"", "'ghost'"});
}
END_TEST

START_TEST(json_reader_rejects_cycle) {
  expect_reject("{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\",\"deps\":[\"c\"]},"
                "{\"key\":\"b\",\"op\":\"cask.noop\",\"deps\":[\"a\"]},"
                "{\"key\":\"c\",\"op\":\"cask.noop\",\"deps\":[\"b\"]}]}",
                CASK_ECYCLE, (const char *[3]){"'a'", "'b'", "'c'"});
  expect_reject("{\"tasks\":[{\"key\":\"self\",\"op\":\"cask.noop\",\"deps\":[\"self\"]}]}",
                CASK_ECYCLE, (const char *[3]){"cycle", "'self'"});
}
END_TEST

START_TEST(json_reader_rejects_duplicate_key_and_names_both_tasks) {
  expect_reject("{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\"},{\"key\":\"z\",\"op\":\"cask.noop\"},"
                "{\"key\":\"a\",\"op\":\"cask.noop\"}]}",
                CASK_EDUPKEY, (const char *[3]){"task 2 (key 'a')", "\"key\"", "task 0"});
}
END_TEST

static char *nested(size_t depth, const char *prefix, const char *suffix) {
  size_t np = strlen(prefix), ns = strlen(suffix);
  char *s = malloc(np + 2 * depth + ns + 1);
  memcpy(s, prefix, np);
  memset(s + np, '[', depth);
  memset(s + np + depth, ']', depth);
  memcpy(s + np + 2 * depth, suffix, ns + 1);
  return s;
}

START_TEST(json_reader_rejects_deep_nesting) {
  char *deep = nested(100000, "", "");
  expect_reject(deep, CASK_EJSON, (const char *[3]){"nested deeper than 1000"});
  free(deep);
  /* Unbalanced: only openers. */
  char *open = nested(100000, "", "");
  open[100000] = '\0';
  expect_reject(open, CASK_EJSON, (const char *[3]){"nested deeper"});
  free(open);
  /* Deep inside a task's arguments. */
  char *in_args = nested(5000, "{\"tasks\":[{\"key\":\"a\",\"op\":\"test_json.scale\",\"args\":{\"x\":",
                         "}}]}");
  expect_reject(in_args, CASK_EJSON, (const char *[3]){"nested deeper"});
  free(in_args);
  /* Nesting cJSON accepts still reads, and is refused field by field. */
  char *ok = nested(900, "{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\",\"args\":{\"x\":", "}}]}");
  expect_reject(ok, CASK_EJSON, (const char *[3]){"task 0 (key 'a')", "\"args\"", "\"x\""});
  free(ok);
}
END_TEST

START_TEST(json_reader_rejects_huge_size) {
  static const char *const sizes[] = {"1e300", "1e19", "9223372036854775808", "9007199254740992",
                                      "-1",    "1.5",  "-0.5",                "\"12\"",
                                      "null",  "true", "[8]"};
  char doc[256];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    snprintf(doc, sizeof doc, "{\"tasks\":[{\"key\":\"big\",\"op\":\"cask.noop\",\"size\":%s}]}",
             sizes[i]);
    expect_reject(doc, CASK_EJSON, (const char *[3]){"task 0 (key 'big')", "\"size\""});
  }
  /* The largest exact size still reads. */
  snprintf(doc, sizeof doc,
           "{\"tasks\":[{\"key\":\"big\",\"op\":\"cask.noop\",\"size\":9007199254740991}]}");
  cask_graph *g;
  ck_assert_int_eq(cask_graph_from_json(doc, strlen(doc), &g, NULL), 0);
  ck_assert_int_eq(cask_graph_size_estimate(g, 0), 9007199254740991LL);
  cask_graph_free(g);
}
END_TEST

typedef struct bad_doc {
  const char *doc;
  int rc;
  const char *want[3];
} bad_doc;

#define TASK(fields) "{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\"" fields "}]}"
#define CONST(args) "{\"tasks\":[{\"key\":\"a\",\"op\":\"test_json.const\",\"args\":" args "}]}"
#define FUSED(chain) "{\"tasks\":[{\"key\":\"f\",\"op\":\"cask.fused\",\"args\":" chain "}]}"

static const bad_doc bad_docs[] = {
    /* the document */
    {"", CASK_EJSON, {"malformed JSON", "line 1"}},
    {"[]", CASK_EJSON, {"JSON object"}},
    {"\"tasks\"", CASK_EJSON, {"JSON object"}},
    {"{}", CASK_EJSON, {"\"tasks\"", "missing"}},
    {"{\"tasks\":{}}", CASK_EJSON, {"\"tasks\"", "array"}},
    {"{\"tasks\":null}", CASK_EJSON, {"\"tasks\"", "array"}},
    {"{\"tasks\":[],\"extra\":1}", CASK_EJSON, {"\"extra\"", "not a known field"}},
    {"{\"tasks\":[],\"tasks\":[]}", CASK_EJSON, {"\"tasks\"", "twice"}},
    {"{\"cask_graph\":2,\"tasks\":[]}", CASK_EJSON, {"\"cask_graph\"", "version"}},
    {"{\"cask_graph\":\"1\",\"tasks\":[]}", CASK_EJSON, {"\"cask_graph\"", "version"}},
    {"{\"ntasks\":3,\"tasks\":[]}", CASK_EJSON, {"\"ntasks\"", "is 3", "0 entries"}},
    {"{\"ntasks\":-1,\"tasks\":[]}", CASK_EJSON, {"\"ntasks\""}},
    {"{\"tasks\":[\n{\"key\":\"a\",\"op\":\"cask.noop\"},\n", CASK_EJSON, {"malformed JSON", "line 3"}},
    {"{\"tasks\":[]} trailing", CASK_EJSON, {"malformed JSON", "column 14"}},
    {"{\"tasks\":[],}", CASK_EJSON, {"malformed JSON", "column 13"}},
    {"{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\"},]}", CASK_EJSON, {"malformed JSON", "column 40"}},
    {"{\"tasks\":[}", CASK_EJSON, {"malformed JSON"}},
    {"{\"tasks\":[]]}", CASK_EJSON, {"malformed JSON", "column 12"}},
    {"{\"tasks\" []}", CASK_EJSON, {"malformed JSON", "column 10"}},
    {"{\"tasks\":[{\"key\":\"a\" \"op\":\"x\"}]}", CASK_EJSON, {"malformed JSON"}},
    {"{\"tasks\":[\"unterminated]}", CASK_EJSON, {"malformed JSON", "ends early"}},
    {"{\"tasks\":[],\"ntasks\":}", CASK_EJSON, {"malformed JSON"}},
    {"  \n ", CASK_EJSON, {"malformed JSON", "ends early"}},
    {"{\"tasks\":[],\"ntasks\":1.5}", CASK_EJSON, {"\"ntasks\"", "whole number"}},
    {"{\"tasks\":[{\"key\":\"a\\u0000b\",\"op\":\"cask.noop\"}]}", CASK_EJSON, {"\\u0000", "offset 19"}},
    /* a task and its key */
    {"{\"tasks\":[7]}", CASK_EJSON, {"task 0", "object"}},
    {"{\"tasks\":[{\"key\":\"a\",\"op\":\"cask.noop\"},[]]}", CASK_EJSON, {"task 1", "object"}},
    {"{\"tasks\":[{}]}", CASK_EJSON, {"task 0", "\"key\"", "missing"}},
    {"{\"tasks\":[{\"key\":5,\"op\":\"cask.noop\"}]}", CASK_EJSON, {"task 0", "\"key\"", "string"}},
    {"{\"tasks\":[{\"key\":\"\",\"op\":\"cask.noop\"}]}", CASK_EJSON, {"task 0", "\"key\"", "empty"}},
    {"{\"tasks\":[{\"key\":\"a\"}]}", CASK_EJSON, {"task 0 (key 'a')", "\"op\"", "missing"}},
    {"{\"tasks\":[{\"key\":\"a\",\"op\":7}]}", CASK_EJSON, {"task 0 (key 'a')", "\"op\"", "string"}},
    {TASK(",\"dep\":[\"b\"]"), CASK_EJSON, {"task 0 (key 'a')", "\"dep\"", "not a known field"}},
    {TASK(",\"op\":\"cask.noop\""), CASK_EJSON, {"task 0 (key 'a')", "\"op\"", "twice"}},
    /* deps, output, size, priority */
    {TASK(",\"deps\":\"b\""), CASK_EJSON, {"task 0 (key 'a')", "\"deps\"", "array"}},
    {TASK(",\"deps\":{}"), CASK_EJSON, {"task 0 (key 'a')", "\"deps\"", "array"}},
    {TASK(",\"deps\":[\"b\",2]"), CASK_EJSON, {"task 0 (key 'a')", "\"deps\"", "entry 1"}},
    {TASK(",\"output\":1"), CASK_EJSON, {"task 0 (key 'a')", "\"output\"", "true or false"}},
    {TASK(",\"output\":\"true\""), CASK_EJSON, {"task 0 (key 'a')", "\"output\""}},
    {TASK(",\"output\":null"), CASK_EJSON, {"task 0 (key 'a')", "\"output\""}},
    {TASK(",\"size\":\"8\""), CASK_EJSON, {"task 0 (key 'a')", "\"size\""}},
    {TASK(",\"priority\":-3"), CASK_EJSON, {"task 0 (key 'a')", "\"priority\""}},
    {TASK(",\"priority\":4294967295"), CASK_EJSON, {"task 0 (key 'a')", "\"priority\""}},
    {TASK(",\"priority\":0.5"), CASK_EJSON, {"task 0 (key 'a')", "\"priority\""}},
    /* args: the hex fallback */
    {TASK(",\"args\":[]"), CASK_EJSON, {"task 0 (key 'a')", "\"args\"", "object"}},
    {TASK(",\"args\":\"00\""), CASK_EJSON, {"task 0 (key 'a')", "\"args\"", "object"}},
    {CONST("{\"args_hex\":\"abc\"}"), CASK_EJSON, {"\"args\"", "\"args_hex\"", "odd"}},
    {CONST("{\"args_hex\":\"zz\"}"), CASK_EJSON, {"\"args\"", "\"args_hex\"", "character 0"}},
    {CONST("{\"args_hex\":\"0g\"}"), CASK_EJSON, {"\"args\"", "\"args_hex\"", "character 1"}},
    {CONST("{\"args_hex\":12}"), CASK_EJSON, {"\"args\"", "\"args_hex\"", "string"}},
    {CONST("{\"factor\":2}"), CASK_EJSON, {"task 0 (key 'a')", "\"args\"", "\"factor\""}},
    /* args: an op's own reader */
    {"{\"tasks\":[{\"key\":\"a\",\"op\":\"test_json.scale\",\"args\":{\"factor\":\"x\"}}]}", CASK_EJSON,
     {"task 0 (key 'a')", "\"args\"", "\"factor\""}},
    {"{\"tasks\":[{\"key\":\"a\",\"op\":\"test_json.scale\"}]}", CASK_EJSON,
     {"task 0 (key 'a')", "\"args\"", "test_json.scale"}},
    /* args: the fused op */
    {FUSED("{}"), CASK_EJSON, {"task 0 (key 'f')", "\"args\"", "\"chain\""}},
    {FUSED("{\"chain\":[]}"), CASK_EJSON, {"task 0 (key 'f')", "\"chain\"", "non-empty"}},
    {FUSED("{\"chain\":{}}"), CASK_EJSON, {"task 0 (key 'f')", "\"chain\""}},
    {FUSED("{\"chain\":[3]}"), CASK_EJSON, {"task 0 (key 'f')", "\"chain\"[0]", "object"}},
    {FUSED("{\"chain\":[{\"op\":\"cask.noop\"}]}"), CASK_EJSON, {"\"chain\"[0]", "\"key\""}},
    {FUSED("{\"chain\":[{\"key\":\"k\"}]}"), CASK_EJSON, {"\"chain\"[0] (key 'k')", "\"op\""}},
    {FUSED("{\"chain\":[{\"key\":\"k\",\"op\":\"cask.fused\",\"args\":{\"chain\":[{\"key\":\"j\",\"op\":\"cask.noop\"}]}}]}"),
     CASK_EJSON, {"\"chain\"[0] (key 'k')", "cannot contain \"cask.fused\""}},
    {FUSED("{\"chain\":[{\"key\":\"k\",\"op\":\"test_json.const\",\"args\":{\"args_hex\":\"1\"}}]}"),
     CASK_EJSON, {"\"chain\"[0] (key 'k')", "\"args_hex\"", "odd"}},
    {FUSED("{\"chain\":[{\"key\":\"k\",\"op\":\"cask.noop\",\"args\":5}]}"), CASK_EJSON,
     {"\"chain\"[0] (key 'k')", "\"args\"", "object"}},
};

START_TEST(json_reader_rejects_wrong_types) {
  for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++)
    expect_reject(bad_docs[i].doc, bad_docs[i].rc, bad_docs[i].want);
}
END_TEST

START_TEST(json_reader_rejects_nul_bytes) {
  static const char doc[] = "{\"tasks\":[]}\0garbage";
  cask_graph *g;
  char *err = NULL;
  ck_assert_int_eq(cask_graph_from_json(doc, sizeof doc - 1, &g, &err), CASK_EJSON);
  ck_assert_ptr_null(g);
  ck_assert_ptr_nonnull(strstr(err, "NUL byte at offset 12"));
  cask_free(err);
  /* The same without the NUL, and a length that stops before it, read. */
  ck_assert_int_eq(cask_graph_from_json(doc, 12, &g, NULL), 0);
  cask_graph_free(g);
}
END_TEST

START_TEST(json_reader_checks_its_arguments) {
  cask_graph *g = (cask_graph *)1;
  char *err = (char *)1;
  ck_assert_int_eq(cask_graph_from_json(NULL, 3, &g, &err), CASK_EINVAL);
  ck_assert_ptr_null(g);
  ck_assert_ptr_null(err);
  ck_assert_int_eq(cask_graph_from_json("{}", 2, NULL, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_graph_read_json(NULL, &g, NULL), CASK_EINVAL);
  /* A NULL errmsg just means no message. */
  ck_assert_int_eq(cask_graph_from_json("[]", 2, &g, NULL), CASK_EJSON);
  ck_assert_ptr_null(g);
}
END_TEST

START_TEST(json_read_of_missing_file_fails_with_eio_naming_it) {
  cask_graph *g;
  char *err = NULL;
  ck_assert_int_eq(cask_graph_read_json("/nonexistent/cask/graph.json", &g, &err), CASK_EIO);
  ck_assert_ptr_null(g);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/cask/graph.json"));
  cask_free(err);
}
END_TEST

START_TEST(json_read_error_names_the_file) {
  char *dir = make_tmpdir(), path[4096];
  snprintf(path, sizeof path, "%s/bad.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\"tasks\":[{\"key\":\"a\",\"op\":\"nope\"}]}", f);
  fclose(f);
  cask_graph *g;
  char *err = NULL;
  ck_assert_int_eq(cask_graph_read_json(path, &g, &err), CASK_EUNKNOWNOP);
  ck_assert_ptr_nonnull(strstr(err, path));
  ck_assert_ptr_nonnull(strstr(err, "'nope'"));
  cask_free(err);
  remove_tree(dir);
  free(dir);
}
END_TEST

/* ---- argument JSON ----------------------------------------------------- */

START_TEST(args_json_falls_back_to_hex_and_back) {
  const cask_op *c = op("test_json.const");
  unsigned char bytes[] = {0xde, 0xad, 0x00, 0xbe, 0xef};
  cJSON *obj = cJSON_CreateObject();
  ck_assert_int_eq(cask__args_to_json(c, bytes, sizeof bytes, obj), 0);
  ck_assert_str_eq(cJSON_GetObjectItem(obj, "args_hex")->valuestring, "dead00beef");
  void *back;
  size_t len;
  char err[128];
  ck_assert_int_eq(cask__args_from_json(c, obj, &back, &len, err, sizeof err), 0);
  ck_assert_uint_eq(len, sizeof bytes);
  ck_assert_mem_eq(back, bytes, sizeof bytes);
  cask_free(back);
  cJSON_Delete(obj);
  /* No bytes: no field; no field (or no object at all): no bytes. */
  obj = cJSON_CreateObject();
  ck_assert_int_eq(cask__args_to_json(c, NULL, 0, obj), 0);
  ck_assert_ptr_null(obj->child);
  ck_assert_int_eq(cask__args_from_json(c, obj, &back, &len, err, sizeof err), 0);
  ck_assert_ptr_null(back);
  ck_assert_uint_eq(len, 0);
  ck_assert_int_eq(cask__args_from_json(c, NULL, &back, &len, err, sizeof err), 0);
  ck_assert_uint_eq(len, 0);
  cJSON_Delete(obj);
}
END_TEST

START_TEST(json_writer_reports_op_that_cannot_serialize) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), 0);
  add_const(g, "fine", 1);
  ck_assert_int_eq(cask_graph_add(g, "stuck", op("test_json.refuse"), "x", 1, NULL, 0, NULL), 0);
  char *text = (char *)1;
  ck_assert_int_eq(cask_graph_to_json(g, &text, NULL), CASK_ENOTSERIAL);
  ck_assert_ptr_null(text);
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), "'stuck'"));
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), "test_json.refuse"));
  cask_graph_free(g);
}
END_TEST

START_TEST(json_writer_needs_a_valid_graph) {
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), 0);
  const char *dep = "absent";
  ck_assert_int_eq(cask_graph_add_keyed(g, "t", cask__op_noop, NULL, 0, &dep, 1, NULL), 0);
  char *text;
  ck_assert_int_eq(cask_graph_to_json(g, &text, NULL), CASK_EMISSINGDEP);
  ck_assert_int_eq(cask_graph_write_dot(g, "/tmp/never-written.dot"), CASK_EMISSINGDEP);
  ck_assert_int_eq(access("/tmp/never-written.dot", F_OK), -1);
  cask_graph_free(g);
}
END_TEST

/* ---- files ------------------------------------------------------------- */

START_TEST(dot_output_has_every_node_and_edge) {
  char *dir = make_tmpdir(), path[4096];
  snprintf(path, sizeof path, "%s/g.dot", dir);
  cask_graph *g = chain_graph();
  cask_task_id q;
  const char *deps[] = {"a", "total"};
  ck_assert_int_eq(cask_graph_add_keyed(g, "say \"hi\"\\now\nthere", cask__op_noop, NULL, 0, deps, 2, &q), 0);
  ck_assert_int_eq(cask_graph_write_dot(g, path), 0);
  char *dot = read_text(path);
  ck_assert_int_eq(strncmp(dot, "digraph cask {\n", 15), 0);
  ck_assert_str_eq(dot + strlen(dot) - 2, "}\n");
  char want[256];
  size_t edges = 0;
  for (cask_task_id i = 0; i < cask_graph_size(g); i++) {
    if (i != q) {
      snprintf(want, sizeof want, "  t%u [label=\"%s\\n%s\"%s];\n", (unsigned)i, cask_graph_key(g, i),
               cask_graph_op(g, i)->name, cask_graph_is_output(g, i) ? ", peripheries=2" : "");
      ck_assert_msg(strstr(dot, want) != NULL, "no line %s", want);
    }
    size_t n;
    const cask_task_id *d = cask_graph_deps(g, i, &n);
    for (size_t k = 0; k < n; k++, edges++) {
      snprintf(want, sizeof want, "  t%u -> t%u;\n", (unsigned)d[k], (unsigned)i);
      ck_assert_msg(strstr(dot, want) != NULL, "no edge %s", want);
    }
  }
  snprintf(want, sizeof want, "  t%u [label=\"say \\\"hi\\\"\\\\now\\nthere\\ncask.noop\"];\n", (unsigned)q);
  ck_assert_msg(strstr(dot, want) != NULL, "no escaped label %s in %s", want, dot);
  size_t arrows = 0;
  for (const char *p = dot; (p = strstr(p, " -> ")); p++) arrows++;
  ck_assert_uint_eq(arrows, edges);
  ck_assert_uint_eq(edges, 7);
  free(dot);
  cask_graph_free(g);
  remove_tree(dir);
  free(dir);
}
END_TEST

START_TEST(json_write_is_atomic_and_leaves_no_temp_file) {
  char *dir = make_tmpdir(), path[4096];
  snprintf(path, sizeof path, "%s/g.json", dir);
  cask_graph *g = chain_graph();
  ck_assert_int_eq(cask_graph_write_json(g, path), 0);
  char *names = list_dir(dir);
  ck_assert_str_eq(names, "g.json");
  free(names);
  struct stat before, after;
  ck_assert_int_eq(stat(path, &before), 0);
  /* Overwriting replaces the file by rename (a new inode), never rewrites
   * the old one in place, so a reader sees the old or the new graph. */
  ck_assert_int_eq(cask_graph_fuse(g), 0);
  ck_assert_int_eq(cask_graph_write_json(g, path), 0);
  ck_assert_int_eq(stat(path, &after), 0);
  ck_assert_uint_ne(before.st_ino, after.st_ino);
  names = list_dir(dir);
  ck_assert_str_eq(names, "g.json");
  free(names);
  char *text = read_text(path), *want;
  ck_assert_int_eq(cask_graph_to_json(g, &want, NULL), 0);
  ck_assert_str_eq(text, want);
  free(text);
  cask_free(want);
  /* The DOT writer too. */
  snprintf(path, sizeof path, "%s/g.dot", dir);
  ck_assert_int_eq(cask_graph_write_dot(g, path), 0);
  names = list_dir(dir);
  ck_assert_str_eq(names, "g.dot g.json");
  free(names);
  cask_graph_free(g);
  remove_tree(dir);
  free(dir);
}
END_TEST

START_TEST(json_write_to_unwritable_path_fails_cleanly) {
  char *dir = make_tmpdir(), path[4096];
  cask_graph *g = chain_graph();
  /* A directory that does not exist. */
  snprintf(path, sizeof path, "%s/missing/g.json", dir);
  ck_assert_int_eq(cask_graph_write_json(g, path), CASK_EIO);
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), path));
  ck_assert_int_eq(cask_graph_write_dot(g, path), CASK_EIO);
  /* A path that is a directory: the temporary file is made, the rename
   * fails, and the temporary is removed. */
  snprintf(path, sizeof path, "%s/sub", dir);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  ck_assert_int_eq(cask_graph_write_json(g, path), CASK_EIO);
  ck_assert_ptr_nonnull(strstr(cask_graph_errmsg(g), path));
  char *names = list_dir(dir);
  ck_assert_str_eq(names, "sub");
  free(names);
  ck_assert_int_eq(cask_graph_write_dot(g, path), CASK_EIO);
  names = list_dir(dir);
  ck_assert_str_eq(names, "sub");
  free(names);
  cask_graph_free(g);
  remove_tree(dir);
  free(dir);
}
END_TEST

START_TEST(json_round_trip_of_many_tasks) {
  /* A wide, deep graph: every task depends on the two before it. */
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), 0);
  char key[32];
  for (uint32_t i = 0; i < 20000; i++) {
    snprintf(key, sizeof key, "t-%u", (unsigned)i);
    cask_task_id deps[] = {i - 1, i - 2};
    double v = i;
    ck_assert_int_eq(cask_graph_add(g, key, op("test_json.const"), &v, sizeof v, deps, i < 2 ? i : 2, NULL), 0);
    ck_assert_int_eq(cask_graph_set_size(g, i, i * 8), 0);
  }
  ck_assert_int_eq(cask_graph_set_output(g, 19999, 1), 0);
  ck_assert_int_eq(cask_graph_order(g), 0);
  cask_graph *back = round_trip(g, NULL);
  assert_same_graph(g, back);
  cask_graph_free(back);
  cask_graph_free(g);
}
END_TEST

/* A graph file with a 2 GB "args_hex" took 8.4 GB to read: one task's
 * arguments are bounded (16 MiB), in files and in cask_graph_add. */
START_TEST(regress_huge_args_hex_reads_gigabytes) {
  size_t nbytes = ((size_t)16 << 20) + 1, n = 2 * nbytes;
  const char *head = "{\"cask_graph\": 1, \"ntasks\": 1, \"tasks\": [{\"key\": \"big\", \"op\": \"cask.noop\", \"args\": {\"args_hex\": \"";
  const char *tail = "\"}}]}";
  size_t hl = strlen(head), tl = strlen(tail);
  char *text = malloc(hl + n + tl + 1);
  ck_assert_ptr_nonnull(text);
  memcpy(text, head, hl);
  memset(text + hl, 'a', n);
  memcpy(text + hl + n, tail, tl + 1);
  cask_graph *g = NULL;
  char *err = NULL;
  ck_assert_int_eq(cask_graph_from_json(text, hl + n + tl, &g, &err), CASK_EJSON);
  ck_assert_msg(err && strstr(err, "'big'") && strstr(err, "at most 16 MiB"), "%s", err ? err : "");
  cask_free(err);
  free(text);
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  char *args = calloc(1, nbytes);
  ck_assert_int_eq(cask_graph_add(g, "big", cask_op_find("cask.noop"), args, nbytes, NULL, 0, NULL), CASK_ETOOBIG);
  ck_assert_msg(strstr(cask_graph_errmsg(g), "at most 16 MiB"), "%s", cask_graph_errmsg(g));
  ck_assert_int_eq(cask_graph_add(g, "ok", cask_op_find("cask.noop"), args, nbytes - 1, NULL, 0, NULL), CASK_OK);
  free(args);
  cask_graph_free(g);
}
END_TEST

/* An op that declares its arguments' length gets only that length, from
 * cask_graph_add and from args_hex (it would read a fixed struct past the
 * end of a shorter blob). */
START_TEST(ops_with_a_fixed_argument_length_get_only_that_length) {
  const cask_op *fixed = cask_op_find("test_json.fixed");
  if (!fixed)
    ck_assert_int_eq(cask_op_register(&(cask_op){.name = "test_json.fixed", .run = const_run, .args_size = 8}, &fixed),
                     CASK_OK);
  cask_graph *g;
  ck_assert_int_eq(cask_graph_new(&g), CASK_OK);
  int64_t v = 5;
  ck_assert_int_eq(cask_graph_add(g, "ok", fixed, &v, sizeof v, NULL, 0, NULL), CASK_OK);
  ck_assert_int_eq(cask_graph_add(g, "short", fixed, &v, 4, NULL, 0, NULL), CASK_EINVAL);
  ck_assert_msg(strstr(cask_graph_errmsg(g), "takes 8 bytes of arguments, not 4"), "%s", cask_graph_errmsg(g));
  cask_graph_free(g);
  const char *text = "{\"cask_graph\": 1, \"ntasks\": 1, \"tasks\": [{\"key\": \"t\", \"op\": \"test_json.fixed\", "
                     "\"args\": {\"args_hex\": \"0102\"}}]}";
  char *err = NULL;
  g = NULL;
  ck_assert_int_ne(cask_graph_from_json(text, strlen(text), &g, &err), CASK_OK);
  ck_assert_msg(err && strstr(err, "takes 8 bytes of arguments, not 2"), "%s", err ? err : "");
  cask_free(err);
  ck_assert_ptr_null(g);
}
END_TEST

Suite *graph_json_suite(void) {
  Suite *s = suite_create("graph_json");
  TCase *rt = tcase_create("round_trip");
  tcase_add_checked_fixture(rt, register_ops, NULL);
  tcase_add_test(rt, json_round_trip_keeps_keys_ops_args_deps_outputs_sizes);
  tcase_add_test(rt, json_writer_escapes_strings_like_cjson);
  tcase_add_test(rt, json_round_trip_of_empty_graph);
  tcase_add_test(rt, json_round_trip_of_fused_graph_runs_same_chain);
  tcase_add_test(rt, json_round_trip_keeps_priorities_of_ordered_graph);
  tcase_add_test(rt, json_reader_derives_priorities_instead_of_trusting_them);
  tcase_add_test(rt, json_reads_hand_written_document);
  tcase_add_test(rt, json_reads_what_it_writes_through_files);
  tcase_add_test(rt, json_round_trip_of_many_tasks);
  tcase_set_timeout(rt, 60);
  suite_add_tcase(s, rt);

  TCase *rd = tcase_create("reader");
  tcase_add_checked_fixture(rd, register_ops, NULL);
  tcase_add_test(rd, json_reader_rejects_unknown_op_and_names_it);
  tcase_add_test(rd, json_reader_rejects_missing_dep_and_names_both_keys);
  tcase_add_test(rd, json_reader_rejects_cycle);
  tcase_add_test(rd, json_reader_rejects_duplicate_key_and_names_both_tasks);
  tcase_add_test(rd, json_reader_rejects_deep_nesting);
  tcase_add_test(rd, json_reader_rejects_huge_size);
  tcase_add_test(rd, ops_with_a_fixed_argument_length_get_only_that_length);
  tcase_add_test(rd, json_reader_rejects_wrong_types);
  tcase_add_test(rd, json_reader_rejects_nul_bytes);
  tcase_add_test(rd, json_reader_checks_its_arguments);
  tcase_add_test(rd, json_read_of_missing_file_fails_with_eio_naming_it);
  tcase_add_test(rd, json_read_error_names_the_file);
  suite_add_tcase(s, rd);

  TCase *wr = tcase_create("writer");
  tcase_add_checked_fixture(wr, register_ops, NULL);
  tcase_add_test(wr, args_json_falls_back_to_hex_and_back);
  tcase_add_test(wr, json_writer_reports_op_that_cannot_serialize);
  tcase_add_test(wr, json_writer_needs_a_valid_graph);
  tcase_add_test(wr, dot_output_has_every_node_and_edge);
  tcase_add_test(wr, json_write_is_atomic_and_leaves_no_temp_file);
  tcase_add_test(wr, json_write_to_unwritable_path_fails_cleanly);
  suite_add_tcase(s, wr);
  /* 32 MB of JSON text: seconds under the sanitizers */
  TCase *big = tcase_create("big args");
  tcase_add_test(big, regress_huge_args_hex_reads_gigabytes);
  tcase_set_timeout(big, 120);
  suite_add_tcase(s, big);
  return s;
}
