#!/usr/bin/python3
"""cli_check.py - the `cask` command-line tool against NumPy.

Usage: cli_check.py CASK_BINARY EXAMPLES_JOBS_DIR [TEST ...]

Tests (all by default; name some to run only those; a path to a job file
checks that one example):
  examples  every job in examples/jobs/ runs (in a temporary directory, with
            any .npy file or Zarr store it reads made there first; jobs too
            large for CI smaller, see CI_SIZES) and each output it
            prints or writes matches NumPy evaluating the same steps: the job's
            expressions are Python, so they are evaluated with eval() over
            NumPy arrays and functions (an independent reference). Random
            inputs are written out by an added output so NumPy sees the same
            values.
  errors    each kind of mistake in a job file (and on the command line) gives
            exit 2, a message naming the field (and the column inside an
            expression), and writes nothing.
  files     --trace, --graph (JSON and DOT), --dry-run, `cask graph` and the
            environment variables: the files parse and hold the expected fields.
  memory    --memory-limit, --spill-dir, their environment variables and
            the job file's "memory_limit" (precedence: option, environment,
            file): a run that spills prints what an unlimited one prints, the
            summary and progress show the spilling, the spill directory is
            used and left empty, --dry-run says whether the run will spill.
  zarr      Zarr stores in (both separators, other chunks) and out (every
            compressor and level, read back by zarr), an existing store
            replaced whole, no temporary directory left.
  sigint    SIGINT in the middle of a long run (.npy and Zarr outputs) and
            while a Zarr store is written: exit 130, no output, no temporary
            file or directory left; SIGTERM (143) and SIGHUP (129) in a run
            that spills: no spill file left either.
  sigkill   leftovers of a run killed by SIGKILL carry its PID and are
            removed by the next run writing the same output or spilling into
            the same directory (those of live processes are kept).
  failure   an input file truncated during the run: exit 1, a message naming
            the failed task and its op, no output file.
  plan      `cask run --plan-ranks K --plan-rank R` (text and --plan-json):
            every rank of K = 1, 2, 4, 8 agrees on the graph's digest, the
            ranks' tasks add up to the graph's, the blocks and bytes sent
            equal those received, a row-block elementwise job moves nothing,
            a graph file plans as its job does, nothing is run or written;
            a rank outside 0..K-1 and --plan-rank without --plan-ranks are
            refused with exit 2.
  plugin    `cask run GRAPH.json` (a graph written by `cask graph`, and one
            written by hand with a plugin's op) prints its outputs; a step
            map_blocks('twice_plus_one', x, dtype='float32') with --plugin
            equals NumPy; a missing plugin, one without cask_plugin_init, and
            an unknown kernel are refused with exit 2 (the plugin's path in
            $CASK_TEST_PLUGIN).

Exits 0 when everything passes, 1 otherwise (each failure listed).
Needs Debian's python3-numpy and python3-zarr: run it with /usr/bin/python3.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numcodecs
import numpy as np
import zarr

CASK = None
FAILURES = []


def fail(what):
    FAILURES.append(what)
    print("FAIL:", what)


def run(args, cwd, env=None, timeout=300):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("CASK_"):
            del e[k]
    e.update(env or {})
    return subprocess.run([CASK] + args, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


# ---- the NumPy reference ----------------------------------------------------

def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _red(f, has_ddof=False):
    def g(a, axis=None, ddof=0, keepdims=False):
        a = np.asarray(a)
        if has_ddof:
            return f(a, axis=_axis(axis), ddof=ddof, keepdims=keepdims)
        return f(a, axis=_axis(axis), keepdims=keepdims)
    return g


NS = {  # shadows Python's sum, min, max, abs, round, any, all
    "True": True, "False": False, "None": None,
    "sum": _red(np.sum), "mean": _red(np.mean), "min": _red(np.min), "max": _red(np.max),
    "var": _red(np.var, True), "std": _red(np.std, True), "prod": _red(np.prod),
    "any": _red(np.any), "all": _red(np.all), "argmin": _red(np.argmin), "argmax": _red(np.argmax),
    "nansum": _red(np.nansum), "nanmean": _red(np.nanmean), "nanmin": _red(np.nanmin),
    "nanmax": _red(np.nanmax),
    "transpose": lambda a, axes=None: np.transpose(a, axes),
    "rechunk": lambda a, chunks: a,
    "astype": lambda a, dt: np.asarray(a).astype(dt),
    "matmul": np.matmul, "dot": np.dot, "where": np.where, "clip": np.clip,
    "maximum": np.maximum, "minimum": np.minimum, "power": np.power, "arctan2": np.arctan2,
    "abs": np.abs, "round": np.round,
}
for _f in ("negative sqrt exp expm1 log log1p log2 log10 sin cos tan arcsin arccos arctan sinh cosh "
           "tanh floor ceil isnan isfinite concatenate stack flip flipud fliplr roll squeeze expand_dims "
           "moveaxis swapaxes broadcast_to tile repeat pad triu tril outer around reshape ravel compress extract take "
           "nonzero argwhere flatnonzero").split():
    NS[_f] = getattr(np, _f)
NS["compute_chunk_sizes"] = lambda a: a

FIXTURES = {  # .npy files and Zarr stores the example jobs read, made before they run
    "data.npy": lambda: np.random.default_rng(20261125).standard_normal((400, 300)) * 3 + 1,
    "data.zarr": lambda: np.random.default_rng(20261126).standard_normal((400, 300)) * 2 - 1,
}


def make_fixture(d, path):
    values = FIXTURES[path]()
    if path.endswith(".zarr"):  # zarr's own defaults (Blosc lz4), in chunks other than the job's
        zarr.array(values, chunks=(64, 100), store=os.path.join(d, path))
    else:
        np.save(os.path.join(d, path), values)


# Example jobs too large for CI run smaller (same steps, fields replaced),
# with a memory limit still well under their data, so they still spill.
CI_SIZES = {
    "larger-than-memory.json": {
        "memory_limit": "16MiB",
        "inputs": {"x": {"shape": [10000, 500], "chunks": [1000, 500]},
                   "w": {"shape": [500, 500], "chunks": [500, 500]}},
    },
}


def merged(job, changes):
    for k, v in changes.items():
        if isinstance(v, dict):
            merged(job[k], v)
        else:
            job[k] = v
    return job


def spill_summary(stderr):
    """(bytes, blocks) the summary says were spilled; (0, 0) for 'nothing spilled'; None without a summary."""
    for line in stderr.splitlines():
        if line.startswith("cask: done in") and line.endswith("nothing spilled"):
            return 0, 0
        if line.startswith("cask: spilled "):
            amount, unit, blocks = line.split()[2:5]
            mult = {"B": 1, "KiB": 2 ** 10, "MiB": 2 ** 20, "GiB": 2 ** 30}[unit]
            return float(amount) * mult, int(blocks.strip("(,"))
    return None


def reference_input(spec, name, d):
    src = spec["source"]
    dt = spec.get("dtype", "float64")
    if src in ("uniform", "normal"):
        return np.load(os.path.join(d, "__in_%s.npy" % name))
    if src == "npy":
        return np.load(os.path.join(d, spec["path"]))
    if src == "zarr":
        return zarr.open(os.path.join(d, spec["path"]), mode="r")[...]
    if src == "arange":
        return np.arange(spec.get("start", 0), spec["stop"], spec.get("step", 1)).astype(dt)
    value = {"zeros": 0, "ones": 1}.get(src, spec.get("value"))
    return np.full(spec["shape"], value).astype(dt)


def close(got, ref, what):
    ref = np.asarray(ref)
    got = np.asarray(got)
    if got.shape != ref.shape:
        fail("%s: shape %s, NumPy %s" % (what, got.shape, ref.shape))
        return
    if ref.dtype.kind == "b" or ref.dtype.kind in "iu":
        if not np.array_equal(got, ref):
            fail("%s: values differ from NumPy's" % what)
        return
    tol = 2e-5 if ref.dtype == np.float32 else 1e-9
    scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isfinite(ref), ref, 0)))) if ref.size else 1.0)
    if not np.allclose(got, ref, rtol=tol, atol=tol * scale, equal_nan=True):
        err = np.nanmax(np.abs(got.astype(np.float64) - ref.astype(np.float64)))
        fail("%s: differs from NumPy's by up to %g" % (what, err))


def check_example(path):
    name = os.path.basename(path)
    with open(path) as f:
        job = merged(json.load(f), CI_SIZES.get(name, {}))
    with tempfile.TemporaryDirectory() as d:
        for spec in job["inputs"].values():
            if spec["source"] in ("npy", "zarr"):
                make_fixture(d, spec["path"])
        # Random inputs are written out too, for NumPy to start from.
        for n, spec in job["inputs"].items():
            if spec["source"] in ("uniform", "normal"):
                job["outputs"]["__in_" + n] = {"npy": "__in_%s.npy" % n}
                job.setdefault("steps", {})["__in_" + n] = n
        with open(os.path.join(d, name), "w") as f:
            json.dump(job, f)
        # a job that sets a memory limit must spill under it (the summary says so)
        r = run(["run", name] if "memory_limit" in job else ["run", "--quiet", name], d)
        if r.returncode != 0:
            fail("%s: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
            return
        if "memory_limit" in job and not (spill_summary(r.stderr) or (0, 0))[0] > 0:
            fail("%s: nothing spilled under its memory limit: %r" % (name, r.stderr))
        printed = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition(" = ")
            printed[k] = json.loads(v)
        env = {n: reference_input(s, n, d) for n, s in job["inputs"].items()}
        with np.errstate(all="ignore"):
            for n, expr in job.get("steps", {}).items():
                env[n] = np.asarray(eval(expr, NS, env))
        for n, out in job["outputs"].items():
            if n.startswith("__in_"):
                continue
            ref = env[n]
            if out == "print" or (isinstance(out, dict) and out.get("print")):
                if n not in printed:
                    fail("%s: output %s was not printed" % (name, n))
                else:
                    close(np.array(printed[n], dtype=ref.dtype), ref, "%s: printed %s" % (name, n))
            for kind in ("npy", "zarr"):
                if not isinstance(out, dict) or kind not in out:
                    continue
                p = os.path.join(d, out[kind])
                got = np.load(p) if kind == "npy" else zarr.open(p, mode="r")[...]
                if got.dtype != ref.dtype:
                    fail("%s: %s has dtype %s, NumPy %s" % (name, out[kind], got.dtype, ref.dtype))
                close(got, ref, "%s: %s" % (name, out[kind]))
        left = [f for f in os.listdir(d) if f.startswith(".")]
        if left:
            fail("%s: temporary files left: %s" % (name, left))
        print("ok %s (%d outputs)" % (name, len(job["outputs"])))


def test_examples(jobs_dir):
    for f in sorted(os.listdir(jobs_dir)):
        if f.endswith(".json"):
            check_example(os.path.join(jobs_dir, f))


# ---- bad job files ------------------------------------------------------------

GOOD_INPUTS = {"x": {"source": "uniform", "seed": 1, "shape": [100, 50], "chunks": [50, 25]}}


def job_with(inputs=None, steps=None, outputs=None, **extra):
    j = {"inputs": GOOD_INPUTS if inputs is None else inputs,
         "steps": {"y": "x * 2"} if steps is None else steps,
         "outputs": {"y": {"npy": "y.npy"}} if outputs is None else outputs}
    j.update(extra)
    return j


BAD_JOBS = [
    ("a later step", job_with(steps={"y": "z * 2", "z": "x + 1"}),
     "steps are evaluated in file order, and 'z' is defined after this one"),
    ("printing too much", job_with(inputs={"x": {"source": "zeros", "shape": [2000, 1000]}},
                                   outputs={"y": "print"}),
     "outputs.y: the array has 2000000 elements, at most 10000 can be printed (write it with \"npy\" or \"zarr\")"),
    ("syntax", '{"inputs": {\n  "x": {"source": "uniform",,}\n}}', "line 2, column"),
    ("not an object", "[1, 2]", "the job must be a JSON object"),
    ("unknown top field", job_with(input={}), "unknown field 'input'"),
    ("no inputs", {"outputs": {"y": "print"}}, "inputs: missing"),
    ("no outputs", {"inputs": GOOD_INPUTS}, "outputs: missing"),
    ("unknown source", job_with(inputs={"x": {"source": "unifrom", "shape": [3]}}),
     "inputs.x.source: unknown source 'unifrom'"),
    ("no source", job_with(inputs={"x": {"shape": [3]}}), "inputs.x.source: missing"),
    ("no shape", job_with(inputs={"x": {"source": "zeros"}}), "inputs.x.shape: missing"),
    ("negative extent", job_with(inputs={"x": {"source": "ones", "shape": [3, -1]}}),
     "inputs.x.shape[1]: must be an integer >= 0"),
    ("fractional extent", job_with(inputs={"x": {"source": "ones", "shape": [2.5]}}),
     "inputs.x.shape[0]: must be an integer"),
    ("chunks count", job_with(inputs={"x": {"source": "ones", "shape": [4, 4], "chunks": [2]}}),
     "inputs.x.chunks: has 1 entries, the shape has 2 axes"),
    ("zero chunk", job_with(inputs={"x": {"source": "ones", "shape": [4], "chunks": [0]}}),
     "inputs.x.chunks[0]: must be an integer >= 1"),
    ("bad dtype", job_with(inputs={"x": {"source": "ones", "shape": [4], "dtype": "float16"}}),
     "inputs.x.dtype: must be one of"),
    ("random int", job_with(inputs={"x": {"source": "normal", "shape": [4], "dtype": "int32"}}),
     "inputs.x: random inputs are float64 or float32"),
    ("misspelt field", job_with(inputs={"x": {"source": "ones", "shape": [4], "chunk": [2]}}),
     "inputs.x: unknown field 'chunk'"),
    ("seed", job_with(inputs={"x": {"source": "uniform", "shape": [4], "seed": -3}}),
     "inputs.x.seed: must be an integer >= 0"),
    ("arange step", job_with(inputs={"x": {"source": "arange", "stop": 4, "step": 0}}),
     "inputs.x: step must not be 0"),
    ("full value", job_with(inputs={"x": {"source": "full", "shape": [4]}}), "inputs.x.value: missing"),
    ("npy missing", job_with(inputs={"x": {"source": "npy", "path": "nope.npy"}}),
     "inputs.x.path: cannot read 'nope.npy'"),
    ("npy garbage", job_with(inputs={"x": {"source": "npy", "path": "garbage.npy"}}),
     "inputs.x: "),
    ("bad name", job_with(inputs={"2x": {"source": "ones", "shape": [4]}}, steps={}, outputs={"2x": "print"}),
     "inputs.2x: an input's name must be"),
    ("step syntax", job_with(steps={"y": "x * (2 +"}), "steps.y: column 9: the expression ends too early"),
    ("step unknown name", job_with(steps={"y": "x + q"}), "steps.y: column 5: unknown name 'q'"),
    ("step later name", job_with(steps={"y": "w + 1", "w": "x"}), "steps.y: column 1: unknown name 'w'"),
    ("step shapes", job_with(steps={"y": "x + x.T"}), "steps.y: column 3:"),
    ("step axis", job_with(steps={"y": "sum(x, axis=2)"}), "steps.y: column 1:"),
    ("step keyword", job_with(steps={"y": "sum(x, dtype='float32')"}),
     "steps.y: column 8: sum: unknown keyword 'dtype'"),
    ("step dtype", job_with(steps={"y": "astype(x, 'float16')"}), "steps.y: column 11: astype: the dtype must be"),
    ("step index", job_with(steps={"y": "x[1.5]"}), "steps.y: column 3: an index must be an integer"),
    ("step rechunk", job_with(steps={"y": "rechunk(x, (10,))"}),
     "steps.y: column 12: rechunk: 'chunks' has 1 entries, the array has 2 axes"),
    ("step function", job_with(steps={"y": "frobnicate(x)"}), "steps.y: column 1: unknown function 'frobnicate'"),
    ("step not a string", job_with(steps={"y": 3}), "steps.y: must be an expression string"),
    ("name twice", job_with(steps={"x": "x + 1"}), "steps.x: the name is defined twice"),
    ("output unknown", job_with(outputs={"z": "print"}), "outputs.z: 'z' is not an input or a step"),
    ("output too big to print", job_with(inputs={"x": {"source": "ones", "shape": [200, 100]}}, steps={},
                                         outputs={"x": "print"}),
     "outputs.x: the array has 20000 elements, at most 10000"),
    ("output nothing", job_with(outputs={"y": {"print": False}}), "outputs.y: says nothing to do"),
    ("output kind", job_with(outputs={"y": "show"}), "outputs.y: must be \"print\" or an object"),
    ("output dir", job_with(outputs={"y": {"npy": "no/such/dir/y.npy"}}),
     "outputs.y.npy: cannot write into the directory 'no/such/dir'"),
    ("output under a file", job_with(outputs={"y": {"npy": "garbage.npy/y.npy"}}),
     "outputs.y.npy: 'garbage.npy' is not a directory"),
    ("memory_limit type", job_with(memory_limit=5), "memory_limit: must be a string"),
    ("memory_limit value", job_with(memory_limit="lots"), "memory_limit: 'lots' is not a memory limit"),
    ("memory_limit zero", job_with(memory_limit="0MB"), "memory_limit: '0MB' is not a memory limit"),
    ("zarr input missing", job_with(inputs={"x": {"source": "zarr", "path": "nope.zarr"}}),
     "inputs.x.path: cannot read 'nope.zarr'"),
    ("zarr input no path", job_with(inputs={"x": {"source": "zarr"}}),
     "inputs.x.path: missing (the Zarr store to read)"),
    ("zarr input not a store", job_with(inputs={"x": {"source": "zarr", "path": "empty.zarr"}}),
     "inputs.x: read_zarr empty.zarr"),
    ("zarr input field", job_with(inputs={"x": {"source": "zarr", "path": "empty.zarr", "shape": [3]}}),
     "inputs.x: unknown field 'shape'"),
    ("zarr output path", job_with(outputs={"y": {"zarr": 3}}), "outputs.y.zarr: must be a directory name"),
    ("zarr output dir", job_with(outputs={"y": {"zarr": "no/such/dir/y.zarr"}}),
     "outputs.y.zarr: cannot write into the directory 'no/such/dir'"),
    ("zarr output over a file", job_with(outputs={"y": {"zarr": "garbage.npy"}}),
     "outputs.y.zarr: 'garbage.npy' exists and is not a Zarr store"),
    ("zarr output over a directory", job_with(outputs={"y": {"zarr": "empty.zarr"}}),
     "outputs.y.zarr: 'empty.zarr' exists and is not a Zarr store"),
    ("zarr compressor", job_with(outputs={"y": {"zarr": "y.zarr", "compressor": "lz5"}}),
     "outputs.y.compressor: must be one of \"zstd\""),
    ("zarr level", job_with(outputs={"y": {"zarr": "y.zarr", "compressor": "zstd", "level": 23}}),
     "outputs.y.level: must be an integer from 1 to 22 for the compressor \"zstd\""),
    ("zarr level type", job_with(outputs={"y": {"zarr": "y.zarr", "level": "high"}}),
     "outputs.y.level: must be an integer from 0 to 9 for the compressor \"blosc-lz4\""),
    ("zarr level none", job_with(outputs={"y": {"zarr": "y.zarr", "compressor": "none", "level": 1}}),
     "outputs.y.level: the compressor \"none\" takes no level"),
    ("zarr level without zarr", job_with(outputs={"y": {"npy": "y.npy", "level": 3}}),
     "outputs.y.level: only goes with \"zarr\""),
    ("zarr format", job_with(outputs={"y": {"zarr": "y.zarr", "zarr_format": 4}}),
     "outputs.y.zarr_format: must be 2 or 3"),
    ("zarr shards on v2", job_with(outputs={"y": {"zarr": "y.zarr", "shards": [4, 4]}}),
     "outputs.y.shards: needs \"zarr_format\": 3"),
    ("zarr shards type", job_with(outputs={"y": {"zarr": "y.zarr", "zarr_format": 3, "shards": [4, 0]}}),
     "outputs.y.shards: item 1 must be a positive integer"),
    ("zarr shards without zarr", job_with(outputs={"y": {"npy": "y.npy", "shards": [4]}}),
     "outputs.y.shards: only goes with \"zarr\""),
    ("zarr field", job_with(outputs={"y": {"zarr": "y.zarr", "compresor": "zstd"}}),
     "outputs.y: unknown field 'compresor'"),
]

BAD_USAGE = [
    (["run"], "expected a job file"),
    (["run", "--threads", "0", "job.json"], "--threads '0'"),
    (["run", "--frobnicate", "job.json"], "unknown option"),
    (["run", "--graph-format", "svg", "job.json"], "expected json or dot"),
    (["run", "nosuchjob.json"], "cannot open the job file"),
    (["graph", "--graph-format", "dot", "job.json"], "needs -o FILE"),
    (["graph", "--trace", "t.json", "job.json"], "unknown option"),
    (["launch", "job.json"], "unknown command 'launch'"),
    (["run", "--trace", "no/dir/t.json", "job.json"], "trace no/dir/t.json: cannot write into the directory 'no/dir'"),
    (["graph", "-o", "no/dir/g.json", "job.json"], "graph no/dir/g.json: cannot write into the directory"),
    (["run", "--trace", "garbage.npy/t.json", "job.json"], "trace garbage.npy/t.json: 'garbage.npy' is not a directory"),
    (["run", "--memory-limit", "12XB", "job.json"], "--memory-limit '12XB': expected a size"),
    (["run", "--memory-limit", "0", "job.json"], "--memory-limit '0'"),
    (["run", "-m", "150%", "job.json"], "--memory-limit '150%'"),
    (["run", "--memory-limit", "-1GB", "job.json"], "--memory-limit '-1GB'"),
    (["run", "--spill-dir", "no/such/dir", "job.json"], "--spill-dir 'no/such/dir': No such file or directory"),
    (["run", "--spill-dir", "garbage.npy", "job.json"], "--spill-dir 'garbage.npy': not a directory"),
    (["graph", "--memory-limit", "1GB", "job.json"], "unknown option"),
]


def test_errors():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "garbage.npy"), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00\x10\x00{'descr': 'xx'}\n")
        os.mkdir(os.path.join(d, "empty.zarr"))  # a directory, not a store
        for what, job, expect in BAD_JOBS:
            path = os.path.join(d, "job.json")
            with open(path, "w") as f:
                f.write(job if isinstance(job, str) else json.dumps(job))
            r = run(["run", "job.json"], d)
            left = sorted(set(os.listdir(d)) - {"job.json", "garbage.npy", "empty.zarr"})
            if r.returncode != 2 or expect not in r.stderr or left or r.stdout:
                fail("bad job '%s': exit %d, stderr %r (wanted %r), files left %s"
                     % (what, r.returncode, r.stderr.strip(), expect, left))
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(job_with(), f)
        for args, expect in BAD_USAGE:
            r = run(args, d)
            if r.returncode != 2 or expect not in r.stderr:
                fail("usage %s: exit %d, stderr %r (wanted %r)" % (args, r.returncode, r.stderr.strip(), expect))
        for var, value, expect in (("CASK_NUM_THREADS", "many", "CASK_NUM_THREADS='many'"),
                                   ("CASK_MEMORY_LIMIT", "lots", "CASK_MEMORY_LIMIT='lots' is not a memory limit"),
                                   ("CASK_SPILL_DIR", "no/dir", "CASK_SPILL_DIR 'no/dir': No such file")):
            r = run(["run", "job.json"], d, env={var: value})
            if r.returncode != 2 or expect not in r.stderr:
                fail("%s=%s: exit %d, %r" % (var, value, r.returncode, r.stderr))
        for args in (["--help"], ["run", "--help"], ["graph", "--help"]):
            r = run(args, d)
            if r.returncode != 0 or "usage: cask" not in r.stdout:
                fail("%s: exit %d" % (args, r.returncode))
        r = run(["run", "--help"], d)
        for opt in ("--threads", "--trace", "--graph", "--graph-format", "--dry-run", "--quiet", "CASK_NUM_THREADS",
                    "--memory-limit", "--spill-dir", "CASK_MEMORY_LIMIT", "CASK_SPILL_DIR", "memory_limit"):
            if opt not in r.stdout:
                fail("cask run --help does not mention %s" % opt)
        if "--memory-limit" not in run(["--help"], d).stdout:
            fail("cask --help does not mention --memory-limit")
    print("ok errors (%d bad jobs, %d bad command lines)" % (len(BAD_JOBS), len(BAD_USAGE)))


# ---- trace, graph, dry run, environment ----------------------------------------

def check_graph_json(path, what):
    with open(path) as f:
        g = json.load(f)
    if g.get("cask_graph") != 1 or g.get("ntasks") != len(g.get("tasks", [])) or not g["tasks"]:
        fail("%s: not a graph with its tasks" % what)
        return 0
    keys = {t["key"] for t in g["tasks"]}
    for t in g["tasks"]:
        if not {"key", "op", "deps"} <= set(t) or not set(t["deps"]) <= keys:
            fail("%s: task %s lacks fields or names a missing dependency" % (what, t.get("key")))
            break
    if not any(t.get("output") for t in g["tasks"]):
        fail("%s: no task is marked as an output" % what)
    return g["ntasks"]


def test_files():
    with tempfile.TemporaryDirectory() as d:
        job = job_with(steps={"y": "sum(x * 2, axis=0)", "s": "sum(x)"},
                       outputs={"y": {"npy": "y.npy"}, "s": "print"})
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(job, f)
        r = run(["run", "job.json", "--trace", "t.json", "--graph", "g.json", "--threads", "2"], d)
        if r.returncode != 0:
            fail("run with --trace: exit %d: %s" % (r.returncode, r.stderr))
            return
        with open(os.path.join(d, "t.json")) as f:
            t = json.load(f)
        spans = [e for e in t.get("traceEvents", []) if e.get("ph") == "X"]
        if not spans or not all({"name", "ts", "dur", "tid"} <= set(e) for e in spans):
            fail("trace: no complete events with name, ts, dur, tid")
        n = check_graph_json(os.path.join(d, "g.json"), "--graph")
        if "cask: done in" not in r.stderr or "time per op kind" not in r.stderr:
            fail("no summary on stderr: %r" % r.stderr)
        s = json.loads(r.stdout.split(" = ")[1])
        # dry run: the same task count, nothing run or written
        os.remove(os.path.join(d, "y.npy"))
        r = run(["run", "--dry-run", "job.json", "--graph", "g2.dot", "--graph-format", "dot"], d)
        if r.returncode != 0 or ("tasks: %d\n" % n) not in r.stdout or "predicted peak memory:" not in r.stdout:
            fail("dry run: exit %d, %r (wanted tasks: %d)" % (r.returncode, r.stdout, n))
        if os.path.exists(os.path.join(d, "y.npy")):
            fail("dry run wrote an output")
        with open(os.path.join(d, "g2.dot")) as f:
            if not f.read().startswith("digraph"):
                fail("--graph-format dot: not a DOT file")
        # cask graph: JSON on stdout, or a file
        r = run(["graph", "job.json"], d)
        if r.returncode != 0 or json.loads(r.stdout).get("ntasks") != n:
            fail("cask graph on stdout: exit %d" % r.returncode)
        r = run(["graph", "-o", "g3.json", "job.json"], d)
        if r.returncode != 0 or check_graph_json(os.path.join(d, "g3.json"), "cask graph -o") != n:
            fail("cask graph -o: exit %d %s" % (r.returncode, r.stderr))
        # the environment: CASK_QUIET, CASK_TRACE, CASK_GRAPH; an option wins
        r = run(["run", "job.json"], d, env={"CASK_QUIET": "1", "CASK_TRACE": "t2.json", "CASK_GRAPH": "g4.json",
                                             "CASK_NUM_THREADS": "1"})
        if r.returncode != 0 or r.stderr or not os.path.exists(os.path.join(d, "t2.json")):
            fail("environment: exit %d, stderr %r" % (r.returncode, r.stderr))
        check_graph_json(os.path.join(d, "g4.json"), "CASK_GRAPH")
        if json.loads(r.stdout.split(" = ")[1]) != s:
            fail("one thread and two threads print different sums")
        r = run(["run", "job.json", "--graph", "g5.json"], d, env={"CASK_GRAPH": "g6.json", "CASK_QUIET": "1"})
        if not os.path.exists(os.path.join(d, "g5.json")) or os.path.exists(os.path.join(d, "g6.json")):
            fail("--graph does not win over CASK_GRAPH")
    print("ok files")


# ---- memory limit and spilling ---------------------------------------------------

# y is used twice (its column means, then its centred values): its blocks are
# held between the two passes, 32 MB in all, spilled under a few MiB.
SPILL_JOB = {"inputs": {"x": {"source": "uniform", "seed": 7, "shape": [20000, 200], "chunks": [1000, 200]},
                        "w": {"source": "normal", "seed": 8, "shape": [200, 200]}},
             "steps": {"y": "x @ w", "s": "std(y - mean(y, axis=0), axis=0)", "t": "sum(s)"},
             "outputs": {"t": "print"}}


def run_watching(args, d, watch, env=None):
    """Runs cask, listing the directory watch meanwhile: (result, whether anything appeared in it)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("CASK_")}
    e.update(env or {})
    p = subprocess.Popen([CASK] + args, cwd=d, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = False
    while p.poll() is None:
        seen = seen or bool(os.listdir(watch))
        time.sleep(0.002)
    out, err = p.communicate()
    return subprocess.CompletedProcess(args, p.returncode, out, err), seen


def test_memory():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(SPILL_JOB, f)
        free = run(["run", "--memory-limit", "none", "job.json"], d)
        if free.returncode != 0 or spill_summary(free.stderr) != (0, 0) or ", no limit (" not in free.stderr:
            fail("no limit: exit %d, %r" % (free.returncode, free.stderr))
            return
        # a tiny limit: the same bits printed, spilled blocks, read back, in the given directory
        spill = os.path.join(d, "spill")
        os.mkdir(spill)
        r, seen = run_watching(["run", "--memory-limit", "4MiB", "--spill-dir", spill, "job.json"], d, spill)
        got = spill_summary(r.stderr)
        if r.returncode != 0 or r.stdout != free.stdout or not got or got[0] <= 0 or got[1] <= 0:
            fail("--memory-limit 4MiB: exit %d, stdout %r (unlimited: %r), stderr %r"
                 % (r.returncode, r.stdout, free.stdout, r.stderr))
        if "of the 4.00 MiB limit" not in r.stderr or "read back" not in r.stderr or "spill I/O" not in r.stderr:
            fail("the summary lacks the limit or what was read back: %r" % r.stderr)
        if not any(l.startswith("cask: ") and "of 4.00 MiB, spilled" in l for l in r.stderr.splitlines()):
            fail("the progress line lacks the memory and the bytes spilled: %r" % r.stderr)
        if not seen or os.listdir(spill):
            fail("--spill-dir: used during the run %s, left %s" % (seen, os.listdir(spill)))
        # the environment, and an option winning over it
        spill2 = os.path.join(d, "spill2")
        os.mkdir(spill2)
        r, seen = run_watching(["run", "-q", "job.json"], d, spill2, env={"CASK_MEMORY_LIMIT": "4MiB",
                                                                          "CASK_SPILL_DIR": spill2})
        if r.returncode != 0 or r.stdout != free.stdout or not seen or os.listdir(spill2):
            fail("CASK_MEMORY_LIMIT, CASK_SPILL_DIR: exit %d, used %s, %r" % (r.returncode, seen, r.stderr))
        r, seen = run_watching(["run", "-q", "--spill-dir", spill, "job.json"], d, spill2,
                               env={"CASK_MEMORY_LIMIT": "4MiB", "CASK_SPILL_DIR": spill2})
        if r.returncode != 0 or seen:
            fail("--spill-dir does not win over CASK_SPILL_DIR: exit %d, %r" % (r.returncode, r.stderr))
        # the job file's limit; the environment and options win over it
        with open(os.path.join(d, "limited.json"), "w") as f:
            json.dump(dict(SPILL_JOB, memory_limit="4MiB"), f)
        r = run(["run", "limited.json"], d)
        if r.returncode != 0 or r.stdout != free.stdout or not (spill_summary(r.stderr) or (0, 0))[0] > 0:
            fail("a job file's memory_limit: exit %d, %r" % (r.returncode, r.stderr))
        for args, env, limit in ((["limited.json"], {}, "4194304 bytes"),
                                 (["limited.json"], {"CASK_MEMORY_LIMIT": "none"}, "none"),
                                 (["-m", "8MiB", "limited.json"], {"CASK_MEMORY_LIMIT": "none"}, "8388608 bytes"),
                                 (["-m", "1GB", "job.json"], {}, "1000000000 bytes")):
            r = run(["run", "--dry-run"] + args, d, env=env)
            spills = "spilling: expected" if limit.startswith(("4", "8")) else "spilling: n"
            if r.returncode != 0 or ("memory limit: %s" % limit) not in r.stdout or spills not in r.stdout:
                fail("dry run %s %s: wanted the limit %s and %r: %r" % (args, env, limit, spills, r.stdout))
        r = run(["run", "-q", "limited.json"], d, env={"CASK_MEMORY_LIMIT": "none"})
        if r.returncode != 0 or r.stdout != free.stdout:
            fail("CASK_MEMORY_LIMIT=none over the job's limit: exit %d, %r" % (r.returncode, r.stderr))
    print("ok memory")


# ---- Zarr stores -----------------------------------------------------------------

COMPRESSORS = {  # the job's name -> what .zarray holds (numcodecs' config)
    "none": None, "zlib": {"id": "zlib"}, "gzip": {"id": "gzip"}, "zstd": {"id": "zstd"},
    "blosc-lz4": {"id": "blosc", "cname": "lz4"}, "blosc-zstd": {"id": "blosc", "cname": "zstd"},
}


def test_zarr():
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(5)
        a = rng.standard_normal((300, 70))
        i = rng.integers(-1000, 1000, size=(1000,), dtype=np.int32)
        zarr.array(a, chunks=(64, 32), store=os.path.join(d, "a.zarr"), compressor=numcodecs.Zstd(3))
        zarr.array(i, chunks=(128,), store=os.path.join(d, "i.zarr"), dimension_separator="/")
        # a store already under an output's name, of another shape and chunks: replaced whole
        zarr.array(np.ones((9, 9, 9)), chunks=(2, 2, 2), store=os.path.join(d, "out_zlib.zarr"))
        outputs = {"row%d" % k: {"zarr": "out_%s.zarr" % c, "compressor": c} for k, c in enumerate(COMPRESSORS)}
        outputs["row1"]["level"] = 9  # zlib
        outputs["row3"]["level"] = 19  # zstd
        steps = {"row%d" % k: "a * %d + a[:, %d:%d]" % (k, k, k + 1) for k in range(len(COMPRESSORS))}
        steps.update({"total": "sum(i)", "cols": "sum(b, axis=0)"})
        job = {"inputs": {"a": {"source": "zarr", "path": "a.zarr"},
                          "b": {"source": "zarr", "path": "a.zarr", "chunks": [100, 70]},
                          "i": {"source": "zarr", "path": "i.zarr"}},
               "steps": steps,
               "outputs": dict(outputs, total="print", cols={"print": True, "zarr": "cols.zarr"},
                               i={"zarr": "i2.zarr"})}
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(job, f)
        r = run(["run", "-q", "job.json"], d)
        if r.returncode != 0:
            fail("zarr job: exit %d: %s" % (r.returncode, r.stderr))
            return
        printed = dict(line.split(" = ") for line in r.stdout.splitlines())
        if json.loads(printed["total"]) != int(i.sum()):
            fail("zarr input (separator /): sum %s, NumPy %d" % (printed["total"], i.sum()))
        close(np.array(json.loads(printed["cols"])), a.sum(axis=0), "zarr input in other chunks")
        for k, (c, codec) in enumerate(COMPRESSORS.items()):
            path = os.path.join(d, "out_%s.zarr" % c)
            z = zarr.open(path, mode="r")
            got = {x: v for x, v in (z.compressor.get_config() if z.compressor else {}).items()
                   if x in ("id", "cname")} or None
            if got != codec or z.chunks != (64, 32):  # the output's chunks, from a.zarr
                fail("zarr output %s: compressor %s, chunks %s" % (c, got, z.chunks))
            if c in ("zlib", "zstd") and z.compressor.get_config()["level"] != (9 if c == "zlib" else 19):
                fail("zarr output %s: level %s" % (c, z.compressor.get_config()))
            close(z[...], a * k + a[:, k:k + 1], "zarr output %s" % c)
        if len(os.listdir(os.path.join(d, "out_zlib.zarr"))) != 1 + 5 * 3:  # no chunk of the old 9x9x9
            fail("the replaced store keeps old files: %s" % os.listdir(os.path.join(d, "out_zlib.zarr")))
        close(zarr.open(os.path.join(d, "cols.zarr"), mode="r")[...], a.sum(axis=0), "cols.zarr")
        i2 = zarr.open(os.path.join(d, "i2.zarr"), mode="r")
        if i2.dtype != np.int32 or i2.chunks != (128,) or not np.array_equal(i2[...], i):
            fail("i2.zarr: dtype %s, chunks %s" % (i2.dtype, i2.chunks))
        left = [f for f in os.listdir(d) if f.startswith(".")]
        if left:
            fail("zarr job: temporary directories left: %s" % left)
    print("ok zarr (%d compressors)" % len(COMPRESSORS))


# ---- SIGINT --------------------------------------------------------------------

# A long run: SIGINT lands in the middle of the computation.
LONG_JOB = {"inputs": {"x": {"source": "normal", "seed": 1, "shape": [40000, 20000], "chunks": [1000, 1000]}},
            "steps": {"a": "sin(x) ** 2.5 + cos(x) ** 3.5",
                      "y": "sum(arctan2(a, x) ** 1.5 + exp(-a) * tanh(a), axis=0)"}}
# A quick run with a slow output (72 MB of random doubles through zlib level
# 9, seconds): SIGINT lands while the store is written under its temporary name.
SLOW_WRITE_JOB = {"inputs": {"x": {"source": "uniform", "seed": 3, "shape": [3000, 3000], "chunks": [500, 500]}},
                  "steps": {"y": "x"}}


def test_sigint():
    sigint_run(LONG_JOB, {"npy": "y.npy"}, "g.json", "the run")
    sigint_run(LONG_JOB, {"zarr": "y.zarr"}, "g.json", "the run")
    sigint_run(SLOW_WRITE_JOB, {"zarr": "y.zarr", "compressor": "zlib", "level": 9}, ".y.zarr.tmp-", "the write")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        sigint_run(NPY_SPILL_JOB, {"npy": "y.npy"}, "spill/cask-spill-", "a spilling run", sig=sig,
                   args=["--memory-limit", "12MiB", "--spill-dir", "spill"], setup=make_spill_input)


# A run that spills: x - mean(x) over a .npy file holds every block of x
# until the means are known, four times the limit the tests give it.
NPY_SPILL_JOB = {"inputs": {"x": {"source": "npy", "path": "x.npy", "chunks": [250, 2000]}},
             "steps": {"y": "sin(x - mean(x, axis=0)) ** 2 + cos(x) ** 3"}}


def make_spill_input(d):
    np.save(os.path.join(d, "x.npy"), np.random.default_rng(5).random((6000, 2000)))
    os.mkdir(os.path.join(d, "spill"))


def entries(d):
    """Every file and directory under d, relative to it."""
    out = set()
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(root, n), d))
    return out


