/* anchors.c - the Python side of the array benchmarks: NumExpr and NumPy
 * over the same flat inputs as cask, NumPy's latency on small arrays, and
 * dask.array's threaded scheduler, each a script embedded here and run by
 * /usr/bin/python3 as a child that takes commands on stdin.
 *
 * The one thing to know before editing: a script sets up once (its inputs
 * are cask's, bit for bit: a = arange(n) * (1/n), b = 1 - a, one IEEE
 * operation per element on either side), prints "ready", and then answers
 * each command line ("numexpr 0", "reduce 2", "small 1000 100", ...) with
 * one line: "value nsamples samples... times...", the value being the
 * result's checksum (its sum) or the scalar result, the samples its values
 * at the indices the script was given, the times in seconds. So arrays.c
 * can let cask and the anchor take turns repetition by repetition, and
 * check every repetition of both. A module that does not import gives a
 * line "missing <module> <reason>" before "ready"; without the script's
 * main module there is no "ready" and no anchor. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define PYTHON "/usr/bin/python3"

/* The command loop, shared by every script. A command that fails raises:
 * the traceback goes to stderr and the child exits, which arrays.c sees as
 * end of output. */
#define PY_COMMON                                                                     \
  "import sys, time\n"                                                                \
  "def serve(commands):\n"                                                            \
  "    print('ready', flush=True)\n"                                                  \
  "    for line in sys.stdin:\n"                                                      \
  "        w = line.split()\n"                                                        \
  "        value, samples, times = commands[w[0]](*(int(v) for v in w[1:]))\n"        \
  "        print(repr(float(value)), len(samples), *(repr(float(s)) for s in samples),\n" \
  "              *(repr(t) for t in times), flush=True)\n"                            \
  "def once(f):\n"                                                                    \
  "    t0 = time.perf_counter()\n"                                                    \
  "    r = f()\n"                                                                     \
  "    return r, time.perf_counter() - t0\n"                                          \
  "def inputs(np, n):\n"                                                              \
  "    a = np.arange(n, dtype=np.float64)\n"                                          \
  "    a *= 1.0 / n\n"                                                                \
  "    return a, 1.0 - a\n"

/* argv: n threads expr0 expr1 idx... */
static const char flat_script[] =
    PY_COMMON
    "try:\n"
    "    import numpy as np\n"
    "except Exception as e:\n"
    "    print('missing numpy', type(e).__name__, flush=True)\n"
    "    sys.exit(0)\n"
    "print('version numpy', np.__version__)\n"
    "try:\n"
    "    import numexpr as ne\n"
    "    print('version numexpr', ne.__version__)\n"
    "except Exception as e:\n"
    "    ne = None\n"
    "    print('missing numexpr', type(e).__name__)\n"
    "n, threads = int(sys.argv[1]), int(sys.argv[2])\n"
    "exprs = sys.argv[3:5]\n"
    "idx = [int(v) for v in sys.argv[5:]]\n"
    "a, b = inputs(np, n)\n"
    "out = np.empty(n)\n"
    "out.fill(0.0)\n" /* touched before timing, as cask's output buffer */
    "env = {'a': a, 'b': b, 'sin': np.sin}\n"
    "codes = [compile(e, 'expr', 'eval') for e in exprs]\n"
    "if ne:\n"
    "    ne.set_num_threads(threads)\n"
    "def numexpr_(i):\n"
    "    r, t = once(lambda: ne.evaluate(exprs[i], local_dict={'a': a, 'b': b}, out=out))\n"
    "    return out.sum(), out[idx], [t]\n"
    "def numpy_(i):\n"
    "    r, t = once(lambda: eval(codes[i], env))\n"
    "    return r.sum(), r[idx], [t]\n"
    "def reduce_(k):\n"
    "    r, t = once(getattr(a, ('sum', 'mean', 'std')[k]))\n"
    "    return r, (), [t]\n"
    "serve({'numexpr': numexpr_, 'numpy': numpy_, 'reduce': reduce_})\n";

/* argv: expr. Command "small n calls": calls timed calls, one per sample. */
static const char small_script[] =
    PY_COMMON
    "import timeit\n"
    "try:\n"
    "    import numpy as np\n"
    "except Exception as e:\n"
    "    print('missing numpy', type(e).__name__, flush=True)\n"
    "    sys.exit(0)\n"
    "print('version numpy', np.__version__)\n"
    "expr = sys.argv[1]\n"
    "timers = {}\n"
    "def small(n, calls):\n"
    "    if n not in timers:\n"
    "        a, b = inputs(np, n)\n"
    "        env = {'a': a, 'b': b, 'sin': np.sin}\n"
    "        timers[n] = (timeit.Timer(expr, globals=env), env)\n"
    "    t, env = timers[n]\n"
    "    ts = t.repeat(repeat=calls, number=1)\n"
    "    r = eval(expr, env)\n"
    "    return r.sum(), r[[0, n // 2, n - 1]], ts\n"
    "serve({'small': small})\n";

