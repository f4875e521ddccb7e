#!/usr/bin/python3
"""shape_numpy_check.py - the shape functions and list arguments of
expressions (`cask run` job steps) against NumPy.

Usage: shape_numpy_check.py CASK_BINARY

Writes .npy inputs of several dtypes and odd chunkings (ragged last blocks,
one-element chunks, chunks larger than the array, empty and 0-d arrays),
runs one job per input whose steps apply every function (concatenate, stack,
flip, flipud, fliplr, roll, squeeze, expand_dims, x[None], moveaxis,
swapaxes, broadcast_to, reshape, ravel, tile, repeat, pad in every mode, triu, tril, outer,
round, clip by keyword, reductions with keepdims) and compares each output's shape, dtype and
values with NumPy evaluating the same step (the steps are Python). Then bad
arguments: exit 2, a message naming the step's column and the function, and
nothing written.

Exits 0 when everything matches, 1 otherwise (each failure listed). Needs
Debian's python3-numpy: run it with /usr/bin/python3.
"""
import sys

import numpy as np

from checkutil import check_steps, refused_steps

FAILURES = []


def fail(what):
    FAILURES.append(what)
    print("FAIL:", what)


def _red(f):
    def g(a, axis=None, keepdims=False, ddof=None):
        kw = {} if ddof is None else {"ddof": ddof}
        return f(np.asarray(a), axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=keepdims, **kw)
    return g


NS = {"True": True, "False": False, "None": None}
for f in ("concatenate stack flip flipud fliplr roll squeeze expand_dims moveaxis swapaxes broadcast_to tile "
          "repeat pad triu tril outer round around reshape ravel clip").split():
    NS[f] = getattr(np, f)
for f in "sum mean min max prod any all argmin argmax var std".split():
    NS[f] = _red(getattr(np, f))

rng = np.random.default_rng(20261206)
# name -> (values, chunks); chunks None: the reader's default
INPUTS = {
    "f8": (rng.standard_normal((7, 5)) * 10, [3, 2]),  # ragged last blocks
    "i4": (rng.integers(-50, 50, (7, 5)).astype(np.int32), [1, 1]),  # one-element chunks
    "b1": (rng.random((7, 5)) > 0.5, [10, 10]),  # chunks larger than the array
    "u1": (rng.integers(0, 255, 11).astype(np.uint8), [4]),
    "f4": (rng.standard_normal((4, 3, 5)).astype(np.float32), [3, 2, 4]),
    "i8": (np.arange(-8, 12, dtype=np.int64).reshape(4, 5), [3, 5]),
    "empty": (np.zeros((0, 4)), [2, 2]),
    "scalar": (np.array(2.625), None),
}

