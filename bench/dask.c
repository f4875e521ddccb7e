/* dask.c - the optimize benchmark's graph in Dask, for comparison: the same
 * shape (chunks load -> map1 -> map2, a pairwise sum tree, unused "mean"
 * tasks) as a materialized dict graph, timed through dask.optimization.cull,
 * dask.optimization.fuse and dask.order.order. Runs only when
 * /usr/bin/python3 can import dask. The size passed is the size measured:
 * nothing here is extrapolated. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define PYTHON "/usr/bin/python3"

static const char script[] =
    "import sys, time\n"
    "import dask\n"
    "from dask.optimization import cull, fuse\n"
    "from dask.order import order\n"
    "def load(i): return i\n"
    "def f(x): return x\n"
    "def add(a, b): return a + b\n"
    "T = int(sys.argv[1])\n"
    "C = (T - T // 15 + 1) // 4\n"
    "D = T + 1 - 4 * C\n"
    "t0 = time.perf_counter()\n"
    "dsk = {}\n"
    "for i in range(C):\n"
    "    dsk[('load', i)] = (load, i)\n"
    "    dsk[('map1', i)] = (f, ('load', i))\n"
    "    dsk[('map2', i)] = (f, ('map1', i))\n"
    "for i in range(D):\n"
    "    dsk[('mean', i)] = (f, ('load', i))\n"
    "cur = [('map2', i) for i in range(C)]\n"
    "k = 0\n"
    "while len(cur) > 1:\n"
    "    nxt = []\n"
    "    for j in range(0, len(cur) - 1, 2):\n"
    "        key = ('sum', k)\n"
    "        k += 1\n"
    "        dsk[key] = (add, cur[j], cur[j + 1])\n"
    "        nxt.append(key)\n"
    "    if len(cur) % 2:\n"
    "        nxt.append(cur[-1])\n"
    "    cur = nxt\n"
    "root = cur[0]\n"
    "t1 = time.perf_counter()\n"
    "culled, deps = cull(dsk, [root])\n"
    "t2 = time.perf_counter()\n"
    "fused, deps = fuse(culled, keys=[root], dependencies=deps)\n"
    "t3 = time.perf_counter()\n"
    "o = order(fused, dependencies=deps)\n"
    "t4 = time.perf_counter()\n"
    "assert len(o) == len(fused)\n"
    "ms = lambda a, b: (b - a) * 1e3\n"
    "print(dask.__version__, len(dsk), len(culled), len(fused),\n"
    "      ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4))\n";

void bench_dask_optimize(size_t tasks, bench_dask *out) {
  memset(out, 0, sizeof *out);
  char n[32], buf[512];
  snprintf(n, sizeof n, "%zu", tasks);
  char *check[] = {PYTHON, "-c", "import dask", NULL};
  if (bench_spawn_read(check, buf, sizeof buf) != 0) return;
  char *argv[] = {PYTHON, "-c", (char *)script, n, NULL};
  if (bench_spawn_read(argv, buf, sizeof buf) != 0) bench_die("dask", "the Dask script failed");
  if (sscanf(buf, "%31s %zu %zu %zu %lf %lf %lf %lf", out->version, &out->tasks,
             &out->after_cull, &out->after_fuse, &out->build_ms, &out->cull_ms, &out->fuse_ms,
             &out->order_ms) != 8)
    bench_die("dask", "cannot read the Dask script's output");
  out->total_ms = out->build_ms + out->cull_ms + out->fuse_ms + out->order_ms;
  out->available = 1;
}
