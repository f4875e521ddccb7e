/* cask.c - the `cask` command: `cask run JOB.json`, `cask graph JOB.json`,
 * `cask viz GRAPH.json` (tools/viz.c).
 * The one thing to know: every setting comes from an option, else from its
 * environment variable (CASK_NUM_THREADS, CASK_TRACE, CASK_GRAPH,
 * CASK_GRAPH_FORMAT, CASK_QUIET, CASK_MEMORY_LIMIT, CASK_SPILL_DIR), else
 * (the memory limit) the job file, else a default; exit codes are 0 ok,
 * 1 a task failed, 2 bad usage or a bad job file, 128 + the signal when
 * stopped by SIGINT (130), SIGTERM (143) or SIGHUP (129). */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cask/cask.h"
#include "cask/distributed.h"
#include "job.h"
#include "mpi_session.h"
#include "run.h"
#include "viz.h"

/* The signal that stopped the run, or 0 (atomic, not just volatile:
 * worker threads read it). */
static atomic_int interrupted;

static void on_signal(int sig) {
  int none = 0;
  atomic_compare_exchange_strong_explicit(&interrupted, &none, sig, memory_order_relaxed, memory_order_relaxed);
}

/* SIGINT (Ctrl-C), SIGTERM (timeout, docker stop, systemd, Slurm) and
 * SIGHUP (a closed terminal) all cancel the run and clean up; SA_RESETHAND
 * lets a second one kill the process at once. */
static void catch_signals(void) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

static void usage_main(FILE *f) {
  fprintf(f,
          "usage: cask COMMAND [OPTIONS] ...\n"
          "\n"
          "Run chunked array jobs on all cores, and look at their task graphs.\n"
          "\n"
          "commands:\n"
          "  run JOB.json      build the job's graph and run it (cask run --help)\n"
          "  graph JOB.json    write the job's task graph without running it (cask graph --help)\n"
          "  viz GRAPH.json    draw a task graph as one HTML page (cask viz --help)\n"
          "\n"
          "  cask --help       this text;  cask --version   the library's version\n"
          "\n"
          "Job files are described in docs/jobs.md. A run keeps the blocks it holds under\n"
          "a memory limit (cask run --memory-limit 2GiB, CASK_MEMORY_LIMIT, or the job's\n"
          "\"memory_limit\"; default 3/4 of the machine) by spilling blocks to disk\n"
          "(--spill-dir DIR, CASK_SPILL_DIR). Exit codes: 0 success, 1 a task failed,\n"
          "2 bad usage or a bad job file, 128 + the signal when stopped by SIGINT (130),\n"
          "SIGTERM (143) or SIGHUP (129).\n");
}

