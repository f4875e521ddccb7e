#!/usr/bin/python3
"""scan_numpy_check.py - the cumulative functions of expressions (cumsum,
cumprod, nancumsum, nancumprod, diff) and the statistics built on
reductions (ptp, count_nonzero, nanprod, nanvar, nanstd, average) against
NumPy.

Usage: scan_numpy_check.py CASK_BINARY

Writes .npy inputs of several dtypes (with NaNs among the floats) and odd
chunkings (ragged last blocks, one-element chunks, chunks larger than the
array, empty and 0-d arrays), runs one job per input applying every
function along every axis and flattened, and compares each output's shape,
dtype and values with NumPy's: integers bit for bit, floats within a tight
relative tolerance (NumPy's cumsum adds sequentially, cask adds a carry per
block). Then bad arguments: exit 2, a message naming the step's column,
the function and the shape, and nothing written.

Exits 0 when everything matches, 1 otherwise. Needs Debian's python3-numpy:
run it with /usr/bin/python3.
"""
import sys
import warnings

import numpy as np

from checkutil import check_steps, refused_steps

FAILURES = []


def fail(what):
    FAILURES.append(what)
    print("FAIL:", what)


warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "Degrees of freedom <= 0": cask gives the same NaN
NS = {"None": None}
for f in "cumsum cumprod nancumsum nancumprod diff ptp count_nonzero nanprod nanvar nanstd average abs sum".split():
    NS[f] = getattr(np, f)

rng = np.random.default_rng(20261206)
F8 = rng.standard_normal((9, 6)) * 10
F8[rng.random(F8.shape) < 0.15] = np.nan
F4 = (rng.random((4, 3, 5)) + 0.5).astype(np.float32)
F4[1, 2, 3] = np.nan
INPUTS = {  # name -> (values, chunks); chunks None: the reader's default
    "f8": (F8, [4, 5]),  # ragged last blocks
    "i4": (rng.integers(-50, 50, (7, 5)).astype(np.int32), [1, 1]),  # one-element chunks
    "b1": (rng.random((7, 5)) > 0.5, [10, 10]),  # chunks larger than the array
    "u1": (rng.integers(0, 255, 11).astype(np.uint8), [4]),
    "f4": (F4, [3, 2, 2]),
    "i8": (rng.integers(-3, 4, (6, 13)), [2, 3]),  # products wrap around int64 as NumPy's
    "empty": (np.zeros((0, 4)), [2, 2]),
    "scalar": (np.array(2.625), None),
}


def steps_for(name, x):
    out = []
    fns = ["cumsum", "cumprod", "nancumsum", "nancumprod"]
    for f in fns:
        out.append("%s(x)" % f)
        for ax in range(-x.ndim, x.ndim):
            out.append("%s(x, axis=%d)" % (f, ax))
    out += ["ptp(x)", "count_nonzero(x)", "nanprod(x)", "nanvar(x)", "nanstd(x, ddof=1)", "average(x)",
            "average(x, weights=abs(x) + 1)"]
    if x.ndim == 2:  # 1-d weights along one axis
        out += ["average(x, axis=-1, weights=sum(abs(x), axis=0) + 1)", "average(x, 0, abs(x[:, 0]) + 2)"]
    if x.ndim:
        out += ["ptp(x, axis=0)", "ptp(x, axis=-1, keepdims=True)", "count_nonzero(x, axis=0)", "nanprod(x, axis=0)",
                "nanprod(x, -1, keepdims=True)", "count_nonzero(x, axis=(0, -1), keepdims=True)",
                "nanvar(x, axis=0)", "nanstd(x, -1, ddof=1, keepdims=True)", "nanvar(x, axis=0, ddof=5)",
                "average(x, axis=0)", "average(x, axis=0, weights=x * 0.5 + 3)"]
        out += ["diff(x)", "diff(x, 0)", "diff(x, 3, axis=0)", "diff(x, n=20)", "diff(x, axis=-1)"]
        out += ["diff(x, 2, %d)" % ax for ax in range(x.ndim)]
    return [s for s in out if numpy_takes(s, x)]


