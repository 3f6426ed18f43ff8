package apitls

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCert(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if err := Init(dir, []string{"node1.example", "10.0.0.1", "::1"}, "admin", 30*24*time.Hour, now); err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{
		CAFile: 0o444, CAKeyFile: 0o400, ServerCertFile: 0o444, ServerKeyFile: 0o400, ClientCertFile: 0o444, ClientKeyFile: 0o400,
	}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: got mode %v, want %v", name, got, want)
		}
	}
	ca := readCert(t, filepath.Join(dir, CAFile))
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	server := readCert(t, filepath.Join(dir, ServerCertFile))
	for _, host := range []string{"node1.example", "10.0.0.1", "::1"} {
		if _, err := server.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if err := server.VerifyHostname("10.0.0.2"); err == nil {
		t.Error("server certificate valid for 10.0.0.2, a host it was not made for")
	}
	if got, want := server.NotAfter.Sub(now).Round(time.Hour), 30*24*time.Hour; got != want {
		t.Errorf("server certificate valid for %s, want %s", got, want)
	}

	client := readCert(t, filepath.Join(dir, ClientCertFile))
	if client.Subject.CommonName != "admin" {
		t.Errorf("client certificate CN %q, want admin", client.Subject.CommonName)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate serves as a server's")
	}

	err := Init(dir, []string{"node1.example"}, "admin", time.Hour, now)
	if err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("second Init in the same directory: got %v, want a refusal to overwrite", err)
	}
	if c := readCert(t, filepath.Join(dir, CAFile)); !c.Equal(ca) {
		t.Error("second Init replaced the CA")
	}
}

func TestInitBadInput(t *testing.T) {
	tests := []struct {
		name     string
		hosts    []string
		client   string
		validity time.Duration
		want     string
	}{
		{name: "no host", client: "c", validity: time.Hour, want: "at least one host"},
		{name: "no client name", hosts: []string{"h"}, validity: time.Hour, want: "needs a name"},
		{name: "no validity", hosts: []string{"h"}, client: "c", want: "validity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Init(dir, tt.hosts, tt.client, tt.validity, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left %d files behind", len(entries))
			}
		})
	}
}

func TestIssueClient(t *testing.T) {
	caDir, out := t.TempDir(), filepath.Join(t.TempDir(), "bob")
	if err := Init(caDir, []string{"localhost"}, "admin", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := IssueClient(caDir, out, "bob", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(out, CAFile)))
	c := readCert(t, filepath.Join(out, ClientCertFile))
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("issued certificate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, CAKeyFile)); err == nil {
		t.Error("the CA key was copied to the client's directory")
	}
	if err := IssueClient(caDir, out, "bob", time.Hour, time.Now()); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("second issue to the same directory: got %v, want a refusal", err)
	}
	if err := IssueClient(t.TempDir(), t.TempDir(), "carol", time.Hour, time.Now()); err == nil {
		t.Error("issued with no CA")
	}
}
