package apitls

import (
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-connections/tlsconfig"
)

// initCA makes a certificate directory for 127.0.0.1 in a temporary
// directory.
func initCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := Init(dir, []string{"127.0.0.1", "localhost"}, "client", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func serverOptions(dir string, verify bool) Options {
	return Options{
		TLS:      !verify,
		Verify:   verify,
		CAFile:   filepath.Join(dir, CAFile),
		CertFile: filepath.Join(dir, ServerCertFile),
		KeyFile:  filepath.Join(dir, ServerKeyFile),
	}
}

func TestServerConfig(t *testing.T) {
	dir := initCA(t)
	tests := []struct {
		name       string
		opts       Options
		wantNil    bool
		wantAuth   tls.ClientAuthType
		wantErr    string
		wantPooled bool
	}{
		{name: "no TLS", opts: Options{}, wantNil: true},
		{name: "no TLS, insecure TCP", opts: Options{InsecureTCP: true}, wantNil: true},
		{name: "tls", opts: serverOptions(dir, false), wantAuth: tls.NoClientCert},
		{name: "tlsverify", opts: serverOptions(dir, true), wantAuth: tls.RequireAndVerifyClientCert, wantPooled: true},
		{name: "tls and tlsverify", opts: func() Options { o := serverOptions(dir, true); o.TLS = true; return o }(),
			wantAuth: tls.RequireAndVerifyClientCert, wantPooled: true},
		{name: "tlsverify without a CA", opts: func() Options { o := serverOptions(dir, true); o.CAFile = ""; return o }(),
			wantErr: "--tlsverify needs --tlscacert"},
		{name: "tlsverify with a missing CA", opts: func() Options { o := serverOptions(dir, true); o.CAFile = filepath.Join(dir, "nope.pem"); return o }(),
			wantErr: "nope.pem"},
		{name: "missing server certificate", opts: func() Options { o := serverOptions(dir, false); o.CertFile = filepath.Join(dir, "nope.pem"); return o }(),
			wantErr: "shoal tls init"},
		{name: "key of another certificate", opts: func() Options {
			o := serverOptions(dir, false)
			o.KeyFile = filepath.Join(dir, ClientKeyFile)
			return o
		}(),
			wantErr: "private key does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ServerConfig(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if cfg != nil {
					t.Fatalf("got a TLS config, want none")
				}
				return
			}
			if cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("got MinVersion %x, want TLS 1.2 (%x), as dockerd", cfg.MinVersion, tls.VersionTLS12)
			}
			if cfg.ClientAuth != tt.wantAuth {
				t.Errorf("got ClientAuth %v, want %v", cfg.ClientAuth, tt.wantAuth)
			}
			if (cfg.ClientCAs != nil) != tt.wantPooled {
				t.Errorf("got client CAs %v, want them set %v", cfg.ClientCAs != nil, tt.wantPooled)
			}
		})
	}
}

func TestNewListenersRefusesTLSAndInsecureTCP(t *testing.T) {
	o := serverOptions(initCA(t), true)
	o.InsecureTCP = true
	if _, err := NewListeners(o, nil); err == nil || !strings.Contains(err.Error(), "--insecure-tcp") {
		t.Fatalf("got %v, want an error naming --insecure-tcp", err)
	}
}

func TestListenWithoutTLS(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		l, err := NewListeners(Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := l.Listen("127.0.0.1:0", "the Docker API")
		if err == nil {
			ln.Close()
			t.Fatal("plain TCP listener opened without --insecure-tcp")
		}
		for _, want := range []string{"the Docker API", "--tlsverify", "--insecure-tcp", "shoal tls init"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
	t.Run("insecure-tcp", func(t *testing.T) {
		var logged strings.Builder
		l, err := NewListeners(Options{InsecureTCP: true}, slog.New(slog.NewTextHandler(&logged, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ln := serve(t, l)
		resp, err := http.Get("http://" + ln.Addr().String() + "/_ping")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("got %s over plain HTTP, want 200", resp.Status)
		}
		if !strings.Contains(logged.String(), "WITHOUT TLS") {
			t.Errorf("no warning logged; got %q", logged.String())
		}
	})
}

// serve serves 200 OK on a listener of l until the test ends.
func serve(t *testing.T, l *Listeners) net.Listener {
	t.Helper()
	ln, err := l.Listen("127.0.0.1:0", "the test API")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "OK") }),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

// TestHandshake connects real TLS clients to a listener of each mode.
func TestHandshake(t *testing.T) {
	dir, other := initCA(t), initCA(t)
	client := func(caDir, certDir string, maxVersion uint16) *http.Client {
		o := tlsconfig.Options{CAFile: filepath.Join(caDir, CAFile), ExclusiveRootPools: true}
		if certDir != "" {
			o.CertFile, o.KeyFile = filepath.Join(certDir, ClientCertFile), filepath.Join(certDir, ClientKeyFile)
		}
		cfg, err := tlsconfig.Client(o)
		if err != nil {
			t.Fatal(err)
		}
		if maxVersion != 0 {
			// tlsconfig.Client asks for 1.2 at least: an old client offers less.
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, maxVersion
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	issued := t.TempDir()
	if err := IssueClient(dir, issued, "alice", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		verify  bool
		client  *http.Client
		scheme  string
		wantErr string // empty: 200 OK
	}{
		{name: "tlsverify, client certificate of the CA", verify: true, client: client(dir, dir, 0)},
		{name: "tlsverify, a client certificate issued later", verify: true, client: client(dir, issued, 0)},
		{name: "tlsverify, no client certificate", verify: true, client: client(dir, "", 0), wantErr: "certificate required"},
		{name: "tlsverify, client certificate of another CA", verify: true, client: client(dir, other, 0), wantErr: "unknown certificate authority"},
		{name: "tlsverify, TLS 1.1", verify: true, client: client(dir, dir, tls.VersionTLS11), wantErr: "protocol version"},
		{name: "tlsverify, plain HTTP", verify: true, client: http.DefaultClient, scheme: "http", wantErr: "HTTP request to an HTTPS server"},
		{name: "tls, no client certificate", client: client(dir, "", 0)},
		{name: "tls, plain HTTP", client: http.DefaultClient, scheme: "http", wantErr: "HTTP request to an HTTPS server"},
		{name: "client does not trust the server's CA", verify: true, client: client(other, other, 0), wantErr: "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewListeners(serverOptions(dir, tt.verify), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			ln := serve(t, l)
			scheme := tt.scheme
			if scheme == "" {
				scheme = "https"
			}
			resp, err := tt.client.Get(scheme + "://" + ln.Addr().String() + "/_ping")
			var body string
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
				if resp.StatusCode != http.StatusOK {
					err = &httpError{resp.Status + ": " + body}
				}
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want 200 OK", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v (body %q), want an error containing %q", err, body, tt.wantErr)
			}
		})
	}
}

type httpError struct{ msg string }

func (e *httpError) Error() string { return e.msg }
