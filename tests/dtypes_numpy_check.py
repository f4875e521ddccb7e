#!/usr/bin/python3
"""dtypes_numpy_check.py - cask's dtypes against NumPy itself.

Usage: dtypes_numpy_check.py CASK_TESTS_BINARY

Writes inputs made with NumPy (x, y: 1-d; r: ROWS x COLS, in every dtype)
as raw little-endian C-order files "<name>.<dtype>" to a temporary
directory, runs the "numpy" TCase of the array_dtypes suite
(tests/test_array_dtypes.c, numpy_computes_the_same_as_cask) with
CASK_DTYPES_DIR pointing there, and compares every result cask wrote
("out-<case>.<dtype>", or "out-<case>.refused") with NumPy's: the grid of
every binary op over every pair of dtypes, every op with int, float and
bool scalars on either side (NEP 50: NumPy 1.24's
_set_promotion_state("weak")), every unary op, every reduction over all /
axis 0 / axis 1, astype and where over every pair, clip, linspace, eye,
full, arange.

Result dtypes must be NumPy's, except where cask has no such dtype (array.h
says so): float16 (float functions of uint8 and bool) is float64, and then
NumPy computes from float64 inputs; uint64 (sums and products of uint8) is
int64, compared modulo 2^64; int8 (bool ** bool, bool // bool, bool % bool)
and NumPy's TypeErrors are refusals (CASK_EINVAL). Integer power with a
negative exponent, which NumPy refuses, is checked against cask's rule (0,
or +-1 for bases +-1).

Tolerances: integer and bool results, float + - * / // %, maximum, minimum,
comparisons, where, astype, clip, round, floor, ceil, sqrt, min, max, arg*,
any, all: exact (bit for bit; every NaN is a NaN). Transcendental functions
(exp ... tanh, power, arctan2): float64 within 8 ulp, since cask calls
glibc's vector math (libmvec, within 4 ulp) and NumPy 1.24 on this CPU its
own SIMD code (SVML-derived, within 4 ulp): each may be 4 ulp off on
opposite sides; float32 within 5 ulp: NumPy's float32 SIMD functions are
within 4 ulp (its log is documented at 3.83), cask computes in float64 and
rounds (within 1). Float sums and means: (n + 1) eps sum|x| (the bound on
any summation order's error, for each side); var and std: 8 n eps relative
to mean(x^2); products: 2 (n + 1) eps |prod|.

Exits 0 when everything matches, 1 on a mismatch (each listed), 2 when the
test binary fails. Needs Debian's python3-numpy: run it with /usr/bin/python3.
"""
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

warnings.simplefilter("ignore")
np._set_promotion_state("weak")  # NEP 50, what cask's scalars follow

DTYPES = ["float64", "float32", "int64", "int32", "uint8", "bool"]
N, ROWS = 408, 24
BINOPS = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2",
          "floor_divide", "mod", "equal", "not_equal", "less", "less_equal", "greater",
          "greater_equal", "logical_and", "logical_or"]
UNOPS = ["negative", "abs", "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "sin",
         "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "floor", "ceil",
         "round", "isnan", "isfinite", "logical_not"]
REDUCTIONS = ["sum", "mean", "min", "max", "var", "std", "prod", "any", "all", "argmin",
              "argmax", "nansum", "nanmean", "nanmin", "nanmax"]
TRANSCENDENTAL = {"power", "arctan2", "exp", "expm1", "log", "log1p", "log2", "log10", "sin",
                  "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh"}
SCALARS = [3, 200, 0.1, -2.5, True]  # the C side's order: two Python ints, two floats, a bool