ANY_ND = [  # steps for an array x of any number of axes
    "flip(x)", "roll(x, 3)", "roll(x, -101)", "expand_dims(x, 0)", "x[None]", "tile(x, 2)", "tile(x, (2, 1, 3))",
    "repeat(x, 3)", "repeat(x, 0)", "tile(x, 0)", "broadcast_to(x, {two_shape})",
    "sum(x, keepdims=True)", "max(x, keepdims=True)", "round(x, 1)", "round(x, -1)", "around(x)",
    "outer(x, x)", "concatenate([x, x], axis=None)", "stack([x, x, x])", "stack((x, x), axis=-1)",
    "squeeze(x)", "pad(x, 0)", "clip(x, a_max=30, a_min=2)", "ravel(x)", "reshape(x, -1)", "reshape(ravel(x), {shape})",
]
ND1 = [  # at least one axis
    "tile(x[:0], 100000000000)", "flip(x, axis=0)", "flipud(x)", "roll(x, 2, axis=0)", "roll(x, (1, 2), axis=(0, 0))", "repeat(x, 2, axis=0)",
    "repeat(x, 2, axis=-1)", "concatenate([x[:2], x, x[1:]], axis=0)", "concatenate((x[::2], x[::-3]))",
    "pad(x, 2)", "pad(x, (1, 3), mode='edge')", "pad(x, (0, 5), 'constant', constant_values=7)",
    "pad(x, 3, mode='reflect')", "pad(x, (2, 17), mode='reflect')", "pad(x, (13, 1), mode='symmetric')",
    "pad(x, (4, 23), mode='wrap')", "pad(x, ((30, 2),), mode='symmetric')", "pad(x, (0, 3), mode='symmetric')",
    "pad(x, (2, 0), mode='reflect')", "pad(x, (0, 9), mode='wrap')", "pad(x, (2, 1), constant_values=(7, -3))",
    "pad(x, 1, constant_values=((4, 5),))", "pad(x, 2, constant_values=(6,))", "triu(x)", "tril(x, k=-1)",
    "sum(x, axis=0, keepdims=True)", "argmax(x, axis=-1, keepdims=True)", "expand_dims(x, (0, -1))",
    "x[None, :]", "x[:, None]", "squeeze(x[:1], axis=0)", "var(x, 0, ddof=1, keepdims=True)",
]
ND2 = [  # at least two axes
    "fliplr(x)", "flip(x, axis=(0, 1))", "roll(x, (1, -2), axis=(0, 1))", "roll(x, 100, axis=1)",
    "moveaxis(x, 0, -1)", "moveaxis(x, (0, 1), (1, 0))", "swapaxes(x, 0, 1)", "broadcast_to(x[:1], {three_row})",
    "broadcast_to(x[:, :1], {shape})", "tile(x, (2, 3))", "concatenate([x, x[:, :2]], axis=1)",
    "stack([x, x], axis=1)", "pad(x, {pairs_a}, mode='reflect')", "pad(x, {pairs_b}, mode='wrap')",
    "pad(x, {pairs_c}, mode='edge')", "pad(x, {pairs_a}, constant_values={values})", "triu(x, k=2)", "tril(x, 1)", "triu(x, -100)",
    "sum(x, axis=(0, 1), keepdims=True)", "min(x, axis=1, keepdims=True)", "squeeze(x[:1, :1])",
]
# bool: NumPy rounds to float16, which cask lacks; uint8: NumPy sums to
# uint64, cask to int64 (docs/arrays.md, dtypes)
NO_BOOL = {"round(x, 1)", "round(x, -1)", "around(x)", "sum(x, keepdims=True)", "var(x, 0, ddof=1, keepdims=True)",
           "sum(x, axis=0, keepdims=True)", "sum(x, axis=(0, 1), keepdims=True)"}
NO_EMPTY = {"max(x, keepdims=True)", "argmax(x, axis=-1, keepdims=True)", "min(x, axis=1, keepdims=True)",
            "var(x, 0, ddof=1, keepdims=True)", "squeeze(x[:1], axis=0)", "squeeze(x[:1, :1])",
            "broadcast_to(x[:1], {three_row})"}


def steps_for(name, x):
    out = []
    for s in ANY_ND + (ND1 if x.ndim >= 1 else []) + (ND2 if x.ndim >= 2 else []):
        if (x.dtype in (bool, np.uint8) and s in NO_BOOL) or (x.size == 0 and s in NO_EMPTY):
            continue
        if x.size == 0 and "mode='" in s and "constant" not in s and "pad(x, 0)" != s:
            continue  # NumPy refuses these (checked among the errors)
        # expressions have no .shape: the shapes are written out
        pairs = [((1, 2), (3, 0), (2, 1)), ((0, 9), (7, 1), (1, 0)), ((2, 2), (1, 1), (0, 3))]
        out.append(s.format(shape=tuple(x.shape), two_shape=(2,) + x.shape, three_row=(3,) + x.shape[1:],
                            values=((1, 2), (3, 4), (5, 6))[:x.ndim],
                            **{"pairs_" + c: p[:x.ndim] for c, p in zip("abc", pairs)}))
    return out


