#!/usr/bin/python3
"""select.py - boolean-mask selection (issue 14, selection): x[x > 0.5].sum()
over 10^8 float64, cask beside NumPy and dask.array in the same run, and the
write of x[x > 0.5] to .npy (cask's counting pass, then the write).

  S  x[x > 0.5].sum()          reduced without knowing the blocks' lengths
  W  x[x > 0.5] -> y.npy       cask: a counting pass, then the selection
                               written; NumPy: np.save; dask: np.save of
                               .compute() (what users write)

Full size: x is 10^8 float64 (0.8 GB); --quick: 10^7. x is uniform [0, 1)
from a seeded NumPy generator, saved once in $CASK_BENCH_DATA (default
/var/tmp/cask-bench-data) and read from the page cache by every system
(read once before the runs; the machine has the memory for it).

Systems, each in a fresh process, --threads workers (default 2):
  cask    `cask run -t N job.json` (x a .npy input in blocks of 2^22
          elements); the wall of the process (its reading of x included)
  numpy   np.load, then the expression timed (one thread: NumPy's own)
  dask    da.from_array(np.load(p), chunks=2^22), the expression
          .compute(scheduler="threads", num_workers=N) timed (the load not)
The ratio is cask's process wall over each anchor's timed wall (their
loads left out, in their favour). Every sum is checked against NumPy's
within 1e-12 relative, every written file bit for bit.

Output: a table on stderr, a JSON line per run on stdout.

  /usr/bin/python3 bench/select.py [--quick] [--threads 2] [--reps 3]
      [--cask build/tools/cask]
or  build/bench/cask-bench --only select [--quick] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("CASK_BENCH_DATA") or "/var/tmp/cask-bench-data"
CHUNK = 1 << 22


def log(s):
    print(s, file=sys.stderr, flush=True)


def make_x(n):
    path = os.path.join(DATA, "select-%d.npy" % n)
    if not os.path.exists(path):
        x = np.random.default_rng(14).random(n)
        tmp = path + ".tmp.npy"
        np.save(tmp, x)
        os.replace(tmp, path)
    with open(path, "rb") as f:  # into the page cache, for every system alike
        while f.read(1 << 24):
            pass
    return path


def run_cask(cask, case, path, threads, d):
    job = {"inputs": {"x": {"source": "npy", "path": path, "chunks": [CHUNK]}},
           "steps": {"y": "x[x > 0.5].sum()" if case == "S" else "x[x > 0.5]"},
           "outputs": {"y": {"npy": os.path.join(d, "cask.npy")}}}
    jp = os.path.join(d, "job.json")
    with open(jp, "w") as f:
        json.dump(job, f)
    t = time.perf_counter()
    p = subprocess.run([cask, "run", "-q", "-t", str(threads), jp], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        raise RuntimeError("cask failed: %s" % p.stderr)
    return wall, os.path.join(d, "cask.npy")


CHILD = r"""
import sys, time, json, numpy as np
system, case, path, threads, out = sys.argv[1:6]
x = np.load(path)
if system == "dask":
    import dask, dask.array as da
    x = da.from_array(x, chunks=%d)
t = time.perf_counter()
if case == "S":
    y = x[x > 0.5].sum()
    y = y.compute(scheduler="threads", num_workers=int(threads)) if system == "dask" else y
    np.save(out, np.asarray(y))
else:
    y = x[x > 0.5]
    np.save(out, y.compute(scheduler="threads", num_workers=int(threads)) if system == "dask" else y)
print(json.dumps({"wall": time.perf_counter() - t}))
""" % CHUNK


def run_anchor(system, case, path, threads, d):
    out = os.path.join(d, system + ".npy")
    p = subprocess.run(["/usr/bin/python3", "-c", CHILD, system, case, path, str(threads), out],
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError("%s failed: %s" % (system, p.stderr[-2000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])["wall"], out


def agree(case, got, ref):
    g, r = np.load(got), np.load(ref)
    if case == "S":
        return abs(float(g) - float(r)) <= 1e-12 * abs(float(r))
    return g.dtype == r.dtype and g.shape == r.shape and g.tobytes() == r.tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cask")
    ap.add_argument("--cask-bench", help="the cask-bench running this script (cask-bench --only select)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3, help="runs per system and case (the best is reported)")
    ap.add_argument("--cases", default="S,W")
    a = ap.parse_args()
    cask = a.cask
    if not cask and a.cask_bench:
        cask = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(a.cask_bench))), "tools", "cask")
    if not cask or not os.path.exists(cask):
        cask = cask or os.path.join(HERE, "..", "build", "tools", "cask")
    cask = os.path.abspath(cask)
    n = 10**7 if a.quick else 10**8
    os.makedirs(DATA, exist_ok=True)
    path = make_x(n)
    log("select: x %d float64 (%.2f GB) in %s, %d threads, best of %d" % (n, n * 8 / 1e9, path, a.threads, a.reps))
    ok, rows = True, []
    for case in a.cases.split(","):
        best = {}
        with tempfile.TemporaryDirectory(dir=DATA) as d:
            for system in ("numpy", "dask", "cask"):
                for rep in range(a.reps):
                    if system == "cask":
                        wall, out = run_cask(cask, case, path, a.threads, d)
                    else:
                        wall, out = run_anchor(system, case, path, a.threads, d)
                    good = system == "numpy" or agree(case, out, os.path.join(d, "numpy.npy"))
                    ok &= good
                    print(json.dumps({"bench": "select", "case": case, "system": system, "rep": rep, "n": n,
                                      "threads": a.threads, "wall": wall, "ok": good}), flush=True)
                    best[system] = min(best.get(system, wall), wall)
        summary = {"bench": "select", "case": case, "n": n, "threads": a.threads,
                   **{s + "_wall": w for s, w in best.items()},
                   "ratio_numpy": best["cask"] / best["numpy"], "ratio_dask": best["cask"] / best["dask"]}
        print(json.dumps(summary), flush=True)
        rows.append(summary)
    log("%-4s %-26s %9s %9s %9s %12s %12s" % ("case", "what", "cask s", "numpy s", "dask s", "cask/numpy",
                                              "cask/dask"))
    names = {"S": "x[x > 0.5].sum()", "W": "x[x > 0.5] -> .npy"}
    for s in rows:
        log("%-4s %-26s %9.3f %9.3f %9.3f %12.2f %12.2f" % (s["case"], names[s["case"]], s["cask_wall"],
                                                           s["numpy_wall"], s["dask_wall"], s["ratio_numpy"],
                                                           s["ratio_dask"]))
    log("cask: process wall (reading x included); numpy, dask: the expression only")
    log("all results agree with NumPy" if ok else "SOME RESULTS DIFFER FROM NUMPY")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
