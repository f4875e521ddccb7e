#!/usr/bin/python3
"""plan_part_check.py - a rank's plan made from its part of the graph
equals its plan made from the whole graph (docs/distributed.md, "Planning
in parts"), for every rank of K = 1..8.

Usage: plan_part_check.py CASK_BINARY [SEED]

For each job, K and rank R, `cask run --plan-ranks K --plan-rank R
--plan-json --plan-lists` is run with --plan-mode part and --plan-mode
whole; the keys of the rank's tasks, its sends (key, destination, bytes)
and its receives (key, source, bytes) must be the same sets. Over the
ranks, the tasks must add up to the whole graph's and every send must be
a receive of its destination. Jobs: the example jobs a rank can plan in
parts, the weakly scaled job of scripts/plan_scaling.py, and random jobs
(generated inputs, elementwise steps, reductions over random axes, outputs
in random order). Jobs outside the fragment must report the whole mode
with a reason, and --plan-mode part must refuse them (exit 2)."""
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "examples", "jobs")


def plan(cask, path, k, r, mode):
    out = subprocess.run([cask, "run", "--plan-ranks", str(k), "--plan-rank", str(r), "--plan-json", "--plan-lists",
                          "--plan-mode", mode, path], capture_output=True, text=True, cwd=os.path.dirname(path))
    if out.returncode:
        sys.exit("%s K=%d R=%d mode %s failed (exit %d): %s" % (path, k, r, mode, out.returncode, out.stderr))
    return json.loads(out.stdout)


def lists(p):
    return (set(p["task_keys"]), set(map(tuple, p["send_list"])), set(map(tuple, p["recv_list"])))


def check_job(cask, path, ks, name):
    """Compares the two modes at every K in ks and rank; returns the
    number of plans compared."""
    n = 0
    for k in ks:
        whole_tasks, sends, recvs = 0, set(), set()
        graph_tasks = None
        for r in range(k):
            part, whole = plan(cask, path, k, r, "part"), plan(cask, path, k, r, "whole")
            if part["mode"] != "part" or whole["mode"] != "whole":
                sys.exit("%s K=%d R=%d: modes %s, %s" % (name, k, r, part["mode"], whole["mode"]))
            lp, lw = lists(part), lists(whole)
            for what, a, b in zip(("tasks", "sends", "receives"), lp, lw):
                if a != b:
                    sys.exit("%s K=%d R=%d: %s differ: part only %s; whole only %s" % (
                        name, k, r, what, sorted(a - b)[:5], sorted(b - a)[:5]))
            for f in ("tasks", "sends", "receives", "bytes_sent", "bytes_received"):
                if part[f] != whole[f]:
                    sys.exit("%s K=%d R=%d: %s %d (part) != %d (whole)" % (name, k, r, f, part[f], whole[f]))
            whole_tasks += whole["tasks"]
            graph_tasks = whole["graph_tasks"]
            sends |= {(key, r, peer, b) for key, peer, b in part["send_list"]}
            recvs |= {(key, peer, r, b) for key, peer, b in part["recv_list"]}
            n += 1
        if whole_tasks != graph_tasks:
            sys.exit("%s K=%d: ranks run %d tasks, the graph has %d" % (name, k, whole_tasks, graph_tasks))
        if sends != recvs:
            sys.exit("%s K=%d: sends without a receive %s; receives without a send %s" % (
                name, k, sorted(sends - recvs)[:5], sorted(recvs - sends)[:5]))
    return n


def check_refused(cask, path, name):
    p = plan(cask, path, 2, 0, "auto")
    if p["mode"] != "whole" or not p["fallback"]:
        sys.exit("%s: expected the whole mode with a reason, got %s, %s" % (name, p["mode"], p["fallback"]))
    out = subprocess.run([cask, "run", "--plan-ranks", "2", "--plan-mode", "part", path], capture_output=True,
                         text=True, cwd=os.path.dirname(path))
    if out.returncode != 2 or "cannot be planned in parts" not in out.stderr:
        sys.exit("%s: --plan-mode part gave exit %d: %s" % (name, out.returncode, out.stderr))


def scaling_job(k):
    """scripts/plan_scaling.py's job on k ranks (kept in step with it)."""
    shape = [k * 16 * 100, 2 * 100]
    src = lambda name, seed: {"source": name, "seed": seed, "shape": shape, "chunks": [100, 100]}
    return {"inputs": {"x": src("uniform", 1), "w": src("normal", 2)},
            "steps": {"y": "x * w + x", "s": "sum(y, axis=0)"},
            "outputs": {"y": {"npy": "y.npy"}, "s": "print"}}


REDUCTIONS = ["sum", "mean", "max", "min", "prod", "std", "var", "any", "argmax"]
FUNCS = ["sin", "exp", "abs", "sqrt", "negative"]


