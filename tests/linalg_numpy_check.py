#!/usr/bin/python3
"""linalg_numpy_check.py - einsum, the linear algebra (qr, svd, svdvals,
svd_compressed, cholesky, solve, inv, det, slogdet, lstsq, norm) and the
statistics nanargmin, nanargmax, cov and corrcoef of expressions against
NumPy 1.24.

Usage: linalg_numpy_check.py CASK_BINARY

Writes .npy inputs (float64, float32, int32; NaNs for the nan- functions)
in odd chunkings (TSQR over several row blocks with a ragged last one and a
two-level tree, one block, row blocks shorter than the columns, which falls
back to one LAPACK call, empty and 0-d arrays), runs one job per input with
every step, and compares each output's shape, dtype and values with NumPy
evaluating the same step: within 1e-9 relative (float64) or 2e-4
(float32) of the largest value, indexes bit for bit. QR and SVD factors are
unique only up to the signs of their vectors, so the steps check them as
NumPy's users would: reconstruction (q @ r, u * s @ vt), orthogonality
(q.T @ q), |r|, |vt| and the singular values. Then bad arguments (exit 2,
the step's column, the function and the shapes) and matrices LAPACK cannot
factor (the run fails naming the function and the shape).

Exits 0 when everything matches, 1 otherwise. Needs Debian's python3-numpy:
run it with /usr/bin/python3.
"""
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

from checkutil import check_steps, refused_steps, run_job

FAILURES = []


def fail(what):
    FAILURES.append(what)
    print("FAIL:", what)


warnings.simplefilter("ignore", RuntimeWarning)
L = np.linalg
NS = {"None": None, "inf": np.inf, "einsum": np.einsum, "abs": np.abs, "sum": np.sum}
for f in "qr svd cholesky solve inv det slogdet lstsq norm".split():
    NS[f] = getattr(L, f)
for f in "nanargmin nanargmax cov corrcoef".split():
    NS[f] = getattr(np, f)
NS["svdvals"] = lambda a: L.svd(a, compute_uv=False)
NS["lstsq"] = lambda a, b, rcond=None: L.lstsq(a, b, rcond=rcond)


def svd_compressed_ref(a, k, n_power_iter=0, seed=None):
    """Only the singular values are compared: the leading k of the SVD."""
    return (None, L.svd(a, compute_uv=False)[:k], None)


NS["svd_compressed"] = svd_compressed_ref

rng = np.random.default_rng(20261207)
NAN = rng.standard_normal((9, 6))
NAN[rng.random(NAN.shape) < 0.3] = np.nan
NAN[:, 2] = [np.nan] * 8 + [1.5]
INPUTS = {  # name -> (values, chunks)
    "f8": (rng.standard_normal((50, 6)), [10, 6]),  # TSQR, one tree level
    "f8r": (rng.standard_normal((103, 7)) + 0.5, [8, 7]),  # 13 row blocks, the last one of 7 rows: two levels
    "f8c": (rng.standard_normal((40, 5)), [6, 2]),  # several column chunks: rechunked for TSQR
    "f4": (rng.standard_normal((40, 5)).astype(np.float32), [7, 5]),
    "one": (rng.standard_normal((12, 4)), None),  # one block: single LAPACK calls
    "short": (rng.standard_normal((9, 4)), [2, 4]),  # row blocks shorter than the columns: one LAPACK call
    "i4": (rng.integers(-9, 9, (30, 3)).astype(np.int32), [10, 3]),
    "nan": (NAN, [4, 5]),
    "empty": (np.zeros((0, 4)), [2, 2]),
    "t3": (rng.standard_normal((3, 4, 5)), [2, 3, 2]),  # 3-d: einsum's general route, norms over axis pairs
    "wide": (rng.standard_normal((3, 5)), [2, 2]),  # more columns than rows: one LAPACK call
    "scalar": (np.array(-2.5), None),
}