static void usage_run(FILE *f) {
  fprintf(f,
          "usage: cask run [OPTIONS] JOB.json|GRAPH.json\n"
          "\n"
          "Read the job (inputs, steps, outputs; docs/jobs.md), check all of it, build one\n"
          "task graph for every output, run it, then print or write the outputs.\n"
          "\n"
          "options (each also read from the environment variable shown; an option wins):\n"
          "  -t, --threads N            worker threads (CASK_NUM_THREADS; default: all cores)\n"
          "  -m, --memory-limit LIMIT   block bytes the run may hold before it spills blocks\n"
          "                             to disk: 1.5GiB, 800MB, 0.5 or 50%% (of the machine's\n"
          "                             memory), none (CASK_MEMORY_LIMIT; else the job file's\n"
          "                             \"memory_limit\"; default: 3/4 of the machine)\n"
          "      --spill-dir DIR        where spilled blocks go, in a private directory removed\n"
          "                             at the end (CASK_SPILL_DIR; default: $TMPDIR or /tmp)\n"
          "      --trace FILE           write a Chrome trace-event JSON of the run, for\n"
          "                             Perfetto or chrome://tracing (CASK_TRACE)\n"
          "      --graph FILE           write the optimized task graph (CASK_GRAPH)\n"
          "      --graph-format FMT     json (default) or dot for Graphviz (CASK_GRAPH_FORMAT)\n"
          "  -n, --dry-run              build and optimize the graph, print the task count,\n"
          "                             the predicted peak memory, the memory limit and whether\n"
          "                             the run will spill; write --graph; run nothing\n"
          "  -q, --quiet                no progress and no summary (CASK_QUIET=1)\n"
          "      --plan-ranks K         plan the job for K ranks (MPI processes) without MPI and\n"
          "                             print one rank's part: its tasks, the blocks it sends\n"
          "                             and receives with their bytes, the graph's digest and\n"
          "                             the planning time; run nothing (docs/distributed.md)\n"
          "      --plan-rank R          the rank to plan (0 to K-1; default 0)\n"
          "      --plan-json            print that plan as one JSON object\n"
          "      --plan-lists           with --plan-json: also the keys of the rank's tasks,\n"
          "                             sends and receives\n"
          "      --plan-mode MODE       auto (default): plan from the rank's part of the graph\n"
          "                             when the job allows it, else from the whole graph;\n"
          "                             whole; or part (an error when the job does not allow it)\n"
          "      --plugin LIB.so        load a shared library first whose cask_plugin_init\n"
          "                             registers ops (for graph files) and kernels (for\n"
          "                             map_blocks('name', x) in steps); repeatable\n"
          "  -h, --help                 this text\n"
          "\n"
          "Progress goes to stderr: a live bar on a terminal, else a line every 5 s (tasks,\n"
          "rate, elapsed, ETA, memory held of the limit, bytes spilled), and a summary at\n"
          "the end (wall time, tasks, peak memory of the limit, bytes spilled and read back,\n"
          "spill I/O time, roots held back, time per op kind). Ctrl-C (SIGINT), SIGTERM\n"
          "and SIGHUP cancel the run: running tasks finish, no output is written (nor left\n"
          "half-written), spill files are removed, exit 128 + the signal (130, 143, 129);\n"
          "a second signal kills at once. Temporaries a killed (SIGKILL) run left carry its\n"
          "PID and are removed by the next run writing the same output or spilling there.\n"
          "On MPI ranks (`mpirun -np K cask run job.json`, srun; found by OMPI_COMM_WORLD_SIZE,\n"
          "PMI_SIZE or PMIX_RANK; CASK_MPI=0 (or no) runs alone, CASK_MPI=1 (yes) forces MPI)\n"
          "every rank runs its part and the outputs are the bytes a run alone writes; rank 0\n"
          "prints, shows progress and the totals over the ranks (docs/distributed.md).\n"
          "Exit codes: 0 success, 1 a task failed, 2 bad usage or job file, 128 + signal.\n");
}

static void usage_graph(FILE *f) {
  fprintf(f,
          "usage: cask graph [OPTIONS] JOB.json\n"
          "\n"
          "Build and optimize the job's task graph and write it without running it.\n"
          "\n"
          "options:\n"
          "  -o, --output FILE          where to write (default: JSON on stdout) (CASK_GRAPH)\n"
          "      --graph-format FMT     json (default) or dot (needs -o) (CASK_GRAPH_FORMAT)\n"
          "  -q, --quiet                no message on stderr\n"
          "      --plugin LIB.so        load a plugin's ops and kernels first (repeatable)\n"
          "  -h, --help                 this text\n");
}

/* stderr, or a sink for ranks other than 0 (mpi_session_other_rank). */
static FILE *usage_err(void) {
  static FILE *sink;
  if (!mpi_session_other_rank()) return stderr;
  if (!sink) sink = fopen("/dev/null", "w");
  return sink ? sink : stderr;
}

