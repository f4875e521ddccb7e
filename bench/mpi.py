#!/usr/bin/python3
"""mpi.py - cask on MPI ranks (issue 13) beside dask.distributed.

  A  mean((x + x.T)[::2, c0:], axis=1)   x: N x N float64 .npy, chunks 500
  B  a @ b                               a, b: M x M float64 .npy
  C  std(x - mean(x, axis=0), axis=0)    x: R x 1000 float64 .npy (two passes)

Full size: N = 20000 (c0 = 5000), M = 4000, R = 200000; --quick: N = 4000
(c0 = 1000), M = 1500, R = 40000. Inputs are made once in $CASK_BENCH_DATA
(default /var/tmp/cask-bench-data).

Systems, K = 1, 2, 4 (oversubscribed on this machine's cores):
  cask   `mpirun --oversubscribe -np K cask run job.json`, one thread per
         rank; the wall of mpirun (MPI start-up included); bytes sent from
         the summary's totals (`cask: K ranks (...): ... sent B blocks ...`).
  dask   distributed.LocalCluster(n_workers=K, threads_per_worker=1); the
         wall of .compute() with the cluster already up (in dask's favour);
         bytes moved between workers from the workers' transfer logs.
"minimum" is the least a distribution of the blocks must move
(docs/distributed.md, "Placement"): A, row blocks: what ranks owning
contiguous row blocks of every array would have to receive at least (the
x.T entries of their rows from other ranks' rows; cask reads a file's
block where it is needed, so it can move less); B, SUMMA: each operand
block from its owner to every other rank of its process row or column on
the P x Q grid placement picks (P * Q = K, the most ranks given result
blocks, then the most square: 8 M^2 (P + Q - 2); with b in row blocks of
all M columns the result has one column of blocks, so P = K, Q = 1); C,
the reductions' two-level folds over row blocks (segments of max(8,
ceil(sqrt n)) blocks): the states crossing rank boundaries inside
segments and between segments' ends in each pass (2 float64 per column
for the mean's (n, mean), 3 for the std's (n, mean, M2)) and the mean back
to every other rank; the summary's byte total is rounded to 0.1 KiB/MiB. cask's outputs are
checked to be the same bytes for every K, and against NumPy (computed in
slabs of a memory map; within 1e-10 of the largest magnitude).

  --cases A,B,C  --ks 1,2,4  --reps N (each system N times in turn at each
  K; the median wall is reported, every wall is in the JSON)  --no-metg

Then bench/mpi_metg.c (cask-mpi-metg beside this program) at K = 2, 4:
Task Bench's METG on a stencil, cask's executor beside hand-written MPI.
Then scripts/plan_scaling.py: the fake-rank planning table of a weakly
scaled job, K = 1 to 1024 (--plan-max-k; 64 with --quick), each rank building its part of
the graph (--plan-whole: also every rank building the whole graph, as
before; a minute more).

Output: a table on stderr, a JSON line per run on stdout."""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


class NpyLazy:
    """A .npy file as an array dask slices in its workers (pickles as the path)."""

    def __init__(self, path):
        self.path = path
        m = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = m.shape, m.dtype, m.ndim

    def __getitem__(self, idx):
        return np.asarray(np.load(self.path, mmap_mode="r")[idx])


def make_inputs(data, quick):
    n, m, r = (4000, 1500, 40000) if quick else (20000, 4000, 200000)
    os.makedirs(data, exist_ok=True)
    files = {"x": ("mpi_x_%d.npy" % n, (n, n)), "a": ("mpi_a_%d.npy" % m, (m, m)),
             "b": ("mpi_b_%d.npy" % m, (m, m)), "t": ("mpi_t_%d.npy" % r, (r, 1000))}
    for k, (name, shape) in files.items():
        p = os.path.join(data, name)
        if not os.path.exists(p):
            rng = np.random.default_rng(abs(hash(name)) % 1000)
            out = np.lib.format.open_memmap(p + ".tmp", mode="w+", dtype=np.float64, shape=shape)
            for i in range(0, shape[0], 1000):
                out[i:i + 1000] = rng.standard_normal((min(1000, shape[0] - i), shape[1]))
            out.flush()
            del out
            os.rename(p + ".tmp", p)
    return {k: os.path.join(data, v[0]) for k, v in files.items()}, n, m, r


