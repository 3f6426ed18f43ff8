"""docker-py against a Shoal node: plain containers as a Python user runs them.

Prints one line per check; the Go test compares them. DOCKER_HOST names the
node; argv[1] is a free TCP port to publish on.
"""
import sys
import time

import docker

port = int(sys.argv[1])
c = docker.from_env()

print("run:", c.containers.run("busybox", ["echo", "hello py"], remove=True).decode().strip())
try:
    c.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 4"], remove=True)
except docker.errors.ContainerError as e:
    print("error:", e.exit_status, e.stderr.decode().strip())

ct = c.containers.run("busybox", ["sh", "-c", "echo started; exec sleep 60"], detach=True,
                      name="pyweb", ports={"80/tcp": port}, labels={"from": "py"})
for _ in range(50):
    if ct.logs():
        break
    time.sleep(0.1)
ct.reload()
print("detached:", ct.status, ct.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], ct.logs().decode().strip())
print("exec:", ct.exec_run("echo inside").output.decode().strip())
print("list:", [x.name for x in c.containers.list(filters={"label": "from=py"})])
ct.stop(timeout=1)
print("wait:", ct.wait()["StatusCode"])
ct.remove()
try:
    c.containers.get("pyweb")
except docker.errors.NotFound:
    print("removed: yes")
try:
    c.containers.create("nothing-here:1", "true")
except docker.errors.ImageNotFound:
    print("unknown image: ImageNotFound")