static int bad_usage(const char *cmd, const char *fmt, const char *arg) {
  FILE *f = usage_err();
  fprintf(f, "cask %s: ", cmd);
  fprintf(f, fmt, arg);
  fprintf(f, "\n(try: cask %s --help)\n", cmd);
  return EXIT_USAGE;
}

/* A plugin: a shared library whose cask_plugin_init registers ops (for
 * graph files) and kernels (for map_blocks in steps). */
static int load_plugin(const char *cmd, const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    fprintf(usage_err(), "cask %s: --plugin %s: %s\n", cmd, path, dlerror());
    return EXIT_USAGE;
  }
  int (*init)(void) = (int (*)(void))dlsym(lib, "cask_plugin_init");
  if (!init) {
    fprintf(usage_err(), "cask %s: --plugin %s: it has no cask_plugin_init function (docs/jobs.md)\n", cmd, path);
    return EXIT_USAGE;
  }
  int rc = init();
  if (rc) {
    fprintf(usage_err(), "cask %s: --plugin %s: cask_plugin_init returned %s\n", cmd, path, cask_err_name(rc));
    return EXIT_USAGE;
  }
  return 0; /* never closed: its ops and kernels stay registered */
}

static int parse_count(const char *s, long lo, long hi, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int parse_threads(const char *s, int *out) { return parse_count(s, 1, 1024, out); }

static int parse_limit(const char *s, uint64_t *out) { return cask_parse_memory_limit(s, out) ? -1 : 0; }

#define LIMIT_FORMS "a size (1.5GiB, 800MB), a fraction of the machine's memory (0.5, 50%%) or none"

/* The spill directory must be a directory we can write into: said now,
 * as bad usage, not at the first spill in the middle of the run. */
static int check_spill_dir(const char *cmd, const char *what, const char *dir) {
  struct stat st;
  const char *why = stat(dir, &st) ? strerror(errno)
                    : !S_ISDIR(st.st_mode) ? "not a directory"
                    : access(dir, W_OK | X_OK) ? strerror(errno)
                                                : NULL;
  if (!why) return 0;
  fprintf(usage_err(), "cask %s: %s '%s': %s\n", cmd, what, dir, why);
  return EXIT_USAGE;
}

static int parse_format(const char *s, int *dot) {
  if (!strcmp(s, "json")) *dot = 0;
  else if (!strcmp(s, "dot")) *dot = 1;
  else return -1;
  return 0;
}

/* Defaults from the environment, before the options override them. */
static int from_env(const char *cmd, run_config *cfg) {
  const char *v;
  /* the library's name, checked as the library checks it */
  if ((v = getenv("CASK_NUM_THREADS")) && *v && parse_threads(v, &cfg->threads))
    return bad_usage(cmd, "CASK_NUM_THREADS='%s' is not a thread count from 1 to 1024", v);
  if (!strcmp(cmd, "run")) { /* only a run uses memory */
    if ((v = getenv("CASK_MEMORY_LIMIT")) && *v && parse_limit(v, &cfg->memory_limit))
      return bad_usage(cmd, "CASK_MEMORY_LIMIT='%s' is not a memory limit: expected " LIMIT_FORMS, v);
    if ((v = getenv("CASK_SPILL_DIR")) && *v && check_spill_dir(cmd, "CASK_SPILL_DIR", v)) return EXIT_USAGE;
    if (v && *v) cfg->spill_dir = v;
  }
  if ((v = getenv("CASK_TRACE")) && *v) cfg->trace = v;
  if ((v = getenv("CASK_GRAPH")) && *v) cfg->graph = v;
  if ((v = getenv("CASK_GRAPH_FORMAT")) && *v && parse_format(v, &cfg->graph_dot))
    return bad_usage(cmd, "CASK_GRAPH_FORMAT='%s' is not json or dot", v);
  if ((v = getenv("CASK_QUIET")) && *v && strcmp(v, "0")) cfg->quiet = 1;
  return 0;
}

enum { OPT_TRACE = 256, OPT_GRAPH, OPT_FORMAT, OPT_SPILL, OPT_PLUGIN, OPT_PLAN_RANKS, OPT_PLAN_RANK, OPT_PLAN_JSON,
       OPT_PLAN_LISTS, OPT_PLAN_MODE };

static int parse_options(const char *cmd, int argc, char **argv, run_config *cfg, int *help) {
  static const struct option longs[] = {
      {"threads", required_argument, NULL, 't'}, {"trace", required_argument, NULL, OPT_TRACE},
      {"graph", required_argument, NULL, OPT_GRAPH}, {"graph-format", required_argument, NULL, OPT_FORMAT},
      {"output", required_argument, NULL, 'o'},  {"dry-run", no_argument, NULL, 'n'},
      {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
      {"memory-limit", required_argument, NULL, 'm'}, {"spill-dir", required_argument, NULL, OPT_SPILL},
      {"plugin", required_argument, NULL, OPT_PLUGIN},
      {"plan-ranks", required_argument, NULL, OPT_PLAN_RANKS}, {"plan-rank", required_argument, NULL, OPT_PLAN_RANK},
      {"plan-json", no_argument, NULL, OPT_PLAN_JSON}, {"plan-lists", no_argument, NULL, OPT_PLAN_LISTS},
      {"plan-mode", required_argument, NULL, OPT_PLAN_MODE},
      {NULL, 0, NULL, 0}};
  int is_run = !strcmp(cmd, "run"), c, plan_rank_given = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, is_run ? "t:m:nqh" : "o:qh", longs, NULL)) != -1) {
    /* run and graph share the table; each refuses the other's options */
    int run_only = c == 't' || c == OPT_TRACE || c == OPT_GRAPH || c == 'n' || c == 'm' || c == OPT_SPILL ||
                   c == OPT_PLAN_RANKS || c == OPT_PLAN_RANK || c == OPT_PLAN_JSON || c == OPT_PLAN_LISTS ||
                   c == OPT_PLAN_MODE;
    if ((run_only && !is_run) || (c == 'o' && is_run)) return bad_usage(cmd, "unknown option '%s'", argv[optind - 1]);
    switch (c) {
    case 't':
      if (parse_threads(optarg, &cfg->threads)) return bad_usage(cmd, "--threads '%s': expected 1 to 1024", optarg);
      break;
    case 'm':
      if (parse_limit(optarg, &cfg->memory_limit))
        return bad_usage(cmd, "--memory-limit '%s': expected " LIMIT_FORMS, optarg);
      break;
    case OPT_PLUGIN:
      if (load_plugin(cmd, optarg)) return EXIT_USAGE;
      break;
    case OPT_SPILL:
      if (check_spill_dir(cmd, "--spill-dir", optarg)) return EXIT_USAGE;
      cfg->spill_dir = optarg;
      break;
    case OPT_PLAN_RANKS:
      if (parse_count(optarg, 1, CASK_MAX_RANKS, &cfg->plan_ranks))
        return bad_usage(cmd, "--plan-ranks '%s': expected a rank count from 1 to 1048576", optarg);
      break;
    case OPT_PLAN_RANK:
      if (parse_count(optarg, 0, CASK_MAX_RANKS - 1, &cfg->plan_rank))
        return bad_usage(cmd, "--plan-rank '%s': expected a rank from 0 to 1048575", optarg);
      plan_rank_given = 1;
      break;
    case OPT_PLAN_JSON: cfg->plan_json = 1; break;
    case OPT_PLAN_LISTS: cfg->plan_lists = 1; break;
    case OPT_PLAN_MODE:
      if (!strcmp(optarg, "auto")) cfg->plan_mode = PLAN_AUTO;
      else if (!strcmp(optarg, "whole")) cfg->plan_mode = PLAN_WHOLE;
      else if (!strcmp(optarg, "part")) cfg->plan_mode = PLAN_PART;
      else return bad_usage(cmd, "--plan-mode '%s': expected auto, whole or part", optarg);
      plan_rank_given = 1;
      break;
    case OPT_TRACE: cfg->trace = optarg; break;
    case OPT_GRAPH:
    case 'o': cfg->graph = optarg; break;
    case OPT_FORMAT:
      if (parse_format(optarg, &cfg->graph_dot)) return bad_usage(cmd, "--graph-format '%s': expected json or dot", optarg);
      break;
    case 'n': cfg->dry_run = 1; break;
    case 'q': cfg->quiet = 1; break;
    case 'h': *help = 1; return 0;
    default: return bad_usage(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
    }
  }
  if ((plan_rank_given || cfg->plan_json || cfg->plan_lists) && !cfg->plan_ranks)
    return bad_usage(cmd, "%s", "--plan-rank, --plan-mode, --plan-json and --plan-lists need --plan-ranks K");
  if (cfg->plan_lists && !cfg->plan_json) return bad_usage(cmd, "%s", "--plan-lists needs --plan-json");
  if (cfg->plan_ranks && cfg->plan_rank >= cfg->plan_ranks) {
    char msg[96];
    snprintf(msg, sizeof msg, "--plan-rank %d: expected a rank from 0 to %d (--plan-ranks %d)", cfg->plan_rank,
             cfg->plan_ranks - 1, cfg->plan_ranks);
    return bad_usage(cmd, "%s", msg);
  }
  if (optind != argc - 1)
    return bad_usage(cmd, "%s", optind >= argc ? "expected a job file" : "expected one job file, got more arguments");
  cfg->job = argv[optind];
  return 0;
}

