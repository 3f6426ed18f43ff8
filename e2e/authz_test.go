package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/rpc"
)

// apiRoutes lists every route the API server registers, read from the
// calls to handle in internal/apiserver/routes.go, so that a new route is
// in the matrix without anyone adding it: "METHOD /path" with each
// wildcard given a value.
func apiRoutes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../internal/apiserver/routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	wildcard := regexp.MustCompile(`\{[^}]*\}`)
	var routes []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "handle" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, wildcard.ReplaceAllString(pattern, "x"))
		return true
	})
	if len(routes) < 50 {
		t.Fatalf("found %d routes in routes.go; the parse no longer finds them", len(routes))
	}
	return routes
}

// checkEveryRouteRefused calls every API route on the TLS host addr
// (host:port) with no client certificate, with a certificate of another
// root (from otherDir) and in plain HTTP, and checks that each is refused
// before any handler runs. certDir holds the right CA and client
// certificate, used once to show the same client setup gets through.
func checkEveryRouteRefused(t *testing.T, addr, certDir, otherDir string) {
	t.Helper()
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	client := func(scheme, certFrom string) (*http.Client, string) {
		cfg := &tls.Config{RootCAs: pool}
		if certFrom != "" {
			cert, err := tls.LoadX509KeyPair(filepath.Join(certFrom, "cert.pem"), filepath.Join(certFrom, "key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		// A connection per request: each is a new handshake.
		tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
		return &http.Client{Timeout: 10 * time.Second, Transport: tr}, scheme + "://" + addr
	}
	do := func(c *http.Client, base, route string) (*http.Response, error) {
		method, path, _ := strings.Cut(route, " ")
		req, err := http.NewRequest(method, base+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		return c.Do(req)
	}

	good, base := client("https", certDir)
	resp, err := do(good, base, "GET /version")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /version with the right certificate: %v, %v; want 200", resp, err)
	}
	resp.Body.Close()

	routes := apiRoutes(t)
	noCert, tlsBase := client("https", "")
	otherRoot, _ := client("https", otherDir)
	plain, plainBase := client("http", "")
	for _, route := range routes {
		for _, tt := range []struct {
			name string
			c    *http.Client
			want string
		}{
			{"no client certificate", noCert, "certificate required"},
			{"another root's certificate", otherRoot, "unknown certificate authority"},
		} {
			resp, err := do(tt.c, tlsBase, route)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s with %s: %s; want the handshake refused", route, tt.name, resp.Status)
				continue
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s with %s: %v; want a refusal saying %q", route, tt.name, err, tt.want)
			}
		}
		// Go's TLS server answers 400 to what starts as a GET, HEAD,
		// POST, PUT or OPTIONS, and closes other requests unanswered.
		resp, err := do(plain, plainBase, route)
		if err != nil {
			if !strings.Contains(err.Error(), "EOF") {
				t.Errorf("%s in plain HTTP: %v; want 400 or the connection closed", route, err)
			}
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
			t.Errorf("%s in plain HTTP: %s %q; want 400, an HTTP request to an HTTPS server", route, resp.Status, body)
		}
	}
	t.Logf("%d routes refused three ways each", len(routes))
}

// Methods of the cluster port that a caller may reach without the
// manager role. The test pins them: a method opened to workers or to
// callers without a certificate fails it until it is listed here.
var (
	anonymousMethods = []string{"/shoal.CA/RootCertificate", "/shoal.CA/IssueNodeCertificate"}
	workerMethods    = append(slices.Clone(anonymousMethods),
		"/shoal.Dispatcher/Session", "/shoal.Dispatcher/Heartbeat", "/shoal.Dispatcher/UpdateTaskStatus",
		"/shoal.Dispatcher/LogSubscriptions", "/shoal.Dispatcher/PublishLogs", "/shoal.Raft/Leave",
		// Nodes serve each other images (docs/IMAGES-PEER.md).
		"/shoal.ImagePeer/Resolve", "/shoal.ImagePeer/Fetch", "/shoal.ImageIndex/Announce", "/shoal.ImageIndex/Holders",
		// A node asks for its plain containers' overlay attachments
		// (docs/NETWORKING.md).
		"/shoal.Dispatcher/AttachNetwork", "/shoal.Dispatcher/DetachNetwork", "/shoal.Dispatcher/PruneAttachments")
)

// clusterPort is a manager's cluster port as the authorization matrix
// calls it: every gRPC method it registers (listed from the gRPC server's
// service info through the test hooks), and the root it trusts.
type clusterPort struct {
	addr    string
	trust   *ca.Trust
	methods map[string]bool // full name: streams
}

func newClusterPort(t *testing.T, manager Host) *clusterPort {
	t.Helper()
	trustPEM, err := os.ReadFile(filepath.Join(manager.DataRoot, "swarm", "certificates", ca.RootCertFile))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := ca.ParseTrust(trustPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &clusterPort{addr: manager.ClusterAddr(), trust: trust, methods: clusterMethods(t, manager)}
}

// dial connects presenting cert (none when nil); calls fail with
// Unavailable when the handshake is refused.
func (p *clusterPort) dial(t *testing.T, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+p.addr,
		grpc.WithTransportCredentials(credentials.NewTLS(clusterconn.ClientTLS(p.trust, cert, clusterconn.ProtoGRPC))),
		rpc.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// refused calls every method with an empty request, but those want says
// end OK (allowed, so not called: a call could act), and checks each ends
// with the code want gives.
func (p *clusterPort) refused(t *testing.T, cc *grpc.ClientConn, want func(method string) codes.Code) {
	t.Helper()
	called := 0
	for method, streams := range p.methods {
		w := want(method)
		if w == codes.OK {
			continue
		}
		called++
		// A removal reaches the manager's store at once, but wait for it
		// rather than race it.
		Eventually(t, 10*time.Second, func() string {
			if got := callMethod(t, cc, method, streams); status.Code(got) != w {
				return fmt.Sprintf("%s: got %v, want code %v", method, got, w)
			}
			return ""
		})
	}
	t.Logf("%d of %d methods called, each refused", called, len(p.methods))
}

// checkClusterAuthorization is the cluster port's authorization matrix:
// every method called with no certificate, with a manager certificate of
// another root, with a worker's certificate (workerCert) on the methods
// only managers may call, and a join with a rotated token; each refused
// with its code. It rotates the worker join token.
func checkClusterAuthorization(t *testing.T, manager Host, workerCert tls.Certificate) {
	p := newClusterPort(t, manager)
	otherCert := clusterconntest.NewNode(t, clusterconntest.NewRoot(t), ca.ManagerRole).Cert
	t.Run("no certificate", func(t *testing.T) {
		p.refused(t, p.dial(t, nil), func(m string) codes.Code {
			switch {
			case m == "/shoal.CA/IssueNodeCertificate":
				return codes.InvalidArgument // no token
			case slices.Contains(anonymousMethods, m):
				return codes.OK // the root certificate is public
			}
			return codes.Unauthenticated
		})
	})
	t.Run("another root's manager certificate", func(t *testing.T) {
		p.refused(t, p.dial(t, &otherCert), func(string) codes.Code { return codes.Unavailable })
	})
	t.Run("a worker's certificate", func(t *testing.T) {
		p.refused(t, p.dial(t, &workerCert), func(m string) codes.Code {
			if slices.Contains(workerMethods, m) {
				return codes.OK
			}
			return codes.PermissionDenied
		})
	})
	t.Run("a join with a rotated token", func(t *testing.T) {
		old := strings.TrimSpace(manager.Docker("swarm", "join-token", "-q", "worker"))
		manager.Docker("swarm", "join-token", "--rotate", "-q", "worker")
		current := strings.TrimSpace(manager.Docker("swarm", "join-token", "-q", "worker"))
		if current == old {
			t.Fatal("the token did not change")
		}
		cc := p.dial(t, nil)
		issue := func(tok string) error {
			_, csr, err := ca.NewKeyAndCSR()
			if err != nil {
				t.Fatal(err)
			}
			var resp json.RawMessage
			return cc.Invoke(t.Context(), "/shoal.CA/IssueNodeCertificate", map[string]any{"CSR": csr, "Token": tok}, &resp)
		}
		if err := issue(old); status.Code(err) != codes.InvalidArgument {
			t.Errorf("join with the rotated token: %v; want InvalidArgument", err)
		}
		// The same call with the current token is answered: the refusal
		// was the token's.
		if err := issue(current); err != nil {
			t.Errorf("join with the current token: %v; want a certificate", err)
		}
	})
}

// checkRemovedRefused calls every method with the certificate of a node
// removed from the swarm (still valid until it expires): the methods its
// role allows are refused as removed (NotFound), the others by role.
func checkRemovedRefused(t *testing.T, manager Host, removedCert tls.Certificate) {
	p := newClusterPort(t, manager)
	p.refused(t, p.dial(t, &removedCert), func(m string) codes.Code {
		if slices.Contains(workerMethods, m) {
			return codes.NotFound
		}
		return codes.PermissionDenied
	})
}

// clusterMethods asks the manager's test hook for its cluster port's gRPC
// methods and whether each streams.
func clusterMethods(t *testing.T, h Host) map[string]bool {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", h.Socket)
		},
	}}
	resp, err := c.Get("http://shoal/shoal-test/grpc-methods")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var methods map[string]bool
	if err := json.NewDecoder(resp.Body).Decode(&methods); err != nil {
		t.Fatal(err)
	}
	if len(methods) < 10 {
		t.Fatalf("the manager lists %d gRPC methods: %v", len(methods), methods)
	}
	return methods
}

// nodeCert is the node certificate and key a node keeps under its data
// root (not encrypted: the swarm is not locked).
func nodeCert(t *testing.T, dataRoot string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.KeyStore{Dir: filepath.Join(dataRoot, "swarm", "certificates")}.LoadNode()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// callMethod calls method with an empty request and returns how it
// ended.
func callMethod(t *testing.T, cc *grpc.ClientConn, method string, streams bool) error {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var resp json.RawMessage
	if !streams {
		return cc.Invoke(ctx, method, struct{}{}, &resp)
	}
	s, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method)
	if err != nil {
		return err
	}
	if err := s.SendMsg(struct{}{}); err != nil && err != io.EOF {
		return err
	}
	s.CloseSend()
	return s.RecvMsg(&resp)
}
