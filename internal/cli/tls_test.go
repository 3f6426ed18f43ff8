package cli

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/go-connections/tlsconfig"
	"github.com/google/go-cmp/cmp"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
	"github.com/spf13/pflag"
)

// TestTLSOptions follows the docker CLI's reading of its TLS flags and
// environment (cli/flags.ClientOptions.SetDefaultOptions).
func TestTLSOptions(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		present []string // files that exist
		want    *tlsconfig.Options
	}{
		{name: "nothing", want: nil},
		{name: "cert path alone is not TLS", env: map[string]string{"DOCKER_CERT_PATH": "/c"}, present: []string{"/c/cert.pem", "/c/key.pem"}, want: nil},
		{name: "DOCKER_TLS_VERIFY", env: map[string]string{"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/c"}, present: []string{"/c/cert.pem", "/c/key.pem"},
			want: &tlsconfig.Options{CAFile: "/c/ca.pem", CertFile: "/c/cert.pem", KeyFile: "/c/key.pem"}},
		{name: "DOCKER_TLS_VERIFY without a client certificate", env: map[string]string{"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/c"},
			want: &tlsconfig.Options{CAFile: "/c/ca.pem"}},
		{name: "default directory from DOCKER_CONFIG", env: map[string]string{"DOCKER_TLS_VERIFY": "1", "DOCKER_CONFIG": "/cfg", "HOME": "/home/u"}, present: []string{"/cfg/cert.pem", "/cfg/key.pem"},
			want: &tlsconfig.Options{CAFile: "/cfg/ca.pem", CertFile: "/cfg/cert.pem", KeyFile: "/cfg/key.pem"}},
		{name: "default directory ~/.docker", env: map[string]string{"HOME": "/home/u"}, args: []string{"--tlsverify"},
			present: []string{"/home/u/.docker/cert.pem", "/home/u/.docker/key.pem"},
			want:    &tlsconfig.Options{CAFile: "/home/u/.docker/ca.pem", CertFile: "/home/u/.docker/cert.pem", KeyFile: "/home/u/.docker/key.pem"}},
		{name: "--tls does not verify", args: []string{"--tls", "--tlscacert", "/x/ca.pem"},
			want: &tlsconfig.Options{InsecureSkipVerify: true}},
		{name: "--tlsverify=false still turns TLS on", args: []string{"--tlsverify=false"},
			want: &tlsconfig.Options{InsecureSkipVerify: true}},
		{name: "flags given are used even if missing", args: []string{"--tlsverify", "--tlscacert", "/x/ca.pem", "--tlscert", "/x/c.pem", "--tlskey", "/x/k.pem"},
			want: &tlsconfig.Options{CAFile: "/x/ca.pem", CertFile: "/x/c.pem", KeyFile: "/x/k.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f tlsFlags
			fs := pflag.NewFlagSet("shoal", pflag.ContinueOnError)
			f.add(fs, func(k string) string { return tt.env[k] })
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			exists := func(p string) bool {
				for _, q := range tt.present {
					if p == q {
						return true
					}
				}
				return false
			}
			got := f.options(fs.Changed, exists)
			if tt.want != nil {
				tt.want.ExclusiveRootPools = true
				tt.want.MinVersion = tls.VersionTLS12
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(tlsconfig.Options{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTLSInitAndClientCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	r := shoal(t, fakeapi.New(t), "", "tls", "init", dir, "--hostname", "node1", "--hostname", "10.0.0.1")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{
		"shoal daemon --tlsverify --tlscacert " + dir + "/ca.pem --tlscert " + dir + "/server-cert.pem --tlskey " + dir + "/server-key.pem",
		"export DOCKER_HOST=tcp://node1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=" + dir,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tls init printed\n%s\nwithout %q", r.stdout, want)
		}
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	out := filepath.Join(t.TempDir(), "bob")
	if r := shoal(t, fakeapi.New(t), "", "tls", "client-cert", "--ca", dir, "--name", "bob", out); r.err != nil {
		t.Fatal(r.err)
	}
	if r := shoal(t, fakeapi.New(t), "", "tls", "client-cert", out); r.err == nil || !strings.Contains(r.err.Error(), "--ca is required") {
		t.Errorf("client-cert without --ca: got %v", r.err)
	}
}
