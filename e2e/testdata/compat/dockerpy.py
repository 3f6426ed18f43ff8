"""Drives a fresh Shoal node with docker-py the way its users' scripts do
(and as docker-py's own integration tests do): swarm init with every
option, read-modify-write of nodes and services, updates with defaults,
secrets and configs, and the errors clients catch.

Run by e2e TestCompat/docker-py: python3 dockerpy.py DOCKER_HOST ADDR.
Each step prints "ok <step>"; a failure exits non-zero with the reason.
"""
import base64
import sys

import docker
from docker.errors import APIError, NotFound

host, addr = sys.argv[1], sys.argv[2]
client = docker.DockerClient(base_url=host, version="1.41", timeout=60)
api = client.api


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


def step(name):
    print("ok", name, flush=True)


def refused(status, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except APIError as e:
        check(e.status_code == status, "%s: got %s %s, want %d" % (fn.__name__, e.status_code, e.explanation, status))
        return e
    sys.exit("FAIL: %s was not refused" % fn.__name__)


print("docker-py", docker.__version__, flush=True)

# Init with every option Shoal honours, as test_init_swarm_* do.
client.swarm.init(
    advertise_addr=addr, listen_addr=addr,
    default_addr_pool=["10.123.0.0/16"], subnet_size=26,
    task_history_retention_limit=7, snapshot_interval=5000, keep_old_snapshots=2,
    log_entries_for_slow_followers=1200, heartbeat_tick=1, election_tick=10,
    dispatcher_heartbeat_period=7000000000, node_cert_expiry=30 * 24 * 3600 * 10**9,
    labels={"team": "compat"}, autolock_managers=True,
    log_driver={"Name": "json-file", "Options": {"max-size": "1m"}},
)
spec = api.inspect_swarm()["Spec"]
check(spec["Orchestration"]["TaskHistoryRetentionLimit"] == 7, "TaskHistoryRetentionLimit %r" % spec["Orchestration"])
check(spec["Raft"]["SnapshotInterval"] == 5000 and spec["Raft"]["KeepOldSnapshots"] == 2 and spec["Raft"]["LogEntriesForSlowFollowers"] == 1200, "Raft %r" % spec["Raft"])
check(spec["Dispatcher"]["HeartbeatPeriod"] == 7000000000, "Dispatcher %r" % spec["Dispatcher"])
check(spec["CAConfig"]["NodeCertExpiry"] == 30 * 24 * 3600 * 10**9, "CAConfig %r" % spec["CAConfig"])
check(spec["Labels"] == {"team": "compat"}, "Labels %r" % spec["Labels"])
check(spec["EncryptionConfig"]["AutoLockManagers"] is True, "EncryptionConfig %r" % spec["EncryptionConfig"])
check(spec["TaskDefaults"]["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "1m"}}, "TaskDefaults %r" % spec["TaskDefaults"])
sw = api.inspect_swarm()
check(sw["DefaultAddrPool"] == ["10.123.0.0/16"] and sw["SubnetSize"] == 26 and sw["DataPathPort"] == 4789, "address pool %r %r %r" % (sw["DefaultAddrPool"], sw["SubnetSize"], sw["DataPathPort"]))
check(api.get_unlock_key()["UnlockKey"].startswith("SWMKEY-1-"), "unlock key")
step("init with every option")

# test_update_node: read, then update with the version read, at once.
node = client.nodes.get(api.info()["Swarm"]["NodeID"])
node_spec = node.attrs["Spec"]
node_spec["Labels"] = {"zone": "a"}
node.update(node_spec)
node.reload()
check(node.attrs["Spec"]["Labels"] == {"zone": "a"}, "node labels %r" % node.attrs["Spec"])
refused(409, api.update_node, node.id, node.version - 1, node_spec)
step("node read-modify-write")

# Swarm update with defaults (docker-py sends only what is given): the
# version moves, what was not given stays, autolock follows the request.
version = client.swarm.version
client.swarm.update(rotate_worker_token=True, task_history_retention_limit=3)
client.swarm.reload()
check(client.swarm.version > version, "swarm version did not move")
spec = client.swarm.attrs["Spec"]
check(spec["Orchestration"]["TaskHistoryRetentionLimit"] == 3 and spec["Raft"]["SnapshotInterval"] == 5000, "after update %r" % spec)
check(spec["EncryptionConfig"]["AutoLockManagers"] is False, "autolock still on after an update without it")
refused(400, client.swarm.update, heartbeat_tick=3)
refused(400, client.swarm.update, node_cert_expiry=60 * 10**9)
step("swarm update with defaults")

# Secrets and configs.
secret = client.secrets.create(name="pysecret", data=b"s3cret", labels={"a": "1"})
check(client.secrets.get(secret.id).name == "pysecret", "secret name")
config = client.configs.create(name="pyconfig", data=b"conf", labels={"b": "2"})
check(base64.b64decode(client.configs.get(config.id).attrs["Spec"]["Data"]) == b"conf", "config data")
refused(409, client.secrets.create, name="pysecret", data=b"again")
try:
    client.secrets.get("no-such-secret")
    sys.exit("FAIL: a missing secret was found")
except NotFound:
    pass
step("secrets and configs")

# Services: create, then updates with defaults as
# test_update_service_with_defaults_* do: each bumps the version.
svc = client.services.create(
    "busybox:latest", ["sleep", "600"], name="pyweb",
    labels={"tier": "web"}, container_labels={"c": "1"}, env=["A=1"],
    secrets=[docker.types.SecretReference(secret.id, "pysecret")],
    configs=[docker.types.ConfigReference(config.id, "pyconfig")],
    mode=docker.types.ServiceMode("replicated", replicas=0),
)
svc.reload()
v0 = svc.version
check(svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Labels"] == {"c": "1"}, "container labels %r" % svc.attrs["Spec"])
svc.update(container_labels={"c": "2"})
svc.reload()
v1 = svc.version
check(v1 > v0, "version did not move on update")
svc.update(labels={"tier": "web"})
svc.reload()
check(svc.version > v1, "version did not move on an update with the same spec")
check(svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Labels"] == {"c": "2"}, "container labels lost by an update with defaults")
refused(409, api.update_service, svc.id, v0, svc.attrs["Spec"]["TaskTemplate"], name="pyweb")
refused(409, client.services.create, "busybox:latest", name="pyweb")
try:
    client.services.get("no-such-service")
    sys.exit("FAIL: a missing service was found")
except NotFound:
    pass
refused(400, client.secrets.get(secret.id).remove)
step("service read-modify-write and updates with defaults")

# Jobs: the counts service ls shows.
# docker-py 5 has no ServiceMode for jobs: its users pass the mode as a dict.
job = client.services.create("busybox:latest", ["true"], name="pyjob",
                             mode={"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}})
job.reload()
check(job.attrs["Spec"]["Mode"]["ReplicatedJob"] == {"MaxConcurrent": 2, "TotalCompletions": 2}, "job mode %r" % job.attrs["Spec"]["Mode"])
check(job.attrs["JobStatus"]["JobIteration"]["Index"] > 0, "job status %r" % job.attrs.get("JobStatus"))
step("job service")

svc.remove()
job.remove()
secret.remove()
config.remove()
client.swarm.update()
step("cleanup")
