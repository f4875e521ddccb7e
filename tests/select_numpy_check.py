#!/usr/bin/python3
"""select_numpy_check.py - selection in expressions (`cask run` job steps)
against NumPy: boolean masks (x[x > 0], x[mask_row, :], x[:, mask],
compress, extract), integer indexes (x[[3, 1, 4], :], x[idx] with idx a
cask integer array, take), nonzero(x)[k], argwhere, flatnonzero, and
operations on their results of unknown block lengths (elementwise,
reductions, chained selections), each written to .npy (the counting pass,
then the write).

Usage: select_numpy_check.py CASK_BINARY

Inputs of every dtype in odd chunkings (ragged last blocks, one-element
chunks, chunks larger than the array), empty and 0-d arrays; outputs
compared bit for bit (sums within a tolerance: they add in another order).
The same job at 1 and 3 threads gives the same bytes. Then bad steps: exit
2, a message naming the column and the function, nothing written; an index
array out of bounds fails the run naming the task, the index and the
shape.

Exits 0 when everything matches, 1 otherwise. Needs Debian's python3-numpy:
run it with /usr/bin/python3.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

from checkutil import check_steps, refused_steps, run_job, values

FAILURES = []


def fail(what):
    FAILURES.append(what)
    print("FAIL:", what)


def _red(f):
    def g(a, axis=None, keepdims=False):
        return f(np.asarray(a), axis=axis, keepdims=keepdims)
    return g


NS = {"True": True, "False": False, "None": None, "compute_chunk_sizes": lambda a: a}
for f in "compress extract take nonzero argwhere flatnonzero ravel astype".split():
    NS[f] = getattr(np, f, None)
NS["astype"] = lambda a, t: np.asarray(a).astype(t)
for f in "sum mean count_nonzero any all min max argmax".split():
    NS[f] = _red(getattr(np, f))

rng = np.random.default_rng(20261207)
INPUTS = {
    "f8": (values(rng, "f8", (7, 5)), [3, 2]),  # ragged last blocks
    "i4": (rng.integers(-3, 4, (7, 5)).astype(np.int32), [1, 1]),  # one-element chunks
    "b1": (rng.random((7, 5)) > 0.5, [10, 10]),  # chunks larger than the array
    "u1": (rng.integers(0, 4, 11).astype(np.uint8), [4]),
    "f4": (values(rng, "f4", (4, 3, 5)), [3, 2, 4]),
    "i8": (np.arange(-8, 12, dtype=np.int64).reshape(4, 5), [3, 5]),
    "f8_1d": (rng.random(1000), [64]),
    "empty": (np.zeros((0, 4)), [2, 2]),
    "scalar": (np.array(2.625), None),
    "zero": (np.array(0, dtype=np.int32), None),
}

ANY_ND = [
    "x[x > 0]", "x[x != x]", "x[x == x]", "extract(x, x)", "extract(x > 0, x)", "flatnonzero(x)",
    "nonzero(x)[0]", "x[x > 0] * 2", "x[x > 0][x[x > 0] < 3]", "count_nonzero(x[x > 0])", "sum(x[x > 0])",
    "compute_chunk_sizes(x[x > 1])", "extract(x == 0, x)", "any(x[x > 0])",
]
ND1 = [
    "argwhere(x)", "nonzero(x)[{last}]", "take(x, [0, -1, 0])", "take(x, 0, axis=0)", "x[[0, -1, 0]]",
    "compress(x.ravel() > 0, x)", "compress([True, False, True], x, axis=-1)", "x[x > 0] + x[x > 0]",
    "mean(x[x > 0] * 2)", "take(x.ravel(), compute_chunk_sizes(flatnonzero(x)))",
]
ND2 = [
    "x[x[:, 0] > 0, :]", "x[:, x[0] > 0]", "compress(x[:, 0] > 0, x, axis=0)", "x[[0, -1, 1], :]",
    "x[:, [2, 0, 2]]", "take(x, [1, 0, 1], axis=1)", "x[1, [0, 2]]", "x[[0, 1], 1]", "x[1:, [0, 2]]",
    "sum(x[x[:, 0] > 0, :], axis=1)", "sum(x[:, x[0] > 0], axis=0)", "x[argmax(x, axis=-1) % 2]",
]
ND3 = ["x[0, :, [1, 0]]", "x[:, 1, [1, 0]]", "x[[1, 0], :, 0]", "x[:, x[0, :, 0] > 0, :]",
       "x[1:, :, x[0, 0] > 0]", "take(x, [2, 0], axis=1)"]
SUMS = ("sum(", "mean(")


def steps_for(name, x):
    out = list(ANY_ND)
    if x.ndim >= 1:
        out += [s.format(last=x.ndim - 1) for s in ND1]
    if x.ndim == 2:
        out += ND2
    if x.ndim >= 3:
        out += ND3
    if x.size == 0:  # NumPy refuses indexes into an empty axis (checked among the errors)
        out = [s for s in out if "[0" not in s and "[1" not in s and "take(x, 0" not in s
               and "take(x, [" not in s and "argmax" not in s and "[True" not in s]
    if x.ndim >= 1 and x.shape[-1] < 3:
        out = [s for s in out if "[True, False, True]" not in s]
    if x.dtype == np.uint8:  # NumPy sums uint8 to uint64, cask to int64 (docs/arrays.md, dtypes)
        out = [s for s in out if not s.startswith("sum(")]
    if x.dtype == bool:
        out = [s for s in out if "% 2" not in s]
    return out


def compare(got, ref, what):
    if got.shape != ref.shape:
        return fail("%s: shape %s, NumPy %s" % (what, got.shape, ref.shape))
    if got.dtype != ref.dtype:
        return fail("%s: dtype %s, NumPy %s" % (what, got.dtype, ref.dtype))
    if ref.dtype.kind == "f" and any(f in what for f in SUMS):
        tol = 1e-5 if ref.dtype == np.float32 else 1e-12
        scale = float(np.max(np.abs(ref[np.isfinite(ref)]))) if np.isfinite(ref).any() else 1.0
        ok = np.allclose(got, ref, rtol=tol, atol=tol * max(1.0, scale), equal_nan=True)
    else:  # copies of elements and exact integers: bit for bit
        ok = got.tobytes() == ref.tobytes()
    if not ok:
        fail("%s: values differ from NumPy's\n  got %s\n  ref %s" % (what, got.ravel()[:20], ref.ravel()[:20]))


ERRORS = [
    ("a[a]", "arrays used as indices must be of integer type"),
    ("a[[0, 10], :]", "take: index 10 is out of bounds for axis 0 with size 7"),
    ("a[:, [-6]]", "take: index -6 is out of bounds for axis 1 with size 5"),
    ("a[a[0] > 0, :]", "boolean index did not match indexed array along dimension 0; dimension is 7 but "
                       "corresponding boolean dimension is 5"),
    ("a[[True, False]]", "dimension is 7 but corresponding boolean dimension is 2"),
    ("a[a > 0, 0]", "a boolean index of 2 axes must be the only index"),
    ("reshape(a[a > 0], (2, -1))", "reshape: the array of shape (-1,) (-1: unknown) has blocks of unknown length"),
    ("a[a > 0][:3]", "slice: the array of shape (-1,)"),
    ("a[a > 0] + a[a < 0]", "come from different selections"),
    ("a[a > 0] + a[0]", "has blocks of unknown length"),
    ("cumsum(a[a > 0])", "cumsum: the array"),
    ("argmax(a[a > 0])", "argmax: the array"),
    ("nonzero(a)", "nonzero gives a tuple of 2 arrays: take one with nonzero(a)[k]"),
    ("nonzero(a)[2]", "nonzero gives a tuple of 2 arrays"),
    ("a[[0, 1], [0, 1]]", "only one array or list index per subscript is supported"),
    ("a[None, a > 0]", "None (a new axis) beside an array index is not supported"),
    ("a[[0, [1]]]", "an index list must hold integers"),
    ("compress(a, a, axis=0)", "compress: the condition must be 1-d, not of shape (7, 5)"),
    ("compress(a[:, 0] > 0, a, axis=2)", "compress: axis 2 is out of bounds for 2 axes"),
    ("take(a, [1.5])", "take: the indices must be integers"),
    ("take(a, [7], axis=0)", "take: index 7 is out of bounds for axis 0 with size 7 (the array's shape is (7, 5))"),
    ("extract(a[0], a)", "extract: the condition's shape (5,) has not the size of the array's (7, 5)"),
    ("argwhere(s)", "argwhere: a 0-d array is not supported"),
    ("a[a > 0:]", "an array cannot bound a slice"),
    # ops that need an axis' length refuse one of unknown length, naming
    # themselves (diff gave its input back: its loop ran up to the length, -1)
    ("diff(a[a > 0])", "diff: the array of shape (-1,) (-1: unknown)"),
    ("diff(compress(a[0] > 0, a, axis=1), axis=1)", "diff: the array of shape (7, -1)"),
    ("pad(a[a > 0], 1)", "pad: the array of shape (-1,)"),
    ("roll(a[a > 0], 1)", "roll: the array of shape (-1,)"),
    ("flip(a[a > 0])", "flip: the array of shape (-1,)"),
    ("tile(a[a > 0], 2)", "tile: the array of shape (-1,)"),
    ("repeat(a[a > 0], 2)", "repeat: the array of shape (-1,)"),
    ("triu(compress(a[0] > 0, a, axis=1))", "triu: the array of shape (7, -1)"),
    ("tril(compress(a[0] > 0, a, axis=1))", "tril: the array of shape (7, -1)"),
    ("squeeze(a[a > 0])", "squeeze: the array of shape (-1,)"),
    # a second axis of unknown lengths could never be written: refused when built
    ("compress(a[:, 0] > 0, compress(a[0] > 0, a, axis=1), axis=0)",
     "compress: axis 0 of the array (shape (7, -1), -1: unknown) would be its second axis of unknown"),
    ("expand_dims(a[a > 0], 1) * a[a > 0]", "would have two axes of unknown block lengths"),
]


def same_at_thread_counts(cask):
    """x[x > 0.5] and its sum at 1 and 3 threads: the same bytes."""
    x = rng.random(5000)
    outs = []
    for t in ("1", "3"):
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "x.npy"), x)
            job = {"inputs": {"x": {"source": "npy", "path": "x.npy", "chunks": [333]}},
                   "steps": {"y": "x[x > 0.5]", "s": "sum(x[x > 0.5] * 3)"},
                   "outputs": {"y": {"npy": "y.npy"}, "s": {"npy": "s.npy"}}}
            env = dict(os.environ, CASK_NUM_THREADS=t)
            with open(os.path.join(d, "job.json"), "w") as f:
                import json
                json.dump(job, f)
            r = subprocess.run([cask, "run", "--quiet", "job.json"], cwd=d, env=env, capture_output=True, text=True)
            if r.returncode:
                return fail("threads %s: %s" % (t, r.stderr))
            outs.append(open(os.path.join(d, "y.npy"), "rb").read() + open(os.path.join(d, "s.npy"), "rb").read())
    if outs[0] != outs[1]:
        fail("x[x > 0.5] and its sum differ between 1 and 3 threads")
    else:
        print("ok the same bytes at 1 and 3 threads")


def counting_pass_is_reported(cask):
    """Without --quiet, cask run's summary lists the counting pass's tasks."""
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), rng.random(100))
        job = {"inputs": {"x": {"source": "npy", "path": "x.npy", "chunks": [30]}},
               "steps": {"y": "x[x > 0.5]"}, "outputs": {"y": {"npy": "y.npy"}}}
        with open(os.path.join(d, "job.json"), "w") as f:
            import json
            json.dump(job, f)
        r = subprocess.run([cask, "run", "job.json"], cwd=d, capture_output=True, text=True)
        if r.returncode or "selcount (fused)" not in r.stderr:
            fail("the counting pass is not in cask run's summary: %r" % r.stderr)
        else:
            print("ok the counting pass is in cask run's summary")


def index_array_out_of_bounds_fails_the_run(cask):
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "a.npy"), INPUTS["f8"][0])
        np.save(os.path.join(d, "i.npy"), np.array([0, 3, 9, 1]))
        job = {"inputs": {"a": {"source": "npy", "path": "a.npy", "chunks": [3, 2]},
                          "i": {"source": "npy", "path": "i.npy", "chunks": [2]}},
               "steps": {"y": "a[i]", "z": "a[:, i % 5]"}, "outputs": {"y": {"npy": "y.npy"}}}
        r = run_job(cask, d, job)
        want = "take: index 9 is out of bounds for axis 0 with size 7"
        if r.returncode == 0 or want not in r.stderr or "take-" not in r.stderr:
            fail("a[i] out of bounds: exit %d, %r" % (r.returncode, r.stderr.strip()))
        elif os.path.exists(os.path.join(d, "y.npy")):
            fail("a[i] out of bounds wrote y.npy")
        else:
            print("ok an index array out of bounds fails the run: %s" % r.stderr.strip().splitlines()[-1][:160])
        job["outputs"] = {"z": {"npy": "z.npy"}}
        r = run_job(cask, d, job)
        ref = INPUTS["f8"][0][:, np.array([0, 3, 9, 1]) % 5]
        if r.returncode or np.load(os.path.join(d, "z.npy")).tobytes() != ref.tobytes():
            fail("a[:, i %% 5]: exit %d %s" % (r.returncode, r.stderr.strip()))
        else:
            print("ok a[:, i % 5] with i a cask array")


def reviewed_cases(cask):
    """The review's cases: each failed before its fix."""
    x = np.array([[1., np.nan, 3, -2, 7], [0, 5, -1, 2, 8], [4, -3, 2, np.nan, 1]])
    xi = np.array([[1, 7, 3, -2], [0, 5, -1, 2], [4, -3, 2, 9]], dtype=np.int32)
    x3 = np.arange(24.).reshape(2, 3, 4)
    i2 = np.array([[0, 2, 1], [1, 1, 0]], dtype=np.int32)
    idx = np.array([[0, 2], [-1, 1]])
    arrays = {"x": (x, [2, 2]), "xi": (xi, [2, 3]), "x3": (x3, [1, 2, 3]), "i2": (i2, [1, 2]), "idx": (idx, [1, 2])}
    c = np.compress(x[0] > 0, x, axis=1)
    good = [
        # the diff of a selection's computed sizes (diff(x[m]) itself is refused)
        ("diff(compute_chunk_sizes(x[x > 0]))", np.array([2., 4, -2, -3, 6, -4, -2, -1])),
        ("diff(compute_chunk_sizes(compress(x[0] > 0, x, axis=1)), axis=1)", np.diff(c, axis=1)),
        # an index array of k axes apart from an integer: its k axes first
        ("x3[1, :, i2]", x3[1, :, i2]),
        ("x3[1, :, idx]", x3[1, :, idx]),
        ("x3[:, 1, i2]", x3[:, 1, i2]),
        ("x3[0, i2, 1]", x3[0, i2, 1]),
        ("x3[i2 % 2, :, 1]", x3[i2 % 2, :, 1]),
        # a mask apart from an integer: the selection made with its axis first
        ("x3[0, :, x3[0, 0] > 1]", x3[0, :, x3[0, 0] > 1]),
        ("x3[1, 1:, x3[0, 0] > 1]", x3[1, 1:, x3[0, 0] > 1]),
        # keepdims over an axis of unknown length: expand_dims keeps it unknown
        ("sum(compress(x[0] > 0, x, axis=1), axis=0, keepdims=True)", c.sum(axis=0, keepdims=True)),
        ("sum(x[x > 0], keepdims=True)", x[x > 0].sum(keepdims=True)),
        ("max(compress(x[0] > 0, x, axis=1), axis=1, keepdims=True)", c.max(axis=1, keepdims=True)),
        ("expand_dims(x[x > 0], 0)", x[x > 0][None]),
        ("expand_dims(compress(x[0] > 0, x, axis=1), (0, 2))", np.expand_dims(c, (0, 2))),
        # min and max of selections that keep something
        ("min(x[x > 0])", x[x > 0].min()), ("max(x[x < 3])", x[x < 3].max()),
        ("min(xi[xi > 2])", xi[xi > 2].min()), ("max(xi[xi < 2])", xi[xi < 2].max()),
        ("min(x[x == x] * 2 + 1)", (x[x == x] * 2 + 1).min()),
    ]
    empty = [  # NumPy raises: min and max have no identity
        ("min(xi[xi > 100])", "minimum"), ("max(xi[xi > 100])", "maximum"),
        ("min(x[x > 100])", "minimum"), ("max(x[x > 100] * 2)", "maximum"),
        ("max(compress(x[0] > 100, x, axis=1), axis=1)", "maximum"),
    ]
    with tempfile.TemporaryDirectory() as d:
        inputs = {}
        for n, (a, ch) in arrays.items():
            np.save(os.path.join(d, n + ".npy"), a)
            inputs[n] = {"source": "npy", "path": n + ".npy", "chunks": ch}
        for step, ref in good:
            r = run_job(cask, d, {"inputs": inputs, "steps": {"y": step}, "outputs": {"y": {"npy": "y.npy"}}})
            if r.returncode:
                fail("%s: exit %d %s" % (step, r.returncode, r.stderr.strip()[-300:]))
                continue
            compare(np.load(os.path.join(d, "y.npy")), np.asarray(ref), step)
            os.remove(os.path.join(d, "y.npy"))
        for step, op in empty:
            want = "zero-size array to reduction operation %s which has no identity" % op
            r = run_job(cask, d, {"inputs": inputs, "steps": {"y": step}, "outputs": {"y": {"npy": "y.npy"}}})
            if r.returncode != 1 or want not in r.stderr or os.path.exists(os.path.join(d, "y.npy")):
                fail("%s: exit %d, %r; expected a failed run with %r" % (step, r.returncode, r.stderr.strip(), want))
    print("ok the review's cases (%d computed, %d empty min/max refused)" % (len(good), len(empty)))


def main():
    cask = sys.argv[1]
    check_steps(cask, INPUTS, steps_for, NS, compare, fail)
    refused_steps(cask, {"a": INPUTS["f8"][0], "s": INPUTS["scalar"][0]}, ERRORS, fail)
    same_at_thread_counts(cask)
    counting_pass_is_reported(cask)
    index_array_out_of_bounds_fails_the_run(cask)
    reviewed_cases(cask)
    if FAILURES:
        print("%d failures" % len(FAILURES))
        sys.exit(1)


if __name__ == "__main__":
    main()
