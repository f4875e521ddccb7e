#!/usr/bin/python3
"""order.py - sorting and exact order statistics (issue 14, part 4): cask
beside NumPy and dask.array on the same data.

  S  sort(x)                        cask: `sum(sort(x))` (every sorted block
                                    made; the sum keeps 0.8 GB from being
                                    written out); NumPy: np.sort(x), one
                                    thread (its quicksort)
  C  cumsum(x), written to .npy     cask: `cumsum(x)` to a .npy file (a
                                    block scan, carries in block order);
                                    R, cask's `sum(x)` over the same file,
                                    is the read bandwidth it is set beside
                                    (the issue asks cumsum >= 0.5 of it);
                                    NumPy: np.cumsum(x) (not written);
                                    no dask anchor (the comment in main says why)
  P  percentile(x, [1, 50, 99])     cask: exact, NumPy's 'linear' method;
                                    NumPy: np.percentile (exact); dask:
                                    da.percentile (approximate: per-chunk
                                    percentiles merged)

Full size: x is 10^8 float64 (0.8 GB), standard normal from a seeded NumPy
generator, saved once as $CASK_BENCH_DATA/order-x-N-seed14.npy (default
/var/tmp/cask-bench-data); --quick: 10^7. cask reads it in chunks of n / 50
elements (--chunk): fifty runs for the external merge, blocks of 16 MB
that the block pool recycles (with ten blocks of 80 MB, half of a sort's
time went to the kernel clearing fresh pages).

cask runs as `cask run -t N job.json` in a fresh process (the file is in
the page cache: the NumPy process read it first); its time is the process
wall, reading x included. NumPy's and dask's times are those of the call
alone (x already in memory, imports left out), in their favour. The ratio
is cask's wall over the anchor's; the issue asks for sort <= 0.5 of NumPy's
single-threaded np.sort on 2 threads. cask's percentiles are checked bit
for bit against NumPy's, dask's error is reported.

Each system's CPU seconds (user + system) are reported beside its wall:
on a shared machine the load stretches walls far more than CPU time.

Output: a table on stderr, a JSON line per case on stdout.

  /usr/bin/python3 bench/order.py [--quick] [--threads 2] [--reps 1]
      [--cask build/tools/cask]
or  build/bench/cask-bench --only order [--quick] [--threads 2]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

SEED = 14
DATA = os.environ.get("CASK_BENCH_DATA") or "/var/tmp/cask-bench-data"
HERE = os.path.dirname(os.path.abspath(__file__))
Q = [1, 50, 99]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def data(n):
    os.makedirs(DATA, exist_ok=True)
    p = os.path.join(DATA, "order-x-%d-seed%d.npy" % (n, SEED))
    if not os.path.exists(p):
        log("making %s" % p)
        x = np.random.default_rng(SEED).standard_normal(n)
        tmp = p + ".tmp.npy"
        np.save(tmp, x)
        os.rename(tmp, p)
    return p


def run_cask(cask, threads, path, chunk, step, d):
    job = {"inputs": {"x": {"source": "npy", "path": path, "chunks": [chunk]}}, "steps": {"y": step},
           "outputs": {"y": {"npy": os.path.join(d, "y.npy")}}}
    with open(os.path.join(d, "job.json"), "w") as f:
        json.dump(job, f)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([cask, "run", "--quiet", "-t", str(threads), os.path.join(d, "job.json")], check=True)
    t = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["cask"] = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    return t, np.load(os.path.join(d, "y.npy"))


CPU = {}  # CPU seconds (user + system) of the last run of each system: the load of a shared machine
          # inflates walls, much less these


def best(f, reps, who):
    out = None
    for _ in range(reps):
        c = time.process_time()
        t = time.perf_counter()
        r = f()
        t = time.perf_counter() - t
        CPU[who] = time.process_time() - c
        out = (t, r) if out is None or t < out[0] else out
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--cask", default=os.path.join(HERE, "..", "build", "tools", "cask"))
    ap.add_argument("--chunk", type=int, help="cask's chunk (default n / 50)")
    ap.add_argument("--cask-bench")  # when run by cask-bench: the cask program is beside it
    a = ap.parse_args()
    if a.cask_bench:
        a.cask = os.path.join(os.path.dirname(os.path.dirname(a.cask_bench)), "tools", "cask")
    n = 10**7 if a.quick else 10**8
    chunk = a.chunk or n // 50
    path = data(n)
    x = np.load(path)
    log("order: n = %d, chunks %d, threads %d, load %s" % (n, chunk, a.threads, os.getloadavg()))
    res = []
    with tempfile.TemporaryDirectory() as d:
        t_np, s_np = best(lambda: np.sort(x), a.reps, "numpy")
        del s_np
        t_c = min(run_cask(a.cask, a.threads, path, chunk, "sum(sort(x))", d)[0] for _ in range(a.reps))
        res.append(dict(case="S", what="sort of %d float64" % n, cask_s=t_c, numpy_s=t_np, ratio_numpy=t_c / t_np,
                        cask_cpu_s=CPU["cask"], numpy_cpu_s=CPU["numpy"]))
        t_r = min(run_cask(a.cask, a.threads, path, chunk, "sum(x)", d)[0] for _ in range(a.reps))
        cpu_r = CPU["cask"]
        t_np, c_np = best(lambda: np.cumsum(x), a.reps, "numpy")
        runs = [run_cask(a.cask, a.threads, path, chunk, "cumsum(x)", d) for _ in range(a.reps)]
        t_c, c_c = min(runs, key=lambda r: r[0])
        del runs
        # the scan adds each block's carry to its own sums: rounding differs
        # from NumPy's one sequential pass, by at most a few ulps of the
        # running total
        err = float(np.max(np.abs(c_c - c_np)) / max(1.0, float(np.max(np.abs(c_np)))))
        del c_c
        # the scan alone, every block made but not written (as S does for sort)
        t_s = min(run_cask(a.cask, a.threads, path, chunk, "sum(cumsum(x))", d)[0] for _ in range(a.reps))
        row = dict(case="C", what="cumsum of %d float64, to .npy" % n, cask_s=t_c, numpy_s=t_np,
                   ratio_numpy=t_c / t_np, cask_cpu_s=CPU["cask"], numpy_cpu_s=CPU["numpy"],
                   read_s=t_r, read_cpu_s=cpu_r, read_gbps=8e-9 * n / t_r, cumsum_gbps=8e-9 * n / t_c,
                   scan_s=t_s, scan_gbps=8e-9 * n / t_s, of_read_bandwidth=t_r / t_s,
                   written_of_read_bandwidth=t_r / t_c, max_error_of_max=err)
        # no dask anchor: Debian's dask (2022.12) took 12 s for da.cumsum of
        # 10^6 float64 in 50 chunks (1.0 s for 10^5: linear in the elements,
        # about 10 us each), 255 s at 10^7; not investigated
        res.append(row)
        del c_np
        t_np, p_np = best(lambda: np.percentile(x, Q), a.reps, "numpy")
        runs = [run_cask(a.cask, a.threads, path, chunk, "percentile(x, %s)" % Q, d) for _ in range(a.reps)]
        t_c, p_c = min(runs, key=lambda r: r[0])
        exact = bool(np.array_equal(p_c, p_np))
        row = dict(case="P", what="percentile(x, %s) of %d float64" % (Q, n), cask_s=t_c, numpy_s=t_np,
                   ratio_numpy=t_c / t_np, cask_exact=exact, cask_cpu_s=CPU["cask"], numpy_cpu_s=CPU["numpy"])
        try:
            import dask
            import dask.array as da
            xd = da.from_array(x, chunks=chunk)
            with dask.config.set(scheduler="threads", num_workers=a.threads):
                t_d, p_d = best(lambda: da.percentile(xd, Q).compute(), a.reps, "dask")
            row.update(dask_s=t_d, dask_cpu_s=CPU["dask"], ratio_dask=t_c / t_d, dask_max_abs_error=float(np.max(np.abs(p_d - p_np))))
        except ImportError:
            log("dask is not installed: no dask anchor")
        res.append(row)
    log("%-4s %-44s %15s %15s %15s %7s %7s" % ("case", "what", "cask s (cpu)", "numpy s (cpu)", "dask s (cpu)",
                                             "/numpy", "/dask"))
    for r in res:
        dk = "%.3f (%.2f)" % (r["dask_s"], r["dask_cpu_s"]) if "dask_s" in r else "-"
        log("%-4s %-44s %15s %15s %15s %7.2f %7s" % (r["case"], r["what"], "%.3f (%.2f)" % (r["cask_s"], r["cask_cpu_s"]),
                                                   "%.3f (%.2f)" % (r["numpy_s"], r["numpy_cpu_s"]), dk, r["ratio_numpy"],
                                                   "%.2f" % r["ratio_dask"] if "ratio_dask" in r else "-"))
        print(json.dumps(dict(bench="order", threads=a.threads, n=n, **r)))
    for r in res:
        if "of_read_bandwidth" in r:
            log("C: cask's cumsum %.2f GB/s (sum(cumsum(x)): every block scanned, none written), %.2f of its "
                "read of x (sum(x): %.2f GB/s; >= 0.5 asked); written to .npy %.2f GB/s (%.2f); largest "
                "difference from np.cumsum %.1e of the largest sum" % (
                    r["scan_gbps"], r["of_read_bandwidth"], r["read_gbps"], r["cumsum_gbps"],
                    r["written_of_read_bandwidth"], r["max_error_of_max"]))
    log("load average at the end: %s" % (os.getloadavg(),))
    for r in res:
        if r.get("cask_exact") is False:
            log("FAIL: cask's percentiles differ from NumPy's")
            sys.exit(1)


if __name__ == "__main__":
    main()
