#!/usr/bin/python3
"""mpi_hops.py TRACE - where a hop across ranks spends its time, from a
trace of a run on MPI ranks (`cask run --trace`, or bench/mpi_metg.c with
CASK_METG_TRACE=FILE). For every block sent: its producer's end -> its
send task's start (the sender's scheduler) -> the send task's end -> the
send event's start (the comm thread wakes, MPI_Isend) -> the receiver's
recv event start (header seen by the receiver's MPI_Testsome) -> its end
(data complete) -> the recv task's start (the receiver's scheduler).
Prints the median and 90th percentile of each stage, and the span of all
events. Clocks: the ranks' monotonic clocks from one shared moment (one
machine: one clock)."""
import json
import statistics
import sys

ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e["ph"] == "X"]
first, last = min(e["ts"] for e in ev), max(e["ts"] + e["dur"] for e in ev)
print("%d events, span %.0f us" % (len(ev), last - first))
tasks = {(e["pid"], e["name"]): e for e in ev if e.get("cat") not in ("mpi", "spill")
         and not e.get("cat", "").startswith("cask.mpi_")}
send_tasks = {}
for e in ev:
    if e.get("cat") == "cask.mpi_send":
        send_tasks.setdefault(e["pid"], []).append(e)
recv_tasks = {(e["pid"], e["name"]): e for e in ev if e.get("cat") == "cask.mpi_recv"}
recvs = {(e["args"]["block"], e["pid"]): e for e in ev if e.get("cat") == "mpi" and e["name"] == "recv"}
stages = {k: [] for k in ("producer end -> send task", "send task end -> Isend", "Isend -> header seen",
                          "header seen -> data complete", "data complete -> recv task")}
for s in (e for e in ev if e.get("cat") == "mpi" and e["name"] == "send"):
    blk, src, dst = s["args"]["block"], s["pid"], s["args"]["peer"]
    p, r, rt = tasks.get((src, blk)), recvs.get((blk, dst)), recv_tasks.get((dst, blk))
    if not (p and r and rt):
        continue
    end = p["ts"] + p["dur"]
    # its send task: the first to start after the producer ended and end before the send
    c = [t for t in send_tasks.get(src, []) if t["ts"] >= end - 1 and t["ts"] + t["dur"] <= s["ts"] + 1]
    if c:
        t = min(c, key=lambda t: t["ts"])
        stages["producer end -> send task"].append(t["ts"] - end)
        stages["send task end -> Isend"].append(s["ts"] - t["ts"] - t["dur"])
    stages["Isend -> header seen"].append(r["ts"] - s["ts"])
    stages["header seen -> data complete"].append(r["dur"])
    stages["data complete -> recv task"].append(rt["ts"] - r["ts"] - r["dur"])
for k, v in stages.items():
    if v:
        v.sort()
        print("%-30s n=%4d median %8.1f us  p90 %8.1f us" % (k, len(v), statistics.median(v), v[int(len(v) * 0.9)]))