def inputs():
    rng = np.random.default_rng(20261124)
    edges_f = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -7.0, 7.25, 0.1, 255.0,
               256.0, 300.0, -300.5, 1e300, -1e-300, 5e-324, np.inf, -np.inf, np.nan,
               9007199254740993.0, 5e9 + 1, 2.0**31, -(2.0**31) - 1, 1e20]
    edges_i = [0, 1, -1, 2, -2, 7, -7, 3, 255, 256, 2**31 - 1, -2**31, 2**53 + 1, -(2**53 + 1),
               2**62, 2**63 - 1, -2**63]

    def floats(n, seed_shift):
        v = np.concatenate([
            rng.standard_normal(n // 4) * 10.0 ** rng.integers(-3, 4, n // 4),
            rng.integers(-20, 21, n // 4).astype(float),
            rng.integers(-40, 41, n // 4) * 0.25,
            rng.standard_normal(n - 3 * (n // 4)) * 1e6])
        v[:len(edges_f)] = edges_f
        return np.roll(v, seed_shift)

    def ints(n, lo, hi, edges, seed_shift):
        v = np.concatenate([rng.integers(lo, hi, n // 2, endpoint=True, dtype=np.int64),
                            rng.integers(-12, 13, n - n // 2, dtype=np.int64)])
        e = [k for k in edges if lo <= k <= hi]
        v[:len(e)] = e
        return np.roll(v, seed_shift)

    data = {}
    for name, shift in (("x", 0), ("y", 5)):
        f = floats(N, shift)
        data[name] = {
            "float64": f,
            "float32": f.astype(np.float32),
            "int64": ints(N, -2**63, 2**63 - 1, edges_i, shift),
            "int32": ints(N, -2**31, 2**31 - 1, edges_i, shift).astype(np.int32),
            "uint8": ints(N, 0, 255, edges_i, shift).astype(np.uint8),
            "bool": rng.integers(0, 2, N).astype(bool),
        }
    # r: moderate values for reductions (products stay finite), NaNs in
    # floats, ties in integers, full-range int64 (sums wrap, as NumPy's do)
    rf = rng.uniform(0.5, 2.0, N) * rng.choice([-1.0, 1.0], N)
    rf[[3, 50, 51, 200, 407]] = np.nan
    data["r"] = {
        "float64": rf,
        "float32": rf.astype(np.float32),
        "int64": rng.integers(-2**63, 2**63 - 1, N, endpoint=True, dtype=np.int64),
        "int32": rng.integers(-2**31, 2**31 - 1, N, endpoint=True, dtype=np.int64).astype(np.int32),
        "uint8": rng.integers(0, 256, N).astype(np.uint8),
        "bool": rng.integers(0, 2, N).astype(bool),
    }
    return data


class Refused(Exception):
    """NumPy refuses the operation (or gives a dtype cask refuses)."""


def cask_dtype(dt):
    """The dtype cask gives where NumPy gives dt (see the docstring)."""
    dt = np.dtype(dt)
    if dt == np.float16:
        return np.dtype(np.float64)
    if dt == np.uint64:
        return np.dtype(np.int64)
    if dt == np.int8:
        raise Refused()
    return dt


def ufunc(name):
    return getattr(np, "remainder" if name == "mod" else name)


def int_power(a, b, result):
    """NumPy's power where it is defined; cask's rule for negative exponents."""
    b = np.asarray(b)
    a = np.asarray(a)
    neg = (b < 0) if b.dtype.kind == "i" else np.zeros(np.broadcast(a, b).shape, bool)
    r = np.power(a, np.where(neg, 0, b) if neg.any() else b).astype(result)
    if neg.any():
        a_b = np.broadcast_to(a, neg.shape)
        b_b = np.broadcast_to(b, neg.shape)
        fix = np.where(a_b == 1, 1, np.where(a_b == -1, np.where(b_b % 2 == 1, -1, 1), 0))
        r = np.where(neg, fix.astype(result), r)
    return r


def binary(op, a, b):
    """NumPy's op(a, b) (arrays or Python scalars) as cask must give it."""
    f = ufunc(op)
    try:
        with np.errstate(all="ignore"):
            dt = f(a[:1] if isinstance(a, np.ndarray) else a, b[:1] if isinstance(b, np.ndarray) else b).dtype
    except TypeError:
        raise Refused()
    except ValueError:  # integer to a negative power, in the probe
        dt = np.result_type(a, b)
    want = cask_dtype(dt)
    with np.errstate(all="ignore"):
        if dt == np.float16:
            a = np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else float(a)
            b = np.asarray(b, dtype=np.float64) if isinstance(b, np.ndarray) else float(b)
            return f(a, b)
        if op == "power" and want.kind in "iu":
            return int_power(a, b, want)
        return f(a, b).astype(want)


def unary(op, a):
    f = np.round if op == "round" else ufunc(op)
    try:
        with np.errstate(all="ignore"):
            r = f(a)
    except TypeError:
        raise Refused()
    if r.dtype == np.float16:
        with np.errstate(all="ignore"):
            r = f(a.astype(np.float64))
    return r


def reduction(op, a, axis):
    f = getattr(np, op)
    with np.errstate(all="ignore"):
        r = np.asarray(f(a, axis=axis))
    return r.astype(cask_dtype(r.dtype)) if r.dtype == np.uint64 else r


def ulps(got, want):
    """Elementwise distance in units in the last place of the dtype (on
    the floats' bit patterns ordered as integers, in Python ints: a float64
    of those would round)."""
    it = np.int64 if got.dtype == np.float64 else np.int32
    lo = int(np.iinfo(it).min)

    def ordered(v):
        return [lo - int(k) if k < 0 else int(k) for k in v.view(it).ravel()]

    d = [abs(g - w) for g, w in zip(ordered(got), ordered(want))]
    return np.array(d, dtype=np.float64).reshape(got.shape)


def compare(got, want, tol):
    """Boolean mask of matching elements. tol: None (exact), ("ulp", k) or
    ("abs", array)."""
    if got.dtype.kind in "biu":
        return got == want
    nan = np.isnan(got) & np.isnan(want)
    if tol is None:
        it = np.int64 if got.dtype == np.float64 else np.int32
        return nan | (got.view(it) == want.view(it))
    with np.errstate(all="ignore"):
        if tol[0] == "ulp":
            ok = (got == want) | (ulps(got, want) <= tol[1])
        else:
            ok = (got == want) | (np.abs(got.astype(np.float64) - want.astype(np.float64)) <= tol[1])
    return nan | (ok & ~np.isnan(got) & ~np.isnan(want))


def ulp_tol(dtype):
    return ("ulp", 8 if np.dtype(dtype) == np.float64 else 5)


def reduction_tol(op, a, axis, want):
    """The tolerance of a float reduction (see the docstring)."""
    if want.dtype.kind not in "f" or op in ("min", "max", "nanmin", "nanmax"):
        return None
    x = np.asarray(a, dtype=np.float64)
    n = x.size if axis is None else x.shape[axis]
    eps = np.finfo(np.float32 if a.dtype == np.float32 else np.float64).eps
    with np.errstate(all="ignore"):
        absum = np.nansum(np.abs(x), axis=axis)
        if op in ("sum", "nansum"):
            return ("abs", (n + 1) * eps * absum)
        if op in ("mean", "nanmean"):
            return ("abs", (n + 1) * eps * absum / n * 2)
        if op == "prod":
            return ("abs", 2 * (n + 1) * eps * np.abs(np.asarray(want, dtype=np.float64)))
        ms = np.nanmean(x * x, axis=axis)
        if op == "var":
            return ("abs", 8 * n * eps * ms)
        return ("abs", 8 * n * eps * ms / (2 * np.maximum(np.asarray(want, np.float64), 1e-300)) + eps * np.abs(want))


def expected(data):
    """case name -> (NumPy's result or Refused, tolerance)."""
    x, y, r = data["x"], data["y"], data["r"]
    out = {}

    def put(name, thunk, tol=None):
        try:
            w = np.asarray(thunk())
            out[name] = (w, tol(w) if callable(tol) else tol)
        except Refused:
            out[name] = (Refused, None)

    for op in BINOPS:
        for a in DTYPES:
            for b in DTYPES:
                put(f"bin-{op}-{a}-{b}", lambda op=op, a=a, b=b: binary(op, x[a], y[b]),
                    (lambda w: ulp_tol(w.dtype)) if op in TRANSCENDENTAL else None)
    for op in BINOPS:
        for t in DTYPES:
            for k, s in enumerate(SCALARS):
                for first in (False, True):
                    name = f"sc-{op}-{t}-{k}-{'first' if first else 'last'}"
                    args = (s, x[t]) if first else (x[t], s)
                    put(name, lambda op=op, args=args: binary(op, *args),
                        (lambda w: ulp_tol(w.dtype)) if op in TRANSCENDENTAL else None)
    for op in UNOPS:
        for t in DTYPES:
            put(f"un-{op}-{t}", lambda op=op, t=t: unary(op, x[t]),
                (lambda w: ulp_tol(w.dtype)) if op in TRANSCENDENTAL else None)
    for op in REDUCTIONS:
        for t in DTYPES:
            a = r[t].reshape(ROWS, -1)
            for axis, label in ((None, "all"), (0, "0"), (1, "1")):
                put(f"red-{op}-{t}-{label}", lambda op=op, a=a, axis=axis: reduction(op, a, axis),
                    lambda w, op=op, a=a, axis=axis: reduction_tol(op, a, axis, w))
    for s in DTYPES:
        for t in DTYPES:
            put(f"cast-{s}-{t}", lambda s=s, t=t: x[s].astype(t))
            put(f"where-{s}-{t}", lambda s=s, t=t: np.where(x["bool"], x[s], y[t]))
    for t in DTYPES:
        with np.errstate(all="ignore"):
            put(f"clip-{t}-int", lambda t=t: np.minimum(np.maximum(x[t], 2), 100))
            put(f"clip-{t}-float", lambda t=t: np.minimum(np.maximum(x[t], -2.5), 7.5))
            for k, (a, b, num, ep) in enumerate(((0, 1, 11, True), (-3.5, 7.25, 50, False), (0, 255, 256, True))):
                put(f"linspace-{t}-{k}", lambda a=a, b=b, num=num, ep=ep, t=t: np.linspace(a, b, num, endpoint=ep, dtype=t))
            for k, (n, m, d) in enumerate(((5, 7, 2), (6, 4, -1))):
                put(f"eye-{t}-{k}", lambda n=n, m=m, d=d, t=t: np.eye(n, m, d, dtype=t))
            for k, v in enumerate((300.0, -1.0, 5e9 + 1, 2.5, -2.7, np.nan, np.inf, 0.1)):
                put(f"full-{t}-{k}", lambda v=v, t=t: np.full(3, v, dtype=np.float64).astype(t))
            if t != "bool":
                args = (0, 250, 3) if t == "uint8" else (-3, 20, 0.25) if t.startswith("float") else (-7, 300, 3)
                put(f"arange-{t}", lambda args=args, t=t: np.arange(*args, dtype=t))
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary_path = sys.argv[1]
    data = inputs()
    want = expected(data)
    with tempfile.TemporaryDirectory(prefix="cask-dtypes-") as d:
        for name, arrays in data.items():
            for t, a in arrays.items():
                np.ascontiguousarray(a, dtype=np.dtype(t).newbyteorder("<")).tofile(os.path.join(d, f"{name}.{t}"))
        env = dict(os.environ, CASK_DTYPES_DIR=d, CASK_DTYPES_ROWS=str(ROWS), CK_RUN_CASE="numpy")
        env.pop("CK_RUN_SUITE", None)
        run = subprocess.run([binary_path, "array_dtypes"], env=env, capture_output=True, text=True)
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        if run.returncode != 0 or "Checks: 1, Failures: 0, Errors: 0" not in run.stdout:
            print(f"{binary_path} array_dtypes (CK_RUN_CASE=numpy) failed with status {run.returncode}", file=sys.stderr)
            return 2
        files = {}
        for f in os.listdir(d):
            if f.startswith("out-"):
                case, _, suffix = f[4:].rpartition(".")
                files[case] = suffix
        bad = 0
        for name, (w, tol) in want.items():
            suffix = files.get(name)
            if suffix is None:
                print(f"{name}: cask wrote no output", file=sys.stderr)
                return 2
            path = os.path.join(d, f"out-{name}.{suffix}")
            if w is Refused or suffix == "refused":
                if (w is Refused) != (suffix == "refused"):
                    msg = open(path).read() if suffix == "refused" else f"a {suffix} result"
                    print(f"{name}: NumPy {'refuses' if w is Refused else 'gives ' + str(w.dtype)}, cask: {msg}")
                    bad += 1
                continue
            if suffix != w.dtype.name:
                print(f"{name}: cask gives {suffix}, NumPy {w.dtype.name}")
                bad += 1
                continue
            got = np.fromfile(path, dtype=np.dtype(suffix).newbyteorder("<")).reshape(w.shape)
            ok = compare(got, w, tol)
            if not ok.all():
                i = tuple(int(k) for k in np.argwhere(~ok)[0])
                print(f"{name}: {int((~ok).sum())} of {ok.size} differ; first at {i}: cask {got[i]!r}, NumPy {w[i]!r}")
                bad += 1
        print(f"dtypes_numpy_check: {len(want) - bad} of {len(want)} cases match NumPy")
        print(f"{len(want) - bad} passed, {bad} failed")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