def steps_for(name, x):
    if x.ndim == 0:
        return ["einsum('', x)", "einsum(',->', x, x)", "norm(x)"]
    if name == "empty":
        return ["einsum('ij->j', x)", "einsum('ij,ij->i', x, x)", "einsum('ij,kj->ik', x, x)", "norm(x)",
                "norm(x, axis=0)"]
    if name == "t3":
        return ["einsum('ijk,jk->i', x, x[0])", "einsum('ijk->kji', x)", "einsum('iij->j', x[:, :3, :])",
                "einsum('ijk,ilk->jl', x, x)", "einsum('ijk,ijk->', x, x)", "einsum('ijk', x)", "norm(x)",
                "norm(x, axis=(0, 2))", "norm(x, 1, axis=(2, 1))", "norm(x, -inf, axis=(0, 1))", "norm(x, 2, axis=2)",
                "nanargmax(x, axis=1)", "norm(x, axis=1, keepdims=True)"]
    if name == "wide":
        return ["abs(qr(x)[1])", "qr(x)[0] @ qr(x)[1]", "svd(x, full_matrices=False)[1]", "abs(svd(x, full_matrices=False)[0])",
                "lstsq(x, x[:, 0])[0]", "lstsq(x, x[:, 0])[1]", "lstsq(x, x[:, 0])[2]", "norm(x, 2)", "norm(x, 'nuc')",
                "cov(x)", "corrcoef(x)", "einsum('ij,kj', x, x)"]
    if name == "nan":
        return ["nanargmin(x)", "nanargmax(x)", "nanargmin(x, axis=0)", "nanargmax(x, axis=0, keepdims=True)",
                "nanargmin(x[:, 2])", "nanargmax(x[1:, 2])"]
    n = x.shape[1]
    sq = "x[:%d, :]" % n  # a square matrix
    spd = "(x.T @ x)"  # x is tall and of full rank
    out = [
        # einsum: implicit and explicit outputs, diagonals, traces, BLAS and non-BLAS routes, 3 operands
        "einsum('ij,ij->i', x, x)", "einsum('ij,ij', x, x)", "einsum('ij->ji', x)", "einsum('ij', x)",
        "einsum('ji', x)", "einsum('ij->', x)", "einsum('ij,jk->ik', x.T, x)", "einsum('ij,kj->ik', x, x)",
        "einsum('ij,jk', x, x.T)", "einsum('ji,jk->ik', x, x)", "einsum('ij,j->i', x, x[0])",
        "einsum('i,i', x[:, 0], x[:, 1])", "einsum('i,j->ij', x[:, 0], x[0])", "einsum('ii->i', %s)" % sq,
        "einsum('ii', %s)" % sq, "einsum('ij,jk,kl->il', x, x.T, x)", "einsum('ij,ij,ij->j', x, x, x)",
        "einsum('ik,jk->ij', x, x[:3])", "einsum('ij->i', x)",
        # norms
        "norm(x)", "norm(x, 'fro')", "norm(x, 'nuc')", "norm(x, 1)", "norm(x, -1)", "norm(x, 2)", "norm(x, -2)",
        "norm(x, inf)", "norm(x, -inf)", "norm(x, axis=0)", "norm(x, 1, axis=1)", "norm(x, 0, axis=0)",
        "norm(x, 3, axis=1)", "norm(x, -inf, axis=0)", "norm(x, inf, axis=(1, 0))", "norm(x, 1, axis=(1, 0))",
        "norm(x, axis=(0, 1), keepdims=True)", "norm(x[:, 0], 2.5)", "norm(x[:, 0], -1)",
        # statistics
        "cov(x)", "cov(x, rowvar=False)", "cov(x[:, 0])", "cov(x.T, bias=True)", "cov(x.T, ddof=2)",
        "cov(x[:, 0], x[:, 1])", "corrcoef(x.T)", "corrcoef(x, rowvar=False)", "corrcoef(x[:, 0], x[:, 1])",
        "nanargmin(x, axis=1)", "nanargmax(x)",
        # QR and SVD, up to signs
        "qr(x)[0] @ qr(x)[1]", "qr(x)[0].T @ qr(x)[0]", "abs(qr(x)[1])", "abs(qr(x, mode='r'))",
        "svd(x, full_matrices=False)[1]", "svdvals(x)", "abs(svd(x, full_matrices=False)[2])",
        "svd(x, full_matrices=False)[0] * svd(x, full_matrices=False)[1] @ svd(x, full_matrices=False)[2]",
        "svd(x, full_matrices=False)[0].T @ svd(x, full_matrices=False)[0]", "svd_compressed(x, 2, seed=3, n_power_iter=4)[1]",
        # square systems
        "det(%s)" % sq, "slogdet(%s)[0]" % sq, "slogdet(%s)[1]" % sq, "inv(%s)" % sq, "solve(%s, x[0])" % sq,
        "solve(%s, x[:%d, :2])" % (sq, n), "cholesky(%s)" % spd, "inv(%s) @ %s" % (sq, sq),
        # least squares
        "lstsq(x, x[:, 0] * 2 + 1)[0]", "lstsq(x, x[:, :2] + 1)[0]", "lstsq(x, x[:, 0] + 1)[1]", "lstsq(x, x[:, :2])[2]",
        "lstsq(x, x[:, 0])[3]", "lstsq(x.T, x[0])[0]",
    ]
    return out


