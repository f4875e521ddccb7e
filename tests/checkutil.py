"""checkutil.py - what the Python checkers of tests/ share: test values that
use a dtype's whole range, exact comparison, and running one TCase of the
cask-tests binary on files a checker wrote (tests/hdf5_check.py; the older
checkers keep copies of their own)."""
import os
import subprocess
import sys

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
