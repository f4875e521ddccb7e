#!/usr/bin/python3
"""placement_check.py - bytes moved by array jobs on K ranks equal their
analytical minimum (docs/distributed.md, "Placement"), K = 1..8.

Usage: placement_check.py CASK_BINARY

For each job and K, every rank's plan (`cask run --plan-ranks K
--plan-rank R --plan-json`, no MPI) is made and the bytes they send are
summed; the sum must equal the formula computed here, independently of
cask's placement code:

  reductions (row blocks held in contiguous runs, as the planner splits
    roots; a two-level fold: a left fold inside each segment of S
    consecutive blocks, S = max(8, ceil(sqrt(n))), then a left fold of the
    segments' states, each combine on the rank of its later input): one
    state per rank change between consecutive blocks of a segment, plus one
    per rank change between consecutive segments' last blocks; plus a
    reduction's result from the rank finishing it to every other rank that
    reads it;
  matmul (SUMMA's block-cyclic distribution on a P x Q grid): every
    operand block from its owner to each other rank owning a result block
    that needs it.

A two-pass std of a generated x (its blocks made inside the partials'
kernels, so the second pass reads nothing but the mean: a broadcast) must
also be balanced: each pass's partials in the roots' runs (b_r of n on rank
r, the first n % K runs one longer), with the fold's combines that follow
them (a segment's first block starts its chain: no combine; a segment's
state is combined on the rank of its last block); and it moves what the
file-based std moves (the states across the boundaries, the mean to every
other rank).
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

F8 = 8


def plan_bytes(cask, path, k, tasks=None):
    """Bytes all ranks send; each rank's task count appended to tasks."""
    total = 0
    for r in range(k):
        out = subprocess.run([cask, "run", "--plan-ranks", str(k), "--plan-rank", str(r), "--plan-json", path],
                             capture_output=True, text=True, cwd=os.path.dirname(path))
        if out.returncode:
            sys.exit("plan K=%d R=%d of %s failed: %s" % (k, r, path, out.stderr))
        p = json.loads(out.stdout)
        if p["unsized"]:
            sys.exit("%s K=%d R=%d: %d transfers of undeclared size" % (path, k, r, p["unsized"]))
        total += p["bytes_sent"]
        if tasks is not None:
            tasks.append(p["tasks"])
    return total


def root_rank(j, n, k):
    """Root j of n on K ranks (distributed/place.c): contiguous runs, the
    first n % K one longer."""
    q, r = divmod(n, k)
    return j // (q + 1) if j < r * (q + 1) else r + (j - r * (q + 1)) // q


def segment_size(n):
    return max(8, math.isqrt(n - 1) + 1 if n > 1 else 1)


def fold_states(n, k):
    """States the segmented fold over n blocks in contiguous runs on K
    ranks sends (collections/array/ops/reduce.c, docs/distributed.md)."""
    s = segment_size(n)
    owner = [root_rank(j, n, k) for j in range(n)]
    segs = [range(a, min(a + s, n)) for a in range(0, n, s)]
    inner = sum(owner[j] != owner[j - 1] for seg in segs for j in seg[1:])
    top = sum(owner[segs[i - 1][-1]] != owner[segs[i][-1]] for i in range(1, len(segs)))
    return inner + top


def check_balance(k, n, tasks):
    """Per pass, partial j on block j's rank; a combine inside a segment on
    its block's rank (a segment's first block has none); the combine of
    segment i >= 1's state on the rank of that segment's last block."""
    s = segment_size(n)
    owner = [root_rank(j, n, k) for j in range(n)]
    want = [0] * k
    for j in range(n):
        want[owner[j]] += 2 + 2 * (j % s != 0)
    for a in range(s, n, s):
        want[owner[min(a + s, n) - 1]] += 2
    return tasks == want, want


def grid_shape(k, ni, nj):
    """The process grid for K ranks and an ni x nj block grid: most ranks
    given blocks, then most square, then the taller (as documented)."""
    best = None
    for p in range(1, k + 1):
        if k % p:
            continue
        q = k // p
        key = (min(p, ni) * min(q, nj), -abs(p - q), p)
        if best is None or key > best[0]:
            best = (key, p, q)
    return best[1], best[2]


def summa_bytes(k, ni, nk, nj, bi, bk, bj):
    """A (ni x nk blocks of bi x bk), B (nk x nj blocks of bk x bj) on the
    P x Q grid: block (i, j) at rank (i % P) * Q + j % Q, C included."""
    p, q = grid_shape(k, ni, nj)
    rank = lambda i, j: (i % p) * q + j % q
    total = 0
    for i in range(ni):
        for kk in range(nk):
            need = {rank(i, j) for j in range(nj)} - {rank(i, kk)}
            total += len(need) * bi * bk * F8
    for kk in range(nk):
        for j in range(nj):
            need = {rank(i, j) for i in range(ni)} - {rank(kk, j)}
            total += len(need) * bk * bj * F8
    return total