/* argv: n chunk threads */
static const char dask_script[] =
    PY_COMMON
    "try:\n"
    "    import numpy as np\n"
    "    import dask\n"
    "    import dask.array as da\n"
    "except Exception as e:\n"
    "    print('missing dask', type(e).__name__, flush=True)\n"
    "    sys.exit(0)\n"
    "print('version dask', dask.__version__)\n"
    "n, chunk, threads = (int(v) for v in sys.argv[1:4])\n"
    "x = da.random.random((n, n), chunks=chunk)\n"
    "y = (x + x.T)[::2, n // 4:].mean(axis=1)\n"
    "def run():\n"
    "    r, t = once(lambda: y.compute(scheduler='threads', num_workers=threads))\n"
    "    assert r.shape == ((n + 1) // 2,)\n"
    "    return r.mean(), (r.min(), r.max()), [t]\n"
    "serve({'dask': run})\n";

static const char *const scripts[] = {flat_script, small_script, dask_script};

const char *const bench_module_names[BENCH_MODULES] = {"numpy", "numexpr", "dask"};

struct bench_py {
  pid_t pid;
  FILE *to, *from;
  char *line;
  size_t line_cap;
  double *times;
  size_t times_cap;
};

static void note_module(const char *line, bench_py_modules *m) {
  char module[32], rest[96];
  int version = sscanf(line, "version %31s %95s", module, rest) == 2;
  if (!version && sscanf(line, "missing %31s %95s", module, rest) != 2) return;
  for (int i = 0; i < BENCH_MODULES; i++) {
    if (strcmp(module, bench_module_names[i]) != 0) continue;
    m->have[i] = version;
    snprintf(version ? m->version[i] : m->missing[i], version ? sizeof m->version[i] : sizeof m->missing[i],
             "%.31s", rest);
  }
}

bench_py *bench_py_start(bench_script s, char *const args[], bench_py_modules *mods) {
  memset(mods, 0, sizeof *mods);
  /* A child that dies mid-run must not kill us through SIGPIPE: the next
   * read says it is gone and bench_py_call exits with a message. */
  signal(SIGPIPE, SIG_IGN);
  char *argv[32] = {PYTHON, "-c", (char *)scripts[s]};
  int k = 3;
  for (int i = 0; args[i] && k < 31; i++) argv[k++] = args[i];
  argv[k] = NULL;
  bench_py *p = calloc(1, sizeof *p);
  if (!p) bench_die("malloc", "out of memory");
  if ((p->pid = bench_spawn_pipes(argv, &p->to, &p->from)) < 0) {
    snprintf(mods->missing[BENCH_NUMPY], sizeof mods->missing[0], "%s does not run", PYTHON);
    free(p);
    return NULL;
  }
  while (getline(&p->line, &p->line_cap, p->from) > 0) {
    if (strcmp(p->line, "ready\n") == 0) return p;
    note_module(p->line, mods);
  }
  /* No "ready": the main module did not import (the script exits with 0
   * after saying so), or the script is broken. */
  int rc = bench_spawn_wait(p->pid, p->to, p->from);
  free(p->line);
  free(p);
  if (rc != 0) bench_die("anchor", "the Python script failed before it was ready (its error is above)");
  return NULL;
}

static void parse_result(bench_py *p, bench_py_result *res) {
  char *s = p->line, *end;
  res->value = strtod(s, &end);
  long ns = strtol(end, &s, 10);
  if (end == p->line || s == end || ns < 0 || ns > BENCH_MAX_SAMPLES)
    bench_die("anchor: cannot read the line", p->line);
  res->nsamples = (int)ns;
  for (int i = 0; i < res->nsamples; i++, s = end) res->sample[i] = strtod(s, &end);
  size_t n = 0;
  for (;; s = end) {
    double t = strtod(s, &end);
    if (end == s) break;
    if (n == p->times_cap) {
      p->times_cap = p->times_cap ? 2 * p->times_cap : 64;
      if (!(p->times = realloc(p->times, p->times_cap * sizeof *p->times)))
        bench_die("malloc", "out of memory");
    }
    p->times[n++] = t;
  }
  if (n == 0) bench_die("anchor: no time in the line", p->line);
  res->times = p->times;
  res->ntimes = (int)n;
}

void bench_py_call(bench_py *p, const char *cmd, bench_py_result *res) {
  if (fprintf(p->to, "%s\n", cmd) < 0 || fflush(p->to) ||
      getline(&p->line, &p->line_cap, p->from) <= 0)
    bench_die("anchor", "the Python script failed (its error is above)");
  parse_result(p, res);
}

void bench_py_stop(bench_py *p) {
  if (!p) return;
  bench_spawn_wait(p->pid, p->to, p->from);
  free(p->line);
  free(p->times);
  free(p);
}
