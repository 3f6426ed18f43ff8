package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/externalca/cfssltest"
)

// TestExternalCA drives a swarm whose certificates a real CFSSL server
// signs through the docker CLI: swarm init --external-ca, the root the
// swarm shows, the node's certificate issuer, and the refusals a swarm
// without its root key gives.
func TestExternalCA(t *testing.T) {
	root, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	cfssl := cfssltest.Serve(t, root)
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(rootFile, root.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := StartDaemon(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d.Docker("swarm", "init", "--advertise-addr", addr, "--listen-addr", addr,
		"--external-ca", "protocol=cfssl,url="+cfssl.URL+",cacert="+rootFile)

	if got := strings.TrimSpace(d.Docker("swarm", "ca")); got != strings.TrimSpace(string(root.CertPEM())) {
		t.Errorf("swarm ca shows\n%s\nwant the external CA's root", got)
	}
	if cfssl.Signed() != 1 {
		t.Errorf("the external CA signed %d certificates, want 1 (the manager's)", cfssl.Signed())
	}
	if got := d.Docker("node", "inspect", "self", "--format", "{{.Description.TLSInfo.TrustRoot}}"); strings.TrimSpace(got) != strings.TrimSpace(string(root.CertPEM())) {
		t.Errorf("the node trusts\n%s\nwant the external CA's root", got)
	}
	if got := d.Docker("swarm", "join-token", "-q", "worker"); !strings.HasPrefix(got, "SWMTKN-1-") {
		t.Errorf("join-token printed %q", got)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"a URL that is not http(s)", []string{"swarm", "update", "--external-ca", "protocol=cfssl,url=ftp://ca.example"}, "CAConfig.ExternalCAs[0].URL"},
		{"rotating without the root key", []string{"swarm", "ca", "--rotate", "-d"}, "cannot cross-sign"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := d.TryDocker(tt.args...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Fatalf("docker %s: err %v, %q; want it refused naming %q", strings.Join(tt.args, " "), err, out, tt.want)
			}
		})
	}
}