def main():
    cask = os.path.abspath(sys.argv[1])
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(5)
        np.save(os.path.join(d, "t.npy"), rng.standard_normal((1000, 30)))
        np.save(os.path.join(d, "a.npy"), rng.standard_normal((40, 30)))
        np.save(os.path.join(d, "b.npy"), rng.standard_normal((30, 20)))
        np.save(os.path.join(d, "c.npy"), rng.standard_normal((30, 30)))
        jobs = {}
        # bench/mpi.py case C: 10 row blocks of 100 x 30; mean: states of
        # (n, mean) per column, the mean back, std: states of (n, mean, M2)
        jobs["std"] = ({"inputs": {"x": {"source": "npy", "path": "t.npy", "chunks": [100, 30]}},
                        "steps": {"y": "std(x - mean(x, axis=0), axis=0)"}, "outputs": {"y": {"npy": "y.npy"}}},
                       lambda k: (fold_states(10, k) * (2 + 3) + min(k, 10) - 1) * 30 * F8)
        # scripts/plan_scaling.py's job at K ranks: 16 row blocks per rank,
        # two columns of blocks: the fold's sum states (one float64 per
        # column) for each column; and the same job at 4 K rows, where rank
        # boundaries fall inside segments
        for k in range(1, 9):
            shape = [k * 16 * 10, 2 * 10]
            src = lambda name, seed: {"source": name, "seed": seed, "shape": shape, "chunks": [10, 10]}
            jobs["scaling%d" % k] = ({"inputs": {"x": src("uniform", 1), "w": src("normal", 2)},
                                      "steps": {"y": "x * w + x", "s": "sum(y, axis=0)"},
                                      "outputs": {"y": {"npy": "y.npy"}, "s": "print"}},
                                     lambda kk, n=k * 16: 2 * fold_states(n, kk) * 10 * F8, k)
        for rows in (100, 203):  # 10 and 15 segments, one column; runs of uneven length
            jobs["fold%d" % rows] = ({"inputs": {"x": {"source": "uniform", "seed": 3, "shape": [rows * 4, 20],
                                                       "chunks": [4, 20]}},
                                      "steps": {"s": "sum(x * 2, axis=0)"}, "outputs": {"s": "print"}},
                                     lambda kk, n=rows: fold_states(n, kk) * 20 * F8)
        # matmul of a 3 x 3 by a 3 x 2 and of a 4 x 3 by a 3 x 2 grid of
        # 10 x 10 blocks
        jobs["matmul33"] = ({"inputs": {"b": {"source": "npy", "path": "b.npy", "chunks": [10, 10]},
                                        "c": {"source": "npy", "path": "c.npy", "chunks": [10, 10]}},
                             "steps": {"y": "c @ b"}, "outputs": {"y": {"npy": "y.npy"}}},
                            lambda k: summa_bytes(k, 3, 3, 2, 10, 10, 10))
        jobs["matmul42"] = ({"inputs": {"a": {"source": "npy", "path": "a.npy", "chunks": [10, 10]},
                                        "b": {"source": "npy", "path": "b.npy", "chunks": [10, 10]}},
                             "steps": {"y": "a @ b"}, "outputs": {"y": {"npy": "y.npy"}}},
                            lambda k: summa_bytes(k, 4, 3, 2, 10, 10, 10))
        # the std on a generated x of 24 row blocks (printed, so no writer
        # task): before the broadcast rule, the whole second pass ran on the
        # rank holding the mean; it moves what the file-based std moves
        jobs["genstd"] = ({"inputs": {"x": {"source": "normal", "seed": 3, "shape": [2400, 30], "chunks": [100, 30]}},
                           "steps": {"y": "std(x - mean(x, axis=0), axis=0)"}, "outputs": {"y": "print"}},
                          lambda k: (fold_states(24, k) * (2 + 3) + min(k, 24) - 1) * 30 * F8, None, 24)
        for name, spec in jobs.items():
            job, formula = spec[0], spec[1]
            only = spec[2] if len(spec) > 2 else None
            balanced_blocks = spec[3] if len(spec) > 3 else None
            path = os.path.join(d, name + ".json")
            with open(path, "w") as f:
                json.dump(job, f)
            for k in ([only] if only else range(1, 9)):
                tasks = []
                got, want = plan_bytes(cask, path, k, tasks), formula(k)
                ok = got == want
                failures += not ok
                print("%-10s K=%d: %d bytes sent, formula %d%s" % (name, k, got, want, "" if ok else "  MISMATCH"))
                if balanced_blocks:
                    ok, want_tasks = check_balance(k, balanced_blocks, tasks)
                    failures += not ok
                    print("%-10s K=%d: tasks per rank %s%s" % (name, k, tasks,
                                                                "" if ok else "  UNBALANCED, expected %s" % want_tasks))
    if failures:
        sys.exit("%d plans moved other than the formula" % failures)
    print("all plans move the formula's bytes")


if __name__ == "__main__":
    main()