/* A file we will write must have a writable directory: said now, as bad
 * usage, rather than after the run. */
static int check_out_path(const char *cmd, const char *what, const char *path) {
  if (!path) return 0;
  char msg[512];
  if (!job_dir_writable(path, msg, sizeof msg)) return 0;
  fprintf(usage_err(), "cask %s: %s %s: %s\n", cmd, what, path, msg);
  return EXIT_USAGE;
}

static int command_job(const char *cmd, int argc, char **argv) {
  run_config cfg = {0};
  cfg.interrupted = &interrupted;
  int help = 0, code = from_env(cmd, &cfg);
  if (!code) code = parse_options(cmd, argc, argv, &cfg, &help);
  if (!code && !help) code = check_out_path(cmd, "trace", cfg.trace);
  if (!code && !help) code = check_out_path(cmd, "graph", cfg.graph);
  if (code) return mpi_session_usage_exit(code);
  if (help) {
    if (!mpi_session_other_rank()) (strcmp(cmd, "run") ? usage_graph : usage_run)(stdout);
    return 0;
  }
  if (!strcmp(cmd, "graph")) {
    if (cfg.graph_dot && !cfg.graph) return bad_usage(cmd, "%s", "--graph-format dot needs -o FILE");
    return job_command_graph(&cfg);
  }
  catch_signals();
  /* under mpirun or srun: MPI and an executor over every rank (a plan
   * alone, --plan-ranks, needs none) */
  if (!cfg.plan_ranks && (code = mpi_session_start(&argc, &argv))) return mpi_session_usage_exit(code);
  code = mpi_session_end(job_command_run(&cfg));
  int sig = atomic_load(&interrupted);
  return code == EXIT_INTERRUPTED && sig ? 128 + sig : code;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage_main(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage_main(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("cask %s\n", cask_version_string());
    return 0;
  }
  if (!strcmp(cmd, "run") || !strcmp(cmd, "graph")) return command_job(cmd, argc - 1, argv + 1);
  if (!strcmp(cmd, "viz")) return cask_tool_viz(argc - 1, argv + 1);
  fprintf(stderr, "cask: unknown command '%s'\n\n", cmd);
  usage_main(stderr);
  return EXIT_USAGE;
}
