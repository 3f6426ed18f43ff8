"""Reads a Shoal daemon's debug log of one converge (bench/converge-trace.sh).

converge-trace.py RUN START SECONDS LOG prints, for each step of a task's
start, when the first, the median and the last task reached it, in seconds
from START (the epoch time of `service create`), and as its last line the
times of the last task, for the summary.
converge-trace.py summary REPLICAS LINE... prints the medians of those.
"""

import hashlib
import re
import statistics
import sys
from datetime import datetime

# The steps in order: (label, log message, state for "task state" lines).
STEPS = [
    ("assigned to the agent", "task assigned", None),
    ("preparing", "task state", "preparing"),
    ("image ready", "image ready", None),
    ("network sandbox ready", "sandbox ready", None),
    ("container created", "container created", None),
    ("starting", "task state", "starting"),
    ("containerd task created", "container task created", None),
    ("container started", "container started", None),
    ("running (reported)", "task state", "running"),
]
SUMMARY = ["converge_s", "assigned_s", "created_s", "started_s", "committed_s"]


def field(line, key):
    m = re.search(r'(?:^| )' + re.escape(key) + r'=("(?:[^"\\]|\\.)*"|\S+)', line)
    if not m:
        return None
    v = m.group(1)
    return v[1:-1] if v.startswith('"') else v


def epoch(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run(label, start, seconds, path):
    start, seconds = float(start), float(seconds)
    at = {}  # task ID -> step label -> seconds, for the tasks assigned in this log
    by_container = {}  # container ID -> task ID
    commits = []
    for line in open(path):
        msg, stamp = field(line, "msg"), field(line, "time")
        if not msg or not stamp:
            continue
        t = epoch(stamp) - start
        if msg == "task statuses committed":
            commits.append(t)
            continue
        task = field(line, "task.id") or by_container.get(field(line, "container.id"))
        if msg == "task assigned" and task:
            at[task] = {}
            by_container[hashlib.sha256(task.encode()).hexdigest()] = task
        if task not in at:
            continue
        for name, want, state in STEPS:
            if msg == want and (state is None or field(line, "state") == state):
                at[task].setdefault(name, t)
    rows = [(name, [s[name] for s in at.values() if name in s]) for name, _, _ in STEPS]
    committed = []
    for s in at.values():
        after = [c for c in commits if "running (reported)" in s and c >= s["running (reported)"]]
        if after:
            committed.append(after[0])
    rows.append(("status committed", committed))
    print(f"run {label}: {len(at)} tasks running after {seconds:.2f} s; seconds from service create (first / median / last task):")
    for name, v in rows:
        if v:
            print(f"  {name:24s} {min(v):5.2f} {statistics.median_low(v):5.2f} {max(v):5.2f}")
    last = dict((name, max(v) if v else float("nan")) for name, v in rows)
    print("last", seconds, last["assigned to the agent"], last["container created"], last["container started"], last["status committed"])


def summary(replicas, lines):
    cols = list(zip(*[[float(x) for x in line.strip().splitlines()[-1].split()[1:]] for line in lines]))
    for line in lines:
        print("\n".join(line.strip().splitlines()[:-1]))
    parts = " ".join(f"{k}={statistics.median_low(c):.2f}" for k, c in zip(SUMMARY, cols))
    print(f"converge_trace replicas={replicas} runs={len(lines)} {parts}")


if __name__ == "__main__":
    if sys.argv[1] == "summary":
        summary(sys.argv[2], sys.argv[3:])
    else:
        run(*sys.argv[1:5])