def numpy_takes(step, x):
    try:
        with np.errstate(all="ignore"):
            eval(step, NS, {"x": x})
        return True
    except (TypeError, ValueError, ZeroDivisionError):
        return False


def compare(got, ref, what):
    if got.shape != ref.shape:
        return fail("%s: shape %s, NumPy %s" % (what, got.shape, ref.shape))
    # cask has no uint64: uint8's sums and products are int64 (docs/arrays.md, dtypes)
    want = np.dtype(np.int64) if ref.dtype == np.uint64 else ref.dtype
    if got.dtype != want:
        return fail("%s: dtype %s, NumPy %s" % (what, got.dtype, ref.dtype))
    if ref.dtype.kind == "f" and ("cum" in what or "nan" in what or "average" in what):
        tol = 1e-5 if ref.dtype == np.float32 else 1e-12
        ok = np.allclose(got, ref, rtol=tol, atol=0, equal_nan=True)
    else:  # exact integers and differences of elements: bit for bit
        ok = np.array_equal(got, ref.astype(want), equal_nan=ref.dtype.kind == "f")
    if not ok:
        fail("%s: values differ from NumPy's\n  got %s\n  ref %s" % (what, got.ravel()[:20], ref.ravel()[:20]))


ERRORS = [  # step, what the message must hold
    ("cumsum(a, axis=2)", "cumsum: axis 2 is out of bounds for 2 axes (the array's shape is (7, 5))"),
    ("nancumprod(a, -3)", "nancumprod: axis -3 is out of bounds for 2 axes"),
    ("cumprod(s, 0)", "cumprod: axis 0 is out of bounds for 0 axes (the array's shape is ())"),
    ("cumsum(a, axis=(0, 1))", "cumsum: axis must be one integer or None"),
    ("diff(a, -1)", "diff: order n=-1 is negative (shape (7, 5))"),
    ("diff(s)", "diff: the array is 0-d (shape ()); it needs at least 1 axis"),
    ("diff(a, axis=2)", "diff: axis 2 is out of bounds for 2 axes (the array's shape is (7, 5))"),
    ("diff(a, 1.5)", "diff: 'n' must be an integer"),
    ("diff(a, axis=None)", "diff: axis must be an integer, not None"),
    ("cumsum(a, 0, 1)", "cumsum takes at most 2 arguments"),
    ("ptp(a > 0)", "ptp: the array is bool, which has no subtraction"),
    ("ptp(a[:0], axis=0)", "ptp: axis 0 of shape (0, 5) is empty"),
    ("count_nonzero(a, axis=3)", "count_nonzero: axis 3 is out of bounds for 2 axes (the array's shape is (7, 5))"),
    ("nanprod(a, axis=(0, 0))", "nanprod: axis 0 is repeated"),
    ("nanprod(a, keepdims=2.5)", "nanprod: 'keepdims' must be True or False"),
    ("nanvar(a, ddof=-1)", "ddof must be a non-negative integer"),
    ("nanstd(a, axis=-3)", "nanstd: axis -3 is out of bounds for 2 axes"),
    ("average(a, weights=a[0])", "average: weights of shape (5,) for an array of shape (7, 5) must be 1-d along one"),
    ("average(a, axis=0, weights=a[0])", "average: weights of shape (5,) do not fit axis 0 of shape (7, 5)"),
    ("average(a, axis=0, weights='x')", "average: 'weights' must be an array, not a string"),
]


def main():
    cask = sys.argv[1]
    check_steps(cask, INPUTS, steps_for, NS, compare, fail)
    refused_steps(cask, {"a": INPUTS["i4"][0], "s": INPUTS["scalar"][0]}, ERRORS, fail)
    if FAILURES:
        print("%d failures" % len(FAILURES))
        sys.exit(1)


if __name__ == "__main__":
    main()
