#!/usr/bin/python3
"""decomp.py - TSQR and einsum (issue 14), cask beside NumPy and dask.array
on the same in-memory data.

  T   q, r = qr(x)          x: 10^6 x 100 float64 (800 MB), row chunks of
                            `crow`, one column chunk; Q and R both computed
                            into memory (cask: cask_qr into two buffers;
                            dask: dask.compute(q, r) of da.linalg.qr;
                            NumPy: np.linalg.qr(x), LAPACK on all threads)
  TR  r = qr(x, mode='r')   R only (cask: the TSQR tree without Q; dask:
                            r.compute(); NumPy: mode='r')
  E   einsum('ij,ij->i', a, b)  a, b: 10^4 x 10^4 float64 (800 MB each),
                            row chunks of 1000 (cask: cask_einsum into a
                            buffer; dask: da.einsum; NumPy: np.einsum)

--quick: 10^5 x 100 and 3000 x 3000. Each system runs in a fresh process
(python3 decomp.py --child SYSTEM CASE ...), the data made there from one
seeded generator (not timed), then the operation timed --reps times: the
median is reported. cask is called through ctypes on libcask.so (beside
the bench program, ../libcask.so) with cask_from_buffer over NumPy's
array: no copy. OpenBLAS: NumPy's own threads = --threads (one LAPACK call
over the whole matrix), dask and cask one thread per block (their workers
are the parallelism; cask sets it itself). Results are checked: Q R = x
and Q.T Q = I at sampled rows (within 1e-10), |R| against NumPy's on the
first columns; einsum against NumPy's within 1e-12 relative.

Output: a table on stderr (seconds and the ratios cask / NumPy and cask /
dask), a JSON line per case on stdout.

  /usr/bin/python3 bench/decomp.py [--quick] [--cases T,TR,E] [--threads 2]
      [--reps 3] [--lib build/libcask.so]
or  build/bench/cask-bench --only decomp [--quick] [--threads 2]
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

FULL = dict(m=1000000, n=100, crow=50000, e=10000, ecrow=1000)
QUICK = dict(m=100000, n=100, crow=10000, e=3000, ecrow=500)


def data(case, size):
    import numpy as np
    rng = np.random.default_rng(14)
    if case in ("T", "TR"):
        return (rng.standard_normal((size["m"], size["n"])),)
    return (rng.standard_normal((size["e"], size["e"])), rng.standard_normal((size["e"], size["e"])))


class Cask:
    """The few calls of libcask.so the cases need."""

    def __init__(self, lib, threads):
        self.L = ctypes.CDLL(lib)
        P, I64 = ctypes.c_void_p, ctypes.c_int64

        class Opts(ctypes.Structure):
            _fields_ = [("threads", ctypes.c_int), ("split_every", ctypes.c_int), ("chunk_bytes", I64),
                        ("memory_limit", ctypes.c_uint64), ("spill_dir", ctypes.c_char_p)]
        self.ctx = P()
        opts = Opts(threads, 0, 0, ctypes.c_uint64(-1).value, None)  # CASK_MEMORY_UNLIMITED
        self.check(self.L.cask_ctx_new(ctypes.byref(opts), ctypes.byref(self.ctx)), "cask_ctx_new")
        self.L.cask_ctx_errmsg.restype = ctypes.c_char_p
        self.L.cask_ctx_errmsg.argtypes = [P]

    def check(self, rc, what):
        if rc:
            msg = self.L.cask_ctx_errmsg(self.ctx).decode() if getattr(self, "ctx", None) else ""
            raise RuntimeError("%s: %d %s" % (what, rc, msg))

    def array(self, x, chunks):
        a = ctypes.c_void_p()
        shape = (ctypes.c_int64 * x.ndim)(*x.shape)
        ch = (ctypes.c_int64 * x.ndim)(*chunks)
        self.check(self.L.cask_from_buffer(self.ctx, ctypes.c_void_p(x.ctypes.data), 0, x.ndim, shape, ch, None, None,
                                           ctypes.byref(a)), "cask_from_buffer")  # 0: CASK_F64
        return a

    def compute(self, a, out):
        self.check(self.L.cask_compute(a, ctypes.c_void_p(out.ctypes.data), ctypes.c_size_t(out.nbytes)), "cask_compute")

    def store(self, pairs):
        """cask_store of (array, numpy buffer) pairs: one run."""
        class Target(ctypes.Structure):
            _fields_ = [("kind", ctypes.c_int), ("array", ctypes.c_void_p), ("buf", ctypes.c_void_p),
                        ("nbytes", ctypes.c_size_t), ("path", ctypes.c_char_p), ("zarr", ctypes.c_void_p),
                        ("name", ctypes.c_char_p), ("hdf5", ctypes.c_void_p)]
        ts = (Target * len(pairs))(*[Target(0, a, out.ctypes.data, out.nbytes, None, None, None, None) for a, out in pairs])
        self.check(self.L.cask_store(len(pairs), ts, None), "cask_store")

    def release(self, *arrays):
        for a in arrays:
            self.L.cask_array_release(a)


def child(system, case, size, threads, reps, lib):
    if system != "numpy":
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import numpy as np
    xs = data(case, size)
    times, result = [], None
    if system == "cask":
        c = Cask(lib, threads)
        if case in ("T", "TR"):
            x = c.array(xs[0], (size["crow"], size["n"]))
        else:
            a, b = (c.array(v, (size["ecrow"], size["e"])) for v in xs)
    elif system == "dask":
        import dask
        import dask.array as da
        if case in ("T", "TR"):
            x = da.from_array(xs[0], chunks=(size["crow"], size["n"]))
        else:
            a, b = (da.from_array(v, chunks=(size["ecrow"], size["e"])) for v in xs)
    for _ in range(reps):
        t0 = time.perf_counter()
        if system == "numpy":
            if case == "T":
                result = np.linalg.qr(xs[0])
            elif case == "TR":
                result = (None, np.linalg.qr(xs[0], mode="r"))
            else:
                result = np.einsum("ij,ij->i", xs[0], xs[1])
        elif system == "dask":
            if case == "T":
                result = dask.compute(*da.linalg.qr(x), scheduler="threads", num_workers=threads)
            elif case == "TR":
                result = (None, da.linalg.qr(x)[1].compute(scheduler="threads", num_workers=threads))
            else:
                result = da.einsum("ij,ij->i", a, b).compute(scheduler="threads", num_workers=threads)
        else:
            if case in ("T", "TR"):
                n = size["n"]
                q, r = ctypes.c_void_p(), ctypes.c_void_p()
                c.check(c.L.cask_qr(x, ctypes.byref(q) if case == "T" else None, ctypes.byref(r)), "cask_qr")
                qo = np.empty((size["m"], n)) if case == "T" else None
                ro = np.empty((n, n))
                if case == "T":  # both in one graph and one run: the tree is shared
                    c.store([(q, qo), (r, ro)])
                else:
                    c.compute(r, ro)
                c.release(q, r)
                result = (qo, ro)
            else:
                y = ctypes.c_void_p()
                ops = (ctypes.c_void_p * 2)(a, b)
                c.check(c.L.cask_einsum(b"ij,ij->i", 2, ops, ctypes.byref(y)), "cask_einsum")
                result = np.empty(size["e"])
                c.compute(y, result)
                c.release(y)
        times.append(time.perf_counter() - t0)
    ok = verify(case, xs, result)
    print(json.dumps({"system": system, "case": case, "times": times, "ok": ok}))


def verify(case, xs, result):
    import numpy as np
    if case == "E":
        ref = np.einsum("ij,ij->i", xs[0][:50], xs[1][:50])
        return bool(np.allclose(result[:50], ref, rtol=1e-12, atol=1e-9))
    x = xs[0]
    q, r = result
    n = x.shape[1]
    rows = np.arange(0, x.shape[0], max(1, x.shape[0] // 500))
    ok = bool(np.allclose(r.T @ r, x.T @ x, rtol=1e-9, atol=1e-6 * x.shape[0]))
    ok &= bool(np.allclose(np.triu(r), r))
    if q is not None:
        ok &= bool(np.allclose(q[rows] @ r, x[rows], atol=1e-10 * np.abs(x).max()))
        ok &= bool(np.allclose(q.T @ q, np.eye(n), atol=1e-10))
    return ok


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--child", nargs=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cases", default="T,TR,E")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--lib")
    p.add_argument("--cask-bench")
    a = p.parse_args()
    size = QUICK if a.quick else FULL
    lib = a.lib
    if not lib:
        here = os.path.dirname(os.path.realpath(a.cask_bench)) if a.cask_bench else os.path.join(os.getcwd(), "build", "bench")
        lib = os.path.join(here, "..", "libcask.so")
    if a.child:
        return child(a.child[0], a.child[1], size, a.threads, a.reps, lib)
    print("decomp: TSQR and einsum, %d threads, %s, median of %d" % (a.threads, "quick" if a.quick else "full size", a.reps),
          file=sys.stderr)
    print("%-4s %10s %10s %10s %12s %12s" % ("case", "cask s", "numpy s", "dask s", "cask/numpy", "cask/dask"), file=sys.stderr)
    for case in a.cases.split(","):
        med, spread = {}, {}
        for system in ("cask", "numpy", "dask"):
            r = subprocess.run([sys.executable, os.path.realpath(__file__), "--child", system, case, "--threads",
                                str(a.threads), "--reps", str(a.reps), "--lib", lib] + (["--quick"] if a.quick else []),
                               capture_output=True, text=True)
            if r.returncode:
                print("decomp: %s %s failed: %s" % (system, case, r.stderr.strip()[-2000:]), file=sys.stderr)
                continue
            out = json.loads(r.stdout.strip().splitlines()[-1])
            if not out["ok"]:
                print("decomp: %s %s: WRONG RESULT" % (system, case), file=sys.stderr)
            med[system] = statistics.median(out["times"])
            spread[system] = (min(out["times"]), max(out["times"]))
        c, n, d = med.get("cask"), med.get("numpy"), med.get("dask")
        fmt = lambda v: "%10.3f" % v if v else "%10s" % "-"
        ratio = lambda u, v: "%12.2f" % (u / v) if u and v else "%12s" % "-"
        print("%-4s %s %s %s %s %s" % (case, fmt(c), fmt(n), fmt(d), ratio(c, n), ratio(c, d)), file=sys.stderr)
        print("     min-max: " + ", ".join("%s %.3f-%.3f" % (k, v[0], v[1]) for k, v in spread.items()), file=sys.stderr)
        print(json.dumps({"bench": "decomp", "case": case, "threads": a.threads, "quick": a.quick, "median_s": med,
                          "min_max_s": spread}))


if __name__ == "__main__":
    main()
