"""Time from a swarm change to its event on another manager's stream.

Usage: events-latency.py WRITE_HOST READ_HOST N
Scales a service N times through the manager at WRITE_HOST (docker-py) while
following GET /events on READ_HOST, and prints, per change, how long after
the store change (the batch time the event carries) and after the client's
write began the event reached the reader, then medians and spreads."""
import statistics
import sys
import threading
import time

import docker

write_host, read_host, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
writer = docker.DockerClient(base_url=write_host)
reader = docker.DockerClient(base_url=read_host)
svc = writer.services.create("busybox:latest", ["sleep", "3600"], name="evlat",
                             mode=docker.types.ServiceMode("replicated", 0))
received = {}  # replicas.new -> (receipt time, event's batch time)
stream = reader.events(decode=True, filters={"type": "service", "service": "evlat"})


def follow():
    for e in stream:
        new = e["Actor"]["Attributes"].get("replicas.new")
        if new is not None:
            received[int(new)] = (time.time_ns(), e["timeNano"])


threading.Thread(target=follow, daemon=True).start()
time.sleep(0.5)
from_store, from_client = [], []
for i in range(1, n + 1):
    start = time.time_ns()
    svc.reload()
    svc.scale(i % 2)  # 0 and 1: no containers pile up
    want = i % 2
    deadline = time.time() + 10
    while want not in received and time.time() < deadline:
        time.sleep(0.001)
    got, batch = received.pop(want)
    from_store.append((got - batch) / 1e6)
    from_client.append((got - start) / 1e6)
    time.sleep(0.05)
stream.close()
svc.remove()


def spread(xs):
    return "%.1f (%.1f–%.1f)" % (statistics.median(xs), min(xs), max(xs))


print("events=%d store_to_reader_ms=%s client_write_to_reader_ms=%s" % (n, spread(from_store), spread(from_client)))
