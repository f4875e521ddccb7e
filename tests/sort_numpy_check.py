#!/usr/bin/python3
"""sort_numpy_check.py - sorting and order statistics of expressions (sort,
argsort, topk, argtopk, percentile, quantile, nanpercentile, nanquantile,
median, nanmedian, unique, bincount, histogram, digitize, searchsorted)
against NumPy.

Usage: sort_numpy_check.py CASK_BINARY

Writes .npy inputs of several dtypes (NaNs, ties, -0.0 among the floats)
and odd chunkings (ragged last blocks, one-element chunks, chunks larger
than the array, 1-d arrays of many blocks that take the external merge,
empty and 0-d arrays), runs one job per input applying every function
along every axis and flattened, and compares each output's shape, dtype
and values with NumPy's bit for bit (NaN equal to NaN; -0.0 equal to 0.0,
which NumPy's sort does not order). argsort is compared with NumPy's
stable argsort (cask's is stable); topk and argtopk with dask's semantics
built from NumPy's stable sort. Then bad arguments: exit 2, a message
naming the step's column, the function and the shape, nothing written.

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


def topk(a, k, axis=-1):
    s = np.sort(a, axis=axis, kind="stable")
    if k > 0:
        s = np.flip(s, axis)
    return np.take(s, np.arange(abs(k)), axis=axis)


def argtopk(a, k, axis=-1):
    s = np.argsort(a, axis=axis, kind="stable")
    if k > 0:
        s = np.flip(s, axis)
    return np.take(s, np.arange(abs(k)), axis=axis)


warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices, empty means: cask gives the same NaN
NS = {"None": None, "True": True, "False": False, "topk": topk, "argtopk": argtopk, "abs": np.abs,
      "argsort": lambda a, axis=-1: np.argsort(a, axis=axis, kind="stable"),
      "histogram": lambda a, bins=10, range=None: np.histogram(a, bins, range)[0]}
for f in ("sort percentile quantile nanpercentile nanquantile median nanmedian unique bincount digitize "
          "searchsorted").split():
    NS[f] = getattr(np, f)

rng = np.random.default_rng(20261207)
F8 = np.round(rng.standard_normal((9, 6)) * 3, 0)  # ties
F8[rng.random(F8.shape) < 0.15] = np.nan
F8[0, 1], F8[3, 2] = -0.0, 0.0
F4 = (rng.random((4, 3, 5)) * 4).astype(np.float32)
F4[1, 2, 3] = np.nan
LONG = np.round(rng.standard_normal(1000) * 20, 0)  # many ties across runs
LONG[rng.random(1000) < 0.05] = np.nan
LONG[::97] = -0.0
INPUTS = {  # name -> (values, chunks); chunks None: the reader's default
    "f8": (F8, [4, 5]),  # ragged last blocks, several blocks along both axes
    "i4": (rng.integers(-50, 50, (7, 5)).astype(np.int32), [1, 1]),  # one-element chunks
    "b1": (rng.random((7, 5)) > 0.5, [10, 10]),  # chunks larger than the array
    "u1": (rng.integers(0, 255, 11).astype(np.uint8), [4]),
    "f4": (F4, [3, 2, 2]),
    "i8": (rng.integers(-2**62, 2**62, (6, 13)), [2, 3]),  # lerp differences beyond 2^53
    "long": (LONG, [37]),  # the external merge: 28 runs
    "ties": (rng.integers(0, 4, 500), [7]),  # 72 runs of four values
    "f4long": (np.where(rng.random(300) < 0.1, np.nan, rng.standard_normal(300)).astype(np.float32), [64]),
    "one": (np.array([3.5]), [1]),
    "allnan": (np.full(50, np.nan), [7]),  # nan- variants with no value in the external merge
    "empty": (np.zeros((0, 4)), [2, 2]),
    "scalar": (np.array(2.625), None),
}


def steps_for(name, x):
    out = ["sort(x, axis=None)", "argsort(x, axis=None)", "percentile(x, [0, 5, 50, 95, 100])", "percentile(x, 50)",
           "quantile(x, [0.25, 0.75])", "nanpercentile(x, [1, 50, 99])", "nanquantile(x, 0.3)", "median(x)",
           "nanmedian(x)", "median(x, keepdims=True)", "percentile(x, [10, 90], keepdims=True)", "unique(x)",
           "histogram(x, bins=5, range=(-2, 3))", "histogram(x, [-10, -1, 0, 0.5, 3, 200])",
           "digitize(x, [-1, 0, 1.5])", "digitize(x, [3, 1, 0], right=True)",
           "searchsorted(sort(x, axis=None), x)", "searchsorted(sort(x, axis=None), x, side='right')"]
    if x.ndim:
        out += ["sort(x)", "argsort(x)", "topk(x, 2)", "topk(x, -3)", "argtopk(x, 2)", "argtopk(x, -1)"]
        out += ["histogram(x)", "histogram(x, 3)"]
    for ax in range(-x.ndim, x.ndim):
        out += ["sort(x, axis=%d)" % ax, "argsort(x, %d)" % ax, "percentile(x, [5, 50], axis=%d)" % ax,
                "quantile(x, 0.6, %d, keepdims=True)" % ax, "nanpercentile(x, 95, axis=%d)" % ax,
                "median(x, axis=%d)" % ax, "nanmedian(x, %d, True)" % ax, "topk(x, 1, axis=%d)" % ax]
    if x.ndim == 1 and x.dtype.kind in "iub":
        out += ["bincount(abs(x))", "bincount(abs(x), minlength=400)", "bincount(abs(x), weights=x * 0.5)"]
    return [s for s in out if numpy_takes(s, x)]


def numpy_takes(step, x):
    try:
        with np.errstate(all="ignore"):
            eval(step, NS, {"x": x})
        return True
    except Exception:  # NumPy refuses it (TypeError, ValueError, IndexError): cask is checked on the rest
        return False


def compare(got, ref, what):
    if got.shape != ref.shape:
        return fail("%s: shape %s, NumPy %s" % (what, got.shape, ref.shape))
    if got.dtype != ref.dtype:
        return fail("%s: dtype %s, NumPy %s" % (what, got.dtype, ref.dtype))
    if "weights" in what:  # NumPy adds weights one after the other, cask per block then a tree
        ok = np.allclose(got, ref, rtol=1e-12, atol=0)
    else:
        ok = np.array_equal(got, ref, equal_nan=ref.dtype.kind == "f")
    if not ok:
        fail("%s: values differ from NumPy's\n  got %s\n  ref %s" % (what, got.ravel()[:20], ref.ravel()[:20]))


ERRORS = [  # step, what the message must hold
    ("sort(a, axis=2)", "sort: axis 2 is out of bounds for 2 axes (the array's shape is (7, 5))"),
    ("argsort(s, 0)", "argsort: axis 0 is out of bounds for 0 axes (the array's shape is ())"),
    ("percentile(a, 101)", "percentile: q=101 is outside [0, 100]"),
    ("quantile(a, [0.5, -0.1])", "quantile: q=-0.1 is outside [0, 1]"),
    ("nanpercentile(a, 'x')", "nanpercentile: 'q' must be a number or a list"),
    ("percentile(a, 50, method='nearest')", "percentile: only method='linear'"),
    ("percentile(a > 0, 50)", "percentile: the array is bool (shape (7, 5))"),
    ("percentile(a[:0], 50)", "percentile: the array is empty (shape (0, 5))"),
    ("median(a, axis=(0, 1))", "median: axis must be one integer or None"),
    ("median(a, axis=-3)", "median: axis -3 is out of bounds for 2 axes"),
    ("topk(a, 9)", "topk: k=9 must be nonzero and at most the 5 elements of axis 1 (shape (7, 5))"),
    ("argtopk(a, 1, axis=None)", "argtopk: axis must be an integer, not None"),
    ("histogram(a, [1, 0, 2])", "histogram: bins must increase monotonically"),
    ("histogram(a, 5, range=(3, 1))", "histogram: max must be larger than min in range"),
    ("digitize(a, [1, 0, 2])", "digitize: bins (3 of them) must be monotonically increasing or decreasing"),
    ("bincount(a)", "bincount: x must be 1-d, not of shape (7, 5)"),
    ("bincount(a[0] * 1.5)", "bincount: x is float64 (shape (5,)); it must be integers"),
    ("bincount(a[0])", "bincount: x has a negative value"),
    ("searchsorted(a, a)", "searchsorted: a must be 1-d, not of shape (7, 5)"),
    ("searchsorted(a[0], a, side='middle')", "searchsorted: side must be 'left' or 'right'"),
    ("unique(a, return_counts=True)", "unique: return_counts=True gives two arrays"),
    ("sort(a[a > 0])", "sort: the array of shape (-1,) (-1: unknown) has blocks of unknown length"),
    ("percentile(a[a > 0], 50)", "percentile: the array of shape (-1,) (-1: unknown)"),
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