def compare(got, ref, what):
    if got.shape != ref.shape:
        return fail("%s: shape %s, NumPy %s" % (what, got.shape, ref.shape))
    if got.dtype != ref.dtype:
        return fail("%s: dtype %s, NumPy %s" % (what, got.dtype, ref.dtype))
    computed = any(f in what for f in ("round", "var(", "sum(", "mean("))
    if ref.dtype.kind == "f" and computed:  # sums add in another order than NumPy's
        tol = 1e-5 if ref.dtype == np.float32 else 1e-12
        scale = float(np.max(np.abs(ref))) if ref.size else 1.0
        ok = np.allclose(got, ref, rtol=tol, atol=tol * max(1.0, scale), equal_nan=True)
    else:  # copies of elements and exact integers: bit for bit
        ok = np.array_equal(got, ref, equal_nan=ref.dtype.kind == "f")
    if not ok:
        fail("%s: values differ from NumPy's\n  got %s\n  ref %s" % (what, got.ravel()[:20], ref.ravel()[:20]))


ERRORS = [  # step, what the message must hold
    ("flip(a, axis=2)", "flip: axis 2 is out of bounds for 2 axes (the array's shape is (7, 5))"),
    ("roll(a, 1, axis=-3)", "roll: axis -3 is out of bounds"),
    ("squeeze(a, axis=0)", "squeeze: axis 0 of shape (7, 5) has extent 7, not 1"),
    ("expand_dims(a, 3)", "expand_dims: axis 3 is out of bounds for 3 axes"),
    ("moveaxis(a, 0, 2)", "moveaxis: axis 2 is out of bounds"),
    ("moveaxis(a, (0, 1), 0)", "moveaxis: 'source' and 'destination' must have the same number"),
    ("swapaxes(a, 0, 2)", "swapaxes: axis 2 is out of bounds"),
    ("broadcast_to(a, (7, 4))", "broadcast_to: cannot broadcast shape (7, 5) to (7, 4)"),
    ("tile(a, (2, -1))", "tile: repetition -1 along axis 1 is negative"),
    ("tile(a, 10000000000)", "tile: 10000000000 copies along axis 1, more than 2^23"),
    ("repeat(a, -1)", "repeat: repeats is -1, negative"),
    ("pad(a, 1, mode='median')", "pad: mode must be 'constant', 'edge', 'reflect', 'symmetric' or 'wrap'"),
    ("pad(a, ((1, 2), (3, 4), (5, 6)))", "pad: 'pad_width' has 3 pairs, the array has 2 axes"),
    ("pad(a, (1, 2, 3))", "pad: 'pad_width' must be (before, after) or one width"),
    ("pad(a, -1)", "pad: the widths of axis 0, (-1, -1), must not be negative"),
    ("pad(z, 1, mode='edge')", "pad: axis 0 of shape (0, 4) is empty: mode 'edge' cannot extend it"),
    ("pad(a, 1, mode='edge', constant_values=3)", "constant_values is for mode='constant' only"),
    ("pad(a, 1, constant_values=((1, 2), (3, 4), (5, 6)))", "pad: 'constant_values' has 3 pairs, the array has 2 axes"),
    ("pad(a, 1, constant_values=(1, a))", "pad: 'constant_values' must be a number, a pair"),
    ("triu(s)", "triu: the array is 0-d"),
    ("concatenate([a, a.T])", "concatenate:"),
    ("concatenate(a)", "concatenate: expected a list or tuple of arrays"),
    ("concatenate([a, 'x'])", "concatenate: 'arrays' must be an array, not a string"),
    ("stack([a, a[:3]])", "stack:"),
    ("sum(a, keepdims=a)", "sum: 'keepdims' must be True or False"),
    ("sum(a, 0, True)", "sum takes at most 2 arguments by position"),
    ("sum([a, a])", "sum: 'a' must be an array, not a list"),
    ("concatenate([a, a)", "expected ',' or ']' in the list"),
    ("round(a, 1.5)", "round: 'decimals' must be an integer"),
]


def main():
    cask = sys.argv[1]
    check_steps(cask, INPUTS, steps_for, NS, compare, fail)
    refused_steps(cask, {"a": INPUTS["f8"][0], "z": INPUTS["empty"][0], "s": INPUTS["scalar"][0]}, ERRORS, fail)
    if FAILURES:
        print("%d failures" % len(FAILURES))
        sys.exit(1)


if __name__ == "__main__":
    main()