def compare(got, ref, what):
    ref = np.asarray(ref)
    if got.shape != ref.shape:
        return fail("%s: shape %s, NumPy %s" % (what, got.shape, ref.shape))
    want = ref.dtype
    if "lstsq" in what and what.endswith("[2]"):  # NumPy's rank is int32; cask's indexes are int64
        want = np.dtype(np.int64)
    if got.dtype != want:
        return fail("%s: dtype %s, NumPy %s" % (what, got.dtype, ref.dtype))
    if ref.dtype.kind != "f":
        ok = np.array_equal(got, ref)
    else:
        tol = 2e-4 if ref.dtype == np.float32 else 1e-9
        scale = max(np.nanmax(np.abs(ref)) if ref.size else 0.0, 1.0)
        ok = np.allclose(got, ref, rtol=tol, atol=tol * scale, equal_nan=True)
    if not ok:
        fail("%s: values differ from NumPy's\n  got %s\n  ref %s" % (what, got.ravel()[:12], ref.ravel()[:12]))


ERRORS = [  # step, what the message must hold
    ("einsum('ij,jk->ik', a, a)", "einsum: 'ij,jk->ik' with shapes (7, 5), (7, 5): label 'j' has extent 5 in one place and 7"),
    ("einsum('ij->k', a)", "einsum: 'ij->k' with shapes (7, 5): output label 'k' is in no operand"),
    ("einsum('ijk', a)", "operand 0 has 2 axes but its subscripts 'ijk' have 3 labels"),
    ("einsum('ij,ij', a)", "einsum: 'ij,ij' with shapes (7, 5): more operands in the subscripts than the 1 given"),
    ("einsum('ij,ij', a, a, a)", "2 operand terms in the subscripts, 3 operands given"),
    ("einsum('i...', a)", "'...' (ellipsis) is not supported"),
    ("einsum(a, a)", "einsum: expected einsum('subscripts', a, ...)"),
    ("einsum('ij->ii', a)", "output label 'i' is repeated"),
    ("qr(a)", "qr returns 2 arrays (Q, R): take one"),
    ("qr(a)[2]", "qr returns 2 arrays: index 2 is out of range"),
    ("qr(v)[0]", "qr: shape (5,): expected a 2-d array"),
    ("inv(a)", "inv: shape (7, 5): Last 2 dimensions of the array must be square"),
    ("det(v)", "det: shape (5,): expected a 2-d array"),
    ("solve(a[:5], v[:3])", "solve: a of shape (5, 5) and b of shape (3,) do not fit"),
    ("lstsq(a, v)[0]", "lstsq: a of shape (7, 5) and b of shape (5,) do not fit"),
    ("svd(a)[0]", "svd: full_matrices=True of a non-square matrix is not supported"),
    ("svd_compressed(a, 9, seed=1)[1]", "svd_compressed: shape (7, 5): k = 9 must be in 1 .. 5"),
    ("norm(a, 'fro', axis=0)", "norm: Invalid norm order 'fro' for vectors"),
    ("norm(a, 3)", "norm: Invalid norm order 3 for matrices"),
    ("norm(a, axis=(0, 1, 0))", "norm: axis must be None, an integer or a pair of integers"),
    ("cov(a, v[:3])", "cov: m of shape (7, 5) and y of shape (3,) have 5 and 3 observations"),
    ("nanargmin(a, axis=2)", "nanargmin: axis 2 is out of range for an array of 2 axes"),
]

FAILED_RUNS = [  # step, what the run's failure must say
    ("cholesky(a[:5] * 0 - eye5)", "cholesky: Matrix is not positive definite (shape (5, 5))"),
    ("inv(a[:5] * 0)", "inv: Singular matrix (shape (5, 5))"),
    ("solve(a[:5] * 0, v)", "solve: Singular matrix (shape (5, 5))"),
    ("nanargmin(a * nan, axis=0)", "nanargmin: All-NaN slice encountered"),
]


def failed_runs(cask, a, v):
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "a.npy"), a)
        np.save(os.path.join(d, "v.npy"), v)
        np.save(os.path.join(d, "eye5.npy"), np.eye(5))
        inputs = {n: {"source": "npy", "path": n + ".npy"} for n in ("a", "v", "eye5")}
        for step, want in FAILED_RUNS:
            r = run_job(cask, d, {"inputs": inputs, "steps": {"y": step}, "outputs": {"y": {"npy": "y.npy"}}})
            if r.returncode == 0 or want not in r.stderr:
                fail("%r: exit %d, message %r; expected a failure saying %r" % (step, r.returncode, r.stderr.strip(), want))
            if os.path.exists(os.path.join(d, "y.npy")):
                fail("%r: wrote y.npy" % step)
    print("ok failed runs: %d" % len(FAILED_RUNS))


def main():
    cask = sys.argv[1]
    check_steps(cask, INPUTS, steps_for, NS, compare, fail)
    a = rng.standard_normal((7, 5))
    v = rng.standard_normal(5)
    refused_steps(cask, {"a": a, "v": v}, ERRORS, fail)
    failed_runs(cask, a, v)
    if FAILURES:
        print("%d failures" % len(FAILURES))
        sys.exit(1)


if __name__ == "__main__":
    main()
