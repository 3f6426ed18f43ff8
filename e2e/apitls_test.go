package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRemoteAPITLS serves the Docker API on TCP with client certificates
// required, made by `shoal tls init`, and drives it with the real docker
// CLI and the shoal CLI: the right certificates work, through the
// environment and through flags; no client certificate, another CA's
// certificate and plain HTTP are refused. A TCP host without TLS stops
// the daemon at start unless --insecure-tcp is given.
func TestRemoteAPITLS(t *testing.T) {
	dir, other := filepath.Join(t.TempDir(), "certs"), filepath.Join(t.TempDir(), "other")
	for _, d := range []string{dir, other} {
		if out, err := exec.Command(shoalBin, "tls", "init", d, "--hostname", "127.0.0.1").CombinedOutput(); err != nil {
			t.Fatalf("shoal tls init: %v\n%s", err, out)
		}
	}
	host := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	uiAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d := StartDaemon(t, "--host", host, "--ui-addr", uiAddr, "--tlsverify",
		"--tlscacert", filepath.Join(dir, "ca.pem"),
		"--tlscert", filepath.Join(dir, "server-cert.pem"),
		"--tlskey", filepath.Join(dir, "server-key.pem"))
	initSwarm(t, d)

	// cli runs a CLI with DOCKER_HOST at the TCP host and the rest of its
	// environment given.
	cli := func(bin string, env []string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "DOCKER_HOST="+host,
			"DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	verified := []string{"DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + dir}

	t.Run("docker with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH", func(t *testing.T) {
		if out, err := cli("docker", verified, "service", "create", "-d", "--name", "overtls", "--replicas", "0", "--no-resolve-image", "busybox"); err != nil {
			t.Fatalf("service create over TLS: %v\n%s", err, out)
		}
		out, err := cli("docker", verified, "service", "ls", "--format", "{{.Name}}")
		if err != nil || strings.TrimSpace(out) != "overtls" {
			t.Fatalf("service ls over TLS: got %q, %v; want overtls", out, err)
		}
	})
	t.Run("docker with -H and --tlsverify flags", func(t *testing.T) {
		out, err := cli("docker", nil, "-H", host, "--tlsverify",
			"--tlscacert", filepath.Join(dir, "ca.pem"), "--tlscert", filepath.Join(dir, "cert.pem"), "--tlskey", filepath.Join(dir, "key.pem"),
			"version", "--format", "{{.Server.Platform.Name}}")
		if err != nil || !strings.Contains(out, "Shoal") {
			t.Fatalf("docker version over TLS: got %q, %v", out, err)
		}
	})
	t.Run("shoal with the environment and with flags", func(t *testing.T) {
		if out, err := cli(shoalBin, verified, "service", "ls"); err != nil || !strings.Contains(out, "overtls") {
			t.Fatalf("shoal service ls over TLS: got %q, %v", out, err)
		}
		out, err := cli(shoalBin, nil, "-H", host, "--tlsverify",
			"--tlscacert", filepath.Join(dir, "ca.pem"), "--tlscert", filepath.Join(dir, "cert.pem"), "--tlskey", filepath.Join(dir, "key.pem"),
			"service", "ls")
		if err != nil || !strings.Contains(out, "overtls") {
			t.Fatalf("shoal --tlsverify service ls: got %q, %v", out, err)
		}
	})

	// A directory that trusts the server but holds no client certificate,
	// and one that holds another CA's.
	noCert, wrongCert := t.TempDir(), t.TempDir()
	copyFile(t, filepath.Join(dir, "ca.pem"), filepath.Join(noCert, "ca.pem"))
	copyFile(t, filepath.Join(dir, "ca.pem"), filepath.Join(wrongCert, "ca.pem"))
	copyFile(t, filepath.Join(other, "cert.pem"), filepath.Join(wrongCert, "cert.pem"))
	copyFile(t, filepath.Join(other, "key.pem"), filepath.Join(wrongCert, "key.pem"))
	refused := []struct {
		name string
		env  []string
		want string
	}{
		{name: "no client certificate", env: []string{"DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + noCert}, want: "certificate required"},
		{name: "another CA's client certificate", env: []string{"DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + wrongCert}, want: "certificate"},
		{name: "plain HTTP", env: nil, want: "HTTP request to an HTTPS server"},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			for _, bin := range []string{"docker", shoalBin} {
				out, err := cli(bin, tt.env, "service", "ls")
				if err == nil || strings.Contains(out, "overtls") {
					t.Fatalf("%s service ls: got %q, %v; want a refusal", filepath.Base(bin), out, err)
				}
				if !strings.Contains(out, tt.want) {
					t.Errorf("%s said %q, want it to contain %q", filepath.Base(bin), out, tt.want)
				}
			}
		})
	}

	t.Run("refused: every route, three ways", func(t *testing.T) {
		checkEveryRouteRefused(t, strings.TrimPrefix(host, "tcp://"), dir, other)
	})

	t.Run("the web UI follows the API's TLS: a client certificate is the trust, no token", func(t *testing.T) {
		get := func(certDir string) (int, error) {
			pool := x509.NewCertPool()
			ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			pool.AppendCertsFromPEM(ca)
			cfg := &tls.Config{RootCAs: pool}
			if certDir != "" {
				cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem"))
				if err != nil {
					t.Fatal(err)
				}
				cfg.Certificates = []tls.Certificate{cert}
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := client.Get("https://" + uiAddr + "/api/_ping")
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		if code, err := get(dir); err != nil || code != http.StatusOK {
			t.Fatalf("UI with the client certificate: %d, %v; want 200", code, err)
		}
		for _, certDir := range []string{"", other} {
			if code, err := get(certDir); err == nil {
				t.Errorf("UI with client certificate from %q: %d; want the handshake refused", certDir, code)
			}
		}
	})

	t.Run("TCP without TLS stops the daemon at start", func(t *testing.T) {
		execRoot, err := os.MkdirTemp("/run", "se-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(execRoot)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, shoalBin, "daemon", "--data-root", t.TempDir(), "--exec-root", execRoot,
			"--host", "tcp://127.0.0.1:"+strconv.Itoa(freePort(t))).CombinedOutput()
		if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "--insecure-tcp") {
			t.Fatalf("daemon on plain TCP: got %v\n%s\nwant it to exit at once naming --insecure-tcp", err, out)
		}
	})
	t.Run("--insecure-tcp serves plain TCP, with a warning", func(t *testing.T) {
		plain := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
		p := StartDaemon(t, "--host", plain, "--insecure-tcp", "--bridge-cidr", "172.28.0.0/16")
		out, err := cli("docker", []string{"DOCKER_HOST=" + plain}, "version", "--format", "{{.Server.Platform.Name}}")
		if err != nil || !strings.Contains(out, "Shoal") {
			t.Fatalf("docker version over plain TCP: got %q, %v", out, err)
		}
		log, _ := os.ReadFile(p.logPath)
		if !strings.Contains(string(log), "WITHOUT TLS") {
			t.Error("the daemon logged no warning for a TCP host without TLS")
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