def random_job(rng):
    ndim = rng.randint(1, 3)
    shape = [rng.randint(1, 9) * rng.choice([1, 3, 5]) for _ in range(ndim)]
    chunks = [max(1, s // rng.randint(1, 4)) for s in shape]
    names = ["x", "w", "v"][:rng.randint(1, 3)]
    inputs = {}
    for i, nm in enumerate(names):
        src = rng.choice(["uniform", "normal", "full"])
        d = {"source": src, "shape": shape, "chunks": chunks}
        if src == "full":
            d["value"] = rng.randint(1, 9)
        else:
            d["seed"] = rng.randint(1, 99)
        inputs[nm] = d
    steps, outputs = {}, {}
    elementwise = []
    # reductions of leading axes read back as operands (x - mean(x, axis=0))
    for i in range(rng.randint(0, 2)):
        lead = rng.randint(1, ndim)
        axes = tuple(range(lead))
        src = rng.choice(names + elementwise)
        fn = rng.choice(["mean", "std", "max", "sum"])
        red = "%s(%s)" % (fn, src) if lead == ndim and rng.random() < 0.5 else \
            "%s(%s, axis=%s)" % (fn, src, axes[0] if lead == 1 else axes)
        steps["m%d" % i] = red
        steps["b%d" % i] = "(%s - m%d) * 2" % (rng.choice(names + elementwise), i)
        elementwise.append("b%d" % i)
        if rng.random() < 0.5:  # the reduction is an output too
            outputs["m%d" % i] = "print"
    for i in range(rng.randint(1, 3)):
        a, b = rng.choice(names + elementwise), rng.choice(names + elementwise)
        expr = rng.choice(["%s * %s + 1", "%s - 2 * %s", "%s(%%s) + %%s" % rng.choice(FUNCS),
                           "where(%s > 0.5, %s, x)"]) % (a, b)
        steps["e%d" % i] = expr
        elementwise.append("e%d" % i)
    nred = rng.randint(0, 3)
    for i in range(nred):
        src = rng.choice(names + elementwise)
        fn = rng.choice(REDUCTIONS)
        axes = [ax for ax in range(ndim) if rng.random() < 0.6] or [rng.randrange(ndim)]
        if fn == "argmax":
            axes = axes[:1]
        if rng.random() < 0.2 and fn != "argmax":
            steps["r%d" % i] = "%s(%s)" % (fn, src)
        else:
            steps["r%d" % i] = "%s(%s, axis=%s)" % (fn, src, axes[0] if len(axes) == 1 else tuple(axes))
    outs = ["r%d" % i for i in range(nred)] + rng.sample(elementwise, rng.randint(0 if nred else 1, len(elementwise)))
    rng.shuffle(outs)
    for o in outs:
        outputs[o] = "print" if o.startswith("r") else {"npy": o + ".npy"}
    nblocks = 1
    for s, c in zip(shape, chunks):
        nblocks *= -(-s // c)
    return {"inputs": inputs, "steps": steps, "outputs": outputs}, nblocks


def main():
    cask = os.path.abspath(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
    rng = random.Random(seed)
    n = 0
    with tempfile.TemporaryDirectory() as d:
        for job in ("basic.json", "reductions.json"):
            n += check_job(cask, os.path.join(EXAMPLES, job), range(1, 9), job)
        for job in ("structure.json", "linalg.json", "shapes.json", "select.json"):
            check_refused(cask, os.path.join(EXAMPLES, job), job)
        # file reads are on the grid too: a .npy input, a sum over rows
        import numpy as np
        np.save(os.path.join(d, "data.npy"), np.arange(600 * 40, dtype=np.float64).reshape(600, 40))
        path = os.path.join(d, "npy.json")
        with open(path, "w") as f:
            json.dump({"inputs": {"x": {"source": "npy", "path": "data.npy", "chunks": [50, 20]},
                                  "w": {"source": "normal", "seed": 3, "shape": [600, 40], "chunks": [50, 20]}},
                       "steps": {"y": "x * w - x", "s": "sum(y, axis=1)", "m": "max(x, axis=0)"},
                       "outputs": {"s": "print", "y": {"npy": "y.npy"}, "m": "print"}}, f)
        n += check_job(cask, path, range(1, 9), "npy job")
        for k in (1, 3, 4):
            path = os.path.join(d, "scaling%d.json" % k)
            with open(path, "w") as f:
                json.dump(scaling_job(k), f)
            n += check_job(cask, path, [k], "plan_scaling K=%d" % k)
        # folds whose blocks alternate between two ranks (mpi_jobs_check.py's
        # ALTERNATING_JOB): at K = 3 a ghost both reads a rank's state and
        # produces the next one it reads
        path = os.path.join(d, "alternating.json")
        with open(path, "w") as f:
            json.dump({"inputs": {"x": {"source": "normal", "seed": 3, "shape": [8, 9, 12], "chunks": [4, 3, 3]}},
                       "steps": {"a": "sum(x, axis=1)", "b": "sum(x * 2, axis=(1, 2))", "c": "max(x, axis=(0, 2))"},
                       "outputs": {"a": "print", "b": "print", "c": "print"}}, f)
        n += check_job(cask, path, [2, 3, 5], "alternating folds")
        for i in range(30):
            job, nblocks = random_job(rng)
            path = os.path.join(d, "random%d.json" % i)
            with open(path, "w") as f:
                json.dump(job, f)
            name = "random job %d (seed %d): %s" % (i, seed, json.dumps(job))
            ks = [k for k in range(1, 9) if k <= nblocks]
            n += check_job(cask, path, rng.sample(ks, min(3, len(ks))), name)
    print("plan_part_check: %d plans of each mode agree" % n)


if __name__ == "__main__":
    main()
