"""checkutil.py - what the Python checkers of tests/ share: test values that
use a dtype's whole range, exact comparison, and running one TCase of the
cask-tests binary on files a checker wrote (tests/hdf5_check.py), running
job files of steps against NumPy and their refused steps
(tests/scan_numpy_check.py, tests/shape_numpy_check.py; the older checkers
keep copies of their own)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def values(rng, dt, shape):
    """Values that use every byte of the dtype; NaN, infinities, -0.0."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        x = (rng.standard_normal(shape) * 1e3).astype(dt)
        flat = x.reshape(-1)
        for i, v in zip(range(0, flat.size, 5), [np.nan, np.inf, -np.inf, -0.0, 1e-30]):
            flat[i] = v
        return x
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)


def same(got, want):
    """The same dtype, shape and bytes (NaN payloads included)."""
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


def run_case(binary, suite, case, env_name, d):
    """Run TCase case of suite with env_name=d; echo its output; whether
    its one test passed."""
    env = dict(os.environ, CK_RUN_CASE=case)
    env[env_name] = d
    env.pop("CK_RUN_SUITE", None)
    run = subprocess.run([binary, suite], env=env, capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode != 0 or "Checks: 1, Failures: 0, Errors: 0" not in run.stdout:
        print(f"{binary} {suite} (CK_RUN_CASE={case}) failed with status {run.returncode}", file=sys.stderr)
        return False
    return True


def run_job(cask, d, job):
    """Write job as d/job.json and run `cask run --quiet` on it in d."""
    with open(os.path.join(d, "job.json"), "w") as f:
        json.dump(job, f)
    return subprocess.run([cask, "run", "--quiet", "job.json"], cwd=d, capture_output=True, text=True, timeout=300)


def refused_steps(cask, arrays, errors, fail):
    """Each (step, message) of errors as the one step of a job over arrays
    (name -> values, as .npy inputs): it must exit 2 with a message naming
    the step's column and holding message, and write nothing; fail(what)
    for each that does not."""
    with tempfile.TemporaryDirectory() as d:
        for n, x in arrays.items():
            np.save(os.path.join(d, n + ".npy"), x)
        inputs = {n: {"source": "npy", "path": n + ".npy"} for n in arrays}
        for step, want in errors:
            r = run_job(cask, d, {"inputs": inputs, "steps": {"y": step}, "outputs": {"y": {"npy": "y.npy"}}})
            if r.returncode != 2 or "steps.y: column" not in r.stderr or want not in r.stderr:
                fail("%r: exit %d, message %r; expected exit 2 and %r" % (step, r.returncode, r.stderr.strip(), want))
            if os.path.exists(os.path.join(d, "y.npy")):
                fail("%r: wrote y.npy" % step)
    print("ok errors: %d bad steps refused" % len(errors))


def check_steps(cask, inputs, steps_for, ns, compare, fail):
    """For each name -> (x, chunks) of inputs: x as a .npy input (in those
    chunks; None: the reader's default) of one job whose steps are
    steps_for(name, x), each output compared (compare(got, ref, what)) with
    NumPy evaluating the step with the names of ns."""
    for name, (x, chunks) in inputs.items():
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "x.npy"), x)
            inp = {"source": "npy", "path": "x.npy"}
            if chunks:
                inp["chunks"] = chunks
            steps = steps_for(name, x)
            job = {"inputs": {"x": inp}, "steps": {"s%d" % k: s for k, s in enumerate(steps)},
                   "outputs": {"s%d" % k: {"npy": "s%d.npy" % k} for k in range(len(steps))}}
            r = run_job(cask, d, job)
            if r.returncode != 0:
                fail("%s: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
                continue
            with np.errstate(over="ignore"):  # integer products wrap, in NumPy as in cask
                for k, s in enumerate(steps):
                    ref = np.asarray(eval(s, ns, {"x": x}))
                    compare(np.load(os.path.join(d, "s%d.npy" % k)), ref, "%s: %s" % (name, s))
            print("ok %s %s in chunks %s: %d steps" % (name, x.shape, chunks, len(steps)))
