package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// dockerPython is Debian's python3, whose python3-docker package
// (scripts/install-deps.sh) is the docker-py the test drives: 5.0.3 on
// Debian 12.
const dockerPython = "/usr/bin/python3"

// compatDockerPy runs testdata/compat/dockerpy.py against d: docker-py
// leaves the swarm d is in and drives a new one the way its users'
// scripts do. Skipped when python3-docker is not installed.
func compatDockerPy(t *testing.T, d *Daemon) {
	if err := exec.Command(dockerPython, "-c", "import docker").Run(); err != nil {
		t.Skip("docker-py is not installed (apt-get install python3-docker, as scripts/install-deps.sh does): " + err.Error())
	}
	d.Docker("swarm", "leave", "--force")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(dockerPython, "testdata/compat/dockerpy.py", "unix://"+d.Socket, addr)
	cmd.Env = d.Env()
	out, err := cmd.CombinedOutput()
	t.Logf("docker-py:\n%s", out)
	if err != nil {
		t.Fatalf("docker-py script failed: %v", err)
	}
	if !strings.Contains(string(out), "ok cleanup") {
		t.Fatal("docker-py script did not reach its end")
	}
}