def row_owner(nrows, chunk, k):
    """Owner of each row: contiguous runs of row blocks, the first runs one longer."""
    nb = -(-nrows // chunk)
    per, extra = divmod(nb, k)
    owner = np.empty(nrows, dtype=np.int64)
    b = 0
    for r in range(k):
        cnt = per + (r < extra)
        owner[b * chunk:(b + cnt) * chunk] = r
        b += cnt
    return owner


def minimum(case, k, n, m, r, c0):
    if k == 1:
        return 0
    if case == "A":
        own = row_owner(n, 500, k)
        total = 0
        for rank in range(k):
            rows = np.nonzero(own == rank)[0]
            even = np.count_nonzero(rows % 2 == 0)
            other = np.count_nonzero(own[c0:] != rank)
            total += even * other
        return total * 8
    if case == "B":
        # the P x Q grid placement picks for the result's (m / 500) x 1
        # blocks: the most ranks given blocks, then the most square
        ni, nj = -(-m // 500), 1
        p, q = max(((d, k // d) for d in range(1, k + 1) if k % d == 0),
                   key=lambda g: (min(g[0], ni) * min(g[1], nj), -abs(g[0] - g[1]), g[0]))
        return (p + q - 2) * m * m * 8
    # the two-level fold over the row blocks (docs/distributed.md): states
    # across rank boundaries inside segments and between segments' ends, in
    # both passes (2 and 3 float64 per column), and the mean to every other rank
    nb = -(-r // 5000)
    return (fold_states(nb, k) * (2 + 3) + min(k, nb) - 1) * 1000 * 8


def fold_states(n, k):
    """States the segmented fold of n blocks sends on K ranks holding
    contiguous runs (the first n % K one longer)."""
    q, rem = divmod(n, k)
    owner = [j // (q + 1) if j < rem * (q + 1) else rem + (j - rem * (q + 1)) // q for j in range(n)]
    s = max(8, math.isqrt(n - 1) + 1 if n > 1 else 1)
    segs = [range(a, min(a + s, n)) for a in range(0, n, s)]
    inner = sum(owner[j] != owner[j - 1] for seg in segs for j in seg[1:])
    return inner + sum(owner[segs[i - 1][-1]] != owner[segs[i][-1]] for i in range(1, len(segs)))


def jobs(paths, n, m, c0):
    return {
        "A": {"inputs": {"x": {"source": "npy", "path": paths["x"], "chunks": [500, 500]}},
              "steps": {"y": "mean((x + x.T)[::2, %d:], axis=1)" % c0}, "outputs": {"y": {"npy": "y.npy"}}},
        "B": {"inputs": {"a": {"source": "npy", "path": paths["a"], "chunks": [500, m]},
                         "b": {"source": "npy", "path": paths["b"], "chunks": [500, m]}},
              "steps": {"y": "a @ b"}, "outputs": {"y": {"npy": "y.npy"}}},
        "C": {"inputs": {"x": {"source": "npy", "path": paths["t"], "chunks": [5000, 1000]}},
              "steps": {"y": "std(x - mean(x, axis=0), axis=0)"}, "outputs": {"y": {"npy": "y.npy"}}},
    }


def run_cask(cask, job, k, d):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", CASK_NUM_THREADS="1")
    with open(os.path.join(d, "job.json"), "w") as f:
        json.dump(job, f)
    t0 = time.perf_counter()
    p = subprocess.run(["mpirun", "--oversubscribe", "-np", str(k), cask, "run", "job.json"], cwd=d, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit("cask at K=%d failed: %s" % (k, p.stderr[-500:]))
    mm = re.search(r"\((\d+(?:\.\d+)?) (B|KiB|MiB|GiB) in", p.stderr)
    unit = {"B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}
    sent = float(mm.group(1)) * unit[mm.group(2)] if mm else float("nan")
    with open(os.path.join(d, "y.npy"), "rb") as f:
        return wall, sent, f.read()


def run_dask(case, paths, k, c0, m):
    import dask.array as da
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        if case == "A":
            x = da.from_array(NpyLazy(paths["x"]), chunks=(500, 500))
            y = (x + x.T)[::2, c0:].mean(axis=1)
        elif case == "B":
            y = da.from_array(NpyLazy(paths["a"]), chunks=(500, m)) @ da.from_array(NpyLazy(paths["b"]), chunks=(500, m))
        else:
            x = da.from_array(NpyLazy(paths["t"]), chunks=(5000, 1000))
            y = (x - x.mean(axis=0)).std(axis=0)
        t0 = time.perf_counter()
        y.compute()
        wall = time.perf_counter() - t0

        def moved(dask_worker):
            log = getattr(dask_worker, "transfer_outgoing_log", None)
            if log is None:  # distributed before 2023
                log = getattr(dask_worker, "outgoing_transfer_log", None) or []
            return sum(e.get("total", 0) for e in log)
        try:
            sent = sum(client.run(moved).values())
        except Exception:
            sent = float("nan")
    return wall, sent


def numpy_reference(case, paths, c0, m):
    """The case's result from NumPy, in slabs of a memory map (x at full size
    is 3.2 GB): A's mean over j >= c0 of x[i, j] + x[j, i] is the mean of
    x[i, c0:] plus the mean of x[c0:, i]."""
    if case == "A":
        x = np.load(paths["x"], mmap_mode="r")
        n = x.shape[0]
        rows = np.arange(0, n, 2)
        acc = np.zeros(len(rows))
        for i in range(0, len(rows), 1000):
            acc[i:i + 1000] = np.asarray(x[rows[i:i + 1000], c0:]).sum(axis=1)
        for j in range(c0, n, 1000):
            acc += np.asarray(x[j:j + 1000, ::2]).sum(axis=0)
        return acc / (n - c0)
    if case == "B":
        return np.load(paths["a"]) @ np.load(paths["b"])
    x = np.load(paths["t"], mmap_mode="r")
    s = np.zeros(x.shape[1])
    for i in range(0, x.shape[0], 10000):
        s += np.asarray(x[i:i + 10000]).sum(axis=0)
    mean = s / x.shape[0]
    q = np.zeros(x.shape[1])
    for i in range(0, x.shape[0], 10000):
        d = np.asarray(x[i:i + 10000]) - mean
        q += (d * d).sum(axis=0)
    return np.sqrt(q / x.shape[0])


def check(case, out, ref):
    """cask's .npy bytes against NumPy's result: within 1e-10 of the largest
    magnitude (the sums run in other orders)."""
    import io
    y = np.load(io.BytesIO(out))
    if y.shape != ref.shape:
        return False, "shape %s vs NumPy's %s" % (y.shape, ref.shape)
    err = float(np.abs(y - ref).max()) / (float(np.abs(ref).max()) or 1.0)
    return err <= 1e-10, "%.1e" % err


def median(xs):
    return sorted(xs)[(len(xs) - 1) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cask-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", default="A,B,C")
    ap.add_argument("--ks", default="1,2,4")
    ap.add_argument("--reps", type=int, default=1, help="runs per system and K, in turn; the median wall is reported")
    ap.add_argument("--no-metg", action="store_true")
    ap.add_argument("--plan-max-k", type=int, default=1024)
    ap.add_argument("--plan-whole", action="store_true")
    a = ap.parse_args()
    if not shutil.which("mpirun"):
        print("mpi: no mpirun: skipped", file=sys.stderr)
        return 0
    here = os.path.dirname(os.path.abspath(a.cask_bench or sys.argv[0]))
    cask = os.path.join(here, "..", "tools", "cask")
    data = os.environ.get("CASK_BENCH_DATA", "/var/tmp/cask-bench-data")
    paths, n, m, r = make_inputs(data, a.quick)
    c0 = n // 4
    print("\nMPI ranks (issue 13): cask under mpirun beside dask.distributed, K oversubscribed%s" %
          (", quick" if a.quick else ""), file=sys.stderr)
    print("%-4s %2s %10s %10s %7s %14s %14s %14s %9s %8s" % ("case", "K", "cask s", "dask s", "ratio", "cask bytes",
                                                             "minimum", "dask bytes", "same", "vs NumPy"),
          file=sys.stderr)
    cases = a.cases.split(",")
    for case, job in jobs(paths, n, m, c0).items():
        if case not in cases:
            continue
        first, ref = None, numpy_reference(case, paths, c0, m)
        for k in (int(v) for v in a.ks.split(",")):
            walls, dwalls = [], []
            for _ in range(max(1, a.reps)):
                with tempfile.TemporaryDirectory() as d:
                    wall, sent, out = run_cask(cask, job, k, d)
                walls.append(wall)
                dwall, dsent = run_dask(case, paths, k, c0, m)
                dwalls.append(dwall)
            wall, dwall = median(walls), median(dwalls)
            first = first or out
            good, err = check(case, out, ref)
            mn = minimum(case, k, n, m, r, c0)
            same = out == first
            print("%-4s %2d %10.2f %10.2f %7.2f %14.0f %14d %14.0f %9s %8s" % (
                case, k, wall, dwall, wall / dwall, sent, mn, dsent, "yes" if same else "NO",
                err if good else "FAIL " + err), file=sys.stderr)
            print(json.dumps({"bench": "mpi", "case": case, "k": k, "cask_wall_s": wall, "dask_wall_s": dwall,
                              "cask_walls": walls, "dask_walls": dwalls, "cask_bytes_sent": sent,
                              "minimum_bytes": mn, "dask_bytes_sent": dsent, "same_bytes_as_k1": same,
                              "numpy_ok": good, "numpy_rel_err": err, "quick": a.quick}))
            if not same:
                print("cask's output at K=%d differs from K=1" % k, file=sys.stderr)
    # METG across ranks beside a hand-written MPI stencil (bench/mpi_metg.c)
    metg = os.path.join(here, "cask-mpi-metg")
    if os.path.exists(metg) and not a.no_metg:
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        for k in (2, 4):
            p = subprocess.run(["mpirun", "--oversubscribe", "-np", str(k), metg], env=env, capture_output=True, text=True)
            sys.stderr.write(p.stderr)
            sys.stdout.write(p.stdout)
    # per-rank planning at scale (docs/distributed.md, "Planning at scale")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "plan_scaling.py")
    max_k = min(a.plan_max_k, 64) if a.quick else a.plan_max_k
    for mode in ["auto"] + (["whole"] if a.plan_whole else []):
        print("\nPlanning rank 0 and K-1 of K without MPI (%s mode), K = 1..%d:" % (mode, max_k), file=sys.stderr)
        p = subprocess.run([sys.executable, script, cask, str(max_k), "3", mode], capture_output=True, text=True)
        sys.stderr.write(p.stdout + p.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
