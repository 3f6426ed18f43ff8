"""docker-py against a Shoal node: a user-defined network as a Python user
makes one, with two containers that find each other by name and alias.

Prints one line per check; the Go test compares them. DOCKER_HOST names the
node.
"""
import docker

c = docker.from_env()
net = c.networks.create("pynet", driver="bridge", labels={"from": "py"})
try:
    srv = c.containers.run("busybox", ["sleep", "60"], detach=True, name="pyserver",
                           network="pynet")
    net.connect("pyserver", aliases=["pyalias"])  # already on it: refused
except docker.errors.APIError as e:
    print("connect again:", e.status_code)
out = c.containers.run("busybox", ["sh", "-c", "ping -c1 -W2 pyserver >/dev/null && echo name ok"],
                       network="pynet", remove=True)
print("by name:", out.decode().strip())
net.reload()
print("inspect:", net.attrs["Driver"], net.attrs["Scope"], sorted(x["Name"] for x in net.attrs["Containers"].values()))
print("list:", [n.name for n in c.networks.list(filters={"label": "from=py"})])
srv.remove(force=True)
net.remove()
print("removed:", [n.name for n in c.networks.list(names=["pynet"])])
