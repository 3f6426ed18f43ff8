package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The error answers of the swarm routes are compared with those dockerd
// 20.10 gave to the same requests (testdata/compat/errors.txt).

const compatErrorsFile = "testdata/compat/errors.txt"

// compatCase is one request of errors.txt with the answers it expects.
type compatCase struct {
	request string   // "METHOD PATH [BODY]"
	dockerd string   // "STATUS MESSAGE" as recorded from dockerd
	shoal   string   // Shoal's answer where it differs on purpose, or ""
	extra   []string // the block's other lines (why:, comments), kept as they are
}

// want is the answer Shoal must give.
func (c compatCase) want() string {
	if c.shoal != "" {
		return c.shoal
	}
	return c.dockerd
}

// readCompatCases parses errors.txt: a header of comments, then blocks
// separated by blank lines.
func readCompatCases(t *testing.T) (header string, cases []compatCase) {
	t.Helper()
	data, err := os.ReadFile(compatErrorsFile)
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(strings.TrimSpace(string(data)), "\n\n")
	for _, b := range blocks {
		lines := strings.Split(b, "\n")
		if strings.HasPrefix(lines[0], "#") {
			header += b + "\n\n"
			continue
		}
		c := compatCase{request: lines[0]}
		for _, l := range lines[1:] {
			switch {
			case strings.HasPrefix(l, "dockerd: "):
				c.dockerd = strings.TrimPrefix(l, "dockerd: ")
			case strings.HasPrefix(l, "shoal: "):
				c.shoal = strings.TrimPrefix(l, "shoal: ")
			default:
				c.extra = append(c.extra, l)
			}
		}
		cases = append(cases, c)
	}
	return header, cases
}

func writeCompatCases(t *testing.T, header string, cases []compatCase) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header)
	for i, c := range cases {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\ndockerd: %s\n", c.request, c.dockerd)
		if c.shoal != "" {
			fmt.Fprintf(&b, "shoal: %s\n", c.shoal)
		}
		for _, l := range c.extra {
			b.WriteString(l + "\n")
		}
	}
	if err := os.WriteFile(compatErrorsFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// apiClient sends raw Docker API requests over a unix socket, at API
// version 1.41 (dockerd 20.10's).
type apiClient struct {
	http *http.Client
}

func newAPIClient(socket string) *apiClient {
	return &apiClient{http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// do sends one request and returns the status and body.
func (c *apiClient) do(method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://docker/v1.41"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// must sends a request that must succeed and decodes its answer into out
// (when not nil).
func (c *apiClient) must(t *testing.T, method, path, body string, out any) {
	t.Helper()
	code, b, err := c.do(method, path, body)
	if err != nil || code >= 300 {
		t.Fatalf("%s %s: %d %s %v", method, path, code, b, err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// compatObjects are the objects both daemons are given before the
// requests, by name: their IDs and versions fill the placeholders.
type compatObjects struct {
	ids      map[string]string // placeholder name → ID
	versions map[string]uint64 // placeholder name → Version.Index
}

type versioned struct {
	ID      string
	Version struct{ Index uint64 }
}

// compatSetup makes the daemon behind c a one-node swarm with a secret, a
// config and a service that uses both, the same on dockerd and Shoal.
func compatSetup(t *testing.T, c *apiClient, listen string, initSwarm bool) compatObjects {
	t.Helper()
	if initSwarm {
		c.must(t, "POST", "/swarm/init", fmt.Sprintf(`{"ListenAddr":%q,"AdvertiseAddr":%q}`, listen, listen), nil)
	}
	var sec, cfg versioned
	c.must(t, "POST", "/secrets/create", `{"Name":"compat-secret","Data":"c2VjcmV0"}`, &sec)
	c.must(t, "POST", "/configs/create", `{"Name":"compat-config","Data":"Y29uZmln"}`, &cfg)
	var web versioned
	c.must(t, "POST", "/services/create", fmt.Sprintf(`{"Name":"compat-web","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Command":["sleep","600"],
		"Secrets":[{"SecretID":%q,"SecretName":"compat-secret","File":{"Name":"s","UID":"0","GID":"0","Mode":292}}],
		"Configs":[{"ConfigID":%q,"ConfigName":"compat-config","File":{"Name":"c","UID":"0","GID":"0","Mode":292}}]}}}`, sec.ID, cfg.ID), &web)
	return compatRead(t, c, map[string]string{"secret": sec.ID, "config": cfg.ID, "web": web.ID})
}

// compatRead reads the current versions of the swarm, this node and the
// objects named in ids.
func compatRead(t *testing.T, c *apiClient, ids map[string]string) compatObjects {
	t.Helper()
	o := compatObjects{ids: map[string]string{}, versions: map[string]uint64{}}
	var info struct{ Swarm struct{ NodeID string } }
	c.must(t, "GET", "/info", "", &info)
	o.ids["self"] = info.Swarm.NodeID
	var sw versioned
	c.must(t, "GET", "/swarm", "", &sw)
	o.versions["swarm"] = sw.Version.Index
	paths := map[string]string{"self": "/nodes/", "web": "/services/", "secret": "/secrets/", "config": "/configs/"}
	for k, id := range ids {
		o.ids[k] = id
	}
	for k, p := range paths {
		var v versioned
		c.must(t, "GET", p+o.ids[k], "", &v)
		o.versions[k] = v.Version.Index
	}
	return o
}

// fill puts IDs and versions in place of the placeholders of a request.
func (o compatObjects) fill(s string) string {
	for k, id := range o.ids {
		s = strings.ReplaceAll(s, "{"+k+".version}", strconv.FormatUint(o.versions[k], 10))
		s = strings.ReplaceAll(s, "{"+k+"}", id)
	}
	return strings.ReplaceAll(s, "{swarm.version}", strconv.FormatUint(o.versions["swarm"], 10))
}

// unfill puts the placeholders back in place of IDs in an answer.
func (o compatObjects) unfill(s string) string {
	for k, id := range o.ids {
		if id != "" {
			s = strings.ReplaceAll(s, id, "{"+k+"}")
		}
	}
	return s
}

// ask sends the request of a case and returns the answer as recorded:
// "STATUS MESSAGE", or "STATUS" with the body when it is no error.
func (o compatObjects) ask(t *testing.T, c *apiClient, request string) string {
	t.Helper()
	method, rest, _ := strings.Cut(o.fill(request), " ")
	path, body, _ := strings.Cut(rest, " ")
	code, b, err := c.do(method, path, body)
	if err != nil {
		t.Fatalf("%s: %v", request, err)
	}
	var e struct{ Message string }
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return fmt.Sprintf("%d %s", code, o.unfill(e.Message))
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", code, o.unfill(string(bytes.TrimSpace(b)))))
}

// compatErrors asks Shoal every request of errors.txt and compares its
// answers with the recorded ones.
func compatErrors(t *testing.T, d *Daemon) {
	c := newAPIClient(d.Socket)
	objs := compatSetup(t, c, "", false)
	_, cases := readCompatCases(t)
	for _, cs := range cases {
		// Each request sees the versions as they are now: an earlier
		// request may have changed one (a refused update must not).
		objs = compatRead(t, c, objs.ids)
		if got := objs.ask(t, c, cs.request); got != cs.want() {
			t.Errorf("%s\n  got:  %s\n  want: %s", cs.request, got, cs.want())
		}
	}
	for _, p := range []string{"/services/compat-web", "/secrets/compat-secret", "/configs/compat-config"} {
		c.do("DELETE", p, "")
	}
}
