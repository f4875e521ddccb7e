#!/usr/bin/python3
"""array_numpy_check.py - cask's arrays against NumPy.

Usage: array_numpy_check.py CASK_TESTS_BINARY

Writes input arrays made with NumPy to a temporary directory, runs the
"numpy" TCase of the array suite (tests/test_array.c,
numpy_computes_the_same_as_cask) with CASK_NUMPY_DIR pointing there, reads
back what cask computed and compares it with NumPy's own results. Exits 0
when everything matches, 1 on a mismatch (each one listed), 2 when the test
binary fails or leaves an output out.

Files are "CASKF64\\0", int64 ndim, int64 shape[ndim], then the values as
float64 in C order, all little-endian (cask has no .npy reader yet).

Tolerances: arithmetic and reductions rtol 1e-12, with an absolute term
where cancellation makes a relative one meaningless (a sum's error is
bounded by n * eps * sum|x|, not by its result); transcendental functions
1e-13 relative + 4 ulp, since cask calls glibc's vector math (within 4 ulp)
and NumPy its own SIMD or scalar code.

Needs Debian's python3-numpy: run it with /usr/bin/python3.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

MAGIC = b"CASKF64\0"


def write(path, a):
    a = np.ascontiguousarray(a, dtype="<f8")
    with open(path, "wb") as f:
        f.write(MAGIC)
        np.array([a.ndim, *a.shape], dtype="<i8").tofile(f)
        a.tofile(f)


def read(path):
    with open(path, "rb") as f:
        if f.read(8) != MAGIC:
            raise ValueError(f"{path}: not a CASKF64 file")
        ndim = int(np.fromfile(f, dtype="<i8", count=1)[0])
        shape = tuple(int(s) for s in np.fromfile(f, dtype="<i8", count=ndim))
        data = np.fromfile(f, dtype="<f8")
    if data.size != int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"{path}: {data.size} values for shape {shape}")
    return data.reshape(shape)


def inputs():
    rng = np.random.default_rng(20261124)
    a = rng.standard_normal((6, 7, 5))
    b = rng.standard_normal((7, 5))
    c = rng.uniform(0.1, 10.0, (6, 7, 5))
    u = rng.uniform(-1.0, 1.0, (6, 7, 5))
    n = rng.standard_normal((7, 5))
    n[0, 0] = n[3, 2] = n[6, 4] = n[5, 0] = np.nan
    return dict(a=a, b=b, c=c, u=u, n=n)


ARITH, MATH = "arith", "math"


def expected(v):
    """name -> (NumPy's result, tolerance class, absolute tolerance)."""
    a, b, c, u, n = v["a"], v["b"], v["c"], v["u"], v["n"]
    out = {}

    def arith(name, r, atol=0.0):
        out[name] = (np.asarray(r, dtype=np.float64), ARITH, atol)

    def math(name, r):
        out[name] = (np.asarray(r, dtype=np.float64), MATH, 0.0)

    arith("add", a + b)
    arith("sub_rev", 2.5 - a)
    arith("div_rev", 3.0 / c)
    math("pow", c**1.5)
    math("rpow", 1.5**a)
    # |result| may be near 0 where 2a + 3b^2 cancels sin(a): scale by the terms
    math("expr", 2 * a + 3 * b * b - np.sin(a))
    arith("maximum", np.maximum(a, n))
    arith("minimum", np.minimum(n, a))
    math("arctan2", np.arctan2(a, b))
    unary = {
        "negative": (np.negative, a), "abs": (np.abs, a), "sqrt": (np.sqrt, c),
        "exp": (np.exp, a), "expm1": (np.expm1, a), "log": (np.log, c),
        "log1p": (np.log1p, c), "log2": (np.log2, c), "log10": (np.log10, c),
        "sin": (np.sin, a), "cos": (np.cos, a), "tan": (np.tan, a),
        "arcsin": (np.arcsin, u), "arccos": (np.arccos, u), "arctan": (np.arctan, a),
        "sinh": (np.sinh, a), "cosh": (np.cosh, a), "tanh": (np.tanh, a),
        "floor": (np.floor, a), "ceil": (np.ceil, a),
    }
    for name, (f, x) in unary.items():
        (arith if name in ("negative", "abs", "floor", "ceil") else math)(name, f(x))

    def sum_atol(x, axis):
        # a sum's rounding error is bounded by n * eps * sum|x|
        return 1e-12 * np.sum(np.abs(x), axis=axis)

    arith("sum_all", np.sum(a), sum_atol(a, None))
    arith("sum_0", np.sum(a, axis=0), sum_atol(a, 0))
    arith("sum_02", np.sum(a, axis=(0, 2)), sum_atol(a, (0, 2)))
    arith("sum_neg1", np.sum(a, axis=-1), sum_atol(a, -1))
    arith("mean_1", np.mean(a, axis=1), sum_atol(a, 1) / a.shape[1])
    arith("var_01_ddof1", np.var(a, axis=(0, 1), ddof=1))
    arith("std_2", np.std(a, axis=2))
    arith("min_2", np.min(a, axis=2))
    arith("max_all", np.max(a))
    arith("max_n_0", np.max(n, axis=0))
    arith("min_n_all", np.min(n))
    arith("sum_n_1", np.sum(n, axis=1), np.nan_to_num(sum_atol(n, 1)))
    arith("sum_ab", np.sum(a * b), sum_atol(a * b, None))
    s0 = np.sum(a, axis=0)
    arith("mean_of_sum", np.mean(s0), 1e-12 * np.sum(np.abs(a)) / s0.size)
    arith("centered", a - a.mean(axis=0), 1e-12 * np.max(np.abs(a)))
    # NumPy fills arange as start + i * ((start + step) - start): the values
    # may differ from start + i * step in the last bits
    arith("arange", np.arange(0.5, 7.3, 0.35), 1e-14)
    return out


def within(got, want, kind, atol):
    """Elementwise: a NaN must meet a NaN, an infinity the same infinity."""
    both_nan = np.isnan(got) & np.isnan(want)
    if kind == ARITH:
        tol = atol + 1e-12 * np.abs(want)
    else:
        scale = np.abs(want)
        tol = 1e-13 * scale + 4 * np.spacing(scale)
    with np.errstate(invalid="ignore"):
        close = (got == want) | (np.abs(got - want) <= tol)
    return both_nan | (close & ~np.isnan(got) & ~np.isnan(want))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    v = inputs()
    want = expected(v)
    # expr's cancellation: its terms bound the error, not its value
    a, b = v["a"], v["b"]
    with tempfile.TemporaryDirectory(prefix="cask-numpy-") as d:
        for name, x in v.items():
            write(os.path.join(d, name + ".f64"), x)
        env = dict(os.environ, CASK_NUMPY_DIR=d, CK_RUN_CASE="numpy")
        env.pop("CK_RUN_SUITE", None)
        run = subprocess.run([binary, "array"], env=env, capture_output=True, text=True)
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        if run.returncode != 0 or "Checks: 1, Failures: 0, Errors: 0" not in run.stdout:
            print(f"{binary} array (CK_RUN_CASE=numpy) failed with status {run.returncode}", file=sys.stderr)
            return 2
        bad = 0
        for name, (w, kind, atol) in want.items():
            path = os.path.join(d, f"out_{name}.f64")
            if not os.path.exists(path):
                print(f"{name}: cask wrote no output", file=sys.stderr)
                return 2
            got = read(path)
            if got.shape != w.shape:
                print(f"{name}: shape {got.shape}, NumPy {w.shape}")
                bad += 1
                continue
            if name == "expr":
                atol = 1e-13 * (2 * np.abs(a) + 3 * b * b + 1)
                ok = within(got, w, ARITH, atol)
            else:
                ok = within(got, w, kind, atol)
            if not ok.all():
                i = tuple(int(k) for k in np.argwhere(~ok)[0])
                print(f"{name}: {int((~ok).sum())} of {ok.size} differ; first {i}: cask {got[i]!r}, NumPy {w[i]!r}")
                bad += 1
        print(f"array_numpy_check: {len(want) - bad} of {len(want)} results match NumPy")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