def appeared(d, wait_for):
    return any(f.startswith(wait_for) for f in entries(d))


def sigint_run(job, output, wait_for, what, sig=signal.SIGINT, args=(), setup=None):
    """sig once a file whose path starts with wait_for appears (and 0.3 s more)."""
    with tempfile.TemporaryDirectory() as d:
        if setup:
            setup(d)
        before = entries(d)
        with open(os.path.join(d, "long.json"), "w") as f:
            json.dump(dict(job, outputs={"y": output}), f)
        e = {k: v for k, v in os.environ.items() if not k.startswith("CASK_")}
        t0 = time.time()
        p = subprocess.Popen([CASK, "run", "--graph", "g.json"] + list(args) + ["long.json"], cwd=d, env=e,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not appeared(d, wait_for) and p.poll() is None and time.time() - t0 < 60:
            time.sleep(0.01)
        time.sleep(0.3 if sig == signal.SIGINT else 0.05)  # the run (or the write) is going
        t0 = time.time()
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("%s: the run did not stop within 60 s" % sig.name)
            return
        left = sorted(entries(d) - before - {"long.json", "g.json"})
        if p.returncode != 128 + sig or left or "interrupted" not in err:
            fail("%s during %s (%s): exit %d, files left %s, stderr %r"
                 % (sig.name, what, output, p.returncode, left, err[-300:]))
        else:
            print("ok %s during %s, %s output (stopped %.1f s after the signal)"
                  % (sig.name, what, list(output)[0], time.time() - t0))


def dead_pid():
    """The PID of a process that has ended."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_sigkill():
    """A real SIGKILL while spilling leaves a spill directory named with the
    PID; planted leftovers of a dead PID (an .npy temporary, a Zarr store's
    temporary directory, a spill directory) go at the next run, those of a
    live PID (this script's) stay."""
    with tempfile.TemporaryDirectory() as d:
        make_spill_input(d)
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(dict(NPY_SPILL_JOB, outputs={"y": {"npy": "y.npy"}, "z": {"zarr": "z.zarr"}},
                           steps=dict(NPY_SPILL_JOB["steps"], z="y[:10]")), f)
        e = {k: v for k, v in os.environ.items() if not k.startswith("CASK_")}
        cmd = [CASK, "run", "--quiet", "--memory-limit", "12MiB", "--spill-dir", "spill", "job.json"]
        p = subprocess.Popen(cmd, cwd=d, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.time()
        while not appeared(d, "spill/cask-spill-%d-" % p.pid) and p.poll() is None and time.time() - t0 < 60:
            time.sleep(0.005)
        p.kill()
        p.communicate()
        killed = [n for n in os.listdir(os.path.join(d, "spill")) if n.startswith("cask-spill-%d-" % p.pid)]
        if not killed:
            fail("sigkill: no spill directory named with the killed run's PID %d: %s"
                 % (p.pid, os.listdir(os.path.join(d, "spill"))))
        gone, me = dead_pid(), os.getpid()
        planted_dead = ["y.npy.tmp-%d-abcdef" % gone, ".z.zarr.tmp-%d-0" % gone, "spill/cask-spill-%d-qwerty" % gone]
        planted_live = ["y.npy.tmp-%d-abcdef" % me, ".z.zarr.tmp-%d-0" % me, "spill/cask-spill-%d-qwerty" % me]
        for n in planted_dead + planted_live:
            if ".zarr" in n or "spill/" in n:
                os.makedirs(os.path.join(d, n, "sub"))
                open(os.path.join(d, n, "sub", "f"), "w").close()
            else:
                open(os.path.join(d, n), "w").close()
        r = subprocess.run(cmd, cwd=d, env=e, capture_output=True, text=True, timeout=120)
        now = entries(d)
        dead_left = [n for n in planted_dead + ["spill/" + k for k in killed] if n in now]
        live_gone = [n for n in planted_live if n not in now]
        if r.returncode != 0 or dead_left or live_gone:
            fail("sigkill: exit %d, leftovers of dead processes kept %s, of live ones removed %s, stderr %r"
                 % (r.returncode, dead_left, live_gone, r.stderr[-300:]))
        else:
            print("ok sigkill: %d leftovers of dead runs removed, %d of a live one kept"
                  % (len(planted_dead) + len(killed), len(planted_live)))


# ---- a failing task ------------------------------------------------------------

def test_task_failure():
    """An input file truncated while the run reads it: a read task fails,
    exit 1, the message names the task and its op, no output is written.
    The file is truncated as soon as the graph file appears (the job is
    built, the run starts); one thread runs reads and heavy sums in turn,
    for seconds (a read fails long before the end)."""
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "big.npy"), np.ones((4000, 2000)))
        job = {"inputs": {"d": {"source": "npy", "path": "big.npy", "chunks": [25, 2000]}},
               "steps": {"a": "sin(d) ** 2.5 + cos(d) ** 3.5 + arcsin(d / 2) ** 1.5",
                         "b": "arctan2(a, d) ** 1.5 + exp(-a) * tanh(a) + cosh(a) ** 0.5",
                         "y": "sum(a * b + log1p(b) / sqrt(a + 1) + log10(a + b) ** 1.5, axis=0)"},
               "outputs": {"y": {"npy": "y.npy"}}}
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(job, f)
        e = {k: v for k, v in os.environ.items() if not k.startswith("CASK_")}
        p = subprocess.Popen([CASK, "run", "--threads", "1", "--graph", "g.json", "job.json"], cwd=d, env=e,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        while not os.path.exists(os.path.join(d, "g.json")) and p.poll() is None and time.time() - t0 < 60:
            time.sleep(0.001)
        os.truncate(os.path.join(d, "big.npy"), 1000)
        out, err = p.communicate(timeout=120)
        left = sorted(set(os.listdir(d)) - {"job.json", "big.npy", "g.json"})
        if p.returncode != 1 or "array.npy_read" not in err or left:
            fail("a failing task: exit %d, files left %s, stderr %r" % (p.returncode, left, err[-400:]))
        else:
            print("ok task failure: " + err.strip().splitlines()[-1][:200])


# ---- plugins and task graph files ---------------------------------------------

def test_plugin():
    plugin = os.environ.get("CASK_TEST_PLUGIN")
    if not plugin or not os.path.exists(plugin):
        fail("plugin: CASK_TEST_PLUGIN does not name the test plugin")
        return
    with tempfile.TemporaryDirectory() as d:
        x = np.arange(12.0).reshape(3, 4) / 7
        np.save(os.path.join(d, "x.npy"), x)
        job = {"inputs": {"x": {"source": "npy", "path": "x.npy", "chunks": [2, 4]}},
               "steps": {"y": "map_blocks('twice_plus_one', x, dtype='float32') + 1", "s": "sum(x * 2)"},
               "outputs": {"y": {"npy": "y.npy"}, "s": "print"}}
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(job, f)
        r = run(["run", "-q", "--plugin", plugin, "job.json"], d)
        want = (2 * x + 1).astype(np.float32) + np.float32(1)
        if r.returncode != 0:
            fail("plugin: a step with map_blocks: exit %d, %r" % (r.returncode, r.stderr[-300:]))
        elif not np.array_equal(np.load(os.path.join(d, "y.npy")), want):
            fail("plugin: map_blocks('twice_plus_one', x) differs from NumPy")
        r = run(["run", "-q", "job.json"], d)
        if r.returncode != 2 or "no kernel is registered as 'twice_plus_one'" not in r.stderr or "--plugin" not in r.stderr:
            fail("plugin: without --plugin: exit %d, %r" % (r.returncode, r.stderr[-300:]))
        # a graph written by `cask graph`, run by `cask run`
        r = run(["graph", "-q", "-o", "g.json", "job.json", "--plugin", plugin], d)
        if r.returncode != 1 or "cannot be written as JSON" not in r.stderr:
            # map_blocks tasks hold function pointers: such a graph is not written
            fail("plugin: cask graph of a map_blocks step: exit %d, %r" % (r.returncode, r.stderr[-300:]))
        job2 = dict(job, steps={"s": "sum(x * 2)"}, outputs={"s": "print"})
        with open(os.path.join(d, "job2.json"), "w") as f:
            json.dump(job2, f)
        r = run(["graph", "-q", "-o", "g.json", "job2.json"], d)
        r2 = run(["run", "-q", "g.json"], d)
        got = [l for l in r2.stdout.splitlines() if "=" in l]
        if r.returncode or r2.returncode or len(got) != 1 or abs(float(got[0].split("=")[1]) - 2 * x.sum()) > 1e-12:
            fail("plugin: cask run of a graph file: exit %d/%d, %r %r" % (r.returncode, r2.returncode, r2.stdout,
                                                                       r2.stderr[-300:]))
        # a graph written by hand with the plugin's op
        graph = {"cask_graph": 1, "ntasks": 3, "tasks": [
            {"key": "a", "op": "plugin.const", "args": {"value": 40}},
            {"key": "b", "op": "plugin.const", "args": {"value": 1}},
            {"key": "c", "op": "plugin.const", "args": {"value": 1}, "deps": ["a", "b"], "output": True}]}
        with open(os.path.join(d, "hand.json"), "w") as f:
            json.dump(graph, f)
        r = run(["run", "-q", "--plugin", plugin, "hand.json"], d)
        if r.returncode != 0 or r.stdout.strip() != "c = 42":
            fail("plugin: a hand-written graph: exit %d, %r %r" % (r.returncode, r.stdout, r.stderr[-300:]))
        r = run(["run", "-q", "hand.json"], d)
        if r.returncode != 2 or "unknown op 'plugin.const'" not in r.stderr:
            fail("plugin: a graph with an unknown op: exit %d, %r" % (r.returncode, r.stderr[-300:]))
        for bad, says in (("no-such-plugin.so", "no-such-plugin.so"), ("/usr/lib/x86_64-linux-gnu/libz.so.1",
                                                                        "no cask_plugin_init")):
            r = run(["run", "-q", "--plugin", bad, "job.json"], d)
            if r.returncode != 2 or says not in r.stderr:
                fail("plugin: --plugin %s: exit %d, %r" % (bad, r.returncode, r.stderr[-300:]))
    print("ok plugin: kernels in steps, ops in graph files, cask run of graph files")


def plan_of(d, k, r, job="job.json", mode="whole"):
    res = run(["run", "--plan-ranks", str(k), "--plan-rank", str(r), "--plan-json", "--plan-mode", mode, job], d)
    if res.returncode != 0:
        fail("--plan-ranks %d --plan-rank %d %s: exit %d: %s" % (k, r, job, res.returncode, res.stderr))
        return None
    return json.loads(res.stdout)


def check_plans(d, k, job, what):
    """Every rank's plan of k ranks; the digest they share (or None)."""
    plans = [plan_of(d, k, r, job) for r in range(k)]
    if None in plans:
        return None, None
    total = plans[0]["graph_tasks"]
    if sum(p["tasks"] for p in plans) != total:
        fail("%s, %d ranks: tasks add up to %d, not %d" % (what, k, sum(p["tasks"] for p in plans), total))
    if sum(p["sends"] for p in plans) != sum(p["receives"] for p in plans) or \
       sum(p["bytes_sent"] for p in plans) != sum(p["bytes_received"] for p in plans):
        fail("%s, %d ranks: sends and receives differ: %r" % (what, k, plans))
    if len({p["digest"] for p in plans}) != 1 or [p["rank"] for p in plans] != list(range(k)):
        fail("%s, %d ranks: digests or ranks differ: %r" % (what, k, plans))
    return plans[0]["digest"], plans


def check_part_plans(d, k, job, what, whole):
    """Every rank's plan from its part of the graph (each rank's graph is
    its own, so no shared digest): the same counts as from the whole."""
    plans = [plan_of(d, k, r, job, "part") for r in range(k)]
    if None in plans or not whole:
        return
    for p, w in zip(plans, whole):
        if p["mode"] != "part" or any(p[f] != w[f] for f in ("tasks", "sends", "receives", "bytes_sent",
                                                                "bytes_received")):
            fail("%s, %d ranks: the plan in parts differs from the whole: %r vs %r" % (what, k, p, w))


def test_plan():
    with tempfile.TemporaryDirectory() as d:
        inputs = {"x": {"source": "uniform", "seed": 1, "shape": [400, 60], "chunks": [50, 30]},
                  "w": {"source": "normal", "seed": 2, "shape": [400, 60], "chunks": [50, 30]}}
        job = job_with(inputs=inputs, steps={"y": "x * w + x", "s": "sum(y)"},
                       outputs={"y": {"npy": "y.npy"}, "s": "print"})
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(job, f)
        with open(os.path.join(d, "rows.json"), "w") as f:
            json.dump(job_with(inputs=inputs, steps={"y": "x * w + x"}, outputs={"y": {"npy": "y.npy"}}), f)
        digests = set()
        for k in (1, 2, 4, 8):
            digest, plans = check_plans(d, k, "job.json", "sum job")
            digests.add(digest)
            if plans and k == 1 and (plans[0]["sends"] or plans[0]["receives"]):
                fail("one rank sends or receives: %r" % plans[0])
            if plans and k > 1 and not sum(p["sends"] for p in plans):
                fail("%d ranks: the sum moves no partial: %r" % (k, plans))
            check_part_plans(d, k, "job.json", "sum job", plans)
            _, plans = check_plans(d, k, "rows.json", "row-block job")
            check_part_plans(d, k, "rows.json", "row-block job", plans)
            if plans and any(p["sends"] or p["receives"] or p["bytes_sent"] for p in plans):
                fail("row-block job on %d ranks moves blocks: %r" % (k, plans))
        if len(digests) != 1:
            fail("the digest depends on the rank count: %r" % digests)
        r = run(["run", "--plan-ranks", "4", "--plan-rank", "1", "job.json"], d)
        for line in ("plan: rank 1 of 4\n", "tasks: ", "sends: ", "receives: ", "planning: "):
            if r.returncode != 0 or line not in r.stdout:
                fail("text plan: exit %d, no %r in %r" % (r.returncode, line, r.stdout))
        if os.path.exists(os.path.join(d, "y.npy")) or "s = " in r.stdout:
            fail("--plan-ranks ran the job")
        # a graph file written by cask graph (the job's arrays, without the
        # run's writers, which follow their blocks) moves what the job moves
        r = run(["graph", "-o", "g.json", "job.json"], d)
        _, gplans = check_plans(d, 3, "g.json", "graph file")
        _, jplans = check_plans(d, 3, "job.json", "sum job")
        moved = lambda ps: [(p["sends"], p["receives"], p["bytes_sent"]) for p in ps or []]
        if r.returncode != 0 or not gplans or moved(gplans) != moved(jplans):
            fail("graph file: exit %d, moves %r, the job %r" % (r.returncode, moved(gplans), moved(jplans)))
        for args, said in ((["--plan-ranks", "4", "--plan-rank", "4"], "--plan-rank 4: expected a rank from 0 to 3"),
                           (["--plan-ranks", "0"], "--plan-ranks '0'"),
                           (["--plan-rank", "1"], "need --plan-ranks"),
                           (["--plan-ranks", "two"], "--plan-ranks 'two'"),
                           (["--plan-ranks", "2", "--plan-mode", "some"], "--plan-mode 'some': expected auto"),
                           (["--plan-ranks", "2", "--plan-lists"], "--plan-lists needs --plan-json")):
            r = run(["run"] + args + ["job.json"], d)
            if r.returncode != 2 or said not in r.stderr:
                fail("%s: exit %d, %r (wanted 2 and %r)" % (" ".join(args), r.returncode, r.stderr, said))


def main():
    global CASK
    CASK = os.path.abspath(sys.argv[1])
    jobs_dir = sys.argv[2]
    tests = sys.argv[3:] or ["examples", "errors", "files", "memory", "zarr", "sigint", "sigkill", "failure", "plan"]
    for t in tests:
        if t == "examples":
            test_examples(jobs_dir)
        elif t == "errors":
            test_errors()
        elif t == "files":
            test_files()
        elif t == "memory":
            test_memory()
        elif t == "zarr":
            test_zarr()
        elif t == "sigint":
            test_sigint()
        elif t == "sigkill":
            test_sigkill()
        elif t == "plugin":
            test_plugin()
        elif t == "plan":
            test_plan()
        elif t == "failure":
            test_task_failure()
        elif t.endswith(".json"):
            check_example(t)
        else:
            fail("unknown test %s" % t)
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
